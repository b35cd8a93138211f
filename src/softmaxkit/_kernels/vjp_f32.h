/* softmax_vjp / log_softmax_vjp of float32 rows in vector lanes (see vjp.c).
 *
 * The formulas and their arithmetic are those of vjp_body.h (float32 data
 * widened to float64, one rounding at the end); only the lanes differ: the
 * row sum reads SK_VD_N elements per step, the output pass a float vector at
 * a time, and log_softmax_vjp's exp(y) runs in float32 lanes (sk_simd.h's
 * exp, within an ulp: the result is rounded to float32 anyway). Excluded entries
 * (mask 0) count as g = 0 whatever g holds, and get gradient 0.
 */

/* sum(g * y) (softmax) or sum(g) (log_softmax) over the row, g = 0 where excluded. */
SK_INLINE double vjp_row_sum_f32(const float *y, const float *g, const uint8_t *m, ptrdiff_t n,
                                 int log, int masked) {
    sk_vd acc0 = sk_vsplatd(0.0), acc1 = acc0, zero = acc0;
    ptrdiff_t i = 0;
    for (; i + SK_VF_N <= n; i += SK_VF_N) {
        /* a float vector widened in two halves, one instruction each */
        sk_vd g0, g1;
        sk_vwiden(sk_vloadf(g + i), &g0, &g1);
        if (masked) {
            g0 = sk_vselectd(sk_vload_mask(m + i), g0, zero);
            g1 = sk_vselectd(sk_vload_mask(m + i + SK_VD_N), g1, zero);
        }
        if (log) {
            acc0 += g0;
            acc1 += g1;
        } else {
            sk_vd y0, y1;
            sk_vwiden(sk_vloadf(y + i), &y0, &y1);
            acc0 += g0 * y0;
            acc1 += g1 * y1;
        }
    }
    double sum = 0.0;
    sk_vd acc = acc0 + acc1;
    for (int l = 0; l < SK_VD_N; l++) sum += acc[l];
    for (; i < n; i++) {
        double gi = (masked && !m[i]) ? 0.0 : (double)g[i];
        sum += log ? gi : gi * (double)y[i];
    }
    return sum;
}

/* out = y (g - sum) / T, or (g - exp(y) sum) / T, for SK_VD_N elements. */
SK_INLINE void vjp_half_f32(sk_vd y, sk_vd e, sk_vd g, const uint8_t *m, float *out, double sum,
                            double temperature, int log, int masked, int scaled) {
    sk_vd zero = sk_vsplatd(0.0);
    sk_vl keep = masked ? sk_vload_mask(m) : (sk_vl){0};
    if (masked) g = sk_vselectd(keep, g, zero);
    sk_vd r = log ? g - e * sum : y * (g - sum);
    if (scaled) r = r / temperature;
    if (masked) r = sk_vselectd(keep, r, zero);
    sk_vstore_narrow(out, r);
}

/* The row a loop over rows takes next (this one again at the end): its y, g
 * and out are fetched into L2 during this row's output pass, which reads
 * only what the row sum left in L1, so that the next row sum does not wait
 * for memory (the hardware prefetchers stop at each 4 KiB page). */
typedef struct {
    const float *y, *g, *out;
} vjp_next_row;

SK_INLINE void vjp_row_f32(const float *y, const float *g, const uint8_t *m, float *out,
                           ptrdiff_t n, double temperature, int log, int masked,
                           vjp_next_row next) {
    double sum = vjp_row_sum_f32(y, g, m, n, log, masked);
    int scaled = temperature != 1.0;
    ptrdiff_t i = 0;
    for (; i + SK_VF_N <= n; i += SK_VF_N) {
        _mm_prefetch((const char *)(next.y + i), _MM_HINT_T1);
        _mm_prefetch((const char *)(next.g + i), _MM_HINT_T1);
        _mm_prefetch((const char *)(next.out + i), _MM_HINT_T1);
        sk_vf yv = sk_vloadf(y + i);
        sk_vd y0, y1, e0, e1, g0, g1;
        sk_vwiden(yv, &y0, &y1);
        if (log) sk_vwiden(sk_vexpf_any(yv), &e0, &e1);
        else e0 = e1 = y0;
        sk_vwiden(sk_vloadf(g + i), &g0, &g1);
        const uint8_t *mi = masked ? m + i : NULL;
        vjp_half_f32(y0, e0, g0, mi, out + i, sum, temperature, log, masked, scaled);
        vjp_half_f32(y1, e1, g1, masked ? mi + SK_VD_N : NULL, out + i + SK_VD_N, sum, temperature,
                     log, masked, scaled);
    }
    for (; i < n; i++) { /* the tail, as vjp_body.h computes it */
        double gi = (masked && !m[i]) ? 0.0 : (double)g[i];
        double yi = (double)y[i];
        double grad = log ? gi - sk_exp_for_float(yi) * sum : yi * (gi - sum);
        grad = scaled ? grad / temperature : grad;
        out[i] = (float)((masked && !m[i]) ? 0.0 : grad);
    }
}

static void vjp_rows_fast_f32(const sk_vjp_args *a, ptrdiff_t r0, ptrdiff_t r1) {
    for (ptrdiff_t r = r0; r < r1; r++) {
        const float *y = (const float *)(a->y + r * a->ys);
        const float *g = (const float *)(a->g + r * a->gs);
        float *out = (float *)(a->out + r * a->os);
        const uint8_t *m = a->mask ? a->mask + r * a->ms : NULL;
        ptrdiff_t after = r + 1 < r1 ? r + 1 : r;
        vjp_next_row next = {(const float *)(a->y + after * a->ys),
                             (const float *)(a->g + after * a->gs),
                             (const float *)(a->out + after * a->os)};
        if (m && a->log)
            vjp_row_f32(y, g, m, out, a->n, a->temperature, 1, 1, next);
        else if (m)
            vjp_row_f32(y, g, m, out, a->n, a->temperature, 0, 1, next);
        else if (a->log)
            vjp_row_f32(y, g, m, out, a->n, a->temperature, 1, 0, next);
        else
            vjp_row_f32(y, g, m, out, a->n, a->temperature, 0, 0, next);
    }
}
