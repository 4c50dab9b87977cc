"""Training the pixel-wise localizer (notebook 02): labels from the FFT method, training crops with dose thinning, the network and its training on one frame (or a registered sum of the first frames)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from helpers.core.validation import check_image, check_pixel_size
from helpers.detect.localizer import LocalizerParams, _bce_dice, network_input, resample_frame
from helpers.detect.peaks import fft_labels


def build_localizer(filters: tuple[int, ...] = (16, 32, 64), learning_rate: float = 2e-3):
    """A compiled U-Net-style encoder–decoder for (H, W, 1) frames of any size divisible by
    2^(len(filters) − 1); output: per-pixel defect probability (H, W, 1).

    Parameters
    ----------
    filters : tuple of int
        Filters per encoder level.
    learning_rate : float
        Adam's learning rate.

    Returns
    -------
    keras.Model
    """
    import keras
    from keras import layers

    def block(x, f, name):
        for k in range(2):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"{name}_conv{k}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{k}")(x)
            x = layers.Activation("relu", name=f"{name}_relu{k}")(x)
        return x

    inp = keras.Input((None, None, 1), name="frame")
    skips, x = [], inp
    for i, f in enumerate(filters[:-1]):
        x = block(x, f, f"enc{i}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = block(x, filters[-1], "bottleneck")
    for i, f in reversed(list(enumerate(filters[:-1]))):
        x = layers.UpSampling2D(2, name=f"up{i}")(x)
        x = layers.Concatenate(name=f"skip{i}")([x, skips[i]])
        x = block(x, f, f"dec{i}")
    out = layers.Conv2D(1, 1, activation="sigmoid", name="defect_probability")(x)
    model = keras.Model(inp, out, name="defect_localizer")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=_bce_dice,
                  metrics=["binary_accuracy"])
    return model


def disc_labels(shape, points_rc, radius_px: float) -> np.ndarray:
    """float32 map with discs of ``radius_px`` around each (row, col) point.

    Parameters
    ----------
    shape : (int, int)
    points_rc : ndarray (n, 2)
        (row, col) px.
    radius_px : float

    Returns
    -------
    ndarray (H, W) float32
    """
    lab = np.zeros(shape, np.float32)
    r = int(np.ceil(radius_px))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    for pr, pc in np.asarray(points_rc, float).reshape(-1, 2):
        r0, c0 = int(round(pr)), int(round(pc))
        inside = (yy + r0 - pr) ** 2 + (xx + c0 - pc) ** 2 <= radius_px**2
        rr, cc = yy[inside] + r0, xx[inside] + c0
        ok = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        lab[rr[ok], cc[ok]] = 1.0
    return lab


def fft_detections(frame, pixel_size_A: float, threshold: float = 6.0, min_distance_A: float = 1.5,
                   **fft_kwargs) -> np.ndarray:
    """Defect positions (row, col) in px by the FFT method: local maxima of the residual z-map
    above ``threshold`` inside the FFT labels, at least ``min_distance_A`` apart (``fft_kwargs``
    go to :func:`helpers.detect.peaks.fft_labels`: ``method``, ``valid``, …).

    Parameters
    ----------
    frame : ndarray (H, W)
        In counts.
    pixel_size_A : float
        Pixel size (Å/px).
    threshold : float
        z-score of a detection.
    min_distance_A : float
        Smallest distance between detections (Å).
    **fft_kwargs
        Options of :func:`helpers.detect.peaks.fft_labels`.

    Returns
    -------
    ndarray (n, 2)
        (row, col) px.
    """
    from skimage.feature import peak_local_max


    ps = check_pixel_size(pixel_size_A)
    lab = fft_labels(frame, ps, threshold=threshold, **fft_kwargs)
    z = np.where(lab.labels, lab.residual, 0.0)
    return peak_local_max(z, min_distance=max(1, int(round(min_distance_A / ps))),
                          threshold_abs=threshold, exclude_border=False).astype(float)


def _thin(counts: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Binomial thinning of a counts image: Poisson(λ) → Poisson(fraction·λ), rescaled back."""
    n = np.clip(np.round(counts), 0, None).astype(np.int64)
    return rng.binomial(n, fraction).astype(np.float32) / fraction


