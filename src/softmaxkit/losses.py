"""Cross-entropy and negative log-likelihood with torch.nn.functional's semantics.

The one deliberate difference from torch is the class axis: ``axis`` (default
the last axis) names it, so torch's ``(N, C, d1, ...)`` layout is ``axis=1``.

Reductions, as torch defines them (and they differ between target kinds,
pytorch/pytorch#107680):

* class-index targets, ``mean``: ``sum_i w[y_i] * loss_i / sum_i w[y_i]``
  over the targets that are not ``ignore_index`` (the count of them without
  ``weight``); NaN when every target is ignored.
* probability targets, ``mean``: ``sum_i loss_i / N`` where N is the number
  of rows (positions), whatever the weights.

Label smoothing ``eps`` mixes the target with the uniform distribution:
``(1 - eps) * target + eps / C``. For class-index targets that is
``(1 - eps) * nll + eps / C * sum_c w[c] * (-log p_c)`` per row, and ignored
rows contribute nothing to either term.

The gradient with respect to the logits is computed in closed form. Per row
with class-index target y, smoothing eps, weights w (all ones if None) and
``W = sum_c w[c]``:

    d loss / d z_j = p_j * ((1 - eps) * w[y] + eps / C * W)
                     - ((1 - eps) * w[y] * [j == y] + eps / C * w[j])

which is ``p - onehot(y)`` in the plain case. For probability targets q
(after smoothing) it is ``p_j * sum_c w[c] q_c - w[j] q_j``. The mean
reduction divides by the same denominator as the loss.
"""

from __future__ import annotations

from typing import Any, Generic, overload

import array_api_compat
import numpy as np

from . import _backend, _backends, _linear, _targets
from ._typing import ArrayLike, ArrayT, NamedTuple, Nested, NumPyArray, Reduction


class CrossEntropyResult(NamedTuple, Generic[ArrayT]):
    """The loss and its gradient with respect to the logits (arrays of the logits' kind)."""

    loss: ArrayT
    grad: ArrayT


class LinearCrossEntropyResult(NamedTuple, Generic[ArrayT]):
    """The loss of :func:`linear_cross_entropy` and its gradients (arrays of the input's kind).

    ``grad_bias`` is None when no bias was given.
    """

    loss: ArrayT
    grad_input: ArrayT
    grad_weight: ArrayT
    grad_bias: ArrayT | None


