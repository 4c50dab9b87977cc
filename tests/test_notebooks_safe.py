"""A notebook run as a student runs it — in JupyterLab, no profile set — leaves the repository as it
was: figures, metrics and models go to a git-ignored scratch folder (``helpers.config``)."""
import os
import shutil
import subprocess
import sys

import pytest

from helpers import config


def _status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=config.ROOT,
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("git") is None or not (config.ROOT / ".git").exists(),
                    reason="needs the repository's git checkout")
def test_running_a_notebook_with_no_profile_leaves_the_repository_as_it_was(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DEFECTFINDER_PROFILE", "VIRTUAL_ENV")}
    # the notebook's own `python -m helpers` runs and kernel: this interpreter's environment first
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    before = _status()
    r = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                        "--ExecutePreprocessor.timeout=900", "--output-dir", str(tmp_path),
                        str(config.NOTEBOOKS_DIR / "08_your_own_data.ipynb")],
                       cwd=config.ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _status() == before
    assert (config.GENERATED_DIR / "scratch" / "metrics" / "08_your_own_data.json").exists()
