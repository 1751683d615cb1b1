/*
 * convert: the text formats, GRO, PDB and XYZ, read and written.
 *
 * Reading maps the file and scans it once for frame boundaries (GRO:
 * title, count, atoms, box; PDB: MODEL blocks, or the whole file; XYZ:
 * count, comment, atoms), so frames can be read in any order. The
 * topology comes from the first frame (GRO: residues and names; PDB: also
 * chains, elements, CONECT bonds; XYZ: elements). Every frame must have
 * the first one's atom count. A last frame cut short is skipped with a
 * warning; a malformed line, a PDB model left open by the next one, and a
 * time or box that is not a finite number are errors naming file, frame,
 * line and offset.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats_internal.h"

#include "common/pio_common.h"
#include "telemetry/pio_telemetry.h"

/* ---- lines ---------------------------------------------------------------------- */

struct cursor {
    const char *p, *end;
    const char *base;
};

/* Next line (without its newline) into line and len; false (and an empty
 * line at the end) when there is none. */
static bool next_line(struct cursor *c, const char **line, size_t *len)
{
    *line = c->end;
    *len = 0;
    if (c->p >= c->end)
        return false;
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    const char *e = nl ? nl : c->end;
    *line = c->p;
    *len = (size_t)(e - c->p);
    if (*len && (*line)[*len - 1] == '\r')
        (*len)--;
    c->p = nl ? nl + 1 : c->end;
    return true;
}

/* A number from columns [a, b) of a line (shorter lines: missing). */
static bool field_double(const char *line, size_t len, size_t a, size_t b, double *out)
{
    if (a >= len)
        return false;
    b = PIO_MIN(b, len);
    char tmp[64];
    size_t n = PIO_MIN(b - a, sizeof(tmp) - 1);
    memcpy(tmp, line + a, n);
    tmp[n] = '\0';
    char *endp;
    errno = 0;
    *out = strtod(tmp, &endp);
    while (*endp == ' ')
        endp++;
    return endp != tmp && *endp == '\0' && errno == 0 && isfinite(*out);
}

static bool field_long(const char *line, size_t len, size_t a, size_t b, long *out)
{
    double d;
    if (!field_double(line, len, a, b, &d) || d != floor(d) || fabs(d) > 2e9)
        return false;
    *out = (long)d;
    return true;
}

static bool starts(const char *line, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(line, word, n) == 0;
}

/* ---- the source --------------------------------------------------------------------- */

struct text_src {
    enum pio_format fmt;
    struct infile in;
    uint64_t *off; /* frame starts */
    uint64_t nframes, cap, natoms;
    struct topo_build t;
    bool has_top, has_v;
    double box0[3][3]; /* PDB: a CRYST1 before the first MODEL applies to all */
    bool has_box0;
    int gro_w; /* GRO: width of a coordinate field */
    char warning[256];
    struct frame_walk walk;
    float *x, *v;
};

static int text_error(struct text_src *s, struct pio_error *err, uint64_t frame, const char *line,
                      const char *why)
{
    uint64_t off = (uint64_t)(line - (const char *)s->in.map);
    uint64_t lineno = 1;
    for (const char *q = (const char *)s->in.map; q < line; q++)
        lineno += *q == '\n';
    return pio_error_set(err, PIO_ECORRUPT, "%s: frame %llu, line %llu at offset 0x%llx: %s",
                         s->in.path, (unsigned long long)frame, (unsigned long long)lineno,
                         (unsigned long long)off, why);
}

/* A cursor at frame i's first line (UINT64_MAX: the file's start). */
static struct cursor at_frame(const struct text_src *s, uint64_t i)
{
    const char *base = (const char *)s->in.map;
    return (struct cursor){base + (i == UINT64_MAX ? 0 : s->off[i]), base + s->in.size, base};
}

static int add_frame(struct text_src *s, uint64_t off, struct pio_error *err)
{
    if (pio__offsets_push(&s->off, &s->nframes, &s->cap, off) != 0)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", s->in.path);
    return 0;
}

