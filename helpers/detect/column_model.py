"""The column model: the lattice record and the least-squares patch fit of column amplitudes (px, Å)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from helpers.core.chemistry import CHALCOGEN, METAL, Z


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
    def first_order(self) -> np.ndarray:
        """The three first-order reciprocal vectors (3, 2) cycles/px, one of each ± pair: b1, b2
        and the one of b1 ± b2 as long as they are. Any mirror or rotation of the lattice maps the
        set onto itself, whichever pair the basis holds."""
        b1, b2 = self.reciprocal
        return np.array([b1, b2, b1 - b2 if np.linalg.norm(b1 - b2) < np.linalg.norm(b1 + b2) else b1 + b2])

    @property
    def haadf_exponent(self) -> float:
        """n in Z^n from the measured S2/W ratio (2 · (16/74)^n)."""
        return haadf_exponent(self.s2_ratio)


def haadf_exponent(s2_ratio: float) -> float:
    """The HAADF exponent n for which an S2 column reads ``s2_ratio`` of a W column.

    Parameters
    ----------
    s2_ratio : float
        Pristine S2 / W column reading.

    Returns
    -------
    float
    """
    if not 0 < s2_ratio < 2:
        raise ValueError(f"S2/W ratio must be in (0, 2), got {s2_ratio}")
    return float(np.log(s2_ratio / 2) / np.log(Z["S"] / Z["W"]))


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
