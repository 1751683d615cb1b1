/*
 * arrow: the IPC file writer (Feather v2).
 *
 *   "ARROW1\0\0" | Schema message | RecordBatch messages | EOS | Footer |
 *   int32 footer length | "ARROW1"
 *
 * A message is FFFFFFFF, an int32 metadata length, the Message flatbuffer
 * padded so that the body starts on a 64-byte boundary of the file, then
 * the body: every buffer of the batch, depth-first, each padded to 64
 * bytes. The body is written straight from the batch's buffers with
 * pwritev (no copy here: a zero-copy export goes from the HOLO mapping to
 * the page cache in one step). The file is PATH.part until the footer is
 * written and synced, then renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "arrow/arrow_internal.h"
#include "arrow/flatbuf.h"
#include "common/pio_common.h"
#include "io/pio_io.h"

#define IPC_ALIGN 64
static const uint8_t zeros[IPC_ALIGN];

struct block {
    int64_t offset;
    int32_t meta_len;
    int64_t body_len;
};

struct arw_ipc_writer {
    char *path, *tmp; /* path NULL: the output is memory */
    int fd;
    uint64_t pos;
    uint8_t *mem; /* memory output: pos bytes used of mem_cap */
    size_t mem_cap;
    bool fixed; /* mem is the caller's: it never grows, nor is unmapped */
    struct arw_field *fields;
    int nfields;
    uint64_t nmeta;
    char **keys, **values;
    struct block *blocks;
    size_t nblocks, cap;
    /* per batch scratch: iovecs, nodes, buffers */
    struct iovec *iov;
    size_t niov, iov_cap;
    int64_t (*nodes)[2], (*bufs)[2];
    size_t nnodes, nbufs, nodes_cap, bufs_cap;
};

uint64_t pio__arw_ipc_writer_bytes(const struct arw_ipc_writer *w)
{
    return w->pos;
}

/* ---- schema from the C Data Interface ----------------------------------------- */

static void fields_free(struct arw_field *f, int n)
{
    for (int i = 0; f && i < n; i++) {
        free(f[i].name);
        fields_free(f[i].children, f[i].n_children);
    }
    free(f);
}

static int fields_from_schema(struct arw_field **out, struct ArrowSchema **kids, int64_t n,
                              int depth, struct pio_error *err)
{
    *out = NULL;
    if (depth > 16)
        return pio_error_set(err, PIO_ENOTSUPPORTED, "arrow: schema nested too deep");
    struct arw_field *f = calloc((size_t)(n ? n : 1), sizeof(*f));
    if (!f)
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    for (int64_t i = 0; i < n; i++) {
        const struct ArrowSchema *s = kids[i];
        f[i].name = strdup(s->name ? s->name : "");
        if (!f[i].name) {
            fields_free(f, (int)n);
            return pio_error_set(err, -ENOMEM, "arrow: out of memory");
        }
        f[i].nullable = s->flags & ARROW_FLAG_NULLABLE;
        int rc = pio__arw_type_parse(s->format, &f[i].type, &f[i].list_size);
        int want = f[i].type == ARW_LIST || f[i].type == ARW_FSL ? 1 : -1;
        if (rc == 0 && f[i].type == ARW_STRUCT)
            want = (int)s->n_children;
        if (rc == 0 && want < 0)
            want = 0;
        if (rc != 0 || s->dictionary || s->n_children != want || s->n_children > 64) {
            fields_free(f, (int)n);
            return pio_error_set(err, PIO_ENOTSUPPORTED,
                                 "arrow: column '%s': type '%s' is not supported by this writer",
                                 s->name ? s->name : "", s->format);
        }
        f[i].n_children = (int)s->n_children;
        rc = fields_from_schema(&f[i].children, s->children, s->n_children, depth + 1, err);
        if (rc != 0) {
            fields_free(f, (int)n);
            return rc;
        }
    }
    *out = f;
    return 0;
}

