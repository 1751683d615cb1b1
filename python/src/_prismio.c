/*
 * prismio._prismio: the C extension under the `prismio` package, over the
 * public C API only.
 *
 * Zero copy: a Frame's arrays are read-only (natoms, 3) float32 numpy
 * arrays whose data is the frame's bytes in the reader's mapping and whose
 * base is the Frame. Every Frame holds a reference to its Trajectory and
 * counts as a live export from its creation to its death (its arrays keep
 * it alive): close() with live exports raises instead of unmapping memory
 * that arrays still use, and the mapping stays until the last one is gone.
 * Frames and the iterator are C types: iterating costs a C call per frame,
 * not a dict, a Python object and a buffer-protocol round trip.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <unistd.h>

#include <prismio.h>

typedef struct {
    PyObject_HEAD pio_reader *r;
    Py_ssize_t exports; /* live Frames (each, with its arrays, a view of the mapping) */
    PyObject *path;
    int pending; /* closed with live views: unmap when the last one goes */
    int check;   /* PIO_READER_CHECK_FRAMES: each frame's BLAKE3 checked on first access */
    int running; /* reads and checks running without the GIL (refresh() waits for none) */
} Trajectory;

/* One frame: its header values, pointers into the mapping, and what its
 * box and scalars became on first use. */
typedef struct {
    PyObject_HEAD Trajectory *traj;
    struct pio_frame f;
    PyObject *box, *scalars;
    float *owned; /* a compressed frame's decoded arrays, copied (the reader's
                   * decode buffers are reused) */
} Frame;

static PyTypeObject TrajectoryType, FrameType, TrajIterType;

/* ---- exceptions ------------------------------------------------------------------- *
 *
 * One class per error code, under prismio.Error (see the module's docstring
 * in prismio/__init__.py for the tree). A failure of the file or the OS
 * (the data, the format, -errno) is also an OSError, so `except OSError`
 * keeps catching what it always caught; a bad argument or call sequence is
 * also a ValueError, an index past the end also an IndexError. Each class
 * has the C code as `code`; an instance has the code it was raised for
 * (errno too, for -errno codes). */

static PyObject *Error, *FileError, *CorruptError, *ChecksumError, *TruncatedError, *FormatError,
    *VersionError, *LimitError, *UnsupportedError, *NotFoundError, *ExistsError,
    *PermissionDeniedError, *IsDirectoryError, *UsageError, *RangeError;

static const struct exc_def {
    PyObject **cls;
    const char *name;
    PyObject **base, **builtin; /* a prismio base (NULL: Exception), a builtin base or NULL */
    int code;
    const char *doc;
} exc_defs[] = {
    {&Error, "prismio.Error", NULL, NULL, 0,
     "Base of every error prism-io raises for a failure the C library reports.\n"
     "`code` is the library's code (0 when none applies: see the subclasses)."},
    {&FileError, "prismio.FileError", &Error, &PyExc_OSError, 0,
     "A file could not be read or written as asked (also an OSError): the base of\n"
     "damaged data, wrong formats and versions, limits, unsupported features and\n"
     "operating-system failures (-errno codes, with errno set)."},
    {&CorruptError, "prismio.CorruptError", &FileError, NULL, PIO_ECORRUPT,
     "PIO_ECORRUPT: the structure of the data is invalid (the file is damaged)."},
    {&ChecksumError, "prismio.ChecksumError", &CorruptError, NULL, PIO_ECHECKSUM,
     "PIO_ECHECKSUM: a checksum does not match the data (the file is damaged)."},
    {&TruncatedError, "prismio.TruncatedError", &CorruptError, NULL, PIO_ETRUNCATED,
     "PIO_ETRUNCATED: the data ends before a structure it promises (a cut file)."},
    {&FormatError, "prismio.FormatError", &FileError, NULL, PIO_EFORMAT,
     "PIO_EFORMAT: not a file of the expected format (bad magic)."},
    {&VersionError, "prismio.VersionError", &FileError, NULL, PIO_EVERSION,
     "PIO_EVERSION: a format version or required feature this library does not know."},
    {&LimitError, "prismio.LimitError", &FileError, NULL, PIO_ELIMIT,
     "PIO_ELIMIT: a value exceeds a limit of the format or the library."},
    {&UnsupportedError, "prismio.UnsupportedError", &FileError, NULL, PIO_ENOTSUPPORTED,
     "PIO_ENOTSUPPORTED: a feature this build or CPU does not support."},
    {&NotFoundError, "prismio.NotFoundError", &FileError, &PyExc_FileNotFoundError, -ENOENT,
     "-ENOENT: no such file (also a FileNotFoundError)."},
    {&ExistsError, "prismio.ExistsError", &FileError, &PyExc_FileExistsError, -EEXIST,
     "-EEXIST: the file exists and is not replaced (also a FileExistsError)."},
    {&PermissionDeniedError, "prismio.PermissionDeniedError", &FileError, &PyExc_PermissionError,
     -EACCES, "-EACCES, -EPERM: permission denied (also a PermissionError)."},
    {&IsDirectoryError, "prismio.IsDirectoryError", &FileError, &PyExc_IsADirectoryError, -EISDIR,
     "-EISDIR: a directory where a file was expected (also an IsADirectoryError)."},
    {&UsageError, "prismio.UsageError", &Error, &PyExc_ValueError, PIO_EUSAGE,
     "PIO_EUSAGE: an invalid argument or call sequence (also a ValueError): a bad\n"
     "selection, a closed trajectory or writer, an unknown engine, ..."},
    {&RangeError, "prismio.RangeError", &UsageError, &PyExc_IndexError, -ERANGE,
     "-ERANGE: an index out of range, a frame or an atom (also an IndexError and,\n"
     "as a UsageError, a ValueError)."},
};

static int exceptions_init(PyObject *m)
{
    for (size_t k = 0; k < sizeof(exc_defs) / sizeof(exc_defs[0]); k++) {
        const struct exc_def *d = &exc_defs[k];
        PyObject *b0 = d->base ? *d->base : PyExc_Exception;
        PyObject *bases = d->builtin ? PyTuple_Pack(2, b0, *d->builtin) : PyTuple_Pack(1, b0);
        PyObject *dict = Py_BuildValue("{s:i}", "code", d->code);
        if (bases && dict)
            *d->cls = PyErr_NewExceptionWithDoc(d->name, d->doc, bases, dict);
        Py_XDECREF(bases);
        Py_XDECREF(dict);
        if (!*d->cls)
            return -1;
        Py_INCREF(*d->cls);
        if (PyModule_AddObject(m, strchr(d->name, '.') + 1, *d->cls) < 0) {
            Py_DECREF(*d->cls);
            return -1;
        }
    }
    return 0;
}

/* The class raised for a code: 0 is no error (NULL). */
static PyObject *error_class(int rc)
{
    switch (rc) {
    case 0:
        return NULL;
    case PIO_ECORRUPT:
        return CorruptError;
    case PIO_ECHECKSUM:
        return ChecksumError;
    case PIO_ETRUNCATED:
        return TruncatedError;
    case PIO_EFORMAT:
        return FormatError;
    case PIO_EVERSION:
        return VersionError;
    case PIO_ELIMIT:
        return LimitError;
    case PIO_ENOTSUPPORTED:
        return UnsupportedError;
    case PIO_EUSAGE:
        return UsageError;
    case -ERANGE:
        return RangeError;
    case -ENOENT:
        return NotFoundError;
    case -EEXIST:
        return ExistsError;
    case -EACCES:
    case -EPERM:
        return PermissionDeniedError;
    case -EISDIR:
        return IsDirectoryError;
    default:
        return FileError; /* any other -errno, or a code this build does not know */
    }
}

/* Raise the class for rc with `msg` (UTF-8; bytes that are not become
 * U+FFFD: paths need not be UTF-8) as Class(msg), so str(e) is the message
 * as it always was; `code` = rc, and for -errno codes `errno` too. */
