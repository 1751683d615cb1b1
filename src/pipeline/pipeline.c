/*
 * pipeline: batches and the threads that move them.
 *
 * Threads: one source thread fills batches from the source and pushes them
 * on `work`; `nworkers` threads pop them, transform them in place and push
 * them on `done`; the caller's thread pops `done`, puts batches back in
 * input order (a reorder window as wide as the pool, since no more batches
 * than buffers can be in flight), hands them to the sink and returns the
 * buffers to the pool. A batch is one pool buffer: its struct, then its
 * arrays, each 64-byte aligned.
 *
 * Stopping: the first failure claims `failed` (a compare-and-swap, so one
 * message wins), then closes both queues and the pool, which wakes every
 * waiting thread; each stage sees the flag and leaves. The message is read
 * after the threads are joined (pthread_join orders it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prismio/concurrent.h"
#include "prismio/pipeline.h"

#include "pipeline/pio_pipeline.h"

#include "common/pio_common.h"
#include "telemetry/pio_telemetry.h"

#define ALIGN64(n) (((n) + 63) & ~(uint64_t)63)
#define PAD_ATOMS(n)                                                                               \
    (((n) + PIO_BATCH_ATOM_PAD - 1) / PIO_BATCH_ATOM_PAD * (uint64_t)PIO_BATCH_ATOM_PAD)
#define MIN_SCALARS 4096u

struct pipe {
    struct pio_source *src;
    struct pio_sink *sink;
    struct pio_source_info sinfo; /* the source's */
    const struct pio_topology *top;
    uint32_t batch_frames, drop, region_fields, elem, nworkers;
    uint64_t atom_cap, scalar_cap, buf_size, nbuf;
    bool convert_units, to_f64;
    double unit_scale; /* positions, box and velocities; forces get 1/scale */
    const char *atoms;
    const uint64_t *frames;
    uint64_t nselected;
    const struct pio_pipeline_options *o;
    pio_pool *pool;
    pio_mpmc *work, *done;
    atomic_uint workers_live;
    atomic_int failed;
    struct pio_error error;
    int rc;
    /* source-thread statistics, read after join */
    uint64_t frames_in;
    _Atomic uint64_t bytes_in; /* also read by the sink for progress */
    double source_wait;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Record the first failure (later ones are dropped) and stop everyone. */
static void pipe_fail(struct pipe *p, int rc, const char *stage, const struct pio_error *cause,
                      const char *fallback)
{
    int expected = 0;
    /* acq_rel: the winner's message is published by the joins; losers only
     * need to know they lost. */
    if (atomic_compare_exchange_strong_explicit(&p->failed, &expected, 1, memory_order_acq_rel,
                                                memory_order_acquire)) {
        const char *msg = cause && cause->message[0] ? cause->message : fallback;
        pio_error_set(&p->error, rc, "stage '%s': %s", stage, msg ? msg : pio_strerror(rc));
        p->rc = rc;
    }
    pio_mpmc_close(p->work);
    pio_mpmc_close(p->done);
    pio_pool_close(p->pool);
}

static bool pipe_failed(struct pipe *p)
{
    /* relaxed: a hint to stop early; the queues' closing is the real signal. */
    return atomic_load_explicit(&p->failed, memory_order_relaxed) != 0;
}

/* ---- batch layout ------------------------------------------------------------ */

static uint64_t batch_size(uint32_t F, uint64_t A, uint64_t S, uint32_t nregions, uint32_t elem)
{
    uint64_t s = ALIGN64(sizeof(struct pio_batch));
    s += ALIGN64((uint64_t)F * 8) * 4;       /* index, natoms, step, time */
    s += ALIGN64((uint64_t)(F + 1) * 8) * 2; /* atom_offset, scalar_offset */
    s += ALIGN64((uint64_t)F * 4);           /* fields */
    s += ALIGN64((uint64_t)F * 72);          /* box */
    s += ALIGN64(S * sizeof(struct pio_scalar));
    s += (uint64_t)nregions * ALIGN64(A * 3 * elem);
    return s;
}

