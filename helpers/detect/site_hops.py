"""Hop rates from every site read: pairs of neighbouring sites through the movie (notebook 07).

Counting hops on tracks needs each defect found at both sites of a hop and linked across them. A
defect that reads weakly in one frame (a single chalcogen vacancy: its reading moves by about one
noise width) is found only after several frames at its new site, so most of its hops break its
track and are never counted. Here the readings themselves are used, found or not:

1. For a class ``c``, every pair of neighbouring sites of its sublattice (one lattice step apart)
   of which one site ever read as ``c`` (the decoded class of :func:`helpers.detect.sites.read_sites`)
   is followed through the movie by a hidden Markov model of four states: neither, the first, the
   second or both sites hold a defect of class ``c``. Each site gains one at
   :data:`helpers.detect.site_model.APPEAR_PER_FRAME` and loses it at the rate ``leave`` (healed, or
   turned into another content) or by a hop to one of its other neighbours; a hop from one site to
   the other moves it at ``hop`` / 6 (a sixth of the hops go to each neighbour).
2. A site's reading is explained by the content of ``c`` where it holds the defect, by the content
   the site decoding gave it (pristine, or another defect) where not. A hop shows as one site's
   reading falling and its neighbour's rising in the same frame: the pair model weighs that
   against a departure and an unrelated arrival, whether or not either side was found.
3. ``hop`` and ``leave`` are fitted by expectation–maximisation (forward–backward of all pairs at
   once): the hop rate is the expected number of hops over the exposure — frames a defect spends on
   a site, times the share of its six neighbours that are read (a hop beyond the frame's margin
   cannot be seen) — hops per frame as :func:`helpers.kinetics.rates.hop_rates` counts them on tracks.

A wrong decoded class (``Ws`` read where the truth is ``W2s2``) stays wrong here: its hops count
for the class it was read as. Lengths in Å, rates per frame.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.core.chemistry import CHALCOGEN, METAL
from helpers.detect.site_decode import neighbour_offsets
from helpers.detect.site_model import (
    APPEAR_PER_FRAME,
    LEAVE_PER_FRAME,
    MASKED,
    PRIOR_DEFECT,
    reading_noise,
    reading_sd,
)
from helpers.detect.sites import SiteReading

#: start of the fit and prior: hops per frame of a defect on a site
HOP_START = 0.02
#: expectation–maximisation steps
EM_STEPS = 15
#: pseudo-frames of the rate prior (HOP_START and LEAVE_PER_FRAME), so that a class seen for a few
#: frames keeps a finite rate
RATE_PRIOR_FRAMES = 5.0
#: a log-likelihood ratio per reading is clipped to ±this (one outlier cannot decide a frame alone)
MAX_LOG_RATIO = 25.0


def _sublattice_readings(reading: SiteReading, kind: str):
    """Per site of sublattice ``kind``: (i, j) and its readings and decoded classes through the movie
    (n_sites, n_frames), in the reading units of the decoding (NaN, class '' where not read or
    masked)."""
    s = reading.sites
    sel = s["kind"].to_numpy() == kind
    f = s["frame"].to_numpy()[sel]
    ij = np.stack([s["i"].to_numpy()[sel], s["j"].to_numpy()[sel]], 1).astype(np.int64)
    uniq, inv = np.unique(ij, axis=0, return_inverse=True)
    inv = inv.ravel()
    T = int(s["frame"].max()) + 1
    cp = reading.contents[kind][reading.chemistry.pristine(kind)]
    rel = cp + reading.gain * (s["content"].to_numpy(float)[sel] - cp)
    cls = s["class"].to_numpy()[sel].astype(object)
    x = np.full((len(uniq), T), np.nan)
    c = np.full((len(uniq), T), "", object)
    read = cls != MASKED
    x[inv[read], f[read]] = rel[read]
    c[inv[read], f[read]] = cls[read]
    return uniq, x, c


def _log_gauss(x, mu, floor: float, slope: float):
    """log N(x; mu, sd) up to a constant, sd from the noise line of the reading."""
    sd = reading_sd(mu, floor, slope)
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd)


def _neighbour_pairs(ij: np.ndarray, candidate: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Unordered pairs (p < q, indices into ``ij``) of neighbouring sites (lattice offsets
    ``offsets``) of which at least one is a candidate."""
    code = {tuple(p): k for k, p in enumerate(ij)}
    pairs = set()
    for k in np.flatnonzero(candidate):
        for d in offsets:
            n = code.get((ij[k, 0] + d[0], ij[k, 1] + d[1]))
            if n is not None:
                pairs.add((min(k, n), max(k, n)))
    return np.array(sorted(pairs), np.int64).reshape(-1, 2)


