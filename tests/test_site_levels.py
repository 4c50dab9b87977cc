"""The ladder of chalcogen levels: a sheet whose chalcogen columns are mostly substituted is read
against its host column, not its median column (``helpers.detect.site_levels``)."""
import numpy as np
import pytest

from helpers.core.chemistry import CHALCOGEN, chemistry_of
from helpers.detect import sublattices as sl
from helpers.detect import sites as st
from helpers.detect.lattice import fit_column_lattice
from helpers.detect.site_model import EDGE_MARGIN_A
from helpers.detect.site_levels import fit_ladder, ladder_prior
from helpers.synthetic.tmd_image import render_tmd, tmd_sites


def _true_classes(sites, truth, pristine: str) -> np.ndarray:
    """Per site read, the class of the true defect within 0.5 Å, else ``pristine``."""
    tx = np.array([(x, y) for x, y, _ in truth] or [(-99.0, -99.0)])
    tn = np.array([nm for *_, nm in truth] or [pristine], object)
    d = np.hypot(tx[:, 0][None] - sites["x_A"].to_numpy()[:, None], tx[:, 1][None] - sites["y_A"].to_numpy()[:, None])
    return np.where(d.min(1) < 0.5, tn[d.argmin(1)], pristine)


def _readings(rng, host, step, sd, shares, n=600):
    """Chalcogen readings: shares of (host, one substituted, both) at host, host + step, host + 2·step."""
    k = rng.choice(3, size=n, p=shares)
    return host + k * step + rng.normal(0, sd, n)


def test_the_ladder_recovers_host_and_step_when_most_columns_are_substituted():
    rng = np.random.default_rng(0)
    chem = chemistry_of("WS2", ["Se"])
    host = chem.expected_ratio(1.7)
    step = host / 2 * ((34 / 16) ** 1.7 - 1)
    x = _readings(rng, host, step, 0.03, [0.35, 0.5, 0.15])
    lad = fit_ladder(x, chem, 1.4826 * np.median(np.abs(x - np.median(x))))
    assert lad is not None and lad.substituent == "Se"
    assert lad.host == pytest.approx(host, abs=0.01) and lad.step == pytest.approx(step, abs=0.01)
    assert lad.exponent == pytest.approx(1.7, abs=0.1) and lad.sd == pytest.approx(0.03, rel=0.2)
    assert lad.shares["one_substituted"] == pytest.approx(0.5, abs=0.06)
    # the median column is a substituted one: what the reading would have taken as the host
    assert np.median(x) > host + 2 * 0.03
    prior = ladder_prior(lad, list(chem.site_contents()[CHALCOGEN]), chem)
    assert prior.sum() == pytest.approx(1) and prior.min() > 0


def test_no_ladder_without_substitution_or_a_chalcogen_substituent():
    rng = np.random.default_rng(1)
    chem = chemistry_of("WS2", ["Se"])
    host = chem.expected_ratio(1.7)
    pristine = host + rng.normal(0, 0.03, 800)
    assert fit_ladder(pristine, chem, 0.03) is None
    # a few per cent substituted: the median stays the host column, nothing changes
    few = _readings(rng, host, host / 2 * ((34 / 16) ** 1.7 - 1), 0.03, [0.97, 0.03, 0.0], 800)
    assert fit_ladder(few, chem, 0.03) is None
    # a metal dopant only: no ladder is looked for
    many = _readings(rng, host, 0.2, 0.03, [0.4, 0.5, 0.1])
    assert fit_ladder(many, chemistry_of("WS2", ["Mo"]), 0.03) is None


@pytest.mark.parametrize("exponent", [1.4, 1.7])
def test_a_mostly_converted_ws2_image_is_read_against_its_s2_columns(exponent):
    """45 % SSe and 10 % Se2 columns: the median column is an SSe column. Read against it, every
    column came out S2 and an 'exponent out of range' warning (class accuracy 0.45 on the chalcogen
    sites); read against the ladder's host every column is named right."""
    chem = chemistry_of("WS2", ["Se"])
    rng = np.random.default_rng(1)
    a, size, ps = chem.lattice_a_A, 400, 0.2
    n = int(size * ps / a) + 4
    planted = {}
    for i in range(-n, 2 * n):
        for j in range(-2, n + 4):
            u = rng.random()
            if u < 0.55:
                planted[(CHALCOGEN, i, j)] = "Se_S" if u < 0.45 else "Se2_S2"
    img, truth = render_tmd(chem, planted, ps, size, 1e4, np.random.default_rng(0), exponent=exponent)
    r = st.read_sites(img, ps, chemistry=chem)
    s = r.sites[r.sites["kind"] == CHALCOGEN]
    true_cls = _true_classes(s, truth, "S2")
    assert len(s) > 300 and np.mean(true_cls != "S2") > 0.45
    assert np.mean(true_cls == s["class"].to_numpy()) >= 0.98
    assert any("substituted by Se" in w for w in r.warnings)
    assert not any("HAADF exponent" in w for w in r.warnings)
    assert r.haadf_exponent == pytest.approx(exponent, abs=0.15)


