/* Fused cross-entropy of a float32 row in float32 lanes (see cross_entropy.c).
 *
 * Three passes over a row, the last two from cache (a row of 32000 classes
 * is 128 KiB):
 *   A. the maximum m (and whether the row holds a NaN) and the minimum, which
 *      decides how the shift's rounding error is computed;
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
#include "sk_f32_lanes.h"

#define SK_CE_CHUNK 2048 /* exponentials kept on the stack when no gradient is written */

/* Whether any lane of a or b is NaN, accumulated into the flags f (a mask
 * register with AVX-512, a vector of lane masks with AVX2). */
#if defined(__AVX512F__)
typedef __mmask16 ce_nan_flags;
SK_INLINE ce_nan_flags ce_no_nan(void) { return 0; }
SK_INLINE ce_nan_flags ce_or_nan(ce_nan_flags f, vf a, vf b) { return f | _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q); }
SK_INLINE int ce_any_nan(ce_nan_flags f) { return f != 0; }
#else
typedef __m256 ce_nan_flags;
SK_INLINE ce_nan_flags ce_no_nan(void) { return _mm256_setzero_ps(); }
SK_INLINE ce_nan_flags ce_or_nan(ce_nan_flags f, vf a, vf b) { return _mm256_or_ps(f, _mm256_cmp_ps(a, b, _CMP_UNORD_Q)); }
SK_INLINE int ce_any_nan(ce_nan_flags f) { return _mm256_movemask_ps(f) != 0; }
#endif

/* The largest entry of z[0:n] (NaN when one is NaN) and the smallest.
 * Maxima and minima on two accumulators each, and the NaN test beside them:
 * a compare-and-blend maximum on one accumulator is a chain of dependent
 * operations (3.5x the time of these independent ones). Which zero a maximum
 * of +0 and -0 gives is not defined; no output depends on it (e_j and k see
 * z_j - m and z_j == m alike, and a row with two zeros at the maximum has
 * log_norm >= log 2). */
static void ce_range_f32(const float *z, ptrdiff_t n, float *max, float *min) {
    vf hi0 = vf_set1(-INFINITY), hi1 = hi0, lo0 = vf_set1(INFINITY), lo1 = lo0;
    ce_nan_flags nan = ce_no_nan();
    ptrdiff_t i = 0;
    /* vf_max(x, acc) and vf_min(x, acc) keep acc where x is NaN */
    for (; i + 2 * SK_VW <= n; i += 2 * SK_VW) {
        vf a = vf_load(z + i), b = vf_load(z + i + SK_VW);
        hi0 = vf_max(a, hi0);
        hi1 = vf_max(b, hi1);
        lo0 = vf_min(a, lo0);
        lo1 = vf_min(b, lo1);
        nan = ce_or_nan(nan, a, b);
    }
    for (; i < n; i += SK_VW) {
        ptrdiff_t w = n - i < SK_VW ? n - i : SK_VW;
        vf a = vf_load_first(z + i, w, vf_set1(-INFINITY)); /* past the end: no max, no NaN */
        hi0 = vf_max(a, hi0);
        lo0 = vf_min(vf_select(vf_mask_first(w), a, vf_set1(INFINITY)), lo0);
        nan = ce_or_nan(nan, a, a);
    }
    *max = ce_any_nan(nan) ? NAN : vf_hmax(vf_max(hi0, hi1));
    *min = -vf_hmax(vf_max(vf_sub(vf_set1(0.0f), lo0), vf_sub(vf_set1(0.0f), lo1)));
}

/* The shift's error formula for a row of maximum m and minimum mn, as the
 * softmax loops choose it (Fast2Sum where one operand is known to be the
 * larger; entries below m - 110 are clamped, so only those above count), or
 * CE_SHIFT_ANY where m is too large to clamp below (sk_vexp_shifted, which
 * needs no clamp). */
#define CE_SHIFT_ANY (-1)
SK_INLINE int ce_shift_kind(float m, float mn) {
    if (!in_lanes(m)) return CE_SHIFT_ANY;
    float low = m + SK_F32_EXP_LOW;
    return sk_shift_kind(m, mn > low ? mn : low);
}

/* e = exp(v - m), the subtraction's rounding error (by the formula of kind)
 * fed into the exp (sk_simd.h). normal: v - m >= SK_F32_EXP_NORMAL in every
 * lane, so the exp takes its short form and v needs no clamp; else v is
 * clamped at low = m - 110 where the ISA needs it (vf_clamp_exp_arg). */
SK_INLINE vf ce_exp_vec(vf v, vf vm, vf low, int kind, int normal) {
    if (kind == CE_SHIFT_ANY) return sk_vexp_shifted(v, vm);
    vf lo;
    if (normal) {
        vf d = vf_shift(v, vm, kind, &lo);
        return sk_vexp_lo_normal(d, lo);
    }
    vf d = vf_shift(vf_clamp_exp_arg(v, low), vm, kind, &lo);
    return sk_vexp_lo(d, lo);
}

