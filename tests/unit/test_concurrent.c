/*
 * Lock-free structures under stress (also run under ThreadSanitizer):
 *  - SPSC ring: 10^7 items through a small ring, mixing single, bulk and
 *    blocking operations: every item exactly once, in order;
 *  - MPMC queue: 4 producers x 4 consumers, 10^7 items in all: every item
 *    exactly once, in order per producer as each consumer sees them;
 *  - close: blocked waiters wake, items pushed before the close still come
 *    out, pushes after it fail;
 *  - buffer pool: threads getting and putting aligned buffers, no buffer
 *    ever held by two threads at once, all back at the end.
 * Small capacities make the rings fill and drain constantly, so the futex
 * sleep/wake paths run, not just the fast paths.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include <prismio/concurrent.h>

#include "pio_test.h"

#define N_ITEMS 10000000u

static void basic(void)
{
    pio_spsc *s;
    CHECK(pio_spsc_create(&s, 0) == PIO_EUSAGE);
    CHECK(pio_spsc_create(&s, 5) == 0);
    CHECK(pio_spsc_capacity(s) == 8);
    void *v;
    CHECK(!pio_spsc_pop(s, &v));
    for (uintptr_t i = 1; i <= 8; i++)
        CHECK(pio_spsc_push(s, (void *)i));
    CHECK(!pio_spsc_push(s, (void *)9));
    void *out[16];
    CHECK(pio_spsc_pop_bulk(s, out, 16) == 8);
    CHECK(out[0] == (void *)1 && out[7] == (void *)8);
    void *in[10] = {(void *)1, (void *)2, (void *)3, (void *)4, (void *)5,
                    (void *)6, (void *)7, (void *)8, (void *)9, (void *)10};
    CHECK(pio_spsc_push_bulk(s, in, 10) == 8);
    pio_spsc_close(s);
    CHECK(pio_spsc_push_wait(s, (void *)1) == -EPIPE);
    for (int i = 0; i < 8; i++)
        CHECK(pio_spsc_pop_wait(s, &v) == 0 && v == in[i]);
    CHECK(pio_spsc_pop_wait(s, &v) == -EPIPE);
    pio_spsc_destroy(s);

    pio_mpmc *m;
    CHECK(pio_mpmc_create(&m, 3) == 0);
    CHECK(pio_mpmc_capacity(m) == 4);
    for (uintptr_t i = 1; i <= 4; i++)
        CHECK(pio_mpmc_push(m, (void *)i));
    CHECK(!pio_mpmc_push(m, (void *)5));
    CHECK(pio_mpmc_pop(m, &v) && v == (void *)1);
    pio_mpmc_destroy(m);
}

/* ---- SPSC stress ---- */

static void *spsc_producer(void *arg)
{
    pio_spsc *s = arg;
    uintptr_t next = 1;
    void *batch[37];
    while (next <= N_ITEMS) {
        if (next % 3 == 0) { /* a bulk push, retried until all are in */
            size_t n = 0;
            while (n < 37 && next + n <= N_ITEMS) {
                batch[n] = (void *)(next + n);
                n++;
            }
            size_t done = 0;
            while (done < n) {
                done += pio_spsc_push_bulk(s, batch + done, n - done);
                if (done < n)
                    CHECK(pio_spsc_push_wait(s, batch[done++]) == 0);
            }
            next += n;
        } else {
            CHECK(pio_spsc_push_wait(s, (void *)next) == 0);
            next++;
        }
    }
    pio_spsc_close(s);
    return NULL;
}

static void spsc_stress(void)
{
    pio_spsc *s;
    CHECK(pio_spsc_create(&s, 64) == 0);
    pthread_t t;
    pthread_create(&t, NULL, spsc_producer, s);
    uintptr_t expect = 1;
    void *items[50];
    for (;;) {
        size_t n = pio_spsc_pop_bulk(s, items, 50);
        if (n == 0) {
            void *v;
            if (pio_spsc_pop_wait(s, &v) != 0)
                break;
            items[0] = v;
            n = 1;
        }
        for (size_t i = 0; i < n; i++) {
            if ((uintptr_t)items[i] != expect) {
                CHECKF(0, "spsc: got %lu, expected %lu", (unsigned long)(uintptr_t)items[i],
                       (unsigned long)expect);
                goto done;
            }
            expect++;
        }
    }
done:
    pthread_join(t, NULL);
    CHECKF(expect == N_ITEMS + 1, "spsc: %lu items arrived", (unsigned long)(expect - 1));
    pio_spsc_destroy(s);
}

/* ---- MPMC stress ---- */

#define NPROD    4
#define NCONS    4
#define PER_PROD (N_ITEMS / NPROD)

struct mpmc_ctx {
    pio_mpmc *q;
    _Atomic uint8_t *seen; /* one flag per item */
    _Atomic int producers_left;
    int id;
    int order_errors;
};

static struct mpmc_ctx ctxs[NPROD + NCONS];

