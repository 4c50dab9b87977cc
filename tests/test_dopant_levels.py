"""A named dopant's column reading measured on the image (``helpers.detect.dopant_levels``)."""
import numpy as np
import pytest

from helpers.core.chemistry import CHALCOGEN, METAL, chemistry_of
from helpers.detect.dopant_levels import fit_dopant_levels

SD = 0.1


def _noise(content):
    return np.full(np.shape(content), SD)


def _metal_readings(rng, n_sites, levels_shares):
    """Metal-site readings: pristine at 1 and the given (level, share) contents, noise SD."""
    k = rng.random(n_sites)
    x = np.ones(n_sites)
    edge = 0.0
    for level, share in levels_shares:
        x[(k >= edge) & (k < edge + share)] = level
        edge += share
    return x + rng.normal(0, SD, n_sites)


def _fit(x, chem, gain=1.0, chal_level=0.74, exponent=1.7, sub=METAL):
    kinds = np.full(len(x), sub, object)
    return fit_dopant_levels(x, kinds, np.ones(len(x), bool), 1.0, chal_level, chem, exponent, gain, _noise)


@pytest.mark.parametrize("gain", [1.0, 0.85])
def test_a_dopant_reading_brighter_than_modelled_is_measured(gain):
    """Mo in WSe2 modelled at (42/74)^1.7 = 0.38 of a W column, reading 0.45 (multislice): 40 of
    1,500 metal sites measure it within 0.03, with a gain on the readings as well."""
    chem = chemistry_of("WSe2", ["Mo"])
    rng = np.random.default_rng(1)
    x = _metal_readings(rng, 1500, [(1 - gain * (1 - 0.45), 40 / 1500), (1 - gain, 10 / 1500)])
    dl = _fit(x, chem, gain=gain)
    assert dl.modelled["Mo"] == pytest.approx((42 / 74) ** 1.7, rel=1e-6)
    assert dl.levels["Mo"] == pytest.approx(0.45, abs=0.03)
    assert dl.sites["Mo"] == pytest.approx(40, abs=8)
    assert "Mo 0.4" in dl.note(chem) and "not the 0.382" in dl.note(chem)
    dl.levels["Mo"] = 1.05 * dl.modelled["Mo"]
    assert dl.note(chem) is None  # close to the model: nothing to say


def test_without_dopant_sites_the_model_stays():
    """A pristine metal sublattice with a few vacancies: no dopant reading is measured."""
    chem = chemistry_of("WSe2", ["V"])
    x = _metal_readings(np.random.default_rng(2), 1500, [(0.0, 5 / 1500)])
    dl = _fit(x, chem)
    assert dl.levels == {} and dl.note(chem) is None


def test_a_few_sites_move_the_level_little_and_it_stays_physical():
    """Six V sites reading far above the model (0.45 against 0.14): the level moves towards them by
    their weight against the prior, never past the level the lowest plausible exponent gives."""
    chem = chemistry_of("WSe2", ["V"])
    x = _metal_readings(np.random.default_rng(3), 1500, [(0.30, 8 / 1500)])
    dl = _fit(x, chem)
    lowest_n = (23 / 74) ** 1.3
    assert "V" in dl.levels and dl.modelled["V"] < dl.levels["V"] <= lowest_n + 1e-9


def test_a_chalcogen_dopant_is_fitted_on_the_chalcogen_sites_and_an_element_already_measured_is_left():
    """Se in MoS2 (Se_S = one S + one Se): the Se atom's reading from the chalcogen sites; an element
    given in ``atom_levels`` (an alloy's or a ladder's) is not refitted."""
    chem = chemistry_of("MoS2", ["Se"])
    s_atom = 0.20
    se_atom = 0.55  # modelled (34/16)^1.7 · 0.2 = 0.72
    rng = np.random.default_rng(4)
    x = np.where(rng.random(3000) < 100 / 3000, s_atom + se_atom, 2 * s_atom) + rng.normal(0, SD, 3000)
    kinds = np.full(3000, CHALCOGEN, object)
    dl = fit_dopant_levels(x, kinds, np.ones(3000, bool), 1.0, 2 * s_atom, chem, 1.7, 1.0, _noise)
    assert dl.levels["Se"] == pytest.approx(se_atom, abs=0.04)
    kept = fit_dopant_levels(x, kinds, np.ones(3000, bool), 1.0, 2 * s_atom, chem, 1.7, 1.0, _noise,
                             atom_levels={"Se": 0.7})
    assert kept.levels == {}


