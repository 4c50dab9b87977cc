"""Scan glitches in a movie: rows of a frame unlike the same rows of its neighbouring frames.

A STEM image is written row by row, and a row can go wrong on its own: the detector saturates
as contamination passes under the beam, the beam is blanked for a few lines, the scan jumps and a
band of rows is shifted, an acquisition stopped mid-frame leaves the rest of the frame empty. The
columns in such rows read as anything (vacancies in blanked rows, heavy substitutions in saturated
ones): each glitch becomes dozens of false defects in one frame.

In a movie each frame's neighbours show the same sample, so a glitch is found by comparing: d =
frame − the pixel-wise median of the ±``half_window`` neighbouring frames registered onto it (a
median, so one odd neighbour does not matter), in units of its robust spread over the frame (z).
Within each row, in blocks of ``block_A``:

* the median |z|, over the median of all blocks (``q``): about 1 for noise and for the few
  columns a defect changes, several for a band of shifted rows;
* the mean z (``bias``): about 0 for noise, large where a row is blank or saturated — unless a
  few pixels carry it (a heavy atom arriving on a site or leaving it), when the mean trimmed of
  those pixels is taken (:func:`_spread_bias`);
* for the whole row, the lag at which it correlates best with its neighbours' row
  (:func:`shifted_rows`): 0 for noise, the jump for a band of shifted rows.

A block whose |``bias``| passes its threshold is a glitch; so is a band of at least two rows of
blocks whose ``q`` does (a single such row is the tail of the scan's ordinary line jitter: 0.5 px
r.m.s. reaches q 2.8 once in a few frames); blocks a little odd (70 % of either threshold) that
touch a glitch join it, and a whole row is a glitch where half of its blocks are (a scan goes
wrong row by row); it is grown by ``grow_A`` (the radius of the
disc each site is fitted on: a saturated band raises the background of the columns near it) and
masked in that frame's area map as ``scan_glitch``: its
sites are read but never defects, unobserved for the time model. A single image has no neighbours;
it is compared with itself moved by a lattice vector (:func:`lattice_translates`: the median of the
image moved by ±t and ±2t, t the shortest lattice vector reaching ``translate_A`` across the rows),
which shows the same lattice in other rows; a glitch's rows then differ from the same rows of the
lattice elsewhere. Only lattice areas of both are compared (a hole's rim is a hole, not a glitch),
and whole rows are measured: the median of a row's blocks, ``single_block_A`` wide (a glitch
spans its rows, while a hole too small for the area map, a cluster of vacancies or a heavy dopant
changes a block or two),
against the rows at the same lattice phase (a sheet whose columns differ from site to site, an
alloy, differs from its translates more in the rows through its columns than between them). Measured block by block as in a movie, the Se-implanted MoS2
image's 1 nm hole was flagged over 87 rows, a random mix of Se₂, SeS and S₂ columns over 105, and
MoS2 with 5 % W over 52; with 16 Å blocks a 51 Å image with two Re dopants and a vacancy in one
row (three blocks a row) over 56. Thresholds sit above what the
simulated movies reach (q ≤ 1.95, |bias| ≤ 0.85 on four 150-frame variants of the standard movie;
q ≤ 2.33, |bias| ≤ 1.8 on movies of ``experiments/independent_movies.py`` with 30 % beam-current
decay and crowded defects) and below the glitches tried (q ≥ 3.0 for a 7 px shift of 11 rows and 3 blank rows; |bias|
≥ 3.5 for blank rows at 10 counts a pixel, 27 for saturated rows). In a movie of two frames each
is the other's only neighbour, so a glitch in one masks the same rows in both (from three frames
on, only the odd frame).

Positions are (row, col) px; lengths in Å.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from helpers.core.validation import check_pixel_size
from helpers.detect.areas import LATTICE, SCAN_GLITCH, AreaMap, AreaParams, find_areas
from helpers.detect.registration import scanned_rows


@dataclass
class GlitchParams:
    """Settings of :func:`glitch_mask` (lengths in Å)."""

    block_A: float = 16.0  # width of the row blocks compared
    q_above: float = 2.6  # median |z| of a block over the median of all blocks
    bias_above: float = 2.5  # |mean z| of a block
    #: rows and columns around a glitch masked with it: the radius of the disc each site is fitted
    #: on (``SiteParams.radius_A``), whose background a saturated band raises
    grow_A: float = 5.0
    #: blocks above this share of either threshold that touch a glitch block join it
    weak: float = 0.7
    #: rows a band of odd blocks (``q``) or shifted rows must span; a blank or saturated row
    #: (``bias``) counts alone
    min_rows: int = 2
    #: shifted rows (:func:`shifted_rows`): lags looked at, least lag, least gain in correlation
    shift_max_A: float = 2.0
    shift_min_px: int = 2
    shift_gain_above: float = 0.5
    #: a single image: least distance across the rows of the lattice vector it is moved by
    #: (:func:`lattice_translates`); bands up to this tall leave the reference clean
    translate_A: float = 4.0
    #: a single image: width of the blocks whose median judges a row (narrow, so that a few odd
    #: columns in a row, heavy dopants on a small image, are a few of many blocks)
    single_block_A: float = 4.0
    #: a movie: a block's ``bias`` counts only where the block's mean z keeps at least this share
    #: in its mean trimmed of the ``trim`` highest and lowest pixels (a blank or saturated row
    #: shifts every pixel: 0.87–1.0; one or two atoms arriving or leaving shift a few: 0.24–0.41,
    #: several in one block 0.47–0.55), else the trimmed mean is its bias (:func:`_spread_bias`)
    spread_share: float = 0.6
    trim: float = 0.2
    #: a movie: odd blocks (``q``) side by side that a band needs in one of its rows (its row count
    #: when fewer): a row goes wrong along the row, while several heavy atoms arriving on or leaving
    #: sites in one frame raise one block's ``q`` in a few rows (W adatoms on WS2 hopping 0.3 times
    #: a frame at 10⁴ e/Å²: q up to 3.0 in one block of a row, in 4 of 40 frames)
    min_blocks: int = 2


def glitch_mask(frame, others, valid, pixel_size_A: float, p: GlitchParams | None = None,
                phase_rows: int | None = None) -> np.ndarray:
    """Pixels of ``frame`` in row blocks unlike the same rows of its neighbouring frames (see the
    module's docstring), grown by ``p.grow_A``.

    Parameters
    ----------
    frame : ndarray (H, W)
    others : ndarray (H, W)
        Median of the neighbouring frames registered onto ``frame``
        (:func:`helpers.detect.registration.registered_sum_and_others`).
    valid : ndarray (H, W) of bool
        Pixels every neighbour covered (the rest is not compared).
    pixel_size_A : float
        Pixel size (Å/px).
    p : GlitchParams, optional
    phase_rows : int, optional
        A single image against its lattice translates: the rows of one lattice translate apart
        (px). Whole rows are then measured, each against the rows at the same lattice phase (row
        modulo ``phase_rows``; :func:`_odd_rows`).

    Returns
    -------
    ndarray (H, W) of bool
    """
    from scipy import ndimage

    p = p or GlitchParams()
    ps = check_pixel_size(pixel_size_A)
    img = np.asarray(frame, np.float32)
    if np.shape(others) != img.shape or np.shape(valid) != img.shape:
        raise ValueError(f"frame {img.shape}, its neighbours' median {np.shape(others)} and valid "
                         f"{np.shape(valid)} must have one shape")
    h, w = img.shape
    d = img - np.asarray(others, np.float32)
    dv = d[::2, ::2][valid[::2, ::2]]  # every fourth pixel is plenty for the centre and the spread
    out = np.zeros((h, w), bool)
    if dv.size < 100:
        return out
    centre = float(np.median(dv))
    spread = 1.4826 * float(np.median(np.abs(dv - centre)))
    if not spread > 0:
        return out
    z = np.where(valid, (d - centre) / spread, 0.0).astype(np.float32)
    block_A, least = (p.single_block_A, 4) if phase_rows else (p.block_A, 8)
    b = min(max(int(round(block_A / ps)), least), w)
    nb = w // b  # blocks of b px; the last one also holds the remaining columns when marked
    zb = z[:, :nb * b].reshape(h, nb, b)
    q = np.median(np.abs(zb), axis=2)
    bias = zb.mean(axis=2)
    edges = np.arange(nb + 1) * b
    edges[-1] = w
    if phase_rows:  # a single image: whole rows, each against the rows at its lattice phase
        seen = np.asarray(valid)[:, :nb * b].reshape(h, nb, b).mean(axis=2) > 0.5
        out[_odd_rows(np.where(seen, q, np.nan), np.where(seen, bias, np.nan), int(phase_rows), p)] = True
        out[shifted_rows(img, others, valid, ps, p)] = True
    else:
        bias = _spread_bias(zb, bias, p)
        bad = np.zeros_like(q, bool)
        if (typical := float(np.median(q))) > 0:
            bad = _odd_blocks(q / typical, bias, p, min_blocks=min(p.min_blocks, nb))
        bad[shifted_rows(img, others, valid, ps, p)] = True
        # a scan goes wrong row by row: where most of a row is odd, all of it is
        bad[bad.mean(axis=1) >= 0.5] = True
        for j in range(nb):
            out[bad[:, j], edges[j]:edges[j + 1]] = True
    if not out.any():
        return out
    grow = int(np.ceil(p.grow_A / ps))
    return ndimage.maximum_filter(out.view(np.uint8), size=2 * grow + 1).astype(bool)


def _widest_run(rows) -> int:
    """The most True blocks side by side in any row of ``rows`` (rows × blocks bool)."""
    best = 0
    for r in rows:
        run = 0
        for v in r:
            run = run + 1 if v else 0
            best = max(best, run)
    return best


def _spread_bias(zb, bias, p: GlitchParams) -> np.ndarray:
    """The blocks' ``bias`` (rows × blocks) where a row's shift is spread over the block, else the
    mean trimmed of its ``p.trim`` highest and lowest pixels: a heavy atom that arrives on or leaves
    a site changes a few pixels by many noise widths (12 W adatoms hopping on WS2 at 0.15 Å/px: mean
    z up to 2.8, trimmed 1.1 or less), a blank or saturated row all of them. Only the blocks that
    could matter (``bias`` above the weak share of its threshold) are sorted."""
    cand = np.abs(bias) > p.weak * p.bias_above
    if not cand.any():
        return bias
    z = np.sort(zb[cand], axis=1)
    k = int(p.trim * z.shape[1])
    trimmed = z[:, k:z.shape[1] - k].mean(axis=1)
    out = bias.copy()
    out[cand] = np.where(trimmed / bias[cand] >= p.spread_share, bias[cand], trimmed)
    return out


def _odd_rows(q, bias, phase_rows: int, p: GlitchParams) -> np.ndarray:
    """A single image's odd rows (:func:`glitch_mask` with ``phase_rows``; H bool) from its blocks'
    ``q`` and ``bias`` (rows × blocks, NaN where not compared): each row's median over its blocks
    (a hole, a cluster of vacancies or a heavy dopant changes a block or two, a glitch all of
    them), ``q`` over the median of the rows at the same lattice phase (row modulo ``phase_rows``:
    an alloy differs from its translates more in the rows through its columns than between them)
    and ``bias`` less the median of theirs, odd as :func:`_odd_blocks` decides."""
    h = q.shape[0]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows never compared: NaN, not odd
        seen = np.isfinite(q).sum(axis=1) >= 0.5 * q.shape[1]
        q = np.where(seen, np.nanmedian(q, axis=1), np.nan)
        bias = np.where(seen, np.nanmedian(bias, axis=1), np.nan)
        phase = np.arange(h) % max(phase_rows, 1)
        for k in np.unique(phase):
            rows = phase == k
            q[rows] /= np.nanmedian(q[rows])
            bias[rows] -= np.nanmedian(bias[rows])
    return _odd_blocks(np.nan_to_num(q)[:, None], np.nan_to_num(bias)[:, None], p)[:, 0]


def _odd_blocks(q, bias, p: GlitchParams, min_blocks: int = 1) -> np.ndarray:
    """Row blocks (rows × blocks bool) that are glitches by their ``q`` (over its typical value) or
    ``bias`` (see the module's docstring); a band of odd ``q`` must hold ``min_blocks`` odd blocks
    side by side in one of its rows (a row goes wrong along the row; heavy atoms arriving on or
    leaving sites change a patch)."""
    from scipy import ndimage

    blank = np.abs(bias) > p.bias_above
    odd = q > p.q_above
    if not (blank.any() or odd.any()):
        return blank
    # hysteresis: blocks a little odd that touch a glitch block are part of it
    weak = (np.abs(bias) > p.weak * p.bias_above) | (q > p.weak * p.q_above)
    lab, n_lab = ndimage.label(weak | blank | odd)
    keep = np.zeros(n_lab + 1, bool)
    keep[np.unique(lab[blank])] = True
    # a single odd row is the scan's ordinary line jitter at its tail (0.5 px r.m.s. reaches q 2.8
    # once in a few frames); a band of them is a glitch
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):  # odd blocks in ≥ min_rows rows
        mine = odd[sl] & (lab[sl] == k) if sl is not None else None
        if mine is not None and mine.any(axis=1).sum() >= p.min_rows and _widest_run(mine) >= min_blocks:
            keep[k] = True
    keep[0] = False
    return keep[lab]


def shifted_rows(frame, others, valid, pixel_size_A: float, p: GlitchParams | None = None) -> np.ndarray:
    """Rows of ``frame`` shifted along the scan against the same rows of its neighbours' median:
    for each row the correlation with the neighbours' row at every lag up to ``p.shift_max_A``
    (averaged over three rows); a row is shifted when its best lag is at least ``p.shift_min_px``
    and beats lag 0 by more than ``p.shift_gain_above`` in correlation, in a band of at least
    ``p.min_rows`` rows (one row off by a pixel or two is the scan's line jitter).

    Parameters
    ----------
    frame, others : ndarray (H, W)
    valid : ndarray (H, W) of bool
    pixel_size_A : float
        Pixel size (Å/px).
    p : GlitchParams, optional

    Returns
    -------
    ndarray (H,) of bool
    """
    from scipy import fft as sfft
    from scipy import ndimage

    p = p or GlitchParams()
    ps = check_pixel_size(pixel_size_A)
    h, w = np.shape(frame)
    rows = np.asarray(valid).mean(axis=1) > 0.5
    out = np.zeros(h, bool)
    cols = np.flatnonzero(np.asarray(valid)[rows].all(axis=0)) if rows.any() else []
    lag_max = int(np.ceil(p.shift_max_A / ps))
    if len(cols) < 4 * lag_max:
        return out
    a = np.asarray(frame, np.float32)[:, cols[0]:cols[-1] + 1]
    b = np.asarray(others, np.float32)[:, cols[0]:cols[-1] + 1]
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    n = sfft.next_fast_len(a.shape[1] + lag_max, real=True)  # no lag up to lag_max wraps around
    c = sfft.irfft(sfft.rfft(a, n, axis=1) * np.conj(sfft.rfft(b, n, axis=1)), n, axis=1)
    lags = np.arange(-lag_max, lag_max + 1)
    energy = np.sqrt((a.astype(np.float64) ** 2).sum(axis=1) * (b.astype(np.float64) ** 2).sum(axis=1))
    rho = c[:, lags % n] / (energy[:, None] + 1e-12)
    rho = ndimage.uniform_filter1d(rho, 3, axis=0)
    best = lags[np.argmax(rho, axis=1)]
    gain = rho.max(axis=1) - rho[:, lag_max]
    hit = rows & (np.abs(best) >= p.shift_min_px) & (gain > p.shift_gain_above)
    lab, _ = ndimage.label(hit)
    for sl in ndimage.find_objects(lab):
        if sl[0].stop - sl[0].start >= p.min_rows:
            out[sl[0]] = True
    return out


def row_translate(lattice_vectors, pixel_size_A: float, p: GlitchParams | None = None) -> np.ndarray:
    """The shortest lattice vector (row, col) px whose row component is at least ``p.translate_A``.

    Parameters
    ----------
    lattice_vectors : ndarray (2, 2)
        (row, col) px of a1, a2.
    pixel_size_A : float
        Pixel size (Å/px).
    p : GlitchParams, optional

    Returns
    -------
    ndarray (2,)
    """
    p = p or GlitchParams()
    v = np.asarray(lattice_vectors, float)
    n = np.arange(-8, 9)
    t = (n[:, None, None] * v[0] + n[None, :, None] * v[1]).reshape(-1, 2)
    t = t[t[:, 0] >= p.translate_A / check_pixel_size(pixel_size_A)]
    return t[np.argmin(np.hypot(t[:, 0], t[:, 1]))]


def lattice_translates(frame, lattice_vectors, pixel_size_A: float, p: GlitchParams | None = None,
                       compare=None) -> tuple[np.ndarray, np.ndarray]:
    """A single image's stand-in for its neighbours' median: the pixel-wise median of the image
    moved by ±t and ±2t (bilinear), t the shortest lattice vector whose row component is at least
    ``p.translate_A``; and where all four and ``compare`` (lattice area, H × W bool) cover it.

    Parameters
    ----------
    frame : ndarray (H, W)
    lattice_vectors : ndarray (2, 2)
        (row, col) px of a1, a2.
    pixel_size_A : float
        Pixel size (Å/px).
    p : GlitchParams, optional
    compare : ndarray (H, W) of bool, optional
        Pixels that may be compared (moved with the image as well).

    Returns
    -------
    (others, valid) : ndarray (H, W) float32, ndarray (H, W) bool
    """
    from scipy import ndimage

    p = p or GlitchParams()
    ps = check_pixel_size(pixel_size_A)
    img = np.asarray(frame, np.float32)
    t = row_translate(lattice_vectors, ps, p)
    ok = np.ones(img.shape, bool) if compare is None else np.asarray(compare, bool)
    moved, valid = [], ok.copy()
    for k in (1, -1, 2, -2):
        moved.append(ndimage.shift(img, -k * t, order=1, mode="constant", cval=np.nan))
        valid &= ndimage.shift(ok.view(np.uint8), -k * t, order=0, mode="constant", cval=0).astype(bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pixels no translate covers: NaN, not valid
        others = np.nanmedian(np.stack(moved), axis=0).astype(np.float32)
    valid &= np.isfinite(others)
    return np.nan_to_num(others), valid


def frame_areas(frame, others, valid, lattice, pixel_size_A: float, area_params: AreaParams | None = None,
                p: GlitchParams | None = None, margin_px: float = 0.0,
                translates: bool = False) -> tuple[AreaMap, int]:
    """One frame's area map (:func:`helpers.detect.areas.find_areas` on the frame itself: a hole
    that opens or grows, or vacuum that drift brings in, is masked from the frame it is there) with
    its scan glitches (:func:`glitch_mask` against its neighbours' median ``others``) stamped in as
    ``scan_glitch``; and the number of rows that hold a glitch (0 without one, or when ``others``
    or ``p`` is None).

    Parameters
    ----------
    frame : ndarray (H, W)
    others : ndarray (H, W) or None
        Median of the neighbouring frames registered onto ``frame``.
    valid : ndarray (H, W) of bool or None
    lattice : ColumnLattice
    pixel_size_A : float
        Pixel size (Å/px).
    area_params : AreaParams, optional
    p : GlitchParams or None
    margin_px : float
        Border not read (px): rows too far inside it to touch a site read are not looked at (the
        first and last rows of a scan are often odd in every frame).
    translates : bool
        Without ``others`` (a single image): compare the frame with its own lattice translates
        (:func:`lattice_translates`), on the lattice area of the map. In either case a scan stopped
        mid-frame (trailing constant rows: :func:`helpers.detect.registration.scanned_rows`) is a
        glitch from where it stopped.

    Returns
    -------
    (AreaMap, int)
    """
    amap = find_areas(frame, lattice, pixel_size_A, area_params)
    if others is None and translates and p is not None:
        others, valid = lattice_translates(frame, lattice.vectors, pixel_size_A, p, amap.pixels_of(LATTICE))
    if others is None or p is None:
        return amap, 0
    edge = int(max(margin_px - p.grow_A / check_pixel_size(pixel_size_A), 0))
    if edge:
        valid = np.array(valid, bool)
        valid[:edge], valid[valid.shape[0] - edge:] = False, False
    phase = int(round(row_translate(lattice.vectors, pixel_size_A, p)[0])) if translates else None
    bad = glitch_mask(frame, others, valid, pixel_size_A, p, phase_rows=phase)
    stopped = scanned_rows(frame)  # a scan stopped mid-frame: the rest of the frame at one value
    if stopped < bad.shape[0]:
        bad[max(stopped - int(np.ceil(p.grow_A / check_pixel_size(pixel_size_A))), 0):] = True
    if not bad.any():
        return amap, 0
    return amap.stamped(bad, SCAN_GLITCH), int(bad.any(axis=1).sum())


def glitch_note(n_frames: int, single: bool = False) -> str:
    """The warning a reading carries when ``n_frames`` frames held scan glitches (``single``: one
    image, compared with its own lattice translates)."""
    like = "the lattice in other rows of the image" if single else "the same rows of the neighbouring frames"
    return (f"scan glitches (a band of rows unlike {like}: blank, saturated or shifted) in {n_frames} "
            f"frame(s): their sites there are masked (area scan_glitch), not read as defects")
