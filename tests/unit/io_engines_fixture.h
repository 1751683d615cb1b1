/*
 * Shared by the I/O engine test programs (test_io_engines_*.c): the
 * fixture's seed and the engine a request gets in this build.
 */
#ifndef PIO_IO_ENGINES_FIXTURE_H
#define PIO_IO_ENGINES_FIXTURE_H

#include "holo_fixture.h"
#include "io/pio_io.h"

#define SEED 31

/* The engine a request for e gets when the machine allows it: e, or pread
 * in a build without it (io_uring without liburing). */
static inline enum pio_io_engine built_or_pread(enum pio_io_engine e)
{
    return pio_io_engine_built(e) ? e : PIO_IO_PREAD;
}

#endif /* PIO_IO_ENGINES_FIXTURE_H */
