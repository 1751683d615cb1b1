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

/* ---- records placed by the caller (the MPI writer) ---- */

/* A writer that only encodes (no file): FRAME records as the file of
 * `salt`, created with the same opts, holds them. Freed with
 * pio__writer_discard. 0 or an error (an unsupported codec). */
int pio__writer_encoder(pio_writer **out, const char *path, const struct pio_writer_options *opts,
                        const uint8_t salt[16], struct pio_error *err);
void pio__writer_discard(pio_writer *w);
/* The file's 16-byte salt. */
const uint8_t *pio__writer_salt(const pio_writer *w);

/* Frame f as FRAME record number seq, hashed, in (*buf)[at .. at + *len)
 * (*buf grown with realloc, *cap its size, as needed): the bytes
 * pio_writer_append would write. 0 or the frame's error. */
int pio__writer_encode(pio_writer *w, const struct pio_frame *f, uint64_t seq, uint8_t **buf,
                       size_t *cap, size_t at, uint64_t *len, struct pio_error *err);

/* Where the next record goes: *end (the pending META record written
 * first). A writer of the pwrite engine, without O_DIRECT and with no
 * frames held for blocks, else PIO_EUSAGE. */
int pio__writer_tail(pio_writer *w, uint64_t *end, struct pio_error *err);

/* A raw FRAME record whose arrays others write (the MPI writer's frames
 * written by atom ranges): its header (its hash field zero), where each
 * array starts in it (0: absent) and the zero padding after each array's
 * 12 x natoms bytes, the scalars section (tail: the bytes from tail_off to
 * the record's end, malloc'd). */
struct pio__frame_shell {
    uint64_t length;
    uint64_t array_off[3]; /* positions, velocities, forces */
    uint64_t array_pad;
    uint64_t tail_off, tail_len;
    uint8_t *tail;
    uint8_t head[192];
};
/* The shell of frame f as record number seq: f's arrays that are not NULL
 * say which the record holds (never read); natoms, step, time, box and
 * scalars as pio__writer_encode takes them. PIO_EUSAGE with a codec. */
int pio__writer_shell(pio_writer *w, const struct pio_frame *f, uint64_t seq,
                      struct pio__frame_shell *out, struct pio_error *err);

/* A record the caller wrote into the file (64 bytes: it travels as bytes). */
struct pio__placed {
    uint64_t offset, length;
    int64_t step;
    double time;
    uint8_t hash[32]; /* its record hash, as stored */
};
/* Records p[0..n) in frame order, the first at the writer's tail and each
 * at the end of the one before: indexed and digested as if appended here;
 * the next commit names them (the caller makes them durable before it).
 * PIO_EUSAGE if they are not placed so. */
int pio__writer_adopt(pio_writer *w, const struct pio__placed *p, uint64_t n,
                      struct pio_error *err);

#endif /* PIO_FORMAT_H */