static PyObject *raise_code(int rc, const char *msg)
{
    PyObject *cls = error_class(rc);
    PyObject *text = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace");
    if (!cls || !text) {
        Py_XDECREF(text);
        if (!cls)
            PyErr_SetString(PyExc_SystemError, "raise_code: no error");
        return NULL;
    }
    bool os_errno = rc < 0 && rc > -4096 && rc != -ERANGE; /* Linux errno values < 4096 */
    PyObject *exc = PyObject_CallFunctionObjArgs(cls, text, NULL);
    Py_DECREF(text);
    if (!exc)
        return NULL;
    PyObject *code = PyLong_FromLong(rc), *eno = os_errno ? PyLong_FromLong(-rc) : NULL;
    if (code && (!os_errno || (eno && PyObject_SetAttrString(exc, "errno", eno) == 0)) &&
        PyObject_SetAttrString(exc, "code", code) == 0)
        PyErr_SetObject(cls, exc);
    Py_XDECREF(code);
    Py_XDECREF(eno);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *raise_pio(int rc, const struct pio_error *e)
{
    return raise_code(rc, e && e->message[0] ? e->message : pio_strerror(rc));
}

/* raise_code with a printf-style message (PyUnicode_FromFormat's). */
static PyObject *raise_fmt(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PyObject *s = PyUnicode_FromFormatV(fmt, ap);
    va_end(ap);
    const char *u = s ? PyUnicode_AsUTF8(s) : NULL;
    if (u)
        raise_code(rc, u);
    Py_XDECREF(s);
    return NULL;
}

/* ---- Frame ------------------------------------------------------------------------ */

/* One live export less: a deferred close happens with the last. */
static void export_done(Trajectory *t)
{
    if (--t->exports == 0 && t->pending) {
        pio_reader_close(t->r);
        t->r = NULL;
        t->pending = 0;
    }
}

/* A Frame counts as a live export from its creation to its death (numpy
 * arrays keep it alive through their base). */
static void frame_dealloc(Frame *fr)
{
    if (fr->traj)
        export_done(fr->traj);
    Py_XDECREF(fr->box);
    Py_XDECREF(fr->scalars);
    Py_XDECREF(fr->traj);
    PyMem_Free(fr->owned);
    PyObject_Free(fr);
}

/* A read-only (natoms, 3) float32 array over `data` whose base is the
 * Frame (None when the frame lacks the field). */
static PyObject *frame_array(Frame *fr, const float (*data)[3])
{
    if (!data)
        Py_RETURN_NONE;
    npy_intp dims[2] = {(npy_intp)fr->f.natoms, 3};
    PyObject *a = PyArray_New(&PyArray_Type, 2, dims, NPY_FLOAT32, NULL, (void *)data, 0,
                              NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED, NULL);
    if (!a)
        return NULL;
    Py_INCREF(fr);
    if (PyArray_SetBaseObject((PyArrayObject *)a, (PyObject *)fr) < 0) { /* steals fr */
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

static PyObject *frame_positions(Frame *fr, void *unused)
{
    (void)unused;
    return frame_array(fr, fr->f.positions);
}

static PyObject *frame_velocities(Frame *fr, void *unused)
{
    (void)unused;
    return frame_array(fr, fr->f.velocities);
}

static PyObject *frame_forces(Frame *fr, void *unused)
{
    (void)unused;
    return frame_array(fr, fr->f.forces);
}

/* The box as a new (3, 3) float64 array (rows a, b, c; nm), or None. */
static PyObject *frame_box(Frame *fr, void *unused)
{
    (void)unused;
    if (!(fr->f.fields & PIO_FIELD_BOX))
        Py_RETURN_NONE;
    if (!fr->box) {
        npy_intp dims[2] = {3, 3};
        fr->box = PyArray_SimpleNew(2, dims, NPY_FLOAT64);
        if (!fr->box)
            return NULL;
        memcpy(PyArray_DATA((PyArrayObject *)fr->box), fr->f.box, sizeof(fr->f.box));
    }
    Py_INCREF(fr->box);
    return fr->box;
}

static PyObject *frame_scalars(Frame *fr, void *unused)
{
    (void)unused;
    if (!fr->scalars) {
        PyObject *d = PyDict_New();
        for (uint32_t k = 0; d && k < fr->f.nscalars; k++) {
            PyObject *v = PyFloat_FromDouble(fr->f.scalars[k].value);
            if (!v || PyDict_SetItemString(d, fr->f.scalars[k].name, v) != 0)
                Py_CLEAR(d);
            Py_XDECREF(v);
        }
        if (!d)
            return NULL;
        fr->scalars = d;
    }
    Py_INCREF(fr->scalars);
    return fr->scalars;
}

static PyObject *frame_repr(Frame *fr)
{
    char t[64];
    snprintf(t, sizeof(t), "%g", fr->f.time);
    return PyUnicode_FromFormat("<prismio.Frame %llu: %llu atoms, step %lld, t=%s ps>",
                                (unsigned long long)fr->f.index, (unsigned long long)fr->f.natoms,
                                (long long)fr->f.step, t);
}

static PyGetSetDef frame_getset[] = {
    {"positions", (getter)frame_positions, NULL, "(natoms, 3) float32, nm (a view)", NULL},
    {"velocities", (getter)frame_velocities, NULL, "(natoms, 3) float32, nm/ps, or None", NULL},
    {"forces", (getter)frame_forces, NULL, "(natoms, 3) float32, kJ/mol/nm, or None", NULL},
    {"box", (getter)frame_box, NULL, "(3, 3) float64 rows a, b, c (nm), or None", NULL},
    {"scalars", (getter)frame_scalars, NULL, "dict of named per-frame values", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMemberDef frame_members[] = {
    {"index", T_ULONGLONG, offsetof(Frame, f.index), READONLY, "frame number"},
    {"step", T_LONGLONG, offsetof(Frame, f.step), READONLY, "MD step"},
    {"time", T_DOUBLE, offsetof(Frame, f.time), READONLY, "time (ps)"},
    {"natoms", T_ULONGLONG, offsetof(Frame, f.natoms), READONLY, "atoms in this frame"},
    {NULL, 0, 0, 0, NULL}};

static PyTypeObject FrameType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio.Frame",
    .tp_basicsize = sizeof(Frame),
    .tp_dealloc = (destructor)frame_dealloc,
    .tp_repr = (reprfunc)frame_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One frame: positions (nm), velocities (nm/ps), forces (kJ/mol/nm) as read-only\n"
              "float32 views of the file (None when absent), box (3x3 rows, nm) or None,\n"
              "step, time (ps), natoms, index, scalars (dict). The frame holds the mapping\n"
              "as its arrays do.",
    .tp_getset = frame_getset,
    .tp_members = frame_members,
};

static bool traj_open(Trajectory *t);

/* Frame i (negative counts from the end) of an open trajectory. */
static PyObject *frame_make(Trajectory *t, Py_ssize_t i)
{
    Py_ssize_t n = (Py_ssize_t)pio_reader_nframes(t->r), given = i;
    if (i < 0)
        i += n;
    if (i < 0 || i >= n)
        return raise_fmt(-ERANGE, "frame %zd out of range (%zd frames)", given, n);
    Frame *fr = PyObject_New(Frame, &FrameType);
    if (!fr)
        return NULL;
    fr->traj = NULL;
    fr->box = fr->scalars = NULL;
    fr->owned = NULL;
    struct pio_error e = {0};
    int rc = pio_reader_frame(t->r, (uint64_t)i, &fr->f, &e);
    if (rc != 0) {
        Py_DECREF(fr);
        return raise_pio(rc, &e);
    }
    if (fr->f.fields & PIO_FIELD_DECODED) { /* a copy that lives as long as the Frame */
        size_t n = (size_t)fr->f.natoms * 3;
        const float(**arr[3])[3] = {&fr->f.positions, &fr->f.velocities, &fr->f.forces};
        if (!(fr->owned = PyMem_Malloc(n * 3 * sizeof(float) + 4))) {
            Py_DECREF(fr);
            return PyErr_NoMemory();
        }
        for (int a = 0; a < 3; a++)
            if (*arr[a]) {
                memcpy(fr->owned + (size_t)a * n, *arr[a], n * sizeof(float));
                *arr[a] = (const float(*)[3])(fr->owned + (size_t)a * n);
            }
    }
    Py_INCREF(t);
    fr->traj = t;
    t->exports++;
    return (PyObject *)fr;
}

/* ---- iterator ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD Trajectory *traj;
    Py_ssize_t next;
} TrajIter;

static void iter_dealloc(TrajIter *it)
{
    Py_XDECREF(it->traj);
    PyObject_Free(it);
}

static PyObject *iter_next(TrajIter *it)
{
    if (!traj_open(it->traj))
        return NULL;
    if (it->next >= (Py_ssize_t)pio_reader_nframes(it->traj->r))
        return NULL; /* StopIteration */
    return frame_make(it->traj, it->next++);
}

static PyTypeObject TrajIterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio._prismio.TrajectoryIterator",
    .tp_basicsize = sizeof(TrajIter),
    .tp_dealloc = (destructor)iter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)iter_next,
};

/* ---- Trajectory ----------------------------------------------------------------- */

static int traj_init(Trajectory *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "check", "engine", NULL};
    PyObject *path;
    int check = 0;
    const char *engine = "auto";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|ps", kwlist, PyUnicode_FSConverter, &path,
                                     &check, &engine))
        return -1;
    enum pio_io_engine eng;
    if (pio_io_engine_parse(engine, &eng) != 0) {
        Py_DECREF(path);
        raise_fmt(PIO_EUSAGE, "engine '%s': one of auto, mmap, pread, uring", engine);
        return -1;
    }
    if (self->r || self->path) { /* __init__ again: the old mapping may have views */
        Py_DECREF(path);
        raise_fmt(PIO_EUSAGE, "this trajectory was opened once already (open another)");
        return -1;
    }
    struct pio_error e = {0};
    int rc;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = check ? PIO_READER_CHECK_FRAMES : 0;
    ro.engine = eng;
    Py_BEGIN_ALLOW_THREADS rc = pio_reader_open(&self->r, PyBytes_AS_STRING(path), &ro, &e);
    Py_END_ALLOW_THREADS if (rc != 0)
    {
        Py_DECREF(path);
        raise_pio(rc, &e);
        return -1;
    }
    self->path = path;
    self->check = check;
    return 0;
}

static PyObject *traj_close(Trajectory *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"defer", NULL};
    int defer = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &defer))
        return NULL;
    if (self->exports > 0 && !defer)
        return PyErr_Format(PyExc_BufferError,
                            "%zd frames, arrays or running checks still use this trajectory's "
                            "mapping: delete them (or copy the arrays) before close()",
                            self->exports);
    if (self->exports > 0) {
        self->pending = 1; /* unusable now; unmapped with the last view */
        Py_RETURN_NONE;
    }
    pio_reader_close(self->r);
    self->r = NULL;
    Py_RETURN_NONE;
}