/* e[0:len] = exp(z - m); k += the entries whose e is 1 (the maxima, and any
 * entry within 2^-25 of m, whose e rounds to 1 anyway: k + t is the same), t
 * += the other e, summed as log_softmax sums them (vf_sum_add_split: float32
 * lanes with every rounding error kept, so a tiny t keeps its relative
 * accuracy, which log1p(t / k) needs). The same columns of the next row
 * (next) are fetched into L2 on the way: this pass is compute-bound, and the
 * next row's range pass would otherwise wait for memory. */
SK_INLINE void ce_exp_sum_body(const float *z, float *e, ptrdiff_t len, float m, int kind,
                               int normal, const float *next, double *k, double *t) {
    vf vm = vf_set1(m), low = vf_set1(m + SK_F32_EXP_LOW);
    vf_count count = vf_count_start();
    vf_sum sum = vf_sum_start(0.0f);
    ptrdiff_t i = 0;
    for (; i + SK_VW <= len; i += SK_VW) {
        _mm_prefetch((const char *)(next + i), _MM_HINT_T1);
        vf ev = ce_exp_vec(vf_load(z + i), vm, low, kind, normal);
        vf_store(e + i, ev);
        sum = vf_sum_add_split(sum, ev, &count);
    }
    if (i < len) { /* the tail, padded with -inf (whose exp is 0): never the short form */
        vf ev = ce_exp_vec(vf_load_first(z + i, len - i, vf_set1(-INFINITY)), vm, low, kind, 0);
        vf_store_first(e + i, ev, len - i);
        sum = vf_sum_add_split(sum, ev, &count);
    }
    *k += (double)vf_hsum(vf_count_floats(count)); /* exact: integers below 2^24 */
    *t += vf_sum_total(sum, 0.0f);
}

/* ce_exp_sum_body with kind and normal constant in each loop. */
static void ce_exp_sum_f32(const float *z, float *e, ptrdiff_t len, float m, int kind, int normal,
                           const float *next, double *k, double *t) {
    if (kind == SK_SHIFT_M_LARGER && normal)
        ce_exp_sum_body(z, e, len, m, SK_SHIFT_M_LARGER, 1, next, k, t);
    else if (kind == SK_SHIFT_X_LARGER && normal)
        ce_exp_sum_body(z, e, len, m, SK_SHIFT_X_LARGER, 1, next, k, t);
    else if (kind == SK_SHIFT_PER_LANE && normal)
        ce_exp_sum_body(z, e, len, m, SK_SHIFT_PER_LANE, 1, next, k, t);
    else if (kind == SK_SHIFT_M_LARGER)
        ce_exp_sum_body(z, e, len, m, SK_SHIFT_M_LARGER, 0, next, k, t);
    else if (kind == SK_SHIFT_X_LARGER)
        ce_exp_sum_body(z, e, len, m, SK_SHIFT_X_LARGER, 0, next, k, t);
    else if (kind == SK_SHIFT_PER_LANE)
        ce_exp_sum_body(z, e, len, m, SK_SHIFT_PER_LANE, 0, next, k, t);
    else
        ce_exp_sum_body(z, e, len, m, CE_SHIFT_ANY, 0, next, k, t);
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
        /* c beyond the float range (class weights near the double maximum):
         * c_hi is inf and e c_hi + e c_lo NaN where e c in double (the
         * formula's) is +-inf or finite; such rows take the tail's loop */
        int split = isfinite(c_hi);
        for (; split && j + SK_VF_N <= n; j += SK_VF_N) {
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
    float m, mn;
    ce_range_f32(z, n, &m, &mn);
    if (!isfinite(m)) return 0; /* NaN, +inf, or every class at -inf */
    int kind = ce_shift_kind(m, mn);
    /* mn - m rounds no higher than any z_j - m: all of them are normal's */
    int normal = mn - m >= SK_F32_EXP_NORMAL;
    /* the row after this one (this one again at the end), to prefetch */
    const float *next = (const float *)(a->logits + (r + 1 < a->rows ? r + 1 : r) * a->ls);

    double uniform = a->smoothing / (double)n, coef_d = 0.0, coef_sum = 0.0;
    if (probs || smooth) {
        ce_coef_sums(a, r, z, m, probs, weighted, smooth, uniform, &coef_d, &coef_sum);
        if (!ce_sums_stay_finite(coef_d, coef_sum, probs, uniform)) return 0;
    }
    double k = 0.0, t = 0.0;
    float chunk[SK_CE_CHUNK];
    ptrdiff_t step = grad ? n : SK_CE_CHUNK;
    for (ptrdiff_t j = 0; j < n; j += step) {
        ptrdiff_t len = n - j < step ? n - j : step;
        ce_exp_sum_f32(z + j, grad ? grad + j : chunk, len, m, kind, normal, next + j, &k, &t);
    }
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
