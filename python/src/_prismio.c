/*
 * prismio._prismio: the C extension under the `prismio` package, over the
 * public C API only.
 *
 * Zero copy: a frame's arrays are exported through the buffer protocol as
 * read-only (natoms, 3) float32 views into the reader's mapping; numpy
 * wraps them without copying (numpy.asarray). Every exported view holds a
 * reference to its Trajectory and counts as a live export: close() with
 * live exports raises instead of unmapping memory that arrays still use,
 * and the mapping stays until the last view is gone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>

#include <prismio.h>

typedef struct {
    PyObject_HEAD pio_reader *r;
    Py_ssize_t exports; /* live Array objects (each a view of the mapping) */
    PyObject *path;
    int pending; /* closed with live views: unmap when the last one goes */
} Trajectory;

/* One array of one frame, exported through the buffer protocol. */
typedef struct {
    PyObject_HEAD Trajectory *traj;
    const float *data;
    Py_ssize_t natoms;
    Py_ssize_t shape[2], strides[2];
} Array;

static PyTypeObject TrajectoryType, ArrayType;

static PyObject *raise_pio(int rc, const struct pio_error *e)
{
    PyObject *exc = rc == -ENOENT      ? PyExc_FileNotFoundError
                    : rc == -ERANGE    ? PyExc_IndexError
                    : rc == PIO_EUSAGE ? PyExc_ValueError
                                       : PyExc_OSError;
    PyErr_SetString(exc, e && e->message[0] ? e->message : pio_strerror(rc));
    return NULL;
}

/* ---- Array: buffer exporter ---------------------------------------------------- */

static int array_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    Array *a = (Array *)self;
    if (flags & PyBUF_WRITABLE) {
        PyErr_SetString(PyExc_BufferError, "prismio arrays are read-only (they map the file)");
        return -1;
    }
    if (!a->traj->r) { /* cannot happen while the Array lives; kept as a guard */
        PyErr_SetString(PyExc_ValueError, "the trajectory is closed");
        return -1;
    }
    view->buf = (void *)a->data;
    view->obj = self;
    Py_INCREF(self);
    view->len = a->natoms * 3 * (Py_ssize_t)sizeof(float);
    view->readonly = 1;
    view->itemsize = sizeof(float);
    view->format = (flags & PyBUF_FORMAT) ? "f" : NULL;
    view->ndim = 2;
    view->shape = a->shape;
    view->strides = a->strides;
    view->suboffsets = NULL;
    view->internal = NULL;
    return 0;
}

static void array_releasebuffer(PyObject *self, Py_buffer *view)
{
    (void)self;
    (void)view;
}

static PyBufferProcs array_as_buffer = {array_getbuffer, array_releasebuffer};

/* An Array counts as a live export from its creation to its death (numpy
 * views keep it alive through their base), so a Frame whose arrays are
 * made lazily holds the mapping just as its views would. */
static void array_dealloc(Array *a)
{
    Trajectory *t = a->traj;
    if (t && --t->exports == 0 && t->pending) { /* a deferred close: now */
        pio_reader_close(t->r);
        t->r = NULL;
        t->pending = 0;
    }
    Py_XDECREF(a->traj);
    Py_TYPE(a)->tp_free((PyObject *)a);
}

static PyTypeObject ArrayType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio._prismio.Array",
    .tp_basicsize = sizeof(Array),
    .tp_dealloc = (destructor)array_dealloc,
    .tp_as_buffer = &array_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A read-only (natoms, 3) float32 view into a mapped HOLO file.",
};

static PyObject *make_array(Trajectory *t, const float (*data)[3], uint64_t natoms)
{
    if (!data)
        Py_RETURN_NONE;
    Array *a = PyObject_New(Array, &ArrayType);
    if (!a)
        return NULL;
    Py_INCREF(t);
    a->traj = t;
    t->exports++;
    a->data = (const float *)data;
    a->natoms = (Py_ssize_t)natoms;
    a->shape[0] = (Py_ssize_t)natoms;
    a->shape[1] = 3;
    a->strides[0] = 3 * sizeof(float);
    a->strides[1] = sizeof(float);
    return (PyObject *)a;
}

/* ---- Trajectory ----------------------------------------------------------------- */

