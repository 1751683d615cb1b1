/*
 * format: what the modules above it may use besides prismio/holo.h.
 */
#ifndef PIO_FORMAT_H
#define PIO_FORMAT_H

#include <stdint.h>

#include "prismio/holo.h"

/* A hint that frame i of a local file is read soon: its index entry is
 * looked up and its record's first cache lines and last one (the scalars,
 * the named arrays' table) are prefetched. Nothing is checked, nothing
 * fails (an i out of range, or a remote file: nothing done). A batch of
 * structures read in random order overlaps these memory misses instead of
 * waiting for each in turn. */
void pio__holo_prefetch(const pio_reader *r, uint64_t i);

#endif /* PIO_FORMAT_H */
