/*
 * BLAKE3 hasher: the tree logic over the tier kernels.
 *
 * BLAKE3 splits input into 1 KiB chunks (chunk i hashed with counter i) and
 * combines chaining values (CVs) in a binary tree whose left subtrees are
 * always complete powers of two. The incremental hasher keeps:
 *   - the chunk in progress (its CV, a one-block buffer, blocks compressed);
 *   - a stack of CVs of completed subtrees, at most one per size, so the
 *     stack mirrors the binary representation of the chunk count.
 * A block is never compressed until more input follows it, because the last
 * block of a chunk (and the root) take extra flags; likewise stacked CVs are
 * merged lazily, only when input past them proves they are not the root.
 *
 * Large updates skip the chunk state: whole aligned power-of-two subtrees
 * go to pio_b3_subtree_children (blake3_pool.c), which hashes many chunks at once
 * with the tier's hash_many and may use threads. The subtree's two children
 * are pushed rather than the subtree's own CV, since if the input ends
 * there the subtree is the root and needs the ROOT flag on its compression.
 */
#include <assert.h>

#include "hash/blake3_impl.h"
#include "hash/pio_hash.h"

#include "common/pio_common.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "prism-io supports little-endian hosts only (see docs/FORMAT.md)"
#endif

/* The work a root compression needs: enough to make any output block. */
struct b3_output {
    uint32_t cv[8];
    uint8_t block[B3_BLOCK_LEN];
    uint8_t block_len;
    uint64_t counter;
    uint8_t flags;
};

static void output_cv(const struct pio_b3_ops *ops, const struct b3_output *o,
                      uint8_t out[B3_OUT_LEN])
{
    uint32_t cv[8];
    memcpy(cv, o->cv, sizeof(cv));
    ops->compress_in_place(cv, o->block, o->block_len, o->counter, o->flags);
    b3_store_cv_words(out, cv);
}

static void output_root_bytes(const struct pio_b3_ops *ops, const struct b3_output *o,
                              uint64_t seek, uint8_t *out, size_t out_len)
{
    uint64_t block_counter = seek / 64;
    size_t offset = (size_t)(seek % 64);
    uint8_t buf[64];
    while (out_len > 0) {
        ops->compress_xof(o->cv, o->block, o->block_len, block_counter, o->flags | B3_ROOT, buf);
        size_t take = PIO_MIN(64 - offset, out_len);
        memcpy(out, buf + offset, take);
        out += take;
        out_len -= take;
        offset = 0;
        block_counter += 1;
    }
}

static struct b3_output parent_output(const uint8_t block[B3_BLOCK_LEN], const uint32_t key[8],
                                      uint8_t flags)
{
    struct b3_output o;
    memcpy(o.cv, key, sizeof(o.cv));
    memcpy(o.block, block, B3_BLOCK_LEN);
    o.block_len = B3_BLOCK_LEN;
    o.counter = 0;
    o.flags = flags | B3_PARENT;
    return o;
}

/* ---- chunk state ------------------------------------------------------ */

static size_t chunk_len(const pio_blake3_hasher *h)
{
    return (size_t)h->blocks_compressed * B3_BLOCK_LEN + h->buf_len;
}

static uint8_t chunk_start_flag(const pio_blake3_hasher *h)
{
    return h->blocks_compressed == 0 ? B3_CHUNK_START : 0;
}

static void chunk_reset(pio_blake3_hasher *h, uint64_t counter)
{
    memcpy(h->cv, h->key, sizeof(h->cv));
    h->chunk_counter = counter;
    memset(h->buf, 0, sizeof(h->buf));
    h->buf_len = 0;
    h->blocks_compressed = 0;
}

