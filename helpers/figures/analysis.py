"""Figures of notebooks 02 and 06: the FFT method, localizer maps, detection scores, overlays and
the movie animation."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.core.atomic import atomic_output
from helpers.detect.areas import AREA_NAMES, OTHER_GRAIN
from helpers.detect.columns import PRISTINE_CONTENT_OF
from helpers.figures.movie import overlay_truth
from helpers.figures.style import MARKERS, class_colour, class_marker, show_image


def plot_fft_method(frame, pixel_size_A: float, labels_by_method: dict, truth_frame, crop: int = 256,
                    images: dict | None = None):
    """Per method (rows): |FFT|, the kept Fourier mask, the residual z-map, labels over the frame
    (``images``: name → the image that row analysed, when not ``frame``).

    Parameters
    ----------
    frame : ndarray (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    labels_by_method : dict
        Method name → FFTLabels.
    truth_frame : DataFrame
        True defects of the frame.
    crop : int
        Side of the shown crop (px).
    images : dict, optional
        Method name → the image it analysed.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = len(labels_by_method)
    fig, axes = plt.subplots(n, 4, figsize=(15, 3.9 * n), squeeze=False)
    sl = np.s_[:crop, :crop]
    t = truth_frame[(truth_frame.x_px < crop) & (truth_frame.y_px < crop)]
    for row, (name, lab) in zip(axes, labels_by_method.items()):
        img = (images or {}).get(name, frame)
        F = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(img - img.mean()))))
        row[0].imshow(F, cmap="magma", vmin=np.percentile(F, 50), vmax=np.percentile(F, 99.95))
        row[0].set_title(f"{name}: |FFT|", fontsize=9)
        row[1].imshow(F * lab.mask, cmap="magma", vmin=np.percentile(F, 50), vmax=np.percentile(F, 99.95))
        row[1].set_title("kept frequencies (filtered FFT)", fontsize=9)
        im = row[2].imshow(lab.residual[sl], cmap="viridis", vmin=0, vmax=12)
        row[2].set_title("residual |image − periodic|, z-score (crop)", fontsize=9)
        fig.colorbar(im, ax=row[2], fraction=0.046)
        show_image(row[3], img[sl], pixel_size_A, "labels (green) and truth (markers)")
        row[3].contour(lab.labels[sl], [0.5], colors="lime", linewidths=0.8)
        overlay_truth(row[3], t, size=50, legend=row is axes[0])
        for a in row[:2]:
            a.set_xticks([])
            a.set_yticks([])
    fig.tight_layout()
    return fig


def plot_localizer_training(history: dict, title: str = "localizer training (frame 1 only)"):
    """Training and held-out loss per epoch of the localizer; returns the figure.

    Parameters
    ----------
    history : dict
        Keras history.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot(np.arange(1, len(history["loss"]) + 1), history["loss"], "o-", label="training crops")
    ax.plot(np.arange(1, len(history["val_loss"]) + 1), history["val_loss"], "s-",
            label="held-out strip of frame 1")
    ax.set_xlabel("epoch")
    ax.set_ylabel("BCE + Dice loss")
    ax.set_title(title, fontsize=9)
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_maps(frames, maps, det_by_frame, truth, pixel_size_A: float, which, crop: int = 256):
    """Frame, probability map and detections (crosses) vs truth (markers) for a few frames.

    Parameters
    ----------
    frames, maps : ndarray (n, H, W)
        Frames and probability maps.
    det_by_frame : list of ndarray (k, 2)
        Detections (px).
    truth : DataFrame
    pixel_size_A : float
        Pixel size (Å/px).
    which : sequence of int
        Frames shown.
    crop : int
        Side of the crop (px).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(2, len(which), figsize=(4.2 * len(which), 8.2), squeeze=False)
    sl = np.s_[:crop, :crop]
    for k, f in enumerate(which):
        t = truth[(truth.frame == f) & (truth.x_px < crop) & (truth.y_px < crop)]
        show_image(axes[0, k], frames[f][sl], pixel_size_A, f"frame {f + 1}")
        overlay_truth(axes[0, k], t, size=45, legend=k == len(which) - 1)
        d = det_by_frame[f]
        d = d[(d[:, 0] < crop) & (d[:, 1] < crop)]
        axes[0, k].plot(d[:, 1], d[:, 0], "+", color="cyan", ms=7, mew=1.2)
        axes[1, k].imshow(maps[k][sl], cmap="inferno", vmin=0, vmax=1)
        axes[1, k].set_title("defect probability (localizer)", fontsize=9)
        axes[1, k].set_xticks([])
        axes[1, k].set_yticks([])
    fig.tight_layout()
    return fig


