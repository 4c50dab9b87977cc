"""Where the sites are placed: on a scan-distorted image every site lies on its column, and a crop of
an image places its sites where the whole image does."""
import numpy as np
import pytest
from scipy.spatial import cKDTree

from helpers.core.chemistry import chemistry_of
from helpers.detect import sites as st
from helpers.detect.lattice import lattice_origin
from helpers.detect.site_measure import enumerate_sites, local_displacements
from helpers.synthetic.tmd_image import render_tmd, tmd_sites

PS = 0.17  # Å/px
SIZE = 320  # px


def distorted_mos2(seed: int, amplitude_px: float = 1.2):
    """A pristine MoS2 image whose columns are moved by a smooth scan distortion (a row-dependent
    shift along the fast scan plus a bow, and a slow column-dependent shift along the slow scan;
    up to ``amplitude_px`` + 0.8 px), counts at 10⁵ e/Å². Returns (image, true (row, col) px)."""
    chem = chemistry_of("MoS2")
    pad = 20  # rendered 20 px beyond every edge, so that columns move in as well as out

    def distortion(rows, cols):  # of the frame's (row, col) px
        rows, cols = rows - pad, cols - pad
        return (0.6 * np.sin(2 * np.pi * cols / 600),
                amplitude_px * np.sin(2 * np.pi * rows / 450) + 0.8 * (rows / SIZE) ** 2)

    origin = (0.3, 0.7)
    img, _ = render_tmd(chem, {}, PS, SIZE + 2 * pad, 1e5, np.random.default_rng(seed), origin_A=origin,
                        distortion=distortion)
    sites = tmd_sites(chem, SIZE + 2 * pad, PS, origin)
    rows = np.array([y / PS for *_, y in sites])
    cols = np.array([x / PS for *_, x, _ in sites])
    d_rows, d_cols = distortion(rows, cols)
    truth = np.c_[rows + d_rows, cols + d_cols] - pad
    return img[pad:-pad, pad:-pad].astype(np.float64), truth


@pytest.mark.parametrize("seed", [0, 1])
def test_sites_follow_a_scan_distortion_onto_their_columns(seed):
    img, truth = distorted_mos2(seed)
    lattice = st.read_sites(img, PS, chemistry=chemistry_of("MoS2")).lattice
    origin = lattice_origin(img, lattice)
    kinds, pos, _ = enumerate_sites(img.shape, origin, lattice, 30)
    err_lattice = cKDTree(truth).query(pos)[0]
    pos = pos + local_displacements(img, lattice, origin, 5.0 / PS, pos)
    d, i = cKDTree(truth).query(pos)
    mean = (pos - truth[i]).mean(0)
    # the distortion moves columns by up to 2 px; a global lattice leaves them 0.4 px off (r.m.s.);
    # placed by the local phase they lie within 0.1 px, with no common offset
    assert np.sqrt(np.mean(err_lattice ** 2)) > 0.3
    assert np.sqrt(np.mean(d ** 2)) < 0.1, np.sqrt(np.mean(d ** 2))
    assert np.all(np.abs(mean) < 0.05), mean


def test_a_crop_places_its_sites_where_the_whole_image_does():
    img, _ = distorted_mos2(2, amplitude_px=2.0)
    chem = chemistry_of("MoS2")
    whole = st.read_sites(img, PS, chemistry=chem)
    r0 = c0 = SIZE // 8
    crop = st.read_sites(img[r0:SIZE - r0, c0:SIZE - c0], PS, chemistry=chem, lattice=whole.lattice)
    a, b = whole.sites, crop.sites
    pa = a[["y_A", "x_A"]].to_numpy()
    pb = b[["y_A", "x_A"]].to_numpy() + np.array([r0, c0]) * PS
    # sites well inside the crop (their phase fields see the same pixels)
    inner = np.all((pb > (r0 + 45) * PS) & (pb < (SIZE - r0 - 45) * PS), axis=1)
    d, i = cKDTree(pa).query(pb[inner])
    assert inner.sum() > 100
    assert np.all(a["kind"].to_numpy()[i] == b["kind"].to_numpy()[inner])
    assert np.median(d) < 0.003 and d.max() < 0.01, (np.median(d), d.max())