static struct pio_batch *batch_init(struct pipe *p, void *buf, uint64_t seq)
{
    uint8_t *m = buf;
    struct pio_batch *b = buf;
    memset(b, 0, sizeof(*b));
    uint32_t F = p->batch_frames;
    uint64_t off = ALIGN64(sizeof(*b));
#define TAKE(ptr, bytes)                                                                           \
    do {                                                                                           \
        (ptr) = (void *)(m + off);                                                                 \
        off += ALIGN64(bytes);                                                                     \
    } while (0)
    TAKE(b->index, (uint64_t)F * 8);
    TAKE(b->natoms, (uint64_t)F * 8);
    TAKE(b->step, (uint64_t)F * 8);
    TAKE(b->time, (uint64_t)F * 8);
    TAKE(b->atom_offset, (uint64_t)(F + 1) * 8);
    TAKE(b->scalar_offset, (uint64_t)(F + 1) * 8);
    TAKE(b->fields, (uint64_t)F * 4);
    TAKE(b->box, (uint64_t)F * 72);
    TAKE(b->scalars, p->scalar_cap * sizeof(struct pio_scalar));
    uint64_t region = p->atom_cap * 3 * p->elem;
    TAKE(b->positions, region);
    if (p->region_fields & PIO_FIELD_VELOCITIES)
        TAKE(b->velocities, region);
    if (p->region_fields & PIO_FIELD_FORCES)
        TAKE(b->forces, region);
#undef TAKE
    b->seq = seq;
    b->precision = PIO_FLOAT32;
    b->length_unit = p->sinfo.length_unit;
    b->frame_capacity = F;
    b->atom_capacity = p->atom_cap;
    b->scalar_capacity = p->scalar_cap;
    b->atom_offset[0] = 0;
    b->scalar_offset[0] = 0;
    return b;
}

/* Before a batch leaves the source: arrays no frame filled become NULL
 * (their memory was never touched). */
static void batch_seal(struct pio_batch *b)
{
    if (!(b->fields_any & PIO_FIELD_VELOCITIES))
        b->velocities = NULL;
    if (!(b->fields_any & PIO_FIELD_FORCES))
        b->forces = NULL;
}

/* Copy frame `in` into the next slot of b (the caller checked it fits). */
static void batch_add(struct pipe *p, struct pio_batch *b, const struct pio_frame *in)
{
    uint32_t f = b->nframes;
    uint64_t a0 = b->atom_offset[f], n = in->natoms, pad = PAD_ATOMS(n) - n;
    uint32_t fields = PIO_FIELD_POSITIONS;
    const float(*src[3])[3] = {in->positions, in->velocities, in->forces};
    void *dst[3] = {b->positions, b->velocities, b->forces};
    static const uint32_t bit[3] = {PIO_FIELD_POSITIONS, PIO_FIELD_VELOCITIES, PIO_FIELD_FORCES};
    for (int k = 0; k < 3; k++) {
        if (!dst[k])
            continue;
        float *base = dst[k], *d = base + a0 * 3;
        if (src[k] && !(p->drop & bit[k])) {
            /* The first frame with this field: zero the frames before it. */
            if (!(b->fields_any & bit[k]))
                memset(base, 0, a0 * 12);
            if ((const void *)src[k] != (const void *)d) /* else decoded in place */
                memcpy(d, src[k], n * 12);
            memset(d + n * 3, 0, pad * 12);
            fields |= bit[k];
        } else if (b->fields_any & bit[k]) {
            memset(d, 0, (n + pad) * 12);
        }
    }
    b->index[f] = in->index;
    b->natoms[f] = n;
    b->step[f] = in->step;
    b->time[f] = in->time;
    if ((in->fields & PIO_FIELD_BOX) && !(p->drop & PIO_FIELD_BOX)) {
        memcpy(b->box[f], in->box, sizeof(in->box));
        fields |= PIO_FIELD_BOX;
    } else {
        memset(b->box[f], 0, sizeof(b->box[f]));
    }
    b->fields[f] = fields;
    b->fields_any |= fields;
    uint64_t s0 = b->scalar_offset[f], ns = (p->drop & PIO_DROP_SCALARS) ? 0 : in->nscalars;
    if (ns)
        memcpy(b->scalars + s0, in->scalars, ns * sizeof(struct pio_scalar));
    b->scalar_offset[f + 1] = s0 + ns;
    b->atom_offset[f + 1] = a0 + n + pad;
    b->nframes = f + 1;
}

PIO_API void pio_batch_frame(const struct pio_batch *b, uint32_t f, struct pio_frame *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t a0 = b->atom_offset[f];
    out->natoms = b->natoms[f];
    out->fields = b->fields[f];
    out->step = b->step[f];
    out->time = b->time[f];
    out->index = b->index[f];
    if (b->fields[f] & PIO_FIELD_BOX)
        memcpy(out->box, b->box[f], sizeof(out->box));
    out->positions = (const float(*)[3])((const float *)b->positions + a0 * 3);
    if (b->fields[f] & PIO_FIELD_VELOCITIES)
        out->velocities = (const float(*)[3])((const float *)b->velocities + a0 * 3);
    if (b->fields[f] & PIO_FIELD_FORCES)
        out->forces = (const float(*)[3])((const float *)b->forces + a0 * 3);
    out->nscalars = (uint32_t)(b->scalar_offset[f + 1] - b->scalar_offset[f]);
    out->scalars = b->scalars + b->scalar_offset[f];
}

