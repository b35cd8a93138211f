/* Internal: float32 vectors for the SIMD builds (AVX-512F or AVX2 + FMA).
 *
 * One small set of inline functions over "vf" (SK_VW float lanes: 16 with
 * AVX-512, 8 with AVX2) and "vmask" (a lane predicate), so that the loops in
 * softmax_f32.c are written once and compiled for both instruction sets. The
 * operations that are the same rule for float64 (arithmetic, compares,
 * partial loads, the shift and its error, compensated sums) come from
 * sk_simd_ops.h; this file holds the float32 ones. Only included where
 * __AVX2__ is defined (see meson.build); the baseline build keeps the
 * portable loops of softmax_body.h.
 *
 * Also here: the float32 exponential of a shifted argument, exp(d + lo), with
 * lo the exact rounding error of d = x - m (vf_shift), which is what keeps
 * float32 softmax within 2 ulp at any logit spread (a plain float32 shift is
 * 60+ ulp off at a spread of 60: torch's and onnxruntime's error).
 */
#ifndef SK_SIMD_H
#define SK_SIMD_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "sk_isa.h"

#if defined(__AVX512F__)

#define SK_VW 16
typedef __m512 vf;
typedef __mmask16 vmask;
/* The lanes whose mask byte is 0 (16 bytes at m). */
SK_INLINE vmask vf_excluded(const uint8_t *m) {
    __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)m));
    return _mm512_testn_epi32_mask(bytes, bytes);
}
/* p * 2^k for integral k in [-160, 0] where keep holds (one rounding, into
 * the subnormals), 0 elsewhere. The lanes left out compute nothing: a result
 * that underflows costs a microcode assist of ~150 cycles. */
SK_INLINE vf vf_ldexp_where(vmask keep, vf p, vf k) { return _mm512_maskz_scalef_ps(keep, p, k); }
SK_INLINE float vf_hmax(vf v) { return _mm512_reduce_max_ps(v); }
SK_INLINE float vf_hsum(vf v) { return _mm512_reduce_add_ps(v); }

#elif defined(__AVX2__)

#define SK_VW 8
typedef __m256 vf;
typedef __m256 vmask; /* all-ones / all-zeros lanes */
SK_INLINE vmask vf_excluded(const uint8_t *m) {
    __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)m));
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(bytes, _mm256_setzero_si256()));
}
/* p * 2^k for integral k in [-160, 0] as 2^k1 * 2^k2 with k1, k2 >= -80:
 * both factors are normal floats, so only the last product rounds; 0 where
 * keep does not hold (p is zeroed first: 0 * 2^k does not underflow, which
 * would cost a microcode assist). */
SK_INLINE vf vf_ldexp_where(vmask keep, vf p, vf k) {
    p = _mm256_and_ps(keep, p);
    __m256i ki = _mm256_cvtps_epi32(k);
    __m256i k1 = _mm256_srai_epi32(ki, 1);
    __m256i k2 = _mm256_sub_epi32(ki, k1);
    __m256i bias = _mm256_set1_epi32(127);
    vf s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23));
    vf s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
