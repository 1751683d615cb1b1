/*
 * The extensions' errors: prismio's exception classes (prismio._prismio).
 */
#ifndef PIO_PYERR_H
#define PIO_PYERR_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include <prismio.h>

/* prismio's exception for rc (prismio._prismio.error_class), raised with
 * the message and `code`. */
static PyObject *raise_pio(int rc, const struct pio_error *e)
{
    const char *msg = e && e->message[0] ? e->message : pio_strerror(rc);
    PyObject *mod = PyImport_ImportModule("prismio._prismio");
    PyObject *cls = mod ? PyObject_CallMethod(mod, "error_class", "i", rc) : NULL;
    Py_XDECREF(mod);
    if (!cls)
        return NULL;
    PyObject *text = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace");
    PyObject *exc = text ? PyObject_CallFunctionObjArgs(cls, text, NULL) : NULL;
    Py_XDECREF(text);
    if (exc) {
        PyObject *code = PyLong_FromLong(rc);
        if (code && PyObject_SetAttrString(exc, "code", code) == 0)
            PyErr_SetObject(cls, exc);
        Py_XDECREF(code);
        Py_DECREF(exc);
    }
    Py_DECREF(cls);
    return NULL;
}

#endif /* PIO_PYERR_H */
