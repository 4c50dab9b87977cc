"""Scan glitches in a movie (:mod:`helpers.detect.scan_glitches`): a saturated band, blank rows and a
shifted band of rows are found against the neighbouring frames and masked in their frame only; the
scan's ordinary line jitter and a clean movie are not flagged."""
import numpy as np
import pytest
from test_sites import still

from helpers.detect import areas
from helpers.detect import sites as st
from helpers.detect.registration import registered_sum_and_others
from helpers.detect.scan_glitches import glitch_mask
from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import standard_params

PS = 0.2  # Å/px of the standard movie
#: frame → (first row, last row + 1) of its glitch
GLITCHES = {3: (200, 204), 5: (300, 303), 7: (100, 111)}


def glitched(frames):
    """Frame 3: four saturated rows; frame 5: three blank rows; frame 7: eleven rows shifted by 7 px."""
    out = frames.astype(np.float32).copy()
    out[3, 200:204] = 1.5 * out[3].max()
    out[5, 300:303] = 0
    out[7, 100:111] = np.roll(out[7, 100:111], 7, axis=1)
    return out


@pytest.fixture(scope="module")
def movie():
    return generate_movie(standard_params(n_frames=10, seed=5, kinetics=still("Vw", per_nm2=0.3)), progress=False)


def test_glitches_are_found_in_their_frame_only(movie):
    frames = glitched(movie.frames)
    shifts = st.read_sites(movie.frames, PS, progress=False).shifts
    for t in range(len(frames)):
        _, others, valid = registered_sum_and_others(frames, shifts, t, 2)
        rows = np.flatnonzero(glitch_mask(frames[t], others, valid, PS).any(axis=1))
        if t in GLITCHES:
            lo, hi = GLITCHES[t]
            assert set(range(lo, hi)) <= set(rows), t
            assert rows.min() >= lo - 5 / PS - 1 and rows.max() <= hi + 5 / PS, t  # grown by the fitting disc
        else:
            assert len(rows) == 0, t
    with pytest.raises(ValueError, match="one shape"):
        glitch_mask(frames[0], others[:10], valid, PS)


def test_a_glitch_is_masked_not_read_as_defects(movie):
    clean = st.read_sites(movie.frames, PS, progress=False)
    reading = st.read_sites(glitched(movie.frames), PS, progress=False)
    assert sorted(reading.scan_glitches) == sorted(GLITCHES)
    assert any("scan glitches" in w for w in reading.warnings)
    assert not clean.scan_glitches
    s, s0 = reading.sites, clean.sites
    table, table0 = st.defect_table(reading), st.defect_table(clean)
    for t, (lo, hi) in GLITCHES.items():
        def near(d, row="y_px"):
            return d[(d["frame"] == t) & (d[row] > lo - 6 / PS) & (d[row] < hi + 6 / PS)]

        # in the glitch's rows: masked sites, and no defect the clean frame does not have
        assert (near(s, "row")["area"] == areas.SCAN_GLITCH).sum() > 20, t
        extra = set(map(tuple, near(table)[["i", "j"]].to_numpy())) - set(map(tuple, near(table0)[["i", "j"]].to_numpy()))
        assert not extra, (t, extra)
    # the other frames: nothing masked, the same number of defects (their classes may move by a site:
    # the time model sees the glitch frames' masked sites as unobserved)
    other = ~s["frame"].isin(list(GLITCHES))
    assert (s.loc[other, "area"] == areas.LATTICE).all()
    counts, counts0 = table.groupby("frame").size(), table0.groupby("frame").size()
    for t in set(range(len(movie.frames))) - set(GLITCHES):
        assert counts.get(t, 0) == counts0.get(t, 0), t


