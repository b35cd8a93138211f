"""Triton kernel for cross-entropy fused with its gradient: one read of the logits.

One program per row, in ``ACC`` precision. The gradient is written with the
loss (``WRITE_GRAD``), optionally over the logits themselves (the launcher
passes the same buffer; every block is read before it is overwritten).
A row that fits in one block is read once. A longer row is swept twice: the
online normaliser (see ``_common``) in the first sweep, the gradient and the
loss terms that need the final normaliser in the second (so the second
sweep of a forward-only call without smoothing or probability targets is
skipped). A row whose class-index target is ``ignore_index`` is not read:
its loss and gradient are 0.

The formulas are ``softmaxkit.losses``'. Per row with class-index target
``y``, smoothing ``eps``, class weights ``w`` (ones if absent), ``W = sum(w)``,
``p = softmax(z)`` and ``logp = log_softmax(z)``:

    loss     = (1 - eps) * (-w[y] * logp[y]) + eps / C * sum_c(-w[c] * logp[c])
    dloss/dz = p * ((1 - eps) * w[y] + eps / C * W) - ((1 - eps) * w[y] * [c == y] + eps / C * w[c])

and for probability targets ``q`` (smoothed to ``(1 - eps) * q + eps / C``),
with ``a = w * q``:

    loss     = -sum_c a[c] * logp[c]        (a term with a[c] == 0 is 0, even at logp = -inf)
    dloss/dz = p * sum(a) - a

The "mean" reduction's gradient is divided by the denominator that the
launcher computes on the device beforehand (``sum of w[y]`` over the rows
that are not ignored, or the number of rows for probability targets), so
no value ever travels to the host.
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
)

# Layout of the small ACC tensor of per-call scalars (kept on the device so
# that float64 calls do not round them to float32 kernel arguments, and so
# that no value travels to the host); ``loss_scalars`` builds it.
ONE_MINUS_EPS = tl.constexpr(0)
EPS_OVER_C = tl.constexpr(1)
WEIGHT_TOTAL = tl.constexpr(2)
GRAD_SCALE = tl.constexpr(3)


@triton.jit
def _load_block(z_row, cols, n_cols, ACC: tl.constexpr, EVICT: tl.constexpr):
    """``(z, is_nan)``: the logits with NaN and the padding past the row set to ``-inf``."""
    in_row = cols < n_cols
    z = tl.load(z_row + cols, mask=in_row, other=float("-inf"), eviction_policy=EVICT).to(ACC)
    return tl.where(z == z, z, float("-inf")), in_row & (z != z)


@triton.jit
def _class_weights(weight_ptr, cols, n_cols, HAS_WEIGHT: tl.constexpr, ACC: tl.constexpr):
    in_row = cols < n_cols
    if HAS_WEIGHT:
        return tl.load(weight_ptr + cols, mask=in_row, other=0.0).to(ACC)
    else:
        return tl.where(in_row, 1.0, 0.0).to(ACC)


@triton.jit
def _target_mass(q_row, weight_ptr, cols, n_cols, one_minus_eps, eps_over_c,
                 HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr, ACC: tl.constexpr):  # fmt: skip
    """``a = w * q`` for probability targets (``q`` smoothed), 0 past the row."""
    in_row = cols < n_cols
    q = tl.load(q_row + cols, mask=in_row, other=0.0).to(ACC)
    if SMOOTH:
        q = tl.where(in_row, q * one_minus_eps + eps_over_c, 0.0)
    return q * _class_weights(weight_ptr, cols, n_cols, HAS_WEIGHT, ACC)


@triton.jit
def _block_terms(
    z, cols, n_cols, q_row, weight_ptr, y, w_y, m, log_norm, inv_norm, nan_row, mass_total,
    one_minus_eps, eps_over_c, grad_scale,
    CLASS_INDICES: tl.constexpr, HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr,
    ACC: tl.constexpr, FMAX: tl.constexpr, COMPENSATE: tl.constexpr,
):  # fmt: skip
    """For one block of a row, given the row's normaliser: the loss terms to
    sum (without the class-index ``-w[y] * logp[y]`` term) and the gradient."""
    d, d_lo = diff_from_max(z, m, FMAX, COMPENSATE)
    logp = d - log_norm
    if COMPENSATE:
        logp = logp + d_lo
    logp = tl.where(nan_row, float("nan"), logp)
    p = tl.where(nan_row, float("nan"), compensated_exp(d, d_lo, COMPENSATE) * inv_norm)
    if CLASS_INDICES:
        w = _class_weights(weight_ptr, cols, n_cols, HAS_WEIGHT, ACC)
        at_target = cols == y
        if SMOOTH:
            terms = tl.where(w == 0.0, 0.0, logp) * w
            row_scale = one_minus_eps * w_y + eps_over_c * mass_total
            grad = p * row_scale - (tl.where(at_target, one_minus_eps * w_y, 0.0) + eps_over_c * w)
        else:
            terms = tl.zeros_like(logp)
            grad = p * w_y - tl.where(at_target, w_y, 0.0)
    else:
        a = _target_mass(q_row, weight_ptr, cols, n_cols, one_minus_eps, eps_over_c,
                         HAS_WEIGHT, SMOOTH, ACC)  # fmt: skip
        terms = a * tl.where(a == 0.0, 0.0, logp)
        grad = p * mass_total - a
    return terms, grad * grad_scale


@triton.jit
def cross_entropy_kernel(
    z_ptr, target_ptr, weight_ptr, scalars_ptr, loss_ptr, grad_ptr,
    n_cols, z_row_stride, target_row_stride, grad_row_stride, ignore_index,
    CLASS_INDICES: tl.constexpr, HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr,
    WRITE_GRAD: tl.constexpr, BLOCK: tl.constexpr, SINGLE_BLOCK: tl.constexpr,
    ACC: tl.constexpr, FMAX: tl.constexpr, COMPENSATE: tl.constexpr,
):  # fmt: skip
    """Per-row loss (``loss_ptr``, unreduced, ACC) and, with ``WRITE_GRAD``,
    the gradient of the reduced loss (``grad_ptr``, the logits' dtype)."""
    z_row, grad_row = row_start(z_ptr, z_row_stride), row_start(grad_ptr, grad_row_stride)
    q_row, loss_row = row_start(target_ptr, target_row_stride), row_start(loss_ptr, 1)
    cols = tl.arange(0, BLOCK)
    one_minus_eps = tl.load(scalars_ptr + ONE_MINUS_EPS)
    eps_over_c = tl.load(scalars_ptr + EPS_OVER_C)
    grad_scale = tl.load(scalars_ptr + GRAD_SCALE)

    y = 0
    w_y = tl.zeros((), ACC)
    valid = True
    bad_target = False
    z_y = tl.zeros((), ACC)
    if CLASS_INDICES:
        y = tl.load(q_row)
        valid = y != ignore_index
        if not valid:
            tl.store(loss_row, tl.zeros((), ACC))
            if WRITE_GRAD:
                for start in range(0, n_cols, BLOCK):
                    tl.store(grad_row + start + cols, tl.zeros((BLOCK,), grad_ptr.dtype.element_ty),
                             mask=cols < n_cols - start)  # fmt: skip
            return
        # An index out of range (possible only when the launcher did not
        # validate) reads nothing out of bounds and makes its row NaN.
        bad_target = (y < 0) | (y >= n_cols)
        y = tl.where(bad_target, 0, y)
        z_y = tl.load(z_row + y).to(ACC)  # before any gradient overwrites it
        z_y = tl.where(z_y == z_y, z_y, float("-inf"))
        if HAS_WEIGHT:
            w_y = tl.load(weight_ptr + y).to(ACC)
        else:
            w_y = tl.full((), 1.0, ACC)

    if SINGLE_BLOCK:
        z, is_nan = _load_block(z_row, cols, n_cols, ACC, "")
        m = tl.max(z, 0)
        d, d_lo = diff_from_max(z, m, FMAX, COMPENSATE)
        k, t = block_stats(z, d, d_lo, 0, COMPENSATE)
        nan_row = tl.max(is_nan.to(tl.int32), 0) > 0
        if CLASS_INDICES:
            mass_total = tl.load(scalars_ptr + WEIGHT_TOTAL)
        else:
            mass_total = tl.sum(_target_mass(q_row, weight_ptr, cols, n_cols, one_minus_eps,
                                             eps_over_c, HAS_WEIGHT, SMOOTH, ACC), 0)  # fmt: skip
        terms, grad = _block_terms(
            z, cols, n_cols, q_row, weight_ptr, y, w_y, m, log_normaliser(k, t),
            inverse_normaliser(k, t), nan_row, mass_total, one_minus_eps, eps_over_c, grad_scale,
            CLASS_INDICES, HAS_WEIGHT, SMOOTH, ACC, FMAX, COMPENSATE,
        )  # fmt: skip
        terms_sum = tl.sum(terms, 0)
        if WRITE_GRAD:
            grad = tl.where(bad_target, float("nan"), grad)
            tl.store(grad_row + cols, grad.to(grad_ptr.dtype.element_ty), mask=cols < n_cols)
    else:
        m_lane = tl.full((BLOCK,), float("-inf"), ACC)
        k_lane = tl.zeros((BLOCK,), ACC)
        t_lane = tl.zeros((BLOCK,), ACC)
        nan_lane = tl.zeros((BLOCK,), tl.int32)
        mass_lane = tl.zeros((BLOCK,), ACC)
        for start in range(0, n_cols, BLOCK):
            z, is_nan = _load_block(z_row + start, cols, n_cols - start, ACC, "evict_last")
            m_lane, k_lane, t_lane = fold_entries(m_lane, k_lane, t_lane, z, COMPENSATE)
            nan_lane = nan_lane | is_nan.to(tl.int32)
            if not CLASS_INDICES:
                mass_lane += _target_mass(q_row + start, weight_ptr + start, cols, n_cols - start,
                                          one_minus_eps, eps_over_c, HAS_WEIGHT, SMOOTH, ACC)  # fmt: skip
        m, k, t = reduce_stats(m_lane, k_lane, t_lane, 0, COMPENSATE)
        nan_row = tl.max(nan_lane, 0) > 0
        if CLASS_INDICES:
            mass_total = tl.load(scalars_ptr + WEIGHT_TOTAL)
        else:
            mass_total = tl.sum(mass_lane, 0)
        log_norm = log_normaliser(k, t)
        inv_norm = inverse_normaliser(k, t)
        terms_lane = tl.zeros((BLOCK,), ACC)
        if WRITE_GRAD or SMOOTH or not CLASS_INDICES:
            for start in range(0, n_cols, BLOCK):
                z, is_nan = _load_block(z_row + start, cols, n_cols - start, ACC, "evict_first")
                terms, grad = _block_terms(
                    z, cols, n_cols - start, q_row + start, weight_ptr + start, y - start, w_y,
                    m, log_norm, inv_norm, nan_row, mass_total, one_minus_eps, eps_over_c,
                    grad_scale, CLASS_INDICES, HAS_WEIGHT, SMOOTH, ACC, FMAX, COMPENSATE,
                )  # fmt: skip
                terms_lane += terms
                if WRITE_GRAD:
                    grad = tl.where(bad_target, float("nan"), grad)
                    tl.store(grad_row + start + cols, grad.to(grad_ptr.dtype.element_ty),
                             mask=cols < n_cols - start)  # fmt: skip
        terms_sum = tl.sum(terms_lane, 0)

    loss = -terms_sum
    if CLASS_INDICES:
        d_y, d_lo_y = diff_from_max(z_y, m, FMAX, COMPENSATE)
        logp_y = d_y - log_normaliser(k, t)
        if COMPENSATE:
            logp_y = logp_y + d_lo_y
        # -w[y] * logp[y]; a zero weight at logp[y] = -inf gives NaN, as in softmaxkit.
        nll = tl.where((w_y == 0.0) & (logp_y == float("-inf")), float("nan"),
                       -tl.where(w_y == 0.0, 0.0, logp_y) * w_y)  # fmt: skip
        if SMOOTH:
            loss = one_minus_eps * nll + eps_over_c * loss
        else:
            loss = nll
        loss = tl.where(nan_row | bad_target, float("nan"), loss)
    tl.store(loss_row, loss)
