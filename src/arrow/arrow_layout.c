/*
 * arrow: HOLO frames as Arrow record batches, in two layouts.
 *
 * A layout fixes the columns once (from the options, the first frame's
 * scalars and the topology) so that every batch has the schema's shape;
 * frames that lack a column's data give nulls. The frames layout with one
 * frame per batch copies no atom data: the list's float buffer is the
 * frame's own array (in a reader's mapping, which the layout retains).
 * Everything else a batch needs (a few per-frame values, offsets, the
 * atoms layout's de-interleaved x, y, z) is made in the batch's arena.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/arrow_internal.h"
#include "common/pio_common.h"

enum col_kind {
    K_FRAME,  /* int64 frame number */
    K_STEP,   /* int64 */
    K_TIME,   /* float64 ps */
    K_NATOMS, /* int64 */
    K_BOX,    /* FixedSizeList<float64>[9] */
    K_ARRAY,  /* List<FixedSizeList<float32>[3]>, arg = field */
    K_SCALAR, /* float64, arg = scalar column */
    K_ATOM,   /* int32 atom index */
    K_COMP,   /* float32, arg = field, arg2 = component */
    K_STR,    /* utf8 topology column, arg = which */
    K_RESID,  /* int32 */
    K_MASS,   /* float32 */
    K_CHARGE, /* float32 */
};

enum { STR_NAME, STR_RESNAME, STR_CHAIN, STR_ELEMENT, NSTR };

struct col {
    enum col_kind kind;
    int arg, arg2;
    char name[32];
};

struct utf8_col {
    int32_t *offsets; /* natoms + 1 */
    char *data;
};

struct arw_layout {
    struct arw_owner own; /* first: the layout is its batches' owner */
    uint32_t layout, fields;
    const pio_reader *reader;
    int ncols;
    struct col *cols;
    uint32_t nscalars;
    char (*scalar_names)[PIO_SCALAR_NAME_SIZE];
    uint64_t nmeta;
    char **keys, **values;
    char *name; /* for messages */
    bool has_top;
    uint64_t top_natoms;
    struct utf8_col str[NSTR];
    int32_t *resids;
    float *masses, *charges;
};

static const char *const str_names[NSTR] = {"name", "resname", "chain", "element"};
static const char *const field_names[3] = {"positions", "velocities", "forces"};
static const char *const comp_prefix[3] = {"", "v", "f"};

static void layout_destroy(struct arw_owner *o)
{
    struct arw_layout *L = (struct arw_layout *)o;
    if (L->reader)
        pio_reader_close((pio_reader *)L->reader);
    for (uint64_t i = 0; i < L->nmeta; i++) {
        free(L->keys[i]);
        free(L->values[i]);
    }
    free(L->keys);
    free(L->values);
    for (int s = 0; s < NSTR; s++) {
        free(L->str[s].offsets);
        free(L->str[s].data);
    }
    free(L->resids);
    free(L->masses);
    free(L->charges);
    free(L->scalar_names);
    free(L->cols);
    free(L->name);
    free(L);
}

void pio__arw_layout_put(struct arw_layout *L)
{
    if (L)
        pio__arw_owner_put(&L->own);
}

static void add_col(struct arw_layout *L, enum col_kind k, int arg, int arg2, const char *name)
{
    struct col *c = &L->cols[L->ncols++];
    c->kind = k;
    c->arg = arg;
    c->arg2 = arg2;
    snprintf(c->name, sizeof(c->name), "%s", name);
}

/* "NAME: frame N at offset 0x..." (the offset when the frame came from a
 * file) for messages. */
static const char *frame_where(const struct arw_layout *L, const struct pio_frame *f, char buf[320])
{
    int n = snprintf(buf, 320, "%s: frame %llu", L->name, (unsigned long long)f->index);
    if (f->offset && n > 0 && n < 320)
        snprintf(buf + n, (size_t)(320 - n), " at offset 0x%llx", (unsigned long long)f->offset);
    return buf;
}

