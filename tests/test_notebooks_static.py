"""House rules of the notebooks: names, one setup cell, no %run, no absolute paths, no copies."""
import json
import re

import pytest

from helpers import config

NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("*.ipynb"))


def test_names_in_pipeline_order_and_no_copies():
    assert NOTEBOOKS, "no notebooks found"
    for nb in NOTEBOOKS:
        assert re.fullmatch(r"\d\d[a-z]?_[a-z0-9_]+\.ipynb", nb.name), nb.name
        assert "-Copy" not in nb.name and "checkpoint" not in nb.name
    assert not list(config.ROOT.rglob(".ipynb_checkpoints/*.ipynb"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_and_no_forbidden_code(nb):
    cells = json.loads(nb.read_text())["cells"]
    code = [("".join(c["source"])) for c in cells if c["cell_type"] == "code"]
    assert "from helpers import config" in code[0] and "config.set_seed(" in code[0], \
        "the first code cell must import helpers.config and set the seed"
    for src in code:
        assert "%run" not in src
        assert not re.search(r"['\"](/work|/home|/Users|C:\\\\)", src), "absolute path in a notebook"
        assert not re.search(r"^\s*(def|class) ", src, re.M), \
            "logic belongs in helpers/, not in notebooks"
    assert any("Assertion cell" in src for src in code), "a notebook must check its science"


def test_make_run_executes_every_notebook():
    """The Makefile's notebook glob (the main job, ``make run``) matches every notebook."""
    import fnmatch

    make = (config.ROOT / "Makefile").read_text()
    pattern = re.search(r"wildcard notebooks/(\S+?)\)", make).group(1)
    names = [p.name for p in config.NOTEBOOKS_DIR.glob("*.ipynb")]
    missing = [n for n in names if not fnmatch.fnmatch(n, pattern)]
    assert not missing, f"make run would skip {missing}"


#: TensorFlow's C++ log lines (absl format) and start-up notices: noise, not results
TF_LOG_LINE = re.compile(r"absl::InitializeLog|^[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]|rebuild TensorFlow")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_no_tensorflow_log_lines_in_committed_outputs(nb):
    """``config.set_seed`` imports TensorFlow through ``config.quiet_tensorflow``: a run leaves none."""
    bad = []
    for k, cell in enumerate(json.loads(nb.read_text())["cells"]):
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            bad += [f"cell {k}: {line[:80]}" for line in text.splitlines() if TF_LOG_LINE.search(line)]
    assert not bad, "\n".join(bad[:5])


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_after_setup_and_exercises_at_the_end(nb):
    """papermill's convention: one cell tagged ``parameters``, right after the setup cell, holding
    assignments only; the notebook ends with 2–4 numbered exercises."""
    cells = json.loads(nb.read_text())["cells"]
    tagged = [k for k, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    setup = next(k for k, c in enumerate(cells) if c["cell_type"] == "code")
    assert tagged == [setup + 1], (tagged, setup)
    src = "".join(cells[setup + 1]["source"])
    code_lines = [ln for ln in src.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert code_lines and all(re.match(r"^([A-Z][A-Z0-9_]*\s*=|\s|\))", ln) for ln in code_lines), src
    last = cells[-1]
    text = "".join(last["source"])
    assert last["cell_type"] == "markdown" and text.startswith("## Exercises"), text[:80]
    assert 2 <= len(re.findall(r"^\d\. \*\*", text, flags=re.M)) <= 4, text


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_no_reference_outside_the_repository(nb):
    """No design document or issue tracker a reader of the repository cannot open."""
    text = nb.read_text()
    assert not re.search(r"DESIGN|\bissue\b|issues? target", text, flags=re.I), \
        re.search(r".{60}(DESIGN|\bissue\b).{60}", text, flags=re.I | re.S)
