/* float32 softmax and log_softmax in float32 lanes (SIMD builds).
 *
 * Compiled for every ISA; only the AVX2 and AVX-512 builds define anything
 * (the baseline build runs the portable loops of softmax_body.h). Short rows
 * have their own file, softmax_short_f32.c (one row per lane).
 *
 * A block of a row (a whole row when it has at most SK_BLOCK elements) is
 * reduced in two passes over its data and one over its output:
 *   1. the maximum m;
 *   2. e = exp((x - m) + lo) (sk_simd.h: exactly compensated shift, float32
 *      polynomial) summed in compensated float32 lanes (sk_simd.h's vf_sum);
 *      softmax stores e in the output, log_softmax keeps k (entries with
 *      e == 1, the maxima) apart from t (the others), so that
 *      log(k + t) = log k + log1p(t / k) keeps its relative accuracy when one
 *      class dominates; the next row is prefetched meanwhile (one prefetch
 *      a cache line). This pass takes most of the time (about 3/4 on rows
 *      of 1000, AVX2): it is bound by the operations in flight, not by its
 *      ports (see block_sums_body);
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
#include "sk_f32_lanes.h"
#include "sk_lane_output.h"
#include "sk_vecf.h"

/* ---- passes over one block ------------------------------------------------ */

/* Largest and smallest included entries (NaN ignored; excluded entries count
 * as -inf), accumulated two vectors at a time (range_pair) and then one
 * (range_from), in two accumulators each; the maximum is -inf when there is
 * none. vf_max(x, acc) and vf_min(x, acc) keep acc where x is NaN. */
typedef struct {
    vf hi0, hi1, lo0, lo1;
} range_acc;

SK_INLINE range_acc range_start(void) {
    range_acc r = {vf_set1(-INFINITY), vf_set1(-INFINITY), vf_set1(INFINITY), vf_set1(INFINITY)};
    return r;
}

/* The two full vectors at x + i. */
SK_INLINE void range_pair(range_acc *r, const float *x, const uint8_t *m, ptrdiff_t i) {
    vf a = vf_load_x(x + i, m ? m + i : NULL);
    vf b = vf_load_x(x + i + SK_VW, m ? m + i + SK_VW : NULL);
    r->hi0 = vf_max(a, r->hi0);
    r->hi1 = vf_max(b, r->hi1);
    r->lo0 = vf_min(a, r->lo0);
    r->lo1 = vf_min(b, r->lo1);
}

/* The entries from i to len, one vector at a time. */
SK_INLINE void range_from(range_acc *r, const float *x, const uint8_t *m, ptrdiff_t i, ptrdiff_t len) {
    for (; i < len; i += SK_VW) {
        ptrdiff_t n = len - i < SK_VW ? len - i : SK_VW;
        vf a = n == SK_VW ? vf_load_x(x + i, m ? m + i : NULL) : vf_load_x_first(x + i, m ? m + i : NULL, n);
        /* the lanes past the end hold -inf, which leaves the max alone but
         * would make the min -inf (and every row whose length is not a
         * multiple of SK_VW take the per-lane kind of shift): the min takes +inf there */
        r->hi0 = vf_max(a, r->hi0);
        r->lo0 = vf_min(vf_select(vf_mask_first(n), a, vf_set1(INFINITY)), r->lo0);
    }
}

SK_INLINE void range_finish(range_acc r, float *max, float *min) {
    *max = vf_hmax(vf_max(r.hi0, r.hi1));
    *min = -vf_hmax(vf_max(vf_sub(vf_set1(0.0f), r.lo0), vf_sub(vf_set1(0.0f), r.lo1)));
}

SK_INLINE void block_range(const float *x, const uint8_t *m, ptrdiff_t len, float *max, float *min) {
    range_acc r = range_start();
    ptrdiff_t i = 0;
    for (; i + 2 * SK_VW <= len; i += 2 * SK_VW) range_pair(&r, x, m, i);
    range_from(&r, x, m, i, len);
    range_finish(r, max, min);
}

/* A row's range (block_range), or none yet (known = 0): the row loop takes
 * the next row's range in the pass that writes the current row's output. */
typedef struct {
    float max, min;
    int known;
} row_range;

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
SK_INLINE void sums_add(vf e, int split, vf_count *count, vf_sum *sum) {
    if (split) {
        *sum = vf_sum_add_split(*sum, e, count);
    } else {
        *sum = vf_sum_add(*sum, e);
    }
}

/* The first half of the short form's exponential (sk_vexp_normal_start) of
 * the full vector at x + i: the load, the shift and the argument reduction. */
