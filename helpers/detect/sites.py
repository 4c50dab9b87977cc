"""Every lattice site read: column contents of both sublattices through time, and the defects.

The detector of DefectFinder's default path (``docs/site_reading.md``). Instead of asking a network
where the defects are, every metal and chalcogen site of the lattice is measured in every frame,
and a site is a defect where its column content differs from the pristine content of its
sublattice by more than the noise allows:

1. The lattice (vectors, which honeycomb site holds the chalcogen columns, column width) is fitted
   on the data (:func:`helpers.detect.lattice.fit_column_lattice`, on the central part of the registered
   sum of the first frames); it is placed in every frame by its Fourier phases, the drift from
   phase correlation choosing the translate so that a site keeps its indices (i, j) in every frame,
   and each site follows the local lattice phase (scan distortion, strain:
   :func:`helpers.detect.site_placement.placement_displacements`).
2. Every site whose fitting disc (and classifier window: 9.6 Å) lies inside the frame is read by
   linear least squares — Gaussians of the fitted width on all lattice sites within ``radius_A``
   plus a plane (:func:`_site_filters`) — twice: cores only, and with a halo term that takes the
   probe tail's share of a content change; the second calibrates the gain of the first
   (:func:`calibrate_gain`). The amplitude over the median of the nearest metal columns is the
   content in metal units; the share a neighbour's change leaves in it is removed
   (:func:`helpers.detect.site_crosstalk.remove_crosstalk`).
3. The pristine level and the noise of one reading of each sublattice are measured on each
   frame's own sites (median, normalised MAD; the noise grows with the content, as shot noise does).
4. Each site's readings through the movie go into a hidden Markov model of its content
   (:func:`site_posteriors`): pristine, or a defect content of its sublattice — metal site empty
   (``Vw``), one chalcogen (``Sw``), a lighter metal (``Mo``); chalcogen site empty (``Vs2``), one
   atom (``Vs``), a metal (``W2s2``), metal + chalcogen (``Ws``); its rates of content change
   refitted to the movie (:func:`helpers.detect.site_model.fit_transitions`). A site is a defect in
   a frame where its pristine content is the less probable one. One image: the same with one frame.

Positions are (row, col) px with pixel centres at integer coordinates; lengths in Å.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from helpers.core.chemistry import CHALCOGEN, METAL, Chemistry
from helpers.core.validation import check_image, check_pixel_size
from helpers.detect.adatoms import adatom_table, find_adatoms, reread_beside, search_sites
from helpers.detect.areas import AREA_NAMES, LATTICE, AreaMap, find_areas, rim_px
from helpers.detect.column_model import ColumnLattice
from helpers.detect.grains import read_other_grains
from helpers.detect.hollow_sites import other_phase_note, stamp_other_phase
from helpers.detect.lattice import fit_column_lattice
from helpers.detect.off_levels import above_level_notes, above_levels, off_level_notes, off_levels
from helpers.detect.registration import (frame_shifts, lattice_continuous_shifts, registered_sum,
                                         registered_sum_and_others)
from helpers.detect.scan_glitches import frame_areas, glitch_note
from helpers.detect.site_decode import _decode
from helpers.detect.site_halo import choose_halo, halo_bias
from helpers.detect.site_levels import class_separations  # noqa: F401 (its home until 5 December 2026)
from helpers.detect.sublattices import levels_straddle_metal, metal_sublattice, unnamed_substituent_note
from helpers.detect.site_measure import (_RecentFrames, central_crop, enumerate_sites, frame_origins,
                                         measure_amplitude_sets, metal_reference, plausible_width)
from helpers.detect.site_placement import chalcogen_varies, placement_displacements
from helpers.detect.field_size import few_sites_note
from helpers.detect.site_model import SITE_COLUMNS, WS2, SiteParams


def defects_of(sites: pd.DataFrame) -> pd.DataFrame:
    """The defects of a classified site table: the significant sites (their content is not the
    pristine one).

    Parameters
    ----------
    sites : DataFrame
        A classified site table.

    Returns
    -------
    DataFrame
    """
    return sites[sites["significant"]]


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
    #: {first frame: :class:`helpers.detect.areas.AreaMap`} where the areas were found (frames until the
    #: next key use it, shifted by the drift); empty when not masked
    area_maps: dict = field(default_factory=dict)
    #: grains of another orientation read with their own lattice (:mod:`helpers.detect.grains`): one
    #: dict each (rotation, area, sites, defects, their reading's noise and gain); their sites are in
    #: ``sites`` with ``grain`` > 0
    grains: list = field(default_factory=list)
    #: the halo width the gain was calibrated with and the test that chose it (:mod:`helpers.detect.site_halo`)
    halo: dict = field(default_factory=dict)
    #: {frame: rows holding a scan glitch} (:mod:`helpers.detect.scan_glitches`), masked in that frame
    scan_glitches: dict = field(default_factory=dict)
    #: single atoms on hollow sites (:mod:`helpers.detect.adatoms`): frame, row, col, content, z, x_A, y_A
    adatoms: pd.DataFrame | None = None

    @property
    def defects(self) -> pd.DataFrame:
        """The rows of ``sites`` that are defects."""
        return defects_of(self.sites)

    def area_fractions(self) -> dict:
        """Share of the image area of each kind of area (:data:`helpers.detect.areas.AREA_NAMES`) and
        ``masked``, averaged over the maps found; {} when not masked."""
        if not self.area_maps:
            return {}
        fr = [m.fractions() for m in self.area_maps.values()]
        return {k: float(np.mean([f[k] for f in fr])) for k in fr[0]}

    def area_fractions_per_frame(self) -> pd.DataFrame:
        """:meth:`area_fractions` of the map each frame uses (:meth:`area_map_of`): one row per frame
        (index from 0) — a hole's growth, contamination building up under the beam."""
        rows = {t: self.area_map_of(t)[0] for t in range(len(self.shifts))}
        return pd.DataFrame({t: m.fractions() for t, m in rows.items() if m is not None}).T.rename_axis("frame")

    def area_map_of(self, frame: int) -> tuple[AreaMap | None, np.ndarray]:
        """The area map that frame ``frame`` uses and its offset (row, col px) into that frame: the
        drift since the frame it was found on. (None, 0) when not masked.

        Parameters
        ----------
        frame : int
            From 0.

        Returns
        -------
        (AreaMap or None, ndarray (2,))
        """
        keys = [k for k in self.area_maps if k <= frame]
        if not keys:
            return None, np.zeros(2)
        t0 = max(keys)
        return self.area_maps[t0], np.asarray(self.shifts[frame], float) - np.asarray(self.shifts[t0], float)


