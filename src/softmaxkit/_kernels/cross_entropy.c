/* Fused cross-entropy and its gradient over rows of logits (compiled once
 * per ISA), with torch.nn.functional.cross_entropy's semantics as losses.py
 * specifies them: one statistics pass over a row, then one pass that writes
 * the gradient and sums the loss terms. The probabilities are never stored:
 * p_j = exp(d_j) / norm is formed where the gradient needs it.
 *
 * float32 rows run in float32 lanes (cross_entropy_f32.h) where the
 * compiler has vector extensions, float64 rows in float64 lanes
 * (cross_entropy_f64.h) in the AVX2 and AVX-512 builds; the loops below are
 * the general path.
 *
 * Gradient (losses.py derives it): per row, with target weight coefficients
 * coef_j and row_scale = sum of what the target puts on the row,
 *   d loss / d z_j = (p_j * row_scale - coef_j) * grad_scale.
 */
#include "sk_exp.h"
#include "sk_isa.h"
#include "sk_numpy_sum.h"

#define SK_BODY "cross_entropy_body.h"
#include "sk_per_dtype.h"

#include "sk_vecf.h"
#ifdef SK_HAVE_VECF
#include "cross_entropy_f32.h"
#endif
#if defined(__AVX2__)
#include "cross_entropy_f64.h"
#endif

void SK_FN(sk_ce_rows)(const sk_ce_args *a, ptrdiff_t r0, ptrdiff_t r1, double *scratch) {
#ifdef SK_HAVE_VECF
    if (a->dtype == SK_F32) {
        ce_rows_fast_f32(a, r0, r1, scratch);
        return;
    }
#endif
#if defined(__AVX2__)
    if (a->dtype == SK_F64) {
        ce_rows_fast_f64(a, r0, r1, scratch);
        return;
    }
#endif
    if (a->dtype == SK_F32)
        ce_rows_f32(a, r0, r1, scratch);
    else
        ce_rows_f64(a, r0, r1, scratch);
}
