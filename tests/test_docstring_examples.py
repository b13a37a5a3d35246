"""Every docstring example in the package runs and prints what it says (DESIGN: one runnable
example per contract). Examples that need a catalog file or a long run are marked SKIP."""

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
MODULES = sorted(
    f"{package.__name__}.{info.name}"
    for package in PACKAGES
    for info in pkgutil.iter_modules(package.__path__)
    if not info.name.startswith("_") and info.name != "sandbox_harness"  # a script, not a library
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
