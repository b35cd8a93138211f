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
 * per-column state lives in L1.
 *
 * First pass, in chunks of sk_f32_column_chunk_rows rows (256 KiB of x: L2):
 * each chunk's maximum per column is folded into a running maximum s; then
 * the chunk's exponentials exp(x - s) (exactly compensated shift, as in the
 * row loops) are summed while the chunk is in cache. The chunk's sums join
 * the column's running normaliser, rescaled by exp(s_old - s) when s grew
 * (for random data, rarely after the first chunks). Nothing is stored.
 * Second pass, from x again: softmax writes exp(x - s) / norm (the
 * exponential computed a second time), log_softmax (x - hi) - lo as the row
 * loops do; large tiles with non-temporal stores.
 * So a large tile moves 12 bytes an element (x read twice, out written
 * without being read), against the copy's 8. Keeping the exponentials in out
 * instead (as this mode did) moved 20: a tile's exponentials (n rows of
 * 2 KiB: 64 MiB for (32000, 1024)) do not stay in cache, so out was read for
 * ownership, written, read and written again; softmax of (32000, 1024) over
 * axis 0 took 2.3x the copy. The second exponential is hidden under the
 * memory traffic (the float32 lanes compute one in about 2 cycles an element).
 * Each column is reduced in its own lane with chunk boundaries fixed by the
 * shape, so which tile or thread takes a column changes no result.
 *
 * Each exponential pass takes the short form of the exponential
 * (sk_vexp_lo_normal: no clamp, a normal 2^k; with AVX2 9 operations a
 * vector fewer) where every column of the tile is within SK_F32_EXP_NORMAL
 * of its shift over the rows that pass reads (the chunk's for the first
 * pass, all of them for the second), as the row loops choose per block:
 * the same bits. (perf, one thread, (32000, 1024), the general form only:
 * the two exponential passes held about 85% of the samples.) */

SK_INLINE const float *col_ptr(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i, ptrdiff_t j) {
    return (const float *)(a->x + o * a->xs_outer + i * a->xs_n) + j;
}
SK_INLINE float *col_out(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i, ptrdiff_t j) {
    return (float *)(a->out + o * a->os_outer + i * a->os_n) + j;
}

#define SK_COLUMN_VECTORS (SK_F32_COLUMNS / SK_VW)

/* The state of a tile's columns in the first pass, one vector per SK_VW columns. */
typedef struct {
    vf run_max[SK_COLUMN_VECTORS]; /* running maximum, -inf before any finite entry */
    vf shift[SK_COLUMN_VECTORS];   /* run_max, or 0 where it is -inf (exp gives 0, NaN stays) */
    vf low[SK_COLUMN_VECTORS];     /* shift + SK_F32_EXP_LOW: the clamp */
    vf chunk_max[SK_COLUMN_VECTORS];
    vf chunk_min[SK_COLUMN_VECTORS]; /* over the non-NaN entries, +inf before any */
    vf run_min[SK_COLUMN_VECTORS];   /* likewise over the chunks so far */
    vf_count count[SK_COLUMN_VECTORS]; /* log_softmax: entries at the shift */
    vf_sum sum[SK_COLUMN_VECTORS];
} column_state;

/* The chunk's maximum and minimum per column, rows [i0, i1), into
 * st->chunk_max and st->chunk_min (the lanes past width are left over). */
SK_INLINE void chunk_range(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i0, ptrdiff_t i1,
                           ptrdiff_t j0, ptrdiff_t width, column_state *st) {
    ptrdiff_t full = width / SK_VW, rest = width - full * SK_VW;
    for (ptrdiff_t v = 0; v < full + (rest > 0); v++) {
        st->chunk_max[v] = vf_set1(-INFINITY);
        st->chunk_min[v] = vf_set1(INFINITY);
    }
    for (ptrdiff_t i = i0; i < i1; i++) {
        const float *x = col_ptr(a, o, i, j0);
        /* vf_max(x, acc) and vf_min(x, acc) keep acc where x is NaN */
        for (ptrdiff_t v = 0; v < full; v++) {
            vf xv = vf_load(x + v * SK_VW);
            st->chunk_max[v] = vf_max(xv, st->chunk_max[v]);
            st->chunk_min[v] = vf_min(xv, st->chunk_min[v]);
        }
        if (rest) {
            vf xv = vf_load_first(x + full * SK_VW, rest, st->chunk_max[full]);
            st->chunk_max[full] = vf_max(xv, st->chunk_max[full]);
            st->chunk_min[full] = vf_min(xv, st->chunk_min[full]);
        }
    }
}

