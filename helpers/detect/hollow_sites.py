"""Areas of another phase: atoms on the hollow sites of the 2H lattice.

A 2H monolayer seen along [001] shows a honeycomb of metal columns and chalcogen-pair columns; the
third site of each hexagon, the **hollow** site, holds no atom. The lattice fit takes its column
width from that (:func:`helpers.detect.lattice.fit_column_lattice`). Structures that keep the
hexagonal lattice but put atoms on the hollow sites are not point defects of the 2H sheet:

* the **1T (or 1T′) phase**, which a 2H sheet can transform into under the beam: one chalcogen on
  the chalcogen site, the other on the hollow site. Read as 2H it is a patch of single chalcogen
  vacancies (``Vac_S`` / ``Vs``), or of empty chalcogen columns where the tail of the hollow
  atom is taken for background;
* an **inversion domain** (the 2H sheet turned by 60°) whose metal sites coincide with the host's:
  its chalcogen pairs sit on the host's hollow sites, and its chalcogen sites read empty;
* another **stacking** of a second layer on the hollow sites;
* an inversion domain turned about a hollow site (below).

Each lattice-area metal site's hollow neighbour is read like a column (least squares with a Gaussian
on every metal, chalcogen and hollow site within reach and a plane, :func:`measure_hollows`), in
units of the local pristine metal column. A pristine 2H area reads about zero there; a 1T area one
chalcogen atom (``hollow_share`` of the median chalcogen column). The readings are averaged over
``AreaParams.scale_A`` (a few unit cells, so that one adatom barely moves them); where the average
exceeds the image's median by half a chalcogen atom and by ``z`` times its own noise, over an area of
at least ``AreaParams.min_cells`` unit cells, and the chalcogen columns around read as much below
theirs, the area is labelled ``other_phase`` and masked: never read as point defects, reported as
an area share. Most of the area's hollow sites must hold an atom (:data:`FILLED_SHARE`): a cluster
of heavy adatoms raises the averages of the hollow sites around it, and its tails lower the
chalcogen readings beside it, but each atom fills one hollow site of several; such clusters are
left to the adatom step (:mod:`helpers.detect.adatoms`).

An inversion domain turned about a hollow site keeps the hollow empty but exchanges the two
sublattices: its metal sites read as chalcogen pairs and its chalcogen sites as metals. Where the
averages of both sublattices have moved more than half the gap between their pristine levels
(and ``z`` times their noise) towards each other's, the area is ``other_phase`` too. A sheet
converted past the metal's level, or a metal alloy, moves one sublattice only and is not flagged.
Phases whose columns leave the hexagonal lattice lose the lattice amplitude and are masked before
(``no_lattice``, :mod:`helpers.detect.areas`). So do the 1T cells and inversion domains of MoSe2 and
MoTe2, whose chalcogen pair scatters about as strongly as the metal (their first-order reflections
nearly cancel); :func:`helpers.detect.areas.find_areas` names those ``other_phase`` by their in-phase
ring, and this module's note counts them too.

Positions are (row, col) px; lengths in Å.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from helpers.core.chemistry import CHALCOGEN, METAL
from helpers.detect.areas import LATTICE, OTHER_PHASE, AreaMap, rim_px
from helpers.detect.areas import _relative_spread
from helpers.detect.column_model import ColumnLattice, _patch_model, _rows, _subs
from helpers.detect.site_measure import measure_amplitudes
from helpers.detect.site_placement import invariant_displacements

#: the hollow reading's average above the image's median must exceed this share of the median
#: chalcogen column (a 1T area holds half of it: one chalcogen atom of the pair)
HOLLOW_SHARE = 0.25
#: and this many times its own noise (the average's standard error from the sites' scatter)
HOLLOW_Z = 5.0
#: an area is another phase only where most of its hollow sites hold an atom: the median of their
#: single readings over the median of their averages must reach this (1T and inversion discs of
#: 10–15 Å in WS2, MoS2, WSe2: 1.09–1.64; clusters of 7–12 W, Re or Mo adatoms 1.2–2 a apart, whose
#: tails lower the chalcogen readings beside them and whose averages pass both thresholds: −0.16 to 0)
FILLED_SHARE = 0.5


def hollow_offset(lattice: ColumnLattice) -> np.ndarray:
    """Fractional offset (lattice coordinates) of the hollow site from its metal site."""
    return (2 * np.asarray(lattice.chalcogen_frac, float)) % 1.0


@lru_cache(maxsize=8)
def _hollow_filters(vectors_px: tuple, chalcogen_frac: tuple, sigma_px: float, pixel_size_A: float,
                    radius_A: float, bins: int):
    """Per sub-pixel bin of a hollow site: the least-squares filter of its column amplitude (the
    column model's patch with a Gaussian on every metal, chalcogen and hollow site within reach, and
    a plane: :func:`helpers.detect.column_model._rows`) and the disc of pixels it uses; and the
    patch half-size R (px)."""
    A, cf = np.asarray(vectors_px, float), np.asarray(chalcogen_frac, float)
    out, R = {}, 0
    for by in range(bins):
        for bx in range(bins):
            q = (np.array([by, bx]) + 0.5) / bins
            yy, xx, disc, sites, names, dist, R = _patch_model(A, cf, sigma_px, pixel_size_A, radius_A, "hollow", q, True)
            rows = _rows(yy, xx, disc, sites, names, dist, sigma_px, 0.0, _subs(True))
            out[(by, bx)] = (rows["centre"], disc)
    return out, R


def measure_hollows(image, metal_positions, lattice: ColumnLattice, radius_A: float = 5.0,
                    bins: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Column amplitude (image units) on the hollow site of each metal site.

    Parameters
    ----------
    image : ndarray (H, W)
    metal_positions : ndarray (n, 2)
        Metal sites (row, col px).
    lattice : ColumnLattice
    radius_A : float
        Fitting disc radius (Å), as the site reading's.
    bins : int
        Sub-pixel bins.

    Returns
    -------
    positions : ndarray (n, 2)
        The hollow sites (px).
    amplitudes : ndarray (n,)
        NaN where the fitting disc leaves the image.
    """
    img = np.asarray(image, np.float32)
    filters, R = _hollow_filters(tuple(map(tuple, lattice.vectors)), tuple(lattice.chalcogen_frac),
                                 float(lattice.sigma_px), float(lattice.pixel_size_A), float(radius_A), bins)
    p = np.asarray(metal_positions, float).reshape(-1, 2) + hollow_offset(lattice) @ lattice.vectors
    anchor = np.floor(p).astype(int)
    inside = ((anchor[:, 0] - R >= 0) & (anchor[:, 1] - R >= 0)
              & (anchor[:, 0] + R + 1 < img.shape[0]) & (anchor[:, 1] + R + 1 < img.shape[1]))
    b = np.minimum(((p - anchor) * bins).astype(int), bins - 1)
    yy, xx = np.mgrid[-R:R + 2, -R:R + 2]
    out = np.full(len(p), np.nan)
    for (by, bx), (row, disc) in filters.items():
        sel = np.flatnonzero(inside & (b[:, 0] == by) & (b[:, 1] == bx))
        if len(sel):
            patches = img[anchor[sel, 0, None] + yy[disc][None], anchor[sel, 1, None] + xx[disc][None]]
            out[sel] = patches @ row.astype(np.float32)
    return p, out