def test_a_named_dopant_weighs_more_in_the_prior_split():
    """Mo named in WSe2: readings halfway between Mo (0.45) and one Se on a W site (0.37) go to Mo,
    where the equal split called a third of them ``Se_W``; the split still follows the data when
    they show the other content."""
    from helpers.detect.dopant_levels import NAMED_DOPANT_WEIGHT, named_dopant_split
    from helpers.detect.site_model import content_shares

    chem = chemistry_of("WSe2", ["Mo"])
    names = list(chem.site_contents()[METAL])
    split = named_dopant_split(names, chem)
    assert list(split) == [NAMED_DOPANT_WEIGHT if n == "Mo_W" else 1.0 for n in names]
    means = np.array([{"W": 1.0, "Vac_W": 0.0, "Se_W": 0.37, "Mo_W": 0.45}[n] for n in names])
    rng = np.random.default_rng(5)
    x = np.r_[1 + 0.1 * rng.standard_normal(1000), 0.45 + 0.1 * rng.standard_normal(20)]
    w_eq = content_shares(x[:, None], means, 0.1)
    w_named = content_shares(x[:, None], means, 0.1, split=split)
    mo, se = names.index("Mo_W"), names.index("Se_W")
    assert w_eq[mo] / w_eq[se] < 1.5 < 2.5 < w_named[mo] / w_named[se]
    many_se = np.r_[x, 0.37 + 0.1 * rng.standard_normal(300)]
    w = content_shares(many_se[:, None], means, 0.1, split=split)
    assert w[se] > w[mo]


def test_a_named_dopants_share_is_measured_where_the_sample_holds_more_than_the_prior():
    """A named dopant may take more than the 1 % defect prior where its band holds more readings
    than its mirror image about the pristine level; a heavy-tailed pristine lattice does not raise it."""
    from helpers.detect.dopant_levels import named_dopant_contents
    from helpers.detect.site_model import PRIOR_DEFECT, content_shares, site_posteriors, transition_matrix

    chem = chemistry_of("WSe2", ("V",))
    names = list(chem.site_contents()[METAL])  # W, Vac_W, Se_W, V_W
    means = np.array([1.0, 0.0, 0.37, 0.16])
    free = named_dopant_contents(names, chem)
    assert list(free) == [False, False, False, True]
    rng = np.random.default_rng(3)
    sd = 0.2  # d' 4.2 between W and V: one frame of a low-dose image
    x = np.r_[rng.normal(1.0, sd, 1940), rng.normal(0.16, sd, 60)]  # 3 % V
    capped = content_shares(x, means, sd)
    measured = content_shares(x, means, sd, abundant=free)
    assert capped[1:].sum() == pytest.approx(PRIOR_DEFECT) and capped[3] < PRIOR_DEFECT
    assert 0.01 < measured[3] < 0.04 and measured[3] > 2 * capped[3] and measured.sum() == pytest.approx(1)
    # what it buys: the V sites are called V far more often, the W sites still W
    trans = transition_matrix(4, 1e-3, 0.02, 0.01)
    truth = np.r_[np.zeros(1940, bool), np.ones(60, bool)]
    scores = []
    for prior in (capped, measured):
        post = site_posteriors(x[:, None], means, sd, trans, prior)[:, 0]
        called = (post[:, 0] < 0.5) & (post.argmax(1) == 3)
        scores.append(((called & truth).sum() / max(called.sum(), 1), (called & truth).sum() / truth.sum()))
    (p_capped, r_capped), (p_measured, r_measured) = scores
    assert r_capped < 0.6 and r_measured > 0.75 and p_measured > 0.95, scores
    # pristine readings with heavy tails (Student t, 3 degrees of freedom): no dopant share beyond the split
    heavy = 1.0 + 0.1 * rng.standard_t(3, 2000)
    assert content_shares(heavy, means, 0.1, abundant=free)[3] == pytest.approx(
        content_shares(heavy, means, 0.1)[3], abs=2e-3)