/* Absorb input into the current chunk; the caller never overfills it. */
static void chunk_update(const struct pio_b3_ops *ops, pio_blake3_hasher *h, const uint8_t *in,
                         size_t len)
{
    if (h->buf_len > 0) {
        size_t take = PIO_MIN((size_t)B3_BLOCK_LEN - h->buf_len, len);
        memcpy(h->buf + h->buf_len, in, take);
        h->buf_len += (uint8_t)take;
        in += take;
        len -= take;
        if (len == 0)
            return;
        /* The buffer is full and more input follows: it is not the last block. */
        ops->compress_in_place(h->cv, h->buf, B3_BLOCK_LEN, h->chunk_counter,
                               h->flags | chunk_start_flag(h));
        h->blocks_compressed += 1;
        h->buf_len = 0;
        memset(h->buf, 0, sizeof(h->buf));
    }
    while (len > B3_BLOCK_LEN) {
        ops->compress_in_place(h->cv, in, B3_BLOCK_LEN, h->chunk_counter,
                               h->flags | chunk_start_flag(h));
        h->blocks_compressed += 1;
        in += B3_BLOCK_LEN;
        len -= B3_BLOCK_LEN;
    }
    memcpy(h->buf, in, len);
    h->buf_len = (uint8_t)len;
}

static struct b3_output chunk_output(const pio_blake3_hasher *h)
{
    struct b3_output o;
    memcpy(o.cv, h->cv, sizeof(o.cv));
    memcpy(o.block, h->buf, B3_BLOCK_LEN); /* zero past buf_len: see chunk_reset */
    o.block_len = h->buf_len;
    o.counter = h->chunk_counter;
    o.flags = h->flags | chunk_start_flag(h) | B3_CHUNK_END;
    return o;
}

/* ---- CV stack --------------------------------------------------------- */

/* Merge stacked CVs until the stack holds one CV per set bit of
 * `total_chunks`: the subtrees that a tree over that many chunks has.
 * Called only when more input is known to follow, so no merge is the root. */
static void merge_cv_stack(const struct pio_b3_ops *ops, pio_blake3_hasher *h,
                           uint64_t total_chunks)
{
    size_t target = (size_t)__builtin_popcountll(total_chunks);
    while (h->cv_stack_len > target) {
        uint8_t *pair = &h->cv_stack[(h->cv_stack_len - 2) * B3_OUT_LEN];
        struct b3_output o = parent_output(pair, h->key, h->flags);
        output_cv(ops, &o, pair);
        h->cv_stack_len -= 1;
    }
}

static void push_cv(const struct pio_b3_ops *ops, pio_blake3_hasher *h,
                    const uint8_t cv[B3_OUT_LEN], uint64_t chunk_counter)
{
    merge_cv_stack(ops, h, chunk_counter);
    memcpy(&h->cv_stack[h->cv_stack_len * B3_OUT_LEN], cv, B3_OUT_LEN);
    h->cv_stack_len += 1;
}

uint64_t pio_b3_hasher_boundary(const struct pio_b3_ops *ops, pio_blake3_hasher *h)
{
    if (chunk_len(h) == B3_CHUNK_LEN) {
        /* A whole chunk waits in the chunk state; input follows it now. */
        struct b3_output o = chunk_output(h);
        uint8_t cv[B3_OUT_LEN];
        output_cv(ops, &o, cv);
        push_cv(ops, h, cv, h->chunk_counter);
        chunk_reset(h, h->chunk_counter + 1);
    }
    assert(chunk_len(h) == 0);
    return h->chunk_counter;
}

void pio_b3_hasher_push_children(const struct pio_b3_ops *ops, pio_blake3_hasher *h,
                                 const uint8_t cvs[2 * B3_OUT_LEN], uint64_t sub_chunks)
{
    assert(chunk_len(h) == 0);
    assert(sub_chunks >= 2 && (h->chunk_counter & (sub_chunks - 1)) == 0);
    push_cv(ops, h, cvs, h->chunk_counter);
    push_cv(ops, h, cvs + B3_OUT_LEN, h->chunk_counter + sub_chunks / 2);
    h->chunk_counter += sub_chunks;
}

/* ---- public API ------------------------------------------------------- */

static void hasher_init(pio_blake3_hasher *h, const uint32_t key[8], uint8_t flags)
{
    memcpy(h->key, key, sizeof(h->key));
    h->flags = flags;
    h->cv_stack_len = 0;
    chunk_reset(h, 0);
}

PIO_API void pio_blake3_hasher_init(pio_blake3_hasher *h)
{
    hasher_init(h, B3_IV, 0);
}

