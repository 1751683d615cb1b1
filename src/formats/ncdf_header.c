/*
 * convert: the NetCDF classic header, checked before libnetcdf reads it.
 *
 * libnetcdf trusts the header it parses: a variable count of 2^31 made it
 * crash inside nc_open, an attribute claiming 4 GiB of values made it
 * allocate 4 GiB. So the header is parsed here first, from the mapped
 * file, and every count, name, type, dimension id and variable extent is
 * checked against the file's size; only a file that passes is opened with
 * libnetcdf. Big-endian throughout (NetCDF Users Guide, "File Format
 * Specifications"):
 *
 *   header = magic numrecs dim_list gatt_list var_list
 *   magic  = 'C' 'D' 'F' (1: classic | 2: 64-bit offset | 5: 64-bit data)
 *   list   = ABSENT (0, count 0) | tag count [item ...]
 *   dim    = name length                     (length 0: the record dimension)
 *   attr   = name nc_type count values       (values padded to 4 bytes)
 *   var    = name ndims [dimid ...] vatt_list nc_type vsize begin
 *   name   = count bytes                     (padded to 4 bytes)
 *
 * Counts (NON_NEG) are non-negative 32-bit integers, 64-bit in CDF-5;
 * begin is 32-bit in CDF-1, 64-bit after. A non-record variable's data
 * lies at [begin, begin + size); record r of a record variable at begin +
 * r x recsize, recsize being the record variables' padded sizes added up
 * (unpadded when there is only one). Records the file does not wholly hold
 * are reported, not refused, so a truncated trajectory keeps its complete
 * frames. Nothing is allocated but a growing array of dimension lengths
 * (8 bytes for each dimension's 12 or more in the file).
 *
 * NetCDF-4 files (HDF5) are refused, not passed through: their format is
 * far beyond a check like this one, and AMBER trajectories are classic or
 * 64-bit offset (`nccopy -k nc6` converts a NetCDF-4 file).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats_internal.h"

#include "common/pio_common.h"

#define TAG_DIMENSION 0x0au
#define TAG_VARIABLE  0x0bu
#define TAG_ATTRIBUTE 0x0cu
#define MAX_VAR_DIMS  1024u /* libnetcdf's NC_MAX_VAR_DIMS */

struct nch {
    const uint8_t *p;
    uint64_t size, pos; /* pos <= size always */
    unsigned cw;        /* bytes of a count (NON_NEG): 4, 8 in CDF-5 */
    unsigned ow;        /* bytes of an offset (begin): 4 in CDF-1, else 8 */
    const char *path;
    struct pio_error *err;
    uint64_t *dimlen, ndims, dimcap;
    uint64_t recdim; /* UINT64_MAX: none */
};

