/* float64 softmax and log_softmax in float64 lanes (SIMD builds).
 *
 * The float64 counterpart of softmax_f32.c, built the same way: compiled in
 * every ISA's library, defining anything only in the AVX2 and AVX-512 builds
 * (the baseline build runs the portable loops of softmax_body.h). A block of a
 * row (a whole row when it has at most SK_BLOCK elements) is reduced in two
 * passes over its data and one over its output:
 *   1. the maximum m (and the minimum, and whether the block holds NaN);
 *   2. e = exp((x - m) + lo) (sk_simd_f64.h: exactly compensated shift,
 *      table-driven exp) summed with every rounding error kept (a
 *      double-double normaliser 1 + t, whose t keeps its relative accuracy
 *      however small: log_softmax at a dominant class is -log1p(t));
 *      softmax stores e in the output;
 *   3. softmax: out = e * (1 / norm), with 1 / norm as a double-double (one
 *      rounding); log_softmax: out = x - (m + log(norm)), the constant as a
 *      double-double.
 * (logsumexp stays with the portable loops, as for float32: see driver.c.)
 * So every exponential is computed once, and a row of up to SK_BLOCK doubles
 * (256 KiB) is read from memory once: passes 2 and 3 find it in L2.
 * Measured against mpmath (tests/test_kernel_accuracy.py): within 4 ulp.
 *
 * Rows holding +inf or a maximum beyond 2^40 in magnitude take the portable
 * loops (the +inf rule is per element, and both are rare); NaN rows and rows
 * without any included finite entry are finished here by the edge-case policy
 * of _stable.shift_by_max.
 */
#include "sk_exp.h"
#include "sk_isa.h"

#if defined(__AVX2__)
#include "sk_lane_output.h"
#include "sk_simd_f64.h"

/* ---- passes over one block ------------------------------------------------ */

/* Beyond this magnitude of the maximum, m - 1000 is not accurate enough to
 * clamp with: such rows take the portable loops. */
#define SK_F64_LANES_MAX_SHIFT 0x1p40

/* Whether a block whose maximum is mx is reduced in float64 lanes (else in
 * the portable loops: +inf, or a maximum too large to clamp below). */
SK_INLINE int in_lanes(double mx) { return mx == -INFINITY || fabs(mx) < SK_F64_LANES_MAX_SHIFT; }

/* Largest and smallest included entries (NaN ignored; excluded entries count
 * as -inf); the maximum is -inf when there is none; *nan: whether an included
 * entry is NaN. One unordered compare flags a NaN in either of two vectors,
 * and the flags are ORed: a chain of 1-cycle ORs (a count of NaN lanes, two
 * dependent adds a pair of vectors, made this loop latency-bound). */
SK_INLINE void block_range_impl(const double *x, const uint8_t *m, ptrdiff_t len, double *max,
                                double *min, int *nan) {
    vd hi0 = vd_set1(-INFINITY), hi1 = hi0, lo0 = vd_set1(INFINITY), lo1 = lo0;
    vdmask nans = vd_mask_first(0); /* no lane */
    ptrdiff_t i = 0;
    /* vd_max(x, acc) and vd_min(x, acc) keep acc where x is NaN. */
    for (; i + 2 * SK_VDW <= len; i += 2 * SK_VDW) {
        vd a = vd_load_x(x + i, m ? m + i : NULL), b = vd_load_x(x + i + SK_VDW, m ? m + i + SK_VDW : NULL);
        hi0 = vd_max(a, hi0);
        hi1 = vd_max(b, hi1);
        lo0 = vd_min(a, lo0);
        lo1 = vd_min(b, lo1);
        nans = vd_mask_or(nans, vd_unordered(a, b));
    }
    for (; i < len; i += SK_VDW) {
        ptrdiff_t n = len - i < SK_VDW ? len - i : SK_VDW;
        /* -inf past the end, which leaves the max alone but would make the
         * min -inf (and every row whose length is not a multiple of SK_VDW
         * take the per-lane kind of shift): the min takes +inf there */
        vd a = vd_load_x_at(x, m, i, n);
        hi0 = vd_max(a, hi0);
        lo0 = vd_min(vd_select(vd_mask_first(n), a, vd_set1(INFINITY)), lo0);
        nans = vd_mask_or(nans, vd_unordered(a, a));
    }
    *max = vd_hmax(vd_max(hi0, hi1));
    *min = -vd_hmax(vd_max(vd_sub(vd_set1(0.0), lo0), vd_sub(vd_set1(0.0), lo1)));
    *nan = vd_any(nans);
}

