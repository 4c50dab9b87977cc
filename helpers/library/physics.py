"""Reading the physics out of a window: atomic-column peaks, defect signatures and line profiles.

HAADF contrast ≈ Σ Z^n (n ≈ 1.6–2): relative to a W column (Z = 74) an S2 column (2 × 16) reads
≈ 0.15, a Mo column (42) ≈ 0.38, an empty site ≈ 0, a W + S column slightly above 1. Lengths in Å.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.feature import peak_local_max
from skimage.measure import profile_line

from helpers.core.chemistry import Z
from helpers.core.validation import check_image, check_pixel_size
from helpers.library.structures import LATTICE_A

HAADF_EXPONENT = 1.7


def column_contrast(symbols: list[str], n: float = HAADF_EXPONENT) -> float:
    """Σ Z^n of a column, relative to a single W atom.

    Parameters
    ----------
    symbols : list of str
        Elements in the column.
    n : float
        HAADF exponent.

    Returns
    -------
    float
    """
    return float(sum(Z[s] ** n for s in symbols) / Z["W"] ** n)


@dataclass
class Signature:
    """Centre intensity of a window relative to its pristine W and S2 columns (background removed)."""

    centre_over_W: float
    centre_over_S2: float
    W_ref: float
    S2_ref: float
    background: float
    n_W: int
    n_S2: int


def column_peaks(window, pixel_size_A: float, min_separation_A: float = 0.6) -> np.ndarray:
    """(row, col) of the local intensity maxima (atomic columns) of a window.

    Parameters
    ----------
    window : ndarray (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    min_separation_A : float
        Smallest distance between two peaks (Å).

    Returns
    -------
    ndarray (k, 2)
        Peak positions (px).
    """
    img = check_image(window, "window")
    ps = check_pixel_size(pixel_size_A)
    md = max(1, int(round(min_separation_A / ps)))
    return peak_local_max(img, min_distance=md, exclude_border=False)


def defect_signature(window, pixel_size_A: float, exclude_A: float = 2.6,
                     centre_radius_A: float = 0.45) -> Signature:
    """Intensity at the window centre relative to pristine W and S2 columns away from it.

    The W reference is the median of the bright column peaks more than ``exclude_A`` from the centre,
    the S2 reference the median of the weak peaks (between 5 % and 45 % of W); the background is the
    5th percentile of the window. The centre value is the maximum within ``centre_radius_A``.

    Parameters
    ----------
    window : ndarray (H, W)
        A library window with the defect at its centre.
    pixel_size_A : float
        Pixel size (Å/px).
    exclude_A : float
        Radius around the centre left out of the references (Å).
    centre_radius_A : float
        Radius of the centre disc read (Å).

    Returns
    -------
    Signature
        Centre intensity relative to W and to S2, the references and the background.
    """
    img = check_image(window, "window")
    ps = check_pixel_size(pixel_size_A)
    h, w = img.shape
    c = np.array([h // 2, w // 2])
    bg = float(np.percentile(img, 5))
    peaks = column_peaks(img, ps)
    dist = np.linalg.norm((peaks - c) * ps, axis=1)
    # keep peaks away from the centre and the edge
    edge = np.min(np.concatenate([peaks, np.array([h - 1, w - 1]) - peaks], axis=1), axis=1) * ps
    sel = peaks[(dist > exclude_A) & (edge > 1.0)]
    vals = img[sel[:, 0], sel[:, 1]] - bg
    top = np.percentile(vals, 95) if len(vals) else 0.0
    w_vals = vals[vals > 0.6 * top]
    W_ref = float(np.median(w_vals)) if len(w_vals) else float("nan")
    s_vals = vals[(vals > 0.05 * W_ref) & (vals < 0.45 * W_ref)]
    S2_ref = float(np.median(s_vals)) if len(s_vals) else float("nan")
    r = int(np.ceil(centre_radius_A / ps))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (yy**2 + xx**2) * ps**2 <= centre_radius_A**2
    patch = img[c[0] - r:c[0] + r + 1, c[1] - r:c[1] + r + 1]
    centre = float(patch[disc].max()) - bg
    return Signature(centre / W_ref, centre / S2_ref, W_ref, S2_ref, bg, len(w_vals), len(s_vals))


def defect_line_profile(window, pixel_size_A: float, length_A: float = 12.0,
                        towards: str = "W") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intensity profile through the window centre towards the nearest bright (W) column.

    Returns (distance in Å from the centre, intensity, (start, end) points in (row, col) px). The
    line runs from −length/2 to +length/2 through the centre; with ``towards='W'`` it is aimed at
    the nearest W column more than 1.5 Å away, which for a chalcogen site is the armchair line
    S2–W–(gap)–S2–W and for a metal site the zigzag line W–W.

    Parameters
    ----------
    window : ndarray (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    length_A : float
        Profile length (Å).
    towards : {"W", "S2"}
        The column the line aims at.

    Returns
    -------
    distance_A, intensity : ndarray
    end_points : ndarray (2, 2)
        (row, col) px of the line's ends.
    """
    img = check_image(window, "window")
    ps = check_pixel_size(pixel_size_A)
    if towards != "W":
        raise ValueError(f"towards must be 'W', got {towards!r}")
    sig = defect_signature(img, ps)
    c = np.array([img.shape[0] // 2, img.shape[1] // 2], dtype=float)
    peaks = column_peaks(img, ps)
    vals = img[peaks[:, 0], peaks[:, 1]] - sig.background
    d = np.linalg.norm((peaks - c) * ps, axis=1)
    bright = (vals > 0.6 * sig.W_ref) & (d > 1.5) & (d < LATTICE_A + 0.5)
    if not np.any(bright):
        raise ValueError("no W column found near the window centre")
    target = peaks[bright][np.argmin(d[bright])].astype(float)
    u = (target - c) / np.linalg.norm(target - c)
    half = length_A / 2 / ps
    start, end = c - u * half, c + u * half
    prof = profile_line(img, start, end, order=1, mode="reflect")
    x = np.linspace(-length_A / 2, length_A / 2, len(prof))
    return x, prof, np.array([start, end])


def signature_matches(class_name: str, s: Signature) -> bool:
    """Whether a window's centre shows the signature of ``class_name`` (60 kV, 80–200 mrad HAADF).

    Empty sites (``Vw``, ``Vs2``) read well below a pristine S2 column; a single S on a metal site
    (``Sw``) below an S2 column but above empty; ``Mo`` (Z = 42) well below W (Z = 74); a W on a
    chalcogen site (``W2s2``) like a W column; W + S in one column (``Ws``) brighter than W alone.

    Parameters
    ----------
    class_name : str
        A library class.
    s : Signature
        From :func:`defect_signature`.

    Returns
    -------
    bool
    """
    rules = {"Vw": s.centre_over_S2 < 0.25, "Sw": 0.25 < s.centre_over_S2 < 0.9,
             "Mo": 0.3 < s.centre_over_W < 0.75, "W2s2": 0.85 < s.centre_over_W < 1.3,
             "Vs2": s.centre_over_S2 < 0.25, "Ws": s.centre_over_W > 1.15}
    if class_name not in rules:
        raise ValueError(f"no signature rule for class {class_name!r}")
    return bool(rules[class_name])
