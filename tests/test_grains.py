"""A second grain of another orientation is read with its own lattice (helpers.detect.grains)."""
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from helpers.detect import grains as gr
from helpers.detect import sites as st
from helpers.detect.areas import AREA_NAMES, OTHER_GRAIN
from helpers.evaluation.matching import match_points
from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import standard_params

ROTATION_DEG = 17.0
SIZE_PX, BOUNDARY_COL = 448, 250


def _rotated(img, theta_deg, out_shape):
    """``img`` turned by ``theta_deg`` about its centre, cut to ``out_shape`` around it, and the map of
    a (row, col) point of ``img`` into the result."""
    th = np.radians(theta_deg)
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    ctr, ctr0 = (np.array(out_shape) - 1) / 2, (np.array(img.shape) - 1) / 2
    rr, cc = np.mgrid[:out_shape[0], :out_shape[1]]
    q = np.einsum("ij,jrc->irc", R, np.stack([rr - ctr[0], cc - ctr[1]])) + ctr0[:, None, None]
    return ndimage.map_coordinates(img, q, order=1), lambda p: (np.asarray(p, float) - ctr0) @ R + ctr


@pytest.fixture(scope="module")
def two_grains():
    """A simulated WS2 frame whose right part is another simulated frame turned by 17°."""
    a = generate_movie(standard_params(n_frames=1, frame_px=SIZE_PX, seed=3, orientation_deg=0.0), progress=False)
    b = generate_movie(standard_params(n_frames=1, frame_px=640, seed=4, orientation_deg=0.0), progress=False)
    turned, to_image = _rotated(b.frames[0].astype(float), ROTATION_DEG, (SIZE_PX, SIZE_PX))
    img = a.frames[0].astype(float).copy()
    img[:, BOUNDARY_COL:] = turned[:, BOUNDARY_COL:]
    truth_b = b.visible_truth()
    p = to_image(truth_b[["y_px", "x_px"]].to_numpy())
    truth_b = truth_b.assign(row=p[:, 0], col=p[:, 1])
    r = st.read_sites(img, a.pixel_size_A)
    return r, truth_b, a.pixel_size_A


def test_the_second_grain_is_found_and_read_with_its_own_lattice(two_grains):
    r, truth_b, ps = two_grains
    assert len(r.grains) == 1 and r.grains[0]["read"]
    g = r.grains[0]
    assert abs(abs(g["rotation_deg"]) - ROTATION_DEG) < 1.0
    assert g["lattice_amplitude"] > 0.7
    s = r.sites
    own = s[s["grain"] == 1]
    assert len(own) > 300 and (own["area"] == OTHER_GRAIN).all()
    assert (own["col"] > BOUNDARY_COL).all()  # its sites lie in the turned part
    assert own["significant"].mean() < 0.05  # pristine columns read as pristine
    assert r.area_fractions()["other_grain"] > 0.25
    # the grain's defects, in its read part, found at their places (single S vacancies aside: one frame)
    lo, hi = own[["row", "col"]].min().to_numpy(), own[["row", "col"]].max().to_numpy()
    t = truth_b[(truth_b["row"] > lo[0]) & (truth_b["row"] < hi[0]) & (truth_b["col"] > lo[1] + 2)
                & (truth_b["col"] < hi[1]) & (truth_b["class"] != "Vs")]
    d = own[own["significant"]]
    m = match_points(d[["row", "col"]].to_numpy() * ps, t[["row", "col"]].to_numpy() * ps, 1.0)
    assert len(t) >= 8 and m.tp / len(t) >= 0.7 and m.fp <= 3


def test_tables_name_the_grain_and_no_site_is_read_twice(two_grains):
    r, _, _ = two_grains
    sites = st.site_table(r)
    assert "grain" in sites and "other_grain" in set(sites["area"].astype(str))
    assert set(AREA_NAMES.values()) >= set(sites["area"].astype(str))
    defects = st.defect_table(r)
    assert "grain" in defects and set(defects["grain"]) <= {0, 1}
    xy = np.round(sites[["x_px", "y_px"]].to_numpy(float))
    assert len(np.unique(xy, axis=0)) > 0.99 * len(xy)
    # sorted by frame, as the chunked sites.csv writer needs
    assert np.all(np.diff(r.sites["frame"].to_numpy()) >= 0)


