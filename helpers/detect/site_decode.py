"""From site amplitudes to contents: gain calibration, cross-talk removal and the decoding of every site."""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.core.chemistry import CHALCOGEN, CHALCOGENS, METAL, Chemistry, plausible_exponent
from helpers.detect.areas import LATTICE, NO_LATTICE
from helpers.detect.column_model import ColumnLattice
from helpers.detect.dopant_levels import fit_dopant_levels, named_dopant_contents, named_dopant_split
from helpers.detect.site_model import (APPEAR_PER_FRAME, CHANGE_PER_FRAME, LEAVE_PER_FRAME, MASKED, PRIOR_DEFECT,
                                       WS2, SiteParams, class_contents, content_shares, fit_transitions,
                                       first_frame_prior, site_posteriors, transition_matrix)
from helpers.detect.site_alloy import alloy_readings
from helpers.detect.site_crosstalk import neighbour_offsets, neighbour_sums, remove_crosstalk
from helpers.detect.site_levels import apply_ladder, ladder_prior, relative_readings
from helpers.detect.site_measure import local_noise_scale
from helpers.detect.site_noise import log_emission, reading_noise, reading_sd
from helpers.detect.site_walks import ring_sites, walk_transitions, walker_on_centre


#: contents that differ from the pristine one of their sublattice by at least this share of the
#: pristine metal column: the sites that calibrate the gain
STRONG_CHANGE = 0.3


def strong_changes(contents: dict) -> dict:
    """{content: its change from the pristine content of its sublattice} for the contents whose
    change is at least :data:`STRONG_CHANGE` of the metal column (WS2: Vw, Sw, Mo, W2s2, Ws).

    Parameters
    ----------
    contents : dict
        Sublattice → {content: reading}.

    Returns
    -------
    dict
    """
    metal = _pristine_level(contents, METAL)
    return {c: v - _pristine_level(contents, k) for k in contents for c, v in contents[k].items()
            if abs(v - _pristine_level(contents, k)) >= STRONG_CHANGE * metal}


def _pristine_name(contents: dict, kind: str) -> str:
    return next(iter(contents[kind]))


def _pristine_level(contents: dict, kind: str) -> float:
    return contents[kind][_pristine_name(contents, kind)]


#: prior standard deviation of the gain around 1 (:func:`calibrate_gain`): five real images with
#: ≥ 12 strong sites each gave 0.75–1.28 (standard errors 0.06–0.08), the simulated movies 0.98–1.05
GAIN_PRIOR_SD = 0.2


def gain_estimate(reading, unbiased, kinds, classes, levels: dict, contents: dict) -> tuple:
    """The ratio behind :func:`calibrate_gain`: (gain, standard error, sites); (nan, inf, n) without one.

    Parameters
    ----------
    reading, unbiased : ndarray (n,)
        Core-only and halo-term readings of the sites.
    kinds, classes : ndarray (n,)
        Sublattice and decoded content of each site.
    levels : dict
        Pristine reading per sublattice.
    contents : dict
        Expected readings.

    Returns
    -------
    tuple of (float, float, int)
    """
    base = np.array([levels[k] for k in kinds])
    strong = strong_changes(contents)
    cls = np.asarray(classes, object)
    sel = np.isin(cls, list(strong))
    sign = np.sign(pd.Series(cls[sel]).map(strong).to_numpy(float))
    a = (np.asarray(reading) - base)[sel] * sign
    b = (np.asarray(unbiased) - base)[sel] * sign
    den = b.sum()
    if not sel.any() or den <= 0:
        return float("nan"), float("inf"), int(sel.sum())
    g = a.sum() / den
    return float(g), float(np.sqrt(((a - g * b) ** 2).sum()) / den), int(sel.sum())


