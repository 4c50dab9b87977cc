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

    Parameters
    ----------
    n_classes : int
    input_px : int
        Window size (px).
    dropout : float
        Dropout in the head.
    learning_rate : float
        Adam's learning rate.
    filters : tuple of int
        Filters per block.
    dense : int
        Width of the dense layer.
    bn_momentum : float
        BatchNorm momentum.
    head_bn : bool
        BatchNorm after the dense layer.
    conv_dropout : float
        Dropout after each pooling block (the poster's placement; off by default).

    Returns
    -------
    keras.Model
        Compiled, with the last convolution named :data:`LAST_CONV`.
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
    """(n, h, w) or (n, h, w, 1) images in [0, 1] → float32 (n, h, w, 1).

    Parameters
    ----------
    images : array-like (n, h, w) or (n, h, w, 1)

    Returns
    -------
    ndarray (n, h, w, 1) float32
    """
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


def compile_schedule(model, schedule: str, n_train: int, epochs: int, batch_size: int, patience: int = 4,
                     peak_learning_rate: float = 3e-3, warmup_epochs: int = 1,
                     loss: str = "sparse_categorical_crossentropy") -> list:
    """Set up the learning-rate schedule of a training run; returns the Keras callbacks to fit with.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_classifier` (compiled with its learning rate).
    schedule : {"plateau", "cosine"}
        ``plateau``: the compiled learning rate, halved whenever the validation loss does not
        improve for an epoch, early stopping after ``patience`` epochs without improvement (best
        weights restored). ``cosine`` (one cycle): Adam re-compiled with a learning rate that rises
        linearly from ``peak_learning_rate``/10 to ``peak_learning_rate`` over ``warmup_epochs``,
        then falls along a cosine to 0 at the end of the last epoch; all epochs run.
    n_train, epochs, batch_size : int
        Training images per epoch, epochs, batch size (the cosine schedule counts steps).
    loss : str
        Keras loss name; the model is re-compiled with it where it differs from the default.

    Returns
    -------
    list
        Callbacks for ``model.fit`` (empty for the cosine schedule).
    """
    import keras

    if schedule not in ("plateau", "cosine"):
        raise ValueError(f"schedule must be 'plateau' or 'cosine', got {schedule!r}")
    if schedule == "cosine":
        if peak_learning_rate <= 0:
            raise ValueError(f"peak_learning_rate must be positive, got {peak_learning_rate}")
        if not 0 <= warmup_epochs < epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs), got {warmup_epochs}")
        steps = int(np.ceil(n_train / batch_size))
        lr = keras.optimizers.schedules.CosineDecay(
            peak_learning_rate / 10, decay_steps=steps * (epochs - warmup_epochs), alpha=0.0,
            warmup_target=peak_learning_rate, warmup_steps=steps * warmup_epochs)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=["accuracy"])
        return []
    if loss != "sparse_categorical_crossentropy":
        model.compile(optimizer=keras.optimizers.Adam(float(model.optimizer.learning_rate)),
                      loss=loss, metrics=["accuracy"])
    return [keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=1e-6, verbose=0)]


def train_result(history: dict, seconds: float, n_train: int) -> TrainResult:
    """A :class:`TrainResult` from a Keras history (lists of floats), the wall time (s) and the
    training images per epoch.

    Parameters
    ----------
    history : dict
        Keras history (metric → values per epoch).
    seconds : float
        Wall time (s).
    n_train : int
        Training images per epoch.

    Returns
    -------
    TrainResult
    """
    n_ep = len(history["loss"])
    return TrainResult(history={k: [float(v) for v in vals] for k, vals in history.items()},
                       seconds=seconds, images_per_s=n_train * n_ep / seconds, epochs_run=n_ep)


