"""HAADF-STEM simulation of WS2 defects with abTEM (PRISM multislice), and library windows.

Each defect is simulated once per imaging condition over a square field large enough to rotate and
crop a 64×64 window at 0.3 Å/px; orientations are made by rotating the simulated image, which is
valid because HAADF imaging is incoherent. The finite effective source size is applied
afterwards as a Gaussian blur (also incoherent). Lengths in Å, angles in mrad, energies in eV.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from helpers.core.validation import check_pixel_size
from helpers.core.windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX, cut_window
from helpers.library.structures import build_defect, class_index

#: Frozen-phonon r.m.s. displacements (Å, per direction) at room temperature; other elements
#: (dopants, other chalcogens) take PHONON_SIGMA_OTHER_A
PHONON_SIGMAS_A = {"W": 0.06, "Mo": 0.07, "S": 0.08}
PHONON_SIGMA_OTHER_A = 0.07


@dataclass(frozen=True)
class ImagingConditions:
    """Microscope and simulation settings of one simulated field."""

    energy_eV: float = 60e3
    semiangle_mrad: float = 30.0
    detector_inner_mrad: float = 80.0
    detector_outer_mrad: float = 200.0
    defocus_A: float = 0.0  # abTEM convention: positive = underfocus
    Cs_A: float = 0.0  # aberration-corrected
    potential_sampling_A: float = 0.07
    slice_thickness_A: float = 1.0
    phonon_configs: int = 4
    phonon_seed: int = 0
    prism_interpolation: int = 2

    def as_attrs(self) -> dict:
        """The conditions as a dict of HDF5 attributes (names carry their units)."""
        return asdict(self)


def electron_wavelength_A(energy_eV: float) -> float:
    """Relativistic electron wavelength in Å.

    Parameters
    ----------
    energy_eV : float
        Beam energy (eV).

    Returns
    -------
    float
        Wavelength (Å).
    """
    if energy_eV <= 0:
        raise ValueError(f"energy_eV must be positive, got {energy_eV}")
    h, m0, e, c = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 299792458.0
    lam = h / np.sqrt(2 * m0 * e * energy_eV * (1 + e * energy_eV / (2 * m0 * c**2)))
    return float(lam * 1e10)


def probe_fwhm_A(cond: ImagingConditions) -> float:
    """Diffraction-limited probe FWHM (Airy disc, ≈ 0.51 λ/α) in Å.

    Parameters
    ----------
    cond : ImagingConditions

    Returns
    -------
    float
        Probe FWHM (Å).
    """
    return 0.51 * electron_wavelength_A(cond.energy_eV) / (cond.semiangle_mrad * 1e-3)


def _fft_friendly(n: int) -> int:
    """Smallest integer ≥ n whose prime factors are 2, 3, 5 and 7 only."""
    m = max(int(n), 1)
    while True:
        k = m
        for p in (2, 3, 5, 7):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


@dataclass
class SimulatedField:
    """A simulated HAADF field (rows = y, cols = x) with the defect at ``defect_rc_px``."""

    image: np.ndarray
    pixel_size_A: float
    defect_rc_px: tuple[float, float]
    class_name: str
    conditions: ImagingConditions
    seconds: float
    gpts: tuple[int, int] = field(default=(0, 0))


def field_size_A(window_px: int = WINDOW_PX, pixel_size_A: float = LIBRARY_PIXEL_SIZE_A,
                 margin_A: float = 0.6) -> float:
    """Side of a square field that holds the window at any rotation (window diagonal + margin).

    Parameters
    ----------
    window_px : int
        Window size (px).
    pixel_size_A : float
        Window pixel size (Å/px).
    margin_A : float
        Extra margin (Å).

    Returns
    -------
    float
        Field side (Å).
    """
    return window_px * pixel_size_A * np.sqrt(2) + margin_A


def _prism_setup(atoms, conditions: ImagingConditions, exact_grid: bool = False):
    """abTEM objects of one PRISM simulation of ``atoms``: the scattering matrix (frozen phonons as
    ``conditions`` asks), the aberrations, the annular detector and the potential's grid.
    ``exact_grid``: a grid that the interpolation factor divides exactly (the library's fields keep
    the grid they were simulated with)."""
    import abtem

    abtem.config.set({"device": "cpu", "fft": "fftw", "precision": "float32"})
    cell = np.diag(atoms.cell)[:2]
    # potential sampling must reach the detector's outer angle after 2/3 antialiasing
    lam = electron_wavelength_A(conditions.energy_eV)
    max_sampling = lam / (2 * conditions.detector_outer_mrad * 1e-3) * (2 / 3) * 0.98
    sampling = min(conditions.potential_sampling_A, max_sampling)
    f = conditions.prism_interpolation
    gpts = tuple(_fft_friendly(int(np.ceil(c / sampling))) for c in cell)
    # make gpts divisible by the PRISM interpolation factor
    gpts = tuple(_fft_friendly(g + (-g) % f) if (g % f) else g for g in gpts)
    if exact_grid:
        gpts = tuple(next(m for m in range(g, 4 * g + f) if m % f == 0 and _fft_friendly(m) == m)
                     for g in gpts)
    if conditions.phonon_configs > 1:
        sigmas = {s: PHONON_SIGMAS_A.get(s, PHONON_SIGMA_OTHER_A) for s in set(atoms.get_chemical_symbols())}
        frozen = abtem.FrozenPhonons(atoms, num_configs=conditions.phonon_configs, sigmas=sigmas,
                                     seed=conditions.phonon_seed)
    else:
        frozen = atoms
    potential = abtem.Potential(frozen, gpts=gpts, projection="infinite",
                                slice_thickness=conditions.slice_thickness_A,
                                parametrization="lobato")
    detector = abtem.AnnularDetector(inner=conditions.detector_inner_mrad,
                                     outer=conditions.detector_outer_mrad)
    smatrix = abtem.SMatrix(potential=potential, energy=conditions.energy_eV,
                            semiangle_cutoff=conditions.semiangle_mrad, interpolation=f)
    ctf = abtem.CTF(defocus=conditions.defocus_A, Cs=conditions.Cs_A,
                    semiangle_cutoff=conditions.semiangle_mrad, energy=conditions.energy_eV)
    return smatrix, ctf, detector, gpts


def _scan(smatrix, scan, detector, ctf) -> np.ndarray:
    """Run a PRISM scan; the HAADF image as (rows = y, cols = x), phonon configurations averaged."""
    measurement = smatrix.scan(scan=scan, detectors=detector, ctf=ctf).compute(progress_bar=False)
    arr = np.asarray(measurement.array, dtype=np.float64)
    if arr.ndim == 3:  # frozen-phonon ensemble not yet reduced
        arr = arr.mean(axis=0)
    return arr.T.astype(np.float32)  # abTEM indexes (x, y); images here are (row=y, col=x)


def simulate_cell(atoms, conditions: ImagingConditions = ImagingConditions(),
                  pixel_size_A: float = 0.16) -> np.ndarray:
    """HAADF image of a whole periodic cell (abTEM PRISM), scanned from (0, 0) in steps of about
    ``pixel_size_A``: each side of the cell holds a whole number of pixels (step = side / pixels,
    within half a pixel per side of the request), so the image is exactly periodic; rows = y, cols = x.

    Parameters
    ----------
    atoms : ase.Atoms
        An orthogonal periodic cell (e.g. :func:`helpers.library.structures.ws2_with_defects`).
    conditions : ImagingConditions
    pixel_size_A : float
        Scan step (Å/px).

    Returns
    -------
    ndarray (H, W)
        Fraction of the beam on the detector per scan position.
    """
    import abtem

    ps = check_pixel_size(pixel_size_A)
    cell = np.diag(atoms.cell)[:2]
    check_window(int(min(cell) // ps), ps, conditions)  # the cell must hold a few probe widths
    n = [int(round(c / ps)) for c in cell]
    smatrix, ctf, detector, _ = _prism_setup(atoms, conditions, exact_grid=True)
    scan = abtem.GridScan(start=(0.0, 0.0), end=tuple(float(c) for c in cell), gpts=tuple(n),
                          endpoint=False)
    return _scan(smatrix, scan, detector, ctf)


def simulate_cell_cached(atoms, truth: list, conditions: ImagingConditions, pixel_size_A: float, path
                         ) -> tuple[np.ndarray, list, float, dict]:
    """:func:`simulate_cell`, kept in the ``.npz`` file ``path`` (simulated once, read after), with
    the defects' positions ``truth`` (dicts with ``x_A``, ``y_A``) moved into the image's own pixel
    grid: each side holds a whole number of pixels, so x and y steps differ slightly, and the image
    is then read with their mean.

    Parameters
    ----------
    atoms : ase.Atoms
    truth : list of dict
        Positions from the cell's origin (Å); changed in place.
    conditions : ImagingConditions
    pixel_size_A : float
        Requested scan step (Å/px).
    path : str or Path
        The cache file.

    Returns
    -------
    image : ndarray (H, W)
    truth : list of dict
    pixel_size_A : float
        The mean step of the image (Å/px).
    info : dict
        ``atoms``, ``cell_A``, ``pixel_size_xy_A``, ``simulation_s`` (of the first run), ``conditions``.
    """
    path = Path(path)
    if path.exists():
        z = np.load(path)
        image, seconds = z["image"], float(z["seconds"])
    else:
        t0 = time.perf_counter()
        image = simulate_cell(atoms, conditions, pixel_size_A)
        seconds = time.perf_counter() - t0
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, image=image, seconds=seconds)
    side = np.diag(atoms.cell)[:2]  # (x, y) Å
    ps_xy = side / np.array([image.shape[1], image.shape[0]])
    ps = float(ps_xy.mean())
    for d in truth:
        d["x_A"] *= ps / ps_xy[0]
        d["y_A"] *= ps / ps_xy[1]
    info = {"atoms": len(atoms), "cell_A": [round(float(v), 3) for v in side],
            "pixel_size_xy_A": [round(float(v), 5) for v in ps_xy], "simulation_s": round(seconds, 1),
            "conditions": conditions.as_attrs()}
    return image, truth, ps, info


def simulate_field(class_name: str, conditions: ImagingConditions = ImagingConditions(),
                   pixel_size_A: float = LIBRARY_PIXEL_SIZE_A, field_A: float | None = None,
                   window_px: int = WINDOW_PX, paired: bool = False) -> SimulatedField:
    """Simulate the HAADF image of one defect over a square field centred on it (abTEM PRISM).

    ``field_A`` defaults to :func:`field_size_A`. The supercell is at least ``field_A`` + 4 Å, so
    the field never shows the defect's periodic image. ``paired``: the defect's atoms come last
    (:func:`helpers.library.structures.build_defect`), so fields of two classes on one sublattice with the
    same ``conditions`` share every other atom's frozen-phonon displacements and differ only at
    the defect.

    Parameters
    ----------
    class_name : str
        One of the six library classes.
    conditions : ImagingConditions
        Beam energy, convergence and detector angles, defocus, phonons, seed.
    pixel_size_A : float
        Pixel size of the simulated field (Å/px).
    field_A : float, optional
        Width of the field (Å).
    window_px : int
        Window size the field must hold at any rotation (px).
    paired : bool
        Defect atoms last (paired simulations).

    Returns
    -------
    SimulatedField
        The HAADF intensity (H, W), its pixel size (Å/px), the defect position (px), the class, the
        conditions and the wall time (s).
    """
    import abtem  # heavy import only where simulation happens

    class_index(class_name)
    ps = check_pixel_size(pixel_size_A)
    check_window(window_px, ps, conditions)
    if field_A is None:
        field_A = field_size_A(window_px, ps)
    if field_A <= 0:
        raise ValueError(f"field_A must be positive, got {field_A}")
    atoms, site = build_defect(class_name, min_size_A=field_A + 4.0, defect_atoms_last=paired)
    smatrix, ctf, detector, gpts = _prism_setup(atoms, conditions)
    n = int(round(field_A / ps))
    half = n // 2
    start = (site[0] - half * ps, site[1] - half * ps)
    scan = abtem.GridScan(start=start, end=(start[0] + n * ps, start[1] + n * ps), gpts=(n, n),
                          endpoint=False)
    t0 = time.perf_counter()
    image = _scan(smatrix, scan, detector, ctf)
    seconds = time.perf_counter() - t0
    return SimulatedField(image=image, pixel_size_A=ps, defect_rc_px=(float(half), float(half)),
                          class_name=class_name, conditions=conditions, seconds=seconds, gpts=gpts)


def check_window(window_px: int, pixel_size_A: float, conditions: ImagingConditions = ImagingConditions()
                 ) -> None:
    """ValueError when a window cannot show a defect: not larger than a few probe widths.

    Parameters
    ----------
    window_px : int
        Window size (px).
    pixel_size_A : float
        Pixel size (Å/px).
    conditions : ImagingConditions
        The probe's conditions.

    Raises
    ------
    ValueError
    """
    ps = check_pixel_size(pixel_size_A)
    if int(window_px) != window_px or window_px < 1:
        raise ValueError(f"window_px must be a positive integer, got {window_px}")
    extent = window_px * ps
    need = 4 * probe_fwhm_A(conditions)
    if extent < need:
        raise ValueError(
            f"window of {window_px} px × {ps} Å/px = {extent:.2f} Å is smaller than the probe "
            f"region it must resolve (4 × probe FWHM = {need:.2f} Å)")


def apply_source_size(image: np.ndarray, pixel_size_A: float, source_fwhm_A: float) -> np.ndarray:
    """Blur with a Gaussian of FWHM ``source_fwhm_A`` (finite effective source size, incoherent).

    Parameters
    ----------
    image : ndarray (H, W)
    pixel_size_A : float
        Pixel size (Å/px).
    source_fwhm_A : float
        Effective source size (Å, FWHM).

    Returns
    -------
    ndarray (H, W)
    """
    ps = check_pixel_size(pixel_size_A)
    if not np.isfinite(source_fwhm_A) or source_fwhm_A < 0:
        raise ValueError(f"source_fwhm_A must be ≥ 0, got {source_fwhm_A}")
    if source_fwhm_A == 0:
        return np.asarray(image, dtype=np.float32)
    sigma_px = source_fwhm_A / (2 * np.sqrt(2 * np.log(2))) / ps
    return ndimage.gaussian_filter(np.asarray(image, dtype=np.float64), sigma_px,
                                   mode="nearest").astype(np.float32)


def field_to_window(sim_field: SimulatedField | np.ndarray, angle_deg: float, source_fwhm_A: float,
                    pixel_size_A: float | None = None, centre_rc_px=None, window_px: int = WINDOW_PX,
                    out_pixel_size_A: float = LIBRARY_PIXEL_SIZE_A) -> np.ndarray:
    """A library window: source-size blur, rotation by ``angle_deg`` about the defect, 64×64 crop.

    Parameters
    ----------
    sim_field : SimulatedField or ndarray (H, W)
        The field (an array needs ``pixel_size_A`` and ``centre_rc_px``).
    angle_deg : float
        Rotation about the defect (degrees).
    source_fwhm_A : float
        Source-size blur (Å, FWHM).
    pixel_size_A : float, optional
        Pixel size of an array field (Å/px).
    centre_rc_px : (float, float), optional
        Defect position in an array field (px).
    window_px : int
        Window size (px).
    out_pixel_size_A : float
        Window pixel size (Å/px).

    Returns
    -------
    ndarray (window_px, window_px) float32
    """
    if isinstance(sim_field, SimulatedField):
        image, ps, centre = sim_field.image, sim_field.pixel_size_A, sim_field.defect_rc_px
    else:
        image, ps, centre = sim_field, pixel_size_A, centre_rc_px
        if centre is None:
            raise ValueError("centre_rc_px is required when passing a bare array")
    ps = check_pixel_size(ps)
    blurred = apply_source_size(image, ps, source_fwhm_A)
    return cut_window(blurred, ps, centre, out_px=window_px, out_pixel_size_A=out_pixel_size_A,
                      angle_deg=angle_deg, order=3)


def projected_potential(atoms, sampling_A: float = 0.07) -> np.ndarray:
    """The projected electrostatic potential of ``atoms`` (rows = y, cols = x), in V·Å.

    Parameters
    ----------
    atoms : ase.Atoms
    sampling_A : float
        Sampling of the potential (Å).

    Returns
    -------
    ndarray (H, W)
    """
    import abtem

    check_pixel_size(sampling_A, "sampling_A")
    potential = abtem.Potential(atoms, sampling=sampling_A, projection="infinite",
                                parametrization="lobato")
    arr = potential.build().project().compute(progress_bar=False).array
    return np.asarray(arr).T
