// Run-time choice of instruction set.
#include "skiff_kernels.h"
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int detected = -1;
static _Atomic int active = -1;
/// A per-thread override set by tests, so comparing paths never changes what other threads compute.
static _Thread_local int thread_override = -1;

skiff_isa skiff_detect_isa(void) {
    int cached = atomic_load_explicit(&detected, memory_order_relaxed);
    if (cached >= 0) return (skiff_isa)cached;
    skiff_isa isa = SKIFF_ISA_PORTABLE;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        isa = SKIFF_ISA_AVX2;
    }
    if (isa == SKIFF_ISA_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
        isa = SKIFF_ISA_AVX512_VNNI;
    }
#endif
    atomic_store_explicit(&detected, (int)isa, memory_order_relaxed);
    return isa;
}

/// The instruction set named by SKIFF_ISA (`portable`, `avx2`, `avx512`), if set, else the best one.
static skiff_isa requested_isa(void) {
    skiff_isa best = skiff_detect_isa();
    const char *name = getenv("SKIFF_ISA");
    if (!name) return best;
    skiff_isa wanted = best;
    if (strcmp(name, "portable") == 0) wanted = SKIFF_ISA_PORTABLE;
    else if (strcmp(name, "avx2") == 0) wanted = SKIFF_ISA_AVX2;
    else if (strcmp(name, "avx512") == 0) wanted = SKIFF_ISA_AVX512_VNNI;
    return wanted < best ? wanted : best;
}

skiff_isa skiff_active_isa(void) {
    if (thread_override >= 0) return (skiff_isa)thread_override;
    int current = atomic_load_explicit(&active, memory_order_relaxed);
    if (current >= 0) return (skiff_isa)current;
    skiff_isa isa = requested_isa();
    atomic_store_explicit(&active, (int)isa, memory_order_relaxed);
    return isa;
}

skiff_isa skiff_set_isa(skiff_isa isa) {
    skiff_isa best = skiff_detect_isa();
    if (isa > best) isa = best;
    thread_override = (int)isa;
    return isa;
}
