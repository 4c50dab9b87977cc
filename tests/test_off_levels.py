"""Defect classes read off their level: a content the chemistry does not list
(``helpers.detect.off_levels``)."""
import numpy as np
import pandas as pd
import pytest

from helpers.core.chemistry import CHALCOGEN, METAL, chemistry_of
from helpers.detect import sites as st
from helpers.detect.off_levels import OFF_LEVEL_MIN_SITES, off_level_notes, off_levels, unlisted_contents
from helpers.synthetic.tmd_image import render_tmd, tmd_sites

MOS2 = chemistry_of("MoS2", [])
CONTENTS = MOS2.contents(1.0, 0.40, 1.7)
NOISE = {METAL: 0.10, CHALCOGEN: 0.09}


def _table(rng, kind, cls, level, n, sd=0.09, n_pristine=500):
    """A decoded site table: ``n`` significant sites called ``cls`` reading ``level`` ± ``sd``, and
    pristine sites of both sublattices."""
    pristine = pd.DataFrame({"kind": [METAL, CHALCOGEN] * n_pristine, "class": [MOS2.metal, "S2"] * n_pristine,
                             "significant": False,
                             "content": np.tile([1.0, 0.40], n_pristine) + rng.normal(0, sd, 2 * n_pristine)})
    found = pd.DataFrame({"kind": kind, "class": cls, "significant": True,
                          "content": level + rng.normal(0, sd, n)})
    return pd.concat([pristine, found], ignore_index=True)


def test_unlisted_contents_of_mos2():
    """Se on one S of MoS2 reads S + (34/16)^n of an S atom; V on a Mo site (23/42)^n; the S₂ pair
    on a Mo site is the antisite the vocabulary lacks; listed contents are not candidates."""
    chal = unlisted_contents(MOS2, CHALCOGEN, 1.0, 0.40, 1.7)
    assert chal["Se_S"] == (pytest.approx(0.20 + 0.20 * (34 / 16) ** 1.7), "Se")
    assert "Mo_S2" not in chal and "S2" not in chal
    metal = unlisted_contents(MOS2, METAL, 1.0, 0.40, 1.7)
    assert metal["V_Mo"] == (pytest.approx((23 / 42) ** 1.7), "V")
    assert metal["S2_Mo"] == (pytest.approx(0.40), None)
    assert "Vac_Mo" not in metal
    assert "Se_S" not in unlisted_contents(chemistry_of("MoS2", ["Se"]), CHALCOGEN, 1.0, 0.40, 1.7)


def test_a_cluster_between_levels_is_said_with_the_dopant_to_name():
    """Thirty chalcogen sites called Mo_S2 reading 0.88 (Se on S, not named): one row, Se_S the
    nearest candidate, and a warning that names --dopants Se; sites at their level: nothing."""
    rng = np.random.default_rng(0)
    t = off_levels(_table(rng, CHALCOGEN, "Mo_S2", 0.88, 30), CONTENTS, NOISE, MOS2, 1.7)
    assert list(t["class"]) == ["Mo_S2"] and t["sites"].iloc[0] == 30
    assert t["median"].iloc[0] == pytest.approx(0.88, abs=0.04) and t["shift_sd"].iloc[0] < -0.75
    assert t["candidates"].iloc[0][0][0] == "Se_S"
    (note,) = off_level_notes(t, MOS2)
    assert "30 chalcogen site readings called Mo_S2" in note and "--dopants Se" in note
    assert off_levels(_table(rng, CHALCOGEN, "Mo_S2", 1.0, 30), CONTENTS, NOISE, MOS2, 1.7).empty


def test_too_few_sites_or_too_small_a_shift_say_nothing():
    rng = np.random.default_rng(1)
    few = _table(rng, CHALCOGEN, "Mo_S2", 0.70, OFF_LEVEL_MIN_SITES - 1)
    assert off_levels(few, CONTENTS, NOISE, MOS2, 1.7).empty
    # many sites a little off (a third of a noise width): significant as a mean, but no other content
    small = _table(rng, CHALCOGEN, "Mo_S2", 0.97, 400)
    assert off_levels(small, CONTENTS, NOISE, MOS2, 1.7).empty


