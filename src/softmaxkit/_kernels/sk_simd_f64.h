/* Internal: float64 vectors for the SIMD builds (AVX-512F or AVX2 + FMA).
 *
 * The float64 counterpart of sk_simd.h: "vd" (SK_VDW double lanes: 8 with
 * AVX-512, 4 with AVX2) and "vdmask" (a lane predicate), so that the loops of
 * softmax_f64.c are written once for both instruction sets. Only included
 * where __AVX2__ is defined; the baseline build keeps the portable loops of
 * softmax_body.h.
 *
 * Also here: the float64 exponential of a shifted argument, exp(d + lo), with
 * lo the exact rounding error of d = x - m (TwoSum), by the method and the
 * polynomial of sk_exp.h's sk_exp_accurate (below 0.52 ulp), and compensated
 * float64 sums.
 */
#ifndef SK_SIMD_F64_H
#define SK_SIMD_F64_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "sk_exp.h"
#include "sk_isa.h"

#if defined(__AVX512F__)

#define SK_VDW 8
typedef __m512d vd;
typedef __mmask8 vdmask;

SK_INLINE vd vd_set1(double a) { return _mm512_set1_pd(a); }
SK_INLINE vd vd_load(const double *p) { return _mm512_loadu_pd(p); }
SK_INLINE void vd_store(double *p, vd v) { _mm512_storeu_pd(p, v); }
SK_INLINE vdmask vdmask_first(ptrdiff_t n) {
    return (vdmask)(n >= SK_VDW ? 0xFFu : ((1u << n) - 1u));
}
/* The first n lanes from p, fill elsewhere (no byte past p + n is read). */
SK_INLINE vd vd_load_first(const double *p, ptrdiff_t n, vd fill) {
    return _mm512_mask_loadu_pd(fill, vdmask_first(n), p);
}
SK_INLINE void vd_store_first(double *p, vd v, ptrdiff_t n) {
    _mm512_mask_storeu_pd(p, vdmask_first(n), v);
}
SK_INLINE vd vd_add(vd a, vd b) { return _mm512_add_pd(a, b); }
SK_INLINE vd vd_sub(vd a, vd b) { return _mm512_sub_pd(a, b); }
SK_INLINE vd vd_mul(vd a, vd b) { return _mm512_mul_pd(a, b); }
/* max(a, b), b when either is NaN (the x86 rule both ISAs share). */
SK_INLINE vd vd_max(vd a, vd b) { return _mm512_max_pd(a, b); }
SK_INLINE vd vd_fmadd(vd a, vd b, vd c) { return _mm512_fmadd_pd(a, b, c); }  /* a b + c */
SK_INLINE vd vd_fnmadd(vd a, vd b, vd c) { return _mm512_fnmadd_pd(a, b, c); } /* c - a b */
SK_INLINE vdmask vd_gt_or_nan(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_NLE_UQ); }
/* p * 2^k for integral k in [-1500, 0] where keep holds (one rounding, into
 * the subnormals), 0 elsewhere. The lanes left out compute nothing: a result
 * that underflows costs a microcode assist. */
SK_INLINE vd vd_ldexp_where(vdmask keep, vd p, vd k) { return _mm512_maskz_scalef_pd(keep, p, k); }
SK_INLINE double vd_hmax(vd v) { return _mm512_reduce_max_pd(v); }
/* Lanes whose mask byte is 0 (8 bytes at m) become -inf. */
SK_INLINE vd vd_exclude(vd x, const uint8_t *m) {
    __m512i bytes = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)m));
    vdmask keep = _mm512_test_epi64_mask(bytes, bytes);
    return _mm512_mask_blend_pd(keep, _mm512_set1_pd(-INFINITY), x);
}

#elif defined(__AVX2__)

#define SK_VDW 4
typedef __m256d vd;
typedef __m256d vdmask; /* all-ones / all-zeros lanes */

