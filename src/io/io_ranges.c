/*
 * io: the range reader. One request list, one engine:
 *
 *   mmap   each range is a pointer into the mapping; nothing is copied.
 *          Ranges in file order are left to the kernel's readahead, which
 *          brings large folios (a mapping then faults 2 MiB at a time);
 *          others get MADV_WILLNEED a window ahead. (WILLNEED reads into
 *          4 KiB pages: a cold in-order stream ran at 0.62-0.66x dd bs=1M
 *          with it, 0.96-1.06x without, and a later mapping of those pages
 *          took 3x the faults.)
 *   pread  ranges are read one at a time into a small set of buffers, on
 *          the caller's thread, when asked for.
 *   remote a remote object (HTTP range requests, io_remote.c): up to
 *          queue_depth (4) requests in flight on one curl multi handle,
 *          neighbouring ranges merged into requests of up to 4 MiB
 *          (measured on loopback: 4 requests of 8 MiB finish together,
 *          and the consumer waits for the first; 4 MiB took a 26 MB file
 *          of 100k frames from 37-40 ms to 27-30). After every 64 KiB
 *          delivered it takes what the sockets hold, so transfers go on
 *          while the consumer works.
 *   uring  up to queue_depth reads are in flight at once through io_uring:
 *          the file and the buffers are registered when the kernel and
 *          RLIMIT_MEMLOCK allow it, submissions are batched, short reads
 *          and interrupted reads are resubmitted for the rest.
 *
 * With O_DIRECT, every read covers whole aligned blocks around its range
 * (offset rounded down, end rounded up) into aligned buffers; the range's
 * bytes are a 64-byte-aligned slice of that (HOLO records are 64-aligned).
 * Past the end of the file a direct read comes back short, which is fine as
 * long as the range itself is covered.
 *
 * Small neighbouring ranges are read together: consecutive requests whose
 * ranges follow each other in the file (gaps of at most COALESCE_GAP bytes)
 * share one read of up to COALESCE_BYTES, so a stream of tiny frames makes
 * one system call or io_uring request per few hundred kilobytes instead of
 * one per frame. A buffer then holds several ranges: it is free again once
 * every one of them has been delivered and released.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/io_ring.h"
#include "io/pio_io.h"
#include "telemetry/pio_telemetry.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))

/* Reads of neighbouring small ranges are merged up to this size. */
#define COALESCE_BYTES ((uint64_t)256 << 10)
#define COALESCE_GAP   ((uint64_t)4096)
/* The largest gap between ranges in file order that still reads as one
 * sequential stream (the kernel's readahead window ramps past it). */
#define DENSE_GAP ((uint64_t)64 << 10)
/* A remote object: a request costs a round trip, so merge far more. */
#define REMOTE_COALESCE ((uint64_t)4 << 20)
#define REMOTE_GAP      ((uint64_t)64 << 10)
#define REMOTE_DEPTH    4
#define PUMP_BYTES      ((uint64_t)64 << 10)

/* READY: the read is done and some of its ranges are still to deliver;
 * DRAINED: all delivered, some still held by the consumer. */
enum slot_state { SLOT_FREE, SLOT_INFLIGHT, SLOT_READY, SLOT_DRAINED };

struct slot {
    uint8_t *buf;
    enum slot_state state;
    uint64_t seq;   /* first request it holds */
    uint64_t count; /* requests it holds: seq .. seq + count - 1 */
    uint64_t given; /* of those, delivered so far (in order) */
    uint64_t held;  /* delivered and not yet released */
    uint64_t aoff;  /* aligned start of the read */
    uint64_t need;  /* bytes from aoff that must arrive (to the range's end) */
    uint64_t want;  /* bytes the read asks for (aligned for O_DIRECT) */
    uint64_t done;
    int err;     /* the read failed: reported when this range is due */
    uint64_t t0; /* telemetry: when the read started */
};

