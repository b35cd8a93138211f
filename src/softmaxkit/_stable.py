"""The one max-shift at the heart of softmax, log_softmax, logsumexp and the losses.

Every member of the family is computed from ``d = z - max(z)`` over the
reduced axes. Sharing that step is what makes the edge-case policy identical
everywhere:

* excluded entries (``where`` False, ``b == 0``) become ``-inf``;
* a slice whose entries are all ``-inf`` shifts by 0, so ``d`` is all
  ``-inf``: softmax 0, log_softmax ``-inf``, logsumexp ``-inf``;
* a slice holding ``+inf`` takes the limit: ``d`` is 0 at the ``+inf``
  entries and ``-inf`` elsewhere, so the mass is split among the ``+inf``
  entries and logsumexp is ``+inf``;
* a slice holding a (non-excluded) NaN is reported in ``nan_slice`` and the
  callers make the whole slice NaN.

Accuracy. ``z - max`` is exact when the two are within a factor of two
(Sterbenz) but not in general: at a logit spread of 120 its rounding error
moves ``exp`` by up to 64 ulp, which is where SciPy's and PyTorch's 60-120 ulp
errors come from. With ``compensate=True`` the error of the subtraction is
recovered exactly by Knuth's TwoSum and applied as ``exp(d) * (1 + d_lo)``.
The normaliser is split as ``k + t`` where ``k`` counts the entries at the
maximum (each contributes exactly 1) and ``t`` sums the others, so
``log(k + t) = log(k) + log1p(t / k)`` keeps its relative accuracy when the
maximum dominates (SciPy issue 19521: float32 ``log_softmax([1-log(eps), 0])``
must give -4.385e-8 at the maximum, not 0).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol


class Shifted(NamedTuple):
    """``z - max(z)`` over the reduced axes and what the family derives from it.

    Reduced quantities keep the reduced axes (size 1) for broadcasting.
    """

    diff: Any  # z - shift, rounded: 0 at the maximum, -inf at excluded entries
    diff_lo: Any  # rounding error of diff (zeros when not compensating)
    exp_diff: Any  # exp(diff + diff_lo), times b when weights are given
    norm: Any  # sum of exp_diff: k + t
    log_norm: Any  # log(norm), accurate when norm is close to 1
    shift: Any  # the maximum; 0 for all -inf slices, +inf for slices holding +inf
    nan_slice: Any  # the slice holds a NaN that was not excluded


class Reduction(Protocol):
    """How the slices are formed: ``max``, ``sum`` and ``any`` over one slice,
    returned so that they broadcast against the reduced array."""

    def max(self, v: Any) -> Any: ...
    def sum(self, v: Any) -> Any: ...
    def compensated_sum(self, v: Any) -> Any: ...
    def any(self, v: Any) -> Any: ...


class AxesReduction(NamedTuple):
    """The slices of a dense array: all entries that differ only along ``axes``."""

    xp: Any
    axes: tuple[int, ...]

    def max(self, v: Any) -> Any:
        return self.xp.max(v, axis=self.axes, keepdims=True)

    def sum(self, v: Any) -> Any:
        return self.xp.sum(v, axis=self.axes, keepdims=True)

    def compensated_sum(self, v: Any) -> Any:
        """The sum over ``axes`` to about one rounding, whatever order the library adds in.

        ``xp.sum`` adds in an order of the library's choosing: NumPy adds pairwise
        along a contiguous axis but one term after another across a strided one
        (the reduced axes of a C-ordered ``(6, 40, 9)`` array over ``(0, 1)``),
        which put ``log_softmax`` at a dominant entry (``-t``, the sum of the
        others) 6 ulp from the exact value. Here the reduced entries form the last
        axis and are added pairwise, each addition's rounding error recovered by
        TwoSum and the errors added up alongside (Ogita, Rump and Oishi's Sum2 in
        a tree): the error is about one rounding of the result plus
        ``n**2 * eps**2`` of the sum of the magnitudes.
        """
        xp, axes = self.xp, self.axes
        kept = [a for a in range(v.ndim) if a not in axes]
        reduced_shape = tuple(1 if a in axes else v.shape[a] for a in range(v.ndim))
        n = math.prod(v.shape[a] for a in axes)
        rows = xp.reshape(xp.permute_dims(v, (*kept, *axes)), (*(v.shape[a] for a in kept), n))
        return xp.reshape(_pairwise_two_sum(xp, rows), reduced_shape)

    def any(self, v: Any) -> Any:
        return self.xp.any(v, axis=self.axes, keepdims=True)


def shift_by_max(
    xp: Any,
    z: Any,
    axes: tuple[int, ...],
    *,
    where: Any | None = None,
    b: Any | None = None,
    compensate: bool = False,
    reduction: Reduction | None = None,
) -> Shifted:
    """Shift ``z`` by its maximum over ``axes`` and sum the exponentials.

    ``z`` is a floating array in the compute dtype; ``where`` (bool) and ``b``
    (weights, same dtype as ``z``) are broadcast to ``z.shape``; ``axes`` is a
    non-empty tuple of non-negative axes. A ``reduction`` other than the
    default (:class:`AxesReduction` over ``axes``) forms the slices another
    way (segments, sparse rows); ``axes`` is then unused.

    The three steps are public so that a caller whose slice is split across
    processes (softmaxkit.distributed) can combine the maxima and the sums of
    all the pieces in between: ``exclude``, the maximum, ``shift_and_sum``,
    then ``normalise``.
    """
    r = AxesReduction(xp, axes) if reduction is None else reduction
    z, nan_slice = exclude(xp, z, r, where=where, b=b)
    return normalise(xp, shift_and_sum(xp, z, r.max(z), r, b=b, compensate=compensate), nan_slice)


def exclude(
    xp: Any, z: Any, r: Reduction, *, where: Any | None = None, b: Any | None = None
) -> tuple[Any, Any]:
    """``z`` with excluded entries and NaNs set to ``-inf``, and which slices hold a NaN.

    Excluded entries (``where`` False, ``b == 0``) may hold anything, NaN
    included, without making their slice NaN.
    """
    inf = xp.inf
    is_nan = xp.isnan(z)
    excluded = None
    if where is not None:
        excluded = ~where
    if b is not None:
        excluded = (b == 0) if excluded is None else (excluded | (b == 0))
    if excluded is not None:
        is_nan = is_nan & ~excluded
        z = xp.where(excluded, -inf, z)
    nan_slice = r.any(is_nan)
    return xp.where(is_nan, -inf, z), nan_slice


class Sums(NamedTuple):
    """``z`` shifted by a given maximum, and the two parts of its normaliser."""

    diff: Any
    diff_lo: Any
    exp_diff: Any
    k: Any  # (weighted) count of the entries at the maximum: each contributes exactly 1
    t: Any  # sum of exp_diff over the other entries
    shift: Any  # as in Shifted


def shift_and_sum(
    xp: Any,
    z: Any,
    zmax: Any,
    r: Reduction,
    *,
    b: Any | None = None,
    compensate: bool = False,
) -> Sums:
    """Shift ``z`` (from :func:`exclude`) by ``zmax`` and sum the exponentials over the slices of ``r``.

    ``zmax`` is the maximum of ``z`` over each slice (``r.max(z)``), or
    the maximum over a larger slice that ``z`` is a piece of: then ``k`` and
    ``t`` are this piece's share of the slice's normaliser.
    """
    diff, diff_lo, exp_diff = exponentials(xp, z, zmax, compensate=compensate)
    at_max = diff == 0
    if b is None:
        k = r.sum(xp.astype(at_max, z.dtype))
    else:
        exp_diff = exp_diff * b
        k = r.sum(xp.where(at_max, b, 0.0))
    others = xp.where(at_max, 0.0, exp_diff)
    # Compensating the shift only pays if the sum of the other terms keeps it:
    # log_softmax at a dominant entry is about -t, as accurate as t.
    t = r.compensated_sum(others) if compensate else r.sum(others)
    return Sums(diff, diff_lo, exp_diff, k, t, applied_shift(xp, zmax))


def applied_shift(xp: Any, zmax: Any) -> Any:
    """The shift of :class:`Shifted` for a slice of maximum ``zmax`` (0 for all -inf, +inf
    for a slice holding +inf)."""
    return xp.where(zmax == xp.inf, xp.inf, xp.where(xp.isfinite(zmax), zmax, 0.0))


def exponentials(xp: Any, z: Any, zmax: Any, *, compensate: bool = False) -> tuple[Any, Any, Any]:
    """``diff``, ``diff_lo`` and ``exp_diff`` of :func:`shift_and_sum`, without its sums
    (for a piece of a slice whose normaliser is already known)."""
    diff, z_finite, rounded, shift = _subtract(xp, z, zmax)
    exp_diff = xp.exp(diff)
    if compensate:
        error = difference_error(xp, z_finite, shift, rounded)
        diff_lo = xp.where(xp.isfinite(diff), error, 0.0)
        exp_diff = exp_diff + exp_diff * diff_lo
    else:
        diff_lo = xp.zeros_like(diff)
    return diff, diff_lo, exp_diff


def difference(xp: Any, z: Any, zmax: Any) -> Any:
    """``z - zmax``, the ``diff`` of :func:`shift_and_sum` without its sums (for passes that
    need only the shifted values)."""
    return _subtract(xp, z, zmax)[0]


def half_difference(xp: Any, z: Any, zmax: Any) -> Any:
    """``(z - zmax) / 2`` with :func:`difference`'s policy, finite where ``z - zmax`` overflows.

    For a sum divided by the temperature after it, ``(z - zmax + G) / T``
    (Gumbel noise ``G``): its half ``(half + G / 2) / T``, then :func:`doubled`,
    rounds as the sum does, and keeps the entries more than the dtype's maximum
    below ``zmax``, which a large ``T`` can bring back into range.
    """
    return _policy(xp, z, zmax, _halves(xp, z, zmax)[2], False)


def doubled(xp: Any, v: Any) -> Any:
    """``2 * v`` for ``v`` at most half the dtype's maximum: ``-inf`` where it overflows, without a warning."""
    low = v < -0.5 * float(xp.finfo(v.dtype).max)
    return xp.where(low, -xp.inf, 2.0 * xp.where(low, 0.0, v))


