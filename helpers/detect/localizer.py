"""The pixel-wise defect localizer: a small fully convolutional encoder–decoder.

It is trained on frame 1 of a movie only — summed with its next few frames after drift
registration (``LocalizerParams.sum_half_window``), because one frame at a typical dose hides the
chalcogen vacancies — with the FFT method's detections as labels, and then predicts a defect
probability map for every frame (each summed with its neighbours the same way); local maxima of
the map are the defects. The network sees frames at the pixel size it was trained at (frames at
other pixel sizes are resampled first), minus their slow background and normalized per frame
(median 0, robust spread 1), so the dose does not matter to its input scale.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from helpers import config
from helpers.core.atomic import atomic_output
from helpers.core.batches import predict_batches
from helpers.core.validation import check_image, check_pixel_size

LOCALIZER_FILE = "defect_localizer.keras"


#: the same network trained on single frames (for files with fewer frames than a sum needs)
LOCALIZER_SINGLE_FILE = "defect_localizer_single.keras"


@dataclass(frozen=True)
class LocalizerParams:
    """Training set-up of the localizer (lengths in Å)."""

    pixel_size_A: float = 0.2  # the pixel size the network works at
    crop_px: int = 96
    n_crops: int = 1536
    epochs: int = 8
    batch_size: int = 16
    learning_rate: float = 2e-3
    label_radius_A: float = 0.8  # each FFT detection becomes a disc of this radius
    #: dose augmentation: counts are thinned binomially to this fraction (exact Poisson at lower dose)
    min_dose_fraction: float = 0.5
    validation_fraction: float = 0.25  # the right-hand strip of the frame, never cropped for training
    filters: tuple[int, ...] = (16, 32, 64)
    #: the network sees registered sums of 2·h + 1 frames (``registration.registered_sum``): an
    #: S₂ column is below the shot noise of one frame at 10⁴ e/Å², not of five; 0: single frames
    sum_half_window: int = 2
    #: the input minus its Gaussian blur of this width (slow contamination, which grows during a
    #: movie, would otherwise look like defects the network never saw in frame 1); 0: off
    background_A: float = 3.0


def normalize_frame(frame) -> np.ndarray:
    """Frame → float32 with median 0 and robust spread (1.4826 × MAD) 1.

    Parameters
    ----------
    frame : ndarray (H, W)

    Returns
    -------
    ndarray (H, W) float32
    """
    x = check_image(frame, "frame").astype(np.float32)
    med = np.median(x)
    mad = np.median(np.abs(x - med)) * 1.4826
    if mad <= 1e-12:
        mad = float(x.std()) or 1.0
    return (x - med) / mad


def network_input(frame, pixel_size_A: float, background_A: float = 3.0, background=None) -> np.ndarray:
    """What the network sees: the frame minus its slow background (Gaussian blur of
    ``background_A``, or the ``background`` given), normalized (:func:`normalize_frame`).

    Parameters
    ----------
    frame : ndarray (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    background_A : float
        Blur of the background estimate (Å).
    background : ndarray (H, W), optional
        A background to subtract instead.

    Returns
    -------
    ndarray (H, W) float32
    """
    x = check_image(frame, "frame").astype(np.float32)
    if background is not None:
        x = x - background
    elif background_A:
        x = x - ndimage.gaussian_filter(x, background_A / check_pixel_size(pixel_size_A), mode="reflect")
    return normalize_frame(x)


def _bce_dice(y_true, y_pred):
    """Binary cross-entropy + soft Dice loss (defects cover < 1 % of a frame)."""
    import keras.ops as ops
    from keras import losses

    bce = losses.binary_crossentropy(y_true, y_pred)
    inter = ops.sum(y_true * y_pred, axis=(1, 2, 3))
    den = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
    dice = 1.0 - (2.0 * inter + 1.0) / (den + 1.0)
    return ops.mean(bce, axis=(1, 2)) + dice


def resample_frame(frame, pixel_size_A: float, out_pixel_size_A: float) -> np.ndarray:
    """A frame resampled to another pixel size (anti-aliased when made coarser).

    Parameters
    ----------
    frame : ndarray (H, W)
    pixel_size_A, out_pixel_size_A : float
        Pixel sizes in and out (Å/px).

    Returns
    -------
    ndarray
    """
    img = check_image(frame, "frame").astype(np.float64)
    ps, out = check_pixel_size(pixel_size_A), check_pixel_size(out_pixel_size_A, "out_pixel_size_A")
    factor = ps / out
    if factor < 1:
        img = ndimage.gaussian_filter(img, 0.5 / factor)
    return ndimage.zoom(img, factor, order=1, grid_mode=True, mode="nearest").astype(np.float32)


def probability_maps(model, frames, pixel_size_A: float, model_pixel_size_A: float,
                     batch_size: int = 4, background_A: float = 3.0) -> np.ndarray:
    """Defect probability maps (n, H, W) for frames (n, H, W) or one frame (H, W), at the frames'
    own pixel size (frames are resampled to the model's and the maps back); ``background_A`` as
    the model was trained (``LocalizerParams.background_A``).

    Parameters
    ----------
    model : keras.Model
        The localizer.
    frames : ndarray (n, H, W) or (H, W)
        Frames in counts (or sums of frames).
    pixel_size_A : float
        Pixel size of ``frames`` (Å/px).
    model_pixel_size_A : float
        Pixel size the model was trained at (Å/px).
    batch_size : int
        Frames per network call.
    background_A : float
        Background removal scale (Å) the model was trained with.

    Returns
    -------
    ndarray (n, H, W)
        Defect probability per pixel.
    """
    arr = np.asarray(frames, np.float32)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"frames must be 2D (one frame) or 3D (a stack), got shape {arr.shape}")
    ps = check_pixel_size(pixel_size_A)
    h, w = arr.shape[1:]
    resample = abs(ps - model_pixel_size_A) > 1e-6
    xs = [network_input(resample_frame(f, ps, model_pixel_size_A) if resample else f,
                        model_pixel_size_A, background_A) for f in arr]
    hh, ww = xs[0].shape
    m = 8
    ph, pw = (-hh) % m, (-ww) % m
    x = np.stack([np.pad(f, ((0, ph), (0, pw)), mode="reflect") for f in xs])[..., None]
    prob = predict_batches(model, x, batch_size)[:, :hh, :ww, 0]
    if resample:
        prob = np.stack([ndimage.zoom(pm, (h / hh, w / ww), order=1, grid_mode=True,
                                      mode="nearest") for pm in prob])
    return prob[0] if single else prob


def detections_from_map(prob_map, pixel_size_A: float, threshold: float = 0.5,
                        min_distance_A: float = 1.5) -> np.ndarray:
    """Defect positions (row, col) in px: local maxima of the probability map above
    ``threshold``, at least ``min_distance_A`` apart, refined to the map-weighted centroid of the
    3×3 neighbourhood.

    Parameters
    ----------
    prob_map : ndarray (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    threshold : float
    min_distance_A : float
        Smallest distance between detections (Å).

    Returns
    -------
    ndarray (n, 2)
        (row, col) px.
    """
    from skimage.feature import peak_local_max

    m = check_image(prob_map, "probability map")
    ps = check_pixel_size(pixel_size_A)
    pk = peak_local_max(m, min_distance=max(1, int(round(min_distance_A / ps))),
                        threshold_abs=threshold, exclude_border=False)
    out = np.empty((len(pk), 2))
    for k, (r, c) in enumerate(pk):
        r0, r1, c0, c1 = max(r - 1, 0), min(r + 2, m.shape[0]), max(c - 1, 0), min(c + 2, m.shape[1])
        patch = m[r0:r1, c0:c1]
        yy, xx = np.mgrid[r0:r1, c0:c1]
        out[k] = (yy * patch).sum() / patch.sum(), (xx * patch).sum() / patch.sum()
    return out


def save_localizer(model, params: LocalizerParams, path: Path, overwrite: bool = False) -> Path:
    """The model (Keras v3) and, beside it, its parameters as JSON (pixel size above all).

    Parameters
    ----------
    model : keras.Model
    params : LocalizerParams
    path : Path
        The ``.keras`` file.
    overwrite : bool

    Returns
    -------
    Path
    """
    path = Path(path)
    with atomic_output(path, overwrite, ".part.keras") as tmp:
        model.save(tmp)
    meta = path.with_suffix(".json")
    with atomic_output(meta, True, ".json.part") as tmp:
        Path(tmp).write_text(json.dumps(asdict(params), indent=1))
    return path


def load_localizer(path: Path | None = None):
    """(model, params, path): this profile's localizer (notebook 02), else the shipped one.

    Parameters
    ----------
    path : Path, optional
        A ``.keras`` file with its JSON beside it.

    Returns
    -------
    (keras.Model, LocalizerParams, Path)
    """
    import keras


    candidates = [Path(path)] if path else [config.models_dir() / LOCALIZER_FILE,
                                            config.MODELS_DIR / LOCALIZER_FILE]
    for p in candidates:
        if p.exists():
            meta = json.loads(p.with_suffix(".json").read_text())
            meta["filters"] = tuple(meta["filters"])
            meta.setdefault("sum_half_window", 0)  # localizers saved before these fields saw
            meta.setdefault("background_A", 0.0)  # single frames, background included
            model = keras.models.load_model(p, custom_objects={"_bce_dice": _bce_dice})
            return model, LocalizerParams(**meta), p
    raise FileNotFoundError(f"no trained localizer at {[str(c) for c in candidates]} (run notebook 02)")
