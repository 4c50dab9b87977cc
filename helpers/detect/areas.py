"""Areas the lattice does not describe: holes, amorphous contamination, thicker layers, other grains.

A real image is rarely all monolayer. Where the lattice fitted on the image is not what the image
shows, a column reading is meaningless: a hole reads as a row of vacancies, a contamination patch or
a second layer as heavy substitutions. Such areas are found from two local measures, each a Gaussian
average over ``scale_A`` (a few unit cells, so that one point defect barely moves them):

* the **lattice amplitude** ℓ — the local amplitude of the lattice's first-order reflections (the
  magnitude of the geometric-phase field, Hÿtch et al., Ultramicroscopy 74, 131 (1998)), relative
  to its median over the image. A hole, amorphous material or a grain of another orientation does
  not carry the lattice's Fourier components: ℓ falls (below ½: ``no_lattice``).
* the **background** β — the local mean intensity less its median over the image, in units of the
  median lattice amplitude (so a detector offset or the image's scaling does not matter).
  Amorphous contamination on top and a second layer add intensity between the columns without
  adding lattice contrast: β above 2.5 is ``thicker_or_contaminated``; where the lattice is gone
  and β is below −1, the area is a ``hole``.

The thresholds sit above what the simulated movies of this repository reach (ℓ > 0.8 everywhere;
|β| ≤ 2.0 at the end of a 150-frame movie whose simulated contamination has grown, where the
columns are still read well), and below the contamination of the real development images
(β 3–3.5 in the brighter band of the 60 kV WS2 image). Areas smaller than a few unit cells
are dropped (a point defect or a noise blob), the rest grown by about a lattice constant (the
columns at the rim of a hole are not lattice columns either). Masked sites are read and listed
(``area`` in ``sites.csv``) but never reported as defects; nor are the sites whose fitting disc
reaches into a masked area (``AreaParams.rim_A``: they take its label). A grain of another orientation is first
masked as ``no_lattice``; where it is large enough, :mod:`helpers.detect.grains` reads it with its own
lattice and relabels it ``other_grain``. Areas whose hollow sites hold atoms (a 1T phase, an
inversion domain: :mod:`helpers.detect.hollow_sites`) are stamped in by the site reading as
``other_phase``. Where the chalcogen pair scatters about as strongly as the metal (MoSe2, MoTe2),
such a cell's first-order reflections nearly cancel and ℓ falls; its in-phase (√3 ring) reflections,
on whose planes the metal, chalcogen and hollow sites all lie, keep their amplitude, which amorphous
material, a hole or another grain do not: an area without ℓ that keeps them is ``other_phase``
(:func:`in_phase_amplitude`).

Positions are (row, col) px; lengths in Å.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from helpers.core.validation import check_image, check_pixel_size
from helpers.detect.column_model import ColumnLattice

#: labels of :attr:`AreaMap.labels`
LATTICE, NO_LATTICE, THICKER, HOLE, OTHER_GRAIN, SCAN_GLITCH, OTHER_PHASE = 0, 1, 2, 3, 4, 5, 6


#: names of the labels as written in ``sites.csv`` and ``summary.json``
AREA_NAMES = {LATTICE: "lattice", NO_LATTICE: "no_lattice", THICKER: "thicker_or_contaminated", HOLE: "hole",
              OTHER_GRAIN: "other_grain", SCAN_GLITCH: "scan_glitch", OTHER_PHASE: "other_phase"}


#: labels whose sites are read (``other_grain``: a grain of another orientation, read with its own
#: lattice by :func:`helpers.detect.grains.read_other_grains`)
READ_LABELS = (LATTICE, OTHER_GRAIN)


@dataclass
class AreaParams:
    """Settings of :func:`find_areas` (lengths in Å; ratios relative to the image's median)."""

    scale_A: float = 5.0  # Gaussian σ of the local averages
    #: lattice amplitude below this share of the median: the lattice is not there
    lattice_below: float = 0.5
    #: background above its median by more than this many times the median lattice amplitude:
    #: thicker or contaminated (material between the columns adds intensity without the lattice's
    #: contrast)
    background_above: float = 2.5
    #: where the lattice is gone, background below its median by more than this many median
    #: lattice amplitudes: a hole (vacuum), not amorphous material
    hole_below: float = 1.0
    #: areas smaller than this many unit cells are dropped (a point defect or a noise blob)
    min_cells: float = 4.0
    #: the areas found are grown by this much: the averaging rounds their edges off, and the columns
    #: at the rim of a hole or a patch are not those of the lattice either
    grow_A: float = 3.0
    #: an area without first-order lattice amplitude is ``other_phase`` where the median of its
    #: in-phase (√3) ring amplitude, relative to the image's median, is at least this and at least
    #: ``phase_ring_ratio`` times its median first-order amplitude (:func:`in_phase_amplitude`);
    #: None: not tested
    phase_ring_above: float | None = 0.75
    phase_ring_ratio: float = 2.0
    #: a site within this of a masked area takes its label (:meth:`AreaMap.at`): its fitting disc
    #: holds part of the area (a contamination patch's tail brightened the chalcogen columns beside
    #: it on a real WS2 image); None: the site's fitting disc (``SiteParams.radius_A``); 0: none
    rim_A: float | None = None


def rim_px(p: AreaParams, radius_A: float, pixel_size_A: float) -> float:
    """How far a masked area's label reaches (px): ``p.rim_A``, or ``radius_A`` (a site's fitting
    disc) where that is None.

    Parameters
    ----------
    p : AreaParams
    radius_A : float
        The sites' fitting disc (Å).
    pixel_size_A : float
        Pixel size (Å/px).

    Returns
    -------
    float
    """
    return (radius_A if p.rim_A is None else float(p.rim_A)) / check_pixel_size(pixel_size_A)


@dataclass
class AreaMap:
    """Where the lattice describes the image, on a grid of every ``step_px``-th pixel (the measures
    are smooth on the scale of ``scale_A``): ``labels`` uint8 (:data:`AREA_NAMES`); grid point
    (a, b) is pixel (a·step_px, b·step_px)."""

    labels: np.ndarray
    lattice_amplitude: np.ndarray | None  # ℓ, relative to its median
    background: np.ndarray | None  # β: local mean less its median, in median lattice amplitudes
    pixel_size_A: float
    step_px: int
    shape: tuple  # the image's (H, W) px
    params: AreaParams = field(default_factory=AreaParams)
    _nearest_masked: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def mask(self) -> np.ndarray:
        """True where no lattice read describes the image (neither the main one nor another grain's)."""
        return ~np.isin(self.labels, READ_LABELS)

    def fractions(self) -> dict:
        """Share of the image's area of each label (:data:`AREA_NAMES`) and ``masked`` (all but
        ``lattice`` and ``other_grain``)."""
        out = {AREA_NAMES[k]: float(np.mean(self.labels == k)) for k in AREA_NAMES}
        out["masked"] = float(np.mean(self.mask))
        return out

    def at(self, positions, reach_px: float = 0.0) -> np.ndarray:
        """Label of each (row, col) px position (nearest grid point, clipped to the image); with
        ``reach_px``, a position whose grid point lies within that of a masked one takes the label
        of the nearest masked grid point (not of scan-glitch rows: they are grown by a fitting disc
        where they are found, :mod:`helpers.detect.scan_glitches`).

        Parameters
        ----------
        positions : ndarray (n, 2)
            (row, col) px.
        reach_px : float
            Distance (px, ≥ 0) within which a masked area's label reaches.

        Returns
        -------
        ndarray (n,) uint8
            Labels of :data:`AREA_NAMES`.
        """
        pos = np.rint(np.asarray(positions, float).reshape(-1, 2) / self.step_px).astype(int)
        h, w = self.labels.shape
        r, c = np.clip(pos[:, 0], 0, h - 1), np.clip(pos[:, 1], 0, w - 1)
        if not reach_px > 0:
            return self.labels[r, c]
        if self._nearest_masked is None or self._nearest_masked[0] is not self.labels:
            from scipy import ndimage  # distance (grid steps) to, and index of, the nearest masked point

            reach = self.mask & (self.labels != SCAN_GLITCH)  # glitch rows are grown by a fitting disc already
            self._nearest_masked = (self.labels, *(ndimage.distance_transform_edt(~reach, return_indices=True)
                                                   if reach.any() else (None, None)))
        _, dist, idx = self._nearest_masked
        if dist is None:  # nothing the rim reaches from
            return self.labels[r, c]
        near = dist[r, c] * self.step_px <= reach_px
        return np.where(near, self.labels[idx[0][r, c], idx[1][r, c]], self.labels[r, c]).astype(np.uint8)

    def stamped(self, pixels, label: int) -> "AreaMap":
        """A copy with ``label`` wherever ``pixels`` (H, W bool) holds a pixel within half a grid step
        of a grid point (so that :meth:`at` finds it at every such pixel).

        Parameters
        ----------
        pixels : ndarray (H, W) of bool
        label : int
            One of :data:`AREA_NAMES`.

        Returns
        -------
        AreaMap
        """
        from scipy import ndimage

        half = self.step_px // 2 + 1
        near = ndimage.maximum_filter(np.asarray(pixels, np.uint8), size=2 * half + 1)[::self.step_px, ::self.step_px]
        labels = self.labels.copy()
        h, w = min(labels.shape[0], near.shape[0]), min(labels.shape[1], near.shape[1])
        labels[:h, :w][near[:h, :w] > 0] = label
        return replace(self, labels=labels)

    def pixels_of(self, label: int) -> np.ndarray:
        """Every pixel of the image (``shape``) whose label (:meth:`at`) is ``label``.

        Parameters
        ----------
        label : int
            One of :data:`AREA_NAMES`.

        Returns
        -------
        ndarray (H, W) bool
        """
        rc = np.indices(self.shape).reshape(2, -1).T
        return (self.at(rc) == label).reshape(self.shape)


def _in_phase_ring(lattice: ColumnLattice) -> np.ndarray:
    """The three reflections of the √3 ring (cycles/px). The metal, chalcogen and hollow sites of the
    honeycomb all lie on their lattice planes, so every column adds in phase whichever of the three
    sites it occupies: 2H, 1T and inversion domains carry the same amplitude there."""
    b1, b2, t = lattice.first_order
    s = 1.0 if np.allclose(t, b1 + b2) else -1.0  # t = b1 + s·b2
    return np.stack([b1 - s * b2, 2 * b1 + s * b2, b1 + 2 * s * b2])


def local_fields(image, freqs, sigma_px: float, step_px: int = 1) -> list:
    """Gaussian-weighted local Fourier components of ``image`` at each frequency in ``freqs``
    (cycles/px, (row, col)): Σ w(r−r′) I(r′) e^{−2πi g·r′} / Σ w(r−r′) over the pixels r′ inside the
    image (normalised at the borders, so the edge does not look like a hole), at every
    ``step_px``-th pixel r (rows and columns 0, step, 2·step, …).

    Done in Fourier space: one FFT of the frame zero-padded by 3σ; for each g the spectrum near g,
    times the Gaussian's transfer function, summed exactly at the output pixels (the Gaussian is
    separable, so the sum is two small matrix products per g). Returns complex arrays.

    Parameters
    ----------
    image : ndarray (H, W)
    freqs : sequence of (float, float)
        Frequencies (cycles/px).
    sigma_px : float
        Width of the Gaussian weight (px).
    step_px : int
        Grid step of the output (px).

    Returns
    -------
    list of ndarray
        One complex field per frequency on the coarse grid.
    """
    from scipy import fft as sfft

    img = np.asarray(image, np.float32)
    h, w = img.shape
    pad, (H, W), out_r, out_c = _padded_grid(h, w, sigma_px, step_px)
    big = np.zeros((H, W), np.float32)
    big[pad:pad + h, pad:pad + w] = img
    F = sfft.fft2(big)
    weight = _border_weight(h, w, float(sigma_px), max(int(step_px), 1))
    return [_smoothed(F, g, sigma_px, out_r, out_c) / weight for g in freqs]


def _padded_grid(h: int, w: int, sigma_px: float, step_px: int):
    """Padding (px), padded FFT shape and the output rows/cols (in padded px) of :func:`local_fields`."""
    from scipy import fft as sfft

    pad = int(np.ceil(3 * sigma_px))
    shape = (sfft.next_fast_len(h + 2 * pad), sfft.next_fast_len(w + 2 * pad))
    step = max(int(step_px), 1)
    return pad, shape, np.arange(0, h, step, dtype=float) + pad, np.arange(0, w, step, dtype=float) + pad


def _smoothed(F, g, sigma_px: float, out_r, out_c):
    """The Gaussian-weighted component at g of the image whose padded spectrum is F, at the output
    rows × cols: c(r) = 1/(HW) Σ_k F(k) G(k/N − g) e^{2πi (k/N − g)·r} over the k within the
    Gaussian's reach of gN (its transfer above 10⁻⁴); the Gaussian is separable, so the sum is two
    small matrix products."""
    H, W = F.shape
    cut = np.sqrt(np.log(1e4) / 2) / (np.pi * sigma_px)  # cycles/px where the transfer falls to 10⁻⁴
    ks, phases = [], []
    for n_ax, g_ax, out in ((H, g[0], out_r), (W, g[1], out_c)):
        k = np.arange(int(np.floor((g_ax - cut) * n_ax)), int(np.ceil((g_ax + cut) * n_ax)) + 1)
        f = k / n_ax - g_ax
        ks.append(k % n_ax)
        phases.append(np.exp(-2 * np.pi ** 2 * sigma_px ** 2 * f ** 2)[None, :]
                      * np.exp(2j * np.pi * out[:, None] * f[None, :]))
    return phases[0] @ F[np.ix_(ks[0], ks[1])] @ phases[1].T / (H * W)


@lru_cache(maxsize=8)
def _border_weight(h: int, w: int, sigma_px: float, step_px: int) -> np.ndarray:
    """Σ w(r−r′) over the pixels r′ inside an h × w image, at :func:`local_fields`' output pixels
    (the same for every frame of a movie: kept)."""
    from scipy import fft as sfft

    pad, (H, W), out_r, out_c = _padded_grid(h, w, sigma_px, step_px)
    ones = np.zeros((H, W), np.float32)
    ones[pad:pad + h, pad:pad + w] = 1
    weight = np.maximum(_smoothed(sfft.fft2(ones), (0.0, 0.0), sigma_px, out_r, out_c).real, 1e-3)
    weight.setflags(write=False)
    return weight


def _relative_spread(x: np.ndarray) -> tuple[float, float]:
    med = float(np.median(x))
    return med, float(1.4826 * np.median(np.abs(x - med)))


def lattice_amplitude(image, lattice: ColumnLattice, sigma_px: float, step: int = 1):
    """Local amplitude of the lattice's three first-order components (the geometric-phase field's
    magnitude) and the local mean, both Gaussian averages over ``sigma_px``, on every ``step``-th
    pixel. The components are taken of the image less its local mean (a detector offset or a
    background slope would leak into them at the frame's edges).

    Parameters
    ----------
    image : ndarray (H, W)
    lattice : ColumnLattice
    sigma_px : float
        Width of the Gaussian weight (px).
    step : int
        Grid step of the output (px).

    Returns
    -------
    (ndarray, ndarray)
        Amplitude and mean on the grid (intensity units).
    """
    amp, mean_full = _amplitude_less_mean(image, lattice.first_order, sigma_px, step)
    return amp, mean_full[::step, ::step]


def _amplitude_less_mean(image, freqs, sigma_px: float, step: int):
    """The local amplitude of the components ``freqs`` (all together) of the image less its local
    mean, on every ``step``-th pixel, and that local mean at every pixel."""
    img = np.asarray(image, np.float64)
    mean_full = local_fields(img, [(0.0, 0.0)], sigma_px)[0].real
    fields = local_fields(img - mean_full, freqs, sigma_px, step)
    return np.sqrt(sum(np.abs(f) ** 2 for f in fields)), mean_full


def in_phase_amplitude(image, lattice: ColumnLattice, sigma_px: float, step: int = 1):
    """Local amplitude of the lattice's three in-phase (√3 ring) components, as :func:`lattice_amplitude`
    does for the first order; None where they lie too near the Nyquist frequency (> 0.45 cycles/px
    along rows or columns) to be measured.

    Parameters
    ----------
    image : ndarray (H, W)
    lattice : ColumnLattice
    sigma_px : float
        Width of the Gaussian weight (px).
    step : int
        Grid step of the output (px).

    Returns
    -------
    ndarray or None
        Amplitude on the grid (intensity units).
    """
    rings = _in_phase_ring(lattice)
    return None if np.abs(rings).max() > 0.45 else _amplitude_less_mean(image, rings, sigma_px, step)[0]


def _phase_areas(img, lattice: ColumnLattice, sigma_px: float, step: int, labels, ell, p: AreaParams):
    """``labels`` with each ``no_lattice`` area whose in-phase ring stays (:attr:`AreaParams.phase_ring_above`)
    relabelled ``other_phase``: the lattice is there in the same orientation, but its first-order
    reflections vanished — as they nearly do for a 1T cell or an inversion domain of a material whose
    chalcogen pair scatters about as strongly as its metal (MoSe2, MoTe2)."""
    from scipy import ndimage

    amp = in_phase_amplitude(img, lattice, sigma_px, step)
    lab, n = ndimage.label(labels == NO_LATTICE)
    if amp is None or not n:
        return labels
    ell3 = amp / max(float(np.median(amp)), 1e-12 * max(float(amp.max()), 1.0))
    idx = np.arange(1, n + 1)
    med3, med1 = np.asarray(ndimage.median(ell3, lab, idx)), np.asarray(ndimage.median(ell, lab, idx))
    phase = np.zeros(n + 1, bool)
    phase[1:] = (med3 >= p.phase_ring_above) & (med3 >= p.phase_ring_ratio * med1)
    return np.where(phase[lab], OTHER_PHASE, labels).astype(np.uint8)


def find_areas(image, lattice: ColumnLattice, pixel_size_A: float, p: AreaParams | None = None) -> AreaMap:
    """Label every pixel of ``image`` as lattice, no lattice (amorphous, another grain), hole,
    thicker/contaminated or another phase (:data:`AREA_NAMES`) from the local lattice amplitude and background at
    ``p.scale_A`` (see the module's docstring).

    Parameters
    ----------
    image : ndarray (H, W)
        One frame (or a registered sum).
    lattice : ColumnLattice
        The fitted lattice.
    pixel_size_A : float
        Pixel size (Å/px).
    p : AreaParams, optional
        Scale, thresholds, minimum size and growth of the areas.

    Returns
    -------
    AreaMap
        Area labels on a coarse grid (``step_px``), their fractions, and ``at(positions)``.
    """
    from scipy import ndimage

    p = p or AreaParams()
    ps = check_pixel_size(pixel_size_A)
    img = check_image(np.asarray(image, np.float64), "image", min_shape=(16, 16))
    sigma_px = p.scale_A / ps
    step = max(int(sigma_px / 4), 1)  # the measures are smooth on the scale of σ
    amp, mean = lattice_amplitude(img, lattice, sigma_px, step)
    amp_median = max(float(np.median(amp)), 1e-12 * max(float(np.abs(img).max()), 1.0))
    ell = amp / amp_median
    beta = (mean - np.median(mean)) / amp_median
    labels = np.zeros(mean.shape, np.uint8)
    labels[beta > p.background_above] = THICKER
    gone = ell < p.lattice_below
    labels[gone] = NO_LATTICE
    labels[gone & (beta < -p.hole_below)] = HOLE
    # drop areas smaller than a few unit cells
    cell_px = abs(np.linalg.det(lattice.vectors)) / step ** 2  # in grid points
    lab, n = ndimage.label(labels != LATTICE)
    if n:
        sizes = ndimage.sum_labels(np.ones(lab.shape), lab, index=np.arange(1, n + 1))
        small = np.zeros(n + 1, bool)
        small[1:] = sizes < p.min_cells * cell_px
        labels[small[lab]] = LATTICE
    if p.phase_ring_above is not None:
        labels = _phase_areas(img, lattice, sigma_px, step, labels, ell, p)
    grow = p.grow_A / (ps * step)
    if grow > 0 and np.any(labels != LATTICE):
        dist, (ir, ic) = ndimage.distance_transform_edt(labels == LATTICE, return_indices=True)
        labels = np.where(dist <= grow, labels[ir, ic], labels).astype(np.uint8)
    return AreaMap(labels, ell.astype(np.float32), beta.astype(np.float32), ps, step, img.shape, p)
