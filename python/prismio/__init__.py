"""prism-io: HOLO trajectories in Python, with zero-copy numpy views.

    import prismio
    with prismio.open("traj.holo") as traj:
        print(len(traj), traj.topology["names"][:3])
        x = traj[10].positions          # (natoms, 3) float32, a view of the file
        print(x.mean(axis=0))

Arrays view the file's mapping (read-only, no copy); the file stays mapped
while any of them lives: close() raises BufferError until they are gone
(copy what you keep: x.copy()), close(defer=True) and the end of a `with`
block close the trajectory at once and unmap the file when the last array
goes.

Selections. Wherever a frame or atom selection is taken (indexing a
Trajectory, read(), blocks(), to_arrow(), convert()), it may be

- a slice: ``slice(10, None, 5)``;
- a sequence, iterable or numpy array of integers (negative ones count
  from the end; one past either end raises RangeError, an IndexError):
  frames in the order given; read()'s atoms ascending, and unique;
- a numpy boolean mask (or list of bools) with exactly one entry per frame
  or atom (UsageError, a ValueError, otherwise);
- a string, as the CLI takes it: frames ``"::10"``, ``"0-99,200"``; atoms
  ``"name CA"``, ``"resid 1-10 and not element H"``, ``"0-99"``
  (Trajectory.select_frames and select_atoms give the indices a string
  picks). Indexing takes no strings: ``t["0"]`` is a TypeError.

Errors. What the C library reports is raised as a subclass of
prismio.Error, one per error code; `code` holds the code:

    Error                                     base of all below
    +-- FileError (OSError)                   reading or writing failed
    |   +-- CorruptError                      PIO_ECORRUPT: damaged data
    |   |   +-- ChecksumError                 PIO_ECHECKSUM
    |   |   +-- TruncatedError                PIO_ETRUNCATED
    |   +-- FormatError                       PIO_EFORMAT: not that format
    |   +-- VersionError                      PIO_EVERSION
    |   +-- LimitError                        PIO_ELIMIT
    |   +-- UnsupportedError                  PIO_ENOTSUPPORTED
    |   +-- NotFoundError (FileNotFoundError)            -ENOENT
    |   +-- ExistsError (FileExistsError)                -EEXIST
    |   +-- PermissionDeniedError (PermissionError)      -EACCES, -EPERM
    |   +-- IsDirectoryError (IsADirectoryError)         -EISDIR
    |   (any other -errno: FileError itself, with errno set)
    +-- UsageError (ValueError)               PIO_EUSAGE: bad argument or call
        +-- RangeError (IndexError)           -ERANGE: index out of range

So `except OSError` and `except ValueError` catch what they always caught.
For -errno codes errno is set (e.errno == errno.ENOENT). Other exceptions
keep their Python meaning: TypeError for an argument of the wrong type,
BufferError for close() while arrays view the file, RuntimeError for a
Writer used by two threads at once, KeyError from find_step().
"""
import numpy as np

from . import _prismio
from ._prismio import (ChecksumError, CorruptError, Error, ExistsError, FileError,  # noqa: F401
                       FormatError, IsDirectoryError, LimitError, NotFoundError,
                       PermissionDeniedError, RangeError, TruncatedError, UnsupportedError,
                       UsageError, VersionError)

__all__ = ["open", "Trajectory", "Frame", "Writer", "ArrowStream", "convert", "__version__",
           "Error", "FileError", "CorruptError", "ChecksumError", "TruncatedError",
           "FormatError", "VersionError", "LimitError", "UnsupportedError", "NotFoundError",
           "ExistsError", "PermissionDeniedError", "IsDirectoryError", "UsageError",
           "RangeError"]
__version__ = _prismio.version()
remote_built = _prismio.remote_built


def _file_error_reduce(self):
    """Pickle a FileError with its errno (an OSError keeps only its args,
    and the message alone is its one argument, so str(e) stays the
    message)."""
    return (type(self), self.args, {**self.__dict__, "errno": self.errno})


FileError.__reduce__ = _file_error_reduce


# One frame (a C type): positions, velocities, forces as read-only float32
# views of the file (None when absent), box, step, time, natoms, index,
# scalars. Its arrays are made on each access (views: no copy).
Frame = _prismio.Frame


