"""Monolayer 2H-WS2 supercells with one point defect at the centre, or several (ASE); cells of any
MX2 with substitutions and vacancies named in the column vocabulary (``V_W``, ``Vac_Se``, …).

Seen along [001], W columns and S2 columns (two S atoms stacked) sit on two interleaved triangular
sublattices. The six defect classes keep the poster's names and label order.
All lengths in Å.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import mx2

#: Class names in the poster's label order.
CLASS_NAMES: tuple[str, ...] = ("Sw", "Mo", "W2s2", "Vw", "Vs2", "Ws")


CLASS_DESCRIPTIONS: dict[str, str] = {
    "Sw": "metal site holds one S instead of W (antisite S_W)",
    "Mo": "metal site holds Mo instead of W (dopant Mo_W)",
    "W2s2": "S2 column replaced by one W (antisite W_S2)",
    "Vw": "metal site empty (W vacancy)",
    "Vs2": "both S of one column missing (double S vacancy)",
    "Ws": "one S of a column replaced by W (column = W + S, antisite W_S)",
}


#: Which sublattice each defect sits on.
DEFECT_SITE: dict[str, str] = {
    "Sw": "metal", "Mo": "metal", "Vw": "metal",
    "W2s2": "chalcogen", "Vs2": "chalcogen", "Ws": "chalcogen",
}


LATTICE_A: float = 3.18  # Å, WS2 in-plane lattice constant


THICKNESS_A: float = 3.14  # Å, S–S vertical separation


VACUUM_A: float = 2.0  # Å above and below the S planes


def class_index(name: str) -> int:
    """Label of a defect class name; a clear ValueError for unknown names.

    Parameters
    ----------
    name : str
        A class name of :data:`CLASS_NAMES`.

    Returns
    -------
    int
    """
    if name not in CLASS_NAMES:
        raise ValueError(f"unknown defect class {name!r}; known classes: {', '.join(CLASS_NAMES)}")
    return CLASS_NAMES.index(name)


def pristine_ws2(min_size_A: float = 32.0, a_A: float = LATTICE_A,
                 thickness_A: float = THICKNESS_A) -> Atoms:
    """An orthogonal, periodic 2H-WS2 monolayer supercell at least ``min_size_A`` wide in x and y.

    Parameters
    ----------
    min_size_A : float
        Smallest width of the cell in x and y (Å).
    a_A : float
        Lattice constant (Å).
    thickness_A : float
        S–S distance across the layer (Å).

    Returns
    -------
    ase.Atoms
    """
    if not np.isfinite(min_size_A) or min_size_A <= 0:
        raise ValueError(f"min_size_A must be positive, got {min_size_A}")
    return pristine_tmd("WS2", min_size_A, a_A, thickness_A)


def pristine_tmd(formula: str, min_size_A: float, a_A: float, thickness_A: float) -> Atoms:
    """An orthogonal, periodic 2H monolayer supercell of any MX2 (``"WSe2"``, ``"MoS2"``, …) at least
    ``min_size_A`` wide in x and y.

    Parameters
    ----------
    formula : str
        ASE formula of the unit, metal first.
    min_size_A : float
        Smallest width of the cell in x and y (Å).
    a_A : float
        Lattice constant (Å).
    thickness_A : float
        Chalcogen–chalcogen distance across the layer (Å).

    Returns
    -------
    ase.Atoms
    """
    if not np.isfinite(min_size_A) or min_size_A <= 0:
        raise ValueError(f"min_size_A must be positive, got {min_size_A}")
    if a_A <= 0 or thickness_A <= 0:
        raise ValueError("lattice constant and thickness must be positive")
    unit = mx2(formula, kind="2H", a=a_A, thickness=thickness_A, vacuum=VACUUM_A)
    # orthogonal rectangle a × a√3 holds two formula units: (1,0) and (1,2) combinations of the
    # hexagonal vectors
    ortho = _orthogonalize(unit, a_A)
    nx = int(np.ceil(min_size_A / ortho.cell[0, 0]))
    ny = int(np.ceil(min_size_A / ortho.cell[1, 1]))
    atoms = ortho.repeat((nx, ny, 1))
    atoms.wrap()
    return atoms


def _orthogonalize(unit: Atoms, a_A: float) -> Atoms:
    """Rectangular a × a√3 cell (6 atoms) from the hexagonal 3-atom cell."""
    big = unit.repeat((2, 2, 1))
    cell = np.diag([a_A, a_A * np.sqrt(3), unit.cell[2, 2]])
    pos = big.get_positions()
    frac = np.linalg.solve(cell.T, pos.T).T
    # fold every atom into the rectangle and drop duplicates
    frac[:, :2] %= 1.0
    frac[np.isclose(frac, 1.0, atol=1e-6)] = 0.0
    out = Atoms(symbols=big.get_chemical_symbols(), scaled_positions=frac, cell=cell, pbc=True)
    _, idx = np.unique(np.round(out.get_scaled_positions() * 1e4).astype(int), axis=0, return_index=True)
    out = out[np.sort(idx)]
    if len(out) != 6:  # pragma: no cover - guards the construction above
        raise RuntimeError(f"orthogonal MX2 cell has {len(out)} atoms, expected 6")
    return out


def _nearest(points: np.ndarray, target: np.ndarray) -> int:
    return int(np.argmin(np.linalg.norm(points - target[None, :], axis=1)))


def build_defect(name: str, min_size_A: float = 32.0, defect_atoms_last: bool = False
                 ) -> tuple[Atoms, np.ndarray]:
    """A WS2 supercell with one defect of class ``name`` at the site nearest the cell centre.

    Returns the atoms and the defect's projected position (x, y) in Å. With
    ``defect_atoms_last`` the atoms of the defect's column come last (lowest first): every other
    atom is then in the same place of the list for all classes on one sublattice, so frozen
    phonons with one seed displace them identically (paired simulations that differ only at the
    defect).

    Parameters
    ----------
    name : str
        One of :data:`CLASS_NAMES`.
    min_size_A : float
        Smallest supercell width (Å).
    defect_atoms_last : bool
        Put the defect column's atoms at the end of the list.

    Returns
    -------
    atoms : ase.Atoms
        The supercell.
    position : ndarray (2,)
        The defect's projected (x, y) position (Å).
    """
    class_index(name)
    atoms = pristine_ws2(min_size_A)
    centre = np.diag(atoms.cell)[:2] / 2
    atoms, site = _edit_site(atoms, name, centre)
    if defect_atoms_last:
        p = atoms.get_positions()
        on_site = np.linalg.norm(p[:, :2] - site[None, :], axis=1) < 0.1
        tail = np.flatnonzero(on_site)[np.argsort(p[on_site, 2], kind="stable")]
        atoms = atoms[np.concatenate([np.flatnonzero(~on_site), tail])]
    return atoms, site


#: The single chalcogen vacancy (one S of an S2 column missing): not a library class (the poster's
#: six are), but a defect of the movies and of the site reading; :func:`ws2_with_defects` places it.
SINGLE_S_VACANCY = "Vs"


def _nearest_site(atoms: Atoms, name: str, target: np.ndarray) -> np.ndarray:
    """Projected position (x, y, Å) of the site of defect ``name``'s sublattice nearest ``target``."""
    pos = atoms.get_positions()
    sym = np.array(atoms.get_chemical_symbols())
    idx = np.flatnonzero(sym == ("W" if DEFECT_SITE.get(name) == "metal" else "S"))
    return pos[idx[_nearest(pos[idx, :2], target)], :2].copy()


