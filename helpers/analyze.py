"""``analyze_file``: one microscope file to a result folder, with its settings in one dataclass."""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config
from helpers.classify.classifier import load_classifier
from helpers.core.atomic import atomic_output
from helpers.core.chemistry import ALLOYS, MATERIALS, chemistry_of
from helpers.core.validation import InputError, check_pixel_size
from helpers.detect import cache
from helpers.detect import localizer as lz
from helpers.detect import pipeline as ma
from helpers.detect import series, site_hops, site_model as sm, sites as st
from helpers.detect.areas import rim_px
from helpers.detect.adatoms import adatom_csv, adatom_summary
from helpers.detect.cache import write_table
from helpers.detect.column_reading import UNKNOWN
from helpers.detect.site_placement import chalcogen_varies
from helpers.detect.localizer import LocalizerParams
from helpers.figures.results import write_result_figures
from helpers.io import calibration as calib
from helpers.io import readers as fm
from helpers.io.calibration import LATTICE_CONSTANTS_A
from helpers.io.intensity_checks import CLIPPED_BLACK
from helpers.io.records import jsonable
from helpers.io.result_folder import (
    MARKER_KEY,
    MARKER_VALUE,
    ResultFolder,
    check_output_folder,
)
from helpers.kinetics import tracking as tk
from helpers.kinetics.adatom_tracks import track_adatoms
from helpers.library import structures

#: detection methods: every lattice site read (default), the poster's localizer trained on frame 1
#: of the file, or the shipped localizer
METHODS = ("sites", "localizer", "pretrained")


@dataclass
class AnalysisSettings:
    """What ``analyze`` does with a file (the command's options; lengths in Å)."""

    material: str = "WS2"
    dopants: tuple[str, ...] | None = None  # candidate substituents (element symbols); None: the material's default
    pixel_size_A: float | None = None
    frames: tuple[int | None, int | None] | None = None  # 0-based slice (start, stop)
    dataset: str | None = None
    method: str = "sites"  # sites (default) | localizer (poster: trained on frame 1) | pretrained
    sites_csv: bool = True
    unknown_below: float = 0.6
    epochs: int = 12
    crops: int = 1024
    seed: int = 20161
    quiet: bool = False

    def check(self) -> "AnalysisSettings":
        """Raise :class:`InputError` for a setting no analysis can use."""

        if self.method not in METHODS:
            raise InputError(f"--method {self.method!r} is not known; choose one of {', '.join(METHODS)}")
        if self.material not in LATTICE_CONSTANTS_A:
            raise InputError(f"--material {self.material!r} is not known; known: "
                             f"{', '.join(sorted(LATTICE_CONSTANTS_A))}")
        if self.method == "sites" or self.dopants:
            try:
                self.chemistry()
            except ValueError as e:
                raise InputError(f"--material/--dopants: {e} (the site reading knows the TMDs "
                                 f"{', '.join(sorted(MATERIALS) + sorted(ALLOYS))})") from None
        if not 0.0 <= self.unknown_below <= 1.0:
            raise InputError(f"--unknown-below must lie between 0 and 1, got {self.unknown_below}")
        if self.epochs < 1 or self.crops < 1:
            raise InputError(f"--epochs and --crops must be at least 1, got {self.epochs} and {self.crops}")
        if self.seed < 0:
            raise InputError(f"--seed must be a non-negative integer, got {self.seed}")
        if self.pixel_size_A is not None:

            try:
                check_pixel_size(self.pixel_size_A, "--pixel-size")
            except ValueError as e:
                raise InputError(str(e)) from None
        return self

    def chemistry(self):
        """The :class:`helpers.core.chemistry.Chemistry` the sites are read with."""

        return chemistry_of(self.material, self.dopants)

    @property
    def pretrained(self) -> bool:
        """Whether the shipped localizer is used (``--pretrained``)."""
        return self.method == "pretrained"

    @property
    def frame_slice(self) -> slice | None:
        """The 0-based frame slice of ``--frames`` (None: every frame)."""
        return None if self.frames is None else slice(*self.frames)


@dataclass
class PreparedFile:
    """A file read and checked, ready for the analysis (nothing heavy loaded yet)."""

    path: Path
    out: Path
    settings: AnalysisSettings
    frames: object  # helpers.io.readers.Frames
    pixel_size_A: float
    calibration: dict
    warnings: list = field(default_factory=list)


