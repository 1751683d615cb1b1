"""MDAnalysis support: importing this module registers, for format HOLO
(files ending in .holo), a coordinate Reader, a Writer and a topology
Parser, so

    import prismio.mdanalysis
    u = mda.Universe("traj.holo")              # topology from the file
    u = mda.Universe("top.pdb", "traj.holo")   # or from elsewhere
    with u.trajectory.Writer("out.holo") as w: # or mda.Writer("out.holo", n_atoms)
        for ts in u.trajectory[::10]:
            w.write(u.atoms)

work, with random access, slicing and fancy indexing, ts.dimensions,
per-frame scalars in ts.data, transformations, auxiliaries, timeseries()
(a bulk read in C), copy() and pickling (the reader reopens the file by
name, as MDAnalysis's readers do, and so it does after close()).

The contract kept is the one MDAnalysis's own XTC and TRR readers and
writers keep (MDAnalysisTests' BaseReaderTest, MultiframeReaderTest and
BaseWriterTest check it; tests/python/test_mdanalysis_contract.py checks
the same behaviours here). A file without a topology gives a Universe of
N atoms in one residue and one segment, as an XTC file alone does.
"""
import warnings

import numpy as np
from MDAnalysis.coordinates import base
from MDAnalysis.core.topology import Topology
from MDAnalysis.core.topologyattrs import (Atomids, Atomnames, Bonds, ChainIDs, Charges,
                                           Elements, Masses, Resids, Resnames, Resnums,
                                           Segids)
from MDAnalysis.lib.mdamath import triclinic_vectors
from MDAnalysis.lib.util import store_init_arguments
from MDAnalysis.topology.base import TopologyReaderBase

from . import UsageError
from . import Writer as _Writer
from . import open as _prismio_open

try:
    from MDAnalysis.exceptions import NoDataError as _NoDataError
except ImportError:  # pragma: no cover
    _NoDataError = AttributeError

__all__ = ["HOLOReader", "HOLOParser", "HOLOWriter"]


def _strings(a):
    return np.array([s.decode("ascii", "replace") for s in a], dtype=object)


def _natoms_of(t):
    """A trajectory's atom count: its first frame's, else its topology's."""
    if len(t):
        return t[0].natoms
    top = t.topology_raw
    return top["natoms"] if top is not None else 0


class HOLOParser(TopologyReaderBase):
    """Topology of a HOLO file (names, residues, chains, elements, masses,
    charges, bonds); for a file without one, N atoms in one residue and one
    segment (what MDAnalysis's MinimalParser gives an XTC file)."""

    format = "HOLO"

    def parse(self, **kwargs):
        with _prismio_open(self.filename) as t:
            top = t.topology
            natoms = _natoms_of(t)
        if top is None:
            return Topology(kwargs.get("n_atoms", natoms), 1, 1)
        n = top["natoms"]
        resids = top["resids"].astype(np.int64)
        chains = _strings(top["chains"])
        # residues: a new one whenever resid, resname or chain changes
        key = list(zip(resids, top["resnames"], top["chains"]))
        residx = np.zeros(n, dtype=np.int64)
        for i in range(1, n):
            residx[i] = residx[i - 1] + (key[i] != key[i - 1])
        nres = int(residx[-1]) + 1 if n else 0
        first = np.searchsorted(residx, np.arange(nres))
        segids = np.array(sorted(set(chains))) if n else np.array(["SYSTEM"], dtype=object)
        seg_of_chain = {c: k for k, c in enumerate(segids)}
        res_seg = np.array([seg_of_chain[chains[i]] for i in first], dtype=np.int64)
        attrs = [
            Atomids(np.arange(1, n + 1)),
            Atomnames(_strings(top["names"])),
            Elements(_strings(top["elements"])),
            ChainIDs(chains),
            Masses(top["masses"].astype(np.float64)),
            Charges(top["charges"].astype(np.float64)),
            Resids(resids[first]),
            Resnums(resids[first].copy()),
            Resnames(_strings(top["resnames"])[first]),
            Segids(np.array([s or "SYSTEM" for s in segids], dtype=object)),
            Bonds([tuple(int(v) for v in b) for b in top["bonds"]]),
        ]
        return Topology(n, nres, len(segids), attrs=attrs, atom_resindex=residx,
                        residue_segindex=res_seg)


