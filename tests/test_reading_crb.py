"""One frame's site reading against the Cramér–Rao bound of its counts (``experiments/reading_crb.py``)."""
import numpy as np
from reading_crb import condition


def test_one_frames_reading_is_at_the_counting_bound():
    r = condition("standard", {}, n_sites=12, n_frames=10, rng=np.random.default_rng(0))
    ch, metal = r["chalcogen"], r["metal"]
    # the reading's shot and read noise is within 5 % of the smallest any unbiased reading can have
    # (neighbours and background unknown, as they are to the reading)
    assert ch["shipped_shot_read"] <= 1.05 * ch["crb"] and metal["shipped_shot_read"] <= 1.10 * metal["crb"]
    # the bound falls as the patch's other parameters become known
    for x in (ch, metal):
        assert x["crb_alone"] < x["crb_neighbours_known"] < x["crb"]
    # on noisy frames the reading scatters as its shot noise says (the jitters add little)
    assert 0.8 < ch["shipped_measured"] / ch["shipped_shot_read"] < 1.25
    # a single S vacancy: about 1.5 noise widths in one standard-dose frame, at best
    assert 1.2 < r["vs_d_prime_crb"] < 1.8