/* ---- source thread ------------------------------------------------------------ */

/* A free buffer as a new batch (waiting for one: backpressure), or NULL
 * once the pool is closed (someone failed). */
static struct pio_batch *batch_get(struct pipe *p, uint64_t *seq, uint64_t frame)
{
    void *buf = pio_pool_get(p->pool);
    if (!buf) {
        double t0 = now();
        uint64_t tm = pio_tm_start();
        buf = pio_pool_get_wait(p->pool);
        p->source_wait += now() - t0;
        pio_tm_end(PIO_OP_QUEUE_WAIT, 0, 1, frame, 0, tm, 0); /* 1: source, backpressure */
    }
    return buf ? batch_init(p, buf, (*seq)++) : NULL;
}

static void batch_push(struct pipe *p, struct pio_batch *b)
{
    batch_seal(b);
    pio_mpmc_push_wait(p->work, b);
}

static void *source_main(void *arg)
{
    struct pipe *p = arg;
    pthread_setname_np(pthread_self(), "pio-source");
    struct pio_batch *b = NULL;
    uint64_t seq = 0;
    struct pio_error e = {0};
    int rc;
    /* A source that can decode into the batch gets the next frame's place
     * in it, sized for its bound on atoms (nothing to copy then). */
    uint64_t bound = PAD_ATOMS(p->sinfo.max_natoms);
    int (*next_into)(void *, struct pio_frame *, float *, uint64_t, struct pio_error *) =
        pio__source_next_into(p->src);
    bool into = next_into && bound <= p->atom_cap;
    float *scratch = NULL;
    while (!pipe_failed(p)) {
        struct pio_frame f;
        float *dst = NULL;
        if (into) {
            if (b && (b->nframes == b->frame_capacity ||
                      b->atom_offset[b->nframes] + bound > p->atom_cap)) {
                batch_push(p, b);
                b = NULL;
            }
            if (!b && !(b = batch_get(p, &seq, p->frames_in)))
                break;
            dst = (float *)b->positions + b->atom_offset[b->nframes] * 3;
            rc = next_into(p->src->ctx, &f, dst, p->atom_cap - b->atom_offset[b->nframes], &e);
        } else {
            rc = p->src->next(p->src->ctx, &f, &e);
        }
        if (rc < 0) {
            pipe_fail(p, rc, p->src->name, &e, NULL);
            break;
        }
        if (rc == 0)
            break;
        uint64_t need = PAD_ATOMS(f.natoms);
        uint32_t ns = (p->drop & PIO_DROP_SCALARS) ? 0 : f.nscalars;
        if (need > p->atom_cap || ns > p->scalar_cap ||
            (dst && (const float *)f.positions == dst && need > bound)) {
            pio_error_set(&e, PIO_ELIMIT,
                          "frame %llu: %llu atoms and %u scalars exceed the source's bound "
                          "(%llu atoms)",
                          (unsigned long long)f.index, (unsigned long long)f.natoms, f.nscalars,
                          (unsigned long long)p->sinfo.max_natoms);
            p->src->release(p->src->ctx, &f);
            pipe_fail(p, PIO_ELIMIT, p->src->name, &e, NULL);
            break;
        }
        struct pio_frame got = f; /* as the source gave it, for release */
        if (b &&
            (b->nframes == b->frame_capacity || b->atom_offset[b->nframes] + need > p->atom_cap ||
             b->scalar_offset[b->nframes] + ns > p->scalar_cap)) {
            if (dst && (const float *)f.positions == dst) {
                /* decoded into b, whose scalars are full: keep a copy
                 * while b goes on (rare: a source's first frames with
                 * many scalars) */
                if (!scratch && !(scratch = malloc((size_t)bound * 12))) {
                    pio_error_set(&e, -ENOMEM, "frame %llu: out of memory for %llu atoms",
                                  (unsigned long long)f.index, (unsigned long long)f.natoms);
                    p->src->release(p->src->ctx, &got);
                    pipe_fail(p, -ENOMEM, p->src->name, &e, NULL);
                    break;
                }
                memcpy(scratch, dst, (size_t)f.natoms * 12);
                f.positions = (const float(*)[3])scratch;
            }
            batch_push(p, b);
            b = NULL;
        }
        if (!b && !(b = batch_get(p, &seq, f.index))) {
            p->src->release(p->src->ctx, &got);
            break;
        }
        batch_add(p, b, &f);
        p->src->release(p->src->ctx, &got);
        p->frames_in++;
        /* relaxed: a progress figure; the join orders the final value. */
        atomic_fetch_add_explicit(
            &p->bytes_in, f.natoms * 12 * (1u + (f.velocities != NULL) + (f.forces != NULL)),
            memory_order_relaxed);
    }
    if (b && b->nframes && !pipe_failed(p))
        batch_push(p, b);
    else if (b)
        pio_pool_put(p->pool, b);
    free(scratch);
    /* Workers drain what is queued, then see the close. */
    pio_mpmc_close(p->work);
    return NULL;
}