def prepare_file(path, out, settings: AnalysisSettings, overwrite: bool = False) -> PreparedFile:
    """Check the output folder, read and check the input; no TensorFlow, no analysis.

    Raises :class:`InputError` (one line) for every expected problem.

    Parameters
    ----------
    path : str or Path
        The file to read.
    out : str or Path
        The result folder.
    settings : AnalysisSettings
        The analysis settings (checked).
    overwrite : bool
        Whether a previous result may be replaced.

    Returns
    -------
    PreparedFile
        The frames (on disk), the pixel size used and its calibration record, warnings.
    """

    path = Path(path)
    out = check_output_folder(out, [path], overwrite)
    fr = fm.read_frames(path, pixel_size_A=settings.pixel_size_A, frames=settings.frame_slice,
                        material=None if settings.pixel_size_A else settings.material,
                        dataset=settings.dataset)
    ps = fm.require_pixel_size(fr)
    fm.check_frames_usable(fr, settings.material)
    warnings_ = list(fr.warnings)
    try:
        cal = calib.check_calibration(fr.data[0], ps, settings.material)
        if not cal["ok"]:
            est, off = cal["lattice_estimate_A"], 100 * cal["relative_difference"]
            tol = 100 * calib.CALIBRATION_TOLERANCE
            if fr.pixel_size_source == "file":  # the lattice is the better ruler: use it, say so
                warnings_.append(f"calibration: the file's pixel size {ps:.4f} Å/px differs from the "
                                 f"{settings.material} lattice by {off:+.1f} % (more than {tol:.0f} %); the lattice "
                                 f"value {est:.4f} Å/px is used (give --pixel-size to impose one)")
                cal["used"], cal["file_pixel_size_A"] = "lattice", ps
                fr.pixel_size_A, fr.pixel_size_source, ps = est, "lattice (file value off)", est
                calib.check_sampling(ps, fr.data.shape[1:], settings.material, path)
            else:
                warnings_.append(f"calibration: the given pixel size {ps:.4f} Å/px differs from the "
                                 f"{settings.material} lattice estimate {est:.4f} Å/px by {off:+.1f} % "
                                 f"(more than {tol:.0f} %); kept because it was given")
                cal["used"] = "given"
        else:
            cal["used"] = fr.pixel_size_source
    except ValueError as e:
        cal = {"ok": None, "problem": str(e)}
        warnings_.append(f"calibration check impossible: {e}")
    if settings.method == "localizer":

        crop_px = LocalizerParams(pixel_size_A=ps).crop_px
        if min(fr.data.shape[1:]) < crop_px:
            raise InputError(f"{path}: frames of {fr.data.shape[1]}×{fr.data.shape[2]} px are smaller "
                             f"than the {crop_px} px localizer training crop; use --pretrained")
    return PreparedFile(path, out, settings, fr, ps, cal, warnings_)


def _summary_head(job: PreparedFile) -> dict:

    s, fr = job.settings, job.frames
    first = s.frames[0] if s.frames is not None and s.frames[0] else 0
    return {MARKER_KEY: MARKER_VALUE, "file": str(job.path), "frames": fr.n_frames,
            "frame_shape": list(fr.data.shape[1:]), "first_frame_in_file": first + 1,
            "frame_numbers": "from 1, as in the file (defects.csv, sites.csv, overlays)",
            "pixel_size_A": job.pixel_size_A, "pixel_size_source": fr.pixel_size_source,
            "material": s.material, "calibration": job.calibration, "method": s.method,
            "metadata": jsonable(fr.metadata), "settings": asdict(s)}


