"""Optional experiment, not part of the tests or notebooks: how far does notebook 03's CNN get on
the leak-free test when it is trained longer, and when every epoch sees freshly augmented images?

Issue #4 asks for 97 % leak-free; on 2 CPU cores the 20-minute budget allows ~12 epochs of the
poster's fixed 50,178-image set, after which training accuracy (98 %) has run away from validation
(95 %). This script answers whether more epochs or fresh noise would close the gap. It runs the same
``helpers.classify.classifier.build_classifier`` through Keras on whatever backend is installed (on a GPU
machine: ``KERAS_BACKEND=torch``), generates the augmented sets with ``helpers.classify.augment`` (several
seeds in parallel processes) and writes one JSON of leak-free accuracies per epoch.

    KERAS_BACKEND=torch python experiments/gpu_classifier_ceiling.py --out results.json

``--capacity FILTERS`` trains one wider CNN (e.g. ``32,64,128,256``) at that protocol, to see
whether the poster-sized network or the data limit the accuracy (images made in chunks by
``augment.augment_images``, all processes).

``--protocol03`` instead compares, at notebook 03's exact protocol (one cycle to 4.7e-3, 12 epochs,
batch 128, the 50,178-image set and its 67/33 split), the fixed set (two seeds, for the run-to-run
spread) with fresh noise realizations every epoch (``noise_redraws.NoiseRedraws``) and with a freshly
augmented set every epoch; leak-free and random-split accuracy after training.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KERAS_BACKEND", "torch")

import noise_redraws  # noqa: E402  (experiments/, beside this script)
import numpy as np  # noqa: E402
from training import train_epoch_by_epoch  # noqa: E402

from helpers import config
from helpers.classify import augment, augmented_sets, classifier, protocol
from helpers.library import files as library


def _make(args):
    kind, n, seed = args
    lib = library.load_library(config.LIBRARY_FILE if kind == "train" else config.TEST_LIBRARY_FILE)
    augmented_sets.get_augmented(lib, n, seed, progress=False)
    return kind, n, seed


def _clean(args):
    start, stop, n_train, seed = args
    lib = library.load_library(config.LIBRARY_FILE)
    aug = augmented_sets.get_augmented(lib, n_train, seed, progress=False)
    return noise_redraws.clean_windows(lib, aug, np.arange(start, stop), progress=False)


class _Sets:
    """Epoch e's training windows: set e of a list (cycled)."""

    def __init__(self, images):
        self.images = images

    def __call__(self, epoch):
        return self.images[epoch % len(self.images)]


def _chunk(args):
    kind, seed, start, stop = args
    lib = library.load_library(config.LIBRARY_FILE if kind == "train" else config.TEST_LIBRARY_FILE)
    return augment.augment_images(lib, seed, np.arange(start, stop), progress=False)[0]


def capacity(a) -> int:
    seed, n_train, n_test = config.SEED, a.n_train, a.n_test
    t0 = time.perf_counter()
    step = 1024
    with Pool(a.processes) as pool:
        x = np.concatenate(pool.map(_chunk, [("train", seed, i, min(i + step, n_train)) for i in range(0, n_train, step)]))
        xt = np.concatenate(pool.map(_chunk, [("test", seed + 1, i, min(i + step, n_test)) for i in range(0, n_test, step)]))
    lib, test_lib = library.load_library(config.LIBRARY_FILE), library.load_library(config.TEST_LIBRARY_FILE)
    y = lib.labels[augment.source_indices(lib, np.arange(n_train))]
    yt = test_lib.labels[augment.source_indices(test_lib, np.arange(n_test))]
    out = {"backend": os.environ["KERAS_BACKEND"], "generate_s": time.perf_counter() - t0}
    fit_idx, val_idx, test_random = protocol.poster_splits(n_train, seed)
    import keras

    keras.utils.set_random_seed(seed)
    filters = tuple(int(f) for f in a.capacity.split(","))
    model = classifier.build_classifier(n_classes=6, dropout=0.2, filters=filters, dense=a.dense)
    res = classifier.train(model, x[fit_idx], y[fit_idx], x[val_idx], y[val_idx], epochs=a.epochs,
                           batch_size=a.batch_size, verbose=0, schedule="cosine", peak_learning_rate=a.peak_lr)
    out.update(filters=filters, dense=a.dense, parameters=int(model.count_params()), epochs=a.epochs,
               batch_size=a.batch_size, peak_lr=a.peak_lr, train_s=res.seconds, history=res.history,
               leakfree=float(np.mean(classifier.predict(model, xt).argmax(1) == yt)),
               random_split=float(np.mean(classifier.predict(model, x[test_random]).argmax(1) == y[test_random])),
               leakfree_flip_averaged=float(np.mean(classifier.predict_flips(model, xt).argmax(1) == yt)))
    a.out.write_text(json.dumps(out, indent=1))
    print({k: v for k, v in out.items() if k != "history"}, flush=True)
    return 0


