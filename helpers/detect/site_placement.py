"""Where the sites are placed when the chalcogen columns' content varies over the sheet.

The reading places every site by the local phase of the three first-order reflections, weighted
least squares (:func:`helpers.detect.site_measure.local_displacements`; two, the lattice basis's,
until 5 December 2026). The phase of a first-order reflection
is that of the unit cell's structure factor, f_M + f_X·e^(−2πi g·c), plus −2π g·u for a
displacement u. Where the chalcogen column's scattering f_X changes — a sheet converting from S to
Se, a Janus or alloyed chalcogen sublattice, Se implanted into MoS2, a 1T patch — that phase
changes too, and two reflections take the change for a displacement: the sites move off their
columns (rendered sheets with 30–90 % of one half's S₂ columns turned to SSe or Se₂: median position
error 0.03–0.16 Å in WS2 and 0.10–0.28 Å in MoS2; with three reflections 0.022–0.029 Å,
``experiments/converting_sheets.py``). The weighted three-reflection placement leaves the change out
exactly where the three amplitudes are equal (it turns their phases by (ψ, −ψ, −ψ), which no
displacement makes), and only partly where a real frame shows them unequal.

Three first-order reflections that sum to zero, chosen so that the chalcogen site has the same
phase in each (:func:`invariant_displacements`), see any change of the cell's content as one common
phase, which no displacement makes. They fix the displacement up to the translates of the
honeycomb (a third of a cell along the metal–chalcogen bond, which turns the three phases alike),
so the result is folded onto the translate nearest the two-reflection placement
(:func:`fold_onto`): unambiguous, and independent of the content.

:func:`placement_displacements` is what the reading calls; :func:`chalcogen_varies` decides from the
chemistry when the invariant placement is used (``SiteParams.invariant_placement`` None).

Positions are (row, col) px.
"""
from __future__ import annotations

import numpy as np

from helpers.core.chemistry import CHALCOGENS, Chemistry
from helpers.detect.areas import local_fields
from helpers.detect.column_model import ColumnLattice
from helpers.detect.site_measure import local_displacements


def chalcogen_varies(chemistry: Chemistry) -> bool:
    """Whether the chalcogen columns of ``chemistry`` may hold two elements (a chalcogen among the
    dopants, as in a mixed-chalcogen material such as ``WSSe``): then the invariant placement is
    used by default.

    Parameters
    ----------
    chemistry : Chemistry

    Returns
    -------
    bool
    """
    return any(d in CHALCOGENS and d != chemistry.chalcogen for d in chemistry.dopants)


def honeycomb_translates(lattice: ColumnLattice, reach: int = 2) -> np.ndarray:
    """The displacements (m, 2) px that three first-order reflections cannot tell from a change of
    content: k·c + n₁a₁ + n₂a₂ (c the metal-to-chalcogen offset, k = 0, 1, 2; |nᵢ| ≤ ``reach``).

    Parameters
    ----------
    lattice : ColumnLattice
    reach : int

    Returns
    -------
    ndarray (m, 2)
    """
    A = lattice.vectors
    c = np.asarray(lattice.chalcogen_frac, float) @ A
    n = np.arange(-reach, reach + 1)
    k, n1, n2 = (g.ravel() for g in np.meshgrid(np.arange(3), n, n, indexing="ij"))
    return k[:, None] * c + n1[:, None] * A[0] + n2[:, None] * A[1]


def fold_onto(displacements, reference, lattice: ColumnLattice) -> np.ndarray:
    """Each of ``displacements`` (n, 2) px moved by the honeycomb translate
    (:func:`honeycomb_translates`) that brings it nearest the same row of ``reference`` (n, 2) px.

    Parameters
    ----------
    displacements, reference : ndarray (n, 2)
    lattice : ColumnLattice

    Returns
    -------
    ndarray (n, 2)
    """
    v = np.asarray(displacements, float).reshape(-1, 2)
    u = np.asarray(reference, float).reshape(-1, 2)
    if v.shape != u.shape:
        raise ValueError(f"displacements {v.shape} and reference {u.shape} differ in shape")
    T = honeycomb_translates(lattice)
    best = np.empty(len(v), int)
    for s in range(0, len(v), 4096):  # (chunk, m, 2) at a time: memory bounded on a 4k² frame
        d = v[s:s + 4096, None, :] + T[None] - u[s:s + 4096, None, :]
        best[s:s + 4096] = np.argmin((d ** 2).sum(-1), 1)
    return v + T[best]


