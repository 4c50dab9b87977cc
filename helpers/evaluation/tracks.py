"""Scores of tracks against the true identities: defects, and adatoms that hop.

Public: :func:`score_tracks`, :func:`score_adatom_tracks`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.evaluation.matching import match_points

__all__ = ["score_tracks", "score_adatom_tracks"]


def score_tracks(matches: pd.DataFrame, tracks: pd.DataFrame) -> dict:
    """Score tracks against the truth.

    ``matches``: :func:`helpers.evaluation.matching.match_table` (frame, defect_id, id); ``tracks``: the
    linked table (frame, id, track). For each true defect, the track that covers most of its
    detected frames is its identity; *identity recovery* is the fraction of all true defect-frames
    (missed ones included) detected on that track; an *identity switch* is a change of track between
    consecutive detections of one defect; a defect is *fragmented* when more than one track covers it.

    Parameters
    ----------
    matches : DataFrame
        From :func:`helpers.evaluation.matching.match_table`.
    tracks : DataFrame
        The linked detections (frame, id, track).

    Returns
    -------
    dict
        ``track_identity_recovery``, ``identity_recovery_of_detected``, ``id_switches``,
        ``fragmented_defects``, ``tracks``.
    """
    m = matches[(matches["defect_id"] >= 0)][["frame", "defect_id", "id"]]
    m = m.merge(tracks[["frame", "id", "track"]], on=["frame", "id"], how="left")
    total = len(m)
    if total == 0:
        raise ValueError("no true defects in the match table")
    recovered = switches = fragmented = detected = 0
    for _, g in m.sort_values("frame").groupby("defect_id"):
        tr = g["track"].dropna()
        if tr.empty:
            continue
        detected += len(tr)
        recovered += int(tr.value_counts().iloc[0])
        switches += int((tr.to_numpy()[1:] != tr.to_numpy()[:-1]).sum())
        fragmented += int(tr.nunique() > 1)
    n_def = m["defect_id"].nunique()
    return {"track_identity_recovery": recovered / total,
            "identity_recovery_of_detected": recovered / detected if detected else 0.0,
            "id_switches": switches,
            "fragmented_defects": fragmented, "true_defects": int(n_def),
            "tracks": int(tracks["track"].nunique())}


def score_adatom_tracks(tracks, moves: dict, in_image_A, hops, lattice_a_A: float, within_A: float = 0.6) -> dict:
    """Adatom readings, tracks and moves (:func:`helpers.kinetics.adatom_tracks.track_adatoms`)
    against the true adatoms (:class:`helpers.synthetic.adatom_movie.AdatomMovie`).

    A reading is found where it lies within ``within_A`` of a true adatom of its frame (one to one);
    a track's readings belong to the true adatoms they are matched to (*purity*: the share that
    belong to each track's commonest one); a found move — a step of more than a/2 between two
    readings of one track — is right where both readings belong to one adatom that made a true hop
    between their frames.

    Parameters
    ----------
    tracks : DataFrame or None
        ``frame`` (from 0), ``x_A``, ``y_A``, ``x_corr_A``, ``y_corr_A``, ``track``.
    moves : dict
        :func:`helpers.kinetics.adatom_tracks.adatom_moves` (its ``moves_per_adatom_frame``).
    in_image_A : ndarray (frames, adatoms, 2)
        True positions in the image (x, y Å).
    hops : list of (adatom, frame it arrived in)
    lattice_a_A : float
    within_A : float

    Returns
    -------
    dict
        ``readings_true``, ``readings_listed``, ``recall``, ``precision``, ``tracks``, ``track_purity``,
        ``tracks_per_adatom``, ``moves_true``, ``moves_found``, ``move_recall``, ``move_precision``,
        ``rate_true``, ``rate_found``.
    """
    truth = np.asarray(in_image_A, float)
    T, K, _ = truth.shape
    if tracks is None or "track" not in tracks:  # no adatom listed in any frame
        tracks = pd.DataFrame(columns=["frame", "x_A", "y_A", "x_corr_A", "y_corr_A", "track"])
    tr = tracks.reset_index(drop=True)
    who = np.full(len(tr), -1)
    tp = 0
    for t in range(T):
        rows = np.flatnonzero(tr["frame"].to_numpy() == t)
        if len(rows):
            m = match_points(tr.loc[rows, ["x_A", "y_A"]].to_numpy(float), truth[t], within_A)
            tp += m.tp
            for i, j in m.pairs:
                who[rows[i]] = j
    tr["who"] = who
    matched = tr[tr["who"] >= 0]
    purity = (matched.groupby("track")["who"].agg(lambda w: w.value_counts().iloc[0]).sum() / len(matched)
              if len(matched) else float("nan"))
    per_adatom = matched.groupby("who")["track"].nunique()
    found = []  # (adatom before, adatom after, frame before, frame after) of each step > a/2
    for _, g in tr.sort_values("frame").groupby("track"):
        g = g.reset_index(drop=True)
        step = np.hypot(np.diff(g["x_corr_A"].to_numpy(float)), np.diff(g["y_corr_A"].to_numpy(float)))
        for k in np.flatnonzero(step > 0.5 * lattice_a_A):
            found.append((int(g.loc[k, "who"]), int(g.loc[k + 1, "who"]), int(g.loc[k, "frame"]),
                          int(g.loc[k + 1, "frame"])))
    hops = [tuple(h) for h in hops]
    hit, right = set(), 0
    for w0, w1, t0, t1 in found:
        cand = [h for h in hops if w0 >= 0 and w0 == w1 and h[0] == w1 and t0 < h[1] <= t1 and h not in hit]
        if cand:
            hit.add(cand[0])
            right += 1
    listed = len(tr)
    return {"readings_true": int(T * K), "readings_listed": int(listed), "recall": tp / (T * K) if T * K else 0.0,
            "precision": tp / listed if listed else 0.0, "tracks": int(tr["track"].nunique()),
            "track_purity": float(purity), "tracks_per_adatom": float(per_adatom.mean()) if len(per_adatom) else 0.0,
            "moves_true": len(hops), "moves_found": len(found),
            "move_recall": len(hit) / len(hops) if hops else float("nan"),
            "move_precision": right / len(found) if found else float("nan"),
            "rate_true": len(hops) / (K * (T - 1)) if K and T > 1 else float("nan"),
            "rate_found": moves.get("moves_per_adatom_frame")}
