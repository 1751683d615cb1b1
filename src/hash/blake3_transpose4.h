/*
 * Four inputs' 64-byte blocks as 16 __m128i, word w of input i in lane i:
 * four 4x4 transposes of 32-bit words. Shared by the SSE4.1 tier and the
 * AVX-512 tier's 4-lane path.
 */
#ifndef PIO_BLAKE3_TRANSPOSE4_H
#define PIO_BLAKE3_TRANSPOSE4_H

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

#endif