def train(model, x_train, y_train, x_val, y_val, epochs: int = 10, batch_size: int = 128,
          patience: int = 4, verbose: int = 2, schedule: str = "plateau",
          peak_learning_rate: float = 3e-3, warmup_epochs: int = 1) -> TrainResult:
    """Fit ``model`` on labelled windows and return its history, time and throughput.

    Parameters
    ----------
    model : keras.Model
        From :func:`build_classifier`.
    x_train, x_val : ndarray (n, 64, 64)
        Normalised windows (:func:`helpers.classify.augment.normalize`).
    y_train, y_val : ndarray (n,)
        Class indices.
    epochs, batch_size, patience, schedule, peak_learning_rate, warmup_epochs
        The schedule of :func:`compile_schedule`.
    verbose : int
        Keras verbosity (2: one line per epoch).

    Returns
    -------
    TrainResult
        History, wall time (s), images/s and epochs run.
    """
    x_train, x_val = as_input(x_train), as_input(x_val)
    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    if y_train.ndim != 1:
        raise ValueError(f"y_train must hold class indices (n,), got shape {y_train.shape}")
    if len(x_train) != len(y_train):
        raise ValueError(f"{len(x_train)} training windows for {len(y_train)} labels")
    cb = compile_schedule(model, schedule, len(y_train), epochs, batch_size, patience, peak_learning_rate,
                          warmup_epochs)
    t0 = time.perf_counter()
    h = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
                  callbacks=cb, verbose=verbose, shuffle=True)
    return train_result(h.history, time.perf_counter() - t0, len(y_train))


def predict(model, images, batch_size: int = 512) -> np.ndarray:
    """Class probabilities (n, n_classes), batch by batch (:func:`helpers.core.batches.predict_batches`).

    Parameters
    ----------
    model : keras.Model
        The classifier.
    images : ndarray (n, 64, 64)
        Normalised windows.
    batch_size : int
        Windows per batch.

    Returns
    -------
    ndarray (n, n_classes)
        Class probabilities.
    """
    return predict_batches(model, as_input(images), batch_size)


#: the four mirror views of a window: (flip rows, flip columns)
MIRROR_VIEWS: tuple[tuple[bool, bool], ...] = ((False, False), (True, False), (False, True), (True, True))


def mirror(a: np.ndarray, view: tuple[bool, bool]) -> np.ndarray:
    """Images or maps (n, h, w, ...) mirrored as ``view`` says; each view is its own inverse.

    Parameters
    ----------
    a : ndarray (n, h, w, ...)
    view : (bool, bool)
        (up–down, left–right) flips.

    Returns
    -------
    ndarray
    """
    if view[0]:
        a = a[:, ::-1]
    if view[1]:
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


def stack_views(x: np.ndarray, views) -> np.ndarray:
    """Windows (n, h, w, ...) in each of ``views``, stacked view after view: (len(views)·n, ...).

    Parameters
    ----------
    x : ndarray (n, h, w, ...)
    views : sequence of (bool, bool)

    Returns
    -------
    ndarray (len(views)·n, h, w, ...)
    """
    return np.concatenate([mirror(x, v) for v in views])


def unmirror_mean(stacked: np.ndarray, views) -> np.ndarray:
    """Maps computed on :func:`stack_views` windows, (len(views)·n, h, w, ...): each view's maps
    mirrored back into the original frame and averaged over the views, (n, h, w, ...).

    Parameters
    ----------
    stacked : ndarray (len(views)·n, h, w, ...)
    views : sequence of (bool, bool)

    Returns
    -------
    ndarray (n, h, w, ...)
    """
    n = len(stacked) // len(views)
    return np.mean([mirror(stacked[j * n:(j + 1) * n], v) for j, v in enumerate(views)], axis=0)


def predict_flips(model, images, batch_size: int = 512) -> np.ndarray:
    """Class probabilities (n, n_classes) averaged over each window and its three mirror images
    (up-down, left-right, both): test-time averaging over the flips the classifier was trained
    with. Four passes, so a quarter of :func:`predict`'s throughput.

    Parameters
    ----------
    model : keras.Model
    images : ndarray (n, 64, 64)
        Normalised windows.
    batch_size : int

    Returns
    -------
    ndarray (n, n_classes)
    """
    x = as_input(images)
    return np.mean([predict(model, mirror(x, v), batch_size) for v in MIRROR_VIEWS], axis=0)


def load_classifier(path=None):
    """The classifier written by notebook 03 in this profile, else the shipped one in data/models.

    Parameters
    ----------
    path : Path, optional
        A ``.keras`` file; default: this profile's trained classifier, else the shipped one.

    Returns
    -------
    (keras.Model, Path)
        The model and the file it came from.
    """
    import keras


    candidates = [path] if path else [config.models_dir() / config.CLASSIFIER_FILE,
                                      config.MODELS_DIR / config.CLASSIFIER_FILE]
    for p in candidates:
        if p is not None and p.exists():
            return keras.models.load_model(p), p
    raise FileNotFoundError(f"no trained classifier at {[str(c) for c in candidates]} (run notebook 03)")
