"""The column lattice fitted on the data: vectors, sublattice placement, column width (Å, px)."""
from __future__ import annotations

import numpy as np

from helpers.core.chemistry import CHALCOGEN, METAL
from helpers.core.validation import check_image, check_pixel_size
from helpers.detect.column_model import (
    ColumnLattice,
    _measure,
    _snap,
)
from helpers.detect.peaks import _dtft, _window2d, lattice_basis


def _phases(image: np.ndarray, recip: np.ndarray, amplitudes: bool = False):
    """Phase (cycles) of the Hann-windowed image's Fourier components at the rows of ``recip``; with
    ``amplitudes`` also their moduli."""
    x = image * _window2d(image.shape)
    c = np.array([_dtft(x, b) for b in recip])
    return (np.angle(c) / (2 * np.pi), np.abs(c)) if amplitudes else np.angle(c) / (2 * np.pi)


def reflection_weights(amplitudes) -> np.ndarray:
    """Least-squares weights of the first-order reflections' phases: the squared amplitude (a phase's
    noise goes as 1 / amplitude), normalised to a mean of 1. Real frames show the three 0.4–1 of
    each other (scan noise, probe astigmatism, tilt); a rendered lattice shows them alike, and equal
    weights leave a change of the cell's content out of the displacement exactly
    (:mod:`helpers.detect.site_placement`)."""
    w = np.asarray(amplitudes, float) ** 2
    return w / w.mean() if np.all(np.isfinite(w)) and w.mean() > 0 else np.ones(len(w))


def weighted_solve(G: np.ndarray, phases, weights) -> np.ndarray:
    """u with G u = phases (rows per reflection; ``phases`` (3,) or (n, 3)) in weighted least squares."""
    W = np.diag(weights)
    return np.asarray(phases) @ (np.linalg.solve(G.T @ W @ G, G.T @ W)).T


def lattice_origin(image, lattice: ColumnLattice) -> np.ndarray:
    """(row, col) px of one metal site of ``image`` (any one: the lattice is periodic).

    The first-order Fourier components carry the metal sublattice plus the S2 one at its offset;
    their phase is corrected for the S2 share (ratio ``lattice.s2_ratio``), which would otherwise
    pull the origin by ~0.05 Å. All three first-order reflections, weighted least squares
    (:func:`reflection_weights`; until 5 December 2026 the two of the basis: a mirrored image found
    its origin 0.007 Å elsewhere).

    Parameters
    ----------
    image : ndarray (H, W)
    lattice : ColumnLattice

    Returns
    -------
    ndarray (2,)
        (row, col) px.
    """
    img = check_image(image, "image", min_shape=(16, 16)).astype(np.float64)
    G = lattice.first_order  # b1, b2 and the third: any mirror of the image finds the same origin
    ph, amp = _phases(img - img.mean(), G, amplitudes=True)
    gs = np.linalg.solve(lattice.reciprocal.T, G.T).T @ np.asarray(lattice.chalcogen_frac, float)  # g·s
    target = -(ph - np.angle(1 + lattice.s2_ratio * np.exp(-2j * np.pi * gs)) / (2 * np.pi))  # g·o (mod 1)
    o = np.linalg.solve(G[:2], target[:2])
    # the third reflection's phase, unwrapped against the first two, and all three in weighted least squares
    resid = target - G @ o
    return o + weighted_solve(G, resid - np.round(resid), reflection_weights(amp))


def _frame_w_amplitude(img: np.ndarray, origin: np.ndarray, lattice: ColumnLattice, radius_A: float,
                       bins: int, n: int = 40) -> float:
    """Median fitted amplitude of W columns at the metal sites nearest about ``n`` points of a grid
    symmetric about the frame's centre (:func:`patch_centres`: no seed, the same sites mirrored)."""
    ps = lattice.pixel_size_A
    margin = radius_A / ps + 4
    h, w = img.shape
    if min(h, w) <= 2 * margin:
        return np.nan
    pts = patch_centres(img.shape, margin, n)
    kinds, sites, _ = _snap(pts, origin, lattice)
    keep = kinds == METAL
    amps = [a["centre"] for a in _measure(img, kinds[keep], sites[keep], lattice, radius_A, bins)
            if a is not None]
    return float(np.median(amps)) if amps else np.nan


