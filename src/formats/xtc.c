/*
 * convert: XTC reader and writer.
 *
 * Reading: opening scans the frame headers only (the byte count sits at
 * byte 88 of a frame), so the frame count is known and any frame can be
 * read without decoding the ones before it; frames are read with pread
 * into one buffer and decoded there. A truncated last frame is skipped
 * with a warning; any other damage, a time or box that is not a finite
 * number included, is an error naming frame and offset.
 * Writing: magic 1995 (2023 beyond 298,261,617 atoms), precision as asked.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats_internal.h"
#include "formats/pio_formats.h"
#include "formats/xtc_codec.h"

#include "common/pio_common.h"
#include "telemetry/pio_telemetry.h"

#define HDR_BYTES 56 /* magic .. second natoms */

/* A frame being read and decoded: by the source's caller, or, with
 * threads, by any of the decoder threads (states under the mutex). */
enum { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };
struct slot {
    uint64_t i;
    uint8_t *buf;
    size_t cap;
    float *x;
    struct pio_frame f;
    int rc, state;
    struct pio_error err;
};

struct xtc_src {
    char *path;
    int fd;
    uint64_t size, nframes, cap;
    uint64_t *off;
    uint32_t natoms;
    char warning[256];
    /* the precision every frame shares (0: none, or they differ), given to
     * sinks as metadata "xtc.precision" (an XTC written from this file, or
     * from a HOLO copy of it, keeps it: the same bytes) */
    float precision;
    bool mixed;
    char prec_text[32];
    const char *meta_key, *meta_value;
    const uint64_t *sel;
    uint64_t nsel, k, submitted;
    uint32_t threads, nslots, ntids;
    struct slot *slots;
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    bool stop, sync_init;
};

/* The scan's view of the file: one read brings many small frames'
 * headers (a pread per header cost ~4 us here: 40 ms of a 10,050-frame
 * file's 120 ms decode); for large frames only the header's page. */
#define SCAN_WINDOW ((size_t)64 << 10)
struct scan_win {
    uint8_t *buf;
    uint64_t off, len; /* buf holds the file's bytes [off, off + len) */
    uint64_t last;     /* the previous frame's length */
};

/* The `want` bytes at `off` (fewer at the end of the file), or NULL with
 * *rc set. */
static const uint8_t *scan_bytes(struct xtc_src *s, struct scan_win *w, uint64_t off, size_t want,
                                 uint64_t *avail, int *rc)
{
    *avail = PIO_MIN(s->size - off, want);
    if (off < w->off || off + *avail > w->off + w->len) {
        uint64_t n = PIO_MIN(s->size - off, w->last >= SCAN_WINDOW / 4 ? 4096 : SCAN_WINDOW);
        if ((*rc = pio__conv_pread(s->fd, w->buf, (size_t)n, off)) != 0)
            return NULL;
        w->off = off;
        w->len = n;
    }
    return w->buf + (off - w->off);
}

