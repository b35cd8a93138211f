/* Internal: the hot loops, compiled once per instruction set.
 *
 * softmax.c, vjp.c and cross_entropy.c are compiled several times (see
 * meson.build), each time with different target flags and a different
 * SK_ISA_SUFFIX, so every function they define exists once per ISA. At run
 * time isa.c picks the best table the CPU supports. The C is the same for all
 * ISAs; the compiler's auto-vectoriser turns the element loops into SIMD code.
 */
#ifndef SK_ISA_H
#define SK_ISA_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "sk_kernels.h"

#if defined(__GNUC__) || defined(__clang__)
#define SK_INLINE static inline __attribute__((always_inline))
#else
#define SK_INLINE static inline
#endif

#define SK_CAT2(a, b) a##b
#define SK_CAT(a, b) SK_CAT2(a, b)
#ifdef SK_ISA_SUFFIX
#define SK_FN(name) SK_CAT(name, SK_ISA_SUFFIX)
#endif

#define SK_LANES 8 /* independent accumulators of a row sum */

#if defined(__AVX2__)
#include <immintrin.h>
/* The cache lines of the bytes [p, p + bytes), towards L2, one prefetch a
 * 64-byte line: what a SIMD loop over rows reads or writes next, fetched
 * while it computes the current row (softmax_f32.c, softmax_f64.c). */
SK_INLINE void sk_prefetch_lines(const void *p, ptrdiff_t bytes) {
    for (ptrdiff_t j = 0; j < bytes; j += 64) _mm_prefetch((const char *)p + j, _MM_HINT_T1);
}
#endif
#define SK_F32_SHORT_ROW 64 /* float32 rows up to this length go one row a lane */
#define SK_F32_COLUMNS 512 /* float32 column mode: at most this many slices a tile */
#define SK_F32_CHUNK_FLOATS 65536 /* and about this many elements a chunk of rows (L2) */
#define SK_CHUNK 256 /* elements whose exponentials are buffered before summing */

/* float32 column mode: the slices of a tile (of inner contiguous slices):
 * whole rows where they fit, and at least two tiles (so two threads) where
 * there are 128 slices or more; a multiple of 16 (a cache line) otherwise. */
SK_INLINE ptrdiff_t sk_f32_column_tile(ptrdiff_t inner) {
    if (inner < 128) return inner;
    ptrdiff_t half = ((inner + 1) / 2 + 15) / 16 * 16;
    return half < SK_F32_COLUMNS ? half : SK_F32_COLUMNS;
}

/* The rows of a chunk: fixed by the shape, whatever tile a slice is in. */
SK_INLINE ptrdiff_t sk_f32_column_chunk_rows(ptrdiff_t inner) {
    ptrdiff_t rows = SK_F32_CHUNK_FLOATS / sk_f32_column_tile(inner);
    return rows > 0 ? rows : 1;
}

/* What a block of a row (or a whole row) contributes to its normaliser. */
typedef struct {
    double max; /* over the included, non-NaN entries; -inf if none */
    double min; /* likewise the smallest (set by the SIMD-lane loops only) */
    int nan;    /* an included entry is NaN */
    double k;   /* entries whose exp(x - shift) is exactly 1 (the maxima) */
    double t;   /* sum of the other exp(x - shift), shift = the block's own max */
} sk_part;

/* The shift and normaliser of a slice, as _stable.shift_by_max defines them. */
typedef struct {
    double shift;    /* the max if finite; 0 for +inf and all -inf slices; NaN for NaN slices */
    int pinf;        /* the slice holds +inf: d = 0 there, -inf elsewhere */
    double k, t;     /* norm = k + t */
    double inv;      /* 1 / norm, or 1 when norm == 0 */
    double log_norm; /* log(k) + log1p(t / k), or 0 when norm == 0 */
    double lse;      /* logsumexp of the slice */
} sk_slice;

/* Shift and flag of a block or slice whose maximum is m. */
SK_INLINE void sk_shift_of(double m, int nan, double *shift, int *pinf) {
    *pinf = !nan && m == INFINITY;
    *shift = nan ? NAN : (isfinite(m) ? m : 0.0);
}

/* Mask bytes of row r of a reduction from entry start on; NULL without a
 * mask. */
SK_INLINE const uint8_t *sk_row_mask(const sk_reduce_args *a, ptrdiff_t r, ptrdiff_t start) {
    return a->mask ? a->mask + r * a->ms_outer + start : NULL;
}

/* log(k + t) as log(k) + log1p(t / k), for k >= 1 (the entries at the
 * maximum): relative to t's own size where t is tiny, which keeps the
 * log-probability of a dominant class (-log1p(t)) accurate. */
SK_INLINE double sk_log_norm(double k, double t) { return log(k) + log1p(t / k); }

/* Fill in inv, log_norm and lse from shift, pinf, k, t. k >= 1 whenever
 * k + t > 0, because the maximum itself contributes exp(0) = 1. */
SK_INLINE void sk_finish(sk_slice *s) {
    double norm = s->k + s->t;
    if (isnan(s->shift)) {
        s->inv = s->log_norm = s->lse = NAN;
        return;
    }
    s->inv = norm > 0 ? 1.0 / norm : 1.0;
    s->log_norm = norm > 0 ? sk_log_norm(s->k, s->t) : 0.0;
    s->lse = s->pinf ? INFINITY : (norm > 0 ? s->shift + s->log_norm : -INFINITY);
}

