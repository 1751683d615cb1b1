/*
 * BLAKE3 in memory: GB/s per tier and input size, one thread, with the
 * portable tier as the same-run baseline (ratios printed). Complements
 * `prismio bench hash FILE`, which compares against b3sum on a file.
 * usage: bench_blake3 [--json] [SECONDS_PER_CASE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <prismio/blake3.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double gbps(const uint8_t *buf, size_t len, double seconds)
{
    uint8_t out[32];
    size_t iters = 0;
    double t0 = now(), t;
    do {
        pio_blake3_hash(out, 32, buf, len);
        iters++;
        t = now() - t0;
    } while (t < seconds);
    __asm__ volatile("" : : "r"(out) : "memory");
    return (double)len * (double)iters / t / 1e9;
}

int main(int argc, char **argv)
{
    int json = argc > 1 && strcmp(argv[1], "--json") == 0;
    double seconds = argc > 1 + json ? atof(argv[1 + json]) : 0.2;
    static const size_t sizes[] = {64, 1024, 4096, 16384, 65536, 1 << 20, 16 << 20};
    size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);
    uint8_t *buf = malloc(sizes[nsizes - 1]);
    for (size_t i = 0; i < sizes[nsizes - 1]; i++)
        buf[i] = (uint8_t)(i * 131 + 7);

    double base[16];
    if (json)
        printf("{\"benchmark\":\"blake3_memory\",\"gbps\":{");
    else
        printf("%-9s %10s %9s %9s\n", "tier", "bytes", "GB/s", "vs port.");
    int first_tier = 1;
    for (int t = 0; t < PIO_BLAKE3_TIER_COUNT; t++) {
        if (pio_blake3_tier_force((enum pio_blake3_tier)t) != 0)
            continue;
        const char *name = pio_blake3_tier_name((enum pio_blake3_tier)t);
        if (json)
            printf("%s\"%s\":{", first_tier ? "" : ",", name);
        first_tier = 0;
        for (size_t s = 0; s < nsizes; s++) {
            double g = gbps(buf, sizes[s], seconds);
            if (t == 0)
                base[s] = g;
            if (json)
                printf("%s\"%zu\":%.3f", s ? "," : "", sizes[s], g);
            else
                printf("%-9s %10zu %9.2f %8.2fx\n", name, sizes[s], g, g / base[s]);
        }
        if (json)
            printf("}");
    }
    if (json)
        printf("}}\n");
    free(buf);
    return 0;
}
