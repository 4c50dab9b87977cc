"""Detect, classify and score the defects of a movie (notebooks 02 and 06).

Detections come from the localizer's probability maps; each becomes a window resampled to the
library's pixel size and is classified. Because the movie's defects can sit 3 Å apart, a window
often holds neighbours besides the defect at its centre; the class is therefore read from the class
activation maps inside a disc around the window centre (``central_radius_A``): for a classifier whose
head is linear after global average pooling, that is the classifier's own score restricted to the
centre. Windows whose best probability is below ``unknown_below`` are reported as ``unknown``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .augment import normalize
from .classifier import (LAST_CONV, MIRROR_VIEWS, as_input, cam_peak, cam_weights, stack_views,
                         unmirror_mean, upsample_cams)
from .inference import predict_batches
from .localize import Match, match_points
from .structures import CLASS_NAMES
from .validation import check_image, check_pixel_size
from .windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX

UNKNOWN = "unknown"
TABLE_COLUMNS = ["frame", "id", "x_px", "y_px", "x_A", "y_A", "class", "probability"]
#: ±frames over which a site's column ratio is averaged (:func:`column_classes`); chosen on a
#: validation movie with another seed in notebook 06, never on the standard movie
COLUMN_AVERAGE_FRAMES = 2


def check_frame(frame, pixel_size_A, name: str = "frame") -> tuple[np.ndarray, float]:
    """A 2D finite frame at least one window across, and its pixel size; else ValueError."""
    ps = check_pixel_size(pixel_size_A)
    arr = np.asarray(frame)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2D image, got shape {arr.shape}")
    min_px = int(np.ceil(WINDOW_PX * LIBRARY_PIXEL_SIZE_A / ps))
    img = check_image(arr, name, min_shape=(min_px, min_px))
    return img, ps


def windows_at(frame, pixel_size_A: float, centres_rc, order: int = 3) -> np.ndarray:
    """Windows (n, 64, 64) in [0, 1] at the library's 0.3 Å/px around each (row, col) centre.

    The same sampling as :func:`helpers.windows.cut_window` (anti-alias filter, then spline
    interpolation of ``order``), with the filter applied once per frame and all windows sampled in
    one call. (Linear interpolation, ``order=1``, gave the same movie accuracy, 0.730 vs 0.731.)
    """
    from scipy import ndimage

    from .windows import window_coordinates

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
    (:func:`helpers.classifier.class_activation_maps` with ``flips=True``), at four times the cost.
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


@dataclass
class MovieAnalysis:
    """The poster path's result on a movie: the defect table, timings, frame count and the
    localizer's raw detections."""
    table: pd.DataFrame  # TABLE_COLUMNS + best_class
    seconds: dict  # localize, adapt, classify, total
    n_frames: int
    detections: list  # per frame, the localizer's (row, col) px before CAM refinement

    @property
    def frames_per_s(self) -> float:
        """Frames analysed per second of wall time."""
        return self.n_frames / self.seconds["total"]


def _as_stack(frames, pixel_size_A) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"frames must be a 2D frame or a 3D stack, got shape {arr.shape}")
    check_frame(arr[0], pixel_size_A)
    return arr


