/*
 * HOLO writer: append-only, crash-safe.
 *
 * Each append writes one FRAME record at the end of the file with one
 * pwritev (header, the caller's arrays, zero padding: no copy of the
 * arrays) and keeps its index entry in memory. A commit makes those bytes
 * durable (fdatasync), then appends an INDEX record and a footer and syncs
 * again: a crash at any moment leaves either the previous commit's footer
 * intact or a recoverable tail, never a rewritten committed byte.
 *
 * Errors: a failed frame write truncates the file back to where the frame
 * began (nothing committed is touched) and the writer stays usable; a
 * failed fdatasync fails the writer for good, because Linux may already
 * have dropped the unwritten pages and a retry could "succeed" without them.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "format/holo_internal.h"
#include "format/pio_format.h"
#include "concurrent/pio_concurrent.h"
#include "hash/pio_hash.h"
#include "telemetry/pio_telemetry.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))
/* append_many: full blocks coded together on the pool, at most, and the
 * largest block queued (larger ones code their own groups on the pool) */
#define QUEUE_MAX   8
#define QUEUE_BYTES ((uint64_t)1 << 20)

/* Bytes written by a pool thread: a record's body (all but its header)
 * while the caller hashes it, or an O_DIRECT stage while the caller stages
 * the next records. */
struct write_task {
    struct pio_task task; /* first member: the pool hands it back */
    int fd;
    int n;
    uint64_t off;
    int rc;
    struct iovec iov[9];
};

struct pio_writer {
    char *path;
    int fd;
    uint32_t flags;
    uint32_t hash_threads; /* append_many: 0 every CPU */
    enum pio_io_engine engine;
    const uint8_t *fixed_salt; /* caller's, for create only */
    uint64_t flushed;          /* writeback started up to here (sync_file_range) */
    pio_io_wq *wq;             /* io_uring engine: staged asynchronous writes */
    struct pio_io_info io;
    /* O_DIRECT: records are staged from a block-aligned file offset; whole
     * blocks are written, the partial last one only with a commit (whose
     * footer ends block-aligned, so nothing is ever written twice). */
    int dfd;
    uint32_t dalign;
    uint8_t *stage;
    size_t stage_cap, stage_len;
    uint64_t stage_off;
    /* pwrite + O_DIRECT: the previous stage, written by a pool thread while
     * the caller fills the current one; the two buffers take turns */
    uint8_t *stage2;
    size_t stage2_cap;
    struct write_task flush;
    bool flushing, flush_queued;
    uint8_t *hash_stage; /* append_many: records gathered to be hashed together */
    size_t hash_stage_cap;
    uint8_t salt[16];
    uint64_t end; /* where the next record goes */
    uint64_t nframes, committed_frames;
    bool dirty;     /* bytes written since the last commit */
    bool is_new;    /* created by us: fsync the directory once */
    bool meta_done; /* META written or impossible to add (frames exist) */
    int failed;     /* sticky error after a failed sync */
    struct holo_entry *entries;
    uint64_t cap;
    pio_blake3_hasher digest;
    uint64_t meta_rec_off, meta_rec_len; /* META record in the file (0: none) */
    /* 2.0 (docs/FORMAT.md): the commit chain. `chain` is the number of the
     * newest commit (0 before the first, which is number 1); level[j] is
     * the newest commit whose number 2^j divides, the target of the next
     * commits' back links. */
    bool v2;
    uint64_t req;         /* the file header's required feature bits */
    bool final_on_disk;   /* the newest commit is FINAL and nothing followed it */
    uint64_t truncate_to; /* pio_writer_truncate: the view to commit (UINT64_MAX: none) */
    bool align_next;      /* the next commit ends on a block boundary (align_commit) */
    /* compression (2.0 files that announce it): codec of each array */
    uint32_t codec[3];
    double precision;
    int zlevel;
    struct pio__codec_scratch scratch;
    /* BLOCK records (2.1): frames held until their block is full or cut */
    uint32_t keyframe, group_atoms;
    struct pend {
        uint32_t n, cap; /* frames held; room, in frames, at this shape */
        uint64_t natoms;
        uint32_t fields, nscalars;
        float *arr[3]; /* cap x natoms x 3 */
        int64_t *steps;
        double *times;
        double *boxes;         /* cap x 9 */
        struct pio_scalar *sc; /* cap x nscalars, names normalised */
    } pend;
    /* append_many: full blocks queued, in frame order before `pend`, to
     * be coded together on the pool (queue_flush) */
    struct pend queued[QUEUE_MAX];
    uint32_t nqueued;
    uint64_t chain;
    uint64_t full_off, full_n;
    uint8_t full_head[32];
    struct {
        uint64_t off, nframes;
        uint8_t hash[32];
    } level[64];
    /* pending META contents */
    struct pio_topology top;
    void *top_mem;
    char *meta;
    uint64_t meta_bytes, meta_cap, nmeta;
};

static void pend_free(struct pend *p)
{
    for (int a = 0; a < 3; a++)
        free(p->arr[a]);
    free(p->steps);
    free(p->times);
    free(p->boxes);
    free(p->sc);
    memset(p, 0, sizeof(*p));
}

static void write_task_run(struct pio_task *t)
{
    struct write_task *wt = (struct write_task *)t;
    wt->rc = pio__holo_pwritev_all(wt->fd, wt->iov, wt->n, wt->off);
}

static void fill_salt(uint8_t salt[16])
{
    if (getrandom(salt, 16, GRND_NONBLOCK) == 16)
        return;
    /* No entropy yet (early boot): the salt needs uniqueness, not secrecy. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t a = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint64_t b = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)salt;
    memcpy(salt, &a, 8);
    memcpy(salt + 8, &b, 8);
}

/* The stage's buffer: the queue's (released) or our own (freed). */
static void stage_free(pio_writer *w)
{
    if (w->stage && w->wq)
        pio_io_wq_release(w->wq, w->stage);
    else
        free(w->stage);
    w->stage = NULL;
    w->stage_cap = 0;
}

static int direct_wait(pio_writer *w);

static void writer_free(pio_writer *w)
{
    direct_wait(w); /* its buffer and descriptor are about to go */
    free(w->stage2);
    free(w->hash_stage);
    stage_free(w);
    pio_io_wq_close(w->wq);
    if (w->dfd >= 0)
        close(w->dfd);
    if (w->fd >= 0)
        close(w->fd);
    free(w->path);
    free(w->entries);
    free(w->top_mem);
    free(w->meta);
    pio__codec_scratch_free(&w->scratch);
    pend_free(&w->pend);
    for (uint32_t k = 0; k < QUEUE_MAX; k++)
        pend_free(&w->queued[k]);
    free(w);
}

static pio_writer *writer_alloc(const char *path, const struct pio_writer_options *opts)
{
    pio_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->fd = -1;
    w->dfd = -1;
    w->path = strdup(path);
    if (!w->path) {
        free(w);
        return NULL;
    }
    if (opts && opts->size >= offsetof(struct pio_writer_options, flags) + sizeof(opts->flags))
        w->flags = opts->flags;
    enum pio_io_engine e = PIO_IO_AUTO;
    if (opts && opts->size >= offsetof(struct pio_writer_options, salt) + sizeof(opts->salt)) {
        e = opts->engine;
        w->fixed_salt = opts->salt;
    }
    if (opts && opts->size >=
                    offsetof(struct pio_writer_options, hash_threads) + sizeof(opts->hash_threads))
        w->hash_threads = opts->hash_threads;
    if (opts && opts->size >= offsetof(struct pio_writer_options, level) + sizeof(opts->level)) {
        memcpy(w->codec, opts->codec, sizeof(w->codec));
        w->precision = opts->precision;
        w->zlevel = opts->level;
    }
    if (opts && opts->size >=
                    offsetof(struct pio_writer_options, group_atoms) + sizeof(opts->group_atoms)) {
        w->keyframe = opts->keyframe;
        w->group_atoms = opts->group_atoms;
    }
    if (w->group_atoms == 0)
        w->group_atoms = 4096;
    if (w->precision == 0)
        w->precision = 0.001;
    /* AUTO: PIO_IO_ENGINE, for programs that cannot pass options (an
     * unknown name there is ignored: pwrite). */
    const char *env = getenv("PIO_IO_ENGINE");
    if (e == PIO_IO_AUTO && env)
        pio_io_engine_parse(env, &e);
    w->engine = e == PIO_IO_URING ? PIO_IO_URING : PIO_IO_PREAD;
    w->io.requested = w->engine;
    w->io.engine = w->engine;
    pio_blake3_hasher_init(&w->digest);
    w->truncate_to = UINT64_MAX;
    return w;
}

static void io_note(pio_writer *w, const char *what, int rc)
{
    size_t used = strlen(w->io.note);
    snprintf(w->io.note + used, sizeof(w->io.note) - used, "%s%s (%s)", used ? "; " : "", what,
             pio_strerror(rc));
    pio_telemetry_note("%s: writer: %s (%s)", w->path, what, pio_strerror(rc));
}

static int commit_one(pio_writer *w, bool final, struct pio_error *err);

/* 2.0: a buffered commit of nothing new, padded to end on a block
 * boundary, so that O_DIRECT appends can start there (a buffered writer or
 * recovery left the file's end unaligned). The file stays committed
 * throughout. 0 or an error code. */
static int align_commit(pio_writer *w)
{
    w->align_next = true;
    w->dirty = true;
    int rc = commit_one(w, false, NULL);
    w->align_next = false;
    return rc;
}

/* Set up O_DIRECT (at w->end, which must be block-aligned) and the
 * io_uring write queue, if asked for; fall back to buffered pwrite. */
static void start_engine(pio_writer *w)
{
    if (w->flags & PIO_WRITER_DIRECT) {
        w->io.direct_requested = true;
        int rc = pio_io_fault_take(PIO_FAULT_DIRECT_OPEN);
        if (rc == 0 && w->end % HOLO_COMMIT_ALIGN != 0)
            rc = w->v2 ? align_commit(w) : PIO_EVERSION; /* 1.0: its end is not block-aligned */
        if (rc == 0) { /* on the file w->fd has open, not whatever the path names */
            int d = pio_io_open_direct(w->path, w->fd, O_WRONLY);
            w->dfd = d >= 0 ? d : -1;
            rc = d < 0 ? d : 0;
        }
        uint32_t a = 4096;
#ifdef STATX_DIOALIGN
        struct statx sx;
        if (rc == 0 && statx(w->dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
            (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align)
            a = PIO_MAX(sx.stx_dio_offset_align, sx.stx_dio_mem_align);
#endif
        if (rc == 0 && (HOLO_COMMIT_ALIGN % a) != 0) {
            close(w->dfd);
            w->dfd = -1;
            rc = PIO_ENOTSUPPORTED; /* blocks larger than a commit's alignment */
        }
        if (rc != 0) {
            io_note(w, "O_DIRECT refused; buffered writes", rc);
        } else {
            /* Write whole filesystem blocks even where the device takes
             * 512: ext4 serialises sub-block direct writes (measured 38 MB/s
             * against 0.6 GB/s with 4 KiB-aligned ones). */
            a = PIO_MAX(a, 4096u);
            w->io.direct = true;
            w->io.direct_align = a;
            w->dalign = a;
            w->stage_off = w->end;
        }
    }
    /* four writes in flight; with O_DIRECT a fifth buffer is the stage */
    if (w->engine == PIO_IO_URING &&
        pio_io_wq_open(&w->wq, w->dfd >= 0 ? w->dfd : w->fd, w->dfd >= 0 ? 5 : 4, &w->io) != 0)
        w->engine = PIO_IO_PREAD;
}

/* ---- O_DIRECT staging ---- */

/* Copy the pieces to dst one after the other; with h, hash what is copied
 * every 64 KiB, while it is still in cache (a record copied whole and
 * then hashed is read twice from memory). Slices start at multiples of
 * 64 KiB from dst, so BLAKE3's chunks line up with them. */
#define COPY_HASH_SLICE HOLO_GATHER_MAX /* a gathered record is one slice */
static void copy_hash(uint8_t *dst, const struct iovec *iov, int n, pio_blake3_hasher *h)
{
    size_t done = 0, hashed = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *src = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left) {
            size_t take = h ? PIO_MIN(left, COPY_HASH_SLICE - (done - hashed)) : left;
            memcpy(dst + done, src, take);
            src += take;
            left -= take;
            done += take;
            if (h && done - hashed == COPY_HASH_SLICE) {
                pio_blake3_hasher_update(h, dst + hashed, COPY_HASH_SLICE);
                hashed = done;
            }
        }
    }
    if (h && done > hashed)
        pio_blake3_hasher_update(h, dst + hashed, done - hashed);
}

/* Append `n` pieces to the stage; *at is the stage offset they start at.
 * With h, hash them too (copy_hash). */
static int stage_add(pio_writer *w, const struct iovec *iov, int n, size_t *at,
                     pio_blake3_hasher *h)
{
    size_t need = 0;
    for (int i = 0; i < n; i++)
        need += iov[i].iov_len;
    if (w->stage_len + need > w->stage_cap) {
        size_t cap = PIO_MAX((size_t)1 << 22, (w->stage_len + need) * 2);
        cap = (cap + 4095) / 4096 * 4096;
        uint8_t *p;
        if (w->wq) { /* the stage is a queue buffer: flushed without a copy */
            int rc;
            if (!(p = pio_io_wq_get(w->wq, cap, &rc)))
                return rc;
            cap = pio_io_wq_capacity_of(w->wq, p);
        } else if (!(p = pio_alloc_big(4096, &cap))) {
            return -ENOMEM;
        }
        if (w->stage_len)
            memcpy(p, w->stage, w->stage_len);
        stage_free(w);
        w->stage = p;
        w->stage_cap = cap;
    }
    *at = w->stage_len;
    copy_hash(w->stage + w->stage_len, iov, n, h);
    w->stage_len += need;
    return 0;
}

/* Write the stage's whole blocks (all of it when `all`: it then ends on a
 * block boundary) and keep the rest. Batches of at least 1 MiB unless
 * `all`, so writes stay large. */
static int stage_flush(pio_writer *w, bool all)
{
    size_t n = all ? w->stage_len : w->stage_len / w->dalign * w->dalign;
    if (n == 0 || (!all && n < ((size_t)1 << 20)))
        return all ? direct_wait(w) : 0;
    int rc;
    size_t rem = w->stage_len - n; /* less than one block */
    if (w->wq) {
        /* Submit the stage buffer itself; the partial block moves to a
         * fresh one, which becomes the stage. */
        uint8_t *next = pio_io_wq_get(w->wq, w->stage_cap, &rc);
        if (!next)
            return rc;
        memcpy(next, w->stage + n, rem);
        rc = pio_io_wq_submit(w->wq, w->stage, n, w->stage_off);
        if (rc != 0) {
            pio_io_wq_release(w->wq, next);
            return rc;
        }
        w->stage = next;
        w->stage_cap = pio_io_wq_capacity_of(w->wq, next);
    } else {
        /* The previous flush's buffer comes back and takes the partial
         * block; this stage goes out on a pool thread. */
        if ((rc = direct_wait(w)) != 0)
            return rc;
        if (w->stage2_cap < w->stage_cap) {
            size_t cap = w->stage_cap;
            uint8_t *p = pio_alloc_big(4096, &cap);
            if (!p)
                return -ENOMEM;
            free(w->stage2);
            w->stage2 = p;
            w->stage2_cap = cap;
        }
        memcpy(w->stage2, w->stage + n, rem);
        w->flush = (struct write_task){
            {write_task_run, NULL, NULL, PIO_TASK_QUEUED}, w->dfd, 1, w->stage_off, 0, {{0}}};
        w->flush.iov[0] = (struct iovec){w->stage, n};
        w->flushing = true;
        w->flush_queued = pio_workers_submit(&w->flush.task, 1);
        if (!w->flush_queued) /* no pool (after fork) */
            write_task_run(&w->flush.task);
        uint8_t *p = w->stage;
        size_t cap = w->stage_cap;
        w->stage = w->stage2;
        w->stage_cap = w->stage2_cap;
        w->stage2 = p;
        w->stage2_cap = cap;
    }
    w->stage_len = rem;
    w->stage_off += n;
    return all ? direct_wait(w) : 0;
}

/* Wait for the O_DIRECT flush in flight, if any: its result. */
static int direct_wait(pio_writer *w)
{
    if (!w->flushing)
        return 0;
    if (w->flush_queued)
        pio_workers_wait(&w->flush.task);
    w->flushing = false;
    return w->flush.rc;
}

/* The options' codecs, checked: 0, PIO_EUSAGE or PIO_ENOTSUPPORTED. */
static int check_codecs(const pio_writer *w, struct pio_error *err)
{
    bool any = false;
    if ((w->flags & PIO_WRITER_ARRAYS) && (w->flags & PIO_WRITER_FORMAT_1))
        return pio_error_set(err, PIO_EUSAGE, "%s: HOLO 1.x has no named arrays", w->path);
    for (int a = 0; a < 3; a++) {
        if (w->codec[a] > PIO_CODEC_LOSSLESS)
            return pio_error_set(err, PIO_EUSAGE, "%s: codec %u unknown", w->path, w->codec[a]);
        any |= w->codec[a] != 0;
    }
    if (w->keyframe > HOLO_BLOCK_MAX_FRAMES)
        return pio_error_set(err, PIO_EUSAGE, "%s: keyframe %u: at most %u frames in a block",
                             w->path, w->keyframe, HOLO_BLOCK_MAX_FRAMES);
    if (!any) {
        if (w->keyframe > 1 && (w->flags & PIO_WRITER_FORMAT_1))
            return pio_error_set(err, PIO_EUSAGE,
                                 "%s: keyframe %u: HOLO 1.x has no blocks of frames", w->path,
                                 w->keyframe);
        return 0;
    }
    if (!w->codec[0] && w->keyframe > 1)
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: keyframe %u: compressed blocks need compressed positions",
                             w->path, w->keyframe);
    if (w->flags & PIO_WRITER_FORMAT_1)
        return pio_error_set(err, PIO_EUSAGE, "%s: HOLO 1.x has no compression", w->path);
    if (!pio__codec_built())
        return pio_error_set(err, PIO_ENOTSUPPORTED,
                             "%s: compression: this build has no zstd (libzstd-dev)", w->path);
    if (!(w->precision > 0 && w->precision < 1e30)) /* what readers accept */
        return pio_error_set(err, PIO_EUSAGE, "%s: precision %g nm: must be above 0 and below 1e30",
                             w->path, w->precision);
    return 0;
}

