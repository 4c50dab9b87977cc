"""Every lattice site read: column contents of both sublattices through time, and the defects.

The detector of DefectFinder's default path (``docs/site_reading.md``). Instead of asking a network
where the defects are, every metal and chalcogen site of the lattice is measured in every frame,
and a site is a defect where its column content differs from the pristine content of its
sublattice by more than the noise allows:

1. The lattice (vectors, which honeycomb site holds the chalcogen columns, column width) is fitted
   on the data (:func:`helpers.columns.fit_column_lattice`, on the central part of the registered
   sum of the first frames); it is placed in every frame by its Fourier phases, the drift from
   phase correlation choosing the translate so that a site keeps its indices (i, j) in every frame,
   and each site follows the local lattice phase (scan distortion, strain:
   :func:`local_displacements`).
2. Every site whose fitting disc (and classifier window: 9.6 Å) lies inside the frame is read by
   linear least squares — Gaussians of the fitted width on all lattice sites within ``radius_A``
   plus a plane (:func:`_site_filters`) — twice: cores only, and with a halo term that takes the
   probe tail's share of a content change; the second calibrates the gain of the first
   (:func:`calibrate_gain`). The amplitude over the median of the nearest metal columns is the
   content in metal units; the share a neighbour's change leaves in it is removed
   (:func:`_remove_crosstalk`).
3. The pristine level and the noise of one reading of each sublattice are measured on each
   frame's own sites (median, normalised MAD; the noise grows with the content, as shot noise does).
4. Each site's readings through the movie go into a hidden Markov model of its content
   (:func:`site_posteriors`): pristine, or a defect content of its sublattice — metal site empty
   (``Vw``), one chalcogen (``Sw``), a lighter metal (``Mo``); chalcogen site empty (``Vs2``), one
   atom (``Vs``), a metal (``W2s2``), metal + chalcogen (``Ws``). A site is a defect in a frame
   where its pristine content is the less probable one. One image: the same with one frame.

Positions are (row, col) px with pixel centres at integer coordinates; lengths in Å.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from functools import lru_cache

from .areas import LATTICE, AREA_NAMES, AreaMap, AreaParams, find_areas
from .chemistry import Chemistry, chemistry_of, plausible_exponent
from .columns import CHALCOGEN, METAL, ColumnLattice, _patch_model, fit_column_lattice, lattice_origin
from .validation import check_image, check_pixel_size
from .windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX

#: the chemistry read unless another is given: WS2 with Mo as its substituent (the poster's classes)
WS2 = chemistry_of("WS2")
#: the single chalcogen vacancy (one atom of a chalcogen column missing)
VS = "Vs"
PRISTINE = {METAL: WS2.pristine(METAL), CHALCOGEN: WS2.pristine(CHALCOGEN)}
#: class names of a WS2 reading (the poster's names; the single S vacancy as ``Vs``)
CONTENT_CLASSES = {k: tuple(WS2.site_contents()[k])[1:] for k in (METAL, CHALCOGEN)}
DEFECT_CLASSES = WS2.defect_classes()
UNKNOWN = "unknown"
#: default margin (Å) from the frame edge inside which no site is read: the classifier window's half
EDGE_MARGIN_A = WINDOW_PX * LIBRARY_PIXEL_SIZE_A / 2
SITE_COLUMNS = ["frame", "kind", "i", "j", "row", "col", "x_A", "y_A", "amplitude", "ratio", "content",
                "z", "significant", "class", "probability", "area"]
#: class of a site in an area the lattice does not describe (:mod:`helpers.areas`): read, not decoded
MASKED = "masked"


def enumerate_sites(shape, origin_rc, lattice: ColumnLattice, margin_px: float):
    """All metal and chalcogen sites at least ``margin_px`` inside a frame of ``shape``.

    Returns (kinds (n,) object, positions (n, 2) row/col px, indices (n, 2) int: the lattice
    coordinates (i, j) of the site relative to the metal site at ``origin_rc``).
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
                  radius_A: float, bins: int, halo_sigma_px: float):
    """Per site kind and sub-pixel bin: the least-squares filter of the site's column amplitude and
    the disc of pixels it uses; and the patch half-size R (px).

    The patch model: a Gaussian of width ``sigma_px`` on every lattice site within reach, a plane,
    and (``halo_sigma_px`` > 0) a broad Gaussian centred on the site. A real probe has a weak broad
    tail; when a column's content changes, so does its halo, which a model of Gaussian cores alone
    pushes into the core's amplitude (a vacancy then reads below zero, a heavier column above its
    content: a gain of ~1.05 on the standard movie). The halo term takes that change itself, so the
    core amplitude reads the content.
    """
    A, cf = np.asarray(vectors_px, float), np.asarray(chalcogen_frac, float)
    out, R = {}, 0
    for kind in (METAL, CHALCOGEN):
        for by in range(bins):
            for bx in range(bins):
                q = (np.array([by, bx]) + 0.5) / bins
                yy, xx, disc, sites, names, dist, R = _patch_model(A, cf, sigma_px, pixel_size_A, radius_A,
                                                                   kind, q, False)
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
    Every site's fitting disc must lie inside the image (see :func:`enumerate_sites`)."""
    return measure_amplitude_sets(image, kinds, positions, lattice, radius_A, bins, (halo_A,))[:, 0]


