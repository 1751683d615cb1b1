/*
 * io: reading files through interchangeable engines (internal API).
 *
 * struct pio_io_file describes an open file and how to read it: its
 * descriptors (buffered, and O_DIRECT when asked for and allowed), size,
 * optional mapping, the engine chosen and the note explaining any
 * fallback. pio_io_ranges reads a list of byte ranges of such a file
 * through its engine and hands back buffers, in order or as they
 * complete. The format module builds frame streams and verification on it.
 */
#ifndef PIO_IO_INTERNAL_H
#define PIO_IO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "prismio/io.h"

struct pio_io_file {
    const char *path; /* for messages; not owned */
    int fd;           /* buffered, read-only; not owned */
    int dfd;          /* O_DIRECT descriptor or -1; owned (pio_io_file_close) */
    uint64_t size;
    const uint8_t *map; /* whole-file mapping or NULL; not owned */
    struct pio_io_info info;
};

/*
 * Decide the engine for `fd` (requested may be PIO_IO_AUTO: then
 * PIO_IO_ENGINE, then mmap), probe io_uring, open an O_DIRECT descriptor
 * and query its alignment when `direct`. Falls back rather than fails;
 * f->info.note says why. Errors only for invalid PIO_IO_ENGINE values.
 */
int pio_io_file_init(struct pio_io_file *f, const char *path, int fd, uint64_t size,
                     const uint8_t *map, enum pio_io_engine requested, bool direct,
                     struct pio_error *err);
void pio_io_file_close(struct pio_io_file *f);

/*
 * Bounded memory for reads through a mapping. A reader of [off, off + len)
 * of `map` (the file's first `size` bytes, MAP_SHARED) calls this with its
 * own window (zeroed at first). Reads in order (each starting where the
 * one before ended, or up to a quarter window further) form a run; once a
 * run is more than two windows (PIO_IO_MAP_WINDOW) past where it started
 * or last dropped, the pages it went through up to one window behind it
 * are dropped from the process (MADV_DONTNEED): reading in order keeps
 * about two windows resident, whatever the file's size. Nothing is freed:
 * a view into dropped pages stays valid, its pages read again (from the
 * page cache, or the file) when touched. Random reads drop nothing, and no
 * run drops pages from before it started. Thread-safe.
 */
#define PIO_IO_MAP_WINDOW ((uint64_t)16 << 20)
struct pio_io_window {
    _Atomic uint64_t mark, run, last; /* dropped up to; the run's start; the last read's end */
};
void pio_io_map_window(struct pio_io_window *w, const uint8_t *map, uint64_t size, uint64_t off,
                       uint64_t len);

/* An O_DIRECT descriptor (open flags | O_DIRECT) on the file `fd` has open,
 * never on whatever `path` names by now: /proc/self/fd/N (the same inode,
 * even renamed or unlinked); where /proc is missing, `path`, refused with
 * -ESTALE unless it is still the same inode. The descriptor, or -errno. */
int pio_io_open_direct(const char *path, int fd, int flags);

/* fsync the directory holding `path` (after creating or renaming a file
 * there): 0 or -errno (of opening it, or of the fsync). */
int pio_io_fsync_dir(const char *path);

/* fsync the directory holding `path`, after a rename into it: 0, or the
 * error with a message saying the rename may not be durable (the renamed
 * file stays: a rename cannot be taken back). A directory this process may
 * not read cannot be synced: 0. */
int pio_io_sync_dir_of(const char *path, struct pio_error *err);

/* ---- range reader ---- */

struct pio_io_range {
    uint64_t off, len;
};

struct pio_io_ranges_options {
    unsigned queue_depth; /* reads in flight (io_uring) / buffers; 0: 32 with
                           * O_DIRECT, else buffers of ~4 MiB in all (>= 2) */
    uint64_t max_bytes;   /* cap on buffer memory; 0: 256 MiB */
    bool ordered;         /* deliver in request order (else as completed) */
    bool no_coalesce;     /* one read per range (tests; default: neighbours merged) */
};

