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