@pytest.mark.parametrize("dose", [1e4, 3e3])
def test_a_converting_sheet_with_a_second_metal_named_is_not_read_as_an_alloy(dose):
    """WSSe's chemistry names Mo too (WS2's default dopant). Read against their chalcogen
    neighbours, the W columns of a sheet with 45 % SSe and 10 % Se2 columns take several levels, and
    the alloy test took them for W and Mo (65-72 % 'Mo' on four draws; the real WS2->WSSe image
    did so after five injected defects): the chalcogen columns, read against their own neighbours,
    spread the more, so the sheet is read on its ladder."""
    chem = chemistry_of("WS2", ["Se", "Mo"])
    rng = np.random.default_rng(0)
    size, ps = 400, 0.2
    planted = {}
    for sb, i, j, _, _ in tmd_sites(chem, size, ps):
        u = rng.random()
        if sb == CHALCOGEN and u < 0.55:
            planted[(sb, i, j)] = "Se_S" if u < 0.45 else "Se2_S2"
    img, _ = render_tmd(chem, planted, ps, size, dose, np.random.default_rng(10))
    r = st.read_sites(img, ps, chemistry=chem)
    assert not any("an alloy of" in w for w in r.warnings)
    assert any("substituted by Se" in w for w in r.warnings)
    _, metal_right = _sites_read(r, chem, planted, size, ps, "metal")
    _, chal_right = _sites_read(r, chem, planted, size, ps, CHALCOGEN)
    assert metal_right >= 0.99 and chal_right >= 0.95


def test_a_pristine_ws2_image_with_se_named_shows_no_ladder():
    chem = chemistry_of("WS2", ["Se"])
    img, _ = render_tmd(chem, {}, 0.2, 400, 1e3, np.random.default_rng(0))
    r = st.read_sites(img, 0.2, chemistry=chem)
    assert not any("substituted" in w for w in r.warnings)
    assert not r.sites["class"].isin(["Se_S", "Se2_S2"]).any()


def test_a_conversion_movie_is_read_in_every_frame():
    """A WS2 sheet converting to WSSe through a movie (0 → 80 % SSe columns over 12 frames): each
    frame's own median column turns from S2 to SSe half way, and read against it every column of
    the later frames came out S2 (mean class accuracy 0.64 on the chalcogen sites); the chalcogen
    frame level follows the metal's and each frame's host rung is found on the ladder."""
    chem = chemistry_of("WS2", ["Se"])
    a, size, ps, T = chem.lattice_a_A, 320, 0.2, 12
    n = int(size * ps / a) + 4
    rng = np.random.default_rng(3)
    order = {(CHALCOGEN, i, j): rng.random() for i in range(-n, 2 * n) for j in range(-2, n + 4)}
    frames, truths = [], []
    for t in range(T):
        planted = {k: "Se_S" for k, u in order.items() if u < 0.8 * t / (T - 1)}
        img, tr = render_tmd(chem, planted, ps, size, 3e3, np.random.default_rng(t))
        frames.append(img)
        truths.append(tr)
    r = st.read_sites(np.array(frames), ps, chemistry=chem)
    s = r.sites[r.sites["kind"] == CHALCOGEN]
    for t in range(T):
        f = s[s["frame"] == t]
        assert np.mean(_true_classes(f, truths[t], "S2") == f["class"].to_numpy()) >= 0.97, t
    assert any("substituted by Se" in w for w in r.warnings)


