/*
 * BLAKE3 tier dispatch.
 *
 * The tier is chosen once, on first use: PIO_BLAKE3_TIER if it names a tier
 * this build and CPU support, else the widest supported one. The choice is
 * an atomic pointer to a constant ops table, so reading it costs one load
 * and pio_blake3_tier_force() can swap it at any time (all tiers compute
 * identical bytes, so a hash in flight that sees both stays correct).
 * Tiers can be compiled out with PIO_BLAKE3_NO_SSE41 / _NO_AVX2 /
 * _NO_AVX512 (CMake options of the same names).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "blake3_impl.h"
#include "common/pio_common.h"

#if !defined(__x86_64__) && !defined(__i386__)
#define PIO_BLAKE3_NO_SSE41
#define PIO_BLAKE3_NO_AVX2
#define PIO_BLAKE3_NO_AVX512
#endif

static const struct pio_b3_ops ops_portable = {
    PIO_BLAKE3_TIER_PORTABLE,  1, pio_b3_compress_in_place_portable, pio_b3_compress_xof_portable,
    pio_b3_hash_many_portable,
};

#ifndef PIO_BLAKE3_NO_SSE41
static const struct pio_b3_ops ops_sse41 = {
    PIO_BLAKE3_TIER_SSE41,  4, pio_b3_compress_in_place_portable, pio_b3_compress_xof_portable,
    pio_b3_hash_many_sse41,
};
#endif

#ifndef PIO_BLAKE3_NO_AVX2
static const struct pio_b3_ops ops_avx2 = {
    PIO_BLAKE3_TIER_AVX2,  8, pio_b3_compress_in_place_portable, pio_b3_compress_xof_portable,
    pio_b3_hash_many_avx2,
};
#endif

#ifndef PIO_BLAKE3_NO_AVX512
static const struct pio_b3_ops ops_avx512 = {
    PIO_BLAKE3_TIER_AVX512,  16, pio_b3_compress_in_place_portable, pio_b3_compress_xof_portable,
    pio_b3_hash_many_avx512,
};
#endif

static const struct pio_b3_ops *ops_for(enum pio_blake3_tier tier)
{
    switch (tier) {
    case PIO_BLAKE3_TIER_PORTABLE:
        return &ops_portable;
#ifndef PIO_BLAKE3_NO_SSE41
    case PIO_BLAKE3_TIER_SSE41:
        return &ops_sse41;
#endif
#ifndef PIO_BLAKE3_NO_AVX2
    case PIO_BLAKE3_TIER_AVX2:
        return &ops_avx2;
#endif
#ifndef PIO_BLAKE3_NO_AVX512
    case PIO_BLAKE3_TIER_AVX512:
        return &ops_avx512;
#endif
    default:
        return NULL;
    }
}

static const char *const tier_names[PIO_BLAKE3_TIER_COUNT] = {"portable", "sse41", "avx2",
                                                              "avx512"};

PIO_API const char *pio_blake3_tier_name(enum pio_blake3_tier tier)
{
    if ((int)tier < 0 || (int)tier >= PIO_BLAKE3_TIER_COUNT)
        return NULL;
    return tier_names[tier];
}

PIO_API int pio_blake3_tier_parse(const char *name, enum pio_blake3_tier *out)
{
    if (!name)
        return PIO_EUSAGE;
    if (strcmp(name, "auto") == 0) {
        *out = PIO_BLAKE3_TIER_AUTO;
        return 0;
    }
    for (int t = 0; t < PIO_BLAKE3_TIER_COUNT; t++) {
        if (strcmp(name, tier_names[t]) == 0) {
            *out = (enum pio_blake3_tier)t;
            return 0;
        }
    }
    return PIO_EUSAGE;
}

PIO_API bool pio_blake3_tier_supported(enum pio_blake3_tier tier)
{
    if (!ops_for(tier))
        return false;
    unsigned f = pio_cpu_features();
    switch (tier) {
    case PIO_BLAKE3_TIER_PORTABLE:
        return true;
    case PIO_BLAKE3_TIER_SSE41:
        return (f & PIO_CPU_SSE41) != 0;
    case PIO_BLAKE3_TIER_AVX2:
        return (f & PIO_CPU_AVX2) != 0;
    case PIO_BLAKE3_TIER_AVX512:
        return (f & (PIO_CPU_AVX512F | PIO_CPU_AVX512VL)) == (PIO_CPU_AVX512F | PIO_CPU_AVX512VL);
    default:
        return false;
    }
}

static const struct pio_b3_ops *best_ops(void)
{
    const char *env = getenv("PIO_BLAKE3_TIER");
    enum pio_blake3_tier want;
    if (env && pio_blake3_tier_parse(env, &want) == 0 && want != PIO_BLAKE3_TIER_AUTO &&
        pio_blake3_tier_supported(want))
        return ops_for(want);
    for (int t = PIO_BLAKE3_TIER_COUNT - 1; t > 0; t--)
        if (pio_blake3_tier_supported((enum pio_blake3_tier)t))
            return ops_for((enum pio_blake3_tier)t);
    return &ops_portable;
}

/* acquire/release: the tables are constants, so ordering only matters for
 * form's sake; racing first users compute and store the same pointer. */
static _Atomic(const struct pio_b3_ops *) active_ops;

const struct pio_b3_ops *pio_b3_ops(void)
{
    const struct pio_b3_ops *ops = atomic_load_explicit(&active_ops, memory_order_acquire);
    if (PIO_UNLIKELY(!ops)) {
        ops = best_ops();
        atomic_store_explicit(&active_ops, ops, memory_order_release);
    }
    return ops;
}

PIO_API enum pio_blake3_tier pio_blake3_tier_active(void)
{
    return pio_b3_ops()->tier;
}

PIO_API int pio_blake3_tier_force(enum pio_blake3_tier tier)
{
    const struct pio_b3_ops *ops;
    if (tier == PIO_BLAKE3_TIER_AUTO)
        ops = best_ops();
    else if (pio_blake3_tier_supported(tier))
        ops = ops_for(tier);
    else
        return PIO_ENOTSUPPORTED;
    atomic_store_explicit(&active_ops, ops, memory_order_release);
    return 0;
}
