"""FFT labels, blobs and one-to-one matching on hand-made inputs with known answers."""
import numpy as np
import pytest

from helpers.detect.peaks import blobs, bragg_mask, fft_labels, lattice_basis, lattice_periodic, periodic_smooth
from helpers.evaluation.matching import match_points
from helpers.synthetic.render import probe_kernel, render_columns


def _lattice(ps=0.2, n=256, vacancy=None, a=3.18):
    """A clean hexagonal lattice of W-like columns (and weaker S2) rendered incoherently."""
    a1 = np.array([a, 0.0])
    a2 = np.array([a / 2, a * np.sqrt(3) / 2])
    pts, w = [], []
    for i in range(-40, 41):
        for j in range(-40, 41):
            p = i * a1 + j * a2 + n * ps / 2
            for shift, weight in ((0, 1.0), ((a1 + a2) / 3, 0.2)):
                q = p + shift
                if 0 <= q[0] < n * ps and 0 <= q[1] < n * ps:
                    if vacancy is not None and np.linalg.norm(q - vacancy) < 0.1:
                        continue
                    pts.append(q)
                    w.append(weight)
    pts = np.array(pts)
    kft = np.fft.rfft2(probe_kernel((n, n), ps, 1.0, 5.0, 0.0))
    return render_columns((n, n), pts[:, 1] / ps, pts[:, 0] / ps, np.array(w), kft), pts


def test_fft_labels_mark_a_planted_vacancy_and_nothing_in_a_perfect_lattice():
    ps = 0.2
    perfect, pts = _lattice(ps)
    # the W column nearest the centre
    centre = np.array([128 * ps, 128 * ps])
    site = pts[np.argmin(np.linalg.norm(pts - centre, axis=1))]
    with_vac, _ = _lattice(ps, vacancy=site)
    # a perfect lattice: nothing marked away from the border (a lattice that does not fit the
    # field of view leaves a residual within a few Å of the edges of a noise-free image)
    assert not fft_labels(perfect, ps).labels[24:-24, 24:-24].any()
    lab = fft_labels(with_vac, ps).labels
    r, c = site[1] / ps, site[0] / ps  # (row, col) = (y, x)
    assert lab[int(round(r)), int(round(c))], "the vacancy site is not marked"
    assert lab[24:-24, 24:-24].sum() * ps**2 < 40, "too much marked"


@pytest.mark.parametrize("angle_deg", [0.0, 17.3, 41.0])
def test_lattice_fit_leaves_no_residual_where_the_bragg_mask_does(angle_deg):
    """A perfect lattice at a pixel size it does not fit: the fitted-frequency periodic part leaves
    < 5 % of a W column (the renderer's sub-pixel splatting), the Bragg mask ~85 %."""
    ps, n, a = 0.2, 200, 3.18
    th = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    ij = np.array([(i, j) for i in range(-30, 31) for j in range(-30, 31)], float)
    metal = ij @ np.array([[a, 0], [a / 2, a * np.sqrt(3) / 2]]) @ rot.T + n * ps / 2 + 0.137
    chal = metal + np.array([a / 2, a / (2 * np.sqrt(3))]) @ rot.T
    pts = np.vstack([metal, chal])
    w = np.r_[np.ones(len(metal)), 0.18 * np.ones(len(chal))]
    pad = 20
    kft = np.fft.rfft2(probe_kernel((n + 2 * pad,) * 2, ps, 1.0, 5.0, 0.0))
    img = 100 * render_columns((n + 2 * pad,) * 2, pts[:, 1] / ps + pad, pts[:, 0] / ps + pad, w,
                               kft)[pad:-pad, pad:-pad]
    basis = lattice_basis(img, ps)
    g1 = np.linalg.norm(basis, axis=1) / ps
    assert np.allclose(g1, 2 / (np.sqrt(3) * a), rtol=1e-3)  # |g| of the first order, Å⁻¹
    lat_res = np.abs(img - lattice_periodic(img, ps, basis))[10:-10, 10:-10]
    p, s = periodic_smooth(img)
    F = np.fft.fftshift(np.fft.fft2(p)) * bragg_mask(img, ps)
    bragg_res = np.abs(img - (np.real(np.fft.ifft2(np.fft.ifftshift(F))) + s))[10:-10, 10:-10]
    assert lat_res.max() < 0.05 * 100
    assert lat_res.max() < 0.1 * bragg_res.max()


def test_lattice_basis_refuses_an_image_without_the_lattice():
    noise = np.random.default_rng(0).poisson(50, (128, 128)).astype(float)
    with pytest.raises(ValueError, match="lattice"):
        lattice_basis(noise, 0.2)


def test_valid_map_silences_the_uncovered_border():
    ps = 0.2
    img, pts = _lattice(ps, vacancy=None)
    img = 400 * img
    img[:, :6] = 0  # a strip no frame covered
    valid = np.ones(img.shape, bool)
    valid[:, :8] = False
    assert fft_labels(img, ps, valid=valid).labels[:, :8].sum() == 0
    with pytest.raises(ValueError, match="valid"):
        fft_labels(img, ps, valid=valid[:10])


def test_highpass_method_marks_nothing_in_a_perfect_lattice():
    perfect, _ = _lattice(0.2)
    assert not fft_labels(perfect, 0.2, method="highpass").labels[24:-24, 24:-24].any()


def test_periodic_smooth_split_adds_up_and_removes_the_edge_jump():
    img, _ = _lattice(0.2, n=128)
    img = img + np.linspace(0, 5, 128)[None, :]  # a ramp: a large jump across the wrap-around
    p, s = periodic_smooth(img)
    assert np.allclose(p + s, img)
    assert abs(p[:, 0] - p[:, -1]).mean() < 0.2 * abs(img[:, 0] - img[:, -1]).mean()


def test_blobs_known_answers():
    m = np.zeros((40, 40))
    assert blobs(m).shape == (0, 2)
    m[5:8, 5:8] = 1.0
    m[30:33, 0:3] = 0.9  # at the border
    m[20, 20] = 1.0  # too small
    b = blobs(m, 0.5, min_pixels=3)
    assert len(b) == 2
    np.testing.assert_allclose(sorted(map(tuple, b)), [(6, 6), (31, 1)])


def test_matching_edge_cases():
    truth = np.array([[10, 10], [20, 20], [0, 0]])
    m = match_points([], truth, 1.0)
    assert (m.tp, m.fp, m.fn, m.f1) == (0, 0, 3, 0.0)
    m = match_points([[50, 50]], [], 1.0)
    assert (m.tp, m.fp, m.fn) == (0, 1, 0)
    m = match_points([[50, 50], [60, 60]], truth, 1.0)  # all false
    assert (m.tp, m.fp, m.fn) == (0, 2, 3)
    # one-to-one: two predictions near one truth count once
    m = match_points([[10.2, 10], [9.8, 10], [0.5, 0]], truth, 1.0)
    assert (m.tp, m.fp, m.fn) == (2, 1, 1)
    assert m.precision == pytest.approx(2 / 3) and m.recall == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="tolerance"):
        match_points(truth, truth, 0)


def test_bad_frames():
    with pytest.raises(ValueError, match="2D"):
        fft_labels(np.zeros((4, 64, 64)), 0.2)
    with pytest.raises(ValueError, match="NaN"):
        fft_labels(np.full((64, 64), np.nan), 0.2)
    with pytest.raises(ValueError, match="smaller"):
        fft_labels(np.zeros((8, 8)), 0.2)
    with pytest.raises(ValueError, match="missing"):
        fft_labels(np.zeros((64, 64)), None)