static void traj_dealloc(Trajectory *self)
{
    /* Arrays hold a reference: none can be alive here. */
    pio_reader_close(self->r);
    Py_XDECREF(self->path);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static bool traj_open(Trajectory *t)
{
    if (!t->r || t->pending) {
        raise_fmt(PIO_EUSAGE, "the trajectory is closed");
        return false;
    }
    return true;
}

static Py_ssize_t traj_len(Trajectory *t)
{
    if (!traj_open(t))
        return -1;
    return (Py_ssize_t)pio_reader_nframes(t->r);
}

/* ---- selections as Python objects ------------------------------------------------- */

/* The indices a selection object picks out of n frames or atoms (`what`:
 * "frame" or "atom", for messages), as a new 1-D int64 array: a slice; a
 * sequence or array of integers, in the order given, repeats kept, negative
 * ones counting from the end (RangeError past either end); a boolean mask
 * of exactly n entries (UsageError otherwise). A string, a scalar or None
 * is a TypeError: strings are the callers' (pio_select_frames/atoms). */
static PyObject *selection_indices(PyObject *key, Py_ssize_t n, const char *what)
{
    if (PySlice_Check(key)) {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0)
            return NULL;
        npy_intp k = PySlice_AdjustIndices(n, &start, &stop, step);
        PyObject *out = PyArray_SimpleNew(1, &k, NPY_INT64);
        if (!out)
            return NULL;
        int64_t *p = PyArray_DATA((PyArrayObject *)out);
        for (npy_intp j = 0; j < k; j++)
            p[j] = start + j * step;
        return out;
    }
    if (key == Py_None || PyUnicode_Check(key) || PyBytes_Check(key) || PyFloat_Check(key) ||
        (PyIndex_Check(key) && !PyArray_Check(key))) /* arrays have __index__ too */
        return PyErr_Format(PyExc_TypeError,
                            "%s selection: a slice, a sequence of indices or a boolean mask, "
                            "not %.100s",
                            what, Py_TYPE(key)->tp_name);
    PyArrayObject *a = (PyArrayObject *)PyArray_FROM_O(key);
    if (!a)
        return NULL;
    PyObject *out = NULL;
    char kind = PyArray_DESCR(a)->kind;
    npy_intp len = PyArray_NDIM(a) == 1 ? PyArray_DIM(a, 0) : -1;
    if (len < 0) {
        if (PyArray_NDIM(a) == 0)
            PyErr_Format(PyExc_TypeError, "%s selection: not a sequence (%.100s)", what,
                         Py_TYPE(key)->tp_name);
        else
            raise_fmt(PIO_EUSAGE, "%s selection: %d dimensions, expected 1", what, PyArray_NDIM(a));
    } else if (len == 0) { /* [] is float64 to numpy: empty whatever its type */
        npy_intp zero = 0;
        out = PyArray_SimpleNew(1, &zero, NPY_INT64);
    } else if (kind == 'b') {
        PyArrayObject *m =
            (PyArrayObject *)PyArray_FROM_OTF((PyObject *)a, NPY_BOOL, NPY_ARRAY_IN_ARRAY);
        if (m && len != n)
            raise_fmt(PIO_EUSAGE, "%s mask: %zd entries, expected %zd (one per %s)", what,
                      (Py_ssize_t)len, n, what);
        else if (m) {
            const npy_bool *b = PyArray_DATA(m);
            npy_intp k = 0;
            for (npy_intp j = 0; j < len; j++)
                k += b[j] != 0;
            if ((out = PyArray_SimpleNew(1, &k, NPY_INT64))) {
                int64_t *p = PyArray_DATA((PyArrayObject *)out);
                for (npy_intp j = 0, o = 0; j < len; j++)
                    if (b[j])
                        p[o++] = j;
            }
        }
        Py_XDECREF(m);
    } else if (kind == 'i' || kind == 'u') {
        /* uint64 values past INT64_MAX must not wrap to negative indices */
        bool u64 = kind == 'u' && PyArray_ITEMSIZE(a) == 8;
        PyArrayObject *v = (PyArrayObject *)PyArray_FROM_OTF(
            (PyObject *)a, u64 ? NPY_UINT64 : NPY_INT64, NPY_ARRAY_IN_ARRAY);
        if (v && (out = PyArray_SimpleNew(1, &len, NPY_INT64))) {
            int64_t *p = PyArray_DATA((PyArrayObject *)out);
            for (npy_intp j = 0; j < len; j++) {
                uint64_t uv = u64 ? ((const uint64_t *)PyArray_DATA(v))[j] : 0;
                int64_t x = u64 ? (uv > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)uv)
                                : ((const int64_t *)PyArray_DATA(v))[j];
                if (x < -(int64_t)n || x >= (int64_t)n) {
                    if (u64)
                        raise_fmt(-ERANGE, "%s %llu out of range (%zd %ss)", what,
                                  (unsigned long long)uv, n, what);
                    else
                        raise_fmt(-ERANGE, "%s %lld out of range (%zd %ss)", what, (long long)x, n,
                                  what);
                    Py_CLEAR(out);
                    break;
                }
                p[j] = x < 0 ? x + n : x;
            }
        }
        Py_XDECREF(v);
    } else {
        PyErr_Format(PyExc_TypeError, "%s selection: an array of %s; expected integers or booleans",
                     what, PyArray_DESCR(a)->typeobj->tp_name);
    }
    Py_DECREF(a);
    return out;
}

/* t[i]: a Frame; t[a:b:c], t[[i, j, ...]], t[mask]: a list of Frames. */
static PyObject *traj_subscript(Trajectory *t, PyObject *key)
{
    if (!traj_open(t))
        return NULL;
    if (PyIndex_Check(key) && !(PyArray_Check(key) && PyArray_NDIM((PyArrayObject *)key) > 0)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred())
            return NULL;
        return frame_make(t, i);
    }
    if (PyUnicode_Check(key) || PyBytes_Check(key))
        return PyErr_Format(PyExc_TypeError,
                            "trajectory indices are integers, slices, sequences of integers or "
                            "boolean masks, not %.100s (t.select_frames(spec) for a string)",
                            Py_TYPE(key)->tp_name);
    PyArrayObject *idx =
        (PyArrayObject *)selection_indices(key, (Py_ssize_t)pio_reader_nframes(t->r), "frame");
    if (!idx)
        return NULL;
    npy_intp n = PyArray_DIM(idx, 0);
    const int64_t *p = PyArray_DATA(idx);
    PyObject *list = PyList_New(n);
    for (npy_intp k = 0; list && k < n; k++) {
        PyObject *fr = frame_make(t, (Py_ssize_t)p[k]);
        if (!fr)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, k, fr);
    }
    Py_DECREF(idx);
    return list;
}

static PyObject *traj_iter(Trajectory *t)
{
    if (!traj_open(t))
        return NULL;
    TrajIter *it = PyObject_New(TrajIter, &TrajIterType);
    if (!it)
        return NULL;
    Py_INCREF(t);
    it->traj = t;
    it->next = 0;
    return (PyObject *)it;
}

/* ---- blocks: many frames in one view ---------------------------------------------- */

static const float (*field_of(const struct pio_frame *f, int field))[3]
{
    return field == 0 ? f->positions : field == 1 ? f->velocities : f->forces;
}

/* block(start, max, field): a read-only (k, natoms, 3) float32 view of
 * field 0 (positions), 1 (velocities) or 2 (forces) of frames start ..
 * start + k - 1, 1 <= k <= max: as many as have that natoms and lie at one
 * spacing in the mapping (a commit's INDEX record between two frames, a
 * change of natoms or of the fields ends a block). Its base is the first
 * frame's Frame, so the block counts as a live view. */
/* block() of a compressed file: frames start .. start + k - 1 (up to max,
 * while they keep natoms atoms and the field) decoded into a new read-only
 * (k, natoms, 3) array, a BLOCK record's frames decoded once together
 * (pio_reader_read), without the GIL. */
static PyObject *decoded_block(Trajectory *t, Py_ssize_t start, Py_ssize_t max, int field,
                               uint64_t natoms)
{
    Py_ssize_t n = (Py_ssize_t)pio_reader_nframes(t->r), k = 1;
    float(*const none[3])[3] = {NULL, NULL, NULL};
    /* a decoded block is a copy: at most 64 MiB of it (or one frame) */
    uint64_t room = natoms ? ((uint64_t)64 << 20) / (natoms * 12) : (uint64_t)max;
    if ((uint64_t)max > room)
        max = room > 1 ? (Py_ssize_t)room : 1;
    for (; k < max && start + k < n; k++) {
        struct pio_frame g; /* the header only: nothing decoded */
        if (pio_reader_frame_into(t->r, (uint64_t)(start + k), none, 0, &g, NULL) != 0 ||
            g.natoms != natoms || !(g.fields & (PIO_FIELD_POSITIONS << field)))
            break;
    }
    npy_intp dims[3] = {k, (npy_intp)natoms, 3};
    PyObject *a = PyArray_SimpleNew(3, dims, NPY_FLOAT32);
    if (!a)
        return NULL;
    float(*xyz[3])[3] = {NULL, NULL, NULL};
    xyz[field] = (float(*)[3])PyArray_DATA((PyArrayObject *)a);
    struct pio_error e = {0};
    int rc;
    /* without the GIL: counted as an export, so close() raises or defers */
    t->exports++;
    t->running++;
    Py_BEGIN_ALLOW_THREADS rc = pio_reader_read(t->r, (uint64_t)start, (uint64_t)k, NULL, natoms,
                                                (float(*const *)[3])xyz, &e);
    Py_END_ALLOW_THREADS t->running--;
    export_done(t);
    if (rc != 0) {
        Py_DECREF(a);
        return raise_pio(rc, &e);
    }
    PyArray_CLEARFLAGS((PyArrayObject *)a, NPY_ARRAY_WRITEABLE);
    return a;
}

/* A strided block spans at most this much of the mapping: reading in order
 * gives back the pages more than 16 MiB behind the last frame read
 * (pio_reader_frame's "Memory"), so a longer block would have its first
 * frames' pages dropped before numpy reads them (measured, 100k atoms,
 * 128-frame blocks of 154 MB: 18% more page faults than per-frame views). */
#define BLOCK_SPAN_MAX ((Py_ssize_t)8 << 20)

