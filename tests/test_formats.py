"""Readers on small files written by each format's own library, the calibration check, and the
command line on a short stack (and on every bad input the issue lists)."""
import json

import h5py
import numpy as np
import pytest
import tifffile

from helpers.core import validation
from helpers.io import calibration as calib
from helpers.io import readers as fm
from helpers.io import writers
from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import standard_params


@pytest.fixture(scope="module")
def small_movie():
    """A 3-frame, 256 px movie at 0.2 Å/px (about 1 s to make)."""
    return generate_movie(standard_params(n_frames=3, frame_px=256, seed=5), progress=False)


def test_numpy_and_npz(tmp_path, small_movie):
    p = tmp_path / "m.npy"
    np.save(p, small_movie.frames)
    fr = fm.read_frames(p, pixel_size_A=0.2)
    assert fr.data.shape == (3, 256, 256) and fr.data.dtype == np.float32
    assert fr.pixel_size_source == "user"
    p2 = tmp_path / "m.npz"
    np.savez(p2, frames=small_movie.frames, pixel_size_A=0.2)
    fr2 = fm.read_frames(p2)
    assert fr2.pixel_size_A == pytest.approx(0.2) and fr2.pixel_size_source == "file"


def test_hdf5_movie_and_generic(tmp_path, small_movie):
    p = tmp_path / "g.h5"
    with h5py.File(p, "w") as f:
        d = f.create_dataset("entry/image", data=small_movie.frames[0].astype(np.uint16))
        d.attrs["pixel_size_A"] = 0.2
    fr = fm.read_frames(p)
    assert fr.data.shape == (1, 256, 256) and fr.pixel_size_A == pytest.approx(0.2)


def test_imagej_tiff_stack_with_calibration(tmp_path, small_movie):
    p = tmp_path / "stack.tif"
    tifffile.imwrite(p, small_movie.frames.astype(np.float32), imagej=True,
                     resolution=(1 / 0.02, 1 / 0.02), metadata={"unit": "nm", "axes": "ZYX"})
    fr = fm.read_frames(p)
    assert fr.data.shape == (3, 256, 256)
    assert fr.pixel_size_A == pytest.approx(0.2, rel=1e-4) and fr.pixel_size_source == "file"


@pytest.mark.parametrize("scale, units", [(0.02, "nm"), (0.2, "Å"), (20.0, "pm")])
def test_nion_swift_style_tiff(tmp_path, small_movie, scale, units):
    p = tmp_path / "nion.tif"
    desc = json.dumps({"title": "HAADF", "spatial_calibrations": [
        {"offset": 0, "scale": scale, "units": units}, {"offset": 0, "scale": scale, "units": units}]})
    tifffile.imwrite(p, small_movie.frames[0], description=desc)
    fr = fm.read_frames(p)
    assert fr.pixel_size_A == pytest.approx(0.2) and fr.metadata["nion"]["title"] == "HAADF"


def test_rosettasciio_written_tiff(tmp_path, small_movie):
    p = writers.write_rsciio_tiff(tmp_path / "rs.tif", small_movie.frames[0], 0.2)
    fr = fm.read_frames(p)
    assert fr.data.shape == (1, 256, 256)
    assert fr.pixel_size_A == pytest.approx(0.2, rel=1e-4)
    with pytest.raises(FileExistsError):
        writers.write_rsciio_tiff(p, small_movie.frames[0], 0.2)


def test_ncem_emd_through_rosettasciio(tmp_path, small_movie):
    """An EMD 0.2 (NCEM) file laid out as the Berkeley EMD specification says, read by
    RosettaSciIO's EMD reader."""
    p = writers.write_ncem_emd(tmp_path / "ncem.emd", small_movie.frames[0], 0.2)
    fr = fm.read_frames(p)
    assert fr.data.shape == (1, 256, 256)
    assert fr.pixel_size_A == pytest.approx(0.2, rel=1e-3)