SK_INLINE float vf_hmax(vf v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
SK_INLINE float vf_hsum(vf v) {
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

#endif

/* The operations that are one rule for both element types (vf_add,
 * vf_load_x, vf_shift, vf_sum, ...). */
#define SK_V vf
#define SK_M vmask
#define SK_S float
#define SK_W SK_VW
#define SK_T ps
#define SK_L(name) vf_##name
#include "sk_simd_ops.h"

/* ---- the float32 exponential ------------------------------------------- */

/* The callers clamp x at m + this value (vf_clamp_exp_arg, where the ISA
 * needs it), which keeps 2^k within vf_ldexp_where's range and lo finite. */
#define SK_F32_EXP_LOW -110.0f
/* Below this, exp(d) rounds to 0 in float32 (exp(-104) < 2^-150). */
#define SK_F32_EXP_ZERO -104.0f

/* Above this, exp(d) is a normal float32: k >= -124 and the polynomial is at
 * least 0.7, so 2^k p > 2^-126. */
#define SK_F32_EXP_NORMAL -86.0f

/* The parts of exp(d + lo) = 2^k p for -111 <= d <= 0 (d = x - m rounded, lo
 * its rounding error), with a relative error below 1 float32 ulp before the
 * final rounding:
 *   k = round(d / ln2), r = (d - k ln2_hi) + (lo - k ln2_lo)
 * where ln2_hi has 16 significant bits, so k ln2_hi is exact (|k| < 2^8) and
 * d - k ln2_hi is exact (Sterbenz) (sk_vexp_reduce); p = exp(r) =
 * 1 + r + r^2 q(r) on |r| <= ln2/2 + tiny, q of degree 4 (near-minimax in
 * float32 coefficients, relative error 4e-9; degree 6 in all)
 * (sk_vexp_poly). k comes back as a float and as *k_shifted,
 * k + 127 + 1.5 * 2^23, whose low 9 bits are k + 127: 2^k's biased exponent
 * where 2^k is a normal float (sk_vexp_normal_finish). NaN gives NaN. */
SK_INLINE vf sk_vexp_reduce(vf d, vf lo, vf *k, vf *k_shifted) {
    /* k = round(d / ln2) by the rounding of an FMA onto 1.5 * 2^23 + 127,
     * where the float32 spacing is 1: two single-uop operations where a
     * multiply and a rounding take three uops on AVX-512. (Ties may round
     * either way: r stays within ln2/2 + tiny.) The 127 is the exponent's
     * bias, added here for free (sk_vexp_normal_finish: one operation less a
     * vector, 4% fewer cycles in softmax_f32.c's pass 2 alone). NaN and -inf
     * carry through. */
    const vf shifter = vf_set1(0x1.8p23f + 127.0f);
    *k_shifted = vf_fmadd(d, vf_set1(0x1.715476p0f), shifter);
    *k = vf_sub(*k_shifted, shifter);
    vf r = vf_fnmadd(*k, vf_set1(0x1.62e4p-1f), d);
    return vf_add(r, vf_fnmadd(*k, vf_set1(0x1.7f7d1cp-20f), lo));
}

SK_INLINE vf sk_vexp_poly(vf r) {
    /* Horner's rule: Estrin's scheme (one operation more, 5 cycles less
     * latency) measured no faster in softmax_f32.c's pass 2, which is bound
     * by the operations in flight (see block_sums_body there) */
    vf q = vf_fmadd(vf_set1(0x1.6a2164p-10f), r, vf_set1(0x1.123b94p-7f));
    q = vf_fmadd(q, r, vf_set1(0x1.5558fcp-5f));
    q = vf_fmadd(q, r, vf_set1(0x1.55549p-3f));
    q = vf_fmadd(q, r, vf_set1(0x1.fffffcp-2f));
    vf p = vf_fmadd(q, r, vf_set1(1.0f));
    return vf_fmadd(p, r, vf_set1(1.0f));
}

/* 2^k p rounded once where the result is subnormal, and exactly 0 where d
 * is below -104 (NaN stays NaN). */
SK_INLINE vf sk_vexp_scale(vf d, vf p, vf k) {
    vmask not_zero = vf_gt_or_nan(d, vf_set1(SK_F32_EXP_ZERO));
    return vf_ldexp_where(not_zero, p, k);
}

/* exp(d + lo) for -111 <= d <= 0 (sk_vexp_reduce). NaN gives NaN. The
 * callers pass x through vf_clamp_exp_arg (at m - 110) first: with AVX2, d is
 * then never below -111 and lo always finite; with AVX-512 the lanes below
 * -104 are zeroed whatever k, r and lo hold there. */
SK_INLINE vf sk_vexp_lo(vf d, vf lo) {
    vf k, k_shifted;
    vf r = sk_vexp_reduce(d, lo, &k, &k_shifted);
    return sk_vexp_scale(d, sk_vexp_poly(r), k);
}

/* sk_vexp_lo for SK_F32_EXP_NORMAL <= d <= 0 (or NaN), without the clamp
 * (the results are the same bits), in two halves, so that a loop can start
 * the next vectors' exponentials before it finishes these (softmax_f32.c's
 * pass 2): the argument reduction (sk_vexp_normal_start), then the
 * polynomial and the scaling (sk_vexp_normal_finish). With AVX2, 2^k is a
 * normal float whose bits are k_shifted's low bits (k + 127, the biased
 * exponent) shifted into the exponent field (one integer operation; the
 * bits above them leave by the shift), applied by one multiply, where the
 * general form takes ten operations to round into the subnormals. AVX-512's
 * general form is already one scalef. NaN gives NaN (NaN p times any
 * scale). */
typedef struct {
    vf d, r, k, k_shifted; /* each ISA's finish uses some of them */
} sk_vexp_started;

SK_INLINE sk_vexp_started sk_vexp_normal_start(vf d, vf lo) {
    sk_vexp_started s;
    s.d = d;
    s.r = sk_vexp_reduce(d, lo, &s.k, &s.k_shifted);
    return s;
}

SK_INLINE vf sk_vexp_normal_finish(sk_vexp_started s) {
#if defined(__AVX512F__)
    return sk_vexp_scale(s.d, sk_vexp_poly(s.r), s.k);
#else
    vf scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(s.k_shifted), 23));
    return vf_mul(sk_vexp_poly(s.r), scale);
#endif
}

