/*
 * convert: TRR (GROMACS full-precision trajectories), read and written.
 *
 * A frame is a header (magic 1993, the version string "GMX_trn_file", the
 * byte sizes of each block, natoms, step, nre, then time and lambda as
 * float or double) followed by the blocks whose size is not zero: box,
 * virial, pressure, positions, velocities, forces. Precision comes from
 * the sizes. Opening scans the headers only, so every frame's offset is
 * known. A frame running past the end of the file is a truncated last
 * frame (warning, skipped) unless another frame header follows it: then
 * its sizes lie (corruption, error), as in xtc.c. Reading gives float32
 * (nm, nm/ps, kJ/mol/nm) and a "lambda" scalar; a time, lambda or box
 * that is not finite is an error. Writing uses single precision.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats_internal.h"
#include "formats/xdr.h"

#include "common/pio_common.h"
#include "telemetry/pio_telemetry.h"

#define TRR_MAGIC 1993

struct trr_hdr {
    uint32_t sizes[10]; /* ir e box vir pres top sym x v f */
    uint32_t natoms, nre;
    int32_t step;
    double time, lambda;
    int real; /* 4 or 8 */
    uint64_t hdr_len, body_len;
};
enum { S_IR, S_E, S_BOX, S_VIR, S_PRES, S_TOP, S_SYM, S_X, S_V, S_F };

/* Parse a frame header at x (whose buffer holds at least the header). */
static const char *trr_parse(struct xdr_in *x, struct trr_hdr *h)
{
    if (xdr_i32(x) != TRR_MAGIC)
        return "no TRR magic (1993)";
    uint32_t slen = xdr_u32(x), len = xdr_u32(x);
    if (x->bad || slen != 13 || len != 12)
        return "bad version string";
    const uint8_t *ver = xdr_opaque(x, 12);
    if (!ver || memcmp(ver, "GMX_trn_file", 12) != 0)
        return "bad version string";
    for (int k = 0; k < 10; k++)
        h->sizes[k] = xdr_u32(x);
    h->natoms = xdr_u32(x);
    h->step = xdr_i32(x);
    h->nre = xdr_u32(x);
    if (x->bad)
        return "truncated header";
    if (h->natoms == 0 || h->natoms > 0x7fffffff)
        return "bad atom count";
    uint64_t n3 = (uint64_t)h->natoms * 3;
    if (h->sizes[S_BOX])
        h->real = (int)(h->sizes[S_BOX] / 9);
    else if (h->sizes[S_X])
        h->real = (int)(h->sizes[S_X] / n3);
    else if (h->sizes[S_V])
        h->real = (int)(h->sizes[S_V] / n3);
    else if (h->sizes[S_F])
        h->real = (int)(h->sizes[S_F] / n3);
    else
        return "a frame without box, positions, velocities or forces";
    if (h->real != 4 && h->real != 8)
        return "block sizes fit neither float nor double";
    for (int k = S_X; k <= S_F; k++)
        if (h->sizes[k] && h->sizes[k] != n3 * (uint64_t)h->real)
            return "a coordinate block's size disagrees with the atom count";
    for (int k = S_BOX; k <= S_PRES; k++)
        if (h->sizes[k] && h->sizes[k] != 9u * (uint32_t)h->real)
            return "a 3x3 block's size is not 9 reals";
    h->time = h->real == 8 ? xdr_f64(x) : xdr_f32(x);
    h->lambda = h->real == 8 ? xdr_f64(x) : xdr_f32(x);
    if (x->bad)
        return "truncated header";
    h->hdr_len = x->pos;
    h->body_len = 0;
    for (int k = 0; k < 10; k++)
        h->body_len += h->sizes[k];
    return NULL;
}

struct trr_src {
    char *path;
    int fd;
    uint64_t size, nframes, cap;
    uint64_t *off;
    uint32_t natoms, fields;
    char warning[256];
    struct frame_walk walk;
    uint8_t *buf;
    size_t bufcap;
    float *x, *v, *f;
    struct pio_scalar sc[1];
};

/* Whether a frame header (magic, version string) starts at a 4-byte step
 * after `off`: a frame that claims to run past the end of the file is then
 * corrupt, not the torn last frame of a killed writer. */
