"""A WS2 sheet converting to WSSe through a movie, read by the default command with ``--material WSSe``.

The poster's subject is solid-state transformation; Se implantation turns WS2 into Janus WSSe and
then WSe2 column by column. Here every chalcogen column of a 2H WS2 lattice
(:func:`helpers.synthetic.tmd_image.render_tmd`: Σ Zⁿ columns, n = 1.7, a 1 Å probe with a 10 %
tail, shot noise) turns into an SSe column at a random frame (rate ln 4 / frames: three quarters
converted by the end) and some of those further into Se₂ (a quarter of that rate); the lattice
drifts (0.04, −0.03 Å per frame plus a 0.03 Å random walk). The frames go through
:func:`helpers.analyze.analyze_file` as a TIFF, as a user's movie would, and the reported defects
(``Se_S``, ``Se2_S2`` and any false call) are scored against the truth frame by frame
(:func:`helpers.evaluation.defects.score_defects`): F1 within 1 Å, class accuracy, and the
converted share per frame read against the true one.

Usage::

    python experiments/conversion_movie.py [--frames 30] [--doses 3000 10000] [--seed 0]

Writes ``results/experiments/conversion_movie.json``. About 20 s per movie on 2 cores.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import analyze_file, config
from helpers.core.chemistry import CHALCOGEN, chemistry_of
from helpers.detect import site_model as sm
from helpers.evaluation.defects import in_read_area, score_defects
from helpers.io.records import write_record
from helpers.io.writers import write_imagej_tiff
from helpers.synthetic.tmd_image import render_tmd, tmd_sites

PIXEL_SIZE_A, FRAME_PX = 0.16, 512
DRIFT_A, DRIFT_RANDOM_A = (0.04, -0.03), 0.03


def conversion_movie(n_frames: int, dose: float, seed: int):
    """Frames (n, H, W) counts and the truth (frame from 1, class, x_A, y_A) of a converting sheet."""
    chem = chemistry_of("WSSe")
    rng = np.random.default_rng(seed)
    rate = np.log(4) / n_frames
    chal = [(s, i, j) for s, i, j, _, _ in tmd_sites(chem, FRAME_PX + 40, PIXEL_SIZE_A, (-3.0, -3.0))
            if s == CHALCOGEN]
    first = {k: rng.exponential(1 / rate) for k in chal}
    second = {k: t + rng.exponential(4 / rate) for k, t in first.items()}
    origin = np.zeros(2)
    frames, rows = [], []
    for t in range(n_frames):
        planted = {k: ("Se2_S2" if second[k] <= t else "Se_S") for k in chal if first[k] <= t}
        img, truth = render_tmd(chem, planted, PIXEL_SIZE_A, FRAME_PX, dose, rng, origin_A=origin)
        frames.append(img)
        rows += [{"frame": t + 1, "class": name, "x_A": x, "y_A": y} for x, y, name in truth]
        origin = origin + np.asarray(DRIFT_A) + rng.normal(0, DRIFT_RANDOM_A, 2)
    return np.array(frames), pd.DataFrame(rows, columns=["frame", "class", "x_A", "y_A"])


def score(frames, truth, work: Path) -> dict:
    """The command on the movie (TIFF, ``--material WSSe``) and its scores."""
    tif = write_imagej_tiff(work / "movie.tif", frames, PIXEL_SIZE_A)
    t0 = time.perf_counter()
    res = analyze_file(tif, work / "result", material="WSSe", quiet=True, sites_csv=False)
    seconds = time.perf_counter() - t0
    found = res.defects()
    sc = score_defects(found, truth, PIXEL_SIZE_A, frames.shape[1:], sm.EDGE_MARGIN_A,
                       classes=["Se_S", "Se2_S2"])
    read = in_read_area(truth, frames.shape[1:], PIXEL_SIZE_A, sm.EDGE_MARGIN_A)
    chal_sites = res.summary["sites_read_per_frame"] / 2
    per_frame = pd.DataFrame({"true": read.groupby("frame").size(), "reported": found.groupby("frame").size()})
    per_frame = per_frame.reindex(range(1, len(frames) + 1)).fillna(0) / chal_sites
    sc.update({"analysis_s": round(seconds, 1), "warnings": res.summary.get("warnings", []),
               "counts_per_class": res.summary["counts_per_class"],
               "converted_share_true": per_frame["true"].round(4).tolist(),
               "converted_share_reported": per_frame["reported"].round(4).tolist(),
               "largest_share_error": float((per_frame["reported"] - per_frame["true"]).abs().max())})
    return sc


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--doses", type=float, nargs="+", default=[3e3, 1e4])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "conversion_movie.json"))
    args = ap.parse_args(argv)
    record = {"frames": args.frames, "pixel_size_A": PIXEL_SIZE_A, "frame_px": FRAME_PX, "seed": args.seed,
              "movies": []}
    for dose in args.doses:
        frames, truth = conversion_movie(args.frames, dose, args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            sc = score(frames, truth, Path(tmp))
        sc["dose_e_per_A2"] = dose
        record["movies"].append(sc)
        print(f"dose {dose:g}: F1 at 1 Å {sc['f1_1A']:.4f} (P {sc['precision_1A']:.4f}, R {sc['recall_1A']:.4f}), "
              f"class accuracy {sc['class_accuracy']:.4f}, recall per class {sc['recall_per_class']}, "
              f"converted share off by at most {sc['largest_share_error']:.4f}; {sc['analysis_s']} s", flush=True)
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main()
