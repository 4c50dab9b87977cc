"""The command's figures in its result folder: overlays of the first and last frame (with the masked
areas of a site reading) and, for stacks, the counts per class over time (frames from 1)."""
from __future__ import annotations

from pathlib import Path

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
            af.overlay_areas(ax, *reading.area_map_of(f))
            af.overlay_adatoms(ax, getattr(reading, "adatoms", None), f)
        af.overlay_detections(ax, table[table.frame == f])
        fig.savefig(folder / f"overlay_{which}.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
