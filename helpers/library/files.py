"""The simulated defect library: its specification, building, and HDF5 files.

Schema of ``data/library/*.h5`` (one file per library)::

    images            (N, 64, 64) float32   HAADF intensity (fraction of the incident beam)
    labels            (N,)        int64     index into the ``class_names`` attribute
    orientation_deg   (N,)        float64   lattice rotation of the window
    defocus_A         (N,)        float64   abTEM defocus (positive = underfocus)
    source_fwhm_A     (N,)        float64   effective source size applied as Gaussian blur
    field_index       (N,)        int64     which simulated field the window was cut from
    defect_rc_px      (N, 2)      float64   true defect position in the window (row, col)
    fields/images     (F, n, n)   float32   the simulated fields, before rotation and blur
    fields/labels, fields/defocus_A, fields/phonon_seed, fields/seconds  (F,)
    attrs: class_names (JSON), pixel_size_A, window_px, kind, seed, conditions (JSON),
           abtem_version, ase_version, numpy_version, created_utc, field_pixel_size_A
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from helpers import config
from helpers.core.atomic import atomic_output
from helpers.core.windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX
from helpers.library.simulate import ImagingConditions, field_size_A, field_to_window, simulate_field
from helpers.library.structures import CLASS_NAMES, class_index


@dataclass(frozen=True)
class LibrarySpec:
    """What to simulate: per class, the orientations and which imaging condition each uses."""

    kind: str
    orientations_deg: dict[str, tuple[float, ...]]
    defoci_A: tuple[float, ...]
    phonon_seeds: tuple[int, ...]
    source_fwhm_range_A: tuple[float, float]
    seed: int

    def entries(self) -> list[tuple[str, float, int]]:
        """(class name, orientation, condition index) for every image, in label order."""
        out = []
        for name in CLASS_NAMES:
            for k, angle in enumerate(self.orientations_deg[name]):
                out.append((name, float(angle), k % len(self.defoci_A)))
        return out


def _orient(start: float, n: int) -> tuple[float, ...]:
    return tuple(float(start + 15.0 * k) for k in range(n))


#: The poster's 45 images: 8 orientations (0°–105°) per class, W2s2 only 5 (0°–60°).
LIBRARY_SPEC = LibrarySpec(
    kind="library",
    orientations_deg={n: _orient(0.0, 5 if n == "W2s2" else 8) for n in CLASS_NAMES},
    defoci_A=(-20.0, 20.0), phonon_seeds=(1, 2), source_fwhm_range_A=(0.4, 0.7), seed=45,
)


#: Held-out test library: orientations in between (7.5°, 22.5°, …) and another imaging condition.
TEST_LIBRARY_SPEC = LibrarySpec(
    kind="test_library",
    orientations_deg={n: _orient(7.5, 6) for n in CLASS_NAMES},
    defoci_A=(5.0,), phonon_seeds=(11,), source_fwhm_range_A=(0.3, 0.8), seed=1045,
)


def build_library(spec: LibrarySpec, conditions=None, progress: bool = True,
                  classes: tuple[str, ...] | None = None) -> dict:
    """Simulate every field of ``spec`` and cut its windows; returns the arrays of the schema.

    Parameters
    ----------
    spec : LibrarySpec
        Orientations per class, defoci, phonon seeds, source sizes.
    conditions : ImagingConditions, optional
        Beam and detector (defaults: the library's).
    progress : bool
        Show a progress bar.
    classes : tuple of str, optional
        Simulate these classes only.

    Returns
    -------
    dict
        The arrays and attributes of the library file schema (:func:`write_library`).
    """
    from tqdm.auto import tqdm


    base = conditions or ImagingConditions()
    classes = tuple(classes or CLASS_NAMES)
    for c in classes:
        class_index(c)
    fields, f_index = [], {}
    jobs = [(c, k) for c in classes for k in range(len(spec.defoci_A))
            if any(e[0] == c and e[2] == k for e in spec.entries())]
    for c, k in tqdm(jobs, desc=f"simulating {spec.kind}", disable=not progress):
        cond = replace(base, defocus_A=spec.defoci_A[k], phonon_seed=spec.phonon_seeds[k])
        f_index[(c, k)] = len(fields)
        fields.append(simulate_field(c, cond))
    field_images = np.stack([f.image for f in fields]).astype(np.float32)
    windows = cut_library_windows(spec, field_images, f_index, fields[0].pixel_size_A,
                                  fields[0].defect_rc_px, classes)
    return {
        **windows,
        "fields": {
            "images": field_images,
            "labels": np.array([class_index(f.class_name) for f in fields], dtype=np.int64),
            "defocus_A": np.array([f.conditions.defocus_A for f in fields]),
            "phonon_seed": np.array([f.conditions.phonon_seed for f in fields], dtype=np.int64),
            "seconds": np.array([f.seconds for f in fields]),
        },
        "attrs": {
            "kind": spec.kind, "seed": spec.seed, "class_names": json.dumps(list(CLASS_NAMES)),
            "pixel_size_A": LIBRARY_PIXEL_SIZE_A, "window_px": WINDOW_PX,
            "field_pixel_size_A": fields[0].pixel_size_A if fields else LIBRARY_PIXEL_SIZE_A,
            "conditions": json.dumps(base.as_attrs()),
            "spec": json.dumps({"orientations_deg": spec.orientations_deg,
                                "defoci_A": spec.defoci_A, "phonon_seeds": spec.phonon_seeds,
                                "source_fwhm_range_A": spec.source_fwhm_range_A}),
            "gpts": json.dumps([list(map(int, f.gpts)) for f in fields]),
            **software_versions(),
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    }


def cut_library_windows(spec: LibrarySpec, field_images: np.ndarray, field_index: dict,
                        field_pixel_size_A: float, defect_rc_px, classes=CLASS_NAMES) -> dict:
    """The library windows of ``spec`` cut from simulated fields (rotation, source-size blur).

    ``field_index`` maps (class name, condition index) to a row of ``field_images``. The source
    sizes are drawn from ``spec.seed`` in entry order, so the same spec gives the same windows.

    Parameters
    ----------
    spec : LibrarySpec
    field_images : ndarray (m, H, W)
        Simulated fields.
    field_index : dict
        (class name, condition index) → row of ``field_images``.
    field_pixel_size_A : float
        Pixel size of the fields (Å/px).
    defect_rc_px : (float, float) or ndarray
        Defect position in the fields (px).
    classes : tuple of str
        Class order of the labels.

    Returns
    -------
    dict
        ``images`` (n, 64, 64) float32, ``labels``, ``orientation_deg``, ``defocus_A``,
        ``source_fwhm_A``, ``field_index``, ``defect_rc_px``.
    """

    rng = np.random.default_rng(spec.seed)
    rows = []
    for name, angle, k in spec.entries():
        fwhm = float(rng.uniform(*spec.source_fwhm_range_A))  # drawn for every entry: stable order
        if name not in classes:
            continue
        fi = field_index[(name, k)]
        img = field_to_window(field_images[fi], angle, fwhm, pixel_size_A=field_pixel_size_A,
                              centre_rc_px=defect_rc_px)
        rows.append((img, class_index(name), angle, spec.defoci_A[k], fwhm, fi))
    c = WINDOW_PX // 2
    return {
        "images": np.stack([r[0] for r in rows]).astype(np.float32),
        "labels": np.array([r[1] for r in rows], dtype=np.int64),
        "orientation_deg": np.array([r[2] for r in rows]),
        "defocus_A": np.array([r[3] for r in rows]),
        "source_fwhm_A": np.array([r[4] for r in rows]),
        "field_index": np.array([r[5] for r in rows], dtype=np.int64),
        "defect_rc_px": np.tile([float(c), float(c)], (len(rows), 1)),
    }


def software_versions() -> dict[str, str]:
    """Versions of the simulator stack (strings, for HDF5 attributes and metrics)."""
    import importlib.metadata as md

    out = {}
    for pkg in ("abtem", "ase", "numpy", "scipy"):
        try:
            out[f"{pkg}_version"] = md.version(pkg)
        except md.PackageNotFoundError:
            out[f"{pkg}_version"] = "not installed"
    return out


def write_library(data: dict, path: Path, overwrite: bool = False) -> Path:
    """Write a library to HDF5 atomically (temporary file, then rename); never overwrite silently.

    Parameters
    ----------
    data : dict
        From :func:`build_library`.
    path : Path
        The HDF5 file.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
    """
    import h5py

    with atomic_output(path, overwrite, ".h5.part") as tmp, h5py.File(tmp, "w") as f:
        for key, value in data.items():
            if key in ("fields", "attrs"):
                continue
            f.create_dataset(key, data=value, compression="gzip", compression_opts=4)
        g = f.create_group("fields")
        for key, value in data["fields"].items():
            g.create_dataset(key, data=value, compression="gzip", compression_opts=4)
        for key, value in data["attrs"].items():
            f.attrs[key] = value
    return Path(path)


REQUIRED_DATASETS = ("images", "labels", "orientation_deg", "defocus_A", "source_fwhm_A",
                     "field_index", "defect_rc_px")


REQUIRED_ATTRS = ("class_names", "pixel_size_A", "window_px", "kind", "abtem_version",
                  "ase_version", "conditions")


@dataclass
class Library:
    """A library loaded from HDF5."""

    images: np.ndarray
    labels: np.ndarray
    orientation_deg: np.ndarray
    defocus_A: np.ndarray
    source_fwhm_A: np.ndarray
    field_index: np.ndarray
    defect_rc_px: np.ndarray
    class_names: tuple[str, ...]
    pixel_size_A: float
    attrs: dict
    fields: dict

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> list[int]:
        """Images per class, in label order."""
        return np.bincount(self.labels, minlength=len(self.class_names)).tolist()


def load_library(path: Path) -> Library:
    """Read a library file, checking the schema; clear errors for missing files or fields.

    Parameters
    ----------
    path : Path
        A library file written by :func:`write_library` (``data/library/*.h5``).

    Returns
    -------
    Library
        Windows (n, 64, 64) float32, labels, orientations, defect positions (px), pixel size (Å/px)
        and the simulation's attributes.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"library file {path} not found (run notebook 00 or `make library`)")
    with h5py.File(path, "r") as f:
        missing = [k for k in REQUIRED_DATASETS if k not in f] + \
                  [f"attr:{k}" for k in REQUIRED_ATTRS if k not in f.attrs]
        if missing:
            raise ValueError(f"{path} is not a DefectFinder library: missing {', '.join(missing)}")
        d = {k: f[k][()] for k in REQUIRED_DATASETS}
        fields = {k: f["fields"][k][()] for k in f["fields"]} if "fields" in f else {}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    names = tuple(json.loads(attrs["class_names"]))
    return Library(**d, class_names=names, pixel_size_A=float(attrs["pixel_size_A"]), attrs=attrs,
                   fields=fields)


def main(argv=None) -> None:
    """``python -m helpers.library.files [library|test_library|both] [--overwrite]``: build and write.

    Parameters
    ----------
    argv : list of str, optional
        Which library (``library``, ``test_library``, ``both``) and ``--overwrite``.
    """
    import argparse


    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("which", nargs="?", default="both", choices=("library", "test_library", "both"))
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    todo = {"library": [(LIBRARY_SPEC, config.LIBRARY_FILE)],
            "test_library": [(TEST_LIBRARY_SPEC, config.TEST_LIBRARY_FILE)]}
    todo["both"] = todo["library"] + todo["test_library"]
    for spec, path in todo[args.which]:
        if path.exists() and not args.overwrite:
            raise SystemExit(f"{path} exists; use --overwrite to replace it")
        t0 = time.perf_counter()
        data = build_library(spec)
        write_library(data, path, overwrite=args.overwrite)
        print(f"wrote {path}: {len(data['labels'])} images, {len(data['fields']['labels'])} fields, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()


def resimulate_and_compare(path: Path, spec: LibrarySpec, conditions=None, per_class: int = 1,
                           full_field: bool = True, progress: bool = True) -> list[dict]:
    """Re-simulate the first ``per_class`` windows of each class and compare with the shipped file.

    ``conditions`` overrides the file's imaging conditions (e.g. fewer frozen-phonon configurations
    for a quick check) and ``full_field=False`` simulates only the window's own area; the defocus and phonon seed of each entry are kept. Returns one record per
    image: class, orientation, seconds, Pearson correlation, relative RMS difference and max
    relative difference (relative to the shipped window's maximum).

    Parameters
    ----------
    path : Path
        A shipped library file.
    spec : LibrarySpec
        Its specification.
    conditions : ImagingConditions, optional
        Override of the file's conditions.
    per_class : int
        Windows re-simulated per class.
    full_field : bool
        Simulate the whole field (else the window's area only).
    progress : bool
        Show a progress bar.

    Returns
    -------
    list of dict
        One record per window: class, orientation, seconds, phonon configurations, correlation,
        relative r.m.s. and maximum differences, and both windows.
    """
    from tqdm.auto import tqdm


    shipped = load_library(path)
    base = conditions or ImagingConditions(**json.loads(shipped.attrs["conditions"]))
    records = []
    todo = []
    for lab, name in enumerate(shipped.class_names):
        idx = np.flatnonzero(shipped.labels == lab)[:per_class]
        todo += [(name, int(i)) for i in idx]
    for name, i in tqdm(todo, desc="re-simulating", disable=not progress):
        k = list(spec.defoci_A).index(float(shipped.defocus_A[i]))
        cond = replace(base, defocus_A=spec.defoci_A[k], phonon_seed=spec.phonon_seeds[k])
        angle = float(shipped.orientation_deg[i])
        # the shipped field (same supercell, same phonon displacements) or, for a cheaper check, a
        # field just large enough for this window (windows at 0° need no diagonal margin)
        small = not full_field and angle % 90 == 0
        need = WINDOW_PX * shipped.pixel_size_A + 0.6 if small else field_size_A()
        sim = simulate_field(name, cond, field_A=need)
        win = field_to_window(sim, angle, float(shipped.source_fwhm_A[i]))
        ref = shipped.images[i]
        scale = float(ref.max())
        records.append({
            "class": name, "orientation_deg": angle, "seconds": sim.seconds,
            "phonon_configs": cond.phonon_configs,
            "correlation": float(np.corrcoef(win.ravel(), ref.ravel())[0, 1]),
            "rel_rms_diff": float(np.sqrt(np.mean((win - ref) ** 2)) / scale),
            "max_rel_diff": float(np.max(np.abs(win - ref)) / scale),
            "window": win, "shipped": ref,
        })
    return records
