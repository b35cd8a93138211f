/* float32 column mode (softmax and log_softmax over a non-last axis) in
 * float32 lanes (SIMD builds; the baseline build runs the portable tiles of
 * softmax_body.h). See sk_f32_columns below for how a unit is reduced.
 */
#include "sk_exp.h"
#include "sk_isa.h"

#if defined(__AVX2__)
#include "sk_simd.h"
#include "sk_f32_lanes.h"

void SK_FN(sk_tile)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width);

/* ---- column mode: softmax over a non-last axis ----------------------------- */

/* A unit is a tile of up to SK_F32_COLUMNS neighbouring slices (columns of
 * the contiguous inner axis) of one outer index, reduced over all n rows. Its
 * rows are read whole (a tile's row segment is up to 2 KiB of consecutive
 * bytes), so that the hardware prefetchers stream them in, as they do a copy;
 * per-column state lives in arrays of vectors in L1.
 *
 * First pass, in chunks of sk_f32_column_chunk_rows rows (256 KiB of x: L2):
 * each chunk's maximum per column is folded into a running maximum s; then
 * the chunk's exponentials e = exp(x - s) (TwoSum-compensated shift, as in
 * the row loops) are stored in out and summed, while the chunk is in cache.
 * The chunk's sums join the column's running normaliser, rescaled by
 * exp(s_old - s) when s grew (for random data, rarely after the first
 * chunks). The shift of every chunk is kept in scratch.
 * Second pass, last chunk first (its rows are the most recently written, so
 * what is still cached is found): out *= exp(s_chunk - s_final) / norm (the
 * exponential only where s_chunk differs from s_final); log_softmax writes
 * (x - hi) - lo as the row loops do.
 * So x is read from memory once for softmax (twice for log_softmax) and every
 * exponential is computed once. Each column is reduced in its own lane with
 * chunk boundaries fixed by the shape, so which tile or thread takes a column
 * changes no result. */

SK_INLINE const float *col_ptr(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i, ptrdiff_t j) {
    return (const float *)(a->x + o * a->xs_outer + i * a->xs_n) + j;
}
SK_INLINE float *col_out(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i, ptrdiff_t j) {
    return (float *)(a->out + o * a->os_outer + i * a->os_n) + j;
}

#define SK_COLUMN_VECTORS (SK_F32_COLUMNS / SK_VW)

/* The state of a tile's columns, one vector per SK_VW columns. */
typedef struct {
    vf run_max[SK_COLUMN_VECTORS]; /* running maximum, -inf before any finite entry */
    vf shift[SK_COLUMN_VECTORS];   /* run_max, or 0 where it is -inf (exp gives 0, NaN stays) */
    vf low[SK_COLUMN_VECTORS];     /* shift + SK_F32_EXP_LOW: the clamp */
    vf chunk_max[SK_COLUMN_VECTORS];
    vf count[SK_COLUMN_VECTORS];   /* log_softmax: entries at the shift */
    vf_sum sum[SK_COLUMN_VECTORS];
} column_state;

/* The chunk's maximum per column, rows [i0, i1), into st->chunk_max. */
SK_INLINE void chunk_max(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i0, ptrdiff_t i1,
                         ptrdiff_t j0, ptrdiff_t width, column_state *st) {
    ptrdiff_t full = width / SK_VW, rest = width - full * SK_VW;
    for (ptrdiff_t v = 0; v < full + (rest > 0); v++) st->chunk_max[v] = vf_set1(-INFINITY);
    for (ptrdiff_t i = i0; i < i1; i++) {
        const float *x = col_ptr(a, o, i, j0);
        /* vf_max(x, acc) keeps acc where x is NaN */
        for (ptrdiff_t v = 0; v < full; v++)
            st->chunk_max[v] = vf_max(vf_load(x + v * SK_VW), st->chunk_max[v]);
        if (rest)
            st->chunk_max[full] = vf_max(vf_load_first(x + full * SK_VW, rest, st->chunk_max[full]),
                                         st->chunk_max[full]);
    }
}

/* One vector of a chunk's row (w lanes of it in out). */
SK_INLINE void exp_vector(vf xv, float *out, ptrdiff_t w, int log_op, column_state *st, ptrdiff_t v) {
    vf lo;
    vf d = vf_shift(vf_clamp_exp_arg(xv, st->low[v]), st->shift[v], SK_SHIFT_TWO_SUM, &lo);
    vf e = sk_vexp_lo(d, lo);
    if (log_op) {
        st->sum[v] = vf_sum_add_split(st->sum[v], e, &st->count[v]);
    } else {
        if (w == SK_VW)
            vf_store(out, e);
        else
            vf_store_first(out, e, w);
        st->sum[v] = vf_sum_add(st->sum[v], e);
    }
}

