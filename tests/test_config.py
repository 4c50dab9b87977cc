import numpy as np
import pytest

from helpers import config


def test_paths_are_inside_repository():
    for p in (config.DATA_DIR, config.LIBRARY_DIR, config.RESULTS_DIR, config.NOTEBOOKS_DIR):
        assert config.ROOT in p.parents
    assert (config.ROOT / "helpers" / "config.py").exists()


def test_profile_switch(monkeypatch):
    monkeypatch.delenv("DEFECTFINDER_PROFILE", raising=False)
    assert config.get_profile() == "paper"
    monkeypatch.setenv("DEFECTFINDER_PROFILE", "ci")
    assert config.get_profile() == "ci"
    monkeypatch.setenv("DEFECTFINDER_PROFILE", "fast")
    with pytest.raises(ValueError, match="DEFECTFINDER_PROFILE"):
        config.get_profile()


def test_ci_outputs_never_overwrite_paper_results(monkeypatch):
    figs, metrics = config.output_dirs("ci")
    assert config.GENERATED_DIR in figs.parents and config.GENERATED_DIR in metrics.parents
    monkeypatch.setenv("DEFECTFINDER_PROFILE", "paper")  # make run: the committed results
    assert config.output_dirs("paper") == (config.FIGURES_DIR, config.METRICS_DIR)
    assert config.models_dir("paper") == config.MODELS_DIR


def test_a_notebook_run_with_no_profile_set_writes_scratch_only(monkeypatch):
    """JupyterLab with no profile: the paper's sizes, but figures, metrics and models go to a
    git-ignored scratch folder; only an explicit DEFECTFINDER_PROFILE=paper writes results/."""
    monkeypatch.delenv("DEFECTFINDER_PROFILE", raising=False)
    assert config.get_profile() == "paper" and not config.writes_committed_results()
    figs, metrics = config.output_dirs()
    models = config.models_dir()
    for d in (figs, metrics, models):
        assert config.GENERATED_DIR / "scratch" in d.parents
    assert config.sizes().movie_frames == 150


def test_set_seed_determinism():
    a = config.set_seed(3).normal(size=5), np.random.rand(3)
    b = config.set_seed(3).normal(size=5), np.random.rand(3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = config.set_seed(4).normal(size=5)
    assert not np.allclose(a[0], c)
    with pytest.raises(ValueError, match="seed"):
        config.set_seed(-1)