class Trajectory(_prismio.Trajectory):
    """A mapped HOLO file: len(), indexing (an int: a Frame; a slice, a
    sequence of indices or a boolean mask: a list of Frames) and iteration
    (both in C), blocks() (many frames in one view), read(), .topology,
    .metadata, info(), find_step(), find_time(), select_frames(),
    select_atoms(), verify(frame=None), refresh(), follow(), .final,
    close(); a context manager.
    Trajectory(path, check=False, engine="auto", follow=False, timeout=None):
    see prismio.open."""

    def __init__(self, path, check=False, engine="auto", follow=False, timeout=None):
        super().__init__(path, check=check, engine=engine)
        self._engine_asked = engine
        self._follow = bool(follow)
        self._follow_timeout = timeout

    def __iter__(self):
        """Every frame; with open(..., follow=True), the frames of a file
        being written as they are committed, until it is final (follow())."""
        if self._follow:
            return self.follow(timeout=self._follow_timeout)
        return super().__iter__()

    def frame_indices(self, frames=None):
        """The frame indices (int64 array) a frame selection picks: None
        (all), a string, a slice, a sequence of indices or a boolean mask
        (see the module's docstring)."""
        if frames is None:
            return np.arange(len(self), dtype=np.int64)
        if isinstance(frames, str):
            return self.select_frames(frames)
        return _prismio.selection_indices(_sequence(frames), len(self), "frame")

    def atom_indices(self, atoms=None, natoms=None):
        """The atom indices (int64 array) an atom selection picks out of
        natoms atoms (None: the topology's count, else frame 0's): None
        (all), a string (with the file's topology), a slice, a sequence of
        indices or a boolean mask (see the module's docstring)."""
        if natoms is None:
            top = self.topology_raw
            natoms = top["natoms"] if top is not None else self[0].natoms if len(self) else 0
        if atoms is None:
            return np.arange(natoms, dtype=np.int64)
        if isinstance(atoms, str):
            return self.select_atoms(atoms, natoms)
        return _prismio.selection_indices(_sequence(atoms), natoms, "atom")

    def read(self, frames=None, atoms=None, engine="auto"):
        """Positions of many frames at once: a new (frames, atoms, 3) float32
        array (nm), copied out of this open trajectory (never the file
        again by its path) through the I/O engine asked for, without the
        GIL; every frame's checksum is checked on the bytes read. frames:
        None (all) or any selection (see the module's docstring), in the
        order given; atoms: None (all: every frame read must then have the
        same atom count) or any selection, taken in ascending order (indices
        must be unique). engine: "auto" (PIO_IO_ENGINE, else pread), "mmap",
        "pread" or "uring", whatever engine this trajectory was opened with."""
        idx = self.frame_indices(frames)
        sel = None
        if atoms is not None and not len(idx) and not len(self):
            # nothing to resolve a selection against: its length, as before
            n = 0 if isinstance(atoms, str) else len(_sequence(atoms))
            return np.empty((0, n, 3), dtype=np.float32)
        if atoms is not None:
            n0 = self[int(idx[0])].natoms if len(idx) else self[0].natoms
            raw = self.atom_indices(atoms, n0)
            sel = np.unique(raw)
            if len(sel) != len(raw):
                raise UsageError("atoms: indices must be unique")
        if not len(idx):
            return np.empty((0, 0 if sel is None else len(sel), 3), dtype=np.float32)
        natoms = self[int(idx[0])].natoms if sel is None else len(sel)
        out = np.empty((len(idx), natoms, 3), dtype=np.float32)
        engine = "auto" if engine is None else str(engine)
        if engine == "auto" and self._engine_asked not in (None, "auto"):
            engine = str(self._engine_asked)  # the engine open() was given
        self.read_into(out, idx, sel, natoms, engine)
        return out

    def _run(self, frames, what):
        """(start, stop) of a frame selection that is one run of
        consecutive frames in order (None: all); UsageError otherwise."""
        n = len(self)
        if frames is None:
            return 0, n
        if isinstance(frames, slice):
            start, stop, step = frames.indices(n)
            if step != 1:
                raise UsageError(f"{what}: frames must be a slice with step 1")
            return start, max(start, stop)
        idx = self.frame_indices(frames)
        if len(idx) == 0:
            return 0, 0
        if (np.diff(idx) != 1).any():
            raise UsageError(f"{what}: frames must be consecutive and in order")
        return int(idx[0]), int(idx[-1]) + 1

    def follow(self, start=0, poll=None, timeout=None):
        """Iterate frames as a writer commits them: from frame `start`, every
        frame there is, then wait for the next commit (inotify, without the
        GIL; polling every 50 ms where the kernel refuses inotify) and go on
        with the frames it brings. Ends when the file is final (its writer
        closed it: .final), or after `timeout` seconds without a new frame
        (None: never) with the file not final (its writer may have been
        stopped). Frames come once each, in order; uncommitted ones are not
        seen (see refresh()). `poll` is accepted for compatibility and
        unused."""
        del poll
        i = int(start)
        ms = 0 if timeout is None else max(1, int(float(timeout) * 1000))
        while True:
            while i < len(self):
                yield self[i]
                i += 1
            if self.final or self._wait(ms) is None:
                return

    def blocks(self, size=128, field="positions", frames=None):
        """Iterate in blocks: read-only (k, natoms, 3) float32 views of up
        to `size` consecutive frames each, no copy (the frames' arrays lie at
        one spacing in the file, and a block's strides step over the bytes
        between them). Blocks come in frame order and cover `frames`
        exactly: None (all), or a selection of consecutive frames in order
        (a slice with step 1, "10-20", [3, 4, 5], a mask); a block is
        shorter than `size` at the end, wherever the next frame has
        another atom count, lacks the field, or is not at the same spacing
        (after a commit, whose index lies between frames), and where it
        would span more than 8 MiB of the file (large frames: the pages
        behind a reader's in-order window are given back, see
        pio_reader_frame's "Memory"). In a compressed
        file a block is a new read-only array of decoded frames (a BLOCK
        record's frames decoded once together). field:
        "positions", "velocities" or "forces" (a frame without it raises
        ValueError). Numpy's per-call cost (microseconds) is paid once per
        block rather than once per frame: block.sum(axis=(1, 2)) sums each
        frame."""
        try:
            f = ("positions", "velocities", "forces").index(field)
        except ValueError:
            raise UsageError(f"blocks: unknown field {field!r}") from None
        if int(size) < 1:
            raise UsageError(f"blocks: size {size} (at least 1)")
        start, stop = self._run(frames, "blocks")
        while start < stop:
            b = self.block(start, min(int(size), stop - start), f)
            start += len(b)
            yield b

    @property
    def topology(self):
        """Per-atom columns as numpy arrays (names, resnames, elements,
        chains as byte strings; resids int32; masses, charges float32;
        bonds (n, 2) uint32), or None."""
        raw = self.topology_raw
        if raw is None:
            return None
        n = raw["natoms"]
        return {
            "natoms": n,
            "names": np.frombuffer(raw["names"], dtype="S8"),
            "resnames": np.frombuffer(raw["resnames"], dtype="S8"),
            "elements": np.frombuffer(raw["elements"], dtype="S4"),
            "chains": np.frombuffer(raw["chains"], dtype="S4"),
            "resids": np.frombuffer(raw["resids"], dtype=np.int32),
            "masses": np.frombuffer(raw["masses"], dtype=np.float32),
            "charges": np.frombuffer(raw["charges"], dtype=np.float32),
            "bonds": np.frombuffer(raw["bonds"], dtype=np.uint32).reshape(-1, 2),
        }

    def to_arrow(self, layout="frames", frames=None, fields=None, batch_frames=1):
        """The frames as Arrow record batches, for any library that speaks
        the Arrow PyCapsule protocol (pyarrow.table(x), polars.from_arrow,
        duckdb, ...): an object with __arrow_c_stream__. layout "frames" (a
        row per frame; positions, velocities, forces as lists that view the
        file, no copy) or "atoms" (a row per atom per frame, with the
        topology). frames: a slice with step 1, or None (all). fields: a
        subset of ("positions", "velocities", "forces"), or None (all three;
        absent ones are nulls). docs/ARROW.md gives the columns. frames may
        also be any selection of consecutive frames in order (see blocks)."""
        first, count = 0, -1
        if frames is not None:
            start, stop = self._run(frames, "to_arrow")
            first, count = start, stop - start
        bits = 0
        for name in fields or ():
            try:
                bits |= {"positions": 1, "velocities": 2, "forces": 4}[name]
            except KeyError:
                raise UsageError(f"to_arrow: unknown field {name!r}") from None
        return ArrowStream(self, layout, first, count, bits, batch_frames)

    def __arrow_c_stream__(self, requested_schema=None):
        """The whole file in the frames layout (Arrow PyCapsule protocol;
        requested_schema is not honoured: the schema is always ours)."""
        return self.arrow_stream()

    def __reduce__(self):
        """Pickled as its path (for multiprocessing): unpickling maps the
        file again, in the other process."""
        if self.closed:
            raise UsageError("a closed trajectory cannot be pickled")
        return (type(self), (self.path, self.check, self._engine_asked))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # arrays may outlive the block: the file stays mapped until they go
        self.close(defer=True)
        return False

    def __repr__(self):
        state = "closed" if self.closed else f"{len(self)} frames"
        return f"<prismio.Trajectory {state}>"


