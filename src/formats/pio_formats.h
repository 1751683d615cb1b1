/*
 * formats: what the modules above it may use besides prismio/convert.h.
 */
#ifndef PIO_FORMATS_H
#define PIO_FORMATS_H

#include <stdbool.h>
#include <stdint.h>

#include "prismio/convert.h"

/* What pio_source_open does once the format's own source is open (rc its
 * return): --strict's refusal of a skipped last frame, the topology of
 * o->topology (o a full-size struct). Returns rc or the new error; *out
 * destroyed on failure. */
int pio__source_finish(struct pio_source *out, const struct pio_source_options *o, int rc,
                       struct pio_error *err);

/* Whether the key, value pairs `meta` (pio_sink_options.metadata: ended
 * by a NULL key; NULL for none) hold `key`. */
bool pio__meta_has(const char *const *meta, const char *key);

/* ---- XTC frames found in parallel (the MPI conversion) ---- */

/* One rank's part of an XTC file's scan: the frames that start in
 * [start, end), where start is the first frame header at or after lo
 * (found by its magic, its atom count, which must be frame 0's, and a
 * valid header right after the frame, or the end of the file) and end the
 * first frame start at or after hi (or the file's size). */
struct pio__xtc_range {
    uint64_t size; /* the file's */
    uint64_t start, end;
    uint64_t *off; /* n frame offsets (malloc'd) */
    uint64_t n;
    bool mixed; /* precisions differ from frame 0's */
};

/* Scan [lo, hi) of path. 0, or nonzero where this part could not be
 * scanned with certainty (damage, a truncated last frame, a read error):
 * the caller then scans the whole file the serial way, which says what is
 * wrong. r->off is freed by the caller either way. */
int pio__xtc_scan_range(const char *path, uint64_t lo, uint64_t hi, struct pio__xtc_range *r);

/* The XTC source over frame offsets found beforehand (off[0] is 0, each
 * frame ends where the next starts, the last where the file ends: the
 * ranks' ranges chained), with no scan of its own; mixed as the ranges
 * said. As pio_source_open's XTC source otherwise (decoders: threads). */
int pio__xtc_source_scanned(struct pio_source *out, const char *path, const uint64_t *off,
                            uint64_t n, bool mixed, uint32_t threads, struct pio_error *err);

#endif /* PIO_FORMATS_H */
