"""Single atoms on the hollow sites (adatoms) are found and listed, and the sites beside them are
read apart from them instead of being reported as empty columns (helpers.detect.adatoms)."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from helpers.core.chemistry import chemistry_of
from helpers.detect import sites as st
from helpers.synthetic.tmd_image import hollow_sites_A, render_tmd

PS, SIZE = 0.15, 400


def _frame(material: str, element: str | None, dose: float, n: int = 15, seed: int = 0):
    chem = chemistry_of(material, [])
    rng = np.random.default_rng(seed)
    hollows = hollow_sites_A(chem, SIZE, PS, margin_A=8.0)
    xy = hollows[rng.choice(len(hollows), n, replace=False)] if element else np.zeros((0, 2))
    img, _ = render_tmd(chem, {}, PS, SIZE, dose, rng, adatoms=[(x, y, element) for x, y in xy])
    return img.astype(float), chem, xy


@pytest.mark.parametrize("material,element,dose", [("WS2", "W", 1e4), ("WS2", "W", 2e3), ("MoS2", "Mo", 1e4),
                                                   ("WSe2", "Se", 2e3)])
def test_adatoms_are_found_and_their_neighbours_read_pristine(material, element, dose):
    img, chem, xy = _frame(material, element, dose)
    r = st.read_sites(img, PS, chemistry=chem)
    a = r.adatoms
    d = cKDTree(xy).query(a[["x_A", "y_A"]].to_numpy())[0]
    assert len(a) == len(xy) and np.all(d < 0.2)
    # each reads about its own scattering: a W or Mo atom about a metal column, a Se atom about a third
    expected = 1.0 if element == chem.metal else (34 / 74) ** 1.7
    assert np.median(a["content"]) == pytest.approx(expected, rel=0.3)
    defects = st.defect_table(r)
    assert len(defects) == 0
    if element == "W":  # read with the lattice sites alone, the adatoms empty chalcogen columns beside them
        off = st.defect_table(st.read_sites(img, PS, chemistry=chem, p=replace(st.SiteParams(), adatoms=False)))
        near = cKDTree(xy).query(off[["x_A", "y_A"]].to_numpy())[0] < 4.0
        assert near.sum() >= 2 and set(off["class"][near]) <= {"Vs2", "Vs"}


def test_adatom_contents_are_divided_by_the_gain():
    """A Gaussian core's reading of a content change takes in part of the probe tail; the table divides
    it by the reading's gain, as the sites' contents are; a gain that is not positive is refused."""
    from helpers.detect.adatoms import adatom_table

    t = pd.DataFrame({"row": [10.0], "col": [20.0], "content": [1.18], "z": [30.0], "frame": [0]})
    a = adatom_table([t], 0.15, gain=1.09)
    assert a["content"].iloc[0] == pytest.approx(1.18 / 1.09) and a["x_A"].iloc[0] == pytest.approx(3.0)
    assert adatom_table([t], 0.15)["content"].iloc[0] == pytest.approx(1.18)
    with pytest.raises(ValueError, match="gain"):
        adatom_table([t], 0.15, gain=0.0)


def test_a_pristine_sheet_has_no_adatoms():
    for dose in (2e3, 1e4):
        img, chem, _ = _frame("WS2", None, dose, seed=1)
        r = st.read_sites(img, PS, chemistry=chem)
        assert len(r.adatoms) == 0 and list(r.adatoms.columns) == ["frame", "row", "col", "content", "z", "x_A", "y_A"]


def test_the_command_lists_adatoms_apart_from_defects(tmp_path):
    from helpers import analyze_file
    from helpers.io.writers import write_imagej_tiff

    img, chem, xy = _frame("MoS2", "Mo", 1e4, n=6, seed=2)
    path = write_imagej_tiff(tmp_path / "adatoms.tif", img.astype(np.float32), PS)
    res = analyze_file(path, tmp_path / "out", material="MoS2", quiet=True)
    table = pd.read_csv(tmp_path / "out" / "adatoms.csv")
    assert list(table.columns) == ["frame", "id", "x_px", "y_px", "x_A", "y_A", "content", "z"]
    assert len(table) == len(xy) and set(table["frame"]) == {1}  # frames from 1, as in the file
    assert np.all(cKDTree(xy).query(table[["x_A", "y_A"]].to_numpy())[0] < 0.2)
    assert res["adatoms"]["readings"] == len(xy) and res["adatoms"]["file"] == "adatoms.csv"
    assert res["detections"] == 0 and len(res.defects()) == 0  # not point defects


def test_planted_point_defects_keep_away_from_the_given_points():
    """Every class of the vocabulary, about the share asked, none within 5 Å of the points given;
    the same seed plants the same."""
    from helpers.synthetic.tmd_image import hollow_sites_A, plant_point_defects, tmd_sites

    chem = chemistry_of("WS2", [])
    away = hollow_sites_A(chem, 300, 0.15, margin_A=10.0)[::7]
    planted = plant_point_defects(chem, 300, 0.15, 0.3, np.random.default_rng(1), away_from=away)
    assert planted == plant_point_defects(chem, 300, 0.15, 0.3, np.random.default_rng(1), away_from=away)
    xy = {(s, i, j): (x, y) for s, i, j, x, y in tmd_sites(chem, 300, 0.15)}
    d = np.array([np.hypot(*(away - np.array(xy[k])).T).min() for k in planted])
    assert d.min() >= 5.0
    names = {c for sub in chem.site_contents().values() for c in sub} - {chem.pristine(s) for s in ("metal", "chalcogen")}
    assert set(planted.values()) == names
