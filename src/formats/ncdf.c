/*
 * convert: AMBER NetCDF trajectories through libnetcdf, read and written.
 *
 * Conventions "AMBER", version 1.0: dimensions frame (unlimited), atom,
 * spatial (3), cell_spatial, cell_angular, label; variables coordinates
 * (frame, atom, spatial) float Angstrom, time (frame) ps, optional
 * velocities (Angstrom/ps, times their scale_factor, 20.455 in AMBER's own
 * files), forces (kcal/mol/Angstrom), cell_lengths and cell_angles. Any
 * frame is read directly (a hyperslab). Built when libnetcdf is found and
 * PIO_WITH_NETCDF is on; ncdf_none.c stands in for it otherwise.
 *
 * libnetcdf trusts the file's header, so pio__ncdf_header_check (ncdf_header.c)
 * checks it first, from a mapping, and only a file that passes is opened;
 * it also says how many records the file wholly holds: a truncated file
 * keeps those with a warning, as a truncated XTC keeps its whole frames.
 * Every variable read is checked for the shape the read assumes (libnetcdf
 * takes as many start indices as the variable has dimensions), and times,
 * boxes and coordinates must be finite.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/formats_internal.h"

#include "common/pio_common.h"
#include "io/pio_io.h"
#include "telemetry/pio_telemetry.h"

#include <netcdf.h>

#define KCAL_KJ 4.184

struct nc_src {
    char *path;
    int ncid, v_x, v_v, v_f, v_t, v_len, v_ang;
    size_t nframes, natoms;
    float vscale;
    char warning[256];
    struct frame_walk walk;
    float *x, *v, *f;
};

static int nc_fail(struct pio_error *err, const char *path, int status, const char *what)
{
    return pio_error_set(err, status == NC_ENOMEM ? -ENOMEM : PIO_ECORRUPT, "%s: %s: %s", path,
                         what, nc_strerror(status));
}

static int ns_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    (void)err;
    struct nc_src *s = ctx;
    *out = (struct pio_source_info){
        .nframes = s->nframes,
        .max_natoms = s->natoms,
        .fields = PIO_FIELD_POSITIONS | (s->v_v >= 0 ? PIO_FIELD_VELOCITIES : 0) |
                  (s->v_f >= 0 ? PIO_FIELD_FORCES : 0) | (s->v_len >= 0 ? PIO_FIELD_BOX : 0),
        .length_unit = PIO_UNIT_NM,
        .warning = s->warning[0] ? s->warning : NULL};
    return 0;
}

static int ns_start(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err)
{
    (void)err;
    struct nc_src *s = ctx;
    walk_start(&s->walk, frames, n, s->nframes);
    return 0;
}

/* One frame of a (frame, atom, spatial) variable into dst, times scale,
 * divided by div (Angstrom to nm as x / 10.0f, which round-trips with
 * MDAnalysis's x * 10 more often than x * 0.1f). */
static int get_coords(struct nc_src *s, int var, size_t i, float *dst, float scale, float div,
                      const char *name, struct pio_error *err)
{
    size_t start[3] = {i, 0, 0}, count[3] = {1, s->natoms, 3};
    int st = nc_get_vara_float(s->ncid, var, start, count, dst);
    if (st != NC_NOERR)
        return pio_error_set(err, PIO_ECORRUPT, "%s: frame %zu: %s: %s", s->path, i, name,
                             nc_strerror(st));
    for (size_t k = 0; k < s->natoms * 3; k++) {
        float v = dst[k] * scale / div;
        if (!isfinite(v))
            return pio_error_set(err, PIO_ECORRUPT, "%s: frame %zu: %s of atom %zu is not a number",
                                 s->path, i, name, k / 3);
        dst[k] = v;
    }
    return 0;
}

