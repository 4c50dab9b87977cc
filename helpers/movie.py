"""The synthetic experimental movie: beam-driven WS2 defect dynamics with ground truth.

The poster's 60 kV movie is not public, so DefectFinder generates its stand-in. It is rendered by
*different physics* from the multislice library, as a real movie would be:

* **Kinetics** — defects with persistent identities on the two WS2 sublattices, in the six library
  classes plus out-of-library single S vacancies (``Vs``). Per frame each defect may disappear, change
  class (a known transition matrix, only between classes of its own sublattice) and hop to one of
  the six neighbouring equivalent sites (``Mo`` dopants never hop). New defects, mostly vacancies,
  are born at a rate that grows with the accumulated dose.
* **Imaging** — incoherent HAADF: each column weighted by Σ Z^n, deposited with sub-pixel accuracy
  and convolved with a probe (Gaussian core, FWHM ≈ 1 Å, plus a weak broad tail); thermal jitter of
  column positions; Poisson noise at the stated dose; detector read noise; scan-line jitter; slow drift
  between frames; mild scan distortion (shear and y scale); a slowly varying contamination background.

Everything is deterministic from one seed; the kinetics and the imaging draw from separate random
streams, so changing only the noise keeps the same defect history. Lengths in Å, doses in e/Å².
"""
from __future__ import annotations

import hashlib
import inspect
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .detector import apply_detector_noise, scanline_jitter
from .io import atomic_output
from .physics import column_contrast
from .structures import CLASS_NAMES, LATTICE_A
from .validation import check_pixel_size

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
    """The standard movie (150 frames, 512² px at 0.2 Å/px); keyword changes make variants."""
    kin = changes.pop("kinetics", None)
    p = MovieParams(**changes)
    if kin is not None:
        p = replace(p, kinetics=kin)
    return p.validate()


# ----------------------------------------------------------------------------------------------
# Kinetics


@dataclass
class _Lattice:
    a1: np.ndarray
    a2: np.ndarray
    shift: np.ndarray  # chalcogen offset
    ij: np.ndarray  # (n, 2) site indices covering the sample region
    xy: dict  # sublattice -> (n, 2) positions in sample coordinates (Å)

    def position(self, sub: str, i: int, j: int) -> np.ndarray:
        p = i * self.a1 + j * self.a2
        return p + self.shift if sub == "chalcogen" else p


def _lattice(params: MovieParams, theta: float, half_A: float) -> _Lattice:
    a = params.lattice_a_A
    R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    a1 = R @ np.array([a, 0.0])
    a2 = R @ np.array([a / 2, a * np.sqrt(3) / 2])
    shift = (a1 + a2) / 3
    n = int(np.ceil(2 * half_A / a)) + 3
    i, j = np.meshgrid(np.arange(-2 * n, 2 * n + 1), np.arange(-2 * n, 2 * n + 1), indexing="ij")
    ij = np.stack([i.ravel(), j.ravel()], axis=1)
    xy_m = ij[:, :1] * a1 + ij[:, 1:] * a2
    keep = np.all(np.abs(xy_m) <= half_A + a, axis=1)
    ij = ij[keep]
    xy_m = xy_m[keep]
    return _Lattice(a1, a2, shift, ij, {"metal": xy_m, "chalcogen": xy_m + shift})


def _region_half_A(params: MovieParams) -> float:
    return params.frame_px * params.pixel_size_A / 2 + params.margin_A


