"""Time to generate the standard synthetic movie (150 frames, 512² px) on this machine.

Usage: python benchmarks/bench_movie.py [--repeat N]
"""
from __future__ import annotations

import argparse
import os
import time

from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import MovieParams


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    params = MovieParams()
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        m = generate_movie(params, progress=False)
        times.append(time.perf_counter() - t0)
    n = params.n_frames
    print(f"cores: {os.cpu_count()}")
    print(f"standard movie ({n} frames, {params.frame_px}² px): best {min(times):.1f} s "
          f"({n / min(times):.1f} frames/s), runs {[round(t, 1) for t in times]}")
    print(f"defects in view: frame 1 {len(m.visible_truth(0))}, frame {n} {len(m.visible_truth(n - 1))}")


if __name__ == "__main__":
    main()
