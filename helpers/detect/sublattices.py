"""Which sublattice holds the metal where the named dopants can reverse the two sublattices'
brightness order: a sheet converting to another chalcogen (MoSe2 → MoSSe, MoS2 → MoSe2, WTe2 with
Se) or a Mo/W alloy (W-poor WSe2, W-rich MoSe2).

The lattice fit names the metal sublattice by brightness (:mod:`helpers.detect.lattice`). Where
the dopants can put the chalcogen columns on either side of the metal columns, the sublattice that
holds several levels decides instead (:func:`metal_sublattice`). Where the chemistry names no
second chalcogen but the chalcogen columns read as pristine spread much more widely than the metal's,
the reading says so and asks for it (:func:`unnamed_substituent_note`).
"""
from __future__ import annotations

import numpy as np

from helpers.core.chemistry import CHALCOGEN, CHALCOGENS, HAADF_EXPONENT_RANGE, METAL, Z, Chemistry
from helpers.detect.column_model import ColumnLattice
from helpers.detect.lattice import lattice_origin
from helpers.detect.site_levels import LADDER_MIN_SITES
from helpers.detect.site_measure import enumerate_sites, measure_amplitude_sets
from helpers.detect.site_model import MASKED
from helpers.detect.site_placement import chalcogen_varies

#: the sublattice named metal is swapped for the other where its readings spread (a standard deviation
#: with :data:`SWAP_CUT_PERCENT` % cut at either end for defects) by at least this factor more than the
#: other's: with the levels of both alike (where this is looked at) their noise is alike, and the rungs
#: of a converting sheet (≥ 0.25 of a metal column apart) widen the chalcogen's two- to fourfold
SPREAD_FACTOR = 2.0

#: the share cut at either end of each sublattice's readings before their spreads are compared: a
#: sheet that needs the swap holds several chalcogen levels in comparable numbers, which 10 % leaves;
#: a few bright columns (atoms on top of 8 of 149 Mo columns of a rendered MoS2 frame read with Se
#: named) are not a second level, and with 2.5 % cut they swapped that frame's sublattices (spread 3.6)
SWAP_CUT_PERCENT = 10.0


def _spread(x, cut_percent: float = 2.5) -> float:
    """Standard deviation of ``x`` with ``cut_percent`` % cut at either end."""
    lo, hi = np.percentile(x, [cut_percent, 100 - cut_percent])
    return float(np.std(x[(x >= lo) & (x <= hi)]))


#: metals that form 2H alloys with each other across the whole composition range (Mo₁₋ₓWₓX₂)
FULL_RANGE_METALS = ("Mo", "W")


def _straddling(chemistry: Chemistry) -> tuple[bool, bool]:
    """(a chalcogen substituent, a metal dopant) of ``chemistry`` that can put a sublattice's columns
    on either side of the other's at the HAADF exponents of the physical range: chalcogen columns
    host to fully substituted around the host metal column (MoSe2 or MoS2 with the other chalcogen),
    or the host chalcogen column between the two metals' columns (MoSe2 with W, WSe2 with Mo)."""
    zm, zx = Z[chemistry.metal], Z[chemistry.chalcogen]
    lo_n, hi_n = HAADF_EXPONENT_RANGE
    chal = [d for d in chemistry.dopants if d in CHALCOGENS]
    # (a swap for a metal dopant only where it alloys with the host across the whole range: a few
    # per cent of V in MoS2 cannot reverse the sublattices' order, and a noisy frame must not swap them)
    metals = [d for d in chemistry.dopants if d in FULL_RANGE_METALS and d != chemistry.metal]
    by_chalcogen = False
    if len(chal) == 1:
        zd = Z[chal[0]]
        levels = [(p ** n + q ** n) / zm ** n for n in (lo_n, hi_n) for p, q in ((zx, zx), (zx, zd), (zd, zd))]
        by_chalcogen = min(levels) < 1.0 < max(levels)
    by_metal = any(min(1.0, (Z[d] / zm) ** n) < 2 * (zx / zm) ** n < max(1.0, (Z[d] / zm) ** n)
                   for d in metals for n in (lo_n, hi_n))
    return bool(by_chalcogen), bool(by_metal)


def levels_straddle_metal(chemistry: Chemistry) -> bool:
    """Whether the named dopants can make the two sublattices read in the reverse order of the host
    material's: chalcogen columns host to fully substituted on either side of the metal column
    (MoSe2 or MoS2 with the other chalcogen, WTe2 with Se), or the chalcogen column between the two
    metals' columns of an alloy (MoSe2 with W, WSe2 with Mo).

    Parameters
    ----------
    chemistry : Chemistry

    Returns
    -------
    bool
    """
    return any(_straddling(chemistry))


