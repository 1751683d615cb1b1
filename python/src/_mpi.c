/*
 * prismio._mpi: the collective writer of prismio/mpi.h for mpi4py, under
 * prismio.mpi. A communicator arrives as its Fortran handle
 * (mpi4py's Comm.py2f()), so this needs MPI's headers, not mpi4py's.
 * Collective calls release the GIL: a rank's other threads run while it
 * waits for the others.
 */
#include <mpi.h>

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <stdlib.h>
#include <string.h>

#include "pio_pyerr.h"

typedef struct {
    PyObject_HEAD pio_mpi_writer *w;
} MpiWriter;

static int mw_init(MpiWriter *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"fcomm", "path", "overwrite", "salt", "lossless", "sync", NULL};
    long long fcomm;
    PyObject *path;
    int overwrite = 0, lossless = 0, sync = 1;
    const char *salt = NULL;
    Py_ssize_t salt_len = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "LO&|pz#pp", kwlist, &fcomm, PyUnicode_FSConverter,
                                     &path, &overwrite, &salt, &salt_len, &lossless, &sync))
        return -1;
    if (salt && salt_len != 16) {
        Py_DECREF(path);
        PyErr_SetString(PyExc_ValueError, "salt: 16 bytes");
        return -1;
    }
    if (self->w) {
        Py_DECREF(path);
        PyErr_SetString(PyExc_ValueError, "writer already open");
        return -1;
    }
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = (overwrite ? PIO_WRITER_OVERWRITE : 0) | (sync ? 0 : PIO_WRITER_NO_SYNC);
    o.salt = (const uint8_t *)salt;
    if (lossless)
        o.codec[0] = o.codec[1] = o.codec[2] = PIO_CODEC_LOSSLESS;
    MPI_Comm comm = MPI_Comm_f2c((MPI_Fint)fcomm);
    struct pio_error e = {0};
    pio_mpi_writer *w = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc =
        pio_mpi_writer_create(&w, comm, PyBytes_AS_STRING(path), &o, MPI_INFO_NULL, &e);
    Py_END_ALLOW_THREADS Py_DECREF(path);
    if (rc != 0) {
        raise_pio(rc, &e);
        return -1;
    }
    self->w = w;
    return 0;
}

