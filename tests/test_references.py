"""Every dotted reference to the package in the repository's code, docs and notebooks
(``helpers.detect.sites.read_sites``, ``helpers.io.readers``) names something that exists: a module
that moved or a function that was renamed leaves no stale pointer behind."""
import importlib
import json
import re

from helpers import config

REF = re.compile(r"(?<![\w./])(helpers(?:\.[A-Za-z_]\w*)+)")


def _texts():
    root = config.ROOT
    for sub, pattern in (("helpers", "**/*.py"), ("docs", "*.md"), ("benchmarks", "*.py"),
                         ("experiments", "*.py")):
        for path in sorted((root / sub).glob(pattern)):
            yield path, path.read_text()
    yield root / "README.md", (root / "README.md").read_text()
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        yield path, "\n".join("".join(c["source"]) for c in cells)


def _resolves(ref: str) -> bool:
    parts = ref.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        try:
            for name in parts[k:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


def test_every_package_reference_resolves():
    stale = sorted({(str(path.relative_to(config.ROOT)), ref) for path, text in _texts()
                    for ref in REF.findall(text) if not _resolves(ref.rstrip("."))})
    assert not stale, stale
