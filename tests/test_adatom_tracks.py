"""Adatoms through a movie: tracks and moves (``helpers.kinetics.adatom_tracks``)."""
import numpy as np
import pandas as pd
import pytest

from helpers.core.chemistry import chemistry_of
from helpers.detect import sites as st
from helpers.kinetics.adatom_tracks import adatom_moves, link_adatoms, track_adatoms
from helpers.synthetic.tmd_image import hollow_sites_A, render_tmd

A = 3.18


def _table(rows):
    return pd.DataFrame(rows, columns=["frame", "x_A", "y_A"]).assign(row=0.0, col=0.0, content=1.0, z=20.0)


def test_drift_is_taken_out_and_a_hop_is_one_move():
    """Two adatoms over six frames under a drift of 2 px per frame: one stays, one hops by a at
    frame 3 and is missed in frame 4; two tracks, one move."""
    ps = 0.15
    shifts = np.array([[0.0, 2.0 * t] for t in range(6)])  # (row, col) px
    rows = []
    for t in range(6):
        dx = shifts[t, 1] * ps
        rows.append((t, 20.0 + dx, 20.0))
        if t != 4:
            rows.append((t, 40.0 + dx + (A if t >= 3 else 0.0), 30.0))
    tr = link_adatoms(_table(rows), shifts, ps, A)
    assert list(tr.index) == list(range(len(rows))) and tr["track"].nunique() == 2
    assert np.allclose(tr.loc[tr["track"] == 1, "x_corr_A"], 20.0)
    m = adatom_moves(tr, A)
    assert m["tracks"] == 2 and m["moves"] == 1
    assert m["moves_per_adatom_frame"] == pytest.approx(1 / 10) and m["track_frames_median"] == 6


def test_bad_shifts_are_refused():
    with pytest.raises(ValueError, match="shifts for 2 frames"):
        link_adatoms(_table([(0, 1.0, 1.0), (3, 1.0, 1.0)]), np.zeros((2, 2)), 0.15, A)
    with pytest.raises(ValueError, match="must be > 0"):
        link_adatoms(_table([(0, 1.0, 1.0)]), np.zeros((1, 2)), 0.15, 0.0)


def test_a_rendered_movie_tracks_its_adatoms(tmp_path):
    """Six rendered WS2 frames drifting 0.3 Å per frame, three W adatoms, one of which moves to a
    neighbouring hollow site after frame 2: three tracks, one move, and the table keeps every
    adatom reading."""
    chem = chemistry_of("WS2", [])
    rng = np.random.default_rng(5)
    ps, size = 0.15, 360
    hollows = hollow_sites_A(chem, size, ps, margin_A=14.0)
    start = hollows[rng.choice(len(hollows), 3, replace=False)]
    # the nearest other hollow site of the first adatom: one lattice constant away
    d = np.hypot(*(hollows - start[0]).T)
    d[d < 0.1] = np.inf
    hop_to = hollows[np.argmin(d)]
    frames = []
    for t in range(6):
        ads = [start[0] if t < 3 else hop_to, start[1], start[2]]
        origin = (0.3 * t, 0.0)
        img, _ = render_tmd(chem, {}, ps, size, 1e4, rng, origin_A=origin,
                            adatoms=[(x + origin[0], y + origin[1], "W") for x, y in ads])
        frames.append(img)
    r = st.read_sites(np.stack(frames).astype(float), ps, chemistry=chem)
    assert len(r.adatoms) == 18
    tracks, moves = track_adatoms(r)
    assert tracks["track"].nunique() == 3 and moves["moves"] == 1, moves
    # the command: adatoms.csv has the tracks, summary.json the moves
    from helpers import analyze_file
    from helpers.io.writers import write_imagej_tiff

    tif = write_imagej_tiff(tmp_path / "movie.tif", np.stack(frames).astype(np.float32), ps)
    res = analyze_file(tif, tmp_path / "out", quiet=True, material="WS2", dopants=())
    csv = pd.read_csv(res.folder / "adatoms.csv")
    assert len(csv) == 18 and csv["track"].nunique() == 3 and csv["frame"].min() == 1
    assert res["adatoms"]["tracks"] == 3 and res["adatoms"]["moves"] == 1