/* A fixed-width topology string column as utf8 (trailing NULs cut). */
static int build_utf8(struct utf8_col *u, const char *base, size_t width, uint64_t n)
{
    u->offsets = malloc((size_t)(n + 1) * sizeof(int32_t));
    u->data = malloc((size_t)n * width + 1);
    if (!u->offsets || !u->data)
        return -ENOMEM;
    int32_t at = 0;
    for (uint64_t i = 0; i < n; i++) {
        u->offsets[i] = at;
        const char *s = base ? base + i * width : "";
        size_t len = base ? strnlen(s, width) : 0;
        memcpy(u->data + at, s, len);
        at += (int32_t)len;
    }
    u->offsets[n] = at;
    return 0;
}

static int layout_topology(struct arw_layout *L, const struct pio_topology *t)
{
    uint64_t n = t->natoms;
    L->has_top = true;
    L->top_natoms = n;
    const char *bases[NSTR] = {(const char *)t->names, (const char *)t->resnames,
                               (const char *)t->chains, (const char *)t->elements};
    const size_t widths[NSTR] = {8, 8, 4, 4};
    for (int s = 0; s < NSTR; s++)
        if (build_utf8(&L->str[s], bases[s], widths[s], n) != 0)
            return -ENOMEM;
    L->resids = calloc((size_t)n + 1, sizeof(int32_t));
    L->masses = calloc((size_t)n + 1, sizeof(float));
    L->charges = calloc((size_t)n + 1, sizeof(float));
    if (!L->resids || !L->masses || !L->charges)
        return -ENOMEM;
    if (t->resids)
        memcpy(L->resids, t->resids, (size_t)n * sizeof(int32_t));
    if (t->masses)
        memcpy(L->masses, t->masses, (size_t)n * sizeof(float));
    if (t->charges)
        memcpy(L->charges, t->charges, (size_t)n * sizeof(float));
    return 0;
}

static int layout_metadata(struct arw_layout *L, const struct arw_layout_config *c)
{
    L->keys = calloc((size_t)c->nmeta + 2, sizeof(char *));
    L->values = calloc((size_t)c->nmeta + 2, sizeof(char *));
    if (!L->keys || !L->values)
        return -ENOMEM;
    const char *fixed[2][2] = {
        {"prismio.layout", c->layout == PIO_ARROW_ATOMS ? "atoms" : "frames"},
        {"prismio.units", "length=nm time=ps velocity=nm/ps force=kJ/mol/nm mass=u charge=e"}};
    for (int i = 0; i < 2; i++) {
        L->keys[L->nmeta] = strdup(fixed[i][0]);
        L->values[L->nmeta] = strdup(fixed[i][1]);
        if (!L->keys[L->nmeta++] || !L->values[L->nmeta - 1])
            return -ENOMEM;
    }
    for (uint64_t i = 0; i < c->nmeta; i++) {
        if (strcmp(c->meta_keys[i], "prismio.layout") == 0 ||
            strcmp(c->meta_keys[i], "prismio.units") == 0)
            continue;
        L->keys[L->nmeta] = strdup(c->meta_keys[i]);
        L->values[L->nmeta] = strdup(c->meta_values[i]);
        if (!L->keys[L->nmeta++] || !L->values[L->nmeta - 1])
            return -ENOMEM;
    }
    return 0;
}

