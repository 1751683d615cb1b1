/*
 * formats: what every format's reader and writer shares: mapped inputs,
 * outputs renamed into place when complete, the sink base, topology
 * building, box conversions.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats_internal.h"
#include "formats/pio_formats.h"

#include "common/pio_common.h"
#include "io/pio_io.h"

/* ---- outputs ------------------------------------------------------------------ */

int pio__outfile_open(struct outfile *o, const char *path, bool overwrite, struct pio_error *err)
{
    memset(o, 0, sizeof(*o));
    struct stat st;
    if (!overwrite && lstat(path, &st) == 0)
        return pio_error_set(err, -EEXIST, "%s: cannot create: %s", path, strerror(EEXIST));
    size_t n = strlen(path);
    o->path = strdup(path);
    o->tmp = malloc(n + 6);
    if (!o->path || !o->tmp) {
        free(o->path);
        free(o->tmp);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    snprintf(o->tmp, n + 6, "%s.part", path);
    int fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(o->tmp);
        }
        pio_error_set(err, -e, "%s: cannot create: %s", o->tmp, strerror(e));
        free(o->path);
        free(o->tmp);
        return -e;
    }
    setvbuf(o->f, NULL, _IOFBF, 1 << 20);
    return 0;
}

int pio__outfile_finish(struct outfile *o, bool ok, struct pio_error *err)
{
    if (!o->f)
        return 0;
    int rc = 0;
    if (ok) {
        if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
            rc = pio_error_set(err, -errno, "%s: write failed: %s", o->tmp, strerror(errno));
    }
    if (fclose(o->f) != 0 && ok && rc == 0)
        rc = pio_error_set(err, -errno, "%s: write failed: %s", o->tmp, strerror(errno));
    o->f = NULL;
    if (ok && rc == 0) {
        if (rename(o->tmp, o->path) != 0)
            rc = pio_error_set(err, -errno, "%s: cannot rename to %s: %s", o->tmp, o->path,
                               strerror(errno));
        else {
            rc = pio_io_sync_dir_of(o->path, err);
        }
    }
    if (!ok || rc != 0)
        unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    return rc;
}

int pio__sink_new(struct pio_sink *out, size_t size, const char *name, const char *path,
                  bool overwrite,
                  int (*write)(void *, const struct pio_batch *, struct pio_error *),
                  void (*destroy)(void *), struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct sink_base *b = calloc(1, size);
    if (!b || !(b->path = strdup(path))) {
        free(b);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    b->overwrite = overwrite;
    *out = (struct pio_sink){.size = sizeof(struct pio_sink),
                             .name = name,
                             .ctx = b,
                             .precision = PIO_FLOAT32,
                             .length_unit = PIO_UNIT_NM,
                             .begin = pio__sink_base_begin,
                             .write = write,
                             .end = pio__sink_base_end,
                             .destroy = destroy};
    return 0;
}

int pio__sink_base_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    (void)info;
    struct sink_base *b = ctx;
    return pio__outfile_open(&b->of, b->path, b->overwrite, err);
}

int pio__sink_base_end(void *ctx, bool ok, struct pio_error *err)
{
    struct sink_base *b = ctx;
    return pio__outfile_finish(&b->of, ok, err);
}

void pio__sink_base_release(void *ctx)
{
    struct sink_base *b = ctx;
    pio__outfile_finish(&b->of, false, NULL);
    free(b->path);
}

