/* float32 short rows (softmax and log_softmax of rows of at most
 * SK_F32_SHORT_ROW elements) in float32 lanes, one row per lane (SIMD builds;
 * the baseline build runs the portable loops of softmax_body.h). A file of its
 * own: these tiles keep GCC's default instruction scheduling, where the row
 * loops of softmax_f32.c are compiled with its first scheduling pass (see
 * meson.build).
 */
#include "sk_exp.h"
#include "sk_isa.h"

#if defined(__AVX2__)
#include "sk_simd.h"
#include "sk_f32_lanes.h"
#include "sk_lane_output.h"
#include "sk_vecf.h"

/* The row loops (softmax_f32.c), for the rows that no tile takes. */
void SK_FN(sk_f32_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1);

/* ---- short rows: one row per lane ------------------------------------------ */

/* A tile of up to SK_VW rows of n <= SK_F32_SHORT_ROW elements is transposed
 * into scratch (column j of the tile is one vector: lane l holds row l), so
 * that every operation runs on full vectors whatever n is: no horizontal
 * reductions, no partial vectors, no per-row loop. The row normalisers come
 * out as vectors too; softmax needs no log at all.
 *
 * The transposes work on groups of 8 rows and 8 columns in __m256 registers
 * (the AVX-512 build runs two groups per tile of 16 rows): contiguous loads
 * and stores and 24 shuffles a group, where gathering the columns (one
 * vgatherdps each way, a vector) took 40% of the time of (4096, 10). */
#define SK_GROUP 8

/* The lanes [0, n) of 8 floats at p, 0 elsewhere (nothing read there). */
static const int32_t group_first_lanes[2 * SK_GROUP] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
SK_INLINE __m256i group_mask_first(ptrdiff_t n) {
    return _mm256_loadu_si256((const __m256i *)(group_first_lanes + SK_GROUP - n));
}

