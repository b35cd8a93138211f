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
 * lo the exact rounding error of d = x - m (vd_shift), table-driven (2^(j/4),
 * one register: a permute, not a gather) so that its polynomial is short, and
 * compensated float64 sums.
 */
#ifndef SK_SIMD_F64_H
#define SK_SIMD_F64_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "sk_exp.h"
#include "sk_isa.h"

/* Below this, exp(d) rounds to 0 in float64 (exp(-746) < 2^-1076). */
#define SK_F64_EXP_ZERO -746.0
/* From this d up, exp(d) and the 2^floor(kd / 4) of sk_vexpd_lo are normal
 * doubles (kd >= -4040, k >= -1010). */
#define SK_F64_EXP_NORMAL -700.0

#if defined(__AVX512F__)

#define SK_VDW 8
typedef __m512d vd;
typedef __mmask8 vdmask;

/* The lanes whose mask byte is 0 (8 bytes at m). */
SK_INLINE vdmask vd_excluded(const uint8_t *m) {
    __m512i bytes = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)m));
    return _mm512_testn_epi64_mask(bytes, bytes);
}
/* p * 2^floor(kd / 4) for d = x - m in [-1001, 0] (kd_shifted holds kd in
 * its low bits, see sk_vexpd_lo), rounded once into the subnormals, and 0
 * where d <= SK_F64_EXP_ZERO. The lanes left out compute nothing: a result
 * that underflows costs a microcode assist. */
SK_INLINE vd vd_exp_scale(vd p, vd kd, vd kd_shifted, vd d) {
    (void)kd_shifted;
    __mmask8 keep = _mm512_cmp_pd_mask(d, _mm512_set1_pd(SK_F64_EXP_ZERO), _CMP_NLE_UQ); /* NaN stays NaN */
    return _mm512_maskz_scalef_pd(keep, p, _mm512_mul_pd(kd, _mm512_set1_pd(0.25)));
}
/* p * 2^floor(kd / 4) for p in [0.9, 1.9] where every lane's d is in
 * [SK_F64_EXP_NORMAL, 0] (the result is a normal double). */
SK_INLINE vd vd_ldexp_normal(vd p, vd kd_shifted) {
    vd kd = _mm512_sub_pd(kd_shifted, _mm512_set1_pd(SK_EXP_SHIFTER));
    return _mm512_scalef_pd(p, _mm512_mul_pd(kd, _mm512_set1_pd(0.25)));
}
/* table[j] for j the low 2 bits of each lane's bit pattern (table: 8
 * doubles, the 4 entries twice; the permute reads 3 bits). */
SK_INLINE vd vd_lookup4(const double *table, vd bits) {
    return _mm512_permutexvar_pd(_mm512_castpd_si512(bits), _mm512_loadu_pd(table));
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
/* p * 2^floor(kd / 4) for p in [0.9, 1.9] where every lane's d is in
 * [SK_F64_EXP_NORMAL, 0]: the result is a normal double, so k = floor(kd / 4)
 * is added to p's exponent field. bits(kd_shifted) = bits(shifter) + kd, whose
 * low 14 bits are kd's (the shifter's are 0), so (bits & ~3) << 50 is k << 52
 * (mod 2^64): 3 integer operations, against 13 for vd_ldexp_floor_where.
 * (Not for NaN: the sum would make some NaN patterns finite.) */
SK_INLINE vd vd_ldexp_normal(vd p, vd kd_shifted) {
    __m256i k = _mm256_slli_epi64(_mm256_and_si256(_mm256_castpd_si256(kd_shifted), _mm256_set1_epi64x(~(int64_t)3)), 50);
    return _mm256_castsi256_pd(_mm256_add_epi64(_mm256_castpd_si256(p), k));
}
/* p * 2^floor(kd / 4) as in the AVX-512 build. */
SK_INLINE vd vd_exp_scale(vd p, vd kd, vd kd_shifted, vd d) {
    (void)kd_shifted;
    vdmask keep = _mm256_cmp_pd(d, _mm256_set1_pd(SK_F64_EXP_ZERO), _CMP_NLE_UQ); /* NaN stays NaN */
    return vd_ldexp_floor_where(keep, p, _mm256_mul_pd(kd, _mm256_set1_pd(0.25)));
}
/* table[j] for j the low 2 bits of each lane's bit pattern: one permute of
 * 32-bit pairs, (2j, 2j + 1) in each lane (the first 4 doubles of table). */
SK_INLINE vd vd_lookup4(const double *table, vd bits) {
    __m256i twice = _mm256_slli_epi64(_mm256_castpd_si256(bits), 1); /* low 3 bits: 2j */
    __m256i pairs = _mm256_or_si256(_mm256_shuffle_epi32(twice, 0xA0), _mm256_set1_epi64x((int64_t)1 << 32));
    return _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(_mm256_loadu_pd(table)), pairs));
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

