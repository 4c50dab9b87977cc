"""DefectFinder's helpers: everything the notebooks and ``python -m helpers analyze`` run.

The subpackages follow the pipeline and the notebook sequence; each one's ``__init__`` lists its
modules and their public names.

========================  =====================  ==================================================
subpackage                notebooks              what it holds
========================  =====================  ==================================================
:mod:`helpers.core`       all                    validation, window geometry, TMD chemistry,
                                                 atomic output, batched prediction
:mod:`helpers.library`    00                     defect structures, abTEM simulation, library files
:mod:`helpers.synthetic`  00b                    the synthetic movie with its truth
:mod:`helpers.classify`   01, 03, 04, 05         augmentation, splits, CNN, grid search, CAMs
:mod:`helpers.detect`     02, 06                 registration, FFT labels, localizer, lattice and
                                                 column reading, masked areas, the site reading,
                                                 the analysis pipeline
:mod:`helpers.kinetics`   07                     tracks, hops, transitions, counts over time
:mod:`helpers.evaluation` 02-07                  every score against a truth
:mod:`helpers.figures`    all                    figures by topic
:mod:`helpers.io`         08                     file formats, calibration, result folders,
                                                 metrics records, the README's results table
========================  =====================  ==================================================

Three modules at the top: :mod:`helpers.analyze` (:func:`analyze_file`: one file to a result
folder), :mod:`helpers.batch` (many files on Dask) and :mod:`helpers.cli` (the command line), with
:mod:`helpers.config` (paths, profile, the seed).

``helpers.analyze_file``, ``helpers.AnalysisSettings`` and ``helpers.AnalysisResult`` are the
public entry for your own files; they are imported on first use, so ``from helpers import config``
stays light.
"""
from __future__ import annotations

__all__ = ["analyze_file", "AnalysisSettings", "AnalysisResult"]


def __getattr__(name: str):
    if name in __all__:
        import importlib  # noqa: PLC0415

        analyze = importlib.import_module("helpers.analyze")  # pandas, the readers: only when asked for

        return getattr(analyze, name)
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")
