"""Datasets of structures for machine learning (HOLO 2.3).

A dataset is a ``.holo`` file, or a manifest listing shards, whose frames
are structures of any atom count: positions, cell, forces, named scalars
(energies) and named arrays (atomic numbers, periodicity, stress, labels).

Units. The file keeps HOLO's units for its fixed fields: positions and
cell in nm, forces in kJ/mol/nm. Everything else (energy, stress, labels)
is stored as given; ASE's are eV and eV/A^3 (the metadata key
``dataset.units`` says so). Reading with ``units="ase"`` (the default of
batches and of ``read_atoms``) gives positions and cell in A and forces in
eV/A, converted as the batch is gathered (no extra pass).

    ds = prismio.dataset.Dataset("train.holo")
    batch = ds.batch([3, 17, 4], columns=("positions", "numbers", "energy"))
    batch["positions"]           # (atoms, 3) float32, ragged
    batch["offsets"]             # (4,) int64 atom offsets

``write_atoms(path, atoms)`` writes ASE ``Atoms`` (from ``ase.io.read`` of
an extxyz file, an ``ase.db`` database or an ASE trajectory);
``read_atoms(path)`` gives them back.
"""
import numpy as np

from . import _dataset
from ._dataset import shuffle  # noqa: F401 (re-exported)

# kJ/mol per eV (CODATA 2018: e N_A = 96485.33212 C/mol)
KJMOL_PER_EV = 96.48533212
# Per-structure named arrays and per-atom arrays ASE keeps that the fixed
# fields already hold.
_ATOMS_OWN = {"numbers", "positions"}
# ASE's calculator results per atom (ase.io.extxyz's list); the others are
# per structure, whatever their length.
_PER_ATOM_RESULTS = {"forces", "stresses", "charges", "magmoms", "energies"}
# Per-structure results ASE's extxyz reader keeps in info and in the
# calculator both.
_PER_CONFIG_RESULTS = ("energy", "free_energy", "stress", "dipole", "magmom")


def _indices(indices, n):
    """Structure indices as uint64: integers only, negative ones from the
    end, each in range."""
    a = np.asarray(indices)
    if a.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if a.dtype.kind not in "iu":
        raise TypeError("structure indices must be integers, not %s" % a.dtype)
    a = a.reshape(-1).astype(np.int64)
    if (a < 0).any():
        a = np.where(a < 0, a + n, a)
    if (a < 0).any():
        raise IndexError("structure index %d out of range (%d structures)"
                         % (int(a[a < 0][0]) - n, n))
    return a.astype(np.uint64)


class Dataset(_dataset.Dataset):
    """Dataset(path, check=False): a ``.holo`` file or a manifest of shards.

    ``check=True`` verifies each structure's BLAKE3 the first time it is
    read. ``len(ds)`` structures; ``ds.structure(i)`` one structure as a
    dict (HOLO units); ``ds.batch(indices, ...)`` many at once.
    Pickles by path (each process maps the files itself).
    """

    def __init__(self, path, check=False):
        super().__init__(path, check)
        self._path = path
        self._check = check
        self._batchers = {}

    @property
    def path(self):
        return self._path

    def batcher(self, columns=("positions",), padded=False, units="ase", pinned=False,
                pad_atoms=0):
        """A reusable C batch for these columns (cached)."""
        if not 0 <= int(pad_atoms) <= 1 << 16:
            raise ValueError("pad_atoms %d: 0 to 65536" % pad_atoms)
        key = (tuple(columns), bool(padded), units, bool(pinned), int(pad_atoms))
        b = self._batchers.get(key)
        if b is None:
            b = _dataset.Batcher(self, list(columns), padded, units, pinned, pad_atoms)
            self._batchers[key] = b
        return b

    def batch(self, indices, columns=("positions",), padded=False, units="ase", pinned=False,
              pad_atoms=0):
        """Structures ``indices`` gathered into one dict of numpy arrays:
        ``index``, ``natoms``, then ``offsets`` (ragged: atoms concatenated)
        or ``mask`` (padded to the largest), then each column. The arrays
        view the batch's memory (no copy); they stay valid after the next
        batch, which moves to new memory while they live."""
        d = self.batcher(columns, padded, units, pinned, pad_atoms).fill(
            _indices(indices, len(self)))
        d.pop("_base")
        return d

    def batch_region(self, indices, columns=("positions",), padded=False, units="ase",
                     pinned=False, pad_atoms=0):
        """``batch``, and a uint8 view of the one region every array of the
        batch lies in (for moving the whole batch in one copy)."""
        d = self.batcher(columns, padded, units, pinned, pad_atoms).fill(
            _indices(indices, len(self)))
        return d, d.pop("_base")

    def __reduce__(self):
        return (type(self), (self._path, self._check))

    def __repr__(self):
        return "prismio.dataset.Dataset(%r, %d structures)" % (self._path, len(self))