static int traj_init(Trajectory *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", NULL};
    PyObject *path;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&", kwlist, PyUnicode_FSConverter, &path))
        return -1;
    struct pio_error e = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = pio_reader_open(&self->r, PyBytes_AS_STRING(path), NULL, &e);
    Py_END_ALLOW_THREADS if (rc != 0)
    {
        Py_DECREF(path);
        raise_pio(rc, &e);
        return -1;
    }
    self->path = path;
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
                            "%zd arrays still view this trajectory's mapping: delete them (or "
                            "copy them) before close()",
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

/* Frame i as a dict of views and values (the Python layer wraps it). */
static PyObject *traj_frame(Trajectory *t, PyObject *arg)
{
    if (!traj_open(t))
        return NULL;
    Py_ssize_t i = PyLong_AsSsize_t(arg);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t n = (Py_ssize_t)pio_reader_nframes(t->r);
    if (i < 0)
        i += n;
    if (i < 0 || i >= n)
        return PyErr_Format(PyExc_IndexError, "frame %zd out of range (%zd frames)", i, n);
    struct pio_frame f;
    struct pio_error e = {0};
    int rc = pio_reader_frame(t->r, (uint64_t)i, &f, &e);
    if (rc != 0)
        return raise_pio(rc, &e);
    PyObject *scalars = PyDict_New();
    for (uint32_t k = 0; scalars && k < f.nscalars; k++) {
        PyObject *v = PyFloat_FromDouble(f.scalars[k].value);
        if (!v || PyDict_SetItemString(scalars, f.scalars[k].name, v) != 0) {
            Py_XDECREF(v);
            Py_CLEAR(scalars);
            break;
        }
        Py_DECREF(v);
    }
    PyObject *box = Py_None;
    Py_INCREF(Py_None);
    if (f.fields & PIO_FIELD_BOX) {
        Py_DECREF(Py_None);
        box = Py_BuildValue("((ddd)(ddd)(ddd))", f.box[0][0], f.box[0][1], f.box[0][2], f.box[1][0],
                            f.box[1][1], f.box[1][2], f.box[2][0], f.box[2][1], f.box[2][2]);
    }
    PyObject *x = make_array(t, f.positions, f.natoms), *v = make_array(t, f.velocities, f.natoms),
             *fo = make_array(t, f.forces, f.natoms);
    PyObject *d = NULL;
    if (scalars && box && x && v && fo)
        d = Py_BuildValue("{s:n,s:L,s:d,s:O,s:O,s:O,s:O,s:O,s:K}", "index", i, "step",
                          (long long)f.step, "time", f.time, "positions", x, "velocities", v,
                          "forces", fo, "box", box, "scalars", scalars, "natoms",
                          (unsigned long long)f.natoms);
    Py_XDECREF(scalars);
    Py_XDECREF(box);
    Py_XDECREF(x);
    Py_XDECREF(v);
    Py_XDECREF(fo);
    return d;
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

static PyObject *traj_verify(Trajectory *t, PyObject *unused)
{
    (void)unused;
    if (!traj_open(t))
        return NULL;
    struct pio_error e = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = pio_reader_verify(t->r, 0, &e);
    Py_END_ALLOW_THREADS if (rc != 0) return raise_pio(rc, &e);
    Py_RETURN_TRUE;
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
    {"frame", (PyCFunction)traj_frame, METH_O, "Frame i as a dict of zero-copy views."},
    {"verify", (PyCFunction)traj_verify, METH_NOARGS, "Check every checksum (raises on damage)."},
    {"read_into", (PyCFunction)traj_read_into, METH_VARARGS, "(see Trajectory.read)"},
    {"fill", (PyCFunction)traj_fill, METH_VARARGS,
     "fill(i, pos, vel, frc, length_scale, force_scale): frame i into a Timestep's arrays "
     "(the MDAnalysis reader's fast path)."},
    {"arrow_stream", (PyCFunction)(void (*)(void))traj_arrow_stream, METH_VARARGS | METH_KEYWORDS,
     "arrow_stream(layout='frames', first=0, count=-1, fields=0, batch_frames=1): an "
     "'arrow_array_stream' PyCapsule (see Trajectory.to_arrow)."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef traj_getset[] = {
    {"metadata", (getter)traj_metadata, NULL, "metadata pairs", NULL},
    {"topology_raw", (getter)traj_topology, NULL, "topology columns as bytes", NULL},
    {"live_arrays", (getter)traj_exports, NULL, "arrays viewing the mapping now", NULL},
    {"closed", (getter)traj_closed, NULL, "whether close() was called", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PySequenceMethods traj_as_sequence = {.sq_length = (lenfunc)traj_len};

static PyTypeObject TrajectoryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "prismio._prismio.Trajectory",
    .tp_basicsize = sizeof(Trajectory),
    .tp_dealloc = (destructor)traj_dealloc,
    .tp_as_sequence = &traj_as_sequence,
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

static bool writer_open(Writer *w)
{
    if (!w->w) {
        PyErr_SetString(PyExc_ValueError, "the writer is closed");
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
    if (k == 8) {
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
        Py_BEGIN_ALLOW_THREADS rc = pio_writer_append(self->w, &f, &e);
        Py_END_ALLOW_THREADS if (rc != 0) raise_pio(rc, &e);
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
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = pio_writer_commit(self->w, &e);
    Py_END_ALLOW_THREADS if (rc != 0) return raise_pio(rc, &e);
    Py_RETURN_NONE;
}

static PyObject *writer_close(Writer *self, PyObject *unused)
{
    (void)unused;
    if (!self->w)
        Py_RETURN_NONE;
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

static PyMethodDef mod_methods[] = {{"version", mod_version, METH_NOARGS, "Version of libprismio."},
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
    if (PyType_Ready(&TrajectoryType) < 0 || PyType_Ready(&ArrayType) < 0 ||
        PyType_Ready(&WriterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m)
        return NULL;
    Py_INCREF(&TrajectoryType);
    Py_INCREF(&WriterType);
    if (PyModule_AddObject(m, "Trajectory", (PyObject *)&TrajectoryType) < 0 ||
        PyModule_AddObject(m, "Writer", (PyObject *)&WriterType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
