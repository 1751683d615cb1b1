/*
 * prismio._dataset: datasets of structures and their batches (the C API of
 * prismio/dataset.h), under prismio.dataset and prismio.torch.
 *
 * Zero copy: a batch's arrays are numpy arrays over the batch's memory,
 * all holding one owner of it (a DLPack reference, pio_ds_batch_dlpack) as
 * their base, so they stay valid after the next fill (which then moves to
 * new memory) and torch.from_numpy / torch.from_dlpack take them without a
 * copy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <prismio.h>

#include "pio_pyerr.h"

/* ---- Dataset ---- */

typedef struct {
    PyObject_HEAD pio_dataset *ds;
    PyObject *path;
    int check;
} Dataset;

static int ds_init(Dataset *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "check", NULL};
    PyObject *path;
    int check = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|p", kwlist, PyUnicode_FSConverter, &path,
                                     &check))
        return -1;
    struct pio_error e = {0};
    pio_dataset *ds = NULL;
    int rc;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS rc = pio_dataset_open(&ds, p, check ? PIO_DATASET_CHECK : 0, &e);
    Py_END_ALLOW_THREADS if (rc != 0)
    {
        Py_DECREF(path);
        raise_pio(rc, &e);
        return -1;
    }
    pio_dataset_close(self->ds);
    Py_XDECREF(self->path);
    self->ds = ds;
    self->path = path;
    self->check = check;
    return 0;
}

static void ds_dealloc(Dataset *self)
{
    pio_dataset_close(self->ds);
    Py_XDECREF(self->path);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ds_ok(Dataset *self)
{
    if (self->ds)
        return 1;
    PyErr_SetString(PyExc_ValueError, "dataset not opened");
    return 0;
}

static Py_ssize_t ds_len(Dataset *self)
{
    return self->ds ? (Py_ssize_t)pio_dataset_len(self->ds) : 0;
}

static PyObject *range_err(Dataset *self, unsigned long long i)
{
    struct pio_error e = {0};
    snprintf(e.message, sizeof(e.message), "structure %llu out of range (the dataset holds %llu)",
             i, (unsigned long long)pio_dataset_len(self->ds));
    return raise_pio(-ERANGE, &e);
}

static PyObject *ds_locate(Dataset *self, PyObject *arg)
{
    unsigned long long i = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred() || !ds_ok(self))
        return NULL;
    uint32_t s;
    uint64_t f;
    if (pio_dataset_locate(self->ds, i, &s, &f) != 0) {
        return range_err(self, i);
    }
    return Py_BuildValue("(IK)", s, (unsigned long long)f);
}

static PyObject *ds_shards(Dataset *self, PyObject *unused)
{
    (void)unused;
    if (!ds_ok(self))
        return NULL;
    uint32_t n = pio_dataset_nshards(self->ds);
    PyObject *l = PyList_New(n);
    for (uint32_t k = 0; l && k < n; k++) {
        PyObject *s = PyUnicode_DecodeFSDefault(pio_dataset_shard_path(self->ds, k));
        if (!s) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, k, s);
    }
    return l;
}

static PyObject *arr_copy(int nd, npy_intp *dims, int type, const void *src, size_t bytes)
{
    PyObject *a = PyArray_SimpleNew(nd, dims, type);
    if (a && bytes)
        memcpy(PyArray_DATA((PyArrayObject *)a), src, bytes);
    return a;
}

static int npy_type(uint32_t dtype)
{
    switch (dtype) {
    case PIO_DTYPE_U8:
        return NPY_UINT8;
    case PIO_DTYPE_I32:
        return NPY_INT32;
    case PIO_DTYPE_I64:
        return NPY_INT64;
    case PIO_DTYPE_F32:
        return NPY_FLOAT32;
    case PIO_DTYPE_F64:
        return NPY_FLOAT64;
    default:
        return -1;
    }
}

/* A named array's values as a new numpy array: per atom (natoms, width),
 * else (width,); char: a bytes object per row (list), or one bytes. */