static bool any_codec(const pio_writer *w)
{
    return (w->codec[0] | w->codec[1] | w->codec[2]) != 0;
}

/* A writer writes a local file: crash-safe appends need one. */
static int remote_refused(const char *path, struct pio_error *err)
{
    return pio_error_set(err, PIO_ENOTSUPPORTED,
                         "%s: a HOLO writer writes local files; to put a trajectory on S3, "
                         "convert it to an s3:// URL (written locally, then uploaded)",
                         path);
}

PIO_API int pio_writer_create(pio_writer **out, const char *path,
                              const struct pio_writer_options *opts, struct pio_error *err)
{
    *out = NULL;
    if (pio_path_is_remote(path))
        return remote_refused(path, err);
    pio_writer *w = writer_alloc(path, opts);
    if (!w)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    int crc = check_codecs(w, err);
    if (crc != 0) {
        writer_free(w);
        return crc;
    }
    int oflags =
        O_RDWR | O_CREAT | O_CLOEXEC | ((w->flags & PIO_WRITER_OVERWRITE) ? O_TRUNC : O_EXCL);
    w->fd = open(path, oflags | O_NONBLOCK, 0644); /* an existing FIFO must not block */
    if (w->fd < 0) {
        int rc = -errno;
        writer_free(w);
        return pio_error_set(err, rc, "%s: cannot create: %s", path, pio_strerror(rc));
    }
    struct stat wst;
    if (fstat(w->fd, &wst) != 0) {
        int rc = -errno;
        writer_free(w);
        unlink(path); /* made, or emptied (O_TRUNC), by this open */
        return pio_error_set(err, rc, "%s: %s", path, pio_strerror(rc));
    }
    if (!S_ISREG(wst.st_mode)) {
        writer_free(w);
        return pio_error_set(err, PIO_EFORMAT, "%s: not a regular file; refusing to write to it",
                             path);
    }
    fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) & ~O_NONBLOCK);
    uint8_t h[HOLO_HEADER_SIZE] = {0};
    memcpy(h, HOLO_MAGIC, 8);
    w->v2 = !(w->flags & PIO_WRITER_FORMAT_1);
    if (w->keyframe == 0) /* blocks where every array is compressed */
        w->keyframe = w->codec[0] ? HOLO_KEYFRAME_DEFAULT : 1;
    /* 2.1 compressed blocks, 2.2 raw ones (packed small frames) */
    bool raw_blocks = w->keyframe > 1 && !any_codec(w);
    if (any_codec(w))
        w->req = HOLO_REQ_ZSTD | (w->keyframe > 1 ? HOLO_REQ_BLOCK : 0);
    else if (raw_blocks)
        w->req = HOLO_REQ_BLOCK | HOLO_REQ_RAW_BLOCK;
    if (w->flags & PIO_WRITER_ARRAYS)
        w->req |= HOLO_REQ_ARRAYS;
    holo_wr64(h + 16, w->req);
    uint16_t major = w->v2 ? PIO_HOLO_VERSION_MAJOR : 1, minor = !w->v2                       ? 1
                                                                 : (w->req & HOLO_REQ_ARRAYS) ? 3
                                                                 : raw_blocks                 ? 2
                                                                 : w->keyframe > 1 && any_codec(w)
                                                                     ? 1
                                                                     : 0;
    memcpy(h + 8, &major, 2);
    memcpy(h + 10, &minor, 2);
    holo_wr32(h + 12, HOLO_HEADER_SIZE);
    if (w->fixed_salt) {
        memcpy(w->salt, w->fixed_salt, 16);
    } else {
        fill_salt(w->salt);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        holo_wr64(h + 48, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    }
    memcpy(h + 32, w->salt, 16);
    pio_blake3_hash(h + HOLO_HEADER_HASHED, 32, h, HOLO_HEADER_HASHED);
    start_engine(w); /* at offset 0: block-aligned */
    int rc;
    if (w->dfd >= 0) {
        size_t at = 0;
        struct iovec iov = {h, sizeof(h)};
        rc = stage_add(w, &iov, 1, &at, NULL);
        /* and now, buffered: until the stage's first flush the file would
         * hold nothing, and a writer failing before it would leave no
         * HOLO file at all */
        if (rc == 0)
            rc = pio__holo_pwrite_all(w->fd, h, sizeof(h), 0);
    } else {
        rc = pio__holo_pwrite_all(w->fd, h, sizeof(h), 0);
    }
    if (rc != 0) {
        writer_free(w);
        unlink(path);
        return pio_error_set(err, rc, "%s: writing the header: %s", path, pio_strerror(rc));
    }
    w->end = HOLO_HEADER_SIZE;
    w->dirty = true;
    w->is_new = true;
    *out = w;
    return 0;
}

/* 2.0: the chain state of the file r has open: the newest commit's number
 * and FULL INDEX, and level[j] found by walking the longest back links
 * (each clears the lowest set bit of the commit number): O(log commits). */
static int chain_load(pio_writer *w, const pio_reader *r, struct pio_error *err)
{
    w->v2 = true;
    w->final_on_disk = r->final;
    w->chain = r->tip.chain;
    w->full_off = r->tip.full_off;
    w->full_n = r->tip.full_n;
    if (w->full_off)
        memcpy(w->full_head, r->tip.full_head, 32);
    struct holo_commit cur = r->tip;
    uint32_t filled = 0;
    for (;;) {
        uint64_t c = cur.chain;
        uint32_t top = c == 0 ? 64 : (uint32_t)__builtin_ctzll(c) + 1;
        for (uint32_t j = filled; j < top; j++) {
            w->level[j].off = cur.off;
            w->level[j].nframes = cur.nframes;
            memcpy(w->level[j].hash, cur.hash, 32);
        }
        filled = PIO_MAX(filled, top);
        uint32_t tz = top - 1;
        if (c == 0 || (c == ((uint64_t)1 << tz) && !w->full_off))
            return 0;
        struct holo_commit next;
        int rc = pio__holo_follow_link(r, &cur, tz, &next, err);
        if (rc != 0)
            return rc;
        cur = next;
    }
}