/* (Each of these wrappers makes one loop per case of the mask, without a
 * test inside.) */
static void block_range(const double *x, const uint8_t *m, ptrdiff_t len, double *max, double *min,
                        int *nan) {
    if (m)
        block_range_impl(x, m, len, max, min, nan);
    else
        block_range_impl(x, NULL, len, max, min, nan);
}

/* Pass 2 for one vector v of x (no NaN), in two stages (see block_sums):
 * exp_front shifts it, d = v - mx, and reduces exp(d)'s argument;
 * exp_back finishes e = exp(d), stores it at e_out (n lanes) when store, and
 * sums it. normal: every lane of v is at least mx + SK_F64_EXP_NORMAL (the
 * block's range says so), which needs neither the clamp nor the
 * exponential's general scaling. */
typedef struct {
    vd d;
    sk_expd_reduced a;
} exp_stage;

SK_INLINE exp_stage exp_front(vd v, vd mv, vd low, int kind, int normal) {
    exp_stage f;
    vd lo;
    /* exp gives exactly 0 below mx - 1000 (where vd_clamp_exp_arg clamps),
     * -inf and excluded entries included. */
    f.d = vd_shift(normal ? v : vd_clamp_exp_arg(v, low), mv, kind, &lo);
    f.a = sk_vexpd_reduce(f.d, lo);
    return f;
}

SK_INLINE vd_sum exp_back(vd_sum sum, exp_stage f, double *e_out, ptrdiff_t n, int store, int normal) {
    vd e = normal ? sk_vexpd_finish_normal(f.a) : sk_vexpd_finish(f.a, f.d);
    if (store) vd_store_at(e_out, 0, e, n);
    return vd_sum_add(sum, e);
}

/* What a loop over rows (or blocks) takes next, fetched into L2 while the
 * exponentials of the current one are computed: its x and the output it
 * writes (x, out NULL: nothing). */
typedef struct {
    const double *x, *out;
} ahead_rows;

/* Fetches the two vectors at i of ahead's x and out (one cache line each). */
SK_INLINE void fetch_ahead(ahead_rows ahead, ptrdiff_t i) {
    if (ahead.x) {
        sk_prefetch_lines(ahead.x + i, 2 * sizeof(vd));
        sk_prefetch_lines(ahead.out + i, 2 * sizeof(vd));
    }
}

/* Pass 2: the normaliser of a block whose maximum mx is finite with
 * |mx| < 2^40, the sum of e = exp(x - mx), as *norm + *norm_lo, and as
 * part->k = 1 (the maximum's own term) and part->t = the rest, to relative
 * accuracy however small it is (log_softmax at a dominant class is
 * -log1p(t)); e stored in e_out when store (softmax). The next row's x and
 * out (ahead, len elements each) are prefetched meanwhile: this pass is
 * compute-bound, and pass 1 of that row then finds it in cache instead of
 * waiting for memory. kind: how the shift's error is found (sk_shift_kind);
 * normal: the block's minimum is at least mx + SK_F64_EXP_NORMAL (see
 * exp_front; the tail holds -inf past the end, so it never is). Called with
 * constant m == NULL, kind, store and normal, so that each use is its own
 * loop without a test inside. */
