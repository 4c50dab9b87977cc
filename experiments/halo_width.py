"""The halo term's width sets the site reading's gain; the probe's tail, measured on the data, says which width.

The site reading calibrates its gain (:func:`helpers.detect.site_decode.calibrate_gain`) by comparing
each strong defect's Gaussian-core reading with a reading that adds a broad Gaussian "halo" term of
fixed width (``SiteParams.halo_A``, 2 Å) for the probe's tail. A probe whose tail is narrower or
wider than that halo leaves the gain a few per cent off, and contents one atom apart (`W2s2`/`Ws`,
`Vw`/`Sw`: 8 % of a W column) are then confused. Here, on 40-frame movies with the standard probe
and with the narrow-core, heavy-tail probe of ``experiments/combined_shifts.py``:

1. class accuracy and gain of the shipped reading with halo widths 1.0–3.0 Å (half the dose);
2. the column's own image, measured on the data: the mean patch of sites read as pristine metal
   columns minus that of sites read as empty ones (`Vw`) — a W column alone, its neighbours
   cancelling — fitted with a Gaussian core, a Gaussian halo and a constant (2·10⁴ e/Å², where
   the `Vw` are plenty and clean);
3. both together at half the dose: the tail measured on the movie's own first reading, then the
   movie read again with that halo width.

Usage::

    python experiments/halo_width.py [--halos 1.0 1.5 2.0 3.0]

Writes ``results/experiments/halo_width.json`` and prints all three. About 10 min on 2 cores.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from combined_shifts import shifted_params
from scipy.ndimage import map_coordinates
from scipy.optimize import least_squares

from helpers import config
from helpers.detect import site_model as sm
from helpers.detect import sites as st
from helpers.evaluation.defects import score_defects
from helpers.io.records import write_record
from helpers.synthetic.generator import standard_movie
from helpers.synthetic.params import standard_params

PATCH_A = 5.0


def movies(dose_e_per_A2: float) -> dict:
    """The two probes on otherwise equal 40-frame movies (seed 1, 640² at 0.16 Å/px)."""
    shifted = shifted_params(1, 40, 0.16, dose_e_per_A2, 3.0)
    standard = standard_params(n_frames=40, seed=1, pixel_size_A=0.16, frame_px=640, dose_e_per_A2=dose_e_per_A2)
    return {"shifted probe": shifted, "standard probe": standard}


def column_image(movie, reading, n_empty: int = 400, n_full: int = 2000, seed: int = 0) -> dict:
    """Core σ, halo σ (Å) and the halo's share of a W column's signal, from pristine minus `Vw` patches."""
    s, ps = reading.sites, movie.pixel_size_A
    r = int(round(PATCH_A / ps))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    rng = np.random.default_rng(seed)

    def mean_patch(rows):
        rows = rows.iloc[rng.permutation(len(rows))[:n_full]]
        acc = np.zeros(yy.shape)
        for f, row, col in zip(rows["frame"], rows["row"], rows["col"]):
            acc += map_coordinates(movie.frames[int(f)], [yy + row, xx + col], order=1)
        return acc / max(len(rows), 1)

    metal = s["kind"] == sm.METAL
    empty = s[metal & (s["class"] == "Vw")]
    full = s[metal & (s["class"] == "W")]
    diff = mean_patch(full) - mean_patch(empty.iloc[:n_empty] if len(empty) > n_empty else empty)
    rr = np.hypot(yy, xx) * ps

    def model(q):
        a, sc, b, sh, c = q
        return a * np.exp(-rr ** 2 / (2 * sc ** 2)) + b * np.exp(-rr ** 2 / (2 * sh ** 2)) + c

    fit = least_squares(lambda q: (model(q) - diff).ravel(), [diff.max(), 0.4, 0.02 * diff.max(), 1.5, 0.0],
                        bounds=([0, 0.1, 0, 0.6, -np.inf], [np.inf, 1.0, np.inf, 5.0, np.inf]))
    a, sc, b, sh, _ = fit.x
    return {"core_sigma_A": float(sc), "halo_sigma_A": float(sh),
            "halo_share": float(b * sh ** 2 / (a * sc ** 2 + b * sh ** 2)), "empty_sites": int(len(empty))}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--halos", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0])
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "halo_width.json"))
    args = ap.parse_args(argv)
    record = {"by_halo": [], "column_image": {}}
    for name, p in movies(5e3).items():
        m = standard_movie(p, progress=False)
        for h in args.halos:
            r = st.read_sites(m.frames, m.pixel_size_A, p=replace(sm.SiteParams(), halo_A=h, halo_choices_A=()))
            sc = score_defects(st.defect_table(r), m.visible_truth(), m.pixel_size_A, m.frames.shape,
                               sm.EDGE_MARGIN_A, classes=sm.DEFECT_CLASSES)
            row = {"probe": name, "halo_A": h, "gain": r.gain, "f1_1A": sc["f1_1A"],
                   "class_accuracy": sc["class_accuracy"], "dose_e_per_A2": 5e3}
            record["by_halo"].append(row)
            print(f"{name}, halo {h} Å: gain {r.gain:.3f}, F1 {sc['f1_1A']:.3f}, class accuracy "
                  f"{sc['class_accuracy']:.3f}", flush=True)
    for name, p in movies(2e4).items():
        m = standard_movie(p, progress=False)
        c = column_image(m, st.read_sites(m.frames, m.pixel_size_A))
        c.update({"probe_fwhm_A": p.probe_fwhm_A, "tail_fwhm_A": p.probe_tail_fwhm_A,
                  "tail_sigma_A": p.probe_tail_fwhm_A / (2 * np.sqrt(2 * np.log(2))),
                  "tail_weight": p.probe_tail_weight, "dose_e_per_A2": 2e4})
        record["column_image"][name] = c
        print(f"{name}: measured core σ {c['core_sigma_A']:.3f} Å, halo σ {c['halo_sigma_A']:.2f} Å "
              f"(the generator's tail σ {c['tail_sigma_A']:.2f} Å), halo share {c['halo_share']:.2f}", flush=True)
    # the two-pass reading: the tail measured on the half-dose movie's own first reading, then read again
    record["two_pass"] = []
    for name, p in movies(5e3).items():
        m = standard_movie(p, progress=False)
        first = st.read_sites(m.frames, m.pixel_size_A)
        c = column_image(m, first)
        r = st.read_sites(m.frames, m.pixel_size_A, p=replace(sm.SiteParams(), halo_A=c["halo_sigma_A"]))
        sc = score_defects(st.defect_table(r), m.visible_truth(), m.pixel_size_A, m.frames.shape,
                           sm.EDGE_MARGIN_A, classes=sm.DEFECT_CLASSES)
        record["two_pass"].append({"probe": name, "measured_halo_sigma_A": c["halo_sigma_A"], "gain": r.gain,
                                   "f1_1A": sc["f1_1A"], "class_accuracy": sc["class_accuracy"]})
        print(f"{name}, half dose, two passes: halo σ measured {c['halo_sigma_A']:.2f} Å, gain {r.gain:.3f}, "
              f"F1 {sc['f1_1A']:.3f}, class accuracy {sc['class_accuracy']:.3f}", flush=True)
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main()
