"""The command's figures in its result folder: overlays of the first and last frame (with the masked
areas of a site reading and the edge of the area where defects are reported) and, for stacks, the
counts per class over time (frames from 1)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.detect.areas import READ_LABELS, rim_px
from helpers.detect.site_model import SiteParams
from helpers.figures import analysis as af
from helpers.figures import tracking as tkf
from helpers.figures.style import show_image
from helpers.kinetics import tracking as tk


def write_result_figures(frames, pixel_size_A: float, name: str, table, folder: Path, classes, first: int = 0,
                         reading=None) -> None:
    """``overlay_first.png``, ``overlay_last.png`` (stacks) and ``counts_over_time.png`` (stacks).

    Parameters
    ----------
    frames : ndarray (n, H, W) or a lazy stack
    pixel_size_A : float
        Pixel size (Å/px).
    name : str
        The file's name, in the overlays' titles.
    table : DataFrame
        The defects (frames from 0).
    folder : Path
        Where the figures go.
    classes : list of str
        The classes counted.
    first : int
        The file's frame (from 0) that ``frames`` starts at: titles count from it, from 1.
    reading : SiteReading, optional
        Its masked areas are drawn (``area_map_of``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(frames)
    if n > 1:
        counts = tk.counts_over_time(table, classes, n)
        fig = tkf.plot_counts(counts, counts.iloc[:0], classes)
        fig.savefig(folder / "counts_over_time.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
    for which, f in (("first", 0), ("last", n - 1)):
        if which == "last" and n == 1:
            break
        fig, ax = plt.subplots(figsize=(8, 7))
        show_image(ax, frames[f], pixel_size_A, f"{name}: frame {first + f + 1}", bar_A=10)
        if reading is not None:
            area_map, offset = reading.area_map_of(f)
            edge = read_area_edge(ax, frames[f].shape, pixel_size_A, area_map, offset)
            af.overlay_areas(ax, area_map, offset, extra=[edge])
            af.overlay_adatoms(ax, getattr(reading, "adatoms", None), f)
        af.overlay_detections(ax, table[table.frame == f])
        fig.savefig(folder / f"overlay_{which}.png", dpi=120, bbox_inches="tight")
        plt.close(fig)


def read_area(shape, pixel_size_A: float, area_map=None, offset_rc=(0.0, 0.0), p: SiteParams | None = None,
              step_A: float = 0.5):
    """Where a site can be reported as a defect, on a grid: the frame less its edge margin, less every
    masked area of ``area_map`` (shifted by ``offset_rc`` px) and the sites within a fitting disc of
    it (:func:`helpers.detect.areas.rim_px`).

    Parameters
    ----------
    shape : (int, int)
        The frame's (rows, cols).
    pixel_size_A : float
        Pixel size (Å/px).
    area_map : AreaMap, optional
    offset_rc : (float, float)
        Shift of the map into this frame (px).
    p : SiteParams, optional
        The reading's settings (the command's defaults when None).
    step_A : float
        Grid step (Å) without a map (with one: the map's own grid, on which it labels the sites).

    Returns
    -------
    (ndarray, ndarray, ndarray)
        Grid rows and columns (px) and the (rows, cols) bool grid.
    """
    p = p or SiteParams()
    h, w = shape[:2]
    m = p.margin_px(pixel_size_A)
    step = area_map.step_px if area_map is not None else max(1.0, step_A / pixel_size_A)
    y, x = np.arange(0, h, step), np.arange(0, w, step)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    read = (yy >= m) & (yy <= h - 1 - m) & (xx >= m) & (xx <= w - 1 - m)
    if area_map is not None:
        pos = np.stack([yy.ravel(), xx.ravel()], 1) - np.asarray(offset_rc, float)[None]
        label = area_map.at(pos, rim_px(p.areas, p.radius_A, pixel_size_A)).reshape(yy.shape)
        read &= np.isin(label, READ_LABELS)
    return y, x, read


def read_area_edge(ax, shape, pixel_size_A: float, area_map=None, offset_rc=(0.0, 0.0), p: SiteParams | None = None):
    """Outline (dotted) of :func:`read_area` on ``ax``; returns its legend handle (a
    ``matplotlib.lines.Line2D``). Parameters as :func:`read_area`."""
    from matplotlib.lines import Line2D

    p = p or SiteParams()
    y, x, read = read_area(shape, pixel_size_A, area_map, offset_rc, p)
    if read.any() and not read.all():
        ax.contour(x, y, read.astype(float), [0.5], colors="0.85", linewidths=0.9, linestyles=":")
    return Line2D([], [], color="0.6", lw=0.9, ls=":",
                  label=f"read-area edge: {p.margin_px(pixel_size_A) * pixel_size_A:.1f} Å from the frame edge, "
                        f"{rim_px(p.areas, p.radius_A, 1.0):g} Å from masked areas")