def calibrate_gain(reading, unbiased, kinds, classes, levels: dict, contents: dict, min_sites: int = 3,
                   prior_sd: float = GAIN_PRIOR_SD) -> float:
    """The factor by which a content change shows in the Gaussian-core reading: the summed change of
    the sites decoded as strong defects (:func:`strong_changes`) in that reading over the same in
    the halo-term reading (unbiased, noisier), each signed as its content's change. Sums, not a
    regression on the noisy reading, so the noise neither selects nor attenuates.

    The ratio is shrunk towards 1 by its standard error (:func:`gain_estimate`) against a prior of
    ``prior_sd``: a movie's thousands of defect readings keep their own ratio (standard error
    ≈ 0.002), while a single frame's handful of strong sites leaves it uncertain (a real WS2 frame:
    five sites beside contamination, 1.49 ± 0.31, which put every level 40 % too far from the
    pristine one). 1 when fewer than ``min_sites`` such sites exist.

    Parameters
    ----------
    reading, unbiased, kinds, classes, levels, contents
        As :func:`gain_estimate`.
    min_sites : int
        Fewest strong defects to calibrate on.
    prior_sd : float
        Prior standard deviation of the gain around 1 (> 0).

    Returns
    -------
    float
        The gain (1 when too few sites), within 0.7–1.4.
    """
    if not prior_sd > 0:
        raise ValueError(f"prior_sd must be > 0, got {prior_sd!r}")
    g, se, n = gain_estimate(reading, unbiased, kinds, classes, levels, contents)
    if n < min_sites or not np.isfinite(g):
        return 1.0
    w = prior_sd ** 2 / (prior_sd ** 2 + se ** 2)
    return float(np.clip(1.0 + w * (g - 1.0), 0.7, 1.4))


#: the probability that a defect arrives on a site in a frame in which one of its neighbours (same
#: sublattice, one lattice step away) lost its defect: the share of departures that are hops
HOP_ARRIVAL = 0.3


def _hop_arrivals(s: pd.DataFrame, kinds, post_def, offsets: dict) -> np.ndarray:
    """Per site and frame, the probability that a defect arrives: :data:`APPEAR_PER_FRAME`, plus
    :data:`HOP_ARRIVAL` times the probability that a neighbour of the same sublattice lost its defect
    between the frame before and the frame after (a hop goes to one of six neighbours: the
    neighbour's loss is shared among them, so a sixth of it counts)."""
    f, i, j = s["frame"].to_numpy(), s["i"].to_numpy(), s["j"].to_numpy()
    before = neighbour_sums(f, kinds, i, j, post_def, offsets, frame_offset=-1)["same"]
    after = neighbour_sums(f, kinds, i, j, post_def, offsets, frame_offset=1)["same"]
    left = np.clip(before - after, 0.0, 6.0) / 6.0
    return np.clip(APPEAR_PER_FRAME + HOP_ARRIVAL * left, APPEAR_PER_FRAME, 0.5)


#: a defect content closer to the pristine one than this many noise widths of one frame is also
#: followed as it walks over its sublattice (:mod:`helpers.detect.site_walks`): its own site's
#: history cannot show a short stay (WS2: the single S vacancy, 1.4 per frame at 10⁴ e/Å²)
WALK_BELOW_D_PRIME = 2.0


