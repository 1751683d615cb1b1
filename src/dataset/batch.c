/*
 * Batches: structures gathered into one structure of arrays (ragged or
 * padded), and their DLPack export (prismio/dataset.h).
 *
 * A batch's memory is one arena of 64-byte aligned arrays, reference
 * counted: DLPack tensors hold a reference, and a fill that finds the
 * arena still referenced by a tensor moves to a new one, so a consumer's
 * tensor never changes under it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "prismio/dataset.h"

#include "common/pio_common.h"
#include "dataset/dataset_internal.h"
#include "format/pio_format.h"
#include "concurrent/pio_concurrent.h"

#define ULL(x)     ((unsigned long long)(x))
#define ALIGN64(n) (((n) + 63) & ~(uint64_t)63)

/* eV per kJ/mol (CODATA 2018: e N_A = 96485.33212 C/mol) */
#define EV_PER_KJMOL (1.0 / 96.48533212)

#define ARENA_SPARE 4
#define MAX_PARTS   4 /* parts a fill is split in, at most */

enum col_kind { K_POS, K_VEL, K_FRC, K_CELL, K_SCALAR, K_ARRAY };

struct arena {
    _Atomic int refs;
    bool locked;
    size_t cap;
    uint8_t *mem;
};

struct pio_ds_batch {
    const pio_dataset *ds;
    struct pio_batch_options o;
    uint32_t ncol;
    enum col_kind *kind;
    struct pio_batch_column *col;
    struct arena *arena;
    /* arenas tensors held when a fill moved on: taken again once free, so
     * a consumer one or two batches behind costs no new memory (fresh
     * pages fault on first touch: a new arena per batch cost more than
     * the gather itself) */
    struct arena *spare[ARENA_SPARE];
    /* what the last fill holds */
    uint32_t n;
    uint64_t atoms; /* ragged: total; padded: per structure */
    int64_t *index, *natoms, *offsets;
    uint8_t *mask;
    /* scratch of a fill: each structure's shard, frame, view, and the
     * values of its named-array columns (n x ncol) */
    uint32_t *sh;
    uint64_t *fr;
    struct pio_frame *seen;
    const void **apt;
    uint32_t scap;
    bool any_array;
    uint32_t threads; /* parts a fill is split in, at most */
};