static int metadata_decode(struct arw_ipc_writer *w, const char *m)
{
    if (!m)
        return 0;
    int32_t n;
    memcpy(&n, m, 4);
    m += 4;
    if (n < 0)
        return PIO_ECORRUPT;
    w->keys = calloc((size_t)n + 1, sizeof(char *));
    w->values = calloc((size_t)n + 1, sizeof(char *));
    if (!w->keys || !w->values)
        return -ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        char **dst[2] = {&w->keys[i], &w->values[i]};
        for (int k = 0; k < 2; k++) {
            int32_t len;
            memcpy(&len, m, 4);
            if (len < 0)
                return PIO_ECORRUPT;
            if (!(*dst[k] = strndup(m + 4, (size_t)len)))
                return -ENOMEM;
            m += 4 + len;
        }
        w->nmeta++;
    }
    return 0;
}

/* ---- flatbuffers ------------------------------------------------------------------ */

enum { T_INT = 2, T_FLOAT = 3, T_UTF8 = 5, T_LIST = 12, T_STRUCT = 13, T_FSL = 16 };

static fb_ref fb_field_table(struct fb_builder *b, const struct arw_field *f)
{
    fb_ref kids[64];
    int nk = f->n_children < 64 ? f->n_children : 64;
    for (int i = 0; i < nk; i++)
        kids[i] = fb_field_table(b, &f->children[i]);
    fb_ref children = pio__fb_ref_vector(b, kids, (size_t)nk);
    struct fb_table t;
    pio__fb_table_start(&t);
    uint8_t tt = 0;
    switch (f->type) {
    case ARW_INT32:
    case ARW_INT64:
        tt = T_INT;
        pio__fb_table_scalar(&t, 0, 4, f->type == ARW_INT32 ? 32 : 64);
        pio__fb_table_scalar(&t, 1, 1, 1);
        break;
    case ARW_FLOAT32:
    case ARW_FLOAT64:
        tt = T_FLOAT;
        pio__fb_table_scalar(&t, 0, 2, f->type == ARW_FLOAT32 ? 1 : 2);
        break;
    case ARW_UTF8:
        tt = T_UTF8;
        break;
    case ARW_LIST:
        tt = T_LIST;
        break;
    case ARW_STRUCT:
        tt = T_STRUCT;
        break;
    case ARW_FSL:
        tt = T_FSL;
        pio__fb_table_scalar(&t, 0, 4, (uint32_t)f->list_size);
        break;
    }
    fb_ref type = pio__fb_table_end(b, &t);
    fb_ref name = pio__fb_string(b, f->name, strlen(f->name));
    pio__fb_table_start(&t);
    pio__fb_table_ref(&t, 0, name);
    pio__fb_table_scalar(&t, 1, 1, f->nullable);
    pio__fb_table_scalar(&t, 2, 1, tt);
    pio__fb_table_ref(&t, 3, type);
    pio__fb_table_ref(&t, 5, children);
    return pio__fb_table_end(b, &t);
}

static fb_ref fb_schema_table(struct fb_builder *b, const struct arw_ipc_writer *w)
{
    fb_ref *refs = calloc(PIO_MAX((size_t)w->nfields, (size_t)w->nmeta) + 1, sizeof(fb_ref));
    if (!refs) {
        b->failed = true;
        return 0;
    }
    for (int i = 0; i < w->nfields; i++)
        refs[i] = fb_field_table(b, &w->fields[i]);
    fb_ref fields = pio__fb_ref_vector(b, refs, (size_t)w->nfields);
    for (uint64_t i = 0; i < w->nmeta; i++) {
        fb_ref v = pio__fb_string(b, w->values[i], strlen(w->values[i]));
        fb_ref k = pio__fb_string(b, w->keys[i], strlen(w->keys[i]));
        struct fb_table t;
        pio__fb_table_start(&t);
        pio__fb_table_ref(&t, 0, k);
        pio__fb_table_ref(&t, 1, v);
        refs[i] = pio__fb_table_end(b, &t);
    }
    fb_ref meta = pio__fb_ref_vector(b, refs, (size_t)w->nmeta);
    free(refs);
    struct fb_table t;
    pio__fb_table_start(&t);
    pio__fb_table_ref(&t, 1, fields);
    if (w->nmeta)
        pio__fb_table_ref(&t, 2, meta);
    return pio__fb_table_end(b, &t);
}

#define MSG_SCHEMA       1
#define MSG_RECORD_BATCH 3
#define METADATA_V5      4