PIO_API int pio_writer_open_append(pio_writer **out, const char *path,
                                   const struct pio_writer_options *opts, struct pio_error *err)
{
    *out = NULL;
    if (pio_path_is_remote(path))
        return remote_refused(path, err);
    /* A killed writer's tail is removed and the file committed first. */
    bool rewrite;
    int rc = pio__holo_recover_in_place(path, 0, NULL, &rewrite, err);
    if (rc != 0)
        return rc;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = PIO_READER_NO_RECOVERY;
    pio_reader *r;
    if ((rc = pio_reader_open(&r, path, &ro, err)) != 0)
        return rc;
    pio_writer *w = writer_alloc(path, opts);
    if (!w) {
        pio_reader_close(r);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    if ((rc = check_codecs(w, err)) != 0)
        goto fail;
    if (any_codec(w) && !(r->hdr.required & HOLO_REQ_ZSTD)) {
        rc = pio_error_set(err, PIO_EUSAGE,
                           "%s: the file was created without compression; appended frames "
                           "cannot be compressed",
                           path);
        goto fail;
    }
    bool blocks = (r->hdr.required & HOLO_REQ_BLOCK) != 0;
    bool raw_blocks = (r->hdr.required & HOLO_REQ_RAW_BLOCK) != 0;
    w->req = r->hdr.required;
    if (w->keyframe > 1 && !any_codec(w) && !raw_blocks) {
        rc = pio_error_set(err, PIO_EUSAGE,
                           "%s: the file was created without blocks of raw frames (HOLO %u.%u); "
                           "appended frames cannot be packed (keyframe %u)",
                           path, r->hdr.major, r->hdr.minor, w->keyframe);
        goto fail;
    }
    if (w->keyframe > 1 && !blocks) {
        rc = pio_error_set(err, PIO_EUSAGE,
                           "%s: the file was created without BLOCK records (HOLO %u.%u); "
                           "appended frames cannot be coded in blocks (keyframe %u)",
                           path, r->hdr.major, r->hdr.minor, w->keyframe);
        goto fail;
    }
    if (w->keyframe == 0)
        w->keyframe = blocks && w->codec[0]         ? HOLO_KEYFRAME_DEFAULT
                      : raw_blocks && !any_codec(w) ? HOLO_PACK_DEFAULT
                                                    : 1;
    memcpy(w->salt, r->hdr.salt, 16);
    w->nframes = w->committed_frames = w->cap = r->nframes;
    const struct holo_entry *entries;
    if ((rc = pio__holo_entries(r, &entries, err)) != 0)
        goto fail;
    w->entries = malloc((size_t)PIO_MAX(r->nframes, 1) * sizeof(*w->entries));
    if (!w->entries) {
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory for %llu index entries", path,
                           OFFX(r->nframes));
        goto fail;
    }
    if (r->nframes)
        memcpy(w->entries, entries, (size_t)r->nframes * sizeof(*w->entries));
    if (r->v2 && (rc = chain_load(w, r, err)) != 0)
        goto fail;
    /* Rebuild the running file digest from the stored record hashes (the
     * index's entries are in bounds). A damaged frame, or a damaged META
     * record the index names, stays as it is: new commits keep naming them
     * (verify reports them), appending goes on after them. */
    bool meta = r->has_meta || (r->meta_damaged && r->meta_off >= HOLO_HEADER_SIZE &&
                                r->meta_off <= r->size - HOLO_REC_HDR);
    if (meta)
        pio_blake3_hasher_update(&w->digest, r->map + r->meta_off + HOLO_HASH_OFF, 32);
    holo_digest_entries(&w->digest, r->map, entries, r->nframes);
    w->meta_done = true; /* topology and metadata are the file's */
    w->meta_rec_off = meta ? r->meta_off : 0;
    w->meta_rec_len = meta ? r->meta_len : 0;
    w->end = w->flushed = r->size;
    w->fd = open(path, O_RDWR | O_CLOEXEC);
    if (w->fd < 0) {
        rc = -errno;
        pio_error_set(err, rc, "%s: cannot open for writing: %s", path, pio_strerror(rc));
        goto fail;
    }
    pio_reader_close(r);
    start_engine(w);
    *out = w;
    return 0;
fail:
    pio_reader_close(r);
    writer_free(w);
    return rc;
}

static int check_usable(pio_writer *w, struct pio_error *err)
{
    uint64_t off;
    int qrc = w->wq ? pio_io_wq_error(w->wq, &off) : 0;
    if (qrc && !w->failed) {
        w->failed = qrc;
        return pio_error_set(err, qrc,
                             "%s: asynchronous write at offset 0x%llx failed: %s (frames from "
                             "there on are lost; reopen to recover the rest)",
                             w->path, OFFX(off), pio_strerror(qrc));
    }
    if (w->failed)
        return pio_error_set(err, w->failed, "%s: writer failed earlier (%s); reopen the file",
                             w->path, pio_strerror(w->failed));
    return 0;
}

PIO_API int pio_writer_set_topology(pio_writer *w, const struct pio_topology *t,
                                    struct pio_error *err)
{
    int rc = check_usable(w, err);
    if (rc)
        return rc;
    if (w->meta_done)
        return pio_error_set(err, PIO_EUSAGE, "%s: topology must be set before the first frame",
                             w->path);
    if (t->natoms > PIO_HOLO_MAX_ATOMS || t->nbonds > ((uint64_t)1 << 32))
        return pio_error_set(err, PIO_ELIMIT, "%s: topology of %llu atoms, %llu bonds too large",
                             w->path, OFFX(t->natoms), OFFX(t->nbonds));
    for (uint64_t i = 0; t->bonds && i < t->nbonds; i++)
        if (t->bonds[i][0] >= t->natoms || t->bonds[i][1] >= t->natoms)
            return pio_error_set(err, PIO_EUSAGE, "%s: bond %llu names an atom past %llu", w->path,
                                 OFFX(i), OFFX(t->natoms));
    /* One block in the record's own layout, so writing it is one copy. */
    struct holo_meta_layout lay;
    pio__holo_meta_layout(t->natoms, t->nbonds, 0, &lay);
    uint8_t *mem = calloc(1, (size_t)lay.meta);
    if (!mem)
        return pio_error_set(err, -ENOMEM, "%s: out of memory for the topology", w->path);
    uint64_t n = t->natoms;
#define COPY_COL(field, off, width)                                                                \
    if (t->field)                                                                                  \
        memcpy(mem + lay.off, t->field, (size_t)(n * (width)));
    COPY_COL(names, names, 8)
    COPY_COL(elements, elements, 4)
    COPY_COL(resnames, resnames, 8)
    COPY_COL(chains, chains, 4)
    COPY_COL(resids, resids, 4)
    COPY_COL(masses, masses, 4)
    COPY_COL(charges, charges, 4)
#undef COPY_COL
    if (t->bonds && t->nbonds)
        memcpy(mem + lay.bonds, t->bonds, (size_t)(t->nbonds * 8));
    free(w->top_mem);
    w->top_mem = mem;
    w->top.natoms = t->natoms;
    w->top.nbonds = t->nbonds;
    return 0;
}

PIO_API int pio_writer_set_metadata(pio_writer *w, const char *key, const char *value,
                                    struct pio_error *err)
{
    int rc = check_usable(w, err);
    if (rc)
        return rc;
    if (w->meta_done)
        return pio_error_set(err, PIO_EUSAGE, "%s: metadata must be set before the first frame",
                             w->path);
    if (!key || !*key || !value)
        return pio_error_set(err, PIO_EUSAGE, "%s: metadata key must be non-empty", w->path);
    for (uint64_t i = 0, pos = 0; i < w->nmeta; i++) {
        if (strcmp(w->meta + pos, key) == 0)
            return pio_error_set(err, PIO_EUSAGE, "%s: metadata key '%s' set twice", w->path, key);
        pos += strlen(w->meta + pos) + 1;
        pos += strlen(w->meta + pos) + 1;
    }
    size_t kl = strlen(key) + 1, vl = strlen(value) + 1;
    if (w->meta_bytes + kl + vl > w->meta_cap) {
        uint64_t cap = PIO_MAX(w->meta_cap * 2, w->meta_bytes + kl + vl + 256);
        char *m = realloc(w->meta, (size_t)cap);
        if (!m)
            return pio_error_set(err, -ENOMEM, "%s: out of memory for metadata", w->path);
        w->meta = m;
        w->meta_cap = cap;
    }
    memcpy(w->meta + w->meta_bytes, key, kl);
    memcpy(w->meta + w->meta_bytes + kl, value, vl);
    w->meta_bytes += kl + vl;
    w->nmeta++;
    return 0;
}

/* Write the META record if there is anything to put in it. Called before
 * the first frame and at the first commit. */
static int write_meta(pio_writer *w, struct pio_error *err)
{
    if (w->meta_done)
        return 0;
    w->meta_done = true;
    if (!w->top_mem && w->nmeta == 0)
        return 0;
    struct holo_meta_layout lay;
    pio__holo_meta_layout(w->top.natoms, w->top.nbonds, w->meta_bytes, &lay);
    uint8_t *rec = calloc(1, (size_t)lay.length);
    if (!rec)
        return pio_error_set(err, -ENOMEM, "%s: out of memory for the metadata record", w->path);
    holo_put_rec_header(rec, HOLO_REC_META, lay.length, 0, w->salt);
    holo_wr64(rec + 64, w->top.natoms);
    holo_wr64(rec + 72, w->top.nbonds);
    holo_wr64(rec + 80, w->nmeta);
    holo_wr64(rec + 88, w->meta_bytes);
    if (w->top_mem)
        memcpy(rec + HOLO_META_HDR, (uint8_t *)w->top_mem + HOLO_META_HDR,
               (size_t)(lay.meta - HOLO_META_HDR));
    if (w->meta_bytes)
        memcpy(rec + lay.meta, w->meta, (size_t)w->meta_bytes);
    pio__holo_record_hash(rec, lay.length, 1, rec + HOLO_HASH_OFF);
    int rc;
    if (w->dfd >= 0) {
        size_t at = 0;
        struct iovec iov = {rec, (size_t)lay.length};
        rc = stage_add(w, &iov, 1, &at, NULL);
    } else {
        rc = pio__holo_pwrite_all(w->fd, rec, (size_t)lay.length, w->end);
    }
    if (rc != 0) {
        if (ftruncate(w->fd, (off_t)w->end) != 0)
            w->failed = rc;
        free(rec);
        w->meta_done = false;
        return pio_error_set(err, rc, "%s: writing metadata at offset 0x%llx: %s", w->path,
                             OFFX(w->end), pio_strerror(rc));
    }
    pio_blake3_hasher_update(&w->digest, rec + HOLO_HASH_OFF, 32);
    w->meta_rec_off = w->end;
    w->meta_rec_len = lay.length;
    w->end += lay.length;
    w->dirty = true;
    free(rec);
    return 0;
}

/*
 * Start the device writing what has accumulated (every WRITEBACK_STEP
 * bytes) without waiting for it, so the disk works while the next frames
 * are hashed, and the commit's fdatasync finds little left to do. Only a
 * hint: errors are left for fdatasync to report.
 */
#define WRITEBACK_STEP ((uint64_t)8 << 20)
static void start_writeback(pio_writer *w)
{
    if ((w->flags & PIO_WRITER_NO_SYNC) || w->dfd >= 0 || w->end - w->flushed < WRITEBACK_STEP)
        return;
    sync_file_range(w->fd, (off_t)w->flushed, (off_t)(w->end - w->flushed), SYNC_FILE_RANGE_WRITE);
    w->flushed = w->end;
}

/* A frame record ready to be written: its header and the pieces that
 * follow it (the caller's arrays, zero padding, normalised scalars). */