def metal_sublattice(image, lattice, chemistry: Chemistry, radius_A: float = 5.0, bins: int = 4) -> tuple:
    """The lattice with the metal on the right sublattice where a converting sheet or an alloy has
    made the brightness order of the two sublattices the reverse of the host material's, and a note
    saying so.

    The lattice fit names the metal sublattice by brightness (the dim one in MoSe2, the bright one
    in MoS2). A MoSe2 sheet whose Se₂ columns are mostly SSe or S₂ reads its chalcogen sublattice
    dimmer than the Mo columns (and a mostly Se-substituted MoS2 brighter): the sublattices come out
    swapped and every site is read as the other's. The metal sublattice is uniform; the chalcogen
    sublattice of such a sheet holds several levels. Where the chemistry names a chalcogen
    substituent whose columns can straddle the metal's level, the sublattice named metal whose
    readings spread :data:`SPREAD_FACTOR` times as widely as the other's is taken for the chalcogen.
    An alloy the other way round: MoSe2 with 45 % W reads its metal sublattice brighter than its
    Se₂ columns, and there the sublattice named chalcogen that spreads so is taken for the metal
    (:mod:`helpers.detect.site_alloy`). Where both kinds of dopant could, the brightness order stands.

    Parameters
    ----------
    image : ndarray (H, W)
        The frame (or crop) the lattice was fitted on.
    lattice : ColumnLattice
    chemistry : Chemistry
    radius_A : float
        Fitting disc of each site (Å).
    bins : int
        Sub-pixel bins of the column filters.

    Returns
    -------
    lattice : ColumnLattice
        ``lattice`` itself, or with the sublattices swapped.
    note : str or None
    """
    by_chalcogen, by_metal = _straddling(chemistry)
    if by_chalcogen == by_metal:  # neither, or both: the brightness order stands
        return lattice, None
    img = np.asarray(image, np.float64)
    margin = radius_A / lattice.pixel_size_A + 2
    kinds, pos, _ = enumerate_sites(img.shape, lattice_origin(img, lattice), lattice, margin)
    amp = measure_amplitude_sets(img, kinds, pos, lattice, radius_A, bins)[:, 0]
    med = {k: float(np.median(amp[kinds == k])) for k in (METAL, CHALCOGEN) if np.sum(kinds == k) >= LADDER_MIN_SITES}
    if len(med) < 2:
        return lattice, None
    spread = {k: _spread(amp[kinds == k], SWAP_CUT_PERCENT) for k in med}
    # the sublattice that holds several levels: the chalcogen's of a converting sheet, the metal's of an alloy
    wide, narrow = (METAL, CHALCOGEN) if by_chalcogen else (CHALCOGEN, METAL)
    if not spread[wide] >= SPREAD_FACTOR * spread[narrow]:
        return lattice, None
    frac = tuple(lattice.chalcogen_frac)
    swapped = ColumnLattice(lattice.vectors_px, (frac[1], frac[0]), lattice.sigma_px, lattice.pixel_size_A,
                            1.0 / lattice.s2_ratio)
    if by_chalcogen:
        sub = next(d for d in chemistry.dopants if d in CHALCOGENS)
        what = (f"it is read as the {chemistry.chalcogen}2 sublattice of a sheet converting with {sub}, the uniform "
                f"one as {chemistry.metal}")
    else:
        what = (f"it is read as the metal sublattice of an alloy, the uniform one as {chemistry.chalcogen}2")
    return swapped, (f"the sublattice of the {'brighter' if med[wide] > med[narrow] else 'dimmer'} columns spreads "
                     f"{spread[wide] / spread[narrow]:.1f} times as widely as the other: {what}")


#: the chalcogen columns read pristine spreading this many times as widely as the metal columns read
#: pristine (trimmed standard deviations) are more than noise: rendered WS2 sheets with 10–60 % of one
#: half's columns SSe or Se₂ read as plain WS2 give 2.7–8.3 (the same sheets with Se named 1.0–1.3),
#: the real WS2→WSSe image 2.2, the six other real images 0.8–1.4
UNNAMED_SPREAD_FACTOR = 2.0


def unnamed_substituent_note(sites, chemistry: Chemistry) -> str | None:
    """A warning where the chalcogen columns of the first frame that the reading calls pristine
    spread :data:`UNNAMED_SPREAD_FACTOR` times as widely as the metal columns it calls pristine,
    and the chemistry names no second chalcogen: a sheet converting to another chalcogen, read
    against its median column, reads its substituted columns as pristine.

    Parameters
    ----------
    sites : DataFrame
        The decoded site table (``frame``, ``kind``, ``ratio``, ``class``, ``significant``).
    chemistry : Chemistry

    Returns
    -------
    str or None
    """
    if chalcogen_varies(chemistry):
        return None
    s = sites[(sites["frame"] == sites["frame"].min()) & (sites["class"] != MASKED) & ~sites["significant"]]
    x = {k: s.loc[s["kind"] == k, "ratio"].dropna().to_numpy(float) for k in (METAL, CHALCOGEN)}
    if min(len(v) for v in x.values()) < LADDER_MIN_SITES:
        return None
    ratio = _spread(x[CHALCOGEN]) / max(_spread(x[METAL]), 1e-12)
    if ratio < UNNAMED_SPREAD_FACTOR:
        return None
    others = ",".join(c for c in CHALCOGENS if c != chemistry.chalcogen)
    return (f"the {chemistry.chalcogen}2 columns read as pristine spread {ratio:.1f} times as widely as the "
            f"{chemistry.metal} columns: more than noise. If the sheet holds a second chalcogen (converting or "
            f"alloyed), name it (--dopants, one of {others}): read against its median column, its substituted "
            f"columns are taken for {chemistry.chalcogen}2")
