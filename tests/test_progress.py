"""Progress bars on long work: on a terminal with tqdm, and silent everywhere else."""

import io
import sys

import numpy as np
import pytest
from helpers import has_module

import softmaxkit as sk
from softmaxkit import _progress

needs_tqdm = pytest.mark.skipif(not has_module("tqdm"), reason="needs tqdm (the progress extra)")


class Terminal(io.StringIO):
    """Standard error as a terminal would be: it says it is one."""

    def isatty(self):
        return True


@pytest.fixture
def problem(rng):
    x = rng.normal(size=(1000, 8))
    w = rng.normal(size=(5, 8))
    target = rng.integers(0, 5, size=1000)
    return x, w, target


def run_with_stderr(monkeypatch, stream, function):
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.0)
    result = function()
    monkeypatch.undo()
    return result, stream.getvalue()


@needs_tqdm
def test_linear_cross_entropy_shows_its_chunks_on_a_terminal(monkeypatch, problem):
    x, w, target = problem
    expected = sk.linear_cross_entropy(x, w, target, chunk_size=1000)
    loss, written = run_with_stderr(
        monkeypatch, Terminal(), lambda: sk.linear_cross_entropy(x, w, target, chunk_size=100)
    )
    assert "linear_cross_entropy" in written and "/10 " in written and "chunk" in written
    assert loss == pytest.approx(expected, rel=1e-12)


@needs_tqdm
def test_nothing_is_written_where_standard_error_is_no_terminal(monkeypatch, problem):
    x, w, target = problem
    _, written = run_with_stderr(
        monkeypatch, io.StringIO(), lambda: sk.linear_cross_entropy(x, w, target, chunk_size=100)
    )
    assert written == ""


def test_without_tqdm_nothing_is_written_and_nothing_fails(monkeypatch, problem):
    x, w, target = problem
    monkeypatch.setitem(sys.modules, "tqdm", None)
    expected = sk.linear_cross_entropy(x, w, target, chunk_size=100)
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.0)
    assert sk.linear_cross_entropy(x, w, target, chunk_size=100) == expected
    assert sys.stderr.getvalue() == ""


@needs_tqdm
def test_work_shorter_than_the_delay_shows_no_bar(monkeypatch, problem):
    x, w, target = problem
    monkeypatch.setattr(sys, "stderr", Terminal())
    sk.linear_cross_entropy(x, w, target, chunk_size=100)  # far less than DELAY_SECONDS
    assert sys.stderr.getvalue() == ""


@needs_tqdm
@pytest.mark.skipif(not (has_module("sklearn") and has_module("scipy")), reason="needs scikit-learn")
def test_a_fit_shows_its_iterations_on_a_terminal(monkeypatch, rng):
    from softmaxkit.models import SoftmaxRegression

    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    model, written = run_with_stderr(monkeypatch, Terminal(), lambda: SoftmaxRegression().fit(X, y))
    assert "SoftmaxRegression.fit" in written and "iteration" in written
    reference = SoftmaxRegression().fit(X, y)
    np.testing.assert_array_equal(model.coef_, reference.coef_)
