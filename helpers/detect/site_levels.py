"""The levels the site readings are measured against: each frame's pristine level of each
sublattice (:func:`relative_readings`) and, where the chalcogen columns are partly substituted,
the host column found on the ladder of levels (:func:`fit_ladder`).

Where an image's chalcogen columns are in good part substituted — a WS2 sheet partly converted to
WSSe, a heavily Se-implanted MoS2 — the median chalcogen column is no longer the host column: it is
a mixture of S₂, SSe and Se₂ columns, and a reading anchored on it calls nothing a defect (on a
real WS2→WSSe image the median read S₂/W 0.40, an "exponent 1.06" warning, and 0 of 73 chalcogen
columns substituted). The levels themselves say which is which: with intensity ∝ Σ Zⁿ, swapping one
host atom for the substituent adds the same step Δ whatever n is, so the columns read

    0 (both atoms gone), L/2 (one gone), L (host), L + Δ (one substituted), L + 2Δ (both),

with L the host column and Δ = (L/2)·((Z_sub / Z_host)ⁿ − 1). :func:`fit_ladder` fits these levels
(L, Δ and one noise width, the shares free, a flat share for anything else) to the chalcogen
readings by EM and keeps them only where they explain the readings much better than a host column
with its vacancies alone, the step is resolved (≥ 2 noise widths), it implies n within
:data:`LADDER_EXPONENT_RANGE`, and at least :data:`LADDER_MIN_SHARE` of the columns are substituted
(fewer leave the median where it was: the readings of a sparsely implanted image do not change).

:func:`class_separations` says how far each content's reading lies from its sublattice's pristine
level in units of one frame's noise: what a single frame can tell apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.core.chemistry import CHALCOGEN, CHALCOGENS, HAADF_EXPONENT_RANGE, METAL, Z, Chemistry

#: substituted share of the chalcogen columns from which the ladder's host level replaces the
#: median (below it the median is within ~0.1 noise widths of the host column)
LADDER_MIN_SHARE = 0.05
#: fewest chalcogen readings a ladder is fitted on (and a movie frame's host rung found on)
LADDER_MIN_SITES = 20
#: HAADF exponents a fitted step may imply (the substituent atom over the host atom; wider than
#: the host ratio's range: rendered and multislice columns do not add up exactly)
LADDER_EXPONENT_RANGE = (1.0, 2.5)
#: the vacancy rungs together hold at most this share (a lattice that reads is not mostly empty
#: columns; without the cap a host rung can pass for the half-empty rung of one twice as bright)
LADDER_MAX_VACANCY_SHARE = 0.2
#: the flat component (anything else: antisites, contamination) holds at most this share (in a
#: small image it would otherwise take most readings and leave the rungs a few columns each)
LADDER_MAX_OTHER_SHARE = 0.2
#: how far the step's exponent may stray from the host column's (a weak prior, chooses between
#: readings of the rungs that fit alike)
LADDER_EXPONENT_SD = 0.3
#: the step must be at least this many noise widths (the rungs resolved)
LADDER_MIN_STEP_SD = 2.0
#: the ladder's log-likelihood must beat the host-only model's by BIC's penalty (½ ln N per extra
#: parameter: the step and two shares) plus this (a Bayes factor of e⁵ ≈ 150)
LADDER_MIN_GAIN = 5.0

def relative_readings(s: pd.DataFrame, column: str, use=None, follow_metal: bool = False):
    """A reading relative to its frame's pristine level of its sublattice (median), plus the movie's
    pristine level: a slowly changing gain or background cancels.

    With ``follow_metal`` the chalcogen sublattice's frame level is not its own median but the
    movie's chalcogen level scaled as the metal's frame level: where the chemistry names a chalcogen
    substituent, the chalcogen columns may convert during the movie, and a frame whose columns are
    mostly converted would otherwise be read against a converted column (every column of the
    frames past half conversion of a WS2 → WSSe movie read as S₂).

    Parameters
    ----------
    s : DataFrame
        ``frame``, ``kind`` and ``column`` per site reading.
    column : str
    use : ndarray of bool, optional
        The rows the levels and spreads are measured on (the unmasked sites; a group without any
        falls back to all its rows).
    follow_metal : bool

    Returns
    -------
    reading : ndarray (n,)
    spread : ndarray (n,)
        Per row, the normalised MAD of its frame and sublattice.
    levels : dict
        Sublattice → the movie's pristine level.
    """
    keys = [s["frame"], s["kind"]]
    x = s[column]
    if use is not None and not np.all(use):
        xu = x.where(use)
        centre = xu.groupby(keys).transform("median").fillna(x.groupby(keys).transform("median"))
        dev = (x - centre).abs()
        spread = (dev.where(use).groupby(keys).transform("median")
                  .fillna(dev.groupby(keys).transform("median")) * 1.4826)
    else:
        xu = x
        centre = x.groupby(keys).transform("median")
        spread = (x - centre).abs().groupby(keys).transform("median") * 1.4826
    kinds = s["kind"].to_numpy()
    levels = {k: float(np.median(centre[kinds == k])) for k in (METAL, CHALCOGEN) if (kinds == k).any()}
    if follow_metal and METAL in levels and CHALCOGEN in levels:
        chal = kinds == CHALCOGEN
        levels[CHALCOGEN] = float(np.nanmedian(xu.to_numpy(float)[chal]))
        c = centre.to_numpy(float)
        metal_frame = pd.Series(np.where(kinds == METAL, c, np.nan)).groupby(s["frame"].to_numpy()).transform("max")
        centre = pd.Series(np.where(chal, levels[CHALCOGEN] * metal_frame.to_numpy() / levels[METAL], c),
                           index=x.index)
    base = s["kind"].map(levels).to_numpy(float)
    return (x - centre).to_numpy() + base, spread.to_numpy(), levels


# rungs: (host share, step share) of each level L·a + Δ·b
_RUNGS = np.array([(0.0, 0.0), (0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (1.0, 2.0)])
_NAMES = ("empty", "one_gone", "host", "one_substituted", "both_substituted")


@dataclass
class Ladder:
    """The chalcogen levels an image's readings show (reading units)."""

    host: float  #: the host column (two host atoms)
    step: float  #: Δ: one host atom swapped for the substituent
    sd: float  #: noise of one reading
    shares: dict  #: share of the columns on each rung (and ``other``)
    substituent: str  #: the element of the step
    exponent: float  #: n implied by the step
    loglik_gain: float  #: log-likelihood over the host-only model

    @property
    def substituent_atom(self) -> float:
        """The reading of one substituent atom (half a host column plus the step)."""
        return self.host / 2 + self.step

    def note(self, chemistry: Chemistry) -> str:
        """What the reading says of the ladder (stderr and ``summary.json`` warnings)."""
        sub = self.shares["one_substituted"] + self.shares["both_substituted"]
        return (f"{100 * sub:.0f} % of the {chemistry.chalcogen}2 columns read as substituted by "
                f"{self.substituent}: the host {chemistry.chalcogen}2 level ({self.host:.3f} of a metal column) "
                f"and the {self.substituent} step ({self.step:.3f}, n = {self.exponent:.2f}) are measured on "
                "the ladder of chalcogen levels, not the median column")


