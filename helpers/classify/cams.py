"""Class activation maps (Zhou et al., CVPR 2016) of the classifier and their peak positions (px, Å)."""
from __future__ import annotations

import numpy as np

from helpers.classify.classifier import (
    LAST_CONV,
    MIRROR_VIEWS,
    as_input,
    stack_views,
    unmirror_mean,
)
from helpers.core.batches import predict_batches
from helpers.core.windows import LIBRARY_PIXEL_SIZE_A


def cam_weights(model) -> tuple[np.ndarray, np.ndarray]:
    """Effective linear map (features → class logits) of the head: W (k, n_classes), b (n_classes).

    Dense → BatchNorm (inference: affine) → Dropout (identity) → Dense: a composition of affine maps.

    Parameters
    ----------
    model : keras.Model
        From :func:`helpers.classify.classifier.build_classifier`.

    Returns
    -------
    W : ndarray (k, n_classes)
    b : ndarray (n_classes,)
    """
    d1 = model.get_layer("dense")
    bn = model.get_layer("dense_bn")
    d2 = model.get_layer("predictions")
    W1, b1 = [np.asarray(w) for w in d1.get_weights()]
    gamma, beta, mean, var = [np.asarray(w) for w in bn.get_weights()]
    scale = gamma / np.sqrt(var + bn.epsilon)
    W2, b2 = [np.asarray(w) for w in d2.get_weights()]
    W = (W1 * scale[None, :]) @ W2
    b = ((b1 - mean) * scale + beta) @ W2 + b2
    return W, b


def class_activation_maps(model, images, classes=None, batch_size: int = 512, flips: bool = False,
                          chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """CAMs for a batch, upsampled to the window size, and the class probabilities.

    One model that outputs the last conv map and the predictions runs over the windows ``chunk``
    at a time. ``classes`` (n,) selects the class of each map (default: the predicted class).
    ``flips=True`` runs each window's four mirror views (:data:`MIRROR_VIEWS`) in the same pass,
    mirrors their maps back and averages maps and probabilities: what the network learned off-centre
    in one view cancels against the mirrored views (notebook 05 measures the effect on position
    errors). Returns (cams (n, H, W) float32, probabilities (n, n_classes)).

    Parameters
    ----------
    model : keras.Model
        The classifier (its last convolution named ``last_conv``).
    images : ndarray (n, 64, 64)
        Normalised windows.
    classes : ndarray (n,), optional
        Class of each map (default: the predicted class).
    batch_size, chunk : int
        Windows per prediction batch and per pass.
    flips : bool
        Average over the four mirror views.

    Returns
    -------
    cams : ndarray (n, 64, 64) float32
        Class activation maps at window resolution.
    probabilities : ndarray (n, n_classes)
    """
    import keras

    x = as_input(images)
    if classes is not None:
        classes = np.asarray(classes, dtype=int)
        if classes.shape != (len(x),):
            raise ValueError(f"classes must have one entry per image, got shape {classes.shape}")
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    sub = keras.Model(model.inputs, [model.get_layer(LAST_CONV).output, model.output])
    W, _ = cam_weights(model)
    views = MIRROR_VIEWS if flips else MIRROR_VIEWS[:1]
    fh, fw = sub.outputs[0].shape[1:3]
    cams = np.zeros((len(x), fh, fw), np.float32)
    probs = np.zeros((len(x), W.shape[1]), np.float32)
    for i in range(0, len(x), chunk):
        xc = x[i:i + chunk]
        m = len(xc)
        feats, p = predict_batches(sub, stack_views(xc, views), batch_size)
        probs[i:i + m] = np.asarray(p).reshape(len(views), m, -1).mean(0)
        cls = probs[i:i + m].argmax(1) if classes is None else classes[i:i + m]
        cams[i:i + m] = unmirror_mean(np.einsum("nhwk,kn->nhw", feats, W[:, np.tile(cls, len(views))]), views)
    return upsample_cams(cams, x.shape[1]), probs


def upsample_cams(cams, size_px: int) -> np.ndarray:
    """CAMs (n, h, w) at feature-map resolution → (n, size_px, size_px), bilinear, pixel-centred.

    Parameters
    ----------
    cams : ndarray (n, h, w)
    size_px : int
        Output size (px).

    Returns
    -------
    ndarray (n, size_px, size_px)
    """
    from scipy import ndimage

    cams = np.asarray(cams)
    if len(cams) == 0:
        return np.zeros((0, size_px, size_px), np.float32)
    zoom = (1.0, size_px / cams.shape[1], size_px / cams.shape[2])
    # one call for the whole batch: a zoom of 1 along the batch axis samples it exactly
    return ndimage.zoom(np.asarray(cams, np.float64), zoom, order=1, grid_mode=True,
                        mode="nearest").astype(np.float32)


def cam_peak(cam: np.ndarray, radius_px: int = 2) -> tuple[float, float]:
    """Sub-pixel (row, col) of a CAM's maximum: intensity-weighted centroid around the peak.

    Parameters
    ----------
    cam : ndarray (H, W)
    radius_px : int
        Half-size of the centroid box (px).

    Returns
    -------
    (float, float)
        Peak (row, col) in px.
    """
    r, c = np.unravel_index(np.argmax(cam), cam.shape)
    r0, r1 = max(r - radius_px, 0), min(r + radius_px + 1, cam.shape[0])
    c0, c1 = max(c - radius_px, 0), min(c + radius_px + 1, cam.shape[1])
    patch = cam[r0:r1, c0:c1] - cam[r0:r1, c0:c1].min()
    if patch.sum() <= 0:
        return float(r), float(c)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    return float((yy * patch).sum() / patch.sum()), float((xx * patch).sum() / patch.sum())


def cam_position_offsets_A(cams: np.ndarray, true_rc_px: np.ndarray,
                           pixel_size_A: float = LIBRARY_PIXEL_SIZE_A) -> np.ndarray:
    """(row, col) offset (Å) of each CAM's peak from the true defect position, (n, 2).

    Parameters
    ----------
    cams : ndarray (n, H, W)
        Maps at window resolution.
    true_rc_px : ndarray (n, 2)
        True defect positions (px).
    pixel_size_A : float
        Window pixel size (Å/px).

    Returns
    -------
    ndarray (n, 2)
        Offsets (Å).
    """
    peaks = np.array([cam_peak(c) for c in cams]).reshape(-1, 2)
    return (peaks - np.asarray(true_rc_px, float)) * pixel_size_A


def cam_position_errors_A(cams: np.ndarray, true_rc_px: np.ndarray,
                          pixel_size_A: float = LIBRARY_PIXEL_SIZE_A) -> np.ndarray:
    """Distance (Å) between each CAM's peak and the true defect position.

    Parameters
    ----------
    cams : ndarray (n, H, W)
        Maps at window resolution.
    true_rc_px : ndarray (n, 2)
        True defect positions (px).
    pixel_size_A : float
        Window pixel size (Å/px).

    Returns
    -------
    ndarray (n,)
        Distances (Å).
    """
    return np.linalg.norm(cam_position_offsets_A(cams, true_rc_px, pixel_size_A), axis=1)
