"""Calibration checks: the pixel size against the lattice of the named material (Å/px)."""
from __future__ import annotations

import numpy as np

from helpers.core.chemistry import ALLOYS, MATERIALS
from helpers.core.validation import InputError, check_pixel_size
from helpers.core.windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX
from helpers.io.units import _fail

#: in-plane lattice constants a (Å): the TMDs of :mod:`helpers.core.chemistry` (alloys: their host's),
#: graphene and hBN for calibration. Sources: bulk crystal structures (ICSD / Materials Project).
LATTICE_CONSTANTS_A = {**{m: a for m, (_, _, a) in MATERIALS.items()},
                       **{alloy: MATERIALS[host][2] for alloy, (host, _) in ALLOYS.items()},
                       "graphene": 2.46, "hBN": 2.50}
#: largest relative difference between a pixel size and the lattice estimate that is still taken as
#: agreement. The estimate is good to ~1 % (simulated frames at 0.15–0.3 Å/px; within 1.1 % of
#: independent FFT values on seven real images); a monolayer's own strain stays below ~2 %. A file
#: value off by more is a calibration error (a real DigiScan export: 5 % off).
CALIBRATION_TOLERANCE = 0.03


def column_spacing_A(material: str = "WS2") -> float:
    """Distance (Å) between neighbouring atomic columns in projection: a/√3 on a honeycomb of
    constant a (metal to chalcogen column in a 2H TMD, C–C in graphene, B–N in hBN).

    Parameters
    ----------
    material : str
        A material of :data:`LATTICE_CONSTANTS_A`.

    Returns
    -------
    float
        Column spacing (Å).
    """
    if material not in LATTICE_CONSTANTS_A:
        raise InputError(f"unknown material {material!r}; known: {sorted(LATTICE_CONSTANTS_A)}")
    return LATTICE_CONSTANTS_A[material] / np.sqrt(3)


#: the fewest pixels per column spacing at which columns are still resolved
MIN_PX_PER_COLUMN = 3.0


def check_sampling(pixel_size_A: float, frame_shape, material: str = "WS2", path="image") -> None:
    """Refuse a pixel size no lattice image of ``material`` can have: columns sampled by fewer
    than 3 px per column spacing (unresolved), or a frame smaller than one 64 px window at the
    library's 0.3 Å/px (19.2 Å). Checked before any work, so a wrong ``--pixel-size`` never ends
    in a memory error.

    Parameters
    ----------
    pixel_size_A : float
        Pixel size (Å/px).
    frame_shape : tuple of int
        (H, W) of a frame (px).
    material : str
        The material imaged.
    path : str or Path
        The file, named in the error.

    Raises
    ------
    InputError
        Naming the problem.
    """
    ps = check_pixel_size(pixel_size_A)
    spacing = column_spacing_A(material)
    top = spacing / MIN_PX_PER_COLUMN
    if ps > top:
        _fail(path, f"pixel size {ps:g} Å/px is too coarse for a {material} lattice: its columns "
                    f"{spacing:.2f} Å apart would span {spacing / ps:.2f} px (at least "
                    f"{MIN_PX_PER_COLUMN:g} needed, so at most {top:.3f} Å/px)")
    need_A = WINDOW_PX * LIBRARY_PIXEL_SIZE_A
    h, w = frame_shape[-2:]
    if min(h, w) * ps < need_A:
        _fail(path, f"frames of {h}×{w} px at {ps:g} Å/px are {min(h, w) * ps:.1f} Å across, smaller "
                    f"than one {need_A:.1f} Å window ({int(np.ceil(need_A / ps))} px)")


#: a ring of Bragg spots counts as the lattice's first order only with at least this share of the
#: strongest ring's mean spot magnitude (the {100} ring of a honeycomb reads ≥ ~0.5 of its {110} ring
#: even with equal sublattices and a sharp probe, ≥ 0.35 where both sit between FFT pixels)
RING_MIN_SHARE = 0.35
#: how well a ring's spot angles must agree modulo 60° (|mean exp(6iθ)|; 0.8: within ~6°, scan
#: distortion included) to be a hexagonal lattice's ring and not a square pattern's or stray spots
HEXAGON_MIN_ORDER = 0.8