def measure_amplitude_sets(image, kinds, positions, lattice: ColumnLattice, radius_A: float = 5.0,
                           bins: int = 4, halos_A: tuple = (0.0,)) -> np.ndarray:
    """:func:`measure_amplitudes` for several halo widths at once, (n, len(``halos_A``)): each site's
    pixels are gathered once and every model's filter applied to them."""
    img = np.asarray(image, np.float32)
    ps = float(lattice.pixel_size_A)
    filters = [_site_filters(tuple(map(tuple, lattice.vectors)), tuple(lattice.chalcogen_frac),
                             float(lattice.sigma_px), ps, float(radius_A), bins, float(h) / ps)
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
    pristine metal column, robust to a defect or two among them and to slow intensity changes."""
    from scipy.spatial import cKDTree

    p = np.asarray(positions, float)
    metal = np.flatnonzero(np.asarray(kinds, object) == METAL)
    if len(metal) < 3:
        return np.full(len(p), np.nanmedian(amplitudes[metal]) if len(metal) else np.nan)
    kk = min(k + 1, len(metal))
    _, nn = cKDTree(p[metal]).query(p, k=kk)
    a = np.asarray(amplitudes, float)[metal][nn]  # (n, kk)
    own = metal[nn] == np.arange(len(p))[:, None]
    a = np.where(own, np.nan, a)
    return np.nanmedian(a, axis=1)


def class_contents(metal_ratio: float, chalcogen_ratio: float, chemistry: Chemistry = WS2,
                   exponent: float | None = None) -> dict:
    """Expected reading (in pristine-metal units) of every content on each sublattice, pristine
    first, from the measured pristine levels (:meth:`helpers.chemistry.Chemistry.contents`; the
    HAADF exponent from their ratio unless given)."""
    n = chemistry.exponent_from_ratio(chalcogen_ratio / metal_ratio) if exponent is None else exponent
    return chemistry.contents(metal_ratio, chalcogen_ratio, n)


#: per frame and site: a defect appears on a pristine site (born or hopped in), leaves (healed or
#: hopped out), changes into another defect content — the prior of the site model, chosen once
#: as orders of magnitude of what beam-driven defects do, not fitted to any movie
APPEAR_PER_FRAME, LEAVE_PER_FRAME, CHANGE_PER_FRAME = 1e-3, 0.02, 0.01
#: prior probability that a site holds a defect in the first frame (or in a single image)
PRIOR_DEFECT = 0.01
#: a site is reported as a defect when the posterior probability of its pristine content is below
#: this
PRISTINE_BELOW = 0.5


@dataclass
class SiteParams:
    """Settings of the site reading (lengths in Å)."""

    radius_A: float = 5.0  # fitting disc of each site
    edge_margin_A: float = EDGE_MARGIN_A
    sum_half_window: int = 2  # movies: each frame read on its registered sum with ±this many
    reference_neighbours: int = 12
    bins: int = 4
    #: follow scan distortion and strain: place each site by the local lattice phase
    #: (:func:`local_displacements`), smoothed over ``distortion_sigma_A``
    follow_distortion: bool = True
    distortion_sigma_A: float = 5.0
    #: a site is reported as a defect when the posterior probability of its pristine content is
    #: below this
    pristine_below: float = PRISTINE_BELOW
    #: width σ (Å) of the halo term of the calibration reading (:func:`_site_filters`): each site is
    #: read twice, with Gaussian cores only (least noise, what is decoded) and with a halo term
    #: (unbiased content); the second calibrates the gain of the first
    halo_A: float = 2.0
    #: find the areas the lattice does not describe (holes, contamination, thicker layers, other
    #: grains: :func:`helpers.areas.find_areas`) and never report their sites as defects
    mask_areas: bool = True
    areas: AreaParams = field(default_factory=AreaParams)
    #: movies: the areas are found on the registered sum of every this many-th frame
    areas_every: int = 50

    def margin_px(self, pixel_size_A: float) -> float:
        """Distance (px) from the frame edge inside which no site is read."""
        return max(self.edge_margin_A, self.radius_A) / pixel_size_A + 2


def defects_of(sites: pd.DataFrame) -> pd.DataFrame:
    """The defects of a classified site table: the significant sites (their content is not the
    pristine one)."""
    return sites[sites["significant"]]


# ------------------------------------------------------------------------------------------------
# movies and single images: every site's content through time


def _log_gauss(x, mu, sd):
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd)


def transition_matrix(K: int, appear: float, leave: float, change: float, pristine: int = 0) -> np.ndarray:
    """Per-frame content changes of one site (K contents, ``pristine`` the pristine one): a defect
    appears on a pristine site with probability ``appear`` (born, or hopped in), leaves it with
    ``leave`` (healed, or hopped out), turns into another defect content with ``change``; each
    shared evenly among the contents it can go to."""
    T = np.full((K, K), change / max(K - 2, 1))
    T[pristine] = appear / (K - 1)
    T[:, pristine] = leave
    T[pristine, pristine] = 1 - appear
    for k in range(K):
        if k != pristine:
            T[k, k] = 1 - leave - change * (K - 2) / max(K - 2, 1)
    return T


def site_posteriors(obs: np.ndarray, means: np.ndarray, sd, transitions: np.ndarray, prior_defect: float,
                    pristine: int = 0, appear=None) -> np.ndarray:
    """Posterior probability of each content state of each site in each frame (hidden Markov model).

    ``obs`` (n_sites, n_frames): the site's reading per frame (NaN where it was not read);
    ``means`` (K,): the reading each content gives; ``sd``: the reading noise of one frame (one
    value, or one per content: shot noise grows with the content). A site
    changes its content from one frame to the next as ``transitions`` (K × K, rows from; see
    :func:`transition_matrix`); the first
    frame is pristine with probability 1 − ``prior_defect``. ``appear`` (n_sites, n_frames),
    optional: per site and frame, the probability that a defect appears on the pristine site between
    the previous frame and this one (replacing the pristine row of ``transitions``; a neighbour's
    defect that just left makes its arrival likely). Forward–backward (scaled messages), all sites at
    once. With one frame this is Bayes' rule with that prior.
    """
    x = np.asarray(obs, float)
    n, T = x.shape
    K = len(means)
    trans = np.asarray(transitions, float)
    prior = np.full(K, prior_defect / (K - 1))
    prior[pristine] = 1 - prior_defect
    sd = np.broadcast_to(np.asarray(sd, float), (K,))
    le = _log_gauss(x[:, :, None], np.asarray(means)[None, None], sd[None, None])  # (n, T, K)
    le = np.where(np.isfinite(x)[:, :, None], le, 0.0)
    # emissions scaled by their largest state per site and frame: the forward and backward messages
    # are renormalised every frame, so linear probabilities neither under- nor overflow
    emis = np.exp(le - le.max(axis=2, keepdims=True))
    del le
    app = None if appear is None else np.clip(np.asarray(appear, float), 1e-12, 0.999)
    others = [k for k in range(K) if k != pristine]

    def step_forward(a, t):  # a (n, K) at frame t−1 → predicted at frame t
        out = a @ trans
        if app is not None:  # the pristine row differs per site
            row = np.empty((n, K))
            row[:, others] = (app[:, t] / (K - 1))[:, None]
            row[:, pristine] = 1 - app[:, t]
            out += a[:, pristine, None] * (row - trans[pristine][None])
        return out

    def step_backward(b, t):  # b (n, K): emission × backward message at frame t → backward at t−1
        out = b @ trans.T
        if app is not None:
            row = np.empty((n, K))
            row[:, others] = (app[:, t] / (K - 1))[:, None]
            row[:, pristine] = 1 - app[:, t]
            out[:, pristine] += ((row - trans[pristine][None]) * b).sum(1)
        return out

    fwd = np.empty((n, T, K))
    a = prior[None] * emis[:, 0]
    fwd[:, 0] = a / a.sum(1, keepdims=True)
    for t in range(1, T):
        a = step_forward(fwd[:, t - 1], t) * emis[:, t]
        fwd[:, t] = a / a.sum(1, keepdims=True)
    post = fwd  # reused in place: posterior ∝ forward × backward
    b = np.ones((n, K))
    for t in range(T - 2, -1, -1):
        b = step_backward(emis[:, t + 1] * b, t + 1)
        b /= b.sum(1, keepdims=True)
        post[:, t] *= b
    return post / post.sum(2, keepdims=True)


@dataclass
class SiteReading:
    """Every site of every frame read (``sites``), the lattice, and what the reading measured."""

    sites: pd.DataFrame
    lattice: ColumnLattice
    contents: dict  # sublattice → {class: reading in metal units}
    noise: dict  # sublattice → reading noise of one frame (metal units)
    gain: float
    shifts: np.ndarray
    seconds: dict
    chemistry: Chemistry = WS2
    haadf_exponent: float = float("nan")  # used for the contents of non-host elements
    chalcogen_over_metal: float = float("nan")  # pristine chalcogen / metal column reading, measured
    warnings: list = field(default_factory=list)  # implausible measurements replaced by priors
    #: {first frame: :class:`helpers.areas.AreaMap`} where the areas were found (frames until the
    #: next key use it, shifted by the drift); empty when not masked
    area_maps: dict = field(default_factory=dict)

    @property
    def defects(self) -> pd.DataFrame:
        """The rows of ``sites`` that are defects."""
        return defects_of(self.sites)

    def area_fractions(self) -> dict:
        """Share of the image area of each kind of area (:data:`helpers.areas.AREA_NAMES`) and
        ``masked``, averaged over the maps found; {} when not masked."""
        if not self.area_maps:
            return {}
        fr = [m.fractions() for m in self.area_maps.values()]
        return {k: float(np.mean([f[k] for f in fr])) for k in fr[0]}

    def area_map_of(self, frame: int) -> tuple[AreaMap | None, np.ndarray]:
        """The area map that frame ``frame`` uses and its offset (row, col px) into that frame: the
        drift since the frame it was found on. (None, 0) when not masked."""
        keys = [k for k in self.area_maps if k <= frame]
        if not keys:
            return None, np.zeros(2)
        t0 = max(keys)
        return self.area_maps[t0], np.asarray(self.shifts[frame], float) - np.asarray(self.shifts[t0], float)


#: the lattice is fitted on the central part of the first frame(s): at least this many px and this
#: many Å across (the fit's cost grows with the area; 100 Å hold ~10^3 unit cells, enough for
#: lattice vectors good to ~10^-4)
LATTICE_FIT_PX, LATTICE_FIT_A = 512, 100.0


def central_crop(image, size: int) -> np.ndarray:
    """The central ``size`` × ``size`` px of an image (all of it where it is smaller)."""
    h, w = image.shape
    r0, c0 = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return image[r0:r0 + min(size, h), c0:c0 + min(size, w)]


def local_displacements(image, lattice: ColumnLattice, origin_rc, sigma_px: float, positions) -> np.ndarray:
    """The lattice's local displacement (n, 2) px from its fitted position at each of ``positions``:
    geometric phase analysis (Hÿtch et al., Ultramicroscopy 74, 131 (1998)) on the two first-order
    reflections.

    For each reciprocal vector g the image is demodulated at g and smoothed with a Gaussian of
    ``sigma_px`` (about a unit cell and a half); its phase at a site, less the phase of the whole
    image at g, is −2π g·u. Scan distortion, strain and drift during the scan move the columns by u;
    a global lattice cannot follow them, a local phase does (unambiguous for |g·u| < ½, up to about a
    third of the lattice constant). ``origin_rc`` only fixes a common phase, which cancels.

    Done in Fourier space: one FFT of the frame zero-padded by 3σ (nothing outside the frame enters
    a site's average); for each g the spectrum near g, times the Gaussian's transfer function (cut
    where it falls below 10⁻⁴), centred and inverse-transformed onto a coarse grid (4× finer than
    the smoothed field needs), interpolated at the sites (cubic splines) and the carrier's small
    remainder restored exactly. Memory: one padded complex image; time: one FFT per frame.
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
    B = lattice.reciprocal  # rows b1, b2 (cycles/px)
    cut = np.sqrt(np.log(1e4) / 2) / (np.pi * sigma_px)  # cycles/px where the transfer falls to 10⁻⁴
    dphi = np.empty((len(pos), 2))
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
        # the whole lattice's phase at g (its chalcogen share included): the frame's DTFT at g
        ref = np.exp(-2j * np.pi * g[0] * np.arange(H)) @ big @ np.exp(-2j * np.pi * g[1] * np.arange(W))
        dphi[:, k] = np.angle(field * np.conj(ref))
    # −2π B u = dphi  →  u = −B⁻¹ dphi / 2π
    return -(dphi @ np.linalg.inv(B).T) / (2 * np.pi)


def frame_origins(frames, lattice: ColumnLattice, shifts) -> np.ndarray:
    """Per frame, the metal site that is the same lattice site as frame 0's origin (row, col px):
    the Fourier phases place the lattice in each frame, the drift picks the translate."""
    A = lattice.vectors
    o0 = lattice_origin(np.asarray(frames[0], np.float64), lattice)
    out = np.empty((len(frames), 2))
    for t in range(len(frames)):
        o = lattice_origin(np.asarray(frames[t], np.float64), lattice) if t else o0
        f = np.linalg.solve(A.T, o - (o0 + np.asarray(shifts[t], float)))
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
    bound), and a warning when that was needed."""
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


def read_sites(frames, pixel_size_A: float, lattice_a_A: float | None = None, p: SiteParams | None = None,
               shifts=None, lattice: ColumnLattice | None = None, progress: bool = False,
               chemistry: Chemistry = WS2) -> SiteReading:
    """Read every lattice site of an image or a movie and find the defects among them.

    ``chemistry`` (:func:`helpers.chemistry.chemistry_of`): the material's elements and candidate
    dopants, which name the contents read; ``lattice_a_A`` defaults to its lattice constant.

    ``frames``: (H, W) or (n, H, W) in counts (or any linear intensity). The lattice is fitted on
    the registered sum of the first 2·``p.sum_half_window`` + 1 frames unless given; each frame is
    read on its own (independent noise); each site's contents through the movie come from
    :func:`site_posteriors`, so a defect seen for many frames is found at a dose at which one frame
    could not show it. Returns a :class:`SiteReading` whose ``sites`` has one row per site and frame
    (columns :data:`SITE_COLUMNS`).
    """
    import time

    from tqdm.auto import tqdm

    from .movie_analysis import frame_shifts, registered_sum

    p = p or SiteParams()
    ps = check_pixel_size(pixel_size_A)
    if getattr(frames, "ndim", None) == 3 and not isinstance(frames, np.ndarray):
        arr = _RecentFrames(frames, 2 * p.sum_half_window + 2)  # a lazy stack: read each frame once
    else:
        arr = np.asarray(frames)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise ValueError(f"frames must be an image or a stack, got shape {arr.shape}")
    check_image(np.asarray(arr[0]), "frame", min_shape=(16, 16))
    t0 = time.perf_counter()
    n = len(arr)
    if shifts is None:
        shifts = frame_shifts(arr) if n > 1 else np.zeros((1, 2))
    if lattice is None:
        first = registered_sum(arr, shifts, 0, p.sum_half_window)[0] if n > 1 else arr[0]
        size = max(LATTICE_FIT_PX, int(np.ceil(LATTICE_FIT_A / ps)))
        a = chemistry.lattice_a_A if lattice_a_A is None else lattice_a_A
        lattice = fit_column_lattice(central_crop(first, size), ps, a)
    lattice, width_note = plausible_width(lattice)
    t_lat = time.perf_counter() - t0
    t0 = time.perf_counter()
    origins = frame_origins(arr, lattice, shifts)
    cols = {k: [] for k in ("frame", "kind", "i", "j", "row", "col", "amplitude", "ratio", "ratio_halo", "area")}
    area_maps, t_areas, area_at = {}, 0.0, None
    shifts = np.asarray(shifts, float)
    for t in tqdm(range(n), desc="reading sites", disable=not progress):
        img = arr[t].astype(np.float64)
        kinds, pos, ij = enumerate_sites(img.shape, origins[t], lattice, p.margin_px(ps))
        ref_img = None
        if p.follow_distortion:  # the local lattice phase of the frame's registered sum (less noise)
            ref_img = registered_sum(arr, shifts, t, p.sum_half_window)[0] if n > 1 else img
            pos = pos + local_displacements(ref_img, lattice, origins[t], p.distortion_sigma_A / ps, pos)
        if p.mask_areas:
            if t % max(int(p.areas_every), 1) == 0:
                ta = time.perf_counter()
                if ref_img is None:
                    ref_img = registered_sum(arr, shifts, t, p.sum_half_window)[0] if n > 1 else img
                area_maps[t] = find_areas(ref_img, lattice, ps, p.areas)
                if t:  # only the first map keeps its measures (figures); later ones their labels
                    area_maps[t].lattice_amplitude = area_maps[t].background = None
                area_at, t_areas = t, t_areas + time.perf_counter() - ta
            # a feature at x in frame t0 is at x + shifts[t] − shifts[t0] in frame t
            area = area_maps[area_at].at(pos - (shifts[t] - shifts[area_at]))
        else:
            area = np.zeros(len(kinds), np.uint8)
        amp, amp_h = measure_amplitude_sets(img, kinds, pos, lattice, p.radius_A, p.bins, (0.0, p.halo_A)).T
        ref = metal_reference(pos, kinds, amp, p.reference_neighbours)
        ref_h = metal_reference(pos, kinds, amp_h, p.reference_neighbours)
        # compact columns: a long movie's table grows by one row per site and frame
        for k, v in (("frame", np.full(len(kinds), t, np.int32)), ("kind", kinds), ("i", ij[:, 0].astype(np.int32)),
                     ("j", ij[:, 1].astype(np.int32)), ("row", pos[:, 0]), ("col", pos[:, 1]),
                     ("amplitude", amp.astype(np.float32)), ("ratio", (amp / ref).astype(np.float32)),
                     ("ratio_halo", (amp_h / ref_h).astype(np.float32)), ("area", area.astype(np.uint8))):
            cols[k].append(v)
    sites = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
    del cols
    sites["x_A"], sites["y_A"] = sites["col"] * ps, sites["row"] * ps
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    sites, contents, noise, gain, exponent, notes = _decode(sites, p, lattice, chemistry)
    notes = ([width_note] if width_note else []) + notes
    seconds = {"lattice": t_lat, "read": t_read - t_areas, "areas": t_areas, "decode": time.perf_counter() - t0}
    seconds["total"] = sum(seconds.values())
    keep = SITE_COLUMNS + ["ratio_halo", "posterior_defect"]
    sites.drop(columns=[c for c in sites.columns if c not in keep], inplace=True)
    return SiteReading(sites[keep] if list(sites.columns) != keep else sites, lattice, contents, noise, gain,
                       np.asarray(shifts, float), seconds, chemistry, exponent,
                       contents[CHALCOGEN][chemistry.pristine(CHALCOGEN)] / contents[METAL][chemistry.pristine(METAL)],
                       notes, area_maps)


def _relative(s: pd.DataFrame, column: str, use=None):
    """A reading relative to its frame's pristine level of its sublattice (median), plus the movie's
    pristine level: a slowly changing gain or background cancels. Returns (reading, per-site spread
    of its frame and sublattice (normalised MAD), pristine levels {sublattice: level}). ``use``
    (bool per row): the rows the levels and spreads are measured on (the unmasked sites; a group
    without any falls back to all its rows)."""
    keys = [s["frame"], s["kind"]]
    x = s[column]
    if use is not None and not np.all(use):
        xu = x.where(use)
        centre = xu.groupby(keys).transform("median").fillna(x.groupby(keys).transform("median"))
        dev = (x - centre).abs()
        spread = (dev.where(use).groupby(keys).transform("median")
                  .fillna(dev.groupby(keys).transform("median")) * 1.4826)
    else:
        centre = x.groupby(keys).transform("median")
        spread = (x - centre).abs().groupby(keys).transform("median") * 1.4826
    levels = {k: float(np.median(centre[s["kind"] == k])) for k in (METAL, CHALCOGEN) if (s["kind"] == k).any()}
    base = s["kind"].map(levels).to_numpy(float)
    return (s[column] - centre).to_numpy() + base, spread.to_numpy(), levels


#: contents that differ from the pristine one of their sublattice by at least this share of the
#: pristine metal column: the sites that calibrate the gain
STRONG_CHANGE = 0.3


def strong_changes(contents: dict) -> dict:
    """{content: its change from the pristine content of its sublattice} for the contents whose
    change is at least :data:`STRONG_CHANGE` of the metal column (WS2: Vw, Sw, Mo, W2s2, Ws)."""
    metal = _pristine_level(contents, METAL)
    return {c: v - _pristine_level(contents, k) for k in contents for c, v in contents[k].items()
            if abs(v - _pristine_level(contents, k)) >= STRONG_CHANGE * metal}


def _pristine_name(contents: dict, kind: str) -> str:
    return next(iter(contents[kind]))


def _pristine_level(contents: dict, kind: str) -> float:
    return contents[kind][_pristine_name(contents, kind)]



def calibrate_gain(reading, unbiased, kinds, classes, levels: dict, contents: dict, min_sites: int = 3) -> float:
    """The factor by which a content change shows in the Gaussian-core reading: the summed change of
    the sites decoded as strong defects (:func:`strong_changes`) in that reading over the same in
    the halo-term reading (unbiased, noisier), each signed as its content's change. Sums, not a
    regression on the noisy reading, so the noise neither selects nor attenuates. 1 when fewer
    than ``min_sites`` such sites exist."""
    base = np.array([levels[k] for k in kinds])
    strong = strong_changes(contents)
    cls = np.asarray(classes, object)
    sel = np.isin(cls, list(strong))
    if sel.sum() < min_sites:
        return 1.0
    d0, d1 = (np.asarray(reading) - base)[sel], (np.asarray(unbiased) - base)[sel]
    sign = np.sign(pd.Series(cls[sel]).map(strong).to_numpy(float))
    den = (d1 * sign).sum()
    return float(np.clip((d0 * sign).sum() / den, 0.7, 1.4)) if den > 0 else 1.0


def neighbour_offsets(lattice: ColumnLattice) -> dict:
    """Lattice-index offsets (di, dj) of the nearest neighbours of a site: ``(kind, "other")`` the
    three of the other sublattice (a/√3 away), ``(kind, "same")`` the six of its own (a away)."""
    A = lattice.vectors
    cf = np.asarray(lattice.chalcogen_frac, float)
    d = np.array([(i, j) for i in range(-2, 3) for j in range(-2, 3)], float)
    a = float(np.linalg.norm(A[0]))
    out = {}
    for kind, own, oth in ((METAL, np.zeros(2), cf), (CHALCOGEN, cf, np.zeros(2))):
        dist_o = np.linalg.norm((d + oth - own) @ A, axis=1)
        dist_s = np.linalg.norm(d @ A, axis=1)
        out[(kind, "other")] = d[np.abs(dist_o - a / np.sqrt(3)) < 0.1 * a].astype(int)
        out[(kind, "same")] = d[np.abs(dist_s - a) < 0.1 * a].astype(int)
    return out


def neighbour_sums(frames, kinds, i, j, values, offsets: dict, frame_offset: int = 0) -> dict:
    """Per site and frame, the sum of ``values`` over its nearest neighbours of the other sublattice
    (``"other"``) and of its own (``"same"``), from the lattice indices (missing neighbours: 0);
    ``frame_offset``: the neighbours' values ``frame_offset`` frames later."""
    frames, i, j = (np.asarray(x, np.int64) for x in (frames, i, j))
    kbit = (np.asarray(kinds, object) == CHALCOGEN).astype(np.int64)
    off = 1 << 20

    def code(f, k, ii, jj):
        return ((f * 2 + k) << 42) + ((ii + off) << 21) + (jj + off)

    keys = code(frames, kbit, i, j)
    order = np.argsort(keys)
    sk = keys[order]
    v = np.asarray(values, float)[order]
    out = {}
    for rel in ("other", "same"):
        total = np.zeros(len(keys))
        for kind, kb in ((METAL, 0), (CHALCOGEN, 1)):
            sel = kbit == kb
            nk = 1 - kb if rel == "other" else kb
            for di, dj in offsets[(kind, rel)]:
                q = code(frames[sel] + frame_offset, nk, i[sel] + di, j[sel] + dj)
                pos = np.clip(np.searchsorted(sk, q), 0, len(sk) - 1)
                hit = sk[pos] == q
                total[np.flatnonzero(sel)[hit]] += v[pos[hit]]
        out[rel] = total
    return out


#: the probability that a defect arrives on a site in a frame in which one of its neighbours (same
#: sublattice, one lattice step away) lost its defect: the share of departures that are hops
HOP_ARRIVAL = 0.3


def _hop_arrivals(s: pd.DataFrame, kinds, post_def, offsets: dict) -> np.ndarray:
    """Per site and frame, the probability that a defect arrives: :data:`APPEAR_PER_FRAME`, plus
    :data:`HOP_ARRIVAL` times the probability that a neighbour of the same sublattice lost its defect
    between the frame before and the frame after (a hop goes to one of six neighbours: the
    neighbour's loss is shared among them, so a sixth of it counts)."""
    f, i, j = s["frame"].to_numpy(), s["i"].to_numpy(), s["j"].to_numpy()
    before = neighbour_sums(f, kinds, i, j, post_def, offsets, frame_offset=-1)["same"]
    after = neighbour_sums(f, kinds, i, j, post_def, offsets, frame_offset=1)["same"]
    left = np.clip(before - after, 0.0, 6.0) / 6.0
    return np.clip(APPEAR_PER_FRAME + HOP_ARRIVAL * left, APPEAR_PER_FRAME, 0.5)


def _remove_crosstalk(rel, kinds, cls, s: pd.DataFrame, contents: dict, offsets: dict):
    """Readings freed of the share a neighbour's content change leaves in them.

    A defect changes its column's probe tail too, which the Gaussian-core model of its neighbours
    partly reads as theirs (measured on the standard movie: a chalcogen column beside a W vacancy
    reads ~0.02 metal units low, a quarter of a single vacancy). The share is linear in the
    neighbours' change: per sublattice and neighbour shell, the coefficient is fitted on the sites
    decoded as pristine (their reading minus the pristine content, against the summed decoded
    change of their neighbours), then subtracted from every reading."""
    change = {c: v - _pristine_level(contents, k) for k in contents for c, v in contents[k].items()}
    dc = pd.Series(cls).map(change).fillna(0.0).to_numpy(float)
    sums = neighbour_sums(s["frame"], kinds, s["i"], s["j"], dc, offsets)
    pristine_level = np.array([_pristine_level(contents, k) for k in kinds])
    res = rel - pristine_level
    out = rel.copy()
    coef = {}
    for kind in (METAL, CHALCOGEN):
        sel = (kinds == kind) & (np.asarray(cls, object) == _pristine_name(contents, kind))
        X = np.stack([sums["other"][sel], sums["same"][sel]], 1)
        use = np.abs(X).sum(1) > 0
        if use.sum() < 20:
            continue
        beta = np.linalg.lstsq(X[use], res[sel][use], rcond=None)[0]
        coef[kind] = {"other": float(beta[0]), "same": float(beta[1])}
        k = kinds == kind
        out[k] = rel[k] - beta[0] * sums["other"][k] - beta[1] * sums["same"][k]
    return out, coef


def _decode(sites: pd.DataFrame, p: SiteParams, lattice: ColumnLattice, chemistry: Chemistry = WS2):
    """Content of every site in every frame: the pristine level and noise of each sublattice from
    each frame's own sites, the gain from :func:`calibrate_gain`, then :func:`site_posteriors` over
    each site's frames. ``sites`` gains the decoded columns in place (no copy of a long table).
    Returns (sites, contents, noise, gain, HAADF exponent used, warnings)."""
    s = sites
    lattice_area = s["area"].to_numpy() == LATTICE if "area" in s else np.ones(len(s), bool)
    rel, spread, levels = _relative(s, "ratio", lattice_area)
    rel_h, _, _ = _relative(s, "ratio_halo", lattice_area)
    s["z"] = (rel - s["kind"].map(levels).to_numpy(float)) / spread
    metal_c, chal_c = levels.get(METAL, np.nan), levels.get(CHALCOGEN, np.nan)
    kinds = s["kind"].to_numpy()
    noise = {k: float(np.median(spread[(kinds == k) & lattice_area] if np.any((kinds == k) & lattice_area)
                                else spread[kinds == k])) for k in levels}
    if not np.isfinite(chal_c) or not 0 < chal_c < 4 * metal_c or noise[METAL] > 0.5 * metal_c:
        raise ValueError(f"pristine chalcogen/metal reading {chal_c:.3f}/{metal_c:.3f} at a noise of "
                         f"{noise[METAL]:.3f} is not that of a transition-metal dichalcogenide lattice: "
                         "check the pixel size and the material")
    exponent, warning = plausible_exponent(chemistry, chal_c / metal_c)
    notes = [warning] if warning else []
    contents = class_contents(metal_c, chal_c, chemistry, exponent)
    # shot noise: the variance of a reading grows linearly with the content it holds; the two
    # pristine contents (metal, chalcogen) and their measured noise fix the line
    slope = ((noise[METAL] ** 2 - noise[CHALCOGEN] ** 2) / (metal_c - chal_c)
             if abs(metal_c - chal_c) > 1e-6 * metal_c else 0.0)
    if slope > 0:
        floor = noise[CHALCOGEN] ** 2 - slope * chal_c
        if floor < 0.25 * noise[CHALCOGEN] ** 2:  # the line would leave an empty column (almost) noiseless:
            floor = 0.25 * noise[CHALCOGEN] ** 2  # keep a quarter of the chalcogen's variance, through the metal's
            slope = max((noise[METAL] ** 2 - floor) / metal_c, 0.0)
    else:
        slope, floor = 0.0, max(noise.values()) ** 2

    def noise_of(content):
        return np.sqrt(np.maximum(floor + slope * np.maximum(content, 0.0), 0.25 * floor))

    # one code per site (kind, i, j): integer keys, no strings per reading
    key = ((s["kind"].to_numpy() == CHALCOGEN).astype(np.int64) << 42) \
        | ((s["i"].to_numpy(np.int64) + (1 << 20)) << 21) | (s["j"].to_numpy(np.int64) + (1 << 20))
    codes = pd.factorize(key)[0]
    frames = s["frame"].to_numpy()
    T = int(frames.max()) + 1
    cls = np.empty(len(s), object)
    post_best = np.zeros(len(s))
    post_def = np.zeros(len(s))
    gain = 1.0
    offsets = neighbour_offsets(lattice)
    rel0 = rel.copy()
    crosstalk = {}
    appear = None
    for step in range(4):  # decode; calibrate the gain; decode; correct the crosstalk; decode;
        # let a neighbour's departing defect make its arrival likely; decode
        for kind in (METAL, CHALCOGEN):
            sel = np.flatnonzero(kinds == kind)
            names = list(contents[kind])  # pristine first
            cp = contents[kind][names[0]]
            means = np.array([cp + gain * (contents[kind][c] - cp) for c in names])
            sc, inv = np.unique(codes[sel], return_inverse=True)
            obs = np.full((len(sc), T), np.nan)
            obs[inv, frames[sel]] = np.where(lattice_area[sel], rel[sel], np.nan)  # masked: unobserved
            trans = transition_matrix(len(names), APPEAR_PER_FRAME, LEAVE_PER_FRAME, CHANGE_PER_FRAME)
            app = None
            if appear is not None:
                app = np.full((len(sc), T), APPEAR_PER_FRAME)
                app[inv, frames[sel]] = appear[sel]
            post = site_posteriors(obs, means, noise_of(means), trans, PRIOR_DEFECT, appear=app)
            pr = post[inv, frames[sel]]  # (len(sel), K)
            best = pr[:, 1:].argmax(1) + 1
            is_def = pr[:, 0] < p.pristine_below
            cls[sel] = np.where(is_def, np.array(names, object)[best], names[0])
            post_best[sel] = np.where(is_def, pr[np.arange(len(sel)), best], pr[:, 0])
            post_def[sel] = 1 - pr[:, 0]
        if step == 0:
            gain = calibrate_gain(rel, rel_h, kinds, cls, levels, contents)
        elif step == 1:
            rel, crosstalk = _remove_crosstalk(rel0, kinds, cls, s, contents, offsets)
        elif step == 2:
            appear = _hop_arrivals(s, kinds, post_def, offsets)
    # the content each reading stands for, the gain taken out (metal units)
    pristine = s["kind"].map({k: _pristine_level(contents, k) for k in contents}).to_numpy(float)
    s["content"] = pristine + (rel - pristine) / gain
    cls[~lattice_area] = MASKED
    s["significant"] = ~np.isin(cls, [_pristine_name(contents, k) for k in contents] + [MASKED])
    s["class"] = cls
    s["probability"] = np.where(lattice_area, post_best, np.nan)
    s["posterior_defect"] = post_def
    return s, contents, noise, gain, exponent, notes


def defect_table(reading: SiteReading) -> pd.DataFrame:
    """The defects of a reading in the command's table layout: frame, id (per frame), x/y in px and
    Å (the site's fitted lattice position), class, probability (posterior of that content), site
    (metal / chalcogen), i, j (lattice indices, the same site in every frame), content (metal units),
    z (one frame's reading against its sublattice)."""
    d = reading.defects
    out = pd.DataFrame({"frame": d["frame"].to_numpy(), "x_px": d["col"].to_numpy(),
                        "y_px": d["row"].to_numpy(), "x_A": d["x_A"].to_numpy(), "y_A": d["y_A"].to_numpy(),
                        "class": d["class"].to_numpy(), "probability": d["probability"].to_numpy(),
                        "site": d["kind"].to_numpy(), "i": d["i"].to_numpy(), "j": d["j"].to_numpy(),
                        "content": d["content"].to_numpy(), "z": d["z"].to_numpy()})
    out = out.sort_values(["frame", "y_px", "x_px"], kind="stable").reset_index(drop=True)
    out.insert(1, "id", out.groupby("frame").cumcount())
    return out


def site_table(reading: SiteReading, frames: slice | None = None) -> pd.DataFrame:
    """Every site of every frame (``sites.csv``; ``frames``: those frames only): positions as x/y px
    and Å, the reading, its z-score, the decoded content class (``W``/``S2`` for pristine sites) and
    its posterior probability."""
    s = reading.sites
    if frames is not None:
        f = s["frame"].to_numpy()
        lo, hi = np.searchsorted(f, [frames.start or 0, frames.stop if frames.stop is not None else f.max() + 1])
        s = s.iloc[lo:hi]
    return pd.DataFrame({"frame": s["frame"], "site": s["kind"], "i": s["i"], "j": s["j"],
                         "x_px": s["col"], "y_px": s["row"], "x_A": s["x_A"], "y_A": s["y_A"],
                         "amplitude": s["amplitude"], "content": s["content"], "z": s["z"],
                         "class": s["class"], "probability": s["probability"],
                         "defect": s["significant"],
                         "area": pd.Categorical.from_codes(s["area"].to_numpy(np.int8) if "area" in s
                                                           else np.zeros(len(s), np.int8),
                                                           [AREA_NAMES[k] for k in sorted(AREA_NAMES)])})