static void arena_unref(struct arena *a)
{
    if (!a || atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (a->locked)
        munlock(a->mem, a->cap);
    free(a->mem);
    free(a);
}

static int arena_new(struct arena **out, size_t cap, bool pin)
{
    struct arena *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    cap = (size_t)ALIGN64(cap ? cap : 64);
    if (posix_memalign((void **)&a->mem, 4096, cap) != 0) {
        free(a);
        return -ENOMEM;
    }
    a->cap = cap;
    atomic_init(&a->refs, 1);
    if (pin) {
        if (mlock(a->mem, cap) != 0) {
            int rc = -errno;
            free(a->mem);
            free(a);
            return rc;
        }
        a->locked = true;
    }
    *out = a;
    return 0;
}

/* The column a name asks for, resolved on structure 0. */
static int resolve(pio_ds_batch *b, uint32_t k, const char *name, struct pio_error *err)
{
    struct pio_batch_column *c = &b->col[k];
    size_t nl = strlen(name);
    if (nl == 0 || nl >= PIO_ARRAY_NAME_SIZE)
        return pio_error_set(err, PIO_EUSAGE, "column '%s': names are 1 to 31 characters", name);
    memcpy(c->name, name, nl + 1);
    static const char *const fixed[] = {"positions", "velocities", "forces"};
    for (int a = 0; a < 3; a++)
        if (strcmp(name, fixed[a]) == 0) {
            b->kind[k] = (enum col_kind)(K_POS + a);
            c->dtype = PIO_DTYPE_F32;
            c->per_atom = 1;
            c->width = 3;
            return 0;
        }
    if (strcmp(name, "cell") == 0) {
        b->kind[k] = K_CELL;
        c->dtype = PIO_DTYPE_F64;
        c->width = 9;
        return 0;
    }
    if (b->ds->n == 0)
        return pio_error_set(err, PIO_EUSAGE, "%s: column '%s': the dataset is empty",
                             b->ds->shard[0].path, name);
    uint32_t s0;
    uint64_t f0;
    pio_dataset_locate(b->ds, 0, &s0, &f0); /* the first shard that holds any */
    const pio_reader *r = b->ds->shard[s0].r;
    struct pio_frame f;
    float(*const none[3])[3] = {NULL, NULL, NULL};
    int rc = pio_reader_frame_into(r, f0, none, 0, &f, err);
    if (rc != 0)
        return rc;
    for (uint32_t s = 0; s < f.nscalars; s++)
        if (strncmp(f.scalars[s].name, name, PIO_SCALAR_NAME_SIZE) == 0) {
            b->kind[k] = K_SCALAR;
            c->dtype = PIO_DTYPE_F64;
            c->width = 1;
            return 0;
        }
    struct pio_array a;
    struct pio_error e2;
    if (!(f.fields & PIO_FIELD_ARRAYS) || pio_reader_frame_array(r, f0, name, &a, &e2) != 0)
        return pio_error_set(err, PIO_EUSAGE,
                             "column '%s': the dataset's first structure has no field, scalar or "
                             "named array of that name",
                             name);
    b->kind[k] = K_ARRAY;
    c->dtype = a.dtype;
    c->per_atom = a.per_atom;
    c->width = a.width;
    return 0;
}

PIO_API int pio_ds_batch_create(pio_ds_batch **out, const pio_dataset *ds,
                                const struct pio_batch_options *opts, struct pio_error *err)
{
    *out = NULL;
    static const char *const def_cols[] = {"positions"};
    struct pio_batch_options o = PIO_BATCH_OPTIONS_INIT;
    if (opts) {
        if (opts->size > sizeof(o) || opts->size < offsetof(struct pio_batch_options, buffer))
            return pio_error_set(err, PIO_EUSAGE, "batch options of %u bytes: unknown layout",
                                 opts->size);
        memcpy(&o, opts, opts->size);
        o.size = sizeof(o);
    }
    if (o.ncolumns == 0) {
        o.columns = def_cols;
        o.ncolumns = 1;
    }
    if (o.layout > PIO_BATCH_PADDED || o.units > PIO_UNITS_ASE ||
        (o.flags & ~(uint32_t)PIO_BATCH_PINNED) || !o.columns)
        return pio_error_set(err, PIO_EUSAGE, "batch options: layout %u, units %u, flags %#x",
                             o.layout, o.units, o.flags);
    if (o.pad_atoms == 0)
        o.pad_atoms = 1;
    if (o.threads == 0)
        o.threads = 1;
    if (o.threads > MAX_PARTS)
        o.threads = MAX_PARTS;
    pio_ds_batch *b = calloc(1, sizeof(*b));
    if (!b || !(b->kind = calloc(o.ncolumns, sizeof(*b->kind))) ||
        !(b->col = calloc(o.ncolumns, sizeof(*b->col)))) {
        pio_ds_batch_free(b);
        return pio_error_set(err, -ENOMEM, "out of memory");
    }
    b->ds = ds;
    b->o = o;
    b->threads = o.threads;
    b->o.columns = NULL; /* not kept: the names are in col[] */
    b->ncol = o.ncolumns;
    for (uint32_t k = 0; k < o.ncolumns; k++) {
        int rc = o.columns[k] ? resolve(b, k, o.columns[k], err)
                              : pio_error_set(err, PIO_EUSAGE, "column %u: no name", k);
        for (uint32_t j = 0; rc == 0 && j < k; j++)
            if (strcmp(b->col[j].name, b->col[k].name) == 0)
                rc = pio_error_set(err, PIO_EUSAGE, "column '%s' asked twice", b->col[k].name);
        if (rc != 0) {
            pio_ds_batch_free(b);
            return rc;
        }
        b->any_array |= b->kind[k] == K_ARRAY;
    }
    *out = b;
    return 0;
}

PIO_API void pio_ds_batch_free(pio_ds_batch *b)
{
    if (!b)
        return;
    arena_unref(b->arena);
    for (int k = 0; k < ARENA_SPARE; k++)
        arena_unref(b->spare[k]);
    free(b->kind);
    free(b->col);
    free(b->sh);
    free(b->fr);
    free(b->seen);
    free((void *)b->apt);
    free(b);
}

static int fail(pio_ds_batch *b, int rc)
{
    b->n = 0;
    b->atoms = 0;
    return rc;
}

/* Lay the batch's arrays out: *need gets the bytes; with mem, the pointers
 * are set. */
static void layout(pio_ds_batch *b, uint32_t n, uint64_t atoms, uint8_t *mem, size_t *need)
{
    uint64_t off = 0;
#define TAKE(ptr, bytes)                                                                           \
    do {                                                                                           \
        if (mem)                                                                                   \
            (ptr) = (void *)(mem + off);                                                           \
        off += ALIGN64((uint64_t)(bytes));                                                         \
    } while (0)
    bool padded = b->o.layout == PIO_BATCH_PADDED;
    TAKE(b->index, (uint64_t)n * 8);
    TAKE(b->natoms, (uint64_t)n * 8);
    if (padded)
        TAKE(b->mask, (uint64_t)n * atoms);
    else
        TAKE(b->offsets, (uint64_t)(n + 1) * 8);
    for (uint32_t k = 0; k < b->ncol; k++) {
        struct pio_batch_column *c = &b->col[k];
        uint64_t rows = !c->per_atom ? n : padded ? (uint64_t)n * atoms : atoms;
        TAKE(c->data, rows * c->width * pio_dtype_size(c->dtype));
        if (mem) {
            c->ndim = c->per_atom && padded ? 3 : 2;
            c->shape[0] = c->per_atom && !padded ? (int64_t)atoms : (int64_t)n;
            c->shape[1] = c->per_atom && padded ? (int64_t)atoms : (int64_t)c->width;
            c->shape[2] = c->per_atom && padded ? (int64_t)c->width : 0;
        }
    }
#undef TAKE
    if (!padded && !mem)
        b->mask = NULL;
    if (padded && !mem)
        b->offsets = NULL;
    *need = (size_t)off;
}

/* Memory for a fill of n structures: the caller's buffer, or the arena
 * (a new one where a tensor still holds it or it is too small). */
static int take_memory(pio_ds_batch *b, uint32_t n, uint64_t atoms, struct pio_error *err)
{
    size_t need;
    layout(b, n, atoms, NULL, &need);
    uint8_t *mem;
    if (b->o.buffer) {
        if (need > b->o.buffer_bytes)
            return pio_error_set(err, -ENOSPC,
                                 "batch of %u structures (%llu atoms): needs %zu bytes, the "
                                 "buffer holds %zu",
                                 n, ULL(atoms), need, b->o.buffer_bytes);
        mem = (uint8_t *)(((uintptr_t)b->o.buffer + 63) & ~(uintptr_t)63);
        if (need > b->o.buffer_bytes - (size_t)(mem - (uint8_t *)b->o.buffer))
            return pio_error_set(err, -ENOSPC,
                                 "batch of %u structures: needs %zu bytes from a 64-byte "
                                 "boundary, the buffer holds fewer",
                                 n, need);
    } else {
        struct arena *a = b->arena;
        if (a && (a->cap < need || atomic_load_explicit(&a->refs, memory_order_acquire) > 1)) {
            /* a spare no tensor holds any more, big enough: swap it in */
            for (int k = 0; k < ARENA_SPARE; k++) {
                struct arena *s = b->spare[k];
                if (s && s->cap >= need &&
                    atomic_load_explicit(&s->refs, memory_order_acquire) == 1) {
                    b->spare[k] = a;
                    b->arena = a = s;
                    break;
                }
            }
        }
        if (!a || a->cap < need || atomic_load_explicit(&a->refs, memory_order_acquire) > 1) {
            /* room for growth: batches of similar sizes reuse it */
            size_t cap = need + need / 4;
            if (a && atomic_load_explicit(&a->refs, memory_order_acquire) == 1 && a->cap > cap)
                cap = a->cap;
            /* the one moved from becomes a spare (in a free slot, else in
             * place of the smallest) */
            if (a && atomic_load_explicit(&a->refs, memory_order_acquire) > 1) {
                int slot = 0;
                for (int k = 0; k < ARENA_SPARE; k++) {
                    if (!b->spare[k]) {
                        slot = k;
                        break;
                    }
                    if (b->spare[k]->cap < b->spare[slot]->cap)
                        slot = k;
                }
                arena_unref(b->spare[slot]);
                b->spare[slot] = a;
                b->arena = a = NULL;
            }
            struct arena *na = NULL;
            int rc = arena_new(&na, cap, b->o.flags & PIO_BATCH_PINNED);
            if (rc != 0)
                return pio_error_set(err, rc, "batch of %u structures: %zu bytes%s: %s", n, cap,
                                     (b->o.flags & PIO_BATCH_PINNED) ? " (mlock)" : "",
                                     pio_strerror(rc));
            arena_unref(a);
            b->arena = a = na;
        }
        mem = a->mem;
    }
    layout(b, n, atoms, mem, &need);
    return 0;
}

static int name_err(const pio_ds_batch *b, uint64_t i, int rc, struct pio_error *err,
                    const char *what, const struct pio_batch_column *c, const char *detail)
{
    uint32_t s;
    uint64_t f;
    pio_dataset_locate(b->ds, i, &s, &f);
    return pio_error_set(err, rc, "%s: structure %llu (frame %llu): %s '%s'%s",
                         b->ds->shard[s].path, ULL(i), ULL(f), what, c->name, detail);
}

/* A reader's error for structure i, with the structure's dataset index
 * in front (the reader's message names the shard, frame and offset). */
static int wrap(uint64_t i, int rc, struct pio_error *err)
{
    if (err) {
        char m[sizeof(err->message)];
        memcpy(m, err->message, sizeof(m));
        m[sizeof(m) - 1] = '\0';
        pio_error_set(err, rc, "structure %llu: %s", ULL(i), m);
    }
    return rc;
}

#define PREFETCH 8

static void prefetch(const pio_ds_batch *b, uint64_t i)
{
    uint32_t s;
    uint64_t f;
    if (pio_dataset_locate(b->ds, i, &s, &f) == 0)
        pio__holo_prefetch(b->ds->shard[s].r, f);
}

static int match_arrays(pio_ds_batch *b, uint32_t j, uint64_t i, const struct pio_array *all,
                        uint32_t narr, struct pio_error *err);

/* Structure j's named arrays looked up again (all of them, however many)
 * and matched to the columns. */
static int look_arrays(pio_ds_batch *b, uint32_t j, uint64_t i, struct pio_error *err)
{
    const pio_reader *r = b->ds->shard[b->sh[j]].r;
    struct pio_array arr[64], *all = arr;
    uint32_t narr = 0;
    int rc = 0;
    if ((b->seen[j].fields & PIO_FIELD_ARRAYS) &&
        (rc = pio_reader_frame_arrays(r, b->fr[j], arr, 64, &narr, err)) == 0 && narr > 64) {
        if (!(all = malloc(narr * sizeof(*all))))
            return pio_error_set(err, -ENOMEM, "out of memory");
        rc = pio_reader_frame_arrays(r, b->fr[j], all, narr, &narr, err);
    }
    rc = rc ? wrap(i, rc, err) : match_arrays(b, j, i, all, narr, err);
    if (all != arr)
        free(all);
    return rc;
}

/* Pass 1 for structure j: its frame view (zero-copy where raw) and, for
 * named-array columns, each array's values, checked against the column:
 * one lookup of the record for both. */
static int look_one(pio_ds_batch *b, uint32_t j, uint64_t i, struct pio_error *err)
{
    const pio_reader *r = b->ds->shard[b->sh[j]].r;
    struct pio_frame *f = &b->seen[j];
    if (!b->any_array) {
        int rc = pio_reader_frame(r, b->fr[j], f, err);
        return rc ? wrap(i, rc, err) : 0;
    }
    struct pio_array arr[64];
    uint32_t narr = 0;
    int rc = pio__holo_frame_arrays(r, b->fr[j], f, arr, 64, &narr, err);
    if (rc != 0)
        return wrap(i, rc, err);
    return narr > 64 ? look_arrays(b, j, i, err) : match_arrays(b, j, i, arr, narr, err);
}

/* Each named-array column of structure j to its values among all[0..narr). */
static int match_arrays(pio_ds_batch *b, uint32_t j, uint64_t i, const struct pio_array *all,
                        uint32_t narr, struct pio_error *err)
{
    int rc = 0;
    for (uint32_t k = 0; k < b->ncol && rc == 0; k++) {
        const struct pio_batch_column *c = &b->col[k];
        if (b->kind[k] != K_ARRAY)
            continue;
        uint32_t q = 0;
        while (q < narr && strncmp(all[q].name, c->name, PIO_ARRAY_NAME_SIZE))
            q++;
        if (q == narr) {
            rc = name_err(b, i, PIO_EUSAGE, err, "no named array", c, "");
        } else if (all[q].dtype != c->dtype || all[q].width != c->width ||
                   all[q].per_atom != c->per_atom) {
            char d[96];
            snprintf(d, sizeof(d), ": %s x %u%s here, the batch's is %s x %u%s",
                     pio_dtype_name(all[q].dtype), all[q].width, all[q].per_atom ? " per atom" : "",
                     pio_dtype_name(c->dtype), c->width, c->per_atom ? " per atom" : "");
            rc = name_err(b, i, PIO_EUSAGE, err, "named array", c, d);
        } else {
            b->apt[(size_t)j * b->ncol + k] = all[q].data;
        }
    }
    return rc;
}

static void copy_scaled(float *dst, const float *src, uint64_t n, bool scale, float s)
{
    if (!scale) {
        memcpy(dst, src, (size_t)n * 4);
        return;
    }
    for (uint64_t q = 0; q < n; q++)
        dst[q] = src[q] * s;
}

/* Pass 2: structure j (dataset index i) into every column. */
static int fill_one(pio_ds_batch *b, uint32_t j, struct pio_error *err)
{
    const pio_reader *r = b->ds->shard[b->sh[j]].r;
    uint64_t fr = b->fr[j], i = (uint64_t)b->index[j], na = (uint64_t)b->natoms[j];
    bool padded = b->o.layout == PIO_BATCH_PADDED, ase = b->o.units == PIO_UNITS_ASE;
    uint64_t row0 = padded ? (uint64_t)j * b->atoms : (uint64_t)b->offsets[j];
    uint64_t rows_cap = padded ? b->atoms : na;
    struct pio_frame f = b->seen[j];
    int rc = 0;
    if (f.fields & PIO_FIELD_DECODED) {
        /* decoded in pass 1 into a ring that has moved on since: decode
         * again, straight into the batch */
        float(*xyz[3])[3] = {NULL, NULL, NULL};
        for (uint32_t k = 0; k < b->ncol; k++)
            if (b->kind[k] <= K_FRC)
                xyz[b->kind[k]] = (float(*)[3])b->col[k].data + row0;
        if ((rc = pio_reader_frame_into(r, fr, xyz, na, &f, err)) != 0)
            return wrap(i, rc, err);
        if (f.natoms != na)
            return pio_error_set(
                err, PIO_ECORRUPT, "%s: structure %llu (frame %llu): %llu atoms, %llu a moment ago",
                b->ds->shard[b->sh[j]].path, ULL(i), ULL(fr), ULL(f.natoms), ULL(na));
        /* a remote file's named arrays were copies in a ring that has
         * moved on too */
        if (b->any_array && (rc = look_arrays(b, j, i, err)) != 0)
            return rc;
    }
    for (uint32_t k = 0; k < b->ncol; k++) {
        struct pio_batch_column *c = &b->col[k];
        size_t es = pio_dtype_size(c->dtype);
        uint8_t *dst = (uint8_t *)c->data + (c->per_atom ? row0 : j) * c->width * es;
        switch (b->kind[k]) {
        case K_POS:
        case K_VEL:
        case K_FRC: {
            const float(*got[3])[3] = {f.positions, f.velocities, f.forces};
            const float *src = (const float *)got[b->kind[k]];
            if (!src)
                return name_err(b, i, PIO_EUSAGE, err, "no field", c, "");
            float s = b->kind[k] == K_FRC ? (float)(EV_PER_KJMOL / 10.0) : 10.0f;
            if (src != (const float *)dst) /* else decoded there */
                copy_scaled((float *)dst, src, na * 3, ase, s);
            else if (ase)
                copy_scaled((float *)dst, (const float *)dst, na * 3, true, s);
            break;
        }
        case K_CELL: {
            double *cell = (double *)dst;
            if (f.fields & PIO_FIELD_BOX)
                memcpy(cell, f.box, 72);
            else
                memset(cell, 0, 72);
            for (int q = 0; ase && q < 9; q++)
                cell[q] *= 10.0;
            break;
        }
        case K_SCALAR: {
            uint32_t q = 0;
            while (q < f.nscalars && strncmp(f.scalars[q].name, c->name, PIO_SCALAR_NAME_SIZE))
                q++;
            if (q == f.nscalars)
                return name_err(b, i, PIO_EUSAGE, err, "no scalar", c, "");
            memcpy(dst, &f.scalars[q].value, 8);
            break;
        }
        case K_ARRAY:
            memcpy(dst, b->apt[(size_t)j * b->ncol + k],
                   (size_t)((c->per_atom ? na : 1) * c->width * es));
            break;
        }
        if (padded && c->per_atom && rows_cap > na) /* zero padding */
            memset(dst + na * c->width * es, 0, (size_t)((rows_cap - na) * c->width * es));
    }
    if (padded) {
        memset(b->mask + (uint64_t)j * b->atoms, 1, (size_t)na);
        memset(b->mask + (uint64_t)j * b->atoms + na, 0, (size_t)(b->atoms - na));
    }
    return 0;
}

/* A part of a fill: structures [lo, hi) of pass 1 or 2, on a pool thread
 * or the caller's. The first error of a part is its own. */
struct part {
    struct pio_task task; /* first: the pool hands it back */
    pio_ds_batch *b;
    const uint64_t *idx;
    uint32_t lo, hi, n;
    int pass, rc;
    struct pio_error err;
};

static void part_run(struct pio_task *t)
{
    struct part *p = (struct part *)t;
    pio_ds_batch *b = p->b;
    p->rc = 0;
    if (p->pass == 1) {
        for (uint32_t j = p->lo; j < p->hi && j < p->lo + PREFETCH; j++)
            prefetch(b, p->idx[j]);
        for (uint32_t j = p->lo; j < p->hi && p->rc == 0; j++) {
            if (j + PREFETCH < p->hi)
                prefetch(b, p->idx[j + PREFETCH]);
            if (pio_dataset_locate(b->ds, p->idx[j], &b->sh[j], &b->fr[j]) != 0)
                p->rc = pio_error_set(&p->err, -ERANGE,
                                      "structure %llu out of range (the dataset holds %llu)",
                                      ULL(p->idx[j]), ULL(b->ds->n));
            else
                p->rc = look_one(b, j, p->idx[j], &p->err);
        }
        return;
    }
    /* pass 2: the arrays of the structures two ahead asked for first (their
     * first lines: every line of them measured no faster) */
    for (uint32_t j = p->lo; j < p->hi && p->rc == 0; j++) {
        if (j + 2 < p->hi) {
            const struct pio_frame *g = &b->seen[j + 2];
            const void *q[3] = {g->positions, g->velocities, g->forces};
            for (int a = 0; a < 3; a++)
                if (q[a]) {
                    __builtin_prefetch(q[a]);
                    __builtin_prefetch((const uint8_t *)q[a] + 64);
                }
        }
        p->rc = fill_one(b, j, &p->err);
    }
}

/* Pass `pass` over structures [0, n) in nparts parts: the first error in
 * structure order, into err. */
static int run_parts(pio_ds_batch *b, const uint64_t *idx, uint32_t n, int pass, uint32_t nparts,
                     struct pio_error *err)
{
    struct part p[MAX_PARTS];
    bool queued[MAX_PARTS] = {false};
    for (uint32_t k = 0; k < nparts; k++) {
        p[k] = (struct part){{part_run, NULL, NULL, PIO_TASK_QUEUED},
                             b,
                             idx,
                             (uint32_t)((uint64_t)n * k / nparts),
                             (uint32_t)((uint64_t)n * (k + 1) / nparts),
                             n,
                             pass,
                             0,
                             {0, {0}}};
        if (k > 0)
            queued[k] = pio_workers_submit(&p[k].task, nparts - 1);
    }
    part_run(&p[0].task);
    for (uint32_t k = 1; k < nparts; k++) {
        if (queued[k])
            pio_workers_wait(&p[k].task);
        else /* no pool (after fork) */
            part_run(&p[k].task);
    }
    for (uint32_t k = 0; k < nparts; k++)
        if (p[k].rc != 0) {
            if (err)
                *err = p[k].err;
            return p[k].rc;
        }
    return 0;
}

PIO_API int pio_ds_batch_fill(pio_ds_batch *b, const uint64_t *idx, uint32_t n,
                              struct pio_error *err)
{
    if (n > b->scap) {
        uint32_t *sh = realloc(b->sh, (size_t)n * sizeof(*sh));
        if (sh)
            b->sh = sh;
        uint64_t *fr = realloc(b->fr, (size_t)n * sizeof(*fr));
        if (fr)
            b->fr = fr;
        struct pio_frame *seen = realloc(b->seen, (size_t)n * sizeof(*seen));
        if (seen)
            b->seen = seen;
        const void **apt =
            b->any_array ? realloc(b->apt, (size_t)n * b->ncol * sizeof(*apt)) : b->apt;
        if (apt)
            b->apt = apt;
        if (!sh || !fr || !seen || (b->any_array && !apt))
            return fail(b, pio_error_set(err, -ENOMEM, "out of memory"));
        b->scap = n;
    }
    /* parts: at least 16 structures each */
    uint32_t nparts = b->threads;
    if (nparts > n / 16)
        nparts = n / 16;
    if (nparts < 1)
        nparts = 1;
    /* pass 1: where each structure is, its atoms, its views (the records
     * PREFETCH structures ahead asked for first: random reads wait on
     * memory, one cache miss after another, without it) */
    int rc = run_parts(b, idx, n, 1, nparts, err);
    if (rc != 0)
        return fail(b, rc);
    uint64_t total = 0, most = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint64_t na = b->seen[j].natoms;
        total += na;
        most = na > most ? na : most;
    }
    uint64_t per = (most + b->o.pad_atoms - 1) / b->o.pad_atoms * b->o.pad_atoms;
    uint64_t atoms_dim = b->o.layout == PIO_BATCH_PADDED ? per : total;
    if ((rc = take_memory(b, n, atoms_dim, err)) != 0)
        return fail(b, rc);
    b->n = n;
    b->atoms = atoms_dim;
    uint64_t off = 0;
    for (uint32_t j = 0; j < n; j++) {
        b->index[j] = (int64_t)idx[j];
        b->natoms[j] = (int64_t)b->seen[j].natoms;
        if (b->offsets)
            b->offsets[j] = (int64_t)off;
        off += b->seen[j].natoms;
    }
    if (b->offsets)
        b->offsets[n] = (int64_t)off;
    /* pass 2: the values */
    if ((rc = run_parts(b, idx, n, 2, nparts, err)) != 0)
        return fail(b, rc);
    return 0;
}

