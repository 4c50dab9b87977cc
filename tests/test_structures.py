import numpy as np
import pytest
from ase import Atoms

from helpers.library.structures import (
    CLASS_NAMES,
    DEFECT_SITE,
    build_defect,
    class_index,
    composition,
    pristine_ws2,
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
