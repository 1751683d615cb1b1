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
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mpi/mpi_internal.h"

#include "common/pio_common.h"

#define STAGE_BYTES ((size_t)8 << 20)

/* ---- rank 0's look at the first frame: the META record and the record length ---- */

struct first_sink {
    pio_writer *w; /* rank 0's: topology and metadata set from what the pipeline gives */
    uint64_t reclen;
};

static int first_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    struct first_sink *s = ctx;
    int rc = 0;
    if (info->topology)
        rc = pio_writer_set_topology(s->w, info->topology, err);
    for (uint64_t i = 0; rc == 0 && i < info->nmeta; i++)
        rc = pio_writer_set_metadata(s->w, info->meta_keys[i], info->meta_values[i], err);
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

static int check_options(const char *out, const struct pio_sink_options *ko,
                         const struct pio_writer_options *wo, struct pio_error *err)
{
    enum pio_format fmt = ko->format ? ko->format : pio_format_from_path(out);
    if (fmt != PIO_FORMAT_HOLO)
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: a parallel conversion writes a .holo file (convert to other "
                             "formats without mpirun)",
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
    struct pio_mpi_convert_stats st = {(uint32_t)rank, (uint32_t)size, 0, 0, 0, 0, 0, false};
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
    rc = pio_source_open(&src, in, &so, err);
    if (rc == 0)
        rc = src.info(src.ctx, &info, err);
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
    pio_mpi_writer *w = NULL;
    if (rc == 0)
        rc = pio_mpi_writer_create(&w, comm, out, &wo, MPI_INFO_NULL, err);
    if (rc != 0) {
        pio_source_destroy(&src);
        free(sel);
        return rc;
    }

    /* rank 0: the first selected frame through the pipeline (topology and
     * metadata as the pipeline gives them; the record's length); with none
     * selected, the empty selection (the topology and metadata only) */
    uint64_t reclen = 0;
    if (rank == 0) {
        struct pio_source first = PIO_SOURCE_INIT;
        struct first_sink fs = {w->w, 0};
        struct pio_sink sink =
            sink_of("sink holo (mpi, first frame)", &fs, first_begin, first_write, first_end);
        char one[24];
        snprintf(one, sizeof(one), "%" PRIu64, sel[0]);
        struct pio_pipeline_options p1 = po;
        p1.frames = nsel ? one : po.frames;
        p1.progress = NULL;
        rc = pio_source_open(&first, in, &so, err);
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
