/*
 * formats: HOLO as a pipeline source (a reader and a frame stream through
 * its engine, each frame's BLAKE3 checked by the stream) and sink (a
 * writer fed whole batches).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats_internal.h"
#include "formats/pio_formats.h"

#include "common/pio_common.h"

/* ---- HOLO source ------------------------------------------------------------- */

struct holo_src {
    pio_reader *r;
    bool verify;
    /* following: the stream is made at open, its first frame held back
     * for the first next() */
    bool follow, pending;
    struct pio_frame first;
    uint64_t natoms_bound;
    pio_frame_stream *stream;
    struct pio_topology top;
    bool has_top;
    const char **keys, **values;
    char warning[256];
};

static int holo_src_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    (void)err;
    struct holo_src *s = ctx;
    *out = (struct pio_source_info){
        .nframes = pio_reader_nframes(s->r),
        .max_natoms = s->natoms_bound,
        .fields = PIO_FIELD_POSITIONS | PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES | PIO_FIELD_BOX,
        .length_unit = PIO_UNIT_NM,
        .topology = s->has_top ? &s->top : NULL,
        .nmeta = pio_reader_metadata_count(s->r),
        .meta_keys = s->keys,
        .meta_values = s->values,
        .warning = s->warning[0] ? s->warning : NULL,
    };
    return 0;
}

static int holo_src_start(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err)
{
    struct holo_src *s = ctx;
    if (s->follow && frames)
        return pio_error_set(err, PIO_EUSAGE,
                             "a file being followed is read whole: no frame selection");
    if (s->follow)
        return 0;
    if (s->stream)
        return pio_error_set(err, PIO_EUSAGE, "source started twice");
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.flags = s->verify ? PIO_STREAM_VERIFY : 0;
    return pio_frame_stream_open(&s->stream, s->r, frames, frames ? n : 0, &so, err);
}

static int holo_src_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    struct holo_src *s = ctx;
    if (s->pending) {
        s->pending = false;
        *out = s->first;
        return 1;
    }
    int rc = pio_frame_stream_next(s->stream, out, err);
    if (rc == 1 && s->follow && out->natoms > s->natoms_bound)
        rc = pio_error_set(err, PIO_ELIMIT,
                           "frame %llu has %llu atoms, more than the %llu this run was sized for "
                           "when the file was opened",
                           (unsigned long long)out->index, (unsigned long long)out->natoms,
                           (unsigned long long)s->natoms_bound);
    if (rc == PIO_ELIMIT)
        pio_frame_stream_release(s->stream, out);
    return rc;
}

static void holo_src_release(void *ctx, const struct pio_frame *f)
{
    struct holo_src *s = ctx;
    pio_frame_stream_release(s->stream, f);
}

static void holo_src_destroy(void *ctx)
{
    struct holo_src *s = ctx;
    if (!s)
        return;
    pio_frame_stream_close(s->stream);
    pio_reader_close(s->r);
    free(s->keys);
    free(s->values);
    free(s);
}

