"""Triton device functions shared by the softmax and cross-entropy kernels.

They carry softmaxkit's edge-case policy (``softmaxkit._stable``) into the
kernels, so that every kernel treats ``-inf``, ``+inf``, NaN and excluded
entries the same way:

* A *partial normaliser* of a set of logits is ``(m, k, t)``: ``m`` the
  maximum, ``k`` how many entries equal ``m`` (0 when ``m`` is ``-inf``) and
  ``t`` the sum of ``exp(z - m)`` over the entries below ``m``. Two partial
  normalisers merge exactly (:func:`merge_stats`), which is the online
  (single-read) softmax: a long row is folded block by block, lane by lane,
  and the lanes are merged at the end with ``tl.reduce``.
* Splitting the normaliser as ``k + t`` keeps ``log(k + t) = log k +
  log1p(t / k)`` accurate when the maximum dominates (SciPy issue 19521).
* A ``+inf`` maximum takes the limit: the ``+inf`` entries share the mass
  (``k`` of them, each ``exp(0)``) and every other entry gets
  ``exp(-inf) = 0``. An all ``-inf`` slice has ``k = t = 0``.

No function here evaluates ``inf - inf``, ``0 / 0`` or an overflowing
subtraction, even in the lanes that a ``tl.where`` throws away: on a GPU that
would only cost a NaN that is discarded, but Triton's interpreter runs on
NumPy, whose floating-point warnings are errors in the test suite, and a
warning there usually means a NaN that was not discarded.
"""

from __future__ import annotations

import triton
import triton.language as tl

# exp(-_HALF_RANGE) is 0 in float32 and float64 alike, and 2 * _HALF_RANGE
# is finite in both. (A global read by a kernel must be a tl.constexpr
# object: the compiler refuses a plain or annotated global, which the
# interpreter accepts.)
_HALF_RANGE = tl.constexpr(1e38)


@triton.jit
def exp_below(lo, hi, COMPENSATE: tl.constexpr):
    """``exp(lo - hi)`` for ``lo <= hi`` (1 where they are equal, 0 where ``lo``
    is ``-inf`` or ``hi`` is ``+inf``), without ``inf - inf`` or overflow.

    ``lo - hi`` can only overflow when the signs differ; then both are
    clamped to ``[-_HALF_RANGE, _HALF_RANGE]``, which keeps a clamped
    difference at most ``-_HALF_RANGE`` (its exponential stays 0) and leaves
    an unclamped one exact. (Clamping ``lo`` to ``hi - constant`` instead
    fails near the top of the range, where ``hi - constant`` rounds to
    ``hi``.) With ``COMPENSATE`` the rounding error of ``lo - hi`` is
    recovered by TwoSum and applied to first order, as
    ``_stable.shift_by_max`` does in float64.
    """
    finite = (lo > float("-inf")) & (hi < float("inf")) & (lo != hi)
    hi_s = tl.where(finite, hi, 0.0)
    lo_s = tl.where(finite, lo, 0.0)
    opposite = (lo_s < 0.0) & (hi_s > 0.0)
    hi_s = tl.where(opposite, tl.minimum(hi_s, _HALF_RANGE), hi_s)
    lo_s = tl.where(opposite, tl.maximum(lo_s, -_HALF_RANGE), lo_s)
    d = lo_s - hi_s
    e = tl.exp(d)
    if COMPENSATE:
        e = e + e * difference_error(lo_s, hi_s, d)
    return tl.where(finite, e, tl.where(lo == hi, 1.0, 0.0))


@triton.jit
def merge_stats(m1, k1, t1, m2, k2, t2, COMPENSATE: tl.constexpr):
    """Merge two partial normalisers ``(m, k, t)`` (see the module docstring)."""
    hi = tl.maximum(m1, m2)
    e = exp_below(tl.minimum(m1, m2), hi, COMPENSATE)
    first_higher = m1 > m2
    second_higher = m2 > m1
    k = tl.where(first_higher, k1, tl.where(second_higher, k2, k1 + k2))
    t = tl.where(
        first_higher,
        t1 + (k2 + t2) * e,
        tl.where(second_higher, t2 + (k1 + t1) * e, t1 + t2),
    )
    return hi, k, t


@triton.jit
def fold_entries(m, k, t, z, COMPENSATE: tl.constexpr):
    """Merge one block of entries ``z`` lane by lane into the lanes' partial
    normalisers (each entry is ``(z, 1, 0)``, or empty where it is ``-inf``)."""
    one = tl.where(z > float("-inf"), 1.0, 0.0).to(t.dtype)
    return merge_stats(m, k, t, z, one, tl.zeros_like(one), COMPENSATE)


@triton.jit
def merge_stats_compensated(m1, k1, t1, m2, k2, t2):
    """:func:`merge_stats` with compensated exponentials (a ``tl.reduce`` combiner)."""
    return merge_stats(m1, k1, t1, m2, k2, t2, True)


