/*
 * Every SIMD tier against the portable one: random inputs of random lengths
 * up to 1 MiB (plus lengths around each SIMD width's multiples of chunks),
 * in all three modes, fed in random pieces; and the tiers' hash_many kernels
 * directly with chunk counters around 2^32, where the low counter word
 * carries into the high one (unreachable through the public API without
 * terabytes of input); and pio_b3_hash_equal (many inputs of one length,
 * their trees in lanes) against pio_blake3_hash of each, on every tier.
 */
#include <prismio/blake3.h>

#include "hash/blake3_impl.h"
#include "pio_test.h"

#define MAX_LEN (1u << 20)
#define OUTLEN  64

static void hash_mode(int mode, const uint8_t *in, size_t len, uint64_t *rng, uint8_t out[OUTLEN])
{
    static const uint8_t key[32] = "0123456789abcdef0123456789abcdef";
    pio_blake3_hasher h;
    if (mode == 1)
        pio_blake3_hasher_init_keyed(&h, key);
    else if (mode == 2)
        pio_blake3_hasher_init_derive_key(&h, "prism-io tier test");
    else
        pio_blake3_hasher_init(&h);
    size_t off = 0;
    while (off < len) {
        /* mostly big pieces, sometimes tiny ones */
        uint64_t r = pio_test_rand(rng);
        size_t piece = (r & 3) ? (size_t)(r >> 8) % (len - off + 1) : (size_t)(r >> 8) % 70;
        if (piece == 0)
            piece = 1;
        if (piece > len - off)
            piece = len - off;
        pio_blake3_hasher_update(&h, in + off, piece);
        off += piece;
    }
    pio_blake3_hasher_finalize(&h, out, OUTLEN);
}

typedef void (*hash_many_fn)(const uint8_t *const *, size_t, size_t, const uint32_t[8], uint64_t,
                             bool, uint8_t, uint8_t, uint8_t, uint8_t *);

static void check_hash_many(const char *name, hash_many_fn fn, const uint8_t *data)
{
    const uint8_t *ptrs[40];
    uint8_t want[40 * 32], got[40 * 32];
    static const uint64_t counters[] = {
        0, 5, 0xFFFFFFF0ull, 0xFFFFFFFDull, 0x1FFFFFFFFull, 0xFFFFFFFFFFFFFFF8ull};
    for (size_t n = 1; n <= 40; n++) {
        for (size_t i = 0; i < n; i++)
            ptrs[i] = data + i * B3_CHUNK_LEN;
        for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
            for (int inc = 0; inc <= 1; inc++) {
                size_t blocks = inc ? 16 : 1; /* chunks, or parents */
                uint8_t flags = inc ? 0 : B3_PARENT;
                uint8_t fs = inc ? B3_CHUNK_START : 0, fe = inc ? B3_CHUNK_END : 0;
                pio_b3_hash_many_portable(ptrs, n, blocks, B3_IV, counters[c], inc, flags, fs, fe,
                                          want);
                memset(got, 0, sizeof(got));
                fn(ptrs, n, blocks, B3_IV, counters[c], inc, flags, fs, fe, got);
                CHECKF(memcmp(want, got, n * 32) == 0, "%s hash_many n=%zu counter=%#llx inc=%d",
                       name, n, (unsigned long long)counters[c], inc);
            }
        }
    }
}

/* got[32 k ..] is pio_blake3_hash of each in[k] */
static void check_each(const char *what, const uint8_t *const *in, size_t n, size_t len,
                       const uint8_t *got)
{
    uint8_t want[32];
    for (size_t k = 0; k < n; k++) {
        pio_blake3_hash(want, 32, in[k], len);
        CHECKF(memcmp(want, got + 32 * k, 32) == 0,
               "%s: tier %s, %zu inputs of %zu bytes: input %zu differs", what,
               pio_blake3_tier_name(pio_blake3_tier_active()), n, len, k);
    }
}

/* pio_b3_hash_equal on every tier (portable included) against
 * pio_blake3_hash of each input: lengths of one block to 64 KiB, including
 * one chunk, chunk counts around powers of two, and group sizes around
 * the lane counts and the 16-input batch. */
