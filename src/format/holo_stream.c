/*
 * HOLO frame streams: frames read in bulk through the reader's engine
 * (io/io_ranges.c), each delivered as a view checked exactly like
 * pio_reader_frame's, into the mapping or into the stream's buffers.
 *
 * A following stream (pio_frame_stream_follow) reads the committed frames
 * the same way; when it has delivered them all it waits for the file to
 * change (inotify, or polling), refreshes its reader and reads the new
 * frames with a new set of reads. The old set stays open until the caller
 * has released every view from it.
 *
 * Decoding ahead (files with BLOCK records): when a run of frames is done,
 * the stream takes the reads that have already completed, up to a window,
 * and has the worker pool decode each one's block into a cache of its own
 * while the consumer works through the runs before it. A run taken from
 * the window waits for its task (or runs it, if no worker has); its frames
 * are then decoded from that cache exactly as from the stream's own, so a
 * task is only ever a head start: what it failed to decode (a corrupt
 * payload, no memory) is decoded again on the consumer's thread, which
 * reports it.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "format/holo_internal.h"

#include "common/pio_common.h"
#include "concurrent/pio_concurrent.h"
#include "telemetry/pio_telemetry.h"

#define OFFX(o) ((unsigned long long)(o))

#define AHEAD_MAX   4                    /* runs decoded ahead, at most */
#define AHEAD_BYTES ((uint64_t)64 << 20) /* decoded bytes ahead, about */
#define AHEAD_KEEP  ((uint64_t)16 << 20) /* a popped cache larger: freed */

/* A read taken before it was needed: its run, and its block's decode. */
struct ahead {
    struct pio_task task; /* first: the task's run() gets the entry back */
    const pio_reader *r;
    uint64_t q;         /* its place in the reads (run_start, run_len) */
    const uint8_t *rec; /* NULL: the read failed (rc, err), delivered in turn */
    int rc;
    struct pio_error err;
    bool queued;    /* a task on the pool, not yet waited for */
    pid_t pid;      /* ... by this process (a forked child never waits) */
    uint64_t frame; /* the run's first frame */
    uint64_t bytes; /* the decoded block's size (0: none decoded) */
    unsigned mask;
    struct holo_block block;
    struct holo_block_cache cache;
    struct pio_error terr; /* the task's (the consumer reports failures) */
    pthread_t by;          /* the thread that ran the task */
};

struct pio_frame_stream {
    const pio_reader *r;
    uint64_t *frames, nlist;
    pio_io_ranges *io;
    struct pio_io_ranges_options ro;
    bool verify;            /* PIO_STREAM_VERIFY */
    bool own_io;            /* an engine of its own (options' engine) */
    struct pio_io_file own; /* ... set up on the reader's descriptor */
    /* following (fr != NULL): the reader it refreshes, the next frame to
     * read, how it waits; sets of reads whose views are still held */
    pio_reader *fr;
    uint64_t next, last; /* last: the frame stream_next last took */
    uint32_t timeout_ms, poll_ms;
    int ino; /* inotify descriptor, or -1: polling */
    pio_io_ranges **retired;
    size_t nretired;
    /* compressed frames: each delivery's decoded arrays (freed on release)
     * and the record they came from (its scalars are still viewed); raw
     * frames packed in a block (2.2): each delivery's positions in the
     * record (not owned), so the record is kept while any is held */
    struct decoded {
        float *block;
        size_t nfloats;
        const uint8_t *rec;
        bool owned;
    } * decoded;
    size_t ndecoded, decoded_cap;
    struct pio__codec_scratch scratch;
    struct holo_block_cache block; /* the last block decoded */
    /* runs: consecutive frames of one record (a block) are one read; the
     * run being delivered, and the record whose hash a run checked */
    uint64_t *run_start, *run_len; /* per read: first index into frames, frames */
    const uint8_t *cur_rec, *checked_rec;
    uint64_t cur_k, cur_left;
    struct holo_block_cache *cur_cache; /* the current run's block cache */
    /* decoding ahead: a ring of ahead_cap entries from ahead_head, the
     * first the current run's while ahead_cur; ahead_cap 0: off */
    struct ahead *ahead;
    unsigned ahead_cap, ahead_head, ahead_n;
    bool ahead_cur;
    uint64_t ahead_last;    /* bytes of the last block decoded ahead */
    uint64_t ahead_by_pool; /* runs whose block a pool thread decoded */
};

