"""Figure helpers: consistent style, and saving every figure to the profile's figures folder."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from helpers import config
from helpers.core.chemistry import CHALCOGENS, Z
from helpers.core.validation import check_pixel_size

CLASS_COLOURS = {"Sw": "#1b9e77", "Mo": "#d95f02", "W2s2": "#7570b3", "Vw": "#e7298a",
                 "Vs2": "#66a61e", "Ws": "#e6ab02", "Vs": "#a6761d", "unknown": "#666666"}


#: markers of the poster's WS2 classes
MARKERS = {"Sw": "s", "Mo": "D", "W2s2": "^", "Vw": "o", "Vs2": "v", "Ws": "P", "Vs": "x"}


#: the WS2 class standing for each role of the general vocabulary (``helpers.core.chemistry``)
_ROLE_OF = {"Vac_M": "Vw", "X_M": "Sw", "D_M": "Mo", "Vac_X2": "Vs2", "Vac_X": "Vs", "M_X2": "W2s2", "M_X": "Ws"}


#: colours and markers of chalcogen dopants (``Se_S``: one Se; ``Se2_S2``: both)
_CHALCOGEN_DOPANT = {"D_X": ("#1f78b4", "<"), "D2_X2": ("#a6cee3", ">")}


#: colours of further metal dopants, in order of their atomic number
_DOPANT_COLOURS = ("#d95f02", "#e31a1c", "#6a3d9a", "#b15928", "#ff7f00", "#cab2d6")


def class_role(name: str) -> str | None:
    """The role of a class name of the general vocabulary (``Vac_Mo`` → ``Vac_M``, ``Se_S`` →
    ``D_X``, ``V_Mo`` → ``D_M`` …; the WS2 names map to theirs), or None for other names.

    Parameters
    ----------
    name : str

    Returns
    -------
    str or None
    """

    ws2 = {v: k for k, v in _ROLE_OF.items()}
    if name in ws2:
        return ws2[name]
    if "_" not in name:
        return None
    a, b = name.split("_", 1)
    a0, b0 = a.rstrip("2"), b.rstrip("2")
    if b0 not in Z or (a != "Vac" and a0 not in Z):
        return None
    on_chalcogen = b0 in CHALCOGENS
    if a == "Vac":
        return ("Vac_X2" if b.endswith("2") else "Vac_X") if on_chalcogen else "Vac_M"
    if on_chalcogen:
        if a0 in CHALCOGENS:
            return "D2_X2" if a.endswith("2") else "D_X"
        return "M_X2" if b.endswith("2") else "M_X"
    return "X_M" if a0 in CHALCOGENS else "D_M"


def class_colour(name: str) -> str:
    """A class's colour: the poster's for WS2 names; for any material the colour of its role
    (a metal vacancy is pink in MoSe2 as in WS2), metal dopants told apart by element.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        A Matplotlib colour.
    """

    if name in CLASS_COLOURS:
        return CLASS_COLOURS[name]
    role = class_role(name)
    if role in _CHALCOGEN_DOPANT:
        return _CHALCOGEN_DOPANT[role][0]
    if role == "D_M":
        return _DOPANT_COLOURS[Z[name.split("_")[0]] % len(_DOPANT_COLOURS)]
    return CLASS_COLOURS[_ROLE_OF[role]] if role else "#666666"


def class_marker(name: str) -> str:
    """A class's marker: the poster's for WS2 names, the marker of its role for any material.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        A Matplotlib marker.
    """
    if name in MARKERS:
        return MARKERS[name]
    role = class_role(name)
    if role in _CHALCOGEN_DOPANT:
        return _CHALCOGEN_DOPANT[role][1]
    return MARKERS[_ROLE_OF[role]] if role else "o"


#: JPEG quality of saved figures that show images (micrographs, maps): high quality at a tenth of
#: a PNG's weight (shot noise does not compress losslessly)
SAVED_JPEG_QUALITY = 85
#: the formats a saved figure may take: lossless or vector for plots, JPEG only for images
_SAVED_FORMATS = ("png", "jpg", "pdf")


#: a saved image is at least this many pixels on a side to count as a micrograph (frames, maps),
#: whose resolution :func:`savefig` matches; smaller ones (64² windows) are enlarged as drawn
MICROGRAPH_MIN_SIDE_PX = 256
#: the lowest resolution a figure holding a micrograph is saved at (dpi): its text stays legible
MIN_MICROGRAPH_DPI = 100


def _micrograph_upsampling(fig, dpi: float) -> float:
    """How many figure pixels each data pixel of the most enlarged micrograph in ``fig`` would
    take at ``dpi`` (1.0 when the figure holds none). Rendering a frame at more pixels than it has
    adds no information, only weight: a noisy 512² frame drawn 800 px wide is a 2.4× heavier JPEG."""
    from matplotlib.transforms import Bbox

    fig.canvas.draw()
    worst = 1.0
    for ax in fig.axes:
        for im in ax.images:
            shape = np.shape(im.get_array())
            if min(shape[:2]) < MICROGRAPH_MIN_SIDE_PX:
                continue
            whole = im.get_window_extent()
            shown = Bbox.intersection(whole, ax.bbox)  # a zoomed panel shows part of the frame
            if shown is None or whole.width <= 0 or shown.width <= 0:
                continue
            data_px = shape[1] * shown.width / whole.width
            worst = max(worst, shown.width / fig.dpi * dpi / data_px)
    return worst


def savefig(fig, name: str, profile: str | None = None, dpi: int = 150) -> Path:
    """Save ``fig`` in the profile's figures folder and return the path. A figure that shows an
    image (frames, maps) is rendered as PNG and as JPEG (quality :data:`SAVED_JPEG_QUALITY`), a
    plot as PNG and as PDF (vector), and the smaller file is kept — JPEG for noisy micrographs (a
    PNG of shot noise weighs several times more), PNG for clean simulated windows, PDF for plots of
    many points. A figure holding a micrograph (an image ≥ :data:`MICROGRAPH_MIN_SIDE_PX` on a
    side) is saved at the resolution that draws its most enlarged micrograph at one figure pixel per
    data pixel (not above ``dpi``, not below :data:`MIN_MICROGRAPH_DPI`). A file of another format
    left by an earlier run is removed, so one figure has one file.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    name : str
        File stem.
    profile : {"paper", "ci"}, optional
        Chooses the folder (:func:`helpers.config.output_dirs`).
    dpi : int

    Returns
    -------
    Path
    """
    from io import BytesIO

    if not name or "/" in name:
        raise ValueError(f"figure name must be a bare file stem, got {name!r}")
    figs, _ = config.output_dirs(profile)
    if _shows_image(fig):
        dpi = max(MIN_MICROGRAPH_DPI, min(dpi, dpi / _micrograph_upsampling(fig, dpi)))
    rendered = {}
    for ext in (("png", "jpg") if _shows_image(fig) else ("png", "pdf")):
        buf = BytesIO()
        kw = {"pil_kwargs": {"quality": SAVED_JPEG_QUALITY}, "facecolor": "white"} if ext == "jpg" else {}
        fig.savefig(buf, format="jpeg" if ext == "jpg" else ext, dpi=dpi, bbox_inches="tight", **kw)
        rendered[ext] = buf.getvalue()
    ext = min(rendered, key=lambda e: len(rendered[e]))
    path = figs / f"{name}.{ext}"
    path.write_bytes(rendered[ext])
    for other in _SAVED_FORMATS:
        if other != ext:
            (figs / f"{name}.{other}").unlink(missing_ok=True)
    return path


def scalebar(ax, pixel_size_A: float, length_A: float = 5.0, colour: str = "white",
             loc: tuple[float, float] = (0.06, 0.08)) -> None:
    """Draw a scale bar of ``length_A`` Å on an image axis of pixel size ``pixel_size_A``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    pixel_size_A : float
        Pixel size (Å/px).
    length_A : float
    colour : str
    loc : (float, float)
        Position in axes fractions.
    """

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
    the pixel size is known.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    image : ndarray (H, W)
    pixel_size_A : float, optional
        Pixel size (Å/px).
    title : str, optional
    cmap : str
    bar_A : float, optional
        Scale bar length (Å).
    """
    ax.imshow(np.asarray(image), cmap=cmap, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if pixel_size_A is not None and bar_A:
        scalebar(ax, pixel_size_A, bar_A)


plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "font.size": 9})


