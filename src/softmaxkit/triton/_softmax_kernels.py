"""Triton kernels for softmax, log_softmax and logsumexp, forward and backward.

One program per row. A row that fits in one block (``SINGLE_BLOCK``) is
loaded once into registers: max, normaliser and output from the same
registers, one read and one write of global memory. A longer row takes the
online path: a first sweep folds every block into per-lane partial
normalisers (max, count at the max, sum below it; see ``_common``), which
are merged across lanes at the end, so the row is read once for its
statistics; a second sweep reads it again and writes the output. The first
sweep's loads ask the cache to keep the row (``evict_last``) so that the
second sweep finds it in L2 where it fits. logsumexp is the first sweep
alone: ``shift + log(k + t)`` per row.

Values are computed in ``ACC`` (float32 for float16, bfloat16 and float32
input; float64 for float64 input, with the compensated subtraction of the
maximum that ``softmaxkit._stable`` uses in float64).
"""

from __future__ import annotations

import triton
import triton.language as tl

from ._common import (
    block_stats,
    compensated_exp,
    diff_from_max,
    fold_entries,
    inverse_normaliser,
    log_normaliser,
    reduce_stats,
    row_start,
    shift_of,
)


@triton.jit
def _load_logits(
    x_row, t_row, mask_row, cols, n_cols, mask_col_stride,
    HAS_T: tl.constexpr, HAS_MASK: tl.constexpr, ACC: tl.constexpr, EVICT: tl.constexpr,
):  # fmt: skip
    """One block of a row as ``(z, is_nan)``: ``z = x / T`` with excluded
    entries (mask False, past the end) and NaNs set to ``-inf``; ``is_nan``
    marks the NaNs that are not excluded."""
    in_row = cols < n_cols
    x = tl.load(x_row + cols, mask=in_row, other=float("-inf"), eviction_policy=EVICT).to(ACC)
    if HAS_T:
        x = x / tl.load(t_row).to(ACC)
    keep = in_row
    if HAS_MASK:
        keep = keep & (tl.load(mask_row + cols * mask_col_stride, mask=in_row, other=0) != 0)
    is_nan = keep & (x != x)
    z = tl.where(keep & (x == x), x, float("-inf"))
    return z, is_nan


@triton.jit
def _softmax_values(d, d_lo, k, t, nan_row, LOG: tl.constexpr, COMPENSATE: tl.constexpr):
    if LOG:
        y = d - log_normaliser(k, t)
        if COMPENSATE:
            y = y + d_lo
    else:
        y = compensated_exp(d, d_lo, COMPENSATE) * inverse_normaliser(k, t)
    return tl.where(nan_row, float("nan"), y)


@triton.jit
def _online_stats(
    x_row, t_row, mask_row, cols, n_cols, mask_col_stride,
    HAS_T: tl.constexpr, HAS_MASK: tl.constexpr, BLOCK: tl.constexpr, ACC: tl.constexpr,
    COMPENSATE: tl.constexpr, EVICT: tl.constexpr,
):  # fmt: skip
    """A long row's ``(m, k, t, nan_row)`` from one sweep of blocks, folded lane
    by lane into partial normalisers that are merged at the end."""
    m_lane = tl.full((BLOCK,), float("-inf"), ACC)
    k_lane = tl.zeros((BLOCK,), ACC)
    t_lane = tl.zeros((BLOCK,), ACC)
    nan_lane = tl.zeros((BLOCK,), tl.int32)
    for start in range(0, n_cols, BLOCK):
        z, is_nan = _load_logits(
            x_row + start, t_row, mask_row + start * mask_col_stride, cols,
            n_cols - start, mask_col_stride, HAS_T, HAS_MASK, ACC, EVICT,
        )  # fmt: skip
        m_lane, k_lane, t_lane = fold_entries(m_lane, k_lane, t_lane, z, COMPENSATE)
        nan_lane = nan_lane | is_nan.to(tl.int32)
    m, k, t = reduce_stats(m_lane, k_lane, t_lane, 0, COMPENSATE)
    return m, k, t, tl.max(nan_lane, 0) > 0