def simulate_kinetics(params: MovieParams, rng: np.random.Generator, theta: float
                      ) -> tuple[list[dict], pd.DataFrame, _Lattice]:
    """Run the Markov model. Returns per-frame states, the event log and the lattice.

    Each state maps defect id → (class, sublattice, i, j). Frame 0 is the initial population;
    frame t is the population after t steps. Defects live in a square sample region (the frame plus
    ``margin_A`` on each side, so that drift never reveals an unsimulated area).
    """
    k = params.kinetics
    half = _region_half_A(params)
    lat = _lattice(params, theta, half)
    area_nm2 = (2 * half) ** 2 / 100.0
    T = np.asarray(k.transitions, dtype=float)
    hop = np.asarray(k.hop_prob)
    death = np.asarray(k.death_prob)
    nbr = np.array([[1, 0], [0, 1], [-1, 1], [-1, 0], [0, -1], [1, -1]])
    sep2 = k.min_separation_A ** 2

    state: dict[int, list] = {}
    occupied: dict[tuple, int] = {}
    next_id = 0

    def pos(sub, i, j):
        return lat.position(sub, i, j)

    def inside(p):
        return bool(np.all(np.abs(p) <= half))

    def free(sub, i, j, ignore=None):
        if (sub, i, j) in occupied:
            return False
        p = pos(sub, i, j)
        for did, (c, s2, i2, j2) in state.items():
            if did == ignore:
                continue
            q = pos(s2, i2, j2)
            if (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 < sep2:
                return False
        return True

    def add(cls, tries=50):
        nonlocal next_id
        sub = SUBLATTICE[cls]
        for _ in range(tries):
            i, j = lat.ij[rng.integers(len(lat.ij))]
            i, j = int(i), int(j)
            if inside(pos(sub, i, j)) and free(sub, i, j):
                state[next_id] = [cls, sub, i, j]
                occupied[(sub, i, j)] = next_id
                next_id += 1
                return next_id - 1
        return None

    events = []
    n0 = rng.poisson(k.initial_per_nm2 * area_nm2)
    for cls in rng.choice(MOVIE_CLASSES, size=n0, p=np.asarray(k.initial_fractions)):
        add(str(cls))
    states = [{d: tuple(v) for d, v in state.items()}]
    dose_acc = params.dose_e_per_A2  # after frame 0
    for t in range(1, params.n_frames):
        for did in sorted(state):
            cls, sub, i, j = state[did]
            c = MOVIE_CLASSES.index(cls)
            if rng.random() < death[c]:
                events.append((t, did, "death", cls, cls))
                del occupied[(sub, i, j)]
                del state[did]
                continue
            new = MOVIE_CLASSES[rng.choice(len(MOVIE_CLASSES), p=T[c])]
            if new != cls:
                events.append((t, did, "change", cls, new))
                state[did][0] = cls = new
                c = MOVIE_CLASSES.index(cls)
            if rng.random() < hop[c]:
                di, dj = nbr[rng.integers(6)]
                ni, nj = i + int(di), j + int(dj)
                if inside(pos(sub, ni, nj)) and free(sub, ni, nj, ignore=did):
                    del occupied[(sub, i, j)]
                    occupied[(sub, ni, nj)] = did
                    state[did][2:] = [ni, nj]
                    events.append((t, did, "hop", cls, cls))
                else:
                    events.append((t, did, "hop_blocked", cls, cls))
        rate = (area_nm2 * k.birth_per_nm2 * params.dose_e_per_A2 / k.birth_reference_dose_e_per_A2
                * (1 + k.birth_growth_per_1e6 * dose_acc / 1e6))
        for cls in rng.choice(MOVIE_CLASSES, size=rng.poisson(rate), p=np.asarray(k.birth_fractions)):
            did = add(str(cls))
            if did is not None:
                events.append((t, did, "birth", str(cls), str(cls)))
        dose_acc += params.dose_e_per_A2
        states.append({d: tuple(v) for d, v in state.items()})
    ev = pd.DataFrame(events, columns=["frame", "defect_id", "event", "from_class", "to_class"])
    return states, ev, lat


# ----------------------------------------------------------------------------------------------
# Imaging


def probe_kernel(shape: tuple[int, int], pixel_size_A: float, fwhm_A: float, tail_fwhm_A: float,
                 tail_weight: float) -> np.ndarray:
    """Probe intensity on a periodic grid centred at (0, 0): Gaussian core (peak 1) + weak tail."""
    ps = check_pixel_size(pixel_size_A)
    y = np.fft.fftfreq(shape[0]) * shape[0] * ps
    x = np.fft.fftfreq(shape[1]) * shape[1] * ps
    r2 = y[:, None] ** 2 + x[None, :] ** 2
    s_core = fwhm_A / (2 * np.sqrt(2 * np.log(2)))
    s_tail = tail_fwhm_A / (2 * np.sqrt(2 * np.log(2)))
    return np.exp(-r2 / (2 * s_core**2)) + tail_weight * np.exp(-r2 / (2 * s_tail**2))


def splat(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, weights: np.ndarray
          ) -> np.ndarray:
    """Deposit point weights at sub-pixel (row, col) positions with bilinear weights."""
    img = np.zeros(shape, dtype=np.float64)
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)),
                      (1, 1, fr * fc)):
        rr, cc = r0 + dr, c0 + dc
        ok = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        np.add.at(img, (rr[ok], cc[ok]), (weights * w)[ok])
    return img