static PyObject *traj_block(Trajectory *t, PyObject *args)
{
    static const char *names[3] = {"positions", "velocities", "forces"};
    Py_ssize_t start, max;
    int field;
    if (!PyArg_ParseTuple(args, "nni", &start, &max, &field) || !traj_open(t))
        return NULL;
    if (field < 0 || field > 2 || max < 1)
        return raise_fmt(PIO_EUSAGE, "block: field %d, size %zd", field, max);
    Py_ssize_t n = (Py_ssize_t)pio_reader_nframes(t->r);
    if (start < 0 || start >= n)
        return raise_fmt(-ERANGE, "frame %zd out of range (%zd frames)", start, n);
    Frame *fr = (Frame *)frame_make(t, start);
    if (!fr)
        return NULL;
    const char *p0 = (const char *)field_of(&fr->f, field);
    if (!p0) {
        Py_DECREF(fr);
        return raise_fmt(PIO_EUSAGE, "%s: frame %zd has no %s", PyBytes_AS_STRING(t->path), start,
                         names[field]);
    }
    if (fr->f.fields & PIO_FIELD_DECODED) {
        uint64_t natoms = fr->f.natoms;
        Py_DECREF(fr);
        return decoded_block(t, start, max, field, natoms);
    }
    Py_ssize_t k = 1, stride = 0;
    for (; k < max && start + k < n; k++) {
        struct pio_frame g;
        struct pio_error e = {0};
        int rc = pio_reader_frame(t->r, (uint64_t)(start + k), &g, &e);
        if (rc != 0) {
            Py_DECREF(fr);
            return raise_pio(rc, &e);
        }
        const char *p = (const char *)field_of(&g, field);
        /* a compressed frame is a decoded copy, not in the mapping: no
         * strided view reaches it (the block ends before it) */
        if (!p || g.natoms != fr->f.natoms || (g.fields | fr->f.fields) & PIO_FIELD_DECODED)
            break;
        if (k == 1)
            stride = p - p0;
        if (stride <= 0 || p != p0 + k * stride || (k + 1) * stride > BLOCK_SPAN_MAX)
            break;
    }
    npy_intp dims[3] = {k, (npy_intp)fr->f.natoms, 3};
    npy_intp strides[3] = {k > 1 ? stride : (npy_intp)fr->f.natoms * 12, 12, 4};
    PyObject *a = PyArray_New(&PyArray_Type, 3, dims, NPY_FLOAT32, strides, (void *)p0, 0,
                              NPY_ARRAY_ALIGNED, NULL);
    if (!a) {
        Py_DECREF(fr);
        return NULL;
    }
    if (PyArray_SetBaseObject((PyArrayObject *)a, (PyObject *)fr) < 0) { /* steals fr */
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

/* ---- MDAnalysis's fast path ------------------------------------------------------------ */

/* Copy n * 3 floats times `scale` into a writable float32 buffer of exactly
 * that size (a Timestep's own array). */
static int fill_array(PyObject *dst, const float (*src)[3], uint64_t n, float scale)
{
    Py_buffer b;
    if (PyObject_GetBuffer(dst, &b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0)
        return -1;
    int rc = 0;
    if (b.itemsize != 4 || !b.format || strcmp(b.format, "f") != 0 ||
        b.len != (Py_ssize_t)(n * 12) || (n && !src)) {
        PyErr_Format(PyExc_ValueError, "fill: need a C-contiguous float32 array of %llu x 3",
                     (unsigned long long)n);
        rc = -1;
    } else {
        float *d = b.buf;
        const float *p = &src[0][0];
        if (scale == 1.0f)
            memcpy(d, p, (size_t)n * 12);
        else
            for (uint64_t k = 0; k < 3 * n; k++)
                d[k] = p[k] * scale;
    }
    PyBuffer_Release(&b);
    return rc;
}

/* Copy one field of a frame into the Timestep's array named `attr`, after
 * setting its flag `has` to whether the frame has it (True allocates the
 * array on first use, as MDAnalysis's TRR reader does per frame). */
static int fill_field(PyObject *ts, const char *has, const char *attr, const float (*src)[3],
                      uint64_t n, float scale)
{
    if (PyObject_SetAttrString(ts, has, src ? Py_True : Py_False) != 0)
        return -1;
    if (!src)
        return 0;
    PyObject *dst = PyObject_GetAttrString(ts, attr);
    int rc = dst ? fill_array(dst, src, n, scale) : -1;
    Py_XDECREF(dst);
    return rc;
}

/* fill(i, ts, length_scale, force_scale): frame i into an MDAnalysis
 * Timestep: positions and velocities times length_scale, forces times
 * force_scale into its own arrays (has_velocities and has_forces set per
 * frame), and return (step, time, dimensions or None, scalars or None);
 * dimensions are the box's lengths (scaled) and angles in degrees, as
 * MDAnalysis keeps them. One C call per frame instead of views, a box
 * matrix and unit conversions made in Python. */
static PyObject *traj_fill(Trajectory *t, PyObject *args)
{
    Py_ssize_t i;
    PyObject *ts;
    float ls, fs;
    if (!PyArg_ParseTuple(args, "nOff", &i, &ts, &ls, &fs) || !traj_open(t))
        return NULL;
    if (i < 0 || (uint64_t)i >= pio_reader_nframes(t->r))
        return raise_fmt(-ERANGE, "frame %zd out of range", i);
    struct pio_frame f;
    struct pio_error e = {0};
    int rc = pio_reader_frame(t->r, (uint64_t)i, &f, &e);
    if (rc != 0)
        return raise_pio(rc, &e);
    PyObject *pos = PyObject_GetAttrString(ts, "_pos");
    rc = pos ? fill_array(pos, f.positions, f.natoms, ls) : -1;
    Py_XDECREF(pos);
    if (rc != 0 || fill_field(ts, "has_velocities", "_velocities", f.velocities, f.natoms, ls) ||
        fill_field(ts, "has_forces", "_forces", f.forces, f.natoms, fs))
        return NULL;
    PyObject *dims = Py_None, *sc = Py_None;
    Py_INCREF(Py_None);
    Py_INCREF(Py_None);
    if (f.fields & PIO_FIELD_BOX) {
        /* as MDAnalysis's triclinic_box: lengths of the scaled vectors,
         * angles in degrees, all zero when a length is not positive or an
         * angle not in (0, 180) */
        double v[3][3], len[3], ang[3];
        for (int k = 0; k < 3; k++) {
            for (int c = 0; c < 3; c++)
                v[k][c] = f.box[k][c] * (double)ls;
            len[k] = sqrt(v[k][0] * v[k][0] + v[k][1] * v[k][1] + v[k][2] * v[k][2]);
        }
        static const int pair[3][2] = {{1, 2}, {0, 2}, {0, 1}};
        bool valid = true;
        for (int k = 0; k < 3; k++) {
            int a = pair[k][0], b = pair[k][1];
            double dot = v[a][0] * v[b][0] + v[a][1] * v[b][1] + v[a][2] * v[b][2];
            ang[k] = acos(dot / (len[a] * len[b])) * (180.0 / M_PI);
            valid = valid && (float)len[k] > 0 && (float)ang[k] > 0 && ang[k] < 180.0;
        }
        Py_DECREF(dims);
        if (valid)
            dims = Py_BuildValue("(dddddd)", len[0], len[1], len[2], ang[0], ang[1], ang[2]);
        else
            dims = Py_BuildValue("(dddddd)", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    }
    if (f.nscalars) {
        Py_DECREF(sc);
        sc = PyDict_New();
        for (uint32_t k = 0; sc && k < f.nscalars; k++) {
            PyObject *v = PyFloat_FromDouble(f.scalars[k].value);
            if (!v || PyDict_SetItemString(sc, f.scalars[k].name, v) != 0)
                Py_CLEAR(sc);
            Py_XDECREF(v);
        }
    }
    PyObject *out =
        dims && sc ? Py_BuildValue("(LdOO)", (long long)f.step, f.time, dims, sc) : NULL;
    Py_XDECREF(dims);
    Py_XDECREF(sc);
    return out;
}

/* ---- bulk reads and selections ------------------------------------------------------ */

/* Fill e with a PIO_EUSAGE message and return PIO_EUSAGE (no GIL needed). */
static int err_usage(struct pio_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return e->code = PIO_EUSAGE;
}

/* An int64 1-D C array of o (None: NULL, not an error); each value in
 * [0, n) when n >= 0 (RangeError naming `what` otherwise). */
static int index_array(PyObject *o, Py_ssize_t n, const char *what, PyArrayObject **out)
{
    *out = NULL;
    if (o == Py_None)
        return 0;
    PyArrayObject *a = (PyArrayObject *)PyArray_FROM_OTF(o, NPY_INT64, NPY_ARRAY_IN_ARRAY);
    if (!a)
        return -1;
    if (PyArray_NDIM(a) != 1) {
        Py_DECREF(a);
        raise_fmt(PIO_EUSAGE, "%s indices: %d dimensions, expected 1", what, PyArray_NDIM(a));
        return -1;
    }
    const int64_t *p = PyArray_DATA(a);
    for (npy_intp k = 0; n >= 0 && k < PyArray_DIM(a, 0); k++)
        if (p[k] < 0 || p[k] >= n) {
            raise_fmt(-ERANGE, "%s %lld out of range (%zd %ss)", what, (long long)p[k], n, what);
            Py_DECREF(a);
            return -1;
        }
    *out = a;
    return 0;
}

/* The engine bulk reads go through: `engine` by name; "auto" (the Python
 * layer passes the engine open() was given instead, if one was) as a
 * pipeline source has it: PIO_IO_ENGINE (the reader's engine, which took
 * it at open), else pread (a read touches each frame once, and mapped
 * pages would stay resident). -1 with UsageError for a name that is no
 * engine. */
static int bulk_engine(const char *engine, enum pio_io_engine *out)
{
    if (pio_io_engine_parse(engine, out) != 0) {
        raise_fmt(PIO_EUSAGE, "engine '%s': one of auto, mmap, pread, uring", engine);
        return -1;
    }
    const char *env = getenv("PIO_IO_ENGINE");
    if (*out == PIO_IO_AUTO && !(env && *env))
        *out = PIO_IO_PREAD;
    return 0;
}

/* Whether a read of these frames and atoms goes through pio_reader_read:
 * atoms strictly increasing, and the first frame in a BLOCK record (a file
 * of compressed blocks, whose groups a selection decodes apart). */
static bool partial_read(const pio_reader *r, const uint64_t *frames, npy_intp nf,
                         const int64_t *atoms, Py_ssize_t natoms)
{
    uint64_t first;
    uint32_t k;
    for (Py_ssize_t j = 1; atoms && j < natoms; j++)
        if (atoms[j] <= atoms[j - 1])
            return false;
    return nf > 0 && pio_reader_frame_block(r, frames[0], &first, &k) == 0 && k > 1;
}

/* The positions of atoms (increasing; NULL: all, every frame of natoms
 * atoms) of frames, in order, into out: each record's BLAKE3 checked once
 * (a block's for all its frames), then each run of consecutive frames in
 * one pio_reader_read (whole blocks decoded straight into out). */
static int read_selection(const pio_reader *r, const uint64_t *frames, npy_intp nf,
                          const uint64_t *atoms, Py_ssize_t natoms, float *out, struct pio_error *e)
{
    uint64_t checked_first = UINT64_MAX;
    uint32_t checked_n = 0;
    float(*const none[3])[3] = {NULL, NULL, NULL};
    for (npy_intp k = 0; k < nf; k++) {
        uint64_t i = frames[k], first;
        uint32_t n;
        struct pio_frame h;
        int rc = 0;
        if (pio_reader_frame_block(r, i, &first, &n) != 0 ||
            (rc = pio_reader_frame_into(r, i, none, 0, &h, e)) != 0) {
            /* the read says why */
            float(*const xyz[3])[3] = {(float(*)[3])out, NULL, NULL};
            rc = pio_reader_read(r, i, 1, atoms, (uint64_t)natoms, xyz, e);
            return rc ? rc : PIO_ECORRUPT;
        }
        if (!atoms && h.natoms != (uint64_t)natoms)
            return err_usage(e,
                             "frame %llu has %llu atoms, the first frame read %zd: select "
                             "atoms (or frames of one size) to read them together",
                             (unsigned long long)i, (unsigned long long)h.natoms, natoms);
        if (!(first == checked_first && n == checked_n) &&
            (rc = pio_reader_verify_frame(r, i, e)) == 0) {
            checked_first = first;
            checked_n = n;
        }
        if (rc != 0)
            return rc;
    }
    for (npy_intp k = 0; k < nf;) {
        npy_intp m = 1; /* a run of consecutive frames */
        while (k + m < nf && frames[k + m] == frames[k] + (uint64_t)m)
            m++;
        float(*const xyz[3])[3] = {(float(*)[3])(out + (size_t)k * (size_t)natoms * 3), NULL, NULL};
        int rc = pio_reader_read(r, frames[k], (uint64_t)m, atoms, (uint64_t)natoms, xyz, e);
        if (rc != 0)
            return rc;
        k += m;
    }
    return 0;
}

/* read_into(out, frames, atoms, natoms, engine): positions (nm) of frames
 * (int64 indices) and atoms (int64 indices; or None: every atom of each
 * frame, which must then have natoms) into `out`, a writable C-contiguous
 * float32 buffer of exactly len(frames) x natoms x 3. Read through a frame
 * stream of this trajectory's own reader (never the file again by its
 * path) on `engine` (bulk_engine), without the GIL; every frame's BLAKE3
 * is checked on the bytes read (PIO_STREAM_VERIFY), as a conversion's are. */
static PyObject *traj_read_into(Trajectory *t, PyObject *args)
{
    PyObject *outo, *fo, *ao;
    Py_ssize_t natoms;
    const char *engine;
    enum pio_io_engine eng;
    if (!PyArg_ParseTuple(args, "OOOns", &outo, &fo, &ao, &natoms, &engine) || !traj_open(t) ||
        bulk_engine(engine, &eng) != 0)
        return NULL;
    PyArrayObject *fa, *aa;
    if (index_array(fo, (Py_ssize_t)pio_reader_nframes(t->r), "frame", &fa) != 0)
        return NULL;
    if (!fa || index_array(ao, -1, "atom", &aa) != 0) {
        Py_XDECREF(fa);
        return fo == Py_None ? raise_fmt(PIO_EUSAGE, "read_into: frames") : NULL;
    }
    npy_intp nf = PyArray_DIM(fa, 0);
    if (aa && PyArray_DIM(aa, 0) != natoms) {
        Py_DECREF(fa);
        Py_DECREF(aa);
        return raise_fmt(PIO_EUSAGE, "read_into: %zd atom indices for %zd atoms",
                         (Py_ssize_t)PyArray_DIM(aa, 0), natoms);
    }
    Py_buffer b;
    if (PyObject_GetBuffer(outo, &b, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0) {
        Py_DECREF(fa);
        Py_XDECREF(aa);
        return NULL;
    }
    if (natoms < 0 || b.len != nf * natoms * 12) {
        PyBuffer_Release(&b);
        Py_DECREF(fa);
        Py_XDECREF(aa);
        return PyErr_Format(PyExc_ValueError, "output: %zd bytes, expected %zd", b.len,
                            (Py_ssize_t)nf * natoms * 12);
    }
    const int64_t *atoms = aa ? PyArray_DATA(aa) : NULL;
    const pio_reader *r = t->r;
    float *out = b.buf;
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.flags = PIO_STREAM_VERIFY;
    so.engine = eng;
    struct pio_error e = {0};
    int rc = 0;
    pio_frame_stream *st = NULL;
    /* Without the GIL another thread may call close(): the read counts as a
     * live export until it ends, so close() raises or defers. */
    t->exports++;
    t->running++;
    PyThreadState *ts = PyEval_SaveThread();
    if (nf > 0 && partial_read(r, (const uint64_t *)PyArray_DATA(fa), nf, atoms, natoms)) {
        /* a file in blocks: decoded by pio_reader_read (a selection: only
         * the atom groups that hold it; whole blocks straight into out),
         * each record checked once */
        rc = read_selection(r, (const uint64_t *)PyArray_DATA(fa), nf, (const uint64_t *)atoms,
                            natoms, out, &e);
        nf = 0;        /* done */
    } else if (nf > 0) /* int64 indices, all checked >= 0: the same bits as uint64 */
        rc = pio_frame_stream_open(&st, r, (const uint64_t *)PyArray_DATA(fa), (uint64_t)nf, &so,
                                   &e);
    for (npy_intp k = 0; rc == 0 && k < nf; k++) {
        struct pio_frame f;
        int got = pio_frame_stream_next(st, &f, &e);
        if (got <= 0) {
            rc = got < 0 ? got : err_usage(&e, "frame stream ended after %zd frames", k);
            break;
        }
        float *dst = out + (size_t)k * (size_t)natoms * 3;
        if (f.natoms && !f.positions) {
            rc = err_usage(&e, "frame %llu has no positions", (unsigned long long)f.index);
        } else if (!atoms && f.natoms != (uint64_t)natoms) {
            rc = err_usage(&e,
                           "frame %llu has %llu atoms, the first frame read %zd: select "
                           "atoms (or frames of one size) to read them together",
                           (unsigned long long)f.index, (unsigned long long)f.natoms, natoms);
        } else if (!atoms) {
            memcpy(dst, f.positions, (size_t)natoms * 12);
        } else {
            for (Py_ssize_t j = 0; j < natoms; j++) {
                if ((uint64_t)atoms[j] >= f.natoms) {
                    rc = -ERANGE;
                    e.code = rc;
                    snprintf(e.message, sizeof(e.message),
                             "atom %lld out of range (frame %llu has %llu atoms)",
                             (long long)atoms[j], (unsigned long long)f.index,
                             (unsigned long long)f.natoms);
                    break;
                }
                memcpy(dst + 3 * j, f.positions[atoms[j]], 12);
            }
        }
        pio_frame_stream_release(st, &f);
    }
    if (st)
        pio_frame_stream_close(st);
    PyEval_RestoreThread(ts);
    t->running--;
    export_done(t);
    PyBuffer_Release(&b);
    Py_DECREF(fa);
    Py_XDECREF(aa);
    if (rc != 0)
        return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

/* refresh(): pio_reader_refresh; the number of frames that arrived. Arrays
 * from before stay valid (the reader keeps earlier mappings). Refused while
 * a check or a read runs without the GIL on another thread. */
static PyObject *traj_refresh(Trajectory *t, PyObject *unused)
{
    (void)unused;
    if (!traj_open(t))
        return NULL;
    if (t->running)
        return raise_fmt(PIO_EUSAGE, "refresh(): a read or check of this trajectory is running");
    uint64_t added = 0;
    struct pio_error e = {0};
    int rc = pio_reader_refresh(t->r, &added, &e);
    if (rc != 0)
        return raise_pio(rc, &e);
    return PyLong_FromUnsignedLongLong(added);
}

/* _wait(timeout_ms): pio_reader_wait without the GIL: the frames that
 * arrived (0: the file is final), or None when nothing came in time. */
static PyObject *traj_wait(Trajectory *t, PyObject *args)
{
    unsigned long long ms = 0;
    if (!PyArg_ParseTuple(args, "K", &ms))
        return NULL;
    if (!traj_open(t))
        return NULL;
    if (t->running)
        return raise_fmt(PIO_EUSAGE, "follow: a read or check of this trajectory is running");
    uint64_t added = 0;
    struct pio_error e = {0};
    int rc;
    uint32_t tmo = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
    t->exports++; /* close() from another thread meanwhile raises or defers */
    t->running++; /* and refresh() raises */
    Py_BEGIN_ALLOW_THREADS rc = pio_reader_wait(t->r, tmo, &added, &e);
    Py_END_ALLOW_THREADS t->running--;
    export_done(t);
    if (rc == -ETIMEDOUT)
        Py_RETURN_NONE;
    if (rc != 0)
        return raise_pio(rc, &e);
    return PyLong_FromUnsignedLongLong(added);
}

static PyObject *traj_final(Trajectory *t, void *unused)
{
    (void)unused;
    if (!traj_open(t))
        return NULL;
    return PyBool_FromLong(pio_reader_final(t->r));
}

/* What pio_select_frames/_atoms gave: an int64 array of the n indices, or
 * the error raised; idx is freed either way. */
static PyObject *selection_result(int rc, uint64_t *idx, uint64_t n, const struct pio_error *e)
{
    PyObject *out = NULL;
    if (rc != 0)
        raise_pio(rc, e);
    else if ((out = PyArray_SimpleNew(1, (npy_intp[]){(npy_intp)n}, NPY_INT64)))
        memcpy(PyArray_DATA((PyArrayObject *)out), idx, (size_t)n * 8);
    free(idx);
    return out;
}

/* select_frames(spec): pio_select_frames over this trajectory's frames. */
static PyObject *traj_select_frames(Trajectory *t, PyObject *arg)
{
    const char *spec = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!spec) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "select_frames: a string, not %.100s",
                         Py_TYPE(arg)->tp_name);
        return NULL;
    }
    if (!traj_open(t))
        return NULL;
    uint64_t *idx = NULL, n = 0;
    struct pio_error e = {0};
    int rc = pio_select_frames(spec, pio_reader_nframes(t->r), &idx, &n, &e);
    return selection_result(rc, idx, n, &e);
}

/* select_atoms(spec, natoms=-1): pio_select_atoms with this file's topology
 * (if any) over natoms atoms (-1: the topology's count, else frame 0's). */
static PyObject *traj_select_atoms(Trajectory *t, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"spec", "natoms", NULL};
    const char *spec;
    long long natoms = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|L", kwlist, &spec, &natoms) || !traj_open(t))
        return NULL;
    struct pio_topology top;
    bool has_top = pio_reader_topology(t->r, &top) == 0;
    if (natoms < 0) {
        struct pio_frame f;
        natoms = has_top ? (long long)top.natoms
                 : pio_reader_nframes(t->r) && pio_reader_frame(t->r, 0, &f, NULL) == 0
                     ? (long long)f.natoms
                     : 0;
    }
    uint64_t *idx = NULL, n = 0;
    struct pio_error e = {0};
    int rc = pio_select_atoms(spec, has_top ? &top : NULL, (uint64_t)natoms, &idx, &n, &e);
    return selection_result(rc, idx, n, &e);
}

/* verify(frame=None): every byte of the file, or one frame's hash; True,
 * or OSError naming the frame and offset. */
static PyObject *traj_verify(Trajectory *t, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"frame", NULL};
    PyObject *fo = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &fo) || !traj_open(t))
        return NULL;
    Py_ssize_t i = -1, n = (Py_ssize_t)pio_reader_nframes(t->r);
    if (fo != Py_None) {
        i = PyNumber_AsSsize_t(fo, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred())
            return NULL;
        Py_ssize_t given = i;
        if (i < 0)
            i += n;
        if (i < 0 || i >= n)
            return raise_fmt(-ERANGE, "frame %zd out of range (%zd frames)", given, n);
    }
    struct pio_error e = {0};
    /* Without the GIL another thread may call close(): the check counts
     * as a live export until it ends, so close() raises or defers. */
    t->exports++;
    t->running++;
    PyThreadState *ts = PyEval_SaveThread();
    int rc =
        i < 0 ? pio_reader_verify(t->r, 0, &e) : pio_reader_verify_frame(t->r, (uint64_t)i, &e);
    PyEval_RestoreThread(ts);
    t->running--;
    export_done(t);
    if (rc != 0)
        return raise_pio(rc, &e);
    Py_RETURN_TRUE;
}