static void truncated(struct text_src *s, uint64_t off)
{
    snprintf(s->warning, sizeof(s->warning),
             "%s: frame %llu at offset 0x%llx is truncated; skipped", s->in.path,
             (unsigned long long)s->nframes, (unsigned long long)off);
}

/* GRO: title, count, atoms, box; repeated. Topology from frame 0. */
static int gro_scan(struct text_src *s, struct pio_error *err)
{
    struct cursor c = at_frame(s, UINT64_MAX);
    for (;;) {
        const char *start = c.p, *line;
        size_t len;
        if (!next_line(&c, &line, &len))
            break;
        if (len == 0 && c.p >= c.end)
            break;
        const char *cl;
        size_t clen;
        long n;
        if (!next_line(&c, &cl, &clen)) {
            truncated(s, (uint64_t)(start - c.base));
            break;
        }
        if (!field_long(cl, clen, 0, clen, &n) || n <= 0)
            return text_error(s, err, s->nframes, cl, "expected the atom count");
        if (s->nframes == 0)
            s->natoms = (uint64_t)n;
        else if ((uint64_t)n != s->natoms)
            return text_error(s, err, s->nframes, cl, "atom count differs from frame 0's");
        bool complete = true;
        for (long i = 0; i < n; i++) {
            const char *al;
            size_t alen;
            if (!next_line(&c, &al, &alen) || alen < 44) {
                if (c.p >= c.end) {
                    complete = false;
                    break;
                }
                return text_error(s, err, s->nframes, al, "atom line shorter than 44 columns");
            }
            if (s->nframes == 0) {
                if (i == 0) { /* field width from the distance between decimal points */
                    const char *d1 = memchr(al + 20, '.', alen - 20);
                    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(al + alen - d1 - 1)) : NULL;
                    s->gro_w = d2 ? (int)(d2 - d1) : 8;
                    if (s->gro_w < 4 || s->gro_w > 20)
                        return text_error(s, err, 0, al, "cannot tell the coordinate width");
                    s->has_v = alen >= (size_t)(20 + 6 * s->gro_w);
                }
                long resid;
                if (!field_long(al, alen, 0, 5, &resid))
                    return text_error(s, err, 0, al, "expected a residue number in columns 1-5");
                if (pio__topo_add(&s->t, al + 10, 5, al + 5, 5, (int32_t)resid, "", 0, "", 0) != 0)
                    return pio_error_set(err, -ENOMEM, "%s: out of memory", s->in.path);
            }
        }
        const char *bl;
        size_t blen;
        if (!complete || !next_line(&c, &bl, &blen)) {
            truncated(s, (uint64_t)(start - c.base));
            break;
        }
        int rc = add_frame(s, (uint64_t)(start - c.base), err);
        if (rc != 0)
            return rc;
    }
    s->has_top = true;
    return 0;
}

