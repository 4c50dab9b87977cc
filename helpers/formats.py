"""Reading microscope files: images and stacks with their pixel size, through RosettaSciIO and
tifffile (no hand-written parsers), and checking the calibration against the lattice.

:func:`read_frames` returns float32 frames (n, H, W), the pixel size in Å and where it came from
(``file``, ``user`` or ``lattice``), and the acquisition metadata found. Every expected problem
raises :class:`InputError` with a one-line message naming the file and the problem.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX

#: in-plane lattice constants a (Å) of common 2D materials (2H phases; graphene and hBN for
#: calibration). Sources: bulk crystal structures (ICSD / Materials Project), rounded to 0.01 Å.
LATTICE_CONSTANTS_A = {"WS2": 3.18, "MoS2": 3.16, "WSe2": 3.28, "MoSe2": 3.29, "MoTe2": 3.52,
                       "WTe2": 3.55, "graphene": 2.46, "hBN": 2.50}

#: length units → Å
UNIT_TO_A = {"a": 1.0, "å": 1.0, "angstrom": 1.0, "ang": 1.0, "nm": 10.0, "pm": 0.01,
             "um": 1e4, "µm": 1e4, "μm": 1e4, "micron": 1e4, "m": 1e10, "mm": 1e7}

SUFFIXES = {".npy": "numpy", ".npz": "numpy", ".h5": "hdf5", ".hdf5": "hdf5", ".tif": "tiff",
            ".tiff": "tiff", ".dm3": "dm", ".dm4": "dm", ".emd": "emd"}


class InputError(ValueError):
    """An expected problem with an input file: the message names the file and the problem."""


@dataclass
class Frames:
    data: np.ndarray  # (n, H, W) float32
    pixel_size_A: float | None
    pixel_size_source: str  # "file", "user", "lattice" or "none"
    path: Path
    metadata: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.data.shape[0])


def _unit_to_A(unit, path) -> float | None:
    if unit is None:
        return None
    u = str(unit).strip().lower().replace("\\u00b5", "µ")
    if u in UNIT_TO_A:
        return UNIT_TO_A[u]
    return None


def _fail(path, problem: str):
    raise InputError(f"{path}: {problem}")


# ------------------------------------------------------------------------------------------------
# format readers: each returns (array, pixel size in Å or None, metadata dict)


def _read_numpy(path: Path):
    try:
        obj = np.load(path, allow_pickle=False)
    except Exception as e:  # corrupt or not a numpy file
        _fail(path, f"not a readable .npy/.npz file ({type(e).__name__}: {e})")
    if isinstance(obj, np.ndarray):
        return obj, None, {}
    with obj:
        keys = list(obj.keys())
        key = next((k for k in ("frames", "data", "image", "images") if k in keys), keys[0] if keys else None)
        if key is None:
            _fail(path, "the .npz archive holds no arrays")
        ps = next((float(obj[k]) for k in ("pixel_size_A", "pixel_size") if k in keys), None)
        return obj[key], ps, {"array": key}


def _read_hdf5(path: Path):
    import h5py

    try:
        f = h5py.File(path, "r")
    except Exception as e:
        _fail(path, f"not a readable HDF5 file ({type(e).__name__})")
    with f:
        if "frames" in f:  # a DefectFinder movie
            ds = f["frames"]
            ps = f.attrs.get("pixel_size_A", ds.attrs.get("pixel_size_A"))
            return ds[()], (float(ps) if ps is not None else None), {"dataset": "frames"}
        found = []
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset)
                     and obj.ndim in (2, 3) and obj.dtype.kind in "uif" else None)
        if not found:
            _fail(path, "no 2D or 3D numeric dataset in the HDF5 file")
        ds = f[found[0]]
        ps = ds.attrs.get("pixel_size_A", f.attrs.get("pixel_size_A"))
        return ds[()], (float(ps) if ps is not None else None), {"dataset": found[0]}


def _read_tiff(path: Path):
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            shapes = {tuple(sr.shape[-2:]) for sr in tif.series}
            if len(shapes) > 1:
                _fail(path, f"a stack with frames of different sizes {sorted(shapes)}: cannot analyze "
                            "it as one movie")
            data = tif.asarray() if len(tif.series) == 1 else np.stack(
                [sr.asarray() for sr in tif.series])
            page = tif.pages[0]
            meta = {}
            ps = None
            desc = page.tags.get("ImageDescription")
            desc = desc.value if desc is not None else ""
            # Nion Swift writes its calibrations as JSON in the description
            if desc.lstrip().startswith("{"):
                try:
                    props = json.loads(desc)
                    cal = props.get("spatial_calibrations") or []
                    if cal:
                        c = cal[-1]
                        factor = _unit_to_A(c.get("units"), path)
                        if factor and c.get("scale"):
                            ps = float(c["scale"]) * factor
                        meta["nion"] = {k: props[k] for k in ("title", "created", "metadata") if k in props}
                except json.JSONDecodeError:
                    pass
            if ps is None and tif.is_imagej:
                ij = tif.imagej_metadata or {}
                factor = _unit_to_A(ij.get("unit"), path)
                xres = page.tags.get("XResolution")
                if factor and xres is not None:
                    num, den = xres.value
                    if num:
                        ps = den / num * factor
                meta["imagej"] = {k: v for k, v in ij.items() if isinstance(v, (str, int, float))}
            if ps is None:
                ps = _rsciio_tiff_pixel_size(path)
            meta["software"] = str(page.tags["Software"].value) if "Software" in page.tags else None
            return data, ps, meta
    except InputError:
        raise
    except Exception as e:
        _fail(path, f"not a readable TIFF file ({type(e).__name__}: {e})")


def _rsciio_tiff_pixel_size(path: Path):
    """Calibrations RosettaSciIO knows from vendor TIFF tags (FEI/Thermo, Zeiss, Olympus, ...)."""
    from rsciio.tiff import file_reader

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sig = file_reader(str(path))[0]
    except Exception:
        return None
    return _pixel_size_from_axes(sig.get("axes", []))


def _pixel_size_from_axes(axes) -> float | None:
    sig_axes = [a for a in axes if not a.get("navigate", False)][-2:]
    for a in sig_axes:
        factor = _unit_to_A(a.get("units"), None)
        if factor and a.get("scale"):
            return float(a["scale"]) * factor
    return None


def _read_rsciio(path: Path, kind: str):
    """DigitalMicrograph .dm3/.dm4 and EMD (Velox, NCEM) through RosettaSciIO."""
    if kind == "dm":
        from rsciio.digitalmicrograph import file_reader
    else:
        from rsciio.emd import file_reader
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            signals = file_reader(str(path))
    except Exception as e:
        _fail(path, f"not a readable {path.suffix} file ({type(e).__name__}: {e})")
    images = [s for s in signals if np.asarray(s["data"]).ndim in (2, 3)
              and np.asarray(s["data"]).dtype.kind in "uif"]
    if not images:
        _fail(path, "no image or image stack in the file")
    sig = images[0]
    md = sig.get("metadata", {})
    meta = {"title": md.get("General", {}).get("title"),
            "acquisition": md.get("Acquisition_instrument", {}), "signals_in_file": len(signals)}
    return np.asarray(sig["data"]), _pixel_size_from_axes(sig.get("axes", [])), meta


# ------------------------------------------------------------------------------------------------


def read_frames(path, pixel_size_A: float | None = None, frames: slice | None = None,
                material: str | None = None) -> Frames:
    """Read an image or a stack; float32 (n, H, W) frames with their pixel size in Å.

    Pixel size: ``pixel_size_A`` (user) wins over the file's calibration; with neither, the
    lattice of the first frame gives it when ``material`` is known (:func:`estimate_pixel_size`);
    otherwise the pixel size stays None and :func:`require_pixel_size` refuses to go on.
    """
    path = Path(path)
    if not path.exists():
        _fail(path, "file not found")
    if path.is_dir():
        _fail(path, "is a directory, not a file")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        _fail(path, f"unknown format {path.suffix!r}; readable: {sorted(set(SUFFIXES))}")
    reader = {"numpy": _read_numpy, "hdf5": _read_hdf5, "tiff": _read_tiff}.get(kind)
    arr, ps_file, meta = reader(path) if reader else _read_rsciio(path, kind)
    data, notes = to_float_frames(arr, path)
    if frames is not None:
        data = data[frames]
        if len(data) == 0:
            _fail(path, f"frame selection {frames} leaves no frames (the file has {len(arr)})")
    if pixel_size_A is not None:
        from .validation import check_pixel_size

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


def to_float_frames(arr, path) -> tuple[np.ndarray, list]:
    """Any numeric image/stack → float32 (n, H, W), with notes on integer, 8-bit and saturated data."""
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
    if a.dtype.kind in "ui":
        top = np.iinfo(a.dtype).max
        sat = float(np.mean(a == top))
        if sat > 1e-4:
            notes.append(f"{sat:.2%} of pixels saturated at {top}: their intensities are clipped")
        if a.dtype.itemsize == 1:
            notes.append("8-bit data: probably a processed export, not detector counts; intensities "
                         "are relative and shot-noise statistics do not apply")
    out = a.astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        _fail(path, f"{int(bad.sum())} NaN or infinite values in the data")
    return out, notes


def require_pixel_size(fr: Frames) -> float:
    if fr.pixel_size_A is None:
        _fail(fr.path, "no pixel size: the file has no calibration; pass --pixel-size (Å/px) or "
                       "--material to estimate it from the lattice")
    return fr.pixel_size_A


def check_frames_usable(fr: Frames) -> None:
    """Frames big enough for a window at the library's pixel size."""
    ps = require_pixel_size(fr)
    need = int(np.ceil(WINDOW_PX * LIBRARY_PIXEL_SIZE_A / ps))
    if min(fr.data.shape[1:]) < need:
        _fail(fr.path, f"frames of {fr.data.shape[1]}×{fr.data.shape[2]} px at {ps:.3f} Å/px are smaller "
                       f"than one {WINDOW_PX * LIBRARY_PIXEL_SIZE_A:.1f} Å window ({need} px)")


