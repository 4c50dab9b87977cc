"""The classifier on the windows of a movie's detections: windows at the library's pixel size, BatchNorm adapted to the movie (AdaBN), the class read from the CAM near the window centre, positions refined by the CAM peak."""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.classify.augment import normalize
from helpers.classify.cams import cam_peak, cam_weights, upsample_cams
from helpers.classify.classifier import LAST_CONV, MIRROR_VIEWS, as_input, stack_views, unmirror_mean
from helpers.core.batches import predict_batches
from helpers.core.windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX, window_coordinates
from helpers.detect.column_reading import UNKNOWN
from helpers.detect.registration import check_frame
from helpers.library.structures import CLASS_NAMES


def windows_at(frame, pixel_size_A: float, centres_rc, order: int = 3) -> np.ndarray:
    """Windows (n, 64, 64) in [0, 1] at the library's 0.3 Å/px around each (row, col) centre.

    The same sampling as :func:`helpers.core.windows.cut_window` (anti-alias filter, then spline
    interpolation of ``order``), with the filter applied once per frame and all windows sampled in
    one call. (Linear interpolation, ``order=1``, gave the same movie accuracy, 0.730 vs 0.731.)

    Parameters
    ----------
    frame : ndarray (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    centres_rc : ndarray (n, 2)
        (row, col) px.
    order : int
        Spline order.

    Returns
    -------
    ndarray (n, 64, 64) float32
    """
    from scipy import ndimage


    img, ps = check_frame(frame, pixel_size_A)
    c = np.asarray(centres_rc, float).reshape(-1, 2)
    if len(c) == 0:
        return np.zeros((0, WINDOW_PX, WINDOW_PX), np.float32)
    ratio = LIBRARY_PIXEL_SIZE_A / ps
    src = img.astype(np.float64)
    if ratio > 1 + 1e-6:
        src = ndimage.gaussian_filter(src, 0.5 * ratio)
    grid = window_coordinates((0.0, 0.0), ps)  # offsets from the centre, (2, 64, 64)
    coords = grid[:, None] + c.T[:, :, None, None]  # (2, n, 64, 64)
    out = ndimage.map_coordinates(src, coords.reshape(2, -1), order=order, mode="nearest")
    return np.stack([normalize(w) for w in out.reshape(len(c), WINDOW_PX, WINDOW_PX).astype(np.float32)])


class CentralClassifier:
    """Class probabilities and CAMs of a trained classifier, read inside a central disc.

    With ``central_radius_A=None`` the probabilities are the classifier's own softmax (the mean of
    the CAM over the whole window); otherwise the CAM is averaged over the disc only. ``flips``:
    the CAMs are averaged over each window's four mirror views, mirrored back
    (:func:`helpers.classify.cams.class_activation_maps` with ``flips=True``), at four times the cost.
    """

    def __init__(self, model, central_radius_A: float | None = 3.0, flips: bool = False):
        import keras

        self.model = model
        # one input tensor (not a list), so that it is called with one array whatever the
        # structure of the model it comes from (loaded, or cloned by adapt_batchnorm)
        self.sub = keras.Model(model.inputs[0], model.get_layer(LAST_CONV).output)
        self.W, self.b = cam_weights(model)
        self.central_radius_A = central_radius_A
        self.views = MIRROR_VIEWS if flips else MIRROR_VIEWS[:1]

    def __call__(self, windows, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, 6), CAMs of the best class at feature-map resolution (n, h, w))."""
        x = as_input(windows)
        if len(x) == 0:
            return np.zeros((0, len(CLASS_NAMES))), np.zeros((0, 16, 16), np.float32)
        # batch by batch through one traced graph: Model.predict costs ~0.1 s of set-up per call,
        # more than a frame's windows take
        n = len(x)
        feats = predict_batches(self.sub, stack_views(x, self.views), batch_size)
        cams = unmirror_mean(np.einsum("nhwk,kc->nhwc", feats, self.W), self.views).transpose(0, 3, 1, 2)  # (n, classes, h, w)
        h, w = feats.shape[1:3]
        if self.central_radius_A is None:
            weight = np.ones((h, w))
        else:
            step_A = WINDOW_PX / h * LIBRARY_PIXEL_SIZE_A  # Å per feature-map pixel
            yy, xx = np.mgrid[:h, :w]
            cy, cx = (h - 1) / 2, (w - 1) / 2
            weight = (np.hypot(yy - cy, xx - cx) * step_A <= self.central_radius_A).astype(float)
        logits = np.einsum("nchw,hw->nc", cams, weight) / weight.sum() + self.b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        best = np.argmax(p, axis=1)
        return p, cams[np.arange(n), best].astype(np.float32)


def adapt_batchnorm(model, windows):
    """A copy of ``model`` whose BatchNorm statistics are those of ``windows`` (AdaBN: Li et al.,
    "Revisiting batch normalization for practical domain adaptation", 2016).

    Label-free domain adaptation: the weights stay as trained on the library; only the means and
    variances each BatchNorm layer normalizes with are re-estimated on windows from the movie
    itself, so that a different background, contrast or noise level does not shift every
    activation. Layers are updated in one training-mode pass with momentum 0, in which each
    layer already sees the re-normalized output of the layers before it.

    Parameters
    ----------
    model : keras.Model
        The classifier.
    windows : ndarray (n, 64, 64)
        Windows of the new data.

    Returns
    -------
    keras.Model
        The adapted copy.
    """
    import keras

    x = as_input(windows)
    if len(x) < 32:
        raise ValueError(f"BatchNorm adaptation needs at least 32 windows, got {len(x)}")
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for layer in clone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    keras.Model(clone.inputs[0], clone.outputs[0])(x, training=True)
    return clone


def classify_detections(clf: CentralClassifier, frame, pixel_size_A: float, centres_rc,
                        unknown_below: float = 0.6, refine_max_A: float = 0.5) -> pd.DataFrame:
    """Class, probability and CAM-refined position of each detection in one frame.

    The position moves to the CAM's peak when that lies within ``refine_max_A`` of the detection
    (farther peaks belong to a neighbour and are ignored).

    Parameters
    ----------
    clf : CentralClassifier
    frame : ndarray (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    centres_rc : ndarray (n, 2)
        Detections (px).
    unknown_below : float
    refine_max_A : float
        Largest CAM refinement (Å).

    Returns
    -------
    DataFrame
        x/y in px and Å, class, probability, best_class.
    """
    img, ps = check_frame(frame, pixel_size_A)
    c = np.asarray(centres_rc, float).reshape(-1, 2)
    win = windows_at(img, ps, c)
    p, cams = clf(win)
    rows = []
    for k, cam in enumerate(upsample_cams(cams, WINDOW_PX)):
        pr, pc = cam_peak(cam)
        d_A = (np.array([pr, pc]) - WINDOW_PX // 2) * LIBRARY_PIXEL_SIZE_A
        rc = c[k] + (d_A / ps if np.hypot(*d_A) <= refine_max_A else 0.0)
        best = int(np.argmax(p[k]))
        cls = CLASS_NAMES[best] if p[k, best] >= unknown_below else UNKNOWN
        rows.append((rc[1], rc[0], cls, float(p[k, best]), CLASS_NAMES[best]))
    df = pd.DataFrame(rows, columns=["x_px", "y_px", "class", "probability", "best_class"])
    df["x_A"], df["y_A"] = df["x_px"] * ps, df["y_px"] * ps
    return df