/* Length of the frame at `off` from its header, or an error. */
static int frame_length(struct xtc_src *s, struct scan_win *w, uint64_t i, uint64_t off,
                        uint64_t *len, struct pio_error *err)
{
    uint64_t avail;
    int rc = 0;
    const uint8_t *h = scan_bytes(s, w, off, 96, &avail, &rc);
    if (!h)
        return pio_error_set(err, rc, "%s: frame %llu at offset 0x%llx: read failed: %s", s->path,
                             (unsigned long long)i, (unsigned long long)off, pio_strerror(rc));
    struct xdr_in x = {h, avail, 0, false};
    int32_t magic = xdr_i32(&x);
    uint32_t natoms = xdr_u32(&x);
    x.pos = 52;
    uint32_t natoms2 = xdr_u32(&x);
    if (x.bad)
        return PIO_ETRUNCATED;
    if (magic != XTC_MAGIC && magic != XTC_MAGIC_LARGE)
        return pio_error_set(err, i ? PIO_ECORRUPT : PIO_EFORMAT,
                             "%s: frame %llu at offset 0x%llx: magic %d is not XTC's (1995, 2023)",
                             s->path, (unsigned long long)i, (unsigned long long)off, magic);
    if (natoms != natoms2 || natoms == 0 || natoms > (uint32_t)INT32_MAX)
        return pio_error_set(
            err, PIO_ECORRUPT, "%s: frame %llu at offset 0x%llx: atom counts %u and %u disagree",
            s->path, (unsigned long long)i, (unsigned long long)off, natoms, natoms2);
    if (i == 0)
        s->natoms = natoms;
    else if (natoms != s->natoms)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: %u atoms, frame 0 had %u", s->path,
                             (unsigned long long)i, (unsigned long long)off, natoms, s->natoms);
    if (natoms <= 9) {
        *len = HDR_BYTES + (uint64_t)natoms * 12;
        return 0;
    }
    bool large = magic == XTC_MAGIC_LARGE;
    x.pos = 56;
    float prec = xdr_f32(&x);
    x.pos = 88;
    uint64_t nbytes = large ? xdr_u64(&x) : xdr_u32(&x);
    if (x.bad)
        return PIO_ETRUNCATED;
    if (i == 0)
        s->precision = prec;
    else if (prec != s->precision)
        s->mixed = true;
    *len = (large ? 96 : 92) + ((nbytes + 3) & ~(uint64_t)3);
    if (nbytes > s->size)
        *len = UINT64_MAX; /* past the end: truncated or garbage */
    return 0;
}

/* Whether a frame header (magic, then this atom count) starts at a 4-byte
 * step after `off`: a frame that claims to run past the end of the file is
 * then corrupt (a lying byte count), not the torn last frame of a killed
 * writer. */
static bool later_frame(struct xtc_src *s, uint64_t off)
{
    uint8_t pat[8] = {0,
                      0,
                      XTC_MAGIC >> 8,
                      XTC_MAGIC & 0xff,
                      (uint8_t)(s->natoms >> 24),
                      (uint8_t)(s->natoms >> 16),
                      (uint8_t)(s->natoms >> 8),
                      (uint8_t)s->natoms};
    uint8_t buf[4096]; /* on the stack: sources may be opened on several threads */
    for (uint64_t pos = off + 4; pos + 8 <= s->size; pos += sizeof(buf) - 8) {
        size_t n = (size_t)PIO_MIN(sizeof(buf), s->size - pos);
        if (pio__conv_pread(s->fd, buf, n, pos) != 0)
            return false;
        for (size_t k = 0; k + 8 <= n; k += 4)
            if (memcmp(buf + k, pat, 8) == 0)
                return true;
    }
    return false;
}

static int xtc_scan_win(struct xtc_src *s, struct scan_win *w, struct pio_error *err);

static int xtc_scan(struct xtc_src *s, struct pio_error *err)
{
    struct scan_win w = {malloc(SCAN_WINDOW), 0, 0, 0};
    if (!w.buf)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
    int rc = xtc_scan_win(s, &w, err);
    free(w.buf);
    return rc;
}

