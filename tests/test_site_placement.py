"""Where the sites are placed: on a scan-distorted image every site lies on its column, and a crop of
an image places its sites where the whole image does."""
import numpy as np
import pytest
from scipy.spatial import cKDTree

from helpers.core.chemistry import CHALCOGEN, Z, chemistry_of
from helpers.detect import sites as st
from helpers.detect.lattice import lattice_origin
from helpers.detect.site_measure import enumerate_sites, local_displacements
from helpers.synthetic.render import probe_kernel, render_columns
from helpers.synthetic.tmd_image import tmd_sites

PS = 0.17  # Å/px
SIZE = 320  # px


def distorted_mos2(seed: int, amplitude_px: float = 1.2):
    """A pristine MoS2 image whose columns are moved by a smooth scan distortion (a row-dependent
    shift along the fast scan plus a bow, and a slow column-dependent shift along the slow scan;
    up to ``amplitude_px`` + 0.8 px), counts at 10⁵ e/Å². Returns (image, true (row, col) px)."""
    chem = chemistry_of("MoS2")
    sites = tmd_sites(chem, SIZE + 40, PS, (0.3, 0.7))
    rows = np.array([y / PS for *_, y in sites]) - 20
    cols = np.array([x / PS for *_, x, _ in sites]) - 20
    rows2 = rows + 0.6 * np.sin(2 * np.pi * cols / 600)
    cols2 = cols + amplitude_px * np.sin(2 * np.pi * rows / 450) + 0.8 * (rows / SIZE) ** 2
    w = np.array([(2 * Z["S"] ** 1.7 if s == CHALCOGEN else Z["Mo"] ** 1.7) / Z["Mo"] ** 1.7 for s, *_ in sites])
    keep = (rows2 > -10) & (rows2 < SIZE + 10) & (cols2 > -10) & (cols2 < SIZE + 10)
    kernel = np.fft.rfft2(probe_kernel((SIZE, SIZE), PS, 1.0, 3.0, 0.1))
    img = render_columns((SIZE, SIZE), rows2[keep], cols2[keep], w[keep], kernel)
    img = img / img.max() * 0.8 + 0.02
    img = np.random.default_rng(seed).poisson(img * 1e5 * PS ** 2).astype(np.float64)
    return img, np.c_[rows2, cols2]


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
