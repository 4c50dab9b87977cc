"""Adatoms that move between hollow sites through a movie, scored against their truth: tracks,
moves and the move rate of ``helpers.kinetics.adatom_tracks`` (``docs/site_reading.md``, "Adatoms").

Movies of 40 frames of 400² px at 0.15 Å/px (60 Å) of a 2H TMD are rendered with
:func:`helpers.synthetic.adatom_movie.adatom_movie` (incoherent Σ Zⁿ columns, a 1 Å probe with a 10 %
tail, shot noise), the lattice drifting 0.15 Å per frame along x plus a random walk of 0.05 Å per
frame. Up to twelve adatoms of one element start on hollow sites at least 16 Å inside the frame and
2 a apart (random placement fits 10–12); between two frames each moves with probability
``hop`` (:data:`HOPS_PER_FRAME`: 0.08 and 0.3) to one of its six
neighbouring hollow sites (one lattice constant a away) that is inside that margin and farther than
1.5 a from every other adatom. 1 % of the lattice sites hold a point defect of the material's
vocabulary, at least 5 Å from every hollow site an adatom visits. Each movie is read with
:func:`helpers.detect.sites.read_sites` (default settings) and its adatoms linked by
:func:`helpers.kinetics.adatom_tracks.track_adatoms`. Scored
(:func:`helpers.evaluation.tracks.score_adatom_tracks`):

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

from helpers import config
from helpers.detect import sites as st
from helpers.evaluation.tracks import score_adatom_tracks
from helpers.io.records import write_record
from helpers.kinetics.adatom_tracks import track_adatoms
from helpers.synthetic.adatom_movie import adatom_movie

#: chances per frame that an adatom moves to a neighbouring hollow site
HOPS_PER_FRAME = (0.08, 0.3)
SEEDS = (0, 1)
#: (material, adatom element)
CASES = (("WS2", "W"), ("MoS2", "Re"), ("WSe2", "Se"))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10⁴ e/Å² and hop 0.08 only")
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "adatom_hops.json"))
    args = ap.parse_args(argv)
    doses, hops = ((1e4,), HOPS_PER_FRAME[:1]) if args.quick else ((2e3, 1e4), HOPS_PER_FRAME)
    record = {"frames": 40, "frame_px": 400, "pixel_size_A": 0.15, "adatoms_at_most": 12,
              "defect_share": 0.01, "movies": []}
    for material, element in CASES:
        for dose, hop, seed in ((d, h, s) for d in doses for h in hops for s in SEEDS):
            mv = adatom_movie(material, element, dose, hop, seed)
            t0 = time.perf_counter()
            r = st.read_sites(mv.frames, mv.pixel_size_A, chemistry=mv.chemistry)
            tracks, moves = track_adatoms(r)
            row = {"material": material, "adatom": element, "dose_e_per_A2": dose, "hop": hop, "seed": seed,
                   "adatoms": int(mv.in_image_A.shape[1]), "reading_s": round(time.perf_counter() - t0, 1),
                   **score_adatom_tracks(tracks, moves, mv.in_image_A, mv.hops, mv.chemistry.lattice_a_A)}
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
