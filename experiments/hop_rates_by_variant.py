"""Hop rates off the standard movie: the pair model of neighbouring sites against the track count,
on movies that differ in dose, probe, pixel size and lattice constant.

Notebook 07 pools three standard-condition movies. Here each variant of notebook 06
(:func:`helpers.evaluation.robustness.site_reading_variants`) is generated with the same three seeds
(2023, 21168, 20168: the standard movie and the two others notebook 07 pools), every site read
(:func:`helpers.detect.sites.read_sites`), and the hop rate of each class estimated twice:

* **pairs** — :func:`helpers.detect.site_hops.hop_rates_from_sites` (the command's kinetics);
* **tracks** — the defects linked (:func:`helpers.kinetics.tracking.link_movie`) and their hops
  counted (:func:`helpers.kinetics.rates.hop_counts`) with notebook 07's settings for the site
  reading (smoothing 9 frames, steps across the linker's memory, a ±1-frame hop zone, disputed
  hops shared).

Both are pooled over the three seeds (hops over exposure) and compared with the rate realised in the
true trajectories (hops per frame of the whole field of view, consecutive frames).

Usage::

    python experiments/hop_rates_by_variant.py [--variants "dose ×0.5" ...] [--frames 150]

Writes ``results/experiments/hop_rates_by_variant.json`` and prints a table. About 1.5 min per
movie on 2 cores once generated (generation ≈ 1 min each).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config
from helpers.detect import site_hops
from helpers.detect import sites as st
from helpers.evaluation.robustness import site_reading_variants
from helpers.kinetics import rates as kr
from helpers.kinetics import tracking as tk
from helpers.synthetic.generator import standard_movie
from helpers.synthetic.params import MOVIE_CLASSES

SEEDS = (2023, 21168, 20168)
DEFAULT_VARIANTS = ("standard", "dose ×0.5", "probe 0.8 Å", "0.12 Å/px", "a = 3.16 Å")
TRACK_SETTINGS = dict(smooth=9, max_gap=tk.MOVIE_MEMORY_FRAMES + 1, hop_zone=1, hop_context=4, share_disputed=True)


def one_movie(params):
    """Pooled-able counts of one movie: per class true (hops, frames), pairs (hops, exposure),
    tracks (hops, frames), and the seconds of the reading and of the pair model."""
    m = standard_movie(params, progress=False)
    t0 = time.perf_counter()
    reading = st.read_sites(m.frames, m.pixel_size_A, m.params.lattice_a_A)
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pairs = site_hops.hop_rates_from_sites(reading)
    pair_s = time.perf_counter() - t0
    true = kr.hop_counts(tk.link_true_positions(m.visible_truth()), MOVIE_CLASSES)
    tracks = kr.hop_counts(tk.link_movie(st.defect_table(reading), 0), MOVIE_CLASSES, **TRACK_SETTINGS)
    rows = {c: {"true hops": true[c][0], "true frames": true[c][1],
                "pair hops": float(pairs["hops"].get(c, 0.0)), "pair exposure": float(pairs["exposure"].get(c, 0.0)),
                "track hops": tracks[c][0], "track frames": tracks[c][1]} for c in MOVIE_CLASSES}
    return pd.DataFrame.from_dict(rows, orient="index"), read_s, pair_s


def pooled(tables) -> pd.DataFrame:
    """Per class: true, pair and track rates pooled over movies, and their relative errors."""
    t = sum(tables)
    out = pd.DataFrame({"true hops": t["true hops"],
                        "true rate": t["true hops"] / t["true frames"].where(t["true frames"] > 0),
                        "pairs": t["pair hops"] / t["pair exposure"].where(t["pair exposure"] > 0),
                        "tracks": t["track hops"] / t["track frames"].where(t["track frames"] > 0)})
    for k in ("pairs", "tracks"):
        out[f"{k} rel error"] = ((out[k] - out["true rate"]).abs() / out["true rate"]).where(out["true hops"] > 0)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--out", default=str(config.ROOT / "results" / "experiments" / "hop_rates_by_variant.json"))
    args = ap.parse_args(argv)
    variants = site_reading_variants(args.frames)
    unknown = [v for v in args.variants if v not in variants]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(variants)}")
    results = []
    for name in args.variants:
        tables, secs = [], []
        for seed in SEEDS:
            table, read_s, pair_s = one_movie(replace(variants[name], seed=seed))
            tables.append(table)
            secs.append((read_s, pair_s))
            print(f"{name}, seed {seed}: read {read_s:.0f} s, pair model {pair_s:.1f} s", flush=True)
        p = pooled(tables)
        enough = p["true hops"] >= 20
        met = {k: int((p.loc[enough, f"{k} rel error"] <= 0.25).sum()) for k in ("pairs", "tracks")}
        print(f"{name}: classes with >= 20 true hops within 25 %: pairs {met['pairs']}, tracks {met['tracks']} "
              f"of {int(enough.sum())}")
        print(p.round(4).to_string(), flush=True)
        results.append({"variant": name, "seeds": list(SEEDS), "pooled": p.round(5).to_dict(orient="index"),
                        "within_25pct_of_classes_with_20_hops": {**met, "classes": int(enough.sum())},
                        "read_s": float(np.mean([s[0] for s in secs])), "pair_model_s": float(np.mean([s[1] for s in secs]))})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"frames": args.frames, "track_settings": TRACK_SETTINGS,
                               "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "variants": results}, indent=1, ensure_ascii=False, default=float))
    print(f"wrote {out.relative_to(config.ROOT) if out.is_relative_to(config.ROOT) else out}")


if __name__ == "__main__":
    main()
