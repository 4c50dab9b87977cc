"""Every lattice site read: column contents of both sublattices, their significance, and defects.

The detector of DefectFinder's default path. Instead of asking a network where the defects are,
every metal and chalcogen site of the lattice is measured, and a site is a defect when its column
content differs from the pristine content of its sublattice by more than the noise allows:

1. The lattice (vectors, which honeycomb site holds the chalcogen columns, column width) is fitted
   on the data (:func:`helpers.columns.fit_column_lattice`); in a movie on the registered sum of the
   first frames, and placed in every frame by its Fourier phases, with the drift from phase
   correlation choosing the lattice translate so a site keeps its indices (i, j) in every frame.
2. Every site whose fitting disc lies inside the frame is read by linear least squares: Gaussians
   of the fitted width on all lattice sites within ``radius_A`` plus a plane (precomputed filters,
   :mod:`helpers.columns`), so each column's amplitude is free of its neighbours'. The amplitude
   over the median of the nearest pristine-sublattice metal columns is the content in metal units.
3. The pristine content and spread of each sublattice are measured on the same frame (median and
   normalised median absolute deviation over all its sites: defects are a few per cent), giving a
   z-score per site. ``|z| ≥ z_threshold`` marks a defect candidate.
4. Candidates are classed by the content they hold (:func:`helpers.columns.expected_contents` with
   the HAADF exponent from the measured chalcogen/metal ratio): metal site empty (``Vw``), one
   chalcogen (``Sw``), a lighter metal (``Mo``); chalcogen site empty (``Vs2``), one chalcogen
   (``Vs``), a metal (``W2s2``), metal + chalcogen (``Ws``). A candidate that reads as pristine,
   or whose content fits no class within the noise, is ``unknown`` (reported in ``sites``, not as a
   defect).

Sites whose fitting disc or whose classifier window (9.6 Å, half of the library's 64 × 0.3 Å)
would leave the frame are not read (``edge_margin_A``): they never enter counts or tracks.

Positions are (row, col) px with pixel centres at integer coordinates; lengths in Å.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .columns import (CHALCOGEN, METAL, ColumnLattice, _filters, expected_contents, fit_column_lattice,
                      lattice_origin)
from .validation import check_image, check_pixel_size
from .windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX

#: the single chalcogen vacancy (one atom of a chalcogen column missing)
VS = "Vs"
PRISTINE = {METAL: "W", CHALCOGEN: "S2"}
#: class names of a reading (WS2's poster names; the single S vacancy as ``Vs``)
CONTENT_CLASSES = {METAL: ("Vw", "Sw", "Mo"), CHALCOGEN: ("Vs2", VS, "W2s2", "Ws")}
DEFECT_CLASSES = CONTENT_CLASSES[METAL] + CONTENT_CLASSES[CHALCOGEN]
UNKNOWN = "unknown"
#: default margin (Å) from the frame edge inside which no site is read: the classifier window's half
EDGE_MARGIN_A = WINDOW_PX * LIBRARY_PIXEL_SIZE_A / 2
SITE_COLUMNS = ["frame", "kind", "i", "j", "row", "col", "x_A", "y_A", "amplitude", "ratio", "content",
                "z", "significant", "class", "probability"]


def enumerate_sites(shape, origin_rc, lattice: ColumnLattice, margin_px: float):
    """All metal and chalcogen sites at least ``margin_px`` inside a frame of ``shape``.

    Returns (kinds (n,) object, positions (n, 2) row/col px, indices (n, 2) int: the lattice
    coordinates (i, j) of the site relative to the metal site at ``origin_rc``).
    """
    h, w = shape
    A = lattice.vectors
    o = np.asarray(origin_rc, float)
    corners = np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]], float) - o
    f = np.linalg.solve(A.T, corners.T).T
    lo, hi = np.floor(f.min(0)) - 2, np.ceil(f.max(0)) + 2
    i, j = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
    ij = np.stack([i.ravel(), j.ravel()], 1)
    kinds, pos, idx = [], [], []
    for kind, off in ((METAL, np.zeros(2)), (CHALCOGEN, np.asarray(lattice.chalcogen_frac, float))):
        p = o + (ij + off) @ A
        keep = ((p[:, 0] >= margin_px) & (p[:, 0] <= h - 1 - margin_px)
                & (p[:, 1] >= margin_px) & (p[:, 1] <= w - 1 - margin_px))
        kinds += [kind] * int(keep.sum())
        pos.append(p[keep])
        idx.append(ij[keep])
    return np.array(kinds, object), np.concatenate(pos), np.concatenate(idx).astype(int)


def measure_amplitudes(image, kinds, positions, lattice: ColumnLattice, radius_A: float = 5.0,
                       bins: int = 4) -> np.ndarray:
    """Least-squares column amplitude (image units) of each site, all sites of one kind and sub-pixel
    bin at once. Every site's fitting disc must lie inside the image (see :func:`enumerate_sites`)."""
    img = np.asarray(image, np.float64)
    filt, R = _filters(tuple(map(tuple, lattice.vectors)), tuple(lattice.chalcogen_frac),
                       float(lattice.sigma_px), float(lattice.pixel_size_A), float(radius_A), bins, False)
    p = np.asarray(positions, float).reshape(-1, 2)
    kinds = np.asarray(kinds, object)
    anchor = np.floor(p).astype(int)
    if len(p) and (anchor.min() - R < 0 or anchor[:, 0].max() + R + 1 >= img.shape[0]
                   or anchor[:, 1].max() + R + 1 >= img.shape[1]):
        raise ValueError("a site's fitting disc leaves the image: read it with a larger margin")
    b = np.minimum(((p - anchor) * bins).astype(int), bins - 1)
    yy, xx = np.mgrid[-R:R + 2, -R:R + 2]
    out = np.full(len(p), np.nan)
    for kind in (METAL, CHALCOGEN):
        for by in range(bins):
            for bx in range(bins):
                sel = np.flatnonzero((kinds == kind) & (b[:, 0] == by) & (b[:, 1] == bx))
                if not len(sel):
                    continue
                rows, disc = filt[(kind, by, bx)]
                dy, dx = yy[disc], xx[disc]
                for s in range(0, len(sel), 4096):  # bounded memory: 4,096 patches at a time
                    part = sel[s:s + 4096]
                    patches = img[anchor[part, 0, None] + dy[None], anchor[part, 1, None] + dx[None]]
                    out[part] = patches @ rows["centre"]
    return out


