"""Experiment support: clean windows and noise redraws of augmented images (studies in ``experiments/``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers.classify.augment import (
    AugmentedSet,
    AugmentParams,
    add_noise,
    augment_images,
    source_indices,
)


def clean_windows(lib, aug: AugmentedSet, indices, p: AugmentParams = AugmentParams(),
                  progress: bool = True) -> np.ndarray:
    """The noise-free windows (float16) behind images ``indices`` of ``aug``, made from ``lib``:
    the same random geometry and distortions (:func:`distort_one`), before the noise model."""
    idx = np.asarray(indices, dtype=np.int64)
    if str(lib.attrs.get("kind")) != aug.library_kind:
        raise ValueError(f"the augmented set was made from the {aug.library_kind!r} library, "
                         f"not from {lib.attrs.get('kind')!r}")
    if idx.size and (idx.min() < 0 or idx.max() >= len(aug.labels)):
        raise ValueError(f"indices must lie in [0, {len(aug.labels)}), got {idx.min()}..{idx.max()}")
    if not np.array_equal(source_indices(lib, idx), aug.source[idx]):
        raise ValueError("the augmented set's source images do not follow the library order; "
                         "it was not made by augment_library(balance='library') from this library")
    return augment_images(lib, aug.seed, idx, p, noise=False, progress=progress)[0]


@dataclass
class NoiseRedraws:
    """Training windows whose noise is drawn afresh every epoch.

    ``clean`` are the noise-free windows of images ``indices`` of a data set with seed ``seed``
    (:func:`clean_windows`), ``noise`` their noise models; each epoch keeps every window's geometry
    and noise *model* and draws a new realization (image ``k``, epoch ``e``: seed sequence
    ``[seed, k, 1_000_000 + e]``). Epoch 0 returns ``first`` (the stored data set) when given.
    """

    clean: np.ndarray
    noise: np.ndarray
    indices: np.ndarray
    seed: int
    first: np.ndarray | None = None
    params: AugmentParams = AugmentParams()

    def __post_init__(self):
        n = len(self.clean)
        if len(self.noise) != n or len(self.indices) != n or (self.first is not None and len(self.first) != n):
            raise ValueError("clean, noise, indices (and first) must have one entry per window")

    def __call__(self, epoch: int) -> np.ndarray:
        if epoch == 0 and self.first is not None:
            return self.first
        out = np.empty(self.clean.shape, np.float16)
        for j, (k, kind) in enumerate(zip(self.indices, self.noise)):
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(k), 1_000_000 + int(epoch)]))
            out[j] = add_noise(self.clean[j].astype(np.float32), str(kind), rng, self.params)
        return out
