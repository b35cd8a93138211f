/* Fused cross-entropy loops for one dtype (see cross_entropy.c). */

#define LOAD SK_CAT(sk_load, SK_SFX)
#define SHIFTED SK_CAT(sk_shifted, SK_SFX)
#define EXP_OF SK_CAT(sk_exp_of, SK_SFX)
#define TARGET SK_CAT(ce_target, SK_SFX)
#define COEF SK_CAT(ce_coef, SK_SFX)

/* A probability target's row: coef_j = (q_j (1 - eps) + eps / C) w_j. */
typedef struct {
    const SK_T *q;
    const double *w; /* NULL: no class weights */
    double eps, uniform;
} TARGET;

SK_INLINE double COEF(const TARGET *t, ptrdiff_t j) {
    double q = (double)t->q[j];
    q = t->eps > 0 ? q * (1.0 - t->eps) + t->uniform : q;
    return t->w ? q * t->w[j] : q;
}

/* COEF for sk_numpy_sum */
static double SK_CAT(ce_coef_at, SK_SFX)(const void *t, ptrdiff_t j) {
    return COEF((const TARGET *)t, j);
}

/* One chunk of a row: write the gradient (if grad) and the per-class loss
 * terms (term[j], summed by the caller). coef[j] is the weight of class j in
 * the gradient's subtracted part and in the loss:
 *   class indices:  grad_j = p_j * row_scale - coef_j,  term_j = w_j logp_j
 *   probabilities:  grad_j = p_j * row_scale - coef_j,  term_j = coef_j logp_j
 * with 0 * logp = 0 even where logp = -inf (an excluded class). */
SK_INLINE void SK_CAT(ce_chunk, SK_SFX)(const SK_T *z, const double *e_kept, const double *coef,
                                         const double *term_weight, SK_T *grad, double *term,
                                         ptrdiff_t len, const sk_slice *s, double row_scale,
                                         double grad_scale, int pinf) {
    for (ptrdiff_t j = 0; j < len; j++) {
        double lo;
        double d = SHIFTED((double)z[j], s->shift, pinf, &lo);
        double logp = (d - s->log_norm) + lo;
        double tw = term_weight ? term_weight[j] : 1.0;
        term[j] = tw == 0.0 ? 0.0 : tw * logp;
        if (grad) {
            double e = e_kept ? e_kept[j] : EXP_OF(d, lo);
            grad[j] = (SK_T)(((e * s->inv) * row_scale - coef[j]) * grad_scale);
        }
    }
}