static bool decoded_room(pio_frame_stream *s)
{
    if (s->ndecoded == s->decoded_cap) {
        size_t cap = s->decoded_cap ? s->decoded_cap * 2 : 8;
        struct decoded *n = realloc(s->decoded, cap * sizeof(*n));
        if (!n)
            return false;
        s->decoded = n;
        s->decoded_cap = cap;
    }
    return true;
}

/* A block for the decoded arrays of a frame read from rec, kept until
 * release. */
static float *decoded_block(pio_frame_stream *s, uint64_t natoms, size_t narrays,
                            const uint8_t *rec)
{
    if (!decoded_room(s))
        return NULL;
    size_t nfloats = (size_t)natoms * 3 * narrays;
    float *b = malloc(nfloats * sizeof(float) + 64);
    if (b)
        s->decoded[s->ndecoded++] = (struct decoded){b, nfloats, rec, true};
    return b;
}

/* A packed raw frame delivered in place: its positions, held from rec
 * until release. */
static bool packed_hold(pio_frame_stream *s, const struct pio_frame *f, const uint8_t *rec)
{
    if (!decoded_room(s))
        return false;
    s->decoded[s->ndecoded++] =
        (struct decoded){(float *)(uintptr_t)f->positions, (size_t)f->natoms * 3, rec, false};
    return true;
}

/* The record frame f (decoded, or packed and delivered in place) came
 * from, its entry dropped (a decoded block freed); NULL if none. */
static const uint8_t *decoded_release(pio_frame_stream *s, const struct pio_frame *f)
{
    const float *a[3] = {(const float *)f->positions, (const float *)f->velocities,
                         (const float *)f->forces};
    for (size_t k = 0; k < s->ndecoded; k++)
        for (int j = 0; j < (s->decoded[k].owned ? 3 : 1); j++)
            if (a[j] && a[j] >= s->decoded[k].block &&
                (a[j] < s->decoded[k].block + s->decoded[k].nfloats ||
                 (s->decoded[k].nfloats == 0 && a[j] == s->decoded[k].block))) {
                const uint8_t *rec = s->decoded[k].rec;
                if (s->decoded[k].owned)
                    free(s->decoded[k].block);
                s->decoded[k] = s->decoded[--s->ndecoded];
                return rec;
            }
    return NULL;
}

/* Read frames (the list, or first .. first + n - 1 when frames is NULL)
 * with a new set of reads: s->io and s->frames. */