def detect_frames(frames, pixel_size_A: float, localizer, localizer_pixel_size_A: float,
                  threshold: float = 0.5, half_window: int = 0, shifts=None,
                  background_A: float = 3.0, chunk: int = 16, progress: bool = False,
                  return_maps: bool = False):
    """The localizer's detections (row, col) px of every frame, ``chunk`` frames per network call.

    With ``half_window`` > 0 the network sees each frame's :func:`registered_sum` with its
    neighbours (as it was trained), and detections where not every frame of the sum reached are
    dropped; ``shifts`` (from :func:`frame_shifts`) are computed when not given. ``half_window``
    and ``background_A`` must be those the localizer was trained with (its ``LocalizerParams``).
    ``return_maps``: also the probability maps (n, H, W), for figures.
    """
    from tqdm.auto import tqdm

    from .localizer import detections_from_map, probability_maps

    arr = _as_stack(frames, pixel_size_A)
    if half_window > 0 and len(arr) > 1 and shifts is None:
        shifts = frame_shifts(arr)
    out, all_maps = [], []
    for s in tqdm(range(0, len(arr), chunk), desc="localizing", disable=not progress):
        idx = range(s, min(s + chunk, len(arr)))
        if half_window > 0 and len(arr) > 1:
            sums = [registered_sum(arr, shifts, t, half_window) for t in idx]
            imgs, valids = np.stack([a for a, _ in sums]), [v for _, v in sums]
        else:
            imgs, valids = arr[s:s + chunk], [None] * len(idx)
        maps = probability_maps(localizer, imgs, pixel_size_A, localizer_pixel_size_A,
                                background_A=background_A)
        if return_maps:
            all_maps.append(maps)
        for m, v in zip(maps, valids):
            pts = detections_from_map(m, pixel_size_A, threshold)
            if v is not None and len(pts):
                rr = np.clip(np.round(pts[:, 0]).astype(int), 0, v.shape[0] - 1)
                cc = np.clip(np.round(pts[:, 1]).astype(int), 0, v.shape[1] - 1)
                pts = pts[v[rr, cc]]
            out.append(pts)
    return (out, np.concatenate(all_maps)) if return_maps else out


def fft_detect_frames(frames, pixel_size_A: float, half_window: int = 0, shifts=None,
                      method: str = "lattice", progress: bool = False, **kwargs) -> list:
    """The FFT method (``localizer.fft_detections``) applied to every frame — or, with
    ``half_window`` > 0, to every frame's :func:`registered_sum` — for comparison with the
    localizer; detections (row, col) px per frame."""
    from tqdm.auto import tqdm

    from .localizer import fft_detections

    arr = _as_stack(frames, pixel_size_A)
    summed = half_window > 0 and len(arr) > 1
    if summed and shifts is None:
        shifts = frame_shifts(arr)
    out = []
    for t in tqdm(range(len(arr)), desc="FFT method", disable=not progress):
        img, valid = registered_sum(arr, shifts, t, half_window) if summed else (arr[t], None)
        out.append(fft_detections(img, pixel_size_A, method=method, valid=valid, **kwargs))
    return out


def detection_options(localizer_params) -> dict:
    """The :func:`analyze_movie` options that must match how a localizer was trained (its
    ``LocalizerParams``): the frames it sums and the background it removes."""
    return {"detect_half_window": localizer_params.sum_half_window,
            "detect_background_A": localizer_params.background_A}


def train_localizer_on_movie(frames, pixel_size_A: float, seed: int, localizer_params, shifts=None):
    """Train a localizer on the first frames of a movie as notebook 02 does: frame 1 summed with
    its next ``2·sum_half_window`` frames after drift registration (:func:`registered_sum`), labelled
    by the FFT method; returns the ``LocalizerTraining``."""
    from .localizer import train_localizer

    arr = _as_stack(frames, pixel_size_A)
    if shifts is None:
        shifts = frame_shifts(arr) if len(arr) > 1 else np.zeros((1, 2))
    first, valid = registered_sum(arr, shifts, 0, localizer_params.sum_half_window)
    return train_localizer(first, pixel_size_A, seed=seed, p=localizer_params, valid=valid, verbose=0)