def _edit_site(atoms: Atoms, name: str, target: np.ndarray) -> tuple[Atoms, np.ndarray]:
    """Put defect ``name`` on the site of its sublattice nearest ``target`` (x, y, Å); returns the
    edited atoms and the site's projected position (Å)."""
    site = _nearest_site(atoms, name, target)
    pos = atoms.get_positions()
    sym = np.array(atoms.get_chemical_symbols())
    on_site = np.flatnonzero(np.linalg.norm(pos[:, :2] - site, axis=1) < 0.1)
    if DEFECT_SITE.get(name) == "metal":
        i = int(on_site[0])
        if name == "Mo":
            atoms[i].symbol = "Mo"
        elif name == "Sw":
            atoms[i].symbol = "S"
        elif name == "Vw":
            del atoms[i]
        return atoms, site
    column = on_site[sym[on_site] == "S"]
    if len(column) != 2:
        raise ValueError(f"the chalcogen column at ({site[0]:.2f}, {site[1]:.2f}) Å holds "
                         f"{len(column)} S atoms, expected 2 (two defects on one site?)")
    z_metal = float(np.median(pos[sym != "S", 2]))
    top = int(column[np.argmax(pos[column, 2])])
    if name == "Ws":
        atoms[top].symbol = "W"
    elif name == SINGLE_S_VACANCY:
        del atoms[top]
    elif name == "Vs2":
        del atoms[[int(c) for c in column]]
    elif name == "W2s2":
        del atoms[[int(c) for c in column]]
        atoms += Atoms("W", positions=[[site[0], site[1], z_metal]])
    return atoms, site


