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

#endif