def test_a_short_movie_flags_the_glitch_frame_only(movie):
    """Three frames, the first with a saturated band: each frame has only two neighbours, so the
    comparison takes, row by row, the one nearer the frame (a plain mean or median would carry the
    band into both clean frames and mask them too)."""
    frames = movie.frames[:3].astype(np.float32).copy()
    frames[0, 200:204] = 1.5 * frames[0].max()
    reading = st.read_sites(frames, PS, progress=False)
    assert sorted(reading.scan_glitches) == [0]
    assert (reading.sites.loc[reading.sites["frame"] > 0, "area"] == areas.LATTICE).all()


def test_atoms_arriving_are_not_a_glitch():
    """Two W atoms arriving on neighbouring hollow sites of a WS2 sheet in one frame change a few
    pixels of a row block by many noise widths: the block's mean z passes the blank-row threshold,
    the mean trimmed of those pixels does not; a blank row in the same frame is still found."""
    from dataclasses import replace

    from helpers.core.chemistry import chemistry_of
    from helpers.detect.scan_glitches import GlitchParams
    from helpers.synthetic.tmd_image import hollow_sites_A, render_tmd

    chem, ps, size = chemistry_of("WS2", []), 0.15, 400
    h = hollow_sites_A(chem, size, ps, margin_A=16)
    rng = np.random.default_rng(1)
    first = h[rng.choice(len(h), 1)][0]
    pair = h[(np.abs(h[:, 1] - first[1]) < 0.1) & (np.abs(h[:, 0] - first[0]) < 12)][:2]
    frames = np.stack([render_tmd(chem, {}, ps, size, 1e4, rng, adatoms=[(x, y, "W") for x, y in pair] if t == 2
                                  else [])[0] for t in range(5)]).astype(np.float32)
    _, others, valid = registered_sum_and_others(frames, np.zeros((5, 2)), 2, 2)
    untrimmed = replace(GlitchParams(), spread_share=-np.inf)  # the block's mean alone, as before
    assert len(pair) == 2 and glitch_mask(frames[2], others, valid, ps, untrimmed).any()
    assert not glitch_mask(frames[2], others, valid, ps).any()
    frames[2, 300] = 0  # one blank row
    _, others, valid = registered_sum_and_others(frames, np.zeros((5, 2)), 2, 2)
    assert 300 in np.flatnonzero(glitch_mask(frames[2], others, valid, ps).any(axis=1))


def test_line_jitter_is_not_a_glitch():
    """The scan's own line jitter, 0.5 px r.m.s. (0.1 Å here; the standard movie has 0.15 px): no row flagged."""
    m = generate_movie(standard_params(n_frames=8, seed=3, scanline_jitter_px=0.5, kinetics=still(None)),
                       progress=False)
    assert not st.read_sites(m.frames, PS, progress=False).scan_glitches


def test_a_blank_part_no_map_covers_does_not_spoil_the_movie(movie):
    """The last frame stopped 60 % of the way down, read with a map only every 50 frames and no glitch
    check: its blank sites have no metal reference; they are masked, and every other frame reads as
    in the clean movie (before, their NaN readings spoiled the levels and the gain: no defect at all)."""
    from dataclasses import replace

    from helpers.detect import site_model as sm

    frames = movie.frames.astype(np.float32).copy()
    frames[-1, int(0.6 * frames.shape[1]):] = 0
    p = replace(sm.SiteParams(), areas_every=50, scan_glitches=None)
    reading = st.read_sites(frames, PS, p=p, progress=False)
    clean = st.read_sites(movie.frames, PS, p=p, progress=False)
    counts, counts0 = st.defect_table(reading).groupby("frame").size(), st.defect_table(clean).groupby("frame").size()
    assert len(counts0) == len(frames) and counts0.min() > 10
    for t in range(len(frames) - 1):  # (the frame next to the stopped one may move by a site or two:
        assert abs(counts.get(t, 0) - counts0[t]) <= 2, t  # the time model links it to the blank's rim)
    # and its drift is measured on the rows it holds (on the whole frame it was 150 px off)
    from helpers.detect.registration import frame_shifts

    assert np.abs(frame_shifts(frames) - frame_shifts(movie.frames)).max() < 0.5
    last = reading.sites[reading.sites["frame"] == len(frames) - 1]
    blank = last["row"] > 0.6 * frames.shape[1] + 5 / PS
    assert (last.loc[blank, "area"] != areas.LATTICE).all() and not last.loc[blank, "significant"].any()


