"""How many frames of a walking single S vacancy could any decoder find? A bound from the walk itself.

One frame shows a single S vacancy (`Vs`) by d′ ≈ 1.4 noise widths at 10⁴ e/Å² — the counting
bound of that frame (``experiments/reading_crb.py``) — and the vacancy hops every ~17 frames, so
whatever is found beyond one frame's evidence comes from following it in time. Here the walk is
simulated *exactly as the decoders assume it*: on a periodic patch of ``--side``² sites of one
sublattice (six neighbours each) at most one walker; it appears on a random site, hops to one of
its six neighbours, leaves (heals or changes) at the generator's per-frame rates for `Vs`; every
site-frame is read with unit Gaussian noise, the walker's site ``d′`` lower. On these readings, all
with the *true* rates:

* ``exact``: forward–backward over every state of the patch (no walker, or the walker on any of its
  sites) — the Bayes posterior: no decoder of these readings does better at any false-alarm rate;
* ``ring``: the shipped walk model (:func:`helpers.detect.site_walks.walker_on_centre`, seven-site
  rings, the per-site first-frame prior);
* ``own site``: each site's own history alone (:func:`helpers.detect.site_model.site_posteriors`).

Recall is the share of the walker's frames whose site's posterior exceeds a threshold; the
threshold is set where false alarms (posterior above it on a site-frame without the walker) are
``--false-rate`` per site-frame, and also reported at ½. The real movies hold more than this model
(walkers that come from or turn into a visible `Vs2`, two walkers near each other), so the exact
decoder's recall is the bound for vacancies that arrive on and leave to the pristine lattice.

Usage::

    python experiments/vs_walk_bound.py [--d-primes 1.44 0.95 1.23 2.02] [--patches 400]

Writes ``results/experiments/vs_walk_bound.json`` and prints a table. About a minute on 2 cores.
"""
from __future__ import annotations

import argparse

import numpy as np

from helpers import config
from helpers.detect.site_model import site_posteriors, transition_matrix
from helpers.detect.site_walks import RING, walk_transitions, walker_on_centre
from helpers.io.records import write_record
from helpers.synthetic.params import MOVIE_CLASSES, KineticsParams

#: six neighbours of a triangular lattice in index space
OFFSETS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [1, -1], [-1, 1]])


def generator_rates() -> dict:
    """The standard movie's per-frame `Vs` rates: hop, leave (to `Vs2` or healed)."""
    k = KineticsParams()
    v = MOVIE_CLASSES.index("Vs")
    return {"hop": float(k.hop_prob[v]), "leave": float(1 - k.transitions[v][v] + k.death_prob[v])}


def patch(side: int) -> tuple[np.ndarray, np.ndarray]:
    """Periodic patch: (n, 6) neighbour rows and the (n + 1)² walk matrix's adjacency (n, n)."""
    i, j = np.divmod(np.arange(side * side), side)
    nb = np.stack([((i + di) % side) * side + (j + dj) % side for di, dj in OFFSETS], 1)
    adj = np.zeros((side * side, side * side))
    np.add.at(adj, (np.repeat(np.arange(side * side), 6), nb.ravel()), 1.0)
    return nb, adj


def exact_matrix(adj: np.ndarray, appear: float, leave: float, hop: float) -> np.ndarray:
    """(n + 1)² transitions: state 0 no walker, k the walker on site k − 1."""
    n = len(adj)
    T = np.zeros((n + 1, n + 1))
    T[0, 0], T[0, 1:] = 1 - n * appear, appear
    T[1:, 0] = leave
    T[1:, 1:] = hop / 6 * adj + np.eye(n) * (1 - leave - hop)
    return T


def simulate(rng, T: np.ndarray, start: np.ndarray, frames: int) -> np.ndarray:
    """A state sequence of the exact chain."""
    s = np.empty(frames, int)
    s[0] = rng.choice(len(start), p=start)
    cum = np.cumsum(T, 1)
    for t in range(1, frames):
        s[t] = min(np.searchsorted(cum[s[t - 1]], rng.random()), len(start) - 1)
    return s


