/* float32 lanes for the hot loops: GCC/clang vector extensions, as wide as
 * the ISA the file is compiled for (16 floats with AVX-512, 8 with AVX2, 4
 * otherwise: SSE2, NEON or generic code), so one source serves every build
 * of sk_isa.h's table. Compilers without the extensions (MSVC) do not define
 * SK_HAVE_VECF, and the callers keep their plain-C loops.
 *
 * Besides loads, stores and selects, one function matters:
 * sk_vexpf(d, lo) = exp(d + lo) in float32 lanes, where lo is the
 * rounding error of the subtraction that made d (TwoSum, sk_vtwo_sumf). The
 * max-shift d = x - max of float32 data rounds by up to half an ulp of d,
 * which is 64 ulp of exp(d) at d = -90; torch and onnxruntime keep that
 * error. Added to the reduced argument r, the correction costs one add.
 *
 * Method (as sk_exp.h in double): k = round(d / ln2) by the 1.5 * 2^23
 * shifter; r = r_hi + r_lo with r_hi = d - k ln2_hi and r_lo = lo - k ln2_lo
 * (Cody-Waite: ln2_hi has 9 significant bits, so k ln2_hi and r_hi are exact
 * for |k| < 2^15); exp(r) = 1 + (r_hi + (r_lo + r^2 q(r))) with q the Taylor polynomial of degree 5 (so
 * degree 7 in all; its truncation error on |r| <= ln2/2 is 5e-9 relative,
 * a tenth of a float32 ulp); 2^k applied as two normal factors 2^(k >> 1)
 * and 2^(k - (k >> 1)), so that results in the subnormal range are rounded
 * once, and d <= -110 (where exp is far below half the smallest subnormal)
 * gives exactly 0, -inf included. sk_vexpf_normal is the same for
 * d >= -86, where 2^k is a normal number (no clamp, one integer add). The
 * measured error is in tests/test_kernel_accuracy.py.
 */
#ifndef SK_VECF_H
#define SK_VECF_H

#if defined(__GNUC__) || defined(__clang__)
#define SK_HAVE_VECF 1

#include <stdint.h>
#include <string.h>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#if defined(__AVX512F__)
#define SK_VF_BYTES 64
#elif defined(__AVX2__)
#define SK_VF_BYTES 32
#else
#define SK_VF_BYTES 16
#endif
#define SK_VF_N (SK_VF_BYTES / 4) /* float lanes */
#define SK_VD_N (SK_VF_BYTES / 8) /* double lanes: half a float vector, widened */

typedef float sk_vf __attribute__((vector_size(SK_VF_BYTES)));
typedef int32_t sk_vi __attribute__((vector_size(SK_VF_BYTES)));
typedef uint32_t sk_vu __attribute__((vector_size(SK_VF_BYTES)));
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

/* SK_VD_N floats widened to doubles, and back (rounded once). */
static inline sk_vd sk_vload_widen(const float *p) {
    sk_vh h;
    memcpy(&h, p, sizeof h);
    return __builtin_convertvector(h, sk_vd);
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
#elif defined(__AVX2__)
    __m256 x = (__m256)v;
    *lo = (sk_vd)_mm256_cvtps_pd(_mm256_castps256_ps128(x));
    *hi = (sk_vd)_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
#else
    union {
        sk_vf v;
        sk_vh h[2];
    } halves = {v};
    *lo = __builtin_convertvector(halves.h[0], sk_vd);
    *hi = __builtin_convertvector(halves.h[1], sk_vd);
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

/* The exact rounding error of s = a + b (Knuth's TwoSum), lane by lane. */
static inline sk_vf sk_vtwo_sumf(sk_vf a, sk_vf b, sk_vf s) {
    sk_vf b_virtual = s - a;
    sk_vf a_virtual = s - b_virtual;
    return (a - a_virtual) + (b - b_virtual);
}

#define SK_EXPF_SHIFTER 0x1.8p23f
#define SK_EXPF_MIN -110.0f       /* below: exp(d) < half the smallest subnormal */
#define SK_EXPF_MAX 89.0f         /* above: exp(d) > the largest float */
#define SK_EXPF_NORMAL_MIN -86.0f /* above: 2^k is normal (k >= -125) */

/* exp(r + lo) on the reduced argument: the value p in [0.7, 1.5] and k, with
 * exp(d + lo) = p 2^k. */
static inline sk_vf sk_vexpf_reduced(sk_vf d, sk_vf lo, sk_vu *k_out) {
    sk_vf k_shifted = d * 0x1.715476p0f + SK_EXPF_SHIFTER;
    sk_vf k = k_shifted - SK_EXPF_SHIFTER;
    /* r = r_hi + r_lo, kept apart until the last additions: r_hi exact,
     * r_lo small (|k ln2_lo| < 0.04), so neither rounds at the scale of r. */
    sk_vf r_hi = d - k * 0x1.630000p-1f;   /* ln2_hi = 0.693359375: exact */
    sk_vf r_lo = lo - k * -0x1.bd0106p-13f; /* ln2_lo = ln2 - ln2_hi */
    sk_vf r = r_hi + r_lo;
    sk_vf q = sk_vsplatf(0x1.a01a02p-13f); /* 1/7!, Horner down to 1/2! */
    q = q * r + 0x1.6c16c2p-10f;
    q = q * r + 0x1.111112p-7f;
    q = q * r + 0x1.555556p-5f;
    q = q * r + 0x1.555556p-3f;
    q = q * r + 0.5f;
    /* k as an integer: the low bits of the shifted value (wrapping arithmetic) */
    *k_out = (sk_vu)k_shifted - (sk_vu)sk_vsplatf(SK_EXPF_SHIFTER);
    return 1.0f + (r_hi + (r_lo + (r * r) * q));
}

/* exp(d + lo) for any d (NaN gives NaN) and |lo| <= ulp(d) / 2; see the header comment. */
static inline sk_vf sk_vexpf(sk_vf d, sk_vf lo) {
    d = sk_vselectf(d > SK_EXPF_MAX, sk_vsplatf(SK_EXPF_MAX), d); /* exp is +inf above */
    sk_vi tiny = d < SK_EXPF_MIN;
    d = sk_vselectf(tiny, sk_vsplatf(SK_EXPF_MIN), d);
    lo = sk_vselectf(tiny, sk_vsplatf(0.0f), lo);
    sk_vu k;
    sk_vf p = sk_vexpf_reduced(d, lo, &k);
    sk_vi k1 = (sk_vi)k >> 1; /* floor(k / 2), arithmetic shift */
    sk_vi k2 = (sk_vi)k - k1;
    sk_vf s1 = (sk_vf)(((sk_vu)k1 + 127u) << 23);
    sk_vf s2 = (sk_vf)(((sk_vu)k2 + 127u) << 23);
    return (p * s1) * s2;
}

/* sk_vexpf for SK_EXPF_NORMAL_MIN <= d <= 0, where p 2^k is normal: no clamp,
 * and 2^k applied by adding k to p's exponent field. */
static inline sk_vf sk_vexpf_normal(sk_vf d, sk_vf lo) {
    sk_vu k;
    sk_vf p = sk_vexpf_reduced(d, lo, &k);
    return (sk_vf)((sk_vu)p + (k << 23));
}

#endif /* vector extensions */
#endif
