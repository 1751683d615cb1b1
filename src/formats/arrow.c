/*
 * formats: Arrow IPC files as pipeline ends, so `prismio convert` writes and
 * reads them like any other format.
 *
 * The sink turns each pipeline batch into record batches through a layout
 * (arrow_layout.c): in the frames layout, frames of 64 Ki atoms or more go
 * one per record batch straight from the pipeline's buffer; smaller ones
 * are gathered into one record batch per pipeline batch.
 *
 * The source reads files in either layout (as written here, or by any tool
 * that uses the same column names and types): the frames layout gives a
 * frame per row; the atoms layout a frame per run of rows with the same
 * `frame` value. Every batch is decoded and validated when the file is
 * opened, which also builds the frame index; a frame is then a view into
 * the mapping (frames layout) or gathered from x, y, z (atoms layout).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats_internal.h"

#include "arrow/pio_arrow.h"
#include "common/pio_common.h"

/* ---- sink ------------------------------------------------------------------------- */

#define ZERO_COPY_ATOMS 65536u

struct arrow_sink {
    char *path;
    bool overwrite;
    uint32_t layout, fields;
    struct arw_layout *L;
    struct arw_ipc_writer *w;
    uint64_t nmeta;
    char **keys, **values;
    struct pio_frame *frames;
    size_t frames_cap;
};

static void as_free_meta(struct arrow_sink *s)
{
    for (uint64_t i = 0; i < s->nmeta; i++) {
        free(s->keys[i]);
        free(s->values[i]);
    }
    free(s->keys);
    free(s->values);
    s->keys = s->values = NULL;
    s->nmeta = 0;
}

static int as_start(struct arrow_sink *s, const struct pio_frame *first,
                    const struct pio_topology *top, struct pio_error *err)
{
    struct arw_layout_config c = {s->layout,
                                  s->fields,
                                  first,
                                  top,
                                  s->nmeta,
                                  (const char *const *)s->keys,
                                  (const char *const *)s->values,
                                  NULL,
                                  s->path};
    int rc = pio__arw_layout_new(&s->L, &c, err);
    if (rc != 0)
        return rc;
    struct ArrowSchema schema;
    if ((rc = pio__arw_layout_schema(s->L, &schema, err)) != 0)
        return rc;
    rc = pio__arw_ipc_writer_open(&s->w, s->path, s->overwrite, &schema, err);
    schema.release(&schema);
    return rc;
}

static int as_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    struct arrow_sink *s = ctx;
    s->fields = info->fields & (PIO_FIELD_POSITIONS | PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES);
    if (!s->fields)
        s->fields = PIO_FIELD_POSITIONS;
    s->keys = calloc((size_t)info->nmeta + 1, sizeof(char *));
    s->values = calloc((size_t)info->nmeta + 1, sizeof(char *));
    if (!s->keys || !s->values)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
    for (uint64_t i = 0; i < info->nmeta; i++) {
        s->keys[i] = strdup(info->meta_keys[i]);
        s->values[i] = strdup(info->meta_values[i]);
        s->nmeta++;
        if (!s->keys[i] || !s->values[i])
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
    }
    /* The atoms layout's columns come from the topology, known now; the
     * frames layout waits for its first frame (scalar columns). */
    return s->layout == PIO_ARROW_ATOMS ? as_start(s, NULL, info->topology, err) : 0;
}

static int as_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct arrow_sink *s = ctx;
    if (b->nframes == 0)
        return 0;
    if (s->frames_cap < b->nframes) {
        struct pio_frame *f = realloc(s->frames, b->nframes * sizeof(*f));
        if (!f)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
        s->frames = f;
        s->frames_cap = b->nframes;
    }
    for (uint32_t k = 0; k < b->nframes; k++)
        pio_batch_frame(b, k, &s->frames[k]);
    int rc = 0;
    if (!s->L && (rc = as_start(s, &s->frames[0], NULL, err)) != 0)
        return rc;
    size_t k = 0;
    while (rc == 0 && k < b->nframes) {
        size_t n = 1;
        if (s->layout == PIO_ARROW_FRAMES && s->frames[k].natoms < ZERO_COPY_ATOMS)
            while (k + n < b->nframes && s->frames[k + n].natoms < ZERO_COPY_ATOMS)
                n++;
        struct ArrowArray batch;
        rc = pio__arw_layout_batch(s->L, &s->frames[k], n, &batch, err);
        if (rc == 0) {
            rc = pio__arw_ipc_writer_batch(s->w, &batch, err);
            batch.release(&batch);
        }
        k += n;
    }
    return rc;
}

