/*
 * arrow: the IPC file reader, for untrusted files.
 *
 * Opening maps the file and checks the magic at both ends, the footer
 * flatbuffer, the schema (supported types only, bounded depth and width)
 * and every block's extent. A batch is decoded on demand: its Message
 * flatbuffer, then each node and buffer depth-first, checking that every
 * buffer lies inside the body and is 8-byte aligned, is long enough for
 * the node's length and type, and that every list and string offset is
 * non-decreasing and inside its child or data. Only then are views handed
 * out (arw_col, or C Data Interface arrays that keep the mapping alive).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arrow/arrow_internal.h"
#include "arrow/flatbuf.h"
#include "common/pio_common.h"

#define MAX_DEPTH  16
#define MAX_FIELDS 4096

struct rblock {
    uint64_t off, meta_len, body_len;
};

struct arw_ipc_file {
    struct arw_owner own; /* first */
    char *path;
    const uint8_t *map;
    uint64_t size;
    struct arw_field *fields;
    int nfields, total_fields;
    uint64_t nmeta;
    char **keys, **values;
    struct rblock *blocks;
    uint64_t nblocks;
};

static void free_fields(struct arw_field *f, int n)
{
    for (int i = 0; f && i < n; i++) {
        free(f[i].name);
        free_fields(f[i].children, f[i].n_children);
    }
    free(f);
}

static void file_destroy(struct arw_owner *o)
{
    struct arw_ipc_file *f = (struct arw_ipc_file *)o;
    if (f->map)
        munmap((void *)f->map, (size_t)f->size);
    free_fields(f->fields, f->nfields);
    for (uint64_t i = 0; i < f->nmeta; i++) {
        free(f->keys[i]);
        free(f->values[i]);
    }
    free(f->keys);
    free(f->values);
    free(f->blocks);
    free(f->path);
    free(f);
}

void pio__arw_ipc_file_put(struct arw_ipc_file *f)
{
    if (f)
        pio__arw_owner_put(&f->own);
}

const char *pio__arw_ipc_path(const struct arw_ipc_file *f)
{
    return f->path;
}

struct arw_owner *pio__arw_ipc_owner(struct arw_ipc_file *f)
{
    return &f->own;
}

const struct arw_field *pio__arw_ipc_fields(const struct arw_ipc_file *f, int *n)
{
    *n = f->nfields;
    return f->fields;
}

uint64_t pio__arw_ipc_metadata(const struct arw_ipc_file *f, const char *const **keys,
                               const char *const **values)
{
    *keys = (const char *const *)f->keys;
    *values = (const char *const *)f->values;
    return f->nmeta;
}

uint64_t pio__arw_ipc_nbatches(const struct arw_ipc_file *f)
{
    return f->nblocks;
}

/* ---- schema ------------------------------------------------------------------------ */

enum { T_INT = 2, T_FLOAT = 3, T_UTF8 = 5, T_LIST = 12, T_STRUCT = 13, T_FSL = 16 };

static int bad(struct arw_ipc_file *f, struct pio_error *err, int code, const char *what)
{
    return pio_error_set(err, code, "%s: %s", f->path, what);
}

