/*
 * arrow: the C Data Interface plumbing (owners, arenas, nodes and their
 * release callbacks, format strings) and pio_arrow_export, the stream of a
 * HOLO file's frames.
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

/* ---- owners and arenas ---------------------------------------------------------- */

void arw_owner_get(struct arw_owner *o)
{
    /* relaxed: the caller already holds a reference. */
    if (o)
        atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
}

void arw_owner_put(struct arw_owner *o)
{
    /* acq_rel: the last holder sees every other holder's accesses done. */
    if (o && atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
        o->destroy(o);
}

struct arw_chunk {
    struct arw_chunk *next;
    size_t size;
};
#define ARW_CHUNK_HEAD 64 /* keeps the payload 64-byte aligned */

struct arw_arena *arw_arena_new(struct arw_owner *owner)
{
    struct arw_arena *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    atomic_init(&a->live, 0);
    a->owner = owner;
    arw_owner_get(owner);
    return a;
}

void *arw_alloc(struct arw_arena *a, size_t n)
{
    size_t total = ARW_CHUNK_HEAD + ((n + 63) & ~(size_t)63);
    struct arw_chunk *c = aligned_alloc(64, total);
    if (!c)
        return NULL;
    memset(c, 0, total);
    c->next = a->chunks;
    c->size = n;
    a->chunks = c;
    return (uint8_t *)c + ARW_CHUNK_HEAD;
}

void arw_arena_abandon(struct arw_arena *a)
{
    if (!a)
        return;
    for (struct arw_chunk *c = a->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    arw_owner_put(a->owner);
    free(a);
}

static void arena_drop(struct arw_arena *a)
{
    /* acq_rel: the node freeing the arena sees the other releases done. */
    if (atomic_fetch_sub_explicit(&a->live, 1, memory_order_acq_rel) == 1)
        arw_arena_abandon(a);
}

/* ---- nodes ---------------------------------------------------------------------- */

static void schema_release(struct ArrowSchema *s)
{
    if (!s || !s->release)
        return;
    for (int64_t i = 0; i < s->n_children; i++)
        if (s->children[i]->release)
            s->children[i]->release(s->children[i]);
    struct arw_arena *a = s->private_data;
    s->release = NULL;
    arena_drop(a);
}

static void array_release(struct ArrowArray *x)
{
    if (!x || !x->release)
        return;
    for (int64_t i = 0; i < x->n_children; i++)
        if (x->children[i]->release)
            x->children[i]->release(x->children[i]);
    struct arw_arena *a = x->private_data;
    x->release = NULL;
    arena_drop(a);
}

struct ArrowSchema *arw_schema_node(struct arw_arena *a, const char *format, const char *name,
                                    int64_t flags, int64_t n_children)
{
    struct ArrowSchema *s = arw_alloc(a, sizeof(*s));
    size_t fl = strlen(format) + 1, nl = strlen(name) + 1;
    char *strings = arw_alloc(a, fl + nl);
    struct ArrowSchema **kids =
        n_children ? arw_alloc(a, (size_t)n_children * sizeof(*kids)) : NULL;
    if (!s || !strings || (n_children && !kids))
        return NULL;
    memcpy(strings, format, fl);
    memcpy(strings + fl, name, nl);
    *s = (struct ArrowSchema){strings, strings + fl, NULL,           flags, n_children,
                              kids,    NULL,         schema_release, a};
    atomic_fetch_add_explicit(&a->live, 1, memory_order_relaxed);
    return s;
}

struct ArrowArray *arw_array_node(struct arw_arena *a, int64_t length, int64_t n_buffers,
                                  int64_t n_children)
{
    struct ArrowArray *x = arw_alloc(a, sizeof(*x));
    const void **bufs = arw_alloc(a, (size_t)(n_buffers ? n_buffers : 1) * sizeof(*bufs));
    struct ArrowArray **kids = n_children ? arw_alloc(a, (size_t)n_children * sizeof(*kids)) : NULL;
    if (!x || !bufs || (n_children && !kids))
        return NULL;
    *x = (struct ArrowArray){length, 0,    0,    n_buffers,     n_children,
                             bufs,   kids, NULL, array_release, a};
    atomic_fetch_add_explicit(&a->live, 1, memory_order_relaxed);
    return x;
}

/* The root node was counted when built; the published copy takes its place. */
void arw_schema_publish(struct ArrowSchema *root, struct ArrowSchema *out)
{
    *out = *root;
    root->release = NULL;
}

void arw_array_publish(struct ArrowArray *root, struct ArrowArray *out)
{
    *out = *root;
    root->release = NULL;
}

char *arw_metadata_encode(struct arw_arena *a, uint64_t n, const char *const *keys,
                          const char *const *values)
{
    if (n == 0)
        return NULL;
    size_t total = 4;
    for (uint64_t i = 0; i < n; i++)
        total += 8 + strlen(keys[i]) + strlen(values[i]);
    char *m = arw_alloc(a, total);
    if (!m)
        return NULL;
    char *p = m;
    int32_t v = (int32_t)n;
    memcpy(p, &v, 4);
    p += 4;
    for (uint64_t i = 0; i < n; i++) {
        const char *s[2] = {keys[i], values[i]};
        for (int k = 0; k < 2; k++) {
            v = (int32_t)strlen(s[k]);
            memcpy(p, &v, 4);
            memcpy(p + 4, s[k], (size_t)v);
            p += 4 + v;
        }
    }
    return m;
}

/* ---- types ---------------------------------------------------------------------- */

int arw_type_parse(const char *f, enum arw_type *t, int32_t *list_size)
{
    *list_size = 0;
    static const struct {
        const char *f;
        enum arw_type t;
    } simple[] = {{"i", ARW_INT32}, {"l", ARW_INT64}, {"f", ARW_FLOAT32}, {"g", ARW_FLOAT64},
                  {"u", ARW_UTF8},  {"+l", ARW_LIST}, {"+s", ARW_STRUCT}};
    for (size_t i = 0; i < PIO_ARRAY_LEN(simple); i++)
        if (strcmp(f, simple[i].f) == 0) {
            *t = simple[i].t;
            return 0;
        }
    if (strncmp(f, "+w:", 3) == 0) {
        char *end;
        long n = strtol(f + 3, &end, 10);
        if (*end == '\0' && end != f + 3 && n > 0 && n <= INT32_MAX) {
            *t = ARW_FSL;
            *list_size = (int32_t)n;
            return 0;
        }
    }
    return PIO_ENOTSUPPORTED;
}

int arw_type_nbuffers(enum arw_type t)
{
    switch (t) {
    case ARW_UTF8:
        return 3;
    case ARW_FSL:
    case ARW_STRUCT:
        return 1;
    default:
        return 2;
    }
}

int arw_type_width(enum arw_type t)
{
    switch (t) {
    case ARW_INT32:
    case ARW_FLOAT32:
        return 4;
    case ARW_INT64:
    case ARW_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

/* ---- pio_arrow_export: a stream over a reader ----------------------------------- */

struct export_stream {
    const pio_reader *r; /* retained */
    struct arw_layout *layout;
    uint64_t next, end;
    uint32_t batch_frames;
    struct pio_frame *frames;
    struct pio_error err;
};

static int ex_get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out)
{
    struct export_stream *s = st->private_data;
    int rc = arw_layout_schema(s->layout, out, &s->err);
    return rc == -ENOMEM ? ENOMEM : rc ? EIO : 0;
}

static int ex_get_next(struct ArrowArrayStream *st, struct ArrowArray *out)
{
    struct export_stream *s = st->private_data;
    memset(out, 0, sizeof(*out));
    if (s->next >= s->end)
        return 0; /* end: out->release stays NULL */
    uint64_t n = PIO_MIN((uint64_t)s->batch_frames, s->end - s->next);
    for (uint64_t k = 0; k < n; k++) {
        int rc = pio_reader_frame(s->r, s->next + k, &s->frames[k], &s->err);
        if (rc != 0)
            return EIO;
    }
    int rc = arw_layout_batch(s->layout, s->frames, (size_t)n, out, &s->err);
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
    arw_layout_put(s->layout);
    pio_reader_close((pio_reader *)s->r);
    free(s->frames);
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
    int rc = arw_layout_new(&s->layout, &c, err);
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