static int as_end(void *ctx, bool ok, struct pio_error *err)
{
    struct arrow_sink *s = ctx;
    int rc = 0;
    if (ok && !s->w)
        rc = as_start(s, NULL, NULL, err); /* no frames: a file with the schema only */
    if (s->w) {
        int rc2 = pio__arw_ipc_writer_close(s->w, ok && rc == 0, ok && rc == 0 ? err : NULL);
        s->w = NULL;
        rc = rc ? rc : rc2;
    }
    return rc;
}

static void as_destroy(void *ctx)
{
    struct arrow_sink *s = ctx;
    if (s->w)
        pio__arw_ipc_writer_close(s->w, false, NULL);
    pio__arw_layout_put(s->L);
    as_free_meta(s);
    free(s->frames);
    free(s->path);
    free(s);
}

static int arrow_sink_open(struct pio_sink *out, const char *path, bool overwrite, uint32_t layout,
                           struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    if (layout > PIO_ARROW_ATOMS)
        return pio_error_set(err, PIO_EUSAGE, "%s: unknown Arrow layout %u", path, layout);
    struct arrow_sink *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    s->overwrite = overwrite;
    s->layout = layout;
    *out = (struct pio_sink){sizeof(struct pio_sink),
                             "sink arrow",
                             s,
                             PIO_FLOAT32,
                             PIO_UNIT_NM,
                             as_begin,
                             as_write,
                             as_end,
                             as_destroy};
    return 0;
}

/* ---- source ----------------------------------------------------------------------- */

struct fidx {
    uint32_t batch;
    int64_t row, nrows;
};

enum { COL_NONE = -1 };

struct arrow_source {
    struct arw_ipc_file *f;
    const char *path;
    uint32_t layout;
    int c_frame, c_step, c_time, c_box;
    int c_arr[3];     /* frames layout: positions, velocities, forces */
    int c_comp[3][3]; /* atoms layout: x y z, vx vy vz, fx fy fz */
    int c_str[4], c_resid, c_mass, c_charge;
    int *c_scalar;
    int nscalars;
    struct fidx *idx;
    uint64_t nframes, max_natoms;
    uint32_t fields;
    /* topology (atoms layout) */
    bool has_top;
    struct pio_topology top;
    char (*names)[8], (*resnames)[8], (*chains)[4], (*elements)[4];
    int32_t *resids;
    float *masses, *charges;
    /* metadata without the layout's own keys */
    uint64_t nmeta;
    const char **keys, **values;
    /* reading */
    const uint64_t *sel;
    uint64_t nsel, k;
    struct arw_batch_slot slot;
    int64_t slot_batch;
    float *scratch[3];
    struct pio_scalar *sc;
};

static bool bit(const uint8_t *v, int64_t i)
{
    return !v || (v[i / 8] >> (i % 8)) & 1;
}

static int find_col(const struct arrow_source *s, const char *name)
{
    int n;
    const struct arw_field *fl = pio__arw_ipc_fields(s->f, &n);
    for (int i = 0; i < n; i++)
        if (strcmp(fl[i].name, name) == 0)
            return i;
    return COL_NONE;
}

/* Column `name` if present with the right type (-1 absent; error if the
 * type is wrong, or if required and absent). */