def analyze_movie(frames, pixel_size_A: float, localizer, localizer_pixel_size_A: float, model,
                  adapt_frames: int = 5, central_radius_A: float | None = 3.0,
                  detection_threshold: float = 0.5, unknown_below: float = 0.6,
                  detect_half_window: int = 2, detect_background_A: float = 3.0,
                  classify_half_window: int = 2, detections: list | None = None,
                  column_physics: bool = True, lattice_a_A: float = 3.18,
                  column_average_frames: int = COLUMN_AVERAGE_FRAMES, cam_flips: bool = False,
                  progress: bool = True) -> MovieAnalysis:
    """Localize, classify and CAM-refine the defects of every frame; returns the defect table.

    1. Detection works on each frame's registered sum with its ±``detect_half_window`` neighbours
       (:func:`detect_frames`, :func:`registered_sum`; ``detect_half_window`` and
       ``detect_background_A`` as the localizer was trained, its ``LocalizerParams``; 0: single
       frames). Or pass ``detections`` from an earlier run to classify them
       differently without localizing again.
    2. The classifier ``model`` is adapted to this movie (:func:`adapt_batchnorm`) on the windows of
       the detections in the first ``adapt_frames`` frames (0: the library's statistics); no truth.
    3. Windows are read from the frame averaged with its ±``classify_half_window`` neighbours after
       drift registration (:func:`averaged_frame`): defects rarely change within a few frames, and
       the average has √(2h+1) times the signal-to-noise ratio (0: single frames). The class comes
       from the CAM inside ``central_radius_A`` (:class:`CentralClassifier`; ``cam_flips``: CAMs
       averaged over the four mirror views).
    """
    from tqdm.auto import tqdm

    arr = _as_stack(frames, pixel_size_A)
    ps = float(pixel_size_A)
    t_all = time.perf_counter()
    multi = len(arr) > 1 and (classify_half_window > 0 or (detect_half_window > 0 and detections is None))
    shifts = frame_shifts(arr) if multi else np.zeros((len(arr), 2))
    if detections is None:
        detections = detect_frames(arr, ps, localizer, localizer_pixel_size_A, detection_threshold,
                                   half_window=detect_half_window, shifts=shifts,
                                   background_A=detect_background_A)
    elif len(detections) != len(arr):
        raise ValueError(f"{len(detections)} detection lists for {len(arr)} frames")
    t_loc = time.perf_counter() - t_all

    def windows_of(f):
        return averaged_frame(arr, shifts, f, classify_half_window)

    t0 = time.perf_counter()
    adapt = [windows_at(windows_of(f), ps, detections[f]) for f in range(min(adapt_frames, len(arr)))]
    adapt = np.concatenate(adapt) if adapt else np.zeros((0, WINDOW_PX, WINDOW_PX), np.float32)
    # too few defects to estimate statistics: keep the library's
    clf = CentralClassifier(adapt_batchnorm(model, adapt) if len(adapt) >= 32 else model, central_radius_A,
                            flips=cam_flips)
    t_adapt = time.perf_counter() - t0

    t0 = time.perf_counter()
    tables = []
    for f in tqdm(range(len(arr)), desc="classifying frames", disable=not progress):
        df = classify_detections(clf, windows_of(f), ps, detections[f], unknown_below)
        df.insert(0, "id", np.arange(len(df)))
        df.insert(0, "frame", f)
        tables.append(df)
    table = pd.concat(tables, ignore_index=True)[TABLE_COLUMNS + ["best_class"]]
    t_cls = time.perf_counter() - t0
    t0 = time.perf_counter()
    if column_physics:
        table = column_classes(arr, ps, table, shifts, classify_half_window, unknown_below, lattice_a_A,
                               column_average_frames)
    seconds = {"localize": t_loc, "adapt": t_adapt, "classify": t_cls,
               "columns": time.perf_counter() - t0, "total": time.perf_counter() - t_all}
    return MovieAnalysis(table, seconds, len(arr), detections)


def points_by_frame(table: pd.DataFrame, frames) -> dict:
    """frame → (n, 2) (row, col) px of the table's detections, for the given frames."""
    return {f: table.loc[table["frame"] == f, ["y_px", "x_px"]].to_numpy() for f in frames}


def _frame_matches(points_by_frame: dict, truth: pd.DataFrame, pixel_size_A: float, tolerance_A: float):
    """Per frame: (frame, that frame's truth rows, one-to-one Match of detections with them)."""
    ps = check_pixel_size(pixel_size_A)
    for f, pts in points_by_frame.items():
        t = truth[truth["frame"] == f]
        yield f, t, match_points(np.asarray(pts, float).reshape(-1, 2)[:, ::-1] * ps,
                                 t[["x_A", "y_A"]].to_numpy(), tolerance_A)