int pio__arw_layout_new(struct arw_layout **out, const struct arw_layout_config *c,
                        struct pio_error *err)
{
    *out = NULL;
    struct arw_layout *L = calloc(1, sizeof(*L));
    uint32_t nsc = c->first ? c->first->nscalars : 0;
    if (!L)
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    atomic_init(&L->own.refs, 1);
    L->own.destroy = layout_destroy;
    L->layout = c->layout;
    L->fields = c->fields & (PIO_FIELD_POSITIONS | PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES);
    L->name = strdup(c->name ? c->name : "arrow");
    L->cols = calloc(32 + (size_t)nsc, sizeof(*L->cols));
    L->scalar_names = calloc(nsc + 1, sizeof(*L->scalar_names));
    int rc = !L->name || !L->cols || !L->scalar_names ? -ENOMEM : layout_metadata(L, c);
    if (rc == 0 && c->layout == PIO_ARROW_ATOMS && c->topology)
        rc = layout_topology(L, c->topology);
    if (rc != 0) {
        layout_destroy(&L->own);
        return pio_error_set(err, rc, "%s: out of memory", c->name ? c->name : "arrow");
    }
    add_col(L, K_FRAME, 0, 0, "frame");
    add_col(L, K_STEP, 0, 0, "step");
    add_col(L, K_TIME, 0, 0, "time");
    if (c->layout == PIO_ARROW_FRAMES) {
        add_col(L, K_NATOMS, 0, 0, "natoms");
        add_col(L, K_BOX, 0, 0, "box");
        for (int f = 0; f < 3; f++)
            if (L->fields & (1u << f))
                add_col(L, K_ARRAY, f, 0, field_names[f]);
        for (uint32_t i = 0; i < nsc; i++) {
            memcpy(L->scalar_names[i], c->first->scalars[i].name, PIO_SCALAR_NAME_SIZE);
            L->scalar_names[i][PIO_SCALAR_NAME_SIZE - 1] = '\0';
            add_col(L, K_SCALAR, (int)i, 0, L->scalar_names[i]);
        }
        L->nscalars = nsc;
    } else {
        add_col(L, K_ATOM, 0, 0, "atom");
        for (int f = 0; f < 3; f++)
            for (int k = 0; k < 3 && (L->fields & (1u << f)); k++) {
                char name[8];
                snprintf(name, sizeof(name), "%s%c", comp_prefix[f], "xyz"[k]);
                add_col(L, K_COMP, f, k, name);
            }
        if (L->has_top) {
            add_col(L, K_STR, STR_NAME, 0, str_names[STR_NAME]);
            add_col(L, K_STR, STR_RESNAME, 0, str_names[STR_RESNAME]);
            add_col(L, K_RESID, 0, 0, "resid");
            add_col(L, K_STR, STR_CHAIN, 0, str_names[STR_CHAIN]);
            add_col(L, K_STR, STR_ELEMENT, 0, str_names[STR_ELEMENT]);
            add_col(L, K_MASS, 0, 0, "mass");
            add_col(L, K_CHARGE, 0, 0, "charge");
        }
    }
    if (c->reader)
        L->reader = pio_reader_retain(c->reader);
    *out = L;
    return 0;
}

/* ---- schema ---------------------------------------------------------------------- */

static struct ArrowSchema *col_schema(struct arw_arena *a, const struct col *c)
{
    struct ArrowSchema *s, *item;
    switch (c->kind) {
    case K_FRAME:
    case K_STEP:
    case K_NATOMS:
        return pio__arw_schema_node(a, "l", c->name, 0, 0);
    case K_TIME:
        return pio__arw_schema_node(a, "g", c->name, 0, 0);
    case K_SCALAR:
        return pio__arw_schema_node(a, "g", c->name, ARROW_FLAG_NULLABLE, 0);
    case K_BOX:
        s = pio__arw_schema_node(a, "+w:9", c->name, ARROW_FLAG_NULLABLE, 1);
        if (!s || !(s->children[0] = pio__arw_schema_node(a, "g", "item", 0, 0)))
            return NULL;
        return s;
    case K_ARRAY:
        s = pio__arw_schema_node(a, "+l", c->name, ARROW_FLAG_NULLABLE, 1);
        if (!s || !(item = s->children[0] = pio__arw_schema_node(a, "+w:3", "item", 0, 1)) ||
            !(item->children[0] = pio__arw_schema_node(a, "f", "item", 0, 0)))
            return NULL;
        return s;
    case K_ATOM:
    case K_RESID:
        return pio__arw_schema_node(a, "i", c->name, 0, 0);
    case K_COMP:
        return pio__arw_schema_node(a, "f", c->name, ARROW_FLAG_NULLABLE, 0);
    case K_MASS:
    case K_CHARGE:
        return pio__arw_schema_node(a, "f", c->name, 0, 0);
    case K_STR:
        return pio__arw_schema_node(a, "u", c->name, 0, 0);
    }
    return NULL;
}

