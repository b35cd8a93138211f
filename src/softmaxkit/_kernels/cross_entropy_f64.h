/* Fused cross-entropy of a float64 row in float64 lanes (see cross_entropy.c).
 *
 * The passes of cross_entropy_f32.h, in sk_simd_f64.h's lanes (8 doubles a
 * vector with AVX-512, 4 with AVX2):
 *   A. the maximum m (and whether the row holds a NaN);
 *   B. e_j = exp((z_j - m) + lo_j) by sk_simd_f64.h's exp, lo_j the shift's
 *      exact rounding error, written where the gradient goes (or to a stack
 *      chunk when only the loss is wanted); k = #{z_j = m} and the sum of all
 *      e_j as a double-double (vd_sum), so that t = sum - k keeps its relative
 *      accuracy and log_norm = log(k) + log1p(t / k) that of a log-probability
 *      near 0;
 *   C. grad_j = (e_j * row_scale / norm - coef_j) * grad_scale (cross_entropy_lanes.h).
 * Label smoothing and probability targets take one more pass for
 * sum_j coef_j (z_j - m) and sum_j coef_j. Rows holding a NaN or +inf, only
 * -inf, or a maximum beyond 2^40 take the general loop of
 * cross_entropy_body.h, which carries the edge-case policy (nothing is
 * written before that is decided); so do rows whose target is ignore_index.
 */

#include "cross_entropy_lanes.h"
#include "sk_simd_f64.h"

#define SK_CE_CHUNK_F64 2048 /* exponentials kept on the stack when no gradient is written */

/* The largest entry of z[0:n]; *nan set when the row holds a NaN (the sum
 * of the entries is then NaN; it can be NaN otherwise only where -inf and a
 * sum overflowing to +inf meet, which sends a row to the general loop too). */
static double ce_max_f64(const double *z, ptrdiff_t n, int *nan) {
    vd hi0 = vd_set1(-INFINITY), hi1 = hi0, s0 = vd_set1(0.0), s1 = s0;
    ptrdiff_t i = 0;
    for (; i + 2 * SK_VDW <= n; i += 2 * SK_VDW) {
        vd a = vd_load(z + i), b = vd_load(z + i + SK_VDW);
        hi0 = vd_max(a, hi0); /* keeps hi0 where a is NaN */
        hi1 = vd_max(b, hi1);
        s0 = vd_add(s0, a);
        s1 = vd_add(s1, b);
    }
    for (; i < n; i += SK_VDW) {
        ptrdiff_t w = n - i < SK_VDW ? n - i : SK_VDW;
        vd a = vd_load_first(z + i, w, vd_set1(-INFINITY));
        hi0 = vd_max(a, hi0);
        s0 = vd_add(s0, vd_load_first(z + i, w, vd_set1(0.0)));
    }
    double s[SK_VDW];
    vd_store(s, vd_add(s0, s1));
    *nan = 0;
    for (int l = 0; l < SK_VDW; l++) *nan |= s[l] != s[l];
    return vd_hmax(vd_max(hi0, hi1));
}

/* e = exp(z - m) for w lanes of z (the others give 0); k counts z == m. */
SK_INLINE vd ce_exp_vec_f64(vd z, vd vm, vd low, vd *k) {
    vd lo;
    vd d = vd_shift(vd_clamp_exp_arg(z, low), vm, SK_SHIFT_PER_LANE, &lo);
    vd e = sk_vexpd_lo(d, lo);
    /* the entries whose e is exactly 1 (z == m, or so close below it that
     * exp rounds to 1): t = sum - k is formed from the same terms either way */
    *k = vd_add(*k, vd_where(vd_eq(e, vd_set1(1.0)), vd_set1(1.0)));
    return e;
}

