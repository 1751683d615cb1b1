/*
 * HOLO reader: a remote file (http://, https://, s3://) through io's
 * range requests.
 *
 * The reader's code works on a mapping of the file; a remote reader's is
 * anonymous memory the size of the object (address space only, until
 * filled) into which the bytes it reads are fetched, in 64 KiB chunks:
 *
 *  - what opening and index lookups read (header, META, COMMIT and FULL
 *    INDEX records, the 1.x INDEX) is fetched before it is parsed
 *    (pio__holo_need) and kept: a few bytes per frame at most;
 *  - walks over every record's header (verify, info) fetch their chunks
 *    too, with read-ahead where records are small, and give them back
 *    (MADV_DONTNEED) once every walk running is past them (the positions
 *    of up to WALKERS are followed), so walks keep about WALK_KEEP
 *    resident;
 *  - frame records never go into that memory: they are read into a cache
 *    of spans (pio__holo_span_get), PIO_REMOTE_CACHE_MB (64) in all,
 *    least recently used first out, and a frame's arrays are copied from
 *    there into a buffer of the calling thread (as decoded frames are),
 *    so that nothing a caller holds points into the cache.
 *
 * Bytes never fetched read as zeros, which no record check accepts: a
 * fetch this file forgot fails as a corrupt record, never as wrong data.
 * Opening makes 2 requests (its first and last 256 KiB; 1 for a file of
 * up to 256 KiB) when the newest commit and FULL INDEX head lie in the
 * last 256 KiB and the META record in the first; a third brings together
 * whatever else it needs (the rest of a long META record, the head of a
 * FULL INDEX further back); a fourth only for a newest commit of over
 * 256 KiB whose FULL INDEX head is out of reach too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "format/holo_internal.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))

#define CHUNK       ((uint64_t)64 << 10)
#define HEAD_BYTES  ((uint64_t)256 << 10) /* the open's request */
#define TAIL_BYTES  ((uint64_t)256 << 10) /* the next one */
#define WALK_AHEAD  ((uint64_t)4 << 20)   /* a walk's read-ahead over small records */
#define WALK_KEEP   ((uint64_t)64 << 20)  /* a walk drops what it passed beyond this */
#define SPAN_AHEAD0 ((uint64_t)256 << 10) /* frames in order: read-ahead from... */
#define SPAN_AHEADN ((uint64_t)8 << 20)   /* ... doubling up to */
#define MAX_RUNS    64
#define WALKERS     8 /* walks at once whose position is followed */

enum { C_ABSENT = 0, C_WALK = 1, C_KEEP = 2 };

struct span {
    uint64_t off, len, used;
    unsigned refs;
    uint8_t *buf;
    struct span *next;
};

struct holo_remote {
    pio_remote *rm;
    pthread_mutex_t lock; /* chunks, spans */
    uint8_t *chunk;       /* C_* per chunk */
    uint64_t nchunks;
    uint64_t walk_bytes; /* resident C_WALK bytes */
    unsigned walkers;    /* walks running */
    unsigned untracked;  /* of those, ones past WALKERS (nothing is given back then) */
    struct {
        pthread_t tid;
        uint64_t pos; /* where it reads now */
        bool used;
    } walk[WALKERS];
    struct span *spans;
    uint64_t span_bytes, budget, tick;
    uint64_t seq_end, ahead; /* frames read in order: the next offset, the read-ahead */
};

static uint64_t chunk_end(uint64_t c, uint64_t size)
{
    return PIO_MIN((c + 1) * CHUNK, size);
}

/* Fetch chunks [c0, c1) that are absent (lock held), marking them `state`;
 * upgrade present C_WALK chunks to C_KEEP when keeping. */
