"""Targets, class weights, ``ignore_index``, label smoothing, the "mean" divisor and the reduction.

The one module that holds torch's loss conventions, used by every loss
(cross-entropy, NLL, linear, sampled, the Fenchel-Young losses, the
vocabulary-parallel losses) and every backend (the C kernel's and Triton's
per-row losses are reduced here). Written against the array API, so it
serves NumPy arrays and torch tensors on any device alike; nothing here
reads values back to the host except the check of the class indices.

The conventions (pytorch/pytorch#107680 for the two means):

* class-index targets: ``valid = target != ignore_index``; a row's weight is
  ``w[y_i]`` (1 without ``weight``) where valid, 0 elsewhere; "mean" divides
  by the sum of the row weights, and is NaN when that sum is 0;
* probability targets: "mean" divides by the number of rows, whatever the
  weights;
* an optional weight per row (``sample_weight``, not in torch) multiplies
  each row's loss and its share of the divisor.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import array_api_compat

from . import _backend
from . import _validate as validate
from ._typing import Reduction


class Options(NamedTuple):
    """The scalar options every cross-entropy takes, validated."""

    ignore_index: int
    smoothing: float
    reduction: Reduction


def check_options(ignore_index: Any, label_smoothing: Any, reduction: Any) -> Options:
    """Validate ``ignore_index`` (an int), ``label_smoothing`` (in [0, 1]) and ``reduction``."""
    return Options(
        validate.ignore_index(ignore_index),
        validate.label_smoothing(label_smoothing),
        validate.reduction(reduction),
    )


class Checked(NamedTuple):
    """Validated loss arguments, the arrays still in their own dtype and layout."""

    xp: Any
    logits: Any
    target: Any  # class indices (batch shape) or probabilities (the logits' shape)
    class_indices: bool
    weight: Any | None  # (C,) in the compute dtype
    ignore_index: int
    smoothing: float
    reduction: str
    class_axis: int
    out_dtype: Any
    work_dtype: Any


def check(
    logits: Any,
    target: Any,
    axis: Any,
    weight: Any,
    ignore_index: Any,
    label_smoothing: Any,
    reduction: Any,
    *,
    name: str = "logits",
) -> Checked:
    """Validate the arguments of a loss of logits (or log-probabilities) and a target.

    ``name`` is what the scores are called in the public function (log_probs, x).
    """
    xp = validate.namespace(logits, target, weight)
    logits = validate.as_array(xp, logits, name=name)
    out_dtype = validate.float_dtype_of(xp, logits, name=name)
    class_axis = validate.class_axis(logits, axis, name=name)
    n_classes = logits.shape[class_axis]
    options = check_options(ignore_index, label_smoothing, reduction)

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
        check_class_range(xp, target, n_classes, options.ignore_index)
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

    weight = class_weight(xp, weight, logits, n_classes, work_dtype)
    return Checked(
        xp, logits, target, class_indices, weight, options.ignore_index, options.smoothing,
        options.reduction, class_axis, out_dtype, work_dtype,
    )  # fmt: skip


def class_weight(xp: Any, weight: Any, like: Any, n_classes: int, dtype: Any) -> Any | None:
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


def outside_classes(target: Any, valid: Any, n_classes: int) -> Any:
    """Where a counted (``valid``) class index lies outside ``[0, n_classes)``."""
    return valid & ((target < 0) | (target >= n_classes))


def check_class_range(xp: Any, target: Any, n_classes: int, ignore_index: int) -> None:
    """Refuse a class index outside ``[0, n_classes)`` that is not ``ignore_index``.

    One device-to-host read of a flag (and of the values, to name the first
    bad one); skipped for lazy arrays (see ``validate.concrete_bool``).
    """
    bad = outside_classes(target, target != ignore_index, n_classes)
    if validate.concrete_bool(xp.any(bad)):
        flat = validate.host_values(target)
        first = int(flat[outside_classes(flat, flat != ignore_index, n_classes)][0])
        raise ValueError(
            f"target contains class index {first}, outside [0, {n_classes}) and not "
            f"ignore_index ({ignore_index})"
        )


class InWorkLayout(NamedTuple):
    """Checked class-index loss arguments, the logits in the compute dtype, class axis last."""

    xp: Any
    z: Any  # logits (or log-probabilities), class axis last, compute dtype
    target: Any  # class indices (the batch shape)
    weight: Any | None
    ignore_index: int
    reduction: str
    out_dtype: Any


def in_work_layout(c: Checked) -> InWorkLayout:
    """Logits in the compute dtype with the class axis last, for class-index targets.

    Its callers (``nll_loss``, the Fenchel-Young losses) refuse probability
    targets first; cross-entropy hands both kinds to the backends as given.
    """
    xp = c.xp
    z = xp.moveaxis(xp.astype(c.logits, c.work_dtype), c.class_axis, -1)
    return InWorkLayout(xp, z, c.target, c.weight, c.ignore_index, c.reduction, c.out_dtype)


class ClassIndexTarget(NamedTuple):
    """One-hot view of class-index targets and their per-row weights."""

    one_hot: Any  # bool, (..., C)
    valid: Any  # bool, (...): not ignore_index
    row_weight: Any  # w[y_i], 0 for ignored rows
    denominator: Any  # what "mean" divides by: sum of row weights

    @classmethod
    def make(cls, p: InWorkLayout) -> ClassIndexTarget:
        return cls.of(p.xp, p.target, p.ignore_index, p.weight, p.z.shape[-1], p.z.dtype,
                      array_api_compat.device(p.z))  # fmt: skip

    @classmethod
    def of(
        cls, xp: Any, target: Any, ignore_index: int, weight: Any | None, n_classes: int,
        dtype: Any, device: Any,
    ) -> ClassIndexTarget:  # fmt: skip
        """The one-hot of ``target`` (any batch shape) over ``n_classes``, weights in ``dtype``."""
        valid = target != ignore_index
        classes = xp.arange(n_classes, dtype=target.dtype, device=device)
        one_hot = (target[..., None] == classes) & valid[..., None]
        if weight is None:
            row_weight = xp.astype(valid, dtype)
        else:
            row_weight = xp.sum(xp.where(one_hot, weight, 0.0), axis=-1)
        # A class index out of range reaches here only on a lazy array (eager ones
        # are refused by check_class_range): its row, the mean and the gradient
        # become NaN rather than a silent loss of 0.
        row_weight = xp.where(outside_classes(target, valid, n_classes), xp.nan, row_weight)
        return cls(one_hot, valid, row_weight, xp.sum(row_weight))

    def pick(self, xp: Any, values: Any) -> Any:
        """``values[..., y]`` per row (0 for ignored rows)."""
        return xp.sum(xp.where(self.one_hot, values, 0.0), axis=-1)


def index_denominator(
    xp: Any,
    target: Any,
    weight: Any | None,
    ignore_index: int,
    n_classes: int,
    dtype: Any,
    *,
    sample_weight: Any | None = None,
) -> Any:
    """What "mean" divides by for class-index ``target`` (any shape): the sum
    of ``w[y_i]`` (times ``sample_weight``) over the rows that are not
    ignored, a 0-d array of ``dtype`` on the target's device."""
    valid = target != ignore_index
    rows = xp.astype(valid, dtype)
    if weight is not None and n_classes:
        # Indices out of range are refused by check_class_range (lazy arrays are
        # not checked); clip them here only so that take() cannot fail first.
        # The where() first gives ignored rows index 0 (their weight is dropped
        # below) and a native-order array: NumPy's clip refuses a byte-swapped one.
        index = xp.clip(xp.where(valid, target, 0), 0, n_classes - 1)
        picked = xp.take(xp.astype(weight, dtype), xp.reshape(index, (-1,)))
        rows = xp.where(valid, xp.reshape(picked, tuple(target.shape)), 0.0)
    # as in ClassIndexTarget.of: an unchecked (lazy) index out of range gives NaN
    rows = xp.where(outside_classes(target, valid, n_classes), xp.nan, rows)
    if sample_weight is not None:
        rows = rows * sample_weight
    return xp.sum(rows)