/* info(): what pio_reader_info says (O(frames): reads every frame header). */
static PyObject *traj_info(Trajectory *t, PyObject *unused)
{
    (void)unused;
    if (!traj_open(t))
        return NULL;
    struct pio_reader_info ri;
    struct pio_io_info io;
    if (pio_reader_info(t->r, &ri) != 0 || pio_reader_io_info(t->r, &io) != 0)
        return PyErr_Format(PyExc_OSError, "info: the reader gave none");
    return Py_BuildValue(
        "{s:(HH),s:O,s:K,s:K,s:K,s:K,s:K,s:L,s:L,s:d,s:d,s:O,s:O,s:s}", "version", ri.version_major,
        ri.version_minor, "recovered", ri.recovered ? Py_True : Py_False, "file_size",
        (unsigned long long)ri.file_size, "data_end", (unsigned long long)ri.data_end, "nframes",
        (unsigned long long)ri.nframes, "min_natoms", (unsigned long long)ri.min_natoms,
        "max_natoms", (unsigned long long)ri.max_natoms, "step_first", (long long)ri.step_first,
        "step_last", (long long)ri.step_last, "time_first", ri.time_first, "time_last",
        ri.time_last, "steps_sorted", ri.steps_sorted ? Py_True : Py_False, "times_sorted",
        ri.times_sorted ? Py_True : Py_False, "engine", pio_io_engine_name(io.engine));
}

