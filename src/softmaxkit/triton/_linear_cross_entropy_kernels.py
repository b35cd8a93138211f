"""Triton kernels for cross-entropy of ``hidden @ classifier.T + bias`` that never store the logits.

The Cut Cross-Entropy idea (Wijmans et al., arXiv 2411.09009): the logits
are computed tile by tile (``BLOCK_N`` tokens x ``BLOCK_V`` classes, reduced
over the hidden size in ``BLOCK_D`` steps on the tensor cores) and consumed
in registers; neither logits nor probabilities ever reach global memory.

Forward (``linear_ce_forward_kernel``): program ``(row block, vocab split)``
sweeps its share of the classes and keeps, per row, the partial normaliser
``(m, k, t)`` of ``_common``, the target's logit and ``sum_c w[c] * z[c]``
(for label smoothing). ``linear_ce_combine_kernel`` merges the splits into
the per-row loss and ``lse = logsumexp(z)``, which the backward reuses.
Splitting the vocabulary (instead of CCE's lock-protected ``logaddexp``
into one buffer) keeps the forward deterministic and lock-free while giving
enough programs to fill the GPU when there are few row blocks.

Backward (``linear_ce_backward_kernel``): one program per tile recomputes
its logits, forms ``G = dloss/dz`` for the tile from ``lse`` (the formula of
``_cross_entropy_kernels``) and adds ``G @ classifier[tile]`` into the
hidden gradient and ``G.T @ hidden[tile]`` into the classifier gradient
with float32 atomics (float64 for float64 input). Tiles are visited in
groups of ``GROUP_N`` row blocks so that a classifier tile is reused from L2.
``G`` enters the tensor-core products in the input dtype, as CCE does.

Gradient filtering (``FILTER``): a tile whose every ``|G|`` (before the
``grad_output`` and mean scaling ``s_i``) is below ``filter_eps`` is
skipped. The dropped part ``E`` of ``dloss/dz`` then has
``|E_ij| < filter_eps * |s_i|``, so the gradients move by at most

    |d hidden[i, d]|     <= filter_eps * |s_i| * sum_j |classifier[j, d]|
    |d classifier[j, d]| <= filter_eps * sum_i |s_i| * |hidden[i, d]|
    |d bias[j]|          <= filter_eps * sum_i |s_i|

(sums over the skipped tiles only; tests check the bound). In bfloat16 the
default ``2**-12`` (CCE's ``eps / 32``) is below the rounding of any
gradient entry near 1 (``2**-9``), and in a trained language model nearly
every tile away from the target and the few likely classes is skipped.

Inputs are expected finite: a NaN in a row's logits makes that row NaN;
infinite logits (from infinite inputs) give what IEEE arithmetic gives.
"""

from __future__ import annotations

import triton
import triton.language as tl

from ._common import block_stats, diff_from_max, log_normaliser, merge_stats
from ._cross_entropy_kernels import EPS_OVER_C, GRAD_SCALE, ONE_MINUS_EPS, WEIGHT_TOTAL

# Fields of the partial results of the forward, shape (N_FIELDS, splits, rows)
# (constexpr objects: a kernel may read no other global).
F_MAX = tl.constexpr(0)
F_COUNT = tl.constexpr(1)
F_BELOW = tl.constexpr(2)
F_TARGET_LOGIT = tl.constexpr(3)
F_WEIGHTED_SUM = tl.constexpr(4)
F_NAN = tl.constexpr(5)
N_FIELDS = 6


@triton.jit
def _dot(a, b, acc, UPCAST: tl.constexpr, IEEE: tl.constexpr):
    """``acc + a @ b``. ``IEEE`` (float32 input) asks for full float32
    products, as torch's default float32 matmul, not TF32. ``UPCAST`` (set
    only under Triton 3.9's interpreter, whose ``tl.dot`` multiplies the raw
    uint16 bits of bfloat16 operands) computes the same exact products in
    float32."""
    if UPCAST:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), acc)
    elif IEEE:
        return tl.dot(a, b, acc, input_precision="ieee")
    else:
        return tl.dot(a, b, acc)