int pio__offsets_push(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x)
{
    if (*n == *cap) {
        uint64_t c = *cap ? *cap * 2 : 256;
        uint64_t *q = realloc(*v, (size_t)c * sizeof(*q));
        if (!q)
            return -ENOMEM;
        *v = q;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return 0;
}

/* ---- inputs ------------------------------------------------------------------- */

int pio__conv_pread(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : PIO_ETRUNCATED;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int pio__infile_open(struct infile *in, const char *path, struct pio_error *err)
{
    memset(in, 0, sizeof(*in));
    in->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (in->fd < 0)
        return pio_error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(in->fd, &st) != 0) { /* (st is not filled then) */
        int e = errno;
        close(in->fd);
        return pio_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        close(in->fd);
        return pio_error_set(err, -e, "%s: not a regular file", path);
    }
    in->size = (uint64_t)st.st_size;
    if (in->size) {
        void *m = mmap(NULL, (size_t)in->size, PROT_READ, MAP_PRIVATE, in->fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(in->fd);
            return pio_error_set(err, -e, "%s: cannot map: %s", path, strerror(e));
        }
        madvise(m, (size_t)in->size, MADV_SEQUENTIAL);
        in->map = m;
    }
    in->path = strdup(path);
    if (!in->path) {
        pio__infile_close(in);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    return 0;
}

void pio__infile_close(struct infile *in)
{
    if (in->map)
        munmap((void *)in->map, (size_t)in->size);
    if (in->fd > 0)
        close(in->fd);
    free(in->path);
    memset(in, 0, sizeof(*in));
    in->fd = -1;
}

/* ---- topology ------------------------------------------------------------------ */

static void put_field(char *dst, size_t width, const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    memset(dst, 0, width);
    memcpy(dst, s, PIO_MIN(n, width));
}

int pio__topo_add(struct topo_build *t, const char *name, size_t nlen, const char *resname,
                  size_t rlen, int32_t resid, const char *chain, size_t clen, const char *element,
                  size_t elen)
{
    if (t->n == t->cap) {
        uint64_t cap = t->cap ? t->cap * 2 : 1024;
#define GROW(field)                                                                                \
    do {                                                                                           \
        void *q = realloc(t->field, (size_t)cap * sizeof(*t->field));                              \
        if (!q)                                                                                    \
            return -ENOMEM;                                                                        \
        t->field = q;                                                                              \
    } while (0)
        GROW(names);
        GROW(resnames);
        GROW(elements);
        GROW(chains);
        GROW(resids);
        GROW(masses);
        GROW(charges);
#undef GROW
        t->cap = cap;
    }
    uint64_t i = t->n++;
    put_field(t->names[i], 8, name, nlen);
    put_field(t->resnames[i], 8, resname, rlen);
    put_field(t->chains[i], 4, chain, clen);
    put_field(t->elements[i], 4, element, elen);
    if (!t->elements[i][0]) {
        char nm[9];
        memcpy(nm, t->names[i], 8);
        nm[8] = '\0';
        pio__guess_element(nm, t->elements[i]);
    }
    t->resids[i] = resid;
    t->masses[i] = 0;
    t->charges[i] = 0;
    return 0;
}

int pio__topo_add_bond(struct topo_build *t, uint32_t a, uint32_t b)
{
    if (t->nbonds == t->bcap) {
        uint64_t cap = t->bcap ? t->bcap * 2 : 256;
        void *q = realloc(t->bonds, (size_t)cap * sizeof(*t->bonds));
        if (!q)
            return -ENOMEM;
        t->bonds = q;
        t->bcap = cap;
    }
    t->bonds[t->nbonds][0] = a;
    t->bonds[t->nbonds][1] = b;
    t->nbonds++;
    return 0;
}

void pio__topo_finish(struct topo_build *t)
{
    t->top = (struct pio_topology){.natoms = t->n,
                                   .nbonds = t->nbonds,
                                   .names = (const char(*)[8])t->names,
                                   .elements = (const char(*)[4])t->elements,
                                   .resnames = (const char(*)[8])t->resnames,
                                   .chains = (const char(*)[4])t->chains,
                                   .resids = t->resids,
                                   .masses = t->masses,
                                   .charges = t->charges,
                                   .bonds = (const uint32_t(*)[2])t->bonds};
}

void pio__topo_free(struct topo_build *t)
{
    free(t->names);
    free(t->resnames);
    free(t->elements);
    free(t->chains);
    free(t->resids);
    free(t->masses);
    free(t->charges);
    free(t->bonds);
    memset(t, 0, sizeof(*t));
}

void pio__guess_element(const char *name, char out[4])
{
    memset(out, 0, 4);
    const char *p = name;
    while (*p && !isalpha((unsigned char)*p))
        p++; /* "1HB" style names */
    static const char *const two[] = {"CL", "NA", "MG", "ZN", "FE", "CA", "BR"};
    /* Two-letter elements only for ions named alone (CA is alpha carbon). */
    if (strlen(p) == 2 && strcasecmp(p, "CA") != 0)
        for (size_t i = 0; i < PIO_ARRAY_LEN(two); i++)
            if (strcasecmp(p, two[i]) == 0) {
                out[0] = two[i][0];
                out[1] = (char)tolower((unsigned char)two[i][1]);
                return;
            }
    if (*p && strchr("HCNOSP", toupper((unsigned char)*p)))
        out[0] = (char)toupper((unsigned char)*p);
}

void pio__box_from_lengths(double a, double b, double c, double alpha, double beta, double gamma,
                           double box[3][3])
{
    memset(box, 0, 9 * sizeof(double));
    const double rad = M_PI / 180.0;
    if (alpha == 90.0 && beta == 90.0 && gamma == 90.0) {
        box[0][0] = a;
        box[1][1] = b;
        box[2][2] = c;
        return;
    }
    double ca = cos(alpha * rad), cb = cos(beta * rad), cg = cos(gamma * rad),
           sg = sin(gamma * rad);
    box[0][0] = a;
    box[1][0] = b * cg;
    box[1][1] = b * sg;
    box[2][0] = c * cb;
    box[2][1] = c * (ca - cb * cg) / sg;
    box[2][2] = sqrt(PIO_MAX(c * c - box[2][0] * box[2][0] - box[2][1] * box[2][1], 0.0));
}

void pio__box_to_lengths(const double box[3][3], double out[6])
{
    double len[3];
    for (int i = 0; i < 3; i++)
        len[i] = sqrt(box[i][0] * box[i][0] + box[i][1] * box[i][1] + box[i][2] * box[i][2]);
    const double deg = 180.0 / M_PI;
#define DOT(i, j) (box[i][0] * box[j][0] + box[i][1] * box[j][1] + box[i][2] * box[j][2])
    out[0] = len[0];
    out[1] = len[1];
    out[2] = len[2];
    out[3] = len[1] * len[2] > 0 ? acos(DOT(1, 2) / (len[1] * len[2])) * deg : 90.0;
    out[4] = len[0] * len[2] > 0 ? acos(DOT(0, 2) / (len[0] * len[2])) * deg : 90.0;
    out[5] = len[0] * len[1] > 0 ? acos(DOT(0, 1) / (len[0] * len[1])) * deg : 90.0;
#undef DOT
}

bool pio__meta_has(const char *const *meta, const char *key)
{
    for (; meta && meta[0]; meta += 2)
        if (strcmp(meta[0], key) == 0)
            return true;
    return false;
}
