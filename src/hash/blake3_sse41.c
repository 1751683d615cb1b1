/*
 * BLAKE3 SSE4.1 tier: 4 inputs at once in 128-bit lanes. Single-block
 * compressions use the portable code, which is as fast for one block (the
 * four G functions of a round run in parallel in scalar registers, while a
 * row-wise SIMD version is bound by one long dependency chain).
 * Compiled with -msse4.1 only.
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

#include "blake3_transpose4.h"

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

void pio_b3_hash_many_sse41(const uint8_t *const *inputs, size_t n, size_t blocks,
                            const uint32_t key[8], uint64_t counter, bool increment_counter,
                            uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
    while (n >= 4) {
        hash_lanes_4(inputs, blocks, key, counter, increment_counter, flags, flags_start, flags_end,
                     out);
        if (increment_counter)
            counter += 4;
        inputs += 4;
        n -= 4;
        out += 4 * B3_OUT_LEN;
    }
    if (n > 1)
        hash_lanes_padded_4(inputs, n, blocks, key, counter, increment_counter, flags, flags_start,
                            flags_end, out);
    else if (n == 1)
        pio_b3_hash_many_portable(inputs, 1, blocks, key, counter, increment_counter, flags,
                                  flags_start, flags_end, out);
}