static PyObject *named_array(const struct pio_array *a, uint64_t natoms)
{
    uint64_t rows = a->per_atom ? natoms : 1;
    if (a->dtype == PIO_DTYPE_CHAR) {
        if (!a->per_atom)
            return PyBytes_FromStringAndSize(a->data, (Py_ssize_t)strnlen(a->data, a->width));
        PyObject *l = PyList_New((Py_ssize_t)rows);
        for (uint64_t r = 0; l && r < rows; r++) {
            const char *p = (const char *)a->data + r * a->width;
            PyObject *s = PyBytes_FromStringAndSize(p, (Py_ssize_t)strnlen(p, a->width));
            if (!s) {
                Py_DECREF(l);
                return NULL;
            }
            PyList_SET_ITEM(l, (Py_ssize_t)r, s);
        }
        return l;
    }
    npy_intp dims[2] = {(npy_intp)rows, (npy_intp)a->width};
    size_t bytes = (size_t)(rows * a->width * pio_dtype_size(a->dtype));
    return a->per_atom ? arr_copy(2, dims, npy_type(a->dtype), a->data, bytes)
                       : arr_copy(1, dims + 1, npy_type(a->dtype), a->data, bytes);
}

/* structure(i): a dict of everything structure i holds, copied (nm,
 * kJ/mol/nm: HOLO's units): positions, velocities, forces, cell, step,
 * time, scalars (dict), arrays (dict). */
static PyObject *ds_structure(Dataset *self, PyObject *arg)
{
    unsigned long long i = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred() || !ds_ok(self))
        return NULL;
    uint32_t s;
    uint64_t fr;
    struct pio_error e = {0};
    if (pio_dataset_locate(self->ds, i, &s, &fr) != 0) {
        return range_err(self, i);
    }
    const pio_reader *r = pio_dataset_shard(self->ds, s);
    struct pio_frame f;
    int rc = pio_reader_frame(r, fr, &f, &e);
    uint32_t na = 0;
    struct pio_array *arr = NULL;
    if (rc == 0 && (f.fields & PIO_FIELD_ARRAYS)) {
        rc = pio_reader_frame_arrays(r, fr, NULL, 0, &na, &e);
        if (rc == 0 && !(arr = malloc((na ? na : 1) * sizeof(*arr))))
            return PyErr_NoMemory();
        if (rc == 0)
            rc = pio_reader_frame_arrays(r, fr, arr, na, &na, &e);
    }
    if (rc != 0) {
        free(arr);
        return raise_pio(rc, &e);
    }
    PyObject *d = PyDict_New(), *sc = PyDict_New(), *ad = PyDict_New();
    npy_intp dims[2] = {(npy_intp)f.natoms, 3}, bd[2] = {3, 3};
    const float(*xyz[3])[3] = {f.positions, f.velocities, f.forces};
    static const char *const nm[3] = {"positions", "velocities", "forces"};
    int ok = d && sc && ad;
    for (int k = 0; ok && k < 3; k++) {
        PyObject *a = xyz[k] ? arr_copy(2, dims, NPY_FLOAT32, xyz[k], (size_t)f.natoms * 12)
                             : (Py_INCREF(Py_None), Py_None);
        ok = a && PyDict_SetItemString(d, nm[k], a) == 0;
        Py_XDECREF(a);
    }
    if (ok) {
        PyObject *c = (f.fields & PIO_FIELD_BOX) ? arr_copy(2, bd, NPY_FLOAT64, f.box, 72)
                                                 : (Py_INCREF(Py_None), Py_None);
        ok = c && PyDict_SetItemString(d, "cell", c) == 0;
        Py_XDECREF(c);
    }
    for (uint32_t k = 0; ok && k < f.nscalars; k++) {
        PyObject *v = PyFloat_FromDouble(f.scalars[k].value);
        ok = v && PyDict_SetItemString(sc, f.scalars[k].name, v) == 0;
        Py_XDECREF(v);
    }
    for (uint32_t k = 0; ok && k < na; k++) {
        PyObject *v = named_array(&arr[k], f.natoms);
        ok = v && PyDict_SetItemString(ad, arr[k].name, v) == 0;
        Py_XDECREF(v);
    }
    free(arr);
    if (ok) {
        PyObject *st = PyLong_FromLongLong(f.step), *tm = PyFloat_FromDouble(f.time);
        ok = st && tm && PyDict_SetItemString(d, "step", st) == 0 &&
             PyDict_SetItemString(d, "time", tm) == 0 &&
             PyDict_SetItemString(d, "scalars", sc) == 0 &&
             PyDict_SetItemString(d, "arrays", ad) == 0;
        Py_XDECREF(st);
        Py_XDECREF(tm);
    }
    Py_XDECREF(sc);
    Py_XDECREF(ad);
    if (!ok) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