class HOLOReader(base.ReaderBase):
    """Frames of a HOLO file. Positions, velocities and forces come in
    MDAnalysis units (Angstrom, Angstrom/ps, kJ/mol/Angstrom) when
    convert_units is true (the default); has_velocities and has_forces
    follow each frame, as with TRR. check=True checks each frame's BLAKE3
    before it is used (prismio.open's check). After close() the next use
    opens the file again by its name."""

    format = "HOLO"
    units = {"time": "ps", "length": "nm", "velocity": "nm/ps", "force": "kJ/(mol*nm)"}

    @store_init_arguments
    def __init__(self, filename, convert_units=True, check=False, **kwargs):
        super().__init__(filename, convert_units=convert_units, **kwargs)
        self._check = bool(check)
        self._traj = None
        t = self._t
        self.n_atoms = _natoms_of(t)
        self.ts = self._Timestep(self.n_atoms,
                                 reader=self,  # ts.dt asks the reader (_get_dt)
                                 **self._ts_kwargs)
        self._frame = -1
        if len(t):
            self._read_next_timestep()

    @property
    def _t(self):
        """The open prismio.Trajectory, opened again (by name) after close()."""
        t = self._traj
        if t is None or t.closed:
            t = self._traj = _prismio_open(self.filename, check=self._check)
        return t

    @classmethod
    def parse_n_atoms(cls, filename, **kwargs):
        with _prismio_open(filename) as t:
            return _natoms_of(t)

    @property
    def n_frames(self):
        return len(self._t)

    def refresh(self):
        """Take the commits made since the file was opened (prismio's
        Trajectory.refresh): returns how many frames arrived; n_frames and
        iteration see them."""
        return self._t.refresh()

    def follow(self, start=0, poll=None, timeout=None):
        """Timesteps of a file being written, as the writer commits them:
        from frame `start` on (prismio's Trajectory.follow), each read into
        self.ts as iteration does; ends when the writer closes the file
        (its final commit), or after `timeout` seconds without a new frame
        (None: never). An analysis alongside a simulation:
        ``for ts in u.trajectory.follow(timeout=60): ...``."""
        i = int(start)
        for _ in self._t.follow(start=start, poll=poll, timeout=timeout):
            yield self._read_frame(i)
            i += 1

    def _get_dt(self):
        """Time between the first two frames (ps), as MDAnalysis's XTC and
        TRR readers give it; one frame: MDAnalysis's own fallback."""
        t = self._t
        if len(t) < 2:
            raise AttributeError("dt: fewer than two frames")
        return t[1].time - t[0].time

    def _read_frame(self, i):
        if i < 0 or i >= len(self._t):
            raise IOError(f"{self.filename}: frame {i} out of range")
        self._frame = i - 1
        return self._read_next_timestep()

    def _read_next_timestep(self, ts=None):
        if ts is None:
            ts = self.ts
        t = self._t
        if self._frame + 1 >= len(t):
            raise IOError(f"{self.filename}: no frame after {self._frame}")
        self._frame += 1
        # one C call: arrays copied (and scaled to Angstrom) into the
        # Timestep's own, has_velocities/has_forces set, the box as
        # MDAnalysis's dimensions
        ls, fs = (10.0, 0.1) if self.convert_units else (1.0, 1.0)
        step, time, dims, scalars = t.fill(self._frame, ts, ls, fs)
        ts.frame = self._frame
        ts.dimensions = dims
        ts.time = self.convert_time_from_native(time) if self.convert_units else time
        ts.data["step"] = step
        # the previous frame's scalars go unless this frame has them too
        for k in getattr(self, "_last_scalars", ()):
            if not scalars or k not in scalars:
                ts.data.pop(k, None)
        if scalars:
            ts.data.update(scalars)
        self._last_scalars = tuple(scalars) if scalars else ()
        return ts

    def _reopen(self):
        self._t  # opened again if close() was called
        self.ts.frame = 0  # as the XDR readers (auxiliaries' next_nonempty_frame reads it)
        self._frame = -1

    def timeseries(self, asel=None, start=None, stop=None, step=None, order="fac"):
        """As MDAnalysis's (positions of asel's atoms, or all, for frames
        start:stop:step, in `order`), read in one C call (prismio's
        Trajectory.read) rather than a Timestep per frame; with
        transformations or auxiliaries, MDAnalysis's own loop. Like that
        loop, it leaves the reader at the first frame."""
        if self.transformations or self.aux_list:
            return super().timeseries(asel=asel, start=start, stop=stop, step=step, order=order)
        start, stop, step = self.check_slice_indices(start, stop, step)
        atoms = None
        if asel is not None:
            if len(asel) == 0:
                raise ValueError("Timeseries requires at least one atom to analyze")
            atoms = asel.indices
        frames = np.arange(start, stop, step, dtype=np.int64)
        if len(frames) == 0:
            x = np.empty((0, self.n_atoms if atoms is None else len(atoms), 3), np.float32)
        elif atoms is None:
            x = self._t.read(frames=frames)
        else:  # read() takes atoms ascending and unique: asel's order after
            uniq, inverse = np.unique(np.asarray(atoms, dtype=np.int64), return_inverse=True)
            x = self._t.read(frames=frames, atoms=uniq)[:, inverse]
        if self.convert_units:
            x *= np.float32(10.0)  # the product the per-frame path computes
        if order != "fac":
            try:
                axes = ["fac".index(c) for c in order]
            except ValueError:
                raise ValueError(f"Unrecognized order key in {order}, must be permutation of "
                                 "'fac'") from None
            if sorted(axes) != [0, 1, 2]:
                raise ValueError(f"Repeated or missing keys passed to argument `order`: "
                                 f"{order}, each key must be used once")
            x = np.moveaxis(x, axes, [0, 1, 2])
        if len(self._t):
            self.rewind()
        return x

    def Writer(self, filename, n_atoms=None, **kwargs):
        """A HOLOWriter for `filename`, for this trajectory's atoms unless
        n_atoms says otherwise."""
        if n_atoms is None:
            n_atoms = self.n_atoms
        return HOLOWriter(filename, n_atoms=n_atoms, **kwargs)

    def close(self):
        """Close the file (again after each reopen); the next use reopens it."""
        t, self._traj = getattr(self, "_traj", None), None
        if t is not None:
            t.close(defer=True)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_traj"] = None
        return state

    def __setstate__(self, state):
        # the file again by its name; then, as MDAnalysis's readers do, the
        # frame the pickled reader was at
        state["_traj"] = None
        self.__dict__ = state
        if 0 <= self.ts.frame < self.n_frames:
            self[self.ts.frame]


