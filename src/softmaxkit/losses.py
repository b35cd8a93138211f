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


class LinearCrossEntropyResult(NamedTuple):
    """The loss of :func:`linear_cross_entropy` and its gradients.

    ``grad_bias`` is None when no bias was given.
    """

    loss: Any
    grad_input: Any
    grad_weight: Any
    grad_bias: Any


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
    p = _prepare_targets(
        log_probs, target, axis, weight, ignore_index, 0.0, reduction, name="log_probs"
    )
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
    *,
    name: str = "logits",
) -> _Targets:
    c = _check_targets(
        logits, target, axis, weight, ignore_index, label_smoothing, reduction, name=name
    )
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
    *,
    name: str = "logits",
) -> _CheckedTargets:
    """Check a loss's arguments; ``name`` is what the scores are called (log_probs, x)."""
    xp = validate.namespace(logits, target, weight)
    logits = validate.as_array(xp, logits, name=name)
    out_dtype = validate.float_dtype_of(xp, logits, name=name)
    if logits.ndim == 0:
        raise ValueError(f"{name} must have a class axis, got a 0-d array")
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

    weight = _class_weight(xp, weight, logits, n_classes, work_dtype)
    return _CheckedTargets(
        xp, logits, target, class_indices, weight, ignore_index, smoothing, reduction,
        class_axis, out_dtype, work_dtype,
    )  # fmt: skip


def _class_weight(xp: Any, weight: Any, like: Any, n_classes: int, dtype: Any) -> Any | None:
    """``weight`` checked to hold one real number per class, in ``dtype``."""
    if weight is None:
        return None
    weight = validate.as_array(xp, weight, like=like, name="weight")
    validate.float_dtype_of(xp, weight, name="weight")
    if tuple(weight.shape) != (n_classes,):
        raise ValueError(
            f"weight must have one entry per class ({n_classes},), got shape "
            f"{tuple(weight.shape)}"
        )
    return xp.astype(weight, dtype)


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
    # The smoothing's share of each class; with no classes there is nothing to share.
    eps_per_class = eps / n_classes if n_classes else 0.0
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
            per_row = (1.0 - eps) * per_row + eps_per_class * smooth
        denominator = ct.denominator
    else:
        q = p.target
        if eps > 0:
            q = q * (1.0 - eps) + eps_per_class
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
        row_scale = (1.0 - eps) * ct.row_weight + eps_per_class * total_weight
        subtract = (1.0 - eps) * xp.where(ct.one_hot, ct.row_weight[..., None], 0.0)
        if eps > 0:
            subtract = subtract + eps_per_class * (w * xp.ones_like(probs))
        grad = probs * row_scale[..., None] - subtract
        grad = xp.where(ct.valid[..., None], grad, 0.0)
    else:
        grad = probs * xp.sum(coef, axis=-1, keepdims=True) - coef
    if p.reduction == "mean":
        # An all-ignored batch has gradient 0 in every row; keep it 0, not 0/0.
        grad = grad / _nonzero(xp, denominator)
    grad = xp.moveaxis(grad, -1, p.class_axis)
    return CrossEntropyResult(loss, _backend.cast(xp, grad, p.out_dtype))


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
    loss = _backend.cast(np, np.asarray(loss), p.out_dtype)
    grad = None if parts.grad is None else _backend.cast(np, parts.grad, p.out_dtype)
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
    return _backend.cast(xp, result, p.out_dtype)


def _nonzero(xp: Any, denominator: Any) -> Any:
    """``denominator`` with 0 replaced by 1 (the caller decides what 0 means)."""
    return xp.where(denominator == 0, 1.0, denominator)


# Rows per chunk in linear_cross_entropy: about this many logits per chunk.
# 2**18 float64 logits are 2 MiB per temporary, small enough to stay in cache
# and large enough that the per-chunk Python overhead does not show.
_LOGITS_PER_CHUNK = 2**18


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
    return _linear_cross_entropy(
        input, linear_weight, target, bias, weight, ignore_index, label_smoothing, reduction,
        sample_weight, chunk_size, want_grad=False,
    ).loss  # fmt: skip


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
) -> LinearCrossEntropyResult:
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
    return _linear_cross_entropy(
        input, linear_weight, target, bias, weight, ignore_index, label_smoothing, reduction,
        sample_weight, chunk_size, want_grad=True,
    )  # fmt: skip


