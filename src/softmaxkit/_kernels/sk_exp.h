/* A vectorisable exp in plain C (no libm call, no table, no branch).
 *
 * The loops that call these inline functions are auto-vectorised by the
 * compiler for the ISA the file is compiled for (see sk_isa.h), so the whole
 * computation is written with operations every SIMD unit has: multiply, add,
 * compare/select and 64-bit integer shifts and adds on the bit pattern.
 *
 * Method. exp(x + xlo) for x in [-1000, 710]:
 *   k  = round(x / ln2)                 (the 1.5 * 2^52 shifter trick)
 *   r  = x - k ln2_hi - k ln2_lo        (ln2_hi has 37 bits, so k ln2_hi and
 *                                        x - k ln2_hi are exact for |k| < 2^16)
 *   rl = the rounding error of the second subtraction, plus xlo
 *   exp(r + rl) = 1 + r + r^2 q(r) + rl exp(r)  on |r| <= ln2 / 2,
 *        with 1 + r split exactly (Fast2Sum) so that the only large rounding
 *        is the final one;
 *   2^k is applied as 2^k1 * 2^k2 (k1 = k / 2): both factors are normal
 *   doubles, so results that underflow into the subnormals are rounded once,
 *   correctly, and exp(-1000) is exactly 0, exp(710) exactly +inf.
 * The polynomial q comes from tools/exp_coefficients.py (near-minimax,
 * Chebyshev interpolation); its relative error is 3e-19 (float64 results) or
 * 4e-12 (results that are rounded to float32 afterwards, where 1e-10 suffices
 * to be within one float32 ulp of the correctly rounded value).
 * The accuracy of the results is measured against mpmath in
 * tests/test_kernel_accuracy.py.
 *
 * NaN gives NaN. The integer arithmetic is unsigned where it may wrap, so that
 * no input (NaN included) reaches undefined behaviour.
 */
#ifndef SK_EXP_H
#define SK_EXP_H

#include <stdint.h>
#include <string.h>

static inline uint64_t sk_bits(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double sk_from_bits(uint64_t u) {
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define SK_EXP_SHIFTER 0x1.8p52
#define SK_INV_LN2 0x1.71547652b82fep0
#define SK_LN2_HI 0x1.62e42fefa0000p-1 /* 37 significant bits */
#define SK_LN2_LO 0x1.cf79abc9e3b3ap-40 /* ln2 - SK_LN2_HI, rounded */
#define SK_EXP_MIN -1000.0             /* below: exp is 0 in double */
#define SK_EXP_MAX 710.0               /* above: exp is +inf in double */

/* q(r) of exp(r) = 1 + r + r^2 q(r) on |r| <= ln2 / 2 (float64 results; also
 * used by the float64 lanes of sk_simd_f64.h). */
#define SK_EXP_Q0 0x1.0000000000000p-1
#define SK_EXP_Q1 0x1.5555555555557p-3
#define SK_EXP_Q2 0x1.5555555555556p-5
#define SK_EXP_Q3 0x1.11111111100dfp-7
#define SK_EXP_Q4 0x1.6c16c16c162d6p-10
#define SK_EXP_Q5 0x1.a01a01abe62ddp-13
#define SK_EXP_Q6 0x1.a01a01a6d7808p-16
#define SK_EXP_Q7 0x1.71de02375656cp-19
#define SK_EXP_Q8 0x1.27e4db67b4303p-22
#define SK_EXP_Q9 0x1.af4ddd84882fep-26
#define SK_EXP_Q10 0x1.1f72fc730b4ffp-29

/* 2^k * p for the k encoded in the shifted kd (see above); p in [0.7, 1.5]. */
static inline double sk_exp_scale(double kd_shifted, double p) {
    int64_t k = (int64_t)(sk_bits(kd_shifted) - sk_bits(SK_EXP_SHIFTER));
    int64_t k1 = k / 2;
    int64_t k2 = k - k1;
    double s1 = sk_from_bits((uint64_t)(k1 + 1023) << 52);
    double s2 = sk_from_bits((uint64_t)(k2 + 1023) << 52);
    return (p * s1) * s2;
}

static inline double sk_clamp_exp_arg(double x) {
    x = x < SK_EXP_MIN ? SK_EXP_MIN : x;
    return x > SK_EXP_MAX ? SK_EXP_MAX : x;
}

/* exp(x + xlo) with an error below 0.52 ulp; xlo is a small correction
 * (|xlo| <= ulp(x)), e.g. the rounding error of a subtraction that made x. */
static inline double sk_exp_accurate(double x, double xlo) {
    /* Below SK_EXP_MIN the result is 0 whatever the correction: a shift by a
     * maximum of 1e150 leaves corrections of 1e134, which must not reach the
     * polynomial once x is clamped. */
    xlo = x < SK_EXP_MIN ? 0.0 : xlo;
    x = sk_clamp_exp_arg(x);
    double kd_shifted = x * SK_INV_LN2 + SK_EXP_SHIFTER;
    double kd = kd_shifted - SK_EXP_SHIFTER;
    double r_hi = x - kd * SK_LN2_HI; /* exact */
    double k_lo = kd * SK_LN2_LO;
    double r = r_hi - k_lo;
    double r_lo = ((r_hi - r) - k_lo) + xlo;
    double r2 = r * r;
    double r4 = r2 * r2;
    /* Estrin's scheme: shorter dependency chains than Horner. */
    double q01 = SK_EXP_Q0 + r * SK_EXP_Q1;
    double q23 = SK_EXP_Q2 + r * SK_EXP_Q3;
    double q45 = SK_EXP_Q4 + r * SK_EXP_Q5;
    double q67 = SK_EXP_Q6 + r * SK_EXP_Q7;
    double q89 = SK_EXP_Q8 + r * SK_EXP_Q9;
    double q = (q01 + r2 * q23) + r4 * ((q45 + r2 * q67) + r4 * (q89 + r2 * SK_EXP_Q10));
    double poly = r2 * q;
    double one_plus_r = 1.0 + r;
    double one_plus_r_err = (1.0 - one_plus_r) + r; /* exact: |r| < 1 */
    /* exp(r + r_lo) = exp(r) (1 + r_lo + ...): r_lo must be scaled by the
     * whole exp(r), not by 1 + r (that would leave r^2 r_lo / 2, 3 ulp). */
    double tail = one_plus_r_err + (poly + r_lo * (one_plus_r + poly));
    return sk_exp_scale(kd_shifted, one_plus_r + tail);
}

/* exp(x) to a relative error of 1e-11: enough for results that are rounded
 * to float32 (a float32 ulp is 6e-8 relative). */
static inline double sk_exp_for_float(double x) {
    x = sk_clamp_exp_arg(x);
    double kd_shifted = x * SK_INV_LN2 + SK_EXP_SHIFTER;
    double kd = kd_shifted - SK_EXP_SHIFTER;
    double r = (x - kd * SK_LN2_HI) - kd * SK_LN2_LO;
    double r2 = r * r;
    double r4 = r2 * r2;
    double q01 = 0x1.0000000000000p-1 + r * 0x1.5555556750672p-3;
    double q23 = 0x1.5555555c85f99p-5 + r * 0x1.1110c63a4eed0p-7;
    double q45 = 0x1.6c1685919d367p-10 + r * 0x1.a15169e096556p-13;
    double q6 = 0x1.a1131351400c3p-16;
    double q = (q01 + r2 * q23) + r4 * (q45 + r2 * q6);
    return sk_exp_scale(kd_shifted, 1.0 + (r + r2 * q));
}

#endif