def test_one_grain_gives_no_other():
    m = generate_movie(standard_params(n_frames=1, frame_px=256, seed=2), progress=False)
    r = st.read_sites(m.frames[0], m.pixel_size_A)
    assert r.grains == [] and "grain" not in r.sites


def test_orientation_is_taken_mod_60_degrees(two_grains):
    r, _, _ = two_grains
    lat = r.lattice
    sixty = np.array([[0.5, -np.sqrt(3) / 2], [np.sqrt(3) / 2, 0.5]])
    turned = replace(lat, vectors_px=tuple(map(tuple, lat.vectors @ sixty.T)))
    d = (gr.orientation_deg(turned) - gr.orientation_deg(lat)) % 60
    assert min(d, 60 - d) < 1e-6


def test_the_overlay_outlines_the_grain(two_grains):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.figures import analysis as af

    r, _, _ = two_grains
    fig, ax = plt.subplots()
    af.overlay_areas(ax, *r.area_map_of(0))
    texts = [t.get_text() for leg in ax.artists + [ax.get_legend()] if leg is not None for t in leg.get_texts()]
    assert any("another grain" in t for t in texts)
    plt.close(fig)


def test_an_amorphous_patch_is_masked_not_read_as_a_grain():
    a = generate_movie(standard_params(n_frames=1, frame_px=SIZE_PX, seed=3, orientation_deg=0.0), progress=False)
    img = a.frames[0].astype(float).copy()
    rng = np.random.default_rng(0)
    blob = ndimage.gaussian_filter(rng.normal(size=img.shape), 3.0)  # no lattice, ~1 Å grain
    patch = img[:, BOUNDARY_COL:]
    img[:, BOUNDARY_COL:] = patch.mean() + blob[:, BOUNDARY_COL:] / blob.std() * patch.std()
    img = rng.poisson(np.clip(img, 0, None)).astype(float)
    r = st.read_sites(img, a.pixel_size_A)
    assert r.area_fractions()["no_lattice"] > 0.3
    assert r.grains == [] and "grain" not in r.sites


def test_two_grains_sharing_the_centre_give_one_lattice_and_a_grain():
    """Half the frame turned by 25°: the six strongest Fourier peaks mix both grains; the basis is
    one grain's hexagon (its own peaks only), the other grain is read with its own lattice."""
    from helpers.detect.peaks import lattice_basis

    a = generate_movie(standard_params(n_frames=1, frame_px=SIZE_PX, seed=5, orientation_deg=0.0), progress=False)
    b = generate_movie(standard_params(n_frames=1, frame_px=640, seed=6, orientation_deg=0.0), progress=False)
    turned, _ = _rotated(b.frames[0].astype(float), 25.0, (SIZE_PX, SIZE_PX))
    img = a.frames[0].astype(float).copy()
    img[:, SIZE_PX // 2:] = turned[:, SIZE_PX // 2:]
    ps = a.pixel_size_A
    basis = lattice_basis(img, ps, a.params.lattice_a_A)
    single = lattice_basis(a.frames[0].astype(float), ps, a.params.lattice_a_A)
    angle = lambda v: np.degrees(np.arctan2(v[0], v[1])) % 60  # noqa: E731
    off = [min(abs(angle(basis[0]) - angle(ref)) % 60, 60 - abs(angle(basis[0]) - angle(ref)) % 60)
           for ref in (single[0], single[0] @ np.array([[np.cos(np.radians(25)), np.sin(np.radians(25))],
                                                        [-np.sin(np.radians(25)), np.cos(np.radians(25))]]))]
    assert min(off) < 0.5  # one grain's orientation, not a mixture
    assert np.allclose(np.linalg.norm(basis, axis=1), np.linalg.norm(single, axis=1), rtol=0.01)
    r = st.read_sites(img, ps)
    assert len(r.grains) == 1 and r.grains[0]["read"]
    assert abs(abs(r.grains[0]["rotation_deg"]) - 25.0) < 1.0
    assert r.sites["significant"].mean() < 0.05
