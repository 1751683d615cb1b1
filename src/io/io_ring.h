/*
 * io: the one place io_uring is used. io_ring.c wraps liburing; in a build
 * without it (no liburing-dev, or -DPIO_WITH_URING=OFF) io_ring_none.c
 * stands in, whose pio__ring_init fails with PIO_ENOTSUPPORTED, so every
 * engine that asked for io_uring falls back to pread/pwrite and says why.
 * The engines (io_file.c, io_ranges.c, io_wq.c) hold the logic; this is
 * only the ring's operations, each tagged with a caller's 64-bit value.
 */
#ifndef PIO_IO_RING_H
#define PIO_IO_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct pio__ring pio__ring;

/* A ring of `entries` submission slots: 0, -errno, or PIO_ENOTSUPPORTED
 * (this build has no io_uring). */
int pio__ring_init(pio__ring **out, unsigned entries);
/* Free the ring (NULL is fine); the caller reaps what is in flight first. */
void pio__ring_exit(pio__ring *r);
/* Register fd as fixed file 0 / iov[0..n) as fixed buffers: 0 or -errno. */
int pio__ring_register_file(pio__ring *r, int fd);
int pio__ring_register_buffers(pio__ring *r, const struct iovec *iov, unsigned n);
/* Queue a read or write (not submitted yet): fd, or fixed file 0 when
 * fixed_file; buf_index >= 0 reads into that registered buffer. 0, or
 * -EBUSY when the submission queue is full. */
int pio__ring_prep_read(pio__ring *r, int fd, bool fixed_file, void *buf, unsigned len,
                        uint64_t off, int buf_index, uint64_t tag);
int pio__ring_prep_write(pio__ring *r, int fd, const void *buf, unsigned len, uint64_t off,
                         uint64_t tag);
/* Submit what is queued: the number submitted or -errno. */
int pio__ring_submit(pio__ring *r);
/* Take one completion (waiting for it when `wait`): 0 with its tag and
 * result, -EAGAIN when !wait and none is there, or -errno (-EINTR too). */
int pio__ring_complete(pio__ring *r, bool wait, uint64_t *tag, int *res);

#endif /* PIO_IO_RING_H */