struct rec {
    uint8_t hdr[HOLO_FRAME_HDR];
    uint8_t *head;  /* the record's first bytes, its hash field in them: hdr, or block */
    uint8_t *block; /* a BLOCK record, built whole (freed with it) */
    struct iovec iov[10];
    int n;
    struct pio_scalar *sc;
    uint8_t *asec;     /* named arrays (2.3): table, values, padding */
    uint8_t *coded[3]; /* compressed arrays: header, payload, padding */
    struct holo_frame_layout lay;
    const struct pio_frame *f;
};

static void rec_free(struct rec *r)
{
    free(r->sc);
    r->sc = NULL;
    free(r->asec);
    r->asec = NULL;
    free(r->block);
    r->block = NULL;
    for (int a = 0; a < 3; a++) {
        free(r->coded[a]);
        r->coded[a] = NULL;
    }
}

/* Encode array a of frame f (codec w->codec[a]) into r->coded[a]: its
 * 16-byte header, the payload, zero padding to 64; *size gets it all. */
static int rec_encode(pio_writer *w, const struct pio_frame *f, int a, const float (*xyz)[3],
                      uint64_t seq, struct rec *r, uint64_t *size, struct pio_error *err)
{
    static const char *const what[3] = {"positions", "velocities", "forces"};
    size_t bound = pio__codec_bound(f->natoms);
    r->coded[a] = calloc(1, (size_t)holo_pad64(HOLO_CODED_HDR + bound));
    if (!r->coded[a])
        return pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory to compress it", w->path,
                             OFFX(seq));
    size_t len = 0;
    uint64_t bad = 0;
    int rc = pio__codec_encode(w->codec[a], xyz, f->natoms, w->precision, w->zlevel,
                               r->coded[a] + HOLO_CODED_HDR, bound, &len, &bad, &w->scratch);
    if (rc == PIO_ELIMIT)
        return pio_error_set(err, rc,
                             "%s: frame %llu: %s of atom %llu (%g, %g, %g) cannot be stored "
                             "lossy at %g nm (not finite, or past 2^31 precisions)",
                             w->path, OFFX(seq), what[a], OFFX(bad), xyz[bad][0], xyz[bad][1],
                             xyz[bad][2], w->precision);
    if (rc != 0)
        return pio_error_set(err, rc, "%s: frame %llu: compressing %s: %s", w->path, OFFX(seq),
                             what[a], pio_strerror(rc));
    if (len > UINT32_MAX)
        return pio_error_set(err, PIO_ELIMIT, "%s: frame %llu: %s compress to %zu bytes", w->path,
                             OFFX(seq), what[a], len);
    holo_wr32(r->coded[a], (uint32_t)len);
    double p = w->codec[a] == PIO_CODEC_LOSSY ? w->precision : 0;
    memcpy(r->coded[a] + 8, &p, 8);
    *size = holo_pad64(HOLO_CODED_HDR + len);
    return 0;
}

/* Named arrays a[0..n) checked and laid out as a FRAME record's array
 * section (2.3) into r->asec; *size gets its bytes. */
static int arrays_build(pio_writer *w, const struct pio_frame *f, const struct pio_array *a,
                        uint32_t n, uint64_t seq, uint64_t at, struct rec *r, uint64_t *size,
                        struct pio_error *err)
{
    if (n > PIO_HOLO_MAX_ARRAYS)
        return pio_error_set(err, PIO_ELIMIT, "%s: frame %llu: %u named arrays, at most %u",
                             w->path, OFFX(seq), n, PIO_HOLO_MAX_ARRAYS);
    uint64_t total = (uint64_t)n * HOLO_ARRAY_ENTRY;
    for (uint32_t k = 0; k < n; k++) {
        size_t nl = strnlen(a[k].name, PIO_ARRAY_NAME_SIZE);
        const char *why = NULL;
        if (nl == 0 || nl == PIO_ARRAY_NAME_SIZE)
            why = "its name is empty or longer than 31 characters";
        else if (!pio_dtype_size(a[k].dtype) || a[k].per_atom > 1 || a[k].width == 0 ||
                 a[k].reserved != 0)
            why = "unknown dtype, per_atom not 0 or 1, width 0, or reserved not 0";
        else if (a[k].width > PIO_HOLO_MAX_WIDTH)
            return pio_error_set(err, PIO_ELIMIT,
                                 "%s: frame %llu: named array '%s': width %u, at most %u", w->path,
                                 OFFX(seq), a[k].name, a[k].width, PIO_HOLO_MAX_WIDTH);
        else if (!a[k].data && (a[k].per_atom ? f->natoms : 1) > 0)
            why = "no values (data is NULL)";
        for (uint32_t j = 0; !why && j < k; j++)
            if (strncmp(a[j].name, a[k].name, PIO_ARRAY_NAME_SIZE) == 0)
                why = "its name is repeated";
        if (why)
            return pio_error_set(err, PIO_EUSAGE, "%s: frame %llu: named array %u ('%.*s'): %s",
                                 w->path, OFFX(seq), k, (int)nl, a[k].name, why);
        total +=
            holo_pad64(pio__holo_array_bytes(f->natoms, a[k].dtype, a[k].per_atom, a[k].width));
    }
    if (total > SIZE_MAX / 2 || !(r->asec = calloc(1, (size_t)total)))
        return pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory for its named arrays",
                             w->path, OFFX(seq));
    uint64_t pos = (uint64_t)n * HOLO_ARRAY_ENTRY; /* section-relative */
    for (uint32_t k = 0; k < n; k++) {
        uint8_t *e = r->asec + (uint64_t)k * HOLO_ARRAY_ENTRY;
        uint64_t bytes = pio__holo_array_bytes(f->natoms, a[k].dtype, a[k].per_atom, a[k].width);
        memcpy(e, a[k].name, strnlen(a[k].name, PIO_ARRAY_NAME_SIZE));
        holo_wr32(e + 32, a[k].dtype);
        holo_wr32(e + 36, a[k].per_atom);
        holo_wr32(e + 40, a[k].width);
        holo_wr64(e + 48, at + pos);
        holo_wr64(e + 56, bytes);
        if (bytes)
            memcpy(r->asec + pos, a[k].data, (size_t)bytes);
        pos += holo_pad64(bytes);
    }
    *size = total;
    return 0;
}

static int rec_prepare_arrays(pio_writer *w, const struct pio_frame *f,
                              const struct pio_array *named, uint32_t nnamed, uint64_t seq,
                              struct rec *r, struct pio_error *err);

/* Check frame f and build its record as frame number `seq`. */
static int rec_prepare(pio_writer *w, const struct pio_frame *f, uint64_t seq, struct rec *r,
                       struct pio_error *err)
{
    return rec_prepare_arrays(w, f, NULL, 0, seq, r, err);
}

/* The same, with named arrays (2.3). */
static int rec_prepare_arrays(pio_writer *w, const struct pio_frame *f,
                              const struct pio_array *named, uint32_t nnamed, uint64_t seq,
                              struct rec *r, struct pio_error *err)
{
    memset(r, 0, sizeof(*r));
    r->f = f;
    r->head = r->hdr;
    if (!f->positions)
        return pio_error_set(err, PIO_EUSAGE, "%s: frame %llu: positions are required", w->path,
                             OFFX(seq));
    uint32_t fields = PIO_FIELD_POSITIONS | (f->velocities ? PIO_FIELD_VELOCITIES : 0) |
                      (f->forces ? PIO_FIELD_FORCES : 0) | (f->fields & PIO_FIELD_BOX);
    if (pio__holo_frame_layout(f->natoms, fields, f->nscalars, &r->lay) != 0)
        return pio_error_set(err, PIO_ELIMIT,
                             "%s: frame %llu: %llu atoms / %u scalars exceed the format's limits",
                             w->path, OFFX(seq), OFFX(f->natoms), f->nscalars);
    if (f->nscalars && !f->scalars)
        return pio_error_set(err, PIO_EUSAGE, "%s: frame %llu: nscalars without scalars", w->path,
                             OFFX(seq));
    /* Scalars normalised: names NUL-padded, so the record is deterministic. */
    if (f->nscalars) {
        r->sc = calloc(f->nscalars, sizeof(*r->sc));
        if (!r->sc)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", w->path);
        for (uint32_t i = 0; i < f->nscalars; i++) {
            size_t nl = strnlen(f->scalars[i].name, PIO_SCALAR_NAME_SIZE);
            if (nl == PIO_SCALAR_NAME_SIZE) {
                rec_free(r);
                return pio_error_set(err, PIO_EUSAGE,
                                     "%s: frame %llu: scalar %u name longer than 23 characters",
                                     w->path, OFFX(seq), i);
            }
            memcpy(r->sc[i].name, f->scalars[i].name, nl);
            r->sc[i].value = f->scalars[i].value;
        }
    }
    /* compressed arrays first: their sizes make the record's length */
    const float(*arrays[3])[3] = {f->positions, f->velocities, f->forces};
    uint64_t coded_size[3] = {0, 0, 0};
    uint32_t codecs = 0;
    for (int a = 0; a < 3; a++) {
        if (!arrays[a] || !w->codec[a])
            continue;
        int rc = rec_encode(w, f, a, arrays[a], seq, r, &coded_size[a], err);
        if (rc != 0) {
            rec_free(r);
            return rc;
        }
        codecs |= w->codec[a] << (8 * a);
        r->lay.length += coded_size[a] - r->lay.array_bytes;
    }
    uint64_t asize = 0;
    if (nnamed) {
        int rc = arrays_build(w, f, named, nnamed, seq, r->lay.length, r, &asize, err);
        if (rc != 0) {
            rec_free(r);
            return rc;
        }
        fields |= PIO_FIELD_ARRAYS;
        r->lay.length += asize;
    }
    uint8_t *hdr = r->hdr;
    holo_put_rec_header(hdr, HOLO_REC_FRAME, r->lay.length, seq, w->salt);
    holo_wr64(hdr + 64, f->natoms);
    holo_wr32(hdr + 72, fields);
    holo_wr32(hdr + 76, f->nscalars);
    memcpy(hdr + 80, &f->step, 8);
    memcpy(hdr + 88, &f->time, 8);
    if (fields & PIO_FIELD_BOX)
        memcpy(hdr + 96, f->box, 72);
    holo_wr32(hdr + 168, 1);
    holo_wr32(hdr + 172, codecs);
    holo_wr32(hdr + 176, nnamed);

    static const uint8_t zeros[64];
    size_t abytes = (size_t)(f->natoms * 12), apad = (size_t)(r->lay.array_bytes - abytes);
    size_t sbytes = (size_t)f->nscalars * HOLO_SCALAR_SIZE;
    size_t spad = (size_t)(holo_pad64(sbytes) - sbytes);
    r->iov[r->n++] = (struct iovec){hdr, HOLO_FRAME_HDR};
    for (int a = 0; a < 3; a++) {
        if (!arrays[a])
            continue;
        if (r->coded[a]) {
            r->iov[r->n++] = (struct iovec){r->coded[a], (size_t)coded_size[a]};
            continue;
        }
        r->iov[r->n++] = (struct iovec){(void *)arrays[a], abytes};
        r->iov[r->n++] = (struct iovec){(void *)zeros, apad};
    }
    r->iov[r->n++] = (struct iovec){r->sc, sbytes};
    r->iov[r->n++] = (struct iovec){(void *)zeros, spad};
    if (asize)
        r->iov[r->n++] = (struct iovec){r->asec, (size_t)asize};
    return 0;
}

/* Hash exactly the bytes written, the hash field as zeros (it is zero in
 * hdr until this fills it). A small record is first gathered into one
 * buffer: fed piece by piece (a 192-byte header, then the arrays), BLAKE3
 * sees its chunks misaligned with the pieces and hashes most of them one
 * block at a time; in one piece all whole chunks go through the SIMD
 * tier together (measured: XTC to HOLO of 711-atom frames, BLAKE3 went
 * from ~24% to ~9% of the CPU, 414 to 352 ms in all). */
