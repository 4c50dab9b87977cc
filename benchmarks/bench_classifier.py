"""Training throughput (images/s) and classification throughput (windows/s) of the classifier.

Usage: python benchmarks/bench_classifier.py [--train-images N] [--epochs E]
Uses random 64×64 windows: throughput does not depend on the content.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from helpers.classifier import build_classifier, predict, train
from helpers.config import set_seed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--train-images", type=int, default=8192)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--classify-windows", type=int, default=20000)
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
    print(f"cores: {os.cpu_count()}, parameters: {m.count_params():,}")
    print(f"training: {res.images_per_s:.0f} images/s ({args.train_images} images × {res.epochs_run} epochs, "
          f"batch 128, including validation)")
    print(f"classification: {args.classify_windows / dt:.0f} windows/s (batch 512)")


if __name__ == "__main__":
    main()
