"""The default reading on standard movies at a tenth of the dose and below, with the drift it measures
and with the true drift.

At 10⁴ e/Å² per frame the phase correlation of consecutive frames finds the drift; at 10³ and
below it often lands on a lattice translate of the true step, up to eight lattice vectors off
(``docs/site_reading.md``, step 1). The reading keeps each site's indices only if those steps are
taken back. Here standard-condition movies (:func:`helpers.synthetic.generator.generate_movie`,
``--frames`` frames, 512² at 0.2 Å/px) are read at each dose with the drift the reading measures
(:func:`helpers.detect.sites.read_sites`, defaults) and with the generator's true drift, and
scored against the truth (:func:`helpers.evaluation.defects.score_defects`).

Usage::

    python experiments/low_dose_movies.py [--doses 700 1000 2500] [--frames 150] [--seed 5]

Writes ``results/experiments/low_dose_movies.json`` and prints a table. About 1–2 min per dose on
2 cores.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config
from helpers.detect import site_model as sm
from helpers.detect import sites as st
from helpers.evaluation.defects import score_defects
from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import standard_params


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doses", type=float, nargs="+", default=[700.0, 1000.0, 2500.0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "low_dose_movies.json"))
    args = ap.parse_args(argv)
    rows = []
    for dose in args.doses:
        m = generate_movie(standard_params(n_frames=args.frames, dose_e_per_A2=dose, seed=args.seed), progress=False)
        frames, ps = np.asarray(m.frames), m.pixel_size_A
        true = np.asarray(m.drift_A)[:, ::-1] / ps  # (x, y) Å → (row, col) px
        true -= true[0]
        for drift, shifts in (("measured", None), ("true", true)):
            t0 = time.perf_counter()
            r = st.read_sites(frames, ps, m.params.lattice_a_A, shifts=shifts, progress=False)
            s = score_defects(st.defect_table(r), m.visible_truth(), ps, frames.shape, sm.EDGE_MARGIN_A)
            rows.append({"dose_e_per_A2": dose, "drift": drift, "f1_1A": s["f1_1A"], "precision_1A": s["precision_1A"],
                         "recall_1A": s["recall_1A"], "class_accuracy": s["class_accuracy"],
                         "recall_Vs2": s["recall_per_class"].get("Vs2", np.nan),
                         "recall_Vs": s["recall_per_class"].get("Vs", np.nan),
                         "drift_error_max_px": float(np.abs(r.shifts - true).max()),
                         "seconds": time.perf_counter() - t0})
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    table = pd.DataFrame(rows)
    print(table.round(3).to_string(index=False))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"frames": args.frames, "seed": args.seed, "pixel_size_A": 0.2,
                               "rows": table.to_dict("records")}, indent=1))
    return table


if __name__ == "__main__":
    main()
