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
would write with the same frames and commits (docs/SCALING.md). Needs
a libprismio built with MPI (prismio._mpi) and mpi4py.
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
    fdatasync (scratch files). Collective: the constructor, append,
    commit, close."""

    def __init__(self, comm, path, overwrite=False, salt=None, compress=None, sync=True,
                 metadata=None):
        _need()
        if compress not in (None, "lossless"):
            raise ValueError("compress: None or 'lossless' (lossy needs one precision: "
                             "use prismio compact afterwards)")
        self._w = _mpi.Writer(comm.py2f(), path, overwrite=overwrite, salt=salt,
                              lossless=compress == "lossless", sync=sync)
        for k, v in (metadata or {}).items():
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
        p = np.ascontiguousarray(positions, dtype=np.float32)
        if p.ndim == 2:
            p = p[None]
        n = p.shape[0]

        def same(a, what):
            if a is None:
                return None
            a = np.ascontiguousarray(a, dtype=np.float32)
            return a[None] if a.ndim == 2 else a

        v, f = same(velocities, "velocities"), same(forces, "forces")
        b = None
        if box is not None:
            b = np.ascontiguousarray(box, dtype=np.float64)
            if b.ndim == 2:
                b = np.broadcast_to(b, (n, 3, 3)).copy()
        steps = np.ascontiguousarray(
            np.broadcast_to(np.asarray(0 if step is None else step, dtype=np.int64), (n,)))
        times = np.ascontiguousarray(
            np.broadcast_to(np.asarray(0.0 if time is None else time, dtype=np.float64), (n,)))
        self._w.append(p, v, f, b, steps, times)

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