def _sites_read(r, chem, planted: dict, size: int, ps: float, sublattice: str = CHALCOGEN,
                margin_A: float = EDGE_MARGIN_A + 1) -> tuple:
    """(share of the true ``sublattice`` sites ≥ ``margin_A`` inside the frame that a site of that
    sublattice in the reading lies within 0.5 Å of, share of those read as their true content): a
    reading with its sublattices swapped locates none."""
    from scipy.spatial import cKDTree

    true = [(x, y, planted.get((sb, i, j), chem.pristine(sublattice)))
            for sb, i, j, x, y in tmd_sites(chem, size, ps) if sb == sublattice]
    xy = np.array([(x, y) for x, y, _ in true])
    inside = np.all((xy > margin_A) & (xy < size * ps - margin_A), axis=1)
    s = r.sites[r.sites["kind"] == sublattice]
    d, k = cKDTree(s[["x_A", "y_A"]].to_numpy()).query(xy[inside])
    located = d < 0.5
    names = np.array([c for *_, c in true], object)[inside]
    right = s["class"].to_numpy()[k][located] == names[located]
    return float(located.mean()), float(right.mean()) if located.any() else 0.0


@pytest.mark.parametrize("exponent", [1.7, 2.0])
def test_a_lighter_substituent_steps_down_the_ladder(exponent):
    """WSe2 with 60 % of its Se2 columns SSe: the substituted rung lies below the host (before: every
    column read Se2, an 'exponent 2.26' warning, class accuracy 0.41). At n = 2.0 the SSe rung reads
    a little low, and a ladder with no host columns (SSe read as one S, S2... as two) fitted as
    well; the ladder is chosen among the fits with host columns (before: 0.42)."""
    chem = chemistry_of("WSe2", ["S"])
    rng = np.random.default_rng(0)
    planted = {(s, i, j): "S_Se" for s, i, j, _, _ in tmd_sites(chem, 400, 0.2)
               if s == CHALCOGEN and rng.random() < 0.6}
    img, truth = render_tmd(chem, planted, 0.2, 400, 1e4, rng, exponent=exponent)
    r = st.read_sites(img, 0.2, chemistry=chem)
    located, right = _sites_read(r, chem, planted, 400, 0.2)
    assert located >= 0.99 and right >= 0.98
    assert any("substituted by S" in w for w in r.warnings)


@pytest.mark.parametrize("material, dopant, shares, exponent", [
    ("MoSe2", "S", {"S_Se": 0.6, "S2_Se2": 0.1}, 1.7),  # the Se2 sublattice now the dimmer
    ("MoS2", "Se", {"Se_S": 0.2, "Se2_S2": 0.6}, 1.7),  # the S2 sublattice now the brighter
    ("WTe2", "Se", {"Se_Te": 0.6, "Se2_Te2": 0.1}, 1.4),  # both alike: the lattice fit's order reversed
])
def test_a_sheet_converted_past_the_metal_level_keeps_its_sublattices(material, dopant, shares, exponent):
    """Converting a sheet's chalcogen columns can reverse which sublattice is the brighter: the
    reading named the converted chalcogen columns metal and read none of them (located 0; the WTe2
    sheet was refused, 'dim/bright ratio 1.03'). The sublattice that spreads over several levels is
    the chalcogen's."""
    chem = chemistry_of(material, [dopant])
    rng = np.random.default_rng(1)
    cut = np.cumsum(list(shares.values()))
    planted = {}
    for s, i, j, _, _ in tmd_sites(chem, 400, 0.2):
        u = rng.random()
        if s == CHALCOGEN and u < cut[-1]:
            planted[(s, i, j)] = list(shares)[int(np.searchsorted(cut, u, side="right"))]
    img, _ = render_tmd(chem, planted, 0.2, 400, 1e4, np.random.default_rng(0), exponent=exponent)
    r = st.read_sites(img, 0.2, chemistry=chem)
    located, right = _sites_read(r, chem, planted, 400, 0.2)
    assert located >= 0.99 and right >= 0.98
    assert any(f"substituted by {dopant}" in w for w in r.warnings)


def test_the_sublattices_are_left_alone_where_the_chalcogen_is_uniform_or_cannot_pass_the_metal():
    """A sparsely substituted MoSe2 (both sublattices spread alike) and chemistries whose chalcogen
    columns stay on one side of the metal's (WS2 with Se, WSe2 with S, no substituent) keep the
    lattice fit's sublattices, and the check costs them nothing."""
    assert sl.levels_straddle_metal(chemistry_of("MoSe2", ["S"]))
    assert sl.levels_straddle_metal(chemistry_of("MoS2", ["Se"]))
    for m, d in (("WS2", ["Se"]), ("WSe2", ["S"]), ("MoS2", []), ("MoSe2", ["V"])):
        assert not sl.levels_straddle_metal(chemistry_of(m, d)), (m, d)
    chem = chemistry_of("MoSe2", ["S"])
    rng = np.random.default_rng(2)
    planted = {(s, i, j): "S_Se" for s, i, j, _, _ in tmd_sites(chem, 320, 0.2)
               if s == CHALCOGEN and rng.random() < 0.03}
    img, _ = render_tmd(chem, planted, 0.2, 320, 3e3, rng)
    lat = fit_column_lattice(img, 0.2, chem.lattice_a_A, chalcogen_brighter=chem.chalcogen_brighter)
    same, note = sl.metal_sublattice(img, lat, chem)
    assert same is lat and note is None
    r = st.read_sites(img, 0.2, chemistry=chem)
    located, right = _sites_read(r, chem, planted, 320, 0.2)
    assert located >= 0.99 and right >= 0.98


