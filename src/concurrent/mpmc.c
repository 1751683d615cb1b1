/*
 * concurrent: the bounded multi-producer multi-consumer queue.
 *
 * Vyukov's design: every cell carries a sequence number telling whose turn
 * it is. A producer claims position p by CAS on the enqueue counter when
 * cell p's sequence equals p, writes the item, and sets the sequence to
 * p + 1 (readable). A consumer claims p when the sequence is p + 1, reads,
 * and sets it to p + capacity (writable for the next lap). Producers and
 * consumers contend only on their own counter; a full or empty queue is
 * detected from the cell's sequence without touching the other counter.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "concurrent/pio_event.h"
#include "prismio/concurrent.h"

#include "common/pio_common.h"

struct mpmc_cell {
    _Atomic size_t seq;
    void *item;
};

struct pio_mpmc {
    alignas(64) _Atomic size_t enq;
    alignas(64) _Atomic size_t deq;
    alignas(64) size_t mask;
    struct mpmc_cell *cells;
    _Atomic int closed;
    struct pio_event not_empty, not_full;
};

PIO_API int pio_mpmc_create(pio_mpmc **out, size_t capacity)
{
    *out = NULL;
    if (capacity == 0 || capacity > ((size_t)1 << 30))
        return PIO_EUSAGE;
    size_t cap = 2;
    while (cap < capacity)
        cap <<= 1;
    pio_mpmc *q = aligned_alloc(64, sizeof(*q));
    if (!q)
        return -ENOMEM;
    memset(q, 0, sizeof(*q));
    q->cells = aligned_alloc(64, (cap * sizeof(struct mpmc_cell) + 63) / 64 * 64);
    if (!q->cells) {
        free(q);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cap; i++) {
        /* relaxed: nothing is shared before create returns. */
        atomic_store_explicit(&q->cells[i].seq, i, memory_order_relaxed);
        q->cells[i].item = NULL;
    }
    q->mask = cap - 1;
    *out = q;
    return 0;
}

PIO_API void pio_mpmc_destroy(pio_mpmc *q)
{
    if (!q)
        return;
    free(q->cells);
    free(q);
}

PIO_API size_t pio_mpmc_capacity(const pio_mpmc *q)
{
    return q->mask + 1;
}

PIO_API bool pio_mpmc_push(pio_mpmc *q, void *item)
{
    /* relaxed: the counter only hands out positions; the cell's sequence
     * carries the synchronisation. */
    size_t pos = atomic_load_explicit(&q->enq, memory_order_relaxed);
    for (;;) {
        struct mpmc_cell *c = &q->cells[pos & q->mask];
        /* acquire: pairs with the consumer's release that freed the cell,
         * so its read of the old item happened before our write. */
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            /* relaxed CAS: claiming the position needs atomicity only. */
            if (atomic_compare_exchange_weak_explicit(&q->enq, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->item = item;
                /* release: the item is written before the cell is marked
                 * readable (pairs with the consumer's acquire). */
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return true;
            }
        } else if (dif < 0) {
            return false; /* the cell still holds last lap's item: full */
        } else {
            pos = atomic_load_explicit(&q->enq, memory_order_relaxed);
        }
    }
}

PIO_API bool pio_mpmc_pop(pio_mpmc *q, void **item)
{
    /* relaxed: as in push. */
    size_t pos = atomic_load_explicit(&q->deq, memory_order_relaxed);
    for (;;) {
        struct mpmc_cell *c = &q->cells[pos & q->mask];
        /* acquire: pairs with the producer's release; the item is visible. */
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->deq, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *item = c->item;
                /* release: our read of the item happens before a producer
                 * of the next lap may overwrite it. */
                atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
                return true;
            }
        } else if (dif < 0) {
            return false; /* not yet written: empty */
        } else {
            pos = atomic_load_explicit(&q->deq, memory_order_relaxed);
        }
    }
}

static bool try_push(void *q, void *item)
{
    return pio_mpmc_push(q, item);
}

static bool try_pop(void *q, void *item)
{
    return pio_mpmc_pop(q, item);
}

PIO_API int pio_mpmc_push_wait(pio_mpmc *q, void *item)
{
    return pio_blocking_op(q, item, try_push, &q->not_full, &q->not_empty, &q->closed, false);
}

PIO_API int pio_mpmc_pop_wait(pio_mpmc *q, void **item)
{
    return pio_blocking_op(q, item, try_pop, &q->not_empty, &q->not_full, &q->closed, true);
}

PIO_API void pio_mpmc_close(pio_mpmc *q)
{
    /* release: pairs with is_closed's acquire. */
    atomic_store_explicit(&q->closed, 1, memory_order_release);
    pio_event_wake_all(&q->not_empty);
    pio_event_wake_all(&q->not_full);
}
