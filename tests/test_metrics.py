import json

import numpy as np
import pytest

from helpers import config
from helpers.io import report
from helpers.io.records import read_metrics, write_metrics


def test_write_metrics_records_run_replaces_or_merges(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "GENERATED_DIR", tmp_path)
    p = write_metrics("99_test", {"acc": np.float32(0.5), "counts": np.arange(3)}, sizes={"images": 10},
                      profile="ci")
    assert tmp_path in p.parents
    d = json.loads(p.read_text())
    assert d["acc"] == 0.5 and d["counts"] == [0, 1, 2]
    assert d["_run"]["profile"] == "ci" and d["_run"]["sizes"] == {"images": 10}
    assert "numpy" in d["_run"]["versions"]
    write_metrics("99_test", {"f1": 0.9}, sizes={"frames": 3}, profile="ci", merge=True)
    d = read_metrics("99_test", profile="ci")
    assert d["acc"] == 0.5 and d["f1"] == 0.9 and d["_run"]["sizes"] == {"images": 10, "frames": 3}
    write_metrics("99_test", {"f1": 0.8}, sizes={"frames": 4}, profile="ci")  # a new run: nothing old kept
    d = read_metrics("99_test", profile="ci")
    assert d["f1"] == 0.8 and "acc" not in d and d["_run"]["sizes"] == {"frames": 4}
    with pytest.raises(ValueError, match="bare name"):
        write_metrics("../x", {}, profile="ci")


def test_readme_results_table_is_current():
    """The results tables (README: headlines; docs/results.md: all) are generated from results/metrics
    (python -m helpers.io.report)."""
    for path, headline_only in report.targets().items():
        text = path.read_text()
        assert report.render(text, headline_only) == text, f"{path.name}: run `python -m helpers.io.report` after a paper run"
    assert report.table(headline_only=True).count("\n") - 1 <= 10  # at most ten headline rows