static void rec_hash(struct rec *r)
{
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    if (r->lay.length <= HOLO_GATHER_MAX) {
        uint8_t buf[HOLO_GATHER_MAX]; /* one slice of copy_hash: copied whole, then hashed */
        copy_hash(buf, r->iov, r->n, &h);
    } else {
        for (int i = 0; i < r->n; i++)
            pio_blake3_hasher_update(&h, r->iov[i].iov_base, r->iov[i].iov_len);
    }
    pio_blake3_hasher_finalize(&h, r->head + HOLO_HASH_OFF, 32);
}

/* Room in the index for n more frames, before their records are written
 * or staged (a staged record cannot be taken back). */
static int entries_reserve(pio_writer *w, uint64_t n, struct pio_error *err)
{
    if (w->nframes + n <= w->cap)
        return 0;
    uint64_t cap = PIO_MAX(w->cap ? w->cap * 2 : 1024, w->nframes + n);
    struct holo_entry *e = realloc(w->entries, (size_t)cap * sizeof(*e));
    if (!e)
        return pio_error_set(err, -ENOMEM, "%s: out of memory for the index", w->path);
    w->entries = e;
    w->cap = cap;
    return 0;
}

/* The record is in the file: index it (room was reserved). */
static int rec_commit(pio_writer *w, const struct rec *r, struct pio_error *err)
{
    (void)err;
    w->entries[w->nframes] = (struct holo_entry){w->end, r->lay.length, r->f->step, r->f->time};
    pio_blake3_hasher_update(&w->digest, r->hdr + HOLO_HASH_OFF, 32);
    w->nframes++;
    w->end += r->lay.length;
    w->dirty = true;
    return 0;
}

/* Records from this size on are hashed and written at the same time
 * (below it, handing the write to a thread costs more than it saves). */
#define OVERLAP_MIN ((uint64_t)256 << 10)

static int append_one(pio_writer *w, const struct pio_frame *f, struct pio_error *err);

PIO_API int pio_writer_append(pio_writer *w, const struct pio_frame *f, struct pio_error *err)
{
    uint64_t t0 = pio_tm_start(), end0 = w->end, frame = w->nframes;
    int rc = append_one(w, f, err);
    pio_tm_end(PIO_OP_WRITE, w->io.engine, (uint64_t)w->fd, frame, w->end - end0, t0, rc);
    return rc;
}

/* Write record r (prepared, not hashed) at w->end through the writer's
 * engine; r is freed, its hash left in r->hdr. On failure the partial
 * record is taken back. */
static int write_rec(pio_writer *w, struct rec *r, struct pio_error *err)
{
    uint8_t *hdr = r->head;
    int rc = 0;
    uint64_t fail_off = w->end; /* where a failed write began */
    if (w->dfd >= 0) {
        /* O_DIRECT: stage, hash the staged copy, write whole blocks. */
        size_t at = 0;
        pio_blake3_hasher h;
        pio_blake3_hasher_init(&h);
        rc = stage_add(w, r->iov, r->n, &at, &h);
        if (rc == 0) {
            pio_blake3_hasher_finalize(&h, w->stage + at + HOLO_HASH_OFF, 32);
            memcpy(hdr + HOLO_HASH_OFF, w->stage + at + HOLO_HASH_OFF, 32);
            if ((rc = stage_flush(w, false)) != 0) {
                w->failed = rc;
                if (w->flush.rc) /* a background write of earlier frames */
                    fail_off = w->flush.off;
            }
        }
    } else if (w->wq) {
        /* io_uring: stage the record (the caller may reuse its arrays as
         * soon as we return), hash the staged copy while it is still in
         * cache, submit, and hash the next frame while this one is written. */
        uint8_t *buf = pio_io_wq_get(w->wq, (size_t)r->lay.length, &rc);
        if (!buf) {
            rec_free(r);
            w->failed = rc;
            return pio_error_set(err, rc, "%s: frame %llu: no staging buffer: %s", w->path,
                                 OFFX(w->nframes), pio_strerror(rc));
        }
        pio_blake3_hasher h;
        pio_blake3_hasher_init(&h);
        copy_hash(buf, r->iov, r->n, &h);
        pio_blake3_hasher_finalize(&h, buf + HOLO_HASH_OFF, 32);
        memcpy(hdr + HOLO_HASH_OFF, buf + HOLO_HASH_OFF, 32);
        rc = pio_io_wq_submit(w->wq, buf, (size_t)r->lay.length, w->end);
        if (rc != 0)
            w->failed = rc;
    } else if (r->lay.length >= OVERLAP_MIN) {
        /* A large record: a pool thread writes its body while this one
         * hashes it; then the header, which carries the hash. */
        struct write_task t = {{write_task_run, NULL, NULL, PIO_TASK_QUEUED},
                               w->fd,
                               r->n - 1,
                               w->end + r->iov[0].iov_len,
                               0,
                               {{0}}};
        memcpy(t.iov, r->iov + 1, (size_t)(r->n - 1) * sizeof(*t.iov)); /* pwritev_all consumes */
        bool queued = pio_workers_submit(&t.task, 1);
        rec_hash(r);
        if (queued)
            pio_workers_wait(&t.task);
        else /* no pool (after fork) */
            write_task_run(&t.task);
        rc = t.rc;
        if (rc == 0)
            rc = pio__holo_pwritev_all(w->fd, r->iov, 1, w->end);
    } else {
        rec_hash(r);
        rc = pio__holo_pwritev_all(w->fd, r->iov, r->n, w->end);
    }
    if (r->head != r->hdr) /* the hash, kept for the digest */
        memcpy(r->hdr + HOLO_HASH_OFF, r->head + HOLO_HASH_OFF, 32);
    rec_free(r);
    if (rc != 0) {
        /* Take the partial record back; committed bytes are untouched. */
        if (ftruncate(w->fd, (off_t)w->end) != 0)
            w->failed = rc;
        if (fail_off != w->end)
            return pio_error_set(err, rc,
                                 "%s: frame %llu: the O_DIRECT write at offset 0x%llx failed: %s",
                                 w->path, OFFX(w->nframes), OFFX(fail_off), pio_strerror(rc));
        return pio_error_set(err, rc, "%s: frame %llu at offset 0x%llx: write failed: %s", w->path,
                             OFFX(w->nframes), OFFX(w->end), pio_strerror(rc));
    }
    return 0;
}

/* A frame in a FRAME record of its own (with named arrays a[0..n)). */
static int append_record(pio_writer *w, const struct pio_frame *f, const struct pio_array *a,
                         uint32_t n, struct pio_error *err)
{
    struct rec r;
    int rc = entries_reserve(w, 1, err);
    if (rc != 0)
        return rc;
    if ((rc = rec_prepare_arrays(w, f, a, n, w->nframes, &r, err)) != 0)
        return rc;
    if ((rc = write_meta(w, err)) != 0) {
        rec_free(&r);
        return rc;
    }
    if ((rc = write_rec(w, &r, err)) != 0)
        return rc;
    if ((rc = rec_commit(w, &r, err)) != 0)
        return rc;
    start_writeback(w);
    return 0;
}

/* Can f go into a block? (Anything else, errors included, is left to
 * append_record.) */
static bool blockable(const pio_writer *w, const struct pio_frame *f)
{
    if (!(w->keyframe > 1 && f->positions && f->natoms > 0 && f->natoms <= PIO_HOLO_MAX_ATOMS &&
          f->nscalars <= PIO_HOLO_MAX_SCALARS && (f->scalars || !f->nscalars)))
        return false;
    if (w->codec[0]) /* compressed: every array coded */
        return (!f->velocities || w->codec[1]) && (!f->forces || w->codec[2]);
    /* raw (2.2): small frames only, packed */
    uint64_t arrays = 1 + (f->velocities != NULL) + (f->forces != NULL);
    return !any_codec(w) && f->natoms * 12 * arrays <= HOLO_PACK_MAX_BYTES;
}

static uint32_t frame_fields(const struct pio_frame *f)
{
    return PIO_FIELD_POSITIONS | (f->velocities ? PIO_FIELD_VELOCITIES : 0) |
           (f->forces ? PIO_FIELD_FORCES : 0) | (f->fields & PIO_FIELD_BOX);
}

/* Frames held in queued blocks. */
static uint64_t queued_frames(const pio_writer *w)
{
    uint64_t n = 0;
    for (uint32_t k = 0; k < w->nqueued; k++)
        n += w->queued[k].n;
    return n;
}

/* Does f join the frames held (same shape and scalar names)? */
static bool pend_fits(const pio_writer *w, const struct pio_frame *f)
{
    const struct pend *p = &w->pend;
    if (p->n == 0)
        return true;
    if (f->natoms != p->natoms || frame_fields(f) != p->fields || f->nscalars != p->nscalars)
        return false;
    for (uint32_t i = 0; i < f->nscalars; i++)
        if (strncmp(f->scalars[i].name, p->sc[i].name, PIO_SCALAR_NAME_SIZE) != 0)
            return false;
    return true;
}

static const char *const array_name[3] = {"positions", "velocities", "forces"};

/* Hold frame f (number seq) for the block: its values checked now, so
 * that a block once held always encodes. */
static int pend_add(pio_writer *w, const struct pio_frame *f, struct pio_error *err)
{
    struct pend *p = &w->pend;
    uint64_t seq = w->nframes + queued_frames(w) + p->n;
    const float(*arrays[3])[3] = {f->positions, f->velocities, f->forces};
    int mrc = write_meta(w, err); /* the first append settles topology and metadata */
    if (mrc != 0)
        return mrc;
    for (uint32_t i = 0; i < f->nscalars; i++)
        if (strnlen(f->scalars[i].name, PIO_SCALAR_NAME_SIZE) == PIO_SCALAR_NAME_SIZE)
            return pio_error_set(err, PIO_EUSAGE,
                                 "%s: frame %llu: scalar %u name longer than 23 characters",
                                 w->path, OFFX(seq), i);
    double inv = 1.0 / w->precision;
    for (int a = 0; a < 3; a++) {
        if (!arrays[a] || w->codec[a] != PIO_CODEC_LOSSY)
            continue;
        for (uint64_t i = 0; i < f->natoms; i++)
            for (int c = 0; c < 3; c++)
                if (!(fabs(nearbyint((double)arrays[a][i][c] * inv)) <= (double)INT32_MAX))
                    return pio_error_set(err, PIO_ELIMIT,
                                         "%s: frame %llu: %s of atom %llu (%g, %g, %g) cannot "
                                         "be stored lossy at %g nm (not finite, or past 2^31 "
                                         "precisions)",
                                         w->path, OFFX(seq), array_name[a], OFFX(i),
                                         arrays[a][i][0], arrays[a][i][1], arrays[a][i][2],
                                         w->precision);
    }
    if (p->n == 0) { /* a new block: room for it at this shape */
        uint64_t bytes = f->natoms * 12;
        uint32_t cap = w->keyframe;
        if (bytes * cap > HOLO_BLOCK_MAX_BYTES)
            cap = (uint32_t)PIO_MAX(HOLO_BLOCK_MAX_BYTES / bytes, (uint64_t)1);
        size_t floats = (size_t)cap * (size_t)f->natoms * 3;
        bool ok = true;
        for (int a = 0; a < 3; a++) {
            free(p->arr[a]);
            p->arr[a] = arrays[a] ? malloc(floats * sizeof(float)) : NULL;
            ok &= !arrays[a] || p->arr[a];
        }
        free(p->steps);
        free(p->times);
        free(p->boxes);
        free(p->sc);
        p->steps = malloc(cap * sizeof(*p->steps));
        p->times = malloc(cap * sizeof(*p->times));
        p->boxes = malloc((size_t)cap * 9 * sizeof(double));
        p->sc = f->nscalars ? calloc((size_t)cap * f->nscalars, sizeof(*p->sc)) : NULL;
        if (!ok || !p->steps || !p->times || !p->boxes || (f->nscalars && !p->sc)) {
            pend_free(p);
            return pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory to hold its block",
                                 w->path, OFFX(seq));
        }
        p->cap = cap;
        p->natoms = f->natoms;
        p->fields = frame_fields(f);
        p->nscalars = f->nscalars;
    }
    size_t at = (size_t)p->n * (size_t)p->natoms * 3;
    for (int a = 0; a < 3; a++)
        if (arrays[a])
            memcpy(p->arr[a] + at, arrays[a], (size_t)p->natoms * 12);
    p->steps[p->n] = f->step;
    p->times[p->n] = f->time;
    memcpy(p->boxes + (size_t)p->n * 9, f->box, 72);
    for (uint32_t i = 0; i < f->nscalars; i++) {
        struct pio_scalar *d = &p->sc[(size_t)p->n * f->nscalars + i];
        memset(d->name, 0, sizeof(d->name));
        memcpy(d->name, f->scalars[i].name, strnlen(f->scalars[i].name, PIO_SCALAR_NAME_SIZE));
        d->value = f->scalars[i].value;
    }
    p->n++;
    return 0;
}

