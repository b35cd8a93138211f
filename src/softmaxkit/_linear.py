"""The chunk loop of the linear cross-entropy: the one place that forms its logits.

``softmaxkit.linear_cross_entropy`` and ``linear_cross_entropy_and_grad``
are :func:`chunked`; so is ``softmaxkit.torch.linear_cross_entropy`` (its
custom op calls the public functions). Each chunk's
cross-entropy is the public ``cross_entropy(_and_grad)``, so every backend
that computes those serves this loop as well.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from . import _backend, _backends, _targets, losses
from . import _validate as validate
from ._typing import Reduction
from ._progress import tracked

# Rows per chunk: about this many logits per chunk. 2**18 logits are 1 MiB (float32)
# or 2 MiB (float64) per temporary, small enough to stay in cache and large enough that
# the per-chunk Python overhead does not show.
LOGITS_PER_CHUNK = 2**18


class LinearProblem(NamedTuple):
    """Validated arguments of a linear cross-entropy, rows as (N, D)."""

    xp: Any
    x: Any  # (N, D), out dtype
    w: Any  # (C, D), out dtype
    bias: Any | None  # (C,), out dtype
    target: Any  # (N,) class indices or (N, C) probabilities
    class_indices: bool
    sample_weight: Any | None  # (N,), compute dtype
    single_row: bool  # input was (D,): squeeze the row axis on the way out
    out_dtype: Any
    work_dtype: Any
    chunk_size: int



def _float_vector(xp: Any, value: Any, like: Any, name: str, length: int, meaning: str, dtype: Any) -> Any:
    """``value`` as a floating vector of ``length`` entries in ``dtype``, or an error naming it."""
    value = validate.as_array(xp, value, like=like, name=name)
    validate.float_dtype_of(xp, value, name=name)
    if tuple(value.shape) != (length,):
        raise ValueError(f"{name} must have shape ({length},), {meaning}, got {tuple(value.shape)}")
    return xp.astype(value, dtype, copy=False)  # pragma: no mutate

def prepare(
    input: Any,
    linear_weight: Any,
    target: Any,
    bias: Any,
    sample_weight: Any,
    chunk_size: Any,
) -> LinearProblem:
    xp = validate.namespace(input, linear_weight, target, bias, sample_weight)
    x = validate.as_array(xp, input, name="input")
    w = validate.as_array(xp, linear_weight, like=x, name="linear_weight")
    out_dtype = xp.result_type(
        validate.float_dtype_of(xp, x, name="input"),
        validate.float_dtype_of(xp, w, name="linear_weight"),
    )
    if x.ndim not in (1, 2):
        raise ValueError(f"input must have shape (N, D) or (D,), got {tuple(x.shape)}")
    single_row = x.ndim == 1
    if single_row:
        x = x[None, :]
    n_rows, n_features = x.shape
    if w.ndim != 2 or w.shape[1] != n_features:
        raise ValueError(
            f"linear_weight must have shape (C, {n_features}) for input with {n_features} "
            f"features, got {tuple(w.shape)}"
        )
    n_classes = w.shape[0]
    if bias is not None:
        bias = _float_vector(xp, bias, x, "bias", n_classes, "one entry per class", out_dtype)
    target = validate.as_array(xp, target, like=x, name="target")
    class_indices = xp.isdtype(target.dtype, "integral")
    expected = () if class_indices else (n_classes,)
    if single_row:
        if tuple(target.shape) != expected:
            raise ValueError(
                f"target for a single input row must have shape {expected}, "
                f"got {tuple(target.shape)}"
            )
        target = target[None, ...]
    elif tuple(target.shape) != (n_rows, *expected):
        raise ValueError(
            f"target must have shape {(n_rows, *expected)} for input of shape "
            f"{tuple(x.shape)} and {n_classes} classes, got {tuple(target.shape)}"
        )
    work_dtype = _backend.compute_dtype(xp, out_dtype, array_api_compat.device(x))
    if sample_weight is not None:
        sample_weight = _float_vector(
            xp, sample_weight, x, "sample_weight", n_rows, "one weight per row", work_dtype
        )
    if chunk_size is None:
        chunk_size = max(1, LOGITS_PER_CHUNK // max(n_classes, 1))
    else:
        chunk_size = validate.integer(chunk_size, name="chunk_size", minimum=1)
    # copy=False: a copy of X would be O(rows x features) extra memory.
    return LinearProblem(
        xp, xp.astype(x, out_dtype, copy=False), xp.astype(w, out_dtype, copy=False), bias,
        target, class_indices, sample_weight, single_row, out_dtype, work_dtype, chunk_size,
    )  # fmt: skip


def chunked(
    input: Any,
    linear_weight: Any,
    target: Any,
    bias: Any,
    weight: Any,
    ignore_index: Any,
    label_smoothing: Any,
    reduction: Any,
    sample_weight: Any,
    chunk_size: Any,
    *,
    want_grad: bool,
) -> losses.LinearCrossEntropyResult[Any]:
    """The one chunk loop of :func:`softmaxkit.linear_cross_entropy` and
    :func:`softmaxkit.linear_cross_entropy_and_grad` (a ``LinearCrossEntropyResult``)."""
    lp = prepare(input, linear_weight, target, bias, sample_weight, chunk_size)
    # Checked here as well as in cross_entropy, which an empty input never calls.
    ignore_index, label_smoothing, reduction = _targets.check_options(
        ignore_index, label_smoothing, reduction
    )
    xp = lp.xp
    device = array_api_compat.device(lp.x)
    n_rows, n_features = lp.x.shape
    n_classes = lp.w.shape[0]
    weight = _targets.class_weight(xp, weight, lp.x, n_classes, lp.work_dtype)
    if lp.class_indices and lp.sample_weight is None:
        fused = _fused(lp, weight, ignore_index, label_smoothing, reduction, want_grad)
        if fused is not None:
            return fused
    options = {"weight": weight, "ignore_index": ignore_index, "label_smoothing": label_smoothing}
    # float16 products reach 65504 easily: its products are made in float32.
    # Wider dtypes multiply as given (BLAS speed; float32 logits beyond 3e38 are inf).
    half = xp.finfo(lp.out_dtype).bits < 32
    product_dtype = lp.work_dtype if half else lp.out_dtype
    w = xp.astype(lp.w, product_dtype, copy=False)
    w_t = xp.permute_dims(w, (1, 0))

    def rows_of_input(start: int, stop: int) -> Any:
        return xp.astype(lp.x[start:stop, :], product_dtype, copy=False)

    def chunk_loss_and_grad(start: int, stop: int) -> Any:
        logits = rows_of_input(start, stop) @ w_t
        if lp.bias is not None:
            logits = logits + lp.bias
        # The logits stay in the product dtype: cross_entropy computes in its
        # compute dtype itself (NumPy float32 in the kernel's float32 lanes
        # with float64 sums); a float64 copy of each chunk cost ~1.3x.
        # "none" for every reduction: the rows are weighted (sample_weight)
        # and divided by the whole batch's denominator here, not per chunk.
        if want_grad:
            return losses.cross_entropy_and_grad(logits, lp.target[start:stop, ...], **options,
                                                 reduction="none")  # fmt: skip
        return losses.cross_entropy(logits, lp.target[start:stop, ...], **options,
                                    reduction="none"), None  # fmt: skip

    # The "mean" denominator is known from the targets alone, before any
    # logits exist, so each chunk's gradient can be scaled as it is made.
    denominator = _denominator(lp, weight, ignore_index) if reduction == "mean" else None
    scale = None if denominator is None else 1.0 / _targets.nonzero(xp, denominator)
    # The gradient's factor in the gradient's dtype: a float64 factor would
    # promote each float32 chunk of the gradient to float64.
    grad_scale = None if scale is None else xp.astype(scale, product_dtype)

    zero = xp.zeros((), dtype=lp.work_dtype, device=device)
    total, row_losses, grad_input_parts = zero, [], []
    # NumPy writes each chunk's grad_input in place; other libraries (JAX
    # arrays are immutable) concatenate the chunks, which holds it twice.
    grad_input_buffer = None
    if want_grad and array_api_compat.is_numpy_array(lp.x):
        grad_input_buffer = np.empty((n_rows, n_features), dtype=lp.out_dtype)
    grad_weight = grad_bias = None  # the parameters' gradients, when wanted
    if want_grad:
        grad_weight = xp.zeros((n_classes, n_features), dtype=lp.work_dtype, device=device)
        grad_bias = xp.zeros((n_classes,), dtype=lp.work_dtype, device=device)
    chunks = range(0, n_rows, lp.chunk_size)
    for start in tracked(chunks, len(chunks), "linear_cross_entropy", unit="chunk"):
        stop = min(start + lp.chunk_size, n_rows)
        loss, grad = chunk_loss_and_grad(start, stop)
        # Summed in the compute dtype (copy=True would copy a chunk's losses, the same values).
        loss = xp.astype(loss, lp.work_dtype, copy=False)  # pragma: no mutate
        grad_factor = grad_scale  # the gradient rows' factor: sample weight times scale
        if lp.sample_weight is not None:
            s = lp.sample_weight[start:stop]
            # A zero-weight row contributes 0 even where its loss is inf.
            loss = xp.where(s == 0, 0.0, loss) * s
            row_factor = s[:, None] if scale is None else s[:, None] * scale
            grad_factor = xp.astype(row_factor, product_dtype, copy=False)  # pragma: no mutate
        if reduction == "none":
            row_losses.append(loss)
        else:
            total = total + xp.sum(loss)
        if not want_grad:
            continue
        if grad_factor is not None:
            grad = grad * grad_factor  # one pass over the chunk for both factors
        if grad_input_buffer is not None:
            with np.errstate(over="ignore"):  # float16's grad_input rounds to inf beyond 65504
                np.matmul(grad, w, out=grad_input_buffer[start:stop], casting="same_kind")
        else:
            grad_input_parts.append(_backend.cast(xp, grad @ w, lp.out_dtype))
        grad_weight = grad_weight + xp.astype(
            xp.permute_dims(grad, (1, 0)) @ rows_of_input(start, stop), lp.work_dtype
        )
        grad_bias = grad_bias + xp.sum(grad, axis=0, dtype=lp.work_dtype)

    if reduction == "none":
        loss = xp.concat(row_losses) if row_losses else xp.zeros((0,), dtype=lp.work_dtype,
                                                                  device=device)  # fmt: skip
        if lp.single_row:
            loss = loss[0]
    elif reduction == "sum":
        loss = total
    else:
        loss = xp.where(denominator == 0, xp.nan, total * scale)
    loss = _backend.cast(xp, loss, lp.out_dtype)
    if not want_grad:
        return losses.LinearCrossEntropyResult(loss, None, None, None)
    if grad_input_buffer is not None:
        grad_input = grad_input_buffer
    elif grad_input_parts:
        grad_input = xp.concat(grad_input_parts)
    else:
        grad_input = xp.zeros((0, n_features), dtype=lp.out_dtype, device=device)
    if grad_input is not None and lp.single_row:
        grad_input = grad_input[0, :]
    return losses.LinearCrossEntropyResult(
        loss,
        grad_input,
        _backend.cast(xp, grad_weight, lp.out_dtype),
        None if lp.bias is None else _backend.cast(xp, grad_bias, lp.out_dtype),
    )


def _denominator(lp: LinearProblem, weight: Any, ignore_index: int) -> Any:
    """What "mean" divides by: torch's divisor, weighted by ``sample_weight``."""
    xp = lp.xp
    if lp.class_indices:
        return _targets.index_denominator(
            xp, lp.target, weight, ignore_index, lp.w.shape[0], lp.work_dtype,
            sample_weight=lp.sample_weight,
        )  # fmt: skip
    return _targets.probability_denominator(
        xp, (lp.x.shape[0],), lp.work_dtype, array_api_compat.device(lp.x),
        sample_weight=lp.sample_weight,
    )  # fmt: skip


