"""One area through time, or separate images? Consecutive frames compared by their non-periodic detail.

A stack of separate images (fields of view, a focal or tilt series, images of several flakes saved
as one file) is not a movie: read as one, every site's history would join atoms of different places.
The lattice cannot tell the two apart — any two images of a crystal correlate at a lattice
translate — but what the lattice does not repeat can: defects, contamination, thickness steps.
Each frame is reduced to that detail (a band of 1–2 lattice constants: the lattice's own
frequencies removed, slow background too); the details of consecutive frames of one area match
best at the drift the reading registered, those of separate images anywhere.

Lengths in Å, positions (row, col) px.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from helpers.core.validation import check_pixel_size
from helpers.detect.registration import frame_shifts
from helpers.detect.adatoms import adatom_table
from helpers.detect.sites import SiteReading, read_sites

#: below this reliability of one frame's detail (:func:`reliability`) no pair is called a new area
MIN_RELIABILITY = 0.6
#: a pair of frames shows the same area when their details match best within this many lattice
#: constants of the drift the reading registered (separate images match best anywhere; a drift
#: registered one lattice vector off is flagged too)
PEAK_TOLERANCE = 0.75


def detail(frame, pixel_size_A: float, lattice_a_A: float) -> tuple[np.ndarray, int]:
    """The frame's non-periodic detail: binned to about a quarter lattice constant per pixel, then
    a Gaussian of one lattice constant minus one of two (the lattice's frequencies attenuated by
    e⁻²⁶ or more, slow background removed).

    Parameters
    ----------
    frame : ndarray (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    lattice_a_A : float
        Lattice constant (Å).

    Returns
    -------
    detail : ndarray (H // bin, W // bin)
    bin : int
        Pixels per binned pixel along each axis.
    """
    from scipy import ndimage

    ps = check_pixel_size(pixel_size_A)
    b = max(1, int(lattice_a_A / (4 * ps)))
    img = np.asarray(frame, np.float64)
    h, w = (img.shape[0] // b) * b, (img.shape[1] // b) * b
    img = img[:h, :w].reshape(h // b, b, w // b, b).mean(axis=(1, 3))
    s = lattice_a_A / (ps * b)
    return ndimage.gaussian_filter(img, s) - ndimage.gaussian_filter(img, 2 * s), b


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else 0.0


def _peak(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """(row, col) binned px at which ``cur`` matches ``prev`` best: the maximum of their
    cross-correlation (Hann-windowed, circular), within ± half the image."""
    win = np.outer(np.hanning(prev.shape[0]), np.hanning(prev.shape[1]))
    f, g = np.fft.rfft2((prev - prev.mean()) * win), np.fft.rfft2((cur - cur.mean()) * win)
    cc = np.fft.irfft2(np.conj(f) * g, s=prev.shape)  # cc[d] = Σ prev[x] cur[x + d]
    p = np.array(np.unravel_index(np.argmax(cc), cc.shape), float)
    size = np.array(prev.shape, float)
    return (p + size / 2) % size - size / 2


def _edge(pixel_size_A: float, lattice_a_A: float, b: int) -> int:
    """Binned px a detail image is trimmed by at its borders (the filters' reach: two lattice constants)."""
    return int(np.ceil(2 * lattice_a_A / (pixel_size_A * b)))


def _pair(prev: np.ndarray, cur: np.ndarray, step: np.ndarray, edge: int) -> tuple[float, float]:
    """The correlation of two detail images with ``cur`` moved by ``step`` (binned px) onto ``prev``,
    where both hold the same place and ``edge`` px in from their borders; and how far (binned px)
    their best match lies from ``step``. (NaN, NaN) when the step leaves less than half of each
    side in common (no movie's step)."""
    h, w = prev.shape
    dy, dx = np.rint(step).astype(int)
    y0, y1 = max(0, -dy) + edge, min(h, h - dy) - edge  # prev[y, x] shows what cur[y + dy, x + dx] does
    x0, x1 = max(0, -dx) + edge, min(w, w - dx) - edge
    if y1 - y0 < h / 2 - 2 * edge or x1 - x0 < w / 2 - 2 * edge:
        return np.nan, np.nan
    r = _corr(prev[y0:y1, x0:x1], cur[y0 + dy:y1 + dy, x0 + dx:x1 + dx])
    return r, float(np.hypot(*(_peak(prev, cur) - np.asarray(step, float))))


def reliability(frame, pixel_size_A: float, lattice_a_A: float) -> float:
    """How much of a frame's detail (:func:`detail`) is the sample's rather than noise: the
    correlation of the detail of its even and of its odd scan rows (independent noise, the same
    sample), stepped up to the whole frame (Spearman–Brown, 2r/(1 + r)). Near 1 at the usual doses;
    near 0 where one frame's noise hides its detail (then no comparison of frames can tell
    anything).

    Parameters
    ----------
    frame : ndarray (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    lattice_a_A : float
        Lattice constant (Å).

    Returns
    -------
    float
    """
    f = np.asarray(frame, np.float64)
    h = f.shape[0]
    (even, b), (odd, _) = [detail(np.repeat(f[k::2], 2, axis=0)[:h], pixel_size_A, lattice_a_A) for k in (0, 1)]
    e = _edge(pixel_size_A, lattice_a_A, b)
    r = _corr(even[e:-e, e:-e], odd[e:-e, e:-e])
    return float(2 * r / (1 + r)) if r > 0 else 0.0


def frame_pairs(frames, shifts, pixel_size_A: float, lattice_a_A: float) -> pd.DataFrame:
    """Where each pair of consecutive frames' details (:func:`detail`) match best, against the drift
    the reading registered, and their correlation at that drift.

    A pair shows the same area when its details match best within :data:`PEAK_TOLERANCE` lattice
    constants of the drift — or when one frame's detail is too noisy to say (:func:`reliability`,
    median over up to 8 frames, below :data:`MIN_RELIABILITY`). Separate images match best
    anywhere, so a pair of them is called the same area only by chance (measured: 3 of 180 pairs of
    51 Å fields). A drift that leaves less than half of each side in common is no movie's (NaN
    scores, not the same).

    Parameters
    ----------
    frames : ndarray (n, H, W) or a lazy stack
    shifts : ndarray (n, 2)
        Drift of each frame (px), as the reading registered it.
    pixel_size_A : float
        Pixel size (Å/px).
    lattice_a_A : float
        Lattice constant (Å).

    Returns
    -------
    DataFrame
        One row per pair (``frame`` k: frames k − 1 and k, from 0): ``r``, ``peak_off_A`` (the best
        match's distance from the drift), ``reliability`` (the stack's) and ``same``.
    """
    n = len(frames)
    sh = np.asarray(shifts, float)
    sample = np.unique(np.linspace(0, n - 1, min(n, 8)).round().astype(int))
    rel = float(np.median([reliability(frames[k], pixel_size_A, lattice_a_A) for k in sample]))
    rows, prev = [], None
    for k in range(n):
        cur, b = detail(frames[k], pixel_size_A, lattice_a_A)
        if prev is not None:
            r, off = _pair(prev, cur, (sh[k] - sh[k - 1]) / b, _edge(pixel_size_A, lattice_a_A, b))
            off_A = off * b * pixel_size_A
            same = bool(np.isfinite(r) and (rel < MIN_RELIABILITY or off_A <= PEAK_TOLERANCE * lattice_a_A))
            rows.append({"frame": k, "r": r, "peak_off_A": off_A, "reliability": rel, "same": same})
        prev = cur
    return pd.DataFrame(rows, columns=["frame", "r", "peak_off_A", "reliability", "same"])


def is_series(pairs: pd.DataFrame) -> bool:
    """Whether a stack is a series of separate images: most of its consecutive pairs do not show the
    same area (:func:`frame_pairs`).

    Parameters
    ----------
    pairs : DataFrame
        From :func:`frame_pairs`.

    Returns
    -------
    bool
    """
    return bool(len(pairs)) and float(pairs["same"].mean()) < 0.5


def cut_note(pairs: pd.DataFrame, first: int = 0) -> str | None:
    """A warning naming the frame pairs (numbered from 1) that do not show the same area, in a stack
    read as a movie; None when every pair does.

    Parameters
    ----------
    pairs : DataFrame
        From :func:`frame_pairs`.
    first : int
        The file's frame (from 0) that the stack starts at.

    Returns
    -------
    str or None
    """
    bad = pairs[~pairs["same"]]
    if not len(bad):
        return None
    listed = ", ".join(f"{first + int(k)}→{first + int(k) + 1}" for k in bad["frame"][:10]) + (" …" if len(bad) > 10 else "")
    return (f"{len(bad)} of {len(pairs)} frame pairs do not look like the same area ({listed}: their "
            "non-periodic detail does not match at the drift; a jump of the stage or a new field?): "
            "the sites' histories across them are not to be trusted")


def read_separately(frames, pixel_size_A: float, lattice_a_A: float | None, chemistry,
                    progress: bool = True) -> tuple[SiteReading, list]:
    """Every frame of a series read as an image of its own (its own lattice, gain, noise and areas),
    and the readings joined into one table (``frame`` the image's index, from 0).

    An image that cannot be read (too noisy, no lattice) is recorded and skipped; when none can be
    read the first one's error is raised.

    Parameters
    ----------
    frames : ndarray (n, H, W) or a lazy stack
    pixel_size_A : float
        Pixel size (Å/px).
    lattice_a_A : float or None
        Lattice constant (Å); the material's when None.
    chemistry : Chemistry
    progress : bool
        A progress bar over the images.

    Returns
    -------
    reading : SiteReading
        The joined reading: ``sites`` of every image, ``area_maps`` per image, no drift; lattice,
        contents and noise those of the first image read.
    per_image : list of dict
        Per image (``frame`` from 0): defects, gain, chalcogen/metal reading, noise, or ``error``.
    """
    from tqdm.auto import tqdm

    n = len(frames)
    parts, per_image, first_error = {}, [], None
    for t in tqdm(range(n), desc="reading images", disable=not progress):
        try:
            r = read_sites(np.asarray(frames[t], np.float32)[None], pixel_size_A, lattice_a_A,
                           progress=False, chemistry=chemistry)
        except ValueError as e:
            first_error = first_error or e
            per_image.append({"frame": t, "error": str(e)})
            continue
        parts[t] = r
        per_image.append({"frame": t, "defects": int(r.sites["significant"].sum()), "gain": r.gain,
                          "chalcogen_over_metal": r.chalcogen_over_metal, "noise": r.noise})
    if not parts:
        raise first_error
    one = next(iter(parts.values()))
    sites = pd.concat([r.sites.assign(frame=np.int32(t)) for t, r in parts.items()], ignore_index=True)
    notes = list(dict.fromkeys(w for r in parts.values() for w in r.warnings))
    seconds = {"total": float(sum(r.seconds["total"] for r in parts.values()))}
    return (replace(one, sites=sites, shifts=np.zeros((n, 2)), seconds=seconds, warnings=notes,
                    area_maps={t: r.area_maps[0] for t, r in parts.items() if 0 in r.area_maps},
                    grains=[{**g, "frame": t} for t, r in parts.items() for g in r.grains],
                    adatoms=adatom_table([r.adatoms.assign(frame=t) for t, r in parts.items()], pixel_size_A)),
            per_image)


def read_stack(frames, pixel_size_A: float, lattice_a_A: float, chemistry, first: int = 0,
               progress: bool = True) -> tuple[SiteReading, pd.DataFrame | None, list | None]:
    """A file's frames read as a movie (:func:`helpers.detect.sites.read_sites`), or, when its
    consecutive frames do not show the same area (:func:`is_series`), image by image
    (:func:`read_separately`, with a warning). A movie with a few such pairs is read as a movie and
    warned about (:func:`cut_note`).

    Parameters
    ----------
    frames : ndarray (n, H, W) or a lazy stack
    pixel_size_A : float
        Pixel size (Å/px).
    lattice_a_A : float
        Lattice constant (Å).
    chemistry : Chemistry
    first : int
        The file's frame (from 0) that ``frames`` starts at (frame numbers in the warnings).
    progress : bool

    Returns
    -------
    reading : SiteReading
    pairs : DataFrame or None
        :func:`frame_pairs` (None for one frame).
    per_image : list of dict or None
        :func:`read_separately`'s record when read image by image, else None.

    Raises
    ------
    ValueError
        The sites cannot be read (the movie, or every image of a series).
    """
    n = len(frames)
    failure = None
    try:
        reading = read_sites(frames, pixel_size_A, lattice_a_A, progress=progress, chemistry=chemistry)
        shifts = reading.shifts
    except ValueError as e:
        if n == 1:
            raise
        reading, shifts, failure = None, frame_shifts(frames), e  # a series of images may not read as a movie
    if n == 1:
        return reading, None, None
    pairs = frame_pairs(frames, shifts, pixel_size_A, lattice_a_A)
    if not is_series(pairs):
        if failure is not None:  # one area through time that cannot be read: the movie's error
            raise failure
        note = cut_note(pairs, first)
        if note:
            reading.warnings.append(note)
        return reading, pairs, None
    reading, per_image = read_separately(frames, pixel_size_A, lattice_a_A, chemistry, progress)
    reading.warnings.insert(0, f"the {n} frames are separate images, not one area through time (their non-periodic "
                               f"detail does not match at the drift: median r {pairs['r'].median():.2f}): each "
                               "is read on its own; no tracks or hop rates")
    return reading, pairs, per_image
