"""Figures of notebook 07: counts over time, the broom graph, transition matrices, MSD curves, adatom
tracks."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.figures.style import class_colour


def plot_counts(detected: pd.DataFrame, true: pd.DataFrame, classes):
    """Defects per class per frame: the analysis (solid) beside the truth (dashed).

    Parameters
    ----------
    detected, true : DataFrame
        Frames × classes (:func:`helpers.kinetics.tracking.counts_over_time`).
    classes : sequence of str

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = len(classes)
    cols = 4
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), sharex=True, squeeze=False)
    for ax, c in zip(axes.flat, classes):
        col = class_colour(c)
        if c in detected:
            ax.plot(detected.index + 1, detected[c], color=col, lw=1.3, label="analysis")
        if c in true:
            ax.plot(true.index + 1, true[c], color=col, lw=1.3, ls="--", alpha=0.8, label="truth")
        ax.set_title(c, fontsize=9)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes.flat[0].legend(frameon=False, fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("frame")
    fig.suptitle("defects per class over time", fontsize=10)
    fig.tight_layout()
    return fig


def _track_class(tracks: pd.DataFrame, class_column: str = "class") -> pd.Series:
    return tracks.groupby("track")[class_column].agg(lambda s: s.value_counts().index[0])


def plot_broom(tracks: pd.DataFrame, min_length: int = 3, x: str = "x_corr_A", y: str = "y_corr_A",
               class_column: str = "class"):
    """The broom graph: tracks in (x, y, frame), coloured by their most frequent class, and a 2D
    companion (x against frame) that prints well. Tracks shorter than ``min_length`` are left out.

    Parameters
    ----------
    tracks : DataFrame
    min_length : int
        Frames.
    x, y, class_column : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    cls = _track_class(tracks, class_column)
    lengths = tracks.groupby("track").size()
    keep = lengths[lengths >= min_length].index
    fig = plt.figure(figsize=(14, 6))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    ax2 = fig.add_subplot(1, 2, 2)
    for tr in keep:
        g = tracks[tracks.track == tr].sort_values("frame")
        col = class_colour(cls[tr])
        ax3.plot(g[x], g[y], g["frame"] + 1, color=col, lw=0.9, alpha=0.85)
        ax2.plot(g["frame"] + 1, g[x], color=col, lw=0.9, alpha=0.85)
    ax3.set_xlabel("x (Å)")
    ax3.set_ylabel("y (Å)")
    ax3.set_zlabel("frame")
    ax3.view_init(elev=18, azim=-60)
    ax2.set_xlabel("frame")
    ax2.set_ylabel("x (Å, drift-corrected)")
    handles = [plt.Line2D([], [], color=class_colour(c), label=c)
               for c in sorted(set(cls[keep]))]
    ax2.legend(handles=handles, frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax3.set_title(f"broom graph: {len(keep)} tracks of ≥ {min_length} frames", fontsize=9)
    ax2.set_title("the same tracks, x against time", fontsize=9)
    fig.tight_layout()
    return fig


def plot_transitions(matrices: dict, classes):
    """Heatmaps of per-frame transition probabilities (off-diagonal shown; diagonal = stay).

    Parameters
    ----------
    matrices : dict
        Panel title → (K, K) matrix.
    classes : sequence of str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    fig, axes = plt.subplots(1, len(matrices), figsize=(4.6 * len(matrices), 4), squeeze=False)
    for ax, (name, T) in zip(axes[0], matrices.items()):
        M = np.array(T, float)
        off = M.copy()
        np.fill_diagonal(off, np.nan)
        sns.heatmap(pd.DataFrame(off, index=classes, columns=classes), annot=True, fmt=".3f",
                    cmap="viridis", vmin=0, vmax=0.05, cbar=False, ax=ax, annot_kws={"fontsize": 7})
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("to")
        ax.set_ylabel("from")
    fig.tight_layout()
    return fig


def plot_msd(msd: dict, a_A: float = 3.18):
    """MSD against lag per class for each source (``msd``: name → table from msd_by_class).

    Parameters
    ----------
    msd : dict
        Source name → table of :func:`helpers.kinetics.rates.msd_by_class`.
    a_A : float
        Lattice constant (Å) for the one-hop reference.

    Returns
    -------
    matplotlib.figure.Figure
    """
    styles = ["-", "--", ":"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for (name, m), ls in zip(msd.items(), styles):
        for c, g in m.groupby("class"):
            ax.plot(g["lag"], g["msd_A2"], ls, color=class_colour(c),
                    label=f"{c} ({name})")
    ax.set_xlabel("lag (frames)")
    ax.set_ylabel("MSD (Å²)")
    ax.axhline(a_A**2, color="0.6", lw=0.8)
    ax.text(1, a_A**2 * 1.03, "one hop (a²)", fontsize=7, color="0.4")
    ax.legend(frameon=False, fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("mean squared displacement per class", fontsize=9)
    fig.tight_layout()
    return fig


def plot_adatom_tracks(image, pixel_size_A: float, tracks: pd.DataFrame, true_paths_A=None):
    """Adatom tracks on a frame: each track's drift-corrected path (``x_corr_A``, ``y_corr_A``, in
    the first frame's coordinates), its moves as line segments, and the true paths dashed.

    Parameters
    ----------
    image : ndarray (H, W)
        The first frame.
    pixel_size_A : float
        Å/px.
    tracks : DataFrame
        :func:`helpers.kinetics.adatom_tracks.link_adatoms` (``frame``, ``x_corr_A``, ``y_corr_A``,
        ``track``).
    true_paths_A : ndarray (frames, adatoms, 2), optional
        True positions (x, y Å) in the first frame's coordinates.

    Returns
    -------
    matplotlib.figure.Figure
    """
    h, w = np.shape(image)
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    ax.imshow(image, cmap="gray", extent=(0, w * pixel_size_A, h * pixel_size_A, 0))
    if true_paths_A is not None:
        for k in range(np.shape(true_paths_A)[1]):
            p = np.asarray(true_paths_A)[:, k]
            ax.plot(p[:, 0], p[:, 1], "--", color="white", lw=1.0, alpha=0.8,
                    label="true path" if k == 0 else None)
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    for n, (_, g) in enumerate(tracks.sort_values("frame").groupby("track")):
        c = colours[n % 10]
        ax.plot(g["x_corr_A"], g["y_corr_A"], "-o", color=c, ms=3, lw=1.5,
                label="found tracks" if n == 0 else None)
    ax.set_xlabel("x (Å)")
    ax.set_ylabel("y (Å)")
    ax.set_title("Adatoms through the movie (drift taken out)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