def test_a_shift_no_unlisted_content_explains_is_not_said():
    """Five-plus chalcogen sites called Mo_S reading 1.26 (the model off by a few per cent): no
    unlisted content reads nearer than Mo_S itself (1.20), so nothing is said; the S₂ pair on a Mo site
    (0.40) explains metal sites called S_Mo reading 0.40, and is named, among the three nearest, as
    the antisite the vocabulary lacks."""
    rng = np.random.default_rng(5)
    assert off_levels(_table(rng, CHALCOGEN, "Mo_S", 1.26, 30), CONTENTS, NOISE, MOS2, 1.7).empty
    t = off_levels(_table(rng, METAL, "S_Mo", 0.40, 30), CONTENTS, NOISE, MOS2, 1.7)
    names = [n for n, _, _ in t["candidates"].iloc[0]]
    assert "S2_Mo" in names and len(names) == 3  # the three nearest (Ti-Co on a Mo site read 0.33-0.47)
    assert "(an antisite the vocabulary lacks)" in off_level_notes(t, MOS2)[0]


def test_readings_below_the_empty_column_are_kept_but_not_warned_about():
    """A row of S₂ vacancies reading −0.5: listed with below_empty, no candidates, no warning."""
    t = off_levels(_table(np.random.default_rng(2), CHALCOGEN, "Vac_S2", -0.5, 8), CONTENTS, NOISE, MOS2, 1.7)
    assert list(t["class"]) == ["Vac_S2"] and bool(t["below_empty"].iloc[0]) and t["candidates"].iloc[0] == []
    assert off_level_notes(t, MOS2) == []


def test_a_class_holding_a_named_dopant_is_not_tested():
    """Its level is fitted on the image; readings off it say the fit is off, not that a content is
    missing."""
    chem = chemistry_of("MoS2", ["Se"])
    contents = chem.contents(1.0, 0.40, 1.7)
    sites = _table(np.random.default_rng(4), CHALCOGEN, "Se_S", contents[CHALCOGEN]["Se_S"] - 0.2, 30)
    assert off_levels(sites, contents, NOISE, chem, 1.7).empty
    sites = _table(np.random.default_rng(4), METAL, "S_Mo", 0.40, 30)  # a host class still is
    assert list(off_levels(sites, contents, NOISE, chem, 1.7)["class"]) == ["S_Mo"]


def _se_doped_mos2(seed=3, size_px=320, ps=0.15):
    """An MoS2 frame with Se on one S of about 30 chalcogen columns and a few vacancies."""
    chem = chemistry_of("MoS2", ["Se"])
    rng = np.random.default_rng(seed)
    planted = {}
    for sub, i, j, x, y in tmd_sites(chem, size_px, ps):
        u = rng.random()
        if sub == CHALCOGEN and u < 0.10:
            planted[(sub, i, j)] = "Se_S"
        elif u < 0.12:
            planted[(sub, i, j)] = "Vac_Mo" if sub == METAL else "Vac_S2"
    img, _ = render_tmd(chem, planted, ps, size_px, 1e4, rng)
    return img.astype(np.float64), ps


def test_a_rendered_sheet_with_an_unnamed_dopant_is_warned_about():
    """Se substituted into MoS2 and read as plain MoS2: the reading says so and names Se; with Se
    named, no class is off its level."""
    img, ps = _se_doped_mos2()
    plain = st.read_sites(img, ps, chemistry=chemistry_of("MoS2", []))
    said = [w for w in plain.warnings if "candidates to check" in w]
    assert said and "--dopants Se" in said[0]
    named = st.read_sites(img, ps, chemistry=chemistry_of("MoS2", ["Se"]))
    assert not [w for w in named.warnings if "candidates to check" in w]
    assert (st.defect_table(named)["class"] == "Se_S").sum() >= 8  # of about 9 planted among the 90 chalcogen sites read


