/*
 * Eight inputs' 64-byte blocks as 16 __m256i, word w of input i in lane i:
 * two 8x8 transposes of 32-bit words (one per 32-byte half). Shared by the
 * AVX2 tier and the AVX-512 tier's 8-lane path (both compiled with AVX2).
 */
#ifndef PIO_BLAKE3_TRANSPOSE8_H
#define PIO_BLAKE3_TRANSPOSE8_H

/* Prefetch this far ahead in each input: eight inputs are eight streams,
 * more than the hardware prefetcher follows well (a 64 MiB input hashed
 * about 7% faster on Zen 1 with it; cached inputs are unaffected). A hint:
 * past the end of an input it is harmless. */
#define B3_PREFETCH_AHEAD 128

static inline void load_msg_8(const uint8_t *const *in, size_t off, __m256i m[16])
{
    for (int i = 0; i < 8; i++)
        _mm_prefetch((const char *)((uintptr_t)(in[i] + off) + B3_PREFETCH_AHEAD), _MM_HINT_T0);
    for (int half = 0; half < 2; half++) {
        __m256i r[8], t[8], u[8];
        for (int i = 0; i < 8; i++)
            r[i] = _mm256_loadu_si256((const __m256i *)(in[i] + off + 32 * half));
        /* t[2k], t[2k+1]: rows 2k and 2k+1 interleaved (words 0,1,4,5 / 2,3,6,7). */
        for (int k = 0; k < 4; k++) {
            t[2 * k] = _mm256_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
            t[2 * k + 1] = _mm256_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
        }
        /* u[4g + w]: rows 4g..4g+3 of word w (low 128 bits) and w + 4 (high). */
        for (int g = 0; g < 2; g++) {
            u[4 * g + 0] = _mm256_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
            u[4 * g + 1] = _mm256_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
            u[4 * g + 2] = _mm256_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
            u[4 * g + 3] = _mm256_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
        }
        for (int w = 0; w < 4; w++) {
            m[8 * half + w] = _mm256_permute2x128_si256(u[w], u[4 + w], 0x20);
            m[8 * half + w + 4] = _mm256_permute2x128_si256(u[w], u[4 + w], 0x31);
        }
    }
}

#endif
