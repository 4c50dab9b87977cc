"""Training modes only the studies use: soft targets (distillation) and fresh windows every epoch.

Both build on :func:`helpers.classify.classifier.compile_schedule` and return the package's
:class:`~helpers.classify.classifier.TrainResult`, so their numbers compare with notebook 03's.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from helpers.classify.classifier import TrainResult, as_input, compile_schedule, train_result


def soft_targets(model, y_train, y_val) -> tuple[np.ndarray, np.ndarray]:
    """Check soft targets (n, n_classes): finite, non-negative rows summing to 1; validation labels
    (n,) become one-hot."""
    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    n_classes = int(model.output_shape[-1])
    if y_train.ndim != 2 or y_train.shape[1] != n_classes:
        raise ValueError(f"soft targets must be (n, {n_classes}), got shape {y_train.shape}")
    if (not np.all(np.isfinite(y_train)) or np.any(y_train < 0)
            or not np.allclose(y_train.sum(axis=1), 1.0, atol=1e-3)):
        raise ValueError("soft targets must be finite, non-negative rows that sum to 1")
    if y_val.ndim == 1:
        y_val = np.eye(n_classes, dtype=np.float32)[y_val]
    return y_train.astype(np.float32), y_val


def train_soft(model, x_train, soft, x_val, y_val, epochs: int = 10, batch_size: int = 128,
               patience: int = 4, verbose: int = 2, schedule: str = "plateau",
               peak_learning_rate: float = 3e-3, warmup_epochs: int = 1) -> TrainResult:
    """Fit on soft targets (e.g. a teacher's predictions mixed with the labels: knowledge
    distillation), the loss the cross-entropy against them; ``y_val`` labels compared one-hot."""
    soft, y_val = soft_targets(model, soft, y_val)
    x_train, x_val = as_input(x_train), as_input(x_val)
    if len(x_train) != len(soft):
        raise ValueError(f"{len(x_train)} training windows for {len(soft)} targets")
    cb = compile_schedule(model, schedule, len(soft), epochs, batch_size, patience, peak_learning_rate,
                          warmup_epochs, loss="categorical_crossentropy")
    t0 = time.perf_counter()
    h = model.fit(x_train, soft, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
                  callbacks=cb, verbose=verbose, shuffle=True)
    return train_result(h.history, time.perf_counter() - t0, len(soft))


def train_epoch_by_epoch(model, epoch_images, y_train, x_val, y_val, epochs: int = 10, batch_size: int = 128,
                         verbose: int = 2, peak_learning_rate: float = 3e-3,
                         warmup_epochs: int = 1) -> TrainResult:
    """Cosine schedule, one ``fit`` per epoch on ``epoch_images(epoch)`` (the training windows of
    that epoch, same order and labels as ``y_train``, e.g. :class:`noise_redraws.NoiseRedraws`);
    the next epoch's windows are made in a thread while the current one trains, and that time is
    part of ``seconds``."""
    y_train, y_val, x_val = np.asarray(y_train), np.asarray(y_val), as_input(x_val)
    compile_schedule(model, "cosine", len(y_train), epochs, batch_size, 0, peak_learning_rate, warmup_epochs)
    history: dict[str, list] = {}
    t0 = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        nxt = pool.submit(epoch_images, 0)
        for e in range(epochs):
            x = as_input(nxt.result())
            if len(x) != len(y_train):
                raise ValueError(f"epoch {e}: {len(x)} training windows for {len(y_train)} labels")
            if e + 1 < epochs:
                nxt = pool.submit(epoch_images, e + 1)
            h = model.fit(x, y_train, validation_data=(x_val, y_val), initial_epoch=e, epochs=e + 1,
                          batch_size=batch_size, verbose=verbose, shuffle=True)
            for k, v in h.history.items():
                history.setdefault(k, []).extend(v)
    return train_result(history, time.perf_counter() - t0, len(y_train))
