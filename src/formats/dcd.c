/*
 * convert: DCD (CHARMM and NAMD), read and written.
 *
 * Fortran records [int32 n][payload][int32 n] in the writer's byte order
 * (found from the first marker, 84 in either order). Header: "CORD" and 20
 * ints (NSET, ISTART, NSAVC, ... NAMNF at +36, DELTA at +40, unit-cell
 * flag +44, 4D flag +48, CHARMM version +80), a title record, the atom
 * count. Frames: an optional unit cell (A, gamma, B, beta, alpha, C as
 * doubles; angles in degrees or as cosines), then X, Y and Z records of
 * float32 Angstrom. Frames have one size, so any frame is at a computed
 * offset. NSET can disagree with the file after a crash: the size wins,
 * with a warning. Fixed-atom files (NAMNF > 0) and 4D or 64-bit-marker
 * files are refused with a clear error; so is a timestep or unit cell
 * that is not a finite number (named, with its offset).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats_internal.h"

#include "common/pio_common.h"
#include "telemetry/pio_telemetry.h"

#define AKMA_PS 0.04888821 /* one AKMA time unit in ps */

struct dcd_src {
    struct infile in;
    bool swap, cell;
    uint32_t natoms;
    uint64_t first, frame_len, nframes;
    int64_t istart, nsavc;
    double delta;
    char warning[256];
    struct frame_walk walk;
    float *x;
};

static uint32_t rd32(const struct dcd_src *s, uint64_t off)
{
    uint32_t v;
    memcpy(&v, s->in.map + off, 4);
    return s->swap ? __builtin_bswap32(v) : v;
}