def _mrc(path, frames, pixel_size_A):
    """An MRC2014 file (float32 frames), its cell lengths giving the pixel size (Å)."""
    import struct

    nz, ny, nx = frames.shape
    head = bytearray(1024)
    struct.pack_into("<4i", head, 0, nx, ny, nz, 2)
    struct.pack_into("<3i", head, 28, nx, ny, nz)
    struct.pack_into("<6f", head, 40, nx * pixel_size_A, ny * pixel_size_A, nz, 90, 90, 90)
    struct.pack_into("<3i", head, 64, 1, 2, 3)
    head[208:216] = b"MAP " + bytes([0x44, 0x44, 0, 0])
    path.write_bytes(bytes(head) + frames.astype("<f4").tobytes())
    return path


def test_an_mrc_stack_through_rosettasciio(tmp_path, small_movie):
    fr = fm.read_frames(_mrc(tmp_path / "stack.mrc", small_movie.frames, 0.2))
    assert fr.data.shape == (3, 256, 256) and np.allclose(fr.data[1], small_movie.frames[1])
    assert fr.pixel_size_A == pytest.approx(0.2, rel=1e-5) and fr.pixel_size_source == "file"


@pytest.mark.parametrize("suffix, dtype, colour", [(".png", np.uint16, False), (".png", np.uint8, True),
                                                   (".bmp", np.uint8, False), (".jpg", np.uint8, False)])
def test_pictures_are_read_grey_and_calibrated_from_the_lattice(tmp_path, small_movie, suffix, dtype, colour):
    """A picture stores no pixel size: the material's lattice gives it (within 2 %); grey saved as
    colour stays grey; JPEG is read with a warning about its lossy blocks."""
    import imageio.v3 as iio

    f = small_movie.frames[0]
    img = ((f - f.min()) / np.ptp(f) * np.iinfo(dtype).max).astype(dtype)
    iio.imwrite(tmp_path / f"image{suffix}", np.stack([img] * 3, -1) if colour else img)
    fr = fm.read_frames(tmp_path / f"image{suffix}", material="WS2")
    assert fr.data.shape == (1, 256, 256) and fr.pixel_size_source == "lattice"
    assert fr.pixel_size_A == pytest.approx(0.2, rel=0.02)
    assert any("stores no pixel size" in n for n in fr.warnings)
    assert any("lossy" in n for n in fr.warnings) == (suffix == ".jpg")
    assert not any("RGB" in n for n in fr.warnings)
    if suffix != ".jpg":
        assert np.array_equal(fr.data[0], img.astype(np.float32))
    with pytest.raises(validation.InputError, match="no pixel size"):
        fm.require_pixel_size(fm.read_frames(tmp_path / f"image{suffix}"))


def test_imagej_writer_round_trip(tmp_path, small_movie):
    p = writers.write_imagej_tiff(tmp_path / "s.tif", small_movie.frames, 0.2)
    fr = fm.read_frames(p)
    assert fr.data.shape == (3, 256, 256) and fr.pixel_size_A == pytest.approx(0.2, rel=1e-4)


def test_integer_8bit_and_saturated_data_are_flagged(tmp_path):
    img = np.full((128, 128), 100, np.uint8)
    img[:10] = 255
    p = tmp_path / "sat.npy"
    np.save(p, img)
    fr = fm.read_frames(p, pixel_size_A=0.2)
    assert fr.data.dtype == np.float32
    assert any("saturated" in w for w in fr.warnings) and any("8-bit" in w for w in fr.warnings)


def test_frames_along_the_last_axis_are_moved_first_with_a_warning(tmp_path, small_movie):
    """(H, W, n), as MATLAB and np.dstack write stacks, is read as n frames, in .npy, .npz and .h5;
    an 8-bit (H, W, 3) array stays a colour picture; (n, H, W) is untouched."""
    hwn = np.moveaxis(small_movie.frames, 0, -1)  # (256, 256, 3)
    np.save(tmp_path / "hwn.npy", hwn)
    np.savez(tmp_path / "hwn.npz", frames=hwn)
    with h5py.File(tmp_path / "hwn.h5", "w") as f:
        f.create_dataset("frames", data=hwn)
    for name in ("hwn.npy", "hwn.npz", "hwn.h5"):
        fr = fm.read_frames(tmp_path / name, pixel_size_A=0.2)
        np.testing.assert_array_equal(np.asarray(fr.data[:]), small_movie.frames.astype(np.float32))
        assert any("frames along the last axis" in w for w in fr.warnings), (name, fr.warnings)
    np.save(tmp_path / "nhw.npy", small_movie.frames)
    fr = fm.read_frames(tmp_path / "nhw.npy", pixel_size_A=0.2)
    assert fr.data.shape == (3, 256, 256) and not any("last axis" in w for w in fr.warnings)
    np.save(tmp_path / "rgb.npy", np.zeros((64, 64, 3), np.uint8))
    fr = fm.read_frames(tmp_path / "rgb.npy", pixel_size_A=0.2)
    assert fr.data.shape == (1, 64, 64) and any("RGB" in w for w in fr.warnings)