def _policy(xp: Any, z: Any, zmax: Any, values: Any, dead: Any) -> Any:
    """``values`` (of ``z - zmax``) with the edge-case policy: -inf at ``-inf`` entries, ``dead``
    ones and every entry of a slice holding ``+inf``, but 0 at its ``+inf`` entries."""
    has_pos_inf = zmax == xp.inf
    values = xp.where(has_pos_inf | dead | (z == -xp.inf), -xp.inf, values)
    return xp.where(has_pos_inf & (z == xp.inf), 0.0, values)


def _halves(xp: Any, z: Any, zmax: Any) -> tuple[Any, Any, Any]:
    """The shift (0 for a non-finite ``zmax``), ``z`` with 0 at its non-finite entries, and
    ``0.5 * z - 0.5 * shift`` of those, before the policy."""
    shift = xp.where(xp.isfinite(zmax), zmax, 0.0)  # pragma: no mutate
    z_finite = xp.where(xp.isfinite(z), z, 0.0)  # pragma: no mutate
    return shift, z_finite, 0.5 * z_finite - 0.5 * shift


def _subtract(xp: Any, z: Any, zmax: Any) -> tuple[Any, Any, Any, Any]:
    """``diff``, the clamped ``z`` and the rounded ``z - shift`` before the policy, and the shift."""
    # z - shift overflows to -inf exactly where half of it, 0.5 * z - 0.5 * shift
    # (which cannot overflow, and rounds as z - shift does: halving a number
    # this large is exact), is below -max / 2. Those entries are set to the shift
    # first so that no library warns, then the -inf (the correctly rounded
    # value) is put back. (A bound on z, shift - max, is itself rounded: it
    # warned at float64 [7.022e307, -1.1236e308], or, with a margin, counted
    # [0.5, -max]'s difference -max, correctly rounded, as -inf.)
    shift, z_finite, half = _halves(xp, z, zmax)
    overflows = half < -0.5 * float(xp.finfo(z.dtype).max)
    z_finite = xp.where(overflows, shift, z_finite)
    rounded = z_finite - shift
    # Each where writes a non-finite value only where the result holds one, so
    # that finite input never makes an inf or NaN, not even in an intermediate
    # (jax.debug_infs / debug_nans check every one).
    return _policy(xp, z, zmax, rounded, overflows), z_finite, rounded, shift


