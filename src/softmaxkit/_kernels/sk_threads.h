/* A minimal parallel-for: n_units independent units of work, claimed one at a
 * time from a shared counter by n_threads threads (the caller's included).
 * Each thread gets its own scratch buffer of scratch_bytes. Which thread runs
 * which unit does not matter: units never share output, so results do not
 * depend on the thread count or on scheduling. */
#ifndef SK_THREADS_H
#define SK_THREADS_H

#include <stddef.h>

typedef void (*sk_unit_fn)(void *ctx, ptrdiff_t unit, double *scratch);

/* Returns SK_OK, or SK_NO_MEMORY when a scratch buffer cannot be allocated. */
int sk_parallel_for(ptrdiff_t n_units, int n_threads, size_t scratch_bytes, sk_unit_fn fn,
                    void *ctx);

/* Faults in the pages of [p, p + bytes), an output the threads are about to
 * write, on n_threads threads, where they are not there yet (a fresh
 * allocation): see sk_threads.c. Does nothing elsewhere, or where the system
 * cannot. */
void sk_prefault_output(char *p, size_t bytes, int n_threads);

#endif