def _walks(s, kinds, codes, frames, rel, lattice_area, cls, contents, gain, noise_of, rates, offsets, T):
    """Rows that the walk model (:func:`helpers.detect.site_walks.walker_on_centre`) finds holding a weak
    content where the site's own history decoded the pristine one: yields (rows, content, probability).
    The first frame holds a walker on a site as often as each site's own history assumes
    (:func:`first_frame_prior`: not the rings' steady state, which put persistent weak deficits of
    ten still multislice frames at half dose on the map). The walker appears as the prior shares arrivals among the contents, and leaves its site to the
    pristine content as often as the movie's refitted rates say (each such departure may be a hop:
    the neighbours' readings decide); it changes into other contents at their rates. Sites decoded
    as another defect content hold no walker."""
    for kind in (METAL, CHALCOGEN):
        names = list(contents[kind])
        cp = contents[kind][names[0]]
        means = np.array([cp + gain * (contents[kind][c] - cp) for c in names])
        sd = noise_of(means)
        trans = rates.get(kind)
        weak = [k for k in range(1, len(names)) if abs(means[k] - means[0]) < WALK_BELOW_D_PRIME * sd[0]]
        if trans is None or not weak:
            continue
        sel = np.flatnonzero(kinds == kind)
        sc, first, inv = np.unique(codes[sel], return_index=True, return_inverse=True)
        obs = np.full((len(sc), T), np.nan)
        obs[inv, frames[sel]] = np.where(lattice_area[sel], rel[sel], np.nan)
        decoded = np.full((len(sc), T), -1, np.int16)
        decoded[inv, frames[sel]] = pd.Index(names).get_indexer(cls[sel])
        ring = ring_sites(s["i"].to_numpy()[sel][first], s["j"].to_numpy()[sel][first], offsets[(kind, "same")])
        prior = transition_matrix(len(names), APPEAR_PER_FRAME, LEAVE_PER_FRAME, CHANGE_PER_FRAME)
        first = first_frame_prior(len(names), PRIOR_DEFECT)  # as each site's own history starts
        le = log_emission(obs, means, sd)  # (sites × frames, K)
        for k in weak:
            appear = APPEAR_PER_FRAME * prior[0, k] / prior[0, 1:].sum()
            hop, change = trans[k, 0], 1.0 - trans[k, k] - trans[k, 0]
            log_lr = np.where(np.isfinite(obs), (le[:, k] - le[:, 0]).reshape(obs.shape), 0.0)
            log_lr[(decoded > 0) & (decoded != k)] = -30.0  # another defect holds the site
            on = walker_on_centre(log_lr, ring, walk_transitions(offsets[(kind, "same")], appear, change, hop),
                                  first[k])
            hit = (on[inv, frames[sel]] > 0.5) & (decoded[inv, frames[sel]] == 0) & lattice_area[sel]
            if hit.any():
                yield sel[hit], names[k], on[inv, frames[sel]][hit]


