/*
 * arrow: the little of FlatBuffers that Arrow IPC metadata needs.
 *
 * A FlatBuffer is a tree of tables, vectors and strings linked by unsigned
 * 32-bit offsets that always point forward, so the builder writes back to
 * front, children before parents (as the official builder does): an object
 * is known by its distance from the end of the buffer (`fb_ref`), and a
 * reference stored at distance f to an object at distance o is f - o.
 * Alignment is kept relative to the end; pio__fb_finish pads the total to a
 * multiple of 8 so it holds absolutely too.
 *
 * The reader is for untrusted bytes: every offset is checked against the
 * buffer before it is followed, and each accessor says whether it could.
 */
#ifndef PIO_ARROW_FLATBUF_H
#define PIO_ARROW_FLATBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- builder ---- */

typedef uint32_t fb_ref;

struct fb_builder {
    uint8_t *buf; /* data occupies buf[cap - used, cap) */
    size_t cap, used;
    bool failed; /* out of memory: every later call does nothing */
};

#define FB_MAX_SLOTS 8

/* A table being assembled: scalars and references by slot. */
struct fb_table {
    unsigned nslots;
    struct {
        uint8_t size; /* 0: unset; 1, 2, 4, 8 */
        bool is_ref;
        uint64_t value; /* scalar bits, or the fb_ref */
    } slot[FB_MAX_SLOTS];
};

void pio__fb_init(struct fb_builder *b);
void pio__fb_free(struct fb_builder *b);
fb_ref pio__fb_string(struct fb_builder *b, const char *s, size_t n);
/* A vector of n structs of elem bytes each, aligned to `align`. */
fb_ref pio__fb_struct_vector(struct fb_builder *b, const void *elems, size_t n, size_t elem,
                             size_t align);
fb_ref pio__fb_ref_vector(struct fb_builder *b, const fb_ref *refs, size_t n);

void pio__fb_table_start(struct fb_table *t);
void pio__fb_table_scalar(struct fb_table *t, unsigned slot, unsigned size, uint64_t value);
void pio__fb_table_ref(struct fb_table *t, unsigned slot, fb_ref r);
fb_ref pio__fb_table_end(struct fb_builder *b, const struct fb_table *t);

/* Put the root offset in front; the finished bytes are buf + cap - used,
 * `used` long (a multiple of 8). Returns false when out of memory. */
bool pio__fb_finish(struct fb_builder *b, fb_ref root, const uint8_t **out, size_t *len);

/* ---- reader ---- */

struct fb_view {
    const uint8_t *p;
    size_t n;
};

/* A validated table: its position and vtable. */
struct fb_tab {
    const struct fb_view *v;
    size_t pos, vt;
    uint16_t vt_size, t_size;
};

/* The root table. */
bool pio__fb_root(const struct fb_view *v, struct fb_tab *t);
/* Field `slot` of size `size` present? *at is its position. Fails (false)
 * also when the field would lie outside the table or the buffer. */
bool pio__fb_field(const struct fb_tab *t, unsigned slot, size_t size, size_t *at);
/* Scalars with their schema default when absent; *ok cleared on a field
 * that lies outside the buffer. */
uint64_t pio__fb_get_u(const struct fb_tab *t, unsigned slot, unsigned size, uint64_t dflt);
int64_t pio__fb_get_i(const struct fb_tab *t, unsigned slot, unsigned size, int64_t dflt);
/* A referenced table / vector / string: false when absent or invalid. */
bool pio__fb_get_table(const struct fb_tab *t, unsigned slot, struct fb_tab *out);
bool pio__fb_get_vector(const struct fb_tab *t, unsigned slot, size_t elem, size_t *n,
                        size_t *data);
bool pio__fb_get_string(const struct fb_tab *t, unsigned slot, const char **s, size_t *len);
/* Element i of a vector of tables (data from pio__fb_get_vector with elem 4). */
bool pio__fb_vector_table(const struct fb_view *v, size_t data, size_t i, struct fb_tab *out);

static inline uint64_t fb_load(const uint8_t *p, unsigned size)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < size; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return x;
}

#endif /* PIO_ARROW_FLATBUF_H */