def metal_reference(positions, kinds, amplitudes, k: int = 12) -> np.ndarray:
    """Per site: the median amplitude of its ``k`` nearest metal sites (itself excluded) — the local
    pristine metal column, robust to a defect or two among them and to slow intensity changes."""
    from scipy.spatial import cKDTree

    p = np.asarray(positions, float)
    metal = np.flatnonzero(np.asarray(kinds, object) == METAL)
    if len(metal) < 3:
        return np.full(len(p), np.nanmedian(amplitudes[metal]) if len(metal) else np.nan)
    kk = min(k + 1, len(metal))
    _, nn = cKDTree(p[metal]).query(p, k=kk)
    a = np.asarray(amplitudes, float)[metal][nn]  # (n, kk)
    own = metal[nn] == np.arange(len(p))[:, None]
    a = np.where(own, np.nan, a)
    return np.nanmedian(a, axis=1)


def robust_z(values, groups) -> tuple[np.ndarray, dict]:
    """z-score of each value against its group's median and normalised MAD (1.4826 · MAD): the
    pristine level and spread, measured on the data (defects are few). Returns (z, {group: (centre,
    spread)})."""
    v = np.asarray(values, float)
    g = np.asarray(groups, object)
    z = np.full(len(v), np.nan)
    stats = {}
    for key in pd.unique(g):
        sel = (g == key) & np.isfinite(v)
        if sel.sum() < 5:
            continue
        c = float(np.median(v[sel]))
        s = float(1.4826 * np.median(np.abs(v[sel] - c)))
        s = s if s > 0 else float(np.std(v[sel]) or 1.0)
        z[sel] = (v[sel] - c) / s
        stats[key] = (c, s)
    return z, stats


def class_contents(metal_ratio: float, chalcogen_ratio: float, metal: str = "W") -> dict:
    """Expected content (in pristine-metal units) of every class on each sublattice, from the
    measured pristine chalcogen/metal ratio (HAADF ∝ Z^n; n from that ratio)."""
    exp = expected_contents(chalcogen_ratio / metal_ratio)
    m = {"Vw": exp[METAL]["Vw"], "Sw": exp[METAL]["Sw"], "Mo": exp[METAL]["Mo"], PRISTINE[METAL]: 1.0}
    c = {"Vs2": 0.0, VS: exp[CHALCOGEN]["Vs"], PRISTINE[CHALCOGEN]: exp[CHALCOGEN]["S2"],
         "W2s2": exp[CHALCOGEN]["W2s2"], "Ws": exp[CHALCOGEN]["Ws"]}
    return {METAL: {k: v * metal_ratio for k, v in m.items()},
            CHALCOGEN: {k: v * metal_ratio for k, v in c.items()}}