SK_INLINE void block_sums(const double *x, const uint8_t *m, double *e_out, ptrdiff_t len,
                          double mx, int kind, int store, int normal, ahead_rows ahead,
                          sk_part *part, double *norm, double *norm_lo) {
    vd mv = vd_set1(mx), low = vd_set1(mx + SK_F64_EXP_LOW);
    vd_sum s = vd_sum_start(1.0), s2 = s; /* see vd_sum_add */
    ptrdiff_t i = 0;
    /* Two vectors a step, with two independent chains of sums, software-
     * pipelined: a step finishes the two vectors that the step before
     * reduced, then reduces the next two. Each vector's exponential is a
     * chain of ~45 cycles of latency through ~40 instructions, and this loop
     * is bound by the operations it holds in flight (Horner's rule for q,
     * 2 operations fewer and 16 cycles longer, was 6% slower; an operation
     * fewer off the chain, no faster): a vector's second half no longer
     * waits behind its own first half, so its operations leave the scheduler
     * sooner. Same bits; 5-10% faster on rows of 1000 and 32000, softmax and
     * log_softmax, one AVX2 thread (reducing the next two before finishing
     * these: 2-7%; splitting after the polynomial instead: 0-4%). */
    if (len >= 2 * SK_VDW) {
        exp_stage f1 = exp_front(vd_load_x(x, m), mv, low, kind, normal);
        exp_stage f2 = exp_front(vd_load_x(x + SK_VDW, m ? m + SK_VDW : NULL), mv, low, kind, normal);
        for (; i + 4 * SK_VDW <= len; i += 2 * SK_VDW) {
            fetch_ahead(ahead, i);
            s = exp_back(s, f1, store ? e_out + i : NULL, SK_VDW, store, normal);
            s2 = exp_back(s2, f2, store ? e_out + i + SK_VDW : NULL, SK_VDW, store, normal);
            ptrdiff_t j = i + 2 * SK_VDW;
            f1 = exp_front(vd_load_x(x + j, m ? m + j : NULL), mv, low, kind, normal);
            f2 = exp_front(vd_load_x(x + j + SK_VDW, m ? m + j + SK_VDW : NULL), mv, low, kind, normal);
        }
        fetch_ahead(ahead, i);
        s = exp_back(s, f1, store ? e_out + i : NULL, SK_VDW, store, normal);
        s2 = exp_back(s2, f2, store ? e_out + i + SK_VDW : NULL, SK_VDW, store, normal);
        i += 2 * SK_VDW;
    }
    for (; i < len; i += SK_VDW) {
        ptrdiff_t n = len - i < SK_VDW ? len - i : SK_VDW;
        /* the lanes past the end hold -inf: exp gives 0 there */
        s = exp_back(s, exp_front(vd_load_x_at(x, m, i, n), mv, low, kind, 0), store ? e_out + i : NULL, n,
                     store, 0);
    }
    double s_lo, s2_lo;
    double total = vd_sum_total(s, 1.0, &s_lo), total2 = vd_sum_total(s2, 1.0, &s2_lo);
    double hi = total + total2;
    double lo = sk_two_sum_err(total, total2, hi) + (s_lo + s2_lo);
    *norm = hi + lo;
    *norm_lo = sk_two_sum_err(hi, lo, *norm);
    part->k = 1.0;
    part->t = (hi - 1.0) + lo; /* hi - 1 is exact: hi >= 1 */
}

SK_INLINE void block_sums_of_kind(const double *x, const uint8_t *m, double *e_out, ptrdiff_t len,
                                  double mx, int kind, int store, int normal, ahead_rows ahead,
                                  sk_part *part, double *norm, double *norm_lo) {
#define SK_SUMS(kind_, normal_) block_sums(x, m, e_out, len, mx, kind_, store, normal_, ahead, part, norm, norm_lo)
    if (kind == SK_SHIFT_X_LARGER)
        normal ? SK_SUMS(SK_SHIFT_X_LARGER, 1) : SK_SUMS(SK_SHIFT_X_LARGER, 0);
    else if (kind == SK_SHIFT_M_LARGER)
        normal ? SK_SUMS(SK_SHIFT_M_LARGER, 1) : SK_SUMS(SK_SHIFT_M_LARGER, 0);
    else
        normal ? SK_SUMS(SK_SHIFT_PER_LANE, 1) : SK_SUMS(SK_SHIFT_PER_LANE, 0);
#undef SK_SUMS
}