def score_detections(points_by_frame: dict, truth: pd.DataFrame, pixel_size_A: float,
                     tolerance_A: float = 1.0) -> pd.DataFrame:
    """Per-frame one-to-one matching of detections (frame → (n, 2) row/col px) with the truth
    (rows of ``Movie.visible_truth()``); returns frame, tp, fp, fn, precision, recall, f1."""
    rows = [(f, m.tp, m.fp, m.fn, m.precision, m.recall, m.f1)
            for f, _, m in _frame_matches(points_by_frame, truth, pixel_size_A, tolerance_A)]
    return pd.DataFrame(rows, columns=["frame", "tp", "fp", "fn", "precision", "recall", "f1"])


def overall(scores: pd.DataFrame) -> dict:
    """Precision, recall and F1 pooled over frames (from tp, fp, fn)."""
    tp, fp, fn = (int(scores[k].sum()) for k in ("tp", "fp", "fn"))
    m = Match(np.zeros((0, 2), int), tp, fp, fn)
    return {"precision": m.precision, "recall": m.recall, "f1": m.f1, "tp": tp, "fp": fp, "fn": fn}


def column_classes(frames, pixel_size_A: float, table: pd.DataFrame, shifts=None, half_window: int = 2,
                   unknown_below: float = 0.6, lattice_a_A: float = 3.18,
                   average_frames: int = COLUMN_AVERAGE_FRAMES) -> pd.DataFrame:
    """The defect table with classes read from column intensities (:mod:`helpers.columns`).

    The lattice, the S2 sublattice and the column width are fitted on the registered sum of the
    first frames; every detection is snapped to its lattice site and measured on its frame's
    registered ±``half_window`` sum (counts); the ratios of a site are averaged over the detections
    on that same site within ±``average_frames`` frames (drift-corrected); the content-to-class
    mixture is fitted to all detections of the movie at once. Adds ``site``, ``column_ratio`` (this
    frame), ``column_ratio_mean`` (site-averaged, what the class is read from), ``column_class``
    (out-of-library contents — a pristine ``W`` or ``S2`` column, a single S vacancy ``Vs`` —
    included), ``column_probability``, and keeps the classifier's ``cnn_class``,
    ``cnn_probability``. ``class`` becomes the column class when that is a library class with
    probability ≥ ``unknown_below``, ``unknown`` when it is out of the library or less sure, and
    stays the classifier's where the site could not be measured. If no WS2-like lattice is found,
    the table is returned with the classifier's classes and a warning.
    """
    import warnings

    from . import columns as cl

    arr = _as_stack(frames, pixel_size_A)
    ps = float(pixel_size_A)
    out = table.copy()
    out["cnn_class"], out["cnn_probability"] = out["class"], out["probability"]
    if shifts is None:
        shifts = np.zeros((len(arr), 2))

    def summed(t):
        return registered_sum(arr, shifts, t, half_window)[0] if len(arr) > 1 and half_window > 0 else arr[t]

    try:
        first = summed(0)
        lattice = cl.fit_column_lattice(first, ps, lattice_a_A)
    except ValueError as err:
        warnings.warn(f"column intensities not measured ({err}); classes are the classifier's")
        return out
    parts = []
    for f, g in out.groupby("frame", sort=True):
        r = cl.column_ratios(summed(int(f)), ps, lattice, g[["y_px", "x_px"]].to_numpy())
        r.index = g.index
        parts.append(r)
    if not parts:
        return out
    ratios = pd.concat(parts).loc[out.index]
    keys = cl.site_keys(ratios[["site_row", "site_col"]].to_numpy(float), ratios["site"].to_numpy(),
                        out["frame"].to_numpy(), shifts, cl.lattice_origin(first, lattice), lattice)
    mean = cl.average_over_site(keys, out["frame"].to_numpy(), ratios["ratio"].to_numpy(), average_frames)
    read = cl.classify_ratios(pd.DataFrame({"site": ratios["site"], "ratio": mean}, index=out.index),
                              lattice.s2_ratio)
    out["site"], out["column_ratio"], out["column_ratio_mean"] = ratios["site"], ratios["ratio"], mean
    out["column_class"], out["column_probability"] = read["column_class"], read["column_probability"]
    measured = out["column_class"].notna()
    in_lib = measured & out["column_class"].isin(CLASS_NAMES) & (out["column_probability"] >= unknown_below)
    out.loc[measured, "class"] = UNKNOWN
    out.loc[in_lib, "class"] = out.loc[in_lib, "column_class"]
    out.loc[measured, "probability"] = out.loc[measured, "column_probability"]
    out.attrs["column_lattice"] = lattice
    out.attrs["column_gain"] = float(read["gain"].dropna().iloc[0]) if read["gain"].notna().any() else np.nan
    return out