static int nch_fail(struct nch *h, uint64_t at, const char *fmt, ...) PIO_PRINTF(3, 4);
static int nch_fail(struct nch *h, uint64_t at, const char *fmt, ...)
{
    char msg[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return pio_error_set(h->err, PIO_ECORRUPT, "%s: %s at offset 0x%llx", h->path, msg,
                         (unsigned long long)at);
}

/* n (at most 8) big-endian bytes, or false at the end of the file. */
static bool nch_uint(struct nch *h, unsigned n, uint64_t *v)
{
    if (h->size - h->pos < n)
        return false;
    uint64_t x = 0;
    for (unsigned k = 0; k < n; k++)
        x = x << 8 | h->p[h->pos + k];
    h->pos += n;
    *v = x;
    return true;
}

static int nch_cut(struct nch *h, const char *ctx, const char *field)
{
    return nch_fail(h, h->pos, "%s: %s cut off by the end of the file (%llu bytes)", ctx, field,
                    (unsigned long long)h->size);
}

/* A non-negative integer of n bytes (a count, dimension id or offset). */
static int nch_nonneg(struct nch *h, unsigned n, const char *ctx, const char *field, uint64_t *v)
{
    uint64_t at = h->pos;
    if (!nch_uint(h, n, v))
        return nch_cut(h, ctx, field);
    if (*v > (n == 4 ? (uint64_t)INT32_MAX : (uint64_t)INT64_MAX))
        return nch_fail(h, at, "%s: %s %llu is not a non-negative %u-bit integer", ctx, field,
                        (unsigned long long)*v, n * 8);
    return 0;
}

/* a * b, or UINT64_MAX when it does not fit. */
static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* A name, printable in messages: control bytes refused, cut to 40 bytes. */
static int nch_name(struct nch *h, const char *ctx, char out[48])
{
    uint64_t n = 0, at = h->pos;
    int rc = nch_nonneg(h, h->cw, ctx, "name length", &n);
    if (rc != 0)
        return rc;
    if (n == 0)
        return nch_fail(h, at, "%s: empty name", ctx);
    if (((n + 3) & ~(uint64_t)3) > h->size - h->pos) /* n < 2^63: no overflow */
        return nch_fail(h, at,
                        "%s: a name of %llu bytes runs past the end of the file (%llu bytes)", ctx,
                        (unsigned long long)n, (unsigned long long)h->size);
    const uint8_t *s = h->p + h->pos;
    for (uint64_t k = 0; k < n; k++)
        if (s[k] < 0x20 || s[k] == 0x7f)
            return nch_fail(h, h->pos + k, "%s: control byte 0x%02x in its name", ctx, s[k]);
    size_t keep = (size_t)PIO_MIN(n, 40);
    memcpy(out, s, keep);
    strcpy(out + keep, n > keep ? "..." : "");
    h->pos += (n + 3) & ~(uint64_t)3;
    return 0;
}

/* External size of a value of an nc_type (0: no such type). */
static unsigned type_size(const struct nch *h, uint64_t t)
{
    static const unsigned sz[12] = {0, 1, 1, 2, 4, 4, 8, 1, 2, 4, 8, 8};
    return t < (h->cw == 8 ? 12u : 7u) ? sz[t] : 0;
}

static int nch_type(struct nch *h, const char *ctx, unsigned *ext)
{
    uint64_t t, at = h->pos;
    if (!nch_uint(h, 4, &t))
        return nch_cut(h, ctx, "nc_type");
    if (!(*ext = type_size(h, t)))
        return nch_fail(h, at, "%s: nc_type %llu is not a %s type", ctx, (unsigned long long)t,
                        h->cw == 8 ? "CDF-5" : "classic");
    return 0;
}

/* A list's tag and count; min_item bounds the count by the bytes left. */
static int nch_list(struct nch *h, uint64_t tag, const char *what, uint64_t min_item, uint64_t *n)
{
    uint64_t t, at = h->pos;
    if (!nch_uint(h, 4, &t))
        return nch_cut(h, what, "tag");
    if (t != 0 && t != tag)
        return nch_fail(h, at, "%s: tag 0x%llx is neither ABSENT (0) nor 0x%llx", what,
                        (unsigned long long)t, (unsigned long long)tag);
    at = h->pos;
    int rc = nch_nonneg(h, h->cw, what, "count", n);
    if (rc != 0)
        return rc;
    if (t == 0 && *n != 0)
        return nch_fail(h, at, "%s: ABSENT, yet a count of %llu", what, (unsigned long long)*n);
    if (*n > (h->size - h->pos) / min_item)
        return nch_fail(h, at, "%s: %llu entries cannot fit in the %llu bytes left", what,
                        (unsigned long long)*n, (unsigned long long)(h->size - h->pos));
    return 0;
}

/* An attribute list; owner: "global" or "variable 'NAME'". */
static int nch_atts(struct nch *h, const char *owner)
{
    char what[96], ctx[160], name[48];
    snprintf(what, sizeof(what), "%s attributes", owner);
    uint64_t n = 0;
    int rc = nch_list(h, TAG_ATTRIBUTE, what, 2 * (uint64_t)h->cw + 8, &n);
    for (uint64_t k = 0; rc == 0 && k < n; k++) {
        snprintf(ctx, sizeof(ctx), "%s attribute %llu", owner, (unsigned long long)k);
        if ((rc = nch_name(h, ctx, name)) != 0)
            break;
        snprintf(ctx, sizeof(ctx), "%s attribute '%s'", owner, name);
        unsigned ext = 0;
        uint64_t count, at;
        if ((rc = nch_type(h, ctx, &ext)) != 0)
            break;
        at = h->pos;
        if ((rc = nch_nonneg(h, h->cw, ctx, "value count", &count)) != 0)
            break;
        uint64_t left = h->size - h->pos;
        if (count > left / ext || ((count * ext + 3) & ~(uint64_t)3) > left)
            return nch_fail(h, at,
                            "%s: %llu values of %u bytes run past the end of the file (%llu bytes)",
                            ctx, (unsigned long long)count, ext, (unsigned long long)h->size);
        h->pos += (count * ext + 3) & ~(uint64_t)3;
    }
    return rc;
}

static int nch_dims(struct nch *h)
{
    uint64_t n = 0;
    int rc = nch_list(h, TAG_DIMENSION, "dim_list", 2 * (uint64_t)h->cw + 4, &n);
    for (uint64_t k = 0; rc == 0 && k < n; k++) {
        char ctx[96], name[48];
        snprintf(ctx, sizeof(ctx), "dimension %llu", (unsigned long long)k);
        if ((rc = nch_name(h, ctx, name)) != 0)
            break;
        snprintf(ctx, sizeof(ctx), "dimension '%s'", name);
        uint64_t len, at = h->pos;
        if ((rc = nch_nonneg(h, h->cw, ctx, "length", &len)) != 0)
            break;
        if (len == 0 && h->recdim != UINT64_MAX)
            return nch_fail(h, at,
                            "%s: a second record dimension (length 0; dimension %llu is one)", ctx,
                            (unsigned long long)h->recdim);
        if (len == 0)
            h->recdim = k;
        if (pio__offsets_push(&h->dimlen, &h->ndims, &h->dimcap, len) != 0)
            return pio_error_set(h->err, -ENOMEM, "%s: out of memory", h->path);
    }
    return rc;
}

/* What the variables tell about the records. */
struct var_sum {
    uint64_t nrec;      /* record variables */
    uint64_t recsize;   /* bytes per record (libnetcdf's rule) */
    uint64_t first_len; /* the first record variable's unpadded size */
    uint64_t rec_begin; /* lowest begin of a record variable */
    uint64_t rec_end;   /* highest begin + unpadded size of one */
    uint64_t end_at;    /* where that one's begin is */
    char end_name[48];
    uint64_t min_begin, min_at; /* lowest begin of any variable, and where */
    char min_name[48];
};

static int nch_var(struct nch *h, uint64_t k, struct var_sum *vs)
{
    char ctx[96], name[48];
    snprintf(ctx, sizeof(ctx), "variable %llu", (unsigned long long)k);
    int rc = nch_name(h, ctx, name);
    if (rc != 0)
        return rc;
    snprintf(ctx, sizeof(ctx), "variable '%s'", name);
    uint64_t nd, at = h->pos;
    if ((rc = nch_nonneg(h, h->cw, ctx, "dimension count", &nd)) != 0)
        return rc;
    if (nd > MAX_VAR_DIMS)
        return nch_fail(h, at, "%s: %llu dimensions (libnetcdf allows %u)", ctx,
                        (unsigned long long)nd, MAX_VAR_DIMS);
    bool rec = false;
    uint64_t elems = 1;
    for (uint64_t j = 0; j < nd; j++) {
        uint64_t id;
        at = h->pos;
        if ((rc = nch_nonneg(h, h->cw, ctx, "dimension id", &id)) != 0)
            return rc;
        if (id >= h->ndims)
            return nch_fail(h, at, "%s: dimension id %llu, of %llu dimensions", ctx,
                            (unsigned long long)id, (unsigned long long)h->ndims);
        if (id == h->recdim && j != 0)
            return nch_fail(h, at,
                            "%s: the record dimension as dimension %llu (only the first may be)",
                            ctx, (unsigned long long)j);
        if (id == h->recdim)
            rec = true;
        else
            elems = mul_sat(elems, h->dimlen[id]);
    }
    if ((rc = nch_atts(h, ctx)) != 0)
        return rc;
    unsigned ext = 0;
    if ((rc = nch_type(h, ctx, &ext)) != 0)
        return rc;
    uint64_t len = mul_sat(elems, ext); /* one record's worth for a record variable */
    uint64_t padded = add_sat(len, 3) & ~(uint64_t)3;
    uint64_t vsize, begin, vsize_at = h->pos;
    if (!nch_uint(h, h->cw, &vsize))
        return nch_cut(h, ctx, "vsize");
    /* a 32-bit vsize cannot hold more than 2^32 - 4 bytes (2^32 - 1 stands in) */
    if (vsize != padded && !(h->cw == 4 && padded > UINT32_MAX - 3))
        return nch_fail(h, vsize_at,
                        "%s: vsize %llu disagrees with its shape and type (%llu bytes)", ctx,
                        (unsigned long long)vsize, (unsigned long long)padded);
    at = h->pos;
    if ((rc = nch_nonneg(h, h->ow, ctx, "begin", &begin)) != 0)
        return rc;
    /* a record variable's data may lie past the end (a truncated file, or
     * no records yet): the caller is told how many records are whole */
    if (!rec && (begin > h->size || len > h->size - begin))
        return nch_fail(h, at, "%s: begin 0x%llx + size %llu past the end of the file (%llu bytes)",
                        ctx, (unsigned long long)begin, (unsigned long long)len,
                        (unsigned long long)h->size);
    if (begin < vs->min_begin) {
        vs->min_begin = begin;
        vs->min_at = at;
        strcpy(vs->min_name, name);
    }
    if (rec) {
        if (vs->nrec++ == 0) {
            vs->first_len = len;
            vs->rec_begin = begin;
        }
        vs->recsize = add_sat(vs->recsize, padded);
        vs->rec_begin = PIO_MIN(vs->rec_begin, begin);
        if (add_sat(begin, len) > vs->rec_end) {
            vs->rec_end = add_sat(begin, len);
            vs->end_at = at;
            strcpy(vs->end_name, name);
        }
    }
    return 0;
}

int pio__ncdf_header_check(struct ncdf_records *out, const uint8_t *map, uint64_t size,
                           const char *path, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    if (size >= 4 && memcmp(map, "\x89HDF", 4) == 0)
        return pio_error_set(err, PIO_ENOTSUPPORTED,
                             "%s: a NetCDF-4 (HDF5) file: only NetCDF classic and 64-bit offset "
                             "files are read (nccopy -k nc6 converts it)",
                             path);
    if (size < 4 || memcmp(map, "CDF", 3) != 0 || (map[3] != 1 && map[3] != 2 && map[3] != 5))
        return pio_error_set(err, PIO_EFORMAT,
                             "%s: not a NetCDF file (no CDF\\001, CDF\\002 or CDF\\005 magic)",
                             path);
    struct nch h = {.p = map,
                    .size = size,
                    .pos = 4, /* after the magic */
                    .cw = map[3] == 5 ? 8 : 4,
                    .ow = map[3] == 1 ? 4 : 8,
                    .path = path,
                    .err = err,
                    .recdim = UINT64_MAX};
    uint64_t numrecs = 0, nvars = 0;
    struct var_sum vs = {.min_begin = UINT64_MAX};
    int rc = nch_nonneg(&h, h.cw, "header", "numrecs", &numrecs);
    if (rc == 0)
        rc = nch_dims(&h);
    if (rc == 0)
        rc = nch_atts(&h, "global");
    if (rc == 0)
        rc = nch_list(&h, TAG_VARIABLE, "var_list", 4 * (uint64_t)h.cw + 12 + h.ow, &nvars);
    for (uint64_t k = 0; rc == 0 && k < nvars; k++)
        rc = nch_var(&h, k, &vs);
    free(h.dimlen);
    if (rc != 0)
        return rc;
    if (nvars && vs.min_begin < h.pos)
        return nch_fail(&h, vs.min_at,
                        "variable '%s': begin 0x%llx lies inside the header (%llu bytes)",
                        vs.min_name, (unsigned long long)vs.min_begin, (unsigned long long)h.pos);
    out->numrecs = out->complete = numrecs;
    if (vs.nrec == 0)
        return 0;
    uint64_t recsize = vs.nrec == 1 ? vs.first_len : vs.recsize;
    /* one record holds a slab of each record variable, one after another */
    if (vs.rec_end - vs.rec_begin > recsize)
        return nch_fail(&h, vs.end_at,
                        "variable '%s': its record slab ends 0x%llx bytes after the first "
                        "record's start (0x%llx), beyond a record (%llu bytes)",
                        vs.end_name, (unsigned long long)(vs.rec_end - vs.rec_begin),
                        (unsigned long long)vs.rec_begin, (unsigned long long)recsize);
    /* record r is whole when rec_end + r x recsize <= size */
    uint64_t fit = vs.rec_end > size ? 0 : (size - vs.rec_end) / PIO_MAX(recsize, 1) + 1;
    if (fit < numrecs) {
        out->complete = fit;
        uint64_t at = add_sat(vs.rec_begin, mul_sat(fit, recsize));
        if (fit + 1 == numrecs)
            snprintf(out->warning, sizeof(out->warning),
                     "%s: frame %llu at offset 0x%llx is truncated; skipped", path,
                     (unsigned long long)fit, (unsigned long long)at);
        else
            snprintf(out->warning, sizeof(out->warning),
                     "%s: the header says %llu frames, the file ends inside frame %llu at offset "
                     "0x%llx; frames %llu to %llu skipped",
                     path, (unsigned long long)numrecs, (unsigned long long)fit,
                     (unsigned long long)at, (unsigned long long)fit,
                     (unsigned long long)(numrecs - 1));
    } else if (fit > numrecs) {
        snprintf(out->warning, sizeof(out->warning),
                 "%s: the header says %llu frames, the file holds %llu (a writer that did not "
                 "finish?); the %llu after them not read",
                 path, (unsigned long long)numrecs, (unsigned long long)fit,
                 (unsigned long long)(fit - numrecs));
    }
    return 0;
}
