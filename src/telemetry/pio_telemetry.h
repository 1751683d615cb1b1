/*
 * telemetry: what the other modules call to report an operation.
 *
 *     uint64_t t0 = pio_tm_start();
 *     ... the operation ...
 *     pio_tm_end(PIO_OP_READ, engine, fd, frame, bytes, t0, rc);
 *
 * With telemetry off, pio_tm_start is one relaxed load and pio_tm_end a
 * test of zero; built with PIO_NO_TELEMETRY both are nothing.
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
#else
extern _Atomic int pio_telemetry_on;

static inline uint64_t pio_tm_start(void)
{
    /* relaxed: a switch, not a synchronisation */
    return atomic_load_explicit(&pio_telemetry_on, memory_order_relaxed) ? pio_telemetry_now() : 0;
}

static inline void pio_tm_end(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame,
                              uint64_t bytes, uint64_t t0, int rc)
{
    if (t0)
        pio_telemetry_record(op, engine, file, frame, bytes, t0, pio_telemetry_now() - t0, rc);
}
#endif

#endif /* PIO_TELEMETRY_INTERNAL_H */
