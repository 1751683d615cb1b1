/*
 * Multithreaded BLAKE3: pio_blake3_hasher_update_mt must give exactly the
 * single-threaded result for sizes up to 64 MiB and any thread count, also
 * when several threads hash at once (sharing the pool, nesting tasks), after
 * a fork() (the child has no pool threads), and in every mode. Also run
 * under ThreadSanitizer (label "concurrent").
 */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <prismio/blake3.h>

#include "pio_test.h"

#define MAX_LEN ((size_t)64 << 20)

static uint8_t *data;

static void hash_st(const uint8_t *in, size_t len, uint8_t out[32])
{
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    pio_blake3_hasher_update(&h, in, len);
    pio_blake3_hasher_finalize(&h, out, 32);
}

static void hash_mt(const uint8_t *in, size_t len, unsigned threads, uint8_t out[32])
{
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    pio_blake3_hasher_update_mt(&h, in, len, threads);
    pio_blake3_hasher_finalize(&h, out, 32);
}

struct job {
    size_t off, len;
    unsigned threads;
    uint8_t want[32], got[32];
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    for (int rep = 0; rep < 3; rep++)
        hash_mt(data + j->off, j->len, j->threads, j->got);
    return NULL;
}

int main(void)
{
    uint64_t seed = pio_test_seed(77);
    data = malloc(MAX_LEN);
    pio_test_fill(data, MAX_LEN, seed);

    static const size_t sizes[] = {(size_t)2 << 20,        ((size_t)2 << 20) + 1,
                                   ((size_t)3 << 20) + 17, ((size_t)8 << 20) - 1,
                                   (size_t)16 << 20,       ((size_t)16 << 20) + 1024 * 5 + 3,
                                   ((size_t)64 << 20) - 1, MAX_LEN};
    static const unsigned threads[] = {0, 2, 3, 4, 8};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        uint8_t want[32], got[32];
        hash_st(data, sizes[s], want);
        for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++) {
            hash_mt(data, sizes[s], threads[t], got);
            CHECKF(memcmp(want, got, 32) == 0, "size %zu threads %u", sizes[s], threads[t]);
        }
    }

    /* Incremental: an unaligned head first, then a big multithreaded update. */
    {
        uint8_t want[32], got[32];
        hash_st(data, MAX_LEN - 100, want);
        pio_blake3_hasher h;
        pio_blake3_hasher_init(&h);
        pio_blake3_hasher_update(&h, data, 1500);
        pio_blake3_hasher_update_mt(&h, data + 1500, MAX_LEN - 100 - 1500, 4);
        pio_blake3_hasher_finalize(&h, got, 32);
        CHECK(memcmp(want, got, 32) == 0);
    }

    /* Keyed and derive modes take the same threaded path. */
    {
        static const uint8_t key[32] = "an example key of 32 bytes, ok!";
        uint8_t want[32], got[32];
        pio_blake3_hasher a, b;
        pio_blake3_hasher_init_keyed(&a, key);
        pio_blake3_hasher_init_keyed(&b, key);
        pio_blake3_hasher_update(&a, data, (size_t)20 << 20);
        pio_blake3_hasher_update_mt(&b, data, (size_t)20 << 20, 2);
        pio_blake3_hasher_finalize(&a, want, 32);
        pio_blake3_hasher_finalize(&b, got, 32);
        CHECK(memcmp(want, got, 32) == 0);
        pio_blake3_hasher_init_derive_key(&a, "ctx");
        pio_blake3_hasher_init_derive_key(&b, "ctx");
        pio_blake3_hasher_update(&a, data, (size_t)20 << 20);
        pio_blake3_hasher_update_mt(&b, data, (size_t)20 << 20, 3);
        pio_blake3_hasher_finalize(&a, want, 32);
        pio_blake3_hasher_finalize(&b, got, 32);
        CHECK(memcmp(want, got, 32) == 0);
    }

    /* Several callers at once share the pool. */
    {
        enum { NJOBS = 4 };
        struct job jobs[NJOBS];
        pthread_t tids[NJOBS];
        for (int i = 0; i < NJOBS; i++) {
            jobs[i].off = (size_t)i * 4096 + 7;
            jobs[i].len = ((size_t)(8 + 4 * i) << 20) + (size_t)i * 333;
            jobs[i].threads = (unsigned)(i + 1);
            hash_st(data + jobs[i].off, jobs[i].len, jobs[i].want);
            CHECK(pthread_create(&tids[i], NULL, job_main, &jobs[i]) == 0);
        }
        for (int i = 0; i < NJOBS; i++) {
            pthread_join(tids[i], NULL);
            CHECKF(memcmp(jobs[i].want, jobs[i].got, 32) == 0, "concurrent job %d", i);
        }
    }

    /* After fork the child's pool has no threads: it must still finish. */
    {
        uint8_t want[32];
        hash_st(data, (size_t)16 << 20, want);
        pid_t pid = fork();
        if (pid == 0) {
            uint8_t got[32];
            hash_mt(data, (size_t)16 << 20, 4, got);
            _exit(memcmp(want, got, 32) == 0 ? 0 : 1);
        }
        int st = 0;
        CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }

    free(data);
    return TEST_RESULT();
}
