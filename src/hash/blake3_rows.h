/*
 * BLAKE3 single-block compression on 128-bit vectors, one row of the 4x4
 * state per register. Included by the SSE4.1, AVX2 and AVX-512 tiers,
 * which define R_ROT16/12/8/7 (byte shuffles and shifts for SSE/AVX2, the
 * native rotate for AVX-512VL) and R_NAME(x) for unique names.
 *
 * A column step runs the four G's of a round at once; rotating rows 1-3 by
 * 1, 2 and 3 lanes lines the diagonals up as columns for the second step,
 * and the inverse rotation restores them. The message words of each step are
 * gathered through B3_SCHEDULE.
 */

static inline void R_NAME(g_rows)(__m128i *r0, __m128i *r1, __m128i *r2, __m128i *r3, __m128i x,
                                  __m128i y)
{
    *r0 = _mm_add_epi32(_mm_add_epi32(*r0, *r1), x);
    *r3 = R_ROT16(_mm_xor_si128(*r3, *r0));
    *r2 = _mm_add_epi32(*r2, *r3);
    *r1 = R_ROT12(_mm_xor_si128(*r1, *r2));
    *r0 = _mm_add_epi32(_mm_add_epi32(*r0, *r1), y);
    *r3 = R_ROT8(_mm_xor_si128(*r3, *r0));
    *r2 = _mm_add_epi32(*r2, *r3);
    *r1 = R_ROT7(_mm_xor_si128(*r1, *r2));
}

static inline void R_NAME(compress_rows)(__m128i rows[4], const uint32_t cv[8],
                                         const uint8_t block[B3_BLOCK_LEN], uint8_t block_len,
                                         uint64_t counter, uint8_t flags)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = b3_load32(block + 4 * i);
    __m128i r0 = _mm_loadu_si128((const __m128i *)&cv[0]);
    __m128i r1 = _mm_loadu_si128((const __m128i *)&cv[4]);
    __m128i r2 = _mm_set_epi32((int)B3_IV[3], (int)B3_IV[2], (int)B3_IV[1], (int)B3_IV[0]);
    __m128i r3 = _mm_set_epi32((int)flags, (int)block_len, (int)(uint32_t)(counter >> 32),
                               (int)(uint32_t)counter);
    for (int r = 0; r < 7; r++) {
        const uint8_t *s = B3_SCHEDULE[r];
        /* _mm_set_epi32 takes lanes high to low. */
        __m128i x = _mm_set_epi32((int)m[s[6]], (int)m[s[4]], (int)m[s[2]], (int)m[s[0]]);
        __m128i y = _mm_set_epi32((int)m[s[7]], (int)m[s[5]], (int)m[s[3]], (int)m[s[1]]);
        R_NAME(g_rows)(&r0, &r1, &r2, &r3, x, y);
        /* Diagonalise: lane i of row k takes element (i + k) mod 4. */
        r1 = _mm_shuffle_epi32(r1, _MM_SHUFFLE(0, 3, 2, 1));
        r2 = _mm_shuffle_epi32(r2, _MM_SHUFFLE(1, 0, 3, 2));
        r3 = _mm_shuffle_epi32(r3, _MM_SHUFFLE(2, 1, 0, 3));
        x = _mm_set_epi32((int)m[s[14]], (int)m[s[12]], (int)m[s[10]], (int)m[s[8]]);
        y = _mm_set_epi32((int)m[s[15]], (int)m[s[13]], (int)m[s[11]], (int)m[s[9]]);
        R_NAME(g_rows)(&r0, &r1, &r2, &r3, x, y);
        r1 = _mm_shuffle_epi32(r1, _MM_SHUFFLE(2, 1, 0, 3));
        r2 = _mm_shuffle_epi32(r2, _MM_SHUFFLE(1, 0, 3, 2));
        r3 = _mm_shuffle_epi32(r3, _MM_SHUFFLE(0, 3, 2, 1));
    }
    rows[0] = r0;
    rows[1] = r1;
    rows[2] = r2;
    rows[3] = r3;
}

static void R_NAME(compress_in_place)(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                      uint8_t block_len, uint64_t counter, uint8_t flags)
{
    __m128i rows[4];
    R_NAME(compress_rows)(rows, cv, block, block_len, counter, flags);
    _mm_storeu_si128((__m128i *)&cv[0], _mm_xor_si128(rows[0], rows[2]));
    _mm_storeu_si128((__m128i *)&cv[4], _mm_xor_si128(rows[1], rows[3]));
}

static void R_NAME(compress_xof)(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                 uint8_t block_len, uint64_t counter, uint8_t flags,
                                 uint8_t out[64])
{
    __m128i rows[4];
    R_NAME(compress_rows)(rows, cv, block, block_len, counter, flags);
    __m128i cv0 = _mm_loadu_si128((const __m128i *)&cv[0]);
    __m128i cv1 = _mm_loadu_si128((const __m128i *)&cv[4]);
    _mm_storeu_si128((__m128i *)&out[0], _mm_xor_si128(rows[0], rows[2]));
    _mm_storeu_si128((__m128i *)&out[16], _mm_xor_si128(rows[1], rows[3]));
    _mm_storeu_si128((__m128i *)&out[32], _mm_xor_si128(rows[2], cv0));
    _mm_storeu_si128((__m128i *)&out[48], _mm_xor_si128(rows[3], cv1));
}

/* hash_many for the few inputs left after the wide kernels: one at a time. */
static void R_NAME(hash_many_rows)(const uint8_t *const *inputs, size_t n, size_t blocks,
                                   const uint32_t key[8], uint64_t counter,
                                   bool increment_counter, uint8_t flags, uint8_t flags_start,
                                   uint8_t flags_end, uint8_t *out)
{
    for (; n > 0; n--) {
        uint32_t cv[8];
        memcpy(cv, key, sizeof(cv));
        uint8_t block_flags = flags | flags_start;
        for (size_t b = 0; b < blocks; b++) {
            if (b + 1 == blocks)
                block_flags |= flags_end;
            R_NAME(compress_in_place)(cv, inputs[0] + b * B3_BLOCK_LEN, B3_BLOCK_LEN, counter,
                                      block_flags);
            block_flags = flags;
        }
        b3_store_cv_words(out, cv);
        if (increment_counter)
            counter += 1;
        inputs += 1;
        out += B3_OUT_LEN;
    }
}
