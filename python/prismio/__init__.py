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
"""
import numpy as np

from . import _prismio

__all__ = ["open", "Trajectory", "Frame", "__version__"]
__version__ = _prismio.version()


class Frame:
    """One frame: positions (nm), velocities (nm/ps), forces (kJ/mol/nm) as
    read-only float32 views (None when absent), box (3x3 rows, nm) or None,
    step, time (ps), scalars (dict)."""

    __slots__ = ("index", "step", "time", "natoms", "positions", "velocities", "forces", "box",
                 "scalars")

    def __init__(self, d):
        self.index = d["index"]
        self.step = d["step"]
        self.time = d["time"]
        self.natoms = d["natoms"]
        self.positions = np.asarray(d["positions"])
        self.velocities = None if d["velocities"] is None else np.asarray(d["velocities"])
        self.forces = None if d["forces"] is None else np.asarray(d["forces"])
        self.box = None if d["box"] is None else np.array(d["box"], dtype=np.float64)
        self.scalars = d["scalars"]

    def __repr__(self):
        return f"<prismio.Frame {self.index}: {self.natoms} atoms, step {self.step}, t={self.time} ps>"


class Trajectory(_prismio.Trajectory):
    """A mapped HOLO file: len(), indexing and slicing (Frame objects),
    iteration, .topology, .metadata, verify(), close(); a context manager."""

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [Frame(self.frame(k)) for k in range(*i.indices(len(self)))]
        return Frame(self.frame(i))

    def __iter__(self):
        for k in range(len(self)):
            yield Frame(self.frame(k))

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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # arrays may outlive the block: the file stays mapped until they go
        self.close(defer=True)
        return False

    def __repr__(self):
        state = "closed" if self.closed else f"{len(self)} frames"
        return f"<prismio.Trajectory {state}>"


def open(path):  # noqa: A001 (the package's entry point, like io.open)
    """Map a HOLO file (a torn tail is recovered in memory)."""
    return Trajectory(path)
