/*
 * mpi: `mpirun -np N prismio convert IN OUT.holo` (pio_mpi_convert).
 *
 * Every rank opens IN and selects the same frames; rank r converts the
 * r-th block of them through its own pipeline. The records' offsets are
 * agreed before anything is converted: rank 0 runs the pipeline over the
 * first selected frame alone and encodes it, so every rank knows the
 * record length each frame will have (raw FRAME records: fixed by the
 * atoms, fields and scalars); rank r's first record goes at the end of the
 * META record plus that length times the frames of the ranks before it.
 * Each rank then writes its records with MPI_File_write_at as they are
 * made, and the index gathered to rank 0 is committed once, as the serial
 * sink commits: the file is the serial conversion's, byte for byte (the
 * same salt given).
 */
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mpi/mpi_internal.h"

#include "formats/pio_formats.h"
#include "io/pio_io.h"

#include "common/pio_common.h"

#define STAGE_BYTES ((size_t)8 << 20)

/* ---- rank 0's look at the first frame: the META record and the record length ---- */

struct first_sink {
    pio_writer *w;           /* rank 0's: topology and metadata set from what the pipeline gives */
    const char *const *meta; /* then pio_sink_options.metadata's */
    uint64_t reclen;
};

static int first_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    struct first_sink *s = ctx;
    int rc = 0;
    if (info->topology)
        rc = pio_writer_set_topology(s->w, info->topology, err);
    for (uint64_t i = 0; rc == 0 && i < info->nmeta; i++)
        if (!pio__meta_has(s->meta, info->meta_keys[i]))
            rc = pio_writer_set_metadata(s->w, info->meta_keys[i], info->meta_values[i], err);
    for (const char *const *m = s->meta; rc == 0 && m && m[0]; m += 2)
        if (!pio__meta_has(m + 2, m[0]))
            rc = pio_writer_set_metadata(s->w, m[0], m[1] ? m[1] : "", err);
    return rc;
}

static int first_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct first_sink *s = ctx;
    if (b->nframes == 0 || s->reclen)
        return 0;
    struct pio_frame f;
    pio_batch_frame(b, 0, &f);
    uint8_t *rec = NULL;
    size_t cap = 0;
    int rc = pio__writer_encode(s->w, &f, 0, &rec, &cap, 0, &s->reclen, err);
    free(rec);
    return rc;
}

static int first_end(void *ctx, bool ok, struct pio_error *err)
{
    (void)ctx;
    (void)ok;
    (void)err;
    return 0;
}

/* ---- each rank's records ---- */

struct part_sink {
    pio_mpi_writer *w;
    const char *out;
    uint64_t seq;     /* frame number of the next record */
    uint64_t base;    /* file offset of this rank's first record */
    uint64_t reclen;  /* every record's length */
    uint64_t staged;  /* records in the stage */
    uint64_t written; /* records in the file */
    uint8_t *stage;   /* records to write, encoded in place */
    size_t scap, slen;
    struct pio__placed *placed; /* count entries */
    uint64_t count;
};

static int part_flush(struct part_sink *s, struct pio_error *err)
{
    uint64_t off = s->base + s->written * s->reclen;
    for (size_t at = 0; at < s->slen;) {
        int cnt = (int)PIO_MIN(s->slen - at, (size_t)1 << 30);
        MPI_Status st;
        int m =
            MPI_File_write_at(s->w->fh, (MPI_Offset)(off + at), s->stage + at, cnt, MPI_BYTE, &st);
        int got = 0;
        if (m == MPI_SUCCESS)
            MPI_Get_count(&st, MPI_BYTE, &got);
        if (m != MPI_SUCCESS)
            return pio__mpi_fail(err, m, s->out, "MPI_File_write_at");
        if (got != cnt)
            return pio_error_set(err, -EIO, "%s: frame %llu: short write at offset 0x%llx", s->out,
                                 (unsigned long long)(s->seq - s->staged),
                                 (unsigned long long)(off + at));
        at += (size_t)cnt;
    }
    pio__mpi_writeback(s->w, off, s->slen);
    s->written += s->staged;
    s->staged = 0;
    s->slen = 0;
    return 0;
}

static int part_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    (void)ctx;
    (void)info;
    (void)err;
    return 0;
}