static fb_ref fb_message(struct fb_builder *b, uint8_t type, fb_ref header, int64_t body_len)
{
    struct fb_table t;
    pio__fb_table_start(&t);
    pio__fb_table_scalar(&t, 0, 2, METADATA_V5);
    pio__fb_table_scalar(&t, 1, 1, type);
    pio__fb_table_ref(&t, 2, header);
    pio__fb_table_scalar(&t, 3, 8, (uint64_t)body_len);
    return pio__fb_table_end(b, &t);
}

/* ---- output ----------------------------------------------------------------------- */

/* Copy a large buffer into the image with non-temporal stores: the image
 * is far larger than the caches, and plain stores first read every
 * destination line (glibc's memcpy streams only copies above a
 * threshold near the cache size, so it does for one big memcpy, but not
 * for the image's pieces of a few MB). Small pieces, or no AVX2: memcpy. */
#define STREAM_MIN ((size_t)256 << 10)
#if defined(__x86_64__)
__attribute__((target("avx2"))) static size_t stream_avx2(uint8_t *dst, const uint8_t *src,
                                                          size_t n)
{
    size_t k = 0;
    for (; k + 128 <= n; k += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + k));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + k + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + k + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + k + 96));
        _mm256_stream_si256((__m256i *)(dst + k), a);
        _mm256_stream_si256((__m256i *)(dst + k + 32), b);
        _mm256_stream_si256((__m256i *)(dst + k + 64), c);
        _mm256_stream_si256((__m256i *)(dst + k + 96), d);
    }
    return k;
}
#endif

static void copy_big(uint8_t *dst, const uint8_t *src, size_t n)
{
#if defined(__x86_64__)
    if (n >= STREAM_MIN && (pio_cpu_features() & PIO_CPU_AVX2)) {
        size_t head = (size_t)(-(uintptr_t)dst & 31);
        memcpy(dst, src, head);
        size_t k = stream_avx2(dst + head, src + head, n - head) + head;
        _mm_sfence(); /* the streamed stores are ordered before what follows */
        memcpy(dst + k, src + k, n - k);
        return;
    }
#endif
    memcpy(dst, src, n);
}

static int write_mem(struct arw_ipc_writer *w, const struct iovec *iov, size_t n,
                     struct pio_error *err)
{
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += iov[i].iov_len;
    if (w->pos + need > w->mem_cap && w->fixed)
        return pio_error_set(err, PIO_ELIMIT,
                             "arrow: the IPC image needs more than the buffer's %zu bytes "
                             "(%zu more at offset %llu, batch %zu)",
                             w->mem_cap, need, (unsigned long long)w->pos, w->nblocks);
    if (w->pos + need > w->mem_cap) {
        /* An anonymous mapping that grows geometrically with mremap: the
         * pages move, nothing is copied (growing by copying into fresh
         * blocks wrote every byte twice: 3.4 GB/s against memcpy's 6.9
         * into a new buffer; realloc, 0.2 GB/s, left the pages small).
         * Large ones ask for huge pages: a fault per 2 MiB instead of per
         * 4 KiB is most of the cost of filling new memory in a VM. */
        size_t cap = PIO_MAX(w->mem_cap * 2, (size_t)w->pos + need);
        cap = PIO_MAX(cap, (size_t)1 << 16);
        size_t align = cap >= ((size_t)4 << 20) ? (size_t)2 << 20 : (size_t)4096;
        cap = (cap + align - 1) & ~(align - 1);
        void *m = w->mem
                      ? mremap(w->mem, w->mem_cap, cap, MREMAP_MAYMOVE)
                      : mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return pio_error_set(err, -ENOMEM, "arrow: out of memory for a %zu-byte IPC image",
                                 cap);
        if (align > 4096)
            pio_huge_hint(m, cap);
        w->mem = m;
        w->mem_cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        if (iov[i].iov_len)
            copy_big(w->mem + w->pos, iov[i].iov_base, iov[i].iov_len);
        w->pos += iov[i].iov_len;
    }
    return 0;
}