static void mw_dealloc(MpiWriter *self)
{
    /* Closing is collective (and MPI may be finalised by now): a writer
     * dropped unclosed is left as it is, its file as of its last commit. */
    if (self->w)
        PyErr_WarnEx(PyExc_ResourceWarning,
                     "prismio.mpi.Writer dropped without close(): the file keeps its last "
                     "commit",
                     1);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static bool open_or_raise(MpiWriter *self)
{
    if (!self->w)
        PyErr_SetString(PyExc_ValueError, "writer closed");
    return self->w != NULL;
}

static PyObject *mw_set_metadata(MpiWriter *self, PyObject *args)
{
    const char *k, *v;
    if (!PyArg_ParseTuple(args, "ss", &k, &v) || !open_or_raise(self))
        return NULL;
    struct pio_error e = {0};
    int rc = pio_mpi_writer_set_metadata(self->w, k, v, &e);
    if (rc != 0)
        return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

/* (n, natoms, 3) float32 C-contiguous, or None */
static bool frames_array(PyObject *o, npy_intp n, npy_intp natoms, const char *what)
{
    PyArrayObject *a = (PyArrayObject *)o;
    if (o == Py_None)
        return true;
    if (!PyArray_Check(o) || PyArray_TYPE(a) != NPY_FLOAT32 || PyArray_NDIM(a) != 3 ||
        PyArray_DIM(a, 2) != 3 || !PyArray_IS_C_CONTIGUOUS(a) || PyArray_DIM(a, 0) != n ||
        (natoms >= 0 && PyArray_DIM(a, 1) != natoms)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: (frames, atoms, 3) float32, C-contiguous, as "
                     "positions",
                     what);
        return false;
    }
    return true;
}

/* append(positions, velocities, forces, boxes, steps, times): this rank's
 * n frames (n may be 0); the Python layer shapes and converts. */
static PyObject *mw_append(MpiWriter *self, PyObject *args)
{
    PyObject *pos, *vel, *frc, *box, *steps, *times;
    if (!PyArg_ParseTuple(args, "OOOOOO", &pos, &vel, &frc, &box, &steps, &times) ||
        !open_or_raise(self))
        return NULL;
    PyArrayObject *p = (PyArrayObject *)pos;
    if (!PyArray_Check(pos) || PyArray_NDIM(p) != 3)
        return PyErr_Format(PyExc_ValueError, "positions: (frames, atoms, 3) float32");
    if (!frames_array(pos, PyArray_DIM(p, 0), -1, "positions"))
        return NULL;
    npy_intp n = PyArray_DIM(p, 0), natoms = PyArray_DIM(p, 1);
    if (!frames_array(vel, n, natoms, "velocities") || !frames_array(frc, n, natoms, "forces"))
        return NULL;
    PyArrayObject *b = (PyArrayObject *)box, *s = (PyArrayObject *)steps,
                  *t = (PyArrayObject *)times;
    if ((box != Py_None &&
         (!PyArray_Check(box) || PyArray_TYPE(b) != NPY_FLOAT64 || PyArray_NDIM(b) != 3 ||
          PyArray_DIM(b, 0) != n || PyArray_DIM(b, 1) != 3 || PyArray_DIM(b, 2) != 3 ||
          !PyArray_IS_C_CONTIGUOUS(b))) ||
        !PyArray_Check(steps) || PyArray_TYPE(s) != NPY_INT64 || PyArray_NDIM(s) != 1 ||
        PyArray_DIM(s, 0) != n || !PyArray_IS_C_CONTIGUOUS(s) || !PyArray_Check(times) ||
        PyArray_TYPE(t) != NPY_FLOAT64 || PyArray_NDIM(t) != 1 || PyArray_DIM(t, 0) != n ||
        !PyArray_IS_C_CONTIGUOUS(t)) {
        PyErr_SetString(PyExc_ValueError,
                        "box (frames, 3, 3) float64 or None; steps int64 and times float64, "
                        "one a frame");
        return NULL;
    }
    struct pio_frame *f = calloc((size_t)n + 1, sizeof(*f));
    if (!f)
        return PyErr_NoMemory();
    size_t stride = (size_t)natoms * 3;
    for (npy_intp i = 0; i < n; i++) {
        f[i].natoms = (uint64_t)natoms;
        f[i].positions = (const float(*)[3])((const float *)PyArray_DATA(p) + (size_t)i * stride);
        if (vel != Py_None)
            f[i].velocities = (const float(*)[3])(
                (const float *)PyArray_DATA((PyArrayObject *)vel) + (size_t)i * stride);
        if (frc != Py_None)
            f[i].forces = (const float(*)[3])((const float *)PyArray_DATA((PyArrayObject *)frc) +
                                              (size_t)i * stride);
        f[i].fields = PIO_FIELD_POSITIONS;
        if (box != Py_None) {
            memcpy(f[i].box, (const double *)PyArray_DATA(b) + 9 * i, sizeof(f[i].box));
            f[i].fields |= PIO_FIELD_BOX;
        }
        f[i].step = ((const int64_t *)PyArray_DATA(s))[i];
        f[i].time = ((const double *)PyArray_DATA(t))[i];
    }
    struct pio_error e = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = pio_mpi_writer_append(self->w, f, (size_t)n, &e);
    Py_END_ALLOW_THREADS free(f);
    if (rc != 0)
        return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

/* append_atoms(positions, velocities, forces, box, step, time, natoms,
 * first_atom): this rank's slice (atoms, 3) of one frame */
static PyObject *mw_append_atoms(MpiWriter *self, PyObject *args)
{
    PyObject *pos, *vel, *frc, *box;
    long long step;
    double time;
    unsigned long long natoms, first;
    if (!PyArg_ParseTuple(args, "OOOOLdKK", &pos, &vel, &frc, &box, &step, &time, &natoms,
                          &first) ||
        !open_or_raise(self))
        return NULL;
    PyObject *xyz[3] = {pos, vel, frc};
    struct pio_frame f;
    memset(&f, 0, sizeof(f));
    const float(**dst[3])[3] = {&f.positions, &f.velocities, &f.forces};
    for (int k = 0; k < 3; k++) {
        PyArrayObject *a = (PyArrayObject *)xyz[k];
        if (xyz[k] == Py_None)
            continue;
        if (!PyArray_Check(xyz[k]) || PyArray_TYPE(a) != NPY_FLOAT32 || PyArray_NDIM(a) != 2 ||
            PyArray_DIM(a, 1) != 3 || !PyArray_IS_C_CONTIGUOUS(a) ||
            (k && (uint64_t)PyArray_DIM(a, 0) != f.natoms)) {
            PyErr_SetString(PyExc_ValueError, "(atoms, 3) float32, C-contiguous, as positions");
            return NULL;
        }
        if (k == 0)
            f.natoms = (uint64_t)PyArray_DIM(a, 0);
        *dst[k] = (const float(*)[3])PyArray_DATA(a);
    }
    f.fields = PIO_FIELD_POSITIONS;
    if (box != Py_None) {
        PyArrayObject *b = (PyArrayObject *)box;
        if (!PyArray_Check(box) || PyArray_TYPE(b) != NPY_FLOAT64 || PyArray_SIZE(b) != 9 ||
            !PyArray_IS_C_CONTIGUOUS(b)) {
            PyErr_SetString(PyExc_ValueError, "box: (3, 3) float64");
            return NULL;
        }
        memcpy(f.box, PyArray_DATA(b), sizeof(f.box));
        f.fields |= PIO_FIELD_BOX;
    }
    f.step = step;
    f.time = time;
    struct pio_error e = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = pio_mpi_writer_append_atoms(self->w, &f, natoms, first, &e);
    Py_END_ALLOW_THREADS if (rc != 0) return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

static PyObject *mw_commit(MpiWriter *self, PyObject *unused)
{
    (void)unused;
    if (!open_or_raise(self))
        return NULL;
    struct pio_error e = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = pio_mpi_writer_commit(self->w, &e);
    Py_END_ALLOW_THREADS if (rc != 0) return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

static PyObject *mw_close(MpiWriter *self, PyObject *unused)
{
    (void)unused;
    if (!self->w)
        Py_RETURN_NONE;
    pio_mpi_writer *w = self->w;
    self->w = NULL;
    struct pio_error e = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = pio_mpi_writer_close(w, &e);
    Py_END_ALLOW_THREADS if (rc != 0) return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

static PyObject *mw_nframes(MpiWriter *self, void *unused)
{
    (void)unused;
    if (!open_or_raise(self))
        return NULL;
    return PyLong_FromUnsignedLongLong(pio_mpi_writer_nframes(self->w));
}

static PyMethodDef mw_methods[] = {
    {"set_metadata", (PyCFunction)mw_set_metadata, METH_VARARGS,
     "set_metadata(key, value): before the first append; rank 0's are written"},
    {"append", (PyCFunction)mw_append, METH_VARARGS,
     "append(positions, velocities, forces, boxes, steps, times): collective"},
    {"append_atoms", (PyCFunction)mw_append_atoms, METH_VARARGS,
     "append_atoms(positions, velocities, forces, box, step, time, natoms, first_atom): "
     "collective, this rank's atoms of one frame"},
    {"commit", (PyCFunction)mw_commit, METH_NOARGS, "commit(): collective"},
    {"close", (PyCFunction)mw_close, METH_NOARGS, "close(): collective, a final commit"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef mw_getset[] = {
    {"nframes", (getter)mw_nframes, NULL, "frames in the file (every rank)", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject MpiWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio._mpi.Writer",
    .tp_basicsize = sizeof(MpiWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Writer(fcomm, path, overwrite=False, salt=None, lossless=False, sync=True)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)mw_init,
    .tp_dealloc = (destructor)mw_dealloc,
    .tp_methods = mw_methods,
    .tp_getset = mw_getset,
};

static PyObject *mod_block(PyObject *m, PyObject *args)
{
    (void)m;
    unsigned long long n;
    unsigned int rank, ranks;
    if (!PyArg_ParseTuple(args, "KII", &n, &rank, &ranks))
        return NULL;
    uint64_t first, count;
    pio_mpi_block(n, rank, ranks, &first, &count);
    return Py_BuildValue("KK", (unsigned long long)first, (unsigned long long)count);
}

static PyMethodDef mod_methods[] = {
    {"block", mod_block, METH_VARARGS, "block(n, rank, ranks) -> (first, count)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef mod = {
    PyModuleDef_HEAD_INIT, "_mpi", NULL, -1, mod_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__mpi(void)
{
    import_array();
    if (PyType_Ready(&MpiWriterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&mod);
    if (!m)
        return NULL;
    Py_INCREF(&MpiWriterType);
    if (PyModule_AddObject(m, "Writer", (PyObject *)&MpiWriterType) < 0) {
        Py_DECREF(&MpiWriterType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
