"""Scores of tracks against the true defect identities."""
from __future__ import annotations

import pandas as pd


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