def ws2_with_defects(min_size_A: float, n_per_class: dict, rng: np.random.Generator,
                     min_distance_A: float = 8.0, a_A: float = LATTICE_A) -> tuple[Atoms, list[dict]]:
    """A periodic WS2 supercell with several point defects at random sites at least
    ``min_distance_A`` apart (periodic distance), for fields of many defects (e.g. multislice
    frames scored like a movie).

    Parameters
    ----------
    min_size_A : float
        Smallest cell width (Å).
    n_per_class : dict
        Class name (the six library classes or ``"Vs"``) → number of defects.
    rng : numpy.random.Generator
    min_distance_A : float
        Smallest distance between two defects (Å).
    a_A : float
        Lattice constant (Å).

    Returns
    -------
    atoms : ase.Atoms
    truth : list of dict
        ``class``, ``x_A``, ``y_A`` (the site's projected position) per defect.
    """
    for name, n in n_per_class.items():
        if name != SINGLE_S_VACANCY:
            class_index(name)
        if int(n) < 0:
            raise ValueError(f"n_per_class[{name!r}] must be ≥ 0, got {n}")
    atoms = pristine_ws2(min_size_A, a_A=a_A)
    cell = np.diag(atoms.cell)[:2]
    names = [k for k, n in n_per_class.items() for _ in range(int(n))]
    rng.shuffle(names)
    truth: list[dict] = []
    placed = np.zeros((0, 2))
    for name in names:
        for _ in range(1000):
            target = _nearest_site(atoms, name, rng.uniform(0, 1, 2) * cell)
            d = np.abs(placed - target[None, :])
            d = np.minimum(d, cell[None, :] - d)
            if not len(placed) or np.hypot(d[:, 0], d[:, 1]).min() >= min_distance_A:
                break
        else:
            raise ValueError(f"no room for {len(names)} defects {min_distance_A} Å apart in a "
                             f"{cell[0]:.0f} × {cell[1]:.0f} Å cell")
        atoms, site = _edit_site(atoms, name, target)
        placed = np.vstack([placed, site[None, :]])
        truth.append({"class": name, "x_A": float(site[0]), "y_A": float(site[1])})
    return atoms, truth


def composition(atoms: Atoms) -> dict[str, int]:
    """Counts per element.

    Parameters
    ----------
    atoms : ase.Atoms

    Returns
    -------
    dict
        Element → count.
    """
    syms, counts = np.unique(atoms.get_chemical_symbols(), return_counts=True)
    return {str(s): int(c) for s, c in zip(syms, counts)}


