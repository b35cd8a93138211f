"""The one place that chooses which backend computes a call, and the contract backends keep.

The functional layer (``_core``, ``losses``) validates the arguments, moves
the reduced axes last and merges them into one (``_family.to_rows``), and
hands these canonical ``(*rows, n)`` arrays, of any strides, to
:func:`compute`, which tries the registered backends that take the arrays,
in order, until one returns a result. A backend is a namespace (a module or
an object) with a ``NAME``, a ``takes(*arrays)`` predicate and these row
primitives, each returning None where it does not take a particular call (a
dtype, a temperature array, weights), so that the next backend computes it:

``softmax_rows(z, *, log, mask, temperature, out)``
    softmax or log_softmax of each row of ``z / temperature`` (``mask``:
    None or bool of ``z``'s shape; ``temperature``: a float or an array with
    length 1 along the rows' axis; ``out``: None or an array to write into).
``logsumexp_rows(z, *, mask, b=None, return_sign=False)``
    shape ``(*rows,)``; the weights ``b`` and ``return_sign`` are optional.
``softmax_vjp_rows(y, g, *, log, mask, temperature, out_dtype)``
    the gradient with respect to the logits, in ``out_dtype``.
``cross_entropy_rows(z, target, *, class_indices, weight, ignore_index, smoothing, grad_divisor, want_grad)``
    a :class:`RowLosses`: the loss of each row before the reduction, and the
    gradient of their sum divided by ``grad_divisor`` (``target``: int class
    indices of shape ``(*rows,)`` or probabilities of ``z``'s shape).

Results are in the input's floating dtype (``softmax_vjp_rows``:
``out_dtype``), of the input's library and device. Registered, in order:

* ``kernel``: the compiled C kernel (``_dispatch``), for NumPy arrays and,
  through zero-copy NumPy views, CPU torch tensors that autograd does not
  track (``softmaxkit.torch``'s custom ops pass such tensors);
* ``triton``: the Triton kernels of ``softmaxkit.triton`` for CUDA tensors
  (:mod:`softmaxkit.triton.backend`, imported on the first CUDA tensor);
* ``reference``: the array-API code of ``_reference`` (the specification),
  for every array.

A backend may also override a whole operation (:func:`whole_operation`):
Triton's fused ``linear_cross_entropy`` for CUDA tensors, which never holds
a chunk of logits.

The commonest call (softmax of a float32/64 NumPy array, every option at
its default) takes the kernel's short path :func:`fast_softmax` first; the
default calls of ``softmaxkit.torch`` on plain CPU tensors take
:func:`fast_tensor_softmax`, :func:`fast_vjp` and
:func:`fast_tensor_cross_entropy`; the cross-entropy of NumPy logits against
class indices without class weights takes :func:`fast_array_cross_entropy`.

A new backend is one :func:`register` call; the agreement tests
(``tests/test_backend_contract.py``) run every registered backend against
the reference. ``_dispatch.use_kernel(False)`` switches the kernel off and
:func:`forced` makes a backend take arrays it would not (tests run Triton's
interpreter on CPU tensors this way).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from . import _dispatch, _reference


# The commonest call, softmax or log_softmax of a float32/64 NumPy array with
# every option at its default, skips the registry for the kernel's own short
# path; bound here by assignment, so that the functional layer still asks only
# this module and the call costs no extra frame (it is the whole cost of a
# softmax of a few entries). ``kernel_available``: whether the kernel computes.
fast_softmax = _dispatch.fast_softmax
kernel_available = _dispatch.available


def fast_tensor_softmax(x: Any, axis: int, log: bool) -> Any | None:
    """The short path of :func:`fast_softmax` for a CPU torch tensor outside autograd
    (``softmaxkit.torch``'s ops pass such tensors), through a zero-copy NumPy
    view; None for any other input, which then takes the full path."""
    view = _plain_tensor_view(x, axis)
    if view is None:
        return None
    out = _new_tensor(x)
    return None if _dispatch.fast_softmax(view, log, out.numpy()) is None else out


def fast_vjp(y: Any, g: Any, axis: int, log: bool) -> Any | None:
    """softmax_vjp / log_softmax_vjp with every option at its default but ``axis``
    (the last), of two NumPy arrays or two CPU torch tensors outside autograd,
    straight to the kernel (``_dispatch.fast_vjp``); None where that does not
    take the call, which then takes the full path."""
    if type(y) is np.ndarray and type(g) is np.ndarray:
        return _dispatch.fast_vjp(y, g, log) if _kernel_takes(y, axis) else None
    y_view, g_view = _plain_tensor_view(y, axis), _plain_tensor_view(g, axis)
    if y_view is None or g_view is None:
        return None
    out = _new_tensor(y)
    return None if _dispatch.fast_vjp(y_view, g_view, log, out.numpy()) is None else out


def fast_tensor_cross_entropy(
    logits: Any, target: Any, ignore_index: int, smoothing: float, reduction: str, want_grad: bool
) -> tuple[Any, Any | None] | None:
    """Cross-entropy of plain (N, C) CPU float32/64 logits outside autograd against
    int64 class indices (N,), without class weights, straight to the kernel
    (``_dispatch.fast_cross_entropy``): the loss (reduced as ``reduction`` says, in
    the logits' dtype) and, when ``want_grad``, its gradient, or None where that
    does not take the call, which then takes the full path (``losses.cross_entropy``)."""
    torch = _torch_if_imported()
    view = _plain_tensor_view(logits, -1)
    if view is None or logits.ndim != 2 or type(target) is not torch.Tensor or not target.is_cpu:
        return None
    grad = _new_tensor(logits) if want_grad else None
    parts = _dispatch.fast_cross_entropy(
        view, target.numpy(), ignore_index, smoothing, reduction == "mean",
        None if grad is None else grad.numpy(),
    )  # fmt: skip
    if parts is None:
        return None
    # The full path's reduction (losses._cross_entropy, _targets.reduce), on the
    # same float64 row losses: the same numbers.
    loss = torch.from_numpy(parts.per_row)
    if reduction == "sum":
        loss = loss.sum()
    elif reduction == "mean":
        loss = loss.sum() / parts.counted if parts.counted else torch.tensor(math.nan, dtype=loss.dtype)
    return loss.to(logits.dtype), grad


def array_cross_entropy_takes(logits: Any, target: Any, axis: Any) -> bool:
    """Whether :func:`fast_array_cross_entropy` may take a call: (N, C) float32/64
    NumPy logits, a NumPy target, the class axis last, and the kernel computes
    every call. (What it still refuses, it leaves to the full path.)"""
    return (
        type(logits) is np.ndarray
        and type(target) is np.ndarray
        and type(axis) is int
        and logits.ndim == 2
        and logits.dtype in _KERNEL_FLOATS
        and _kernel_takes(logits, axis)
    )


_KERNEL_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def fast_array_cross_entropy(
    logits: np.ndarray, target: np.ndarray, ignore_index: int, smoothing: float, reduction: str,
    want_grad: bool,
) -> tuple[_dispatch.RowLossesAndCount, np.ndarray | None] | None:  # fmt: skip
    """Cross-entropy of (N, C) float32/64 NumPy logits (the options validated)
    against int64 class indices (N,), without class weights, straight to the
    kernel (``_dispatch.fast_cross_entropy``): its float64 row losses and count of
    rows not ignored, for the caller to reduce as the full path does, and, when
    ``want_grad``, the gradient; or None where that does not take the call, which
    then takes the full path (``losses.cross_entropy``), which says what is wrong."""
    grad = np.empty(logits.shape, logits.dtype) if want_grad else None
    parts = _dispatch.fast_cross_entropy(logits, target, ignore_index, smoothing, reduction == "mean", grad)
    return None if parts is None else (parts, grad)


def _plain_tensor_view(a: Any, axis: int) -> np.ndarray | None:
    """A NumPy view of ``a`` where it is a plain float32/64 CPU torch tensor (not a
    subclass, no lazy negation or conjugation, outside autograd) reduced over its
    last axis, and the kernel computes every call (no backend forced or registered
    before it); else None."""
    torch = _torch_if_imported()
    if torch is None or type(a) is not torch.Tensor or not a.is_cpu:
        return None
    if a.dtype is not torch.float32 and a.dtype is not torch.float64:  # the kernel's dtypes
        return None
    if a.is_neg() or a.is_conj() or not _kernel_takes(a, axis):
        return None
    if a.requires_grad and torch.is_grad_enabled():  # autograd follows the reference's ops
        return None
    view: np.ndarray = a.detach().numpy()
    return view


def _fresh_like(a: Any) -> Any | None:
    """An uninitialised C-contiguous tensor like ``a``, where ``a`` is a float32/64
    torch tensor; else None."""
    torch = _torch_if_imported()
    if torch is None or not isinstance(a, torch.Tensor):
        return None
    if a.dtype is not torch.float32 and a.dtype is not torch.float64:  # pragma: no mutate
        return None
    return _new_tensor(a)


# glibc's largest mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit): below it a
# freed block stays in the heap and the next call's output reuses its pages.
_HEAP_REUSE_BYTES = 32 << 20  # pragma: no mutate


def _new_tensor(like: Any) -> Any:
    """An uninitialised C-contiguous CPU tensor of the shape and float32/64 dtype of
    ``like``, for a short path's result, from the allocator
    that faults the fewest pages in a training loop: torch's (the C heap, whose
    freed blocks the next step reuses; NumPy arrays freed by torch tensors got
    their pages faulted in again: 800-1300 faults a (4096, 1000) step) up to
    ``_HEAP_REUSE_BYTES``; above, every allocation is a fresh mapping whichever
    allocator asks, and NumPy's asks for huge pages (512 times fewer faults)."""
    torch = _torch_if_imported()
    if like.numel() * like.element_size() <= _HEAP_REUSE_BYTES:  # pragma: no mutate
        return torch.empty_like(like, memory_format=torch.contiguous_format)
    dtype = np.float32 if like.dtype is torch.float32 else np.float64
    return torch.from_numpy(np.empty(tuple(like.shape), dtype))


def _kernel_takes(a: Any, axis: int) -> bool:
    """Whether a short path may take a call over ``axis`` of ``a``: the last axis,
    and the kernel computes every call (no backend forced or registered before it)."""
    return (axis == -1 or axis == a.ndim - 1) and _forced is None and _registered[0] is _KERNEL


class RowLosses(NamedTuple):
    """The per-row losses (before the reduction) and the scaled gradient (or None)."""

    per_row: Any
    grad: Any | None


class _Kernel:
    """The C kernel behind ``_dispatch``: NumPy arrays, and CPU torch tensors as views."""

    NAME = "kernel"

    @staticmethod
    def takes(*arrays: Any) -> bool:
        if not _dispatch.available():
            return False
        return all(a is None or type(a) is np.ndarray or _is_plain_cpu_tensor(a) for a in arrays)

    @staticmethod
    def softmax_rows(z: Any, *, log: bool, mask: Any, temperature: Any, out: Any) -> Any:
        views = _NumpyViews()
        result = _dispatch.softmax(
            views.of(z), z.ndim - 1, log=log, temperature=views.of(temperature),
            mask=views.of(mask), out=views.of(out),
        )  # fmt: skip
        return views.back(result, out)

    @staticmethod
    def logsumexp_rows(z: Any, *, mask: Any, b: Any = None, return_sign: bool = False) -> Any:
        if b is not None or return_sign:
            return None
        views = _NumpyViews()
        result = _dispatch.logsumexp(views.of(z), z.ndim - 1, keepdims=False, mask=views.of(mask))
        return views.back(result)

    @staticmethod
    def softmax_vjp_rows(
        y: Any, g: Any, *, log: bool, mask: Any, temperature: Any, out_dtype: Any
    ) -> Any:
        views = _NumpyViews()
        result = _dispatch.softmax_vjp(
            views.of(y), views.of(g), y.ndim - 1, log=log, temperature=temperature,
            mask=views.of(mask), out_dtype=views.dtype(out_dtype),
        )  # fmt: skip
        return views.back(result)

    @staticmethod
    def cross_entropy_rows(
        z: Any, target: Any, *, class_indices: bool, weight: Any, ignore_index: int,
        smoothing: float, grad_divisor: float, want_grad: bool,
    ) -> RowLosses | None:  # fmt: skip
        views = _NumpyViews()
        # A tensor's gradient from torch's allocator (see fast_tensor_softmax).
        grad_out = _fresh_like(z) if want_grad else None
        parts = _dispatch.cross_entropy(
            views.of(z), views.of(target), class_axis=z.ndim - 1, class_indices=class_indices,
            weight=views.of(weight), ignore_index=ignore_index, smoothing=smoothing,
            grad_scale=1.0 / float(grad_divisor), want_grad=want_grad,
            grad_out=views.of(grad_out),
        )  # fmt: skip
        if parts is None:
            return None
        per_row = parts.per_row.reshape(tuple(z.shape[:-1]))
        grad = parts.grad
        if grad is not None and grad_out is not None and np.shares_memory(grad, views.of(grad_out)):
            grad = grad_out
        elif grad is not None:
            grad = views.back(grad)
        return RowLosses(views.back(per_row), grad)


def _is_plain_cpu_tensor(a: Any) -> bool:
    """A CPU torch tensor the kernel can read through a NumPy view, outside autograd."""
    torch = _torch_if_imported()
    return (
        torch is not None
        and isinstance(a, torch.Tensor)
        and a.device.type == "cpu"
        and a.dtype in (torch.float16, torch.float32, torch.float64, torch.bool, torch.int64,
                        torch.int32)
        and not (a.requires_grad and torch.is_grad_enabled())
    )  # fmt: skip


def _torch_if_imported() -> Any:
    """torch, if the caller has imported it (never imported here)."""
    return sys.modules.get("torch")


class _NumpyViews:
    """Zero-copy NumPy views of torch tensors, and the results back as tensors."""

    def __init__(self) -> None:
        self.torch = None

    def of(self, a: Any) -> Any:
        torch = _torch_if_imported()
        if torch is None or not isinstance(a, torch.Tensor):
            return a
        self.torch = torch
        # .numpy() shares memory; resolve_* materialise a lazy negation or
        # conjugation bit, which .numpy() refuses.
        return a.detach().resolve_conj().resolve_neg().numpy()

    def dtype(self, dtype: Any) -> Any:
        torch = _torch_if_imported()
        if torch is not None and isinstance(dtype, torch.dtype):
            return torch.empty(0, dtype=dtype).numpy().dtype  # pragma: no mutate
        return dtype

    def back(self, result: Any, out: Any = None) -> Any:
        if result is None or self.torch is None:
            return result
        if out is not None:
            return out  # written through its view
        # Every result is memory ``_dispatch`` allocated (never a view of an input, which
        # may be read-only: torch.from_numpy warns on that), so it is shared as it is.
        return self.torch.from_numpy(np.asarray(result))


class _LazyTriton:
    """The Triton backend, imported from ``softmaxkit.triton.backend`` on the first CUDA tensor."""

    NAME = "triton"

    def takes(self, *arrays: Any) -> bool:
        torch = _torch_if_imported()
        if torch is None or not _dispatch.enabled():
            return False
        tensors = [a for a in arrays if a is not None]
        if not tensors or not all(isinstance(a, torch.Tensor) for a in tensors):
            return False
        if not all(a.device.type == "cuda" for a in tensors):
            return False
        return self.module() is not None

    @staticmethod
    def module() -> Any | None:
        try:
            return importlib.import_module("softmaxkit.triton.backend")
        except ImportError:  # no triton here
            return None

    def __getattr__(self, primitive: str) -> Any:
        return getattr(self.module(), primitive)


_KERNEL = _Kernel()
_registered: list[Any] = [_KERNEL, _LazyTriton(), _reference]
_forced: Any = None


def register(backend: Any, *, first: bool = False) -> None:
    """Add a backend (before the reference, or before every other with ``first``)."""
    position = 0 if first else len(_registered) - 1
    _registered.insert(position, backend)


def registered() -> tuple[Any, ...]:
    """The backends, in the order they are tried; the reference is last."""
    return tuple(_registered)


def named(name: str) -> Any:
    """The registered backend called ``name``."""
    for backend in _registered:
        if backend.NAME == name:
            return backend
    raise KeyError(f"no backend named {name!r}; registered: {[b.NAME for b in _registered]}")


@contextlib.contextmanager
def forced(name: str) -> Iterator[Any]:
    """Inside the block, the backend ``name`` takes every call first (for tests;
    not thread-safe). Yields the backend."""
    global _forced
    previous, _forced = _forced, named(name)
    try:
        yield _forced
    finally:
        _forced = previous


def whole_operation(name: str, *arrays: Any) -> Callable[..., Any] | None:
    """The optional override of a whole public operation (``linear_cross_entropy``:
    Triton's fused kernel) by the first backend that takes ``arrays`` and has
    one; None when none has. The override itself may still return None."""
    backends = ([_forced] if _forced is not None else []) + [
        b for b in _registered if b.takes(*arrays)
    ]
    for backend in backends:
        override: Callable[..., Any] | None = getattr(backend, name, None)
        if override is not None:
            return override
    return None


def compute(primitive: Callable[[Any], Any], *arrays: Any) -> Any:
    """``primitive(backend)`` of the first backend that takes ``arrays`` and
    returns a result (the reference always does)."""
    if _forced is not None:
        result = primitive(_forced)
        if result is not None:
            return result
    for backend in _registered:
        if backend.takes(*arrays):
            result = primitive(backend)
            if result is not None:
                return result
    raise AssertionError("the reference backend returned None")  # pragma: no cover