SK_INLINE vd vd_set1(double a) { return _mm256_set1_pd(a); }
SK_INLINE vd vd_load(const double *p) { return _mm256_loadu_pd(p); }
SK_INLINE void vd_store(double *p, vd v) { _mm256_storeu_pd(p, v); }
SK_INLINE __m256i vdmask_first_bits(ptrdiff_t n) {
    static const int64_t ones_then_zeros[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
    n = n > SK_VDW ? SK_VDW : n;
    return _mm256_loadu_si256((const __m256i *)(ones_then_zeros + SK_VDW - n));
}
SK_INLINE vd vd_load_first(const double *p, ptrdiff_t n, vd fill) {
    __m256i m = vdmask_first_bits(n);
    return _mm256_blendv_pd(fill, _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m));
}
SK_INLINE void vd_store_first(double *p, vd v, ptrdiff_t n) {
    _mm256_maskstore_pd(p, vdmask_first_bits(n), v);
}
SK_INLINE vd vd_add(vd a, vd b) { return _mm256_add_pd(a, b); }
SK_INLINE vd vd_sub(vd a, vd b) { return _mm256_sub_pd(a, b); }
SK_INLINE vd vd_mul(vd a, vd b) { return _mm256_mul_pd(a, b); }
SK_INLINE vd vd_max(vd a, vd b) { return _mm256_max_pd(a, b); }
SK_INLINE vd vd_fmadd(vd a, vd b, vd c) { return _mm256_fmadd_pd(a, b, c); }
SK_INLINE vd vd_fnmadd(vd a, vd b, vd c) { return _mm256_fnmadd_pd(a, b, c); }
SK_INLINE vdmask vd_gt_or_nan(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_NLE_UQ); }
/* p * 2^k for integral k in [-1500, 0] as 2^k1 * 2^k2 with k1, k2 >= -750:
 * both factors are normal doubles, so only the last product rounds; 0 where
 * keep does not hold (p is zeroed first, so nothing underflows there). */
SK_INLINE vd vd_ldexp_where(vdmask keep, vd p, vd k) {
    p = _mm256_and_pd(keep, p);
    __m128i ki = _mm256_cvtpd_epi32(k);
    __m128i k1 = _mm_srai_epi32(ki, 1);
    __m128i k2 = _mm_sub_epi32(ki, k1);
    __m256i bias = _mm256_set1_epi64x(1023);
    vd s1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(k1), bias), 52));
    vd s2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(k2), bias), 52));
    return _mm256_mul_pd(_mm256_mul_pd(p, s1), s2);
}
SK_INLINE double vd_hmax(vd v) {
    __m128d m = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    m = _mm_max_sd(m, _mm_unpackhi_pd(m, m));
    return _mm_cvtsd_f64(m);
}
SK_INLINE vd vd_exclude(vd x, const uint8_t *m) {
    int32_t four;
    memcpy(&four, m, sizeof four);
    __m256i bytes = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(four));
    vd excluded = _mm256_castsi256_pd(_mm256_cmpeq_epi64(bytes, _mm256_setzero_si256()));
    return _mm256_blendv_pd(x, _mm256_set1_pd(-INFINITY), excluded);
}

#endif

/* Lanes [0, n) of x with mask bytes m (NULL: none), -inf elsewhere; n <= SK_VDW. */
SK_INLINE vd vd_load_x_first(const double *x, const uint8_t *m, ptrdiff_t n) {
    vd v = vd_load_first(x, n, vd_set1(-INFINITY));
    if (m) {
        uint8_t bytes[8] = {0};
        memcpy(bytes, m, (size_t)(n < SK_VDW ? n : SK_VDW)); /* n <= SK_VDW: the bound is for GCC */
        v = vd_exclude(v, bytes);
    }
    return v;
}

SK_INLINE vd vd_load_x(const double *x, const uint8_t *m) {
    vd v = vd_load(x);
    return m ? vd_exclude(v, m) : v;
}

/* Lanes [i, i + n) of x (n <= SK_VDW; a full vector when n == SK_VDW). */
SK_INLINE vd vd_load_x_at(const double *x, const uint8_t *m, ptrdiff_t i, ptrdiff_t n) {
    return n == SK_VDW ? vd_load_x(x + i, m ? m + i : NULL) : vd_load_x_first(x + i, m ? m + i : NULL, n);
}

SK_INLINE void vd_store_at(double *p, ptrdiff_t i, vd v, ptrdiff_t n) {
    if (n == SK_VDW)
        vd_store(p + i, v);
    else
        vd_store_first(p + i, v, n);
}

/* ---- the float64 exponential ------------------------------------------- */

/* The callers clamp d = x - m at this value (by clamping x at m + it), which
 * keeps 2^k within vd_ldexp_where's range and lo finite. */
#define SK_F64_EXP_LOW -1000.0
/* Below this, exp(d) rounds to 0 in float64 (exp(-746) < 2^-1076). */
#define SK_F64_EXP_ZERO -746.0

/* d = x - m (m broadcast) and its exact rounding error lo (TwoSum). */
SK_INLINE vd sk_vshiftd(vd x, vd m, vd *lo) {
    vd d = vd_sub(x, m);
    vd b_virtual = vd_sub(d, x); /* ~ -m */
    vd a_virtual = vd_sub(d, b_virtual);
    *lo = vd_sub(vd_sub(x, a_virtual), vd_add(m, b_virtual));
    return d;
}