def _analyze_sites(job: PreparedFile, folder: Path, log=print) -> dict:
    """The default path: every lattice site read (:mod:`helpers.detect.sites`); no network involved."""

    s, fr, ps = job.settings, job.frames, job.pixel_size_A
    warnings_ = list(job.warnings)
    chem = s.chemistry()
    t0 = time.perf_counter()
    first = s.frames[0] if s.frames is not None and s.frames[0] else 0
    try:
        reading, pairs, per_image = series.read_stack(fr.data, ps, _lattice_a(s.material), chem, first, not s.quiet)
    except ValueError as e:
        clipped = [w for w in job.warnings if CLIPPED_BLACK in w]
        raise InputError(f"{job.path}: the lattice sites cannot be read ({e})"
                         + (f"; note: {clipped[0]}" if clipped else "")) from None
    table = st.defect_table(reading)
    classes = list(chem.defect_classes())
    for w in reading.warnings:
        warnings_.append(w)
        log(f"warning: {w}")
    areas = reading.area_fractions()
    rim_A = rim_px(sm.SiteParams().areas, sm.SiteParams().radius_A, 1.0)  # a masked area's reach (Å)
    if areas.get("masked", 0) > 0:
        log("masked (the lattice does not describe them; their sites are not read as defects): "
            + ", ".join(f"{k.replace('_', ' ')} {100 * v:.1f} %" for k, v in areas.items()
                        if k not in ("lattice", "masked", "other_grain") and v > 0) + " of the image"
            + f"; nor the sites within {rim_A:g} Å of them (their fitting disc reaches in)")
    for g in reading.grains:
        if g["read"]:
            log(f"another grain ({100 * g['area_fraction']:.0f} % of the image, turned {g['rotation_deg']:+.1f}°) "
                f"read with its own lattice: {g['sites_per_frame']:.0f} sites per frame, {g['defects']} defect readings")
    summary = _summary_head(job)
    lat = reading.lattice
    reading.adatoms, adatom_moves = track_adatoms(reading) if per_image is None else (reading.adatoms, {})
    summary.update({
        "sites_read_per_frame": round(len(reading.sites) / fr.n_frames, 1),
        "edge_margin_A": sm.SiteParams().edge_margin_A,
        "areas": {"fractions": areas, "sites_masked": int((reading.sites["class"] == sm.MASKED).sum()),
                  "method": "local lattice amplitude and background (helpers.detect.areas); atoms on the hollow "
                            "sites of the 2H lattice (helpers.detect.hollow_sites)",
                  "settings": {**asdict(sm.SiteParams().areas), "rim_A": rim_A}} if areas else {"masked": False},
        "column_reading": {"column_sigma_A": lat.sigma_px * ps, "chalcogen_over_metal": reading.chalcogen_over_metal,
                           "haadf_exponent_measured": chem.exponent_from_ratio(reading.chalcogen_over_metal),
                           "haadf_exponent_used": reading.haadf_exponent, "gain": reading.gain,
                           "halo_A": reading.halo.get("halo_A"), "halo_test": reading.halo.get("tested"),
                           "noise_per_frame": reading.noise,
                           "site_placement": "three first-order reflections (the chemistry names a second chalcogen)"
                           if chalcogen_varies(chem) else "three first-order reflections, weighted by their amplitudes",
                           "contents": {k: {c: round(v, 4) for c, v in d.items()}
                                        for k, d in reading.contents.items()}},
        "chemistry": {"material": chem.material, "metal": chem.metal, "chalcogen": chem.chalcogen,
                      "dopants": list(chem.dopants), "classes": classes,
                      "class_atoms": {name: list(atoms) for sub in chem.site_contents().values()
                                      for name, atoms in sub.items()}},
        "grains": [{**g, "frame": first + g["frame"] + 1} if "frame" in g else g for g in reading.grains],
        "scan_glitches": {"frames": [first + t + 1 for t in reading.scan_glitches],
                          "rows": list(reading.scan_glitches.values()),
                          "method": "rows unlike the same rows of the neighbouring frames (helpers.detect.scan_glitches)"},
        "adatoms": {**adatom_summary(reading.adatoms, fr.n_frames), **adatom_moves},
        "detections": int(len(table)), "counts_per_class": table["class"].value_counts().to_dict(),
        "counts_per_class_first_frame": table[table.frame == 0]["class"].value_counts().to_dict(),
        "timings_s": {k: round(v, 3) for k, v in reading.seconds.items()},
        "analysis_s": reading.seconds["total"], "frames_per_s": fr.n_frames / reading.seconds["total"],
        "warnings": warnings_,
    })
    if pairs is not None:
        summary["frame_pairs"] = {
            "read_as": "separate images" if per_image is not None else "movie",
            "r_median": float(pairs["r"].median()), "peak_off_median_A": float(pairs["peak_off_A"].median()),
            "not_same_area": [f"{first + k}-{first + k + 1}" for k in pairs.loc[~pairs["same"], "frame"]],
            "method": "consecutive frames' non-periodic detail must match best at the drift (helpers.detect.series)"}
    if per_image is not None:
        summary["images"] = [{**d, "frame": first + d["frame"] + 1} for d in per_image]
    if fr.n_frames > 1 and len(table) and per_image is None:
        tracks = tk.renumber_tracks(tk.link_movie(table, 0))
        table = table.merge(tracks[["frame", "id", "track"]], on=["frame", "id"], how="left")
        summary["tracks"] = int(tracks["track"].nunique())
        hops = site_hops.hop_rates_from_sites(reading, progress=not s.quiet)
        summary["hop_rates_per_frame"] = hops["hop rate"].dropna().round(5).to_dict()
    write_result_figures(fr.data, ps, job.path.name, table, folder, classes, first, reading)
    # frames numbered from 1 as in the file (ImageJ, overlays, summary.json), everywhere a person reads them
    write_table(table.assign(frame=table["frame"] + first + 1), folder / "defects.csv", overwrite=True)
    if reading.adatoms is not None and len(reading.adatoms):
        write_table(adatom_csv(reading.adatoms, first), folder / "adatoms.csv", overwrite=True)
    if s.sites_csv:
        _write_sites_csv(reading, folder / "sites.csv", first)
    if areas.get("masked", 0) > 0:  # the share of each area in every frame (a hole growing, …)
        per = reading.area_fractions_per_frame().reset_index()
        write_table(per.assign(frame=per["frame"] + first + 1).round(5), folder / "areas.csv", overwrite=True)
        summary["areas"]["per_frame"] = "areas.csv"
    summary["total_s"] = time.perf_counter() - t0
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def _write_sites_csv(reading, path: Path, first: int, frames_per_chunk: int = 50) -> None:
    """``sites.csv``, every site of every frame (frames from 1), written a few frames at a time: the
    table of a long movie is not copied whole."""

    n = int(reading.sites["frame"].max()) + 1 if len(reading.sites) else 0
    with atomic_output(path, True, ".csv.part") as tmp:
        for a in range(0, max(n, 1), frames_per_chunk):
            part = st.site_table(reading, slice(a, a + frames_per_chunk))
            part = part.assign(frame=part["frame"] + first + 1)
            part.to_csv(tmp, index=False, float_format="%.4f", mode="w" if a == 0 else "a", header=a == 0)


