/*
 * BLAKE3 of file contents, read with pread() into small buffers.
 *
 * Why not mmap: on the machines we measured, faulting in a warm file's
 * pages costs more than hashing them (a warm mmap scan ran at 2.3-2.9 GB/s,
 * read() into a reused 1 MiB buffer at 14.9 GB/s, BLAKE3 AVX-512 at about
 * 7 GB/s). Reading FILE_BLOCK bytes at a time keeps the data in the L2
 * cache between the copy and the hash.
 *
 * Threads: the file is cut into aligned subtrees of FILE_SUBTREE bytes.
 * Workers (the pool's and the caller) claim subtrees from an atomic
 * counter, each streaming its subtree through its own buffer block by block
 * and keeping a small CV stack, and deliver the subtree's two children.
 * The caller then pushes the children into the hasher in file order. Work
 * is done in windows of FILE_WINDOW subtrees so memory stays fixed
 * whatever the file's size.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "hash/blake3_impl.h"

#include "common/pio_common.h"

#define FILE_BLOCK   ((size_t)256 << 10) /* power of two, multiple of a chunk */
#define FILE_SUBTREE ((size_t)8 << 20)   /* power of two, >= 2 * FILE_BLOCK */
#define FILE_WINDOW  64

/* Read exactly len bytes at off: 0, -errno, or PIO_ETRUNCATED at early EOF. */
static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return PIO_ETRUNCATED;
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int update_serial(pio_blake3_hasher *h, int fd, uint64_t off, uint64_t len, uint8_t *buf)
{
    while (len > 0) {
        size_t n = (size_t)PIO_MIN(len, (uint64_t)FILE_BLOCK);
        int rc = pread_full(fd, buf, n, off);
        if (rc != 0)
            return rc;
        pio_blake3_hasher_update(h, buf, n);
        off += n;
        len -= n;
    }
    return 0;
}

/* Replace the top two CVs of the stack by their parent's. */
static void merge_top(const struct pio_b3_ops *ops, uint8_t (*stack)[B3_OUT_LEN], size_t *depth,
                      const uint32_t key[8], uint8_t flags)
{
    uint32_t cv[8];
    memcpy(cv, key, sizeof(cv));
    ops->compress_in_place(cv, stack[*depth - 2], B3_BLOCK_LEN, 0, flags | B3_PARENT);
    b3_store_cv_words(stack[*depth - 2], cv);
    *depth -= 1;
}

/* The children's CVs of the FILE_SUBTREE bytes at `off`, first chunk
 * `counter`: blocks hashed one by one, CVs merged on a local stack (the
 * stack rule of blake3.c, counted in blocks), finally reduced to two. */
static int subtree_children_from_file(const struct pio_b3_ops *ops, int fd, uint64_t off,
                                      const uint32_t key[8], uint64_t counter, uint8_t flags,
                                      uint8_t *buf, uint8_t out[2 * B3_OUT_LEN])
{
    uint8_t stack[64][B3_OUT_LEN];
    size_t depth = 0;
    const size_t nblocks = FILE_SUBTREE / FILE_BLOCK;
    for (size_t i = 0; i < nblocks; i++) {
        int rc = pread_full(fd, buf, FILE_BLOCK, off + i * FILE_BLOCK);
        if (rc != 0)
            return rc;
        while (depth > (size_t)__builtin_popcountll(i))
            merge_top(ops, stack, &depth, key, flags);
        pio_b3_subtree_cv(ops, buf, FILE_BLOCK, key, counter + i * (FILE_BLOCK / B3_CHUNK_LEN),
                          flags, 1, stack[depth]);
        depth++;
    }
    while (depth > 2)
        merge_top(ops, stack, &depth, key, flags);
    memcpy(out, stack[0], 2 * B3_OUT_LEN);
    return 0;
}

struct file_window {
    const struct pio_b3_ops *ops;
    int fd;
    uint64_t off;     /* file offset of subtree 0 */
    uint64_t counter; /* chunk number of subtree 0 */
    const uint32_t *key;
    uint8_t flags;
    size_t count;
    uint8_t (*cvs)[2 * B3_OUT_LEN];
    /* relaxed: a claim only needs atomicity; results are published by the
     * pool's mutex (task completion) or belong to the claiming thread. */
    _Atomic size_t next;
    _Atomic int err; /* first error; 0 while none */
};

