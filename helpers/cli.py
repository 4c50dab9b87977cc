"""``python -m helpers analyze FILE ... --out DIR``: the movie pipeline end to end on microscope files.

One file: reads it (:mod:`helpers.io.readers`), checks the calibration against the lattice, trains a
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
(:mod:`helpers.io.result_folder`: ``--out`` is never the input, the working folder or a folder this
command did not write, and a previous result is replaced atomically, only with ``--overwrite``).
Expected problems end with one line on stderr and exit status 2; an interrupt (Ctrl-C, SIGTERM)
leaves the old result, or none, and no working folder.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from helpers.analyze import (
    METHODS,
    AnalysisSettings,
    analyze_file,
)
from helpers.batch import (
    BATCH_FILE,
    run_batch,
)
from helpers.core.chemistry import Z
from helpers.core.validation import InputError

#: exit status of an expected problem and of an interrupt (SIGINT, SIGTERM)
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130


class Interrupted(BaseException):
    """SIGTERM (or SIGINT) arrived: unwind, removing the working folder, and exit."""


def _elements_arg(text: str) -> tuple[str, ...]:
    """``Ti,V,Re`` → ('Ti', 'V', 'Re'); checked against the periodic table the reading knows."""

    out = tuple(e.strip() for e in text.split(",") if e.strip())
    bad = [e for e in out if e not in Z]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"unknown element(s) {', '.join(bad) or repr(text)}; known: "
                                         f"{', '.join(sorted(Z, key=Z.get))}")
    return out


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
        ".dm3/.dm4, .emd (Velox, NCEM), FEI TIA .ser/.emi, .mrc, .npy/.npz, .h5/.hdf5, MATLAB .mat and pictures "
        "(.png/.jpg/.jpeg/.bmp: display levels, no pixel size). Several files or a folder run as a "
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
    """The :class:`AnalysisSettings` of parsed command-line arguments (checked).

    Parameters
    ----------
    args : argparse.Namespace
        From :func:`build_parser`.

    Returns
    -------
    AnalysisSettings
    """
    if args.pretrained and args.method not in (None, "pretrained"):
        raise InputError(f"--pretrained contradicts --method {args.method}")
    method = "pretrained" if args.pretrained else (args.method or "sites")
    return AnalysisSettings(material=args.material, dopants=args.dopants, pixel_size_A=args.pixel_size,
                            frames=args.frames,
                            dataset=args.dataset, method=method, sites_csv=not args.no_sites_csv,
                            unknown_below=args.unknown_below, epochs=args.epochs, crops=args.crops,
                            seed=args.seed, quiet=args.quiet).check()


def _raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def _interruption(e: BaseException):
    """The interruption behind ``e``, or None: a signal that arrives while a library initialises its
    C extension (TensorFlow loading) reaches the caller as that library's ImportError."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, (Interrupted, KeyboardInterrupt)):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def main(argv=None) -> int:
    """Run the command line (``python -m helpers analyze ...``); returns the exit status.

    0: done; 2: an expected problem (one line on stderr, nothing written to ``--out``) or, in a
    batch, at least one file failed (each named in ``batch.json`` and on stderr); 130: interrupted
    (the old result, if any, is intact and no working folder is left).

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
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
            s = analyze_file(args.files[0], args.out, settings, overwrite=args.overwrite)
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
    except BaseException as e:  # noqa: BLE001 (only interruptions are answered here, the rest re-raised)
        if (e := _interruption(e)) is None:
            raise
        name = str(e) or "SIGINT"
        print(f"interrupted ({name}): no partial result written; an earlier result in --out is intact",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, old_term)