@triton.jit
def _logits_tile(
    h_ptr, c_ptr, bias_ptr, rows, cls, row_ok, cls_ok, hidden, h_row_stride, c_row_stride,
    HAS_BIAS: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_D: tl.constexpr,
    ACC: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
):  # fmt: skip
    """``hidden[rows] @ classifier[cls].T + bias[cls]`` in ACC, ``-inf`` past the classes."""
    acc = tl.zeros((BLOCK_N, BLOCK_V), ACC)
    for d0 in range(0, hidden, BLOCK_D):
        dd = d0 + tl.arange(0, BLOCK_D)
        d_ok = dd < hidden
        h = tl.load(h_ptr + rows[:, None] * h_row_stride + dd[None, :],
                    mask=row_ok[:, None] & d_ok[None, :], other=0.0)  # fmt: skip
        c = tl.load(c_ptr + cls[None, :] * c_row_stride + dd[:, None],
                    mask=cls_ok[None, :] & d_ok[:, None], other=0.0)  # fmt: skip
        acc = _dot(h, c, acc, UPCAST, IEEE)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + cls, mask=cls_ok, other=0.0).to(ACC)[None, :]
    return tl.where(cls_ok[None, :], acc, float("-inf"))


@triton.jit
def _row_targets(target_ptr, weight_ptr, rows, row_ok, n_classes, ignore_index,
                 HAS_WEIGHT: tl.constexpr, ACC: tl.constexpr):  # fmt: skip
    """``(y, valid, w_y)``: target (0 where not valid), not ignored, its class weight (0 if ignored)."""
    y = tl.load(target_ptr + rows, mask=row_ok, other=ignore_index).to(tl.int64)
    valid = row_ok & (y != ignore_index)
    y = tl.where(valid & (y >= 0) & (y < n_classes), y, 0)
    if HAS_WEIGHT:
        w_y = tl.load(weight_ptr + y, mask=valid, other=0.0).to(ACC)
    else:
        w_y = tl.where(valid, 1.0, 0.0).to(ACC)
    return y, valid, w_y


@triton.jit
def linear_ce_forward_kernel(
    h_ptr, c_ptr, bias_ptr, target_ptr, weight_ptr, partial_ptr,
    n_rows, n_classes, hidden, h_row_stride, c_row_stride, classes_per_split, ignore_index,
    HAS_BIAS: tl.constexpr, HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_D: tl.constexpr,
    ACC: tl.constexpr, FMAX: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
):  # fmt: skip
    pid_n = tl.program_id(0)
    split = tl.program_id(1)
    n_splits = tl.num_programs(1)
    rows = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)).to(tl.int64)
    row_ok = rows < n_rows
    y, valid, w_y = _row_targets(target_ptr, weight_ptr, rows, row_ok, n_classes, ignore_index,
                                 HAS_WEIGHT, ACC)  # fmt: skip
    m = tl.full((BLOCK_N,), float("-inf"), ACC)
    k = tl.zeros((BLOCK_N,), ACC)
    t = tl.zeros((BLOCK_N,), ACC)
    z_y = tl.zeros((BLOCK_N,), ACC)
    weighted_sum = tl.zeros((BLOCK_N,), ACC)
    nan = tl.zeros((BLOCK_N,), tl.int32)
    v_begin = split * classes_per_split
    v_end = tl.minimum(v_begin + classes_per_split, n_classes)
    for v0 in range(v_begin, v_end, BLOCK_V):
        cls = (v0 + tl.arange(0, BLOCK_V)).to(tl.int64)
        cls_ok = cls < v_end
        z = _logits_tile(h_ptr, c_ptr, bias_ptr, rows, cls, row_ok, cls_ok, hidden, h_row_stride,
                         c_row_stride, HAS_BIAS, BLOCK_N, BLOCK_V, BLOCK_D, ACC, UPCAST, IEEE)  # fmt: skip
        nan = nan | tl.max((z != z).to(tl.int32), 1)
        z = tl.where(z == z, z, float("-inf"))
        tile_m = tl.max(z, 1)
        d, d_lo = diff_from_max(z, tile_m[:, None], FMAX, False)
        tile_k, tile_t = block_stats(z, d, d_lo, 1, False)
        m, k, t = merge_stats(m, k, t, tile_m, tile_k, tile_t, False)
        z_y += tl.sum(tl.where(cls[None, :] == y[:, None], z, 0.0), 1)
        if SMOOTH:
            if HAS_WEIGHT:
                w = tl.load(weight_ptr + cls, mask=cls_ok, other=0.0).to(ACC)
            else:
                w = tl.where(cls_ok, 1.0, 0.0).to(ACC)
            weighted_sum += tl.sum(tl.where(w[None, :] == 0.0, 0.0, z) * w[None, :], 1)
    out = partial_ptr + split * n_rows + rows
    stride = n_splits * n_rows
    tl.store(out + F_MAX * stride, m, mask=row_ok)
    tl.store(out + F_COUNT * stride, k, mask=row_ok)
    tl.store(out + F_BELOW * stride, t, mask=row_ok)
    tl.store(out + F_TARGET_LOGIT * stride, z_y, mask=row_ok)
    tl.store(out + F_WEIGHTED_SUM * stride, weighted_sum, mask=row_ok)
    tl.store(out + F_NAN * stride, nan.to(ACC), mask=row_ok)


