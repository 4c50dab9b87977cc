"""Sheets whose chalcogen columns change element (S → Se), read with sites placed by two and by three
first-order reflections: the table of ``docs/site_reading.md`` ("Where the sites are placed").

Single frames of 400² px of WS2 (0.1 Å/px) and MoS2 (0.15 Å/px), each with Se among its dopants,
rendered by :func:`helpers.synthetic.tmd_image.render_tmd` with a smooth scan distortion (up to
0.15 Å, periods 60 and 45 Å: slow enough for the 5 Å phase smoothing to follow). The right half of the frame is converted: a share (``converted``: 0.3, 0.6, 0.9) of its
chalcogen columns hold SSe or Se₂; 2 % of the left half's sites hold a vacancy of either sublattice.
Each frame is read with :func:`helpers.detect.sites.read_sites`, once with
``SiteParams.invariant_placement`` False (two reflections, as a single chalcogen is placed) and once
True (three reflections, :mod:`helpers.detect.site_placement`; the default for these chemistries).
Scored against the truth, over the sites the reading reports (the margin excluded):

- ``median_error_A``, ``p95_error_A``: distance of each read site from its true column;
- ``f1_1A``, ``precision``, ``recall``: every non-pristine site (vacancies, SSe, Se₂) found within 1 Å;
- ``class_accuracy``: the class right among those found;
- ``pristine_reported``: share of the pristine sites reported as defects.

Usage::

    python experiments/converting_sheets.py [--quick] [--variants]

``--variants`` adds the sheets of :data:`VARIANTS` (10⁴ e/Å², seed 0, every conversion share): a probe
of 0.8 or 1.3 Å, and the converted half expanded by Vegard's law (:func:`vegard_strain`), across the
interface only or along it too (:func:`vegard_displacement`); stored under ``variants``.

Writes ``results/experiments/converting_sheets.json``. About 3 s per reading on 2 cores (``--quick``:
one seed at 10⁴ e/Å²).
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from scipy.spatial import cKDTree

from helpers import config
from helpers.core.chemistry import chemistry_of
from helpers.detect import sites as st
from helpers.evaluation.defects import planted_scores
from helpers.io.records import write_record
from helpers.synthetic.tmd_image import half_converted, render_tmd, tmd_sites

SIZE_PX = 400
#: material → pixel size (Å/px)
MATERIALS = {"WS2": 0.10, "MoS2": 0.15}
CONVERTED = (0.3, 0.6, 0.9)
#: amplitude (Å) and periods (Å) of the scan distortion
DISTORTION_A, PERIODS_A = 0.15, (60.0, 45.0)
#: width (Å) of the interface between the halves over which the Vegard strain sets in
INTERFACE_A = 5.0
#: the variants of ``--variants`` (each at 10⁴ e/Å², seed 0, every conversion share): sheet options
VARIANTS = {"probe 0.8 A": {"probe_fwhm_A": 0.8}, "probe 1.3 A": {"probe_fwhm_A": 1.3},
            "Vegard coherent": {"vegard": "coherent"}, "Vegard relaxed": {"vegard": "relaxed"}}


def vegard_strain(material: str, converted: float) -> float:
    """Strain of the converted half by Vegard's law: its Se share (SSe and Se₂ drawn with equal odds:
    0.75 per converted column) times the selenide's lattice constant over the sulfide's, less 1."""
    se_share = 0.75 * converted
    a_s, a_se = chemistry_of(material).lattice_a_A, chemistry_of(material.replace("S2", "Se2")).lattice_a_A
    return se_share * (a_se / a_s - 1.0)


def vegard_displacement(rows, cols, strain: float, ps: float, mode: str):
    """Displacement (d_rows, d_cols) px of columns at (rows, cols) px when the right half of the frame
    is expanded by ``strain`` over an interface of :data:`INTERFACE_A`: ``coherent`` expands it
    across the interface only (the halves share their period along it, a pseudomorphic sheet);
    ``relaxed`` expands it along the interface too, about the frame's middle row."""
    w = INTERFACE_A / ps
    u = (cols - SIZE_PX / 2) / w
    d_cols = strain * w * np.logaddexp(0.0, u)  # ∫ of the interface's sigmoid
    d_rows = strain * (rows - SIZE_PX / 2) / (1 + np.exp(-u)) if mode == "relaxed" else np.zeros_like(rows)
    return d_rows, d_cols


