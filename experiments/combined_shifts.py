"""The default command on short movies that differ from the standard one in many things at once.

The robustness table of notebook 06 changes one thing per movie (seed, pixel size, dose, probe,
lattice constant) on 150-frame movies whose defects follow this repo's kinetics. A microscopist's
movie differs in everything at once, is often short, and its defects may move much faster. Here
each movie is generated in the geometry of a short acquisition (40 frames of 640² px at 0.16 Å/px,
or 0.12 Å/px at the same field), with, together:

* another probe: a narrower core (0.9 Å FWHM) with a heavier, narrower tail (8 % at 3 Å);
* another lattice constant (3.18 Å) and HAADF exponent (1.6 instead of 1.7);
* Poisson noise without read noise or dark counts, no contamination background, other drift;
* faster kinetics: every class except the `Mo` dopant hops ``--hop-factor`` times as often
  (default 3: `Vs2` every ~11 frames, `Vs` every ~6),

at the standard dose and at half of it, for a few seeds. Each movie is written as an ImageJ TIFF
and analysed with :func:`helpers.analyze_file` and its defaults, as a user would, then scored
against the truth (:func:`helpers.evaluation.defects.score_defects`).

Usage::

    python experiments/combined_shifts.py [--seeds 1 2 3] [--frames 40] [--hop-factor 3]

Writes ``results/experiments/combined_shifts.json`` and prints a table. About 1–2 min per movie
on 2 cores (generation included; movies are cached in ``data/generated/``).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from helpers import analyze_file, config
from helpers.detect import site_model as sm
from helpers.evaluation.defects import score_defects
from helpers.io.records import write_record
from helpers.io.writers import write_imagej_tiff
from helpers.synthetic.generator import standard_movie
from helpers.synthetic.params import KineticsParams, standard_params

FIELD_A = 102.4


def shifted_params(seed: int, n_frames: int, pixel_size_A: float, dose_e_per_A2: float, hop_factor: float):
    """Movie parameters that differ from the standard movie in probe, lattice, exponent, noise,
    drift and kinetics at once (see the module docstring)."""
    k = KineticsParams()
    hop = tuple(min(0.5, h * hop_factor) for h in k.hop_prob)
    return standard_params(
        seed=seed, n_frames=n_frames, pixel_size_A=pixel_size_A, frame_px=int(round(FIELD_A / pixel_size_A)),
        dose_e_per_A2=dose_e_per_A2, probe_fwhm_A=0.9, probe_tail_fwhm_A=3.0, probe_tail_weight=0.08,
        lattice_a_A=3.18, haadf_exponent=1.6, read_noise_counts=0.0, dark_counts=0.0,
        contamination_max_fraction=0.0, drift_velocity_A_per_frame=(-0.08, 0.04), drift_random_A_per_frame=0.08,
        kinetics=replace(k, hop_prob=hop))


def score_movie(movie, work: Path) -> dict:
    """Analyse ``movie`` as a TIFF with the command's defaults and score the defects."""
    ps = movie.pixel_size_A
    tif = write_imagej_tiff(work / "movie.tif", movie.frames, ps)
    t0 = time.perf_counter()
    res = analyze_file(tif, work / "result", quiet=True, sites_csv=False)
    seconds = time.perf_counter() - t0
    found = res.defects()
    found["frame"] -= 1  # defects.csv counts frames from 1, the generator's truth from 0
    sc = score_defects(found, movie.visible_truth(), ps, movie.frames.shape, sm.EDGE_MARGIN_A,
                       classes=sm.DEFECT_CLASSES)
    ev = movie.events
    sc["true_hops"] = {c: int(((ev["event"] == "hop") & (ev["from_class"] == c)).sum())
                       for c in sorted(set(ev["from_class"]))}
    sc["analysis_s"] = round(seconds, 1)
    sc["summary_warnings"] = res.summary.get("warnings", [])
    sc["halo_A"] = res.summary.get("column_reading", {}).get("halo_A")  # the width the empty columns chose
    return sc


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--hop-factor", type=float, default=3.0)
    ap.add_argument("--doses", type=float, nargs="+", default=[1e4, 5e3])
    ap.add_argument("--pixel-sizes", type=float, nargs="+", default=[0.16, 0.12])
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "combined_shifts.json"))
    args = ap.parse_args(argv)
    record = {"_run": {"frames": args.frames, "hop_factor": args.hop_factor, "field_A": FIELD_A}, "movies": []}
    for seed in args.seeds:
        for ps in args.pixel_sizes:
            for dose in args.doses:
                m = standard_movie(shifted_params(seed, args.frames, ps, dose, args.hop_factor), progress=False)
                with tempfile.TemporaryDirectory() as tmp:
                    sc = score_movie(m, Path(tmp))
                sc.update({"seed": seed, "pixel_size_A": ps, "dose_e_per_A2": dose, "frames": args.frames})
                record["movies"].append(sc)
                print(f"seed {seed}, {ps} Å/px, dose {dose:g}: {sc['true_defects']} true defect-frames, F1 "
                      f"{sc['f1_1A']:.3f} (1 Å), {sc['f1_0.5A']:.3f} (0.5 Å), precision {sc['precision_1A']:.3f}, "
                      f"class accuracy {sc['class_accuracy']:.3f}, halo {sc['halo_A']} Å, recall "
                      f"{ {k: round(v, 3) for k, v in sc['recall_per_class'].items()} }, median error "
                      f"{sc['position_median_error_A']:.3f} Å, hops {sc['true_hops']}, {sc['analysis_s']} s",
                      flush=True)
    f1 = [m["f1_1A"] for m in record["movies"]]
    record["f1_1A_range"] = [float(np.min(f1)), float(np.max(f1))]
    out = write_record(args.out, record)
    print("F1 at 1 Å", record["f1_1A_range"], "wrote", out)
    return record


if __name__ == "__main__":
    main()
