/*
 * BLAKE3 SSE4.1 tier: 4 inputs at once in 128-bit lanes, and the row-wise
 * single-block compression. Compiled with -msse4.1 only.
 */
#include <immintrin.h>

#include "blake3_impl.h"

static inline __m128i rot16_sse(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
}

static inline __m128i rot8_sse(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
}

#define ROT_SHIFT(x, c) _mm_or_si128(_mm_srli_epi32((x), (c)), _mm_slli_epi32((x), 32 - (c)))

#define R_ROT16(x)  rot16_sse(x)
#define R_ROT12(x)  ROT_SHIFT(x, 12)
#define R_ROT8(x)   rot8_sse(x)
#define R_ROT7(x)   ROT_SHIFT(x, 7)
#define R_NAME(x)   x##_sse41
#include "blake3_rows.h"

/* Four inputs' 64-byte blocks as 16 vectors, word w of input i in lane i:
 * four 4x4 transposes of 32-bit words. */
static inline void load_msg_4(const uint8_t *const *in, size_t off, __m128i m[16])
{
    for (int q = 0; q < 4; q++) {
        __m128i a = _mm_loadu_si128((const __m128i *)(in[0] + off + 16 * q));
        __m128i b = _mm_loadu_si128((const __m128i *)(in[1] + off + 16 * q));
        __m128i c = _mm_loadu_si128((const __m128i *)(in[2] + off + 16 * q));
        __m128i d = _mm_loadu_si128((const __m128i *)(in[3] + off + 16 * q));
        __m128i ab_lo = _mm_unpacklo_epi32(a, b); /* a0 b0 a1 b1 */
        __m128i ab_hi = _mm_unpackhi_epi32(a, b); /* a2 b2 a3 b3 */
        __m128i cd_lo = _mm_unpacklo_epi32(c, d);
        __m128i cd_hi = _mm_unpackhi_epi32(c, d);
        m[4 * q + 0] = _mm_unpacklo_epi64(ab_lo, cd_lo);
        m[4 * q + 1] = _mm_unpackhi_epi64(ab_lo, cd_lo);
        m[4 * q + 2] = _mm_unpacklo_epi64(ab_hi, cd_hi);
        m[4 * q + 3] = _mm_unpackhi_epi64(ab_hi, cd_hi);
    }
}

#define L_V            __m128i
#define L_N            4
#define L_ADD(a, b)    _mm_add_epi32(a, b)
#define L_XOR(a, b)    _mm_xor_si128(a, b)
#define L_SET1(x)      _mm_set1_epi32((int)(x))
#define L_LOADU(p)     _mm_loadu_si128((const __m128i *)(p))
#define L_STOREU(p, v) _mm_storeu_si128((__m128i *)(p), v)
#define L_ROT16(x)     rot16_sse(x)
#define L_ROT12(x)     ROT_SHIFT(x, 12)
#define L_ROT8(x)      rot8_sse(x)
#define L_ROT7(x)      ROT_SHIFT(x, 7)
#define L_LOAD_MSG     load_msg_4
#define L_NAME(x)      x##_4
#include "blake3_lanes.h"

void pio_b3_compress_in_place_sse41(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                    uint8_t block_len, uint64_t counter, uint8_t flags)
{
    compress_in_place_sse41(cv, block, block_len, counter, flags);
}

void pio_b3_compress_xof_sse41(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                               uint8_t block_len, uint64_t counter, uint8_t flags,
                               uint8_t out[64])
{
    compress_xof_sse41(cv, block, block_len, counter, flags, out);
}

void pio_b3_hash_many_sse41(const uint8_t *const *inputs, size_t n, size_t blocks,
                            const uint32_t key[8], uint64_t counter, bool increment_counter,
                            uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
    while (n >= 4) {
        hash_lanes_4(inputs, blocks, key, counter, increment_counter, flags, flags_start,
                     flags_end, out);
        if (increment_counter)
            counter += 4;
        inputs += 4;
        n -= 4;
        out += 4 * B3_OUT_LEN;
    }
    hash_many_rows_sse41(inputs, n, blocks, key, counter, increment_counter, flags, flags_start,
                         flags_end, out);
}
