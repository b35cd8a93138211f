"""The C kernel backend's planner: NumPy arrays onto the compiled kernel's layouts.

``_backends`` (the one place that chooses who computes) hands this module's
entry points validated arrays in the canonical layout, the reduced axis last
(CPU torch tensors arrive as zero-copy NumPy views). Each entry point
returns the finished result, or ``None`` when the kernel does not take the
call; the next backend (in the end the array-API reference, the
specification) then computes it. The kernel takes:

* exact ``numpy.ndarray`` inputs (never another library's arrays, never
  subclasses such as masked arrays), float16 (computed via float32), float32
  or float64, in native byte order (other byte orders are swapped first);
* one reduced axis (``_family.to_rows`` has merged several into one);
* any layout: the reduced axis is brought into one of the kernel's two
  layouts (rows contiguous, or a non-last axis with a contiguous axis
  beside it) by a transposed view when possible and by a copy otherwise
  (negative or zero strides, unaligned data, other byte orders); ``out=``
  of any layout is written directly when it fits a kernel layout, else
  through a temporary.

``softmax``, ``logsumexp``, ``softmax_vjp`` and ``cross_entropy`` below
take already-validated NumPy arrays; ``available()`` says whether the
extension is built and switched on; ``use_kernel(False)`` (a context
manager, for tests) switches every accelerated backend off, so that the
reference computes (``tests/helpers.py``'s ``spec()``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from . import _backend, _reference, _stable, _threads

SOFTMAX, LOG_SOFTMAX, LOGSUMEXP = 0, 1, 2
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# float16 is computed in float32; other byte orders are swapped first.
_TAKEN_DTYPES = (*_KERNEL_DTYPES, np.dtype(np.float16))

# Fewer elements than this run on one thread (twice SK_MIN_WORK in driver.c).
_SMALL = 32768  # pragma: no mutate

_enabled = True
_module: Any = None
_load_error: ImportError | None = None


def _kernel() -> Any:
    """The extension module, imported on first use (never by ``import softmaxkit``)."""
    global _module, _load_error
    if _module is None and _load_error is None:
        try:
            from . import _kernel as module
        except ImportError as exc:  # a build without the extension
            _load_error = exc
        else:
            _module = module
    return _module


def available() -> bool:
    """True when the compiled kernel is built and switched on."""
    return _enabled and _kernel() is not None


def enabled() -> bool:
    """False inside ``use_kernel(False)``, which switches every accelerated backend off."""
    return _enabled


@contextlib.contextmanager
def use_kernel(enabled: bool) -> Iterator[None]:
    """Switch the kernel (and the other accelerated backends) on or off inside a
    ``with`` block, so that the reference computes (for tests; not thread-safe)."""
    global _enabled
    previous, _enabled = _enabled, bool(enabled)
    try:
        yield
    finally:
        _enabled = previous


def isa() -> str | None:
    """The instruction set the kernel runs with here ("avx512f", "avx2", "baseline")."""
    module = _kernel()
    return None if module is None else module.isa()


def _taken_dtype(dtype: np.dtype) -> bool:
    return dtype.newbyteorder("=") in _TAKEN_DTYPES


def _takes(*arrays: Any) -> bool:
    return available() and all(a is None or type(a) is np.ndarray for a in arrays)


# ---- tiny calls ----------------------------------------------------------


_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def fast_softmax(x: Any, log: bool, out: np.ndarray | None = None) -> np.ndarray | None:
    """softmax / log_softmax over the last axis of a float32/64 C-contiguous array.

    The path for the commonest call (``softmax(x)`` with every option at its
    default, ``out`` included when it is a C-contiguous array of x's shape
    and dtype that is x itself or does not overlap it), which skips
    namespace resolution and layout planning; any other input returns None
    and takes the full path (which validates ``out``).
    """
    dtype = x.dtype
    # Native float32/64 dtypes are NumPy singletons: an identity test is the
    # cheapest check of both the type and the byte order. (A 0-d x is small:
    # the binding refuses it.)
    if not _enabled or (dtype is not _FLOAT64 and dtype is not _FLOAT32):
        return None
    module = _module if _module is not None else _kernel()
    if module is None:
        return None
    if out is not None and not (out.dtype is dtype and out.shape == x.shape):
        return None
    if x.size < _SMALL:
        result = np.empty(x.shape, dtype) if out is None else out
        try:
            # The binding checks the rest (C-contiguous and aligned x, a
            # writable C-contiguous out that is x's memory or does not overlap
            # it, a non-empty last axis) before it writes anything; the full
            # path then says what is wrong.
            module.last_axis(log, x, result)
        except (BufferError, ValueError, TypeError):
            return None
        return result
    if not _is_kernel_ready(x) or (
        out is not None
        and not (
            _is_kernel_ready(out)
            and out.flags.writeable
            and (out is x or not np.may_share_memory(out, x))
        )
    ):
        return None
    result = np.empty(x.shape, dtype) if out is None else out
    n = x.shape[-1]
    module.reduce(LOG_SOFTMAX if log else SOFTMAX, x.reshape(-1, n, 1), result.reshape(-1, n, 1),
                  None, _threads.get_num_threads())
    return result


def fast_vjp(
    y: np.ndarray, g: np.ndarray, log: bool, out: np.ndarray | None = None
) -> np.ndarray | None:
    """softmax_vjp / log_softmax_vjp over the last axis, temperature 1, no mask, of two
    C-contiguous arrays of one shape and one float32/64 dtype (the commonest call: a
    backward pass), into ``out`` (a fresh C-contiguous array of that shape and dtype)
    or a new array; any other input returns None and takes the full path."""
    dtype = y.dtype
    if not _enabled or (dtype is not _FLOAT64 and dtype is not _FLOAT32) or g.dtype is not dtype:
        return None
    if y.ndim == 0 or y.size == 0 or y.shape != g.shape:
        return None
    if not (_is_kernel_ready(y) and _is_kernel_ready(g)):
        return None
    module = _module if _module is not None else _kernel()
    if module is None:
        return None
    n = y.shape[-1]
    grad = np.empty(y.shape, dtype) if out is None else out
    module.vjp(log, y.reshape(-1, n), g.reshape(-1, n), grad.reshape(-1, n), None, 1.0,
               _threads_for(y.size))  # fmt: skip
    return grad


class RowLossesAndCount(NamedTuple):
    per_row: np.ndarray  # float64 (rows,), the loss of each row before the reduction
    counted: int  # rows whose target is not ignore_index: what "mean" divides by


def fast_cross_entropy(
    z: np.ndarray, target: np.ndarray, ignore_index: int, smoothing: float, mean: bool,
    grad_out: np.ndarray | None,
) -> RowLossesAndCount | None:  # fmt: skip
    """Cross-entropy of (rows, C) float32/64 C-contiguous logits against int64 class
    indices (rows,), without class weights, the gradient (of the mean when ``mean``,
    else of the sum) written into ``grad_out`` when given (C-contiguous, the logits'
    shape and dtype); None where the kernel does not take the call (another layout or
    dtype, a class index out of range), which then takes the full path, which says
    what is wrong."""
    dtype = z.dtype
    if not _enabled or (dtype is not _FLOAT64 and dtype is not _FLOAT32) or z.ndim != 2:
        return None
    if target.dtype != np.int64 or target.shape != z.shape[:1] or z.shape[1] == 0:
        return None
    module = _module if _module is not None else _kernel()
    if module is None:
        return None
    counted = int(np.count_nonzero(target != ignore_index))
    scale = 1.0 / counted if mean and counted else 1.0
    loss = np.empty(z.shape[0], np.float64)
    try:
        # The binding checks the layouts and every class index before it writes anything.
        module.cross_entropy(z, target, None, None,
                             _reference.smoothing_weight(np, smoothing, z.shape[1], None),
                             ignore_index, smoothing, scale, loss, grad_out,
                             _threads_for(z.size))  # fmt: skip
    except (BufferError, ValueError, TypeError):
        return None
    return RowLossesAndCount(loss, counted)


# ---- layouts -------------------------------------------------------------


class _Plan(NamedTuple):
    """How an array maps onto the kernel's (outer, n, inner) view."""

    order: tuple[int, ...]  # axes of x in kernel order: outer..., reduced, inner...
    outer_shape: tuple[int, ...]
    n: int
    inner_shape: tuple[int, ...]