def normalise(xp: Any, sums: Sums, nan_slice: Any) -> Shifted:
    """The normaliser ``k + t`` and its logarithm, accurate when the maximum dominates."""
    k, t = sums.k, sums.t
    norm = k + t
    k_positive = k > 0
    k_safe = xp.where(k_positive, k, 1.0)  # pragma: no mutate
    log_norm = xp.where(
        k_positive, xp.log(k_safe) + _log1p_or_nan(xp, t / k_safe), _log_or_nan(xp, norm)
    )
    return Shifted(
        sums.diff, sums.diff_lo, sums.exp_diff, norm, log_norm, sums.shift, nan_slice
    )


def divide_by_temperature(
    xp: Any,
    x: Any,
    t: Any,
    axes: tuple[int, ...],
    *,
    where: Any | None = None,
    reduction: Reduction | None = None,
    shift: tuple[Any, Any] | None = None,
) -> Any:
    """``x / t`` in the compute dtype, or ``(x - c) / t`` where that would overflow.

    Softmax is unchanged by subtracting a constant ``c`` from a slice, so a
    slice holding a finite included entry whose quotient exceeds half the
    dtype's maximum is shifted by its largest finite included entry first
    (computed as ``2 * ((x / 2 - c / 2) / t)``, which cannot overflow before
    the end): ``softmax([1e308, 9e307], temperature=0.1)`` is then ``[1, 0]``
    rather than ``inf / inf``. Every other slice is divided exactly as
    ``x / t``, bit for bit, so the rounding of ``x / t`` stays the only error
    a temperature adds. Quotients beyond the dtype's range are ``+-inf``,
    without overflow warnings. A temperature below the dtype's smallest normal
    number is the ``T -> 0`` limit, on every library: 0 at the slice's largest
    finite included entries and ``-inf`` at its other finite ones. (XLA on the
    CPU reads such a ``T`` as 0, and ``0 / 0`` is NaN; the exact quotients
    differ from the limit only for logits within about ``700 T`` of the
    maximum.) Branch-free, so it traces under ``jax.jit``.
    ``reduction`` forms the slices as in :func:`shift_by_max`; ``shift``, the
    :func:`temperature_shift` of the whole slice, is for ``x`` a piece of it.
    """
    if 0 in x.shape:  # nothing to divide, and no maximum to take
        return x / t  # pragma: no mutate
    big = float(xp.finfo(x.dtype).max)
    r = AxesReduction(xp, axes) if reduction is None else reduction
    shifted, c = temperature_shift(xp, x, t, r, where=where) if shift is None else shift
    c = xp.where(shifted, c, 0.0)  # (rebinding frees the maximum: full-size for segments)  # pragma: no mutate
    # A cold T's bounds are 0: every quotient overflows but at 0 (the maxima of
    # a shifted slice) and NaN, which are divided by 1 instead.
    cold = is_cold(xp, t, x.dtype)
    warm_t = _unless_cold(xp, t, cold, 0.0)
    half_limit = 0.5 * big * _capped(xp, warm_t, 2.0)  # |v| <= half_limit: 2 * (v / t) is finite
    v = xp.where(shifted, 0.5 * x - 0.5 * c, x)
    overflows = xp.where(shifted, xp.abs(v) > half_limit, xp.abs(v) > big * _capped(xp, warm_t, 1.0))
    q = xp.where(overflows, 0.0, v) / _unless_cold(xp, t, cold, 1.0)
    # Doubled only where shifted: an excluded entry of another slice may exceed
    # half the maximum, and 2 * q would overflow there (a warning, if discarded).
    q = xp.where(shifted, 2.0 * xp.where(shifted, q, 0.0), q)
    # No array of infinities: finite input must not make one (jax.debug_infs).
    return xp.where(overflows & (v > 0), xp.inf, xp.where(overflows, -xp.inf, q))


