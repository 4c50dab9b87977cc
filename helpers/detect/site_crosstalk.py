"""Neighbours on the honeycomb, and the crosstalk between them: the share of a neighbour's content
change that a site's reading takes in.

A defect changes its column's probe tail too, which the Gaussian-core model of its neighbours
partly reads as theirs (measured on the standard movie: a chalcogen column beside a W vacancy reads
~0.02 metal units low, a quarter of a single vacancy). :func:`remove_crosstalk` fits that share per
sublattice and neighbour shell on the sites read as pristine beside isolated defects and takes it
out of every reading.

Which neighbours enter the fit. Around a defect complex (a metal vacancy with its chalcogen
vacancies, common in real MoS2) the neighbours are often partly empty themselves; fitted on them,
the coefficient learns the complex, not the probe tail (0.32 for the chalcogen's own shell on a real
MoS2 image, 0.00–0.04 on simulated movies), and then hides the complex's own vacancies. So a
pristine-read site enters only beside at most one defect that has no defective neighbour itself.
But the first pass reads before any crosstalk is removed, and where the noise is low the tail alone
can push a neighbour of a metal vacancy over the threshold of a weak content (a single S
vacancy, 0.075 of a W column): the vacancy then counts as a complex and gives nothing to the fit,
and the false call stays. Where that strict rule leaves fewer than
:data:`CROSSTALK_STRICT_NEIGHBOURS` neighbours (a small field or a sparse real image; never a
movie), a defective neighbour makes a complex only if its change is one the tail cannot fake (at
least :data:`WEAK_CHANGE`); the weak calls themselves stay out of the fit. Crops of a rendered WS2
image read alone (pooled F1): 0.876 / 0.914 / 0.957 at 38 / 45 / 51 Å with the strict rule,
0.975 / 0.978 / 0.985 with the fallback.

Public: :data:`CROSSTALK_PRIOR_SD`, :data:`CROSSTALK_MIN_NEIGHBOURS`,
:data:`CROSSTALK_STRICT_NEIGHBOURS`, :data:`WEAK_CHANGE`, :func:`neighbour_offsets`,
:func:`neighbour_sums`, :func:`remove_crosstalk`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.core.chemistry import CHALCOGEN, METAL
from helpers.detect.column_model import ColumnLattice
from helpers.detect.site_model import MASKED

__all__ = ["CROSSTALK_PRIOR_SD", "CROSSTALK_MIN_NEIGHBOURS", "CROSSTALK_STRICT_NEIGHBOURS", "WEAK_CHANGE",
           "neighbour_offsets", "neighbour_sums", "remove_crosstalk"]

#: prior standard deviation of a crosstalk coefficient (reading change of a site per unit content
#: change of its neighbours, metal units): the probe tail of a neighbour 1.8–3.2 Å away; fitted on
#: simulated movies 0.00–0.04
CROSSTALK_PRIOR_SD = 0.05
#: fewest pristine-read neighbours of isolated defects to fit the crosstalk on (below: none
#: removed). One metal vacancy gives three, each a precise measure (the change is a whole column);
#: the prior above shrinks what a few give. At 20, 45-64 Å fields of a rendered WS2 image (3 % of
#: the sites defects) kept their false single S vacancies beside every W vacancy: pooled F1 0.887
#: (51 Å) and 0.981 (64 Å) against 1.000 on the whole 140 Å image; at 4, 0.957 and 1.000
CROSSTALK_MIN_NEIGHBOURS = 4
#: below this many neighbours under the strict rule, weak calls do not make a complex (module text)
CROSSTALK_STRICT_NEIGHBOURS = 20
#: a content change (metal units) that the tail of a neighbour could fake: twice the prior's spread
#: of the coefficient times a whole column
WEAK_CHANGE = 2 * CROSSTALK_PRIOR_SD


def neighbour_offsets(lattice: ColumnLattice) -> dict:
    """Lattice-index offsets (di, dj) of the nearest neighbours of a site: ``(kind, "other")`` the
    three of the other sublattice (a/√3 away), ``(kind, "same")`` the six of its own (a away), on
    the undistorted lattice of the basis whatever scan distortion the image has.

    Parameters
    ----------
    lattice : ColumnLattice

    Returns
    -------
    dict
    """
    V = lattice.vectors
    # neighbours by the undistorted hexagon of the basis (a₁, a₂ at 120°, or 60°), not the pixels: a
    # scan-distorted image (a real MoS2 frame: |a₁| 19.6 px, |a₂| 17.7, |a₁ + a₂| 17.1) kept four of
    # the six same-sublattice neighbours until 5 December 2026, and which four turned with the image
    cos = -0.5 if np.dot(V[0], V[1]) < 0 else 0.5
    A = np.array([[1.0, 0.0], [cos, np.sqrt(1 - cos ** 2)]])
    cf = np.asarray(lattice.chalcogen_frac, float)
    d = np.array([(i, j) for i in range(-2, 3) for j in range(-2, 3)], float)
    a = 1.0
    out = {}
    for kind, own, oth in ((METAL, np.zeros(2), cf), (CHALCOGEN, cf, np.zeros(2))):
        dist_o = np.linalg.norm((d + oth - own) @ A, axis=1)
        dist_s = np.linalg.norm(d @ A, axis=1)
        out[(kind, "other")] = d[np.abs(dist_o - a / np.sqrt(3)) < 0.1 * a].astype(int)
        out[(kind, "same")] = d[np.abs(dist_s - a) < 0.1 * a].astype(int)
    return out


def neighbour_sums(frames, kinds, i, j, values, offsets: dict, frame_offset: int = 0) -> dict:
    """Per site and frame, the sum of ``values`` over its nearest neighbours of the other sublattice
    (``"other"``) and of its own (``"same"``), from the lattice indices (missing neighbours: 0);
    ``frame_offset``: the neighbours' values ``frame_offset`` frames later.

    Parameters
    ----------
    frames, kinds, i, j, values : ndarray (n,)
        Per site reading: frame, sublattice, lattice indices and the value summed.
    offsets : dict
        From :func:`neighbour_offsets`.
    frame_offset : int

    Returns
    -------
    dict
        ``"other"``, ``"same"`` → ndarray (n,).
    """
    frames, i, j = (np.asarray(x, np.int64) for x in (frames, i, j))
    kbit = (np.asarray(kinds, object) == CHALCOGEN).astype(np.int64)
    off = 1 << 20

    def code(f, k, ii, jj):
        return ((f * 2 + k) << 42) + ((ii + off) << 21) + (jj + off)

    keys = code(frames, kbit, i, j)
    order = np.argsort(keys)
    sk = keys[order]
    v = np.asarray(values, float)[order]
    out = {}
    for rel in ("other", "same"):
        total = np.zeros(len(keys))
        for kind, kb in ((METAL, 0), (CHALCOGEN, 1)):
            sel = kbit == kb
            nk = 1 - kb if rel == "other" else kb
            for di, dj in offsets[(kind, rel)]:
                q = code(frames[sel] + frame_offset, nk, i[sel] + di, j[sel] + dj)
                pos = np.clip(np.searchsorted(sk, q), 0, len(sk) - 1)
                hit = sk[pos] == q
                total[np.flatnonzero(sel)[hit]] += v[pos[hit]]
        out[rel] = total
    return out


def _beside_one_isolated(frames, kinds, i, j, defect, offsets: dict) -> np.ndarray:
    """Per site: at most one neighbour in ``defect`` (0/1 per site), and none whose own neighbours
    hold one (a complex)."""
    n_def = neighbour_sums(frames, kinds, i, j, defect, offsets)
    n_def = n_def["other"] + n_def["same"]
    beside = neighbour_sums(frames, kinds, i, j, defect * (n_def > 0), offsets)
    return (n_def <= 1) & (beside["other"] + beside["same"] == 0)


def remove_crosstalk(rel, kinds, cls, s: pd.DataFrame, contents: dict, offsets: dict, isolated_only: bool = True):
    """Readings freed of the share a neighbour's content change leaves in them (see the module's
    docstring): per sublattice and neighbour shell, the coefficient is fitted on the sites decoded
    as pristine (their reading minus the pristine content, against the summed decoded change of
    their neighbours), shrunk towards none by :data:`CROSSTALK_PRIOR_SD`, then subtracted from
    every reading. (``isolated_only`` False: every pristine-decoded site enters, for an alloy,
    whose second metal is everywhere, and for a converting sheet, whose substituted chalcogen
    columns are.)

    Parameters
    ----------
    rel : ndarray (n,)
        Readings (metal units).
    kinds, cls : ndarray (n,)
        Sublattice and decoded content of each reading.
    s : DataFrame
        The site table (frame, i, j).
    contents : dict
        Sublattice → content → reading, the pristine content first.
    offsets : dict
        From :func:`neighbour_offsets`.
    isolated_only : bool

    Returns
    -------
    readings : ndarray (n,)
    coef : dict
        Sublattice → {"other", "same"} coefficient, for the sublattices fitted.
    """
    pristine = {k: next(iter(contents[k])) for k in contents}
    change = {c: v - contents[k][pristine[k]] for k in contents for c, v in contents[k].items()}
    cls = np.asarray(cls, object)
    dc = pd.Series(cls).map(change).fillna(0.0).to_numpy(float)
    frames, i, j = s["frame"], s["i"], s["j"]
    sums = neighbour_sums(frames, kinds, i, j, dc, offsets)
    is_def = (~np.isin(cls, list(pristine.values()) + [MASKED])).astype(float)
    strict = _beside_one_isolated(frames, kinds, i, j, is_def, offsets) if isolated_only else np.ones(len(cls), bool)
    relaxed = None
    res = rel - np.array([contents[k][pristine[k]] for k in kinds])
    out = rel.copy()
    coef = {}
    for kind in (METAL, CHALCOGEN):
        sel = (kinds == kind) & (cls == pristine[kind]) & strict
        use = (np.abs(sums["other"][sel]) + np.abs(sums["same"][sel])) > 0
        if isolated_only and use.sum() < CROSSTALK_STRICT_NEIGHBOURS:  # the fallback: weak calls make no complex
            if relaxed is None:
                relaxed = _beside_one_isolated(frames, kinds, i, j, is_def * (np.abs(dc) >= WEAK_CHANGE), offsets)
            sel = (kinds == kind) & (cls == pristine[kind]) & relaxed
            use = (np.abs(sums["other"][sel]) + np.abs(sums["same"][sel])) > 0
        X = np.stack([sums["other"][sel], sums["same"][sel]], 1)
        if use.sum() < CROSSTALK_MIN_NEIGHBOURS:
            continue
        Xu, yu = X[use], res[sel][use]
        # the least-squares fit shrunk towards no crosstalk by a prior of CROSSTALK_PRIOR_SD: a few
        # isolated defects in one real frame leave the coefficient uncertain by 0.05–0.13; a movie
        # (thousands of neighbours, ±0.001) keeps its own fit
        resid = yu - Xu @ np.linalg.lstsq(Xu, yu, rcond=None)[0]
        ridge = float(np.mean(resid ** 2)) / CROSSTALK_PRIOR_SD ** 2
        beta = np.linalg.solve(Xu.T @ Xu + ridge * np.eye(2), Xu.T @ yu)
        coef[kind] = {"other": float(beta[0]), "same": float(beta[1])}
        k = kinds == kind
        out[k] = rel[k] - beta[0] * sums["other"][k] - beta[1] * sums["same"][k]
    return out, coef
