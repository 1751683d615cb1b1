"""The Arrow PyCapsule protocol (__arrow_c_stream__), consumed here with
ctypes the way pyarrow or polars would (no pyarrow in Debian 12): capsule
name, schema, every value against the numpy views, zero copy, the release
rules, and a stream that outlives the trajectory's close()."""
import ctypes
import os
import subprocess

import numpy as np
import pytest

import prismio

PRISMIO = os.environ["PRISMIO_CLI"]
DATA = os.environ["PRISMIO_TEST_DATA"]


class ArrowSchema(ctypes.Structure):
    pass


ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p), ("name", ctypes.c_char_p), ("metadata", ctypes.c_void_p),
    ("flags", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowSchema))),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowSchema))),
    ("private_data", ctypes.c_void_p)]


class ArrowArray(ctypes.Structure):
    pass


ArrowArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowArray))),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArray))),
    ("private_data", ctypes.c_void_p)]


class ArrowArrayStream(ctypes.Structure):
    pass


ArrowArrayStream._fields_ = [
    ("get_schema", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ArrowArrayStream),
                                    ctypes.POINTER(ArrowSchema))),
    ("get_next", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ArrowArrayStream),
                                  ctypes.POINTER(ArrowArray))),
    ("get_last_error", ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.POINTER(ArrowArrayStream))),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArrayStream))),
    ("private_data", ctypes.c_void_p)]

_get = ctypes.pythonapi.PyCapsule_GetPointer
_get.restype = ctypes.c_void_p
_get.argtypes = [ctypes.py_object, ctypes.c_char_p]
_name = ctypes.pythonapi.PyCapsule_GetName
_name.restype = ctypes.c_char_p
_name.argtypes = [ctypes.py_object]


def take_stream(capsule):
    """Move the stream out of the capsule, as a consumer does (the capsule's
    destructor then finds it released)."""
    assert _name(capsule) == b"arrow_array_stream"
    src = ArrowArrayStream.from_address(_get(capsule, b"arrow_array_stream"))
    st = ArrowArrayStream()
    ctypes.memmove(ctypes.byref(st), ctypes.byref(src), ctypes.sizeof(st))
    src.release = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArrayStream))()  # NULL: moved
    return st


def batches(st):
    schema = ArrowSchema()
    assert st.get_schema(ctypes.byref(st), ctypes.byref(schema)) == 0
    names = [schema.children[i].contents.name.decode() for i in range(schema.n_children)]
    formats = [schema.children[i].contents.format.decode() for i in range(schema.n_children)]
    out = []
    while True:
        b = ArrowArray()
        assert st.get_next(ctypes.byref(st), ctypes.byref(b)) == 0
        if not b.release:
            break
        out.append(b)
    schema.release(ctypes.byref(schema))
    assert not schema.release
    return dict(zip(names, range(len(names)))), formats, out


def buffer(arr, i, dtype, count):
    p = arr.buffers[i]
    return np.ctypeslib.as_array(ctypes.cast(p, ctypes.POINTER(np.ctypeslib.as_ctypes_type(dtype))),
                                 shape=(count,)).copy() if count else np.empty(0, dtype)


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    out = tmp_path_factory.mktemp("arrow") / "gen.holo"
    subprocess.run([PRISMIO, "gen", str(out), "--atoms", "50", "--frames", "9", "--fields",
                    "x,v,f", "--seed", "3"], check=True, capture_output=True)
    return str(out)


def test_frames_layout_values_and_zero_copy(gen):
    with prismio.open(gen) as t:
        st = take_stream(t.__arrow_c_stream__())
        cols, formats, bs = batches(st)
        assert formats[cols["positions"]] == "+l" and formats[cols["box"]] == "+w:9"
        assert len(bs) == len(t) == 9
        for i, b in enumerate(bs):
            f = t[i]
            assert b.length == 1
            step = buffer(b.children[cols["step"]].contents, 1, np.int64, 1)
            assert step[0] == f.step
            for field in ("positions", "velocities", "forces"):
                lst = b.children[cols[field]].contents
                item = lst.children[0].contents.children[0].contents
                got = buffer(item, 1, np.float32, 3 * f.natoms).reshape(-1, 3)
                assert np.array_equal(got, getattr(f, field))
                # zero copy: the same address as the numpy view of the mapping
                assert item.buffers[1] == getattr(f, field).__array_interface__["data"][0]
            b.release(ctypes.byref(b))
            assert not b.release
        st.release(ctypes.byref(st))
        assert not st.release


