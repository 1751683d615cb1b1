/*
 * concurrent: the single-producer single-consumer ring.
 *
 * Two monotonically increasing indices: tail (next slot to fill, written by
 * the producer) and head (next slot to read, written by the consumer), each
 * on its own cache line with its owner's cached copy of the other index.
 * The producer only reloads head when its cached copy says the ring looks
 * full, the consumer only reloads tail when it looks empty, so in steady
 * state each side touches the other's line once per lap, not per item.
 * Bulk operations publish many items with one release store.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "concurrent/pio_event.h"
#include "prismio/concurrent.h"

#include "common/pio_common.h"

struct pio_spsc {
    alignas(64) _Atomic size_t head; /* consumer-owned */
    size_t cached_tail;              /* consumer's copy of tail */
    alignas(64) _Atomic size_t tail; /* producer-owned */
    size_t cached_head;              /* producer's copy of head */
    alignas(64) size_t mask;
    void **slots;
    _Atomic int closed;
    struct pio_event not_empty, not_full;
};

static size_t round_pow2(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

PIO_API int pio_spsc_create(pio_spsc **out, size_t capacity)
{
    *out = NULL;
    if (capacity == 0 || capacity > ((size_t)1 << 30))
        return PIO_EUSAGE;
    pio_spsc *q = aligned_alloc(64, sizeof(*q));
    if (!q)
        return -ENOMEM;
    memset(q, 0, sizeof(*q));
    size_t cap = round_pow2(capacity);
    q->slots = calloc(cap, sizeof(void *));
    if (!q->slots) {
        free(q);
        return -ENOMEM;
    }
    q->mask = cap - 1;
    *out = q;
    return 0;
}

PIO_API void pio_spsc_destroy(pio_spsc *q)
{
    if (!q)
        return;
    free(q->slots);
    free(q);
}

PIO_API size_t pio_spsc_capacity(const pio_spsc *q)
{
    return q->mask + 1;
}

static size_t push_bulk(pio_spsc *q, void *const *items, size_t n)
{
    /* relaxed: tail is written only by this (producer) thread. */
    size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    size_t room = q->mask + 1 - (t - q->cached_head);
    if (room < n) {
        /* acquire: pairs with the consumer's release of head, so the
         * slots it freed are no longer being read. */
        q->cached_head = atomic_load_explicit(&q->head, memory_order_acquire);
        room = q->mask + 1 - (t - q->cached_head);
    }
    if (n > room)
        n = room;
    for (size_t i = 0; i < n; i++)
        q->slots[(t + i) & q->mask] = items[i];
    /* release: the slot writes above happen before the consumer sees the
     * new tail (pairs with its acquire load). */
    atomic_store_explicit(&q->tail, t + n, memory_order_release);
    return n;
}

PIO_API bool pio_spsc_push(pio_spsc *q, void *item)
{
    return push_bulk(q, &item, 1) == 1;
}

/* Bulk operations wake a sleeping other side: one fence per batch. */
PIO_API size_t pio_spsc_push_bulk(pio_spsc *q, void *const *items, size_t n)
{
    size_t done = push_bulk(q, items, n);
    if (done)
        pio_event_notify(&q->not_empty);
    return done;
}

static size_t pop_bulk(pio_spsc *q, void **items, size_t n)
{
    /* relaxed: head is written only by this (consumer) thread. */
    size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    size_t avail = q->cached_tail - h;
    if (avail < n) {
        /* acquire: pairs with the producer's release of tail, so the slot
         * contents are visible. */
        q->cached_tail = atomic_load_explicit(&q->tail, memory_order_acquire);
        avail = q->cached_tail - h;
    }
    if (n > avail)
        n = avail;
    for (size_t i = 0; i < n; i++)
        items[i] = q->slots[(h + i) & q->mask];
    /* release: our reads of the slots happen before the producer may
     * overwrite them (pairs with its acquire of head). */
    atomic_store_explicit(&q->head, h + n, memory_order_release);
    return n;
}

PIO_API bool pio_spsc_pop(pio_spsc *q, void **item)
{
    return pop_bulk(q, item, 1) == 1;
}

PIO_API size_t pio_spsc_pop_bulk(pio_spsc *q, void **items, size_t n)
{
    size_t done = pop_bulk(q, items, n);
    if (done)
        pio_event_notify(&q->not_full);
    return done;
}

static bool try_push(void *q, void *item)
{
    return pio_spsc_push(q, item);
}

static bool try_pop(void *q, void *item)
{
    return pio_spsc_pop(q, item);
}

PIO_API int pio_spsc_push_wait(pio_spsc *q, void *item)
{
    return pio_blocking_op(q, item, try_push, &q->not_full, &q->not_empty, &q->closed, false);
}

PIO_API int pio_spsc_pop_wait(pio_spsc *q, void **item)
{
    return pio_blocking_op(q, item, try_pop, &q->not_empty, &q->not_full, &q->closed, true);
}

PIO_API void pio_spsc_close(pio_spsc *q)
{
    /* release: pushes before the close are visible to whoever sees it. */
    atomic_store_explicit(&q->closed, 1, memory_order_release);
    pio_event_wake_all(&q->not_empty);
    pio_event_wake_all(&q->not_full);
}
