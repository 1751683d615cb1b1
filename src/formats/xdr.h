/*
 * convert: big-endian XDR primitives over a bounded cursor (XTC, TRR).
 * A read past the end sets `bad` and returns zero, so a parser checks once
 * after a group of reads instead of after each.
 */
#ifndef PIO_XDR_H
#define PIO_XDR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct xdr_in {
    const uint8_t *p;
    uint64_t len, pos;
    bool bad;
};

static inline bool xdr_need(struct xdr_in *x, uint64_t n)
{
    if (x->bad || n > x->len - x->pos) {
        x->bad = true;
        return false;
    }
    return true;
}

static inline uint32_t xdr_u32(struct xdr_in *x)
{
    if (!xdr_need(x, 4))
        return 0;
    const uint8_t *b = x->p + x->pos;
    x->pos += 4;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline int32_t xdr_i32(struct xdr_in *x)
{
    return (int32_t)xdr_u32(x);
}

static inline uint64_t xdr_u64(struct xdr_in *x)
{
    uint64_t hi = xdr_u32(x);
    return hi << 32 | xdr_u32(x);
}

static inline float xdr_f32(struct xdr_in *x)
{
    uint32_t u = xdr_u32(x);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline double xdr_f64(struct xdr_in *x)
{
    uint64_t u = xdr_u64(x);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Opaque bytes, padded to 4: a pointer to them, or NULL. */
static inline const uint8_t *xdr_opaque(struct xdr_in *x, uint64_t n)
{
    uint64_t padded = (n + 3) & ~(uint64_t)3;
    if (n > UINT64_MAX - 3 || !xdr_need(x, padded))
        return NULL;
    const uint8_t *b = x->p + x->pos;
    x->pos += padded;
    return b;
}

/* ---- writing into a growing buffer ---- */

struct xdr_out {
    uint8_t *p;
    uint64_t len, cap;
    bool oom;
};

static inline uint8_t *xdr_room(struct xdr_out *o, uint64_t n)
{
    if (o->oom)
        return NULL;
    if (o->cap - o->len < n) {
        uint64_t cap = o->cap ? o->cap : 256;
        while (cap - o->len < n)
            cap *= 2;
        uint8_t *q = realloc(o->p, (size_t)cap);
        if (!q) {
            o->oom = true;
            return NULL;
        }
        o->p = q;
        o->cap = cap;
    }
    uint8_t *r = o->p + o->len;
    o->len += n;
    return r;
}

static inline void xdr_put_u32(struct xdr_out *o, uint32_t v)
{
    uint8_t *b = xdr_room(o, 4);
    if (b) {
        b[0] = (uint8_t)(v >> 24);
        b[1] = (uint8_t)(v >> 16);
        b[2] = (uint8_t)(v >> 8);
        b[3] = (uint8_t)v;
    }
}

static inline void xdr_put_i32(struct xdr_out *o, int32_t v)
{
    xdr_put_u32(o, (uint32_t)v);
}

static inline void xdr_put_u64(struct xdr_out *o, uint64_t v)
{
    xdr_put_u32(o, (uint32_t)(v >> 32));
    xdr_put_u32(o, (uint32_t)v);
}

static inline void xdr_put_f32(struct xdr_out *o, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    xdr_put_u32(o, u);
}

static inline void xdr_put_f64(struct xdr_out *o, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    xdr_put_u64(o, u);
}

static inline void xdr_put_opaque(struct xdr_out *o, const uint8_t *b, uint64_t n)
{
    uint64_t padded = (n + 3) & ~(uint64_t)3;
    uint8_t *d = xdr_room(o, padded);
    if (d) {
        memcpy(d, b, (size_t)n);
        memset(d + n, 0, (size_t)(padded - n));
    }
}

#endif /* PIO_XDR_H */
