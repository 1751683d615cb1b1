/*
 * BLAKE3 subtrees, wide and threaded.
 *
 * Small subtrees (up to BASE_CHUNKS chunks) are hashed level by level:
 * every whole chunk at once through the tier's hash_many (one chunk per
 * SIMD lane), a trailing partial chunk alone, then each level of parents
 * at once through hash_many with one block per input. All CVs of a level
 * but the last cover equal, aligned power-of-two subtrees, so pairing
 * neighbours and carrying an odd last one up builds exactly the BLAKE3
 * tree. Stopping at two CVs instead of one yields a subtree's children
 * (the level with two nodes is the one just below the subtree's root).
 *
 * Larger subtrees recurse into their two children, then compress one
 * parent. A child pair of at least MT_MIN_LEN bytes with a thread budget
 * above one runs its left child as a task on the pool (blake3_pool.c)
 * while the caller hashes the right child, each with half the budget.
 */
#include "hash/blake3_impl.h"

#include "common/pio_common.h"

/* Chunks hashed level by level in one go: 128 KiB of input, 4 KiB of CVs. */
#define BASE_CHUNKS 128
/* Smallest child pair worth a thread hand-off (a wake-up costs ~10-50 us). */
#define MT_MIN_LEN ((size_t)2 << 20)

/* CV of a chunk of 1..1024 bytes that is not the root. */
static void chunk_cv(const struct pio_b3_ops *ops, const uint8_t *in, size_t len,
                     const uint32_t key[8], uint64_t counter, uint8_t flags,
                     uint8_t out[B3_OUT_LEN])
{
    uint32_t cv[8];
    memcpy(cv, key, sizeof(cv));
    uint8_t start = B3_CHUNK_START;
    while (len > B3_BLOCK_LEN) {
        ops->compress_in_place(cv, in, B3_BLOCK_LEN, counter, flags | start);
        start = 0;
        in += B3_BLOCK_LEN;
        len -= B3_BLOCK_LEN;
    }
    uint8_t block[B3_BLOCK_LEN] = {0};
    memcpy(block, in, len);
    ops->compress_in_place(cv, block, (uint8_t)len, counter, flags | start | B3_CHUNK_END);
    b3_store_cv_words(out, cv);
}

/* Hash in[0..len) (at most BASE_CHUNKS chunks) level by level until `keep`
 * CVs remain (1: the subtree's CV; 2: its children's), into out. */
static void hash_levels(const struct pio_b3_ops *ops, const uint8_t *in, size_t len,
                        const uint32_t key[8], uint64_t counter, uint8_t flags, size_t keep,
                        uint8_t *out)
{
    uint8_t buf_a[BASE_CHUNKS * B3_OUT_LEN], buf_b[BASE_CHUNKS / 2 * B3_OUT_LEN];
    const uint8_t *ptrs[BASE_CHUNKS];
    size_t full = len / B3_CHUNK_LEN, rem = len % B3_CHUNK_LEN;

    for (size_t i = 0; i < full; i++)
        ptrs[i] = in + i * B3_CHUNK_LEN;
    if (full > 0)
        ops->hash_many(ptrs, full, B3_CHUNK_LEN / B3_BLOCK_LEN, key, counter, true, flags,
                       B3_CHUNK_START, B3_CHUNK_END, buf_a);
    if (rem > 0)
        chunk_cv(ops, in + full * B3_CHUNK_LEN, rem, key, counter + full, flags,
                 buf_a + full * B3_OUT_LEN);

    size_t n = full + (rem > 0);
    uint8_t *cur = buf_a, *next = buf_b;
    while (n > keep) {
        size_t pairs = n / 2;
        for (size_t i = 0; i < pairs; i++)
            ptrs[i] = cur + 2 * i * B3_OUT_LEN;
        ops->hash_many(ptrs, pairs, 1, key, 0, false, flags | B3_PARENT, 0, 0, next);
        if (n % 2)
            memcpy(next + pairs * B3_OUT_LEN, cur + (n - 1) * B3_OUT_LEN, B3_OUT_LEN);
        n = pairs + n % 2;
        uint8_t *t = cur;
        cur = next;
        next = t;
    }
    memcpy(out, cur, keep * B3_OUT_LEN);
}

/* Bytes in the left child of a subtree of `len` bytes (len > one chunk). */
static size_t left_len(size_t len)
{
    size_t full_chunks = (len - 1) / B3_CHUNK_LEN;
    return ((size_t)1 << (63 - __builtin_clzll((unsigned long long)full_chunks))) * B3_CHUNK_LEN;
}

void pio_b3_subtree_cv(const struct pio_b3_ops *ops, const uint8_t *in, size_t len,
                       const uint32_t key[8], uint64_t counter, uint8_t flags, unsigned threads,
                       uint8_t out[B3_OUT_LEN])
{
    if (len <= (size_t)BASE_CHUNKS * B3_CHUNK_LEN) {
        hash_levels(ops, in, len, key, counter, flags, 1, out);
        return;
    }
    uint8_t block[B3_BLOCK_LEN];
    pio_b3_subtree_children(ops, in, len, key, counter, flags, threads, block);
    uint32_t cv[8];
    memcpy(cv, key, sizeof(cv));
    ops->compress_in_place(cv, block, B3_BLOCK_LEN, 0, flags | B3_PARENT);
    b3_store_cv_words(out, cv);
}

/* The left half of a child pair, run on the pool. */
struct subtree_task {
    struct pio_task base; /* first: the pool hands back this pointer */
    const struct pio_b3_ops *ops;
    const uint8_t *in;
    size_t len;
    const uint32_t *key;
    uint64_t counter;
    uint8_t flags;
    unsigned threads;
    uint8_t *out;
};

