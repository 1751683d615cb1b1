"""prismio's exceptions: one class per C error code under prismio.Error,
still OSError for what the file or the OS did (errno set for -errno
codes), ValueError for usage errors, IndexError for indices out of range."""
import errno
import os
import pickle
import subprocess

import numpy as np
import pytest

import prismio
from prismio import _prismio

PRISMIO = os.environ["PRISMIO_CLI"]

# C codes (include/prismio/common.h): part of the ABI
ECORRUPT, ECHECKSUM, EVERSION, ETRUNCATED, EFORMAT, EUSAGE, ELIMIT, ENOTSUPPORTED = (
    -5001, -5002, -5003, -5004, -5005, -5006, -5007, -5008)


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    out = tmp_path_factory.mktemp("err") / "gen.holo"
    subprocess.run([PRISMIO, "gen", str(out), "--atoms", "50", "--frames", "4"], check=True,
                   capture_output=True)
    return str(out)


def test_the_hierarchy():
    E = prismio
    for cls in (E.FileError, E.UsageError):
        assert issubclass(cls, E.Error)
    # the file's or the OS's failures: OSError, as before the hierarchy
    for cls in (E.CorruptError, E.ChecksumError, E.TruncatedError, E.FormatError,
                E.VersionError, E.LimitError, E.UnsupportedError, E.NotFoundError,
                E.ExistsError, E.PermissionDeniedError, E.IsDirectoryError):
        assert issubclass(cls, E.FileError) and issubclass(cls, OSError)
        assert issubclass(cls, E.Error) and not issubclass(cls, ValueError)
    for cls in (E.ChecksumError, E.TruncatedError):
        assert issubclass(cls, E.CorruptError)
    assert issubclass(E.NotFoundError, FileNotFoundError)
    assert issubclass(E.ExistsError, FileExistsError)
    assert issubclass(E.PermissionDeniedError, PermissionError)
    assert issubclass(E.IsDirectoryError, IsADirectoryError)
    # usage: ValueError; an index out of range: IndexError as well
    assert issubclass(E.UsageError, ValueError) and not issubclass(E.UsageError, OSError)
    assert issubclass(E.RangeError, E.UsageError) and issubclass(E.RangeError, IndexError)
    assert issubclass(E.RangeError, ValueError)
    for name in ("Error", "FileError", "CorruptError", "ChecksumError", "TruncatedError",
                 "FormatError", "VersionError", "LimitError", "UnsupportedError",
                 "NotFoundError", "ExistsError", "PermissionDeniedError", "IsDirectoryError",
                 "UsageError", "RangeError"):
        cls = getattr(prismio, name)
        assert name in prismio.__all__ and cls.__module__ == "prismio" and cls.__doc__
        assert cls.__name__ == name


@pytest.mark.parametrize("code,name", [
    (ECORRUPT, "CorruptError"), (ECHECKSUM, "ChecksumError"), (EVERSION, "VersionError"),
    (ETRUNCATED, "TruncatedError"), (EFORMAT, "FormatError"), (EUSAGE, "UsageError"),
    (ELIMIT, "LimitError"), (ENOTSUPPORTED, "UnsupportedError"),
    (-errno.ENOENT, "NotFoundError"), (-errno.EEXIST, "ExistsError"),
    (-errno.EACCES, "PermissionDeniedError"), (-errno.EPERM, "PermissionDeniedError"),
    (-errno.EISDIR, "IsDirectoryError"), (-errno.ERANGE, "RangeError"),
    (-errno.EIO, "FileError"), (-errno.ENOSPC, "FileError"), (-5099, "FileError")])
def test_each_code_has_its_class(code, name):
    cls = _prismio.error_class(code)
    assert cls is getattr(prismio, name)
    if name not in ("FileError", "PermissionDeniedError"):
        assert cls.code == code
    assert _prismio.error_class(0) is None