@triton.jit
def softmax_forward_kernel(
    x_ptr, y_ptr, t_ptr, mask_ptr,
    n_cols, x_row_stride, y_row_stride, t_row_stride, mask_row_stride, mask_col_stride,
    LOG: tl.constexpr, HAS_T: tl.constexpr, HAS_MASK: tl.constexpr,
    BLOCK: tl.constexpr, SINGLE_BLOCK: tl.constexpr,
    ACC: tl.constexpr, FMAX: tl.constexpr, COMPENSATE: tl.constexpr,
):  # fmt: skip
    """``y[r] = softmax(x[r] / T[r])`` (or log_softmax) over the columns of row ``r``."""
    x_row, y_row = row_start(x_ptr, x_row_stride), row_start(y_ptr, y_row_stride)
    t_row, mask_row = row_start(t_ptr, t_row_stride), row_start(mask_ptr, mask_row_stride)
    cols = tl.arange(0, BLOCK)
    if SINGLE_BLOCK:
        z, is_nan = _load_logits(
            x_row, t_row, mask_row, cols, n_cols, mask_col_stride, HAS_T, HAS_MASK, ACC, ""
        )
        m = tl.max(z, 0)
        d, d_lo = diff_from_max(z, m, FMAX, COMPENSATE)
        k, t = block_stats(z, d, d_lo, 0, COMPENSATE)
        nan_row = tl.max(is_nan.to(tl.int32), 0) > 0
        y = _softmax_values(d, d_lo, k, t, nan_row, LOG, COMPENSATE)
        tl.store(y_row + cols, y.to(y_ptr.dtype.element_ty), mask=cols < n_cols)
    else:
        m, k, t, nan_row = _online_stats(
            x_row, t_row, mask_row, cols, n_cols, mask_col_stride, HAS_T, HAS_MASK, BLOCK, ACC,
            COMPENSATE, "evict_last",
        )  # fmt: skip
        for start in range(0, n_cols, BLOCK):
            z, is_nan = _load_logits(
                x_row + start, t_row, mask_row + start * mask_col_stride, cols,
                n_cols - start, mask_col_stride, HAS_T, HAS_MASK, ACC, "evict_first",
            )  # fmt: skip
            d, d_lo = diff_from_max(z, m, FMAX, COMPENSATE)
            y = _softmax_values(d, d_lo, k, t, nan_row, LOG, COMPENSATE)
            tl.store(y_row + start + cols, y.to(y_ptr.dtype.element_ty), mask=cols < n_cols - start)


@triton.jit
def logsumexp_kernel(
    x_ptr, out_ptr, t_ptr, mask_ptr,
    n_cols, x_row_stride, t_row_stride, mask_row_stride, mask_col_stride,
    HAS_T: tl.constexpr, HAS_MASK: tl.constexpr, BLOCK: tl.constexpr, ACC: tl.constexpr,
    COMPENSATE: tl.constexpr,
):  # fmt: skip
    """``out[r] = logsumexp(x[r] / T[r])`` over the columns of row ``r``, with
    ``_stable.logsumexp_from``'s limits: ``-inf`` for a row with no entry (all
    ``-inf`` or excluded), ``+inf`` for a row holding ``+inf``, NaN for a NaN.

    The row is read once, by the online sweep (one block when it fits one):
    nothing is written per entry, so no second read needs the row in registers."""
    m, k, t, nan_row = _online_stats(
        row_start(x_ptr, x_row_stride), row_start(t_ptr, t_row_stride),
        row_start(mask_ptr, mask_row_stride), tl.arange(0, BLOCK), n_cols, mask_col_stride, HAS_T, HAS_MASK, BLOCK, ACC, COMPENSATE,
        "evict_first",
    )  # fmt: skip
    # log_normaliser is 0 for an empty row, and the shift of a +inf maximum is
    # 0 (so that no inf - inf is formed): both limits are put in here.
    lse = shift_of(m) + log_normaliser(k, t)
    lse = tl.where(k + t > 0, lse, float("-inf"))
    lse = tl.where(m == float("inf"), float("inf"), lse)
    lse = tl.where(nan_row, float("nan"), lse)
    tl.store(row_start(out_ptr, 1), lse.to(out_ptr.dtype.element_ty))


