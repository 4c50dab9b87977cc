"""Hop rates from every site read: pairs of neighbouring sites through the movie (notebook 07).

Counting hops on tracks needs each defect found at both sites of a hop and linked across them. A
defect that reads weakly in one frame (a single chalcogen vacancy: its reading moves by about one
noise width) is found only after several frames at its new site, so most of its hops break its
track and are never counted. Here the readings themselves are used, found or not:

1. Every pair of neighbouring sites of a sublattice (one lattice step apart) of which one site
   ever read as a defect (:func:`helpers.detect.sites.read_sites`) is followed through the movie
   by a hidden Markov model of the two sites' contents together (K² states for K contents). Each
   site changes its content as one site does (:func:`helpers.detect.site_model.transition_matrix`,
   refitted to the movie as :func:`helpers.detect.site_model.fit_transitions` does), and a defect of
   content k hops to one of its six neighbours at the rate ``hop[k]`` — to the partner (a sixth of
   the hops) when the partner is pristine, which moves it; to another neighbour, which takes it out
   of the pair.
2. Each reading is explained by the content of its site (Gaussian, the noise line of the reading,
   :func:`helpers.detect.site_noise.reading_noise`). A hop shows as one site's reading falling and
   its neighbour's rising in the same frame: the model weighs it against a departure and an
   unrelated arrival, and against a change of content, whether or not either side was found, and
   it does not need the class read right in every frame (a ``W2s2`` read as ``Ws`` before its hop
   still counts where the frames together say ``W2s2``).
3. The hop rates and the content changes are fitted by expectation–maximisation (forward–backward
   of all pairs, in chunks): the hop rate of a content is its expected number of hops over its
   exposure — frames a defect spends on a site, times the share of its six neighbours that are read
   (a hop beyond the frame's margin cannot be seen) — hops per frame as
   :func:`helpers.kinetics.rates.hop_rates` counts them on tracks. A movie longer than about 1.5
   windows (:data:`WINDOW_FRAMES`) is fitted window by window, each window with the pairs that
   read a defect in it, the sums pooled over windows.

Rates per frame; sites by their lattice indices.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from helpers.core.chemistry import CHALCOGEN, METAL
from helpers.detect.site_crosstalk import neighbour_offsets
from helpers.detect.site_model import (
    APPEAR_PER_FRAME,
    CHANGE_PER_FRAME,
    LEAVE_PER_FRAME,
    MASKED,
    PRIOR_DEFECT,
    first_frame_prior,
    fit_transitions,
    transition_matrix,
)
from helpers.detect.site_noise import log_emission, reading_noise, reading_sd
from helpers.detect.sites import SiteReading

#: largest array of the forward–backward pass (values, float64): pairs are taken in chunks below it (small
#: chunks stay in the processor cache: 1e6 ran twice as fast as one chunk on the standard movie)
CHUNK_VALUES = 1e6
#: start of the fit and prior: hops per frame of a defect on a site
HOP_START = 0.02
#: expectation–maximisation steps
EM_STEPS = 8
#: frames per window: a longer movie is fitted in windows of about this length (each window's pairs
#: those with a defect read in that window), so that the cost grows with the movie's length, not with
#: its length times the pairs of the whole movie (on a long beam-driven movie almost every site
#: reads as a defect some time: a 1,000-frame movie of 1024² ran for more than 20 minutes in one piece)
WINDOW_FRAMES = 150
#: pseudo-frames of the rate prior (HOP_START and LEAVE_PER_FRAME), so that a class seen for a few
#: frames keeps a finite rate
RATE_PRIOR_FRAMES = 5.0


def _sublattice_readings(reading: SiteReading, kind: str):
    """Per site of sublattice ``kind``: (i, j) and its readings and decoded classes through the movie
    (n_sites, n_frames), in the reading units of the decoding (NaN, class '' where not read or
    masked; the main grain only)."""
    s = reading.sites
    sel = s["kind"].to_numpy() == kind
    if "grain" in s:  # a second grain read with its own lattice has its own indices: left out
        sel &= s["grain"].to_numpy() == 0
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


def _pair_matrix(S: np.ndarray, hop: np.ndarray, n_neighbours: int) -> np.ndarray:
    """K² × K² transitions of a pair of neighbouring sites (state a·K + b: the first site holds content
    a, the second b). ``S`` (K × K): one site's content changes per frame (row 0 the pristine
    content); ``hop`` (K,): per-frame probability that a defect of each content hops to one of its
    ``n_neighbours`` neighbours. A hop to the partner moves the defect when the partner is
    pristine (blocked otherwise: the site keeps it); a hop to another neighbour leaves the pair."""
    K = len(S)
    share = (n_neighbours - 1) / n_neighbours
    free, blocked = S.copy(), S.copy()
    for k in range(1, K):
        free[k, k] -= hop[k]
        free[k, 0] += hop[k] * share  # sums to 1 − hop/n: the rest is the hop to the partner
        blocked[k, k] -= hop[k] * share
        blocked[k, 0] += hop[k] * share
    M = np.zeros((K * K, K * K))
    for a in range(K):
        for b in range(K):
            ra = free[a] if b == 0 else blocked[a]
            rb = free[b] if a == 0 else blocked[b]
            M[a * K + b] = np.outer(ra, rb).ravel()
    for k in range(1, K):
        M[k * K, k] += hop[k] / n_neighbours  # (k, pristine) → (pristine, k)
        M[k, k * K] += hop[k] / n_neighbours
    return M


def _pair_emissions(loglik: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Per frame and pair, the likelihood of each joint state (T, P, K²; frame first, so that one
    frame is contiguous), scaled by its largest; ``loglik`` (n, T, K): per site, frame and content,
    log p(reading | content)."""
    n, T, K = loglik.shape
    lt = np.ascontiguousarray(loglik.transpose(1, 0, 2))  # (T, n, K)
    logE = (lt[:, pairs[:, 0], :, None] + lt[:, pairs[:, 1], None, :]).reshape(T, len(pairs), K * K)
    logE -= logE.max(-1, keepdims=True)
    return np.exp(logE, out=logE)