#: readings beyond this many are fitted as a histogram of as many bins (a long movie's ~10⁵
#: chalcogen readings cost what one frame's do; a bin is ~10⁻³ of a metal column, far below the noise)
LADDER_BINS = 2048


def _binned(x) -> tuple:
    """(values, counts) of the readings ``x``: themselves with counts 1, or their histogram's bin
    centres and counts when there are more than :data:`LADDER_BINS`."""
    x = np.asarray(x, float)
    if len(x) <= LADDER_BINS:
        return x, np.ones(len(x))
    counts, edges = np.histogram(x, bins=LADDER_BINS)
    keep = counts > 0
    return 0.5 * (edges[:-1] + edges[1:])[keep], counts[keep].astype(float)


def _em(data, host, step, sd, rungs, lo, hi, host_range=(0.0, np.inf), step_factor=(0.0, np.inf), steps: int = 60,
        host_only: bool = False):
    """EM on a mixture of Gaussians at ``rungs`` (levels host·a + step·b, one ``sd``) and a flat
    component over [lo, hi], fitted to ``data`` = (values, counts) (:func:`_binned`); the host kept
    within ``host_range`` and the step within ``step_factor`` × host (``host_only``: step and sd
    kept as given). Returns (host, step, sd, weights (len(rungs) + 1), log-likelihood)."""
    x, c = data
    xc = x[:, None]
    n = float(c.sum())
    K = len(rungs)
    w = np.full(K + 1, 1.0 / (K + 1))
    flat = 1.0 / max(hi - lo, 1e-12)
    ll = -np.inf
    for _ in range(steps):
        mu = rungs[:, 0] * host + rungs[:, 1] * step
        dens = np.empty((len(x), K + 1))
        dens[:, :K] = np.exp(-0.5 * ((xc - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
        dens[:, K] = flat
        dens *= w
        tot = dens.sum(1) + 1e-300
        ll = float(np.dot(c, np.log(tot)))
        r = dens * (c / tot)[:, None]  # responsibilities times counts
        w = r.sum(0) / n
        for capped, cap in ((np.r_[rungs[:, 0] < 1, False], LADDER_MAX_VACANCY_SHARE),
                            (np.r_[np.zeros(K, bool), True], LADDER_MAX_OTHER_SHARE)):
            share = w[capped].sum()
            if share > cap:  # the vacancy rungs and the flat component capped, the rest scaled up
                w[capped] *= cap / share
                w[~capped] *= (1 - cap) / (1 - share)
        rk = r[:, :K]
        ra, rb = rk @ rungs[:, 0], rk @ rungs[:, 1]  # per value: Σ r·a, Σ r·b
        # weighted least squares for (host, step): level = a·host + b·step
        A = np.array([[np.sum(rk @ rungs[:, 0] ** 2), np.sum(rk @ (rungs[:, 0] * rungs[:, 1]))],
                      [np.sum(rk @ (rungs[:, 0] * rungs[:, 1])), np.sum(rk @ rungs[:, 1] ** 2)]])
        bvec = np.array([np.dot(ra, x), np.dot(rb, x)])
        if host_only:
            host = float(np.clip((bvec[0] - A[0, 1] * step) / max(A[0, 0], 1e-12), *host_range))
            continue
        if np.any(rungs[:, 1] != 0):
            host, step = np.linalg.solve(A + 1e-12 * np.eye(2), bvec)
        else:
            host = bvec[0] / max(A[0, 0], 1e-12)
        host = float(np.clip(host, *host_range))
        step = float(np.clip(step, step_factor[0] * host, step_factor[1] * host))
        mu = rungs[:, 0] * host + rungs[:, 1] * step
        sd = float(np.sqrt(max(np.sum(rk * (xc - mu) ** 2) / max(rk.sum(), 1e-12), 1e-12)))
    return float(host), float(step), sd, w, ll


def fit_ladder(readings, chemistry: Chemistry, noise_sd: float, metal_level: float = 1.0) -> Ladder | None:
    """The ladder of chalcogen levels of an image (module text), or None where it is not shown.

    Parameters
    ----------
    readings : array_like
        Chalcogen-site readings (metal-column units; NaN ignored), one or more frames pooled.
    chemistry : Chemistry
        Needs exactly one chalcogen substituent among its dopants (an alloy's second chalcogen);
        otherwise None.
    noise_sd : float
        A first guess of one reading's noise (the normalised MAD of the readings).
    metal_level : float
        The pristine metal column's reading: the host column must lie where the HAADF exponents of
        :data:`helpers.core.chemistry.HAADF_EXPONENT_RANGE` put it.

    Returns
    -------
    Ladder or None
    """
    subs = [d for d in chemistry.dopants if d in CHALCOGENS]
    x = np.asarray(readings, float)
    x = x[np.isfinite(x)]
    if len(subs) != 1 or len(x) < LADDER_MIN_SITES or not noise_sd > 0:
        return None
    zr = Z[subs[0]] / Z[chemistry.chalcogen]
    lo, hi = float(x.min()), float(x.max())
    lo_n, hi_n = LADDER_EXPONENT_RANGE
    # (3 % wider: stacked heavy chalcogens read brighter than two atoms, multislice WSe2 by 1 %;
    # 10 % let a WSe2 sheet 60 % SSe read as Se2-rich WSe2 of n 1.1)
    host_lo, host_hi = sorted(metal_level * chemistry.expected_ratio(v) for v in HAADF_EXPONENT_RANGE)
    host_lo, host_hi = 0.97 * host_lo, 1.03 * host_hi

    def exponent(host, step):
        ok = host > 0 and step != 0 and 1 + 2 * step / host > 0  # a lighter substituent: a step down
        return float(np.log(1 + 2 * step / host) / np.log(zr)) if ok else np.nan

    # the host column and the step kept physical; started where the exponents put the host and at
    # low quantiles of the readings
    factor = tuple(sorted(((zr ** lo_n - 1) / 2, (zr ** hi_n - 1) / 2)))
    starts = [metal_level * chemistry.expected_ratio(v) for v in (1.3, 1.7, 2.1)]
    starts += [float(np.clip(np.percentile(x, q), host_lo, host_hi)) for q in (10, 25)]
    # (the normalised MAD of a mixture is wider than its rungs: the start no wider than a quarter host)
    data = _binned(x)
    fits = [_em(data, h0, h0 / 2 * (zr ** n0 - 1), min(noise_sd, h0 / 4), _RUNGS, lo, hi, (host_lo, host_hi),
                factor) for h0 in starts for n0 in (1.3, 1.7, 2.1)]

    def score(fit):  # one extra mode may be one substituent at step Δ or two at Δ/2: the step's n
        # should agree with the n of the host column's ratio (multislice: within ~0.3)
        n_host = np.clip(chemistry.exponent_from_ratio(fit[0] / metal_level), *HAADF_EXPONENT_RANGE)
        s = fit[-1] - 0.5 * ((exponent(fit[0], fit[1]) - n_host) / LADDER_EXPONENT_SD) ** 2
        return s if np.isfinite(s) else -np.inf

    def shown(fit):  # a ladder has host columns and substituted ones, a step above the noise
        return (abs(fit[1]) >= LADDER_MIN_STEP_SD * fit[2]
                and min(float(fit[3][3] + fit[3][4]), float(fit[3][2])) >= LADDER_MIN_SHARE)

    # (chosen among the fits that show a ladder: two populated rungs read as one substituted and
    # both substituted, no host, fit as well as host and one substituted where the lighter
    # substituent's step is a little off its exponent — a WSe2 sheet 60 % SSe at n = 2.0)
    fits = [f for f in fits if shown(f)]
    if not fits:
        return None
    host, step, sd, w, ll = max(fits, key=score)
    # the host column with its vacancies alone, the host as physical
    null = _em(data, float(np.clip(np.median(x), host_lo, host_hi)), 0.0, noise_sd, _RUNGS[:3], lo, hi,
               (host_lo, host_hi))
    gain = ll - null[-1]
    n = exponent(host, step)
    if gain < 1.5 * np.log(len(x)) + LADDER_MIN_GAIN:
        return None
    shares = {k: float(v) for k, v in zip(_NAMES + ("other",), w)}
    return Ladder(host, step, sd, shares, subs[0], n, float(gain))


def ladder_prior(ladder: Ladder, names, chemistry: Chemistry, floor: float = 1e-3) -> np.ndarray:
    """The first-frame prior of the chalcogen contents ``names`` (pristine first) from the ladder's
    shares: the host, the vacancies and the substituted columns as measured, every other content
    (antisites) ``floor``; sums to 1.

    Parameters
    ----------
    ladder : Ladder
    names : sequence of str
        Chalcogen content names, as in ``class_contents``.
    chemistry : Chemistry

    Returns
    -------
    ndarray
    """
    atoms = chemistry.site_contents()["chalcogen"]
    X, D = chemistry.chalcogen, ladder.substituent
    by_atoms = {(X, X): "host", (): "empty", (X,): "one_gone", (D, X): "one_substituted",
                (X, D): "one_substituted", (D, D): "both_substituted"}
    w = np.array([max(ladder.shares.get(by_atoms.get(tuple(atoms[nm]), ""), 0.0), floor) for nm in names])
    return w / w.sum()


def apply_ladder(rel, spread, levels: dict, kinds, use, chemistry: Chemistry, frames=None) -> tuple:
    """Fit the ladder (:func:`fit_ladder`) on the chalcogen readings ``rel`` of the rows ``use`` and,
    where it is shown, put its host level into ``levels`` (in place), scale the chalcogen rows of
    ``spread`` (a MAD about the median, widened by the rungs) to its noise and, in a movie, shift
    each frame's chalcogen readings so that its own host rung (the step and noise held) sits at the
    movie's: as a sheet converts, its host columns read a little lower in every frame (the brighter
    neighbours' tails in their fit's background: 0.148 → 0.122 of a W column over a rendered
    WS2 → WSSe movie), which pooled frames would read as the half-empty rung.

    Parameters
    ----------
    rel, spread : ndarray (n,)
        Readings and their per-row noise (metal-column units).
    levels : dict
        Sublattice → pristine level; the chalcogen's is replaced.
    kinds, use : ndarray (n,)
        Sublattice of each row; rows to fit on.
    chemistry : Chemistry
    frames : ndarray (n,), optional
        Frame of each row (a movie).

    Returns
    -------
    ladder : Ladder or None
    spread, rel : ndarray (n,)
    """
    chal = np.asarray(kinds) == CHALCOGEN
    sel = chal & np.asarray(use, bool)
    if not sel.any() or METAL not in levels:
        return None, spread, rel
    sd0 = float(np.median(spread[sel]))
    ladder = fit_ladder(rel[sel], chemistry, sd0, levels[METAL])
    if ladder is None:
        return None, spread, rel
    levels[CHALCOGEN] = ladder.host
    rel = np.array(rel, float)
    if frames is not None and len(np.unique(frames)) > 1:
        lo, hi = float(np.nanmin(rel[sel])), float(np.nanmax(rel[sel]))
        for t in np.unique(frames):
            rows = sel & (frames == t)
            if rows.sum() >= LADDER_MIN_SITES:
                host_t = _em(_binned(rel[rows]), ladder.host, ladder.step, ladder.sd, _RUNGS, lo, hi,
                             (0.5 * ladder.host, 1.5 * ladder.host), host_only=True)[0]
                rel[chal & (frames == t)] += ladder.host - host_t
    return ladder, np.where(chal, spread * (ladder.sd / sd0), spread), rel


def class_separations(reading) -> pd.DataFrame:
    """What one frame of this reading can show, per content: how far its reading lies from that of
    its sublattice's pristine content (the content difference times the reading's gain, as the
    decoder places its levels) in units of the one-frame reading noise measured on the data
    (d′), and the chance that one frame's reading of such a site lies nearer its own content than
    any other of its sublattice (Gaussian noise, equal priors). A content with d′ below ~3 cannot be
    found in a single frame of a thousand sites without false calls; the movie's posterior over a
    site's frames finds it when the defect stays long enough.

    Parameters
    ----------
    reading : helpers.detect.sites.SiteReading

    Returns
    -------
    DataFrame
        Index: content name; columns ``sublattice``, ``content`` (metal units), ``d_prime``,
        ``nearest_level_accuracy``.
    """
    from scipy.stats import norm

    rows = {}
    for kind, content_levels in reading.contents.items():
        sd = float(reading.noise[kind])
        # a content change reads gain times its size (the decoder's levels): the separations a
        # reading shows are those of the read levels, in the units of the measured noise
        pristine = content_levels[reading.chemistry.pristine(kind)]
        levels = {n: pristine + reading.gain * (v - pristine) for n, v in content_levels.items()}
        for name, v in levels.items():
            below = [v - w for w in levels.values() if w < v]
            above = [w - v for w in levels.values() if w > v]
            acc = 1.0 - (norm.sf(min(below) / (2 * sd)) if below else 0.0) - (norm.sf(min(above) / (2 * sd)) if above else 0.0)
            rows[name] = {"sublattice": kind, "content": float(content_levels[name]),
                          "d_prime": float(abs(v - pristine) / sd),
                          "nearest_level_accuracy": float(acc)}
    return pd.DataFrame.from_dict(rows, orient="index")
