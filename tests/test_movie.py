"""The synthetic movie: rendering accuracy, noise statistics, kinetic bookkeeping, determinism."""
from dataclasses import replace

import numpy as np
import pytest

from helpers.library.detector import apply_detector_noise
from helpers.synthetic import generator as mv
from helpers.synthetic.files import load_movie, save_movie
from helpers.synthetic.generator import generate_movie, simulate_kinetics, standard_movie
from helpers.synthetic.params import MOVIE_CLASSES, SUBLATTICE, KineticsParams, MovieParams
from helpers.synthetic.render import probe_kernel, render_columns

SMALL = MovieParams(n_frames=6, frame_px=128, seed=7)


@pytest.fixture(scope="module")
def small_movie():
    return generate_movie(SMALL, progress=False)


def _subpixel_peak(img, r, c):
    """Quadratic refinement of the local maximum nearest (r, c)."""
    r, c = int(round(r)), int(round(c))
    win = img[r - 3:r + 4, c - 3:c + 4]
    dr, dc = np.unravel_index(np.argmax(win), win.shape)
    r, c = r - 3 + dr, c - 3 + dc
    def q(m1, m0, p1):
        den = m1 - 2 * m0 + p1
        return 0.0 if den == 0 else 0.5 * (m1 - p1) / den
    return r + q(img[r - 1, c], img[r, c], img[r + 1, c]), c + q(img[r, c - 1], img[r, c], img[r, c + 1])


def test_renderer_puts_peaks_within_0p2_A():
    ps = 0.2
    shape = (96, 96)
    rng = np.random.default_rng(0)
    pts = np.array([[20, 20], [20, 70], [70, 20], [70, 70], [45, 45]], float) + rng.uniform(0, 1, (5, 2))
    kft = np.fft.rfft2(probe_kernel(shape, ps, 1.0, 5.0, 0.04))
    img = render_columns(shape, pts[:, 0], pts[:, 1], np.ones(5), kft)
    for r, c in pts:
        pr, pc = _subpixel_peak(img, r, c)
        assert np.hypot(pr - r, pc - c) * ps < 0.2
    # a weight-w column peaks at about w (beam fraction units)
    assert img.max() == pytest.approx(1.0, rel=0.15)


def test_movie_defect_columns_at_true_positions():
    kin = replace(KineticsParams(), initial_per_nm2=2.0)
    p = replace(SMALL, noise=False, contamination_max_fraction=0.0, n_frames=2, frame_px=200,
                kinetics=kin)
    m = generate_movie(p, progress=False)
    t = m.visible_truth(1)
    bright = t[t["class"].isin(["Ws", "W2s2", "Mo"]) & t.x_px.between(6, 193) & t.y_px.between(6, 193)]
    assert len(bright) >= 3
    for _, row in bright.iterrows():
        pr, pc = _subpixel_peak(m.frames[1], row.y_px, row.x_px)
        assert np.hypot(pr - row.y_px, pc - row.x_px) * p.pixel_size_A < 0.2


def test_poisson_noise_scales_with_the_mean():
    rng = np.random.default_rng(1)
    for mean in (2.0, 20.0, 200.0):
        x = apply_detector_noise(np.full((256, 256), mean), rng, read_noise_counts=1.0)
        assert x.mean() == pytest.approx(mean, rel=0.02)
        assert x.var() == pytest.approx(mean + 1.0, rel=0.05)


def test_expected_counts_follow_the_stated_dose():
    p = replace(SMALL, noise=False, contamination_max_fraction=0.0, n_frames=1, dark_counts=0.0)
    for dose in (5e3, 2e4):
        m = generate_movie(replace(p, dose_e_per_A2=dose), progress=False)
        w_peak = np.percentile(m.frames[0], 99.5)
        assert w_peak == pytest.approx(dose * p.pixel_size_A**2 * p.w_column_signal, rel=0.2)


