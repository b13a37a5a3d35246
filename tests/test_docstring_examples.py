"""Every docstring example in the package runs and prints what it says (DESIGN: one runnable
example per contract). Examples that need a catalog file or a long run are marked SKIP.

Each module checked must have at least one example: a module without any fails, unless it is
listed in NO_EXAMPLES with the reason it has none."""

import doctest
import importlib
import pkgutil

import pytest

import assay.curricula
import assay.filters
import assay.pipelines
import assay.trainers
import assay.verifiers

PACKAGES = (assay.curricula, assay.filters, assay.pipelines, assay.trainers, assay.verifiers)
PUBLIC = sorted(
    info.name
    for package in PACKAGES
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")  # the rooms' modules too
    if not info.name.rsplit(".", 1)[-1].startswith("_") and not info.name.endswith(".sandbox_harness")  # a script
)
ROOMS = ("store", "config", "reports", "steps", "flows", "cli")
NO_EXAMPLES = {
    "assay.pipelines.cli.main": "the Typer commands; their examples are the README's command lines, run by tests/pipelines/test_cli.py",
    "assay.trainers.toy": "a model folder; its docstring describes the checkpoint, and assay.trainers.engines' examples load it",
    "assay.verifiers.warmup": "imported only by the runner's fork server, for its side effect; it defines nothing to call",
}
NO_EXAMPLES.update({f"assay.pipelines.{room}": "a room of pipelines/: its docstring says what it holds and what it may import; "
                    "its modules carry the examples" for room in ROOMS})
MODULES = [name for name in PUBLIC if name not in NO_EXAMPLES]


def example_count(module) -> int:
    """The examples in the module's own docstrings, SKIP-marked ones included."""
    return sum(len(test.examples) for test in doctest.DocTestFinder().find(module))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    assert example_count(module) > 0, f"{name} has no docstring example: write one, or list it in NO_EXAMPLES with the reason"
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"


@pytest.mark.parametrize("name", sorted(NO_EXAMPLES))
def test_modules_let_off_still_have_no_examples(name):
    # The list cannot go stale: a module that gets an example, or goes away, must leave it.
    assert name in PUBLIC
    assert example_count(importlib.import_module(name)) == 0, f"{name} has examples now: drop it from NO_EXAMPLES"
