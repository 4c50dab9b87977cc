"""Images of any 2H TMD with chosen column contents on chosen sites (tests and experiments beyond the
WS2 movie): incoherent Σ Zⁿ columns through a Gaussian probe with a tail, shot noise (Å, px)."""
from __future__ import annotations

import numpy as np

from helpers.core.chemistry import CHALCOGEN, CHALCOGENS, METAL, Z, Chemistry
from helpers.core.validation import check_pixel_size
from helpers.synthetic.render import probe_kernel, render_columns


def tmd_sites(chem: Chemistry, size_px: int, pixel_size_A: float, origin_A=(0.0, 0.0)) -> list:
    """Every site of a 2H lattice (a along x) inside a square frame: (sublattice, i, j, x_A, y_A),
    the lattice shifted by ``origin_A`` (x, y).

    Parameters
    ----------
    chem : Chemistry
    size_px : int
        Side of the frame (px).
    pixel_size_A : float
        Å/px.
    origin_A : (float, float)
        Position of site (0, 0) of the metal sublattice (Å).

    Returns
    -------
    list of tuple
    """
    check_pixel_size(pixel_size_A)
    a = chem.lattice_a_A
    a1, a2 = np.array([a, 0.0]), np.array([a / 2, a * np.sqrt(3) / 2])
    n_cells = int(size_px * pixel_size_A / a) + 4  # along a1
    n_rows = int(size_px * pixel_size_A / a2[1]) + 4  # along a2 (rows of the lattice are a·√3/2 apart)
    out = []
    for i in range(-n_rows // 2 - 2, n_cells + 2):
        for j in range(-2, n_rows + 2):
            base = i * a1 + j * a2 + np.asarray(origin_A, float)
            for sub, off in ((METAL, np.zeros(2)), (CHALCOGEN, (a1 + a2) / 3)):
                x, y = base + off
                if 0 <= x < (size_px - 1) * pixel_size_A and 0 <= y < (size_px - 1) * pixel_size_A:
                    out.append((sub, i, j, float(x), float(y)))
    return out


def render_tmd(chem: Chemistry, planted: dict, pixel_size_A: float, size_px: int, dose_e_per_A2: float,
               rng: np.random.Generator, exponent: float = 1.7, origin_A=(0.0, 0.0),
               probe_fwhm_A: float = 1.0, tail_fwhm_A: float = 3.0, tail_fraction: float = 0.1,
               distortion=None, adatoms=()):
    """One frame (counts) of a 2H TMD with the contents ``planted`` {(sublattice, i, j): name} on
    those sites, every other site pristine, and single atoms ``adatoms`` off the lattice.

    Parameters
    ----------
    chem : Chemistry
        Material and dopants (the names of ``planted`` come from its vocabulary).
    planted : dict
    pixel_size_A : float
    size_px : int
    dose_e_per_A2 : float
        Electrons per Å² of the frame.
    rng : numpy.random.Generator
        For the shot noise.
    exponent : float
        HAADF exponent n (column intensity Σ Zⁿ).
    origin_A : (float, float)
        Lattice shift (drift) in Å.
    probe_fwhm_A, tail_fwhm_A, tail_fraction : float
        Probe core and tail (:func:`helpers.synthetic.render.probe_kernel`).
    distortion : callable, optional
        Scan distortion: (rows, cols) px of the columns → their displacement (d_rows, d_cols) px,
        applied before rendering (the truth moves with it).
    adatoms : sequence of (x_A, y_A, element)
        Single atoms (a hollow site: :func:`hollow_sites_A`), moved by the distortion too; not in
        the truth.

    Returns
    -------
    image : ndarray (size_px, size_px) float32
    truth : list of (x_A, y_A, name)
        The sites whose content is not pristine.
    """
    atoms = chem.site_contents()
    rows, cols, weights, names, xy = [], [], [], [], []
    for sub, i, j, x, y in tmd_sites(chem, size_px, pixel_size_A, origin_A):
        name = planted.get((sub, i, j), chem.pristine(sub))
        rows.append(y / pixel_size_A)
        cols.append(x / pixel_size_A)
        weights.append(sum(Z[e] ** exponent for e in atoms[sub][name]) / Z[chem.metal] ** exponent)
        names.append(None if name == chem.pristine(sub) else name)
        xy.append((x, y))
    for x, y, element in adatoms:
        rows.append(y / pixel_size_A)
        cols.append(x / pixel_size_A)
        weights.append(Z[element] ** exponent / Z[chem.metal] ** exponent)
    rows, cols = np.array(rows), np.array(cols)
    d_rows, d_cols = distortion(rows, cols) if distortion is not None else (np.zeros(len(rows)),) * 2
    truth = [(x + dc * pixel_size_A, y + dr * pixel_size_A, nm)
             for (x, y), dr, dc, nm in zip(xy, d_rows, d_cols, names) if nm]  # (the adatoms come last: left out)
    rows, cols = rows + d_rows, cols + d_cols
    return _counts(size_px, rows, cols, weights, pixel_size_A, dose_e_per_A2, rng, probe_fwhm_A, tail_fwhm_A,
                   tail_fraction), truth


def hollow_sites_A(chem: Chemistry, size_px: int, pixel_size_A: float, margin_A: float = 0.0) -> np.ndarray:
    """(x, y) Å of every hollow site (the empty third site of each hexagon) of :func:`tmd_sites`'
    lattice at least ``margin_A`` inside the frame.

    Parameters
    ----------
    chem : Chemistry
    size_px : int
    pixel_size_A : float
    margin_A : float

    Returns
    -------
    ndarray (n, 2)
    """
    a = chem.lattice_a_A
    step = (np.array([a, 0.0]) + np.array([a / 2, a * np.sqrt(3) / 2])) * (2 / 3)  # hollow − metal site
    side = (size_px - 1) * pixel_size_A
    xy = np.array([(x, y) for sub, _, _, x, y in tmd_sites(chem, size_px, pixel_size_A) if sub == METAL]) + step
    return xy[np.all((xy >= margin_A) & (xy <= side - margin_A), axis=1)]


def plant_point_defects(chem: Chemistry, size_px: int, pixel_size_A: float, share: float,
                        rng: np.random.Generator, away_from=None, min_distance_A: float = 5.0) -> dict:
    """Point defects of every class of ``chem``'s vocabulary on a ``share`` of the sites of
    :func:`tmd_sites` (each class equally likely), none within ``min_distance_A`` of the points
    ``away_from`` (x, y Å; adatoms, the hollow sites they visit), for :func:`render_tmd`.

    Parameters
    ----------
    chem : Chemistry
    size_px : int
    pixel_size_A : float
    share : float
        Chance that a site holds a defect (0–1).
    rng : numpy.random.Generator
    away_from : array (n, 2), optional
    min_distance_A : float

    Returns
    -------
    dict
        {(sublattice, i, j): content name}.
    """
    from scipy.spatial import cKDTree

    near = cKDTree(np.asarray(away_from, float).reshape(-1, 2)) if away_from is not None and len(away_from) else None
    contents = chem.site_contents()
    planted = {}
    for sub, i, j, x, y in tmd_sites(chem, size_px, pixel_size_A):
        if rng.random() < share and (near is None or near.query((x, y))[0] >= min_distance_A):
            names = [c for c in contents[sub] if c != chem.pristine(sub)]
            planted[(sub, i, j)] = names[rng.integers(len(names))]
    return planted


def half_converted(chem: Chemistry, size_px: int, pixel_size_A: float, converted: float,
                   rng: np.random.Generator, vacancies: float = 0.02) -> dict:
    """The contents of a sheet whose right half is converting to the chemistry's named chalcogen
    substituent (Se in ``WS2 --dopants Se``): ``converted`` of that half's chalcogen columns hold
    one or two substituent atoms (``Se_S`` / ``Se2_S2``, each drawn with equal odds), and
    ``vacancies`` of the left half's sites a vacancy of their sublattice. For :func:`render_tmd`.

    Parameters
    ----------
    chem : Chemistry
        With exactly one chalcogen among its dopants.
    size_px : int
    pixel_size_A : float
    converted, vacancies : float
        Shares (0–1).
    rng : numpy.random.Generator

    Returns
    -------
    dict
        {(sublattice, i, j): name}.
    """
    subs = [d for d in chem.dopants if d in CHALCOGENS and d != chem.chalcogen]
    if len(subs) != 1:
        raise ValueError(f"{chem.material} with dopants {chem.dopants}: name one chalcogen substituent")
    x_, h = subs[0], chem.chalcogen
    one, two = f"{x_}_{h}", f"{x_}2_{h}2"  # the vocabulary's names (Se_S, Se2_S2)
    contents = chem.site_contents()
    vacancy = {sub: next(n for n, atoms in contents[sub].items() if not atoms) for sub in contents}
    half = size_px * pixel_size_A / 2
    planted = {}
    for sub, i, j, x, _ in tmd_sites(chem, size_px, pixel_size_A):
        if x > half and sub == "chalcogen" and rng.random() < converted:
            planted[(sub, i, j)] = str(rng.choice([one, two]))
        elif x <= half and rng.random() < vacancies:
            planted[(sub, i, j)] = vacancy[sub]
    return planted


def _counts(size_px: int, rows, cols, weights, pixel_size_A: float, dose_e_per_A2: float,
            rng: np.random.Generator, probe_fwhm_A: float, tail_fwhm_A: float, tail_fraction: float) -> np.ndarray:
    """Columns of ``weights`` (metal columns) at (``rows``, ``cols``) px through the probe, as a
    fraction of the beam plus background, and their shot noise at the dose (counts, float32)."""
    shape = (size_px, size_px)
    kernel = np.fft.rfft2(probe_kernel(shape, pixel_size_A, probe_fwhm_A, tail_fwhm_A, tail_fraction))
    img = render_columns(shape, np.asarray(rows, float), np.asarray(cols, float), np.asarray(weights, float), kernel)
    img = img / img.max() * 0.8 + 0.02  # a fraction of the beam, plus background
    return rng.poisson(img * dose_e_per_A2 * pixel_size_A ** 2).astype(np.float32)


#: structures of :func:`render_tmd_domain`: where the metal, the chalcogen-site and the hollow-site
#: columns of the host's cell go inside the domain, as (metal, chalcogen site, hollow site) contents
#: in chalcogen atoms except the metal ("M")
DOMAINS = {
    "1T": ("M", 1, 1),  # one chalcogen of each pair moved to the hollow site
    "inversion": ("M", 0, 2),  # the 2H cell turned by 60° about a metal site: the pair on the hollow site
    "swap": (2, "M", 0),  # turned by 60° about a hollow site: metal and chalcogen pair exchanged
}


def render_tmd_domain(chem: Chemistry, domain: str, centre_A, radius_A: float, pixel_size_A: float,
                      size_px: int, dose_e_per_A2: float, rng: np.random.Generator, exponent: float = 1.7,
                      probe_fwhm_A: float = 1.0, tail_fwhm_A: float = 3.0, tail_fraction: float = 0.1):
    """One frame (counts) of a pristine 2H TMD with a disc of another structure (:data:`DOMAINS`)
    that keeps the host's hexagonal lattice: a 1T patch or an inversion domain.

    Parameters
    ----------
    chem : Chemistry
    domain : str
        A key of :data:`DOMAINS`.
    centre_A : (float, float)
        Centre of the disc (x, y Å).
    radius_A : float
    pixel_size_A : float
    size_px : int
    dose_e_per_A2 : float
    rng : numpy.random.Generator
    exponent, probe_fwhm_A, tail_fwhm_A, tail_fraction : float
        As :func:`render_tmd`.

    Returns
    -------
    ndarray (size_px, size_px) float32
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}: one of {sorted(DOMAINS)}")
    a = chem.lattice_a_A
    step = (np.array([a, 0.0]) + np.array([a / 2, a * np.sqrt(3) / 2])) / 3  # chalcogen site − metal site
    one = Z[chem.chalcogen] ** exponent / Z[chem.metal] ** exponent  # one chalcogen atom, in metal columns
    rows, cols, weights = [], [], []
    pad = int(np.ceil(a / pixel_size_A))  # metal sites up to a lattice constant outside the frame
    for sub, _, _, x, y in tmd_sites(chem, size_px + 2 * pad, pixel_size_A):
        if sub != METAL:
            continue
        x, y = x - pad * pixel_size_A, y - pad * pixel_size_A
        inside = np.hypot(x - centre_A[0], y - centre_A[1]) < radius_A
        contents = DOMAINS[domain] if inside else ("M", 2, 0)
        for k, c in enumerate(contents):
            w = 1.0 if c == "M" else c * one
            px_x, px_y = (x + k * step[0]) / pixel_size_A, (y + k * step[1]) / pixel_size_A
            if w > 0 and 0 <= px_x < size_px - 1 and 0 <= px_y < size_px - 1:
                rows.append(px_y)
                cols.append(px_x)
                weights.append(w)
    return _counts(size_px, rows, cols, weights, pixel_size_A, dose_e_per_A2, rng, probe_fwhm_A, tail_fwhm_A,
                   tail_fraction)
