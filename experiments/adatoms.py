"""Single atoms on the hollow sites (adatoms) among point defects, read with and without the adatom
step of the site reading: the table of ``docs/site_reading.md`` ("Adatoms").

Single frames of 600² px at 0.15 Å/px of a 2H TMD are rendered with
:func:`helpers.synthetic.tmd_image.render_tmd` (incoherent Σ Zⁿ columns, a 1 Å probe with a 10 %
tail, shot noise): 15 adatoms of one element on hollow sites at least 8 Å inside the frame (some
in the margin that the site reading leaves out), and 4 % of the lattice sites holding a point defect
of every class of the material (planted at random, ≥ 5 Å from every adatom so that each site's
truth is one content); two seeds. Each frame is read with :func:`helpers.detect.sites.read_sites` twice: with
the adatom step (``SiteParams.adatoms``, the default) and without it. Scored:

- ``adatoms_found`` / ``adatoms_listed``: true adatoms with a listed adatom within 0.5 Å, and the
  adatoms listed; ``position_error_A`` (median), ``content`` (median reading, metal units) against
  ``content_expected`` ((Z/Z_metal)ⁿ with n = 1.7);
- ``f1_1A``, ``precision``, ``recall``, ``class_accuracy``: the point defects found within 1 Å (sites
  read only; :func:`helpers.evaluation.defects.planted_scores`);
- ``false_near_adatoms``: defects reported within 4 Å of an adatom that are not a planted defect.

Control frames without adatoms (the same point defects) count any adatom listed as false.

Usage::

    python experiments/adatoms.py [--quick]

Writes ``results/experiments/adatoms.json``. About 3 s per frame on 2 cores (``--quick``: 10⁴ e/Å²
only).
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from scipy.spatial import cKDTree

from helpers import config
from helpers.core.chemistry import Z, chemistry_of
from helpers.detect import sites as st
from helpers.evaluation.defects import planted_scores
from helpers.io.records import write_record
from helpers.synthetic.tmd_image import hollow_sites_A, plant_point_defects, render_tmd

SIZE_PX, PIXEL_SIZE_A, N_ADATOMS, DEFECT_SHARE = 600, 0.15, 15, 0.04
SEEDS = (0, 1)
#: (material, adatom element): metal adatoms of the sheet's own metal, a heavier dopant, chalcogens
CASES = (("WS2", "W"), ("WS2", "S"), ("MoS2", "Mo"), ("MoS2", "Re"), ("WSe2", "Se"), ("WSe2", "W"),
         ("MoSe2", "Mo"), ("WS2", None), ("MoS2", None))


def frame(material: str, element: str | None, dose: float, seed: int):
    """(image, chemistry, adatoms (x, y) Å, truth [(x_A, y_A, class)]) of one frame (module text)."""
    chem = chemistry_of(material, [])
    rng = np.random.default_rng(seed)
    hollows = hollow_sites_A(chem, SIZE_PX, PIXEL_SIZE_A, margin_A=8.0)
    ads = hollows[rng.choice(len(hollows), N_ADATOMS, replace=False)] if element else np.zeros((0, 2))
    planted = plant_point_defects(chem, SIZE_PX, PIXEL_SIZE_A, DEFECT_SHARE, rng, away_from=ads)
    img, truth = render_tmd(chem, planted, PIXEL_SIZE_A, SIZE_PX, dose, rng,
                            adatoms=[(x, y, element) for x, y in ads])
    return img.astype(np.float64), chem, ads, truth


def score(reading, ads, truth, element, chem) -> dict:
    """The scores of one reading (module text)."""
    found = st.defect_table(reading)
    scores, m, _ = planted_scores(found, truth, reading.sites[["x_A", "y_A"]].to_numpy())  # on sites read
    matched = np.zeros(len(found), bool)
    matched[m.pairs[:, 0]] = True
    a = reading.adatoms
    row = {**scores, "adatoms_listed": int(len(a))}
    if len(ads):
        near = cKDTree(ads).query(found[["x_A", "y_A"]].to_numpy())[0] < 4.0 if len(found) else np.zeros(0, bool)
        row["false_near_adatoms"] = int((near & ~matched).sum())
        if len(a):
            d, k = cKDTree(ads).query(a[["x_A", "y_A"]].to_numpy())
            row.update({"adatoms_found": int(len(set(k[d < 0.5]))), "position_error_A": float(np.median(d[d < 0.5]))
                        if (d < 0.5).any() else None, "content": float(np.median(a["content"]))})
        else:
            row.update({"adatoms_found": 0, "position_error_A": None, "content": None})
        row["content_expected"] = float((Z[element] / Z[chem.metal]) ** 1.7)
    return row


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10⁴ e/Å² only")
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "adatoms.json"))
    args = ap.parse_args(argv)
    doses = (1e4,) if args.quick else (2e3, 1e4)
    record = {"frame_px": SIZE_PX, "pixel_size_A": PIXEL_SIZE_A, "adatoms_per_frame": N_ADATOMS,
              "defect_share": DEFECT_SHARE, "frames": []}
    for material, element in CASES:
        for dose in doses:
            for seed in SEEDS:
                img, chem, ads, truth = frame(material, element, dose, seed)
                row = {"material": material, "adatom": element, "dose_e_per_A2": dose, "seed": seed}
                for name, on in (("with_step", True), ("without_step", False)):
                    r = st.read_sites(img, PIXEL_SIZE_A, chemistry=chem, p=replace(st.SiteParams(), adatoms=on))
                    row[name] = score(r, ads, truth, element, chem)
                record["frames"].append(row)
                a, b = row["without_step"], row["with_step"]
                print(f"{material} {element} {dose:.0e} seed {seed}: F1 {a['f1_1A']:.3f} -> {b['f1_1A']:.3f} (precision "
                      f"{a['precision']:.3f} -> {b['precision']:.3f}), false near adatoms {a.get('false_near_adatoms')} -> "
                      f"{b.get('false_near_adatoms')}; adatoms listed {b['adatoms_listed']}, found {b.get('adatoms_found')}"
                      f" of {len(ads)}, error {b.get('position_error_A')}, content {b.get('content')} "
                      f"(expected {b.get('content_expected')})", flush=True)
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main()