static int part_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct part_sink *s = ctx;
    if (b->precision != PIO_FLOAT32 || b->length_unit != PIO_UNIT_NM)
        return pio_error_set(err, PIO_EUSAGE, "%s: HOLO stores float32 nm", s->out);
    for (uint32_t i = 0; i < b->nframes; i++) {
        struct pio_frame f;
        pio_batch_frame(b, i, &f);
        uint64_t k = s->written + s->staged, len = 0;
        if (k >= s->count)
            return pio_error_set(err, PIO_EUSAGE, "%s: frame %llu: more frames than selected",
                                 s->out, (unsigned long long)s->seq);
        if (s->slen + s->reclen > STAGE_BYTES && s->slen) { /* the stage is full */
            int rc = part_flush(s, err);
            if (rc != 0)
                return rc;
        }
        int rc = pio__writer_encode(s->w->w, &f, s->seq, &s->stage, &s->scap, s->slen, &len, err);
        if (rc != 0)
            return rc;
        if (len != s->reclen)
            return pio_error_set(err, PIO_EUSAGE,
                                 "%s: frame %llu: its record is %llu bytes, the first frame's "
                                 "%llu: a parallel conversion needs frames of one shape (atoms, "
                                 "fields, scalars); convert this file without mpirun",
                                 s->out, (unsigned long long)s->seq, (unsigned long long)len,
                                 (unsigned long long)s->reclen);
        struct pio__placed *p = &s->placed[k];
        p->offset = s->base + k * s->reclen;
        p->length = len;
        p->step = f.step;
        p->time = f.time;
        memcpy(p->hash, s->stage + s->slen + 32, 32);
        s->slen += (size_t)len;
        s->staged++;
        s->seq++;
    }
    return s->slen >= STAGE_BYTES / 2 ? part_flush(s, err) : 0;
}

static int part_end(void *ctx, bool ok, struct pio_error *err)
{
    struct part_sink *s = ctx;
    if (!s->slen)
        return 0;
    if (ok)
        return part_flush(s, err);
    /* the run failed: the complete records staged before the failure are
     * still kept, if they can be written (the run's error stands) */
    struct pio_error ignored = {0};
    part_flush(s, &ignored);
    return 0;
}

/* IN opened on every rank (collective). An XTC's frames are found in
 * parallel: rank r scans the r-th share of the bytes from the first frame
 * header in it, and the shares must chain (each ends where the next
 * begins, the first at 0, the last at the end of the file); anything else
 * (damage, a torn last frame, a false start) and every rank scans the
 * whole file as a serial open does, which also says what is wrong. *sc
 * gets the offsets when they were found in parallel (free sc->off). */
struct scanned {
    uint64_t *off; /* the XTC's frame offsets, found in parallel (NULL: none) */
    uint64_t n;
    bool mixed;
};

/* IN opened once more (rank 0's look at the first frame): with the
 * offsets found in parallel, no scan. */
static int open_again(const char *in, const struct pio_source_options *so, const struct scanned *sc,
                      struct pio_source *src, struct pio_error *err)
{
    if (!sc->off)
        return pio_source_open(src, in, so, err);
    int rc = pio__xtc_source_scanned(src, in, sc->off, sc->n, sc->mixed, so->threads, err);
    return pio__source_finish(src, so, rc, err);
}

