"""Reading microscope files: images and stacks with their pixel size, through RosettaSciIO and
tifffile (no hand-written parsers), and checking the calibration against the lattice.

:func:`read_frames` returns float32 frames (n, H, W), the pixel size in Å and where it came from
(``file``, ``user`` or ``lattice``), and the acquisition metadata found. Every expected problem
raises :class:`InputError` with a one-line message naming the file and the problem.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers.core.validation import check_pixel_size
from helpers.io.calibration import (
    check_sampling,
    estimate_pixel_size,
)
from helpers.io.intensity_checks import intensity_notes
from helpers.io.layout import _choose, _is_image_shape, frames_first, frames_last, read_mat
from helpers.io.stacks import FrameStack, _FileFrames
from helpers.io.tiff import (
    _read_tiff,
)
from helpers.io.units import _fail, _pixel_size_from_axes

SUFFIXES = {".npy": "numpy", ".npz": "numpy", ".h5": "hdf5", ".hdf5": "hdf5", ".mat": "matlab",
            ".tif": "tiff", ".tiff": "tiff", ".dm3": "dm", ".dm4": "dm", ".emd": "emd",
            ".ser": "tia", ".emi": "tia", ".mrc": "mrc",
            ".png": "picture", ".jpg": "picture", ".jpeg": "picture", ".bmp": "picture"}


@dataclass
class Frames:
    """An image or stack as read from a file: frames (a :class:`FrameStack`), pixel size (Å/px) and
    where it came from, metadata and notes."""
    data: FrameStack  # (n, H, W) float32, read frame by frame
    pixel_size_A: float | None
    pixel_size_source: str  # "file", "user", "lattice" or "none"
    path: Path
    metadata: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.data.shape[0])


def _read_numpy(path: Path, dataset: str | None = None):
    try:
        obj = np.load(path, allow_pickle=False, mmap_mode="r" if path.suffix.lower() == ".npy" else None)
    except Exception as e:  # corrupt or not a numpy file
        _fail(path, f"not a readable .npy/.npz file ({type(e).__name__}: {e})")
    if isinstance(obj, np.ndarray):
        if dataset is not None:
            _fail(path, f"--dataset {dataset!r} given, but a .npy file holds one array only")
        return obj, None, {}, []
    with obj:
        try:
            keys = list(obj.keys())
            shapes = {k: obj[k].shape for k in keys}
        except Exception as e:
            _fail(path, f"not a readable .npz archive ({type(e).__name__}: {e})")
        if not keys:
            _fail(path, "the .npz archive holds no arrays")
        key = _choose(path, {k: v for k, v in shapes.items() if _is_image_shape(v)}, dataset)
        ps = next((float(obj[k]) for k in ("pixel_size_A", "pixel_size") if k in keys
                   and obj[k].size == 1), None)
        return obj[key], ps, {"array": key}, []


def _read_hdf5(path: Path, dataset: str | None = None):
    import h5py

    try:
        f = h5py.File(path, "r")
    except Exception as e:
        _fail(path, f"not a readable HDF5 file ({type(e).__name__})")
    try:
        found = {}
        f.visititems(lambda name, obj: found.__setitem__(name, obj.shape)
                     if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "uif"
                     and _is_image_shape(obj.shape) else None)
        name = _choose(path, found, dataset, "dataset")
        ds = f[name]
        ps = ds.attrs.get("pixel_size_A", f.attrs.get("pixel_size_A"))
        ps = float(ps) if ps is not None else None
        if ds.ndim == 3 and ds.shape[-1] not in (3, 4) and not frames_last(ds.shape, ds.dtype):
            # a stack: read frame by frame, file kept open
            for k in {0, ds.shape[0] - 1}:  # a truncated file fails here, not mid-analysis
                try:
                    ds[k]
                except Exception as e:
                    _fail(path, f"dataset {name!r}: frame {k + 1} cannot be read ({type(e).__name__}: {e})")
            return FrameStack(ds, path, close=f.close), ps, {"dataset": name}, []
        try:
            data = ds[()]
        except Exception as e:  # truncated or damaged file
            _fail(path, f"dataset {name!r} cannot be read ({type(e).__name__}: {e})")
    except BaseException:
        f.close()
        raise
    f.close()
    return data, ps, {"dataset": name}, []


def _read_picture(path: Path, dataset: str | None = None):
    """A picture (.png, .jpg, .bmp) through imageio: grey, or colour turned grey; no pixel size."""
    import imageio.v3 as iio

    if dataset is not None:
        _fail(path, f"--dataset {dataset!r} given, but a {path.suffix} picture holds one image")
    try:
        a = np.asarray(iio.imread(path))
    except Exception as e:
        _fail(path, f"not a readable {path.suffix} picture ({type(e).__name__}: {e})")
    notes = [f"a {path.suffix} picture stores no pixel size, and its values are display levels, not counts"]
    if a.ndim == 3 and a.shape[-1] in (3, 4) and np.array_equal(a[..., 0], a[..., 1]) \
            and np.array_equal(a[..., 0], a[..., 2]):
        a = a[..., 0]  # grey saved as colour
    if path.suffix.lower() in (".jpg", ".jpeg"):
        notes.append("JPEG compression is lossy: its 8 × 8 blocks add structured noise to the column "
                     "readings (a TIFF or the microscope's own file is better)")
    return a, None, {"format": path.suffix.lower()[1:]}, notes


def _read_rsciio(path: Path, kind: str, dataset: str | None = None):
    """DigitalMicrograph .dm3/.dm4, EMD (Velox, NCEM), FEI TIA .ser/.emi and MRC through
    RosettaSciIO; a file with several image signals (detectors) needs ``dataset``: a signal's
    title, or its number from 1."""
    import importlib

    module = {"dm": "digitalmicrograph", "emd": "emd", "tia": "tia", "mrc": "mrc"}[kind]
    file_reader = importlib.import_module(f"rsciio.{module}").file_reader
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            signals = file_reader(str(path))
    except Exception as e:
        _fail(path, f"not a readable {path.suffix} file ({type(e).__name__}: {e})")
    images = [s for s in signals if _is_image_shape(np.shape(s["data"]))
              and np.asarray(s["data"]).dtype.kind in "uif"]
    titles = [str(s.get("metadata", {}).get("General", {}).get("title") or f"signal {i + 1}")
              for i, s in enumerate(images)]
    names = {(t if titles.count(t) == 1 else f"{i + 1}"): np.shape(s["data"])
             for i, (t, s) in enumerate(zip(titles, images))}
    if dataset is not None and dataset not in names and dataset.isdigit() \
            and 1 <= int(dataset) <= len(images):
        dataset = list(names)[int(dataset) - 1]
    name = _choose(path, names, dataset, "signal")
    sig = images[list(names).index(name)]
    md = sig.get("metadata", {})
    meta = {"title": md.get("General", {}).get("title"),
            "acquisition": md.get("Acquisition_instrument", {}), "signals_in_file": len(signals)}
    return np.asarray(sig["data"]), _pixel_size_from_axes(sig.get("axes", [])), meta, []


def select_frames(n_frames: int, frames: slice | None, path) -> slice:
    """Check a frame selection (0-based slice, as ``--frames A:B`` gives it) against ``n_frames``:
    a range that reaches beyond the file is an error, never silently cut.

    Parameters
    ----------
    n_frames : int
        Frames in the file.
    frames : slice, optional
        The selection (all frames when None).
    path : str or Path
        The file, named in the error.

    Returns
    -------
    slice
        The selection with definite bounds.
    """
    if frames is None:
        return slice(0, n_frames)
    a = 0 if frames.start is None else frames.start
    b = n_frames if frames.stop is None else frames.stop
    asked = f"{a + 1}:{'' if frames.stop is None else b}"
    if a >= n_frames or b > n_frames:
        _fail(path, f"--frames {asked} reaches beyond the file, which has {n_frames} frame(s) "
                    f"(1 to {n_frames})")
    if b <= a:
        _fail(path, f"--frames {asked} selects no frames")
    return slice(a, b)


def read_frames(path, pixel_size_A: float | None = None, frames: slice | None = None,
                material: str | None = None, dataset: str | None = None) -> Frames:
    """Read an image or a stack; float32 (n, H, W) frames (a :class:`FrameStack`, read from disk
    frame by frame where the file allows it: .npy, uncompressed TIFF, HDF5) with their pixel size
    in Å.

    Pixel size: ``pixel_size_A`` (user) wins over the file's calibration; with neither, the
    lattice of the first frame gives it when ``material`` is known (:func:`estimate_pixel_size`);
    otherwise the pixel size stays None and :func:`require_pixel_size` refuses to go on.
    ``frames``: a 0-based slice (:func:`select_frames` checks it against the file); ``dataset``: the
    array, dataset or signal to read from a container that holds several (.npz, .h5, .emd, .dm).

    Parameters
    ----------
    path : str or Path
        The file: .npy/.npz, .h5/.hdf5, .mat, .tif/.tiff, .emd, .dm3/.dm4, .ser/.emi, .mrc, .png/.jpg/.bmp.
    pixel_size_A : float, optional
        Pixel size (Å/px) given by the user; wins over the file's calibration.
    frames : slice, optional
        0-based frames to read (all when None).
    material : str, optional
        Material whose lattice gives the pixel size when neither the user nor the file does.
    dataset : str, optional
        Array, dataset or signal to read from a container holding several.

    Returns
    -------
    Frames
        ``data`` (n, H, W) float32 frames, ``pixel_size_A`` (Å/px or None) and ``pixel_size_source``.

    Raises
    ------
    InputError
        One line naming the file and the problem (unreadable, truncated, NaN, no image, …).
    """
    path = Path(path)
    if not path.exists():
        _fail(path, "file not found")
    if path.is_dir():
        _fail(path, "is a directory, not a file")
    if not os.access(path, os.R_OK):
        _fail(path, "no permission to read the file")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        _fail(path, f"unknown format {path.suffix!r}; readable: {sorted(set(SUFFIXES))}")
    reader = {"numpy": _read_numpy, "hdf5": _read_hdf5, "matlab": read_mat, "tiff": _read_tiff,
              "picture": _read_picture}.get(kind)
    arr, ps_file, meta, notes0 = (reader(path, dataset) if reader
                                  else _read_rsciio(path, kind, dataset))
    if kind in ("numpy", "hdf5", "matlab"):  # no axis names in these files: the shape says (H, W, n)
        arr, moved = frames_first(arr, path)
        notes0 = notes0 + moved
    data, notes = to_frame_stack(arr, path)
    notes = notes0 + notes
    sel = select_frames(len(data), frames, path)
    if (sel.start, sel.stop) != (0, len(data)):
        data = data[sel]
    if pixel_size_A is not None:
        try:
            ps, source = check_pixel_size(pixel_size_A), "user"
        except ValueError as e:
            _fail(path, str(e))
    elif ps_file is not None and np.isfinite(ps_file) and ps_file > 0:
        ps, source = float(ps_file), "file"
    elif material is not None:
        try:
            ps, source = estimate_pixel_size(data[0], material), "lattice"
        except ValueError as e:
            _fail(path, f"no pixel size in the file and none given, and it cannot be estimated from "
                        f"the {material} lattice ({e}); pass the pixel size in Å/px")
        notes.append(f"no pixel size in the file: {ps:.4f} Å/px estimated from the {material} lattice")
    else:
        ps, source = None, "none"
    return Frames(data, ps, source, path, meta, notes)


def to_frame_stack(arr, path) -> tuple[FrameStack, list]:
    """What a reader returns → a float32 :class:`FrameStack`, with notes on integer, 8-bit,
    saturated and black-clipped data (:func:`helpers.io.intensity_checks.intensity_notes`). A
    memory map or an open dataset stays on disk (its first and last frames are
    read now, so a damaged file fails before any work; every frame is checked as it is read); any
    other array is converted whole by :func:`to_float_frames`.

    Parameters
    ----------
    arr : array-like, memory map or HDF5 dataset
        (H, W) or (n, H, W) as a reader produced it.
    path : str or Path
        The file, named in errors.

    Returns
    -------
    stack : FrameStack
        Float32 frames, read lazily where possible.
    notes : list of str
        What was noticed about the data (integer type, saturation, a clipped black level).
    """
    if isinstance(arr, np.memmap) and arr.ndim == 3 and arr.shape[-1] not in (3, 4) \
            and arr.flags.c_contiguous and getattr(arr, "filename", None):
        src = _FileFrames(arr.filename, arr.offset, arr.shape, arr.dtype)
        arr = FrameStack(src, path, close=src.close)
    if not isinstance(arr, FrameStack):
        data, notes = to_float_frames(arr, path)
        return FrameStack(data, path), notes
    dtype = np.dtype(arr._src.dtype)
    if dtype.kind not in "uifb":
        _fail(path, f"data of type {dtype} is not a numeric image")
    if min(arr.frame_shape) < 2:
        _fail(path, f"frames of shape {arr.frame_shape} are not images")
    first = arr[0]
    arr[-1]
    return arr, intensity_notes(first, dtype, first_of_stack=True)


def to_float_frames(arr, path) -> tuple[np.ndarray, list]:
    """Any numeric image/stack → float32 (n, H, W), with notes on integer, 8-bit, saturated and
    black-clipped data (:func:`helpers.io.intensity_checks.intensity_notes`).

    Parameters
    ----------
    arr : array-like
        (H, W) or (n, H, W) numeric data.
    path : str or Path
        The file, named in errors.

    Returns
    -------
    frames : ndarray (n, H, W) float32
    notes : list of str
    """
    a = np.asarray(arr)
    notes = []
    if a.dtype.kind not in "uifb":
        _fail(path, f"data of type {a.dtype} is not a numeric image")
    if a.ndim == 3 and a.shape[-1] in (3, 4) and a.shape[0] > 4:  # RGB(A): a processed picture
        notes.append("RGB image: converted to grey by averaging the colour channels")
        a = a[..., :3].mean(axis=-1)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        _fail(path, f"expected a 2D image or a 3D stack, got shape {a.shape}")
    if min(a.shape[1:]) < 2:
        _fail(path, f"frames of shape {a.shape[1:]} are not images")
    notes += intensity_notes(a, a.dtype)
    out = a.astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        _fail(path, f"{int(bad.sum())} NaN or infinite values in the data")
    return out, notes


def require_pixel_size(fr: Frames) -> float:
    """The frames' pixel size (Å/px), or an :class:`InputError` saying how to give one.

    Parameters
    ----------
    fr : Frames
        From :func:`read_frames`.

    Returns
    -------
    float
        Pixel size (Å/px).
    """
    if fr.pixel_size_A is None:
        _fail(fr.path, "no pixel size: the file has no calibration; pass --pixel-size (Å/px) or "
                       "--material to estimate it from the lattice")
    return fr.pixel_size_A


def check_frames_usable(fr: Frames, material: str = "WS2") -> None:
    """Frames whose pixel size resolves the lattice and that hold at least one library window.

    Parameters
    ----------
    fr : Frames
        From :func:`read_frames`.
    material : str
        The material imaged.

    Raises
    ------
    InputError
        When the pixel size is missing or no lattice image can have it.
    """
    check_sampling(require_pixel_size(fr), fr.data.shape, material, fr.path)
