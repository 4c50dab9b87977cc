"""Parameters of the synthetic movie: sample, kinetics, imaging (lengths in Å, times in frames)."""
from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from helpers.core.validation import check_pixel_size
from helpers.library.structures import CLASS_NAMES, LATTICE_A

#: Classes in the movie: the library's six (label order) plus the out-of-library single S vacancy.
MOVIE_CLASSES: tuple[str, ...] = CLASS_NAMES + ("Vs",)


METAL_CLASSES = ("Sw", "Mo", "Vw")


SUBLATTICE = {c: ("metal" if c in METAL_CLASSES else "chalcogen") for c in MOVIE_CLASSES}


#: what each column holds (pristine columns: W on metal sites, S2 on chalcogen sites)
COLUMN_CONTENT = {"W": ["W"], "S2": ["S", "S"], "Sw": ["S"], "Mo": ["Mo"], "Vw": [],
                  "W2s2": ["W"], "Vs2": [], "Ws": ["W", "S"], "Vs": ["S"]}


GENERATOR_VERSION = "1"


def _default_transitions() -> list[list[float]]:
    """Per-frame class-change probabilities (rows: from, columns: to, in MOVIE_CLASSES order)."""
    T = {c: {c: 1.0} for c in MOVIE_CLASSES}
    T["Vw"] = {"Vw": 0.985, "Sw": 0.015}    # an S atom drops into the W vacancy
    T["Sw"] = {"Sw": 0.985, "Vw": 0.015}    # ... and is knocked out again
    T["Vs"] = {"Vs": 0.97, "Vs2": 0.03}     # the second S of the column is sputtered
    T["Vs2"] = {"Vs2": 0.975, "Vs": 0.015, "W2s2": 0.01}  # refilled by an S adatom, or a W moves in
    T["W2s2"] = {"W2s2": 0.985, "Ws": 0.015}  # an S adatom joins the W on the chalcogen site
    T["Ws"] = {"Ws": 0.975, "W2s2": 0.025}    # ... and is sputtered again
    return [[T[a].get(b, 0.0) for b in MOVIE_CLASSES] for a in MOVIE_CLASSES]


@dataclass(frozen=True)
class KineticsParams:
    """The Markov model of the defect population (probabilities per frame)."""

    transitions: tuple[tuple[float, ...], ...] = field(
        default_factory=lambda: tuple(tuple(r) for r in _default_transitions()))
    #: probability per frame of a hop to one of the six neighbouring equivalent sites
    hop_prob: tuple[float, ...] = (0.01, 0.0, 0.01, 0.02, 0.03, 0.01, 0.06)
    #: probability per frame that a defect disappears (healed, or lost to a larger defect)
    death_prob: tuple[float, ...] = (0.002, 0.0, 0.002, 0.002, 0.003, 0.003, 0.006)
    #: initial defects per nm², and their class fractions
    initial_per_nm2: float = 0.85
    initial_fractions: tuple[float, ...] = (0.08, 0.25, 0.07, 0.10, 0.20, 0.10, 0.20)
    #: births per nm² per frame at the reference dose; they scale with the dose per frame and
    #: grow linearly with the accumulated dose (``birth_growth_per_1e6`` per 10⁶ e/Å²)
    birth_per_nm2: float = 0.002
    birth_reference_dose_e_per_A2: float = 1.0e4
    birth_growth_per_1e6: float = 1.5
    birth_fractions: tuple[float, ...] = (0.05, 0.0, 0.05, 0.15, 0.25, 0.05, 0.45)
    #: no two defects closer than this (births and hops that would violate it are rejected)
    min_separation_A: float = 3.0