static float rdf(const struct dcd_src *s, uint64_t off)
{
    uint32_t v = rd32(s, off);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static double rdd(const struct dcd_src *s, uint64_t off)
{
    uint64_t v;
    memcpy(&v, s->in.map + off, 8);
    if (s->swap)
        v = __builtin_bswap64(v);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

/* A record at *off whose payload is `want` bytes (0: any): payload offset
 * and length; advances *off. */
static bool record(const struct dcd_src *s, uint64_t *off, uint32_t want, uint64_t *payload,
                   uint32_t *len)
{
    if (s->in.size - *off < 8)
        return false;
    uint32_t n = rd32(s, *off);
    if ((want && n != want) || (uint64_t)n + 8 > s->in.size - *off || rd32(s, *off + 4 + n) != n)
        return false;
    *payload = *off + 4;
    *len = n;
    *off += (uint64_t)n + 8;
    return true;
}

static int dcd_fail(struct dcd_src *s, struct pio_error *err, int code, uint64_t off,
                    const char *why)
{
    return pio_error_set(err, code, "%s: header at offset 0x%llx: %s", s->in.path,
                         (unsigned long long)off, why);
}

static int dcd_scan(struct dcd_src *s, struct pio_error *err)
{
    if (s->in.size < 8)
        return dcd_fail(s, err, PIO_EFORMAT, 0, "too short for a DCD file");
    uint32_t m;
    memcpy(&m, s->in.map, 4);
    if (m == 84)
        s->swap = false;
    else if (__builtin_bswap32(m) == 84)
        s->swap = true;
    else if (m == 0 && s->in.size > 12) /* 64-bit markers (CHARMM -i8) */
        return dcd_fail(s, err, PIO_ENOTSUPPORTED, 0, "64-bit record markers are not supported");
    else
        return dcd_fail(s, err, PIO_EFORMAT, 0, "first record is not 84 bytes: not DCD");
    uint64_t off = 0, p;
    uint32_t len;
    if (!record(s, &off, 84, &p, &len) || memcmp(s->in.map + p, "CORD", 4) != 0)
        return dcd_fail(s, err, PIO_EFORMAT, 0, "no CORD header");
    uint32_t nset = rd32(s, p + 4);
    s->istart = (int32_t)rd32(s, p + 8);
    s->nsavc = (int32_t)rd32(s, p + 12);
    uint32_t namnf = rd32(s, p + 36);
    uint32_t charmm = rd32(s, p + 80);
    s->delta = charmm ? (double)rdf(s, p + 40) : rdd(s, p + 40);
    if (!isfinite(s->delta))
        return dcd_fail(s, err, PIO_ECORRUPT, p + 40, "timestep (DELTA) is not a finite number");
    s->cell = charmm && rd32(s, p + 44) != 0;
    if (charmm && rd32(s, p + 48) != 0)
        return dcd_fail(s, err, PIO_ENOTSUPPORTED, p + 48, "4D DCD files are not supported");
    if (namnf != 0)
        return dcd_fail(s, err, PIO_ENOTSUPPORTED, p + 36,
                        "fixed atoms (NAMNF > 0) are not supported");
    uint64_t t = off;
    if (!record(s, &off, 0, &p, &len) || len < 4 || (uint64_t)rd32(s, p) * 80 + 4 != len)
        return dcd_fail(s, err, PIO_ECORRUPT, t, "bad title record");
    t = off;
    if (!record(s, &off, 4, &p, &len))
        return dcd_fail(s, err, PIO_ECORRUPT, t, "bad atom-count record");
    s->natoms = rd32(s, p);
    if (s->natoms == 0 || s->natoms > 0x7fffffff / 4)
        return dcd_fail(s, err, PIO_ECORRUPT, p, "bad atom count");
    s->first = off;
    s->frame_len = (s->cell ? 56 : 0) + 3 * ((uint64_t)s->natoms * 4 + 8);
    uint64_t fit = (s->in.size - s->first) / s->frame_len;
    s->nframes = fit;
    if ((s->in.size - s->first) % s->frame_len)
        snprintf(s->warning, sizeof(s->warning),
                 "%s: frame %llu at offset 0x%llx is truncated; skipped", s->in.path,
                 (unsigned long long)fit, (unsigned long long)(s->first + fit * s->frame_len));
    else if (nset != fit)
        snprintf(s->warning, sizeof(s->warning),
                 "%s: header says %u frames, the file holds %llu (a writer that did not finish?)",
                 s->in.path, nset, (unsigned long long)fit);
    if (s->nframes == 0)
        return pio_error_set(err, PIO_ETRUNCATED, "%s: no complete DCD frame", s->in.path);
    return 0;
}

static int ds_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    (void)err;
    struct dcd_src *s = ctx;
    *out = (struct pio_source_info){.nframes = s->nframes,
                                    .max_natoms = s->natoms,
                                    .fields = PIO_FIELD_POSITIONS | (s->cell ? PIO_FIELD_BOX : 0),
                                    .length_unit = PIO_UNIT_NM,
                                    .warning = s->warning[0] ? s->warning : NULL};
    return 0;
}

static int ds_start(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err)
{
    (void)err;
    struct dcd_src *s = ctx;
    walk_start(&s->walk, frames, n, s->nframes);
    return 0;
}

static int ds_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    struct dcd_src *s = ctx;
    uint64_t t0 = pio_tm_start();
    uint64_t i;
    if (!walk_next(&s->walk, &i))
        return 0;
    uint64_t off = s->first + i * s->frame_len, p, start = off;
    uint32_t len;
    memset(out, 0, sizeof(*out));
    if (s->cell) {
        if (!record(s, &off, 48, &p, &len))
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: bad unit-cell record",
                                 s->in.path, (unsigned long long)i, (unsigned long long)start);
        double c[6];
        static const char *const cell[6] = {"A", "gamma", "B", "beta", "alpha", "C"};
        for (int k = 0; k < 6; k++)
            if (!isfinite(c[k] = rdd(s, p + 8 * (uint64_t)k)))
                return pio_error_set(
                    err, PIO_ECORRUPT,
                    "%s: frame %llu at offset 0x%llx: unit-cell %s is not a finite number",
                    s->in.path, (unsigned long long)i, (unsigned long long)(p + 8 * (uint64_t)k),
                    cell[k]);
        /* A, gamma, B, beta, alpha, C; angles as cosines when all within [-1, 1] */
        double ang[3] = {c[4], c[3], c[1]};
        if (fabs(ang[0]) <= 1 && fabs(ang[1]) <= 1 && fabs(ang[2]) <= 1)
            for (int k = 0; k < 3; k++)
                ang[k] = acos(ang[k]) * 180.0 / M_PI;
        if (c[0] > 0 && c[2] > 0 && c[5] > 0) {
            pio__box_from_lengths(c[0] / 10, c[2] / 10, c[5] / 10, ang[0], ang[1], ang[2],
                                  out->box);
            if (!box_finite(out->box))
                return pio_error_set(err, PIO_ECORRUPT,
                                     "%s: frame %llu at offset 0x%llx: unit-cell angles %g %g %g "
                                     "make no box",
                                     s->in.path, (unsigned long long)i, (unsigned long long)p,
                                     ang[0], ang[1], ang[2]);
            out->fields |= PIO_FIELD_BOX;
        }
    }
    for (int k = 0; k < 3; k++) {
        uint64_t at = off;
        if (!record(s, &off, s->natoms * 4, &p, &len))
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: bad %c record", s->in.path,
                                 (unsigned long long)i, (unsigned long long)at, "XYZ"[k]);
        for (uint32_t a = 0; a < s->natoms; a++) {
            float v = rdf(s, p + 4 * (uint64_t)a);
            if (!isfinite(v))
                return pio_error_set(err, PIO_ECORRUPT,
                                     "%s: frame %llu at offset 0x%llx: atom %u is not a number",
                                     s->in.path, (unsigned long long)i,
                                     (unsigned long long)(p + 4 * (uint64_t)a), a);
            s->x[(uint64_t)a * 3 + (uint64_t)k] = v / 10.0f;
        }
    }
    out->natoms = s->natoms;
    out->positions = (const float(*)[3])s->x;
    out->fields |= PIO_FIELD_POSITIONS;
    out->step = s->istart + (int64_t)i * (s->nsavc ? s->nsavc : 1);
    out->time = (double)out->step * s->delta * AKMA_PS;
    if (!isfinite(out->time)) /* a finite DELTA so large that step x DELTA is not */
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: time (step %lld x DELTA %g) is not "
                             "a finite number",
                             s->in.path, (unsigned long long)i, (unsigned long long)start,
                             (long long)out->step, s->delta);
    out->index = i;
    out->offset = start;
    pio_tm_end(PIO_OP_DECODE, 0, (uint64_t)s->in.fd, i, out->natoms * 12, t0, 0);
    return 1;
}

