/* Instruction-set selection, once, from CPUID (via the compiler's cpu model). */
#include "ckernels.h"

#include <stdlib.h>
#include <string.h>

static int best_isa(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return EAGLE_ISA_C;
    if (!__builtin_cpu_supports("avx512f")) return EAGLE_ISA_AVX2;
    return __builtin_cpu_supports("avx512bf16") ? EAGLE_ISA_AVX512_BF16 : EAGLE_ISA_AVX512;
#endif
    return EAGLE_ISA_C;
}

static int selected = -1;

static int initial_isa(void) {
    int best = best_isa();
    /* EAGLE_KERNELS may only step down (a path the CPU lacks would fault). */
    const char *forced = getenv("EAGLE_KERNELS");
    if (!forced) return best;
    for (int isa = EAGLE_ISA_C; isa < best; isa++)
        if (strcmp(forced, eagle_isa_name(isa)) == 0) return isa;
    if (strcmp(forced, "avx2") == 0 && best > EAGLE_ISA_AVX2) return EAGLE_ISA_AVX2;
    return best;
}

int eagle_isa_best(void) { return best_isa(); }

int eagle_isa_current(void) {
    int s = __atomic_load_n(&selected, __ATOMIC_ACQUIRE);
    if (s < 0) {
        s = initial_isa();
        __atomic_store_n(&selected, s, __ATOMIC_RELEASE);
    }
    return s;
}

int eagle_isa_force(int isa) {
    if (isa < EAGLE_ISA_C || isa > best_isa()) return -1;
    __atomic_store_n(&selected, isa, __ATOMIC_RELEASE);
    return 0;
}

const char *eagle_isa_name(int isa) {
    switch (isa) {
    case EAGLE_ISA_AVX512_BF16: return "avx512-bf16";
    case EAGLE_ISA_AVX512: return "avx512f";
    case EAGLE_ISA_AVX2: return "avx2+fma";
    default: return "c";
    }
}