static int want_col(struct arrow_source *s, const char *name, enum arw_type t, int32_t size,
                    enum arw_type item, bool required, int *out, struct pio_error *err)
{
    int n;
    const struct arw_field *fl = pio__arw_ipc_fields(s->f, &n);
    int i = find_col(s, name);
    *out = i;
    if (i == COL_NONE)
        return required ? pio_error_set(err, PIO_ECORRUPT, "%s: no column '%s'", s->path, name) : 0;
    const struct arw_field *c = &fl[i];
    bool ok = c->type == t && (t != ARW_FSL || c->list_size == size);
    if (ok && t == ARW_LIST) /* List<FixedSizeList<item>[size]> */
        ok = c->children[0].type == ARW_FSL && c->children[0].list_size == size &&
             c->children[0].children[0].type == item;
    else if (ok && t == ARW_FSL)
        ok = c->children[0].type == item;
    if (!ok)
        return pio_error_set(err, PIO_ECORRUPT, "%s: column '%s' has an unexpected type", s->path,
                             name);
    return 0;
}

static int load_batch(struct arrow_source *s, uint32_t b, struct pio_error *err)
{
    if (s->slot_batch == (int64_t)b)
        return 0;
    s->slot_batch = -1;
    int rc = pio__arw_ipc_batch(s->f, b, &s->slot, err);
    if (rc == 0)
        s->slot_batch = b;
    return rc;
}

static int push_frame(struct arrow_source *s, uint64_t *cap, uint32_t b, int64_t row, int64_t n)
{
    if (s->nframes == *cap) {
        uint64_t c = *cap ? 2 * *cap : 64;
        struct fidx *x = realloc(s->idx, (size_t)c * sizeof(*x));
        if (!x)
            return -ENOMEM;
        s->idx = x;
        *cap = c;
    }
    s->idx[s->nframes++] = (struct fidx){b, row, n};
    if ((uint64_t)n > s->max_natoms)
        s->max_natoms = (uint64_t)n;
    return 0;
}

/* A list column's entry must be all valid below the list level. */
static int check_list_items(struct arrow_source *s, const struct arw_col *list, const char *name,
                            uint32_t b, struct pio_error *err)
{
    const struct arw_col *fsl = &list->children[0];
    if (fsl->null_count || fsl->children[0].null_count)
        return pio_error_set(err, PIO_ECORRUPT, "%s: batch %u: column '%s' has null atoms", s->path,
                             b, name);
    return 0;
}

static int index_frames(struct arrow_source *s, struct pio_error *err)
{
    uint64_t cap = 0;
    int64_t last_value = 0;
    bool have_last = false;
    for (uint64_t b = 0; b < pio__arw_ipc_nbatches(s->f); b++) {
        int rc = load_batch(s, (uint32_t)b, err);
        if (rc != 0)
            return rc;
        const struct arw_col *cols = s->slot.cols;
        int64_t rows = s->slot.length;
        if (s->layout == PIO_ARROW_FRAMES) {
            static const char *const arr[3] = {"positions", "velocities", "forces"};
            for (int k = 0; k < 3; k++)
                if (s->c_arr[k] != COL_NONE &&
                    (rc = check_list_items(s, &cols[s->c_arr[k]], arr[k], (uint32_t)b, err)) != 0)
                    return rc;
            const struct arw_col *pos = &cols[s->c_arr[0]];
            for (int64_t r = 0; r < rows; r++) {
                if (!bit(pos->validity, r))
                    return pio_error_set(err, PIO_ECORRUPT,
                                         "%s: frame %llu (batch %llu, row %lld): no positions",
                                         s->path, (unsigned long long)s->nframes,
                                         (unsigned long long)b, (long long)r);
                if (push_frame(s, &cap, (uint32_t)b, r, pos->offsets[r + 1] - pos->offsets[r]))
                    return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
            }
            continue;
        }
        const struct arw_col *fc = &cols[s->c_frame];
        const int64_t *fv = fc->data;
        for (int c = 0; c < 3; c++)
            if (cols[s->c_comp[0][c]].null_count || fc->null_count)
                return pio_error_set(err, PIO_ECORRUPT,
                                     "%s: batch %llu: null frame numbers or positions", s->path,
                                     (unsigned long long)b);
        for (int64_t r = 0; r < rows;) {
            int64_t e = r + 1;
            while (e < rows && fv[e] == fv[r])
                e++;
            if (have_last && fv[r] == last_value)
                return pio_error_set(err, PIO_ECORRUPT,
                                     "%s: batch %llu, row %lld: frame %lld continues from the "
                                     "previous batch (a frame must be one run of rows)",
                                     s->path, (unsigned long long)b, (long long)r,
                                     (long long)fv[r]);
            if (e - r > (int64_t)PIO_HOLO_MAX_ATOMS)
                return pio_error_set(err, PIO_ELIMIT, "%s: frame %lld has too many atoms", s->path,
                                     (long long)fv[r]);
            if (push_frame(s, &cap, (uint32_t)b, r, e - r))
                return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
            last_value = fv[r];
            have_last = true;
            r = e;
        }
    }
    return 0;
}

