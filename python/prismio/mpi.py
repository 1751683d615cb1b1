"""Many MPI ranks writing and reading one HOLO file, through mpi4py.

    from mpi4py import MPI
    import prismio.mpi

    comm = MPI.COMM_WORLD
    with prismio.mpi.Writer(comm, "ensemble.holo") as w:
        for step in range(100):
            w.append(positions_of_my_replica, step=step)   # collective
            if step % 10 == 9:
                w.commit()                                  # collective
    traj, first, count = prismio.mpi.open(comm, "ensemble.holo")
    mine = traj.read(frames=slice(first, first + count))

Every call of the writer is collective: every rank of the communicator
makes it, appending its own frames (none is fine). Frames land in rank
order, rank 0's first; the file is the one prismio's serial writer
would write with the same frames and commits where that writer writes
FRAME records (raw, or compressed one frame a record: keyframe=1;
docs/SCALING.md). Needs a libprismio built with MPI (prismio._mpi) and
mpi4py.
"""
import numpy as np

from . import open as _open
from . import _prismio

try:
    from . import _mpi
except ImportError:  # a build without MPI
    _mpi = None


def _need():
    if _mpi is None:
        raise _prismio.error_class(-5008)(
            "prismio.mpi: this prism-io was built without MPI (install libopenmpi-dev "
            "and rebuild)")


def block(n, rank, ranks):
    """Frames (first, count) of n for rank of ranks: contiguous blocks in
    rank order, the first n % ranks ranks one frame more."""
    q, r = divmod(int(n), int(ranks))
    rank = int(rank)
    return rank * q + min(rank, r), q + (1 if rank < r else 0)


def open(comm, path, **kw):  # noqa: A001 (like io.open)
    """Collective: every rank opens path (prismio.open, its own mapping)
    and gets (trajectory, first, count), its block of the frames. Raises
    ValueError on every rank when they see different commits."""
    t = None
    err = None
    try:
        t = _open(path, **kw)
        n = len(t)
    except Exception as e:  # every rank must reach the allgather
        err, n = e, -1
    counts = comm.allgather(n)
    if err is not None:
        raise err
    if min(counts) < 0:
        t.close()
        raise OSError(f"{path}: rank {counts.index(-1)} could not open it")
    if min(counts) != max(counts):
        t.close()
        raise ValueError(f"{path}: the ranks opened different commits ({min(counts)} to "
                         f"{max(counts)} frames): the file was committed meanwhile")
    first, count = block(n, comm.Get_rank(), comm.Get_size())
    return t, first, count


