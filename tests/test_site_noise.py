"""The likelihood of a site reading under each content (``helpers.detect.site_noise``)."""
import numpy as np

from helpers.detect import site_model as sm
from helpers.detect.site_noise import log_emission, reading_noise, reading_sd

#: a chalcogen sublattice of a noisy real image, in metal units: pristine S2, vacancy, one S, antisite
MEANS = np.array([0.33, 0.0, 0.165, 1.0])


def _sd():
    floor, slope = reading_noise(1.0, 0.33, 0.13, 0.10)
    return reading_sd(MEANS, floor, slope)


def _gauss(x, sd):
    return -0.5 * ((x[:, None] - MEANS[None]) / sd[None]) ** 2 - np.log(sd[None])


def test_between_the_extreme_contents_it_is_each_contents_gaussian():
    sd = _sd()
    assert sd[1] < sd[0] < sd[3]  # the noise grows with the content (the case that needs the tails)
    x = np.linspace(0.0, 1.0, 41)
    assert np.allclose(log_emission(x, MEANS, sd), _gauss(x, sd))
    scale = np.linspace(0.8, 1.5, len(x))
    assert np.allclose(log_emission(x, MEANS, sd, scale), _gauss(x, sd[None] * scale[:, None]))


def test_a_lower_reading_never_makes_a_content_more_likely_against_the_emptiest():
    sd = _sd()
    x = np.linspace(-1.5, 2.5, 801)
    le = log_emission(x, MEANS, sd)
    low, high = int(np.argmin(MEANS)), int(np.argmax(MEANS))
    below, above = x < MEANS[low], x > MEANS[high]
    for k in range(len(MEANS)):  # against the emptiest below it, against the fullest above it
        assert np.all(np.diff((le[:, k] - le[:, low])[below]) >= -1e-12)
        assert np.all(np.diff((le[:, k] - le[:, high])[above]) <= 1e-12)
    # the plain Gaussians do not: far below the vacancy the pristine column's wider one gains again
    g = _gauss(x, sd)
    assert np.any(np.diff((g[:, 0] - g[:, low])[below]) < 0)
    # as the Gaussians just below the vacancy (before the turn), continuous, NaN kept out
    near = np.array([-0.05, -0.02, 0.0])
    assert np.allclose(log_emission(near, MEANS, sd), _gauss(near, sd))
    lo = log_emission(np.array([-1e-9, 0.0, 1.0, 1.0 + 1e-9]), MEANS, sd)
    assert np.allclose(lo[0], lo[1]) and np.allclose(lo[2], lo[3])
    assert np.all(np.isnan(log_emission(np.array([np.nan]), MEANS, sd)))


def test_a_reading_below_the_empty_column_is_decoded_as_the_empty_column():
    sd = _sd()
    trans = sm.transition_matrix(len(MEANS), 0.01, 0.05, 0.0)
    x = np.array([[-0.3], [-0.6], [-1.6], [-2.0]])
    post = sm.site_posteriors(x, MEANS, sd, trans, prior_defect=0.01)[:, 0]
    assert np.all(post.argmax(1) == 1)  # the plain Gaussians: -1.6 pristine S2, -2.0 a third antisite
    assert np.all(np.diff(post[:, 1]) >= -1e-12)  # the further below, the surer
    shares = sm.content_shares(x, MEANS, sd, prior_defect=0.01)
    assert shares[1] > max(shares[2], shares[3])  # the split goes to the empty column
