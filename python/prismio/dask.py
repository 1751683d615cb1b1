"""HOLO trajectories as Dask arrays (Debian's python3-dask; distributed for
clusters).

    import prismio.dask
    x = prismio.dask.from_holo("traj.holo", chunks=256, atoms="name CA")
    # x: dask.array (frames, atoms, 3) float32 (nm), chunks of 256 frames
    mean = x.mean(axis=0)
    rmsf = ((x - mean) ** 2).sum(axis=2).mean(axis=0) ** 0.5
    rmsf.compute()                  # on the threads, or a distributed Client

Each chunk is read lazily, in whichever process computes it, through that
process's own open trajectory (the zero-copy mmap reader; opened once per
process and path, kept in a small cache), every frame's checksum checked.
The graph holds paths, frame and atom ranges, never arrays: it pickles in
a few hundred bytes a chunk, so it runs on a ``distributed.LocalCluster``
and on any cluster whose workers see the file (a shared file system, or an
``http(s)://`` / ``s3://`` URL).

Chunks: frames per chunk (``chunks``), and atoms per chunk
(``atom_chunks``: reading a chunk decodes only the atom groups of a
compressed file that hold its atoms). ``load`` returns the arrays of
positions (and velocities, forces where the file has them) with the
topology, metadata, steps and times beside them.
"""
import threading
from collections import OrderedDict

import numpy as np

from . import open as _open

__all__ = ["from_holo", "load", "Holo"]

_FIELDS = ("positions", "velocities", "forces")

# Open trajectories of this process, by (path, check): a chunk's read
# reuses the mapping; the oldest is closed past _CACHE_MAX (when no array
# still views it).
_CACHE_MAX = 16
_cache = OrderedDict()
_lock = threading.Lock()


def _traj(path, check):
    key = (path, bool(check))
    with _lock:
        t = _cache.get(key)
        if t is not None and not t.closed:
            _cache.move_to_end(key)
            return t
        t = _open(path, check=check)
        _cache[key] = t
        while len(_cache) > _CACHE_MAX:
            _, old = _cache.popitem(last=False)
            try:
                old.close()
            except Exception:  # arrays still view it: it closes with them
                pass
        return t


def _read_chunk(path, check, field, f0, f1, atoms):
    """Frames [f0, f1), atoms `atoms` (None: all; else (a0, a1), or an
    index array) of one field: a new (frames, atoms, 3) float32 array."""
    t = _traj(path, check)
    if isinstance(atoms, tuple):
        sel = slice(atoms[0], atoms[1])
    else:
        sel = atoms
    if field == "positions":
        return t.read(frames=slice(f0, f1), atoms=sel)
    out = np.concatenate([np.asarray(b) for b in t.blocks(f1 - f0 if f1 > f0 else 1,
                                                          field=field,
                                                          frames=slice(f0, f1))])
    if sel is not None:
        out = out[:, sel]
    return np.ascontiguousarray(out)


def _chunks(n, size):
    size = max(1, int(size))
    return [(a, min(n, a + size)) for a in range(0, n, size)] or [(0, 0)]


class Holo:
    """What ``load`` returns: ``positions`` (and ``velocities``,
    ``forces`` where the first frame has them) as dask arrays, and beside
    them ``topology`` (dict of numpy arrays, or None), ``metadata`` (dict),
    ``steps`` and ``times`` (numpy arrays, read on first use: a frame
    header each), ``atoms`` (the atom indices the arrays hold), ``path``."""

    def _headers(self):
        if not hasattr(self, "_steps"):
            t = _traj(self.path, self._check)
            n = len(t)
            self._steps = np.array([t[i].step for i in range(n)], dtype=np.int64)
            self._times = np.array([t[i].time for i in range(n)], dtype=np.float64)
        return self._steps, self._times

    @property
    def steps(self):
        return self._headers()[0]

    @property
    def times(self):
        return self._headers()[1]

    def __repr__(self):
        return "prismio.dask.Holo(%r, positions=%r)" % (self.path, self.positions)


def load(path, chunks=128, atoms=None, atom_chunks=None, check=True, fields=("positions",)):
    """The trajectory at `path` as dask arrays (see the module's docstring).
    chunks: frames per chunk (default 128); atoms: None (all) or a
    selection (a string with the file's topology, a slice, indices, a
    mask); atom_chunks: atoms per chunk (None: all the selected atoms in
    one); check: every frame's BLAKE3 checked when read (default: yes);
    fields: which of positions, velocities, forces. Every frame must have
    the same atom count (a dataset of structures is read with
    prismio.dataset instead)."""
    import dask.array as da

    t = _traj(path, check)
    n = len(t)
    info = t.info()
    if n and info["min_natoms"] != info["max_natoms"]:
        raise ValueError("%s: atom counts from %d to %d: a dask array needs one (read datasets "
                         "of structures with prismio.dataset)"
                         % (path, info["min_natoms"], info["max_natoms"]))
    natoms = info["max_natoms"] if n else 0
    sel = t.atom_indices(atoms, natoms) if atoms is not None else None
    if sel is not None:
        sel = np.unique(sel)
    nsel = natoms if sel is None else len(sel)
    # atom chunks: contiguous ranges where the selection is all atoms, else
    # pieces of the index array
    if atom_chunks is None or nsel == 0:
        apieces = [None if sel is None else sel]
    elif sel is None:
        apieces = [(a, b) for a, b in _chunks(nsel, atom_chunks)]
    else:
        apieces = [sel[a:b] for a, b in _chunks(nsel, atom_chunks)]
    fpieces = _chunks(n, chunks)
    out = Holo()
    out.path = path
    out._check = bool(check)
    out.atoms = np.arange(natoms) if sel is None else sel
    for field in fields:
        if field not in _FIELDS:
            raise ValueError("field %r: one of %s" % (field, ", ".join(_FIELDS)))
        if field != "positions" and n and getattr(t[0], field) is None:
            setattr(out, field, None)
            continue
        name = "prismio-%s-%s" % (field, da.core.tokenize(path, check, field, chunks, atoms,
                                                           atom_chunks, info["file_size"],
                                                           n))
        graph = {}
        for i, (f0, f1) in enumerate(fpieces):
            for j, ap in enumerate(apieces):
                graph[(name, i, j, 0)] = (_read_chunk, path, bool(check), field, f0, f1, ap)
        fchunks = tuple(f1 - f0 for f0, f1 in fpieces)
        achunks = tuple(nsel if ap is None else (ap[1] - ap[0] if isinstance(ap, tuple)
                                                   else len(ap)) for ap in apieces)
        arr = da.Array(graph, name, chunks=(fchunks, achunks, (3,)), dtype=np.float32,
                       meta=np.empty((0, 0, 0), dtype=np.float32))
        setattr(out, field, arr)
    for field in _FIELDS:
        if not hasattr(out, field):
            setattr(out, field, None)
    out.topology = t.topology
    out.metadata = dict(t.metadata)
    return out


def from_holo(path, chunks=128, atoms=None, atom_chunks=None, check=True, field="positions"):
    """One field of the trajectory at `path` as a dask array (frames, atoms,
    3) float32: ``load(...)``'s, for when only the array is wanted."""
    a = getattr(load(path, chunks, atoms, atom_chunks, check, (field,)), field)
    if a is None:
        raise ValueError("%s: no %s in its first frame" % (path, field))
    return a
