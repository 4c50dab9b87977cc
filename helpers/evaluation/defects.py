"""Reported defects against a movie's truth: the read area, detection, class and position scores, and
recall by how long each defect stays; one frame's defects against the contents planted in it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.evaluation.matching import match_points


def planted_scores(found: pd.DataFrame, truth, site_xy_A, tolerance_A: float = 1.0, on_site_A: float = 0.5):
    """One frame's reported defects against the contents planted in it, over the planted defects on a
    site the reading reads (within ``on_site_A`` of one of ``site_xy_A``).

    Parameters
    ----------
    found : DataFrame
        The reported defects (x_A, y_A, class), as :func:`helpers.detect.sites.defect_table`.
    truth : sequence of (x_A, y_A, class)
        The planted defects.
    site_xy_A : ndarray (n, 2)
        The sites read (Å).
    tolerance_A, on_site_A : float

    Returns
    -------
    (dict, Match, list)
        ``true_defects``, ``reported``, ``f1_1A`` (at ``tolerance_A``), ``precision``, ``recall``,
        ``class_accuracy`` (among the matched); the match (indices into ``found`` and the planted
        defects kept); those planted defects.
    """
    from scipy.spatial import cKDTree

    read = cKDTree(np.asarray(site_xy_A, float).reshape(-1, 2))
    inside = [t for t in truth if read.query(t[:2])[0] < on_site_A]
    m = match_points(found[["x_A", "y_A"]].to_numpy(), [t[:2] for t in inside], tolerance_A)
    right = sum(found["class"].iloc[i] == inside[j][2] for i, j in m.pairs)
    return ({"true_defects": len(inside), "reported": len(found), "f1_1A": m.f1, "precision": m.precision,
             "recall": m.recall, "class_accuracy": right / m.tp if m.tp else 0.0}, m, inside)


def in_read_area(table: pd.DataFrame, frame_shape, pixel_size_A: float, margin_A: float) -> pd.DataFrame:
    """Rows of a table with x_A, y_A (Å; pixel centres at multiples of the pixel size) that lie at
    least ``margin_A`` inside a frame of ``frame_shape`` px: where a reader that leaves a border
    of that width can report defects.

    Parameters
    ----------
    table : DataFrame
    frame_shape : (int, int)
        (H, W) px.
    pixel_size_A : float
        Pixel size (Å/px).
    margin_A : float
        Border width (Å).

    Returns
    -------
    DataFrame
    """
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

    Parameters
    ----------
    found, truth : DataFrame
        frame, x_A, y_A, class.
    pixel_size_A : float
        Pixel size (Å/px).
    frame_shape : tuple
        (H, W) of the frames (px).
    margin_A : float
        Width of the border not read (Å).
    tolerances : tuple of float
        Matching distances (Å).
    classes : sequence of str, optional
        Classes scored for class accuracy.

    Returns
    -------
    dict
        Scores per tolerance, per-class recall, class accuracy and position errors (Å).
    """

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


#: lifetime bins (frames) of :func:`recall_by_lifetime`: right edges, the last open
LIFETIME_BINS = (2, 5, 10, 20, 50)


def defect_episodes(truth: pd.DataFrame) -> pd.DataFrame:
    """``truth`` with each row's episode: the run of consecutive frames in which one defect stays on
    one site as one class. Adds ``episode``, ``lifetime`` (frames of the episode), ``from_end``
    (frames to the nearer end of the episode: 0 on its first and last frame) and ``converted``
    (True when the episode began as a change of content in place: the same defect held the same
    site as another class in the frame before, e.g. a ``Ws`` column that lost its S atom).

    Parameters
    ----------
    truth : DataFrame
        frame, defect_id, class, site_i, site_j (a movie's truth).

    Returns
    -------
    DataFrame
        A copy, sorted by defect and frame.
    """
    t = truth.sort_values(["defect_id", "frame"]).copy()
    new = ((t["defect_id"] != t["defect_id"].shift()) | (t["frame"] != t["frame"].shift() + 1)
           | (t["class"] != t["class"].shift()) | (t["site_i"] != t["site_i"].shift())
           | (t["site_j"] != t["site_j"].shift()))
    t["episode"] = new.cumsum().to_numpy() - 1
    in_place = ((t["defect_id"] == t["defect_id"].shift()) & (t["frame"] == t["frame"].shift() + 1)
                & (t["site_i"] == t["site_i"].shift()) & (t["site_j"] == t["site_j"].shift())
                & (t["class"] != t["class"].shift()))
    t["converted"] = in_place.groupby(t["episode"]).transform("first").to_numpy(bool)
    frame = t.groupby("episode")["frame"]
    first, last = frame.transform("min"), frame.transform("max")
    t["lifetime"] = last - first + 1
    t["from_end"] = np.minimum(t["frame"] - first, last - t["frame"])
    return t


