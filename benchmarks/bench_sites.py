"""Time and peak memory of the default path (every lattice site read, helpers.detect.sites) on this machine.

Each case runs in a fresh process, so its peak resident memory is its own:

- ``movie``: the standard movie (150 frames of 512² at 0.2 Å/px), read and decoded, then its hop
  rates from pairs of sites (:func:`helpers.detect.site_hops.hop_rates_from_sites`, timed apart);
- ``frame1024`` / ``frame4096``: one frame of 1024² / 4096² px (0.2 Å/px), read;
- ``command``: ``python -m helpers analyze`` on the standard movie as an ImageJ TIFF, end to end
  (reading the file, the site reading, tracks, figures, CSVs);
- ``stream``: the same command on a 1,000-frame movie of 1024² px (4.2 GB of float32 TIFF, written
  frame by frame into ``--stream-dir`` and left there for reruns; about 6 min to make), read from
  disk frame by frame.

Peak memory is the peak resident set of the process that does the work (for ``command`` and
``stream``: the command's own process).

``--without-other-phase`` reads the ``movie`` and ``frame`` cases without the test for areas of
another phase (:mod:`helpers.detect.hollow_sites`), to measure what it costs.

Usage: python benchmarks/bench_sites.py [--cases movie frame1024 frame4096 command stream]
                                        [--stream-dir DIR] [--without-other-phase]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from helpers.detect import site_hops
from helpers.detect import sites as st
from helpers.io import writers as fm
from helpers.synthetic.generator import generate_movie, standard_movie
from helpers.synthetic.params import standard_params

CASES = ("movie", "frame1024", "frame4096", "command", "stream")


def _peak_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kB on Linux


def run_command(tif: Path, out: Path) -> tuple[float, dict]:
    """``python -m helpers analyze`` on ``tif`` in a child process: (seconds, summary.json)."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "helpers", "analyze", str(tif), "--out", str(out), "--quiet",
                        "--overwrite"], capture_output=True, text=True)
    s = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(r.stderr)
    return s, json.loads((out / "summary.json").read_text())


def run_case(case: str, stream_dir: Path | None = None, other_phase: bool = True) -> dict:
    p = replace(st.SiteParams(), other_phase=other_phase)

    if case == "movie":
        m = standard_movie(standard_params(), progress=False)
        base = _peak_mb()
        t0 = time.perf_counter()
        r = st.read_sites(m.frames, m.pixel_size_A, p=p)
        s = time.perf_counter() - t0
        t0 = time.perf_counter()
        site_hops.hop_rates_from_sites(r)  # the kinetics the command adds for a movie
        kinetics_s = time.perf_counter() - t0
        return {"case": case, "frames": len(m.frames), "frame_px": m.frames.shape[1], "seconds": s,
                "kinetics_s": kinetics_s,
                "frames_per_s": len(m.frames) / s, "breakdown_s": r.seconds, "site_readings": len(r.sites),
                "defects": int(len(r.defects)), "peak_rss_mb": _peak_mb(), "peak_rss_before_mb": base}
    if case.startswith("frame"):
        px = int(case[5:])
        m = generate_movie(standard_params(n_frames=1, frame_px=px, seed=3), progress=False)
        frame = m.frames[0]
        del m
        base = _peak_mb()
        t0 = time.perf_counter()
        r = st.read_sites(frame, 0.2, p=p)
        s = time.perf_counter() - t0
        return {"case": case, "frames": 1, "frame_px": px, "seconds": s, "breakdown_s": r.seconds,
                "site_readings": len(r.sites), "defects": int(len(r.defects)), "peak_rss_mb": _peak_mb(),
                "peak_rss_before_mb": base}
    if case == "command":

        m = standard_movie(standard_params(), progress=False)
        with tempfile.TemporaryDirectory() as d:
            tif = fm.write_imagej_tiff(Path(d) / "movie.tif", m.frames, m.pixel_size_A)
            del m
            s, summary = run_command(tif, Path(d) / "out")
        return {"case": case, "frames": summary["frames"], "seconds": s, "defects": summary["detections"],
                "breakdown_s": summary["timings_s"], "tracks": summary.get("tracks"),
                "peak_rss_mb": _peak_mb(resource.RUSAGE_CHILDREN)}
    if case == "stream":
        d = Path(stream_dir or tempfile.gettempdir())
        tif = d / "defectfinder_stream_1000x1024.tif"
        if not tif.exists():
            generate_movie(standard_params(n_frames=1000, frame_px=1024, seed=5), progress=False, frames_to=tif)
        s, summary = run_command(tif, d / "defectfinder_stream_out")
        return {"case": case, "frames": summary["frames"], "frame_px": 1024, "seconds": s,
                "frames_per_s": summary["frames"] / s, "defects": summary["detections"],
                "breakdown_s": summary["timings_s"], "tracks": summary.get("tracks"),
                "peak_rss_mb": _peak_mb(resource.RUSAGE_CHILDREN), "file_gb": tif.stat().st_size / 1e9}
    raise SystemExit(f"unknown case {case!r}; one of {CASES}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--stream-dir", type=Path, default=None,
                   help="where the stream case keeps its 4.2 GB movie (default: the temporary folder)")
    p.add_argument("--without-other-phase", action="store_true",
                   help="movie and frame cases: skip the test for areas of another phase (its cost)")
    p.add_argument("--one", choices=CASES, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one, args.stream_dir, not args.without_other_phase)))
        return
    print(f"cores: {os.cpu_count()}")
    for case in args.cases:
        extra = ["--stream-dir", str(args.stream_dir)] if args.stream_dir else []
        extra += ["--without-other-phase"] if args.without_other_phase else []
        r = subprocess.run([sys.executable, __file__, "--one", case] + extra, capture_output=True, text=True)
        if r.returncode:
            print(f"{case}: failed\n{r.stderr[-2000:]}")
            continue
        res = json.loads(r.stdout.strip().splitlines()[-1])
        extra = ""
        if "breakdown_s" in res:
            extra = " (" + ", ".join(f"{k} {v:.1f} s" for k, v in res["breakdown_s"].items() if k != "total") + ")"
        if "kinetics_s" in res:
            extra += f"; hop rates from pairs of sites {res['kinetics_s']:.1f} s more"
        print(f"{case}: {res['frames']} frame(s), {res['seconds']:.1f} s{extra}; "
              f"{res.get('site_readings', '-')} site readings, {res['defects']} defects; "
              f"peak RSS {res['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