def estimate_pixel_size(frame, material: str = "WS2", lattice_a_A: float | None = None) -> float:
    """Pixel size (Å/px) from the first-order Bragg spots of a hexagonal lattice.

    The six {100} spots of a lattice with constant a sit at |k| = 2/(√3 a) Å⁻¹; their radius in
    the FFT (in 1/px) gives the pixel size. Spots are found as the strongest local maxima of the
    windowed |FFT|, the first ring as the innermost radius shared by at least four of them at
    angles 60° apart whose spots are at least :data:`RING_MIN_SHARE` as strong as the strongest
    such ring's (a square or a weaker inner ring is a superstructure: an ordered pattern of defects,
    a moiré, a background), refined by the spots' centroids.

    Parameters
    ----------
    frame : ndarray (H, W)
        One lattice image (a few unit cells at least).
    material : str
        Material whose lattice constant is assumed.
    lattice_a_A : float, optional
        Lattice constant (Å) instead of the material's.

    Returns
    -------
    float
        Pixel size (Å/px).
    """
    from scipy import ndimage

    if lattice_a_A is None:
        if material not in LATTICE_CONSTANTS_A:
            raise ValueError(f"unknown material {material!r}; known: {sorted(LATTICE_CONSTANTS_A)}")
        lattice_a_A = LATTICE_CONSTANTS_A[material]
    img = np.asarray(frame, np.float64)
    h, w = img.shape
    n = min(h, w)
    img = img[:n, :n]
    win = np.outer(np.hanning(n), np.hanning(n))
    F = np.abs(np.fft.fftshift(np.fft.fft2((img - img.mean()) * win)))
    c = n // 2
    yy, xx = np.mgrid[:n, :n] - c
    r = np.hypot(yy, xx)
    mag = np.log1p(F)
    # ignore the lowest frequencies (background) and the highest (noise)
    band = (r > 3) & (r < 0.45 * n)
    lm = (mag == ndimage.maximum_filter(mag, size=5)) & band
    vals = mag[lm]
    cand = np.argwhere(lm)
    order = np.argsort(vals)[::-1][:24]
    cand, vals = cand[order], vals[order]
    med = np.median(mag[band])
    mad = np.median(np.abs(mag[band] - med)) * 1.4826 + 1e-12
    strong = cand[vals > med + 6 * mad]
    if len(strong) < 4:
        raise ValueError("no lattice found in the FFT (fewer than four strong Bragg spots)")
    radii = np.hypot(*(strong - c).T)
    level = F[strong[:, 0], strong[:, 1]]
    angle = np.arctan2(*(strong - c).T)
    rings = []  # (mean spot magnitude, spots on the ring), innermost first
    for rad in np.sort(radii):
        on = np.abs(radii - rad) < max(1.5, 0.04 * rad)
        # a hexagon's spots lie 60° apart: their angles agree modulo 60° (a square pattern's do not)
        if on.sum() >= 4 and np.abs(np.mean(np.exp(6j * angle[on]))) >= HEXAGON_MIN_ORDER:
            rings.append((float(level[on].mean()), on))
    # the innermost hexagonal ring that is a lattice's: a weaker ring inside it (an ordered pattern
    # of defects, a moiré) is not the first order
    top = max((v for v, _ in rings), default=0.0)
    on = next((on for v, on in rings if v >= RING_MIN_SHARE * top), None)
    if on is None:
        raise ValueError("no ring of at least four Bragg spots in the FFT: not a hexagonal lattice?")
    ring = strong[on]
    refined = []
    for pr, pc in ring:  # centroid of |FFT| around each spot
        sl = np.s_[max(pr - 2, 0):pr + 3, max(pc - 2, 0):pc + 3]
        patch = F[sl]
        gy, gx = np.mgrid[sl]
        refined.append(np.hypot((gy * patch).sum() / patch.sum() - c, (gx * patch).sum() / patch.sum() - c))
    k_px = float(np.median(refined)) / n  # cycles per px
    d100_A = np.sqrt(3) / 2 * lattice_a_A
    return float(d100_A * k_px)


def check_calibration(frame, pixel_size_A: float, material: str = "WS2",
                      tolerance: float = CALIBRATION_TOLERANCE) -> dict:
    """Compare a pixel size with the lattice estimate; ``ok`` is False beyond ``tolerance``.

    Parameters
    ----------
    frame : ndarray (H, W)
        One lattice image.
    pixel_size_A : float
        The pixel size to check (Å/px), e.g. the file's.
    material : str
        Material whose lattice constant the estimate uses.
    tolerance : float
        Largest relative difference still ``ok``.

    Returns
    -------
    dict
        ``pixel_size_A``, ``lattice_estimate_A`` (Å/px), ``relative_difference`` and ``ok``.
    """
    est = estimate_pixel_size(frame, material)
    rel = (pixel_size_A - est) / est
    return {"pixel_size_A": float(pixel_size_A), "lattice_estimate_A": est,
            "relative_difference": float(rel), "ok": bool(abs(rel) <= tolerance), "material": material}
