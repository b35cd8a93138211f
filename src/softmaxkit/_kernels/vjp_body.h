/* softmax_vjp / log_softmax_vjp loops for one dtype (see vjp.c). */

#define ACCUMULATE SK_CAT(sk_accumulate, SK_SFX)
#define ROW SK_CAT(vjp_terms, SK_SFX)
#define TERM SK_CAT(vjp_term, SK_SFX)

typedef struct {
    const SK_T *y, *g;
    const uint8_t *m;
    int log, masked;
} ROW;

/* The row sum's term i: g_i (log_softmax) or g_i y_i, g = 0 where excluded. */
SK_INLINE double TERM(const ROW *row, ptrdiff_t i) {
    double gi = (row->masked && !row->m[i]) ? 0.0 : (double)row->g[i];
    return row->log ? gi : gi * (double)row->y[i];
}

/* TERM for sk_numpy_sum */
static double SK_CAT(vjp_term_at, SK_SFX)(const void *row, ptrdiff_t i) {
    return TERM((const ROW *)row, i);
}

SK_INLINE void SK_CAT(vjp_row_impl, SK_SFX)(const SK_T *y, const SK_T *g, const uint8_t *m,
                                             SK_T *out, ptrdiff_t n, int log, double temperature,
                                             int masked) {
    /* g is taken as 0 at excluded entries, whatever it holds (inf, NaN). */
    double acc[SK_LANES] = {0}, comp[SK_LANES] = {0}, big[SK_LANES] = {0};
    ptrdiff_t i = 0;
    for (; i + SK_LANES <= n; i += SK_LANES) {
        for (int j = 0; j < SK_LANES; j++) {
            double gi = (masked && !m[i + j]) ? 0.0 : (double)g[i + j];
            ACCUMULATE(&acc[j], &comp[j], log ? gi : gi * (double)y[i + j]);
            if (SK_IS_F64) big[j] = sk_larger_magnitude(big[j], gi);
        }
    }
    for (; i < n; i++) {
        double gi = (masked && !m[i]) ? 0.0 : (double)g[i];
        ACCUMULATE(&acc[0], &comp[0], log ? gi : gi * (double)y[i]);
        if (SK_IS_F64) big[0] = sk_larger_magnitude(big[0], gi);
    }
    double sum = 0.0, largest = 0.0;
    for (int j = 0; j < SK_LANES; j++) {
        sum += acc[j];
        largest = sk_larger_magnitude(largest, big[j]);
    }
    /* The compensated sum where no order of the terms (each at most |g_i|,
     * as y_i <= 1) overflows; the spec's order where one may. The largest
     * |g_i| is off the sum's dependency chain. */
    if (sk_sum_may_overflow(largest, n)) {
        ROW row = {y, g, m, log, masked};
        sum = sk_numpy_sum(SK_CAT(vjp_term_at, SK_SFX), &row, 0, n);
    }
    int scaled = temperature != 1.0;
    for (i = 0; i < n; i++) {
        double gi = (masked && !m[i]) ? 0.0 : (double)g[i];
        double yi = (double)y[i];
        double grad = log ? gi - SK_CAT(sk_exp_of, SK_SFX)(yi, 0.0) * sum : yi * (gi - sum);
        grad = scaled ? grad / temperature : grad;
        out[i] = (SK_T)((masked && !m[i]) ? 0.0 : grad);
    }
}

static void SK_CAT(vjp_rows, SK_SFX)(const sk_vjp_args *a, ptrdiff_t r0, ptrdiff_t r1) {
    for (ptrdiff_t r = r0; r < r1; r++) {
        const SK_T *y = (const SK_T *)(a->y + r * a->ys);
        const SK_T *g = (const SK_T *)(a->g + r * a->gs);
        SK_T *out = (SK_T *)(a->out + r * a->os);
        const uint8_t *m = a->mask ? a->mask + r * a->ms : NULL;
        if (m && a->log)
            SK_CAT(vjp_row_impl, SK_SFX)(y, g, m, out, a->n, 1, a->temperature, 1);
        else if (m)
            SK_CAT(vjp_row_impl, SK_SFX)(y, g, m, out, a->n, 0, a->temperature, 1);
        else if (a->log)
            SK_CAT(vjp_row_impl, SK_SFX)(y, g, m, out, a->n, 1, a->temperature, 0);
        else
            SK_CAT(vjp_row_impl, SK_SFX)(y, g, m, out, a->n, 0, a->temperature, 0);
    }
}

#undef ACCUMULATE
#undef ROW
#undef TERM
