"""Readings the named chemistry does not explain: defect classes off their level, sites above it all.

The reading gives a significant site the most probable of the contents its chemistry lists
(:meth:`helpers.core.chemistry.Chemistry.site_contents`). A content the list lacks — a dopant not
named, an antisite outside the vocabulary — still differs from the pristine column and is found, but
it is given the nearest listed class, and the readings of that class then gather off its level. On
the Se-implanted MoS2 image read as MoS2 without ``--dopants Se``, 36 chalcogen sites are called
``Mo_S2`` with a median reading of 0.88 of a Mo column, where ``Mo_S2`` reads 1.00 and ``Se_S`` would
read 0.90.

A class of host atoms (a vacancy, an antisite) read on at least :data:`OFF_LEVEL_MIN_SITES` sites
is off its level where the median of its readings differs from the level by at least
:data:`OFF_LEVEL_SHIFT` noise widths of one reading and by at least :data:`OFF_LEVEL_Z` standard
errors of that median (1.2533 σ/√n), and where an unlisted content (:func:`unlisted_contents`: the
chemistry with one more common dopant, and the chalcogen pair on a metal site) reads near the median
(within two noise widths or :data:`MODEL_TOLERANCE` of it) and nearer to it than the class's level. A shift with no such content to
explain it is left unsaid: the levels' model is off by a few per cent for some contents (five ``Ws``
of a clean rendered WS2 frame read 1.14 of a W column against the 1.08 modelled, 2.7 noise widths
of that frame). The reading is not changed: the warning names the class, the readings and those
contents, as candidates to check, not findings.

A class holding a named dopant is not tested: its level is measured on the image
(:mod:`helpers.detect.dopant_levels`, the ladder of :mod:`helpers.detect.site_levels`), and where its
readings sit off it, that fit is what is off (on a rendered MoS2 frame with Se on 6 % of its S₂
columns, 25 ``Se_S`` read 0.92 of a Mo column where the ladder put 0.96). A class whose readings sit
below every level of its sublattice is not said either: it is the empty column, the lowest content
there is, whatever its neighbours do to the reading (a row of S₂ vacancies in a real MoS2 image
reads −0.4 to −0.9 of a Mo column; the edge of a hole or of contamination lowers the background).

Sites that read above every content of their sublattice (:func:`above_levels`) are read as the
nearest listed content and would go unsaid; where there are more than noise gives, a warning says
so, with what would read near them: an unlisted content, or a column with one more atom on top of
it (:func:`on_top_contents`).

Public: :data:`OFF_LEVEL_MIN_SITES`, :data:`OFF_LEVEL_SHIFT`, :data:`OFF_LEVEL_Z`, :data:`ABOVE_Z`,
:data:`ALLOYED_SHARE`, :data:`MASK_EDGE_A`, :data:`ADATOM_NEAR_A`, :data:`MODEL_TOLERANCE`, :data:`METAL_CANDIDATES`,
:func:`unlisted_contents`, :func:`off_levels`, :func:`off_level_notes`, :func:`on_top_contents`,
:func:`above_levels`, :func:`above_level_notes`.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from helpers.core.chemistry import CHALCOGEN, CHALCOGENS, METAL, Z, Chemistry
from helpers.detect.site_model import MASKED
from helpers.detect.site_noise import reading_noise, reading_sd

__all__ = ["OFF_LEVEL_MIN_SITES", "OFF_LEVEL_SHIFT", "OFF_LEVEL_Z", "ABOVE_Z", "ALLOYED_SHARE", "MASK_EDGE_A",
           "ADATOM_NEAR_A", "MODEL_TOLERANCE",
           "METAL_CANDIDATES",
           "unlisted_contents", "off_levels", "off_level_notes", "on_top_contents", "above_levels",
           "above_level_notes"]

#: fewest readings of one class looked at
OFF_LEVEL_MIN_SITES = 5

#: the median must be this many noise widths of one reading off the class's level ...
OFF_LEVEL_SHIFT = 0.75

#: ... and this many standard errors of the median
OFF_LEVEL_Z = 4.0

#: a site reading this many noise widths above the highest content its sublattice lists is above
#: every listed content (:func:`above_levels`)
ABOVE_Z = 4.0

#: a sublattice where this share of the sites hold a named dopant (a Mo/W alloy, a converting sheet)
#: is read on levels fitted to it, which spread wider than one content's noise: :func:`above_levels`
#: leaves it alone (rendered MoSe2 with 15-75 % W: 8-10 W columns of 389-418 read 3.4-3.8 of a Mo
#: column against the 3.1-3.2 fitted)
ALLOYED_SHARE = 0.10

#: sites this close to a masked one (Å; about two lattice constants) are not counted above every
#: content: the edge of a 1T patch or an inversion domain lifts them (MoTe2: up to 1.7 Te₂ columns)
MASK_EDGE_A = 6.5

#: nor sites this close to a listed adatom (Å; the first shell of columns around its hollow site,
#: a/√3 ≈ 1.8–1.9 Å): a heavy adatom's probe tail lifts them (Re on MoS2: 1.10 of a Mo column
#: in the median, up to 1.48)
ADATOM_NEAR_A = 2.5

#: a candidate content reads "near" a median within two noise widths of one reading or this share
#: of the median, whichever is wider: the modelled levels are good to several per cent (rendered metal
#: adatoms read 1.04-1.10 of theirs, atoms on top of a Mo column 1.05)
MODEL_TOLERANCE = 0.08

#: metals reported as substituents of 2H TMD sheets, tried as candidates on the metal site
METAL_CANDIDATES = ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Nb", "Mo", "Ta", "W", "Re")


def _near(median: float, floor: float, slope: float) -> float:
    """How near a candidate's reading must be to ``median`` (:data:`MODEL_TOLERANCE`)."""
    return max(2 * float(reading_sd(median, floor, slope)), MODEL_TOLERANCE * abs(median))