/* Topology from the first frame's rows (atoms layout). */
static int read_topology(struct arrow_source *s, struct pio_error *err)
{
    if (s->c_str[0] == COL_NONE || s->nframes == 0)
        return 0;
    const struct fidx *x = &s->idx[0];
    int rc = load_batch(s, x->batch, err);
    if (rc != 0)
        return rc;
    size_t n = (size_t)x->nrows;
    s->names = calloc(n + 1, 8);
    s->resnames = calloc(n + 1, 8);
    s->chains = calloc(n + 1, 4);
    s->elements = calloc(n + 1, 4);
    s->resids = calloc(n + 1, 4);
    s->masses = calloc(n + 1, 4);
    s->charges = calloc(n + 1, 4);
    if (!s->names || !s->resnames || !s->chains || !s->elements || !s->resids || !s->masses ||
        !s->charges)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
    char *dst[4] = {&s->names[0][0], &s->resnames[0][0], &s->chains[0][0], &s->elements[0][0]};
    const size_t width[4] = {8, 8, 4, 4};
    static const char *const what[4] = {"name", "resname", "chain", "element"};
    for (int k = 0; k < 4; k++) {
        if (s->c_str[k] == COL_NONE)
            continue;
        const struct arw_col *c = &s->slot.cols[s->c_str[k]];
        for (size_t i = 0; i < n; i++) {
            int64_t r = x->row + (int64_t)i;
            if (!bit(c->validity, r))
                continue;
            int32_t a = c->offsets[r], len = c->offsets[r + 1] - a;
            if ((size_t)len > width[k])
                return pio_error_set(err, PIO_ELIMIT, "%s: atom %zu: %s '%.*s' is over %zu bytes",
                                     s->path, i, what[k], len, (const char *)c->data + a, width[k]);
            memcpy(dst[k] + i * width[k], (const char *)c->data + a, (size_t)len);
        }
    }
    const int cols[3] = {s->c_resid, s->c_mass, s->c_charge};
    void *arrays[3] = {s->resids, s->masses, s->charges};
    for (int k = 0; k < 3; k++)
        if (cols[k] != COL_NONE)
            memcpy(arrays[k], (const uint8_t *)s->slot.cols[cols[k]].data + 4 * x->row, 4 * n);
    s->top = (struct pio_topology){n,
                                   0,
                                   (const char(*)[8])s->names,
                                   (const char(*)[4])s->elements,
                                   (const char(*)[8])s->resnames,
                                   (const char(*)[4])s->chains,
                                   s->resids,
                                   s->masses,
                                   s->charges,
                                   NULL};
    s->has_top = true;
    return 0;
}