def _ratios(positions, kinds, amplitude_sets, k: int) -> tuple:
    """Each site's local pristine metal reference (of the first set's amplitudes,
    :func:`metal_reference`) and both sets' amplitudes over their own set's reference (NaN without one)."""
    refs = [metal_reference(positions, kinds, a, k) for a in amplitude_sets.T]
    with np.errstate(divide="ignore", invalid="ignore"):  # no metal reference (a blank area): NaN
        return (refs[0], *((a / r).astype(np.float32) for a, r in zip(amplitude_sets.T, refs)))


#: the lattice is fitted on the central part of the first frame(s): at least this many px and this
#: many Å across (the fit's cost grows with the area; 100 Å hold ~10^3 unit cells, enough for
#: lattice vectors good to ~10^-4)
LATTICE_FIT_PX, LATTICE_FIT_A = 512, 100.0


#: the column model is refitted on the lattice's own area when more than this share of the fitting
#: crop is something else (another grain, a hole, a thick or contaminated patch)
REFIT_ABOVE_MASKED = 0.05


def _refit_on_own_area(crop: np.ndarray, lattice: ColumnLattice, pixel_size_A: float, lattice_a_A: float,
                       area_params, **fit_kw) -> ColumnLattice:
    """The column model (width, chalcogen ratio, sublattice) refitted with its patches inside the
    lattice's own area of ``crop`` (:func:`find_areas` with the first fit), where more than
    :data:`REFIT_ABOVE_MASKED` of the crop is not that lattice: patches on another grain or a thick
    patch pull the width and ratio. The basis needs no refit (one hexagon's own Fourier peaks)."""
    amap = find_areas(crop, lattice, pixel_size_A, area_params)
    if np.mean(amap.labels == LATTICE) >= 1 - REFIT_ABOVE_MASKED:
        return lattice
    try:
        return fit_column_lattice(crop, pixel_size_A, lattice_a_A, mask=amap.pixels_of(LATTICE), **fit_kw)
    except ValueError:  # the first fit stands
        return lattice


