/* A sum in NumPy's order, for rows whose sum may overflow.
 *
 * Where partial sums of finite terms overflow, the total depends on the order
 * of the additions: +inf, -inf, NaN or a finite number. The spec path sums
 * with np.sum, which over a contiguous last axis takes numpy's pairwise_sum;
 * the kernel's lanes add in another order, so rows whose terms may overflow
 * (sk_sum_may_overflow) sum again in NumPy's (vjp_body.h, cross_entropy_body.h).
 */
#ifndef SK_NUMPY_SUM_H
#define SK_NUMPY_SUM_H

#include "sk_isa.h"

/* Term i of a sum; ctx holds the row. */
typedef double (*sk_term_fn)(const void *ctx, ptrdiff_t i);

/* The larger of largest and |v|, largest where v is NaN: one max
 * instruction a vector (fmax takes four, and the float64 vjp's row sum
 * measured 64% more instructions with it). */
SK_INLINE double sk_larger_magnitude(double largest, double v) {
    double a = fabs(v);
    return a > largest ? a : largest;
}

/* Whether terms of magnitude at most largest, n of them, may overflow in
 * some order: 2^1020 (a sixteenth of the float maximum) leaves room for the
 * rounding. False for float32 data (terms below 2^128 or products of them
 * with numbers of at most 1). */
SK_INLINE int sk_sum_may_overflow(double largest, ptrdiff_t n) {
    return !(largest * (double)n < 0x1p1020);
}

/* Terms [start, start + n) summed as numpy's pairwise_sum (NumPy 1.9 to
 * 2.4): below 8 terms one after another; up to 128 in 8 strided accumulators
 * joined as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the rest
 * one by one; above 128 the two halves split at a multiple of 8. */
static double sk_numpy_sum(sk_term_fn term, const void *ctx, ptrdiff_t start, ptrdiff_t n) {
    if (n < 8) {
        double res = 0.0;
        for (ptrdiff_t i = 0; i < n; i++) res += term(ctx, start + i);
        return res;
    }
    if (n > 128) {
        ptrdiff_t half = n / 2 - (n / 2) % 8;
        return sk_numpy_sum(term, ctx, start, half) +
               sk_numpy_sum(term, ctx, start + half, n - half);
    }
    double r[8];
    for (int j = 0; j < 8; j++) r[j] = term(ctx, start + j);
    ptrdiff_t i = 8;
    for (; i < n - n % 8; i += 8)
        for (int j = 0; j < 8; j++) r[j] += term(ctx, start + i + j);
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += term(ctx, start + i);
    return res;
}

#endif
