"""``python -m helpers analyze FILE ... --out DIR``: the movie pipeline end to end on microscope files.

One file: reads it (:mod:`helpers.formats`), checks the calibration against the lattice, trains a
localizer on frame 1 of *this* file (or uses the shipped one with ``--pretrained``), detects and
classifies the defects of every frame, tracks them in stacks, and writes into ``--out``:

- ``defects.csv``: frame, id, x/y in px and Å, class, probability (and the track for stacks)
- ``summary.json``: file, pixel size and its source, calibration check, counts per class, tracks,
  timings and throughput, warnings
- ``overlay_first.png``/``overlay_last.png`` and, for stacks, ``counts_over_time.png``

Several files or a folder: a batch on Dask distributed (a local cluster of ``--workers`` processes,
or the cluster at ``--scheduler``); ``--out`` then holds one result folder per file and
``batch.json`` (done, failed with the reason, skipped because already done). Rerunning the same
command resumes it: finished files are skipped.

Before any work — before TensorFlow is loaded — the arguments, the input (readable, complete,
every frame present, a pixel size a lattice image can have) and the output folder are checked
(:mod:`helpers.result_folder`: ``--out`` is never the input, the working folder or a folder this
command did not write, and a previous result is replaced atomically, only with ``--overwrite``).
Expected problems end with one line on stderr and exit status 2; an interrupt (Ctrl-C, SIGTERM)
leaves the old result, or none, and no working folder.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .formats import SUFFIXES
from .validation import InputError

EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
BATCH_FILE = "batch.json"
BATCH_MARKER = "defectfinder batch"
#: detection methods: every lattice site read (default), the poster's localizer trained on frame 1
#: of the file, or the shipped localizer
METHODS = ("sites", "localizer", "pretrained")


class Interrupted(BaseException):
    """SIGTERM (or SIGINT) arrived: unwind, removing the working folder, and exit."""


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
        from .chemistry import ALLOYS, MATERIALS
        from .formats import LATTICE_CONSTANTS_A

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
            from .validation import check_pixel_size

            try:
                check_pixel_size(self.pixel_size_A, "--pixel-size")
            except ValueError as e:
                raise InputError(str(e)) from None
        return self

    def chemistry(self):
        """The :class:`helpers.chemistry.Chemistry` the sites are read with."""
        from .chemistry import chemistry_of

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
    frames: object  # helpers.formats.Frames
    pixel_size_A: float
    calibration: dict
    warnings: list = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# argument parsing


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: ...``, exit 2) instead of usage + error."""

    def error(self, message):
        self.exit(EXIT_INPUT, f"error: {message} (see python -m helpers analyze --help)\n")