def _named_dopant_classes(chemistry: Chemistry) -> set:
    """The content names (both sublattices) that hold a named dopant."""
    return {k for sub in chemistry.site_contents().values() for k, v in sub.items()
            if set(v) & set(chemistry.dopants)}


def unlisted_contents(chemistry: Chemistry, kind: str, metal_level: float, chalcogen_level: float,
                      exponent: float) -> dict:
    """Contents of sublattice ``kind`` that the chemistry does not list, with their modelled
    readings (units of the levels): each of :data:`METAL_CANDIDATES` and the other chalcogens as one
    more dopant — a chalcogen on one site of a column only: where a dopant is sparse enough to go
    unnamed, a column holding two of it is rare beside the columns holding one — and the host
    chalcogen pair on a metal site (an antisite the vocabulary lacks).

    Parameters
    ----------
    chemistry : Chemistry
    kind : {"metal", "chalcogen"}
    metal_level, chalcogen_level : float
        Pristine readings of the two sublattices.
    exponent : float
        HAADF exponent for the elements not measured.

    Returns
    -------
    dict
        {content name: (reading, element to name with --dopants or None)}
    """
    listed = set(chemistry.site_contents()[kind])
    out = {}
    for e in METAL_CANDIDATES + CHALCOGENS:
        if e in (chemistry.metal, chemistry.chalcogen) or e in chemistry.dopants:
            continue
        more = replace(chemistry, dopants=tuple(chemistry.dopants) + (e,))
        for name, level in more.contents(metal_level, chalcogen_level, exponent)[kind].items():
            if name not in listed and name not in out and not name.startswith(f"{e}2_"):
                out[name] = (level, e)
    if kind == METAL:
        out.setdefault(f"{chemistry.chalcogen}2_{chemistry.metal}", (chalcogen_level, None))
    return out


def off_levels(sites: pd.DataFrame, contents: dict, noise: dict, chemistry: Chemistry,
               exponent: float) -> pd.DataFrame:
    """The defect classes whose readings sit off their level (module text).

    Parameters
    ----------
    sites : DataFrame
        Decoded site table (``kind``, ``class``, ``significant``, ``content`` in metal units).
    contents : dict
        {sublattice: {class: reading}} the sites were read against.
    noise : dict
        {sublattice: noise of one pristine reading}.
    chemistry : Chemistry
    exponent : float
        HAADF exponent used.

    Returns
    -------
    DataFrame
        One row per class of host atoms off its level that an unlisted content explains, or whose
        median is below the empty column: ``kind``, ``class``, ``sites``, ``level``, ``median``,
        ``shift_sd``, ``z``, ``below_empty`` (the median below every level of the sublattice: no
        candidates, no warning), ``candidates`` (list of (name, reading, element to name or None),
        nearest first: near the median (:data:`MODEL_TOLERANCE`) and nearer than the level).
    """
    cols = ["kind", "class", "sites", "level", "median", "shift_sd", "z", "below_empty", "candidates"]
    d = sites[sites["significant"] & (sites["class"] != MASKED)]
    if d.empty:
        return pd.DataFrame(columns=cols)
    m0, c0 = contents[METAL][chemistry.pristine(METAL)], contents[CHALCOGEN][chemistry.pristine(CHALCOGEN)]
    floor, slope = reading_noise(m0, c0, noise[METAL], noise[CHALCOGEN])
    named = _named_dopant_classes(chemistry)
    rows = []
    for (kind, cls), g in d.groupby(["kind", "class"], sort=True):
        level = contents.get(kind, {}).get(cls)
        x = g["content"].to_numpy(float)
        x = x[np.isfinite(x)]
        if level is None or len(x) < OFF_LEVEL_MIN_SITES or cls in named:
            continue
        sd = float(reading_sd(level, floor, slope))
        med = float(np.median(x))
        shift, z = (med - level) / sd, (med - level) / (1.2533 * sd / np.sqrt(len(x)))
        if abs(shift) < OFF_LEVEL_SHIFT or abs(z) < OFF_LEVEL_Z:
            continue
        below = med < min(contents[kind].values())
        cands = []
        if not below:  # unlisted contents near the median that read nearer than the class's level
            other = unlisted_contents(chemistry, kind, m0, c0, exponent)
            near = sorted((abs(v - med), n, v, e) for n, (v, e) in other.items()
                          if abs(v - med) <= min(_near(med, floor, slope), abs(level - med)))
            cands = [(n, float(v), e) for _, n, v, e in near[:3]]
            if not cands:
                continue
        rows.append((kind, cls, len(x), float(level), med, float(shift), float(z), bool(below), cands))
    return pd.DataFrame(rows, columns=cols)