def render_columns(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
                   kernel_ft: np.ndarray) -> np.ndarray:
    """Incoherent image of point columns: sub-pixel splat, then FFT convolution with the probe.

    ``kernel_ft`` is ``np.fft.rfft2`` of :func:`probe_kernel` on the same grid. Returns the HAADF
    signal in units of the beam fraction (a column of weight w peaks at ≈ w).
    """
    img = splat(shape, rows, cols, weights)
    return np.clip(np.fft.irfft2(np.fft.rfft2(img) * kernel_ft, s=shape), 0, None)


def _smooth_field(shape, scale_px, rng):
    """A smooth random field in [0, 1] (contamination), by low-pass filtering white noise."""
    noise = rng.normal(size=shape)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    filt = np.exp(-2 * (np.pi * scale_px) ** 2 * (kx**2 + ky**2))
    f = np.fft.irfft2(np.fft.rfft2(noise) * filt, s=shape)
    f -= f.min()
    return f / max(f.max(), 1e-12)


def frame_transform(params: MovieParams, drift_A: np.ndarray, xy_sample_A: np.ndarray) -> np.ndarray:
    """Sample coordinates (Å, origin at the region centre) → frame coordinates (Å, origin top-left).

    Drift shifts the lattice between frames; the scan distortion adds a shear of x with y and a
    slight y scale, as slow drift during a raster scan does.
    """
    half_frame = params.frame_px * params.pixel_size_A / 2
    x = xy_sample_A[:, 0] + drift_A[0]
    y = xy_sample_A[:, 1] + drift_A[1]
    y_f = y * (1 + params.scan_y_scale) + half_frame
    x_f = x + params.scan_shear * (y_f - half_frame) + half_frame
    return np.stack([x_f, y_f], axis=1)


@dataclass
class Movie:
    """A movie, its ground truth and its parameters."""

    frames: np.ndarray  # (n_frames, H, W) float32, detector counts
    truth: pd.DataFrame  # one row per frame and defect (in the sample region)
    events: pd.DataFrame  # births, deaths, class changes and hops
    params: MovieParams
    orientation_deg: float
    drift_A: np.ndarray  # (n_frames, 2)
    content_hash: str
    generation_s: float = 0.0
    population: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def pixel_size_A(self) -> float:
        """Pixel size of the frames (Å/px)."""
        return self.params.pixel_size_A

    def visible_truth(self, frame: int | None = None) -> pd.DataFrame:
        """The true defects inside the field of view (of one frame, or of all)."""
        t = self.truth[self.truth["in_view"]]
        return t if frame is None else t[t["frame"] == frame]

    def true_parameters(self) -> dict:
        """The kinetics the movie was generated with, to compare fitted rates against."""
        k = self.params.kinetics
        return {"classes": list(MOVIE_CLASSES), "transitions": [list(r) for r in k.transitions],
                "hop_prob": list(k.hop_prob), "death_prob": list(k.death_prob),
                "birth_per_nm2": k.birth_per_nm2, "birth_growth_per_1e6": k.birth_growth_per_1e6,
                "birth_fractions": list(k.birth_fractions),
                "dose_e_per_A2_per_frame": self.params.dose_e_per_A2}


def same_defects(a: "Movie", b: "Movie", frame: int = 0) -> bool:
    """Whether two movies show the same defects (ids, classes, positions) in a frame."""
    cols = ["defect_id", "class", "x_px", "y_px"]
    ta = a.visible_truth(frame)[cols].reset_index(drop=True)
    tb = b.visible_truth(frame)[cols].reset_index(drop=True)
    return bool(ta.equals(tb))


