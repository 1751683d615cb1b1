/*
 * BLAKE3 subtrees, wide and threaded.
 *
 * subtree_cv() returns the chaining value of any non-root subtree:
 *   - up to BASE_CHUNKS chunks, level by level: every whole chunk at once
 *     through the tier's hash_many (one chunk per SIMD lane), a trailing
 *     partial chunk alone, then each level of parents at once through
 *     hash_many with one block per input. All CVs of a level but the last
 *     cover equal, aligned power-of-two subtrees, so pairing neighbours and
 *     carrying an odd last one up gives exactly the BLAKE3 tree.
 *   - larger: its two children (recursively), then one parent compression.
 *
 * Threads: a child pair of at least MT_MIN_LEN bytes with a thread budget
 * above one runs its left child as a task on a process-wide pool while the
 * caller hashes the right child, each with half the budget. The pool is a
 * mutex-protected queue (tasks are ~1 MiB of hashing, so the lock is cold).
 * A caller waiting for its task takes it back if no worker started it yet,
 * so waits never deadlock, however busy or small the pool: with no free
 * worker the work simply runs on the caller. After fork() the child never
 * touches the parent's pool (its threads are gone): it hashes alone.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "hash/blake3_impl.h"

#include "common/pio_common.h"

/* Chunks hashed level by level in one go: 128 KiB of input, 4 KiB of CVs. */
#define BASE_CHUNKS 128
/* Smallest child pair worth a thread hand-off (a wake-up costs ~10-50 us). */
#define MT_MIN_LEN ((size_t)2 << 20)
#define MAX_WORKERS 63

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

static void subtree_cv_base(const struct pio_b3_ops *ops, const uint8_t *in, size_t len,
                            const uint32_t key[8], uint64_t counter, uint8_t flags,
                            uint8_t out[B3_OUT_LEN])
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
    while (n > 1) {
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
    memcpy(out, cur, B3_OUT_LEN);
}

/* Bytes in the left child of a subtree of `len` bytes (len > one chunk). */
static size_t left_len(size_t len)
{
    size_t full_chunks = (len - 1) / B3_CHUNK_LEN;
    return ((size_t)1 << (63 - __builtin_clzll((unsigned long long)full_chunks))) *
           B3_CHUNK_LEN;
}

static void subtree_cv(const struct pio_b3_ops *ops, const uint8_t *in, size_t len,
                       const uint32_t key[8], uint64_t counter, uint8_t flags, unsigned threads,
                       uint8_t out[B3_OUT_LEN])
{
    if (len <= (size_t)BASE_CHUNKS * B3_CHUNK_LEN) {
        subtree_cv_base(ops, in, len, key, counter, flags, out);
        return;
    }
    uint8_t block[B3_BLOCK_LEN];
    pio_b3_subtree_children(ops, in, len, key, counter, flags, threads, block);
    uint32_t cv[8];
    memcpy(cv, key, sizeof(cv));
    ops->compress_in_place(cv, block, B3_BLOCK_LEN, 0, flags | B3_PARENT);
    b3_store_cv_words(out, cv);
}

/* ---- the pool ---------------------------------------------------------- */

enum task_state { TASK_QUEUED, TASK_RUNNING, TASK_DONE };

struct task {
    /* arguments of subtree_cv */
    const struct pio_b3_ops *ops;
    const uint8_t *in;
    size_t len;
    const uint32_t *key;
    uint64_t counter;
    uint8_t flags;
    unsigned threads;
    uint8_t *out;
    /* queue links and state: guarded by pool.mu */
    struct task *prev, *next;
    enum task_state state;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work; /* signalled when a task is queued or on shutdown */
    pthread_cond_t done; /* broadcast when a task completes */
    struct task *head, *tail;
    pthread_t workers[MAX_WORKERS];
    unsigned nworkers;
    bool stop;
    /* Process that owns the workers; 0 until the first one starts. Written
     * under mu, read without it: relaxed is enough, since a reader only
     * compares it with its own pid (a forked child never matches). */
    _Atomic pid_t owner;
} pool = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

