"""Areas the lattice does not describe: a contamination patch and a hole are found, masked and never
read as defects; a clean lattice and its point defects are not masked; any material's classes are
drawn."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import ndimage  # noqa: E402
from test_sites import still  # noqa: E402

from helpers.detect import areas
from helpers.detect import site_model as sm
from helpers.detect import sites as st
from helpers.figures import analysis as af
from helpers.figures import style as plotting
from helpers.figures.style import class_colour, class_marker, class_role
from helpers.io import writers as fm
from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import standard_params

PS = 0.2  # Å/px of the standard movie


@pytest.fixture(scope="module")
def frame():
    """One pristine standard-dose frame (512², 0.2 Å/px) and one with planted defects."""
    clean = generate_movie(standard_params(n_frames=1, seed=5, kinetics=still(None)), progress=False)
    defects = generate_movie(standard_params(n_frames=1, seed=6, kinetics=still("Vw", per_nm2=0.5)),
                             progress=False)
    return clean.frames[0].astype(float), defects


def disc(shape, centre, radius_px):
    r, c = np.indices(shape)
    return (r - centre[0]) ** 2 + (c - centre[1]) ** 2 < radius_px ** 2


def damaged(img, rng):
    """``img`` with a contamination patch (smooth extra intensity with its own shot noise, upper
    left) and a hole (vacuum: the lattice gone, dark, lower right)."""
    out = img.copy()
    r, c = np.indices(img.shape)
    blob = np.exp(-((r - 150) ** 2 + (c - 150) ** 2) / (2 * 45.0 ** 2))
    extra = 3 * img.std() * blob
    out += rng.poisson(np.maximum(extra, 0) * 20) / 20
    hole = disc(img.shape, (370, 370), 60)
    out[hole] = rng.poisson(max(img.min(), 0.5), hole.sum())
    return out, blob > 0.5, hole


def test_a_clean_lattice_is_not_masked(frame):
    clean, movie = frame
    lat = st.read_sites(clean, PS).lattice
    assert areas.find_areas(clean, lat, PS).fractions()["masked"] == 0
    # planted point defects (W vacancies, 0.5 per nm²) do not make an area
    with_defects = movie.frames[0].astype(float)
    assert len(movie.truth) > 50
    lat = st.read_sites(with_defects, PS).lattice  # (another seed: another orientation)
    assert areas.find_areas(with_defects, lat, PS).fractions()["masked"] == 0


def test_contamination_and_a_hole_are_found_and_named(frame):
    clean, _ = frame
    img, patch, hole = damaged(clean, np.random.default_rng(0))
    lat = st.read_sites(clean, PS).lattice
    m = areas.find_areas(img, lat, PS)
    labels = m.at(np.argwhere(np.ones(img.shape, bool)))
    labels = labels.reshape(img.shape)
    assert np.mean(labels[patch] == areas.THICKER) > 0.8
    # (the 5 Å averaging rounds the edge of a 12 Å hole: ~80 % of it is inside the mask)
    assert np.mean(np.isin(labels[hole], [areas.HOLE, areas.NO_LATTICE])) > 0.7
    assert np.mean(labels[hole] == areas.HOLE) > 0.5
    away = ~(patch | hole)
    far = away & ~disc(img.shape, (150, 150), 150) & ~disc(img.shape, (370, 370), 110)
    assert np.mean(labels[far] == areas.LATTICE) > 0.98
    f = m.fractions()
    assert f["masked"] == pytest.approx(f["thicker_or_contaminated"] + f["hole"] + f["no_lattice"])
    assert 0.05 < f["masked"] < 0.35


def test_masked_sites_are_read_but_never_defects(frame):
    clean, _ = frame
    img, patch, hole = damaged(clean, np.random.default_rng(1))
    r = st.read_sites(img, PS)
    s = r.sites
    masked = s["class"] == sm.MASKED
    assert masked.sum() > 50 and not s.loc[masked, "significant"].any()
    assert s.loc[masked, "probability"].isna().all()
    rc = s[["row", "col"]].round().astype(int).clip(0, 511).to_numpy()
    in_hole = hole[rc[:, 0], rc[:, 1]]
    assert masked[in_hole].mean() > 0.9
    # without the mask the hole reads as a field of vacancies; with it, the rest of the frame stays
    # as clean as a clean frame
    unmasked = st.read_sites(img, PS, p=sm.SiteParams(mask_areas=False))
    assert unmasked.sites["significant"].to_numpy()[in_hole].mean() > 0.5
    assert len(r.defects) <= 3
    table = st.site_table(r)
    assert set(table["area"].astype(str)) <= set(areas.AREA_NAMES.values())
    assert (table["area"] != "lattice").sum() == masked.sum()
    fr = r.area_fractions()
    assert fr["masked"] > 0.05 and r.seconds["areas"] > 0
    m, offset = r.area_map_of(0)
    assert m is r.area_maps[0] and np.all(offset == 0)


def test_a_hole_opening_during_a_movie_is_masked_from_the_frame_it_is_there(tmp_path):
    """A hole that opens at frame 4 and grows by 1.2 Å a frame (vacuum noise where the lattice was):
    from the frame the hole is wider than the areas' 5 Å averaging, none of its sites is a defect,
    and its share of the image grows frame by frame in ``areas.csv``. (Maps made on a registered sum
    every 50 frames read the hole as 28–99 vacancies a frame.)"""
    import helpers

    m = generate_movie(standard_params(n_frames=12, seed=5, kinetics=still("Vw", per_nm2=0.05)), progress=False)
    frames = m.frames.astype(np.float32).copy()
    rng = np.random.default_rng(0)
    radius_px = {t: 30 + 6 * (t - 4) for t in range(4, 12)}  # 6.0 → 14.4 Å
    for t, r in radius_px.items():
        hole = disc(frames.shape[1:], (256, 256), r)
        frames[t][hole] = rng.poisson(max(float(frames[t].min()), 0.5), hole.sum())
    reading = st.read_sites(frames, PS, progress=False)
    table = st.defect_table(reading)
    per = reading.area_fractions_per_frame()
    assert list(per.index) == list(range(12))
    assert (per.loc[:3, "masked"] == 0).all()  # nothing before the hole
    for t in range(5, 12):  # 7.2 Å and wider
        d = table[table["frame"] == t]
        assert (np.hypot(d["y_px"] - 256, d["x_px"] - 256) < radius_px[t] + 1 / PS).sum() == 0, t
        area = np.pi * radius_px[t] ** 2 / 512 ** 2
        assert 0.5 * area < per.loc[t, "hole"] + per.loc[t, "no_lattice"] < 2.5 * area, t
    assert np.all(np.diff(per.loc[5:, "masked"].to_numpy()) > 0)  # it grows
    # the command writes each frame's shares (frames from 1)
    path = fm.write_imagej_tiff(tmp_path / "hole.tif", frames, PS)
    helpers.analyze_file(path, tmp_path / "out", quiet=True)
    csv = pd.read_csv(tmp_path / "out" / "areas.csv")
    assert list(csv["frame"]) == list(range(1, 13))
    assert np.allclose(csv["masked"], per["masked"], atol=1e-4)


def test_bad_input_is_named(frame):
    clean, _ = frame
    lat = st.read_sites(clean, PS).lattice
    bad = clean.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        areas.find_areas(bad, lat, PS)
    with pytest.raises(ValueError, match="pixel"):
        areas.find_areas(clean, lat, -1.0)


def test_any_materials_classes_are_drawn():

    assert class_role("Vac_Mo") == class_role("Vw") == "Vac_M"
    assert class_role("Se_S") == "D_X" and class_role("Se2_S2") == "D2_X2" and class_role("V_Mo") == "D_M"
    assert class_colour("Vac_Mo") == class_colour("Vw") and class_marker("Vac_S2") == class_marker("Vs2")
    assert class_colour("V_Mo") != class_colour("Ti_Mo")
    table = pd.DataFrame({"x_px": [1.0, 2, 3, 4], "y_px": [1.0, 2, 3, 4],
                          "class": ["Vac_Mo", "V_Mo", "Se_S", "Vac_S2"]})
    fig, ax = plt.subplots()
    af.overlay_detections(ax, table)
    assert len(ax.collections) == 4
    assert [t.get_text().split(" ")[0] for t in ax.get_legend().get_texts()] == ["Se_S", "V_Mo", "Vac_Mo", "Vac_S2"]
    plt.close(fig)


def test_saved_micrographs_are_drawn_at_their_own_resolution():
    from PIL import Image

    frame = np.random.default_rng(2).random((300, 300))
    fig, ax = plt.subplots(figsize=(6, 6))  # the frame drawn ~4.6 in wide: 700 px at 150 dpi
    ax.imshow(frame)
    big = Image.open(plotting.savefig(fig, "test_resolution_figure", profile="ci", dpi=150))
    assert big.size[0] < 600  # saved near one pixel per data pixel, not at 150 dpi
    ax.set_xlim(0, 60)  # a zoom on 60 data pixels: the floor resolution, not below
    ax.set_ylim(60, 0)
    zoom = plotting.savefig(fig, "test_resolution_figure", profile="ci", dpi=150)
    assert Image.open(zoom).size[0] >= 6 * 0.7 * plotting.MIN_MICROGRAPH_DPI
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(np.random.default_rng(2).random((64, 64)))  # a window, not a micrograph: 150 dpi
    small = Image.open(plotting.savefig(fig, "test_resolution_figure", profile="ci", dpi=150))
    assert small.size[0] > 600
    zoom.unlink()
    plt.close(fig)


def test_inline_plots_of_many_lines_take_a_palette():
    from io import BytesIO

    from PIL import Image

    rng = np.random.default_rng(4)
    fig, ax = plt.subplots(figsize=(8, 4))
    for k in range(200):
        ax.plot(np.cumsum(rng.normal(size=150)), lw=0.8, alpha=0.7)
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    png = buf.getvalue()
    small = plotting.palette_png(png)
    assert len(small) < 0.6 * len(png)
    a = np.asarray(Image.open(BytesIO(png)).convert("RGB"), float)
    b = np.asarray(Image.open(BytesIO(small)).convert("RGB"), float)
    assert a.shape == b.shape and np.abs(a - b).mean() < 3  # the same picture, on a 0-255 scale
    flat = BytesIO()
    Image.new("RGB", (50, 50), "white").save(flat, format="PNG")
    assert plotting.palette_png(flat.getvalue()) == flat.getvalue()  # never larger


def test_saved_figures_keep_the_smaller_of_png_and_jpeg():

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    line = plotting.savefig(fig, "test_weight_figure", profile="ci")
    assert line.suffix in (".png", ".pdf") and line.exists()  # a line plot is never lossy
    ax.imshow(np.random.default_rng(0).random((256, 256)))  # noise: JPEG is far smaller
    noisy = plotting.savefig(fig, "test_weight_figure", profile="ci")
    assert noisy.suffix == ".jpg" and noisy.exists() and not line.exists()  # one file per figure
    ax.images[0].remove()
    ax.imshow(np.kron(np.eye(4), np.ones((16, 16))))  # flat blocks: PNG is smaller
    flat = plotting.savefig(fig, "test_weight_figure", profile="ci")
    assert flat.suffix == ".png" and not noisy.exists()
    many = ax.figure.add_axes((0.1, 0.1, 0.2, 0.2))
    ax.images[0].remove()
    many.plot(np.random.default_rng(1).random(20000))  # a plot of many points
    kept = plotting.savefig(fig, "test_weight_figure", profile="ci")
    assert kept.suffix in (".png", ".pdf")  # lossless or vector: whichever is smaller
    assert [p.name for p in kept.parent.glob("test_weight_figure.*")] == [kept.name]  # one file per figure
    plt.close(fig)
    kept.unlink()


def test_a_cell_whose_first_order_vanishes_keeps_its_in_phase_ring():
    """MoTe2: a 1T disc's first-order reflections nearly cancel (a Te pair scatters about as a Mo
    column does), its √3 ring does not; an amorphous disc loses both. Only the first is other_phase."""
    from helpers.core.chemistry import chemistry_of
    from helpers.synthetic.tmd_image import render_tmd_domain

    chem, ps, size, centre_A, radius_A = chemistry_of("MoTe2", []), 0.2, 320, (38.0, 36.0), 10.0
    rng = np.random.default_rng(4)
    phase = render_tmd_domain(chem, "1T", centre_A, radius_A, ps, size, 1e4, rng).astype(float)
    amorphous = render_tmd_domain(chem, "1T", centre_A, 0.0, ps, size, 1e4, rng).astype(float)
    inside = disc(amorphous.shape, (centre_A[1] / ps, centre_A[0] / ps), radius_A / ps)
    blob = ndimage.gaussian_filter(rng.normal(size=amorphous.shape), 0.6 / ps)  # no lattice, ~1 Å grain
    amorphous[inside] = amorphous.mean() + (blob / blob.std() * amorphous.std())[inside]
    lat = st.read_sites(phase, ps, chemistry=chem).lattice
    sigma_px, core = 5.0 / ps, disc(phase.shape, (centre_A[1] / ps, centre_A[0] / ps), (radius_A - 4) / ps)
    for img, ring_inside, label in ((phase, (0.75, 2.0), areas.OTHER_PHASE), (amorphous, (0.0, 0.5), areas.NO_LATTICE)):
        first, _ = areas.lattice_amplitude(img, lat, sigma_px)
        ring = areas.in_phase_amplitude(img, lat, sigma_px)
        assert np.median(first[core]) / np.median(first) < 0.5
        assert ring_inside[0] < np.median(ring[core]) / np.median(ring) < ring_inside[1]
        m = areas.find_areas(img, lat, ps)
        assert np.mean(m.at(np.argwhere(core)) == label) > 0.9
    # near the Nyquist frequency the ring is not measured (and nothing is relabelled)
    coarse = ndimage.zoom(phase, 0.25, order=1)
    lat_coarse = st.read_sites(coarse, 0.8, chemistry=chem).lattice
    assert areas.in_phase_amplitude(coarse, lat_coarse, 5.0 / 0.8) is None


def test_a_masked_areas_label_reaches_the_sites_whose_disc_it_enters(frame):
    # the map's own rule on a grid: a masked block reaches ``reach_px`` beyond its edge, no further
    labels = np.zeros((50, 50), np.uint8)
    labels[20:30, 20:30] = areas.THICKER
    labels[0:5, 45:50] = areas.HOLE
    labels[45:47, :] = areas.SCAN_GLITCH  # glitch rows are grown by a fitting disc where found
    m = areas.AreaMap(labels, None, None, PS, 4, (200, 200))
    pts = np.array([[100.0, 60.0], [100.0, 76.0], [100.0, 90.0], [10.0, 170.0], [100.0, 160.0], [172.0, 20.0]])
    assert list(m.at(pts)) == [0, 0, areas.THICKER, 0, 0, 0]
    assert list(m.at(pts, 16.0)) == [0, areas.THICKER, areas.THICKER, areas.HOLE, 0, 0]
    assert list(m.at(pts, 0.0)) == list(m.at(pts))
    m.labels = np.zeros_like(labels)  # a relabelled map is measured again
    assert not m.at(pts, 16.0).any()
    assert areas.rim_px(areas.AreaParams(), 5.0, 0.25) == 20.0
    assert areas.rim_px(areas.AreaParams(rim_A=0.0), 5.0, 0.25) == 0.0
    # a read image: no site read as lattice lies within its fitting disc of a masked area, and the
    # rim is what the default masks beyond the area itself
    clean, _ = frame
    img, _, _ = damaged(clean, np.random.default_rng(1))
    r = st.read_sites(img, PS)
    s, amap = r.sites, r.area_maps[0]
    masked_px = np.argwhere(amap.mask) * amap.step_px
    read = s[s["area"] == areas.LATTICE][["row", "col"]].to_numpy()
    gap = np.hypot(*(read[:, None] - masked_px[None]).transpose(2, 0, 1)).min(1) * PS
    assert gap.min() > sm.SiteParams().radius_A - amap.step_px * PS
    no_rim = st.read_sites(img, PS, p=sm.SiteParams(areas=areas.AreaParams(rim_A=0.0))).sites
    assert (no_rim["area"] != areas.LATTICE).sum() < (s["area"] != areas.LATTICE).sum()
    assert set(s.loc[s["area"] != areas.LATTICE, "class"]) == {sm.MASKED}
    # the overlays' read-area edge encloses the sites read as lattice and leaves out the masked ones
    from helpers.figures.results import read_area

    y, x, grid = read_area(img.shape, PS, amap)
    assert np.allclose(np.diff(y), amap.step_px)
    rc = np.rint(s[["row", "col"]].to_numpy() / amap.step_px).astype(int)
    assert np.array_equal(grid[rc[:, 0], rc[:, 1]], (s["area"] == areas.LATTICE).to_numpy())


def test_the_command_says_how_far_a_masked_area_reaches(frame, tmp_path):
    from helpers import AnalysisSettings, analyze_file

    clean, _ = frame
    img, _, _ = damaged(clean, np.random.default_rng(1))
    path = tmp_path / "damaged.npy"
    np.save(path, img.astype(np.float32)[None])
    lines = []
    res = analyze_file(path, tmp_path / "out", AnalysisSettings(pixel_size_A=PS, quiet=True), log=lines.append)
    a = res.summary["areas"]
    assert a["settings"]["rim_A"] == sm.SiteParams().radius_A and a["sites_masked"] > 50
    assert any("nor the sites within 5 Å of them" in line for line in lines)