def _frames_arg(text: str) -> tuple:
    try:
        parts = text.split(":")
        if len(parts) != 2:
            raise ValueError
        a = int(parts[0]) - 1 if parts[0] else None
        b = int(parts[1]) if parts[1] else None
        if (a is not None and a < 0) or (b is not None and b < 1):
            raise ValueError
        return (a, b)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--frames must be A:B with 1-based, inclusive frame numbers (e.g. 1:50 or 10:), got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m helpers`` argument parser (subcommand ``analyze``)."""
    p = _Parser(prog="python -m helpers",
                description="DefectFinder: find, classify and track defects in STEM images and movies "
                            "of 2D materials (WS2 defect library).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    a = sub.add_parser(
        "analyze", help="analyze image or movie files end to end",
        description=__doc__.split("\n\n")[0] + "\n\nReads .tif/.tiff (ImageJ, Nion Swift, vendor tags), "
        ".dm3/.dm4, .emd (Velox, NCEM), .npy/.npz and .h5/.hdf5. Several files or a folder run as a "
        "batch on Dask distributed, one result folder per file under --out.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("files", type=Path, nargs="+", metavar="FILE",
                   help="image or stack to analyze; several files or a folder make a batch")
    a.add_argument("--out", type=Path, required=True,
                   help="output folder: must not exist, or hold a previous result of this command "
                        "(replaced only with --overwrite); for a batch, the folder of the results")
    a.add_argument("--pixel-size", type=float, default=None, metavar="Å",
                   help="pixel size in Å/px; overrides the file's calibration")
    a.add_argument("--material", default="WS2",
                   help="material of the lattice: its lattice constant (calibration check, pixel size "
                        "when the file has none) and its column chemistry, which names the classes "
                        "(default WS2; also MoS2, WSe2, MoSe2, MoTe2, WTe2, the alloys WSSe, MoSSe, "
                        "WSeTe, MoSeTe; graphene and hBN for calibration only)")
    a.add_argument("--dopants", type=_elements_arg, default=None, metavar="EL,EL",
                   help="candidate substituents, element symbols (e.g. Ti,V,Re or Se): a metal adds "
                        "'X_M' on metal sites, a chalcogen 'X_S' and 'X2_S2' on chalcogen sites "
                        "(default: Mo for WS2, the poster's classes; none otherwise)")
    a.add_argument("--frames", type=_frames_arg, default=None, metavar="A:B",
                   help="analyze frames A to B only (1-based, inclusive; A: or :B allowed)")
    a.add_argument("--dataset", default=None, metavar="NAME",
                   help="the array (.npz), dataset (.h5) or signal (.emd, .dm3/.dm4: title or number) "
                        "to read from a file that holds several")
    a.add_argument("--method", choices=METHODS, default=None,
                   help="how defects are found: 'sites' (default) reads every lattice site's column "
                        "content and reports the sites that differ from the pristine lattice; "
                        "'localizer' is the poster's path (a network trained on frame 1 of this file, "
                        "then windows classified); 'pretrained' the same with the shipped network")
    a.add_argument("--pretrained", action="store_true", help="same as --method pretrained")
    a.add_argument("--no-sites-csv", action="store_true",
                   help="sites method: do not write sites.csv (every site of every frame)")
    a.add_argument("--unknown-below", type=float, default=0.6,
                   help="class probability under which a defect is reported as 'unknown' (default 0.6)")
    a.add_argument("--epochs", type=int, default=12, help="localizer training epochs (default 12)")
    a.add_argument("--crops", type=int, default=1024, help="localizer training crops (default 1024)")
    a.add_argument("--overwrite", action="store_true",
                   help="replace a previous result of this command in --out (never anything else); "
                        "in a batch, analyze again the files already done")
    a.add_argument("--workers", type=int, default=None,
                   help="batch: worker processes of the local Dask cluster (default: CPU cores, at most "
                        "the number of files)")
    a.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="batch: run on an existing Dask cluster (e.g. tcp://host:8786) instead of a "
                        "local one; its workers need this package installed")
    a.add_argument("--seed", type=int, default=20161, help="random seed (default 20161)")
    a.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def settings_from_args(args) -> AnalysisSettings:
    """The :class:`AnalysisSettings` of parsed command-line arguments (checked)."""
    if args.pretrained and args.method not in (None, "pretrained"):
        raise InputError(f"--pretrained contradicts --method {args.method}")
    method = "pretrained" if args.pretrained else (args.method or "sites")
    return AnalysisSettings(material=args.material, dopants=args.dopants, pixel_size_A=args.pixel_size,
                            frames=args.frames,
                            dataset=args.dataset, method=method, sites_csv=not args.no_sites_csv,
                            unknown_below=args.unknown_below, epochs=args.epochs, crops=args.crops,
                            seed=args.seed, quiet=args.quiet).check()


# ------------------------------------------------------------------------------------------------
# one file: checks (light), then the analysis (TensorFlow)


def prepare_file(path, out, settings: AnalysisSettings, overwrite: bool = False) -> PreparedFile:
    """Check the output folder, read and check the input; no TensorFlow, no analysis.

    Raises :class:`InputError` (one line) for every expected problem.
    """
    from . import formats as fm
    from .result_folder import check_output_folder

    path = Path(path)
    out = check_output_folder(out, [path], overwrite)
    fr = fm.read_frames(path, pixel_size_A=settings.pixel_size_A, frames=settings.frame_slice,
                        material=None if settings.pixel_size_A else settings.material,
                        dataset=settings.dataset)
    ps = fm.require_pixel_size(fr)
    fm.check_frames_usable(fr, settings.material)
    warnings_ = list(fr.warnings)
    try:
        cal = fm.check_calibration(fr.data[0], ps, settings.material)
        if not cal["ok"]:
            est, off = cal["lattice_estimate_A"], 100 * cal["relative_difference"]
            if fr.pixel_size_source == "file":  # the lattice is the better ruler: use it, say so
                warnings_.append(f"calibration: the file's pixel size {ps:.4f} Å/px differs from the "
                                 f"{settings.material} lattice by {off:+.1f} % (more than 5 %); the lattice "
                                 f"value {est:.4f} Å/px is used (give --pixel-size to impose one)")
                cal["used"], cal["file_pixel_size_A"] = "lattice", ps
                fr.pixel_size_A, fr.pixel_size_source, ps = est, "lattice (file value off)", est
                fm.check_sampling(ps, fr.data.shape[1:], settings.material, path)
            else:
                warnings_.append(f"calibration: the given pixel size {ps:.4f} Å/px differs from the "
                                 f"{settings.material} lattice estimate {est:.4f} Å/px by {off:+.1f} % "
                                 "(more than 5 %); kept because it was given")
                cal["used"] = "given"
        else:
            cal["used"] = fr.pixel_size_source
    except ValueError as e:
        cal = {"ok": None, "problem": str(e)}
        warnings_.append(f"calibration check impossible: {e}")
    if settings.method == "localizer":
        from .localizer import LocalizerParams

        crop_px = LocalizerParams(pixel_size_A=ps).crop_px
        if min(fr.data.shape[1:]) < crop_px:
            raise InputError(f"{path}: frames of {fr.data.shape[1]}×{fr.data.shape[2]} px are smaller "
                             f"than the {crop_px} px localizer training crop; use --pretrained")
    return PreparedFile(path, out, settings, fr, ps, cal, warnings_)


def _summary_head(job: PreparedFile) -> dict:
    from .metrics import jsonable
    from .result_folder import MARKER_KEY, MARKER_VALUE

    s, fr = job.settings, job.frames
    first = s.frames[0] if s.frames is not None and s.frames[0] else 0
    return {MARKER_KEY: MARKER_VALUE, "file": str(job.path), "frames": fr.n_frames,
            "frame_shape": list(fr.data.shape[1:]), "first_frame_in_file": first + 1,
            "frame_numbers": "from 1, as in the file (defects.csv, sites.csv, overlays)",
            "pixel_size_A": job.pixel_size_A, "pixel_size_source": fr.pixel_size_source,
            "material": s.material, "calibration": job.calibration, "method": s.method,
            "metadata": jsonable(fr.metadata), "settings": asdict(s)}


def _write_figures(job: PreparedFile, table, folder: Path, classes, reading=None) -> None:
    """Overlays of the first and last frame (with the masked areas of a site ``reading``) and, for
    stacks, the counts per class over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import analysis_figures as af
    from . import tracking as tk
    from . import tracking_figures as tkf
    from .plotting import show_image

    fr, ps = job.frames, job.pixel_size_A
    first = job.settings.frames[0] if job.settings.frames is not None and job.settings.frames[0] else 0
    if fr.n_frames > 1:
        counts = tk.counts_over_time(table, classes, fr.n_frames)
        fig = tkf.plot_counts(counts, counts.iloc[:0], classes)
        fig.savefig(folder / "counts_over_time.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
    for name, f in (("first", 0), ("last", fr.n_frames - 1)):
        if name == "last" and fr.n_frames == 1:
            break
        fig, ax = plt.subplots(figsize=(8, 7))
        show_image(ax, fr.data[f], ps, f"{job.path.name}: frame {first + f + 1}", bar_A=10)
        if reading is not None:
            af.overlay_areas(ax, *reading.area_map_of(f))
        af.overlay_detections(ax, table[table.frame == f])
        fig.savefig(folder / f"overlay_{name}.png", dpi=120, bbox_inches="tight")
        plt.close(fig)


def _analyze_sites(job: PreparedFile, folder: Path, log=print) -> dict:
    """The default path: every lattice site read (:mod:`helpers.sites`); no network involved."""
    from . import sites as st
    from . import tracking as tk
    from .movie_analysis import write_table

    s, fr, ps = job.settings, job.frames, job.pixel_size_A
    warnings_ = list(job.warnings)
    chem = s.chemistry()
    t0 = time.perf_counter()
    try:
        reading = st.read_sites(fr.data, ps, _lattice_a(s.material), progress=not s.quiet, chemistry=chem)
    except ValueError as e:
        raise InputError(f"{job.path}: the lattice sites cannot be read ({e})") from None
    table = st.defect_table(reading)
    first = s.frames[0] if s.frames is not None and s.frames[0] else 0
    classes = list(chem.defect_classes())
    for w in reading.warnings:
        warnings_.append(w)
        log(f"warning: {w}")
    areas = reading.area_fractions()
    if areas.get("masked", 0) > 0:
        log("masked (the lattice does not describe them; their sites are not read as defects): "
            + ", ".join(f"{k.replace('_', ' ')} {100 * v:.1f} %" for k, v in areas.items()
                        if k not in ("lattice", "masked") and v > 0) + " of the image")
    summary = _summary_head(job)
    lat = reading.lattice
    summary.update({
        "sites_read_per_frame": round(len(reading.sites) / fr.n_frames, 1),
        "edge_margin_A": st.SiteParams().edge_margin_A,
        "areas": {"fractions": areas, "sites_masked": int((reading.sites["class"] == st.MASKED).sum()),
                  "method": "local lattice amplitude and background (helpers.areas)",
                  "settings": asdict(st.SiteParams().areas)} if areas else {"masked": False},
        "column_reading": {"column_sigma_A": lat.sigma_px * ps, "chalcogen_over_metal": reading.chalcogen_over_metal,
                           "haadf_exponent_measured": chem.exponent_from_ratio(reading.chalcogen_over_metal),
                           "haadf_exponent_used": reading.haadf_exponent, "gain": reading.gain,
                           "noise_per_frame": reading.noise,
                           "contents": {k: {c: round(v, 4) for c, v in d.items()}
                                        for k, d in reading.contents.items()}},
        "chemistry": {"material": chem.material, "metal": chem.metal, "chalcogen": chem.chalcogen,
                      "dopants": list(chem.dopants), "classes": classes,
                      "class_atoms": {name: list(atoms) for sub in chem.site_contents().values()
                                      for name, atoms in sub.items()}},
        "detections": int(len(table)),
        "counts_per_class": table["class"].value_counts().to_dict(),
        "counts_per_class_first_frame": table[table.frame == 0]["class"].value_counts().to_dict(),
        "timings_s": {k: round(v, 3) for k, v in reading.seconds.items()},
        "analysis_s": reading.seconds["total"], "frames_per_s": fr.n_frames / reading.seconds["total"],
        "warnings": warnings_,
    })
    if fr.n_frames > 1 and len(table):
        tracks = tk.renumber_tracks(tk.link_movie(table, 0))
        table = table.merge(tracks[["frame", "id", "track"]], on=["frame", "id"], how="left")
        summary["tracks"] = int(tracks["track"].nunique())
    _write_figures(job, table, folder, classes, reading)
    # frames numbered from 1 as in the file (ImageJ, overlays, summary.json), everywhere a person reads them
    write_table(table.assign(frame=table["frame"] + first + 1), folder / "defects.csv", overwrite=True)
    if s.sites_csv:
        _write_sites_csv(reading, folder / "sites.csv", first)
    summary["total_s"] = time.perf_counter() - t0
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def _write_sites_csv(reading, path: Path, first: int, frames_per_chunk: int = 50) -> None:
    """``sites.csv``, every site of every frame (frames from 1), written a few frames at a time: the
    table of a long movie is not copied whole."""
    from . import sites as st
    from .io import atomic_output

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


def _elements_arg(text: str) -> tuple[str, ...]:
    """``Ti,V,Re`` → ('Ti', 'V', 'Re'); checked against the periodic table the reading knows."""
    from .chemistry import Z

    out = tuple(e.strip() for e in text.split(",") if e.strip())
    bad = [e for e in out if e not in Z]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"unknown element(s) {', '.join(bad) or repr(text)}; known: "
                                         f"{', '.join(sorted(Z, key=Z.get))}")
    return out


