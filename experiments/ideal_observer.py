"""The ideal observer: how well *any* classifier could tell two defect classes apart.

Given the two noise-free windows ``t0`` and ``t1`` (same geometry, same frozen-phonon displacements
of every atom off the defect: :func:`helpers.library.simulate.simulate_field` with ``paired=True``) and the
noise model of the augmentation (:func:`helpers.classify.augment.add_noise`), the likelihood-ratio test
between them has the smallest possible error (Neyman–Pearson, equal priors). A classifier that has
to learn its templates, and meets thermal displacements it has never seen, can only do worse, so
the error here is a *lower bound* on any classifier's error for that pair.

Each noise model is bounded from below in a way that keeps it a bound:

* ``gaussian`` (var ``AugmentParams.gaussian_var``): exact without the clipping to [0, 1]
  (clipping only removes information), Φ(−‖t1 − t0‖ / 2σ);
* ``speckle`` and ``poisson``: Monte Carlo of the exact likelihood-ratio test (speckle without
  clipping); where one template is zero and the other is not, a speckle or Poisson observation
  decides the pair without error;
* ``s&p``: 0 (a pair differs in hundreds of pixels; all of them would have to be hit);
* ``mixed`` (model a, then b): the error of model a alone — b acts on a's output and cannot add
  information (data-processing inequality);
* ``none``: 0 for different windows.

Intensities are the normalized [0, 1] windows the classifier sees.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from helpers.classify.augment import NOISE_TYPES, AugmentParams


def pair_error(t0, t1, kind: str, rng: np.random.Generator, p: AugmentParams = AugmentParams(),
               n_mc: int = 400) -> float:
    """Error of the likelihood-ratio test between windows ``t0`` and ``t1`` (equal priors) under
    noise model ``kind``; the model's own parameters (Poisson dose, the pair of a mixture) are
    drawn from ``rng`` as :func:`helpers.classify.augment.add_noise` draws them."""
    if kind not in NOISE_TYPES:
        raise ValueError(f"unknown noise type {kind!r}; known: {NOISE_TYPES}")
    a = np.asarray(t0, np.float64)
    b = np.asarray(t1, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two windows of one 2-D shape, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("windows contain NaN or infinite values")
    if n_mc < 10:
        raise ValueError(f"n_mc must be at least 10, got {n_mc}")
    if np.array_equal(a, b):
        return 0.5
    if kind == "mixed":
        first, _ = rng.choice(np.arange(1, 5), size=2, replace=False)
        kind = NOISE_TYPES[int(first)]
    if kind in ("none", "s&p"):
        return 0.0
    if kind == "gaussian":
        return float(norm.cdf(-np.linalg.norm(b - a) / (2 * np.sqrt(p.gaussian_var))))
    if kind == "speckle":
        return _speckle_error(a, b, p.speckle_var, rng, n_mc)
    peak = float(rng.uniform(*p.poisson_peak_counts))
    return _poisson_error(a * peak, b * peak, rng, n_mc)


def _speckle_error(a, b, var, rng, n_mc) -> float:
    """x = t (1 + n), n ~ N(0, var): Gaussian with s.d. √var · t per pixel."""
    if np.any((a == 0) != (b == 0)):
        return 0.0
    m = a > 0
    a, b = a[m], b[m]
    sa, sb = np.sqrt(var) * a, np.sqrt(var) * b

    def llr(x):  # log p(x | t1) − log p(x | t0)
        return (np.sum(np.log(sa) - np.log(sb))
                - 0.5 * np.sum(((x - b) / sb) ** 2, axis=-1) + 0.5 * np.sum(((x - a) / sa) ** 2, axis=-1))

    x0 = a + sa * rng.standard_normal((n_mc, a.size))
    x1 = b + sb * rng.standard_normal((n_mc, b.size))
    return float(0.5 * (np.mean(llr(x0) > 0) + np.mean(llr(x1) < 0)))


def _poisson_error(lam0, lam1, rng, n_mc) -> float:
    """Counts k ~ Poisson(λ) per pixel; λ = peak × window."""
    lam0, lam1 = lam0.ravel(), lam1.ravel()
    both = (lam0 > 0) & (lam1 > 0)
    only0, only1 = (lam0 > 0) & (lam1 == 0), (lam1 > 0) & (lam0 == 0)
    w = np.log(lam1[both] / lam0[both])
    c = np.sum(lam1 - lam0)

    def llr(k):  # log p(k | λ1) − log p(k | λ0); ±inf where a count rules one side out
        out = k[:, both] @ w - c
        out = np.where(k[:, only1].sum(axis=1) > 0, np.inf, out)
        return np.where(k[:, only0].sum(axis=1) > 0, -np.inf, out)

    e0 = llr(rng.poisson(lam0, size=(n_mc, lam0.size)).astype(np.float64))
    e1 = llr(rng.poisson(lam1, size=(n_mc, lam1.size)).astype(np.float64))
    # ties (llr exactly 0) are decided by a fair coin
    return float(0.5 * (np.mean(e0 > 0) + 0.5 * np.mean(e0 == 0) + np.mean(e1 < 0) + 0.5 * np.mean(e1 == 0)))