static int gro_frame(struct text_src *s, uint64_t i, struct pio_frame *out, struct pio_error *err)
{
    struct cursor c = at_frame(s, i);
    const char *line;
    size_t len;
    next_line(&c, &line, &len); /* title: "... t= T step= N" */
    const char *t = memmem(line, len, "t=", 2), *st = memmem(line, len, "step=", 5);
    char num[64];
    if (t) { /* copied: strtod must not run past the line */
        size_t n = PIO_MIN((size_t)(line + len - (t + 2)), sizeof(num) - 1);
        memcpy(num, t + 2, n);
        num[n] = '\0';
        out->time = strtod(num, NULL);
        if (!isfinite(out->time))
            return text_error(s, err, i, line, "the time (t=) is not a finite number");
    }
    if (st) {
        size_t n = PIO_MIN((size_t)(line + len - (st + 5)), sizeof(num) - 1);
        memcpy(num, st + 5, n);
        num[n] = '\0';
        out->step = strtoll(num, NULL, 10);
    }
    next_line(&c, &line, &len);
    int w = s->gro_w;
    for (uint64_t a = 0; a < s->natoms; a++) {
        next_line(&c, &line, &len);
        for (int k = 0; k < 3; k++) {
            double d;
            if (!field_double(line, len, 20 + (size_t)(k * w), 20 + (size_t)((k + 1) * w), &d))
                return text_error(s, err, i, line, "bad coordinate");
            s->x[a * 3 + k] = (float)d;
            if (s->has_v) {
                if (!field_double(line, len, 20 + (size_t)((k + 3) * w), 20 + (size_t)((k + 4) * w),
                                  &d))
                    return text_error(s, err, i, line, "bad velocity");
                s->v[a * 3 + k] = (float)d;
            }
        }
    }
    next_line(&c, &line, &len);
    double b[9] = {0};
    char tmp[256];
    size_t n = PIO_MIN(len, sizeof(tmp) - 1);
    memcpy(tmp, line, n);
    tmp[n] = '\0';
    char *p = tmp;
    int nb = 0;
    for (; nb < 9; nb++) {
        char *e;
        b[nb] = strtod(p, &e);
        if (e == p)
            break;
        p = e;
    }
    if (nb != 3 && nb != 9)
        return text_error(s, err, i, line, "box line needs 3 or 9 numbers");
    for (int k = 0; k < nb; k++)
        if (!isfinite(b[k]))
            return text_error(s, err, i, line, "the box is not a finite number");
    /* v1(x) v2(y) v3(z) v1(y) v1(z) v2(x) v2(z) v3(x) v3(y) */
    double box[3][3] = {{b[0], b[3], b[4]}, {b[5], b[1], b[6]}, {b[7], b[8], b[2]}};
    memcpy(out->box, box, sizeof(box));
    out->fields |= PIO_FIELD_BOX;
    if (s->has_v)
        out->velocities = (const float(*)[3])s->v;
    return 0;
}

static bool pdb_atom(const char *line, size_t len)
{
    return starts(line, len, "ATOM  ") || starts(line, len, "HETATM");
}

static int pdb_cryst(struct text_src *s, uint64_t frame, const char *line, size_t len,
                     double box[3][3], struct pio_error *err)
{
    double v[6];
    static const size_t col[7] = {6, 15, 24, 33, 40, 47, 54};
    for (int k = 0; k < 6; k++)
        if (!field_double(line, len, col[k], col[k + 1], &v[k]))
            return text_error(s, err, frame, line, "bad CRYST1 record");
    pio__box_from_lengths(v[0] / 10, v[1] / 10, v[2] / 10, v[3], v[4], v[5], box);
    if (!box_finite(box))
        return text_error(s, err, frame, line, "CRYST1 angles make no box");
    return 0;
}