class ArrowStream:
    """A range of a trajectory, exportable through the Arrow PyCapsule
    protocol. Each __arrow_c_stream__ call makes a new stream; a stream (and
    every batch taken from it) keeps the file mapped after the trajectory
    is closed."""

    def __init__(self, traj, layout, first, count, fields, batch_frames):
        if layout not in ("frames", "atoms"):
            raise UsageError(f"layout is 'frames' or 'atoms', not {layout!r}")
        self._args = (traj, layout, first, count, fields, batch_frames)

    def __arrow_c_stream__(self, requested_schema=None):
        traj, layout, first, count, fields, batch = self._args
        return traj.arrow_stream(layout, first, count, fields, batch)


def _sequence(sel):
    """Any iterable of indices as selection_indices takes it: a generator or
    iterator becomes a list, numbers that are whole (1.0) integers, as
    int() always took them; slices, arrays and boolean masks pass as they
    are."""
    if isinstance(sel, (slice, str, bytes)):
        return sel
    if isinstance(sel, np.ndarray):
        if sel.dtype.kind not in "fO":
            return sel  # integers and boolean masks as they are
        sel = list(sel)
    elif not isinstance(sel, (list, tuple, range)):
        sel = list(sel)  # generators, iterators, sets, dict views
    if any(isinstance(i, (float, np.floating)) for i in sel):
        for i in sel:
            if isinstance(i, (float, np.floating)) and not float(i).is_integer():
                raise TypeError(f"index {i!r} is not a whole number")
        return [int(i) for i in sel]
    return sel


