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

#include <math.h>
#include <unistd.h>

#include <prismio.h>

typedef struct {
    PyObject_HEAD pio_reader *r;
    Py_ssize_t exports; /* live Frames (each, with its arrays, a view of the mapping) */
    PyObject *path;
    int pending; /* closed with live views: unmap when the last one goes */
    int check;   /* PIO_READER_CHECK_FRAMES: each frame's BLAKE3 checked on first access */
} Trajectory;

/* One frame: its header values, pointers into the mapping, and what its
 * box and scalars became on first use. */
typedef struct {
    PyObject_HEAD Trajectory *traj;
    struct pio_frame f;
    PyObject *box, *scalars;
} Frame;

static PyTypeObject TrajectoryType, FrameType, TrajIterType;

static PyObject *raise_pio(int rc, const struct pio_error *e)
{
    PyObject *exc = rc == -ENOENT      ? PyExc_FileNotFoundError
                    : rc == -ERANGE    ? PyExc_IndexError
                    : rc == PIO_EUSAGE ? PyExc_ValueError
                                       : PyExc_OSError;
    PyErr_SetString(exc, e && e->message[0] ? e->message : pio_strerror(rc));
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
        return PyErr_Format(PyExc_IndexError, "frame %zd out of range (%zd frames)", given, n);
    Frame *fr = PyObject_New(Frame, &FrameType);
    if (!fr)
        return NULL;
    fr->traj = NULL;
    fr->box = fr->scalars = NULL;
    struct pio_error e = {0};
    int rc = pio_reader_frame(t->r, (uint64_t)i, &fr->f, &e);
    if (rc != 0) {
        Py_DECREF(fr);
        return raise_pio(rc, &e);
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
    static char *kwlist[] = {"path", "check", NULL};
    PyObject *path;
    int check = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|p", kwlist, PyUnicode_FSConverter, &path,
                                     &check))
        return -1;
    if (self->r || self->path) { /* __init__ again: the old mapping may have views */
        Py_DECREF(path);
        PyErr_SetString(PyExc_ValueError, "this trajectory was opened once already (open another)");
        return -1;
    }
    struct pio_error e = {0};
    int rc;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = check ? PIO_READER_CHECK_FRAMES : 0;
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
        PyErr_SetString(PyExc_ValueError, "the trajectory is closed");
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