static int xtc_scan_win(struct xtc_src *s, struct scan_win *w, struct pio_error *err)
{
    uint64_t off = 0, longest = 0;
    while (off < s->size) {
        uint64_t len = 0;
        int rc = frame_length(s, w, s->nframes, off, &len, err);
        /* Frames of one atom count compress to within a small factor of
         * each other: a byte count far above every earlier frame's (or past
         * the whole file) is a lying count, even where no later header
         * survives to show it, not the torn tail of a killed writer. */
        if (rc == 0 && s->nframes > 0 && len > s->size - off && len / 8 > longest)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: byte count at offset 0x%llx "
                                 "claims %s bytes, more than 8 times the longest earlier frame "
                                 "(%llu)",
                                 s->path, (unsigned long long)s->nframes, (unsigned long long)off,
                                 (unsigned long long)(off + 88),
                                 len == UINT64_MAX ? "more than the file's" : "far more",
                                 (unsigned long long)longest);
        if (rc == PIO_ETRUNCATED || (rc == 0 && len > s->size - off)) {
            if (s->nframes == 0 && rc != 0)
                return pio_error_set(err, PIO_ETRUNCATED, "%s: shorter than one XTC header",
                                     s->path);
            if (rc == 0 && later_frame(s, off))
                return pio_error_set(err, PIO_ECORRUPT,
                                     "%s: frame %llu at offset 0x%llx: its byte count runs past "
                                     "the end of the file, yet frames follow",
                                     s->path, (unsigned long long)s->nframes,
                                     (unsigned long long)off);
            snprintf(s->warning, sizeof(s->warning),
                     "%s: frame %llu at offset 0x%llx is truncated (%llu bytes left); skipped",
                     s->path, (unsigned long long)s->nframes, (unsigned long long)off,
                     (unsigned long long)(s->size - off));
            break;
        }
        if (rc != 0)
            return rc;
        if (pio__offsets_push(&s->off, &s->nframes, &s->cap, off) != 0)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
        off += len;
        w->last = len;
        longest = PIO_MAX(longest, len);
    }
    if (s->nframes == 0)
        return pio_error_set(err, PIO_ETRUNCATED, "%s: no complete XTC frame", s->path);
    return 0;
}

static int xs_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    (void)err;
    struct xtc_src *s = ctx;
    *out = (struct pio_source_info){.nframes = s->nframes,
                                    .max_natoms = s->natoms,
                                    .fields = PIO_FIELD_POSITIONS | PIO_FIELD_BOX,
                                    .length_unit = PIO_UNIT_NM,
                                    .warning = s->warning[0] ? s->warning : NULL,
                                    .threads = s->threads};
    if (!s->mixed && s->precision > 0 && isfinite(s->precision)) {
        snprintf(s->prec_text, sizeof(s->prec_text), "%.9g", (double)s->precision);
        s->meta_key = PIO_META_XTC_PRECISION;
        s->meta_value = s->prec_text;
        out->nmeta = 1;
        out->meta_keys = &s->meta_key;
        out->meta_values = &s->meta_value;
    }
    return 0;
}

/* Read and decode frame sl->i into the slot, its positions into dst
 * (NULL: the slot's array; any thread: the file descriptor and the scan
 * are read-only by now). */
