"""Hop rates from every site read (helpers.detect.site_hops): defects walking on a small lattice,
read with noise, the rate known."""
import numpy as np
import pandas as pd
import pytest

from helpers.core.chemistry import CHALCOGEN, METAL
from helpers.detect import site_hops as sh
from helpers.detect.column_model import ColumnLattice
from helpers.detect.site_model import WS2, class_contents, transition_matrix
from helpers.detect.sites import SiteReading

LATTICE = ColumnLattice(vectors_px=((0.0, 16.0), (13.856, 8.0)), chalcogen_frac=(1 / 3, 1 / 3),
                        sigma_px=2.0, pixel_size_A=0.2, s2_ratio=0.15)
STEPS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1))  # the six neighbours of this basis
CONTENTS = class_contents(1.0, 0.15, WS2)


def _walk(n_sites=14, n_frames=160, walkers=5, hop=0.05, seed=0):
    """Empty S2 columns (``Vs2``) walking on an n × n chalcogen sublattice: per frame a walker hops
    with probability ``hop`` to a random free neighbour inside the lattice. Returns the occupied
    sites per frame and the realised (hops, frames on the lattice)."""
    rng = np.random.default_rng(seed)
    grid = [(i, j) for i in range(2, n_sites - 2, 3) for j in range(2, n_sites - 2, 3)]  # apart
    pos = [grid[k] for k in rng.choice(len(grid), size=walkers, replace=False)]
    occupied, hops, frames = [set(pos)], 0, 0
    for _ in range(1, n_frames):
        for k, (i, j) in enumerate(pos):
            frames += 1
            if rng.random() < hop:
                di, dj = STEPS[rng.integers(6)]
                new = (i + di, j + dj)
                if 0 <= new[0] < n_sites and 0 <= new[1] < n_sites and new not in pos:
                    pos[k] = new
                    hops += 1
        occupied.append(set(pos))
    return occupied, hops, frames


def _reading(occupied, n_sites=14, noise=0.03, seed=1, unread=()):
    """A SiteReading of the walk: every chalcogen site read in every frame with Gaussian noise, its
    class the nearest content (pristine ``S2`` or ``Vs2``); ``unread`` sites are not in the table."""
    rng = np.random.default_rng(seed)
    rows = []
    c = CONTENTS[CHALCOGEN]
    for t, occ in enumerate(occupied):
        for i in range(n_sites):
            for j in range(n_sites):
                if (i, j) in unread:
                    continue
                true = c["Vs2"] if (i, j) in occ else c["S2"]
                x = true + noise * rng.standard_normal()
                cls = "Vs2" if x < (c["S2"] + c["Vs2"]) / 2 else "S2"
                rows.append((t, CHALCOGEN, i, j, x, cls))
    sites = pd.DataFrame(rows, columns=["frame", "kind", "i", "j", "content", "class"])
    return SiteReading(sites=sites, lattice=LATTICE, contents=CONTENTS, noise={METAL: 0.05, CHALCOGEN: noise},
                       gain=1.0, shifts=np.zeros((len(occupied), 2)), seconds={})


def test_the_pair_transitions_are_probabilities():
    S = transition_matrix(3, 1e-3, 0.02, 0.01)
    M = sh._pair_matrix(S, np.array([0.0, 0.05, 0.1]), 6)
    assert M.shape == (9, 9) and np.all(M >= 0)
    np.testing.assert_allclose(M.sum(1), 1.0)
    # (defect 1 here, pristine there) → (pristine, defect 1 there): the hop to the partner, a sixth of 0.05
    assert M[1 * 3 + 0, 0 * 3 + 1] == pytest.approx(0.05 / 6, rel=0.01)
    # a hop onto an occupied partner is blocked: the first site keeps its defect with the hop's share
    keeps = lambda b: M[1 * 3 + b].reshape(3, 3)[1].sum()  # noqa: E731
    assert keeps(2) == pytest.approx(S[1, 1] - 0.05 * 5 / 6)
    assert keeps(0) == pytest.approx(S[1, 1] - 0.05)


def test_the_hop_rate_of_walking_vacancies_is_recovered():
    occupied, hops, frames = _walk()
    out = sh.hop_rates_from_sites(_reading(occupied), classes=["Vs2"])
    assert hops > 20
    realised = hops / frames
    assert out.loc["Vs2", "hop rate"] == pytest.approx(realised, rel=0.15), (out, realised)
    assert out.loc["Vs2", "hops"] == pytest.approx(hops, rel=0.15)