class HOLOWriter(base.WriterBase):
    """HOLOWriter(filename, n_atoms, convert_units=True, overwrite=True,
    sync=True, compression=None, precision=0.001, keyframe=None): frames
    from AtomGroups or Universes (mda.Writer("out.holo",
    n_atoms), or a reader's Writer("out.holo")), converted to HOLO's units
    (nm), with step, time, box, velocities and forces where the Timestep
    has them, and the numbers of ts.data (energies) as named scalars; the
    topology of the first frame's atoms (names, residues, chains, elements,
    masses, charges) goes with them. n_atoms must be given, as for XTC and
    TRR (None: the first frame's); a frame of another size raises
    ValueError, an object without atoms TypeError. compression "lossy"
    (positions within precision/2 nm, the rest bit-exact) or "lossless"
    writes a compressed file (prismio.Writer's), read back the same way."""

    format = "HOLO"
    multiframe = True
    units = {"time": "ps", "length": "nm", "velocity": "nm/ps", "force": "kJ/(mol*nm)"}

    def __init__(self, filename, n_atoms, convert_units=True, overwrite=True, sync=True,
                 compression=None, precision=0.001, keyframe=None, **kwargs):
        self._w = None
        self.filename = str(filename)
        if n_atoms is not None and int(n_atoms) < 0:
            raise ValueError(f"{self.filename}: n_atoms {n_atoms}")
        self.n_atoms = None if n_atoms is None else int(n_atoms)
        self.convert_units = convert_units
        self._w = _Writer(self.filename, overwrite=overwrite, sync=sync,
                          compression=compression, precision=precision, keyframe=keyframe)
        self._started = False
        self._skipped = set()

    def _topology_of(self, ag):
        def get(attr, default):
            try:
                return getattr(ag, attr)
            except (AttributeError, _NoDataError):
                return default
        n = ag.n_atoms
        return {"natoms": n,
                "names": np.array(get("names", [""] * n), dtype="S8"),
                "resnames": np.array(get("resnames", [""] * n), dtype="S8"),
                "elements": np.array(get("elements", [""] * n), dtype="S4"),
                "chains": np.array(get("chainIDs", [""] * n), dtype="S4"),
                "resids": np.array(get("resids", np.zeros(n)), dtype=np.int32),
                "masses": np.array(get("masses", np.zeros(n)), dtype=np.float32),
                "charges": np.array(get("charges", np.zeros(n)), dtype=np.float32)}

    def _write_next_frame(self, obj):
        try:
            ag = obj.atoms
            ts = ag.ts
        except AttributeError:
            raise TypeError(f"{self.filename}: write() takes an AtomGroup or a Universe, not "
                            f"{type(obj).__name__}") from None
        if self._w is None:
            raise UsageError(f"{self.filename}: the writer is closed")
        if self.n_atoms is None:
            self.n_atoms = ag.n_atoms
        if ag.n_atoms != self.n_atoms:
            raise ValueError(f"{self.filename}: {ag.n_atoms} atoms, the writer was opened for "
                             f"{self.n_atoms}")
        if not self._started:
            self._w._set_topology(self._topology_of(ag))
            self._started = True
        s = 0.1 if self.convert_units else 1.0  # Angstrom -> nm
        x = ag.positions * np.float32(s)
        v = ag.velocities * np.float32(s) if ts.has_velocities else None
        f = ag.forces * np.float32(10.0 if self.convert_units else 1.0) if ts.has_forces else None
        box = None
        if ts.dimensions is not None and np.any(ts.dimensions[:3] > 0):
            box = triclinic_vectors(ts.dimensions).astype(np.float64) * s
        step = ts.data.get("step", ts.frame)
        self._w.append(x, velocities=v, forces=f, box=box, step=int(step), time=float(ts.time),
                       scalars=self._scalars_of(ts))

    def _scalars_of(self, ts):
        """ts.data's numbers (energies and the like) as the frame's named
        scalars; step, dt and time have fields of their own. A name longer
        than HOLO's 23 bytes is left out with a warning, once per name."""
        out = {}
        for k, v in ts.data.items():
            if k in ("step", "dt", "time", "frame") or isinstance(v, (bool, np.bool_)) or \
                    not isinstance(v, (int, float, np.integer, np.floating)):
                continue
            if len(str(k).encode()) > 23:
                if k not in self._skipped:
                    self._skipped.add(k)
                    warnings.warn(f"{self.filename}: ts.data[{k!r}] not written (a HOLO "
                                  "scalar's name has at most 23 bytes)")
                continue
            out[str(k)] = float(v)
        return out

    def close(self):
        """Commit and close (again: nothing)."""
        w, self._w = getattr(self, "_w", None), None
        if w is not None:
            w.close()
