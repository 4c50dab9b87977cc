import numpy as np
import pandas as pd
import pytest

from helpers.library.simulate import ImagingConditions, simulate_cell
from helpers.library.structures import pristine_ws2, ws2_with_defects
from helpers.synthetic.multislice import frames_from_cell, shift_and_blur_periodic


def spots(shape, points_rc, sigma_px=1.5):
    """Test helper: a periodic image of Gaussian spots (peak 1) at (row, col) points."""
    r = np.arange(shape[0])[:, None]
    c = np.arange(shape[1])[None, :]
    img = np.zeros(shape)
    for pr, pc in points_rc:
        dr = (r - pr + shape[0] / 2) % shape[0] - shape[0] / 2
        dc = (c - pc + shape[1] / 2) % shape[1] - shape[1] / 2
        img += np.exp(-(dr**2 + dc**2) / (2 * sigma_px**2))
    return img


def test_periodic_shift_matches_roll_and_keeps_the_sum():
    img = np.random.default_rng(0).random((16, 20))
    assert np.allclose(shift_and_blur_periodic(img, (3, -5), 0.0), np.roll(img, (3, -5), axis=(0, 1)))
    blurred = shift_and_blur_periodic(img, (0.4, 0.7), 2.0)
    assert np.isclose(blurred.sum(), img.sum()) and blurred.std() < img.std()
    with pytest.raises(ValueError, match="2-D"):
        shift_and_blur_periodic(img[0], (0, 0), 0.0)


def test_frames_put_the_truth_on_the_spots_through_drift_and_tiling():
    ps = 0.2
    truth = [{"class": "Vw", "x_A": 3.1, "y_A": 5.3}, {"class": "Vs", "x_A": 7.7, "y_A": 1.9}]
    cell = spots((48, 40), [(d["y_A"] / ps, d["x_A"] / ps) for d in truth]) * 0.05
    frames, t = frames_from_cell(cell, truth, ps, 4, 96, 5e6, np.random.default_rng(1),
                                 drift_A_per_frame=(0.3, -0.2), drift_random_A=0.1,
                                 source_fwhm_A=0.0, read_noise_counts=0.0, scanline_jitter_px=0.0)
    assert frames.shape == (4, 96, 96) and frames.dtype == np.float32
    # 2 defects × images inside 96² (periods 40 px in x, 48 px in y)
    assert set(t["frame"]) == {1, 2, 3, 4} and set(t["class"]) == {"Vw", "Vs"}
    assert (t["x_px"] < 96).all() and (t["y_px"] < 96).all() and len(t[t.frame == 1]) >= 2 * 4
    for row in t.itertuples():
        r, c = int(round(row.y_px)), int(round(row.x_px))
        if 2 <= r < 94 and 2 <= c < 94:
            patch = frames[row.frame - 1, r - 2:r + 3, c - 2:c + 3]
            pr, pc = np.unravel_index(np.argmax(patch), patch.shape)
            assert abs(pr - 2) <= 1 and abs(pc - 2) <= 1
    # first frame undrifted; the expected counts follow the dose (beam fraction × dose × px area)
    assert t[t.frame == 1]["x_A"].min() == pytest.approx(3.1)
    # (the 96² frame holds 2.4 periods of the 40 px cell in x: compare with the tiled cell it shows)
    shown = np.tile(cell, (3, 4))[:96, :96]
    assert frames[0].mean() == pytest.approx(shown.mean() * 5e6 * ps * ps, rel=0.005)


def test_frames_reject_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="non-negative"):
        frames_from_cell(-np.ones((8, 8)), [], 0.2, 1, 16, 1e4, rng)
    with pytest.raises(ValueError, match="dose"):
        frames_from_cell(np.ones((8, 8)), [], 0.2, 1, 16, 0.0, rng)
    with pytest.raises(ValueError, match="pixel_size_A"):
        frames_from_cell(np.ones((8, 8)), [], float("nan"), 1, 16, 1e4, rng)


