"""Adatoms that move between hollow sites through a movie, scored against their truth: tracks,
moves and the move rate of ``helpers.kinetics.adatom_tracks`` (``docs/site_reading.md``, "Adatoms").

Movies of 40 frames of 400² px at 0.15 Å/px (60 Å) of a 2H TMD are rendered with
:func:`helpers.synthetic.tmd_image.render_tmd` (incoherent Σ Zⁿ columns, a 1 Å probe with a 10 %
tail, shot noise), the lattice drifting 0.15 Å per frame along x plus a random walk of 0.05 Å per
frame. Up to twelve adatoms of one element start on hollow sites at least 16 Å inside the frame and
2 a apart (random placement fits 10–12); between two frames each moves with probability
``hop`` (:data:`HOPS_PER_FRAME`: 0.08 and 0.3) to one of its six
neighbouring hollow sites (one lattice constant a away) that is inside that margin and farther than
1.5 a from every other adatom. 1 % of the lattice sites hold a point defect of the material's
vocabulary, at least 5 Å from every hollow site an adatom visits. Each movie is read with
:func:`helpers.detect.sites.read_sites` (default settings) and its adatoms linked by
:func:`helpers.kinetics.adatom_tracks.track_adatoms`. Scored:

- ``recall``, ``precision``: adatom readings against the true adatoms of each frame within 0.6 Å;
- ``tracks`` (against ``adatoms``), ``track_purity`` (share of a track's matched readings that belong to its
  commonest true adatom, pooled), ``tracks_per_adatom`` (tracks that hold readings of a true adatom,
  mean);
- ``moves_true`` (realised hops), ``moves_found`` (steps > a/2 of a track), ``move_recall`` /
  ``move_precision`` (a found move matches a true hop that arrived between the two frames of the
  step, from within 0.6 Å of the step's start to within 0.6 Å of its end);
- ``rate_true`` (hops per adatom per frame interval) against ``rate_found``
  (``moves_per_adatom_frame`` of the reading).

Usage::

    python experiments/adatom_hops.py [--quick]

Writes ``results/experiments/adatom_hops.json``. About 10 s per movie on 2 cores (``--quick``:
10⁴ e/Å² and hop 0.08 only).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from helpers import config
from helpers.core.chemistry import chemistry_of
from helpers.detect import sites as st
from helpers.evaluation.matching import match_points
from helpers.io.records import write_record
from helpers.kinetics.adatom_tracks import track_adatoms
from helpers.synthetic.tmd_image import hollow_sites_A, render_tmd, tmd_sites

FRAMES, SIZE_PX, PIXEL_SIZE_A, N_ADATOMS, MARGIN_A = 40, 400, 0.15, 12, 16.0
#: chances per frame that an adatom moves to a neighbouring hollow site
HOPS_PER_FRAME = (0.08, 0.3)
DEFECT_SHARE, DRIFT_A, WALK_A, WITHIN_A = 0.01, 0.15, 0.05, 0.6
SEEDS = (0, 1)
#: (material, adatom element)
CASES = (("WS2", "W"), ("MoS2", "Re"), ("WSe2", "Se"))


def trajectories(hollows: np.ndarray, a: float, hop: float, rng: np.random.Generator) -> np.ndarray:
    """(frames, adatoms, 2) positions (Å, lattice frame) of adatoms hopping between ``hollows``
    (module text)."""
    tree = cKDTree(hollows)
    start = []
    for k in rng.permutation(len(hollows)):
        if all(np.hypot(*(hollows[k] - hollows[s])) >= 2 * a for s in start):
            start.append(k)
        if len(start) == N_ADATOMS:
            break
    at = np.array(start)
    out = [hollows[at]]
    for _ in range(1, FRAMES):
        for n in rng.permutation(len(at)):
            if rng.random() >= hop:
                continue
            nb = [k for k in tree.query_ball_point(hollows[at[n]], 1.1 * a) if k != at[n]]
            others = hollows[np.delete(at, n)]
            nb = [k for k in nb if np.hypot(*(others - hollows[k]).T).min() > 1.5 * a]
            if nb:
                at[n] = nb[rng.integers(len(nb))]
        out.append(hollows[at])
    return np.stack(out)


def movie(material: str, element: str, dose: float, hop: float, seed: int):
    """(frames, chemistry, adatom positions per frame on the lattice and in the image (Å, each
    (frames, adatoms, 2)))."""
    chem = chemistry_of(material, [])
    rng = np.random.default_rng(seed)
    hollows = hollow_sites_A(chem, SIZE_PX, PIXEL_SIZE_A, margin_A=MARGIN_A)
    traj = trajectories(hollows, chem.lattice_a_A, hop, rng)
    visited = cKDTree(np.unique(traj.reshape(-1, 2).round(3), axis=0))
    contents = chem.site_contents()
    planted = {}
    for sub, i, j, x, y in tmd_sites(chem, SIZE_PX, PIXEL_SIZE_A):
        if rng.random() < DEFECT_SHARE and visited.query((x, y))[0] >= 5.0:
            names = [c for c in contents[sub] if c != chem.pristine(sub)]
            planted[(sub, i, j)] = names[rng.integers(len(names))]
    origins = np.cumsum(np.vstack([[0.0, 0.0], np.column_stack([np.full(FRAMES - 1, DRIFT_A), np.zeros(FRAMES - 1)])
                                   + rng.normal(0.0, WALK_A, (FRAMES - 1, 2))]), axis=0)
    frames = []
    for t in range(FRAMES):
        o = origins[t]
        img, _ = render_tmd(chem, planted, PIXEL_SIZE_A, SIZE_PX, dose, rng, origin_A=tuple(o),
                            adatoms=[(x + o[0], y + o[1], element) for x, y in traj[t]])
        frames.append(img)
    return np.stack(frames).astype(np.float64), chem, traj, traj + origins[:, None, :]


def score(tracks, moves: dict, on_lattice: np.ndarray, truth: np.ndarray, a: float) -> dict:
    """The scores of one movie's adatom tracks against the true positions, on the lattice (for
    the hops) and in the image (module text)."""
    T, K, _ = truth.shape
    if tracks is None or "track" not in tracks:  # no adatom listed in any frame
        tracks = pd.DataFrame(columns=["frame", "x_A", "y_A", "x_corr_A", "y_corr_A", "track"])
    hops = [(n, t) for t in range(1, T) for n in range(K)
            if np.hypot(*(on_lattice[t, n] - on_lattice[t - 1, n])) > 0.5 * a]
    tp = listed = 0
    who = np.full(len(tracks), -1)
    tr = tracks.reset_index(drop=True)
    for t in range(T):
        rows = np.flatnonzero(tr["frame"].to_numpy() == t)
        listed += len(rows)
        if not len(rows):
            continue
        m = match_points(tr.loc[rows, ["x_A", "y_A"]].to_numpy(), truth[t], WITHIN_A)
        tp += m.tp
        for i, j in m.pairs:
            who[rows[i]] = j
    tr["who"] = who
    matched = tr[tr["who"] >= 0]
    purity = (matched.groupby("track")["who"].agg(lambda w: w.value_counts().iloc[0]).sum() / len(matched)
              if len(matched) else float("nan"))
    per_adatom = matched.groupby("who")["track"].nunique()
    found = []  # (who at the end, arrival window (t0, t1]) of each move found
    for _, g in tr.sort_values("frame").groupby("track"):
        g = g.reset_index(drop=True)
        step = np.hypot(np.diff(g["x_corr_A"]), np.diff(g["y_corr_A"]))
        for k in np.flatnonzero(step > 0.5 * a):
            found.append((int(g.loc[k, "who"]), int(g.loc[k + 1, "who"]), int(g.loc[k, "frame"]),
                          int(g.loc[k + 1, "frame"])))
    hit_true, hit_found = set(), 0
    for w0, w1, t0, t1 in found:
        if w0 < 0 or w0 != w1:
            continue
        cand = [h for h in hops if h[0] == w1 and t0 < h[1] <= t1 and h not in hit_true]
        if cand:
            hit_true.add(cand[0])
            hit_found += 1
    intervals = K * (T - 1)
    return {"readings_true": int(T * K), "readings_listed": int(listed), "recall": tp / (T * K),
            "precision": tp / listed if listed else 0.0, "tracks": int(tr["track"].nunique()),
            "track_purity": float(purity), "tracks_per_adatom": float(per_adatom.mean()) if len(per_adatom) else 0.0,
            "moves_true": len(hops), "moves_found": len(found),
            "move_recall": len(hit_true) / len(hops) if hops else float("nan"),
            "move_precision": hit_found / len(found) if found else float("nan"),
            "rate_true": len(hops) / intervals, "rate_found": moves.get("moves_per_adatom_frame")}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10⁴ e/Å² only")
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "adatom_hops.json"))
    args = ap.parse_args(argv)
    doses, hops = ((1e4,), HOPS_PER_FRAME[:1]) if args.quick else ((2e3, 1e4), HOPS_PER_FRAME)
    record = {"frames": FRAMES, "frame_px": SIZE_PX, "pixel_size_A": PIXEL_SIZE_A, "adatoms_at_most": N_ADATOMS,
              "defect_share": DEFECT_SHARE, "movies": []}
    for material, element in CASES:
        for dose, hop, seed in ((d, h, s) for d in doses for h in hops for s in SEEDS):
            frames, chem, on_lattice, truth = movie(material, element, dose, hop, seed)
            t0 = time.perf_counter()
            r = st.read_sites(frames, PIXEL_SIZE_A, chemistry=chem)
            tracks, moves = track_adatoms(r)
            row = {"material": material, "adatom": element, "dose_e_per_A2": dose, "hop": hop, "seed": seed,
                   "adatoms": int(truth.shape[1]),
                   "reading_s": round(time.perf_counter() - t0, 1),
                   **score(tracks, moves, on_lattice, truth, chem.lattice_a_A)}
            record["movies"].append(row)
            print(f"{material} {element} {dose:.0e} hop {hop} seed {seed}: readings R {row['recall']:.3f} P "
                  f"{row['precision']:.3f}; tracks {row['tracks']} (purity {row['track_purity']:.3f}, "
                  f"{row['tracks_per_adatom']:.2f} per adatom); moves {row['moves_found']} found / "
                  f"{row['moves_true']} true (R {row['move_recall']:.3f}, P {row['move_precision']:.3f}); "
                  f"rate {row['rate_found']} vs {row['rate_true']:.4f}; {row['reading_s']} s", flush=True)
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main()
