"""Column chemistry of a transition-metal dichalcogenide monolayer (2H, seen along c): the elements
of its two sublattices, every content a lattice site can hold and its name, and the HAADF intensity
of each content.

A metal site holds one metal atom; a chalcogen site holds two chalcogen atoms stacked along the
beam. The contents read on a site, named by what they are (``X_Y``: X where Y belongs; ``Vac``: a
vacancy — not ``V``, which is vanadium, a common dopant):

===========  ========================  ===============  ====================
site         name                      column           WS2 (poster)
===========  ========================  ===============  ====================
metal        ``M`` (pristine)          M                ``W``
metal        ``Vac_M``                 empty            ``Vw``
metal        ``X_M`` (antisite)        one chalcogen    ``Sw``
metal        ``D_M`` (dopant D)        D                ``Mo`` (``Mo_W``)
chalcogen    ``X2`` (pristine)         X + X            ``S2``
chalcogen    ``Vac_X2``                empty            ``Vs2``
chalcogen    ``Vac_X``                 X                ``Vs``
chalcogen    ``M_X2`` (antisite)       M                ``W2s2``
chalcogen    ``M_X`` (antisite)        M + X            ``Ws``
chalcogen    ``D_X`` (chalcogen D)     D + X            —
chalcogen    ``D2_X2``                 D + D            —
===========  ========================  ===============  ====================

A metal dopant (``--dopants Ti,V,Re``) adds ``D_M``; a chalcogen dopant (``Se``, ``Te``, ``S``)
adds ``D_X`` and ``D2_X2``. WS2 keeps the poster's six names (and ``Vs``) with ``Mo`` as its
default dopant.

Intensities: HAADF ∝ Σ Zⁿ over a column. Each content is read in units of the pristine metal
column; one host chalcogen is half the measured pristine chalcogen column (no exponent needed);
any other element E is scaled from the host atom of its kind (a metal from the metal, a chalcogen
from the chalcogen) by (Z_E / Z_host)ⁿ, with n from the
measured chalcogen/metal ratio when that lies in the physical range of HAADF imaging, else the
prior :data:`HAADF_EXPONENT_PRIOR` (and the reading says so, naming the materials whose ratio the
measured one is at a physical exponent: :func:`materials_for_ratio`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: atomic numbers of the elements a TMD column may hold (hosts, common dopants and adatoms)
Z = {"C": 6, "N": 7, "O": 8, "S": 16, "Ti": 22, "V": 23, "Cr": 24, "Mn": 25, "Fe": 26, "Co": 27,
     "Ni": 28, "Cu": 29, "Zn": 30, "Ga": 31, "Ge": 32, "As": 33, "Se": 34, "Zr": 40, "Nb": 41,
     "Mo": 42, "Ru": 44, "Rh": 45, "Pd": 46, "Ag": 47, "In": 49, "Sn": 50, "Sb": 51, "Te": 52,
     "Hf": 72, "Ta": 73, "W": 74, "Re": 75, "Os": 76, "Ir": 77, "Pt": 78, "Au": 79}


CHALCOGENS = ("S", "Se", "Te")


#: 2H monolayers: metal, chalcogen, in-plane lattice constant a (Å; bulk crystal structures,
#: ICSD / Materials Project, rounded to 0.01 Å)
MATERIALS = {"WS2": ("W", "S", 3.18), "MoS2": ("Mo", "S", 3.16), "WSe2": ("W", "Se", 3.28),
             "MoSe2": ("Mo", "Se", 3.29), "MoTe2": ("Mo", "Te", 3.52), "WTe2": ("W", "Te", 3.55)}


#: mixed-chalcogen alloys: the host material and the second chalcogen, read as its substituent
ALLOYS = {"WSSe": ("WS2", "Se"), "MoSSe": ("MoS2", "Se"), "WSeTe": ("WSe2", "Te"), "MoSeTe": ("MoSe2", "Te")}


#: HAADF exponent n (intensity ∝ Zⁿ): its physical range (high-angle annular dark field, inner
#: angles of ~40–100 mrad; Pennycook & Jesson 1991, Krivanek et al. 2010) and the prior used
#: when a measurement falls outside it
HAADF_EXPONENT_RANGE = (1.3, 2.1)


HAADF_EXPONENT_PRIOR = 1.7


#: the poster's names of the WS2 contents
WS2_LABELS = {"Vac_W": "Vw", "S_W": "Sw", "Mo_W": "Mo", "Vac_S2": "Vs2", "Vac_S": "Vs", "W_S2": "W2s2", "W_S": "Ws"}


METAL, CHALCOGEN = "metal", "chalcogen"


@dataclass(frozen=True)
class Chemistry:
    """The chemistry of the lattice being read: host metal and chalcogen, candidate dopants, and the
    lattice constant (Å)."""

    material: str
    metal: str
    chalcogen: str
    lattice_a_A: float
    dopants: tuple = ()

    @property
    def labels(self) -> dict:
        """Vocabulary name → the name used in tables (the poster's names for WS2)."""
        return WS2_LABELS if (self.metal, self.chalcogen) == ("W", "S") else {}

    def label(self, name: str) -> str:
        """The table name of a vocabulary name (the poster's name for WS2, else the name itself).

        Parameters
        ----------
        name : str
            A vocabulary name (``Vac_M``, ``Se_S``, …).

        Returns
        -------
        str
        """
        return self.labels.get(name, name)

    def pristine(self, sublattice: str) -> str:
        """Table name of the pristine content of a sublattice (``W``, ``S2``, ``Mo``, ``Se2`` …).

        Parameters
        ----------
        sublattice : {"metal", "chalcogen"}

        Returns
        -------
        str
        """
        return self.metal if sublattice == METAL else f"{self.chalcogen}2"

    def site_contents(self) -> dict:
        """{sublattice: {table name: atoms of the column}}, pristine content first."""
        M, X = self.metal, self.chalcogen
        metal = {M: (M,), f"Vac_{M}": (), f"{X}_{M}": (X,)}
        chal = {f"{X}2": (X, X), f"Vac_{X}2": (), f"Vac_{X}": (X,), f"{M}_{X}2": (M,), f"{M}_{X}": (M, X)}
        for d in self.dopants:
            if d in CHALCOGENS:
                chal[f"{d}_{X}"] = (d, X)
                chal[f"{d}2_{X}2"] = (d, d)
            else:
                metal[f"{d}_{M}"] = (d,)
        return {METAL: {self.label(k): v for k, v in metal.items()},
                CHALCOGEN: {self.label(k): v for k, v in chal.items()}}

    def defect_classes(self) -> tuple:
        """Every non-pristine content name, metal site first."""
        c = self.site_contents()
        return tuple(k for sub in (METAL, CHALCOGEN) for k in list(c[sub])[1:])

    def expected_ratio(self, exponent: float = HAADF_EXPONENT_PRIOR) -> float:
        """The pristine chalcogen column (two atoms) over the metal column at HAADF exponent n.

        Parameters
        ----------
        exponent : float
            n in intensity ∝ Zⁿ.

        Returns
        -------
        float
        """
        return float(2 * (Z[self.chalcogen] / Z[self.metal]) ** exponent)

    @property
    def chalcogen_brighter(self) -> bool:
        """Whether the pristine chalcogen column reads brighter than the metal column at the prior
        exponent (MoSe2 1.40, MoTe2 2.88, WTe2 1.10 of the metal; sulfides and WSe2 below 1). The
        lattice fit finds a bright and a dim sublattice; this says which holds the metal."""
        return self.expected_ratio() > 1.0

    def sublattice_note(self) -> str | None:
        """A warning where the physical range of n lets either sublattice be the brighter one
        (WTe2: Te2/W 0.95–1.26), so that which is the metal rests on the prior exponent."""
        lo, hi = sorted(self.expected_ratio(n) for n in HAADF_EXPONENT_RANGE)
        if lo < 1.0 < hi:
            which = f"{self.chalcogen}2" if self.chalcogen_brighter else self.metal
            return (f"in {self.material} the two sublattices read nearly alike ({self.chalcogen}2/{self.metal} "
                    f"{lo:.2f}–{hi:.2f} for HAADF exponents {HAADF_EXPONENT_RANGE[0]}–{HAADF_EXPONENT_RANGE[1]}): "
                    f"the brighter one is taken as {which} (n = {HAADF_EXPONENT_PRIOR}); check the sublattices "
                    "on a known defect")
        return None

    def exponent_from_ratio(self, chalcogen_over_metal: float) -> float:
        """The HAADF exponent n for which the pristine chalcogen column (two atoms) reads
        ``chalcogen_over_metal`` of the metal column (NaN where no n can).

        Parameters
        ----------
        chalcogen_over_metal : float
            Measured pristine chalcogen / metal column reading.

        Returns
        -------
        float
        """
        r = chalcogen_over_metal / 2
        if not (np.isfinite(r) and r > 0) or Z[self.chalcogen] == Z[self.metal]:
            return float("nan")
        return float(np.log(r) / np.log(Z[self.chalcogen] / Z[self.metal]))

    def contents(self, metal_level: float, chalcogen_level: float, exponent: float,
                 atom_levels: dict | None = None) -> dict:
        """{sublattice: {name: expected reading}} in the units of the levels: the pristine metal
        column reads ``metal_level``, the pristine chalcogen column ``chalcogen_level``; one host
        chalcogen half of it; other elements scaled from the host atom of their kind by (Z/Z_host)^n.

        Parameters
        ----------
        metal_level, chalcogen_level : float
            Pristine readings of the two sublattices.
        exponent : float
            HAADF exponent.
        atom_levels : dict, optional
            Element → its atom's reading where the image measures it (a substituent's rung:
            :mod:`helpers.detect.site_levels`); the exponent's scaling is then not used for it.

        Returns
        -------
        dict
        """
        per_atom = {self.metal: metal_level, self.chalcogen: chalcogen_level / 2, **(atom_levels or {})}

        def atom(e):
            if e in per_atom:
                return per_atom[e]
            host = self.chalcogen if e in CHALCOGENS else self.metal
            return per_atom[host] * (Z[e] / Z[host]) ** exponent

        return {sub: {name: float(sum(atom(e) for e in atoms)) for name, atoms in d.items()}
                for sub, d in self.site_contents().items()}


def chemistry_of(material: str = "WS2", dopants=None) -> Chemistry:
    """The :class:`Chemistry` of a material name (``WS2``, ``MoSe2``, an alloy such as ``WSSe``)
    and candidate dopants (element symbols). WS2 with no dopants given reads ``Mo`` as its
    substituent (the poster's six classes); ``dopants=()`` gives none.

    Parameters
    ----------
    material : str
        ``MoS2``, ``MoSe2``, ``MoTe2``, ``WS2``, ``WSe2``, ``WTe2`` or a mixed-chalcogen alloy.
    dopants : iterable of str, optional
        Candidate substituents (element symbols).

    Returns
    -------
    Chemistry
        Host metal and chalcogen, lattice constant (Å), candidate dopants and the class vocabulary.

    Raises
    ------
    ValueError
        For an unknown material or element.
    """
    extra = ()
    if material in ALLOYS:
        material, second = ALLOYS[material]
        extra = (second,)
    if material not in MATERIALS:
        raise ValueError(f"unknown material {material!r}; known: {sorted(MATERIALS) + sorted(ALLOYS)}")
    metal, chalcogen, a = MATERIALS[material]
    if dopants is None:
        dopants = ("Mo",) if material == "WS2" else ()
    out = []
    for d in tuple(extra) + tuple(dopants):
        d = str(d).strip()
        if d not in Z:
            raise ValueError(f"unknown dopant element {d!r}; known: {', '.join(sorted(Z, key=Z.get))}")
        if d in (metal, chalcogen):
            raise ValueError(f"{d} is a host element of {material}, not a dopant")
        if d not in out:
            out.append(d)
    return Chemistry(material, metal, chalcogen, a, tuple(out))


def materials_for_ratio(chalcogen_over_metal: float, besides: str | None = None) -> dict:
    """The materials of :data:`MATERIALS` whose pristine chalcogen/metal column ratio is
    ``chalcogen_over_metal`` at a HAADF exponent inside :data:`HAADF_EXPONENT_RANGE`, with that
    exponent; ``besides`` left out.

    Parameters
    ----------
    chalcogen_over_metal : float
        Measured pristine chalcogen-column / metal-column reading.
    besides : str, optional
        A material not to list (the one read).

    Returns
    -------
    dict
        {material: exponent}, in :data:`MATERIALS` order.
    """
    lo, hi = HAADF_EXPONENT_RANGE
    out = {}
    for name in MATERIALS:
        if name != besides:
            n = chemistry_of(name, ()).exponent_from_ratio(chalcogen_over_metal)
            if np.isfinite(n) and lo <= n <= hi:
                out[name] = n
    return out


def plausible_exponent(chem: Chemistry, chalcogen_over_metal: float) -> tuple[float, str | None]:
    """The HAADF exponent to use and, where the measured one is outside
    :data:`HAADF_EXPONENT_RANGE`, a warning saying it was replaced by the prior.

    Parameters
    ----------
    chem : Chemistry
        The material read.
    chalcogen_over_metal : float
        Measured pristine chalcogen-column / metal-column reading.

    Returns
    -------
    exponent : float
        HAADF exponent n (intensity ∝ Zⁿ) to use.
    warning : str or None
        Why the measured value was replaced, if it was.
    """
    n = chem.exponent_from_ratio(chalcogen_over_metal)
    lo, hi = HAADF_EXPONENT_RANGE
    if np.isfinite(n) and lo <= n <= hi:
        return n, None
    said = (f"the pristine {chem.chalcogen}2/{chem.metal} column ratio {chalcogen_over_metal:.3f} implies a "
            f"HAADF exponent of {n:.2f}")
    use = f"the prior {HAADF_EXPONENT_PRIOR} is used for the contents of other elements"
    if chem.chalcogen in ("Se", "Te") and np.isfinite(n) and lo - 0.1 <= n < lo:  # a clean selenide lands here
        return HAADF_EXPONENT_PRIOR, (f"{said}, just below the physical {lo}–{hi}: two heavy chalcogen atoms "
                                      "stacked in one column read brighter than two single atoms (multislice "
                                      f"WSe2: 1.29), so {use}")
    other = materials_for_ratio(chalcogen_over_metal, besides=chem.material)
    fits = (f"; of the known materials, {', '.join(f'{m} (n {v:.2f})' for m, v in other.items())} "
            f"read{'s' if len(other) == 1 else ''} this ratio at a physical exponent: if the sheet is "
            f"{' or '.join(other)}, name it with --material") if other else ""
    return HAADF_EXPONENT_PRIOR, (f"{said}, outside the physical {lo}–{hi}: {use} (a thicker or contaminated "
                                  f"area, a detector offset, or another material can cause this){fits}")