def _episodes_found(found, truth, pixel_size_A, frame_shape, margin_A, tolerance_A) -> pd.DataFrame:
    """The truth in the read area with its episodes (:func:`defect_episodes`) and ``found_class``:
    the class of the found defect matched to each row (one to one per frame, any class; None where
    none was)."""
    t = in_read_area(defect_episodes(truth), frame_shape, pixel_size_A, margin_A).reset_index(drop=True)
    got = np.full(len(t), None, object)
    ff = {f: g for f, g in found.groupby("frame")}
    for f, g in t.groupby("frame"):
        d = ff.get(f)
        if d is None:
            continue
        m = match_points(d[["x_A", "y_A"]].to_numpy(), g[["x_A", "y_A"]].to_numpy(), tolerance_A)
        got[g.index.to_numpy()[m.pairs[:, 1]]] = d["class"].to_numpy()[m.pairs[:, 0]]
    return t.assign(found_class=got)


def recall_by_lifetime(found: pd.DataFrame, truth: pd.DataFrame, pixel_size_A: float, frame_shape,
                       margin_A: float = 0.0, tolerance_A: float = 1.0, bins=LIFETIME_BINS) -> pd.DataFrame:
    """Recall of every true class by the lifetime of the defect's episode
    (:func:`defect_episodes`): a defect seen for many frames can be found at a dose at which one
    frame cannot show it, a short-lived one cannot. Matching as :func:`score_defects` (one to one
    per frame, any class); the truth restricted to the read area.

    Parameters
    ----------
    found, truth : DataFrame
        frame, x_A, y_A, class; ``truth`` also defect_id, site_i, site_j.
    pixel_size_A : float
        Pixel size (Å/px).
    frame_shape : tuple
        (H, W) of the frames (px).
    margin_A : float
        Width of the border not read (Å).
    tolerance_A : float
        Matching distance (Å).
    bins : sequence of int
        Right edges of the lifetime bins (frames); the last bin is open.

    Returns
    -------
    DataFrame
        One row per class and lifetime bin (``lifetime_frames``, an ordered categorical):
        ``defect_frames``, ``recall``, and ``recall_inner`` (frames at least 2 from either end of
        the episode; NaN where none).
    """
    t = _episodes_found(found, truth, pixel_size_A, frame_shape, margin_A, tolerance_A)
    hit = t["found_class"].notna().to_numpy()
    edges = [0, *bins, np.inf]
    labels = [f"{a + 1}–{b}" if np.isfinite(b) else f">{a}" for a, b in zip(edges[:-1], edges[1:])]
    t = t.assign(hit=hit, life=pd.cut(t["lifetime"], edges, labels=labels), inner=t["from_end"] >= 2)
    rows = []
    for (cls, life), g in t.groupby(["class", "life"], observed=True):
        inner = g[g["inner"]]
        rows.append({"class": cls, "lifetime_frames": life, "defect_frames": len(g), "recall": g["hit"].mean(),
                     "recall_inner": inner["hit"].mean() if len(inner) else np.nan})
    out = pd.DataFrame(rows, columns=["class", "lifetime_frames", "defect_frames", "recall", "recall_inner"])
    # ordered by length (a pivot on the bins keeps this order, not the labels' text order)
    out["lifetime_frames"] = pd.Categorical(out["lifetime_frames"], categories=labels, ordered=True)
    return out


def class_accuracy_by_origin(found: pd.DataFrame, truth: pd.DataFrame, pixel_size_A: float, frame_shape,
                             margin_A: float = 0.0, tolerance_A: float = 1.0, classes=None) -> pd.DataFrame:
    """Class accuracy of the found defects split by how each true defect's episode began
    (:func:`defect_episodes`): ``arrived`` on a pristine site (born or hopped in), or ``converted``
    in place from another defect content (a column that gained or lost one atom). A conversion by
    one chalcogen atom changes a reading by ~0.07 of a metal column, so it is the hard case.
    Matching as :func:`score_defects` (one to one per frame, any class).

    Parameters
    ----------
    found, truth : DataFrame
        frame, x_A, y_A, class; ``truth`` also defect_id, site_i, site_j.
    pixel_size_A : float
        Pixel size (Å/px).
    frame_shape : tuple
        (H, W) of the frames (px).
    margin_A : float
        Width of the border not read (Å).
    tolerance_A : float
        Matching distance (Å).
    classes : sequence of str, optional
        True classes scored (default: all).

    Returns
    -------
    DataFrame
        One row per true class and origin, plus ``all`` rows per origin: ``found`` (matched
        defect-frames) and ``class_accuracy``.
    """
    t = _episodes_found(found, truth, pixel_size_A, frame_shape, margin_A, tolerance_A)
    if classes is not None:
        t = t[t["class"].isin(classes)]
    t = t.assign(origin=np.where(t["converted"], "converted", "arrived"))
    t = t[t["found_class"].notna()]
    t = t.assign(right=t["found_class"] == t["class"])
    rows = [{"class": c, "origin": o, "found": len(g), "class_accuracy": g["right"].mean()}
            for (c, o), g in t.groupby(["class", "origin"])]
    rows += [{"class": "all", "origin": o, "found": len(g), "class_accuracy": g["right"].mean()}
             for o, g in t.groupby("origin")]
    return pd.DataFrame(rows, columns=["class", "origin", "found", "class_accuracy"])