static void ds_release(void *ctx, const struct pio_frame *f)
{
    (void)ctx;
    (void)f;
}

static void ds_destroy(void *ctx)
{
    struct dcd_src *s = ctx;
    if (!s)
        return;
    pio__infile_close(&s->in);
    free(s->x);
    free(s);
}

static int dcd_source_open(struct pio_source *out, const char *path, struct pio_error *err)
{
    struct dcd_src *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    int rc = pio__infile_open(&s->in, path, err);
    if (rc == 0)
        rc = dcd_scan(s, err);
    if (rc == 0 && !(s->x = malloc((size_t)s->natoms * 12)))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    if (rc != 0) {
        ds_destroy(s);
        return rc;
    }
    *out = (struct pio_source){sizeof(struct pio_source),
                               "source dcd",
                               s,
                               ds_info,
                               ds_start,
                               ds_next,
                               ds_release,
                               ds_destroy,
                               NULL};
    return 0;
}

/* ---- writer (CHARMM flavour, little-endian, unit cell in degrees) ---------------------- */

struct dcd_sink {
    struct sink_base base;
    uint32_t natoms;
    uint64_t frames;
    bool cell;
    float *col;
};

static void put32(FILE *f, uint32_t v)
{
    fwrite(&v, 4, 1, f);
}

static int dk_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    struct dcd_sink *s = ctx;
    s->cell = info->fields & PIO_FIELD_BOX;
    return pio__sink_base_begin(ctx, info, err);
}

static void dk_header(struct dcd_sink *s, uint32_t nset)
{
    FILE *f = s->base.of.f;
    uint32_t icntrl[20] = {0};
    icntrl[0] = nset;
    icntrl[1] = 0; /* ISTART */
    icntrl[2] = 1; /* NSAVC */
    icntrl[3] = nset;
    float delta = (float)(1.0 / AKMA_PS); /* 1 ps per frame, in AKMA */
    memcpy(&icntrl[9], &delta, 4);
    icntrl[10] = s->cell;
    icntrl[19] = 24; /* CHARMM version */
    put32(f, 84);
    fwrite("CORD", 1, 4, f);
    fwrite(icntrl, 4, 20, f);
    put32(f, 84);
    char title[2][80];
    memset(title, ' ', sizeof(title));
    memcpy(title[0], "* Written by prismio", 20);
    memcpy(title[1], "* Positions in Angstrom", 23);
    put32(f, 164);
    put32(f, 2);
    fwrite(title, 1, sizeof(title), f);
    put32(f, 164);
    put32(f, 4);
    put32(f, s->natoms);
    put32(f, 4);
}