@triton.jit
def linear_ce_combine_kernel(
    partial_ptr, target_ptr, weight_ptr, scalars_ptr, loss_ptr, lse_ptr,
    n_rows, n_classes, n_splits, ignore_index,
    HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr, BLOCK_N: tl.constexpr,
    ACC: tl.constexpr, FMAX: tl.constexpr,
):  # fmt: skip
    """Merge the vocabulary splits: per-row loss (unreduced) and ``lse``."""
    rows = (tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)).to(tl.int64)
    row_ok = rows < n_rows
    stride = n_splits * n_rows
    m = tl.full((BLOCK_N,), float("-inf"), ACC)
    k = tl.zeros((BLOCK_N,), ACC)
    t = tl.zeros((BLOCK_N,), ACC)
    z_y = tl.zeros((BLOCK_N,), ACC)
    weighted_sum = tl.zeros((BLOCK_N,), ACC)
    nan = tl.zeros((BLOCK_N,), ACC)
    for split in range(0, n_splits):
        part = partial_ptr + split * n_rows + rows
        m_s = tl.load(part + F_MAX * stride, mask=row_ok, other=float("-inf"))
        k_s = tl.load(part + F_COUNT * stride, mask=row_ok, other=0.0)
        t_s = tl.load(part + F_BELOW * stride, mask=row_ok, other=0.0)
        m, k, t = merge_stats(m, k, t, m_s, k_s, t_s, False)
        z_y += tl.load(part + F_TARGET_LOGIT * stride, mask=row_ok, other=0.0)
        weighted_sum += tl.load(part + F_WEIGHTED_SUM * stride, mask=row_ok, other=0.0)
        nan = tl.maximum(nan, tl.load(part + F_NAN * stride, mask=row_ok, other=0.0))
    y, valid, w_y = _row_targets(target_ptr, weight_ptr, rows, row_ok, n_classes, ignore_index,
                                 HAS_WEIGHT, ACC)  # fmt: skip
    nan_row = nan > 0
    log_norm = log_normaliser(k, t)
    d_y, d_lo_y = diff_from_max(z_y, m, FMAX, False)
    nll = -(d_y - log_norm) * w_y
    lse = m + log_norm
    if SMOOTH:
        one_minus_eps = tl.load(scalars_ptr + ONE_MINUS_EPS)
        eps_over_c = tl.load(scalars_ptr + EPS_OVER_C)
        weight_total = tl.load(scalars_ptr + WEIGHT_TOTAL)
        # -sum_c w[c] * logp[c] = W * lse - sum_c w[c] * z[c]
        loss = one_minus_eps * nll + eps_over_c * (weight_total * lse - weighted_sum)
    else:
        loss = nll
    loss = tl.where(valid, loss, 0.0)
    loss = tl.where(valid & nan_row, float("nan"), loss)
    tl.store(loss_ptr + rows, loss, mask=row_ok)
    tl.store(lse_ptr + rows, tl.where(nan_row, float("nan"), lse), mask=row_ok)