def temperature_shift(
    xp: Any, x: Any, t: Any, r: Reduction, *, where: Any | None = None
) -> tuple[Any, Any]:
    """Which slices :func:`divide_by_temperature` shifts, and their largest finite included entry.

    Both are reductions (``any``, ``max``): the values of the pieces of a
    slice combine with ``|`` and ``maximum`` into those of the slice.
    """
    warm_t = _unless_cold(xp, t, is_cold(xp, t, x.dtype), 0.0)
    half_limit = 0.5 * float(xp.finfo(x.dtype).max) * _capped(xp, warm_t, 2.0)
    finite = xp.isfinite(x) if where is None else (xp.isfinite(x) & where)
    return r.any(finite & (xp.abs(x) > half_limit)), r.max(xp.where(finite, x, -xp.inf))


def divide_gradient_by_temperature(xp: Any, grad: Any, t: Any) -> Any:
    """``grad / t``: a gradient with respect to ``x / t`` made one with respect to ``x``.

    With :func:`divide_by_temperature`'s cold rule: a temperature below the
    dtype of ``grad``'s smallest normal number is the ``T -> 0`` limit, where
    every quotient overflows but at 0 and NaN. So the gradient is ``+-inf``
    where it is nonzero, 0 where it is 0 (softmax's at a slice's single
    maximum, where the limit is flat) and NaN where NaN, on every library.
    (XLA on the CPU reads such a ``T`` as 0, and ``0 / 0`` is NaN.)
    """
    if isinstance(t, float) and t == 1.0:
        return grad
    cold = is_cold(xp, t, grad.dtype)
    q = grad / _unless_cold(xp, t, cold, 1.0)
    if isinstance(t, float) and not cold:
        return q
    # Where T is cold, q is the gradient itself, and its sign the limit's.
    return xp.where((q > 0) & cold, xp.inf, xp.where((q < 0) & cold, -xp.inf, q))