/* exp(d + lo) for -1001 <= d <= 0 (d = x - m rounded, lo its rounding
 * error), NaN giving NaN, by sk_exp_accurate's method (see sk_exp.h): the
 * reduction r + r_lo = d + lo - k ln2 with r_lo kept apart, exp(r) =
 * 1 + r + r^2 q(r) with 1 + r split exactly, so that the only large rounding
 * is the final one; then 2^k, rounded once where the result is subnormal, and
 * exactly 0 below -746. */
SK_INLINE vd sk_vexpd_lo(vd d, vd lo) {
    const vd one = vd_set1(1.0);
    vd kd = vd_sub(vd_fmadd(d, vd_set1(SK_INV_LN2), vd_set1(SK_EXP_SHIFTER)), vd_set1(SK_EXP_SHIFTER));
    vd r_hi = vd_fnmadd(kd, vd_set1(SK_LN2_HI), d); /* exact */
    vd k_lo = vd_mul(kd, vd_set1(SK_LN2_LO));
    vd r = vd_sub(r_hi, k_lo);
    vd r_lo = vd_add(vd_sub(vd_sub(r_hi, r), k_lo), lo);
    vd r2 = vd_mul(r, r);
    vd r4 = vd_mul(r2, r2);
    vd q01 = vd_fmadd(r, vd_set1(SK_EXP_Q1), vd_set1(SK_EXP_Q0));
    vd q23 = vd_fmadd(r, vd_set1(SK_EXP_Q3), vd_set1(SK_EXP_Q2));
    vd q45 = vd_fmadd(r, vd_set1(SK_EXP_Q5), vd_set1(SK_EXP_Q4));
    vd q67 = vd_fmadd(r, vd_set1(SK_EXP_Q7), vd_set1(SK_EXP_Q6));
    vd q89 = vd_fmadd(r, vd_set1(SK_EXP_Q9), vd_set1(SK_EXP_Q8));
    vd q_hi = vd_fmadd(r4, vd_fmadd(r2, vd_set1(SK_EXP_Q10), q89), vd_fmadd(r2, q67, q45));
    vd q = vd_fmadd(r4, q_hi, vd_fmadd(r2, q23, q01));
    vd poly = vd_mul(r2, q);
    vd one_plus_r = vd_add(one, r);
    vd one_plus_r_err = vd_add(vd_sub(one, one_plus_r), r); /* exact: |r| < 1 */
    vd tail = vd_add(one_plus_r_err, vd_fmadd(r_lo, vd_add(one_plus_r, poly), poly));
    vdmask not_zero = vd_gt_or_nan(d, vd_set1(SK_F64_EXP_ZERO)); /* NaN stays NaN */
    return vd_ldexp_where(not_zero, vd_add(one_plus_r, tail), kd);
}

/* ---- compensated float64 sums ---------------------------------------------- */

/* Sums whose rounding errors are kept in a second accumulator (as sk_simd.h's
 * vsum does for float32), so that the total is a double-double. For sums of
 * e <= 1 that hold the maximum's own term 1: lanes start at 1, so |acc| >= e
 * and Fast2Sum is exact (3 operations); the error accumulator keeps the terms
 * that vanish against acc, so even a total of 1 + 1e-100 keeps its 1e-100. */
typedef struct {
    vd acc, err;
} vdsum;

SK_INLINE vdsum vdsum_start(double base) {
    vdsum s = {vd_set1(base), vd_set1(0.0)};
    return s;
}
SK_INLINE vdsum vdsum_add(vdsum s, vd e) {
    vd t = vd_add(s.acc, e);
    s.err = vd_add(s.err, vd_add(vd_sub(s.acc, t), e));
    s.acc = t;
    return s;
}
/* The total less SK_VDW * base, as hi + lo (|lo| <= ulp(hi) / 2): the lanes'
 * sums (acc - base is exact: base 1 <= acc) added by TwoSum in lane order,
 * their errors apart. */
SK_INLINE double vdsum_total(vdsum s, double base, double *lo) {
    double acc[SK_VDW], err[SK_VDW];
    vd_store(acc, s.acc);
    vd_store(err, s.err);
    double hi = 0.0, e = 0.0;
    for (int j = 0; j < SK_VDW; j++) {
        double v = acc[j] - base, sum = hi + v;
        e += sk_two_sum_err(hi, v, sum) + err[j];
        hi = sum;
    }
    double total = hi + e;
    *lo = sk_two_sum_err(hi, e, total);
    return total;
}

#endif
