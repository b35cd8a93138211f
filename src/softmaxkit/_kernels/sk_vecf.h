/* float32 lanes for the cross-entropy and vjp loops in the SIMD builds
 * (AVX2, AVX-512): GCC/clang vector extensions as wide as the ISA (16 floats
 * with AVX-512, 8 with AVX2), which give the loops plain operators, and
 * float64 half-vectors for the parts that round once at the end. Where
 * SK_HAVE_VECF is not defined (the baseline build, other compilers) the
 * callers keep their portable loops.
 *
 * The exponential is sk_simd.h's (the exactly compensated float32 exp of
 * softmax_f32.c), seen through these types.
 */
#ifndef SK_VECF_H
#define SK_VECF_H

#if (defined(__GNUC__) || defined(__clang__)) && defined(__AVX2__)
#define SK_HAVE_VECF 1

#include <stdint.h>
#include <string.h>

#include "sk_simd.h"

#define SK_VF_BYTES (SK_VW * 4) /* sk_simd.h's width */
#define SK_VF_N (SK_VF_BYTES / 4) /* float lanes */
#define SK_VD_N (SK_VF_BYTES / 8) /* double lanes: half a float vector, widened */

typedef float sk_vf __attribute__((vector_size(SK_VF_BYTES)));
typedef int32_t sk_vi __attribute__((vector_size(SK_VF_BYTES)));
typedef double sk_vd __attribute__((vector_size(SK_VF_BYTES)));
typedef int64_t sk_vl __attribute__((vector_size(SK_VF_BYTES)));
typedef float sk_vh __attribute__((vector_size(SK_VF_BYTES / 2))); /* SK_VD_N floats */

/* Unaligned loads and stores (memcpy compiles to one vector move). */
static inline sk_vf sk_vloadf(const float *p) {
    sk_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void sk_vstoref(float *p, sk_vf v) { memcpy(p, &v, sizeof v); }
static inline sk_vd sk_vloadd(const double *p) {
    sk_vd v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* SK_VD_N floats widened to doubles, and back (rounded once). The widening
 * is the intrinsic, one conversion from memory: GCC splits the generic
 * conversion (__builtin_convertvector) into two of half the width, one of
 * them through the stack, which cost short log_softmax rows (softmax_short_f32.c's
 * tile_factors widens five such vectors) about 5% of their time. */
static inline sk_vd sk_vload_widen(const float *p) {
#if defined(__AVX512F__)
    return (sk_vd)_mm512_cvtps_pd(_mm256_loadu_ps(p));
#else
    return (sk_vd)_mm256_cvtps_pd(_mm_loadu_ps(p));
#endif
}
static inline void sk_vstore_narrow(float *p, sk_vd v) {
    sk_vh h = __builtin_convertvector(v, sk_vh);
    memcpy(p, &h, sizeof h);
}

static inline sk_vf sk_vsplatf(float x) { return (sk_vf){0} + x; }
static inline sk_vd sk_vsplatd(double x) { return (sk_vd){0} + x; }

/* mask ? a : b, lane by lane; mask lanes are all ones or all zeros (a compare). */
static inline sk_vf sk_vselectf(sk_vi mask, sk_vf a, sk_vf b) {
    return (sk_vf)(((sk_vi)a & mask) | ((sk_vi)b & ~mask));
}
static inline sk_vd sk_vselectd(sk_vl mask, sk_vd a, sk_vd b) {
    return (sk_vd)(((sk_vl)a & mask) | ((sk_vl)b & ~mask));
}

/* The low and high halves of v, widened to float64. (GCC splits a generic
 * widening into quarter-width conversions: the intrinsics convert each half
 * in one instruction.) */
static inline void sk_vwiden(sk_vf v, sk_vd *lo, sk_vd *hi) {
#if defined(__AVX512F__)
    __m512 x = (__m512)v;
    *lo = (sk_vd)_mm512_cvtps_pd(_mm512_castps512_ps256(x));
    *hi = (sk_vd)_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
#else
    __m256 x = (__m256)v;
    *lo = (sk_vd)_mm256_cvtps_pd(_mm256_castps256_ps128(x));
    *hi = (sk_vd)_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
#endif
}

/* acc0 += the low half of v, acc1 += the high half, widened to float64. */
static inline void sk_vadd_widened(sk_vf v, sk_vd *acc0, sk_vd *acc1) {
    sk_vd lo, hi;
    sk_vwiden(v, &lo, &hi);
    *acc0 += lo;
    *acc1 += hi;
}

/* Lanes of a 0/1 byte mask (SK_VD_N bytes at p): all ones where p[i] != 0. */
typedef uint8_t sk_vbytes __attribute__((vector_size(SK_VD_N)));
static inline sk_vl sk_vload_mask(const uint8_t *p) {
    sk_vbytes b;
    memcpy(&b, p, sizeof b);
    return (sk_vl)(__builtin_convertvector(b, sk_vl) != 0);
}

/* exp(d) for any d (NaN gives NaN) by sk_simd.h's exponential, whose
 * argument range [-111, 0] is widened by clamping: below -110 exp is 0, above
 * 89 it is +inf, and between 0 and 89 its scaling by 2^k still holds. */
static inline sk_vf sk_vexpf_any(sk_vf d) {
    d = sk_vselectf(d > 89.0f, sk_vsplatf(89.0f), d);
    d = sk_vselectf(d < SK_F32_EXP_LOW, sk_vsplatf(SK_F32_EXP_LOW), d);
    return (sk_vf)sk_vexp_lo((vf)d, (vf)sk_vsplatf(0.0f));
}

#endif /* vector extensions */
#endif
