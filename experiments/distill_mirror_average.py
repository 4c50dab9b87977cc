"""Experiment: can one pass learn what four mirror views know? (issue #4; not used by the notebooks)

Averaging each window's four mirror views (``classifier.predict_flips``) adds about half a point
of accuracy at a quarter of the throughput. Here the shipped network (the teacher, trained by
notebook 03) labels the training windows of notebook 03 with its mirror-averaged probabilities,
and a fresh network of the same size learns soft targets ``alpha`` × label + (1 − ``alpha``) ×
teacher with notebook 03's protocol (one cycle to 4.7e-3, 12 epochs, the same seed). The student
is then tested in one pass on the same leak-free and random-split test windows as notebook 03.

    DEFECTFINDER_PROFILE=paper python experiments/distill_mirror_average.py [--alpha 0.5]

Needs notebook 01's augmented set; ≈ 20 min on 2 cores in the paper profile. Writes
``results/experiments/distill_mirror_average.json``.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from helpers import config
from training import train_soft
from helpers.classify import classifier, protocol


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alpha", type=float, default=0.5, help="weight of the label in the soft target")
    ap.add_argument("--out", default=str(config.ROOT / "results" / "experiments" / "distill_mirror_average.json"))
    args = ap.parse_args(argv)
    if not 0 <= args.alpha <= 1:
        raise SystemExit(f"--alpha must be in [0, 1], got {args.alpha}")
    seed = config.SEED  # notebook 03's
    config.set_seed(seed)
    sizes = config.sizes()
    d = protocol.poster_data(sizes.augmented_train, sizes.augmented_test, seed)
    lib, data, leakfree = d.library, d.augmented, d.leakfree_test
    fit_idx, val_idx, test_random = d.fit, d.validation, d.random_test
    x, y = data.images, data.labels
    n = len(lib.class_names)
    teacher, _ = classifier.load_classifier(config.MODELS_DIR / config.CLASSIFIER_FILE)
    soft = args.alpha * np.eye(n)[y[fit_idx]] + (1 - args.alpha) * classifier.predict_flips(teacher, x[fit_idx])
    student = classifier.build_classifier(n_classes=n, dropout=0.2, learning_rate=3.4e-4)
    res = train_soft(student, x[fit_idx], soft, x[val_idx], y[val_idx], epochs=sizes.epochs,
                           batch_size=sizes.batch_size, verbose=2, schedule="cosine", peak_learning_rate=4.7e-3)
    out = {"profile": sizes.profile, "alpha": args.alpha, "train_s": res.seconds, "epochs": res.epochs_run}
    for name, xx, yy in (("leakfree", leakfree.images, leakfree.labels), ("random_split", x[test_random], y[test_random])):
        for who, m in (("student", student), ("teacher", teacher)):
            out[f"{who}_{name}"] = float(np.mean(classifier.predict(m, xx).argmax(1) == yy))
            out[f"{who}_{name}_mirror_averaged"] = float(np.mean(classifier.predict_flips(m, xx).argmax(1) == yy))
    print(json.dumps(out, indent=1))
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