def test_bookkeeping_is_consistent(small_movie):
    m = small_movie
    ev = m.events
    for t in range(1, m.params.n_frames):
        births = int(((ev.frame == t) & (ev.event == "birth")).sum())
        deaths = int(((ev.frame == t) & (ev.event == "death")).sum())
        assert m.population[t] == m.population[t - 1] + births - deaths
        assert (m.truth.frame == t).sum() == m.population[t]
    T = np.asarray(m.params.kinetics.transitions)
    for _, e in ev[ev.event == "change"].iterrows():
        assert T[MOVIE_CLASSES.index(e.from_class), MOVIE_CLASSES.index(e.to_class)] > 0
        assert SUBLATTICE[e.from_class] == SUBLATTICE[e.to_class]
    # identities persist: a defect's class only changes through a change event
    tr = m.truth.sort_values(["defect_id", "frame"])
    for did, g in tr.groupby("defect_id"):
        changes = int((g["class"].to_numpy()[1:] != g["class"].to_numpy()[:-1]).sum())
        assert changes <= int(((ev.defect_id == did) & (ev.event == "change")).sum())
    assert not m.truth[m.truth["class"] == "Mo"].empty
    mo = m.truth[m.truth["class"] == "Mo"].groupby("defect_id")[["site_i", "site_j"]].nunique()
    assert (mo.to_numpy() == 1).all(), "Mo dopants must stay put"


def test_empirical_transitions_match_the_true_matrix():
    kin = replace(KineticsParams(), death_prob=(0.0,) * 7, birth_per_nm2=0.0)
    p = MovieParams(n_frames=600, frame_px=200, seed=3, kinetics=kin)
    states, events, _ = simulate_kinetics(p, np.random.default_rng(3), 0.3)
    n = len(MOVIE_CLASSES)
    counts = np.zeros((n, n))
    for t in range(1, len(states)):
        for d, (c0, *_r) in states[t - 1].items():
            c1 = states[t][d][0]
            counts[MOVIE_CLASSES.index(c0), MOVIE_CLASSES.index(c1)] += 1
    T = np.asarray(kin.transitions)
    for a in range(n):
        na = counts[a].sum()
        if na < 500:
            continue
        est = counts[a] / na
        sigma = np.sqrt(T[a] * (1 - T[a]) / na)
        assert np.all(np.abs(est - T[a]) <= 4 * sigma + 2e-3), (MOVIE_CLASSES[a], est, T[a])


def test_same_seed_same_movie_and_hash(small_movie, tmp_path):
    again = generate_movie(SMALL, progress=False)
    np.testing.assert_array_equal(again.frames, small_movie.frames)
    assert again.truth.equals(small_movie.truth)
    assert again.content_hash == small_movie.content_hash
    assert replace(SMALL, dose_e_per_A2=5e3).content_hash() != SMALL.content_hash()
    # a different noise setting keeps the defect history (separate random streams)
    other = generate_movie(replace(SMALL, read_noise_counts=3.0), progress=False)
    assert other.truth.equals(small_movie.truth)
    assert not np.array_equal(other.frames, small_movie.frames)
    path = save_movie(small_movie, tmp_path / "m.h5")
    with pytest.raises(FileExistsError):
        save_movie(small_movie, path)
    back = load_movie(path)
    np.testing.assert_array_equal(back.frames, small_movie.frames)
    assert back.truth.equals(small_movie.truth)
    assert back.params == SMALL


def test_standard_movie_caches(tmp_path, monkeypatch):

    monkeypatch.setattr(mv, "movie_path", lambda params: tmp_path / f"{params.content_hash()}.h5")
    p = replace(SMALL, n_frames=2)
    a = standard_movie(p, progress=False)
    assert (tmp_path / f"{p.content_hash()}.h5").exists()
    b = standard_movie(p, progress=False)
    np.testing.assert_array_equal(a.frames, b.frames)


@pytest.mark.parametrize("change,match", [
    ({"dose_e_per_A2": -1.0}, "dose_e_per_A2"),
    ({"pixel_size_A": 0.0}, "pixel_size_A"),
    ({"frame_px": 8}, "smaller than a unit cell"),
    ({"n_frames": 0}, "n_frames"),
    ({"kinetics": replace(KineticsParams(), hop_prob=(0.01, 0.1, 0, 0, 0, 0, 0))}, "Mo dopants"),
    ({"kinetics": replace(KineticsParams(), birth_fractions=(0.5,) * 7)}, "sum to one"),
    ({"kinetics": replace(KineticsParams(), transitions=tuple(tuple(r) for r in np.eye(7) * 0.9))},
     "sum to one"),
])
def test_bad_parameters(change, match):
    with pytest.raises(ValueError, match=match):
        replace(SMALL, **change).validate()