static int arm(pio_frame_stream *s, const uint64_t *frames, uint64_t first, uint64_t n,
               struct pio_error *err)
{
    const pio_reader *r = s->r;
    struct pio_io_range *ranges = malloc((size_t)PIO_MAX(n, 1) * sizeof(*ranges));
    uint64_t *list = malloc((size_t)PIO_MAX(n, 1) * sizeof(*list));
    if (!ranges || !list) {
        free(ranges);
        free(list);
        return pio_error_set(err, -ENOMEM, "%s: out of memory for a stream of %llu frames", r->path,
                             OFFX(n));
    }
    int rc = 0;
    for (uint64_t k = 0; k < n && rc == 0; k++) {
        uint64_t i = frames ? frames[k] : first + k;
        if (i >= r->nframes) {
            rc = pio_error_set(err, -ERANGE, "%s: frame %llu out of range (%llu frames)", r->path,
                               OFFX(i), OFFX(r->nframes));
            break;
        }
        list[k] = i;
        struct holo_entry e;
        if ((rc = pio__holo_entry(r, i, &e, err)) == 0)
            ranges[k] = (struct pio_io_range){e.offset, e.length};
    }
    /* frames of one record in a row (a block's) make one read */
    uint64_t *rs = malloc((size_t)PIO_MAX(n, 1) * sizeof(*rs));
    uint64_t *rl = malloc((size_t)PIO_MAX(n, 1) * sizeof(*rl));
    uint64_t nr = 0;
    if (rc == 0 && (!rs || !rl))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory for a stream of %llu frames", r->path,
                           OFFX(n));
    for (uint64_t k = 0; k < n && rc == 0; k++) {
        /* (different frames in one record: a block's; the same frame twice
         * is two reads, as each view holds its own) */
        if (nr > 0 && ranges[nr - 1].off == ranges[k].off && ranges[nr - 1].len == ranges[k].len &&
            list[k] != list[k - 1]) {
            rl[nr - 1]++;
            continue;
        }
        ranges[nr] = ranges[k];
        rs[nr] = k;
        rl[nr++] = 1;
    }
    if (rc == 0 && s->own_io) { /* a refresh may have grown the file since */
        s->own.size = r->size;
        s->own.map = r->map;
    }
    if (rc == 0)
        rc = pio_io_ranges_open(&s->io, s->own_io ? &s->own : &r->io, ranges, nr, &s->ro, err);
    free(ranges);
    if (rc != 0) {
        free(list);
        free(rs);
        free(rl);
        return rc;
    }
    free(s->frames);
    free(s->run_start);
    free(s->run_len);
    s->frames = list;
    s->nlist = n;
    s->run_start = rs;
    s->run_len = rl;
    s->cur_left = 0;
    s->cur_rec = s->checked_rec = NULL;
    return 0;
}

/* Options, and an engine of the stream's own if they ask for one. */
static int setup(pio_frame_stream *s, const struct pio_stream_options *opts, struct pio_error *err)
{
    const pio_reader *r = s->r;
    s->ino = -1;
    s->cur_cache = &s->block;
    s->verify = r->checked != NULL; /* a PIO_READER_CHECK_FRAMES reader's streams check too */
    s->ro = (struct pio_io_ranges_options){.ordered = true};
    if (opts &&
        opts->size >= offsetof(struct pio_stream_options, max_bytes) + sizeof(opts->max_bytes)) {
        s->ro.ordered = !(opts->flags & PIO_STREAM_UNORDERED);
        s->verify = s->verify || (opts->flags & PIO_STREAM_VERIFY);
        s->ro.no_coalesce = opts->flags & PIO_STREAM_NO_COALESCE;
        s->ro.queue_depth = opts->queue_depth;
        s->ro.max_bytes = opts->max_bytes;
    }
    /* decoding ahead: files with BLOCK records, where the pool has a
     * thread to spare and the reader may decode off the calling thread */
    unsigned cpus = pio_cpu_count();
    if ((r->hdr.required & HOLO_REQ_BLOCK) && !r->serial_decode && cpus > 1) {
        s->ahead_cap = PIO_MIN(cpus, (unsigned)AHEAD_MAX) + 1;
        if (!(s->ahead = calloc(s->ahead_cap, sizeof(*s->ahead))))
            s->ahead_cap = 0; /* decoded on the consumer's thread, then */
    }
    enum pio_io_engine engine = PIO_IO_AUTO;
    if (opts && opts->size >= offsetof(struct pio_stream_options, engine) + sizeof(opts->engine))
        engine = (enum pio_io_engine)opts->engine;
    int rc = 0;
    if (engine != PIO_IO_AUTO && engine != r->io.info.requested && engine != r->io.info.engine &&
        !r->remote) { /* (a remote file has one way to be read) */
        if ((int)engine < 0 || (int)engine >= PIO_IO_ENGINE_COUNT)
            rc = pio_error_set(err, PIO_EUSAGE, "%s: stream engine %u", r->path, opts->engine);
        else
            rc = pio_io_file_init(&s->own, r->path, r->fd, r->size, r->map, engine,
                                  r->io.info.direct_requested, err);
        s->own_io = rc == 0;
    }
    return rc;
}