def generate_movie(params: MovieParams | None = None, progress: bool = True,
                   frames_to: Path | str | None = None, overwrite: bool = False) -> Movie:
    """Generate a movie and its ground truth (no caching; see :func:`standard_movie`).

    ``frames_to``: an ImageJ TIFF path the frames are written to one by one as they are rendered
    (calibrated in nm, as :func:`helpers.formats.write_imagej_tiff` writes it), so a movie longer
    than memory can be made; the movie's ``frames`` are then that file, read frame by frame (a
    :class:`helpers.formats.FrameStack`). Without it the frames are held in memory.
    """
    from tqdm.auto import tqdm

    params = (params or MovieParams()).validate()
    t_start = time.perf_counter()
    kin_seq, img_seq = np.random.SeedSequence(params.seed).spawn(2)
    rng_k = np.random.default_rng(kin_seq)
    rng_i = np.random.default_rng(img_seq)
    theta_deg = (float(rng_k.uniform(0, 60)) if params.orientation_deg is None
                 else float(params.orientation_deg))
    states, events, lat = simulate_kinetics(params, rng_k, np.deg2rad(theta_deg))

    ps = params.pixel_size_A
    H = W = params.frame_px
    pad = int(np.ceil(3 * params.probe_tail_fwhm_A / ps))
    shape = (H + 2 * pad, W + 2 * pad)
    kernel_ft = np.fft.rfft2(probe_kernel(shape, ps, params.probe_fwhm_A, params.probe_tail_fwhm_A,
                                          params.probe_tail_weight))
    n = params.n_frames
    steps = np.asarray(params.drift_velocity_A_per_frame)[None, :] + \
        rng_i.normal(0, params.drift_random_A_per_frame, size=(n, 2))
    steps[0] = 0.0
    drift = np.cumsum(steps, axis=0)
    cont_a = _smooth_field((H, W), params.contamination_scale_A / ps, rng_i)
    cont_b = _smooth_field((H, W), params.contamination_scale_A / ps, rng_i)

    w = {name: column_contrast(cont, params.haadf_exponent) * params.w_column_signal
         for name, cont in COLUMN_CONTENT.items()}
    base = {"metal": lat.xy["metal"], "chalcogen": lat.xy["chalcogen"]}
    index = {(sub, int(i), int(j)): m for sub in base for m, (i, j) in enumerate(lat.ij)}
    counts_per_fraction = params.dose_e_per_A2 * ps**2

    rows = []

    def render_frame(t):
        state = states[t]
        weights = {"metal": np.full(len(lat.ij), w["W"]), "chalcogen": np.full(len(lat.ij), w["S2"])}
        for did, (cls, sub, i, j) in state.items():
            weights[sub][index[(sub, i, j)]] = w[cls]
        ys, xs, ws = [], [], []
        for sub in ("metal", "chalcogen"):
            xy = frame_transform(params, drift[t], base[sub])
            if params.noise and params.thermal_jitter_A > 0:
                xy = xy + rng_i.normal(0, params.thermal_jitter_A, size=xy.shape)
            xs.append(xy[:, 0] / ps + pad)
            ys.append(xy[:, 1] / ps + pad)
            ws.append(weights[sub])
        img = render_columns(shape, np.concatenate(ys), np.concatenate(xs), np.concatenate(ws),
                             kernel_ft)[pad:pad + H, pad:pad + W]
        frac = img + params.contamination_max_fraction * (
            (1 - t / max(n - 1, 1)) * 0.3 * cont_a + (t / max(n - 1, 1)) * cont_b)
        expected = frac * counts_per_fraction + params.dark_counts
        if params.noise:
            frame = apply_detector_noise(expected, rng_i, params.read_noise_counts)
            if params.scanline_jitter_px > 0:
                frame = scanline_jitter(frame, params.scanline_jitter_px, rng_i, correlation=0.6)
        else:
            frame = expected
        # ground truth in the frame's own coordinates (drift and distortion included)
        if state:
            ids = np.array(sorted(state))
            subs = [state[d][1] for d in ids]
            xy_s = np.array([lat.position(state[d][1], state[d][2], state[d][3]) for d in ids])
            xy_f = frame_transform(params, drift[t], xy_s)
            for d, sub, (xa, ya) in zip(ids, subs, xy_f):
                cls, _, i, j = state[d]
                rows.append((t, int(d), cls, sub, i, j, xa / ps, ya / ps, xa, ya))
        return frame.astype(np.float32)

    def render():
        for t in tqdm(range(n), desc="rendering movie", disable=not progress):
            yield render_frame(t)

    if frames_to is None:
        frames = np.empty((n, H, W), dtype=np.float32)
        for t, frame in enumerate(render()):
            frames[t] = frame
    else:
        from .formats import read_frames, write_imagej_tiff

        write_imagej_tiff(frames_to, render(), ps, overwrite, shape=(n, H, W))
        frames = read_frames(frames_to, pixel_size_A=ps).data
    truth = pd.DataFrame(rows, columns=["frame", "defect_id", "class", "sublattice", "site_i",
                                        "site_j", "x_px", "y_px", "x_A", "y_A"])
    fov = W * ps
    truth["in_view"] = ((truth["x_A"] >= 0) & (truth["x_A"] < fov) & (truth["y_A"] >= 0)
                        & (truth["y_A"] < H * ps))
    population = np.array([len(s) for s in states])
    return Movie(frames=frames, truth=truth, events=events, params=params,
                 orientation_deg=theta_deg, drift_A=drift, content_hash=params.content_hash(),
                 generation_s=time.perf_counter() - t_start, population=population)


