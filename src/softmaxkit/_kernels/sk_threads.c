/* The thread layer: POSIX threads where available, serial elsewhere.
 *
 * Threads are started per call. A call only goes parallel when it has at
 * least SK_MIN_WORK elements per thread (see driver.c), which takes far
 * longer than starting a thread (about 20 us), and no state survives the
 * call, so concurrent calls from several Python threads never interact.
 */
#include "sk_threads.h"

#include <stdlib.h>

#include "sk_kernels.h"

#if defined(__unix__) || defined(__APPLE__)
#define SK_HAVE_PTHREADS 1
#include <pthread.h>
#include <stdatomic.h>
#endif

typedef struct {
    sk_unit_fn fn;
    void *ctx;
    ptrdiff_t n_units;
    size_t scratch_bytes;
#ifdef SK_HAVE_PTHREADS
    atomic_ptrdiff_t next;
    atomic_int failed;
#endif
} sk_job;

#ifdef SK_HAVE_PTHREADS
static void *worker(void *arg) {
    sk_job *job = (sk_job *)arg;
    double *scratch = NULL;
    if (job->scratch_bytes) {
        scratch = (double *)malloc(job->scratch_bytes);
        if (!scratch) {
            atomic_store(&job->failed, 1);
            /* Claim everything so that the other threads stop early too. */
            atomic_store(&job->next, job->n_units);
            return NULL;
        }
    }
    for (;;) {
        ptrdiff_t unit = atomic_fetch_add(&job->next, 1);
        if (unit >= job->n_units) break;
        job->fn(job->ctx, unit, scratch);
    }
    free(scratch);
    return NULL;
}

int sk_parallel_for(ptrdiff_t n_units, int n_threads, size_t scratch_bytes, sk_unit_fn fn,
                    void *ctx) {
    sk_job job;
    job.fn = fn;
    job.ctx = ctx;
    job.n_units = n_units;
    job.scratch_bytes = scratch_bytes;
    atomic_init(&job.next, 0);
    atomic_init(&job.failed, 0);
    if (n_threads > n_units) n_threads = (int)n_units;
    if (n_threads < 1) n_threads = 1;
    pthread_t threads[64];
    if (n_threads > 64) n_threads = 64;
    int started = 0;
    for (int i = 1; i < n_threads; i++) {
        /* A thread that cannot be started is no error: the others do its share. */
        if (pthread_create(&threads[started], NULL, worker, &job) != 0) break;
        started++;
    }
    worker(&job);
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    /* If the caller's own thread could not get scratch but others ran, the
     * units it claimed were never run: report the failure in every case. */
    return atomic_load(&job.failed) ? SK_NO_MEMORY : SK_OK;
}
#else
int sk_parallel_for(ptrdiff_t n_units, int n_threads, size_t scratch_bytes, sk_unit_fn fn,
                    void *ctx) {
    (void)n_threads;
    double *scratch = NULL;
    if (scratch_bytes) {
        scratch = (double *)malloc(scratch_bytes);
        if (!scratch) return SK_NO_MEMORY;
    }
    for (ptrdiff_t unit = 0; unit < n_units; unit++) fn(ctx, unit, scratch);
    free(scratch);
    return SK_OK;
}
#endif