def _pair_expectations(E: np.ndarray, observed: np.ndarray, pairs: np.ndarray, member: np.ndarray,
                       S: np.ndarray, hop: np.ndarray, first: np.ndarray, n_neighbours: int):
    """Forward–backward of every pair at once. ``E`` (T, P, K²): :func:`_pair_emissions`;
    ``observed`` (n, T): the site was read; ``member`` (n,): each site's number of pairs (of all
    chunks). A frame pair counts where the
    site (for a hop or the exposure to one: both sites) was read in both frames.

    Returns per content: expected hops, exposure (frames on a site times the share of its
    neighbours read, over ``n_neighbours``), and the expected content changes of one site (K × K,
    each site's pairs averaged; hops taken out)."""
    T, P, KK = E.shape
    K = len(S)
    M = _pair_matrix(S, hop, n_neighbours)
    alpha = np.empty((T, P, KK))
    c = np.empty((T, P))
    a = np.outer(first, first).ravel()[None] * E[0]
    c[0] = a.sum(1)
    alpha[0] = a / c[0, :, None]
    for t in range(1, T):
        a = (alpha[t - 1] @ M) * E[t]
        c[t] = a.sum(1)
        alpha[t] = a / c[t, :, None]
    nxt = np.empty((T - 1, P, KK))  # emission × backward message of the next frame, over its scale
    b = np.ones((P, KK))
    for t in range(T - 2, -1, -1):
        nxt[t] = E[t + 1] * b / c[t + 1, :, None]
        b = nxt[t] @ M.T
    ok = (observed[:, :-1] & observed[:, 1:]).T  # (T − 1, n)
    oa, ob = ok[:, pairs[:, 0]].astype(float), ok[:, pairs[:, 1]].astype(float)

    def xi(w):  # expected transitions (K², K²), summed over frame pairs and pairs weighted by w (T−1, P)
        return np.einsum("tp,tpi,tpj->ij", w, alpha[:-1], nxt, optimize=True) * M

    both = xi(oa * ob).reshape(K, K, K, K)  # (a, b, a', b')
    hop_share = np.array([0.0] + [(hop[k] / n_neighbours) / M[k * K, k] for k in range(1, K)])
    hops = np.array([0.0] + [both[k, 0, 0, k] + both[0, k, k, 0] for k in range(1, K)]) * hop_share
    occupancy = both.sum((2, 3))  # (a, b) at the first frame of a pair
    exposure = (occupancy.sum(1) + occupancy.sum(0)) / n_neighbours
    # one site's content changes: each member's side, weighted by 1 / (its number of pairs)
    changes = (xi(oa / member[pairs[:, 0]]).reshape(K, K, K, K).sum((1, 3))
               + xi(ob / member[pairs[:, 1]]).reshape(K, K, K, K).sum((0, 2)))
    # every hop is a departure of one site and an arrival on another, not a content change
    changes[1:, 0] -= hops[1:]
    changes[0, 1:] -= hops[1:]
    return hops, exposure, changes