PIO_API int pio_frame_stream_open(pio_frame_stream **out, const pio_reader *r,
                                  const uint64_t *frames, uint64_t n,
                                  const struct pio_stream_options *opts, struct pio_error *err)
{
    *out = NULL;
    if (!frames)
        n = r->nframes;
    pio_frame_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "%s: out of memory for a stream of %llu frames", r->path,
                             OFFX(n));
    s->r = r;
    int rc = setup(s, opts, err);
    if (rc == 0)
        rc = arm(s, frames, 0, n, err);
    if (rc != 0) {
        pio_frame_stream_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

PIO_API int pio_frame_stream_follow(pio_frame_stream **out, pio_reader *r, uint64_t start,
                                    const struct pio_stream_options *opts, struct pio_error *err)
{
    *out = NULL;
    pio_frame_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
    s->r = s->fr = r;
    s->next = start;
    int rc = setup(s, opts, err);
    s->ro.ordered = true;
    bool poll_only = false;
    if (opts && opts->size >= offsetof(struct pio_stream_options, follow_poll_ms) +
                                  sizeof(opts->follow_poll_ms)) {
        s->timeout_ms = opts->follow_timeout_ms;
        s->poll_ms = opts->follow_poll_ms;
        poll_only = (opts->flags & PIO_STREAM_FOLLOW_POLL) != 0;
    }
    if (s->poll_ms == 0)
        s->poll_ms = 50;
    /* the watch comes before the first look at the file (arm below): a
     * commit made after that look is an event the first wait sees */
    if (rc == 0 && !poll_only) {
        s->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->ino >= 0 && inotify_add_watch(s->ino, r->path, IN_MODIFY | IN_CLOSE_WRITE) < 0) {
            close(s->ino);
            s->ino = -1; /* polling, then */
        }
    }
    if (rc == 0 && start < r->nframes)
        rc = arm(s, NULL, start, r->nframes - start, err);
    if (rc != 0) {
        pio_frame_stream_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Close the retired sets of reads whose views are all released. */
static void retire_sweep(pio_frame_stream *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->nretired; i++) {
        if (pio_io_ranges_held(s->retired[i]) == 0)
            pio_io_ranges_close(s->retired[i]);
        else
            s->retired[k++] = s->retired[i];
    }
    s->nretired = k;
}

/* The frames after s->next are committed: read them with a new set of
 * reads, the current one retired. */
static int rearm(pio_frame_stream *s, struct pio_error *err)
{
    if (s->io) {
        pio_io_ranges **n = realloc(s->retired, (s->nretired + 1) * sizeof(*n));
        if (!n)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->r->path);
        s->retired = n;
        s->retired[s->nretired++] = s->io;
        s->io = NULL;
        retire_sweep(s);
    }
    return arm(s, NULL, s->next, s->fr->nframes - s->next, err);
}

/* Whether record `rec` of the stream's reads is still needed: a run being
 * delivered, or a decoded view of it held. */
static bool rec_in_use(const pio_frame_stream *s, const uint8_t *rec)
{
    if (s->cur_left && s->cur_rec == rec)
        return true;
    for (size_t k = 0; k < s->ndecoded; k++)
        if (s->decoded[k].rec == rec)
            return true;
    /* runs taken ahead (the current one's entry is the run above) */
    for (unsigned j = s->ahead_cur ? 1 : 0; j < s->ahead_n; j++)
        if (s->ahead[(s->ahead_head + j) % s->ahead_cap].rec == rec)
            return true;
    return false;
}

static void rec_release(pio_frame_stream *s, const uint8_t *rec)
{
    if (s->io)
        pio_io_ranges_release(s->io, rec);
    for (size_t i = 0; i < s->nretired; i++) /* a no-op where it is not theirs */
        pio_io_ranges_release(s->retired[i], rec);
    if (s->nretired)
        retire_sweep(s);
}

static void ahead_run(struct pio_task *t)
{
    struct ahead *a = (struct ahead *)t;
    a->by = pthread_self();
    pio__holo_block_fetch(a->r->path, a->r->uid, &a->block, a->frame, a->mask, 0, a->block.natoms,
                          !a->r->serial_decode, &a->cache, &a->terr);
}