def test_defects_that_never_move_give_no_hops():
    occupied, hops, _ = _walk(hop=0.0)
    assert hops == 0
    out = sh.hop_rates_from_sites(_reading(occupied), classes=["Vs2"])
    assert out.loc["Vs2", "hop rate"] < 0.003, out


def test_weak_readings_still_give_the_rate_where_thresholded_tracks_would_not():
    # one reading moves by 1.3 noise widths (a single S vacancy at the standard dose): most frames'
    # classes are wrong, yet the pairs read through the noise
    occupied, hops, frames = _walk(n_frames=300, walkers=6, hop=0.05, seed=3)
    c = CONTENTS[CHALCOGEN]
    out = sh.hop_rates_from_sites(_reading(occupied, noise=(c["S2"] - c["Vs2"]) / 1.3, seed=4), classes=["Vs2"])
    assert out.loc["Vs2", "hop rate"] == pytest.approx(hops / frames, rel=0.25), (out, hops / frames)


def test_a_hop_beyond_the_read_area_is_not_counted_as_exposure():
    # the last 4 of 14 lattice columns are not read: the exposure counts only the neighbours read, so
    # the rate stays right although the walkers' hops to the unread part are never seen
    occupied, hops, frames = _walk(seed=5)
    unread = {(i, j) for i in range(14) for j in range(10, 14)}
    seen = [{p for p in occ if p not in unread} for occ in occupied]
    out = sh.hop_rates_from_sites(_reading(occupied, unread=unread), classes=["Vs2"])
    realised_inside = sum(len(a & b) for a, b in zip(seen[:-1], seen[1:]))  # frames that stay inside
    assert out.loc["Vs2", "frames"] == pytest.approx(realised_inside, rel=0.2)
    assert out.loc["Vs2", "hop rate"] == pytest.approx(hops / frames, rel=0.3)


def test_one_frame_is_not_a_movie():
    occupied, _, _ = _walk(n_frames=1)
    with pytest.raises(ValueError, match="one frame"):
        sh.hop_rates_from_sites(_reading(occupied))


def test_the_pairs_taken_in_chunks_give_the_same_rates(monkeypatch):
    occupied, _, _ = _walk(n_frames=60, seed=7)
    reading = _reading(occupied)
    whole = sh.hop_rates_from_sites(reading, classes=["Vs2"])
    monkeypatch.setattr(sh, "CHUNK_VALUES", 60 * 25 * 7)  # seven pairs per chunk
    parts = sh.hop_rates_from_sites(reading, classes=["Vs2"])
    np.testing.assert_allclose(parts[["hops", "exposure", "hop rate"]].to_numpy(float),
                               whole[["hops", "exposure", "hop rate"]].to_numpy(float), rtol=1e-9)


def test_a_long_movie_fitted_in_windows_gives_the_rate():
    # 300 frames in windows of 60 (the default window is 150 frames; longer movies use several): each
    # window follows only the pairs with a defect read in it, and the rate stays right
    occupied, hops, frames = _walk(n_frames=300, walkers=6, hop=0.05, seed=8)
    reading = _reading(occupied)
    whole = sh.hop_rates_from_sites(reading, classes=["Vs2"])
    windows = sh.hop_rates_from_sites(reading, classes=["Vs2"], window_frames=60)
    assert windows.loc["Vs2", "hop rate"] == pytest.approx(hops / frames, rel=0.15), (windows, hops / frames)
    assert windows.loc["Vs2", "hop rate"] == pytest.approx(whole.loc["Vs2", "hop rate"], rel=0.05)
    # four frame pairs of 299 lie across window borders and are not counted
    assert windows.loc["Vs2", "frames"] == pytest.approx(whole.loc["Vs2", "frames"] * 295 / 299, rel=0.03)
    with pytest.raises(ValueError, match="window_frames"):
        sh.hop_rates_from_sites(reading, classes=["Vs2"], window_frames=1)


def test_movies_pool_by_their_hops_and_exposures():
    a = pd.DataFrame({"hops": [2.0, 0.0], "exposure": [100.0, 0.0]}, index=["Vs", "Mo"])
    b = pd.DataFrame({"hops": [6.0, 0.0], "exposure": [100.0, 0.0]}, index=["Vs", "Mo"])
    p = sh.pooled_hop_rates([a, b])
    assert p.loc["Vs", "hop rate"] == pytest.approx(0.04)  # 8 hops over 200 frames, not the mean of two rates
    assert np.isnan(p.loc["Mo", "hop rate"])
    with pytest.raises(ValueError, match="no movies"):
        sh.pooled_hop_rates([])
