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
    const uint8_t *map;        /* whole-file mapping or NULL; not owned */
    struct pio_remote *remote; /* a remote object (fd -1): read by range requests; not owned */
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

/* ---- remote objects read by HTTP range requests (io_remote.c, on libcurl;
 * io_remote_none.c in a build without it).
 *
 * A pio_remote is one object: an http:// or https:// URL, or s3://bucket/key
 * (path-style on PIO_S3_ENDPOINT or AWS_ENDPOINT_URL, else the bucket's AWS
 * host; requests signed with SigV4 when credentials are found in AWS_* or
 * ~/.aws/credentials). Opening makes one request, for the first bytes,
 * which gives the object's size and ETag too. Every later read
 * asks for exactly its range with If-Match on that ETag and checks the
 * answer: status 206, Content-Range naming the range and the same total,
 * a body of exactly that length. Connection failures, timeouts, 429 and 5xx
 * are retried with exponential backoff; everything else is an error naming
 * the URL and the range. Nothing short of the exact bytes is ever
 * delivered.
 *
 * Settings (environment, read at open): PIO_REMOTE_RETRIES (4),
 * PIO_REMOTE_TIMEOUT_MS (30000: connecting, and the longest a transfer may
 * stall), PIO_REMOTE_BACKOFF_MS (100, doubled per retry).
 */

typedef struct pio_remote pio_remote;

/* Open the object at `url`, reading its first `head` bytes (or all of it,
 * if smaller): *out, or PIO_ENOTSUPPORTED (no libcurl in this build),
 * PIO_EUSAGE (a URL this cannot read), -ENOENT (404), -EACCES (401, 403),
 * -ETIMEDOUT, -ECONNREFUSED, -EIO (5xx after the retries), PIO_EREMOTE (a
 * server that does not answer ranges), each with the URL in err. */
int pio__remote_open(pio_remote **out, const char *url, uint64_t head, struct pio_error *err);
void pio__remote_close(pio_remote *rm);

uint64_t pio__remote_size(const pio_remote *rm);
/* The bytes the open read: the object's first *len. */
const uint8_t *pio__remote_head(const pio_remote *rm, uint64_t *len);

/* Upload `size` bytes of the file `fd` to `url` (s3://BUCKET/KEY) by S3
 * multipart upload: parts of 16 MiB (more for objects of over 156 GiB),
 * 4 at once on threads of their own (64 MiB), each retried as reads are; the object appears only
 * once complete (a failed upload is aborted). 0, PIO_ENOTSUPPORTED (not s3://, or no libcurl), or
 * the failed request's error naming the URL and part. */
int pio__remote_upload(const char *url, int fd, uint64_t size, struct pio_error *err);

/* Requests sent, bytes received and retries, over the object's life. */
void pio__remote_stats(const pio_remote *rm, uint64_t *requests, uint64_t *bytes,
                       uint64_t *retries);

/* Read n ranges [off[i], off[i] + len[i]) into dst[i], up to 4 at once:
 * 0, or the first failure (err names URL and range). */
int pio__remote_read(pio_remote *rm, unsigned n, const uint64_t *off, const uint64_t *len,
                     uint8_t *const *dst, struct pio_error *err);

/*
 * Reads in flight (one batch per thread at a time): add up to `depth`
 * reads, then take them as they complete. Each completion returns 1 with
 * its tag and *rc (0, or the read's error, in err); 0 when none are left;
 * -EAGAIN when !wait and none has completed.
 */
typedef struct pio_remote_batch pio_remote_batch;
int pio__remote_batch_open(pio_remote_batch **out, pio_remote *rm, unsigned depth);
int pio__remote_batch_add(pio_remote_batch *b, uint64_t tag, uint64_t off, uint64_t len,
                          uint8_t *dst);
int pio__remote_batch_next(pio_remote_batch *b, bool wait, uint64_t *tag, int *rc,
                           struct pio_error *err);
void pio__remote_batch_close(pio_remote_batch *b);

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