static int open_input(MPI_Comm comm, const char *in, const struct pio_source_options *so,
                      struct pio_source *src, struct scanned *sc, struct pio_error *err)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(sc, 0, sizeof(*sc));
    enum pio_format f = so->format ? so->format : pio_format_from_path(in);
    if (f != PIO_FORMAT_XTC || size < 2)
        return pio_source_open(src, in, so, err);
    struct stat sb;
    uint64_t fsize = rank == 0 && stat(in, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    MPI_Bcast(&fsize, 1, MPI_UINT64_T, 0, comm);
    uint64_t lo = (uint64_t)((unsigned __int128)fsize * (unsigned)rank / (unsigned)size);
    uint64_t hi = (uint64_t)((unsigned __int128)fsize * (unsigned)(rank + 1) / (unsigned)size);
    struct pio__xtc_range r = {0};
    bool bad = fsize == 0 || pio__xtc_scan_range(in, lo, hi, &r) != 0 || r.size != fsize;
    uint64_t mine[5] = {r.start, r.end, r.n, bad, r.mixed}, *all = malloc((size_t)size * 40);
    uint64_t ok = all != NULL, every = 0;
    int rc = -1; /* -1: not opened in parallel */
    MPI_Allreduce(&ok, &every, 1, MPI_UINT64_T, MPI_MIN, comm);
    if (every) {
        MPI_Allgather(mine, 5, MPI_UINT64_T, all, 5, MPI_UINT64_T, comm);
        uint64_t total = 0;
        for (int k = 0; ok && k < size; k++) {
            const uint64_t *a = all + 5 * k;
            ok = !a[3] && (k > 0 || a[0] == 0) && (k + 1 < size ? a[1] == a[5] : a[1] == fsize);
            total += a[2];
        }
        ok = ok && total > 0 && total <= INT_MAX; /* the same on every rank */
        int *counts = ok ? malloc((size_t)size * sizeof(int)) : NULL;
        int *displs = ok ? malloc((size_t)size * sizeof(int)) : NULL;
        uint64_t *off = ok ? malloc((size_t)total * sizeof(*off)) : NULL;
        uint64_t have = counts && displs && off;
        MPI_Allreduce(&have, &every, 1, MPI_UINT64_T, MPI_MIN, comm);
        if (ok && every) {
            bool mixed = false;
            for (int k = 0, at = 0; k < size; k++) {
                counts[k] = (int)all[5 * k + 2];
                displs[k] = at;
                at += counts[k];
                mixed = mixed || all[5 * k + 4];
            }
            MPI_Allgatherv(r.off, counts[rank], MPI_UINT64_T, off, counts, displs, MPI_UINT64_T,
                           comm);
            rc = pio__xtc_source_scanned(src, in, off, total, mixed, so->threads, err);
            rc = pio__source_finish(src, so, rc, err);
            if (rc == 0) { /* kept, for open_again */
                sc->off = off;
                sc->n = total;
                sc->mixed = mixed;
                off = NULL;
            }
        }
        free(off);
        free(counts);
        free(displs);
    }
    free(all);
    free(r.off);
    return rc != -1 ? rc : pio_source_open(src, in, so, err); /* the serial scan */
}

/* A sink of float32 nm frames (the pipeline's own, nothing to destroy). */
static struct pio_sink sink_of(const char *name, void *ctx,
                               int (*begin)(void *, const struct pio_source_info *,
                                            struct pio_error *),
                               int (*write)(void *, const struct pio_batch *, struct pio_error *),
                               int (*end)(void *, bool, struct pio_error *))
{
    struct pio_sink s = PIO_SINK_INIT;
    s.name = name;
    s.ctx = ctx;
    s.precision = PIO_FLOAT32;
    s.length_unit = PIO_UNIT_NM;
    s.begin = begin;
    s.write = write;
    s.end = end;
    return s;
}

/* A pio_select_frames spec of sel[0..n) (n > 0), in order. */
static char *block_spec(const uint64_t *sel, uint64_t n)
{
    int64_t step = n > 1 ? (int64_t)(sel[1] - sel[0]) : 1;
    bool arith = step > 0;
    for (uint64_t i = 2; arith && i < n; i++)
        arith = (int64_t)(sel[i] - sel[i - 1]) == step;
    size_t cap = arith ? 64 : (size_t)n * 21 + 1;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    if (arith) {
        snprintf(s, cap, "%" PRIu64 ":%" PRIu64 ":%" PRId64, sel[0], sel[n - 1] + 1, step);
        return s;
    }
    size_t at = 0;
    for (uint64_t i = 0; i < n; i++)
        at += (size_t)snprintf(s + at, cap - at, i ? ",%" PRIu64 : "%" PRIu64, sel[i]);
    return s;
}

/* Formats whose file is its frames back to back, nothing else: a file of
 * frames 0..k-1 followed by one of frames k.. is the file of them all. */
static bool frames_back_to_back(enum pio_format f)
{
    return f == PIO_FORMAT_XTC || f == PIO_FORMAT_TRR;
}

/* Copy the file `from` into fd at `off` (copy_file_range, else read and
 * pwrite); *copied gets the bytes copied. 0 or -errno. */