static int write_all(struct arw_ipc_writer *w, struct iovec *iov, size_t n, struct pio_error *err)
{
    if (!w->path)
        return write_mem(w, iov, n, err);
    while (n > 0) {
        int cnt = n > IOV_MAX ? IOV_MAX : (int)n;
        ssize_t k = pwritev(w->fd, iov, cnt, (off_t)w->pos);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return pio_error_set(err, -errno, "%s: write at offset %llu: %s", w->tmp,
                                 (unsigned long long)w->pos, strerror(errno));
        }
        w->pos += (uint64_t)k;
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

static int iov_push(struct arw_ipc_writer *w, const void *p, size_t len)
{
    if (len == 0)
        return 0;
    if (w->niov == w->iov_cap) {
        size_t cap = w->iov_cap ? 2 * w->iov_cap : 64;
        struct iovec *n = realloc(w->iov, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        w->iov = n;
        w->iov_cap = cap;
    }
    w->iov[w->niov++] = (struct iovec){(void *)p, len};
    return 0;
}

static int pair_push(int64_t (**v)[2], size_t *n, size_t *cap, int64_t a, int64_t b)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 32;
        int64_t(*nv)[2] = realloc(*v, c * sizeof(**v));
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = c;
    }
    (*v)[*n][0] = a;
    (*v)[*n][1] = b;
    (*n)++;
    return 0;
}

/* Write one message: prefix, flatbuffer padded so that the body starts
 * 64-byte aligned, then the iovecs already queued in w->iov (the body). */
static int write_message(struct arw_ipc_writer *w, const uint8_t *fb, size_t fb_len,
                         int32_t *meta_len, struct pio_error *err)
{
    size_t head = 8 + fb_len;
    size_t pad = (IPC_ALIGN - (w->pos + head) % IPC_ALIGN) % IPC_ALIGN;
    uint32_t prefix[2] = {0xFFFFFFFFu, (uint32_t)(fb_len + pad)};
    *meta_len = (int32_t)(head + pad);
    struct iovec *body = w->iov;
    size_t nbody = w->niov;
    struct iovec *all = malloc((nbody + 3) * sizeof(*all));
    if (!all)
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    all[0] = (struct iovec){prefix, 8};
    all[1] = (struct iovec){(void *)fb, fb_len};
    all[2] = (struct iovec){(void *)zeros, pad};
    if (nbody)
        memcpy(all + 3, body, nbody * sizeof(*all));
    int rc = write_all(w, all, nbody + 3, err);
    free(all);
    return rc;
}

/* ---- record batches --------------------------------------------------------------- */

static int add_buffer(struct arw_ipc_writer *w, int64_t *body, const void *p, int64_t len)
{
    if (len > 0 && !p)
        return PIO_EUSAGE;
    int64_t padded = (len + IPC_ALIGN - 1) / IPC_ALIGN * IPC_ALIGN;
    if (pair_push(&w->bufs, &w->nbufs, &w->bufs_cap, *body, len) != 0 ||
        iov_push(w, p, (size_t)len) != 0 || iov_push(w, zeros, (size_t)(padded - len)) != 0)
        return -ENOMEM;
    *body += padded;
    return 0;
}

static const int32_t zero_offset[1];

static int add_node(struct arw_ipc_writer *w, const struct arw_field *f, const struct ArrowArray *x,
                    int64_t *body, struct pio_error *err)
{
    if (x->offset != 0 || x->n_buffers != pio__arw_type_nbuffers(f->type) ||
        x->n_children != f->n_children || x->length < 0 || x->null_count < 0 ||
        (x->null_count > 0 && !x->buffers[0]))
        return pio_error_set(err, PIO_ENOTSUPPORTED,
                             "arrow: column '%s': array shape not supported by this writer",
                             f->name);
    if (pair_push(&w->nodes, &w->nnodes, &w->nodes_cap, x->length, x->null_count) != 0)
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    int64_t n = x->length;
    int rc = add_buffer(w, body, x->buffers[0], x->null_count ? (n + 7) / 8 : 0);
    const int32_t *off = x->n_buffers > 1 ? x->buffers[1] : NULL;
    int width = pio__arw_type_width(f->type);
    if (rc == 0 && width)
        rc = add_buffer(w, body, x->buffers[1], n * width);
    if (rc == 0 && (f->type == ARW_UTF8 || f->type == ARW_LIST)) {
        if (!off && n == 0)
            off = zero_offset;
        if (!off || off[0] != 0)
            return pio_error_set(err, PIO_ENOTSUPPORTED,
                                 "arrow: column '%s': offsets must start at 0", f->name);
        rc = add_buffer(w, body, off, (n + 1) * 4);
        if (rc == 0 && f->type == ARW_UTF8)
            rc = add_buffer(w, body, x->buffers[2], off[n]);
    }
    if (rc == -ENOMEM)
        return pio_error_set(err, rc, "arrow: out of memory");
    if (rc != 0)
        return pio_error_set(err, rc, "arrow: column '%s': missing buffer", f->name);
    for (int i = 0; i < f->n_children; i++)
        if ((rc = add_node(w, &f->children[i], x->children[i], body, err)) != 0)
            return rc;
    return 0;
}