/* r[c] becomes column c of the 8 x 8 block whose row l was r[l]. */
SK_INLINE void transpose8(__m256 r[SK_GROUP]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* The rows of a tile: rows of n floats, stride floats apart (stride > 0);
 * end = (rows - 1) * stride + n, the extent from the first element to one
 * past the last. Eight floats at offset `at` may be read whole where
 * at + 8 <= end: whatever lies between the rows belongs to the same buffer. */
typedef struct {
    ptrdiff_t rows, n, stride, end;
} tile_shape;

SK_INLINE tile_shape tile_shape_of(ptrdiff_t rows, ptrdiff_t n, ptrdiff_t stride_bytes) {
    ptrdiff_t stride = stride_bytes / (ptrdiff_t)sizeof(float);
    tile_shape s = {rows, n, stride, (rows - 1) * stride + n};
    return s;
}

/* t + j * SK_VW + l = element j of row l of the tile at x (lanes past its
 * rows 0; the columns from n to the next multiple of 8 hold anything). */
static void tile_in(const float *x, tile_shape s, float *t) {
    for (ptrdiff_t g = 0; g < SK_VW && g < s.rows; g += SK_GROUP) {
        for (ptrdiff_t j = 0; j < s.n; j += SK_GROUP) {
            __m256 r[SK_GROUP];
            for (ptrdiff_t l = 0; l < SK_GROUP; l++) {
                ptrdiff_t at = (g + l) * s.stride + j;
                if (g + l >= s.rows)
                    r[l] = _mm256_setzero_ps();
                else if (at + SK_GROUP <= s.end)
                    r[l] = _mm256_loadu_ps(x + at);
                else
                    r[l] = _mm256_maskload_ps(x + at, group_mask_first(s.n - j));
            }
            transpose8(r);
            for (ptrdiff_t c = 0; c < SK_GROUP; c++) _mm256_storeu_ps(t + (j + c) * SK_VW + g, r[c]);
        }
    }
}

/* The outputs of 8 rows in one column of a tile, v, from the rows' factors
 * hi + lo: log_of's rule (log_softmax) or scale_block's (softmax) in the
 * 8 lanes the transposes work in (the AVX-512 build's vf is 16). */
SK_INLINE __m256 group_output(__m256 v, __m256 hi, __m256 lo, int log_op) {
    return log_op ? _mm256_sub_ps(_mm256_sub_ps(v, hi), lo) : _mm256_fmadd_ps(v, hi, _mm256_mul_ps(v, lo));
}

/* The output rows of the tile at out from t (tile_in's layout) and the
 * rows' factors hi + lo, applied to the columns as they are read (a pass of
 * its own, which stored t and read it again, measured 3% slower on
 * (4096, 10), 1 thread, Zen 3). A row's last,
 * partial block of 8 is written with a masked store, except where the rows
 * are contiguous (stride n): there a whole store runs into the next rows'
 * first elements, which are written after it (each group's last block goes
 * first, then the others in order), and only the tile's last row needs the
 * mask. (The columns past n, whatever they hold, give outputs that are not
 * stored or are overwritten.) */
SK_INLINE void tile_out(const float *t, float *out, tile_shape s, const float *hi, const float *lo,
                        int log_op) {
    int contiguous = s.stride == s.n;
    ptrdiff_t last = (s.n - 1) & ~(ptrdiff_t)(SK_GROUP - 1); /* the last block's first column */
    for (ptrdiff_t g = 0; g < SK_VW && g < s.rows; g += SK_GROUP) {
        __m256 fh = _mm256_loadu_ps(hi + g), fl = _mm256_loadu_ps(lo + g);
        for (ptrdiff_t b = 0; b <= last; b += SK_GROUP) {
            ptrdiff_t j = b == 0 ? last : b - SK_GROUP; /* last, 0, 8, ... */
            __m256 r[SK_GROUP];
            for (ptrdiff_t c = 0; c < SK_GROUP; c++)
                r[c] = group_output(_mm256_loadu_ps(t + (j + c) * SK_VW + g), fh, fl, log_op);
            transpose8(r);
            for (ptrdiff_t l = 0; l < SK_GROUP && g + l < s.rows; l++) {
                ptrdiff_t at = (g + l) * s.stride + j;
                if (j + SK_GROUP <= s.n || (contiguous && at + SK_GROUP <= s.end))
                    _mm256_storeu_ps(out + at, r[l]);
                else
                    _mm256_maskstore_ps(out + at, group_mask_first(s.n - j), r[l]);
            }
        }
    }
}

/* The normalisers of a tile's rows are formed in double lanes, SK_VD_N rows
 * at a time (sk_vecf.h's vector types), from the float lanes of its sums. */
typedef uint64_t sk_vu __attribute__((vector_size(SK_VF_BYTES)));

/* log(u) for u >= 1 (finite) in double lanes, without libm: u = 2^e m with m
 * in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1),
 * |s| <= 0.1716, by its series to s^15 (relative error below 1e-13). The
 * exponent e is read from the bits as a double (placed in the mantissa of
 * 2^52: AVX2 has no int64 conversion). m - 1 is exact (Sterbenz). The
 * series in s^2 is evaluated by Estrin's scheme: its latency is what counts
 * here (see sk_f32_short_rows), 3 multiplications deep where Horner's rule
 * was 6. */
SK_INLINE sk_vd log_at_least_one(sk_vd u) {
    sk_vu bits = (sk_vu)u;
    sk_vd m = (sk_vd)((bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
    sk_vd e = (sk_vd)((bits >> 52) | 0x4330000000000000ULL) - (0x1p52 + 1023.0);
    sk_vl big = m > 1.4142135623730951;
    m = sk_vselectd(big, 0.5 * m, m);
    e = sk_vselectd(big, e + 1.0, e);
    sk_vd f = m - 1.0;
    sk_vd sv = f / (m + 1.0);
    sk_vd s2 = sv * sv, s4 = s2 * s2;
    sk_vd q01 = 2.0 / 3 + s2 * (2.0 / 5), q23 = 2.0 / 7 + s2 * (2.0 / 9), q45 = 2.0 / 11 + s2 * (2.0 / 13);
    sk_vd q = (q01 + s4 * q23) + (s4 * s4) * (q45 + s4 * (2.0 / 15));
    return e * 0x1.62e42fefa39efp-1 + (2.0 * sv + sv * s2 * q);
}

/* log1p(q) for q >= 0: log(1 + q) plus the rounding error c of u = 1 + q
 * divided by u, that is multiplied by 2 - u where u < 2 (exact there; 1 / u
 * within a relative (u - 1)^2, so the product's error is below
 * 2^-53 (u - 1)^2 / u, under 2^-53 of log u >= (u - 1) / u) and dropped
 * where u >= 2 (|c| / u <= 2^-53, under 2^-52 of log u >= 0.69): one
 * multiplication where a division was. */
SK_INLINE sk_vd log1p_of(sk_vd q) {
    sk_vd u = 1.0 + q;
    sk_vd inverse = sk_vselectd(u < 2.0, 2.0 - u, sk_vsplatd(0.0));
    sk_vd correction = (q - (u - 1.0)) * inverse;
    return log_at_least_one(u) + correction;
}

/* log(k) + log1p(t / k), as sk_finish forms log(norm), for k >= 1. single:
 * every k is 1 (no tied maxima, the common case), where log1p(t) is the same
 * bits without log(k) and the division (log_at_least_one(1) is +0, t / 1 is
 * t, and +0 + y is y for y >= 0). */
SK_INLINE sk_vd log_norm_of(sk_vd k, sk_vd t, int single) {
    if (single) return log1p_of(t);
    return log_at_least_one(k) + log1p_of(t / k);
}

/* The output factors of SK_VD_N rows of a tile, from their sums (acc, err,
 * the count k of maxima) and shifts, as the float pair hi + lo: softmax's
 * 1 / norm, log_softmax's log_offset_of(shift, log(norm)). A row without a
 * finite entry (norm = 0) gets 0 (its exponentials are 0, or NaN), a row
 * holding NaN NaN. single: no k is above 1 (see log_norm_of). */
SK_INLINE void tile_factors(const float *acc, const float *err, const float *k, const float *shift,
                            float base, int log_op, int single, float *hi, float *lo) {
    sk_vd total = (sk_vload_widen(acc) - base) + sk_vload_widen(err);
    sk_vl nan = total != total;
    sk_vd f;
    if (log_op) {
        sk_vd kd = sk_vload_widen(k);
        sk_vl found = kd > 0.0; /* k >= 1 unless the row has no finite entry */
        f = log_norm_of(sk_vselectd(found, kd, sk_vsplatd(1.0)), sk_vselectd(nan, sk_vsplatd(0.0), total), single);
        f = sk_vselectd(found, f, sk_vsplatd(0.0));
        /* log_softmax = x - (shift + log(norm)), see log_block */
        sk_vd sd = sk_vload_widen(shift);
        f = sk_vselectd(nan, sk_vsplatd(NAN), f);
        sk_vd h = sd + f;
        sk_vstore_narrow(hi, h);
        sk_vstore_narrow(lo, (sd - sk_vload_widen(hi)) + f);
    } else {
        f = sk_vselectd(total > 0.0, 1.0 / total, sk_vselectd(total == 0.0, sk_vsplatd(0.0), sk_vsplatd(NAN)));
        sk_vstore_narrow(hi, f);
        sk_vstore_narrow(lo, f - sk_vload_widen(hi));
    }
}

/* The exponentials of a tile's n columns at t, exp(x - shift) (mv: the
 * shifts, low: where x is clamped), summed into *sum (log_softmax: the
 * maxima counted apart, in *count); softmax keeps them in t. normal: every
 * x - shift is at least SK_F32_EXP_NORMAL (or NaN), so that the short form
 * of the exponential gives the same bits without the clamp. */
SK_INLINE void tile_exps(float *t, ptrdiff_t n, vf mv, vf low, int log_op, int normal, vf_sum *sum,
                         vf_count *count) {
    for (ptrdiff_t j = 0; j < n; j++) {
        vf lo, e;
        if (normal) {
            vf d = vf_shift(vf_load(t + j * SK_VW), mv, SK_SHIFT_PER_LANE, &lo);
            e = sk_vexp_lo_normal(d, lo);
        } else {
            vf d = vf_shift(vf_clamp_exp_arg(vf_load(t + j * SK_VW), low), mv, SK_SHIFT_PER_LANE, &lo);
            e = sk_vexp_lo(d, lo);
        }
        if (log_op) {
            *sum = vf_sum_add_split(*sum, e, count);
        } else {
            vf_store(t + j * SK_VW, e); /* x is not needed again */
            *sum = vf_sum_add(*sum, e);
        }
    }
}

/* A tile between its two stages: its columns (t, tile_in's layout: the
 * inputs, or softmax's exponentials) and its rows' output factors (hi + lo,
 * see tile_factors). */
typedef struct {
    float t[SK_F32_SHORT_ROW * SK_VW]; /* column j at t + j * SK_VW */
    float hi[SK_VW], lo[SK_VW];
    ptrdiff_t r0, rows;
} short_tile;

/* The first stage of rows [r0, r0 + rows): read in, reduced, their factors
 * formed, into *tile; returns 0 (having read only) when a row needs the
 * general path (+inf, a huge maximum). */
static int tile_stats(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t rows, short_tile *tile) {
    ptrdiff_t n = a->n;
    int log_op = a->op == SK_LOG_SOFTMAX;
    float *t = tile->t;
    tile->r0 = r0;
    tile->rows = rows;
    tile_in((const float *)(a->x + r0 * a->xs_outer), tile_shape_of(rows, n, a->xs_outer), t);
    /* NaN ignored by both; lanes past the tile hold 0 */
    vf hi = vf_set1(-INFINITY), low_x = vf_set1(INFINITY);
    for (ptrdiff_t j = 0; j < n; j++) {
        hi = vf_max(vf_load(t + j * SK_VW), hi);
        low_x = vf_min(vf_load(t + j * SK_VW), low_x);
    }
    /* a row without a finite entry is shifted by 0: exp gives 0 (NaN stays
     * NaN); the maxima are never NaN, so neither are the shifts */
    vf mv = vf_where_not(vf_eq(hi, vf_set1(-INFINITY)), hi);
    vf magnitude = vf_max(mv, vf_sub(vf_set1(0.0f), mv));
    if (!vf_all(vf_gt(vf_set1(SK_F32_LANES_MAX_SHIFT), magnitude))) return 0;
    /* (the rows that get here have no +inf: smallest - shift is not NaN) */
    int normal = !vf_any(vf_gt(vf_set1(SK_F32_EXP_NORMAL), vf_sub(low_x, mv)));
    vf low = vf_add(mv, vf_set1(SK_F32_EXP_LOW));
    vf_count count = vf_count_start();
    float base = log_op ? 0.0f : 1.0f; /* see vf_sum_add and vf_sum_add_split */
    vf_sum sum = vf_sum_start(base);
    /* the four cases' loops each without a test */
    if (log_op && normal)
        tile_exps(t, n, mv, low, 1, 1, &sum, &count);
    else if (log_op)
        tile_exps(t, n, mv, low, 1, 0, &sum, &count);
    else if (normal)
        tile_exps(t, n, mv, low, 0, 1, &sum, &count);
    else
        tile_exps(t, n, mv, low, 0, 0, &sum, &count);
    float acc[SK_VW], err[SK_VW], k[SK_VW], shift[SK_VW];
    vf_store(acc, sum.acc);
    vf_store(err, sum.err);
    vf counted = vf_count_floats(count);
    vf_store(k, counted);
    vf_store(shift, mv);
    /* no row of the tile has tied maxima (k is 1, or 0 without a finite entry) */
    int single = vf_all(vf_gt(vf_set1(1.5f), counted));
    for (int l = 0; l < SK_VW; l += SK_VD_N)
        tile_factors(acc + l, err + l, k + l, shift + l, base, log_op, single, tile->hi + l, tile->lo + l);
    return 1;
}

/* The second stage: the outputs of the tile's rows from its factors. */
static void tile_finish(const sk_reduce_args *a, short_tile *tile) {
    float *out = (float *)(a->out + tile->r0 * a->os_outer);
    tile_shape s = tile_shape_of(tile->rows, a->n, a->os_outer);
    /* the two cases' loops each without a test */
    if (a->op == SK_LOG_SOFTMAX)
        tile_out(tile->t, out, s, tile->hi, tile->lo, 1);
    else
        tile_out(tile->t, out, s, tile->hi, tile->lo, 0);
}

/* The tiles are pipelined: tile i + 1's first stage runs before tile i's
 * second. The factors end in a long chain of dependent operations
 * (log_softmax's log1p in double lanes: ~100 cycles of latency, divisions
 * included), which the second stage waits on: placed before the next tile's
 * first stage rather than before its own tile's output, the chain runs
 * while the processor works through that independent stage (measured on
 * (4096, 10), 1 thread, Zen 3: log_softmax 3%, softmax 6% faster). Every row is still read
 * before it is written (in place, the only overlap the binding allows, a
 * tile's rows are its own). */
void SK_FN(sk_f32_short_rows)(const sk_reduce_args *a, ptrdiff_t r0, ptrdiff_t r1) {
    /* tile_in reads the rows in increasing address order */
    int tiles = !a->mask && a->xs_outer > 0;
    short_tile buffers[2];
    short_tile *pending = NULL; /* a tile whose second stage is still to run */
    for (ptrdiff_t r = r0; r < r1; r += SK_VW) {
        ptrdiff_t rows = r1 - r < SK_VW ? r1 - r : SK_VW;
        short_tile *tile = pending == &buffers[0] ? &buffers[1] : &buffers[0];
        if (tiles && tile_stats(a, r, rows, tile)) {
            if (pending) tile_finish(a, pending);
            pending = tile;
        } else {
            SK_FN(sk_f32_rows)(a, r, r + rows);
        }
    }
    if (pending) tile_finish(a, pending);
}

#endif
