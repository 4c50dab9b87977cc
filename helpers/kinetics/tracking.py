"""Defects through time: linking detections into tracks (trackpy) and counts over time
(notebook 07; the kinetics from the tracks are in :mod:`helpers.kinetics.rates`).

Positions are in Å (``x_A``, ``y_A``), time in frames. The class of a defect can change between
frames (that is the chemistry); a track follows a *site*, and its per-frame classes give the
class-to-class transitions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

REQUIRED = ("frame", "x_A", "y_A", "class")


#: linking of movie detections (notebook 07, ``python -m helpers analyze``): the largest step
#: between frames (a one-site hop, 3.18 Å, plus position errors), the frames a defect may be missed,
#: and how far apart the two tracks of a hop seen at both sites may end and start (one lattice step
#: plus the position errors of two detections; 3.6 Å lost hops whose ends lay 3.75 Å apart)
MOVIE_SEARCH_RANGE_A = 3.6


MOVIE_MEMORY_FRAMES = 3


MOVIE_JOIN_DISTANCE_A = 4.0


def check_table(table: pd.DataFrame, required=REQUIRED, name: str = "defect table") -> pd.DataFrame:
    """The table if it has the columns and at least one row; else ValueError naming the problem.

    Parameters
    ----------
    table : DataFrame
    required : tuple of str
    name : str
        How errors name it.

    Returns
    -------
    DataFrame
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; it has {list(table.columns)}")
    if len(table) == 0:
        raise ValueError(f"{name} is empty: nothing to track")
    if not np.all(np.isfinite(table[["x_A", "y_A"]].to_numpy(float))):
        raise ValueError(f"{name} has NaN or infinite positions")
    return table


def link(table: pd.DataFrame, search_range_A: float = 1.6, memory: int = 3,
         drift_correct: bool = True, overlap_frames: int = 0,
         join_distance_A: float | None = None) -> pd.DataFrame:
    """Link detections into tracks with trackpy; adds a ``track`` column (and returns a copy).

    ``search_range_A``: the largest displacement between consecutive frames (a defect that hops
    one lattice site, 3.2 Å, starts a new track unless the range allows it); ``memory``: frames a
    defect may be missed and still keep its track. With ``drift_correct`` the sample drift is
    estimated from the tracks (trackpy.compute_drift) and the linking is repeated in the
    drift-corrected frame. ``overlap_frames`` > 0: detections made on sums of several frames see a
    hopping defect at both sites for a few frames; :func:`close_overlaps` then joins such tracks
    whose ends lie within ``join_distance_A`` (default ``search_range_A``): one lattice step plus
    the position errors of the two detections.

    Parameters
    ----------
    table : DataFrame
        Defects: frame, x_A, y_A, class (positions in Å).
    search_range_A : float
        Largest displacement between consecutive frames (Å).
    memory : int
        Frames a defect may be missed and keep its track.
    drift_correct : bool
        Estimate the sample drift from the tracks and link again without it.
    overlap_frames : int
        Frames a hop is seen at both sites (summed frames); 0: no joining.
    join_distance_A : float, optional
        Largest distance (Å) between the ends of two tracks joined by :func:`close_overlaps`.

    Returns
    -------
    DataFrame
        A copy of ``table`` with ``track`` and the drift-corrected ``x_corr_A``, ``y_corr_A`` (Å).
    """
    import trackpy as tp

    t = check_table(table).copy()
    if search_range_A <= 0:
        raise ValueError(f"search_range_A must be positive, got {search_range_A}")
    join_distance_A = search_range_A if join_distance_A is None else float(join_distance_A)
    if not join_distance_A > 0:
        raise ValueError(f"join_distance_A must be positive, got {join_distance_A}")
    t = t.reset_index(drop=True)
    t["x"], t["y"] = t["x_A"].astype(float), t["y_A"].astype(float)
    tp.quiet()
    # where detections are too dense for the search range, trackpy shrinks it locally (adaptive)
    kw = dict(search_range=search_range_A, memory=memory, pos_columns=["x", "y"], t_column="frame",
              adaptive_stop=min(1.0, search_range_A / 2), adaptive_step=0.9)
    linked = tp.link_df(t, **kw)
    if drift_correct and t["frame"].nunique() > 2:
        drift = tp.compute_drift(linked, pos_columns=["x", "y"])
        drift = drift.reindex(sorted(t["frame"].unique())).interpolate().fillna(0.0)
        t["x"] = t["x_A"] - drift["x"].reindex(t["frame"]).to_numpy()
        t["y"] = t["y_A"] - drift["y"].reindex(t["frame"]).to_numpy()
        linked = tp.link_df(t, **kw)
    linked = linked.rename(columns={"particle": "track", "x": "x_corr_A", "y": "y_corr_A"})
    linked = linked.sort_values(["track", "frame"]).reset_index(drop=True)
    if overlap_frames > 0:
        linked = close_overlaps(linked, max_distance_A=join_distance_A, max_overlap=overlap_frames,
                                max_gap=memory)
    return linked


def link_movie(table: pd.DataFrame, sum_half_window: int) -> pd.DataFrame:
    """:func:`link` with the movie settings above, for detections made on frames summed over
    ±``sum_half_window`` frames (a hop is seen at both sites for up to 2 × that many frames).

    Parameters
    ----------
    table : DataFrame
        Defects: frame, x_A, y_A, class (Å).
    sum_half_window : int
        Half window (frames) of the sums the detections were made on.

    Returns
    -------
    DataFrame
        ``table`` with a ``track`` column and drift-corrected positions ``x_corr_A``, ``y_corr_A``.
    """
    if int(sum_half_window) != sum_half_window or sum_half_window < 0:
        raise ValueError(f"sum_half_window must be a non-negative integer, got {sum_half_window}")
    return link(table, search_range_A=MOVIE_SEARCH_RANGE_A, memory=MOVIE_MEMORY_FRAMES,
                overlap_frames=2 * int(sum_half_window), join_distance_A=MOVIE_JOIN_DISTANCE_A)