static int fetch_chunks(const pio_reader *r, const uint64_t *c0, const uint64_t *c1, unsigned n,
                        int state, struct pio_error *err)
{
    struct holo_remote *h = r->remote;
    uint64_t off[MAX_RUNS], len[MAX_RUNS];
    uint8_t *dst[MAX_RUNS];
    unsigned runs = 0;
    for (unsigned k = 0; k < n; k++) {
        for (uint64_t c = c0[k]; c < c1[k]; c++) {
            if (h->chunk[c] != C_ABSENT) {
                if (state == C_KEEP && h->chunk[c] == C_WALK) {
                    h->chunk[c] = C_KEEP;
                    h->walk_bytes -= chunk_end(c, r->size) - c * CHUNK;
                }
                continue;
            }
            uint64_t a = c * CHUNK, e = chunk_end(c, r->size);
            /* Runs join only where they touch: a request never covers a
             * held chunk, since its body lands in the mapping before the
             * answer is judged, and a rejected answer (a wrong range) must
             * not overwrite what readers hold. */
            if (runs && a == off[runs - 1] + len[runs - 1]) {
                len[runs - 1] = e - off[runs - 1];
                continue;
            }
            if (runs == MAX_RUNS) {
                int rc = pio__remote_read(h->rm, runs, off, len, dst, err);
                if (rc != 0)
                    return rc;
                runs = 0;
            }
            off[runs] = a;
            len[runs] = e - a;
            dst[runs] = (uint8_t *)r->map + a;
            runs++;
        }
    }
    int rc = runs ? pio__remote_read(h->rm, runs, off, len, dst, err) : 0;
    if (rc != 0)
        return rc;
    for (unsigned k = 0; k < n; k++)
        for (uint64_t c = c0[k]; c < c1[k]; c++)
            if (h->chunk[c] == C_ABSENT) {
                h->chunk[c] = (uint8_t)state;
                if (state == C_WALK)
                    h->walk_bytes += chunk_end(c, r->size) - c * CHUNK;
            }
    return 0;
}