def _collapse(shape: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, int] | None:
    """(size, stride) of axes that one stride walks in C order, or None."""
    size, stride = 1, 0
    for length, step in reversed(list(zip(shape, strides))):
        if length == 1:
            continue
        if size == 1:
            size, stride = length, step
        elif step == stride * size:
            size *= length
        else:
            return None
    return size, stride


def _plan(x: np.ndarray, axis: int) -> tuple[_Plan, np.ndarray] | None:
    """A (outer, n, inner) view of ``x`` reducing ``axis``, or None if it needs a copy.

    The other axes are ordered by decreasing stride; those with strides
    smaller than the reduced axis's form the contiguous inner block (column
    mode), or, when there are none, the reduced axis itself must be
    contiguous (row mode).
    """
    item = x.itemsize
    # The strides of axes of length 1 are never used, and may be anything.
    if not x.flags.aligned or any(s < 0 for s, n in zip(x.strides, x.shape) if n > 1):
        return None
    others = sorted(
        (a for a in range(x.ndim) if a != axis and x.shape[a] != 1),
        key=lambda a: -x.strides[a],
    )
    ones = [a for a in range(x.ndim) if a != axis and x.shape[a] == 1]
    reduced_stride = x.strides[axis] if x.shape[axis] > 1 else item  # (any stride would do)
    outer = [a for a in others if x.strides[a] > reduced_stride]
    inner = [a for a in others if x.strides[a] <= reduced_stride]
    collapsed_inner = _collapse(tuple(x.shape[a] for a in inner), tuple(x.strides[a] for a in inner))
    collapsed_outer = _collapse(tuple(x.shape[a] for a in outer), tuple(x.strides[a] for a in outer))
    if collapsed_inner is None or collapsed_outer is None:
        return None
    inner_size, inner_stride = collapsed_inner
    outer_size, outer_stride = collapsed_outer
    n = x.shape[axis]
    if inner_size > 1 and inner_stride != item:
        return None
    if inner_size == 1 and n > 1 and x.strides[axis] != item:
        return None
    order = tuple(ones + outer + [axis] + inner)
    plan = _Plan(
        order,
        tuple(x.shape[a] for a in ones + outer),
        n,
        tuple(x.shape[a] for a in inner),
    )
    view = np.lib.stride_tricks.as_strided(
        x, (outer_size, n, inner_size), (outer_stride, reduced_stride, item), writeable=False
    )
    return plan, view


