/*
 * concurrent: what the modules above it may use besides
 * prismio/concurrent.h: the process-wide worker pool (workers.c), on which
 * BLAKE3 hashes subtrees and file ranges and the HOLO writer hashes
 * records and writes in the background.
 */
#ifndef PIO_CONCURRENT_H
#define PIO_CONCURRENT_H

#include <stdbool.h>

enum pio_task_state { PIO_TASK_QUEUED, PIO_TASK_RUNNING, PIO_TASK_DONE };

/* Embed as the first member of a task's own struct; run() gets it back. */
struct pio_task {
    void (*run)(struct pio_task *t);
    /* queue links and state: the pool's, guarded by its mutex */
    struct pio_task *prev, *next;
    enum pio_task_state state;
};

/* Queue `t`, starting workers up to `want` if there are fewer. Returns false
 * if the pool cannot be used (after fork()): run the task yourself then. */
bool pio_workers_submit(struct pio_task *t, unsigned want);
/* Wait until `t` has run, running it on this thread if no worker took it. */
void pio_workers_wait(struct pio_task *t);

#endif /* PIO_CONCURRENT_H */
