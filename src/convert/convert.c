/*
 * convert: the format registry (pio_source_open, pio_sink_open), the
 * topology override (--top), and helpers every format shares: mapped
 * inputs, outputs renamed into place when complete, topology building,
 * box conversions.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert/convert_internal.h"

#include "arrow/pio_arrow.h"
#include "common/pio_common.h"

static const char *const format_names[] = {"unknown", "holo", "xtc", "gro",  "pdb",
                                           "xyz",     "trr",  "dcd", "ncdf", "arrow"};

PIO_API const char *pio_format_name(enum pio_format f)
{
    return (unsigned)f < PIO_ARRAY_LEN(format_names) ? format_names[f] : "unknown";
}

PIO_API int pio_format_parse(const char *name, enum pio_format *out)
{
    for (unsigned i = 1; i < PIO_ARRAY_LEN(format_names); i++)
        if (strcasecmp(name, format_names[i]) == 0) {
            *out = (enum pio_format)i;
            return 0;
        }
    return PIO_EUSAGE;
}

PIO_API enum pio_format pio_format_from_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return PIO_FORMAT_UNKNOWN;
    if (strcasecmp(dot, ".ent") == 0)
        return PIO_FORMAT_PDB;
    if (strcasecmp(dot, ".nc") == 0)
        return PIO_FORMAT_NCDF;
    if (strcasecmp(dot, ".feather") == 0)
        return PIO_FORMAT_ARROW;
    enum pio_format f;
    return pio_format_parse(dot + 1, &f) == 0 ? f : PIO_FORMAT_UNKNOWN;
}

/* ---- outputs ------------------------------------------------------------------ */

int outfile_open(struct outfile *o, const char *path, bool overwrite, struct pio_error *err)
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
        if (fd >= 0)
            close(fd);
        pio_error_set(err, -e, "%s: cannot create: %s", o->tmp, strerror(e));
        free(o->path);
        free(o->tmp);
        return -e;
    }
    setvbuf(o->f, NULL, _IOFBF, 1 << 20);
    return 0;
}

int outfile_finish(struct outfile *o, bool ok, struct pio_error *err)
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
            /* make the rename durable */
            char *dir = strdup(o->path);
            char *slash = dir ? strrchr(dir, '/') : NULL;
            int dfd = -1;
            if (dir) {
                if (slash)
                    *(slash == dir ? slash + 1 : slash) = '\0';
                dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            }
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
    if (!ok || rc != 0)
        unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    return rc;
}

int sink_new(struct pio_sink *out, size_t size, const char *name, const char *path, bool overwrite,
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
    *out = (struct pio_sink){.name = name,
                             .ctx = b,
                             .precision = PIO_FLOAT32,
                             .length_unit = PIO_UNIT_NM,
                             .begin = sink_base_begin,
                             .write = write,
                             .end = sink_base_end,
                             .destroy = destroy};
    return 0;
}

int sink_base_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    (void)info;
    struct sink_base *b = ctx;
    return outfile_open(&b->of, b->path, b->overwrite, err);
}

int sink_base_end(void *ctx, bool ok, struct pio_error *err)
{
    struct sink_base *b = ctx;
    return outfile_finish(&b->of, ok, err);
}

void sink_base_release(void *ctx)
{
    struct sink_base *b = ctx;
    outfile_finish(&b->of, false, NULL);
    free(b->path);
}

int offsets_push(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x)
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

int conv_pread(int fd, void *buf, size_t n, uint64_t off)
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

int infile_open(struct infile *in, const char *path, struct pio_error *err)
{
    memset(in, 0, sizeof(*in));
    in->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (in->fd < 0)
        return pio_error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : errno ? errno : EINVAL;
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
        infile_close(in);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    return 0;
}

void infile_close(struct infile *in)
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

int topo_add(struct topo_build *t, const char *name, size_t nlen, const char *resname, size_t rlen,
             int32_t resid, const char *chain, size_t clen, const char *element, size_t elen)
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
        guess_element(nm, t->elements[i]);
    }
    t->resids[i] = resid;
    t->masses[i] = 0;
    t->charges[i] = 0;
    return 0;
}

int topo_add_bond(struct topo_build *t, uint32_t a, uint32_t b)
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

void topo_finish(struct topo_build *t)
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

void topo_free(struct topo_build *t)
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

void guess_element(const char *name, char out[4])
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

void box_from_lengths(double a, double b, double c, double alpha, double beta, double gamma,
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

void box_to_lengths(const double box[3][3], double out[6])
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

/* ---- topology override (--top) ------------------------------------------------------ */

struct top_src {
    struct pio_source inner;
    struct topo_build t;
    char *path;
};

static int ts_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    struct top_src *s = ctx;
    int rc = s->inner.info(s->inner.ctx, out, err);
    if (rc != 0)
        return rc;
    if (out->max_natoms != s->t.n)
        return pio_error_set(err, PIO_EUSAGE,
                             "%s has %llu atoms, the trajectory %llu: not its topology", s->path,
                             (unsigned long long)s->t.n, (unsigned long long)out->max_natoms);
    out->topology = &s->t.top;
    return 0;
}
static int ts_start(void *ctx, const uint64_t *f, uint64_t n, struct pio_error *err)
{
    struct top_src *s = ctx;
    return s->inner.start(s->inner.ctx, f, n, err);
}
static int ts_next_into(void *ctx, struct pio_frame *out, float *dst, uint64_t cap,
                        struct pio_error *err)
{
    struct top_src *s = ctx;
    int rc = s->inner.next_into ? s->inner.next_into(s->inner.ctx, out, dst, cap, err)
                                : s->inner.next(s->inner.ctx, out, err);
    if (rc == 1 && out->natoms != s->t.n) {
        s->inner.release(s->inner.ctx, out);
        return pio_error_set(err, PIO_EUSAGE, "frame %llu has %llu atoms, %s %llu",
                             (unsigned long long)out->index, (unsigned long long)out->natoms,
                             s->path, (unsigned long long)s->t.n);
    }
    return rc;
}
static int ts_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    return ts_next_into(ctx, out, NULL, 0, err);
}
static void ts_release(void *ctx, const struct pio_frame *f)
{
    struct top_src *s = ctx;
    s->inner.release(s->inner.ctx, f);
}
static void ts_destroy(void *ctx)
{
    struct top_src *s = ctx;
    pio_source_destroy(&s->inner);
    topo_free(&s->t);
    free(s->path);
    free(s);
}