def classify_contents(ratio, kinds, spread: dict, contents: dict, max_z: float = 4.0):
    """Nearest content (in units of its sublattice's spread) of each site, and a probability from
    Gaussian likelihoods of equal prior over the non-pristine contents and the pristine one.
    Returns (class (n,) object, probability (n,)); a ratio more than ``max_z`` spreads from every
    content is ``unknown``."""
    ratio = np.asarray(ratio, float)
    kinds = np.asarray(kinds, object)
    cls = np.full(len(ratio), UNKNOWN, object)
    prob = np.full(len(ratio), np.nan)
    for kind, table in contents.items():
        sel = np.flatnonzero(kinds == kind)
        if not len(sel) or kind not in spread:
            continue
        names = list(table)
        mu = np.array([table[k] for k in names])
        d = (ratio[sel, None] - mu[None]) / spread[kind]
        like = np.exp(-0.5 * d ** 2)
        post = like / np.maximum(like.sum(1, keepdims=True), 1e-300)
        best = np.argmin(np.abs(d), 1)
        c = np.array(names, object)[best]
        c[np.abs(d[np.arange(len(sel)), best]) > max_z] = UNKNOWN
        cls[sel] = c
        prob[sel] = post[np.arange(len(sel)), best]
    return cls, prob


@dataclass
class SiteParams:
    """Settings of the site reading (lengths in Å)."""

    radius_A: float = 5.0  # fitting disc of each site
    z_threshold: float = 5.0  # |z| at which a site is a defect candidate
    edge_margin_A: float = EDGE_MARGIN_A
    sum_half_window: int = 2  # movies: each frame read on its registered sum with ±this many
    reference_neighbours: int = 12
    bins: int = 4

    def margin_px(self, pixel_size_A: float) -> float:
        return max(self.edge_margin_A, self.radius_A) / pixel_size_A + 2


def read_frame_sites(image, pixel_size_A: float, lattice: ColumnLattice, origin_rc=None,
                     p: SiteParams | None = None) -> pd.DataFrame:
    """Every site of one image read: kind, lattice indices, position, amplitude, ratio to the local
    metal column (``ratio``), z-score against its sublattice (``z``). Classes are set by
    :func:`classify_sites`."""
    p = p or SiteParams()
    img = check_image(image, "image", min_shape=(16, 16)).astype(np.float64)
    ps = check_pixel_size(pixel_size_A)
    o = lattice_origin(img, lattice) if origin_rc is None else np.asarray(origin_rc, float)
    kinds, pos, ij = enumerate_sites(img.shape, o, lattice, p.margin_px(ps))
    amp = measure_amplitudes(img, kinds, pos, lattice, p.radius_A, p.bins)
    ref = metal_reference(pos, kinds, amp, p.reference_neighbours)
    ratio = amp / ref
    z, _ = robust_z(ratio, kinds)
    return pd.DataFrame({"kind": kinds, "i": ij[:, 0], "j": ij[:, 1], "row": pos[:, 0], "col": pos[:, 1],
                         "x_A": pos[:, 1] * ps, "y_A": pos[:, 0] * ps, "amplitude": amp, "ratio": ratio,
                         "z": z})


def classify_sites(sites: pd.DataFrame, p: SiteParams | None = None) -> pd.DataFrame:
    """Add ``significant``, ``class`` and ``probability`` to a site table (one frame or many).

    The pristine level and spread of each sublattice come from all its sites in the table; a
    significant site (|z| ≥ ``p.z_threshold``) gets the content class nearest to its ratio, and
    ``unknown`` where that is the pristine content or no content fits within four spreads.
    """
    p = p or SiteParams()
    out = sites.copy()
    _, stats = robust_z(out["ratio"], out["kind"])
    if METAL not in stats or CHALCOGEN not in stats:
        out["significant"], out["class"], out["probability"] = False, UNKNOWN, np.nan
        return out
    contents = class_contents(stats[METAL][0], stats[CHALCOGEN][0])
    spread = {k: s for k, (_, s) in stats.items()}
    cls, prob = classify_contents(out["ratio"].to_numpy(), out["kind"].to_numpy(), spread, contents)
    sig = np.abs(out["z"].to_numpy()) >= p.z_threshold
    cls = np.where(sig, cls, np.array([PRISTINE[k] for k in out["kind"]], object))
    cls = np.where(sig & np.isin(cls, list(PRISTINE.values())), UNKNOWN, cls)
    out["significant"], out["class"], out["probability"] = sig, cls, np.where(sig, prob, np.nan)
    out.attrs["contents"] = contents
    out.attrs["spread"] = spread
    return out