def _decode(sites: pd.DataFrame, p: SiteParams, lattice: ColumnLattice, chemistry: Chemistry = WS2):
    """Content of every site in every frame: the pristine level and noise of each sublattice from
    each frame's own sites, the gain from :func:`calibrate_gain`, then :func:`site_posteriors` over
    each site's frames. ``sites`` gains the decoded columns in place (no copy of a long table).
    Returns (sites, contents, noise, gain, HAADF exponent used, warnings)."""
    s = sites  # no metal reference (a blank part of a frame the area map missed): masked, no NaN
    s.loc[~(np.isfinite(s["ratio"].to_numpy()) & np.isfinite(s["ratio_halo"].to_numpy())), "area"] = np.uint8(NO_LATTICE)
    lattice_area = s["area"].to_numpy() == LATTICE
    follow = any(d in CHALCOGENS for d in chemistry.dopants)  # the chalcogens may convert in a movie
    alloy, ratio = alloy_readings(s, chemistry, lattice_area)  # two metals in comparable numbers
    if alloy is not None:  # read against the chalcogen columns (no halo term: the gain stays 1)
        s["ratio"] = s["ratio_halo"] = ratio.astype(np.float32)
    rel, spread, levels = relative_readings(s, "ratio", lattice_area, follow)
    rel_h, _, _ = relative_readings(s, "ratio_halo", lattice_area, follow)
    if alloy is not None:  # the host rung, not the median column (in a movie the median of two
        # metals in comparable numbers jumps between them from frame to frame: the readings, taken
        # against each frame's own chalcogen columns, need no frame level), and the noise of one level
        metal_rows = s["kind"].to_numpy() == METAL
        rel = np.where(metal_rows, ratio, rel)
        rel_h = np.where(metal_rows, ratio, rel_h)
        levels[METAL] = 1.0
        spread = np.where(metal_rows, spread * alloy.rel_sd / np.median(spread[metal_rows & lattice_area]), spread)
    ladder, spread, rel = apply_ladder(rel, spread, levels, s["kind"].to_numpy(), lattice_area, chemistry,
                                       s["frame"].to_numpy())  # a substituted sheet
    kinds, frames, dev = s["kind"].to_numpy(), s["frame"].to_numpy(), rel - s["kind"].map(levels).to_numpy(float)
    T = int(frames.max()) + 1
    # a single image: each site's noise from the sites around it (a movie keeps its frame's noise)
    scale = local_noise_scale(s[["row", "col"]].to_numpy(float), kinds, dev, lattice_area,
                              p.local_noise_A / lattice.pixel_size_A) if T == 1 and p.local_noise_A > 0 else None
    s["z"] = dev / (spread if scale is None else spread * scale)
    metal_c, chal_c = levels.get(METAL, np.nan), levels.get(CHALCOGEN, np.nan)
    noise = {k: float(np.median(spread[(kinds == k) & lattice_area] if np.any((kinds == k) & lattice_area)
                                else spread[kinds == k])) for k in levels}
    if not np.isfinite(chal_c) or not 0 < chal_c < 4 * metal_c or noise[METAL] > 0.5 * metal_c:
        raise ValueError(f"pristine chalcogen/metal reading {chal_c:.3f}/{metal_c:.3f} at a noise of "
                         f"{noise[METAL]:.3f} is not that of a transition-metal dichalcogenide lattice: "
                         "check the pixel size and the material (metal columns of two elements in comparable "
                         "numbers, an alloy such as Mo0.5W0.5S2, are read only with the second metal among the "
                         "dopants, e.g. --material MoS2 --dopants W)")
    exponent, warning = plausible_exponent(chemistry, chal_c / metal_c)
    notes = [w for w in (warning, alloy and alloy.note(chemistry), ladder and ladder.note(chemistry)) if w]
    atoms = {**({ladder.substituent: ladder.substituent_atom} if ladder else {}),
             **({alloy.element: alloy.level / alloy.host} if alloy else {})}
    contents = class_contents(metal_c, chal_c, chemistry, exponent, atoms or None)
    floor, slope = reading_noise(metal_c, chal_c, noise[METAL], noise[CHALCOGEN])

    def noise_of(content):
        return reading_sd(content, floor, slope)

    # one code per site (kind, i, j): integer keys, no strings per reading
    key = ((s["kind"].to_numpy() == CHALCOGEN).astype(np.int64) << 42) \
        | ((s["i"].to_numpy(np.int64) + (1 << 20)) << 21) | (s["j"].to_numpy(np.int64) + (1 << 20))
    codes = pd.factorize(key)[0]
    cls = np.empty(len(s), object)
    post_best = np.zeros(len(s))
    post_def = np.zeros(len(s))
    gain = 1.0
    offsets = neighbour_offsets(lattice)
    rel0 = rel.copy()
    crosstalk = {}
    appear = None
    rates = {}  # sublattice → transition matrix, refitted at each of the first three passes
    for step in range(4):  # decode; calibrate the gain; decode; correct the crosstalk; decode;
        # let a neighbour's departing defect make its arrival likely; decode
        for kind in (METAL, CHALCOGEN):
            sel = np.flatnonzero(kinds == kind)
            names = list(contents[kind])  # pristine first
            cp = contents[kind][names[0]]
            means = np.array([cp + gain * (contents[kind][c] - cp) for c in names])
            sc, inv = np.unique(codes[sel], return_inverse=True)
            obs = np.full((len(sc), T), np.nan)
            obs[inv, frames[sel]] = np.where(lattice_area[sel], rel[sel], np.nan)  # masked: unobserved
            trans = rates.get(kind)
            if trans is None:
                trans = transition_matrix(len(names), APPEAR_PER_FRAME, LEAVE_PER_FRAME, CHANGE_PER_FRAME)
            # a single image: the contents' shares from its own sites (a movie's first frame keeps
            # the default; its sites' histories carry the evidence)
            sd_scale = None
            if scale is not None:  # one frame: one row per site
                sd_scale = np.ones(len(sc))
                sd_scale[inv] = scale[sel]
            if ladder is not None and kind == CHALCOGEN:  # the shares the ladder measured
                first = ladder_prior(ladder, names, chemistry)
            else:
                first = (content_shares(obs, means, noise_of(means), sd_scale=sd_scale,
                                        split=named_dopant_split(names, chemistry),
                                        abundant=named_dopant_contents(names, chemistry)) if T == 1 else PRIOR_DEFECT)
            if appear is None:  # the rates of content changes from this movie's own sites (below)
                post, counts = site_posteriors(obs, means, noise_of(means), trans, first,
                                               transition_counts=True, sd_scale=sd_scale)
                rates[kind] = fit_transitions(counts, trans)
            else:
                app = np.full((len(sc), T), APPEAR_PER_FRAME)  # the appearance rate is not refitted
                app[inv, frames[sel]] = appear[sel]
                post = site_posteriors(obs, means, noise_of(means), trans, first, appear=app, sd_scale=sd_scale)
            pr = post[inv, frames[sel]]  # (len(sel), K)
            best = pr[:, 1:].argmax(1) + 1
            is_def = pr[:, 0] < p.pristine_below
            cls[sel] = np.where(is_def, np.array(names, object)[best], names[0])
            post_best[sel] = np.where(is_def, pr[np.arange(len(sel)), best], pr[:, 0])
            post_def[sel] = 1 - pr[:, 0]
        # masked sites decode as their prior (pristine) and read whatever the area holds: they
        # must not enter the fits of the gain and of the crosstalk
        cls_read = np.where(lattice_area, cls, MASKED)
        if step == 0:  # then the named dopants' atom readings, where enough of their sites show them
            gain = calibrate_gain(rel, rel_h, kinds, cls_read, levels, contents)
            dl = fit_dopant_levels(rel, kinds, lattice_area, metal_c, chal_c, chemistry, exponent, gain, noise_of, atoms)
            atoms.update(dl.levels)
            contents = class_contents(metal_c, chal_c, chemistry, exponent, atoms or None)
            notes += [n for n in [dl.note(chemistry)] if n]
        elif step == 1:  # (an alloy's second metal, or a converting sheet's substituted chalcogen
            # columns, are no sparse defects: every pristine-read site measures their tails, not the
            # few isolated ones, which shifted every reading of a rendered Mo/W alloy movie by 0.26 of
            # a W column, and a half-converted MoS2 sheet's SSe columns by +0.12, to Mo_S2)
            rel, crosstalk = remove_crosstalk(rel0, kinds, cls_read, s, contents, offsets,
                                              isolated_only=alloy is None and ladder is None)
        elif step == 2:
            appear = _hop_arrivals(s, kinds, post_def, offsets)
    if T > 1:  # a content one frame cannot show, followed as it walks from site to site
        for row, name, prob in _walks(s, kinds, codes, frames, rel, lattice_area, cls, contents, gain,
                                      noise_of, rates, offsets, T):
            cls[row], post_best[row] = name, prob
            post_def[row] = np.maximum(post_def[row], prob)
    # the content each reading stands for, the gain taken out (metal units)
    pristine = s["kind"].map({k: _pristine_level(contents, k) for k in contents}).to_numpy(float)
    s["content"] = pristine + (rel - pristine) / gain
    cls[~lattice_area] = MASKED
    s["significant"] = ~np.isin(cls, [_pristine_name(contents, k) for k in contents] + [MASKED])
    s["class"] = cls
    s["probability"] = np.where(lattice_area, post_best, np.nan)
    s["posterior_defect"] = post_def
    return s, contents, noise, gain, exponent, notes