/* Statistics of a block; returns 0 when the portable loops must do it (the
 * block holds +inf, or its maximum is too large to clamp below). Softmax
 * stores the exponentials in e_out and its normaliser in norm + norm_lo. */
SK_INLINE int block_stats(const double *x, const uint8_t *m, double *e_out, ptrdiff_t len,
                          ahead_rows ahead, sk_part *part, double *norm, double *norm_lo) {
    double mx, mn;
    int nan;
    block_range(x, m, len, &mx, &mn, &nan);
    part->max = mx;
    part->min = mn;
    part->k = part->t = 0.0;
    part->nan = nan; /* the output is NaN: nothing more to know */
    *norm = *norm_lo = 0.0;
    if (nan || mx == -INFINITY) return 1;
    if (!in_lanes(mx)) return 0;
    /* Entries below mx - 1000 give 0 whatever their shift's error: the
     * smallest x that matters is above that. */
    int kind = sk_shift_kind(mx, mn > mx + SK_F64_EXP_LOW ? mn : mx + SK_F64_EXP_LOW);
    int normal = mn >= mx + SK_F64_EXP_NORMAL;
    if (e_out && m)
        block_sums_of_kind(x, m, e_out, len, mx, kind, 1, normal, ahead, part, norm, norm_lo);
    else if (e_out)
        block_sums_of_kind(x, NULL, e_out, len, mx, kind, 1, normal, ahead, part, norm, norm_lo);
    else if (m)
        block_sums_of_kind(x, m, NULL, len, mx, kind, 0, normal, ahead, part, norm, norm_lo);
    else
        block_sums_of_kind(x, NULL, NULL, len, mx, kind, 0, normal, ahead, part, norm, norm_lo);
    return 1;
}

/* out = e * (hi + lo), e read from out. */
SK_INLINE void scale_block(double *out, ptrdiff_t len, double hi, double lo) {
    vd h = vd_set1(hi), l = vd_set1(lo);
    ptrdiff_t i = 0;
    for (; i + SK_VDW <= len; i += SK_VDW) {
        vd e = vd_load(out + i);
        vd_store(out + i, vd_fmadd(e, h, vd_mul(e, l)));
    }
    if (i < len) {
        vd e = vd_load_first(out + i, len - i, vd_set1(0.0));
        vd_store_first(out + i, vd_fmadd(e, h, vd_mul(e, l)), len - i);
    }
}

/* out = (x - c_hi) - c_lo with c_hi + c_lo = shift + log_norm exactly
 * (TwoSum): where the result is small (x near the maximum, the log-
 * probabilities whose relative accuracy is at stake) x - c_hi is exact
 * (Sterbenz), so only the last subtraction rounds; elsewhere both round, by
 * half an ulp of a result at least |c_hi| / 2. -inf and excluded entries
 * give -inf. */
SK_INLINE void log_block_impl(const double *x, const uint8_t *m, double *out, ptrdiff_t len,
                              double shift, double log_norm) {
    double c = shift + log_norm;
    vd c_hi = vd_set1(c), c_lo = vd_set1(sk_two_sum_err(shift, log_norm, c));
    ptrdiff_t i = 0;
    for (; i + SK_VDW <= len; i += SK_VDW)
        vd_store(out + i, vd_sub(vd_sub(vd_load_x(x + i, m ? m + i : NULL), c_hi), c_lo));
    if (i < len)
        vd_store_first(out + i, vd_sub(vd_sub(vd_load_x_at(x, m, i, len - i), c_hi), c_lo), len - i);
}

static void log_block(const double *x, const uint8_t *m, double *out, ptrdiff_t len, double shift,
                      double log_norm) {
    if (m)
        log_block_impl(x, m, out, len, shift, log_norm);
    else
        log_block_impl(x, NULL, out, len, shift, log_norm);
}

static void fill(double *out, ptrdiff_t len, double value) {
    for (ptrdiff_t i = 0; i < len; i++) out[i] = value;
}

/* ---- rows of at most SK_BLOCK elements ------------------------------------ */