def read_sites(frames, pixel_size_A: float, lattice_a_A: float | None = None, p: SiteParams | None = None,
               shifts=None, lattice: ColumnLattice | None = None, progress: bool = False,
               chemistry: Chemistry = WS2, area_map: AreaMap | None = None) -> SiteReading:
    """Read every lattice site of an image or a movie and find the defects among them.

    ``chemistry`` (:func:`helpers.core.chemistry.chemistry_of`): the material's elements and candidate
    dopants, which name the contents read; ``lattice_a_A`` defaults to its lattice constant.

    ``frames``: (H, W) or (n, H, W) in counts (or any linear intensity). The lattice is fitted on
    the registered sum of the first 2·``p.sum_half_window`` + 1 frames unless given; each frame is
    read on its own (independent noise); each site's contents through the movie come from
    :func:`site_posteriors`, so a defect seen for many frames is found at a dose at which one frame
    could not show it. Returns a :class:`SiteReading` whose ``sites`` has one row per site and frame
    (columns :data:`SITE_COLUMNS`).

    Parameters
    ----------
    frames : ndarray (H, W) or (n, H, W)
        Counts or any linear intensity.
    pixel_size_A : float
        Pixel size (Å/px).
    lattice_a_A : float, optional
        Lattice constant (Å); default: the chemistry's material.
    p : SiteParams, optional
        Reading settings (noise model, time model, masks).
    shifts : ndarray (n, 2), optional
        Drift of each frame (px); measured when None (each step then the lattice translate nearest
        the typical step of its neighbours: :func:`helpers.detect.registration.lattice_continuous_shifts`).
    lattice : ColumnLattice, optional
        A lattice fitted before; fitted on the data when None.
    progress : bool
        Show a progress bar.
    chemistry : Chemistry
        Elements and candidate dopants that name the contents.
    area_map : AreaMap, optional
        Areas imposed on the first frame (followed by the drift) instead of those found on the data
        (``p.mask_areas``); :func:`helpers.detect.grains.read_other_grains` reads a grain this way.

    Returns
    -------
    SiteReading
        ``sites`` (one row per site and frame), the lattice, contents, noise model and area maps.
    """
    import time

    from tqdm.auto import tqdm


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
    t0 = t_start = time.perf_counter()
    n = len(arr)
    computed_shifts = shifts is None and n > 1
    if shifts is None:
        shifts = frame_shifts(arr) if n > 1 else np.zeros((1, 2))
    swap_note = None
    if lattice is None:
        first = registered_sum(arr, shifts, 0, p.sum_half_window)[0] if n > 1 else arr[0]
        size = max(LATTICE_FIT_PX, int(np.ceil(LATTICE_FIT_A / ps)))
        a = chemistry.lattice_a_A if lattice_a_A is None else lattice_a_A
        crop = central_crop(first, size)
        alike = levels_straddle_metal(chemistry)  # (then the fit starts from the host's contrast)
        r0 = chemistry.expected_ratio()
        fit_kw = dict(chalcogen_brighter=chemistry.chalcogen_brighter, sublattices_alike=alike,
                      start_ratio=min(r0, 1 / r0) if alike else 0.15)  # the first fit and the refit alike
        lattice = fit_column_lattice(crop, ps, a, **fit_kw)
        if p.mask_areas and area_map is None:
            lattice = _refit_on_own_area(crop, lattice, ps, a, p.areas, **fit_kw)
        lattice, swap_note = metal_sublattice(crop, lattice, chemistry, p.radius_A, p.bins)
    lattice, width_note = plausible_width(lattice)
    t_lat = time.perf_counter() - t0
    t0 = time.perf_counter()
    if computed_shifts:  # a lattice translate picked by the correlation in place of the drift
        shifts = lattice_continuous_shifts(shifts, lattice.vectors)
    origins = frame_origins(arr, lattice, shifts)
    invariant = chalcogen_varies(chemistry) if p.invariant_placement is None else bool(p.invariant_placement)
    cols = {k: [] for k in ("frame", "kind", "i", "j", "row", "col", "amplitude", "ratio", "ratio_halo", "area")}
    area_maps, t_areas, area_at, area_image, glitch_rows, phase_frames, adatoms = {}, 0.0, None, None, {}, {}, []
    shifts = np.asarray(shifts, float)
    for t in tqdm(range(n), desc="reading sites", disable=not progress):
        img = arr[t].astype(np.float64)
        kinds, pos, ij = enumerate_sites(img.shape, origins[t], lattice, p.margin_px(ps))
        others = valid = None
        ref_img = img
        if n > 1 and (p.follow_distortion or (p.mask_areas and p.scan_glitches is not None)):
            ref_img, others, valid = registered_sum_and_others(arr, shifts, t, p.sum_half_window)
        pos0 = pos  # the frame's lattice, before the local displacements
        if p.follow_distortion:  # the local lattice phase of the frame's registered sum (less noise)
            pos = pos + placement_displacements(ref_img, lattice, origins[t], p.distortion_sigma_A / ps, pos,
                                                invariant)
            # the margin holds for the displaced positions too (nothing reported inside it)
            m = p.margin_px(ps)
            inside = np.all((pos >= m) & (pos <= np.array(img.shape) - 1 - m), axis=1)
            kinds, pos, ij, pos0 = kinds[inside], pos[inside], ij[inside], pos0[inside]
        if area_map is not None:
            if t == 0:
                area_maps[0], area_at = area_map, 0
            area = area_maps[0].at(pos - (shifts[t] - shifts[0]))
        elif p.mask_areas:
            if t % max(int(p.areas_every), 1) == 0:
                ta = time.perf_counter()
                area_maps[t], rows = frame_areas(img, others, valid, lattice, ps, p.areas, p.scan_glitches,
                                                 p.margin_px(ps), translates=n == 1)
                if rows:
                    glitch_rows[t] = rows
                if t == 0:  # other grains are looked for on the registered sum (less noise)
                    area_image = ref_img if ref_img is not img or n == 1 else registered_sum(
                        arr, shifts, 0, p.sum_half_window)[0]
                if t:  # only the first map keeps its measures (figures); later ones their labels
                    area_maps[t].lattice_amplitude = area_maps[t].background = None
                area_at, t_areas = t, t_areas + time.perf_counter() - ta
            # a feature at x in frame t0 is at x + shifts[t] − shifts[t0] in frame t
            area = area_maps[area_at].at(pos - (shifts[t] - shifts[area_at]), rim_px(p.areas, p.radius_A, ps))
        else:
            area = np.zeros(len(kinds), np.uint8)
        amps = measure_amplitude_sets(img, kinds, pos, lattice, p.radius_A, p.bins, (0.0, p.halo_A))
        ref, ratio, ratio_h = _ratios(pos, kinds, amps, p.reference_neighbours)
        if p.other_phase and area_map is None and p.mask_areas and area_at == t:  # this frame's map is new
            area_maps[t], area, share = stamp_other_phase(area_maps[t], img, kinds, pos, ratio, ref, lattice, area, p,
                                                          pos0 if p.follow_distortion else None)
            if share:
                phase_frames[t] = share
        ads = find_adatoms(img, *search_sites(img.shape, origins[t], lattice, p.radius_A, kinds, pos, pos0, ref,
                                              area == LATTICE), lattice, p.radius_A, p.bins) if p.adatoms else ()
        if len(ads):  # single atoms on hollow sites: listed, and the sites beside them read apart from them
            adatoms.append(ads.assign(frame=t))
            amps = reread_beside(img, kinds, pos, lattice, ads, amps, p.radius_A, p.bins, (0.0, p.halo_A))
            ref, ratio, ratio_h = _ratios(pos, kinds, amps, p.reference_neighbours)
        amp = amps[:, 0]
        # compact columns: a long movie's table grows by one row per site and frame
        for k, v in (("frame", np.full(len(kinds), t, np.int32)), ("kind", kinds), ("i", ij[:, 0].astype(np.int32)),
                     ("j", ij[:, 1].astype(np.int32)), ("row", pos[:, 0]), ("col", pos[:, 1]),
                     ("amplitude", amp.astype(np.float32)), ("ratio", ratio),
                     ("ratio_halo", ratio_h), ("area", area.astype(np.uint8))):
            cols[k].append(v)
    sites = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
    del cols
    sites["x_A"], sites["y_A"] = sites["col"] * ps, sites["row"] * ps
    few = few_sites_note(float((sites["area"] == LATTICE).sum()) / n, arr.shape[1:], ps, p.margin_px(ps) * ps)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    sites, contents, noise, gain, exponent, notes = _decode(sites, p, lattice, chemistry)
    notes = [n for n in (chemistry.sublattice_note(), swap_note, width_note, few,
                         unnamed_substituent_note(sites, chemistry)) if n] + notes
    notes += off_level_notes(off_levels(sites, contents, noise, chemistry, exponent), chemistry)
    ad_table = adatom_table(adatoms, ps, gain)
    notes += above_level_notes(above_levels(sites, contents, noise, chemistry, exponent, adatoms=ad_table), chemistry)
    if glitch_rows:
        notes.append(glitch_note(len(glitch_rows), single=n == 1))
    if phase_frames:
        notes.append(other_phase_note(phase_frames, n))
    halo = {"halo_A": p.halo_A}
    if p.halo_choices_A and p.halo_A in p.halo_choices_A:  # does the probe's tail fit the halo term?
        bias = halo_bias(arr, sites, contents, lattice, p.radius_A, p.bins, p.halo_choices_A)
        chosen = choose_halo(bias, p.halo_A, p.halo_tolerance)
        halo = {"halo_A": chosen, "tested": {k: [float(x) for x in v] for k, v in bias.to_dict("list").items()}}
        if chosen != p.halo_A:  # read again with the width the empty columns ask for
            again = read_sites(arr, ps, lattice_a_A, replace(p, halo_A=chosen, halo_choices_A=()), shifts,
                               lattice, progress, chemistry, area_map)
            again.halo = {**halo, "first_gain": gain}
            again.seconds["total"] += time.perf_counter() - t_start
            return again
    seconds = {"lattice": t_lat, "read": t_read - t_areas, "areas": t_areas, "decode": time.perf_counter() - t0}
    seconds["total"] = sum(seconds.values())
    keep = SITE_COLUMNS + ["ratio_halo", "posterior_defect"]
    sites.drop(columns=[c for c in sites.columns if c not in keep], inplace=True)
    reading = SiteReading(sites[keep] if list(sites.columns) != keep else sites, lattice, contents, noise, gain,
                          np.asarray(shifts, float), seconds, chemistry, exponent,
                          contents[CHALCOGEN][chemistry.pristine(CHALCOGEN)] / contents[METAL][chemistry.pristine(METAL)],
                          notes, area_maps, halo=halo, scan_glitches=glitch_rows, adatoms=ad_table)
    if p.read_grains and area_image is not None:
        t0 = time.perf_counter()
        a_A = chemistry.lattice_a_A if lattice_a_A is None else lattice_a_A
        reading = read_other_grains(arr, reading, read_sites, area_image, ps, a_A, p, chemistry)
        reading.seconds["grains"] = time.perf_counter() - t0
        reading.seconds["total"] += reading.seconds["grains"]
    return reading


