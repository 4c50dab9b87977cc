"""Classes of detections read from column intensities: the second reading of the poster's path
(:func:`column_classes`, used by :func:`helpers.detect.pipeline.analyze_movie`).

Detections are snapped to the fitted lattice, their column ratios averaged over the same site in
neighbouring frames and classified by the content mixture of :mod:`helpers.detect.columns`;
positions in px, lengths in Å.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from helpers.detect import columns as cl
from helpers.detect import lattice as lat
from helpers.detect.registration import frame_stack, registered_sum
from helpers.library.structures import CLASS_NAMES

UNKNOWN = "unknown"
#: ±frames over which a site's column ratio is averaged (:func:`column_classes`); chosen on a
#: validation movie with another seed in notebook 06, never on the standard movie
COLUMN_AVERAGE_FRAMES = 2


def column_classes(frames, pixel_size_A: float, table: pd.DataFrame, shifts=None, half_window: int = 2,
                   unknown_below: float = 0.6, lattice_a_A: float = 3.18,
                   average_frames: int = COLUMN_AVERAGE_FRAMES) -> pd.DataFrame:
    """The defect table with classes read from column intensities (:mod:`helpers.detect.columns`).

    The lattice, the S2 sublattice and the column width are fitted on the registered sum of the
    first frames; every detection is snapped to its lattice site and measured on its frame's
    registered ±``half_window`` sum (counts); the ratios of a site are averaged over the detections
    on that same site within ±``average_frames`` frames (drift-corrected); the content-to-class
    mixture is fitted to all detections of the movie at once. Adds ``site``, ``column_ratio`` (this
    frame), ``column_ratio_mean`` (site-averaged, what the class is read from), ``column_class``
    (out-of-library contents — a pristine ``W`` or ``S2`` column, a single S vacancy ``Vs`` —
    included), ``column_probability``, and keeps the classifier's ``cnn_class``,
    ``cnn_probability``. ``class`` becomes the column class when that is a library class with
    probability ≥ ``unknown_below``, ``unknown`` when it is out of the library or less sure, and
    stays the classifier's where the site could not be measured. If no WS2-like lattice is found,
    the table is returned with the classifier's classes and a warning.

    Parameters
    ----------
    frames : ndarray (n, H, W)
        The movie in counts.
    pixel_size_A : float
        Pixel size (Å/px).
    table : DataFrame
        Detections with the classifier's classes (frame, x_px, y_px, class, probability).
    shifts : ndarray (n, 2), optional
        Drift of each frame (px).
    half_window : int
        Frames summed on each side for a reading.
    unknown_below : float
        Probability under which a class becomes ``unknown``.
    lattice_a_A : float
        Lattice constant (Å).
    average_frames : int
        Frames on each side a site's ratio is averaged over.

    Returns
    -------
    DataFrame
    """
    arr = frame_stack(frames, pixel_size_A)
    ps = float(pixel_size_A)
    out = table.copy()
    out["cnn_class"], out["cnn_probability"] = out["class"], out["probability"]
    if shifts is None:
        shifts = np.zeros((len(arr), 2))

    def summed(t):
        return registered_sum(arr, shifts, t, half_window)[0] if len(arr) > 1 and half_window > 0 else arr[t]

    try:
        first = summed(0)
        lattice = lat.fit_column_lattice(first, ps, lattice_a_A)
    except ValueError as err:
        warnings.warn(f"column intensities not measured ({err}); classes are the classifier's")
        return out
    parts = []
    for f, g in out.groupby("frame", sort=True):
        r = cl.column_ratios(summed(int(f)), ps, lattice, g[["y_px", "x_px"]].to_numpy())
        r.index = g.index
        parts.append(r)
    if not parts:
        return out
    ratios = pd.concat(parts).loc[out.index]
    keys = cl.site_keys(ratios[["site_row", "site_col"]].to_numpy(float), ratios["site"].to_numpy(),
                        out["frame"].to_numpy(), shifts, lat.lattice_origin(first, lattice), lattice)
    mean = cl.average_over_site(keys, out["frame"].to_numpy(), ratios["ratio"].to_numpy(), average_frames)
    read = cl.classify_ratios(pd.DataFrame({"site": ratios["site"], "ratio": mean}, index=out.index),
                              lattice.s2_ratio)
    out["site"], out["column_ratio"], out["column_ratio_mean"] = ratios["site"], ratios["ratio"], mean
    out["column_class"], out["column_probability"] = read["column_class"], read["column_probability"]
    measured = out["column_class"].notna()
    in_lib = measured & out["column_class"].isin(CLASS_NAMES) & (out["column_probability"] >= unknown_below)
    out.loc[measured, "class"] = UNKNOWN
    out.loc[in_lib, "class"] = out.loc[in_lib, "column_class"]
    out.loc[measured, "probability"] = out.loc[measured, "column_probability"]
    out.attrs["column_lattice"] = lattice
    out.attrs["column_gain"] = float(read["gain"].dropna().iloc[0]) if read["gain"].notna().any() else np.nan
    return out
