/*
 * io: a build without io_uring (no liburing-dev, or -DPIO_WITH_URING=OFF).
 * No ring can be set up, so the engines fall back to pread/pwrite with a
 * note saying so; nothing else here is ever reached.
 */
#include <errno.h>

#include "io/io_ring.h"
#include "prismio/io.h"

#include "common/pio_common.h"

int pio__ring_init(pio__ring **out, unsigned entries)
{
    (void)entries;
    *out = NULL;
    return PIO_ENOTSUPPORTED;
}

void pio__ring_exit(pio__ring *r)
{
    (void)r;
}

int pio__ring_register_file(pio__ring *r, int fd)
{
    (void)r;
    (void)fd;
    return -ENOSYS;
}

int pio__ring_register_buffers(pio__ring *r, const struct iovec *iov, unsigned n)
{
    (void)r;
    (void)iov;
    (void)n;
    return -ENOSYS;
}

int pio__ring_prep_read(pio__ring *r, int fd, bool fixed_file, void *buf, unsigned len,
                        uint64_t off, int buf_index, uint64_t tag)
{
    (void)r, (void)fd, (void)fixed_file, (void)buf, (void)len, (void)off, (void)buf_index;
    (void)tag;
    return -ENOSYS;
}

int pio__ring_prep_write(pio__ring *r, int fd, const void *buf, unsigned len, uint64_t off,
                         uint64_t tag)
{
    (void)r, (void)fd, (void)buf, (void)len, (void)off, (void)tag;
    return -ENOSYS;
}

int pio__ring_submit(pio__ring *r)
{
    (void)r;
    return -ENOSYS;
}

int pio__ring_complete(pio__ring *r, bool wait, uint64_t *tag, int *res)
{
    (void)r, (void)wait, (void)tag, (void)res;
    return -ENOSYS;
}

PIO_API bool pio_io_engine_built(enum pio_io_engine e)
{
    return e == PIO_IO_MMAP || e == PIO_IO_PREAD || (e == PIO_IO_URING && false);
}
