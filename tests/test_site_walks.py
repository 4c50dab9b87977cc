"""The walk model of a weak defect (``helpers.detect.site_walks``): rings, rates, and a vacancy that
hops every few frames found where each site's own history misses it, without false walkers."""
import numpy as np
import pytest

from helpers.detect import site_walks as sw
from helpers.detect.site_model import site_posteriors, transition_matrix

#: the six neighbours of a triangular lattice in index space (a + b, a − b …)
OFFSETS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [1, -1], [-1, 1]])
D_PRIME = 1.4  # a single S vacancy at 1e4 e/Å² (one frame)


def grid(n=12):
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return i.ravel(), j.ravel()


def test_rings_hold_the_six_neighbours_and_mark_missing_ones():
    i, j = grid(5)
    ring = sw.ring_sites(i, j, OFFSETS)
    centre = 2 * 5 + 2
    got = {(i[k], j[k]) for k in ring[centre]}
    assert got == {(2 + a, 2 + b) for a, b in OFFSETS}
    corner = 0  # (0, 0): only (1, 0) and (0, 1) exist
    assert sorted(ring[corner][ring[corner] >= 0].tolist()) == sorted([5, 1])
    assert (ring[corner] == -1).sum() == 4


def test_transitions_are_stochastic_and_bad_rates_are_named():
    T = sw.walk_transitions(OFFSETS, 1e-4, 0.01, 0.05)
    assert T.shape == (8, 8) and np.allclose(T.sum(1), 1) and (T >= 0).all()
    assert T[1, 2] == pytest.approx(0.05 / 6)  # the centre hops to each neighbour
    with pytest.raises(ValueError, match="walk rates"):
        sw.walk_transitions(OFFSETS, 1e-4, 0.6, 0.5)


def walk_movie(rng, n=12, frames=60, stay=4):
    """Readings in noise units (pristine 0, walker −D_PRIME) of one vacancy that hops to a random
    neighbour every ``stay`` frames, and the truth (n_sites, frames) bool."""
    i, j = grid(n)
    lut = {(a, b): k for k, (a, b) in enumerate(zip(i, j))}
    truth = np.zeros((n * n, frames), bool)
    pos = (n // 2, n // 2)
    for t in range(frames):
        if t and t % stay == 0:
            while True:
                d = OFFSETS[rng.integers(6)]
                nxt = (pos[0] + d[0], pos[1] + d[1])
                if 2 <= nxt[0] < n - 2 and 2 <= nxt[1] < n - 2:
                    pos = nxt
                    break
        truth[lut[pos], t] = True
    x = rng.normal(size=truth.shape) - D_PRIME * truth
    return i, j, x, truth


def log_lr(x):
    return ((x ** 2) - (x + D_PRIME) ** 2) / 2


HOP, LEAVE = 1 / 6, 0.01  # per frame: a hop every six frames; heals or changes rarely


def test_a_vacancy_that_hops_every_six_frames_is_followed():
    walk, own, beside, n = 0, 0, 0, 0
    for seed in range(4):
        i, j, x, truth = walk_movie(np.random.default_rng(seed), stay=6)
        on = sw.walker_on_centre(log_lr(x), sw.ring_sites(i, j, OFFSETS),
                                 sw.walk_transitions(OFFSETS, 2.5e-4, LEAVE, HOP))
        # each site's own history, with the same arrival and stay: a stay of six frames at 1.4
        # noise widths per frame is too short
        alone = site_posteriors(x, np.array([0.0, -D_PRIME]), 1.0,
                                transition_matrix(2, 2.5e-4, HOP + LEAVE, 0.0), 2.5e-4 / (HOP + LEAVE))[:, :, 1]
        walk, own = walk + (on[truth] > 0.5).sum(), own + (alone[truth] > 0.5).sum()
        beside, n = beside + (on[~truth] > 0.5).sum(), n + truth.sum()
    assert walk / n >= 0.6 and walk / n > own / n + 0.3
    assert beside / n <= 0.3  # a frame late or early on the next site, not a second walker


def test_no_walker_in_noise_alone():
    i, j = grid(24)
    ring = sw.ring_sites(i, j, OFFSETS)
    hits = reads = 0
    for seed in (4, 5):
        x = np.random.default_rng(seed).normal(size=(len(i), 100))
        on = sw.walker_on_centre(log_lr(x), ring, sw.walk_transitions(OFFSETS, 2.5e-4, LEAVE, HOP))
        hits, reads = hits + (on > 0.5).sum(), reads + on.size
    assert hits / reads < 5e-4


def test_a_site_holding_another_defect_holds_no_walker():
    rng = np.random.default_rng(5)
    i, j, x, truth = walk_movie(rng)
    lr = log_lr(x)
    lr[truth] = -30.0  # decoded as another content there
    on = sw.walker_on_centre(lr, sw.ring_sites(i, j, OFFSETS), sw.walk_transitions(OFFSETS, 2.5e-4, LEAVE, HOP))
    assert (on[truth] > 0.5).sum() == 0


def test_the_first_frame_holds_a_walker_as_often_as_stated():
    """Without evidence the first frame's probability is the stated one (each site's own history
    starts from the same prior); a persistent weak deficit of a few still frames stays below ½ with
    it, where the rings' steady state (several times the per-site prior) would report it."""
    i, j = grid(8)
    ring = sw.ring_sites(i, j, OFFSETS)
    T = sw.walk_transitions(OFFSETS, 2.5e-4, 0.03, 0.02)
    on = sw.walker_on_centre(np.zeros((len(i), 10)), ring, T, first_per_site=0.0025)
    assert on[27, 0] == pytest.approx(0.0025, rel=1e-3)  # an inner site (a ring cut by the edge has fewer places)
    steady = sw.walker_on_centre(np.zeros((len(i), 10)), ring, T)
    assert steady[27, 0] > 2 * 0.0025  # an inner site: the steady state is the higher prior
    lr = np.zeros((len(i), 10))
    lr[27] = 0.55  # ten still frames, each 0.55 nats towards the weak content (≈ 1 noise width)
    assert sw.walker_on_centre(lr, ring, T, first_per_site=0.0025)[27].max() < 0.5
    assert sw.walker_on_centre(lr, ring, T)[27].max() > 0.5
    with pytest.raises(ValueError, match="first-frame"):
        sw.walker_on_centre(lr, ring, T, first_per_site=0.2)