int pio__arw_ipc_writer_batch(struct arw_ipc_writer *w, const struct ArrowArray *batch,
                              struct pio_error *err)
{
    w->niov = w->nnodes = w->nbufs = 0;
    if (batch->n_children != w->nfields)
        return pio_error_set(err, PIO_EUSAGE, "arrow: batch has %lld columns, schema %d",
                             (long long)batch->n_children, w->nfields);
    int64_t body = 0;
    for (int i = 0; i < w->nfields; i++) {
        int rc = add_node(w, &w->fields[i], batch->children[i], &body, err);
        if (rc != 0)
            return rc;
    }
    struct fb_builder b;
    pio__fb_init(&b);
    fb_ref buffers = pio__fb_struct_vector(&b, w->bufs, w->nbufs, 16, 8);
    fb_ref nodes = pio__fb_struct_vector(&b, w->nodes, w->nnodes, 16, 8);
    struct fb_table t;
    pio__fb_table_start(&t);
    pio__fb_table_scalar(&t, 0, 8, (uint64_t)batch->length);
    pio__fb_table_ref(&t, 1, nodes);
    pio__fb_table_ref(&t, 2, buffers);
    fb_ref rb = pio__fb_table_end(&b, &t);
    fb_ref msg = fb_message(&b, MSG_RECORD_BATCH, rb, body);
    const uint8_t *bytes;
    size_t len;
    if (!pio__fb_finish(&b, msg, &bytes, &len)) {
        pio__fb_free(&b);
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    }
    if (w->nblocks == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        struct block *nb = realloc(w->blocks, cap * sizeof(*nb));
        if (!nb) {
            pio__fb_free(&b);
            return pio_error_set(err, -ENOMEM, "arrow: out of memory");
        }
        w->blocks = nb;
        w->cap = cap;
    }
    struct block *blk = &w->blocks[w->nblocks];
    blk->offset = (int64_t)w->pos;
    blk->body_len = body;
    int rc = write_message(w, bytes, len, &blk->meta_len, err);
    pio__fb_free(&b);
    if (rc == 0)
        w->nblocks++;
    return rc;
}

/* ---- open and close --------------------------------------------------------------- */

static void writer_free(struct arw_ipc_writer *w)
{
    fields_free(w->fields, w->nfields);
    for (uint64_t i = 0; i < w->nmeta; i++) {
        free(w->keys[i]);
        free(w->values[i]);
    }
    free(w->keys);
    free(w->values);
    free(w->blocks);
    free(w->iov);
    free(w->nodes);
    free(w->bufs);
    free(w->path);
    free(w->tmp);
    if (w->mem && !w->fixed)
        munmap(w->mem, w->mem_cap);
    free(w);
}

/* Fields, metadata and the file's head (magic, schema message), to the
 * writer's output (a new file, or memory when w->path is NULL). */
