"""Learning-rate × dropout grid search with keras-tuner's GridSearch."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from helpers.classify.classifier import as_input, build_classifier

LEARNING_RATES = (1.6e-5, 3.4e-4, 4.7e-3)


DROPOUTS = (0.2, 0.4)


#: the poster's table: (dropout, lr) -> (train accuracy, validation accuracy), random split
POSTER_GRID = {
    (0.2, 1.6e-5): (0.85, 0.88), (0.2, 3.4e-4): (0.97, 0.96), (0.2, 4.7e-3): (0.88, 0.90),
    (0.4, 1.6e-5): (0.74, 0.80), (0.4, 3.4e-4): (0.92, 0.93), (0.4, 4.7e-3): (0.75, 0.80),
}


def run_grid_search(x_fit, y_fit, x_val, y_val, directory: Path, epochs: int, batch_size: int = 128,
                    n_classes: int = 6, seed: int = 0, learning_rates=LEARNING_RATES,
                    dropouts=DROPOUTS):
    """Run every (lr, dropout) cell; returns (table, tuner, seconds).

    ``table`` maps (dropout, lr) to (train accuracy, validation accuracy) after the last epoch.

    Parameters
    ----------
    x_fit, y_fit, x_val, y_val : ndarray
        Fitting and validation windows and labels.
    directory : Path
        keras-tuner's working folder (replaced).
    epochs, batch_size : int
        Per trial.
    n_classes, seed : int
    learning_rates, dropouts : sequence of float
        The grid.

    Returns
    -------
    table : dict
        (dropout, lr) → (train accuracy, validation accuracy).
    tuner : keras_tuner.GridSearch
    seconds : float
    """
    import keras_tuner as kt

    def build(hp):
        return build_classifier(n_classes=n_classes,
                                learning_rate=hp.Choice("learning_rate", list(learning_rates)),
                                dropout=hp.Choice("dropout", list(dropouts)))

    tuner = kt.GridSearch(build, objective="val_accuracy", directory=str(directory),
                          project_name="lr_dropout", overwrite=True, seed=seed)
    t0 = time.perf_counter()
    tuner.search(as_input(x_fit), np.asarray(y_fit), validation_data=(as_input(x_val), np.asarray(y_val)),
                 epochs=epochs, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - t0
    table = {}
    for trial in tuner.oracle.trials.values():
        hp = trial.hyperparameters.values
        key = (float(hp["dropout"]), float(hp["learning_rate"]))
        table[key] = (float(trial.metrics.get_last_value("accuracy")),
                      float(trial.metrics.get_last_value("val_accuracy")))
    missing = [(d, lr) for d in dropouts for lr in learning_rates if (d, lr) not in table]
    if missing:
        raise RuntimeError(f"grid search did not run cells {missing}")
    return table, tuner, seconds