static int parse_fields(struct arw_ipc_file *f, const struct fb_tab *parent, unsigned slot,
                        struct arw_field **out, int *nout, int depth, struct pio_error *err)
{
    *out = NULL;
    *nout = 0;
    size_t n = 0, data;
    if (!pio__fb_get_vector(parent, slot, 4, &n, &data))
        n = 0; /* absent children: a leaf */
    if (depth > MAX_DEPTH || f->total_fields + (int64_t)n > MAX_FIELDS)
        return bad(f, err, PIO_ELIMIT, "schema: too many or too deeply nested fields");
    f->total_fields += (int)n;
    struct arw_field *fl = calloc(n ? n : 1, sizeof(*fl));
    if (!fl)
        return bad(f, err, -ENOMEM, "out of memory");
    *out = fl;
    *nout = (int)n;
    for (size_t i = 0; i < n; i++) {
        struct fb_tab ft, tt;
        if (!pio__fb_vector_table(parent->v, data, i, &ft))
            return bad(f, err, PIO_ECORRUPT, "schema: invalid field table");
        const char *name = "";
        size_t len = 0;
        pio__fb_get_string(&ft, 0, &name, &len);
        if (!(fl[i].name = strndup(name, len)))
            return bad(f, err, -ENOMEM, "out of memory");
        fl[i].nullable = pio__fb_get_u(&ft, 1, 1, 0) != 0;
        unsigned type = (unsigned)pio__fb_get_u(&ft, 2, 1, 0);
        size_t dict;
        if (pio__fb_field(&ft, 4, 4, &dict))
            return pio_error_set(err, PIO_ENOTSUPPORTED, "%s: column '%s': dictionary encoding",
                                 f->path, fl[i].name);
        bool has_type = pio__fb_get_table(&ft, 3, &tt);
        bool ok = has_type || type == T_UTF8 || type == T_LIST || type == T_STRUCT;
        int64_t bits = has_type ? pio__fb_get_i(&tt, 0, 4, 0) : 0;
        switch (type) {
        case T_INT:
            ok = ok && (bits == 32 || bits == 64) && pio__fb_get_u(&tt, 1, 1, 0);
            fl[i].type = bits == 32 ? ARW_INT32 : ARW_INT64;
            break;
        case T_FLOAT: {
            int64_t prec = has_type ? pio__fb_get_i(&tt, 0, 2, 0) : 0;
            ok = ok && (prec == 1 || prec == 2);
            fl[i].type = prec == 1 ? ARW_FLOAT32 : ARW_FLOAT64;
            break;
        }
        case T_UTF8:
            fl[i].type = ARW_UTF8;
            break;
        case T_LIST:
            fl[i].type = ARW_LIST;
            break;
        case T_STRUCT:
            fl[i].type = ARW_STRUCT;
            break;
        case T_FSL:
            ok = ok && bits > 0;
            fl[i].type = ARW_FSL;
            fl[i].list_size = (int32_t)bits;
            break;
        default:
            ok = false;
        }
        if (!ok)
            return pio_error_set(err, PIO_ENOTSUPPORTED,
                                 "%s: column '%s': type %u is not supported (int32/64, "
                                 "float32/64, utf8, list, fixed-size list, struct)",
                                 f->path, fl[i].name, type);
        int rc = parse_fields(f, &ft, 5, &fl[i].children, &fl[i].n_children, depth + 1, err);
        if (rc != 0)
            return rc;
        int want = fl[i].type == ARW_LIST || fl[i].type == ARW_FSL ? 1 : 0;
        if (fl[i].type == ARW_STRUCT ? fl[i].n_children < 1 : fl[i].n_children != want)
            return pio_error_set(err, PIO_ECORRUPT, "%s: column '%s': %d children for its type",
                                 f->path, fl[i].name, fl[i].n_children);
    }
    return 0;
}

static int parse_metadata(struct arw_ipc_file *f, const struct fb_tab *schema,
                          struct pio_error *err)
{
    size_t n, data;
    if (!pio__fb_get_vector(schema, 2, 4, &n, &data))
        return 0;
    f->keys = calloc(n + 1, sizeof(char *));
    f->values = calloc(n + 1, sizeof(char *));
    if (!f->keys || !f->values)
        return bad(f, err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct fb_tab kv;
        const char *k = "", *v = "";
        size_t kl = 0, vl = 0;
        if (!pio__fb_vector_table(schema->v, data, i, &kv) || !pio__fb_get_string(&kv, 0, &k, &kl))
            return bad(f, err, PIO_ECORRUPT, "schema: invalid metadata pair");
        pio__fb_get_string(&kv, 1, &v, &vl);
        f->keys[i] = strndup(k, kl);
        f->values[i] = strndup(v, vl);
        f->nmeta++;
        if (!f->keys[i] || !f->values[i])
            return bad(f, err, -ENOMEM, "out of memory");
        if (strlen(f->keys[i]) != kl || strlen(f->values[i]) != vl)
            return bad(f, err, PIO_ECORRUPT, "schema: metadata string holds a NUL byte");
    }
    return 0;
}

/* ---- open ----------------------------------------------------------------------------- */