/* Start decoding the block of read a (nothing where its run is not a
 * block's, or the record does not parse: the consumer will say why). */
static void ahead_start(pio_frame_stream *s, struct ahead *a)
{
    uint64_t i = s->frames[s->run_start[a->q]];
    struct holo_entry e;
    struct pio_frame f;
    struct holo_coded cd;
    struct pio_error ignored;
    a->queued = false;
    a->bytes = 0;
    if (pio__holo_entry(s->r, i, &e, &ignored) != 0 ||
        pio__holo_frame_view(s->r, i, &e, a->rec, e.length, &f, &cd, &ignored) != 0 ||
        !cd.in_block || !holo_coded_count(&cd))
        return;
    a->r = s->r;
    a->frame = i;
    a->block = cd.block;
    a->mask = (cd.codec[0] ? 1u : 0) | (cd.codec[1] ? 2u : 0) | (cd.codec[2] ? 4u : 0);
    uint64_t bytes = (uint64_t)cd.block.nframes * cd.block.natoms * 12 * holo_coded_count(&cd);
    s->ahead_last = bytes;
    if (bytes > AHEAD_BYTES)
        return; /* the consumer decodes it (its groups on the pool) */
    a->bytes = bytes;
    a->task = (struct pio_task){ahead_run, NULL, NULL, PIO_TASK_QUEUED};
    a->pid = getpid();
    a->queued = pio_workers_submit(&a->task, pio_cpu_count());
}

/* Wait for a's task. A forked child never does: the thread running it in
 * the parent is not in the child, so what it decoded is dropped and the
 * consumer decodes it (the pool refuses a child's tasks). */
static void ahead_wait(pio_frame_stream *s, struct ahead *a)
{
    if (!a->queued)
        return;
    a->queued = false;
    if (a->pid != getpid()) {
        a->cache.valid = false;
        return;
    }
    pio_workers_wait(&a->task);
    s->ahead_by_pool += !pthread_equal(a->by, pthread_self());
}

/* Take the reads already complete into the window (never waiting), each
 * block's decode started: up to ahead_cap entries, and while the blocks
 * ahead of the current run stay under AHEAD_BYTES. */
static void ahead_fill(pio_frame_stream *s)
{
    while (s->ahead_n < s->ahead_cap) {
        uint64_t pending = 0;
        for (unsigned j = s->ahead_cur ? 1 : 0; j < s->ahead_n; j++)
            pending += s->ahead[(s->ahead_head + j) % s->ahead_cap].bytes;
        if (s->ahead_n > (s->ahead_cur ? 1u : 0u) && pending + s->ahead_last > AHEAD_BYTES)
            break;
        struct ahead *a = &s->ahead[(s->ahead_head + s->ahead_n) % s->ahead_cap];
        uint64_t q;
        const uint8_t *rec;
        int rc = pio_io_ranges_next(s->io, false, &q, &rec, &a->err);
        /* nothing ready, all delivered, or every buffer held (the consumer
         * holds views): its own next call sees to it */
        if (rc == 0 || rc == -EAGAIN || rc == PIO_EUSAGE)
            break;
        s->ahead_n++;
        a->rc = rc == 1 ? 0 : rc;
        a->rec = rc == 1 ? rec : NULL;
        a->queued = false;
        a->bytes = 0;
        if (rc != 1)
            break; /* a read failed: the stream ends there, in turn */
        a->q = q;
        ahead_start(s, a);
    }
}

/* The current run's entry is done with: out of the window (its cache kept
 * for reuse unless large). */
static void ahead_pop(pio_frame_stream *s)
{
    struct ahead *a = &s->ahead[s->ahead_head];
    if (a->bytes > AHEAD_KEEP)
        pio__holo_block_cache_free(&a->cache);
    s->ahead_head = (s->ahead_head + 1) % s->ahead_cap;
    s->ahead_n--;
    s->ahead_cur = false;
}

