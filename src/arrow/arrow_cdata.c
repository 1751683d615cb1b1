/*
 * arrow: pio_arrow_export, the stream of a HOLO file's frames through the
 * C Data Interface (built of arrow_arena.c's nodes and arrow_layout.c's
 * batches).
 *
 * Release rules followed (Arrow's C Data Interface): released means
 * release == NULL; a node's release releases the children the consumer
 * has not moved out (release still set), then marks itself; nothing points
 * into the struct itself (children and buffer arrays live in the arena),
 * so a consumer may move any node by bitwise copy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/arrow_internal.h"
#include "common/pio_common.h"

/* ---- pio_arrow_export: a stream over a reader ----------------------------------- */

struct export_stream {
    const pio_reader *r; /* retained */
    struct arw_layout *layout;
    uint64_t next, end;
    uint32_t batch_frames;
    struct pio_frame *frames;
    float *dec; /* a batch's decoded arrays (compressed frames) */
    size_t dec_cap;
    struct pio_error err;
};

static int ex_get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out)
{
    struct export_stream *s = st->private_data;
    int rc = pio__arw_layout_schema(s->layout, out, &s->err);
    return rc == -ENOMEM ? ENOMEM : rc ? EIO : 0;
}

static int ex_get_next(struct ArrowArrayStream *st, struct ArrowArray *out)
{
    struct export_stream *s = st->private_data;
    memset(out, 0, sizeof(*out));
    if (s->next >= s->end)
        return 0; /* end: out->release stays NULL */
    uint64_t n = PIO_MIN((uint64_t)s->batch_frames, s->end - s->next);
    size_t used = 0; /* floats of s->dec taken by this batch's decoded arrays */
    for (uint64_t k = 0; k < n; k++) {
        struct pio_frame *f = &s->frames[k];
        int rc = pio_reader_frame(s->r, s->next + k, f, &s->err);
        if (rc != 0)
            return EIO;
        if (!(f->fields & PIO_FIELD_DECODED))
            continue;
        /* a compressed frame, decoded into the reader's ring of recent
         * frames: copied out at once (the batch's layout copies it again,
         * into the batch's own memory, since batches point into the mapping
         * that a decoded array is not in) */
        const float(**arr[3])[3] = {&f->positions, &f->velocities, &f->forces};
        size_t need = used + (size_t)f->natoms * 9;
        if (need > s->dec_cap) {
            size_t cap = PIO_MAX(need, 2 * s->dec_cap);
            float *d = realloc(s->dec, cap * sizeof(float));
            if (!d) {
                pio_error_set(&s->err, -ENOMEM, "arrow export: out of memory");
                return ENOMEM;
            }
            /* arrays copied before the move now point into the old block */
            for (uint64_t j = 0; j < k; j++) {
                const float(**pj[3])[3] = {&s->frames[j].positions, &s->frames[j].velocities,
                                           &s->frames[j].forces};
                for (int a = 0; a < 3; a++)
                    if ((s->frames[j].fields & PIO_FIELD_DECODED) && *pj[a])
                        *pj[a] = (const float(*)[3])(d + ((const float *)*pj[a] - s->dec));
            }
            s->dec = d;
            s->dec_cap = cap;
        }
        for (int a = 0; a < 3; a++) {
            if (!*arr[a])
                continue;
            memcpy(s->dec + used, *arr[a], (size_t)f->natoms * 12);
            *arr[a] = (const float(*)[3])(s->dec + used);
            used += (size_t)f->natoms * 3;
        }
    }
    int rc = pio__arw_layout_batch(s->layout, s->frames, (size_t)n, out, &s->err);
    if (rc != 0)
        return rc == -ENOMEM ? ENOMEM : EIO;
    s->next += n;
    return 0;
}

static const char *ex_last_error(struct ArrowArrayStream *st)
{
    struct export_stream *s = st->private_data;
    return s->err.message[0] ? s->err.message : NULL;
}

static void ex_release(struct ArrowArrayStream *st)
{
    if (!st || !st->release)
        return;
    struct export_stream *s = st->private_data;
    pio__arw_layout_put(s->layout);
    pio_reader_close((pio_reader *)s->r);
    free(s->frames);
    free(s->dec);
    free(s);
    st->release = NULL;
}

PIO_API int pio_arrow_export(struct ArrowArrayStream *out, const pio_reader *r,
                             const struct pio_arrow_options *opts, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    if (opts) {
        if (opts->size < sizeof(o))
            return pio_error_set(err, PIO_EUSAGE, "arrow export options: size %u", opts->size);
        o = *opts;
    }
    uint64_t nframes = pio_reader_nframes(r);
    if (o.layout > PIO_ARROW_ATOMS)
        return pio_error_set(err, PIO_EUSAGE, "arrow export: unknown layout %u", o.layout);
    if (o.fields & ~(uint32_t)(PIO_FIELD_POSITIONS | PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES))
        return pio_error_set(err, PIO_EUSAGE, "arrow export: fields 0x%x are not atom arrays",
                             o.fields);
    if (o.first > nframes)
        return pio_error_set(err, PIO_EUSAGE,
                             "arrow export: first frame %llu beyond the file's %llu frames",
                             (unsigned long long)o.first, (unsigned long long)nframes);
    uint64_t end = o.count > nframes - o.first ? nframes : o.first + o.count;
    uint32_t batch = o.layout == PIO_ARROW_ATOMS || o.batch_frames == 0 ? 1 : o.batch_frames;

    struct pio_frame first;
    struct pio_topology top;
    bool has_top = pio_reader_topology(r, &top) == 0;
    bool has_first = o.first < end && pio_reader_frame(r, o.first, &first, NULL) == 0;
    /* All three by default: knowing which the range has would mean reading
     * every frame header (not O(1)); absent ones are nulls. */
    uint32_t fields =
        o.fields ? o.fields : PIO_FIELD_POSITIONS | PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES;
    uint64_t nmeta = pio_reader_metadata_count(r);
    const char **kv = calloc((size_t)(2 * nmeta + 1), sizeof(*kv));
    struct export_stream *s = calloc(1, sizeof(*s));
    if (s)
        s->frames = calloc(batch, sizeof(*s->frames));
    if (!kv || !s || !s->frames) {
        free(kv);
        if (s)
            free(s->frames);
        free(s);
        return pio_error_set(err, -ENOMEM, "arrow export: out of memory");
    }
    for (uint64_t i = 0; i < nmeta; i++)
        pio_reader_metadata_at(r, i, &kv[i], &kv[nmeta + i]);
    struct arw_layout_config c = {o.layout,
                                  fields,
                                  has_first ? &first : NULL,
                                  has_top ? &top : NULL,
                                  nmeta,
                                  kv,
                                  kv + nmeta,
                                  r,
                                  "arrow export"};
    int rc = pio__arw_layout_new(&s->layout, &c, err);
    free(kv);
    if (rc != 0) {
        free(s->frames);
        free(s);
        return rc;
    }
    s->r = pio_reader_retain(r);
    s->next = o.first;
    s->end = end;
    s->batch_frames = batch;
    *out = (struct ArrowArrayStream){ex_get_schema, ex_get_next, ex_last_error, ex_release, s};
    return 0;
}
