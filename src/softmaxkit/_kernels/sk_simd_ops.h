/* Internal: the lane operations that are one rule for float32 and float64,
 * written once and instantiated by sk_simd.h (vf, vmask: vf_add, ...) and
 * sk_simd_f64.h (vd, vdmask: vd_add, ...), as sk_per_dtype.h instantiates the
 * portable loops once per dtype. No include guard: included once per type.
 *
 * What differs between the instruction sets is resolved here once for both
 * types: the intrinsics' prefix (SK_OP: _mm512_ or _mm256_), and how a lane
 * predicate is held (AVX-512: a mask register, which the masked forms of the
 * instructions take; AVX2: a vector of all-ones or all-zeros lanes, which
 * blends and ANDs take). What is not one rule for both types stays in the
 * type's header: the gather, the horizontal reductions, the scaling by 2^k,
 * the table lookup, the widening of mask bytes (SK_L(excluded)), and the
 * exponentials.
 *
 * The includer defines (and this file undefines):
 *   SK_V        the vector type (vf, vd)      SK_M  its lane predicate (vmask, vdmask)
 *   SK_S        the element (float, double)   SK_W  lanes a vector (SK_VW, SK_VDW)
 *   SK_T        the intrinsics' suffix (ps, pd)
 *   SK_L(name)  the type's name for an operation (vf_name, vd_name)
 * and, before the include, SK_L(excluded)(m): the lanes whose mask byte at m
 * is 0.
 *
 * Defined for the type: set1, load, store, stream, add, sub, mul, max, min, fmadd,
 * fnmadd, gt, eq, gt_or_nan, ne_or_nan, all, any, select, where, where_not, add_where, mask_first,
 * load_first, store_first, clamp_exp_arg, exclude, load_x, load_x_first,
 * load_x_at, store_at, shift; the compensated sum type SK_L(sum) with
 * sum_start and sum_add.
 */

#define SK_OP(op) SK_MM(op, SK_T)
#if defined(__AVX512F__)
#define SK_MM(op, t) SK_CAT(_mm512_##op##_, t)
#define SK_CMP(a, b, predicate) SK_CAT(SK_CAT(_mm512_cmp_, SK_T), _mask)(a, b, predicate)
#else
#define SK_MM(op, t) SK_CAT(_mm256_##op##_, t)
#define SK_CMP(a, b, predicate) SK_OP(cmp)(a, b, predicate)
#endif

SK_INLINE SK_V SK_L(set1)(SK_S a) { return SK_OP(set1)(a); }
SK_INLINE SK_V SK_L(load)(const SK_S *p) { return SK_OP(loadu)(p); }
SK_INLINE void SK_L(store)(SK_S *p, SK_V v) { SK_OP(storeu)(p, v); }
/* A non-temporal store (past the caches, no read for ownership); p aligned
 * to the vector's size. Callers order such stores with _mm_sfence. */
SK_INLINE void SK_L(stream)(SK_S *p, SK_V v) { SK_OP(stream)(p, v); }
SK_INLINE SK_V SK_L(add)(SK_V a, SK_V b) { return SK_OP(add)(a, b); }
SK_INLINE SK_V SK_L(sub)(SK_V a, SK_V b) { return SK_OP(sub)(a, b); }
SK_INLINE SK_V SK_L(mul)(SK_V a, SK_V b) { return SK_OP(mul)(a, b); }
/* max(a, b), b when either is NaN (the x86 rule both ISAs share). */
SK_INLINE SK_V SK_L(max)(SK_V a, SK_V b) { return SK_OP(max)(a, b); }
SK_INLINE SK_V SK_L(min)(SK_V a, SK_V b) { return SK_OP(min)(a, b); }
SK_INLINE SK_V SK_L(fmadd)(SK_V a, SK_V b, SK_V c) { return SK_OP(fmadd)(a, b, c); }   /* a b + c */
SK_INLINE SK_V SK_L(fnmadd)(SK_V a, SK_V b, SK_V c) { return SK_OP(fnmadd)(a, b, c); } /* c - a b */
SK_INLINE SK_M SK_L(gt)(SK_V a, SK_V b) { return SK_CMP(a, b, _CMP_GT_OQ); }
SK_INLINE SK_M SK_L(eq)(SK_V a, SK_V b) { return SK_CMP(a, b, _CMP_EQ_OQ); }
SK_INLINE SK_M SK_L(gt_or_nan)(SK_V a, SK_V b) { return SK_CMP(a, b, _CMP_NLE_UQ); }
SK_INLINE SK_M SK_L(ne_or_nan)(SK_V a, SK_V b) { return SK_CMP(a, b, _CMP_NEQ_UQ); }
/* The lanes where a or b is NaN. */
SK_INLINE SK_M SK_L(unordered)(SK_V a, SK_V b) { return SK_CMP(a, b, _CMP_UNORD_Q); }