/* The block of p's frames, as pio__holo_build_block takes it. */
static void block_in(const pio_writer *w, const struct pend *p, struct holo_block_in *in)
{
    memset(in, 0, sizeof(*in));
    in->nframes = p->n;
    in->fields = p->fields;
    in->nscalars = p->nscalars;
    in->natoms = p->natoms;
    in->group_atoms = any_codec(w) ? w->group_atoms : 0; /* raw: one group */
    in->steps = p->steps;
    in->times = p->times;
    in->boxes = (p->fields & PIO_FIELD_BOX) ? p->boxes : NULL;
    in->scalars = p->sc;
    for (int a = 0; a < 3; a++) {
        in->arrays[a] = p->arr[a];
        in->codec[a] = (uint8_t)(!p->arr[a] ? 0 : any_codec(w) ? w->codec[a] : HOLO_BLOCK_RAW);
    }
    in->precision = w->precision;
    in->level = w->zlevel;
    in->compact_boxes = w->req & HOLO_REQ_RAW_BLOCK; /* a 2.2 file */
}

static int block_failed(const pio_writer *w, const struct pend *p, uint64_t first, int rc,
                        struct pio_error *err)
{
    return pio_error_set(err, rc, "%s: frames %llu to %llu: coding their block: %s", w->path,
                         OFFX(first), OFFX(first + p->n - 1), pio_strerror(rc));
}

/* Write p's block, coded (block, len: freed here, written or not), as the
 * next record; p's frames are then the file's (p->n 0). */
static int block_write(pio_writer *w, struct pend *p, uint8_t *block, uint64_t len,
                       struct pio_error *err)
{
    uint32_t n = p->n;
    int rc = entries_reserve(w, n, err);
    if (rc == 0)
        rc = write_meta(w, err);
    if (rc != 0) {
        free(block);
        return rc;
    }
    struct rec r;
    memset(&r, 0, sizeof(r));
    r.block = block;
    r.head = r.block;
    r.iov[0] = (struct iovec){r.block, HOLO_REC_HDR}; /* the hash field's piece first */
    r.iov[1] = (struct iovec){r.block + HOLO_REC_HDR, (size_t)len - HOLO_REC_HDR};
    r.n = 2;
    r.lay.length = len;
    if ((rc = write_rec(w, &r, err)) != 0)
        return rc;
    p->n = 0;
    for (uint32_t t = 0; t < n; t++)
        w->entries[w->nframes + t] = (struct holo_entry){w->end, len, p->steps[t], p->times[t]};
    pio_blake3_hasher_update(&w->digest, r.hdr + HOLO_HASH_OFF, 32);
    w->nframes += n;
    w->end += len;
    w->dirty = true;
    start_writeback(w);
    return 0;
}

/* A queued block coded by a pool task. */
struct build_task {
    struct pio_task task; /* first member: the pool hands it back */
    struct holo_block_in in;
    uint64_t first;
    const uint8_t *salt;
    uint8_t *block;
    uint64_t len, bad[3];
    int rc;
};

static void build_run(struct pio_task *t)
{
    struct build_task *b = (struct build_task *)t;
    b->rc = pio__holo_build_block(&b->in, b->first, b->salt, &b->block, &b->len, b->bad);
}

/* Code the queued blocks together on the pool, then write them in order.
 * On a failure the blocks before it are written and it and the ones after
 * stay queued (their frames held, as pend_flush keeps them). */
static int queue_flush(pio_writer *w, struct pio_error *err)
{
    uint32_t nq = w->nqueued;
    if (nq == 0)
        return 0;
    struct build_task b[QUEUE_MAX];
    bool queued[QUEUE_MAX] = {false};
    uint64_t first = w->nframes;
    unsigned want = w->hash_threads ? w->hash_threads : pio_cpu_count();
    for (uint32_t k = 0; k < nq; k++) {
        memset(&b[k], 0, sizeof(b[k]));
        block_in(w, &w->queued[k], &b[k].in);
        b[k].first = first;
        b[k].salt = w->salt;
        b[k].task = (struct pio_task){build_run, NULL, NULL, PIO_TASK_QUEUED};
        first += w->queued[k].n;
        if (k > 0)
            queued[k] = pio_workers_submit(&b[k].task, want);
    }
    for (uint32_t k = 0; k < nq; k++) {
        if (k == 0 || !queued[k])
            build_run(&b[k].task); /* the caller's share, or no pool (after fork) */
        else
            pio_workers_wait(&b[k].task);
    }
    int rc = 0;
    uint32_t done = 0;
    for (; done < nq && rc == 0; done++) {
        struct pend *p = &w->queued[done];
        if (b[done].rc != 0) {
            rc = block_failed(w, p, w->nframes, b[done].rc, err);
        } else {
            rc = block_write(w, p, b[done].block, b[done].len, err);
            b[done].block = NULL; /* block_write's, written or not */
        }
        if (rc != 0)
            break;
    }
    for (uint32_t k = done; k < nq; k++)
        free(b[k].block);
    /* the written ones out of the queue, their buffers kept at its end */
    for (uint32_t k = 0; k < done; k++) {
        struct pend t = w->queued[0];
        memmove(&w->queued[0], &w->queued[1], (QUEUE_MAX - 1) * sizeof(w->queued[0]));
        w->queued[QUEUE_MAX - 1] = t;
    }
    w->nqueued = nq - done;
    return rc;
}

/* Write the frames held: the queued blocks, then a BLOCK record, or a
 * FRAME record for one. */
static int pend_flush(pio_writer *w, struct pio_error *err)
{
    struct pend *p = &w->pend;
    int rc = queue_flush(w, err);
    uint32_t n = p->n;
    if (rc != 0 || n == 0)
        return rc;
    /* on failure the frames stay held (a writer that can go on writes
     * them with its next flush; one that failed has lost them with it) */
    if (n == 1) {
        struct pio_frame f = {0};
        f.natoms = p->natoms;
        f.fields = p->fields;
        f.nscalars = p->nscalars;
        f.step = p->steps[0];
        f.time = p->times[0];
        memcpy(f.box, p->boxes, 72);
        f.positions = (const float(*)[3])p->arr[0];
        f.velocities = (const float(*)[3])p->arr[1];
        f.forces = (const float(*)[3])p->arr[2];
        f.scalars = p->sc;
        rc = append_record(w, &f, NULL, 0, err);
        if (rc == 0)
            p->n = 0;
        return rc;
    }
    struct holo_block_in in;
    block_in(w, p, &in);
    uint8_t *block = NULL;
    uint64_t len = 0, bad[3] = {0, 0, 0};
    if ((rc = pio__holo_build_block(&in, w->nframes, w->salt, &block, &len, bad)) != 0)
        return block_failed(w, p, w->nframes, rc, err);
    return block_write(w, p, block, len, err);
}

static int append_one(pio_writer *w, const struct pio_frame *f, struct pio_error *err)
{
    int rc = check_usable(w, err);
    if (rc)
        return rc;
    if (!blockable(w, f)) {
        if ((rc = pend_flush(w, err)) != 0)
            return rc;
        return append_record(w, f, NULL, 0, err);
    }
    if (!pend_fits(w, f) && (rc = pend_flush(w, err)) != 0)
        return rc;
    if ((rc = pend_add(w, f, err)) != 0)
        return rc;
    if (w->pend.n < w->pend.cap || (rc = pend_flush(w, err)) == 0)
        return 0;
    w->pend.n--; /* this frame's append failed: not held either */
    return rc;
}

PIO_API int pio_writer_append_arrays(pio_writer *w, const struct pio_frame *f,
                                     const struct pio_array *arrays, uint32_t narrays,
                                     struct pio_error *err)
{
    if (narrays == 0)
        return pio_writer_append(w, f, err);
    int rc = check_usable(w, err);
    if (rc)
        return rc;
    if (!(w->req & HOLO_REQ_ARRAYS))
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: frame %llu: named arrays need a file created with "
                             "PIO_WRITER_ARRAYS (HOLO 2.3)",
                             w->path, OFFX(w->nframes));
    if (!arrays)
        return pio_error_set(err, PIO_EUSAGE, "%s: frame %llu: narrays without arrays", w->path,
                             OFFX(w->nframes));
    uint64_t t0 = pio_tm_start(), end0 = w->end, frame = w->nframes;
    if ((rc = pend_flush(w, err)) == 0)
        rc = append_record(w, f, arrays, narrays, err);
    pio_tm_end(PIO_OP_WRITE, w->io.engine, (uint64_t)w->fd, frame, w->end - end0, t0, rc);
    return rc;
}

/* Records [from, to) of a group, hashed by one pool task. */
struct hash_task {
    struct pio_task task; /* first member: the pool hands it back */
    struct rec *recs;
    size_t from, to;
    uint8_t *stage; /* a slot of `stride` bytes per record of the group, or NULL */
    size_t stride;
};

/* Where each BLAKE3 chunk of record r is, into chunks[0, ceil(len / 1024)):
 * a chunk that lies within one piece (most of an array) is read where it
 * is; one that straddles pieces (the header and the first atoms, an
 * array's end and its padding) is copied to the same offset of `slot`. */
static void rec_chunks(const struct rec *r, uint8_t *slot, const uint8_t **chunks)
{
    size_t len = (size_t)r->lay.length, lo = 0, piece0 = 0; /* record offset of piece i */
    int i = 0;
    for (size_t c = 0; lo < len; c++, lo += PIO_BLAKE3_CHUNK_LEN) {
        size_t hi = PIO_MIN(lo + PIO_BLAKE3_CHUNK_LEN, len);
        while (piece0 + r->iov[i].iov_len <= lo)
            piece0 += r->iov[i++].iov_len;
        if (hi <= piece0 + r->iov[i].iov_len) {
            chunks[c] = (const uint8_t *)r->iov[i].iov_base + (lo - piece0);
            continue;
        }
        size_t at = lo, p0 = piece0;
        for (int j = i; at < hi; p0 += r->iov[j++].iov_len) {
            size_t take = PIO_MIN(hi, p0 + r->iov[j].iov_len) - at;
            memcpy(slot + at, (const uint8_t *)r->iov[j].iov_base + (at - p0), take);
            at += take;
        }
        chunks[c] = slot + lo;
    }
}

/* Records of one size (a trajectory's frames mostly are) are hashed
 * PIO_B3_EQUAL_MAX at a time, every node of their trees in SIMD lanes: a
 * lone small record hashes its last chunk, parents and root one
 * compression at a time (measured: 711-atom frames, BLAKE3 ~3 us of the
 * sink's ~8 us per frame). Only the chunks that straddle pieces are
 * copied (711 atoms: 1.6 of 8.8 KB; gathering whole records cost a 711-atom
 * XTC to HOLO ~3% of its speed). */
