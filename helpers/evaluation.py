"""Scores: confusion matrices and per-class precision, recall and F1 (no division by zero)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts (n_classes × n_classes): rows true, columns predicted."""
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
    """Precision, recall, F1 and support per class from a confusion matrix (0 where undefined)."""
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
    """The share of a confusion matrix on its diagonal."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def in_read_area(table: pd.DataFrame, frame_shape, pixel_size_A: float, margin_A: float) -> pd.DataFrame:
    """Rows of a table with x_A, y_A (Å; pixel centres at multiples of the pixel size) that lie at
    least ``margin_A`` inside a frame of ``frame_shape`` px: where a reader that leaves a border
    of that width can report defects."""
    h, w = frame_shape[-2:]
    x, y = table["x_A"], table["y_A"]
    return table[(x >= margin_A) & (x <= (w - 1) * pixel_size_A - margin_A)
                 & (y >= margin_A) & (y <= (h - 1) * pixel_size_A - margin_A)]


def score_defects(found: pd.DataFrame, truth: pd.DataFrame, pixel_size_A: float, frame_shape,
                  margin_A: float = 0.0, tolerances=(1.0, 0.5), classes=None) -> dict:
    """Reported defects against the truth, frame by frame (one-to-one matching within each tolerance).

    ``found``, ``truth``: frame, x_A, y_A, class. The truth is restricted to the read area (``margin_A``
    inside the frame, :func:`in_read_area`); reported defects outside it count as false and are
    counted apart (``reported_in_margin``). Returns, per tolerance, precision / recall / F1; at the
    first tolerance, per-class recall (found, whatever class), class accuracy on found defects of
    ``classes`` (default: every true class), and the position errors of matched pairs (mean x and y
    bias, median distance, Å).
    """
    from .localize import match_points

    truth = in_read_area(truth, frame_shape, pixel_size_A, margin_A)
    inside = in_read_area(found, frame_shape, pixel_size_A, margin_A - 1e-6)
    out = {"reported_in_margin": int(len(found) - len(inside)), "true_defects": int(len(truth)),
           "reported": int(len(found))}
    frames = sorted(set(truth["frame"]).union(found["frame"]))
    tf = {f: g for f, g in truth.groupby("frame")}
    ff = {f: g for f, g in found.groupby("frame")}
    empty = truth.iloc[:0]
    for k, tol in enumerate(tolerances):
        tp = fp = fn = 0
        pairs = []
        for f in frames:
            t, d = tf.get(f, empty), ff.get(f, found.iloc[:0])
            m = match_points(d[["x_A", "y_A"]].to_numpy(), t[["x_A", "y_A"]].to_numpy(), tol)
            tp, fp, fn = tp + m.tp, fp + m.fp, fn + m.fn
            if k == 0 and len(m.pairs):
                pairs.append(pd.DataFrame({"true_class": t["class"].to_numpy()[m.pairs[:, 1]],
                                           "class": d["class"].to_numpy()[m.pairs[:, 0]],
                                           "dx": d["x_A"].to_numpy()[m.pairs[:, 0]] - t["x_A"].to_numpy()[m.pairs[:, 1]],
                                           "dy": d["y_A"].to_numpy()[m.pairs[:, 0]] - t["y_A"].to_numpy()[m.pairs[:, 1]]}))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out[f"precision_{tol:g}A"], out[f"recall_{tol:g}A"] = p, r
        out[f"f1_{tol:g}A"] = 2 * p * r / (p + r) if p + r else 0.0
        if k == 0:
            pr = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame(
                columns=["true_class", "class", "dx", "dy"])
            n_true = truth["class"].value_counts()
            n_found = pr["true_class"].value_counts()
            out["recall_per_class"] = {c: float(n_found.get(c, 0) / n) for c, n in n_true.items()}
            lib = pr if classes is None else pr[pr["true_class"].isin(classes)]
            out["class_accuracy"] = float((lib["true_class"] == lib["class"]).mean()) if len(lib) else float("nan")
            out["position_bias_A"] = [float(pr["dx"].mean()), float(pr["dy"].mean())] if len(pr) else [np.nan, np.nan]
            out["position_median_error_A"] = float(np.median(np.hypot(pr["dx"], pr["dy"]))) if len(pr) else np.nan
    return out


def site_reading_variants(n_frames: int) -> dict:
    """Movies that differ from the standard one in one thing each (name → MovieParams): seed, pixel
    size (0.12, 0.16, 0.25 Å/px at the same ~102 Å field), dose per frame (×0.5, ×2), probe size
    (0.8, 1.3 Å FWHM) and lattice constant (3.16 Å, MoS2's)."""
    from .movie import standard_params

    field_A = 102.4
    v = {"standard": {}, "seed 7": {"seed": 7}, "seed 11": {"seed": 11}}
    for ps in (0.12, 0.16, 0.25):
        v[f"{ps} Å/px"] = {"pixel_size_A": ps, "frame_px": int(round(field_A / ps))}
    v.update({"dose ×0.5": {"dose_e_per_A2": 5e3}, "dose ×2": {"dose_e_per_A2": 2e4},
              "probe 0.8 Å": {"probe_fwhm_A": 0.8}, "probe 1.3 Å": {"probe_fwhm_A": 1.3},
              "a = 3.16 Å": {"lattice_a_A": 3.16}})
    return {k: standard_params(n_frames=n_frames, **kw) for k, kw in v.items()}


def score_site_reading(variants: dict, progress: bool = True) -> pd.DataFrame:
    """Read every site of each movie variant (:func:`helpers.sites.read_sites`, default settings) and
    score the defects against its truth (:func:`score_defects`): one row per variant with F1 at 1
    and 0.5 Å, precision, recall, class accuracy, recall per class, position bias and median error,
    defects reported in the margin, the share of sites masked (:mod:`helpers.areas`; none expected
    on these clean simulated monolayers) and the reading time."""
    import time

    from tqdm.auto import tqdm

    from . import sites as st
    from .movie import standard_movie

    rows = []
    for name, params in tqdm(variants.items(), desc="movie variants", disable=not progress):
        m = standard_movie(params, progress=False)
        t0 = time.perf_counter()
        r = st.read_sites(m.frames, m.pixel_size_A, m.params.lattice_a_A)
        seconds = time.perf_counter() - t0
        sc = score_defects(st.defect_table(r), m.visible_truth(), m.pixel_size_A, m.frames.shape,
                           st.EDGE_MARGIN_A, classes=st.DEFECT_CLASSES)
        row = {"variant": name, "frames": len(m.frames), "pixel_size_A": m.pixel_size_A,
               "dose_e_per_A2": params.dose_e_per_A2, "f1_1A": sc["f1_1A"], "f1_0.5A": sc["f1_0.5A"],
               "precision_1A": sc["precision_1A"], "recall_1A": sc["recall_1A"],
               "class_accuracy": sc["class_accuracy"], "min_class_recall": min(sc["recall_per_class"].values()),
               "position_bias_A": float(np.hypot(*sc["position_bias_A"])),
               "position_median_error_A": sc["position_median_error_A"],
               "reported_in_margin": sc["reported_in_margin"],
               "masked_share": float((r.sites["class"] == st.MASKED).mean()), "read_s": seconds}
        row.update({f"recall {c}": sc["recall_per_class"].get(c, np.nan) for c in st.DEFECT_CLASSES})
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")