static int ns_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    struct nc_src *s = ctx;
    uint64_t t0 = pio_tm_start();
    uint64_t i;
    if (!walk_next(&s->walk, &i))
        return 0;
    memset(out, 0, sizeof(*out));
    int rc = get_coords(s, s->v_x, (size_t)i, s->x, 1.0f, 10.0f, "coordinates", err);
    if (rc == 0 && s->v_v >= 0)
        rc = get_coords(s, s->v_v, (size_t)i, s->v, s->vscale, 10.0f, "velocities", err);
    if (rc == 0 && s->v_f >= 0)
        rc = get_coords(s, s->v_f, (size_t)i, s->f, (float)(KCAL_KJ * 10.0), 1.0f, "forces", err);
    if (rc != 0)
        return rc;
    if (s->v_t >= 0) {
        size_t st = (size_t)i;
        int e = nc_get_var1_double(s->ncid, s->v_t, &st, &out->time);
        if (e != NC_NOERR)
            return pio_error_set(err, PIO_ECORRUPT, "%s: frame %zu: time: %s", s->path, (size_t)i,
                                 nc_strerror(e));
        if (!isfinite(out->time))
            return pio_error_set(err, PIO_ECORRUPT, "%s: frame %zu: time is not a finite number",
                                 s->path, (size_t)i);
    }
    if (s->v_len >= 0 && s->v_ang >= 0) {
        size_t start[2] = {(size_t)i, 0}, count[2] = {1, 3};
        double len[3], ang[3];
        int e = nc_get_vara_double(s->ncid, s->v_len, start, count, len);
        if (e == NC_NOERR)
            e = nc_get_vara_double(s->ncid, s->v_ang, start, count, ang);
        if (e != NC_NOERR)
            return pio_error_set(err, PIO_ECORRUPT, "%s: frame %zu: cell_lengths, cell_angles: %s",
                                 s->path, (size_t)i, nc_strerror(e));
        for (int k = 0; k < 3; k++)
            if (!isfinite(len[k]) || !isfinite(ang[k]))
                return pio_error_set(err, PIO_ECORRUPT, "%s: frame %zu: %s is not a finite number",
                                     s->path, (size_t)i,
                                     isfinite(len[k]) ? "cell_angles" : "cell_lengths");
        if (len[0] > 0 && len[1] > 0 && len[2] > 0) {
            pio__box_from_lengths(len[0] / 10, len[1] / 10, len[2] / 10, ang[0], ang[1], ang[2],
                                  out->box);
            if (!box_finite(out->box))
                return pio_error_set(err, PIO_ECORRUPT,
                                     "%s: frame %zu: cell_angles %g %g %g make no box", s->path,
                                     (size_t)i, ang[0], ang[1], ang[2]);
            out->fields |= PIO_FIELD_BOX;
        }
    }
    out->natoms = s->natoms;
    out->positions = (const float(*)[3])s->x;
    out->velocities = s->v_v >= 0 ? (const float(*)[3])s->v : NULL;
    out->forces = s->v_f >= 0 ? (const float(*)[3])s->f : NULL;
    out->fields |= PIO_FIELD_POSITIONS;
    out->step = (int64_t)i;
    out->index = i;
    pio_tm_end(PIO_OP_DECODE, 0, (uint64_t)s->ncid, i, out->natoms * 12, t0, 0);
    return 1;
}

static void ns_release(void *ctx, const struct pio_frame *f)
{
    (void)ctx;
    (void)f;
}

static void ns_destroy(void *ctx)
{
    struct nc_src *s = ctx;
    if (!s)
        return;
    if (s->ncid >= 0)
        nc_close(s->ncid);
    free(s->path);
    free(s->x);
    free(s->v);
    free(s->f);
    free(s);
}

/* A (frame, atom, spatial) float variable, or -1 when absent. */
static int coord_var(struct nc_src *s, const char *name, int dims[3], struct pio_error *err,
                     int *rc)
{
    int var, nd, d[NC_MAX_VAR_DIMS];
    if (nc_inq_varid(s->ncid, name, &var) != NC_NOERR)
        return -1;
    if (nc_inq_varndims(s->ncid, var, &nd) != NC_NOERR || nd != 3 ||
        nc_inq_vardimid(s->ncid, var, d) != NC_NOERR || d[0] != dims[0] || d[1] != dims[1] ||
        d[2] != dims[2])
        *rc =
            pio_error_set(err, PIO_ECORRUPT, "%s: %s is not (frame, atom, spatial)", s->path, name);
    return var;
}

/* time (frame) or cell_lengths, cell_angles (frame, 3): the variable, -1
 * when absent, or an error in *rc (read with a start index per dimension
 * of these shapes, and no more). */
