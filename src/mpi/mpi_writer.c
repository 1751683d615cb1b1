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
         * opens the file rank 0 made, never another */
        int m = MPI_File_open(w->comm, path, MPI_MODE_WRONLY | MPI_MODE_CREATE, info, &w->fh);
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
