"""Where the site reading's class errors come from: defects that arrived on a pristine site against
contents that changed in place.

A single chalcogen atom changes a column's reading by ~0.07 of a metal column (d′ ≈ 0.6–1.3 in one
frame at the standard dose). A defect that *arrives* on a pristine site changes the reading by a
whole defect content, and its class is read over all the frames it stays. A defect that *converts in
place* (a ``Ws`` column losing its S atom to become ``W2s2``, an S₂ column with one S left losing the
other) changes the reading by one atom only, on a site that was already a defect: the time model
must find that change point at a few tenths of a noise width per frame. This study reads the movie
variants of notebook 06 that miss the 0.95 class accuracy of the standard movie (and the standard
movie itself) and splits the class accuracy by origin
(:func:`helpers.evaluation.defects.class_accuracy_by_origin`). Beside it, the class accuracy the
same readings give when the change points are known (:func:`oracle_episode_accuracy`: each true
episode classed by its mean reading): the gap between the two is the change points, the gap of the
second to 1 the noise.

Usage::

    python experiments/class_limits.py [--variants "standard" "dose ×0.5" ...] [--frames 150]

Writes ``results/experiments/class_accuracy_by_origin.json`` and prints a table. About 1 min per
variant on 2 cores once its movie is cached.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from helpers import config
from helpers.detect import site_model as sm
from helpers.detect import sites as st
from helpers.evaluation.defects import _episodes_found, class_accuracy_by_origin, score_defects
from helpers.evaluation.robustness import site_reading_variants
from helpers.synthetic.generator import standard_movie

DEFAULT_VARIANTS = ("standard", "dose ×0.5", "probe 0.8 Å", "0.12 Å/px")


def oracle_episode_accuracy(reading, found, truth, pixel_size_A: float, frame_shape) -> pd.DataFrame:
    """What the readings allow once the change points are known: each true episode (a defect on one
    site as one class, :func:`helpers.evaluation.defects.defect_episodes`) classed by the mean
    content its site read over the episode's frames, as the nearest defect content of its
    sublattice. Scored per defect-frame on the frames the reading found (as
    :func:`helpers.evaluation.defects.class_accuracy_by_origin`), so the two compare on the same
    defect-frames: the reading's gap to this number is the change points it did not find; this
    number's gap to 1 is the noise of the readings over each episode."""
    t = _episodes_found(found, truth, pixel_size_A, frame_shape, sm.EDGE_MARGIN_A, 1.0)
    s = reading.sites
    content = np.full(len(t), np.nan)
    kinds = np.full(len(t), None, object)
    by_frame = {f: g for f, g in s.groupby("frame")}
    for f, g in t.groupby("frame"):
        sf = by_frame.get(f)
        if sf is None:
            continue
        d, k = cKDTree(sf[["x_A", "y_A"]].to_numpy()).query(g[["x_A", "y_A"]].to_numpy())
        ok = d < 0.5
        content[g.index.to_numpy()[ok]] = sf["content"].to_numpy()[k[ok]]
        kinds[g.index.to_numpy()[ok]] = sf["kind"].to_numpy()[k[ok]]
    t = t.assign(content=content, kind=kinds)
    mean = t.groupby("episode")["content"].transform("mean")
    called = np.full(len(t), None, object)
    for kind, levels in reading.contents.items():
        names = list(levels)[1:]  # the defect contents of the sublattice
        lv = np.array([levels[n] for n in names])
        sel = (t["kind"] == kind).to_numpy() & np.isfinite(mean.to_numpy())
        called[sel] = np.array(names, object)[np.abs(mean.to_numpy()[sel, None] - lv[None]).argmin(1)]
    t = t.assign(oracle=called, origin=np.where(t["converted"], "converted", "arrived"))
    t = t[t["found_class"].notna() & t["class"].isin(sm.DEFECT_CLASSES)]
    right = t["oracle"] == t["class"]
    rows = [{"class": c, "origin": o, "found": len(g), "oracle_accuracy": right[g.index].mean()}
            for (c, o), g in t.groupby(["class", "origin"])]
    rows += [{"class": "all", "origin": o, "found": len(g), "oracle_accuracy": right[g.index].mean()}
             for o, g in t.groupby("origin")]
    rows += [{"class": "all", "origin": "all", "found": len(t), "oracle_accuracy": right.mean()}]
    return pd.DataFrame(rows)


def study(name: str, params) -> dict:
    """Read one movie variant with the default settings and split its class accuracy by origin."""
    m = standard_movie(params, progress=False)
    t0 = time.perf_counter()
    r = st.read_sites(m.frames, m.pixel_size_A, m.params.lattice_a_A)
    found, truth = st.defect_table(r), m.visible_truth()
    args = (m.pixel_size_A, m.frames.shape, sm.EDGE_MARGIN_A)
    overall = score_defects(found, truth, *args, classes=sm.DEFECT_CLASSES)
    table = class_accuracy_by_origin(found, truth, *args, classes=sm.DEFECT_CLASSES)
    seconds = time.perf_counter() - t0
    oracle = oracle_episode_accuracy(r, found, truth, m.pixel_size_A, m.frames.shape)
    return {"variant": name, "class_accuracy": overall["class_accuracy"], "f1_1A": overall["f1_1A"],
            "by_origin": table.round(4).to_dict(orient="records"),
            "change_points_known": oracle.round(4).to_dict(orient="records"), "seconds": seconds}


def main(argv=None) -> None:

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--out", default=str(config.ROOT / "results" / "experiments" / "class_accuracy_by_origin.json"))
    args = ap.parse_args(argv)
    variants = site_reading_variants(args.frames)
    unknown = [v for v in args.variants if v not in variants]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(variants)}")
    rows = []
    for name in args.variants:
        res = study(name, variants[name])
        rows.append(res)
        alls = {r["origin"]: r for r in res["by_origin"] if r["class"] == "all"}
        arr, conv = alls.get("arrived", {}), alls.get("converted", {})
        share = conv.get("found", 0) / max(arr.get("found", 0) + conv.get("found", 0), 1)
        known = {(r["class"], r["origin"]): r["oracle_accuracy"] for r in res["change_points_known"]}
        print(f"{name}: class accuracy {res['class_accuracy']:.4f}; arrived {arr.get('class_accuracy', float('nan')):.4f} "
              f"({arr.get('found', 0)}), converted in place {conv.get('class_accuracy', float('nan')):.4f} "
              f"({conv.get('found', 0)}, {share:.0%} of found defect-frames); with the change points known "
              f"{known[('all', 'all')]:.4f} (arrived {known.get(('all', 'arrived'), float('nan')):.4f}, converted "
              f"{known.get(('all', 'converted'), float('nan')):.4f}); {res['seconds']:.0f} s", flush=True)
    out = Path(args.out)
    if out.exists():
        old = json.loads(out.read_text())
        print(f"replacing {out} (written {old.get('written_utc', '?')})")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"frames": args.frames, "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "variants": rows}, indent=1, ensure_ascii=False))
    print(f"wrote {out.relative_to(config.ROOT) if out.is_relative_to(config.ROOT) else out}")


if __name__ == "__main__":
    main()
