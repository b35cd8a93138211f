/* float32 softmax and log_softmax in float32 lanes (SIMD builds).
 *
 * Compiled in every ISA's library; only the AVX2 and AVX-512 builds define
 * anything (the baseline build runs the portable loops of softmax_body.h).
 *
 * A block of a row (a whole row when it has at most SK_BLOCK elements) is
 * reduced in two passes over its data and one over its output:
 *   1. the maximum m;
 *   2. e = exp((x - m) + lo) (sk_simd.h: TwoSum-compensated shift, float32
 *      polynomial) summed in compensated float32 lanes (sk_simd.h's vsum);
 *      softmax stores e in the output, log_softmax keeps k (entries with
 *      e == 1, the maxima) apart from t (the others), so that
 *      log(k + t) = log k + log1p(t / k) keeps its relative accuracy when one
 *      class dominates; the next row is prefetched meanwhile;
 *   3. softmax: out = e * (1 / norm) with the double factor split into two
 *      floats (one rounding); log_softmax: out = (x - hi) - lo with
 *      hi + lo = m + log(norm) (log_block).
 * (logsumexp stays with the double loops: see driver.c.)
 * So every exponential is computed once, and a row of up to SK_BLOCK floats
 * (128 KiB) is read from memory once: passes 2 and 3 find it in L2.
 * Measured against mpmath (tests/test_kernel_accuracy.py): within 2 ulp.
 *
 * Rows holding +inf or a maximum beyond 2^20 in magnitude take the portable
 * loops (the +inf rule is per element, and both are rare); NaN rows and rows without any included finite entry are
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
void SK_FN(sk_tile)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width);

/* ---- passes over one block ------------------------------------------------ */

/* Beyond this magnitude of the maximum, m - 110 is not accurate enough to
 * clamp with: such rows take the portable loops. */
#define SK_F32_LANES_MAX_SHIFT 0x1p20f

/* Whether a block whose maximum is mx is reduced in float32 lanes (else in
 * the portable loops: +inf, or a maximum too large to clamp below). */
SK_INLINE int in_lanes(double mx) { return mx == -INFINITY || fabs(mx) < SK_F32_LANES_MAX_SHIFT; }

/* Largest and smallest included entries (NaN ignored; excluded entries count
 * as -inf); the maximum is -inf when there is none. */
SK_INLINE void block_range(const float *x, const uint8_t *m, ptrdiff_t len, float *max, float *min) {
    vf hi0 = vf_set1(-INFINITY), hi1 = hi0, lo0 = vf_set1(INFINITY), lo1 = lo0;
    ptrdiff_t i = 0;
    /* vf_max(x, acc) and vf_min(x, acc) keep acc where x is NaN. */
    for (; i + 2 * SK_VW <= len; i += 2 * SK_VW) {
        vf a = vf_load_x(x + i, m ? m + i : NULL);
        vf b = vf_load_x(x + i + SK_VW, m ? m + i + SK_VW : NULL);
        hi0 = vf_max(a, hi0);
        hi1 = vf_max(b, hi1);
        lo0 = vf_min(a, lo0);
        lo1 = vf_min(b, lo1);
    }
    for (; i < len; i += SK_VW) {
        ptrdiff_t n = len - i < SK_VW ? len - i : SK_VW;
        vf a = n == SK_VW ? vf_load_x(x + i, m ? m + i : NULL) : vf_load_x_first(x + i, m ? m + i : NULL, n);
        hi0 = vf_max(a, hi0);
        /* the lanes past the end hold -inf: no effect on the max, and
         * the min only decides how the shift's error is computed */
        lo0 = vf_min(a, lo0);
    }
    *max = vf_hmax(vf_max(hi0, hi1));
    *min = -vf_hmax(vf_max(vf_sub(vf_set1(0.0f), lo0), vf_sub(vf_set1(0.0f), lo1)));
}

static int block_has_nan(const float *x, const uint8_t *m, ptrdiff_t len) {
    for (ptrdiff_t i = 0; i < len; i++)
        if ((!m || m[i]) && x[i] != x[i]) return 1;
    return 0;
}

/* x (with its mask) clamped below at low where the ISA needs it
 * (vf_clamp_exp_arg): exp of the shifted value is then 0 or more, never NaN,
 * for -inf and excluded entries alike; NaN stays. */
