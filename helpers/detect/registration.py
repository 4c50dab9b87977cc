"""Drift between frames (phase correlation) and registered sums of neighbouring frames (px)."""
from __future__ import annotations

import numpy as np

from helpers.core.validation import check_image, check_pixel_size
from helpers.core.windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX


def _stack(frames):
    """A 3D stack as it is: an array, or a lazy stack read frame by frame (``helpers.io.readers.
    FrameStack``: anything with a 3D ``shape``, ``len`` and integer indexing); else an array."""
    arr = frames if getattr(frames, "ndim", None) == 3 and hasattr(frames, "__getitem__") else np.asarray(frames)
    if arr.ndim != 3:
        raise ValueError(f"frames must be a 3D stack, got shape {np.shape(arr)}")
    return arr


def frame_shifts(frames, upsample: int = 10) -> np.ndarray:
    """Cumulative (row, col) shift in px of every frame relative to frame 0 (sample drift), from
    phase correlation of consecutive frames (scikit-image), sub-pixel to 1/``upsample`` px.

    Parameters
    ----------
    frames : ndarray (n, H, W)
        The movie.
    upsample : int
        Sub-pixel precision 1/``upsample`` px.

    Returns
    -------
    ndarray (n, 2)
        (row, col) shift of each frame (px), frame 0 at (0, 0).
    """
    from skimage.registration import phase_cross_correlation

    arr = _stack(frames)
    steps = np.zeros((len(arr), 2))
    prev = np.asarray(arr[0], np.float32)
    for k in range(1, len(arr)):
        cur = np.asarray(arr[k], np.float32)
        # a frame stopped mid-scan ends in constant rows: the pair is compared on the rows both scanned
        rows = min(scanned_rows(prev), scanned_rows(cur))
        if rows >= prev.shape[0] // 4:
            shift, _, _ = phase_cross_correlation(prev[:rows], cur[:rows], upsample_factor=upsample,
                                                  normalization=None)
            steps[k] = -shift  # content of frame k sits this far from where it was in frame k-1
        prev = cur
    return np.cumsum(steps, axis=0)


def scanned_rows(frame) -> int:
    """Rows of ``frame`` before a trailing run of constant rows (a scan stopped mid-frame leaves the
    rest of the frame at one value); all rows for a complete frame.

    Parameters
    ----------
    frame : ndarray (H, W)

    Returns
    -------
    int
    """
    arr = np.asarray(frame)
    r = arr.shape[0]
    while r > 0 and np.ptp(arr[r - 1]) == 0:
        r -= 1
    return r


