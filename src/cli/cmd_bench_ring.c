/*
 * prismio bench ring: items/s through the SPSC ring and the MPMC queue,
 * one producer and one consumer thread (this machine has two cores), next
 * to Concurrency Kit's ck_ring (SPSC and MPMC flavours) measured in the
 * same run when the CLI was built with it. Both sides spin on their try
 * operations, so this measures the structures, not sleeping. ck_ring's
 * operations are inline functions in its header; ours are calls into the
 * shared library, so the bulk row (32 items per call, how the pipeline
 * moves batches) is shown too.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef PIO_HAVE_CK
#include <ck_ring.h>
#endif

#define CMD "bench"
#define CAP 1024

enum kind { OURS_SPSC, OURS_MPMC, CK_SPSC, CK_MPMC, OURS_SPSC_BULK, KINDS };
static const char *const kind_names[KINDS] = {"pio_spsc", "pio_mpmc", "ck_ring spsc",
                                              "ck_ring mpmc", "pio_spsc bulk"};
#define BULK 32

struct run {
    enum kind kind;
    uint64_t n;
    pio_spsc *spsc;
    pio_mpmc *mpmc;
#ifdef PIO_HAVE_CK
    ck_ring_t ck;
    ck_ring_buffer_t *ckbuf;
#endif
    _Atomic int go;
    uint64_t sum;
};

static bool push(struct run *r, void *v)
{
    switch (r->kind) {
    case OURS_SPSC:
        return pio_spsc_push(r->spsc, v);
    case OURS_MPMC:
        return pio_mpmc_push(r->mpmc, v);
#ifdef PIO_HAVE_CK
    case CK_SPSC:
        return ck_ring_enqueue_spsc(&r->ck, r->ckbuf, v);
    case CK_MPMC:
        return ck_ring_enqueue_mpmc(&r->ck, r->ckbuf, v);
#endif
    default:
        return false;
    }
}

static bool pop(struct run *r, void **v)
{
    switch (r->kind) {
    case OURS_SPSC:
        return pio_spsc_pop(r->spsc, v);
    case OURS_MPMC:
        return pio_mpmc_pop(r->mpmc, v);
#ifdef PIO_HAVE_CK
    case CK_SPSC:
        return ck_ring_dequeue_spsc(&r->ck, r->ckbuf, v);
    case CK_MPMC:
        return ck_ring_dequeue_mpmc(&r->ck, r->ckbuf, v);
#endif
    default:
        return false;
    }
}

static void *producer(void *arg)
{
    struct run *r = arg;
    /* acquire: start together with the consumer. */
    while (!atomic_load_explicit(&r->go, memory_order_acquire))
        ;
    if (r->kind == OURS_SPSC_BULK) { /* batches of BULK, as the pipeline moves them */
        void *b[BULK];
        for (uintptr_t i = 1; i <= r->n;) {
            size_t k = 0;
            for (; k < BULK && i + k <= r->n; k++)
                b[k] = (void *)(i + k);
            for (size_t done = 0; done < k;)
                done += pio_spsc_push_bulk(r->spsc, b + done, k - done);
            i += k;
        }
        return NULL;
    }
    for (uintptr_t i = 1; i <= r->n; i++)
        while (!push(r, (void *)i))
            ;
    return NULL;
}

/* Seconds to move r->n items through; the consumer runs on this thread. */
static double run_once(enum kind k, uint64_t n)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    r.kind = k;
    r.n = n;
    if ((k == OURS_SPSC || k == OURS_SPSC_BULK) && pio_spsc_create(&r.spsc, CAP) != 0)
        return -1;
    if (k == OURS_MPMC && pio_mpmc_create(&r.mpmc, CAP) != 0)
        return -1;
#ifdef PIO_HAVE_CK
    if (k == CK_SPSC || k == CK_MPMC) {
        r.ckbuf = aligned_alloc(64, sizeof(ck_ring_buffer_t) * CAP);
        if (!r.ckbuf)
            return -1;
        ck_ring_init(&r.ck, CAP);
    }
#else
    if (k == CK_SPSC || k == CK_MPMC)
        return -1;
