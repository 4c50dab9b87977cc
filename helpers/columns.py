"""Quantitative HAADF: atomic-column intensities on the fitted lattice, and defect classes from them.

A HAADF column reads ≈ Σ Z^n of its atoms, so a defect's *content* can be read from its column
intensity relative to the pristine W columns around it, in the movie's own units — independent of
the simulation the classifier was trained on. This is how atoms are told apart in quantitative
STEM (column "scattering cross-sections", StatSTEM; Krivanek et al., Nature 464, 571 (2010)).

1. :func:`fit_column_lattice` finds the lattice of one image (Fourier peaks refined off the grid,
   :func:`helpers.localize.lattice_basis`), which of the two honeycomb sites holds the S2 columns,
   and the width of a column (the Gaussian width at which the empty hollow sites read zero).
2. :func:`lattice_origin` places the metal sublattice in each frame (phases of the first-order
   Fourier components, corrected for the S2 sublattice's share).
3. :func:`column_ratios` snaps every detection to its nearest metal or chalcogen site and fits the
   amplitudes of all columns around it by linear least squares (Gaussians of the fitted width on the
   lattice sites, plus a plane). The ratio of the site's amplitude to the median of its pristine W
   neighbours is the column content in W units: W 1, Mo (42/74)^n, one S (16/74)^n, empty 0.
   The fit is a fixed linear filter for each sub-pixel position of a site, so it is precomputed
   (the standard movie's 16,289 detections take ~4 s in all).
4. :func:`classify_ratios` reads classes from the ratios: the exponent n from the measured
   S2/W ratio, then a mixture with one component per possible content on each sublattice, with
   one gain shared by both sublattices and each one's width and weights fitted to the movie's own
   detections (EM; no truth). :func:`site_keys` and :func:`average_over_site` first average a
   site's ratio over the frames it is detected on the same lattice site.

Lengths in Å unless a name says px; positions are (row, col) px.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .chemistry import CHALCOGEN, METAL, Z
from .localize import _dtft, _window2d, lattice_basis
from .validation import check_image, check_pixel_size

#: out-of-library contents: a pristine column (a false detection) and a single S vacancy
PRISTINE_W, PRISTINE_S2, SINGLE_S_VACANCY = "W", "S2", "Vs"


@dataclass(frozen=True)
class ColumnLattice:
    """The lattice of a movie for column measurements (positions in (row, col) px)."""

    vectors_px: tuple  # ((a1_row, a1_col), (a2_row, a2_col)), the metal sublattice
    chalcogen_frac: tuple  # fractional offset of the S2 sites from the metal sites
    sigma_px: float  # Gaussian width of one column (probe, thermal motion, registration)
    pixel_size_A: float
    s2_ratio: float  # pristine S2 / W column amplitude, measured

    @property
    def vectors(self) -> np.ndarray:
        """The metal sublattice's vectors as a 2 × 2 array (rows a1, a2; (row, col) px)."""
        return np.asarray(self.vectors_px, float)

    @property
    def reciprocal(self) -> np.ndarray:
        """Rows b1, b2 (cycles/px) with b_i · a_j = δ_ij."""
        return np.linalg.inv(self.vectors).T

    @property
    def haadf_exponent(self) -> float:
        """n in Z^n from the measured S2/W ratio (2 · (16/74)^n)."""
        return haadf_exponent(self.s2_ratio)


def haadf_exponent(s2_ratio: float) -> float:
    """The HAADF exponent n for which an S2 column reads ``s2_ratio`` of a W column."""
    if not 0 < s2_ratio < 2:
        raise ValueError(f"S2/W ratio must be in (0, 2), got {s2_ratio}")
    return float(np.log(s2_ratio / 2) / np.log(Z["S"] / Z["W"]))


