"""The cached analysis table of a movie (CSV under ``data/generated/analysis``)."""
from __future__ import annotations

import pandas as pd

from helpers import config
from helpers.classify.classifier import load_classifier
from helpers.core.atomic import atomic_output
from helpers.detect.localizer import (
    load_localizer,
)
from helpers.detect.pipeline import (
    analyze_movie,
)


def analysis_path(movie, profile: str | None = None):
    """Where notebook 06 writes a movie's defect table (CSV, named by profile and movie hash).

    Parameters
    ----------
    movie : Movie
    profile : {"paper", "ci"}, optional

    Returns
    -------
    Path
    """

    profile = profile or config.get_profile()
    return config.GENERATED_DIR / "analysis" / f"defects_{profile}_{movie.content_hash}.csv"


def write_table(table: pd.DataFrame, path, overwrite: bool = False):
    """The defect table as CSV, written atomically (refuses to replace a file unless told).

    Parameters
    ----------
    table : DataFrame
    path : str or Path
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
    """

    with atomic_output(path, overwrite, ".csv.part") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    return path


def load_or_analyze(movie, progress: bool = True) -> pd.DataFrame:
    """The defect table of notebook 06 for this movie, or — when it was not run — the same analysis
    as 06 (this profile's, else the shipped, localizer; the shipped classifier), written where 06
    writes it.

    Parameters
    ----------
    movie : Movie
    progress : bool
        Show a progress bar when analysing.

    Returns
    -------
    DataFrame
        The defect table (frame from 0, id, x/y in px and Å, class, probability, …).
    """

    path = analysis_path(movie)
    if path.exists():
        return pd.read_csv(path)
    loc, lp, _ = load_localizer()
    model, _ = load_classifier(config.MODELS_DIR / config.CLASSIFIER_FILE)
    res = analyze_movie(movie.frames, movie.pixel_size_A, loc, lp, model, progress=progress)
    write_table(res.table, path, overwrite=True)
    return res.table