def test_atoms_layout_and_ranges(gen):
    with prismio.open(gen) as t:
        st = take_stream(t.to_arrow(layout="atoms", frames=slice(2, 5),
                                    fields=["positions"]).__arrow_c_stream__())
        cols, formats, bs = batches(st)
        assert list(cols)[:7] == ["frame", "step", "time", "atom", "x", "y", "z"]
        assert "vx" not in cols and formats[cols["name"]] == "u"
        assert len(bs) == 3
        names = t.topology["names"]
        for k, b in enumerate(bs):
            f = t[2 + k]
            assert b.length == f.natoms
            frame = buffer(b.children[cols["frame"]].contents, 1, np.int64, b.length)
            assert (frame == 2 + k).all()
            for c, axis in (("x", 0), ("y", 1), ("z", 2)):
                got = buffer(b.children[cols[c]].contents, 1, np.float32, b.length)
                assert np.array_equal(got, f.positions[:, axis])
            name = b.children[cols["name"]].contents
            off = buffer(name, 1, np.int32, b.length + 1)
            data = ctypes.string_at(name.buffers[2], int(off[-1]))
            assert data[off[4]:off[5]] == names[4].rstrip(b"\0")
            b.release(ctypes.byref(b))
        st.release(ctypes.byref(st))
    with pytest.raises(ValueError):
        t.to_arrow(layout="rows")
    with pytest.raises(ValueError):
        prismio.open(gen).to_arrow(frames=slice(0, 9, 2))


def test_stream_outlives_close_and_capsule_frees_unconsumed(gen):
    t = prismio.open(gen)
    want = t[3].positions.copy()
    cap = t.to_arrow(frames=slice(3, 4)).__arrow_c_stream__()
    unused = t.__arrow_c_stream__()  # never consumed: its destructor releases it
    t.close()
    st = take_stream(cap)
    cols, _, bs = batches(st)
    st.release(ctypes.byref(st))
    item = bs[0].children[cols["positions"]].contents.children[0].contents.children[0].contents
    got = buffer(item, 1, np.float32, want.size).reshape(-1, 3)
    assert np.array_equal(got, want)  # the mapping is still there
    bs[0].release(ctypes.byref(bs[0]))
    del unused, cap
    with pytest.raises(ValueError):
        t.__arrow_c_stream__()  # closed


def test_compressed_file_exports_decoded(tmp_path):
    """A compressed file (blocks of 4 frames) exports its decoded values, in
    a batch of 40 frames (more than the reader's ring of 16 decoded frames,
    so nothing is read after the ring reused it), the batch owning its
    arrays: they stay right after the stream and trajectory close."""
    src, out = str(tmp_path / "g.holo"), str(tmp_path / "c.holo")
    subprocess.run([PRISMIO, "gen", src, "--atoms", "50", "--frames", "40", "--fields",
                    "x,v,f", "--seed", "4"], check=True, capture_output=True)
    r = subprocess.run([PRISMIO, "convert", src, out, "--compress", "lossless", "--keyframe",
                        "4", "--quiet"], capture_output=True)
    if r.returncode == 69:
        pytest.skip("this build has no zstd")
    assert r.returncode == 0
    with prismio.open(src) as raw:
        want = [(raw[i].positions.copy(), raw[i].forces.copy()) for i in range(len(raw))]
    with prismio.open(out) as t:
        st = take_stream(t.to_arrow(batch_frames=40).__arrow_c_stream__())
        cols, formats, bs = batches(st)
        st.release(ctypes.byref(st))
    assert len(bs) == 1 and bs[0].length == 40
    b = bs[0]
    for field, k in (("positions", 0), ("forces", 1)):
        lst = b.children[cols[field]].contents
        items = lst.children[0].contents.children[0].contents
        got = buffer(items, 1, np.float32, 3 * 50 * 40).reshape(40, 50, 3)
        for i in range(40):
            assert np.array_equal(got[i], want[i][k])
    b.release(ctypes.byref(b))
