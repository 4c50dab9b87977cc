"""A mirrored image reads as the mirror of the image: the column width from a grid symmetric about
the centre (no random patches), the sites placed by all three first-order reflections, and the
neighbours of a site counted on the undistorted honeycomb, however the scan stretched it."""
import numpy as np

from helpers.core.chemistry import chemistry_of
from helpers.detect import sites as st
from helpers.detect.column_model import ColumnLattice
from helpers.detect.lattice import patch_centres
from helpers.detect.site_crosstalk import neighbour_offsets
from helpers.synthetic.tmd_image import plant_point_defects, render_tmd

PS = 0.16  # Å/px
SIZE = 400  # px


def stretched_mos2(seed: int):
    """A MoS2 frame with 5 % of its sites defects (every class), stretched by 10 % along x by the scan
    (a real MoS2 frame here reads |a₁| 19.6 px, |a₂| 17.7, |a₁ + a₂| 17.1), 10⁵ e/Å²."""
    chem = chemistry_of("MoS2")
    rng = np.random.default_rng(seed)
    planted = plant_point_defects(chem, SIZE, PS, 0.05, rng)

    def stretch(rows, cols):
        return np.zeros_like(rows), 0.1 * (cols - SIZE / 2)

    img, _ = render_tmd(chem, planted, PS, SIZE, 1e5, rng, origin_A=(0.4, 0.9), distortion=stretch)
    return img, chem


def test_patch_centres_are_symmetric_about_the_centre():
    pts = patch_centres((101, 140), 9.0, 400)
    for mirrored in (np.c_[100 - pts[:, 0], pts[:, 1]], np.c_[pts[:, 0], 139 - pts[:, 1]]):
        assert np.allclose(np.sort(mirrored, axis=0), np.sort(pts, axis=0))
    mask = np.zeros((101, 140), bool)
    mask[:, 70:] = True
    inside = patch_centres((101, 140), 9.0, 400, mask)
    assert len(inside) >= 360 and np.all(inside[:, 1] >= 69.5)


def test_a_stretched_lattice_keeps_six_neighbours_of_its_own_and_three_of_the_other():
    a = 3.16 / PS
    hexagon = np.array([[0.0, a], [a * np.sqrt(3) / 2, -a / 2]])  # (row, col) px, 120° apart
    for stretch in (np.diag([1.0, 1.0]), np.diag([1.0, 1.13]), np.array([[1.0, 0.0], [0.08, 0.9]])):
        lat = ColumnLattice(tuple(map(tuple, hexagon @ stretch.T)), (1 / 3, 2 / 3), 3.0, PS, 0.4)
        off = neighbour_offsets(lat)
        for kind in ("metal", "chalcogen"):
            assert len(off[(kind, "same")]) == 6 and len(off[(kind, "other")]) == 3
            same = {tuple(o) for o in off[(kind, "same")]}
            assert same == {(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)}


def test_a_mirrored_image_reads_as_the_mirror_of_the_image():
    img, chem = stretched_mos2(4)
    h, w = img.shape
    base = st.defect_table(st.read_sites(img, PS, chemistry=chem))
    assert len(base) >= 10
    for flip, back in ((np.s_[:, ::-1], lambda t: t.assign(x_A=(w - 1) * PS - t.x_A)),
                       (np.s_[::-1, :], lambda t: t.assign(y_A=(h - 1) * PS - t.y_A))):
        m = back(st.defect_table(st.read_sites(np.ascontiguousarray(img[flip]), PS, chemistry=chem)))
        a = base.sort_values(["x_A", "y_A"]).reset_index(drop=True)
        b = m.sort_values(["x_A", "y_A"]).reset_index(drop=True)
        assert len(a) == len(b)
        assert np.allclose(a[["x_A", "y_A"]], b[["x_A", "y_A"]], atol=1e-3)
        assert list(a["class"]) == list(b["class"])