#: JPEG quality and resolution of inline figures that show images (noisy micrographs: a PNG of noise
#: weighs ~10×); screen resolution, the saved figures keep print resolution
INLINE_JPEG_QUALITY = 80
INLINE_IMAGE_DPI = 80


def _shows_image(fig) -> bool:
    return any(ax.images for ax in fig.axes)


def palette_png(png: bytes) -> bytes:
    """``png`` redrawn with a palette of 256 colours (no dithering) when that is smaller: a plot of
    many antialiased lines holds thousands of shades that a palette of 256 draws indistinguishably,
    at a third to a quarter of the bytes. Used for the inline plots of the notebooks.

    Parameters
    ----------
    png : bytes
        A PNG file.

    Returns
    -------
    bytes
        The smaller of ``png`` and its palette version.
    """
    from io import BytesIO

    from PIL import Image

    im = Image.open(BytesIO(png)).convert("RGB")
    q = im.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buf = BytesIO()
    q.save(buf, format="PNG", optimize=True)
    return buf.getvalue() if buf.tell() < len(png) else png


def inline_figures_at_screen_weight() -> bool:
    """In a Jupyter kernel, show figures that hold an image (frames, maps) as JPEG at the inline
    resolution and line plots as palette PNG (:func:`palette_png`): the committed notebooks stay
    light, saved figures (:func:`savefig`) are unchanged. Returns whether a kernel was found.
    Called on import."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return False
    from io import BytesIO

    from matplotlib.figure import Figure

    plt.get_backend()  # resolve the inline backend now: its set-up registers the PNG formatter
    try:
        import matplotlib_inline.backend_inline  # noqa: F401
    except ImportError:
        pass

    def render(fig, fmt):
        buf = BytesIO()
        kw = {"pil_kwargs": {"quality": INLINE_JPEG_QUALITY}} if fmt == "jpeg" else {}
        fig.savefig(buf, format=fmt, dpi=INLINE_IMAGE_DPI if fmt == "jpeg" else plt.rcParams["figure.dpi"],
                    bbox_inches="tight",
                    facecolor="white", **kw)
        return palette_png(buf.getvalue()) if fmt == "png" else buf.getvalue()

    formatters = ip.display_formatter.formatters
    formatters["image/png"].for_type(Figure, lambda fig: None if _shows_image(fig) else render(fig, "png"))
    formatters["image/jpeg"].for_type(Figure, lambda fig: render(fig, "jpeg") if _shows_image(fig) else None)
    return True


inline_figures_at_screen_weight()
