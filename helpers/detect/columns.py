"""Quantitative HAADF: atomic-column intensities on the fitted lattice, and defect classes from them.

A HAADF column reads ≈ Σ Z^n of its atoms, so a defect's *content* can be read from its column
intensity relative to the pristine W columns around it, in the movie's own units — independent of
the simulation the classifier was trained on. This is how atoms are told apart in quantitative
STEM (column "scattering cross-sections", StatSTEM; Krivanek et al., Nature 464, 571 (2010)).

1. :func:`fit_column_lattice` finds the lattice of one image (Fourier peaks refined off the grid,
   :func:`helpers.detect.peaks.lattice_basis`), which of the two honeycomb sites holds the S2 columns,
   and the width of a column (the Gaussian width at which the empty hollow sites read zero).
2. :func:`lattice_origin` places the metal sublattice in each frame (phases of the first-order
   Fourier components, corrected for the S2 sublattice's share).
3. :func:`column_ratios` snaps every detection to its nearest metal or chalcogen site and fits the
   amplitudes of all columns around it by linear least squares (Gaussians of the fitted width on the
   lattice sites, plus a plane). The ratio of the site's amplitude to the median of its pristine W
   neighbours is the column content in W units: W 1, Mo (42/74)^n, one S (16/74)^n, empty 0.
   The fit is a fixed linear filter for each sub-pixel position of a site, so it is precomputed
   (the standard movie's 16,289 detections take ~4 s in all).
4. :func:`classify_ratios` reads classes from the ratios: the exponent n from the measured
   S2/W ratio, then a mixture with one component per possible content on each sublattice, with
   one gain shared by both sublattices and each one's width and weights fitted to the movie's own
   detections (EM; no truth). :func:`site_keys` and :func:`average_over_site` first average a
   site's ratio over the frames it is detected on the same lattice site.

Lengths in Å unless a name says px; positions are (row, col) px.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.core.chemistry import CHALCOGEN, METAL, Z
from helpers.core.validation import check_image, check_pixel_size
from helpers.detect.column_model import (
    ColumnLattice,
    _measure,
    _snap,
    haadf_exponent,
)
from helpers.detect.lattice import (
    _frame_w_amplitude,
    lattice_origin,
)

#: out-of-library contents: a pristine column (a false detection) and a single S vacancy
PRISTINE_W, PRISTINE_S2, SINGLE_S_VACANCY = "W", "S2", "Vs"


def expected_contents(s2_ratio: float) -> dict:
    """Column content in W units of every possibility on each sublattice, from the S2/W ratio.

    Metal site: ``Vw`` 0, ``Sw`` one S, ``Mo``, pristine ``W`` 1. Chalcogen site: ``Vs2`` 0,
    ``Vs`` one S (out of the library), pristine ``S2``, ``W2s2`` 1, ``Ws`` 1 + one S.

    Parameters
    ----------
    s2_ratio : float
        Pristine S2 / W column reading.

    Returns
    -------
    dict
        Sublattice → {content: reading in W units}.
    """
    n = haadf_exponent(s2_ratio)
    s, mo = (Z["S"] / Z["W"]) ** n, (Z["Mo"] / Z["W"]) ** n
    return {METAL: {"Vw": 0.0, "Sw": s, "Mo": mo, PRISTINE_W: 1.0},
            CHALCOGEN: {"Vs2": 0.0, SINGLE_S_VACANCY: s, PRISTINE_S2: 2 * s, "W2s2": 1.0, "Ws": 1.0 + s}}


def column_ratios(image, pixel_size_A: float, lattice: ColumnLattice, centres_rc,
                  origin=None, radius_A: float = 5.0, bins: int = 4,
                  partial: bool = True) -> pd.DataFrame:
    """Column content of the lattice site nearest to each centre, in units of a pristine W column.

    Each detection is snapped to its nearest metal or chalcogen site; the amplitudes of all columns
    within ``radius_A`` are fitted at once (Gaussians of ``lattice.sigma_px`` on the lattice sites,
    plus a plane for the slowly varying background), so neighbouring columns do not leak into the
    site. Columns: ``site`` (metal / chalcogen / edge: too close to the border), ``site_row``,
    ``site_col`` (px), ``offset_A`` (detection to site), ``ratio`` (site amplitude / median of the
    pristine W neighbours within ``radius_A`` − 1 Å), ``s2_ratio`` (median S2 neighbour / W),
    ``w_amplitude`` (counts at a W column's centre). A site whose disc is cut by the border is fitted
    on the pixels inside the image (``partial``; else reported as edge) and, with fewer than 3 W
    neighbours there, normalized by the median W column of the frame.

    Parameters
    ----------
    image : ndarray (H, W)
        In counts.
    pixel_size_A : float
        Pixel size (Å/px).
    lattice : ColumnLattice
    centres_rc : ndarray (n, 2)
        Detections (px).
    origin : ndarray (2,), optional
        A metal site (px); found when None.
    radius_A : float
        Radius of the fitted patch (Å).
    bins : int
        Sub-pixel bins of the precomputed filters.
    partial : bool
        Fit sites whose patch the border cuts on the pixels inside.

    Returns
    -------
    DataFrame
        site, site_row, site_col, offset_A, ratio (W units), s2_ratio, w_amplitude per detection.
    """
    img = check_image(image, "image", min_shape=(16, 16)).astype(np.float64)
    ps = check_pixel_size(pixel_size_A)
    if abs(ps - lattice.pixel_size_A) > 1e-6 * ps:
        raise ValueError(f"image pixel size {ps} Å differs from the lattice's {lattice.pixel_size_A} Å")
    c = np.asarray(centres_rc, float).reshape(-1, 2)
    cols = ["site", "site_row", "site_col", "offset_A", "ratio", "s2_ratio", "w_amplitude"]
    if len(c) == 0:
        return pd.DataFrame(columns=cols)
    o = lattice_origin(img, lattice) if origin is None else np.asarray(origin, float)
    kinds, sites, dist = _snap(c, o, lattice)
    amps = _measure(img, kinds, sites, lattice, radius_A, bins)
    redo = [k for k, a in enumerate(amps) if a is None]
    frame_w = np.nan
    if redo and partial:
        for k, a in zip(redo, _measure(img, kinds[redo], sites[redo], lattice, radius_A, bins, partial=True)):
            amps[k] = a
        frame_w = _frame_w_amplitude(img, o, lattice, radius_A, bins)
    rows = []
    for kind, p, d, a in zip(kinds, sites, dist, amps):
        if a is None:
            rows.append(("edge", p[0], p[1], d * ps, np.nan, np.nan, np.nan))
            continue
        local = len(a[METAL]) >= 3  # enough W neighbours inside the fitted disc
        w_ref = float(np.median(a[METAL])) if local else frame_w
        s2 = float(np.median(a[CHALCOGEN])) / w_ref if len(a[CHALCOGEN]) else np.nan
        rows.append((kind, p[0], p[1], d * ps, float(a["centre"]) / w_ref, s2, w_ref))
    return pd.DataFrame(rows, columns=cols)


def site_keys(sites_rc: np.ndarray, kinds, frames, shifts, origin0: np.ndarray,
              lattice: ColumnLattice) -> np.ndarray:
    """A label per measured site that is the same in every frame for the same lattice site:
    the site moved back by the frame's drift (``shifts``, :func:`helpers.detect.registration.frame_shifts`)
    onto frame 0, whose metal site ``origin0`` anchors the integer lattice indices. Edge sites: "".

    Parameters
    ----------
    sites_rc : ndarray (n, 2)
        Measured sites (px).
    kinds : ndarray (n,)
        ``metal`` or ``chalcogen``.
    frames : ndarray (n,)
    shifts : ndarray (n_frames, 2)
        Drift (px).
    origin0 : ndarray (2,)
        A metal site of frame 0 (px).
    lattice : ColumnLattice

    Returns
    -------
    ndarray (n,)
        Keys; empty where the site was not measured.
    """
    p = np.asarray(sites_rc, float).reshape(-1, 2) - np.asarray(shifts, float)[np.asarray(frames, int)]
    f = np.linalg.solve(lattice.vectors.T, (p - np.asarray(origin0, float)).T).T
    kinds = np.asarray(kinds, object)
    f = np.where((kinds == CHALCOGEN)[:, None], f - np.asarray(lattice.chalcogen_frac, float), f)
    ij = np.round(f).astype(int)
    keys = np.array([f"{k}:{i}:{j}" for k, (i, j) in zip(kinds, ij)], object)
    keys[~np.isin(kinds, [METAL, CHALCOGEN])] = ""
    return keys


def average_over_site(keys, frames, values, half_window: int) -> np.ndarray:
    """Mean of ``values`` over the detections at the same site (``keys``) within ±``half_window``
    frames: a defect that stays on its site keeps its content for tens of frames, so its column
    ratio can be read from more dose than one summed frame holds. Empty keys are left as they are.

    Parameters
    ----------
    keys : ndarray (n,)
        From :func:`site_keys`.
    frames : ndarray (n,)
    values : ndarray (n,)
    half_window : int
        Frames on each side.

    Returns
    -------
    ndarray (n,)
    """
    keys = np.asarray(keys, object)
    frames = np.asarray(frames, int)
    v = np.asarray(values, float)
    out = v.copy()
    if half_window <= 0:
        return out
    for key in pd.unique(keys):
        if key == "":
            continue
        idx = np.flatnonzero(keys == key)
        if len(idx) < 2:
            continue
        f, x = frames[idx], v[idx]
        near = np.abs(f[:, None] - f[None, :]) <= half_window
        ok = np.isfinite(x)
        cnt = (near & ok[None]).sum(1)
        out[idx] = np.where(cnt > 0, (near * np.where(ok, x, 0.0)[None]).sum(1) / np.maximum(cnt, 1), np.nan)
    return out


PRISTINE_CONTENT_OF = {METAL: PRISTINE_W, CHALCOGEN: PRISTINE_S2}


def classify_ratios(ratios: pd.DataFrame, s2_ratio: float, iterations: int = 100,
                    min_sigma: float = 0.01, gain_range: tuple = (0.8, 1.25)) -> pd.DataFrame:
    """Class and probability of each measured site from its column ratio (:func:`column_ratios`).

    The ratios of each sublattice are a mixture with one Gaussian per possible content c
    (:func:`expected_contents`) at ``c_p + gain · (c − c_p)``, c_p the site's pristine content
    (W 1, S2 ``s2_ratio``), plus a flat component for outliers (a hop or class change inside the
    summed frames). The gain is shared by both sublattices: the fitted amplitude of a column whose
    content changed also takes up part of the change in the probe's tail, by the same factor
    everywhere (measured ≈ 1.06). Gain, each sublattice's width and weights are fitted by EM to
    these detections; the pristine reference pins the scale, so the fit cannot slide one class onto
    its neighbour. Returns ``column_class`` (most probable content, out-of-library ones included),
    ``column_probability``, and the fitted ``offset`` (c_p · (1 − gain)), ``gain``, ``sigma``.
    Sites at the edge get NaN. With fewer than 20 measured sites the gain stays 1.

    Parameters
    ----------
    ratios : DataFrame
        site, ratio per detection.
    s2_ratio : float
        Pristine S2 / W reading.
    iterations : int
        EM iterations.
    min_sigma : float
        Smallest spread of a content (W units).
    gain_range : (float, float)
        Bounds of the fitted gain.

    Returns
    -------
    DataFrame
        column_class, column_probability, offset, gain, sigma per detection.
    """
    exp = expected_contents(s2_ratio)
    out = pd.DataFrame({"column_class": pd.Series([None] * len(ratios), dtype=object),
                        "column_probability": np.nan, "offset": np.nan, "gain": np.nan,
                        "sigma": np.nan}, index=ratios.index)
    groups = {}
    for kind, contents in exp.items():
        sel = (ratios["site"] == kind) & np.isfinite(ratios["ratio"])
        if sel.any():
            names = list(contents)
            cp = contents[PRISTINE_CONTENT_OF[kind]]
            x = ratios.loc[sel, "ratio"].to_numpy(float)
            groups[kind] = dict(sel=sel, names=names, cp=cp, x=x,
                                dc=np.array([contents[k] for k in names]) - cp, sigma=0.04,
                                pi=np.full(len(names) + 1, 1.0 / (len(names) + 1)),
                                span=max(float(x.max() - x.min()), 1.0))
    n_all = sum(len(g["x"]) for g in groups.values())
    fit = n_all >= 20
    gain = 1.0
    for _ in range(iterations if fit else 1):
        num = den = 0.0
        for g in groups.values():
            mu = g["cp"] + gain * g["dc"]
            like = np.exp(-0.5 * ((g["x"][:, None] - mu[None]) / g["sigma"]) ** 2) / (np.sqrt(2 * np.pi) * g["sigma"])
            like = np.concatenate([like, np.full((len(g["x"]), 1), 1.0 / g["span"])], 1) * g["pi"]
            g["r"] = like / np.maximum(like.sum(1, keepdims=True), 1e-300)
            rc = g["r"][:, :-1]
            num += (rc * (g["x"][:, None] - g["cp"]) * g["dc"][None]).sum() / g["sigma"] ** 2
            den += (rc * g["dc"][None] ** 2).sum() / g["sigma"] ** 2
        if not fit:
            break
        gain = float(np.clip(num / den, *gain_range)) if den > 0 else 1.0
        for g in groups.values():
            rc = g["r"][:, :-1]
            g["pi"] = np.maximum(g["r"].mean(0), 1e-4)
            g["pi"] /= g["pi"].sum()
            res = (g["x"][:, None] - g["cp"] - gain * g["dc"][None]) ** 2
            g["sigma"] = float(max(np.sqrt((rc * res).sum() / max(rc.sum(), 1e-9)), min_sigma))
    for kind, g in groups.items():
        post = g["r"][:, :-1] / np.maximum(g["r"][:, :-1].sum(1, keepdims=True), 1e-300)
        best = post.argmax(1)
        out.loc[g["sel"], "column_class"] = np.array(g["names"], object)[best]
        out.loc[g["sel"], "column_probability"] = post[np.arange(len(best)), best]
        out.loc[g["sel"], ["offset", "gain", "sigma"]] = (g["cp"] * (1 - gain), gain, g["sigma"])
    return out
