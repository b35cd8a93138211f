/* Fused cross-entropy of a float32 row in float32 lanes (see cross_entropy.c).
 *
 * Three passes over a row, the last two from cache (a row of 32000 classes
 * is 128 KiB):
 *   A. the maximum m (and whether the row holds a NaN);
 *   B. e_j = exp(z_j - m) by sk_simd.h's exp, the shift's rounding error fed into
 *      the exp, written where the gradient goes (or to a stack chunk when only
 *      the loss is wanted); k = #{z_j = m} and t = sum of the other e_j in
 *      float64 lanes, so log_norm = log(k) + log1p(t / k) keeps the relative
 *      accuracy of a log-probability near 0 (a dominant class);
 *   C. grad_j = (e_j * row_scale / norm - coef_j) * grad_scale (cross_entropy_lanes.h), rounded once
 *      to float32 (coef: what the target puts on class j).
 * The loss needs only logp at the target, except with label smoothing or
 * probability targets, where sum_j coef_j logp_j = sum_j coef_j (z_j - m) -
 * log_norm sum_j coef_j takes one more pass in float64 lanes (both parts have
 * one sign: no cancellation). Rows that hold a NaN or +inf, or only -inf, take
 * the general loop of cross_entropy_body.h, which carries the edge-case
 * policy; so do rows whose target is ignore_index (they are all zeros).
 */

#include "cross_entropy_lanes.h"

#define SK_CE_CHUNK 2048 /* exponentials kept on the stack when no gradient is written */

/* The largest entry of z[0:n], or NaN when one is NaN. */
static float ce_max_f32(const float *z, ptrdiff_t n) {
    sk_vf vmax = sk_vsplatf(-INFINITY);
    sk_vi vnan = (sk_vi){0};
    ptrdiff_t i = 0;
    for (; i + SK_VF_N <= n; i += SK_VF_N) {
        sk_vf v = sk_vloadf(z + i);
        vmax = sk_vselectf(v > vmax, v, vmax);
        vnan |= v != v;
    }
    float max = -INFINITY;
    int nan = 0;
    for (int l = 0; l < SK_VF_N; l++) {
        max = vmax[l] > max ? vmax[l] : max;
        nan |= vnan[l] != 0;
    }
    for (; i < n; i++) {
        max = z[i] > max ? z[i] : max;
        nan |= z[i] != z[i];
    }
    return nan ? NAN : max;
}

/* e = exp(v - m), the subtraction's rounding error fed into the exp (sk_simd.h). */
static inline sk_vf ce_exp_vec(sk_vf v, sk_vf vm) { return (sk_vf)sk_vexp_shifted((vf)v, (vf)vm); }

/* e[0:len] = exp(z - m); k += #{z == m}; t += the other e, in float64. */
static void ce_exp_sum_f32(const float *z, float *e, ptrdiff_t len, float m, double *k,
                           double *t) {
    sk_vf vm = sk_vsplatf(m), zero = sk_vsplatf(0.0f);
    sk_vd t0 = sk_vsplatd(0.0), t1 = t0;
    sk_vi kv = (sk_vi){0};
    ptrdiff_t i = 0;
    for (; i + SK_VF_N <= len; i += SK_VF_N) {
        sk_vf v = sk_vloadf(z + i);
        sk_vf ev = ce_exp_vec(v, vm);
        sk_vi at_max = v == vm;
        kv -= at_max; /* a true lane is -1 */
        sk_vadd_widened(sk_vselectf(at_max, zero, ev), &t0, &t1);
        sk_vstoref(e + i, ev);
    }
    if (i < len) { /* the tail, padded with -inf (whose exp is 0) */
        float pad[SK_VF_N];
        for (int l = 0; l < SK_VF_N; l++) pad[l] = i + l < len ? z[i + l] : -INFINITY;
        sk_vf v = sk_vloadf(pad);
        sk_vf ev = ce_exp_vec(v, vm);
        sk_vi at_max = v == vm;
        kv -= at_max;
        sk_vadd_widened(sk_vselectf(at_max, zero, ev), &t0, &t1);
        sk_vstoref(pad, ev);
        memcpy(e + i, pad, (size_t)(len - i) * sizeof(float));
    }
    sk_vd ts = t0 + t1;
    for (int l = 0; l < SK_VD_N; l++) *t += ts[l];
    for (int l = 0; l < SK_VF_N; l++) *k += (double)kv[l];
}

/* coef_j, in float64 lanes, for classes j0 .. j0 + SK_VD_N - 1 (not the
 * target's (1 - eps) w_y, which the caller adds at y). */
SK_INLINE sk_vd ce_coef_vec(const sk_ce_args *a, ptrdiff_t r, ptrdiff_t j0, int probs,
                            int weighted, int smooth, double uniform) {
    sk_vd c;
    if (probs) {
        c = sk_vload_widen((const float *)(a->probs + r * a->ps) + j0);
        if (smooth) c = c * (1.0 - a->smoothing) + uniform;
    } else {
        c = sk_vsplatd(smooth ? uniform : 0.0);
    }
    return weighted ? c * sk_vloadd(a->weight + j0) : c;
}

