import numpy as np
import pytest

from helpers.core.windows import cut_window


def _lattice(shape, period_px, angle_deg=0.0):
    y, x = np.mgrid[:shape[0], :shape[1]].astype(float)
    t = np.deg2rad(angle_deg)
    u = np.cos(t) * x + np.sin(t) * y
    return np.cos(2 * np.pi * u / period_px).astype(np.float32)


def _period_px(win):
    spec = np.abs(np.fft.rfft(win - win.mean(), axis=1)).mean(axis=0)
    k = np.argmax(spec[1:]) + 1
    return win.shape[1] / k


def test_resampling_keeps_physical_size():
    # a 3.0 Å period sampled at 0.2 Å/px (15 px) must show 10 px at 0.3 Å/px
    img = _lattice((300, 300), 15.0)
    win = cut_window(img, 0.2, (150, 150), out_px=60, out_pixel_size_A=0.3)
    assert _period_px(win) == pytest.approx(10.0, rel=0.05)


def test_rotation_and_centre():
    img = np.zeros((101, 101), np.float32)
    img[50, 50] = 1.0
    img[50, 60] = 0.5  # 10 px to the right of the centre
    win = cut_window(img, 0.3, (50, 50), out_px=64, out_pixel_size_A=0.3, angle_deg=90, order=1)
    assert np.unravel_index(np.argmax(win), win.shape) == (32, 32)
    # rotated counter-clockwise by 90° (rows down): the spot moves from right to top
    second = np.unravel_index(np.argsort(win.ravel())[-2], win.shape)
    assert second == (22, 32)


def test_bad_input():
    with pytest.raises(ValueError, match="2D"):
        cut_window(np.zeros((4, 4, 4)), 0.3, (2, 2))
    with pytest.raises(ValueError, match="NaN"):
        cut_window(np.full((8, 8), np.nan), 0.3, (2, 2))
    with pytest.raises(ValueError, match="pixel_size_A"):
        cut_window(np.zeros((8, 8)), -0.3, (2, 2))
