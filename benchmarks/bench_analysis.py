"""Throughput of the movie analysis on this machine: localize (shipped localizer), classify and
CAM-refine every frame of the standard movie, read the classes from the column intensities
(frames/s), then track and estimate the kinetics.

Usage: python benchmarks/bench_analysis.py [--frames N] [--repeat N]
"""
from __future__ import annotations

import argparse
import os
import time

from helpers import config
from helpers.classify.classifier import load_classifier
from helpers.detect import pipeline as ma
from helpers.detect.localizer import LOCALIZER_FILE, load_localizer
from helpers.kinetics import rates
from helpers.kinetics import tracking as tk
from helpers.library import structures
from helpers.synthetic.generator import standard_movie
from helpers.synthetic.params import standard_params


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    movie = standard_movie(standard_params(n_frames=args.frames), progress=False)
    loc, lp, _ = load_localizer(config.MODELS_DIR / LOCALIZER_FILE)
    model, _ = load_classifier(config.MODELS_DIR / config.CLASSIFIER_FILE)
    runs = []
    for _ in range(args.repeat):
        res = ma.analyze_movie(movie.frames, movie.pixel_size_A, loc, lp, model, progress=False)
        runs.append(res)
    best = min(runs, key=lambda r: r.seconds["total"])
    t0 = time.perf_counter()
    tracks = tk.link_movie(best.table, lp.sum_half_window)
    rates.transition_matrix(rates.transition_counts(rates.track_sequences(tracks, smooth=5), list(structures.CLASS_NAMES)))
    rates.hop_rates(tracks, list(structures.CLASS_NAMES))
    rates.diffusion_coefficients(rates.msd_by_class(tracks, max_lag=10))
    track_s = time.perf_counter() - t0
    n = len(movie.frames)
    print(f"cores: {os.cpu_count()}")
    print(f"movie analysis ({n} frames of {movie.frames.shape[1]}² px, {len(best.table)} detections): "
          f"best {best.seconds['total']:.1f} s = {best.frames_per_s:.2f} frames/s "
          f"(localize {best.seconds['localize']:.1f} s, adapt the classifier {best.seconds['adapt']:.1f} s, "
          f"classify + CAM {best.seconds['classify']:.1f} s, column intensities {best.seconds['columns']:.1f} s); "
          f"runs {[round(r.seconds['total'], 1) for r in runs]}")
    print(f"windows classified: {len(best.table) / best.seconds['classify']:.0f} windows/s (incl. cutting, "
          f"5-frame averaging, CAM refinement)")
    print(f"tracking + kinetics: {track_s:.2f} s ({tracks['track'].nunique()} tracks)")


if __name__ == "__main__":
    main()