def tmd_with_substitutions(formula: str, min_size_A: float, a_A: float, thickness_A: float,
                           n_per_class: dict, rng: np.random.Generator, min_distance_A: float = 6.0
                           ) -> tuple[Atoms, list[dict]]:
    """A periodic MX2 supercell (:func:`pristine_tmd`) with point defects at random sites at least
    ``min_distance_A`` apart (periodic distance), named as the column reading names them
    (:func:`helpers.core.chemistry.chemistry_of`): ``X_M`` the metal replaced by element X,
    ``Vac_M`` the metal missing, ``Vac_C`` one chalcogen of a column missing, ``Vac_C2`` both,
    ``X_C`` one chalcogen of a column replaced by X (the lower one, in place).

    Parameters
    ----------
    formula : str
        ASE formula, metal first (``"WSe2"``).
    min_size_A, a_A, thickness_A : float
        Smallest cell width, lattice constant, chalcogen–chalcogen distance (Å).
    n_per_class : dict
        Class name → number of defects.
    rng : numpy.random.Generator
    min_distance_A : float
        Smallest distance between two defects (Å).

    Returns
    -------
    atoms : ase.Atoms
    truth : list of dict
        ``class``, ``x_A``, ``y_A`` (the site's projected position) per defect.
    """
    from ase.data import atomic_numbers

    atoms = pristine_tmd(formula, min_size_A, a_A, thickness_A)
    sym = np.array(atoms.get_chemical_symbols())
    els, counts = np.unique(sym, return_counts=True)
    metal, chalcogen = str(els[np.argmin(counts)]), str(els[np.argmax(counts)])  # M X2
    edits = {}
    for name, n in n_per_class.items():
        what, _, host = name.partition("_")
        if host not in (metal, chalcogen, chalcogen + "2") or (host == chalcogen + "2" and what != "Vac") \
                or (what != "Vac" and what not in atomic_numbers) or int(n) < 0:
            raise ValueError(f"unknown defect {name!r} for {formula}: use X_{metal}, Vac_{metal}, "
                             f"X_{chalcogen}, Vac_{chalcogen} or Vac_{chalcogen}2 with a count ≥ 0")
        edits[name] = (what, host)
    cell = np.diag(atoms.cell)[:2]
    pos = atoms.get_positions()
    sites = {metal: pos[sym == metal, :2]}
    cpos = pos[sym == chalcogen, :2]
    _, first = np.unique(np.round(cpos * 100).astype(int), axis=0, return_index=True)
    sites[chalcogen] = cpos[np.sort(first)]
    names = [k for k, n in n_per_class.items() for _ in range(int(n))]
    rng.shuffle(names)
    placed, truth, remove, used = np.zeros((0, 2)), [], [], set()
    for name in names:
        what, host = edits[name]
        cand = sites[metal if host == metal else chalcogen]
        for _ in range(1000):
            k = int(rng.integers(len(cand)))
            d = np.abs(placed - cand[k][None, :])
            d = np.minimum(d, cell[None, :] - d)
            if (host, k) not in used and (not len(placed) or np.hypot(d[:, 0], d[:, 1]).min() >= min_distance_A):
                break
        else:
            raise ValueError(f"no room for {len(names)} defects {min_distance_A} Å apart in a "
                             f"{cell[0]:.0f} × {cell[1]:.0f} Å cell")
        used.add((host, k))
        site = cand[k]
        on = np.flatnonzero(np.linalg.norm(pos[:, :2] - site[None, :], axis=1) < 0.1)
        on = on[np.argsort(pos[on, 2])]  # lower atom first
        if what == "Vac":
            remove.extend(on.tolist() if host != chalcogen else on[:1].tolist())
        else:
            atoms[int(on[0])].symbol = what
        placed = np.vstack([placed, site[None, :]])
        truth.append({"class": name, "x_A": float(site[0]), "y_A": float(site[1])})
    del atoms[sorted(set(remove))]
    return atoms, truth