struct pio_io_ranges {
    const struct pio_io_file *f;
    struct pio_io_info info;
    struct pio_io_range *ranges;
    uint64_t n, next_submit, next_deliver, delivered;
    struct pio_io_window win; /* mmap: pages behind the reads dropped */
    bool ordered;
    bool dense;     /* ranges in file order, gaps under DENSE_GAP: the kernel's readahead */
    int rfd;        /* descriptor reads use */
    uint32_t align; /* read alignment: O_DIRECT block, else 1 */
    struct slot *slots;
    unsigned nslots;
    size_t slot_cap;
    uint64_t coalesce; /* largest merged read */
    unsigned inflight;
    int error;       /* sticky */
    pio__ring *ring; /* PIO_IO_URING */
    bool fixed_file;
    uint64_t gap;            /* largest gap merged over */
    pio_remote_batch *batch; /* a remote object's requests */
    struct pio_error rerr;   /* the first failed request's message */
    uint64_t unpumped;       /* bytes delivered since the sockets were last looked at */
    uint64_t rerr_seq;
};

static uint64_t round_down(uint64_t v, uint64_t a)
{
    return v / a * a;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static void note_add(struct pio_io_info *info, const char *msg, int rc)
{
    size_t used = strlen(info->note);
    snprintf(info->note + used, sizeof(info->note) - used, "%s%s (%s)", used ? "; " : "", msg,
             pio_strerror(rc));
    pio_telemetry_note("stream: %s (%s)", msg, pio_strerror(rc));
}

/* Injected short read: half the length, in whole blocks of `align` (as
 * the kernel returns them for O_DIRECT), when a fault is armed. */
static size_t short_read_fault(size_t ask, uint32_t align)
{
    size_t half = (ask / 2) / align * align;
    if (half == 0 || !pio_io_fault_take(PIO_FAULT_READ_SHORT))
        return ask;
    return half;
}

/* Place requests from `seq` in slot s: as many neighbours as fit one
 * read (at least one). Returns how many. */
static uint64_t slot_prepare(pio_io_ranges *s, struct slot *sl, uint64_t seq)
{
    const struct pio_io_range *r = &s->ranges[seq];
    uint64_t aoff = round_down(r->off, s->align), end = r->off + r->len, count = 1;
    uint64_t limit = PIO_MIN((uint64_t)s->slot_cap - s->align, s->coalesce);
    while (seq + count < s->n) {
        const struct pio_io_range *q = &s->ranges[seq + count];
        if (q->off < end || q->off - end > s->gap || q->off + q->len - aoff > limit)
            break;
        end = q->off + q->len;
        count++;
    }
    sl->seq = seq;
    sl->count = count;
    sl->given = sl->held = 0;
    sl->t0 = pio_tm_start();
    sl->aoff = aoff;
    sl->need = end - aoff;
    sl->want = round_up(sl->need, s->align);
    sl->done = 0;
    sl->err = 0;
    return count;
}

/* Finish slot sl with synchronous reads (pread engine, or a remainder the
 * direct descriptor cannot take). */
static int slot_read_sync(pio_io_ranges *s, struct slot *sl)
{
    while (sl->done < sl->need) {
        bool aligned = (sl->aoff + sl->done) % s->align == 0;
        int fd = aligned ? s->rfd : s->f->fd;
        size_t ask = (size_t)((aligned ? sl->want : sl->need) - sl->done);
        if (pio_io_fault_take(PIO_FAULT_READ_EINTR))
            continue; /* as the kernel would: interrupted, nothing read, retry */
        ask = short_read_fault(ask, aligned ? s->align : 1);
        ssize_t got = pread(fd, sl->buf + sl->done, ask, (off_t)(sl->aoff + sl->done));
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        if (got == 0)
            return PIO_ETRUNCATED;
        sl->done += (uint64_t)got;
    }
    return 0;
}

static int slot_submit_uring(pio_io_ranges *s, struct slot *sl)
{
    /* an injected short read: the completion then looks like one */
    size_t ask = short_read_fault((size_t)(sl->want - sl->done), s->align);
    unsigned idx = (unsigned)(sl - s->slots);
    /* -EBUSY cannot happen: the ring has a slot per buffer */
    return pio__ring_prep_read(s->ring, s->fixed_file ? 0 : s->rfd, s->fixed_file,
                               sl->buf + sl->done, (unsigned)ask, sl->aoff + sl->done,
                               s->info.registered_buffers ? (int)idx : -1, idx);
}

static int complete_one(pio_io_ranges *s, struct slot *sl, int res);

/* Handle one completion; a failed read is kept on its slot, so that in
 * ordered mode the ranges before it are still delivered first. */
static void complete_uring(pio_io_ranges *s, uint64_t tag, int res)
{
    struct slot *sl = &s->slots[tag];
    s->inflight--;
    int rc = complete_one(s, sl, res);
    if (rc != 0) {
        sl->err = rc;
        sl->state = SLOT_READY;
    }
}

static int complete_one(pio_io_ranges *s, struct slot *sl, int res)
{
    if (pio_io_fault_take(PIO_FAULT_READ_EINTR) && res > 0)
        res = -EINTR; /* pretend it was interrupted: its data is read again */
    if (res == -EINTR || res == -EAGAIN) {
        /* resubmit below */
    } else if (res < 0) {
        return res;
    } else if (res == 0) {
        if (sl->done < sl->need)
            return PIO_ETRUNCATED;
    } else {
        sl->done += (uint64_t)res;
    }
    if (sl->done >= sl->need) {
        sl->state = SLOT_READY;
        return 0;
    }
    if ((sl->aoff + sl->done) % s->align != 0) {
        int rc = slot_read_sync(s, sl); /* a direct read stopped mid-block */
        if (rc == 0)
            sl->state = SLOT_READY;
        return rc;
    }
    int rc = slot_submit_uring(s, sl);
    if (rc == 0) {
        s->inflight++;
        pio__ring_submit(s->ring);
    }
    return rc;
}

/* Start reads into free slots, in request order. */
static int refill(pio_io_ranges *s)
{
    if (s->info.engine != PIO_IO_URING)
        return 0;
    unsigned queued = 0;
    for (unsigned i = 0; i < s->nslots && s->next_submit < s->n; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_FREE)
            continue;
        s->next_submit += slot_prepare(s, sl, s->next_submit);
        int rc = slot_submit_uring(s, sl);
        if (rc != 0)
            return rc;
        sl->state = SLOT_INFLIGHT;
        s->inflight++;
        queued++;
    }
    if (queued) {
        int rc = pio__ring_submit(s->ring);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A slot with a range to deliver now: in order, the one holding
 * next_deliver; else the ready one that started first. */
static struct slot *find_ready(pio_io_ranges *s)
{
    struct slot *best = NULL;
    for (unsigned i = 0; i < s->nslots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_READY)
            continue;
        if (s->ordered ? sl->seq + sl->given == s->next_deliver : (!best || sl->seq < best->seq))
            best = sl;
    }
    return best;
}

/* Hand out the slot's next range. */
static int deliver(pio_io_ranges *s, struct slot *sl, uint64_t *index, const uint8_t **data)
{
    uint64_t seq = sl->seq + sl->given;
    if (++sl->given == sl->count)
        sl->state = SLOT_DRAINED;
    sl->held++;
    if (s->ordered)
        s->next_deliver++;
    s->delivered++;
    *index = seq;
    *data = sl->buf + (s->ranges[seq].off - sl->aoff);
    return 1;
}

static int fail(pio_io_ranges *s, int rc, uint64_t seq, struct pio_error *err)
{
    s->error = rc;
    return pio_error_set(err, rc, "%s: read of %llu bytes at offset 0x%llx (%s engine%s): %s",
                         s->f->path, OFFX(s->ranges[seq].len), OFFX(s->ranges[seq].off),
                         pio_io_engine_name(s->info.engine), s->info.direct ? ", O_DIRECT" : "",
                         pio_strerror(rc));
}

static int all_held(const pio_io_ranges *s, struct pio_error *err)
{
    return pio_error_set(err, PIO_EUSAGE, "%s: all %u stream buffers are held; release some first",
                         s->f->path, s->nslots);
}

/* A completion of a remote request into its slot: 1, 0 when none came
 * (-EAGAIN without waiting), or the batch's failure. */
static int remote_take(pio_io_ranges *s, bool wait)
{
    uint64_t tag;
    int res = 0;
    struct pio_error e1;
    int got = pio__remote_batch_next(s->batch, wait, &tag, &res, &e1);
    if (got != 1)
        return got;
    struct slot *done = &s->slots[tag];
    s->inflight--;
    done->state = SLOT_READY;
    done->done = done->need;
    if (res != 0) {
        done->err = res;
        if (!s->rerr.code) {
            s->rerr = e1;
            s->rerr_seq = done->seq;
        }
    }
    return 1;
}

/* A remote object: requests in flight on free slots, delivered as the
 * other engines do. The transfers move only when libcurl is called, so
 * every delivery first takes what the sockets hold (without waiting):
 * the requests in flight keep coming in while the consumer works. */
static int next_remote(pio_io_ranges *s, bool wait, uint64_t *index, const uint8_t **data,
                       struct pio_error *err)
{
    for (;;) {
        for (unsigned i = 0; i < s->nslots && s->next_submit < s->n; i++) {
            struct slot *sl = &s->slots[i];
            if (sl->state != SLOT_FREE)
                continue;
            uint64_t seq = s->next_submit;
            s->next_submit += slot_prepare(s, sl, seq);
            const struct pio_io_range *r = &s->ranges[seq];
            if (r->off > s->f->size || sl->need > s->f->size - sl->aoff)
                return fail(s, PIO_ETRUNCATED, seq, err);
            int rc = pio__remote_batch_add(s->batch, i, sl->aoff, sl->need, sl->buf);
            if (rc != 0)
                return fail(s, rc, seq, err);
            sl->state = SLOT_INFLIGHT;
            s->inflight++;
        }
        /* (after every PUMP_BYTES delivered: a look costs a recv per transfer,
         * and 100k frames of 270 bytes would make it 400k system calls) */
        if (s->unpumped >= PUMP_BYTES) {
            s->unpumped = 0;
            while (s->inflight > 0 && remote_take(s, false) == 1) {
            }
        }
        struct slot *sl = find_ready(s);
        if (sl && sl->err) {
            sl->state = SLOT_FREE;
            s->error = sl->err;
            if (s->rerr.code && s->rerr_seq == sl->seq)
                return pio_error_set(err, sl->err, "%s", s->rerr.message);
            return fail(s, sl->err, sl->seq, err);
        }
        if (sl) {
            if (sl->given == 0)
                pio_tm_end(PIO_OP_READ, PIO_IO_PREAD, 0, sl->seq, sl->need, sl->t0, 0);
            s->unpumped += s->ranges[sl->seq + sl->given].len;
            return deliver(s, sl, index, data);
        }
        if (s->inflight == 0)
            return all_held(s, err);
        int got = remote_take(s, wait);
        if (got == -EAGAIN)
            return -EAGAIN;
        if (got <= 0)
            return fail(s, got ? got : PIO_EUSAGE, s->next_deliver, err);
    }
}

int pio_io_ranges_next(pio_io_ranges *s, bool wait, uint64_t *index, const uint8_t **data,
                       struct pio_error *err)
{
    if (s->error)
        return pio_error_set(err, s->error, "%s: stream failed earlier: %s", s->f->path,
                             pio_strerror(s->error));
    if (s->delivered == s->n)
        return 0;

    if (s->info.engine == PIO_IO_MMAP) {
        uint64_t seq = s->next_deliver;
        const struct pio_io_range *r = &s->ranges[seq];
        if (r->off > s->f->size || r->len > s->f->size - r->off)
            return fail(s, PIO_ETRUNCATED, seq, err);
        /* Read-ahead hint for the window that follows. With telemetry
         * on, its pages are also touched here, so that reading through the
         * mapping shows in the trace as one read per 16 ranges. */
        if (seq % 16 == 0 && (!s->dense || pio_tm_start())) {
            uint64_t t0 = pio_tm_start(), bytes = 0;
            for (uint64_t k = seq; k < seq + 16 && k < s->n; k++) {
                uint64_t a = round_down(s->ranges[k].off, 4096);
                if (s->ranges[k].off > s->f->size ||
                    s->ranges[k].len > s->f->size - s->ranges[k].off)
                    break; /* (refused when delivered) */
                if (!s->dense)
                    madvise((void *)(s->f->map + a),
                            (size_t)(s->ranges[k].off + s->ranges[k].len - a), MADV_WILLNEED);
                if (t0)
                    pio_tm_touch(s->f->map + s->ranges[k].off, s->ranges[k].len);
                bytes += s->ranges[k].len;
            }
            pio_tm_end(PIO_OP_READ, PIO_IO_MMAP, (uint64_t)s->f->fd, seq, bytes, t0, 0);
        }
        s->next_deliver++;
        s->delivered++;
        *index = seq;
        *data = s->f->map + r->off;
        pio_io_map_window(&s->win, s->f->map, s->f->size, r->off, r->len);
        return 1;
    }

    if (s->batch)
        return next_remote(s, wait, index, data, err);

    if (s->info.engine == PIO_IO_PREAD) {
        struct slot *sl = find_ready(s);
        if (sl)
            return deliver(s, sl, index, data);
        for (unsigned i = 0; i < s->nslots && !sl; i++)
            if (s->slots[i].state == SLOT_FREE)
                sl = &s->slots[i];
        if (!sl)
            return all_held(s, err);
        uint64_t seq = s->next_submit; /* == next_deliver when ordered */
        s->next_submit = seq + slot_prepare(s, sl, seq);
        int rc = slot_read_sync(s, sl);
        pio_tm_end(PIO_OP_READ, PIO_IO_PREAD, (uint64_t)s->f->fd, seq, sl->done, sl->t0, rc);
        if (rc != 0)
            return fail(s, rc, seq, err);
        sl->state = SLOT_READY;
        return deliver(s, sl, index, data);
    }

    for (;;) {
        int rc = refill(s);
        if (rc != 0)
            return fail(s, rc, s->next_submit ? s->next_submit - 1 : 0, err);
        struct slot *sl = find_ready(s);
        if (sl && sl->err) {
            sl->state = SLOT_FREE;
            return fail(s, sl->err, sl->seq, err);
        }
        if (sl) {
            if (sl->given == 0)
                pio_tm_end(PIO_OP_READ, PIO_IO_URING, (uint64_t)s->f->fd, sl->seq, sl->done, sl->t0,
                           0);
            return deliver(s, sl, index, data);
        }
        if (s->inflight == 0)
            return all_held(s, err);
        uint64_t tag;
        int res;
        rc = pio__ring_complete(s->ring, wait, &tag, &res);
        if (rc == -EAGAIN && !wait)
            return -EAGAIN;
        if (rc == -EINTR)
            continue;
        if (rc < 0)
            return fail(s, rc, s->next_deliver, err);
        complete_uring(s, tag, res);
    }
}

void pio_io_ranges_release(pio_io_ranges *s, const uint8_t *data)
{
    for (unsigned i = 0; i < s->nslots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->held > 0 && data >= sl->buf && data < sl->buf + s->slot_cap) {
            if (--sl->held == 0 && sl->state == SLOT_DRAINED)
                sl->state = SLOT_FREE;
            return;
        }
    }
}

