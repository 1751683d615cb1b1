"""MDAnalysis support: importing this module registers, for format HOLO
(files ending in .holo), a coordinate Reader and a topology Parser, so

    import prismio.mdanalysis
    u = mda.Universe("traj.holo")              # topology from the file
    u = mda.Universe("top.pdb", "traj.holo")   # or from elsewhere

work, with random access, ts.dimensions, per-frame scalars in ts.data, and
pickling (the reader reopens the file by name).
"""
import warnings

import numpy as np
from MDAnalysis.coordinates import base
from MDAnalysis.core.topology import Topology
from MDAnalysis.core.topologyattrs import (Atomids, Atomnames, Bonds, ChainIDs, Charges,
                                           Elements, Masses, Resids, Resnames, Resnums,
                                           Segids)
from MDAnalysis.lib.mdamath import triclinic_box
from MDAnalysis.topology.base import TopologyReaderBase

from . import Writer as _Writer
from . import open as _open

__all__ = ["HOLOReader", "HOLOParser", "HOLOWriter"]


def _strings(a):
    return np.array([s.decode("ascii", "replace") for s in a], dtype=object)


class HOLOParser(TopologyReaderBase):
    """Topology of a HOLO file (names, residues, chains, elements, masses,
    charges, bonds)."""

    format = "HOLO"

    def parse(self, **kwargs):
        with _open(self.filename) as t:
            top = t.topology
        if top is None:
            raise ValueError(f"{self.filename}: the HOLO file has no topology")
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
    convert_units is true (the default)."""

    format = "HOLO"
    units = {"time": "ps", "length": "nm", "velocity": "nm/ps", "force": "kJ/(mol*nm)"}

    def __init__(self, filename, convert_units=True, **kwargs):
        super().__init__(filename, convert_units=convert_units, **kwargs)
        self._traj = _open(self.filename)
        self.n_atoms = self._traj[0].natoms if len(self._traj) else 0
        first = self._traj[0] if len(self._traj) else None
        self.ts = self._Timestep(self.n_atoms,
                                 velocities=first is not None and first.velocities is not None,
                                 forces=first is not None and first.forces is not None,
                                 reader=self,  # ts.dt asks the reader (_get_dt)
                                 **self._ts_kwargs)
        del first
        self._frame = -1
        self._read_next_timestep()

    @property
    def n_frames(self):
        return len(self._traj)

    def _get_dt(self):
        """Time between the first two frames (ps), as MDAnalysis's XTC and
        TRR readers give it; one frame: MDAnalysis's own fallback."""
        if len(self._traj) < 2:
            raise AttributeError("dt: fewer than two frames")
        return self._traj[1].time - self._traj[0].time

    def _read_frame(self, i):
        if i < 0 or i >= len(self._traj):
            raise IOError(f"{self.filename}: frame {i} out of range")
        self._frame = i - 1
        return self._read_next_timestep()

    def _read_next_timestep(self, ts=None):
        if ts is None:
            ts = self.ts
        if self._frame + 1 >= len(self._traj):
            raise IOError(f"{self.filename}: no frame after {self._frame}")
        self._frame += 1
        # one C call: arrays copied (and scaled to Angstrom) into the
        # Timestep's own, the box as MDAnalysis's dimensions
        ls, fs = (10.0, 0.1) if self.convert_units else (1.0, 1.0)
        step, time, dims, scalars = self._traj.fill(
            self._frame, ts._pos, ts._velocities if ts.has_velocities else None,
            ts._forces if ts.has_forces else None, ls, fs)
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
        self._frame = -1

    def close(self):
        if getattr(self, "_traj", None) is not None:
            self._traj.close(defer=True)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_traj", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._traj = _open(self.filename)


class HOLOWriter(base.WriterBase):
    """mda.Writer("out.holo", n_atoms): frames from AtomGroups or Universes,
    converted to HOLO's units (nm), with step, time, box and the numbers of
    ts.data (energies) as named scalars; the topology of the first frame's
    atoms (names, residues, chains, elements, masses, charges) goes with
    them."""

    format = "HOLO"
    multiframe = True
    units = {"time": "ps", "length": "nm", "velocity": "nm/ps", "force": "kJ/(mol*nm)"}

    def __init__(self, filename, n_atoms=None, convert_units=True, overwrite=True, **kwargs):
        self.filename = str(filename)
        self.n_atoms = n_atoms
        self.convert_units = convert_units
        self._w = _Writer(self.filename, overwrite=overwrite)
        self._started = False
        self._skipped = set()

    def _topology_of(self, ag):
        def get(attr, default):
            try:
                return getattr(ag, attr)
            except (AttributeError, mda_NoDataError):
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
        ag = obj.atoms
        ts = ag.ts
        if self.n_atoms is not None and ag.n_atoms != self.n_atoms:
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
        if ts.dimensions is not None:
            from MDAnalysis.lib.mdamath import triclinic_vectors
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
        if self._w is not None:
            self._w.close()
            self._w = None


try:
    from MDAnalysis.exceptions import NoDataError as mda_NoDataError
except ImportError:  # pragma: no cover
    mda_NoDataError = AttributeError