/* The next read, for the next run: from the window where decoding ahead
 * (its block's decode waited for), else from the reads. 1 with *q, *rec
 * and s->cur_cache set; 0 at the end; or an error. */
static int next_read(pio_frame_stream *s, bool wait, uint64_t *q, const uint8_t **rec,
                     struct pio_error *err)
{
    s->cur_cache = &s->block;
    if (s->ahead_cap) {
        if (s->ahead_cur)
            ahead_pop(s);
        ahead_fill(s);
        if (s->ahead_n > 0) {
            struct ahead *a = &s->ahead[s->ahead_head];
            if (!a->rec) { /* a failed read, in its turn */
                int rc = a->rc;
                if (err)
                    *err = a->err;
                s->ahead_head = (s->ahead_head + 1) % s->ahead_cap;
                s->ahead_n--;
                return rc;
            }
            ahead_wait(s, a);
            s->ahead_cur = true;
            *q = a->q;
            *rec = a->rec;
            if (a->bytes) /* decoded ahead (else the stream's own cache) */
                s->cur_cache = &a->cache;
            return 1;
        }
    }
    return pio_io_ranges_next(s->io, wait, q, rec, err);
}

static int stream_next(pio_frame_stream *s, bool wait, struct pio_frame *out, struct pio_error *err)
{
    const uint8_t *rec;
    if (s->cur_left == 0) { /* the next read: a run of frames in one record */
        uint64_t q;
        int rc = next_read(s, wait, &q, &rec, err);
        if (rc < 0 && rc != -EAGAIN && s->r->remote && err && s->ro.ordered &&
            s->cur_k < s->nlist) {
            /* a failed request: name the frame it was for */
            char m[PIO_ERROR_MESSAGE_SIZE];
            size_t pl = strlen(s->r->path);
            snprintf(m, sizeof(m), "%s", err->message);
            const char *rest = strncmp(m, s->r->path, pl) == 0 && m[pl] == ':' ? m + pl + 2 : m;
            pio_error_set(err, rc, "%s: frame %llu: %s", s->r->path,
                          (unsigned long long)s->frames[s->cur_k], rest);
        }
        if (rc != 1)
            return rc;
        s->cur_rec = rec;
        s->cur_k = s->run_start[q];
        s->cur_left = s->run_len[q];
        s->checked_rec = NULL; /* a new read: buffers are reused at the same address */
    }
    rec = s->cur_rec;
    uint64_t k = s->cur_k++;
    s->cur_left--;
    int rc;
    uint64_t i = s->frames[k];
    s->last = i;
    struct holo_entry e;
    rc = pio__holo_entry(s->r, i, &e, err);
    struct holo_coded cd;
    if (rc == 0)
        rc = pio__holo_frame_view(s->r, i, &e, rec, e.length, out, &cd, err);
    /* relaxed: the flag only saves rehashing (as in pio_reader_frame); a
     * run's record is hashed once for all its frames */
    if (rc == 0 && s->verify && rec != s->checked_rec &&
        !(s->r->checked && atomic_load_explicit(&s->r->checked[i], memory_order_relaxed))) {
        uint64_t t0 = pio_tm_start();
        rc = pio__holo_frame_checksum(s->r, i, &e, rec, err);
        pio_tm_end(PIO_OP_HASH, 0, (uint64_t)s->r->fd, i, e.length, t0, 0);
        if (rc == 0 && s->r->checked)
            atomic_store_explicit(&s->r->checked[i], 1, memory_order_relaxed);
        if (rc == 0)
            s->checked_rec = rec;
        else /* decoded ahead, before this check: not to be served later */
            s->cur_cache->valid = false;
    }
    if (rc == 0 && cd.in_block && !holo_coded_count(&cd) && !packed_hold(s, out, rec))
        rc = pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory", s->r->path,
                           (unsigned long long)i);
    if (rc == 0 && holo_coded_count(&cd)) {
        /* into a block of its own, so views held at once differ */
        float *b = decoded_block(s, out->natoms, holo_coded_count(&cd), rec);
        if (!b)
            rc = pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory to decode it",
                               s->r->path, (unsigned long long)i);
        else if ((rc = pio__holo_decode(s->r, out, &cd, b, &s->scratch, s->cur_cache, err)) != 0) {
            free(b);
            s->ndecoded--;
        }
    }
    if (rc != 0) {
        if (!rec_in_use(s, rec))
            pio_io_ranges_release(s->io, rec);
        return rc;
    }
    return 1;
}

