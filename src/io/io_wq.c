/*
 * io: the asynchronous write queue (io_uring).
 *
 * A writer that must not wait for its writes copies each record into one
 * of `depth` staging buffers and submits it; the buffer comes back when the
 * write completes. Short writes are resubmitted for the rest. The first
 * failed write is kept (with its offset) and reported by every later call:
 * bytes after it cannot be trusted, so the caller fails for good and a
 * reopen recovers the complete records before it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_ring.h"
#include "io/pio_io.h"

#include "common/pio_common.h"

struct wq_buf {
    uint8_t *p;
    size_t cap;
    bool busy;
    uint64_t off, len, done;
};

struct pio_io_wq {
    int fd;
    unsigned depth, inflight;
    struct wq_buf *bufs;
    int error;
    uint64_t error_off;
    pio__ring *ring;
};

static int submit(pio_io_wq *q, struct wq_buf *b)
{
    int rc = pio__ring_prep_write(q->ring, q->fd, b->p + b->done, (unsigned)(b->len - b->done),
                                  b->off + b->done, (uint64_t)(b - q->bufs));
    if (rc != 0)
        return rc;
    rc = pio__ring_submit(q->ring);
    if (rc < 0)
        return rc;
    q->inflight++;
    return 0;
}

/* Wait for (or, if !wait, take an available) completion. */
static int reap(pio_io_wq *q, bool wait)
{
    uint64_t tag;
    int rc, res;
    do
        rc = pio__ring_complete(q->ring, wait, &tag, &res);
    while (rc == -EINTR);
    if (rc < 0)
        return rc;
    struct wq_buf *b = &q->bufs[tag];
    q->inflight--;
    if (res == -EINTR || res == -EAGAIN || (res > 0 && b->done + (uint64_t)res < b->len)) {
        if (res > 0)
            b->done += (uint64_t)res;
        return submit(q, b);
    }
    if (res <= 0 && q->error == 0) {
        q->error = res < 0 ? res : -EIO;
        q->error_off = b->off;
    }
    b->busy = false;
    return 0;
}

int pio_io_wq_open(pio_io_wq **out, int fd, unsigned depth, struct pio_io_info *info)
{
    *out = NULL;
    pio_io_wq *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->fd = fd;
    q->depth = depth ? depth : 4;
    q->bufs = calloc(q->depth, sizeof(*q->bufs));
    int rc = q->bufs ? pio_io_fault_take(PIO_FAULT_URING_SETUP) : -ENOMEM;
    if (rc == 0)
        rc = pio__ring_init(&q->ring, q->depth);
    if (rc != 0) {
        if (info) {
            info->engine = PIO_IO_PREAD;
            snprintf(info->note, sizeof(info->note),
                     rc == PIO_ENOTSUPPORTED ? "io_uring: built without liburing (%s); using pwrite"
                                             : "io_uring setup failed (%s); using pwrite",
                     pio_strerror(rc));
        }
        free(q->bufs);
        free(q);
        return rc;
    }
    *out = q;
    return 0;
}

int pio_io_wq_error(const pio_io_wq *q, uint64_t *off)
{
    if (q->error && off)
        *off = q->error_off;
    return q->error;
}

uint8_t *pio_io_wq_get(pio_io_wq *q, size_t len, int *rc)
{
    *rc = 0;
    for (;;) {
        for (unsigned i = 0; i < q->depth; i++) {
            struct wq_buf *b = &q->bufs[i];
            if (b->busy)
                continue;
            if (b->cap < len) {
                size_t cap = len; /* rounded up; huge pages when large */
                uint8_t *p = pio_alloc_big(4096, &cap);
                if (!p) {
                    *rc = -ENOMEM;
                    return NULL;
                }
                free(b->p);
                b->p = p;
                b->cap = cap;
            }
            b->busy = true; /* reserved until submitted and written, or released */
            return b->p;
        }
        if ((*rc = reap(q, true)) != 0)
            return NULL;
    }
}

int pio_io_wq_submit(pio_io_wq *q, const uint8_t *buf, size_t len, uint64_t off)
{
    for (unsigned i = 0; i < q->depth; i++) {
        struct wq_buf *b = &q->bufs[i];
        if (b->p != buf)
            continue;
        b->busy = true;
        b->off = off;
        b->len = len;
        b->done = 0;
        /* Take completions that are already there, so buffers come back. */
        while (q->inflight > 0 && reap(q, false) == 0)
            ;
        return submit(q, b);
    }
    return PIO_EUSAGE;
}

void pio_io_wq_release(pio_io_wq *q, const uint8_t *buf)
{
    for (unsigned i = 0; i < q->depth; i++)
        if (q->bufs[i].p == buf)
            q->bufs[i].busy = false;
}

size_t pio_io_wq_capacity_of(const pio_io_wq *q, const uint8_t *buf)
{
    for (unsigned i = 0; i < q->depth; i++)
        if (q->bufs[i].p == buf)
            return q->bufs[i].cap;
    return 0;
}

int pio_io_wq_drain(pio_io_wq *q)
{
    while (q->inflight > 0) {
        int rc = reap(q, true);
        if (rc != 0)
            return rc;
    }
    return q->error;
}

void pio_io_wq_close(pio_io_wq *q)
{
    if (!q)
        return;
    pio_io_wq_drain(q);
    pio__ring_exit(q->ring);
    for (unsigned i = 0; i < q->depth; i++)
        free(q->bufs[i].p);
    free(q->bufs);
    free(q);
}