# ------------------------------------------------------------------------------------------------
# writing: the movie (or a frame) in real formats, each through the format's own library


def write_imagej_tiff(path, frames, pixel_size_A: float, overwrite: bool = False) -> Path:
    """A float32 stack (or one frame) as an ImageJ TIFF with its calibration in nm (tifffile), as
    Fiji or a microscope export writes it."""
    import tifffile

    from .io import atomic_output
    from .validation import check_pixel_size

    ps_nm = check_pixel_size(pixel_size_A) / 10
    data = np.asarray(frames, np.float32)
    with atomic_output(path, overwrite, ".part.tif") as tmp:
        tifffile.imwrite(tmp, data, imagej=True, resolution=(1 / ps_nm, 1 / ps_nm),
                         metadata={"unit": "nm", "axes": "ZYX" if data.ndim == 3 else "YX"})
    return Path(path)


def write_rsciio_tiff(path, image, pixel_size_A: float, overwrite: bool = False) -> Path:
    """One frame as a TIFF written by RosettaSciIO, calibrated in nm."""
    from rsciio.tiff import file_writer

    from .io import atomic_output
    from .validation import check_pixel_size

    img = np.asarray(image, np.float32)
    axes = [{"name": n, "scale": check_pixel_size(pixel_size_A) / 10, "units": "nm", "size": s,
             "offset": 0, "navigate": False} for n, s in zip(("y", "x"), img.shape)]
    with atomic_output(path, overwrite, ".part.tif") as tmp:
        file_writer(str(tmp), {"data": img, "axes": axes, "metadata": {}, "original_metadata": {}})
    return Path(path)


