"""The ideal observer's pair errors against closed forms and limiting cases."""
import numpy as np
import pytest
from ideal_observer import pair_error
from scipy.stats import norm, poisson

from helpers.classify.augment import AugmentParams


def _pair(delta=0.05, n=12, base=0.4):
    a = np.full((16, 16), base)
    b = a.copy()
    b.flat[:n] += delta
    return a, b


def test_gaussian_error_is_the_closed_form():
    a, b = _pair(0.05, 12)
    sigma = np.sqrt(AugmentParams().gaussian_var)
    expected = norm.cdf(-0.05 * np.sqrt(12) / (2 * sigma))
    assert pair_error(a, b, "gaussian", np.random.default_rng(0)) == pytest.approx(expected)
    # more differing pixels or a larger difference: smaller error
    assert pair_error(*_pair(0.05, 48), "gaussian", np.random.default_rng(0)) < expected
    assert pair_error(*_pair(0.10, 12), "gaussian", np.random.default_rng(0)) < expected


def test_poisson_error_matches_the_exact_sum_for_one_pixel():
    """One pixel, λ0 = 8 or λ1 = 12 counts: the likelihood-ratio test says 1 when k > k*, where
    k* solves k log(12/8) = 4; its error is ½ [P0(k > k*) + P1(k ≤ k*)] (no ties here)."""
    peak = 20.0
    p = AugmentParams(poisson_peak_counts=(peak, peak))
    a, b = np.array([[0.4]]), np.array([[0.6]])
    k_star = 4 / np.log(12 / 8)
    exact = 0.5 * (poisson.sf(np.floor(k_star), 8) + poisson.cdf(np.floor(k_star), 12))
    mc = pair_error(a, b, "poisson", np.random.default_rng(1), p, n_mc=20000)
    assert mc == pytest.approx(exact, abs=0.01)
    # ten times the dose separates them better
    p10 = AugmentParams(poisson_peak_counts=(10 * peak, 10 * peak))
    assert pair_error(a, b, "poisson", np.random.default_rng(1), p10, n_mc=20000) < mc / 2


def test_speckle_error_and_limiting_cases():
    a, b = _pair(0.05, 12)
    e = pair_error(a, b, "speckle", np.random.default_rng(2), n_mc=4000)
    # speckle s.d. 0.1 × 0.4 = 0.04 < gaussian 0.1: easier than gaussian noise
    assert 0 < e < pair_error(a, b, "gaussian", np.random.default_rng(2))
    zero = a.copy()
    zero[0, 0] = 0.0  # a pixel that is exactly zero in one window only decides the pair
    assert pair_error(zero, a, "speckle", np.random.default_rng(2)) == 0.0
    assert pair_error(a, a, "gaussian", np.random.default_rng(2)) == 0.5
    for kind in ("none", "s&p"):
        assert pair_error(a, b, kind, np.random.default_rng(2)) == 0.0


def test_mixed_is_bounded_by_its_first_model():
    a, b = _pair(0.05, 12)
    rng = np.random.default_rng(3)
    errors = {pair_error(a, b, "mixed", np.random.default_rng(s)) for s in range(20)}
    # the first model of a mixture is one of gaussian, s&p, speckle, poisson: the errors are
    # those of the single models, and the gaussian one is among them
    g = pair_error(a, b, "gaussian", rng)
    assert any(e == pytest.approx(g) for e in errors) and 0.0 in errors


def test_bad_input_is_named():
    a, b = _pair()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown noise type"):
        pair_error(a, b, "pink", rng)
    with pytest.raises(ValueError, match="shape"):
        pair_error(a, b[:8], "gaussian", rng)
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pair_error(bad, b, "gaussian", rng)
    with pytest.raises(ValueError, match="n_mc"):
        pair_error(a, b, "poisson", rng, n_mc=2)