static int parse_footer(struct arw_ipc_file *f, struct pio_error *err)
{
    const uint8_t *m = f->map;
    uint64_t size = f->size;
    if (size < 8 + 10 || memcmp(m, "ARROW1", 6) != 0 || memcmp(m + size - 6, "ARROW1", 6) != 0)
        return pio_error_set(err, PIO_EFORMAT, "%s: not an Arrow IPC file (no ARROW1 magic)",
                             f->path);
    int32_t flen;
    memcpy(&flen, m + size - 10, 4);
    if (flen <= 0 || (uint64_t)flen > size - 18)
        return pio_error_set(err, PIO_ECORRUPT, "%s: footer length %d at offset %llu is invalid",
                             f->path, flen, (unsigned long long)(size - 10));
    uint64_t foot = size - 10 - (uint64_t)flen;
    struct fb_view v = {m + foot, (size_t)flen};
    struct fb_tab footer, schema;
    if (!pio__fb_root(&v, &footer) || !pio__fb_get_table(&footer, 1, &schema))
        return pio_error_set(err, PIO_ECORRUPT, "%s: footer at offset %llu: invalid flatbuffer",
                             f->path, (unsigned long long)foot);
    if (pio__fb_get_i(&schema, 0, 2, 0) != 0)
        return bad(f, err, PIO_ENOTSUPPORTED, "big-endian data");
    int rc = parse_fields(f, &schema, 1, &f->fields, &f->nfields, 0, err);
    if (rc == 0)
        rc = parse_metadata(f, &schema, err);
    if (rc != 0)
        return rc;
    size_t nb = 0, data;
    if (pio__fb_get_vector(&footer, 2, 24, &nb, &data) && nb > 0)
        return bad(f, err, PIO_ENOTSUPPORTED, "dictionary batches");
    if (!pio__fb_get_vector(&footer, 3, 24, &nb, &data))
        nb = 0;
    f->blocks = calloc(nb + 1, sizeof(*f->blocks));
    if (!f->blocks)
        return bad(f, err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *b = v.p + data + 24 * i;
        int64_t off = (int64_t)fb_load(b, 8), body = (int64_t)fb_load(b + 16, 8);
        int32_t meta = (int32_t)(uint32_t)fb_load(b + 8, 4);
        if (off < 8 || off % 8 || meta < 8 || meta % 8 || body < 0 || body % 8 ||
            (uint64_t)off > foot || (uint64_t)meta > foot - (uint64_t)off ||
            (uint64_t)body > foot - (uint64_t)off - (uint64_t)meta)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: batch %zu: block (offset %lld, metadata %d, body %lld) "
                                 "lies outside the data",
                                 f->path, i, (long long)off, meta, (long long)body);
        f->blocks[i] = (struct rblock){(uint64_t)off, (uint64_t)meta, (uint64_t)body};
    }
    f->nblocks = nb;
    return 0;
}