def defect_table(reading: SiteReading) -> pd.DataFrame:
    """The defects of a reading in the command's table layout: frame, id (per frame), x/y in px and
    Å (the site's fitted lattice position), class, probability (posterior of that content), site
    (metal / chalcogen), i, j (lattice indices, the same site in every frame), content (metal units),
    z (one frame's reading against its sublattice).

    Parameters
    ----------
    reading : SiteReading
        From :func:`read_sites`.

    Returns
    -------
    DataFrame
        One row per defect and frame (frames from 0, as the reading counts them).
    """
    d = reading.defects
    out = pd.DataFrame({"frame": d["frame"].to_numpy(), "x_px": d["col"].to_numpy(),
                        "y_px": d["row"].to_numpy(), "x_A": d["x_A"].to_numpy(), "y_A": d["y_A"].to_numpy(),
                        "class": d["class"].to_numpy(), "probability": d["probability"].to_numpy(),
                        "site": d["kind"].to_numpy(), "i": d["i"].to_numpy(), "j": d["j"].to_numpy(),
                        "content": d["content"].to_numpy(), "z": d["z"].to_numpy()})
    if "grain" in d:
        out["grain"] = d["grain"].to_numpy()
    out = out.sort_values(["frame", "y_px", "x_px"], kind="stable").reset_index(drop=True)
    out.insert(1, "id", out.groupby("frame").cumcount())
    return out