PIO_API uint32_t pio_ds_batch_len(const pio_ds_batch *b)
{
    return b->n;
}

PIO_API const int64_t *pio_ds_batch_index(const pio_ds_batch *b)
{
    return b->index;
}

PIO_API const int64_t *pio_ds_batch_natoms(const pio_ds_batch *b)
{
    return b->natoms;
}

PIO_API const int64_t *pio_ds_batch_offsets(const pio_ds_batch *b)
{
    return b->o.layout == PIO_BATCH_RAGGED ? b->offsets : NULL;
}

PIO_API const uint8_t *pio_ds_batch_mask(const pio_ds_batch *b)
{
    return b->o.layout == PIO_BATCH_PADDED ? b->mask : NULL;
}

PIO_API uint64_t pio_ds_batch_atoms(const pio_ds_batch *b)
{
    return b->atoms;
}

PIO_API uint32_t pio_ds_batch_ncolumns(const pio_ds_batch *b)
{
    return b->ncol;
}

PIO_API const struct pio_batch_column *pio_ds_batch_column(const pio_ds_batch *b, uint32_t k)
{
    return k < b->ncol ? &b->col[k] : NULL;
}

PIO_API const struct pio_batch_column *pio_ds_batch_find(const pio_ds_batch *b, const char *name)
{
    for (uint32_t k = 0; k < b->ncol; k++)
        if (strcmp(b->col[k].name, name) == 0)
            return &b->col[k];
    return NULL;
}