int pio__arw_ipc_file_open(struct arw_ipc_file **out, const char *path, struct pio_error *err)
{
    *out = NULL;
    struct arw_ipc_file *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    atomic_init(&f->own.refs, 1);
    f->own.destroy = file_destroy;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    struct stat st;
    int rc = 0;
    if (fd < 0 || fstat(fd, &st) != 0)
        rc = pio_error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = pio_error_set(err, PIO_EUSAGE, "%s: not a regular file", path);
    else if (st.st_size < 18)
        rc = pio_error_set(err, PIO_ETRUNCATED, "%s: %lld bytes: too short for an Arrow file", path,
                           (long long)st.st_size);
    if (rc == 0) {
        f->size = (uint64_t)st.st_size;
        void *m = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            rc = pio_error_set(err, -errno, "%s: mmap: %s", path, strerror(errno));
        else
            f->map = m;
    }
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = parse_footer(f, err);
    if (rc != 0) {
        file_destroy(&f->own);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- batches ------------------------------------------------------------------------- */

struct dec {
    struct arw_ipc_file *f;
    uint64_t batch;
    const uint8_t *body;
    uint64_t body_len;
    const uint8_t *nodes, *bufs;
    size_t nn, nb, ni, bi;
    struct arw_col *pool;
    size_t used, cap;
    struct pio_error *err;
};

static int dec_bad(struct dec *d, const char *col, const char *what)
{
    return pio_error_set(d->err, PIO_ECORRUPT, "%s: batch %llu (offset %llu), column '%s': %s",
                         d->f->path, (unsigned long long)d->batch,
                         (unsigned long long)d->f->blocks[d->batch].off, col, what);
}

/* Empty buffers point here: consumers may not expect NULL data buffers. */
static const _Alignas(64) uint8_t empty[64];

/* The next buffer: *p and its length. */
static int take_buffer(struct dec *d, const char *col, const uint8_t **p, uint64_t *len)
{
    if (d->bi >= d->nb)
        return dec_bad(d, col, "fewer buffers than the schema needs");
    int64_t off = (int64_t)fb_load(d->bufs + 16 * d->bi, 8);
    int64_t n = (int64_t)fb_load(d->bufs + 16 * d->bi + 8, 8);
    d->bi++;
    if (off < 0 || n < 0 || (uint64_t)off > d->body_len ||
        (uint64_t)n > d->body_len - (uint64_t)off)
        return dec_bad(d, col, "buffer outside the body");
    if (n > 0 && off % 8)
        return dec_bad(d, col, "buffer not 8-byte aligned");
    *p = n ? d->body + off : empty;
    *len = (uint64_t)n;
    return 0;
}

static const int32_t zero_offsets[1];

/* Offsets buffer of n + 1 entries, non-decreasing, within [0, limit]. */
static int check_offsets(struct dec *d, const char *col, const uint8_t *p, uint64_t len, int64_t n,
                         int64_t limit, const int32_t **out)
{
    if (n == 0 && len == 0) {
        *out = zero_offsets;
        return 0;
    }
    if ((uint64_t)n + 1 > len / 4)
        return dec_bad(d, col, "offsets buffer too short");
    const int32_t *o = (const int32_t *)p;
    if (o[0] < 0)
        return dec_bad(d, col, "negative offset");
    for (int64_t i = 0; i < n; i++)
        if (o[i + 1] < o[i])
            return dec_bad(d, col, "offsets decrease");
    if (o[n] > limit)
        return dec_bad(d, col, "offset beyond the data");
    *out = o;
    return 0;
}

static int dec_node(struct dec *d, const struct arw_field *fl, struct arw_col *c)
{
    const char *name = fl->name;
    if (d->ni >= d->nn)
        return dec_bad(d, name, "fewer nodes than the schema needs");
    int64_t length = (int64_t)fb_load(d->nodes + 16 * d->ni, 8);
    int64_t nulls = (int64_t)fb_load(d->nodes + 16 * d->ni + 8, 8);
    d->ni++;
    if (length < 0 || nulls < 0 || nulls > length || length > (INT64_C(1) << 48))
        return dec_bad(d, name, "invalid length or null count");
    memset(c, 0, sizeof(*c));
    c->type = fl->type;
    c->list_size = fl->list_size;
    c->length = length;
    c->null_count = nulls;
    const uint8_t *p;
    uint64_t len;
    int rc = take_buffer(d, name, &p, &len);
    if (rc != 0)
        return rc;
    if (nulls > 0) {
        if (len < (uint64_t)(length + 7) / 8)
            return dec_bad(d, name, "validity bitmap too short");
        c->validity = p;
    }
    int width = pio__arw_type_width(fl->type);
    const uint8_t *op = NULL;
    uint64_t olen = 0;
    if (width) {
        if ((rc = take_buffer(d, name, &p, &len)) != 0)
            return rc;
        if (len / (uint64_t)width < (uint64_t)length)
            return dec_bad(d, name, "data buffer too short");
        if (p && (uintptr_t)p % (uintptr_t)width)
            return dec_bad(d, name, "data buffer misaligned");
        c->data = p;
    } else if (fl->type == ARW_UTF8 || fl->type == ARW_LIST) {
        if ((rc = take_buffer(d, name, &op, &olen)) != 0)
            return rc;
    }
    if (fl->type == ARW_UTF8) {
        if ((rc = take_buffer(d, name, &p, &len)) != 0)
            return rc;
        if (len > INT32_MAX)
            len = INT32_MAX;
        if ((rc = check_offsets(d, name, op, olen, length, (int64_t)len, &c->offsets)) != 0)
            return rc;
        c->data = p;
    }
    if (fl->n_children) {
        if (d->used + (size_t)fl->n_children > d->cap)
            return dec_bad(d, name, "too many nodes");
        c->children = d->pool + d->used;
        c->n_children = fl->n_children;
        d->used += (size_t)fl->n_children;
        for (int i = 0; i < fl->n_children; i++)
            if ((rc = dec_node(d, &fl->children[i], &c->children[i])) != 0)
                return rc;
    }
    if (fl->type == ARW_LIST)
        return check_offsets(d, name, op, olen, length, c->children[0].length, &c->offsets);
    if (fl->type == ARW_FSL && c->children[0].length / fl->list_size < length)
        return dec_bad(d, name, "fixed-size list child too short");
    if (fl->type == ARW_STRUCT)
        for (int i = 0; i < fl->n_children; i++)
            if (c->children[i].length < length)
                return dec_bad(d, name, "struct child too short");
    return 0;
}

void pio__arw_batch_slot_free(struct arw_batch_slot *s)
{
    free(s->cols);
    memset(s, 0, sizeof(*s));
}

int pio__arw_ipc_batch(struct arw_ipc_file *f, uint64_t i, struct arw_batch_slot *s,
                       struct pio_error *err)
{
    if (i >= f->nblocks)
        return pio_error_set(err, PIO_EUSAGE, "%s: no batch %llu", f->path, (unsigned long long)i);
    const struct rblock *b = &f->blocks[i];
    const uint8_t *m = f->map + b->off;
    struct dec d = {.f = f, .batch = i, .err = err};
    uint32_t cont = (uint32_t)fb_load(m, 4);
    int32_t len = (int32_t)(uint32_t)fb_load(m + 4, 4);
    if (cont != 0xFFFFFFFFu || len <= 0 || (uint64_t)len > b->meta_len - 8)
        return dec_bad(&d, "-", "invalid message prefix");
    struct fb_view v = {m + 8, (size_t)len};
    struct fb_tab msg, rb;
    if (!pio__fb_root(&v, &msg) || pio__fb_get_u(&msg, 1, 1, 0) != 3 ||
        !pio__fb_get_table(&msg, 2, &rb))
        return dec_bad(&d, "-", "not a record batch message");
    size_t dummy;
    if (pio__fb_field(&rb, 3, 4, &dummy))
        return pio_error_set(err, PIO_ENOTSUPPORTED, "%s: batch %llu: compressed bodies", f->path,
                             (unsigned long long)i);
    int64_t rows = pio__fb_get_i(&rb, 0, 8, 0);
    size_t nn, nd, nbf, bd;
    if (!pio__fb_get_vector(&rb, 1, 16, &nn, &nd) || !pio__fb_get_vector(&rb, 2, 16, &nbf, &bd))
        return dec_bad(&d, "-", "record batch without nodes or buffers");
    int64_t body_len = pio__fb_get_i(&msg, 3, 8, 0);
    if (rows < 0 || body_len < 0 || (uint64_t)body_len > b->body_len)
        return dec_bad(&d, "-", "invalid row count or body length");
    d.body = m + b->meta_len;
    d.body_len = (uint64_t)body_len;
    d.nodes = v.p + nd;
    d.bufs = v.p + bd;
    d.nn = nn;
    d.nb = nbf;
    size_t need = (size_t)f->total_fields + 1;
    if (s->ncols_alloc < need) {
        struct arw_col *c = realloc(s->cols, need * sizeof(*c));
        if (!c)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", f->path);
        s->cols = c;
        s->ncols_alloc = need;
    }
    d.pool = s->cols;
    d.cap = need;
    d.used = (size_t)f->nfields;
    for (int k = 0; k < f->nfields; k++) {
        int rc = dec_node(&d, &f->fields[k], &s->cols[k]);
        if (rc != 0)
            return rc;
        if (s->cols[k].length != rows)
            return dec_bad(&d, f->fields[k].name, "column length differs from the batch's");
    }
    if (d.ni != d.nn || d.bi != d.nb)
        return dec_bad(&d, "-", "more nodes or buffers than the schema has");
    s->length = rows;
    return 0;
}

/* ---- pio_arrow_ipc_open: the file as a C stream ------------------------------------ */

struct ipc_stream {
    struct arw_ipc_file *f;
    uint64_t next;
    struct arw_batch_slot slot;
    struct pio_error err;
};

static const char *type_format(const struct arw_field *fl, char buf[16])
{
    static const char *const fmt[] = {"", "i", "l", "f", "g", "u", "+l", "", "+s"};
    if (fl->type == ARW_FSL) {
        snprintf(buf, 16, "+w:%d", fl->list_size);
        return buf;
    }
    return fmt[fl->type];
}

static struct ArrowSchema *field_schema(struct arw_arena *a, const struct arw_field *fl)
{
    char buf[16];
    struct ArrowSchema *s = pio__arw_schema_node(
        a, type_format(fl, buf), fl->name, fl->nullable ? ARROW_FLAG_NULLABLE : 0, fl->n_children);
    for (int i = 0; s && i < fl->n_children; i++)
        if (!(s->children[i] = field_schema(a, &fl->children[i])))
            return NULL;
    return s;
}

static int is_get_schema(struct ArrowArrayStream *st, struct ArrowSchema *out)
{
    struct ipc_stream *s = st->private_data;
    struct arw_arena *a = pio__arw_arena_new(NULL);
    struct ArrowSchema *root = a ? pio__arw_schema_node(a, "+s", "", 0, s->f->nfields) : NULL;
    bool ok = root != NULL;
    if (ok && s->f->nmeta)
        ok = (root->metadata =
                  pio__arw_metadata_encode(a, s->f->nmeta, (const char *const *)s->f->keys,
                                           (const char *const *)s->f->values)) != NULL;
    for (int i = 0; ok && i < s->f->nfields; i++)
        ok = (root->children[i] = field_schema(a, &s->f->fields[i])) != NULL;
    if (!ok) {
        pio__arw_arena_abandon(a);
        pio_error_set(&s->err, -ENOMEM, "out of memory");
        return ENOMEM;
    }
    pio__arw_schema_publish(root, out);
    return 0;
}

static struct ArrowArray *col_array(struct arw_arena *a, const struct arw_col *c)
{
    struct ArrowArray *x =
        pio__arw_array_node(a, c->length, pio__arw_type_nbuffers(c->type), c->n_children);
    if (!x)
        return NULL;
    x->null_count = c->null_count;
    x->buffers[0] = c->validity;
    if (c->type == ARW_UTF8) {
        x->buffers[1] = c->offsets;
        x->buffers[2] = c->data;
    } else if (c->type == ARW_LIST) {
        x->buffers[1] = c->offsets;
    } else if (pio__arw_type_width(c->type)) {
        x->buffers[1] = c->data;
    }
    for (int i = 0; i < c->n_children; i++)
        if (!(x->children[i] = col_array(a, &c->children[i])))
            return NULL;
    return x;
}

static int is_get_next(struct ArrowArrayStream *st, struct ArrowArray *out)
{
    struct ipc_stream *s = st->private_data;
    memset(out, 0, sizeof(*out));
    if (s->next >= s->f->nblocks)
        return 0;
    if (pio__arw_ipc_batch(s->f, s->next, &s->slot, &s->err) != 0)
        return EINVAL;
    struct arw_arena *a = pio__arw_arena_new(&s->f->own);
    struct ArrowArray *root = a ? pio__arw_array_node(a, s->slot.length, 1, s->f->nfields) : NULL;
    bool ok = root != NULL;
    for (int i = 0; ok && i < s->f->nfields; i++)
        ok = (root->children[i] = col_array(a, &s->slot.cols[i])) != NULL;
    if (!ok) {
        pio__arw_arena_abandon(a);
        pio_error_set(&s->err, -ENOMEM, "out of memory");
        return ENOMEM;
    }
    pio__arw_array_publish(root, out);
    s->next++;
    return 0;
}

static const char *is_last_error(struct ArrowArrayStream *st)
{
    struct ipc_stream *s = st->private_data;
    return s->err.message[0] ? s->err.message : NULL;
}

static void is_release(struct ArrowArrayStream *st)
{
    if (!st || !st->release)
        return;
    struct ipc_stream *s = st->private_data;
    pio__arw_batch_slot_free(&s->slot);
    pio__arw_ipc_file_put(s->f);
    free(s);
    st->release = NULL;
}

PIO_API int pio_arrow_ipc_open(struct ArrowArrayStream *out, const char *path,
                               struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct ipc_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    int rc = pio__arw_ipc_file_open(&s->f, path, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    *out = (struct ArrowArrayStream){is_get_schema, is_get_next, is_last_error, is_release, s};
    return 0;
}