static int follow_next(pio_frame_stream *s, bool wait, struct pio_frame *out, struct pio_error *err)
{
    for (;;) {
        if (s->io) {
            int rc = stream_next(s, wait, out, err);
            if (rc == 1 || rc == PIO_ECORRUPT || rc == PIO_EVERSION || rc == PIO_ECHECKSUM)
                s->next = s->last + 1; /* a damaged frame is passed, as in any stream */
            if (rc != 0)
                return rc;
        }
        if (s->fr->nframes <= s->next) {
            if (pio_reader_final(s->fr))
                return 0;
            int rc = pio__holo_wait(s->fr, s->ino, s->poll_ms, s->timeout_ms, s->next, wait, err);
            if (rc != 0)
                return rc;
            if (s->fr->nframes <= s->next)
                return 0; /* final */
        }
        int rc = rearm(s, err);
        if (rc != 0)
            return rc;
    }
}

PIO_API int pio_frame_stream_next(pio_frame_stream *s, struct pio_frame *out, struct pio_error *err)
{
    return s->fr ? follow_next(s, true, out, err) : stream_next(s, true, out, err);
}

PIO_API int pio_frame_stream_poll(pio_frame_stream *s, struct pio_frame *out, struct pio_error *err)
{
    return s->fr ? follow_next(s, false, out, err) : stream_next(s, false, out, err);
}

PIO_API void pio_frame_stream_release(pio_frame_stream *s, const struct pio_frame *f)
{
    /* Decoded and packed frames: their entry says; a FRAME record starts
     * HOLO_FRAME_HDR bytes before its positions. */
    const uint8_t *rec = s->ndecoded ? decoded_release(s, f) : NULL;
    if (!rec && !(f->fields & PIO_FIELD_DECODED))
        rec = (const uint8_t *)f->positions - HOLO_FRAME_HDR;
    /* a block's record goes back once its last frame is delivered and
     * released */
    if (rec && !rec_in_use(s, rec))
        rec_release(s, rec);
}

PIO_API int pio_frame_stream_io_info(const pio_frame_stream *s, struct pio_io_info *out)
{
    if (s->io)
        *out = *pio_io_ranges_info(s->io);
    else
        *out = s->own_io ? s->own.info : s->r->io.info;
    return 0;
}

PIO_API void pio_frame_stream_close(pio_frame_stream *s)
{
    if (!s)
        return;
    /* tasks still decoding read the stream's buffers: done first */
    for (unsigned j = 0; j < s->ahead_n; j++) {
        struct ahead *a = &s->ahead[(s->ahead_head + j) % s->ahead_cap];
        ahead_wait(s, a);
    }
    for (unsigned j = 0; j < s->ahead_cap; j++)
        pio__holo_block_cache_free(&s->ahead[j].cache);
    free(s->ahead);
    pio_io_ranges_close(s->io);
    for (size_t i = 0; i < s->nretired; i++)
        pio_io_ranges_close(s->retired[i]);
    free(s->retired);
    if (s->own_io)
        pio_io_file_close(&s->own);
    if (s->ino >= 0)
        close(s->ino);
    for (size_t k = 0; k < s->ndecoded; k++)
        if (s->decoded[k].owned)
            free(s->decoded[k].block);
    free(s->decoded);
    pio__codec_scratch_free(&s->scratch);
    pio__holo_block_cache_free(&s->block);
    free(s->run_start);
    free(s->run_len);
    free(s->frames);
    free(s);
}

uint64_t pio__frame_stream_ahead_by_pool(const pio_frame_stream *s)
{
    return s->ahead_by_pool;
}