def _analyze_localizer(job: PreparedFile, folder: Path, log=print) -> dict:
    """The poster's path: a localizer network (trained on frame 1, or shipped), windows classified
    by the CNN, classes re-read from the column intensities (WS2)."""
    from . import config

    config.quiet_tensorflow()
    from . import localizer as lz
    from . import movie_analysis as ma
    from . import tracking as tk
    from .classifier import load_classifier

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
    res = ma.analyze_movie(np.asarray(fr.data), ps, loc, lp.pixel_size_A, model, unknown_below=s.unknown_below,
                           progress=not s.quiet, column_physics=s.material == "WS2",
                           lattice_a_A=_lattice_a(s.material), **ma.detection_options(lp))
    table = res.table
    lat = table.attrs.get("column_lattice")
    columns = ({"column_sigma_A": lat.sigma_px * ps, "s2_over_w": lat.s2_ratio,
                "haadf_exponent": lat.haadf_exponent, "gain": table.attrs.get("column_gain")}
               if lat is not None else None)
    first = s.frames[0] if s.frames is not None and s.frames[0] else 0
    summary = _summary_head(job)
    summary.update({
        "localizer": loc_source, "column_intensities": columns,
        "detections": int(len(table)),
        "counts_per_class": table["class"].value_counts().to_dict(),
        "counts_per_class_first_frame": table[table.frame == 0]["class"].value_counts().to_dict(),
        "localizer_train_s": train_s, "analysis_s": res.seconds["total"],
        "frames_per_s": res.frames_per_s, "warnings": warnings_,
    })
    if fr.n_frames > 1:
        tracks = tk.renumber_tracks(tk.link_movie(table, lp.sum_half_window))
        table = table.merge(tracks[["frame", "id", "track"]], on=["frame", "id"], how="left")
        summary["tracks"] = int(tracks["track"].nunique())
    _write_figures(job, table, folder, list(ma.CLASS_NAMES) + [ma.UNKNOWN])
    ma.write_table(table.assign(frame=table["frame"] + first + 1), folder / "defects.csv", overwrite=True)
    summary["total_s"] = time.perf_counter() - t_start
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def _lattice_a(material: str) -> float:
    from .formats import LATTICE_CONSTANTS_A

    return LATTICE_CONSTANTS_A[material]


