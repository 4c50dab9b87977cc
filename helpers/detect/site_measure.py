"""Reading the column amplitudes of every lattice site of a frame (least squares on the fitted lattice)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from helpers.core.chemistry import CHALCOGEN, METAL
from helpers.detect.column_model import ColumnLattice, _patch_model
from helpers.detect.lattice import _phases, lattice_origin, reflection_weights, weighted_solve


def enumerate_sites(shape, origin_rc, lattice: ColumnLattice, margin_px: float):
    """All metal and chalcogen sites at least ``margin_px`` inside a frame of ``shape``.

    Returns (kinds (n,) object, positions (n, 2) row/col px, indices (n, 2) int: the lattice
    coordinates (i, j) of the site relative to the metal site at ``origin_rc``).

    Parameters
    ----------
    shape : (int, int)
    origin_rc : ndarray (2,)
        A metal site (px).
    lattice : ColumnLattice
    margin_px : float
    """
    h, w = shape
    A = lattice.vectors
    o = np.asarray(origin_rc, float)
    corners = np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]], float) - o
    f = np.linalg.solve(A.T, corners.T).T
    lo, hi = np.floor(f.min(0)) - 2, np.ceil(f.max(0)) + 2
    i, j = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
    ij = np.stack([i.ravel(), j.ravel()], 1)
    kinds, pos, idx = [], [], []
    for kind, off in ((METAL, np.zeros(2)), (CHALCOGEN, np.asarray(lattice.chalcogen_frac, float))):
        p = o + (ij + off) @ A
        keep = ((p[:, 0] >= margin_px) & (p[:, 0] <= h - 1 - margin_px)
                & (p[:, 1] >= margin_px) & (p[:, 1] <= w - 1 - margin_px))
        kinds += [kind] * int(keep.sum())
        pos.append(p[keep])
        idx.append(ij[keep])
    return np.array(kinds, object), np.concatenate(pos), np.concatenate(idx).astype(int)


@lru_cache(maxsize=16)
def _site_filters(vectors_px: tuple, chalcogen_frac: tuple, sigma_px: float, pixel_size_A: float,
                  radius_A: float, bins: int, halo_sigma_px: float, with_hollow: bool = False):
    """Per site kind and sub-pixel bin: the least-squares filter of the site's column amplitude and
    the disc of pixels it uses; and the patch half-size R (px).

    The patch model: a Gaussian of width ``sigma_px`` on every lattice site within reach, a plane,
    and (``halo_sigma_px`` > 0) a broad Gaussian centred on the site. A real probe has a weak broad
    tail; when a column's content changes, so does its halo, which a model of Gaussian cores alone
    pushes into the core's amplitude (a vacancy then reads below zero, a heavier column above its
    content: a gain of ~1.05 on the standard movie). The halo term takes that change itself, so the
    core amplitude reads the content. ``with_hollow``: a Gaussian on every hollow site too (a site
    beside an adatom, :mod:`helpers.detect.adatoms`).
    """
    A, cf = np.asarray(vectors_px, float), np.asarray(chalcogen_frac, float)
    out, R = {}, 0
    for kind in (METAL, CHALCOGEN):
        for by in range(bins):
            for bx in range(bins):
                q = (np.array([by, bx]) + 0.5) / bins
                yy, xx, disc, sites, names, dist, R = _patch_model(A, cf, sigma_px, pixel_size_A, radius_A,
                                                                   kind, q, with_hollow)
                y, x = yy[disc], xx[disc]
                g = np.exp(-((y[:, None] - sites[None, :, 0]) ** 2 + (x[:, None] - sites[None, :, 1]) ** 2)
                           / (2 * sigma_px ** 2))
                cols = [g, np.ones((len(y), 1)), y[:, None], x[:, None]]
                if halo_sigma_px > 0:
                    cols.append(np.exp(-((y - q[0]) ** 2 + (x - q[1]) ** 2) / (2 * halo_sigma_px ** 2))[:, None])
                M = np.concatenate(cols, 1)
                gram = M.T @ M
                gram[np.diag_indices_from(gram)] += 1e-9 * np.trace(gram) / len(gram)
                centre = int(np.argmin(dist))
                row = np.linalg.solve(gram, np.eye(len(gram))[centre]) @ M.T
                out[(kind, by, bx)] = (row, disc)
    return out, R


def measure_amplitudes(image, kinds, positions, lattice: ColumnLattice, radius_A: float = 5.0,
                       bins: int = 4, halo_A: float = 0.0) -> np.ndarray:
    """Least-squares column amplitude (image units) of each site, all sites of one kind and sub-pixel
    bin at once (:func:`_site_filters`; ``halo_A``: width σ of the site's halo term, 0 for none).
    Every site's fitting disc must lie inside the image (see :func:`enumerate_sites`).

    Parameters
    ----------
    image : ndarray (H, W)
    kinds : ndarray (n,)
    positions : ndarray (n, 2)
        Sites (px).
    lattice : ColumnLattice
    radius_A : float
        Fitting disc radius (Å).
    bins : int
        Sub-pixel bins.
    halo_A : float

    Returns
    -------
    ndarray (n,)
    """
    return measure_amplitude_sets(image, kinds, positions, lattice, radius_A, bins, (halo_A,))[:, 0]


def measure_amplitude_sets(image, kinds, positions, lattice: ColumnLattice, radius_A: float = 5.0,
                           bins: int = 4, halos_A: tuple = (0.0,), with_hollow: bool = False) -> np.ndarray:
    """:func:`measure_amplitudes` for several halo widths at once, (n, len(``halos_A``)): each site's
    pixels are gathered once and every model's filter applied to them.

    Parameters
    ----------
    image, kinds, positions, lattice, radius_A, bins
        As :func:`measure_amplitudes`.
    halos_A : tuple of float
    with_hollow : bool
        A Gaussian on every hollow site in the model too (:func:`_site_filters`).

    Returns
    -------
    ndarray (n, len(halos_A))
    """
    img = np.asarray(image, np.float32)
    ps = float(lattice.pixel_size_A)
    filters = [_site_filters(tuple(map(tuple, lattice.vectors)), tuple(lattice.chalcogen_frac),
                             float(lattice.sigma_px), ps, float(radius_A), bins, float(h) / ps, bool(with_hollow))
               for h in halos_A]
    R = filters[0][1]
    p = np.asarray(positions, float).reshape(-1, 2)
    kinds = np.asarray(kinds, object)
    anchor = np.floor(p).astype(int)
    if len(p) and (anchor.min() - R < 0 or anchor[:, 0].max() + R + 1 >= img.shape[0]
                   or anchor[:, 1].max() + R + 1 >= img.shape[1]):
        raise ValueError("a site's fitting disc leaves the image: read it with a larger margin")
    b = np.minimum(((p - anchor) * bins).astype(int), bins - 1)
    yy, xx = np.mgrid[-R:R + 2, -R:R + 2]
    out = np.full((len(p), len(halos_A)), np.nan)
    for kind in (METAL, CHALCOGEN):
        for by in range(bins):
            for bx in range(bins):
                sel = np.flatnonzero((kinds == kind) & (b[:, 0] == by) & (b[:, 1] == bx))
                if not len(sel):
                    continue
                disc = filters[0][0][(kind, by, bx)][1]
                rows = np.stack([f[(kind, by, bx)][0] for f, _ in filters], 1).astype(np.float32)
                dy, dx = yy[disc], xx[disc]
                for s in range(0, len(sel), 4096):  # bounded memory: 4,096 patches at a time
                    part = sel[s:s + 4096]
                    patches = img[anchor[part, 0, None] + dy[None], anchor[part, 1, None] + dx[None]]
                    out[part] = patches @ rows
    return out


def metal_reference(positions, kinds, amplitudes, k: int = 12) -> np.ndarray:
    """Per site: the median amplitude of its ``k`` nearest metal sites (itself excluded) — the local
    pristine metal column, robust to a defect or two among them and to slow intensity changes.

    Parameters
    ----------
    positions : ndarray (n, 2)
    kinds : ndarray (n,)
    amplitudes : ndarray (n,)
    k : int

    Returns
    -------
    ndarray (n,)
    """
    return sublattice_reference(positions, kinds, amplitudes, METAL, k)


def sublattice_reference(positions, kinds, amplitudes, kind: str = METAL, k: int = 12) -> np.ndarray:
    """Per site: the median amplitude of its ``k`` nearest sites of sublattice ``kind`` (itself
    excluded); :func:`metal_reference` is the metal's, an alloy's metal columns are read against
    the chalcogen's (:mod:`helpers.detect.site_alloy`).

    Parameters
    ----------
    positions : ndarray (n, 2)
    kinds : ndarray (n,)
    amplitudes : ndarray (n,)
    kind : str
        ``metal`` or ``chalcogen``.
    k : int

    Returns
    -------
    ndarray (n,)
    """
    from scipy.spatial import cKDTree

    p = np.asarray(positions, float)
    ref = np.flatnonzero(np.asarray(kinds, object) == kind)
    if len(ref) < 3:
        return np.full(len(p), np.nanmedian(amplitudes[ref]) if len(ref) else np.nan)
    kk = min(k + 1, len(ref))
    _, nn = cKDTree(p[ref]).query(p, k=kk)
    a = np.asarray(amplitudes, float)[ref][nn]  # (n, kk)
    own = ref[nn] == np.arange(len(p))[:, None]
    a = np.where(own, np.nan, a)
    return np.nanmedian(a, axis=1)


def central_crop(image, size: int) -> np.ndarray:
    """The central ``size`` × ``size`` px of an image (all of it where it is smaller).

    Parameters
    ----------
    image : ndarray (H, W)
    size : int

    Returns
    -------
    ndarray
    """
    h, w = image.shape
    r0, c0 = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return image[r0:r0 + min(size, h), c0:c0 + min(size, w)]


def local_displacements(image, lattice: ColumnLattice, origin_rc, sigma_px: float, positions) -> np.ndarray:
    """The lattice's local displacement (n, 2) px from its fitted position at each of ``positions``:
    geometric phase analysis (Hÿtch et al., Ultramicroscopy 74, 131 (1998)) on the three first-order
    reflections, weighted by their squared amplitudes (:func:`helpers.detect.lattice.reflection_weights`;
    until 5 December 2026 the two of the lattice basis: a mirrored image, whose basis holds another
    pair, placed its sites 0.03–0.05 Å differently).

    For each reciprocal vector g the image is demodulated at g and smoothed with a Gaussian of
    ``sigma_px`` (about a unit cell and a half); its phase at a site, less the phase of the whole
    image at g as :func:`helpers.detect.lattice.lattice_origin` measures it (Hann-windowed), is
    −2π g·u. Scan distortion, strain and drift during the scan move the columns by u; a global
    lattice cannot follow them, a local phase does (unambiguous for |g·u| < ½, up to about a third
    of the lattice constant). ``origin_rc`` (the origin measured on the same image, or on the frame
    this image is the registered sum around) plus u is then the local phase: a crop of an image
    places its sites where the whole image does (``docs/site_reading.md``, "Where the sites are
    placed").

    Done in Fourier space: one FFT of the frame zero-padded by 3σ (nothing outside the frame enters
    a site's average); for each g the spectrum near g, times the Gaussian's transfer function (cut
    where it falls below 10⁻⁴), centred and inverse-transformed onto a coarse grid (4× finer than
    the smoothed field needs), interpolated at the sites (cubic splines) and the carrier's small
    remainder restored exactly. Memory: one padded complex image; time: one FFT per frame.

    Parameters
    ----------
    image : ndarray (H, W)
    lattice : ColumnLattice
    origin_rc : ndarray (2,)
        A metal site (px).
    sigma_px : float
        Smoothing of the phase fields (px).
    positions : ndarray (n, 2)
        Where to read the displacement (px).

    Returns
    -------
    ndarray (n, 2)
    """
    from scipy import fft as sfft
    from scipy import ndimage

    img = np.asarray(image, np.float32)
    h, w = img.shape
    pad = int(np.ceil(3 * sigma_px))
    H, W = sfft.next_fast_len(h + 2 * pad), sfft.next_fast_len(w + 2 * pad)
    big = np.zeros((H, W), np.float32)
    big[pad:pad + h, pad:pad + w] = img - np.float32(img.mean(dtype=np.float64))
    F = sfft.fft2(big)
    pos = np.asarray(positions, float).reshape(-1, 2) + pad
    B = lattice.first_order  # rows b1, b2, and the third at 60° to both (cycles/px)
    whole, amp = _phases(img - np.float32(img.mean(dtype=np.float64)), B, amplitudes=True)  # cycles
    cut = np.sqrt(np.log(1e4) / 2) / (np.pi * sigma_px)  # cycles/px where the transfer falls to 10⁻⁴
    dphi = np.empty((len(pos), len(B)))
    for k, g in enumerate(B):
        field = np.ones(len(pos), complex)
        axes = []
        for ax, (n_ax, g_ax) in enumerate(((H, g[0]), (W, g[1]))):
            centre = int(np.round(g_ax * n_ax))
            m = np.arange(int(np.floor((g_ax - cut) * n_ax)), int(np.ceil((g_ax + cut) * n_ax)) + 1) - centre
            f = (m + centre) / n_ax - g_ax  # frequency of each kept bin after demodulation at g
            M = sfft.next_fast_len(4 * len(m))
            axes.append((m, centre, M, np.exp(-2 * np.pi ** 2 * sigma_px ** 2 * f ** 2)))
            # the carrier's remainder (centre/N − g): exact, applied at the sites
            field *= np.exp(2j * np.pi * (centre / n_ax - g_ax) * pos[:, ax])
        (mr, cr, Mr, gr), (mc, cc, Mc, gc) = axes
        grid = np.zeros((Mr, Mc), complex)
        grid[np.ix_(mr % Mr, mc % Mc)] = F[np.ix_((mr + cr) % H, (mc + cc) % W)] * gr[:, None] * gc[None, :]
        P = sfft.ifft2(grid)  # the centred, smoothed field on an Mr × Mc grid over the padded frame
        q = [pos[:, 0] * Mr / H, pos[:, 1] * Mc / W]
        field *= (ndimage.map_coordinates(P.real, q, order=3, mode="grid-wrap")
                  + 1j * ndimage.map_coordinates(P.imag, q, order=3, mode="grid-wrap"))
        # the whole frame's phase at g as the origin measures it (Hann-windowed), moved to the
        # padded frame's coordinates
        ref = np.exp(2j * np.pi * (whole[k] - g @ (pad, pad)))
        dphi[:, k] = np.angle(field * np.conj(ref))
    # −2π B u = dphi  →  u = −B⁺ dphi / 2π (weighted least squares over the three)
    return -weighted_solve(B, dphi, reflection_weights(amp)) / (2 * np.pi)


def frame_origins(frames, lattice: ColumnLattice, shifts) -> np.ndarray:
    """Per frame, the metal site that is the same lattice site as frame 0's origin (row, col px):
    the Fourier phases place the lattice in each frame, the drift picks the translate — the one
    nearest the previous frame's origin moved by the drift's step (so the measured steps' noise does
    not add up over a long movie, as it would from frame 0: at 10³ e/Å² per frame the summed drift
    strays 4 px in 30 frames).

    Parameters
    ----------
    frames : ndarray (n, H, W)
        The movie in counts.
    lattice : ColumnLattice
    shifts : ndarray (n, 2)
        Drift (px).

    Returns
    -------
    ndarray (n, 2)
    """
    A = lattice.vectors
    sh = np.asarray(shifts, float)
    out = np.empty((len(frames), 2))
    out[0] = lattice_origin(np.asarray(frames[0], np.float64), lattice)
    for t in range(1, len(frames)):
        o = lattice_origin(np.asarray(frames[t], np.float64), lattice)
        f = np.linalg.solve(A.T, o - (out[t - 1] + sh[t] - sh[t - 1]))
        out[t] = o - np.round(f) @ A
    return out


class _RecentFrames:
    """A lazy stack (one read from its file frame by frame) with the last ``keep`` frames it gave
    held in memory: the reading visits each frame a few times in a row (drift, lattice origin,
    registered sums), the file is read about once."""

    def __init__(self, stack, keep: int):
        self._stack, self._keep, self._held = stack, max(int(keep), 1), {}
        self.shape, self.ndim = tuple(stack.shape), 3

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t):
        t = int(t) % len(self)
        if t not in self._held:
            if len(self._held) >= self._keep:
                self._held.pop(next(iter(self._held)))
            self._held[t] = np.asarray(self._stack[t], np.float32)
        return self._held[t]


#: physical range of a column's fitted Gaussian width σ (Å): probe (0.6–2 Å FWHM at 60–300 kV),
#: thermal motion and scan noise; outside it the fit has latched onto something else
COLUMN_SIGMA_RANGE_A = (0.25, 1.2)


def plausible_width(lattice: ColumnLattice) -> tuple[ColumnLattice, str | None]:
    """The lattice with its column width brought into :data:`COLUMN_SIGMA_RANGE_A` (the nearest
    bound), and a warning when that was needed.

    Parameters
    ----------
    lattice : ColumnLattice

    Returns
    -------
    (ColumnLattice, str or None)
    """
    from dataclasses import replace

    ps = lattice.pixel_size_A
    sigma_A = lattice.sigma_px * ps
    lo, hi = COLUMN_SIGMA_RANGE_A
    if lo <= sigma_A <= hi:
        return lattice, None
    used = float(np.clip(sigma_A, lo, hi))
    return replace(lattice, sigma_px=used / ps), (
        f"the fitted column width σ = {sigma_A:.2f} Å is outside the physical {lo}–{hi} Å: {used:.2f} Å is used "
        "(check the pixel size; a blurred or drifted scan can cause this)")


def local_noise_scale(positions_px, kinds, deviations, use, radius_px: float, prior_sites: float = 30.0,
                      clip: float = 3.5) -> np.ndarray:
    """Each site's reading noise relative to its sublattice's in the whole frame, measured on the
    sites around it: a real image is not equally noisy everywhere (contamination, thickness, scan
    noise; across five real frames the noise of 20 Å discs ranged 0.7–1.5 times the frame's).

    Per sublattice the noise is the normalised MAD of ``deviations`` (a reading minus its pristine
    level) of the ``use`` sites within ``radius_px``, its variance pooled with the frame's as if
    the frame's were ``prior_sites`` more sites (a disc of ~100 sites measures its noise to ±8 %).
    Deviations beyond ``clip`` times the frame's noise (clear defects) are left out of both.

    Parameters
    ----------
    positions_px : ndarray (n, 2)
        Site positions (row, col px) of one frame.
    kinds : ndarray (n,)
        Sublattice of each site.
    deviations : ndarray (n,)
        Reading minus the pristine level of its sublattice.
    use : ndarray (n,) of bool
        Sites the noise is measured on (read lattice, not masked).
    radius_px : float
        Radius of the disc (px, > 0).
    prior_sites : float
        Weight of the frame's noise, in sites (≥ 0).
    clip : float
        Deviations beyond this many noise widths of the frame are not measured on.

    Returns
    -------
    ndarray (n,)
        Local noise over the frame's noise of the site's sublattice (1 where nothing is measured).
    """
    from scipy.spatial import cKDTree

    pos = np.asarray(positions_px, float).reshape(-1, 2)
    dev = np.abs(np.asarray(deviations, float))
    use = np.asarray(use, bool) & np.isfinite(dev)
    kinds = np.asarray(kinds, object)
    if not radius_px > 0 or prior_sites < 0:
        raise ValueError(f"radius_px must be > 0 and prior_sites >= 0, got {radius_px!r}, {prior_sites!r}")
    out = np.ones(len(pos))
    for kind in np.unique(kinds):
        k = kinds == kind
        src = np.flatnonzero(k & use)
        if len(src) < 10:
            continue
        frame_sd = 1.4826 * float(np.median(dev[src]))
        if not frame_sd > 0:
            continue
        # clear defects out: a cluster of them would raise its disc's noise and hide its neighbours
        src = src[dev[src] <= clip * frame_sd]
        frame_sd = 1.4826 * float(np.median(dev[src]))
        tree = cKDTree(pos[src])
        for i, nb in zip(np.flatnonzero(k), tree.query_ball_point(pos[k], radius_px)):
            n = len(nb)
            loc = 1.4826 * float(np.median(dev[src[nb]])) if n else frame_sd
            out[i] = np.sqrt((n * loc ** 2 + prior_sites * frame_sd ** 2) / (n + prior_sites)) / frame_sd
    return out