def write_ncem_emd(path, image, pixel_size_A: float, overwrite: bool = False) -> Path:
    """One frame as an EMD 0.2 file in the Berkeley/NCEM layout (h5py): a group with
    ``emd_group_type = 1`` holding ``data`` and one ``dim`` dataset per axis (units "[n_m]")."""
    import h5py

    from .io import atomic_output
    from .validation import check_pixel_size

    img = np.asarray(image, np.float32)
    ps_nm = check_pixel_size(pixel_size_A) / 10
    with atomic_output(path, overwrite, ".part.emd") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["version_major"], f.attrs["version_minor"] = 0, 2
        g = f.create_group("data/haadf")
        g.attrs["emd_group_type"] = 1
        g.create_dataset("data", data=img)
        for k, name in ((1, "y"), (2, "x")):
            d = g.create_dataset(f"dim{k}", data=np.arange(img.shape[k - 1]) * ps_nm)
            d.attrs["name"], d.attrs["units"] = name, "[n_m]"  # NCEM unit notation
    return Path(path)


# ------------------------------------------------------------------------------------------------
# calibration from the lattice


def estimate_pixel_size(frame, material: str = "WS2", lattice_a_A: float | None = None) -> float:
    """Pixel size (Å/px) from the first-order Bragg spots of a hexagonal lattice.

    The six {100} spots of a lattice with constant a sit at |k| = 2/(√3 a) Å⁻¹; their radius in
    the FFT (in 1/px) gives the pixel size. Spots are found as the strongest local maxima of the
    windowed |FFT|, the first ring as the innermost radius shared by at least four of them, refined
    by the spots' centroids.
    """
    from scipy import ndimage

    if lattice_a_A is None:
        if material not in LATTICE_CONSTANTS_A:
            raise ValueError(f"unknown material {material!r}; known: {sorted(LATTICE_CONSTANTS_A)}")
        lattice_a_A = LATTICE_CONSTANTS_A[material]
    img = np.asarray(frame, np.float64)
    h, w = img.shape
    n = min(h, w)
    img = img[:n, :n]
    win = np.outer(np.hanning(n), np.hanning(n))
    F = np.abs(np.fft.fftshift(np.fft.fft2((img - img.mean()) * win)))
    c = n // 2
    yy, xx = np.mgrid[:n, :n] - c
    r = np.hypot(yy, xx)
    mag = np.log1p(F)
    # ignore the lowest frequencies (background) and the highest (noise)
    band = (r > 3) & (r < 0.45 * n)
    lm = (mag == ndimage.maximum_filter(mag, size=5)) & band
    vals = mag[lm]
    cand = np.argwhere(lm)
    order = np.argsort(vals)[::-1][:24]
    cand, vals = cand[order], vals[order]
    med = np.median(mag[band])
    mad = np.median(np.abs(mag[band] - med)) * 1.4826 + 1e-12
    strong = cand[vals > med + 6 * mad]
    if len(strong) < 4:
        raise ValueError("no lattice found in the FFT (fewer than four strong Bragg spots)")
    radii = np.hypot(*(strong - c).T)
    radii_sorted = np.sort(radii)
    first = None
    for rad in radii_sorted:
        if np.sum(np.abs(radii - rad) < max(1.5, 0.04 * rad)) >= 4:
            first = rad
            break
    if first is None:
        raise ValueError("no ring of at least four Bragg spots in the FFT: not a hexagonal lattice?")
    ring = strong[np.abs(radii - first) < max(1.5, 0.04 * first)]
    refined = []
    for pr, pc in ring:  # centroid of |FFT| around each spot
        sl = np.s_[max(pr - 2, 0):pr + 3, max(pc - 2, 0):pc + 3]
        patch = F[sl]
        gy, gx = np.mgrid[sl]
        refined.append(np.hypot((gy * patch).sum() / patch.sum() - c, (gx * patch).sum() / patch.sum() - c))
    k_px = float(np.median(refined)) / n  # cycles per px
    d100_A = np.sqrt(3) / 2 * lattice_a_A
    return float(d100_A * k_px)


def check_calibration(frame, pixel_size_A: float, material: str = "WS2", tolerance: float = 0.05
                      ) -> dict:
    """Compare a pixel size with the lattice estimate; ``ok`` is False beyond ``tolerance``."""
    est = estimate_pixel_size(frame, material)
    rel = (pixel_size_A - est) / est
    return {"pixel_size_A": float(pixel_size_A), "lattice_estimate_A": est,
            "relative_difference": float(rel), "ok": bool(abs(rel) <= tolerance), "material": material}


def subtract_background(frame, pixel_size_A: float, scale_A: float = 20.0) -> np.ndarray:
    """Remove a slowly varying background (Gaussian low-pass of ``scale_A``), keeping the mean."""
    from scipy import ndimage

    from .validation import check_image, check_pixel_size

    img = check_image(frame, "frame").astype(np.float64)
    bg = ndimage.gaussian_filter(img, scale_A / check_pixel_size(pixel_size_A))
    return (img - bg + bg.mean()).astype(np.float32)
