/* Runtime choice of the hot loops: the best ISA this CPU supports.
 *
 * On x86-64 with GCC or clang the loops are built three times (AVX-512F,
 * AVX2+FMA, baseline SSE2) and __builtin_cpu_supports picks one; elsewhere
 * (aarch64, other compilers) only the baseline build exists, vectorised by the
 * compiler for the target's own SIMD (NEON on aarch64).
 */
#include "sk_isa.h"

#if defined(SK_HAVE_X86_DISPATCH)
#include <stdlib.h>
#include <string.h>

/* SOFTMAXKIT_ISA=baseline (or avx2) caps the choice, so that the tests can run
 * the other builds of the loops on a CPU that would never pick them. */
static int allowed(const char *isa) {
    const char *cap = getenv("SOFTMAXKIT_ISA");
    if (!cap || !*cap) return 1;
    if (strcmp(cap, "baseline") == 0) return 0;
    if (strcmp(cap, "avx2") == 0) return strcmp(isa, "avx2") == 0;
    return 1;
}

static const sk_isa_table *choose(const char **name) {
    __builtin_cpu_init();
#if defined(SK_HAVE_AVX512F)
    if (allowed("avx512f") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) {
        *name = "avx512f";
        return &sk_table_avx512f;
    }
#endif
    if (allowed("avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *name = "avx2";
        return &sk_table_avx2;
    }
    *name = "baseline";
    return &sk_table_baseline;
}
#else
static const sk_isa_table *choose(const char **name) {
    *name = "baseline";
    return &sk_table_baseline;
}
#endif

/* Cached by the first call, which the extension module makes while it is
 * being initialised (under the GIL, before any kernel can run), so later
 * calls from any thread only read it. */
static const sk_isa_table *chosen_table;
static const char *chosen_name;

const sk_isa_table *sk_isa(void) {
    const sk_isa_table *table = chosen_table;
    if (!table) {
        const char *name;
        table = choose(&name);
        chosen_name = name;
        chosen_table = table;
    }
    return table;
}

const char *sk_isa_name(void) {
    sk_isa();
    return chosen_name;
}
