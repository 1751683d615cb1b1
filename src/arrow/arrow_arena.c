/*
 * arrow: the pieces every exported tree is built of: reference-counted
 * owners, arenas, C Data Interface nodes and their release callbacks,
 * metadata encoding, and format strings (see arrow_internal.h).
 */
#include <stdlib.h>
#include <string.h>

#include "arrow/arrow_internal.h"

#include "common/pio_common.h"

/* ---- owners and arenas ---------------------------------------------------------- */

void pio__arw_owner_get(struct arw_owner *o)
{
    /* relaxed: the caller already holds a reference. */
    if (o)
        atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
}

void pio__arw_owner_put(struct arw_owner *o)
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

struct arw_arena *pio__arw_arena_new(struct arw_owner *owner)
{
    struct arw_arena *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    atomic_init(&a->live, 0);
    a->owner = owner;
    pio__arw_owner_get(owner);
    return a;
}

void *pio__arw_alloc(struct arw_arena *a, size_t n)
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

void pio__arw_arena_abandon(struct arw_arena *a)
{
    if (!a)
        return;
    for (struct arw_chunk *c = a->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    pio__arw_owner_put(a->owner);
    free(a);
}

static void arena_drop(struct arw_arena *a)
{
    /* acq_rel: the node freeing the arena sees the other releases done. */
    if (atomic_fetch_sub_explicit(&a->live, 1, memory_order_acq_rel) == 1)
        pio__arw_arena_abandon(a);
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

struct ArrowSchema *pio__arw_schema_node(struct arw_arena *a, const char *format, const char *name,
                                         int64_t flags, int64_t n_children)
{
    struct ArrowSchema *s = pio__arw_alloc(a, sizeof(*s));
    size_t fl = strlen(format) + 1, nl = strlen(name) + 1;
    char *strings = pio__arw_alloc(a, fl + nl);
    struct ArrowSchema **kids =
        n_children ? pio__arw_alloc(a, (size_t)n_children * sizeof(*kids)) : NULL;
    if (!s || !strings || (n_children && !kids))
        return NULL;
    memcpy(strings, format, fl);
    memcpy(strings + fl, name, nl);
    *s = (struct ArrowSchema){strings, strings + fl, NULL,           flags, n_children,
                              kids,    NULL,         schema_release, a};
    atomic_fetch_add_explicit(&a->live, 1, memory_order_relaxed);
    return s;
}

struct ArrowArray *pio__arw_array_node(struct arw_arena *a, int64_t length, int64_t n_buffers,
                                       int64_t n_children)
{
    struct ArrowArray *x = pio__arw_alloc(a, sizeof(*x));
    const void **bufs = pio__arw_alloc(a, (size_t)(n_buffers ? n_buffers : 1) * sizeof(*bufs));
    struct ArrowArray **kids =
        n_children ? pio__arw_alloc(a, (size_t)n_children * sizeof(*kids)) : NULL;
    if (!x || !bufs || (n_children && !kids))
        return NULL;
    *x = (struct ArrowArray){length, 0,    0,    n_buffers,     n_children,
                             bufs,   kids, NULL, array_release, a};
    atomic_fetch_add_explicit(&a->live, 1, memory_order_relaxed);
    return x;
}

/* The root node was counted when built; the published copy takes its place. */
void pio__arw_schema_publish(struct ArrowSchema *root, struct ArrowSchema *out)
{
    *out = *root;
    root->release = NULL;
}

void pio__arw_array_publish(struct ArrowArray *root, struct ArrowArray *out)
{
    *out = *root;
    root->release = NULL;
}

char *pio__arw_metadata_encode(struct arw_arena *a, uint64_t n, const char *const *keys,
                               const char *const *values)
{
    if (n == 0)
        return NULL;
    size_t total = 4;
    for (uint64_t i = 0; i < n; i++)
        total += 8 + strlen(keys[i]) + strlen(values[i]);
    char *m = pio__arw_alloc(a, total);
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

int pio__arw_type_parse(const char *f, enum arw_type *t, int32_t *list_size)
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

int pio__arw_type_nbuffers(enum arw_type t)
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

int pio__arw_type_width(enum arw_type t)
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
