"""Time to simulate one library field and (extrapolated and recorded) the whole library on this machine.

Usage: python benchmarks/bench_simulation.py [--phonons N] [--class NAME]
Prints one field's wall time at the library's settings, and the per-field times recorded in the
shipped library files when they were built (the whole library's real cost).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from helpers import config
from helpers.library.files import load_library
from helpers.library.simulate import ImagingConditions, simulate_field


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--phonons", type=int, default=4)
    p.add_argument("--class", dest="name", default="Vw")
    args = p.parse_args()
    cond = ImagingConditions(phonon_configs=args.phonons)
    t0 = time.perf_counter()
    field = simulate_field(args.name, cond)
    wall = time.perf_counter() - t0
    print(f"cores: {os.cpu_count()}")
    print(f"one field ({args.name}, {field.image.shape[0]}² probe positions at {field.pixel_size_A} Å/px, "
          f"potential grid {field.gpts}, {args.phonons} phonon configs): {wall:.1f} s")
    print(f"-> {field.image.size * args.phonons / wall:.0f} probe positions × configs per second")
    for path in (config.LIBRARY_FILE, config.TEST_LIBRARY_FILE):
        if path.exists():
            lib = load_library(path)
            s = lib.fields["seconds"]
            print(f"{path.name}: {len(s)} fields recorded at build, median {np.median(s):.0f} s, "
                  f"total {s.sum() / 60:.1f} min for {len(lib)} windows")


if __name__ == "__main__":
    main()