/* ---- workers ------------------------------------------------------------------ */

struct worker {
    struct pipe *p;
    pthread_t tid;
    uint64_t sel_natoms; /* natoms the cached selection was made for */
    uint64_t *sel;
    uint64_t nsel;
    bool have_sel;
    /* the selection as runs of consecutive atoms: src[r] .. src[r]+len[r] */
    uint64_t *run_src, *run_len, nruns;
};

/* The atom selection for frames of `natoms` atoms (cached per worker). */
static int worker_selection(struct worker *w, uint64_t frame, uint64_t natoms, struct pio_error *e)
{
    struct pipe *p = w->p;
    if (w->have_sel && w->sel_natoms == natoms)
        return 0;
    if (p->top && p->top->natoms != natoms)
        return pio_error_set(e, PIO_EUSAGE,
                             "frame %llu has %llu atoms, the topology %llu: cannot select atoms",
                             (unsigned long long)frame, (unsigned long long)natoms,
                             (unsigned long long)p->top->natoms);
    free(w->sel);
    w->sel = NULL;
    w->have_sel = false;
    struct pio_error se = {0};
    int rc = pio_select_atoms(p->atoms, p->top, natoms, &w->sel, &w->nsel, &se);
    if (rc != 0)
        return pio_error_set(e, rc, "frame %llu (%llu atoms): %s", (unsigned long long)frame,
                             (unsigned long long)natoms, se.message);
    free(w->run_src);
    free(w->run_len);
    w->run_src = malloc((size_t)PIO_MAX(w->nsel, 1) * sizeof(uint64_t));
    w->run_len = malloc((size_t)PIO_MAX(w->nsel, 1) * sizeof(uint64_t));
    if (!w->run_src || !w->run_len)
        return pio_error_set(e, -ENOMEM, "frame %llu: out of memory", (unsigned long long)frame);
    w->nruns = 0;
    for (uint64_t j = 0; j < w->nsel; j++) {
        if (w->nruns && w->run_src[w->nruns - 1] + w->run_len[w->nruns - 1] == w->sel[j]) {
            w->run_len[w->nruns - 1]++;
        } else {
            w->run_src[w->nruns] = w->sel[j];
            w->run_len[w->nruns++] = 1;
        }
    }
    w->have_sel = true;
    w->sel_natoms = natoms;
    return 0;
}

/* Keep the selected atoms of every frame, in place, one memmove per run of
 * consecutive atoms: a run's destination never lies after its source and
 * ends before the next run's source, so a forward pass reads every atom
 * before a write can reach it. */
static int transform_atoms(struct worker *w, struct pio_batch *b, struct pio_error *e)
{
    float *arr[3] = {b->positions, b->velocities, b->forces};
    uint64_t out0 = 0;
    for (uint32_t f = 0; f < b->nframes; f++) {
        int rc = worker_selection(w, b->index[f], b->natoms[f], e);
        if (rc != 0)
            return rc;
        uint64_t in0 = b->atom_offset[f], m = w->nsel;
        for (int k = 0; k < 3; k++) {
            if (!arr[k])
                continue;
            float *d = arr[k] + out0 * 3;
            const float *s = arr[k] + in0 * 3;
            for (uint64_t r = 0, j = 0; r < w->nruns; j += w->run_len[r], r++) {
                uint64_t len = w->run_len[r];
                const float *a = s + w->run_src[r] * 3;
                float *z = d + j * 3;
                if (len >= 16) {
                    memmove(z, a, len * 12);
                } else { /* short runs (every third atom, say): no call per run */
                    for (uint64_t t = 0; t < len * 3; t += 3) {
                        float x0 = a[t], x1 = a[t + 1], x2 = a[t + 2];
                        z[t] = x0;
                        z[t + 1] = x1;
                        z[t + 2] = x2;
                    }
                }
            }
            memset(d + m * 3, 0, (PAD_ATOMS(m) - m) * 12);
        }
        b->atom_offset[f] = out0;
        b->natoms[f] = m;
        out0 += PAD_ATOMS(m);
    }
    b->atom_offset[b->nframes] = out0;
    return 0;
}