SK_INLINE vf load_clamped(const float *x, const uint8_t *m, ptrdiff_t i, ptrdiff_t n, vf low) {
    vf v = n == SK_VW ? vf_load_x(x + i, m ? m + i : NULL) : vf_load_x_first(x + i, m ? m + i : NULL, n);
    return vf_clamp_exp_arg(v, low);
}

/* The row a loop over rows takes next, fetched into L2 while the exponentials
 * of the current row are computed (that pass is compute-bound: without this
 * the next row's first pass would wait for memory with the vector units
 * idle). Where there is no next row it names the current one, whose
 * prefetches then find it in cache. */
typedef struct {
    const float *x;
    const float *out;
} next_row;

/* Adds e (the lanes past a partial vector hold 0) to the sums: softmax's
 * (split = 0) or log_softmax's, which counts the maxima (e == 1) apart. */
SK_INLINE void sums_add(vf e, int split, vf *count, vsum *sum) {
    if (split) {
        *sum = vsum_add_split(*sum, e, count);
    } else {
        *sum = vsum_add(*sum, e);
    }
}

/* Pass 2: sums of e = exp(x - mx) into part->k, part->t, e stored in e_out
 * when not NULL. split: count the entries with e == 1 apart (log_softmax).
 * The next row (of len elements too) is prefetched on the way. Full vectors
 * in the loop, the partial one after it. */
SK_INLINE void block_sums_body(const float *x, const uint8_t *m, float *e_out, ptrdiff_t len,
                               float mx, int kind, int split, next_row next, sk_part *part) {
    vf mv = vf_set1(mx), low = vf_set1(mx + SK_F32_EXP_LOW);
    vf count = vf_set1(0.0f);
    float base = split ? 0.0f : 1.0f; /* see vsum_add and vsum_add_split */
    vsum sum = vsum_start(base);
    ptrdiff_t i = 0;
    for (; i + SK_VW <= len; i += SK_VW) {
        _mm_prefetch((const char *)(next.x + i), _MM_HINT_T1);
        _mm_prefetch((const char *)(next.out + i), _MM_HINT_T1);
        vf lo;
        vf d = sk_vshift(load_clamped(x, m, i, SK_VW, low), mv, kind, &lo);
        vf e = sk_vexp_lo(d, lo);
        if (e_out) vf_store(e_out + i, e);
        sums_add(e, split, &count, &sum);
    }
    if (i < len) {
        vf lo;
        vf d = sk_vshift(load_clamped(x, m, i, len - i, low), mv, kind, &lo);
        vf e = sk_vexp_lo(d, lo); /* 0 past the end: x is -inf there */
        if (e_out) vf_store_first(e_out + i, e, len - i);
        sums_add(e, split, &count, &sum);
    }
    double s = vsum_total(sum, base);
    if (split) {
        part->k = (double)vf_hsum(count); /* exact: integers below 2^24 */
        part->t = s;
    } else {
        /* The maximum contributes exactly 1: k = 1, t = the rest (only
         * 1 / (k + t) is used). */
        part->k = 1.0;
        part->t = s - 1.0;
    }
    part->nan = s != s; /* an included NaN: exp(NaN - m) poisons the sum */
}

/* block_sums_body with the common cases' arguments constant, so that their
 * loops carry no test: no mask, and softmax (e_out) or log_softmax (split). */
SK_INLINE void block_sums(const float *x, const uint8_t *m, float *e_out, ptrdiff_t len,
                          float mx, int kind, int split, next_row next, sk_part *part) {
    if (m)
        block_sums_body(x, m, e_out, len, mx, kind, split, next, part);
    else if (split)
        block_sums_body(x, NULL, NULL, len, mx, kind, 1, next, part);
    else
        block_sums_body(x, NULL, e_out, len, mx, kind, 0, next, part);
}

/* Statistics of a block; returns 0 when the portable loops must do it (the
 * block holds +inf, or its maximum is too large to clamp below). Softmax
 * stores the exponentials in out. */
