/*
 * The Concurrency Kit peer of `prismio bench ring`: ck_ring's SPSC and
 * MPMC flavours moving the same items the same way as bench_ring.c moves
 * them through ours (one producer thread, the consumer on the caller's,
 * both spinning). Built only where libck was found and PIO_WITH_CK is on;
 * bench_ring_nock.c stands in otherwise. Its own loop, in its own
 * translation unit, so ck_ring's operations stay inlined from its header.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <ck_ring.h>

#include "bench_common.h"

const bool bench_ck_built = true;
const char bench_ck_note[] = "built with libck";

struct ck_run {
    bool mpmc;
    uint64_t n;
    ck_ring_t ring;
    ck_ring_buffer_t *buf;
    _Atomic int go;
};

static void *ck_producer(void *arg)
{
    struct ck_run *r = arg;
    /* acquire: start together with the consumer. */
    while (!atomic_load_explicit(&r->go, memory_order_acquire))
        ;
    for (uintptr_t i = 1; i <= r->n; i++) {
        if (r->mpmc)
            while (!ck_ring_enqueue_mpmc(&r->ring, r->buf, (void *)i))
                ;
        else
            while (!ck_ring_enqueue_spsc(&r->ring, r->buf, (void *)i))
                ;
    }
    return NULL;
}

double bench_ck_ring_run(bool mpmc, uint64_t n, unsigned cap)
{
    struct ck_run r;
    memset(&r, 0, sizeof(r));
    r.mpmc = mpmc;
    r.n = n;
    r.buf = aligned_alloc(64, sizeof(ck_ring_buffer_t) * cap);
    if (!r.buf)
        return -1;
    ck_ring_init(&r.ring, cap);
    pthread_t t;
    if (pthread_create(&t, NULL, ck_producer, &r) != 0) {
        free(r.buf);
        return -1;
    }
    double t0 = cli_now();
    /* release: pairs with the producer's acquire. */
    atomic_store_explicit(&r.go, 1, memory_order_release);
    uint64_t got = 0, sum = 0;
    void *v;
    while (got < n) {
        bool ok = mpmc ? ck_ring_dequeue_mpmc(&r.ring, r.buf, &v)
                       : ck_ring_dequeue_spsc(&r.ring, r.buf, &v);
        if (ok) {
            sum += (uintptr_t)v;
            got++;
        }
    }
    double dt = cli_now() - t0;
    pthread_join(t, NULL);
    free(r.buf);
    /* every item exactly once: 1 + 2 + ... + n */
    return sum == n * (n + 1) / 2 ? dt : -1;
}