class _LinearProblem(NamedTuple):
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


def _prepare_linear(
    input: Any,
    linear_weight: Any,
    target: Any,
    bias: Any,
    sample_weight: Any,
    chunk_size: Any,
) -> _LinearProblem:
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
        bias = validate.as_array(xp, bias, like=x, name="bias")
        validate.float_dtype_of(xp, bias, name="bias")
        if tuple(bias.shape) != (n_classes,):
            raise ValueError(
                f"bias must have shape ({n_classes},), one entry per class, got "
                f"{tuple(bias.shape)}"
            )
        bias = xp.astype(bias, out_dtype, copy=False)
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
        sample_weight = validate.as_array(xp, sample_weight, like=x, name="sample_weight")
        validate.float_dtype_of(xp, sample_weight, name="sample_weight")
        if tuple(sample_weight.shape) != (n_rows,):
            raise ValueError(
                f"sample_weight must have shape ({n_rows},), one weight per row, got "
                f"{tuple(sample_weight.shape)}"
            )
        sample_weight = xp.astype(sample_weight, work_dtype, copy=False)
    if chunk_size is None:
        chunk_size = max(1, _LOGITS_PER_CHUNK // max(n_classes, 1))
    else:
        chunk_size = validate.integer(chunk_size, name="chunk_size")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    # copy=False: a copy of X would be O(rows x features) extra memory.
    return _LinearProblem(
        xp, xp.astype(x, out_dtype, copy=False), xp.astype(w, out_dtype, copy=False), bias,
        target, class_indices, sample_weight, single_row, out_dtype, work_dtype, chunk_size,
    )  # fmt: skip


def _linear_cross_entropy(
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
    want_grad_input: bool = True,
) -> LinearCrossEntropyResult:
    """Both public functions; ``want_grad_input=False`` leaves ``grad_input``
    None and skips its (N, C) x (C, D) product (SoftmaxRegression needs only
    the parameters' gradients)."""
    lp = _prepare_linear(input, linear_weight, target, bias, sample_weight, chunk_size)
    # Checked here as well as in cross_entropy, which an empty input never calls.
    reduction = validate.reduction(reduction)
    label_smoothing = validate.label_smoothing(label_smoothing)
    ignore_index = validate.ignore_index(ignore_index)
    xp = lp.xp
    device = array_api_compat.device(lp.x)
    n_rows, n_features = lp.x.shape
    n_classes = lp.w.shape[0]
    weight = _class_weight(xp, weight, lp.x, n_classes, lp.work_dtype)
    options = {"weight": weight, "ignore_index": ignore_index, "label_smoothing": label_smoothing}
    # float16 products reach 65504 easily: its products are made in float32.
    # Wider dtypes multiply as given (BLAS speed; float32 logits beyond 3e38 are inf).
    half = xp.finfo(lp.out_dtype).bits < 32
    product_dtype = lp.work_dtype if half else lp.out_dtype
    w = xp.astype(lp.w, product_dtype, copy=False)
    w_t = xp.permute_dims(w, (1, 0))

    def rows_of_input(start: int, stop: int) -> Any:
        return xp.astype(lp.x[start:stop, :], product_dtype, copy=False)

    def chunk_loss_and_grad(start: int, stop: int) -> CrossEntropyResult:
        logits = rows_of_input(start, stop) @ w_t
        if lp.bias is not None:
            logits = logits + lp.bias
        logits = xp.astype(logits, lp.work_dtype, copy=False)
        # "none" for every reduction: the rows are weighted (sample_weight)
        # and divided by the whole batch's denominator here, not per chunk.
        if want_grad:
            return cross_entropy_and_grad(logits, lp.target[start:stop, ...], **options,
                                          reduction="none")  # fmt: skip
        return CrossEntropyResult(
            cross_entropy(logits, lp.target[start:stop, ...], **options, reduction="none"), None
        )

    # The "mean" denominator is known from the targets alone, before any
    # logits exist, so each chunk's gradient can be scaled as it is made.
    denominator = _linear_denominator(lp, weight, ignore_index) if reduction == "mean" else None
    scale = None if denominator is None else 1.0 / _nonzero(xp, denominator)

    zero = xp.zeros((), dtype=lp.work_dtype, device=device)
    total, row_losses, grad_input_parts = zero, [], []
    # NumPy writes each chunk's grad_input in place; other libraries (JAX
    # arrays are immutable) concatenate the chunks, which holds it twice.
    grad_input_buffer = None
    if want_grad and want_grad_input and array_api_compat.is_numpy_array(lp.x):
        grad_input_buffer = np.empty((n_rows, n_features), dtype=lp.out_dtype)
    grad_weight = xp.zeros((n_classes, n_features), dtype=lp.work_dtype, device=device)
    grad_bias = xp.zeros((n_classes,), dtype=lp.work_dtype, device=device)
    for start in range(0, n_rows, lp.chunk_size):
        stop = min(start + lp.chunk_size, n_rows)
        loss, grad = chunk_loss_and_grad(start, stop)
        grad_factor = scale  # the gradient rows' factor: sample weight times scale
        if lp.sample_weight is not None:
            s = lp.sample_weight[start:stop]
            # A zero-weight row contributes 0 even where its loss is inf.
            loss = xp.where(s == 0, 0.0, loss) * s
            grad_factor = s[:, None] if scale is None else s[:, None] * scale
        if reduction == "none":
            row_losses.append(loss)
        else:
            total = total + xp.sum(loss)
        if not want_grad:
            continue
        if grad_factor is not None:
            grad = grad * grad_factor  # one pass over the chunk for both factors
        grad_out = xp.astype(grad, product_dtype, copy=False)
        if grad_input_buffer is not None:
            with np.errstate(over="ignore"):  # float16's grad_input rounds to inf beyond 65504
                np.matmul(grad_out, w, out=grad_input_buffer[start:stop], casting="same_kind")
        elif want_grad_input:
            grad_input_parts.append(_backend.cast(xp, grad_out @ w, lp.out_dtype))
        grad_weight = grad_weight + xp.astype(
            xp.permute_dims(grad_out, (1, 0)) @ rows_of_input(start, stop), lp.work_dtype
        )
        grad_bias = grad_bias + xp.sum(grad, axis=0)

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
        return LinearCrossEntropyResult(loss, None, None, None)
    if not want_grad_input:
        grad_input = None
    elif grad_input_buffer is not None:
        grad_input = grad_input_buffer
    elif grad_input_parts:
        grad_input = xp.concat(grad_input_parts)
    else:
        grad_input = xp.zeros((0, n_features), dtype=lp.out_dtype, device=device)
    if grad_input is not None and lp.single_row:
        grad_input = grad_input[0, :]
    return LinearCrossEntropyResult(
        loss,
        grad_input,
        _backend.cast(xp, grad_weight, lp.out_dtype),
        None if lp.bias is None else _backend.cast(xp, grad_bias, lp.out_dtype),
    )


def _linear_denominator(lp: _LinearProblem, weight: Any, ignore_index: Any) -> Any:
    """What "mean" divides by: torch's denominator, weighted by ``sample_weight``."""
    xp = lp.xp
    device = array_api_compat.device(lp.x)
    if lp.class_indices:
        valid = lp.target != ignore_index
        rows = xp.astype(valid, lp.work_dtype)
        if weight is not None:
            n_classes = lp.w.shape[0]
            # Out-of-range indices are reported by cross_entropy; clip them
            # here only so that take() does not fail first.
            index = xp.clip(xp.where(valid, lp.target, 0), 0, max(n_classes - 1, 0))
            rows = xp.where(valid, xp.take(weight, index), 0.0) if n_classes else rows
    else:
        rows = xp.ones((lp.x.shape[0],), dtype=lp.work_dtype, device=device)
    if lp.sample_weight is not None:
        rows = rows * lp.sample_weight
    return xp.sum(rows)