static bool later_frame(const struct trr_src *s, uint64_t off)
{
    /* 1993, the version string's lengths (13, 12), the string */
    static const char pat[] = "\0\0\x07\xc9"
                              "\0\0\0\x0d"
                              "\0\0\0\x0c"
                              "GMX_trn_file";
    const size_t plen = sizeof(pat) - 1;
    uint8_t buf[4096]; /* on the stack: sources may be opened on several threads */
    for (uint64_t pos = off + 4; pos + plen <= s->size; pos += sizeof(buf) - plen) {
        size_t n = (size_t)PIO_MIN(sizeof(buf), s->size - pos);
        if (pio__conv_pread(s->fd, buf, n, pos) != 0)
            return false;
        for (size_t k = 0; k + plen <= n; k += 4)
            if (memcmp(buf + k, pat, plen) == 0)
                return true;
    }
    return false;
}

static int trr_scan(struct trr_src *s, struct pio_error *err)
{
    uint64_t off = 0;
    while (off < s->size) {
        uint8_t h[128];
        size_t avail = (size_t)PIO_MIN(sizeof(h), s->size - off);
        int rc = pio__conv_pread(s->fd, h, avail, off);
        if (rc != 0)
            return pio_error_set(err, rc, "%s: frame %llu at offset 0x%llx: read failed", s->path,
                                 (unsigned long long)s->nframes, (unsigned long long)off);
        struct xdr_in x = {h, avail, 0, false};
        struct trr_hdr th;
        const char *why = trr_parse(&x, &th);
        if (why && x.bad && avail < sizeof(h)) { /* cut inside the last header */
            snprintf(s->warning, sizeof(s->warning),
                     "%s: frame %llu at offset 0x%llx is truncated; skipped", s->path,
                     (unsigned long long)s->nframes, (unsigned long long)off);
            break;
        }
        if (why)
            return pio_error_set(err, s->nframes ? PIO_ECORRUPT : PIO_EFORMAT,
                                 "%s: frame %llu at offset 0x%llx: %s", s->path,
                                 (unsigned long long)s->nframes, (unsigned long long)off, why);
        if (s->nframes == 0)
            s->natoms = th.natoms;
        else if (th.natoms != s->natoms)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: %u atoms, frame 0 had %u",
                                 s->path, (unsigned long long)s->nframes, (unsigned long long)off,
                                 th.natoms, s->natoms);
        if (!isfinite(th.time) || !isfinite(th.lambda)) { /* the header's last two reals */
            bool t = !isfinite(th.time);
            uint64_t at = off + th.hdr_len - (uint64_t)th.real * (t ? 2 : 1);
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: %s at offset 0x%llx is not a "
                                 "finite number",
                                 s->path, (unsigned long long)s->nframes, (unsigned long long)off,
                                 t ? "time" : "lambda", (unsigned long long)at);
        }
        uint64_t len = th.hdr_len + th.body_len;
        if (len > s->size - off && later_frame(s, off))
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: its block sizes add up to %llu "
                                 "bytes, past the end of the file (%llu bytes left), yet frames "
                                 "follow",
                                 s->path, (unsigned long long)s->nframes, (unsigned long long)off,
                                 (unsigned long long)len, (unsigned long long)(s->size - off));
        if (len > s->size - off) {
            snprintf(s->warning, sizeof(s->warning),
                     "%s: frame %llu at offset 0x%llx is truncated (%llu of %llu bytes); skipped",
                     s->path, (unsigned long long)s->nframes, (unsigned long long)off,
                     (unsigned long long)(s->size - off), (unsigned long long)len);
            break;
        }
        if (!th.sizes[S_X])
            return pio_error_set(err, PIO_ENOTSUPPORTED,
                                 "%s: frame %llu at offset 0x%llx has no positions (HOLO frames "
                                 "need them)",
                                 s->path, (unsigned long long)s->nframes, (unsigned long long)off);
        s->fields |= (th.sizes[S_V] ? PIO_FIELD_VELOCITIES : 0) |
                     (th.sizes[S_F] ? PIO_FIELD_FORCES : 0) | (th.sizes[S_BOX] ? PIO_FIELD_BOX : 0);
        if (pio__offsets_push(&s->off, &s->nframes, &s->cap, off) != 0)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
        off += len;
    }
    if (s->nframes == 0)
        return pio_error_set(err, PIO_ETRUNCATED, "%s: no complete TRR frame", s->path);
    return 0;
}

static int rs_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    (void)err;
    struct trr_src *s = ctx;
    *out = (struct pio_source_info){.nframes = s->nframes,
                                    .max_natoms = s->natoms,
                                    .fields = PIO_FIELD_POSITIONS | s->fields,
                                    .length_unit = PIO_UNIT_NM,
                                    .warning = s->warning[0] ? s->warning : NULL};
    return 0;
}

