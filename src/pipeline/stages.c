/*
 * pipeline: the built-in stages. HOLO source (a reader and a frame stream
 * through its engine), synthetic source (frames computed from a seed, with
 * a water-box topology), HOLO sink (a writer fed from batches).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prismio/pipeline.h"

#include "common/pio_common.h"
#include "format/holo_internal.h"
#include "telemetry/pio_telemetry.h"

PIO_API void pio_source_destroy(struct pio_source *s)
{
    if (s && s->destroy)
        s->destroy(s->ctx);
    if (s)
        memset(s, 0, sizeof(*s));
}

PIO_API void pio_sink_destroy(struct pio_sink *s)
{
    if (s && s->destroy)
        s->destroy(s->ctx);
    if (s)
        memset(s, 0, sizeof(*s));
}

/* ---- HOLO source ------------------------------------------------------------- */

struct holo_src {
    pio_reader *r;
    bool verify;
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
    uint64_t rec = holo_reader_max_record(s->r);
    uint64_t overhead = HOLO_REC_HDR + HOLO_FRAME_HDR;
    *out = (struct pio_source_info){
        .nframes = pio_reader_nframes(s->r),
        /* every atom costs at least 12 bytes of positions */
        .max_natoms = rec > overhead ? (rec - overhead) / 12 : 0,
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
    if (s->stream)
        return pio_error_set(err, PIO_EUSAGE, "source started twice");
    return pio_frame_stream_open(&s->stream, s->r, frames, frames ? n : 0, NULL, err);
}

static int holo_src_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    struct holo_src *s = ctx;
    int rc = pio_frame_stream_next(s->stream, out, err);
    if (rc != 1 || !s->verify)
        return rc;
    /* The record starts HOLO_FRAME_HDR bytes before its positions. */
    const uint8_t *rec = (const uint8_t *)out->positions - HOLO_FRAME_HDR;
    const struct holo_entry *en = &s->r->entries[out->index];
    uint8_t hash[32];
    uint64_t t0 = pio_tm_start();
    holo_record_hash(rec, en->length, 1, hash);
    pio_tm_end(PIO_OP_HASH, 0, (uint64_t)s->r->fd, out->index, en->length, t0, 0);
    if (memcmp(hash, rec + HOLO_HASH_OFF, 32) != 0) {
        pio_frame_stream_release(s->stream, out);
        return pio_error_set(err, PIO_ECHECKSUM,
                             "%s: frame %llu at offset 0x%llx: checksum mismatch", s->r->path,
                             (unsigned long long)out->index, (unsigned long long)en->offset);
    }
    return 1;
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

PIO_API int pio_source_holo(struct pio_source *out, const char *path,
                            const struct pio_reader_options *ro, uint32_t flags,
                            struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct holo_src *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    /* A stream reads each frame once: pread by default, since a mapping
     * would keep every page it touched resident. */
    struct pio_reader_options o = PIO_READER_OPTIONS_INIT;
    if (ro && ro->size >= sizeof(o))
        o = *ro;
    const char *env = getenv("PIO_IO_ENGINE");
    if (o.engine == PIO_IO_AUTO && (!env || !*env))
        o.engine = PIO_IO_PREAD;
    int rc = pio_reader_open(&s->r, path, &o, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->verify = !(flags & PIO_SOURCE_NO_VERIFY);
    if (s->r->recovered && s->r->data_end < s->r->size)
        snprintf(s->warning, sizeof(s->warning),
                 "%s: no valid footer (the writer did not commit): %llu frames found by a "
                 "recovery scan; %llu bytes of torn tail from offset 0x%llx skipped",
                 path, (unsigned long long)s->r->nframes,
                 (unsigned long long)(s->r->size - s->r->data_end),
                 (unsigned long long)s->r->data_end);
    else if (s->r->meta_damaged)
        snprintf(s->warning, sizeof(s->warning),
                 "%s: the metadata record at offset 0x%llx is damaged: converting without the "
                 "topology and metadata",
                 path, (unsigned long long)s->r->meta_off);
    s->has_top = pio_reader_topology(s->r, &s->top) == 0;
    uint64_t nm = pio_reader_metadata_count(s->r);
    s->keys = calloc((size_t)nm + 1, sizeof(*s->keys));
    s->values = calloc((size_t)nm + 1, sizeof(*s->values));
    if (!s->keys || !s->values) {
        holo_src_destroy(s);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    for (uint64_t i = 0; i < nm; i++)
        pio_reader_metadata_at(s->r, i, &s->keys[i], &s->values[i]);
    *out = (struct pio_source){
        "source holo",    s,   holo_src_info, holo_src_start, holo_src_next, holo_src_release,
        holo_src_destroy, NULL};
    return 0;
}

/* ---- synthetic source ------------------------------------------------------ */

struct synth_src {
    uint64_t nframes, natoms, seed;
    uint32_t fields;
    const uint64_t *frames;
    uint64_t n, k;
    float *x, *v, *f;
    struct pio_scalar sc[2];
    struct pio_topology top;
    void *topmem;
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1) with 24 bits, exactly representable as float. */
static float unit24(uint64_t *s)
{
    return (float)((int32_t)(splitmix(s) >> 40) - (1 << 23)) * (1.0f / (float)(1 << 23));
}

PIO_API void pio_synthetic_frame(uint64_t i, uint64_t natoms, uint32_t fields, uint64_t seed,
                                 float *x, float *v, float *f, struct pio_scalar sc[2],
                                 struct pio_frame *out)
{
    uint64_t s = seed * 0x2545F4914F6CDD1Dull + i;
    /* a box of 100 atoms/nm^3; positions drift slowly with i */
    float side = 1.0f;
    while (side * side * side * 100.0f < (float)natoms)
        side += 0.25f;
    float drift = 0.001f * (float)(i % 1000);
    for (uint64_t k = 0; k < natoms * 3; k++)
        x[k] = side * 0.5f * (unit24(&s) + 1.0f) + drift;
    memset(out, 0, sizeof(*out));
    out->natoms = natoms;
    out->positions = (const float(*)[3])x;
    if ((fields & PIO_FIELD_VELOCITIES) && v) {
        for (uint64_t k = 0; k < natoms * 3; k++)
            v[k] = unit24(&s);
        out->velocities = (const float(*)[3])v;
    }
    if ((fields & PIO_FIELD_FORCES) && f) {
        for (uint64_t k = 0; k < natoms * 3; k++)
            f[k] = 500.0f * unit24(&s);
        out->forces = (const float(*)[3])f;
    }
    if (fields & PIO_FIELD_BOX) {
        out->fields |= PIO_FIELD_BOX;
        for (int a = 0; a < 3; a++)
            out->box[a][a] = side;
    }
    out->step = (int64_t)(i * 100);
    out->time = (double)i * 0.2;
    out->index = i;
    memset(sc, 0, 2 * sizeof(*sc));
    strcpy(sc[0].name, "potential");
    sc[0].value = -41.5 * (double)natoms + (double)(i % 97);
    strcpy(sc[1].name, "kinetic");
    sc[1].value = 3.7 * (double)natoms + (double)(i % 89);
    out->nscalars = 2;
    out->scalars = sc;
}

static int synth_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    (void)err;
    struct synth_src *s = ctx;
    *out = (struct pio_source_info){.nframes = s->nframes,
                                    .max_natoms = s->natoms,
                                    .fields = s->fields | PIO_FIELD_POSITIONS,
                                    .length_unit = PIO_UNIT_NM,
                                    .topology = &s->top};
    return 0;
}

static int synth_start(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err)
{
    (void)err;
    struct synth_src *s = ctx;
    s->frames = frames;
    s->n = frames ? n : s->nframes;
    s->k = 0;
    return 0;
}

/* Positions generated straight into dst when it has room. */
static int synth_next_into(void *ctx, struct pio_frame *out, float *dst, uint64_t cap,
                           struct pio_error *err)
{
    (void)err;
    struct synth_src *s = ctx;
    if (s->k == s->n)
        return 0;
    uint64_t i = s->frames ? s->frames[s->k] : s->k;
    s->k++;
    float *x = dst && cap >= s->natoms ? dst : s->x;
    pio_synthetic_frame(i, s->natoms, s->fields, s->seed, x, s->v, s->f, s->sc, out);
    return 1;
}

static int synth_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    return synth_next_into(ctx, out, NULL, 0, err);
}

static void synth_release(void *ctx, const struct pio_frame *f)
{
    (void)ctx;
    (void)f;
}

static void synth_destroy(void *ctx)
{
    struct synth_src *s = ctx;
    if (!s)
        return;
    free(s->x);
    free(s->v);
    free(s->f);
    free(s->topmem);
    free(s);
}

/* Water: OW HW1 HW2 per residue SOL, residues alternate chains A and B. */
static int synth_topology(struct synth_src *s)
{
    size_t n = (size_t)s->natoms;
    uint8_t *m = calloc(1, n * (8 + 8 + 4 + 4 + 4 + 4 + 4) + 1);
    if (!m)
        return -ENOMEM;
    s->topmem = m;
    char(*names)[8] = (void *)m, (*resn)[8] = (void *)(m + n * 8);
    char(*elem)[4] = (void *)(m + n * 16), (*chain)[4] = (void *)(m + n * 20);
    int32_t *resid = (void *)(m + n * 24);
    float *mass = (void *)(m + n * 28), *charge = (void *)(m + n * 32);
    static const char *const nm[3] = {"OW", "HW1", "HW2"};
    for (size_t i = 0; i < n; i++) {
        strcpy(names[i], nm[i % 3]);
        strcpy(resn[i], "SOL");
        strcpy(elem[i], i % 3 ? "H" : "O");
        strcpy(chain[i], (i / 3) % 2 ? "B" : "A");
        resid[i] = (int32_t)(i / 3 + 1);
        mass[i] = i % 3 ? 1.008f : 15.999f;
        charge[i] = i % 3 ? 0.417f : -0.834f;
    }
    s->top = (struct pio_topology){.natoms = s->natoms,
                                   .names = (const char(*)[8])names,
                                   .elements = (const char(*)[4])elem,
                                   .resnames = (const char(*)[8])resn,
                                   .chains = (const char(*)[4])chain,
                                   .resids = resid,
                                   .masses = mass,
                                   .charges = charge};
    return 0;
}

PIO_API int pio_source_synthetic(struct pio_source *out, uint64_t nframes, uint64_t natoms,
                                 uint32_t fields, uint64_t seed, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    if (natoms == 0 || natoms > PIO_HOLO_MAX_ATOMS)
        return pio_error_set(err, PIO_EUSAGE, "synthetic source: %llu atoms (1 to %llu)",
                             (unsigned long long)natoms, (unsigned long long)PIO_HOLO_MAX_ATOMS);
    struct synth_src *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "synthetic source: out of memory");
    s->nframes = nframes;
    s->natoms = natoms;
    s->fields = fields & (PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES | PIO_FIELD_BOX);
    s->seed = seed;
    size_t b = (size_t)natoms * 12;
    s->x = malloc(b);
    s->v = (s->fields & PIO_FIELD_VELOCITIES) ? malloc(b) : NULL;
    s->f = (s->fields & PIO_FIELD_FORCES) ? malloc(b) : NULL;
    if (!s->x || ((s->fields & PIO_FIELD_VELOCITIES) && !s->v) ||
        ((s->fields & PIO_FIELD_FORCES) && !s->f) || synth_topology(s) != 0) {
        synth_destroy(s);
        return pio_error_set(err, -ENOMEM, "synthetic source: out of memory for %llu atoms",
                             (unsigned long long)natoms);
    }
    *out = (struct pio_source){
        "source synthetic", s, synth_info, synth_start, synth_next, synth_release, synth_destroy,
        synth_next_into};
    return 0;
}

/* ---- HOLO sink ----------------------------------------------------------------- */

struct holo_sink {
    char *path;
    struct pio_writer_options wo;
    uint8_t salt[16];
    bool has_salt;
    uint64_t commit_frames, since_commit;
    pio_writer *w;
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
    if (wo.hash_threads == 0) {
        unsigned ncpu = pio_cpu_count(), busy = PIO_MAX(info->threads, 1u);
        wo.hash_threads = ncpu > busy ? ncpu - busy : 1;
    }
    int rc = pio_writer_create(&s->w, s->path, &wo, err);
    if (rc != 0)
        return rc;
    if (info->topology && (rc = pio_writer_set_topology(s->w, info->topology, err)) != 0)
        return rc;
    for (uint64_t i = 0; i < info->nmeta; i++)
        if ((rc = pio_writer_set_metadata(s->w, info->meta_keys[i], info->meta_values[i], err)))
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
    *out = (struct pio_sink){.name = "sink holo",
                             .ctx = s,
                             .precision = PIO_FLOAT32,
                             .length_unit = PIO_UNIT_NM,
                             .begin = holo_sink_begin,
                             .write = holo_sink_write,
                             .end = holo_sink_end,
                             .destroy = holo_sink_destroy};
    return 0;
}
