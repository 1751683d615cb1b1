/*
 * arrow: FlatBuffers builder (back to front) and checked reader. See flatbuf.h.
 */
#include "arrow/flatbuf.h"

#include <stdlib.h>
#include <string.h>

/* ---- builder ------------------------------------------------------------------ */

void pio__fb_init(struct fb_builder *b)
{
    memset(b, 0, sizeof(*b));
}

void pio__fb_free(struct fb_builder *b)
{
    free(b->buf);
    memset(b, 0, sizeof(*b));
}

/* Room for n more bytes in front of the data. */
static bool fb_reserve(struct fb_builder *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->cap - b->used >= n)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->used < n)
        cap *= 2;
    uint8_t *nb = malloc(cap);
    if (!nb) {
        b->failed = true;
        return false;
    }
    if (b->used)
        memcpy(nb + cap - b->used, b->buf + b->cap - b->used, b->used);
    free(b->buf);
    b->buf = nb;
    b->cap = cap;
    return true;
}

static void fb_push(struct fb_builder *b, const void *p, size_t n)
{
    if (n == 0 || !fb_reserve(b, n))
        return;
    b->used += n;
    if (p)
        memcpy(b->buf + b->cap - b->used, p, n);
    else
        memset(b->buf + b->cap - b->used, 0, n);
}

static void fb_push_u(struct fb_builder *b, uint64_t x, unsigned size)
{
    uint8_t le[8];
    for (unsigned i = 0; i < size; i++)
        le[i] = (uint8_t)(x >> (8 * i));
    fb_push(b, le, size);
}

/* Pad so that, once `extra` more bytes are pushed, the start is aligned. */
static void fb_prep(struct fb_builder *b, size_t align, size_t extra)
{
    size_t pad = (align - (b->used + extra) % align) % align;
    fb_push(b, NULL, pad);
}

/* A forward reference from the u32 just pushed to `target`. */
static void fb_push_ref(struct fb_builder *b, fb_ref target)
{
    fb_push(b, NULL, 4);
    if (b->failed)
        return;
    uint32_t off = (uint32_t)(b->used - target);
    uint8_t *p = b->buf + b->cap - b->used;
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(off >> (8 * i));
}

fb_ref pio__fb_string(struct fb_builder *b, const char *s, size_t n)
{
    fb_prep(b, 4, n + 1);
    fb_push(b, NULL, 1);
    fb_push(b, s, n);
    fb_push_u(b, n, 4);
    return (fb_ref)b->used;
}

fb_ref pio__fb_struct_vector(struct fb_builder *b, const void *elems, size_t n, size_t elem,
                             size_t align)
{
    fb_prep(b, align > 4 ? align : 4, n * elem);
    fb_push(b, elems, n * elem);
    fb_push_u(b, n, 4);
    return (fb_ref)b->used;
}

fb_ref pio__fb_ref_vector(struct fb_builder *b, const fb_ref *refs, size_t n)
{
    fb_prep(b, 4, 4 * n);
    for (size_t i = n; i-- > 0;)
        fb_push_ref(b, refs[i]);
    fb_push_u(b, n, 4);
    return (fb_ref)b->used;
}

void pio__fb_table_start(struct fb_table *t)
{
    memset(t, 0, sizeof(*t));
}

void pio__fb_table_scalar(struct fb_table *t, unsigned slot, unsigned size, uint64_t value)
{
    t->slot[slot].size = (uint8_t)size;
    t->slot[slot].is_ref = false;
    t->slot[slot].value = value;
    if (slot + 1 > t->nslots)
        t->nslots = slot + 1;
}

void pio__fb_table_ref(struct fb_table *t, unsigned slot, fb_ref r)
{
    pio__fb_table_scalar(t, slot, 4, r);
    t->slot[slot].is_ref = true;
}

fb_ref pio__fb_table_end(struct fb_builder *b, const struct fb_table *t)
{
    size_t start = b->used, pos[FB_MAX_SLOTS] = {0};
    /* Largest fields first, so padding stays small. */
    for (unsigned size = 8; size >= 1; size /= 2)
        for (unsigned s = 0; s < t->nslots; s++) {
            if (t->slot[s].size != size)
                continue;
            fb_prep(b, size, 0);
            if (t->slot[s].is_ref)
                fb_push_ref(b, (fb_ref)t->slot[s].value);
            else
                fb_push_u(b, t->slot[s].value, size);
            pos[s] = b->used;
        }
    fb_prep(b, 4, 0);
    fb_push(b, NULL, 4); /* soffset to the vtable, filled below */
    size_t table = b->used;
    for (unsigned s = t->nslots; s-- > 0;)
        fb_push_u(b, t->slot[s].size ? table - pos[s] : 0, 2);
    fb_push_u(b, table - start, 2);
    fb_push_u(b, 4 + 2 * t->nslots, 2);
    if (b->failed)
        return 0;
    /* The vtable sits just before the table: table - soffset = vtable. */
    uint32_t soff = (uint32_t)(b->used - table);
    uint8_t *p = b->buf + b->cap - table;
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(soff >> (8 * i));
    return (fb_ref)table;
}

