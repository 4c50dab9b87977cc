"""Areas of another phase on the 2H lattice (atoms on its hollow sites: 1T, inversion domains; or its
two sublattices exchanged) are masked as ``other_phase``, never read as point defects
(helpers.detect.hollow_sites)."""
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial import cKDTree

from helpers.core.chemistry import CHALCOGEN, chemistry_of
from helpers.detect import sites as st
from helpers.detect.areas import AREA_NAMES, NO_LATTICE, OTHER_PHASE, AreaParams
from helpers.detect.hollow_sites import smoothed
from helpers.detect.site_placement import _invariant_triple, invariant_displacements
from helpers.detect.site_measure import local_displacements
from helpers.synthetic.tmd_image import render_tmd, render_tmd_domain, tmd_sites

PS, SIZE = 0.2, 320
CENTRE_A, RADIUS_A = (38.0, 36.0), 10.0


def _inside(sites, margin_A=0.0):
    return np.hypot(sites["x_A"] - CENTRE_A[0], sites["y_A"] - CENTRE_A[1]) < RADIUS_A - margin_A


@pytest.mark.parametrize("cf", [(2 / 3, 1 / 3), (1 / 3, 2 / 3)])
def test_invariant_triple_sums_to_zero_with_one_chalcogen_phase(cf):
    A = np.array([[0.0, 15.8], [15.8 * np.sqrt(3) / 2, -7.9]])  # rows a1, a2 (px), 120° apart
    lat = SimpleNamespace(reciprocal=np.linalg.inv(A).T, chalcogen_frac=cf)
    G = _invariant_triple(lat)
    assert np.allclose(G.sum(0), 0)
    phase = (G @ (np.asarray(cf) @ A)) % 1.0
    assert np.allclose(phase, phase[0])
    assert np.allclose(np.linalg.norm(G, axis=1), np.linalg.norm(G[0]))  # all first order


@pytest.mark.parametrize("material,domain,dose,label", [
    ("MoS2", "1T", 1e4, OTHER_PHASE), ("WS2", "1T", 1e4, OTHER_PHASE), ("WS2", "1T", 5e3, OTHER_PHASE),
    ("WSe2", "inversion", 1e4, OTHER_PHASE), ("WS2", "inversion", 1e4, OTHER_PHASE),
    ("WS2", "swap", 1e4, OTHER_PHASE), ("MoS2", "swap", 1e4, OTHER_PHASE),
    # Se2 / Te2 columns brighter than Mo: a 1T cell's first-order reflections nearly vanish; the
    # in-phase ring (helpers.detect.areas.in_phase_amplitude) names the area
    ("MoSe2", "1T", 1e4, OTHER_PHASE), ("MoTe2", "1T", 1e4, OTHER_PHASE), ("MoTe2", "1T", 2e3, OTHER_PHASE)])
def test_domain_is_masked_not_read_as_point_defects(material, domain, dose, label):
    chem = chemistry_of(material, [])
    img = render_tmd_domain(chem, domain, CENTRE_A, RADIUS_A, PS, SIZE, dose, np.random.default_rng(1))
    r = st.read_sites(img, PS, chemistry=chem)
    s = r.sites
    inner = _inside(s, margin_A=2.0)
    assert (s.loc[inner, "area"] == label).mean() > 0.9
    # (the lattice amplitude's mask stops short of the rim: up to two rim columns of a MoSe2 or
    # MoTe2 patch stay)
    assert s.loc[_inside(s), "significant"].sum() <= (2 if material in ("MoSe2", "MoTe2") else 0)
    share = r.area_fractions()[AREA_NAMES[label]]
    assert 0.5 * np.pi * RADIUS_A ** 2 < share * (SIZE * PS) ** 2 < 3 * np.pi * RADIUS_A ** 2
    # the atoms on the domain's hollow sites are a phase, not adatoms (masked before they are searched)
    ads = r.adatoms
    assert not np.any(np.hypot(ads["x_A"] - CENTRE_A[0], ads["y_A"] - CENTRE_A[1]) < RADIUS_A - 2.0)
    if label == OTHER_PHASE:
        assert any("hollow sites" in w for w in r.warnings)
        # without the tests the domain is a patch of point defects (what they prevent), or masked
        # no_lattice (MoSe2, MoTe2)
        off_p = replace(st.SiteParams(), other_phase=False, areas=replace(AreaParams(), phase_ring_above=None))
        off = st.read_sites(img, PS, chemistry=chem, p=off_p)
        if material in ("MoSe2", "MoTe2"):
            assert (off.sites.loc[inner, "area"] == NO_LATTICE).mean() > 0.9
            return
        assert off.sites.loc[_inside(off.sites), "significant"].sum() >= 10


