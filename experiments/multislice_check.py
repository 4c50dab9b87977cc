"""The default command on frames this repo's movie generator did not render: multislice.

The site reading was developed on movies of :mod:`helpers.synthetic` (incoherent Σ Zⁿ columns, a
Gaussian probe with a Gaussian tail). Here a WS2 cell with defects of all seven classes is simulated
with abTEM (PRISM multislice, 60 kV, 30 mrad, 80–200 mrad HAADF, frozen phonons), so the column
shapes, the contrast between species (channelling, not Zⁿ) and the probe's tails come from the
physics of another code. :func:`helpers.synthetic.multislice.frames_from_cell` adds drift, a finite
source, scan-line jitter and counting noise; the frames are written as an ImageJ TIFF and analysed
with :func:`helpers.analyze_file` and its defaults, as a user would, then scored against the truth
(:func:`helpers.evaluation.defects.score_defects`).

Usage::

    python experiments/multislice_check.py [--cells 3] [--frames 10] [--phonons 2]

Writes ``results/experiments/multislice_check.json`` and prints a table. The simulations are cached
in ``data/generated/multislice/`` (one cell: ~10–30 min on 2 cores, once).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from helpers import analyze_file, config
from helpers.detect import site_model as sm
from helpers.evaluation.defects import score_defects
from helpers.io.records import write_record
from helpers.io.writers import write_imagej_tiff
from helpers.library.simulate import ImagingConditions, simulate_cell_cached
from helpers.library.structures import ws2_with_defects
from helpers.synthetic.multislice import frames_from_cell

#: Defects per simulated cell (≈ 67 × 66 Å): every class of the site reading.
DEFECTS_PER_CELL = {"Mo": 2, "Vw": 2, "Sw": 2, "Vs2": 3, "Vs": 3, "W2s2": 2, "Ws": 2}
CELL_A = 64.0
PIXEL_SIZE_A = 0.16
FRAME_PX = 640  # 102 Å, the standard movie's field


def simulated_cell(seed: int, phonons: int, cache: Path) -> tuple[np.ndarray, list[dict], float, dict]:
    """The multislice image of cell ``seed`` (cached), its truth and its pixel size (Å/px)."""
    cond = ImagingConditions(phonon_configs=phonons, phonon_seed=seed, prism_interpolation=8)
    atoms, truth = ws2_with_defects(CELL_A, DEFECTS_PER_CELL, np.random.default_rng(seed))
    path = cache / f"ws2_cell_seed{seed}_ph{phonons}_ps{PIXEL_SIZE_A}.npz"
    image, truth, ps, info = simulate_cell_cached(atoms, truth, cond, PIXEL_SIZE_A, path)
    info = {"seed": seed, **info}
    return image, truth, ps, info


def score_movie(frames, truth, ps: float, work: Path) -> dict:
    """Analyse ``frames`` as a TIFF with the command's defaults and score the defects."""
    tif = write_imagej_tiff(work / "movie.tif", frames, ps)
    t0 = time.perf_counter()
    res = analyze_file(tif, work / "result", quiet=True, sites_csv=False)
    seconds = time.perf_counter() - t0
    found = res.defects()
    sc = score_defects(found, truth, ps, frames.shape[1:], sm.EDGE_MARGIN_A, classes=sm.DEFECT_CLASSES)
    sc["analysis_s"] = round(seconds, 1)
    sc["summary_warnings"] = res.summary.get("warnings", [])
    sc["halo_A"] = res.summary.get("column_reading", {}).get("halo_A")  # the width the empty columns chose
    return sc


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=3)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--phonons", type=int, default=2)  # the stored run (docs/site_reading.md)
    ap.add_argument("--doses", type=float, nargs="+", default=[1e4, 5e3])
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "multislice_check.json"))
    args = ap.parse_args(argv)
    cache = config.GENERATED_DIR / "multislice"
    record = {"cells": [], "movies": []}
    for seed in range(args.cells):
        image, truth, ps, info = simulated_cell(seed, args.phonons, cache)
        record["cells"].append(info)
        print(f"cell {seed}: {info['atoms']} atoms, {image.shape} px, simulated in {info['simulation_s']} s")
        for dose in args.doses:
            rng = np.random.default_rng(1000 + seed)
            frames, t = frames_from_cell(image, truth, ps, args.frames, FRAME_PX, dose, rng)
            with tempfile.TemporaryDirectory() as tmp:
                sc = score_movie(frames, t, ps, Path(tmp))
            sc.update({"cell": seed, "dose_e_per_A2": dose, "frames": args.frames, "pixel_size_A": ps})
            record["movies"].append(sc)
            print(f"  dose {dose:g}: F1 {sc['f1_1A']:.3f} (1 Å), {sc['f1_0.5A']:.3f} (0.5 Å), class "
                  f"accuracy {sc['class_accuracy']:.3f}, recall per class {sc['recall_per_class']}, "
                  f"bias {sc['position_bias_A']}, {sc['analysis_s']} s", flush=True)
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main()