static void decode_slot(struct xtc_src *s, struct slot *sl, float *dst)
{
    float *xs = dst ? dst : sl->x;
    uint64_t i = sl->i, off = s->off[i];
    uint64_t end = i + 1 < s->nframes ? s->off[i + 1] : s->size;
    uint64_t len = end - off;
    struct pio_frame *out = &sl->f;
    memset(out, 0, sizeof(*out));
    sl->rc = 0;
    if (len > sl->cap) {
        uint8_t *b = realloc(sl->buf, (size_t)len);
        if (!b) {
            sl->rc = pio_error_set(&sl->err, -ENOMEM, "%s: frame %llu: out of memory", s->path,
                                   (unsigned long long)i);
            return;
        }
        sl->buf = b;
        sl->cap = (size_t)len;
    }
    int rc = pio__conv_pread(s->fd, sl->buf, (size_t)len, off);
    if (rc != 0) {
        sl->rc =
            pio_error_set(&sl->err, rc, "%s: frame %llu at offset 0x%llx: read failed: %s", s->path,
                          (unsigned long long)i, (unsigned long long)off, pio_strerror(rc));
        return;
    }
    struct xdr_in x = {sl->buf, len, 0, false};
    int32_t magic = xdr_i32(&x);
    xdr_u32(&x);
    int32_t step = xdr_i32(&x);
    float time = xdr_f32(&x);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            out->box[a][b] = xdr_f32(&x);
    xdr_u32(&x);
    uint64_t nan_at = isfinite(time) ? 0 : off + 12; /* time, then the box at 16 */
    for (int k = 0; k < 9 && !nan_at; k++)
        if (!isfinite(out->box[k / 3][k % 3]))
            nan_at = off + 16 + 4 * (uint64_t)k;
    if (!x.bad && nan_at) {
        sl->rc = pio_error_set(&sl->err, PIO_ECORRUPT,
                               "%s: frame %llu at offset 0x%llx: %s at offset 0x%llx is not a "
                               "finite number",
                               s->path, (unsigned long long)i, (unsigned long long)off,
                               nan_at == off + 12 ? "time" : "box", (unsigned long long)nan_at);
        return;
    }
    float precision;
    const char *why = "truncated";
    uint64_t t0 = pio_tm_start();
    rc = x.bad ? PIO_ETRUNCATED
               : pio__xtc_decode_coords(&x, s->natoms, magic == XTC_MAGIC_LARGE, xs, &precision,
                                        &why);
    pio_tm_end(PIO_OP_DECODE, 0, (uint64_t)s->fd, i, len, t0, rc);
    if (rc != 0) {
        sl->rc = pio_error_set(&sl->err, rc, "%s: frame %llu at offset 0x%llx: %s", s->path,
                               (unsigned long long)i, (unsigned long long)off, why);
        return;
    }
    /* Packed values are (float)int32 * (1 / precision): all finite when
     * 2^31 / precision is; raw floats (natoms <= 9) are checked one by one. */
    bool finite = precision > 0 && isfinite(2147483648.0f * (1.0f / precision));
    for (uint64_t k = 0; !finite && k < (uint64_t)s->natoms * 3; k++)
        if (!isfinite(xs[k])) {
            sl->rc = pio_error_set(&sl->err, PIO_ECORRUPT,
                                   "%s: frame %llu at offset 0x%llx: atom %llu is not a number",
                                   s->path, (unsigned long long)i, (unsigned long long)off,
                                   (unsigned long long)(k / 3));
            return;
        }
    out->natoms = s->natoms;
    out->positions = (const float(*)[3])xs;
    out->fields = PIO_FIELD_POSITIONS | PIO_FIELD_BOX;
    out->step = step;
    out->time = time;
    out->index = i;
    out->offset = off;
}

/* Hand free slots the next frames (mutex held). */
static void submit(struct xtc_src *s)
{
    while (s->submitted < s->nsel) {
        struct slot *sl = &s->slots[s->submitted % s->nslots];
        if (sl->state != SLOT_FREE)
            break;
        sl->i = s->sel ? s->sel[s->submitted] : s->submitted;
        sl->state = SLOT_READY;
        s->submitted++;
    }
    pthread_cond_broadcast(&s->work);
}