def _alloy_image(material, dopant, share, seed=0, size=400, ps=0.2, dose=1e4):
    chem = chemistry_of(material, [dopant])
    rng = np.random.default_rng(seed)
    name = next(c for c in chem.site_contents()["metal"] if c.startswith(dopant))
    planted = {(s, i, j): name for s, i, j, _, _ in tmd_sites(chem, size, ps) if s == "metal" and rng.random() < share}
    img, _ = render_tmd(chem, planted, ps, size, dose, rng)
    return chem, planted, img


@pytest.mark.parametrize("material, dopant, share", [("MoS2", "W", 0.45), ("WS2", "Mo", 0.6), ("WSe2", "Mo", 0.75),
                                                     ("MoSe2", "W", 0.45), ("MoSe2", "W", 0.6)])
def test_a_metal_alloy_is_read_against_its_chalcogen_columns(material, dopant, share):
    """Mo/W alloys in comparable numbers: read against the median metal column they were refused
    ('noise 0.7 of a metal column'); read against the neighbouring chalcogen columns every metal
    column is named. W-poor WSe2 (75 % Mo) also reads its metal sublattice dimmer than its Se2 one:
    the sublattice that spreads over two levels is the metal's. MoSe2 with 45 % W reads its metal
    sublattice brighter on average but dimmer at the median than its Se2 one: the lattice fit
    refused it ('dim/bright sublattice ratio 1.15') and now names the sublattices by their medians;
    with 60 % W the fit, started from WS2's contrast, put the dim sublattice on the hollow sites
    (refused by the reading) and now starts from MoSe2's."""
    chem, planted, img = _alloy_image(material, dopant, share)
    r = st.read_sites(img, 0.2, chemistry=chem)
    located, right = _sites_read(r, chem, planted, 400, 0.2, "metal")
    assert located >= 0.99 and right >= 0.98
    assert any("an alloy of" in w for w in r.warnings)
    assert (r.sites.loc[r.sites["kind"] == CHALCOGEN, "class"] == chem.pristine(CHALCOGEN)).mean() >= 0.99


@pytest.mark.parametrize("material, dopant, share", [("MoS2", "W", 0.45), ("WS2", "Mo", 0.6)])
def test_an_alloy_movie_is_read_in_every_frame(material, dopant, share):
    """Six drifting frames of an alloy: each frame's median metal column jumps between the two
    metals, and the crosstalk fitted on the few isolated sites shifted every reading (WS2 with 60 %
    Mo: 0.65 of the metal sites right); the second metal's tails left 3–8 % of the chalcogen sites
    called vacancies. Now every metal site is right in every frame, and at most 1 % of the chalcogen
    site readings are false calls (one S2 site of 224, with no W neighbour, read low in all six
    frames of the MoS2 movie; a sparsely doped reading of such frames makes none)."""
    from scipy.spatial import cKDTree

    chem = chemistry_of(material, [dopant])
    rng = np.random.default_rng(0)
    name = next(c for c in chem.site_contents()["metal"] if c.startswith(dopant))
    planted = {(s, i, j): name for s, i, j, _, _ in tmd_sites(chem, 360, 0.2, (-4.0, -4.0))
               if s == "metal" and rng.random() < share}
    frames, truths, origin = [], [], np.array([-4.0, -4.0])
    for _ in range(6):
        img, _ = render_tmd(chem, planted, 0.2, 320, 3e3, rng, origin_A=origin)
        frames.append(img)
        truths.append([(x, y, planted.get((sb, i, j), chem.pristine("metal")))
                       for sb, i, j, x, y in tmd_sites(chem, 320, 0.2, origin) if sb == "metal"])
        origin = origin + np.array([0.05, -0.03])
    r = st.read_sites(np.array(frames), 0.2, chemistry=chem)
    assert any("an alloy of" in w for w in r.warnings)
    for t, truth in enumerate(truths):
        s = r.sites[(r.sites["frame"] == t) & (r.sites["kind"] == "metal")]
        d, k = cKDTree(np.array([(x, y) for x, y, _ in truth])).query(s[["x_A", "y_A"]].to_numpy())
        names = np.array([c for *_, c in truth], object)[k]
        assert np.all(d < 0.5) and np.mean(s["class"].to_numpy() == names) >= 0.99, t
    chal = r.sites[r.sites["kind"] == CHALCOGEN]
    assert chal["significant"].mean() <= 0.01