/* find_step(step): the first frame with that step (KeyError if none). */
static PyObject *traj_find_step(Trajectory *t, PyObject *arg)
{
    long long step = PyLong_AsLongLong(arg);
    if ((step == -1 && PyErr_Occurred()) || !traj_open(t))
        return NULL;
    int64_t i = pio_reader_find_step(t->r, step);
    if (i < 0)
        return PyErr_Format(PyExc_KeyError, "no frame has step %lld", step);
    return PyLong_FromLongLong(i);
}

/* find_time(time): the frame whose time is nearest (IndexError if none). */
static PyObject *traj_find_time(Trajectory *t, PyObject *arg)
{
    double time = PyFloat_AsDouble(arg);
    if ((time == -1.0 && PyErr_Occurred()) || !traj_open(t))
        return NULL;
    if (isnan(time))
        return raise_fmt(PIO_EUSAGE, "find_time: NaN");
    int64_t i = pio_reader_find_time(t->r, time);
    if (i < 0)
        return raise_fmt(-ERANGE, "find_time: the trajectory has no frames");
    return PyLong_FromLongLong(i);
}

static PyObject *traj_metadata(Trajectory *t, void *unused)
{
    (void)unused;
    if (!traj_open(t))
        return NULL;
    PyObject *d = PyDict_New();
    const char *k, *v;
    for (uint64_t i = 0; d && pio_reader_metadata_at(t->r, i, &k, &v) == 0; i++) {
        PyObject *s = PyUnicode_DecodeUTF8(v, (Py_ssize_t)strlen(v), "replace");
        if (!s || PyDict_SetItemString(d, k, s) != 0) {
            Py_XDECREF(s);
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(s);
    }
    return d;
}

/* Topology columns as bytes objects the Python layer turns into numpy
 * arrays (fixed-width strings, int32, float32, uint32 pairs); None when
 * the file has no topology. */
static PyObject *traj_topology(Trajectory *t, void *unused)
{
    (void)unused;
    if (!traj_open(t))
        return NULL;
    struct pio_topology top;
    if (pio_reader_topology(t->r, &top) != 0)
        Py_RETURN_NONE;
    Py_ssize_t n = (Py_ssize_t)top.natoms;
    return Py_BuildValue("{s:n,s:y#,s:y#,s:y#,s:y#,s:y#,s:y#,s:y#,s:y#}", "natoms", n, "names",
                         (const char *)top.names, n * 8, "resnames", (const char *)top.resnames,
                         n * 8, "elements", (const char *)top.elements, n * 4, "chains",
                         (const char *)top.chains, n * 4, "resids", (const char *)top.resids, n * 4,
                         "masses", (const char *)top.masses, n * 4, "charges",
                         (const char *)top.charges, n * 4, "bonds", (const char *)top.bonds,
                         (Py_ssize_t)top.nbonds * 8);
}

static PyObject *traj_exports(Trajectory *t, void *unused)
{
    (void)unused;
    return PyLong_FromSsize_t(t->exports);
}

static PyObject *traj_path(Trajectory *t, void *unused)
{
    (void)unused;
    if (!t->path)
        Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(t->path));
}

static PyObject *traj_closed(Trajectory *t, void *unused)
{
    (void)unused;
    return PyBool_FromLong(t->r == NULL || t->pending);
}

/* The PyCapsule protocol's stream capsule: freed (and released, unless a
 * consumer moved the stream out) when the capsule goes. */
static void stream_capsule_free(PyObject *cap)
{
    struct ArrowArrayStream *st = PyCapsule_GetPointer(cap, "arrow_array_stream");
    if (!st)
        return;
    if (st->release)
        st->release(st);
    free(st);
}

static PyObject *traj_arrow_stream(Trajectory *t, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"layout", "first", "count", "fields", "batch_frames", NULL};
    const char *layout = "frames";
    unsigned long long first = 0, fields = 0;
    long long count = -1;
    unsigned int batch = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|sKLKI", kwlist, &layout, &first, &count, &fields,
                                     &batch))
        return NULL;
    if (!traj_open(t))
        return NULL;
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    if (strcmp(layout, "frames") && strcmp(layout, "atoms"))
        return raise_fmt(PIO_EUSAGE, "layout is 'frames' or 'atoms', not '%s'", layout);
    o.layout = layout[0] == 'a' ? PIO_ARROW_ATOMS : PIO_ARROW_FRAMES;
    o.first = first;
    o.count = count < 0 ? UINT64_MAX : (uint64_t)count;
    o.fields = (uint32_t)fields;
    o.batch_frames = batch;
    struct ArrowArrayStream *st = calloc(1, sizeof(*st));
    if (!st)
        return PyErr_NoMemory();
    struct pio_error e = {0};
    int rc = pio_arrow_export(st, t->r, &o, &e);
    if (rc != 0) {
        free(st);
        return raise_pio(rc, &e);
    }
    PyObject *cap = PyCapsule_New(st, "arrow_array_stream", stream_capsule_free);
    if (!cap) {
        st->release(st);
        free(st);
    }
    return cap;
}

static PyMethodDef traj_methods[] = {
    {"close", (PyCFunction)(void (*)(void))traj_close, METH_VARARGS | METH_KEYWORDS,
     "close(defer=False): unmap the file. While arrays still view it: BufferError, or with "
     "defer=True the trajectory closes now and the file is unmapped when the last one goes."},
    {"block", (PyCFunction)traj_block, METH_VARARGS, "(see Trajectory.blocks)"},
    {"verify", (PyCFunction)(void (*)(void))traj_verify, METH_VARARGS | METH_KEYWORDS,
     "verify(frame=None): check every checksum of the file, or one frame's; True, or OSError "
     "naming the frame and offset."},
    {"info", (PyCFunction)traj_info, METH_NOARGS,
     "info(): version, recovered (a torn tail was cut off in memory), file_size, data_end, "
     "nframes, min_natoms, max_natoms, step_first, step_last, time_first, time_last, "
     "steps_sorted, times_sorted, engine."},
    {"find_step", (PyCFunction)traj_find_step, METH_O,
     "find_step(step): index of the first frame with that MD step (KeyError if none)."},
    {"find_time", (PyCFunction)traj_find_time, METH_O,
     "find_time(time): index of the frame whose time (ps) is nearest (the earlier on a tie)."},
    {"read_into", (PyCFunction)traj_read_into, METH_VARARGS, "(see Trajectory.read)"},
    {"fill", (PyCFunction)traj_fill, METH_VARARGS,
     "fill(i, ts, length_scale, force_scale): frame i into an MDAnalysis Timestep's arrays "
     "(the MDAnalysis reader's fast path)."},
    {"_wait", (PyCFunction)traj_wait, METH_VARARGS,
     "_wait(timeout_ms): wait for a commit (0: no limit) and take it; the frames that "
     "arrived, 0 when the file is final, None on timeout"},
    {"refresh", (PyCFunction)traj_refresh, METH_NOARGS,
     "refresh(): take the commits made since the file was opened (by another process or "
     "thread): returns how many frames arrived (0: none, or only uncommitted ones). Frames "
     "and arrays from before stay valid."},
    {"select_frames", (PyCFunction)traj_select_frames, METH_O,
     "select_frames(spec): the frame indices a selection string picks (int64 array, in the "
     "order written, repeats kept): items separated by commas, each a slice START:STOP:STEP "
     "(Python's rules), a frame N or an inclusive range N-M. UsageError for a bad spec."},
    {"select_atoms", (PyCFunction)(void (*)(void))traj_select_atoms, METH_VARARGS | METH_KEYWORDS,
     "select_atoms(spec, natoms=-1): the atom indices (sorted, unique int64 array) a selection "
     "string picks, such as 'name CA', 'resid 1-10 and not element H', 'index 0-99' or "
     "'0-99', with this file's topology; natoms -1: the topology's atom count (else frame "
     "0's). UsageError for a bad spec."},
    {"arrow_stream", (PyCFunction)(void (*)(void))traj_arrow_stream, METH_VARARGS | METH_KEYWORDS,
     "arrow_stream(layout='frames', first=0, count=-1, fields=0, batch_frames=1): an "
     "'arrow_array_stream' PyCapsule (see Trajectory.to_arrow)."},
    {NULL, NULL, 0, NULL}};