def expected_contents(s2_ratio: float) -> dict:
    """Column content in W units of every possibility on each sublattice, from the S2/W ratio.

    Metal site: ``Vw`` 0, ``Sw`` one S, ``Mo``, pristine ``W`` 1. Chalcogen site: ``Vs2`` 0,
    ``Vs`` one S (out of the library), pristine ``S2``, ``W2s2`` 1, ``Ws`` 1 + one S.
    """
    n = haadf_exponent(s2_ratio)
    s, mo = (Z["S"] / Z["W"]) ** n, (Z["Mo"] / Z["W"]) ** n
    return {METAL: {"Vw": 0.0, "Sw": s, "Mo": mo, PRISTINE_W: 1.0},
            CHALCOGEN: {"Vs2": 0.0, SINGLE_S_VACANCY: s, PRISTINE_S2: 2 * s, "W2s2": 1.0, "Ws": 1.0 + s}}


def _phases(image: np.ndarray, recip: np.ndarray) -> np.ndarray:
    """Phase (cycles) of the Hann-windowed image's Fourier components at the rows of ``recip``."""
    x = image * _window2d(image.shape)
    return np.array([np.angle(_dtft(x, b)) / (2 * np.pi) for b in recip])


def lattice_origin(image, lattice: ColumnLattice) -> np.ndarray:
    """(row, col) px of one metal site of ``image`` (any one: the lattice is periodic).

    The first-order Fourier components carry the metal sublattice plus the S2 one at its offset;
    their phase is corrected for the S2 share (ratio ``lattice.s2_ratio``), which would otherwise
    pull the origin by ~0.05 Å.
    """
    img = check_image(image, "image", min_shape=(16, 16)).astype(np.float64)
    recip = lattice.reciprocal
    ph = _phases(img - img.mean(), recip)
    frac = np.asarray(lattice.chalcogen_frac, float)
    bias = np.angle(1 + lattice.s2_ratio * np.exp(-2j * np.pi * frac)) / (2 * np.pi)  # b_i·s = frac_i
    return np.linalg.solve(recip, -(ph - bias))


def _patch_model(A: np.ndarray, cf: np.ndarray, sigma_px: float, pixel_size_A: float, radius_A: float,
                 kind: str, q: np.ndarray, with_hollow: bool):
    """The linear model of a patch around a site at sub-pixel position ``q`` of its anchor pixel:
    pixel offsets (yy, xx), the disc of fitted pixels, and for every modelled column its sublattice
    and distance (px) from the site. Columns up to 3σ beyond the disc are modelled, so none leaks."""
    R = int(np.ceil(radius_A / pixel_size_A))
    yy, xx = np.mgrid[-R:R + 2, -R:R + 2].astype(float)
    reach = radius_A / pixel_size_A + 3 * sigma_px
    n = int(np.ceil(reach / min(np.linalg.norm(A, axis=1)) * 2)) + 2
    ij = np.array([(i, j) for i in range(-n, n + 1) for j in range(-n, n + 1)], float)
    subs = {METAL: np.zeros(2), CHALCOGEN: cf}
    if with_hollow:
        subs["hollow"] = (2 * cf) % 1.0
    disc = (yy - q[0]) ** 2 + (xx - q[1]) ** 2 <= (radius_A / pixel_size_A) ** 2
    sites, names, dist = [], [], []
    for name, off in subs.items():
        p = q + (ij + (off - subs[kind])) @ A
        d = np.hypot(*(p - q).T)
        keep = d <= reach
        sites.append(p[keep])
        names += [name] * int(keep.sum())
        dist.append(d[keep])
    return yy, xx, disc, np.concatenate(sites), np.array(names), np.concatenate(dist), R


def _rows(yy, xx, use, sites, names, dist, sigma_px, inner_px, subs) -> dict:
    """Least-squares filters (pseudo-inverse rows) over the pixels ``use`` for the site and its
    neighbours within ``inner_px`` of each sublattice."""
    g = np.exp(-((yy[use][:, None] - sites[None, :, 0]) ** 2
                 + (xx[use][:, None] - sites[None, :, 1]) ** 2) / (2 * sigma_px ** 2))
    M = np.concatenate([g, np.ones((use.sum(), 1)), yy[use][:, None], xx[use][:, None]], 1)
    gram = M.T @ M
    gram[np.diag_indices_from(gram)] += 1e-9 * np.trace(gram) / len(gram)
    inv = np.linalg.inv(gram)  # (MᵀM)⁻¹; the filters are its rows times Mᵀ (normal equations)
    near = (dist <= inner_px) & (dist > 0.5)  # neighbours, not the site itself
    rows = {"centre": inv[int(np.argmin(dist))] @ M.T}
    for name in subs:
        rows[name] = inv[np.flatnonzero(near & (names == name))] @ M.T
    return rows


