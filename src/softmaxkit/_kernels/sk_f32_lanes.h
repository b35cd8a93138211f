/* Internal: what the float32 lane loops share (softmax_f32.c's rows and
 * softmax_columns_f32.c's columns): which blocks they take, and log_softmax's
 * output offset. Included where __AVX2__ is defined, after sk_simd.h.
 */
#ifndef SK_F32_LANES_H
#define SK_F32_LANES_H

#include <math.h>

#include "sk_simd.h"

/* Beyond this magnitude of the maximum, m - 110 is not accurate enough to
 * clamp with: such rows take the portable loops. */
#define SK_F32_LANES_MAX_SHIFT 0x1p20f

/* Whether a block whose maximum is mx is reduced in float32 lanes (else in
 * the portable loops: +inf, or a maximum too large to clamp below). */
SK_INLINE int in_lanes(double mx) { return mx == -INFINITY || fabs(mx) < SK_F32_LANES_MAX_SHIFT; }

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

#endif
