"""What a site can hold and the hidden Markov model of its content through time."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers.core.chemistry import CHALCOGEN, METAL, Chemistry, chemistry_of
from helpers.core.windows import LIBRARY_PIXEL_SIZE_A, WINDOW_PX
from helpers.detect.areas import AreaParams
from helpers.detect.scan_glitches import GlitchParams
from helpers.detect.site_noise import log_emission

#: the chemistry read unless another is given: WS2 with Mo as its substituent (the poster's classes)
WS2 = chemistry_of("WS2")


#: the single chalcogen vacancy (one atom of a chalcogen column missing)
VS = "Vs"


PRISTINE = {METAL: WS2.pristine(METAL), CHALCOGEN: WS2.pristine(CHALCOGEN)}


#: class names of a WS2 reading (the poster's names; the single S vacancy as ``Vs``)
CONTENT_CLASSES = {k: tuple(WS2.site_contents()[k])[1:] for k in (METAL, CHALCOGEN)}


DEFECT_CLASSES = WS2.defect_classes()


UNKNOWN = "unknown"


#: default margin (Å) from the frame edge inside which no site is read: the classifier window's half
EDGE_MARGIN_A = WINDOW_PX * LIBRARY_PIXEL_SIZE_A / 2


SITE_COLUMNS = ["frame", "kind", "i", "j", "row", "col", "x_A", "y_A", "amplitude", "ratio", "content",
                "z", "significant", "class", "probability", "area"]


#: class of a site in an area the lattice does not describe (:mod:`helpers.detect.areas`): read, not decoded
MASKED = "masked"


def class_contents(metal_ratio: float, chalcogen_ratio: float, chemistry: Chemistry = WS2,
                   exponent: float | None = None, atom_levels: dict | None = None) -> dict:
    """Expected reading (in pristine-metal units) of every content on each sublattice, pristine
    first, from the measured pristine levels (:meth:`helpers.core.chemistry.Chemistry.contents`; the
    HAADF exponent from their ratio unless given).

    Parameters
    ----------
    metal_ratio, chalcogen_ratio : float
        Measured pristine readings (metal units).
    chemistry : Chemistry
    exponent : float, optional
        HAADF exponent.
    atom_levels : dict, optional
        Element → its measured atom reading (:meth:`Chemistry.contents`).

    Returns
    -------
    dict
        Sublattice → {content: reading}.
    """
    n = chemistry.exponent_from_ratio(chalcogen_ratio / metal_ratio) if exponent is None else exponent
    return chemistry.contents(metal_ratio, chalcogen_ratio, n, atom_levels)


#: per frame and site: a defect appears on a pristine site (born or hopped in), leaves (healed or
#: hopped out), changes into another defect content — the prior of the site model, chosen once
#: as orders of magnitude of what beam-driven defects do; a movie refits them (:func:`fit_transitions`)
APPEAR_PER_FRAME, LEAVE_PER_FRAME, CHANGE_PER_FRAME = 1e-3, 0.02, 0.01


#: prior probability that a site holds a defect in the first frame (or in a single image)
PRIOR_DEFECT = 0.01


#: a site is reported as a defect when the posterior probability of its pristine content is below
#: this
PRISTINE_BELOW = 0.5


@dataclass
class SiteParams:
    """Settings of the site reading (lengths in Å)."""

    radius_A: float = 5.0  # fitting disc of each site
    edge_margin_A: float = EDGE_MARGIN_A
    sum_half_window: int = 2  # movies: each frame read on its registered sum with ±this many
    reference_neighbours: int = 12
    bins: int = 4
    #: follow scan distortion and strain: place each site by the local lattice phase
    #: (:mod:`helpers.detect.site_placement`), smoothed over ``distortion_sigma_A``
    follow_distortion: bool = True
    distortion_sigma_A: float = 5.0
    #: place by three reflections, which a change of the chalcogen content does not move
    #: (:mod:`helpers.detect.site_placement`); None: where the chemistry has a second chalcogen
    invariant_placement: bool | None = None
    #: a site is reported as a defect when the posterior probability of its pristine content is
    #: below this
    pristine_below: float = PRISTINE_BELOW
    #: width σ (Å) of the halo term of the calibration reading (:func:`_site_filters`): each site is
    #: read twice, with Gaussian cores only (least noise, what is decoded) and with a halo term
    #: (unbiased content); the second calibrates the gain of the first
    halo_A: float = 2.0
    #: widths (Å) the empty metal columns test the halo on (:mod:`helpers.detect.site_halo`); the
    #: movie is read again with another only when its empty columns read off zero by more than
    #: ``halo_tolerance`` (metal units) and four standard errors with ``halo_A``; () to skip the test
    halo_choices_A: tuple = (1.0, 1.5, 2.0, 3.0)
    halo_tolerance: float = 0.015
    #: a single image: each site's noise from the sites within this radius
    #: (:func:`helpers.detect.site_measure.local_noise_scale`); 0 (default): the frame's noise
    #: everywhere — on the real-data check the local noise steadied the crops but cost recall
    #: (docs/site_reading.md, "Local noise")
    local_noise_A: float = 0.0
    #: find the areas the lattice does not describe (holes, contamination, thicker layers, other
    #: grains: :func:`helpers.detect.areas.find_areas`) and never report their sites as defects
    mask_areas: bool = True
    areas: AreaParams = field(default_factory=AreaParams)
    #: movies: the areas are found on every this many-th frame (each frame: a hole that opens or
    #: grows, or vacuum that drift brings in, is masked from the frame it appears in; ≈ 15 ms per
    #: 512² frame); a frame uses the map of the last frame it was found on
    areas_every: int = 1
    #: movies, with a map on every frame: rows unlike the same rows of the neighbouring frames (a
    #: blank, saturated or shifted band: :mod:`helpers.detect.scan_glitches`) are masked in that frame;
    #: None: not looked for
    scan_glitches: GlitchParams | None = field(default_factory=GlitchParams)
    #: read a masked grain of another orientation with its own lattice (:mod:`helpers.detect.grains`)
    read_grains: bool = True
    #: mask areas whose hollow sites hold atoms (1T phase, inversion domain:
    #: :mod:`helpers.detect.hollow_sites`) as ``other_phase``
    other_phase: bool = True
    adatoms: bool = True  # single atoms on hollow sites found, their neighbours read apart (helpers.detect.adatoms)

    def margin_px(self, pixel_size_A: float) -> float:
        """Distance (px) from the frame edge inside which no site is read.

        Parameters
        ----------
        pixel_size_A : float
            Pixel size (Å/px).

        Returns
        -------
        float
        """
        return max(self.edge_margin_A, self.radius_A) / pixel_size_A


def transition_matrix(K: int, appear: float, leave: float, change: float, pristine: int = 0) -> np.ndarray:
    """Per-frame content changes of one site (K contents, ``pristine`` the pristine one): a defect
    appears on a pristine site with probability ``appear`` (born, or hopped in), leaves it with
    ``leave`` (healed, or hopped out), turns into another defect content with ``change``; each
    shared evenly among the contents it can go to.

    Parameters
    ----------
    K : int
    appear, leave, change : float
        Per-frame probabilities.
    pristine : int
        Index of the pristine content.

    Returns
    -------
    ndarray (K, K)
    """
    T = np.full((K, K), change / max(K - 2, 1))
    T[pristine] = appear / (K - 1)
    T[:, pristine] = leave
    T[pristine, pristine] = 1 - appear
    for k in range(K):
        if k != pristine:
            T[k, k] = 1 - leave - change * (K - 2) / max(K - 2, 1)
    return T


#: weight of the prior transition matrix when the rates are fitted to a movie, in frames per content:
#: a content seen for fewer frames keeps its prior rates; one seen for thousands (a defect class over
#: a 150-frame movie) gets its own
RATE_PRIOR_FRAMES = 50.0


def fit_transitions(counts: np.ndarray, prior: np.ndarray, prior_frames: float = RATE_PRIOR_FRAMES,
                    keep=(0,)) -> np.ndarray:
    """The transition matrix refitted to the expected content changes of a movie (the M step of
    Baum–Welch, :func:`site_posteriors` with ``transition_counts``), each row's prior counted as
    ``prior_frames`` frames of observation: row i = (counts_i + w·prior_i) / (Σ counts_i + w).
    A single image (no frame pairs) keeps the prior. The rows in ``keep`` stay the prior: by default
    the pristine one (how often a defect appears), because every false call of a first pass looks
    like an arrival — refitted on ten multislice frames whose defects stand still, it tripled the
    appearance of single S vacancies and their false calls (precision 0.897 → 0.867). How long a
    defect stays and what it changes into are measured on the defects themselves.

    Parameters
    ----------
    counts : ndarray (K, K)
        Expected number of changes from content i to j.
    prior : ndarray (K, K)
        The prior transition matrix (rows sum to 1).
    prior_frames : float
        Weight of the prior, in frames.
    keep : tuple of int
        Rows that keep the prior.

    Returns
    -------
    ndarray (K, K)
    """
    counts = np.asarray(counts, float)
    out = (counts + prior_frames * prior) / (counts.sum(1, keepdims=True) + prior_frames)
    out[list(keep)] = np.asarray(prior, float)[list(keep)]
    return out


#: weight of the equal split of the defect prior among the defect contents when a single image's
#: own split is fitted (:func:`content_shares`), in defect sites
SHARE_PRIOR_DEFECTS = 30.0


def first_frame_prior(K: int, prior_defect: float, pristine: int = 0) -> np.ndarray:
    """The default first-frame (single-image) probabilities of the K contents: pristine with
    probability 1 − ``prior_defect``, the rest shared equally.

    Parameters
    ----------
    K : int
    prior_defect : float
    pristine : int

    Returns
    -------
    ndarray (K,)
    """
    prior = np.full(K, prior_defect / (K - 1))
    prior[pristine] = 1 - prior_defect
    return prior


def content_shares(obs: np.ndarray, means: np.ndarray, sd, prior_defect: float = PRIOR_DEFECT,
                   pristine: int = 0, prior_defects: float = SHARE_PRIOR_DEFECTS, steps: int = 25,
                   sd_scale=None, split=None, abundant=None) -> np.ndarray:
    """Which defect contents are common among the sites of one image, from their readings
    (empirical Bayes): a mixture of Gaussians at the contents' readings with their noise, where
    only the split of the defect prior among the defect contents is fitted (EM; the equal split
    counted as ``prior_defects`` defect sites). The total stays ``prior_defect``: a noisy image's
    heavy tails would otherwise raise it and report pristine sites. In a V-doped image a dim metal
    site then reads as ``V_W`` rather than as a vacancy or an antisite halfway between.

    Parameters
    ----------
    obs : ndarray
        Readings of the sites (NaN: not read).
    means : ndarray (K,)
    sd : float or ndarray (K,)
    prior_defect : float
    pristine : int
    prior_defects : float
        Weight of the equal split, in defect sites.
    steps : int
        EM steps.
    sd_scale : ndarray, optional
        Each site's (row of ``obs``) or reading's noise over ``sd``.
    split : ndarray (K,), optional
        Relative weights of the defect contents in the prior split and the starting point (equal
        when None; :func:`helpers.detect.dopant_levels.named_dopant_split`).
    abundant : ndarray (K,) of bool, optional
        Contents that may be more common than ``prior_defect`` allows (a named dopant: a doped
        sample holds it by the per cent): each takes the larger of its share in the split and its
        share of the readings — the mixture's own EM weight, but no more than the readings in its
        band (between the midpoints to the contents next to it) exceed those in the band's mirror
        image about the pristine level (a real image's pristine tails are heavier than the
        Gaussian's and would be taken for it) — the pristine share giving way.

    Returns
    -------
    ndarray (K,)
        The first-frame prior for :func:`site_posteriors` (sum 1, pristine 1 − ``prior_defect``
        less what the abundant contents take beyond their split).
    """
    x = np.asarray(obs, float).ravel()
    scale = np.ones(np.shape(obs)) if sd_scale is None else np.asarray(sd_scale, float)
    if scale.ndim == 1 and np.ndim(obs) == 2:  # one value per site (row)
        scale = scale[:, None]
    scale = np.broadcast_to(scale, np.shape(obs)).ravel()[np.isfinite(x)]
    x = x[np.isfinite(x)]
    K = len(means)
    others = np.array([k for k in range(K) if k != pristine])
    share = np.ones(len(others)) if split is None else np.asarray(split, float)[others]
    share = share / share.sum()
    w = first_frame_prior(K, prior_defect, pristine)
    if split is not None:
        w[others] = prior_defect * share
    if not len(x):
        return w
    le = log_emission(x, means, sd, scale)
    e = np.exp(le - le.max(1, keepdims=True))
    free = excess = None
    if abundant is not None and np.any(np.asarray(abundant, bool)[others]):
        free = np.asarray(abundant, bool)[others]
        excess = np.array([_excess_share(x, means, pristine, k) for k in others[free]])
    for _ in range(steps):
        r = e * w
        r /= r.sum(1, keepdims=True)
        n = r[:, others].sum(0)
        w[others] = prior_defect * (n + prior_defects * share) / (n.sum() + prior_defects)
        if free is not None:
            w[others[free]] = np.maximum(w[others[free]], np.minimum(n[free] / len(x), excess))
            w[pristine] = 1.0 - w[others].sum()
    return w


def _excess_share(x: np.ndarray, means: np.ndarray, pristine: int, k: int) -> float:
    """Share of the readings ``x`` in content ``k``'s band (between the midpoints to the contents
    next to it) in excess of those in the band's mirror image about the pristine level: what the
    pristine readings' own tails, if symmetric, cannot explain (a real image's tails are heavier
    than a Gaussian's), and no other content's readings."""
    m = np.sort(np.asarray(means, float))
    i = int(np.searchsorted(m, means[k]))
    lo = 0.5 * (m[i - 1] + m[i]) if i > 0 else -np.inf
    hi = 0.5 * (m[i] + m[i + 1]) if i + 1 < len(m) else np.inf
    cp = means[pristine]
    inside = np.sum((x > lo) & (x < hi))
    mirror = np.sum((x > 2 * cp - hi) & (x < 2 * cp - lo))
    return max(float(inside - mirror), 0.0) / max(len(x), 1)


def site_posteriors(obs: np.ndarray, means: np.ndarray, sd, transitions: np.ndarray, prior_defect,
                    pristine: int = 0, appear=None, transition_counts: bool = False, sd_scale=None):
    """Posterior probability of each content state of each site in each frame (hidden Markov model).

    ``obs`` (n_sites, n_frames): the site's reading per frame (NaN where it was not read);
    ``means`` (K,): the reading each content gives; ``sd``: the reading noise of one frame (one
    value, or one per content: shot noise grows with the content). A site
    changes its content from one frame to the next as ``transitions`` (K × K, rows from; see
    :func:`transition_matrix`); the first
    frame is pristine with probability 1 − ``prior_defect`` (or, given K values, with those
    probabilities of the contents: :func:`content_shares`). ``appear`` (n_sites, n_frames),
    optional: per site and frame, the probability that a defect appears on the pristine site between
    the previous frame and this one (replacing the pristine row of ``transitions``, shared among the
    defect contents as that row shares it; a neighbour's defect that just left makes its arrival
    likely). Forward–backward (scaled messages), all sites at
    once. With one frame this is Bayes' rule with that prior.

    Parameters
    ----------
    obs : ndarray (n_sites, n_frames)
    means : ndarray (K,)
    sd : float or ndarray (K,)
    transitions : ndarray (K, K)
    prior_defect : float or ndarray (K,)
    pristine : int
    appear : ndarray (n_sites, n_frames), optional
    transition_counts : bool
        Also return the expected number of each content change (K × K, summed over sites and
        frame pairs; the E step of Baum–Welch; ``appear`` must then be None).
    sd_scale : ndarray (n_sites,), optional
        Each site's noise over ``sd`` (a single image's local noise:
        :func:`helpers.detect.site_measure.local_noise_scale`).

    Returns
    -------
    ndarray (n_sites, n_frames, K)
        The posteriors; with ``transition_counts``, (posteriors, counts).
    """
    x = np.asarray(obs, float)
    n, T = x.shape
    K = len(means)
    trans = np.asarray(transitions, float)
    if np.ndim(prior_defect):
        prior = np.asarray(prior_defect, float) / np.sum(prior_defect)
    else:
        prior = first_frame_prior(K, prior_defect, pristine)
    scale = None if sd_scale is None else np.repeat(np.asarray(sd_scale, float).reshape(n), T)
    le = log_emission(x, means, sd, scale).reshape(n, T, K)
    le = np.where(np.isfinite(x)[:, :, None], le, 0.0)
    # emissions scaled by their largest state per site and frame: the forward and backward messages
    # are renormalised every frame, so linear probabilities neither under- nor overflow
    emis = np.exp(le - le.max(axis=2, keepdims=True))
    del le
    app = None if appear is None else np.clip(np.asarray(appear, float), 1e-12, 0.999)
    others = [k for k in range(K) if k != pristine]
    shares = trans[pristine, others] / trans[pristine, others].sum()  # which content arrives

    def step_forward(a, t):  # a (n, K) at frame t−1 → predicted at frame t
        out = a @ trans
        if app is not None:  # the pristine row differs per site
            row = np.empty((n, K))
            row[:, others] = app[:, t, None] * shares[None]
            row[:, pristine] = 1 - app[:, t]
            out += a[:, pristine, None] * (row - trans[pristine][None])
        return out

    def step_backward(b, t):  # b (n, K): emission × backward message at frame t → backward at t−1
        out = b @ trans.T
        if app is not None:
            row = np.empty((n, K))
            row[:, others] = app[:, t, None] * shares[None]
            row[:, pristine] = 1 - app[:, t]
            out[:, pristine] += ((row - trans[pristine][None]) * b).sum(1)
        return out

    fwd = np.empty((n, T, K))
    a = prior[None] * emis[:, 0]
    fwd[:, 0] = a / a.sum(1, keepdims=True)
    for t in range(1, T):
        a = step_forward(fwd[:, t - 1], t) * emis[:, t]
        fwd[:, t] = a / a.sum(1, keepdims=True)
    post = fwd  # reused in place: posterior ∝ forward × backward
    b = np.ones((n, K))
    counts = np.zeros((K, K))
    if transition_counts and app is not None:
        raise ValueError("transition counts need one transition matrix for all sites (appear=None)")
    for t in range(T - 2, -1, -1):
        eb = emis[:, t + 1] * b
        if transition_counts:  # P(content i at t, j at t+1 | all frames) ∝ fwd_t(i) T_ij eb_j
            pair_sum = ((post[:, t] @ trans) * eb).sum(1)
            counts += trans * ((post[:, t] / pair_sum[:, None]).T @ eb)
        b = step_backward(eb, t + 1)
        b /= b.sum(1, keepdims=True)
        post[:, t] *= b
    post /= post.sum(2, keepdims=True)
    return (post, counts) if transition_counts else post
