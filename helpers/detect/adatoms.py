"""Single atoms on the hollow sites of the 2H lattice (adatoms): found, listed, and kept out of their
neighbours' readings.

The third site of each hexagon of a 2H sheet, the hollow site, holds no atom. An atom lying there — a
metal or chalcogen adatom, a dopant on top of the sheet — is no column of the lattice. Read with
Gaussians on the lattice sites alone (:func:`helpers.detect.site_measure.measure_amplitude_sets`),
its intensity is shared out among the Gaussians of its neighbours and pulls the sites around it: on
rendered WS2 with 15 W adatoms (0.15 Å/px, 10⁴ e/Å²) the reading reported ten empty chalcogen columns
(``Vs2``), each one 3.6–3.7 Å from an adatom (a chalcogen site two hops away), none in the same frame
without the adatoms.

1. Each lattice-area metal site's hollow neighbour is read like a column — also those in the
   frame's margin, which the site reading leaves out but whose adatoms reach the sites read
   (:func:`helpers.detect.hollow_sites.measure_hollows`: least squares with a Gaussian on every metal,
   chalcogen and hollow site within reach, and a plane), in units of the site's local pristine metal
   column.
2. A hollow reading more than :data:`ADATOM_Z` robust standard deviations (normalised MAD of the
   frame's hollow readings) above their median is an adatom: listed with its position, its reading
   above that median (``content``, metal units: about (Z/Z_metal)ⁿ) and ``z``. The reading is a
   Gaussian core's, which takes in part of the probe tail as every core reading of a content change
   does; :func:`adatom_table` divides it by the gain the reading calibrates on its own defects
   (:func:`helpers.detect.site_decode.calibrate_gain`), as the sites' contents are.
3. The sites whose fitting disc reaches an adatom are read again with a Gaussian on every hollow site
   in their model (``with_hollow``), which takes the adatom's intensity itself.

Adatoms are not point defects of the lattice: they are not in ``defects.csv``, the counts, tracks or
kinetics; the command lists them in ``adatoms.csv`` and draws them on the overlays. Areas of another
phase, where every hollow site holds an atom, are masked before this step and not searched.

Positions are (row, col) px.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from helpers.core.chemistry import METAL
from helpers.detect.column_model import ColumnLattice
from helpers.detect.hollow_sites import _robust, measure_hollows
from helpers.detect.site_measure import enumerate_sites, measure_amplitude_sets

#: a hollow reading this many robust standard deviations above the frame's median is an adatom (a
#: pristine frame of 10³ hollow sites reaches ≈ 3; a W adatom on WS2 at 2·10³ e/Å² ≈ 50, an S adatom
#: at 10⁴ e/Å² ≈ 11)
ADATOM_Z = 8.0
#: fewer hollow sites than this in a frame's lattice area: no robust median and spread, not searched
MIN_HOLLOWS = 20
#: columns of :func:`find_adatoms`' table
ADATOM_COLUMNS = ["row", "col", "content", "z"]


def search_sites(shape, origin_rc, lattice: ColumnLattice, radius_A: float, kinds, positions, undisplaced,
                 references, use) -> tuple:
    """The metal sites whose hollow neighbours are searched: every metal site of the frame whose fitting
    disc lies inside it, also those in the margin that the site reading leaves out (an adatom there
    still reaches the sites read). Each is moved as its nearest read metal site is (the local lattice
    phase) and takes that site's metal reference and area.

    Parameters
    ----------
    shape : (int, int)
        The frame's (H, W) px.
    origin_rc : ndarray (2,)
        The frame's lattice origin (px).
    lattice : ColumnLattice
    radius_A : float
        Fitting disc radius (Å).
    kinds, positions, undisplaced : ndarray (n,), ndarray (n, 2), ndarray (n, 2)
        The sites read, where they are read and where the frame's lattice puts them (px).
    references : ndarray (n,)
        Their local pristine metal column amplitudes.
    use : ndarray (n,) of bool
        Sites read in the lattice area.

    Returns
    -------
    (ndarray (m, 2), ndarray (m,), ndarray (m,) of bool)
        Metal sites (px), their references, and whether they are in the lattice area.
    """
    metal = np.asarray(kinds, object) == METAL
    if metal.sum() < MIN_HOLLOWS:
        return np.zeros((0, 2)), np.zeros(0), np.zeros(0, bool)
    k2, p2, _ = enumerate_sites(shape, origin_rc, lattice, radius_A / float(lattice.pixel_size_A))
    m2 = p2[k2 == METAL]
    pos, pos0 = np.asarray(positions, float)[metal], np.asarray(undisplaced, float)[metal]
    nn = cKDTree(pos0).query(m2)[1]
    return m2 + (pos - pos0)[nn], np.asarray(references, float)[metal][nn], np.asarray(use, bool)[metal][nn]


def find_adatoms(image, metal_positions, references, use, lattice: ColumnLattice, radius_A: float = 5.0,
                 bins: int = 4, z: float = ADATOM_Z) -> pd.DataFrame:
    """The hollow sites of one frame that hold an atom (module text, steps 1–2).

    Parameters
    ----------
    image : ndarray (H, W)
        The frame read.
    metal_positions : ndarray (m, 2)
        Metal sites whose hollow neighbours are searched (px; :func:`search_sites`).
    references : ndarray (m,)
        Each one's local pristine metal column amplitude (image units).
    use : ndarray (m,) of bool
        Sites in the lattice area (only their hollow neighbours are searched).
    lattice : ColumnLattice
    radius_A : float
        Fitting disc radius (Å).
    bins : int
        Sub-pixel bins.
    z : float
        Threshold in robust standard deviations.

    Returns
    -------
    DataFrame
        :data:`ADATOM_COLUMNS`: position (px), reading above the median hollow reading (metal units), z.
    """
    refs = np.asarray(references, float)
    metal = np.asarray(use, bool) & np.isfinite(refs) & (refs > 0)
    empty = pd.DataFrame({c: np.zeros(0) for c in ADATOM_COLUMNS})
    if metal.sum() < MIN_HOLLOWS:
        return empty
    hpos, hamp = measure_hollows(image, np.asarray(metal_positions, float)[metal], lattice, radius_A, bins)
    h = hamp / refs[metal]
    if np.isfinite(h).sum() < MIN_HOLLOWS:
        return empty
    med, sd = _robust(h)
    with np.errstate(invalid="ignore"):
        zz = (h - med) / max(sd, 1e-12)
        keep = np.isfinite(zz) & (zz > z)
    return pd.DataFrame({"row": hpos[keep, 0], "col": hpos[keep, 1], "content": h[keep] - med, "z": zz[keep]})


def reread_beside(image, kinds, positions, lattice: ColumnLattice, adatoms: pd.DataFrame, amplitudes,
                  radius_A: float = 5.0, bins: int = 4, halos_A: tuple = (0.0,)) -> np.ndarray:
    """``amplitudes`` with the sites whose fitting disc reaches an adatom read again with a Gaussian
    on every hollow site in their model (module text, step 3).

    Parameters
    ----------
    image, kinds, positions, lattice
        As :func:`find_adatoms`.
    adatoms : DataFrame
        From :func:`find_adatoms`.
    amplitudes : ndarray (n, len(halos_A))
        The sites' readings (:func:`helpers.detect.site_measure.measure_amplitude_sets`).
    radius_A, bins, halos_A
        As that reading's.

    Returns
    -------
    ndarray (n, len(halos_A))
    """
    out = np.array(amplitudes, float).reshape(len(positions), -1)
    if not len(adatoms):
        return out
    reach = radius_A / float(lattice.pixel_size_A) + 3 * float(lattice.sigma_px)
    pos = np.asarray(positions, float)
    near = np.isfinite(cKDTree(adatoms[["row", "col"]].to_numpy(float)).query(pos, distance_upper_bound=reach)[0])
    if near.any():
        out[near] = measure_amplitude_sets(image, np.asarray(kinds, object)[near], pos[near], lattice, radius_A,
                                           bins, tuple(halos_A), with_hollow=True)
    return out


def adatom_table(per_frame: list, pixel_size_A: float, gain: float = 1.0) -> pd.DataFrame:
    """One table of the adatoms of every frame (``per_frame``: :func:`find_adatoms`' tables with a
    ``frame`` column, from 0), with x/y in Å and the contents divided by ``gain``.

    Parameters
    ----------
    per_frame : list of DataFrame
    pixel_size_A : float
        Å/px.
    gain : float
        The reading's gain (a content change read by a Gaussian core over the change itself).

    Returns
    -------
    DataFrame
        frame, row, col, content, z, x_A, y_A.
    """
    t = (pd.concat(per_frame, ignore_index=True) if per_frame
         else pd.DataFrame({c: np.zeros(0) for c in ["frame", *ADATOM_COLUMNS]}))
    if not gain > 0:
        raise ValueError(f"gain must be > 0, got {gain!r}")
    t["frame"] = t["frame"].astype(int)
    return t.assign(content=t["content"] / gain, x_A=t["col"] * pixel_size_A, y_A=t["row"] * pixel_size_A)


def adatom_csv(adatoms: pd.DataFrame, first: int = 0) -> pd.DataFrame:
    """``adatoms.csv`` of the command: frame (from 1, as in the file: ``first`` is the file's frame,
    from 0, that the reading starts at), id (per frame), x/y in px and Å, content (metal units), z,
    and ``track`` where the table has one (a movie: :mod:`helpers.kinetics.adatom_tracks`).

    Parameters
    ----------
    adatoms : DataFrame
        :func:`adatom_table`.
    first : int

    Returns
    -------
    DataFrame
    """
    t = adatoms.sort_values(["frame", "row", "col"], kind="stable")
    out = pd.DataFrame({"frame": t["frame"].to_numpy() + first + 1, "x_px": t["col"].to_numpy(),
                        "y_px": t["row"].to_numpy(), "x_A": t["x_A"].to_numpy(), "y_A": t["y_A"].to_numpy(),
                        "content": t["content"].to_numpy(), "z": t["z"].to_numpy()})
    if "track" in t.columns:
        out["track"] = t["track"].to_numpy(int)
    out.insert(1, "id", out.groupby("frame").cumcount())
    return out.round(4)


def adatom_summary(adatoms: pd.DataFrame | None, n_frames: int) -> dict:
    """What ``summary.json`` says of the adatoms: how many readings, in how many frames, per frame,
    their median content, the file and the method.

    Parameters
    ----------
    adatoms : DataFrame or None
        :func:`adatom_table` (None: not searched).
    n_frames : int

    Returns
    -------
    dict
    """
    if adatoms is None:
        return {"searched": False}
    n = int(len(adatoms))
    return {"searched": True, "readings": n, "frames_with_adatoms": int(adatoms["frame"].nunique()) if n else 0,
            "per_frame": n / max(int(n_frames), 1),
            "content_median": float(adatoms["content"].median()) if n else None,
            "file": "adatoms.csv" if n else None,
            "method": f"hollow sites read like columns, above their median by {ADATOM_Z:g} robust standard "
                      "deviations (helpers.detect.adatoms); not point defects of the lattice"}
