"""What the intensities of a file say about how it was written: integer and 8-bit data, a detector
saturated at the top of its range, a black level clipped at the bottom.

A contrast-stretched export (a PNG, JPEG or 8-bit TIFF from the microscope software) often sets
everything below some level to black. The dim sublattice of a TMD sits just above the background,
so its columns lose their lower part: on a rendered WS2 frame with 12 % of the pixels clipped the
chalcogen and light-substitution contents read low (class accuracy of the planted defects 0.90 →
0.71); with half of them clipped the S₂ columns vanish and the reading fails or masks the frame.
:func:`clipped_black_share` tells such a pile-up at the lowest value from the zeros of low-dose
counts, whose histogram falls from zero smoothly (Poisson) where a clipped one jumps.

Public: :data:`CLIPPED_NOTE_SHARE`, :data:`CLIPPED_BLACK`, :func:`clipped_black_share`, :func:`intensity_notes`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CLIPPED_NOTE_SHARE", "CLIPPED_BLACK", "clipped_black_share", "intensity_notes"]

#: share of pixels at the lowest value from which a clipped black level is reported
CLIPPED_NOTE_SHARE = 0.01
#: the words that mark the clipped-black note among a reading's warnings
CLIPPED_BLACK = "clipped black level"
#: a pile-up: the lowest value outnumbers the next one by this many times the ratio of the next
#: two (a smooth histogram has about equal ratios; Poisson counts a ratio half the next one's)
_SPIKE = 2.0


def clipped_black_share(frame) -> float:
    """Share of the pixels of ``frame`` piled up at its lowest value (0 when there is no pile-up).

    A pile-up: the lowest value is more common than the next value found, and outnumbers it by at
    least ``_SPIKE`` times the ratio of the next value to the one after it. A histogram that is smooth
    at its low end has about equal ratios; the shot-noise zeros of a dim background (Poisson, mean
    λ) have ratios 1/λ and 2/λ, half the next one's, however many zeros there are. Rows and
    columns wholly at the lowest value (the padding of a registered or cropped frame) are left out.

    Parameters
    ----------
    frame : array-like (H, W)
        One frame, any numeric type (non-finite values ignored); anything else gives 0.

    Returns
    -------
    float
        In [0, 1].
    """
    a = np.asarray(frame)
    if a.ndim != 2 or a.size < 3:
        return 0.0
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        a = np.where(np.isfinite(a), a, np.nan)
        lo = np.nanmin(a) if np.isfinite(a).any() else 0.0
    else:
        lo = a.min()
    at_lo = a == lo
    keep_r, keep_c = ~at_lo.all(1), ~at_lo.all(0)  # whole rows or columns: padding, not clipping
    x = a[np.ix_(keep_r, keep_c)].ravel()
    x = x[np.isfinite(x)] if x.dtype.kind == "f" else x
    if x.size < 3:
        return 0.0
    n0 = int(np.count_nonzero(x == lo))
    rest = x[x > lo]
    if n0 < 2 or rest.size == 0:
        return 0.0
    values, counts = np.unique(rest, return_counts=True)
    n1 = counts[0]
    n2 = counts[1] if len(counts) > 1 else n1
    return n0 / x.size if n0 > n1 and n0 / n1 >= _SPIKE * n1 / n2 else 0.0


def intensity_notes(frame, dtype, first_of_stack: bool = False) -> list:
    """Notes for the reading's warnings on how the intensities of ``frame`` were written: a
    detector saturated at the top of an integer type, 8-bit data, a clipped black level (at least
    :data:`CLIPPED_NOTE_SHARE` of the pixels).

    Parameters
    ----------
    frame : array-like (H, W) or (n, H, W)
        The data as stored (before conversion to float).
    dtype : numpy dtype
        The stored type.
    first_of_stack : bool
        Whether ``frame`` is only the first frame of the file (said in the notes).

    Returns
    -------
    list of str
    """
    dtype = np.dtype(dtype)
    a = np.asarray(frame)
    which = "the first frame's pixels" if first_of_stack else "pixels"
    notes = []
    if dtype.kind in "ui":
        top = np.iinfo(dtype).max
        sat = float(np.mean(a == top))
        if sat > 1e-4:
            notes.append(f"{sat:.2%} of {which} saturated at {top}: their intensities are clipped")
    first = a if a.ndim == 2 else a[0]
    black = clipped_black_share(first)
    if black >= CLIPPED_NOTE_SHARE:
        notes.append(f"{black:.1%} of the {'first frame' if a.ndim > 2 or first_of_stack else 'image'}'s "
                     f"pixels sit at its lowest value, {first.min():g}: a {CLIPPED_BLACK} (a "
                     "contrast-stretched export?); where they lie on the lattice its dim columns read "
                     "low or vanish: export the image without clipping")
    if dtype.kind in "ui" and dtype.itemsize == 1:
        notes.append("8-bit data: probably a processed export, not detector counts; intensities "
                     "are relative and shot-noise statistics do not apply")
    return notes