static void SK_CAT(ce_row, SK_SFX)(const sk_ce_args *a, ptrdiff_t r, double *scratch,
                                   sk_part *parts) {
    ptrdiff_t n = a->n;
    const SK_T *z = (const SK_T *)(a->logits + r * a->ls);
    SK_T *grad = a->grad ? (SK_T *)(a->grad + r * a->gs) : NULL;
    double eps = a->smoothing, uniform = eps / (double)n;
    if (a->target && a->target[r] == a->ignore_index) {
        a->loss[r] = 0.0;
        if (grad)
            for (ptrdiff_t j = 0; j < n; j++) grad[j] = 0;
        return;
    }

    /* Statistics of the logits, as softmax does them. */
    sk_reduce_args ra = {.dtype = a->dtype, .op = SK_SOFTMAX, .x = a->logits, .outer = a->rows,
                         .n = n, .inner = 1, .xs_outer = a->ls,
                         .xs_n = (ptrdiff_t)sizeof(SK_T)};
    ptrdiff_t n_blocks = (n + SK_BLOCK - 1) / SK_BLOCK;
    double *kept = n_blocks == 1 && grad ? scratch : NULL;
    for (ptrdiff_t b = 0; b < n_blocks; b++) {
        ptrdiff_t start = b * SK_BLOCK, len = n - start < SK_BLOCK ? n - start : SK_BLOCK;
        SK_FN(sk_row_stats)(&ra, r, start, len, &parts[b], kept);
    }
    sk_slice s;
    SK_FN(sk_combine_parts)(parts, n_blocks, &s);
    if (n_blocks == 1 && parts[0].nan) kept = NULL;

    double coef[SK_CHUNK], term[SK_CHUNK];
    double row_scale, picked_weight = 1.0;
    double total[SK_LANES] = {0};
    TARGET t = {a->probs ? (const SK_T *)(a->probs + r * a->ps) : NULL, a->weight, eps, uniform};
    if (a->target) {
        int64_t y = a->target[r];
        picked_weight = a->weight ? a->weight[y] : 1.0;
        row_scale = (1.0 - eps) * picked_weight + a->smoothing_weight;
    } else {
        /* compensated for float64: every gradient entry is p_j row_scale - coef_j */
        double comp = 0.0, largest = 0.0;
        row_scale = 0.0;
        for (ptrdiff_t j = 0; j < n; j++) {
            double c = COEF(&t, j);
            SK_CAT(sk_accumulate, SK_SFX)(&row_scale, &comp, c);
            largest = sk_larger_magnitude(largest, c);
        }
        /* where the sum may overflow, the spec's order of it (sk_numpy_sum.h) */
        if (sk_sum_may_overflow(largest, n))
            row_scale = sk_numpy_sum(SK_CAT(ce_coef_at, SK_SFX), &t, 0, n);
    }

    for (ptrdiff_t start = 0; start < n; start += SK_CHUNK) {
        ptrdiff_t len = n - start < SK_CHUNK ? n - start : SK_CHUNK;
        const double *w = a->weight ? a->weight + start : NULL;
        const double *term_weight;
        if (a->target) {
            int64_t y = a->target[r] - start;
            for (ptrdiff_t j = 0; j < len; j++) coef[j] = eps > 0 ? uniform * (w ? w[j] : 1.0) : 0.0;
            if (y >= 0 && y < len) coef[y] += (1.0 - eps) * picked_weight;
            term_weight = w; /* the smoothing term sums w_j logp_j */
        } else {
            for (ptrdiff_t j = 0; j < len; j++) coef[j] = COEF(&t, start + j);
            term_weight = coef;
        }
        SK_T *g = grad ? grad + start : NULL;
        const double *e = kept ? kept + start : NULL;
        if (s.pinf)
            SK_CAT(ce_chunk, SK_SFX)(z + start, e, coef, term_weight, g, term, len, &s, row_scale,
                                     a->grad_scale, 1);
        else
            SK_CAT(ce_chunk, SK_SFX)(z + start, e, coef, term_weight, g, term, len, &s, row_scale,
                                     a->grad_scale, 0);
        if (a->target && eps == 0.0) continue; /* the loss needs logp[y] only */
        ptrdiff_t j = 0;
        for (; j + SK_LANES <= len; j += SK_LANES)
            for (int l = 0; l < SK_LANES; l++) total[l] += term[j + l];
        for (; j < len; j++) total[0] += term[j];
    }
    double sum = 0.0;
    for (int l = 0; l < SK_LANES; l++) sum += total[l];
    if (a->target) {
        int64_t y = a->target[r];
        double lo;
        double d = SHIFTED((double)z[y], s.shift, s.pinf, &lo);
        double nll = -((d - s.log_norm) + lo) * picked_weight;
        a->loss[r] = eps > 0 ? (1.0 - eps) * nll + uniform * -sum : nll;
    } else {
        a->loss[r] = -sum;
    }
}

static void SK_CAT(ce_rows, SK_SFX)(const sk_ce_args *a, ptrdiff_t r0, ptrdiff_t r1,
                                    double *scratch) {
    ptrdiff_t n_blocks = (a->n + SK_BLOCK - 1) / SK_BLOCK;
    /* Long rows (more than SK_BLOCK classes) keep one part per block. */
    sk_part one, *parts = n_blocks == 1 ? &one : (sk_part *)(scratch + SK_BLOCK);
    /* (driver.c sizes scratch as min(n, SK_BLOCK) doubles + n_blocks parts) */
    for (ptrdiff_t r = r0; r < r1; r++) SK_CAT(ce_row, SK_SFX)(a, r, scratch, parts);
}

#undef LOAD
#undef SHIFTED
#undef EXP_OF
#undef TARGET
#undef COEF
