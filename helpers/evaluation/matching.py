"""Matching found points to true points within a tolerance (Å), one to one."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from helpers.core.validation import check_pixel_size


@dataclass
class Match:
    """One-to-one matching of predicted to true points (``pairs``) with its counts."""
    pairs: np.ndarray  # (k, 2) indices (prediction, truth) matched one to one
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """Matched predictions over all predictions (0 when there are none)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """Matched truths over all truths (0 when there are none)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def match_points(pred, truth, tolerance: float) -> Match:
    """One-to-one matching of predicted and true points within ``tolerance`` (same units).

    Optimal assignment (Hungarian algorithm) on distances; pairs farther than the tolerance do not
    count. With no predictions every true point is a miss; with no truth every prediction is false.

    Parameters
    ----------
    pred, truth : array-like (n, 2)
        Points in the same units.
    tolerance : float
        Largest distance of a match (same units).

    Returns
    -------
    Match
        ``pairs`` (pred index, true index), counts of true/false positives and misses, precision,
        recall, F1.
    """
    pred = np.asarray(pred, float).reshape(-1, 2)
    truth = np.asarray(truth, float).reshape(-1, 2)
    if tolerance <= 0:
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    if len(pred) == 0 or len(truth) == 0:
        return Match(np.zeros((0, 2), int), 0, len(pred), len(truth))
    d = np.linalg.norm(pred[:, None, :] - truth[None, :, :], axis=2)
    cost = np.where(d <= tolerance, d, 1e6)
    r, c = linear_sum_assignment(cost)
    ok = d[r, c] <= tolerance
    pairs = np.stack([r[ok], c[ok]], axis=1)
    tp = int(ok.sum())
    return Match(pairs, tp, len(pred) - tp, len(truth) - tp)


def points_by_frame(table: pd.DataFrame, frames) -> dict:
    """frame → (n, 2) (row, col) px of the table's detections, for the given frames.

    Parameters
    ----------
    table : DataFrame
        Detections with frame, x_px, y_px.
    frames : iterable of int

    Returns
    -------
    dict
    """
    return {f: table.loc[table["frame"] == f, ["y_px", "x_px"]].to_numpy() for f in frames}


def _frame_matches(points_by_frame: dict, truth: pd.DataFrame, pixel_size_A: float, tolerance_A: float):
    """Per frame: (frame, that frame's truth rows, one-to-one Match of detections with them)."""
    ps = check_pixel_size(pixel_size_A)
    for f, pts in points_by_frame.items():
        t = truth[truth["frame"] == f]
        yield f, t, match_points(np.asarray(pts, float).reshape(-1, 2)[:, ::-1] * ps,
                                 t[["x_A", "y_A"]].to_numpy(), tolerance_A)


def match_table(table: pd.DataFrame, truth: pd.DataFrame, tolerance_A: float = 1.0) -> pd.DataFrame:
    """Every true defect and every detection, paired one to one per frame within the tolerance.

    Columns: frame, defect_id (−1 for a false detection), true_class ("none" for a false detection),
    id (−1 for a missed defect), pred_class ("missed" for a missed defect), probability, error_A.

    Parameters
    ----------
    table : DataFrame
        Detections: frame, id, x_A, y_A, class, probability.
    truth : DataFrame
        True defects: frame, defect_id, x_A, y_A, class.
    tolerance_A : float
        Largest distance of a match (Å).

    Returns
    -------
    DataFrame
        One row per pair, missed defect or false detection.
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