SK_INLINE sk_vexp_started exp_start(const float *x, ptrdiff_t i, vf mv, int kind) {
    vf lo;
    vf d = vf_shift(vf_load(x + i), mv, kind, &lo);
    return sk_vexp_normal_start(d, lo);
}

/* The second half: e stored in e_out + i unless split, and added to *sum. */
SK_INLINE void exp_finish(sk_vexp_started s, float *e_out, ptrdiff_t i, int split, vf_count *count,
                          vf_sum *sum) {
    vf e = sk_vexp_normal_finish(s);
    if (!split) vf_store(e_out + i, e);
    sums_add(e, split, count, sum);
}

/* e = exp(x - mx) of the full vector at x + i, stored in e_out unless split
 * and added to *sum (see block_sums_body). */
SK_INLINE void sums_step(const float *x, const uint8_t *m, float *e_out, ptrdiff_t i, vf mv, vf low,
                         int kind, int split, int normal, vf_count *count, vf_sum *sum) {
    if (normal) {
        exp_finish(exp_start(x, i, mv, kind), e_out, i, split, count, sum);
        return;
    }
    vf lo;
    vf d = vf_shift(load_clamped(x, m, i, SK_VW, low), mv, kind, &lo);
    vf e = sk_vexp_lo(d, lo);
    if (!split) vf_store(e_out + i, e);
    sums_add(e, split, count, sum);
}

/* block_sums_body's pairs of full vectors in the short form (no mask),
 * software-pipelined: each iteration starts the next pair's exponentials
 * before it finishes this pair's, so that the long chains of the next pair
 * (load to r: ~20 cycles) are under way while this pair's polynomials and
 * sums wait. The sums are added in the same order: same bits. Measured on
 * Zen 3 (1 thread, CPU time): softmax 10% and log_softmax 6% faster on
 * (4096, 1000), 5-7% and 1-2% on (1024, 32000). Returns the index past the
 * pairs. */
SK_INLINE ptrdiff_t normal_pairs(const float *x, float *e_out, ptrdiff_t len, vf mv, int kind, int split,
                                 next_row next, vf_count *count, vf_sum *sum) {
    if (len < 2 * SK_VW) return 0;
    sk_vexp_started a = exp_start(x, 0, mv, kind), b = exp_start(x, SK_VW, mv, kind);
    ptrdiff_t i = 0;
    for (; i + 4 * SK_VW <= len; i += 2 * SK_VW) {
        sk_prefetch_lines(next.x + i, 2 * sizeof(vf));
        sk_prefetch_lines(next.out + i, 2 * sizeof(vf));
        sk_vexp_started a_next = exp_start(x, i + 2 * SK_VW, mv, kind);
        sk_vexp_started b_next = exp_start(x, i + 3 * SK_VW, mv, kind);
        exp_finish(a, e_out, i, split, count, sum);
        exp_finish(b, e_out, i + SK_VW, split, count, sum);
        a = a_next;
        b = b_next;
    }
    sk_prefetch_lines(next.x + i, 2 * sizeof(vf));
    sk_prefetch_lines(next.out + i, 2 * sizeof(vf));
    exp_finish(a, e_out, i, split, count, sum);
    exp_finish(b, e_out, i + SK_VW, split, count, sum);
    return i + 2 * SK_VW;
}

/* Pass 2: sums of e = exp(x - mx) into part->k, part->t. split: count the
 * entries with e == 1 apart (log_softmax, e_out NULL); otherwise (softmax) e
 * is stored in e_out (the test is on split, a constant in each of
 * block_sums' loops: one on e_out stayed inside the unrolled loop).
 * normal: every x - mx is at least SK_F32_EXP_NORMAL (no -inf, no clamp, no
 * subnormal exponential) in the full vectors, which then take the short form
 * of the exponential. The next row (of len elements too) is prefetched on
 * the way.
 *
 * Two vectors an iteration, so that each cache line of the next row is
 * prefetched once, not once a vector (AVX2): measured 4% faster on rows of
 * 1000 (1 thread, Zen 3). This loop is bound by the operations it holds in
 * flight (each vector's exponential is a chain of ~50 cycles of latency
 * through ~25 operations; ~12 cycles a vector where its ports allow 6), not
 * by its one chain of sums (3 cycles a vector), so an operation less a
 * vector is what counts: two independent chains of sums measured 4-7%
 * slower (AVX2 has 16 registers: an accumulator went to the stack), and
 * Estrin's scheme for the polynomial (one operation more, 5 cycles of
 * latency less) no faster (5% slower in this loop alone); the order in which
 * the operations reach the processor counts too (normal_pairs, software-
 * pipelined, and GCC's scheduling pass: see meson.build). Then the last full
 * vector and the partial one. */