static void window_work(struct file_window *w)
{
    uint8_t *buf = aligned_alloc(64, FILE_BLOCK);
    if (!buf) {
        int zero = 0;
        atomic_compare_exchange_strong_explicit(&w->err, &zero, -ENOMEM, memory_order_relaxed,
                                                memory_order_relaxed);
        return;
    }
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&w->next, 1, memory_order_relaxed);
        if (i >= w->count || atomic_load_explicit(&w->err, memory_order_relaxed) != 0)
            break;
        int rc = subtree_children_from_file(w->ops, w->fd, w->off + i * FILE_SUBTREE, w->key,
                                            w->counter + i * (FILE_SUBTREE / B3_CHUNK_LEN),
                                            w->flags, buf, w->cvs[i]);
        if (rc != 0) {
            int zero = 0;
            atomic_compare_exchange_strong_explicit(&w->err, &zero, rc, memory_order_relaxed,
                                                    memory_order_relaxed);
            break;
        }
    }
    free(buf);
}

struct window_task {
    struct pio_task base;
    struct file_window *w;
};

static void run_window_task(struct pio_task *base)
{
    window_work(((struct window_task *)base)->w);
}

#define MAX_HELPERS 63

PIO_API int pio_blake3_hasher_update_fd(pio_blake3_hasher *h, int fd, uint64_t offset, uint64_t len,
                                        unsigned threads)
{
    if (threads == 0)
        threads = pio_cpu_count();
    uint8_t *buf = aligned_alloc(64, FILE_BLOCK);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    if (threads > 1 && len >= 2 * (uint64_t)FILE_SUBTREE) {
        /* Serial up to a subtree boundary of the input hashed so far. */
        uint64_t pos = h->chunk_counter * B3_CHUNK_LEN +
                       (uint64_t)h->blocks_compressed * B3_BLOCK_LEN + h->buf_len;
        uint64_t head = (FILE_SUBTREE - pos % FILE_SUBTREE) % FILE_SUBTREE;
        if ((rc = update_serial(h, fd, offset, head, buf)) != 0)
            goto out;
        offset += head;
        len -= head;

        const struct pio_b3_ops *ops = pio_b3_ops();
        uint8_t(*cvs)[2 * B3_OUT_LEN] = malloc(FILE_WINDOW * sizeof(*cvs));
        if (!cvs) {
            rc = -ENOMEM;
            goto out;
        }
        unsigned helpers = PIO_MIN(threads - 1, (unsigned)MAX_HELPERS);
        struct window_task tasks[MAX_HELPERS];
        while (len >= FILE_SUBTREE) {
            struct file_window w = {
                .ops = ops,
                .fd = fd,
                .off = offset,
                .counter = pio_b3_hasher_boundary(ops, h),
                .key = h->key,
                .flags = h->flags,
                .count = (size_t)PIO_MIN(len / FILE_SUBTREE, (uint64_t)FILE_WINDOW),
                .cvs = cvs,
            };
            unsigned n = (unsigned)PIO_MIN((size_t)helpers, w.count - 1);
            bool queued[MAX_HELPERS];
            for (unsigned t = 0; t < n; t++) {
                tasks[t].base.run = run_window_task;
                tasks[t].w = &w;
                queued[t] = pio_workers_submit(&tasks[t].base, helpers);
            }
            window_work(&w);
            for (unsigned t = 0; t < n; t++)
                if (queued[t])
                    pio_workers_wait(&tasks[t].base);
            if ((rc = atomic_load_explicit(&w.err, memory_order_relaxed)) != 0) {
                free(cvs);
                goto out;
            }
            for (size_t i = 0; i < w.count; i++)
                pio_b3_hasher_push_children(ops, h, cvs[i], FILE_SUBTREE / B3_CHUNK_LEN);
            offset += w.count * FILE_SUBTREE;
            len -= w.count * FILE_SUBTREE;
        }
        free(cvs);
    }
    rc = update_serial(h, fd, offset, len, buf);
out:
    free(buf);
    return rc;
}