PIO_API void pio_blake3_hasher_init_keyed(pio_blake3_hasher *h,
                                          const uint8_t key[PIO_BLAKE3_KEY_LEN])
{
    uint32_t words[8];
    b3_load_key_words(key, words);
    hasher_init(h, words, B3_KEYED_HASH);
}

PIO_API void pio_blake3_hasher_init_derive_key_raw(pio_blake3_hasher *h, const void *context,
                                                   size_t context_len)
{
    pio_blake3_hasher ctx;
    hasher_init(&ctx, B3_IV, B3_DERIVE_KEY_CONTEXT);
    pio_blake3_hasher_update(&ctx, context, context_len);
    uint8_t context_key[B3_KEY_LEN];
    pio_blake3_hasher_finalize(&ctx, context_key, B3_KEY_LEN);
    uint32_t words[8];
    b3_load_key_words(context_key, words);
    hasher_init(h, words, B3_DERIVE_KEY_MATERIAL);
}

PIO_API void pio_blake3_hasher_init_derive_key(pio_blake3_hasher *h, const char *context)
{
    pio_blake3_hasher_init_derive_key_raw(h, context, strlen(context));
}

PIO_API void pio_blake3_hasher_reset(pio_blake3_hasher *h)
{
    h->cv_stack_len = 0;
    chunk_reset(h, 0);
}

static void hasher_update(pio_blake3_hasher *h, const uint8_t *in, size_t len, unsigned threads)
{
    if (len == 0) /* (NULL, 0) is a valid empty input */
        return;
    const struct pio_b3_ops *ops = pio_b3_ops();

    /* Finish a partial chunk first. */
    if (chunk_len(h) > 0) {
        size_t take = PIO_MIN((size_t)B3_CHUNK_LEN - chunk_len(h), len);
        chunk_update(ops, h, in, take);
        in += take;
        len -= take;
        if (len == 0)
            return;
        pio_b3_hasher_boundary(ops, h); /* the chunk is whole: flush it */
    }

    /* Whole subtrees, while more than one chunk's worth remains (the last
     * chunk stays in the chunk state: it may be the root). Each subtree is
     * the largest power of two of chunks that fits and is aligned to the
     * chunks already hashed, so it is a real node of the final tree. */
    while (len > B3_CHUNK_LEN) {
        size_t sub = (size_t)1 << (63 - __builtin_clzll((unsigned long long)len));
        uint64_t done = h->chunk_counter * B3_CHUNK_LEN;
        while (((uint64_t)(sub - 1) & done) != 0)
            sub /= 2;
        uint64_t sub_chunks = sub / B3_CHUNK_LEN;
        if (sub == B3_CHUNK_LEN) {
            uint8_t cv[B3_OUT_LEN];
            ops->hash_many(&in, 1, B3_CHUNK_LEN / B3_BLOCK_LEN, h->key, h->chunk_counter, true,
                           h->flags, B3_CHUNK_START, B3_CHUNK_END, cv);
            push_cv(ops, h, cv, h->chunk_counter);
            h->chunk_counter += 1;
        } else {
            uint8_t cvs[2 * B3_OUT_LEN];
            pio_b3_subtree_children(ops, in, sub, h->key, h->chunk_counter, h->flags, threads, cvs);
            pio_b3_hasher_push_children(ops, h, cvs, sub_chunks);
        }
        in += sub;
        len -= sub;
    }

    if (len > 0) {
        chunk_update(ops, h, in, len);
        merge_cv_stack(ops, h, h->chunk_counter);
    }
}

PIO_API void pio_blake3_hasher_update(pio_blake3_hasher *h, const void *input, size_t len)
{
    hasher_update(h, (const uint8_t *)input, len, 1);
}

PIO_API void pio_blake3_hasher_update_mt(pio_blake3_hasher *h, const void *input, size_t len,
                                         unsigned threads)
{
    if (threads == 0)
        threads = pio_cpu_count();
    hasher_update(h, (const uint8_t *)input, len, threads);
}