static int src_columns(struct arrow_source *s, struct pio_error *err)
{
    const char *const *keys, *const *values;
    uint64_t nmeta = pio__arw_ipc_metadata(s->f, &keys, &values);
    const char *layout = NULL;
    s->keys = calloc((size_t)nmeta + 1, sizeof(char *));
    s->values = calloc((size_t)nmeta + 1, sizeof(char *));
    if (!s->keys || !s->values)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
    for (uint64_t i = 0; i < nmeta; i++) {
        if (strcmp(keys[i], "prismio.layout") == 0) {
            layout = values[i];
        } else if (strcmp(keys[i], "prismio.units") == 0) {
            if (strncmp(values[i], "length=nm time=ps", 17) != 0)
                return pio_error_set(err, PIO_ENOTSUPPORTED, "%s: units '%s' (nm, ps expected)",
                                     s->path, values[i]);
        } else {
            s->keys[s->nmeta] = keys[i];
            s->values[s->nmeta++] = values[i];
        }
    }
    if (layout)
        s->layout = strcmp(layout, "atoms") == 0 ? PIO_ARROW_ATOMS : PIO_ARROW_FRAMES;
    else
        s->layout = find_col(s, "positions") == COL_NONE && find_col(s, "x") != COL_NONE
                        ? PIO_ARROW_ATOMS
                        : PIO_ARROW_FRAMES;
    int rc = 0;
#define WANT(name, t, size, item, req, out)                                                        \
    if (rc == 0)                                                                                   \
    rc = want_col(s, name, t, size, item, req, out, err)
    WANT("step", ARW_INT64, 0, 0, false, &s->c_step);
    WANT("time", ARW_FLOAT64, 0, 0, false, &s->c_time);
    s->fields = PIO_FIELD_POSITIONS;
    if (s->layout == PIO_ARROW_FRAMES) {
        static const char *const arr[3] = {"positions", "velocities", "forces"};
        for (int k = 0; k < 3; k++) {
            WANT(arr[k], ARW_LIST, 3, ARW_FLOAT32, k == 0, &s->c_arr[k]);
            if (rc == 0 && s->c_arr[k] != COL_NONE)
                s->fields |= 1u << k;
        }
        WANT("box", ARW_FSL, 9, ARW_FLOAT64, false, &s->c_box);
        if (rc == 0 && s->c_box != COL_NONE)
            s->fields |= PIO_FIELD_BOX;
        int n;
        const struct arw_field *fl = pio__arw_ipc_fields(s->f, &n);
        s->c_scalar = calloc((size_t)n + 1, sizeof(int));
        if (!s->c_scalar)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
        for (int i = 0; rc == 0 && i < n; i++) {
            if (fl[i].type != ARW_FLOAT64 || i == s->c_time)
                continue;
            if (strlen(fl[i].name) >= PIO_SCALAR_NAME_SIZE ||
                s->nscalars >= (int)PIO_HOLO_MAX_SCALARS)
                return pio_error_set(err, PIO_ELIMIT,
                                     "%s: column '%s': a scalar name has at most "
                                     "23 bytes (and a frame 4096 scalars)",
                                     s->path, fl[i].name);
            s->c_scalar[s->nscalars++] = i;
        }
    } else {
        static const char *const comp[3][3] = {
            {"x", "y", "z"}, {"vx", "vy", "vz"}, {"fx", "fy", "fz"}};
        static const char *const str[4] = {"name", "resname", "chain", "element"};
        WANT("frame", ARW_INT64, 0, 0, true, &s->c_frame);
        for (int f = 0; f < 3; f++) {
            for (int k = 0; k < 3; k++)
                WANT(comp[f][k], ARW_FLOAT32, 0, 0, f == 0, &s->c_comp[f][k]);
            if (rc == 0 && s->c_comp[f][0] != COL_NONE && s->c_comp[f][1] != COL_NONE &&
                s->c_comp[f][2] != COL_NONE)
                s->fields |= 1u << f;
        }
        for (int k = 0; k < 4; k++)
            WANT(str[k], ARW_UTF8, 0, 0, false, &s->c_str[k]);
        WANT("resid", ARW_INT32, 0, 0, false, &s->c_resid);
        WANT("mass", ARW_FLOAT32, 0, 0, false, &s->c_mass);
        WANT("charge", ARW_FLOAT32, 0, 0, false, &s->c_charge);
    }
#undef WANT
    return rc;
}