def _planned(x: np.ndarray, axis: int) -> tuple[_Plan, np.ndarray]:
    found = _plan(x, axis)
    if found is None:
        # No view fits: a fresh C-ordered copy (aligned, every stride
        # positive) always does.
        found = _plan(x.copy(order="C"), axis)
    if found is None:
        raise RuntimeError(f"no kernel layout for shape {x.shape}, strides {x.strides}")
    return found


def _from_kernel_order(values: np.ndarray, plan: _Plan, with_reduced: bool) -> np.ndarray:
    """Reshape a C-contiguous kernel result back to the logical axis order."""
    order = plan.order if with_reduced else tuple(a for a in plan.order if a != _reduced(plan))
    shape = plan.outer_shape + ((plan.n,) if with_reduced else ()) + plan.inner_shape
    values = values.reshape(shape)
    # Axis i of the result is the kernel axis that holds x's axis i.
    return values.transpose(np.argsort(order))


def _reduced(plan: _Plan) -> int:
    return plan.order[len(plan.outer_shape)]


def _native(x: np.ndarray) -> np.ndarray:
    return x if x.dtype.isnative else x.astype(x.dtype.newbyteorder("="))


def _work_input(x: np.ndarray, temperature: Any, axis: int, mask: np.ndarray | None) -> np.ndarray:
    """The array the kernel reads: float16 as float32, x / temperature when given.

    The division happens in the array-API path's compute dtype (float32 for
    float16 input, float64 otherwise) so that both paths see the same z:
    ``_stable.divide_by_temperature``'s, which is ``x / t`` bit for bit but
    where the temperature is below the smallest normal number (its ``T -> 0``
    limit) or a slice holds a finite entry above half the dtype's maximum times
    ``min(T, 2)`` (shifted before the division). Where neither can happen
    (no entry above a quarter of it) the plain quotient is that result.
    """
    x = _native(x)
    half = x.dtype == np.float16
    if half:
        x = x.astype(np.float32)
    if _is_one(temperature):
        return x
    x = x if half else np.asarray(x, dtype=np.float64)
    t = temperature if isinstance(temperature, float) else np.asarray(temperature, x.dtype)
    with np.errstate(over="ignore"):
        z = x / t
    if np.size(t) == 0:  # (no entry to divide)
        return z
    coldest = np.min(t)
    if coldest >= 2.0:  # no slice is shifted: skip the check's passes
        return z
    if not _stable.is_cold(np, coldest, x.dtype):
        largest = np.max(np.abs(x), where=np.isfinite(x), initial=0.0)
        if largest <= 0.25 * float(np.finfo(x.dtype).max) * coldest:
            return z
    divided: np.ndarray = _stable.divide_by_temperature(np, x, t, (axis,), where=mask)
    return divided