/* sum_j coef_j (z_j - m) (0 where coef_j = 0, also at z_j = -inf) and sum_j coef_j. */
SK_INLINE void ce_coef_sums(const sk_ce_args *a, ptrdiff_t r, const float *z, float m, int probs,
                            int weighted, int smooth, double uniform, double *cd, double *cs) {
    sk_vd vm = sk_vsplatd((double)m), zero = sk_vsplatd(0.0);
    sk_vd acc = zero, sum = zero;
    ptrdiff_t n = a->n, j = 0;
    for (; j + SK_VD_N <= n; j += SK_VD_N) {
        sk_vd c = ce_coef_vec(a, r, j, probs, weighted, smooth, uniform);
        sk_vd d = sk_vload_widen(z + j) - vm;
        acc += sk_vselectd((sk_vl)(c == zero), zero, c * d);
        sum += c;
    }
    *cd = *cs = 0.0;
    for (int l = 0; l < SK_VD_N; l++) {
        *cd += acc[l];
        *cs += sum[l];
    }
    for (; j < n; j++) {
        double c = ce_coef_one(a, r, j, probs, weighted, smooth, uniform);
        *cd += c == 0.0 ? 0.0 : c * ((double)z[j] - (double)m);
        *cs += c;
    }
}

/* grad_j = (e_j * scale - coef_j) * grad_scale, e read from grad itself. */
SK_INLINE void ce_grad_pass(const sk_ce_args *a, ptrdiff_t r, float *grad, double scale,
                            int probs, int weighted, int smooth, double uniform) {
    ptrdiff_t n = a->n, j = 0;
    if (!probs && !smooth) {
        /* grad_j = e_j c (y is the caller's), c = scale * grad_scale split
         * into floats c_hi + c_lo: e c_hi + e c_lo (an FMA) is e c rounded
         * once, as float64 lanes would round it, at float32 width. */
        double c = scale * a->grad_scale;
        float c_hi = (float)c, c_lo = (float)(c - (double)c_hi);
        for (; j + SK_VF_N <= n; j += SK_VF_N) {
            sk_vf e = sk_vloadf(grad + j);
            sk_vf small = e * c_lo;
            sk_vstoref(grad + j, e * c_hi + small);
        }
        for (; j < n; j++) grad[j] = (float)((double)grad[j] * c);
        return;
    }
    sk_vd vs = sk_vsplatd(scale), vg = sk_vsplatd(a->grad_scale);
    for (; j + SK_VD_N <= n; j += SK_VD_N) {
        sk_vd e = sk_vload_widen(grad + j);
        sk_vd c = ce_coef_vec(a, r, j, probs, weighted, smooth, uniform);
        sk_vstore_narrow(grad + j, (e * vs - c) * vg);
    }
    for (; j < n; j++) {
        double c = ce_coef_one(a, r, j, probs, weighted, smooth, uniform);
        grad[j] = (float)(((double)grad[j] * scale - c) * a->grad_scale);
    }
}

/* The fused row; 0 when the row needs the general loop (nothing written then). */
SK_INLINE int ce_row_fast_f32(const sk_ce_args *a, ptrdiff_t r, int probs, int weighted,
                              int smooth) {
    ptrdiff_t n = a->n;
    const float *z = (const float *)(a->logits + r * a->ls);
    float *grad = a->grad ? (float *)(a->grad + r * a->gs) : NULL;
    if (!probs && a->target[r] == a->ignore_index) return 0;
    float m = ce_max_f32(z, n);
    if (!isfinite(m)) return 0; /* NaN, +inf, or every class at -inf */

    double k = 0.0, t = 0.0;
    float chunk[SK_CE_CHUNK];
    ptrdiff_t step = grad ? n : SK_CE_CHUNK;
    for (ptrdiff_t j = 0; j < n; j += step) {
        ptrdiff_t len = n - j < step ? n - j : step;
        ce_exp_sum_f32(z + j, grad ? grad + j : chunk, len, m, &k, &t);
    }
    double uniform = a->smoothing / (double)n, coef_d = 0.0, coef_sum = 0.0;
    if (probs || smooth)
        ce_coef_sums(a, r, z, m, probs, weighted, smooth, uniform, &coef_d, &coef_sum);
    int64_t y = probs ? 0 : a->target[r];
    double zy_m = probs ? 0.0 : ((double)z[y] - (double)m), scale, picked;
    /* k >= 1: the maximum is finite */
    a->loss[r] = ce_row_loss(a, r, probs, weighted, smooth, zy_m, k, t, coef_d, coef_sum, &scale, &picked);

    if (grad) {
        double e_y = probs ? 0.0 : (double)grad[y];
        ce_grad_pass(a, r, grad, scale, probs, weighted, smooth, uniform);
        if (!probs)
            grad[y] = (float)ce_grad_at_target(a, r, e_y, scale, weighted, smooth, picked);
    }
    return 1;
}

SK_CE_LANE_ROWS(ce_rows_fast_f32, ce_row_fast_f32, ce_rows_f32)