def smoothed(positions, values, sigma_px: float, at=None) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-weighted average of ``values`` over the sites within 3σ of each point of ``at``
    (default: the sites themselves), and Σw²/(Σw)² (the variance of the average for unit-variance
    independent values). NaN values are left out.

    Parameters
    ----------
    positions : ndarray (n, 2)
        px.
    values : ndarray (n,)
    sigma_px : float
    at : ndarray (m, 2), optional
        px.

    Returns
    -------
    (ndarray (m,), ndarray (m,))
    """
    from scipy.spatial import cKDTree

    v = np.asarray(values, float)
    ok = np.isfinite(v)
    pos = np.asarray(positions, float)[ok]
    at = np.asarray(positions if at is None else at, float).reshape(-1, 2)
    if not ok.any():
        return np.full(len(at), np.nan), np.full(len(at), np.nan)
    W = cKDTree(at).sparse_distance_matrix(cKDTree(pos), 3 * sigma_px, output_type="coo_matrix")
    w = np.exp(-W.data ** 2 / (2 * sigma_px ** 2))  # (a site at distance 0 is kept, with weight 1)
    total = np.bincount(W.row, w, len(at))
    sq = np.bincount(W.row, w * w, len(at))
    wv = np.bincount(W.row, w * v[ok][W.col], len(at))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, wv / total, np.nan), np.where(total > 0, sq / total ** 2, np.nan)


def _sublattice_change(amps, metal, chal, positions, sigma_px: float) -> float:
    """Largest change of either sublattice's averaged columns from its median, up or down, in units
    of the gap between the metal and chalcogen medians (an exchanged domain: about 1, even where
    the frame's displacements misplace its sites; a pristine sheet: ≪ ¼)."""
    pos = np.asarray(positions, float)
    gap = abs(np.nanmedian(amps[metal]) - np.nanmedian(amps[chal]))
    change = 0.0
    for sub in (metal, chal):
        m, _ = smoothed(pos[sub], amps[sub], sigma_px)
        d = np.abs(m - np.nanmedian(amps[sub])) / max(gap, 1e-12 * max(float(np.nanmax(np.abs(amps[sub]))), 1.0))
        change = max(change, float(np.nanmax(d)) if np.isfinite(d).any() else 0.0)
    return change


def _amplitudes(image, kinds, positions, lattice: ColumnLattice, radius_A: float, bins: int) -> np.ndarray:
    """Column amplitudes (:func:`helpers.detect.site_measure.measure_amplitudes`, Gaussian cores) of
    the sites whose fitting disc lies inside the image; NaN for the others."""
    p = np.asarray(positions, float)
    reach = np.ceil(radius_A / float(lattice.pixel_size_A)) + 2
    ok = np.all((p >= reach) & (p <= np.array(np.shape(image)[:2]) - 1 - reach), axis=1)
    out = np.full(len(p), np.nan)
    out[ok] = measure_amplitudes(image, np.asarray(kinds, object)[ok], p[ok], lattice, radius_A, bins)
    return out


def _lower_spread(x) -> float:
    """Standard deviation of the finite values of ``x`` from their lowest quarter alone: the
    median distance below their 25th percentile, over 0.477 (its value for a normal
    distribution). A population above (an area of another phase, up to three quarters of the
    values) does not widen it."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if not len(x):
        return 0.0
    q = np.percentile(x, 25)
    below = q - x[x < q]
    return float(np.median(below) / 0.4766) if len(below) else 0.0


def _robust(x) -> tuple[float, float]:
    """Median and MAD-based standard deviation (:func:`helpers.detect.areas._relative_spread`) of the
    finite values of ``x``."""
    x = np.asarray(x, float)
    return _relative_spread(x[np.isfinite(x)])


def other_phase(image, kinds, positions, ratios, references, lattice: ColumnLattice, use,
                scale_A: float = 5.0, min_cells: float = 4.0, grow_A: float = 3.0, radius_A: float = 5.0,
                bins: int = 4, share: float = HOLLOW_SHARE, z: float = HOLLOW_Z, undisplaced=None,
                distortion_sigma_px: float = 25.0) -> tuple[np.ndarray, dict]:
    """The pixels of the areas whose hollow sites hold atoms (module text), and what was measured.

    Parameters
    ----------
    image : ndarray (H, W)
        The frame read.
    kinds, positions : ndarray (n,), ndarray (n, 2)
        The frame's sites (as :func:`helpers.detect.site_measure.enumerate_sites`, px).
    ratios : ndarray (n,)
        Each site's reading in units of its local pristine metal column.
    references : ndarray (n,)
        Each site's local pristine metal column amplitude (image units).
    lattice : ColumnLattice
    use : ndarray (n,) of bool
        Sites in the lattice area (the hollow readings of others are left out).
    scale_A, min_cells, grow_A : float
        Averaging width σ, smallest area (unit cells) and growth (Å), as
        :class:`helpers.detect.areas.AreaParams`.
    radius_A : float
        Fitting disc radius (Å).
    bins : int
    share, z : float
        Thresholds (module text).
    undisplaced : ndarray (n, 2), optional
        The sites on the frame's lattice before the local displacements (px): the hollow sites are
        then placed by :func:`helpers.detect.site_placement.invariant_displacements` (smoothed over
        ``distortion_sigma_px``), which a change of phase does not move; None: at ``positions``.
    distortion_sigma_px : float

    Returns
    -------
    pixels : ndarray (H, W) of bool
        True inside an area of another phase.
    measured : dict
        ``hollow_median``, ``hollow_sd`` (one site's scatter), ``chalcogen_median`` (metal columns),
        ``threshold``, ``hollow_sites`` flagged and ``filled`` (per area, its share of
        :data:`FILLED_SHARE`'s measure).
    """
    from scipy import ndimage
    from scipy.spatial import cKDTree

    kinds = np.asarray(kinds, object)
    ps = float(lattice.pixel_size_A)
    metal = (kinds == METAL) & np.asarray(use, bool) & np.isfinite(references) & (np.asarray(references) > 0)
    chal = (kinds == CHALCOGEN) & np.asarray(use, bool) & np.isfinite(ratios)
    empty = np.zeros(np.shape(image)[:2], bool)
    if metal.sum() < 20 or chal.sum() < 20:
        return empty, {}
    pos = np.asarray(positions, float)
    if undisplaced is not None:  # every site where the phase-invariant displacements place it
        u0 = np.asarray(undisplaced, float)
        # (the translate nearest the frame's lattice: an exchanged domain moves the two-reflection
        # placement by most of a third of a cell, so it is no reference to fold onto here)
        pos = u0 + invariant_displacements(image, lattice, u0, distortion_sigma_px)
    mpos = pos[metal]
    hpos, hamp = measure_hollows(image, mpos, lattice, radius_A, bins)
    h = hamp / np.asarray(references, float)[metal]
    if np.isfinite(h).sum() < 20:
        return empty, {}
    med, sd = _robust(h)
    ratios = np.asarray(ratios, float)
    chalcogen, chal_sd = _robust(ratios[chal])
    sigma = scale_A / ps
    mean, var = smoothed(hpos, h, sigma)
    # the chalcogen columns around each hollow site: an atom moved to the hollow site left them
    c_mean, c_var = smoothed(np.asarray(positions, float)[chal], ratios[chal], sigma, at=hpos)
    excess, deficit = mean - med, chalcogen - c_mean
    # each average's noise: from the sites' scatter, or (correlated noise) the averages' own spread
    # on the side that another phase does not reach
    noise_h = np.maximum(sd * np.sqrt(var), _lower_spread(mean))
    noise_c = np.maximum(chal_sd * np.sqrt(c_var), _lower_spread(-c_mean))
    floor = share * abs(chalcogen)
    on_hollow = (np.isfinite(excess) & np.isfinite(deficit) & (excess > np.maximum(floor, z * noise_h))
                 & (deficit > np.maximum(floor, z * noise_c)))
    # the sublattices exchanged (a domain turned about a hollow site): metal sites read as pairs, and
    # chalcogen sites as metals, by more than half the gap between the two levels. The amplitudes
    # over the frame's median metal column: the local metal reference would follow the exchange
    with np.errstate(invalid="ignore", over="ignore"):  # a blank area: no metal reference
        amps = np.asarray(ratios, float) * np.asarray(references, float)  # as read (the frame's displacements)
    if undisplaced is not None and _sublattice_change(amps, metal, chal, positions, sigma) > 0.25:
        amps = _amplitudes(image, kinds, pos, lattice, radius_A, bins)  # read again where the phase is not moved
    unit = float(np.nanmedian(amps[metal]))
    metal_level, metal_sd = _robust(amps[metal] / unit)
    chal_level, chal_amp_sd = _robust(amps[chal] / unit)
    gap = metal_level - chal_level
    m_mean, m_var = smoothed(pos[metal], amps[metal] / unit, sigma, at=hpos)
    a_mean, a_var = smoothed(pos[chal], amps[chal] / unit, sigma, at=hpos)
    d_m, d_c = np.sign(gap) * (metal_level - m_mean), np.sign(gap) * (a_mean - chal_level)
    exchanged = (np.isfinite(d_m) & np.isfinite(d_c)
                 & (d_m > np.maximum(0.5 * abs(gap), z * np.maximum(metal_sd * np.sqrt(m_var), _lower_spread(d_m))))
                 & (d_c > np.maximum(0.5 * abs(gap), z * np.maximum(chal_amp_sd * np.sqrt(a_var), _lower_spread(d_c)))))
    flagged = on_hollow | exchanged
    # how far each hollow site is into either kind of area (1 inside an inversion domain)
    strength = np.nan_to_num(np.maximum(np.minimum(excess, deficit) / abs(chalcogen),
                                        np.minimum(d_m, d_c) / max(abs(gap), 1e-9)), nan=0.0)
    measured = {"hollow_median": med, "hollow_sd": sd, "chalcogen_median": chalcogen, "threshold": float(floor),
                "hollow_sites": 0, "exchanged_sites": int(exchanged.sum())}
    if not flagged.any():
        return empty, measured
    # connected areas (hollow sites one lattice constant apart) of at least min_cells sites
    a_px = float(min(np.linalg.norm(lattice.vectors, axis=1)))
    idx = np.flatnonzero(flagged)
    pairs = cKDTree(hpos[idx]).query_pairs(1.2 * a_px, output_type="ndarray")
    labels = np.arange(len(idx))
    if len(pairs):
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(idx), len(idx)))
        labels = connected_components(graph, directed=False)[1]
    sizes = np.bincount(labels)
    big = sizes[labels] >= min_cells
    # each area's edge at half its own level (the averaging spreads a strong area's excess beyond it)
    level = np.zeros(len(sizes))
    for lab in np.unique(labels[big]):
        level[lab] = np.percentile(strength[idx[labels == lab]], 90)
    core = big & (strength[idx] > 0.5 * level[labels])
    # another phase holds an atom on most of its hollow sites; adatoms, even in a cluster, on a few
    measured["filled"] = []
    for lab in np.unique(labels[core]):
        mine = core & (labels == lab)
        if exchanged[idx[mine]].any():
            continue
        filled = float(np.nanmedian(h[idx[mine]] - med) / np.nanmedian(excess[idx[mine]]))
        measured["filled"].append(filled)
        if not filled >= FILLED_SHARE:
            core[mine] = False
    keep = idx[core]
    measured["hollow_sites"] = int(len(keep))
    if not len(keep):
        return empty, measured
    seeds = np.zeros_like(empty)
    rc = np.clip(np.rint(hpos[keep]).astype(int), 0, np.array(empty.shape) - 1)
    seeds[rc[:, 0], rc[:, 1]] = True
    reach = a_px / np.sqrt(3) + grow_A / ps  # a hollow site's cell, and the rim's columns
    return ndimage.distance_transform_edt(~seeds) <= reach, measured


def stamp_other_phase(area_map: AreaMap, image, kinds, positions, ratios, references, lattice: ColumnLattice,
                      area, p, undisplaced=None) -> tuple[AreaMap, np.ndarray, float]:
    """One frame's areas of another phase (:func:`other_phase`) stamped into its area map as
    ``other_phase`` where the map has lattice.

    Parameters
    ----------
    area_map : AreaMap
        The frame's map.
    image, kinds, positions, ratios, references, lattice
        As :func:`other_phase`.
    area : ndarray (n,)
        Each site's label in ``area_map``.
    p : helpers.detect.site_model.SiteParams
        Area settings, fitting disc, sub-pixel bins, distortion smoothing.
    undisplaced : ndarray (n, 2), optional
        As :func:`other_phase`.

    Returns
    -------
    (AreaMap, ndarray (n,), float)
        The map, the sites' labels in it, and the share of the map labelled ``other_phase`` (0
        when none), here or before by :func:`helpers.detect.areas.find_areas`.
    """
    ap, ps = p.areas, float(lattice.pixel_size_A)
    pixels, _ = other_phase(image, kinds, positions, ratios, references, lattice, np.asarray(area) == LATTICE,
                            ap.scale_A, ap.min_cells, ap.grow_A, p.radius_A, p.bins, undisplaced=undisplaced,
                            distortion_sigma_px=p.distortion_sigma_A / ps)
    if not pixels.any():  # the areas find_areas labelled already (its in-phase ring test) still count
        return area_map, area, float(np.mean(area_map.labels == OTHER_PHASE))
    m = area_map.stamped(pixels & area_map.pixels_of(LATTICE), OTHER_PHASE)
    return m, m.at(positions, rim_px(ap, p.radius_A, ps)), float(np.mean(m.labels == OTHER_PHASE))


def other_phase_note(shares: dict, n_frames: int) -> str:
    """The reading's note on the areas of another phase: ``shares`` {frame: share of the frame}."""
    where = (f"in {len(shares)} of {n_frames} frames (up to {100 * max(shares.values()):.1f} % of a frame)"
             if n_frames > 1 else f"over {100 * max(shares.values()):.1f} % of the image")
    return (f"the 2H lattice's cell changed {where} (atoms on its hollow sites, or its first-order "
            "reflections gone while the in-phase ones stay): another phase (1T/1T′, an inversion "
            "domain or another stacking), masked as other_phase and not read as point defects")
