"""The default command on TMD movies rendered by code that shares nothing with the repo's generator.

The held-back check of the detection issue is a movie rendered by other code. The repo's own
stand-ins (``combined_shifts.py``, ``multislice_check.py``) still go through
:mod:`helpers.synthetic` for the scan, the noise and the kinetics. This renderer is written apart,
with numpy only, and on purpose differently:

* incoherent HAADF imaging with a **coherent, aberrated probe**: the probe intensity is |FFT of a
  circular aperture (25 mrad at 80 kV) with defocus and a residual Cs|², so it has Airy rings and a
  defocus tail, not a Gaussian core with a Gaussian tail;
* columns as Σ Zⁿ (n 1.5–1.8, not the generator's 1.7) deposited on a 4× finer grid, convolved
  with the probe, binned: pixel centres sit 3/8 px off the column grid's origin (corrected in the
  scoring);
* a lattice constant of 3.15–3.19 Å at any rotation, a scan shear, line jitter (each row shifted
  whole by a normal draw), drift as a random walk, Poisson counts at 15–60 counts on a W column,
  a detector offset, uint16 TIFF;
* defects of the poster's classes and single S vacancies placed at random (not by the generator's
  kinetics), `Vs2`/`Vs` hopping to a free neighbouring S₂ site with a fixed chance per frame.

The scenarios add what real acquisitions do and the generator does not: vacuum drifting into the
field, crowded defects with line defects of empty S₂ columns and a beam current falling by 30 %,
scan glitches (saturated, blank and shifted rows, a frame stopped mid-scan), and each frame exported
as 8 bits with its own contrast; others vary the sampling (0.06–0.40 Å/px at the same dose per Å²),
the lattice constant (3.12–3.26 Å) and the material (MoS2, WSe2, MoSe2: the same seven contents with
the elements swapped, a substituting metal named with ``--dopants``, the truth named as the command
names it). Each movie is analysed with :func:`helpers.analyze_file` and its
defaults (``--material``/``--dopants`` set to the movie's), as a user would, and scored against its truth inside the read area
(:func:`helpers.evaluation.defects.score_defects`; frames from 1 in ``defects.csv``).

Usage::

    python experiments/independent_movies.py [--only NAME ...]

Writes ``results/experiments/independent_movies.json`` and prints a table. About 25 s per movie on
2 cores (rendering included).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import analyze_file, config
from helpers.detect import site_model as sm
from helpers.evaluation.defects import score_defects
from helpers.io.records import write_record

#: atomic numbers of the columns' atoms
Z = {"W": 74, "S": 16, "Mo": 42, "Se": 34, "V": 23}
#: what each class's column holds (sublattice, atoms), written for WS2 with Mo as the substituent;
#: another material's movie swaps the elements (:func:`elements`) and names the classes as the
#: command does (:data:`VOCABULARY`)
CONTENTS = {"Vw": ("metal", ()), "Mo": ("metal", ("Mo",)), "Sw": ("metal", ("S",)),
            "Vs2": ("chalcogen", ()), "Vs": ("chalcogen", ("S",)), "W2s2": ("chalcogen", ("W",)),
            "Ws": ("chalcogen", ("W", "S"))}
#: the poster's WS2 names → the vocabulary's (M metal, X chalcogen, D the substituting metal)
VOCABULARY = {"Vw": "Vac_{M}", "Mo": "{D}_{M}", "Sw": "{X}_{M}", "Vs2": "Vac_{X}2", "Vs": "Vac_{X}",
              "W2s2": "{M}_{X}2", "Ws": "{M}_{X}"}
#: material → (metal, chalcogen, substituting metal named with ``--dopants``; None: the material's
#: own vocabulary has it, as WS2's poster class ``Mo`` has)
MATERIALS = {"WS2": ("W", "S", None), "MoS2": ("Mo", "S", "V"), "WSe2": ("W", "Se", "V"),
             "MoSe2": ("Mo", "Se", "W")}
POINT_DEFECTS = {"Vw": 5, "Mo": 6, "Sw": 4, "Vs2": 12, "Vs": 10, "W2s2": 3, "Ws": 3}
BASE = dict(seed=1, pixel_size_A=0.16, frame_px=640, lattice_a_A=3.19, exponent=1.65, rotation_deg=23.0,
            frames=20, material="WS2", hop=0.1, shear=0.004, jitter_px=0.25, peak_counts=60.0, offset_counts=3.0,
            defocus_A=-15.0, drift_A=(0.1, -0.05), drift_sd_A=0.15, extend_A=40.0, apart_A=8.0,
            lines=0, line_length=7, current_change=0.0, defects=POINT_DEFECTS)
#: name → what differs from BASE (plus ``glitches`` and ``eight_bit`` applied after rendering)
SCENARIOS = {
    "base": {},
    "half counts": dict(seed=2, rotation_deg=-41.0, hop=0.2, peak_counts=30.0),
    "0.12 Å/px": dict(seed=3, pixel_size_A=0.12, frame_px=854, rotation_deg=7.0, hop=0.2, shear=-0.003,
                      jitter_px=0.35, peak_counts=20.0, offset_counts=2.0),
    "defocus, 0.5 px jitter": dict(seed=4, lattice_a_A=3.15, exponent=1.5, rotation_deg=60.0, hop=0.2,
                                   shear=0.006, jitter_px=0.5, offset_counts=10.0, defocus_A=-45.0),
    "quarter counts": dict(seed=5, exponent=1.8, rotation_deg=13.0, hop=0.2, shear=0.0, jitter_px=0.2,
                           peak_counts=15.0, offset_counts=1.0, defocus_A=-10.0),
    "vacuum drifting in": dict(seed=6, frames=40, peak_counts=40.0, drift_A=(0.6, -0.4), drift_sd_A=0.4,
                               extend_A=3.0),
    "29 Å of drift": dict(seed=6, frames=40, peak_counts=40.0, drift_A=(0.6, -0.4), drift_sd_A=0.4),
    "crowded, lines, current -30 %": dict(seed=7, rotation_deg=31.0, peak_counts=40.0, apart_A=3.5, lines=4,
                                          current_change=-0.3,
                                          defects={"Vw": 8, "Mo": 8, "Sw": 6, "Vs2": 20, "Vs": 16, "W2s2": 4,
                                                   "Ws": 4}),
    "scan glitches": dict(glitches=True),
    "8-bit, contrast per frame": dict(eight_bit=True),
    "0.06 Å/px": dict(seed=11, pixel_size_A=0.06, frame_px=1024, peak_counts=8.5, offset_counts=0.5, jitter_px=0.6,
                      apart_A=5.0, defects={"Vw": 2, "Mo": 2, "Sw": 2, "Vs2": 4, "Vs": 4, "W2s2": 2, "Ws": 2}),
    "0.30 Å/px": dict(seed=12, pixel_size_A=0.30, frame_px=400, rotation_deg=-17.0, jitter_px=0.12,
                      peak_counts=210.0, offset_counts=10.0),
    "0.40 Å/px": dict(seed=13, pixel_size_A=0.40, frame_px=320, rotation_deg=41.0, jitter_px=0.1,
                      peak_counts=375.0, offset_counts=15.0),
    "a 3.26 Å (strained 2 %)": dict(seed=14, lattice_a_A=3.26, rotation_deg=5.0),
    "a 3.12 Å": dict(seed=15, lattice_a_A=3.12, rotation_deg=-8.0),
    "MoS2, V dopants": dict(seed=16, material="MoS2", lattice_a_A=3.16, rotation_deg=-29.0),
    "WSe2, V dopants": dict(seed=17, material="WSe2", lattice_a_A=3.28, rotation_deg=11.0),
    "MoSe2, W dopants": dict(seed=18, material="MoSe2", lattice_a_A=3.29, rotation_deg=52.0),
}


def elements(material: str) -> tuple[dict, dict]:
    """The elements that stand for the WS2 roles of :data:`CONTENTS` in ``material`` ({"W": metal,
    "S": chalcogen, "Mo": substituent}) and the class names the command gives (poster name → name)."""
    from helpers.core.chemistry import chemistry_of

    metal, chalcogen, dopant = MATERIALS[material]
    sub = dopant or "Mo"
    chem = chemistry_of(material, (dopant,) if dopant else None)
    names = {k: chem.label(v.format(M=metal, X=chalcogen, D=sub)) for k, v in VOCABULARY.items()}
    return {"W": metal, "S": chalcogen, "Mo": sub}, names


def probe_transfer(n: int, pixel_size_A: float, kv: float = 80.0, aperture_mrad: float = 25.0,
                   defocus_A: float = -15.0, cs_mm: float = 0.002) -> np.ndarray:
    """The optical transfer (FFT of the probe intensity, n × n, normalised) of a coherent probe from a
    circular aperture with defocus and spherical aberration (relativistic wavelength)."""
    volts = kv * 1e3
    lam = 12.2643 / np.sqrt(volts * (1 + volts / (2 * 511e3)))  # Å
    k = np.fft.fftfreq(n, pixel_size_A)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    aperture = np.sqrt(k2) * lam <= aperture_mrad * 1e-3
    chi = np.pi * lam * defocus_A * k2 + 0.5 * np.pi * cs_mm * 1e7 * lam ** 3 * k2 ** 2
    intensity = np.abs(np.fft.ifft2(aperture * np.exp(-1j * chi))) ** 2
    return np.fft.fft2(intensity / intensity.sum())


def honeycomb(a_A: float, rotation_deg: float, size_A: float, extend_A: float, origin_A):
    """Metal and chalcogen column positions (x, y Å) of a 2H TMD over the field and ``extend_A``
    around it; returns (metal, chalcogen, a1)."""
    th = np.deg2rad(rotation_deg)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    a1, a2 = rot @ np.array([a_A, 0.0]), rot @ np.array([a_A / 2, a_A * np.sqrt(3) / 2])
    m = int(2 * (size_A + 2 * extend_A) / a_A) + 4
    ij = np.stack(np.meshgrid(np.arange(-m, m), np.arange(-m, m)), -1).reshape(-1, 2)
    base = ij[:, :1] * a1 + ij[:, 1:] * a2 + np.asarray(origin_A)
    out = []
    for shift in (0.0, 1.0 / 3):
        p = base + shift * (a1 + a2)
        keep = np.all((p > -extend_A) & (p < size_A + extend_A), axis=1)
        out.append(p[keep])
    return out[0], out[1], a1


def place_defects(rng, metal, chalcogen, a1, size_A: float, s: dict):
    """Contents of every column and the defects [class, sublattice, index] placed ≥ ``apart_A`` apart
    and 8 Å inside the field, plus ``lines`` rows of ``line_length`` empty S₂ columns along a1."""
    content = {"metal": [("W",)] * len(metal), "chalcogen": [("S", "S")] * len(chalcogen)}
    pts = {"metal": metal, "chalcogen": chalcogen}

    def inner(p):
        return np.all((p > 8) & (p < size_A - 8), axis=-1)

    defects, used = [], []
    for cls, count in s["defects"].items():
        kind, atoms = CONTENTS[cls]
        cand = np.flatnonzero(inner(pts[kind]))
        rng.shuffle(cand)
        placed = 0
        for c in cand:
            if placed >= count:
                break
            if any(np.hypot(*(pts[kind][c] - q)) < s["apart_A"] for q in used):
                continue
            used.append(pts[kind][c])
            content[kind][c] = atoms
            defects.append([cls, kind, int(c)])
            placed += 1
    for _ in range(s["lines"]):
        start = chalcogen[rng.choice(np.flatnonzero(inner(chalcogen)))]
        for k in range(s["line_length"]):
            d = np.hypot(*(chalcogen - (start + k * a1)).T)
            c = int(np.argmin(d))
            if d[c] > 0.3 or not inner(chalcogen[c]) or content["chalcogen"][c] != ("S", "S"):
                break
            content["chalcogen"][c] = ()
            defects.append(["Vs2", "chalcogen", c])
    return content, defects


def render(s: dict):
    """A movie (n, H, W) uint16 and its truth (frame from 1, x_A, y_A, class) from settings ``s``
    (:data:`BASE` updated with a scenario)."""
    rng = np.random.default_rng(s["seed"])
    role, names = elements(s["material"])
    ps, n_px, over = s["pixel_size_A"], s["frame_px"], 4
    size_A = n_px * ps
    transfer = probe_transfer(n_px * over, ps / over, defocus_A=s["defocus_A"])
    metal, chalcogen, a1 = honeycomb(s["lattice_a_A"], s["rotation_deg"], size_A, s["extend_A"],
                                     rng.uniform(0, 3, 2))
    content, defects = place_defects(rng, metal, chalcogen, a1, size_A, s)
    pts = {"metal": metal, "chalcogen": chalcogen}
    drift = np.zeros(2)
    frames, truth = [], []
    for f in range(s["frames"]):
        for d in defects:  # vacancies of the S₂ sublattice hop to a free neighbouring site
            if d[0] in ("Vs2", "Vs") and rng.random() < s["hop"]:
                dist = np.hypot(*(chalcogen - chalcogen[d[2]]).T)
                free = [x for x in np.flatnonzero((dist > 0.5) & (dist < 1.05 * s["lattice_a_A"]))
                        if content["chalcogen"][x] == ("S", "S") and np.all((chalcogen[x] > 8) & (chalcogen[x] < size_A - 8))]
                if free:
                    to = int(rng.choice(free))
                    content["chalcogen"][to], content["chalcogen"][d[2]] = content["chalcogen"][d[2]], ("S", "S")
                    d[2] = to
        drift += rng.normal(0, s["drift_sd_A"], 2) + np.asarray(s["drift_A"])
        fine = np.zeros((n_px * over, n_px * over))
        moved = {}
        for kind, p in pts.items():
            q = p + drift
            q = q + np.c_[s["shear"] * q[:, 1], np.zeros(len(q))]  # the scan's shear
            moved[kind] = q
            w = np.array([sum(Z[role[a]] ** s["exponent"] for a in atoms) for atoms in content[kind]])
            fx, fy = q[:, 0] / (ps / over), q[:, 1] / (ps / over)
            ix, iy = np.floor(fx).astype(int), np.floor(fy).astype(int)
            dx, dy = fx - ix, fy - iy
            for ox, oy, share in ((0, 0, (1 - dx) * (1 - dy)), (1, 0, dx * (1 - dy)), (0, 1, (1 - dx) * dy), (1, 1, dx * dy)):
                X, Y = ix + ox, iy + oy
                ok = (X >= 0) & (X < fine.shape[1]) & (Y >= 0) & (Y < fine.shape[0])
                np.add.at(fine, (Y[ok], X[ok]), (w * share)[ok])
        img = np.real(np.fft.ifft2(np.fft.fft2(fine) * transfer)).reshape(n_px, over, n_px, over).mean((1, 3))
        jitter = rng.normal(0, s["jitter_px"], n_px)  # each row shifted whole
        cols = np.arange(n_px)
        img = np.array([np.interp(cols - jitter[r], cols, img[r]) for r in range(n_px)])
        current = 1 + s["current_change"] * f / max(s["frames"] - 1, 1)
        img = img / img.max() * s["peak_counts"] * current + s["offset_counts"]
        frames.append(rng.poisson(np.clip(img, 0, None)).astype(np.uint16))
        off = 3 / 8 * ps  # the fine grid's origin against the binned pixel centres
        for cls, kind, c in defects:
            x, y = moved[kind][c]
            row = int(np.clip(round(y / ps), 0, n_px - 1))
            truth.append((f + 1, x + jitter[row] * ps - off, y - off, names[cls]))
    return np.array(frames), pd.DataFrame(truth, columns=["frame", "x_A", "y_A", "class"])


def add_glitches(frames):
    """Frame 6: four saturated rows; frame 9: eleven rows shifted by 7 px; frame 13: three blank rows;
    the last frame stopped 60 % of the way down (frames from 1)."""
    g = frames.copy()
    g[5, 200:204] = frames.max()
    g[8, 300:311] = np.roll(g[8, 300:311], 7, axis=1)
    g[12, 400:403] = 0
    g[-1, int(0.6 * g.shape[1]):] = 0
    return g


def eight_bit(frames, rng):
    """Each frame stretched to 0–255 between its own (randomly chosen) limits, as an export does."""
    out = []
    for f in frames.astype(np.float32):
        lo, hi = np.percentile(f, 0.5) * rng.uniform(0.5, 1.5), np.percentile(f, 99.8) * rng.uniform(0.8, 1.2)
        out.append(np.clip((f - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8))
    return np.array(out)


def run(name: str, changes: dict, work: Path) -> dict:
    import tifffile

    s = {**BASE, **{k: v for k, v in changes.items() if k not in ("glitches", "eight_bit")}}
    frames, truth = render(s)
    if changes.get("glitches"):
        frames = add_glitches(frames)
    if changes.get("eight_bit"):
        frames = eight_bit(frames, np.random.default_rng(s["seed"]))
    # written here, not with helpers.io.writers.write_imagej_tiff: that one stores float32, and these
    # movies must reach the command as the detector's uint16 or an export's uint8
    ps_nm = s["pixel_size_A"] / 10
    path = work / "movie.tif"
    tifffile.imwrite(path, frames, imagej=True, resolution=(1 / ps_nm, 1 / ps_nm),
                     metadata={"unit": "nm", "axes": "TYX"})
    t0 = time.perf_counter()
    dopant = MATERIALS[s["material"]][2]
    res = analyze_file(path, work / "result", quiet=True, sites_csv=False, material=s["material"],
                       dopants=(dopant,) if dopant else None)
    seconds = time.perf_counter() - t0
    sc = score_defects(res.defects(), truth, s["pixel_size_A"], frames.shape, sm.EDGE_MARGIN_A)
    areas = res.summary.get("areas", {}).get("fractions", {})
    return {"movie": name, **{k: v for k, v in s.items() if k != "defects"}, "defects_placed": s["defects"],
            **sc, "masked_share": areas.get("masked", 0.0),
            "scan_glitch_frames": res.summary.get("scan_glitches", {}).get("frames", []),
            "warnings": res.summary.get("warnings", []), "analysis_s": round(seconds, 1)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="scenarios to run (default: all)")
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "independent_movies.json"))
    args = ap.parse_args(argv)
    record = {"_run": {"base": {k: v for k, v in BASE.items()}}, "movies": []}
    for name in args.only or SCENARIOS:
        with tempfile.TemporaryDirectory() as tmp:
            r = run(name, SCENARIOS[name], Path(tmp))
        record["movies"].append(r)
        print(f"{name:32s} F1 {r['f1_1A']:.3f} (1 Å) {r['f1_0.5A']:.3f} (0.5 Å), precision {r['precision_1A']:.3f}, "
              f"recall {r['recall_1A']:.3f}, class accuracy {r['class_accuracy']:.3f}, Vs recall "
              f"{r['recall_per_class'].get(elements(r['material'])[1]['Vs'], float('nan')):.3f}, median error {r['position_median_error_A']:.3f} Å, "
              f"masked {100 * r['masked_share']:.1f} %, glitch frames {r['scan_glitch_frames']}, {r['analysis_s']} s",
              flush=True)
    out = write_record(args.out, record)
    print("wrote", out)
    return record


if __name__ == "__main__":
    main()