static int copy_into(const char *from, int fd, uint64_t off, uint64_t *copied)
{
    *copied = 0;
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int rc = 0;
    loff_t src = 0, dst = (loff_t)off;
    char *buf = NULL;
    for (;;) {
        ssize_t n = copy_file_range(in, &src, fd, &dst, (size_t)1 << 30, 0);
        if (n > 0)
            continue;
        if (n == 0) /* the end, or a file system that stops early: the caller counts */
            break;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
            rc = -errno;
            break;
        }
        /* the kernel will not: by hand, from where it stopped */
        if (!(buf = malloc((size_t)1 << 20))) {
            rc = -ENOMEM;
            break;
        }
        for (;;) {
            ssize_t got = pread(in, buf, (size_t)1 << 20, src);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                rc = got < 0 ? -errno : 0;
                break;
            }
            for (ssize_t put = 0, k; put < got; put += k)
                if ((k = pwrite(fd, buf + put, (size_t)(got - put), dst + put)) <= 0) {
                    if (k < 0 && errno == EINTR) {
                        k = 0;
                        continue;
                    }
                    rc = k < 0 ? -errno : -EIO;
                    break;
                }
            if (rc != 0)
                break;
            src += got;
            dst += got;
        }
        break;
    }
    free(buf);
    *copied = (uint64_t)src;
    close(in);
    return rc;
}

/* XTC needs one atom count in the whole file; each rank's sink sees only
 * its block, so the pipeline's last transform notes every frame's (the
 * caller's own transform, if any, runs first). */
struct atoms_seen {
    int (*user)(void *ctx, struct pio_batch *b, struct pio_error *err);
    void *user_ctx;
    uint64_t min, max; /* __atomic: workers run this concurrently */
};

static int note_atoms(void *ctx, struct pio_batch *b, struct pio_error *err)
{
    struct atoms_seen *a = ctx;
    int rc = a->user ? a->user(a->user_ctx, b, err) : 0;
    for (uint32_t f = 0; rc == 0 && f < b->nframes; f++) {
        uint64_t n = b->natoms[f];
        uint64_t lo = __atomic_load_n(&a->min, __ATOMIC_RELAXED);
        while (n < lo && !__atomic_compare_exchange_n(&a->min, &lo, n, true, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED))
            ;
        uint64_t hi = __atomic_load_n(&a->max, __ATOMIC_RELAXED);
        while (n > hi && !__atomic_compare_exchange_n(&a->max, &hi, n, true, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED))
            ;
    }
    return rc;
}

/*
 * An output whose file is its frames back to back (XTC, TRR): every rank
 * converts its block with the format's own sink into a file beside OUT
 * (OUT.rankR), then the ranks copy theirs into OUT.part at offsets from
 * MPI_Exscan of their sizes and rank 0 renames it OUT: the serial
 * conversion's bytes, the output written twice (sizes are known only once
 * the frames are encoded). src is open on every rank, sel/nsel agreed. On
 * an error no OUT appears and the scratch files go.
 */
