"""The training modes of the studies (``experiments/training.py``): soft targets and fresh windows
every epoch."""
import numpy as np
import pytest
from test_classifier import _patterns
from training import train_epoch_by_epoch, train_soft

from helpers.classify.classifier import build_classifier, predict
from helpers.config import set_seed


def test_training_on_soft_targets_learns_and_checks_them():
    """Soft targets (half label, half uniform) teach the same separable set; malformed targets
    give a clear error."""
    rng = set_seed(2)
    x, y = _patterns(600, rng)
    soft = 0.5 * np.eye(6)[y] + 0.5 / 6
    for schedule in ("cosine", "plateau"):
        m = build_classifier(learning_rate=3e-3, filters=(8, 8, 16, 16), dense=16)
        train_soft(m, x[:480], soft[:480], x[480:], y[480:], epochs=5, batch_size=32, verbose=0,
                   schedule=schedule, peak_learning_rate=3e-3, patience=5)
        acc = float(np.mean(np.argmax(predict(m, x[480:]), axis=1) == y[480:]))
        assert acc > 0.6, f"{schedule}: accuracy {acc:.2f} not well above chance (0.17)"
        assert m.loss == "categorical_crossentropy"
    m = build_classifier(filters=(8, 8, 16, 16), dense=16)
    with pytest.raises(ValueError, match=r"soft targets must be \(n, 6\)"):
        train_soft(m, x[:40], soft[:40, :5], x[40:60], y[40:60], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="sum to 1"):
        train_soft(m, x[:40], 2 * soft[:40], x[40:60], y[40:60], epochs=1, verbose=0)



class _EpochWindows:
    """Epoch e's windows: the base set with its own noise, and a record of the epochs asked for."""

    def __init__(self, clean, seed):
        self.clean, self.seed, self.asked = clean, seed, []

    def __call__(self, epoch):
        self.asked.append(epoch)
        rng = np.random.default_rng([self.seed, epoch])
        return np.clip(self.clean + rng.normal(0, 0.1, self.clean.shape), 0, 1).astype(np.float32)


def test_training_on_fresh_windows_each_epoch():
    rng = set_seed(6)
    x, y = _patterns(600, rng)
    m = build_classifier(filters=(8, 8, 16, 16), dense=16)
    windows = _EpochWindows(x[:480], 6)
    res = train_epoch_by_epoch(m, windows, y[:480], x[480:], y[480:], epochs=4, batch_size=32, verbose=0,
                               peak_learning_rate=3e-3)
    assert windows.asked == [0, 1, 2, 3] and res.epochs_run == 4
    assert len(res.history["val_accuracy"]) == 4
    acc = float(np.mean(np.argmax(predict(m, x[480:]), axis=1) == y[480:]))
    assert acc > 0.6, f"accuracy {acc:.2f} not well above chance (0.17)"
    assert float(m.optimizer.learning_rate) < 1e-6  # one schedule across the per-epoch fits
    with pytest.raises(ValueError, match="labels"):
        train_epoch_by_epoch(m, windows, y[:100], x[480:], y[480:], epochs=2)
