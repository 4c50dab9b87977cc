"""Movies of single atoms hopping between the hollow sites of a 2H TMD, with their truth: the check
of adatom tracks and moves (:mod:`helpers.kinetics.adatom_tracks`) beyond single frames.

Adatoms of one element start on hollow sites at least ``2 a`` apart and ``margin_A`` inside the
frame; between two frames each moves with probability ``hop`` to one of its six neighbouring hollow
sites (one lattice constant a away) that stays inside the margin and farther than ``1.5 a`` from
every other adatom. A share of the lattice sites holds point defects of the material's vocabulary,
at least 5 Å from every hollow site an adatom visits. The lattice drifts by ``drift_A`` per frame
along x plus a random walk of ``walk_A``; each frame is rendered by
:func:`helpers.synthetic.tmd_image.render_tmd` (incoherent Σ Zⁿ columns, a 1 Å probe with a 10 %
tail, shot noise). Lengths in Å, positions (x, y) Å.

Public: :class:`AdatomMovie`, :func:`hopping_adatoms`, :func:`adatom_movie`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from helpers.core.chemistry import Chemistry, chemistry_of
from helpers.synthetic.tmd_image import hollow_sites_A, plant_point_defects, render_tmd

__all__ = ["AdatomMovie", "hopping_adatoms", "adatom_movie"]


@dataclass
class AdatomMovie:
    """A rendered movie of hopping adatoms and its truth."""

    frames: np.ndarray  #: (frames, H, W) counts
    chemistry: Chemistry
    pixel_size_A: float
    on_lattice_A: np.ndarray  #: (frames, adatoms, 2) x, y Å on the lattice (drift not added)
    in_image_A: np.ndarray  #: (frames, adatoms, 2) x, y Å in the image

    @property
    def hops(self) -> list:
        """(adatom, frame it arrived in) of every move."""
        step = np.hypot(*np.moveaxis(np.diff(self.on_lattice_A, axis=0), -1, 0))  # (frames − 1, adatoms)
        a = self.chemistry.lattice_a_A
        return [(int(n), int(t) + 1) for t, n in zip(*np.nonzero(step > 0.5 * a))]

    @property
    def paths_in_first_frame_A(self) -> np.ndarray:
        """(frames, adatoms, 2) true positions with the drift since the first frame taken out: where
        a track's drift-corrected positions (``x_corr_A``, ``y_corr_A``) should lie."""
        return self.on_lattice_A + (self.in_image_A[0] - self.on_lattice_A[0])

    @property
    def hop_rate(self) -> float:
        """Moves per adatom per frame interval, as realised."""
        T, K, _ = self.on_lattice_A.shape
        return len(self.hops) / (K * (T - 1)) if T > 1 and K else float("nan")


def hopping_adatoms(hollows, lattice_a_A: float, hop: float, n_adatoms: int, n_frames: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Positions of adatoms hopping between ``hollows`` (module text).

    Parameters
    ----------
    hollows : ndarray (n, 2)
        Hollow sites (x, y Å) the adatoms may occupy.
    lattice_a_A : float
        Lattice constant (Å): the distance of neighbouring hollow sites.
    hop : float
        Chance per frame that an adatom moves (0–1).
    n_adatoms : int
        Adatoms wanted; fewer when the sites 2 a apart run out.
    n_frames : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray (n_frames, adatoms, 2)
    """
    if not 0.0 <= hop <= 1.0:
        raise ValueError(f"hop must be a chance per frame in 0–1, got {hop!r}")
    hollows = np.asarray(hollows, float).reshape(-1, 2)
    a = float(lattice_a_A)
    start = []
    for k in rng.permutation(len(hollows)):
        if all(np.hypot(*(hollows[k] - hollows[s])) >= 2 * a for s in start):
            start.append(k)
        if len(start) == n_adatoms:
            break
    at = np.array(start, int)
    tree = cKDTree(hollows)
    out = [hollows[at]]
    for _ in range(1, n_frames):
        for n in rng.permutation(len(at)):
            if rng.random() >= hop:
                continue
            others = hollows[np.delete(at, n)]
            nb = [k for k in tree.query_ball_point(hollows[at[n]], 1.1 * a) if k != at[n]
                  and (not len(others) or np.hypot(*(others - hollows[k]).T).min() > 1.5 * a)]
            if nb:
                at[n] = nb[rng.integers(len(nb))]
        out.append(hollows[at])
    return np.stack(out)


def adatom_movie(material: str, element: str, dose_e_per_A2: float, hop: float, seed: int,
                 n_frames: int = 40, size_px: int = 400, pixel_size_A: float = 0.15, n_adatoms: int = 12,
                 margin_A: float = 16.0, defect_share: float = 0.01, drift_A: float = 0.15,
                 walk_A: float = 0.05) -> AdatomMovie:
    """A movie of ``element`` adatoms hopping on a ``material`` sheet (module text).

    Parameters
    ----------
    material, element : str
        The sheet (:func:`helpers.core.chemistry.chemistry_of`) and the adatoms' element.
    dose_e_per_A2 : float
        Electrons per Å² of a frame.
    hop : float
        Chance per frame that an adatom moves.
    seed : int
        One seed for everything drawn.
    n_frames, size_px : int
    pixel_size_A : float
    n_adatoms : int
    margin_A, defect_share, drift_A, walk_A : float

    Returns
    -------
    AdatomMovie
    """
    chem = chemistry_of(material, [])
    rng = np.random.default_rng(seed)
    hollows = hollow_sites_A(chem, size_px, pixel_size_A, margin_A=margin_A)
    traj = hopping_adatoms(hollows, chem.lattice_a_A, hop, n_adatoms, n_frames, rng)
    planted = plant_point_defects(chem, size_px, pixel_size_A, defect_share, rng,
                                  away_from=np.unique(traj.reshape(-1, 2).round(3), axis=0))
    steps = np.column_stack([np.full(n_frames - 1, drift_A), np.zeros(n_frames - 1)])
    origins = np.cumsum(np.vstack([[0.0, 0.0], steps + rng.normal(0.0, walk_A, (n_frames - 1, 2))]), axis=0)
    frames = []
    for t in range(n_frames):
        o = origins[t]
        img, _ = render_tmd(chem, planted, pixel_size_A, size_px, dose_e_per_A2, rng, origin_A=tuple(o),
                            adatoms=[(x + o[0], y + o[1], element) for x, y in traj[t]])
        frames.append(img)
    return AdatomMovie(np.stack(frames).astype(np.float64), chem, float(pixel_size_A), traj,
                       traj + origins[:, None, :])
