"""Hop rates of a long movie fitted in windows against the fit in one piece and the truth.

:func:`helpers.detect.site_hops.hop_rates_from_sites` fits a movie longer than about 1.5 ×
``WINDOW_FRAMES`` (150) window by window, each window with the pairs that read a defect in it, so
that a long, dense movie costs minutes, not hours. Here a standard-condition movie of ``--frames``
frames (default 600: four windows) is generated (:func:`helpers.synthetic.generator.standard_movie`),
every site read, and the hop rates fitted twice — in windows (the default) and in one piece — and
compared with the rates realised in the true trajectories (hops per frame of the whole field of
view), as notebook 07 and ``experiments/hop_rates_by_variant.py`` do.

Usage::

    python experiments/hop_windows_check.py [--frames 600] [--seed 2023]

Writes ``results/experiments/hop_windows_check.json`` and prints a table.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from helpers import config
from helpers.detect import site_hops
from helpers.detect import sites as st
from helpers.kinetics import rates as kr
from helpers.kinetics import tracking as tk
from helpers.synthetic.generator import standard_movie
from helpers.synthetic.params import MOVIE_CLASSES, standard_params


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "hop_windows_check.json"))
    args = ap.parse_args(argv)
    m = standard_movie(standard_params(n_frames=args.frames, seed=args.seed), progress=False)
    t0 = time.perf_counter()
    reading = st.read_sites(m.frames, m.pixel_size_A, m.params.lattice_a_A)
    read_s = time.perf_counter() - t0
    true = kr.hop_counts(tk.link_true_positions(m.visible_truth()), MOVIE_CLASSES)
    fits, seconds = {}, {}
    for name, window in (("windows", site_hops.WINDOW_FRAMES), ("one piece", args.frames + 1)):
        t0 = time.perf_counter()
        fits[name] = site_hops.hop_rates_from_sites(reading, window_frames=window)
        seconds[name] = time.perf_counter() - t0
    rows = {}
    for c in MOVIE_CLASSES:
        hops, frames = true[c]
        row = {"true hops": hops, "true rate": hops / frames if frames else float("nan")}
        for name, f in fits.items():
            rate = float(f["hop rate"].get(c, float("nan")))
            row[f"{name}: rate"] = rate
            row[f"{name}: rel error"] = abs(rate - row["true rate"]) / row["true rate"] if hops else float("nan")
        rows[c] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    print(f"{args.frames} frames, seed {args.seed}: reading {read_s:.0f} s; hop rates in windows "
          f"{seconds['windows']:.1f} s, in one piece {seconds['one piece']:.1f} s")
    print(table.round(4).to_string())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"frames": args.frames, "seed": args.seed, "window_frames": site_hops.WINDOW_FRAMES,
                               "reading_s": read_s, "hop_rates_s": seconds,
                               "classes": table.to_dict(orient="index")}, indent=1, default=float))
    return table


if __name__ == "__main__":
    main()