def exact_posterior(llr: np.ndarray, T: np.ndarray, start: np.ndarray) -> np.ndarray:
    """P(walker on each site, each frame) (n, frames), forward–backward over all states."""
    n, frames = llr.shape
    e = np.vstack([np.zeros(frames), llr])  # log emission relative to all-pristine
    e = np.exp(e - e.max(0))
    fwd = np.empty((frames, n + 1))
    a = start * e[:, 0]
    fwd[0] = a / a.sum()
    for t in range(1, frames):
        a = (fwd[t - 1] @ T) * e[:, t]
        fwd[t] = a / a.sum()
    post = np.empty((n + 1, frames))
    b = np.ones(n + 1)
    post[:, -1] = fwd[-1]
    for t in range(frames - 2, -1, -1):
        b = T @ (e[:, t + 1] * b)
        b /= b.sum()
        p = fwd[t] * b
        post[:, t] = p / p.sum()
    return post[1:]


def recall_at(post: np.ndarray, truth: np.ndarray, false_rate: float) -> dict:
    """Recall at the threshold giving ``false_rate`` false alarms per site-frame, and at ½."""
    neg = np.sort(post[~truth])[::-1]
    k = int(np.floor(false_rate * len(neg)))
    thr = max(neg[k] if k < len(neg) else 0.0, 1e-12)
    return {"recall": float(np.mean(post[truth] > thr)), "threshold": float(thr),
            "recall_at_half": float(np.mean(post[truth] > 0.5)),
            "false_rate_at_half": float(np.mean(post[~truth] > 0.5))}


def bound(d_prime: float, patches: int, side: int, frames: int, appear: float, rates: dict,
          false_rate: float, seed: int) -> dict:
    nb, adj = patch(side)
    n = side * side
    T = exact_matrix(adj, appear, rates["leave"], rates["hop"])
    occupancy = n * appear / (n * appear + rates["leave"])  # the patch's walker share in steady state
    first = occupancy / n
    start = np.r_[1 - occupancy, np.full(n, first)]
    ring_T = walk_transitions(OFFSETS, appear, rates["leave"], rates["hop"])
    own_T = transition_matrix(2, appear, rates["leave"] + rates["hop"], 0.0)
    rng = np.random.default_rng(seed)
    posts = {"exact": [], "ring": [], "own site": []}
    truths = []
    for _ in range(patches):
        s = simulate(rng, T, start, frames)
        truth = np.zeros((n, frames), bool)
        on = s > 0
        truth[s[on] - 1, np.flatnonzero(on)] = True
        x = rng.normal(size=(n, frames)) - d_prime * truth
        llr = -d_prime * x - d_prime ** 2 / 2
        posts["exact"].append(exact_posterior(llr, T, start))
        posts["ring"].append(walker_on_centre(llr, nb, ring_T, first_per_site=first))
        posts["own site"].append(site_posteriors(x, np.array([0.0, -d_prime]), 1.0, own_T, first)[:, :, 1])
        truths.append(truth)
    truth = np.concatenate(truths)
    out = {"d_prime": d_prime, "walker_frames": int(truth.sum()), "site_frames": int(truth.size)}
    for name, p in posts.items():
        out[name] = recall_at(np.concatenate(p), truth, false_rate)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d-primes", type=float, nargs="+", default=[1.44, 0.95, 1.23, 2.02])
    ap.add_argument("--patches", type=int, default=400)
    ap.add_argument("--side", type=int, default=8)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--appear", type=float, default=1e-4, help="per site and frame")
    ap.add_argument("--false-rate", type=float, default=1e-4, help="false alarms per site-frame")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "vs_walk_bound.json"))
    args = ap.parse_args(argv)
    rates = generator_rates()
    record = {"_run": {**vars(args), "rates": rates, "ring_sites": RING}, "bounds": []}
    for d in args.d_primes:
        r = bound(d, args.patches, args.side, args.frames, args.appear, rates, args.false_rate, args.seed)
        record["bounds"].append(r)
        print(f"d' {d:.2f}: {r['walker_frames']} walker frames; recall at {args.false_rate:g} false alarms "
              f"per site-frame: exact {r['exact']['recall']:.3f}, ring {r['ring']['recall']:.3f}, own site "
              f"{r['own site']['recall']:.3f}; at posterior ½: exact {r['exact']['recall_at_half']:.3f} "
              f"(false {r['exact']['false_rate_at_half']:.1e}), ring {r['ring']['recall_at_half']:.3f} "
              f"(false {r['ring']['false_rate_at_half']:.1e}), own site {r['own site']['recall_at_half']:.3f}",
              flush=True)
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main()
