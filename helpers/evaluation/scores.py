"""Detection and classification scores of a movie analysis against the movie's truth."""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.detect.column_reading import UNKNOWN, column_classes
from helpers.detect.registration import frame_shifts, frame_stack
from helpers.evaluation.matching import Match, _frame_matches, match_table
from helpers.library.structures import CLASS_NAMES


def score_detections(points_by_frame: dict, truth: pd.DataFrame, pixel_size_A: float,
                     tolerance_A: float = 1.0) -> pd.DataFrame:
    """Per-frame one-to-one matching of detections (frame → (n, 2) row/col px) with the truth
    (rows of ``Movie.visible_truth()``); returns frame, tp, fp, fn, precision, recall, f1.

    Parameters
    ----------
    points_by_frame : dict
        frame → (n, 2) row/col px.
    truth : DataFrame
    pixel_size_A : float
        Pixel size (Å/px).
    tolerance_A : float
        Matching distance (Å).

    Returns
    -------
    DataFrame
    """
    rows = [(f, m.tp, m.fp, m.fn, m.precision, m.recall, m.f1)
            for f, _, m in _frame_matches(points_by_frame, truth, pixel_size_A, tolerance_A)]
    return pd.DataFrame(rows, columns=["frame", "tp", "fp", "fn", "precision", "recall", "f1"])


def overall(scores: pd.DataFrame) -> dict:
    """Precision, recall and F1 pooled over frames (from tp, fp, fn).

    Parameters
    ----------
    scores : DataFrame
        From :func:`score_detections`.

    Returns
    -------
    dict
    """
    tp, fp, fn = (int(scores[k].sum()) for k in ("tp", "fp", "fn"))
    m = Match(np.zeros((0, 2), int), tp, fp, fn)
    return {"precision": m.precision, "recall": m.recall, "f1": m.f1, "tp": tp, "fp": fp, "fn": fn}


def column_window_scores(frames, pixel_size_A: float, table: pd.DataFrame, truth: pd.DataFrame,
                         windows, shifts=None, half_window: int = 2, unknown_below: float = 0.6) -> dict:
    """Classification accuracy (frames after the first, against ``truth``) of :func:`column_classes`
    for each site-averaging window (±frames) in ``windows``, on one movie's detections (a table
    from :func:`analyze_movie`): how the window is chosen on a validation movie.

    Parameters
    ----------
    frames : ndarray (n, H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    table : DataFrame
        From :func:`helpers.detect.pipeline.analyze_movie` (``column_physics=False``).
    truth : DataFrame
    windows : iterable of int
        Averaging half-windows to score (frames).
    shifts : ndarray (n, 2), optional
    half_window : int
        Frames summed on each side for a reading.
    unknown_below : float

    Returns
    -------
    dict
        Half-window → accuracy.
    """
    arr = frame_stack(frames, pixel_size_A)
    if shifts is None:
        shifts = frame_shifts(arr) if len(arr) > 1 else np.zeros((1, 2))
    later_truth = truth[truth["frame"] > 0]
    out = {}
    for k in windows:
        t = column_classes(arr, pixel_size_A, table, shifts, half_window, unknown_below, average_frames=k)
        out[k] = classification_scores(match_table(t[t["frame"] > 0], later_truth))["classification_accuracy"]
    return out


def classification_scores(matches: pd.DataFrame) -> dict:
    """From :func:`match_table`: accuracy on correctly detected *library* defects (``unknown``
    counts as wrong), per-class recall (detected and correctly classified / all of that class),
    the fraction of detections reported ``unknown``, and how out-of-library ``Vs`` defects fared.

    Parameters
    ----------
    matches : DataFrame
        From :func:`helpers.evaluation.matching.match_table`.

    Returns
    -------
    dict
    """
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


def detection_hits(points_by_frame: dict, truth: pd.DataFrame, pixel_size_A: float,
                   tolerance_A: float = 1.0) -> pd.DataFrame:
    """One row per true defect in the given frames: frame, defect_id, class, hit (found or not).

    Parameters
    ----------
    points_by_frame : dict
        frame → (n, 2) row/col px.
    truth : DataFrame
    pixel_size_A : float
        Pixel size (Å/px).
    tolerance_A : float
        Matching distance (Å).

    Returns
    -------
    DataFrame
    """
    rows = []
    for f, t, m in _frame_matches(points_by_frame, truth, pixel_size_A, tolerance_A):
        hit = np.zeros(len(t), bool)
        hit[m.pairs[:, 1]] = True
        rows.append(pd.DataFrame({"frame": f, "defect_id": t["defect_id"].to_numpy(),
                                  "class": t["class"].to_numpy(), "hit": hit}))
    return pd.concat(rows, ignore_index=True) if rows else \
        pd.DataFrame(columns=["frame", "defect_id", "class", "hit"])


def detection_f1_bound(d_primes, n_pristine: int, max_false_rate: float = 0.002) -> dict:
    """The highest detection F1 that any reader of one frame could reach on defects whose readings lie
    ``d_primes`` noise widths from the pristine content (one value per true defect), among
    ``n_pristine`` pristine sites of which it may call at most ``max_false_rate`` defective.

    Gaussian reading noise; each defect is tested against the pristine content alone, in its own
    direction, with the whole false-call budget α — the most powerful test of that pair
    (Neyman–Pearson), so its recall Φ(d′ − z₁₋α) bounds any reader's from above, and α·``n_pristine``
    false calls is the fewest that budget allows. The bound is the best F1 over α ≤ ``max_false_rate``.

    Parameters
    ----------
    d_primes : array-like (n,)
        Separation of each true defect from its sublattice's pristine content (noise widths, ≥ 0).
    n_pristine : int
        Pristine sites that could be called (≥ 1).
    max_false_rate : float
        Largest share of pristine sites that may be called defective (0 < rate < 1).

    Returns
    -------
    dict
        ``f1``, ``recall``, ``precision`` and ``false_rate`` (α) of the best operating point.
    """
    from scipy.stats import norm

    d = np.asarray(d_primes, float).ravel()
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("d_primes must be a non-empty array of finite separations >= 0")
    if int(n_pristine) < 1:
        raise ValueError(f"n_pristine must be >= 1, got {n_pristine!r}")
    if not 0 < max_false_rate < 1:
        raise ValueError(f"max_false_rate must lie in (0, 1), got {max_false_rate!r}")
    alpha = np.geomspace(min(1e-7, max_false_rate), max_false_rate, 400)
    tp = norm.cdf(d[None, :] - norm.isf(alpha)[:, None]).sum(1)
    fp = alpha * int(n_pristine)
    f1 = 2 * tp / (tp + fp + d.size)
    k = int(np.argmax(f1))
    return {"f1": float(f1[k]), "recall": float(tp[k] / d.size), "precision": float(tp[k] / (tp[k] + fp[k])),
            "false_rate": float(alpha[k])}
