/* softmax, log_softmax and logsumexp: the loops (compiled once per ISA).
 *
 * A row is reduced in three steps, following _stable.shift_by_max exactly:
 *   1. statistics: the maximum (NaN and +inf noted), then
 *      k = #{exp(x - max) == 1} and t = sum of the other exp(x - max),
 *      for float64 with the subtraction's rounding error fed into exp and a
 *      compensated sum;
 *   2. combine the blocks of a long row (each summed against its own
 *      maximum, so that a block is read from memory once) and finish:
 *      1/(k + t), log(k) + log1p(t/k) (accurate when one class dominates);
 *   3. output: exp(d) / (k + t) or (d - log_norm) + d_lo.
 * Rows of at most SK_BLOCK elements keep their exponentials from step 1 in a
 * per-thread scratch buffer; longer rows recompute them in step 3.
 */
#include "sk_exp.h"
#include "sk_isa.h"

/* Combine block statistics (in block order) into the slice's normaliser. */
static void SK_FN(sk_combine)(const sk_part *parts, ptrdiff_t n_parts, sk_slice *s) {
    double max = -INFINITY;
    int nan = 0;
    for (ptrdiff_t b = 0; b < n_parts; b++) {
        max = parts[b].max > max ? parts[b].max : max;
        nan |= parts[b].nan;
    }
    sk_shift_of(max, nan, &s->shift, &s->pinf);
    s->k = s->t = 0.0;
    for (ptrdiff_t b = 0; b < n_parts && !nan; b++) {
        const sk_part *p = &parts[b];
        if (p->max == max) {
            s->k += p->k;
            s->t += p->t;
        } else if (!s->pinf && p->k + p->t > 0) {
            /* A block with a smaller maximum: rescale by exp(max_b - max). */
            double d = p->max - max;
            double f = sk_exp_accurate(d, sk_diff_err(p->max, max, d));
            s->t += (p->k + p->t) * f;
        }
    }
    sk_finish(s);
}

#define SK_BODY "softmax_body.h"
#include "sk_per_dtype.h"

void SK_FN(sk_row_stats)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                         sk_part *part, double *scratch) {
    if (a->dtype == SK_F32)
        row_stats_f32(a, row, start, len, part, scratch);
    else
        row_stats_f64(a, row, start, len, part, scratch);
}

void SK_FN(sk_row_apply)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                         const sk_slice *s, const double *scratch) {
    if (a->dtype == SK_F32)
        row_apply_f32(a, row, start, len, s, scratch);
    else
        row_apply_f64(a, row, start, len, s, scratch);
}

void SK_FN(sk_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1, double *scratch) {
    if (a->dtype == SK_F32)
        rows_f32(a, r0, r1, scratch);
    else
        rows_f64(a, r0, r1, scratch);
}

void SK_FN(sk_tile)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width) {
    if (a->dtype == SK_F32)
        tile_f32(a, o, j0, width);
    else
        tile_f64(a, o, j0, width);
}

void SK_FN(sk_combine_parts)(const sk_part *parts, ptrdiff_t n_parts, sk_slice *s) {
    SK_FN(sk_combine)(parts, n_parts, s);
}
