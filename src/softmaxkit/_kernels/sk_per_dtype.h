/* Instantiate the loop body named by SK_BODY (a header) once per dtype:
 * float32 (computed in double) and float64, with SK_T, SK_SFX and SK_IS_F64
 * defined around it. Included by softmax.c, vjp.c and cross_entropy.c. */

#define SK_T float
#define SK_SFX _f32
#define SK_IS_F64 0
#include "sk_elem.h"
#include SK_BODY
#undef SK_T
#undef SK_SFX
#undef SK_IS_F64

#define SK_T double
#define SK_SFX _f64
#define SK_IS_F64 1
#include "sk_elem.h"
#include SK_BODY
#undef SK_T
#undef SK_SFX
#undef SK_IS_F64

#undef SK_BODY