def _analyze_into(job: PreparedFile, folder: Path, log=print) -> dict:
    """Run the analysis of a prepared file and write its results into ``folder``."""
    if job.settings.method == "sites":
        return _analyze_sites(job, folder, log)
    return _analyze_localizer(job, folder, log)


def _analyze_localizer(job: PreparedFile, folder: Path, log=print) -> dict:
    """The poster's path: a localizer network (trained on frame 1, or shipped), windows classified
    by the CNN, classes re-read from the column intensities (WS2)."""

    config.quiet_tensorflow()

    s, fr, ps = job.settings, job.frames, job.pixel_size_A
    warnings_ = list(job.warnings)
    if s.material != "WS2" or s.dopants:
        warnings_.append(f"the poster's networks know WS2 and its six defect classes only: for {s.material}"
                         f"{' with dopants ' + ','.join(s.dopants) if s.dopants else ''} their classes are "
                         "WS2 names and the column intensities are not re-read; use the default method "
                         "(every site read with this material's chemistry)")
        log(f"warning: {warnings_[-1]}")
    config.set_seed(s.seed)
    t_start = time.perf_counter()
    if s.pretrained:
        loc, lp, loc_path = lz.load_localizer(config.MODELS_DIR / lz.LOCALIZER_FILE)
        single = config.MODELS_DIR / lz.LOCALIZER_SINGLE_FILE
        if fr.n_frames < 2 * lp.sum_half_window + 1:
            # the shipped localizer sees sums of 2h + 1 frames: fewer frames are noisier than it
            # was trained for, and the single-frame localizer is the one that knows that noise
            if single.exists():
                loc, lp, loc_path = lz.load_localizer(single)
            else:
                warnings_.append(f"{fr.n_frames} frame(s) but the shipped localizer expects sums of "
                                 f"{2 * lp.sum_half_window + 1}: expect false detections in the noise")
                log(f"warning: {warnings_[-1]}")
        loc_source = str(loc_path.relative_to(config.ROOT))
    else:
        lp = lz.LocalizerParams(pixel_size_A=ps, n_crops=s.crops, epochs=s.epochs)
        tr = ma.train_localizer_on_movie(np.asarray(fr.data), ps, s.seed, lp)
        n_sum = min(2 * lp.sum_half_window + 1, fr.n_frames)
        loc, loc_source = tr.model, f"trained on frame 1 of this file (summed with the next {n_sum - 1})"
    train_s = time.perf_counter() - t_start
    model, _ = load_classifier(config.MODELS_DIR / config.CLASSIFIER_FILE)
    # classes from column intensities need the WS2 chemistry (W, S, Mo contents)
    res = ma.analyze_movie(np.asarray(fr.data), ps, loc, lp, model, unknown_below=s.unknown_below,
                           progress=not s.quiet, column_physics=s.material == "WS2",
                           lattice_a_A=_lattice_a(s.material))
    table = res.table
    lat = table.attrs.get("column_lattice")
    columns = ({"column_sigma_A": lat.sigma_px * ps, "s2_over_w": lat.s2_ratio,
                "haadf_exponent": lat.haadf_exponent, "gain": table.attrs.get("column_gain")}
               if lat is not None else None)
    first = s.frames[0] if s.frames is not None and s.frames[0] else 0
    summary = _summary_head(job)
    summary.update({
        "localizer": loc_source, "column_intensities": columns,
        "detections": int(len(table)), "counts_per_class": table["class"].value_counts().to_dict(),
        "counts_per_class_first_frame": table[table.frame == 0]["class"].value_counts().to_dict(),
        "localizer_train_s": train_s, "analysis_s": res.seconds["total"],
        "frames_per_s": res.frames_per_s, "warnings": warnings_,
    })
    if fr.n_frames > 1:
        tracks = tk.renumber_tracks(tk.link_movie(table, lp.sum_half_window))
        table = table.merge(tracks[["frame", "id", "track"]], on=["frame", "id"], how="left")
        summary["tracks"] = int(tracks["track"].nunique())
    write_result_figures(fr.data, job.pixel_size_A, job.path.name, table, folder,
                         list(structures.CLASS_NAMES) + [UNKNOWN], first)
    cache.write_table(table.assign(frame=table["frame"] + first + 1), folder / "defects.csv", overwrite=True)
    summary["total_s"] = time.perf_counter() - t_start
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def _lattice_a(material: str) -> float:

    return LATTICE_CONSTANTS_A[material]