int pio__arw_layout_schema(struct arw_layout *L, struct ArrowSchema *out, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct arw_arena *a = pio__arw_arena_new(NULL);
    struct ArrowSchema *root = a ? pio__arw_schema_node(a, "+s", "", 0, L->ncols) : NULL;
    if (root)
        root->metadata = pio__arw_metadata_encode(a, L->nmeta, (const char *const *)L->keys,
                                                  (const char *const *)L->values);
    bool ok = root && root->metadata;
    for (int i = 0; ok && i < L->ncols; i++)
        ok = (root->children[i] = col_schema(a, &L->cols[i])) != NULL;
    if (!ok) {
        pio__arw_arena_abandon(a);
        return pio_error_set(err, -ENOMEM, "arrow: out of memory");
    }
    pio__arw_schema_publish(root, out);
    return 0;
}

/* ---- batches --------------------------------------------------------------------- */

/* A leaf: validity (NULL when no nulls) and data. */
static struct ArrowArray *leaf(struct arw_arena *a, int64_t length, const void *data,
                               const uint8_t *validity, int64_t null_count)
{
    struct ArrowArray *x = pio__arw_array_node(a, length, 2, 0);
    if (!x)
        return NULL;
    x->null_count = null_count;
    x->buffers[0] = null_count ? validity : NULL;
    x->buffers[1] = data;
    return x;
}

static void *fill_i64(struct arw_arena *a, size_t n, int64_t v)
{
    int64_t *p = pio__arw_alloc(a, n * 8 + 8);
    for (size_t i = 0; p && i < n; i++)
        p[i] = v;
    return p;
}

static const float *frame_array(const struct pio_frame *f, int field)
{
    const float(*p)[3] = field == 0 ? f->positions : field == 1 ? f->velocities : f->forces;
    return p ? &p[0][0] : NULL;
}

static double frame_scalar(const struct pio_frame *f, uint32_t j, const char *name, bool *found)
{
    if (j < f->nscalars && strncmp(f->scalars[j].name, name, PIO_SCALAR_NAME_SIZE) == 0) {
        *found = true;
        return f->scalars[j].value;
    }
    for (uint32_t i = 0; i < f->nscalars; i++)
        if (strncmp(f->scalars[i].name, name, PIO_SCALAR_NAME_SIZE) == 0) {
            *found = true;
            return f->scalars[i].value;
        }
    *found = false;
    return 0;
}

/* List<FixedSizeList<float32>[3]> of one field over n frames. */
static struct ArrowArray *list_col(const struct arw_layout *L, struct arw_arena *a,
                                   const struct pio_frame *fr, size_t n, int field,
                                   struct pio_error *err, int *rc)
{
    uint8_t *valid = pio__arw_alloc(a, n / 8 + 1);
    int32_t *off = pio__arw_alloc(a, (n + 1) * 4);
    if (!valid || !off)
        return NULL;
    int64_t nulls = 0, total = 0;
    for (size_t k = 0; k < n; k++) {
        off[k] = (int32_t)total;
        if (frame_array(&fr[k], field)) {
            valid[k / 8] |= (uint8_t)(1u << (k % 8));
            total += (int64_t)fr[k].natoms;
        } else
            nulls++;
        if (total > INT32_MAX) {
            *rc = pio_error_set(
                err, PIO_ELIMIT, "%s: frames %llu-%llu hold over 2^31 atoms: use smaller batches",
                L->name, (unsigned long long)fr[0].index, (unsigned long long)fr[k].index);
            return NULL;
        }
    }
    off[n] = (int32_t)total;
    const float *data;
    if (n == 1 && !nulls) {
        data = frame_array(&fr[0], field); /* zero-copy */
    } else {
        float *d = pio__arw_alloc(a, (size_t)total * 12 + 4);
        if (!d)
            return NULL;
        for (size_t k = 0; k < n; k++)
            if (frame_array(&fr[k], field))
                memcpy(d + 3 * (size_t)off[k], frame_array(&fr[k], field), fr[k].natoms * 12);
        data = d;
    }
    struct ArrowArray *list = pio__arw_array_node(a, (int64_t)n, 2, 1);
    struct ArrowArray *fsl = pio__arw_array_node(a, total, 1, 1);
    struct ArrowArray *item = leaf(a, 3 * total, data, NULL, 0);
    if (!list || !fsl || !item)
        return NULL;
    list->null_count = nulls;
    list->buffers[0] = nulls ? valid : NULL;
    list->buffers[1] = off;
    list->children[0] = fsl;
    fsl->buffers[0] = NULL;
    fsl->children[0] = item;
    return list;
}

