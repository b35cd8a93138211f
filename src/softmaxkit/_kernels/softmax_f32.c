/* float32 softmax and log_softmax in float32 lanes (SIMD builds).
 *
 * Compiled in every ISA's library; only the AVX2 and AVX-512 builds define
 * anything (the baseline build runs the portable loops of softmax_body.h).
 *
 * A block of a row (a whole row when it has at most SK_BLOCK elements) is
 * reduced in two passes over its data and one over its output:
 *   1. the maximum m;
 *   2. e = exp((x - m) + lo) (sk_simd.h: TwoSum-compensated shift, float32
 *      polynomial) summed in double lanes; softmax stores e in the output,
 *      log_softmax keeps k (entries with e == 1, the maxima)
 *      apart from t (the others), so that log(k + t) = log k + log1p(t / k)
 *      keeps its relative accuracy when one class dominates;
 *   3. softmax: out = e * (1 / norm) with the double factor split into two
 *      floats (one rounding); log_softmax: out = (d - L_hi) + (lo - L_lo).
 * (logsumexp stays with the double loops: see driver.c.)
 * So every exponential is computed once, and a row of up to SK_BLOCK floats
 * (128 KiB) is read from memory once: passes 2 and 3 find it in L2.
 * Measured against mpmath (tests/test_kernel_accuracy.py): within 2 ulp.
 *
 * Rows holding +inf take the portable loops (the +inf rule is per element
 * and rare); NaN rows and rows without any included finite entry are
 * finished here by the edge-case policy of _stable.shift_by_max.
 */
#include "sk_exp.h"
#include "sk_isa.h"

#if defined(__AVX2__)
#include "sk_simd.h"

void SK_FN(sk_row_stats)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                         sk_part *part, double *scratch);
void SK_FN(sk_combine_parts)(const sk_part *parts, ptrdiff_t n_parts, sk_slice *s);
void SK_FN(sk_row_apply)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                         const sk_slice *s, const double *scratch);

/* ---- passes over one block ------------------------------------------------ */