def analyze_file(path, out, settings: AnalysisSettings | None = None, overwrite: bool = False,
                 log=None) -> dict:
    """Analyze one microscope file into the result folder ``out``; returns the summary.

    Parameters
    ----------
    path : file to read (any format of :mod:`helpers.formats`).
    out : result folder; must not exist, or hold a previous result (then ``overwrite`` replaces it
        atomically). Never the input, the working folder, or a folder this command did not write.
    settings : :class:`AnalysisSettings` (defaults when None).
    log : callable taking one line for warnings (default: print to stderr).

    Raises :class:`InputError` for every expected problem, before any heavy work.
    """
    from .result_folder import ResultFolder

    settings = (settings or AnalysisSettings()).check()
    log = log or (lambda line: print(line, file=sys.stderr))
    job = prepare_file(path, out, settings, overwrite)
    for w in job.warnings:
        log(f"warning: {w}")
    with ResultFolder(job.out, overwrite) as folder:
        summary = _analyze_into(job, folder, log)
    return summary


# ------------------------------------------------------------------------------------------------
# batches on Dask distributed


def expand_inputs(paths) -> list[Path]:
    """Files to analyze: the given files, and the readable files (by suffix) directly in the given
    folders, sorted. A missing path is an error."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in SUFFIXES)
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"{p}: file not found")
    seen, unique = set(), []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    if not unique:
        raise InputError(f"no readable files in {', '.join(map(str, paths))} "
                         f"(readable: {', '.join(sorted(set(SUFFIXES)))})")
    return unique


def result_names(files) -> list[str]:
    """One result folder name per file: ``stem_suffix``, numbered where two files share it."""
    names, used = [], {}
    for f in files:
        base = f"{f.stem}_{f.suffix.lstrip('.').lower()}" if f.suffix else f.name
        k = used.get(base, 0)
        used[base] = k + 1
        names.append(base if k == 0 else f"{base}_{k + 1}")
    return names


def _check_batch_folder(out: Path, files) -> Path:
    from .result_folder import check_not_input_or_cwd, check_output_folder

    out = Path(os.path.abspath(Path(out).expanduser()))
    if out.exists():
        try:
            marker = json.loads((out / BATCH_FILE).read_text()).get("written_by")
        except (OSError, ValueError, AttributeError):
            marker = None
        if marker != BATCH_MARKER:
            raise InputError(f"--out {out}: exists and is not a batch folder of this command (no "
                             f"{BATCH_FILE} written by it); choose another output folder")
        # the batch folder itself is reused (resumed); the per-file folders are checked one by one
        check_not_input_or_cwd(out, files)
        return out
    check_output_folder(out, files)
    return out


def _batch_task(path: str, out: str, settings: AnalysisSettings, overwrite: bool) -> dict:
    """Analyze one file of a batch (runs on a Dask worker); never raises for a file's problem."""
    t0 = time.perf_counter()
    lines = []
    try:
        s = analyze_file(path, out, settings, overwrite, log=lines.append)
        return {"file": path, "status": "done", "result": out, "detections": s["detections"],
                "frames": s["frames"], "seconds": round(time.perf_counter() - t0, 2),
                "warnings": [w.removeprefix("warning: ") for w in lines]}
    except InputError as e:
        return {"file": path, "status": "failed", "reason": str(e),
                "seconds": round(time.perf_counter() - t0, 2)}
    except Exception as e:  # an unexpected failure of one file must not stop the batch
        return {"file": path, "status": "failed", "reason": f"{type(e).__name__}: {e}".splitlines()[0],
                "seconds": round(time.perf_counter() - t0, 2)}