bool pio__fb_finish(struct fb_builder *b, fb_ref root, const uint8_t **out, size_t *len)
{
    fb_prep(b, 8, 4);
    fb_push_ref(b, root);
    if (b->failed)
        return false;
    *out = b->buf + b->cap - b->used;
    *len = b->used;
    return true;
}

/* ---- reader ------------------------------------------------------------------- */

static bool fb_tab_at(const struct fb_view *v, size_t pos, struct fb_tab *t)
{
    if (pos > v->n || v->n - pos < 4 || pos % 4)
        return false;
    int64_t soff = (int32_t)(uint32_t)fb_load(v->p + pos, 4);
    int64_t vt = (int64_t)pos - soff;
    if (vt < 0 || (uint64_t)vt + 4 > v->n || vt % 2)
        return false;
    uint16_t vt_size = (uint16_t)fb_load(v->p + vt, 2);
    uint16_t t_size = (uint16_t)fb_load(v->p + vt + 2, 2);
    if (vt_size < 4 || vt_size % 2 || (uint64_t)vt + vt_size > v->n || t_size < 4 ||
        (uint64_t)pos + t_size > v->n)
        return false;
    *t = (struct fb_tab){v, pos, (size_t)vt, vt_size, t_size};
    return true;
}

bool pio__fb_root(const struct fb_view *v, struct fb_tab *t)
{
    if (v->n < 8)
        return false;
    return fb_tab_at(v, (size_t)fb_load(v->p, 4), t);
}

bool pio__fb_field(const struct fb_tab *t, unsigned slot, size_t size, size_t *at)
{
    size_t e = 4 + 2 * (size_t)slot;
    if (e + 2 > t->vt_size)
        return false;
    size_t off = (size_t)fb_load(t->v->p + t->vt + e, 2);
    if (off == 0 || off + size > t->t_size)
        return false;
    *at = t->pos + off;
    return true;
}

uint64_t pio__fb_get_u(const struct fb_tab *t, unsigned slot, unsigned size, uint64_t dflt)
{
    size_t at;
    return pio__fb_field(t, slot, size, &at) ? fb_load(t->v->p + at, size) : dflt;
}

int64_t pio__fb_get_i(const struct fb_tab *t, unsigned slot, unsigned size, int64_t dflt)
{
    size_t at;
    if (!pio__fb_field(t, slot, size, &at))
        return dflt;
    uint64_t x = fb_load(t->v->p + at, size);
    if (size < 8 && (x >> (8 * size - 1)) & 1)
        x |= ~(uint64_t)0 << (8 * size);
    return (int64_t)x;
}

/* Follow the uoffset at `at`: the target's position, or false. */
static bool fb_follow(const struct fb_view *v, size_t at, size_t *target)
{
    if (at > v->n || v->n - at < 4)
        return false;
    uint64_t t = (uint64_t)at + fb_load(v->p + at, 4);
    if (t >= v->n)
        return false;
    *target = (size_t)t;
    return true;
}

bool pio__fb_get_table(const struct fb_tab *t, unsigned slot, struct fb_tab *out)
{
    size_t at, target;
    return pio__fb_field(t, slot, 4, &at) && fb_follow(t->v, at, &target) &&
           fb_tab_at(t->v, target, out);
}

bool pio__fb_get_vector(const struct fb_tab *t, unsigned slot, size_t elem, size_t *n, size_t *data)
{
    size_t at, target;
    if (!pio__fb_field(t, slot, 4, &at) || !fb_follow(t->v, at, &target) || t->v->n - target < 4)
        return false;
    uint64_t count = fb_load(t->v->p + target, 4);
    uint64_t start = (uint64_t)target + 4;
    if (count * elem > t->v->n - start)
        return false;
    *n = (size_t)count;
    *data = (size_t)start;
    return true;
}

bool pio__fb_get_string(const struct fb_tab *t, unsigned slot, const char **s, size_t *len)
{
    size_t data;
    if (!pio__fb_get_vector(t, slot, 1, len, &data))
        return false;
    *s = (const char *)t->v->p + data;
    return true;
}

bool pio__fb_vector_table(const struct fb_view *v, size_t data, size_t i, struct fb_tab *out)
{
    size_t target;
    return fb_follow(v, data + 4 * i, &target) && fb_tab_at(v, target, out);
}