/* Largest included entry (NaN ignored); -inf when there is none. */
SK_INLINE float block_max(const float *x, const uint8_t *m, ptrdiff_t len) {
    vf m0 = vf_set1(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    ptrdiff_t i = 0;
    /* vf_max(x, acc) keeps acc where x is NaN. */
    for (; i + 4 * SK_VW <= len; i += 4 * SK_VW) {
        m0 = vf_max(vf_load_x(x + i, m ? m + i : NULL), m0);
        m1 = vf_max(vf_load_x(x + i + SK_VW, m ? m + i + SK_VW : NULL), m1);
        m2 = vf_max(vf_load_x(x + i + 2 * SK_VW, m ? m + i + 2 * SK_VW : NULL), m2);
        m3 = vf_max(vf_load_x(x + i + 3 * SK_VW, m ? m + i + 3 * SK_VW : NULL), m3);
    }
    for (; i + SK_VW <= len; i += SK_VW) m0 = vf_max(vf_load_x(x + i, m ? m + i : NULL), m0);
    if (i < len) m1 = vf_max(vf_load_x_first(x + i, m ? m + i : NULL, len - i), m1);
    return vf_hmax(vf_max(vf_max(m0, m1), vf_max(m2, m3)));
}

static int block_has_nan(const float *x, const uint8_t *m, ptrdiff_t len) {
    for (ptrdiff_t i = 0; i < len; i++)
        if ((!m || m[i]) && x[i] != x[i]) return 1;
    return 0;
}

/* Pass 2: sums of e = exp(x - mx) (into part->k, part->t), e stored in e_out
 * when not NULL. split: count the entries with e == 1 apart. */
SK_INLINE void block_sums(const float *x, const uint8_t *m, float *e_out, ptrdiff_t len,
                          float mx, int split, sk_part *part) {
    vf mv = vf_set1(mx), one = vf_set1(1.0f), count = vf_set1(0.0f);
    vd2 sum = vd2_zero();
    ptrdiff_t i = 0;
    for (; i < len; i += SK_VW) {
        ptrdiff_t n = len - i < SK_VW ? len - i : SK_VW;
        vf v = n == SK_VW ? vf_load_x(x + i, m ? m + i : NULL)
                          : vf_load_x_first(x + i, m ? m + i : NULL, n);
        vf e = sk_vexp_shifted(v, mv);
        if (e_out) {
            if (n == SK_VW)
                vf_store(e_out + i, e);
            else
                vf_store_first(e_out + i, e, n);
        }
        if (split) {
            vmask at_max = vf_eq(e, one);
            count = vf_add(count, vf_and_mask(at_max, one));
            sum = vd2_add_where(sum, e, vmask_not(at_max));
        } else {
            sum = vd2_add(sum, e);
        }
    }
    double s = vd2_sum(sum);
    if (split) {
        part->k = (double)vf_hsum(count); /* exact: integers below 2^24 */
        part->t = s;
    } else {
        /* The maximum contributes exactly 1: k = 1, t = the rest (exact
         * subtraction while s <= 2; only 1 / (k + t) is used). */
        part->k = 1.0;
        part->t = s - 1.0;
    }
    part->nan = s != s; /* an included NaN: exp(NaN - m) poisons the sum */
}

/* Statistics of a block; returns 0 when the block holds +inf (the caller
 * then takes the portable loops). Softmax stores the exponentials in out. */
SK_INLINE int block_stats(const float *x, const uint8_t *m, float *e_out, ptrdiff_t len,
                          int split, sk_part *part) {
    float mx = block_max(x, m, len);
    part->max = mx;
    part->k = part->t = 0.0;
    part->nan = 0;
    if (mx == INFINITY) return 0;
    if (mx == -INFINITY) {
        part->nan = block_has_nan(x, m, len);
        return 1;
    }
    block_sums(x, m, e_out, len, mx, split, part);
    return 1;
}

/* out = e * scale, e read from out, with scale = hi + lo split into floats. */
SK_INLINE void scale_block(float *out, ptrdiff_t len, double scale) {
    float hi_s = (float)scale;
    vf hi = vf_set1(hi_s), lo = vf_set1((float)(scale - (double)hi_s));
    ptrdiff_t i = 0;
    for (; i + SK_VW <= len; i += SK_VW) {
        vf e = vf_load(out + i);
        vf_store(out + i, vf_fmadd(e, hi, vf_mul(e, lo)));
    }
    if (i < len) {
        vf e = vf_load_first(out + i, len - i, vf_set1(0.0f));
        vf_store_first(out + i, vf_fmadd(e, hi, vf_mul(e, lo)), len - i);
    }
}

/* out = (x - shift) - log_norm, with both roundings compensated. */
SK_INLINE void log_block(const float *x, const uint8_t *m, float *out, ptrdiff_t len, float shift,
                         double log_norm) {
    float l_hi = (float)log_norm;
    vf mv = vf_set1(shift), lh = vf_set1(l_hi), ll = vf_set1((float)(log_norm - (double)l_hi));
    vf neg_inf = vf_set1(-INFINITY);
    for (ptrdiff_t i = 0; i < len; i += SK_VW) {
        ptrdiff_t n = len - i < SK_VW ? len - i : SK_VW;
        vf v = n == SK_VW ? vf_load_x(x + i, m ? m + i : NULL)
                          : vf_load_x_first(x + i, m ? m + i : NULL, n);
        vf lo;
        vf d = sk_vshift(v, mv, &lo);
        lo = vf_and_mask(vf_gt(d, neg_inf), lo); /* NaN at d = -inf */
        /* d <= 0 <= L: d - L never cancels. */
        vf r = vf_add(vf_sub(d, lh), vf_sub(lo, ll));
        if (n == SK_VW)
            vf_store(out + i, r);
        else
            vf_store_first(out + i, r, n);
    }
}

static void fill(float *out, ptrdiff_t len, float value) {
    for (ptrdiff_t i = 0; i < len; i++) out[i] = value;
}

/* ---- rows of at most SK_BLOCK elements ------------------------------------ */

/* softmax or log_softmax of row r. */
static void row(const sk_reduce_args *a, ptrdiff_t r) {
    const float *x = (const float *)(a->x + r * a->xs_outer);
    const uint8_t *m = a->mask ? a->mask + r * a->ms_outer : NULL;
    float *out = (float *)(a->out + r * a->os_outer);
    ptrdiff_t n = a->n;
    int log_op = a->op == SK_LOG_SOFTMAX;
    sk_part p;
    if (!block_stats(x, m, log_op ? NULL : out, n, log_op, &p)) {
        /* +inf in the row: the portable loops apply the +inf rule. */
        sk_slice s;
        SK_FN(sk_row_stats)(a, r, 0, n, &p, NULL);
        SK_FN(sk_combine_parts)(&p, 1, &s);
        SK_FN(sk_row_apply)(a, r, 0, n, &s, NULL);
        return;
    }
    double norm = p.k + p.t;
    if (p.nan)
        fill(out, n, NAN);
    else if (!(norm > 0))
        fill(out, n, log_op ? -INFINITY : 0.0f);
    else if (log_op)
        log_block(x, m, out, n, (float)p.max, log(p.k) + log1p(p.t / p.k));
    else
        scale_block(out, n, 1.0 / norm);
}

void SK_FN(sk_f32_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1) {
    for (ptrdiff_t r = r0; r < r1; r++) row(a, r);
}

/* ---- blocks of long rows (see driver.c) ----------------------------------- */

void SK_FN(sk_f32_block_stats)(const sk_reduce_args *a, ptrdiff_t r, ptrdiff_t start,
                               ptrdiff_t len, sk_part *part) {
    const float *x = (const float *)(a->x + r * a->xs_outer) + start;
    const uint8_t *m = a->mask ? a->mask + r * a->ms_outer + start : NULL;
    int log_op = a->op == SK_LOG_SOFTMAX;
    float *e_out = log_op ? NULL : (float *)(a->out + r * a->os_outer) + start;
    if (!block_stats(x, m, e_out, len, log_op, part))
        SK_FN(sk_row_stats)(a, r, start, len, part, NULL);
}

/* Output of a block whose statistics block_stats made (part) in a row whose
 * normaliser is s. */
void SK_FN(sk_f32_block_apply)(const sk_reduce_args *a, ptrdiff_t r, ptrdiff_t start,
                               ptrdiff_t len, const sk_part *part, const sk_slice *s) {
    float *out = (float *)(a->out + r * a->os_outer) + start;
    if (isnan(s->shift)) {
        fill(out, len, NAN);
    } else if (s->pinf) {
        SK_FN(sk_row_apply)(a, r, start, len, s, NULL);
    } else if (a->op == SK_LOG_SOFTMAX) {
        const float *x = (const float *)(a->x + r * a->xs_outer) + start;
        const uint8_t *m = a->mask ? a->mask + r * a->ms_outer + start : NULL;
        log_block(x, m, out, len, (float)s->shift, s->log_norm);
    } else if (part->max == -INFINITY || !(s->k + s->t > 0)) {
        fill(out, len, 0.0f);
    } else {
        /* out holds exp(x - m_b): rescale by exp(m_b - shift) / norm. */
        double d = part->max - s->shift;
        double f = sk_exp_accurate(d, sk_two_sum_err(part->max, -s->shift, d));
        scale_block(out, len, f * s->inv);
    }
}

#endif