/* How the SIMD loops find the rounding error lo of d = x - m, x <= m (for
 * float32 and float64 alike). When the magnitudes are known to be ordered,
 * Fast2Sum takes 2 operations:
 *   SK_SHIFT_X_LARGER  |x| >= |m| for every x (m <= 0): lo = -m - (d - x);
 *   SK_SHIFT_M_LARGER  |m| >= |x| for every x (m >= 0, min x >= -m):
 *                      lo = x - (d + m);
 * otherwise (SK_SHIFT_PER_LANE) Fast2Sum on the operands ordered lane by
 * lane, min(x, -m) and max(x, -m): 4 operations, against TwoSum's 5, which
 * it replaced (same bits: both errors are exact; the exponential loops are
 * bound by the operations they hold in flight, see softmax_f32.c). The rule
 * of sk_diff_err below and of _stable.difference_error. */
enum { SK_SHIFT_PER_LANE, SK_SHIFT_X_LARGER, SK_SHIFT_M_LARGER };

SK_INLINE int sk_shift_kind(double m, double min_x) {
    if (m <= 0.0) return SK_SHIFT_X_LARGER;
    return min_x >= -m ? SK_SHIFT_M_LARGER : SK_SHIFT_PER_LANE;
}

/* The exact rounding error of d = x - m (x <= m, d finite), by Fast2Sum with
 * the operand of the larger magnitude first, so that no intermediate
 * overflows: TwoSum in the order x, -m formed (x - m) - x = -max - ulp / 2 at
 * [8.170265657957594e307, max] (inf, then a NaN error), and in the order -m, x
 * the same at [-max, -8.199799318411708e307]. */
SK_INLINE double sk_diff_err(double x, double m, double d) {
    return fabs(x) >= fabs(m) ? -m - (d - x) : x - (d + m);
}

/* The exact rounding error of s = a + b (Knuth's TwoSum). */
SK_INLINE double sk_two_sum_err(double a, double b, double s) {
    double b_virtual = s - a;
    double a_virtual = s - b_virtual;
    return (a - a_virtual) + (b - b_virtual);
}

typedef struct {
    /* Row mode. Block [start, start + len) of a row: its max, then its sums
     * relative to its own max; the exponentials go to scratch when not NULL. */
    void (*row_stats)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                      sk_part *part, double *scratch);
    /* Combine the parts of a row (in order) into its slice normaliser. */
    void (*combine)(const sk_part *parts, ptrdiff_t n_parts, sk_slice *s);
    /* Write softmax / log_softmax of block [start, start + len) of a row; the
     * exponentials are read from scratch when not NULL (single-block rows). */
    void (*row_apply)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                      const sk_slice *s, const double *scratch);
    /* Rows [r0, r1) of at most SK_BLOCK elements, start to finish. */
    void (*rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1, double *scratch);
    /* Column mode: slices j0 .. j0 + width - 1 (width <= SK_TILE) of outer index o. */
    void (*tile)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width);
    void (*vjp_rows)(const sk_vjp_args *a, ptrdiff_t r0, ptrdiff_t r1);
    void (*ce_rows)(const sk_ce_args *a, ptrdiff_t r0, ptrdiff_t r1, double *scratch);
    /* float32 in float32 lanes (softmax_f32.c); NULL in the baseline build.
     * Rows [r0, r1) of at most SK_BLOCK elements, start to finish: */
    void (*f32_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1);
    /* The same for rows of at most SK_F32_SHORT_ROW elements, one row a lane. */
    void (*f32_short_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1);
    /* A block of a long row: its statistics (softmax keeps exp(x - m_b) in
     * out), then its output once the row's normaliser s is known. */
    /* Column mode: slices j0 .. j0 + width - 1 (width <= SK_F32_COLUMNS) of
     * outer index o. */
    void (*f32_columns)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width);
    void (*f32_block_stats)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                            sk_part *part);
    void (*f32_block_apply)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                            const sk_part *part, const sk_slice *s);
    /* float64 in float64 lanes (softmax_f64.c); NULL in the baseline build.
     * Rows of at most SK_BLOCK elements, and the blocks of longer rows, as
     * f32_rows, f32_block_stats and f32_block_apply do for float32. */
    void (*f64_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1);
    void (*f64_block_stats)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                            sk_part *part);
    void (*f64_block_apply)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                            const sk_part *part, const sk_slice *s);
} sk_isa_table;

#ifdef SK_ISA_SUFFIX
/* The portable loops of this ISA's build (softmax.c, softmax_body.h), which
 * fill the table's first entries and which the lane loops fall back to. */
void SK_FN(sk_row_stats)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                         sk_part *part, double *scratch);
void SK_FN(sk_combine_parts)(const sk_part *parts, ptrdiff_t n_parts, sk_slice *s);
void SK_FN(sk_row_apply)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                         const sk_slice *s, const double *scratch);
#endif

const sk_isa_table *sk_isa(void);

#define SK_DECLARE_TABLE(suffix) extern const sk_isa_table sk_table##suffix;
SK_DECLARE_TABLE(_baseline)
SK_DECLARE_TABLE(_avx2)
SK_DECLARE_TABLE(_avx512f)

#endif
