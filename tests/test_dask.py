"""Dask arrays chunked along either axis: lazy results that match NumPy once computed."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import softmaxkit as sk  # noqa: E402

# (rows, classes) chunks: along the classes only, the rows only, and both; the
# class axis (50) is always longer than one chunk except in "rows".
CHUNKS = {"classes": (12, 7), "rows": (5, 50), "both": (4, 9)}


class _NoComputing:
    """A Dask scheduler that fails the test if anything is computed."""

    def __call__(self, *args, **kwargs):
        raise AssertionError("the graph was computed before .compute()")


@pytest.fixture
def logits(rng) -> np.ndarray:
    return rng.normal(scale=4.0, size=(12, 50))


@pytest.fixture
def target(rng) -> np.ndarray:
    t = rng.integers(0, 50, size=12)
    t[3] = -100
    return t


def lazily(function, *args, **kwargs):
    """``function(*args, **kwargs)``, checking that it builds a graph and computes nothing."""
    with dask.config.set(scheduler=_NoComputing()):
        result = function(*args, **kwargs)
    assert isinstance(result, da.Array)
    return result


@pytest.mark.parametrize("chunks", CHUNKS.values(), ids=CHUNKS.keys())
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family_is_lazy_and_matches_numpy(logits, name, chunks):
    function = getattr(sk, name)
    result = lazily(function, da.from_array(logits, chunks=chunks), axis=-1)
    np.testing.assert_allclose(result.compute(), function(logits, axis=-1), rtol=1e-14, atol=0)


@pytest.mark.parametrize("chunks", CHUNKS.values(), ids=CHUNKS.keys())
def test_softmax_over_the_row_axis(logits, chunks):
    result = lazily(sk.softmax, da.from_array(logits, chunks=chunks), axis=0)
    np.testing.assert_allclose(result.compute(), sk.softmax(logits, axis=0), rtol=1e-14, atol=0)


def test_temperature_and_mask(logits, rng):
    mask = rng.random(logits.shape) < 0.7
    result = lazily(
        sk.log_softmax, da.from_array(logits, chunks=(4, 9)), temperature=2.5,
        where=da.from_array(mask, chunks=(4, 9)),
    )  # fmt: skip
    expected = sk.log_softmax(logits, temperature=2.5, where=mask)
    np.testing.assert_allclose(result.compute(), expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("chunks", CHUNKS.values(), ids=CHUNKS.keys())
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_is_lazy_and_matches_numpy(logits, target, chunks, reduction):
    options = {"reduction": reduction, "label_smoothing": 0.1}
    result = lazily(
        sk.cross_entropy, da.from_array(logits, chunks=chunks),
        da.from_array(target, chunks=chunks[0]), **options,
    )  # fmt: skip
    expected = sk.cross_entropy(logits, target, **options)
    np.testing.assert_allclose(result.compute(), expected, rtol=1e-14, atol=0)


def test_cross_entropy_grad_matches_numpy(logits, target):
    result = lazily(
        sk.cross_entropy_grad, da.from_array(logits, chunks=(4, 9)),
        da.from_array(target, chunks=4),
    )  # fmt: skip
    expected = sk.cross_entropy_grad(logits, target)
    np.testing.assert_allclose(result.compute(), expected, rtol=1e-14, atol=1e-17)


def test_result_keeps_the_row_chunks(logits):
    result = sk.log_softmax(da.from_array(logits, chunks=(4, 9)))
    assert result.chunks[0] == (4, 4, 4)


def test_scoring_example_reads_a_file_block_by_block(tmp_path, monkeypatch):
    # The example of docs/dask.md (benchmarks/dask_scoring.py) on a small file.
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parents[1] / "benchmarks"))
    import dask_scoring

    logits_path, target_path = dask_scoring.write_inputs(tmp_path, rows=40, classes=30, block_rows=16)
    result = dask_scoring.score(logits_path, target_path, block_rows=16)
    logits, target = np.load(logits_path), np.load(target_path)
    np.testing.assert_allclose(result["loss"], sk.cross_entropy(logits, target, reduction="none"), rtol=1e-6)
    np.testing.assert_allclose(result["logsumexp"], sk.logsumexp(logits, axis=-1), rtol=1e-6)
    np.testing.assert_allclose(result["target_prob"], sk.softmax(logits)[np.arange(40), target], rtol=1e-5)


@pytest.mark.parametrize("weight", [None, np.array([1.0, 2.0, 3.0])])
def test_a_class_index_out_of_range_gives_nan_not_a_silent_loss(weight):
    # Lazy targets are not range-checked (that would compute them); before
    # 2026-12-02 the bad row's loss was 0 and the "mean" counted it.
    z = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.0, 1.0, 0.0]])
    target = np.array([1, 5, -100])
    lazy = sk.cross_entropy(da.from_array(z), da.from_array(target), weight=weight, reduction="none").compute()
    good = sk.cross_entropy(z[:1], target[:1], weight=weight, reduction="none")
    np.testing.assert_array_equal(lazy[0], good[0])
    assert np.isnan(lazy[1]) and lazy[2] == 0.0
    for reduction in ("mean", "sum"):
        assert np.isnan(sk.cross_entropy(da.from_array(z), da.from_array(target), weight=weight, reduction=reduction).compute())
    grad = sk.cross_entropy_grad(da.from_array(z), da.from_array(target), weight=weight, reduction="sum").compute()
    np.testing.assert_allclose(grad[0], sk.cross_entropy_grad(z[:1], target[:1], weight=weight, reduction="sum")[0], rtol=1e-15)
    assert np.isnan(grad[1]).all() and (grad[2] == 0).all()
    assert np.isnan(sk.cross_entropy_grad(da.from_array(z), da.from_array(target), weight=weight).compute()).all()