@pytest.mark.parametrize("t", sorted(GLITCHES))
def test_a_single_image_is_compared_with_its_own_lattice_translates(movie, t):
    """One glitched frame read alone: its glitch rows are masked (the image against itself moved by
    lattice vectors), and no defect appears there that the clean frame lacks."""
    frame = glitched(movie.frames)[t]
    clean, reading = st.read_sites(movie.frames[t], PS), st.read_sites(frame, PS)
    assert not clean.scan_glitches and list(reading.scan_glitches) == [0]
    assert any("the lattice in other rows" in w for w in reading.warnings)
    lo, hi = GLITCHES[t]
    s = reading.sites
    band = (s["row"] > lo - 1) & (s["row"] < hi + 1)
    if t != 3:  # (the saturated band is masked by the area map already: brighter than the lattice)
        assert (s.loc[band, "area"] == areas.SCAN_GLITCH).all()
    near = (s["row"] > lo - 6 / PS) & (s["row"] < hi + 6 / PS) & s["significant"]
    found0 = set(map(tuple, clean.sites.loc[clean.sites["significant"], ["i", "j"]].to_numpy()))
    assert set(map(tuple, s.loc[near, ["i", "j"]].to_numpy())) <= found0


@pytest.mark.parametrize("radius_A", [3.0, 6.0])
def test_a_small_hole_in_a_single_image_is_not_a_glitch(radius_A):
    """An empty disc (a hole too small for the area map) in a clean frame (10⁵ e/Å²) is unlike the
    lattice elsewhere in its rows, but only where it is: no scan glitch (before the rule that a
    glitch spans half its rows, 126–184 rows were masked)."""
    m = generate_movie(standard_params(n_frames=1, seed=5, dose_e_per_A2=1e5,
                                       kinetics=still("Vw", per_nm2=0.3)), progress=False)
    frame = m.frames[0].astype(np.float32)
    rr, cc = np.mgrid[:frame.shape[0], :frame.shape[1]]
    frame[np.hypot(rr - 256, cc - 256) < radius_A / PS] = 0
    reading = st.read_sites(frame, PS)
    assert not reading.scan_glitches and reading.area_fractions().get("scan_glitch", 0) == 0


def test_a_single_image_stopped_mid_scan_is_read_above_the_stop(movie):
    """A frame whose scan stopped 60 % of the way down (the rest zero) is read: the lattice is fitted
    on the patches that hold columns (the blank ones made the fit fail: 'ratio nan'), the rest is
    masked as a scan glitch, and the defects above it are those of the whole frame."""
    frame = movie.frames[2].astype(np.float32).copy()
    stop = int(0.6 * frame.shape[0])
    frame[stop:] = 0
    reading, clean = st.read_sites(frame, PS), st.read_sites(movie.frames[2], PS)
    assert reading.scan_glitches == {0: frame.shape[0] - stop + int(np.ceil(5.0 / PS))}
    s = reading.sites
    assert (s.loc[s["row"] > stop, "area"] != areas.LATTICE).all()  # (no_lattice where no reference is left)
    assert reading.area_fractions()["scan_glitch"] > 0.4
    def above(r):  # (x, y) Å of the defects clear of the stop (the two fits number the sites apart)
        d = r.defects
        return d.loc[d["row"] < stop - 2 * 5 / PS, ["x_A", "y_A"]].to_numpy()

    a, b = above(reading), above(clean)
    assert len(b) > 5 and len(a) == len(b)
    assert np.hypot(*(a[:, None] - b[None]).transpose(2, 0, 1)).min(axis=1).max() < 0.5
