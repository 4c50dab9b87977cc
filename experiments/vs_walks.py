"""Where the single S vacancies that the site reading misses are: short stays of long walks.

A single S vacancy (`Vs`) of the standard kinetics hops to a neighbouring chalcogen site about every
17 frames (0.06 per frame) and stays a `Vs` for about 28 frames in all (until the column loses its
second S, 0.03 per frame, or heals) — so one vacancy *walks* through several short stays. A stay of
a few frames at 1.4–1.5 noise widths per frame is below what one site's history can show
(``experiments/reading_crb.py``: that is the counting bound of one frame); the site reading follows
such a content as a walker over seven-site rings as well (:mod:`helpers.detect.site_walks`). Run on
commit 5a24dcf, before the walk model, this script measured each site's own history alone (a
hidden Markov model per site, with a raised arrival probability where a neighbour's defect just
left: :mod:`helpers.detect.site_decode`).

Here the true `Vs` defect-frames of each movie are matched to the reading's defects (one to one per
frame, 1 Å, any class; the read area only) and split by the length of the vacancy's stay on its
site and by its whole walk as a `Vs` (frames, all stays of the same defect): how many missed frames
belong to walks long enough that a reading which follows a vacancy from site to site has many more
frames of evidence, and how much of that the reading gets.

Usage::

    python experiments/vs_walks.py [--variants standard "dose ×0.5" ...] [--frames 150]

Writes ``results/experiments/vs_walks.json`` and prints a table. About 1 min per movie once generated.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from helpers import config
from helpers.detect import site_model as sm
from helpers.detect import sites as st
from helpers.evaluation.defects import _episodes_found
from helpers.evaluation.robustness import site_reading_variants
from helpers.synthetic.generator import standard_movie

WALK_BINS = ((1, 10), (11, 20), (21, 40), (41, 10 ** 6))
SHORT_STAY, LONG_WALK = 10, 15  # frames


def vs_frames(name: str, params) -> dict:
    m = standard_movie(params, progress=False)
    r = st.read_sites(m.frames, m.pixel_size_A, m.params.lattice_a_A)
    t = _episodes_found(st.defect_table(r), m.visible_truth(), m.pixel_size_A, m.frames.shape,
                        sm.EDGE_MARGIN_A, 1.0)
    vs = t[t["class"] == sm.VS].copy()
    vs["hit"] = vs["found_class"].notna()
    vs["walk"] = vs.groupby("defect_id")["frame"].transform("count")  # frames as a Vs, all stays
    short = vs["lifetime"] <= SHORT_STAY
    out = {"defect_frames": int(len(vs)), "recall": float(vs["hit"].mean()),
           "recall_short_stays": float(vs.loc[short, "hit"].mean()),
           "recall_longer_stays": float(vs.loc[~short, "hit"].mean()), "by_walk": []}
    for lo, hi in WALK_BINS:
        g = vs[(vs["walk"] >= lo) & (vs["walk"] <= hi)]
        gs = g[g["lifetime"] <= SHORT_STAY]
        out["by_walk"].append({"walk_frames": f"{lo}–{hi}" if hi < 10 ** 6 else f">{lo - 1}",
                               "defect_frames": int(len(g)), "recall": float(g["hit"].mean()) if len(g) else None,
                               "in_short_stays": float(len(gs) / len(g)) if len(g) else None,
                               "recall_short_stays": float(gs["hit"].mean()) if len(gs) else None})
    miss = vs[~vs["hit"]]
    out["missed"] = int(len(miss))
    out["missed_in_walks_of_15_or_more"] = float(np.mean(miss["walk"] >= LONG_WALK)) if len(miss) else None
    out["missed_in_short_stays"] = float(np.mean(miss["lifetime"] <= SHORT_STAY)) if len(miss) else None
    out["missed_in_short_stays_of_long_walks"] = float(np.mean((miss["lifetime"] <= SHORT_STAY)
                                                               & (miss["walk"] >= LONG_WALK))) if len(miss) else None
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["standard", "dose ×0.5", "probe 0.8 Å"])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "vs_walks.json"))
    args = ap.parse_args(argv)
    variants = site_reading_variants(args.frames)
    res = {name: vs_frames(name, variants[name]) for name in args.variants}
    for name, r in res.items():
        print(f"{name}: Vs recall {r['recall']:.3f} (stays ≤ {SHORT_STAY} frames {r['recall_short_stays']:.3f}, "
              f"longer {r['recall_longer_stays']:.3f}); {r['missed']} missed frames: "
              f"{100 * r['missed_in_walks_of_15_or_more']:.0f} % in walks ≥ {LONG_WALK} frames, "
              f"{100 * r['missed_in_short_stays']:.0f} % in stays ≤ {SHORT_STAY}, "
              f"{100 * r['missed_in_short_stays_of_long_walks']:.0f} % both")
        for b in r["by_walk"]:
            print(f"   walk {b['walk_frames']:>7s} frames: {b['defect_frames']:5d} defect-frames, recall "
                  f"{b['recall']:.3f}; {100 * b['in_short_stays']:.0f} % in short stays, recall there "
                  f"{b['recall_short_stays'] if b['recall_short_stays'] is not None else float('nan'):.3f}")
    with open(args.out, "w") as f:
        json.dump({"_run": {"frames": args.frames, "short_stay_frames": SHORT_STAY, "long_walk_frames": LONG_WALK},
                   "variants": res}, f, indent=1)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
