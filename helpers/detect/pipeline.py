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
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from helpers.core.windows import WINDOW_PX
from helpers.detect.column_reading import COLUMN_AVERAGE_FRAMES, column_classes
from helpers.detect.localizer import (
    LocalizerParams,
    detections_from_map,
    probability_maps,
)
from helpers.detect.localizer_training import fft_detections, train_localizer
from helpers.detect.registration import averaged_frame, frame_shifts, frame_stack, registered_sum
from helpers.detect.window_classifier import CentralClassifier, adapt_batchnorm, classify_detections, windows_at

TABLE_COLUMNS = ["frame", "id", "x_px", "y_px", "x_A", "y_A", "class", "probability"]


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

    Parameters
    ----------
    frames : ndarray (n, H, W)
        The movie in counts.
    pixel_size_A : float
        Its pixel size (Å/px).
    localizer : keras.Model
        The pixel-wise localizer.
    localizer_pixel_size_A : float
        The pixel size it was trained at (Å/px).
    threshold : float
        Probability of a detection.
    half_window : int
        Frames summed on each side (as the localizer was trained).
    shifts : ndarray (n, 2), optional
        Drift of each frame (px).
    background_A : float
        Background removal scale (Å), as the localizer was trained.
    chunk : int
        Frames per network call.
    progress : bool
        Show a progress bar.
    return_maps : bool
        Also return the probability maps.

    Returns
    -------
    list of ndarray (k, 2)
        Detections (row, col px) per frame; with ``return_maps`` also the maps (n, H, W).
    """
    from tqdm.auto import tqdm


    arr = frame_stack(frames, pixel_size_A)
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
    """The FFT method (``localizer_training.fft_detections``) applied to every frame — or, with
    ``half_window`` > 0, to every frame's :func:`registered_sum` — for comparison with the
    localizer; detections (row, col) px per frame.

    Parameters
    ----------
    frames : ndarray (n, H, W)
        The movie in counts.
    pixel_size_A : float
        Pixel size (Å/px).
    half_window : int
        Frames summed on each side.
    shifts : ndarray (n, 2), optional
    method : str
        Method of :func:`helpers.detect.peaks.fft_labels`.
    progress : bool
    **kwargs
        Options of :func:`helpers.detect.localizer_training.fft_detections`.

    Returns
    -------
    list of ndarray (k, 2)
    """
    from tqdm.auto import tqdm


    arr = frame_stack(frames, pixel_size_A)
    summed = half_window > 0 and len(arr) > 1
    if summed and shifts is None:
        shifts = frame_shifts(arr)
    out = []
    for t in tqdm(range(len(arr)), desc="FFT method", disable=not progress):
        img, valid = registered_sum(arr, shifts, t, half_window) if summed else (arr[t], None)
        out.append(fft_detections(img, pixel_size_A, method=method, valid=valid, **kwargs))
    return out


def train_localizer_on_movie(frames, pixel_size_A: float, seed: int, localizer_params, shifts=None):
    """Train a localizer on the first frames of a movie as notebook 02 does: frame 1 summed with
    its next ``2·sum_half_window`` frames after drift registration (:func:`registered_sum`), labelled
    by the FFT method; returns the ``LocalizerTraining``.

    Parameters
    ----------
    frames : ndarray (n, H, W)
        The movie in counts.
    pixel_size_A : float
        Pixel size (Å/px).
    seed : int
    localizer_params : LocalizerParams
    shifts : ndarray (n, 2), optional

    Returns
    -------
    LocalizerTraining
    """

    arr = frame_stack(frames, pixel_size_A)
    if shifts is None:
        shifts = frame_shifts(arr) if len(arr) > 1 else np.zeros((1, 2))
    first, valid = registered_sum(arr, shifts, 0, localizer_params.sum_half_window)
    return train_localizer(first, pixel_size_A, seed=seed, p=localizer_params, valid=valid, verbose=0)


@dataclass(frozen=True)
class MovieAnalysisSettings:
    """How :func:`analyze_movie` classifies the detections (lengths in Å, windows in frames)."""

    adapt_frames: int = 5  # frames whose detections adapt the classifier's BatchNorm (0: library statistics)
    central_radius_A: float | None = 3.0  # CAM disc the class is read in (None: the whole window)
    detection_threshold: float = 0.5  # localizer probability of a detection
    unknown_below: float = 0.6  # class probability under which a detection is ``unknown``
    classify_half_window: int = 2  # windows read from the frame averaged with ± this many neighbours
    column_physics: bool = True  # classes from column intensities where they are certain (WS2 only)
    lattice_a_A: float = 3.18  # lattice constant of the column reading
    column_average_frames: int = COLUMN_AVERAGE_FRAMES  # frames per site the column reading averages
    cam_flips: bool = False  # CAMs averaged over the four mirror views


def analyze_movie(frames, pixel_size_A: float, localizer, localizer_params: LocalizerParams, model,
                  settings: MovieAnalysisSettings | None = None, detections: list | None = None,
                  progress: bool = True, **changes) -> MovieAnalysis:
    """Localize, classify and CAM-refine the defects of every frame; returns the defect table.

    1. Detection works on each frame's registered sum with its ± ``sum_half_window`` neighbours
       (:func:`detect_frames`, :func:`registered_sum`; the half window and the background removal
       as the localizer was trained: its ``LocalizerParams``; 0: single frames). Or pass ``detections`` from an earlier run to classify them
       differently without localizing again.
    2. The classifier ``model`` is adapted to this movie (:func:`adapt_batchnorm`) on the windows of
       the detections in the first ``adapt_frames`` frames (0: the library's statistics); no truth.
    3. Windows are read from the frame averaged with its ±``classify_half_window`` neighbours after
       drift registration (:func:`averaged_frame`): defects rarely change within a few frames, and
       the average has √(2h+1) times the signal-to-noise ratio (0: single frames). The class comes
       from the CAM inside ``central_radius_A`` (:class:`CentralClassifier`; ``cam_flips``: CAMs
       averaged over the four mirror views).

    Parameters
    ----------
    frames : ndarray (n, h, w)
        The movie (or one frame), any intensity scale.
    pixel_size_A : float
        Pixel size of ``frames`` (Å/px).
    localizer : keras.Model
        The pixel-wise localizer; ``localizer_params`` (its ``LocalizerParams``) says at which pixel
        size it works and which frame sums and background removal it was trained on, which
        detection repeats.
    model : keras.Model
        The defect classifier (its BatchNorm statistics are adapted on a copy).
    settings : MovieAnalysisSettings, optional
        The classification settings; ``**changes`` changes single fields of it.
    detections : list of ndarray, optional
        Detections (row, col px) per frame from an earlier run: classified again, not localized.
    progress : bool
        Show a progress bar.

    Returns
    -------
    MovieAnalysis
        The defect table (frame, id, x/y in px and Å, class, probability), timings (s), frames and
        the detections.
    """
    st = replace(settings or MovieAnalysisSettings(), **changes)
    detect_half_window, detect_background_A = localizer_params.sum_half_window, localizer_params.background_A
    adapt_frames, central_radius_A, classify_half_window = st.adapt_frames, st.central_radius_A, st.classify_half_window
    unknown_below, cam_flips = st.unknown_below, st.cam_flips
    from tqdm.auto import tqdm

    arr = frame_stack(frames, pixel_size_A)
    ps = float(pixel_size_A)
    t_all = time.perf_counter()
    multi = len(arr) > 1 and (classify_half_window > 0 or (detect_half_window > 0 and detections is None))
    shifts = frame_shifts(arr) if multi else np.zeros((len(arr), 2))
    if detections is None:
        detections = detect_frames(arr, ps, localizer, localizer_params.pixel_size_A, st.detection_threshold,
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
    if st.column_physics:
        table = column_classes(arr, ps, table, shifts, classify_half_window, unknown_below, st.lattice_a_A,
                               st.column_average_frames)
    seconds = {"localize": t_loc, "adapt": t_adapt, "classify": t_cls,
               "columns": time.perf_counter() - t0, "total": time.perf_counter() - t_all}
    return MovieAnalysis(table, seconds, len(arr), detections)


def cnn_reading(table: pd.DataFrame) -> pd.DataFrame:
    """The defect table with the classifier's own classes (``cnn_class``, ``cnn_probability``) in
    ``class`` / ``probability``: to score the poster's method beside the column intensities. A table
    without them (``column_physics=False``) already holds the classifier's reading.

    Parameters
    ----------
    table : DataFrame
        From :func:`analyze_movie`.

    Returns
    -------
    DataFrame
    """
    if "cnn_class" not in table:
        return table
    return table.assign(**{"class": table["cnn_class"], "probability": table["cnn_probability"]})
