/* Planning: cut a call into units, run them on threads, combine partials.
 *
 * This file decides nothing numerical; the ISA table does all arithmetic.
 * Units are fixed by the shape alone (never by the thread count):
 *   rows of at most SK_BLOCK elements   -> groups of whole rows;
 *   longer rows                         -> SK_BLOCK-element blocks, in two
 *                                          parallel phases (statistics, then
 *                                          output) around an in-order combine;
 *   column mode                         -> tiles of SK_TILE slices.
 */
#include <stdlib.h>

#include "sk_isa.h"
#include "sk_threads.h"

/* Fewer elements than this per thread is not worth a thread (the pool's
 * workers wake within a microsecond while they spin, 10-50 us after). */
#define SK_MIN_WORK 16384

static int threads_for(int n_threads, ptrdiff_t elements) {
    ptrdiff_t useful = elements / SK_MIN_WORK;
    if (useful < 1) useful = 1;
    return n_threads < useful ? n_threads : (int)useful;
}

static ptrdiff_t ceil_div(ptrdiff_t a, ptrdiff_t b) { return (a + b - 1) / b; }

/* Rows of n elements a unit of work: about SK_BLOCK elements, at least a row. */
static ptrdiff_t rows_a_unit(ptrdiff_t n) { return n >= SK_BLOCK ? 1 : SK_BLOCK / (n ? n : 1); }

/* The rows [*r0, *r1) of a unit of rows_per_unit rows out of rows (the last
 * unit takes what is left). */
static void unit_rows(ptrdiff_t unit, ptrdiff_t rows_per_unit, ptrdiff_t rows, ptrdiff_t *r0,
                      ptrdiff_t *r1) {
    *r0 = unit * rows_per_unit;
    *r1 = *r0 + rows_per_unit < rows ? *r0 + rows_per_unit : rows;
}

/* ---- softmax / log_softmax / logsumexp --------------------------------- */

typedef struct {
    const sk_reduce_args *a;
    const sk_isa_table *isa;
    ptrdiff_t rows_per_unit; /* short rows */
    ptrdiff_t n_blocks;      /* long rows: blocks per row */
    sk_part *parts;          /* long rows: outer * n_blocks */
    sk_slice *slices;        /* long rows: outer */
    ptrdiff_t tiles;         /* column mode: tiles per outer index */
} reduce_plan;

/* float32 in float32 lanes where the ISA has them (not in the baseline build),
 * for softmax and log_softmax. logsumexp keeps the double loops: float32
 * exponentials leave log(norm) with an absolute error of 1e-7, which is many
 * ulps of a logsumexp near 0 (m + log(norm) cancels there). */
static int f32_lanes(const reduce_plan *p) {
    return p->a->dtype == SK_F32 && p->a->op != SK_LOGSUMEXP && p->isa->f32_rows != NULL;
}

/* float64 in float64 lanes likewise (softmax_f64.c), for softmax and
 * log_softmax; logsumexp keeps the loops whose 1-ulp accuracy is measured. */
static int f64_lanes(const reduce_plan *p) {
    return p->a->dtype == SK_F64 && p->a->op != SK_LOGSUMEXP && p->isa->f64_rows != NULL;
}

static void short_rows_unit(void *ctx, ptrdiff_t unit, double *scratch) {
    reduce_plan *p = (reduce_plan *)ctx;
    ptrdiff_t r0, r1;
    unit_rows(unit, p->rows_per_unit, p->a->outer, &r0, &r1);
    if (f32_lanes(p) && p->a->n <= SK_F32_SHORT_ROW)
        p->isa->f32_short_rows(p->a, r0, r1);
    else if (f32_lanes(p))
        p->isa->f32_rows(p->a, r0, r1);
    else if (f64_lanes(p))
        p->isa->f64_rows(p->a, r0, r1);
    else
        p->isa->rows(p->a, r0, r1, scratch);
}

