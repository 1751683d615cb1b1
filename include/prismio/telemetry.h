/*
 * prism-io: telemetry and the flight recorder.
 *
 * Every module reports operations (kind, I/O engine, bytes, duration,
 * result). Each thread keeps its own counters, latency histograms
 * (log-linear buckets, HDR style: 16 sub-buckets per power of two, so a
 * percentile is within 1/16 of the truth) and a ring of its last
 * PIO_TELEMETRY_RING events; nothing is shared on the hot path (no lock,
 * no contended cache line). Readers merge all threads' data.
 *
 * Off by default; pio_telemetry_enable(true) (the CLI's --stats and
 * --trace) turns it on. Built with -DPIO_NO_TELEMETRY=ON, every report
 * compiles to nothing.
 *
 * A crash handler (SIGSEGV, SIGBUS, SIGABRT, SIGFPE), async-signal-safe,
 * writes the recent events and the counters to a file before the process
 * dies; SIGUSR1 can do the same on demand.
 */
#ifndef PRISMIO_TELEMETRY_H
#define PRISMIO_TELEMETRY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pio_op {
    PIO_OP_OPEN = 0,
    PIO_OP_READ,
    PIO_OP_WRITE,
    PIO_OP_COMMIT,
    PIO_OP_FSYNC,
    PIO_OP_HASH,
    PIO_OP_DECODE,
    PIO_OP_ENCODE,
    PIO_OP_QUEUE_WAIT, /* time blocked on a full or empty pipeline queue */
    PIO_OP_COUNT
};

/* Events kept per thread by the flight recorder. */
#define PIO_TELEMETRY_RING 256

/* "open", "read", ... (static strings); NULL out of range. */
PIO_API const char *pio_op_name(enum pio_op op);

/* pio_telemetry_enable turns recording on or off (process-wide; off at
 * start; the first enable calibrates the clock, about 2 ms);
 * pio_telemetry_enabled says whether it is on. Both thread-safe. */
PIO_API void pio_telemetry_enable(bool on);
PIO_API bool pio_telemetry_enabled(void);
/* Forget every count, histogram and event so far (the notes stay). Call it
 * while no other thread reports: a report racing with it may survive. */
PIO_API void pio_telemetry_reset(void);

/* Monotonic nanoseconds (CLOCK_MONOTONIC: the clock of every event). */
PIO_API uint64_t pio_telemetry_now(void);

/*
 * Report one operation: kind, engine (enum pio_io_engine, 0 when none),
 * file id (any caller-chosen number, e.g. a descriptor), frame (or
 * UINT64_MAX), bytes, start time and duration in ns, result (0 or an
 * error code). Cheap when telemetry is off (one relaxed load). Any
 * thread; nothing is shared. Dropped if the thread's block cannot be
 * allocated (reporting never fails).
 */
PIO_API void pio_telemetry_record(enum pio_op op, unsigned engine, uint64_t file, uint64_t frame,
                                  uint64_t bytes, uint64_t start_ns, uint64_t dur_ns, int result);

/* Record a note (an I/O engine falling back, and why): printf-style, cut
 * at 191 characters; the summary lists the distinct notes (the first 16)
 * with how often each came. Only while enabled. Thread-safe (a mutex). */
PIO_API void pio_telemetry_note(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Merged statistics of one operation kind (all engines, or one). */
struct pio_op_stats {
    uint64_t count, errors, bytes;
    uint64_t total_ns, max_ns;
    uint64_t p50_ns, p90_ns, p99_ns, p999_ns;
};
/* Merge every thread's data for `op` into *out (always written; zeros for
 * an op out of range). engine: 0..PIO_IO_ENGINE_COUNT-1, or -1 for all
 * engines together. Thread-safe, also while other threads report. */
PIO_API void pio_telemetry_stats(enum pio_op op, int engine, struct pio_op_stats *out);

/* Human summary (json false) or one JSON object, of every operation seen
 * and the notes, written to f (stdio errors are f's to report). */
PIO_API void pio_telemetry_summary(FILE *f, bool json);

/* Chrome trace-event JSON of the recorded events still in the rings (the
 * last PIO_TELEMETRY_RING per thread) into `path`, created or truncated
 * (opens in Perfetto and chrome://tracing): 0 or -errno. */
PIO_API int pio_telemetry_write_trace(const char *path);

/* Install the crash handler: on SIGSEGV, SIGBUS, SIGABRT or SIGFPE the
 * events and counters go to `path` (then the signal takes its course).
 * With on_sigusr1, SIGUSR1 writes the same file and the process goes on.
 * The path is copied (process-wide: a later call replaces it). 0, or
 * -ENAMETOOLONG (path of 4096 bytes or more), or -errno from sigaction. */
PIO_API int pio_telemetry_install_crash_handler(const char *path, bool on_sigusr1);

/* Write the dump (the crash handler's format) to `path`, created or
 * truncated, now: 0 or -errno. */
PIO_API int pio_telemetry_dump(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_TELEMETRY_H */
