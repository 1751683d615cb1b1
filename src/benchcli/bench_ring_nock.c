/*
 * Stand-in for bench_ring_ck.c where the build has no Concurrency Kit
 * (libck not found, or configured with -DPIO_WITH_CK=OFF): `prismio bench
 * ring` still measures ours and says the peer is not built.
 */
#include "bench_common.h"

const bool bench_ck_built = false;
const char bench_ck_note[] = "not built (libck not found, or -DPIO_WITH_CK=OFF)";

double bench_ck_ring_run(bool mpmc, uint64_t n, unsigned cap)
{
    (void)mpmc;
    (void)n;
    (void)cap;
    return -1;
}