/* ---- DLPack ---- */

struct dl_holder {
    struct pio_dl_managed_tensor t; /* first: the consumer hands it back */
    int64_t shape[3];
    struct arena *arena;
};

static void dl_delete(struct pio_dl_managed_tensor *t)
{
    struct dl_holder *h = (struct dl_holder *)t;
    arena_unref(h->arena);
    free(h);
}

static struct pio_dl_dtype dl_dtype(uint32_t dtype)
{
    switch (dtype) {
    case PIO_DTYPE_I32:
        return (struct pio_dl_dtype){0, 32, 1};
    case PIO_DTYPE_I64:
        return (struct pio_dl_dtype){0, 64, 1};
    case PIO_DTYPE_F32:
        return (struct pio_dl_dtype){2, 32, 1};
    case PIO_DTYPE_F64:
        return (struct pio_dl_dtype){2, 64, 1};
    default: /* u8, char */
        return (struct pio_dl_dtype){1, 8, 1};
    }
}

PIO_API struct pio_dl_managed_tensor *pio_ds_batch_dlpack(pio_ds_batch *b, uint32_t k)
{
    void *data;
    int32_t ndim = 1;
    int64_t shape[3] = {b->n, 0, 0};
    uint32_t dtype = PIO_DTYPE_I64;
    bool padded = b->o.layout == PIO_BATCH_PADDED;
    switch (k) {
    case PIO_DL_INDEX:
        data = b->index;
        break;
    case PIO_DL_NATOMS:
        data = b->natoms;
        break;
    case PIO_DL_OFFSETS:
        if (padded)
            return NULL;
        data = b->offsets;
        shape[0] = b->n + 1;
        break;
    case PIO_DL_MASK:
        if (!padded)
            return NULL;
        data = b->mask;
        ndim = 2;
        shape[1] = (int64_t)b->atoms;
        dtype = PIO_DTYPE_U8;
        break;
    default:
        if (k >= b->ncol)
            return NULL;
        data = b->col[k].data;
        ndim = (int32_t)b->col[k].ndim;
        memcpy(shape, b->col[k].shape, sizeof(shape));
        dtype = b->col[k].dtype;
        break;
    }
    if (!data && b->n == 0 && !b->arena)
        return NULL; /* never filled */
    struct dl_holder *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    memcpy(h->shape, shape, sizeof(shape));
    h->t.dl_tensor.data = data;
    h->t.dl_tensor.device = (struct pio_dl_device){1, 0};
    h->t.dl_tensor.ndim = ndim;
    h->t.dl_tensor.dtype = dl_dtype(dtype);
    h->t.dl_tensor.shape = h->shape;
    h->t.dl_tensor.strides = NULL;
    h->t.dl_tensor.byte_offset = 0;
    h->t.manager_ctx = h;
    h->t.deleter = dl_delete;
    if (!b->o.buffer && b->arena) {
        h->arena = b->arena;
        atomic_fetch_add_explicit(&b->arena->refs, 1, memory_order_relaxed);
    }
    return &h->t;
}