static int convert_concat(MPI_Comm comm, const char *out, struct pio_source *src,
                          const struct pio_sink_options *ko, const struct pio_pipeline_options *po,
                          const uint64_t *sel, uint64_t nsel, struct pio_mpi_convert_stats *st,
                          struct pio_error *err)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    char mine[4096], part[4096];
    snprintf(mine, sizeof(mine), "%s.rank%d", out, rank);
    snprintf(part, sizeof(part), "%s.part", out);
    enum pio_format fmt = ko->format ? ko->format : pio_format_from_path(out);
    struct stat sb;
    int rc = 0;
    if (strlen(out) > sizeof(mine) - 32)
        rc = pio_error_set(err, PIO_EUSAGE, "%s: path too long", out);
    else if (rank == 0 && !(ko->flags & PIO_SINK_OVERWRITE) && lstat(out, &sb) == 0)
        rc = pio_error_set(err, -EEXIST, "%s: exists (--overwrite replaces it)", out);
    if ((rc = pio__mpi_agree(comm, rc, err)) != 0)
        return rc;
    uint64_t first, count;
    pio_mpi_block(nsel, (uint32_t)rank, (uint32_t)size, &first, &count);
    struct pio_pipeline_stats pst = {0};
    struct atoms_seen seen = {po->transform, po->transform_ctx, UINT64_MAX, 0};
    char *spec = count ? block_spec(sel + first, count) : NULL;
    if (count && !spec)
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", out);
    if (rc == 0 && count) {
        struct pio_sink sink;
        struct pio_sink_options k = *ko;
        k.flags |= PIO_SINK_OVERWRITE;
        k.format = fmt; /* OUT.rankR's */
        struct pio_pipeline_options pr = *po;
        pr.frames = spec;
        pr.transform = note_atoms;
        pr.transform_ctx = &seen;
        if (rank != 0)
            pr.progress = NULL;
        if ((rc = pio_sink_open(&sink, mine, &k, err)) == 0) {
            rc = pio_pipeline_run(src, &sink, &pr, &pst, err);
            pio_sink_destroy(&sink);
        }
    }
    free(spec);
    pio__mpi_quiet_barrier(comm); /* until the last rank is done */
    uint64_t len = 0, at = 0, total = 0;
    if (rc == 0 && count) {
        if (stat(mine, &sb) == 0)
            len = (uint64_t)sb.st_size;
        else
            rc = pio_error_set(err, -errno, "%s: %s", mine, strerror(errno));
    }
    /* one atom count in an XTC (the serial sink refuses a change) */
    uint64_t mm[2] = {seen.max, UINT64_MAX - seen.min}, both[2] = {0, 0};
    MPI_Allreduce(mm, both, 2, MPI_UINT64_T, MPI_MAX, comm);
    if (rc == 0 && fmt == PIO_FORMAT_XTC && both[0] != UINT64_MAX - both[1] &&
        both[1] != UINT64_MAX /* no frame at all */)
        rc = pio_error_set(err, PIO_EUSAGE,
                           "%s: frames of %llu and of %llu atoms (XTC needs one count)", out,
                           (unsigned long long)(UINT64_MAX - both[1]), (unsigned long long)both[0]);
    bool made = false;
    if ((rc = pio__mpi_agree(comm, rc, err)) == 0) {
        MPI_Exscan(&len, &at, 1, MPI_UINT64_T, MPI_SUM, comm);
        if (rank == 0)
            at = 0;
        MPI_Allreduce(&len, &total, 1, MPI_UINT64_T, MPI_SUM, comm);
        int fd = rank == 0 ? open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
        if (rank == 0 && fd < 0)
            rc = pio_error_set(err, -errno, "%s: cannot create: %s", part, strerror(errno));
        made = fd >= 0;
        if (fd >= 0)
            close(fd);
        if ((rc = pio__mpi_agree(comm, rc, err)) == 0) {
            /* O_CREAT: a rank whose view of the directory lags (NFS) */
            fd = count ? open(part, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) : -1;
            uint64_t copied = 0;
            if (count && fd < 0)
                rc = -errno;
            if (rc == 0 && count && (rc = copy_into(mine, fd, at, &copied)) == 0 && copied != len)
                rc = -EIO;
            if (rc == 0 && count && fdatasync(fd) != 0)
                rc = -errno;
            if (rc != 0)
                pio_error_set(err, rc,
                              "%s: copying %s into it at offset 0x%llx: %s (%llu of %llu "
                              "bytes)",
                              part, mine, (unsigned long long)at, pio_strerror(rc),
                              (unsigned long long)copied, (unsigned long long)len);
            if (fd >= 0)
                close(fd);
            if ((rc = pio__mpi_agree(comm, rc, err)) == 0 && rank == 0) {
                if (stat(part, &sb) != 0 || (uint64_t)sb.st_size != total)
                    rc = pio_error_set(err, -EIO, "%s: %llu bytes, the ranks wrote %llu", part,
                                       (unsigned long long)(stat(part, &sb) == 0 ? sb.st_size : 0),
                                       (unsigned long long)total);
                else if (rename(part, out) != 0)
                    rc = pio_error_set(err, -errno, "%s: rename to %s: %s", part, out,
                                       strerror(errno));
                else
                    rc = pio_io_sync_dir_of(out, err);
            }
            rc = pio__mpi_agree(comm, rc, err);
        }
    }
    if (count) /* this rank's scratch file, and its sink's, if a failure left it */
        unlink(mine);
    if (count && rc != 0) {
        char p2[4200];
        snprintf(p2, sizeof(p2), "%s.part", mine);
        unlink(p2);
    }
    if (rc != 0 && made)
        unlink(part);
    uint64_t sums[2] = {rc == 0 ? count : 0, pst.bytes_in}, tot[2] = {0, 0};
    MPI_Allreduce(sums, tot, 2, MPI_UINT64_T, MPI_SUM, comm);
    st->frames = tot[0];
    st->my_frames = rc == 0 ? count : 0;
    st->bytes_in = tot[1];
    st->bytes_out = rc == 0 ? total : 0;
    st->created = rc == 0; /* a foreign OUT appears whole or not at all */
    return rc;
}