def test_matlab_files_v5_and_v73(tmp_path, small_movie):
    """A MATLAB stack (rows, columns, frames), saved as v5 (SciPy) and as v7.3 (HDF5 behind a
    512-byte MATLAB header, axes reversed as MATLAB stores them), reads as the movie with its pixel
    size; two image variables need --dataset."""
    import scipy.io

    hwn = np.moveaxis(small_movie.frames, 0, -1)
    scipy.io.savemat(tmp_path / "v5.mat", {"movie": hwn, "pixel_size_nm": 0.02})
    p73 = tmp_path / "v73.mat"
    with h5py.File(p73, "w", userblock_size=512) as f:
        f.create_dataset("movie", data=hwn.T)
        f.create_dataset("pixel_size_A", data=np.array([[0.2]]))
    with open(p73, "r+b") as f:  # the header MATLAB writes: text, then version 0x0200 and 'IM'
        f.write(b"MATLAB 7.3 MAT-file, HDF5 schema 1.00 .".ljust(116) + bytes(8) + b"\x00\x02IM")
    for p in (tmp_path / "v5.mat", p73):
        fr = fm.read_frames(p)
        np.testing.assert_array_equal(np.asarray(fr.data[:]), small_movie.frames.astype(np.float32))
        assert fr.pixel_size_A == pytest.approx(0.2) and fr.pixel_size_source == "file"
    scipy.io.savemat(tmp_path / "two.mat", {"a": hwn[..., 0], "b": hwn[..., 1]})
    with pytest.raises(validation.InputError, match="--dataset"):
        fm.read_frames(tmp_path / "two.mat", pixel_size_A=0.2)
    fr = fm.read_frames(tmp_path / "two.mat", pixel_size_A=0.2, dataset="b")
    np.testing.assert_array_equal(np.asarray(fr.data[0]), small_movie.frames[1].astype(np.float32))


@pytest.mark.parametrize("true_ps", [0.15, 0.2, 0.3])
def test_calibration_from_the_lattice(true_ps):
    m = generate_movie(standard_params(n_frames=1, frame_px=int(60 / true_ps), pixel_size_A=true_ps,
                                       seed=3), progress=False)
    est = calib.estimate_pixel_size(m.frames[0], "WS2")
    assert abs(est - true_ps) / true_ps < 0.01
    bad = calib.check_calibration(m.frames[0], true_ps * 1.08, "WS2")
    assert not bad["ok"] and bad["relative_difference"] == pytest.approx(0.08, abs=0.01)
    assert calib.check_calibration(m.frames[0], true_ps, "WS2")["ok"]
    # the tolerance: 3 % (a real export 5 % off must not pass); 2 % (strain, the estimate's error) passes
    assert not calib.check_calibration(m.frames[0], true_ps * 1.04, "WS2")["ok"]
    assert calib.check_calibration(m.frames[0], true_ps * 0.98, "WS2")["ok"]


def test_calibration_needs_a_lattice_and_a_known_material():
    with pytest.raises(ValueError, match="lattice"):
        calib.estimate_pixel_size(np.random.default_rng(0).random((128, 128)), "WS2")
    with pytest.raises(ValueError, match="unknown material"):
        calib.estimate_pixel_size(np.zeros((64, 64)), "unobtainium")


