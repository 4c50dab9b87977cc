"""Sheets of two chalcogens or two metals in comparable numbers, read by the site reading: the
tables of ``docs/chemistry.md`` ("Sheets converted past the metal's level", "Metal alloys").

Single frames of 400² px at 0.2 Å/px (10⁴ e/Å² unless said) of a 2H TMD are rendered with
:func:`helpers.synthetic.tmd_image.render_tmd` (incoherent Σ Zⁿ columns, a 1 Å probe with a 10 %
tail, shot noise), a share of one sublattice's sites substituted at random, and read with
:func:`helpers.detect.sites.read_sites` and the chemistry a user would name (``MoSe2 --dopants S``,
``MoS2 --dopants W`` …). Scored against the truth, on the sites at least a window half-width plus
1 Å inside the frame:

- ``located``: share of the true sites of the substituted sublattice that a site of that
  sublattice in the reading lies within 0.5 Å of (0 where the reading swapped the sublattices);
- ``right``: share of the located sites read as their true content;
- for the metal alloys, the second metal's precision and recall over the metal sites;
- ``false_other``: defects the reading reports on the other sublattice (all false);
- the reading's notes on the sheet (ladder, alloy, swapped sublattices), or the error where it
  refused the frame.

Usage::

    python experiments/mixed_sheets.py [--quick]

Writes ``results/experiments/mixed_sheets.json``. About 1.5 s per frame on 2 cores (``--quick``:
the n = 1.7 rows only).
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.spatial import cKDTree

from helpers import config
from helpers.core.chemistry import CHALCOGEN, METAL, chemistry_of
from helpers.detect import sites as st
from helpers.detect.site_model import EDGE_MARGIN_A
from helpers.io.records import write_record
from helpers.synthetic.tmd_image import render_tmd, tmd_sites

SIZE_PX, PIXEL_SIZE_A = 400, 0.2

#: (material, dopants (comma-separated), {content: share}) of the converting sheets
CHALCOGEN_SHEETS = [
    ("MoSe2", "S", {"S_Se": 0.6, "S2_Se2": 0.1}), ("MoSe2", "S", {"S_Se": 0.3}), ("MoSe2", "S", {"S_Se": 0.03}),
    ("MoS2", "Se", {"Se_S": 0.2, "Se2_S2": 0.6}), ("MoS2", "Se", {"Se_S": 0.45, "Se2_S2": 0.1}),
    ("MoS2", "Se", {"Se_S": 0.03}), ("WTe2", "Se", {"Se_Te": 0.6, "Se2_Te2": 0.1}), ("WSe2", "S", {"S_Se": 0.6}),
    ("WS2", "Se", {"Se_S": 0.45, "Se2_S2": 0.1}),
    # WSSe's chemistry: WS2's default Mo named beside Se (a converting sheet must not read as an alloy)
    ("WS2", "Se,Mo", {"Se_S": 0.45, "Se2_S2": 0.1}),
]
#: (material, second metal) of the alloys, each at ALLOY_SHARES
METAL_ALLOYS = [("MoS2", "W"), ("WS2", "Mo"), ("WSe2", "Mo"), ("MoSe2", "W")]
ALLOY_SHARES = (0.15, 0.3, 0.45, 0.6, 0.75)


def read_sheet(material: str, dopant: str, shares: dict, sublattice: str, exponent: float = 1.7,
               dose: float = 1e4, seed: int = 1) -> dict:
    """One rendered sheet read and scored (module text); ``dopant``: one or more, comma-separated."""
    chem = chemistry_of(material, dopant.split(","))
    rng = np.random.default_rng(seed)
    cut = np.cumsum(list(shares.values()))
    planted = {}
    for s, i, j, _, _ in tmd_sites(chem, SIZE_PX, PIXEL_SIZE_A):
        u = rng.random()
        if s == sublattice and u < cut[-1]:
            planted[(s, i, j)] = list(shares)[int(np.searchsorted(cut, u, side="right"))]
    img, _ = render_tmd(chem, planted, PIXEL_SIZE_A, SIZE_PX, dose, np.random.default_rng(0), exponent=exponent)
    row = {"material": material, "dopant": dopant, "shares": shares, "exponent": exponent, "dose_e_per_A2": dose}
    try:
        r = st.read_sites(img, PIXEL_SIZE_A, chemistry=chem)
    except ValueError as e:
        return {**row, "refused": str(e)}
    true = [(x, y, planted.get((sb, i, j), chem.pristine(sublattice)))
            for sb, i, j, x, y in tmd_sites(chem, SIZE_PX, PIXEL_SIZE_A) if sb == sublattice]
    xy = np.array([(x, y) for x, y, _ in true])
    m = EDGE_MARGIN_A + 1
    inside = np.all((xy > m) & (xy < SIZE_PX * PIXEL_SIZE_A - m), axis=1)
    s = r.sites[r.sites["kind"] == sublattice]
    d, k = cKDTree(s[["x_A", "y_A"]].to_numpy()).query(xy[inside])
    located = d < 0.5
    names = np.array([c for *_, c in true], object)[inside]
    read = s["class"].to_numpy()[k]
    row.update({"located": float(located.mean()),
                "right": float(np.mean(read[located] == names[located])) if located.any() else 0.0,
                "false_other": int(r.sites.loc[r.sites["kind"] != sublattice, "significant"].sum()),
                "notes": [w for w in r.warnings if any(t in w for t in ("substituted by", "alloy", "spreads"))]})
    if sublattice == METAL:
        pristine = chem.pristine(METAL)
        true_d, read_d = (names != pristine) & located, (read != pristine) & np.isin(read, list(shares)) & located
        tp = int(np.sum(true_d & read_d))
        row.update({"precision": tp / max(int(read_d.sum()), 1), "recall": tp / max(int(np.sum(names != pristine)), 1)})
    return row


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the n = 1.7 rows only")
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "mixed_sheets.json"))
    args = ap.parse_args(argv)
    exponents = (1.7,) if args.quick else (1.4, 1.7, 2.0)
    record = {"frame_px": SIZE_PX, "pixel_size_A": PIXEL_SIZE_A, "chalcogen_sheets": [], "metal_alloys": []}
    for n in exponents:
        for material, dopant, shares in CHALCOGEN_SHEETS:
            row = read_sheet(material, dopant, shares, CHALCOGEN, exponent=n)
            record["chalcogen_sheets"].append(row)
            print(material, dopant, shares, f"n {n}:", row.get("refused") or
                  f"located {row['located']:.3f}, right {row['right']:.4f}, false on the metal {row['false_other']}",
                  flush=True)
    for material, dopant in METAL_ALLOYS:
        name = f"{dopant}_{chemistry_of(material, [dopant]).metal}" if material != "WS2" else dopant
        for share in ALLOY_SHARES:
            row = read_sheet(material, dopant, {name: share}, METAL, seed=0)
            record["metal_alloys"].append(row)
            print(material, dopant, share, row.get("refused") or
                  f"located {row['located']:.3f}, P {row['precision']:.3f}, R {row['recall']:.3f}, "
                  f"false on the chalcogen {row['false_other']}", flush=True)
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main()
