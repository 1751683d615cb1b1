/*
 * BLAKE3 "lanes" kernel template: N inputs hashed at once, one per vector
 * lane, for SIMD tiers. Included by a tier's translation unit after it
 * defines, for one vector width:
 *
 *   L_V                 the vector type (__m128i, __m256i, __m512i)
 *   L_N                 lanes in L_V (4, 8, 16)
 *   L_ADD, L_XOR        32-bit lane-wise add and xor
 *   L_SET1(x)           broadcast a uint32_t
 *   L_LOADU(p), L_STOREU(p, v)   unaligned load/store of a whole vector
 *   L_ROT16/12/8/7(x)   32-bit right rotations
 *   L_LOAD_MSG(inputs, offset, m)  the 16 message words of block `offset`
 *                       of each input, transposed: m[w] lane i = word w of
 *                       input i (the tier's own shuffle network)
 *   L_NAME(x)           pastes a width suffix onto x, keeping names unique
 *   L_ROUNDS(v, m, h)   optional: the seven rounds and the feed-forward
 *                       (h[i] = v[i] ^ v[i + 8]) done elsewhere (the AVX2
 *                       tier's assembly); without it, the rounds below
 *
 * The parameters are #undef'd at the end, so a file can include this
 * template again for another width.
 *
 * It defines L_NAME(hash_lanes)(inputs, blocks, key, counter, increment,
 * flags, flags_start, flags_end, out): exactly L_N inputs, same contract as
 * hash_many in blake3_impl.h; and L_NAME(hash_lanes_padded)(..., n, ...)
 * for 1..L_N inputs: spare lanes hash input 0 again and their outputs are
 * dropped, which costs nothing extra since a pass takes the same time with
 * one lane or all of them busy. The message schedule is read with constant
 * indices (each round is expanded with a literal round number), so the
 * words stay in registers.
 */

static inline void L_NAME(g)(L_V v[16], int a, int b, int c, int d, L_V x, L_V y)
{
    v[a] = L_ADD(L_ADD(v[a], v[b]), x);
    v[d] = L_ROT16(L_XOR(v[d], v[a]));
    v[c] = L_ADD(v[c], v[d]);
    v[b] = L_ROT12(L_XOR(v[b], v[c]));
    v[a] = L_ADD(L_ADD(v[a], v[b]), y);
    v[d] = L_ROT8(L_XOR(v[d], v[a]));
    v[c] = L_ADD(v[c], v[d]);
    v[b] = L_ROT7(L_XOR(v[b], v[c]));
}

static inline __attribute__((always_inline)) void L_NAME(round)(L_V v[16], const L_V m[16], int r)
{
    const uint8_t *s = B3_SCHEDULE[r];
    L_NAME(g)(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    L_NAME(g)(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    L_NAME(g)(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    L_NAME(g)(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    L_NAME(g)(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    L_NAME(g)(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    L_NAME(g)(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    L_NAME(g)(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

static void L_NAME(hash_lanes)(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
                               uint64_t counter, bool increment_counter, uint8_t flags,
                               uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
    L_V h[8];
    for (int i = 0; i < 8; i++)
        h[i] = L_SET1(key[i]);

    /* Per-lane 64-bit counters split into low and high words; computing
     * them in scalar code keeps the carry handling obvious and costs
     * nothing next to a chunk's 16 compressions. */
    uint32_t lo[L_N], hi[L_N];
    for (int i = 0; i < L_N; i++) {
        uint64_t c = counter + (increment_counter ? (uint64_t)i : 0);
        lo[i] = (uint32_t)c;
        hi[i] = (uint32_t)(c >> 32);
    }
    const L_V counter_lo = L_LOADU(lo);
    const L_V counter_hi = L_LOADU(hi);

    uint8_t block_flags = flags | flags_start;
    for (size_t b = 0; b < blocks; b++) {
        if (b + 1 == blocks)
            block_flags |= flags_end;
        L_V m[16];
        L_LOAD_MSG(inputs, b * B3_BLOCK_LEN, m);
        L_V v[16] = {
            h[0],
            h[1],
            h[2],
            h[3],
            h[4],
            h[5],
            h[6],
            h[7],
            L_SET1(B3_IV[0]),
            L_SET1(B3_IV[1]),
            L_SET1(B3_IV[2]),
            L_SET1(B3_IV[3]),
            counter_lo,
            counter_hi,
            L_SET1(B3_BLOCK_LEN),
            L_SET1(block_flags),
        };
#ifdef L_ROUNDS
        L_ROUNDS(v, m, h);
#else
        L_NAME(round)(v, m, 0);
        L_NAME(round)(v, m, 1);
        L_NAME(round)(v, m, 2);
        L_NAME(round)(v, m, 3);
        L_NAME(round)(v, m, 4);
        L_NAME(round)(v, m, 5);
        L_NAME(round)(v, m, 6);
        for (int i = 0; i < 8; i++)
            h[i] = L_XOR(v[i], v[i + 8]);
#endif
        block_flags = flags;
    }

    /* Un-transpose: lane i's eight words become output CV i. Once per
     * input (not per block), so plain scalar code is fine here. */
    uint32_t words[8][L_N];
    for (int i = 0; i < 8; i++)
        L_STOREU(words[i], h[i]);
    for (int lane = 0; lane < L_N; lane++)
        for (int i = 0; i < 8; i++)
            b3_store32(out + lane * B3_OUT_LEN + 4 * i, words[i][lane]);
}

static void L_NAME(hash_lanes_padded)(const uint8_t *const *inputs, size_t n, size_t blocks,
                                      const uint32_t key[8], uint64_t counter,
                                      bool increment_counter, uint8_t flags, uint8_t flags_start,
                                      uint8_t flags_end, uint8_t *out)
{
    const uint8_t *ptrs[L_N];
    uint8_t cvs[L_N * B3_OUT_LEN];
    for (size_t i = 0; i < L_N; i++)
        ptrs[i] = inputs[i < n ? i : 0];
    L_NAME(hash_lanes)
    (ptrs, blocks, key, counter, increment_counter, flags, flags_start, flags_end, cvs);
    memcpy(out, cvs, n * B3_OUT_LEN);
}

#undef L_V
#undef L_N
#undef L_ADD
#undef L_XOR
#undef L_SET1
#undef L_LOADU
#undef L_STOREU
#undef L_ROT16
#undef L_ROT12
#undef L_ROT8
#undef L_ROT7
#undef L_LOAD_MSG
#undef L_NAME
#undef L_ROUNDS
