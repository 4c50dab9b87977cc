"""How close one frame's site reading comes to the Cramér–Rao bound: is a single S vacancy lost to the
method or to the counts?

A single S vacancy changes an S₂ column by one S atom, about 0.07 of a W column, and the site
reading finds it in 1.4 noise widths per frame (notebook 06: ``site_reading_separation_d_prime``).
Whether a better reading of one frame could do more is a question with an exact answer. For a
pristine movie of this repo's generator (no drift, so every frame samples the same sites) the
expected counts μ of every pixel are known (averaged over the frames: the
generator's contamination background changes through a movie), and so is the derivative of μ with respect to each
column's content (the true probe, tail included, rendered as the generator renders it). With
Poisson counting noise plus Gaussian read noise (variance μ + r²), the Fisher information of the
patch's parameters gives the smallest variance any unbiased reading of a column's content can have:

- ``crb``: the site's content, its neighbours' contents within reach and a background plane all
  unknown (what the reading faces);
- ``crb_neighbours_known``: the neighbours' contents known (a reading told they are pristine);
- ``crb_alone``: everything but the site's own content known.

Beside them, for the shipped reading (:func:`helpers.detect.site_measure.measure_amplitudes`:
Gaussian cores and a plane by unweighted least squares, one fixed filter per site kind and
sub-pixel bin): its noise from the same variance model (``shipped_shot_read``), the same on
the noisy frames (``shipped_measured``: the scatter of each site's reading from frame to frame — the
standard deviation of consecutive differences over √2, so the slowly changing contamination
cancels — which also holds the thermal and scan-line jitter of the generator), and the same least-squares model
weighted by 1/(μ + r²) (``weighted_ls``: what weighting the pixels by their shot noise would gain).
Every figure is in units of a W column's content: each reading is divided by its response to a
change of the site's own content, so the gain of the Gaussian-core model cancels.

Usage::

    python experiments/reading_crb.py [--sites 30] [--frames 16]

Writes ``results/experiments/reading_crb.json`` and prints a table; about a minute on 2 cores.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from helpers import config
from helpers.core.chemistry import CHALCOGEN, METAL
from helpers.detect.column_model import _patch_model
from helpers.detect.lattice import fit_column_lattice, lattice_origin
from helpers.detect.site_measure import _site_filters, enumerate_sites
from helpers.library.physics import column_contrast
from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import COLUMN_CONTENT, standard_params
from helpers.synthetic.render import probe_kernel, render_columns

#: the conditions of notebook 06's variants table that change the counts or the probe
CONDITIONS = {"standard": {}, "dose ×0.5": {"dose_e_per_A2": 5e3}, "dose ×2": {"dose_e_per_A2": 2e4},
              "probe 0.8 Å": {"probe_fwhm_A": 0.8}, "probe 1.3 Å": {"probe_fwhm_A": 1.3},
              "0.12 Å/px": {"pixel_size_A": 0.12}, "0.25 Å/px": {"pixel_size_A": 0.25}}
RADIUS_A, BINS = 5.0, 4  # the reading's fitting disc and sub-pixel bins (SiteParams defaults)


def still_pristine(params):
    """No defects, no drift: every frame samples the same sites."""
    kin = replace(params.kinetics, initial_per_nm2=0.0, birth_per_nm2=0.0)
    return replace(params, kinetics=kin, drift_velocity_A_per_frame=(0.0, 0.0), drift_random_A_per_frame=0.0)


def condition(name: str, overrides: dict, n_sites: int, n_frames: int, rng) -> dict:
    ps = overrides.get("pixel_size_A", 0.2)
    frame_px = int(round(64.0 / ps))  # 64 Å square frames
    params = still_pristine(standard_params(n_frames=n_frames, frame_px=frame_px, seed=5, **overrides))
    noisy = generate_movie(params, progress=False).frames.astype(np.float64)
    # the expected counts, averaged over the frames (the contamination background changes through a movie)
    clean = generate_movie(replace(params, noise=False), progress=False).frames.astype(np.float64).mean(0)
    lat = fit_column_lattice(clean, ps, params.lattice_a_A)
    # every column the patch model holds (up to 3σ beyond the disc) lies inside the frame
    margin_px = RADIUS_A / ps + 3 * float(lat.sigma_px) + 2
    kinds, pos, _ = enumerate_sites(clean.shape, lattice_origin(clean, lat), lat, margin_px)
    filters, R = _site_filters(tuple(map(tuple, lat.vectors)), tuple(lat.chalcogen_frac), float(lat.sigma_px),
                               ps, RADIUS_A, BINS, 0.0)
    A, cf = np.asarray(lat.vectors, float), np.asarray(lat.chalcogen_frac, float)
    kernel_ft = np.fft.rfft2(probe_kernel(clean.shape, ps, params.probe_fwhm_A, params.probe_tail_fwhm_A,
                                          params.probe_tail_weight))
    counts_per_content = params.dose_e_per_A2 * ps ** 2 * params.w_column_signal  # W column = 1
    r2 = params.read_noise_counts ** 2
    yy, xx = np.mgrid[-R:R + 2, -R:R + 2]
    out = {}
    for kind in (METAL, CHALCOGEN):
        rows = {k: [] for k in ("shipped_measured", "shipped_shot_read", "weighted_ls", "crb",
                                "crb_neighbours_known", "crb_alone")}
        for s in rng.choice(np.flatnonzero(kinds == kind), n_sites, replace=False):
            p = pos[s]
            anchor = np.floor(p).astype(int)
            b = np.minimum(((p - anchor) * BINS).astype(int), BINS - 1)
            row, disc = filters[(kind, b[0], b[1])]
            dy, dx = yy[disc], xx[disc]
            py, px = anchor[0] + dy, anchor[1] + dx
            v = clean[py, px] + r2
            q = (b + 0.5) / BINS
            _, _, _, sites, _, dist, _ = _patch_model(A, cf, float(lat.sigma_px), ps, RADIUS_A, kind, q, False)
            centre = int(np.argmin(dist))
            # derivative of the expected counts with respect to each modelled column's content
            J = np.stack([render_columns(clean.shape, np.array([r]), np.array([c]), np.array([1.0]), kernel_ft)[py, px]
                          for r, c in sites - q + p], 1) * counts_per_content
            plane = np.stack([np.ones(len(dy)), dy, dx], 1).astype(float)
            Jp = np.concatenate([J, plane], 1)
            F = (Jp / v[:, None]).T @ Jp
            rows["crb"].append(np.sqrt(np.linalg.inv(F)[centre, centre]))
            keep = [centre] + list(range(len(sites), Jp.shape[1]))
            rows["crb_neighbours_known"].append(np.sqrt(np.linalg.inv(F[np.ix_(keep, keep)])[0, 0]))
            rows["crb_alone"].append(np.sqrt(1.0 / F[centre, centre]))
            response = float(row @ J[:, centre])  # the reading's change per unit content of the site
            rows["shipped_shot_read"].append(np.sqrt(np.sum(row ** 2 * v)) / response)
            reads = noisy[:, py, px] @ row  # consecutive frames differenced: the slow contamination cancels
            rows["shipped_measured"].append(float(np.std(np.diff(reads), ddof=1) / np.sqrt(2)) / response)
            g = np.exp(-((dy[:, None] - sites[None, :, 0]) ** 2 + (dx[:, None] - sites[None, :, 1]) ** 2)
                       / (2 * lat.sigma_px ** 2))
            M = np.concatenate([g, plane], 1)
            G = (M / v[:, None]).T @ M
            G[np.diag_indices_from(G)] += 1e-9 * np.trace(G) / len(G)
            wrow = np.linalg.solve(G, np.eye(len(G))[centre]) @ (M / v[:, None]).T
            rows["weighted_ls"].append(np.sqrt(np.sum(wrow ** 2 * v)) / float(wrow @ J[:, centre]))
        out[kind] = {k: float(np.median(v)) for k, v in rows.items()}
    n = params.haadf_exponent
    step = column_contrast(COLUMN_CONTENT["S2"], n) - column_contrast(COLUMN_CONTENT["Vs"], n)
    out["vs_step"] = float(step)
    for k in ("shipped_measured", "crb"):
        out[f"vs_d_prime_{k}"] = float(step / out[CHALCOGEN][k])
    out["pixel_size_A"], out["dose_e_per_A2"], out["probe_fwhm_A"] = ps, params.dose_e_per_A2, params.probe_fwhm_A
    out["frames"], out["sites_per_kind"] = n_frames, n_sites
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=30, help="sites per sublattice and condition")
    ap.add_argument("--frames", type=int, default=16, help="noisy frames per condition")
    ap.add_argument("--out", default=str(config.RESULTS_DIR / "experiments" / "reading_crb.json"))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    res = {name: condition(name, o, args.sites, args.frames, rng) for name, o in CONDITIONS.items()}
    print("one frame's reading noise, in W-column contents (median over sites); d' of a single S vacancy")
    print(f"{'condition':12s} {'site':9s} {'measured':>8s} {'shot+read':>9s} {'weighted':>8s} {'CRB':>6s} "
          f"{'CRB nb known':>12s} {'CRB alone':>9s}")
    for name, r in res.items():
        for kind in (METAL, CHALCOGEN):
            x = r[kind]
            print(f"{name:12s} {kind:9s} {x['shipped_measured']:8.4f} {x['shipped_shot_read']:9.4f} "
                  f"{x['weighted_ls']:8.4f} {x['crb']:6.4f} {x['crb_neighbours_known']:12.4f} {x['crb_alone']:9.4f}")
        print(f"{'':12s} Vs d' measured {r['vs_d_prime_shipped_measured']:.2f}, at the bound {r['vs_d_prime_crb']:.2f}")
    with open(args.out, "w") as f:
        json.dump({"_run": {"sites": args.sites, "frames": args.frames}, "conditions": res}, f, indent=1)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
