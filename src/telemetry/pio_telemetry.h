/*
 * telemetry: what the other modules call to report an operation.
 *
 *     uint64_t t0 = pio_tm_start();
 *     ... the operation ...
 *     pio_tm_end(PIO_OP_READ, engine, fd, frame, bytes, t0, rc);
 *
 * With telemetry off, pio_tm_start is one (acquire) load and pio_tm_end a
 * test of zero; built with PIO_NO_TELEMETRY both are nothing. On, they
 * read the TSC (where it is invariant) and the record converts ticks to
 * nanoseconds.
 */
#ifndef PIO_TELEMETRY_INTERNAL_H
#define PIO_TELEMETRY_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "prismio/telemetry.h"

#ifdef PIO_NO_TELEMETRY
static inline uint64_t pio_tm_start(void)
{
    return 0;
}

static inline void pio_tm_end(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame,
                              uint64_t bytes, uint64_t t0, int rc)
{
    (void)op, (void)engine, (void)file, (void)frame, (void)bytes, (void)t0, (void)rc;
}

static inline void pio_tm_span(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame,
                               uint64_t bytes, uint64_t t0, uint64_t t1, int rc)
{
    (void)op, (void)engine, (void)file, (void)frame, (void)bytes, (void)t0, (void)t1, (void)rc;
}
#else
extern _Atomic int pio_telemetry_on;
/* Whether ticks are TSC cycles (invariant TSC, calibrated when telemetry
 * is first enabled) or CLOCK_MONOTONIC nanoseconds. */
extern int pio_tm_use_tsc;

/* The hot path's clock: rdtsc (about 12 ns here, against 28 ns for
 * clock_gettime through the vDSO) where the TSC is invariant. */
static inline uint64_t pio_tm_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (pio_tm_use_tsc)
        return __builtin_ia32_rdtsc();
#endif
    return pio_telemetry_now();
}

/* Record an operation timed in ticks (converted to ns inside). */
void pio_tm_record_ticks(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame,
                         uint64_t bytes, uint64_t t0, uint64_t t1, int rc);

static inline uint64_t pio_tm_start(void)
{
    /* acquire (a plain load on x86): seeing recording on orders the clock
     * calibration, written before the release in pio_telemetry_enable */
    return atomic_load_explicit(&pio_telemetry_on, memory_order_acquire) ? pio_tm_ticks() : 0;
}

static inline void pio_tm_end(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame,
                              uint64_t bytes, uint64_t t0, int rc)
{
    if (t0)
        pio_tm_record_ticks(op, engine, file, frame, bytes, t0, pio_tm_ticks(), rc);
}

/* An operation from tick t0 to t1 (both from pio_tm_start: a batch's summed
 * time laid end to end), nothing when t1 is 0 (telemetry off). */
static inline void pio_tm_span(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame,
                               uint64_t bytes, uint64_t t0, uint64_t t1, int rc)
{
    if (t1)
        pio_tm_record_ticks(op, engine, file, frame, bytes, t0, t1, rc);
}
#endif

/* Read a byte of every page of [p, p + n): a mapping's pages faulted in,
 * so that reading through it shows as time of its own. */
static inline void pio_tm_touch(const uint8_t *p, uint64_t n)
{
    for (uint64_t k = 0; k < n; k += 4096)
        (void)*(const volatile uint8_t *)(p + k);
    if (n)
        (void)*(const volatile uint8_t *)(p + n - 1);
}

#endif /* PIO_TELEMETRY_INTERNAL_H */
