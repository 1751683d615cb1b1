/*
 * io: a build without libcurl (no libcurl4-*-dev, or -DPIO_WITH_CURL=OFF).
 * Remote objects cannot be read: opening one says so; nothing else here is
 * ever reached.
 */
#include <errno.h>

#include "io/pio_io.h"

#include "common/pio_common.h"

int pio__remote_open(pio_remote **out, const char *url, uint64_t head, struct pio_error *err)
{
    (void)head;
    *out = NULL;
    return pio_error_set(err, PIO_ENOTSUPPORTED,
                         "%s: remote files are not supported by this build (built without "
                         "libcurl: install libcurl4-openssl-dev and rebuild)",
                         url);
}

int pio__remote_upload(const char *url, int fd, uint64_t size, struct pio_error *err)
{
    (void)fd, (void)size;
    return pio_error_set(err, PIO_ENOTSUPPORTED,
                         "%s: remote files are not supported by this build (built without "
                         "libcurl: install libcurl4-openssl-dev and rebuild)",
                         url);
}

void pio__remote_close(pio_remote *rm)
{
    (void)rm;
}

uint64_t pio__remote_size(const pio_remote *rm)
{
    (void)rm;
    return 0;
}

const uint8_t *pio__remote_head(const pio_remote *rm, uint64_t *len)
{
    (void)rm;
    *len = 0;
    return NULL;
}

void pio__remote_stats(const pio_remote *rm, uint64_t *requests, uint64_t *bytes, uint64_t *retries)
{
    (void)rm;
    *requests = *bytes = *retries = 0;
}

int pio__remote_read(pio_remote *rm, unsigned n, const uint64_t *off, const uint64_t *len,
                     uint8_t *const *dst, struct pio_error *err)
{
    (void)rm, (void)n, (void)off, (void)len, (void)dst;
    return pio_error_set(err, PIO_ENOTSUPPORTED, "built without libcurl");
}

int pio__remote_batch_open(pio_remote_batch **out, pio_remote *rm, unsigned depth)
{
    (void)rm, (void)depth;
    *out = NULL;
    return PIO_ENOTSUPPORTED;
}

int pio__remote_batch_add(pio_remote_batch *b, uint64_t tag, uint64_t off, uint64_t len,
                          uint8_t *dst)
{
    (void)b, (void)tag, (void)off, (void)len, (void)dst;
    return PIO_ENOTSUPPORTED;
}

int pio__remote_batch_next(pio_remote_batch *b, bool wait, uint64_t *tag, int *rc,
                           struct pio_error *err)
{
    (void)b, (void)wait, (void)tag, (void)rc, (void)err;
    return 0;
}

void pio__remote_batch_close(pio_remote_batch *b)
{
    (void)b;
}

PIO_API bool pio_remote_built(void)
{
    return false;
}