def plot_scores_per_frame(scores: dict):
    """F1, precision, recall per frame for each method (``scores``: name → per-frame table).

    Parameters
    ----------
    scores : dict
        Method name → table of :func:`helpers.evaluation.scores.score_detections`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), sharey=True)
    for name, s in scores.items():
        for ax, key in zip(axes, ("f1", "precision", "recall")):
            ax.plot(s["frame"] + 1, s[key], label=name, lw=1.2)
    for ax, key in zip(axes, ("F1", "precision", "recall")):
        ax.set_xlabel("frame")
        ax.set_title(f"{key} at 1 Å tolerance", fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_recall_by_class(recalls: dict):
    """Bar chart: detection recall per true class for each method.

    Parameters
    ----------
    recalls : dict
        Method name → {class: recall}.

    Returns
    -------
    matplotlib.figure.Figure
    """
    df = pd.DataFrame(recalls)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    df.plot.bar(ax=ax, rot=0, width=0.8)
    ax.set_ylabel("detection recall")
    ax.set_ylim(0, 1.05)
    ax.set_title("which true defects are found (frames 2–end)", fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def overlay_detections(ax, table_frame, size: float = 60, legend: bool = True) -> None:
    """Class-coloured markers at detected defect positions (any material's classes:
    :func:`helpers.figures.style.class_colour`; unknown: grey circles).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    table_frame : DataFrame
        One frame's defects (x_px, y_px, class).
    size : float
        Marker size (points²).
    legend : bool
    """
    present = list(pd.unique(table_frame["class"])) if len(table_frame) else []
    order = [c for c in list(MARKERS) + ["unknown"] if c in present] + sorted(
        c for c in present if c not in MARKERS and c != "unknown")
    for cls in order:
        d = table_frame[table_frame["class"] == cls]
        marker, colour = class_marker(cls), class_colour(cls)
        kw = {"facecolors": "none", "edgecolors": colour} if marker not in ("x", "+") else {"c": colour}
        ax.scatter(d["x_px"], d["y_px"], s=size, marker=marker, linewidths=1.3,
                   label=f"{cls} ({len(d)})", **kw)
    if legend and ax.get_legend_handles_labels()[0]:  # no legend (and no warning) without defects
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                  title="detected", title_fontsize=8)


def overlay_adatoms(ax, adatoms, frame: int, size: float = 30) -> None:
    """Small gold circles on the adatoms of one frame (:mod:`helpers.detect.adatoms`), labelled for the
    legend that :func:`overlay_detections` draws after them.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    adatoms : DataFrame or None
        frame (from 0), row, col (px).
    frame : int
    size : float
        Marker size (points²).
    """
    if adatoms is None or not len(d := adatoms[adatoms["frame"] == frame]):
        return
    ax.scatter(d["col"], d["row"], s=size, marker="o", facecolors="none", edgecolors="gold", linewidths=1.1,
               label=f"adatom ({len(d)})")


#: colours of the masked areas (:data:`helpers.detect.areas.AREA_NAMES`) on overlays
AREA_COLOURS = {"no_lattice": "tab:orange", "thicker_or_contaminated": "tab:cyan", "hole": "tab:red",
                "scan_glitch": "tab:gray", "other_phase": "tab:purple"}


#: outline of a grain read with its own lattice (:mod:`helpers.detect.grains`)
OTHER_GRAIN_COLOUR = "tab:olive"


def overlay_areas(ax, area_map, offset_rc=(0.0, 0.0), legend: bool = True, extra=()) -> None:
    """The areas the lattice does not describe (:class:`helpers.detect.areas.AreaMap`), hatched and outlined
    in their colour, shifted by ``offset_rc`` px (the drift since the frame the map was found on); a
    grain read with its own lattice (``other_grain``) outlined with a dashed line.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    area_map : AreaMap or None
    offset_rc : (float, float)
        Shift (px).
    legend : bool
    extra : sequence of matplotlib artists
        Legend handles put first in the masked areas' legend (the read area's edge).
    """
    from matplotlib.patches import Patch

    handles = list(extra)
    lab = None if area_map is None else area_map.labels
    if lab is not None:
        x = np.arange(lab.shape[1]) * area_map.step_px + offset_rc[1]
        y = np.arange(lab.shape[0]) * area_map.step_px + offset_rc[0]
        fractions = area_map.fractions()
        for code, name in AREA_NAMES.items():
            if name not in AREA_COLOURS or not np.any(lab == code):
                continue
            m = (lab == code).astype(float)
            colour = AREA_COLOURS[name]
            ax.contourf(x, y, m, [0.5, 1.5], colors="none", hatches=["///"])
            ax.contour(x, y, m, [0.5], colors=colour, linewidths=1.2)
            handles.append(Patch(facecolor="none", edgecolor=colour, hatch="///",
                                 label=f"{name.replace('_', ' ')} ({100 * fractions[name]:.0f} % of the area)"))
    if legend and handles:
        ax.add_artist(ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(1.01, 0.0), fontsize=8,
                                frameon=False, title="masked (not read as defects)", title_fontsize=8))
    grain = lab == OTHER_GRAIN if lab is not None else None  # last: its outline is shared with the rim
    if grain is not None and np.any(grain):  # read with its own lattice: outlined, not hatched
        ax.contour(x, y, grain.astype(float), [0.5], colors=OTHER_GRAIN_COLOUR, linewidths=1.2, linestyles="--")
        if legend:
            label = f"another grain, read with its own lattice ({100 * fractions['other_grain']:.0f} % of the area)"
            ax.add_artist(ax.legend(handles=[Patch(facecolor="none", edgecolor=OTHER_GRAIN_COLOUR, linestyle="--",
                                                   label=label)],
                                    loc="upper left", bbox_to_anchor=(1.01, 0.0), fontsize=8, frameon=False))


def plot_overlays(frames, table, truth, pixel_size_A: float, which):
    """The poster's figure: frames with class-coloured markers of the analysis, and the truth.

    Parameters
    ----------
    frames : ndarray (n, H, W)
    table : DataFrame
        Defects (frame from 0, x_px, y_px, class).
    truth : DataFrame
    pixel_size_A : float
        Pixel size (Å/px).
    which : sequence of int
        Frames shown.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(2, len(which), figsize=(5.6 * len(which), 10.5), squeeze=False)
    for k, f in enumerate(which):
        show_image(axes[0, k], frames[f], pixel_size_A, f"frame {f + 1}: detected and classified",
                   bar_A=10)
        overlay_detections(axes[0, k], table[table.frame == f], legend=k == len(which) - 1)
        show_image(axes[1, k], frames[f], pixel_size_A, f"frame {f + 1}: ground truth", bar_A=10)
        overlay_truth(axes[1, k], truth[truth.frame == f], legend=k == len(which) - 1)
    fig.tight_layout()
    return fig


