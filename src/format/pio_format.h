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

/* pio_reader_frame and pio_reader_frame_arrays of frame i in one lookup
 * (the record's structure checked once): *out the frame, arr[0..cap) its
 * named arrays, *narrays their count (may exceed cap). Their errors. */
int pio__holo_frame_arrays(const pio_reader *r, uint64_t i, struct pio_frame *out,
                           struct pio_array *arr, uint32_t cap, uint32_t *narrays,
                           struct pio_error *err);

#endif /* PIO_FORMAT_H */