def _write_batch(out: Path, record: dict) -> None:
    from .io import atomic_output

    with atomic_output(out / BATCH_FILE, overwrite=True, suffix=".part") as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=str))


def run_batch(paths, out, settings: AnalysisSettings | None = None, overwrite: bool = False,
              workers: int | None = None, scheduler: str | None = None, progress: bool = True,
              log=None) -> dict:
    """Analyze several files on Dask distributed, one result folder per file under ``out``.

    Parameters
    ----------
    paths : files and/or folders (their readable files, not recursive).
    out : batch folder: new, or one written by an earlier run of the same batch (resumed).
    settings : :class:`AnalysisSettings` for every file.
    overwrite : analyze again the files already done (their results are replaced atomically).
    workers : processes of the local cluster (default: CPU cores, at most the number of files).
    scheduler : address of an existing Dask scheduler; its workers need this package.

    Returns the batch record written to ``out/batch.json``: per file ``done`` (with its result
    folder), ``failed`` (with the one-line reason) or ``skipped`` (done by an earlier run).
    """
    from .result_folder import previous_result_problem

    settings = (settings or AnalysisSettings()).check()
    task_settings = AnalysisSettings(**{**asdict(settings), "quiet": True})  # one bar: the batch's
    log = log or (lambda line: print(line, file=sys.stderr))
    files = expand_inputs(paths)
    out = _check_batch_folder(out, files)
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    out.mkdir(exist_ok=True)
    names = result_names(files)
    record = {"written_by": BATCH_MARKER, "settings": asdict(settings), "files": {}}
    todo = []
    for f, name in zip(files, names):
        folder = out / name
        done_before = folder.exists() and previous_result_problem(folder) is None and \
            _same_file(folder, f)
        if done_before and not overwrite:
            record["files"][name] = {"file": str(f), "status": "skipped", "result": str(folder),
                                     "reason": "already done (rerun with --overwrite to redo it)"}
        else:
            todo.append((f, name))
    _write_batch(out, _counted(record))
    if todo:
        from distributed import Client, LocalCluster, as_completed

        from . import config

        config.quiet_tensorflow()
        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            n = workers or min(len(todo), os.cpu_count() or 1)
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=50)
            client = Client(cluster)
        try:
            futures = {client.submit(_batch_task, str(f), str(out / name), task_settings, overwrite,
                                     key=f"analyze-{name}-{os.getpid()}", pure=False): name
                       for f, name in todo}
            from tqdm.auto import tqdm

            bar = tqdm(total=len(futures), desc="files", unit="file", disable=not progress)
            for fut in as_completed(futures):
                name = futures[fut]
                try:
                    r = fut.result()
                except Exception as e:  # a worker died
                    r = {"file": None, "status": "failed", "reason": f"worker lost: {type(e).__name__}: {e}"}
                record["files"][name] = r
                if r["status"] == "failed":
                    log(f"failed: {r['reason']}")
                _write_batch(out, _counted(record))
                bar.update(1)
            bar.close()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    record["files"] = {n: record["files"][n] for n in names if n in record["files"]}
    _write_batch(out, _counted(record))
    return record


