"""The classifier: shapes and budget, a short training that must learn, exact CAMs."""
import numpy as np
import pytest

from helpers.classify.cams import (
    cam_peak,
    cam_position_errors_A,
    cam_position_offsets_A,
    cam_weights,
    class_activation_maps,
)
from helpers.classify.classifier import (
    LAST_CONV,
    MIRROR_VIEWS,
    as_input,
    build_classifier,
    mirror,
    predict,
    predict_flips,
    stack_views,
    train,
    unmirror_mean,
)
from helpers.config import set_seed
from helpers.core.batches import predict_batches
from helpers.evaluation.classes import accuracy, confusion_matrix, per_class_report


def test_builds_with_promised_shapes_and_budget():
    m = build_classifier()
    assert m.input_shape == (None, 64, 64, 1)
    assert m.output_shape == (None, 6)
    assert m.count_params() <= 1_000_000
    h, w = m.get_layer(LAST_CONV).output.shape[1:3]
    assert h >= 8 and w >= 8
    with pytest.raises(ValueError, match="dropout"):
        build_classifier(dropout=1.5)
    with pytest.raises(ValueError, match="shape"):
        as_input(np.zeros((2, 3)))


def _patterns(n, rng):
    """Six easily separable pattern classes with noise."""
    yy, xx = np.mgrid[:64, :64]
    y = rng.integers(0, 6, n)
    x = np.empty((n, 64, 64), np.float32)
    for i, c in enumerate(y):
        cy, cx = rng.integers(20, 44, 2)
        img = {0: np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 20.0),
               1: (np.abs(yy - cy) < 3).astype(float),
               2: (np.abs(xx - cx) < 3).astype(float),
               3: (np.abs(np.hypot(yy - cy, xx - cx) - 12) < 2).astype(float),
               4: ((yy // 8 + xx // 8) % 2).astype(float),
               5: np.zeros((64, 64))}[int(c)]
        x[i] = np.clip(img + rng.normal(0, 0.1, (64, 64)), 0, 1)
    return x, y


def test_short_training_learns_a_separable_set():
    rng = set_seed(0)
    x, y = _patterns(600, rng)
    m = build_classifier(learning_rate=3e-3, filters=(8, 8, 16, 16), dense=16)
    res = train(m, x[:480], y[:480], x[480:], y[480:], epochs=6, batch_size=32, patience=6, verbose=0)
    acc = float(np.mean(np.argmax(predict(m, x[480:]), axis=1) == y[480:]))
    assert acc > 0.6, f"accuracy {acc:.2f} not well above chance (0.17)"
    assert res.images_per_s > 0 and res.epochs_run >= 1


def test_one_cycle_cosine_schedule_learns_and_ends_at_zero():
    rng = set_seed(1)
    x, y = _patterns(600, rng)
    m = build_classifier(filters=(8, 8, 16, 16), dense=16)
    res = train(m, x[:480], y[:480], x[480:], y[480:], epochs=5, batch_size=32, verbose=0,
                schedule="cosine", peak_learning_rate=3e-3)
    assert res.epochs_run == 5  # no early stopping: the whole cycle runs
    acc = float(np.mean(np.argmax(predict(m, x[480:]), axis=1) == y[480:]))
    assert acc > 0.6, f"accuracy {acc:.2f} not well above chance (0.17)"
    assert float(m.optimizer.learning_rate) < 1e-6  # the cosine ends at 0
    with pytest.raises(ValueError, match="schedule"):
        train(m, x[:32], y[:32], x[:32], y[:32], epochs=1, schedule="linear")
    with pytest.raises(ValueError, match="warmup"):
        train(m, x[:32], y[:32], x[:32], y[:32], epochs=1, schedule="cosine")


def test_cam_peaks_at_the_known_feature():
    """Hand-set weights: every conv passes channel 0 through, the head scores mean activation."""
    m = build_classifier(filters=(4, 4, 4, 4), dense=4)
    for layer in m.layers:
        ws = layer.get_weights()
        if layer.name.startswith("conv"):
            k = np.zeros_like(ws[0])
            k[1, 1, 0, :] = 1.0  # centre tap of input channel 0 to every output channel
            layer.set_weights([k])
        elif layer.name == "dense":
            layer.set_weights([np.eye(4, dtype=np.float32), np.zeros(4, np.float32)])
        elif layer.name == "predictions":
            w = np.zeros((4, 6), np.float32)
            w[:, 2] = 1.0  # class 2 responds to the feature
            layer.set_weights([w, np.zeros(6, np.float32)])
    img = np.zeros((1, 64, 64), np.float32)
    img[0, 40:44, 16:20] = 1.0  # feature centred at (41.5, 17.5)
    cams, probs = class_activation_maps(m, img, classes=[2])
    r, c = cam_peak(cams[0])
    assert abs(r - 41.5) <= 2.5 and abs(c - 17.5) <= 2.5
    W, b = cam_weights(m)
    assert W.shape == (4, 6) and np.argmax(probs[0]) == 2


def test_confusion_and_report():

    cm = confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    rep = per_class_report(cm, "abcd")
    assert rep.loc["a", "recall"] == 0.5 and rep.loc["b", "precision"] == pytest.approx(1 / 3)
    assert rep.loc["d"].tolist() == [0.0, 0.0, 0.0, 0]  # a class that never occurs: no NaN
    assert accuracy(cm) == 0.5
    with pytest.raises(ValueError, match="labels"):
        confusion_matrix([5], [0], 4)


def test_batchwise_inference_equals_keras_predict():
    """predict_batches (batch by batch, one traced graph) gives Model.predict's outputs, for one
    and for several outputs, with a ragged last batch; empty input gives empty outputs."""
    import keras


    rng = set_seed(3)
    m = build_classifier(filters=(4, 4, 8, 8), dense=8)
    x = as_input(rng.random((37, 64, 64), dtype=np.float32))
    ref = m.predict(x, batch_size=8, verbose=0)
    np.testing.assert_allclose(predict_batches(m, x, batch_size=8), ref, atol=1e-5)
    np.testing.assert_allclose(predict(m, x, batch_size=16), ref, atol=1e-5)
    sub = keras.Model(m.inputs, [m.get_layer(LAST_CONV).output, m.output])
    feats, probs = predict_batches(sub, x, batch_size=10)
    assert feats.shape == (37, 16, 16, 8)
    np.testing.assert_allclose(probs, ref, atol=1e-5)
    empty = predict_batches(m, x[:0])
    assert empty.shape == (0, 6)
    assert [a.shape for a in predict_batches(sub, x[:0])] == [(0, 16, 16, 8), (0, 6)]
    with pytest.raises(ValueError, match="batch_size"):
        predict_batches(m, x, batch_size=0)


def test_flip_averaged_prediction():
    """The mean of the four mirror images' probabilities; a window symmetric under both flips gets
    exactly the single-pass probabilities."""
    rng = set_seed(4)
    m = build_classifier(filters=(4, 4, 8, 8), dense=8)
    x = rng.random((5, 64, 64), dtype=np.float32)
    p = predict_flips(m, x)
    views = [x, x[:, ::-1], x[:, :, ::-1], x[:, ::-1, ::-1]]
    np.testing.assert_allclose(p, np.mean([predict(m, v.copy()) for v in views], axis=0), atol=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    sym = x[:, :32, :32]
    sym = np.concatenate([sym, sym[:, :, ::-1]], axis=2)
    sym = np.concatenate([sym, sym[:, ::-1]], axis=1)
    np.testing.assert_allclose(predict_flips(m, sym), predict(m, sym), atol=1e-5)


def _offset_model():
    """Hand-set weights as in test_cam_peaks_at_the_known_feature, but the last convolution reads
    its input one cell up and left (a learned off-centre response, 4 px at the window)."""
    m = build_classifier(filters=(4, 4, 4, 4), dense=4)
    for layer in m.layers:
        ws = layer.get_weights()
        if layer.name.startswith("conv"):
            k = np.zeros_like(ws[0])
            tap = (0, 0) if layer.name == "conv_last" else (1, 1)
            k[tap[0], tap[1], 0, :] = 1.0
            layer.set_weights([k])
        elif layer.name == "dense":
            layer.set_weights([np.eye(4, dtype=np.float32), np.zeros(4, np.float32)])
        elif layer.name == "predictions":
            w = np.zeros((4, 6), np.float32)
            w[:, 2] = 1.0
            layer.set_weights([w, np.zeros(6, np.float32)])
    return m


def test_mirror_averaged_cams_cancel_an_offset_response():
    m = _offset_model()
    yy, xx = np.mgrid[:64, :64]
    img = np.exp(-((yy - 41.5) ** 2 + (xx - 17.5) ** 2) / (2 * 7.0 ** 2))[None].astype(np.float32)
    single, _ = class_activation_maps(m, img, classes=[2])
    mirrored, _ = class_activation_maps(m, img, classes=[2], flips=True)
    r, c = cam_peak(single[0])
    assert r > 43.5 and c > 19.5, f"the single view should sit off the feature, got ({r:.1f}, {c:.1f})"
    r, c = cam_peak(mirrored[0])
    assert abs(r - 41.5) <= 1.0 and abs(c - 17.5) <= 1.0, f"mirror average at ({r:.1f}, {c:.1f})"
    off = cam_position_offsets_A(single, [[41.5, 17.5]], pixel_size_A=0.3)
    assert off.shape == (1, 2) and np.all(off > 0.6)  # down and right, in Å (0.3 Å/px)
    np.testing.assert_allclose(cam_position_errors_A(single, [[41.5, 17.5]], 0.3), np.hypot(*off[0]))


def test_mirror_averaged_cams_are_the_mean_of_the_mirrored_views():

    rng = set_seed(5)
    m = build_classifier(filters=(4, 4, 8, 8), dense=8)
    x = rng.random((7, 64, 64), dtype=np.float32)
    cams, probs = class_activation_maps(m, x, flips=True, chunk=3)
    np.testing.assert_allclose(probs, predict_flips(m, x), atol=1e-5)
    cls = probs.argmax(1)
    views = [mirror(class_activation_maps(m, mirror(x, v), classes=cls)[0], v) for v in MIRROR_VIEWS]
    np.testing.assert_allclose(cams, np.mean(views, axis=0), atol=1e-4)
    # chunking does not change the single view either
    a, pa = class_activation_maps(m, x, chunk=2)
    b, pb = class_activation_maps(m, x)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(pa, pb, atol=1e-6)
    with pytest.raises(ValueError, match="chunk"):
        class_activation_maps(m, x, chunk=0)


def test_stacked_views_mirror_back_to_the_original_frame():
    """A map that copies its window comes back as the window from every view; a map that is one
    fixed image (not mirrored with the window) comes back as the mean of its four mirror images."""

    x = np.random.default_rng(0).random((3, 8, 8, 2))
    stacked = stack_views(x, MIRROR_VIEWS)
    assert stacked.shape == (12, 8, 8, 2)
    np.testing.assert_allclose(unmirror_mean(stacked, MIRROR_VIEWS), x)
    fixed = np.repeat(x[:1], 12, axis=0)
    expected = np.mean([mirror(x[:1], v) for v in MIRROR_VIEWS], axis=0)
    np.testing.assert_allclose(unmirror_mean(fixed, MIRROR_VIEWS), np.repeat(expected, 3, axis=0))