/* 2^(j/4) = hi (1 + delta) for j = 0..3, twice (see vd_lookup4;
 * tools/exp_coefficients.py): hi rounded to double, delta its relative
 * error (|delta| < 2^-53). */
static const double sk_exp2_4_hi[8] = {
    0x1.0000000000000p+0, 0x1.306fe0a31b715p+0, 0x1.6a09e667f3bcdp+0, 0x1.ae89f995ad3adp+0,
    0x1.0000000000000p+0, 0x1.306fe0a31b715p+0, 0x1.6a09e667f3bcdp+0, 0x1.ae89f995ad3adp+0,
};
static const double sk_exp2_4_delta[8] = {
    0x0.0p+0, 0x1.34d754db0abb6p-55, -0x1.3b3efbf5e2228p-54, 0x1.c1a7792cb3387p-55,
    0x0.0p+0, 0x1.34d754db0abb6p-55, -0x1.3b3efbf5e2228p-54, 0x1.c1a7792cb3387p-55,
};

/* exp(d + lo) for d <= 0 (d = x - m rounded, lo its rounding error; with
 * AVX2, -1001 <= d), NaN giving NaN, 0 (whatever lo) for d <= -746, within
 * about 0.65 ulp:
 *   kd = round(4 d / ln2) (the shifter trick of sk_exp.h: the low bits of
 *        the shifted value are kd mod 4, the table index j);
 *   r  = (d - kd ln2_hi / 4) + (lo - kd ln2_lo / 4), |r| <= ln2 / 8: the
 *        first difference is exact (ln2_hi has 37 bits) and r's rounding is
 *        2^-53 |r|, 0.05 ulp of the result, so no r_lo is needed;
 *   exp(r) - 1 = r + r^2 q(r), q of degree 6 (relative error 1.3e-17), by
 *        Estrin's scheme: its dependency chain is 3 FMAs long, not 6;
 *   2^(j/4) exp(r) = hi (1 + delta) exp(r) = hi + hi u, rounded once, with
 *        u = (r + delta) + r^2 q(r): the table's error delta rides in the
 *        linear term (delta (exp(r) - 1), below 2^-56, is dropped), added
 *        beside the polynomial, so the result is one FMA after it, not an
 *        FMA and an add (these loops run out of reorder window, their
 *        chains being long, before they run out of FMA units);
 * then 2^floor(kd / 4), rounded once where the result is subnormal, and
 * exactly 0 below -746 (vd_exp_scale). The tables fit one register each, so
 * a lookup is a permute: a gather (a 16-entry table) costs more than the two
 * more terms of q that the wider range takes.
 * It comes in two halves, each about half of its dependency chain: the
 * argument reduction (sk_vexpd_reduce: kd and r), then the rest
 * (sk_vexpd_finish), so that a loop can reduce the next vectors while it
 * finishes these (softmax_f64.c's block_sums). */
typedef struct {
    vd kd, kd_shifted; /* kd, and kd in the low bits of kd_shifted */
    vd r;
} sk_expd_reduced;

typedef struct {
    vd kd, kd_shifted;
    vd r_delta, r2, q; /* exp(r) (1 + delta) - 1 = r_delta + r2 q */
    vd t_hi;           /* 2^(j/4) / (1 + delta) */
} sk_expd_parts;