static int dk_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct dcd_sink *s = ctx;
    for (uint32_t k = 0; k < b->nframes; k++) {
        struct pio_frame f;
        pio_batch_frame(b, k, &f);
        if (s->frames == 0) {
            if (f.natoms == 0 || f.natoms > 0x7fffffff / 4)
                return pio_error_set(err, PIO_ELIMIT, "%s: DCD cannot hold %llu atoms",
                                     s->base.path, (unsigned long long)f.natoms);
            s->natoms = (uint32_t)f.natoms;
            if (!(s->col = malloc((size_t)f.natoms * 4)))
                return pio_error_set(err, -ENOMEM, "%s: out of memory", s->base.path);
            dk_header(s, 0);
        } else if (f.natoms != s->natoms) {
            return pio_error_set(
                err, PIO_EUSAGE,
                "%s: frame %llu has %llu atoms, the first %u (DCD needs one count)", s->base.path,
                (unsigned long long)f.index, (unsigned long long)f.natoms, s->natoms);
        }
        FILE *o = s->base.of.f;
        if (s->cell) {
            double l[6] = {0, 0, 0, 90, 90, 90};
            if (f.fields & PIO_FIELD_BOX)
                pio__box_to_lengths(f.box, l);
            double c[6] = {l[0] * 10, l[5], l[1] * 10, l[4], l[3], l[2] * 10};
            put32(o, 48);
            fwrite(c, 8, 6, o);
            put32(o, 48);
        }
        for (int q = 0; q < 3; q++) {
            for (uint32_t a = 0; a < s->natoms; a++)
                s->col[a] = f.positions[a][q] * 10.0f;
            put32(o, s->natoms * 4);
            fwrite(s->col, 4, s->natoms, o);
            put32(o, s->natoms * 4);
        }
        if (ferror(o))
            return pio_error_set(err, -EIO, "%s: write failed", s->base.of.tmp);
        s->frames++;
    }
    return 0;
}

static int dk_end(void *ctx, bool ok, struct pio_error *err)
{
    struct dcd_sink *s = ctx;
    if (ok && s->base.of.f && s->frames) { /* the frame count, now known */
        uint32_t n = (uint32_t)PIO_MIN(s->frames, UINT32_MAX);
        if (fseek(s->base.of.f, 8, SEEK_SET) != 0 || fwrite(&n, 4, 1, s->base.of.f) != 1 ||
            fseek(s->base.of.f, 20, SEEK_SET) != 0 || fwrite(&n, 4, 1, s->base.of.f) != 1)
            ok = false;
    }
    if (ok && s->frames == 0)
        return pio__outfile_finish(&s->base.of, false, NULL),
               pio_error_set(err, PIO_EUSAGE, "%s: no frames to write", s->base.path);
    return pio__outfile_finish(&s->base.of, ok, err);
}

static void dk_destroy(void *ctx)
{
    struct dcd_sink *s = ctx;
    if (!s)
        return;
    pio__sink_base_release(&s->base);
    free(s->col);
    free(s);
}

static int dcd_sink_open(struct pio_sink *out, const char *path, bool overwrite,
                         struct pio_error *err)
{
    if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
        return pio_error_set(err, PIO_ENOTSUPPORTED, "%s: DCD writing needs a little-endian host",
                             path);
    int rc = pio__sink_new(out, sizeof(struct dcd_sink), "sink dcd", path, overwrite, dk_write,
                           dk_destroy, err);
    if (rc == 0) {
        out->begin = dk_begin;
        out->end = dk_end;
    }
    return rc;
}

/* ---- registry entry ---- */

/* The first Fortran record: 84 bytes, "CORD", in either byte order. */
static bool dcd_probe(const uint8_t *h, size_t n)
{
    return n >= 8 && (le32_at(h) == 84 || be32_at(h) == 84) && memcmp(h + 4, "CORD", 4) == 0;
}
static int dcd_open_source(struct pio_source *out, const char *path,
                           const struct pio_source_options *o, struct pio_error *err)
{
    (void)o;
    return dcd_source_open(out, path, err);
}
static int dcd_open_sink(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                         struct pio_error *err)
{
    return dcd_sink_open(out, path, (o->flags & PIO_SINK_OVERWRITE) != 0, err);
}
const struct pio__format pio__format_dcd = {
    .id = PIO_FORMAT_DCD,
    .name = "dcd",
    .extensions = ".dcd",
    .caps =
        PIO_FORMAT_CAN_READ | PIO_FORMAT_CAN_WRITE | PIO_FORMAT_HAS_BOX | PIO_FORMAT_RANDOM_ACCESS,
    .probe = dcd_probe,
    .open_source = dcd_open_source,
    .open_sink = dcd_open_sink,
};