/* The chunk's exponentials: stored in out (softmax) and summed into st->sum
 * (log_softmax: maxima counted apart, see vf_sum_add_split). The next
 * chunk's rows are fetched into L2 on the way, row i + (i1 - i0) while row i
 * is computed: this pass is compute-bound, and the next chunk's maximum pass
 * would otherwise wait for memory with the vector units idle. */
SK_INLINE void chunk_exp(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i0, ptrdiff_t i1,
                         ptrdiff_t j0, ptrdiff_t width, int log_op, column_state *st) {
    ptrdiff_t full = width / SK_VW, rest = width - full * SK_VW, ahead = i1 - i0;
    float base = log_op ? 0.0f : 1.0f; /* see vf_sum_add and vf_sum_add_split */
    for (ptrdiff_t v = 0; v < full + (rest > 0); v++) {
        st->sum[v] = vf_sum_start(base);
        st->count[v] = vf_set1(0.0f);
    }
    for (ptrdiff_t i = i0; i < i1; i++) {
        const float *x = col_ptr(a, o, i, j0);
        const float *next = i + ahead < a->n ? col_ptr(a, o, i + ahead, j0) : x;
        float *out = col_out(a, o, i, j0);
        for (ptrdiff_t v = 0; v < full; v++) {
            _mm_prefetch((const char *)(next + v * SK_VW), _MM_HINT_T1);
            exp_vector(vf_load(x + v * SK_VW), out + v * SK_VW, SK_VW, log_op, st, v);
        }
        if (rest)
            exp_vector(vf_load_first(x + full * SK_VW, rest, st->shift[full]), out + full * SK_VW, rest,
                       log_op, st, full);
    }
}

/* The first pass over a tile; returns 0 when the portable loops must take it
 * (+inf or a maximum beyond 2^20). k, t: each column's normaliser k + t
 * relative to its final shift (k: the entries equal to it, log_softmax only);
 * shifts: each chunk's shift, [chunk][column]. */
SK_INLINE int column_first_pass(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width,
                                int log_op, column_state *st, double *k, double *t, float *shifts) {
    ptrdiff_t n = a->n, rows = sk_f32_column_chunk_rows(a->inner);
    ptrdiff_t n_vec = (width + SK_VW - 1) / SK_VW;
    float base = log_op ? 0.0f : 1.0f;
    for (ptrdiff_t v = 0; v < n_vec; v++) st->run_max[v] = vf_set1(-INFINITY);
    for (ptrdiff_t j = 0; j < width; j++) k[j] = t[j] = 0.0;
    for (ptrdiff_t i0 = 0, c = 0; i0 < n; i0 += rows, c++) {
        ptrdiff_t i1 = i0 + rows < n ? i0 + rows : n;
        chunk_max(a, o, i0, i1, j0, width, st);
        float old[SK_F32_COLUMNS], now[SK_F32_COLUMNS];
        for (ptrdiff_t v = 0; v < n_vec; v++) {
            vf_store(old + v * SK_VW, st->run_max[v]);
            st->run_max[v] = vf_max(st->chunk_max[v], st->run_max[v]);
            vf_store(now + v * SK_VW, st->run_max[v]);
        }
        for (ptrdiff_t j = 0; j < width; j++) {
            if (!in_lanes(now[j])) return 0;
            shifts[c * width + j] = now[j];
        }
        for (ptrdiff_t v = 0; v < n_vec; v++) {
            vf m = st->run_max[v];
            st->shift[v] = vf_select(vf_eq(m, vf_set1(-INFINITY)), vf_set1(0.0f), m);
            st->low[v] = vf_add(st->shift[v], vf_set1(SK_F32_EXP_LOW));
        }
        chunk_exp(a, o, i0, i1, j0, width, log_op, st);
        float acc[SK_F32_COLUMNS], err[SK_F32_COLUMNS], cnt[SK_F32_COLUMNS];
        for (ptrdiff_t v = 0; v < n_vec; v++) {
            vf_store(acc + v * SK_VW, st->sum[v].acc);
            vf_store(err + v * SK_VW, st->sum[v].err);
            vf_store(cnt + v * SK_VW, st->count[v]);
        }
        for (ptrdiff_t j = 0; j < width; j++) {
            if (now[j] > old[j] && old[j] > -INFINITY) {
                /* The shift grew: what was summed relative to the old one
                 * is rescaled (exact difference: floats within 2^20). */
                t[j] = (k[j] + t[j]) * sk_exp_accurate((double)old[j] - (double)now[j], 0.0);
                k[j] = 0.0;
            }
            k[j] += log_op ? (double)cnt[j] : 0.0;
            t[j] += ((double)acc[j] - base) + (double)err[j];
        }
    }
    return 1;
}

/* out from x (log_softmax) or from the exponential e in out (softmax). */
SK_INLINE vf output_vector(vf in, int log_op, vf vh, vf vl) {
    return log_op ? log_of(in, vh, vl) : vf_fmadd(in, vh, vf_mul(in, vl));
}

