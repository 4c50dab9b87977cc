"""Movies from a multislice simulation: one periodic cell simulated with abTEM
(:func:`helpers.library.simulate.simulate_cell`) made into frames with drift, a finite source size,
scan-line jitter and counting noise, with the truth in the movie generator's table format.

A renderer independent of :mod:`helpers.synthetic.render` (no Σ Zⁿ columns, no Gaussian probe): the
column shapes, the contrast between species and the probe's tails come from the multislice
physics. Lengths in Å, pixel sizes in Å/px.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.core.validation import check_pixel_size
from helpers.library.detector import apply_detector_noise, scanline_jitter


def shift_and_blur_periodic(image: np.ndarray, shift_rc_px, source_fwhm_px: float) -> np.ndarray:
    """Shift a periodic image by a sub-pixel (rows, cols) amount and blur it with a Gaussian of FWHM
    ``source_fwhm_px`` (the finite effective source), both exact in Fourier space.

    Parameters
    ----------
    image : ndarray (H, W)
        One period of a periodic image.
    shift_rc_px : (float, float)
        Shift (px); content moves towards larger indices for positive values.
    source_fwhm_px : float
        FWHM of the Gaussian blur (px); 0 for none.

    Returns
    -------
    ndarray (H, W)
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {img.shape}")
    if source_fwhm_px < 0:
        raise ValueError(f"source_fwhm_px must be ≥ 0, got {source_fwhm_px}")
    ky = np.fft.fftfreq(img.shape[0])[:, None]
    kx = np.fft.fftfreq(img.shape[1])[None, :]
    sigma = source_fwhm_px / (2 * np.sqrt(2 * np.log(2)))
    transfer = np.exp(-2j * np.pi * (ky * shift_rc_px[0] + kx * shift_rc_px[1]))
    transfer = transfer * np.exp(-2 * (np.pi * sigma) ** 2 * (ky**2 + kx**2))
    return np.fft.ifft2(np.fft.fft2(img) * transfer).real


def frames_from_cell(cell_image: np.ndarray, truth_cell, pixel_size_A: float, n_frames: int,
                     frame_px: int, dose_e_per_A2: float, rng: np.random.Generator,
                     drift_A_per_frame=(0.05, -0.03), drift_random_A: float = 0.05,
                     source_fwhm_A: float = 0.6, read_noise_counts: float = 1.0,
                     scanline_jitter_px: float = 0.15) -> tuple[np.ndarray, pd.DataFrame]:
    """Frames of a static defect pattern seen through a drifting scan.

    Each frame is the periodic cell image shifted by the accumulated drift (a constant velocity plus
    a random walk) and blurred by the source, tiled to ``frame_px``, turned into expected counts
    (beam fraction × dose × pixel area), jittered line by line and counted (Poisson plus read noise).

    Parameters
    ----------
    cell_image : ndarray (H, W)
        One period of the simulated image: fraction of the beam on the detector.
    truth_cell : DataFrame or list of dict
        ``class``, ``x_A``, ``y_A`` of each defect in the cell (from the cell's origin).
    pixel_size_A : float
        Pixel size (Å/px), the same along both axes.
    n_frames, frame_px : int
        Frames and their side (px).
    dose_e_per_A2 : float
        Dose per frame (e/Å²).
    rng : numpy.random.Generator
    drift_A_per_frame : (float, float)
        Constant drift (x, y) per frame (Å).
    drift_random_A : float
        r.m.s. random drift step per frame and axis (Å).
    source_fwhm_A : float
        FWHM of the effective source (Å).
    read_noise_counts : float
        Gaussian read noise (counts).
    scanline_jitter_px : float
        r.m.s. line-to-line position error (px).

    Returns
    -------
    frames : ndarray (n_frames, frame_px, frame_px) float32
        Detector counts.
    truth : DataFrame
        frame (from 1), class, x_A, y_A, x_px, y_px of every defect image inside each frame.
    """
    ps = check_pixel_size(pixel_size_A)
    cell = np.asarray(cell_image, dtype=np.float64)
    if cell.ndim != 2 or not np.all(np.isfinite(cell)) or cell.min() < 0:
        raise ValueError("cell_image must be a finite, non-negative 2-D image")
    if n_frames < 1 or frame_px < 8:
        raise ValueError(f"n_frames must be ≥ 1 and frame_px ≥ 8, got {n_frames}, {frame_px}")
    if dose_e_per_A2 <= 0:
        raise ValueError(f"dose_e_per_A2 must be positive, got {dose_e_per_A2}")
    truth_cell = pd.DataFrame(truth_cell)
    h, w = cell.shape
    period_A = np.array([w * ps, h * ps])  # (x, y)
    reps = (int(np.ceil(frame_px / h)) + 1, int(np.ceil(frame_px / w)) + 1)
    steps = rng.normal(0.0, drift_random_A, size=(n_frames, 2)) + np.asarray(drift_A_per_frame)
    steps[0] = 0.0
    drift_A = np.cumsum(steps, axis=0)  # (x, y) per frame
    frames = np.empty((n_frames, frame_px, frame_px), dtype=np.float32)
    rows = []
    for t in range(n_frames):
        dx, dy = drift_A[t]
        img = shift_and_blur_periodic(cell, (dy / ps, dx / ps), source_fwhm_A / ps)
        img = np.tile(img, reps)[:frame_px, :frame_px]
        expected = np.clip(img, 0, None) * dose_e_per_A2 * ps * ps
        if scanline_jitter_px > 0:
            expected = np.clip(scanline_jitter(expected, scanline_jitter_px, rng), 0, None)
        frames[t] = apply_detector_noise(expected, rng, read_noise_counts)
        for name, xa, ya in zip(truth_cell["class"], truth_cell["x_A"], truth_cell["y_A"]):
            x0 = (xa + dx) % period_A[0]
            y0 = (ya + dy) % period_A[1]
            for i in range(reps[1]):
                for j in range(reps[0]):
                    x, y = x0 + i * period_A[0], y0 + j * period_A[1]
                    if x < frame_px * ps and y < frame_px * ps:
                        rows.append({"frame": t + 1, "class": name, "x_A": x, "y_A": y})
    truth = pd.DataFrame(rows, columns=["frame", "class", "x_A", "y_A"])
    truth["x_px"] = truth["x_A"] / ps
    truth["y_px"] = truth["y_A"] / ps
    return frames, truth