def test_sites_above_every_listed_content_are_said_with_atoms_on_top():
    """Ten metal sites reading 1.55 of a Mo column among 1,000 (Se named, measured at 0.556 an atom):
    above every metal content, explained by an Se atom on top of the Mo column; Gaussian noise alone
    says nothing."""
    from helpers.detect.off_levels import above_level_notes, above_levels, on_top_contents

    chem = chemistry_of("MoS2", ["Se"])
    contents = chem.contents(1.0, 0.40, 1.7, atom_levels={"Se": 0.556})
    assert on_top_contents(chem, METAL, contents, 1.7)["Se_on_Mo"] == pytest.approx(1.556)
    assert on_top_contents(chem, CHALCOGEN, contents, 1.7)["Mo_on_S2"] == pytest.approx(1.40)
    assert on_top_contents(MOS2, METAL, CONTENTS, 1.7)["Se_on_Mo"] == pytest.approx(1 + 0.2 * (34 / 16) ** 1.7)
    rng = np.random.default_rng(6)
    quiet = _table(rng, METAL, "Mo_S2", 1.0, 0, n_pristine=1000)
    assert above_levels(quiet, contents, NOISE, chem, 1.7).empty
    bright = pd.concat([quiet, pd.DataFrame({"kind": METAL, "class": "Mo", "significant": False,
                                             "content": 1.55 + rng.normal(0, 0.05, 10)})], ignore_index=True)
    t = above_levels(bright, contents, NOISE, chem, 1.7)
    assert list(t["kind"]) == [METAL] and t["sites"].iloc[0] == 10
    assert t["candidates"].iloc[0][0][0] == "Se_on_Mo"
    (note,) = above_level_notes(t, chem)
    assert "above every content the list holds" in note and "an atom on top of the column" in note


def test_a_rendered_sheet_with_atoms_on_top_of_metal_columns_is_warned_about():
    """Se atoms on top of eight Mo columns of a rendered MoS2 frame (Se not named): not hollow-site
    adatoms, no point defects, and above every metal content; the reading says so and names an Se
    atom on top of the column."""
    rng = np.random.default_rng(7)
    ps, size = 0.15, 400
    metal = [(x, y) for sub, i, j, x, y in tmd_sites(MOS2, size, ps)
             if sub == METAL and 12 < x < size * ps - 12 and 12 < y < size * ps - 12]
    on_top = [metal[k] for k in rng.choice(len(metal), 8, replace=False)]
    img, _ = render_tmd(chemistry_of("MoS2", ["Se"]), {}, ps, size, 1e4, rng, adatoms=[(x, y, "Se") for x, y in on_top])
    r = st.read_sites(img.astype(float), ps, chemistry=MOS2)
    said = [w for w in r.warnings if "above every content the list holds" in w]
    assert said and "8 of" in said[0] and "Se_on_Mo" in said[0], r.warnings
    assert len(st.defect_table(r)) == 0 and len(r.adatoms) == 0
    # with Se named the sublattices may be swapped for a converting sheet's: a few bright Mo columns are
    # not a second chalcogen level (helpers.detect.sublattices.SWAP_CUT_PERCENT)
    named = st.read_sites(img.astype(float), ps, chemistry=chemistry_of("MoS2", ["Se"]))
    assert not any("spreads" in w for w in named.warnings), named.warnings
    assert len(st.defect_table(named)) == 0 and any("above every content" in w for w in named.warnings)


def test_columns_beside_heavy_adatoms_are_not_said_to_be_above_every_content(monkeypatch):
    """Twelve Re atoms on hollow sites of a rendered MoS2 frame: their probe tails lift the three Mo
    columns beside each above every metal content; they are listed as adatoms, and the columns
    within ``ADATOM_NEAR_A`` of one are not counted (counted, they were said to hold an atom on top)."""
    from helpers.detect import off_levels
    from helpers.synthetic.tmd_image import hollow_sites_A

    rng = np.random.default_rng(8)
    ps, size = 0.15, 400
    hollows = hollow_sites_A(MOS2, size, ps, margin_A=14.0)
    picked = []
    for k in rng.permutation(len(hollows)):
        if all(np.hypot(*(hollows[k] - q)) >= 8.0 for q in picked):
            picked.append(hollows[k])
        if len(picked) == 12:
            break
    img, _ = render_tmd(MOS2, {}, ps, size, 1e4, rng, adatoms=[(x, y, "Re") for x, y in picked])
    r = st.read_sites(img.astype(float), ps, chemistry=MOS2)
    assert len(r.adatoms) == 12
    assert not [w for w in r.warnings if "above every content the list holds" in w], r.warnings
    monkeypatch.setattr(off_levels, "ADATOM_NEAR_A", 0.0)
    counted = st.read_sites(img.astype(float), ps, chemistry=MOS2)
    assert [w for w in counted.warnings if "above every content the list holds" in w], counted.warnings