def _is_one(temperature: Any) -> bool:
    return isinstance(temperature, float) and temperature == 1.0


def _mask_view(mask: np.ndarray, plan: _Plan, shape3: tuple[int, int, int]) -> np.ndarray:
    """The mask in the kernel's layout, as a C-contiguous copy of bytes."""
    return np.ascontiguousarray(mask.transpose(plan.order)).reshape(shape3)


# ---- entry points --------------------------------------------------------


def softmax(
    x: Any,
    axis: int,
    *,
    log: bool,
    temperature: Any,
    mask: Any,
    out: np.ndarray | None,
) -> np.ndarray | None:
    """softmax or log_softmax of validated NumPy input; None when the kernel does not take it.

    ``axis``: the reduced axis, non-negative; ``temperature``: a float or an
    array that broadcasts against ``x``; ``mask``: None or a bool array of
    ``x``'s shape; ``out``: None or an array validated to match the result.
    """
    if not _takes(x, mask, out) or not _taken_dtype(x.dtype):
        return None
    if not isinstance(temperature, float) and type(temperature) is not np.ndarray:
        return None
    result_dtype = x.dtype.newbyteorder("=")
    work = _work_input(x, temperature, axis, mask)
    if work.size == 0:
        result = np.empty(x.shape, result_dtype)
        return _store(result, out)
    plan, x3 = _planned(work, axis)
    shape3 = x3.shape
    direct = out is not None and work.dtype == out.dtype and work is x and x.shape == out.shape
    out3 = _writable_view(out, axis, plan) if direct and out is not None else None
    if out3 is not None and np.shares_memory(out3, x3) and not _same_view(out3, x3):
        out3 = None
    target = out3 if out3 is not None else np.empty(shape3, work.dtype)
    mask3 = None if mask is None else _mask_view(mask, plan, shape3)
    _kernel().reduce(LOG_SOFTMAX if log else SOFTMAX, x3, target, mask3, _threads_for(work.size))
    if out3 is not None:
        return out
    result = _from_kernel_order(target, plan, with_reduced=True).reshape(x.shape)
    result = _backend.cast(np, result, result_dtype)
    return _store(result, out)


def _writable_view(out: np.ndarray, axis: int, plan: _Plan) -> np.ndarray | None:
    """``out`` seen in the kernel layout of ``plan``, if it fits without a copy."""
    if not out.flags.writeable or not out.dtype.isnative:  # (_plan checks alignment)
        return None
    found = _plan(out, axis)
    if found is None or found[0] != plan:
        return None
    view = found[1]
    return np.lib.stride_tricks.as_strided(out, view.shape, view.strides)


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        and a.strides == b.strides
    )


