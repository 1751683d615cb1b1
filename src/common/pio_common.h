/*
 * common: the internal toolbox every module may use, and which uses nothing.
 *
 * Holds the helpers behind the error model (pio_error_set), CPU feature
 * detection for the SIMD dispatchers, and a few macros. Nothing here is
 * public API; public declarations live in include/prismio/.
 */
#ifndef PIO_COMMON_INTERNAL_H
#define PIO_COMMON_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "prismio/common.h"

#define PIO_LIKELY(x)    __builtin_expect(!!(x), 1)
#define PIO_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define PIO_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define PIO_MAX(a, b)    ((a) > (b) ? (a) : (b))
#define PIO_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define PIO_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define PIO_PRINTF(fmt_idx, arg_idx)
#endif

/*
 * Record `code` and a formatted one-line message in `err` (which may be
 * NULL) and return `code`, so a failing path reads
 *     return pio_error_set(err, PIO_ECORRUPT, "%s: frame %llu ...", ...);
 */
int pio_error_set(struct pio_error *err, int code, const char *fmt, ...) PIO_PRINTF(3, 4);
int pio_error_setv(struct pio_error *err, int code, const char *fmt, va_list ap);

/* CPU features relevant to our SIMD code, detected once (CPUID + XGETBV). */
enum pio_cpu_feature {
    PIO_CPU_SSE41 = 1u << 0,
    PIO_CPU_AVX2 = 1u << 1,
    PIO_CPU_AVX512F = 1u << 2,
    PIO_CPU_AVX512VL = 1u << 3,
};
/* Bitmask of enum pio_cpu_feature the CPU and the OS both support. Cached. */
unsigned pio_cpu_features(void);

/* Number of online CPUs (at least 1). */
unsigned pio_cpu_count(void);

/* A buffer (free() it) of *len bytes aligned to `align` (a power of two);
 * from 2 MiB on, *len is rounded up to 2 MiB, the buffer is 2 MiB-aligned
 * and asks for huge pages (see memory.c). NULL when out of memory. */
void *pio_alloc_big(size_t align, size_t *len);

/* Ask for huge pages on [p, p + len) (p page-aligned), e.g. a mapping. */
void pio_huge_hint(void *p, size_t len);

/* The I/O engines' names by enum pio_io_engine value (prismio/io.h owns
 * the enum; io_file.c checks the count): here, below both io and
 * telemetry, so telemetry can name the engine of an event without
 * calling into io. */
#define PIO_ENGINE_NAMES 4
extern const char *const pio__engine_names[PIO_ENGINE_NAMES];

#endif /* PIO_COMMON_INTERNAL_H */
