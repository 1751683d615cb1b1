/*
 * CPU feature detection for the SIMD dispatchers.
 *
 * An instruction set is usable only if the CPU has it (CPUID) and the OS
 * saves its registers on context switch (XCR0 via XGETBV): AVX needs the
 * SSE and AVX state bits, AVX-512 also the opmask and ZMM state bits. The
 * result is computed once and cached; computing it twice concurrently is
 * harmless (same value), so a relaxed atomic is enough.
 */
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "pio_common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static unsigned detect(void)
{
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (c & bit_SSE4_1)
        f |= PIO_CPU_SSE41;
    int osxsave = (c & bit_OSXSAVE) != 0;
    int avx = (c & bit_AVX) != 0;
    if (!osxsave || !avx)
        return f;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) /* XMM and YMM state */
        return f;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return f;
    if (b & bit_AVX2)
        f |= PIO_CPU_AVX2;
    if ((xcr0 & 0xe0) == 0xe0) { /* opmask, ZMM_Hi256, Hi16_ZMM state */
        if (b & bit_AVX512F)
            f |= PIO_CPU_AVX512F;
        if (b & bit_AVX512VL)
            f |= PIO_CPU_AVX512VL;
    }
    return f;
}
#else
static unsigned detect(void)
{
    return 0;
}
#endif

#define FEATURES_UNKNOWN 0x80000000u

unsigned pio_cpu_features(void)
{
    static _Atomic unsigned cached = FEATURES_UNKNOWN;
    /* relaxed: the value is a pure function of the machine; racing
     * initialisers store the same bits. */
    unsigned f = atomic_load_explicit(&cached, memory_order_relaxed);
    if (f == FEATURES_UNKNOWN) {
        f = detect();
        atomic_store_explicit(&cached, f, memory_order_relaxed);
    }
    return f;
}

unsigned pio_cpu_count(void)
{
    /* The affinity mask is what this process may use (taskset, cgroups
     * cpusets); the online count is the fallback. */
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1u;
}
