"""The registry of ``softmaxkit._backends``: which backend computes a call, and when the short paths step aside.

Fake backends (namespaces with a ``NAME``, ``takes`` and one primitive that
returns a label) stand in for real ones, so that the order of the registry,
a forced backend and a backend that declines a call each show in the answer.
The registry is restored after every test (``monkeypatch``).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from helpers import requires_torch

from softmaxkit import _backends, _dispatch, _reference


def fake(name, *, takes=True, answer=None, **primitives):
    """A backend called ``name`` that takes every call (or none) and answers ``answer``."""
    return SimpleNamespace(NAME=name, takes=lambda *arrays: takes, answer=answer, **primitives)


@pytest.fixture
def registry(monkeypatch):
    """A copy of the registry that the test may change."""
    monkeypatch.setattr(_backends, "_registered", list(_backends.registered()))


def ask(backend):
    return backend.answer


def test_register_puts_a_backend_before_the_reference_or_before_every_other(registry):
    _backends.register(fake("late"))
    _backends.register(fake("early"), first=True)
    assert [b.NAME for b in _backends.registered()] == ["early", "kernel", "triton", "late", "reference"]


def test_named_finds_each_registered_backend():
    assert _backends.named("reference") is _reference
    assert [_backends.named(b.NAME) for b in _backends.registered()] == list(_backends.registered())
    with pytest.raises(KeyError, match="no backend named 'nothing'; registered: "):
        _backends.named("nothing")


def test_compute_asks_the_forced_backend_then_the_first_that_takes_and_answers(monkeypatch):
    backends = [fake("refuses", takes=False, answer="refuses"), fake("declines"), fake("answers", answer="answers")]
    monkeypatch.setattr(_backends, "_registered", [*backends, _reference])
    x = np.zeros((2, 3))
    assert _backends.compute(ask, x) == "answers"
    with _backends.forced("refuses"):  # forced: asked first, whether it takes the arrays or not
        assert _backends.compute(ask, x) == "refuses"
    with _backends.forced("declines"):  # its None hands the call on
        assert _backends.compute(ask, x) == "answers"
    assert _backends.compute(ask, x) == "answers"


def test_whole_operation_is_the_override_of_the_first_backend_that_has_one(registry):
    _backends.register(fake("fused", takes=True, linear_cross_entropy="fused"))
    _backends.register(fake("idle", takes=False, linear_cross_entropy="idle"), first=True)
    x = np.zeros((2, 3))
    assert _backends.whole_operation("linear_cross_entropy", x) == "fused"  # the kernel has none
    assert _backends.whole_operation("nothing", x) is None
    with _backends.forced("idle"):  # forced: first, whether it takes the arrays or not
        assert _backends.whole_operation("linear_cross_entropy", x) == "idle"


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_the_numpy_short_paths_take_the_last_axis_while_the_kernel_is_first(registry, rng, axis):
    y, g = rng.random((2, 3)), rng.random((2, 3))
    last = axis != 0
    assert (_backends.fast_vjp(y, g, axis, False) is not None) == last
    assert _backends.array_cross_entropy_takes(y, np.array([0, 2]), axis) == last
    with _backends.forced("reference"):
        assert _backends.fast_vjp(y, g, axis, False) is None
        assert not _backends.array_cross_entropy_takes(y, np.array([0, 2]), axis)
    _backends.register(fake("first"), first=True)
    assert _backends.fast_vjp(y, g, axis, False) is None
    assert not _backends.array_cross_entropy_takes(y, np.array([0, 2]), axis)


@requires_torch
@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_the_tensor_short_paths_take_the_last_axis_while_the_kernel_is_first(registry, rng, axis):
    import torch

    y, g = torch.tensor(rng.random((2, 3))), torch.tensor(rng.random((2, 3)))
    last = axis != 0
    assert (_backends.fast_tensor_softmax(y, axis, False) is not None) == last
    assert (_backends.fast_vjp(y, g, axis, False) is not None) == last
    with _backends.forced("reference"):
        assert _backends.fast_tensor_softmax(y, axis, False) is None
        assert _backends.fast_vjp(y, g, axis, False) is None
    _backends.register(fake("first"), first=True)
    assert _backends.fast_tensor_softmax(y, axis, False) is None


@requires_torch
def test_triton_takes_cuda_tensors_only_while_the_kernels_are_on():
    # A tensor subclass that reports a CUDA device stands in for one (no GPU here):
    # only the choice is tested, nothing is computed.
    import torch

    pytest.importorskip("triton")

    class OnCuda(torch.Tensor):
        @property
        def device(self):
            return torch.device("cuda")

    cuda, cpu = torch.zeros(2, 3).as_subclass(OnCuda), torch.zeros(2, 3)
    triton = _backends.named("triton")
    assert triton.takes(cuda) and triton.takes(cuda, None, cuda)
    assert not triton.takes(cpu) and not triton.takes(cuda, cpu) and not triton.takes(cpu, cuda)
    assert not triton.takes(cuda, np.zeros(3)) and not triton.takes(None) and not triton.takes()
    with _dispatch.use_kernel(False):
        assert not triton.takes(cuda)


@requires_torch
def test_the_kernel_takes_numpy_arrays_and_plain_cpu_tensors_while_it_is_on():
    import torch

    kernel = _backends.named("kernel")
    x, tensor, tracked = np.zeros((2, 3)), torch.zeros(2, 3), torch.zeros(2, 3, requires_grad=True)
    assert kernel.takes(x, None, tensor) and kernel.takes(torch.zeros(2, dtype=torch.int64))
    assert not kernel.takes(tracked) and not kernel.takes(x, [0.0]) and not kernel.takes(tensor.to(torch.complex64))
    assert not kernel.takes(torch.zeros(2, 3, device="meta"))
    with torch.no_grad():  # outside autograd a tensor that requires grad is plain
        assert kernel.takes(tracked)
    with _dispatch.use_kernel(False):
        assert not kernel.takes(x) and not kernel.takes(tensor)


def test_the_kernel_declines_what_it_does_not_compute():
    # logsumexp with weights or a sign, and the cross-entropy of empty rows:
    # the reference computes them.
    kernel, z = _backends.named("kernel"), np.zeros((2, 3))
    assert kernel.logsumexp_rows(z, mask=None, b=np.ones((2, 3))) is None
    assert kernel.logsumexp_rows(z, mask=None, return_sign=True) is None
    options = {"class_indices": True, "weight": None, "ignore_index": -100, "smoothing": 0.0,
               "grad_divisor": 1.0, "want_grad": True}  # fmt: skip
    assert kernel.cross_entropy_rows(np.zeros((2, 0)), np.zeros(2, dtype=np.int64), **options) is None


@pytest.mark.parametrize(
    "logits, target, axis",
    [
        (np.zeros((2, 3), np.float16), np.array([0, 1]), -1),
        (np.zeros((2, 3), np.int64), np.array([0, 1]), -1),
        (np.zeros((2, 2, 3)), np.zeros((2, 2), np.int64), -1),
        (np.zeros((2, 3)), [0, 1], -1),
        (np.zeros((2, 3)), np.array([0, 1]), (1,)),
        ([[0.0, 0.0, 0.0]], np.array([0]), -1),
    ],
    ids=["float16", "int64", "3d", "list_target", "tuple_axis", "list_logits"],
)
def test_the_numpy_cross_entropy_short_path_takes_only_2d_float_arrays(logits, target, axis):
    assert _backends.array_cross_entropy_takes(np.zeros((2, 3)), np.array([0, 1]), -1)
    assert not _backends.array_cross_entropy_takes(logits, target, axis)


@requires_torch
def test_a_tensor_with_a_lazy_negation_gets_the_values_of_its_plain_copy(rng):
    # The imaginary part of a conjugate is a float tensor whose negation is a bit
    # (is_neg), which .numpy() refuses: the short paths leave it to the full path.
    import torch

    import softmaxkit as sk

    z = torch.tensor(rng.normal(size=(3, 5)) + 1j * rng.normal(size=(3, 5))).conj()
    lazy, plain = z.imag, z.imag.resolve_neg()
    assert lazy.is_neg() and not plain.is_neg()
    target = torch.tensor([0, 4, 2])
    for got, expected in [
        (sk.softmax(lazy, -1), sk.softmax(plain, -1)),
        (sk.softmax_vjp(lazy, lazy, -1), sk.softmax_vjp(plain, plain, -1)),
        (sk.cross_entropy_and_grad(lazy, target), sk.cross_entropy_and_grad(plain, target)),
    ]:
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert _backends.fast_tensor_cross_entropy(lazy, target, -100, 0.0, "mean", True) is None


@requires_torch
def test_the_vjp_short_path_takes_two_arrays_of_one_library(rng):
    import torch

    import softmaxkit as sk

    y, g = rng.random((2, 3)), rng.random((2, 3))
    assert _backends.fast_vjp(y, g.tolist(), -1, False) is None
    assert _backends.fast_vjp(y.tolist(), g, -1, False) is None
    np.testing.assert_array_equal(sk.softmax_vjp(y, g.tolist()), sk.softmax_vjp(y, g))
    assert _backends.fast_vjp(y, torch.tensor(g), -1, False) is None
    assert _backends.fast_vjp(torch.tensor(y), g, -1, False) is None
    torch.testing.assert_close(_backends.fast_vjp(torch.tensor(y), torch.tensor(g), -1, False),
                               torch.tensor(_backends.fast_vjp(y, g, -1, False)), rtol=0, atol=0)  # fmt: skip


@requires_torch
@pytest.mark.parametrize("case, shape", [("rows", (3, 4)), ("no_rows", (0, 4)), ("empty_rows", (3, 0))])
def test_the_kernels_tensor_results_share_fresh_memory_never_the_input(rng, case, shape):
    # The results become tensors by torch.from_numpy, which warns on read-only memory
    # (an error in this suite): each is an array the kernel allocated, not a view of its
    # input, here a tensor over read-only memory (None where the kernel declines).
    import warnings

    import torch

    values = rng.normal(size=shape)
    values.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (from_numpy of read-only memory)
        z = torch.from_numpy(values)
    target = torch.zeros(shape[:-1], dtype=torch.int64)
    kernel = _backends.named("kernel")
    results = [
        kernel.softmax_rows(z, log=True, mask=None, temperature=0.5, out=None),
        kernel.softmax_rows(z, log=False, mask=None, temperature=1.0, out=None),
        kernel.logsumexp_rows(z, mask=None),
        kernel.softmax_vjp_rows(z, z, log=False, mask=None, temperature=1.0, out_dtype=torch.float64),
    ]
    losses = kernel.cross_entropy_rows(
        z, target, class_indices=True, weight=None, ignore_index=-100, smoothing=0.0,
        grad_divisor=1.0, want_grad=True,
    )  # fmt: skip
    results += [] if losses is None else list(losses)
    assert sum(r is not None for r in results) == {"rows": 6, "no_rows": 2, "empty_rows": 3}[case]
    for result in results:
        assert result is None or type(result) is torch.Tensor


@requires_torch
def test_the_kernel_writes_softmax_rows_into_a_tensor_out_and_returns_it(rng):
    import torch

    z = torch.tensor(rng.normal(size=(3, 4)))
    out = torch.empty(3, 4, dtype=torch.float64)
    result = _backends.named("kernel").softmax_rows(z, log=False, mask=None, temperature=1.0, out=out)
    assert result is out
    torch.testing.assert_close(out, torch.softmax(z, -1))


def test_the_kernels_cross_entropy_rows_keep_every_row_axis(rng):
    # (*rows, n) logits: the per-row losses have the shape of the rows.
    z, target = rng.normal(size=(2, 3, 4)), rng.integers(0, 4, size=(2, 3))
    options = {"class_indices": True, "weight": None, "ignore_index": -100, "smoothing": 0.0,
               "grad_divisor": 6.0, "want_grad": True}  # fmt: skip
    ours = _backends.named("kernel").cross_entropy_rows(z, target, **options)
    expected = _reference.cross_entropy_rows(z, target, **options)
    assert ours.per_row.shape == (2, 3) and ours.grad.shape == (2, 3, 4)
    np.testing.assert_allclose(ours.per_row, expected.per_row, rtol=1e-14)
    np.testing.assert_allclose(ours.grad, expected.grad, rtol=1e-14, atol=1e-17)


@requires_torch
def test_the_kernels_cross_entropy_of_a_float16_tensor_comes_back_as_tensors(rng):
    # float16 is computed in float32: the gradient is the kernel's own float32
    # array, not the tensor a float32/64 input's gradient is written into.
    import torch

    z, target = torch.tensor(rng.normal(size=(5, 6)), dtype=torch.float16), torch.tensor([0, 5, 2, 3, 1])
    options = {"class_indices": True, "weight": None, "ignore_index": -100, "smoothing": 0.0,
               "grad_divisor": 4.0, "want_grad": True}  # fmt: skip
    ours = _backends.named("kernel").cross_entropy_rows(z, target, **options)
    expected = _reference.cross_entropy_rows(z.double().numpy(), target.numpy(), **options)
    for got, want in zip(ours, expected):
        assert type(got) is torch.Tensor
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-7)
