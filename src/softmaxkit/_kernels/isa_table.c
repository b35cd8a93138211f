/* The table of hot loops for the ISA this file is compiled for (once per ISA). */
#include "sk_isa.h"

void SK_FN(sk_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1, double *scratch);
void SK_FN(sk_tile)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width);
void SK_FN(sk_vjp_rows)(const sk_vjp_args *a, ptrdiff_t r0, ptrdiff_t r1);
void SK_FN(sk_ce_rows)(const sk_ce_args *a, ptrdiff_t r0, ptrdiff_t r1, double *scratch);

#if defined(__AVX2__) /* softmax_f32.c, softmax_short_f32.c, softmax_columns_f32.c: float32 in float32 lanes */
void SK_FN(sk_f32_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1);
void SK_FN(sk_f32_short_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1);
void SK_FN(sk_f32_columns)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t width);
void SK_FN(sk_f32_block_stats)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                               sk_part *part);
void SK_FN(sk_f32_block_apply)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                               const sk_part *part, const sk_slice *s);
#define SK_F32_LOOPS                                                                     \
    SK_FN(sk_f32_rows), SK_FN(sk_f32_short_rows), SK_FN(sk_f32_columns),                 \
        SK_FN(sk_f32_block_stats), SK_FN(sk_f32_block_apply)
#else
#define SK_F32_LOOPS NULL, NULL, NULL, NULL, NULL
#endif

#if defined(__AVX2__) /* softmax_f64.c: float64 in float64 lanes */
void SK_FN(sk_f64_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1);
void SK_FN(sk_f64_block_stats)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                               sk_part *part);
void SK_FN(sk_f64_block_apply)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start, ptrdiff_t len,
                               const sk_part *part, const sk_slice *s);
#define SK_F64_LOOPS SK_FN(sk_f64_rows), SK_FN(sk_f64_block_stats), SK_FN(sk_f64_block_apply)
#else
#define SK_F64_LOOPS NULL, NULL, NULL
#endif

const sk_isa_table SK_FN(sk_table) = {
    SK_FN(sk_row_stats), SK_FN(sk_combine_parts), SK_FN(sk_row_apply), SK_FN(sk_rows),
    SK_FN(sk_tile),      SK_FN(sk_vjp_rows),      SK_FN(sk_ce_rows),       SK_F32_LOOPS,
    SK_F64_LOOPS,
};