SK_INLINE vf sk_vexp_lo_normal(vf d, vf lo) { return sk_vexp_normal_finish(sk_vexp_normal_start(d, lo)); }

/* exp(x - m) with the shift's rounding error fed in, for any finite m and
 * x <= m (-inf and NaN included), without the callers' clamp: the loops of
 * softmax_f32.c clamp x at m - 110 and pick the shift's error formula per
 * row; this is the general form (cross_entropy_f32.h). */
SK_INLINE vf sk_vexp_shifted(vf x, vf m) {
    const vf low = vf_set1(SK_F32_EXP_LOW);
    vf lo;
    vf d = vf_shift(x, m, SK_SHIFT_PER_LANE, &lo);
    lo = vf_where(vf_gt(d, low), lo); /* NaN where d = -inf; no matter below -110 */
    return sk_vexp_lo(vf_max(low, d), lo); /* vf_max keeps a NaN d */
}

/* float32 sums with their rounding errors kept in a second accumulator
 * (vf_sum, sk_simd_ops.h), so that the total ((acc - base) + err, formed in
 * double) is accurate to about 2^-46 of it, at 4-7 operations a vector where
 * widening to double lanes takes 7 (AVX-512) and loses the order of the
 * additions less cheaply.
 *
 * vf_sum_add (sk_simd_ops.h) is the form for softmax's normaliser, whose
 * lanes start at 1. vf_sum_add_split, for log_softmax, counts the maxima
 * (e == 1) apart, in int32 lanes (vf_count), and sums the other terms, t,
 * whose relative accuracy matters when t is tiny (log_softmax at a dominant
 * class is -log1p(t)): lanes start at 0 and every error is kept, by Fast2Sum
 * on the larger and the smaller of acc and e (the terms are >= 0: 6
 * operations where TwoSum takes 7). */
#if defined(__AVX512F__)
typedef __m512i vf_count;
/* count + 1 in the lanes where at_max holds (one masked add) */
SK_INLINE vf_count vf_count_at(vf_count count, vmask at_max) {
    return _mm512_mask_add_epi32(count, at_max, count, _mm512_set1_epi32(1));
}
SK_INLINE vf vf_count_floats(vf_count count) { return _mm512_cvtepi32_ps(count); }
#else
typedef __m256i vf_count;
/* count + 1 in the lanes where at_max holds: the compare's all-ones lanes
 * are -1 as int32, so one integer subtraction (on any of Zen 3's four
 * vector pipes) where a float count took an and and an add: log_softmax
 * float32 (4096, 1000) measured 4-5% faster (1 thread, Zen 3) */
SK_INLINE vf_count vf_count_at(vf_count count, vmask at_max) {
    return _mm256_sub_epi32(count, _mm256_castps_si256(at_max));
}
SK_INLINE vf vf_count_floats(vf_count count) { return _mm256_cvtepi32_ps(count); }
#endif
/* The count's start: 0 in every lane. */
SK_INLINE vf_count vf_count_start(void) { return (vf_count){0}; }

SK_INLINE vf_sum vf_sum_add_split(vf_sum s, vf e, vf_count *count) {
    vmask at_max = vf_eq(e, vf_set1(1.0f));
    *count = vf_count_at(*count, at_max);
    e = vf_where_not(at_max, e);
    /* vf_max(a, b) and vf_min(a, b) give b where either is NaN: so a NaN in
     * acc stays in big, a NaN in e goes to small, and both reach t. */
    vf big = vf_max(e, s.acc), small = vf_min(s.acc, e);
    vf t = vf_add(big, small);
    s.err = vf_add(s.err, vf_sub(small, vf_sub(t, big)));
    s.acc = t;
    return s;
}
SK_INLINE double vf_sum_total(vf_sum s, float base) {
    float acc[SK_VW], err[SK_VW];
    memcpy(acc, &s.acc, sizeof acc);
    memcpy(err, &s.err, sizeof err);
    double total = 0.0;
    for (int j = 0; j < SK_VW; j++) total += ((double)acc[j] - base) + (double)err[j];
    return total;
}

#endif
