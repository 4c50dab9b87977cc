"""The data protocol of the classifier: the poster's random split, the fit/validation split of the
training part, and the augmented libraries split that way (:func:`poster_data`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers import config
from helpers.classify.augment import AugmentedSet
from helpers.classify.augmented_sets import get_augmented
from helpers.library.files import Library, load_library


def random_split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The poster's random split of augmented images (leaky: copies of one simulation on both sides).

    Parameters
    ----------
    n : int
        Images in the set.
    test_fraction : float
    seed : int

    Returns
    -------
    train, test : ndarray of int
        Sorted indices.
    """
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    k = int(round(n * test_fraction))
    return np.sort(perm[k:]), np.sort(perm[:k])


def fit_validation_split(indices, seed: int, fit_fraction: float = 0.67, size: int | None = None,
                         sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` at random into fitting and validation parts (the poster's 67/33).

    With ``size``, a random subset of that many indices is split instead (grid-search trials).

    Parameters
    ----------
    indices : array-like of int
    seed : int
    fit_fraction : float
    size : int, optional
        Split a random subset of this many indices.
    sort : bool
        Return sorted indices.

    Returns
    -------
    fit, validation : ndarray of int
    """
    rng = np.random.default_rng(seed)
    indices = np.asarray(indices)
    pick = (rng.permutation(indices) if size is None
            else rng.choice(indices, size=min(size, len(indices)), replace=False))
    n_fit = int(round(fit_fraction * len(pick)))
    fit, val = pick[:n_fit], pick[n_fit:]
    return (np.sort(fit), np.sort(val)) if sort else (fit, val)


def poster_splits(n: int, seed: int, test_fraction: float = 0.2, fit_fraction: float = 0.67
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The poster's split of ``n`` augmented images: a random ``test_fraction`` test part (leaky),
    the rest split ``fit_fraction``/rest into fitting and validation.

    Returns
    -------
    fit, validation, random_test : ndarray of int
        Sorted indices into the augmented set.

    Parameters
    ----------
    n : int
        Images in the augmented set.
    seed : int
    test_fraction, fit_fraction : float
    """
    part, random_test = random_split(n, test_fraction, seed)
    fit, validation = fit_validation_split(part, seed, fit_fraction, sort=True)
    return fit, validation, random_test


@dataclass
class PosterData:
    """The classifier's data (notebooks 03 and 04): the augmented library split as the poster
    split it, and the leak-free test set from the test library's own simulations."""

    library: Library
    test_library: Library
    augmented: AugmentedSet  # augmented images of the library
    leakfree_test: AugmentedSet  # augmented images of the test library (no simulation shared)
    fit: np.ndarray  # indices into ``augmented``: fitting part of the training part
    validation: np.ndarray  # indices: validation part
    random_test: np.ndarray  # indices: the poster's random test part (copies of training simulations)

    @property
    def training_part(self) -> np.ndarray:
        """Fitting and validation indices together, sorted (the poster's training part)."""
        return np.sort(np.concatenate([self.fit, self.validation]))


def poster_data(n_train: int, n_test: int, seed: int, test_fraction: float = 0.2, fit_fraction: float = 0.67,
                progress: bool = True) -> PosterData:
    """Both shipped libraries → augmented sets (``n_train`` from the library with ``seed``,
    ``n_test`` from the test library with ``seed + 1``; made by notebook 01 or here when missing)
    → :func:`poster_splits` of the library's set.

    Parameters
    ----------
    n_train, n_test : int
        Augmented windows from the library and from the test library.
    seed : int
        Seed of the library's set and of the splits (the test library's set uses ``seed + 1``).
    test_fraction, fit_fraction : float
        The poster's 0.2 random test share and 0.67 fitting share of the rest.
    progress : bool
        Progress bars while augmenting.

    Returns
    -------
    PosterData
    """
    lib, test_lib = load_library(config.LIBRARY_FILE), load_library(config.TEST_LIBRARY_FILE)
    data = get_augmented(lib, n_train, seed, progress=progress)
    leakfree = get_augmented(test_lib, n_test, seed + 1, progress=progress)
    fit, validation, random_test = poster_splits(len(data.labels), seed, test_fraction, fit_fraction)
    return PosterData(lib, test_lib, data, leakfree, fit, validation, random_test)