def is_cold(xp: Any, t: Any, dtype: Any) -> Any:
    """Where the temperature ``t`` (a float or an array) is below the smallest normal
    number of ``dtype``: the ``T -> 0`` limit of :func:`divide_by_temperature`."""
    return t < float(xp.finfo(dtype).smallest_normal)


def _unless_cold(xp: Any, t: Any, cold: Any, value: float) -> Any:
    """``t`` with ``value`` where it is ``cold``."""
    if isinstance(t, float):
        return value if cold else t
    return xp.where(cold, value, t)


def _capped(xp: Any, t: Any, upper: float) -> Any:
    """``min(t, upper)`` for a float or an array ``t``."""
    return min(t, upper) if isinstance(t, float) else xp.minimum(t, upper)


def softmax_from(xp: Any, s: Shifted) -> Any:
    """``exp(d) / sum(exp(d))``; an all -inf slice (norm 0) gives zeros."""
    norm_safe = xp.where(s.norm > 0, s.norm, 1.0)
    return with_nan_slices(xp, s.exp_diff / norm_safe, s.nan_slice)


def log_softmax_from(xp: Any, s: Shifted) -> Any:
    """``d - log(sum(exp(d)))``; an all -inf slice gives -inf."""
    log_norm_safe = xp.where(s.norm > 0, s.log_norm, 0.0)
    # (d - L) + d_lo: d <= 0 and L >= 0, so d - L never cancels.
    return with_nan_slices(xp, (s.diff - log_norm_safe) + s.diff_lo, s.nan_slice)


def softmax_vjp_from(xp: Any, y: Any, g: Any, *, log: bool, row_sum: Any = None) -> Any:
    """The gradient with respect to the logits of ``sum(g * y)``, where ``y`` is
    softmax over the last axis (``log``: log_softmax, ``y`` the log-probabilities).

    ``p * (g - sum(g p))`` for softmax, ``g - p * sum(g)`` for log_softmax.
    ``row_sum(v)`` sums ``v`` over the classes, keeping the axis (default: the
    last axis of ``v``; the distributed losses sum across ranks too).
    """

    def last_axis_sum(v: Any) -> Any:
        return xp.sum(v, axis=-1, keepdims=True)

    total = last_axis_sum if row_sum is None else row_sum
    if log:
        return g - xp.exp(y) * total(g)
    return y * (g - total(g * y))


def logsumexp_from(xp: Any, s: Shifted) -> Any:
    """``max + log(sum(exp(d)))`` with the reduced axes kept."""
    return with_nan_slices(xp, _shift_plus(xp, s.shift, s.log_norm), s.nan_slice)


def signed_logsumexp_from(xp: Any, s: Shifted) -> tuple[Any, Any]:
    """``(max + log|sum|, sign(sum))`` of a weighted sum that may be negative.

    The sign is 0 where the sum is 0 (the value is ``-inf`` there) and NaN
    where the value is NaN (as SciPy's and JAX's ``return_sign``).
    """
    positive = s.norm > 0
    # Where the sum is positive, log_norm is the accurate log(k) + log1p(t / k).
    log_abs = xp.where(positive, s.log_norm, _log_or_nan(xp, xp.abs(s.norm)))
    value = with_nan_slices(xp, _shift_plus(xp, s.shift, log_abs), s.nan_slice)
    # The NaN of a NaN value comes from the value itself: no NaN constant.
    return value, xp.where(xp.isnan(value), value, xp.sign(s.norm))


