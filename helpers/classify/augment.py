"""Augmentation of the simulated library into the classifier's data set.

Every augmented image is cut afresh from the *simulated field* of its library image (not from the
64×64 window), so rotations, shear and zoom never invent pixels at the border. Then, in order:

1. the poster's geometry: rotation ±10° about the library orientation, shear (factor ≤ 0.2),
   zoom 0.7–1.0 (magnification 1–1.43×), horizontal and vertical flips;
2. physically motivated distortions of real movies: extra probe blur, slow background, contrast
   and gamma changes, scan-line jitter;
3. normalization to [0, 1] (robust percentiles) — the same as :func:`normalize` applies to movie
   windows;
4. one noise model: none, Gaussian (var 0.01), salt & pepper, speckle, Poisson at a sampled dose,
   or a mixture of two (scikit-image's ``random_noise`` for the poster's models).

Deterministic: image ``k`` of a data set with seed ``s`` draws from ``SeedSequence([s, k])``, so the
same seed gives the same images regardless of chunking. Lengths in Å.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.util import random_noise

from helpers.core.validation import check_image, check_pixel_size
from helpers.core.windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX
from helpers.library.detector import scanline_jitter
from helpers.library.simulate import apply_source_size

NOISE_TYPES: tuple[str, ...] = ("none", "gaussian", "s&p", "speckle", "poisson", "mixed")


@dataclass(frozen=True)
class AugmentParams:
    """Ranges of every augmentation (the poster's geometry and noise, plus real-movie distortions)."""

    rotation_deg: float = 10.0
    #: random offset of the defect from the window centre (Å, each axis), as a detector's
    #: position error would give; the true offset is recorded
    shift_A: float = 1.0
    shear: float = 0.2
    zoom: tuple[float, float] = (0.7, 1.0)
    flips: bool = True
    extra_blur_fwhm_A: tuple[float, float] = (0.0, 0.6)
    background_fraction: tuple[float, float] = (0.0, 0.3)
    gamma: tuple[float, float] = (0.7, 1.4)
    contrast: tuple[float, float] = (0.6, 1.0)
    scanline_jitter_px: tuple[float, float] = (0.0, 0.4)
    gaussian_var: float = 0.01
    sp_amount: tuple[float, float] = (0.005, 0.03)
    speckle_var: float = 0.01
    #: Poisson noise: expected counts at the brightest column
    poisson_peak_counts: tuple[float, float] = (4.0, 60.0)
    noise_probs: tuple[float, ...] = (0.1, 0.18, 0.18, 0.18, 0.18, 0.18)

    def __post_init__(self):
        if len(self.noise_probs) != len(NOISE_TYPES) or not np.isclose(sum(self.noise_probs), 1):
            raise ValueError(f"noise_probs must hold {len(NOISE_TYPES)} probabilities summing to one")
        if not (0 < self.zoom[0] <= self.zoom[1]):
            raise ValueError(f"zoom range must be positive and ordered, got {self.zoom}")


def normalize(window, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """Scale a window to [0, 1] between robust percentiles (float32).

    Parameters
    ----------
    window : ndarray (H, W)
    low_pct, high_pct : float
        Percentiles mapped to 0 and 1.

    Returns
    -------
    ndarray (H, W) float32
    """
    img = check_image(window, "window").astype(np.float32)
    lo, hi = np.percentile(img, [low_pct, high_pct])
    if hi - lo <= 1e-12:
        return np.zeros_like(img)
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def affine_window(field, pixel_size_A: float, centre_rc_px, angle_deg: float = 0.0, shear: float = 0.0,
                  zoom: float = 1.0, flip_h: bool = False, flip_v: bool = False,
                  out_px: int = WINDOW_PX, out_pixel_size_A: float = LIBRARY_PIXEL_SIZE_A,
                  order: int = 1, defect_offset_A: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A window cut from ``field`` with rotation, shear, zoom and flips about ``centre_rc_px``.

    ``zoom`` < 1 magnifies (the window covers ``zoom`` × its nominal field of view). The field point
    ``centre_rc_px`` lands ``defect_offset_A`` (row, col; Å of the output) from the window centre,
    i.e. at output pixel ``out_px // 2 + defect_offset_A / out_pixel_size_A``.

    Parameters
    ----------
    field : ndarray (H, W)
        A simulated field.
    pixel_size_A : float
        Its pixel size (Å/px).
    centre_rc_px : (float, float)
        The defect in the field (px).
    angle_deg, shear, zoom : float
        Rotation (degrees), shear factor and zoom.
    flip_h, flip_v : bool
        Mirror left–right, up–down.
    out_px : int
        Window size (px).
    out_pixel_size_A : float
        Window pixel size (Å/px).
    order : int
        Interpolation order.
    defect_offset_A : (float, float)
        Where the defect lands from the window centre (Å).

    Returns
    -------
    ndarray (out_px, out_px) float32
    """
    img = check_image(field, "field")
    ps = check_pixel_size(pixel_size_A)
    out_ps = check_pixel_size(out_pixel_size_A, "out_pixel_size_A")
    c = out_px // 2
    idx = (np.arange(out_px) - c) * out_ps
    dy, dx = np.meshgrid(idx - defect_offset_A[0], idx - defect_offset_A[1], indexing="ij")
    dy, dx = dy * zoom, dx * zoom
    if flip_h:
        dx = -dx
    if flip_v:
        dy = -dy
    dx = dx + shear * dy
    t = np.deg2rad(angle_deg)
    sx = np.cos(t) * dx - np.sin(t) * dy
    sy = np.sin(t) * dx + np.cos(t) * dy
    coords = np.stack([centre_rc_px[0] + sy / ps, centre_rc_px[1] + sx / ps])
    return ndimage.map_coordinates(np.asarray(img, np.float64), coords, order=order,
                                   mode="nearest").astype(np.float32)


def add_noise(img01: np.ndarray, kind: str, rng: np.random.Generator, p: AugmentParams) -> np.ndarray:
    """One of the noise models on a [0, 1] image; returns a [0, 1] float32 image.

    Parameters
    ----------
    img01 : ndarray (H, W)
        Image in [0, 1].
    kind : str
        One of :data:`NOISE_TYPES`.
    rng : numpy.random.Generator
    p : AugmentParams
        Noise strengths.

    Returns
    -------
    ndarray (H, W) float32 in [0, 1]
    """
    if kind not in NOISE_TYPES:
        raise ValueError(f"unknown noise type {kind!r}; known: {NOISE_TYPES}")
    img = np.clip(img01.astype(np.float64), 0, 1)
    if kind == "none":
        out = img
    elif kind == "gaussian":
        out = random_noise(img, mode="gaussian", var=p.gaussian_var, rng=rng)
    elif kind == "s&p":
        out = random_noise(img, mode="s&p", amount=float(rng.uniform(*p.sp_amount)), rng=rng)
    elif kind == "speckle":
        out = random_noise(img, mode="speckle", var=p.speckle_var, rng=rng)
    elif kind == "poisson":
        peak = float(rng.uniform(*p.poisson_peak_counts))
        out = rng.poisson(img * peak) / peak
    else:  # mixed: two different models in sequence
        a, b = rng.choice(np.arange(1, 5), size=2, replace=False)
        out = add_noise(add_noise(img, NOISE_TYPES[a], rng, p), NOISE_TYPES[b], rng, p)
        return out
    return np.clip(out, 0, 1).astype(np.float32)


def distort_one(field, field_pixel_size_A: float, centre_rc_px, orientation_deg: float,
                source_fwhm_A: float, rng: np.random.Generator, p: AugmentParams = AugmentParams()
                ) -> tuple[np.ndarray, tuple[float, float]]:
    """Steps 1–3 of the augmentation (geometry, distortions, normalization): the noise-free
    64×64 window at 0.3 Å/px and the defect's (row, col) position in it (px).

    Parameters
    ----------
    field : ndarray (H, W)
        A simulated field.
    field_pixel_size_A : float
        Its pixel size (Å/px).
    centre_rc_px : (float, float)
        The defect in the field (px).
    orientation_deg : float
        The library image's orientation (degrees).
    source_fwhm_A : float
        Its source-size blur (Å).
    rng : numpy.random.Generator
    p : AugmentParams

    Returns
    -------
    window : ndarray (64, 64) float32
    defect_rc : (float, float)
        Defect position in the window (px).
    """

    angle = orientation_deg + rng.uniform(-p.rotation_deg, p.rotation_deg)
    shear = rng.uniform(-p.shear, p.shear)
    zoom = rng.uniform(*p.zoom)
    fh, fv = (rng.random() < 0.5, rng.random() < 0.5) if p.flips else (False, False)
    blur = float(np.hypot(source_fwhm_A, rng.uniform(*p.extra_blur_fwhm_A)))
    # source size and extra probe blur on the field, in Å (before zoom changes the sampling)
    f = apply_source_size(field, field_pixel_size_A, blur)
    off = (float(rng.uniform(-p.shift_A, p.shift_A)), float(rng.uniform(-p.shift_A, p.shift_A)))
    w = affine_window(f, field_pixel_size_A, centre_rc_px, angle, shear, zoom, fh, fv, order=1,
                      defect_offset_A=off)
    rc = (WINDOW_PX // 2 + off[0] / LIBRARY_PIXEL_SIZE_A, WINDOW_PX // 2 + off[1] / LIBRARY_PIXEL_SIZE_A)
    w = normalize(w)
    # slow background: a tilted plane plus a broad bump
    yy, xx = np.mgrid[-1:1:complex(0, w.shape[0]), -1:1:complex(0, w.shape[1])]
    gx, gy = rng.normal(0, 1, 2)
    cy, cx = rng.uniform(-1, 1, 2)
    bg = 0.5 * (gx * xx + gy * yy) + np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.8)
    bg = (bg - bg.min()) / max(np.ptp(bg), 1e-9)
    w = w + rng.uniform(*p.background_fraction) * bg
    w = np.clip(w / max(w.max(), 1e-9), 0, 1) ** rng.uniform(*p.gamma)
    w = w * rng.uniform(*p.contrast)
    if rng.random() < 0.5:
        w = scanline_jitter(w, rng.uniform(*p.scanline_jitter_px), rng)
    return normalize(w), rc


def augment_one(field, field_pixel_size_A: float, centre_rc_px, orientation_deg: float,
                source_fwhm_A: float, rng: np.random.Generator, p: AugmentParams = AugmentParams(),
                noise: str | None = None) -> tuple[np.ndarray, str, tuple[float, float]]:
    """One augmented, normalized 64×64 window at 0.3 Å/px, its noise model and the defect's
    (row, col) position in the window (px): :func:`distort_one`, then one noise model.

    Parameters
    ----------
    field, field_pixel_size_A, centre_rc_px, orientation_deg, source_fwhm_A, rng, p
        As :func:`distort_one`.
    noise : str, optional
        Force this noise model (default: drawn from ``p.noise_probs``).

    Returns
    -------
    window : ndarray (64, 64) float32
    noise : str
    defect_rc : (float, float)
        Defect position in the window (px).
    """
    w, rc = distort_one(field, field_pixel_size_A, centre_rc_px, orientation_deg, source_fwhm_A, rng, p)
    kind = noise or str(rng.choice(NOISE_TYPES, p=np.asarray(p.noise_probs)))
    return add_noise(w, kind, rng, p), kind, rc


@dataclass
class AugmentedSet:
    """An augmented data set: windows, labels, the library image each came from (the split's
    group), noise model and true defect position."""
    images: np.ndarray  # (n, 64, 64) float16 in [0, 1]
    labels: np.ndarray
    source: np.ndarray  # index of the library image each was made from (the split's group)
    noise: np.ndarray  # noise model names
    defect_rc: np.ndarray  # (n, 2) true defect position in each window (px)
    seed: int
    library_kind: str


def source_indices(lib, image_indices, balance: str = "library") -> np.ndarray:
    """The library image each augmented image ``k`` is made from (independent of the set's size).

    Parameters
    ----------
    lib : Library
    image_indices : array-like of int
        Indices into the augmented set.
    balance : {"library", "class"}

    Returns
    -------
    ndarray of int
        Library image indices.
    """
    k = np.asarray(image_indices, dtype=np.int64)
    if balance == "library":
        return k % len(lib)
    if balance == "class":
        per = [np.flatnonzero(lib.labels == c) for c in range(len(lib.class_names))]
        return np.array([per[j % len(per)][(j // len(per)) % len(per[j % len(per)])] for j in k],
                        dtype=np.int64)
    raise ValueError(f"balance must be 'library' or 'class', got {balance!r}")


def augment_images(lib, seed: int, indices, p: AugmentParams = AugmentParams(), balance: str = "library",
                   noise: bool = True, progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images ``indices`` of the augmented set (``lib``, ``seed``): image ``k`` draws from
    ``SeedSequence([seed, k])``, so any subset is the same as in the whole set. Returns the windows
    (n, 64, 64) float16, their noise models and the defects' (row, col) positions (px); with
    ``noise=False`` the windows before the noise model (:func:`distort_one`; the noise models are
    then not drawn and come back empty).

    Parameters
    ----------
    lib : Library
    seed : int
        The set's seed.
    indices : array-like of int
        Which images of the set.
    p : AugmentParams
    balance : {"library", "class"}
    noise : bool
        Add the noise models (False: the windows before noise).
    progress : bool
        Show a progress bar.

    Returns
    -------
    windows : ndarray (n, 64, 64) float16
    noise : ndarray of str
    defect_rc : ndarray (n, 2)
        Defect positions (px).
    """
    from tqdm.auto import tqdm

    if not lib.fields:
        raise ValueError("the library file has no stored fields to augment from")
    idx = np.asarray(indices, dtype=np.int64)
    fields = lib.fields["images"]
    ps = float(lib.attrs["field_pixel_size_A"])
    n = fields.shape[-1]
    centre = (float(n // 2), float(n // 2))
    src = source_indices(lib, idx, balance)
    images = np.empty((len(idx), WINDOW_PX, WINDOW_PX), np.float16)
    kinds = np.full(len(idx), "", dtype=object)
    rcs = np.empty((len(idx), 2))
    desc = f"augmenting {lib.attrs.get('kind', '')}" if noise else "noise-free windows"
    for j in tqdm(range(len(idx)), desc=desc, disable=not progress, mininterval=1.0):
        rng = np.random.default_rng(np.random.SeedSequence([seed, int(idx[j])]))
        i = int(src[j])
        args = (fields[lib.field_index[i]], ps, centre, float(lib.orientation_deg[i]),
                float(lib.source_fwhm_A[i]), rng, p)
        if noise:
            images[j], kinds[j], rcs[j] = augment_one(*args)
        else:
            images[j], rcs[j] = distort_one(*args)
    return images, kinds.astype(str), rcs


def augment_library(lib, n_images: int, seed: int, p: AugmentParams = AugmentParams(),
                    progress: bool = True, balance: str = "library") -> AugmentedSet:
    """``n_images`` augmented windows from a loaded library (see :func:`helpers.library.files.load_library`).

    ``balance='library'`` cycles through the library images in order (class proportions as in the
    library, as the poster did); ``'class'`` draws the same number per class.

    Parameters
    ----------
    lib : Library
        A loaded library.
    n_images : int
        Augmented windows to make.
    seed : int
        Seed of every random draw (the same seed gives the same windows).
    p : AugmentParams
        Geometry, optics, detector and noise settings.
    progress : bool
        Show a progress bar.
    balance : {"library", "class"}
        How source images are drawn.

    Returns
    -------
    AugmentedSet
        Windows (n, 64, 64) float16 in [0, 1], labels, source indices, noise types and defect
        positions (px).
    """
    if n_images < 1:
        raise ValueError(f"n_images must be positive, got {n_images}")
    k = np.arange(n_images)
    src = source_indices(lib, k, balance)
    images, noise, rcs = augment_images(lib, seed, k, p, balance, progress=progress)
    return AugmentedSet(images=images, labels=lib.labels[src].astype(np.int64), source=src,
                        noise=noise, defect_rc=rcs, seed=seed, library_kind=str(lib.attrs.get("kind")))