@triton.jit
def _load_vjp_block(
    y_row, g_row, mask_row, cols, n_cols, mask_col_stride,
    LOG: tl.constexpr, HAS_MASK: tl.constexpr, ACC: tl.constexpr, EVICT: tl.constexpr,
):  # fmt: skip
    """``(y, g, keep)`` for one block; ``g`` is 0 where excluded (whatever it held)."""
    in_row = cols < n_cols
    pad = float("-inf") if LOG else 0.0
    y = tl.load(y_row + cols, mask=in_row, other=pad, eviction_policy=EVICT).to(ACC)
    g = tl.load(g_row + cols, mask=in_row, other=0.0, eviction_policy=EVICT).to(ACC)
    keep = in_row
    if HAS_MASK:
        keep = keep & (tl.load(mask_row + cols * mask_col_stride, mask=in_row, other=0) != 0)
        g = tl.where(keep, g, 0.0)
    return y, g, keep


@triton.jit
def _vjp_values(y, g, s, t_row, keep, LOG: tl.constexpr, HAS_T: tl.constexpr, ACC: tl.constexpr):
    # softmax:     dx = y * (g - sum(g * y)) / T
    # log_softmax: dx = (g - exp(logp) * sum(g)) / T
    if LOG:
        grad = g - tl.exp(y) * s
    else:
        grad = y * (g - s)
    if HAS_T:
        grad = grad / tl.load(t_row).to(ACC)
    return tl.where(keep, grad, 0.0)


@triton.jit
def _vjp_terms(y, g, LOG: tl.constexpr):
    """What the row sum of the VJP adds up: ``g`` (log_softmax) or ``g * y`` (softmax)."""
    if LOG:
        return g
    else:
        return g * y


@triton.jit
def softmax_backward_kernel(
    y_ptr, g_ptr, dx_ptr, t_ptr, mask_ptr,
    n_cols, y_row_stride, g_row_stride, dx_row_stride, t_row_stride,
    mask_row_stride, mask_col_stride,
    LOG: tl.constexpr, HAS_T: tl.constexpr, HAS_MASK: tl.constexpr,
    BLOCK: tl.constexpr, SINGLE_BLOCK: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    """The vector-Jacobian product of softmax (``y``) or log_softmax (``y = logp``) per row."""
    y_row, g_row = row_start(y_ptr, y_row_stride), row_start(g_ptr, g_row_stride)
    dx_row = row_start(dx_ptr, dx_row_stride)
    t_row, mask_row = row_start(t_ptr, t_row_stride), row_start(mask_ptr, mask_row_stride)
    cols = tl.arange(0, BLOCK)
    if SINGLE_BLOCK:
        y, g, keep = _load_vjp_block(
            y_row, g_row, mask_row, cols, n_cols, mask_col_stride, LOG, HAS_MASK, ACC, ""
        )
        s = tl.sum(_vjp_terms(y, g, LOG), 0)
        dx = _vjp_values(y, g, s, t_row, keep, LOG, HAS_T, ACC)
        tl.store(dx_row + cols, dx.to(dx_ptr.dtype.element_ty), mask=cols < n_cols)
    else:
        s_lane = tl.zeros((BLOCK,), ACC)
        for start in range(0, n_cols, BLOCK):
            y, g, keep = _load_vjp_block(
                y_row + start, g_row + start, mask_row + start * mask_col_stride, cols,
                n_cols - start, mask_col_stride, LOG, HAS_MASK, ACC, "evict_last",
            )  # fmt: skip
            s_lane += _vjp_terms(y, g, LOG)
        s = tl.sum(s_lane, 0)
        for start in range(0, n_cols, BLOCK):
            y, g, keep = _load_vjp_block(
                y_row + start, g_row + start, mask_row + start * mask_col_stride, cols,
                n_cols - start, mask_col_stride, LOG, HAS_MASK, ACC, "evict_first",
            )  # fmt: skip
            dx = _vjp_values(y, g, s, t_row, keep, LOG, HAS_T, ACC)
            tl.store(dx_row + start + cols, dx.to(dx_ptr.dtype.element_ty), mask=cols < n_cols - start)