@dataclass(frozen=True)
class AnalysisResult:
    """What :func:`analyze_file` wrote: the result folder and its summary.

    ``result["detections"]`` reads the summary (a dict of ``summary.json``); the tables are read on
    demand.
    """

    folder: Path
    summary: dict

    def __getitem__(self, key: str):
        return self.summary[key]

    def defects(self) -> pd.DataFrame:
        """``defects.csv``: one row per defect and frame (frames numbered from 1; x, y in px and Å)."""
        return pd.read_csv(self.folder / "defects.csv")

    def sites(self) -> pd.DataFrame | None:
        """``sites.csv`` (every site read, its content and significance), None when not written."""
        path = self.folder / "sites.csv"
        return pd.read_csv(path) if path.exists() else None


def analyze_file(path, out, settings: AnalysisSettings | None = None, *, overwrite: bool = False,
                 log: Callable[[str], None] | None = None, **changes) -> AnalysisResult:
    """Analyze one microscope file into the result folder ``out``: the command line's ``analyze``.

    Parameters
    ----------
    path : str or Path
        File to read (any format of :mod:`helpers.io.readers`: TIFF, EMD, DM3/DM4, HDF5, NumPy, …).
    out : str or Path
        Result folder; must not exist, or hold a previous result (then ``overwrite`` replaces it
        atomically). Never the input, the working folder, or a folder this command did not write.
    settings : AnalysisSettings, optional
        Every setting of the analysis in one record (defaults when None).
    overwrite : bool
        Replace a previous result in ``out``.
    log : callable, optional
        Receives one line per warning (default: printed to stderr).
    **changes
        Fields of :class:`AnalysisSettings` to change, e.g. ``material="MoS2"``,
        ``dopants=("V",)``, ``pixel_size_A=0.09``.

    Returns
    -------
    AnalysisResult
        The folder written and its summary (``summary.json``: pixel size used and its source,
        counts per class, tracks, timings, warnings).

    Raises
    ------
    InputError
        For every expected problem (unreadable file, missing pixel size, a setting no analysis can
        use, an output folder that must not be written), before any heavy work; nothing is written.
    """
    settings = settings or AnalysisSettings()
    unknown = sorted(set(changes) - {f.name for f in fields(AnalysisSettings)})
    if unknown:
        raise InputError(f"unknown analysis setting(s) {', '.join(unknown)}; the settings are the fields of "
                         f"AnalysisSettings: {', '.join(f.name for f in fields(AnalysisSettings))}")
    settings = replace(settings, **changes).check()
    log = log or (lambda line: print(line, file=sys.stderr))
    job = prepare_file(path, out, settings, overwrite)
    for w in job.warnings:
        log(f"warning: {w}")
    with ResultFolder(job.out, overwrite) as folder:
        summary = _analyze_into(job, folder, log)
    return AnalysisResult(job.out, summary)
