"""The reference backend: the row primitives in array-API code over ``_stable``.

This is the specification every other backend is tested against (see
``_backends``); it takes every array of every array-API library, on any
device. Inputs are in the canonical layout, ``(*rows, n)`` with the reduced
axis last, already validated by the functional layer; results come back in
the input's floating dtype, computed in ``_backend.compute_dtype`` of it.
"""

from __future__ import annotations

from typing import Any

import array_api_compat

from . import _backend, _stable

NAME = "reference"


def takes(*arrays: Any) -> bool:
    """Every array: the reference is the backend of last resort."""
    return True


def _work(xp: Any, a: Any) -> tuple[Any, bool]:
    """``a`` in its compute dtype, and whether that is its own dtype (compensate the shift)."""
    dtype = _native(a.dtype)
    work_dtype = _backend.compute_dtype(xp, dtype, array_api_compat.device(a))
    return xp.astype(a, work_dtype), work_dtype == dtype


def _native(dtype: Any) -> Any:
    """NumPy's other byte order as the native one (the dtype results come in)."""
    return dtype.newbyteorder("=") if getattr(dtype, "isnative", True) is False else dtype


def softmax_rows(z: Any, *, log: bool, mask: Any, temperature: Any, out: Any) -> Any:
    """softmax or log_softmax of each row of ``z / temperature`` (``mask`` False: excluded)."""
    xp = array_api_compat.array_namespace(z)
    w, compensate = _work(xp, z)
    if 0 in z.shape:  # nothing to compute (and lazy libraries refuse empty maxima)
        values = w
    else:
        if not (isinstance(temperature, float) and temperature == 1.0):
            w = _stable.divide_by_temperature(xp, w, temperature, (w.ndim - 1,), where=mask)
        s = _stable.shift_by_max(xp, w, (w.ndim - 1,), where=mask, compensate=compensate)
        values = _stable.log_softmax_from(xp, s) if log else _stable.softmax_from(xp, s)
    values = _backend.cast(xp, values, _native(z.dtype))
    if out is None:
        return values
    out[...] = values
    return out


def logsumexp_rows(z: Any, *, mask: Any, b: Any = None, return_sign: bool = False) -> Any:
    """logsumexp of each row, shape ``(*rows,)``; with weights ``b`` (the shape
    of ``z``) and, with ``return_sign``, ``(log|sum|, sign(sum))``."""
    xp = array_api_compat.array_namespace(z)
    w, compensate = _work(xp, z)
    last = (w.ndim - 1,)
    if z.shape[-1] == 0:
        device = array_api_compat.device(w)
        result = xp.full(w.shape[:-1], -xp.inf, dtype=w.dtype, device=device)
        sign = xp.zeros(w.shape[:-1], dtype=w.dtype, device=device)
    elif 0 in z.shape:  # no rows
        result = sign = w[..., 0]
    else:
        b = None if b is None else xp.astype(b, w.dtype)
        s = _stable.shift_by_max(xp, w, last, where=mask, b=b, compensate=compensate)
        if return_sign:
            result, sign = (v[..., 0] for v in _stable.signed_logsumexp_from(xp, s))
        else:
            result = _stable.logsumexp_from(xp, s)[..., 0]
    if not return_sign:
        return _backend.cast(xp, result, _native(z.dtype))
    return _backend.cast(xp, result, _native(z.dtype)), _backend.cast(xp, sign, _native(z.dtype))


def softmax_vjp_rows(
    y: Any, g: Any, *, log: bool, mask: Any, temperature: Any, out_dtype: Any
) -> Any:
    """The gradient with respect to the logits of each row, given the forward
    output ``y`` (log-probabilities when ``log``) and the upstream ``g``."""
    xp = array_api_compat.array_namespace(y)
    work_dtype = _backend.compute_dtype(xp, out_dtype, array_api_compat.device(y))
    y, g = xp.astype(y, work_dtype), xp.astype(g, work_dtype)
    if mask is not None:
        g = xp.where(mask, g, 0.0)
    grad = _stable.softmax_vjp_from(xp, y, g, log=log)
    grad = _stable.divide_gradient_by_temperature(xp, grad, temperature)
    if mask is not None:
        grad = xp.where(mask, grad, 0.0)
    return _backend.cast(xp, grad, out_dtype)


