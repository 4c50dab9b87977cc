"""Augmented sets on disk: written once per (library, size, seed) under ``data/generated/augmented/`` and read back (notebook 01 makes them; 03-05 read them)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from helpers import config
from helpers.classify.augment import AugmentedSet, AugmentParams, augment_library
from helpers.core.atomic import atomic_output
from helpers.core.windows import WINDOW_PX


def save_augmented(aug: AugmentedSet, path: Path, params: AugmentParams, overwrite: bool = False) -> Path:
    """Write an :class:`AugmentedSet` and its parameters to HDF5 atomically (refuses to replace a
    file unless told).

    Parameters
    ----------
    aug : AugmentedSet
    path : Path
        The HDF5 file.
    params : AugmentParams
        Stored beside the images.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
    """
    import json

    import h5py

    with atomic_output(path, overwrite, ".h5.part") as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("images", data=aug.images, chunks=(256, WINDOW_PX, WINDOW_PX))
        f.create_dataset("labels", data=aug.labels)
        f.create_dataset("source", data=aug.source)
        f.create_dataset("noise", data=aug.noise.astype("S"))
        f.create_dataset("defect_rc", data=aug.defect_rc)
        f.attrs["seed"] = aug.seed
        f.attrs["library_kind"] = aug.library_kind
        f.attrs["params"] = json.dumps(asdict(params))
    return Path(path)


def load_augmented(path: Path) -> AugmentedSet:
    """Read an :class:`AugmentedSet` written by :func:`save_augmented`.

    Parameters
    ----------
    path : Path

    Returns
    -------
    AugmentedSet
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"augmented data set {path} not found (run notebook 01)")
    with h5py.File(path, "r") as f:
        return AugmentedSet(images=f["images"][()], labels=f["labels"][()], source=f["source"][()],
                            noise=f["noise"][()].astype(str), defect_rc=f["defect_rc"][()], seed=int(f.attrs["seed"]),
                            library_kind=str(f.attrs["library_kind"]))


def augmented_path(kind: str, n_images: int, seed: int) -> Path:
    """Where notebook 01 caches an augmented set of ``kind``, size and seed (git-ignored).

    Parameters
    ----------
    kind : str
        The library's kind (``library``, ``test_library``).
    n_images, seed : int

    Returns
    -------
    Path
    """

    return config.GENERATED_DIR / "augmented" / f"{kind}_{n_images}_seed{seed}.h5"


def get_augmented(lib, n_images: int, seed: int, params: AugmentParams = AugmentParams(),
                  progress: bool = True, refresh: bool = False) -> AugmentedSet:
    """The augmented set for (library, size, seed) from ``data/generated/augmented/``, made if missing.

    Generation is deterministic, so a regenerated file holds the same images.

    Parameters
    ----------
    lib : Library
    n_images : int
        Size of the set.
    seed : int
    params : AugmentParams
        A cached set made with other parameters is made again.
    progress : bool
        Show a progress bar when making it.
    refresh : bool
        Make it again even when cached.

    Returns
    -------
    AugmentedSet
    """
    import json

    import h5py

    path = augmented_path(str(lib.attrs.get("kind")), n_images, seed)
    if path.exists() and not refresh:
        with h5py.File(path, "r") as f:
            same = f.attrs.get("params") == json.dumps(asdict(params))
        if same:
            return load_augmented(path)
    aug = augment_library(lib, n_images, seed, params, progress=progress)
    save_augmented(aug, path, params, overwrite=True)
    return aug