static int rs_start(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err)
{
    (void)err;
    struct trr_src *s = ctx;
    walk_start(&s->walk, frames, n, s->nframes);
    return 0;
}

/* n reals (float or double) into float dst; false if any is not finite. */
static bool read_reals(struct xdr_in *x, int real, float *dst, uint64_t n)
{
    bool ok = true;
    for (uint64_t i = 0; i < n; i++) {
        double d = real == 8 ? xdr_f64(x) : xdr_f32(x);
        ok &= isfinite(d) != 0;
        dst[i] = (float)d;
    }
    return ok && !x->bad;
}

static int rs_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    struct trr_src *s = ctx;
    uint64_t t0 = pio_tm_start();
    uint64_t i;
    if (!walk_next(&s->walk, &i))
        return 0;
    uint64_t off = s->off[i], end = i + 1 < s->nframes ? s->off[i + 1] : s->size;
    uint64_t len = end - off;
    if (len > s->bufcap) {
        uint8_t *b = realloc(s->buf, (size_t)len);
        if (!b)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
        s->buf = b;
        s->bufcap = (size_t)len;
    }
    int rc = pio__conv_pread(s->fd, s->buf, (size_t)len, off);
    struct xdr_in x = {s->buf, len, 0, false};
    struct trr_hdr h;
    const char *why = rc ? "read failed" : trr_parse(&x, &h);
    memset(out, 0, sizeof(*out));
    uint64_t n3 = (uint64_t)s->natoms * 3;
    float tmp9[9];
    if (!why && h.sizes[S_BOX]) {
        if (!read_reals(&x, h.real, tmp9, 9))
            why = "the box is not a finite number";
        for (int k = 0; k < 9; k++)
            out->box[k / 3][k % 3] = tmp9[k];
        out->fields |= PIO_FIELD_BOX;
    }
    if (!why) /* virial and pressure: skipped */
        x.pos += (uint64_t)h.sizes[S_VIR] + h.sizes[S_PRES] + h.sizes[S_IR] + h.sizes[S_E] +
                 h.sizes[S_TOP] + h.sizes[S_SYM];
    float *dst[3] = {s->x, s->v, s->f};
    for (int k = 0; k < 3 && !why; k++)
        if (h.sizes[S_X + k] && !read_reals(&x, h.real, dst[k], n3))
            why = "a coordinate is not a number, or the block is cut";
    if (why)
        return pio_error_set(err, rc ? rc : PIO_ECORRUPT, "%s: frame %llu at offset 0x%llx: %s",
                             s->path, (unsigned long long)i, (unsigned long long)off, why);
    out->natoms = s->natoms;
    out->positions = (const float(*)[3])s->x;
    out->velocities = h.sizes[S_V] ? (const float(*)[3])s->v : NULL;
    out->forces = h.sizes[S_F] ? (const float(*)[3])s->f : NULL;
    out->fields |= PIO_FIELD_POSITIONS;
    out->step = h.step;
    out->time = h.time;
    out->index = i;
    out->offset = off;
    memset(s->sc, 0, sizeof(s->sc));
    strcpy(s->sc[0].name, "lambda");
    s->sc[0].value = h.lambda;
    out->scalars = s->sc;
    out->nscalars = 1;
    pio_tm_end(PIO_OP_DECODE, 0, (uint64_t)s->fd, i, out->natoms * 12, t0, 0);
    return 1;
}

static void rs_release(void *ctx, const struct pio_frame *f)
{
    (void)ctx;
    (void)f;
}

static void rs_destroy(void *ctx)
{
    struct trr_src *s = ctx;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s->off);
    free(s->buf);
    free(s->x);
    free(s->v);
    free(s->f);
    free(s);
}

static int trr_source_open(struct pio_source *out, const char *path, struct pio_error *err)
{
    struct trr_src *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    struct stat st;
    int rc = 0;
    if (s->fd < 0 || fstat(s->fd, &st) != 0)
        rc = pio_error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = pio_error_set(err, -EISDIR, "%s: not a regular file", path);
    if (rc == 0) {
        fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) & ~O_NONBLOCK);
        s->size = (uint64_t)st.st_size;
        rc = trr_scan(s, err);
    }
    size_t b = (size_t)s->natoms * 12;
    if (rc == 0 && (!(s->x = malloc(b)) || !(s->v = malloc(b)) || !(s->f = malloc(b))))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory for %u atoms", path, s->natoms);
    if (rc != 0) {
        rs_destroy(s);
        return rc;
    }
    *out = (struct pio_source){sizeof(struct pio_source),
                               "source trr",
                               s,
                               rs_info,
                               rs_start,
                               rs_next,
                               rs_release,
                               rs_destroy,
                               NULL};
    return 0;
}

