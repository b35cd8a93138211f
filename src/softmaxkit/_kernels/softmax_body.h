/* softmax / log_softmax / logsumexp loops for one dtype. Instantiated by
 * softmax.c through sk_per_dtype.h (SK_T element type, SK_SFX name suffix). */

#define LOAD SK_CAT(sk_load, SK_SFX)
#define SHIFTED SK_CAT(sk_shifted, SK_SFX)
#define EXP_OF SK_CAT(sk_exp_of, SK_SFX)
#define ACCUMULATE SK_CAT(sk_accumulate, SK_SFX)

/* ---- row mode ---------------------------------------------------------- */

SK_INLINE void SK_CAT(row_max, SK_SFX)(const SK_T *x, const uint8_t *m, ptrdiff_t len,
                                        int masked, sk_part *p) {
    double mx[SK_LANES];
    int nan[SK_LANES];
    for (int j = 0; j < SK_LANES; j++) {
        mx[j] = -INFINITY;
        nan[j] = 0;
    }
    ptrdiff_t i = 0;
    for (; i + SK_LANES <= len; i += SK_LANES) {
        for (int j = 0; j < SK_LANES; j++) {
            double v = LOAD(x, m, i + j, masked);
            mx[j] = v > mx[j] ? v : mx[j];
            nan[j] |= v != v;
        }
    }
    for (; i < len; i++) {
        double v = LOAD(x, m, i, masked);
        mx[0] = v > mx[0] ? v : mx[0];
        nan[0] |= v != v;
    }
    p->max = -INFINITY;
    p->nan = 0;
    for (int j = 0; j < SK_LANES; j++) {
        p->max = mx[j] > p->max ? mx[j] : p->max;
        p->nan |= nan[j];
    }
}

/* e[i] = exp(x[i] - shift) for one chunk (the +inf rule when pinf). */
SK_INLINE void SK_CAT(row_exp_chunk, SK_SFX)(const SK_T *x, const uint8_t *m, ptrdiff_t len,
                                              double shift, int masked, int pinf, double *e) {
    for (ptrdiff_t i = 0; i < len; i++) {
        double lo;
        double d = SHIFTED(LOAD(x, m, i, masked), shift, pinf, &lo);
        e[i] = EXP_OF(d, lo);
    }
}

/* k += number of e[i] == 1 (the maxima), t += the others. */
SK_INLINE void SK_CAT(row_sum_chunk, SK_SFX)(const double *e, ptrdiff_t len, double *k,
                                              double *t, double *c) {
    ptrdiff_t i = 0;
    for (; i + SK_LANES <= len; i += SK_LANES) {
        for (int j = 0; j < SK_LANES; j++) {
            double v = e[i + j];
            int at_max = v == 1.0;
            k[j] += at_max ? 1.0 : 0.0;
            ACCUMULATE(&t[j], &c[j], at_max ? 0.0 : v);
        }
    }
    for (; i < len; i++) {
        int at_max = e[i] == 1.0;
        k[0] += at_max ? 1.0 : 0.0;
        ACCUMULATE(&t[0], &c[0], at_max ? 0.0 : e[i]);
    }
}

SK_INLINE void SK_CAT(row_stats_impl, SK_SFX)(const SK_T *x, const uint8_t *m, ptrdiff_t len,
                                               int masked, sk_part *p, double *scratch) {
    SK_CAT(row_max, SK_SFX)(x, m, len, masked, p);
    p->k = p->t = 0.0;
    if (p->nan) return; /* the whole slice becomes NaN: no sums needed */
    double shift;
    int pinf;
    sk_shift_of(p->max, 0, &shift, &pinf);
    double k[SK_LANES] = {0}, t[SK_LANES] = {0}, c[SK_LANES] = {0};
    double buffer[SK_CHUNK];
    for (ptrdiff_t i = 0; i < len; i += SK_CHUNK) {
        ptrdiff_t n = len - i < SK_CHUNK ? len - i : SK_CHUNK;
        double *e = scratch ? scratch + i : buffer;
        const uint8_t *mi = masked ? m + i : m;
        if (pinf)
            SK_CAT(row_exp_chunk, SK_SFX)(x + i, mi, n, shift, masked, 1, e);
        else
            SK_CAT(row_exp_chunk, SK_SFX)(x + i, mi, n, shift, masked, 0, e);
        SK_CAT(row_sum_chunk, SK_SFX)(e, n, k, t, c);
    }
    for (int j = 0; j < SK_LANES; j++) {
        p->k += k[j];
        p->t += t[j];
    }
}

