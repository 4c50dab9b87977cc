"""Cut windows out of images at a given pixel size, orientation and centre (all lengths in Å)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from helpers.core.validation import check_image, check_pixel_size

LIBRARY_PIXEL_SIZE_A: float = 0.3


WINDOW_PX: int = 64


def window_coordinates(centre_rc_px, in_pixel_size_A: float, out_px: int = WINDOW_PX,
                       out_pixel_size_A: float = LIBRARY_PIXEL_SIZE_A, angle_deg: float = 0.0
                       ) -> np.ndarray:
    """Input-image (row, col) coordinates of every pixel of an ``out_px``² output window.

    The output pixel (out_px//2, out_px//2) lands on ``centre_rc_px``; the content appears rotated
    counter-clockwise by ``angle_deg`` (as displayed with rows increasing downwards, rotation is
    taken about the window centre).

    Parameters
    ----------
    centre_rc_px : (float, float)
        Window centre in input pixels (row, col).
    in_pixel_size_A, out_pixel_size_A : float
        Pixel sizes of the image and of the window (Å/px).
    out_px : int
        Window size (px).
    angle_deg : float
        Rotation (degrees, counter-clockwise).

    Returns
    -------
    ndarray (2, out_px, out_px)
        Input (row, col) coordinates of each window pixel.
    """
    in_ps = check_pixel_size(in_pixel_size_A, "in_pixel_size_A")
    out_ps = check_pixel_size(out_pixel_size_A, "out_pixel_size_A")
    if int(out_px) < 2:
        raise ValueError(f"out_px must be at least 2, got {out_px}")
    c = out_px // 2
    idx = (np.arange(out_px) - c) * out_ps  # Å from the window centre
    dy, dx = np.meshgrid(idx, idx, indexing="ij")
    t = np.deg2rad(angle_deg)
    # with rows pointing down, a counter-clockwise rotation on screen by t means sampling the input
    # at the output offset rotated by t in (x, y-down) coordinates
    sx = np.cos(t) * dx - np.sin(t) * dy
    sy = np.sin(t) * dx + np.cos(t) * dy
    r0, c0 = float(centre_rc_px[0]), float(centre_rc_px[1])
    return np.stack([r0 + sy / in_ps, c0 + sx / in_ps])


def cut_window(image, pixel_size_A: float, centre_rc_px, out_px: int = WINDOW_PX,
               out_pixel_size_A: float = LIBRARY_PIXEL_SIZE_A, angle_deg: float = 0.0,
               order: int = 3, antialias: bool = True) -> np.ndarray:
    """A window of ``out_px``² pixels at ``out_pixel_size_A`` centred on ``centre_rc_px``.

    ``image`` is sampled at ``pixel_size_A``; when the output is coarser, the image is first low-pass
    filtered (Gaussian, σ = 0.5 × the coarsening factor in input px) to avoid aliasing. Pixels that
    fall outside the image take the nearest edge value.

    Parameters
    ----------
    image : ndarray (H, W)
        The image, sampled at ``pixel_size_A`` (Å/px).
    pixel_size_A : float
        Pixel size of ``image`` (Å/px).
    centre_rc_px : (float, float)
        Window centre (row, col) in ``image`` pixels.
    out_px : int
        Window size (px).
    out_pixel_size_A : float
        Pixel size of the window (Å/px; the library's by default).
    angle_deg : float
        Rotation of the window (degrees, counter-clockwise).
    order : int
        Spline order of the interpolation.
    antialias : bool
        Low-pass filter before coarsening.

    Returns
    -------
    ndarray (out_px, out_px) float32
    """
    img = check_image(image, "image", ndim=2)
    in_ps = check_pixel_size(pixel_size_A)
    out_ps = check_pixel_size(out_pixel_size_A, "out_pixel_size_A")
    ratio = out_ps / in_ps
    if antialias and ratio > 1.0 + 1e-6:
        img = ndimage.gaussian_filter(img.astype(np.float64), sigma=0.5 * ratio)
    coords = window_coordinates(centre_rc_px, in_ps, out_px, out_ps, angle_deg)
    out = ndimage.map_coordinates(np.asarray(img, dtype=np.float64), coords, order=order, mode="nearest")
    return out.astype(np.float32)
