/*
 * The worker pool: a process-wide set of threads that run tasks handed to
 * them (BLAKE3 subtrees and file ranges, the HOLO writer's record hashing
 * and background writes).
 *
 * A mutex-protected queue is enough: a task is at least ~1 MiB of hashing,
 * so the lock is cold. A caller waiting for its task takes it back if no
 * worker has started it, so a wait never deadlocks however busy or small
 * the pool is; with no free worker the work simply runs on the caller.
 * Workers start lazily, up to what callers ask for (at most MAX_WORKERS),
 * and are joined when the library is unloaded or the process exits. After
 * fork() a child never touches the parent's pool (its threads are gone):
 * submissions fail and callers run their tasks themselves.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "concurrent/pio_concurrent.h"

#include "common/pio_common.h"

#define MAX_WORKERS 63

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work; /* signalled when a task is queued or on shutdown */
    pthread_cond_t done; /* broadcast when a task completes */
    struct pio_task *head, *tail;
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

static void unlink_task(struct pio_task *t)
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
        struct pio_task *t = pool.head;
        unlink_task(t);
        t->state = PIO_TASK_RUNNING;
        pthread_mutex_unlock(&pool.mu);
        t->run(t);
        pthread_mutex_lock(&pool.mu);
        t->state = PIO_TASK_DONE;
        pthread_cond_broadcast(&pool.done);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

bool pio_workers_submit(struct pio_task *t, unsigned want)
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
    t->state = PIO_TASK_QUEUED;
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

void pio_workers_wait(struct pio_task *t)
{
    pthread_mutex_lock(&pool.mu);
    if (t->state == PIO_TASK_QUEUED) {
        unlink_task(t);
        t->state = PIO_TASK_RUNNING;
        pthread_mutex_unlock(&pool.mu);
        t->run(t);
        return;
    }
    while (t->state != PIO_TASK_DONE)
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
