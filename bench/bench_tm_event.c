/*
 * The cost of one telemetry event as the library's hot paths pay it
 * (pio_tm_start + pio_tm_end: two clock readings, counters, histogram,
 * event ring), next to the same loop with telemetry switched off in the
 * same run: the difference is the per-operation overhead to compare with
 * an operation's own cost (a pread of a small frame: about 1 us here).
 * usage: bench_tm_event [N]   (default 10,000,000 events)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "telemetry/pio_telemetry.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double loop(long n)
{
    double t0 = now();
    for (long i = 0; i < n; i++) {
        uint64_t t = pio_tm_start();
        __asm__ volatile("" ::: "memory");
        pio_tm_end(PIO_OP_READ, 1, 3, (uint64_t)i, 4096, t, 0);
    }
    return now() - t0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000000;
    double off = 1e9, on = 1e9;
    for (int r = 0; r < 5; r++) {
        pio_telemetry_enable(false);
        double t = loop(n);
        off = t < off ? t : off;
        pio_telemetry_enable(true);
        t = loop(n);
        on = t < on ? t : on;
    }
    printf("telemetry event: %.1f ns on, %.1f ns off (best of 5 x %ld)\n", on / n * 1e9,
           off / n * 1e9, n);
    return 0;
}