static void block_extent(const reduce_plan *p, ptrdiff_t unit, ptrdiff_t *row,
                         ptrdiff_t *start, ptrdiff_t *len) {
    *row = unit / p->n_blocks;
    *start = (unit % p->n_blocks) * SK_BLOCK;
    *len = p->a->n - *start < SK_BLOCK ? p->a->n - *start : SK_BLOCK;
}

static void block_stats(reduce_plan *p, ptrdiff_t b) {
    ptrdiff_t row, start, len;
    block_extent(p, b, &row, &start, &len);
    if (f32_lanes(p))
        p->isa->f32_block_stats(p->a, row, start, len, &p->parts[b]);
    else if (f64_lanes(p))
        p->isa->f64_block_stats(p->a, row, start, len, &p->parts[b]);
    else
        p->isa->row_stats(p->a, row, start, len, &p->parts[b], NULL);
}

static void block_apply(reduce_plan *p, ptrdiff_t b) {
    ptrdiff_t row, start, len;
    block_extent(p, b, &row, &start, &len);
    if (f32_lanes(p))
        p->isa->f32_block_apply(p->a, row, start, len, &p->parts[b], &p->slices[row]);
    else if (f64_lanes(p))
        p->isa->f64_block_apply(p->a, row, start, len, &p->parts[b], &p->slices[row]);
    else
        p->isa->row_apply(p->a, row, start, len, &p->slices[row], NULL);
}

/* Row r's normaliser from its blocks' parts; logsumexp's result. */
static void combine_row(reduce_plan *p, ptrdiff_t r) {
    const sk_reduce_args *a = p->a;
    p->isa->combine(&p->parts[r * p->n_blocks], p->n_blocks, &p->slices[r]);
    if (a->op == SK_LOGSUMEXP && a->dtype == SK_F32)
        *(float *)(a->out + r * a->os_outer) = (float)p->slices[r].lse;
    else if (a->op == SK_LOGSUMEXP)
        *(double *)(a->out + r * a->os_outer) = p->slices[r].lse;
}

/* Blocks whose statistics one unit computes, in order: the float32 lanes
 * prefetch the next block of a row while they compute the exponentials of
 * one, which pays where that next block is the same thread's. */
#define SK_BLOCKS_PER_UNIT 4

static void long_row_stats_unit(void *ctx, ptrdiff_t unit, double *scratch) {
    (void)scratch;
    reduce_plan *p = (reduce_plan *)ctx;
    ptrdiff_t end = (unit + 1) * SK_BLOCKS_PER_UNIT, total = p->a->outer * p->n_blocks;
    for (ptrdiff_t b = unit * SK_BLOCKS_PER_UNIT; b < end && b < total; b++) block_stats(p, b);
}

/* Outputs last block first: the blocks whose data the statistics read last
 * (and whose exponentials softmax wrote last) are the ones still in cache
 * (L3), which a pass from the first block would evict before it reached
 * them. */
static void long_row_apply_unit(void *ctx, ptrdiff_t unit, double *scratch) {
    (void)scratch;
    reduce_plan *p = (reduce_plan *)ctx;
    block_apply(p, p->a->outer * p->n_blocks - 1 - unit);
}

/* A whole long row as one unit: its blocks' statistics, their combination
 * and its output, one after the other on one thread, so that the output
 * pass finds the row (and softmax's exponentials) in that core's L2 where the
 * two phases of long_rows would read it again from memory. The same blocks,
 * combined in the same order: the same bits as long_rows. */
static void whole_row_unit(void *ctx, ptrdiff_t unit, double *scratch) {
    (void)scratch;
    reduce_plan *p = (reduce_plan *)ctx;
    ptrdiff_t first = unit * p->n_blocks;
    for (ptrdiff_t b = first; b < first + p->n_blocks; b++) block_stats(p, b);
    combine_row(p, unit);
    if (p->a->op != SK_LOGSUMEXP)
        for (ptrdiff_t b = first; b < first + p->n_blocks; b++) block_apply(p, b);
}

/* Long rows whose input takes at most this many bytes are whole units when
 * there are at least SK_WHOLE_ROWS_MIN of them (so that the threads share
 * them evenly): one such row (1 MiB) stays in a core's L2 (1-2 MiB) between
 * its statistics and its output. */
