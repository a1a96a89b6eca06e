"""Imports run one way (README, "Layout"): the interpreter modules never import the inference interface built on
them, so loading an interpreter never goes through ``inference.py`` and back."""

import ast
import glob
import os

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def imported_modules(path):
    """Every module a file imports, at its top or inside a function (docstring examples are not imports)."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_imported_modules_sees_function_level_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        '"""\n>>> from interpretability.inference import Explainer\n"""\n'
        "import os\n\ndef f():\n    from interpretability.inference import load_decoder\n"
    )
    assert imported_modules(source) == {"os", "interpretability.inference"}


def test_no_interpreter_module_imports_the_inference_interface():
    modules = glob.glob(
        os.path.join(ROOT, "interpretability", "interpreters", "*.py")
    )
    assert len(modules) >= 5
    offenders = [
        os.path.relpath(path, ROOT)
        for path in modules
        if "interpretability.inference" in imported_modules(path)
    ]
    assert not offenders, (
        f"these import interpretability.inference: {offenders}"
    )