def renumber_tracks(tracks: pd.DataFrame) -> pd.DataFrame:
    """Tracks numbered 1, 2, ... in order of their first detection (frame, then id), so the same
    detections always give the same track numbers, whatever the linker's internal order.

    Parameters
    ----------
    tracks : DataFrame

    Returns
    -------
    DataFrame
    """
    t = tracks.copy()
    first = t.sort_values(["frame", "id"]).drop_duplicates("track")["track"].to_numpy()
    t["track"] = t["track"].map({old: new for new, old in enumerate(first, start=1)})
    return t.sort_values(["track", "frame"]).reset_index(drop=True)


def link_true_positions(truth: pd.DataFrame) -> pd.DataFrame:
    """The movie's true defect positions (``visible_truth()``) linked as :func:`link_movie` links
    detections, without the overlap join (true positions sit at one site per frame): what the
    tracker does with perfect detections, and the reference of the hop-rate errors.

    Parameters
    ----------
    truth : DataFrame

    Returns
    -------
    DataFrame
    """
    t = check_table(truth, REQUIRED + ("defect_id",), "truth table")
    return link(t.assign(id=t.groupby("frame").cumcount()), search_range_A=MOVIE_SEARCH_RANGE_A,
                memory=MOVIE_MEMORY_FRAMES)


def close_overlaps(tracks: pd.DataFrame, max_distance_A: float = 3.6, max_overlap: int = 4,
                   max_gap: int = 3) -> pd.DataFrame:
    """Join a track that ends to one that starts within ``max_distance_A`` of its last position,
    from ``max_overlap`` frames before its end to ``max_gap`` frames after it (one-to-one, nearest
    first: Hungarian assignment). Where both exist, each keeps its frames on its own side of the
    midpoint; the other rows (the same defect seen a second time) are dropped from the tracks.

    Why: a detector that sees each frame summed with its ±h neighbours sees a defect that hops at
    frame t at its old site until ~t + h and at its new site from ~t − h; trackpy gives each site
    its own track, so the hop — one step of one defect — is lost. A neighbour that coexists with a
    track for longer than ``max_overlap`` frames is another defect and is never joined.

    Parameters
    ----------
    tracks : DataFrame
    max_distance_A : float
        Largest end-to-start distance (Å).
    max_overlap, max_gap : int
        Frames.

    Returns
    -------
    DataFrame
    """
    from scipy.optimize import linear_sum_assignment

    t = tracks.copy()
    if t.empty:
        return t
    g = t.sort_values("frame").groupby("track")
    first, last = g.head(1).set_index("track"), g.tail(1).set_index("track")
    ids = first.index.to_numpy()
    s, e = first["frame"].to_numpy(), last["frame"].reindex(ids).to_numpy()
    end_xy = last[["x_corr_A", "y_corr_A"]].reindex(ids).to_numpy(float)
    start_xy = first[["x_corr_A", "y_corr_A"]].to_numpy(float)
    dt = s[None, :] - e[:, None]  # start of B minus end of A
    d = np.hypot(*(start_xy[None, :, :] - end_xy[:, None, :]).transpose(2, 0, 1))
    ok = ((dt >= -max_overlap) & (dt <= max_gap + 1) & (s[None, :] > s[:, None]) & (e[None, :] > e[:, None])
          & (d <= max_distance_A))
    np.fill_diagonal(ok, False)
    if not ok.any():
        return t
    rows, cols = np.nonzero(ok.any(axis=1))[0], np.nonzero(ok.any(axis=0))[0]
    cost = np.where(ok[np.ix_(rows, cols)], d[np.ix_(rows, cols)] + 0.01 * np.abs(dt[np.ix_(rows, cols)]), 1e6)
    ra, cb = linear_sum_assignment(cost)
    parent = {int(i): int(i) for i in ids}

    def root(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    track = t["track"].to_numpy()
    frame = t["frame"].to_numpy()
    drop = np.zeros(len(t), bool)
    for a, b in zip(rows[ra], cols[cb]):
        if not ok[a, b]:
            continue
        ta, tb = int(ids[a]), int(ids[b])
        cut = (e[a] + 1 + s[b]) // 2 if dt[a, b] < 1 else s[b]  # first frame at the new site
        drop |= ((track == ta) & (frame >= cut)) | ((track == tb) & (frame < cut))
        parent[root(tb)] = root(ta)
    t = t[~drop].copy()
    t["track"] = [root(int(k)) for k in t["track"].to_numpy()]
    return t.sort_values(["track", "frame"]).reset_index(drop=True)


def counts_over_time(table: pd.DataFrame, classes, n_frames: int) -> pd.DataFrame:
    """Defects per class per frame (frames × classes), zero where none.

    Parameters
    ----------
    table : DataFrame
        Defects with ``frame`` (from 0) and ``class``.
    classes : sequence of str
        Columns of the result, in this order.
    n_frames : int
        Frames of the movie (rows of the result).

    Returns
    -------
    DataFrame
        Integer counts, frames × classes.
    """
    ct = pd.crosstab(table["frame"], table["class"])
    return ct.reindex(index=range(n_frames), columns=list(classes), fill_value=0).fillna(0).astype(int)