static void *decoder_main(void *arg)
{
    struct xtc_src *s = arg;
    pthread_setname_np(pthread_self(), "pio-xtc");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct slot *sl = NULL;
        /* the oldest ready frame first: the consumer waits for it */
        for (uint64_t q = s->k; q < s->submitted && !sl; q++)
            if (s->slots[q % s->nslots].state == SLOT_READY)
                sl = &s->slots[q % s->nslots];
        if (!sl) {
            if (s->stop)
                break;
            pthread_cond_wait(&s->work, &s->mu);
            continue;
        }
        sl->state = SLOT_BUSY;
        pthread_mutex_unlock(&s->mu);
        decode_slot(s, sl, NULL);
        pthread_mutex_lock(&s->mu);
        sl->state = SLOT_DONE;
        pthread_cond_broadcast(&s->done);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int xs_start(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err)
{
    struct xtc_src *s = ctx;
    if (s->slots)
        return pio_error_set(err, PIO_EUSAGE, "%s: source started twice", s->path);
    s->sel = frames;
    s->nsel = frames ? n : s->nframes;
    s->k = s->submitted = 0;
    s->nslots = s->threads > 1 ? 2 * s->threads : 1;
    s->slots = calloc(s->nslots, sizeof(*s->slots));
    if (!s->slots)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
    for (uint32_t q = 0; q < s->nslots; q++)
        if (!(s->slots[q].x = malloc((size_t)s->natoms * 12)))
            return pio_error_set(err, -ENOMEM, "%s: out of memory for %u atoms", s->path,
                                 s->natoms);
    if (s->nslots == 1)
        return 0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    s->sync_init = true;
    s->tids = calloc(s->threads, sizeof(*s->tids));
    if (!s->tids)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
    /* the caller decodes too: threads - 1 helpers (if none start, the
     * caller decodes everything) */
    for (; s->ntids + 1 < s->threads; s->ntids++)
        if (pthread_create(&s->tids[s->ntids], NULL, decoder_main, s) != 0)
            break;
    pthread_mutex_lock(&s->mu);
    submit(s);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* One decoder: frame by frame on the caller's thread, into dst when the
 * pipeline gives one; with more, decoded ahead into the slots. */
static int xs_next_into(void *ctx, struct pio_frame *out, float *dst, uint64_t cap,
                        struct pio_error *err)
{
    struct xtc_src *s = ctx;
    if (s->k == s->nsel)
        return 0;
    struct slot *sl = &s->slots[s->k % s->nslots];
    if (s->nslots == 1) {
        sl->i = s->sel ? s->sel[s->k] : s->k;
        decode_slot(s, sl, dst && cap >= s->natoms ? dst : NULL);
        s->k++;
    } else {
        pthread_mutex_lock(&s->mu);
        while (sl->state != SLOT_DONE) {
            /* never sleep while a frame is waiting: ours first, else a later one */
            struct slot *w = sl->state == SLOT_READY ? sl : NULL;
            for (uint64_t q = s->k + 1; !w && q < s->submitted; q++)
                if (s->slots[q % s->nslots].state == SLOT_READY)
                    w = &s->slots[q % s->nslots];
            if (!w) {
                pthread_cond_wait(&s->done, &s->mu);
                continue;
            }
            w->state = SLOT_BUSY;
            pthread_mutex_unlock(&s->mu);
            decode_slot(s, w, NULL);
            pthread_mutex_lock(&s->mu);
            w->state = SLOT_DONE;
            pthread_cond_broadcast(&s->done);
        }
        s->k++; /* under the mutex: decoders read it to pick the oldest frame */
        pthread_mutex_unlock(&s->mu);
    }
    if (sl->rc != 0) {
        if (err)
            *err = sl->err;
        return sl->rc;
    }
    *out = sl->f;
    return 1;
}

static int xs_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    return xs_next_into(ctx, out, NULL, 0, err);
}

/* Frames come back in order, one at a time: the slot of the last one. */
static void xs_release(void *ctx, const struct pio_frame *f)
{
    struct xtc_src *s = ctx;
    (void)f;
    if (s->nslots <= 1)
        return;
    struct slot *sl = &s->slots[(s->k - 1) % s->nslots];
    pthread_mutex_lock(&s->mu);
    sl->state = SLOT_FREE;
    submit(s);
    pthread_mutex_unlock(&s->mu);
}

static void xs_destroy(void *ctx)
{
    struct xtc_src *s = ctx;
    if (!s)
        return;
    if (s->sync_init) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->work);
        pthread_mutex_unlock(&s->mu);
        for (uint32_t q = 0; q < s->ntids; q++)
            pthread_join(s->tids[q], NULL);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->work);
        pthread_cond_destroy(&s->done);
    }
    for (uint32_t q = 0; s->slots && q < s->nslots; q++) {
        free(s->slots[q].buf);
        free(s->slots[q].x);
    }
    free(s->slots);
    free(s->tids);
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s->off);
    free(s);
}

