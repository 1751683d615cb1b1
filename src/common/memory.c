/*
 * Large buffers written all over soon after they are made (pools, staging
 * buffers): 2 MiB-aligned and asking for transparent huge pages where the
 * system grants them on request (THP "madvise"). Filling new memory costs
 * a page fault per page, and in a VM faults are dear: one per 2 MiB
 * instead of per 4 KiB cut a short conversion's fault time, and O_DIRECT
 * writes pin one page per 2 MiB instead of 512.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "pio_common.h"

#define HUGE ((size_t)2 << 20)

void *pio_alloc_big(size_t align, size_t *len)
{
    if (*len < HUGE)
        return aligned_alloc(align, (*len + align - 1) / align * align);
    *len = (*len + HUGE - 1) / HUGE * HUGE;
    void *p = aligned_alloc(align > HUGE ? align : HUGE, *len);
    if (p)
        pio_huge_hint(p, *len);
    return p;
}

void pio_huge_hint(void *p, size_t len)
{
    madvise(p, len, MADV_HUGEPAGE); /* a hint: refused is fine */
}
