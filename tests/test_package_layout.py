"""The package reads as the pipeline: subpackages by stage, imports only downwards, small modules,
sibling imports at module top, and every subpackage lists its modules."""
import ast
import importlib

import pytest

from helpers import config

HELPERS = config.ROOT / "helpers"
#: floor of each subpackage or top-level module: a module imports only from lower floors or its own
#: subpackage
FLOORS = {"config": 0, "core": 0, "io": 1, "library": 1, "synthetic": 2, "classify": 2, "detect": 3,
          "kinetics": 3, "evaluation": 4, "figures": 5, "analyze": 6, "batch": 7, "cli": 8, "__main__": 9,
          "__init__": 9}
SUBPACKAGES = [k for k in FLOORS if (HELPERS / k).is_dir()]
MAX_LINES = 450


def _modules():
    for path in sorted(HELPERS.rglob("*.py")):
        rel = path.relative_to(HELPERS).parts
        yield path, (rel[0][:-3] if len(rel) == 1 else rel[0])


def _helpers_imports(tree):
    """(node, imported stage) for every ``from helpers... import`` in a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "helpers":
            parts = node.module.split(".")
            stages = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
            for s in stages:
                yield node, s
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            yield node, None


def test_every_module_has_a_stage_and_imports_only_downwards():
    bad = []
    for path, stage in _modules():
        assert stage in FLOORS, f"{path}: no floor for {stage!r}; add the new stage to FLOORS"
        for node, target in _helpers_imports(ast.parse(path.read_text())):
            if target is None:
                bad.append(f"{path.relative_to(HELPERS)}:{node.lineno} relative import (use helpers.…)")
            elif target != stage and FLOORS[target] >= FLOORS[stage]:
                bad.append(f"{path.relative_to(HELPERS)}:{node.lineno} {stage} (floor {FLOORS[stage]}) imports "
                           f"{target} (floor {FLOORS[target]})")
    assert not bad, bad


def test_sibling_imports_sit_at_module_top():
    inner = []
    for path, _ in _modules():
        tree = ast.parse(path.read_text())
        top = set(tree.body)
        inner += [f"{path.relative_to(HELPERS)}:{node.lineno}" for node, _ in _helpers_imports(tree) if node not in top]
    assert not inner, f"imports of helpers inside functions: {inner}"


def test_no_module_over_450_lines():
    long = {str(p.relative_to(HELPERS)): n for p, _ in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_subpackage_lists_its_modules(package):
    mod = importlib.import_module(f"helpers.{package}")
    modules = sorted(p.stem for p in (HELPERS / package).glob("*.py") if p.stem != "__init__")
    assert sorted(mod.__all__) == modules
    for name in modules:
        assert f"``{name}``" in mod.__doc__, f"helpers.{package} docstring does not describe {name}"
        importlib.import_module(f"helpers.{package}.{name}")


def test_public_entry_point():
    import helpers

    assert {"analyze_file", "AnalysisSettings", "AnalysisResult"} <= set(helpers.__all__)
    from helpers.analyze import analyze_file

    assert helpers.analyze_file is analyze_file
    with pytest.raises(AttributeError, match="no attribute"):
        helpers.no_such_name  # noqa: B018