static void scale_f32(float *a, uint64_t n, float s)
{
    for (uint64_t i = 0; i < n; i++)
        a[i] *= s;
}

static void transform_units(struct pipe *p, struct pio_batch *b)
{
    uint64_t n = b->atom_offset[b->nframes] * 3;
    float s = (float)p->unit_scale;
    scale_f32(b->positions, n, s);
    if (b->velocities)
        scale_f32(b->velocities, n, s);
    if (b->forces)
        scale_f32(b->forces, n, 1.0f / s);
    for (uint32_t f = 0; f < b->nframes; f++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                b->box[f][i][j] *= p->unit_scale;
    b->length_unit = p->sink->length_unit;
}

/* float32 -> float64 in place, from the end: element i's double covers
 * floats 2i and 2i+1, which were read already (they are at or after i). */
static void widen(void *arr, uint64_t n)
{
    const float *s = arr;
    double *d = arr;
    for (uint64_t i = n; i-- > 0;) {
        float v = s[i];
        d[i] = (double)v;
    }
}

static void transform_precision(struct pio_batch *b)
{
    uint64_t n = b->atom_offset[b->nframes] * 3;
    widen(b->positions, n);
    if (b->velocities)
        widen(b->velocities, n);
    if (b->forces)
        widen(b->forces, n);
    b->precision = PIO_FLOAT64;
}

static int worker_batch(struct worker *w, struct pio_batch *b, const char **stage,
                        struct pio_error *e)
{
    struct pipe *p = w->p;
    int rc;
    if (p->atoms) {
        *stage = "transform atoms";
        if ((rc = transform_atoms(w, b, e)) != 0)
            return rc;
    }
    if (p->convert_units)
        transform_units(p, b);
    if (p->to_f64)
        transform_precision(b);
    if (p->o->transform) {
        *stage = "transform user";
        if ((rc = p->o->transform(p->o->transform_ctx, b, e)) != 0)
            return rc;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pipe *p = w->p;
    pthread_setname_np(pthread_self(), "pio-worker");
    void *item;
    while (pio_mpmc_pop_wait(p->work, &item) == 0) {
        struct pio_batch *b = item;
        if (pipe_failed(p)) {
            pio_pool_put(p->pool, b);
            continue;
        }
        struct pio_error e = {0};
        const char *stage = "transform";
        int rc = worker_batch(w, b, &stage, &e);
        if (rc != 0) {
            pio_pool_put(p->pool, b);
            pipe_fail(p, rc, stage, &e, NULL);
            continue;
        }
        pio_mpmc_push_wait(p->done, b);
    }
    /* acq_rel: the last worker out sees every other worker's pushes. */
    if (atomic_fetch_sub_explicit(&p->workers_live, 1, memory_order_acq_rel) == 1)
        pio_mpmc_close(p->done);
    return NULL;
}

/* ---- sink (the caller's thread) ---------------------------------------------------- */

static void sink_loop(struct pipe *p, struct pio_pipeline_stats *st, double t0)
{
    struct pio_batch **window = calloc(p->nbuf, sizeof(*window));
    if (!window) {
        pipe_fail(p, -ENOMEM, p->sink->name, NULL, "out of memory");
        return;
    }
    uint64_t next = 0;
    struct pio_pipeline_progress pr = {.frames_total = p->nselected};
    for (;;) {
        void *item;
        if (!pio_mpmc_pop(p->done, &item)) {
            double tw = now();
            uint64_t tm = pio_tm_start();
            int rc = pio_mpmc_pop_wait(p->done, &item);
            st->sink_wait += now() - tw;
            pio_tm_end(PIO_OP_QUEUE_WAIT, 0, 2, UINT64_MAX, 0, tm, 0); /* 2: sink, starved */
            if (rc != 0)
                break;
        }
        struct pio_batch *b = item;
        window[b->seq % p->nbuf] = b;
        while (!pipe_failed(p) && (b = window[next % p->nbuf]) != NULL && b->seq == next) {
            window[next % p->nbuf] = NULL;
            struct pio_error e = {0};
            int rc = p->sink->write(p->sink->ctx, b, &e);
            if (rc == 0) {
                st->frames_out += b->nframes;
                st->batches++;
                for (uint32_t f = 0; f < b->nframes; f++)
                    st->bytes_out += b->natoms[f] * 3 * (b->precision ? 8 : 4) *
                                     (uint64_t)__builtin_popcount(b->fields[f] & 7u);
            }
            pio_pool_put(p->pool, b);
            if (rc != 0) {
                pipe_fail(p, rc, p->sink->name, &e, NULL);
                break;
            }
            next++;
            if (p->o->progress) {
                pr.frames_done = st->frames_out;
                pr.bytes_in = atomic_load_explicit(&p->bytes_in, memory_order_relaxed);
                pr.seconds = now() - t0;
                p->o->progress(p->o->progress_ctx, &pr);
            }
        }
        if (pipe_failed(p))
            break;
    }
    free(window);
}

/* ---- setup -------------------------------------------------------------------- */

/* Sub-topology of the selected atoms (bonds between two kept atoms,
 * renumbered). All arrays in one allocation, freed with the struct. */
static struct pio_topology *topology_subset(const struct pio_topology *t, const uint64_t *sel,
                                            uint64_t m)
{
    uint64_t nb = 0;
    uint64_t *map = malloc((size_t)PIO_MAX(t->natoms, 1) * sizeof(*map));
    if (!map)
        return NULL;
    for (uint64_t i = 0; i < t->natoms; i++)
        map[i] = UINT64_MAX;
    for (uint64_t j = 0; j < m; j++)
        map[sel[j]] = j;
    for (uint64_t k = 0; k < t->nbonds; k++)
        nb += map[t->bonds[k][0]] != UINT64_MAX && map[t->bonds[k][1]] != UINT64_MAX;
    size_t per_atom = 8 + 4 + 8 + 4 + 4 + 4 + 4;
    uint8_t *mem = calloc(1, sizeof(struct pio_topology) + (size_t)m * per_atom + (size_t)nb * 8);
    if (!mem) {
        free(map);
        return NULL;
    }
    struct pio_topology *o = (struct pio_topology *)mem;
    uint8_t *q = mem + sizeof(*o);
    char(*names)[8] = (void *)q;
    q += m * 8;
    char(*resnames)[8] = (void *)q;
    q += m * 8;
    char(*elements)[4] = (void *)q;
    q += m * 4;
    char(*chains)[4] = (void *)q;
    q += m * 4;
    int32_t *resids = (void *)q;
    q += m * 4;
    float *masses = (void *)q;
    q += m * 4;
    float *charges = (void *)q;
    q += m * 4;
    uint32_t(*bonds)[2] = (void *)q;
    for (uint64_t j = 0; j < m; j++) {
        uint64_t i = sel[j];
        memcpy(names[j], t->names[i], 8);
        memcpy(resnames[j], t->resnames[i], 8);
        memcpy(elements[j], t->elements[i], 4);
        memcpy(chains[j], t->chains[i], 4);
        resids[j] = t->resids[i];
        masses[j] = t->masses[i];
        charges[j] = t->charges[i];
    }
    uint64_t kb = 0;
    for (uint64_t k = 0; k < t->nbonds; k++) {
        uint64_t a = map[t->bonds[k][0]], c = map[t->bonds[k][1]];
        if (a != UINT64_MAX && c != UINT64_MAX) {
            bonds[kb][0] = (uint32_t)a;
            bonds[kb][1] = (uint32_t)c;
            kb++;
        }
    }
    free(map);
    *o = (struct pio_topology){.natoms = m,
                               .nbonds = nb,
                               .names = (const char(*)[8])names,
                               .elements = (const char(*)[4])elements,
                               .resnames = (const char(*)[8])resnames,
                               .chains = (const char(*)[4])chains,
                               .resids = resids,
                               .masses = masses,
                               .charges = charges,
                               .bonds = (const uint32_t(*)[2])bonds};
    return o;
}

/* Sizes, selections and what the sink will be told. */
static int pipe_setup(struct pipe *p, struct pio_source_info *out_info, struct pio_topology **sub,
                      uint64_t **frames_owned, struct pio_error *err)
{
    const struct pio_pipeline_options *o = p->o;
    struct pio_error e = {0};
    int rc = p->src->info(p->src->ctx, &p->sinfo, &e);
    if (rc != 0)
        return pio_error_set(err, rc, "stage '%s': %s", p->src->name, e.message);
    if (o->drop & PIO_FIELD_POSITIONS)
        return pio_error_set(err, PIO_EUSAGE, "positions cannot be dropped");
    if (p->sink->precision > PIO_FLOAT64 || p->sink->length_unit > PIO_UNIT_ANGSTROM ||
        p->sinfo.length_unit > PIO_UNIT_ANGSTROM)
        return pio_error_set(err, PIO_EUSAGE, "unknown precision or length unit");
    if (o->batch_frames > (1u << 20))
        return pio_error_set(err, PIO_EUSAGE, "batch of %u frames: at most %u", o->batch_frames,
                             1u << 20);
    p->top = p->sinfo.topology;
    p->drop = o->drop;
    p->atoms = o->atoms;
    p->batch_frames = o->batch_frames ? o->batch_frames : PIO_BATCH_DEFAULT;
    p->region_fields = PIO_FIELD_POSITIONS | (p->sinfo.fields & ~o->drop);
    p->to_f64 = p->sink->precision == PIO_FLOAT64;
    p->elem = p->to_f64 ? 8 : 4;
    p->convert_units = p->sink->length_unit != p->sinfo.length_unit;
    p->unit_scale = p->sink->length_unit == PIO_UNIT_ANGSTROM ? 10.0 : 0.1;

    /* frames */
    if (o->frames) {
        rc = pio_select_frames(o->frames, p->sinfo.nframes, frames_owned, &p->nselected, err);
        if (rc != 0)
            return rc;
        p->frames = *frames_owned;
    } else {
        p->nselected = p->sinfo.nframes;
    }

    /* atoms: with a topology, checked now and applied to it */
    *out_info = p->sinfo;
    out_info->nframes = p->nselected;
    out_info->fields = p->region_fields | (p->sinfo.fields & PIO_FIELD_BOX & ~o->drop);
    out_info->length_unit = p->sink->length_unit;
    if (p->atoms && p->top) {
        uint64_t *sel, m;
        rc = pio_select_atoms(p->atoms, p->top, p->top->natoms, &sel, &m, err);
        if (rc != 0)
            return rc;
        *sub = topology_subset(p->top, sel, m);
        free(sel);
        if (!*sub)
            return pio_error_set(err, -ENOMEM, "out of memory for the selected topology");
        out_info->topology = *sub;
        out_info->max_natoms = m;
    }

    /* buffers: enough for one largest frame each, else max_bytes split */
    p->nworkers = o->threads ? o->threads : pio_cpu_count();
    p->nbuf = PIO_MAX(4, 2 * (uint64_t)p->nworkers + 2);
    /* 8 MiB: enough batches in flight; a larger pool is fresh memory to
     * fault in (a short XTC conversion of 100 x 50,877 atoms: 0.82x of the
     * decode with 32 MiB, 1.01x with 8 MiB) */
    uint64_t max_bytes = o->max_bytes ? o->max_bytes : (8u << 20);
    uint32_t nregions =
        1u + !!(p->region_fields & PIO_FIELD_VELOCITIES) + !!(p->region_fields & PIO_FIELD_FORCES);
    uint64_t per_atom = (uint64_t)nregions * 3 * p->elem;
    p->scalar_cap = PIO_MAX(MIN_SCALARS, (uint64_t)p->batch_frames * 8);
    uint64_t fixed = batch_size(p->batch_frames, 0, p->scalar_cap, nregions, p->elem);
    uint64_t one = PAD_ATOMS(PIO_MAX(p->sinfo.max_natoms, 1));
    if (one > ((uint64_t)1 << 40) / per_atom)
        return pio_error_set(err, PIO_ELIMIT, "stage '%s': %llu atoms per frame is too many",
                             p->src->name, (unsigned long long)p->sinfo.max_natoms);
    uint64_t budget = max_bytes / p->nbuf;
    uint64_t cap = budget > fixed ? (budget - fixed) / per_atom : 0;
    cap = cap / PIO_BATCH_ATOM_PAD * PIO_BATCH_ATOM_PAD;
    cap = PIO_MIN(cap, one * p->batch_frames);
    p->atom_cap = PIO_MAX(cap, one);
    p->buf_size = batch_size(p->batch_frames, p->atom_cap, p->scalar_cap, nregions, p->elem);
    return 0;
}

PIO_API int pio_pipeline_run(struct pio_source *src, struct pio_sink *sink,
                             const struct pio_pipeline_options *opts,
                             struct pio_pipeline_stats *stats, struct pio_error *err)
{
    struct pio_pipeline_stats st_local, *st = stats ? stats : &st_local;
    memset(st, 0, sizeof(*st));
    struct pio_pipeline_options o = PIO_PIPELINE_OPTIONS_INIT;
    if (opts) {
        if (opts->size < sizeof(o))
            return pio_error_set(err, PIO_EUSAGE, "pipeline options: size %u, expected %zu",
                                 opts->size, sizeof(o));
        o = *opts;
    }
    if (src->size > sizeof(*src) || sink->size > sizeof(*sink))
        return pio_error_set(err, PIO_EUSAGE,
                             "%s, %s: built for a newer prism-io (source size %u, sink size %u)",
                             src->name ? src->name : "source", sink->name ? sink->name : "sink",
                             src->size, sink->size);
    struct pipe *p = calloc(1, sizeof(*p));
    if (!p)
        return pio_error_set(err, -ENOMEM, "out of memory");
    p->src = src;
    p->sink = sink;
    p->o = &o;
    double t0 = now();
    struct pio_source_info sink_info;
    struct pio_topology *sub = NULL;
    uint64_t *frames = NULL;
    struct worker *workers = NULL;
    int rc = pipe_setup(p, &sink_info, &sub, &frames, err);
    uint32_t nworkers = p->nworkers; /* 0 when setup failed */
    if (rc == 0) {
        rc = pio_pool_create(&p->pool, p->nbuf, p->buf_size, 64);
        if (rc == 0)
            rc = pio_mpmc_create(&p->work, p->nbuf);
        if (rc == 0)
            rc = pio_mpmc_create(&p->done, p->nbuf);
        if (rc == 0 && !(workers = calloc(nworkers, sizeof(*workers))))
            rc = -ENOMEM;
        if (rc != 0)
            pio_error_set(err, rc, "pipeline: cannot allocate %llu buffers of %llu bytes",
                          (unsigned long long)p->nbuf, (unsigned long long)p->buf_size);
    }
    struct pio_error e = {0};
    if (rc == 0 && (rc = src->start(src->ctx, p->frames, p->nselected, &e)) != 0)
        pio_error_set(err, rc, "stage '%s': %s", src->name, e.message);
    if (rc == 0 && (rc = sink->begin(sink->ctx, &sink_info, &e)) != 0)
        pio_error_set(err, rc, "stage '%s': %s", sink->name, e.message);
    if (rc != 0)
        goto out;
    st->buffers = p->nbuf;
    st->buffer_bytes = p->buf_size;

    pthread_t src_tid;
    uint32_t started = 0;
    atomic_init(&p->workers_live, nworkers);
    bool src_started = pthread_create(&src_tid, NULL, source_main, p) == 0;
    if (src_started) {
        for (; started < nworkers; started++) {
            workers[started].p = p;
            if (pthread_create(&workers[started].tid, NULL, worker_main, &workers[started]) != 0)
                break;
        }
    }
    if (!src_started || started < nworkers) {
        pipe_fail(p, -EAGAIN, "pipeline", NULL, "cannot start threads");
        /* Those never started count as gone. */
        if (atomic_fetch_sub(&p->workers_live, nworkers - started) == nworkers - started)
            pio_mpmc_close(p->done);
    }
    sink_loop(p, st, t0);
    if (src_started)
        pthread_join(src_tid, NULL);
    for (uint32_t i = 0; i < started; i++)
        pthread_join(workers[i].tid, NULL);

    bool ok = atomic_load(&p->failed) == 0;
    e = (struct pio_error){0};
    int rc_end = sink->end(sink->ctx, ok, &e);
    if (!ok) {
        rc = p->rc;
        if (err)
            *err = p->error;
    } else if (rc_end != 0) {
        rc = pio_error_set(err, rc_end, "stage '%s': %s", sink->name, e.message);
    }
    st->frames_in = p->frames_in;
    st->bytes_in = atomic_load(&p->bytes_in);
    st->source_wait = p->source_wait;
out:
    st->seconds = now() - t0;
    if (workers)
        for (uint32_t i = 0; i < nworkers; i++) {
            free(workers[i].sel);
            free(workers[i].run_src);
            free(workers[i].run_len);
        }
    free(workers);
    pio_mpmc_destroy(p->work);
    pio_mpmc_destroy(p->done);
    pio_pool_destroy(p->pool);
    free(frames);
    free(sub);
    free(p);
    return rc;
}

PIO_API void pio_source_destroy(struct pio_source *s)
{
    if (s && s->destroy)
        s->destroy(s->ctx);
    if (s)
        memset(s, 0, sizeof(*s));
}

PIO_API void pio_sink_destroy(struct pio_sink *s)
{
    if (s && s->destroy)
        s->destroy(s->ctx);
    if (s)
        memset(s, 0, sizeof(*s));
}