/* e[0:len] = exp(z - m); *k += #{z == m}; *sum (hi + lo) += all e. */
static void ce_exp_sum_f64(const double *z, double *e, ptrdiff_t len, double m, double *k,
                           double *sum_hi, double *sum_lo) {
    vd vm = vd_set1(m), low = vd_set1(m + SK_F64_EXP_LOW), kv = vd_set1(0.0);
    vd_sum sum = vd_sum_start(1.0); /* see vd_sum_add: lanes start at 1 */
    ptrdiff_t i = 0;
    for (; i + SK_VDW <= len; i += SK_VDW) {
        vd ev = ce_exp_vec_f64(vd_load(z + i), vm, low, &kv);
        vd_store(e + i, ev);
        sum = vd_sum_add(sum, ev);
    }
    if (i < len) { /* the tail, padded with -inf (clamped: exp gives 0) */
        vd ev = ce_exp_vec_f64(vd_load_first(z + i, len - i, vd_set1(-INFINITY)), vm, low, &kv);
        vd_store_first(e + i, ev, len - i);
        sum = vd_sum_add(sum, ev);
    }
    double lo, hi = vd_sum_total(sum, 1.0, &lo);
    double s = *sum_hi + hi;
    *sum_lo += sk_two_sum_err(*sum_hi, hi, s) + lo;
    *sum_hi = s;
    double kl[SK_VDW];
    vd_store(kl, kv);
    for (int l = 0; l < SK_VDW; l++) *k += kl[l];
}

/* coef_j for classes j0 .. j0 + w - 1 (not the target's (1 - eps) w_y,
 * which the caller adds at y); 0 past w. */
SK_INLINE vd ce_coef_vec_f64(const sk_ce_args *a, ptrdiff_t r, ptrdiff_t j0, ptrdiff_t w, int probs,
                             int weighted, int smooth, double uniform) {
    vd c;
    if (probs) {
        c = vd_load_first((const double *)(a->probs + r * a->ps) + j0, w, vd_set1(0.0));
        if (smooth) c = vd_fmadd(c, vd_set1(1.0 - a->smoothing), vd_set1(uniform));
    } else {
        c = vd_set1(smooth ? uniform : 0.0);
    }
    if (weighted) c = vd_mul(c, vd_load_first(a->weight + j0, w, vd_set1(0.0)));
    return c;
}

/* s += v with the rounding error kept (TwoSum: the terms may be of any
 * size and sign, unlike vd_sum_add's). */
SK_INLINE vd_sum ce_two_sum_add(vd_sum s, vd v) {
    vd t = vd_add(s.acc, v), v_virtual = vd_sub(t, s.acc), acc_virtual = vd_sub(t, v_virtual);
    s.err = vd_add(s.err, vd_add(vd_sub(s.acc, acc_virtual), vd_sub(v, v_virtual)));
    s.acc = t;
    return s;
}

/* sum_j coef_j (z_j - m) (0 where coef_j = 0, also at z_j = -inf) and
 * sum_j coef_j, compensated: the gradient is p_j * sum_j coef_j - coef_j,
 * and a plain sum of thousands of terms would be off by tens of ulps. */
SK_INLINE void ce_coef_sums_f64(const sk_ce_args *a, ptrdiff_t r, const double *z, double m,
                                int probs, int weighted, int smooth, double uniform, double *cd,
                                double *cs) {
    vd vm = vd_set1(m), zero = vd_set1(0.0);
    vd_sum acc = vd_sum_start(0.0), sum = vd_sum_start(0.0);
    ptrdiff_t n = a->n, j = 0;
    for (; j + SK_VDW <= n; j += SK_VDW) {
        vd c = ce_coef_vec_f64(a, r, j, SK_VDW, probs, weighted, smooth, uniform);
        vd d = vd_sub(vd_load(z + j), vm);
        /* c * d, 0 where c is 0 (d may be -inf there) */
        acc = ce_two_sum_add(acc, vd_where(vd_ne_or_nan(c, zero), vd_mul(c, d)));
        sum = ce_two_sum_add(sum, c);
    }
    double lo;
    *cd = vd_sum_total(acc, 0.0, &lo) + lo; /* -inf where c_j > 0 at z_j = -inf */
    *cs = vd_sum_total(sum, 0.0, &lo) + lo;
    for (; j < n; j++) {
        double c = ce_coef_one(a, r, j, probs, weighted, smooth, uniform);
        *cd += c == 0.0 ? 0.0 : c * (z[j] - m);
        *cs += c;
    }
}

