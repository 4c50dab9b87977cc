"""Figures of notebooks 01, 03, 04 and 05: augmented examples, learning curves, confusion matrices,
misclassified windows, the grid-search tables and class activation maps."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from helpers.classify.augment import NOISE_TYPES, AugmentParams, augment_one
from helpers.classify.cams import cam_peak


def plot_augmented_examples(lib, seed: int, params: AugmentParams = AugmentParams()):
    """One augmented window per class (rows) and noise model (columns).

    Parameters
    ----------
    lib : Library
    seed : int
    params : AugmentParams

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = lib.fields["images"].shape[-1]
    ps = float(lib.attrs["field_pixel_size_A"])
    fig, axes = plt.subplots(len(lib.class_names), len(NOISE_TYPES) + 1,
                             figsize=(1.75 * (len(NOISE_TYPES) + 1), 1.8 * len(lib.class_names)))
    rng = np.random.default_rng(seed)
    for r, name in enumerate(lib.class_names):
        i = int(rng.choice(np.flatnonzero(lib.labels == r)))
        axes[r, 0].imshow(lib.images[i], cmap="gray")
        axes[r, 0].set_ylabel(name, fontsize=11)
        if r == 0:
            axes[r, 0].set_title("library", fontsize=9)
        for c, kind in enumerate(NOISE_TYPES):
            img, _, _ = augment_one(lib.fields["images"][lib.field_index[i]], ps, (n // 2, n // 2),
                                 float(lib.orientation_deg[i]), float(lib.source_fwhm_A[i]), rng,
                                 params, noise=kind)
            axes[r, c + 1].imshow(img, cmap="gray", vmin=0, vmax=1)
            if r == 0:
                axes[r, c + 1].set_title(kind, fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Augmented windows: geometry + distortions, then one noise model per column", y=1.0)
    fig.tight_layout()
    return fig


def plot_learning_curves(history: dict):
    """Loss and accuracy per epoch, training beside validation; returns the figure.

    Parameters
    ----------
    history : dict
        Keras history.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    ep = np.arange(1, len(history["loss"]) + 1)
    a1.plot(ep, history["loss"], "o-", label="train")
    a1.plot(ep, history["val_loss"], "s-", label="validation")
    a1.set_xlabel("epoch"); a1.set_ylabel("cross-entropy"); a1.legend(); a1.set_title("loss")
    a2.plot(ep, history["accuracy"], "o-", label="train")
    a2.plot(ep, history["val_accuracy"], "s-", label="validation")
    a2.set_xlabel("epoch"); a2.set_ylabel("accuracy"); a2.legend(); a2.set_title("accuracy")
    fig.tight_layout()
    return fig


def plot_confusions(cms: dict, class_names):
    """Row-normalized confusion matrices (seaborn heatmaps), one panel per named test set.

    Parameters
    ----------
    cms : dict
        Panel title → confusion matrix.
    class_names : sequence of str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    fig, axes = plt.subplots(1, len(cms), figsize=(5.4 * len(cms), 4.6))
    for ax, (title, cm) in zip(np.atleast_1d(axes), cms.items()):
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        sns.heatmap(norm, annot=cm, fmt="d", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax,
                    xticklabels=class_names, yticklabels=class_names)
        ax.set_xlabel("predicted"); ax.set_ylabel("true"); ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_misclassified(images, y_true, y_pred, probs, class_names, n: int = 12):
    """Up to ``n`` misclassified windows with their true and predicted class and probability;
    returns the figure.

    Parameters
    ----------
    images : ndarray (n, 64, 64)
    y_true, y_pred : ndarray (n,)
    probs : ndarray (n, K)
    class_names : sequence of str
    n : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    wrong = np.flatnonzero(y_true != y_pred)[:n]
    cols = min(6, max(len(wrong), 1))
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(np.asarray(images[i], np.float32), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{class_names[y_true[i]]} → {class_names[y_pred[i]]}\np={probs[i].max():.2f}",
                     fontsize=8)
    fig.suptitle(f"Misclassified test windows ({len(np.flatnonzero(y_true != y_pred))} in all; "
                 "true → predicted)", y=1.02)
    fig.tight_layout()
    return fig


def plot_grid_tables(ours: dict, poster: dict, lrs, dropouts):
    """Train/validation accuracy per (dropout, lr) cell: the poster's table beside ours.

    Parameters
    ----------
    ours, poster : dict
        (dropout, lr) → (train accuracy, validation accuracy).
    lrs, dropouts : sequence of float

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
    for ax, (title, table) in zip(axes, (("poster (random split)", poster), ("ours", ours))):
        val = np.array([[table[(d, lr)][1] for lr in lrs] for d in dropouts])
        ax.imshow(val, cmap="viridis", vmin=0.5, vmax=1.0)
        for r, d in enumerate(dropouts):
            for c, lr in enumerate(lrs):
                tr, va = table[(d, lr)]
                ax.text(c, r, f"{tr:.2f} / {va:.2f}", ha="center", va="center",
                        color="w" if va < 0.8 else "k", fontsize=10)
        ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
        ax.set_yticks(range(len(dropouts)), [f"{d:g}" for d in dropouts])
        ax.set_xlabel("learning rate"); ax.set_ylabel("dropout")
        ax.set_title(f"{title}: train / validation accuracy", fontsize=10)
    fig.tight_layout()
    return fig


def plot_cam_grid(images, cams, labels, preds, probs, errors_A, true_rc, class_names,
                  per_class: int = 2):
    """Image, CAM overlay with peak (+) and truth (o), predicted class and position error.

    Parameters
    ----------
    images, cams : ndarray (n, 64, 64)
    labels, preds : ndarray (n,)
    probs : ndarray (n, K)
    errors_A : ndarray (n,)
        Position errors (Å).
    true_rc : ndarray (n, 2)
        True defect positions (px).
    class_names : sequence of str
    per_class : int
        Windows per class.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = []
    for c in range(len(class_names)):
        rows += list(np.flatnonzero(labels == c)[:per_class])
    fig, axes = plt.subplots(len(rows) // per_class, 2 * per_class,
                             figsize=(2.1 * 2 * per_class, 2.2 * len(rows) // per_class))

    for k, i in enumerate(rows):
        r, col = divmod(k, per_class)
        a_img, a_cam = axes[r, 2 * col], axes[r, 2 * col + 1]
        a_img.imshow(np.asarray(images[i], np.float32), cmap="gray")
        a_img.set_title(f"true {class_names[labels[i]]}", fontsize=8)
        a_cam.imshow(np.asarray(images[i], np.float32), cmap="gray")
        a_cam.imshow(cams[i], cmap="jet", alpha=0.45)
        pr, pc = cam_peak(cams[i])
        a_cam.plot(pc, pr, "w+", ms=10, mew=2)
        a_cam.plot(true_rc[i][1], true_rc[i][0], "o", mfc="none", mec="lime", ms=9)
        a_cam.set_title(f"{class_names[preds[i]]} p={probs[i].max():.2f}\nerr {errors_A[i]:.2f} Å",
                        fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([]); ax.set_yticks([])
    fig.suptitle("Class activation maps (+ CAM peak, o true defect site)", y=1.0)
    fig.tight_layout()
    return fig
