"""The frame axis of arrays saved without axis names (.npy, .npz, .h5, .mat), and MATLAB files.

A stack written by NumPy code is usually (n, H, W); one written by MATLAB, or by ``np.dstack``, is
(H, W, n). Formats with axis metadata (TIFF pages, DM, EMD) say which axis is which; these do not,
so the shape decides (:func:`frames_last`), and the reading says what it did.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.io.units import _fail


def frames_last(shape, dtype) -> bool:
    """Whether a 3D array without axis names holds its frames along the last axis: (H, W, n).

    Square frames of (H, W, n) read as (n, H, W) would be n-px-wide strips: the array is (H, W, n)
    when its first two sides are equal and the third is shorter. An 8-bit (H, W, 3 or 4) array
    is a colour picture (read as grey elsewhere), not three or four frames.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy dtype

    Returns
    -------
    bool
    """
    if len(shape) != 3:
        return False
    if shape[-1] in (3, 4) and np.dtype(dtype).kind in "ui" and np.dtype(dtype).itemsize == 1:
        return False
    return shape[0] == shape[1] != shape[2] and shape[2] < shape[0]


#: the smallest frame side (px) an array must have to count as an image when a file holds several
MIN_IMAGE_PX = 16


def _is_image_shape(shape) -> bool:
    if len(shape) == 3 and frames_last(shape, np.float32):  # (H, W, n)
        return min(shape[:2]) >= MIN_IMAGE_PX
    return len(shape) in (2, 3) and min(shape[-2:]) >= MIN_IMAGE_PX


def _choose(path: Path, candidates: dict, dataset: str | None, kind: str = "array") -> str:
    """The name of the image array to read: ``dataset`` when given, the only candidate otherwise;
    several candidates without ``dataset`` are an error that lists them (never a silent pick).

    ``candidates``: name → shape of every image-like array in the file.
    """
    listing = ", ".join(f"{k} {tuple(v)}" for k, v in candidates.items())
    if dataset is not None:
        if dataset not in candidates:
            _fail(path, f"no image {kind} named {dataset!r}; the file holds: {listing or 'none'}")
        return dataset
    if not candidates:
        _fail(path, f"no 2D image or 3D stack {kind} (frames of at least {MIN_IMAGE_PX} px) in the file")
    if len(candidates) > 1:
        _fail(path, f"holds {len(candidates)} image {kind}s ({listing}); choose one with --dataset NAME")
    return next(iter(candidates))


def frames_first(arr, path) -> tuple[object, list]:
    """``arr`` with its frames along the first axis, and a note when they were moved there.

    Parameters
    ----------
    arr : array-like, memory map or HDF5 dataset
    path : str or Path
        The file, named in the note.

    Returns
    -------
    arr : array-like
        (n, H, W) or as given.
    notes : list of str
    """
    shape, dtype = tuple(arr.shape), getattr(arr, "dtype", np.float32)
    if not frames_last(shape, dtype):
        return arr, []
    note = (f"array of shape {shape} read as {shape[2]} frames of {shape[0]}×{shape[1]} px (frames along the "
            f"last axis, as MATLAB and np.dstack write them); save it as (frames, rows, columns) to be explicit")
    return np.moveaxis(np.asarray(arr), -1, 0), [note]


def read_mat(path: Path, dataset: str | None = None):
    """A MATLAB .mat file (v4–v7 through SciPy, v7.3 through h5py): the image variable, the pixel
    size from a scalar ``pixel_size_A`` (Å) or ``pixel_size_nm`` (nm) variable when there is one.

    MATLAB stores arrays column-major: a v7.3 file read through HDF5 shows every axis reversed, so
    they are turned back to MATLAB's order (rows, columns, frames).

    Parameters
    ----------
    path : Path
    dataset : str, optional
        The variable to read when the file holds several images.

    Returns
    -------
    arr : ndarray
        As MATLAB shows it: (H, W) or (H, W, n).
    pixel_size_A : float or None
    meta : dict
    notes : list of str
    """
    import h5py
    import scipy.io

    scalars, images = {}, {}
    try:
        content = scipy.io.loadmat(path)
        variables = {k: v for k, v in content.items() if not k.startswith("__")}
    except Exception as e:
        if not h5py.is_hdf5(path):
            _fail(path, f"not a readable .mat file ({type(e).__name__}: {e})")
        try:  # v7.3: an HDF5 file, arrays stored column-major
            with h5py.File(path, "r") as f:
                variables = {k: np.asarray(v[()]).T for k, v in f.items() if isinstance(v, h5py.Dataset)}
        except Exception as e:
            _fail(path, f"not a readable MATLAB v7.3 file ({type(e).__name__}: {e})")
    for k, v in variables.items():
        v = np.asarray(v)
        if v.dtype.kind not in "uif":
            continue
        if v.size == 1:
            scalars[k] = float(v.ravel()[0])
        elif _is_image_shape(v.shape):
            images[k] = v
    key = _choose(path, {k: v.shape for k, v in images.items()}, dataset, "variable")
    ps = scalars.get("pixel_size_A")
    if ps is None and "pixel_size_nm" in scalars:
        ps = 10.0 * scalars["pixel_size_nm"]
    return images[key], ps, {"variable": key}, []
