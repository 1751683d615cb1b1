/*
 * BLAKE3 AVX-512 tier: 16 inputs at once in 512-bit lanes, and 8 or 4 at
 * once with the same native rotates on 256- and 128-bit registers
 * (AVX-512VL) for what is left. Single-block compressions use the portable
 * code (see blake3_sse41.c). Compiled with -mavx512f -mavx512vl only.
 */
#include <immintrin.h>

#include "blake3_impl.h"

/*
 * Sixteen inputs' blocks, one zmm each, transposed 16x16 in four stages:
 * 32-bit and 64-bit unpacks build 4x4 transposes inside each 128-bit lane,
 * then two rounds of 128-bit lane shuffles move those 4x4 tiles into place.
 */
static inline void load_msg_16(const uint8_t *const *in, size_t off, __m512i m[16])
{
    __m512i r[16], t[16], u[16];
    for (int i = 0; i < 16; i++) {
        r[i] = _mm512_loadu_si512((const void *)(in[i] + off));
        /* The hardware prefetcher tracks few streams; sixteen is many. */
        _mm_prefetch((const char *)(in[i] + off + 256), _MM_HINT_T0);
    }
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    /* u[4g + k], 128-bit lane L: rows 4g..4g+3 of word 4L + k. */
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int k = 0; k < 4; k++) {
        /* x0 = [U0.L0 U0.L1 U1.L0 U1.L1], x1 = [U0.L2 U0.L3 U1.L2 U1.L3], ... */
        __m512i x0 = _mm512_shuffle_i32x4(u[k], u[4 + k], _MM_SHUFFLE(1, 0, 1, 0));
        __m512i x1 = _mm512_shuffle_i32x4(u[k], u[4 + k], _MM_SHUFFLE(3, 2, 3, 2));
        __m512i x2 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], _MM_SHUFFLE(1, 0, 1, 0));
        __m512i x3 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], _MM_SHUFFLE(3, 2, 3, 2));
        m[k] = _mm512_shuffle_i32x4(x0, x2, _MM_SHUFFLE(2, 0, 2, 0));
        m[4 + k] = _mm512_shuffle_i32x4(x0, x2, _MM_SHUFFLE(3, 1, 3, 1));
        m[8 + k] = _mm512_shuffle_i32x4(x1, x3, _MM_SHUFFLE(2, 0, 2, 0));
        m[12 + k] = _mm512_shuffle_i32x4(x1, x3, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

#define L_V            __m512i
#define L_N            16
#define L_ADD(a, b)    _mm512_add_epi32(a, b)
#define L_XOR(a, b)    _mm512_xor_si512(a, b)
#define L_SET1(x)      _mm512_set1_epi32((int)(x))
#define L_LOADU(p)     _mm512_loadu_si512((const void *)(p))
#define L_STOREU(p, v) _mm512_storeu_si512((void *)(p), v)
#define L_ROT16(x)     _mm512_ror_epi32(x, 16)
#define L_ROT12(x)     _mm512_ror_epi32(x, 12)
#define L_ROT8(x)      _mm512_ror_epi32(x, 8)
#define L_ROT7(x)      _mm512_ror_epi32(x, 7)
#define L_LOAD_MSG     load_msg_16
#define L_NAME(x)      x##_16
#include "blake3_lanes.h"

#include "blake3_transpose8.h"

#define L_V            __m256i
#define L_N            8
#define L_ADD(a, b)    _mm256_add_epi32(a, b)
#define L_XOR(a, b)    _mm256_xor_si256(a, b)
#define L_SET1(x)      _mm256_set1_epi32((int)(x))
#define L_LOADU(p)     _mm256_loadu_si256((const __m256i *)(p))
#define L_STOREU(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define L_ROT16(x)     _mm256_ror_epi32(x, 16)
#define L_ROT12(x)     _mm256_ror_epi32(x, 12)
#define L_ROT8(x)      _mm256_ror_epi32(x, 8)
#define L_ROT7(x)      _mm256_ror_epi32(x, 7)
#define L_LOAD_MSG     load_msg_8
#define L_NAME(x)      x##_8
#include "blake3_lanes.h"

#include "blake3_transpose4.h"

#define L_V            __m128i
#define L_N            4
#define L_ADD(a, b)    _mm_add_epi32(a, b)
#define L_XOR(a, b)    _mm_xor_si128(a, b)
#define L_SET1(x)      _mm_set1_epi32((int)(x))
#define L_LOADU(p)     _mm_loadu_si128((const __m128i *)(p))
#define L_STOREU(p, v) _mm_storeu_si128((__m128i *)(p), v)
#define L_ROT16(x)     _mm_ror_epi32(x, 16)
#define L_ROT12(x)     _mm_ror_epi32(x, 12)
#define L_ROT8(x)      _mm_ror_epi32(x, 8)
#define L_ROT7(x)      _mm_ror_epi32(x, 7)
#define L_LOAD_MSG     load_msg_4
#define L_NAME(x)      x##_4
#include "blake3_lanes.h"

void pio_b3_hash_many_avx512(const uint8_t *const *inputs, size_t n, size_t blocks,
                             const uint32_t key[8], uint64_t counter, bool increment_counter,
                             uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
    while (n >= 16) {
        hash_lanes_16(inputs, blocks, key, counter, increment_counter, flags, flags_start,
                      flags_end, out);
        if (increment_counter)
            counter += 16;
        inputs += 16;
        n -= 16;
        out += 16 * B3_OUT_LEN;
    }
    /* What is left takes one padded pass of the narrowest width that fits. */
    if (n > 8)
        hash_lanes_padded_16(inputs, n, blocks, key, counter, increment_counter, flags, flags_start,
                             flags_end, out);
    else if (n > 4)
        hash_lanes_padded_8(inputs, n, blocks, key, counter, increment_counter, flags, flags_start,
                            flags_end, out);
    else if (n > 1)
        hash_lanes_padded_4(inputs, n, blocks, key, counter, increment_counter, flags, flags_start,
                            flags_end, out);
    else if (n == 1)
        pio_b3_hash_many_portable(inputs, 1, blocks, key, counter, increment_counter, flags,
                                  flags_start, flags_end, out);
}
