/*
 * prism-io: lock-free structures for the streaming pipeline.
 *
 * - pio_spsc: single-producer single-consumer ring of pointers.
 * - pio_mpmc: bounded multi-producer multi-consumer queue of pointers.
 * - pio_pool: fixed set of aligned buffers, recycled without locks.
 *
 * The try operations (push, pop, get) never block and never take a lock.
 * The _wait operations spin briefly, then sleep on a futex until they can
 * proceed or the structure is closed, so a full or empty queue costs no
 * CPU (backpressure). Sleepers are woken by the _wait and bulk operations
 * of the other side (and by close), not by single try push/pop, which stay
 * fence-free: a side that may sleep must face _wait or bulk calls.
 *
 * Capacities are rounded up to a power of two. Items are non-NULL pointers.
 */
#ifndef PRISMIO_CONCURRENT_H
#define PRISMIO_CONCURRENT_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- SPSC ring: one producer thread, one consumer thread ---- */

typedef struct pio_spsc pio_spsc;

/* A ring of `capacity` slots, rounded up to a power of two: *out is the
 * caller's, freed with pio_spsc_destroy (NULL on failure). 0, PIO_EUSAGE
 * (capacity 0 or above 2^30) or -ENOMEM. */
PIO_API int pio_spsc_create(pio_spsc **out, size_t capacity);
/* Free the ring (NULL is accepted); no thread may still use it. Items left
 * in it are the caller's: they are not freed. */
PIO_API void pio_spsc_destroy(pio_spsc *q);
/* Slots in the ring: the capacity after rounding. */
PIO_API size_t pio_spsc_capacity(const pio_spsc *q);

/* Producer side. false when full (the item is not taken). */
PIO_API bool pio_spsc_push(pio_spsc *q, void *item);
/* Push up to n items in order; returns how many went in. */
PIO_API size_t pio_spsc_push_bulk(pio_spsc *q, void *const *items, size_t n);
/* Block until there is room: 0, or -EPIPE once the ring is closed (the
 * item is then not pushed). */
PIO_API int pio_spsc_push_wait(pio_spsc *q, void *item);

/* Consumer side. false when empty. */
PIO_API bool pio_spsc_pop(pio_spsc *q, void **item);
/* Pop up to n items in order; returns how many came out. */
PIO_API size_t pio_spsc_pop_bulk(pio_spsc *q, void **items, size_t n);
/* Block until an item arrives: 0, or -EPIPE once the ring is closed and
 * drained (items pushed before the close are still delivered). */
PIO_API int pio_spsc_pop_wait(pio_spsc *q, void **item);

/* Either side: no more pushes; wakes every sleeper. Idempotent. */
PIO_API void pio_spsc_close(pio_spsc *q);

/* ---- bounded MPMC queue (per-slot sequence numbers) ---- */

typedef struct pio_mpmc pio_mpmc;

/*
 * The ring's operations for any number of producer and consumer threads
 * (all of them thread-safe), less the bulk ones:
 *   pio_mpmc_create: capacity rounded up to a power of two (at least 2);
 *     0, PIO_EUSAGE (capacity 0 or above 2^30) or -ENOMEM. *out is the
 *     caller's (NULL on failure), freed with pio_mpmc_destroy (NULL is
 *     accepted; no thread may still use it; items left are not freed).
 *   pio_mpmc_capacity: slots, after rounding.
 *   pio_mpmc_push, pio_mpmc_pop: never block; false when full / empty.
 *   pio_mpmc_push_wait, pio_mpmc_pop_wait: 0, or -EPIPE once closed (pops
 *     still deliver what was pushed before the close, then fail).
 *   pio_mpmc_close: no more pushes; wakes every sleeper.
 * A side that may sleep must face _wait calls: a try push or pop wakes no one.
 */
PIO_API int pio_mpmc_create(pio_mpmc **out, size_t capacity);
PIO_API void pio_mpmc_destroy(pio_mpmc *q);
PIO_API size_t pio_mpmc_capacity(const pio_mpmc *q);
PIO_API bool pio_mpmc_push(pio_mpmc *q, void *item);
PIO_API bool pio_mpmc_pop(pio_mpmc *q, void **item);
PIO_API int pio_mpmc_push_wait(pio_mpmc *q, void *item);
PIO_API int pio_mpmc_pop_wait(pio_mpmc *q, void **item);
PIO_API void pio_mpmc_close(pio_mpmc *q);

/* ---- buffer pool ---- */

typedef struct pio_pool pio_pool;

/* `count` buffers of `size` bytes aligned to `align` (a power of two, at
 * least 64), in one allocation. Any thread may get and put. *out is the
 * caller's (NULL on failure), freed with pio_pool_destroy. 0, PIO_EUSAGE
 * (count or size 0, a bad align, count above 2^30, count * size above
 * 2^40) or -ENOMEM. */
PIO_API int pio_pool_create(pio_pool **out, size_t count, size_t size, size_t align);
/* Frees the pool and every buffer, put back or not: none may be used
 * afterwards, and no thread may still use the pool. NULL is accepted. */
PIO_API void pio_pool_destroy(pio_pool *p);
/* A free buffer, or NULL when all are out. */
PIO_API void *pio_pool_get(pio_pool *p);
/* Block until a buffer is free: it, or NULL once the pool is closed and
 * none is free (buffers still in the pool are handed out after a close). */
PIO_API void *pio_pool_get_wait(pio_pool *p);
/* Return a buffer obtained from this pool (asserted); wakes a waiting get.
 * After pio_pool_close the buffer is not taken back (it stays allocated,
 * out of circulation, until pio_pool_destroy). */
PIO_API void pio_pool_put(pio_pool *p, void *buf);
/* The `size` given to pio_pool_create: the usable bytes of each buffer. */
PIO_API size_t pio_pool_buffer_size(const pio_pool *p);
/* Wake and fail every waiting get (pipeline shutdown). Idempotent. */
PIO_API void pio_pool_close(pio_pool *p);

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_CONCURRENT_H */
