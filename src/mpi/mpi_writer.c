/*
 * mpi: the collective writer and the parallel reader's open
 * (prismio/mpi.h, docs/SCALING.md).
 *
 * Rank 0 holds the file's pio_writer: it writes the header and the META
 * record, indexes the records every rank placed (their offsets, lengths,
 * steps, times and hashes, 64 bytes a frame, gathered) and writes each
 * COMMIT record. The other ranks hold an encoder with the same options
 * and salt, so every rank makes the very records pio_writer_append would.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi/mpi_internal.h"

#include "hash/pio_hash.h"

#include "common/pio_common.h"

#define WRITE_PIECE ((uint64_t)1 << 30) /* MPI counts are ints */

PIO_API bool pio_mpi_built(void)
{
    return true;
}

int pio__mpi_fail(struct pio_error *err, int mpirc, const char *path, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mpirc, msg, &len) != MPI_SUCCESS)
        len = 0;
    msg[len] = '\0';
    return pio_error_set(err, -EIO, "%s: %s: %s", path, what, len ? msg : "MPI error");
}

int pio__mpi_agree(MPI_Comm comm, int rc, struct pio_error *err)
{
    int rank, mine, first;
    MPI_Comm_rank(comm, &rank);
    mine = rc ? rank : INT_MAX;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == INT_MAX)
        return 0;
    struct pio_error e = {0};
    if (rank == first) {
        e.code = rc;
        if (err)
            memcpy(e.message, err->message, sizeof(e.message));
        if (!e.message[0])
            snprintf(e.message, sizeof(e.message), "%s", pio_strerror(rc));
    }
    MPI_Bcast(&e, (int)sizeof(e), MPI_BYTE, first, comm);
    if (rank != first && err) {
        err->code = e.code;
        snprintf(err->message, sizeof(err->message), "rank %d: %s", first, e.message);
    }
    return rank == first ? rc : e.code;
}