def protocol03(a) -> int:
    seed, n_train, n_test = config.SEED, a.n_train, a.n_test
    t0 = time.perf_counter()
    jobs = [("train", n_train, seed), ("test", n_test, seed + 1)]
    jobs += [("train", n_train, seed + 100 + k) for k in range(1, a.versions)]
    with Pool(a.processes) as pool:
        pool.map(_make, jobs)
        chunks = [(i, min(i + 2048, n_train), n_train, seed) for i in range(0, n_train, 2048)]
        clean = np.concatenate(pool.map(_clean, chunks))
    out = {"backend": os.environ["KERAS_BACKEND"], "generate_s": time.perf_counter() - t0, "runs": {}}
    lib = library.load_library(config.LIBRARY_FILE)
    test = augmented_sets.get_augmented(library.load_library(config.TEST_LIBRARY_FILE), n_test, seed + 1, progress=False)
    data = augmented_sets.get_augmented(lib, n_train, seed, progress=False)
    fit_idx, val_idx, test_random = protocol.poster_splits(n_train, seed)
    x, y = data.images, data.labels
    redraws = noise_redraws.NoiseRedraws(clean[fit_idx], data.noise[fit_idx], fit_idx, seed, first=x[fit_idx])
    sets = _Sets([x[fit_idx]] + [augmented_sets.get_augmented(lib, n_train, s, progress=False).images[fit_idx]
                                  for _, _, s in jobs[2:]])
    variants = {"fixed_set": (None, 0), "fresh_noise_each_epoch": (redraws, 0),
                "fixed_set_other_seed": (None, 1), "fresh_set_each_epoch": (sets, 0)}
    import keras

    for name, (epoch_images, dseed) in variants.items():
        keras.utils.set_random_seed(seed + dseed)
        model = classifier.build_classifier(n_classes=6, dropout=0.2, learning_rate=3.4e-4)
        if epoch_images is None:
            res = classifier.train(model, x[fit_idx], y[fit_idx], x[val_idx], y[val_idx], epochs=a.epochs,
                                   batch_size=128, verbose=0, schedule="cosine", peak_learning_rate=a.peak_lr)
        else:
            res = train_epoch_by_epoch(model, epoch_images, y[fit_idx], x[val_idx], y[val_idx], epochs=a.epochs,
                                       batch_size=128, verbose=0, peak_learning_rate=a.peak_lr)
        pl = classifier.predict(model, test.images).argmax(1)
        pr = classifier.predict(model, x[test_random]).argmax(1)
        plf = classifier.predict_flips(model, test.images).argmax(1)
        out["runs"][name] = {"leakfree": float(np.mean(pl == test.labels)),
                             "random_split": float(np.mean(pr == y[test_random])),
                             "leakfree_flip_averaged": float(np.mean(plf == test.labels)),
                             "train_s": res.seconds, "history": res.history}
        a.out.write_text(json.dumps(out, indent=1))
        print(name, {k: v for k, v in out["runs"][name].items() if k != "history"}, flush=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--versions", type=int, default=6, help="freshly augmented training sets")
    ap.add_argument("--epochs", type=int, default=36)
    ap.add_argument("--processes", type=int, default=8)
    ap.add_argument("--budget-s", type=float, default=420.0, help="stop training after this long")
    ap.add_argument("--skip-a", action="store_true", help="skip notebook 03's protocol (run A)")
    ap.add_argument("--peak-lr", type=float, default=1e-3, help="start of the cosine schedule of B and C")
    ap.add_argument("--n-train", type=int, default=50_178, help="augmented training images per set")
    ap.add_argument("--n-test", type=int, default=12_000, help="leak-free test images")
    ap.add_argument("--protocol03", action="store_true", help="fixed set vs fresh noise vs fresh sets "
                    "at notebook 03's protocol (then --epochs 12 --peak-lr 4.7e-3 --versions 12)")
    ap.add_argument("--capacity", default=None, help="filters of one wider CNN, e.g. 32,64,128,256")
    ap.add_argument("--dense", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=128)
    a = ap.parse_args(argv)
    if a.capacity:
        return capacity(a)
    if a.protocol03:
        return protocol03(a)
    seed = config.SEED
    n_train, n_test = a.n_train, a.n_test
    jobs = [("train", n_train, seed)] + [("train", n_train, seed + 100 + k) for k in range(1, a.versions)]
    jobs += [("test", n_test, seed + 1)]
    t0 = time.perf_counter()
    with Pool(min(a.processes, len(jobs))) as pool:
        pool.map(_make, jobs)
    gen_s = time.perf_counter() - t0
    lib = library.load_library(config.LIBRARY_FILE)
    test_lib = library.load_library(config.TEST_LIBRARY_FILE)
    test = augmented_sets.get_augmented(test_lib, n_test, seed + 1, progress=False)
    sets = [augmented_sets.get_augmented(lib, n_train, s, progress=False) for _, _, s in jobs[:-1]]
    fit_idx, val_idx, test_random = protocol.poster_splits(n_train, seed)
    x_test = classifier.as_input(test.images)
    out = {"backend": os.environ["KERAS_BACKEND"], "generate_s": gen_s, "runs": {}}

    def evaluate(model):
        p = np.asarray(model.predict(x_test, batch_size=1024, verbose=0)).argmax(1)
        return float((p == test.labels).mean())

    def write():
        a.out.write_text(json.dumps(out, indent=1))

    import keras

    keras.utils.set_random_seed(seed)
    out["peak_lr"], out["epochs"] = a.peak_lr, a.epochs
    # A: notebook 03's protocol on this backend (12 epochs, early stopping, LR halving)
    if not a.skip_a:
        model = classifier.build_classifier(n_classes=6, dropout=0.2, learning_rate=3.4e-4)
        x0 = sets[0].images
        res = classifier.train(model, x0[fit_idx], sets[0].labels[fit_idx], x0[val_idx], sets[0].labels[val_idx],
                               epochs=12, batch_size=128, patience=4, verbose=0)
        out["runs"]["A_notebook03_12_epochs"] = {"leakfree": evaluate(model), "train_s": res.seconds,
                                                 "history": res.history}
        write()
    # B: fixed set vs fresh set per epoch, same cosine schedule, accuracy after every epoch
    for name, fresh in (("B_fresh_each_epoch", True), ("C_fixed_set", False)):
        keras.utils.set_random_seed(seed)
        model = classifier.build_classifier(n_classes=6, dropout=0.2, learning_rate=3.4e-4)
        steps = a.epochs * int(np.ceil(len(fit_idx) / 128))
        model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(a.peak_lr, steps, alpha=0.01)),
                      loss=model.loss, metrics=["accuracy"])
        accs, t1 = [], time.perf_counter()
        for e in range(a.epochs):
            s = sets[e % len(sets)] if fresh else sets[0]
            model.fit(classifier.as_input(s.images[fit_idx]), s.labels[fit_idx], epochs=1, batch_size=128,
                      verbose=0, shuffle=True)
            accs.append(evaluate(model))
            out["runs"][name] = {"leakfree_per_epoch": accs, "train_s": time.perf_counter() - t1}
            write()
            if time.perf_counter() - t1 > a.budget_s / 2:
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