PIO_API int pio_source_open(struct pio_source *out, const char *path,
                            const struct pio_source_options *o, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct pio_source_options opt = PIO_SOURCE_OPTIONS_INIT;
    if (o) {
        if (o->size < sizeof(opt))
            return pio_error_set(err, PIO_EUSAGE, "source options: size %u", o->size);
        opt = *o;
    }
    enum pio_format f = opt.format ? opt.format : pio_format_from_path(path);
    int rc;
    switch (f) {
    case PIO_FORMAT_HOLO:
        rc = pio_source_holo(out, path, opt.reader, opt.flags, err);
        break;
    case PIO_FORMAT_XTC:
        rc = xtc_source_open(out, path, opt.threads, err);
        break;
    case PIO_FORMAT_TRR:
        rc = trr_source_open(out, path, err);
        break;
    case PIO_FORMAT_DCD:
        rc = dcd_source_open(out, path, err);
        break;
    case PIO_FORMAT_NCDF:
        rc = ncdf_source_open(out, path, err);
        break;
    case PIO_FORMAT_GRO:
    case PIO_FORMAT_PDB:
    case PIO_FORMAT_XYZ:
        rc = text_source_open(out, path, f, err);
        break;
    case PIO_FORMAT_ARROW:
        rc = arrow_source_open(out, path, err);
        break;
    default:
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: unknown input format (extensions: .holo .xtc .trr .dcd .ncdf "
                             ".gro .pdb .xyz .arrow)",
                             path);
    }
    if (rc == 0 && (opt.flags & PIO_SOURCE_STRICT)) {
        struct pio_source_info si;
        if (out->info(out->ctx, &si, NULL) == 0 && si.warning) {
            rc = pio_error_set(err, PIO_ETRUNCATED, "%s (refused: strict)", si.warning);
            pio_source_destroy(out);
        }
    }
    if (rc != 0 || !opt.topology)
        return rc;
    struct top_src *s = calloc(1, sizeof(*s));
    enum pio_format tf = pio_format_from_path(opt.topology);
    if (!s || !(s->path = strdup(opt.topology))) {
        free(s);
        pio_source_destroy(out);
        return pio_error_set(err, -ENOMEM, "out of memory");
    }
    if (tf != PIO_FORMAT_GRO && tf != PIO_FORMAT_PDB)
        rc = pio_error_set(err, PIO_EUSAGE, "%s: a topology comes from a .gro or .pdb file",
                           opt.topology);
    else
        rc = structure_topology(opt.topology, tf, &s->t, err);
    if (rc != 0) {
        ts_destroy(s);
        pio_source_destroy(out);
        return rc;
    }
    s->inner = *out;
    *out = (struct pio_source){
        s->inner.name, s,          ts_info,    ts_start,
        ts_next,       ts_release, ts_destroy, s->inner.next_into ? ts_next_into : NULL};
    return 0;
}

PIO_API int pio_sink_open(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                          struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct pio_sink_options opt = PIO_SINK_OPTIONS_INIT;
    if (o) {
        /* arrow_layout came later: older callers' smaller struct is fine */
        if (o->size < offsetof(struct pio_sink_options, arrow_layout))
            return pio_error_set(err, PIO_EUSAGE, "sink options: size %u", o->size);
        memcpy(&opt, o, PIO_MIN((size_t)o->size, sizeof(opt)));
    }
    bool overwrite = opt.flags & PIO_SINK_OVERWRITE;
    enum pio_format f = opt.format ? opt.format : pio_format_from_path(path);
    switch (f) {
    case PIO_FORMAT_HOLO: {
        struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
        if (opt.writer)
            wo = *opt.writer;
        if (overwrite)
            wo.flags |= PIO_WRITER_OVERWRITE;
        return pio_sink_holo(out, path, &wo, opt.commit_frames, err);
    }
    case PIO_FORMAT_XTC:
        return xtc_sink_open(out, path, overwrite,
                             opt.xtc_precision > 0 ? opt.xtc_precision : 1000.0f, err);
    case PIO_FORMAT_TRR:
        return trr_sink_open(out, path, overwrite, err);
    case PIO_FORMAT_DCD:
        return dcd_sink_open(out, path, overwrite, err);
    case PIO_FORMAT_NCDF:
        return ncdf_sink_open(out, path, overwrite, err);
    case PIO_FORMAT_GRO:
    case PIO_FORMAT_PDB:
    case PIO_FORMAT_XYZ:
        return text_sink_open(out, path, f, overwrite, err);
    case PIO_FORMAT_ARROW:
        return arrow_sink_open(out, path, overwrite, opt.arrow_layout, err);
    default:
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: unknown output format (extensions: .holo .xtc .trr .dcd .ncdf "
                             ".gro .pdb .xyz .arrow)",
                             path);
    }
}
