"""Localizer, window resampling, central classification and scoring on inputs with known answers."""
import numpy as np
import pandas as pd
import pytest

from helpers.classify.augment import normalize
from helpers.classify.cams import class_activation_maps, upsample_cams
from helpers.classify.classifier import MIRROR_VIEWS, build_classifier, mirror
from helpers.core.windows import cut_window
from helpers.detect import cache
from helpers.detect import localizer as lz
from helpers.detect import localizer_training as lzt
from helpers.detect import registration as reg
from helpers.detect import window_classifier as wc
from helpers.evaluation import matching as match_mod
from helpers.evaluation import scores as ev
from helpers.figures.analysis import write_animation


def test_detections_from_map_known_answers_and_edges():
    m = np.zeros((64, 64), np.float32)
    assert lz.detections_from_map(m, 0.2).shape == (0, 2)  # no detections
    m[10, 20] = 0.9
    m[9, 20] = m[11, 20] = 0.6  # symmetric: centroid stays on the peak
    m[0, 63] = 0.8  # a defect at the frame corner is still found
    d = lz.detections_from_map(m, 0.2, threshold=0.5)
    d = d[np.argsort(d[:, 0])]
    assert np.allclose(d, [[0, 63], [10, 20]], atol=0.05)
    m2 = np.zeros((64, 64), np.float32)
    m2[30, 30], m2[30, 33] = 0.9, 0.8  # 0.6 Å apart at 0.2 Å/px: closer than min_distance → one
    assert len(lz.detections_from_map(m2, 0.2, min_distance_A=1.5)) == 1


def test_disc_labels_radius_and_border():
    lab = lzt.disc_labels((32, 32), [[16, 16], [0, 0]], 3.0)
    assert lab[16, 16] == 1 and lab[16, 19] == 1 and lab[16, 20] == 0
    assert lab[0, 0] == 1 and lab.sum() == 29 + 11  # full disc + the quarter left inside


def _lattice(ps, n, period_A=3.0):
    y, x = np.mgrid[:n, :n] * ps
    return (np.cos(2 * np.pi * x / period_A) + 1).astype(np.float32)


def test_window_resampling_keeps_the_physical_period():
    img = _lattice(0.2, 256)
    w = wc.windows_at(img, 0.2, [[128, 128]])[0]  # 0.3 Å/px windows
    spec = np.abs(np.fft.rfft(w.mean(axis=0) - w.mean()))
    k = np.argmax(spec)
    period_A = 64 / k * 0.3
    assert abs(period_A - 3.0) < 0.3, period_A


def test_windows_at_matches_cut_window_on_the_whole_frame():
    rng = np.random.default_rng(0)
    img = rng.poisson(5.0, (200, 220)).astype(np.float32)
    rc = np.array([[100.3, 110.7], [2.0, 3.0], [198.5, 150.2]])
    a = wc.windows_at(img, 0.2, rc)
    b = np.stack([normalize(cut_window(img, 0.2, x)) for x in rc])
    assert np.allclose(a, b, atol=2e-3)
    b1 = np.stack([normalize(cut_window(img, 0.2, x, order=1)) for x in rc])
    assert np.allclose(wc.windows_at(img, 0.2, rc, order=1), b1, atol=2e-3)


@pytest.mark.parametrize("bad, ps, msg", [
    (np.zeros((3, 200, 200)), 0.2, "2D"),
    (np.full((200, 200), np.nan), 0.2, "NaN"),
    (np.zeros((40, 40)), 0.2, "smaller"),
    (np.zeros((200, 200)), None, "pixel_size_A is missing"),
])
def test_bad_frames_give_clear_errors(bad, ps, msg):
    with pytest.raises(ValueError, match=msg):
        wc.windows_at(bad, ps, [[100, 100]])


def test_localizer_is_fully_convolutional_and_small():
    model = lzt.build_localizer()
    assert model.count_params() <= 500_000
    out = model.predict(np.zeros((1, 96, 128, 1), np.float32), verbose=0)
    assert out.shape == (1, 96, 128, 1) and np.all((out >= 0) & (out <= 1))


def test_probability_maps_resample_to_the_models_pixel_size():
    class Echo:  # a stand-in model that returns its (normalized) input through a sigmoid
        def predict_on_batch(self, x):  # what helpers.core.batches.predict_batches calls
            self.shape = x.shape
            return 1 / (1 + np.exp(-x))
    echo = Echo()
    maps = lz.probability_maps(echo, np.random.default_rng(1).random((2, 150, 150)), 0.3, 0.2)
    assert maps.shape == (2, 150, 150)
    assert echo.shape[1:3] == (232, 232)  # 225 px at 0.2 Å/px, padded to a multiple of 8


