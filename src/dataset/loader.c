/*
 * Loader: batches of an epoch's order filled ahead by threads, handed out
 * in order (prismio/dataset.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prismio/dataset.h"

#include "common/pio_common.h"
#include "dataset/dataset_internal.h"

enum slot_state { S_FREE, S_FILLING, S_READY, S_HELD };

struct slot {
    pio_ds_batch *b;
    enum slot_state state;
    uint64_t seq; /* the batch number it holds or is filling */
    int rc;
    struct pio_error err;
};

struct pio_ds_loader {
    const pio_dataset *ds;
    uint64_t *order, n;
    uint32_t bsize, nslots, nthreads;
    uint64_t nbatches, next_fill, next_give;
    struct slot *slot;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    int failed; /* the first fill error, delivered in its turn */
};

static void *fill_main(void *arg)
{
    pio_ds_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        struct slot *s = NULL;
        while (!l->stop && l->next_fill < l->nbatches) {
            for (uint32_t k = 0; k < l->nslots && !s; k++)
                if (l->slot[k].state == S_FREE)
                    s = &l->slot[k];
            if (s)
                break;
            pthread_cond_wait(&l->cv, &l->mu);
        }
        if (!s || l->stop)
            break;
        uint64_t seq = l->next_fill++;
        s->state = S_FILLING;
        s->seq = seq;
        pthread_mutex_unlock(&l->mu);
        uint64_t first = seq * l->bsize;
        uint32_t cnt = (uint32_t)(l->n - first < l->bsize ? l->n - first : l->bsize);
        struct pio_error e = {0};
        int rc = pio_ds_batch_fill(s->b, l->order + first, cnt, &e);
        pthread_mutex_lock(&l->mu);
        s->rc = rc;
        s->err = e;
        s->state = S_READY;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

PIO_API void pio_ds_loader_close(pio_ds_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    for (uint32_t t = 0; t < l->nthreads; t++)
        pthread_join(l->th[t], NULL);
    for (uint32_t k = 0; k < l->nslots; k++)
        pio_ds_batch_free(l->slot[k].b);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->slot);
    free(l->th);
    free(l->order);
    free(l);
}

PIO_API int pio_ds_loader_open(pio_ds_loader **out, const pio_dataset *ds, const uint64_t *order,
                               uint64_t n, uint32_t batch_size,
                               const struct pio_batch_options *opts, uint32_t threads,
                               uint32_t ahead, struct pio_error *err)
{
    *out = NULL;
    if (batch_size == 0)
        return pio_error_set(err, PIO_EUSAGE, "loader: batch size 0");
    if (opts && opts->buffer)
        return pio_error_set(err, PIO_EUSAGE,
                             "loader: its batches are its own (options with a buffer)");
    for (uint64_t i = 0; i < n; i++)
        if (order[i] >= ds->n)
            return pio_error_set(err, -ERANGE,
                                 "loader: structure %llu (order[%llu]) out of range (the dataset "
                                 "holds %llu)",
                                 (unsigned long long)order[i], (unsigned long long)i,
                                 (unsigned long long)ds->n);
    if (threads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c < 1 ? 1 : c > 8 ? 8 : (uint32_t)c;
    }
    if (ahead == 0)
        ahead = 2 * threads;
    pio_ds_loader *l = calloc(1, sizeof(*l));
    if (!l)
        return pio_error_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->ds = ds;
    l->n = n;
    l->bsize = batch_size;
    l->nbatches = (n + batch_size - 1) / batch_size;
    l->nslots = ahead;
    int rc = 0;
    if (!(l->order = malloc((n ? n : 1) * sizeof(*order))) ||
        !(l->slot = calloc(ahead, sizeof(*l->slot))) ||
        !(l->th = calloc(threads, sizeof(*l->th)))) {
        pio_ds_loader_close(l);
        return pio_error_set(err, -ENOMEM, "out of memory");
    }
    if (n)
        memcpy(l->order, order, n * sizeof(*order));
    for (uint32_t k = 0; k < ahead && rc == 0; k++)
        rc = pio_ds_batch_create(&l->slot[k].b, ds, opts, err);
    for (uint32_t t = 0; t < threads && rc == 0; t++) {
        if ((rc = -pthread_create(&l->th[t], NULL, fill_main, l)) != 0)
            pio_error_set(err, rc, "loader: starting thread %u: %s", t, pio_strerror(rc));
        else
            l->nthreads++;
    }
    if (rc != 0) {
        pio_ds_loader_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

PIO_API int pio_ds_loader_next(pio_ds_loader *l, pio_ds_batch **out, struct pio_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    if (l->failed) {
        rc = pio_error_set(err, l->failed, "loader: ended by an earlier error");
        goto out;
    }
    if (l->next_give >= l->nbatches)
        goto out;
    for (;;) {
        struct slot *s = NULL;
        uint32_t held = 0;
        for (uint32_t k = 0; k < l->nslots; k++) {
            if (l->slot[k].state == S_HELD)
                held++;
            else if (l->slot[k].state != S_FREE && l->slot[k].seq == l->next_give)
                s = &l->slot[k];
        }
        if (s && s->state == S_READY) {
            if (s->rc != 0) {
                l->failed = s->rc;
                if (err)
                    *err = s->err;
                rc = s->rc;
                s->state = S_FREE;
                pthread_cond_broadcast(&l->cv);
                goto out;
            }
            s->state = S_HELD;
            l->next_give++;
            *out = s->b;
            rc = 1;
            goto out;
        }
        if (held == l->nslots) {
            rc = pio_error_set(err, PIO_EUSAGE,
                               "loader: all %u batches are held; release one before next",
                               l->nslots);
            goto out;
        }
        pthread_cond_wait(&l->cv, &l->mu);
    }
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

PIO_API void pio_ds_loader_release(pio_ds_loader *l, pio_ds_batch *b)
{
    pthread_mutex_lock(&l->mu);
    for (uint32_t k = 0; k < l->nslots; k++)
        if (l->slot[k].b == b && l->slot[k].state == S_HELD) {
            l->slot[k].state = S_FREE;
            pthread_cond_broadcast(&l->cv);
            break;
        }
    pthread_mutex_unlock(&l->mu);
}