static struct ArrowArray *frames_col(struct arw_layout *L, struct arw_arena *a, const struct col *c,
                                     const struct pio_frame *fr, size_t n, struct pio_error *err,
                                     int *rc)
{
    if (c->kind == K_ARRAY)
        return list_col(L, a, fr, n, c->arg, err, rc);
    uint8_t *valid = pio__arw_alloc(a, n / 8 + 1);
    void *data = pio__arw_alloc(a, n * (c->kind == K_BOX ? 72 : 8) + 8);
    if (!valid || !data)
        return NULL;
    int64_t *i64 = data;
    double *f64 = data;
    int64_t nulls = 0;
    for (size_t k = 0; k < n; k++) {
        bool ok = true;
        switch (c->kind) {
        case K_FRAME:
            i64[k] = (int64_t)fr[k].index;
            break;
        case K_STEP:
            i64[k] = fr[k].step;
            break;
        case K_TIME:
            f64[k] = fr[k].time;
            break;
        case K_NATOMS:
            i64[k] = (int64_t)fr[k].natoms;
            break;
        case K_BOX:
            ok = fr[k].fields & PIO_FIELD_BOX;
            if (ok)
                memcpy(f64 + 9 * k, fr[k].box, 72);
            break;
        case K_SCALAR:
            f64[k] = frame_scalar(&fr[k], (uint32_t)c->arg, L->scalar_names[c->arg], &ok);
            break;
        default:
            break;
        }
        if (ok)
            valid[k / 8] |= (uint8_t)(1u << (k % 8));
        else
            nulls++;
    }
    if (c->kind != K_BOX)
        return leaf(a, (int64_t)n, data, valid, nulls);
    struct ArrowArray *fsl = pio__arw_array_node(a, (int64_t)n, 1, 1);
    if (!fsl || !(fsl->children[0] = leaf(a, 9 * (int64_t)n, data, NULL, 0)))
        return NULL;
    fsl->null_count = nulls;
    fsl->buffers[0] = nulls ? valid : NULL;
    return fsl;
}

static struct ArrowArray *atoms_col(struct arw_layout *L, struct arw_arena *a, const struct col *c,
                                    const struct pio_frame *f)
{
    size_t n = (size_t)f->natoms;
    switch (c->kind) {
    case K_FRAME:
        return leaf(a, (int64_t)n, fill_i64(a, n, (int64_t)f->index), NULL, 0);
    case K_STEP:
        return leaf(a, (int64_t)n, fill_i64(a, n, f->step), NULL, 0);
    case K_TIME: {
        double *t = pio__arw_alloc(a, n * 8 + 8);
        for (size_t i = 0; t && i < n; i++)
            t[i] = f->time;
        return t ? leaf(a, (int64_t)n, t, NULL, 0) : NULL;
    }
    case K_ATOM: {
        int32_t *idx = pio__arw_alloc(a, n * 4 + 4);
        for (size_t i = 0; idx && i < n; i++)
            idx[i] = (int32_t)i;
        return idx ? leaf(a, (int64_t)n, idx, NULL, 0) : NULL;
    }
    case K_COMP: {
        const float *src = frame_array(f, c->arg);
        float *d = pio__arw_alloc(a, n * 4 + 4);
        uint8_t *valid = pio__arw_alloc(a, n / 8 + 1); /* all zero: every row null */
        if (!d || !valid)
            return NULL;
        for (size_t i = 0; src && i < n; i++)
            d[i] = src[3 * i + (size_t)c->arg2];
        return leaf(a, (int64_t)n, d, valid, src ? 0 : (int64_t)n);
    }
    case K_STR: {
        struct ArrowArray *x = pio__arw_array_node(a, (int64_t)n, 3, 0);
        if (!x)
            return NULL;
        x->buffers[1] = L->str[c->arg].offsets;
        x->buffers[2] = L->str[c->arg].data;
        return x;
    }
    case K_RESID:
        return leaf(a, (int64_t)n, L->resids, NULL, 0);
    case K_MASS:
        return leaf(a, (int64_t)n, L->masses, NULL, 0);
    case K_CHARGE:
        return leaf(a, (int64_t)n, L->charges, NULL, 0);
    default:
        return NULL;
    }
}