def test_central_classifier_without_a_disc_is_the_softmax():
    model = build_classifier()
    x = np.random.default_rng(2).random((5, 64, 64)).astype(np.float32)
    p_model = model.predict(x[..., None], verbose=0)
    p, cams = wc.CentralClassifier(model, central_radius_A=None)(x)
    assert np.allclose(p, p_model, atol=1e-4)
    assert cams.shape == (5, 16, 16)
    p_c, _ = wc.CentralClassifier(model, central_radius_A=3.0)(x)
    assert np.allclose(p_c.sum(axis=1), 1)
    # mirror-averaged: the maps (class scores in space) are the mean of the mirrored views' maps, so
    # the probabilities are the softmax of the mean score (not predict_flips' mean probability)
    p_f, cams_f = wc.CentralClassifier(model, central_radius_A=None, flips=True)(x)
    assert np.allclose(p_f.sum(axis=1), 1) and cams_f.shape == (5, 16, 16)
    best = p_f.argmax(1)
    views = [mirror(class_activation_maps(model, mirror(x, v), classes=best)[0], v) for v in MIRROR_VIEWS]
    # class_activation_maps upsamples to 64×64: compare at that size
    assert np.allclose(upsample_cams(cams_f, 64), np.mean(views, axis=0), atol=1e-4)


def test_match_table_and_classification_scores():
    truth = pd.DataFrame({"frame": [1, 1, 1], "defect_id": [7, 8, 9], "class": ["Mo", "Vw", "Vs"],
                          "x_A": [10.0, 20.0, 30.0], "y_A": [10.0, 10.0, 10.0]})
    table = pd.DataFrame({"frame": [1, 1, 1], "id": [0, 1, 2], "class": ["Mo", "Sw", "unknown"],
                          "probability": [0.9, 0.7, 0.4], "x_A": [10.3, 20.2, 50.0],
                          "y_A": [10.0, 10.1, 50.0]})
    m = match_mod.match_table(table, truth, 1.0)
    assert len(m) == 4  # 2 matched, 1 missed (Vs), 1 false detection
    assert set(m["pred_class"]) == {"Mo", "Sw", "missed", "unknown"}
    s = ev.classification_scores(m)
    assert s["classification_accuracy"] == 0.5
    assert s["per_class_recall"] == {"Mo": 1.0, "Vw": 0.0}
    assert s["unknown_fraction"] == pytest.approx(1 / 3)


def test_score_detections_counts():
    truth = pd.DataFrame({"frame": [1, 1, 2], "x_A": [1.0, 5.0, 1.0], "y_A": [1.0, 1.0, 1.0]})
    det = {1: np.array([[5.0, 5.0]]), 2: np.zeros((0, 2))}  # (row, col) px at 0.2 Å/px = (1, 1) Å
    s = ev.score_detections(det, truth, 0.2)
    o = ev.overall(s)
    assert (o["tp"], o["fp"], o["fn"]) == (1, 0, 2)


def test_frame_shifts_and_averaged_frame_follow_a_known_drift():
    from scipy import ndimage
    rng = np.random.default_rng(3)
    base = ndimage.gaussian_filter(rng.random((128, 128)), 2)
    true = np.array([[0, 0], [1.0, -0.5], [2.0, -1.0]])  # content moves down and left
    frames = np.stack([ndimage.shift(base, d, order=1, mode="wrap") for d in true])
    sh = reg.frame_shifts(frames)
    assert np.allclose(sh, true, atol=0.15)
    avg = reg.averaged_frame(frames, sh, 1, 1)
    inner = np.s_[8:-8, 8:-8]
    assert np.abs(avg[inner] - frames[1][inner]).max() < 0.1 * np.ptp(base)
    assert np.array_equal(reg.averaged_frame(frames, sh, 2, 0), frames[2].astype(np.float32))