/* Whether every column j < width has min[j] - shift[j] >= SK_F32_EXP_NORMAL:
 * then x - shift, which rounds no lower than min - shift, is too for every
 * x of those rows, and the exponential's short form gives the general
 * form's bits. (-inf entries and all -inf columns fail it; NaN entries are
 * not in min and give NaN either way.) */
SK_INLINE int tile_is_normal(const float *min, const float *shift, ptrdiff_t width) {
    for (ptrdiff_t j = 0; j < width; j++)
        if (!(min[j] - shift[j] >= SK_F32_EXP_NORMAL)) return 0;
    return 1;
}

/* exp(x - shift), the shift's rounding error fed in; normal: the short form
 * (see tile_is_normal), else x clamped at low first. */
SK_INLINE vf column_exp(vf xv, vf shift, vf low, int normal) {
    vf lo;
    if (normal) {
        vf d = vf_shift(xv, shift, SK_SHIFT_PER_LANE, &lo);
        return sk_vexp_lo_normal(d, lo);
    }
    vf d = vf_shift(vf_clamp_exp_arg(xv, low), shift, SK_SHIFT_PER_LANE, &lo);
    return sk_vexp_lo(d, lo);
}

/* One vector of a chunk's row into the sums (log_softmax: maxima counted apart). */
SK_INLINE void exp_vector(vf xv, int log_op, int normal, column_state *st, ptrdiff_t v) {
    vf e = column_exp(xv, st->shift[v], st->low[v], normal);
    if (log_op)
        st->sum[v] = vf_sum_add_split(st->sum[v], e, &st->count[v]);
    else
        st->sum[v] = vf_sum_add(st->sum[v], e);
}

/* The chunk's exponentials summed into st->sum (see vf_sum_add and
 * vf_sum_add_split). The next chunk's rows are fetched into L2 on the way,
 * row i + (i1 - i0) while row i is computed: this pass is compute-bound, and
 * the next chunk's maximum pass would otherwise wait for memory with the
 * vector units idle. */
SK_INLINE void chunk_exp(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t i0, ptrdiff_t i1,
                         ptrdiff_t j0, ptrdiff_t width, int log_op, int normal, column_state *st) {
    ptrdiff_t full = width / SK_VW, rest = width - full * SK_VW, ahead = i1 - i0;
    float base = log_op ? 0.0f : 1.0f;
    for (ptrdiff_t v = 0; v < full + (rest > 0); v++) {
        st->sum[v] = vf_sum_start(base);
        st->count[v] = vf_count_start();
    }
    for (ptrdiff_t i = i0; i < i1; i++) {
        const float *x = col_ptr(a, o, i, j0);
        const float *next = i + ahead < a->n ? col_ptr(a, o, i + ahead, j0) : x;
        for (ptrdiff_t v = 0; v < full; v++) {
            _mm_prefetch((const char *)(next + v * SK_VW), _MM_HINT_T1);
            exp_vector(vf_load(x + v * SK_VW), log_op, normal, st, v);
        }
        if (rest) exp_vector(vf_load_first(x + full * SK_VW, rest, st->shift[full]), log_op, normal, st, full);
    }
}

/* The first pass over a tile; returns 0 when the portable loops must take it
 * (+inf or a maximum beyond 2^20). k, t: each column's normaliser k + t
 * relative to its final shift, st->shift (k: the entries equal to it,
 * log_softmax only). */