def cnn_reading(table: pd.DataFrame) -> pd.DataFrame:
    """The defect table with the classifier's own classes (``cnn_class``, ``cnn_probability``) in
    ``class`` / ``probability``: to score the poster's method beside the column intensities. A table
    without them (``column_physics=False``) already holds the classifier's reading."""
    if "cnn_class" not in table:
        return table
    return table.assign(**{"class": table["cnn_class"], "probability": table["cnn_probability"]})


def column_window_scores(frames, pixel_size_A: float, table: pd.DataFrame, truth: pd.DataFrame,
                         windows, shifts=None, half_window: int = 2, unknown_below: float = 0.6) -> dict:
    """Classification accuracy (frames after the first, against ``truth``) of :func:`column_classes`
    for each site-averaging window (±frames) in ``windows``, on one movie's detections (a table
    from :func:`analyze_movie`): how the window is chosen on a validation movie."""
    arr = _as_stack(frames, pixel_size_A)
    if shifts is None:
        shifts = frame_shifts(arr) if len(arr) > 1 else np.zeros((1, 2))
    later_truth = truth[truth["frame"] > 0]
    out = {}
    for k in windows:
        t = column_classes(arr, pixel_size_A, table, shifts, half_window, unknown_below, average_frames=k)
        out[k] = classification_scores(match_table(t[t["frame"] > 0], later_truth))["classification_accuracy"]
    return out


def match_table(table: pd.DataFrame, truth: pd.DataFrame, tolerance_A: float = 1.0) -> pd.DataFrame:
    """Every true defect and every detection, paired one to one per frame within the tolerance.

    Columns: frame, defect_id (−1 for a false detection), true_class ("none" for a false detection),
    id (−1 for a missed defect), pred_class ("missed" for a missed defect), probability, error_A.
    """
    rows = []
    for f in sorted(set(truth["frame"]).union(table["frame"])):
        t = truth[truth["frame"] == f]
        d = table[table["frame"] == f]
        m = match_points(d[["x_A", "y_A"]].to_numpy(), t[["x_A", "y_A"]].to_numpy(), tolerance_A)
        pd_idx, tr_idx = set(), set()
        for i, j in m.pairs:
            di, tj = d.iloc[i], t.iloc[j]
            err = float(np.hypot(di.x_A - tj.x_A, di.y_A - tj.y_A))
            rows.append((f, int(tj.defect_id), tj["class"], int(di.id), di["class"], di.probability, err))
            pd_idx.add(i)
            tr_idx.add(j)
        for j in set(range(len(t))) - tr_idx:
            tj = t.iloc[j]
            rows.append((f, int(tj.defect_id), tj["class"], -1, "missed", np.nan, np.nan))
        for i in set(range(len(d))) - pd_idx:
            di = d.iloc[i]
            rows.append((f, -1, "none", int(di.id), di["class"], di.probability, np.nan))
    return pd.DataFrame(rows, columns=["frame", "defect_id", "true_class", "id", "pred_class",
                                       "probability", "error_A"])


def classification_scores(matches: pd.DataFrame) -> dict:
    """From :func:`match_table`: accuracy on correctly detected *library* defects (``unknown``
    counts as wrong), per-class recall (detected and correctly classified / all of that class),
    the fraction of detections reported ``unknown``, and how out-of-library ``Vs`` defects fared."""
    det = matches[(matches["id"] >= 0)]
    lib = det[det["true_class"].isin(CLASS_NAMES)]
    acc = float((lib["true_class"] == lib["pred_class"]).mean()) if len(lib) else 0.0
    truth_rows = matches[matches["defect_id"] >= 0]
    per_class = {c: float((g["pred_class"] == c).mean())
                 for c, g in truth_rows.groupby("true_class") if c in CLASS_NAMES}
    sv = det[det["true_class"] == "Vs"]
    return {"classification_accuracy": acc, "per_class_recall": per_class,
            "unknown_fraction": float((det["pred_class"] == UNKNOWN).mean()) if len(det) else 0.0,
            "sv_detected_reported_unknown": float((sv["pred_class"] == UNKNOWN).mean()) if len(sv) else None,
            "n_library_defects_detected": int(len(lib))}