def test_hopping_adatoms_hop_one_lattice_constant_and_keep_apart():
    """The movie generator's adatoms: the same seed gives the same walk; each step is 0 or one
    lattice constant (a neighbouring hollow site); no two adatoms ever closer than 1.5 a."""
    from helpers.synthetic.adatom_movie import hopping_adatoms

    hollows = hollow_sites_A(chemistry_of("WS2", []), 300, 0.15, margin_A=8.0)
    walk = hopping_adatoms(hollows, A, 0.3, 6, 30, np.random.default_rng(2))
    again = hopping_adatoms(hollows, A, 0.3, 6, 30, np.random.default_rng(2))
    assert walk.shape == (30, 6, 2) and np.array_equal(walk, again)
    step = np.hypot(*np.moveaxis(np.diff(walk, axis=0), -1, 0))
    assert np.all((step < 1e-9) | (np.abs(step - A) < 0.01)) and (step > 1).sum() > 20
    for frame in walk:
        d = np.hypot(*(frame[:, None] - frame[None]).transpose(2, 0, 1))
        assert d[np.triu_indices(6, 1)].min() > 1.5 * A
    with pytest.raises(ValueError, match="chance per frame"):
        hopping_adatoms(hollows, A, 1.5, 6, 3, np.random.default_rng(0))


def test_adatom_tracks_are_scored_against_the_true_hops():
    """Two adatoms over four frames, the second hopping at frame 2; the tracks hold one false reading
    and miss the first adatom in frame 3: recall 7/8, precision 7/8, one move found and right."""
    from helpers.evaluation.tracks import score_adatom_tracks

    truth = np.array([[[10.0, 10.0], [20.0, 20.0]]] * 4)
    truth[2:, 1, 0] += A
    hops = [(1, 2)]
    rows = [(t, *truth[t, n], n + 1) for t in range(4) for n in range(2) if not (t == 3 and n == 0)]
    rows.append((1, 30.0, 30.0, 3))  # a false reading, its own track
    tr = pd.DataFrame(rows, columns=["frame", "x_A", "y_A", "track"])
    tr["x_corr_A"], tr["y_corr_A"] = tr["x_A"], tr["y_A"]
    s = score_adatom_tracks(tr, {"moves_per_adatom_frame": 1 / 5}, truth, hops, A)
    assert s["recall"] == pytest.approx(7 / 8) and s["precision"] == pytest.approx(7 / 8)
    assert s["tracks"] == 3 and s["track_purity"] == 1.0 and s["tracks_per_adatom"] == 1.0
    assert (s["moves_true"], s["moves_found"], s["move_recall"], s["move_precision"]) == (1, 1, 1.0, 1.0)
    assert s["rate_true"] == pytest.approx(1 / 6) and s["rate_found"] == pytest.approx(0.2)
    empty = score_adatom_tracks(None, {}, truth, hops, A)
    assert empty["recall"] == 0.0 and empty["moves_found"] == 0 and empty["move_recall"] == 0.0


def test_a_movie_of_hopping_adatoms_is_read_hop_by_hop():
    """A short rendered movie (8 frames, W on WS2, a hop chance of 0.3): every reading, every move."""
    from helpers.evaluation.tracks import score_adatom_tracks
    from helpers.synthetic.adatom_movie import adatom_movie

    mv = adatom_movie("WS2", "W", 1e4, 0.3, seed=3, n_frames=8, size_px=280, n_adatoms=5, margin_A=12.0)
    assert mv.frames.shape == (8, 280, 280) and mv.hops and mv.hop_rate > 0
    r = st.read_sites(mv.frames, mv.pixel_size_A, chemistry=mv.chemistry, progress=False)
    tracks, moves = track_adatoms(r)
    s = score_adatom_tracks(tracks, moves, mv.in_image_A, mv.hops, mv.chemistry.lattice_a_A)
    assert s["recall"] == 1.0 and s["precision"] == 1.0, s
    assert s["move_recall"] == 1.0 and s["move_precision"] == 1.0, s
    assert s["rate_found"] == pytest.approx(mv.hop_rate)


def test_the_adatom_track_figure_draws_every_track_and_true_path():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.figures.tracking import plot_adatom_tracks

    tr = pd.DataFrame({"frame": [0, 1, 2, 0, 1], "x_corr_A": [5.0, 5.0, 8.2, 12.0, 12.0],
                       "y_corr_A": [5.0, 5.0, 5.0, 9.0, 9.0], "track": [1, 1, 1, 2, 2]})
    truth = np.array([[[5.0, 5.0], [12.0, 9.0]], [[5.0, 5.0], [12.0, 9.0]], [[8.2, 5.0], [12.0, 9.0]]])
    fig = plot_adatom_tracks(np.zeros((100, 100)), 0.15, tr, truth)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4 and list(lines[2].get_xdata()) == [5.0, 5.0, 8.2]
    plt.close(fig)