def _pair_transitions(hop: float, leave: float, appear: float, n_neighbours: int) -> np.ndarray:
    """4 × 4 transitions of a pair of neighbouring sites, states (neither, first, second, both
    hold the defect): each site independently gains it at ``appear`` and loses it at ``leave`` plus
    its hops to its other neighbours; from one site to the other at ``hop`` / ``n_neighbours``."""
    to_partner = hop / n_neighbours
    out = leave + hop - to_partner  # lost to the pair: left, or hopped to another neighbour
    stay = 1 - leave - hop
    M = np.zeros((4, 4))
    M[0] = [(1 - appear) ** 2, appear * (1 - appear), (1 - appear) * appear, appear ** 2]
    M[1] = [out * (1 - appear), stay * (1 - appear), to_partner + out * appear, stay * appear]
    M[2] = [out * (1 - appear), to_partner + out * appear, stay * (1 - appear), stay * appear]
    q = out + to_partner  # both occupied: a hop to the partner is blocked, the site keeps it
    M[3] = [q * q, (1 - q) * q, q * (1 - q), (1 - q) ** 2]
    return M


def _pair_counts(log_ratio: np.ndarray, observed: np.ndarray, pairs: np.ndarray, hop: float, leave: float,
                 appear: float, first: float, n_neighbours: int):
    """Forward–backward of every pair at once. ``log_ratio`` (n, T): per site and frame, log p(reading |
    the defect) − log p(reading | the content the site was decoded as); ``observed`` (n, T): the site
    was read. Frame pairs count where the site (for a hop or the exposure to one: both sites) was
    read in both frames. Returns expected (hops, frames the defect stays on the lattice, frames
    it leaves it, exposure: frames with a defect times the share of neighbours read)."""
    n, T = log_ratio.shape
    M = _pair_transitions(hop, leave, appear, n_neighbours)
    lr = np.clip(log_ratio, -MAX_LOG_RATIO, MAX_LOG_RATIO)
    la, lb = lr[pairs[:, 0]], lr[pairs[:, 1]]  # (P, T)
    logE = np.stack([np.zeros_like(la), la, lb, la + lb], -1)  # (P, T, 4)
    E = np.exp(logE - logE.max(-1, keepdims=True))
    P = len(pairs)
    alpha = np.empty((P, T, 4))
    c = np.empty((P, T))
    a = np.array([(1 - first) ** 2, first * (1 - first), (1 - first) * first, first ** 2])[None] * E[:, 0]
    c[:, 0] = a.sum(1)
    alpha[:, 0] = a / c[:, :1]
    for t in range(1, T):
        a = (alpha[:, t - 1] @ M) * E[:, t]
        c[:, t] = a.sum(1)
        alpha[:, t] = a / c[:, t, None]
    beta = np.empty((P, T, 4))
    beta[:, -1] = 1.0
    for t in range(T - 2, -1, -1):
        beta[:, t] = ((E[:, t + 1] * beta[:, t + 1]) @ M.T) / c[:, t + 1, None]
    nxt = E[:, 1:] * beta[:, 1:] / c[:, 1:, None]
    ok = observed[:, :-1] & observed[:, 1:]
    oa, ob = ok[pairs[:, 0]].astype(float), ok[pairs[:, 1]].astype(float)

    def xi(w):  # expected transitions (P, 4, 4), summed over the frame pairs weighted by w (P, T−1)
        return np.einsum("pt,pti,ptj->pij", w, alpha[:, :-1], nxt) * M[None]

    xa, xb, xab = xi(oa), xi(ob), xi(oa * ob)
    hop_share = (hop / n_neighbours) / M[1, 2] if M[1, 2] > 0 else 0.0
    hops = float(((xab[:, 1, 2] + xab[:, 2, 1]) * hop_share).sum())
    a_has, b_has = [1, 3], [2, 3]
    a_lost, b_lost = [0, 2], [0, 1]

    def moves(x, has, to):
        return x[:, has][:, :, to].sum((1, 2))

    keep = np.bincount(pairs[:, 0], moves(xa, a_has, a_has), n) + np.bincount(pairs[:, 1], moves(xb, b_has, b_has), n)
    lose = np.bincount(pairs[:, 0], moves(xa, a_has, a_lost), n) + np.bincount(pairs[:, 1], moves(xb, b_has, b_lost), n)
    member = np.bincount(pairs.ravel(), minlength=n)
    used = member > 0
    # exposure: per frame pair with a defect on a site, each read neighbour is a sixth of a chance to see a hop
    exposure = (moves(xab, a_has, [0, 1, 2, 3]) + moves(xab, b_has, [0, 1, 2, 3])).sum() / n_neighbours
    return hops, float((keep[used] / member[used]).sum()), float((lose[used] / member[used]).sum()), float(exposure)