def robustness_table(variants: dict, localizer_params, model, seed: int, progress: bool = True
                     ) -> pd.DataFrame:
    """Run the whole pipeline — a localizer trained on frame 1 (its registered sum with the next
    frames, as in notebook 02) of each movie, the classifier
    adapted to its first frames, then detection and classification of every frame (column
    intensities, and the classifier alone: ``classification_accuracy_cnn``) — on movie
    variants (name → MovieParams) and score each."""
    from dataclasses import replace

    from tqdm.auto import tqdm

    from .movie import standard_movie

    rows = []
    for name, params in tqdm(variants.items(), desc="movie variants", disable=not progress):
        movie = standard_movie(params, progress=False)
        ps = movie.pixel_size_A
        lp = replace(localizer_params, pixel_size_A=ps)
        tr = train_localizer_on_movie(movie.frames, ps, seed, lp)
        res = analyze_movie(movie.frames, ps, tr.model, ps, model, progress=False, **detection_options(lp))
        truth = movie.visible_truth()
        later = res.table[res.table.frame > 0]
        sc = overall(score_detections(points_by_frame(later, range(1, len(movie.frames))), truth, ps))
        cs = classification_scores(match_table(later, truth[truth.frame > 0]))
        cnn = classification_scores(match_table(cnn_reading(later), truth[truth.frame > 0]))["classification_accuracy"]
        rows.append({"variant": name, "dose_e_per_A2": params.dose_e_per_A2, "pixel_size_A": ps,
                     "frames": len(movie.frames), "detection_f1": sc["f1"],
                     "detection_precision": sc["precision"], "detection_recall": sc["recall"],
                     "classification_accuracy": cs["classification_accuracy"],
                     "classification_accuracy_cnn": cnn,
                     "unknown_fraction": cs["unknown_fraction"], "frames_per_s": res.frames_per_s})
    return pd.DataFrame(rows)


def detection_hits(points_by_frame: dict, truth: pd.DataFrame, pixel_size_A: float,
                   tolerance_A: float = 1.0) -> pd.DataFrame:
    """One row per true defect in the given frames: frame, defect_id, class, hit (found or not)."""
    rows = []
    for f, t, m in _frame_matches(points_by_frame, truth, pixel_size_A, tolerance_A):
        hit = np.zeros(len(t), bool)
        hit[m.pairs[:, 1]] = True
        rows.append(pd.DataFrame({"frame": f, "defect_id": t["defect_id"].to_numpy(),
                                  "class": t["class"].to_numpy(), "hit": hit}))
    return pd.concat(rows, ignore_index=True) if rows else \
        pd.DataFrame(columns=["frame", "defect_id", "class", "hit"])


def _stack(frames):
    """A 3D stack as it is: an array, or a lazy stack read frame by frame (``helpers.formats.
    FrameStack``: anything with a 3D ``shape``, ``len`` and integer indexing); else an array."""
    arr = frames if getattr(frames, "ndim", None) == 3 and hasattr(frames, "__getitem__") else np.asarray(frames)
    if arr.ndim != 3:
        raise ValueError(f"frames must be a 3D stack, got shape {np.shape(arr)}")
    return arr


def frame_shifts(frames, upsample: int = 10) -> np.ndarray:
    """Cumulative (row, col) shift in px of every frame relative to frame 0 (sample drift), from
    phase correlation of consecutive frames (scikit-image), sub-pixel to 1/``upsample`` px."""
    from skimage.registration import phase_cross_correlation

    arr = _stack(frames)
    steps = np.zeros((len(arr), 2))
    prev = np.asarray(arr[0], np.float32)
    for k in range(1, len(arr)):
        cur = np.asarray(arr[k], np.float32)
        shift, _, _ = phase_cross_correlation(prev, cur, upsample_factor=upsample, normalization=None)
        steps[k] = -shift  # content of frame k sits this far from where it was in frame k-1
        prev = cur
    return np.cumsum(steps, axis=0)