static void hash_task_run(struct pio_task *t)
{
    struct hash_task *h = (struct hash_task *)t;
    for (size_t k = h->from; k < h->to;) {
        uint64_t len = h->recs[k].lay.length;
        size_t m = 1;
        while (k + m < h->to && m < PIO_B3_EQUAL_MAX && h->recs[k + m].lay.length == len)
            m++;
        if (m < 2 || !h->stage || len > h->stride || len % 64 != 0) {
            rec_hash(&h->recs[k++]);
            continue;
        }
        size_t nch = ((size_t)len + PIO_BLAKE3_CHUNK_LEN - 1) / PIO_BLAKE3_CHUNK_LEN;
        const uint8_t *chunks[PIO_B3_EQUAL_MAX * (HOLO_GATHER_MAX / PIO_BLAKE3_CHUNK_LEN)];
        uint8_t out[PIO_B3_EQUAL_MAX * 32];
        for (size_t j = 0; j < m; j++)
            rec_chunks(&h->recs[k + j], h->stage + (k + j) * h->stride, chunks + j * nch);
        pio_b3_hash_equal_chunks(chunks, m, (size_t)len, out);
        for (size_t j = 0; j < m; j++)
            memcpy(h->recs[k + j].hdr + HOLO_HASH_OFF, out + 32 * j, 32);
        k += m;
    }
}

#define GROUP 64 /* records per pwritev and per round of parallel hashing */

/* append_many of a writer that makes blocks: as appends, but full blocks
 * small enough are queued and coded QUEUE_MAX at a time on the pool. */
static int append_blocks(pio_writer *w, const struct pio_frame *frames, size_t n,
                         struct pio_error *err)
{
    unsigned par = w->hash_threads ? w->hash_threads : pio_cpu_count();
    par = PIO_MIN(par, (unsigned)QUEUE_MAX);
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        const struct pio_frame *f = &frames[k];
        uint64_t t0 = pio_tm_start(), end0 = w->end, frame = w->nframes;
        if (par < 2 || !blockable(w, f)) {
            rc = append_one(w, f, err);
        } else if ((rc = check_usable(w, err)) == 0 &&
                   (pend_fits(w, f) || (rc = pend_flush(w, err)) == 0) &&
                   (rc = pend_add(w, f, err)) == 0) {
            struct pend *p = &w->pend;
            uint64_t arrays = (p->arr[0] != NULL) + (p->arr[1] != NULL) + (p->arr[2] != NULL);
            if (p->n < p->cap) {
                /* held */
            } else if ((uint64_t)p->cap * p->natoms * 12 * arrays > QUEUE_BYTES ||
                       (w->nqueued >= par && (rc = queue_flush(w, err)) != 0)) {
                /* too large to queue, or a queue that failed before is
                 * full: written now, or (as append_one) this frame not
                 * held either */
                if (rc != 0 || (rc = pend_flush(w, err)) != 0)
                    p->n--;
            } else {
                /* full: to the queue (the slot's old buffers are pend's now) */
                struct pend t = w->queued[w->nqueued];
                w->queued[w->nqueued++] = *p;
                *p = t;
                p->n = 0;
                if (w->nqueued >= par)
                    rc = queue_flush(w, err);
            }
        }
        pio_tm_end(PIO_OP_WRITE, w->io.engine, (uint64_t)w->fd, frame, w->end - end0, t0, rc);
    }
    /* the complete blocks go to the file even when a frame was refused (as
     * appends one by one would have written them) */
    struct pio_error qerr;
    int qrc = queue_flush(w, rc ? &qerr : err);
    return rc ? rc : qrc;
}

PIO_API int pio_writer_append_many(pio_writer *w, const struct pio_frame *frames, size_t n,
                                   struct pio_error *err)
{
    int rc = check_usable(w, err);
    if (rc || n == 0)
        return rc;
    if (w->keyframe > 1 && w->dfd < 0 && !w->wq)
        return append_blocks(w, frames, n, err);
    /* Staged engines (O_DIRECT, io_uring) copy each record anyway; blocks
     * hold the frames. */
    if (w->dfd >= 0 || w->wq || w->keyframe > 1) {
        for (size_t k = 0; k < n && rc == 0; k++)
            rc = pio_writer_append(w, &frames[k], err);
        return rc;
    }
    if ((rc = write_meta(w, err)) != 0)
        return rc;
    struct rec *recs = malloc(GROUP * sizeof(*recs));
    struct iovec *iov = malloc(GROUP * 9 * sizeof(*iov));
    if (!recs || !iov) {
        free(recs);
        free(iov);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", w->path);
    }
    unsigned nthr = w->hash_threads ? w->hash_threads : pio_cpu_count();
    for (size_t base = 0; base < n && rc == 0; base += GROUP) {
        size_t m = PIO_MIN((size_t)GROUP, n - base), ready = 0;
        uint64_t t0 = pio_tm_start(), end0 = w->end, frame = w->nframes;
        if ((rc = entries_reserve(w, m, err)) != 0)
            break;
        for (; ready < m; ready++)
            if ((rc = rec_prepare(w, &frames[base + ready], w->nframes + ready, &recs[ready],
                                  err)) != 0)
                break;
        if (rc == 0) {
            /* hash on hash_threads (every CPU by default): a task each, the caller runs one */
            uint64_t bytes = 0, stride = 0;
            for (size_t k = 0; k < m; k++) {
                bytes += recs[k].lay.length;
                stride = PIO_MAX(stride, recs[k].lay.length);
            }
            /* gather slots for hashing records of one size together (kept
             * from group to group; without them, one at a time) */
            uint8_t *stage = NULL;
            if (stride <= HOLO_GATHER_MAX) {
                size_t need = (size_t)stride * m;
                if (need > w->hash_stage_cap) {
                    uint8_t *p = realloc(w->hash_stage, need);
                    if (p) {
                        w->hash_stage = p;
                        w->hash_stage_cap = need;
                    }
                }
                if (need <= w->hash_stage_cap)
                    stage = w->hash_stage;
            }
            size_t ntask = bytes >= ((uint64_t)1 << 18) ? PIO_MIN((size_t)nthr, m) : 1;
            struct hash_task tasks[64];
            bool queued[64] = {false};
            ntask = PIO_MIN(ntask, PIO_ARRAY_LEN(tasks));
            for (size_t t = 0; t < ntask; t++)
                tasks[t] = (struct hash_task){{hash_task_run, NULL, NULL, PIO_TASK_QUEUED},
                                              recs,
                                              m * t / ntask,
                                              m * (t + 1) / ntask,
                                              stage,
                                              stride};
            for (size_t t = 1; t < ntask; t++)
                queued[t] = pio_workers_submit(&tasks[t].task, nthr - 1);
            for (size_t t = 0; t < ntask; t++)
                if (!queued[t]) /* ours, or no pool (after fork) */
                    hash_task_run(&tasks[t].task);
            for (size_t t = 1; t < ntask; t++)
                if (queued[t])
                    pio_workers_wait(&tasks[t].task);
            int cnt = 0;
            for (size_t k = 0; k < m; k++)
                for (int i = 0; i < recs[k].n; i++)
                    iov[cnt++] = recs[k].iov[i];
            if ((rc = pio__holo_pwritev_all(w->fd, iov, cnt, w->end)) != 0) {
                if (ftruncate(w->fd, (off_t)w->end) != 0)
                    w->failed = rc;
                pio_error_set(err, rc, "%s: frames %llu to %llu at offset 0x%llx: write failed: %s",
                              w->path, OFFX(w->nframes), OFFX(w->nframes + m - 1), OFFX(w->end),
                              pio_strerror(rc));
            }
            for (size_t k = 0; k < m && rc == 0; k++)
                rc = rec_commit(w, &recs[k], err);
        }
        for (size_t k = 0; k < ready; k++)
            rec_free(&recs[k]);
        pio_tm_end(PIO_OP_WRITE, w->io.engine, (uint64_t)w->fd, frame, w->end - end0, t0, rc);
        if (rc == 0)
            start_writeback(w);
    }
    free(recs);
    free(iov);
    return rc;
}

static int sync_or_fail(pio_writer *w, const char *what, struct pio_error *err)
{
    if (w->flags & PIO_WRITER_NO_SYNC)
        return 0;
    uint64_t t0 = pio_tm_start();
    int rc = fdatasync(w->fd) == 0 ? 0 : -errno;
    pio_tm_end(PIO_OP_FSYNC, 0, (uint64_t)w->fd, UINT64_MAX, 0, t0, rc);
    if (rc == 0)
        return 0;
    w->failed = rc;
    return pio_error_set(err, w->failed, "%s: fdatasync %s failed: %s (commit lost)", w->path, what,
                         pio_strerror(w->failed));
}

PIO_API int pio_writer_commit(pio_writer *w, struct pio_error *err)
{
    uint64_t t0 = pio_tm_start();
    int rc = commit_one(w, false, err);
    pio_tm_end(PIO_OP_COMMIT, 0, (uint64_t)w->fd, w->nframes, 0, t0, rc);
    return rc;
}

/* 2.0: what a commit appends (docs/FORMAT.md): a COMMIT record with the
 * entries since the previous commit and back links to earlier ones, or,
 * when the doubling rule asks (or `final` finds a long chain), a FULL
 * INDEX of every frame and a COMMIT record that starts a new chain.
 * *hash gets the COMMIT record's hash; *full_len the FULL INDEX's length
 * (0: none); *chain the new commit's number. */
static int build_commit_v2(pio_writer *w, bool final, const uint8_t digest[32], uint8_t **out,
                           uint64_t *out_len, uint64_t *full_len, uint64_t *chain)
{
    uint64_t nf = w->nframes, since = nf - w->full_n;
    bool full = (since >= PIO_MAX(w->full_n, HOLO_FULL_MIN)) || (final && since > HOLO_FULL_MIN) ||
                w->truncate_to != UINT64_MAX;
    struct holo_commit_in in = {0};
    in.nframes = nf;
    in.flags = (final ? HOLO_COMMIT_FINAL : 0) | (w->meta_rec_off ? HOLO_COMMIT_META : 0);
    in.align = w->dfd >= 0 || w->align_next ? HOLO_COMMIT_ALIGN : 0;
    memcpy(in.digest, digest, 32);
    uint8_t *fbuf = NULL, links[64 * HOLO_LINK_SIZE];
    uint64_t flen = 0;
    int rc;
    if (full) {
        if ((rc = pio__holo_build_full(w->entries, nf, w->salt, &fbuf, &flen, in.full_head)) != 0)
            return rc;
        in.first = nf;
        in.chain = 0;
        in.full_off = w->end;
        in.full_n = nf;
    } else {
        if (nf - w->committed_frames > UINT32_MAX)
            return PIO_ELIMIT;
        in.first = w->committed_frames;
        in.entries = w->entries + in.first;
        in.nentries = (uint32_t)(nf - in.first);
        in.chain = w->chain + 1;
        in.full_off = w->full_off;
        in.full_n = w->full_n;
        memcpy(in.full_head, w->full_head, 32);
        in.nlinks = holo_nlinks(in.chain, w->full_off != 0);
        for (uint32_t j = 0; j < in.nlinks; j++) {
            uint8_t *l = links + (size_t)j * HOLO_LINK_SIZE;
            holo_wr64(l, w->level[j].off);
            holo_wr64(l + 8, w->level[j].nframes);
            memcpy(l + 16, w->level[j].hash, 32);
        }
        in.links = links;
    }
    in.off = w->end + flen;
    uint8_t *cbuf;
    uint64_t clen;
    if ((rc = pio__holo_build_commit(&in, w->salt, &cbuf, &clen)) != 0) {
        free(fbuf);
        return rc;
    }
    uint8_t *buf = fbuf ? realloc(fbuf, (size_t)(flen + clen)) : cbuf;
    if (!buf) {
        free(fbuf);
        free(cbuf);
        return -ENOMEM;
    }
    if (fbuf) {
        memcpy(buf + flen, cbuf, (size_t)clen);
        free(cbuf);
    }
    *out = buf;
    *out_len = flen + clen;
    *full_len = flen;
    *chain = in.chain;
    return 0;
}

/* 2.0: the commit at `off` (its record in buf) is in the file: it is the
 * newest of its chain and the target of later back links. */
static void chain_advance(pio_writer *w, const uint8_t *rec, uint64_t off, uint64_t chain,
                          uint64_t full_off)
{
    uint32_t top = chain == 0 ? 64 : (uint32_t)__builtin_ctzll(chain) + 1;
    for (uint32_t j = 0; j < top; j++) {
        w->level[j].off = off;
        w->level[j].nframes = w->nframes;
        memcpy(w->level[j].hash, rec + HOLO_HASH_OFF, 32);
    }
    w->chain = chain;
    if (chain == 0) {
        w->full_off = full_off;
        w->full_n = w->nframes;
        memcpy(w->full_head, rec + 104, 32);
    }
}