def test_registered_sum_keeps_counts_and_registers_whole_pixels():
    rng = np.random.default_rng(5)
    base = rng.poisson(20, (64, 64)).astype(np.float32)
    true = np.array([[0, 0], [1, 0], [2, -1], [3, -1], [4, -2]], float)
    frames = np.stack([np.roll(base, tuple(d.astype(int)), axis=(0, 1)) for d in true])
    s, valid = reg.registered_sum(frames, true, 2, 1)  # frames 1, 2, 3 onto frame 2
    assert s.dtype == np.float32
    assert np.array_equal(s[valid], 3 * frames[2][valid])  # exact: whole-pixel shifts, no smoothing
    assert not valid[0].all() and valid[8:-8, 8:-8].all()  # the strip a shifted frame left uncovered
    s0, v0 = reg.registered_sum(frames, true, 0, 1)  # at the start the window slides: frames 0–2
    assert np.array_equal(s0[v0], 3 * frames[0][v0])
    # frame 2's content sits 2 rows down and 1 column left: moved back, it leaves the last 2 rows
    # and the first column uncovered
    assert v0[:-2, 1:].all() and not v0[-2:].any() and not v0[:, 0].any()
    one, v1 = reg.registered_sum(frames[:1], true[:1], 0, 2)  # a single frame is its own sum
    assert np.array_equal(one, frames[0]) and v1.all()
    with pytest.raises(ValueError, match="3D"):
        reg.registered_sum(frames[0], true, 0, 1)
    with pytest.raises(ValueError, match="half_window"):
        reg.registered_sum(frames, true, 0, -1)


def test_write_animation_and_table_refuse_silent_overwrite(tmp_path):
    frames = np.random.default_rng(4).random((5, 64, 64)).astype(np.float32)
    table = pd.DataFrame({"frame": [0, 2], "x_px": [10.0, 20.0], "y_px": [10.0, 30.0],
                          "class": ["Mo", "unknown"]})
    p = write_animation(frames, table, tmp_path / "a.gif", every=2, size_px=64)
    import imageio.v3 as iio
    assert iio.imread(p).shape[0] == 3  # frames 0, 2, 4
    with pytest.raises(FileExistsError):
        write_animation(frames, table, p, overwrite=False)
    cache.write_table(table, tmp_path / "t.csv")
    with pytest.raises(FileExistsError):
        cache.write_table(table, tmp_path / "t.csv")
    assert pd.read_csv(tmp_path / "t.csv").shape == (2, 4)


def test_adapt_batchnorm_matches_the_target_statistics_and_keeps_the_weights():
    import keras
    model = build_classifier()
    x = np.random.default_rng(5).random((64, 64, 64)).astype(np.float32) * 0.5 + 0.3
    adapted = wc.adapt_batchnorm(model, x)
    bn = adapted.get_layer("bn0_0")
    sub = keras.Model(adapted.inputs, adapted.get_layer("conv0_0").output)
    feats = np.asarray(sub.predict(x[..., None], verbose=0))
    assert np.allclose(np.asarray(bn.moving_mean), feats.mean(axis=(0, 1, 2)), rtol=1e-3, atol=1e-4)
    assert np.allclose(model.get_layer("conv0_0").get_weights()[0], adapted.get_layer("conv0_0").get_weights()[0])
    # the original model is untouched
    assert np.allclose(np.asarray(model.get_layer("bn0_0").moving_mean), 0)
    with pytest.raises(ValueError, match="at least 32"):
        wc.adapt_batchnorm(model, x[:5])


def test_the_detection_bound_is_not_beaten_by_a_threshold_reader():
    from helpers.evaluation.scores import detection_f1_bound

    rng = np.random.default_rng(0)
    d = np.repeat([0.9, 1.8, 3.5, 5.0, 7.0], 200)  # single-frame separations of five classes
    n_pristine = 50_000
    bound = detection_f1_bound(d, n_pristine, 0.002)
    assert 0 < bound["false_rate"] <= 0.002 and 0 < bound["recall"] < 1
    defects = d + rng.normal(0, 1, d.size)  # readings, each in its defect's direction
    pristine = rng.normal(0, 1, n_pristine)
    for z in np.linspace(2.0, 5.0, 31):
        fp = int((pristine > z).sum())
        if fp > 0.002 * n_pristine:
            continue
        tp = int((defects > z).sum())
        assert 2 * tp / (tp + fp + d.size) <= bound["f1"] + 0.01
    # clear defects are all found; half of them invisible caps the F1 near 2/3
    assert detection_f1_bound(np.full(50, 12.0), 1000)["f1"] > 0.99
    assert detection_f1_bound(np.r_[np.zeros(50), np.full(50, 12.0)], 1000)["f1"] < 0.70
    for bad in ([], [np.nan], [-1.0]):
        with pytest.raises(ValueError, match="d_primes"):
            detection_f1_bound(bad, 1000)
    with pytest.raises(ValueError, match="n_pristine"):
        detection_f1_bound([3.0], 0)
    with pytest.raises(ValueError, match="max_false_rate"):
        detection_f1_bound([3.0], 10, 0.0)