/* ---- writer ---------------------------------------------------------------------- */

struct trr_sink {
    struct sink_base base;
    struct xdr_out o;
};

static int rk_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct trr_sink *s = ctx;
    for (uint32_t k = 0; k < b->nframes; k++) {
        struct pio_frame f;
        pio_batch_frame(b, k, &f);
        if (f.natoms > 0x7fffffff / 12 || f.step < INT32_MIN || f.step > INT32_MAX)
            return pio_error_set(err, PIO_ELIMIT, "%s: frame %llu does not fit TRR's ints",
                                 s->base.path, (unsigned long long)f.index);
        uint32_t n3b = (uint32_t)f.natoms * 12;
        bool box = f.fields & PIO_FIELD_BOX;
        double lambda = 0;
        for (uint32_t q = 0; q < f.nscalars; q++)
            if (strcmp(f.scalars[q].name, "lambda") == 0)
                lambda = f.scalars[q].value;
        s->o.len = 0;
        xdr_put_i32(&s->o, TRR_MAGIC);
        xdr_put_u32(&s->o, 13);
        xdr_put_u32(&s->o, 12);
        xdr_put_opaque(&s->o, (const uint8_t *)"GMX_trn_file", 12);
        uint32_t sizes[10] = {
            0, 0, box ? 36u : 0, 0, 0, 0, 0, n3b, f.velocities ? n3b : 0, f.forces ? n3b : 0};
        for (int q = 0; q < 10; q++)
            xdr_put_u32(&s->o, sizes[q]);
        xdr_put_u32(&s->o, (uint32_t)f.natoms);
        xdr_put_i32(&s->o, (int32_t)f.step);
        xdr_put_u32(&s->o, 0);
        xdr_put_f32(&s->o, (float)f.time);
        xdr_put_f32(&s->o, (float)lambda);
        if (box)
            for (int q = 0; q < 9; q++)
                xdr_put_f32(&s->o, (float)f.box[q / 3][q % 3]);
        const float(*arr[3])[3] = {f.positions, f.velocities, f.forces};
        for (int q = 0; q < 3; q++)
            if (arr[q])
                for (uint64_t a = 0; a < f.natoms * 3; a++)
                    xdr_put_f32(&s->o, arr[q][a / 3][a % 3]);
        if (s->o.oom)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->base.path);
        if (fwrite(s->o.p, 1, (size_t)s->o.len, s->base.of.f) != s->o.len)
            return pio_error_set(err, -EIO, "%s: write failed", s->base.of.tmp);
    }
    return 0;
}

static void rk_destroy(void *ctx)
{
    struct trr_sink *s = ctx;
    if (!s)
        return;
    pio__sink_base_release(&s->base);
    free(s->o.p);
    free(s);
}

static int trr_sink_open(struct pio_sink *out, const char *path, bool overwrite,
                         struct pio_error *err)
{
    return pio__sink_new(out, sizeof(struct trr_sink), "sink trr", path, overwrite, rk_write,
                         rk_destroy, err);
}

/* ---- registry entry ---- */

static bool trr_probe(const uint8_t *h, size_t n)
{
    return n >= 4 && be32_at(h) == 1993;
}
static int trr_open_source(struct pio_source *out, const char *path,
                           const struct pio_source_options *o, struct pio_error *err)
{
    (void)o;
    return trr_source_open(out, path, err);
}
static int trr_open_sink(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                         struct pio_error *err)
{
    return trr_sink_open(out, path, (o->flags & PIO_SINK_OVERWRITE) != 0, err);
}
const struct pio__format pio__format_trr = {
    .id = PIO_FORMAT_TRR,
    .name = "trr",
    .extensions = ".trr",
    .caps = PIO_FORMAT_CAN_READ | PIO_FORMAT_CAN_WRITE | PIO_FORMAT_HAS_VELOCITIES |
            PIO_FORMAT_HAS_FORCES | PIO_FORMAT_HAS_BOX,
    .probe = trr_probe,
    .open_source = trr_open_source,
    .open_sink = trr_open_sink,
};