#if defined(__AVX512F__)

SK_INLINE SK_V SK_L(select)(SK_M m, SK_V a, SK_V b) { return SK_OP(mask_blend)(m, b, a); } /* m ? a : b */
SK_INLINE SK_V SK_L(where)(SK_M m, SK_V a) { return SK_OP(maskz_mov)(m, a); }               /* m ? a : 0 */
SK_INLINE SK_V SK_L(where_not)(SK_M m, SK_V a) { return SK_L(select)(m, SK_L(set1)(0.0), a); } /* m ? 0 : a */
/* Whether m holds in every lane, in any lane. */
SK_INLINE int SK_L(all)(SK_M m) { return m == (SK_M)((1u << SK_W) - 1u); }
SK_INLINE int SK_L(any)(SK_M m) { return m != 0; }
/* The lanes where a or b holds. */
SK_INLINE SK_M SK_L(mask_or)(SK_M a, SK_M b) { return a | b; }
/* a + b in the lanes where m holds, a elsewhere. */
SK_INLINE SK_V SK_L(add_where)(SK_M m, SK_V a, SK_V b) { return SK_OP(mask_add)(a, m, a, b); }
/* The lanes [0, n). */
SK_INLINE SK_M SK_L(mask_first)(ptrdiff_t n) { return n >= SK_W ? (SK_M)~0u : (SK_M)((1u << n) - 1u); }
/* The first n lanes from p, fill elsewhere (no byte past p + n is read). */
SK_INLINE SK_V SK_L(load_first)(const SK_S *p, ptrdiff_t n, SK_V fill) {
    return SK_OP(mask_loadu)(fill, SK_L(mask_first)(n), p);
}
SK_INLINE void SK_L(store_first)(SK_S *p, SK_V v, ptrdiff_t n) { SK_OP(mask_storeu)(p, SK_L(mask_first)(n), v); }
/* x clamped below at low = m + SK_F32_EXP_LOW (SK_F64_EXP_LOW) before the
 * shift d = x - m, where the exponential needs it: not here, since the
 * zero-masked scalef of the 2^k scaling (vf_ldexp_where, vd_exp_scale)
 * discards every lane whose exponential rounds to 0 (-inf and NaN
 * intermediates included), and below low the shift's error formula no longer
 * matters. */
SK_INLINE SK_V SK_L(clamp_exp_arg)(SK_V x, SK_V low) {
    (void)low;
    return x;
}

#else /* AVX2 */

SK_INLINE SK_V SK_L(select)(SK_M m, SK_V a, SK_V b) { return SK_OP(blendv)(b, a, m); }
SK_INLINE SK_V SK_L(where)(SK_M m, SK_V a) { return SK_OP(and)(m, a); }
/* m ? 0 : a in one andnot (select(m, 0, a) is a blendv, which GCC turns
 * into a compare that rebuilds the lanes from their sign bits, then the
 * andnot) */
SK_INLINE SK_V SK_L(where_not)(SK_M m, SK_V a) { return SK_OP(andnot)(m, a); }
SK_INLINE int SK_L(all)(SK_M m) { return SK_OP(movemask)(m) == (1 << SK_W) - 1; }
SK_INLINE int SK_L(any)(SK_M m) { return SK_OP(movemask)(m) != 0; }
SK_INLINE SK_M SK_L(mask_or)(SK_M a, SK_M b) { return SK_OP(or)(a, b); }
SK_INLINE SK_V SK_L(add_where)(SK_M m, SK_V a, SK_V b) { return SK_L(add)(a, SK_L(where)(m, b)); }
/* All ones in the lanes [0, n), n clamped to SK_W: the 32 bytes that start
 * SK_W - n lanes before the end of the ones of this table. */