/* The source's state with its file open and sized, nothing scanned. */
static int src_new(struct xtc_src **out, const char *path, struct pio_error *err)
{
    struct xtc_src *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    *out = s;
    s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    struct stat st;
    if (s->fd < 0 || fstat(s->fd, &st) != 0)
        return pio_error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return pio_error_set(err, -EISDIR, "%s: not a regular file", path);
    fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) & ~O_NONBLOCK);
    s->size = (uint64_t)st.st_size;
    return 0;
}

static int src_finish(struct pio_source *out, struct xtc_src *s, uint32_t threads, int rc);

static int xtc_source_open(struct pio_source *out, const char *path, uint32_t threads,
                           struct pio_error *err)
{
    struct xtc_src *s = NULL;
    int rc = src_new(&s, path, err);
    if (rc == 0)
        rc = xtc_scan(s, err);
    return src_finish(out, s, threads, rc);
}

/* Frames found beforehand: frame 0's header read (its atom count and
 * precision), no scan. */
int pio__xtc_source_scanned(struct pio_source *out, const char *path, const uint64_t *off,
                            uint64_t n, bool mixed, uint32_t threads, struct pio_error *err)
{
    struct xtc_src *s = NULL;
    int rc = src_new(&s, path, err);
    struct scan_win w = {NULL, 0, 0, 0};
    uint64_t len;
    if (rc == 0 && (n == 0 || off[0] != 0))
        rc = pio_error_set(err, PIO_EUSAGE, "%s: no frame offsets from 0", path);
    if (rc == 0 && !(w.buf = malloc(SCAN_WINDOW)))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    if (rc == 0)
        rc = frame_length(s, &w, 0, 0, &len, err);
    free(w.buf);
    if (rc == 0 && !(s->off = malloc((size_t)n * sizeof(*off))))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    if (rc == 0) {
        memcpy(s->off, off, (size_t)n * sizeof(*off));
        s->nframes = s->cap = n;
        s->mixed = s->mixed || mixed;
    }
    return src_finish(out, s, threads, rc);
}

_Static_assert((XTC_MAGIC >> 8) == (XTC_MAGIC_LARGE >> 8), "header_at: one high byte");

/* An 8-byte frame start at buf: XTC's magic (either) and this atom count. */
static bool header_at(const uint8_t *h, uint32_t natoms)
{
    uint8_t n[4] = {(uint8_t)(natoms >> 24), (uint8_t)(natoms >> 16), (uint8_t)(natoms >> 8),
                    (uint8_t)natoms};
    return h[0] == 0 && h[1] == 0 && h[2] == (XTC_MAGIC >> 8) &&
           (h[3] == (XTC_MAGIC & 0xff) || h[3] == (XTC_MAGIC_LARGE & 0xff)) &&
           memcmp(h + 4, n, 4) == 0;
}

