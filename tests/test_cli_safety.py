"""The command never loses data and answers bad input at once: every case a user reported,
reproduced (exit status, message, what is left on disk)."""
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from helpers import analyze as cli
from helpers.cli import Interrupted, main
from helpers.core import validation
from helpers.io import readers as fm
from helpers.io import result_folder as rf
from helpers.io import writers
from helpers.kinetics.tracking import renumber_tracks
from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import standard_params

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def movie():
    return generate_movie(standard_params(n_frames=3, frame_px=200, seed=13), progress=False)


@pytest.fixture()
def stack(tmp_path, movie):
    d = tmp_path / "data"
    d.mkdir()
    p = writers.write_imagej_tiff(d / "stack.tif", movie.frames, 0.2)
    (d / "notes.txt").write_text("the user's notes")
    return p


def fake_result(folder: Path, extra: dict | None = None) -> Path:
    """A previous result of the command, as it writes one."""
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({rf.MARKER_KEY: rf.MARKER_VALUE, "file": "x",
                                                     **(extra or {})}))
    (folder / "defects.csv").write_text("frame,id\n0,0\n")
    return folder


def one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


def tree(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------
# --out can never delete anything that is not a previous result


def test_out_holding_the_input_is_refused_even_with_overwrite(stack, capsys):
    before = tree(stack.parent)
    rc = main(["analyze", str(stack), "--out", str(stack.parent), "--overwrite", "--pretrained", "--quiet"])
    assert rc == 2
    one_line_error(capsys, "holds the input")
    assert tree(stack.parent) == before


def test_out_being_the_input_file_is_refused(stack, capsys):
    assert main(["analyze", str(stack), "--out", str(stack), "--overwrite", "--quiet"]) == 2
    one_line_error(capsys, "is the input")
    assert stack.exists()


def test_out_dot_the_working_folder_is_refused(stack, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "precious.txt").write_text("keep me")
    monkeypatch.chdir(work)
    for out in (".", str(work), str(tmp_path)):  # the working folder, and a folder holding it
        assert main(["analyze", str(stack), "--out", out, "--overwrite", "--pretrained", "--quiet"]) == 2
        one_line_error(capsys, "working folder")
    assert (work / "precious.txt").read_text() == "keep me"


def test_a_folder_the_command_did_not_write_is_never_replaced(stack, tmp_path, capsys):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("chapter 1")
    assert main(["analyze", str(stack), "--out", str(other), "--overwrite", "--quiet"]) == 2
    one_line_error(capsys, "not a previous result", "never replaced")
    # a previous result with a file the user added is not replaced either
    res = fake_result(tmp_path / "res")
    (res / "my_notes.txt").write_text("added by hand")
    assert main(["analyze", str(stack), "--out", str(res), "--overwrite", "--quiet"]) == 2
    one_line_error(capsys, "my_notes.txt")
    assert (other / "thesis.tex").exists() and (res / "my_notes.txt").exists()


def test_out_naming_a_file_or_a_missing_parent_is_refused_before_any_work(stack, tmp_path, capsys):
    f = tmp_path / "a_file.txt"
    f.write_text("x")
    assert main(["analyze", str(stack), "--out", str(f), "--overwrite", "--quiet"]) == 2
    one_line_error(capsys, "not a folder")
    assert f.read_text() == "x"
    assert main(["analyze", str(stack), "--out", str(tmp_path / "no" / "such" / "out"), "--quiet"]) == 2
    one_line_error(capsys, "does not exist")


def test_unwritable_parent_is_refused_before_any_work(stack, tmp_path, capsys, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    real_access = os.access
    monkeypatch.setattr(rf.os, "access", lambda p, mode: False if Path(p) == parent else real_access(p, mode))
    assert main(["analyze", str(stack), "--out", str(parent / "out"), "--quiet"]) == 2
    one_line_error(capsys, "no permission to write")


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc (read-only for root too)")
def test_a_folder_that_cannot_be_created_is_reported(stack, capsys):
    # root passes every permission check; /proc refuses new folders even to root
    assert main(["analyze", str(stack), "--out", "/proc/defectfinder_out", "--pretrained", "--quiet"]) == 2
    one_line_error(capsys, "/proc/defectfinder_out")


def test_symlinked_out_is_refused(stack, tmp_path, capsys):
    target = fake_result(tmp_path / "res")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert main(["analyze", str(stack), "--out", str(link), "--overwrite", "--quiet"]) == 2
    one_line_error(capsys, "symbolic link")


# ------------------------------------------------------------------------------------------------
# replacing a result: atomic, interrupted at any point → old or new result complete, no leftovers


def test_interrupted_analysis_keeps_the_old_result_and_leaves_no_working_folder(stack, tmp_path, capsys,
                                                                                monkeypatch):
    res = fake_result(tmp_path / "res", {"old": True})
    before = tree(res)

    def interrupted(job, folder, log=print):
        (folder / "defects.csv").write_text("half written")
        raise Interrupted("SIGTERM")

    monkeypatch.setattr(cli, "_analyze_into", interrupted)
    assert main(["analyze", str(stack), "--out", str(res), "--overwrite", "--pretrained", "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert tree(res) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_signal_inside_a_library_import_is_an_interruption(stack, tmp_path, capsys, monkeypatch):
    """SIGTERM while TensorFlow initialises its C extension reaches us as its ImportError: still an
    interruption (exit 130, old result intact), not a crash; any other ImportError still raises."""
    res = fake_result(tmp_path / "res", {"old": True})
    before = tree(res)

    def loading(job, folder, log=print):
        try:
            raise Interrupted("SIGTERM")
        except Interrupted as e:
            raise ImportError("initialization failed") from e

    monkeypatch.setattr(cli, "_analyze_into", loading)
    assert main(["analyze", str(stack), "--out", str(res), "--overwrite", "--pretrained", "--quiet"]) == 130
    assert "interrupted (SIGTERM)" in capsys.readouterr().err
    assert tree(res) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    def broken(job, folder, log=print):
        raise ImportError("no module named tensorflow")

    monkeypatch.setattr(cli, "_analyze_into", broken)
    with pytest.raises(ImportError):
        main(["analyze", str(stack), "--out", str(res), "--overwrite", "--pretrained", "--quiet"])


def test_overwrite_swaps_in_the_new_result_with_user_permissions(stack, tmp_path, monkeypatch):
    res = fake_result(tmp_path / "res", {"old": True})

    def quick(job, folder, log=print):
        (folder / "summary.json").write_text(json.dumps({rf.MARKER_KEY: rf.MARKER_VALUE, "new": True,
                                                         "detections": 0, "frames": 1,
                                                         "pixel_size_A": 0.2,
                                                         "pixel_size_source": "file",
                                                         "frames_per_s": 1.0}))
        return json.loads((folder / "summary.json").read_text())

    monkeypatch.setattr(cli, "_analyze_into", quick)
    old_mask = os.umask(0o027)
    try:
        assert main(["analyze", str(stack), "--out", str(res), "--overwrite", "--pretrained",
                     "--quiet"]) == 0
    finally:
        os.umask(old_mask)
    assert json.loads((res / "summary.json").read_text())["new"] is True
    assert not (res / "defects.csv").exists()  # nothing of the old result mixed in
    assert stat.S_IMODE(res.stat().st_mode) == 0o750
    assert stat.S_IMODE((res / "summary.json").stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_signals_are_held_during_the_swap(tmp_path, monkeypatch):
    out = fake_result(tmp_path / "res", {"old": True})
    got = []

    def on_term(signum, frame):
        got.append("term")
        raise Interrupted("SIGTERM")

    real_rename = os.rename

    def rename_then_signal(a, b):  # SIGTERM arrives between the two renames of the swap
        real_rename(a, b)
        if ".df-old-" in str(b):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # time for Python to run a handler, were it not held back
            assert got == []

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        with pytest.raises(Interrupted):
            with rf.ResultFolder(out, overwrite=True) as tmp:
                (tmp / "summary.json").write_text(json.dumps({rf.MARKER_KEY: rf.MARKER_VALUE, "new": 1}))
                monkeypatch.setattr(os, "rename", rename_then_signal)
    finally:
        monkeypatch.undo()
        signal.signal(signal.SIGTERM, old)
    assert got == ["term"]  # delivered after the swap
    assert json.loads((out / "summary.json").read_text())["new"] == 1  # the swap completed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_a_killed_run_is_recovered_by_the_next(tmp_path):
    out = tmp_path / "res"
    dead = 2 ** 22 + 12345  # no such process
    fake_result(tmp_path / f".res.df-old-{dead}-ab12")  # killed between the two renames
    (tmp_path / f".res.df-tmp-{dead}-cd34").mkdir()  # a half-written working folder
    notes = rf.recover_leftovers(out)
    assert (out / "summary.json").exists() and len(notes) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_sigterm_during_a_real_run_leaves_the_old_result_and_no_working_folder(stack, tmp_path):
    res = fake_result(tmp_path / "res", {"old": True})
    before = tree(res)
    p = subprocess.Popen([sys.executable, "-m", "helpers", "analyze", str(stack), "--out", str(res),
                          "--overwrite", "--quiet", "--method", "localizer", "--epochs", "50",
                          "--crops", "512"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".res.df-tmp-*")):
        time.sleep(0.05)
    assert list(tmp_path.glob(".res.df-tmp-*")), "the run never started its working folder"
    time.sleep(3)  # inside the analysis (TensorFlow loading or training)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "interrupted (SIGTERM)" in err
    assert tree(res) == before
    assert sorted(q.name for q in tmp_path.iterdir()) == ["data", "res"]


# ------------------------------------------------------------------------------------------------
# bad input, answered before TensorFlow loads


def test_missing_file_is_answered_before_tensorflow_loads(tmp_path):
    code = ("import sys; from helpers.cli import main; rc = main(['analyze', 'missing.tif', '--out', 'o']);"
            "print(rc, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.stdout.split() == ["2", "False", "False"]
    assert r.stderr.strip() == "error: missing.tif: file not found"


def test_argument_errors_are_one_line(capsys):
    assert main(["analyze", "x.tif"]) == 2
    one_line_error(capsys, "--out")
    assert main(["analyze", "x.tif", "--out", "o", "--frames", "3"]) == 2
    one_line_error(capsys, "--frames")


def test_truncated_tiff_stack_is_named(stack, tmp_path, capsys):
    cut = tmp_path / "cut.tif"
    data = stack.read_bytes()
    cut.write_bytes(data[:len(data) - 100_000])
    assert main(["analyze", str(cut), "--out", str(tmp_path / "o"), "--pretrained", "--quiet"]) == 2
    one_line_error(capsys, "truncated", str(cut))
    assert not (tmp_path / "o").exists()


def test_truncated_multipage_tiff_is_named(tmp_path, movie):
    p = tmp_path / "pages.tif"
    for f in movie.frames:
        tifffile.imwrite(p, f, append=True)
    data = p.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[:len(data) - 50_000])
    with pytest.raises(validation.InputError, match="truncated|damaged"):
        fm.read_frames(cut, pixel_size_A=0.2)


@pytest.mark.parametrize("ps", [100.0, 5.0, 0.7])
def test_pixel_sizes_no_lattice_image_can_have(stack, tmp_path, capsys, ps):
    assert main(["analyze", str(stack), "--out", str(tmp_path / "o"), "--pixel-size", str(ps),
                 "--pretrained", "--quiet"]) == 2
    one_line_error(capsys, "too coarse", "at most 0.612 Å/px")


def test_frame_too_small_for_its_pixel_size(tmp_path, capsys, movie):
    p = tmp_path / "tiny.npy"
    np.save(p, movie.frames[0])
    assert main(["analyze", str(p), "--out", str(tmp_path / "o"), "--pixel-size", "0.05", "--quiet"]) == 2
    one_line_error(capsys, "smaller than one 19.2 Å window")


def test_frames_beyond_the_file_are_refused(stack, tmp_path, capsys):
    assert main(["analyze", str(stack), "--out", str(tmp_path / "o"), "--frames", "2:30",
                 "--pretrained", "--quiet"]) == 2
    one_line_error(capsys, "--frames 2:30", "has 3 frame(s)")
    assert main(["analyze", str(stack), "--out", str(tmp_path / "o"), "--frames", "5:",
                 "--pretrained", "--quiet"]) == 2
    one_line_error(capsys, "beyond the file")


def test_containers_with_several_arrays_need_dataset(tmp_path, capsys, movie):
    p = tmp_path / "two.npz"
    np.savez(p, haadf=movie.frames, bf=movie.frames[:, ::-1], pixel_size_A=0.2)
    assert main(["analyze", str(p), "--out", str(tmp_path / "o"), "--pretrained", "--quiet"]) == 2
    one_line_error(capsys, "--dataset", "haadf (3, 200, 200)", "bf (3, 200, 200)")
    assert main(["analyze", str(p), "--out", str(tmp_path / "o"), "--dataset", "df", "--quiet"]) == 2
    one_line_error(capsys, "no image array named 'df'")
    fr = fm.read_frames(p, dataset="bf")
    assert np.array_equal(fr.data, movie.frames[:, ::-1].astype(np.float32))
    h = tmp_path / "two.h5"
    with h5py.File(h, "w") as f:
        f.create_dataset("a/haadf", data=movie.frames[0])
        f.create_dataset("b/abf", data=movie.frames[1])
        f.create_dataset("drift", data=np.zeros((3, 2)))  # not an image: never a choice
    with pytest.raises(validation.InputError, match="choose one with --dataset"):
        fm.read_frames(h, pixel_size_A=0.2)
    assert np.array_equal(fm.read_frames(h, pixel_size_A=0.2, dataset="b/abf").data[0], movie.frames[1])


def test_bad_settings_are_named(stack, tmp_path, capsys):
    for extra, word in ((["--material", "XyZ2"], "--material"), (["--unknown-below", "2"], "--unknown-below"),
                        (["--epochs", "0"], "--epochs"), (["--pixel-size", "-1"], "--pixel-size"),
                        (["--workers", "2"], "batches")):
        assert main(["analyze", str(stack), "--out", str(tmp_path / "o"), "--quiet", *extra]) == 2
        one_line_error(capsys, word)


# ------------------------------------------------------------------------------------------------
# deterministic output


def test_track_numbers_follow_first_appearance():
    t = pd.DataFrame({"frame": [0, 1, 0, 1, 2], "id": [1, 1, 0, 0, 0], "track": [7, 7, 3, 3, 3]})
    r = renumber_tracks(t)
    assert r.set_index(["frame", "id"])["track"].to_dict() == {(0, 0): 1, (1, 0): 1, (2, 0): 1,
                                                               (0, 1): 2, (1, 1): 2}


def test_identical_runs_give_identical_tables_on_the_training_path(stack, tmp_path):
    outs = []
    for k in range(2):
        out = tmp_path / f"r{k}"
        assert main(["analyze", str(stack), "--out", str(out), "--method", "localizer", "--crops", "64",
                     "--epochs", "1",
                     "--quiet"]) == 0
        outs.append(pd.read_csv(out / "defects.csv"))
    pd.testing.assert_frame_equal(outs[0], outs[1])
    assert outs[0]["track"].min() == 1


def test_a_run_prints_no_tensorflow_lines(stack, tmp_path):
    r = subprocess.run([sys.executable, "-m", "helpers", "analyze", str(stack), "--out", "res",
                        "--pretrained", "--quiet", "--frames", "1:2"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    for noise in ("absl", "oneDNN", "cpu_feature_guard", "I0000", "E0000"):
        assert noise not in r.stderr, r.stderr
    assert json.loads((tmp_path / "res" / "summary.json").read_text())[rf.MARKER_KEY] == rf.MARKER_VALUE


# ------------------------------------------------------------------------------------------------
# many files on Dask distributed


def test_batch_on_a_two_worker_local_cluster_with_a_corrupt_file(tmp_path, movie):
    d = tmp_path / "session"
    d.mkdir()
    np.savez(d / "a.npz", frames=movie.frames[:1], pixel_size_A=0.2)
    np.savez(d / "b.npz", frames=movie.frames[1:2], pixel_size_A=0.2)
    (d / "c.tif").write_bytes(b"II*\x00 this is not really a TIFF")
    (d / "readme.txt").write_text("not an image: not part of the batch")
    out = tmp_path / "batch"
    common = ["--quiet", "--seed", "5"]
    rc = main(["analyze", str(d), "--out", str(out), "--workers", "2", *common])
    assert rc == 2  # one file failed
    rec = json.loads((out / "batch.json").read_text())
    assert (rec["done"], rec["failed"], rec["skipped"]) == (2, 1, 0)
    assert "not a readable TIFF" in rec["files"]["c_tif"]["reason"]
    assert sorted(p.name for p in out.iterdir()) == ["a_npz", "b_npz", "batch.json"]
    # identical to the file run on its own
    single = tmp_path / "single_a"
    assert main(["analyze", str(d / "a.npz"), "--out", str(single), *common]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "a_npz" / "defects.csv"),
                                  pd.read_csv(single / "defects.csv"))
    # resumed: the finished files are skipped, the corrupt one is tried again
    before = (out / "a_npz" / "defects.csv").stat().st_mtime_ns
    rc = main(["analyze", str(d), "--out", str(out), "--workers", "2", *common])
    rec = json.loads((out / "batch.json").read_text())
    assert rc == 2 and (rec["done"], rec["failed"], rec["skipped"]) == (0, 1, 2)
    assert (out / "a_npz" / "defects.csv").stat().st_mtime_ns == before
    # a batch folder is never a folder the command did not write
    mine = tmp_path / "mine"
    mine.mkdir()
    assert main(["analyze", str(d), "--out", str(mine), *common]) == 2
