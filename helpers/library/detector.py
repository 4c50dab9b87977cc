"""Detector effects shared by the movie renderer and the augmentation: counting noise and
scan-line jitter (a real scan's line-to-line position error)."""
from __future__ import annotations

import numpy as np


def apply_detector_noise(expected_counts: np.ndarray, rng: np.random.Generator,
                         read_noise_counts: float) -> np.ndarray:
    """Poisson counting noise on the expected counts plus Gaussian read noise (counts).

    Parameters
    ----------
    expected_counts : ndarray
        Expected detector counts per pixel.
    rng : numpy.random.Generator
    read_noise_counts : float
        Standard deviation of the read noise (counts).

    Returns
    -------
    ndarray
        Noisy counts (float).
    """
    if np.any(expected_counts < 0) or not np.all(np.isfinite(expected_counts)):
        raise ValueError("expected counts must be finite and ≥ 0")
    out = rng.poisson(expected_counts).astype(np.float64)
    if read_noise_counts > 0:
        out += rng.normal(0.0, read_noise_counts, size=out.shape)
    return out


def scanline_jitter(image: np.ndarray, sigma_px: float, rng: np.random.Generator,
                    correlation: float = 0.0) -> np.ndarray:
    """Shift each scan line (row) horizontally by a random offset of r.m.s. ``sigma_px``.

    Offsets follow an AR(1) process: ``correlation`` 0 gives independent lines, larger values let
    neighbouring lines share part of their offset. Linear interpolation along each line.

    Parameters
    ----------
    image : ndarray (H, W)
    sigma_px : float
        r.m.s. line offset (px).
    rng : numpy.random.Generator
    correlation : float
        AR(1) coefficient between neighbouring lines (0 to < 1).

    Returns
    -------
    ndarray (H, W)
    """
    if not 0 <= correlation < 1:
        raise ValueError(f"correlation must be in [0, 1), got {correlation}")
    n = image.shape[0]
    e = rng.normal(0, sigma_px, size=n)
    shift = np.empty(n)
    shift[0] = e[0]
    innovation = np.sqrt(1 - correlation**2)
    for r in range(1, n):
        shift[r] = correlation * shift[r - 1] + innovation * e[r]
    x = np.arange(image.shape[1], dtype=float)
    out = np.empty(image.shape, dtype=np.float64)
    for r in range(n):
        out[r] = np.interp(x + shift[r], x, image[r])
    return out
