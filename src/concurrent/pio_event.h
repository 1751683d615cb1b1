/*
 * concurrent: an eventcount, the sleeping half of every blocking wrapper.
 *
 * A waiter announces itself (waiters++), reads the sequence number, checks
 * its condition again, and sleeps on the futex only if the sequence has not
 * moved. A notifier changes the state, then looks for waiters with a
 * seq_cst read-modify-write and, if there are any, bumps the sequence and
 * wakes them. The two seq_cst RMWs on `waiters` are ordered one way or the
 * other: either the notifier sees the waiter, or the waiter's re-check sees
 * the new state; no wake-up is lost. With no waiters, notifying costs one
 * uncontended atomic add.
 */
#ifndef PIO_EVENT_H
#define PIO_EVENT_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

struct pio_event {
    _Atomic uint32_t seq;
    _Atomic uint32_t waiters;
};

static inline uint32_t pio_event_prepare(struct pio_event *e)
{
    /* seq_cst: ordered before the caller's re-check of its condition (the
     * waiter's side of the Dekker pair). */
    atomic_fetch_add_explicit(&e->waiters, 1, memory_order_seq_cst);
    return atomic_load_explicit(&e->seq, memory_order_seq_cst);
}

static inline void pio_event_cancel(struct pio_event *e)
{
    /* relaxed: only a hint for notifiers; a stale count costs a spare wake. */
    atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
}

static inline void pio_event_wait(struct pio_event *e, uint32_t old)
{
    /* The kernel re-reads seq atomically against `old`: a bump after our
     * read makes this return at once. */
    syscall(SYS_futex, &e->seq, FUTEX_WAIT_PRIVATE, old, NULL, NULL, 0);
    pio_event_cancel(e);
}

static inline void pio_event_wake_all(struct pio_event *e)
{
    /* release: a woken waiter that re-reads seq sees everything before. */
    atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
    syscall(SYS_futex, &e->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline void pio_event_notify(struct pio_event *e)
{
    /* seq_cst read-modify-write (adding 0) rather than a fence + load: both
     * sides then RMW `waiters`, so either this reads the waiter's increment
     * or the waiter's RMW comes later in its modification order and
     * synchronises with this one, making the state change before it visible
     * to the waiter's re-check. (ThreadSanitizer models RMWs, not fences.)
     * With no sleepers the line stays in this core's cache. */
    if (atomic_fetch_add_explicit(&e->waiters, 0, memory_order_seq_cst) != 0)
        pio_event_wake_all(e);
}

static inline void pio_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spins before sleeping: long enough to ride out a short stall of the
 * other side, short next to a futex round trip (~5 us). */
#define PIO_SPIN_TRIES 256

/*
 * The blocking wrapper every structure shares: retry `try_op(q, item)`
 * (spinning, then sleeping on `wait_on`), notify `wake` on success.
 * Pushes (`pop` false) fail with -EPIPE as soon as `closed` is set; pops
 * still take what was pushed before the close, then fail.
 */
static inline int pio_blocking_op(void *q, void *item, bool (*try_op)(void *q, void *item),
                                  struct pio_event *wait_on, struct pio_event *wake,
                                  _Atomic int *closed, bool pop)
{
    for (int spin = 0;; spin++) {
        /* acquire: pairs with the release store of the close. */
        bool is_closed = atomic_load_explicit(closed, memory_order_acquire) != 0;
        if (is_closed && !pop)
            return -EPIPE;
        if (try_op(q, item)) {
            pio_event_notify(wake);
            return 0;
        }
        if (is_closed) /* a pop after the close found nothing: drained */
            return -EPIPE;
        if (spin < PIO_SPIN_TRIES) {
            pio_cpu_relax();
            continue;
        }
        uint32_t old = pio_event_prepare(wait_on);
        if (try_op(q, item)) {
            pio_event_cancel(wait_on);
            pio_event_notify(wake);
            return 0;
        }
        if (atomic_load_explicit(closed, memory_order_acquire) != 0) {
            pio_event_cancel(wait_on);
            continue; /* the loop's first steps fail (or drain, for a pop) */
        }
        pio_event_wait(wait_on, old);
    }
}

#endif /* PIO_EVENT_H */