@pytest.mark.parametrize("make, msg", [
    (lambda p: p.with_suffix(".xyz").write_text("x"), "unknown format"),
    (lambda p: p.with_suffix(".tif").write_bytes(b"not a tiff"), "not a readable TIFF"),
    (lambda p: np.save(p.with_suffix(".npy"), np.zeros(100)), "2D image or a 3D stack"),
    (lambda p: np.save(p.with_suffix(".npy"), np.full((64, 64), np.nan)), "NaN"),
    (lambda p: p.with_suffix(".mat").write_bytes(b"not a mat file"), "not a readable .mat"),
])
def test_bad_files_give_one_line_errors(tmp_path, make, msg):
    base = tmp_path / "bad"
    make(base)
    path = next(tmp_path.iterdir())
    with pytest.raises(validation.InputError, match=msg) as e:
        fm.read_frames(path, pixel_size_A=0.2)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_stack_with_frames_of_different_sizes(tmp_path):
    p = tmp_path / "ragged.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("a", data=np.zeros((64, 64)))
    fr = fm.read_frames(p, pixel_size_A=0.2)
    assert fr.n_frames == 1  # a single 2D dataset is one frame
    with pytest.raises(validation.InputError, match="2D image or a 3D stack"):
        fm.to_float_frames(np.zeros((2, 3, 4, 5)), p)


def test_stacks_are_read_from_disk_frame_by_frame(tmp_path, small_movie):
    """TIFF, .npy and HDF5 stacks stay on disk (memory map / open dataset) and give the same frames."""
    frames = small_movie.frames
    tif = writers.write_imagej_tiff(tmp_path / "m.tif", frames, 0.2)
    npy = tmp_path / "m.npy"
    np.save(npy, frames)
    h5 = tmp_path / "m.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("frames", data=frames, chunks=(1, 256, 256))
    for p in (tif, npy, h5):
        fr = fm.read_frames(p, pixel_size_A=0.2)
        assert not fr.data.in_memory, p.suffix
        assert np.array_equal(fr.data[1], frames[1]) and np.array_equal(np.asarray(fr.data), frames)
        sub = fm.read_frames(p, pixel_size_A=0.2, frames=slice(1, 3)).data
        assert sub.shape == (2, 256, 256) and np.array_equal(sub[-1], frames[2])
        fr.data.close()


def test_a_nan_in_a_streamed_frame_is_named_when_it_is_read(tmp_path, small_movie):
    frames = small_movie.frames.copy()
    frames[1, 5, 5] = np.nan
    tif = writers.write_imagej_tiff(tmp_path / "m.tif", frames, 0.2)
    fr = fm.read_frames(tif)  # first and last frames are fine: opening succeeds
    with pytest.raises(validation.InputError, match="NaN or infinite values in frame 2"):
        fr.data[1]
    frames[2, 0, 0] = np.inf  # the last frame is checked on opening
    tif2 = writers.write_imagej_tiff(tmp_path / "m2.tif", frames, 0.2)
    with pytest.raises(validation.InputError, match="frame 3"):
        fm.read_frames(tif2)


def test_a_generated_movie_can_stream_to_a_tiff(tmp_path):
    p = standard_params(n_frames=3, frame_px=128, seed=2)
    a = generate_movie(p, progress=False)
    b = generate_movie(p, progress=False, frames_to=tmp_path / "m.tif")
    assert not b.frames.in_memory and np.array_equal(np.asarray(b.frames), a.frames)
    assert b.truth.equals(a.truth)
    fr = fm.read_frames(tmp_path / "m.tif")
    assert fr.pixel_size_A == pytest.approx(0.2) and np.array_equal(fr.data[2], a.frames[2])


def test_a_superstructure_inside_the_first_order_ring_is_not_taken_for_it():
    # a square pattern (a background, an ordered array of defects) and a weak hexagonal one (a moiré)
    # of 20 Å period put rings of spots inside the lattice's {100} ring; the pixel size still comes
    # from the lattice
    ps = 0.2
    m = generate_movie(standard_params(n_frames=1, frame_px=384, pixel_size_A=ps, seed=3), progress=False)
    frame = m.frames[0].astype(float)
    yy, xx = np.mgrid[:384, :384] * ps
    k = 2 * np.pi / 20.0
    square = np.cos(k * xx) + np.cos(k * yy)
    hexagonal = sum(np.cos(k * (xx * np.cos(a) + yy * np.sin(a))) for a in np.radians([0, 60, 120]))
    for pattern in (0.2 * square, 0.1 * hexagonal):
        assert abs(calib.estimate_pixel_size(frame * (1 + pattern), "WS2") - ps) / ps < 0.01