SK_INLINE int column_first_pass(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width,
                                int log_op, column_state *st, double *k, double *t) {
    ptrdiff_t n = a->n, rows = sk_f32_column_chunk_rows(a->inner);
    ptrdiff_t n_vec = (width + SK_VW - 1) / SK_VW;
    float base = log_op ? 0.0f : 1.0f;
    for (ptrdiff_t v = 0; v < n_vec; v++) {
        st->run_max[v] = vf_set1(-INFINITY);
        st->run_min[v] = vf_set1(INFINITY);
    }
    for (ptrdiff_t j = 0; j < width; j++) k[j] = t[j] = 0.0;
    for (ptrdiff_t i0 = 0; i0 < n; i0 += rows) {
        ptrdiff_t i1 = i0 + rows < n ? i0 + rows : n;
        chunk_range(a, o, i0, i1, j0, width, st);
        float old[SK_F32_COLUMNS], now[SK_F32_COLUMNS], shift[SK_F32_COLUMNS], min[SK_F32_COLUMNS];
        for (ptrdiff_t v = 0; v < n_vec; v++) {
            vf_store(old + v * SK_VW, st->run_max[v]);
            st->run_max[v] = vf_max(st->chunk_max[v], st->run_max[v]);
            st->run_min[v] = vf_min(st->chunk_min[v], st->run_min[v]);
            vf_store(now + v * SK_VW, st->run_max[v]);
            vf_store(min + v * SK_VW, st->chunk_min[v]);
        }
        for (ptrdiff_t j = 0; j < width; j++)
            if (!in_lanes(now[j])) return 0;
        for (ptrdiff_t v = 0; v < n_vec; v++) {
            vf m = st->run_max[v];
            st->shift[v] = vf_select(vf_eq(m, vf_set1(-INFINITY)), vf_set1(0.0f), m);
            st->low[v] = vf_add(st->shift[v], vf_set1(SK_F32_EXP_LOW));
            vf_store(shift + v * SK_VW, st->shift[v]);
        }
        if (tile_is_normal(min, shift, width))
            chunk_exp(a, o, i0, i1, j0, width, log_op, 1, st);
        else
            chunk_exp(a, o, i0, i1, j0, width, log_op, 0, st);
        float acc[SK_F32_COLUMNS], err[SK_F32_COLUMNS], cnt[SK_F32_COLUMNS];
        for (ptrdiff_t v = 0; v < n_vec; v++) {
            vf_store(acc + v * SK_VW, st->sum[v].acc);
            vf_store(err + v * SK_VW, st->sum[v].err);
            vf_store(cnt + v * SK_VW, vf_count_floats(st->count[v]));
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

/* The second pass's constants per column, as floats, so that a vector of
 * them can start at any column: the stores start at out's vector alignment,
 * wherever the tile's first column lies. shift, low: the final shift and its
 * clamp (softmax); hi + lo: softmax's 1 / norm, log_softmax's shift + log(norm)
 * (see log_offset). One vector of slack past the last column. min: each
 * column's smallest entry (tile_is_normal). */
typedef struct {
    float shift[SK_F32_COLUMNS + SK_VW], low[SK_F32_COLUMNS + SK_VW], min[SK_F32_COLUMNS + SK_VW];
    float hi[SK_F32_COLUMNS + SK_VW], lo[SK_F32_COLUMNS + SK_VW];
} column_factors;

/* The output of a vector of row elements from column c on (normal: see
 * column_exp). */
SK_INLINE vf output_vector(vf xv, const column_factors *f, ptrdiff_t c, int log_op, int normal) {
    vf hi = vf_load(f->hi + c), lo = vf_load(f->lo + c);
    if (log_op) return log_of(xv, hi, lo);
    vf e = column_exp(xv, vf_load(f->shift + c), vf_load(f->low + c), normal);
    return vf_fmadd(e, hi, vf_mul(e, lo));
}

/* A tile's output of at least this many bytes is written with non-temporal
 * stores: it does not stay in cache for the caller, and plain stores would
 * read every line of it first. Smaller outputs keep plain stores, which the
 * caller then finds in cache. */
#define SK_COLUMN_STREAM_BYTES ((ptrdiff_t)4 << 20)

/* A row's segment of the output: plain stores up to out's first
 * vector-aligned column, then streamed (stream) or plain vectors, the
 * partial vector at the end plain. */
SK_INLINE void output_row(const float *x, float *out, ptrdiff_t width, const column_factors *f,
                          int log_op, int normal, int stream) {
    const size_t vector_bytes = SK_VW * sizeof(float);
    ptrdiff_t c = stream ? (ptrdiff_t)((vector_bytes - (uintptr_t)out % vector_bytes) % vector_bytes / sizeof(float)) : 0;
    if (c > width) c = width;
    if (c) vf_store_first(out, output_vector(vf_load_first(x, c, vf_load(f->shift)), f, 0, log_op, normal), c);
    if (stream)
        for (; c + SK_VW <= width; c += SK_VW) vf_stream(out + c, output_vector(vf_load(x + c), f, c, log_op, normal));
    for (; c + SK_VW <= width; c += SK_VW) vf_store(out + c, output_vector(vf_load(x + c), f, c, log_op, normal));
    if (c < width)
        vf_store_first(out + c, output_vector(vf_load_first(x + c, width - c, vf_load(f->shift + c)), f, c, log_op, normal),
                       width - c);
}

/* Rows the second pass fetches ahead into L2: each row segment is a stream
 * of its own (rows are a whole inner axis apart), which the hardware
 * prefetchers start anew, so that without this the pass waited on memory at
 * the start of every segment (perf: a fifth of its samples on x's loads). */
#define SK_COLUMN_AHEAD 16

/* The second pass over a tile's rows. */
SK_INLINE void column_output(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width,
                             int log_op, int normal, const column_factors *f) {
    int stream = a->n * width * (ptrdiff_t)sizeof(float) >= SK_COLUMN_STREAM_BYTES &&
                 (uintptr_t)col_out(a, o, 0, j0) % sizeof(float) == 0 && a->os_n % (ptrdiff_t)sizeof(float) == 0;
    const ptrdiff_t line = 64 / sizeof(float);
    for (ptrdiff_t i = 0; i < a->n; i++) {
        if (i + SK_COLUMN_AHEAD < a->n) {
            const float *ahead = col_ptr(a, o, i + SK_COLUMN_AHEAD, j0);
            for (ptrdiff_t c = 0; c < width; c += line) _mm_prefetch((const char *)(ahead + c), _MM_HINT_T1);
            _mm_prefetch((const char *)(ahead + width - 1), _MM_HINT_T1);
        }
        output_row(col_ptr(a, o, i, j0), col_out(a, o, i, j0), width, f, log_op, normal, stream);
    }
    if (stream) _mm_sfence(); /* the streamed stores are seen before whatever follows (the threads' join) */
}

/* column_first_pass and column_output with log_op (and normal) constant, so
 * that their loops carry no test of them. */
static int first_pass_any(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width,
                          int log_op, column_state *st, double *k, double *t) {
    if (log_op) return column_first_pass(a, o, j0, width, 1, st, k, t);
    return column_first_pass(a, o, j0, width, 0, st, k, t);
}

static void output_any(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width, int log_op,
                       const column_factors *f) {
    if (log_op)
        column_output(a, o, j0, width, 1, 0, f); /* no exponential */
    else if (tile_is_normal(f->min, f->shift, width))
        column_output(a, o, j0, width, 0, 1, f);
    else
        column_output(a, o, j0, width, 0, 0, f);
}

void SK_FN(sk_f32_columns)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width) {
    int log_op = a->op == SK_LOG_SOFTMAX;
    column_state st;
    double k[SK_F32_COLUMNS], t[SK_F32_COLUMNS];
    if (!first_pass_any(a, o, j0, width, log_op, &st, k, t)) {
        for (ptrdiff_t c = 0; c < width; c += SK_TILE)
            SK_FN(sk_tile)(a, o, j0 + c, width - c < SK_TILE ? width - c : SK_TILE);
        return;
    }
    /* softmax: 1 / norm (0 for a column without finite entries);
     * log_softmax: shift + log(norm) as a float pair (see log_offset; log(norm)
     * is 0 there, so that -inf - 0 = -inf). NaN for a column holding NaN. */
    column_factors f;
    ptrdiff_t n_vec = (width + SK_VW - 1) / SK_VW;
    for (ptrdiff_t v = 0; v < n_vec; v++) {
        vf_store(f.shift + v * SK_VW, st.shift[v]);
        vf_store(f.low + v * SK_VW, st.low[v]);
        vf_store(f.min + v * SK_VW, st.run_min[v]);
    }
    for (ptrdiff_t j = 0; j < n_vec * SK_VW + SK_VW; j++) f.hi[j] = f.lo[j] = 0.0f;
    vf_store(f.shift + n_vec * SK_VW, vf_set1(0.0f));
    vf_store(f.low + n_vec * SK_VW, vf_set1(SK_F32_EXP_LOW));
    for (ptrdiff_t j = 0; j < width; j++) {
        if (log_op) {
            double norm = t[j] != t[j] ? NAN : (k[j] > 0 ? sk_log_norm(k[j], t[j]) : 0.0);
            log_offset lc = log_offset_of(f.shift[j], norm);
            f.hi[j] = lc.hi;
            f.lo[j] = lc.lo;
        } else {
            double inv = t[j] != t[j] ? NAN : (t[j] > 0 ? 1.0 / t[j] : 0.0);
            f.hi[j] = (float)inv;
            f.lo[j] = (float)(inv - (double)f.hi[j]);
        }
    }
    output_any(a, o, j0, width, log_op, &f);
}

#endif