@triton.jit
def linear_ce_backward_kernel(
    h_ptr, c_ptr, bias_ptr, target_ptr, weight_ptr, lse_ptr, grad_out_ptr, scalars_ptr,
    dh_ptr, dc_ptr, dbias_ptr,
    n_rows, n_classes, hidden, h_row_stride, c_row_stride, grad_out_stride,
    slab_begin, slab_end, ignore_index, filter_eps,
    COMPUTE_DH: tl.constexpr, COMPUTE_DC: tl.constexpr, COMPUTE_DBIAS: tl.constexpr,
    FILTER: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_D: tl.constexpr, GROUP_N: tl.constexpr,
    ACC: tl.constexpr, UPCAST: tl.constexpr, IEEE: tl.constexpr,
):  # fmt: skip
    """Accumulate one tile's share of the gradients (``dc_ptr`` holds the slab
    ``[slab_begin, slab_end)`` of the classifier gradient)."""
    pid = tl.program_id(0)
    n_row_blocks = tl.cdiv(n_rows, BLOCK_N)
    n_cls_blocks = tl.cdiv(slab_end - slab_begin, BLOCK_V)
    in_group = GROUP_N * n_cls_blocks
    first_row_block = (pid // in_group) * GROUP_N
    group_size = tl.minimum(n_row_blocks - first_row_block, GROUP_N)
    pid_n = first_row_block + (pid % in_group) % group_size
    pid_v = (pid % in_group) // group_size

    rows = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)).to(tl.int64)
    row_ok = rows < n_rows
    cls = (slab_begin + pid_v * BLOCK_V + tl.arange(0, BLOCK_V)).to(tl.int64)
    cls_ok = cls < slab_end
    y, valid, w_y = _row_targets(target_ptr, weight_ptr, rows, row_ok, n_classes, ignore_index,
                                 HAS_WEIGHT, ACC)  # fmt: skip
    z = _logits_tile(h_ptr, c_ptr, bias_ptr, rows, cls, row_ok, cls_ok, hidden, h_row_stride,
                     c_row_stride, HAS_BIAS, BLOCK_N, BLOCK_V, BLOCK_D, ACC, UPCAST, IEEE)  # fmt: skip
    lse = tl.load(lse_ptr + rows, mask=row_ok, other=0.0)
    live = valid[:, None] & cls_ok[None, :]
    p = tl.exp(tl.where(live, z - lse[:, None], float("-inf")))
    at_target = cls[None, :] == y[:, None]
    if SMOOTH:
        one_minus_eps = tl.load(scalars_ptr + ONE_MINUS_EPS)
        eps_over_c = tl.load(scalars_ptr + EPS_OVER_C)
        weight_total = tl.load(scalars_ptr + WEIGHT_TOTAL)
        if HAS_WEIGHT:
            w = tl.load(weight_ptr + cls, mask=cls_ok, other=0.0).to(ACC)
        else:
            w = tl.where(cls_ok, 1.0, 0.0).to(ACC)
        row_scale = one_minus_eps * w_y + eps_over_c * weight_total
        g = p * row_scale[:, None] - (tl.where(at_target, (one_minus_eps * w_y)[:, None], 0.0)
                                      + eps_over_c * w[None, :])  # fmt: skip
    else:
        g = p * w_y[:, None] - tl.where(at_target, w_y[:, None], 0.0)
    g = tl.where(live, g, 0.0)
    if FILTER:
        if tl.max(tl.max(tl.abs(g), 1), 0) < filter_eps:
            return
    scale = tl.load(grad_out_ptr + rows * grad_out_stride, mask=row_ok, other=0.0).to(ACC)
    g = g * (scale * tl.load(scalars_ptr + GRAD_SCALE))[:, None]
    if COMPUTE_DBIAS:
        tl.atomic_add(dbias_ptr + cls, tl.sum(g, 0), mask=cls_ok)
    g_in = g.to(h_ptr.dtype.element_ty)
    for d0 in range(0, hidden, BLOCK_D):
        dd = d0 + tl.arange(0, BLOCK_D)
        d_ok = dd < hidden
        if COMPUTE_DH:
            c = tl.load(c_ptr + cls[:, None] * c_row_stride + dd[None, :],
                        mask=cls_ok[:, None] & d_ok[None, :], other=0.0)  # fmt: skip
            dh = _dot(g_in, c, tl.zeros((BLOCK_N, BLOCK_D), ACC), UPCAST, IEEE)
            tl.atomic_add(dh_ptr + rows[:, None] * hidden + dd[None, :], dh,
                          mask=row_ok[:, None] & d_ok[None, :])  # fmt: skip
        if COMPUTE_DC:
            h = tl.load(h_ptr + rows[:, None] * h_row_stride + dd[None, :],
                        mask=row_ok[:, None] & d_ok[None, :], other=0.0)  # fmt: skip
            dc = _dot(tl.trans(g_in), h, tl.zeros((BLOCK_V, BLOCK_D), ACC), UPCAST, IEEE)
            tl.atomic_add(dc_ptr + (cls - slab_begin)[:, None] * hidden + dd[None, :], dc,
                          mask=cls_ok[:, None] & d_ok[None, :])  # fmt: skip