/* grad_j = (e_j * scale - coef_j) * grad_scale, e read from grad itself. */
SK_INLINE void ce_grad_pass_f64(const sk_ce_args *a, ptrdiff_t r, double *grad, double scale,
                                int probs, int weighted, int smooth, double uniform) {
    ptrdiff_t n = a->n;
    vd vs = vd_set1(scale), vg = vd_set1(a->grad_scale);
    for (ptrdiff_t j = 0; j < n; j += SK_VDW) {
        ptrdiff_t w = n - j < SK_VDW ? n - j : SK_VDW;
        vd e = vd_load_first(grad + j, w, vd_set1(0.0));
        vd g;
        if (!probs && !smooth) {
            g = vd_mul(vd_mul(e, vs), vg);
        } else {
            vd c = ce_coef_vec_f64(a, r, j, w, probs, weighted, smooth, uniform);
            g = vd_mul(vd_sub(vd_mul(e, vs), c), vg);
        }
        vd_store_at(grad, j, g, w);
    }
}

/* The fused row; 0 when the row needs the general loop (nothing written then). */
SK_INLINE int ce_row_fast_f64(const sk_ce_args *a, ptrdiff_t r, int probs, int weighted,
                              int smooth) {
    ptrdiff_t n = a->n;
    const double *z = (const double *)(a->logits + r * a->ls);
    double *grad = a->grad ? (double *)(a->grad + r * a->gs) : NULL;
    if (!probs && a->target[r] == a->ignore_index) return 0;
    int nan;
    double m = ce_max_f64(z, n, &nan);
    /* NaN, +inf, every class at -inf, or too large to clamp below */
    if (nan || !(fabs(m) < 0x1p40)) return 0;

    double uniform = a->smoothing / (double)n, coef_d = 0.0, coef_sum = 0.0;
    if (probs || smooth) {
        ce_coef_sums_f64(a, r, z, m, probs, weighted, smooth, uniform, &coef_d, &coef_sum);
        if (!ce_sums_stay_finite(coef_d, coef_sum, probs, uniform)) return 0;
    }
    double k = 0.0, sum_hi = 0.0, sum_lo = 0.0;
    double chunk[SK_CE_CHUNK_F64];
    ptrdiff_t step = grad ? n : SK_CE_CHUNK_F64;
    for (ptrdiff_t j = 0; j < n; j += step) {
        ptrdiff_t len = n - j < step ? n - j : step;
        ce_exp_sum_f64(z + j, grad ? grad + j : chunk, len, m, &k, &sum_hi, &sum_lo);
    }
    /* t = sum - k: sum_hi - k is exact (Sterbenz) where t is small next to k */
    double t = (sum_hi - k) + sum_lo;
    int64_t y = probs ? 0 : a->target[r];
    double zy_m = probs ? 0.0 : (z[y] - m), scale, picked;
    /* k >= 1: the maximum is finite */
    a->loss[r] = ce_row_loss(a, r, probs, weighted, smooth, zy_m, k, t, coef_d, coef_sum, &scale, &picked);

    if (grad) {
        double e_y = probs ? 0.0 : grad[y];
        ce_grad_pass_f64(a, r, grad, scale, probs, weighted, smooth, uniform);
        if (!probs)
            grad[y] = ce_grad_at_target(a, r, e_y, scale, weighted, smooth, picked);
    }
    return 1;
}

SK_CE_LANE_ROWS(ce_rows_fast_f64, ce_row_fast_f64, ce_rows_f64)
