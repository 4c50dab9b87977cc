"""Figures of notebook 00: structure models, simulation steps, the library grid, line profiles."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from helpers.figures.style import show_image
from helpers.library.physics import defect_line_profile, defect_signature
from helpers.library.structures import CLASS_DESCRIPTIONS, CLASS_NAMES, build_defect

ELEMENT_STYLE = {"W": ("#2b4c7e", 90), "Mo": ("#d95f02", 90), "S": ("#e6c229", 45)}


def plot_structures(radius_A: float = 7.0):
    """Top views ([001]) of the six defect models around the defect site; z order: metal on top.

    Parameters
    ----------
    radius_A : float
        Shown radius around the defect (Å).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(1, 6, figsize=(15, 2.9))
    for ax, name in zip(axes, CLASS_NAMES):
        atoms, site = build_defect(name, 20.0)
        pos = atoms.get_positions()
        sym = np.array(atoms.get_chemical_symbols())
        near = np.linalg.norm(pos[:, :2] - site, axis=1) < radius_A
        for el in ("S", "Mo", "W"):
            m = near & (sym == el)
            colour, size = ELEMENT_STYLE[el]
            ax.scatter(pos[m, 0] - site[0], pos[m, 1] - site[1], s=size, c=colour,
                       edgecolors="k", linewidths=0.4, label=el, zorder=3 if el != "S" else 2)
        ax.add_patch(plt.Circle((0, 0), 0.9, fill=False, ls="--", color="crimson", lw=1.2, zorder=4))
        ax.set_aspect("equal")
        ax.set_xlim(-radius_A, radius_A)
        ax.set_ylim(-radius_A, radius_A)
        ax.set_title(name, fontsize=11)
        ax.set_xlabel(CLASS_DESCRIPTIONS[name].split("(")[0].strip(), fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], marker="o", ls="", color=ELEMENT_STYLE[e][0], label=e)
               for e in ("W", "Mo", "S")]
    fig.legend(handles=handles, loc="upper right", ncol=3, fontsize=8)
    fig.suptitle("Defect models in monolayer 2H-WS$_2$ seen along [001] (dashed: defect site)",
                 y=1.04)
    return fig


def plot_library_grid(lib, title: str = "Simulated HAADF-STEM library"):
    """One row per class, one column per orientation (the poster's 45-image figure).

    Parameters
    ----------
    lib : Library
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    orients = sorted(set(lib.orientation_deg.tolist()))
    fig, axes = plt.subplots(len(lib.class_names), len(orients),
                             figsize=(1.45 * len(orients), 1.55 * len(lib.class_names)))
    for r, name in enumerate(lib.class_names):
        for c, ang in enumerate(orients):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            hit = np.flatnonzero((lib.labels == r) & (lib.orientation_deg == ang))
            if len(hit) == 0:
                ax.axis("off")
                continue
            i = hit[0]
            show_image(ax, lib.images[i], lib.pixel_size_A if (r, c) == (0, 0) else None, bar_A=5)
            if r == 0:
                ax.set_title(f"{ang:g}°", fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=11)
    fig.suptitle(f"{title}: {len(lib)} windows, 64×64 px at {lib.pixel_size_A} Å/px", y=1.0)
    fig.tight_layout()
    return fig


def plot_simulation_steps(atoms, site, potential_image, potential_sampling_A, field, window,
                          window_pixel_size_A):
    """Structure → projected potential → HAADF field → rotated, blurred library window.

    Parameters
    ----------
    atoms : ase.Atoms
    site : ndarray (2,)
        Defect position (Å).
    potential_image : ndarray
    potential_sampling_A : float
        Sampling (Å).
    field : SimulatedField
    window : ndarray (64, 64)
    window_pixel_size_A : float
        Pixel size (Å/px).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    pos = atoms.get_positions()
    sym = np.array(atoms.get_chemical_symbols())
    for el in ("S", "W"):
        m = sym == el
        axes[0].scatter(pos[m, 0], pos[m, 1], s=ELEMENT_STYLE[el][1] / 4, c=ELEMENT_STYLE[el][0])
    axes[0].plot(*site, "r+", ms=14, mew=2)
    axes[0].set_aspect("equal")
    axes[0].set_title("1. ASE supercell (defect: +)")
    axes[0].set_xlabel("x (Å)")
    show_image(axes[1], np.sqrt(np.clip(potential_image, 0, None)), potential_sampling_A,
               "2. projected potential (√ scale)", cmap="magma")
    show_image(axes[2], field.image, field.pixel_size_A,
               f"3. HAADF field ({field.seconds:.0f} s)")
    show_image(axes[3], window, window_pixel_size_A, "4. blurred, rotated 64×64 window")
    fig.tight_layout()
    return fig


def plot_line_profiles(lib, orientation_deg: float = 0.0, length_A: float = 12.0):
    """Each class's window with the profile line, and the profile, with its signature numbers.

    Parameters
    ----------
    lib : Library
    orientation_deg : float
        The orientation shown.
    length_A : float
        Profile length (Å).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(2, 6, figsize=(16, 5.6), gridspec_kw={"height_ratios": [1, 0.9]})
    table = []
    for c, name in enumerate(lib.class_names):
        i = np.flatnonzero((lib.labels == c) & (lib.orientation_deg == orientation_deg))[0]
        img = lib.images[i]
        x, prof, ends = defect_line_profile(img, lib.pixel_size_A, length_A)
        sig = defect_signature(img, lib.pixel_size_A)
        show_image(axes[0, c], img, lib.pixel_size_A if c == 0 else None, name)
        axes[0, c].plot(ends[:, 1], ends[:, 0], color="cyan", lw=1)
        axes[0, c].plot(32, 32, "r+", ms=8)
        ax = axes[1, c]
        norm = (prof - sig.background) / sig.W_ref
        ax.plot(x, norm, color="k", lw=1.2)
        ax.axvline(0, color="r", ls=":", lw=1)
        ax.axhline(1.0, color="#2b4c7e", ls="--", lw=0.8)
        ax.axhline(sig.S2_ref / sig.W_ref, color="#e6c229", ls="--", lw=0.8)
        ax.set_ylim(-0.1, 1.6)
        ax.set_xlabel("distance from defect site (Å)")
        if c == 0:
            ax.set_ylabel("intensity / pristine W column")
        ax.set_title(f"centre = {sig.centre_over_W:.2f} W = {sig.centre_over_S2:.2f} S$_2$",
                     fontsize=8)
        table.append((name, sig.centre_over_W, sig.centre_over_S2, sig.S2_ref / sig.W_ref))
    fig.suptitle("Line profiles through each defect (dashed: pristine W = 1 and pristine S$_2$)",
                 y=1.0)
    fig.tight_layout()
    return fig, table


def plot_resimulation_check(records):
    """Shipped windows (top) and their re-simulations (bottom) with the correlation of each pair.

    Parameters
    ----------
    records : list of dict
        From :func:`helpers.library.files.resimulate_and_compare`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(2, len(records), figsize=(2.2 * len(records), 4.6), squeeze=False)
    for k, r in enumerate(records):
        axes[0, k].imshow(r["shipped"], cmap="gray")
        axes[0, k].set_title(f"shipped {r['class']}", fontsize=9)
        axes[1, k].imshow(r["window"], cmap="gray")
        axes[1, k].set_title(f"re-sim r={r['correlation']:.3f}", fontsize=9)
        for ax in axes[:, k]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig
