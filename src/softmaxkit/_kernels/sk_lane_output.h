/* Internal: what the float32 and float64 lane loops (softmax_f32.c,
 * softmax_f64.c) share about the output of a row of at most SK_BLOCK
 * elements, or of a block of a longer row (driver.c): which output it gets,
 * the edge-case policy of _stable.shift_by_max in one place, and the
 * portable loops' route for what the lanes do not take. Each dtype does the
 * arithmetic of each case itself.
 */
#ifndef SK_LANE_OUTPUT_H
#define SK_LANE_OUTPUT_H

#include "sk_exp.h"
#include "sk_isa.h"

typedef enum {
    SK_OUT_NAN,      /* the slice holds NaN: NaN everywhere */
    SK_OUT_PORTABLE, /* +inf in the slice, or a maximum the lanes do not take:
                        the portable loops (which read x again) */
    SK_OUT_EMPTY,    /* no included finite entry in the block, or a normaliser
                        of 0: 0 everywhere (log_softmax: -inf) */
    SK_OUT_LOG,      /* log_softmax: x - (shift + log_norm) */
    SK_OUT_SCALE,    /* softmax: the exponentials, which the statistics pass
                        stored in out, times the row's factor */
} sk_output;

/* The output of a row or block: nan, whether its slice holds NaN; portable,
 * whether it goes to the portable loops; block_max, the maximum of the
 * included entries of the block (-inf if none); norm, the slice's
 * normaliser. An empty block of log_softmax gets -inf without the
 * subtraction, which would give -inf there too. */
SK_INLINE sk_output sk_output_of(int log_op, int nan, int portable, double block_max, double norm) {
    if (nan) return SK_OUT_NAN;
    if (portable) return SK_OUT_PORTABLE;
    if (block_max == -INFINITY || !(norm > 0)) return SK_OUT_EMPTY;
    return log_op ? SK_OUT_LOG : SK_OUT_SCALE;
}

/* The output of block part of a row whose normaliser is s (driver.c's long
 * rows); in_lanes: whether the lanes take the block's maximum. */
SK_INLINE sk_output sk_block_output(const sk_reduce_args *a, const sk_part *part, const sk_slice *s,
                                    int in_lanes) {
    return sk_output_of(a->op == SK_LOG_SOFTMAX, isnan(s->shift), s->pinf || !in_lanes, part->max,
                        s->k + s->t);
}

/* The value of every output where the output is SK_OUT_NAN or SK_OUT_EMPTY. */
SK_INLINE double sk_output_fill(sk_output o, int log_op) {
    return o == SK_OUT_NAN ? NAN : (log_op ? -INFINITY : 0.0);
}

/* exp(m_b - shift), which takes a block's exponentials exp(x - m_b) to the
 * row's exp(x - shift), with the difference's rounding error fed in. */
SK_INLINE double sk_block_rescale(const sk_part *part, const sk_slice *s) {
    double d = part->max - s->shift;
    return sk_exp_accurate(d, sk_diff_err(part->max, s->shift, d));
}

/* Row r, start to finish, in the portable loops (the lanes leave rows
 * holding +inf to them: the +inf rule is per element). */
SK_INLINE void sk_row_portable(const sk_reduce_args *a, ptrdiff_t r) {
    sk_part p;
    sk_slice s;
    SK_FN(sk_row_stats)(a, r, 0, a->n, &p, NULL);
    SK_FN(sk_combine_parts)(&p, 1, &s);
    SK_FN(sk_row_apply)(a, r, 0, a->n, &s, NULL);
}

#endif