@dataclass(frozen=True)
class MovieParams:
    """Everything that defines a movie. Variants are made by changing fields, not code."""

    n_frames: int = 150
    frame_px: int = 512
    pixel_size_A: float = 0.2
    dose_e_per_A2: float = 1.0e4  # per frame
    seed: int = 2023
    orientation_deg: float | None = None  # None: random from the seed
    lattice_a_A: float = LATTICE_A
    haadf_exponent: float = 1.7
    #: HAADF fraction of the beam when the probe sits on a W column
    w_column_signal: float = 0.035
    probe_fwhm_A: float = 1.0
    probe_tail_fwhm_A: float = 5.0
    probe_tail_weight: float = 0.04
    thermal_jitter_A: float = 0.04
    read_noise_counts: float = 1.0
    dark_counts: float = 0.3
    scanline_jitter_px: float = 0.15
    drift_velocity_A_per_frame: tuple[float, float] = (0.05, -0.03)
    drift_random_A_per_frame: float = 0.05
    scan_shear: float = 0.008
    scan_y_scale: float = 0.004
    contamination_max_fraction: float = 0.012  # background, in units of beam fraction
    contamination_scale_A: float = 15.0
    margin_A: float = 12.0
    noise: bool = True
    kinetics: KineticsParams = field(default_factory=KineticsParams)

    def validate(self) -> "MovieParams":
        """The parameters, checked; raises ValueError naming the first bad one."""
        if int(self.n_frames) != self.n_frames or self.n_frames < 1:
            raise ValueError(f"n_frames must be a positive integer, got {self.n_frames}")
        check_pixel_size(self.pixel_size_A)
        if not np.isfinite(self.dose_e_per_A2) or self.dose_e_per_A2 <= 0:
            raise ValueError(f"dose_e_per_A2 must be positive, got {self.dose_e_per_A2}")
        if self.frame_px * self.pixel_size_A < 2 * self.lattice_a_A * np.sqrt(3):
            raise ValueError(
                f"frame of {self.frame_px} px × {self.pixel_size_A} Å/px is smaller than a unit cell "
                f"(needs at least {2 * self.lattice_a_A * np.sqrt(3):.1f} Å)")
        for name in ("read_noise_counts", "dark_counts", "scanline_jitter_px", "thermal_jitter_A",
                     "drift_random_A_per_frame", "contamination_max_fraction", "probe_tail_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        if self.probe_fwhm_A <= 0 or self.probe_tail_fwhm_A <= 0:
            raise ValueError("probe widths must be positive")
        k = self.kinetics
        n = len(MOVIE_CLASSES)
        T = np.asarray(k.transitions, dtype=float)
        if T.shape != (n, n):
            raise ValueError(f"transition matrix must be {n}×{n} ({MOVIE_CLASSES}), got {T.shape}")
        if np.any(T < 0) or not np.allclose(T.sum(axis=1), 1.0, atol=1e-9):
            raise ValueError(f"transition probabilities must be ≥ 0 and each row must sum to one; "
                             f"row sums {np.round(T.sum(axis=1), 6).tolist()}")
        for a in range(n):
            for b in range(n):
                if T[a, b] > 0 and SUBLATTICE[MOVIE_CLASSES[a]] != SUBLATTICE[MOVIE_CLASSES[b]]:
                    raise ValueError(f"transition {MOVIE_CLASSES[a]}→{MOVIE_CLASSES[b]} changes the "
                                     "sublattice, which a class change cannot do")
        for name in ("hop_prob", "death_prob"):
            v = np.asarray(getattr(k, name), dtype=float)
            if v.shape != (n,) or np.any(v < 0) or np.any(v > 1):
                raise ValueError(f"{name} must hold {n} probabilities in [0, 1], got {v.tolist()}")
        if k.hop_prob[MOVIE_CLASSES.index("Mo")] != 0:
            raise ValueError("Mo dopants do not hop: hop_prob for Mo must be 0")
        for name in ("initial_fractions", "birth_fractions"):
            v = np.asarray(getattr(k, name), dtype=float)
            if v.shape != (n,) or np.any(v < 0) or not np.isclose(v.sum(), 1.0, atol=1e-9):
                raise ValueError(f"{name} must hold {n} probabilities that sum to one, got {v.tolist()}")
        if k.initial_per_nm2 < 0 or k.birth_per_nm2 < 0 or k.birth_growth_per_1e6 < 0:
            raise ValueError("defect densities and birth rates must be ≥ 0")
        return self

    def to_json(self) -> str:
        """The parameters as JSON (sorted keys): what the content hash is taken of."""
        return json.dumps(asdict(self), sort_keys=True)

    def content_hash(self) -> str:
        """Hash of the parameters *and* the generator's source: a changed generator is noticed."""
        src = inspect.getsource(inspect.getmodule(MovieParams))
        h = hashlib.sha256()
        h.update(self.to_json().encode())
        h.update(GENERATOR_VERSION.encode())
        h.update(src.encode())
        return h.hexdigest()[:16]


def standard_params(**changes) -> MovieParams:
    """The standard movie (150 frames, 512² px at 0.2 Å/px); keyword changes make variants.

    Parameters
    ----------
    **changes
        Fields of :class:`MovieParams` to change (``seed``, ``dose_e_per_A2``, ``pixel_size_A``,
        ``probe_fwhm_A``, ``lattice_a_A``, ``n_frames``, …).

    Returns
    -------
    MovieParams
    """
    kin = changes.pop("kinetics", None)
    p = MovieParams(**changes)
    if kin is not None:
        p = replace(p, kinetics=kin)
    return p.validate()
