"""Every public module, function, class and method of helpers says what it does (units where it
touches lengths or images)."""
import ast

from helpers import config


def test_every_public_name_has_a_docstring():
    missing = []
    for path in sorted((config.ROOT / "helpers").rglob("*.py")):
        tree = ast.parse(path.read_text())
        if not ast.get_docstring(tree):
            missing.append(f"{path.relative_to(config.ROOT)}: the module")
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                if not ast.get_docstring(node):
                    missing.append(f"{path.name}: {node.name}")
                if isinstance(node, ast.ClassDef):
                    missing += [f"{path.name}: {node.name}.{m.name}" for m in node.body
                                if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")
                                and not ast.get_docstring(m)]
    assert not missing, missing