@triton.jit
def merge_stats_plain(m1, k1, t1, m2, k2, t2):
    """:func:`merge_stats` without compensation (a ``tl.reduce`` combiner)."""
    return merge_stats(m1, k1, t1, m2, k2, t2, False)


@triton.jit
def row_start(ptr, row_stride):
    """Where this program's row of a row-major tensor starts: program ``r``
    takes row ``r``, its offset formed in int64 (``r * row_stride`` passes
    2**31 elements in a large tensor, where int32 would wrap)."""
    return ptr + tl.program_id(0).to(tl.int64) * row_stride


@triton.jit
def reduce_stats(m, k, t, axis: tl.constexpr, COMPENSATE: tl.constexpr):
    """Merge the partial normalisers of the lanes along ``axis``."""
    if COMPENSATE:
        return tl.reduce((m, k, t), axis, merge_stats_compensated)
    else:
        return tl.reduce((m, k, t), axis, merge_stats_plain)


@triton.jit
def difference_error(x, m, d):
    """The exact rounding error of a finite ``d = fl(x - m)``: Fast2Sum with the
    operand of the larger magnitude first, so that no intermediate overflows
    (``_stable.difference_error``)."""
    x_larger = tl.abs(x) >= tl.abs(m)
    return tl.where(x_larger, -m, x) - (d - tl.where(x_larger, x, -m))


@triton.jit
def shift_of(m):
    """The shift ``_stable`` subtracts: the maximum, or 0 when it is infinite."""
    return tl.where((m == float("inf")) | (m == float("-inf")), 0.0, m)


@triton.jit
def diff_from_max(z, m, FMAX: tl.constexpr, COMPENSATE: tl.constexpr):
    """``(d, d_lo)``: ``d = z - shift`` rounded, with ``_stable``'s limits, and
    its rounding error ``d_lo`` (0 unless ``COMPENSATE``).

    ``m`` is the maximum of ``z``'s slice (broadcast against ``z``). ``d`` is 0
    at the maximum, ``-inf`` at ``-inf`` entries and where ``z - shift``
    overflows, and for a ``+inf`` maximum 0 at the ``+inf`` entries and
    ``-inf`` elsewhere.
    """
    shift = shift_of(m)
    # Below `lowest`, z - shift would overflow to -inf: clamp first, then put
    # the -inf (the correctly rounded value) back.
    lowest = tl.maximum(shift, 0.0) - FMAX
    z_finite = tl.where((z == float("inf")) | (z < lowest), 0.0, z)
    rounded = z_finite - shift
    d = tl.where(z < lowest, float("-inf"), rounded)
    d = tl.where(m == float("inf"), tl.where(z == float("inf"), 0.0, float("-inf")), d)
    if COMPENSATE:
        d_lo = tl.where(d > float("-inf"), difference_error(z_finite, shift, rounded), 0.0)
    else:
        d_lo = tl.zeros_like(d)
    return d, d_lo


@triton.jit
def log1p_nonneg(u):
    """``log1p(u)`` for ``u >= 0`` from ``log`` (Goldberg's trick), accurate for tiny ``u``."""
    w = 1.0 + u
    tiny = w == 1.0
    return tl.where(tiny, u, tl.log(w) * (u / tl.where(tiny, 1.0, w - 1.0)))


@triton.jit
def log_normaliser(k, t):
    """``log(k + t)``, keeping relative accuracy when ``k`` dominates; 0 for an
    empty normaliser (``k + t == 0``, an all ``-inf`` slice), which makes
    ``d - log_normaliser`` the ``-inf`` that ``_stable.log_softmax_from`` gives.
    """
    k_safe = tl.where(k > 0, k, 1.0)
    return tl.where(k > 0, tl.log(k_safe) + log1p_nonneg(t / k_safe), 0.0)


@triton.jit
def inverse_normaliser(k, t):
    """``1 / (k + t)``, or 1 for an empty normaliser (softmax of an all ``-inf`` slice is 0)."""
    norm = k + t
    return 1.0 / tl.where(norm > 0, norm, 1.0)


@triton.jit
def compensated_exp(d, d_lo, COMPENSATE: tl.constexpr):
    """``exp(d + d_lo)`` to first order in ``d_lo``."""
    e = tl.exp(d)
    if COMPENSATE:
        e = e + e * d_lo
    return e


@triton.jit
def block_stats(z, d, d_lo, axis: tl.constexpr, COMPENSATE: tl.constexpr):
    """``(k, t)`` of a slice that lies whole in registers, given ``d`` from
    :func:`diff_from_max` against the slice's own maximum."""
    at_max = d == 0.0
    e = compensated_exp(d, d_lo, COMPENSATE)
    k = tl.sum(at_max.to(e.dtype), axis)
    t = tl.sum(tl.where(at_max, 0.0, e), axis)
    return k, t