def fit_column_lattice(image, pixel_size_A: float, lattice_a_A: float = 3.18, n_patches: int = 400,
                       radius_A: float = 5.0, mask=None,
                       chalcogen_brighter: bool = False, sublattices_alike: bool = False,
                       start_ratio: float = 0.15) -> ColumnLattice:
    """The lattice, the S2 sublattice and the column width of a (pristine-dominated) image.

    The column width is the one at which the hollow sites of the honeycomb — which hold no atoms —
    read zero in the least-squares fit (median over about ``n_patches`` patches at the lattice sites
    nearest a grid symmetric about the image's centre, :func:`patch_centres`); too narrow a Gaussian
    leaves column intensity for the hollow site, too wide a one takes it away.

    Parameters
    ----------
    image : ndarray (H, W)
        A lattice image, mostly pristine.
    pixel_size_A : float
        Pixel size (Å/px).
    lattice_a_A : float
        Lattice constant (Å).
    n_patches : int
        About how many patches the column width is measured on (until 5 December 2026: 40 at
        random places, which moved the width by up to ±6 % and the ratio by 0.11–0.34 with the
        seed on a 512² real frame; 400 on a grid: ±1 %).
    radius_A : float
        Radius of each fitted patch (Å).
    mask : ndarray (H, W) of bool, optional
        Where the patches may lie (the lattice's own area: not another grain, a hole or a thick
        patch); everywhere when None or when fewer than ``n_patches`` / 4 such places are found.
    chalcogen_brighter : bool
        The material's chalcogen columns read brighter than its metal columns
        (:attr:`helpers.core.chemistry.Chemistry.chalcogen_brighter`: MoSe2, MoTe2, WTe2): the fit
        finds a bright and a dim sublattice, and this names the dim one the metal.
    sublattices_alike : bool
        The chemistry lets the chalcogen columns read as bright as the metal's (a sheet converting
        to another chalcogen, :func:`helpers.detect.sublattices.levels_straddle_metal`): where the
        sublattice taken for the dim one reads the brighter, they are taken the other way round, or,
        where the origin cannot move there, kept and named by their medians (otherwise an error, as
        for dark columns).
    start_ratio : float
        The dim sublattice over the bright one the fit starts from (the phase correction of the
        lattice origin assumes it): WS2's S2/W 0.15 unless given.

    Returns
    -------
    ColumnLattice
        Lattice vectors (px), chalcogen sublattice, column width σ (px), chalcogen/metal ratio and the
        HAADF exponent it implies.
    """
    img = check_image(image, "image", min_shape=(64, 64)).astype(np.float64)
    ps = check_pixel_size(pixel_size_A)
    A = np.linalg.inv(lattice_basis(img, ps, lattice_a_A)).T
    # make the angle between a1 and a2 120° so that the honeycomb sites are (1/3, 2/3) and (2/3, 1/3)
    if np.dot(A[0], A[1]) > 0:
        A = np.array([A[0], -A[1]])
    h, w = img.shape
    margin = radius_A / ps + 4
    if min(h, w) <= 2 * margin + 8:
        raise ValueError(f"image {img.shape} too small for column fits of {radius_A} Å at {ps} Å/px")
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != img.shape:
            raise ValueError(f"mask shape {mask.shape} differs from the image's {img.shape}")
    pts = patch_centres(img.shape, margin, n_patches, mask)

    def probe(frac, sigma_px, s2_ratio=start_ratio):
        lat = ColumnLattice(tuple(map(tuple, A)), frac, float(sigma_px), ps, s2_ratio)
        o = lattice_origin(img, lat)
        kinds, sites, _ = _snap(pts, o, lat)
        keep = kinds == METAL
        res = [a for a in _measure(img, kinds[keep], sites[keep], lat, radius_A, 2, True) if a is not None]
        w_ref = np.array([np.median(a[METAL]) for a in res])
        ok = np.isfinite(w_ref) & (w_ref != 0)  # a patch on a blank part (a stopped scan) measures nothing
        res, w_ref = [a for a, k in zip(res, ok) if k], w_ref[ok]
        if not len(res):
            return np.nan, np.nan
        return (np.median([np.median(a[CHALCOGEN]) for a in res] / w_ref),
                np.median([np.median(a["hollow"]) for a in res] / w_ref))

    lat_ratio_used = []

    def width(frac, r):  # hollow amplitude rises with the width: bisect for zero
        lat_ratio_used.append(r)
        lo, hi = 0.25 / ps, 0.9 / ps
        for _ in range(10):
            mid = 0.5 * (lo + hi)
            _, hollow = probe(frac, mid, r)
            lo, hi = (mid, hi) if hollow < 0 else (lo, mid)
        sigma = 0.5 * (lo + hi)
        return sigma, probe(frac, sigma, r)[0]

    def refined(frac, sigma, s2):
        for _ in range(2):  # the origin's phase correction assumed the ratio: refit with the one measured
            if not 0.02 < s2 < 1.0 or abs(s2 - lat_ratio_used[-1]) < 0.05:
                break
            lat_ratio_used.append(s2)
            sigma, s2 = width(frac, s2)
        return sigma, s2

    sigma0 = 0.45 / ps
    s_a, _ = probe((1 / 3, 2 / 3), sigma0)
    s_b, _ = probe((2 / 3, 1 / 3), sigma0)
    frac = (1 / 3, 2 / 3) if s_a > s_b else (2 / 3, 1 / 3)
    sigma, s2 = width(frac, start_ratio)
    if 0.02 < s2 < 1.0 and max(s_a, s_b) > 0:
        sigma, s2 = refined(frac, sigma, s2)
    if not 0.02 < s2 < 1.0 or max(s_a, s_b) <= 0:
        # the Fourier-phase origin assumed a faint chalcogen sublattice (S2/W 0.15); where the two
        # sublattices read alike (thick, contaminated, low-angle detector, a noisy frame of a
        # selenide) it can land between the columns or on the wrong sublattice: order the three
        # honeycomb sites by the image itself and start from that contrast
        frac, ratio = _sublattices_by_intensity(img, A, ps)
        sigma, s2 = refined(frac, *width(frac, ratio))
    inverted = False  # the origin's sublattice reads the dimmer at the median
    if sublattices_alike and 1.0 < s2 < 1 / 0.02 and max(s_a, s_b) > 0:
        # the sublattice taken for the dim one reads the brighter (a sheet whose chalcogen columns
        # converting make them about as bright as the metal's, the origin's phase set for a faint
        # one): the other way round; where the origin cannot move there (an alloy whose metal
        # sublattice is the brighter on average, which the Fourier phase follows, but the dimmer at
        # the median), the sublattices are kept and named by their medians below
        other = (frac[1], frac[0])
        sigma_o, s2_o = refined(other, *width(other, 1.0 / s2))
        if 0.02 < s2_o < 1.0:
            frac, sigma, s2 = other, sigma_o, s2_o
        else:
            inverted = True
    if not (0.02 < s2 < 1.0 or inverted):
        raise ValueError(f"dim/bright sublattice ratio {s2:.3f} is not that of a transition-metal "
                         "dichalcogenide: check the pixel size and the lattice constant (or the frame is too "
                         "noisy to tell the two sublattices apart; or its columns are dark, as in a bright-field "
                         "or ABF image: the site reading needs an annular dark-field image)")
    if chalcogen_brighter != inverted:  # the metal is the dim sublattice (at the median): its sites
        # become the origin's
        frac, s2 = (frac[1], frac[0]), 1.0 / s2
    return ColumnLattice(tuple(map(tuple, A)), frac, float(sigma), ps, float(s2))