def sheet(material: str, converted: float, dose: float, seed: int, probe_fwhm_A: float = 1.0,
          vegard: str | None = None):
    """One converting frame; returns (image, chemistry, pixel size, truth [(x_A, y_A, name)] of the
    non-pristine sites, (x_A, y_A) of every site). ``probe_fwhm_A``: the probe core (Å);
    ``vegard``: None, or the converted half expanded by Vegard's law (:func:`vegard_displacement`)."""
    chem = chemistry_of(material, ["Se"])
    ps = MATERIALS[material]
    rng = np.random.default_rng(seed)
    sites = tmd_sites(chem, SIZE_PX, ps)
    planted = half_converted(chem, SIZE_PX, ps, converted, rng)
    strain = vegard_strain(material, converted) if vegard else 0.0

    def distortion(rows, cols):  # px → px
        amp = DISTORTION_A / ps
        dr, dc = (amp * np.sin(2 * np.pi * cols * ps / PERIODS_A[0]), amp * np.sin(2 * np.pi * rows * ps / PERIODS_A[1]))
        if vegard:
            vr, vc = vegard_displacement(rows, cols, strain, ps, vegard)
            dr, dc = dr + vr, dc + vc
        return dr, dc

    img, truth = render_tmd(chem, planted, ps, SIZE_PX, dose, rng, distortion=distortion, probe_fwhm_A=probe_fwhm_A)
    xy = np.array([(x, y) for *_, x, y in sites]) / ps
    d_rows, d_cols = distortion(xy[:, 1], xy[:, 0])
    every = (xy + np.c_[d_cols, d_rows]) * ps
    return img.astype(np.float64), chem, ps, truth, every


def score(reading, truth, every) -> dict:
    """Position errors and detection scores of one reading against the truth (module text)."""
    xy = reading.sites[["x_A", "y_A"]].to_numpy()
    err = cKDTree(every).query(xy)[0]
    found = st.defect_table(reading)
    scores, m, inside = planted_scores(found, truth, xy)  # the planted defects on the sites the reading reports
    return {"median_error_A": float(np.median(err)), "p95_error_A": float(np.percentile(err, 95)), **scores,
            "pristine_reported": (len(found) - m.tp) / max(len(xy) - len(inside), 1)}


def read_both(row: dict, img, chem, ps, truth, every) -> dict:
    """``row`` with the scores of the frame read by two and by three reflections; printed."""
    for name, invariant in (("two_reflections", False), ("three_reflections", True)):
        p = replace(st.SiteParams(), invariant_placement=invariant)
        row[name] = score(st.read_sites(img, ps, chemistry=chem, p=p), truth, every)
    a, b = row["two_reflections"], row["three_reflections"]
    label = " ".join(str(row[k]) for k in ("variant", "material", "converted", "dose_e_per_A2", "seed") if k in row)
    print(f"{label}: error (median / p95, Å) {a['median_error_A']:.3f} / {a['p95_error_A']:.3f} -> "
          f"{b['median_error_A']:.3f} / {b['p95_error_A']:.3f}; F1 {a['f1_1A']:.3f} -> {b['f1_1A']:.3f}; "
          f"class {a['class_accuracy']:.3f} -> {b['class_accuracy']:.3f}; pristine reported "
          f"{a['pristine_reported']:.4f} -> {b['pristine_reported']:.4f}", flush=True)
    return row


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed at 10⁴ e/Å²")
    ap.add_argument("--variants", action="store_true",
                    help="also the sheets of VARIANTS (probe sizes, a Vegard strain of the converted half)")
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "converting_sheets.json"))
    args = ap.parse_args(argv)
    seeds, doses = ((0,), (1e4,)) if args.quick else ((0, 1), (3e3, 1e4))
    record = {"frame_px": SIZE_PX, "pixel_size_A": MATERIALS, "distortion_A": DISTORTION_A,
              "distortion_periods_A": PERIODS_A, "frames": []}
    for material in MATERIALS:
        for converted in CONVERTED:
            for dose in doses:
                for seed in seeds:
                    row = {"material": material, "converted": converted, "dose_e_per_A2": dose, "seed": seed}
                    record["frames"].append(read_both(row, *sheet(material, converted, dose, seed)))
    if args.variants:
        record["interface_A"] = INTERFACE_A
        record["variants"] = []
        for variant, options in VARIANTS.items():
            for material in MATERIALS:
                for converted in CONVERTED:
                    row = {"variant": variant, "material": material, "converted": converted,
                           "dose_e_per_A2": 1e4, "seed": 0, **options}
                    if "vegard" in options:
                        row["strain"] = vegard_strain(material, converted)
                    record["variants"].append(read_both(row, *sheet(material, converted, 1e4, 0, **options)))
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main()