SK_INLINE int block_stats(const float *x, const uint8_t *m, float *e_out, ptrdiff_t len,
                          int split, next_row next, sk_part *part) {
    float mx, mn;
    block_range(x, m, len, &mx, &mn);
    part->max = mx;
    part->min = mn;
    part->k = part->t = 0.0;
    part->nan = 0;
    if (mx == -INFINITY) {
        part->nan = block_has_nan(x, m, len);
        return 1;
    }
    if (!in_lanes(mx)) return 0;
    /* Entries below mx - 110 are clamped to it: the smallest x that matters. */
    float smallest = mn > mx + SK_F32_EXP_LOW ? mn : mx + SK_F32_EXP_LOW;
    int kind = sk_shift_kind(mx, smallest);
    if (kind == SK_SHIFT_X_LARGER)
        block_sums(x, m, e_out, len, mx, SK_SHIFT_X_LARGER, split, next, part);
    else if (kind == SK_SHIFT_M_LARGER)
        block_sums(x, m, e_out, len, mx, SK_SHIFT_M_LARGER, split, next, part);
    else
        block_sums(x, m, e_out, len, mx, SK_SHIFT_TWO_SUM, split, next, part);
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

/* log_softmax subtracts c = shift + log_norm from x, c held as the float
 * pair hi + lo (lo formed from the exact difference shift - hi, so that c is
 * known to far below an ulp of x - c even where c cancels against x). The
 * output pass is then two subtractions, out = (x - hi) - lo:
 *   - where x is near hi (the log-probabilities near 0, at a dominant
 *     class), x - hi is exact (Sterbenz) and the only rounding is the last;
 *   - elsewhere |x - c| is at least about |c| / 2, lo is within an ulp of the
 *     result, and the two roundings stay within about one ulp.
 * (The shift's own rounding error, which the exponentials need, does not
 * matter here: it is below half an ulp of x - shift, and |x - c| is larger.)
 * -inf and excluded entries give -inf; NaN gives NaN. */
typedef struct {
    float hi, lo;
} log_offset;

SK_INLINE log_offset log_offset_of(float shift, double log_norm) {
    log_offset c;
    c.hi = (float)((double)shift + log_norm);
    c.lo = (float)(((double)shift - (double)c.hi) + log_norm);
    return c;
}

SK_INLINE vf log_of(vf x, vf hi, vf lo) { return vf_sub(vf_sub(x, hi), lo); }

SK_INLINE void log_block(const float *x, const uint8_t *m, float *out, ptrdiff_t len, float shift,
                         double log_norm) {
    log_offset c = log_offset_of(shift, log_norm);
    vf hi = vf_set1(c.hi), lo = vf_set1(c.lo);
    ptrdiff_t i = 0;
    for (; i + SK_VW <= len; i += SK_VW) vf_store(out + i, log_of(vf_load_x(x + i, m ? m + i : NULL), hi, lo));
    if (i < len)
        vf_store_first(out + i, log_of(vf_load_x_first(x + i, m ? m + i : NULL, len - i), hi, lo), len - i);
}

static void fill(float *out, ptrdiff_t len, float value) {
    for (ptrdiff_t i = 0; i < len; i++) out[i] = value;
}

/* ---- rows of at most SK_BLOCK elements ------------------------------------ */

/* softmax or log_softmax of row r; next: the row to prefetch. */
static void row(const sk_reduce_args *a, ptrdiff_t r, next_row next) {
    const float *x = (const float *)(a->x + r * a->xs_outer);
    const uint8_t *m = a->mask ? a->mask + r * a->ms_outer : NULL;
    float *out = (float *)(a->out + r * a->os_outer);
    ptrdiff_t n = a->n;
    int log_op = a->op == SK_LOG_SOFTMAX;
    sk_part p;
    if (!block_stats(x, m, log_op ? NULL : out, n, log_op, next, &p)) {
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
    for (ptrdiff_t r = r0; r < r1; r++) {
        next_row next = {(const float *)(a->x + r * a->xs_outer), (const float *)(a->out + r * a->os_outer)};
        if (r + 1 < r1) {
            next.x = (const float *)(a->x + (r + 1) * a->xs_outer);
            next.out = (const float *)(a->out + (r + 1) * a->os_outer);
        }
        row(a, r, next);
    }
}

/* ---- short rows: one row per lane ------------------------------------------ */

/* A tile of up to SK_VW rows of n <= SK_F32_SHORT_ROW elements is gathered
 * column by column into scratch (column j of the tile is one vector: lane l
 * holds row l), so that every operation runs on full vectors whatever n is:
 * no horizontal reductions, no partial vectors, no per-row loop. The row
 * normalisers come out as vectors too; softmax needs no log at all. */

typedef struct {
    int32_t out_index[SK_F32_SHORT_ROW * SK_VW]; /* contiguous output <- scratch */
} short_plan;

/* Output element i of a tile (row i / n, column i % n) sits at scratch index
 * column * SK_VW + row. */
static void plan_short(short_plan *p, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n * SK_VW; i++) p->out_index[i] = (int32_t)((i % n) * SK_VW + i / n);
}

/* log(u) for u >= 1 (finite), branch-free and without libm, so that the loop
 * over a tile's lanes vectorises: u = 2^e m with m in [sqrt(1/2), sqrt(2)),
 * log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716, by its series to
 * s^15 (relative error below 1e-13). */
SK_INLINE double log_at_least_one(double u) {
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    int64_t e = (int64_t)(bits >> 52) - 1023;
    uint64_t mbits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    double m;
    memcpy(&m, &mbits, sizeof m);
    int big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    e = big ? e + 1 : e;
    double f = m - 1.0;
    double sv = f / (2.0 + f);
    double s2 = sv * sv;
    double q = 2.0 / 15 + s2 * 0.0;
    q = 2.0 / 13 + s2 * q;
    q = 2.0 / 11 + s2 * q;
    q = 2.0 / 9 + s2 * q;
    q = 2.0 / 7 + s2 * q;
    q = 2.0 / 5 + s2 * q;
    q = 2.0 / 3 + s2 * q;
    return (double)e * 0x1.62e42fefa39efp-1 + (2.0 * sv + sv * s2 * q);
}

/* log(k) + log1p(t / k), as sk_finish forms log(norm), for k >= 1: log1p(q)
 * as log(1 + q) plus the rounding error of 1 + q divided by it. */
SK_INLINE double log_norm_of(double k, double t) {
    double q = t / k;
    double u = 1.0 + q;
    double correction = (q - (u - 1.0)) / u;
    return log_at_least_one(k) + (log_at_least_one(u) + correction);
}

/* Rows [r0, r0 + rows) through the lanes; returns 0 (having done nothing)
 * when a row needs the general path (+inf, a huge maximum, a mask). */
static int short_tile(const sk_reduce_args *a, const short_plan *plan, ptrdiff_t r0, ptrdiff_t rows) {
    ptrdiff_t n = a->n;
    int log_op = a->op == SK_LOG_SOFTMAX;
    float t[SK_F32_SHORT_ROW * SK_VW]; /* column j at t + j * SK_VW */
    const float *x = (const float *)(a->x + r0 * a->xs_outer);
    vi rows_at = vi_lanes_times((int32_t)(a->xs_outer / (ptrdiff_t)sizeof(float)));
    vmask live = vmask_first(rows);
    vf hi = vf_set1(-INFINITY);
    for (ptrdiff_t j = 0; j < n; j++) {
        vf v = vf_gather_where(live, x + j, rows_at);
        vf_store(t + j * SK_VW, v);
        hi = vf_max(v, hi); /* NaN ignored; lanes past the tile hold 0 */
    }
    float shift[SK_VW];
    vf_store(shift, hi);
    for (int l = 0; l < SK_VW; l++) {
        if (shift[l] == -INFINITY)
            shift[l] = 0.0f; /* no finite entry: exp gives 0 (NaN stays NaN) */
        else if (!(fabsf(shift[l]) < SK_F32_LANES_MAX_SHIFT))
            return 0;
    }
    vf mv = vf_load(shift), low = vf_add(mv, vf_set1(SK_F32_EXP_LOW));
    vf count = vf_set1(0.0f);
    float base = log_op ? 0.0f : 1.0f; /* see vsum_add and vsum_add_split */
    vsum sum = vsum_start(base);
    for (ptrdiff_t j = 0; j < n; j++) {
        vf lo;
        vf d = sk_vshift(vf_clamp_exp_arg(vf_load(t + j * SK_VW), low), mv, SK_SHIFT_TWO_SUM, &lo);
        vf e = sk_vexp_lo(d, lo);
        if (log_op) {
            sum = vsum_add_split(sum, e, &count);
        } else {
            vf_store(t + j * SK_VW, e); /* x is not needed again */
            sum = vsum_add(sum, e);
        }
    }
    float acc[SK_VW], err[SK_VW], k[SK_VW], hi_f[SK_VW], lo_f[SK_VW];
    vf_store(acc, sum.acc);
    vf_store(err, sum.err);
    vf_store(k, count);
    for (int l = 0; l < SK_VW; l++) {
        double total = ((double)acc[l] - base) + (double)err[l];
        double f; /* softmax: 1 / norm; log_softmax: log(norm) */
        if (log_op) {
            /* k >= 1 unless the row has no finite entry (then norm = 0) */
            double kl = k[l] > 0 ? (double)k[l] : 1.0, tl = total == total ? total : 0.0;
            f = log_norm_of(kl, tl);
            f = total != total ? NAN : (k[l] > 0 ? f : 0.0);
        } else {
            f = total > 0 ? 1.0 / total : (total == 0 ? 0.0 : NAN);
        }
        if (log_op) {
            /* log_softmax = x - (shift + log(norm)), see log_block */
            log_offset c = log_offset_of(shift[l], f);
            hi_f[l] = c.hi;
            lo_f[l] = c.lo;
        } else {
            hi_f[l] = (float)f;
            lo_f[l] = (float)(f - (double)hi_f[l]);
        }
    }
    vf fh = vf_load(hi_f), fl = vf_load(lo_f);
    for (ptrdiff_t j = 0; j < n; j++) {
        vf v = vf_load(t + j * SK_VW);
        vf_store(t + j * SK_VW, log_op ? log_of(v, fh, fl) : vf_fmadd(v, fh, vf_mul(v, fl)));
    }
    float *out = (float *)(a->out + r0 * a->os_outer);
    if (a->os_outer == n * (ptrdiff_t)sizeof(float)) {
        /* Contiguous rows: gather the output back into row order. */
        ptrdiff_t total = rows * n, i = 0;
        for (; i + SK_VW <= total; i += SK_VW)
            vf_store(out + i, vf_gather_where(vmask_first(SK_VW), t, vi_load(plan->out_index + i)));
        if (i < total)
            vf_store_first(out + i, vf_gather_where(vmask_first(total - i), t, vi_load(plan->out_index + i)),
                           total - i);
    } else {
        for (ptrdiff_t l = 0; l < rows; l++) {
            float *o = (float *)((char *)out + l * a->os_outer);
            for (ptrdiff_t j = 0; j < n; j++) o[j] = t[j * SK_VW + l];
        }
    }
    return 1;
}

void SK_FN(sk_f32_short_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1) {
    short_plan plan;
    plan_short(&plan, a->n);
    /* Gather indices are int32: rows must be less than 2^31 / SK_VW floats apart. */
    int gather = !a->mask && a->xs_outer > 0 && a->xs_outer / (ptrdiff_t)sizeof(float) <= INT32_MAX / SK_VW;
    for (ptrdiff_t r = r0; r < r1; r += SK_VW) {
        ptrdiff_t rows = r1 - r < SK_VW ? r1 - r : SK_VW;
        if (!gather || !short_tile(a, &plan, r, rows))
            for (ptrdiff_t i = r; i < r + rows; i++)
                row(a, i, (next_row){(const float *)(a->x + i * a->xs_outer),
                                     (const float *)(a->out + i * a->os_outer)});
    }
}

/* ---- column mode: softmax over a non-last axis ----------------------------- */

/* A unit is SK_F32_COLUMNS neighbouring slices (columns of the contiguous
 * inner axis) of one outer index, reduced over all n rows. Rows are taken in
 * chunks of SK_F32_CHUNK_ROWS (a chunk of 64 columns is 64 KiB: L2): each
 * chunk's maximum per column is found, then its exponentials are stored in
 * out relative to that maximum and summed, all while the chunk is in cache;
 * the second pass over memory rescales out by exp(m_chunk - max) / norm (or
 * writes log_softmax from x). So x is read from memory once for softmax
 * (twice for log_softmax) and the exponentials are computed once. */

typedef struct {
    float max;     /* of the chunk's column, -inf if nothing finite */
    float k;       /* entries equal to it (log_softmax) */
    double t;      /* the sum of the other exp(x - max) (softmax: of all of them) */
} column_part;
/* driver.c sizes the scratch as 16 bytes per slice and chunk */
_Static_assert(sizeof(column_part) == 16, "column_part is 16 bytes");

SK_INLINE const float *col_ptr(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i, ptrdiff_t j) {
    return (const float *)(a->x + o * a->xs_outer + i * a->xs_n) + j;
}
SK_INLINE float *col_out(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i, ptrdiff_t j) {
    return (float *)(a->out + o * a->os_outer + i * a->os_n) + j;
}

#define SK_COLUMN_VECTORS (SK_F32_COLUMNS / SK_VW)

/* A unit's row segments are a few cache lines of rows far apart (4 KiB for
 * 1024 columns), which the hardware prefetchers, following sequential lines
 * within a page or strides below 2 KiB, do not fetch ahead: the loops
 * prefetch them into L2 themselves, rows SK_F32_AHEAD ahead in the streaming
 * passes and the next chunk's rows while a chunk's exponentials are formed. */
#define SK_F32_AHEAD 16

SK_INLINE void prefetch_segment(const void *p, ptrdiff_t width) {
    for (ptrdiff_t b = 0; b < width * (ptrdiff_t)sizeof(float); b += 64)
        _mm_prefetch((const char *)p + b, _MM_HINT_T1);
}

/* Columns [j0, j0 + width) over rows [i0, i1): the chunk's statistics;
 * exponentials into out for softmax. Each row's segment is read whole (one
 * page, one TLB entry) in both passes. Returns 0 when the portable loops must
 * take the unit (+inf or a maximum beyond 2^20). */
SK_INLINE int column_chunk(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i0, ptrdiff_t i1,
                           ptrdiff_t j0, ptrdiff_t width, int log_op, column_part *part) {
    ptrdiff_t n_vec = (width + SK_VW - 1) / SK_VW, last = width - (n_vec - 1) * SK_VW;
    vf hi[SK_COLUMN_VECTORS];
    for (int v = 0; v < SK_COLUMN_VECTORS; v++) hi[v] = vf_set1(-INFINITY);
    for (ptrdiff_t i = i0; i < i1; i++) {
        const float *x = col_ptr(a, o, i, j0);
        if (i + SK_F32_AHEAD < i1) prefetch_segment(col_ptr(a, o, i + SK_F32_AHEAD, j0), width);
        for (int v = 0; v < SK_COLUMN_VECTORS; v++) {
            if (v >= n_vec) break;
            ptrdiff_t w = v == n_vec - 1 ? last : SK_VW;
            hi[v] = vf_max(vf_load_first(x + v * SK_VW, w, hi[v]), hi[v]);
        }
    }
    float mx[SK_F32_COLUMNS];
    for (int v = 0; v < SK_COLUMN_VECTORS; v++) vf_store(mx + v * SK_VW, hi[v]);
    for (ptrdiff_t l = 0; l < width; l++) {
        if (!in_lanes(mx[l])) return 0;
        part[l].max = mx[l];
        if (mx[l] == -INFINITY) mx[l] = 0.0f; /* exp gives 0; NaN stays NaN */
    }
    float base = log_op ? 0.0f : 1.0f; /* see vsum_add and vsum_add_split */
    vf mv[SK_COLUMN_VECTORS], low[SK_COLUMN_VECTORS], count[SK_COLUMN_VECTORS];
    vsum sum[SK_COLUMN_VECTORS];
    for (int v = 0; v < SK_COLUMN_VECTORS; v++) {
        mv[v] = vf_load(mx + v * SK_VW);
        low[v] = vf_add(mv[v], vf_set1(SK_F32_EXP_LOW));
        count[v] = vf_set1(0.0f);
        sum[v] = vsum_start(base);
    }
    for (ptrdiff_t i = i0; i < i1; i++) {
        const float *x = col_ptr(a, o, i, j0);
        float *out = col_out(a, o, i, j0);
        if (i + SK_F32_CHUNK_ROWS < a->n) {
            /* the next chunk's row: read by its first pass (and its output
             * written by the second for softmax) */
            prefetch_segment(col_ptr(a, o, i + SK_F32_CHUNK_ROWS, j0), width);
            if (!log_op) prefetch_segment(col_out(a, o, i + SK_F32_CHUNK_ROWS, j0), width);
        }
        for (int v = 0; v < SK_COLUMN_VECTORS; v++) {
            if (v >= n_vec) break;
            ptrdiff_t w = v == n_vec - 1 ? last : SK_VW;
            vf lo;
            vf d = sk_vshift(vf_clamp_exp_arg(vf_load_first(x + v * SK_VW, w, mv[v]), low[v]), mv[v],
                             SK_SHIFT_TWO_SUM, &lo);
            vf e = sk_vexp_lo(d, lo);
            if (log_op) {
                sum[v] = vsum_add_split(sum[v], e, &count[v]);
            } else {
                vf_store_first(out + v * SK_VW, e, w);
                sum[v] = vsum_add(sum[v], e);
            }
        }
    }
    float acc[SK_F32_COLUMNS], err[SK_F32_COLUMNS], k[SK_F32_COLUMNS];
    for (int v = 0; v < SK_COLUMN_VECTORS; v++) {
        vf_store(acc + v * SK_VW, sum[v].acc);
        vf_store(err + v * SK_VW, sum[v].err);
        vf_store(k + v * SK_VW, count[v]);
    }
    for (ptrdiff_t l = 0; l < width; l++) {
        part[l].k = log_op ? k[l] : 0.0f;
        part[l].t = ((double)acc[l] - base) + (double)err[l];
    }
    return 1;
}

/* column_chunk with its arguments constant in the common cases (a full
 * unit of columns; softmax or log_softmax), so that their loops carry no
 * test and no masked load. */
static int column_chunk_any(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i0, ptrdiff_t i1,
                            ptrdiff_t j0, ptrdiff_t width, int log_op, column_part *part) {
    if (width == SK_F32_COLUMNS && log_op)
        return column_chunk(a, o, i0, i1, j0, SK_F32_COLUMNS, 1, part);
    if (width == SK_F32_COLUMNS)
        return column_chunk(a, o, i0, i1, j0, SK_F32_COLUMNS, 0, part);
    return column_chunk(a, o, i0, i1, j0, width, log_op, part);
}

/* The second pass over rows [i0, i1) of a unit: softmax rescales the
 * exponentials in out by fh + fl per column; log_softmax writes
 * (x - fh) - fl. */
SK_INLINE void column_output(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i0, ptrdiff_t i1,
                             ptrdiff_t j0, ptrdiff_t width, int log_op, const float *fh,
                             const float *fl) {
    ptrdiff_t n_vec = (width + SK_VW - 1) / SK_VW, last = width - (n_vec - 1) * SK_VW;
    for (ptrdiff_t i = i0; i < i1; i++) {
        const float *x = col_ptr(a, o, i, j0);
        float *out = col_out(a, o, i, j0);
        if (i + SK_F32_AHEAD < a->n) {
            if (log_op) prefetch_segment(col_ptr(a, o, i + SK_F32_AHEAD, j0), width);
            prefetch_segment(col_out(a, o, i + SK_F32_AHEAD, j0), width);
        }
        for (int v = 0; v < SK_COLUMN_VECTORS; v++) {
            if (v >= n_vec) break;
            ptrdiff_t w = v == n_vec - 1 ? last : SK_VW;
            vf vh = vf_load(fh + v * SK_VW), vl = vf_load(fl + v * SK_VW);
            vf r;
            if (log_op) {
                r = log_of(vf_load_first(x + v * SK_VW, w, vh), vh, vl);
            } else {
                vf e = vf_load_first(out + v * SK_VW, w, vf_set1(0.0f));
                r = vf_fmadd(e, vh, vf_mul(e, vl));
            }
            vf_store_first(out + v * SK_VW, r, w);
        }
    }
}

static void column_output_any(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i0, ptrdiff_t i1,
                              ptrdiff_t j0, ptrdiff_t width, int log_op, const float *fh,
                              const float *fl) {
    if (width == SK_F32_COLUMNS && log_op)
        column_output(a, o, i0, i1, j0, SK_F32_COLUMNS, 1, fh, fl);
    else if (width == SK_F32_COLUMNS)
        column_output(a, o, i0, i1, j0, SK_F32_COLUMNS, 0, fh, fl);
    else
        column_output(a, o, i0, i1, j0, width, log_op, fh, fl);
}

void SK_FN(sk_f32_columns)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width,
                           double *scratch) {
    int log_op = a->op == SK_LOG_SOFTMAX;
    ptrdiff_t n = a->n, n_chunks = (n + SK_F32_CHUNK_ROWS - 1) / SK_F32_CHUNK_ROWS;
    column_part *parts = (column_part *)scratch; /* [chunk][column] */
    for (ptrdiff_t c = 0; c < n_chunks; c++) {
        ptrdiff_t i0 = c * SK_F32_CHUNK_ROWS, i1 = i0 + SK_F32_CHUNK_ROWS < n ? i0 + SK_F32_CHUNK_ROWS : n;
        if (!column_chunk_any(a, o, i0, i1, j0, width, log_op, parts + c * SK_F32_COLUMNS)) {
            for (ptrdiff_t t = 0; t < width; t += SK_TILE)
                SK_FN(sk_tile)(a, o, j0 + t, width - t < SK_TILE ? width - t : SK_TILE);
            return;
        }
    }
    /* Combine the chunks of each column (as sk_combine does blocks). */
    float scale_hi[SK_F32_COLUMNS], scale_lo[SK_F32_COLUMNS], shift[SK_F32_COLUMNS];
    for (ptrdiff_t j = 0; j < width; j++) {
        float mx = -INFINITY;
        for (ptrdiff_t c = 0; c < n_chunks; c++) {
            float m = parts[c * SK_F32_COLUMNS + j].max;
            mx = m > mx ? m : mx;
        }
        double k = 0.0, t = 0.0;
        for (ptrdiff_t c = 0; c < n_chunks; c++) {
            const column_part *p = &parts[c * SK_F32_COLUMNS + j];
            if (p->max == mx) {
                k += p->k;
                t += p->t;
            } else if (p->max > -INFINITY) {
                double d = (double)p->max - (double)mx; /* exact: floats within 2^20 */
                t += ((double)p->k + p->t) * sk_exp_accurate(d, 0.0);
            }
        }
        shift[j] = mx == -INFINITY ? 0.0f : mx;
        /* softmax: 1 / norm (0 for a column without finite entries);
         * log_softmax: shift + log(norm) as a float pair (see log_block; 0
         * there, so that -inf - 0 = -inf). */
        double f;
        if (t != t)
            f = NAN;
        else if (log_op)
            f = k > 0 ? log(k) + log1p(t / k) : 0.0;
        else
            f = t > 0 ? 1.0 / t : 0.0;
        if (log_op) {
            log_offset lc = log_offset_of(shift[j], f);
            scale_hi[j] = lc.hi;
            scale_lo[j] = lc.lo;
        } else {
            scale_hi[j] = (float)f;
            scale_lo[j] = (float)(f - (double)scale_hi[j]);
        }
    }
    /* Second pass: rescale each chunk's exponentials, or write log_softmax,
     * row segment by row segment. */
    for (ptrdiff_t c = 0; c < n_chunks; c++) {
        ptrdiff_t i0 = c * SK_F32_CHUNK_ROWS, i1 = i0 + SK_F32_CHUNK_ROWS < n ? i0 + SK_F32_CHUNK_ROWS : n;
        float fh[SK_F32_COLUMNS] = {0}, fl[SK_F32_COLUMNS] = {0};
        for (ptrdiff_t l = 0; l < width; l++) {
            const column_part *p = &parts[c * SK_F32_COLUMNS + l];
            if (log_op) {
                fh[l] = scale_hi[l];
                fl[l] = scale_lo[l];
            } else {
                /* exp(m_chunk - max) / norm, rounded once into hi + lo */
                double f = p->max == -INFINITY ? 0.0
                           : sk_exp_accurate((double)p->max - (double)shift[l], 0.0) *
                                 ((double)scale_hi[l] + (double)scale_lo[l]);
                if (scale_hi[l] != scale_hi[l]) f = NAN;
                fh[l] = (float)f;
                fl[l] = (float)(f - (double)fh[l]);
            }
        }
        column_output_any(a, o, i0, i1, j0, width, log_op, fh, fl);
    }
}