#endif
    pthread_t t;
    pthread_create(&t, NULL, producer, &r);
    double t0 = cli_now();
    /* release: pairs with the producer's acquire. */
    atomic_store_explicit(&r.go, 1, memory_order_release);
    uint64_t got = 0, sum = 0;
    void *v;
    if (k == OURS_SPSC_BULK) {
        void *b[BULK];
        while (got < n) {
            size_t m = pio_spsc_pop_bulk(r.spsc, b, BULK);
            for (size_t i = 0; i < m; i++)
                sum += (uintptr_t)b[i];
            got += m;
        }
    }
    while (got < n) {
        if (pop(&r, &v)) {
            sum += (uintptr_t)v;
            got++;
        }
    }
    double dt = cli_now() - t0;
    pthread_join(t, NULL);
    pio_spsc_destroy(r.spsc);
    pio_mpmc_destroy(r.mpmc);
#ifdef PIO_HAVE_CK
    free(r.ckbuf);
#endif
    /* every item exactly once: 1 + 2 + ... + n */
    return sum == n * (n + 1) / 2 ? dt : -1;
}

int cmd_bench_ring(int argc, char **argv)
{
    uint64_t n = 20000000, repeat = 5;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if ((strcmp(argv[i], "--items") == 0 || strcmp(argv[i], "--repeat") == 0) &&
                 i + 1 < argc) {
            uint64_t *dst = argv[i][2] == 'i' ? &n : &repeat;
            if (!cli_parse_u64(argv[++i], dst, true) || *dst == 0) {
                cli_err(CMD, "ring: invalid %s '%s'", argv[i - 1], argv[i]);
                return EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: prismio bench ring [--items N] [--repeat N] [--json]\n\n"
                   "Items/s through pio_spsc and pio_mpmc (capacity %d, one producer, one\n"
                   "consumer, spinning), next to ck_ring's SPSC and MPMC in the same run; best\n"
                   "of N runs (5) of N items (20M) each.\n",
                   CAP);
            return EXIT_OK;
        } else {
            cli_err(CMD, "ring: unexpected argument '%s' (see --help)", argv[i]);
            return EXIT_USAGE;
        }
    }
    double best_t[KINDS];
    for (int k = 0; k < KINDS; k++)
        best_t[k] = -1;
    /* interleaved repetitions, so drift hits every structure alike */
    for (uint64_t rep = 0; rep < repeat; rep++)
        for (int k = 0; k < KINDS; k++) {
            double t = run_once((enum kind)k, n);
            if (t > 0 && (best_t[k] < 0 || t < best_t[k]))
                best_t[k] = t;
        }
    double rate[KINDS];
    for (int k = 0; k < KINDS; k++)
        rate[k] = best_t[k] > 0 ? (double)n / best_t[k] : 0;
    if (json) {
        cli_json_printf("{\"benchmark\":\"ring\",\"items\":%llu,\"repeat\":%llu,\"capacity\":%d",
                        (unsigned long long)n, (unsigned long long)repeat, CAP);
        cli_json_printf(",\"spsc_items_per_s\":%.0f,\"mpmc_items_per_s\":%.0f", rate[OURS_SPSC],
                        rate[OURS_MPMC]);
        cli_json_printf(",\"spsc_bulk%d_items_per_s\":%.0f", BULK, rate[OURS_SPSC_BULK]);
        if (rate[CK_SPSC] > 0)
            cli_json_printf(",\"ck_spsc_items_per_s\":%.0f,\"ck_mpmc_items_per_s\":%.0f,"
                            "\"ratio_spsc\":%.3f,\"ratio_spsc_bulk\":%.3f,\"ratio_mpmc\":%.3f",
                            rate[CK_SPSC], rate[CK_MPMC], rate[OURS_SPSC] / rate[CK_SPSC],
                            rate[OURS_SPSC_BULK] / rate[CK_SPSC], rate[OURS_MPMC] / rate[CK_MPMC]);
        printf("}\n");
        return EXIT_OK;
    }
    printf("rings, 1 producer + 1 consumer, capacity %d, %llu items, best of %llu\n", CAP,
           (unsigned long long)n, (unsigned long long)repeat);
    for (int k = 0; k < KINDS; k++) {
        if (rate[k] <= 0) {
            printf("  %-13s not available (built without libck)\n", kind_names[k]);
            continue;
        }
        printf("  %-13s %8.1f M items/s", kind_names[k], rate[k] / 1e6);
        int peer = k == OURS_SPSC || k == OURS_SPSC_BULK ? CK_SPSC : k == OURS_MPMC ? CK_MPMC : -1;
        if (peer >= 0 && rate[peer] > 0)
            printf("   ratio vs %s %.2fx", kind_names[peer], rate[k] / rate[peer]);
        printf("\n");
    }
    return EXIT_OK;
}