/* PDB: MODEL blocks (or the whole file), topology and CONECT from frame 0. */
static int pdb_scan(struct text_src *s, struct pio_error *err)
{
    struct cursor c = at_frame(s, UINT64_MAX);
    const char *line, *frame_start = NULL;
    size_t len;
    uint64_t count = 0;
    bool in_model = false, any_model = false;
    uint64_t *serials = NULL, nserial = 0;
    int rc = 0;
    while (rc == 0 && next_line(&c, &line, &len)) {
        if (starts(line, len, "MODEL")) {
            if (frame_start && count > 0) { /* its atoms would be lost */
                rc = text_error(s, err, s->nframes, line,
                                "MODEL inside an unfinished frame (no ENDMDL before it)");
                break;
            }
            any_model = true;
            in_model = true;
            frame_start = line;
            count = 0;
        } else if (starts(line, len, "ENDMDL") ||
                   (starts(line, len, "END") && len <= 6 && !any_model && frame_start)) {
            if (!frame_start)
                continue;
            if (s->nframes == 0)
                s->natoms = count;
            else if (count != s->natoms)
                rc = text_error(s, err, s->nframes, line, "atom count differs from frame 0's");
            if (rc == 0 && count > 0)
                rc = add_frame(s, (uint64_t)(frame_start - c.base), err);
            in_model = false;
            frame_start = NULL;
            count = 0; /* frames separated by END alone (no MODEL) count afresh */
        } else if (starts(line, len, "CRYST1") && s->nframes == 0 && !in_model) {
            rc = pdb_cryst(s, 0, line, len, s->box0, err);
            s->has_box0 = rc == 0;
        } else if (pdb_atom(line, len)) {
            if (!frame_start)
                frame_start = line;
            if (len < 54)
                rc = text_error(s, err, s->nframes, line, "ATOM record shorter than 54 columns");
            if (rc == 0 && s->nframes == 0) {
                long resid = 0, serial = 0;
                field_long(line, len, 22, 26, &resid);
                bool has_serial = field_long(line, len, 6, 11, &serial);
                rc = pio__topo_add(&s->t, line + 12, 4, line + 17, PIO_MIN(len - 17, 4),
                                   (int32_t)resid, len > 21 ? line + 21 : "", len > 21 ? 1 : 0,
                                   len > 76 ? line + 76 : "", len > 76 ? PIO_MIN(len - 76, 2) : 0);
                if (rc == 0) {
                    uint64_t *q = realloc(serials, (size_t)(nserial + 1) * sizeof(*q));
                    if (!q)
                        rc = -ENOMEM;
                    else {
                        serials = q;
                        serials[nserial++] = has_serial ? (uint64_t)serial : UINT64_MAX;
                    }
                }
                if (rc == -ENOMEM)
                    pio_error_set(err, rc, "%s: out of memory", s->in.path);
            }
            count++;
        } else if (starts(line, len, "CONECT") && nserial) {
            long from, to;
            if (!field_long(line, len, 6, 11, &from))
                continue;
            for (size_t col = 11; col + 5 <= PIO_MAX(len, 11) && col < 31; col += 5) {
                if (!field_long(line, len, col, col + 5, &to))
                    break;
                /* serials are usually 1..n in order: look there first */
                uint64_t a = UINT64_MAX, b = UINT64_MAX;
                for (uint64_t k = 0; k < nserial && (a == UINT64_MAX || b == UINT64_MAX); k++) {
                    if (serials[k] == (uint64_t)from)
                        a = k;
                    if (serials[k] == (uint64_t)to)
                        b = k;
                }
                if (a < b && b != UINT64_MAX && pio__topo_add_bond(&s->t, (uint32_t)a, (uint32_t)b))
                    rc = pio_error_set(err, -ENOMEM, "%s: out of memory", s->in.path);
            }
        }
    }
    if (rc == 0 && frame_start && count > 0) { /* no ENDMDL/END after the last atoms */
        if ((any_model && in_model) || (s->nframes > 0 && count < s->natoms))
            truncated(s, (uint64_t)(frame_start - c.base));
        else if (s->nframes > 0 && count != s->natoms)
            rc = text_error(s, err, s->nframes, frame_start, "atom count differs from frame 0's");
        else {
            if (s->nframes == 0)
                s->natoms = count;
            rc = add_frame(s, (uint64_t)(frame_start - c.base), err);
        }
    } else if (rc == 0 && frame_start && in_model) { /* a MODEL cut before its first atom */
        truncated(s, (uint64_t)(frame_start - c.base));
    }
    free(serials);
    if (rc == 0 && s->nframes == 0)
        rc = pio_error_set(err, PIO_EFORMAT, "%s: no ATOM or HETATM records", s->in.path);
    s->has_top = true;
    return rc;
}

static int pdb_frame(struct text_src *s, uint64_t i, struct pio_frame *out, struct pio_error *err)
{
    struct cursor c = at_frame(s, i);
    const char *line;
    size_t len;
    uint64_t a = 0;
    if (s->has_box0) {
        memcpy(out->box, s->box0, sizeof(out->box));
        out->fields |= PIO_FIELD_BOX;
    }
    while (a < s->natoms && next_line(&c, &line, &len)) {
        if (starts(line, len, "CRYST1")) {
            int rc = pdb_cryst(s, i, line, len, out->box, err);
            if (rc != 0)
                return rc;
            out->fields |= PIO_FIELD_BOX;
        }
        if (!pdb_atom(line, len))
            continue;
        for (int k = 0; k < 3; k++) {
            double d;
            if (!field_double(line, len, 30 + (size_t)k * 8, 38 + (size_t)k * 8, &d))
                return text_error(s, err, i, line, "bad coordinate in columns 31-54");
            s->x[a * 3 + k] = (float)(d / 10.0);
        }
        a++;
    }
    out->step = (int64_t)i;
    return 0;
}