void pio__mpi_quiet_barrier(MPI_Comm comm)
{
    MPI_Request req;
    if (MPI_Ibarrier(comm, &req) != MPI_SUCCESS) {
        MPI_Barrier(comm);
        return;
    }
    int done = 0;
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

void pio__mpi_writeback(pio_mpi_writer *w, uint64_t off, uint64_t len)
{
    if (w->hint_fd >= 0 && !w->no_sync && len)
        sync_file_range(w->hint_fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

/* unmade: a create that failed, the file rank 0 made removed */
static void writer_free(pio_mpi_writer *w, bool unmade)
{
    if (w->hint_fd >= 0)
        close(w->hint_fd);
    if (w->fh_open)
        MPI_File_close(&w->fh);
    if (w->rank == 0 && !w->failed && !unmade)
        pio_writer_close(w->w, NULL); /* committed as far as it got */
    else                              /* after a failed write, the file keeps its last commit */
        pio__writer_discard(w->w);
    if (w->rank == 0 && unmade && w->w)
        unlink(w->path);
    MPI_Comm_free(&w->comm);
    free(w->stage);
    free(w->placed);
    free(w->path);
    free(w);
}

PIO_API int pio_mpi_writer_create(pio_mpi_writer **out, MPI_Comm comm, const char *path,
                                  const struct pio_writer_options *opts, MPI_Info info,
                                  struct pio_error *err)
{
    *out = NULL;
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    if (opts && opts->size < sizeof(o))
        return pio_error_set(err, PIO_EUSAGE, "%s: writer options too old", path);
    if (opts)
        o = *opts;
    int rc = 0;
    if (o.flags & PIO_WRITER_DIRECT)
        rc = pio_error_set(err, PIO_EUSAGE,
                           "%s: the MPI writer writes through MPI-IO: no "
                           "O_DIRECT (an MPI_Info hint such as direct_write does that)",
                           path);
    else if (o.keyframe > 1)
        rc = pio_error_set(err, PIO_EUSAGE,
                           "%s: the MPI writer writes FRAME records: no "
                           "blocks (keyframe %u)",
                           path, o.keyframe);
    o.keyframe = 1; /* compressed FRAME records, not blocks */
    o.engine = PIO_IO_PREAD;
    pio_mpi_writer *w = calloc(1, sizeof(*w));
    if (!rc && (!w || !(w->path = strdup(path))))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    if ((rc = pio__mpi_agree(comm, rc, err)) != 0) {
        if (w)
            free(w->path);
        free(w);
        return rc;
    }
    w->hint_fd = -1;
    w->no_sync = (o.flags & PIO_WRITER_NO_SYNC) != 0;
    MPI_Comm_dup(comm, &w->comm);
    MPI_Comm_rank(w->comm, &w->rank);
    MPI_Comm_size(w->comm, &w->size);
    uint8_t salt[16] = {0};
    if (w->rank == 0 && (rc = pio_writer_create(&w->w, path, &o, err)) == 0)
        memcpy(salt, pio__writer_salt(w->w), 16);
    if ((rc = pio__mpi_agree(w->comm, rc, err)) == 0) {
        MPI_Bcast(salt, 16, MPI_BYTE, 0, w->comm);
        if (w->rank != 0)
            rc = pio__writer_encoder(&w->w, path, &o, salt, err);
        rc = pio__mpi_agree(w->comm, rc, err);
    }
    if (rc == 0) {
        /* CREATE: a rank whose view of the directory lags (NFS) still
         * opens the file rank 0 made, never another; RDWR: a frame written
         * by atom ranges is read back to be hashed */
        int m = MPI_File_open(w->comm, path, MPI_MODE_RDWR | MPI_MODE_CREATE, info, &w->fh);
        w->fh_open = m == MPI_SUCCESS;
        if (!w->fh_open)
            rc = pio__mpi_fail(err, m, path, "MPI_File_open");
        if ((rc = pio__mpi_agree(w->comm, rc, err)) == 0)
            MPI_File_set_errhandler(w->fh, MPI_ERRORS_RETURN);
        if (rc == 0) /* for hints only: nothing is written through it */
            w->hint_fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (rc != 0) {
        writer_free(w, true);
        return rc;
    }
    *out = w;
    return 0;
}

PIO_API int pio_mpi_writer_set_topology(pio_mpi_writer *w, const struct pio_topology *t,
                                        struct pio_error *err)
{
    int rc = w->rank == 0 ? pio_writer_set_topology(w->w, t, err) : 0;
    return pio__mpi_agree(w->comm, rc, err);
}

PIO_API int pio_mpi_writer_set_metadata(pio_mpi_writer *w, const char *key, const char *value,
                                        struct pio_error *err)
{
    int rc = w->rank == 0 ? pio_writer_set_metadata(w->w, key, value, err) : 0;
    return pio__mpi_agree(w->comm, rc, err);
}

int pio__mpi_cut(pio_mpi_writer *w)
{
    if (w->fh_open)
        MPI_File_sync(w->fh); /* every rank's writes done (its failure is the caller's news) */
    int rc = 0;
    if (w->rank == 0 && w->end_known && truncate(w->path, (off_t)w->end) != 0)
        rc = -errno;
    MPI_Bcast(&rc, 1, MPI_INT, 0, w->comm);
    return rc;
}

int pio__mpi_tail(pio_mpi_writer *w, struct pio_error *err)
{
    if (w->end_known)
        return 0;
    int rc = 0;
    uint64_t end = 0;
    if (w->rank == 0)
        rc = pio__writer_tail(w->w, &end, err);
    if ((rc = pio__mpi_agree(w->comm, rc, err)) != 0)
        return rc;
    MPI_Bcast(&end, 1, MPI_UINT64_T, 0, w->comm);
    w->end = end;
    w->end_known = true;
    return 0;
}

/* Index entries travel in pieces of this many (64 bytes each: 4 MiB). */
#define ADOPT_PIECE 65536

int pio__mpi_adopt(pio_mpi_writer *w, const struct pio__placed *p, uint64_t n,
                   struct pio_error *err)
{
    /* Rank 0 takes each rank's entries in rank order, rank by rank, in
     * pieces: its memory stays bounded whatever the frames, and it stops
     * taking entries at the first failure (the ranks still send theirs). */
    int rc = 0;
    struct pio__placed *buf = NULL;
    uint64_t *counts = NULL;
    if (w->rank == 0 && (!(buf = malloc(ADOPT_PIECE * sizeof(*buf))) ||
                         !(counts = malloc((size_t)w->size * sizeof(*counts)))))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory for the index", w->path);
    int go = rc;
    MPI_Bcast(&go, 1, MPI_INT, 0, w->comm);
    if (go != 0) {
        free(buf);
        free(counts);
        return pio__mpi_agree(w->comm, rc, err);
    }
    MPI_Gather(&n, 1, MPI_UINT64_T, counts, 1, MPI_UINT64_T, 0, w->comm);
    if (w->rank == 0) {
        rc = pio__writer_adopt(w->w, p, n, err);
        for (int r = 1; r < w->size; r++)
            for (uint64_t at = 0; at < counts[r]; at += ADOPT_PIECE) {
                int k = (int)PIO_MIN(counts[r] - at, (uint64_t)ADOPT_PIECE);
                MPI_Recv(buf, k * (int)sizeof(*buf), MPI_BYTE, r, 0, w->comm, MPI_STATUS_IGNORE);
                if (rc == 0)
                    rc = pio__writer_adopt(w->w, buf, (uint64_t)k, err);
            }
    } else {
        for (uint64_t at = 0; at < n; at += ADOPT_PIECE) {
            int k = (int)PIO_MIN(n - at, (uint64_t)ADOPT_PIECE);
            MPI_Send(p + at, k * (int)sizeof(*p), MPI_BYTE, 0, 0, w->comm);
        }
    }
    free(buf);
    free(counts);
    if ((rc = pio__mpi_agree(w->comm, rc, err)) != 0)
        return rc;
    uint64_t step[2] = {n, n ? p[n - 1].offset + p[n - 1].length - p[0].offset : 0}, sum[2];
    MPI_Allreduce(step, sum, 2, MPI_UINT64_T, MPI_SUM, w->comm);
    w->nframes += sum[0];
    w->end += sum[1];
    return 0;
}

/* This rank's bytes at `off`, collectively, in pieces MPI's int counts
 * can name (as many calls on every rank). */
static int write_all(pio_mpi_writer *w, const uint8_t *buf, uint64_t len, uint64_t off,
                     struct pio_error *err)
{
    uint64_t pieces = (len + WRITE_PIECE - 1) / WRITE_PIECE, most = 0;
    MPI_Allreduce(&pieces, &most, 1, MPI_UINT64_T, MPI_MAX, w->comm);
    int rc = 0;
    for (uint64_t k = 0; k < most; k++) {
        uint64_t at = k * WRITE_PIECE;
        int cnt = at < len ? (int)PIO_MIN(WRITE_PIECE, len - at) : 0;
        MPI_Status st;
        int m = MPI_File_write_at_all(w->fh, (MPI_Offset)(off + at), cnt ? buf + at : buf, cnt,
                                      MPI_BYTE, &st);
        int got = 0;
        if (m == MPI_SUCCESS)
            MPI_Get_count(&st, MPI_BYTE, &got);
        if (rc == 0 && m != MPI_SUCCESS)
            rc = pio__mpi_fail(err, m, w->path, "MPI_File_write_at_all");
        else if (rc == 0 && got != cnt)
            rc = pio_error_set(err, -EIO, "%s: short write at offset 0x%llx (%d of %d bytes)",
                               w->path, (unsigned long long)(off + at), got, cnt);
    }
    return rc;
}

static int check_usable(pio_mpi_writer *w, struct pio_error *err)
{
    if (w->failed)
        return pio_error_set(err, w->failed,
                             "%s: the MPI writer failed earlier (%s): the file holds its last "
                             "commit; 'prismio recover' keeps the complete frames after it",
                             w->path, pio_strerror(w->failed));
    return 0;
}

PIO_API int pio_mpi_writer_append(pio_mpi_writer *w, const struct pio_frame *frames, size_t n,
                                  struct pio_error *err)
{
    int rc = check_usable(w, err);
    if (rc != 0)
        return rc;
    if ((rc = pio__mpi_tail(w, err)) != 0)
        return rc;
    uint64_t mine = n, before = 0;
    MPI_Exscan(&mine, &before, 1, MPI_UINT64_T, MPI_SUM, w->comm);
    if (w->rank == 0)
        before = 0; /* MPI_Exscan leaves rank 0's undefined */
    /* encode: every record of this rank, back to back */
    if (n > w->placed_cap) {
        struct pio__placed *p = realloc(w->placed, n * sizeof(*p));
        if (!p)
            rc = pio_error_set(err, -ENOMEM, "%s: out of memory", w->path);
        else {
            w->placed = p;
            w->placed_cap = n;
        }
    }
    uint64_t len = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint64_t rl = 0;
        rc = pio__writer_encode(w->w, &frames[i], w->nframes + before + i, &w->stage, &w->stage_cap,
                                (size_t)len, &rl, err);
        if (rc != 0)
            break;
        struct pio__placed *p = &w->placed[i];
        p->offset = len; /* relative until the offsets are agreed */
        p->length = rl;
        p->step = frames[i].step;
        p->time = frames[i].time;
        memcpy(p->hash, w->stage + len + 32, 32);
        len += rl;
    }
    if ((rc = pio__mpi_agree(w->comm, rc, err)) != 0)
        return rc; /* nothing written: the writer stays usable */
    uint64_t at = 0;
    MPI_Exscan(&len, &at, 1, MPI_UINT64_T, MPI_SUM, w->comm);
    if (w->rank == 0)
        at = 0;
    at += w->end;
    for (size_t i = 0; i < n; i++)
        w->placed[i].offset += at;
    rc = write_all(w, w->stage, len, at, err);
    if (rc == 0)
        pio__mpi_writeback(w, at, len);
    if ((rc = pio__mpi_agree(w->comm, rc, err)) != 0) {
        w->failed = rc;
        pio__mpi_cut(w); /* what the other ranks wrote goes too */
        return rc;
    }
    if ((rc = pio__mpi_adopt(w, w->placed, n, err)) != 0)
        w->failed = rc;
    return rc;
}

/* Collective: every rank's writes durable, then rank 0's commit (final or
 * not); end agreed after it. */
static int commit(pio_mpi_writer *w, bool final, struct pio_error *err)
{
    int rc = check_usable(w, err);
    if (rc == 0)
        rc = pio__mpi_tail(w, err);
    if (rc != 0)
        return rc;
    int m = w->no_sync ? MPI_SUCCESS : MPI_File_sync(w->fh);
    if (m != MPI_SUCCESS)
        rc = pio__mpi_fail(err, m, w->path, "MPI_File_sync (commit lost)");
    if ((rc = pio__mpi_agree(w->comm, rc, err)) != 0) {
        w->failed = rc;
        return rc;
    }
    uint64_t end = 0;
    if (w->rank == 0) {
        if (final) {
            rc = pio_writer_close(w->w, err);
            w->w = NULL;
        } else {
            rc = pio_writer_commit(w->w, err);
            if (rc == 0)
                rc = pio__writer_tail(w->w, &end, err);
        }
    }
    if ((rc = pio__mpi_agree(w->comm, rc, err)) != 0) {
        w->failed = rc;
        return rc;
    }
    if (!final) {
        MPI_Bcast(&end, 1, MPI_UINT64_T, 0, w->comm);
        w->end = end;
    }
    return 0;
}

PIO_API int pio_mpi_writer_commit(pio_mpi_writer *w, struct pio_error *err)
{
    return commit(w, false, err);
}

PIO_API int pio_mpi_writer_close(pio_mpi_writer *w, struct pio_error *err)
{
    if (!w)
        return 0;
    int rc = commit(w, true, err);
    if (w->fh_open) {
        int m = MPI_File_close(&w->fh);
        w->fh_open = false;
        if (m != MPI_SUCCESS && rc == 0)
            rc = pio__mpi_fail(err, m, w->path, "MPI_File_close");
        rc = pio__mpi_agree(w->comm, rc, err);
    }
    writer_free(w, false);
    return rc;
}

PIO_API uint64_t pio_mpi_writer_nframes(const pio_mpi_writer *w)
{
    return w->nframes;
}

PIO_API int pio_mpi_reader_open(pio_reader **out, MPI_Comm comm, const char *path,
                                const struct pio_reader_options *o, uint64_t *first,
                                uint64_t *count, struct pio_error *err)
{
    *out = NULL;
    *first = *count = 0;
    pio_reader *r = NULL;
    int rc = pio_reader_open(&r, path, o, err);
    if ((rc = pio__mpi_agree(comm, rc, err)) != 0) {
        pio_reader_close(r);
        return rc;
    }
    struct pio_reader_info ri;
    pio_reader_info(r, &ri);
    uint64_t mm[2] = {ri.nframes, UINT64_MAX - ri.nframes}, got[2];
    MPI_Allreduce(mm, got, 2, MPI_UINT64_T, MPI_MAX, comm);
    if (got[0] != UINT64_MAX - got[1]) {
        pio_reader_close(r);
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: the ranks opened different commits (%llu to %llu frames): "
                             "the file was committed meanwhile; open it again",
                             path, (unsigned long long)(UINT64_MAX - got[1]),
                             (unsigned long long)got[0]);
    }
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    pio_mpi_block(ri.nframes, (uint32_t)rank, (uint32_t)size, first, count);
    *out = r;
    return 0;
}

/* ---- a frame written by atom ranges (domain decomposition) ---- */

#define CV_WINDOW ((uint64_t)64 << 20) /* record bytes read back at a time */

/* This rank's share of the record at `rec` (length len), read back and
 * hashed piece by piece: the CVs of its aligned subtrees, 40 bytes each
 * (CV, chunk count), appended to *cvs. 0 or an error. */
static int piece_cvs(pio_mpi_writer *w, uint64_t rec, uint64_t len, uint8_t **cvs, size_t *ncvs,
                     struct pio_error *err)
{
    uint64_t nchunks = (len + 1023) / 1024, first, count;
    pio_mpi_block(nchunks - 1, (uint32_t)w->rank, (uint32_t)w->size, &first, &count);
    uint8_t *buf = count ? malloc((size_t)PIO_MIN(count * 1024, CV_WINDOW)) : NULL;
    if (count && !buf)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", w->path);
    int rc = 0;
    for (uint64_t c = first; rc == 0 && c < first + count;) {
        uint64_t take = PIO_MIN(first + count - c, CV_WINDOW / 1024);
        MPI_Status st;
        int got = 0;
        int m = MPI_File_read_at(w->fh, (MPI_Offset)(rec + c * 1024), buf, (int)(take * 1024),
                                 MPI_BYTE, &st);
        if (m == MPI_SUCCESS)
            MPI_Get_count(&st, MPI_BYTE, &got);
        if (m != MPI_SUCCESS || (uint64_t)got != take * 1024) {
            rc = m != MPI_SUCCESS
                     ? pio__mpi_fail(err, m, w->path, "reading a record back")
                     : pio_error_set(err, -EIO,
                                     "%s: frame %llu: short read back of its record at offset "
                                     "0x%llx (%d of %llu bytes)",
                                     w->path, (unsigned long long)w->nframes,
                                     (unsigned long long)(rec + c * 1024), got,
                                     (unsigned long long)(take * 1024));
            break;
        }
        uint8_t cv[128][32];
        uint64_t ch[128];
        size_t n = pio_b3_piece_cvs(buf, (size_t)take * 1024, c, cv, ch, 128);
        if (n == 0) { /* 128 CVs cover any window of whole chunks: never */
            rc = pio_error_set(err, PIO_ELIMIT,
                               "%s: frame %llu: too many subtrees in its record at offset 0x%llx",
                               w->path, (unsigned long long)w->nframes, (unsigned long long)rec);
            break;
        }
        uint8_t *more = realloc(*cvs, (*ncvs + n) * 40);
        if (!more) {
            rc = pio_error_set(err, -ENOMEM, "%s: out of memory", w->path);
            break;
        }
        *cvs = more;
        for (size_t i = 0; i < n; i++) {
            memcpy(more + (*ncvs + i) * 40, cv[i], 32);
            memcpy(more + (*ncvs + i) * 40 + 32, &ch[i], 8);
        }
        *ncvs += n;
        c += take;
    }
    free(buf);
    return rc;
}

/* Rank 0: the record's hash from every rank's CVs (in rank order) and its
 * last chunk. */
static int record_hash(pio_mpi_writer *w, uint64_t rec, uint64_t len, const uint8_t *cvs,
                       const int *bytes, uint8_t hash[32], struct pio_error *err)
{
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    size_t at = 0;
    for (int r = 0; r < w->size; r++)
        for (int k = 0; k < bytes[r] / 40; k++, at += 40) {
            uint64_t ch;
            memcpy(&ch, cvs + at + 32, 8);
            pio_b3_hasher_push_subtree(&h, cvs + at, ch);
        }
    uint64_t last = (len - 1) / 1024 * 1024;
    uint8_t tail[1024];
    MPI_Status st;
    int got = 0;
    int m =
        MPI_File_read_at(w->fh, (MPI_Offset)(rec + last), tail, (int)(len - last), MPI_BYTE, &st);
    if (m == MPI_SUCCESS)
        MPI_Get_count(&st, MPI_BYTE, &got);
    if (m != MPI_SUCCESS || (uint64_t)got != len - last)
        return pio_error_set(err, -EIO,
                             "%s: frame %llu: short read back of its record's end at offset "
                             "0x%llx",
                             w->path, (unsigned long long)w->nframes,
                             (unsigned long long)(rec + last));
    pio_blake3_hasher_update(&h, tail, (size_t)(len - last));
    pio_blake3_hasher_finalize(&h, hash, 32);
    return 0;
}

PIO_API int pio_mpi_writer_append_atoms(pio_mpi_writer *w, const struct pio_frame *part,
                                        uint64_t natoms, uint64_t first_atom, struct pio_error *err)
{
    int rc = check_usable(w, err);
    if (rc != 0)
        return rc;
    if ((rc = pio__mpi_tail(w, err)) != 0)
        return rc;
    uint64_t n = part->natoms;
    if (first_atom > natoms || n > natoms - first_atom)
        rc = pio_error_set(err, PIO_EUSAGE, "%s: frame %llu: atoms %llu..%llu of %llu", w->path,
                           (unsigned long long)w->nframes, (unsigned long long)first_atom,
                           (unsigned long long)(first_atom + n), (unsigned long long)natoms);
    else if (n && !part->positions)
        rc = pio_error_set(err, PIO_EUSAGE, "%s: frame %llu: positions are required", w->path,
                           (unsigned long long)w->nframes);
    /* every rank's range and arrays: back to back in rank order, from 0 to
     * natoms; velocities and forces from every rank holding atoms, or none */
    uint64_t me[5] = {first_atom, n, part->velocities != NULL, part->forces != NULL, (uint64_t)rc},
             *all = malloc((size_t)w->size * sizeof(me));
    uint64_t have = all != NULL, every = 0;
    MPI_Allreduce(&have, &every, 1, MPI_UINT64_T, MPI_MIN, w->comm);
    if (!every) {
        free(all);
        return pio__mpi_agree(w->comm, pio_error_set(err, -ENOMEM, "%s: out of memory", w->path),
                              err);
    }
    MPI_Allgather(me, 5, MPI_UINT64_T, all, 5, MPI_UINT64_T, w->comm);
    int has[3] = {1, -1, -1};
    uint64_t at = 0;
    bool theirs = false; /* a rank's own error: agreed below, with its message */
    for (int r = 0; r < w->size; r++)
        theirs = theirs || all[5 * r + 4];
    for (int r = 0; rc == 0 && !theirs && r < w->size; r++) {
        const uint64_t *a = all + 5 * r;
        if (a[1] == 0)
            continue; /* a rank holding no atoms: where it says it starts does not matter */
        if (a[0] != at) {
            rc = pio_error_set(err, PIO_EUSAGE,
                               "%s: frame %llu: rank %d holds atoms from %llu, the ranks before "
                               "it end at %llu (ranges go back to back in rank order)",
                               w->path, (unsigned long long)w->nframes, r, (unsigned long long)a[0],
                               (unsigned long long)at);
            break;
        }
        at += a[1];
        for (int k = 1; a[1] && k < 3; k++) {
            if (has[k] >= 0 && has[k] != (int)a[1 + k])
                rc = pio_error_set(err, PIO_EUSAGE,
                                   "%s: frame %llu: rank %d %s %s, another rank does not", w->path,
                                   (unsigned long long)w->nframes, r, a[1 + k] ? "gives" : "has no",
                                   k == 1 ? "velocities" : "forces");
            has[k] = (int)a[1 + k];
        }
    }
    for (int k = 1; k < 3; k++) /* no atoms anywhere: rank 0's arrays */
        if (has[k] < 0)
            has[k] = (int)all[1 + k];
    if (rc == 0 && !theirs && at != natoms)
        rc = pio_error_set(err, PIO_EUSAGE, "%s: frame %llu: the ranks hold %llu of %llu atoms",
                           w->path, (unsigned long long)w->nframes, (unsigned long long)at,
                           (unsigned long long)natoms);
    free(all);
    if ((rc = pio__mpi_agree(w->comm, rc, err)) != 0)
        return rc;

    /* rank 0: the record's shell (header, where the arrays go, scalars) */
    struct pio__frame_shell sh = {0};
    static const float dummy[1][3];
    if (w->rank == 0) {
        struct pio_frame f = *part;
        f.natoms = natoms;
        f.positions = dummy;
        f.velocities = has[1] == 1 ? dummy : NULL;
        f.forces = has[2] == 1 ? dummy : NULL;
        rc = pio__writer_shell(w->w, &f, w->nframes, &sh, err);
    }
    if ((rc = pio__mpi_agree(w->comm, rc, err)) != 0)
        return rc;
    uint64_t lay[5] = {sh.length, sh.array_off[0], sh.array_off[1], sh.array_off[2], sh.array_pad};
    MPI_Bcast(lay, 5, MPI_UINT64_T, 0, w->comm);
    uint64_t rec = w->end, len = lay[0];

    /* the bytes: rank 0 the header, padding and scalars; every rank its
     * slice of each array, collectively */
    if (w->rank == 0) {
        static const uint8_t zeros[64];
        MPI_Status st;
        int m = MPI_File_write_at(w->fh, (MPI_Offset)rec, sh.head, 192, MPI_BYTE, &st);
        for (int a = 0; m == MPI_SUCCESS && a < 3; a++)
            if (lay[1 + a] && lay[4])
                m = MPI_File_write_at(w->fh, (MPI_Offset)(rec + lay[1 + a] + natoms * 12), zeros,
                                      (int)lay[4], MPI_BYTE, &st);
        if (m == MPI_SUCCESS && sh.tail_len)
            m = MPI_File_write_at(w->fh, (MPI_Offset)(rec + sh.tail_off), sh.tail, (int)sh.tail_len,
                                  MPI_BYTE, &st);
        if (m != MPI_SUCCESS)
            rc = pio__mpi_fail(err, m, w->path, "MPI_File_write_at");
    }
    free(sh.tail);
    const float(*arrays[3])[3] = {part->positions, part->velocities, part->forces};
    for (int a = 0; a < 3; a++) {
        if (!lay[1 + a])
            continue;
        int wrc = write_all(w, n ? (const uint8_t *)arrays[a] : (const uint8_t *)dummy, n * 12,
                            rec + lay[1 + a] + first_atom * 12, err);
        rc = rc ? rc : wrc;
    }
    if ((rc = pio__mpi_agree(w->comm, rc, err)) != 0) {
        w->failed = rc;
        pio__mpi_cut(w);
        return rc;
    }

    /* its hash: every rank reads back its share of the chunks and hashes
     * it into subtree chaining values, which rank 0 combines */
    /* the ranks' writes visible to every rank: MPI's sync, barrier, sync
     * (a file system without coherent caches needs both syncs) */
    int m = MPI_File_sync(w->fh);
    MPI_Barrier(w->comm);
    if (m == MPI_SUCCESS)
        m = MPI_File_sync(w->fh);
    rc = m == MPI_SUCCESS ? 0 : pio__mpi_fail(err, m, w->path, "MPI_File_sync");
    uint8_t *cvs = NULL;
    size_t ncvs = 0;
    if (rc == 0)
        rc = piece_cvs(w, rec, len, &cvs, &ncvs, err);
    if ((rc = pio__mpi_agree(w->comm, rc, err)) == 0) {
        int mine = (int)(ncvs * 40), *bytes = NULL, *displs = NULL, total = 0;
        uint8_t *allcv = NULL;
        /* a few hundred bytes a rank: 40 per subtree, about 2 log2 of its chunks */
        if (w->rank == 0 && (!(bytes = calloc((size_t)w->size, sizeof(int))) ||
                             !(displs = calloc((size_t)w->size, sizeof(int)))))
            rc = pio_error_set(err, -ENOMEM, "%s: out of memory", w->path);
        if ((rc = pio__mpi_agree(w->comm, rc, err)) == 0) { /* the same on every rank */
            MPI_Gather(&mine, 1, MPI_INT, bytes, 1, MPI_INT, 0, w->comm);
            if (w->rank == 0) {
                for (int r = 0; r < w->size; r++) {
                    displs[r] = total;
                    total += bytes[r];
                }
                if (!(allcv = malloc((size_t)total + 1)))
                    rc = pio_error_set(err, -ENOMEM, "%s: out of memory", w->path);
            }
            if ((rc = pio__mpi_agree(w->comm, rc, err)) == 0)
                MPI_Gatherv(cvs, mine, MPI_BYTE, allcv, bytes, displs, MPI_BYTE, 0, w->comm);
        }
        uint8_t hash[32];
        if (rc == 0 && w->rank == 0) {
            rc = record_hash(w, rec, len, allcv, bytes, hash, err);
            MPI_Status st;
            if (rc == 0 && (m = MPI_File_write_at(w->fh, (MPI_Offset)(rec + 32), hash, 32, MPI_BYTE,
                                                  &st)) != MPI_SUCCESS)
                rc = pio__mpi_fail(err, m, w->path, "writing a record's hash");
            struct pio__placed p = {rec, len, part->step, part->time, {0}};
            memcpy(p.hash, hash, 32);
            if (rc == 0)
                rc = pio__writer_adopt(w->w, &p, 1, err);
        }
        free(allcv);
        free(bytes);
        free(displs);
        rc = pio__mpi_agree(w->comm, rc, err);
    }
    free(cvs);
    if (rc != 0) {
        w->failed = rc;
        pio__mpi_cut(w);
        return rc;
    }
    pio__mpi_writeback(w, rec, len);
    w->nframes += 1;
    w->end += len;
    return 0;
}
