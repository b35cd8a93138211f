"""The examples in the docstrings of the calibration, model, plot and data modules run."""

import doctest
import importlib

import pytest
from helpers import has_module

# linear_cross_entropy's examples; the rest of losses.py belongs to the loss issue.
OBJECTS = ["softmaxkit.losses.linear_cross_entropy", "softmaxkit.losses.linear_cross_entropy_and_grad"]

MODULES = [
    "softmaxkit.datasets",
    "softmaxkit.calibration.metrics",
    "softmaxkit.calibration.temperature",
    "softmaxkit.calibration.vector",
    "softmaxkit.models.softmax_regression",
    "softmaxkit.plot",
    "softmaxkit.cli.explain",
    "softmaxkit.cli.demo",
    "softmaxkit.explorer.page",
    "softmaxkit._progress",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    if name.endswith("vector") and not has_module("scipy"):
        pytest.skip("needs scipy")
    if name == "softmaxkit.plot" and not has_module("matplotlib"):
        pytest.skip("needs matplotlib")
    if name.startswith("softmaxkit.models") and not (has_module("sklearn") and has_module("scipy")):
        pytest.skip("needs scikit-learn and scipy")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


@pytest.mark.parametrize("name", OBJECTS)
def test_docstring_examples_of_single_functions_run(name):
    module_name, _, attribute = name.rpartition(".")
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder().find(getattr(module, attribute), name, globs={})
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.tries > 0 and runner.failures == 0