def hop_rates_from_sites(reading: SiteReading, classes=None, em_steps: int = EM_STEPS) -> pd.DataFrame:
    """Per defect class of the reading: hops per frame, fitted on every site's readings (see the
    module docstring).

    Parameters
    ----------
    reading : SiteReading
        A movie read by :func:`helpers.detect.sites.read_sites`.
    classes : sequence of str, optional
        Classes to fit (every defect content of the reading's chemistry when None).
    em_steps : int
        Expectation–maximisation steps.

    Returns
    -------
    DataFrame
        Per class: ``hops`` and ``frames`` on the lattice (expected), ``exposure`` (frames times the
        share of neighbours read), ``hop rate`` (hops / exposure, per frame), ``leave rate`` (per
        frame), ``pairs`` and ``sites`` followed.
    """
    if reading.sites.empty:
        raise ValueError("the reading holds no sites")
    if reading.sites["frame"].max() < 1:
        raise ValueError("hop rates need a movie: the reading holds one frame")
    contents = reading.contents
    chem = reading.chemistry
    metal_c, chal_c = contents[METAL][chem.pristine(METAL)], contents[CHALCOGEN][chem.pristine(CHALCOGEN)]
    floor, slope = reading_noise(metal_c, chal_c, reading.noise[METAL], reading.noise[CHALCOGEN])
    offsets = neighbour_offsets(reading.lattice)
    rows = {}
    for kind in (METAL, CHALCOGEN):
        names = list(contents[kind])
        cp = contents[kind][names[0]]
        mean = {k: cp + reading.gain * (v - cp) for k, v in contents[kind].items()}
        wanted = [c for c in names[1:] if classes is None or c in classes]
        if not wanted:
            continue
        ij, x, cls = _sublattice_readings(reading, kind)
        first = PRIOR_DEFECT / (len(names) - 1)
        for c in wanted:
            # the alternative of every reading: the content its site was decoded as, pristine where
            # that is c itself
            alt = np.where((cls == c) | (cls == ""), names[0], cls)
            mu_alt = np.vectorize(mean.get, otypes=[float])(alt)
            lr = _log_gauss(x, mean[c], floor, slope) - _log_gauss(x, mu_alt, floor, slope)
            lr = np.where(np.isfinite(x), lr, 0.0)
            pairs = _neighbour_pairs(ij, (cls == c).any(1), offsets[(kind, "same")])
            hop, leave = HOP_START, LEAVE_PER_FRAME
            hops = frames = lose = exposure = 0.0
            for _ in range(max(em_steps, 1) if len(pairs) else 0):
                hops, keep, lose, exposure = _pair_counts(lr, np.isfinite(x), pairs, hop, leave, APPEAR_PER_FRAME,
                                                          first, len(offsets[(kind, "same")]))
                frames = keep + hops  # a hop keeps the defect on the lattice
                hop = (hops + RATE_PRIOR_FRAMES * HOP_START) / (exposure + RATE_PRIOR_FRAMES)
                leave = (lose - hops + RATE_PRIOR_FRAMES * LEAVE_PER_FRAME) / (frames + lose + RATE_PRIOR_FRAMES)
                leave = max(leave, 1e-6)
            rows[c] = {"hops": hops, "frames": frames, "exposure": exposure,
                       "hop rate": hops / exposure if exposure > 0 else np.nan,
                       "leave rate": leave, "pairs": len(pairs),
                       "sites": int(len(np.unique(pairs))) if len(pairs) else 0}
    return pd.DataFrame(rows).T
