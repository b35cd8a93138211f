/* Element-level helpers shared by the per-dtype loop bodies (included with
 * SK_T, SK_SFX and SK_IS_F64 defined; see sk_per_dtype.h). */

/* x[i], or -inf where the mask excludes it (so an excluded NaN is ignored). */
SK_INLINE double SK_CAT(sk_load, SK_SFX)(const SK_T *x, const uint8_t *m, ptrdiff_t i, int masked) {
    double v = (double)x[i];
    return (masked && !m[i]) ? -INFINITY : v;
}

/* d = v - shift and its rounding error (float64 only: float32 inputs are
 * exact in double); the +inf rule of _stable.shift_by_max when pinf. */
SK_INLINE double SK_CAT(sk_shifted, SK_SFX)(double v, double shift, int pinf, double *d_lo) {
    if (pinf) {
        *d_lo = 0.0;
        return v == INFINITY ? 0.0 : -INFINITY;
    }
    double d = v - shift;
#if SK_IS_F64
    double lo = sk_diff_err(v, shift, d);
    *d_lo = d > -INFINITY ? lo : 0.0; /* no error term at an excluded entry */
#else
    *d_lo = 0.0;
#endif
    return d;
}

SK_INLINE double SK_CAT(sk_exp_of, SK_SFX)(double d, double d_lo) {
#if SK_IS_F64
    return sk_exp_accurate(d, d_lo);
#else
    (void)d_lo;
    return sk_exp_for_float(d);
#endif
}

/* acc += v in lane j, compensated (Kahan) for float64 results: the
 * normaliser's relative error feeds every output, and a plain sum of 32768
 * terms would be off by tens of ulps. A sum that is not finite keeps no
 * error term: (inf - acc) - y is NaN, which made every later sum NaN where
 * the plain sum is +-inf (softmax_vjp of an infinite gradient). */
SK_INLINE void SK_CAT(sk_accumulate, SK_SFX)(double *acc, double *comp, double v) {
#if SK_IS_F64
    double y = v - *comp;
    double s = *acc + y;
    *comp = isfinite(s) ? (s - *acc) - y : 0.0;
    *acc = s;
#else
    (void)comp;
    *acc += v;
#endif
}