def defects_of(sites: pd.DataFrame) -> pd.DataFrame:
    """The defects of a classified site table: significant sites with a defect class."""
    return sites[sites["significant"] & sites["class"].isin(DEFECT_CLASSES)]


# ------------------------------------------------------------------------------------------------
# movies and single images: every site's content through time


def _log_gauss(x, mu, sd):
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd)


def site_posteriors(obs: np.ndarray, means: np.ndarray, sd, stay: float, prior_defect: float,
                    pristine: int = 0) -> np.ndarray:
    """Posterior probability of each content state of each site in each frame (hidden Markov model).

    ``obs`` (n_sites, n_frames): the site's reading per frame (NaN where it was not read);
    ``means`` (K,): the reading each content gives; ``sd``: the reading noise of one frame (one
    value, or one per content: shot noise grows with the content). A site
    keeps its content from one frame to the next with probability ``stay`` and changes to any other
    with equal share of 1 − ``stay`` (a defect appears, hops in or out, changes content); the first
    frame is pristine with probability 1 − ``prior_defect``. Forward–backward in log space, all
    sites at once. With one frame this is Bayes' rule with that prior.
    """
    x = np.asarray(obs, float)
    n, T = x.shape
    K = len(means)
    logT = np.full((K, K), np.log((1 - stay) / (K - 1)))
    np.fill_diagonal(logT, np.log(stay))
    prior = np.full(K, np.log(prior_defect / (K - 1)))
    prior[pristine] = np.log(1 - prior_defect)
    sd = np.broadcast_to(np.asarray(sd, float), (K,))
    le = _log_gauss(x[:, :, None], np.asarray(means)[None, None], sd[None, None])  # (n, T, K)
    le = np.where(np.isfinite(x)[:, :, None], le, 0.0)
    from scipy.special import logsumexp

    fwd = np.empty((n, T, K))
    fwd[:, 0] = prior[None] + le[:, 0]
    for t in range(1, T):
        fwd[:, t] = logsumexp(fwd[:, t - 1, :, None] + logT[None], axis=1) + le[:, t]
    bwd = np.zeros((n, T, K))
    for t in range(T - 2, -1, -1):
        bwd[:, t] = logsumexp(logT[None] + (le[:, t + 1] + bwd[:, t + 1])[:, None, :], axis=2)
    post = fwd + bwd
    post -= logsumexp(post, axis=2, keepdims=True)
    return np.exp(post)


@dataclass
class SiteReading:
    """Every site of every frame read (``sites``), the lattice, and what the reading measured."""

    sites: pd.DataFrame
    lattice: ColumnLattice
    contents: dict  # sublattice → {class: reading in metal units}
    noise: dict  # sublattice → reading noise of one frame (metal units)
    gain: float
    shifts: np.ndarray
    seconds: dict

    @property
    def defects(self) -> pd.DataFrame:
        return defects_of(self.sites)


def frame_origins(frames, lattice: ColumnLattice, shifts) -> np.ndarray:
    """Per frame, the metal site that is the same lattice site as frame 0's origin (row, col px):
    the Fourier phases place the lattice in each frame, the drift picks the translate."""
    A = lattice.vectors
    o0 = lattice_origin(np.asarray(frames[0], np.float64), lattice)
    out = np.empty((len(frames), 2))
    for t in range(len(frames)):
        o = lattice_origin(np.asarray(frames[t], np.float64), lattice) if t else o0
        f = np.linalg.solve(A.T, o - (o0 + np.asarray(shifts[t], float)))
        out[t] = o - np.round(f) @ A
    return out


