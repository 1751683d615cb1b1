/*
 * hash: BLAKE3 internals shared by the tree logic and the SIMD tiers.
 *
 * The tree code (blake3.c) never touches vector registers. It calls the
 * active tier through `struct pio_b3_ops`:
 *   - compress_in_place: one compression, new chaining value into cv;
 *   - compress_xof: one compression, all 64 output bytes (root output);
 *   - hash_many: `n` independent inputs of `blocks` full blocks each
 *     (chunks, or parent nodes with blocks == 1), one 32-byte chaining value
 *     each into `out`. Input i uses counter `counter + i` when
 *     increment_counter, else `counter`. The first block gets flags_start,
 *     the last flags_end, every block `flags`.
 * Each tier lives in its own translation unit compiled with only its own
 * instruction-set flags (blake3_<tier>.c); blake3_dispatch.c picks one.
 * All tiers share the portable single-block compressions today (see
 * blake3_sse41.c for why); the ops table keeps them per tier so a faster
 * one can slot in.
 */
#ifndef PIO_BLAKE3_IMPL_H
#define PIO_BLAKE3_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "prismio/blake3.h"

#include "concurrent/pio_concurrent.h"
#include "hash/pio_hash.h"

#define B3_BLOCK_LEN PIO_BLAKE3_BLOCK_LEN
#define B3_CHUNK_LEN PIO_BLAKE3_CHUNK_LEN
#define B3_OUT_LEN   PIO_BLAKE3_OUT_LEN
#define B3_KEY_LEN   PIO_BLAKE3_KEY_LEN

enum b3_flags {
    B3_CHUNK_START = 1 << 0,
    B3_CHUNK_END = 1 << 1,
    B3_PARENT = 1 << 2,
    B3_ROOT = 1 << 3,
    B3_KEYED_HASH = 1 << 4,
    B3_DERIVE_KEY_CONTEXT = 1 << 5,
    B3_DERIVE_KEY_MATERIAL = 1 << 6,
};

/* The widest SIMD degree of any tier (AVX-512: 16 lanes). */
#define B3_MAX_SIMD_DEGREE 16

static const uint32_t B3_IV[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                                  0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};

/*
 * Message word order for each of the 7 rounds: row r is the permutation
 * (2,6,3,10,7,0,4,13,1,11,12,5,9,14,15,8) applied r times to 0..15, so round
 * r reads m[B3_SCHEDULE[r][i]] where round 0 reads m[i].
 */
static const uint8_t B3_SCHEDULE[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static inline uint32_t b3_load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* little-endian host: see the static check in blake3.c */
    return v;
}

static inline void b3_store32(void *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline void b3_load_key_words(const uint8_t key[B3_KEY_LEN], uint32_t words[8])
{
    for (int i = 0; i < 8; i++)
        words[i] = b3_load32(key + 4 * i);
}

static inline void b3_store_cv_words(uint8_t out[B3_OUT_LEN], const uint32_t cv[8])
{
    for (int i = 0; i < 8; i++)
        b3_store32(out + 4 * i, cv[i]);
}

typedef void (*pio_b3_compress_in_place_fn)(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                            uint8_t block_len, uint64_t counter, uint8_t flags);
typedef void (*pio_b3_compress_xof_fn)(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                       uint8_t block_len, uint64_t counter, uint8_t flags,
                                       uint8_t out[64]);
typedef void (*pio_b3_hash_many_fn)(const uint8_t *const *inputs, size_t n, size_t blocks,
                                    const uint32_t key[8], uint64_t counter, bool increment_counter,
                                    uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                                    uint8_t *out);

struct pio_b3_ops {
    enum pio_blake3_tier tier;
    size_t degree; /* inputs hash_many processes at once at full speed */
    pio_b3_compress_in_place_fn compress_in_place;
    pio_b3_compress_xof_fn compress_xof;
    pio_b3_hash_many_fn hash_many;
};

/* The active tier's operations (dispatch on first use). Never NULL. */
const struct pio_b3_ops *pio_b3_ops(void);

/* Per-tier entry points; a tier compiled out has no symbols. */
void pio_b3_compress_in_place_portable(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                       uint8_t block_len, uint64_t counter, uint8_t flags);
void pio_b3_compress_xof_portable(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                                  uint8_t block_len, uint64_t counter, uint8_t flags,
                                  uint8_t out[64]);
void pio_b3_hash_many_portable(const uint8_t *const *inputs, size_t n, size_t blocks,
                               const uint32_t key[8], uint64_t counter, bool increment_counter,
                               uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out);

void pio_b3_hash_many_sse41(const uint8_t *const *inputs, size_t n, size_t blocks,
                            const uint32_t key[8], uint64_t counter, bool increment_counter,
                            uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out);

void pio_b3_hash_many_avx2(const uint8_t *const *inputs, size_t n, size_t blocks,
                           const uint32_t key[8], uint64_t counter, bool increment_counter,
                           uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out);

void pio_b3_hash_many_avx512(const uint8_t *const *inputs, size_t n, size_t blocks,
                             const uint32_t key[8], uint64_t counter, bool increment_counter,
                             uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t *out);

/*
 * Chaining values of the two children of the subtree over input[0..len)
 * (len > one chunk) whose first chunk has number `counter`, into out[0..64):
 * the left child covers the largest power-of-two number of whole chunks
 * that leaves at least one byte for the right. Hashed with `ops` on up to
 * `threads` threads, the caller's included (blake3_pool.c).
 */
void pio_b3_subtree_children(const struct pio_b3_ops *ops, const uint8_t *input, size_t len,
                             const uint32_t key[8], uint64_t counter, uint8_t flags,
                             unsigned threads, uint8_t out[2 * B3_OUT_LEN]);

/* Chaining value of any non-root subtree over input[0..len), first chunk
 * number `counter`, on up to `threads` threads (blake3_tree.c). */
void pio_b3_subtree_cv(const struct pio_b3_ops *ops, const uint8_t *input, size_t len,
                       const uint32_t key[8], uint64_t counter, uint8_t flags, unsigned threads,
                       uint8_t out[B3_OUT_LEN]);

/*
 * At a chunk boundary of the input (chunk state empty or holding one whole
 * chunk), flush that chunk (more input follows it) and return the number
 * of the next chunk (blake3.c).
 */
uint64_t pio_b3_hasher_boundary(const struct pio_b3_ops *ops, pio_blake3_hasher *h);

/*
 * At an aligned subtree boundary (after pio_b3_hasher_boundary), push the
 * CVs of the next subtree's two children (as pio_b3_subtree_children gives
 * them) and advance past its `sub_chunks` chunks (blake3.c).
 */
void pio_b3_hasher_push_children(const struct pio_b3_ops *ops, pio_blake3_hasher *h,
                                 const uint8_t cvs[2 * B3_OUT_LEN], uint64_t sub_chunks);

#endif /* PIO_BLAKE3_IMPL_H */