def averaged_frame(frames, shifts, t: int, half_window: int) -> np.ndarray:
    """Frame ``t`` averaged with its ±``half_window`` neighbours, each shifted onto frame t's
    sample position (linear interpolation); at the ends of the movie the window is one-sided."""
    from scipy import ndimage

    arr = np.asarray(frames)
    if half_window <= 0:
        return np.asarray(arr[t], np.float32)
    lo, hi = max(0, t - half_window), min(len(arr), t + half_window + 1)
    acc = np.zeros(arr.shape[1:], np.float64)
    for k in range(lo, hi):
        d = np.asarray(shifts[t]) - np.asarray(shifts[k])
        acc += arr[k] if k == t else ndimage.shift(arr[k].astype(np.float64), d, order=1, mode="nearest")
    return (acc / (hi - lo)).astype(np.float32)


def registered_sum(frames, shifts, t: int, half_window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the 2·``half_window`` + 1 frames around ``t`` (the window slides inside the movie at
    its ends, so every sum holds the same dose), each shifted by whole pixels onto frame t's sample
    position — whole pixels keep the counts Poisson (sub-pixel interpolation would smooth the noise
    and bias every z-score); the ≤ 0.5 px misregistration (0.1 Å at 0.2 Å/px) is far below the
    probe size. Returns (sum in counts, valid map: pixels every frame of the window covered)."""
    arr = _stack(frames)
    n = len(arr)
    if half_window < 0:
        raise ValueError(f"half_window must be ≥ 0, got {half_window}")
    size = min(2 * half_window + 1, n)
    lo = int(np.clip(t - half_window, 0, n - size))
    h, w = arr.shape[1:]
    acc = np.zeros((h, w), np.float64)
    valid = np.ones((h, w), bool)
    for k in range(lo, lo + size):
        dr, dc = np.round(np.asarray(shifts[t]) - np.asarray(shifts[k])).astype(int)
        if abs(dr) >= h or abs(dc) >= w:
            raise ValueError(f"frames {k} and {t} are shifted by more than the frame ({dr}, {dc}) px")
        # whole-pixel shift by slicing; the uncovered strip repeats the nearest edge
        src = np.pad(arr[k], ((max(dr, 0), max(-dr, 0)), (max(dc, 0), max(-dc, 0))), mode="edge")
        acc += src[max(-dr, 0):max(-dr, 0) + h, max(-dc, 0):max(-dc, 0) + w]
        if dr > 0:
            valid[:dr] = False
        elif dr < 0:
            valid[dr:] = False
        if dc > 0:
            valid[:, :dc] = False
        elif dc < 0:
            valid[:, dc:] = False
    return acc.astype(np.float32), valid


def analysis_path(movie, profile: str | None = None):
    """Where notebook 06 writes a movie's defect table (CSV, named by profile and movie hash)."""
    from . import config

    profile = profile or config.get_profile()
    return config.GENERATED_DIR / "analysis" / f"defects_{profile}_{movie.content_hash}.csv"


def write_table(table: pd.DataFrame, path, overwrite: bool = False):
    """The defect table as CSV, written atomically (refuses to replace a file unless told)."""
    from .io import atomic_output

    with atomic_output(path, overwrite, ".csv.part") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    return path


def load_or_analyze(movie, progress: bool = True) -> pd.DataFrame:
    """The defect table of notebook 06 for this movie, or — when it was not run — the same analysis
    as 06 (this profile's, else the shipped, localizer; the shipped classifier), written where 06
    writes it."""
    from . import config
    from .classifier import load_classifier
    from .localizer import load_localizer

    path = analysis_path(movie)
    if path.exists():
        return pd.read_csv(path)
    loc, lp, _ = load_localizer()
    model, _ = load_classifier(config.MODELS_DIR / config.CLASSIFIER_FILE)
    res = analyze_movie(movie.frames, movie.pixel_size_A, loc, lp.pixel_size_A, model,
                        progress=progress, **detection_options(lp))
    write_table(res.table, path, overwrite=True)
    return res.table