static PyMethodDef ds_methods[] = {
    {"locate", (PyCFunction)ds_locate, METH_O, "locate(i) -> (shard, frame)"},
    {"shards", (PyCFunction)ds_shards, METH_NOARGS, "the shards' paths"},
    {"structure", (PyCFunction)ds_structure, METH_O, "structure(i) -> dict (HOLO units)"},
    {NULL, NULL, 0, NULL}};

static PySequenceMethods ds_seq = {.sq_length = (lenfunc)ds_len};

static PyTypeObject DatasetType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio._dataset.Dataset",
    .tp_basicsize = sizeof(Dataset),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ds_init,
    .tp_dealloc = (destructor)ds_dealloc,
    .tp_methods = ds_methods,
    .tp_as_sequence = &ds_seq,
    .tp_doc = "Dataset(path, check=False): a HOLO file or a manifest of shards",
};

/* ---- Batcher: a reusable batch; fill() returns a dict of arrays ---- */

typedef struct {
    PyObject_HEAD pio_ds_batch *b;
    PyObject *ds; /* the Dataset, kept alive */
    int padded;
    /* one fill at a time: fill() lets go of the GIL, and a batch is used by
     * one thread at a time (prismio/dataset.h) */
    PyThread_type_lock lock;
} Batcher;

/* The base object of a batch array: it owns one DLPack tensor. */
typedef struct {
    PyObject_HEAD struct pio_dl_managed_tensor *t;
} Owner;

static void owner_dealloc(Owner *self)
{
    if (self->t)
        self->t->deleter(self->t);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject OwnerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio._dataset.BatchMemory",
    .tp_basicsize = sizeof(Owner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)owner_dealloc,
    .tp_doc = "memory of a batch array (a DLPack tensor's reference)",
};

static int batcher_init(Batcher *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"dataset", "columns", "padded", "units", "pinned", "pad_atoms", NULL};
    PyObject *ds, *cols;
    int padded = 0, pinned = 0;
    const char *units = "holo";
    unsigned pad = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O|pspI", kwlist, &DatasetType, &ds, &cols,
                                     &padded, &units, &pinned, &pad))
        return -1;
    if (!ds_ok((Dataset *)ds))
        return -1;
    PyObject *seq = PySequence_Fast(cols, "columns must be a sequence of names");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    const char **names = calloc((size_t)(n ? n : 1), sizeof(*names));
    for (Py_ssize_t k = 0; names && k < n; k++)
        if (!(names[k] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, k)))) {
            free(names);
            Py_DECREF(seq);
            return -1;
        }
    struct pio_batch_options o = PIO_BATCH_OPTIONS_INIT;
    o.layout = padded ? PIO_BATCH_PADDED : PIO_BATCH_RAGGED;
    if (strcmp(units, "ase") == 0)
        o.units = PIO_UNITS_ASE;
    else if (strcmp(units, "holo") != 0) {
        free(names);
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "units '%s': 'holo' (nm, kJ/mol/nm) or 'ase' (A, eV/A)",
                     units);
        return -1;
    }
    o.flags = pinned ? PIO_BATCH_PINNED : 0;
    o.columns = names;
    o.ncolumns = (uint32_t)n;
    o.pad_atoms = pad;
    struct pio_error e = {0};
    pio_ds_batch *b = NULL;
    int rc = names ? pio_ds_batch_create(&b, ((Dataset *)ds)->ds, &o, &e) : -ENOMEM;
    free(names);
    Py_DECREF(seq);
    if (rc != 0) {
        raise_pio(rc, &e);
        return -1;
    }
    if (!self->lock && !(self->lock = PyThread_allocate_lock())) {
        pio_ds_batch_free(b);
        PyErr_NoMemory();
        return -1;
    }
    pio_ds_batch_free(self->b);
    Py_XDECREF(self->ds);
    self->b = b;
    Py_INCREF(ds);
    self->ds = ds;
    self->padded = padded;
    return 0;
}

