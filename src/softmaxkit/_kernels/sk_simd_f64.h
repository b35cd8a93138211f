/* Internal: float64 vectors for the SIMD builds (AVX-512F or AVX2 + FMA).
 *
 * The float64 counterpart of sk_simd.h: "vd" (SK_VDW double lanes: 8 with
 * AVX-512, 4 with AVX2) and "vdmask" (a lane predicate), so that the loops of
 * softmax_f64.c are written once for both instruction sets (the operations
 * that are the same rule for float32 come from sk_simd_ops.h). Only included
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

/* The lanes whose mask byte is 0 (8 bytes at m). */
SK_INLINE vdmask vd_excluded(const uint8_t *m) {
    __m512i bytes = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)m));
    return _mm512_testn_epi64_mask(bytes, bytes);
}
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

#elif defined(__AVX2__)

#define SK_VDW 4
typedef __m256d vd;
typedef __m256d vdmask; /* all-ones / all-zeros lanes */

SK_INLINE vdmask vd_excluded(const uint8_t *m) {
    int32_t four;
    memcpy(&four, m, sizeof four);
    __m256i bytes = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(four));
    return _mm256_castsi256_pd(_mm256_cmpeq_epi64(bytes, _mm256_setzero_si256()));
}
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

#endif

/* The operations that are one rule for both element types (vd_add,
 * vd_load_x, vd_shift, vd_sum, ...). */
#define SK_V vd
#define SK_M vdmask
#define SK_S double
#define SK_W SK_VDW
#define SK_T pd
#define SK_L(name) vd_##name
#include "sk_simd_ops.h"

/* ---- the float64 exponential ------------------------------------------- */

/* The callers clamp x at m + this value where the ISA needs it
 * (vd_clamp_exp_arg): 2^k then stays within vd_ldexp_floor_where's range and
 * lo finite. */
#define SK_F64_EXP_LOW -1000.0
/* Below this, exp(d) rounds to 0 in float64 (exp(-746) < 2^-1076). */
#define SK_F64_EXP_ZERO -746.0

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

/* vd_sum (sk_simd_ops.h) keeps a sum as a double-double. Its total less
 * SK_VDW * base, as hi + lo (|lo| <= ulp(hi) / 2): the lanes' sums (acc -
 * base is exact: base 1 <= acc) added by TwoSum in lane order, their errors
 * apart. */
SK_INLINE double vd_sum_total(vd_sum s, double base, double *lo) {
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
