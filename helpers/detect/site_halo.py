"""Which halo width the gain calibration needs: tested on the empty metal columns of the reading itself.

The gain of the Gaussian-core reading is calibrated against a second reading with a broad "halo"
term of width ``SiteParams.halo_A`` (:func:`helpers.detect.site_decode.calibrate_gain`). That second
reading is unbiased only when the halo term matches the probe's tail: a probe with a narrower tail
(measured: a 0.9 Å core with 8 % in a 3 Å tail) left the gain 3 % high and confused the contents one
atom apart. An empty metal column holds nothing, whatever the exponent or the chemistry, so its halo
reading must come out 0: :func:`halo_bias` measures it for several widths on the sites the reading
decoded as empty, and :func:`choose_halo` keeps the default unless the data reject it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.core.chemistry import METAL
from helpers.detect.areas import LATTICE
from helpers.detect.site_measure import measure_amplitude_sets

#: the most empty-metal readings measured (a random subset beyond this)
MAX_READINGS = 3000


def empty_metal_names(contents: dict) -> list:
    """The metal-site contents that hold no atom (content 0), e.g. ``Vw`` or ``Vac_Mo``.

    Parameters
    ----------
    contents : dict
        Sublattice → {content: reading}.

    Returns
    -------
    list of str
    """
    return [k for k, v in contents[METAL].items() if abs(v) < 1e-9]


def halo_bias(frames, sites: pd.DataFrame, contents: dict, lattice, radius_A: float, bins: int, halos_A,
              seed: int = 0) -> pd.DataFrame:
    """The halo reading of the sites decoded as empty metal columns, for each width in ``halos_A``.

    Each empty site is read on its own frame with the Gaussian cores plus a halo term of each width
    (:func:`helpers.detect.site_measure.measure_amplitude_sets`, the same fit as the reading's) and
    divided by the median of the same reading of the metal sites one lattice step around it: an
    unbiased reading gives 0.

    Parameters
    ----------
    frames : ndarray (n, H, W) or lazy stack
        The frames the reading read.
    sites : DataFrame
        The reading's sites (``frame``, ``kind``, ``row``, ``col``, ``class``, ``area``).
    contents : dict
        The reading's contents (which names are empty metal columns).
    lattice : ColumnLattice
        The reading's lattice.
    radius_A : float
        Fitting disc (Å).
    bins : int
        Sub-pixel bins of the filters.
    halos_A : sequence of float
        Halo widths σ (Å, > 0).
    seed : int
        Seed of the subset when there are more than :data:`MAX_READINGS` readings.

    Returns
    -------
    DataFrame
        One row per width: ``halo_A``, ``bias`` (mean reading of the empty columns, metal units),
        ``se`` (its standard error), ``n`` (readings).
    """
    halos = tuple(float(h) for h in halos_A)
    if not halos or min(halos) <= 0:
        raise ValueError(f"halo widths must be > 0, got {halos_A!r}")
    s = sites
    metal = s[(s["kind"] == METAL) & (s["area"] == LATTICE)] if "area" in s else s[s["kind"] == METAL]
    empty = metal[metal["class"].isin(empty_metal_names(contents))]
    if len(empty) > MAX_READINGS:
        empty = empty.sample(MAX_READINGS, random_state=seed)
    a = float(np.linalg.norm(lattice.vectors[0]))
    rows = []
    for t, e in empty.groupby("frame"):
        m = metal[metal["frame"] == t]
        pos_m = m[["row", "col"]].to_numpy(float)
        img = np.asarray(frames[int(t)], np.float64)
        pos_e = e[["row", "col"]].to_numpy(float)
        d = np.hypot(pos_e[:, None, 0] - pos_m[None, :, 0], pos_e[:, None, 1] - pos_m[None, :, 1])
        near = (d > 0.5 * a) & (d < 1.2 * a)  # the six metal neighbours
        use = np.flatnonzero(near.any(0))
        pos = np.concatenate([pos_e, pos_m[use]])
        amp = measure_amplitude_sets(img, np.array([METAL] * len(pos), object), pos, lattice, radius_A, bins, halos)
        amp_e, amp_n = amp[:len(pos_e)], amp[len(pos_e):]
        for k in range(len(pos_e)):
            nb = np.flatnonzero(near[k][use])
            if len(nb) >= 3:
                rows.append(amp_e[k] / np.median(amp_n[nb], axis=0))
    r = np.array(rows, float).reshape(-1, len(halos))
    n = len(r)
    return pd.DataFrame({"halo_A": halos, "bias": r.mean(0) if n else np.nan,
                         "se": r.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.inf, "n": n})


def choose_halo(bias: pd.DataFrame, default_A: float, tolerance: float, min_readings: int = 30) -> float:
    """The halo width to read with: the default unless its empty columns read off zero by more than
    ``tolerance`` (metal units) and by more than four standard errors; then the width whose
    empty columns read nearest zero.

    Parameters
    ----------
    bias : DataFrame
        From :func:`halo_bias` (must hold the default width).
    default_A : float
        The default width (Å).
    tolerance : float
        Largest bias of the default accepted (metal units, ≥ 0).
    min_readings : int
        Fewest empty-metal readings to test on.

    Returns
    -------
    float
        The width (Å).
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    row = bias[np.isclose(bias["halo_A"], default_A)]
    if row.empty:
        raise ValueError(f"the default width {default_A} Å is not among the tested {list(bias['halo_A'])}")
    if int(row["n"].iloc[0]) < min_readings:
        return float(default_A)
    b, se = float(row["bias"].iloc[0]), float(row["se"].iloc[0])
    if abs(b) <= max(tolerance, 4 * se):
        return float(default_A)
    return float(bias.loc[bias["bias"].abs().idxmin(), "halo_A"])