int pio__holo_need_many(const pio_reader *r, unsigned n, const uint64_t *off, const uint64_t *len,
                        struct pio_error *err)
{
    struct holo_remote *h = r->remote;
    if (!h || n == 0)
        return 0;
    uint64_t c0[16], c1[16];
    unsigned m = 0;
    for (unsigned k = 0; k < n && m < 16; k++) {
        if (len[k] == 0 || off[k] >= r->size)
            continue;
        uint64_t end = off[k] + PIO_MIN(len[k], r->size - off[k]);
        c0[m] = off[k] / CHUNK;
        c1[m] = (end + CHUNK - 1) / CHUNK;
        m++;
    }
    pthread_mutex_lock(&h->lock);
    int rc = fetch_chunks(r, c0, c1, m, C_KEEP, err);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

int pio__holo_need(const pio_reader *r, uint64_t off, uint64_t len, struct pio_error *err)
{
    return pio__holo_need_many(r, 1, &off, &len, err);
}

int pio__holo_need_record(const pio_reader *r, uint64_t off, struct pio_error *err)
{
    if (!r->remote || off >= r->size)
        return 0;
    int rc = pio__holo_need(r, off, HOLO_REC_HDR, err);
    if (rc != 0)
        return rc;
    uint64_t len = holo_rd64(r->map + off + 8);
    return pio__holo_need(r, off, PIO_MIN(len, r->size - off), err);
}

/* ---- walks ---- */

void pio__holo_walk_begin(const pio_reader *r)
{
    struct holo_remote *h = r->remote;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->walkers++;
    unsigned k = 0;
    while (k < WALKERS && h->walk[k].used)
        k++;
    if (k < WALKERS) {
        h->walk[k].used = true;
        h->walk[k].tid = pthread_self();
        h->walk[k].pos = 0;
    } else {
        h->untracked++;
    }
    pthread_mutex_unlock(&h->lock);
}

/* The calling thread's walk (lock held), or -1. */
static int walk_slot(const struct holo_remote *h)
{
    for (int k = 0; k < WALKERS; k++)
        if (h->walk[k].used && pthread_equal(h->walk[k].tid, pthread_self()))
            return k;
    return -1;
}

/* Where every walk is past: 0 while one is not followed. */
static uint64_t walk_floor(const struct holo_remote *h)
{
    uint64_t lo = UINT64_MAX;
    for (unsigned k = 0; k < WALKERS; k++)
        if (h->walk[k].used)
            lo = PIO_MIN(lo, h->walk[k].pos);
    return h->untracked ? 0 : lo;
}

/* Give back C_WALK chunks wholly before `below` (lock held; callers keep
 * it under every walk's position: each may still be reading there). */
static void walk_drop(const pio_reader *r, uint64_t below)
{
    struct holo_remote *h = r->remote;
    uint64_t run = UINT64_MAX;
    uint64_t last = PIO_MIN(below / CHUNK, h->nchunks);
    for (uint64_t c = 0; c <= last; c++) {
        bool walk = c < last && h->chunk[c] == C_WALK;
        if (walk && run == UINT64_MAX)
            run = c;
        if (!walk && run != UINT64_MAX) {
            uint64_t a = run * CHUNK, e = chunk_end(c - 1, r->size);
            madvise((uint8_t *)r->map + a, (size_t)(PIO_MIN(c * CHUNK, r->map_len) - a),
                    MADV_DONTNEED);
            for (uint64_t k = run; k < c; k++)
                h->chunk[k] = C_ABSENT;
            h->walk_bytes -= e - a;
            run = UINT64_MAX;
        }
    }
}

void pio__holo_walk_end(const pio_reader *r)
{
    struct holo_remote *h = r->remote;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    int k = walk_slot(h);
    if (k >= 0)
        h->walk[k].used = false;
    else if (h->untracked)
        h->untracked--;
    h->walkers--;
    walk_drop(r, h->walkers ? walk_floor(h) : r->size + CHUNK); /* the last one: all */
    pthread_mutex_unlock(&h->lock);
}

int pio__holo_walk_need(const pio_reader *r, uint64_t off, uint64_t len, bool ahead,
                        struct pio_error *err)
{
    struct holo_remote *h = r->remote;
    if (!h || off >= r->size)
        return 0;
    uint64_t end = off + PIO_MIN(len, r->size - off);
    uint64_t c0 = off / CHUNK, c1 = (end + CHUNK - 1) / CHUNK;
    pthread_mutex_lock(&h->lock);
    bool missing = false;
    for (uint64_t c = c0; c < c1 && !missing; c++)
        missing = h->chunk[c] == C_ABSENT;
    int rc = 0;
    int k = walk_slot(h);
    if (k >= 0)
        h->walk[k].pos = off;
    if (missing) {
        uint64_t floor = walk_floor(h);
        if (h->walk_bytes > WALK_KEEP && floor > WALK_KEEP / 2)
            walk_drop(r, floor - WALK_KEEP / 2);
        if (ahead)
            c1 = PIO_MIN(h->nchunks, PIO_MAX(c1, c0 + WALK_AHEAD / CHUNK));
        rc = fetch_chunks(r, &c0, &c1, 1, C_WALK, err);
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/* ---- spans: frame records ---- */

static void span_free(struct span *s)
{
    free(s->buf);
    free(s);
}

/* Drop unreferenced spans, least recently used first, until the cache
 * fits its budget (lock held). */
static void span_evict(struct holo_remote *h)
{
    while (h->span_bytes > h->budget) {
        struct span **victim = NULL;
        for (struct span **p = &h->spans; *p; p = &(*p)->next)
            if ((*p)->refs == 0 && (!victim || (*p)->used < (*victim)->used))
                victim = p;
        if (!victim)
            return;
        struct span *s = *victim;
        *victim = s->next;
        h->span_bytes -= s->len;
        span_free(s);
    }
}

const uint8_t *pio__holo_span_get(const pio_reader *r, uint64_t off, uint64_t len,
                                  struct holo_span **pin, struct pio_error *err)
{
    struct holo_remote *h = r->remote;
    *pin = NULL;
    if (off > r->size || len > r->size - off) {
        pio_error_set(err, PIO_ECORRUPT, "%s: bytes 0x%llx+%llu past the end (%llu bytes)", r->path,
                      OFFX(off), OFFX(len), OFFX(r->size));
        return NULL;
    }
    pthread_mutex_lock(&h->lock);
    /* bytes opening already brought (a small file's all): read in place */
    bool kept = true;
    for (uint64_t c = off / CHUNK; c < (off + len + CHUNK - 1) / CHUNK && kept; c++)
        kept = h->chunk[c] == C_KEEP;
    if (kept) {
        pthread_mutex_unlock(&h->lock);
        return r->map + off;
    }
    for (struct span *s = h->spans; s; s = s->next)
        if (s->off <= off && off + len <= s->off + s->len) {
            s->refs++;
            s->used = ++h->tick;
            pthread_mutex_unlock(&h->lock);
            *pin = (struct holo_span *)s;
            return s->buf + (off - s->off);
        }
    /* frames in order: read ahead, more each time (up to SPAN_AHEADN) */
    if (off == h->seq_end)
        h->ahead = PIO_MIN(SPAN_AHEADN, h->ahead ? h->ahead * 2 : SPAN_AHEAD0);
    else
        h->ahead = 0;
    uint64_t want = PIO_MAX(len, PIO_MIN(h->ahead, r->size - off));
    h->seq_end = off + want;
    pthread_mutex_unlock(&h->lock);

    struct span *s = calloc(1, sizeof(*s));
    if (!s || !(s->buf = malloc((size_t)PIO_MAX(want, 1)))) {
        free(s);
        pio_error_set(err, -ENOMEM, "%s: out of memory for %llu bytes", r->path, OFFX(want));
        return NULL;
    }
    s->off = off;
    s->len = want;
    uint8_t *d = s->buf;
    int rc = pio__remote_read(h->rm, 1, &off, &want, &d, err);
    if (rc != 0) {
        span_free(s);
        return NULL;
    }
    pthread_mutex_lock(&h->lock);
    s->refs = 1;
    s->used = ++h->tick;
    s->next = h->spans;
    h->spans = s;
    h->span_bytes += want;
    span_evict(h);
    pthread_mutex_unlock(&h->lock);
    *pin = (struct holo_span *)s;
    return s->buf;
}

void pio__holo_span_put(const pio_reader *r, struct holo_span *pin)
{
    if (!pin)
        return;
    struct holo_remote *h = r->remote;
    pthread_mutex_lock(&h->lock);
    ((struct span *)pin)->refs--;
    span_evict(h);
    pthread_mutex_unlock(&h->lock);
}

/* ---- open, close ---- */

static uint64_t cache_budget(void)
{
    const char *v = getenv("PIO_REMOTE_CACHE_MB");
    char *end;
    long long mb = v && *v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || mb < 1 || mb > (1LL << 20))
        mb = 64;
    return (uint64_t)mb << 20;
}

int pio__holo_remote_open(pio_reader *r, struct pio_error *err)
{
    struct holo_remote *h = calloc(1, sizeof(*h));
    if (!h)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
    pthread_mutex_init(&h->lock, NULL);
    h->budget = cache_budget();
    r->remote = h;
    int rc = pio__remote_open(&h->rm, r->path, HEAD_BYTES, err);
    if (rc != 0)
        return rc;
    r->size = pio__remote_size(h->rm);
    if (r->size < 8)
        return pio_error_set(err, r->size ? PIO_ETRUNCATED : PIO_EFORMAT,
                             "%s: %llu bytes is too short for a HOLO file", r->path, OFFX(r->size));
    h->nchunks = (r->size + CHUNK - 1) / CHUNK;
    if (!(h->chunk = calloc((size_t)h->nchunks, 1)))
        return pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
    /* address space only: pages appear as chunks are fetched */
    size_t maplen = (size_t)((r->size + 4095) / 4096 * 4096);
    uint8_t *m = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return pio_error_set(err, -errno, "%s: %llu bytes of address space: %s", r->path,
                             OFFX(r->size), pio_strerror(-errno));
    r->map = m;
    r->map_len = maplen;
    /* the head the open read: its whole chunks are in (a short file's all) */
    uint64_t hlen;
    const uint8_t *head = pio__remote_head(h->rm, &hlen);
    memcpy(m, head, (size_t)hlen);
    for (uint64_t c = 0; c < h->nchunks && chunk_end(c, r->size) <= hlen; c++)
        h->chunk[c] = C_KEEP;
    /* the tail: the footer and, usually, the newest commit and FULL INDEX head */
    uint64_t toff = r->size > TAIL_BYTES ? r->size - TAIL_BYTES : 0;
    if ((rc = pio__holo_need(r, toff, r->size - toff, err)) != 0)
        return rc;
    /* then, in one go, what the footer points to (2.0: the newest COMMIT;
     * 1.x: the INDEX record), the rest of a META record longer than the
     * head, and the head of the FULL INDEX the commit names (the parsers
     * check all of it; a FULL INDEX header out of reach costs one more) */
    uint64_t off[5], len[5];
    unsigned n = 0;
    if (r->size >= HOLO_FOOTER2_SIZE) {
        const uint8_t *f = r->map + r->size - HOLO_FOOTER2_SIZE;
        uint64_t o = holo_rd64(f + 8), l = holo_rd64(f + 16);
        if (memcmp(f, HOLO_FOOTER_MAGIC, 8) == 0 && o < r->size && l == r->size - o) {
            off[n] = o;
            len[n++] = l;
        }
    }
    if (r->size >= HOLO_FOOTER_SIZE) {
        const uint8_t *f = r->map + r->size - HOLO_FOOTER_SIZE;
        uint64_t o = holo_rd64(f + 8), l = holo_rd64(f + 16);
        if (memcmp(f, HOLO_FOOTER_MAGIC, 8) == 0 && o < r->size && l <= r->size - o) {
            off[n] = o;
            len[n++] = l;
        }
    }
    if (r->size >= HOLO_HEADER_SIZE + HOLO_REC_HDR &&
        memcmp(r->map + HOLO_HEADER_SIZE, HOLO_REC_MAGIC, 4) == 0) {
        off[n] = HOLO_HEADER_SIZE;
        len[n++] = holo_rd64(r->map + HOLO_HEADER_SIZE + 8);
    }
    /* a commit the tail holds already names its FULL INDEX: its header (with
     * the table, in the same chunk unless huge) comes in the same request */
    struct holo_commit c;
    struct holo_header hdr;
    bool header = r->size >= HOLO_HEADER_SIZE &&
                  pio__holo_check_header(r->path, r->map, r->size, &hdr, NULL) == 0;
    if (header && pio__holo_tail_commit(r->map, r->size, hdr.salt, &c) && c.full_off &&
        c.full_off < r->size - HOLO_FULL_HDR) {
        off[n] = c.full_off;
        len[n++] = HOLO_FULL_HDR;
    }
    if ((rc = pio__holo_need_many(r, n, off, len, err)) != 0)
        return rc;
    if (header && pio__holo_tail_commit(r->map, r->size, hdr.salt, &c) && c.full_off &&
        c.full_off < r->size - HOLO_FULL_HDR) {
        if ((rc = pio__holo_need(r, c.full_off, HOLO_FULL_HDR, err)) != 0)
            return rc;
        uint64_t hl = HOLO_FULL_HDR +
                      holo_pad64((uint64_t)holo_rd32(r->map + c.full_off + 80) * HOLO_PAGE_DESC);
        return pio__holo_need(r, c.full_off, hl, err);
    }
    return 0;
}

void pio__holo_remote_close(pio_reader *r)
{
    struct holo_remote *h = r->remote;
    if (!h)
        return;
    while (h->spans) {
        struct span *s = h->spans;
        h->spans = s->next;
        span_free(s);
    }
    free(h->chunk);
    pio__remote_close(h->rm);
    pthread_mutex_destroy(&h->lock);
    free(h);
    r->remote = NULL;
}

PIO_API int pio_reader_remote_stats(const pio_reader *r, struct pio_remote_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!r->remote)
        return PIO_EUSAGE;
    out->size = r->size;
    pio__remote_stats(r->remote->rm, &out->requests, &out->bytes, &out->retries);
    return 0;
}

pio_remote *pio__holo_remote_object(const pio_reader *r)
{
    return r->remote ? r->remote->rm : NULL;
}
