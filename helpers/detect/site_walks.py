"""A weak defect followed as it walks over its sublattice (movies).

A single S vacancy changes its column by about 1.5 noise widths per frame at 10⁴ e/Å² — the
counting bound of one frame — and under the beam it hops to a neighbouring site every few tens of
frames, so one vacancy walks through stays of a handful of frames each. Each site's own history
(:func:`helpers.detect.site_model.site_posteriors`) cannot show a short stay; the walk as a whole
can. Here every site is the centre of a small hidden Markov model whose states are *no walker*
or *one walker on one of the seven sites* of the centre's ring (itself and its six neighbours of
the same sublattice): a walker appears on a site, stays, hops to a neighbour or leaves (heals,
changes into another content, or hops out of the ring). Forward–backward over the ring's
readings gives the probability that the walker sits on the centre in each frame. One walker per
ring is the model's exclusion: a vacancy that stays on a neighbour explains that neighbour's
readings and cannot also be on the centre (a product of independent per-site filters would count
the same vacancy on every site around it).
"""
from __future__ import annotations

import numpy as np

#: seven sites per ring: the centre and its six neighbours of the same sublattice
RING = 7


def ring_sites(i, j, offsets) -> np.ndarray:
    """Per site, the row numbers of its six neighbours of the same sublattice (−1 where not read).

    Parameters
    ----------
    i, j : ndarray (n,)
        Lattice indices of the sites (one row per site).
    offsets : ndarray (6, 2)
        Index offsets of the six neighbours (:func:`helpers.detect.site_crosstalk.neighbour_offsets`).

    Returns
    -------
    ndarray (n, 6) int
    """
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    off = np.int64(1 << 20)
    keys = ((i + off) << 21) | (j + off)
    order = np.argsort(keys)
    sk = keys[order]
    out = np.full((len(i), len(offsets)), -1, np.int64)
    for m, (di, dj) in enumerate(np.asarray(offsets, np.int64)):
        q = ((i + di + off) << 21) | (j + dj + off)
        pos = np.clip(np.searchsorted(sk, q), 0, len(sk) - 1)
        hit = sk[pos] == q
        out[hit, m] = order[pos[hit]]
    return out


def _ring_adjacency(offsets) -> np.ndarray:
    """(7, 7) bool: which sites of a ring (0 the centre, 1–6 the neighbours) are neighbours."""
    offs = np.asarray(offsets, np.int64)
    adj = np.zeros((RING, RING), bool)
    adj[0, 1:] = adj[1:, 0] = True
    for a in range(6):
        for c in range(6):
            adj[a + 1, c + 1] = any(((offs[a] - offs[c]) == o).all() for o in offs)
    return adj


def walk_transitions(offsets, appear: float, leave: float, hop: float) -> np.ndarray:
    """(8, 8) transition matrix of a ring: state 0 no walker, 1–7 the walker on a ring site.

    Parameters
    ----------
    offsets : ndarray (6, 2)
    appear : float
        Probability per frame that a walker appears on a given site.
    leave : float
        Probability per frame that it heals or changes into another content.
    hop : float
        Probability per frame that it hops to one of its six neighbours (each ``hop / 6``; a hop
        out of the ring counts as leaving it).

    Returns
    -------
    ndarray (8, 8)
    """
    if not (0 <= appear * RING < 1 and 0 <= leave and 0 <= hop and leave + hop < 1):
        raise ValueError(f"walk rates out of range: appear {appear}, leave {leave}, hop {hop}")
    adj = _ring_adjacency(offsets)
    T = np.zeros((RING + 1, RING + 1))
    T[0, 1:] = appear
    T[0, 0] = 1 - RING * appear
    for a in range(RING):
        T[a + 1, 1:] = np.where(adj[a], hop / 6, 0.0)
        T[a + 1, a + 1] = 1 - leave - hop
        T[a + 1, 0] = leave + hop * (6 - adj[a].sum()) / 6
    return T


def walker_on_centre(log_lr: np.ndarray, ring: np.ndarray, transitions: np.ndarray,
                     first_per_site: float | None = None) -> np.ndarray:
    """Probability that a walker sits on each site in each frame, from its ring's readings.

    Parameters
    ----------
    log_lr : ndarray (n, T)
        Per site and frame, log of the reading's likelihood with the walker's content over that
        with the pristine content (0 where the site was not read; very negative where the site
        holds another defect and so no walker).
    ring : ndarray (n, 6)
        :func:`ring_sites`.
    transitions : ndarray (8, 8)
        :func:`walk_transitions`.
    first_per_site : float, optional
        Probability that a walker sits on a given site in the first frame (each of the seven); the
        rings' steady state from no walker when None.

    Returns
    -------
    ndarray (n, T)
    """
    lr = np.asarray(log_lr, float)
    n, T = lr.shape
    members = np.concatenate([np.arange(n)[:, None], np.asarray(ring)], 1)  # (n, 7)
    ok = members >= 0
    trans = np.asarray(transitions, float)
    if first_per_site is None:
        start = np.linalg.matrix_power(trans.T, 500)[:, 0]  # the rings' steady state from no walker
    else:
        if not 0 <= first_per_site * RING < 1:
            raise ValueError(f"first-frame walker probability per site out of range: {first_per_site}")
        start = np.r_[1 - RING * first_per_site, np.full(RING, first_per_site)]

    def emissions(t):  # relative to all-pristine; scaled by the ring's largest so nothing overflows
        e = np.zeros((n, RING + 1))
        x = np.where(ok, lr[np.clip(members, 0, None), t], -np.inf)
        top = np.maximum(x.max(1), 0.0)
        e[:, 0] = np.exp(-top)
        e[:, 1:] = np.exp(x - top[:, None])
        return e

    fwd = np.empty((n, T, RING + 1), np.float32)  # a long movie's rings: half the memory
    a = start[None] * emissions(0)
    fwd[:, 0] = a / a.sum(1, keepdims=True)
    for t in range(1, T):
        a = (fwd[:, t - 1] @ trans) * emissions(t)
        fwd[:, t] = a / a.sum(1, keepdims=True)
    b = np.ones((n, RING + 1))
    out = np.empty((n, T))
    post = fwd[:, T - 1]
    out[:, T - 1] = post[:, 1] / post.sum(1)
    for t in range(T - 2, -1, -1):
        b = (emissions(t + 1) * b) @ trans.T
        b /= b.sum(1, keepdims=True)
        post = fwd[:, t] * b
        out[:, t] = post[:, 1] / post.sum(1)
    return out
