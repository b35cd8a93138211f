"""Every registered backend against the reference backend (the specification), primitive by primitive.

The functional layer hands canonical ``(*rows, n)`` arrays to the backend
``softmaxkit._backends`` chooses; these tests call each registered backend's
row primitives (``helpers.backend_cases``: the C kernel on NumPy arrays and
CPU tensors, Triton on CPU tensors under its interpreter) and compare them
with the reference's on the same arrays: float64 within a few ulps, the
same NaN/inf pattern, as an array of the input's library. A backend that
returns None declines that call (the next backend computes it) and is not
compared; the kernel declines none of these calls (it takes every option here).
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is imported

import numpy as np
import pytest
from helpers import backend_cases

from softmaxkit import _backends, _reference

CASES = backend_cases()


def host(a):
    """A backend's result as NumPy (a tensor detached and copied to the host)."""
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def computed(backend, ours, like):
    """Whether to compare ``ours``: None only where the backend may decline the call
    (the kernel takes every call here); otherwise of the library of ``like``."""
    if ours is None:
        assert backend.NAME != "kernel", "the kernel declined a call it takes"
        return False
    for part in ours if isinstance(ours, _backends.RowLosses) else (ours,):
        assert type(part) is type(like)
    return True


def assert_close(actual, expected):
    """Same shape, NaN and inf pattern; finite values within 8 float64 ulps of the
    reference (Triton's per-row 1 / norm adds a rounding, the kernel's order of sums others)."""
    actual, expected = host(actual), host(expected)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_array_equal(actual[np.isinf(expected)], expected[np.isinf(expected)])
    finite = np.isfinite(expected)
    scale = np.maximum(np.abs(expected[finite]), 1.0)
    assert np.all(np.abs(actual[finite] - expected[finite]) <= 8 * np.spacing(scale))


@pytest.fixture
def rows(rng):
    z = rng.normal(scale=4.0, size=(4, 7))
    z[1, 2] = -np.inf
    z[2] = -np.inf  # a row with every entry excluded
    return z


MASK = np.array([[True] * 7, [True, False] * 3 + [True], [True] * 7, [False] * 7])


@pytest.mark.parametrize("backend, convert", CASES)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("options", ["plain", "temperature", "per_row_temperature", "mask"])
def test_softmax_rows(backend, convert, log, options, rows):
    kwargs = {"log": log, "mask": None, "temperature": 1.0, "out": None}
    if options == "temperature":
        kwargs["temperature"] = 0.3
    elif options == "per_row_temperature":
        kwargs["temperature"] = np.array([[0.5], [1.0], [2.0], [4.0]])
    elif options == "mask":
        kwargs["mask"] = MASK
    ours = backend.softmax_rows(convert(rows), **{k: _convert(convert, v) for k, v in kwargs.items()})
    if computed(backend, ours, convert(rows)):
        assert_close(ours, _reference.softmax_rows(rows, **kwargs))


@pytest.mark.parametrize("backend, convert", CASES)
@pytest.mark.parametrize("masked", [False, True], ids=["plain", "mask"])
def test_logsumexp_rows(backend, convert, masked, rows):
    mask = MASK if masked else None
    ours = backend.logsumexp_rows(convert(rows), mask=_convert(convert, mask))
    if computed(backend, ours, convert(rows)):
        assert_close(ours, _reference.logsumexp_rows(rows, mask=mask))


@pytest.mark.parametrize("backend, convert", CASES)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_vjp_rows(backend, convert, log, rows, rng):
    y = _reference.softmax_rows(rows, log=log, mask=MASK, temperature=1.0, out=None)
    g = rng.normal(size=rows.shape)
    kwargs = {"log": log, "mask": MASK, "temperature": 2.0, "out_dtype": np.float64}
    converted = {k: _convert(convert, v) for k, v in kwargs.items()}
    converted["out_dtype"] = convert(np.zeros(1)).dtype  # the library's float64
    ours = backend.softmax_vjp_rows(convert(y), convert(g), **converted)
    if computed(backend, ours, convert(y)):
        assert_close(ours, _reference.softmax_vjp_rows(y, g, **kwargs))


@pytest.mark.parametrize("backend, convert", CASES)
@pytest.mark.parametrize("target_kind", ["indices", "probabilities"])
@pytest.mark.parametrize("options", ["plain", "weight_smoothing", "ignore_index"])
def test_cross_entropy_rows(backend, convert, target_kind, options, rng):
    z = rng.normal(scale=3.0, size=(5, 6))
    if target_kind == "indices":
        target = np.array([0, 5, 2, 3, 1])
    else:
        target = rng.dirichlet(np.ones(6), size=5)
    kwargs = {"class_indices": target_kind == "indices", "weight": None, "ignore_index": -100,
              "smoothing": 0.0, "grad_divisor": 4.0, "want_grad": True}  # fmt: skip
    if options == "weight_smoothing":
        kwargs.update(weight=np.linspace(0.5, 2.0, 6), smoothing=0.2)
    elif options == "ignore_index":
        kwargs.update(ignore_index=2)
    ours = backend.cross_entropy_rows(
        convert(z), convert(target), **{k: _convert(convert, v) for k, v in kwargs.items()}
    )
    if computed(backend, ours, convert(z)):
        expected = _reference.cross_entropy_rows(z, target, **kwargs)
        assert_close(ours.per_row, expected.per_row)
        assert_close(ours.grad, expected.grad)


@pytest.mark.parametrize("backend, convert", CASES)
@pytest.mark.parametrize("options", ["indices", "smoothing_ignore_index", "probabilities"])
def test_cross_entropy_rows_of_a_batch_of_rows_with_excluded_classes(backend, convert, options, rng):
    """Two row axes, a -inf logit in two rows, no class weights: class indices at
    a gradient divisor of 2 (without smoothing an excluded class costs nothing),
    smoothing with an ignored class, and one-hot targets and one whose zero lies
    at a -inf logit (0 * log 0 = 0)."""
    z = rng.normal(scale=3.0, size=(2, 3, 5))
    z[0, 1, 2] = z[1, 0, 4] = -np.inf
    target = np.array([[0, 4, 1], [2, 3, 0]])
    kwargs = {"class_indices": True, "weight": None, "ignore_index": -100, "smoothing": 0.0,
              "grad_divisor": 2.0, "want_grad": True}  # fmt: skip
    if options == "smoothing_ignore_index":
        kwargs.update(ignore_index=3, smoothing=0.25)
    elif options == "probabilities":
        target = np.eye(5)[target]
        target[0, 1] = [0.5, 0.0, 0.0, 0.0, 0.5]
        kwargs.update(class_indices=False)
    ours = backend.cross_entropy_rows(convert(z), convert(target), **kwargs)
    if computed(backend, ours, convert(z)):
        expected = _reference.cross_entropy_rows(z, target, **kwargs)
        assert np.isfinite(expected.per_row).sum() == (4 if options == "smoothing_ignore_index" else 6)
        assert_close(ours.per_row, expected.per_row)
        assert_close(ours.grad, expected.grad)


def test_every_backend_is_registered_and_the_reference_is_last():
    names = [backend.NAME for backend in _backends.registered()]
    assert names == ["kernel", "triton", "reference"]
    assert {case.id.split("-")[0] for case in CASES} >= {"kernel"}


def _convert(convert, value):
    return convert(value) if isinstance(value, np.ndarray) else value