/* XYZ: count, comment, "element x y z" lines (Angstrom). */
static int xyz_scan(struct text_src *s, struct pio_error *err)
{
    struct cursor c = at_frame(s, UINT64_MAX);
    for (;;) {
        const char *start = c.p, *line;
        size_t len;
        if (!next_line(&c, &line, &len))
            break;
        long n;
        if (len == 0 && c.p >= c.end)
            break;
        if (!field_long(line, len, 0, len, &n) || n <= 0)
            return text_error(s, err, s->nframes, line, "expected the atom count");
        if (s->nframes == 0)
            s->natoms = (uint64_t)n;
        else if ((uint64_t)n != s->natoms)
            return text_error(s, err, s->nframes, line, "atom count differs from frame 0's");
        bool complete = next_line(&c, &line, &len);
        for (long i = 0; complete && i < n; i++) {
            if (!next_line(&c, &line, &len)) {
                complete = false;
                break;
            }
            if (s->nframes == 0) {
                size_t w = 0;
                while (w < len && isspace((unsigned char)line[w]))
                    w++;
                size_t e = w;
                while (e < len && !isspace((unsigned char)line[e]))
                    e++;
                /* the first column is an element or a name (OW): guess from it */
                if (pio__topo_add(&s->t, line + w, e - w, "", 0, 0, "", 0, "", 0) != 0)
                    return pio_error_set(err, -ENOMEM, "%s: out of memory", s->in.path);
            }
        }
        if (!complete) {
            truncated(s, (uint64_t)(start - c.base));
            break;
        }
        int rc = add_frame(s, (uint64_t)(start - c.base), err);
        if (rc != 0)
            return rc;
    }
    if (s->nframes == 0)
        return pio_error_set(err, PIO_EFORMAT, "%s: no complete XYZ frame", s->in.path);
    s->has_top = true;
    return 0;
}

static int xyz_frame(struct text_src *s, uint64_t i, struct pio_frame *out, struct pio_error *err)
{
    struct cursor c = at_frame(s, i);
    const char *line;
    size_t len;
    next_line(&c, &line, &len);
    next_line(&c, &line, &len);
    for (uint64_t a = 0; a < s->natoms; a++) {
        next_line(&c, &line, &len);
        char tmp[256];
        size_t n = PIO_MIN(len, sizeof(tmp) - 1);
        memcpy(tmp, line, n);
        tmp[n] = '\0';
        char *p = tmp;
        while (isspace((unsigned char)*p))
            p++;
        while (*p && !isspace((unsigned char)*p))
            p++;
        for (int k = 0; k < 3; k++) {
            char *e;
            double d = strtod(p, &e);
            if (e == p || !isfinite(d))
                return text_error(s, err, i, line, "expected element x y z");
            s->x[a * 3 + k] = (float)(d / 10.0);
            p = e;
        }
    }
    out->step = (int64_t)i;
    return 0;
}

static int ts_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    (void)err;
    struct text_src *s = ctx;
    *out = (struct pio_source_info){.nframes = s->nframes,
                                    .max_natoms = s->natoms,
                                    .fields = PIO_FIELD_POSITIONS |
                                              (s->has_v ? PIO_FIELD_VELOCITIES : 0) |
                                              (s->fmt == PIO_FORMAT_XYZ ? 0 : PIO_FIELD_BOX),
                                    .length_unit = PIO_UNIT_NM,
                                    .topology = s->has_top ? &s->t.top : NULL,
                                    .warning = s->warning[0] ? s->warning : NULL};
    return 0;
}

static int ts_start(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err)
{
    (void)err;
    struct text_src *s = ctx;
    walk_start(&s->walk, frames, n, s->nframes);
    return 0;
}