def placement_displacements(image, lattice: ColumnLattice, origin_rc, sigma_px: float, positions,
                            invariant: bool = False) -> np.ndarray:
    """The local displacement (n, 2) px of each of ``positions`` from the frame's lattice: the
    two-reflection phase (:func:`helpers.detect.site_measure.local_displacements`), or where
    ``invariant`` the three-reflection one (:func:`invariant_displacements`) folded onto it.

    Parameters
    ----------
    image : ndarray (H, W)
    lattice : ColumnLattice
    origin_rc : ndarray (2,)
        A metal site (px) of the frame's lattice.
    sigma_px : float
        Smoothing of the phase fields (px).
    positions : ndarray (n, 2)
        The sites on the frame's lattice (px).
    invariant : bool

    Returns
    -------
    ndarray (n, 2)
    """
    u = local_displacements(image, lattice, origin_rc, sigma_px, positions)
    if not invariant:
        return u
    return fold_onto(invariant_displacements(image, lattice, positions, sigma_px), u, lattice)


def invariant_displacements(image, lattice: ColumnLattice, positions, sigma_px: float) -> np.ndarray:
    """Local displacement (n, 2) px of the metal sublattice from ``positions`` (metal sites of the
    frame's lattice), from three first-order reflections that sum to zero.

    Geometric phase analysis on two reflections (:func:`helpers.detect.site_measure.local_displacements`)
    takes a change of the unit cell's own structure phase for a displacement: in a 1T area the
    chalcogen atom on the hollow site turns the phases of the first-order reflections by tens of
    degrees, and the sites placed there move by ≈ 0.1 Å. The three reflections g₁ + g₂ + g₃ = 0
    chosen so that the chalcogen site has the same phase in each (:func:`_invariant_triple`) see
    such a change as one common phase ψ, which no displacement makes (a displacement u moves the
    three phases by −2π gₖ·u, which sum to zero). Each site's local phases, less those its
    position predicts, are ψ − 2π gₖ·u; their circular mean over the three reflections (ψ) is
    taken off site by site and the least-squares u leaves the rest of it out.

    Parameters
    ----------
    image : ndarray (H, W)
    lattice : ColumnLattice
    positions : ndarray (n, 2)
        Metal sites (px).
    sigma_px : float
        Smoothing of the phase fields (px).

    Returns
    -------
    ndarray (n, 2)
    """
    from scipy import ndimage

    img = np.asarray(image, np.float64)
    G = _invariant_triple(lattice)
    step = max(int(sigma_px / 4), 1)  # the demodulated fields are smooth on the scale of σ
    fields = local_fields(img - img.mean(), G, sigma_px, step)
    pad = int(np.ceil(3 * sigma_px))  # local_fields' phases count from its padded frame's corner
    p = np.asarray(positions, float).reshape(-1, 2)
    q = (p / step).T
    # the field's phase at a metal site r is arg F − 2π g·(r + pad): add back what the site predicts
    phase = np.stack([np.angle(ndimage.map_coordinates(f.real, q, order=1, mode="nearest")
                               + 1j * ndimage.map_coordinates(f.imag, q, order=1, mode="nearest"))
                      + 2 * np.pi * ((p + pad) @ g) for f, g in zip(fields, G)], 1)
    # ψ, the same for the three reflections of a site (and for any displacement: Σ gₖ = 0), taken
    # off site by site, so that a site of another content or sublattice keeps its own
    common = np.angle(np.exp(1j * phase).sum(1, keepdims=True))
    phase = np.angle(np.exp(1j * (phase - common)))
    return -(phase @ np.linalg.pinv(G).T) / (2 * np.pi)


def _invariant_triple(lattice: ColumnLattice) -> np.ndarray:
    """Three first-order reciprocal vectors (cycles/px, rows) that sum to zero, with the same
    phase g·c (mod 1) at the chalcogen site c."""
    b1, b2 = lattice.reciprocal
    cf = np.asarray(lattice.chalcogen_frac, float)
    third = b1 + b2 if np.linalg.norm(b1 + b2) < np.linalg.norm(b1 - b2) else b1 - b2
    k3 = np.array([1.0, 1.0]) if np.allclose(third, b1 + b2) else np.array([1.0, -1.0])  # third in b1, b2
    for s1 in (1, -1):
        for s2 in (1, -1):
            for s3 in (1, -1):
                ks = np.array([[s1, 0.0], [0.0, s2], s3 * k3])
                if np.allclose(ks.sum(0), 0):
                    ph = (ks @ cf) % 1.0
                    if np.allclose(ph, ph[0], atol=1e-6):
                        return ks @ np.stack([b1, b2])
    raise ValueError("no first-order triple with one chalcogen phase: not a honeycomb lattice")