unsigned pio_io_ranges_held(const pio_io_ranges *s)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->nslots; i++)
        n += (unsigned)s->slots[i].held;
    return n;
}

const struct pio_io_info *pio_io_ranges_info(const pio_io_ranges *s)
{
    return &s->info;
}

void pio_io_ranges_close(pio_io_ranges *s)
{
    if (!s)
        return;
    pio__remote_batch_close(s->batch); /* (transfers in flight are dropped) */
    if (s->ring) {
        /* Reap what is in flight before the buffers go away. */
        while (s->inflight > 0) {
            uint64_t tag;
            int res;
            int rc = pio__ring_complete(s->ring, true, &tag, &res);
            if (rc == -EINTR)
                continue;
            if (rc < 0)
                break;
            s->inflight--;
        }
        pio__ring_exit(s->ring);
    }
    for (unsigned i = 0; s->slots && i < s->nslots; i++)
        free(s->slots[i].buf);
    free(s->slots);
    free(s->ranges);
    free(s);
}

int pio_io_ranges_open(pio_io_ranges **out, const struct pio_io_file *f,
                       const struct pio_io_range *ranges, uint64_t n,
                       const struct pio_io_ranges_options *opts, struct pio_error *err)
{
    *out = NULL;
    pio_io_ranges *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", f->path);
    s->f = f;
    s->info = f->info;
    s->n = n;
    s->ordered = opts ? opts->ordered : true;
    s->rfd = f->info.direct ? f->dfd : f->fd;
    s->align = f->info.direct ? f->info.direct_align : 1;
    s->ranges = malloc((size_t)PIO_MAX(n, 1) * sizeof(*ranges));
    if (!s->ranges) {
        free(s);
        return pio_error_set(err, -ENOMEM, "%s: out of memory for %llu ranges", f->path, OFFX(n));
    }
    if (n)
        memcpy(s->ranges, ranges, (size_t)n * sizeof(*ranges));
    s->dense = true;
    for (uint64_t i = 1; i < n && s->dense; i++) {
        uint64_t end = ranges[i - 1].off + ranges[i - 1].len;
        s->dense = ranges[i].off >= ranges[i - 1].off &&
                   (ranges[i].off <= end || ranges[i].off - end <= DENSE_GAP);
    }
    if (s->info.engine == PIO_IO_MMAP) {
        *out = s;
        return 0;
    }
    /* Buffers: one per read in flight, each big enough for the largest
     * range plus alignment slack, within max_bytes. */
    /* Default depth: O_DIRECT reads come from the device and need many in
     * flight; buffered reads hit the page cache, where more buffers only
     * push the data out of the CPU caches before it is used (measured:
     * io_uring warm 0.56x read() at depth 32, 0.94x at depth 2). */
    unsigned qd = opts && opts->queue_depth ? opts->queue_depth : 0;
    uint64_t max_bytes = opts && opts->max_bytes ? opts->max_bytes : ((uint64_t)256 << 20);
    uint64_t biggest = 64;
    for (uint64_t i = 0; i < n; i++)
        biggest = PIO_MAX(biggest, ranges[i].len);
    uint64_t a = PIO_MAX(s->align, 64u);
    /* small ranges: buffers big enough to merge neighbours into one read */
    s->coalesce = opts && opts->no_coalesce ? 0 : f->remote ? REMOTE_COALESCE : COALESCE_BYTES;
    s->gap = f->remote ? REMOTE_GAP : COALESCE_GAP;
    s->slot_cap = (size_t)round_up(PIO_MAX(biggest, s->coalesce) + 2 * a, PIO_MAX(a, 4096u));
    if (qd == 0)
        qd = f->remote        ? REMOTE_DEPTH
             : f->info.direct ? 32
                              : (unsigned)PIO_MAX(2, ((uint64_t)4 << 20) / s->slot_cap);
    uint64_t fit = max_bytes / s->slot_cap;
    s->nslots = (unsigned)PIO_MAX(1, PIO_MIN(PIO_MIN((uint64_t)qd, fit), PIO_MAX(n, 1)));
    if (s->nslots > 4096)
        s->nslots = 4096;
    s->slots = calloc(s->nslots, sizeof(*s->slots));
    if (!s->slots)
        goto oom;
    for (unsigned i = 0; i < s->nslots; i++) {
        size_t len = s->slot_cap; /* (from 2 MiB: huge pages, a fault per 2 MiB) */
        if (!(s->slots[i].buf = pio_alloc_big(4096, &len)))
            goto oom;
    }

    if (f->remote) {
        if (pio__remote_batch_open(&s->batch, f->remote, s->nslots) != 0)
            goto oom;
        *out = s;
        return 0;
    }
    if (s->info.engine == PIO_IO_URING) {
        int rc = pio_io_fault_take(PIO_FAULT_URING_SETUP);
        if (rc == 0)
            rc = pio__ring_init(&s->ring, s->nslots);
        if (rc == PIO_ENOTSUPPORTED) {
            s->info.engine = PIO_IO_PREAD;
            note_add(&s->info, "built without liburing; using pread", rc);
        } else if (rc < 0) {
            s->info.engine = PIO_IO_PREAD;
            note_add(&s->info, "io_uring setup failed; using pread", rc);
        } else {
            s->fixed_file = pio__ring_register_file(s->ring, s->rfd) == 0;
            struct iovec *iov = calloc(s->nslots, sizeof(*iov));
            if (iov) {
                for (unsigned i = 0; i < s->nslots; i++)
                    iov[i] = (struct iovec){s->slots[i].buf, s->slot_cap};
                rc = pio__ring_register_buffers(s->ring, iov, s->nslots);
                s->info.registered_buffers = rc == 0;
                if (rc != 0)
                    note_add(&s->info, "registered buffers refused (RLIMIT_MEMLOCK?); plain reads",
                             rc);
                free(iov);
            }
        }
    }
    *out = s;
    return 0;
oom:
    pio_io_ranges_close(s);
    return pio_error_set(err, -ENOMEM, "%s: out of memory for stream buffers", f->path);
}