def _nearest_translate(v: np.ndarray, centre: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Each row of ``v`` moved by the lattice translate (n·a1 + m·a2, any n, m) that brings it
    nearest ``centre`` (rows, or one point)."""
    v = np.atleast_2d(v)
    base = np.round(np.linalg.solve(A.T, (v - centre).T).T)  # lattice coordinates of the offset
    d = np.arange(-1, 2)
    near = np.stack(np.meshgrid(d, d, indexing="ij"), -1).reshape(-1, 2)  # the rounding's neighbours
    cand = v[:, None, :] - (base[:, None, :] + near[None]) @ A  # (rows, 9, 2)
    best = np.argmin(((cand - np.broadcast_to(centre, v.shape)[:, None, :]) ** 2).sum(-1), axis=1)
    return cand[np.arange(len(v)), best]


def lattice_continuous_shifts(shifts, vectors_px, half_window: int = 10) -> np.ndarray:
    """The drift with each frame-to-frame step taken as the lattice translate of the measured step
    (step + n·a1 + m·a2, any n, m) nearest the movie's typical step there.

    The phase correlation of two frames of a crystal has a peak at every lattice translate of the
    true step, nearly as high as the true one: in a frame with few non-periodic features noise can
    pick the wrong one (a jump of one lattice vector in a drift of 0.05 Å per frame; at 7·10² e/Å²
    per frame, jumps of up to eight lattice vectors in a third of the steps). The wrong translate
    leaves a single frame's reading right but gives every site the index of its neighbour from there
    on, which cuts each site's history. Drift changes slowly: the typical step is the median of the
    measured steps within ±``half_window`` frames where they agree (a steady fast drift, even beyond
    half a lattice vector per frame, is kept); where they scatter by more than a quarter of a
    lattice vector (median distance from their median), the measurement is noise and the typical
    step is the median of the steps each taken as its translate nearest no motion. A real jump of
    the sample by about a lattice vector within one frame is read as none (its sites' histories
    break at the jump).

    Parameters
    ----------
    shifts : ndarray (n, 2)
        Cumulative (row, col) shifts (px), :func:`frame_shifts`.
    vectors_px : ndarray (2, 2)
        The lattice vectors a1, a2 as rows ((row, col) px).
    half_window : int
        Frames on each side whose measured steps give the typical step.

    Returns
    -------
    ndarray (n, 2)
        The shifts, frame 0 where it was.
    """
    s = np.asarray(shifts, float)
    A = np.asarray(vectors_px, float)
    if s.ndim != 2 or s.shape[1] != 2 or A.shape != (2, 2):
        raise ValueError(f"shifts must be (n, 2) and vectors_px (2, 2), got {s.shape} and {A.shape}")
    measured = np.diff(s, axis=0)
    if not len(measured):
        return s.copy()
    still = _nearest_translate(measured, np.zeros(2), A)  # each step as if the sample hardly moved
    quarter = 0.25 * float(np.linalg.norm(A, axis=1).min())
    typical = np.empty_like(measured)
    for k in range(len(measured)):
        win = slice(max(0, k - half_window), k + half_window + 1)
        t = np.median(measured[win], axis=0)
        scatter = np.median(np.linalg.norm(measured[win] - t, axis=1))
        typical[k] = t if scatter <= quarter else np.median(still[win], axis=0)
    steps = np.array([_nearest_translate(m, t, A)[0] for m, t in zip(measured, typical)])
    return np.vstack([s[:1], s[0] + np.cumsum(steps, axis=0)])


def averaged_frame(frames, shifts, t: int, half_window: int) -> np.ndarray:
    """Frame ``t`` averaged with its ±``half_window`` neighbours, each shifted onto frame t's
    sample position (linear interpolation); at the ends of the movie the window is one-sided.

    Parameters
    ----------
    frames : ndarray (n, H, W)
        The movie in counts.
    shifts : ndarray (n, 2)
        Drift (px).
    t : int
    half_window : int

    Returns
    -------
    ndarray (H, W)
    """
    from scipy import ndimage

    arr = np.asarray(frames)
    if half_window <= 0:
        return np.asarray(arr[t], np.float32)
    lo, hi = max(0, t - half_window), min(len(arr), t + half_window + 1)
    acc = np.zeros(arr.shape[1:], np.float64)
    for k in range(lo, hi):
        d = np.asarray(shifts[t]) - np.asarray(shifts[k])
        acc += arr[k] if k == t else ndimage.shift(arr[k].astype(np.float64), d, order=1, mode="nearest")
    return (acc / (hi - lo)).astype(np.float32)


def registered_sum(frames, shifts, t: int, half_window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the 2·``half_window`` + 1 frames around ``t`` (the window slides inside the movie at
    its ends, so every sum holds the same dose), each shifted by whole pixels onto frame t's sample
    position — whole pixels keep the counts Poisson (sub-pixel interpolation would smooth the noise
    and bias every z-score); the ≤ 0.5 px misregistration (0.1 Å at 0.2 Å/px) is far below the
    probe size. Returns (sum in counts, valid map: pixels every frame of the window covered).

    Parameters
    ----------
    frames : ndarray (n, H, W)
        The movie in counts.
    shifts : ndarray (n, 2)
        From :func:`frame_shifts` (px).
    t : int
        The frame the sum is registered on.
    half_window : int
        Frames summed on each side.

    Returns
    -------
    sum : ndarray (H, W)
        Counts of the 2·``half_window`` + 1 frames.
    valid : ndarray (H, W) of bool
        Pixels every frame of the window covered.
    """
    acc, valid = None, None
    for _, shifted, valid in registered_window(frames, shifts, t, half_window):
        acc = shifted.astype(np.float64) if acc is None else acc + shifted
    return acc.astype(np.float32), valid


def registered_sum_and_others(frames, shifts, t: int, half_window: int):
    """:func:`registered_sum` around frame t, and the pixel-wise median of the window's other frames
    (registered the same way): what frame t should look like from its neighbours, robust to one of
    them being odd (:mod:`helpers.detect.scan_glitches`; with only two neighbours, row by row the one
    nearer frame t; with one, that frame). Returns (sum, that median or None for a movie of one
    frame, valid).

    Parameters
    ----------
    frames : ndarray (n, H, W)
    shifts : ndarray (n, 2)
        From :func:`frame_shifts` (px).
    t : int
        The frame the window is registered on.
    half_window : int
        Frames on each side.

    Returns
    -------
    (ndarray (H, W), ndarray (H, W) or None, ndarray (H, W) of bool)
    """
    acc, others, own, valid = None, [], None, None
    for k, shifted, valid in registered_window(frames, shifts, t, half_window):
        acc = shifted.astype(np.float64) if acc is None else acc + shifted
        if k != t:
            others.append(np.asarray(shifted, np.float32))
        else:
            own = np.asarray(shifted, np.float32)
    if not others:
        return acc.astype(np.float32), None, valid
    if len(others) == 2:  # two cannot outvote an odd one: row by row, the one nearer the frame
        a, b = others
        nearer_a = ((own - a) ** 2).sum(axis=1) <= ((own - b) ** 2).sum(axis=1)
        return acc.astype(np.float32), np.where(nearer_a[:, None], a, b).astype(np.float32), valid
    stack = np.stack(others)
    if len(others) == 1:
        med = stack[0]
    elif len(others) <= 4:  # the median of 3 or 4 values: their sum less the largest and the smallest
        med = (stack.sum(axis=0) - stack.max(axis=0) - stack.min(axis=0)) / (len(others) - 2)
    else:
        med = np.median(stack, axis=0)
    return acc.astype(np.float32), med.astype(np.float32), valid


def registered_window(frames, shifts, t: int, half_window: int):
    """The frames of :func:`registered_sum`'s window, one by one, each shifted by whole pixels onto
    frame t's sample position: yields (frame index, shifted frame, pixels every frame so far
    covered); the last ``valid`` holds for the whole window.

    Parameters
    ----------
    frames : ndarray (n, H, W)
    shifts : ndarray (n, 2)
        From :func:`frame_shifts` (px).
    t : int
        The frame the window is registered on.
    half_window : int
        Frames on each side.

    Yields
    ------
    (int, ndarray (H, W), ndarray (H, W) of bool)
    """
    arr = _stack(frames)
    n = len(arr)
    if half_window < 0:
        raise ValueError(f"half_window must be ≥ 0, got {half_window}")
    size = min(2 * half_window + 1, n)
    lo = int(np.clip(t - half_window, 0, n - size))
    h, w = arr.shape[1:]
    valid = np.ones((h, w), bool)
    for k in range(lo, lo + size):
        dr, dc = np.round(np.asarray(shifts[t]) - np.asarray(shifts[k])).astype(int)
        if abs(dr) >= h or abs(dc) >= w:
            raise ValueError(f"frames {k} and {t} are shifted by more than the frame ({dr}, {dc}) px")
        # whole-pixel shift by slicing; the uncovered strip repeats the nearest edge
        src = np.pad(arr[k], ((max(dr, 0), max(-dr, 0)), (max(dc, 0), max(-dc, 0))), mode="edge")
        if dr > 0:
            valid[:dr] = False
        elif dr < 0:
            valid[dr:] = False
        if dc > 0:
            valid[:, :dc] = False
        elif dc < 0:
            valid[:, dc:] = False
        yield k, src[max(-dr, 0):max(-dr, 0) + h, max(-dc, 0):max(-dc, 0) + w], valid


def check_frame(frame, pixel_size_A, name: str = "frame") -> tuple[np.ndarray, float]:
    """A 2D finite frame at least one window across, and its pixel size; else ValueError.

    Parameters
    ----------
    frame : array-like (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    name : str
        How errors name it.

    Returns
    -------
    (ndarray, float)
    """
    ps = check_pixel_size(pixel_size_A)
    arr = np.asarray(frame)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2D image, got shape {arr.shape}")
    min_px = int(np.ceil(WINDOW_PX * LIBRARY_PIXEL_SIZE_A / ps))
    img = check_image(arr, name, min_shape=(min_px, min_px))
    return img, ps


def frame_stack(frames, pixel_size_A) -> np.ndarray:
    """Frames as a stack (n, H, W): one frame (H, W) becomes a stack of one; the first frame is
    checked (:func:`check_frame`) with its pixel size (Å/px).

    Parameters
    ----------
    frames : array-like (H, W) or (n, H, W)
    pixel_size_A : float

    Returns
    -------
    ndarray (n, H, W)
    """
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"frames must be a 2D frame or a 3D stack, got shape {arr.shape}")
    check_frame(arr[0], pixel_size_A)
    return arr
