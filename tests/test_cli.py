"""The command line: a TIFF stack and a single-image file end to end, and every expected bad input
ends with a one-line error and exit status 2."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tifffile

from helpers import analyze as cli
from helpers.cli import main
from helpers.detect import sites as st
from helpers.detect.site_model import EDGE_MARGIN_A
from helpers.evaluation.defects import score_defects
from helpers.io import writers as fm
from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import standard_params


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    m = generate_movie(standard_params(n_frames=4, frame_px=256, seed=11), progress=False)
    return fm.write_imagej_tiff(d / "stack.tif", m.frames, 0.2), m


def test_help_documents_the_command():
    r = subprocess.run([sys.executable, "-m", "helpers", "analyze", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0
    for opt in ("--pixel-size", "--material", "--frames", "--out", "--pretrained", "--overwrite"):
        assert opt in r.stdout
    from helpers.io.readers import SUFFIXES
    text = " ".join(r.stdout.split())  # the help wraps its lines
    missing = [sfx for sfx in SUFFIXES if sfx not in text]
    assert not missing, f"formats read but not named in --help: {missing}"


def test_tiff_stack_end_to_end(stack, tmp_path, capsys):
    path, movie = stack
    out = tmp_path / "res"
    rc = main(["analyze", str(path), "--out", str(out), "--method", "localizer", "--crops", "64",
               "--epochs", "1", "--quiet"])
    assert rc == 0
    table = pd.read_csv(out / "defects.csv")
    assert {"frame", "id", "x_px", "y_px", "x_A", "y_A", "class", "probability", "track"} <= set(table.columns)
    assert set(table["frame"]) <= {1, 2, 3, 4}  # numbered from 1, as in the file
    s = json.loads((out / "summary.json").read_text())
    assert s["pixel_size_source"] == "file" and s["pixel_size_A"] == pytest.approx(0.2, rel=1e-4)
    assert s["calibration"]["ok"] is True and s["frames"] == 4 and "tracks" in s
    assert (out / "overlay_first.png").exists() and (out / "counts_over_time.png").exists()
    # an existing output folder is refused, and kept intact
    rc = main(["analyze", str(path), "--out", str(out), "--pretrained", "--quiet"])
    assert rc == 2 and "previous result" in capsys.readouterr().err
    assert (out / "defects.csv").exists()


def test_default_path_reads_every_site(stack, tmp_path):
    """The default command: every lattice site read; defects.csv holds the defects (on their lattice
    sites, classes from their content), sites.csv every site of every frame."""

    path, movie = stack
    out = tmp_path / "sites_out"
    assert main(["analyze", str(path), "--out", str(out), "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["method"] == "sites" and s["frames"] == 4 and "localizer" not in s
    assert 0.9 < s["column_reading"]["gain"] < 1.2 and s["sites_read_per_frame"] > 150
    # a movie's kinetics: a hop rate per class seen (hops per frame on a site), from the pair model
    rates = s["hop_rates_per_frame"]
    assert rates and set(rates) <= set(s["chemistry"]["classes"]) and all(0 <= v < 0.5 for v in rates.values())
    t = pd.read_csv(out / "defects.csv")
    assert {"frame", "id", "x_px", "y_px", "x_A", "y_A", "class", "probability", "site", "i", "j", "content",
            "z", "track"} <= set(t.columns)
    sites = pd.read_csv(out / "sites.csv")
    assert len(sites) == pytest.approx(4 * s["sites_read_per_frame"], abs=0.21) and sites["defect"].sum() == len(t)
    sc = score_defects(t.assign(frame=t["frame"] - 1), movie.visible_truth(), 0.2, movie.frames.shape, EDGE_MARGIN_A)
    assert sc["precision_1A"] > 0.95 and sc["recall_1A"] > 0.8 and sc["reported_in_margin"] == 0
    assert sc["position_median_error_A"] < 0.2


def test_single_image_with_pretrained_localizer_and_frame_selection(stack, tmp_path):
    _, movie = stack
    p = fm.write_rsciio_tiff(tmp_path / "single.tif", movie.frames[2], 0.2)
    out = tmp_path / "single_out"
    assert main(["analyze", str(p), "--out", str(out), "--pretrained", "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["frames"] == 1 and "tracks" not in s and s["detections"] > 5
    # the truth of that frame is found (the shipped localizer, the shipped classifier)
    t = pd.read_csv(out / "defects.csv")
    truth = movie.visible_truth(2)  # the frame written alone; defects.csv calls it frame 1
    d = np.hypot(t["x_A"].to_numpy()[:, None] - truth["x_A"].to_numpy()[None],
                 t["y_A"].to_numpy()[:, None] - truth["y_A"].to_numpy()[None])
    assert np.mean(d.min(axis=1) < 1.0) > 0.8  # most detections are real defects


def test_wrong_calibration_is_reported(stack, tmp_path, capsys):
    path, _ = stack
    out = tmp_path / "wrongcal"
    assert main(["analyze", str(path), "--out", str(out), "--pixel-size", "0.23", "--pretrained",
                 "--frames", "1:2", "--quiet"]) == 0
    assert "calibration" in capsys.readouterr().err
    s = json.loads((out / "summary.json").read_text())
    assert s["calibration"]["ok"] is False and s["frames"] == 2 and s["pixel_size_source"] == "user"


@pytest.mark.parametrize("make, msg", [
    (lambda d: (d / "x.xyz").write_text("?"), "unknown format"),
    (lambda d: (d / "x.tif").write_bytes(b"corrupt"), "not a readable TIFF"),
    (lambda d: np.save(d / "x.npy", np.zeros(50)), "2D image or a 3D stack"),
    (lambda d: np.save(d / "x.npy", np.full((300, 300), np.inf)), "NaN or infinite"),
    (lambda d: np.save(d / "x.npy", np.zeros((40, 40))), "smaller than one"),
    (lambda d: np.save(d / "x.npy", np.random.default_rng(0).random((300, 300))), "no pixel size"),
])
def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, make, msg):
    d = tmp_path / "in"
    d.mkdir()
    make(d)
    f = next(d.iterdir())
    args = ["analyze", str(f), "--out", str(tmp_path / "o"), "--pretrained", "--quiet"]
    if "pixel size" not in msg:
        args += ["--pixel-size", "0.2"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and str(f) in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_tiff_with_frames_of_different_sizes_is_refused(tmp_path, capsys):
    p = tmp_path / "ragged.tif"
    tifffile.imwrite(p, np.zeros((300, 300), np.float32))
    tifffile.imwrite(p, np.zeros((320, 300), np.float32), append=True)
    assert main(["analyze", str(p), "--out", str(tmp_path / "o"), "--pixel-size", "0.2", "--quiet"]) == 2
    assert "different sizes" in capsys.readouterr().err


def test_4d_data_is_refused(tmp_path, capsys):
    import h5py
    p = tmp_path / "ragged.h5"
    with h5py.File(p, "w") as f:  # frames of different sizes cannot form one stack
        f.create_dataset("frames", data=np.zeros((2, 3, 300, 300)))
    assert main(["analyze", str(p), "--out", str(tmp_path / "o"), "--pixel-size", "0.2", "--quiet"]) == 2
    assert "no 2D image or 3D stack" in capsys.readouterr().err


def test_sites_csv_written_in_chunks_is_the_whole_table(stack, tmp_path):

    _, movie = stack
    reading = st.read_sites(movie.frames, 0.2)
    cli._write_sites_csv(reading, tmp_path / "sites.csv", first=2, frames_per_chunk=3)
    got = pd.read_csv(tmp_path / "sites.csv")
    whole = st.site_table(reading)
    assert len(got) == len(whole) and got["frame"].min() == 3 and got["frame"].max() == 2 + len(movie.frames)
    assert np.allclose(got["content"], whole["content"], atol=1e-4) and (got["class"] == whole["class"]).all()


def test_a_file_calibration_the_lattice_contradicts_is_replaced_and_said(stack, tmp_path, capsys):
    """A file whose pixel size is 13 % off (as a real Nion export was): the lattice value is used, on
    stderr and in summary.json; the defects then sit where the truth is."""

    _, movie = stack
    wrong = fm.write_imagej_tiff(tmp_path / "wrong.tif", movie.frames, 0.2 * 1.13)
    out = tmp_path / "recal"
    assert main(["analyze", str(wrong), "--out", str(out), "--quiet"]) == 0
    assert "lattice value" in capsys.readouterr().err
    s = json.loads((out / "summary.json").read_text())
    assert s["pixel_size_A"] == pytest.approx(0.2, rel=0.01) and s["pixel_size_source"].startswith("lattice")
    assert s["calibration"]["used"] == "lattice" and s["calibration"]["file_pixel_size_A"] == pytest.approx(0.226)
    t = pd.read_csv(out / "defects.csv")
    sc = score_defects(t.assign(frame=t["frame"] - 1), movie.visible_truth(), 0.2, movie.frames.shape, EDGE_MARGIN_A)
    assert sc["precision_1A"] > 0.9 and sc["recall_1A"] > 0.8


def test_analyze_file_from_python(stack, tmp_path):
    """``helpers.analyze_file``: the command's settings as keywords, a result with the summary and
    the tables; an unknown setting or a bad value is refused before anything is written."""
    import helpers
    from helpers.core.validation import InputError

    path, movie = stack
    with pytest.raises(InputError, match="unknown analysis setting.*bogus"):
        helpers.analyze_file(path, tmp_path / "a", bogus=1)
    with pytest.raises(InputError, match="unknown-below"):
        helpers.analyze_file(path, tmp_path / "a", unknown_below=2.0)
    assert not (tmp_path / "a").exists()
    res = helpers.analyze_file(path, tmp_path / "a", frames=(0, 2), quiet=True)
    assert isinstance(res, helpers.AnalysisResult) and res.folder == tmp_path / "a"
    assert res["frames"] == 2 and res["method"] == "sites"
    table = res.defects()
    assert len(table) == res["detections"] and set(table["frame"]) <= {1, 2}
    assert len(res.sites()) >= 2 * res["sites_read_per_frame"] - 1
