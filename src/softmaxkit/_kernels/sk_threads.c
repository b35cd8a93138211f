/* The thread layer: a persistent pool of POSIX threads; serial elsewhere.
 *
 * Workers are started on the first call that wants them (never at import)
 * and then wait for work: a call posts its job, wakes the workers it needs,
 * runs units itself and waits until every helper is done. Starting threads
 * per call cost about 20 us each, as much as a whole (4096, 10) softmax.
 *
 * After a job a worker spins for a short while before it sleeps on a
 * condition variable, so that the back-to-back calls of a training loop do
 * not pay a wake-up each (a spinning worker is woken in well under 1 us, a
 * sleeping one in 5-50 us).
 *
 * One job at a time: a call that finds the pool busy (another Python thread
 * is in a kernel, the GIL being released) runs its units on its own thread.
 * Results never depend on that: units are fixed by the shape.
 *
 * Fork: the child of a fork has no workers. pthread_atfork takes the pool
 * lock around fork (so no job is in flight) and the child forgets the
 * workers; its first parallel call starts new ones.
 */
#if defined(__linux__)
#define _DEFAULT_SOURCE 1 /* mincore, madvise under -std=c11 */
#endif
#include "sk_threads.h"

#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "sk_kernels.h"

#if defined(__unix__) || defined(__APPLE__)
#define SK_HAVE_PTHREADS 1
#include <pthread.h>
#include <stdatomic.h>
#endif

#define SK_MAX_THREADS 64

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

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SK_PAUSE() _mm_pause()
#else
#define SK_PAUSE() ((void)0)
#endif

/* Spin iterations of a worker before it sleeps, and of the caller before it
 * waits for helpers on the condition variable (a pause is 10-140 cycles, so
 * this is 20-100 us). */
#define SK_SPIN 2000

static void run_units(sk_job *job) {
    double *scratch = NULL;
    if (job->scratch_bytes) {
        scratch = (double *)malloc(job->scratch_bytes);
        if (!scratch) {
            atomic_store(&job->failed, 1);
            /* Claim everything so that the other threads stop early too. */
            atomic_store(&job->next, job->n_units);
            return;
        }
    }
    for (;;) {
        ptrdiff_t unit = atomic_fetch_add(&job->next, 1);
        if (unit >= job->n_units) break;
        job->fn(job->ctx, unit, scratch);
    }
    free(scratch);
}

static struct {
    pthread_mutex_t busy; /* held by the call that owns the pool */
    pthread_mutex_t lock; /* guards the fields below and the condition variables */
    pthread_cond_t work, done;
    int n_workers;
    sk_job *job;
    int helpers;                   /* workers 0 .. helpers-1 take part in job */
    atomic_ulong generation;       /* bumped for every job */
    atomic_int pending;            /* helpers still running the job */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, 0, NULL, 0, 0, 0};

/* The generation each worker was started in: the first job it must take
 * part in may be posted before the thread first runs. */
static unsigned long born[SK_MAX_THREADS];