def training_crops(frame, label_map, p: LocalizerParams, rng: np.random.Generator, columns=None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Random crops (with the 8 flips/rotations and dose thinning) of a frame and its labels.

    ``columns`` (c0, c1) restricts crops to that column range of the frame.

    Parameters
    ----------
    frame : ndarray (H, W)
    label_map : ndarray (H, W)
    p : LocalizerParams
    rng : numpy.random.Generator
    columns : (int, int), optional
        Column range the crops come from.

    Returns
    -------
    x, y : ndarray (n, s, s, 1)
        Crops of the network input and of the labels.
    """
    img = check_image(frame, "frame")
    h, w = img.shape
    # the background of the whole frame (a crop's own blur would differ at its edges); thinning
    # keeps the expected counts, so the same background serves every dose fraction
    bg = (ndimage.gaussian_filter(img.astype(np.float32), p.background_A / p.pixel_size_A, mode="reflect")
          if p.background_A else np.zeros(img.shape, np.float32))
    c0, c1 = columns if columns is not None else (0, w)
    cp = p.crop_px
    if h < cp or c1 - c0 < cp:
        raise ValueError(f"frame region {h}×{c1 - c0} px is smaller than a {cp} px training crop")
    xs = np.empty((p.n_crops, cp, cp, 1), np.float32)
    ys = np.empty((p.n_crops, cp, cp, 1), np.float32)
    for k in range(p.n_crops):
        r = rng.integers(0, h - cp + 1)
        c = rng.integers(c0, c1 - cp + 1)
        x = img[r:r + cp, c:c + cp]
        y = label_map[r:r + cp, c:c + cp]
        frac = rng.uniform(p.min_dose_fraction, 1.0)
        if frac < 0.999:
            x = _thin(x, frac, rng)
        x = network_input(x, p.pixel_size_A, background=bg[r:r + cp, c:c + cp])
        rot, flip = rng.integers(4), rng.integers(2)
        x, y = np.rot90(x, rot), np.rot90(y, rot)
        if flip:
            x, y = x[:, ::-1], y[:, ::-1]
        xs[k, ..., 0] = x
        ys[k, ..., 0] = y
    return xs, ys


@dataclass
class LocalizerTraining:
    """A trained localizer with its parameters, history, wall time and the label points (row, col
    px) it learnt from."""
    model: object
    params: LocalizerParams
    history: dict
    seconds: float
    label_points_rc: np.ndarray


def train_localizer(frame, pixel_size_A: float, seed: int, p: LocalizerParams = LocalizerParams(),
                    label_points_rc=None, valid=None, verbose: int = 2) -> LocalizerTraining:
    """Train the localizer on one frame, labelled by :func:`fft_detections` (or the points given).

    ``frame`` is what the network will see: a single frame, or (``p.sum_half_window`` > 0) the
    registered sum of the first frames (``registration.registered_sum``; ``valid`` its map of
    fully covered pixels, outside which no label is made). Training crops come from the left
    (1 − validation_fraction) of the frame, validation crops from the rest, so the validation loss
    is measured on pixels never trained on.

    Parameters
    ----------
    frame : ndarray (H, W)
        The frame (or registered sum) to train on, in counts.
    pixel_size_A : float
        Its pixel size (Å/px).
    seed : int
        Seed of the crops and the network's initialisation.
    p : LocalizerParams
        Network, crops, epochs, label radius and frame sums.
    label_points_rc : ndarray (n, 2), optional
        Defect positions (row, col px) to label instead of the FFT detections.
    valid : ndarray (H, W) of bool, optional
        Pixels where labels may be made.
    verbose : int
        Keras verbosity.

    Returns
    -------
    LocalizerTraining
        The model, its parameters, history, training time (s) and the label points (row, col px).
    """
    import keras

    img = check_image(frame, "frame", min_shape=(p.crop_px, p.crop_px))
    ps = check_pixel_size(pixel_size_A)
    if valid is not None:
        valid = np.asarray(valid, bool)
        if valid.shape != img.shape:
            raise ValueError(f"valid map has shape {valid.shape}, frame {img.shape}")
    if abs(ps - p.pixel_size_A) > 1e-6:
        img = resample_frame(img, ps, p.pixel_size_A)
        if valid is not None:
            valid = ndimage.zoom(valid.astype(np.float32), np.divide(img.shape, valid.shape),
                                 order=0, grid_mode=True, mode="nearest") > 0.5
    pts = fft_detections(img, p.pixel_size_A, valid=valid) if label_points_rc is None else \
        np.asarray(label_points_rc, float).reshape(-1, 2) * ps / p.pixel_size_A
    lab = disc_labels(img.shape, pts, p.label_radius_A / p.pixel_size_A)
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    split = int(round(img.shape[1] * (1 - p.validation_fraction)))
    if split < p.crop_px or img.shape[1] - split < p.crop_px:
        split = img.shape[1]  # too small to hold out a strip: validate on the training region
    x_tr, y_tr = training_crops(img, lab, p, rng, columns=(0, split))
    val = (0, img.shape[1]) if split == img.shape[1] else (split, img.shape[1])
    p_val = LocalizerParams(**{**asdict(p), "n_crops": max(p.n_crops // 6, 16)})
    x_va, y_va = training_crops(img, lab, p_val, rng, columns=val)
    model = build_localizer(p.filters, p.learning_rate)
    t0 = time.perf_counter()
    h = model.fit(x_tr, y_tr, validation_data=(x_va, y_va), epochs=p.epochs, batch_size=p.batch_size,
                  verbose=verbose, shuffle=True)
    dt = time.perf_counter() - t0
    return LocalizerTraining(model, p, {k: [float(v) for v in vs] for k, vs in h.history.items()},
                             dt, pts)
