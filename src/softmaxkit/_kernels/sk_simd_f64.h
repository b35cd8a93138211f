/* Internal: float64 vectors for the SIMD builds (AVX-512F or AVX2 + FMA).
 *
 * The float64 counterpart of sk_simd.h: "vd" (SK_VDW double lanes: 8 with
 * AVX-512, 4 with AVX2) and "vdmask" (a lane predicate), so that the loops of
 * softmax_f64.c are written once for both instruction sets. Only included
 * where __AVX2__ is defined; the baseline build keeps the portable loops of
 * softmax_body.h.
 *
 * Also here: the float64 exponential of a shifted argument, exp(d + lo), with
 * lo the exact rounding error of d = x - m (TwoSum), table-driven (2^(j/16))
 * so that its polynomial is short, and compensated float64 sums.
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
SK_INLINE vd vd_min(vd a, vd b) { return _mm512_min_pd(a, b); }
/* x clamped below at low = m - 1000 before the shift d = x - m, where the
 * exponential needs it: not here, since vd_ldexp_floor_where's zero-masked
 * scalef discards every lane with d <= -746 (-inf and NaN intermediates
 * included), and below m - 1000 the shift's error formula no longer matters. */
SK_INLINE vd vd_clamp_exp_arg(vd x, vd low) {
    (void)low;
    return x;
}
SK_INLINE vd vd_fmadd(vd a, vd b, vd c) { return _mm512_fmadd_pd(a, b, c); }  /* a b + c */
SK_INLINE vd vd_fnmadd(vd a, vd b, vd c) { return _mm512_fnmadd_pd(a, b, c); } /* c - a b */
SK_INLINE vdmask vd_gt_or_nan(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_NLE_UQ); }
SK_INLINE vdmask vd_eq(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
SK_INLINE vdmask vd_ne_or_nan(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_NEQ_UQ); }
SK_INLINE vd vd_where(vdmask m, vd v) { return _mm512_maskz_mov_pd(m, v); } /* v where m, else 0 */
/* p * 2^floor(e) for e in [-1500, 0] where keep holds (one rounding, into
 * the subnormals), 0 elsewhere. The lanes left out compute nothing: a result
 * that underflows costs a microcode assist. */
SK_INLINE vd vd_ldexp_floor_where(vdmask keep, vd p, vd e) { return _mm512_maskz_scalef_pd(keep, p, e); }
/* table[j] for j the low 4 bits of each lane's bit pattern (two registers,
 * one permute). */
SK_INLINE vd vd_lookup16(const double *table, vd bits) {
    return _mm512_permutex2var_pd(_mm512_loadu_pd(table), _mm512_castpd_si512(bits), _mm512_loadu_pd(table + 8));
}
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
SK_INLINE vd vd_min(vd a, vd b) { return _mm256_min_pd(a, b); }
/* AVX2 forms 2^k from the integer k (vd_ldexp_floor_where), so k and the
 * shift's error must stay finite and in range: x is clamped at low = m - 1000
 * (vd_max keeps a NaN x). */
SK_INLINE vd vd_clamp_exp_arg(vd x, vd low) { return vd_max(low, x); }
SK_INLINE vd vd_fmadd(vd a, vd b, vd c) { return _mm256_fmadd_pd(a, b, c); }
SK_INLINE vd vd_fnmadd(vd a, vd b, vd c) { return _mm256_fnmadd_pd(a, b, c); }
SK_INLINE vdmask vd_gt_or_nan(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_NLE_UQ); }
SK_INLINE vdmask vd_eq(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
SK_INLINE vdmask vd_ne_or_nan(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_NEQ_UQ); }
SK_INLINE vd vd_where(vdmask m, vd v) { return _mm256_and_pd(m, v); }
/* p * 2^k, k = floor(e) in [-1500, 0], as 2^k1 * 2^k2 with k1, k2 >= -750:
 * both factors are normal doubles, so only the last product rounds; 0 where
 * keep does not hold (p is zeroed first, so nothing underflows there). */