static void *mpmc_producer(void *arg)
{
    struct mpmc_ctx *c = arg;
    for (uintptr_t k = 0; k < PER_PROD; k++) {
        uintptr_t item = ((uintptr_t)c->id << 40) | (k + 1);
        CHECK(pio_mpmc_push_wait(c->q, (void *)item) == 0);
    }
    /* acq_rel: the last producer out closes the queue after every push. */
    if (atomic_fetch_sub_explicit(&ctxs[0].producers_left, 1, memory_order_acq_rel) == 1)
        pio_mpmc_close(c->q);
    return NULL;
}

static void *mpmc_consumer(void *arg)
{
    struct mpmc_ctx *c = arg;
    uintptr_t last[NPROD] = {0};
    void *v;
    while (pio_mpmc_pop_wait(c->q, &v) == 0) {
        uintptr_t item = (uintptr_t)v, p = item >> 40, k = item & ((1ull << 40) - 1);
        if (p >= NPROD || k == 0 || k > PER_PROD || k <= last[p]) {
            c->order_errors++;
            continue;
        }
        last[p] = k;
        /* relaxed: a counter per item; the joins order the final check. */
        atomic_fetch_add_explicit(&c->seen[p * PER_PROD + k - 1], 1, memory_order_relaxed);
    }
    return NULL;
}

static void mpmc_stress(void)
{
    pio_mpmc *q;
    CHECK(pio_mpmc_create(&q, 128) == 0);
    _Atomic uint8_t *seen = calloc(N_ITEMS, 1);
    pthread_t t[NPROD + NCONS];
    atomic_store(&ctxs[0].producers_left, NPROD);
    for (int i = 0; i < NPROD + NCONS; i++) {
        ctxs[i].q = q;
        ctxs[i].seen = seen;
        ctxs[i].id = i;
        ctxs[i].order_errors = 0;
    }
    for (int i = 0; i < NCONS; i++)
        pthread_create(&t[NPROD + i], NULL, mpmc_consumer, &ctxs[NPROD + i]);
    for (int i = 0; i < NPROD; i++)
        pthread_create(&t[i], NULL, mpmc_producer, &ctxs[i]);
    for (int i = 0; i < NPROD + NCONS; i++)
        pthread_join(t[i], NULL);
    int order = 0;
    for (int i = 0; i < NCONS; i++)
        order += ctxs[NPROD + i].order_errors;
    CHECKF(order == 0, "mpmc: %d items out of order per producer", order);
    size_t missing = 0, dup = 0;
    for (size_t i = 0; i < N_ITEMS; i++) {
        uint8_t n = atomic_load_explicit(&seen[i], memory_order_relaxed);
        missing += n == 0;
        dup += n > 1;
    }
    CHECKF(missing == 0 && dup == 0, "mpmc: %zu missing, %zu duplicated", missing, dup);
    free((void *)seen);
    pio_mpmc_destroy(q);
}

/* ---- close wakes a blocked waiter ---- */

static void *blocked_pop(void *arg)
{
    void *v;
    return (void *)(intptr_t)pio_mpmc_pop_wait(arg, &v);
}

static void close_wakes(void)
{
    pio_mpmc *q;
    CHECK(pio_mpmc_create(&q, 4) == 0);
    pthread_t t;
    pthread_create(&t, NULL, blocked_pop, q);
    struct timespec d = {0, 20000000};
    nanosleep(&d, NULL); /* let it go to sleep */
    pio_mpmc_close(q);
    void *rc;
    pthread_join(t, &rc);
    CHECK((intptr_t)rc == -EPIPE);
    CHECK(pio_mpmc_push_wait(q, (void *)1) == -EPIPE);
    pio_mpmc_destroy(q);
}

/* ---- pool ---- */

#define POOL_N      8
#define POOL_ROUNDS 200000

static pio_pool *pool;

static void *pool_worker(void *arg)
{
    uintptr_t me = (uintptr_t)arg;
    for (int r = 0; r < POOL_ROUNDS; r++) {
        uint64_t *b = pio_pool_get_wait(pool);
        CHECK(b != NULL && (uintptr_t)b % 256 == 0);
        if (!b)
            break;
        b[0] = me; /* if two threads held it, one would see the other's mark */
        b[1] = (uint64_t)r;
        if (b[0] != me || b[1] != (uint64_t)r)
            CHECKF(0, "buffer %p shared", (void *)b);
        pio_pool_put(pool, b);
    }
    return NULL;
}

static void pool_stress(void)
{
    CHECK(pio_pool_create(&pool, POOL_N, 1000, 256) == 0);
    CHECK(pio_pool_buffer_size(pool) == 1000);
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, pool_worker, (void *)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    void *all[POOL_N + 1];
    int got = 0;
    while (got <= POOL_N && (all[got] = pio_pool_get(pool)) != NULL)
        got++;
    CHECKF(got == POOL_N, "pool: %d buffers back of %d", got, POOL_N);
    pio_pool_close(pool);
    CHECK(pio_pool_get_wait(pool) == NULL); /* closed and empty */
    pio_pool_destroy(pool);
}

int main(void)
{
    basic();
    spsc_stress();
    mpmc_stress();
    close_wakes();
    pool_stress();
    return TEST_RESULT();
}