static int writer_start(struct arw_ipc_writer *w, const struct ArrowSchema *schema,
                        const char *what, struct pio_error *err)
{
    if (strcmp(schema->format, "+s") != 0)
        return pio_error_set(err, PIO_ENOTSUPPORTED, "%s: the schema must be a struct ('+s')",
                             what);
    int rc = fields_from_schema(&w->fields, schema->children, schema->n_children, 0, err);
    if (rc != 0)
        return rc;
    w->nfields = (int)schema->n_children;
    if ((rc = metadata_decode(w, schema->metadata)) != 0)
        return pio_error_set(err, rc, "%s: schema metadata: %s", what, pio_strerror(rc));
    if (w->path) {
        w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (w->fd < 0)
            return pio_error_set(err, -errno, "%s: cannot create: %s", w->tmp, strerror(errno));
    }
    struct fb_builder b;
    pio__fb_init(&b);
    fb_ref msg = fb_message(&b, MSG_SCHEMA, fb_schema_table(&b, w), 0);
    const uint8_t *bytes;
    size_t len;
    struct iovec magic = {(void *)"ARROW1\0\0", 8};
    rc = pio__fb_finish(&b, msg, &bytes, &len)
             ? 0
             : pio_error_set(err, -ENOMEM, "arrow: out of memory");
    if (rc == 0)
        rc = write_all(w, &magic, 1, err);
    int32_t meta_len;
    w->niov = 0;
    if (rc == 0)
        rc = write_message(w, bytes, len, &meta_len, err);
    pio__fb_free(&b);
    return rc;
}

