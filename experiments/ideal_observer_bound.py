"""How accurate could any classifier be? The ideal observer on paired simulations (issue #4).

For the two pairs the classifier confuses (`Sw`/`Vw`: one S atom on the W site or none; `Ws`/`W2s2`),
both classes are simulated as the test library is (defocus 5 Å, phonon seed 11, 4 frozen-phonon
configurations) with every atom off the defect displaced identically (``paired=True``). Windows are
cut from both fields with the *same* random geometry and distortions as the leak-free test set
(:func:`helpers.classify.augment.distort_one`, test-library orientations and source sizes), one noise model
is drawn as the test set draws it, and :func:`ideal_observer.pair_error` gives the error of
the likelihood-ratio test that knows both noise-free windows: a lower bound on any classifier's
error for that window. The shipped network classifies the same windows with noise added
(:func:`helpers.classify.augment.add_noise`) beside it.

    python experiments/ideal_observer_bound.py [--windows 2000] [--phonons 4]

Writes ``results/experiments/ideal_observer.json``. Simulation ≈ 1 min per field on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
from ideal_observer import pair_error

from helpers import config
from helpers.classify.augment import NOISE_TYPES, AugmentParams, add_noise, distort_one
from helpers.classify.classifier import load_classifier, predict
from helpers.library.files import TEST_LIBRARY_SPEC
from helpers.library.simulate import ImagingConditions, simulate_field
from helpers.library.structures import CLASS_NAMES

PAIRS = (("Sw", "Vw"), ("Ws", "W2s2"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=2000, help="window pairs per class pair")
    ap.add_argument("--phonons", type=int, default=4, help="frozen-phonon configurations")
    ap.add_argument("--sampling", type=float, default=0.07, help="potential sampling (Å)")
    ap.add_argument("--n-mc", type=int, default=400, help="Monte Carlo draws per hypothesis")
    ap.add_argument("--seed", type=int, default=config.SEED + 404)
    ap.add_argument("--out", default=str(config.ROOT / "results" / "experiments" / "ideal_observer.json"))
    args = ap.parse_args(argv)
    from tqdm.auto import tqdm

    spec = TEST_LIBRARY_SPEC
    cond = replace(ImagingConditions(), defocus_A=spec.defoci_A[0], phonon_seed=spec.phonon_seeds[0],
                   phonon_configs=args.phonons, potential_sampling_A=args.sampling)
    p = AugmentParams()
    model, _ = load_classifier(config.MODELS_DIR / config.CLASSIFIER_FILE)
    out = {"conditions": cond.as_attrs(), "windows_per_pair": args.windows, "n_mc": args.n_mc,
           "seed": args.seed, "pairs": {}}
    for a_name, b_name in PAIRS:
        t0 = time.perf_counter()
        fa, fb = (simulate_field(n, cond, paired=True) for n in (a_name, b_name))
        sim_s = time.perf_counter() - t0
        labels = (CLASS_NAMES.index(a_name), CLASS_NAMES.index(b_name))
        orients = spec.orientations_deg[a_name]
        bound, kinds, noisy = [], [], {0: [], 1: []}
        for j in tqdm(range(args.windows), desc=f"{a_name}/{b_name}", mininterval=2.0):
            rng = np.random.default_rng(np.random.SeedSequence([args.seed, j]))
            orient = float(rng.choice(orients))
            src = float(rng.uniform(*spec.source_fwhm_range_A))
            geo = np.random.SeedSequence([args.seed, j, 1])
            ta, _ = distort_one(fa.image, fa.pixel_size_A, fa.defect_rc_px, orient, src,
                                np.random.default_rng(geo), p)
            tb, _ = distort_one(fb.image, fb.pixel_size_A, fb.defect_rc_px, orient, src,
                                np.random.default_rng(geo), p)
            kind = str(rng.choice(NOISE_TYPES, p=np.asarray(p.noise_probs)))
            bound.append(pair_error(ta, tb, kind, rng, p, n_mc=args.n_mc))
            kinds.append(kind)
            noisy[0].append(add_noise(ta, kind, rng, p))
            noisy[1].append(add_noise(tb, kind, rng, p))
        bound, kinds = np.array(bound), np.array(kinds)
        net_wrong = np.zeros(len(kinds))
        net_partner = np.zeros(len(kinds))
        for side in (0, 1):
            pred = predict(model, np.stack(noisy[side])).argmax(1)
            net_wrong += (pred != labels[side]) / 2
            net_partner += (pred == labels[1 - side]) / 2
        per_kind = {k: {"windows": int(np.sum(kinds == k)),
                        "ideal_observer_error": float(bound[kinds == k].mean()),
                        "network_error": float(net_wrong[kinds == k].mean()),
                        "network_error_into_partner": float(net_partner[kinds == k].mean())}
                    for k in NOISE_TYPES if np.any(kinds == k)}
        out["pairs"][f"{a_name}/{b_name}"] = {
            "simulation_s": sim_s, "ideal_observer_error": float(bound.mean()),
            "network_error": float(net_wrong.mean()), "network_error_into_partner": float(net_partner.mean()),
            "per_noise": per_kind,
        }
        print(json.dumps({f"{a_name}/{b_name}": out["pairs"][f"{a_name}/{b_name}"]}, indent=1), flush=True)
    # 6 equally frequent classes; the two pairs are disjoint: any classifier's 6-class error is at
    # least (2/6) × each pair's binary error, summed
    lower = sum(2 / 6 * v["ideal_observer_error"] for v in out["pairs"].values())
    out["six_class_error_lower_bound"] = lower
    out["six_class_accuracy_upper_bound"] = 1 - lower
    print(f"any classifier on windows like the leak-free test set: accuracy <= {100 * (1 - lower):.2f} %")
    path = config.ROOT / args.out if not args.out.startswith("/") else args.out
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")
    print("wrote", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