/* The second pass over rows [i0, i1) of a tile, last row first: softmax
 * rescales the exponentials in out by fh + fl per column; log_softmax
 * writes (x - fh) - fl. */
SK_INLINE void column_output(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i0, ptrdiff_t i1,
                             ptrdiff_t j0, ptrdiff_t width, int log_op, const float *fh,
                             const float *fl) {
    ptrdiff_t full = width / SK_VW, rest = width - full * SK_VW;
    for (ptrdiff_t i = i1 - 1; i >= i0; i--) {
        const float *x = col_ptr(a, o, i, j0);
        float *out = col_out(a, o, i, j0);
        for (ptrdiff_t v = 0; v < full; v++) {
            vf vh = vf_load(fh + v * SK_VW), vl = vf_load(fl + v * SK_VW);
            vf in = log_op ? vf_load(x + v * SK_VW) : vf_load(out + v * SK_VW);
            vf_store(out + v * SK_VW, output_vector(in, log_op, vh, vl));
        }
        if (rest) {
            vf vh = vf_load(fh + full * SK_VW), vl = vf_load(fl + full * SK_VW);
            vf in = vf_load_first((log_op ? x : out) + full * SK_VW, rest, vf_set1(0.0f));
            vf_store_first(out + full * SK_VW, output_vector(in, log_op, vh, vl), rest);
        }
    }
}

/* column_first_pass and column_output with log_op constant, so that their
 * loops carry no test of it. */
static int first_pass_any(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width,
                          int log_op, column_state *st, double *k, double *t, float *shifts) {
    if (log_op) return column_first_pass(a, o, j0, width, 1, st, k, t, shifts);
    return column_first_pass(a, o, j0, width, 0, st, k, t, shifts);
}

static void output_any(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i0, ptrdiff_t i1,
                       ptrdiff_t j0, ptrdiff_t width, int log_op, const float *fh, const float *fl) {
    if (log_op)
        column_output(a, o, i0, i1, j0, width, 1, fh, fl);
    else
        column_output(a, o, i0, i1, j0, width, 0, fh, fl);
}

void SK_FN(sk_f32_columns)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width,
                           double *scratch) {
    int log_op = a->op == SK_LOG_SOFTMAX;
    ptrdiff_t n = a->n, rows = sk_f32_column_chunk_rows(a->inner);
    ptrdiff_t n_chunks = (n + rows - 1) / rows;
    float *shifts = (float *)scratch; /* [chunk][column] */
    column_state st;
    double k[SK_F32_COLUMNS], t[SK_F32_COLUMNS];
    if (!first_pass_any(a, o, j0, width, log_op, &st, k, t, shifts)) {
        for (ptrdiff_t c = 0; c < width; c += SK_TILE)
            SK_FN(sk_tile)(a, o, j0 + c, width - c < SK_TILE ? width - c : SK_TILE);
        return;
    }
    /* softmax: 1 / norm (0 for a column without finite entries);
     * log_softmax: shift + log(norm) as a float pair (see log_offset; log(norm)
     * is 0 there, so that -inf - 0 = -inf). NaN for a column holding NaN. */
    float fh[SK_F32_COLUMNS] = {0}, fl[SK_F32_COLUMNS] = {0};
    double inv[SK_F32_COLUMNS];
    const float *final_shift = shifts + (n_chunks - 1) * width;
    for (ptrdiff_t j = 0; j < width; j++) {
        float shift = final_shift[j] == -INFINITY ? 0.0f : final_shift[j];
        if (log_op) {
            double f = t[j] != t[j] ? NAN : (k[j] > 0 ? sk_log_norm(k[j], t[j]) : 0.0);
            log_offset lc = log_offset_of(shift, f);
            fh[j] = lc.hi;
            fl[j] = lc.lo;
        } else {
            inv[j] = t[j] != t[j] ? NAN : (t[j] > 0 ? 1.0 / t[j] : 0.0);
        }
    }
    if (log_op) {
        output_any(a, o, 0, n, j0, width, 1, fh, fl);
        return;
    }
    for (ptrdiff_t c = n_chunks - 1; c >= 0; c--) {
        ptrdiff_t i0 = c * rows, i1 = i0 + rows < n ? i0 + rows : n;
        for (ptrdiff_t j = 0; j < width; j++) {
            float s = shifts[c * width + j];
            /* exp(s_chunk - s_final) / norm, rounded once into hi + lo */
            double d = (double)s - (double)final_shift[j];
            double f = s == final_shift[j] ? inv[j] : s == -INFINITY ? 0.0 : sk_exp_accurate(d, 0.0) * inv[j];
            if (inv[j] != inv[j]) f = NAN;
            fh[j] = (float)f;
            fl[j] = (float)(f - (double)fh[j]);
        }
        output_any(a, o, i0, i1, j0, width, 0, fh, fl);
    }
}

#endif
