"""Figures of the synthetic movie: truth overlay, class zooms, true counts over time, dose series."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from helpers.core.windows import cut_window
from helpers.figures.style import CLASS_COLOURS, MARKERS, show_image
from helpers.kinetics.tracking import counts_over_time
from helpers.synthetic.params import MOVIE_CLASSES


def overlay_truth(ax, truth_frame, size: float = 70, legend: bool = True) -> None:
    """Class-coloured markers at the true defect positions of one frame (px coordinates).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    truth_frame : DataFrame
    size : float
        Marker size (points²).
    legend : bool
    """
    for cls in MOVIE_CLASSES:
        t = truth_frame[truth_frame["class"] == cls]
        if t.empty:
            continue
        kw = {"facecolors": "none", "edgecolors": CLASS_COLOURS[cls]} if MARKERS[cls] != "x" else \
            {"c": CLASS_COLOURS[cls]}
        ax.scatter(t["x_px"], t["y_px"], s=size, marker=MARKERS[cls], linewidths=1.1,
                   label=f"{cls} ({len(t)})", **kw)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def plot_frame_with_truth(movie, frame: int = 0):
    """One frame with its true defects drawn; returns the figure.

    Parameters
    ----------
    movie : Movie
    frame : int
        From 0.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=(8.2, 7))
    show_image(ax, movie.frames[frame], movie.pixel_size_A,
               f"frame {frame + 1} of {len(movie.frames)} with its ground truth", bar_A=10)
    overlay_truth(ax, movie.visible_truth(frame))
    fig.tight_layout()
    return fig


def plot_class_zooms(movie, lib, frame: int = 0, half_A: float = 9.6):
    """Each class as it appears in the movie (resampled to the library's 0.3 Å/px) beside its
    library window.

    Parameters
    ----------
    movie : Movie
    lib : Library
    frame : int
    half_A : float
        Half-width of each zoom (Å).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(2, len(MOVIE_CLASSES), figsize=(2.1 * len(MOVIE_CLASSES), 4.6))
    t = movie.visible_truth(frame)
    ps = movie.pixel_size_A
    lim = movie.frames.shape[-1] * ps
    for k, cls in enumerate(MOVIE_CLASSES):
        ax_m, ax_l = axes[0, k], axes[1, k]
        cand = t[(t["class"] == cls) & t.x_A.between(half_A, lim - half_A)
                 & t.y_A.between(half_A, lim - half_A)]
        if len(cand):
            row = cand.iloc[0]
            win = cut_window(movie.frames[frame], ps, (row.y_px, row.x_px), out_px=64,
                             out_pixel_size_A=lib.pixel_size_A)
            show_image(ax_m, win, lib.pixel_size_A if k == 0 else None, f"movie: {cls}")
        else:
            ax_m.set_title(f"movie: {cls} (none)", fontsize=9)
        ax_m.set_xticks([]); ax_m.set_yticks([])
        if cls in lib.class_names:
            i = int(np.flatnonzero(lib.labels == lib.class_names.index(cls))[0])
            show_image(ax_l, lib.images[i], None, f"library: {cls}")
        else:
            ax_l.text(0.5, 0.5, "not in the\nlibrary\n(single S\nvacancy)", ha="center",
                      va="center", transform=ax_l.transAxes, fontsize=9)
            ax_l.set_xticks([]); ax_l.set_yticks([])
    fig.suptitle("Each class in the movie (top, resampled to 0.3 Å/px) and in the library (bottom)",
                 y=1.0)
    fig.tight_layout()
    return fig


def plot_true_counts(movie):
    """True defects per class over the frames and the accumulated dose; returns the figure.

    Parameters
    ----------
    movie : Movie

    Returns
    -------
    matplotlib.figure.Figure
    """
    counts = counts_over_time(movie.visible_truth(), MOVIE_CLASSES, len(movie.frames))
    dose = (np.arange(len(movie.frames)) + 1) * movie.params.dose_e_per_A2 / 1e6
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4))
    for cls in MOVIE_CLASSES:
        a1.plot(counts.index + 1, counts[cls], color=CLASS_COLOURS[cls], label=cls, lw=1.5)
    a1.set_xlabel("frame")
    a1.set_ylabel("defects in the field of view")
    a1.legend(ncol=4, fontsize=8)
    a1.set_title("True defect counts per class")
    a2.plot(dose, counts.sum(axis=1), color="k", lw=1.5, label="in view")
    a2.plot(dose, movie.population, color="grey", ls="--", label="whole sample region")
    a2.set_xlabel("accumulated dose (10$^6$ e/Å$^2$)")
    a2.set_ylabel("defects")
    a2.set_title("Total population against dose")
    a2.legend()
    fig.tight_layout()
    return fig


def plot_dose_series(movies: dict, crop_px: int = 160):
    """Frame 1 of movies at several doses (same defects, same crop).

    Parameters
    ----------
    movies : dict
        Label → Movie.
    crop_px : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(1, len(movies), figsize=(3.6 * len(movies), 3.9))
    for ax, (dose, m) in zip(np.atleast_1d(axes), movies.items()):
        c = m.frames.shape[-1] // 2
        h = crop_px // 2
        show_image(ax, m.frames[0][c - h:c + h, c - h:c + h], m.pixel_size_A,
                   f"{dose:.0e} e/Å$^2$ per frame", bar_A=5)
    fig.suptitle("Dose series: frame 1 of the same movie at three doses", y=1.02)
    fig.tight_layout()
    return fig