static int check_options(const char *out, const struct pio_sink_options *ko,
                         const struct pio_writer_options *wo, struct pio_error *err)
{
    enum pio_format fmt = ko->format ? ko->format : pio_format_from_path(out);
    if (fmt != PIO_FORMAT_HOLO && !frames_back_to_back(fmt))
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: a parallel conversion writes .holo, .xtc or .trr files "
                             "(convert to other formats without mpirun)",
                             out);
    if (ko->commit_frames)
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: a parallel conversion commits once, at the end: no commit "
                             "every N frames",
                             out);
    if (wo->codec[0] || wo->codec[1] || wo->codec[2] || wo->keyframe > 1)
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: a parallel conversion writes raw frames: no compression or "
                             "packed frames (compress afterwards: prismio compact)",
                             out);
    if (wo->flags & PIO_WRITER_DIRECT)
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: a parallel conversion writes through "
                             "MPI-IO: no O_DIRECT",
                             out);
    return 0;
}

PIO_API int pio_mpi_convert(MPI_Comm comm, const char *in, const char *out,
                            const struct pio_mpi_convert_options *o,
                            struct pio_mpi_convert_stats *stats, struct pio_error *err)
{
    double t0 = MPI_Wtime();
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    struct pio_mpi_convert_stats st = {(uint32_t)rank, (uint32_t)size, 0, 0, 0, 0, 0,
                                       false,          false,          ""};
    if (stats)
        *stats = st;
    struct pio_source_options so = PIO_SOURCE_OPTIONS_INIT;
    struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    int rc = 0;
    if (o && o->size < sizeof(*o))
        rc = pio_error_set(err, PIO_EUSAGE, "%s: options too old", out);
        /* each struct as far as its size says (an older, smaller one: the
         * members it has, the rest at their defaults) */
#define TAKE(dst, src) memcpy(&(dst), (src), PIO_MIN((size_t)(src)->size, sizeof(dst)))
    if (rc == 0 && o && o->source)
        TAKE(so, o->source);
    if (rc == 0 && o && o->sink)
        TAKE(ko, o->sink);
    if (rc == 0 && o && o->pipeline)
        TAKE(po, o->pipeline);
    if (rc == 0 && ko.writer)
        TAKE(wo, ko.writer);
#undef TAKE
    if (ko.flags & PIO_SINK_OVERWRITE)
        wo.flags |= PIO_WRITER_OVERWRITE;
    if (rc == 0)
        rc = check_options(out, &ko, &wo, err);
    if ((rc = pio__mpi_agree(comm, rc, err)) != 0)
        return rc;