PIO_API void pio_blake3_hasher_finalize_seek(const pio_blake3_hasher *h, uint64_t seek,
                                             uint8_t *out, size_t out_len)
{
    const struct pio_b3_ops *ops = pio_b3_ops();
    if (out_len == 0)
        return;
    if (h->cv_stack_len == 0) {
        struct b3_output o = chunk_output(h);
        output_root_bytes(ops, &o, seek, out, out_len);
        return;
    }
    /* Roll the stack up from the top. With bytes in the chunk state, that
     * chunk is the rightmost leaf; with none (the input ended on a subtree
     * boundary), the top two stacked CVs are the root's children. */
    struct b3_output o;
    size_t remaining;
    if (chunk_len(h) > 0) {
        remaining = h->cv_stack_len;
        o = chunk_output(h);
    } else {
        remaining = h->cv_stack_len - 2;
        o = parent_output(&h->cv_stack[remaining * B3_OUT_LEN], h->key, h->flags);
    }
    while (remaining > 0) {
        remaining -= 1;
        uint8_t block[B3_BLOCK_LEN];
        memcpy(block, &h->cv_stack[remaining * B3_OUT_LEN], B3_OUT_LEN);
        output_cv(ops, &o, block + B3_OUT_LEN);
        o = parent_output(block, h->key, h->flags);
    }
    output_root_bytes(ops, &o, seek, out, out_len);
}

PIO_API void pio_blake3_hasher_finalize(const pio_blake3_hasher *h, uint8_t *out, size_t out_len)
{
    pio_blake3_hasher_finalize_seek(h, 0, out, out_len);
}

PIO_API void pio_blake3_hash(uint8_t *out, size_t out_len, const void *input, size_t len)
{
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    pio_blake3_hasher_update(&h, input, len);
    pio_blake3_hasher_finalize(&h, out, out_len);
}

PIO_API void pio_blake3_keyed_hash(uint8_t *out, size_t out_len,
                                   const uint8_t key[PIO_BLAKE3_KEY_LEN], const void *input,
                                   size_t len)
{
    pio_blake3_hasher h;
    pio_blake3_hasher_init_keyed(&h, key);
    pio_blake3_hasher_update(&h, input, len);
    pio_blake3_hasher_finalize(&h, out, out_len);
}

PIO_API void pio_blake3_derive_key(uint8_t *out, size_t out_len, const char *context,
                                   const void *key_material, size_t key_material_len)
{
    pio_blake3_hasher h;
    pio_blake3_hasher_init_derive_key(&h, context);
    pio_blake3_hasher_update(&h, key_material, key_material_len);
    pio_blake3_hasher_finalize(&h, out, out_len);
}

/* ---- one input hashed in pieces (the MPI writer's records) ---- */

size_t pio_b3_piece_cvs(const uint8_t *in, size_t len, uint64_t counter, uint8_t (*cvs)[32],
                        uint64_t *chunks, size_t cap)
{
    const struct pio_b3_ops *ops = pio_b3_ops();
    size_t n = 0;
    assert(len % B3_CHUNK_LEN == 0);
    while (len > 0 && n < cap) {
        /* the largest power of two of chunks that fits and is aligned */
        size_t sub = (size_t)1 << (63 - __builtin_clzll((unsigned long long)len));
        while (((uint64_t)(sub / B3_CHUNK_LEN - 1) & counter) != 0)
            sub /= 2;
        if (sub == B3_CHUNK_LEN)
            ops->hash_many(&in, 1, B3_CHUNK_LEN / B3_BLOCK_LEN, B3_IV, counter, true, 0,
                           B3_CHUNK_START, B3_CHUNK_END, cvs[n]);
        else
            pio_b3_subtree_cv(ops, in, sub, B3_IV, counter, 0, 1, cvs[n]);
        chunks[n++] = sub / B3_CHUNK_LEN;
        counter += sub / B3_CHUNK_LEN;
        in += sub;
        len -= sub;
    }
    return len == 0 ? n : 0;
}

void pio_b3_hasher_push_subtree(pio_blake3_hasher *h, const uint8_t cv[32], uint64_t chunks)
{
    const struct pio_b3_ops *ops = pio_b3_ops();
    pio_b3_hasher_boundary(ops, h);
    assert(chunks >= 1 && (chunks & (chunks - 1)) == 0 && (h->chunk_counter & (chunks - 1)) == 0);
    push_cv(ops, h, cv, h->chunk_counter);
    h->chunk_counter += chunks;
}