def read_sites(frames, pixel_size_A: float, lattice_a_A: float = 3.18, p: SiteParams | None = None,
               shifts=None, lattice: ColumnLattice | None = None, progress: bool = False) -> SiteReading:
    """Read every lattice site of an image or a movie and find the defects among them.

    ``frames``: (H, W) or (n, H, W) in counts (or any linear intensity). The lattice is fitted on
    the registered sum of the first 2·``p.sum_half_window`` + 1 frames unless given; each frame is
    read on its own (independent noise); each site's contents through the movie come from
    :func:`site_posteriors`, so a defect seen for many frames is found at a dose at which one frame
    could not show it. Returns a :class:`SiteReading` whose ``sites`` has one row per site and frame
    (columns :data:`SITE_COLUMNS`).
    """
    import time

    from tqdm.auto import tqdm

    from .movie_analysis import frame_shifts, registered_sum

    p = p or SiteParams()
    ps = check_pixel_size(pixel_size_A)
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"frames must be an image or a stack, got shape {arr.shape}")
    check_image(arr[0], "frame", min_shape=(16, 16))
    t0 = time.perf_counter()
    n = len(arr)
    if shifts is None:
        shifts = frame_shifts(arr) if n > 1 else np.zeros((1, 2))
    if lattice is None:
        first = registered_sum(arr, shifts, 0, p.sum_half_window)[0] if n > 1 else arr[0]
        lattice = fit_column_lattice(first, ps, lattice_a_A)
    t_lat = time.perf_counter() - t0
    t0 = time.perf_counter()
    origins = frame_origins(arr, lattice, shifts)
    parts = []
    for t in tqdm(range(n), desc="reading sites", disable=not progress):
        img = arr[t].astype(np.float64)
        kinds, pos, ij = enumerate_sites(img.shape, origins[t], lattice, p.margin_px(ps))
        amp = measure_amplitudes(img, kinds, pos, lattice, p.radius_A, p.bins)
        ref = metal_reference(pos, kinds, amp, p.reference_neighbours)
        parts.append(pd.DataFrame({"frame": t, "kind": kinds, "i": ij[:, 0], "j": ij[:, 1],
                                   "row": pos[:, 0], "col": pos[:, 1], "amplitude": amp,
                                   "ratio": amp / ref}))
    sites = pd.concat(parts, ignore_index=True)
    sites["x_A"], sites["y_A"] = sites["col"] * ps, sites["row"] * ps
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    sites, contents, noise, gain = _decode(sites, p)
    seconds = {"lattice": t_lat, "read": t_read, "decode": time.perf_counter() - t0}
    seconds["total"] = sum(seconds.values())
    return SiteReading(sites[SITE_COLUMNS + ["posterior_defect"]], lattice, contents, noise, gain,
                       np.asarray(shifts, float), seconds)


#: a site keeps its content from one frame to the next with this probability (prior of the model)
STAY_PROBABILITY = 0.98
#: prior probability that a site holds a defect in the first frame (or in a single image)
PRIOR_DEFECT = 0.01
#: a site is reported as a defect when the posterior probability of its pristine content is below
#: this
PRISTINE_BELOW = 0.01