static int series_var(struct nc_src *s, const char *name, int frame, int nd, struct pio_error *err,
                      int *rc)
{
    int var, n, d[2];
    size_t len = 3;
    if (*rc != 0 || nc_inq_varid(s->ncid, name, &var) != NC_NOERR)
        return -1;
    if (nc_inq_varndims(s->ncid, var, &n) != NC_NOERR || n != nd ||
        nc_inq_vardimid(s->ncid, var, d) != NC_NOERR || d[0] != frame ||
        (nd == 2 && nc_inq_dimlen(s->ncid, d[1], &len) != NC_NOERR) || len != 3)
        *rc = pio_error_set(err, PIO_ECORRUPT, "%s: %s is not (frame%s)", s->path, name,
                            nd == 2 ? ", 3" : "");
    return var;
}

/* The header checked before libnetcdf opens the file (which it does by
 * name: a file replaced in between is not defended against). */
static int ns_check(struct nc_src *s, struct ncdf_records *recs, struct pio_error *err)
{
    struct infile in;
    int rc = pio__infile_open(&in, s->path, err);
    if (rc == 0) {
        rc = pio__ncdf_header_check(recs, in.map, in.size, s->path, err);
        pio__infile_close(&in);
    }
    return rc;
}

static int ncdf_source_open(struct pio_source *out, const char *path, struct pio_error *err)
{
    struct nc_src *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    s->ncid = -1;
    struct ncdf_records recs;
    int rc = ns_check(s, &recs, err);
    if (rc != 0) {
        ns_destroy(s);
        return rc;
    }
    int st = nc_open(path, NC_NOWRITE, &s->ncid);
    if (st != NC_NOERR) {
        s->ncid = -1;
        rc = access(path, R_OK) != 0
                 ? pio_error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno))
                 : pio_error_set(err, PIO_EFORMAT, "%s: not a NetCDF file: %s", path,
                                 nc_strerror(st));
        ns_destroy(s);
        return rc;
    }
    char conv[64] = "";
    size_t alen = 0;
    if (nc_inq_attlen(s->ncid, NC_GLOBAL, "Conventions", &alen) != NC_NOERR ||
        alen >= sizeof(conv) || nc_get_att_text(s->ncid, NC_GLOBAL, "Conventions", conv) ||
        !strstr(conv, "AMBER"))
        rc = pio_error_set(err, PIO_EFORMAT, "%s: NetCDF without the AMBER conventions", path);
    int dims[3];
    if (rc == 0 && ((st = nc_inq_dimid(s->ncid, "frame", &dims[0])) != NC_NOERR ||
                    (st = nc_inq_dimid(s->ncid, "atom", &dims[1])) != NC_NOERR ||
                    (st = nc_inq_dimid(s->ncid, "spatial", &dims[2])) != NC_NOERR ||
                    (st = nc_inq_dimlen(s->ncid, dims[0], &s->nframes)) != NC_NOERR ||
                    (st = nc_inq_dimlen(s->ncid, dims[1], &s->natoms)) != NC_NOERR))
        rc = nc_fail(err, path, st, "dimensions frame, atom, spatial");
    size_t three = 0;
    if (rc == 0 && (nc_inq_dimlen(s->ncid, dims[2], &three) != NC_NOERR || three != 3))
        rc = pio_error_set(err, PIO_ECORRUPT, "%s: spatial dimension is not 3", path);
    if (rc == 0 && (s->natoms == 0 || s->natoms > 0x7fffffff))
        rc = pio_error_set(err, PIO_ECORRUPT, "%s: %zu atoms", path, s->natoms);
    if (rc == 0) {
        s->v_x = coord_var(s, "coordinates", dims, err, &rc);
        if (rc == 0 && s->v_x < 0)
            rc = pio_error_set(err, PIO_ECORRUPT, "%s: no coordinates variable", path);
        s->v_v = rc == 0 ? coord_var(s, "velocities", dims, err, &rc) : -1;
        s->v_f = rc == 0 ? coord_var(s, "forces", dims, err, &rc) : -1;
        s->vscale = 1.0f;
        nc_type t;
        size_t n;
        if (rc == 0 && s->v_v >= 0 &&
            nc_inq_att(s->ncid, s->v_v, "scale_factor", &t, &n) == NC_NOERR &&
            (n != 1 || t == NC_CHAR ||
             nc_get_att_float(s->ncid, s->v_v, "scale_factor", &s->vscale) != NC_NOERR ||
             !isfinite(s->vscale)))
            rc = pio_error_set(err, PIO_ECORRUPT,
                               "%s: velocities: scale_factor is not one finite number", path);
        s->v_t = series_var(s, "time", dims[0], 1, err, &rc);
        s->v_len = series_var(s, "cell_lengths", dims[0], 2, err, &rc);
        s->v_ang = series_var(s, "cell_angles", dims[0], 2, err, &rc);
        if (s->v_len < 0 || s->v_ang < 0)
            s->v_len = s->v_ang = -1;
    }
    /* a truncated file: the records it wholly holds */
    int unlim = -1;
    if (rc == 0 && nc_inq_unlimdim(s->ncid, &unlim) == NC_NOERR && unlim == dims[0]) {
        s->nframes = PIO_MIN(s->nframes, (size_t)recs.complete);
        memcpy(s->warning, recs.warning, sizeof(s->warning));
    }
    size_t b = s->natoms * 12;
    if (rc == 0 && s->nframes == 0)
        rc = s->warning[0] ? pio_error_set(err, PIO_ETRUNCATED, "%s (no whole frame)", s->warning)
                           : pio_error_set(err, PIO_ETRUNCATED, "%s: no frames", path);
    if (rc == 0 && (!(s->x = malloc(b)) || !(s->v = malloc(b)) || !(s->f = malloc(b))))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory for %zu atoms", path, s->natoms);
    if (rc != 0) {
        ns_destroy(s);
        return rc;
    }
    *out = (struct pio_source){sizeof(struct pio_source),
                               "source ncdf",
                               s,
                               ns_info,
                               ns_start,
                               ns_next,
                               ns_release,
                               ns_destroy,
                               NULL};
    return 0;
}