int pio__xtc_scan_range(const char *path, uint64_t lo, uint64_t hi, struct pio__xtc_range *r)
{
    memset(r, 0, sizeof(*r));
    struct pio_error e = {0};
    struct xtc_src *s = NULL;
    struct scan_win w = {malloc(SCAN_WINDOW), 0, 0, 0};
    uint64_t len = 0, avail, cap = 0;
    int rc = w.buf ? src_new(&s, path, &e) : -ENOMEM;
    if (rc == 0)
        rc = frame_length(s, &w, 0, 0, &len, &e); /* frame 0: the atom count, the precision */
    uint64_t pos = lo == 0 ? 0 : (lo + 3) & ~(uint64_t)3, size = s ? s->size : 0;
    /* the first frame start at or after lo: frames start at multiples of 4 */
    for (; rc == 0 && lo > 0 && pos + 8 <= size; pos += 4) {
        const uint8_t *h = scan_bytes(s, &w, pos, 8, &avail, &rc);
        if (!h || avail < 8 || !header_at(h, s->natoms))
            continue;
        bool mixed = s->mixed;
        if (frame_length(s, &w, 1, pos, &len, &e) != 0 || len == UINT64_MAX || len > size - pos) {
            s->mixed = mixed; /* not a frame: what it said does not count */
            continue;
        }
        const uint8_t *next =
            pos + len + 8 <= size ? scan_bytes(s, &w, pos + len, 8, &avail, &rc) : NULL;
        if (pos + len == size || (next && avail >= 8 && header_at(next, s->natoms)))
            break;
        s->mixed = mixed;
    }
    if (rc == 0 && lo > 0 && pos + 8 > size)
        pos = size;
    r->size = size;
    r->start = pos;
    /* every frame from there that starts before hi, each checked as the
     * serial scan checks it; one that runs past the end (a torn or lying
     * last frame) is left to the serial scan */
    while (rc == 0 && pos < hi && pos < size) {
        if ((rc = frame_length(s, &w, 1, pos, &len, &e)) == 0 &&
            (len == UINT64_MAX || len > size - pos))
            rc = PIO_ETRUNCATED;
        if (rc == 0)
            rc = pio__offsets_push(&r->off, &r->n, &cap, pos);
        pos += len;
        w.last = len;
    }
    r->end = pos;
    r->mixed = s && s->mixed;
    free(w.buf);
    if (s)
        xs_destroy(s);
    return rc;
}

static int src_finish(struct pio_source *out, struct xtc_src *s, uint32_t threads, int rc)
{
    if (!s)
        return rc;
    s->threads = threads ? threads : (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    s->threads = PIO_MAX(1u, PIO_MIN(s->threads, 64u));
    if (rc != 0) {
        xs_destroy(s);
        return rc;
    }
    *out = (struct pio_source){sizeof(struct pio_source),
                               "source xtc",
                               s,
                               xs_info,
                               xs_start,
                               xs_next,
                               xs_release,
                               xs_destroy,
                               xs_next_into};
    return 0;
}

/* ---- writer --------------------------------------------------------------------- */

struct xtc_sink {
    struct sink_base base;
    float precision;
    uint64_t natoms, frames;
    struct xdr_out o;
    int32_t *ints;
};

static int xk_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct xtc_sink *s = ctx;
    for (uint32_t f = 0; f < b->nframes; f++) {
        struct pio_frame fr;
        pio_batch_frame(b, f, &fr);
        if (s->frames == 0) {
            if (fr.natoms == 0 || fr.natoms > INT32_MAX)
                return pio_error_set(err, PIO_ELIMIT, "%s: XTC cannot hold %llu atoms",
                                     s->base.path, (unsigned long long)fr.natoms);
            s->natoms = fr.natoms;
            if (!(s->ints = malloc((size_t)fr.natoms * 12)))
                return pio_error_set(err, -ENOMEM, "%s: out of memory", s->base.path);
        } else if (fr.natoms != s->natoms) {
            return pio_error_set(err, PIO_EUSAGE,
                                 "%s: frame %llu has %llu atoms, the first %llu (XTC needs one "
                                 "count)",
                                 s->base.path, (unsigned long long)fr.index,
                                 (unsigned long long)fr.natoms, (unsigned long long)s->natoms);
        }
        if (fr.step < INT32_MIN || fr.step > INT32_MAX)
            return pio_error_set(err, PIO_ELIMIT,
                                 "%s: frame %llu: step %lld does not fit XTC's int", s->base.path,
                                 (unsigned long long)fr.index, (long long)fr.step);
        bool large = fr.natoms > XTC_LARGE_NATOMS;
        s->o.len = 0;
        xdr_put_i32(&s->o, large ? XTC_MAGIC_LARGE : XTC_MAGIC);
        xdr_put_u32(&s->o, (uint32_t)fr.natoms);
        xdr_put_i32(&s->o, (int32_t)fr.step);
        xdr_put_f32(&s->o, (float)fr.time);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                xdr_put_f32(&s->o, (fr.fields & PIO_FIELD_BOX) ? (float)fr.box[i][j] : 0.0f);
        xdr_put_u32(&s->o, (uint32_t)fr.natoms);
        const char *why = "";
        uint64_t t0 = pio_tm_start();
        int rc = pio__xtc_encode_coords(&s->o, (const float *)fr.positions, (uint32_t)fr.natoms,
                                        s->precision, large, s->ints, &why);
        pio_tm_end(PIO_OP_ENCODE, 0, 0, fr.index, s->o.len, t0, rc);
        if (rc == -ENOMEM || s->o.oom)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->base.path);
        if (rc != 0)
            return pio_error_set(err, rc, "%s: frame %llu: %s", s->base.path,
                                 (unsigned long long)fr.index, why);
        if (fwrite(s->o.p, 1, (size_t)s->o.len, s->base.of.f) != s->o.len)
            return pio_error_set(err, -errno, "%s: write failed: %s", s->base.of.tmp,
                                 strerror(errno));
        s->frames++;
    }
    return 0;
}