def hop_rates_from_sites(reading: SiteReading, classes=None, em_steps: int = EM_STEPS,
                         progress: bool = False, window_frames: int | None = None) -> pd.DataFrame:
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
    progress : bool
        Show a progress bar per sublattice (minutes on a long, dense movie).
    window_frames : int, optional
        Frames per window (:data:`WINDOW_FRAMES` when None); a movie up to about 1.5 windows is
        fitted in one piece.

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
    window_frames = WINDOW_FRAMES if window_frames is None else int(window_frames)
    if window_frames < 2:
        raise ValueError(f"window_frames must be at least 2 frames, got {window_frames}")
    contents = reading.contents
    chem = reading.chemistry
    metal_c, chal_c = contents[METAL][chem.pristine(METAL)], contents[CHALCOGEN][chem.pristine(CHALCOGEN)]
    floor, slope = reading_noise(metal_c, chal_c, reading.noise[METAL], reading.noise[CHALCOGEN])
    offsets = neighbour_offsets(reading.lattice)
    rows = {}
    for kind in (METAL, CHALCOGEN):
        names = list(contents[kind])
        K = len(names)
        wanted = [c for c in names[1:] if classes is None or c in classes]
        if not wanted:
            continue
        cp = contents[kind][names[0]]
        means = np.array([cp + reading.gain * (contents[kind][k] - cp) for k in names])
        ij, x, cls = _sublattice_readings(reading, kind)
        observed = np.isfinite(x)
        loglik = np.where(observed[:, :, None],
                          log_emission(x, means, reading_sd(means, floor, slope)).reshape(x.shape + (K,)), 0.0)
        n_nb = len(offsets[(kind, "same")])
        is_defect = np.isin(cls, names[1:])
        # windows of the movie, each with its pairs in chunks of at most CHUNK_VALUES values per array
        # (a long movie's pairs do not fit at once); the emissions are kept between steps where one
        # chunk holds them all
        T = x.shape[1]
        edges = np.linspace(0, T, max(1, int(round(T / window_frames))) + 1).astype(int)
        chunks, all_pairs = [], []
        for a, b in zip(edges[:-1], edges[1:]):
            pairs = _neighbour_pairs(ij, is_defect[:, a:b].any(1), offsets[(kind, "same")])
            member = np.bincount(pairs.ravel(), minlength=len(ij)).astype(float)  # pairs per site
            size = max(1, int(CHUNK_VALUES // ((b - a) * K * K)))
            chunks += [(a, b, pairs[c:c + size], member) for c in range(0, len(pairs), size)]
            all_pairs.append(pairs)
        pairs = np.unique(np.concatenate(all_pairs), axis=0)
        first = first_frame_prior(K, PRIOR_DEFECT)
        prior = transition_matrix(K, APPEAR_PER_FRAME, LEAVE_PER_FRAME, CHANGE_PER_FRAME)
        S, hop = prior, np.r_[0.0, np.full(K - 1, HOP_START)]
        hops, exposure, changes = np.zeros(K), np.zeros(K), np.zeros((K, K))
        cached = [_pair_emissions(loglik[:, a:b], part) for a, b, part, _ in chunks] if len(chunks) == 1 else None
        n_steps = max(em_steps, 1) if len(pairs) else 0
        bar = tqdm(total=n_steps * len(chunks), desc=f"hop rates ({kind})", disable=not progress, leave=False)
        for _ in range(n_steps):
            hops, exposure, changes = np.zeros(K), np.zeros(K), np.zeros((K, K))
            for q, (a, b, part, member) in enumerate(chunks):
                bar.update()
                E = cached[q] if cached else _pair_emissions(loglik[:, a:b], part)
                out = _pair_expectations(E, observed[:, a:b], part, member, S, hop, first, n_nb)
                hops, exposure, changes = hops + out[0], exposure + out[1], changes + out[2]
            changes = np.maximum(changes, 0.0)
            hop = (hops + RATE_PRIOR_FRAMES * HOP_START) / (exposure + RATE_PRIOR_FRAMES)
            S = fit_transitions(changes, prior)
            # a content that flickers (few frames per stay) cannot hop more often than it stays
            hop = np.minimum(hop, 0.5 * np.diag(S))
            hop[0] = 0.0
        bar.close()
        for k, c in enumerate(names):
            if c not in wanted:
                continue
            frames = changes[k, k] + hops[k]  # a hop keeps the defect on the lattice
            rows[c] = {"hops": hops[k], "frames": frames, "exposure": exposure[k],
                       "hop rate": hops[k] / exposure[k] if exposure[k] > 0 else np.nan,
                       "leave rate": float(S[k, 0]), "pairs": len(pairs),
                       "sites": int(len(np.unique(pairs))) if len(pairs) else 0}
    return pd.DataFrame.from_dict(rows, orient="index")


def pooled_hop_rates(fits) -> pd.DataFrame:
    """Hop rates pooled over movies: the hops and exposures of several :func:`hop_rates_from_sites`
    tables summed per class (a rate from one movie with a dozen hops is known to ≈ 30 %).

    Parameters
    ----------
    fits : list of DataFrame
        :func:`hop_rates_from_sites` of each movie.

    Returns
    -------
    DataFrame
        Per class: ``hops``, ``exposure`` and ``hop rate`` (NaN without exposure).
    """
    if not fits:
        raise ValueError("no movies to pool")
    hops = sum(f["hops"] for f in fits)
    exposure = sum(f["exposure"] for f in fits)
    return pd.DataFrame({"hops": hops, "exposure": exposure, "hop rate": hops / exposure.where(exposure > 0)})
