"""``python -m helpers analyze FILE ...``: the movie pipeline end to end on a microscope file.

Reads the file (helpers.formats), checks the calibration against the lattice, trains a localizer on
frame 1 of *this* file (or uses the shipped one with ``--pretrained``), detects and classifies the
defects of every frame, tracks them in stacks, and writes into ``--out``:

- ``defects.csv``: frame, id, x/y in px and Å, class, probability (and the track for stacks)
- ``summary.json``: file, pixel size and its source, calibration check, counts per class, tracks,
  timings and throughput, warnings
- ``overlay_first.png``/``overlay_last.png`` and, for stacks, ``counts_over_time.png``

The output folder is built under a temporary name and moved into place at the end, so an
interrupted run leaves nothing half-written; an existing folder is refused unless ``--overwrite``.
Expected problems (unreadable file, bad data, no pixel size, ...) end with a one-line message and
exit status 2, without a traceback.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

EXIT_INPUT = 2


def _frames_arg(text: str) -> slice:
    try:
        parts = text.split(":")
        if len(parts) != 2:
            raise ValueError
        a = int(parts[0]) - 1 if parts[0] else None
        b = int(parts[1]) if parts[1] else None
        if (a is not None and a < 0) or (b is not None and b < 1):
            raise ValueError
        return slice(a, b)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--frames must be A:B with 1-based, inclusive frame numbers (e.g. 1:50 or 10:), got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m helpers",
        description="DefectFinder: find, classify and track defects in STEM images and movies of 2D "
                    "materials (WS2 defect library).")
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser(
        "analyze", help="analyze an image or a movie file end to end",
        description=__doc__.split("\n\n")[0] + "\n\nReads .tif/.tiff (ImageJ, Nion Swift, vendor tags), "
        ".dm3/.dm4, .emd (Velox, NCEM), .npy/.npz and .h5/.hdf5.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("file", type=Path, help="image or stack to analyze")
    a.add_argument("--out", type=Path, required=True, help="output folder (must not exist, see --overwrite)")
    a.add_argument("--pixel-size", type=float, default=None, metavar="Å",
                   help="pixel size in Å/px; overrides the file's calibration")
    a.add_argument("--material", default="WS2",
                   help="material of the lattice for the calibration check and, when the file has no "
                        "pixel size and none is given, for estimating it (default WS2; also MoS2, "
                        "WSe2, MoSe2, MoTe2, WTe2, graphene, hBN)")
    a.add_argument("--frames", type=_frames_arg, default=None, metavar="A:B",
                   help="analyze frames A to B only (1-based, inclusive; A: or :B allowed)")
    a.add_argument("--pretrained", action="store_true",
                   help="use the shipped localizer instead of training one on frame 1 of this file")
    a.add_argument("--unknown-below", type=float, default=0.6,
                   help="class probability under which a defect is reported as 'unknown' (default 0.6)")
    a.add_argument("--epochs", type=int, default=12, help="localizer training epochs (default 12)")
    a.add_argument("--crops", type=int, default=1024, help="localizer training crops (default 1024)")
    a.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    a.add_argument("--seed", type=int, default=20161, help="random seed (default 20161)")
    a.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def analyze(args) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import analysis_figures as af
    from . import config
    from . import formats as fm
    from . import localizer as lz
    from . import movie_analysis as ma
    from .classifier import load_classifier
    from .metrics import jsonable

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise fm.InputError(f"{out}: output folder exists; choose another --out or pass --overwrite")
    if args.material not in fm.LATTICE_CONSTANTS_A:
        raise fm.InputError(f"{args.file}: unknown --material {args.material!r}; known: "
                            f"{sorted(fm.LATTICE_CONSTANTS_A)}")
    config.set_seed(args.seed)
    t_start = time.perf_counter()
    fr = fm.read_frames(args.file, pixel_size_A=args.pixel_size, frames=args.frames,
                        material=None if args.pixel_size else args.material)
    ps = fm.require_pixel_size(fr)
    fm.check_frames_usable(fr)
    warnings_ = list(fr.warnings)
    try:
        cal = fm.check_calibration(fr.data[0], ps, args.material)
        if not cal["ok"]:
            warnings_.append(f"calibration: the file/user pixel size {ps:.4f} Å/px differs from the "
                             f"{args.material} lattice estimate {cal['lattice_estimate_A']:.4f} Å/px by "
                             f"{100 * cal['relative_difference']:+.1f} % (more than 5 %)")
    except ValueError as e:
        cal = {"ok": None, "problem": str(e)}
        warnings_.append(f"calibration check impossible: {e}")
    for w in warnings_:
        print(f"warning: {w}", file=sys.stderr)

    t0 = time.perf_counter()
    if args.pretrained:
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
                print(f"warning: {warnings_[-1]}", file=sys.stderr)
        loc_source = str(loc_path.relative_to(config.ROOT))
    else:
        lp = lz.LocalizerParams(pixel_size_A=ps, n_crops=args.crops, epochs=args.epochs)
        crop_ok = min(fr.data.shape[1:]) >= lp.crop_px
        if not crop_ok:
            raise fm.InputError(f"{args.file}: frames smaller than the {lp.crop_px} px training crop; "
                                "use --pretrained")
        tr = ma.train_localizer_on_movie(fr.data, ps, args.seed, lp)
        n_sum = min(2 * lp.sum_half_window + 1, fr.n_frames)
        loc, loc_source = tr.model, f"trained on frame 1 of this file (summed with the next {n_sum - 1})"
    train_s = time.perf_counter() - t0
    model, _ = load_classifier(config.MODELS_DIR / config.CLASSIFIER_FILE)
    # classes from column intensities need the WS2 chemistry (W, S, Mo contents)
    res = ma.analyze_movie(fr.data, ps, loc, lp.pixel_size_A, model, unknown_below=args.unknown_below,
                           progress=not args.quiet, column_physics=args.material == "WS2",
                           lattice_a_A=fm.LATTICE_CONSTANTS_A[args.material], **ma.detection_options(lp))
    table = res.table
    lat = table.attrs.get("column_lattice")
    columns = ({"column_sigma_A": lat.sigma_px * ps, "s2_over_w": lat.s2_ratio,
                "haadf_exponent": lat.haadf_exponent, "gain": table.attrs.get("column_gain")}
               if lat is not None else None)
    first = args.frames.start if args.frames is not None and args.frames.start else 0
    summary = {
        "file": str(args.file), "frames": fr.n_frames, "frame_shape": list(fr.data.shape[1:]),
        "first_frame_in_file": first + 1, "pixel_size_A": ps, "pixel_size_source": fr.pixel_size_source,
        "material": args.material, "calibration": cal, "localizer": loc_source,
        "column_intensities": columns,
        "detections": int(len(table)),
        "counts_per_class": table["class"].value_counts().to_dict(),
        "counts_per_class_first_frame": table[table.frame == 0]["class"].value_counts().to_dict(),
        "localizer_train_s": train_s, "analysis_s": res.seconds["total"],
        "frames_per_s": res.frames_per_s, "warnings": warnings_, "metadata": jsonable(fr.metadata),
    }
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent if out.parent.exists() else None))
    try:
        if fr.n_frames > 1:
            from . import tracking as tk
            from . import tracking_figures as tf

            tracks = tk.link_movie(table, lp.sum_half_window)
            table = table.merge(tracks[["frame", "id", "track"]], on=["frame", "id"], how="left")
            summary["tracks"] = int(tracks["track"].nunique())
            counts = tk.counts_over_time(table, list(ma.CLASS_NAMES) + [ma.UNKNOWN], fr.n_frames)
            fig = tf.plot_counts(counts, counts.iloc[:0], list(ma.CLASS_NAMES) + [ma.UNKNOWN])
            fig.savefig(tmp_dir / "counts_over_time.png", dpi=120, bbox_inches="tight")
            plt.close(fig)
        table = table.assign(frame=table["frame"] + first)  # frame numbers as in the file (0-based)
        ma.write_table(table, tmp_dir / "defects.csv", overwrite=True)
        for name, f in (("first", 0), ("last", fr.n_frames - 1)):
            if name == "last" and fr.n_frames == 1:
                break
            fig, ax = plt.subplots(figsize=(8, 7))
            from .plotting import show_image

            show_image(ax, fr.data[f], ps, f"{Path(args.file).name}: frame {first + f + 1}", bar_A=10)
            af.overlay_detections(ax, res.table[res.table.frame == f])
            fig.savefig(tmp_dir / f"overlay_{name}.png", dpi=120, bbox_inches="tight")
            plt.close(fig)
        summary["total_s"] = time.perf_counter() - t_start
        (tmp_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        if out.exists():
            shutil.rmtree(out)
        tmp_dir.rename(out)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return summary


def main(argv=None) -> int:
    from .formats import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "analyze":
            s = analyze(args)
            print(f"{s['detections']} defects in {s['frames']} frame(s) at {s['pixel_size_A']:.4f} Å/px "
                  f"({s['pixel_size_source']}); {s['frames_per_s']:.2f} frames/s; results in {args.out}")
        return 0
    except (InputError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