def patch_centres(shape, margin_px: float, n: int, mask=None) -> np.ndarray:
    """About ``n`` points (row, col px) on a square grid ``margin_px`` inside an image of ``shape``,
    symmetric about its centre: the same points, mirrored, for a mirrored or rotated image, and no
    seed. With a ``mask`` (where the points may lie) the grid is made finer, up to 4 times, until
    about ``n`` of its points lie inside; where fewer than ``n`` / 4 (and 5) do, the mask is ignored.

    Parameters
    ----------
    shape : tuple
        (H, W) of the image.
    margin_px : float
        Distance of the outer points from the border (px).
    n : int
        About how many points (≥ 1).
    mask : ndarray (H, W) of bool, optional

    Returns
    -------
    ndarray (m, 2)
    """
    h, w = shape

    def grid(k):
        return np.stack(np.meshgrid(np.linspace(margin_px, h - 1 - margin_px, k),
                                    np.linspace(margin_px, w - 1 - margin_px, k), indexing="ij"), -1).reshape(-1, 2)

    m = max(int(np.ceil(np.sqrt(n))), 2)
    pts = grid(m)
    if mask is None:
        return pts
    for k in (1, 2, 3, 4):
        g = grid(m * k)
        inside = g[mask[np.round(g[:, 0]).astype(int), np.round(g[:, 1]).astype(int)]]
        if len(inside) >= 0.9 * n:
            break
    return inside if len(inside) >= max(n // 4, 5) else pts


def _sublattices_by_intensity(img: np.ndarray, A: np.ndarray, ps: float, steps: int = 18) -> tuple[tuple, float]:
    """Which honeycomb site holds the chalcogen columns, and their contrast over the metal's, from
    the unit cell averaged over the image (the lightly smoothed image sampled at every cell on a
    ``steps`` × ``steps`` grid of fractional positions): the metal column is the brightest point,
    the chalcogen the brighter of the two other honeycomb sites, the hollow the darker. Needs no
    assumption on the sublattices' ratio. Returns (chalcogen_frac, contrast ratio)."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(img, 0.4 / ps)
    h, w = img.shape
    n = int(max(h, w) / min(np.linalg.norm(A, axis=1))) + 2
    ij = np.array([(i, j) for i in range(-2 * n, 2 * n + 1) for j in range(-2 * n, 2 * n + 1)], float)
    cells = ij @ A
    cells = cells[(cells[:, 0] > 0) & (cells[:, 0] < h - 1) & (cells[:, 1] > 0) & (cells[:, 1] < w - 1)]

    def level(frac):
        p = cells + np.asarray(frac, float) @ A
        keep = (p[:, 0] >= 0) & (p[:, 0] <= h - 1) & (p[:, 1] >= 0) & (p[:, 1] <= w - 1)
        return float(np.mean(ndimage.map_coordinates(smooth, p[keep].T, order=1)))

    grid = [(u / steps, v / steps) for u in range(steps) for v in range(steps)]
    metal = np.asarray(max(grid, key=level))
    a, b = (metal + (1 / 3, 2 / 3)) % 1.0, (metal + (2 / 3, 1 / 3)) % 1.0
    la, lb, lm = level(a), level(b), level(metal)
    frac, lc, lh = ((1 / 3, 2 / 3), la, lb) if la > lb else ((2 / 3, 1 / 3), lb, la)
    return frac, float(np.clip((lc - lh) / max(lm - lh, 1e-12), 0.05, 0.95))