def _same_file(folder: Path, f: Path) -> bool:
    try:
        s = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return Path(s.get("file", "")).resolve() == f.resolve()


def _counted(record: dict) -> dict:
    statuses = [r["status"] for r in record["files"].values()]
    record.update({k: statuses.count(k) for k in ("done", "failed", "skipped")})
    return record


# ------------------------------------------------------------------------------------------------


def _raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def main(argv=None) -> int:
    """Run the command line (``python -m helpers analyze ...``); returns the exit status.

    0: done; 2: an expected problem (one line on stderr, nothing written to ``--out``) or, in a
    batch, at least one file failed (each named in ``batch.json`` and on stderr); 130: interrupted
    (the old result, if any, is intact and no working folder is left).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _raise_interrupted) if in_main else None
    try:
        settings = settings_from_args(args)
        if len(args.files) == 1 and not args.files[0].is_dir():
            if args.workers is not None or args.scheduler is not None:
                raise InputError("--workers and --scheduler are for batches (several files or a folder)")
            s = analyze_file(args.files[0], args.out, settings, args.overwrite)
            print(f"{s['detections']} defects in {s['frames']} frame(s) at {s['pixel_size_A']:.4f} Å/px "
                  f"({s['pixel_size_source']}); {s['frames_per_s']:.2f} frames/s; results in {args.out}")
            return 0
        rec = run_batch(args.files, args.out, settings, args.overwrite, args.workers, args.scheduler,
                        progress=not args.quiet)
        print(f"batch of {len(rec['files'])} file(s): {rec['done']} done, {rec['failed']} failed, "
              f"{rec['skipped']} skipped (already done); summary in {Path(args.out) / BATCH_FILE}")
        return EXIT_INPUT if rec["failed"] else 0
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except (Interrupted, KeyboardInterrupt) as e:
        name = str(e) or "SIGINT"
        print(f"interrupted ({name}): no partial result written; an earlier result in --out is intact",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, old_term)