static void check_hash_equal(const uint8_t *data)
{
    static const size_t lens[] = {64,   128,  960,   1024,  1088,  2048,  3072, 4096,
                                  8576, 9216, 16384, 17408, 33792, 65472, 65536};
    static const size_t ns[] = {1, 2, 3, 7, 8, 9, 16, 17, 40};
    const uint8_t *in[40];
    uint8_t got[40 * 32];
    /* pio_b3_hash_equal_chunks: every third chunk copied elsewhere (to an
     * odd address), the others read in place */
    static const uint8_t *chunks[40 * 64];
    uint8_t *copies = malloc((size_t)40 * 64 * 1024 + 1);
    CHECK(copies != NULL);
    for (int t = 0; t < PIO_BLAKE3_TIER_COUNT; t++) {
        enum pio_blake3_tier tier = (enum pio_blake3_tier)t;
        if (!pio_blake3_tier_supported(tier))
            continue;
        pio_blake3_tier_force(tier);
        for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
            for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++) {
                size_t n = ns[ni], len = lens[li];
                for (size_t k = 0; k < n; k++) /* overlapping, distinct inputs */
                    in[k] = data + k * 4099;
                pio_b3_hash_equal(in, n, len, got);
                check_each("hash_equal", in, n, len, got);
                size_t nch = (len + 1023) / 1024;
                for (size_t k = 0; k < n; k++)
                    for (size_t c = 0; c < nch; c++) {
                        const uint8_t *src = in[k] + c * 1024;
                        if ((k + c) % 3 == 0) {
                            uint8_t *dst = copies + 1 + (k * 64 + c) * 1024;
                            memcpy(dst, src, len - c * 1024 < 1024 ? len - c * 1024 : 1024);
                            src = dst;
                        }
                        chunks[k * nch + c] = src;
                    }
                memset(got, 0, sizeof(got));
                pio_b3_hash_equal_chunks(chunks, n, len, got);
                check_each("hash_equal_chunks", in, n, len, got);
            }
    }
    pio_blake3_tier_force(PIO_BLAKE3_TIER_AUTO);
    free(copies);
}

int main(void)
{
    uint64_t seed = pio_test_seed(20261124);
    uint8_t *data = malloc(MAX_LEN);
    pio_test_fill(data, MAX_LEN, seed);

    /* lengths: around k chunks for SIMD widths and subtree sizes, plus random */
    size_t lens[400];
    size_t nlens = 0;
    static const size_t chunk_counts[] = {1,  3,  4,  5,  7,   8,   9,   15,  16,  17,  31,   32,
                                          33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1023, 1024};
    for (size_t i = 0; i < sizeof(chunk_counts) / sizeof(chunk_counts[0]); i++) {
        size_t base = chunk_counts[i] * B3_CHUNK_LEN;
        if (base - 1 <= MAX_LEN)
            lens[nlens++] = base - 1;
        if (base <= MAX_LEN)
            lens[nlens++] = base;
        if (base + 1 <= MAX_LEN)
            lens[nlens++] = base + 1;
    }
    uint64_t rng = seed ^ 0xabcdef;
    while (nlens < 200) {
        uint64_t r = pio_test_rand(&rng);
        /* log-uniform so small and large lengths both appear */
        unsigned bits = (unsigned)(r % 21);
        lens[nlens++] = (size_t)((r >> 8) % ((1ull << bits) + 1));
    }

    int tiers_run = 0;
    for (int t = 1; t < PIO_BLAKE3_TIER_COUNT; t++) {
        enum pio_blake3_tier tier = (enum pio_blake3_tier)t;
        if (!pio_blake3_tier_supported(tier)) {
            fprintf(stderr, "tier %s not supported here: skipped\n", pio_blake3_tier_name(tier));
            continue;
        }
        tiers_run++;
        for (size_t i = 0; i < nlens; i++) {
            for (int mode = 0; mode < 3; mode++) {
                uint8_t want[OUTLEN], got[OUTLEN];
                uint64_t split_seed = seed + i * 3 + (uint64_t)mode, r1 = split_seed,
                         r2 = split_seed * 7 + 1;
                pio_blake3_tier_force(PIO_BLAKE3_TIER_PORTABLE);
                hash_mode(mode, data, lens[i], &r1, want);
                pio_blake3_tier_force(tier);
                hash_mode(mode, data, lens[i], &r2, got);
                CHECKF(memcmp(want, got, OUTLEN) == 0, "tier %s len %zu mode %d",
                       pio_blake3_tier_name(tier), lens[i], mode);
            }
        }
        TEST_STOP_IF_FLOODED();
    }
    pio_blake3_tier_force(PIO_BLAKE3_TIER_AUTO);

#ifndef PIO_BLAKE3_NO_SSE41
    if (pio_blake3_tier_supported(PIO_BLAKE3_TIER_SSE41))
        check_hash_many("sse41", pio_b3_hash_many_sse41, data);
#endif
#ifndef PIO_BLAKE3_NO_AVX2
    if (pio_blake3_tier_supported(PIO_BLAKE3_TIER_AVX2))
        check_hash_many("avx2", pio_b3_hash_many_avx2, data);
#endif
#ifndef PIO_BLAKE3_NO_AVX512
    if (pio_blake3_tier_supported(PIO_BLAKE3_TIER_AVX512))
        check_hash_many("avx512", pio_b3_hash_many_avx512, data);
#endif

    check_hash_equal(data);
    fprintf(stderr, "%zu lengths x 3 modes x %d SIMD tiers checked; hash_equal too\n", nlens,
            tiers_run);
    free(data);
    if (tiers_run == 0) {
        fprintf(stderr, "no SIMD tier on this machine: skipped\n");
        return pio_test_failures ? 1 : 77;
    }
    return TEST_RESULT();
}
