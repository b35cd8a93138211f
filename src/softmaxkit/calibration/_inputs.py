"""Checks shared by the calibration metrics and scalers.

Calibration works on a modest number of held-out predictions, so everything is
converted to NumPy float64 here (from any array library), once, with errors that
name the argument and the value.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import _host
from .. import _validate as validate

# How far a row of probabilities may sum from 1 (float32 softmax output is
# within ~1e-6; anything further off is not a probability vector).
_SUM_TOLERANCE = 1e-4


def as_numpy(x: Any, *, name: str) -> np.ndarray:
    """``x`` as a NumPy array, from any array library (torch tensors detached)."""
    x = validate.not_masked(x, name=name)
    try:
        return _host.to_numpy(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc


def labels_array(labels: Any, n_rows: int, n_classes: int, classes: Any = None) -> np.ndarray:
    """Integer class labels, shape (n_rows,), each in [0, n_classes).

    With ``classes`` (the label of each column of the probabilities, as
    scikit-learn's ``labels=``), ``labels`` holds such labels, of any type,
    and becomes their column indices.
    """
    y = as_numpy(labels, name="labels")
    if classes is not None:
        y = _column_indices(y, classes, n_classes)
    if y.dtype == np.bool_:
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise TypeError(
                f"labels must be integer class indices (column numbers), got dtype {y.dtype}; "
                f"for other labels pass classes=, the label of each column"
            )
    if y.shape != (n_rows,):
        raise ValueError(f"labels must have shape ({n_rows},), one per row, got {y.shape}")
    bad = (y < 0) | (y >= n_classes)
    if np.any(bad):
        raise ValueError(
            f"labels must be class indices in [0, {n_classes}), got {int(y[bad][0])} "
            f"(at row {int(np.flatnonzero(bad)[0])})"
        )
    return y.astype(np.intp)


def _column_indices(y: np.ndarray, classes: Any, n_classes: int) -> np.ndarray:
    """The column of each label in ``classes`` (scikit-learn's ``labels=``)."""
    columns = as_numpy(classes, name="classes")
    if columns.ndim != 1 or len(columns) != n_classes:
        raise ValueError(
            f"classes must name each of the {n_classes} columns of probs once, got shape "
            f"{columns.shape}"
        )
    if len(np.unique(columns)) != len(columns):
        raise ValueError(f"classes must not repeat a label, got {columns.tolist()!r}")
    order = np.argsort(columns, kind="stable")
    found = np.searchsorted(columns[order], y)
    found = np.minimum(found, len(columns) - 1)
    unknown = columns[order][found] != y
    if np.any(unknown):
        raise ValueError(
            f"labels must be among classes {columns.tolist()!r}, got {y[unknown][0].item()!r} "
            f"(at row {int(np.flatnonzero(unknown)[0])})"
        )
    return order[found]


def _looks_swapped(p: np.ndarray, y: np.ndarray) -> bool:
    """``probs`` holds class labels and ``labels`` probabilities: scikit-learn's argument order.

    scikit-learn's metrics take ``(y_true, y_prob)``; these take ``(probs,
    labels)``. The swap shows as integer-valued "probabilities" next to
    labels that are not integers, or that form a 2-D array.
    """
    if not (np.issubdtype(y.dtype, np.number) and np.issubdtype(p.dtype, np.number)):
        return False
    with np.errstate(invalid="ignore"):
        labels_are_probabilities = y.ndim == 2 or (
            np.issubdtype(y.dtype, np.floating) and not np.all(y == np.round(y))
        )
        probs_are_labels = p.ndim == 1 and np.all(np.isfinite(p)) and np.all(p == np.round(p))
    return bool(labels_are_probabilities and probs_are_labels)


def probabilities_and_labels(
    probs: Any, labels: Any, classes: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Check predicted probabilities (N, K) (or (N,) for P(class 1)) and labels.

    A 1-D ``probs`` is a binary problem's probability of class 1 and becomes
    ``[1 - p, p]``. Rows must be finite, in [0, 1] and sum to 1. ``classes``
    maps labels to columns (see :func:`labels_array`).
    """
    given = _real(probs, "probs")
    if classes is None and _looks_swapped(given, as_numpy(labels, name="labels")):
        raise ValueError(
            "probs and labels look swapped: probs holds integer class labels and labels "
            "holds probabilities. These metrics take (probs, labels), as netcal and "
            "torchmetrics do; scikit-learn's take (y_true, y_prob)"
        )
    p = given.astype(np.float64)
    if p.ndim == 1:
        _check_in_unit_interval(p[:, None], binary=True)
        p = np.stack([1.0 - p, p], axis=1)
    _check_rows(
        p, given.shape, "probs", "a binary problem's probability of class 1", "one prediction"
    )
    _check_in_unit_interval(p, binary=False)
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > _SUM_TOLERANCE
    if np.any(off):
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"each row of probs must sum to 1, row {row} sums to {float(sums[row])!r} "
            f"(pass softmax(logits), not logits or unnormalised scores)"
        )
    return p, labels_array(labels, p.shape[0], p.shape[1], classes)


def _real(values: Any, name: str) -> np.ndarray:
    """``values`` as a NumPy array of reals (float or integer dtype), else TypeError."""
    given = as_numpy(values, name=name)
    if not (np.issubdtype(given.dtype, np.floating) or np.issubdtype(given.dtype, np.integer)):
        raise TypeError(f"{name} must be a real array, got dtype {given.dtype}")
    return given


def _check_rows(a: np.ndarray, shape: tuple[int, ...], name: str, one_d: str, least: str) -> None:
    """Raise unless ``a`` is (N, K), N >= 1, K >= 2; ``shape`` is as given, ``one_d`` its (N,) form."""
    if a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (N, K) with K >= 2 classes, or (N,) for {one_d}; got {shape}"
        )
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty: need at least {least}")


def _check_in_unit_interval(p: np.ndarray, *, binary: bool) -> None:
    """Raise unless every entry of ``p`` (N, K) is finite and in [0, 1], naming the first that is not.

    ``binary``: ``p`` is the (N,) probability of class 1 as given, so the
    message shows the value passed, not ``1 - p``.
    """
    bad = ~(np.isfinite(p) & (p >= 0) & (p <= 1))
    if np.any(bad):
        row, col = np.argwhere(bad)[0]
        where = f"at row {row}" if binary else f"at row {row}, class {col}"
        raise ValueError(
            f"probs must lie in [0, 1], got {float(p[row, col])!r} {where} "
            f"(pass softmax(logits), not logits)"
        )


def logits_and_labels(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check logits (N, K), or (N,) binary decision values, and labels; float64.

    A 1-D ``logits`` is a binary decision ``d`` with ``P(class 1) = sigmoid(d)``
    and becomes the logits ``[0, d]``, whose softmax is exactly that.
    """
    given = _real(logits, "logits")
    z = given.astype(np.float64)
    if z.ndim == 1:
        z = np.stack([np.zeros_like(z), z], axis=1)
    _check_rows(z, given.shape, "logits", "binary decision values", "one row to fit on")
    if not np.all(np.isfinite(z)):
        row, col = np.argwhere(~np.isfinite(z))[0]
        raise ValueError(f"logits must be finite, got {float(z[row, col])!r} at row {row}, class {col}")
    return z, labels_array(labels, z.shape[0], z.shape[1])


def warn_if_probabilities(z: np.ndarray, method: str, category: type[Warning]) -> None:
    """Warn (from the caller's ``fit``) when every row is in [0, 1] and sums to 1.

    Softmax output is not logits, and scaling it makes calibration worse
    (gpleiss/temperature_scaling#29).
    """
    if np.all((z >= 0) & (z <= 1)) and np.all(np.abs(z.sum(axis=1) - 1.0) <= _SUM_TOLERANCE):
        warnings.warn(
            "logits look like probabilities (every row is in [0, 1] and sums to 1); "
            f"{method} needs logits: pass log(probs) or the model's raw outputs",
            category,
            stacklevel=3,  # warn_if_probabilities <- fit <- the caller
        )


def as_logits(logits: Any, *, binary_to_two: bool = True) -> Any:
    """Logits to transform, in their own array library, as a floating array.

    With ``binary_to_two``, a 1-D input (binary decisions ``d``) becomes the
    (N, 2) logits ``[0, d]``; otherwise it is kept as it is.
    """
    xp = validate.namespace(logits)
    z = validate.as_array(xp, logits, name="logits")
    z = xp.astype(z, validate.float_dtype_of(xp, z, name="logits"))
    if z.ndim == 1 and binary_to_two:
        # Stacking two (N,) arrays: axis -1 and axis 1 are the same axis of the (N, 2) result.
        z = xp.stack([xp.zeros_like(z), z], axis=-1)  # pragma: no mutate
    if z.ndim == 0:
        raise ValueError("logits must have shape (N, K) or (N,), got a 0-d array")
    return z
