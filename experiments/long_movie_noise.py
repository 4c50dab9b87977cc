"""How the reading noise of a long, dense beam-driven movie changes with time and with a site's neighbours.

The site reading takes one noise per sublattice for the whole movie: the normalised MAD of all
sites of each frame, the median over frames (:mod:`helpers.detect.site_decode`). On a long movie
the defects accumulate (the standard kinetics: 7 % of the S₂ sites defective in frames 1–150, 29 %
in frames 451–600), and both the MAD of all sites and the scatter of the pristine sites change. Here
a standard-condition movie of ``--frames`` frames is generated
(:func:`helpers.synthetic.generator.standard_movie`), every site read, and per window of 150 frames
and sublattice reported:

- the MAD of all sites (the decoder's estimate, per frame, median over the window's frames);
- the scatter (normalised MAD, per frame, median) of the sites decoded pristine, and of those among
  them with no defect among their neighbours;
- the mean reading of the pristine S₂ sites by the number of their S₂ neighbours decoded defective
  (0, 1, ≥ 2), and its offset from the isolated ones;
- the share of the sublattice's sites decoded defective.

The movie's single noise (``SiteReading.noise``) is reported beside them. This is the measurement
behind "Where the `Vs` rate of a long movie goes wrong" in docs/site_reading.md.

Usage::

    python experiments/long_movie_noise.py [--frames 600] [--seed 2023]

Writes ``results/experiments/long_movie_noise.json`` and prints a table.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import median_abs_deviation

from helpers import config
from helpers.core.chemistry import CHALCOGEN, METAL
from helpers.detect import sites as st
from helpers.detect.site_crosstalk import neighbour_offsets
from helpers.synthetic.generator import standard_movie
from helpers.synthetic.params import standard_params

WINDOW = 150


def _mad(v: pd.Series) -> float:
    return float(median_abs_deviation(v, scale="normal"))


def _defective_neighbours(w: pd.DataFrame, kind: str, pristine: str, offsets) -> np.ndarray:
    """Per row of ``w`` of sublattice ``kind``: how many of its same-sublattice neighbours read a defect
    (not ``pristine``) in the same frame."""
    d = w[(w["kind"] == kind) & (w["class"] != pristine)]
    defect = set(zip(d["frame"], d["i"], d["j"]))
    rows = w[w["kind"] == kind]
    f, i, j = rows["frame"].to_numpy(), rows["i"].to_numpy(), rows["j"].to_numpy()
    return sum(np.fromiter(((a, b + di, c + dj) in defect for a, b, c in zip(f, i, j)), bool, len(rows)).astype(int)
               for di, dj in offsets)


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "long_movie_noise.json"))
    args = ap.parse_args(argv)
    m = standard_movie(standard_params(n_frames=args.frames, seed=args.seed), progress=False)
    r = st.read_sites(m.frames, m.pixel_size_A, m.params.lattice_a_A)
    offsets = neighbour_offsets(r.lattice)
    s = r.sites
    rows = []
    for a in range(0, args.frames, WINDOW):
        w = s[(s["frame"] >= a) & (s["frame"] < a + WINDOW)]
        for kind in (METAL, CHALCOGEN):
            pristine = r.chemistry.pristine(kind)
            k = w[w["kind"] == kind]
            n_def = _defective_neighbours(w, kind, pristine, offsets[(kind, "same")])
            is_pristine = (k["class"] == pristine).to_numpy()
            p = k[is_pristine].assign(n=np.minimum(n_def[is_pristine], 2))
            row = {"frames": f"{a + 1}-{min(a + WINDOW, args.frames)}", "sublattice": kind,
                   "defective share": float((k["class"] != pristine).mean()),
                   "MAD of all sites": float(k.groupby("frame")["ratio"].apply(_mad).median()),
                   "pristine scatter": float(p.groupby("frame")["content"].apply(_mad).median()),
                   "isolated pristine scatter": float(p[p["n"] == 0].groupby("frame")["content"].apply(_mad).median())}
            means = p.groupby("n")["content"].mean()
            for n in (1, 2):
                row[f"offset with {n if n < 2 else '>= 2'} defective neighbours"] = \
                    float(means.get(n, np.nan) - means.get(0, np.nan))
            rows.append(row)
    table = pd.DataFrame(rows)
    print(f"{args.frames} frames, seed {args.seed}: the movie's noise "
          + ", ".join(f"{k} {v:.4f}" for k, v in r.noise.items()))
    print(table.round(4).to_string(index=False))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"frames": args.frames, "seed": args.seed, "movie_noise": r.noise,
                               "windows": table.to_dict(orient="records")}, indent=1, default=float))
    return table


if __name__ == "__main__":
    main()
