"""The defect classifier (Keras) and its class activation maps.

Architecture as on the poster: Conv2D + BatchNorm + ReLU blocks, MaxPool + Dropout, global average
pooling, Dense + BatchNorm, softmax. Two changes, both for the class activation maps (Zhou et al.,
CVPR 2016): the last convolutional map stays at 16×16 for a 64×64 input (the original's 3×3 could
not resolve a defect), and the Dense + BatchNorm head has no non-linearity, so the class score is a
linear function of the pooled features and the CAM Σ_k w_k^c f_k(x, y) is exact.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from helpers import config
from helpers.core.batches import predict_batches
from helpers.core.windows import WINDOW_PX

LAST_CONV = "last_conv"


def build_classifier(n_classes: int = 6, input_px: int = WINDOW_PX, dropout: float = 0.2,
                     learning_rate: float = 3.4e-4, filters: tuple[int, ...] = (16, 32, 64, 128),
                     dense: int = 64, bn_momentum: float = 0.9, head_bn: bool = True,
                     conv_dropout: float = 0.0):
    """A compiled Keras CNN; input (input_px, input_px, 1) in [0, 1], output class probabilities.

    Blocks of Conv2D + BatchNorm + ReLU: one convolution at full resolution, two in each of the
    following blocks, MaxPool + Dropout after each of the first ``len(filters) - 2`` blocks, and a
    last single convolution (``last_conv``) at input_px / 2^(len(filters) - 2) — 16×16 for 64×64
    windows. Then global average pooling, Dense + BatchNorm (linear), Dropout (``dropout``), softmax.

    Dropout acts in the head, after the last BatchNorm. Dropout *before* BatchNorm layers (after
    each MaxPool, as on the poster; ``conv_dropout``) shifts the activation variance between
    training and inference (Li et al., CVPR 2019): measured here on 4,500 augmented windows after 5
    epochs, validation accuracy fell from 0.64 to 0.25 with conv_dropout 0.2, so it is off by
    default.
    BatchNorm momentum 0.9 (Keras' default is 0.99) lets the inference statistics settle within
    an epoch, which short grid-search trials need.
    """
    import keras
    from keras import layers

    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    if len(filters) < 3:
        raise ValueError(f"filters needs at least 3 blocks, got {filters}")

    def conv(x, f, name):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{name}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"bn{name}")(x)
        return layers.Activation("relu", name=f"relu{name}")(x)

    inp = keras.Input((input_px, input_px, 1), name="window")
    # [0, 1] windows → [-2, 2]: first-layer activations of order one, so that BatchNorm's moving
    # variance (initialised at 1, ε = 1e-3) is not dominated by its initial value and ε
    x = layers.Rescaling(4.0, offset=-2.0, name="rescale")(inp)
    n_pool = len(filters) - 2
    for b, f in enumerate(filters[:-1]):
        x = conv(x, f, f"{b}_0")
        if b > 0:
            x = conv(x, f, f"{b}_1")
        if b < n_pool:
            x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
            if conv_dropout > 0:
                x = layers.Dropout(conv_dropout, name=f"drop{b}")(x)
    x = layers.Conv2D(filters[-1], 3, padding="same", use_bias=False, name="conv_last")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="bn_last")(x)
    x = layers.Activation("relu", name=LAST_CONV)(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(dense, name="dense")(x)
    if head_bn:
        x = layers.BatchNormalization(momentum=bn_momentum, name="dense_bn")(x)
    x = layers.Dropout(dropout, name="drop_head")(x)
    out = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inp, out, name="defect_classifier")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def as_input(images) -> np.ndarray:
    """(n, h, w) or (n, h, w, 1) images in [0, 1] → float32 (n, h, w, 1)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] != 1:
        raise ValueError(f"images must be (n, h, w) or (n, h, w, 1), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("images contain NaN or infinite values")
    return x


@dataclass
class TrainResult:
    """What :func:`train` returns: the Keras history, wall time, throughput (images/s) and epochs
    run."""
    history: dict
    seconds: float
    images_per_s: float
    epochs_run: int


def train(model, x_train, y_train, x_val, y_val, epochs: int = 10, batch_size: int = 128,
          patience: int = 4, verbose: int = 2, schedule: str = "plateau",
          peak_learning_rate: float = 3e-3, warmup_epochs: int = 1,
          epoch_images=None) -> TrainResult:
    """Fit ``model`` and return its history, time and throughput.

    ``schedule="plateau"``: the compiled learning rate, halved whenever the validation loss does
    not improve for an epoch, early stopping after ``patience`` epochs without improvement (best
    weights restored). ``schedule="cosine"`` (one cycle): Adam re-compiled with a learning rate
    that rises linearly from ``peak_learning_rate``/10 to ``peak_learning_rate`` over
    ``warmup_epochs``, then falls along a cosine to 0 at the end of the last epoch; all ``epochs``
    run and the final weights are kept (the schedule ends where the weights have settled).

    ``epoch_images`` (cosine schedule only): a callable ``epoch -> images`` giving the training
    windows of each epoch (same order and labels as ``y_train``), e.g.
    :class:`noise_redraws.NoiseRedraws`; the next epoch's windows are made in a thread while the
    current one trains, and that time is part of ``seconds``. ``x_train`` is then not used.

    ``y_train`` holds class labels (n,), or soft targets (n, n_classes): rows of probabilities,
    e.g. a teacher network's predictions mixed with the labels (knowledge distillation); the loss
    is then the cross-entropy against them, and ``y_val`` labels are compared one-hot.
    """
    import keras

    y_train, y_val, loss = _targets(model, y_train, y_val)

    if schedule not in ("plateau", "cosine"):
        raise ValueError(f"schedule must be 'plateau' or 'cosine', got {schedule!r}")
    if epoch_images is not None and schedule != "cosine":
        raise ValueError("epoch_images needs schedule='cosine' (the plateau callbacks would restart "
                         "every epoch)")
    x_val = as_input(x_val)
    if epoch_images is None:
        x_train = as_input(x_train)
        if len(x_train) != len(y_train):
            raise ValueError(f"{len(x_train)} training windows for {len(y_train)} labels")
    if schedule == "cosine":
        if peak_learning_rate <= 0:
            raise ValueError(f"peak_learning_rate must be positive, got {peak_learning_rate}")
        if not 0 <= warmup_epochs < epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs), got {warmup_epochs}")
        steps = int(np.ceil(len(y_train) / batch_size))
        lr = keras.optimizers.schedules.CosineDecay(
            peak_learning_rate / 10, decay_steps=steps * (epochs - warmup_epochs), alpha=0.0,
            warmup_target=peak_learning_rate, warmup_steps=steps * warmup_epochs)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=["accuracy"])
        cb = []
    else:
        if loss != "sparse_categorical_crossentropy":
            model.compile(optimizer=keras.optimizers.Adam(float(model.optimizer.learning_rate)),
                          loss=loss, metrics=["accuracy"])
        cb = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                            restore_best_weights=True),
              keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1,
                                                min_lr=1e-6, verbose=0)]
    t0 = time.perf_counter()
    if epoch_images is None:
        h = model.fit(x_train, np.asarray(y_train), validation_data=(x_val, np.asarray(y_val)),
                      epochs=epochs, batch_size=batch_size, callbacks=cb, verbose=verbose, shuffle=True)
        history = h.history
    else:
        history = _fit_epoch_by_epoch(model, epoch_images, np.asarray(y_train), x_val, np.asarray(y_val),
                                      epochs, batch_size, verbose)
    dt = time.perf_counter() - t0
    n_ep = len(history["loss"])
    return TrainResult(history={k: [float(v) for v in vals] for k, vals in history.items()},
                       seconds=dt, images_per_s=len(y_train) * n_ep / dt, epochs_run=n_ep)