/* softmax or log_softmax of row r; ahead: the next row. */
static void row(const sk_reduce_args *a, ptrdiff_t r, ahead_rows ahead) {
    const double *x = (const double *)(a->x + r * a->xs_outer);
    const uint8_t *m = sk_row_mask(a, r, 0);
    double *out = (double *)(a->out + r * a->os_outer);
    ptrdiff_t n = a->n;
    int log_op = a->op == SK_LOG_SOFTMAX;
    sk_part p;
    double norm, norm_lo;
    int taken = block_stats(x, m, log_op ? NULL : out, n, ahead, &p, &norm, &norm_lo);
    sk_output o = sk_output_of(log_op, p.nan, !taken, p.max, p.k + p.t);
    switch (o) {
        case SK_OUT_NAN:
        case SK_OUT_EMPTY: fill(out, n, (double)sk_output_fill(o, log_op)); break;
        case SK_OUT_PORTABLE: sk_row_portable(a, r); break;
        case SK_OUT_LOG: log_block(x, m, out, n, p.max, sk_log_norm(p.k, p.t)); break;
        case SK_OUT_SCALE: {
            /* 1 / (norm + norm_lo) as inv + inv_lo: inv's residual
             * 1 - inv (norm + norm_lo), exact to first order, over norm. */
            double inv = 1.0 / norm;
            double residual = fma(-inv, norm, 1.0) - inv * norm_lo;
            scale_block(out, n, inv, residual * inv);
            break;
        }
    }
}

void SK_FN(sk_f64_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1) {
    for (ptrdiff_t r = r0; r < r1; r++)
        row(a, r, r + 1 < r1 ? (ahead_rows){(const double *)(a->x + (r + 1) * a->xs_outer),
                                            (const double *)(a->out + (r + 1) * a->os_outer)}
                             : (ahead_rows){NULL, NULL});
}

/* ---- blocks of long rows (see driver.c) ----------------------------------- */

void SK_FN(sk_f64_block_stats)(const sk_reduce_args *a, ptrdiff_t r, ptrdiff_t start,
                               ptrdiff_t len, sk_part *part) {
    const double *x = (const double *)(a->x + r * a->xs_outer) + start;
    const uint8_t *m = sk_row_mask(a, r, start);
    int log_op = a->op == SK_LOG_SOFTMAX;
    double *e_out = log_op ? NULL : (double *)(a->out + r * a->os_outer) + start;
    /* The row's next block (driver.c hands a thread several in order). */
    ahead_rows ahead = {NULL, NULL};
    if (start + len + SK_BLOCK <= a->n) {
        ahead.x = x + len;
        ahead.out = e_out ? e_out + len : ahead.x; /* written in this pass by softmax only */
    }
    double norm, norm_lo;
    if (!block_stats(x, m, e_out, len, ahead, part, &norm, &norm_lo))
        SK_FN(sk_row_stats)(a, r, start, len, part, NULL);
}

/* Output of a block whose statistics block_stats made (part) in a row whose
 * normaliser is s. */
void SK_FN(sk_f64_block_apply)(const sk_reduce_args *a, ptrdiff_t r, ptrdiff_t start,
                               ptrdiff_t len, const sk_part *part, const sk_slice *s) {
    double *out = (double *)(a->out + r * a->os_outer) + start;
    sk_output o = sk_block_output(a, part, s, in_lanes(part->max));
    switch (o) {
        case SK_OUT_NAN:
        case SK_OUT_EMPTY: fill(out, len, (double)sk_output_fill(o, a->op == SK_LOG_SOFTMAX)); break;
        case SK_OUT_PORTABLE: SK_FN(sk_row_apply)(a, r, start, len, s, NULL); break;
        case SK_OUT_LOG: {
            const double *x = (const double *)(a->x + r * a->xs_outer) + start;
            const uint8_t *m = sk_row_mask(a, r, start);
            log_block(x, m, out, len, s->shift, s->log_norm);
            break;
        }
        case SK_OUT_SCALE: {
            /* the factor f / norm kept as hi + lo */
            double f = sk_block_rescale(part, s), hi = f * s->inv;
            scale_block(out, len, hi, fma(f, s->inv, -hi));
            break;
        }
    }
}

#endif