static void run_subtree_task(struct pio_task *base)
{
    struct subtree_task *t = (struct subtree_task *)base;
    pio_b3_subtree_cv(t->ops, t->in, t->len, t->key, t->counter, t->flags, t->threads, t->out);
}

void pio_b3_subtree_children(const struct pio_b3_ops *ops, const uint8_t *input, size_t len,
                             const uint32_t key[8], uint64_t counter, uint8_t flags,
                             unsigned threads, uint8_t out[2 * B3_OUT_LEN])
{
    if (len <= (size_t)BASE_CHUNKS * B3_CHUNK_LEN) {
        hash_levels(ops, input, len, key, counter, flags, 2, out);
        return;
    }
    size_t left = left_len(len);
    uint64_t right_counter = counter + left / B3_CHUNK_LEN;
    if (threads > 1 && len >= MT_MIN_LEN) {
        unsigned left_threads = threads / 2;
        struct subtree_task t = {
            .base.run = run_subtree_task,
            .ops = ops,
            .in = input,
            .len = left,
            .key = key,
            .counter = counter,
            .flags = flags,
            .threads = left_threads,
            .out = out,
        };
        bool queued = pio_workers_submit(&t.base, threads - 1);
        pio_b3_subtree_cv(ops, input + left, len - left, key, right_counter, flags,
                          threads - left_threads, out + B3_OUT_LEN);
        if (queued)
            pio_workers_wait(&t.base);
        else
            t.base.run(&t.base);
        return;
    }
    pio_b3_subtree_cv(ops, input, left, key, counter, flags, 1, out);
    pio_b3_subtree_cv(ops, input + left, len - left, key, right_counter, flags, 1,
                      out + B3_OUT_LEN);
}

/* ---- many inputs of one length -------------------------------------------------
 * Inputs of the same length have trees of the same shape, so each node can
 * be computed for all of them at once: one SIMD lane per input, for every
 * chunk and every parent (a lone small input hashes its last chunk,
 * parents and root one compression at a time). */

/* Where input k's chunks are: chunk c at in[k] + c * 1024, or, with a
 * table, at chunks[k * nch + c]. */
struct equal_src {
    const uint8_t *const *in;
    const uint8_t *const *chunks;
    size_t nch;
};

static const uint8_t *chunk_at(const struct equal_src *s, size_t k, uint64_t c)
{
    return s->chunks ? s->chunks[k * s->nch + c] : s->in[k] + (size_t)c * B3_CHUNK_LEN;
}

/* CVs (32 bytes per input, into out) of chunks [first, first + count) of
 * each input; `root` marks the top node. */
static void equal_node(const struct pio_b3_ops *ops, const struct equal_src *src, size_t n,
                       size_t len, uint64_t first, uint64_t count, bool root, uint8_t *out)
{
    const uint8_t *ptrs[PIO_B3_EQUAL_MAX];
    uint8_t rootf = root ? B3_ROOT : 0;
    if (count == 1) {
        size_t off = (size_t)first * B3_CHUNK_LEN;
        size_t blocks = PIO_MIN((size_t)B3_CHUNK_LEN, len - off) / B3_BLOCK_LEN;
        for (size_t k = 0; k < n; k++)
            ptrs[k] = chunk_at(src, k, first);
        ops->hash_many(ptrs, n, blocks, B3_IV, first, false, 0, B3_CHUNK_START,
                       B3_CHUNK_END | rootf, out);
        return;
    }
    uint64_t left = (uint64_t)1 << (63 - __builtin_clzll((unsigned long long)(count - 1)));
    uint8_t pairs[PIO_B3_EQUAL_MAX][2 * B3_OUT_LEN];
    uint8_t cvs[2][PIO_B3_EQUAL_MAX * B3_OUT_LEN];
    equal_node(ops, src, n, len, first, left, false, cvs[0]);
    equal_node(ops, src, n, len, first + left, count - left, false, cvs[1]);
    for (size_t k = 0; k < n; k++) {
        memcpy(pairs[k], cvs[0] + k * B3_OUT_LEN, B3_OUT_LEN);
        memcpy(pairs[k] + B3_OUT_LEN, cvs[1] + k * B3_OUT_LEN, B3_OUT_LEN);
        ptrs[k] = pairs[k];
    }
    ops->hash_many(ptrs, n, 1, B3_IV, 0, false, B3_PARENT | rootf, 0, 0, out);
}

static void hash_equal(const uint8_t *const *inputs, const uint8_t *const *chunks, size_t n,
                       size_t len, uint8_t *out)
{
    const struct pio_b3_ops *ops = pio_b3_ops();
    size_t nch = (len + B3_CHUNK_LEN - 1) / B3_CHUNK_LEN;
    for (size_t done = 0; done < n; done += PIO_B3_EQUAL_MAX) {
        size_t m = PIO_MIN(n - done, (size_t)PIO_B3_EQUAL_MAX);
        struct equal_src src = {inputs ? inputs + done : NULL, chunks ? chunks + done * nch : NULL,
                                nch};
        equal_node(ops, &src, m, len, 0, nch, true, out + done * B3_OUT_LEN);
    }
}

void pio_b3_hash_equal(const uint8_t *const *inputs, size_t n, size_t len, uint8_t *out)
{
    hash_equal(inputs, NULL, n, len, out);
}

void pio_b3_hash_equal_chunks(const uint8_t *const *chunks, size_t n, size_t len, uint8_t *out)
{
    hash_equal(NULL, chunks, n, len, out);
}