def _spec(sel, what, count):
    """A frame or atom selection as the C pipeline's selection string:
    strings pass as they are, a frame slice becomes START:STOP:STEP (the
    pipeline's own Python-style slice), anything else is resolved against
    count(0) frames or count(1) atoms."""
    if sel is None or isinstance(sel, str):
        return sel
    if isinstance(sel, (int, np.integer)) and not isinstance(sel, bool):
        return str(int(sel))  # one index, as str(frames) always gave it
    if what == "frame" and isinstance(sel, slice):
        parts = [sel.start, sel.stop, sel.step]
        for v in parts:
            if v is not None and not isinstance(v, (int, np.integer)):
                raise TypeError(f"frame slice: {v!r} is not an integer")
        if sel.step == 0:
            raise UsageError("frame slice: step 0")
        return ":".join("" if v is None else str(int(v)) for v in parts)
    idx = _prismio.selection_indices(_sequence(sel), count(0 if what == "frame" else 1), what)
    if len(idx) == 0:
        raise UsageError(f"convert: the {what} selection is empty")
    if what == "frame":
        return ",".join(str(int(i)) for i in idx)
    if (np.diff(idx) <= 0).any():
        raise UsageError("convert: atoms keep the input's order: give the indices sorted, "
                         "without repeats")
    return "index " + _ranges(idx)


def _ranges(a):
    """Sorted unique indices as the pipeline's atom selection: "0-9,12,20-31"."""
    if len(a) == 0:
        raise UsageError("atoms: an empty selection")
    parts, start, prev = [], int(a[0]), int(a[0])
    for v in a[1:]:
        v = int(v)
        if v != prev + 1:
            parts.append(f"{start}-{prev}" if prev > start else str(start))
            start = v
        prev = v
    parts.append(f"{start}-{prev}" if prev > start else str(start))
    return ",".join(parts)