def _decode(sites: pd.DataFrame, p: SiteParams, iterations: int = 3):
    """Content of every site in every frame: per sublattice, the pristine reading and noise from
    the frame's own sites (median, normalised MAD), then :func:`site_posteriors` over each site's
    frames; the gain with which a changed content shows in the reading (a probe tail the Gaussian
    model lacks takes part of the change) is refitted from the decoded defects."""
    s = sites.copy()
    # per frame and sublattice: pristine level and spread of one reading
    grp = s.groupby(["frame", "kind"])["ratio"]
    centre = grp.transform("median")
    spread = (s["ratio"] - centre).abs().groupby([s["frame"], s["kind"]]).transform("median") * 1.4826
    s["z"] = (s["ratio"] - centre) / spread
    metal_c = float(np.median(centre[s["kind"] == METAL]))
    chal_c = float(np.median(centre[s["kind"] == CHALCOGEN])) if (s["kind"] == CHALCOGEN).any() else np.nan
    noise = {k: float(np.median(spread[s["kind"] == k])) for k in (METAL, CHALCOGEN) if (s["kind"] == k).any()}
    # readings relative to the frame's pristine level (drifting gain and background cancel)
    rel = (s["ratio"] - centre + np.where(s["kind"] == METAL, metal_c, chal_c)).to_numpy()
    if not np.isfinite(chal_c) or chal_c <= 0 or metal_c <= 0 or chal_c >= 2 * metal_c:
        raise ValueError(f"pristine chalcogen/metal reading {chal_c:.3f}/{metal_c:.3f} is not that of a "
                         "transition-metal dichalcogenide: check the pixel size and the material")
    contents = class_contents(metal_c, chal_c)
    # shot noise: the variance of a reading grows linearly with the content it holds; the two
    # pristine contents (metal, chalcogen) and their measured noise fix the line
    if CHALCOGEN in noise and noise[METAL] > noise[CHALCOGEN]:
        slope = (noise[METAL] ** 2 - noise[CHALCOGEN] ** 2) / (metal_c - chal_c)
        floor = noise[CHALCOGEN] ** 2 - slope * chal_c
    else:
        slope, floor = 0.0, max(noise.values()) ** 2

    def noise_of(content):
        return np.sqrt(np.maximum(floor + slope * np.maximum(content, 0.0), 0.25 * floor))

    gain = 1.0
    key = s["kind"].astype(str) + ":" + s["i"].astype(str) + ":" + s["j"].astype(str)
    codes, uniq = pd.factorize(key)
    frames = s["frame"].to_numpy()
    T = int(frames.max()) + 1
    cls = np.empty(len(s), object)
    post_best = np.zeros(len(s))
    post_def = np.zeros(len(s))
    for _ in range(iterations):
        fit_x, fit_d = [], []
        for kind in (METAL, CHALCOGEN):
            sel = np.flatnonzero(s["kind"].to_numpy() == kind)
            if not len(sel):
                continue
            names = [PRISTINE[kind]] + [c for c in contents[kind] if c != PRISTINE[kind]]
            cp = contents[kind][PRISTINE[kind]]
            means = np.array([cp + gain * (contents[kind][c] - cp) for c in names])
            sc, inv = np.unique(codes[sel], return_inverse=True)
            obs = np.full((len(sc), T), np.nan)
            obs[inv, frames[sel]] = rel[sel]
            post = site_posteriors(obs, means, noise_of(means), STAY_PROBABILITY, PRIOR_DEFECT)
            pr = post[inv, frames[sel]]  # (len(sel), K)
            best = pr[:, 1:].argmax(1) + 1
            is_def = pr[:, 0] < PRISTINE_BELOW
            cls[sel] = np.where(is_def, np.array(names, object)[best], names[0])
            post_best[sel] = np.where(is_def, pr[np.arange(len(sel)), best], pr[:, 0])
            post_def[sel] = 1 - pr[:, 0]
            d = np.array([contents[kind][c] - cp for c in names])[best]
            fit_x.append((rel[sel] - cp)[is_def])
            fit_d.append(d[is_def])
        x, d = np.concatenate(fit_x), np.concatenate(fit_d)
        if len(x) < 20:
            break
        gain = float(np.clip((x * d).sum() / (d * d).sum(), 0.8, 1.25))
    s["content"] = rel
    s["significant"] = np.isin(cls, DEFECT_CLASSES)
    s["class"] = cls
    s["probability"] = post_best
    s["posterior_defect"] = post_def
    return s, contents, noise, gain


def defect_table(reading: SiteReading) -> pd.DataFrame:
    """The defects of a reading in the command's table layout: frame, id (per frame), x/y in px and
    Å (the site's fitted lattice position), class, probability (posterior of that content), site
    (metal / chalcogen), i, j (lattice indices, the same site in every frame), content (metal units),
    z (one frame's reading against its sublattice)."""
    d = reading.defects
    out = pd.DataFrame({"frame": d["frame"].to_numpy(), "x_px": d["col"].to_numpy(),
                        "y_px": d["row"].to_numpy(), "x_A": d["x_A"].to_numpy(), "y_A": d["y_A"].to_numpy(),
                        "class": d["class"].to_numpy(), "probability": d["probability"].to_numpy(),
                        "site": d["kind"].to_numpy(), "i": d["i"].to_numpy(), "j": d["j"].to_numpy(),
                        "content": d["content"].to_numpy(), "z": d["z"].to_numpy()})
    out = out.sort_values(["frame", "y_px", "x_px"], kind="stable").reset_index(drop=True)
    out.insert(1, "id", out.groupby("frame").cumcount())
    return out


def site_table(reading: SiteReading) -> pd.DataFrame:
    """Every site of every frame (``sites.csv``): positions as x/y px and Å, the reading, its z-score,
    the decoded content class (``W``/``S2`` for pristine sites) and its posterior probability."""
    s = reading.sites
    return pd.DataFrame({"frame": s["frame"], "site": s["kind"], "i": s["i"], "j": s["j"],
                         "x_px": s["col"], "y_px": s["row"], "x_A": s["x_A"], "y_A": s["y_A"],
                         "amplitude": s["amplitude"], "content": s["content"], "z": s["z"],
                         "class": s["class"], "probability": s["probability"],
                         "defect": s["significant"]})
