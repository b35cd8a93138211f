/* What the fused cross-entropy rows in float32 and float64 lanes
 * (cross_entropy_f32.h, cross_entropy_f64.h) share: the scalar coefficient,
 * the row's loss and scale from its statistics, the gradient at the target,
 * and the dispatch to one instance of the loops per set of options.
 */
#ifndef SK_CROSS_ENTROPY_LANES_H
#define SK_CROSS_ENTROPY_LANES_H

#include "sk_isa.h"

/* coef_j of class j (not the target's (1 - eps) w_y, which the caller adds at y). */
SK_INLINE double ce_coef_one(const sk_ce_args *a, ptrdiff_t r, ptrdiff_t j, int probs,
                             int weighted, int smooth, double uniform) {
    double c;
    if (probs) {
        const char *row = a->probs + r * a->ps;
        c = a->dtype == SK_F32 ? (double)((const float *)row)[j] : ((const double *)row)[j];
        if (smooth) c = c * (1.0 - a->smoothing) + uniform;
    } else {
        c = smooth ? uniform : 0.0;
    }
    return weighted ? c * a->weight[j] : c;
}

/* Whether the fused split of a smoothing or probability row may stand for
 * the formula's sum, given coef_d = sum_j coef_j (z_j - m) and coef_sum =
 * sum_j coef_j; otherwise the row is left to the general loop, before
 * anything is written, which forms the formula's terms as the spec and torch
 * do. The formula sums w_j logp_j (class indices: coef_j / uniform, scaled
 * by uniform = eps / C only after the sum) or coef_j logp_j (probabilities),
 * and overflows to +-inf where a term or a partial sum does: with class
 * weights near the float maximum, or logits far below the maximum (z_j - m
 * = -1e308 and w_j = 2), the split of the smaller coef_j stayed finite.
 * |logp_j| <= (m - z_j) + log(C) < (m - z_j) + 45, so with coefficients of
 * one sign (weights and probabilities >= 0) |coef_d| + 45 |coef_sum| bounds
 * every term and partial sum of the formula's; 2^1020, a sixteenth of the
 * float maximum, leaves room for their rounding. An infinite coefficient
 * (a weight or target of inf), whose split is inf * 0 or inf - inf (NaN)
 * where the formula is +-inf, fails the test too. */
SK_INLINE int ce_sums_stay_finite(double coef_d, double coef_sum, int probs, double uniform) {
    double bound = fabs(coef_d) + 45.0 * fabs(coef_sum);
    return bound < (probs ? 0x1p1020 : 0x1p1020 * uniform);
}

/* The loss of row r from its statistics: zy_m = z_y - m for class targets;
 * norm = k + t with k >= 1 the entries at the maximum m (log(norm) as
 * log(k) + log1p(t / k) keeps a dominant class's log-probability relative);
 * for smoothing or probability targets coef_d = sum_j coef_j (z_j - m) and
 * coef_sum = sum_j coef_j. Sets scale (e_j * scale is p_j times what the
 * target puts on the row) and picked ((1 - eps) w_y, the target's extra
 * coefficient at y; 0 for probability targets). The fused rows take only
 * the rows ce_sums_stay_finite passes. */
SK_INLINE double ce_row_loss(const sk_ce_args *a, ptrdiff_t r, int probs, int weighted, int smooth,
                             double zy_m, double k, double t, double coef_d, double coef_sum,
                             double *scale, double *picked) {
    double eps = a->smoothing;
    double inv = 1.0 / (k + t), log_norm = sk_log_norm(k, t);
    if (probs) {
        *scale = inv * coef_sum;
        *picked = 0.0;
        return -(coef_d - log_norm * coef_sum);
    }
    double w_y = weighted ? a->weight[a->target[r]] : 1.0;
    *picked = (1.0 - eps) * w_y;
    *scale = inv * (*picked + a->smoothing_weight);
    double nll = -(zy_m - log_norm) * w_y;
    /* smoothing: -sum_j w_j logp_j, with coef_j = uniform w_j */
    return smooth ? (1.0 - eps) * nll - (coef_d - log_norm * coef_sum) : nll;
}

/* The gradient at the target class y, whose exponential is e_y. */
SK_INLINE double ce_grad_at_target(const sk_ce_args *a, ptrdiff_t r, double e_y, double scale,
                                   int weighted, int smooth, double picked) {
    double uniform = a->smoothing / (double)a->n;
    double c_y = ce_coef_one(a, r, a->target[r], 0, weighted, smooth, uniform) + picked;
    return (e_y * scale - c_y) * a->grad_scale;
}

/* Rows [r0, r1) by row (a fused row function taking the options as constant
 * int arguments, 0 where it leaves the row to general), one instance of its
 * loops per combination of options. */
#define SK_CE_LANE_ROWS(name, row, general)                                                     \
    static void name(const sk_ce_args *a, ptrdiff_t r0, ptrdiff_t r1, double *scratch) {       \
        int probs = a->probs != NULL, weighted = a->weight != NULL, smooth = a->smoothing > 0.0; \
        for (ptrdiff_t r = r0; r < r1; r++) {                                                   \
            int done;                                                                           \
            switch (probs * 4 + weighted * 2 + smooth) {                                        \
                case 0: done = row(a, r, 0, 0, 0); break;                                       \
                case 1: done = row(a, r, 0, 0, 1); break;                                       \
                case 2: done = row(a, r, 0, 1, 0); break;                                       \
                case 3: done = row(a, r, 0, 1, 1); break;                                       \
                case 4: done = row(a, r, 1, 0, 0); break;                                       \
                case 5: done = row(a, r, 1, 0, 1); break;                                       \
                case 6: done = row(a, r, 1, 1, 0); break;                                       \
                default: done = row(a, r, 1, 1, 1); break;                                      \
            }                                                                                   \
            if (!done) general(a, r, r + 1, scratch);                                           \
        }                                                                                       \
    }

#endif
