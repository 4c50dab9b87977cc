"""A second grain read with its own lattice.

A grain of another orientation does not carry the main lattice's Fourier components, so
:func:`helpers.detect.areas.find_areas` masks it as ``no_lattice`` (as it masks amorphous material).
Where such an area is large enough to hold a lattice of its own, :func:`find_other_grains` fits one
on it (the area alone, the rest of its box filled with the area's mean) and keeps it when that
lattice's local amplitude inside the area is that of a lattice (at least the area threshold of
:class:`helpers.detect.areas.AreaParams` times the main lattice's median amplitude on the main
grain) and its orientation differs from the main one. :func:`read_other_grains` then reads the sites of each
such grain with :func:`helpers.detect.sites.read_sites` — its own lattice, pristine levels, noise
and gain — on the grain's box, the rest of the box imposed as masked; the sites whose fitting disc
lies inside the grain join the reading with their ``grain`` number, and the grain's area is
relabelled ``other_grain`` (read, not masked).

Positions are (row, col) px; lengths in Å.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from helpers.core.validation import check_pixel_size
from helpers.detect.areas import LATTICE, NO_LATTICE, OTHER_GRAIN, AreaMap, lattice_amplitude
from helpers.detect.column_model import ColumnLattice
from helpers.detect.lattice import fit_column_lattice


@dataclass
class GrainParams:
    """Settings of :func:`find_other_grains` (lengths in Å)."""

    #: fewest unit cells a ``no_lattice`` area must hold, after the rim of ``rim_A`` is taken off,
    #: to be tried as a grain (enough sites for its own pristine levels and noise)
    min_cells: float = 150.0
    #: sites closer than this to the grain's edge are not read (their fitting disc would reach into
    #: the boundary or the other grain): the site reading's fitting radius
    rim_A: float = 5.0
    #: orientations closer than this to the main lattice's (mod 60°) are not another grain
    min_rotation_deg: float = 2.0


@dataclass
class Grain:
    """A grain of another orientation: its box in the frame (px), its pixels in the box (first
    frame), its lattice (box coordinates) and how it was told apart."""

    index: int  # 1, 2, … (0 is the main lattice)
    rows: slice
    cols: slice
    mask: np.ndarray  # (h, w) bool: the grain's pixels in its box
    lattice: ColumnLattice
    rotation_deg: float  # orientation less the main lattice's, in (−30°, 30°]
    amplitude: float  # its lattice's median local amplitude inside the grain, over the main one's
    area_fraction: float  # of the image


def orientation_deg(lattice: ColumnLattice) -> float:
    """Orientation of a hexagonal lattice (degrees, in [0, 60)): the angle of its first vector.

    Parameters
    ----------
    lattice : ColumnLattice

    Returns
    -------
    float
    """
    a1 = lattice.vectors[0]
    return float(np.degrees(np.arctan2(a1[0], a1[1])) % 60.0)


def find_other_grains(image, area_map: AreaMap, lattice: ColumnLattice, pixel_size_A: float,
                      lattice_a_A: float, p: GrainParams | None = None,
                      chalcogen_brighter: bool = False) -> list[Grain]:
    """The ``no_lattice`` areas of ``area_map`` that hold a lattice of another orientation.

    Parameters
    ----------
    image : ndarray (H, W)
        The frame (or registered sum) the area map was found on.
    area_map : AreaMap
        From :func:`helpers.detect.areas.find_areas`.
    lattice : ColumnLattice
        The main lattice.
    pixel_size_A : float
        Pixel size (Å/px).
    lattice_a_A : float
        Lattice constant of the material (Å).
    p : GrainParams, optional
    chalcogen_brighter : bool
        The material's chalcogen columns are the brighter ones (as for
        :func:`helpers.detect.lattice.fit_column_lattice`).

    Returns
    -------
    list of Grain
        Largest first; empty when there is none.
    """
    from scipy import ndimage

    p = p or GrainParams()
    ps = check_pixel_size(pixel_size_A)
    img = np.asarray(image, np.float64)
    if not np.any(area_map.labels == NO_LATTICE):
        return []
    rim_px = p.rim_A / ps
    cell_px2 = abs(np.linalg.det(lattice.vectors))
    full = area_map.pixels_of(NO_LATTICE)
    lab, n = ndimage.label(full)
    sigma_px = area_map.params.scale_A / ps
    step = area_map.step_px
    main_amp = None
    grains = []
    for k, box in enumerate(ndimage.find_objects(lab), start=1):
        mask = lab[box] == k
        inner = ndimage.binary_erosion(mask, iterations=int(np.ceil(rim_px)))
        if inner.sum() < p.min_cells * cell_px2 or min(mask.shape) < 64:
            continue
        crop = img[box]
        filled = np.where(mask, crop, crop[mask].mean())
        try:
            own = fit_column_lattice(filled, ps, lattice_a_A, chalcogen_brighter=chalcogen_brighter)
        except ValueError:
            continue
        rot = (orientation_deg(own) - orientation_deg(lattice) + 30.0) % 60.0 - 30.0
        if abs(rot) < p.min_rotation_deg:
            continue
        if main_amp is None:  # the main lattice's amplitude on the main grain
            amp = lattice_amplitude(img, lattice, sigma_px, step)[0]
            main_amp = float(np.median(amp[area_map.labels == LATTICE]))
        amp_own = lattice_amplitude(crop, own, sigma_px, step)[0]
        ratio = float(np.median(amp_own[inner[::step, ::step][:amp_own.shape[0], :amp_own.shape[1]]])) / main_amp
        if ratio < area_map.params.lattice_below:
            continue
        grains.append(Grain(0, box[0], box[1], mask, own, float(rot), ratio, float(mask.sum() / img.size)))
    grains.sort(key=lambda g: -g.area_fraction)
    return [replace(g, index=i) for i, g in enumerate(grains, start=1)]


class _CroppedFrames:
    """A box of every frame of a stack (lazy: a frame is cut when it is asked for)."""

    def __init__(self, stack, rows: slice, cols: slice):
        self._stack, self._box = stack, (rows, cols)
        self.shape = (len(stack), rows.stop - rows.start, cols.stop - cols.start)
        self.ndim = 3

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t):
        return np.asarray(self._stack[int(t)])[self._box]


def read_other_grains(frames, reading, read, image, pixel_size_A: float, lattice_a_A: float, p=None,
                      chemistry=None, grain_params: GrainParams | None = None):
    """``reading`` with the sites of every other grain read with its own lattice.

    The grains are looked for on the first area map of ``reading`` (:func:`find_other_grains`).
    Each grain's box is read by ``read`` (:func:`helpers.detect.sites.read_sites`) with the grain's lattice,
    the reading's drift, and an imposed area map (the grain, less a rim of ``rim_A``, is lattice;
    the rest of the box masked). Its read sites replace the main reading's masked sites there; the
    main area maps label the grain ``other_grain``.

    Parameters
    ----------
    frames : ndarray (n, H, W) or (H, W), or a lazy stack
        The frames ``reading`` was read from.
    reading : SiteReading
        From :func:`helpers.detect.sites.read_sites`.
    read : callable
        :func:`helpers.detect.sites.read_sites` (passed in: that module calls this one).
    image : ndarray (H, W)
        The image the first area map of ``reading`` was found on (a frame or registered sum).
    pixel_size_A : float
        Pixel size (Å/px).
    lattice_a_A : float
        Lattice constant of the material (Å).
    p : SiteParams, optional
        The site reading's settings.
    chemistry : Chemistry, optional
        Default: the reading's.
    grain_params : GrainParams, optional

    Returns
    -------
    SiteReading
        The same reading where no grain was found; else a copy whose ``sites`` hold the grains'
        sites too (column ``grain``: 0 for the main lattice) and whose ``grains`` describe them.
    """
    from scipy import ndimage

    gp = grain_params or GrainParams()
    ps = check_pixel_size(pixel_size_A)
    if not reading.area_maps or 0 not in reading.area_maps:
        return reading
    arr = frames if getattr(frames, "ndim", 2) == 3 else np.asarray(frames)[None]
    n = len(arr)
    chem = chemistry or reading.chemistry
    grains = find_other_grains(image, reading.area_maps[0], reading.lattice, ps, lattice_a_A, gp,
                               chalcogen_brighter=chem.chalcogen_brighter)
    if not grains:
        return reading
    rim_px = int(np.ceil(gp.rim_A / ps))
    sites = reading.sites.assign(grain=np.zeros(len(reading.sites), np.int16))
    parts, info = [sites], []
    maps = {t: replace(m) for t, m in reading.area_maps.items()}
    for g in grains:
        inner = ndimage.binary_erosion(g.mask, iterations=rim_px)
        step = reading.area_maps[0].step_px
        labels = np.where(inner[::step, ::step], LATTICE, NO_LATTICE).astype(np.uint8)
        imposed = AreaMap(labels, None, None, ps, step, g.mask.shape, reading.area_maps[0].params)
        box = _CroppedFrames(arr, g.rows, g.cols) if not isinstance(arr, np.ndarray) else arr[:, g.rows, g.cols]
        try:
            r = read(box, ps, lattice_a_A, p=p, shifts=reading.shifts, lattice=g.lattice,
                              chemistry=chem, area_map=imposed)
        except ValueError as e:
            info.append({"grain": g.index, "read": False, "problem": str(e)})
            continue
        gs = r.sites[r.sites["area"] == LATTICE].copy()
        gs["row"] += g.rows.start
        gs["col"] += g.cols.start
        gs["x_A"], gs["y_A"] = gs["col"] * ps, gs["row"] * ps
        gs["area"] = np.uint8(OTHER_GRAIN)
        gs["grain"] = np.int16(g.index)
        parts.append(gs)
        # the main reading's masked sites inside the grain are now read: drop them
        s0 = parts[0]
        drift = reading.shifts[s0["frame"].to_numpy()] - reading.shifts[0]
        rr = np.rint(s0["row"].to_numpy() - drift[:, 0] - g.rows.start).astype(int)
        cc = np.rint(s0["col"].to_numpy() - drift[:, 1] - g.cols.start).astype(int)
        inside = (rr >= 0) & (rr < inner.shape[0]) & (cc >= 0) & (cc < inner.shape[1])
        inside[inside] = inner[rr[inside], cc[inside]]
        parts[0] = s0[~(inside & (s0["area"].to_numpy() != LATTICE))]
        for m in maps.values():  # relabel the grain in every area map (they follow the drift)
            full = np.zeros(m.shape, bool)
            full[g.rows, g.cols] = inner
            grid = full[::m.step_px, ::m.step_px][:m.labels.shape[0], :m.labels.shape[1]]
            m.labels = np.where(grid & (m.labels == NO_LATTICE), OTHER_GRAIN, m.labels).astype(np.uint8)
        info.append({"grain": g.index, "read": True, "rotation_deg": round(g.rotation_deg, 2),
                     "lattice_amplitude": round(g.amplitude, 3),
                     "area_fraction": round(float(inner.sum()) / float(np.prod(reading.area_maps[0].shape)), 4),
                     "area_fraction_found": round(g.area_fraction, 4),
                     "box_px": [g.rows.start, g.rows.stop, g.cols.start, g.cols.stop],
                     "sites_per_frame": round(len(gs) / n, 1), "defects": int(gs["significant"].sum()),
                     "column_sigma_A": g.lattice.sigma_px * ps, "gain": r.gain, "noise_per_frame": r.noise,
                     "chalcogen_over_metal": r.chalcogen_over_metal})
    merged = pd.concat(parts, ignore_index=True).sort_values("frame", kind="stable").reset_index(drop=True)
    return replace(reading, sites=merged, area_maps=maps, grains=info)
