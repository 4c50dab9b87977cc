"""One area through time or separate images (helpers.detect.series): a movie's consecutive frames
share their non-periodic detail, separate images do not; a series is read image by image."""
import numpy as np
import pytest

from helpers.core.chemistry import chemistry_of
from helpers.detect import series
from helpers.detect import sites as st
from helpers.detect.registration import frame_shifts
from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import standard_params

PS, A = 0.2, 3.18
WS2 = chemistry_of("WS2")


@pytest.fixture(scope="module")
def movies():
    """Two 3-frame 256 px movies of different areas (different seeds) at 0.2 Å/px."""
    return [generate_movie(standard_params(n_frames=3, frame_px=256, seed=s, orientation_deg=0.0), progress=False)
            for s in (31, 32)]


def test_a_movie_is_one_area_and_separate_images_are_not(movies):
    m = movies[0].frames
    pairs = series.frame_pairs(m, frame_shifts(m), PS, A)
    assert len(pairs) == 2 and pairs["same"].all() and (pairs["r"] > 0.5).all(), pairs
    assert not series.is_series(pairs) and series.cut_note(pairs) is None
    stack = np.stack([movies[0].frames[0], movies[1].frames[0], movies[0].frames[2][::-1, ::-1]])
    pairs = series.frame_pairs(stack, frame_shifts(stack), PS, A)
    assert not pairs["same"].any() and (pairs["reliability"] > 0.8).all(), pairs
    assert series.is_series(pairs)


def test_no_verdict_where_one_frame_cannot_show_its_detail():
    """At 7·10² e/Å² per frame one frame's detail is mostly noise (reliability below 0.6): the frames of a
    movie are never called separate images."""
    m = generate_movie(standard_params(n_frames=3, frame_px=256, seed=33, dose_e_per_A2=700), progress=False).frames
    pairs = series.frame_pairs(m, frame_shifts(m), PS, A)
    assert (pairs["reliability"] < series.MIN_RELIABILITY).all() and pairs["same"].all(), pairs


def test_a_jump_to_another_area_is_named_with_file_frame_numbers(movies):
    stack = np.concatenate([movies[0].frames, movies[1].frames])  # frames 1-3 one area, 4-6 another
    pairs = series.frame_pairs(stack, frame_shifts(stack), PS, A)
    assert pairs.loc[~pairs["same"], "frame"].tolist() == [3], pairs
    note = series.cut_note(pairs, first=10)
    assert "1 of 5 frame pairs" in note and "13→14" in note


def test_a_series_is_read_image_by_image(movies):
    stack = np.stack([movies[0].frames[0], movies[1].frames[0]])
    reading, pairs, per_image = series.read_stack(stack, PS, A, WS2, progress=False)
    assert per_image is not None and [d["frame"] for d in per_image] == [0, 1]
    assert "separate images" in reading.warnings[0]
    alone = st.read_sites(stack[1:], PS, A, progress=False, chemistry=WS2)
    joined = st.defect_table(reading)
    mine = joined[joined.frame == 1].drop(columns=["frame", "id"]).reset_index(drop=True)
    other = st.defect_table(alone).drop(columns=["frame", "id"]).reset_index(drop=True)
    assert len(other) > 5 and mine.equals(other)
    assert per_image[1]["defects"] == len(other)
    m = movies[0].frames
    reading, pairs, per_image = series.read_stack(m, PS, A, WS2, progress=False)
    assert per_image is None and pairs["same"].all()


def test_the_command_reads_a_file_of_separate_images_one_by_one(tmp_path, movies):
    from helpers.analyze import analyze_file

    p = tmp_path / "two_fields.npy"
    np.save(p, np.stack([movies[0].frames[0], movies[1].frames[0]]))
    lines = []
    res = analyze_file(p, tmp_path / "out", log=lines.append)
    pairs = res["frame_pairs"]
    assert pairs["read_as"] == "separate images" and pairs["not_same_area"] == ["1-2"]
    assert [d["frame"] for d in res["images"]] == [1, 2] and "tracks" not in res.summary
    assert any("separate images" in w for w in lines)
    assert set(res.defects()["frame"]) == {1, 2}
