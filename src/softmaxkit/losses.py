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

import math
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from . import _backend, _dispatch, _stable
from . import _validate as validate


class CrossEntropyResult(NamedTuple):
    """The loss and its gradient with respect to the logits."""

    loss: Any
    grad: Any


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
    return _cross_entropy(
        logits, target, axis, weight, ignore_index, label_smoothing, reduction, want_grad=False
    ).loss


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
    return _cross_entropy(
        logits, target, axis, weight, ignore_index, label_smoothing, reduction, want_grad=True
    ).grad


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
) -> CrossEntropyResult:
    r""":func:`cross_entropy` and :func:`cross_entropy_grad` from one softmax.

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
    return _cross_entropy(
        logits, target, axis, weight, ignore_index, label_smoothing, reduction, want_grad=True
    )


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

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> float(sk.nll_loss(np.log([[0.25, 0.75]]), [1]))
    0.2876820724517809
    """
    p = _prepare_targets(log_probs, target, axis, weight, ignore_index, 0.0, reduction)
    if not p.class_indices:
        raise TypeError(f"target must hold integer class indices, got dtype {p.target.dtype}")
    xp = p.xp
    picked = _ClassIndexTarget.make(p)
    per_row = xp.where(picked.valid, -picked.pick(xp, p.z) * picked.row_weight, 0.0)
    return _reduce(p, per_row, picked.denominator)


class _Targets(NamedTuple):
    xp: Any
    z: Any  # logits (or log-probabilities), class axis last, compute dtype
    target: Any  # class indices, or probabilities with the class axis last
    class_indices: bool
    weight: Any | None  # (C,) in the compute dtype
    ignore_index: int
    smoothing: float
    reduction: str
    class_axis: int
    out_dtype: Any
    compensate: bool


class _CheckedTargets(NamedTuple):
    """Validated arguments, the arrays still in their own dtype and layout."""

    xp: Any
    logits: Any
    target: Any
    class_indices: bool
    weight: Any | None  # (C,) in the compute dtype
    ignore_index: int
    smoothing: float
    reduction: str
    class_axis: int
    out_dtype: Any
    work_dtype: Any


def _prepare_targets(
    logits: Any,
    target: Any,
    axis: Any,
    weight: Any,
    ignore_index: Any,
    label_smoothing: Any,
    reduction: Any,
) -> _Targets:
    c = _check_targets(logits, target, axis, weight, ignore_index, label_smoothing, reduction)
    return _in_work_layout(c)


def _in_work_layout(c: _CheckedTargets) -> _Targets:
    """Logits (and probabilities) in the compute dtype with the class axis last."""
    xp = c.xp
    z = xp.moveaxis(xp.astype(c.logits, c.work_dtype), c.class_axis, -1)
    target = c.target
    if not c.class_indices:
        target = xp.moveaxis(xp.astype(target, c.work_dtype), c.class_axis, -1)
    return _Targets(
        xp, z, target, c.class_indices, c.weight, c.ignore_index, c.smoothing, c.reduction,
        c.class_axis, c.out_dtype, c.work_dtype == c.out_dtype,
    )  # fmt: skip


def _check_targets(
    logits: Any,
    target: Any,
    axis: Any,
    weight: Any,
    ignore_index: Any,
    label_smoothing: Any,
    reduction: Any,
) -> _CheckedTargets:
    xp = validate.namespace(logits, target, weight)
    logits = validate.as_array(xp, logits, name="logits")
    out_dtype = validate.float_dtype_of(xp, logits, name="logits")
    if logits.ndim == 0:
        raise ValueError("logits must have a class axis, got a 0-d array")
    class_axis = validate.single_axis(axis, logits.ndim)
    n_classes = logits.shape[class_axis]
    reduction = validate.reduction(reduction)
    smoothing = validate.label_smoothing(label_smoothing)
    ignore_index = validate.ignore_index(ignore_index)

    work_dtype = _backend.compute_dtype(xp, out_dtype, array_api_compat.device(logits))
    target = validate.as_array(xp, target, like=logits, name="target")
    batch_shape = tuple(n for a, n in enumerate(logits.shape) if a != class_axis)
    if xp.isdtype(target.dtype, "integral"):
        class_indices = True
        if tuple(target.shape) != batch_shape:
            raise ValueError(
                f"target of class indices must have shape {batch_shape} (the logits' shape "
                f"{tuple(logits.shape)} without axis {class_axis}), got {tuple(target.shape)}"
            )
        _check_class_range(xp, target, n_classes, ignore_index)
    elif xp.isdtype(target.dtype, "real floating"):
        class_indices = False
        if tuple(target.shape) != tuple(logits.shape):
            raise ValueError(
                f"target of probabilities must have the logits' shape {tuple(logits.shape)}, "
                f"got {tuple(target.shape)} (class indices must be an integer array)"
            )
    else:
        raise TypeError(
            f"target must be integer class indices or floating probabilities, "
            f"got dtype {target.dtype}"
        )

    if weight is not None:
        weight = validate.as_array(xp, weight, like=logits, name="weight")
        validate.float_dtype_of(xp, weight, name="weight")
        if tuple(weight.shape) != (n_classes,):
            raise ValueError(
                f"weight must have one entry per class ({n_classes},), got shape "
                f"{tuple(weight.shape)}"
            )
        weight = xp.astype(weight, work_dtype)
    return _CheckedTargets(
        xp, logits, target, class_indices, weight, ignore_index, smoothing, reduction,
        class_axis, out_dtype, work_dtype,
    )  # fmt: skip


