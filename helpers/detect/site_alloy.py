"""Metal sublattices of two elements in comparable numbers (Mo₁₋ₓWₓS₂, W-rich MoSe2, ...): the
metal columns read against the neighbouring chalcogen columns.

Every site is read relative to the median of its neighbouring metal columns
(:func:`helpers.detect.site_measure.metal_reference`), which is the host metal column wherever the
host is the large majority. In an alloy of two metals in comparable numbers that median is a W
column here and a Mo column there (W/Mo ≈ 2.6 at n = 1.7): the readings have no reference, their
spread exceeds half a metal column, and the reading refused such frames. The chalcogen sublattice of
such an alloy is uniform, so :func:`alloy_readings` reads the metal columns against the median of
their neighbouring chalcogen columns instead, fits the two metal levels (host and substituent, a
ratio (Z_sub / Z_host)ⁿ with n within :data:`ALLOY_EXPONENT_RANGE`, one noise width relative to its
level, a flat share for anything else) and, where the substituent holds at least
:data:`ALLOY_MIN_SHARE` of the metal columns and the two levels explain the readings much better than
one, expresses every reading in units of the host metal column. The levels that vary must be the
metal's: where the chalcogen columns, read against their own neighbours, spread more than the metal
columns read against theirs (a sheet converting to another chalcogen, whose metal columns read
against S₂, SSe and Se₂ neighbours take several levels too), no alloy is read. It is decided on the
first frame; a frame of a sparsely doped lattice (the standard WS2 movie's few Mo) is read as
before, bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.core.chemistry import CHALCOGEN, CHALCOGENS, METAL, Z, Chemistry
from helpers.detect.site_measure import sublattice_reference
from helpers.detect.sublattices import _spread

#: the substituent metal must hold at least this share of the metal columns: below it the median of
#: a site's 12 nearest metal columns is a host column but for ≤ 2 % of the sites (at 30 %, 12 %),
#: and the usual reading holds (rendered alloys at 15 % read as well or better that way)
ALLOY_MIN_SHARE = 0.2
#: HAADF exponents the two metal levels' ratio may imply
ALLOY_EXPONENT_RANGE = (1.0, 2.5)
#: the two metals must differ by at least this factor at the lowest exponent (Re in W: 75/74 is no
#: alloy the intensities can read)
ALLOY_MIN_CONTRAST = 1.3
#: the two-level model must beat the one-level model by BIC's penalty plus this (as the ladder's)
ALLOY_MIN_GAIN = 5.0
#: the flat component (vacancies, antisites, contamination) holds at most this share
ALLOY_MAX_OTHER_SHARE = 0.2


@dataclass
class MetalAlloy:
    """The two metal levels of an alloy (units of the local chalcogen column)."""

    element: str  #: the substituent metal
    host: float  #: the host metal column
    level: float  #: the substituent metal column
    rel_sd: float  #: noise of one reading over its level
    share: float  #: the substituent's share of the metal columns
    exponent: float  #: n implied by the two levels' ratio
    tail_leak: float = 0.0  #: share of a chalcogen reading one second-metal neighbour adds (measured)

    def note(self, chemistry: Chemistry) -> str:
        """What the reading says of the alloy (stderr and ``summary.json`` warnings)."""
        return (f"{100 * self.share:.0f} % of the metal columns read as {self.element} (an alloy of {chemistry.metal} "
                f"and {self.element}): the metal columns are read against their neighbouring "
                f"{chemistry.chalcogen}2 columns, not against the median metal column "
                f"({self.element}/{chemistry.metal} {self.level / self.host:.2f}, n = {self.exponent:.2f})")


def _em2(x, h, r, rel_sd, lo, hi, r_range, steps: int = 80):
    """EM on two Gaussian levels h and h·r (sd proportional to the level) plus a flat component over
    [lo, hi]; r kept within ``r_range`` (``None``: one level only). Returns (h, r, rel_sd, weights, ll)."""
    K = 1 if r_range is None else 2
    w = np.full(K + 1, 1.0 / (K + 1))
    flat = 1.0 / max(hi - lo, 1e-12)
    ll = -np.inf
    for _ in range(steps):
        mu = np.array([h, h * r][:K])
        sd = rel_sd * mu
        dens = np.empty((len(x), K + 1))
        dens[:, :K] = np.exp(-0.5 * ((x[:, None] - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
        dens[:, K] = flat
        dens *= w
        tot = dens.sum(1) + 1e-300
        ll = float(np.sum(np.log(tot)))
        resp = dens / tot[:, None]
        w = resp.mean(0)
        if w[K] > ALLOY_MAX_OTHER_SHARE:
            w[:K] *= (1 - ALLOY_MAX_OTHER_SHARE) / max(w[:K].sum(), 1e-12)
            w[K] = ALLOY_MAX_OTHER_SHARE
        rk = resp[:, :K]
        # levels: weighted means in units of each level (sd ∝ level: weights 1/level²)
        if K == 1:
            h = float(np.sum(rk[:, 0] * x) / max(rk[:, 0].sum(), 1e-12))
        else:
            s0, s1 = rk[:, 0].sum(), rk[:, 1].sum()
            m0 = np.sum(rk[:, 0] * x) / max(s0, 1e-12)
            m1 = np.sum(rk[:, 1] * x) / max(s1, 1e-12)
            h = float((s0 * m0 + s1 * m1 / r) / max(s0 + s1, 1e-12))
            r = float(np.clip(m1 / max(h, 1e-12), *r_range))
        mu = np.array([h, h * r][:K])
        rel_sd = float(np.sqrt(max(np.sum(rk * ((x[:, None] - mu) / mu) ** 2) / max(rk.sum(), 1e-12), 1e-8)))
    return h, r, rel_sd, w, ll


def fit_metal_alloy(readings, chemistry: Chemistry) -> MetalAlloy | None:
    """The two metal levels of an alloy (module text), or None where the metal columns show one.

    Parameters
    ----------
    readings : array_like
        Metal-site readings in units of the local chalcogen column (NaN ignored).
    chemistry : Chemistry
        Its metal dopants are the candidate second metals.

    Returns
    -------
    MetalAlloy or None
    """
    x = np.asarray(readings, float)
    x = x[np.isfinite(x) & (x > 0)]
    subs = [d for d in chemistry.dopants if d not in CHALCOGENS
            and max(Z[d] / Z[chemistry.metal], Z[chemistry.metal] / Z[d]) ** ALLOY_EXPONENT_RANGE[0] >= ALLOY_MIN_CONTRAST]
    if not subs or len(x) < 50:
        return None
    lo, hi = float(x.min()), float(x.max())
    null = max((_em2(x, float(np.percentile(x, q)), 1.0, 0.1, lo, hi, None) for q in (25, 50, 75)),
               key=lambda f: f[-1])
    best = None
    for d in subs:
        zr = Z[d] / Z[chemistry.metal]
        r_range = tuple(sorted((zr ** ALLOY_EXPONENT_RANGE[0], zr ** ALLOY_EXPONENT_RANGE[1])))
        for q in (10, 30, 50, 70, 90):  # the host level started at quantiles (it may be either mode)
            h0 = float(np.percentile(x, q))
            fit = _em2(x, h0, zr ** 1.7, 0.1, lo, hi, r_range)
            if best is None or fit[-1] > best[1][-1]:
                best = (d, fit)
    d, (h, r, rel_sd, w, ll) = best
    zr = Z[d] / Z[chemistry.metal]
    separated = abs(r - 1) >= 3 * rel_sd * max(1.0, r)  # ≥ 3 noise widths of the brighter level
    if (ll - null[-1] < 1.5 * np.log(len(x)) + ALLOY_MIN_GAIN or min(w[0], w[1]) < ALLOY_MIN_SHARE
            or not separated):
        return None
    return MetalAlloy(d, h, h * r, rel_sd, float(w[1] / (w[0] + w[1])), float(np.log(r) / np.log(zr)))


def _second_metal_counts(pos, kinds, is_second) -> np.ndarray:
    """Per chalcogen site of one frame, how many of its three nearest metal sites hold the second metal."""
    from scipy.spatial import cKDTree

    metal = np.flatnonzero(kinds == METAL)
    chal = np.flatnonzero(kinds == CHALCOGEN)
    out = np.zeros(len(chal))
    if len(metal) < 3 or not len(chal):
        return out
    d, nn = cKDTree(pos[metal]).query(pos[chal], k=3)
    near = d <= 1.5 * np.median(d[:, 0])  # the site's own three neighbours, not beyond a frame edge
    return np.sum(np.asarray(is_second)[metal][nn] & near, axis=1).astype(float)


def _with_counts(s: pd.DataFrame, rows, second_brighter: bool, threshold: float) -> tuple:
    """One frame's readings against the median of the neighbouring chalcogen columns, and per
    chalcogen site its count of second-metal neighbours (the metal sites beyond ``threshold``)."""
    sub = s.iloc[rows]
    pos = sub[["row", "col"]].to_numpy(float)
    kinds = sub["kind"].to_numpy()
    amp = sub["amplitude"].to_numpy(float)
    x = amp / sublattice_reference(pos, kinds, amp, CHALCOGEN)
    second = (kinds == METAL) & ((x > threshold) if second_brighter else (x < threshold))
    return x, _second_metal_counts(pos, kinds, second)


def _leak_free(s: pd.DataFrame, rows, x, counts, leak: float) -> np.ndarray:
    """The readings ``x`` of :func:`_with_counts` with every chalcogen amplitude first divided by
    (1 + ``leak`` × its count of second-metal neighbours ``counts``), the tails those neighbours
    leave in it (a metal site's reading stays as measured)."""
    if leak == 0:
        return x
    sub = s.iloc[rows]
    pos = sub[["row", "col"]].to_numpy(float)
    kinds = sub["kind"].to_numpy()
    amp = sub["amplitude"].to_numpy(float)
    chal = kinds == CHALCOGEN
    free = amp.copy()
    free[chal] = amp[chal] / (1 + leak * counts)
    x = x.copy()
    x[chal] = (free / sublattice_reference(pos, kinds, free, CHALCOGEN))[chal]
    return x


def _tail_leak(x_chal, counts) -> float:
    """The share of a chalcogen column's reading one second-metal neighbour adds (its probe tail,
    which the Gaussian-core fit takes for the column's own; negative for a dimmer second metal): a line through the medians of the
    readings with 0–3 such neighbours, over the reading with none."""
    ks = [k for k in range(4) if np.sum(counts == k) >= 5]
    if len(ks) < 2:
        return 0.0
    med = np.array([np.median(x_chal[counts == k]) for k in ks])
    w = np.array([np.sum(counts == k) for k in ks], float)
    slope, icpt = np.polyfit(np.array(ks, float), med, 1, w=np.sqrt(w))
    # (negative where the second metal is the dimmer: its neighbours miss the host's tail)
    return float(np.clip(slope / icpt, -0.25, 1.0)) if icpt > 0 else 0.0


def alloy_readings(s: pd.DataFrame, chemistry: Chemistry, use) -> tuple:
    """Where the first frame's metal columns are an alloy (:func:`fit_metal_alloy`), every reading of
    every frame against its neighbouring chalcogen columns in host-metal units; else the readings
    as they were.

    A second metal brighter than the host (W in MoS2) lifts its chalcogen neighbours' readings by its
    probe tail (rendered Mo₀.₅₅W₀.₄₅S₂: S₂ columns read 0.33, 0.39, 0.43 and 0.46 of a Mo column
    with 0, 1, 2 and 3 W neighbours; a dimmer one lowers them); the share one such neighbour adds is
    measured on all frames (:func:`_tail_leak`) and divided out of the chalcogen amplitudes
    before the chalcogen sites are read against each other (the metal sites are read against the
    amplitudes as measured: their levels are fitted on those).

    Parameters
    ----------
    s : DataFrame
        The site table (``frame``, ``kind``, ``row``, ``col``, ``amplitude``, ``ratio``).
    chemistry : Chemistry
    use : ndarray (n,) of bool
        Rows in the lattice's own area (the fit's readings).

    Returns
    -------
    alloy : MetalAlloy or None
    ratio : ndarray (n,)
        The readings (``s["ratio"]`` itself where there is no alloy).
    """
    if not any(d not in CHALCOGENS for d in chemistry.dopants):
        return None, s["ratio"].to_numpy()
    frames = s["frame"].to_numpy()
    first = np.flatnonzero(frames == frames.min())
    sub = s.iloc[first]
    pos, kinds0 = sub[["row", "col"]].to_numpy(float), sub["kind"].to_numpy()
    amp0 = sub["amplitude"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):  # a blank part: no reference, not used
        x0 = amp0 / sublattice_reference(pos, kinds0, amp0, CHALCOGEN)
    use0 = np.asarray(use, bool)[first] & np.isfinite(x0)
    metal0 = (kinds0 == METAL) & use0
    alloy = fit_metal_alloy(x0[metal0], chemistry)
    if alloy is not None:  # the levels that vary must be the metal's, not the chalcogen's: read
        # against their chalcogen neighbours, the metal columns of a sheet whose chalcogen columns
        # convert (S₂, SSe, Se₂) take two or more levels too
        chal0 = (kinds0 == CHALCOGEN) & use0
        own = sub["ratio"].to_numpy(float)[metal0]  # against the neighbouring metal columns
        if _spread(own) < _spread(x0[chal0]):
            alloy = None
    if alloy is None:
        return None, s["ratio"].to_numpy()
    brighter = alloy.level > alloy.host
    threshold = float(np.sqrt(alloy.host * alloy.level))  # between the two levels (uncorrected readings)
    # the chalcogen readings and their second-metal neighbour counts of every frame, pooled for the
    # tails' share (a small frame's one measurement is noisy), then each frame read freed of it
    by_frame = {t: np.flatnonzero(frames == t) for t in np.unique(frames)}
    use = np.asarray(use, bool)
    kind = s["kind"].to_numpy()
    xs, ns, measured = [], [], {}
    for t, rows in by_frame.items():
        measured[t] = x, counts = _with_counts(s, rows, brighter, threshold)
        chal = kind[rows] == CHALCOGEN
        xs.append(x[chal][use[rows][chal]])
        ns.append(counts[use[rows][chal]])
    leak = _tail_leak(np.concatenate(xs), np.concatenate(ns))
    ratio = np.empty(len(s))
    for t, rows in by_frame.items():
        ratio[rows] = _leak_free(s, rows, *measured.pop(t), leak)
    alloy.tail_leak = leak
    return alloy, ratio / alloy.host