typedef struct pio_io_ranges pio_io_ranges;

/* Read ranges[0..n) (copied) of f through f->info.engine. A stream whose
 * io_uring setup fails falls back to pread and says so in its info. */
int pio_io_ranges_open(pio_io_ranges **out, const struct pio_io_file *f,
                       const struct pio_io_range *ranges, uint64_t n,
                       const struct pio_io_ranges_options *opts, struct pio_error *err);
/*
 * Next delivered range: returns 1 with *index (position in the request
 * list) and *data (the range's bytes, 64-byte aligned when the offset is),
 * 0 when all were delivered, -EAGAIN when !wait and nothing is ready, or an
 * error naming the offset. *data stays valid until released; every buffer
 * held counts against the queue depth (holding all of them is PIO_EUSAGE).
 */
int pio_io_ranges_next(pio_io_ranges *s, bool wait, uint64_t *index, const uint8_t **data,
                       struct pio_error *err);
void pio_io_ranges_release(pio_io_ranges *s, const uint8_t *data);
/* Deliveries not yet released (0: closing frees nothing in use). */
unsigned pio_io_ranges_held(const pio_io_ranges *s);
const struct pio_io_info *pio_io_ranges_info(const pio_io_ranges *s);
void pio_io_ranges_close(pio_io_ranges *s);

/* ---- asynchronous write queue (io_uring) ---- */

typedef struct pio_io_wq pio_io_wq;

/* A queue of `depth` staging buffers (0: 4) writing to fd. On failure
 * (setup refused, ENOMEM) returns the error and, if info is given, sets
 * info->engine to PIO_IO_PREAD with a note: the caller writes with pwrite. */
int pio_io_wq_open(pio_io_wq **out, int fd, unsigned depth, struct pio_io_info *info);
/* A free buffer of at least len bytes (4096-aligned), waiting for a write
 * to complete if all are busy; NULL with *rc set on failure. The buffer is
 * reserved until it is submitted (and written) or released. */
uint8_t *pio_io_wq_get(pio_io_wq *q, size_t len, int *rc);
/* Give back a reserved buffer that will not be submitted. */
void pio_io_wq_release(pio_io_wq *q, const uint8_t *buf);
/* Capacity of a buffer from pio_io_wq_get. */
size_t pio_io_wq_capacity_of(const pio_io_wq *q, const uint8_t *buf);
/* Write buf[0..len) (from pio_io_wq_get) at off; the buffer is busy until
 * the write completes. */
int pio_io_wq_submit(pio_io_wq *q, const uint8_t *buf, size_t len, uint64_t off);
/* Wait for every write; the first write error (sticky), or 0. */
int pio_io_wq_drain(pio_io_wq *q);
/* The first failed write's error and offset, or 0. */
int pio_io_wq_error(const pio_io_wq *q, uint64_t *off);
void pio_io_wq_close(pio_io_wq *q);

/* ---- fault injection (tests) ---- */

enum pio_io_fault {
    PIO_FAULT_URING_SETUP, /* io_uring_queue_init fails */
    PIO_FAULT_DIRECT_OPEN, /* open(O_DIRECT) fails */
    PIO_FAULT_READ_EINTR,  /* a read is interrupted (retried) */
    PIO_FAULT_READ_SHORT,  /* a read returns half of what was asked (continued) */
    PIO_FAULT_WRITE,       /* a HOLO pwrite writes half its first piece, then fails */
    PIO_FAULT_COUNT
};
/* The next `count` occurrences of `fault` fail with `err` (negative errno). */
void pio_io_fault_set(enum pio_io_fault fault, int err, int count);
/* The same after `skip` occurrences that succeed. */
void pio_io_fault_set_after(enum pio_io_fault fault, int err, int skip, int count);
/* 0, or the injected error (consuming one occurrence). */
int pio_io_fault_take(enum pio_io_fault fault);

#endif /* PIO_IO_INTERNAL_H */