def _subs(with_hollow: bool) -> tuple:
    return (METAL, CHALCOGEN, "hollow") if with_hollow else (METAL, CHALCOGEN)


@lru_cache(maxsize=16)
def _filters(vectors_px: tuple, chalcogen_frac: tuple, sigma_px: float, pixel_size_A: float,
             radius_A: float, bins: int, with_hollow: bool):
    """For every site kind and sub-pixel bin (by, bx): the least-squares filters of the patch model
    (:func:`_rows`) and the disc of fitted pixels; and the patch half-size R (px)."""
    A, cf = np.asarray(vectors_px, float), np.asarray(chalcogen_frac, float)
    inner_px = (radius_A - 1.0) / pixel_size_A
    out, R = {}, 0
    for kind in (METAL, CHALCOGEN):
        for by in range(bins):
            for bx in range(bins):
                q = (np.array([by, bx]) + 0.5) / bins  # site position inside its anchor pixel
                yy, xx, disc, sites, names, dist, R = _patch_model(A, cf, sigma_px, pixel_size_A,
                                                                   radius_A, kind, q, with_hollow)
                out[(kind, by, bx)] = (_rows(yy, xx, disc, sites, names, dist, sigma_px, inner_px,
                                             _subs(with_hollow)), disc)
    return out, R


def _measure(image: np.ndarray, kinds, sites: np.ndarray, lattice: ColumnLattice, radius_A: float,
             bins: int, with_hollow: bool = False, partial: bool = False) -> list:
    """Fitted amplitudes around each site: dicts of centre / neighbour amplitudes, None where the
    patch leaves the image (``partial``: fit the pixels inside the image instead; slower)."""
    filt, R = _filters(tuple(map(tuple, lattice.vectors)), tuple(lattice.chalcogen_frac),
                       float(lattice.sigma_px), float(lattice.pixel_size_A), float(radius_A), bins,
                       with_hollow)
    h, w = image.shape
    out = []
    for kind, p in zip(kinds, sites):
        anchor = np.floor(p).astype(int)
        r0, c0 = anchor
        if r0 - R < 0 or c0 - R < 0 or r0 + R + 2 > h or c0 + R + 2 > w:
            out.append(_measure_partial(image, kind, p, lattice, radius_A, with_hollow, bins) if partial else None)
            continue
        b = np.minimum(((p - anchor) * bins).astype(int), bins - 1)
        rows, disc = filt[(kind, b[0], b[1])]
        v = image[r0 - R:r0 + R + 2, c0 - R:c0 + R + 2][disc]
        out.append({k: rows[k] @ v for k in rows})
    return out


def _measure_partial(image: np.ndarray, kind: str, p: np.ndarray, lattice: ColumnLattice,
                     radius_A: float, with_hollow: bool, bins: int = 4):
    """:func:`_measure` for a site whose patch is cut by the image border: the model is fitted to
    the pixels inside the image (its own filters, cached per sub-pixel bin and cut); None if the
    site itself is outside."""
    h, w = image.shape
    anchor = np.floor(p).astype(int)
    if not (0 <= anchor[0] < h and 0 <= anchor[1] < w):
        return None
    b = np.minimum(((p - anchor) * bins).astype(int), bins - 1)
    R = int(np.ceil(radius_A / lattice.pixel_size_A))
    # how many rows / columns of the (2R + 2)² patch fall outside the image on each side
    cut = (max(0, R - anchor[0]), max(0, anchor[0] + R + 2 - h), max(0, R - anchor[1]),
           max(0, anchor[1] + R + 2 - w))
    rows, use = _partial_filters(tuple(map(tuple, lattice.vectors)), tuple(lattice.chalcogen_frac),
                                 float(lattice.sigma_px), float(lattice.pixel_size_A), float(radius_A),
                                 bins, with_hollow, kind, int(b[0]), int(b[1]), cut)
    yy, xx = np.mgrid[-R:R + 2, -R:R + 2]
    v = image[(yy + anchor[0])[use], (xx + anchor[1])[use]]
    return {k: rows[k] @ v for k in rows}


