"""The data splits: the poster's random split and the fit/validation split of the training part."""
from __future__ import annotations

import numpy as np


def random_split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The poster's random split of augmented images (leaky: copies of one simulation on both sides)."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    k = int(round(n * test_fraction))
    return np.sort(perm[k:]), np.sort(perm[:k])


def group_split(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Split whole groups (source simulations), stratified by class: no group on both sides.

    About ``fraction`` of each class's groups (at least one) go to the second part.
    """
    rng = np.random.default_rng(seed)
    second = []
    for c in np.unique(labels):
        g = np.unique(groups[labels == c])
        k = max(1, int(round(len(g) * fraction)))
        second.extend(rng.choice(g, size=k, replace=False).tolist())
    mask = np.isin(groups, second)
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def fit_validation_split(indices, seed: int, fit_fraction: float = 0.67, size: int | None = None,
                         sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` at random into fitting and validation parts (the poster's 67/33).

    With ``size``, a random subset of that many indices is split instead (grid-search trials).
    """
    rng = np.random.default_rng(seed)
    indices = np.asarray(indices)
    pick = (rng.permutation(indices) if size is None
            else rng.choice(indices, size=min(size, len(indices)), replace=False))
    n_fit = int(round(fit_fraction * len(pick)))
    fit, val = pick[:n_fit], pick[n_fit:]
    return (np.sort(fit), np.sort(val)) if sort else (fit, val)