static PyObject *traj_check(Trajectory *t, void *unused)
{
    (void)unused;
    return PyBool_FromLong(t->check);
}

static PyObject *traj_engine(Trajectory *t, void *unused)
{
    (void)unused;
    struct pio_io_info io;
    if (!traj_open(t))
        return NULL;
    if (pio_reader_io_info(t->r, &io) != 0)
        Py_RETURN_NONE;
    return PyUnicode_FromString(pio_io_engine_name(io.engine));
}

static PyGetSetDef traj_getset[] = {
    {"engine", (getter)traj_engine, NULL,
     "the engine bulk reads (read(), verify()) go through: mmap, pread or uring", NULL},
    {"metadata", (getter)traj_metadata, NULL, "metadata pairs", NULL},
    {"topology_raw", (getter)traj_topology, NULL, "topology columns as bytes", NULL},
    {"live_arrays", (getter)traj_exports, NULL, "frames (and so arrays) viewing the mapping now",
     NULL},
    {"path", (getter)traj_path, NULL, "the file's path", NULL},
    {"closed", (getter)traj_closed, NULL, "whether close() was called", NULL},
    {"final", (getter)traj_final, NULL,
     "whether the file is final: its writer closed it (HOLO 2.0; 1.x files never are)", NULL},
    {"check", (getter)traj_check, NULL, "whether each frame's BLAKE3 is checked on first access",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PySequenceMethods traj_as_sequence = {.sq_length = (lenfunc)traj_len};
static PyMappingMethods traj_as_mapping = {.mp_length = (lenfunc)traj_len,
                                           .mp_subscript = (binaryfunc)traj_subscript};

static PyTypeObject TrajectoryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio._prismio.Trajectory",
    .tp_basicsize = sizeof(Trajectory),
    .tp_dealloc = (destructor)traj_dealloc,
    .tp_as_sequence = &traj_as_sequence,
    .tp_as_mapping = &traj_as_mapping,
    .tp_iter = (getiterfunc)traj_iter,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A HOLO file, mapped (see prismio.open).",
    .tp_methods = traj_methods,
    .tp_getset = traj_getset,
    .tp_init = (initproc)traj_init,
    .tp_new = PyType_GenericNew,
};

/* ---- Writer ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD pio_writer *w;
    int busy; /* an append or commit runs without the GIL */
} Writer;

/* A contiguous buffer of exactly `bytes` bytes (None: not given). */
static int get_buf(PyObject *o, Py_buffer *b, Py_ssize_t bytes, const char *what)
{
    if (o == Py_None) {
        b->obj = NULL;
        b->buf = NULL;
        return 0;
    }
    if (PyObject_GetBuffer(o, b, PyBUF_C_CONTIGUOUS) != 0)
        return -1;
    if (bytes >= 0 && b->len != bytes) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", what, b->len, bytes);
        PyBuffer_Release(b);
        b->obj = NULL;
        return -1;
    }
    return 0;
}

static void put_buf(Py_buffer *b)
{
    if (b->obj)
        PyBuffer_Release(b);
}

static int writer_init(Writer *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {
        "path",        "overwrite", "sync",     "append",      "codec_positions",
        "codec_other", "precision", "keyframe", "group_atoms", NULL};
    PyObject *path;
    int overwrite = 0, sync = 1, append = 0;
    unsigned int cpos = 0, cother = 0, keyframe = 0, group_atoms = 0;
    double precision = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|pppIIdII", kwlist, PyUnicode_FSConverter, &path,
                                     &overwrite, &sync, &append, &cpos, &cother, &precision,
                                     &keyframe, &group_atoms))
        return -1;
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = (overwrite ? PIO_WRITER_OVERWRITE : 0) | (sync ? 0 : PIO_WRITER_NO_SYNC);
    o.codec[0] = cpos;
    o.codec[1] = o.codec[2] = cother;
    o.precision = precision;
    o.keyframe = keyframe;
    o.group_atoms = group_atoms;
    struct pio_error e = {0};
    int rc;
    if (append && overwrite) {
        Py_DECREF(path);
        raise_fmt(PIO_EUSAGE, "Writer: append and overwrite exclude each other");
        return -1;
    }
    Py_BEGIN_ALLOW_THREADS rc =
        append ? pio_writer_open_append(&self->w, PyBytes_AS_STRING(path), &o, &e)
               : pio_writer_create(&self->w, PyBytes_AS_STRING(path), &o, &e);
    Py_END_ALLOW_THREADS Py_DECREF(path);
    if (rc != 0) {
        raise_pio(rc, &e);
        return -1;
    }
    return 0;
}

/* Open and not in use: appends and commits run without the GIL, and a
 * pio_writer takes one call at a time (close included). */
static bool writer_open(Writer *w)
{
    if (!w->w) {
        raise_fmt(PIO_EUSAGE, "the writer is closed");
        return false;
    }
    if (w->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the writer is in use by another thread (one call at a time)");
        return false;
    }
    return true;
}

/* set_topology(natoms, names, elements, resnames, chains, resids, masses, charges, bonds):
 * contiguous buffers (S8, S4, S8, S4, int32, float32, float32, uint32 pairs) or None. */