def test_a_sparsely_doped_metal_sublattice_is_read_against_its_metal_columns():
    """5 % W in MoS2 is no alloy: the first frame's metal readings show one level, and the reading is
    the usual one (the standard WS2 movie's few Mo likewise, bit for bit)."""
    from helpers.detect.site_alloy import fit_metal_alloy

    chem, planted, img = _alloy_image("MoS2", "W", 0.05)
    r = st.read_sites(img, 0.2, chemistry=chem)
    assert not any("an alloy of" in w for w in r.warnings)
    located, right = _sites_read(r, chem, planted, 400, 0.2, "metal")
    assert located >= 0.99 and right >= 0.98
    rng = np.random.default_rng(0)
    one_level = 2.6 * (1 + 0.05 * rng.standard_normal(600))
    assert fit_metal_alloy(one_level, chem) is None
    two = np.r_[one_level[:300], 2.6 * 2.6 * (1 + 0.05 * rng.standard_normal(300))]
    alloy = fit_metal_alloy(two, chem)
    assert alloy is not None and alloy.element == "W" and alloy.share == pytest.approx(0.5, abs=0.05)
    assert alloy.level / alloy.host == pytest.approx(2.6, rel=0.03)


def test_an_alloy_without_its_second_metal_named_is_refused_clearly():
    """Mo0.55W0.45S2 read as MoS2 with no dopant: no reference for the metal columns; the error names
    the alloy and how to read it."""
    _, _, img = _alloy_image("MoS2", "W", 0.45)
    with pytest.raises(ValueError, match="--dopants W"):
        st.read_sites(img, 0.2, chemistry=chemistry_of("MoS2", []))


@pytest.mark.parametrize("dopant", ["V", "Mo"])
def test_a_large_field_doped_wse2_frame_without_a_pixel_size_gives_its_dopants(tmp_path, dopant):
    """512² px at 0.38 Å/px (195 Å, ≈ 8,000 columns: a large-field image) saved with no pixel size:
    the renderer fills the frame to its last row, the command takes the pixel size from the WSe2
    lattice and calls the metal-site dopants it was told of (precision ≥ 0.95, recall ≥ 0.9 within
    1.2 Å; the issue's bar for real images is 0.8 / 0.7)."""
    from helpers import AnalysisSettings, analyze_file
    from helpers.evaluation.matching import match_points

    chem, ps, size = chemistry_of("WSe2", [dopant]), 0.38, 512
    rng = np.random.default_rng(3)
    sites = tmd_sites(chem, size, ps)
    assert max(y for *_, y in sites) > (size - 1) * ps - chem.lattice_a_A  # filled to the last row
    planted = {(s, i, j): f"{dopant}_W" for s, i, j, _, _ in sites if s == "metal" and rng.random() < 0.03}
    img, truth = render_tmd(chem, planted, ps, size, 2e3, rng)
    np.save(tmp_path / "frame.npy", img)
    res = analyze_file(tmp_path / "frame.npy", tmp_path / "out",
                       AnalysisSettings(material="WSe2", dopants=(dopant,), quiet=True, sites_csv=False))
    assert res.summary["pixel_size_A"] == pytest.approx(ps, rel=0.01)
    assert res.summary["areas"]["fractions"].get("masked", 0.0) == 0.0 if "fractions" in res.summary["areas"] else True
    lo, hi = EDGE_MARGIN_A + 0.5, (size - 1) * ps - EDGE_MARGIN_A - 0.5
    true_xy = np.array([(x, y) for x, y, _ in truth if lo < x < hi and lo < y < hi])
    found = res.defects()
    calls = found[found["class"] == f"{dopant}_W"][["x_A", "y_A"]].to_numpy()
    m = match_points(calls, true_xy, 1.2)
    assert len(true_xy) > 50
    assert m.tp / len(calls) >= 0.95 and m.tp / len(true_xy) >= 0.9