static void batcher_dealloc(Batcher *self)
{
    pio_ds_batch_free(self->b); /* arrays handed out keep their memory */
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_XDECREF(self->ds);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* fill(indices) -> dict: index, natoms, offsets or mask, then the columns. */
static PyObject *batcher_fill_locked(Batcher *self, PyObject *arg);

static PyObject *batcher_fill(Batcher *self, PyObject *arg)
{
    if (!self->b || !self->lock) {
        PyErr_SetString(PyExc_ValueError, "batcher not initialised");
        return NULL;
    }
    if (!PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS PyThread_acquire_lock(self->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
    PyObject *d = batcher_fill_locked(self, arg);
    PyThread_release_lock(self->lock);
    return d;
}

static PyObject *batcher_fill_locked(Batcher *self, PyObject *arg)
{
    if (!self->b) {
        PyErr_SetString(PyExc_ValueError, "batcher not initialised");
        return NULL;
    }
    PyArrayObject *idx = (PyArrayObject *)PyArray_FROMANY(
        arg, NPY_UINT64, 1, 1, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    if (!idx)
        return NULL;
    npy_intp n = PyArray_DIM(idx, 0);
    if (n > (npy_intp)UINT32_MAX) {
        Py_DECREF(idx);
        PyErr_SetString(PyExc_ValueError, "too many structures for one batch");
        return NULL;
    }
    struct pio_error e = {0};
    int rc;
    const uint64_t *p = PyArray_DATA(idx);
    Py_BEGIN_ALLOW_THREADS rc = pio_ds_batch_fill(self->b, p, (uint32_t)n, &e);
    Py_END_ALLOW_THREADS Py_DECREF(idx);
    if (rc != 0)
        return raise_pio(rc, &e);
    /* one owner of the batch's memory (a DLPack reference) for every array:
     * each array holds it; the arrays lie in one region, from index on (the
     * layout's first array) to the end of the last, which _base views, so a
     * DataLoader worker moves the batch in one copy (prismio.torch) */
    struct pio_dl_managed_tensor *t = pio_ds_batch_dlpack(self->b, PIO_DL_INDEX);
    Owner *o = t ? PyObject_New(Owner, &OwnerType) : NULL;
    if (!o) {
        if (t)
            t->deleter(t);
        return PyErr_NoMemory();
    }
    o->t = t;
    PyObject *d = PyDict_New();
    uint32_t n32 = pio_ds_batch_len(self->b);
    npy_intp nn = (npy_intp)n32, n1 = nn + 1,
             mask_dims[2] = {nn, (npy_intp)pio_ds_batch_atoms(self->b)};
    uint8_t *lo = (uint8_t *)pio_ds_batch_index(self->b), *hi = lo;
    struct {
        const char *name;
        const void *data;
        int nd, type;
        npy_intp *dims;
    } fixed[3] = {{"index", pio_ds_batch_index(self->b), 1, NPY_INT64, &nn},
                  {"natoms", pio_ds_batch_natoms(self->b), 1, NPY_INT64, &nn},
                  {self->padded ? "mask" : "offsets",
                   self->padded ? (const void *)pio_ds_batch_mask(self->b)
                                : (const void *)pio_ds_batch_offsets(self->b),
                   self->padded ? 2 : 1, self->padded ? NPY_UINT8 : NPY_INT64,
                   self->padded ? mask_dims : &n1}};
    uint32_t ncol = pio_ds_batch_ncolumns(self->b);
    for (uint32_t j = 0; d && j < 3 + ncol; j++) {
        const char *name;
        const void *data;
        int nd, type;
        npy_intp dims[3], *dp = dims;
        if (j < 3) {
            name = fixed[j].name;
            data = fixed[j].data;
            nd = fixed[j].nd;
            type = fixed[j].type;
            dp = fixed[j].dims;
        } else {
            const struct pio_batch_column *c = pio_ds_batch_column(self->b, j - 3);
            name = c->name;
            data = c->data;
            nd = (int)c->ndim;
            type = npy_type(c->dtype);
            type = type < 0 ? NPY_UINT8 : type; /* char: bytes */
            for (int q = 0; q < nd; q++)
                dims[q] = (npy_intp)c->shape[q];
        }
        PyObject *a = PyArray_SimpleNewFromData(nd, dp, type, (void *)data);
        if (a) {
            Py_INCREF(o);
            if (PyArray_SetBaseObject((PyArrayObject *)a, (PyObject *)o) < 0) {
                Py_DECREF(a);
                a = NULL;
            }
        }
        if (!a || PyDict_SetItemString(d, name, a) < 0) {
            Py_XDECREF(a);
            Py_CLEAR(d);
            break;
        }
        uint8_t *p = PyArray_DATA((PyArrayObject *)a), *e = p + PyArray_NBYTES((PyArrayObject *)a);
        lo = p < lo ? p : lo;
        hi = e > hi ? e : hi;
        Py_DECREF(a);
    }
    npy_intp nb = (npy_intp)(hi - lo);
    PyObject *base = d ? PyArray_SimpleNewFromData(1, &nb, NPY_UINT8, lo) : NULL;
    if (base) {
        Py_INCREF(o);
        if (PyArray_SetBaseObject((PyArrayObject *)base, (PyObject *)o) < 0)
            Py_CLEAR(base);
    }
    if (d && (!base || PyDict_SetItemString(d, "_base", base) < 0))
        Py_CLEAR(d);
    Py_XDECREF(base);
    Py_DECREF(o); /* the arrays hold it */
    return d;
}

static PyMethodDef batcher_methods[] = {
    {"fill", (PyCFunction)batcher_fill, METH_O, "fill(indices) -> dict of numpy arrays"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject BatcherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio._dataset.Batcher",
    .tp_basicsize = sizeof(Batcher),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)batcher_init,
    .tp_dealloc = (destructor)batcher_dealloc,
    .tp_methods = batcher_methods,
    .tp_doc = "Batcher(dataset, columns, padded=False, units='holo', pinned=False, pad_atoms=0)",
};

/* ---- writing: one structure with named arrays ---- */

typedef struct {
    PyObject_HEAD pio_writer *w;
} DsWriter;

static int dsw_init(DsWriter *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "overwrite", "sync", NULL};
    PyObject *path;
    int overwrite = 0, sync = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|pp", kwlist, PyUnicode_FSConverter, &path,
                                     &overwrite, &sync))
        return -1;
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_ARRAYS | (overwrite ? PIO_WRITER_OVERWRITE : 0) |
              (sync ? 0 : PIO_WRITER_NO_SYNC);
    struct pio_error e = {0};
    pio_writer *w = NULL;
    int rc = pio_writer_create(&w, PyBytes_AS_STRING(path), &o, &e);
    Py_DECREF(path);
    if (rc != 0) {
        raise_pio(rc, &e);
        return -1;
    }
    pio_writer_close(self->w, NULL);
    self->w = w;
    return 0;
}

static void dsw_dealloc(DsWriter *self)
{
    pio_writer_close(self->w, NULL);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int dtype_of(PyArrayObject *a)
{
    switch (PyArray_TYPE(a)) {
    case NPY_UINT8:
    case NPY_BOOL:
        return PIO_DTYPE_U8;
    case NPY_INT32:
        return PIO_DTYPE_I32;
    case NPY_INT64:
        return PIO_DTYPE_I64;
    case NPY_FLOAT32:
        return PIO_DTYPE_F32;
    case NPY_FLOAT64:
        return PIO_DTYPE_F64;
    case NPY_STRING:
        return PIO_DTYPE_CHAR;
    default:
        return 0;
    }
}

/* append(positions, forces, velocities, cell, scalars: dict, arrays: dict
 * name -> (per_atom, array)): arrays C-contiguous of a supported dtype
 * (the Python layer converts). */
static PyObject *dsw_append(DsWriter *self, PyObject *args)
{
    PyObject *pos, *frc, *vel, *cell, *scd, *ard;
    long long step = 0;
    double time = 0;
    if (!PyArg_ParseTuple(args, "OOOOO!O!Ld", &pos, &frc, &vel, &cell, &PyDict_Type, &scd,
                          &PyDict_Type, &ard, &step, &time))
        return NULL;
    if (!self->w) {
        PyErr_SetString(PyExc_ValueError, "writer closed");
        return NULL;
    }
    struct pio_frame f;
    memset(&f, 0, sizeof(f));
    PyObject *xyz[3] = {pos, vel, frc};
    const float(**dst[3])[3] = {&f.positions, &f.velocities, &f.forces};
    for (int k = 0; k < 3; k++) {
        if (xyz[k] == Py_None)
            continue;
        PyArrayObject *a = (PyArrayObject *)xyz[k];
        if (!PyArray_Check(xyz[k]) || PyArray_TYPE(a) != NPY_FLOAT32 || PyArray_NDIM(a) != 2 ||
            PyArray_DIM(a, 1) != 3 || !PyArray_IS_C_CONTIGUOUS(a)) {
            PyErr_SetString(PyExc_TypeError, "arrays of (natoms, 3) float32, C-contiguous");
            return NULL;
        }
        if (k == 0)
            f.natoms = (uint64_t)PyArray_DIM(a, 0);
        else if ((uint64_t)PyArray_DIM(a, 0) != f.natoms) {
            PyErr_SetString(PyExc_ValueError, "arrays of another atom count than positions");
            return NULL;
        }
        *dst[k] = PyArray_DATA(a);
    }
    if (cell != Py_None) {
        PyArrayObject *c = (PyArrayObject *)cell;
        if (!PyArray_Check(cell) || PyArray_TYPE(c) != NPY_FLOAT64 || PyArray_SIZE(c) != 9 ||
            !PyArray_IS_C_CONTIGUOUS(c)) {
            PyErr_SetString(PyExc_TypeError, "cell: 9 float64, C-contiguous");
            return NULL;
        }
        memcpy(f.box, PyArray_DATA(c), 72);
        f.fields |= PIO_FIELD_BOX;
    }
    f.step = step;
    f.time = time;
    Py_ssize_t ns = PyDict_Size(scd), na = PyDict_Size(ard), pos_i = 0, k = 0;
    struct pio_scalar *sc = calloc((size_t)(ns ? ns : 1), sizeof(*sc));
    struct pio_array *ar = calloc((size_t)(na ? na : 1), sizeof(*ar));
    PyObject *key, *val;
    int ok = sc && ar;
    while (ok && PyDict_Next(scd, &pos_i, &key, &val)) {
        const char *s = PyUnicode_AsUTF8(key);
        double v = PyFloat_AsDouble(val);
        if (!s || PyErr_Occurred() || strlen(s) >= PIO_SCALAR_NAME_SIZE) {
            if (s && !PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "scalar name '%s': at most 23 characters", s);
            ok = 0;
            break;
        }
        strcpy(sc[k].name, s);
        sc[k++].value = v;
    }
    f.nscalars = (uint32_t)k;
    f.scalars = sc;
    pos_i = 0;
    k = 0;
    while (ok && PyDict_Next(ard, &pos_i, &key, &val)) {
        const char *s = PyUnicode_AsUTF8(key);
        int per_atom;
        PyObject *arr;
        if (!s || !PyArg_ParseTuple(val, "pO", &per_atom, &arr) || !PyArray_Check(arr)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "arrays: name -> (per_atom, ndarray)");
            ok = 0;
            break;
        }
        PyArrayObject *a = (PyArrayObject *)arr;
        int dt = dtype_of(a);
        if (!dt || !PyArray_IS_C_CONTIGUOUS(a) || strlen(s) >= PIO_ARRAY_NAME_SIZE) {
            PyErr_Format(PyExc_ValueError,
                         "array '%s': a C-contiguous u8, i32, i64, f32, f64 or bytes array, "
                         "name at most 31 characters",
                         s);
            ok = 0;
            break;
        }
        /* the width from the shape (a per-atom array: its first axis is the
         * atoms, every other one the row; text: bytes a value times values) */
        uint64_t width = dt == PIO_DTYPE_CHAR ? (uint64_t)PyArray_ITEMSIZE(a) : 1;
        int nd = PyArray_NDIM(a);
        for (int d = per_atom ? 1 : 0; d < nd; d++)
            width *= (uint64_t)PyArray_DIM(a, d);
        if (per_atom && (nd < 1 || (uint64_t)PyArray_DIM(a, 0) != f.natoms)) {
            PyErr_Format(PyExc_ValueError,
                         "array '%s': per atom, its first axis must be the %llu "
                         "atoms",
                         s, (unsigned long long)f.natoms);
            ok = 0;
            break;
        }
        if (width == 0 || width > UINT32_MAX) {
            PyErr_Format(PyExc_ValueError, "array '%s': rows of %llu values", s,
                         (unsigned long long)width);
            ok = 0;
            break;
        }
        strcpy(ar[k].name, s);
        ar[k].dtype = (uint32_t)dt;
        ar[k].per_atom = (uint32_t)per_atom;
        ar[k].width = (uint32_t)width;
        ar[k].data = PyArray_DATA(a);
        k++;
    }
    int rc = 0;
    struct pio_error e = {0};
    if (ok) {
        Py_BEGIN_ALLOW_THREADS rc = pio_writer_append_arrays(self->w, &f, ar, (uint32_t)k, &e);
        Py_END_ALLOW_THREADS
    }
    free(sc);
    free(ar);
    if (!ok)
        return NULL;
    if (rc != 0)
        return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

static PyObject *dsw_set_metadata(DsWriter *self, PyObject *args)
{
    const char *k, *v;
    if (!PyArg_ParseTuple(args, "ss", &k, &v))
        return NULL;
    struct pio_error e = {0};
    int rc = self->w ? pio_writer_set_metadata(self->w, k, v, &e) : PIO_EUSAGE;
    if (rc != 0)
        return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

static PyObject *dsw_close(DsWriter *self, PyObject *unused)
{
    (void)unused;
    pio_writer *w = self->w;
    self->w = NULL;
    struct pio_error e = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = pio_writer_close(w, &e);
    Py_END_ALLOW_THREADS if (rc != 0) return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

static PyMethodDef dsw_methods[] = {
    {"append", (PyCFunction)dsw_append, METH_VARARGS, "(see prismio.dataset.Writer)"},
    {"set_metadata", (PyCFunction)dsw_set_metadata, METH_VARARGS, "set_metadata(key, value)"},
    {"close", (PyCFunction)dsw_close, METH_NOARGS, "commit and close"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject DsWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio._dataset.Writer",
    .tp_basicsize = sizeof(DsWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)dsw_init,
    .tp_dealloc = (destructor)dsw_dealloc,
    .tp_methods = dsw_methods,
    .tp_doc = "Writer(path, overwrite=False, sync=True): a HOLO 2.3 dataset file",
};

/* shuffle(n, seed, epoch) -> uint64 array (pio_dataset_shuffle) */
static PyObject *mod_shuffle(PyObject *m, PyObject *args)
{
    (void)m;
    unsigned long long n, seed, epoch;
    if (!PyArg_ParseTuple(args, "KKK", &n, &seed, &epoch))
        return NULL;
    npy_intp d = (npy_intp)n;
    PyObject *a = PyArray_SimpleNew(1, &d, NPY_UINT64);
    if (a)
        pio_dataset_shuffle(PyArray_DATA((PyArrayObject *)a), n, seed, epoch);
    return a;
}

static PyMethodDef mod_methods[] = {
    {"shuffle", mod_shuffle, METH_VARARGS, "shuffle(n, seed, epoch) -> permutation (uint64)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT,
                                    "_dataset",
                                    "prism-io: datasets of structures",
                                    -1,
                                    mod_methods,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL};

PyMODINIT_FUNC PyInit__dataset(void)
{
    import_array();
    if (PyType_Ready(&DatasetType) < 0 || PyType_Ready(&BatcherType) < 0 ||
        PyType_Ready(&OwnerType) < 0 || PyType_Ready(&DsWriterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m)
        return NULL;
    Py_INCREF(&DatasetType);
    Py_INCREF(&BatcherType);
    Py_INCREF(&DsWriterType);
    if (PyModule_AddObject(m, "Dataset", (PyObject *)&DatasetType) < 0 ||
        PyModule_AddObject(m, "Batcher", (PyObject *)&BatcherType) < 0 ||
        PyModule_AddObject(m, "Writer", (PyObject *)&DsWriterType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