# ----------------------------------------------------------------------------------------------
# Cache on disk


def movie_path(params: MovieParams) -> Path:
    """Where :func:`standard_movie` caches a movie of these parameters (git-ignored)."""
    return config.GENERATED_DIR / "movies" / f"movie_{params.content_hash()}.h5"


def save_movie(movie: Movie, path: Path, overwrite: bool = False) -> Path:
    """Write frames, truth, events and parameters to HDF5 atomically."""
    import h5py

    with atomic_output(path, overwrite, ".h5.part") as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("frames", data=movie.frames, chunks=(1,) + movie.frames.shape[1:])
        f.create_dataset("drift_A", data=movie.drift_A)
        f.create_dataset("population", data=movie.population)
        for group, df in (("truth", movie.truth), ("events", movie.events)):
            g = f.create_group(group)
            for col in df.columns:
                v = df[col].to_numpy()
                g.create_dataset(col, data=v.astype("S") if v.dtype == object else v)
        f.attrs["params"] = movie.params.to_json()
        f.attrs["content_hash"] = movie.content_hash
        f.attrs["orientation_deg"] = movie.orientation_deg
        f.attrs["generation_s"] = movie.generation_s
        f.attrs["pixel_size_A"] = movie.params.pixel_size_A
        f.attrs["classes"] = json.dumps(list(MOVIE_CLASSES))
        f.attrs["true_parameters"] = json.dumps(movie.true_parameters())
    return Path(path)


def _params_from_json(text: str) -> MovieParams:
    d = json.loads(text)
    kin = d.pop("kinetics")
    kin = KineticsParams(**{k: (tuple(tuple(r) for r in v) if k == "transitions" else
                                tuple(v) if isinstance(v, list) else v) for k, v in kin.items()})
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return MovieParams(**d, kinetics=kin)


def load_movie(path: Path) -> Movie:
    """Read a movie written by :func:`save_movie`."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"movie file {path} not found")
    with h5py.File(path, "r") as f:
        if "frames" not in f or "truth" not in f:
            raise ValueError(f"{path} is not a DefectFinder movie (frames/truth missing)")
        frames = f["frames"][()]
        tables = {}
        for group in ("truth", "events"):
            cols = {}
            for col in f[group]:
                v = f[group][col][()]
                cols[col] = v.astype(str) if v.dtype.kind == "S" else v
            tables[group] = pd.DataFrame(cols)
        params = _params_from_json(f.attrs["params"])
        movie = Movie(frames=frames, truth=tables["truth"], events=tables["events"], params=params,
                      orientation_deg=float(f.attrs["orientation_deg"]), drift_A=f["drift_A"][()],
                      content_hash=str(f.attrs["content_hash"]),
                      generation_s=float(f.attrs["generation_s"]), population=f["population"][()])
    truth_cols = ["frame", "defect_id", "class", "sublattice", "site_i", "site_j", "x_px", "y_px",
                  "x_A", "y_A", "in_view"]
    movie.truth = movie.truth[truth_cols]
    movie.events = movie.events[["frame", "defect_id", "event", "from_class", "to_class"]]
    return movie


def standard_movie(params: MovieParams | None = None, progress: bool = True,
                   refresh: bool = False) -> Movie:
    """The movie for ``params`` (default: the standard movie), from cache or freshly generated.

    The cache file's name is the parameters' content hash, which includes the generator's source:
    a changed generator or parameter never returns a stale movie.
    """
    params = (params or MovieParams()).validate()
    path = movie_path(params)
    if path.exists() and not refresh:
        movie = load_movie(path)
        if movie.content_hash == params.content_hash():
            return movie
    movie = generate_movie(params, progress=progress)
    save_movie(movie, path, overwrite=True)
    return movie