static int src_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    (void)err;
    struct arrow_source *s = ctx;
    memset(out, 0, sizeof(*out));
    out->nframes = s->nframes;
    out->max_natoms = s->max_natoms;
    out->fields = s->fields;
    out->length_unit = PIO_UNIT_NM;
    out->topology = s->has_top ? &s->top : NULL;
    out->nmeta = s->nmeta;
    out->meta_keys = s->keys;
    out->meta_values = s->values;
    return 0;
}

static int src_start(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err)
{
    struct arrow_source *s = ctx;
    s->sel = frames;
    s->nsel = frames ? n : s->nframes;
    s->k = 0;
    for (int f = 0; f < 3; f++) {
        free(s->scratch[f]);
        s->scratch[f] = NULL;
        if (s->layout == PIO_ARROW_ATOMS && (s->fields & (1u << f)) &&
            !(s->scratch[f] = malloc((size_t)(s->max_natoms + 1) * 12)))
            return pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
    }
    free(s->sc);
    s->sc = calloc((size_t)s->nscalars + 1, sizeof(*s->sc));
    return s->sc ? 0 : pio_error_set(err, -ENOMEM, "%s: out of memory", s->path);
}

static const float *list_row(const struct arw_col *list, int64_t r)
{
    if (!bit(list->validity, r))
        return NULL;
    const float *items = list->children[0].children[0].data;
    return items + 3 * (int64_t)list->offsets[r];
}

static int src_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    struct arrow_source *s = ctx;
    if (s->k == s->nsel)
        return 0;
    uint64_t i = s->sel ? s->sel[s->k] : s->k;
    s->k++;
    const struct fidx *x = &s->idx[i];
    int rc = load_batch(s, x->batch, err);
    if (rc != 0)
        return rc;
    const struct arw_col *cols = s->slot.cols;
    int64_t r = x->row;
    memset(out, 0, sizeof(*out));
    out->index = i;
    out->natoms = (uint64_t)x->nrows;
    out->step = s->c_step != COL_NONE ? ((const int64_t *)cols[s->c_step].data)[r] : (int64_t)i;
    out->time = s->c_time != COL_NONE ? ((const double *)cols[s->c_time].data)[r] : 0.0;
    if (s->layout == PIO_ARROW_FRAMES) {
        const float(**arr[3])[3] = {&out->positions, &out->velocities, &out->forces};
        for (int k = 0; k < 3; k++)
            if (s->c_arr[k] != COL_NONE) {
                const struct arw_col *c = &cols[s->c_arr[k]];
                const float *p = list_row(c, r);
                if (p && c->offsets[r + 1] - c->offsets[r] != x->nrows)
                    return pio_error_set(err, PIO_ECORRUPT,
                                         "%s: frame %llu: %d atoms in one array, %lld in "
                                         "positions",
                                         s->path, (unsigned long long)i,
                                         c->offsets[r + 1] - c->offsets[r], (long long)x->nrows);
                *arr[k] = (const float(*)[3])p;
            }
        if (s->c_box != COL_NONE && bit(cols[s->c_box].validity, r)) {
            memcpy(out->box, (const double *)cols[s->c_box].children[0].data + 9 * r, 72);
            out->fields |= PIO_FIELD_BOX;
        }
        int n;
        const struct arw_field *fl = pio__arw_ipc_fields(s->f, &n);
        for (int k = 0; k < s->nscalars; k++) {
            const struct arw_col *c = &cols[s->c_scalar[k]];
            if (!bit(c->validity, r))
                continue;
            struct pio_scalar *sc = &s->sc[out->nscalars++];
            memset(sc->name, 0, sizeof(sc->name));
            memcpy(sc->name, fl[s->c_scalar[k]].name, strlen(fl[s->c_scalar[k]].name));
            sc->value = ((const double *)c->data)[r];
        }
        out->scalars = s->sc;
    } else {
        for (int f = 0; f < 3; f++) {
            if (!(s->fields & (1u << f)))
                continue;
            int64_t valid = 0;
            for (int k = 0; k < 3; k++) {
                const struct arw_col *c = &cols[s->c_comp[f][k]];
                const float *src = c->data;
                for (int64_t a = 0; a < x->nrows; a++) {
                    s->scratch[f][3 * a + k] = src[r + a];
                    valid += bit(c->validity, r + a);
                }
            }
            if (valid != 0 && valid != 3 * x->nrows)
                return pio_error_set(err, PIO_ECORRUPT, "%s: frame %llu: some atoms have no %s",
                                     s->path, (unsigned long long)i,
                                     f == 0   ? "position"
                                     : f == 1 ? "velocity"
                                              : "force");
            const float(*p)[3] = valid ? (const float(*)[3])s->scratch[f] : NULL;
            if (f == 0)
                out->positions = p;
            else if (f == 1)
                out->velocities = p;
            else
                out->forces = p;
        }
    }
    if (out->positions)
        out->fields |= PIO_FIELD_POSITIONS;
    if (out->velocities)
        out->fields |= PIO_FIELD_VELOCITIES;
    if (out->forces)
        out->fields |= PIO_FIELD_FORCES;
    return 1;
}

