"""Patches of another phase on the 2H lattice (1T, inversion domains) read by the site reading:
the table of ``docs/site_reading.md`` ("Another phase on the same lattice").

Single frames of 400² px at 0.2 Å/px of a 2H TMD hold one disc of another structure
(:func:`helpers.synthetic.tmd_image.render_tmd_domain`: ``1T``, one chalcogen of each pair on the
hollow site; ``inversion``, the 2H cell turned by 60° about a metal site, its pairs on the hollow
sites; ``swap``, turned about a hollow site, metal and pair exchanged), centred 15 Å off the
frame's centre, and are read with :func:`helpers.detect.sites.read_sites` with and without the
tests of another phase (the hollow-site test, ``SiteParams.other_phase``, and the in-phase ring of
areas without first-order amplitude, ``AreaParams.phase_ring_above``). Scored:

- ``masked_inside``: share of the sites inside the disc (1 Å in from its edge) that are masked,
  and ``label``, the commonest mask there;
- ``defects_inside``: point defects reported inside the disc, with the test and without it;
- ``masked_A2`` against the disc's area (the test's area includes a 3 Å rim, as every mask);
- ``false_other_phase``: control frames of the same material and dose, pristine with 2 % of the
  sites point defects of every class and a cluster of empty chalcogen columns (6 Å), where any
  ``other_phase`` area is false.

Usage::

    python experiments/phase_domains.py [--quick]

Writes ``results/experiments/phase_domains.json``. About 3 s per frame on 2 cores (``--quick``:
radius 10 Å and 10⁴ e/Å² only).
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from helpers import config
from helpers.core.chemistry import CHALCOGEN, chemistry_of
from helpers.detect import sites as st
from helpers.detect.areas import AREA_NAMES, OTHER_PHASE, READ_LABELS, AreaParams
from helpers.io.records import write_record
from helpers.synthetic.tmd_image import DOMAINS, render_tmd, render_tmd_domain, tmd_sites

SIZE_PX, PIXEL_SIZE_A = 400, 0.2
CENTRE_A = (55.0, 50.0)
MATERIALS = ("WS2", "MoS2", "WSe2", "MoSe2", "MoTe2")
#: the reading without either test of another phase (hollow sites; the in-phase ring of areas
#: without first-order amplitude)
WITHOUT_TESTS = replace(st.SiteParams(), other_phase=False,
                        areas=replace(AreaParams(), phase_ring_above=None))


def _inside(sites, radius_A: float, margin_A: float = 0.0):
    return np.hypot(sites["x_A"] - CENTRE_A[0], sites["y_A"] - CENTRE_A[1]) < radius_A - margin_A


def read_domain(material: str, domain: str, radius_A: float, dose: float, seed: int = 1) -> dict:
    """One frame with a disc of ``domain`` read with and without the hollow-site test."""
    chem = chemistry_of(material, [])
    img = render_tmd_domain(chem, domain, CENTRE_A, radius_A, PIXEL_SIZE_A, SIZE_PX, dose,
                            np.random.default_rng(seed))
    row = {"material": material, "domain": domain, "radius_A": radius_A, "dose_e_per_A2": dose}
    try:
        r = st.read_sites(img, PIXEL_SIZE_A, chemistry=chem)
        off = st.read_sites(img, PIXEL_SIZE_A, chemistry=chem, p=WITHOUT_TESTS)
    except ValueError as e:
        return {**row, "refused": str(e)}
    s = r.sites
    inner = _inside(s, radius_A, 1.0)
    labels = s.loc[inner, "area"]
    masked = ~labels.isin(READ_LABELS)
    row.update({
        "masked_inside": float(masked.mean()) if len(labels) else float("nan"),
        "label": AREA_NAMES[int(labels[masked].mode().iloc[0])] if masked.any() else "lattice",
        "defects_inside": int(s.loc[_inside(s, radius_A), "significant"].sum()),
        "defects_inside_without_test": int(off.sites.loc[_inside(off.sites, radius_A), "significant"].sum()),
        "defects_outside": int(s.loc[~_inside(s, radius_A + 3.0), "significant"].sum()),
        "masked_A2": float(r.area_fractions().get("masked", 0.0) * (SIZE_PX * PIXEL_SIZE_A) ** 2),
        "disc_A2": float(np.pi * radius_A ** 2),
    })
    return row


def control(material: str, dose: float, seed: int = 2) -> dict:
    """A 2H frame with point defects of every class and a cluster of empty chalcogen columns."""
    chem = chemistry_of(material, [])
    rng = np.random.default_rng(seed)
    classes = list(chem.defect_classes())
    empty = next(c for c in classes if chem.site_contents()[CHALCOGEN].get(c) == ())
    planted = {}
    for s, i, j, x, y in tmd_sites(chem, SIZE_PX, PIXEL_SIZE_A):
        if s == CHALCOGEN and np.hypot(x - CENTRE_A[0], y - CENTRE_A[1]) < 6.0:
            planted[(s, i, j)] = empty
        elif rng.random() < 0.02:
            own = [c for c in classes if c in chem.site_contents()[s]]
            planted[(s, i, j)] = own[rng.integers(len(own))]
    img, _ = render_tmd(chem, planted, PIXEL_SIZE_A, SIZE_PX, dose, np.random.default_rng(seed + 1))
    r = st.read_sites(img, PIXEL_SIZE_A, chemistry=chem)
    return {"material": material, "dose_e_per_A2": dose, "planted": len(planted),
            "false_other_phase": float(np.mean(r.sites["area"] == OTHER_PHASE)),
            "defects": int(r.sites["significant"].sum())}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="radius 10 Å and 10⁴ e/Å² only")
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "phase_domains.json"))
    args = ap.parse_args(argv)
    radii, doses = ((10.0,), (1e4,)) if args.quick else ((6.0, 10.0, 15.0), (2e3, 1e4))
    record = {"frame_px": SIZE_PX, "pixel_size_A": PIXEL_SIZE_A, "domains": [], "controls": []}
    for material in MATERIALS:
        for dose in doses:
            c = control(material, dose)
            record["controls"].append(c)
            print(f"{material} {dose:.0e} control: other_phase {c['false_other_phase']:.4f}, "
                  f"{c['defects']} defects of {c['planted']} planted", flush=True)
            for domain in DOMAINS:
                for radius in radii:
                    row = read_domain(material, domain, radius, dose)
                    record["domains"].append(row)
                    print(f"{material} {dose:.0e} {domain} r {radius:.0f}:", row.get("refused") or
                          f"masked {row['masked_inside']:.2f} ({row['label']}), defects inside "
                          f"{row['defects_inside']} (without the test {row['defects_inside_without_test']}), "
                          f"outside {row['defects_outside']}, area {row['masked_A2']:.0f} / {row['disc_A2']:.0f} Å²",
                          flush=True)
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main()