def _fused(
    lp: LinearProblem, weight: Any, ignore_index: int, label_smoothing: float, reduction: Reduction,
    want_grad: bool,
) -> losses.LinearCrossEntropyResult[Any] | None:  # fmt: skip
    """The whole operation from a backend's override (Triton's fused kernel for
    CUDA tensors, which holds no chunk of logits), or None."""
    override = _backends.whole_operation("linear_cross_entropy", lp.x, lp.w, lp.target)
    if override is None:
        return None
    found = override(
        lp.x, lp.w, lp.target, bias=lp.bias, weight=weight, ignore_index=ignore_index,
        label_smoothing=label_smoothing, reduction=reduction, want_grad=want_grad,
    )  # fmt: skip
    if found is None:
        return None
    loss, grads = found
    xp = lp.xp
    if reduction == "none" and lp.single_row:
        loss = loss[0]
    loss = _backend.cast(xp, loss, lp.out_dtype)
    if grads is None:
        return losses.LinearCrossEntropyResult(loss, None, None, None)
    grad_input = grads.hidden[0, :] if lp.single_row else grads.hidden
    return losses.LinearCrossEntropyResult(
        loss,
        _backend.cast(xp, grad_input, lp.out_dtype),
        _backend.cast(xp, grads.classifier, lp.out_dtype),
        None if grads.bias is None else _backend.cast(xp, grads.bias, lp.out_dtype),
    )
