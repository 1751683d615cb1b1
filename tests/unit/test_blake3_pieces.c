/*
 * One input hashed in pieces (pio_b3_piece_cvs, pio_b3_hasher_push_subtree:
 * the MPI writer's records): for lengths from 2 chunks to 4 MiB and every
 * way of cutting them at chunk boundaries tried here (random cuts, one
 * piece, a piece a chunk), the pieces' CVs pushed in order and the last
 * chunk fed as bytes give pio_blake3_hash() of the whole input.
 */
#include <stdlib.h>
#include <string.h>

#include "hash/pio_hash.h"
#include "pio_test.h"

static void hash_in_pieces(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts,
                           uint8_t out[32])
{
    /* cuts: chunk-aligned ends of the pieces before the last chunk */
    size_t last = (len - 1) / 1024 * 1024; /* the last chunk's start */
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    size_t at = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : last;
        uint8_t cvs[128][32];
        uint64_t chunks[128];
        size_t n = pio_b3_piece_cvs(in + at, end - at, at / 1024, cvs, chunks, 128);
        CHECK(n > 0 || end == at);
        for (size_t i = 0; i < n; i++)
            pio_b3_hasher_push_subtree(&h, cvs[i], chunks[i]);
        at = end;
    }
    pio_blake3_hasher_update(&h, in + last, len - last);
    pio_blake3_hasher_finalize(&h, out, 32);
}

int main(void)
{
    uint64_t seed = pio_test_seed(7);
    size_t max = (size_t)4 << 20;
    uint8_t *in = malloc(max);
    pio_test_fill(in, max, seed);
    static const size_t lens[] = {1025,
                                  2048,
                                  2049,
                                  3072,
                                  4096,
                                  5000,
                                  65536,
                                  65537,
                                  131072 + 64,
                                  1 << 20,
                                  (1 << 20) + 1000,
                                  3000000,
                                  (size_t)4 << 20};
    for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
        size_t len = lens[li];
        uint8_t want[32], got[32];
        pio_blake3_hash(want, 32, in, len);
        size_t nch = (len - 1) / 1024; /* whole chunks before the last */
        /* one piece */
        hash_in_pieces(in, len, NULL, 0, got);
        CHECKF(memcmp(want, got, 32) == 0, "len %zu, one piece", len);
        /* random cuts */
        for (int t = 0; t < 20; t++) {
            size_t cuts[16], ncuts = 0, prev = 0;
            for (int c = 0; c < 16 && nch; c++) {
                size_t at = (size_t)(pio_test_rand(&seed) % (nch + 1)) * 1024;
                if (at > prev && at < nch * 1024) {
                    cuts[ncuts++] = at;
                    prev = at;
                }
            }
            hash_in_pieces(in, len, cuts, ncuts, got);
            CHECKF(memcmp(want, got, 32) == 0, "len %zu, %zu random cuts", len, ncuts);
        }
        /* a piece a chunk (small inputs) */
        if (nch <= 64) {
            size_t cuts[64], ncuts = 0;
            for (size_t c = 1; c < nch; c++)
                cuts[ncuts++] = c * 1024;
            hash_in_pieces(in, len, cuts, ncuts, got);
            CHECKF(memcmp(want, got, 32) == 0, "len %zu, a piece a chunk", len);
        }
        TEST_STOP_IF_FLOODED();
    }
    /* too little room for the CVs: 0 */
    uint8_t cvs[1][32];
    uint64_t chunks[1];
    CHECK(pio_b3_piece_cvs(in + 1024, 3 * 1024, 1, cvs, chunks, 1) == 0);
    free(in);
    return TEST_RESULT();
}
