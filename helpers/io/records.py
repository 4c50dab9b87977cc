"""Headline numbers of each notebook, written to ``results/metrics/<notebook>.json``.

Every file records the profile it ran in, the data sizes and the library versions, so that each
number can be traced to the run that made it.
"""
from __future__ import annotations

import importlib.metadata as md
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from helpers import config
from helpers.core.atomic import atomic_output

TRACKED_PACKAGES = ("numpy", "scipy", "abtem", "ase", "tensorflow-cpu", "tensorflow", "keras",
                    "keras-tuner", "scikit-image", "trackpy", "rosettasciio")


def versions() -> dict[str, str]:
    """Versions of Python and the tracked packages, for the run record."""
    out = {"python": platform.python_version()}
    for pkg in TRACKED_PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def jsonable(x):
    """Nested dicts/lists/NumPy values → plain JSON types (non-finite floats → None).

    Parameters
    ----------
    x : object
        Dicts, lists, tuples, NumPy arrays and scalars, pandas objects.

    Returns
    -------
    object
        The same structure in JSON types.
    """
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def write_metrics(notebook: str, metrics: dict, sizes: dict | None = None,
                  profile: str | None = None, merge: bool = False) -> Path:
    """Write ``<metrics dir>/<notebook>.json`` atomically: the record of this run, replacing the
    last one, so no number of an older run survives beside the new ones (``merge``: add to it).

    ``sizes`` records the data sizes behind the numbers (images, epochs, frames…).

    Parameters
    ----------
    notebook : str
        Notebook stem (``06_apply_to_movie``).
    metrics : dict
        The numbers (NumPy and pandas values are converted to JSON).
    sizes : dict, optional
        Data sizes behind them.
    profile : {"paper", "ci"}, optional
        The profile (default: ``DEFECTFINDER_PROFILE``), which chooses the folder.
    merge : bool
        Keep keys of an existing record that ``metrics`` does not set (several writes of one run).

    Returns
    -------
    Path
        The JSON file written.
    """
    if not notebook or "/" in notebook:
        raise ValueError(f"notebook must be a bare name like '00_simulate_library', got {notebook!r}")
    profile = profile or config.get_profile()
    _, mdir = config.output_dirs(profile)
    path = mdir / f"{notebook}.json"
    old = {}
    if merge and path.exists():
        old = json.loads(path.read_text())
    record = dict(old)
    record.update(jsonable(metrics))
    record["_run"] = {
        "profile": profile,
        "sizes": jsonable({**old.get("_run", {}).get("sizes", {}), **(sizes or {})}),
        "versions": versions(),
        "written_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_output(path, overwrite=True, suffix=".json.part") as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def read_metrics(notebook: str, profile: str | None = None, folder: Path | None = None) -> dict:
    """The metrics record of a notebook: from ``folder``, else the metrics folder of ``profile``
    (:func:`helpers.config.output_dirs`); FileNotFoundError when none was written.

    Parameters
    ----------
    notebook : str
        Notebook stem.
    profile : {"paper", "ci"}, optional
        Profile whose metrics folder is read.
    folder : Path, optional
        Read from this folder instead.

    Returns
    -------
    dict
        The record, with its ``_run`` block (profile, versions, sizes).
    """
    mdir = Path(folder) if folder is not None else config.output_dirs(profile)[1]
    path = mdir / f"{notebook}.json"
    if not path.exists():
        raise FileNotFoundError(f"no metrics for {notebook} at {path}")
    return json.loads(path.read_text())


def write_record(path, record: dict) -> Path:
    """Write an experiment's record as JSON (``results/experiments/*.json``), atomically, replacing
    the last run's file; NumPy values converted (:func:`jsonable`), the parent folder made.

    Parameters
    ----------
    path : str or Path
    record : dict

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(jsonable(record), indent=1, ensure_ascii=False))
    return path