int pio__arw_ipc_writer_open(struct arw_ipc_writer **out, const char *path, bool overwrite,
                             const struct ArrowSchema *schema, struct pio_error *err)
{
    *out = NULL;
    struct stat st;
    if (!overwrite && lstat(path, &st) == 0)
        return pio_error_set(err, -EEXIST, "%s: cannot create: %s", path, strerror(EEXIST));
    struct arw_ipc_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    w->fd = -1;
    size_t n = strlen(path);
    w->path = strdup(path);
    w->tmp = malloc(n + 6);
    if (!w->path || !w->tmp) {
        writer_free(w);
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    }
    snprintf(w->tmp, n + 6, "%s.part", path);
    int rc = writer_start(w, schema, path, err);
    if (rc != 0) {
        if (w->fd >= 0) {
            close(w->fd);
            unlink(w->tmp);
        }
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

static int write_footer(struct arw_ipc_writer *w, struct pio_error *err)
{
    struct fb_builder b;
    pio__fb_init(&b);
    uint8_t *blocks = calloc(w->nblocks + 1, 24);
    if (!blocks)
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    for (size_t i = 0; i < w->nblocks; i++) {
        memcpy(blocks + 24 * i, &w->blocks[i].offset, 8);
        memcpy(blocks + 24 * i + 8, &w->blocks[i].meta_len, 4);
        memcpy(blocks + 24 * i + 16, &w->blocks[i].body_len, 8);
    }
    fb_ref recs = pio__fb_struct_vector(&b, blocks, w->nblocks, 24, 8);
    free(blocks);
    fb_ref schema = fb_schema_table(&b, w);
    struct fb_table t;
    pio__fb_table_start(&t);
    pio__fb_table_scalar(&t, 0, 2, METADATA_V5);
    pio__fb_table_ref(&t, 1, schema);
    pio__fb_table_ref(&t, 3, recs);
    fb_ref footer = pio__fb_table_end(&b, &t);
    const uint8_t *bytes;
    size_t len;
    if (!pio__fb_finish(&b, footer, &bytes, &len)) {
        pio__fb_free(&b);
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    }
    uint32_t eos[2] = {0xFFFFFFFFu, 0};
    int32_t flen = (int32_t)len;
    struct iovec iov[4] = {{eos, 8}, {(void *)bytes, len}, {&flen, 4}, {(void *)"ARROW1", 6}};
    int rc = write_all(w, iov, 4, err);
    pio__fb_free(&b);
    return rc;
}

int pio__arw_ipc_writer_close(struct arw_ipc_writer *w, bool ok, struct pio_error *err)
{
    if (!w)
        return 0;
    int rc = 0;
    if (ok) {
        rc = write_footer(w, err);
        if (rc == 0 && fdatasync(w->fd) != 0)
            rc = pio_error_set(err, -errno, "%s: sync: %s", w->tmp, strerror(errno));
    }
    if (close(w->fd) != 0 && ok && rc == 0)
        rc = pio_error_set(err, -errno, "%s: close: %s", w->tmp, strerror(errno));
    if (ok && rc == 0 && rename(w->tmp, w->path) != 0)
        rc = pio_error_set(err, -errno, "%s: rename to %s: %s", w->tmp, w->path, strerror(errno));
    if (ok && rc == 0) /* make the rename durable */
        rc = pio_io_sync_dir_of(w->path, err);
    if (!ok || rc != 0)
        unlink(w->tmp);
    writer_free(w);
    return rc;
}

/* ---- pio_arrow_ipc_write ----------------------------------------------------------- */

static int stream_error(struct ArrowArrayStream *in, int code, const char *what, const char *path,
                        struct pio_error *err)
{
    const char *msg = in->get_last_error ? in->get_last_error(in) : NULL;
    return pio_error_set(err, PIO_ECORRUPT, "%s: %s: %s", path, what, msg ? msg : strerror(code));
}

/* Every batch of `in` into w, then close it (footer, or removal on error). */
static int write_stream(struct arw_ipc_writer *w, struct ArrowArrayStream *in, const char *what,
                        struct pio_error *err)
{
    int rc = 0, e;
    for (;;) {
        struct ArrowArray batch;
        if ((e = in->get_next(in, &batch)) != 0) {
            rc = stream_error(in, e, "stream batch", what, err);
            break;
        }
        if (!batch.release)
            break;
        rc = pio__arw_ipc_writer_batch(w, &batch, err);
        batch.release(&batch);
        if (rc != 0)
            break;
    }
    return rc;
}

PIO_API int pio_arrow_ipc_write(const char *path, struct ArrowArrayStream *in, int overwrite,
                                struct pio_error *err)
{
    struct ArrowSchema schema;
    int e = in->get_schema(in, &schema);
    if (e != 0)
        return stream_error(in, e, "stream schema", path, err);
    struct arw_ipc_writer *w;
    int rc = pio__arw_ipc_writer_open(&w, path, overwrite != 0, &schema, err);
    schema.release(&schema);
    if (rc != 0)
        return rc;
    rc = write_stream(w, in, path, err);
    int rc2 = pio__arw_ipc_writer_close(w, rc == 0, rc == 0 ? err : NULL);
    return rc ? rc : rc2;
}

PIO_API void pio_arrow_ipc_free(void *image, size_t len)
{
    if (image)
        munmap(image, (len + 4095) & ~(size_t)4095);
}

/* The IPC image of `in` into w's memory (growing, or the caller's). */
static int serialize(struct arw_ipc_writer *w, struct ArrowArrayStream *in, struct pio_error *err)
{
    struct ArrowSchema schema;
    int e = in->get_schema(in, &schema);
    if (e != 0)
        return stream_error(in, e, "stream schema", "arrow", err);
    w->fd = -1;
    int rc = writer_start(w, &schema, "arrow", err);
    schema.release(&schema);
    if (rc == 0)
        rc = write_stream(w, in, "arrow", err);
    if (rc == 0)
        rc = write_footer(w, err);
    return rc;
}

PIO_API int pio_arrow_ipc_serialize(struct ArrowArrayStream *in, void **out, size_t *len,
                                    struct pio_error *err)
{
    *out = NULL;
    *len = 0;
    struct arw_ipc_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    int rc = serialize(w, in, err);
    if (rc == 0) {
        /* give back the unused tail: pio_arrow_ipc_free unmaps len bytes */
        size_t keep = ((size_t)w->pos + 4095) & ~(size_t)4095;
        if (keep < w->mem_cap && mremap(w->mem, w->mem_cap, keep, 0) != MAP_FAILED)
            w->mem_cap = keep;
        if (w->mem_cap == keep) {
            *out = w->mem;
            *len = (size_t)w->pos;
            w->mem = NULL;
        } else {
            rc = pio_error_set(err, -ENOMEM, "arrow: cannot shrink the IPC image");
        }
    }
    writer_free(w);
    return rc;
}

PIO_API int pio_arrow_ipc_serialize_into(struct ArrowArrayStream *in, void *buf, size_t cap,
                                         size_t *len, struct pio_error *err)
{
    *len = 0;
    if (!buf && cap)
        return pio_error_set(err, PIO_EUSAGE, "arrow: a buffer of %zu bytes at NULL", cap);
    struct arw_ipc_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    w->mem = buf;
    w->mem_cap = cap;
    w->fixed = true;
    int rc = serialize(w, in, err);
    if (rc == 0)
        *len = (size_t)w->pos;
    writer_free(w);
    return rc;
}
