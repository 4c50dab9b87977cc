"""Training throughput (images/s), classification throughput (windows/s) and class-activation-map
throughput (windows/s, single view and mirror-averaged) of the classifier.

Usage: python benchmarks/bench_classifier.py [--train-images N] [--epochs E]
Uses random 64×64 windows: throughput does not depend on the content.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from helpers.classify.cams import class_activation_maps
from helpers.classify.classifier import build_classifier, predict, train
from helpers.config import set_seed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--train-images", type=int, default=8192)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--classify-windows", type=int, default=20000)
    p.add_argument("--cam-windows", type=int, default=8192)
    args = p.parse_args()
    rng = set_seed(0)
    x = rng.random((args.train_images, 64, 64), dtype=np.float32)
    y = rng.integers(0, 6, args.train_images)
    m = build_classifier()
    res = train(m, x, y, x[:512], y[:512], epochs=args.epochs, batch_size=128, patience=99, verbose=0)
    xc = rng.random((args.classify_windows, 64, 64), dtype=np.float32)
    predict(m, xc[:1024])  # warm-up
    t0 = time.perf_counter()
    predict(m, xc)
    dt = time.perf_counter() - t0
    cam_s = {}
    for flips in (False, True):
        t1 = time.perf_counter()
        class_activation_maps(m, xc[: args.cam_windows], flips=flips)
        cam_s[flips] = time.perf_counter() - t1
    print(f"cores: {os.cpu_count()}, parameters: {m.count_params():,}")
    print(f"training: {res.images_per_s:.0f} images/s ({args.train_images} images × {res.epochs_run} epochs, "
          f"batch 128, including validation)")
    print(f"classification: {args.classify_windows / dt:.0f} windows/s (batch 512)")
    print(f"class activation maps: {args.cam_windows / cam_s[False]:.0f} windows/s single view, "
          f"{args.cam_windows / cam_s[True]:.0f} windows/s mirror-averaged (4 views)")


if __name__ == "__main__":
    main()
