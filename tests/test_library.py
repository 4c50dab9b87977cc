"""The shipped library files: schema, counts, physics, and reproducibility from their stored fields."""
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_simulate import _check

from helpers import config
from helpers.library.files import (
    LIBRARY_SPEC,
    TEST_LIBRARY_SPEC,
    LibrarySpec,
    cut_library_windows,
    load_library,
    write_library,
)
from helpers.library.physics import defect_signature
from helpers.library.structures import CLASS_NAMES


def expected_class_counts(spec: LibrarySpec) -> list[int]:
    """Images per class (label order) a library of this specification holds."""
    return [len(spec.orientations_deg[n]) for n in CLASS_NAMES]


def recut_library(path: Path, spec: LibrarySpec) -> dict:
    """Test helper: re-cut the windows of a library file from its stored fields (no re-simulation)."""
    with h5py.File(path, "r") as f:
        fields = {k: f["fields"][k][()] for k in f["fields"]}
        attrs = dict(f.attrs)
    names = json.loads(attrs["class_names"])
    index = {}
    for i, (lab, df) in enumerate(zip(fields["labels"], fields["defocus_A"])):
        index[(names[int(lab)], list(spec.defoci_A).index(float(df)))] = i
    n = fields["images"].shape[-1]
    windows = cut_library_windows(spec, fields["images"], index, float(attrs["field_pixel_size_A"]),
                                  (float(n // 2), float(n // 2)))
    return {**windows, "fields": fields, "attrs": attrs}


@pytest.fixture(scope="module")
def lib():
    return load_library(config.LIBRARY_FILE)


@pytest.fixture(scope="module")
def test_lib():
    return load_library(config.TEST_LIBRARY_FILE)


def test_library_schema_and_counts(lib):
    assert len(lib) == 45
    assert lib.class_counts() == [8, 8, 5, 8, 8, 8] == expected_class_counts(LIBRARY_SPEC)
    assert lib.class_names == CLASS_NAMES
    assert lib.images.shape == (45, 64, 64) and lib.images.dtype == np.float32
    assert np.all(np.isfinite(lib.images)) and lib.images.min() >= 0
    assert lib.pixel_size_A == pytest.approx(0.3)
    for key in ("abtem_version", "ase_version", "conditions", "created_utc", "seed"):
        assert key in lib.attrs
    cond = json.loads(lib.attrs["conditions"])
    assert cond["energy_eV"] == 60e3 and cond["semiangle_mrad"] == 30.0
    assert (cond["detector_inner_mrad"], cond["detector_outer_mrad"]) == (80.0, 200.0)
    w2s2 = lib.orientation_deg[lib.labels == 2]
    assert sorted(w2s2) == [0, 15, 30, 45, 60]
    assert sorted(set(lib.orientation_deg)) == [15.0 * k for k in range(8)]
    assert np.all(lib.defect_rc_px == 32)


def test_test_library_is_held_out(lib, test_lib):
    assert min(test_lib.class_counts()) >= 4
    assert test_lib.images.shape[1:] == (64, 64)
    assert not set(test_lib.orientation_deg) & set(lib.orientation_deg)
    assert not set(test_lib.defocus_A) & set(lib.defocus_A)
    seeds_lib = set(lib.fields["phonon_seed"].tolist())
    assert not seeds_lib & set(test_lib.fields["phonon_seed"].tolist())


@pytest.mark.parametrize("which", ["library", "test_library"])
def test_every_window_shows_its_defect_signature(which, lib, test_lib):
    data = lib if which == "library" else test_lib
    for img, lab, ang in zip(data.images, data.labels, data.orientation_deg):
        s = defect_signature(img, data.pixel_size_A)
        try:
            _check(CLASS_NAMES[lab], s)
        except AssertionError as e:
            raise AssertionError(f"{which} {CLASS_NAMES[lab]} at {ang}°: {e} ({s})") from None


@pytest.mark.parametrize("spec,path", [(LIBRARY_SPEC, config.LIBRARY_FILE),
                                       (TEST_LIBRARY_SPEC, config.TEST_LIBRARY_FILE)])
def test_windows_reproduce_from_stored_fields(spec, path):
    """Same seed, same result: the windows are re-cut bit-identically from the stored fields."""
    shipped = load_library(path)
    again = recut_library(path, spec)
    np.testing.assert_array_equal(again["images"], shipped.images)
    np.testing.assert_array_equal(again["source_fwhm_A"], shipped.source_fwhm_A)


def test_write_refuses_to_overwrite_and_load_checks_schema(tmp_path, lib):
    data = recut_library(config.LIBRARY_FILE, LIBRARY_SPEC)
    p = write_library(data, tmp_path / "lib.h5")
    with pytest.raises(FileExistsError, match="overwrite"):
        write_library(data, p)
    assert load_library(p).class_counts() == lib.class_counts()
    with pytest.raises(FileNotFoundError, match="not found"):
        load_library(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["images"] = np.zeros((1, 64, 64))
    with pytest.raises(ValueError, match="not a DefectFinder library"):
        load_library(tmp_path / "bad.h5")
    assert not list(tmp_path.glob("*.part"))
