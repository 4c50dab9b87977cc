"""Running a Keras model over many inputs, fast on a few CPU cores.

``Model.predict`` wraps the arrays in a data pipeline whose threads compete with the model's own
for the cores: on 2 cores, in one process, the shipped classifier ran 1,130 windows/s through
``Model.predict`` and 1,785 windows/s called batch by batch through ``predict_on_batch`` (one
traced graph, reused); ``benchmarks/bench_classifier.py`` now gives 1,750. Outputs are the same to
float rounding.
"""
from __future__ import annotations

import numpy as np


def predict_batches(model, x: np.ndarray, batch_size: int = 512):
    """``model``'s outputs for ``x`` (n, ...), computed ``batch_size`` inputs at a time.

    Returns one array (n, ...) for a single-output model, a list of arrays for several outputs.
    An empty ``x`` gives empty outputs of the right trailing shape.

    Parameters
    ----------
    model : keras.Model
        Any Keras model.
    x : ndarray (n, ...)
        Inputs.
    batch_size : int
        Inputs per call.

    Returns
    -------
    ndarray or list of ndarray
        The outputs, (n, ...) each.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    x = np.asarray(x)
    n = len(x)
    if n == 0:
        shapes = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
        out = [np.zeros((0, *[0 if d is None else d for d in s[1:]]), np.float32) for s in shapes]
        return out if isinstance(model.output_shape, list) else out[0]
    parts = [model.predict_on_batch(x[i:i + batch_size]) for i in range(0, n, batch_size)]
    if isinstance(parts[0], (list, tuple)):
        return [np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(len(parts[0]))]
    return np.concatenate([np.asarray(p) for p in parts])