static void *worker(void *arg) {
    int index = (int)(intptr_t)arg;
    unsigned long seen = born[index];
    for (;;) {
        for (int spin = 0; spin < SK_SPIN && atomic_load(&pool.generation) == seen; spin++)
            SK_PAUSE();
        pthread_mutex_lock(&pool.lock);
        while (atomic_load(&pool.generation) == seen) pthread_cond_wait(&pool.work, &pool.lock);
        seen = atomic_load(&pool.generation);
        sk_job *job = pool.job;
        int takes_part = index < pool.helpers;
        pthread_mutex_unlock(&pool.lock);
        if (!takes_part) continue;
        run_units(job);
        if (atomic_fetch_sub(&pool.pending, 1) == 1) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return NULL;
}

static void before_fork(void) { pthread_mutex_lock(&pool.busy); }
static void after_fork_parent(void) { pthread_mutex_unlock(&pool.busy); }
static void after_fork_child(void) {
    /* The workers do not exist here; a worker may have held pool.lock. */
    pthread_mutex_t fresh_mutex = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;
    pool.lock = fresh_mutex;
    pool.work = fresh_cond;
    pool.done = fresh_cond;
    pool.n_workers = 0;
    pool.job = NULL;
    pool.helpers = 0;
    atomic_store(&pool.pending, 0);
    pthread_mutex_unlock(&pool.busy);
}

static pthread_once_t fork_handlers_once = PTHREAD_ONCE_INIT;
static void install_fork_handlers(void) {
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* Start workers until there are `wanted` (or as many as the system gives). */
static void grow_pool(int wanted) {
    while (pool.n_workers < wanted) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        born[pool.n_workers] = atomic_load(&pool.generation);
        int started = pthread_create(&thread, &attr, worker, (void *)(intptr_t)pool.n_workers) == 0;
        pthread_attr_destroy(&attr);
        if (!started) break; /* the others (and the caller) do its share */
        pool.n_workers++;
    }
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
    if (n_threads > SK_MAX_THREADS) n_threads = SK_MAX_THREADS;
    if (n_threads <= 1 || pthread_mutex_trylock(&pool.busy) != 0) {
        run_units(&job); /* serial, or the pool is busy with another call */
        return atomic_load(&job.failed) ? SK_NO_MEMORY : SK_OK;
    }
    pthread_once(&fork_handlers_once, install_fork_handlers);
    grow_pool(n_threads - 1);
    int helpers = pool.n_workers < n_threads - 1 ? pool.n_workers : n_threads - 1;
    pthread_mutex_lock(&pool.lock);
    pool.job = &job;
    pool.helpers = helpers;
    atomic_store(&pool.pending, helpers);
    atomic_fetch_add(&pool.generation, 1);
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.lock);
    run_units(&job);
    for (int spin = 0; spin < SK_SPIN && atomic_load(&pool.pending) > 0; spin++) SK_PAUSE();
    if (atomic_load(&pool.pending) > 0) {
        pthread_mutex_lock(&pool.lock);
        while (atomic_load(&pool.pending) > 0) pthread_cond_wait(&pool.done, &pool.lock);
        pthread_mutex_unlock(&pool.lock);
    }
    pthread_mutex_unlock(&pool.busy);
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

/* The first write to each page of a fresh buffer faults it in, and with
 * NumPy's huge pages (it madvises them for large arrays) a fault clears 2 MiB:
 * when several threads write into one huge page together, one clears it and
 * the others wait, and a fresh (64, 262144) float32 softmax cost 18 ms more
 * than its out= call on two threads, against x.copy()'s 8. So the output is
 * faulted in first, by MADV_POPULATE_WRITE, in chunks aligned to huge pages
 * that the threads share out: no two threads fault one huge page, and the
 * clearing, which costs as much CPU time as a copy of the output (measured on
 * one thread: 18 ms system time for 128 MiB, against np.copyto's 20 ms), is
 * split over the threads instead of running on the caller's alone while the
 * others wait (which left a fresh (1024, 32000) softmax at 1.5x x.copy()).
 * Whether the output is fresh is told by its first page (mincore, under a
 * microsecond): populating pages already there still walks their page tables
 * (25-65 us for 16-64 MiB), which out= calls must not pay. */
#if defined(__linux__)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels refuse it (EINVAL) */
#endif
#define SK_PREFAULT_CHUNK ((uintptr_t)4 << 20) /* two huge pages */

typedef struct {
    uintptr_t start, end; /* page-aligned */
} prefault_range;

/* Chunk `unit` of the range: [start rounded down to a chunk + unit chunks,
 * one chunk on), clipped to the range. */
static void prefault_unit(void *ctx, ptrdiff_t unit, double *scratch) {
    (void)scratch;
    const prefault_range *r = (const prefault_range *)ctx;
    uintptr_t lo = (r->start & ~(SK_PREFAULT_CHUNK - 1)) + (uintptr_t)unit * SK_PREFAULT_CHUNK;
    uintptr_t hi = lo + SK_PREFAULT_CHUNK;
    if (lo < r->start) lo = r->start;
    if (hi > r->end) hi = r->end;
    (void)madvise((void *)lo, (size_t)(hi - lo), MADV_POPULATE_WRITE);
}

void sk_prefault_output(char *p, size_t bytes, int n_threads) {
    long page_size = sysconf(_SC_PAGESIZE);
    if (page_size <= 0) return;
    uintptr_t page = (uintptr_t)page_size;
    prefault_range r = {((uintptr_t)p + page - 1) & ~(page - 1), ((uintptr_t)p + bytes) & ~(page - 1)};
    if (r.end <= r.start) return;
    unsigned char resident = 0;
    if (mincore((void *)r.start, (size_t)page, &resident) != 0 || (resident & 1)) return;
    ptrdiff_t chunks = (ptrdiff_t)((r.end - (r.start & ~(SK_PREFAULT_CHUNK - 1)) + SK_PREFAULT_CHUNK - 1) /
                                   SK_PREFAULT_CHUNK);
    (void)sk_parallel_for(chunks, n_threads, 0, prefault_unit, &r);
}
#else
void sk_prefault_output(char *p, size_t bytes, int n_threads) {
    (void)p;
    (void)bytes;
    (void)n_threads;
}
#endif