SK_INLINE vd vd_ldexp_floor_where(vdmask keep, vd p, vd e) {
    p = _mm256_and_pd(keep, p);
    __m128i ki = _mm256_cvtpd_epi32(_mm256_floor_pd(e));
    __m128i k1 = _mm_srai_epi32(ki, 1);
    __m128i k2 = _mm_sub_epi32(ki, k1);
    __m256i bias = _mm256_set1_epi64x(1023);
    vd s1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(k1), bias), 52));
    vd s2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(k2), bias), 52));
    return _mm256_mul_pd(_mm256_mul_pd(p, s1), s2);
}
SK_INLINE vd vd_lookup16(const double *table, vd bits) {
    __m256i j = _mm256_and_si256(_mm256_castpd_si256(bits), _mm256_set1_epi64x(15));
    return _mm256_i64gather_pd(table, j, 8);
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

/* The callers clamp x at m + this value where the ISA needs it
 * (vd_clamp_exp_arg): 2^k then stays within vd_ldexp_floor_where's range and
 * lo finite. */
#define SK_F64_EXP_LOW -1000.0
/* Below this, exp(d) rounds to 0 in float64 (exp(-746) < 2^-1076). */
#define SK_F64_EXP_ZERO -746.0

/* d = x - m (m broadcast) and its exact rounding error lo, by the formula of
 * kind (sk_shift_kind, sk_isa.h). */
SK_INLINE vd sk_vshiftd(vd x, vd m, int kind, vd *lo) {
    vd d = vd_sub(x, m);
    if (kind == SK_SHIFT_X_LARGER) {
        *lo = vd_sub(vd_sub(vd_set1(0.0), m), vd_sub(d, x));
    } else if (kind == SK_SHIFT_M_LARGER) {
        *lo = vd_sub(x, vd_add(d, m));
    } else {
        vd b_virtual = vd_sub(d, x); /* ~ -m */
        vd a_virtual = vd_sub(d, b_virtual);
        *lo = vd_sub(vd_sub(x, a_virtual), vd_add(m, b_virtual));
    }
    return d;
}

/* 2^(j/16) = hi + lo for j = 0..15 (tools/exp_coefficients.py). */
static const double sk_exp2_16_hi[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0,
};
static const double sk_exp2_16_lo[16] = {
    0x0.0p+0,               0x1.8a62e4adc610bp-54,  -0x1.19041b9d78a76p-55, 0x1.9b07eb6c70573p-54,
    0x1.6f46ad23182e4p-55,  0x1.ada0911f09ebcp-55,  0x1.d4397afec42e2p-56,  0x1.6324c054647adp-54,
    -0x1.bdd3413b26456p-54, -0x1.41577ee04992fp-55, 0x1.6e9f156864b27p-54,  0x1.c7c46b071f2bep-56,
    0x1.7a1cd345dcc81p-54,  0x1.11065895048ddp-55,  0x1.2ed02d75b3707p-55,  -0x1.e9c23179c2893p-54,
};

/* exp(d + lo) for d <= 0 (d = x - m rounded, lo its rounding error; with
 * AVX2, -1001 <= d), NaN giving NaN, 0 (whatever lo) for d <= -746, within
 * about 0.52 ulp:
 *   kd = round(16 d / ln2) (the shifter trick of sk_exp.h: the low bits of
 *        the shifted value are kd mod 16, the table index j);
 *   r  = (d - kd ln2_hi / 16) + (lo - kd ln2_lo / 16), |r| <= ln2 / 32: the
 *        first difference is exact (ln2_hi has 37 bits) and r's rounding is
 *        2^-53 |r|, 0.02 ulp of the result, so no r_lo is needed;
 *   exp(r) - 1 = r + r^2 q(r), q of degree 5 (relative error 4e-20);
 *   2^(j/16) exp(r) = hi + (hi (exp(r) - 1) + lo), rounded once (|exp(r) - 1|
 *        <= 0.022, so the inner roundings are 0.02 ulp);
 * then 2^floor(kd / 16), rounded once where the result is subnormal, and
 * exactly 0 below -746. Against sk_exp_accurate (one polynomial of degree 12
 * with 1 + r split exactly) this is 20 operations a vector instead of 32. */
SK_INLINE vd sk_vexpd_lo(vd d, vd lo) {
    const vd shifter = vd_set1(SK_EXP_SHIFTER);
    vd kd_shifted = vd_fmadd(d, vd_set1(16.0 * SK_INV_LN2), shifter);
    vd kd = vd_sub(kd_shifted, shifter);
    vd r = vd_add(vd_fnmadd(kd, vd_set1(SK_LN2_HI / 16.0), d), vd_fnmadd(kd, vd_set1(SK_LN2_LO / 16.0), lo));
    vd q = vd_fmadd(vd_set1(0x1.a01b0c2edab7cp-13), r, vd_set1(0x1.6c17ed4cc4834p-10));
    q = vd_fmadd(q, r, vd_set1(0x1.11111110e10a8p-7));
    q = vd_fmadd(q, r, vd_set1(0x1.55555554e9468p-5));
    q = vd_fmadd(q, r, vd_set1(0x1.5555555555556p-3));
    q = vd_fmadd(q, r, vd_set1(0x1.0000000000001p-1));
    vd expm1_r = vd_fmadd(vd_mul(r, r), q, r);
    vd t_hi = vd_lookup16(sk_exp2_16_hi, kd_shifted), t_lo = vd_lookup16(sk_exp2_16_lo, kd_shifted);
    vd p = vd_add(t_hi, vd_fmadd(t_hi, expm1_r, t_lo));
    vdmask not_zero = vd_gt_or_nan(d, vd_set1(SK_F64_EXP_ZERO)); /* NaN stays NaN */
    return vd_ldexp_floor_where(not_zero, p, vd_mul(kd, vd_set1(1.0 / 16.0)));
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
