/*
 * concurrent: the buffer pool. One allocation holds `count` aligned
 * buffers; their addresses circulate through an MPMC queue, so getting and
 * putting a buffer is one lock-free queue operation and never allocates.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "prismio/concurrent.h"

#include "common/pio_common.h"

struct pio_pool {
    pio_mpmc *free;
    uint8_t *mem;
    size_t size, stride, count;
};

PIO_API int pio_pool_create(pio_pool **out, size_t count, size_t size, size_t align)
{
    *out = NULL;
    if (count == 0 || size == 0 || align < 64 || (align & (align - 1)) ||
        size > ((size_t)1 << 40) / count)
        return PIO_EUSAGE;
    pio_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->size = size;
    p->stride = (size + align - 1) / align * align;
    p->count = count;
    int rc = pio_mpmc_create(&p->free, count);
    size_t total = p->stride * count;
    if (rc == 0) /* written all over at once: huge pages from 2 MiB on */
        p->mem = pio_alloc_big(align, &total);
    if (rc == 0 && !p->mem)
        rc = -ENOMEM;
    if (rc != 0) {
        pio_mpmc_destroy(p->free);
        free(p);
        return rc;
    }
    for (size_t i = 0; i < count; i++)
        pio_mpmc_push(p->free, p->mem + i * p->stride);
    *out = p;
    return 0;
}

PIO_API void pio_pool_destroy(pio_pool *p)
{
    if (!p)
        return;
    pio_mpmc_destroy(p->free);
    free(p->mem);
    free(p);
}

PIO_API void *pio_pool_get(pio_pool *p)
{
    void *b;
    return pio_mpmc_pop(p->free, &b) ? b : NULL;
}

PIO_API void *pio_pool_get_wait(pio_pool *p)
{
    void *b;
    return pio_mpmc_pop_wait(p->free, &b) == 0 ? b : NULL;
}

PIO_API void pio_pool_put(pio_pool *p, void *buf)
{
    assert((uint8_t *)buf >= p->mem && (uint8_t *)buf < p->mem + p->stride * p->count &&
           ((size_t)((uint8_t *)buf - p->mem)) % p->stride == 0);
    /* Never full (it holds at most `count`); _wait wakes blocked getters. */
    pio_mpmc_push_wait(p->free, buf);
}

PIO_API size_t pio_pool_buffer_size(const pio_pool *p)
{
    return p->size;
}

PIO_API void pio_pool_close(pio_pool *p)
{
    pio_mpmc_close(p->free);
}
