/*
 * BLAKE3 portable tier: plain C, always built, the reference every SIMD
 * tier is tested against. Written straight from the specification: the
 * state is 16 words, a round is four column G's then four diagonal G's, and
 * the message is read through B3_SCHEDULE instead of being permuted.
 */
#include "blake3_impl.h"

static inline uint32_t rotr32(uint32_t w, unsigned c)
{
    return (w >> c) | (w << (32 - c));
}

static inline void g(uint32_t v[16], int a, int b, int c, int d, uint32_t x, uint32_t y)
{
    v[a] = v[a] + v[b] + x;
    v[d] = rotr32(v[d] ^ v[a], 16);
    v[c] = v[c] + v[d];
    v[b] = rotr32(v[b] ^ v[c], 12);
    v[a] = v[a] + v[b] + y;
    v[d] = rotr32(v[d] ^ v[a], 8);
    v[c] = v[c] + v[d];
    v[b] = rotr32(v[b] ^ v[c], 7);
}

static inline void round_fn(uint32_t v[16], const uint32_t m[16], const uint8_t s[16])
{
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

static inline void compress_pre(uint32_t v[16], const uint32_t cv[8],
                                const uint8_t block[B3_BLOCK_LEN], uint8_t block_len,
                                uint64_t counter, uint8_t flags)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = b3_load32(block + 4 * i);
    for (int i = 0; i < 8; i++)
        v[i] = cv[i];
    v[8] = B3_IV[0];
    v[9] = B3_IV[1];
    v[10] = B3_IV[2];
    v[11] = B3_IV[3];
    v[12] = (uint32_t)counter;
    v[13] = (uint32_t)(counter >> 32);
    v[14] = block_len;
    v[15] = flags;
    for (int r = 0; r < 7; r++)
        round_fn(v, m, B3_SCHEDULE[r]);
}

void pio_b3_compress_in_place_portable(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                       uint8_t block_len, uint64_t counter, uint8_t flags)
{
    uint32_t v[16];
    compress_pre(v, cv, block, block_len, counter, flags);
    for (int i = 0; i < 8; i++)
        cv[i] = v[i] ^ v[i + 8];
}

void pio_b3_compress_xof_portable(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                  uint8_t block_len, uint64_t counter, uint8_t flags,
                                  uint8_t out[64])
{
    uint32_t v[16];
    compress_pre(v, cv, block, block_len, counter, flags);
    for (int i = 0; i < 8; i++) {
        b3_store32(out + 4 * i, v[i] ^ v[i + 8]);
        b3_store32(out + 32 + 4 * i, v[i + 8] ^ cv[i]);
    }
}

static void hash_one(const uint8_t *input, size_t blocks, const uint32_t key[8], uint64_t counter,
                     uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t out[B3_OUT_LEN])
{
    uint32_t cv[8];
    memcpy(cv, key, sizeof(cv));
    uint8_t block_flags = flags | flags_start;
    while (blocks > 0) {
        if (blocks == 1)
            block_flags |= flags_end;
        pio_b3_compress_in_place_portable(cv, input, B3_BLOCK_LEN, counter, block_flags);
        input += B3_BLOCK_LEN;
        blocks -= 1;
        block_flags = flags;
    }
    b3_store_cv_words(out, cv);
}

void pio_b3_hash_many_portable(const uint8_t *const *inputs, size_t n, size_t blocks,
                               const uint32_t key[8], uint64_t counter, bool increment_counter,
                               uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        hash_one(inputs[i], blocks, key, counter, flags, flags_start, flags_end, out);
        if (increment_counter)
            counter += 1;
        out += B3_OUT_LEN;
    }
}