static void xk_destroy(void *ctx)
{
    struct xtc_sink *s = ctx;
    if (!s)
        return;
    pio__sink_base_release(&s->base);
    free(s->o.p);
    free(s->ints);
    free(s);
}

/* begin: a precision not asked (0) is the source's "xtc.precision" (an XTC
 * input's own, or the one a HOLO file kept from its XTC), else 1000. */
static int xk_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    struct xtc_sink *s = ctx;
    for (uint64_t i = 0; s->precision == 0 && i < info->nmeta; i++) {
        if (strcmp(info->meta_keys[i], PIO_META_XTC_PRECISION) != 0)
            continue;
        char *end;
        double p = strtod(info->meta_values[i], &end);
        if (end != info->meta_values[i] && *end == '\0' && p > 0 && p < 1e30)
            s->precision = (float)p;
    }
    if (s->precision == 0)
        s->precision = 1000.0f;
    return pio__sink_base_begin(ctx, info, err);
}

static int xtc_sink_open(struct pio_sink *out, const char *path, bool overwrite, float precision,
                         struct pio_error *err)
{
    if (precision != 0 && (!(precision > 0) || !isfinite(precision)))
        return pio_error_set(err, PIO_EUSAGE, "%s: XTC precision must be positive", path);
    int rc = pio__sink_new(out, sizeof(struct xtc_sink), "sink xtc", path, overwrite, xk_write,
                           xk_destroy, err);
    if (rc == 0) {
        ((struct xtc_sink *)out->ctx)->precision = precision; /* 0: at begin */
        out->begin = xk_begin;
    }
    return rc;
}

/* ---- registry entry ---- */

static bool xtc_probe(const uint8_t *h, size_t n)
{
    return n >= 4 && (be32_at(h) == 1995 || be32_at(h) == 2023);
}
static int xtc_open_source(struct pio_source *out, const char *path,
                           const struct pio_source_options *o, struct pio_error *err)
{
    return xtc_source_open(out, path, o->threads, err);
}
static int xtc_open_sink(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                         struct pio_error *err)
{
    return xtc_sink_open(out, path, (o->flags & PIO_SINK_OVERWRITE) != 0, o->xtc_precision, err);
}
const struct pio__format pio__format_xtc = {
    .id = PIO_FORMAT_XTC,
    .name = "xtc",
    .extensions = ".xtc",
    .caps = PIO_FORMAT_CAN_READ | PIO_FORMAT_CAN_WRITE | PIO_FORMAT_HAS_BOX,
    .probe = xtc_probe,
    .open_source = xtc_open_source,
    .open_sink = xtc_open_sink,
};
