"""Column chemistry of any TMD: the vocabulary of contents, their intensities, the plausibility of the
measured HAADF exponent, and the site reading of a MoS2 image with Re and Se dopants (rendered here
with its own chemistry, not the WS2 generator's)."""
import numpy as np
import pytest

from helpers.core.chemistry import (
    CHALCOGEN,
    HAADF_EXPONENT_PRIOR,
    METAL,
    WS2_LABELS,
    Z,
    chemistry_of,
    materials_for_ratio,
    plausible_exponent,
)
from helpers.detect import site_measure as smeasure
from helpers.detect import site_model as sm
from helpers.detect import sites as st
from helpers.detect.columns import expected_contents
from helpers.synthetic.tmd_image import render_tmd


def test_ws2_keeps_the_poster_names_and_contents():
    chem = chemistry_of("WS2")
    assert chem.defect_classes() == sm.DEFECT_CLASSES == ("Vw", "Sw", "Mo", "Vs2", "Vs", "W2s2", "Ws")
    assert set(WS2_LABELS.values()) == set(chem.defect_classes())
    ratio = 0.15
    new = sm.class_contents(1.0, ratio, chem)
    old = expected_contents(ratio)
    for sub in (METAL, CHALCOGEN):
        for name, value in old[sub].items():
            assert new[sub][name] == pytest.approx(value, abs=1e-12), name


def test_vocabulary_of_other_materials_and_dopants():
    chem = chemistry_of("MoSe2", ["Re", "S"])
    c = chem.site_contents()
    assert list(c[METAL]) == ["Mo", "Vac_Mo", "Se_Mo", "Re_Mo"]
    assert list(c[CHALCOGEN]) == ["Se2", "Vac_Se2", "Vac_Se", "Mo_Se2", "Mo_Se", "S_Se", "S2_Se2"]
    assert c[CHALCOGEN]["S_Se"] == ("S", "Se")
    assert chemistry_of("WSSe").dopants[0] == "Se" and chemistry_of("MoS2").dopants == ()
    with pytest.raises(ValueError, match="unknown dopant"):
        chemistry_of("MoS2", ["Xx"])
    with pytest.raises(ValueError, match="host element"):
        chemistry_of("MoS2", ["Mo"])
    with pytest.raises(ValueError, match="unknown material"):
        chemistry_of("graphene")


def test_contents_scale_each_element_from_its_host():
    chem = chemistry_of("MoS2", ["Se", "Re"])
    n = 1.7
    ratio = 2 * (Z["S"] / Z["Mo"]) ** n
    c = chem.contents(1.0, ratio, chem.exponent_from_ratio(ratio))
    assert chem.exponent_from_ratio(ratio) == pytest.approx(n)
    assert c[METAL]["Re_Mo"] == pytest.approx((Z["Re"] / Z["Mo"]) ** n)
    assert c[CHALCOGEN]["Se_S"] == pytest.approx((Z["Se"] ** n + Z["S"] ** n) / Z["Mo"] ** n)
    assert c[CHALCOGEN]["Vac_S"] == pytest.approx(ratio / 2) and c[CHALCOGEN]["Mo_S2"] == 1.0


def test_an_implausible_exponent_is_replaced_by_the_prior_and_said():
    chem = chemistry_of("WS2")
    n, warning = plausible_exponent(chem, 0.15)
    assert warning is None and 1.6 < n < 1.8
    n, warning = plausible_exponent(chem, 0.54)  # what the real 60 kV WS2 image gave
    assert n == HAADF_EXPONENT_PRIOR and "outside the physical" in warning


def test_an_implausible_ratio_names_the_materials_it_fits():
    """An MoS2 image read as WS2 (the default; S2/Mo 0.33 in a real one): WS2 would need n 1.19, MoS2
    reads it at 1.88, and the warning says to name MoS2; the real WS2 image's 0.78 fits no material
    (n 0.6 for WS2: a detector offset or contamination), so nothing is suggested."""
    assert set(materials_for_ratio(0.325)) == {"MoS2"}
    assert materials_for_ratio(0.325)["MoS2"] == pytest.approx(np.log(0.1625) / np.log(16 / 42))
    assert materials_for_ratio(0.325, besides="MoS2") == {}
    n, warning = plausible_exponent(chemistry_of("WS2"), 0.325)
    assert n == HAADF_EXPONENT_PRIOR and "MoS2 (n 1.88)" in warning and "--material" in warning
    n, warning = plausible_exponent(chemistry_of("MoS2"), chemistry_of("WS2").expected_ratio(1.7))
    assert "WS2 (n 1.70)" in warning
    _, warning = plausible_exponent(chemistry_of("WS2"), 0.78)
    assert "--material" not in warning
    for name in ("WS2", "MoS2", "WSe2", "MoSe2", "MoTe2", "WTe2"):  # every material reads its own ratio
        assert name in materials_for_ratio(chemistry_of(name, ()).expected_ratio(1.7))


def _render_tmd(chem, planted: dict, exponent=1.7, ps=0.2, size=256, dose=1e4, seed=0):
    """A 2H TMD image (one frame, counts) with the contents of ``planted`` {(sublattice, i, j): name}
    on those sites; the rest pristine. Returns (image, truth [(x_A, y_A, name)])."""
    return render_tmd(chem, planted, ps, size, dose, np.random.default_rng(seed), exponent=exponent)


def _planted_on_a_grid(names, a: float) -> dict:
    """{(sublattice, i, j): name} for ``names`` [(sublattice, name)] on the sites nearest a 3 × 3 grid
    10 Å apart (15–35 Å) of a lattice of constant ``a`` (Å)."""
    spots = [(x, y) for y in (15.0, 25.0, 35.0) for x in (15.0, 25.0, 35.0)]
    planted = {}
    for (sub, name), (x, y) in zip(names, spots):
        j = int(round(y / (a * np.sqrt(3) / 2)))
        planted[(sub, int(round((x - j * a / 2) / a)), j)] = name
    return planted


