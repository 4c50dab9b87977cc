"""Rendering of atom columns into frames: probe kernels, splatting, the scan transform (px, Å)."""
from __future__ import annotations

import numpy as np

from helpers.core.validation import check_pixel_size
from helpers.synthetic.params import (
    MovieParams,
)


def probe_kernel(shape: tuple[int, int], pixel_size_A: float, fwhm_A: float, tail_fwhm_A: float,
                 tail_weight: float) -> np.ndarray:
    """Probe intensity on a periodic grid centred at (0, 0): Gaussian core (peak 1) + weak tail.

    Parameters
    ----------
    shape : (int, int)
        Grid (px).
    pixel_size_A : float
        Pixel size (Å/px).
    fwhm_A, tail_fwhm_A : float
        FWHM of the core and of the tail (Å).
    tail_weight : float
        Peak of the tail relative to the core.

    Returns
    -------
    ndarray (H, W)
    """
    ps = check_pixel_size(pixel_size_A)
    y = np.fft.fftfreq(shape[0]) * shape[0] * ps
    x = np.fft.fftfreq(shape[1]) * shape[1] * ps
    r2 = y[:, None] ** 2 + x[None, :] ** 2
    s_core = fwhm_A / (2 * np.sqrt(2 * np.log(2)))
    s_tail = tail_fwhm_A / (2 * np.sqrt(2 * np.log(2)))
    return np.exp(-r2 / (2 * s_core**2)) + tail_weight * np.exp(-r2 / (2 * s_tail**2))


def splat(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, weights: np.ndarray
          ) -> np.ndarray:
    """Deposit point weights at sub-pixel (row, col) positions with bilinear weights.

    Parameters
    ----------
    shape : (int, int)
        Grid (px).
    rows, cols : ndarray (k,)
        Positions (px).
    weights : ndarray (k,)

    Returns
    -------
    ndarray (H, W)
    """
    img = np.zeros(shape, dtype=np.float64)
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)),
                      (1, 1, fr * fc)):
        rr, cc = r0 + dr, c0 + dc
        ok = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        np.add.at(img, (rr[ok], cc[ok]), (weights * w)[ok])
    return img


def render_columns(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
                   kernel_ft: np.ndarray) -> np.ndarray:
    """Incoherent image of point columns: sub-pixel splat, then FFT convolution with the probe.

    ``kernel_ft`` is ``np.fft.rfft2`` of :func:`probe_kernel` on the same grid. Returns the HAADF
    signal in units of the beam fraction (a column of weight w peaks at ≈ w).

    Parameters
    ----------
    shape : (int, int)
        Grid (px).
    rows, cols : ndarray (k,)
        Column positions (px).
    weights : ndarray (k,)
        Column signals (beam fraction).
    kernel_ft : ndarray
        ``rfft2`` of the probe kernel on this grid.

    Returns
    -------
    ndarray (H, W)
    """
    img = splat(shape, rows, cols, weights)
    return np.clip(np.fft.irfft2(np.fft.rfft2(img) * kernel_ft, s=shape), 0, None)


def _smooth_field(shape, scale_px, rng):
    """A smooth random field in [0, 1] (contamination), by low-pass filtering white noise."""
    noise = rng.normal(size=shape)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    filt = np.exp(-2 * (np.pi * scale_px) ** 2 * (kx**2 + ky**2))
    f = np.fft.irfft2(np.fft.rfft2(noise) * filt, s=shape)
    f -= f.min()
    return f / max(f.max(), 1e-12)


def frame_transform(params: MovieParams, drift_A: np.ndarray, xy_sample_A: np.ndarray) -> np.ndarray:
    """Sample coordinates (Å, origin at the region centre) → frame coordinates (Å, origin top-left).

    Drift shifts the lattice between frames; the scan distortion adds a shear of x with y and a
    slight y scale, as slow drift during a raster scan does.

    Parameters
    ----------
    params : MovieParams
    drift_A : ndarray (2,)
        This frame's drift (Å).
    xy_sample_A : ndarray (k, 2)
        Sample coordinates (Å).

    Returns
    -------
    ndarray (k, 2)
        Frame coordinates (Å).
    """
    half_frame = params.frame_px * params.pixel_size_A / 2
    x = xy_sample_A[:, 0] + drift_A[0]
    y = xy_sample_A[:, 1] + drift_A[1]
    y_f = y * (1 + params.scan_y_scale) + half_frame
    x_f = x + params.scan_shear * (y_f - half_frame) + half_frame
    return np.stack([x_f, y_f], axis=1)