def cross_entropy_rows(
    z: Any, target: Any, *, class_indices: bool, weight: Any, ignore_index: int,
    smoothing: float, grad_divisor: Any, want_grad: bool,
) -> Any:  # fmt: skip
    """Per-row cross-entropy (before the reduction, in the compute dtype) and
    its gradient divided by ``grad_divisor``, in closed form (see ``losses``)."""
    from . import _targets  # the losses' module: not loaded by ``import softmaxkit``
    from ._backends import RowLosses  # (a cycle at import time otherwise)

    xp = array_api_compat.array_namespace(z)
    w, compensate = _work(xp, z)
    n_classes = z.shape[-1]
    eps = smoothing
    # The smoothing's share of each class; with no classes there is nothing to share.
    eps_per_class = eps / n_classes if n_classes else 0.0
    if n_classes == 0:
        logp = probs = w
    else:
        s = _stable.shift_by_max(xp, w, (w.ndim - 1,), compensate=compensate)
        logp = _stable.log_softmax_from(xp, s)
        probs = _stable.softmax_from(xp, s) if want_grad else None
    if class_indices:
        ct = _targets.ClassIndexTarget.of(
            xp, target, ignore_index, weight, n_classes, w.dtype, array_api_compat.device(w)
        )
        per_row = xp.where(ct.valid, -ct.pick(xp, logp) * ct.row_weight, 0.0)
        if eps > 0:
            weighted_logp = logp if weight is None else _times_weight(xp, logp, weight)
            smooth = xp.where(ct.valid, -xp.sum(weighted_logp, axis=-1), 0.0)
            per_row = (1.0 - eps) * per_row + eps_per_class * smooth
    else:
        q = xp.astype(target, w.dtype)
        if eps > 0:
            q = q * (1.0 - eps) + eps_per_class
        coef = q if weight is None else q * weight
        # 0 * log 0 = 0: a class excluded by a -inf logit costs nothing
        # when the target gives it no mass.
        per_row = -xp.sum(coef * xp.where(coef == 0, 0.0, logp), axis=-1)
    if not want_grad:
        return RowLosses(per_row, None)

    if class_indices:
        cw = 1.0 if weight is None else weight
        row_scale = (1.0 - eps) * ct.row_weight + smoothing_weight(xp, eps, n_classes, weight)
        subtract = (1.0 - eps) * xp.where(ct.one_hot, ct.row_weight[..., None], 0.0)
        if eps > 0:
            subtract = subtract + eps_per_class * (cw * xp.ones_like(probs))
        grad = probs * row_scale[..., None] - subtract
        grad = xp.where(ct.valid[..., None], grad, 0.0)
    else:
        grad = probs * xp.sum(coef, axis=-1, keepdims=True) - coef
    if not (isinstance(grad_divisor, float) and grad_divisor == 1.0):
        grad = grad / grad_divisor
    return RowLosses(per_row, _backend.cast(xp, grad, _native(z.dtype)))


def smoothing_weight(xp: Any, eps: float, n_classes: int, weight: Any) -> Any:
    """``sum_c eps / C * w[c]``, the smoothing's share of a class-index row's
    gradient scale (``eps`` without weights), each term scaled before the sum
    as torch's backward scales them: ``eps / C * sum(w)`` is ``+inf`` for
    weights summing past the float maximum (NaN at ``eps = 0``, every gradient
    entry NaN) where torch's gradient is finite."""
    eps_per_class = eps / n_classes if n_classes else 0.0
    if weight is None:
        return eps_per_class * n_classes
    return xp.sum(eps_per_class * weight)


def _times_weight(xp: Any, logp: Any, weight: Any) -> Any:
    """``logp * weight`` with a zero-weight class contributing 0 even at logp = -inf."""
    return xp.where(weight == 0, 0.0, logp) * weight
