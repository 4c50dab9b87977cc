"""Kinetics from tracks (notebook 07): class-to-class transitions, hop counts and rates, mean
squared displacements and diffusion coefficients.

Tracks come from :func:`helpers.kinetics.tracking.link` (positions in Å, drift-corrected
``x_corr_A``, ``y_corr_A``; time in frames); rates are per frame.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def smooth_classes(classes, window: int = 5) -> np.ndarray:
    """Running majority vote of a track's per-frame classes (odd ``window``; ties keep the frame's own).

    Parameters
    ----------
    classes : array-like of str
    window : int

    Returns
    -------
    ndarray of str
    """
    c = np.asarray(classes, dtype=object)
    if window <= 1 or len(c) < 2:
        return c.copy()
    h = window // 2
    out = c.copy()
    for i in range(len(c)):
        seg = list(c[max(0, i - h):i + h + 1])
        vals, counts = np.unique(np.array(seg, dtype=str), return_counts=True)
        best = vals[counts == counts.max()]
        out[i] = c[i] if c[i] in best else best[0]
    return out


def transition_counts(sequences, classes) -> np.ndarray:
    """Counts of class a at frame t followed by class b at frame t+1 (consecutive frames only).

    ``sequences``: iterable of (frames, classes) pairs, one per track; labels not in ``classes``
    (e.g. ``unknown``) break the chain at that frame.

    Parameters
    ----------
    sequences : iterable of (frames, classes)
        One pair of arrays per track (:func:`track_sequences`).
    classes : sequence of str
        Row and column order.

    Returns
    -------
    ndarray (K, K) of int
        Counts, rows the class at t, columns the class at t + 1.
    """
    idx = {c: i for i, c in enumerate(classes)}
    n = np.zeros((len(classes), len(classes)), np.int64)
    for frames, cls in sequences:
        f = np.asarray(frames)
        c = list(cls)
        for k in range(len(f) - 1):
            if f[k + 1] - f[k] == 1 and c[k] in idx and c[k + 1] in idx:
                n[idx[c[k]], idx[c[k + 1]]] += 1
    return n


def transition_matrix(counts: np.ndarray) -> np.ndarray:
    """Row-normalized transition probabilities; rows of classes never seen are NaN (not 0/0).

    Parameters
    ----------
    counts : ndarray (K, K)
        From :func:`transition_counts`.

    Returns
    -------
    ndarray (K, K)
        Per-frame probabilities, rows summing to 1 (NaN rows without data).
    """
    counts = np.asarray(counts, float)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, counts / np.where(rows > 0, rows, 1), np.nan)


def track_sequences(tracks: pd.DataFrame, class_column: str = "class", smooth: int = 1):
    """(frames, classes) of every track, classes optionally majority-smoothed.

    Parameters
    ----------
    tracks : DataFrame
    class_column : str
    smooth : int
        Majority window (frames).

    Returns
    -------
    list of (ndarray, ndarray)
    """
    out = []
    for _, g in tracks.sort_values("frame").groupby("track"):
        out.append((g["frame"].to_numpy(), smooth_classes(g[class_column].to_numpy(), smooth)))
    return out


def truth_sequences(truth: pd.DataFrame):
    """(frames, classes) of every true defect (in view).

    Parameters
    ----------
    truth : DataFrame
        ``Movie.visible_truth()``.

    Returns
    -------
    list of (ndarray, ndarray)
    """
    return [(g["frame"].to_numpy(), g["class"].to_numpy())
            for _, g in truth.sort_values("frame").groupby("defect_id")]


def hop_counts(tracks: pd.DataFrame, classes, hop_min_A: float = 1.6, smooth: int = 1,
               x: str = "x_corr_A", y: str = "y_corr_A", class_column: str = "class",
               max_gap: int = 1, hop_zone: int = 0, hop_context: int = 6,
               share_disputed: bool = False) -> dict:
    """Per class: (hops, frames) — the steps of a track whose class is the same on both sides, and
    how many of them are longer than ``hop_min_A`` (half a lattice constant).

    ``max_gap``: steps between detections up to this many frames apart count, each adding its
    frames to the exposure (a detector on ±h summed frames sees a hopping defect half at each site
    and can miss it for a few frames: set it to the linking memory + 1).
    ``hop_zone`` > 0: the frames within ``hop_zone`` of a hop take the class the track has just
    outside them (the majority of ``classes`` over the next ``hop_context`` frames on both sides).
    A class read from frames averaged over ±k frames (summed frames, column averages) sees the
    half-filled columns of both sites around a hop; ``hop_zone`` = the sum of those half-widths.
    Then the classes are majority-smoothed over ``smooth`` frames (:func:`smooth_classes`).
    ``share_disputed`` (with ``hop_zone``): where the classes just before and just after a hop
    differ (a class change within a few frames of the hop, which the zone cannot place), each side's
    zone frames take their own side's class and the hop counts half to each class, instead of all
    of it to the class with more context frames.

    Parameters
    ----------
    tracks : DataFrame
        Linked defects.
    classes : sequence of str
    hop_min_A : float
        Shortest hop (Å).
    smooth : int
    x, y, class_column : str
    max_gap, hop_zone, hop_context : int
        Frames (see above).
    share_disputed : bool

    Returns
    -------
    dict
        Class → (hops, frames).
    """
    if max_gap < 1 or hop_zone < 0 or hop_context < 1:
        raise ValueError(f"need max_gap >= 1, hop_zone >= 0, hop_context >= 1; got {max_gap}, "
                         f"{hop_zone}, {hop_context}")
    steps = {c: [0, 0] for c in classes}
    known = list(classes)
    for _, g in tracks.sort_values("frame").groupby("track"):
        f = g["frame"].to_numpy()
        xy = g[[x, y]].to_numpy(float)
        cl = g[class_column].to_numpy().astype(object)
        gap = np.diff(f)
        hop = (np.hypot(*np.diff(xy, axis=0).T) > hop_min_A) if len(f) > 1 else np.zeros(0, bool)
        disputed = np.zeros(len(gap), bool)
        if hop_zone > 0:
            relabelled = cl.copy()
            for k in np.flatnonzero(hop & (gap <= max_gap)):
                mid = (f[k] + f[k + 1]) / 2
                dt = np.abs(f - mid)
                ctx = (dt > hop_zone) & (dt <= hop_zone + hop_context) & np.isin(cl.astype(str), known)
                before, after = _majority(cl[ctx & (f < mid)]), _majority(cl[ctx & (f > mid)])
                if share_disputed and before is not None and after is not None and before != after:
                    relabelled[(dt <= hop_zone) & (f < mid)] = before
                    relabelled[(dt <= hop_zone) & (f > mid)] = after
                    disputed[k] = True
                else:
                    both = _majority(cl[ctx])
                    if both is not None:
                        relabelled[dt <= hop_zone] = both
            cl = relabelled
        cl = smooth_classes(cl, smooth)
        for k in range(len(f) - 1):
            if gap[k] > max_gap:
                continue
            if cl[k] in steps and cl[k] == cl[k + 1]:
                steps[cl[k]][1] += int(gap[k])
                steps[cl[k]][0] += int(hop[k])
            elif disputed[k]:
                for c in (cl[k], cl[k + 1]):
                    if c in steps:
                        steps[c][1] += gap[k] / 2
                        steps[c][0] += 0.5
    return {c: (h, n) for c, (h, n) in steps.items()}


def _majority(values):
    """The most frequent entry (ties: the first in sorted order), None for no entries."""
    if len(values) == 0:
        return None
    vals, counts = np.unique(np.asarray(values).astype(str), return_counts=True)
    return vals[np.argmax(counts)]


def hop_rates(tracks: pd.DataFrame, classes, hop_min_A: float = 1.6, smooth: int = 1,
              x: str = "x_corr_A", y: str = "y_corr_A", class_column: str = "class",
              **kw) -> dict:
    """Per class: hops per frame, :func:`hop_counts` hops / frames (NaN without frames); ``kw``
    go to :func:`hop_counts`. With N hops the counting error alone is ≈ 1/√N of the rate.

    Parameters
    ----------
    tracks : DataFrame
        Linked defects (:func:`link`).
    classes : sequence of str
        Classes to report.
    hop_min_A : float
        Shortest step counted as a hop (Å).
    smooth : int
        Frames of the majority vote on each track's classes.
    x, y, class_column : str
        Position (Å) and class columns.
    **kw
        ``max_gap``, ``hop_zone``, ``hop_context``, ``share_disputed`` of :func:`hop_counts`.

    Returns
    -------
    dict
        Class → hops per frame (NaN without frames).
    """
    counts = hop_counts(tracks, classes, hop_min_A, smooth, x, y, class_column, **kw)
    return {c: (h / n if n else float("nan")) for c, (h, n) in counts.items()}


def hop_rate_errors(tracks: pd.DataFrame, true_tracks: pd.DataFrame, classes, smooth: int = 1,
                    **kw) -> dict:
    """Per class with hops in ``true_tracks``: |recovered − true| / true hop rate, the recovered
    rate from ``tracks`` (:func:`hop_rates` with ``smooth`` and ``kw``), the true one from the true
    trajectories linked the same way (consecutive frames, no smoothing). NaN where ``tracks`` hold
    no frames of the class.

    Parameters
    ----------
    tracks, true_tracks : DataFrame
    classes : sequence of str
    smooth : int
    **kw
        Options of :func:`hop_counts`.

    Returns
    -------
    dict
        Class → relative error.
    """
    true = hop_rates(true_tracks, classes)
    rec = hop_rates(tracks, classes, smooth=smooth, **kw)
    return {c: abs(rec[c] - true[c]) / true[c] for c in classes if true[c] > 0}


def pooled_hop_rates(movies, classes, smooth: int = 1, **kw) -> pd.DataFrame:
    """Hop rates pooled over several movies: ``movies`` is a list of (tracks, true_tracks) pairs.

    Per class: the hops and frames of the true trajectories summed over the movies (consecutive
    frames), the same of the recovered tracks (:func:`hop_counts` with ``smooth`` and ``kw``), both
    rates, |recovered − true| / true, and the counting error 1/√N of the pooled true hops. A rate
    from one movie with a dozen hops is known to ≈ 30 % from counting alone; pooling shrinks that.

    Parameters
    ----------
    movies : list of (DataFrame, DataFrame)
    classes : sequence of str
    smooth : int
    **kw
        Options of :func:`hop_counts`.

    Returns
    -------
    DataFrame
        Per class: true hops and rate, recovered hops and rate, the relative error.
    """
    if not movies:
        raise ValueError("no movies to pool")
    tot = {c: np.zeros(4) for c in classes}
    for tracks, true_tracks in movies:
        ct = hop_counts(true_tracks, classes)
        cr = hop_counts(tracks, classes, smooth=smooth, **kw)
        for c in classes:
            tot[c] += [ct[c][0], ct[c][1], cr[c][0], cr[c][1]]
    rows = {}
    for c, (h_t, n_t, h_r, n_r) in tot.items():
        r_t = h_t / n_t if n_t else np.nan
        r_r = h_r / n_r if n_r else np.nan
        rows[c] = {"true hops": h_t, "true rate": r_t, "recovered hops": h_r, "recovered rate": r_r,
                   "rel error": abs(r_r - r_t) / r_t if h_t > 0 else np.nan,
                   "counting error 1/√N": 1 / np.sqrt(h_t) if h_t > 0 else np.nan}
    return pd.DataFrame(rows).T


def msd_by_class(tracks: pd.DataFrame, max_lag: int = 20, x: str = "x_corr_A", y: str = "y_corr_A",
                 class_column: str = "class") -> pd.DataFrame:
    """Mean squared displacement (Å²) against lag (frames) per class (a track's class: its most
    frequent one), and the diffusion coefficient D = slope / 4 (Å²/frame) of a line through 0.

    Parameters
    ----------
    tracks : DataFrame
        Linked defects (:func:`link`).
    max_lag : int
        Longest lag (frames).
    x, y, class_column : str
        Position (Å) and class columns.

    Returns
    -------
    DataFrame
        Rows: lag (frames); columns: classes; values: MSD (Å²).
    """
    rows = []
    for cls, gcls in tracks.groupby(tracks.groupby("track")[class_column].transform(
            lambda s: s.value_counts().index[0])):
        sq = {lag: [] for lag in range(1, max_lag + 1)}
        for _, g in gcls.groupby("track"):
            s = g.set_index("frame")[[x, y]].astype(float)
            for lag in range(1, max_lag + 1):
                d = s.reindex(s.index + lag).to_numpy() - s.to_numpy()
                d = d[np.all(np.isfinite(d), axis=1)]
                sq[lag].extend((d**2).sum(axis=1))
        for lag, v in sq.items():
            if v:
                rows.append((cls, lag, float(np.mean(v)), len(v)))
    return pd.DataFrame(rows, columns=["class", "lag", "msd_A2", "n"])


def diffusion_coefficients(msd: pd.DataFrame) -> dict:
    """D (Å²/frame) per class from a least-squares line through the origin of MSD vs lag.

    Parameters
    ----------
    msd : DataFrame
        From :func:`msd_by_class`.

    Returns
    -------
    dict
        Class → D (Å²/frame).
    """
    out = {}
    for cls, g in msd.groupby("class"):
        lag, v = g["lag"].to_numpy(float), g["msd_A2"].to_numpy(float)
        out[cls] = float((lag * v).sum() / (lag * lag).sum() / 4.0)
    return out