/* ---- blocks of long rows (see driver.c) ----------------------------------- */

void SK_FN(sk_f32_block_stats)(const sk_reduce_args *a, ptrdiff_t r, ptrdiff_t start,
                               ptrdiff_t len, sk_part *part) {
    const float *x = (const float *)(a->x + r * a->xs_outer) + start;
    const uint8_t *m = a->mask ? a->mask + r * a->ms_outer + start : NULL;
    int log_op = a->op == SK_LOG_SOFTMAX;
    float *e_out = log_op ? NULL : (float *)(a->out + r * a->os_outer) + start;
    /* The row's next block (driver.c hands a thread several in order); its
     * output only where this pass writes it (softmax). */
    next_row next = {x, x};
    if (start + len + SK_BLOCK <= a->n) {
        next.x = x + len;
        next.out = e_out ? e_out + len : next.x;
    }
    if (!block_stats(x, m, e_out, len, log_op, next, part))
        SK_FN(sk_row_stats)(a, r, start, len, part, NULL);
}

/* Output of a block whose statistics block_stats made (part) in a row whose
 * normaliser is s. */
void SK_FN(sk_f32_block_apply)(const sk_reduce_args *a, ptrdiff_t r, ptrdiff_t start,
                               ptrdiff_t len, const sk_part *part, const sk_slice *s) {
    float *out = (float *)(a->out + r * a->os_outer) + start;
    if (isnan(s->shift)) {
        fill(out, len, NAN);
    } else if (s->pinf || !in_lanes(part->max)) {
        /* The portable loops read x again. Where this block's statistics
         * stored exponentials into out and out is x (in place), they read
         * finite values in place of finite values: the +inf rule gives the
         * same output either way. */
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