def _check_class_range(xp: Any, target: Any, n_classes: int, ignore_index: int) -> None:
    bad = (target != ignore_index) & ((target < 0) | (target >= n_classes))
    if validate.concrete_bool(xp.any(bad)):
        flat = validate.host_values(target)
        first = int(flat[(flat != ignore_index) & ((flat < 0) | (flat >= n_classes))][0])
        raise ValueError(
            f"target contains class index {first}, outside [0, {n_classes}) and not "
            f"ignore_index ({ignore_index})"
        )


class _ClassIndexTarget(NamedTuple):
    """One-hot view of class-index targets and their per-row weights."""

    one_hot: Any  # bool, (..., C)
    valid: Any  # bool, (...): not ignore_index
    row_weight: Any  # w[y_i], 0 for ignored rows
    denominator: Any  # what "mean" divides by: sum of row weights

    @classmethod
    def make(cls, p: _Targets) -> _ClassIndexTarget:
        xp = p.xp
        n_classes = p.z.shape[-1]
        valid = p.target != p.ignore_index
        classes = xp.arange(n_classes, dtype=p.target.dtype, device=array_api_compat.device(p.z))
        one_hot = (p.target[..., None] == classes) & valid[..., None]
        if p.weight is None:
            row_weight = xp.astype(valid, p.z.dtype)
        else:
            row_weight = xp.sum(xp.where(one_hot, p.weight, 0.0), axis=-1)
        return cls(one_hot, valid, row_weight, xp.sum(row_weight))

    def pick(self, xp: Any, values: Any) -> Any:
        """``values[..., y]`` per row (0 for ignored rows)."""
        return xp.sum(xp.where(self.one_hot, values, 0.0), axis=-1)