def off_level_notes(table: pd.DataFrame, chemistry: Chemistry) -> list:
    """One warning per row of :func:`off_levels` whose median is not below the empty column.

    Parameters
    ----------
    table : DataFrame
        :func:`off_levels`'s table.
    chemistry : Chemistry

    Returns
    -------
    list of str
    """
    notes = []
    unit = f"of a {chemistry.metal} column"
    for r in table.itertuples(index=False):
        if r.below_empty:
            continue
        said = (f"{r.sites} {r.kind} site readings called {r._1} read {r.median:.2f} {unit} (median), not the "
                f"{r.level:.2f} {r._1} reads ({r.shift_sd:+.1f} noise widths)")
        cands = ", ".join(f"{n} {v:.2f}" + (f" (--dopants {e})" if e else " (an antisite the vocabulary lacks)")
                          for n, v, e in r.candidates)
        notes.append(f"{said}: a content the {chemistry.material} list{' with ' + ','.join(chemistry.dopants) if chemistry.dopants else ''} "
                     "does not hold may be there, read as its nearest listed class"
                     + (f"; unlisted contents that read near: {cands}" if cands else "")
                     + " (candidates to check, not findings)")
    return notes


def on_top_contents(chemistry: Chemistry, kind: str, contents: dict, exponent: float) -> dict:
    """A column of sublattice ``kind`` with one more atom on top of it — the host metal, a chalcogen
    or a named dopant (an adatom above a column rather than on a hollow site) — and its reading: the
    host atoms and a named dopant's as the reading has them (measured on the image where it could),
    another chalcogen scaled from the host chalcogen by (Z/Z_host)ⁿ.

    Parameters
    ----------
    chemistry : Chemistry
    kind : {"metal", "chalcogen"}
    contents : dict
        {sublattice: {class: reading}} of the reading.
    exponent : float
        HAADF exponent n.

    Returns
    -------
    dict
        {name (``Se_on_Mo``, ``Mo_on_S2``, …): reading}
    """
    M, X = chemistry.metal, chemistry.chalcogen
    half = contents[CHALCOGEN][f"{X}2"] / 2
    one = {M: contents[METAL][M], X: half}
    for e in chemistry.dopants:  # a dopant's atom: its content on its own sublattice less the host part
        one[e] = (contents[CHALCOGEN][chemistry.label(f"{e}_{X}")] - half if e in CHALCOGENS
                  else contents[METAL][chemistry.label(f"{e}_{M}")])
    for e in CHALCOGENS:
        one.setdefault(e, half * (Z[e] / Z[X]) ** exponent)
    host = chemistry.pristine(kind)
    return {f"{e}_on_{host}": contents[kind][host] + v for e, v in one.items()}