int pio__arw_layout_batch(struct arw_layout *L, const struct pio_frame *frames, size_t n,
                          struct ArrowArray *out, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    int64_t rows = (int64_t)n;
    char where[320];
    if (L->layout == PIO_ARROW_ATOMS) {
        if (n != 1)
            return pio_error_set(err, PIO_EUSAGE, "%s: the atoms layout takes one frame", L->name);
        if (frames[0].natoms > INT32_MAX)
            return pio_error_set(err, PIO_ELIMIT, "%s: %llu atoms (limit 2^31-1)",
                                 frame_where(L, &frames[0], where),
                                 (unsigned long long)frames[0].natoms);
        if (L->has_top && frames[0].natoms > L->top_natoms)
            return pio_error_set(err, PIO_ECORRUPT, "%s: %llu atoms, the topology %llu",
                                 frame_where(L, &frames[0], where),
                                 (unsigned long long)frames[0].natoms,
                                 (unsigned long long)L->top_natoms);
        rows = (int64_t)frames[0].natoms;
    }
    for (size_t k = 0; L->layout == PIO_ARROW_FRAMES && k < n; k++)
        for (uint32_t j = 0; j < frames[k].nscalars; j++) {
            uint32_t c = 0;
            while (c < L->nscalars && strncmp(L->scalar_names[c], frames[k].scalars[j].name,
                                              PIO_SCALAR_NAME_SIZE) != 0)
                c++;
            if (c == L->nscalars)
                return pio_error_set(err, PIO_ECORRUPT,
                                     "%s has scalar '%.23s', not a column (the columns come "
                                     "from the first frame; drop scalars to go on)",
                                     frame_where(L, &frames[k], where), frames[k].scalars[j].name);
        }
    struct arw_arena *a = pio__arw_arena_new(&L->own);
    struct ArrowArray *root = a ? pio__arw_array_node(a, rows, 1, L->ncols) : NULL;
    int rc = -ENOMEM;
    bool ok = root != NULL;
    /* decoded arrays (compressed frames) are not in the mapping the batch
     * keeps alive: copied into the batch's own memory */
    struct pio_frame *own = NULL;
    for (size_t k = 0; ok && k < n; k++) {
        if (!(frames[k].fields & PIO_FIELD_DECODED))
            continue;
        if (!own && (ok = (own = malloc(n * sizeof(*own))) != NULL))
            memcpy(own, frames, n * sizeof(*own));
        const float(**arr[3])[3] = {&own[k].positions, &own[k].velocities, &own[k].forces};
        for (int j = 0; ok && j < 3; j++) {
            if (!*arr[j])
                continue;
            void *p = pio__arw_alloc(a, (size_t)own[k].natoms * 12);
            if ((ok = p != NULL)) {
                memcpy(p, *arr[j], (size_t)own[k].natoms * 12);
                *arr[j] = (const float(*)[3])p;
            }
        }
    }
    if (own)
        frames = own;
    for (int i = 0; ok && i < L->ncols; i++) {
        struct ArrowArray *x = L->layout == PIO_ARROW_ATOMS
                                   ? atoms_col(L, a, &L->cols[i], &frames[0])
                                   : frames_col(L, a, &L->cols[i], frames, n, err, &rc);
        ok = (root->children[i] = x) != NULL;
    }
    free(own);
    if (!ok) {
        pio__arw_arena_abandon(a);
        return rc == -ENOMEM ? pio_error_set(err, rc, "%s: out of memory", L->name) : rc;
    }
    pio__arw_array_publish(root, out);
    return 0;
}