def open(path, check=False, engine="auto", follow=False,  # noqa: A001 (like io.open)
         timeout=None):
    """Map a HOLO file (a torn tail is recovered in memory). Frames are
    zero-copy views checked for structure only; check=True also checks each
    frame's BLAKE3 the first time it is read (a damaged frame raises
    ChecksumError, an OSError, naming its offset), at the cost of hashing
    it once. engine: the I/O engine of bulk reads (read(), verify()):
    "auto" (PIO_IO_ENGINE from the environment, else mmap), "mmap",
    "pread" or "uring" (pread where io_uring cannot be set up); the
    `engine` attribute says which is in use. follow=True: iterating the
    trajectory follows a file being written (follow(): frames as they are
    committed, until the file is final, or `timeout` seconds without a
    commit). A missing file raises NotFoundError (a FileNotFoundError),
    another file FormatError. path may be an http://, https:// or
    s3://BUCKET/KEY URL (remote_built() says whether this build reads
    them): read with HTTP range requests, each answer checked; its frames
    are copies (valid as long as you hold them), and a request that keeps
    failing raises an OSError naming the URL and the frame."""
    return Trajectory(path, check=check, engine=engine, follow=follow, timeout=timeout)


def _f32(a, n, what):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if a.shape != (n, 3):
        raise UsageError(f"{what}: shape {a.shape}, expected ({n}, 3)")
    return a


def _scalar_name(k):
    """A scalar's name as HOLO stores it (23 bytes of UTF-8 at most, no NUL),
    or ValueError: a name cut to fit would lose or merge values."""
    k = str(k)
    b = k.encode("utf-8")
    if not b or len(b) > 23 or b"\0" in b:
        raise UsageError(f"scalar name {k!r}: {len(b)} bytes; names are 1 to 23 bytes of "
                         "UTF-8 without NUL")
    return k


def _bonds(bonds):
    """Bonds as a contiguous (n, 2) uint32 array, None for none, or
    ValueError for any other shape or a negative index."""
    if bonds is None:
        return None
    a = np.asarray(bonds)
    if a.size == 0:
        return None
    if a.ndim != 2 or a.shape[1] != 2:
        raise UsageError(f"topology bonds: shape {a.shape}, expected (n, 2) pairs of atom "
                         "indices")
    if a.dtype.kind not in "iu":
        raise UsageError(f"topology bonds: dtype {a.dtype}, expected integers")
    if (a < 0).any():
        raise UsageError("topology bonds: negative atom index")
    return np.ascontiguousarray(a, dtype=np.uint32)