static PyObject *writer_set_topology(Writer *self, PyObject *args)
{
    Py_ssize_t n;
    PyObject *o[8];
    if (!writer_open(self) || !PyArg_ParseTuple(args, "nOOOOOOOO", &n, &o[0], &o[1], &o[2], &o[3],
                                                &o[4], &o[5], &o[6], &o[7]))
        return NULL;
    const Py_ssize_t sizes[7] = {n * 8, n * 4, n * 8, n * 4, n * 4, n * 4, n * 4};
    static const char *what[8] = {"names",  "elements", "resnames", "chains",
                                  "resids", "masses",   "charges",  "bonds"};
    Py_buffer b[8];
    int k = 0, rc = 0;
    for (; k < 8; k++)
        if (get_buf(o[k], &b[k], k < 7 ? sizes[k] : -1, what[k]) != 0)
            break;
    if (k == 8 && b[7].obj && b[7].len % 8 != 0) {
        PyErr_Format(PyExc_ValueError,
                     "topology bonds: %zd bytes is not a whole number of "
                     "(uint32, uint32) pairs",
                     b[7].len);
        rc = -1;
    }
    if (k == 8 && rc == 0) {
        struct pio_topology t = {(uint64_t)n, b[7].obj ? (uint64_t)b[7].len / 8 : 0,
                                 b[0].buf,    b[1].buf,
                                 b[2].buf,    b[3].buf,
                                 b[4].buf,    b[5].buf,
                                 b[6].buf,    b[7].buf};
        struct pio_error e = {0};
        if ((rc = pio_writer_set_topology(self->w, &t, &e)) != 0)
            raise_pio(rc, &e);
    }
    for (int j = 0; j < k; j++)
        put_buf(&b[j]);
    if (k < 8 || rc != 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *writer_set_metadata(Writer *self, PyObject *args)
{
    const char *key, *value;
    if (!writer_open(self) || !PyArg_ParseTuple(args, "ss", &key, &value))
        return NULL;
    struct pio_error e = {0};
    int rc = pio_writer_set_metadata(self->w, key, value, &e);
    if (rc != 0)
        return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

/* append(natoms, positions, velocities, forces, box, step, time, scalars):
 * float32 (natoms, 3) buffers or None, box 9 doubles or None, scalars a
 * list of (name, value). */
static PyObject *writer_append(Writer *self, PyObject *args)
{
    Py_ssize_t n;
    PyObject *xo, *vo, *fo, *boxo, *sco;
    long long step;
    double time;
    if (!writer_open(self) ||
        !PyArg_ParseTuple(args, "nOOOOLdO", &n, &xo, &vo, &fo, &boxo, &step, &time, &sco))
        return NULL;
    Py_buffer b[4];
    PyObject *objs[4] = {xo, vo, fo, boxo};
    const Py_ssize_t sizes[4] = {n * 12, n * 12, n * 12, 72};
    static const char *what[4] = {"positions", "velocities", "forces", "box"};
    int k = 0;
    for (; k < 4; k++)
        if (get_buf(objs[k], &b[k], sizes[k], what[k]) != 0)
            break;
    struct pio_scalar *sc = NULL;
    Py_ssize_t ns = 0;
    int rc = k < 4 ? -1 : 0;
    if (rc == 0 && sco != Py_None) {
        ns = PyList_Size(sco);
        sc = calloc((size_t)(ns > 0 ? ns : 1), sizeof(*sc));
        for (Py_ssize_t i = 0; sc && i < ns && rc == 0; i++) {
            const char *name;
            double value;
            if (!PyArg_ParseTuple(PyList_GET_ITEM(sco, i), "sd", &name, &value)) {
                rc = -1;
                break;
            }
            if (strlen(name) == 0 || strlen(name) >= sizeof(sc[i].name)) {
                PyErr_Format(PyExc_ValueError,
                             "scalar name '%s': %zu bytes; names are 1 to %zu bytes", name,
                             strlen(name), sizeof(sc[i].name) - 1);
                rc = -1;
                break;
            }
            snprintf(sc[i].name, sizeof(sc[i].name), "%s", name);
            sc[i].value = value;
        }
        if (!sc) {
            PyErr_NoMemory();
            rc = -1;
        }
    }
    if (rc == 0) {
        struct pio_frame f = {0};
        f.natoms = (uint64_t)n;
        f.positions = b[0].buf;
        f.velocities = b[1].buf;
        f.forces = b[2].buf;
        if (b[3].buf) {
            memcpy(f.box, b[3].buf, sizeof(f.box));
            f.fields |= PIO_FIELD_BOX;
        }
        f.step = step;
        f.time = time;
        f.nscalars = (uint32_t)ns;
        f.scalars = sc;
        struct pio_error e = {0};
        self->busy = 1;
        PyThreadState *ts = PyEval_SaveThread();
        rc = pio_writer_append(self->w, &f, &e);
        PyEval_RestoreThread(ts);
        self->busy = 0;
        if (rc != 0)
            raise_pio(rc, &e);
    }
    free(sc);
    for (int j = 0; j < k; j++)
        put_buf(&b[j]);
    if (rc != 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *writer_commit(Writer *self, PyObject *unused)
{
    (void)unused;
    if (!writer_open(self))
        return NULL;
    struct pio_error e = {0};
    self->busy = 1;
    PyThreadState *ts = PyEval_SaveThread();
    int rc = pio_writer_commit(self->w, &e);
    PyEval_RestoreThread(ts);
    self->busy = 0;
    if (rc != 0)
        return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

/* truncate(nframes): pio_writer_truncate. */
static PyObject *writer_truncate(Writer *self, PyObject *args)
{
    unsigned long long n;
    if (!PyArg_ParseTuple(args, "K", &n) || !writer_open(self))
        return NULL;
    struct pio_error e = {0};
    self->busy = 1;
    PyThreadState *ts = PyEval_SaveThread();
    int rc = pio_writer_truncate(self->w, n, &e);
    PyEval_RestoreThread(ts);
    self->busy = 0;
    if (rc != 0)
        return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

static PyObject *writer_close(Writer *self, PyObject *unused)
{
    (void)unused;
    if (!self->w)
        Py_RETURN_NONE;
    if (!writer_open(self))
        return NULL;
    struct pio_error e = {0};
    int rc;
    pio_writer *w = self->w;
    self->w = NULL;
    Py_BEGIN_ALLOW_THREADS rc = pio_writer_close(w, &e);
    Py_END_ALLOW_THREADS if (rc != 0) return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

static PyObject *writer_nframes(Writer *self, void *unused)
{
    (void)unused;
    return PyLong_FromUnsignedLongLong(self->w ? pio_writer_nframes(self->w) : 0);
}

static void writer_dealloc(Writer *self)
{
    pio_writer_close(self->w, NULL); /* commits what was appended */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef writer_methods[] = {
    {"set_topology", (PyCFunction)writer_set_topology, METH_VARARGS, "(see the Python layer)"},
    {"set_metadata", (PyCFunction)writer_set_metadata, METH_VARARGS, "set_metadata(key, value)"},
    {"append_raw", (PyCFunction)writer_append, METH_VARARGS, "(see the Python layer)"},
    {"commit", (PyCFunction)writer_commit, METH_NOARGS, "make the frames so far durable"},
    {"truncate", (PyCFunction)writer_truncate, METH_VARARGS,
     "truncate(nframes): keep frames 0 .. nframes-1, drop the rest, and commit (a restart "
     "from a checkpoint; HOLO 2.0; the dropped records stay as dead bytes)"},
    {"close", (PyCFunction)writer_close, METH_NOARGS, "commit and close"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef writer_getset[] = {
    {"nframes", (getter)writer_nframes, NULL, "frames appended", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject WriterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio._prismio.Writer",
    .tp_basicsize = sizeof(Writer),
    .tp_dealloc = (destructor)writer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A HOLO writer (see prismio.Writer).",
    .tp_methods = writer_methods,
    .tp_getset = writer_getset,
    .tp_init = (initproc)writer_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *mod_version(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(pio_version());
}

static PyObject *mod_remote_built(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(pio_remote_built());
}

/* convert(src, dst, frames, atoms, topology, drop, overwrite): the C
 * converters in this process (pio_source_open, pio_sink_open,
 * pio_pipeline_run without the GIL), as `prismio convert` runs them: XTC
 * decoded on half the CPUs, the HOLO sink hashing on the others. Returns
 * (frames, bytes in, bytes out, seconds); a source's warning (a truncated
 * last frame skipped) becomes a RuntimeWarning. */
static PyObject *mod_convert(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *in, *out;
    const char *frames, *atoms, *top;
    unsigned int drop;
    int overwrite;
    if (!PyArg_ParseTuple(args, "O&O&zzzIp", PyUnicode_FSConverter, &in, PyUnicode_FSConverter,
                          &out, &frames, &atoms, &top, &drop, &overwrite))
        return NULL;
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    po.frames = frames;
    po.atoms = atoms;
    po.drop = drop;
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    struct pio_source_options so = PIO_SOURCE_OPTIONS_INIT;
    struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    so.threads = (uint32_t)(ncpu > 1 ? ncpu / 2 : 1);
    so.topology = top;
    if (overwrite) {
        wo.flags |= PIO_WRITER_OVERWRITE;
        ko.flags |= PIO_SINK_OVERWRITE;
    }
    ko.writer = &wo;
    struct pio_source src;
    struct pio_sink sink;
    struct pio_source_info si;
    struct pio_pipeline_stats st = {0};
    struct pio_error e = {0};
    const char *warning = NULL;
    PyThreadState *ts = PyEval_SaveThread(); /* the GIL released for the run */
    int rc = pio_source_open(&src, PyBytes_AS_STRING(in), &so, &e), opened = rc == 0;
    if (opened) {
        if (src.info(src.ctx, &si, NULL) == 0)
            warning = si.warning;
        rc = pio_sink_open(&sink, PyBytes_AS_STRING(out), &ko, &e);
        if (rc == 0) {
            rc = pio_pipeline_run(&src, &sink, &po, &st, &e);
            pio_sink_destroy(&sink);
        }
    }
    PyEval_RestoreThread(ts);
    PyObject *ret = NULL;
    if (rc != 0)
        raise_pio(rc, &e);
    else if (!warning || PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "%s", warning) == 0)
        ret = Py_BuildValue("(KKKd)", (unsigned long long)st.frames_out,
                            (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
                            st.seconds);
    if (opened) /* after the warning: its text lives in the source */
        pio_source_destroy(&src);
    Py_DECREF(in);
    Py_DECREF(out);
    return ret;
}

/* selection_indices(sel, n, what="frame"): see selection_indices() above. */
static PyObject *mod_selection_indices(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"sel", "n", "what", NULL};
    PyObject *sel;
    Py_ssize_t n;
    const char *what = "frame";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "On|s", kwlist, &sel, &n, &what))
        return NULL;
    if (n < 0)
        return raise_fmt(PIO_EUSAGE, "selection_indices: n = %zd", n);
    return selection_indices(sel, n, what);
}

/* source_info(path, topology): (frames, max_natoms) of any input the
 * converters read (HOLO, XTC, ...), through pio_source_open. */
static PyObject *mod_source_info(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *path;
    const char *top;
    if (!PyArg_ParseTuple(args, "O&z", PyUnicode_FSConverter, &path, &top))
        return NULL;
    struct pio_source_options so = PIO_SOURCE_OPTIONS_INIT;
    so.topology = top;
    so.threads = 1;
    struct pio_source src;
    struct pio_source_info si;
    struct pio_error e = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = pio_source_open(&src, PyBytes_AS_STRING(path), &so, &e);
    if (rc == 0) {
        rc = src.info(src.ctx, &si, &e);
        pio_source_destroy(&src);
    }
    Py_END_ALLOW_THREADS Py_DECREF(path);
    if (rc != 0)
        return raise_pio(rc, &e);
    return Py_BuildValue("(KK)", (unsigned long long)si.nframes, (unsigned long long)si.max_natoms);
}

/* error_class(code): the class raise_code uses for a C code. */
static PyObject *mod_error_class(PyObject *self, PyObject *arg)
{
    (void)self;
    long code = PyLong_AsLong(arg);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    PyObject *cls = error_class((int)code);
    if (!cls)
        Py_RETURN_NONE;
    Py_INCREF(cls);
    return cls;
}

static PyMethodDef mod_methods[] = {
    {"version", mod_version, METH_NOARGS, "Version of libprismio."},
    {"remote_built", mod_remote_built, METH_NOARGS,
     "Whether this build reads http://, https:// and s3:// URLs (libcurl)."},
    {"convert", mod_convert, METH_VARARGS, "(see prismio.convert)"},
    {"selection_indices", (PyCFunction)(void (*)(void))mod_selection_indices,
     METH_VARARGS | METH_KEYWORDS,
     "selection_indices(sel, n, what='frame'): the indices (int64 array) a slice, a sequence "
     "of integers (negative ones from the end) or a boolean mask of n picks out of n."},
    {"source_info", mod_source_info, METH_VARARGS,
     "source_info(path, topology): (frames, max_natoms) of an input the converters read."},
    {"error_class", mod_error_class, METH_O,
     "error_class(code): the prismio exception class for a C error code (None for 0)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT,
                                    "_prismio",
                                    "prism-io: HOLO trajectories",
                                    -1,
                                    mod_methods,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL};

PyMODINIT_FUNC PyInit__prismio(void)
{
    import_array();
    if (PyType_Ready(&TrajectoryType) < 0 || PyType_Ready(&FrameType) < 0 ||
        PyType_Ready(&TrajIterType) < 0 || PyType_Ready(&WriterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m)
        return NULL;
    Py_INCREF(&TrajectoryType);
    Py_INCREF(&FrameType);
    Py_INCREF(&WriterType);
    if (exceptions_init(m) < 0 ||
        PyModule_AddObject(m, "Trajectory", (PyObject *)&TrajectoryType) < 0 ||
        PyModule_AddObject(m, "Frame", (PyObject *)&FrameType) < 0 ||
        PyModule_AddObject(m, "Writer", (PyObject *)&WriterType) < 0 ||
        PyModule_AddIntConstant(m, "FIELD_VELOCITIES", PIO_FIELD_VELOCITIES) < 0 ||
        PyModule_AddIntConstant(m, "FIELD_FORCES", PIO_FIELD_FORCES) < 0 ||
        PyModule_AddIntConstant(m, "FIELD_BOX", PIO_FIELD_BOX) < 0 ||
        PyModule_AddIntConstant(m, "DROP_SCALARS", PIO_DROP_SCALARS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