def test_raised_for_real_failures(gen, tmp_path):
    # -ENOENT: NotFoundError, a FileNotFoundError with errno set
    with pytest.raises(FileNotFoundError) as e:
        prismio.open(str(tmp_path / "missing.holo"))
    assert type(e.value) is prismio.NotFoundError
    assert e.value.errno == errno.ENOENT and e.value.code == -errno.ENOENT
    assert "missing.holo" in str(e.value)
    # -EEXIST: a Writer does not replace a file
    with pytest.raises(FileExistsError) as e:
        prismio.Writer(gen)
    assert type(e.value) is prismio.ExistsError and e.value.errno == errno.EEXIST
    # not a HOLO file: FormatError; a directory too (not a regular file)
    bad = tmp_path / "bad.holo"
    bad.write_bytes(b"not a holo file at all" * 10)
    with pytest.raises(prismio.FormatError) as e:
        prismio.open(bad)
    assert isinstance(e.value, OSError) and e.value.code == EFORMAT and e.value.errno is None
    with pytest.raises(prismio.FormatError):
        prismio.open(tmp_path)
    # a cut header: TruncatedError, a CorruptError
    data = open(gen, "rb").read()
    cut = tmp_path / "cut.holo"
    cut.write_bytes(data[:40])
    with pytest.raises(prismio.CorruptError) as e:
        prismio.open(cut)
    assert type(e.value) is prismio.TruncatedError and e.value.code == ETRUNCATED
    # a flipped bit in a frame: ChecksumError from verify() and from check=True
    with prismio.open(gen) as t:
        pos = t[2].positions.tobytes()
    k = data.find(pos)
    damaged = bytearray(data)
    damaged[k + 7] ^= 0x10
    dpath = tmp_path / "damaged.holo"
    dpath.write_bytes(bytes(damaged))
    with prismio.open(dpath) as t:
        with pytest.raises(prismio.ChecksumError) as e:
            t.verify(frame=2)
        assert "frame 2" in str(e.value) and e.value.code == ECHECKSUM
    with prismio.open(dpath, check=True) as t:
        with pytest.raises(prismio.CorruptError):
            t[2]
        with pytest.raises(prismio.ChecksumError):
            t.read(frames=[2])  # the bulk read checks as a view does
        assert t.read(frames=[0, 1, 3]).shape == (3, 50, 3)


def test_version_error(gen, tmp_path):
    """A major version this library does not read: VersionError (the header
    hash recomputed with the CLI's BLAKE3, so the version is what fails)."""
    d = bytearray(open(gen, "rb").read())
    d[8] = 3
    head = tmp_path / "head96"
    head.write_bytes(bytes(d[:96]))
    h = subprocess.run([PRISMIO, "b3sum", str(head)], check=True, capture_output=True,
                       text=True).stdout.split()[0]
    d[96:128] = bytes.fromhex(h)
    p = tmp_path / "v3.holo"
    p.write_bytes(bytes(d))
    with pytest.raises(prismio.VersionError) as e:
        prismio.open(p)
    assert isinstance(e.value, OSError) and e.value.code == EVERSION and "version 3" in str(e.value)


def test_usage_errors_are_value_errors(gen, tmp_path):
    t = prismio.open(gen)
    with pytest.raises(prismio.RangeError) as e:
        t[4]
    assert isinstance(e.value, IndexError) and e.value.code == -errno.ERANGE
    with pytest.raises(prismio.UsageError):
        t.find_time(float("nan"))
    with pytest.raises(prismio.UsageError):
        prismio.open(gen, engine="floppy")
    with pytest.raises(prismio.UsageError):
        t.select_frames("1-")
    t.close()
    with pytest.raises(prismio.UsageError, match="closed") as e:
        len(t)
    assert isinstance(e.value, ValueError) and e.value.code == EUSAGE
    w = prismio.Writer(str(tmp_path / "w.holo"))
    with pytest.raises(prismio.UsageError, match="scalar name"):
        w.append(np.zeros((2, 3)), scalars={"": 1.0})
    w.close()
    with pytest.raises(prismio.UsageError, match="closed"):
        w.append(np.zeros((2, 3)))
    with pytest.raises(prismio.UsageError, match="same file"):
        prismio.convert(gen, gen)


def test_exceptions_pickle(tmp_path):
    """Exceptions cross process boundaries (multiprocessing) with their
    class, message, code and errno."""
    for call in (lambda: prismio.open(str(tmp_path / "missing.holo")),
                 lambda: prismio.open(tmp_path)):
        with pytest.raises(prismio.Error) as e:
            call()
        back = pickle.loads(pickle.dumps(e.value))
        assert type(back) is type(e.value) and str(back) == str(e.value)
        assert back.code == e.value.code and back.errno == e.value.errno