def plot_confusion(matches: pd.DataFrame):
    """Counts of predicted vs true class over all frames, with 'missed', 'none' and 'unknown'.

    Parameters
    ----------
    matches : DataFrame
        From :func:`helpers.evaluation.matching.match_table`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    ct = pd.crosstab(matches["true_class"], matches["pred_class"])
    rows = [c for c in list(MARKERS) + ["none"] if c in ct.index]
    cols = [c for c in list(MARKERS)[:6] + ["unknown", "missed"] if c in ct.columns]
    ct = ct.reindex(index=rows, columns=cols, fill_value=0)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    sns.heatmap(ct, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set_xlabel("analysis")
    ax.set_ylabel("truth")
    ax.set_title("all frames: detections and classes vs truth (Vs is not a library class)", fontsize=9)
    fig.tight_layout()
    return fig


#: grey levels of the animation: a GIF holds 256 palette entries, the rest are the class colours
ANIMATION_GREY_LEVELS = 32


def write_animation(frames, table, path: Path, every: int = 3, size_px: int = 256, fps: int = 8,
                    display_smooth_px: float = 1.0, overwrite: bool = True) -> Path:
    """GIF of the movie with class-coloured circles at the detections (Pillow).

    For display only, frames are smoothed by a Gaussian of ``display_smooth_px`` (shot noise
    compresses badly in a GIF), scaled to ``size_px`` and drawn in
    :data:`ANIMATION_GREY_LEVELS` grey levels of a fixed palette that also holds the class colours:
    no dithering, so the GIF stays a few hundred kB.

    Parameters
    ----------
    frames : ndarray (n, H, W)
    table : DataFrame
        Defects (frame from 0, x_px, y_px, class).
    path : Path
        The GIF.
    every : int
        Every how many frames one is shown.
    size_px : int
        Side of the GIF (px).
    fps : int
        Frames per second.
    display_smooth_px : float
        Display smoothing (px).
    overwrite : bool

    Returns
    -------
    Path
    """
    from matplotlib.colors import to_rgb
    from PIL import Image, ImageDraw
    from scipy import ndimage

    frames = np.asarray(frames)
    scale = size_px / frames.shape[2]
    lo, hi = np.percentile(ndimage.gaussian_filter(frames[0], display_smooth_px), [0.5, 99.8])
    grey = ANIMATION_GREY_LEVELS
    classes = sorted(set(table["class"])) if len(table) else []
    colours = [tuple(int(round(255 * c)) for c in to_rgb(class_colour(k))) for k in classes]
    palette = [v for g in np.linspace(0, 255, grey).round().astype(int) for v in (g, g, g)]
    palette += [v for rgb in colours + [(255, 255, 255)] for v in rgb]
    index = {k: grey + i for i, k in enumerate(classes)}
    white = grey + len(classes)
    out = []
    for f in range(0, len(frames), every):
        g = np.clip((ndimage.gaussian_filter(frames[f], display_smooth_px) - lo) / (hi - lo), 0, 1)
        im = Image.fromarray((g * 255).astype(np.uint8)).resize((size_px, size_px), Image.BILINEAR)
        levels = np.rint(np.asarray(im, float) / 255 * (grey - 1)).astype(np.uint8)
        im = Image.fromarray(levels, mode="P")
        im.putpalette(palette)
        draw = ImageDraw.Draw(im)
        for _, d in table[table.frame == f].iterrows():
            x, y, r = d.x_px * scale, d.y_px * scale, 5
            draw.ellipse((x - r, y - r, x + r, y + r), outline=index[d["class"]], width=2)
        draw.text((4, 4), f"frame {f + 1}", fill=white)
        out.append(im)
    with atomic_output(path, overwrite, ".gif.part") as tmp:
        out[0].save(tmp, format="GIF", save_all=True, append_images=out[1:], duration=int(1000 / fps),
                    loop=0)
    return Path(path)


def plot_column_ratios(table: pd.DataFrame, matches: pd.DataFrame, expected: dict, gain: float,
                       bins: int = 120):
    """Site-averaged column ratio of every measured detection, per sublattice, coloured by the true
    class of the defect it matched (grey: false detections), with the content each class should
    read (:func:`helpers.detect.columns.expected_contents`, scaled by the fitted gain) marked above.

    Parameters
    ----------
    table : DataFrame
        With ``column_ratio_mean`` and ``site``.
    matches : DataFrame
        From :func:`helpers.evaluation.matching.match_table`.
    expected : dict
        From :func:`helpers.detect.columns.expected_contents`.
    gain : float
    bins : int

    Returns
    -------
    matplotlib.figure.Figure
    """

    m = matches[matches["id"] >= 0].merge(table[["frame", "id", "site", "column_ratio_mean"]],
                                           on=["frame", "id"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for ax, (kind, contents) in zip(axes, expected.items()):
        sub = m[m["site"] == kind]
        cp = contents[PRISTINE_CONTENT_OF[kind]]
        lo, hi = min(contents.values()) - 0.25, max(contents.values()) + 0.25
        edges = np.linspace(lo, hi, bins)
        for cls, g in sub.groupby("true_class"):
            ax.hist(g["column_ratio_mean"].clip(lo, hi), bins=edges, histtype="step", lw=1.4,
                    color=class_colour(cls), label=f"{cls} ({len(g)})")
        for name, c in contents.items():
            x = cp + gain * (c - cp)
            ax.axvline(x, color="k", lw=0.6, ls=":")
            ax.text(x, 1.0, name, rotation=90, va="bottom", ha="center", fontsize=8,
                    transform=ax.get_xaxis_transform())
        ax.set_yscale("log")
        ax.set_xlabel("column ratio (site amplitude / pristine W), site-averaged")
        ax.set_title(f"{kind} sites", pad=28)
        ax.legend(fontsize=7, ncol=2, title="true class", title_fontsize=7)
    axes[0].set_ylabel("detections")
    fig.tight_layout()
    return fig
