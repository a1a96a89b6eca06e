"""Docstrings of the public API: SpeechBrain's style (``Arguments`` / ``Returns`` / ``Example`` sections,
tests/consistency/DOCSTRINGS.md of its develop branch) with an ``Example`` that runs as a doctest.

Covers ``interpretability.spectral``, ``audio``, ``inference`` and the ``metrics`` and ``interpreters`` packages.
Every public class and function defined there needs an ``Example`` with ``>>>`` lines, except those in
:data:`PENDING` (examples still to write); that list may only shrink: a name in it that has gained an example
fails the test until it is removed from the list.
"""

import doctest
import importlib
import inspect

import pytest

MODULES = [
    "interpretability.spectral",
    "interpretability.audio",
    "interpretability.inference",
    "interpretability.metrics.classification",
    "interpretability.metrics.faithfulness",
    "interpretability.metrics.ground_truth",
    "interpretability.metrics.sanity",
    "interpretability.metrics.stats",
    "interpretability.metrics.structure",
    "interpretability.interpreters.gradient",
    "interpretability.interpreters.io",
    "interpretability.interpreters.l2i",
    "interpretability.interpreters.lmac",
    "interpretability.interpreters.nmf",
]
PENDING = set()


def public_items(module):
    """``{qualified name: object}`` of the public classes and functions a module defines."""
    items = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or not (
            inspect.isclass(obj) or inspect.isfunction(obj)
        ):
            continue
        if getattr(obj, "__module__", None) == module.__name__:
            items[f"{module.__name__}.{name}"] = obj
    return items


def has_example(obj):
    doc = inspect.getdoc(obj) or ""
    return "Example\n-------" in doc and ">>>" in doc


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, name, globs=vars(module).copy()):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} doctest(s) failed"


def test_public_api_has_examples():
    missing = set()
    for name in MODULES:
        for qualified, obj in public_items(
            importlib.import_module(name)
        ).items():
            if not has_example(obj):
                missing.add(qualified)
    assert not missing - PENDING, (
        f"public names without a doctested Example: {sorted(missing - PENDING)}"
    )
    assert not PENDING - missing, (
        f"have an Example now, remove from PENDING: {sorted(PENDING - missing)}"
    )
