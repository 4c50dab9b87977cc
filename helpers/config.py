"""Repository paths, the run profile switch and the one seeding function.

Every notebook starts with::

    from helpers import config
    config.set_seed(config.SEED)

``DEFECTFINDER_PROFILE`` selects the sizes: ``paper`` (default, the figures in the repo) or ``ci``
(same code paths, small sizes). Paths are relative to the repository root found from this file, so
nothing depends on where the repository is cloned.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT: Path = Path(__file__).resolve().parent.parent


DATA_DIR: Path = ROOT / "data"


LIBRARY_DIR: Path = DATA_DIR / "library"


MODELS_DIR: Path = DATA_DIR / "models"


GENERATED_DIR: Path = DATA_DIR / "generated"


RESULTS_DIR: Path = ROOT / "results"


FIGURES_DIR: Path = RESULTS_DIR / "figures"


METRICS_DIR: Path = RESULTS_DIR / "metrics"


NOTEBOOKS_DIR: Path = ROOT / "notebooks"


#: The library files that ship with the repository.
LIBRARY_FILE: Path = LIBRARY_DIR / "ws2_library.h5"


TEST_LIBRARY_FILE: Path = LIBRARY_DIR / "ws2_test_library.h5"


#: Default seed of every notebook (one per notebook, passed to :func:`set_seed`).
SEED: int = 20161


PROFILES = ("paper", "ci")


def realdata_dir() -> Path | None:
    """The folder of real microscope images to check on (never part of the repository):
    ``$DEFECTFINDER_REALDATA``, else ``shared/realdata`` beside the repository's folder; None when
    it does not exist."""
    d = Path(os.environ.get("DEFECTFINDER_REALDATA") or ROOT.parent / "shared" / "realdata")
    return d if d.is_dir() else None


def get_profile() -> str:
    """The active profile from ``DEFECTFINDER_PROFILE`` (``paper`` when unset)."""
    profile = os.environ.get("DEFECTFINDER_PROFILE", "paper").strip().lower() or "paper"
    if profile not in PROFILES:
        raise ValueError(
            f"DEFECTFINDER_PROFILE={profile!r} is not a known profile; use one of {PROFILES}"
        )
    return profile


@dataclass(frozen=True)
class Sizes:
    """Sizes that differ between profiles; code paths never do."""

    profile: str
    #: abTEM potential sampling (Å) and frozen-phonon configurations for re-simulation checks.
    resim_sampling_A: float
    resim_phonons: int
    #: how many library images per class notebook 00 re-simulates, and over the full field or not
    resim_per_class: int
    resim_full_field: bool
    #: frames of the synthetic movie (the standard movie has 150)
    movie_frames: int
    #: augmented images from the library (the poster's 50,178) and from the test library
    augmented_train: int = 50_178
    augmented_test: int = 12_000
    #: classifier training: epochs (early stopping may end sooner) and batch size
    epochs: int = 12
    batch_size: int = 128
    #: grid search: images of the training part used per trial, epochs per trial
    grid_images: int = 12_000
    grid_epochs: int = 3
    #: localizer (notebook 02): training crops and epochs; robustness movies (notebook 06): frames
    #: per variant and training crops of each variant's localizer
    localizer_crops: int = 1024
    localizer_epochs: int = 12  # 6 left the empty S2 sites unlearnt for some seeds (measured)
    robust_frames: int = 30
    robust_localizer_crops: int = 1024  # fewer: the localizer does not learn the empty S2 sites


def sizes(profile: str | None = None) -> Sizes:
    """Profile-dependent sizes (``profile`` defaults to :func:`get_profile`).

    Parameters
    ----------
    profile : {"paper", "ci"}, optional
        The profile (default: ``DEFECTFINDER_PROFILE``).

    Returns
    -------
    Sizes
        Data sizes, epochs and frames of the profile.
    """
    profile = profile or get_profile()
    if profile == "paper":
        return Sizes(profile, resim_sampling_A=0.07, resim_phonons=4, resim_per_class=1,
                     resim_full_field=True, movie_frames=150)
    if profile == "ci":
        return Sizes(profile, resim_sampling_A=0.1, resim_phonons=1, resim_per_class=1,
                     resim_full_field=False, movie_frames=40,
                     augmented_train=8_000, augmented_test=1_200, epochs=5, grid_images=1_200,
                     grid_epochs=1, localizer_crops=512, localizer_epochs=3, robust_frames=4,
                     robust_localizer_crops=96)
    raise ValueError(f"unknown profile {profile!r}; use one of {PROFILES}")


def set_seed(seed: int = SEED) -> np.random.Generator:
    """Seed Python, NumPy and (if imported or importable) TensorFlow; return a NumPy Generator.

    TensorFlow is seeded through ``keras.utils.set_random_seed`` and op determinism is enabled,
    which makes training bit-identical across processes on the same CPU with the same number of
    threads (measured: two processes, identical weights; one thread instead of two changes the
    losses in the seventh digit, and the weights follow).

    Parameters
    ----------
    seed : int
        Non-negative seed (one per notebook).

    Returns
    -------
    numpy.random.Generator
        A generator seeded with ``seed``.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        quiet_tensorflow()  # no start-up log lines in the notebooks' outputs
        import tensorflow as tf  # noqa: PLC0415 (heavy import, only when present)

        tf.keras.utils.set_random_seed(seed)
        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # already enabled or unsupported build
            pass
    except ImportError:
        pass
    return np.random.default_rng(seed)


def quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up log lines on stderr.

    TensorFlow's C++ start-up messages (oneDNN, CPU features, absl) are written to the process's
    stderr before any log level applies, so stderr is pointed at /dev/null for the import alone;
    Python warnings and errors afterwards reach stderr as usual. A no-op once TensorFlow is loaded.
    """
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ log lines of every level (Python errors still raise)
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    fd = 2  # the process's stderr, whatever sys.stderr is (the C++ code writes to fd 2)
    try:
        saved = os.dup(fd)
    except OSError:  # no stderr at all
        saved = None
    try:
        if saved is not None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
        import absl.logging  # noqa: PLC0415
        import tensorflow  # noqa: F401, PLC0415

        absl.logging.set_verbosity(absl.logging.ERROR)
    finally:
        if saved is not None:
            os.dup2(saved, fd)
            os.close(saved)


def models_dir(profile: str | None = None) -> Path:
    """Where notebooks write trained models: the shipped ``data/models`` only when the committed
    results are written (:func:`writes_committed_results`), a scratch folder under
    ``data/generated/`` otherwise (a test run or a student's rerun never replaces shipped weights;
    loading looks there first, then at the shipped ones).

    Parameters
    ----------
    profile : {"paper", "ci"}, optional

    Returns
    -------
    Path
    """
    profile = profile or get_profile()
    d = MODELS_DIR if _committed(profile) else _scratch(profile) / "models"
    d.mkdir(parents=True, exist_ok=True)
    return d


CLASSIFIER_FILE = "defect_classifier.keras"


def writes_committed_results() -> bool:
    """Whether notebooks write the committed results (``results/``, ``data/models/``): only when
    ``DEFECTFINDER_PROFILE=paper`` is set explicitly, as ``make run`` does. A notebook run with no
    profile set (JupyterLab) computes the paper's sizes but writes under ``data/generated/scratch/``,
    so rerunning a notebook never changes the repository."""
    return os.environ.get("DEFECTFINDER_PROFILE", "").strip().lower() == "paper"


def _committed(profile: str) -> bool:
    return profile == "paper" and writes_committed_results()


def _scratch(profile: str) -> Path:
    """Git-ignored output folder of a profile that does not write the committed results."""
    return GENERATED_DIR / ("scratch" if profile == "paper" else profile)


def output_dirs(profile: str | None = None) -> tuple[Path, Path]:
    """(figures folder, metrics folder) for a profile.

    The committed ``results/figures`` and ``results/metrics`` only when
    :func:`writes_committed_results`; else ``data/generated/scratch/`` (paper sizes, no profile set)
    or ``data/generated/ci/`` (a test run): never the committed results.

    Parameters
    ----------
    profile : {"paper", "ci"}, optional
        The profile (default: ``DEFECTFINDER_PROFILE``).

    Returns
    -------
    (Path, Path)
        The figures folder and the metrics folder, created if missing.
    """
    profile = profile or get_profile()
    if _committed(profile):
        figs, metrics = FIGURES_DIR, METRICS_DIR
    else:
        figs, metrics = _scratch(profile) / "figures", _scratch(profile) / "metrics"
    figs.mkdir(parents=True, exist_ok=True)
    metrics.mkdir(parents=True, exist_ok=True)
    return figs, metrics
