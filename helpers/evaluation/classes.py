"""Confusion matrices and per-class scores of a classifier."""
from __future__ import annotations

import numpy as np
import pandas as pd


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts (n_classes × n_classes): rows true, columns predicted.

    Parameters
    ----------
    y_true, y_pred : array-like of int
    n_classes : int

    Returns
    -------
    ndarray (n_classes, n_classes) of int
    """
    y_true = np.asarray(y_true, int)
    y_pred = np.asarray(y_pred, int)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {y_true.shape} vs {y_pred.shape}")
    if len(y_true) and (min(y_true.min(), y_pred.min()) < 0
                        or max(y_true.max(), y_pred.max()) >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def per_class_report(cm: np.ndarray, class_names) -> pd.DataFrame:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where undefined).

    Parameters
    ----------
    cm : ndarray (K, K)
    class_names : sequence of str

    Returns
    -------
    DataFrame
        One row per class.
    """
    cm = np.asarray(cm, float)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1,
                         "support": support.astype(int)}, index=list(class_names))


def accuracy(cm: np.ndarray) -> float:
    """The share of a confusion matrix on its diagonal.

    Parameters
    ----------
    cm : ndarray (K, K)

    Returns
    -------
    float
    """
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0