class Writer:
    """A HOLO file written by every rank of comm (an mpi4py communicator).

    overwrite: replace an existing file; salt: 16 bytes for reproducible
    files; compress="lossless": compressed FRAME records; sync=False skips
    the syncs of commits (scratch files). Collective, made by every rank:
    the constructor (its metadata too), append, commit, close. A writer
    dropped without close() is not committed further (closing is
    collective, so it cannot happen behind the ranks' backs)."""

    def __init__(self, comm, path, overwrite=False, salt=None, compress=None, sync=True,
                 metadata=None):
        _need()
        if compress not in (None, "lossless"):
            raise ValueError("compress: None or 'lossless' (lossy needs one precision: "
                             "use prismio compact afterwards)")
        self._comm = comm
        self._w = _mpi.Writer(comm.py2f(), path, overwrite=overwrite, salt=salt,
                              lossless=compress == "lossless", sync=sync)
        for k, v in (metadata or {}).items():  # collective: every rank gets rank 0's error
            self._w.set_metadata(str(k), str(v))

    @property
    def nframes(self):
        """Frames in the file so far (the same on every rank)."""
        return self._w.nframes

    def append(self, positions, velocities=None, forces=None, box=None, step=None, time=None):
        """Collective: this rank's frames, positions (frames, atoms, 3) or
        (atoms, 3) for one frame, in nm; velocities and forces alike; box
        (frames, 3, 3) or (3, 3) nm; step and time one per frame (default
        0). A rank with nothing to add passes an empty (0, atoms, 3) array."""
        args = self._agreed("append", lambda: self._arrays(positions, velocities, forces, box,
                                                           step, time))
        self._w.append(*args)

    def _agreed(self, what, prepare):
        """prepare()'s result, or, where it fails on any rank, ValueError on
        every rank naming the first that failed (the others would wait in
        the collective call for ever)."""
        try:
            args, why = prepare(), None
        except Exception as e:  # noqa: BLE001 (any bad argument)
            args, why = None, f"{type(e).__name__}: {e}"
        whys = self._comm.allgather(why)
        bad = [(r, w) for r, w in enumerate(whys) if w is not None]
        if bad:
            r, w = bad[0]
            raise ValueError(f"prismio.mpi.Writer.{what}: rank {r}: {w}")
        return args

    def append_atoms(self, positions, natoms, first_atom, velocities=None, forces=None,
                     box=None, step=0, time=0.0):
        """Collective: one frame of natoms atoms written by atom ranges
        (domain decomposition): this rank's positions (atoms, 3) are atoms
        [first_atom, first_atom + len(positions)); the ranks' ranges go
        back to back in rank order from 0 (a rank may hold none: an empty
        (0, 3) array). Velocities and forces from every rank holding atoms,
        or none; step, time and box are rank 0's. Raw records only."""
        def prepare():
            p = np.ascontiguousarray(positions, dtype=np.float32).reshape(-1, 3)

            def same(a, what):
                if a is None:
                    return None
                a = np.ascontiguousarray(a, dtype=np.float32).reshape(-1, 3)
                if a.shape != p.shape:
                    raise ValueError(f"{what} of shape {a.shape}, positions {p.shape}")
                return a

            for name, v, lo, hi in (("step", step, -2**63, 2**63), ("natoms", natoms, 0, 2**64),
                                    ("first_atom", first_atom, 0, 2**64)):
                if not lo <= int(v) < hi:
                    raise ValueError(f"{name} {v}: out of range")
            return (p, same(velocities, "velocities"), same(forces, "forces"),
                    None if box is None else np.ascontiguousarray(box, dtype=np.float64)
                    .reshape(3, 3), int(step), float(time), int(natoms), int(first_atom))

        self._w.append_atoms(*self._agreed("append_atoms", prepare))

    @staticmethod
    def _arrays(positions, velocities, forces, box, step, time):
        p = np.ascontiguousarray(positions, dtype=np.float32)
        if p.ndim == 2:
            p = p[None]
        if p.ndim != 3 or p.shape[2] != 3:
            raise ValueError(f"positions of shape {p.shape}: (frames, atoms, 3) or (atoms, 3)")
        n = p.shape[0]

        def same(a, what):
            if a is None:
                return None
            a = np.ascontiguousarray(a, dtype=np.float32)
            a = a[None] if a.ndim == 2 else a
            if a.shape != p.shape:
                raise ValueError(f"{what} of shape {a.shape}, positions {p.shape}")
            return a

        v, f = same(velocities, "velocities"), same(forces, "forces")
        b = None
        if box is not None:
            b = np.ascontiguousarray(np.broadcast_to(np.asarray(box, dtype=np.float64),
                                                     (n, 3, 3)))
        steps = np.ascontiguousarray(
            np.broadcast_to(np.asarray(0 if step is None else step, dtype=np.int64), (n,)))
        times = np.ascontiguousarray(
            np.broadcast_to(np.asarray(0.0 if time is None else time, dtype=np.float64), (n,)))
        return p, v, f, b, steps, times

    def commit(self):
        """Collective: every frame so far durable and visible to readers."""
        self._w.commit()

    def close(self):
        """Collective: a final commit; the file is complete."""
        self._w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
