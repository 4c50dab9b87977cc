import numpy as np
import pytest
from ase import Atoms

from helpers.library.structures import (
    CLASS_NAMES,
    DEFECT_SITE,
    build_defect,
    class_index,
    composition,
    pristine_tmd,
    pristine_ws2,
    tmd_with_substitutions,
    ws2_with_defects,
)


def column_sites(atoms: Atoms, tol_A: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Test helper: projected (x, y) positions of the metal columns and of the chalcogen columns, in Å."""
    pos = atoms.get_positions()
    sym = np.array(atoms.get_chemical_symbols())
    z_mid = np.median(pos[sym == "W", 2]) if np.any(sym == "W") else np.median(pos[:, 2])
    metal = pos[np.abs(pos[:, 2] - z_mid) < tol_A][:, :2]
    chalc = pos[np.abs(pos[:, 2] - z_mid) >= tol_A][:, :2]
    chalc = np.unique(np.round(chalc, 3), axis=0)
    return metal, chalc


def test_label_order_is_the_posters():
    assert CLASS_NAMES == ("Sw", "Mo", "W2s2", "Vw", "Vs2", "Ws")
    assert [class_index(n) for n in CLASS_NAMES] == list(range(6))


def test_pristine_is_stoichiometric_orthogonal_and_large_enough():
    atoms = pristine_ws2(20.0)
    comp = composition(atoms)
    assert comp["S"] == 2 * comp["W"]
    cell = atoms.cell.array
    assert np.allclose(cell - np.diag(np.diag(cell)), 0)
    assert cell[0, 0] >= 20 and cell[1, 1] >= 20
    metal, chalc = column_sites(atoms)
    assert len(metal) == comp["W"] and len(chalc) == comp["W"]
    # projected W–S2 distance a/√3
    d = np.min(np.linalg.norm(chalc[None] - metal[:1, None], axis=2))
    assert d == pytest.approx(3.18 / np.sqrt(3), abs=1e-3)


EXPECTED_CHANGE = {  # composition change relative to pristine
    "Sw": {"W": -1, "S": +1}, "Mo": {"W": -1, "Mo": +1}, "W2s2": {"S": -2, "W": +1},
    "Vw": {"W": -1}, "Vs2": {"S": -2}, "Ws": {"S": -1, "W": +1},
}


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_defect_builders_change_the_right_atoms(name):
    pristine = composition(pristine_ws2(20.0))
    atoms, site = build_defect(name, 20.0)
    comp = composition(atoms)
    for el in set(pristine) | set(comp):
        assert comp.get(el, 0) - pristine.get(el, 0) == EXPECTED_CHANGE[name].get(el, 0), el
    # the changed site is the one nearest the cell centre, on the right sublattice
    centre = np.diag(atoms.cell)[:2] / 2
    assert np.linalg.norm(site - centre) < 3.18
    ref_metal, ref_chalc = column_sites(pristine_ws2(20.0))
    sites = ref_metal if DEFECT_SITE[name] == "metal" else ref_chalc
    assert np.min(np.linalg.norm(sites - site, axis=1)) < 1e-3
    # what sits at the site now
    pos = atoms.get_positions()
    sym = np.array(atoms.get_chemical_symbols())
    here = sorted(sym[np.linalg.norm(pos[:, :2] - site, axis=1) < 0.1])
    assert here == {"Sw": ["S"], "Mo": ["Mo"], "W2s2": ["W"], "Vw": [], "Vs2": [],
                    "Ws": ["S", "W"]}[name]


def test_unknown_defect_name():
    with pytest.raises(ValueError, match="unknown defect class 'Vx'"):
        build_defect("Vx")
    with pytest.raises(ValueError, match="min_size_A"):
        pristine_ws2(-1)


@pytest.mark.parametrize("pair", [("Sw", "Vw", "Mo"), ("Ws", "W2s2", "Vs2")])
def test_paired_structures_share_every_atom_off_the_defect_in_the_same_order(pair):
    """With defect_atoms_last, classes on one sublattice list every other atom identically (so
    frozen phonons with one seed displace them identically); the defect's column comes last,
    lowest first, and the structure holds the same atoms as without the option."""
    built = {n: build_defect(n, 20.0, defect_atoms_last=True) for n in pair}
    ref_atoms, site = built[pair[0]]
    assert all(np.allclose(s, site) for _, s in built.values())
    n_off = int(np.sum(np.linalg.norm(ref_atoms.get_positions()[:, :2] - site, axis=1) >= 0.1))
    for name, (atoms, _) in built.items():
        pos = atoms.get_positions()
        assert np.all(np.linalg.norm(pos[:n_off, :2] - site, axis=1) >= 0.1)  # off-site atoms first
        assert np.all(np.linalg.norm(pos[n_off:, :2] - site, axis=1) < 0.1)  # then the column
        assert np.all(np.diff(pos[n_off:, 2]) >= 0)
        assert atoms.get_chemical_symbols()[:n_off] == ref_atoms.get_chemical_symbols()[:n_off]
        assert np.allclose(pos[:n_off], ref_atoms.get_positions()[:n_off])
        plain, _ = build_defect(name, 20.0)
        assert (sorted(zip(plain.get_chemical_symbols(), np.round(plain.get_positions(), 6).tolist()))
                == sorted(zip(atoms.get_chemical_symbols(), np.round(pos, 6).tolist())))


def test_several_defects_placed_apart_with_the_right_atoms():
    counts = {"Mo": 1, "Vw": 1, "Sw": 1, "Vs2": 1, "Vs": 2, "W2s2": 1, "Ws": 1}
    atoms, truth = ws2_with_defects(30.0, counts, np.random.default_rng(3), min_distance_A=6.0)
    pristine = composition(pristine_ws2(30.0))
    comp = composition(atoms)
    # W: −Mo −Vw −Sw +W2s2 +Ws; S: +Sw −2 (Vs2) −2 (Vs) −2 (W2s2) −1 (Ws)
    assert comp["W"] == pristine["W"] - 3 + 2
    assert comp["Mo"] == 1
    assert comp["S"] == pristine["S"] + 1 - 2 - 2 - 2 - 1
    assert sorted(d["class"] for d in truth) == sorted(k for k, n in counts.items() for _ in range(n))
    xy = np.array([[d["x_A"], d["y_A"]] for d in truth])
    cell = np.diag(atoms.cell)[:2]
    dd = np.abs(xy[:, None, :] - xy[None, :, :])
    dd = np.minimum(dd, cell - dd)
    dist = np.hypot(dd[..., 0], dd[..., 1])[np.triu_indices(len(xy), 1)]
    assert dist.min() >= 6.0 - 1e-9  # the sites are the nearest ones to targets ≥ 6 Å apart


def test_several_defects_same_seed_same_cell_and_clear_errors():
    a1, t1 = ws2_with_defects(20.0, {"Vs": 2, "Mo": 1}, np.random.default_rng(0))
    a2, t2 = ws2_with_defects(20.0, {"Vs": 2, "Mo": 1}, np.random.default_rng(0))
    assert t1 == t2 and np.array_equal(a1.get_positions(), a2.get_positions())
    with pytest.raises(ValueError, match="unknown defect class"):
        ws2_with_defects(20.0, {"Xx": 1}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no room"):
        ws2_with_defects(10.0, {"Vw": 20}, np.random.default_rng(0), min_distance_A=8.0)


def test_any_tmd_with_substitutions_named_as_the_column_reading_names_them():
    counts = {"V_W": 3, "Vac_W": 1, "Vac_Se": 2, "Vac_Se2": 1, "S_Se": 2}
    atoms, truth = tmd_with_substitutions("WSe2", 25.0, 3.28, 3.34, counts, np.random.default_rng(1))
    pristine = composition(pristine_tmd("WSe2", 25.0, 3.28, 3.34))
    comp = composition(atoms)
    assert pristine["Se"] == 2 * pristine["W"]
    assert comp["V"] == 3 and comp["W"] == pristine["W"] - 4
    assert comp["S"] == 2 and comp["Se"] == pristine["Se"] - 2 - 2 - 2
    assert sorted(d["class"] for d in truth) == sorted(k for k, n in counts.items() for _ in range(n))
    # each defect sits on a site of its own sublattice: V right on a W column of the pristine cell
    pos = atoms.get_positions()
    sym = np.array(atoms.get_chemical_symbols())
    for d in truth:
        on = np.hypot(pos[:, 0] - d["x_A"], pos[:, 1] - d["y_A"]) < 0.1
        if d["class"] == "V_W":
            assert list(sym[on]) == ["V"]
        elif d["class"] == "Vac_Se":
            assert list(sym[on]) == ["Se"]
        elif d["class"] == "S_Se":
            assert sorted(sym[on]) == ["S", "Se"]
        else:
            assert not on.any()
    a2, t2 = tmd_with_substitutions("WSe2", 25.0, 3.28, 3.34, counts, np.random.default_rng(1))
    assert t2 == truth and np.array_equal(a2.get_positions(), pos)
    with pytest.raises(ValueError, match="unknown defect 'V_S'"):
        tmd_with_substitutions("WSe2", 25.0, 3.28, 3.34, {"V_S": 1}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no room"):
        tmd_with_substitutions("MoS2", 10.0, 3.16, 3.17, {"Vac_Mo": 30}, np.random.default_rng(0))