static void src_release(void *ctx, const struct pio_frame *f)
{
    (void)ctx;
    (void)f;
}

static void src_destroy(void *ctx)
{
    struct arrow_source *s = ctx;
    pio__arw_batch_slot_free(&s->slot);
    pio__arw_ipc_file_put(s->f);
    free(s->idx);
    free(s->c_scalar);
    free(s->keys);
    free(s->values);
    free(s->names);
    free(s->resnames);
    free(s->chains);
    free(s->elements);
    free(s->resids);
    free(s->masses);
    free(s->charges);
    for (int f = 0; f < 3; f++)
        free(s->scratch[f]);
    free(s->sc);
    free(s);
}

static int arrow_source_open(struct pio_source *out, const char *path, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct arrow_source *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    s->slot_batch = -1;
    s->c_frame = s->c_step = s->c_time = s->c_box = COL_NONE;
    int rc = pio__arw_ipc_file_open(&s->f, path, err);
    if (rc == 0) {
        s->path = pio__arw_ipc_path(s->f);
        rc = src_columns(s, err);
    }
    if (rc == 0)
        rc = index_frames(s, err);
    if (rc == 0 && s->layout == PIO_ARROW_ATOMS)
        rc = read_topology(s, err);
    if (rc != 0) {
        src_destroy(s);
        return rc;
    }
    *out = (struct pio_source){sizeof(struct pio_source),
                               "source arrow",
                               s,
                               src_info,
                               src_start,
                               src_next,
                               src_release,
                               src_destroy,
                               NULL};
    return 0;
}

/* ---- registry entry ---- */

static bool arrow_probe(const uint8_t *h, size_t n)
{
    return n >= 6 && memcmp(h, "ARROW1", 6) == 0;
}
static int arrow_open_source(struct pio_source *out, const char *path,
                             const struct pio_source_options *o, struct pio_error *err)
{
    (void)o;
    return arrow_source_open(out, path, err);
}
static int arrow_open_sink(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                           struct pio_error *err)
{
    return arrow_sink_open(out, path, (o->flags & PIO_SINK_OVERWRITE) != 0, o->arrow_layout, err);
}
const struct pio__format pio__format_arrow = {
    .id = PIO_FORMAT_ARROW,
    .name = "arrow",
    .extensions = ".arrow .feather",
    .caps = PIO_FORMAT_CAN_READ | PIO_FORMAT_CAN_WRITE | PIO_FORMAT_HAS_TOPOLOGY |
            PIO_FORMAT_HAS_VELOCITIES | PIO_FORMAT_HAS_FORCES | PIO_FORMAT_HAS_BOX |
            PIO_FORMAT_RANDOM_ACCESS,
    .probe = arrow_probe,
    .open_source = arrow_open_source,
    .open_sink = arrow_open_sink,
};
