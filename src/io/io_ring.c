/*
 * io: io_uring through liburing (see io_ring.h).
 */
#include <errno.h>
#include <stdlib.h>

#include <liburing.h>

#include "io/io_ring.h"
#include "prismio/io.h"

#include "common/pio_common.h"

struct pio__ring {
    struct io_uring ring;
};

int pio__ring_init(pio__ring **out, unsigned entries)
{
    *out = NULL;
    pio__ring *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    int rc = io_uring_queue_init(entries, &r->ring, 0);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void pio__ring_exit(pio__ring *r)
{
    if (!r)
        return;
    io_uring_queue_exit(&r->ring);
    free(r);
}

int pio__ring_register_file(pio__ring *r, int fd)
{
    return io_uring_register_files(&r->ring, &fd, 1);
}

int pio__ring_register_buffers(pio__ring *r, const struct iovec *iov, unsigned n)
{
    return io_uring_register_buffers(&r->ring, iov, n);
}

int pio__ring_prep_read(pio__ring *r, int fd, bool fixed_file, void *buf, unsigned len,
                        uint64_t off, int buf_index, uint64_t tag)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe)
        return -EBUSY;
    if (buf_index >= 0)
        io_uring_prep_read_fixed(sqe, fd, buf, len, off, buf_index);
    else
        io_uring_prep_read(sqe, fd, buf, len, off);
    if (fixed_file)
        sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

int pio__ring_prep_write(pio__ring *r, int fd, const void *buf, unsigned len, uint64_t off,
                         uint64_t tag)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_write(sqe, fd, buf, len, off);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

int pio__ring_submit(pio__ring *r)
{
    return io_uring_submit(&r->ring);
}

int pio__ring_complete(pio__ring *r, bool wait, uint64_t *tag, int *res)
{
    struct io_uring_cqe *cqe;
    int rc = wait ? io_uring_wait_cqe(&r->ring, &cqe) : io_uring_peek_cqe(&r->ring, &cqe);
    if (rc < 0)
        return rc;
    *tag = io_uring_cqe_get_data64(cqe);
    *res = cqe->res;
    io_uring_cqe_seen(&r->ring, cqe);
    return 0;
}

PIO_API bool pio_io_engine_built(enum pio_io_engine e)
{
    return e == PIO_IO_MMAP || e == PIO_IO_PREAD || (e == PIO_IO_URING && true);
}