static void SK_CAT(row_stats, SK_SFX)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start,
                                      ptrdiff_t len, sk_part *p, double *scratch) {
    const SK_T *x = (const SK_T *)(a->x + row * a->xs_outer) + start;
    if (a->mask)
        SK_CAT(row_stats_impl, SK_SFX)(x, a->mask + row * a->ms_outer + start, len, 1, p, scratch);
    else
        SK_CAT(row_stats_impl, SK_SFX)(x, NULL, len, 0, p, scratch);
}

SK_INLINE void SK_CAT(row_apply_impl, SK_SFX)(const SK_T *x, const uint8_t *m, SK_T *out,
                                               ptrdiff_t len, const sk_slice *s, int op,
                                               int masked, int pinf, const double *scratch) {
    if (isnan(s->shift)) {
        for (ptrdiff_t i = 0; i < len; i++) out[i] = (SK_T)NAN;
    } else if (op == SK_LOG_SOFTMAX) {
        double log_norm = s->log_norm;
        for (ptrdiff_t i = 0; i < len; i++) {
            double lo;
            double d = SHIFTED(LOAD(x, m, i, masked), s->shift, pinf, &lo);
            /* (d - L) + d_lo: d <= 0 and L >= 0, so d - L never cancels. */
            out[i] = (SK_T)((d - log_norm) + lo);
        }
    } else if (scratch) {
        double inv = s->inv;
        for (ptrdiff_t i = 0; i < len; i++) out[i] = (SK_T)(scratch[i] * inv);
    } else {
        double inv = s->inv;
        for (ptrdiff_t i = 0; i < len; i++) {
            double lo;
            double d = SHIFTED(LOAD(x, m, i, masked), s->shift, pinf, &lo);
            out[i] = (SK_T)(EXP_OF(d, lo) * inv);
        }
    }
}

static void SK_CAT(row_apply, SK_SFX)(const sk_reduce_args *a, ptrdiff_t row, ptrdiff_t start,
                                      ptrdiff_t len, const sk_slice *s, const double *scratch) {
    const SK_T *x = (const SK_T *)(a->x + row * a->xs_outer) + start;
    SK_T *out = (SK_T *)(a->out + row * a->os_outer) + start;
    const uint8_t *m = sk_row_mask(a, row, start);
    /* Specialise the loops on the two flags that are constant per row. */
    if (m && s->pinf)
        SK_CAT(row_apply_impl, SK_SFX)(x, m, out, len, s, a->op, 1, 1, scratch);
    else if (m)
        SK_CAT(row_apply_impl, SK_SFX)(x, m, out, len, s, a->op, 1, 0, scratch);
    else if (s->pinf)
        SK_CAT(row_apply_impl, SK_SFX)(x, m, out, len, s, a->op, 0, 1, scratch);
    else
        SK_CAT(row_apply_impl, SK_SFX)(x, m, out, len, s, a->op, 0, 0, scratch);
}

static void SK_CAT(rows, SK_SFX)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1,
                                 double *scratch) {
    for (ptrdiff_t r = r0; r < r1; r++) {
        sk_part part;
        sk_slice s;
        /* Only softmax reuses the exponentials of the statistics pass. */
        double *keep = a->op == SK_SOFTMAX ? scratch : NULL;
        SK_CAT(row_stats, SK_SFX)(a, r, 0, a->n, &part, keep);
        SK_FN(sk_combine)(&part, 1, &s);
        if (a->op == SK_LOGSUMEXP)
            *(SK_T *)(a->out + r * a->os_outer) = (SK_T)s.lse;
        else
            SK_CAT(row_apply, SK_SFX)(a, r, 0, a->n, &s, part.nan ? NULL : keep);
    }
}

/* ---- column mode ------------------------------------------------------- */

/* One tile: w neighbouring slices (contiguous), each of n elements xs_n bytes
 * apart. Three passes (max, sums, output); the exponentials are recomputed in
 * the third because a tile of a long axis does not stay in cache. */
typedef struct {
    const char *x;
    const uint8_t *m;
    char *out;
    ptrdiff_t w;
    double shift[SK_TILE];
    int pinf[SK_TILE];
} SK_CAT(sk_tile, SK_SFX);

SK_INLINE void SK_CAT(tile_max, SK_SFX)(const sk_reduce_args *a, SK_CAT(sk_tile, SK_SFX) *tl,
                                         int masked) {
    double mx[SK_TILE];
    int nan[SK_TILE];
    for (ptrdiff_t j = 0; j < SK_TILE; j++) {
        mx[j] = -INFINITY;
        nan[j] = 0;
    }
    for (ptrdiff_t i = 0; i < a->n; i++) {
        const SK_T *x = (const SK_T *)(tl->x + i * a->xs_n);
        const uint8_t *m = masked ? tl->m + i * a->ms_n : NULL;
        for (ptrdiff_t j = 0; j < tl->w; j++) {
            double v = LOAD(x, m, j, masked);
            mx[j] = v > mx[j] ? v : mx[j];
            nan[j] |= v != v;
        }
    }
    for (ptrdiff_t j = 0; j < SK_TILE; j++) sk_shift_of(mx[j], nan[j], &tl->shift[j], &tl->pinf[j]);
}