class Writer(_dataset.Writer):
    """Writer(path, overwrite=False, sync=True): a HOLO 2.3 dataset file.

    ``append`` takes one structure in HOLO units (nm, kJ/mol/nm); see
    ``write_atoms`` for ASE's."""

    def append(self, positions, forces=None, velocities=None, cell=None, scalars=None,
               arrays=None, step=0, time=0.0):
        """arrays: name -> (per_atom, values); values of u8, bool, int32,
        int64, float32, float64 or bytes (``S``) type."""
        pos = np.ascontiguousarray(positions, dtype=np.float32).reshape(-1, 3)

        def f32(a):
            return None if a is None else np.ascontiguousarray(a, dtype=np.float32).reshape(-1, 3)

        c = None if cell is None else np.ascontiguousarray(cell, dtype=np.float64).reshape(9)
        arr = {}
        for k, (per_atom, v) in (arrays or {}).items():
            a = np.asarray(v)
            if a.dtype == np.bool_:
                a = a.astype(np.uint8)
            elif a.dtype.kind == "U":  # text: UTF-8 bytes
                a = np.char.encode(a, "utf-8")
            arr[k] = (bool(per_atom), np.ascontiguousarray(a))
        super().append(pos, f32(forces), f32(velocities), c,
                       {k: float(v) for k, v in (scalars or {}).items()}, arr, int(step),
                       float(time))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _info_value(v):
    """An ASE info value as (per_atom False, array), or None if it is a
    float (a scalar)."""
    if isinstance(v, (bool, np.bool_)):
        return np.array([v], dtype=np.uint8), "bool"
    if isinstance(v, (int, np.integer)):
        return np.array([v], dtype=np.int64), "int"
    if isinstance(v, str):
        return np.array([v.encode()]), "str"
    a = np.asarray(v)
    if a.dtype.kind in "iu":
        return np.ascontiguousarray(a.astype(np.int64).reshape(-1)), "int"
    if a.dtype.kind == "f":
        return np.ascontiguousarray(a.astype(np.float64).reshape(-1)), "float"
    if a.dtype.kind == "b":
        return np.ascontiguousarray(a.astype(np.uint8).reshape(-1)), "bool"
    raise ValueError("info value %r: not a number, bool, string or numeric array" % (v,))


def write_atoms(path, images, overwrite=False, sync=True):
    """Write ASE ``Atoms`` (any iterable: ``ase.io.iread("x.extxyz")``,
    ``ase.db.connect("x.db").select()`` rows' ``toatoms()``) as a dataset:
    positions, numbers, cell and pbc, the calculator's energy, forces and
    stress, ``info`` (floats as scalars, other values as named arrays) and
    per-atom ``arrays``. Returns the number of structures written."""
    n = 0
    with Writer(path, overwrite=overwrite, sync=sync) as w:
        w.set_metadata("dataset.units", "positions=nm cell=nm forces=kJ/mol/nm energy=eV "
                       "stress=eV/A^3 (ASE's, as given)")
        w.set_metadata("creator", "prismio.dataset.write_atoms")
        for atoms in images:
            scalars, arrays = {}, {}
            calc = atoms.calc
            results = dict(getattr(calc, "results", {}) or {}) if calc is not None else {}
            forces = results.pop("forces", None)
            if "energy" in results:
                scalars["energy"] = float(results.pop("energy"))
            if "free_energy" in results:
                scalars["free_energy"] = float(results.pop("free_energy"))
            for k, v in results.items():  # stress, magmoms, charges, ...
                a = np.asarray(v, dtype=np.float64)
                per_atom = k in _PER_ATOM_RESULTS
                a = (a.reshape(len(atoms), -1) if a.ndim < 2 else a) if per_atom else a.reshape(-1)
                arrays["calc." + k] = (per_atom, np.ascontiguousarray(a))
            for k, v in atoms.info.items():
                if isinstance(v, float) and len(k) < 24:
                    scalars["info." + k if len("info." + k) < 24 else k] = v
                    continue
                a, kind = _info_value(v)
                shape = np.shape(v)
                tail = "@%dx%d" % shape if len(shape) == 2 else ""
                arrays["info%s.%s%s" % ({"bool": "?", "int": "#", "str": "$",
                                         "float": ""}[kind], k, tail)] = (False, a)
            for k, v in atoms.arrays.items():
                if k in _ATOMS_OWN:
                    continue
                a = np.asarray(v)
                arrays["atoms." + k] = (True, np.ascontiguousarray(
                    a.reshape(len(atoms), 1) if a.ndim == 1 else a))
            arrays["numbers"] = (True, np.asarray(atoms.numbers, dtype=np.uint8))
            arrays["pbc"] = (False, np.asarray(atoms.pbc, dtype=np.uint8))
            cell = np.asarray(atoms.cell[:], dtype=np.float64)
            w.append(np.asarray(atoms.positions) / 10.0,
                     forces=None if forces is None else np.asarray(forces) * (KJMOL_PER_EV * 10.0),
                     cell=cell / 10.0 if cell.any() else None,
                     scalars=scalars, arrays=arrays)
            n += 1
    return n


