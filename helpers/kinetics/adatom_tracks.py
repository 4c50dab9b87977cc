"""Adatoms through a movie: tracks, and moves between hollow sites.

An adatom (:mod:`helpers.detect.adatoms`) sits on a hollow site of the 2H lattice; under the beam
it moves to another — the nearest hollow sites are one lattice constant a apart — or leaves (onto
a metal-top site, off the sheet) and may come back. Its positions in each frame, with the lattice's
drift taken out (the reading's frame shifts), are linked by trackpy
(:func:`helpers.kinetics.tracking.link`, no drift estimate of its own: a few adatoms would make a
poor one) within :data:`ADATOM_SEARCH_FACTOR` a between the frames it is seen in, one missed frame
bridged (:data:`ADATOM_MEMORY_FRAMES`). A move is a step of more than half of a between two frames a
track is seen in; the move rate is moves per adatom per frame over the frame intervals the tracks
span.

Public: :data:`ADATOM_SEARCH_FACTOR`, :data:`ADATOM_MEMORY_FRAMES`, :func:`link_adatoms`,
:func:`adatom_moves`, :func:`track_adatoms`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.kinetics.tracking import link, renumber_tracks

__all__ = ["ADATOM_SEARCH_FACTOR", "ADATOM_MEMORY_FRAMES", "link_adatoms", "adatom_moves", "track_adatoms"]

#: largest step between the frames an adatom is seen in, in lattice constants: one hop to a
#: neighbouring hollow site (a) and the two positions' errors
ADATOM_SEARCH_FACTOR = 1.25

#: frames an adatom may be missed and keep its track
ADATOM_MEMORY_FRAMES = 1


def link_adatoms(adatoms: pd.DataFrame, shifts_px, pixel_size_A: float, lattice_a_A: float) -> pd.DataFrame:
    """The adatom table with drift-corrected positions (``x_corr_A``, ``y_corr_A``: frame shift
    taken out) and a ``track`` (1, 2, … in order of first frame, then row of the table).

    Parameters
    ----------
    adatoms : DataFrame
        :func:`helpers.detect.adatoms.adatom_table` (frame from 0, x_A, y_A, …).
    shifts_px : array (frames, 2)
        Each frame's lattice shift (row, col px) as the reading placed it.
    pixel_size_A : float
        Å/px.
    lattice_a_A : float
        Lattice constant (Å): the hollow-to-hollow step.

    Returns
    -------
    DataFrame
        The rows of ``adatoms`` in their order, with the three columns added.

    Raises
    ------
    ValueError
        For a frame without a shift, or a non-positive pixel size or lattice constant.
    """
    if not (pixel_size_A > 0 and lattice_a_A > 0):
        raise ValueError(f"pixel_size_A and lattice_a_A must be > 0, got {pixel_size_A!r}, {lattice_a_A!r}")
    t = adatoms.reset_index(drop=True).copy()
    if not len(t):
        return t.assign(x_corr_A=np.zeros(0), y_corr_A=np.zeros(0), track=np.zeros(0, int))
    sh = np.asarray(shifts_px, float).reshape(-1, 2)
    f = t["frame"].to_numpy(int)
    if f.min() < 0 or f.max() >= len(sh):
        raise ValueError(f"adatoms in frames {f.min()}–{f.max()} but shifts for {len(sh)} frames")
    t["x_corr_A"] = t["x_A"] - sh[f, 1] * pixel_size_A
    t["y_corr_A"] = t["y_A"] - sh[f, 0] * pixel_size_A
    lk = link(pd.DataFrame({"frame": f, "x_A": t["x_corr_A"], "y_A": t["y_corr_A"], "class": "adatom",
                            "row_": np.arange(len(t))}),
              search_range_A=ADATOM_SEARCH_FACTOR * lattice_a_A, memory=ADATOM_MEMORY_FRAMES, drift_correct=False)
    lk = renumber_tracks(lk.assign(id=lk["row_"]))  # 1, 2, … by first frame, then row of the table
    t["track"] = pd.Series(lk["track"].to_numpy(), index=lk["row_"].to_numpy()).sort_index().to_numpy()
    return t


def adatom_moves(tracks: pd.DataFrame, lattice_a_A: float) -> dict:
    """Tracks, moves and the move rate of linked adatoms (module text).

    Parameters
    ----------
    tracks : DataFrame
        :func:`link_adatoms`' table.
    lattice_a_A : float
        Lattice constant (Å).

    Returns
    -------
    dict
        ``tracks``, ``moves`` (steps > a/2), ``track_frames_median`` (frames from a track's first to
        its last), ``moves_per_adatom_frame`` (moves over the frame intervals the tracks span; None
        without any), ``method``.
    """
    moves = intervals = 0
    spans = []
    for _, g in tracks.sort_values("frame").groupby("track"):
        fr = g["frame"].to_numpy(int)
        step = np.hypot(np.diff(g["x_corr_A"].to_numpy(float)), np.diff(g["y_corr_A"].to_numpy(float)))
        moves += int((step > 0.5 * lattice_a_A).sum())
        intervals += int(fr[-1] - fr[0])
        spans.append(int(fr[-1] - fr[0] + 1))
    return {"tracks": len(spans), "moves": moves,
            "track_frames_median": float(np.median(spans)) if spans else None,
            "moves_per_adatom_frame": moves / intervals if intervals else None,
            "method": f"positions less the lattice drift linked by trackpy within {ADATOM_SEARCH_FACTOR:g} a, "
                      f"{ADATOM_MEMORY_FRAMES} missed frame bridged; a move is a step > a/2 "
                      "(helpers.kinetics.adatom_tracks)"}


def track_adatoms(reading) -> tuple[pd.DataFrame | None, dict]:
    """The adatoms of a movie's reading linked (:func:`link_adatoms`) and their moves
    (:func:`adatom_moves`), the lattice constant from the reading's lattice; (the table as it was,
    {}) where there is nothing to link (no adatoms, one frame).

    Parameters
    ----------
    reading : helpers.detect.sites.SiteReading

    Returns
    -------
    (DataFrame or None, dict)
    """
    a = reading.adatoms
    if a is None or not len(a) or len(reading.shifts) < 2:
        return a, {}
    lat = reading.lattice
    a_A = float(np.linalg.norm(lat.vectors, axis=1).mean() * lat.pixel_size_A)
    t = link_adatoms(a, reading.shifts, lat.pixel_size_A, a_A)
    return t, adatom_moves(t, a_A)