#define SK_WHOLE_ROW_BYTES ((ptrdiff_t)1 << 20)
#define SK_WHOLE_ROWS_MIN 8

static int whole_rows(const sk_reduce_args *a) {
    ptrdiff_t item = a->dtype == SK_F32 ? 4 : 8;
    return a->outer >= SK_WHOLE_ROWS_MIN && a->n * item <= SK_WHOLE_ROW_BYTES;
}

/* Column mode in float32 lanes: no mask, and out apart from x (the
 * exponentials kept in out would overwrite x before the portable loops,
 * which a unit may fall back to, read it). */
static int f32_columns(const reduce_plan *p) {
    const sk_reduce_args *a = p->a;
    return f32_lanes(p) && !a->mask && a->out != a->x;
}

static void f32_columns_unit(void *ctx, ptrdiff_t unit, double *scratch) {
    (void)scratch;
    reduce_plan *p = (reduce_plan *)ctx;
    ptrdiff_t tile = sk_f32_column_tile(p->a->inner);
    ptrdiff_t o = unit / p->tiles, j0 = (unit % p->tiles) * tile;
    ptrdiff_t width = p->a->inner - j0 < tile ? p->a->inner - j0 : tile;
    p->isa->f32_columns(p->a, o, j0, width);
}

static void tile_unit(void *ctx, ptrdiff_t unit, double *scratch) {
    (void)scratch;
    reduce_plan *p = (reduce_plan *)ctx;
    ptrdiff_t o = unit / p->tiles, j0 = (unit % p->tiles) * SK_TILE;
    ptrdiff_t width = p->a->inner - j0 < SK_TILE ? p->a->inner - j0 : SK_TILE;
    p->isa->tile(p->a, o, j0, width);
}

static int long_rows(reduce_plan *p, int n_threads) {
    const sk_reduce_args *a = p->a;
    ptrdiff_t units = a->outer * p->n_blocks;
    p->parts = (sk_part *)malloc((size_t)units * sizeof(sk_part));
    p->slices = (sk_slice *)malloc((size_t)a->outer * sizeof(sk_slice));
    int status = (p->parts && p->slices) ? SK_OK : SK_NO_MEMORY;
    if (status == SK_OK && whole_rows(a)) {
        status = sk_parallel_for(a->outer, n_threads, 0, whole_row_unit, p);
    } else if (status == SK_OK) {
        status = sk_parallel_for(ceil_div(units, SK_BLOCKS_PER_UNIT), n_threads, 0,
                                 long_row_stats_unit, p);
        if (status == SK_OK) {
            for (ptrdiff_t r = 0; r < a->outer; r++) combine_row(p, r);
            if (a->op != SK_LOGSUMEXP)
                status = sk_parallel_for(units, n_threads, 0, long_row_apply_unit, p);
        }
    }
    free(p->parts);
    free(p->slices);
    return status;
}

/* Outputs of this many bytes or more are faulted in before the threads write
 * them, where they are contiguous and fresh (sk_prefault_output): two huge
 * pages. */
#define SK_PREFAULT_BYTES ((ptrdiff_t)4 << 20)

static void prefault_output(const sk_reduce_args *a, ptrdiff_t elements, int n_threads) {
    ptrdiff_t item = a->dtype == SK_F32 ? 4 : 8;
    int contiguous = a->os_n == a->inner * item && a->os_outer == a->n * a->inner * item;
    if (n_threads > 1 && a->op != SK_LOGSUMEXP && contiguous && elements * item >= SK_PREFAULT_BYTES)
        sk_prefault_output(a->out, (size_t)(elements * item), n_threads);
}