def probability_denominator(
    xp: Any, batch_shape: tuple[int, ...], dtype: Any, device: Any, *, sample_weight: Any = None
) -> Any:
    """What "mean" divides by for probability targets: the number of rows
    (the sum of ``sample_weight``), whatever the class weights."""
    if sample_weight is not None:
        return xp.sum(sample_weight)
    return xp.asarray(float(math.prod(batch_shape)), dtype=dtype, device=device)


def reduce(xp: Any, per_row: Any, denominator: Any, reduction: str) -> Any:
    """The per-row losses reduced; "mean" over a zero divisor is NaN, as in torch."""
    if reduction == "none":
        return per_row
    total = xp.sum(per_row)
    if reduction == "sum":
        return total
    return xp.where(denominator == 0, xp.nan, total / nonzero(xp, denominator))


def nonzero(xp: Any, denominator: Any) -> Any:
    """``denominator`` with 0 replaced by 1: the gradient of a "mean" over no
    counted rows is 0 in every row, not 0/0."""
    # Any nonzero stand-in gives the same 0 rows: a zero divisor means every row's
    # weight is 0 (only negative weights that cancel exactly differ, and their
    # "mean" is undefined: NaN).
    stand_in = 1.0  # pragma: no mutate
    return xp.where(denominator == 0, stand_in, denominator)