def above_levels(sites: pd.DataFrame, contents: dict, noise: dict, chemistry: Chemistry, exponent: float,
                 z: float = ABOVE_Z, adatoms: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sites that read above every content their sublattice lists, by more than ``z`` noise widths
    of the highest and :data:`MODEL_TOLERANCE` of it, farther than :data:`MASK_EDGE_A` from a masked
    site and :data:`ADATOM_NEAR_A` from a listed adatom, where there are at least :data:`OFF_LEVEL_MIN_SITES` of them and ten times as
    many as Gaussian noise would give (not on a sublattice of which :data:`ALLOYED_SHARE` hold a named
    dopant): one row per sublattice with the unlisted contents and atoms on
    top of the column (:func:`on_top_contents`) that read near their median (:data:`MODEL_TOLERANCE`).

    Parameters
    ----------
    sites : DataFrame
        Decoded site table (``kind``, ``class``, ``content`` in metal units).
    contents, noise, chemistry, exponent
        As :func:`off_levels`.
    z : float
        Noise widths above the highest listed content.
    adatoms : DataFrame, optional
        Listed adatoms (``frame``, ``x_A``, ``y_A``; :func:`helpers.detect.adatoms.adatom_table`).

    Returns
    -------
    DataFrame
        ``kind``, ``sites``, ``readings`` (of that sublattice), ``top`` (the highest listed content and
        its name), ``min``, ``median``, ``max``, ``candidates`` (list of (name, reading, how)).
    """
    from scipy.stats import norm

    from scipy.spatial import cKDTree

    cols = ["kind", "sites", "readings", "top", "min", "median", "max", "candidates"]
    masked = sites[sites["class"] == MASKED]
    s = sites[sites["class"] != MASKED]
    m0, c0 = contents[METAL][chemistry.pristine(METAL)], contents[CHALCOGEN][chemistry.pristine(CHALCOGEN)]
    floor, slope = reading_noise(m0, c0, noise[METAL], noise[CHALCOGEN])
    rows = []
    named = _named_dopant_classes(chemistry)
    for kind in (METAL, CHALCOGEN):
        on = s[s["kind"] == kind]
        if on["class"].isin(named).mean() >= ALLOYED_SHARE:  # an alloy or a converting sheet: levels fitted
            continue
        on = on[np.isfinite(on["content"].to_numpy(float))]
        x = on["content"].to_numpy(float)
        name, top = max(contents[kind].items(), key=lambda kv: kv[1])
        above = on[x > top + max(z * float(reading_sd(top, floor, slope)), MODEL_TOLERANCE * top)]
        # the edge of a masked area, and a heavy adatom's tail, lift the sites beside them
        for near, within in ((masked, MASK_EDGE_A), (adatoms, ADATOM_NEAR_A)):
            if near is None or not len(near) or not len(above):
                continue
            far = np.ones(len(above), bool)
            for t, g in above.groupby("frame"):
                m = near[near["frame"] == t]
                if len(m):
                    d = cKDTree(m[["x_A", "y_A"]].to_numpy()).query(g[["x_A", "y_A"]].to_numpy())[0]
                    far[np.flatnonzero(above["frame"].to_numpy() == t)] = d > within
            above = above[far]
        hi = above["content"].to_numpy(float)
        if len(hi) < max(OFF_LEVEL_MIN_SITES, 10 * len(x) * norm.sf(z)):
            continue
        med = float(np.median(hi))
        near = _near(med, floor, slope)
        cands = [(n, v, f"--dopants {e}" if e else "an antisite the vocabulary lacks")
                 for n, (v, e) in unlisted_contents(chemistry, kind, m0, c0, exponent).items()]
        cands += [(n, v, "an atom on top of the column")
                  for n, v in on_top_contents(chemistry, kind, contents, exponent).items()]
        cands = sorted((c for c in cands if abs(c[1] - med) <= near), key=lambda c: abs(c[1] - med))[:3]
        rows.append((kind, len(hi), len(x), (name, float(top)), float(hi.min()), med, float(hi.max()),
                     [(n, float(v), how) for n, v, how in cands]))
    return pd.DataFrame(rows, columns=cols)


def above_level_notes(table: pd.DataFrame, chemistry: Chemistry) -> list:
    """One warning per row of :func:`above_levels`.

    Parameters
    ----------
    table : DataFrame
    chemistry : Chemistry

    Returns
    -------
    list of str
    """
    notes = []
    for r in table.itertuples(index=False):
        cands = ", ".join(f"{n} {v:.2f} ({how})" for n, v, how in r.candidates)
        notes.append(f"{r.sites} of {r.readings} {r.kind} site readings read {r.min:.2f}–{r.max:.2f} of a "
                     f"{chemistry.metal} column (median {r.median:.2f}), above every content the list holds "
                     f"(the highest, {r.top[0]}, reads {r.top[1]:.2f}); they are read as the nearest listed one"
                     + (f"; what would read near them: {cands} (candidates to check, not findings)" if cands
                        else "; contamination or a thicker spot can also do this"))
    return notes