def test_multislice_cell_is_periodic_with_metal_columns_brightest():
    atoms = pristine_ws2(6.0)
    cond = ImagingConditions(phonon_configs=1, prism_interpolation=1, potential_sampling_A=0.1,
                             detector_outer_mrad=150.0)
    img = simulate_cell(atoms, cond, 0.25)
    side = np.diag(atoms.cell)[:2]
    assert img.shape == (int(round(side[1] / 0.25)), int(round(side[0] / 0.25)))
    pos = atoms.get_positions()
    sym = np.array(atoms.get_chemical_symbols())
    ps_xy = side / np.array([img.shape[1], img.shape[0]])
    def at(xy):
        return img[int(round(xy[1] / ps_xy[1])) % img.shape[0], int(round(xy[0] / ps_xy[0])) % img.shape[1]]
    w = np.mean([at(p) for p in pos[sym == "W", :2]])
    s2 = np.mean([at(p) for p in pos[sym == "S", :2]])
    assert w > 1.5 * s2 > 0 and img.min() < 0.5 * s2


def test_site_reading_finds_defects_in_multislice_frames():
    """Frames another code rendered (abTEM multislice: no Σ Zⁿ columns, no Gaussian probe): every
    defect found at its site; metal-site classes right (the W2s2/Ws pair is one S atom apart)."""
    from helpers.detect import site_model as sm
    from helpers.detect import sites as st
    from helpers.evaluation.defects import score_defects

    atoms, truth = ws2_with_defects(24.0, {"Vw": 1, "W2s2": 1, "Mo": 1}, np.random.default_rng(1))
    img = simulate_cell(atoms, ImagingConditions(phonon_configs=1, prism_interpolation=4), 0.2)
    side = np.diag(atoms.cell)[:2]
    ps_xy = side / np.array([img.shape[1], img.shape[0]])
    ps = float(ps_xy.mean())
    truth = pd.DataFrame(truth).assign(x_A=lambda d: d.x_A * ps / ps_xy[0], y_A=lambda d: d.y_A * ps / ps_xy[1])
    frames, t = frames_from_cell(img, truth, ps, 3, 300, 1e4, np.random.default_rng(0))
    found = st.defect_table(st.read_sites(frames, ps)).assign(frame=lambda d: d.frame + 1)
    sc = score_defects(found, t, ps, frames.shape[1:], sm.EDGE_MARGIN_A, classes=sm.DEFECT_CLASSES)
    assert sc["true_defects"] >= 15 and sc["f1_1A"] >= 0.95 and sc["position_median_error_A"] < 0.1
    for name, f, x, y in zip(t["class"], t["frame"], t["x_A"], t["y_A"]):
        c = found[np.hypot(found.x_A - x, found.y_A - y).lt(1.0) & found.frame.eq(f)]["class"]
        if len(c):
            assert c.iloc[0] in ({"W2s2", "Ws"} if name == "W2s2" else {name}), (name, list(c))


def test_a_cached_cell_is_simulated_once_and_its_truth_moved_to_the_image_grid(tmp_path, monkeypatch):
    from helpers.library import simulate

    atoms = pristine_ws2(20.0)
    side = np.diag(atoms.cell)[:2]  # (x, y) Å
    calls = []

    def fake(atoms_, cond, ps):
        calls.append(ps)
        return np.ones((int(round(side[1] / ps)), int(round(side[0] / ps))), np.float32)

    monkeypatch.setattr(simulate, "simulate_cell", fake)
    path = tmp_path / "cell.npz"
    cond = ImagingConditions(phonon_configs=1)
    img, truth, ps, info = simulate.simulate_cell_cached(atoms, [{"x_A": 10.0, "y_A": 10.0}], cond, 0.16, path)
    again, truth2, ps2, _ = simulate.simulate_cell_cached(atoms, [{"x_A": 10.0, "y_A": 10.0}], cond, 0.16, path)
    assert calls == [0.16] and path.exists() and np.array_equal(img, again) and ps == ps2
    ps_xy = side / np.array([img.shape[1], img.shape[0]])
    assert ps == pytest.approx(ps_xy.mean())
    # a defect at pixel (10 / ps_x, 10 / ps_y) of the image sits there when read with the mean step
    assert truth[0]["x_A"] / ps == pytest.approx(10.0 / ps_xy[0]) and truth == truth2
    assert info["atoms"] == len(atoms) and info["conditions"]["phonon_configs"] == 1
