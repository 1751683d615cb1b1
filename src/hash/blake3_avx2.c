/*
 * BLAKE3 AVX2 tier: 8 inputs at once in 256-bit lanes; up to four left
 * over go to the SSE4.1 tier (every AVX2 CPU has SSE4.1). Single-block
 * compressions use the portable code (see blake3_sse41.c). Compiled with
 * -mavx2 only. On x86-64 Linux the rounds run in assembly
 * (blake3_avx2_rounds.S, PIO_BLAKE3_AVX2_ASM); the C rounds of the
 * template remain for other targets and -DPIO_BLAKE3_NO_ASM=ON.
 */
#include <immintrin.h>

#include "blake3_impl.h"

static inline __m256i rot16_avx2(__m256i x)
{
    return _mm256_shuffle_epi8(x, _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3,
                                                  2, 13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0,
                                                  3, 2));
}

static inline __m256i rot8_avx2(__m256i x)
{
    return _mm256_shuffle_epi8(x, _mm256_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2,
                                                  1, 12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3,
                                                  2, 1));
}

#define ROT_SHIFT(x, c)                                                                            \
    _mm256_or_si256(_mm256_srli_epi32((x), (c)), _mm256_slli_epi32((x), 32 - (c)))

#include "blake3_transpose8.h"

#define L_V            __m256i
#define L_N            8
#define L_ADD(a, b)    _mm256_add_epi32(a, b)
#define L_XOR(a, b)    _mm256_xor_si256(a, b)
#define L_SET1(x)      _mm256_set1_epi32((int)(x))
#define L_LOADU(p)     _mm256_loadu_si256((const __m256i *)(p))
#define L_STOREU(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define L_ROT16(x)     rot16_avx2(x)
#define L_ROT12(x)     ROT_SHIFT(x, 12)
#define L_ROT8(x)      rot8_avx2(x)
#define L_ROT7(x)      ROT_SHIFT(x, 7)
#define L_LOAD_MSG     load_msg_8
#define L_NAME(x)      x##_8
#ifdef PIO_BLAKE3_AVX2_ASM
/* The rounds in assembly (blake3_avx2_rounds.S: the state in registers). */
void pio_b3_rounds_avx2(const __m256i v[16], const __m256i m[16], __m256i h[8]);
#define L_ROUNDS(v, m, h) pio_b3_rounds_avx2(v, m, h)
#endif
#include "blake3_lanes.h"

void pio_b3_hash_many_avx2(const uint8_t *const *inputs, size_t n, size_t blocks,
                           const uint32_t key[8], uint64_t counter, bool increment_counter,
                           uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
    while (n >= 8) {
        hash_lanes_8(inputs, blocks, key, counter, increment_counter, flags, flags_start, flags_end,
                     out);
        if (increment_counter)
            counter += 8;
        inputs += 8;
        n -= 8;
        out += 8 * B3_OUT_LEN;
    }
    if (n > 4)
        hash_lanes_padded_8(inputs, n, blocks, key, counter, increment_counter, flags, flags_start,
                            flags_end, out);
    else if (n > 0)
#ifndef PIO_BLAKE3_NO_SSE41
        pio_b3_hash_many_sse41(inputs, n, blocks, key, counter, increment_counter, flags,
                               flags_start, flags_end, out);
#else
        pio_b3_hash_many_portable(inputs, n, blocks, key, counter, increment_counter, flags,
                                  flags_start, flags_end, out);
#endif
}