static int source_holo(struct pio_source *out, const char *path,
                       const struct pio_reader_options *ro, uint32_t flags,
                       const struct pio_stream_options *follow, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct holo_src *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    /* A stream reads each frame once: pread by default, since a mapping
     * would keep every page it touched resident. */
    struct pio_reader_options o = PIO_READER_OPTIONS_INIT;
    if (ro) { /* an older, smaller struct: the members it has */
        memcpy(&o, ro, PIO_MIN((size_t)ro->size, sizeof(o)));
        o.size = sizeof(o);
    }
    const char *env = getenv("PIO_IO_ENGINE");
    if (o.engine == PIO_IO_AUTO && (!env || !*env))
        o.engine = PIO_IO_PREAD;
    int rc = pio_reader_open(&s->r, path, &o, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    if (pio_reader_has_arrays(s->r)) { /* never dropped silently */
        pio_reader_close(s->r);
        free(s);
        return pio_error_set(err, PIO_ENOTSUPPORTED,
                             "%s: a dataset with named arrays (HOLO 2.3): convert and compact do "
                             "not carry named arrays yet; read it with prismio.dataset or "
                             "pio_dataset_open",
                             path);
    }
    s->verify = !(flags & PIO_SOURCE_NO_VERIFY);
    s->natoms_bound = pio_reader_natoms_bound(s->r);
    if (follow) {
        struct pio_stream_options so = *follow;
        so.size = sizeof(so);
        so.flags |= s->verify ? PIO_STREAM_VERIFY : 0;
        s->follow = true;
        if ((rc = pio_frame_stream_follow(&s->stream, s->r, 0, &so, err)) != 0 ||
            (rc = pio_frame_stream_next(s->stream, &s->first, err)) < 0) {
            holo_src_destroy(s);
            return rc;
        }
        s->pending = rc == 1;
        if (s->pending)
            s->natoms_bound = PIO_MAX(s->natoms_bound, s->first.natoms);
    }
    char why[200];
    if (pio_reader_warning(s->r, why, sizeof(why)) > 0)
        snprintf(s->warning, sizeof(s->warning), "%s: %s", path, why);
    s->has_top = pio_reader_topology(s->r, &s->top) == 0;
    if (s->follow && s->has_top)
        s->natoms_bound = PIO_MAX(s->natoms_bound, s->top.natoms);
    uint64_t nm = pio_reader_metadata_count(s->r);
    s->keys = calloc((size_t)nm + 1, sizeof(*s->keys));
    s->values = calloc((size_t)nm + 1, sizeof(*s->values));
    if (!s->keys || !s->values) {
        holo_src_destroy(s);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    for (uint64_t i = 0; i < nm; i++)
        pio_reader_metadata_at(s->r, i, &s->keys[i], &s->values[i]);
    *out = (struct pio_source)PIO_SOURCE_INIT;
    out->name = "source holo";
    out->ctx = s;
    out->info = holo_src_info;
    out->start = holo_src_start;
    out->next = holo_src_next;
    out->release = holo_src_release;
    out->destroy = holo_src_destroy;
    return 0;
}

PIO_API int pio_source_holo(struct pio_source *out, const char *path,
                            const struct pio_reader_options *ro, uint32_t flags,
                            struct pio_error *err)
{
    return source_holo(out, path, ro, flags, NULL, err);
}

PIO_API int pio_source_holo_follow(struct pio_source *out, const char *path,
                                   const struct pio_reader_options *ro, uint32_t flags,
                                   const struct pio_stream_options *so, struct pio_error *err)
{
    struct pio_stream_options o = PIO_STREAM_OPTIONS_INIT;
    if (so) /* an older, smaller struct: the members it has */
        memcpy(&o, so, PIO_MIN((size_t)so->size, sizeof(o)));
    return source_holo(out, path, ro, flags, &o, err);
}

/* ---- HOLO sink ----------------------------------------------------------------- */

struct holo_sink {
    char *path;
    struct pio_writer_options wo;
    uint8_t salt[16];
    bool has_salt;
    uint64_t commit_frames, since_commit;
    pio_writer *w;
    char **meta;              /* pio_sink_options.metadata, copied: key, value, ..., NULL */
    bool append;              /* PIO_SINK_APPEND */
    struct pio_frame *frames; /* a batch's frames, for append_many */
    uint32_t nframes_cap;
};

static int holo_sink_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    struct holo_sink *s = ctx;
    /* Hash on the cores the source leaves free: pool threads hashing on
     * the source's cores take CPU from the stage that feeds us (measured:
     * 711-atom XTC to HOLO, one decoder on 2 cores, every core hashing
     * 0.85x of the decode, the sink's thread alone 0.88x: medians of 10
     * alternating runs). */
    struct pio_writer_options wo = s->wo;
    /* lossy without a precision asked: an XTC source's own (its integers
     * kept exactly), else the writer's default */
    bool lossy = wo.codec[0] == PIO_CODEC_LOSSY || wo.codec[1] == PIO_CODEC_LOSSY ||
                 wo.codec[2] == PIO_CODEC_LOSSY;
    for (uint64_t i = 0; lossy && wo.precision == 0 && i < info->nmeta; i++) {
        if (strcmp(info->meta_keys[i], PIO_META_XTC_PRECISION) != 0)
            continue;
        char *end;
        double p = strtod(info->meta_values[i], &end);
        if (end != info->meta_values[i] && *end == '\0' && p > 1e-30 && p < 1e30)
            wo.precision = 1.0 / p;
    }
    if (wo.hash_threads == 0) {
        unsigned ncpu = pio_cpu_count(), busy = PIO_MAX(info->threads, 1u);
        wo.hash_threads = ncpu > busy ? ncpu - busy : 1;
    }
    if (s->append) { /* the file's topology must fit the frames coming */
        pio_reader *r;
        int rc = pio_reader_open(&r, s->path, NULL, err);
        if (rc != 0)
            return rc;
        struct pio_topology top;
        uint64_t have = pio_reader_topology(r, &top) == 0 ? top.natoms : 0;
        pio_reader_close(r);
        if (have && info->topology && info->topology->natoms != have)
            return pio_error_set(err, PIO_EUSAGE,
                                 "%s: appending frames of %llu atoms to a file whose topology "
                                 "has %llu",
                                 s->path, (unsigned long long)info->topology->natoms,
                                 (unsigned long long)have);
        return pio_writer_open_append(&s->w, s->path, &wo, err);
    }
    int rc = pio_writer_create(&s->w, s->path, &wo, err);
    if (rc != 0)
        return rc;
    if (info->topology && (rc = pio_writer_set_topology(s->w, info->topology, err)) != 0)
        return rc;
    for (uint64_t i = 0; i < info->nmeta; i++) {
        if (pio__meta_has((const char *const *)s->meta, info->meta_keys[i]))
            continue; /* the sink's options give it */
        if ((rc = pio_writer_set_metadata(s->w, info->meta_keys[i], info->meta_values[i], err)))
            return rc;
    }
    for (char **m = s->meta; m && m[0]; m += 2) /* a key given twice: its last value */
        if (!pio__meta_has((const char *const *)m + 2, m[0]) &&
            (rc = pio_writer_set_metadata(s->w, m[0], m[1], err)) != 0)
            return rc;
    return 0;
}

static int holo_sink_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct holo_sink *s = ctx;
    if (b->precision != PIO_FLOAT32 || b->length_unit != PIO_UNIT_NM)
        return pio_error_set(err, PIO_EUSAGE, "%s: HOLO stores float32 nm", s->path);
    if (b->nframes > s->nframes_cap) {
        struct pio_frame *fr = realloc(s->frames, b->nframes * sizeof(*fr));
        if (!fr)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
        s->frames = fr;
        s->nframes_cap = b->nframes;
    }
    for (uint32_t f = 0; f < b->nframes; f++)
        pio_batch_frame(b, f, &s->frames[f]);
    /* whole batches at once, split at commits */
    for (uint32_t f = 0; f < b->nframes;) {
        uint32_t take = b->nframes - f;
        if (s->commit_frames)
            take = (uint32_t)PIO_MIN(take, s->commit_frames - s->since_commit);
        int rc = pio_writer_append_many(s->w, s->frames + f, take, err);
        if (rc != 0)
            return rc;
        f += take;
        s->since_commit += take;
        if (s->commit_frames && s->since_commit == s->commit_frames) {
            if ((rc = pio_writer_commit(s->w, err)) != 0)
                return rc;
            s->since_commit = 0;
        }
    }
    return 0;
}

