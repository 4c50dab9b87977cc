"""Scores of the analysis over movie variants (seed, pixel size, dose, probe, lattice constant)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.detect import site_model as sm
from helpers.detect import sites as st
from helpers.detect.pipeline import (
    analyze_movie,
    cnn_reading,
    train_localizer_on_movie,
)
from helpers.evaluation.defects import score_defects
from helpers.evaluation.matching import match_table, points_by_frame
from helpers.evaluation.scores import (
    classification_scores,
    overall,
    score_detections,
)
from helpers.synthetic.generator import standard_movie
from helpers.synthetic.params import standard_params


def site_reading_variants(n_frames: int) -> dict:
    """Movies that differ from the standard one in one thing each (name → MovieParams): seed, pixel
    size (0.12, 0.16, 0.25 Å/px at the same ~102 Å field), dose per frame (×0.5, ×2), probe size
    (0.8, 1.3 Å FWHM) and lattice constant (3.16 Å, MoS2's).

    Parameters
    ----------
    n_frames : int
        Frames of each movie.

    Returns
    -------
    dict
    """

    field_A = 102.4
    v = {"standard": {}, "seed 7": {"seed": 7}, "seed 11": {"seed": 11}}
    for ps in (0.12, 0.16, 0.25):
        v[f"{ps} Å/px"] = {"pixel_size_A": ps, "frame_px": int(round(field_A / ps))}
    v.update({"dose ×0.5": {"dose_e_per_A2": 5e3}, "dose ×2": {"dose_e_per_A2": 2e4},
              "probe 0.8 Å": {"probe_fwhm_A": 0.8}, "probe 1.3 Å": {"probe_fwhm_A": 1.3},
              "a = 3.16 Å": {"lattice_a_A": 3.16}})
    return {k: standard_params(n_frames=n_frames, **kw) for k, kw in v.items()}


def score_site_reading(variants: dict, progress: bool = True) -> pd.DataFrame:
    """Read every site of each movie variant (:func:`helpers.detect.sites.read_sites`, default settings) and
    score the defects against its truth (:func:`score_defects`): one row per variant with F1 at 1
    and 0.5 Å, precision, recall, class accuracy, recall per class, position bias and median error,
    defects reported in the margin, the share of sites masked (:mod:`helpers.detect.areas`; none expected
    on these clean simulated monolayers) and the reading time.

    Parameters
    ----------
    variants : dict
        Name → MovieParams (:func:`site_reading_variants`).
    progress : bool

    Returns
    -------
    DataFrame
        One row per variant.
    """
    import time

    from tqdm.auto import tqdm


    rows = []
    for name, params in tqdm(variants.items(), desc="movie variants", disable=not progress):
        m = standard_movie(params, progress=False)
        t0 = time.perf_counter()
        r = st.read_sites(m.frames, m.pixel_size_A, m.params.lattice_a_A)
        seconds = time.perf_counter() - t0
        sc = score_defects(st.defect_table(r), m.visible_truth(), m.pixel_size_A, m.frames.shape,
                           sm.EDGE_MARGIN_A, classes=sm.DEFECT_CLASSES)
        row = {"variant": name, "frames": len(m.frames), "pixel_size_A": m.pixel_size_A,
               "dose_e_per_A2": params.dose_e_per_A2, "f1_1A": sc["f1_1A"], "f1_0.5A": sc["f1_0.5A"],
               "precision_1A": sc["precision_1A"], "recall_1A": sc["recall_1A"],
               "class_accuracy": sc["class_accuracy"], "min_class_recall": min(sc["recall_per_class"].values()),
               "position_bias_A": float(np.hypot(*sc["position_bias_A"])),
               "position_median_error_A": sc["position_median_error_A"],
               "reported_in_margin": sc["reported_in_margin"],
               "masked_share": float((r.sites["class"] == sm.MASKED).mean()), "read_s": seconds}
        row.update({f"recall {c}": sc["recall_per_class"].get(c, np.nan) for c in sm.DEFECT_CLASSES})
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def robustness_table(variants: dict, localizer_params, model, seed: int, progress: bool = True
                     ) -> pd.DataFrame:
    """Run the whole pipeline — a localizer trained on frame 1 (its registered sum with the next
    frames, as in notebook 02) of each movie, the classifier
    adapted to its first frames, then detection and classification of every frame (column
    intensities, and the classifier alone: ``classification_accuracy_cnn``) — on movie
    variants (name → MovieParams) and score each.

    Parameters
    ----------
    variants : dict
        Name → MovieParams.
    localizer_params : LocalizerParams
        How each movie's localizer is trained.
    model : keras.Model
        The classifier.
    seed : int
    progress : bool

    Returns
    -------
    DataFrame
        One row per variant: detection precision, recall, F1, classification accuracy (column
        intensities and the classifier alone), unknown share, frames per second.
    """
    from dataclasses import replace

    from tqdm.auto import tqdm


    rows = []
    for name, params in tqdm(variants.items(), desc="movie variants", disable=not progress):
        movie = standard_movie(params, progress=False)
        ps = movie.pixel_size_A
        lp = replace(localizer_params, pixel_size_A=ps)
        tr = train_localizer_on_movie(movie.frames, ps, seed, lp)
        res = analyze_movie(movie.frames, ps, tr.model, lp, model, progress=False)
        truth = movie.visible_truth()
        later = res.table[res.table.frame > 0]
        sc = overall(score_detections(points_by_frame(later, range(1, len(movie.frames))), truth, ps))
        cs = classification_scores(match_table(later, truth[truth.frame > 0]))
        cnn = classification_scores(match_table(cnn_reading(later), truth[truth.frame > 0]))["classification_accuracy"]
        rows.append({"variant": name, "dose_e_per_A2": params.dose_e_per_A2, "pixel_size_A": ps,
                     "frames": len(movie.frames), "detection_f1": sc["f1"],
                     "detection_precision": sc["precision"], "detection_recall": sc["recall"],
                     "classification_accuracy": cs["classification_accuracy"],
                     "classification_accuracy_cnn": cnn,
                     "unknown_fraction": cs["unknown_fraction"], "frames_per_s": res.frames_per_s})
    return pd.DataFrame(rows)
