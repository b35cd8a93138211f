/* softmaxkit's compiled kernels: plain C11, pointers and byte strides only.
 *
 * Nothing here knows about Python: _binding.c converts Python objects into the
 * argument structs below and calls the sk_* entry points with the GIL released.
 *
 * Layout. A reduction sees its input as a 3-D array (outer, n, inner) with the
 * reduced axis in the middle:
 *   row mode    (inner == 1): each row of n elements is contiguous; rows are
 *                             xs_outer bytes apart (any stride);
 *   column mode (inner  > 1): the inner axis is contiguous and the n elements
 *                             of a slice are xs_n bytes apart; tiles of
 *                             SK_TILE neighbouring slices are reduced together
 *                             so that every load is a vector load.
 * The caller (softmaxkit._dispatch) brings any other layout into one of these
 * two, by a reshape when it can and a copy when it must.
 *
 * Determinism. Work is cut into units that do not depend on the thread count
 * (rows, tiles, or SK_BLOCK-element blocks of a long row, whose partial sums
 * are combined in block order), so results are bitwise identical for any
 * number of threads.
 */
#ifndef SK_KERNELS_H
#define SK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define SK_BLOCK 32768 /* elements of a row reduced as one block */
#define SK_TILE 16     /* neighbouring slices reduced together in column mode */

enum sk_dtype { SK_F32 = 0, SK_F64 = 1 };
enum sk_op { SK_SOFTMAX = 0, SK_LOG_SOFTMAX = 1, SK_LOGSUMEXP = 2 };
enum sk_status { SK_OK = 0, SK_NO_MEMORY = 1 };

typedef struct {
    int dtype; /* enum sk_dtype, of x and out */
    int op;    /* enum sk_op */
    const char *x;
    char *out;           /* (outer, n, inner); for SK_LOGSUMEXP (outer, inner) */
    const uint8_t *mask; /* NULL, or 0/1 bytes in the layout of x (0 = excluded) */
    ptrdiff_t outer, n, inner;
    ptrdiff_t xs_outer, xs_n; /* byte strides; the inner stride is the item size */
    ptrdiff_t os_outer, os_n;
    ptrdiff_t ms_outer, ms_n;
} sk_reduce_args;

/* Vector-Jacobian products over rows (row mode only):
 *   softmax:     grad = y * (g - sum(g * y)) / T
 *   log_softmax: grad = (g - exp(y) * sum(g)) / T      (y holds log-probabilities)
 * with g taken as 0 where mask is 0, and grad exactly 0 there. */
typedef struct {
    int dtype;
    int log; /* 0: softmax_vjp, 1: log_softmax_vjp */
    const char *y, *g;
    char *out;
    const uint8_t *mask; /* NULL or (rows, n) */
    double temperature;
    ptrdiff_t rows, n;
    ptrdiff_t ys, gs, os, ms; /* byte strides between rows; rows are contiguous */
} sk_vjp_args;

/* Cross-entropy over rows of logits (row mode only), torch semantics.
 * Class-index targets (target != NULL) or probability targets (probs != NULL).
 * Writes the loss of each row (before the reduction, as double) and, when
 * grad != NULL, the gradient times grad_scale (1/denominator for "mean"). */
typedef struct {
    int dtype; /* of logits, probs and grad */
    const char *logits;
    const int64_t *target;  /* (rows,) or NULL */
    const char *probs;      /* (rows, n) or NULL */
    const double *weight;   /* (n,) or NULL */
    double smoothing_weight; /* sum_j (smoothing / n) weight_j, smoothing without weight */
    int64_t ignore_index;
    double smoothing;
    double grad_scale;
    double *loss; /* (rows,) */
    char *grad;   /* (rows, n) or NULL */
    ptrdiff_t rows, n;
    ptrdiff_t ls, ps, gs; /* byte strides between rows of logits, probs, grad */
} sk_ce_args;

int sk_reduce(const sk_reduce_args *a, int n_threads);
int sk_vjp(const sk_vjp_args *a, int n_threads);
int sk_cross_entropy(const sk_ce_args *a, int n_threads);

/* The instruction set the hot loops were compiled for on this CPU:
 * "avx512f", "avx2", or "baseline". */
const char *sk_isa_name(void);

#endif