@overload
def cross_entropy(
    logits: ArrayT,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> ArrayT: ...
@overload
def cross_entropy(
    logits: Nested,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> NumPyArray: ...


def cross_entropy(
    logits: Any,
    target: Any,
    /,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Any:
    r"""Cross-entropy between softmax(logits) and a target, from logits.

    Exactly ``torch.nn.functional.cross_entropy`` except that the class axis
    is ``axis`` (default last; ``axis=1`` for torch's ``(N, C, d1, ...)``).

    Parameters
    ----------
    logits : array_like
        Unnormalised scores, the classes along ``axis``.
    target : array_like
        Either class indices (an integer array with the shape of ``logits``
        without the class axis) or class probabilities (a floating array with
        the shape of ``logits``).
    axis : int, optional
        The class axis of ``logits``.
    weight : array_like, optional
        A weight per class (length C).
    ignore_index : int, optional
        A class-index target equal to it contributes no loss and no gradient
        and is left out of the mean. Not used with probability targets.
    label_smoothing : float, optional
        In [0, 1]: the target becomes ``(1 - eps) * target + eps / C``.
    reduction : {"mean", "sum", "none"}, optional
        See the module notes for the exact mean (it follows torch, which
        weights it differently for class indices and probabilities).

    Returns
    -------
    array
        0-d for "mean" and "sum"; for "none", the shape of ``logits`` without
        the class axis. Floating dtype of ``logits``.

    Raises
    ------
    ValueError
        class indices out of range (other than ``ignore_index``), a target of
        the wrong shape, a weight of the wrong length, ``label_smoothing``
        outside [0, 1], an unknown ``reduction``, ``axis`` out of range.
    TypeError
        a boolean or complex target, a non-integer ``ignore_index``.

    Notes
    -----
    A "mean" over no counted targets (all ignored, or an empty batch) is NaN,
    as in torch. Logits of ``-inf`` exclude a class: it gets probability 0 and
    a zero-probability target there contributes 0, not NaN.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> float(sk.cross_entropy([[2.0, 0.0], [0.0, 2.0]], [0, 1]))
    0.1269280110429725
    >>> logits = [[2.3, 2.1, 4.5], [4.2, 3.2, 5.1]]
    >>> float(sk.cross_entropy(logits, [1, 2], weight=[25.0, 25.0, 100.0]))
    0.87048350145262
    """
    short = _short_path(logits, target, axis, weight, ignore_index, label_smoothing, reduction,
                        want_grad=False)
    if short is not None:
        return short.loss
    checked = _targets.check(logits, target, axis, weight, ignore_index, label_smoothing, reduction)
    return _cross_entropy(checked, want_grad=False).loss


@overload
def cross_entropy_grad(
    logits: ArrayT,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> ArrayT: ...
@overload
def cross_entropy_grad(
    logits: Nested,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> NumPyArray: ...


def cross_entropy_grad(
    logits: Any,
    target: Any,
    /,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Any:
    r"""Gradient of :func:`cross_entropy` with respect to the logits.

    Computed in closed form (``softmax(logits) - target`` with the smoothing,
    weights and reduction of the loss applied), not by differencing. With
    ``reduction="none"`` each row holds the gradient of its own loss (which
    is the gradient of their sum).

    Parameters
    ----------
    logits, target, axis, weight, ignore_index, label_smoothing, reduction
        As in :func:`cross_entropy`.

    Returns
    -------
    array
        The shape and floating dtype of ``logits``.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.cross_entropy_grad([[0.0, 0.0]], [1], reduction="sum")
    array([[ 0.5, -0.5]])
    """
    short = _short_path(logits, target, axis, weight, ignore_index, label_smoothing, reduction,
                        want_grad=True)
    if short is not None:
        return short.grad
    checked = _targets.check(logits, target, axis, weight, ignore_index, label_smoothing, reduction)
    return _cross_entropy(checked, want_grad=True).grad


@overload
def cross_entropy_and_grad(
    logits: ArrayT,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> CrossEntropyResult[ArrayT]: ...
@overload
def cross_entropy_and_grad(
    logits: Nested,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> CrossEntropyResult[NumPyArray]: ...


def cross_entropy_and_grad(
    logits: Any,
    target: Any,
    /,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> CrossEntropyResult[Any]:
    r""":func:`cross_entropy` and :func:`cross_entropy_grad` from one softmax.

    Parameters
    ----------
    logits, target, axis, weight, ignore_index, label_smoothing, reduction
        As in :func:`cross_entropy`.

    Returns
    -------
    CrossEntropyResult
        The named tuple ``(loss, grad)``.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> loss, grad = sk.cross_entropy_and_grad([[0.0, 0.0]], [1])
    >>> round(float(loss), 6), grad.tolist()
    (0.693147, [[0.5, -0.5]])
    """
    short = _short_path(logits, target, axis, weight, ignore_index, label_smoothing, reduction,
                        want_grad=True)
    if short is not None:
        return short
    checked = _targets.check(logits, target, axis, weight, ignore_index, label_smoothing, reduction)
    return _cross_entropy(checked, want_grad=True)


@overload
def nll_loss(
    log_probs: ArrayT,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> ArrayT: ...
@overload
def nll_loss(
    log_probs: Nested,
    target: ArrayLike,
    /,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> NumPyArray: ...


def nll_loss(
    log_probs: Any,
    target: Any,
    /,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Any:
    r"""Negative log-likelihood of class-index targets, given log-probabilities.

    Exactly ``torch.nn.functional.nll_loss`` except for the class axis
    ``axis`` (default last): ``loss_i = -w[y_i] * log_probs[i, y_i]``; the mean
    divides by ``sum_i w[y_i]`` over targets that are not ``ignore_index``.

    Parameters
    ----------
    log_probs : array_like
        Log-probabilities (e.g. from :func:`log_softmax`), classes along ``axis``.
    target : array_like of int
        Class indices, the shape of ``log_probs`` without the class axis.
    axis, weight, ignore_index, reduction
        As in :func:`cross_entropy`.

    Returns
    -------
    array
        The loss: a 0-d array for ``reduction="mean"`` or ``"sum"``, one value
        per target for ``"none"``, in ``log_probs``'s floating dtype.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> float(sk.nll_loss(np.log([[0.25, 0.75]]), [1]))
    0.2876820724517809
    """
    # No smoothing: nll_loss never reads it, so any value in [0, 1] gives the same loss.
    c = _targets.check(
        log_probs, target, axis, weight, ignore_index, 0.0, reduction, name="log_probs"  # pragma: no mutate
    )
    if not c.class_indices:
        raise TypeError(f"target must hold integer class indices, got dtype {c.target.dtype}")
    p = _targets.in_work_layout(c)
    xp = p.xp
    picked = _targets.ClassIndexTarget.make(p)
    per_row = xp.where(picked.valid, -picked.pick(xp, p.z) * picked.row_weight, 0.0)
    loss = _targets.reduce(xp, per_row, picked.denominator, p.reduction)
    return _backend.cast(xp, loss, p.out_dtype)


def _short_path(
    logits: Any, target: Any, axis: Any, weight: Any, ignore_index: Any, label_smoothing: Any,
    reduction: Any, *, want_grad: bool,
) -> CrossEntropyResult[Any] | None:  # fmt: skip
    """The commonest call, (N, C) float32/64 NumPy logits against class indices without
    class weights, straight to the kernel (``_backends.fast_array_cross_entropy``)
    once the scalar options are validated; None where it does not take the call.
    (The full path's checks before the options hold for such logits.)"""
    if weight is not None or not _backends.array_cross_entropy_takes(logits, target, axis):
        return None
    options = _targets.check_options(ignore_index, label_smoothing, reduction)
    found = _backends.fast_array_cross_entropy(logits, target, *options, want_grad=want_grad)
    if found is None:
        return None
    parts, grad = found
    # The full path's reduction (_cross_entropy), on the same float64 row losses and
    # the same divisor (the rows not ignored): the same numbers.
    loss = _targets.reduce(np, parts.per_row, np.float64(parts.counted), options.reduction)
    return CrossEntropyResult(_backend.cast(np, loss, logits.dtype), grad)


def _cross_entropy(c: _targets.Checked, *, want_grad: bool) -> CrossEntropyResult[Any]:
    """Cross-entropy (and its gradient) of the checked arguments of the public functions."""
    xp = c.xp
    z = xp.moveaxis(c.logits, c.class_axis, -1)
    rows_target = c.target if c.class_indices else xp.moveaxis(c.target, c.class_axis, -1)
    device = array_api_compat.device(z)
    if c.class_indices:
        denominator = _targets.index_denominator(
            xp, c.target, c.weight, c.ignore_index, z.shape[-1], c.work_dtype
        )
    else:
        denominator = _targets.probability_denominator(
            xp, tuple(z.shape[:-1]), c.work_dtype, device
        )
    # The "mean" divisor is known from the targets alone: the backend scales
    # the gradient as it makes it.
    divisor = _targets.nonzero(xp, denominator) if c.reduction == "mean" else 1.0
    parts = _backends.compute(
        lambda backend: backend.cross_entropy_rows(
            z, rows_target, class_indices=c.class_indices, weight=c.weight,
            ignore_index=c.ignore_index, smoothing=c.smoothing, grad_divisor=divisor,
            want_grad=want_grad,
        ),
        z, rows_target, c.weight,
    )  # fmt: skip
    loss = _backend.cast(xp, _targets.reduce(xp, parts.per_row, denominator, c.reduction), c.out_dtype)
    if not want_grad:
        return CrossEntropyResult(loss, None)
    grad = _backend.cast(xp, xp.moveaxis(parts.grad, -1, c.class_axis), c.out_dtype)
    return CrossEntropyResult(loss, grad)


@overload
def linear_cross_entropy(
    input: ArrayT,
    linear_weight: ArrayLike,
    target: ArrayLike,
    /,
    *,
    bias: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    sample_weight: ArrayLike | None = None,
    chunk_size: int | None = None,
) -> ArrayT: ...
@overload
def linear_cross_entropy(
    input: Nested,
    linear_weight: ArrayLike,
    target: ArrayLike,
    /,
    *,
    bias: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    sample_weight: ArrayLike | None = None,
    chunk_size: int | None = None,
) -> NumPyArray: ...


def linear_cross_entropy(
    input: Any,
    linear_weight: Any,
    target: Any,
    /,
    *,
    bias: Any = None,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    sample_weight: Any = None,
    chunk_size: int | None = None,
) -> Any:
    r"""Cross-entropy of a linear layer, without ever holding all its logits.

    The value of ``cross_entropy(input @ linear_weight.T + bias, target, ...)``
    (``torch.nn.functional.linear_cross_entropy``'s semantics), computed
    ``chunk_size`` rows at a time: the extra memory is O(chunk_size x classes)
    instead of O(rows x classes). For 10^6 rows and 1000 classes the float32
    logits alone would take 4 GB; here they take a few MB.

    Parameters
    ----------
    input : array_like
        Features, shape (N, D) or (D,) for a single row.
    linear_weight : array_like
        The layer's weights, shape (C, D), one row per class (torch's
        ``Linear.weight`` layout).
    target : array_like
        Class indices, shape (N,) (or () for a single row), or class
        probabilities, shape (N, C) (or (C,)).
    bias : array_like, optional
        The layer's bias, shape (C,).
    weight, ignore_index, label_smoothing, reduction
        As in :func:`cross_entropy`.
    sample_weight : array_like, optional
        A weight per row, shape (N,), multiplying that row's loss (not in
        torch; this is what a classifier's ``fit(sample_weight=...)`` needs).
        The "mean" then divides by the correspondingly weighted count:
        ``sum_i s_i w[y_i]`` over rows not ignored (class indices) or
        ``sum_i s_i`` (probabilities).
    chunk_size : int, optional
        Rows per chunk. Default: about 2**18 logits per chunk
        (``max(1, 2**18 // C)`` rows). The result does not depend on it
        beyond rounding.

    Returns
    -------
    array
        As :func:`cross_entropy`: 0-d for "mean" and "sum", shape (N,) for
        "none"; floating dtype of ``input`` and ``linear_weight``.

    Raises
    ------
    ValueError
        Shapes that do not fit together (the message names the argument),
        ``chunk_size`` < 1, and everything :func:`cross_entropy` refuses.
    TypeError
        Non-real arrays, a non-integer ``chunk_size``.

    Notes
    -----
    The logits of a chunk are computed in the dtype of the inputs (a float32
    layer multiplies in float32, like torch's), then the cross-entropy runs
    in the compute dtype of :func:`cross_entropy` (float64 for float32
    inputs) and the loss is accumulated in that dtype.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> W = np.array([[2.0, 0.0], [0.0, 2.0]])
    >>> round(float(sk.linear_cross_entropy(X, W, [0, 1, 0], chunk_size=2)), 12)
    0.315667734215
    >>> round(float(sk.cross_entropy(X @ W.T, [0, 1, 0])), 12)
    0.315667734215
    """
    return _linear.chunked(
        input, linear_weight, target, bias, weight, ignore_index, label_smoothing, reduction,
        sample_weight, chunk_size, want_grad=False,
    ).loss  # fmt: skip


@overload
def linear_cross_entropy_and_grad(
    input: ArrayT,
    linear_weight: ArrayLike,
    target: ArrayLike,
    /,
    *,
    bias: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    sample_weight: ArrayLike | None = None,
    chunk_size: int | None = None,
) -> LinearCrossEntropyResult[ArrayT]: ...
@overload
def linear_cross_entropy_and_grad(
    input: Nested,
    linear_weight: ArrayLike,
    target: ArrayLike,
    /,
    *,
    bias: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    sample_weight: ArrayLike | None = None,
    chunk_size: int | None = None,
) -> LinearCrossEntropyResult[NumPyArray]: ...


def linear_cross_entropy_and_grad(
    input: Any,
    linear_weight: Any,
    target: Any,
    /,
    *,
    bias: Any = None,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    sample_weight: Any = None,
    chunk_size: int | None = None,
) -> LinearCrossEntropyResult[Any]:
    r""":func:`linear_cross_entropy` and its gradients, in one chunked pass.

    With ``G`` the gradient of the loss with respect to the logits
    ``Z = X W^T + b`` (from :func:`cross_entropy_and_grad`, one chunk of rows
    at a time), the gradients are ``dL/dX = G W``, ``dL/dW = G^T X`` and
    ``dL/db = sum_rows G``; ``G`` is never held for more than one chunk.

    Parameters
    ----------
    input, linear_weight, target, bias, weight, ignore_index, label_smoothing, reduction, sample_weight, chunk_size
        As in :func:`linear_cross_entropy`.

    Returns
    -------
    LinearCrossEntropyResult
        The named tuple ``(loss, grad_input, grad_weight, grad_bias)``; the
        gradients have the shapes of ``input``, ``linear_weight`` and
        ``bias`` (``grad_bias`` is None without a bias). With
        ``reduction="none"`` they are the gradients of the sum of the losses.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> X = np.array([[1.0, 2.0]])
    >>> W = np.zeros((2, 2))
    >>> res = sk.linear_cross_entropy_and_grad(X, W, [1], bias=np.zeros(2))
    >>> round(float(res.loss), 6)
    0.693147
    >>> res.grad_weight.tolist(), res.grad_bias.tolist()
    ([[0.5, 1.0], [-0.5, -1.0]], [0.5, -0.5])
    """
    return _linear.chunked(
        input, linear_weight, target, bias, weight, ignore_index, label_smoothing, reduction,
        sample_weight, chunk_size, want_grad=True,
    )  # fmt: skip