def site_table(reading: SiteReading, frames: slice | None = None) -> pd.DataFrame:
    """Every site of every frame (``sites.csv``; ``frames``: those frames only): positions as x/y px
    and Å, the reading, its z-score, the decoded content class (``W``/``S2`` for pristine sites) and
    its posterior probability.

    Parameters
    ----------
    reading : SiteReading
        From :func:`read_sites`.
    frames : slice, optional
        Frames to list (all when None).

    Returns
    -------
    DataFrame
        One row per site and frame.
    """
    s = reading.sites
    if frames is not None:
        f = s["frame"].to_numpy()
        lo, hi = np.searchsorted(f, [frames.start or 0, frames.stop if frames.stop is not None else f.max() + 1])
        s = s.iloc[lo:hi]
    out = pd.DataFrame({"frame": s["frame"], "site": s["kind"], "i": s["i"], "j": s["j"],
                         "x_px": s["col"], "y_px": s["row"], "x_A": s["x_A"], "y_A": s["y_A"],
                         "amplitude": s["amplitude"], "content": s["content"], "z": s["z"],
                         "class": s["class"], "probability": s["probability"],
                         "defect": s["significant"],
                         "area": pd.Categorical.from_codes(s["area"].to_numpy(np.int8) if "area" in s
                                                           else np.zeros(len(s), np.int8),
                                                           [AREA_NAMES[k] for k in sorted(AREA_NAMES)])})
    if "grain" in s:
        out["grain"] = s["grain"].to_numpy()
    return out