    /* every rank: IN open, the same selection */
    struct pio_source src = PIO_SOURCE_INIT;
    struct pio_source_info info = {0};
    uint64_t *sel = NULL, nsel = 0;
    struct scanned sc;
    rc = open_input(comm, in, &so, &src, &sc, err);
    bool parallel_scan = sc.off != NULL;
    if (rc == 0)
        rc = src.info(src.ctx, &info, err);
    if (rc == 0 && info.warning)
        snprintf(st.warning, sizeof(st.warning), "%s", info.warning);
    if (rc == 0) {
        if (po.frames) {
            rc = pio_select_frames(po.frames, info.nframes, &sel, &nsel, err);
        } else if (!(sel = malloc(PIO_MAX(info.nframes, 1) * sizeof(*sel)))) {
            rc = pio_error_set(err, -ENOMEM, "%s: out of memory", in);
        } else {
            for (uint64_t i = 0; i < info.nframes; i++)
                sel[i] = i;
            nsel = info.nframes;
        }
    }
    /* the same input on every rank (one that grew between the opens would
     * give blocks that overlap or leave gaps) */
    uint64_t seen[4] = {info.nframes, nsel, UINT64_MAX - info.nframes, UINT64_MAX - nsel},
             most[4] = {0, 0, 0, 0};
    if ((rc = pio__mpi_agree(comm, rc, err)) == 0) {
        MPI_Allreduce(seen, most, 4, MPI_UINT64_T, MPI_MAX, comm);
        if (most[0] != UINT64_MAX - most[2] || most[1] != UINT64_MAX - most[3])
            rc = pio_error_set(
                err, PIO_EUSAGE,
                "%s: the ranks found %llu to %llu frames (%llu to %llu selected): "
                "the input changed while they opened it",
                in, (unsigned long long)(UINT64_MAX - most[2]), (unsigned long long)most[0],
                (unsigned long long)(UINT64_MAX - most[3]), (unsigned long long)most[1]);
    }
    enum pio_format ofmt = ko.format ? ko.format : pio_format_from_path(out);
    if (rc == 0 && frames_back_to_back(ofmt)) {
        rc = convert_concat(comm, out, &src, &ko, &po, sel, nsel, &st, err);
        pio_source_destroy(&src);
        free(sel);
        free(sc.off);
        double secs = MPI_Wtime() - t0;
        MPI_Bcast(&secs, 1, MPI_DOUBLE, 0, comm);
        st.seconds = secs;
        st.parallel_scan = parallel_scan;
        if (stats)
            *stats = st;
        return rc;
    }
    pio_mpi_writer *w = NULL;
    if (rc == 0)
        rc = pio_mpi_writer_create(&w, comm, out, &wo, MPI_INFO_NULL, err);
    if (rc != 0) {
        pio_source_destroy(&src);
        free(sel);
        free(sc.off);
        return rc;
    }

    /* rank 0: the first selected frame through the pipeline (topology and
     * metadata as the pipeline gives them; the record's length); with none
     * selected, the empty selection (the topology and metadata only) */
    uint64_t reclen = 0;
    if (rank == 0) {
        struct pio_source first = PIO_SOURCE_INIT;
        struct first_sink fs = {w->w, ko.metadata, 0}; /* NULL from an older struct */
        struct pio_sink sink =
            sink_of("sink holo (mpi, first frame)", &fs, first_begin, first_write, first_end);
        char one[24];
        snprintf(one, sizeof(one), "%" PRIu64, sel[0]);
        struct pio_pipeline_options p1 = po;
        p1.frames = nsel ? one : po.frames;
        p1.progress = NULL;
        rc = open_again(in, &so, &sc, &first, err);
        if (rc == 0)
            rc = pio_pipeline_run(&first, &sink, &p1, NULL, err);
        pio_source_destroy(&first);
        if (rc == 0 && nsel && fs.reclen == 0)
            rc = pio_error_set(err, PIO_EUSAGE, "%s: frame %llu: the pipeline kept no frame", in,
                               (unsigned long long)sel[0]);
        reclen = fs.reclen;
    }
    pio__mpi_quiet_barrier(comm); /* while rank 0 looks */
    if ((rc = pio__mpi_agree(comm, rc, err)) == 0)
        rc = pio__mpi_tail(w, err); /* the META record */
    MPI_Bcast(&reclen, 1, MPI_UINT64_T, 0, comm);