SK_INLINE sk_expd_reduced sk_vexpd_reduce(vd d, vd lo) {
    sk_expd_reduced a;
    const vd shifter = vd_set1(SK_EXP_SHIFTER);
    a.kd_shifted = vd_fmadd(d, vd_set1(4.0 * SK_INV_LN2), shifter);
    a.kd = vd_sub(a.kd_shifted, shifter);
    a.r = vd_add(vd_fnmadd(a.kd, vd_set1(SK_LN2_HI / 4.0), d), vd_fnmadd(a.kd, vd_set1(SK_LN2_LO / 4.0), lo));
    return a;
}

SK_INLINE sk_expd_parts sk_vexpd_parts(sk_expd_reduced a) {
    sk_expd_parts e;
    e.kd = a.kd;
    e.kd_shifted = a.kd_shifted;
    vd r = a.r;
    vd r2 = vd_mul(r, r), r4 = vd_mul(r2, r2);
    vd q01 = vd_fmadd(vd_set1(0x1.5555555556764p-3), r, vd_set1(0x1.0000000000000p-1));
    vd q23 = vd_fmadd(vd_set1(0x1.111110c60d86fp-7), r, vd_set1(0x1.5555555555c8ep-5));
    vd q45 = vd_fmadd(vd_set1(0x1.a02d7bb9fcca9p-13), r, vd_set1(0x1.6c16c13014356p-10));
    e.q = vd_fmadd(vd_fmadd(vd_set1(0x1.a02996730ffc9p-16), r2, q45), r4, vd_fmadd(q23, r2, q01));
    e.r_delta = vd_add(r, vd_lookup4(sk_exp2_4_delta, e.kd_shifted));
    e.r2 = r2;
    e.t_hi = vd_lookup4(sk_exp2_4_hi, e.kd_shifted);
    return e;
}

/* t exp(r) for t = 2^(j/4) / (1 + delta), or t scaled by a power of 2 where
 * the result stays normal (sk_vexpd_finish_normal), rounded once. */
SK_INLINE vd sk_vexpd_times(sk_expd_parts e, vd t) {
    return vd_fmadd(t, vd_fmadd(e.r2, e.q, e.r_delta), t);
}

/* exp(d + lo) from its reduction a = sk_vexpd_reduce(d, lo). */
SK_INLINE vd sk_vexpd_finish(sk_expd_reduced a, vd d) {
    sk_expd_parts e = sk_vexpd_parts(a);
    return vd_exp_scale(sk_vexpd_times(e, e.t_hi), e.kd, e.kd_shifted, d);
}

SK_INLINE vd sk_vexpd_lo(vd d, vd lo) { return sk_vexpd_finish(sk_vexpd_reduce(d, lo), d); }

/* sk_vexpd_finish where every lane's d is in [SK_F64_EXP_NORMAL, 0] (no NaN;
 * no clamp needed either): a block whose range says so. The result is then a
 * normal double, and the scaling a sum of exponents, applied to the table's
 * 2^(j/4) (a normal double too) before the last FMA rather than after it:
 * the same bits (scaling by a power of 2 commutes with the rounding of a
 * normal result), computed beside the polynomial instead of after it, one
 * operation off the dependency chain (3% of pass 2 on a Zen 3 core). */
SK_INLINE vd sk_vexpd_finish_normal(sk_expd_reduced a) {
    sk_expd_parts e = sk_vexpd_parts(a);
    return sk_vexpd_times(e, vd_ldexp_normal(e.t_hi, e.kd_shifted));
}

/* ---- compensated float64 sums ---------------------------------------------- */

/* vd_sum (sk_simd_ops.h) keeps a sum as a double-double. Its total less
 * SK_VDW * base, as hi + lo (|lo| <= ulp(hi) / 2): the lanes' sums (acc -
 * base is exact: base 1 <= acc) added by TwoSum in lane order, their errors
 * apart. A total that is not finite is the plain one, lo 0: its error terms
 * are NaN (inf - inf), as _stable's compensated sums take it. */
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
    if (!isfinite(hi)) {
        *lo = 0.0;
        return hi;
    }
    double total = hi + e;
    *lo = sk_two_sum_err(hi, e, total);
    return total;
}

#endif