class Writer(_prismio.Writer):
    """Write a HOLO file: Writer(path, topology=None, metadata=None,
    overwrite=False, sync=True, append=False), then append() frames; a
    context manager (commit and close at the end). topology: a dict like
    Trajectory.topology (names, resnames, elements, chains, resids, masses,
    charges, bonds; any may be missing). compression: None (raw records,
    read in place), "lossy" (positions within precision/2 nm, velocities
    and forces bit-exact) or "lossless"; a compressed file reads the same
    way, each frame decoded on access. keyframe: compressed frames coded
    together in blocks of up to that many (HOLO 2.1; default 32, 1: each
    frame alone, HOLO 2.0); a frame read alone decodes its block, and
    read(atoms=...) decodes only the atom groups (group_atoms atoms each,
    default 4096) that hold the selection. append=True opens an existing file
    (recovering a killed writer's tail first) to add frames after its own;
    its topology and metadata stay. commit() makes the frames durable and
    visible to readers; truncate(n) keeps the first n frames and drops the
    rest (a restart from a checkpoint); .nframes counts the frames."""

    def __init__(self, path, topology=None, metadata=None, overwrite=False, sync=True,
                 append=False, compression=None, precision=0.001, keyframe=None,
                 group_atoms=None):
        if append and (topology is not None or metadata):
            raise UsageError("Writer(append=True): the file's topology and metadata stay; "
                             "none can be given")
        codecs = {None: (0, 0), "none": (0, 0), "lossy": (1, 2), "lossless": (2, 2)}
        if compression not in codecs:
            raise UsageError(f"Writer: compression {compression!r}: None, 'lossy' or "
                             "'lossless'")
        if keyframe is not None and int(keyframe) < 1:
            raise UsageError(f"Writer: keyframe {keyframe}: 1 or more")
        if group_atoms is not None and int(group_atoms) < 1:
            raise UsageError(f"Writer: group_atoms {group_atoms}: 1 or more")
        super().__init__(path, overwrite=overwrite, sync=sync, append=append,
                         codec_positions=codecs[compression][0],
                         codec_other=codecs[compression][1], precision=float(precision),
                         keyframe=int(keyframe or 0), group_atoms=int(group_atoms or 0))
        if topology is not None:
            self._set_topology(topology)
        for k, v in (metadata or {}).items():
            self.set_metadata(str(k), str(v))

    def _set_topology(self, top):
        n = int(top.get("natoms", len(top["names"]) if "names" in top else 0))

        def col(name, dtype, shape=None):
            if name not in top or top[name] is None:
                return None
            a = np.ascontiguousarray(np.asarray(top[name]).astype(dtype))
            if shape is not None and a.shape[0] != shape:
                raise UsageError(f"topology {name}: {a.shape[0]} entries, expected {shape}")
            return a

        self.set_topology(n, col("names", "S8", n), col("elements", "S4", n),
                          col("resnames", "S8", n), col("chains", "S4", n),
                          col("resids", np.int32, n), col("masses", np.float32, n),
                          col("charges", np.float32, n),
                          _bonds(top.get("bonds")))

    def append(self, positions, velocities=None, forces=None, box=None, step=0, time=0.0,
               scalars=None):
        """One frame: positions (natoms, 3) in nm (any float array, converted
        to float32), optional velocities, forces, box (3x3 rows, nm), step,
        time (ps), scalars (dict of name: value)."""
        x = np.asarray(positions)
        n = x.shape[0]
        self.append_raw(n, _f32(x, n, "positions"),
                        None if velocities is None else _f32(velocities, n, "velocities"),
                        None if forces is None else _f32(forces, n, "forces"),
                        None if box is None else np.ascontiguousarray(box, dtype=np.float64)
                        .reshape(9),
                        int(step), float(time),
                        None if not scalars else [(_scalar_name(k), float(v))
                                                  for k, v in scalars.items()])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def convert(src, dst, frames=None, atoms=None, topology=None, drop=(), overwrite=False):
    """Convert between the formats the C converters know (HOLO, XTC, TRR,
    DCD, NetCDF, PDB, GRO, XYZ, Arrow; from the extensions) through the
    library's streaming pipeline, in this process (the GIL is released),
    as `prismio convert` does. frames: a selection such as "::10" or
    "0-99", or a slice, a sequence of indices or a boolean mask; atoms:
    such as "name CA" or "0-99", or a slice, indices (the output keeps the
    input's atom order, so sorted and without repeats) or a boolean mask
    (see the module's docstring: counting from the end, and a mask's length,
    are checked against the input's frame and atom counts; the input is
    opened once more to count them). topology: a GRO or PDB file
    whose atoms the frames get; drop: any of "velocities", "forces", "box",
    "scalars"; overwrite: replace an existing output (a HOLO output is
    refused otherwise). Returns a dict: frames written, bytes_in and
    bytes_out (atom arrays), seconds. Errors raise FileError, an OSError
    (UsageError, a ValueError, for a bad selection; RangeError, an
    IndexError, for an index out of range) naming the file, frame and
    offset; a truncated last frame of the input is skipped with a
    RuntimeWarning."""
    import os
    c = _prismio
    bits = {"velocities": c.FIELD_VELOCITIES, "v": c.FIELD_VELOCITIES, "forces": c.FIELD_FORCES,
            "f": c.FIELD_FORCES, "box": c.FIELD_BOX, "scalars": c.DROP_SCALARS}
    mask = 0
    for name in ([drop] if isinstance(drop, str) else drop):
        if name not in bits:
            raise UsageError(f"convert: drop {name!r}: one of velocities, forces, box, scalars")
        mask |= bits[name]
    src, dst = os.fspath(src), os.fspath(dst)
    top = None if topology is None else os.fspath(topology)
    if os.path.exists(dst) and os.path.exists(src) and os.path.samefile(src, dst):
        raise UsageError(f"{dst}: input and output are the same file")
    counts = []

    def count(k):  # the input's frames (k 0) or atoms (k 1), opened once for both
        if not counts:
            counts.extend(_prismio.source_info(src, top))
        return counts[k]

    n, bin_, bout, secs = _prismio.convert(
        src, dst, _spec(frames, "frame", count), _spec(atoms, "atom", count), top, mask,
        bool(overwrite))
    return {"frames": n, "bytes_in": bin_, "bytes_out": bout, "seconds": secs}