    /* every rank: its block, at offsets known now */
    uint64_t first = 0, count = 0;
    pio_mpi_block(nsel, (uint32_t)rank, (uint32_t)size, &first, &count);
    struct part_sink ps = {0};
    ps.w = w;
    ps.out = out;
    ps.seq = first;
    ps.base = w->end + first * reclen;
    ps.reclen = reclen;
    ps.count = count;
    struct pio_pipeline_stats pst = {0};
    char *spec = NULL;
    if (rc == 0 && count > 0) {
        ps.placed = calloc((size_t)count, sizeof(*ps.placed));
        ps.stage = malloc(STAGE_BYTES);
        ps.scap = STAGE_BYTES;
        spec = block_spec(sel + first, count);
        if (!ps.placed || !ps.stage || !spec)
            rc = pio_error_set(err, -ENOMEM, "%s: out of memory", out);
    }
    if (rc == 0 && count > 0) {
        struct pio_sink sink = sink_of("sink holo (mpi)", &ps, part_begin, part_write, part_end);
        struct pio_pipeline_options pr = po;
        pr.frames = spec;
        if (rank != 0)
            pr.progress = NULL;
        rc = pio_pipeline_run(&src, &sink, &pr, &pst, err);
        if (rc == 0 && ps.written != count)
            rc = pio_error_set(err, PIO_ETRUNCATED,
                               "%s: %llu of the %llu frames from frame %llu "
                               "came out of the pipeline",
                               in, (unsigned long long)ps.written, (unsigned long long)count,
                               (unsigned long long)first);
    }
    pio_source_destroy(&src);
    free(spec);
    free(sel);
    free(sc.off);
    free(ps.stage);

    /* the frames before the first failure are kept: every rank before the
     * first failing one, and what that one wrote */
    pio__mpi_quiet_barrier(comm); /* until the last rank is done */
    int mine = rc ? rank : size, firstbad = size;
    MPI_Allreduce(&mine, &firstbad, 1, MPI_INT, MPI_MIN, comm);
    int crc = pio__mpi_agree(comm, rc, err);
    uint64_t keep = rank <= firstbad ? ps.written : 0;
    struct pio_error e2 = {0};
    int arc = pio__mpi_adopt(w, ps.placed, keep, crc ? &e2 : err);
    free(ps.placed);
    if (crc || arc) { /* the records of the ranks after the failure go */
        if (arc)
            w->failed = arc;
        pio__mpi_cut(w);
    }
    uint64_t kept = w->nframes;
    int wrc = pio_mpi_writer_close(w, crc || arc ? &e2 : err); /* the FINAL commit */
    if (crc == 0)
        crc = arc ? arc : wrc;

    uint64_t sums[2] = {0, pst.bytes_in}, tot[2] = {0, 0};
    MPI_Allreduce(sums, tot, 2, MPI_UINT64_T, MPI_SUM, comm);
    uint64_t outsize = 0;
    struct stat sb;
    if (rank == 0 && stat(out, &sb) == 0)
        outsize = (uint64_t)sb.st_size;
    double secs = MPI_Wtime() - t0;
    MPI_Bcast(&outsize, 1, MPI_UINT64_T, 0, comm);
    MPI_Bcast(&secs, 1, MPI_DOUBLE, 0, comm);
    st.frames = arc || wrc ? 0 : kept;
    st.my_frames = arc || wrc ? 0 : keep;
    st.bytes_in = tot[1];
    st.bytes_out = outsize;
    st.seconds = secs;
    st.created = true;
    st.parallel_scan = parallel_scan;
    if (stats)
        *stats = st;
    return crc;
}

static bool we_initialised;

PIO_API int pio_mpi_convert_world(const char *in, const char *out,
                                  const struct pio_mpi_convert_options *o,
                                  struct pio_mpi_convert_stats *stats, struct pio_error *err)
{
    int inited = 0, done = 0, provided;
    MPI_Initialized(&inited);
    MPI_Finalized(&done);
    if (done)
        return pio_error_set(err, PIO_EUSAGE, "%s: MPI was finalised already", in);
    /* MPI is called from the caller's thread only (the pipeline's sink) */
    if (!inited) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return pio_error_set(err, -EIO, "%s: MPI_Init failed", in);
        we_initialised = true;
    }
    /* every process its own MPI_COMM_WORLD of one (a launcher this MPI
     * does not speak to) would each convert IN into OUT on its own */
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    uint32_t told = pio_mpi_launched();
    if (told > 1 && (uint32_t)size != told)
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: the launcher announced %u ranks, but MPI_COMM_WORLD has %d: "
                             "this process was not started by the mpirun of the MPI prismio "
                             "was built with",
                             in, told, size);
    return pio_mpi_convert(MPI_COMM_WORLD, in, out, o, stats, err);
}

PIO_API void pio_mpi_finalize(void)
{
    if (!we_initialised)
        return;
    we_initialised = false;
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
}