def _atoms_of(s):
    """One structure dict (Dataset.structure) as ASE Atoms."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    arrays = s["arrays"]
    n = len(s["positions"])
    numbers = (np.asarray(arrays["numbers"], dtype=int).reshape(-1) if "numbers" in arrays
               else np.zeros(n, dtype=int))
    pbc = np.asarray(arrays.get("pbc", np.zeros(3)), dtype=bool).reshape(-1)
    cell = None if s["cell"] is None else s["cell"].astype(np.float64) * 10.0
    atoms = Atoms(numbers=numbers, positions=s["positions"].astype(np.float64) * 10.0,
                  cell=cell, pbc=pbc)
    results = {}
    for k, v in s["scalars"].items():
        if k in ("energy", "free_energy"):
            results[k] = v
        else:
            atoms.info[k[5:] if k.startswith("info.") else k] = v
    if s["forces"] is not None:
        results["forces"] = s["forces"].astype(np.float64) / (KJMOL_PER_EV * 10.0)
    for k, v in arrays.items():
        if k in ("numbers", "pbc"):
            continue
        if k.startswith("calc."):
            a = np.asarray(v)  # (atoms, width) per atom, (width,) per structure
            results[k[5:]] = a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a
        elif k.startswith("atoms") and k[5:6] in (".", "#", "?", "$"):
            # atoms.NAME, or tagged as prismio convert writes them: atoms#.
            # (ints), atoms?. (bools), atoms$. (text)
            tag, name = k[5], k[7:] if k[5] != "." else k[6:]
            if isinstance(v, list):  # text, a value an atom
                atoms.arrays[name] = np.array([x.decode("utf-8", "replace") for x in v])
                continue
            a = np.asarray(v)
            if tag == "?":
                a = a.astype(bool)
            atoms.arrays[name] = a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a
        elif k.startswith("info"):
            kind, name = k[4], k[6:] if k[4] in "?#$" else k[5:]
            shape = None
            if "@" in name:
                name, dims = name.rsplit("@", 1)
                shape = tuple(int(x) for x in dims.split("x"))
            if kind == "$":
                atoms.info[name] = v.decode()
            elif kind == "?":
                a = np.asarray(v, dtype=bool)
                atoms.info[name] = bool(a[0]) if a.size == 1 else a
            elif kind == "#":
                a = np.asarray(v).reshape(-1)
                atoms.info[name] = int(a[0]) if a.size == 1 and not shape else a.reshape(
                    shape or (-1,))
            else:
                atoms.info[name] = np.asarray(v).reshape(shape or (-1,))
    # results ASE's extxyz reader takes from the comment line into the
    # calculator as well (prismio convert keeps them as info keys)
    for key in _PER_CONFIG_RESULTS:
        if key in atoms.info and key not in results:
            v = atoms.info[key]
            if key == "stress":
                m = np.asarray(v, dtype=np.float64)
                m = m.reshape(3, 3, order="F") if m.size == 9 else m
                v = (np.array([m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]])
                     if m.shape == (3, 3) else m)
            results[key] = v
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def read_atoms(path, indices=None, check=False):
    """The structures of a dataset as ASE Atoms (a generator), in ASE's
    units, with a SinglePointCalculator holding energy, forces and stress."""
    ds = Dataset(path, check=check)
    for i in (range(len(ds)) if indices is None else indices):
        yield _atoms_of(ds.structure(int(i)))