@lru_cache(maxsize=4096)
def _partial_filters(vectors_px: tuple, chalcogen_frac: tuple, sigma_px: float, pixel_size_A: float,
                     radius_A: float, bins: int, with_hollow: bool, kind: str, by: int, bx: int, cut: tuple):
    q = (np.array([by, bx]) + 0.5) / bins
    yy, xx, disc, sites, names, dist, R = _patch_model(np.asarray(vectors_px, float),
                                                       np.asarray(chalcogen_frac, float), sigma_px,
                                                       pixel_size_A, radius_A, kind, q, with_hollow)
    top, bottom, left, right = cut
    n = 2 * R + 2
    inside = np.zeros((n, n), bool)
    inside[top:n - bottom, left:n - right] = True
    use = disc & inside
    rows = _rows(yy, xx, use, sites, names, dist, sigma_px, (radius_A - 1.0) / pixel_size_A, _subs(with_hollow))
    return rows, use


def _snap(centres: np.ndarray, origin: np.ndarray, lattice: ColumnLattice):
    """Nearest metal or chalcogen site of each centre: (site kind, site position px, distance px)."""
    A = lattice.vectors
    f = np.linalg.solve(A.T, (centres - origin).T).T  # fractional coordinates
    cf = np.asarray(lattice.chalcogen_frac, float)
    best = None
    for kind, off in ((METAL, np.zeros(2)), (CHALCOGEN, cf)):
        # the nearest site of a sublattice is among the four around the rounded-down coordinate
        base = np.floor(f - off)
        for di in (0, 1):
            for dj in (0, 1):
                p = origin + (base + [di, dj] + off) @ A
                d = np.hypot(*(p - centres).T)
                cand = (np.full(len(d), kind, object), p, d)
                if best is None:
                    best = cand
                else:
                    better = d < best[2]
                    best = (np.where(better, cand[0], best[0]), np.where(better[:, None], p, best[1]),
                            np.where(better, d, best[2]))
    return best