/* ---- writer ---------------------------------------------------------------------------- */

struct nc_sink {
    struct sink_base base; /* its FILE is unused: libnetcdf writes by name */
    int ncid, v_x, v_v, v_f, v_t, v_len, v_ang;
    uint32_t fields;
    size_t natoms, frames;
    float *buf;
};

static int nk_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    struct nc_sink *s = ctx;
    int rc = pio__sink_base_begin(ctx, info, err); /* claims PATH.part, refuses an existing PATH */
    if (rc != 0)
        return rc;
    fclose(s->base.of.f);
    s->base.of.f = NULL;
    s->fields = info->fields;
    return 0;
}

/* The file's dimensions and variables, from the first frame's atom count. */
static int nk_define(struct nc_sink *s, size_t natoms, uint32_t fields, struct pio_error *err)
{
    s->natoms = natoms;
    /* variables for what the first frame has (the box: whatever any frame can have) */
    s->fields = (fields & ~(uint32_t)PIO_FIELD_BOX) | (s->fields & PIO_FIELD_BOX);
    const char *tmp = s->base.of.tmp;
    int st = nc_create(tmp, NC_CLOBBER | NC_64BIT_OFFSET, &s->ncid);
    if (st != NC_NOERR) {
        s->ncid = -1;
        return pio_error_set(err, -EIO, "%s: cannot create: %s", tmp, nc_strerror(st));
    }
    int d_frame, d_atom, d_sp, d_cs, d_ca, d_label, v;
    st = nc_def_dim(s->ncid, "frame", NC_UNLIMITED, &d_frame);
    st = st ? st : nc_def_dim(s->ncid, "atom", s->natoms, &d_atom);
    st = st ? st : nc_def_dim(s->ncid, "spatial", 3, &d_sp);
    st = st ? st : nc_def_dim(s->ncid, "cell_spatial", 3, &d_cs);
    st = st ? st : nc_def_dim(s->ncid, "cell_angular", 3, &d_ca);
    st = st ? st : nc_def_dim(s->ncid, "label", 5, &d_label);
    static const char *conv[][2] = {{"Conventions", "AMBER"},
                                    {"ConventionVersion", "1.0"},
                                    {"program", "prismio"},
                                    {"programVersion", PIO_VERSION_STRING},
                                    {"application", "prismio"}};
    for (size_t k = 0; st == 0 && k < PIO_ARRAY_LEN(conv); k++)
        st = nc_put_att_text(s->ncid, NC_GLOBAL, conv[k][0], strlen(conv[k][1]), conv[k][1]);
    int d3[3] = {d_frame, d_atom, d_sp};
    struct {
        const char *name, *units;
        uint32_t field;
        int *var;
    } arrays[3] = {{"coordinates", "angstrom", PIO_FIELD_POSITIONS, &s->v_x},
                   {"velocities", "angstrom/picosecond", PIO_FIELD_VELOCITIES, &s->v_v},
                   {"forces", "kilocalorie/mole/angstrom", PIO_FIELD_FORCES, &s->v_f}};
    s->v_v = s->v_f = s->v_len = s->v_ang = -1;
    for (int k = 0; st == 0 && k < 3; k++) {
        if (!(s->fields & arrays[k].field) && k > 0)
            continue;
        st = nc_def_var(s->ncid, arrays[k].name, NC_FLOAT, 3, d3, arrays[k].var);
        st = st ? st
                : nc_put_att_text(s->ncid, *arrays[k].var, "units", strlen(arrays[k].units),
                                  arrays[k].units);
    }
    st = st ? st : nc_def_var(s->ncid, "spatial", NC_CHAR, 1, &d_sp, &v);
    st = st ? st : nc_def_var(s->ncid, "time", NC_FLOAT, 1, &d_frame, &s->v_t);
    st = st ? st : nc_put_att_text(s->ncid, s->v_t, "units", 10, "picosecond");
    if (st == 0 && (s->fields & PIO_FIELD_BOX)) {
        int dl[2] = {d_frame, d_cs}, da[2] = {d_frame, d_ca};
        st = nc_def_var(s->ncid, "cell_lengths", NC_DOUBLE, 2, dl, &s->v_len);
        st = st ? st : nc_put_att_text(s->ncid, s->v_len, "units", 8, "angstrom");
        st = st ? st : nc_def_var(s->ncid, "cell_angles", NC_DOUBLE, 2, da, &s->v_ang);
        st = st ? st : nc_put_att_text(s->ncid, s->v_ang, "units", 6, "degree");
    }
    st = st ? st : nc_enddef(s->ncid);
    st = st ? st : nc_put_var_text(s->ncid, v, "xyz");
    if (st != NC_NOERR)
        return pio_error_set(err, -EIO, "%s: %s", tmp, nc_strerror(st));
    if (!(s->buf = malloc(s->natoms * 12 + 1)))
        return pio_error_set(err, -ENOMEM, "%s: out of memory", s->base.path);
    return 0;
}

