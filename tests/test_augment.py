"""Augmentation: determinism, shapes and ranges, noise models, and leak-free splitting."""
import numpy as np
import pytest
from noise_redraws import NoiseRedraws, clean_windows

from helpers import config
from helpers.classify.augment import (
    NOISE_TYPES,
    AugmentParams,
    add_noise,
    affine_window,
    augment_images,
    augment_library,
    normalize,
)
from helpers.classify.protocol import fit_validation_split, poster_splits, random_split
from helpers.library.files import load_library


@pytest.fixture(scope="module")
def lib():
    return load_library(config.LIBRARY_FILE)


def test_same_seed_same_images(lib):
    a = augment_library(lib, 24, seed=5, progress=False)
    b = augment_library(lib, 24, seed=5, progress=False)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.noise, b.noise)
    c = augment_library(lib, 24, seed=6, progress=False)
    assert not np.array_equal(a.images, c.images)
    # image k does not depend on how many images are made
    d = augment_library(lib, 10, seed=5, progress=False)
    np.testing.assert_array_equal(d.images, a.images[:10])
    # nor on which other images are made with it
    imgs, kinds, rcs = augment_images(lib, 5, [3, 17], progress=False)
    np.testing.assert_array_equal(imgs, a.images[[3, 17]])
    np.testing.assert_array_equal(kinds, a.noise[[3, 17]])
    np.testing.assert_array_equal(rcs, a.defect_rc[[3, 17]])


def test_every_transform_keeps_shape_dtype_and_range(lib):
    aug = augment_library(lib, 60, seed=1, progress=False)
    assert aug.images.shape == (60, 64, 64) and aug.images.dtype == np.float16
    assert np.all(np.isfinite(aug.images)) and aug.images.min() >= 0 and aug.images.max() <= 1
    np.testing.assert_array_equal(aug.labels, lib.labels[aug.source])
    rng = np.random.default_rng(0)
    img = normalize(lib.images[0])
    for kind in NOISE_TYPES:
        out = add_noise(img, kind, rng, AugmentParams())
        assert out.shape == img.shape and out.dtype == np.float32
        assert np.all(np.isfinite(out)) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="unknown noise type"):
        add_noise(img, "pink", rng, AugmentParams())


def test_affine_window_identity_matches_library_cut(lib):
    n = lib.fields["images"].shape[-1]
    field = lib.fields["images"][lib.field_index[0]]
    w = affine_window(field, float(lib.attrs["field_pixel_size_A"]), (n // 2, n // 2), order=1)
    assert w.shape == (64, 64)
    # the defect site stays at the centre: compare with the library window at 0° (no source blur there)
    assert np.corrcoef(w.ravel(), lib.images[0].ravel())[0, 1] > 0.95


def test_splits():
    tr, te = random_split(1000, 0.2, seed=0)
    assert len(te) == 200 and not set(tr) & set(te) and len(tr) + len(te) == 1000
    fit, val, test = poster_splits(1000, seed=0)
    assert np.array_equal(test, te) and np.array_equal(np.sort(np.concatenate([fit, val])), tr)
    assert len(fit) == round(0.67 * 800) and not set(fit) & set(val)


def test_leak_free_sets_share_no_source(lib):
    test_lib = load_library(config.TEST_LIBRARY_FILE)
    tr = augment_library(lib, 30, seed=1, progress=False)
    te = augment_library(test_lib, 30, seed=2, progress=False)
    assert tr.library_kind == "library" and te.library_kind == "test_library"
    # the two libraries come from different simulations: no field is shared
    f_tr = lib.fields["images"].reshape(len(lib.fields["images"]), -1)
    f_te = test_lib.fields["images"].reshape(len(test_lib.fields["images"]), -1)
    for f in f_te:
        assert not np.any(np.all(np.isclose(f_tr, f), axis=1))


def test_defect_offset_lands_where_recorded(lib):
    """A Vw window shifted by a known offset shows its dark site at the recorded position."""

    n = lib.fields["images"].shape[-1]
    i = int(np.flatnonzero(lib.labels == lib.class_names.index("Mo"))[0])
    field = lib.fields["images"][lib.field_index[i]]
    ps = float(lib.attrs["field_pixel_size_A"])
    base = affine_window(field, ps, (n // 2, n // 2), order=1)
    moved = affine_window(field, ps, (n // 2, n // 2), order=1, defect_offset_A=(0.9, -1.5))
    # shifting by (0.9, -1.5) Å = (3, -5) px moves the content by exactly that
    np.testing.assert_allclose(moved[10:50, 10:50], base[7:47, 15:55], atol=1e-5)


def test_fit_validation_split():
    idx = np.arange(100, 400)
    fit, val = fit_validation_split(idx, seed=1, sort=True)
    assert len(fit) == 201 and len(val) == 99 and not set(fit) & set(val)
    assert set(fit) | set(val) == set(idx) and np.all(np.diff(fit) > 0)
    a, b = fit_validation_split(idx, seed=1, size=30)
    assert len(a) == 20 and len(b) == 10 and set(a) | set(b) <= set(idx)


def test_noise_free_windows_and_fresh_noise_each_epoch(lib):

    aug = augment_library(lib, 120, seed=3, progress=False)
    idx = np.arange(0, 120, 2)
    clean = clean_windows(lib, aug, idx, progress=False)
    assert clean.shape == (60, 64, 64) and clean.dtype == np.float16
    none = aug.noise[idx] == "none"
    assert none.any()
    # the same geometry as the data set: windows without noise are the stored images
    np.testing.assert_array_equal(clean[none], aug.images[idx][none])
    red = NoiseRedraws(clean, aug.noise[idx], idx, aug.seed, first=aug.images[idx])
    assert red(0) is red.first
    e1, e2 = red(1), red(2)
    np.testing.assert_array_equal(e1, red(1))  # deterministic per epoch
    assert not np.array_equal(e1, e2)
    np.testing.assert_array_equal(e1[none], clean[none])  # the noise model stays: none is none
    gauss = aug.noise[idx] == "gaussian"
    d = (e1[gauss].astype(np.float32) - clean[gauss].astype(np.float32))
    assert 0.05 < d.std() < 0.12  # var 0.01, less where the [0, 1] clip bites
    assert e1.min() >= 0 and e1.max() <= 1
    test_lib = load_library(config.TEST_LIBRARY_FILE)
    with pytest.raises(ValueError, match="library"):
        clean_windows(test_lib, aug, idx, progress=False)
    with pytest.raises(ValueError, match="indices"):
        clean_windows(lib, aug, [120], progress=False)
    with pytest.raises(ValueError, match="one entry"):
        NoiseRedraws(clean, aug.noise[idx][:5], idx, 3)