def column_ratios(image, pixel_size_A: float, lattice: ColumnLattice, centres_rc,
                  origin=None, radius_A: float = 5.0, bins: int = 4,
                  partial: bool = True) -> pd.DataFrame:
    """Column content of the lattice site nearest to each centre, in units of a pristine W column.

    Each detection is snapped to its nearest metal or chalcogen site; the amplitudes of all columns
    within ``radius_A`` are fitted at once (Gaussians of ``lattice.sigma_px`` on the lattice sites,
    plus a plane for the slowly varying background), so neighbouring columns do not leak into the
    site. Columns: ``site`` (metal / chalcogen / edge: too close to the border), ``site_row``,
    ``site_col`` (px), ``offset_A`` (detection to site), ``ratio`` (site amplitude / median of the
    pristine W neighbours within ``radius_A`` − 1 Å), ``s2_ratio`` (median S2 neighbour / W),
    ``w_amplitude`` (counts at a W column's centre). A site whose disc is cut by the border is fitted
    on the pixels inside the image (``partial``; else reported as edge) and, with fewer than 3 W
    neighbours there, normalized by the median W column of the frame.
    """
    img = check_image(image, "image", min_shape=(16, 16)).astype(np.float64)
    ps = check_pixel_size(pixel_size_A)
    if abs(ps - lattice.pixel_size_A) > 1e-6 * ps:
        raise ValueError(f"image pixel size {ps} Å differs from the lattice's {lattice.pixel_size_A} Å")
    c = np.asarray(centres_rc, float).reshape(-1, 2)
    cols = ["site", "site_row", "site_col", "offset_A", "ratio", "s2_ratio", "w_amplitude"]
    if len(c) == 0:
        return pd.DataFrame(columns=cols)
    o = lattice_origin(img, lattice) if origin is None else np.asarray(origin, float)
    kinds, sites, dist = _snap(c, o, lattice)
    amps = _measure(img, kinds, sites, lattice, radius_A, bins)
    redo = [k for k, a in enumerate(amps) if a is None]
    frame_w = np.nan
    if redo and partial:
        for k, a in zip(redo, _measure(img, kinds[redo], sites[redo], lattice, radius_A, bins, partial=True)):
            amps[k] = a
        frame_w = _frame_w_amplitude(img, o, lattice, radius_A, bins)
    rows = []
    for kind, p, d, a in zip(kinds, sites, dist, amps):
        if a is None:
            rows.append(("edge", p[0], p[1], d * ps, np.nan, np.nan, np.nan))
            continue
        local = len(a[METAL]) >= 3  # enough W neighbours inside the fitted disc
        w_ref = float(np.median(a[METAL])) if local else frame_w
        s2 = float(np.median(a[CHALCOGEN])) / w_ref if len(a[CHALCOGEN]) else np.nan
        rows.append((kind, p[0], p[1], d * ps, float(a["centre"]) / w_ref, s2, w_ref))
    return pd.DataFrame(rows, columns=cols)


def _frame_w_amplitude(img: np.ndarray, origin: np.ndarray, lattice: ColumnLattice, radius_A: float,
                       bins: int, n: int = 40, seed: int = 0) -> float:
    """Median fitted amplitude of W columns at ``n`` random metal sites inside the frame."""
    ps = lattice.pixel_size_A
    margin = radius_A / ps + 4
    h, w = img.shape
    if min(h, w) <= 2 * margin:
        return np.nan
    pts = np.random.default_rng(seed).uniform(margin, [h - margin, w - margin], (n, 2))
    kinds, sites, _ = _snap(pts, origin, lattice)
    keep = kinds == METAL
    amps = [a["centre"] for a in _measure(img, kinds[keep], sites[keep], lattice, radius_A, bins)
            if a is not None]
    return float(np.median(amps)) if amps else np.nan


