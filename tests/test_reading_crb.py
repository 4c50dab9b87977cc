"""One frame's site reading against the Cramér–Rao bound of its counts (``experiments/reading_crb.py``)."""
import numpy as np
import pytest
from reading_crb import CONDITIONS, condition


@pytest.mark.parametrize("name", ["standard", "0.12 Å/px", "probe 1.3 Å"])
def test_one_frames_reading_is_at_the_counting_bound(name):
    r = condition(name, CONDITIONS[name], n_sites=12, n_frames=10, rng=np.random.default_rng(0))
    ch, metal = r["chalcogen"], r["metal"]
    # the reading's shot and read noise is within 5 % (metal 10 %) of the smallest any unbiased
    # reading can have (neighbours and background unknown, as they are to the reading)
    assert ch["shipped_shot_read"] <= 1.05 * ch["crb"] and metal["shipped_shot_read"] <= 1.10 * metal["crb"]
    # the bound falls as the patch's other parameters become known
    for x in (ch, metal):
        assert x["crb_alone"] < x["crb_neighbours_known"] < x["crb"]
    # on noisy frames the reading scatters as its shot noise says (the jitters add little)
    assert 0.8 < ch["shipped_measured"] / ch["shipped_shot_read"] < 1.25
    # a single S vacancy: about 1.3-1.7 noise widths in one frame at the standard dose, at best
    assert 1.2 < r["vs_d_prime_crb"] < 1.8
