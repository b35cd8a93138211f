/* Vector-Jacobian products of softmax and log_softmax over rows (compiled
 * once per ISA). The formulas are _core.softmax_vjp's and log_softmax_vjp's;
 * float32 is computed in double (in vector lanes: vjp_f32.h), float64 with a
 * compensated row sum. */
#include "sk_exp.h"
#include "sk_isa.h"
#include "sk_numpy_sum.h"

#define SK_BODY "vjp_body.h"
#include "sk_per_dtype.h"

#include "sk_vecf.h"
#ifdef SK_HAVE_VECF
#include "vjp_f32.h"
#endif

void SK_FN(sk_vjp_rows)(const sk_vjp_args *a, ptrdiff_t r0, ptrdiff_t r1) {
#ifdef SK_HAVE_VECF
    if (a->dtype == SK_F32) {
        vjp_rows_fast_f32(a, r0, r1);
        return;
    }
#endif
    if (a->dtype == SK_F32)
        vjp_rows_f32(a, r0, r1);
    else
        vjp_rows_f64(a, r0, r1);
}