int sk_reduce(const sk_reduce_args *a, int n_threads) {
    reduce_plan p = {a, sk_isa(), 0, 0, NULL, NULL, 0};
    ptrdiff_t elements = a->outer * a->n * a->inner;
    if (elements == 0) return SK_OK;
    n_threads = threads_for(n_threads, elements);
    prefault_output(a, elements, n_threads);
    if (a->inner > 1 && f32_columns(&p)) {
        ptrdiff_t tile = sk_f32_column_tile(a->inner);
        p.tiles = ceil_div(a->inner, tile);
        return sk_parallel_for(a->outer * p.tiles, n_threads, 0, f32_columns_unit, &p);
    }
    if (a->inner > 1) {
        p.tiles = ceil_div(a->inner, SK_TILE);
        return sk_parallel_for(a->outer * p.tiles, n_threads, 0, tile_unit, &p);
    }
    if (a->n > SK_BLOCK) {
        p.n_blocks = ceil_div(a->n, SK_BLOCK);
        return long_rows(&p, n_threads);
    }
    p.rows_per_unit = rows_a_unit(a->n);
    /* Rows of SK_BLOCK / 4 or more: still a few rows a unit where there are
     * enough rows, so that the float32 and float64 lanes can prefetch each
     * unit's next row. */
    if (p.rows_per_unit < 4) p.rows_per_unit = a->outer >= 32 ? 4 : 1;
    if (a->n <= SK_F32_SHORT_ROW) {
        /* Whole tiles of 16 rows, in units of about 4096 elements: (4096, 10)
         * makes 11 units, which two threads share evenly. */
        p.rows_per_unit = (4096 / a->n) & ~(ptrdiff_t)15;
        if (p.rows_per_unit < 16) p.rows_per_unit = 16;
    }
    /* Scratch: the exponentials of one row (tiny for tiny rows: a large
     * malloc would be an mmap per call); the lanes keep them in out. */
    size_t scratch = f32_lanes(&p) || f64_lanes(&p) ? 0 : (size_t)a->n * sizeof(double);
    return sk_parallel_for(ceil_div(a->outer, p.rows_per_unit), n_threads, scratch,
                           short_rows_unit, &p);
}

/* ---- vector-Jacobian products ------------------------------------------ */

typedef struct {
    const sk_vjp_args *a;
    const sk_isa_table *isa;
    ptrdiff_t rows_per_unit;
} vjp_plan;

static void vjp_unit(void *ctx, ptrdiff_t unit, double *scratch) {
    (void)scratch;
    vjp_plan *p = (vjp_plan *)ctx;
    ptrdiff_t r0, r1;
    unit_rows(unit, p->rows_per_unit, p->a->rows, &r0, &r1);
    p->isa->vjp_rows(p->a, r0, r1);
}

int sk_vjp(const sk_vjp_args *a, int n_threads) {
    if (a->rows == 0 || a->n == 0) return SK_OK;
    vjp_plan p = {a, sk_isa(), rows_a_unit(a->n)};
    return sk_parallel_for(ceil_div(a->rows, p.rows_per_unit),
                           threads_for(n_threads, a->rows * a->n), 0, vjp_unit, &p);
}

/* ---- cross-entropy ----------------------------------------------------- */

typedef struct {
    const sk_ce_args *a;
    const sk_isa_table *isa;
    ptrdiff_t rows_per_unit;
} ce_plan;

static void ce_unit(void *ctx, ptrdiff_t unit, double *scratch) {
    ce_plan *p = (ce_plan *)ctx;
    ptrdiff_t r0, r1;
    unit_rows(unit, p->rows_per_unit, p->a->rows, &r0, &r1);
    p->isa->ce_rows(p->a, r0, r1, scratch);
}

int sk_cross_entropy(const sk_ce_args *a, int n_threads) {
    if (a->rows == 0) return SK_OK;
    ce_plan p = {a, sk_isa(), rows_a_unit(a->n)};
    /* Scratch: the exponentials of a row, then one part per block of a long row. */
    ptrdiff_t kept = a->n < SK_BLOCK ? a->n : SK_BLOCK;
    size_t scratch = (size_t)kept * sizeof(double) + (size_t)ceil_div(a->n, SK_BLOCK) * sizeof(sk_part);
    return sk_parallel_for(ceil_div(a->rows, p.rows_per_unit),
                           threads_for(n_threads, a->rows * (a->n ? a->n : 1)), scratch, ce_unit,
                           &p);
}
