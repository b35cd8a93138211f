/* Vector-Jacobian products of softmax and log_softmax over rows (compiled
 * once per ISA). The formulas are _core.softmax_vjp's and log_softmax_vjp's;
 * float32 is computed in double, float64 with a compensated row sum. */
#include "sk_exp.h"
#include "sk_isa.h"

#define SK_T float
#define SK_SFX _f32
#define SK_IS_F64 0
#include "sk_elem.h"
#include "vjp_body.h"
#undef SK_T
#undef SK_SFX
#undef SK_IS_F64

#define SK_T double
#define SK_SFX _f64
#define SK_IS_F64 1
#include "sk_elem.h"
#include "vjp_body.h"
#undef SK_T
#undef SK_SFX
#undef SK_IS_F64

void SK_FN(sk_vjp_rows)(const sk_vjp_args *a, ptrdiff_t r0, ptrdiff_t r1) {
    if (a->dtype == SK_F32)
        vjp_rows_f32(a, r0, r1);
    else
        vjp_rows_f64(a, r0, r1);
}