static int nk_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct nc_sink *s = ctx;
    for (uint32_t k = 0; k < b->nframes; k++) {
        struct pio_frame f;
        pio_batch_frame(b, k, &f);
        uint32_t has =
            (f.velocities ? PIO_FIELD_VELOCITIES : 0) | (f.forces ? PIO_FIELD_FORCES : 0);
        int rc = s->ncid < 0 ? nk_define(s, (size_t)f.natoms, has, err) : 0;
        if (rc != 0)
            return rc;
        if (has & ~s->fields)
            return pio_error_set(err, PIO_EUSAGE,
                                 "%s: frame %llu has %s the first frame had not (drop them: "
                                 "--drop v,f)",
                                 s->base.path, (unsigned long long)f.index,
                                 (has & ~s->fields & PIO_FIELD_VELOCITIES) ? "velocities"
                                                                           : "forces");
        if (f.natoms != s->natoms)
            return pio_error_set(
                err, PIO_EUSAGE, "%s: frame %llu has %llu atoms, the file %zu (one count only)",
                s->base.path, (unsigned long long)f.index, (unsigned long long)f.natoms, s->natoms);
        size_t start[3] = {s->frames, 0, 0}, count[3] = {1, s->natoms, 3};
        const float(*arr[3])[3] = {f.positions, f.velocities, f.forces};
        const int vars[3] = {s->v_x, s->v_v, s->v_f};
        const float scale[3] = {10.0f, 10.0f, (float)(1.0 / (KCAL_KJ * 10.0))};
        int st = NC_NOERR;
        for (int q = 0; q < 3 && st == NC_NOERR; q++) {
            if (vars[q] < 0)
                continue;
            for (size_t a = 0; a < s->natoms * 3; a++)
                s->buf[a] = arr[q] ? arr[q][a / 3][a % 3] * scale[q] : 0.0f;
            st = nc_put_vara_float(s->ncid, vars[q], start, count, s->buf);
        }
        float t = (float)f.time;
        if (st == NC_NOERR)
            st = nc_put_var1_float(s->ncid, s->v_t, start, &t);
        if (st == NC_NOERR && s->v_len >= 0) {
            double l[6] = {0, 0, 0, 90, 90, 90};
            if (f.fields & PIO_FIELD_BOX)
                pio__box_to_lengths(f.box, l);
            for (int q = 0; q < 3; q++)
                l[q] *= 10.0;
            size_t cs[2] = {s->frames, 0}, cc[2] = {1, 3};
            st = nc_put_vara_double(s->ncid, s->v_len, cs, cc, l);
            if (st == NC_NOERR)
                st = nc_put_vara_double(s->ncid, s->v_ang, cs, cc, l + 3);
        }
        if (st != NC_NOERR)
            return pio_error_set(err, -EIO, "%s: frame %llu: %s", s->base.of.tmp,
                                 (unsigned long long)f.index, nc_strerror(st));
        s->frames++;
    }
    return 0;
}