/* pio_writer_truncate's view: frames 0 .. truncate_to - 1, and the running
 * digest over their records' stored hashes (read back: the records are
 * in the file, synced). 0 or -errno. */
static int truncate_view(pio_writer *w)
{
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    uint8_t hash[32];
    if (w->meta_rec_off) {
        if (pread(w->fd, hash, 32, (off_t)(w->meta_rec_off + HOLO_HASH_OFF)) != 32)
            return -EIO;
        pio_blake3_hasher_update(&h, hash, 32);
    }
    for (uint64_t i = 0; i < w->truncate_to; i++) {
        if (i > 0 && w->entries[i].offset == w->entries[i - 1].offset)
            continue; /* a block's frames: its record once */
        ssize_t n = pread(w->fd, hash, 32, (off_t)(w->entries[i].offset + HOLO_HASH_OFF));
        if (n != 32)
            return n < 0 ? -errno : -EIO;
        pio_blake3_hasher_update(&h, hash, 32);
    }
    w->digest = h;
    w->nframes = w->truncate_to;
    if (w->committed_frames > w->nframes)
        w->committed_frames = w->nframes;
    return 0;
}

PIO_API int pio_writer_truncate(pio_writer *w, uint64_t nframes, struct pio_error *err)
{
    int rc = check_usable(w, err);
    if (rc)
        return rc;
    if (!w->v2)
        return pio_error_set(err, PIO_EVERSION,
                             "%s: a HOLO 1.x file cannot drop frames in place (copy the frames "
                             "to keep into a new file: prismio convert --frames)",
                             w->path);
    if ((rc = pend_flush(w, err)) != 0)
        return rc;
    if (nframes > w->nframes)
        return pio_error_set(err, -ERANGE, "%s: cannot keep %llu frames of %llu", w->path,
                             OFFX(nframes), OFFX(w->nframes));
    uint64_t t0 = pio_tm_start();
    uint64_t before = w->nframes;
    w->truncate_to = nframes;
    w->dirty = true;
    rc = commit_one(w, false, err);
    w->truncate_to = UINT64_MAX;
    if (rc != 0 && w->nframes != before && !w->failed)
        w->failed = rc; /* its view and the file's newest commit now differ */
    pio_tm_end(PIO_OP_COMMIT, 0, (uint64_t)w->fd, w->nframes, 0, t0, rc);
    return rc;
}

static int commit_one(pio_writer *w, bool final, struct pio_error *err)
{
    int rc = check_usable(w, err);
    if (rc)
        return rc;
    if ((rc = pend_flush(w, err)) != 0) /* a commit ends the block */
        return rc;
    if ((rc = write_meta(w, err)) != 0)
        return rc;
    if (!w->dirty && !(final && w->v2 && !w->final_on_disk))
        return 0;
    if (w->dfd >= 0 && ((rc = stage_flush(w, false)) != 0 || (rc = direct_wait(w)) != 0)) {
        w->failed = rc;
        return pio_error_set(err, rc, "%s: O_DIRECT write at offset 0x%llx failed: %s", w->path,
                             OFFX(w->flush.rc ? w->flush.off : w->stage_off), pio_strerror(rc));
    }
    if (w->wq && (rc = pio_io_wq_drain(w->wq)) != 0)
        return check_usable(w, err);
    if ((rc = sync_or_fail(w, "of the frames", err)) != 0)
        return rc;
    uint8_t digest[32];
    pio_blake3_hasher_finalize(&w->digest, digest, 32);
    uint8_t *buf;
    uint64_t len, full_len = 0, chain = 0;
    if (w->v2 && w->truncate_to != UINT64_MAX && (rc = truncate_view(w)) != 0)
        return pio_error_set(err, rc, "%s: reading back the records kept: %s", w->path,
                             pio_strerror(rc));
    if (w->truncate_to != UINT64_MAX) /* the digest of the frames kept */
        pio_blake3_hasher_finalize(&w->digest, digest, 32);
    if (w->v2)
        rc = build_commit_v2(w, final, digest, &buf, &len, &full_len, &chain);
    else
        rc = pio__holo_build_index(w->entries, w->nframes, w->meta_rec_off, w->meta_rec_len, digest,
                                   w->salt, w->end, &buf, &len);
    if (rc != 0)
        return pio_error_set(err, rc, "%s: building the index: %s", w->path, pio_strerror(rc));
    if (w->dfd >= 0) {
        /* The footer ends block-aligned, so the stage now does too. */
        size_t at = 0;
        struct iovec iov = {buf, (size_t)len};
        rc = stage_add(w, &iov, 1, &at, NULL);
        if (rc == 0)
            rc = stage_flush(w, true);
        if (rc == 0 && w->wq)
            rc = pio_io_wq_drain(w->wq);
        if (rc != 0)
            w->failed = rc;
    } else {
        rc = pio__holo_pwrite_all(w->fd, buf, (size_t)len, w->end);
    }
    if (rc != 0) {
        free(buf);
        if (ftruncate(w->fd, (off_t)w->end) != 0)
            w->failed = rc;
        return pio_error_set(err, rc, "%s: writing the index at offset 0x%llx: %s", w->path,
                             OFFX(w->end), pio_strerror(rc));
    }
    if (w->v2)
        chain_advance(w, buf + full_len, w->end + full_len, chain, w->end);
    free(buf);
    w->end += len;
    if ((rc = sync_or_fail(w, "of the index", err)) != 0)
        return rc;
    if (w->is_new && !(w->flags & PIO_WRITER_NO_SYNC)) {
        if ((rc = pio_io_fsync_dir(w->path)) != 0) {
            w->failed = rc;
            return pio_error_set(err, rc, "%s: fsync of its directory failed: %s", w->path,
                                 pio_strerror(rc));
        }
        w->is_new = false;
    }
    w->committed_frames = w->nframes;
    w->dirty = false;
    w->final_on_disk = final;
    return 0;
}

PIO_API int pio_writer_close(pio_writer *w, struct pio_error *err)
{
    if (!w)
        return 0;
    uint64_t t0 = pio_tm_start();
    int rc = commit_one(w, true, err);
    pio_tm_end(PIO_OP_COMMIT, 0, (uint64_t)w->fd, w->nframes, 0, t0, rc);
    if (rc == 0 && close(w->fd) != 0) {
        rc = -errno;
        pio_error_set(err, rc, "%s: close failed: %s", w->path, pio_strerror(rc));
    }
    if (rc == 0)
        w->fd = -1;
    writer_free(w);
    return rc;
}

PIO_API uint64_t pio_writer_nframes(const pio_writer *w)
{
    return w->nframes + queued_frames(w) + w->pend.n;
}

PIO_API int pio_writer_io_info(const pio_writer *w, struct pio_io_info *out)
{
    *out = w->io;
    return 0;
}

/* ---- records placed by the caller (the MPI writer: docs/SCALING.md) ---- */

int pio__writer_encoder(pio_writer **out, const char *path, const struct pio_writer_options *opts,
                        const uint8_t salt[16], struct pio_error *err)
{
    *out = NULL;
    pio_writer *w = writer_alloc(path, opts);
    if (!w)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    int rc = check_codecs(w, err);
    if (rc != 0) {
        writer_free(w);
        return rc;
    }
    w->v2 = !(w->flags & PIO_WRITER_FORMAT_1);
    memcpy(w->salt, salt, 16);
    w->meta_done = true; /* nothing of its own to write */
    *out = w;
    return 0;
}

void pio__writer_discard(pio_writer *w)
{
    if (w)
        writer_free(w);
}

const uint8_t *pio__writer_salt(const pio_writer *w)
{
    return w->salt;
}

int pio__writer_encode(pio_writer *w, const struct pio_frame *f, uint64_t seq, uint8_t **buf,
                       size_t *cap, size_t at, uint64_t *len, struct pio_error *err)
{
    struct rec r;
    int rc = rec_prepare(w, f, seq, &r, err);
    if (rc != 0)
        return rc;
    if (r.lay.length > SIZE_MAX / 4 || at > SIZE_MAX / 4) {
        rec_free(&r);
        return pio_error_set(err, PIO_ELIMIT, "%s: frame %llu: record of %llu bytes", w->path,
                             OFFX(seq), OFFX(r.lay.length));
    }
    if (*cap < at + r.lay.length) {
        size_t want = PIO_MAX(at + (size_t)r.lay.length, *cap + *cap / 2);
        uint8_t *b = realloc(*buf, want);
        if (!b) {
            rec_free(&r);
            return pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory for its record",
                                 w->path, OFFX(seq));
        }
        *buf = b;
        *cap = want;
    }
    uint8_t *dst = *buf + at;
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    copy_hash(dst, r.iov, r.n, &h);
    pio_blake3_hasher_finalize(&h, dst + HOLO_HASH_OFF, 32);
    *len = r.lay.length;
    rec_free(&r);
    return 0;
}

int pio__writer_tail(pio_writer *w, uint64_t *end, struct pio_error *err)
{
    int rc = check_usable(w, err);
    if (rc == 0 && (w->dfd >= 0 || w->wq || w->pend.n || w->nqueued))
        rc = pio_error_set(err, PIO_EUSAGE,
                           "%s: records placed by the caller need a buffered pwrite writer "
                           "with no frames held",
                           w->path);
    if (rc == 0)
        rc = write_meta(w, err);
    *end = w->end;
    return rc;
}

int pio__writer_adopt(pio_writer *w, const struct pio__placed *p, uint64_t n, struct pio_error *err)
{
    uint64_t end;
    int rc = pio__writer_tail(w, &end, err);
    if (rc == 0)
        rc = entries_reserve(w, n, err);
    if (rc != 0)
        return rc;
    for (uint64_t i = 0, at = end; i < n; at += p[i++].length)
        if (p[i].offset != at || p[i].length < HOLO_FRAME_HDR || p[i].length % 64)
            return pio_error_set(err, PIO_EUSAGE,
                                 "%s: frame %llu: placed record at offset 0x%llx (%llu bytes) "
                                 "does not follow the one before it",
                                 w->path, OFFX(w->nframes + i), OFFX(p[i].offset),
                                 OFFX(p[i].length));
    for (uint64_t i = 0; i < n; i++) {
        w->entries[w->nframes] =
            (struct holo_entry){p[i].offset, p[i].length, p[i].step, p[i].time};
        pio_blake3_hasher_update(&w->digest, p[i].hash, 32);
        w->nframes++;
        w->end += p[i].length;
        w->dirty = true;
    }
    return 0;
}

int pio__writer_shell(pio_writer *w, const struct pio_frame *f, uint64_t seq,
                      struct pio__frame_shell *out, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    if (w->codec[0] || w->codec[1] || w->codec[2])
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: frame %llu: a frame written by atom ranges is raw (no codec)",
                             w->path, OFFX(seq));
    struct rec r;
    int rc = rec_prepare(w, f, seq, &r, err); /* the arrays are placed, not read */
    if (rc != 0)
        return rc;
    /* iov: header, then per array its values and padding, then scalars
     * and their padding */
    const float(*arrays[3])[3] = {f->positions, f->velocities, f->forces};
    uint64_t at = HOLO_FRAME_HDR;
    int k = 1;
    for (int a = 0; a < 3; a++) {
        if (!arrays[a])
            continue;
        out->array_off[a] = at;
        at += r.iov[k].iov_len + r.iov[k + 1].iov_len;
        k += 2;
    }
    out->array_pad = r.lay.array_bytes - f->natoms * 12;
    out->tail_len = r.iov[k].iov_len + r.iov[k + 1].iov_len;
    if (out->tail_len && !(out->tail = calloc(1, (size_t)out->tail_len))) {
        rec_free(&r);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", w->path);
    }
    if (r.iov[k].iov_len)
        memcpy(out->tail, r.iov[k].iov_base, r.iov[k].iov_len);
    out->tail_off = at;
    out->length = r.lay.length;
    memcpy(out->head, r.hdr, HOLO_FRAME_HDR);
    rec_free(&r);
    return 0;
}