def fit_column_lattice(image, pixel_size_A: float, lattice_a_A: float = 3.18, n_patches: int = 40,
                       radius_A: float = 5.0, seed: int = 0) -> ColumnLattice:
    """The lattice, the S2 sublattice and the column width of a (pristine-dominated) image.

    The column width is the one at which the hollow sites of the honeycomb — which hold no atoms —
    read zero in the least-squares fit (median over ``n_patches`` patches at random lattice sites);
    too narrow a Gaussian leaves column intensity for the hollow site, too wide a one takes it away.
    """
    img = check_image(image, "image", min_shape=(64, 64)).astype(np.float64)
    ps = check_pixel_size(pixel_size_A)
    A = np.linalg.inv(lattice_basis(img, ps, lattice_a_A)).T
    # make the angle between a1 and a2 120° so that the honeycomb sites are (1/3, 2/3) and (2/3, 1/3)
    if np.dot(A[0], A[1]) > 0:
        A = np.array([A[0], -A[1]])
    rng = np.random.default_rng(seed)
    h, w = img.shape
    margin = radius_A / ps + 4
    if min(h, w) <= 2 * margin + 8:
        raise ValueError(f"image {img.shape} too small for column fits of {radius_A} Å at {ps} Å/px")
    pts = rng.uniform(margin, [h - margin, w - margin], (n_patches, 2))

    def probe(frac, sigma_px, s2_ratio=0.15):
        lat = ColumnLattice(tuple(map(tuple, A)), frac, float(sigma_px), ps, s2_ratio)
        o = lattice_origin(img, lat)
        kinds, sites, _ = _snap(pts, o, lat)
        keep = kinds == METAL
        res = [a for a in _measure(img, kinds[keep], sites[keep], lat, radius_A, 2, True) if a is not None]
        w_ref = np.array([np.median(a[METAL]) for a in res])
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

    sigma0 = 0.45 / ps
    s_a, _ = probe((1 / 3, 2 / 3), sigma0)
    s_b, _ = probe((2 / 3, 1 / 3), sigma0)
    frac = (1 / 3, 2 / 3) if s_a > s_b else (2 / 3, 1 / 3)
    sigma, s2 = width(frac, 0.15)
    if not 0.02 < s2 < 1.0 or max(s_a, s_b) <= 0:
        # the Fourier-phase origin assumed a faint chalcogen sublattice (S2/W 0.15); where the two
        # sublattices read alike (thick, contaminated, low-angle detector) it can land between the
        # columns: order the three honeycomb sites by the image itself and start from that contrast
        frac, ratio = _sublattices_by_intensity(img, A, ps)
        sigma, s2 = width(frac, ratio)
    for _ in range(2):  # the origin's phase correction assumed the ratio: refit with the one measured
        if not 0.02 < s2 < 1.0 or abs(s2 - lat_ratio_used[-1]) < 0.05:
            break
        lat_ratio_used.append(s2)
        sigma, s2 = width(frac, s2)
    if not 0.02 < s2 < 1.0:
        raise ValueError(f"S2/W ratio {s2:.3f} is not that of a transition-metal dichalcogenide: "
                         "check the pixel size and the lattice constant")
    return ColumnLattice(tuple(map(tuple, A)), frac, float(sigma), ps, float(s2))


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


def site_keys(sites_rc: np.ndarray, kinds, frames, shifts, origin0: np.ndarray,
              lattice: ColumnLattice) -> np.ndarray:
    """A label per measured site that is the same in every frame for the same lattice site:
    the site moved back by the frame's drift (``shifts``, :func:`helpers.movie_analysis.frame_shifts`)
    onto frame 0, whose metal site ``origin0`` anchors the integer lattice indices. Edge sites: ""."""
    p = np.asarray(sites_rc, float).reshape(-1, 2) - np.asarray(shifts, float)[np.asarray(frames, int)]
    f = np.linalg.solve(lattice.vectors.T, (p - np.asarray(origin0, float)).T).T
    kinds = np.asarray(kinds, object)
    f = np.where((kinds == CHALCOGEN)[:, None], f - np.asarray(lattice.chalcogen_frac, float), f)
    ij = np.round(f).astype(int)
    keys = np.array([f"{k}:{i}:{j}" for k, (i, j) in zip(kinds, ij)], object)
    keys[~np.isin(kinds, [METAL, CHALCOGEN])] = ""
    return keys


def average_over_site(keys, frames, values, half_window: int) -> np.ndarray:
    """Mean of ``values`` over the detections at the same site (``keys``) within ±``half_window``
    frames: a defect that stays on its site keeps its content for tens of frames, so its column
    ratio can be read from more dose than one summed frame holds. Empty keys are left as they are."""
    keys = np.asarray(keys, object)
    frames = np.asarray(frames, int)
    v = np.asarray(values, float)
    out = v.copy()
    if half_window <= 0:
        return out
    for key in pd.unique(keys):
        if key == "":
            continue
        idx = np.flatnonzero(keys == key)
        if len(idx) < 2:
            continue
        f, x = frames[idx], v[idx]
        near = np.abs(f[:, None] - f[None, :]) <= half_window
        ok = np.isfinite(x)
        cnt = (near & ok[None]).sum(1)
        out[idx] = np.where(cnt > 0, (near * np.where(ok, x, 0.0)[None]).sum(1) / np.maximum(cnt, 1), np.nan)
    return out


PRISTINE_CONTENT_OF = {METAL: PRISTINE_W, CHALCOGEN: PRISTINE_S2}


