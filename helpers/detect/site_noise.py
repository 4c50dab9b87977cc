"""The noise of one site reading and the likelihood of a reading under each content.

A reading's noise grows with the column's content, as shot noise does (:func:`reading_noise`,
:func:`reading_sd`), so the contents' Gaussians have different widths. Taken as they are, two
Gaussians of different widths cross twice: far below the emptiest content a reading becomes more
likely under a fuller, noisier content again: a chalcogen site reading far under the vacancy level
(a dark background, the edge of a hole) could be decoded as a pristine S₂ column, whose Gaussian is
wider than the vacancy's, while a reading at the vacancy level is decoded as a vacancy.
:func:`log_emission` reads with each content's Gaussian, except that beyond the extreme contents
no content gains on the extreme one: a lower reading never makes a content more likely against the
emptiest content, and readings near the contents are read as before.

Public: :func:`reading_noise`, :func:`reading_sd`, :func:`log_emission`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["reading_noise", "reading_sd", "log_emission"]


def reading_noise(metal_level: float, chalcogen_level: float, metal_sd: float, chalcogen_sd: float):
    """The noise of one site reading as a line in its content (shot noise: the variance grows
    linearly with the content), fixed by the two pristine contents and their measured noise.

    Where the line would leave an empty column (almost) noiseless, a quarter of the chalcogen's
    variance is kept and the line goes through the metal's; without a rise, the larger variance.

    Parameters
    ----------
    metal_level, chalcogen_level : float
        Pristine readings of the two sublattices.
    metal_sd, chalcogen_sd : float
        Their measured noise (same units).

    Returns
    -------
    tuple of float
        (floor, slope): variance = floor + slope × content (see :func:`reading_sd`).
    """
    slope = ((metal_sd ** 2 - chalcogen_sd ** 2) / (metal_level - chalcogen_level)
             if abs(metal_level - chalcogen_level) > 1e-6 * metal_level else 0.0)
    if slope > 0:
        floor = chalcogen_sd ** 2 - slope * chalcogen_level
        if floor < 0.25 * chalcogen_sd ** 2:
            floor = 0.25 * chalcogen_sd ** 2
            slope = max((metal_sd ** 2 - floor) / metal_level, 0.0)
    else:
        slope, floor = 0.0, max(metal_sd, chalcogen_sd) ** 2
    return float(floor), float(slope)


def reading_sd(content, floor: float, slope: float):
    """Noise (standard deviation) of one reading of ``content`` on the line of :func:`reading_noise`.

    Parameters
    ----------
    content : float or ndarray
    floor, slope : float

    Returns
    -------
    float or ndarray
    """
    return np.sqrt(np.maximum(floor + slope * np.maximum(content, 0.0), 0.25 * floor))


def _log_gauss(x, mu, sd):
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd)


def log_emission(x, means, sd, scale=None) -> np.ndarray:
    """Log-likelihood (up to a constant) of each reading under each content, each content's
    Gaussian, except that beyond the extreme contents no content gains on the extreme one.

    Below the lowest content's reading, the log-ratio of each content to the lowest one follows the
    Gaussians as long as it falls with the reading and stays at its smallest value beyond that point
    (it turns only for a content noisier than the lowest, at
    (μₖ/σₖ² − μ₀/σ₀²) / (1/σₖ² − 1/σ₀²)); above the highest content, the same with the highest. So
    a reading further below the emptiest content never makes another content more likely against
    it, and readings near the contents are read with the plain Gaussians.

    Parameters
    ----------
    x : ndarray
        Readings (any shape, flattened; NaN gives NaN rows).
    means : ndarray (K,)
        Each content's reading.
    sd : float or ndarray (K,)
        Each content's noise.
    scale : ndarray, optional
        Each reading's noise over ``sd`` (a site's local noise), the shape of ``x``.

    Returns
    -------
    ndarray (x.size, K)
    """
    x = np.asarray(x, float).ravel()
    mu = np.asarray(means, float)
    K = len(mu)
    s = np.broadcast_to(np.asarray(sd, float), (K,))
    f = np.ones(len(x)) if scale is None else np.broadcast_to(np.asarray(scale, float).ravel(), x.shape)
    le = _log_gauss(x[:, None], mu[None], s[None] * f[:, None])
    for e, below in ((int(np.argmin(mu)), True), (int(np.argmax(mu)), False)):
        rows = np.flatnonzero(x < mu[e] if below else x > mu[e])
        wider = s > s[e] * (1 + 1e-9)
        if not len(rows) or not wider.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):  # the log-ratio's turning point
            turn = np.where(wider, (mu / s ** 2 - mu[e] / s[e] ** 2) / (1 / s ** 2 - 1 / s[e] ** 2),
                            -np.inf if below else np.inf)
        xr = x[rows, None]
        xc = np.maximum(xr, turn[None]) if below else np.minimum(xr, turn[None])
        sr = s[None] * f[rows, None]
        ratio = _log_gauss(xc, mu[None], sr) - _log_gauss(xc, mu[e], sr[:, e:e + 1])
        le[rows] = le[rows, e:e + 1] + ratio
    return le