def _targets(model, y_train, y_val):
    """Labels as they are (sparse cross-entropy), or soft targets with one-hot validation labels."""
    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    if y_train.ndim == 1:
        return y_train, y_val, "sparse_categorical_crossentropy"
    n_classes = int(model.output_shape[-1])
    if y_train.ndim != 2 or y_train.shape[1] != n_classes:
        raise ValueError(f"soft targets must be (n, {n_classes}), got shape {y_train.shape}")
    if (not np.all(np.isfinite(y_train)) or np.any(y_train < 0)
            or not np.allclose(y_train.sum(axis=1), 1.0, atol=1e-3)):
        raise ValueError("soft targets must be finite, non-negative rows that sum to 1")
    if y_val.ndim == 1:
        y_val = np.eye(n_classes, dtype=np.float32)[y_val]
    return y_train.astype(np.float32), y_val, "categorical_crossentropy"


def _fit_epoch_by_epoch(model, epoch_images, y_train, x_val, y_val, epochs, batch_size, verbose) -> dict:
    """One ``fit`` call per epoch on ``epoch_images(e)``, the next epoch's windows made meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    history: dict[str, list] = {}
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
    return history


def predict(model, images, batch_size: int = 512) -> np.ndarray:
    """Class probabilities (n, n_classes), batch by batch (:func:`helpers.core.batches.predict_batches`)."""
    return predict_batches(model, as_input(images), batch_size)


#: the four mirror views of a window: (flip rows, flip columns)
MIRROR_VIEWS: tuple[tuple[bool, bool], ...] = ((False, False), (True, False), (False, True), (True, True))


def mirror(a: np.ndarray, view: tuple[bool, bool]) -> np.ndarray:
    """Images or maps (n, h, w, ...) mirrored as ``view`` says; each view is its own inverse."""
    if view[0]:
        a = a[:, ::-1]
    if view[1]:
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


def stack_views(x: np.ndarray, views) -> np.ndarray:
    """Windows (n, h, w, ...) in each of ``views``, stacked view after view: (len(views)·n, ...)."""
    return np.concatenate([mirror(x, v) for v in views])


def unmirror_mean(stacked: np.ndarray, views) -> np.ndarray:
    """Maps computed on :func:`stack_views` windows, (len(views)·n, h, w, ...): each view's maps
    mirrored back into the original frame and averaged over the views, (n, h, w, ...)."""
    n = len(stacked) // len(views)
    return np.mean([mirror(stacked[j * n:(j + 1) * n], v) for j, v in enumerate(views)], axis=0)


def predict_flips(model, images, batch_size: int = 512) -> np.ndarray:
    """Class probabilities (n, n_classes) averaged over each window and its three mirror images
    (up-down, left-right, both): test-time averaging over the flips the classifier was trained
    with. Four passes, so a quarter of :func:`predict`'s throughput."""
    x = as_input(images)
    return np.mean([predict(model, mirror(x, v), batch_size) for v in MIRROR_VIEWS], axis=0)


def load_classifier(path=None):
    """The classifier written by notebook 03 in this profile, else the shipped one in data/models."""
    import keras


    candidates = [path] if path else [config.models_dir() / config.CLASSIFIER_FILE,
                                      config.MODELS_DIR / config.CLASSIFIER_FILE]
    for p in candidates:
        if p is not None and p.exists():
            return keras.models.load_model(p), p
    raise FileNotFoundError(f"no trained classifier at {[str(c) for c in candidates]} (run notebook 03)")
