/*
 * Eight inputs' 64-byte blocks as 16 __m256i, word w of input i in lane i.
 * Shared by the AVX2 tier and the AVX-512 tier's 8-lane path (both
 * compiled with AVX2).
 */
#ifndef PIO_BLAKE3_TRANSPOSE8_H
#define PIO_BLAKE3_TRANSPOSE8_H

/* Prefetch this far ahead in each input: eight inputs are eight streams,
 * more than the hardware prefetcher follows well (a 64 MiB input hashed
 * about 7% faster on Zen 1 with it; cached inputs are unaffected). A hint:
 * past the end of an input it is harmless. */
#define B3_PREFETCH_AHEAD 128

/* Each 16-byte quarter of the block is read as a 128-bit half: vector k
 * holds input k's quarter in its low half and input k + 4's in its high
 * half, so a 4x4 transpose inside each half (unpacks only) puts word w of
 * input i in lane i. Building the halves with loads and inserts instead
 * of one lane-crossing permute per word matters on CPUs where that
 * permute is slow (8 micro-ops on Zen 1). */
static inline void load_msg_8(const uint8_t *const *in, size_t off, __m256i m[16])
{
    for (int i = 0; i < 8; i++)
        _mm_prefetch((const char *)((uintptr_t)(in[i] + off) + B3_PREFETCH_AHEAD), _MM_HINT_T0);
    for (int q = 0; q < 4; q++) {
        __m256i r[4];
        for (int k = 0; k < 4; k++)
            r[k] = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(in[k] + off + 16 * q))),
                _mm_loadu_si128((const __m128i *)(in[k + 4] + off + 16 * q)), 1);
        __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        m[4 * q + 0] = _mm256_unpacklo_epi64(t0, t2);
        m[4 * q + 1] = _mm256_unpackhi_epi64(t0, t2);
        m[4 * q + 2] = _mm256_unpacklo_epi64(t1, t3);
        m[4 * q + 3] = _mm256_unpackhi_epi64(t1, t3);
    }
}

#endif