def test_a_doped_mos2_image_is_read_with_its_own_chemistry():
    chem = chemistry_of("MoS2", ["Re", "Se"])
    a = chem.lattice_a_A
    names = [(METAL, "Re_Mo"), (METAL, "Re_Mo"), (METAL, "Vac_Mo"), (CHALCOGEN, "Se_S"), (CHALCOGEN, "Se_S"),
             (CHALCOGEN, "Se2_S2"), (CHALCOGEN, "Vac_S2"), (METAL, "S_Mo"), (CHALCOGEN, "Mo_S")]
    img, truth = _render_tmd(chem, _planted_on_a_grid(names, a), dose=4e4)
    r = st.read_sites(img, 0.2, chemistry=chem)
    d = st.defect_table(r)
    inner = [(x, y, n) for x, y, n in truth if sm.EDGE_MARGIN_A + 0.5 < x < 256 * 0.2 - sm.EDGE_MARGIN_A - 0.5
             and sm.EDGE_MARGIN_A + 0.5 < y < 256 * 0.2 - sm.EDGE_MARGIN_A - 0.5]
    assert len(inner) >= 6
    for x, y, name in inner:
        dist = np.hypot(d["x_A"] - x, d["y_A"] - y)
        assert dist.min() < 0.5, (name, x, y)
        assert d["class"].iloc[int(np.argmin(dist.to_numpy()))] == name
    assert len(d) <= len(inner) + 1  # (at most one false call among ~1,300 sites)
    assert not r.warnings and 1.5 < r.haadf_exponent < 1.9


def test_which_sublattice_is_brighter_follows_the_material():
    brighter = {m: chemistry_of(m).chalcogen_brighter for m in ("MoS2", "WS2", "WSe2", "MoSe2", "MoTe2", "WTe2")}
    assert brighter == {"MoS2": False, "WS2": False, "WSe2": False, "MoSe2": True, "MoTe2": True, "WTe2": True}
    assert chemistry_of("MoTe2").expected_ratio() == pytest.approx(2 * (52 / 42) ** 1.7)
    # a chalcogen column brighter than the metal still gives its exponent
    assert chemistry_of("MoTe2").exponent_from_ratio(2 * (52 / 42) ** 1.7) == pytest.approx(1.7)
    # only WTe2's two sublattices can swap brightness within the physical range of n: it is said
    assert [m for m in brighter if chemistry_of(m).sublattice_note()] == ["WTe2"]


@pytest.mark.parametrize("material", ["MoSe2", "MoTe2", "WTe2"])
def test_materials_with_bright_chalcogen_columns_are_read_on_the_right_sublattices(material):
    # Se2 and Te2 columns outshine Mo (and Te2 nearly equals W): the fit's bright sublattice is the
    # chalcogen's, and every class of the material is found where it was put
    chem = chemistry_of(material)
    a = chem.lattice_a_A
    c = chem.site_contents()
    names = [(sub, n) for sub in (METAL, CHALCOGEN) for n in list(c[sub])[1:]]
    img, truth = _render_tmd(chem, _planted_on_a_grid(names, a), dose=4e4)
    r = st.read_sites(img, 0.2, chemistry=chem)
    d = st.defect_table(r)
    assert r.chalcogen_over_metal == pytest.approx(chem.expected_ratio(), rel=0.05)
    assert len(truth) == len(names) == 6
    for x, y, name in truth:
        dist = np.hypot(d["x_A"] - x, d["y_A"] - y)
        assert dist.min() < 0.5, (name, x, y)
        assert d["class"].iloc[int(np.argmin(dist.to_numpy()))] == name
    assert len(d) <= len(truth) + 1
    assert list(r.warnings) == ([chem.sublattice_note()] if material == "WTe2" else [])


def test_an_implausible_column_width_is_brought_into_range_and_said():
    from dataclasses import replace

    chem = chemistry_of("MoS2")
    img, _ = _render_tmd(chem, {}, dose=4e4)
    lat = st.read_sites(img, 0.2, chemistry=chem).lattice
    assert smeasure.plausible_width(lat) == (lat, None)
    narrow, note = smeasure.plausible_width(replace(lat, sigma_px=0.1 / 0.2))
    assert narrow.sigma_px * 0.2 == pytest.approx(smeasure.COLUMN_SIGMA_RANGE_A[0]) and "outside the physical" in note
    r = st.read_sites(img, 0.2, chemistry=chem, lattice=replace(lat, sigma_px=3.0 / 0.2))
    assert any("column width" in w for w in r.warnings) and r.lattice.sigma_px * 0.2 == pytest.approx(1.2)


def test_a_clean_selenide_just_below_the_exponent_range_is_explained():
    """Multislice WSe2 reads Se2/W 0.73-0.74 (n 1.29): the prior is used, and the warning says why
    rather than blaming contamination or a detector offset."""
    n, note = plausible_exponent(chemistry_of("WSe2"), 0.736)
    assert n == HAADF_EXPONENT_PRIOR and "just below" in note and "stacked" in note
    n, note = plausible_exponent(chemistry_of("WS2"), 0.78)
    assert n == HAADF_EXPONENT_PRIOR and "outside" in note and "contaminated" in note
    n, note = plausible_exponent(chemistry_of("WS2"), chemistry_of("WS2").expected_ratio(1.25))
    assert "outside" in note  # a sulphide has no stacked heavy pair to blame
