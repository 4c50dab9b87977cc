"""TIFF reading: memory-mapped frames, the completeness check and the pixel size from the tags."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from helpers.core.validation import InputError
from helpers.io.units import _fail, _pixel_size_from_axes, _unit_to_A


class _LogCollector:
    """Collect what a library logs (tifffile reports damaged files only through its logger)."""

    def __init__(self, name: str):
        import logging

        self.logger = logging.getLogger(name)
        self.messages: list[str] = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: self.messages.append(record.getMessage())
        self.handler = handler

    def __enter__(self):
        self.propagate = self.logger.propagate
        self.logger.addHandler(self.handler)
        self.logger.propagate = False
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)
        self.logger.propagate = self.propagate
        return False


_DAMAGE_WORDS = ("corrupt", "invalid", "truncat", "incomplete", "beyond end", "out of range")


def _check_tiff_complete(path: Path, tif, data: np.ndarray, logged: list[str]) -> None:
    """Refuse a TIFF whose frames are not all present (a truncated or damaged file)."""
    damaged = [m for m in logged if any(w in m.lower() for w in _DAMAGE_WORDS)]
    if damaged:
        _fail(path, f"damaged or truncated TIFF ({damaged[0].strip()}); not every frame can be read")
    n_read = 1 if data.ndim == 2 else int(np.prod(data.shape[:-2]))
    if tif.is_imagej:
        announced = (tif.imagej_metadata or {}).get("images")
        if announced is not None and int(announced) > n_read:
            _fail(path, f"truncated TIFF: its ImageJ header announces {int(announced)} frames, "
                        f"{n_read} are in the file")
    size = tif.filehandle.size
    for i, page in enumerate(tif.pages):
        ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts) if o]
        if ends and max(ends) > size:
            _fail(path, f"truncated TIFF: frame {i + 1}'s data end past the end of the file")


def _tiff_memmap(path: Path, tif, logged: list[str]):
    """The TIFF's one series as a read-only memory map, where its frames are stored uncompressed
    and contiguous (ImageJ stacks, most microscope exports); else None (the file is read whole)."""
    import tifffile

    if len(tif.series) != 1 or logged:
        return None
    series = tif.series[0]
    offset = series.dataoffset
    if offset is None or offset + series.size * series.dtype.itemsize > tif.filehandle.size:
        return None  # compressed, tiled or scattered pages, or cut short: read (and checked) whole
    try:
        return tifffile.memmap(path, mode="r")
    except Exception:
        return None


def _read_tiff(path: Path, dataset: str | None = None):
    import tifffile

    if dataset is not None:
        _fail(path, f"--dataset {dataset!r} given, but a TIFF file is read as one image or stack")
    try:
        with _LogCollector("tifffile") as log, tifffile.TiffFile(path) as tif:
            shapes = {tuple(sr.shape[-2:]) for sr in tif.series}
            if len(shapes) > 1:
                _fail(path, f"a stack with frames of different sizes {sorted(shapes)}: cannot analyze "
                            "it as one movie")
            data = _tiff_memmap(path, tif, log.messages)
            if data is None:
                data = tif.asarray() if len(tif.series) == 1 else np.stack(
                    [sr.asarray() for sr in tif.series])
            _check_tiff_complete(path, tif, data, log.messages)
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
            return data, ps, meta, []
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