@pytest.mark.parametrize("material,dose", [("WS2", 2e3), ("WS2", 1e4), ("MoS2", 1e4), ("MoTe2", 1e4)])
def test_no_other_phase_on_2h_sheet_with_a_vacancy_cluster(material, dose):
    chem = chemistry_of(material, [])
    empty = "Vs2" if material == "WS2" else f"Vac_{chem.chalcogen}2"
    planted = {(s, i, j): empty
               for s, i, j, x, y in tmd_sites(chem, SIZE, PS)
               if s == CHALCOGEN and np.hypot(x - CENTRE_A[0], y - CENTRE_A[1]) < 6.0}
    img, truth = render_tmd(chem, planted, PS, SIZE, dose, np.random.default_rng(2))
    r = st.read_sites(img, PS, chemistry=chem)
    assert not (r.sites["area"] == OTHER_PHASE).any()
    assert not any("hollow sites" in w for w in r.warnings)
    if dose >= 1e4:  # the empty chalcogen columns stay point defects, found
        assert r.sites.loc[_inside(r.sites), "significant"].sum() >= 0.8 * len(planted)


@pytest.mark.parametrize("apart_a,radius_A,dose", [(1.5, 10.0, 1e4), (2.0, 12.0, 2e3)])
def test_a_cluster_of_heavy_adatoms_is_not_another_phase(monkeypatch, apart_a, radius_A, dose):
    """W atoms on hollow sites 1.5–2 a apart around one point of a WS2 frame: each fills one hollow
    site of several, so adatoms, not ``other_phase``; without asking that most hollow sites of an
    area hold an atom the cluster was masked and no adatom listed."""
    from helpers.detect import hollow_sites as hs
    from helpers.synthetic.tmd_image import hollow_sites_A

    chem = chemistry_of("WS2", [])
    h = hollow_sites_A(chem, SIZE, PS)
    near = h[np.hypot(*(h - CENTRE_A).T) < radius_A]
    pick = []
    for p in near[np.argsort(np.hypot(*(near - CENTRE_A).T))]:
        if all(np.hypot(*(p - q)) >= apart_a * chem.lattice_a_A for q in pick):
            pick.append(p)
    img, _ = render_tmd(chem, {}, PS, SIZE, dose, np.random.default_rng(4), adatoms=[(x, y, "W") for x, y in pick])
    r = st.read_sites(img, PS, chemistry=chem)
    assert len(pick) >= 7 and not (r.sites["area"] == OTHER_PHASE).any()
    assert len(r.adatoms) == len(pick)
    monkeypatch.setattr(hs, "FILLED_SHARE", -np.inf)
    before = st.read_sites(img, PS, chemistry=chem)
    assert (before.sites["area"] == OTHER_PHASE).sum() > 50 and len(before.adatoms) == 0


def test_invariant_displacements_do_not_move_with_the_phase():
    chem = chemistry_of("MoS2", [])
    img = render_tmd_domain(chem, "1T", CENTRE_A, RADIUS_A, PS, SIZE, 1e5, np.random.default_rng(3))
    r = st.read_sites(img, PS, chemistry=chem, p=replace(st.SiteParams(), other_phase=False, follow_distortion=False))
    s = r.sites[r.sites["kind"] == "metal"]
    inner = _inside(s, margin_A=3.0).to_numpy()
    pos = s[["row", "col"]].to_numpy()
    # the true metal columns, as render_tmd_domain places them
    pad = int(np.ceil(chem.lattice_a_A / PS))
    true = np.array([(y / PS - pad, x / PS - pad) for sb, _, _, x, y in tmd_sites(chem, SIZE + 2 * pad, PS)
                     if sb == "metal"])
    tree = cKDTree(true)
    sigma = 5.0 / PS
    default = pos + local_displacements(img, r.lattice, pos[0], sigma, pos)
    three = pos + invariant_displacements(img, r.lattice, pos, sigma)
    # two reflections took the phase for a shift of the columns (> 0.05 Å, until 5 December 2026);
    # the invariant triple does not, nor the least-squares phase of all three first-order
    # reflections that places the sites by default now (the 1T phase turns them by (ψ, −ψ, −ψ), which
    # no displacement makes)
    assert np.median(tree.query(default[inner])[0]) * PS < 0.02
    assert np.median(tree.query(three[inner])[0]) * PS < 0.02
    assert np.median(tree.query(three[~inner])[0]) * PS < 0.02


def test_smoothed_is_the_gaussian_average_of_the_finite_values():
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 60, (200, 2))
    v = rng.normal(size=200)
    v[[3, 17]] = np.nan
    at = np.vstack([pos[:20], rng.uniform(0, 60, (10, 2))])
    mean, var = smoothed(pos, v, 4.0, at=at)
    ok = np.isfinite(v)
    for k, a in enumerate(at):
        d = np.hypot(*(pos[ok] - a).T)
        w = np.exp(-d ** 2 / 32) * (d <= 12)
        assert mean[k] == pytest.approx(w @ v[ok] / w.sum(), abs=1e-12)
        assert var[k] == pytest.approx((w @ w) / w.sum() ** 2, abs=1e-12)
    assert np.all(np.isnan(smoothed(pos, v, 4.0, at=np.array([[500.0, 500.0]]))[0]))
