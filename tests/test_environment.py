"""The pip pins and environment.yml agree, and every dependency is pinned exactly."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip().lstrip("-").strip()
        if not line or line.startswith(("-e", "pip:", "python", "pip")) and "==" not in line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)\s*==\s*([^\s;]+)", line)
        assert m, f"dependency not pinned exactly: {line!r}"
        out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_requirements_pinned_and_match_environment_yml():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env_text = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, l in enumerate(env_text) if l.strip() == "- pip:")
    pip_lines = [l for l in env_text[start + 1:] if l.strip().startswith("-")]
    env = _pins(l for l in pip_lines if "==" in l)
    assert req, "requirements.txt lists no pins"
    assert req == env, f"requirements.txt and environment.yml differ: {set(req.items()) ^ set(env.items())}"
    assert "python=3.11" in " ".join(env_text)


def test_required_packages_pinned():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    for pkg in ("tensorflow-cpu", "keras", "keras-tuner", "tensorboard", "numpy", "scipy",
                "scikit-image", "matplotlib", "seaborn", "jupyterlab", "nbval", "abtem", "ase",
                "h5py", "tqdm", "pytest"):
        assert pkg in req, f"{pkg} missing from requirements.txt"


def test_installed_versions_match_pins():
    import importlib.metadata as md

    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    wrong = {}
    for pkg, ver in req.items():
        try:
            have = md.version(pkg)
        except md.PackageNotFoundError:
            wrong[pkg] = "not installed"
            continue
        if have != ver:
            wrong[pkg] = have
    assert not wrong, f"installed versions differ from the pins: {wrong}"
