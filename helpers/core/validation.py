"""Input checks that turn bad input into a clear error naming the problem."""
from __future__ import annotations

import numpy as np


class InputError(ValueError):
    """An expected problem with the user's input (file, arguments, output folder): the message is
    one line naming the thing and the problem."""


def check_pixel_size(pixel_size_A, name: str = "pixel_size_A") -> float:
    """A finite, positive pixel size in Å/px, or ValueError.

    Parameters
    ----------
    pixel_size_A : float
        The value to check (Å/px).
    name : str
        How the error message names it.

    Returns
    -------
    float
    """
    if pixel_size_A is None:
        raise ValueError(f"{name} is missing: every image needs its pixel size in Å/px")
    try:
        value = float(pixel_size_A)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in Å/px, got {pixel_size_A!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite (Å/px), got {pixel_size_A!r}")
    return value


def check_image(image, name: str = "image", ndim: int = 2, min_shape: tuple[int, ...] | None = None
                ) -> np.ndarray:
    """A finite float array of the given dimensionality (and at least ``min_shape``), or ValueError.

    Parameters
    ----------
    image : array-like
        The array to check.
    name : str
        How the error message names it.
    ndim : int
        Required number of dimensions.
    min_shape : tuple of int, optional
        Smallest size of each dimension (px).

    Returns
    -------
    ndarray of float
    """
    arr = np.asarray(image)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}D, got shape {arr.shape}")
    if min_shape is not None and any(s < m for s, m in zip(arr.shape[-len(min_shape):], min_shape)):
        raise ValueError(f"{name} of shape {arr.shape} is smaller than the required {min_shape}")
    arr = arr.astype(np.float32, copy=False) if arr.dtype != np.float64 else arr
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite values")
    return arr
