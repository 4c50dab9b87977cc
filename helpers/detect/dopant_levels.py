"""The reading of a named dopant measured on the image itself, where enough of its sites are there.

A dopant's column reading is modelled from the host's: (Z_dopant / Z_host)ⁿ with the HAADF
exponent n measured from the pristine sublattices, or the prior 1.7 where that measurement is
implausible (:func:`helpers.core.chemistry.plausible_exponent`). One exponent does not fit every
element: in multislice WSe2 a Mo column reads 0.45 of a W column, where n = 1.7 models 0.38 (the
Se₂/W ratio implies 1.28), and a V column 0.16 where 1.7 models 0.14. With the model's level, the
brighter third of the Mo sites read closer to the host than to it and were reported pristine.

:func:`fit_dopant_levels` fits the atom reading of each named dopant to the readings of its
sublattice: a mixture of Gaussians at every content's reading (gain applied, each with the noise
of its level), the dopant's atom reading and the contents' shares free, the others fixed (EM).
(Leaving out of this fit a content of another element that reads close to the dopant's, one Se on
a W site beside Mo, did as well on the multislice frames and worse on the real images' injected
defects: the dopant's level then took in the other content's sites.) The fitted reading is shrunk towards the model by its standard error
against a prior as wide as the plausible exponents allow (:data:`HAADF_EXPONENT_RANGE`), and kept
inside the levels that range gives: a handful of sites leaves the model nearly as it was, tens of
sites measure the level. The contents' split is fitted afterwards as before
(:func:`helpers.detect.site_model.content_shares`).

A single image's split of the defect prior among the contents
(:func:`helpers.detect.site_model.content_shares`) starts from, and is pulled towards, weights in
which each content holding a named dopant counts :data:`NAMED_DOPANT_WEIGHT` times any other
(:func:`named_dopant_split`): the user names a dopant because the sample holds it, while an antisite
or a vacancy is one of many possibilities. With the equal split, a third of the Mo sites of
multislice WSe2 frames, whose readings fall between the Mo level and one Se on a W site, were
called ``Se_W``. The same contents (:func:`named_dopant_contents`) may take more of the sites than
the defect prior allows where the image shows them (``content_shares(abundant=…)``).

Public: :data:`NAMED_DOPANT_WEIGHT`, :class:`DopantLevels`, :func:`fit_dopant_levels`,
:func:`named_dopant_contents`, :func:`named_dopant_split`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers.core.chemistry import CHALCOGENS, HAADF_EXPONENT_RANGE, Z, Chemistry
from helpers.detect.site_noise import log_emission

__all__ = ["NAMED_DOPANT_WEIGHT", "DopantLevels", "fit_dopant_levels", "named_dopant_contents",
           "named_dopant_split"]

#: weight of a content holding a named dopant in a single image's prior split, against 1 for any
#: other defect content (:func:`named_dopant_split`)
NAMED_DOPANT_WEIGHT = 3.0


@dataclass
class DopantLevels:
    """Atom readings (pristine-metal units) measured for the named dopants, with the model's and
    the number of sites (summed posterior shares) each rests on."""

    levels: dict = field(default_factory=dict)
    modelled: dict = field(default_factory=dict)
    sites: dict = field(default_factory=dict)

    def note(self, chem: Chemistry, differ: float = 0.1) -> str | None:
        """One line for the reading's warnings where a measured atom reading differs from the
        modelled one by more than ``differ`` of it; None otherwise."""
        off = [e for e in self.levels if abs(self.levels[e] - self.modelled[e]) > differ * self.modelled[e]]
        if not off:
            return None
        parts = [f"{e} {self.levels[e]:.3f} of a {chem.metal} column, not the {self.modelled[e]:.3f} the "
                 f"exponent models ({self.sites[e]:.0f} site readings)" for e in off]
        return "dopant atoms read on the image, used for their contents: " + "; ".join(parts)


def fit_dopant_levels(readings, kinds, usable, metal_level: float, chalcogen_level: float,
                      chemistry: Chemistry, exponent: float, gain: float, noise_of,
                      atom_levels: dict | None = None, min_sites: float = 5.0,
                      max_readings: int = 50_000, steps: int = 30) -> DopantLevels:
    """Fit the atom reading of each dopant of ``chemistry`` (not already in ``atom_levels``) to the
    readings of the sublattice it sits on (see the module's docstring).

    Parameters
    ----------
    readings : ndarray (n,)
        Site readings (pristine-metal units), every frame.
    kinds : ndarray (n,)
        Sublattice of each reading.
    usable : ndarray (n,) bool
        Readings in the lattice's area.
    metal_level, chalcogen_level : float
        Pristine readings of the two sublattices.
    chemistry : Chemistry
    exponent : float
        HAADF exponent used for the modelled levels.
    gain : float
        Factor by which a content change shows in the readings.
    noise_of : callable
        Content reading → noise of one reading.
    atom_levels : dict, optional
        Elements whose atom reading is already measured (an alloy's metal, a ladder's substituent).
    min_sites : float
        Fewest dopant site readings (summed shares) to fit on.
    max_readings : int
        Readings used per sublattice (the rest subsampled, weighted).
    steps : int
        EM steps.

    Returns
    -------
    DopantLevels
    """
    atom_levels = dict(atom_levels or {})
    rng = np.random.default_rng(0)
    out = DopantLevels()
    lo_n, hi_n = HAADF_EXPONENT_RANGE
    for el in chemistry.dopants:
        if el in atom_levels:
            continue
        sub_host = chemistry.chalcogen if el in CHALCOGENS else chemistry.metal
        host_atom = {chemistry.metal: metal_level, chemistry.chalcogen: chalcogen_level / 2}[sub_host]
        ratio = Z[el] / Z[sub_host]
        a0 = host_atom * ratio ** exponent
        a_hi, a_lo = sorted((host_atom * ratio ** lo_n, host_atom * ratio ** hi_n), reverse=True)
        tau = (a_hi - a_lo) / 2
        c0 = chemistry.contents(metal_level, chalcogen_level, exponent, {**atom_levels, el: 0.0})
        c1 = chemistry.contents(metal_level, chalcogen_level, exponent, {**atom_levels, el: 1.0})
        for sub in c0:
            names = list(c0[sub])
            m = np.array([c1[sub][k] - c0[sub][k] for k in names])
            if not np.any(m > 0):
                continue
            base = np.array([c0[sub][k] for k in names])
            cp = base[0]
            dop = m > 0
            x = np.asarray(readings, float)[(np.asarray(kinds) == sub) & np.asarray(usable, bool)]
            x = x[np.isfinite(x)]
            wx = np.ones(len(x))
            if len(x) > max_readings:
                x = rng.choice(x, max_readings, replace=False)
                wx = np.full(len(x), len(wx) / max_readings)
            if not len(x):
                continue
            K = len(base)
            w = np.full(K, 0.02 / max(K - 1, 1))
            w[0] = 0.98
            a = a0
            for _ in range(steps):
                mu = cp + gain * (base + m * a - cp)
                sd = noise_of(mu)
                le = log_emission(x, mu, sd) + np.log(np.maximum(w, 1e-12))[None]
                r = np.exp(le - le.max(1, keepdims=True))
                r = r / r.sum(1, keepdims=True) * wx[:, None]
                w = (r.sum(0) + 0.1) / (r.sum() + 0.1 * K)
                num = (r[:, dop] * (m[dop] * gain) * (x[:, None] - cp - gain * (base[dop] - cp))
                       / sd[dop] ** 2).sum()
                den = (r[:, dop] * (m[dop] * gain) ** 2 / sd[dop] ** 2).sum()
                if den <= 0:
                    break
                a = num / den
            n_dop = float(r[:, dop].sum())
            if n_dop < min_sites or den <= 0:
                continue
            se2 = 1.0 / den
            shrink = tau ** 2 / (tau ** 2 + se2)
            out.levels[el] = float(np.clip(a0 + shrink * (a - a0), a_lo, a_hi))
            out.modelled[el] = float(a0)
            out.sites[el] = n_dop
    return out


def named_dopant_contents(names, chemistry: Chemistry) -> np.ndarray:
    """Which of the contents ``names`` (one sublattice) hold a dopant of ``chemistry``.

    Parameters
    ----------
    names : sequence of str
        Content names as :meth:`Chemistry.site_contents` labels them.
    chemistry : Chemistry

    Returns
    -------
    ndarray (len(names),) of bool
    """
    atoms = {k: v for d in chemistry.site_contents().values() for k, v in d.items()}
    return np.array([any(e in chemistry.dopants for e in atoms.get(k, ())) for k in names], bool)


def named_dopant_split(names, chemistry: Chemistry) -> np.ndarray:
    """Relative prior weights of the contents ``names`` (one sublattice, pristine first):
    :data:`NAMED_DOPANT_WEIGHT` for a content holding a dopant of ``chemistry``, 1 for the others.

    Parameters
    ----------
    names : sequence of str
        Content names as :meth:`Chemistry.site_contents` labels them.
    chemistry : Chemistry

    Returns
    -------
    ndarray (len(names),)
    """
    return np.where(named_dopant_contents(names, chemistry), NAMED_DOPANT_WEIGHT, 1.0)
