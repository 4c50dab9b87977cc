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

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.io.readers import read_frames
from helpers.io.writers import write_imagej_tiff
from helpers.library.detector import apply_detector_noise, scanline_jitter
from helpers.library.physics import column_contrast
from helpers.synthetic.files import Movie, load_movie, movie_path, save_movie
from helpers.synthetic.params import (
    COLUMN_CONTENT,
    MOVIE_CLASSES,
    SUBLATTICE,
    MovieParams,
)
from helpers.synthetic.render import _smooth_field, frame_transform, probe_kernel, render_columns


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

    Parameters
    ----------
    params : MovieParams
    rng : numpy.random.Generator
    theta : float
        Lattice orientation (radians).

    Returns
    -------
    states : list of dict
        Per frame: defect id → (class, sublattice, i, j).
    events : DataFrame
        frame, defect_id, event, from_class, to_class.
    lattice : _Lattice
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


def generate_movie(params: MovieParams | None = None, progress: bool = True,
                   frames_to: Path | str | None = None, overwrite: bool = False) -> Movie:
    """Generate a movie and its ground truth (no caching; see :func:`standard_movie`).

    ``frames_to``: an ImageJ TIFF path the frames are written to one by one as they are rendered
    (calibrated in nm, as :func:`helpers.io.writers.write_imagej_tiff` writes it), so a movie longer
    than memory can be made; the movie's ``frames`` are then that file, read frame by frame (a
    :class:`helpers.io.stacks.FrameStack`). Without it the frames are held in memory.

    Parameters
    ----------
    params : MovieParams, optional
        Sample, kinetics and imaging (default: the standard movie's).
    progress : bool
        Show a progress bar.
    frames_to : str or Path, optional
        ImageJ TIFF the frames are streamed to.
    overwrite : bool
        Replace an existing ``frames_to``.

    Returns
    -------
    Movie
        Frames (counts), pixel size (Å/px), the true defects per frame and the parameters.
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


def standard_movie(params: MovieParams | None = None, progress: bool = True,
                   refresh: bool = False) -> Movie:
    """The movie for ``params`` (default: the standard movie), from cache or freshly generated.

    The cache file's name is the parameters' content hash, which includes the generator's source:
    a changed generator or parameter never returns a stale movie.

    Parameters
    ----------
    params : MovieParams, optional
        Movie parameters (default: :func:`helpers.synthetic.params.standard_params`).
    progress : bool
        Show a progress bar when generating.
    refresh : bool
        Generate again even when cached.

    Returns
    -------
    Movie
        As :func:`generate_movie`.
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
