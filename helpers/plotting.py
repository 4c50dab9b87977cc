"""Figure helpers: consistent style, and saving every figure to the profile's figures folder."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import config

CLASS_COLOURS = {"Sw": "#1b9e77", "Mo": "#d95f02", "W2s2": "#7570b3", "Vw": "#e7298a",
                 "Vs2": "#66a61e", "Ws": "#e6ab02", "Vs": "#a6761d", "unknown": "#666666"}


def savefig(fig, name: str, profile: str | None = None, dpi: int = 150) -> Path:
    """Save ``fig`` as ``<figures dir>/<name>.png`` and return the path."""
    if not name or "/" in name:
        raise ValueError(f"figure name must be a bare file stem, got {name!r}")
    figs, _ = config.output_dirs(profile)
    path = figs / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def scalebar(ax, pixel_size_A: float, length_A: float = 5.0, colour: str = "white",
             loc: tuple[float, float] = (0.06, 0.08)) -> None:
    """Draw a scale bar of ``length_A`` Å on an image axis of pixel size ``pixel_size_A``."""
    from .validation import check_pixel_size

    ps = check_pixel_size(pixel_size_A)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = abs(x1 - x0), abs(y1 - y0)
    px = length_A / ps
    xs = min(x0, x1) + loc[0] * w
    ys = max(y0, y1) - loc[1] * h
    ax.plot([xs, xs + px], [ys, ys], color=colour, lw=3, solid_capstyle="butt")
    ax.text(xs + px / 2, ys - 0.03 * h, f"{length_A:g} Å", color=colour, ha="center", va="bottom",
            fontsize=8)


def show_image(ax, image, pixel_size_A: float | None = None, title: str | None = None,
               cmap: str = "gray", bar_A: float | None = 5.0) -> None:
    """An image on ``ax`` in grey, without ticks, with a title and a scale bar of ``bar_A`` Å when
    the pixel size is known."""
    ax.imshow(np.asarray(image), cmap=cmap, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if pixel_size_A is not None and bar_A:
        scalebar(ax, pixel_size_A, bar_A)


plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "font.size": 9})