def _store(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return result
    np.copyto(out, result, casting="same_kind")
    return out


def logsumexp(x: Any, axis: int, *, keepdims: bool, mask: Any) -> np.ndarray | None:
    """logsumexp of validated NumPy input (no weights) over ``axis`` (non-negative);
    None when the kernel does not take it."""
    if not _takes(x, mask) or not _taken_dtype(x.dtype):
        return None
    result_dtype = x.dtype.newbyteorder("=")
    work = _work_input(x, 1.0, axis, mask)
    reduced_shape = tuple(1 if a == axis else n for a, n in enumerate(x.shape))
    if work.size == 0:
        if work.shape[axis] != 0:
            return None  # an empty batch with a non-empty axis: let the spec decide
        result = np.full(reduced_shape, -np.inf, dtype=result_dtype)
    else:
        plan, x3 = _planned(work, axis)
        target = np.empty((x3.shape[0], x3.shape[2]), work.dtype)
        mask3 = None if mask is None else _mask_view(mask, plan, x3.shape)
        _kernel().reduce(LOGSUMEXP, x3, target, mask3, _threads_for(work.size))
        result = _from_kernel_order(target, plan, with_reduced=False)
        result = _backend.cast(np, result.reshape(reduced_shape), result_dtype)
    if not keepdims:
        result = result.reshape(tuple(n for a, n in enumerate(x.shape) if a != axis))
    return result


def softmax_vjp(
    y: Any,
    g: Any,
    axis: int,
    *,
    log: bool,
    temperature: Any,
    mask: Any,
    out_dtype: Any,
) -> np.ndarray | None:
    """softmax_vjp / log_softmax_vjp of validated NumPy input; None when not taken.

    ``y`` and ``g`` have one shape, reduced along ``axis`` (non-negative); the
    temperature must be a float. The kernel divides by it exactly: a
    temperature below the compute dtype's smallest normal number, the
    ``T -> 0`` limit (``_stable.divide_gradient_by_temperature``), is left to
    the array-API path.
    """
    if not _takes(y, g, mask) or not isinstance(temperature, float):
        return None
    out_dtype = np.dtype(out_dtype).newbyteorder("=")
    if out_dtype not in _TAKEN_DTYPES or y.size == 0:
        return None
    if _stable.is_cold(np, temperature, _backend.compute_dtype(np, out_dtype, "cpu")):
        return None
    work_dtype = np.float32 if out_dtype == np.float16 else out_dtype
    rows_y = _rows(y.astype(work_dtype, copy=False), axis)
    rows_g = _rows(g.astype(work_dtype, copy=False), axis)
    rows_m = None if mask is None else _rows(mask, axis)
    grad = np.empty(rows_y.shape, work_dtype)
    _kernel().vjp(log, rows_y, rows_g, grad, rows_m, temperature, _threads_for(y.size))
    moved_shape = tuple(n for a, n in enumerate(y.shape) if a != axis) + (y.shape[axis],)
    restored: np.ndarray = _backend.cast(np, np.moveaxis(grad.reshape(moved_shape), -1, axis), out_dtype)
    return restored


def _rows(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` with ``axis`` last, as C-contiguous aligned rows in native byte order."""
    a = _kernel_ready(np.moveaxis(a, axis, -1))
    return a.reshape(-1, a.shape[-1])


def _is_kernel_ready(a: np.ndarray) -> bool:
    return a.flags.c_contiguous and a.flags.aligned and a.dtype.isnative


def _kernel_ready(a: np.ndarray) -> np.ndarray:
    """``a`` if C-contiguous, aligned and in native byte order, else such a copy."""
    if _is_kernel_ready(a):
        return a
    return np.array(a, dtype=a.dtype.newbyteorder("="), order="C")


class CrossEntropyParts(NamedTuple):
    per_row: np.ndarray  # float64, the loss of each row before the reduction
    grad: np.ndarray | None  # class axis where the logits have it, work dtype


def cross_entropy(
    logits: Any,
    target: Any,
    *,
    class_axis: int,
    class_indices: bool,
    weight: Any,
    ignore_index: int,
    smoothing: float,
    grad_scale: float,
    want_grad: bool,
    grad_out: np.ndarray | None = None,
) -> CrossEntropyParts | None:
    """Per-row losses (and the scaled gradient) of validated NumPy input; None when not taken.

    ``target``: int class indices of the batch shape, or probabilities of the
    logits' shape (class axis ``class_axis`` in both logits and probabilities);
    ``weight``: None or a float (C,) array; ``grad_out``: None or a fresh
    C-contiguous array of the logits' shape and dtype, class axis last, that the
    gradient is written into (where the logits need no conversion).
    """
    if not _takes(logits, target, weight) or not _taken_dtype(logits.dtype):
        return None
    n_classes = logits.shape[class_axis]
    if n_classes == 0 or logits.size == 0:
        return None
    native = logits.dtype.newbyteorder("=")
    work_dtype = np.dtype(np.float32) if native == np.float16 else native
    rows_z = _rows(logits.astype(work_dtype, copy=False), class_axis)
    if class_indices:
        indices = _kernel_ready(target.astype(np.int64, copy=False).reshape(-1))
        probs = None
    else:
        indices = None
        probs = _rows(target.astype(work_dtype, copy=False), class_axis)
    w = None if weight is None else _kernel_ready(np.asarray(weight, dtype=np.float64))
    smoothing_weight = _reference.smoothing_weight(np, smoothing, n_classes, w)
    loss = np.empty(rows_z.shape[0], np.float64)
    grad = None
    if grad_out is not None and want_grad and grad_out.dtype == work_dtype and class_axis == logits.ndim - 1:
        grad = grad_out.reshape(rows_z.shape)
    elif want_grad:
        grad = np.empty(rows_z.shape, work_dtype)
    _kernel().cross_entropy(
        rows_z, indices, probs, w, smoothing_weight, ignore_index, smoothing, grad_scale, loss, grad,
        _threads_for(logits.size),
    )
    if grad is not None:
        moved_shape = tuple(n for a, n in enumerate(logits.shape) if a != class_axis) + (n_classes,)
        grad = np.moveaxis(grad.reshape(moved_shape), -1, class_axis)
    return CrossEntropyParts(loss, grad)


def _threads_for(size: int) -> int:
    # Below this size the kernel runs on one thread anyway: skip the lookup.
    return 1 if size < _SMALL else _threads.get_num_threads()