/* t[i]: a Frame; t[a:b:c]: a list of Frames. */
static PyObject *traj_subscript(Trajectory *t, PyObject *key)
{
    if (!traj_open(t))
        return NULL;
    if (PySlice_Check(key)) {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0)
            return NULL;
        Py_ssize_t n =
            PySlice_AdjustIndices((Py_ssize_t)pio_reader_nframes(t->r), &start, &stop, step);
        PyObject *list = PyList_New(n);
        for (Py_ssize_t k = 0; list && k < n; k++) {
            PyObject *fr = frame_make(t, start + k * step);
            if (!fr)
                Py_CLEAR(list);
            else
                PyList_SET_ITEM(list, k, fr);
        }
        return list;
    }
    Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    return frame_make(t, i);
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
static PyObject *traj_block(Trajectory *t, PyObject *args)
{
    static const char *names[3] = {"positions", "velocities", "forces"};
    Py_ssize_t start, max;
    int field;
    if (!PyArg_ParseTuple(args, "nni", &start, &max, &field) || !traj_open(t))
        return NULL;
    if (field < 0 || field > 2 || max < 1)
        return PyErr_Format(PyExc_ValueError, "block: field %d, size %zd", field, max);
    Py_ssize_t n = (Py_ssize_t)pio_reader_nframes(t->r);
    if (start < 0 || start >= n)
        return PyErr_Format(PyExc_IndexError, "frame %zd out of range (%zd frames)", start, n);
    Frame *fr = (Frame *)frame_make(t, start);
    if (!fr)
        return NULL;
    const char *p0 = (const char *)field_of(&fr->f, field);
    if (!p0) {
        Py_DECREF(fr);
        return PyErr_Format(PyExc_ValueError, "%s: frame %zd has no %s", PyBytes_AS_STRING(t->path),
                            start, names[field]);
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
        if (!p || g.natoms != fr->f.natoms)
            break;
        if (k == 1)
            stride = p - p0;
        if (stride <= 0 || p != p0 + k * stride)
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
        b.len != (Py_ssize_t)(n * 12)) {
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

/* fill(i, pos, vel, frc, length_scale, force_scale): frame i's arrays into
 * the given float32 arrays (vel, frc may be None), positions and
 * velocities times length_scale, forces times force_scale, and return
 * (step, time, dimensions or None, scalars or None); dimensions are the box's lengths (scaled) and
 * angles in degrees, as MDAnalysis keeps them. One C call per frame instead of views, a box matrix
 * and unit conversions made in Python. */
static PyObject *traj_fill(Trajectory *t, PyObject *args)
{
    Py_ssize_t i;
    PyObject *pos, *vel, *frc;
    float ls, fs;
    if (!PyArg_ParseTuple(args, "nOOOff", &i, &pos, &vel, &frc, &ls, &fs) || !traj_open(t))
        return NULL;
    if (i < 0 || (uint64_t)i >= pio_reader_nframes(t->r))
        return PyErr_Format(PyExc_IndexError, "frame %zd out of range", i);
    struct pio_frame f;
    struct pio_error e = {0};
    int rc = pio_reader_frame(t->r, (uint64_t)i, &f, &e);
    if (rc != 0)
        return raise_pio(rc, &e);
    if (fill_array(pos, f.positions, f.natoms, ls) != 0)
        return NULL;
    bool hv = f.velocities && vel != Py_None, hf = f.forces && frc != Py_None;
    if ((hv && fill_array(vel, f.velocities, f.natoms, ls) != 0) ||
        (hf && fill_array(frc, f.forces, f.natoms, fs) != 0))
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

/* ---- bulk reads through the pipeline ------------------------------------------------- */

struct bulk_sink {
    float *out; /* nframes x natoms x 3 */
    Py_ssize_t natoms, nframes, done;
};

static int bulk_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    (void)ctx;
    (void)info;
    (void)err;
    return 0;
}

static int bulk_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct bulk_sink *s = ctx;
    for (uint32_t f = 0; f < b->nframes; f++) {
        if ((Py_ssize_t)b->natoms[f] != s->natoms || s->done >= s->nframes) {
            err->code = PIO_EUSAGE;
            snprintf(err->message, sizeof(err->message),
                     "frame %llu has %llu selected atoms, the output array %zd",
                     (unsigned long long)b->index[f], (unsigned long long)b->natoms[f], s->natoms);
            return PIO_EUSAGE;
        }
        memcpy(s->out + s->done * s->natoms * 3,
               (const float *)b->positions + b->atom_offset[f] * 3, (size_t)s->natoms * 12);
        s->done++;
    }
    return 0;
}

static int bulk_end(void *ctx, bool ok, struct pio_error *err)
{
    (void)ctx;
    (void)ok;
    (void)err;
    return 0;
}

/* read_into(out, frames_spec, atoms_spec, engine): positions of the
 * selected frames and atoms into a writable float32 buffer of exactly
 * nframes x natoms x 3 (the Python layer sizes it), through the pipeline
 * and the engine named ("auto", "mmap", "pread", "uring"). */
static PyObject *traj_read_into(Trajectory *t, PyObject *args)
{
    PyObject *outo;
    const char *frames, *atoms, *engine;
    Py_ssize_t nframes, natoms;
    if (!traj_open(t) ||
        !PyArg_ParseTuple(args, "Onnzzs", &outo, &nframes, &natoms, &frames, &atoms, &engine))
        return NULL;
    enum pio_io_engine eng;
    if (pio_io_engine_parse(engine, &eng) != 0)
        return PyErr_Format(PyExc_ValueError, "engine '%s': one of auto, mmap, pread, uring",
                            engine);
    Py_buffer b;
    if (PyObject_GetBuffer(outo, &b, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0)
        return NULL;
    if (b.len != nframes * natoms * 12) {
        PyBuffer_Release(&b);
        return PyErr_Format(PyExc_ValueError, "output: %zd bytes, expected %zd", b.len,
                            nframes * natoms * 12);
    }
    struct bulk_sink bs = {b.buf, natoms, nframes, 0};
    struct pio_sink sink = {.name = "sink numpy",
                            .ctx = &bs,
                            .precision = PIO_FLOAT32,
                            .length_unit = PIO_UNIT_NM,
                            .begin = bulk_begin,
                            .write = bulk_write,
                            .end = bulk_end};
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.engine = eng;
    struct pio_source src;
    struct pio_error e = {0};
    int rc = pio_source_holo(&src, PyBytes_AS_STRING(t->path), &ro, PIO_SOURCE_NO_VERIFY, &e);
    if (rc == 0) {
        struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
        po.frames = frames;
        po.atoms = atoms;
        po.drop = PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES | PIO_DROP_SCALARS;
        Py_BEGIN_ALLOW_THREADS rc = pio_pipeline_run(&src, &sink, &po, NULL, &e);
        Py_END_ALLOW_THREADS pio_source_destroy(&src);
    }
    PyBuffer_Release(&b);
    if (rc != 0)
        return raise_pio(rc, &e);
    if (bs.done != nframes)
        return PyErr_Format(PyExc_RuntimeError, "%zd frames read, %zd expected", bs.done, nframes);
    Py_RETURN_NONE;
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
            return PyErr_Format(PyExc_IndexError, "frame %zd out of range (%zd frames)", given, n);
    }
    struct pio_error e = {0};
    /* Without the GIL another thread may call close(): the check counts
     * as a live export until it ends, so close() raises or defers. */
    t->exports++;
    PyThreadState *ts = PyEval_SaveThread();
    int rc =
        i < 0 ? pio_reader_verify(t->r, 0, &e) : pio_reader_verify_frame(t->r, (uint64_t)i, &e);
    PyEval_RestoreThread(ts);
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
        return PyErr_Format(PyExc_ValueError, "find_time: NaN");
    int64_t i = pio_reader_find_time(t->r, time);
    if (i < 0)
        return PyErr_Format(PyExc_IndexError, "find_time: the trajectory has no frames");
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
        return PyErr_Format(PyExc_ValueError, "layout is 'frames' or 'atoms', not '%s'", layout);
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
     "fill(i, pos, vel, frc, length_scale, force_scale): frame i into a Timestep's arrays "
     "(the MDAnalysis reader's fast path)."},
    {"arrow_stream", (PyCFunction)(void (*)(void))traj_arrow_stream, METH_VARARGS | METH_KEYWORDS,
     "arrow_stream(layout='frames', first=0, count=-1, fields=0, batch_frames=1): an "
     "'arrow_array_stream' PyCapsule (see Trajectory.to_arrow)."},
    {NULL, NULL, 0, NULL}};