SK_INLINE void SK_CAT(tile_rest, SK_SFX)(const sk_reduce_args *a,
                                          const SK_CAT(sk_tile, SK_SFX) *tl, int masked,
                                          int any_pinf) {
    double k[SK_TILE], t[SK_TILE], c[SK_TILE], scale[SK_TILE];
    const double *shift = tl->shift;
    const int *pinf = tl->pinf;
    ptrdiff_t w = tl->w;
    for (ptrdiff_t j = 0; j < SK_TILE; j++) k[j] = t[j] = c[j] = 0.0;
    for (ptrdiff_t i = 0; i < a->n; i++) {
        const SK_T *x = (const SK_T *)(tl->x + i * a->xs_n);
        const uint8_t *m = masked ? tl->m + i * a->ms_n : NULL;
        for (ptrdiff_t j = 0; j < w; j++) {
            double lo;
            double d = SHIFTED(LOAD(x, m, j, masked), shift[j], any_pinf && pinf[j], &lo);
            double e = EXP_OF(d, lo);
            int at_max = e == 1.0;
            k[j] += at_max ? 1.0 : 0.0;
            ACCUMULATE(&t[j], &c[j], at_max ? 0.0 : e);
        }
    }
    for (ptrdiff_t j = 0; j < w; j++) {
        sk_slice s = {.shift = shift[j], .pinf = pinf[j], .k = k[j], .t = t[j]};
        sk_finish(&s);
        if (a->op == SK_LOGSUMEXP)
            ((SK_T *)tl->out)[j] = (SK_T)s.lse;
        scale[j] = a->op == SK_SOFTMAX ? s.inv : s.log_norm;
    }
    if (a->op == SK_LOGSUMEXP) return;
    for (ptrdiff_t i = 0; i < a->n; i++) {
        const SK_T *x = (const SK_T *)(tl->x + i * a->xs_n);
        const uint8_t *m = masked ? tl->m + i * a->ms_n : NULL;
        SK_T *out = (SK_T *)(tl->out + i * a->os_n);
        if (a->op == SK_SOFTMAX) {
            for (ptrdiff_t j = 0; j < w; j++) {
                double lo;
                double d = SHIFTED(LOAD(x, m, j, masked), shift[j], any_pinf && pinf[j], &lo);
                out[j] = (SK_T)(EXP_OF(d, lo) * scale[j]);
            }
        } else {
            for (ptrdiff_t j = 0; j < w; j++) {
                double lo;
                double d = SHIFTED(LOAD(x, m, j, masked), shift[j], any_pinf && pinf[j], &lo);
                out[j] = (SK_T)((d - scale[j]) + lo);
            }
        }
    }
}

static void SK_CAT(tile, SK_SFX)(const sk_reduce_args *a, ptrdiff_t o, ptrdiff_t j0, ptrdiff_t w) {
    SK_CAT(sk_tile, SK_SFX) tl;
    tl.x = a->x + o * a->xs_outer + j0 * (ptrdiff_t)sizeof(SK_T);
    tl.out = a->out + o * a->os_outer + j0 * (ptrdiff_t)sizeof(SK_T);
    tl.m = a->mask ? a->mask + o * a->ms_outer + j0 : NULL;
    tl.w = w;
    if (tl.m)
        SK_CAT(tile_max, SK_SFX)(a, &tl, 1);
    else
        SK_CAT(tile_max, SK_SFX)(a, &tl, 0);
    /* The per-slice +inf rule costs a select per element: only pay for it
     * in the rare tiles that hold a +inf. */
    int any_pinf = 0;
    for (ptrdiff_t j = 0; j < w; j++) any_pinf |= tl.pinf[j];
    if (tl.m && any_pinf)
        SK_CAT(tile_rest, SK_SFX)(a, &tl, 1, 1);
    else if (tl.m)
        SK_CAT(tile_rest, SK_SFX)(a, &tl, 1, 0);
    else if (any_pinf)
        SK_CAT(tile_rest, SK_SFX)(a, &tl, 0, 1);
    else
        SK_CAT(tile_rest, SK_SFX)(a, &tl, 0, 0);
}

#undef LOAD
#undef SHIFTED
#undef EXP_OF
#undef ACCUMULATE