static int nk_end(void *ctx, bool ok, struct pio_error *err)
{
    struct nc_sink *s = ctx;
    if (s->ncid >= 0) {
        int st = nc_close(s->ncid);
        s->ncid = -1;
        if (st != NC_NOERR && ok) {
            ok = false;
            pio_error_set(err, -EIO, "%s: %s", s->base.of.tmp, nc_strerror(st));
        }
    }
    if (!s->base.of.tmp)
        return ok ? 0 : (err ? err->code : -EIO);
    if (ok && s->frames == 0) { /* nothing defined: no empty file in its place */
        ok = false;
        pio_error_set(err, PIO_EUSAGE, "%s: no frames to write", s->base.path);
    }
    int rc = 0;
    if (ok) { /* durable, then renamed into place */
        int fd = open(s->base.of.tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0 || rename(s->base.of.tmp, s->base.path) != 0)
            rc = pio_error_set(err, -errno, "%s: cannot finish: %s", s->base.of.tmp,
                               strerror(errno));
        else
            rc = pio_io_sync_dir_of(s->base.path, err); /* the rename, durable */
        if (fd >= 0)
            close(fd);
    } else {
        rc = err ? err->code : -EIO;
    }
    if (!ok || rc != 0)
        unlink(s->base.of.tmp);
    free(s->base.of.tmp);
    free(s->base.of.path);
    s->base.of.tmp = s->base.of.path = NULL;
    return rc;
}

static void nk_destroy(void *ctx)
{
    struct nc_sink *s = ctx;
    if (!s)
        return;
    if (s->ncid >= 0 || s->base.of.tmp)
        nk_end(s, false, NULL);
    pio__sink_base_release(&s->base);
    free(s->buf);
    free(s);
}

static int ncdf_sink_open(struct pio_sink *out, const char *path, bool overwrite,
                          struct pio_error *err)
{
    int rc = pio__sink_new(out, sizeof(struct nc_sink), "sink ncdf", path, overwrite, nk_write,
                           nk_destroy, err);
    if (rc == 0) {
        ((struct nc_sink *)out->ctx)->ncid = -1;
        out->begin = nk_begin;
        out->end = nk_end;
    }
    return rc;
}

/* ---- registry entry ---- */

static int ncdf_open_source(struct pio_source *out, const char *path,
                            const struct pio_source_options *o, struct pio_error *err)
{
    (void)o;
    return ncdf_source_open(out, path, err);
}
static int ncdf_open_sink(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                          struct pio_error *err)
{
    return ncdf_sink_open(out, path, (o->flags & PIO_SINK_OVERWRITE) != 0, err);
}
const struct pio__format pio__format_ncdf = {
    .id = PIO_FORMAT_NCDF,
    .name = "ncdf",
    .extensions = NCDF_EXTENSIONS,
    .caps = NCDF_CAPS,
    .probe = ncdf_probe,
    .open_source = ncdf_open_source,
    .open_sink = ncdf_open_sink,
};