SK_INLINE void block_sums_body(const float *x, const uint8_t *m, float *e_out, ptrdiff_t len,
                               float mx, int kind, int split, int normal, next_row next,
                               sk_part *part) {
    vf mv = vf_set1(mx), low = vf_set1(mx + SK_F32_EXP_LOW);
    vf_count count = vf_count_start();
    float base = split ? 0.0f : 1.0f; /* see vf_sum_add and vf_sum_add_split */
    vf_sum sum = vf_sum_start(base);
    ptrdiff_t i = normal ? normal_pairs(x, e_out, len, mv, kind, split, next, &count, &sum) : 0;
    for (; i + 2 * SK_VW <= len; i += 2 * SK_VW) {
        sk_prefetch_lines(next.x + i, 2 * sizeof(vf));
        sk_prefetch_lines(next.out + i, 2 * sizeof(vf));
        sums_step(x, m, e_out, i, mv, low, kind, split, normal, &count, &sum);
        sums_step(x, m, e_out, i + SK_VW, mv, low, kind, split, normal, &count, &sum);
    }
    if (i + SK_VW <= len) {
        sk_prefetch_lines(next.x + i, sizeof(vf));
        sk_prefetch_lines(next.out + i, sizeof(vf));
        sums_step(x, m, e_out, i, mv, low, kind, split, normal, &count, &sum);
        i += SK_VW;
    }
    if (i < len) {
        vf lo;
        vf d = vf_shift(load_clamped(x, m, i, len - i, low), mv, kind, &lo);
        vf e = sk_vexp_lo(d, lo); /* 0 past the end: x is -inf there */
        if (!split) vf_store_first(e_out + i, e, len - i);
        sums_add(e, split, &count, &sum);
    }
    double s = vf_sum_total(sum, base);
    if (split) {
        part->k = (double)vf_hsum(vf_count_floats(count)); /* exact: integers below 2^24 */
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
 * loops carry no test: no mask, and softmax (e_out) or log_softmax (split),
 * each with the exponential's short form or not. (A mask excludes entries as
 * -inf: never the short form.) */
SK_INLINE void block_sums(const float *x, const uint8_t *m, float *e_out, ptrdiff_t len,
                          float mx, int kind, int split, int normal, next_row next, sk_part *part) {
    if (m)
        block_sums_body(x, m, e_out, len, mx, kind, split, 0, next, part);
    else if (split && normal)
        block_sums_body(x, NULL, NULL, len, mx, kind, 1, 1, next, part);
    else if (split)
        block_sums_body(x, NULL, NULL, len, mx, kind, 1, 0, next, part);
    else if (normal)
        block_sums_body(x, NULL, e_out, len, mx, kind, 0, 1, next, part);
    else
        block_sums_body(x, NULL, e_out, len, mx, kind, 0, 0, next, part);
}

/* Statistics of a block; returns 0 when the portable loops must do it (the
 * block holds +inf, or its maximum is too large to clamp below). Softmax
 * stores the exponentials in out. */
SK_INLINE int block_stats(const float *x, const uint8_t *m, float *e_out, ptrdiff_t len,
                          int split, next_row next, row_range known, sk_part *part) {
    float mx = known.max, mn = known.min;
    if (!known.known) block_range(x, m, len, &mx, &mn);
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
    /* mn - mx rounds no higher than any x - mx: all of them are normal's */
    int normal = mn - mx >= SK_F32_EXP_NORMAL;
    if (kind == SK_SHIFT_X_LARGER)
        block_sums(x, m, e_out, len, mx, SK_SHIFT_X_LARGER, split, normal, next, part);
    else if (kind == SK_SHIFT_M_LARGER)
        block_sums(x, m, e_out, len, mx, SK_SHIFT_M_LARGER, split, normal, next, part);
    else
        block_sums(x, m, e_out, len, mx, SK_SHIFT_PER_LANE, split, normal, next, part);
    return 1;
}

/* out = e * scale, e read from out, with scale = hi + lo split into floats
 * (scale_factors): the full vector at out + i (scale_vector), the entries
 * from i to len (scale_from). */
SK_INLINE void scale_factors(double scale, vf *hi, vf *lo) {
    float hi_s = (float)scale;
    *hi = vf_set1(hi_s);
    *lo = vf_set1((float)(scale - (double)hi_s));
}

SK_INLINE void scale_vector(float *out, ptrdiff_t i, vf hi, vf lo) {
    vf e = vf_load(out + i);
    vf_store(out + i, vf_fmadd(e, hi, vf_mul(e, lo)));
}

SK_INLINE void scale_from(float *out, ptrdiff_t i, ptrdiff_t len, vf hi, vf lo) {
    for (; i + SK_VW <= len; i += SK_VW) scale_vector(out, i, hi, lo);
    if (i < len) {
        vf e = vf_load_first(out + i, len - i, vf_set1(0.0f));
        vf_store_first(out + i, vf_fmadd(e, hi, vf_mul(e, lo)), len - i);
    }
}

SK_INLINE void scale_block(float *out, ptrdiff_t len, double scale) {
    vf hi, lo;
    scale_factors(scale, &hi, &lo);
    scale_from(out, 0, len, hi, lo);
}

/* scale_block, with the range of the next row (x, m: len entries too) taken
 * on the way into *next (see row). */
SK_INLINE void scale_block_ranging(float *out, ptrdiff_t len, double scale, const float *x, const uint8_t *m,
                                   row_range *next) {
    vf hi, lo;
    scale_factors(scale, &hi, &lo);
    range_acc r = range_start();
    ptrdiff_t i = 0;
    for (; i + 2 * SK_VW <= len; i += 2 * SK_VW) {
        scale_vector(out, i, hi, lo);
        scale_vector(out, i + SK_VW, hi, lo);
        range_pair(&r, x, m, i);
    }
    scale_from(out, i, len, hi, lo);
    range_from(&r, x, m, i, len);
    range_finish(r, &next->max, &next->min);
    next->known = 1;
}

/* log_softmax's blocks of at least this many floats (64 KiB of output) write
 * it with non-temporal stores: that output does not fit the caches beside its
 * row, so plain stores read every line first (12 bytes of traffic an element
 * where these take 8), and this pass waits on memory (measured on one thread,
 * rows of 32000: 5-8% faster, provided the output is not also prefetched,
 * see stream_output). Shorter rows keep plain stores, which their next pass
 * or the caller finds in cache. */
#define SK_F32_STREAM_FLOATS 8192

/* Whether log_softmax streams a block of len floats to out (float-aligned). */
SK_INLINE int stream_output(const float *out, ptrdiff_t len) {
    return len >= SK_F32_STREAM_FLOATS && (uintptr_t)out % sizeof(float) == 0;
}

SK_INLINE void log_block(const float *x, const uint8_t *m, float *out, ptrdiff_t len, float shift,
                         double log_norm) {
    log_offset c = log_offset_of(shift, log_norm);
    vf hi = vf_set1(c.hi), lo = vf_set1(c.lo);
    ptrdiff_t i = 0;
    if (stream_output(out, len)) {
        /* plain stores up to the first vector-aligned element, then streamed */
        const size_t vector_bytes = SK_VW * sizeof(float);
        ptrdiff_t head = (ptrdiff_t)((vector_bytes - (uintptr_t)out % vector_bytes) % vector_bytes / sizeof(float));
        if (head) vf_store_first(out, log_of(vf_load_x_first(x, m, head), hi, lo), head);
        for (i = head; i + SK_VW <= len; i += SK_VW)
            vf_stream(out + i, log_of(vf_load_x(x + i, m ? m + i : NULL), hi, lo));
        _mm_sfence(); /* the streamed stores are seen before whatever follows (the threads' join) */
    }
    for (; i + SK_VW <= len; i += SK_VW) vf_store(out + i, log_of(vf_load_x(x + i, m ? m + i : NULL), hi, lo));
    if (i < len)
        vf_store_first(out + i, log_of(vf_load_x_first(x + i, m ? m + i : NULL, len - i), hi, lo), len - i);
}


static void fill(float *out, ptrdiff_t len, float value) {
    for (ptrdiff_t i = 0; i < len; i++) out[i] = value;
}

/* ---- rows of at most SK_BLOCK elements ------------------------------------ */

/* softmax or log_softmax of row r; next: the row to prefetch; known: the
 * row's range if the previous row took it. Where next_range is not NULL
 * (softmax, row r + 1 next in this loop), the scaling pass takes row r + 1's
 * range on the way (scale_block_ranging), or it stays unknown. Measured on
 * Zen 3 (1 thread, CPU time): softmax (4096, 1000) 5% faster, same bits
 * (without the range pass at all it would be 12%: the scaling pass now waits
 * on the next row's loads from L2); log_softmax's output pass, so extended,
 * was 1% faster, not kept. */
static void row(const sk_reduce_args *a, ptrdiff_t r, next_row next, row_range known,
                row_range *next_range) {
    const float *x = (const float *)(a->x + r * a->xs_outer);
    const uint8_t *m = sk_row_mask(a, r, 0);
    float *out = (float *)(a->out + r * a->os_outer);
    ptrdiff_t n = a->n;
    int log_op = a->op == SK_LOG_SOFTMAX;
    sk_part p;
    int taken = block_stats(x, m, log_op ? NULL : out, n, log_op, next, known, &p);
    sk_output o = sk_output_of(log_op, p.nan, !taken, p.max, p.k + p.t);
    switch (o) {
        case SK_OUT_NAN:
        case SK_OUT_EMPTY: fill(out, n, (float)sk_output_fill(o, log_op)); break;
        case SK_OUT_PORTABLE: sk_row_portable(a, r); break;
        case SK_OUT_LOG: log_block(x, m, out, n, (float)p.max, sk_log_norm(p.k, p.t)); break;
        case SK_OUT_SCALE:
            if (next_range)
                scale_block_ranging(out, n, 1.0 / (p.k + p.t), (const float *)(a->x + (r + 1) * a->xs_outer),
                                    sk_row_mask(a, r + 1, 0), next_range);
            else
                scale_block(out, n, 1.0 / (p.k + p.t));
            break;
    }
}

void SK_FN(sk_f32_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1) {
    row_range known = {0.0f, 0.0f, 0};
    for (ptrdiff_t r = r0; r < r1; r++) {
        next_row next = {(const float *)(a->x + r * a->xs_outer), (const float *)(a->out + r * a->os_outer)};
        row_range next_range = {0.0f, 0.0f, 0};
        if (r + 1 < r1) {
            next.x = (const float *)(a->x + (r + 1) * a->xs_outer);
            next.out = (const float *)(a->out + (r + 1) * a->os_outer);
            /* a streamed output is not fetched: the fetch would bring in the
             * lines the stores bypass (measured 16-19% slower with it) */
            if (a->op == SK_LOG_SOFTMAX && stream_output(next.out, a->n)) next.out = next.x;
        }
        row(a, r, next, known, r + 1 < r1 && a->op != SK_LOG_SOFTMAX ? &next_range : NULL);
        known = next_range;
    }
}

/* ---- blocks of long rows (see driver.c) ----------------------------------- */

void SK_FN(sk_f32_block_stats)(const sk_reduce_args *a, ptrdiff_t r, ptrdiff_t start,
                               ptrdiff_t len, sk_part *part) {
    const float *x = (const float *)(a->x + r * a->xs_outer) + start;
    const uint8_t *m = sk_row_mask(a, r, start);
    int log_op = a->op == SK_LOG_SOFTMAX;
    float *e_out = log_op ? NULL : (float *)(a->out + r * a->os_outer) + start;
    /* The row's next block (driver.c hands a thread several in order); its
     * output only where this pass writes it (softmax). */
    next_row next = {x, x};
    if (start + len + SK_BLOCK <= a->n) {
        next.x = x + len;
        next.out = e_out ? e_out + len : next.x;
    }
    if (!block_stats(x, m, e_out, len, log_op, next, (row_range){0.0f, 0.0f, 0}, part))
        SK_FN(sk_row_stats)(a, r, start, len, part, NULL);
}

/* Output of a block whose statistics block_stats made (part) in a row whose
 * normaliser is s. */
void SK_FN(sk_f32_block_apply)(const sk_reduce_args *a, ptrdiff_t r, ptrdiff_t start,
                               ptrdiff_t len, const sk_part *part, const sk_slice *s) {
    float *out = (float *)(a->out + r * a->os_outer) + start;
    sk_output o = sk_block_output(a, part, s, in_lanes(part->max));
    switch (o) {
        case SK_OUT_NAN:
        case SK_OUT_EMPTY: fill(out, len, (float)sk_output_fill(o, a->op == SK_LOG_SOFTMAX)); break;
        case SK_OUT_PORTABLE: SK_FN(sk_row_apply)(a, r, start, len, s, NULL); break;
        case SK_OUT_LOG: {
            const float *x = (const float *)(a->x + r * a->xs_outer) + start;
            const uint8_t *m = sk_row_mask(a, r, start);
            log_block(x, m, out, len, (float)s->shift, s->log_norm);
            break;
        }
        case SK_OUT_SCALE: scale_block(out, len, sk_block_rescale(part, s) * s->inv); break;
    }
}

#endif
