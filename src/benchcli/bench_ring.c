/*
 * prismio bench ring: items/s through the SPSC ring and the MPMC queue,
 * one producer and one consumer thread (this machine has two cores), next
 * to Concurrency Kit's ck_ring (SPSC and MPMC flavours) measured in the
 * same run when the CLI was built with it (bench_ring_ck.c; without libck,
 * or with -DPIO_WITH_CK=OFF, bench_ring_nock.c stands in and the output
 * says the peer is not built). Both sides spin on their try operations, so
 * this measures the structures, not sleeping. ck_ring's operations are
 * inline functions in its header; ours are calls into the shared library,
 * so the bulk row (32 items per call, how the pipeline moves batches) is
 * shown too.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define CMD "bench ring"
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
    _Atomic int go;
};

static bool push(struct run *r, void *v)
{
    return r->kind == OURS_MPMC ? pio_mpmc_push(r->mpmc, v) : pio_spsc_push(r->spsc, v);
}

static bool pop(struct run *r, void **v)
{
    return r->kind == OURS_MPMC ? pio_mpmc_pop(r->mpmc, v) : pio_spsc_pop(r->spsc, v);
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

/* Seconds to move n items through ours; the consumer runs on this thread. */
static double run_ours(enum kind k, uint64_t n)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    r.kind = k;
    r.n = n;
    if ((k == OURS_SPSC || k == OURS_SPSC_BULK) && pio_spsc_create(&r.spsc, CAP) != 0)
        return -1;
    if (k == OURS_MPMC && pio_mpmc_create(&r.mpmc, CAP) != 0)
        return -1;
    pthread_t t;
    if (pthread_create(&t, NULL, producer, &r) != 0) {
        pio_spsc_destroy(r.spsc);
        pio_mpmc_destroy(r.mpmc);
        return -1;
    }
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
    /* every item exactly once: 1 + 2 + ... + n */
    return sum == n * (n + 1) / 2 ? dt : -1;
}

static double run_once(enum kind k, uint64_t n)
{
    if (k == CK_SPSC || k == CK_MPMC)
        return bench_ck_ring_run(k == CK_MPMC, n, CAP);
    return run_ours(k, n);
}

int bench_ring(int argc, char **argv)
{
    uint64_t n = 20000000, repeat = 5;
    bool json = false;
    struct cli_opt opts[] = {
        CLI_OPT_SIZE("items", &n, "N", 1, 0, "items per run (default 20M)"),
        CLI_OPT_SIZE("repeat", &repeat, "N", 1, 0,
                     "runs of each structure; the best counts (default 5)"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_END,
    };
    char more[256];
    snprintf(more, sizeof(more), "Concurrency Kit peer: %s.\n", bench_ck_note);
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = NULL,
        .min_args = 0,
        .max_args = 0,
        .about = "Items/s through pio_spsc and pio_mpmc (capacity 1024, one producer, one\n"
                 "consumer, spinning), next to ck_ring's SPSC and MPMC in the same run; best\n"
                 "of N runs of N items each.\n",
        .more = more,
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    if (!bench_ck_built && !json)
        fprintf(stderr, "prismio bench ring: note: the ck_ring peer is %s; measuring ours only\n",
                bench_ck_note);
    double best_t[KINDS];
    for (int k = 0; k < KINDS; k++)
        best_t[k] = -1;
    /* interleaved repetitions, so drift hits every structure alike */
    for (uint64_t rep = 0; rep < repeat; rep++)
        for (int k = 0; k < KINDS; k++)
            best_t[k] = bench_best(best_t[k], run_once((enum kind)k, n));
    double rate[KINDS];
    for (int k = 0; k < KINDS; k++)
        rate[k] = best_t[k] > 0 ? (double)n / best_t[k] : 0;
    if (json) {
        cli_json_printf("{\"benchmark\":\"ring\",\"items\":%llu,\"repeat\":%llu,\"capacity\":%d",
                        (unsigned long long)n, (unsigned long long)repeat, CAP);
        cli_json_printf(",\"spsc_items_per_s\":%.0f,\"mpmc_items_per_s\":%.0f", rate[OURS_SPSC],
                        rate[OURS_MPMC]);
        cli_json_printf(",\"spsc_bulk%d_items_per_s\":%.0f", BULK, rate[OURS_SPSC_BULK]);
        printf(",\"ck_built\":%s", bench_ck_built ? "true" : "false");
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
            bool ck = k == CK_SPSC || k == CK_MPMC;
            printf("  %-13s %s\n", kind_names[k],
                   ck && !bench_ck_built ? bench_ck_note : "not available (the run failed)");
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