static PyObject *traj_check(Trajectory *t, void *unused)
{
    (void)unused;
    return PyBool_FromLong(t->check);
}

static PyGetSetDef traj_getset[] = {
    {"metadata", (getter)traj_metadata, NULL, "metadata pairs", NULL},
    {"topology_raw", (getter)traj_topology, NULL, "topology columns as bytes", NULL},
    {"live_arrays", (getter)traj_exports, NULL, "frames (and so arrays) viewing the mapping now",
     NULL},
    {"path", (getter)traj_path, NULL, "the file's path", NULL},
    {"closed", (getter)traj_closed, NULL, "whether close() was called", NULL},
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
    static char *kwlist[] = {"path", "overwrite", "sync", NULL};
    PyObject *path;
    int overwrite = 0, sync = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|pp", kwlist, PyUnicode_FSConverter, &path,
                                     &overwrite, &sync))
        return -1;
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = (overwrite ? PIO_WRITER_OVERWRITE : 0) | (sync ? 0 : PIO_WRITER_NO_SYNC);
    struct pio_error e = {0};
    int rc = pio_writer_create(&self->w, PyBytes_AS_STRING(path), &o, &e);
    Py_DECREF(path);
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
        PyErr_SetString(PyExc_ValueError, "the writer is closed");
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

static PyMethodDef mod_methods[] = {{"version", mod_version, METH_NOARGS, "Version of libprismio."},
                                    {"convert", mod_convert, METH_VARARGS, "(see prismio.convert)"},
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
    if (PyModule_AddObject(m, "Trajectory", (PyObject *)&TrajectoryType) < 0 ||
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