def _cross_entropy(
    logits: Any,
    target: Any,
    axis: Any,
    weight: Any,
    ignore_index: Any,
    label_smoothing: Any,
    reduction: Any,
    *,
    want_grad: bool,
) -> CrossEntropyResult:
    c = _check_targets(logits, target, axis, weight, ignore_index, label_smoothing, reduction)
    result = _cross_entropy_by_kernel(c, want_grad)
    if result is not None:
        return result
    p = _in_work_layout(c)
    xp = p.xp
    n_classes = p.z.shape[-1]
    eps = p.smoothing
    if n_classes == 0:
        logp = probs = p.z
    else:
        s = _stable.shift_by_max(xp, p.z, (p.z.ndim - 1,), compensate=p.compensate)
        logp = _stable.log_softmax_from(xp, s)
        probs = _stable.softmax_from(xp, s) if want_grad else None
    if p.class_indices:
        ct = _ClassIndexTarget.make(p)
        per_row = xp.where(ct.valid, -ct.pick(xp, logp) * ct.row_weight, 0.0)
        if eps > 0:
            weighted_logp = logp if p.weight is None else _times_weight(xp, logp, p.weight)
            smooth = xp.where(ct.valid, -xp.sum(weighted_logp, axis=-1), 0.0)
            per_row = (1.0 - eps) * per_row + (eps / n_classes) * smooth
        denominator = ct.denominator
    else:
        q = p.target
        if eps > 0:
            q = q * (1.0 - eps) + eps / n_classes
        coef = q if p.weight is None else q * p.weight
        # 0 * log 0 = 0: a class excluded by a -inf logit costs nothing
        # when the target gives it no mass.
        per_row = -xp.sum(coef * xp.where(coef == 0, 0.0, logp), axis=-1)
        denominator = xp.asarray(
            float(math.prod(p.z.shape[:-1])),
            dtype=p.z.dtype,
            device=array_api_compat.device(p.z),
        )
    loss = _reduce(p, per_row, denominator)
    if not want_grad:
        return CrossEntropyResult(loss, None)

    if p.class_indices:
        w = 1.0 if p.weight is None else p.weight
        total_weight = n_classes if p.weight is None else xp.sum(p.weight)
        row_scale = (1.0 - eps) * ct.row_weight + (eps / n_classes) * total_weight
        subtract = (1.0 - eps) * xp.where(ct.one_hot, ct.row_weight[..., None], 0.0)
        if eps > 0:
            subtract = subtract + (eps / n_classes) * (w * xp.ones_like(probs))
        grad = probs * row_scale[..., None] - subtract
        grad = xp.where(ct.valid[..., None], grad, 0.0)
    else:
        grad = probs * xp.sum(coef, axis=-1, keepdims=True) - coef
    if p.reduction == "mean":
        # An all-ignored batch has gradient 0 in every row; keep it 0, not 0/0.
        grad = grad / _nonzero(xp, denominator)
    grad = xp.moveaxis(grad, -1, p.class_axis)
    return CrossEntropyResult(loss, xp.astype(grad, p.out_dtype, copy=False))


def _cross_entropy_by_kernel(p: _CheckedTargets, want_grad: bool) -> CrossEntropyResult | None:
    """The fused kernel's loss and gradient, reduced as ``_reduce`` does; None if not taken."""
    if not _dispatch.available() or type(p.logits) is not np.ndarray:
        return None
    batch_shape = tuple(n for a, n in enumerate(p.logits.shape) if a != p.class_axis)
    if p.class_indices:
        valid = p.target != p.ignore_index
        if p.weight is None:
            denominator = float(np.count_nonzero(valid))
        else:
            picked = np.asarray(p.weight)[np.where(valid, p.target, 0)]
            denominator = float(np.sum(np.where(valid, picked, 0.0)))
    else:
        denominator = float(math.prod(batch_shape))
    grad_scale = 1.0 / denominator if p.reduction == "mean" and denominator != 0 else 1.0
    parts = _dispatch.cross_entropy(
        p.logits,
        p.target,
        class_axis=p.class_axis,
        class_indices=p.class_indices,
        weight=p.weight,
        ignore_index=p.ignore_index,
        smoothing=p.smoothing,
        grad_scale=grad_scale,
        want_grad=want_grad,
    )
    if parts is None:
        return None
    per_row = parts.per_row.reshape(batch_shape)
    if p.reduction == "none":
        loss = per_row
    elif p.reduction == "sum":
        loss = np.sum(per_row)
    else:
        # The mean over no counted targets is NaN, as in torch.
        loss = np.float64(np.nan) if denominator == 0 else np.sum(per_row) / denominator
    loss = np.asarray(loss).astype(p.out_dtype, copy=False)
    grad = None if parts.grad is None else parts.grad.astype(p.out_dtype, copy=False)
    return CrossEntropyResult(loss, grad)


def _times_weight(xp: Any, logp: Any, weight: Any) -> Any:
    """``logp * weight`` with a zero-weight class contributing 0 even at logp = -inf."""
    return xp.where(weight == 0, 0.0, logp) * weight


def _reduce(p: _Targets, per_row: Any, denominator: Any) -> Any:
    xp = p.xp
    if p.reduction == "none":
        result = per_row
    elif p.reduction == "sum":
        result = xp.sum(per_row)
    else:
        # The mean over no counted targets is NaN, as in torch.
        result = xp.where(denominator == 0, xp.nan, xp.sum(per_row) / _nonzero(xp, denominator))
    return xp.astype(result, p.out_dtype, copy=False)


def _nonzero(xp: Any, denominator: Any) -> Any:
    """``denominator`` with 0 replaced by 1 (the caller decides what 0 means)."""
    return xp.where(denominator == 0, 1.0, denominator)