def classify_ratios(ratios: pd.DataFrame, s2_ratio: float, iterations: int = 100,
                    min_sigma: float = 0.01, gain_range: tuple = (0.8, 1.25)) -> pd.DataFrame:
    """Class and probability of each measured site from its column ratio (:func:`column_ratios`).

    The ratios of each sublattice are a mixture with one Gaussian per possible content c
    (:func:`expected_contents`) at ``c_p + gain · (c − c_p)``, c_p the site's pristine content
    (W 1, S2 ``s2_ratio``), plus a flat component for outliers (a hop or class change inside the
    summed frames). The gain is shared by both sublattices: the fitted amplitude of a column whose
    content changed also takes up part of the change in the probe's tail, by the same factor
    everywhere (measured ≈ 1.06). Gain, each sublattice's width and weights are fitted by EM to
    these detections; the pristine reference pins the scale, so the fit cannot slide one class onto
    its neighbour. Returns ``column_class`` (most probable content, out-of-library ones included),
    ``column_probability``, and the fitted ``offset`` (c_p · (1 − gain)), ``gain``, ``sigma``.
    Sites at the edge get NaN. With fewer than 20 measured sites the gain stays 1.
    """
    exp = expected_contents(s2_ratio)
    out = pd.DataFrame({"column_class": pd.Series([None] * len(ratios), dtype=object),
                        "column_probability": np.nan, "offset": np.nan, "gain": np.nan,
                        "sigma": np.nan}, index=ratios.index)
    groups = {}
    for kind, contents in exp.items():
        sel = (ratios["site"] == kind) & np.isfinite(ratios["ratio"])
        if sel.any():
            names = list(contents)
            cp = contents[PRISTINE_CONTENT_OF[kind]]
            x = ratios.loc[sel, "ratio"].to_numpy(float)
            groups[kind] = dict(sel=sel, names=names, cp=cp, x=x,
                                dc=np.array([contents[k] for k in names]) - cp, sigma=0.04,
                                pi=np.full(len(names) + 1, 1.0 / (len(names) + 1)),
                                span=max(float(x.max() - x.min()), 1.0))
    n_all = sum(len(g["x"]) for g in groups.values())
    fit = n_all >= 20
    gain = 1.0
    for _ in range(iterations if fit else 1):
        num = den = 0.0
        for g in groups.values():
            mu = g["cp"] + gain * g["dc"]
            like = np.exp(-0.5 * ((g["x"][:, None] - mu[None]) / g["sigma"]) ** 2) / (np.sqrt(2 * np.pi) * g["sigma"])
            like = np.concatenate([like, np.full((len(g["x"]), 1), 1.0 / g["span"])], 1) * g["pi"]
            g["r"] = like / np.maximum(like.sum(1, keepdims=True), 1e-300)
            rc = g["r"][:, :-1]
            num += (rc * (g["x"][:, None] - g["cp"]) * g["dc"][None]).sum() / g["sigma"] ** 2
            den += (rc * g["dc"][None] ** 2).sum() / g["sigma"] ** 2
        if not fit:
            break
        gain = float(np.clip(num / den, *gain_range)) if den > 0 else 1.0
        for g in groups.values():
            rc = g["r"][:, :-1]
            g["pi"] = np.maximum(g["r"].mean(0), 1e-4)
            g["pi"] /= g["pi"].sum()
            res = (g["x"][:, None] - g["cp"] - gain * g["dc"][None]) ** 2
            g["sigma"] = float(max(np.sqrt((rc * res).sum() / max(rc.sum(), 1e-9)), min_sigma))
    for kind, g in groups.items():
        post = g["r"][:, :-1] / np.maximum(g["r"][:, :-1].sum(1, keepdims=True), 1e-300)
        best = post.argmax(1)
        out.loc[g["sel"], "column_class"] = np.array(g["names"], object)[best]
        out.loc[g["sel"], "column_probability"] = post[np.arange(len(best)), best]
        out.loc[g["sel"], ["offset", "gain", "sigma"]] = (g["cp"] * (1 - gain), gain, g["sigma"])
    return out