def _shift_plus(xp: Any, shift: Any, log_norm: Any) -> Any:
    """``shift + log_norm`` where ``shift = +inf`` with weights summing to 0 is NaN, without a warning."""
    at_inf = xp.isinf(shift)
    total = shift + xp.where(at_inf, 0.0, log_norm)
    return xp.where(at_inf & ~(log_norm > -xp.inf), xp.nan, total)


def with_nan_slices(xp: Any, values: Any, nan_slice: Any) -> Any:
    return xp.where(nan_slice, xp.nan, values)


def _log_or_nan(xp: Any, v: Any) -> Any:
    """``log(v)``: -inf at 0 and NaN below 0 (negative weights ``b``), without warnings.

    The non-finite values are written last, only where they belong (see
    :func:`shift_and_sum`).
    """
    positive = v > 0
    log_v = xp.where(v == 0, -xp.inf, xp.log(xp.where(positive, v, 1.0)))
    return xp.where(positive | (v == 0), log_v, xp.nan)


def _log1p_or_nan(xp: Any, r: Any) -> Any:
    """``log1p(r)``: -inf at -1 and NaN below -1, without warnings (as :func:`_log_or_nan`)."""
    valid = r > -1
    log1p_r = xp.where(r == -1, -xp.inf, xp.log1p(xp.where(valid, r, 0.0)))
    return xp.where(valid | (r == -1), log1p_r, xp.nan)


def _pairwise_two_sum(xp: Any, v: Any) -> Any:
    """The sum over the last axis of ``v`` (kept, length 1), added pairwise with TwoSum.

    Each level adds neighbours, ``s = a + b``, and carries the exact rounding
    error of each addition in a second array summed the same way; the two meet
    at the end. A level of odd length gets a zero appended. A non-finite sum
    (weights that overflow) is returned as the plain sum gives it.
    """
    if v.shape[-1] == 0:
        return xp.sum(v, axis=-1, keepdims=True)
    errors = None
    while v.shape[-1] > 1:
        if v.shape[-1] % 2:
            zero = xp.zeros_like(v[..., :1])
            v = xp.concat([v, zero], axis=-1)
            errors = None if errors is None else xp.concat([errors, zero], axis=-1)
        a, b = v[..., 0::2], v[..., 1::2]
        v = a + b
        error = two_sum_error(a, b, v)
        errors = error if errors is None else (errors[..., 0::2] + errors[..., 1::2]) + error
    if errors is None:
        return v
    return xp.where(xp.isfinite(v), v + errors, v)


def difference_error(xp: Any, x: Any, m: Any, d: Any) -> Any:
    """The exact rounding error of a finite ``d = fl(x - m)``, ``x - m - d``.

    Fast2Sum with the operand of the larger magnitude first: its one intermediate,
    ``d`` minus that operand, is the other operand rounded, so finite. (TwoSum in the
    order ``x, -m`` formed ``d - x``, about ``-m``, which overflowed where ``m`` is the
    largest finite value and ``d`` a tie rounded away from 0: NaN at
    ``[8.170265657957594e307, max]``; in the order ``-m, x`` the same at ``[-max,
    -8.199799318411708e307]``.) It also takes fewer array temporaries than TwoSum
    on swapped copies of the operands.

    Examples
    --------
    >>> import numpy as np
    >>> x, m = np.float64(1.0), np.float64(2.0**60)
    >>> float(difference_error(np, x, m, x - m))  # 1 - 2**60 rounds to -2**60
    1.0
    """
    x_larger = xp.abs(x) >= xp.abs(m)
    remainder = d - xp.where(x_larger, x, -m)
    return xp.where(x_larger, -m, x) - remainder


def two_sum_error(a: Any, b: Any, s: Any) -> Any:
    """The exact rounding error of ``s = fl(a + b)`` (Knuth's TwoSum)."""
    b_virtual = s - a
    a_virtual = s - b_virtual
    return (a - a_virtual) + (b - b_virtual)