static int ts_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    struct text_src *s = ctx;
    uint64_t t0 = pio_tm_start();
    uint64_t i;
    if (!walk_next(&s->walk, &i))
        return 0;
    memset(out, 0, sizeof(*out));
    int rc = s->fmt == PIO_FORMAT_GRO   ? gro_frame(s, i, out, err)
             : s->fmt == PIO_FORMAT_PDB ? pdb_frame(s, i, out, err)
                                        : xyz_frame(s, i, out, err);
    if (rc != 0)
        return rc;
    out->natoms = s->natoms;
    out->positions = (const float(*)[3])s->x;
    out->fields |= PIO_FIELD_POSITIONS;
    out->index = i;
    out->offset = s->off[i];
    pio_tm_end(PIO_OP_DECODE, 0, (uint64_t)s->in.fd, i, out->natoms * 12, t0, 0);
    return 1;
}

static void ts_release(void *ctx, const struct pio_frame *f)
{
    (void)ctx;
    (void)f;
}

static void ts_destroy(void *ctx)
{
    struct text_src *s = ctx;
    if (!s)
        return;
    pio__infile_close(&s->in);
    pio__topo_free(&s->t);
    free(s->off);
    free(s->x);
    free(s->v);
    free(s);
}

static int text_open(struct text_src **out, const char *path, enum pio_format fmt,
                     struct pio_error *err)
{
    struct text_src *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    s->fmt = fmt;
    int rc = pio__infile_open(&s->in, path, err);
    if (rc == 0 && s->in.size == 0)
        rc = pio_error_set(err, PIO_EFORMAT, "%s: empty file", path);
    if (rc == 0)
        rc = fmt == PIO_FORMAT_GRO   ? gro_scan(s, err)
             : fmt == PIO_FORMAT_PDB ? pdb_scan(s, err)
                                     : xyz_scan(s, err);
    if (rc == 0 && s->nframes == 0)
        rc = pio_error_set(err, PIO_EFORMAT, "%s: no complete frame", path);
    if (rc == 0)
        pio__topo_finish(&s->t);
    if (rc == 0 && (!(s->x = malloc((size_t)s->natoms * 12)) ||
                    (s->has_v && !(s->v = malloc((size_t)s->natoms * 12)))))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    if (rc != 0) {
        ts_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int text_source_open(struct pio_source *out, const char *path, enum pio_format fmt,
                            struct pio_error *err)
{
    struct text_src *s;
    int rc = text_open(&s, path, fmt, err);
    if (rc != 0)
        return rc;
    static const char *const names[] = {"", "", "", "source gro", "source pdb", "source xyz"};
    *out = (struct pio_source){sizeof(struct pio_source),
                               names[fmt],
                               s,
                               ts_info,
                               ts_start,
                               ts_next,
                               ts_release,
                               ts_destroy,
                               NULL};
    return 0;
}

int pio__structure_topology(const char *path, enum pio_format fmt, struct topo_build *t,
                            struct pio_error *err)
{
    struct text_src *s;
    int rc = text_open(&s, path, fmt, err);
    if (rc != 0)
        return rc;
    *t = s->t;
    memset(&s->t, 0, sizeof(s->t));
    pio__topo_finish(t);
    ts_destroy(s);
    return 0;
}

/* ---- writers -------------------------------------------------------------------- */

struct text_sink {
    struct sink_base base;
    enum pio_format fmt;
    struct pio_topology top;
    bool has_top;
    uint64_t frames;
};

static int tk_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    struct text_sink *s = ctx;
    if (info->topology) {
        s->top = *info->topology; /* valid for the run: the source owns it */
        s->has_top = true;
    }
    return pio__sink_base_begin(ctx, info, err);
}

static void fixed(char *dst, const char *src, size_t width)
{
    size_t n = strnlen(src, width);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void atom_strings(const struct text_sink *s, uint64_t a, char name[9], char resn[9],
                         char elem[5], char chain[5], long *resid)
{
    if (s->has_top && a < s->top.natoms) {
        fixed(name, s->top.names[a], 8);
        fixed(resn, s->top.resnames[a], 8);
        fixed(elem, s->top.elements[a], 4);
        fixed(chain, s->top.chains[a], 4);
        *resid = s->top.resids[a];
    } else {
        strcpy(name, "X");
        strcpy(resn, "UNK");
        strcpy(elem, "X");
        chain[0] = '\0';
        *resid = 1;
    }
    if (!name[0])
        strcpy(name, elem[0] ? elem : "X");
    if (!elem[0])
        pio__guess_element(name, elem);
    if (!elem[0])
        strcpy(elem, "X");
}

static int gro_write(struct text_sink *s, const struct pio_frame *f)
{
    FILE *o = s->base.of.f;
    fprintf(o, "Generated by prismio t= %.5f step= %lld\n%5llu\n", f->time, (long long)f->step,
            (unsigned long long)f->natoms);
    for (uint64_t a = 0; a < f->natoms; a++) {
        char name[9], resn[9], elem[5], chain[5];
        long resid;
        atom_strings(s, a, name, resn, elem, chain, &resid);
        fprintf(o, "%5ld%-5.5s%5.5s%5llu%8.3f%8.3f%8.3f", resid % 100000, resn, name,
                (unsigned long long)((a + 1) % 100000), f->positions[a][0], f->positions[a][1],
                f->positions[a][2]);
        if (f->velocities)
            fprintf(o, "%8.4f%8.4f%8.4f", f->velocities[a][0], f->velocities[a][1],
                    f->velocities[a][2]);
        fputc('\n', o);
    }
    const double(*b)[3] = f->box;
    fprintf(o, "%10.5f%10.5f%10.5f", b[0][0], b[1][1], b[2][2]);
    if (b[0][1] != 0 || b[0][2] != 0 || b[1][0] != 0 || b[1][2] != 0 || b[2][0] != 0 ||
        b[2][1] != 0)
        fprintf(o, "%10.5f%10.5f%10.5f%10.5f%10.5f%10.5f", b[0][1], b[0][2], b[1][0], b[1][2],
                b[2][0], b[2][1]);
    fputc('\n', o);
    return 0;
}

static int pdb_write(struct text_sink *s, const struct pio_frame *f, uint64_t model)
{
    FILE *o = s->base.of.f;
    if (f->fields & PIO_FIELD_BOX) {
        double l[6];
        pio__box_to_lengths(f->box, l);
        fprintf(o, "CRYST1%9.3f%9.3f%9.3f%7.2f%7.2f%7.2f P 1           1\n", l[0] * 10, l[1] * 10,
                l[2] * 10, l[3], l[4], l[5]);
    }
    fprintf(o, "MODEL     %4llu\n", (unsigned long long)(model + 1));
    for (uint64_t a = 0; a < f->natoms; a++) {
        char name[9], resn[9], elem[5], chain[5];
        long resid;
        atom_strings(s, a, name, resn, elem, chain, &resid);
        char nm[5];
        /* names shorter than 4 start in column 14 unless the element has two letters */
        if (strlen(name) < 4 && strlen(elem) < 2)
            snprintf(nm, sizeof(nm), " %-3.3s", name);
        else
            snprintf(nm, sizeof(nm), "%-4.4s", name);
        fprintf(o, "ATOM  %5llu %4s %-3.3s %1.1s%4ld    %8.3f%8.3f%8.3f%6.2f%6.2f          %2.2s\n",
                (unsigned long long)((a + 1) % 100000), nm, resn, chain[0] ? chain : " ",
                resid % 10000, f->positions[a][0] * 10, f->positions[a][1] * 10,
                f->positions[a][2] * 10, 1.0, 0.0, elem);
    }
    fprintf(o, "ENDMDL\n");
    return 0;
}

static int xyz_write(struct text_sink *s, const struct pio_frame *f)
{
    FILE *o = s->base.of.f;
    fprintf(o, "%llu\nframe %llu step %lld time %.5f\n", (unsigned long long)f->natoms,
            (unsigned long long)s->frames, (long long)f->step, f->time);
    for (uint64_t a = 0; a < f->natoms; a++) {
        char name[9], resn[9], elem[5], chain[5];
        long resid;
        atom_strings(s, a, name, resn, elem, chain, &resid);
        fprintf(o, "%s %.5f %.5f %.5f\n", elem, f->positions[a][0] * 10, f->positions[a][1] * 10,
                f->positions[a][2] * 10);
    }
    return 0;
}

static int tk_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct text_sink *s = ctx;
    for (uint32_t k = 0; k < b->nframes; k++) {
        struct pio_frame f;
        pio_batch_frame(b, k, &f);
        if (s->has_top && f.natoms != s->top.natoms)
            return pio_error_set(err, PIO_EUSAGE,
                                 "%s: frame %llu has %llu atoms, the topology %llu", s->base.path,
                                 (unsigned long long)f.index, (unsigned long long)f.natoms,
                                 (unsigned long long)s->top.natoms);
        if (s->fmt == PIO_FORMAT_GRO)
            gro_write(s, &f);
        else if (s->fmt == PIO_FORMAT_PDB)
            pdb_write(s, &f, s->frames);
        else
            xyz_write(s, &f);
        if (ferror(s->base.of.f))
            return pio_error_set(err, -EIO, "%s: write failed", s->base.of.tmp);
        s->frames++;
    }
    return 0;
}

static int tk_end(void *ctx, bool ok, struct pio_error *err)
{
    struct text_sink *s = ctx;
    if (ok && s->fmt == PIO_FORMAT_PDB && s->base.of.f) {
        for (uint64_t k = 0; s->has_top && k < s->top.nbonds; k++)
            fprintf(s->base.of.f, "CONECT%5u%5u\n", (s->top.bonds[k][0] + 1) % 100000,
                    (s->top.bonds[k][1] + 1) % 100000);
        fprintf(s->base.of.f, "END\n");
    }
    return pio__outfile_finish(&s->base.of, ok, err);
}

static void tk_destroy(void *ctx)
{
    struct text_sink *s = ctx;
    if (!s)
        return;
    pio__sink_base_release(&s->base);
    free(s);
}

static int text_sink_open(struct pio_sink *out, const char *path, enum pio_format fmt,
                          bool overwrite, struct pio_error *err)
{
    static const char *const names[] = {"", "", "", "sink gro", "sink pdb", "sink xyz"};
    int rc = pio__sink_new(out, sizeof(struct text_sink), names[fmt], path, overwrite, tk_write,
                           tk_destroy, err);
    if (rc == 0) {
        ((struct text_sink *)out->ctx)->fmt = fmt;
        out->begin = tk_begin;
        out->end = tk_end;
    }
    return rc;
}

/* ---- registry entries: GRO, PDB and XYZ (text: no magic) ---- */

#define TEXT_FORMAT(fmt, id_, name_, ext, caps_)                                                   \
    static int fmt##_open_source(struct pio_source *out, const char *path,                         \
                                 const struct pio_source_options *o, struct pio_error *err)        \
    {                                                                                              \
        (void)o;                                                                                   \
        return text_source_open(out, path, id_, err);                                              \
    }                                                                                              \
    static int fmt##_open_sink(struct pio_sink *out, const char *path,                             \
                               const struct pio_sink_options *o, struct pio_error *err)            \
    {                                                                                              \
        return text_sink_open(out, path, id_, (o->flags & PIO_SINK_OVERWRITE) != 0, err);          \
    }                                                                                              \
    const struct pio__format pio__format_##fmt = {.id = id_,                                       \
                                                  .name = name_,                                   \
                                                  .extensions = ext,                               \
                                                  .caps = caps_,                                   \
                                                  .open_source = fmt##_open_source,                \
                                                  .open_sink = fmt##_open_sink};

#define TEXT_RW (PIO_FORMAT_CAN_READ | PIO_FORMAT_CAN_WRITE)
TEXT_FORMAT(gro, PIO_FORMAT_GRO, "gro", ".gro",
            TEXT_RW | PIO_FORMAT_HAS_TOPOLOGY | PIO_FORMAT_HAS_VELOCITIES | PIO_FORMAT_HAS_BOX)
TEXT_FORMAT(pdb, PIO_FORMAT_PDB, "pdb", ".pdb .ent",
            TEXT_RW | PIO_FORMAT_HAS_TOPOLOGY | PIO_FORMAT_HAS_BOX)
TEXT_FORMAT(xyz, PIO_FORMAT_XYZ, "xyz", ".xyz", TEXT_RW)