SK_INLINE __m256i SK_L(mask_first_bits)(ptrdiff_t n) {
    static const int32_t ones_then_zeros[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    n = n > SK_W ? SK_W : n;
    return _mm256_loadu_si256((const __m256i *)(ones_then_zeros + (SK_W - n) * (8 / SK_W)));
}
SK_INLINE SK_M SK_L(mask_first)(ptrdiff_t n) { return SK_MM(castsi256, SK_T)(SK_L(mask_first_bits)(n)); }
SK_INLINE SK_V SK_L(load_first)(const SK_S *p, ptrdiff_t n, SK_V fill) {
    __m256i m = SK_L(mask_first_bits)(n);
    return SK_OP(blendv)(fill, SK_OP(maskload)(p, m), SK_MM(castsi256, SK_T)(m));
}
SK_INLINE void SK_L(store_first)(SK_S *p, SK_V v, ptrdiff_t n) { SK_OP(maskstore)(p, SK_L(mask_first_bits)(n), v); }
/* AVX2 forms 2^k from the integer k (vf_ldexp_where, vd_ldexp_floor_where),
 * so k and the shift's error must stay finite and in range: x is clamped at
 * low = m + SK_F32_EXP_LOW (SK_F64_EXP_LOW); max keeps a NaN x. */
SK_INLINE SK_V SK_L(clamp_exp_arg)(SK_V x, SK_V low) { return SK_L(max)(low, x); }

#endif

/* Lanes whose mask byte is 0 (SK_W bytes at m) become -inf. */
SK_INLINE SK_V SK_L(exclude)(SK_V x, const uint8_t *m) {
    return SK_L(select)(SK_L(excluded)(m), SK_L(set1)(-INFINITY), x);
}

/* Lanes [0, n) of x with mask bytes m (NULL: none), -inf elsewhere; n <= SK_W. */
SK_INLINE SK_V SK_L(load_x_first)(const SK_S *x, const uint8_t *m, ptrdiff_t n) {
    SK_V v = SK_L(load_first)(x, n, SK_L(set1)(-INFINITY));
    if (m) {
        uint8_t bytes[SK_W] = {0};
        memcpy(bytes, m, (size_t)(n < SK_W ? n : SK_W)); /* n <= SK_W: the bound is for GCC */
        v = SK_L(exclude)(v, bytes);
    }
    return v;
}

SK_INLINE SK_V SK_L(load_x)(const SK_S *x, const uint8_t *m) {
    SK_V v = SK_L(load)(x);
    return m ? SK_L(exclude)(v, m) : v;
}

/* Lanes [i, i + n) of x (n <= SK_W; a full vector when n == SK_W). */
SK_INLINE SK_V SK_L(load_x_at)(const SK_S *x, const uint8_t *m, ptrdiff_t i, ptrdiff_t n) {
    return n == SK_W ? SK_L(load_x)(x + i, m ? m + i : NULL) : SK_L(load_x_first)(x + i, m ? m + i : NULL, n);
}

SK_INLINE void SK_L(store_at)(SK_S *p, ptrdiff_t i, SK_V v, ptrdiff_t n) {
    if (n == SK_W)
        SK_L(store)(p + i, v);
    else
        SK_L(store_first)(p + i, v, n);
}

/* d = x - m (m broadcast) and its exact rounding error lo, by the formula of
 * kind (sk_shift_kind, sk_isa.h), for x <= m (NaN and -inf give a NaN lo, as
 * d is then NaN or -inf). */
SK_INLINE SK_V SK_L(shift)(SK_V x, SK_V m, int kind, SK_V *lo) {
    SK_V d = SK_L(sub)(x, m);
    SK_V minus_m = SK_L(sub)(SK_L(set1)(0.0), m); /* loop-invariant */
    if (kind == SK_SHIFT_X_LARGER) {
        *lo = SK_L(sub)(minus_m, SK_L(sub)(d, x));
    } else if (kind == SK_SHIFT_M_LARGER) {
        *lo = SK_L(sub)(x, SK_L(add)(d, m));
    } else {
        /* Fast2Sum with the operands ordered lane by lane: for x <= m the
         * larger magnitude of x and -m is the smaller value (x where
         * x <= -m, else -m) */
        SK_V big = SK_L(min)(x, minus_m), small = SK_L(max)(x, minus_m);
        *lo = SK_L(sub)(small, SK_L(sub)(d, big));
    }
    return d;
}

/* Sums whose rounding errors are kept in a second accumulator, err. For
 * sums of e <= 1 whose relative accuracy matters only against a total >= 1
 * (softmax's normaliser, which holds the maximum's own term 1): each lane
 * starts at 1, so |acc| >= e and Fast2Sum, acc + e - (acc + e), is exact
 * (3 operations); err keeps the terms that vanish against acc, so even a
 * total of 1 + 1e-100 keeps its 1e-100. (sk_simd.h's vf_sum_add_split is
 * the form for log_softmax's sums, which start at 0.) */
typedef struct {
    SK_V acc, err;
} SK_L(sum);

SK_INLINE SK_L(sum) SK_L(sum_start)(SK_S base) {
    SK_L(sum) s = {SK_L(set1)(base), SK_L(set1)(0.0)};
    return s;
}
SK_INLINE SK_L(sum) SK_L(sum_add)(SK_L(sum) s, SK_V e) {
    SK_V t = SK_L(add)(s.acc, e);
    s.err = SK_L(add)(s.err, SK_L(add)(SK_L(sub)(s.acc, t), e));
    s.acc = t;
    return s;
}

#undef SK_OP
#undef SK_MM
#undef SK_CMP
#undef SK_V
#undef SK_M
#undef SK_S
#undef SK_W
#undef SK_T
#undef SK_L