static int holo_sink_end(void *ctx, bool ok, struct pio_error *err)
{
    (void)ok; /* either way: commit what was appended, so the file is valid */
    struct holo_sink *s = ctx;
    pio_writer *w = s->w;
    s->w = NULL;
    return w ? pio_writer_close(w, err) : 0;
}

static void holo_sink_destroy(void *ctx)
{
    struct holo_sink *s = ctx;
    if (!s)
        return;
    pio_writer_close(s->w, NULL);
    for (char **m = s->meta; m && *m; m++)
        free(*m);
    free(s->meta);
    free(s->frames);
    free(s->path);
    free(s);
}

PIO_API int pio_sink_holo(struct pio_sink *out, const char *path,
                          const struct pio_writer_options *wo, uint64_t commit_frames,
                          struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct holo_sink *s = calloc(1, sizeof(*s));
    if (s)
        s->path = strdup(path);
    if (!s || !s->path) {
        free(s);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    struct pio_writer_options def = PIO_WRITER_OPTIONS_INIT;
    s->wo = def;
    if (wo) {
        if (wo->size < offsetof(struct pio_writer_options, salt) + sizeof(wo->salt)) {
            free(s->path);
            free(s);
            return pio_error_set(err, PIO_EUSAGE, "%s: writer options too old", path);
        }
        memcpy(&s->wo, wo, PIO_MIN((size_t)wo->size, sizeof(def)));
        s->wo.size = sizeof(def);
        if (wo->salt) {
            memcpy(s->salt, wo->salt, 16);
            s->wo.salt = s->salt;
        }
    }
    s->commit_frames = commit_frames;
    *out = (struct pio_sink){.size = sizeof(struct pio_sink),
                             .name = "sink holo",
                             .ctx = s,
                             .precision = PIO_FLOAT32,
                             .length_unit = PIO_UNIT_NM,
                             .begin = holo_sink_begin,
                             .write = holo_sink_write,
                             .end = holo_sink_end,
                             .destroy = holo_sink_destroy};
    return 0;
}

/* ---- registry entry ---- */

static bool holo_probe(const uint8_t *h, size_t n)
{
    return n >= 8 && memcmp(h, PIO_HOLO_MAGIC, 8) == 0;
}
static int holo_open_source(struct pio_source *out, const char *path,
                            const struct pio_source_options *o, struct pio_error *err)
{
    return pio_source_holo(out, path, o->reader, o->flags, err);
}
static int holo_open_sink(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                          struct pio_error *err)
{
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    if (o->writer)
        wo = *o->writer;
    if (o->flags & PIO_SINK_OVERWRITE)
        wo.flags |= PIO_WRITER_OVERWRITE;
    int rc = pio_sink_holo(out, path, &wo, o->commit_frames, err);
    if (rc != 0)
        return rc;
    struct holo_sink *s = out->ctx;
    s->append = (o->flags & PIO_SINK_APPEND) != 0;
    if (!o->metadata || !o->metadata[0])
        return 0;
    size_t n = 0;
    while (o->metadata[n])
        n += 2;
    if ((s->meta = calloc(n + 1, sizeof(char *))) == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        if ((s->meta[i] = strdup(o->metadata[i] ? o->metadata[i] : "")) == NULL)
            goto nomem;
    return 0;
nomem:
    pio_sink_destroy(out);
    return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
}
const struct pio__format pio__format_holo = {
    .id = PIO_FORMAT_HOLO,
    .name = "holo",
    .extensions = ".holo",
    .caps = PIO_FORMAT_CAN_READ | PIO_FORMAT_CAN_WRITE | PIO_FORMAT_HAS_TOPOLOGY |
            PIO_FORMAT_HAS_VELOCITIES | PIO_FORMAT_HAS_FORCES | PIO_FORMAT_HAS_BOX |
            PIO_FORMAT_RANDOM_ACCESS | PIO_FORMAT_CHECKSUMS | PIO_FORMAT_ZERO_COPY,
    .probe = holo_probe,
    .open_source = holo_open_source,
    .open_sink = holo_open_sink,
};
