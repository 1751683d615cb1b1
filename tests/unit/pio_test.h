/*
 * Minimal test harness: CHECK records a failure and goes on, so one run
 * reports every broken case. A test program exits 0 (pass), 1 (fail) or 77
 * (skipped: CTest's SKIP_RETURN_CODE).
 */
#ifndef PIO_TEST_H
#define PIO_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pio_test_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            pio_test_failures++;                                                                   \
        }                                                                                          \
    } while (0)

/* Like CHECK, with a printf-style description of the case. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            pio_test_failures++;                                                                   \
        }                                                                                          \
    } while (0)

/* Stop early when failures pile up (a broken kernel fails every case). */
#define FAIL_FAST_LIMIT 50
#define TEST_STOP_IF_FLOODED()                                                                     \
    do {                                                                                           \
        if (pio_test_failures > FAIL_FAST_LIMIT) {                                                 \
            fprintf(stderr, "too many failures, stopping\n");                                      \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define TEST_STOP_IF_FLOODED_VOID()                                                                \
    do {                                                                                           \
        if (pio_test_failures > FAIL_FAST_LIMIT) {                                                 \
            fprintf(stderr, "too many failures, stopping\n");                                      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define TEST_RESULT()                                                                              \
    (pio_test_failures ? (fprintf(stderr, "%d failure(s)\n", pio_test_failures), 1) : 0)

/* splitmix64: small, seedable, good enough for test data. */
static inline uint64_t pio_test_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void pio_test_fill(uint8_t *buf, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t r = pio_test_rand(&s);
        memcpy(buf + i, &r, 8);
    }
    if (i < n) {
        uint64_t r = pio_test_rand(&s);
        memcpy(buf + i, &r, n - i);
    }
}

/* Seed from PIO_TEST_SEED if set (to replay a failure), else `fallback`. */
static inline uint64_t pio_test_seed(uint64_t fallback)
{
    const char *s = getenv("PIO_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : fallback;
    fprintf(stderr, "seed %llu (set PIO_TEST_SEED to replay)\n", (unsigned long long)seed);
    return seed;
}

#endif /* PIO_TEST_H */