static void run_task(struct task *t)
{
    subtree_cv(t->ops, t->in, t->len, t->key, t->counter, t->flags, t->threads, t->out);
}

static void unlink_task(struct task *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        pool.head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        pool.tail = t->prev;
    t->prev = t->next = NULL;
}

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (!pool.head && !pool.stop)
            pthread_cond_wait(&pool.work, &pool.mu);
        if (pool.stop)
            break;
        struct task *t = pool.head;
        unlink_task(t);
        t->state = TASK_RUNNING;
        pthread_mutex_unlock(&pool.mu);
        run_task(t);
        pthread_mutex_lock(&pool.mu);
        t->state = TASK_DONE;
        pthread_cond_broadcast(&pool.done);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

/* Queue `t`, starting workers up to `want` if needed. Returns false if the
 * pool cannot be used (a forked child): the caller then runs `t` itself. */
static bool pool_submit(struct task *t, unsigned want)
{
    pid_t me = getpid();
    pid_t owner = atomic_load_explicit(&pool.owner, memory_order_relaxed);
    if (owner != 0 && owner != me)
        return false;
    pthread_mutex_lock(&pool.mu);
    if (pool.stop) {
        pthread_mutex_unlock(&pool.mu);
        return false;
    }
    atomic_store_explicit(&pool.owner, me, memory_order_relaxed);
    want = PIO_MIN(want, (unsigned)MAX_WORKERS);
    while (pool.nworkers < want) {
        /* A failed start is not an error: queued tasks run on their caller. */
        if (pthread_create(&pool.workers[pool.nworkers], NULL, worker_main, NULL) != 0)
            break;
        pool.nworkers++;
    }
    t->state = TASK_QUEUED;
    t->next = NULL;
    t->prev = pool.tail;
    if (pool.tail)
        pool.tail->next = t;
    else
        pool.head = t;
    pool.tail = t;
    pthread_cond_signal(&pool.work);
    pthread_mutex_unlock(&pool.mu);
    return true;
}

static void pool_wait(struct task *t)
{
    pthread_mutex_lock(&pool.mu);
    if (t->state == TASK_QUEUED) {
        unlink_task(t);
        t->state = TASK_RUNNING;
        pthread_mutex_unlock(&pool.mu);
        run_task(t);
        return;
    }
    while (t->state != TASK_DONE)
        pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
}

/* Stop and join the workers when the library is unloaded or the process
 * exits, so no thread runs code that is about to disappear. */
__attribute__((destructor)) static void pool_shutdown(void)
{
    if (atomic_load_explicit(&pool.owner, memory_order_relaxed) != getpid())
        return;
    pthread_mutex_lock(&pool.mu);
    pool.stop = true;
    pthread_cond_broadcast(&pool.work);
    unsigned n = pool.nworkers;
    pool.nworkers = 0;
    pthread_mutex_unlock(&pool.mu);
    for (unsigned i = 0; i < n; i++)
        pthread_join(pool.workers[i], NULL);
}

void pio_b3_subtree_children(const struct pio_b3_ops *ops, const uint8_t *input, size_t len,
                             const uint32_t key[8], uint64_t counter, uint8_t flags,
                             unsigned threads, uint8_t out[2 * B3_OUT_LEN])
{
    size_t left = left_len(len);
    uint64_t right_counter = counter + left / B3_CHUNK_LEN;
    if (threads > 1 && len >= MT_MIN_LEN) {
        unsigned left_threads = threads / 2;
        struct task t = {
            .ops = ops,
            .in = input,
            .len = left,
            .key = key,
            .counter = counter,
            .flags = flags,
            .threads = left_threads,
            .out = out,
        };
        bool queued = pool_submit(&t, threads - 1);
        subtree_cv(ops, input + left, len - left, key, right_counter, flags,
                   threads - left_threads, out + B3_OUT_LEN);
        if (queued)
            pool_wait(&t);
        else
            run_task(&t);
        return;
    }
    subtree_cv(ops, input, left, key, counter, flags, 1, out);
    subtree_cv(ops, input + left, len - left, key, right_counter, flags, 1, out + B3_OUT_LEN);
}
