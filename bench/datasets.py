#!/usr/bin/python3
"""Structure datasets for ML: random-order batches per second (issue 26).

One synthetic dataset (N structures of 10-200 atoms, energy and forces),
read in random-order batches of 128, in the same run, through:

  holo_w0, holo_w2  prismio.torch.Dataset + DataLoader (0 and 2 workers)
  lmdb_pickle       an LMDB of pickled dicts read the fairchem way: one
                    txn.get + pickle.loads per structure, then collated
                    (ragged: concatenated) into tensors
  ase_db            ase.db (sqlite): one row per structure, collated
  extxyz            extxyz read by ASE (ase.io.read of each batch's frames)
  memory_gather     the limit: the same rows gathered from one numpy array
                    in memory (concatenated positions/forces, offsets)

Every baseline yields the same batch (positions, numbers, energy, forces,
ragged with offsets, as tensors). Keys (--json):
  vs_lmdb_pickle_ratio    holo_w0 batches/s over lmdb_pickle's (target >= 10)
  vs_memory_gather_ratio  holo_w0 over memory_gather (target >= 0.7)
  size_vs_lmdb_ratio      LMDB bytes / HOLO bytes (target >= 1)

    /usr/bin/python3 bench/datasets.py --json [--structures 100000] [--dir D]
"""
import argparse
import json
import os
import pickle
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "build", "python"))

import torch  # noqa: E402

import prismio.dataset as pds  # noqa: E402
import prismio.torch as pt  # noqa: E402

BATCH = 128


def synth(n, seed=0):
    """n structures: atoms 10..200, positions (A), numbers, energy, forces."""
    rng = np.random.default_rng(seed)
    natoms = rng.integers(10, 201, size=n)
    off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(natoms, out=off[1:])
    total = int(off[-1])
    pos = rng.uniform(0, 20, size=(total, 3)).astype(np.float32)
    frc = rng.normal(size=(total, 3)).astype(np.float32)
    z = rng.integers(1, 90, size=total).astype(np.uint8)
    energy = rng.normal(size=n) * 10
    cell = np.tile(np.diag([20.0, 20.0, 20.0]).reshape(1, 9), (n, 1))
    return natoms, off, pos, frc, z, energy, cell


def write_holo(path, d):
    natoms, off, pos, frc, z, energy, cell = d
    kj = pds.KJMOL_PER_EV * 10.0
    with pds.Writer(path, overwrite=True, sync=False) as w:
        for i in range(len(natoms)):
            a, b = off[i], off[i + 1]
            w.append(pos[a:b] / np.float32(10), forces=frc[a:b] * np.float32(kj),
                     cell=cell[i] / 10.0, scalars={"energy": float(energy[i])},
                     arrays={"numbers": (True, z[a:b]),
                             "pbc": (False, np.ones(3, dtype=np.uint8))})


def write_lmdb(path, d):
    import lmdb
    natoms, off, pos, frc, z, energy, cell = d
    env = lmdb.open(path, map_size=1 << 36, subdir=False, meminit=False, map_async=True)
    with env.begin(write=True) as txn:
        for i in range(len(natoms)):
            a, b = off[i], off[i + 1]
            # the fields fairchem's LMDB datasets hold per structure (as
            # torch tensors in its Data objects; numpy here, the same bytes)
            rec = {"pos": pos[a:b], "atomic_numbers": z[a:b].astype(np.int64),
                   "cell": cell[i].reshape(1, 3, 3), "natoms": int(natoms[i]),
                   "energy": float(energy[i]), "forces": frc[a:b], "sid": i}
            txn.put(str(i).encode("ascii"), pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL))
    env.sync()
    env.close()


def collate(items):
    """Per-structure dicts to one ragged batch of tensors."""
    n = np.array([len(it["pos"]) for it in items], dtype=np.int64)
    off = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(n, out=off[1:])
    return {
        "positions": torch.from_numpy(np.concatenate([it["pos"] for it in items])),
        "numbers": torch.from_numpy(np.concatenate([it["atomic_numbers"] for it in items])),
        "energy": torch.tensor([it["energy"] for it in items], dtype=torch.float64),
        "forces": torch.from_numpy(np.concatenate([it["forces"] for it in items])),
        "offsets": torch.from_numpy(off),
    }


def batches_of(n, nb, seed):
    order = np.random.default_rng(seed).permutation(n)
    return [order[k * BATCH:(k + 1) * BATCH] for k in range(min(nb, n // BATCH))]


def rate(fn, batches, repeat):
    """Best of `repeat` passes: batches per second."""
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        for b in fn(batches):
            pass
        best = max(best, len(batches) / (time.perf_counter() - t))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--structures", type=int, default=100000)
    ap.add_argument("--batches", type=int, default=300, help="batches timed per pass")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--skip-slow", action="store_true", help="leave out ase_db and extxyz")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="pio-ds-", dir=a.dir)
    try:
        data = synth(a.structures)
        natoms, off, pos, frc, z, energy, cell = data
        holo = os.path.join(d, "set.holo")
        lmdbp = os.path.join(d, "set.lmdb")
        t0 = time.perf_counter()
        write_holo(holo, data)
        t_holo = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_lmdb(lmdbp, data)
        t_lmdb = time.perf_counter() - t0
        res = {"structures": a.structures, "atoms": int(off[-1]), "batch": BATCH,
               "holo_bytes": os.path.getsize(holo), "lmdb_bytes": os.path.getsize(lmdbp),
               "write_holo_s": round(t_holo, 2), "write_lmdb_s": round(t_lmdb, 2)}
        batches = batches_of(a.structures, a.batches, 1)
        cols = ("positions", "numbers", "energy", "forces")

        ds = pt.Dataset(holo, columns=cols)

        def holo_w0(bs):
            for b in bs:
                yield ds.batch(b)

        def holo_loader(workers):
            # one DataLoader, its workers kept across passes (best of the
            # passes: worker start-up is not what a training epoch pays)
            from torch.utils.data import DataLoader
            dl = DataLoader(ds, batch_size=None, sampler=batches, num_workers=workers,
                            collate_fn=pt._identity, persistent_workers=workers > 0,
                            prefetch_factor=4 if workers else 2)

            def run(bs):
                assert bs is batches
                yield from dl
            return run

        import lmdb
        env = lmdb.open(lmdbp, subdir=False, readonly=True, lock=False, readahead=False,
                        meminit=False)

        def lmdb_pickle(bs):
            with env.begin() as txn:
                for b in bs:
                    yield collate([pickle.loads(txn.get(str(int(i)).encode("ascii")))
                                   for i in b])

        def memory_gather(bs):
            for b in bs:
                # vectorised: each structure's rows as one index array
                s, e = off[b], off[b + 1]
                o = np.zeros(len(b) + 1, dtype=np.int64)
                np.cumsum(e - s, out=o[1:])
                idx = np.repeat(s - o[:-1], e - s) + np.arange(o[-1])
                yield {"positions": torch.from_numpy(pos[idx]),
                       "numbers": torch.from_numpy(z[idx]),
                       "energy": torch.from_numpy(energy[b]),
                       "forces": torch.from_numpy(frc[idx]), "offsets": torch.from_numpy(o)}

        # the same batch from each (holo in ASE units: A, eV/A)
        b0 = batches[0]
        h, m, lm = next(holo_w0([b0])), next(memory_gather([b0])), next(lmdb_pickle([b0]))
        assert np.allclose(h["positions"].numpy(), m["positions"].numpy(), rtol=1e-6)
        assert np.allclose(h["forces"].numpy(), m["forces"].numpy(), rtol=1e-5, atol=1e-6)
        assert (h["numbers"].numpy()[:, 0] == m["numbers"].numpy()).all()
        assert np.array_equal(lm["positions"].numpy(), m["positions"].numpy())

        # the files just written are flushed first (writeback under way
        # slowed whichever reader came first), then the readers take turns,
        # pass by pass, each keeping its best: drifts of a shared machine
        # fall on all of them alike
        os.sync()
        readers = [("holo_w0", holo_w0), ("holo_loader_w0", holo_loader(0)),
                   ("holo_loader_w2", holo_loader(2)), ("lmdb_pickle", lmdb_pickle),
                   ("memory_gather", memory_gather)]
        for name, _ in readers:
            res[name + "_batches_s"] = 0.0
        for _ in range(a.repeat):
            for name, fn in readers:
                res[name + "_batches_s"] = max(res[name + "_batches_s"], rate(fn, batches, 1))
        if not a.skip_slow:
            from ase import Atoms
            from ase.calculators.singlepoint import SinglePointCalculator
            import ase.db
            import ase.io
            nslow = min(a.structures, 4000)
            slow = batches_of(nslow, max(4, a.batches // 20), 2)
            dbp = os.path.join(d, "set.db")
            xyz = os.path.join(d, "set.extxyz")
            with ase.db.connect(dbp) as db:
                imgs = []
                for i in range(nslow):
                    s, e = off[i], off[i + 1]
                    at = Atoms(numbers=z[s:e], positions=pos[s:e], cell=cell[i].reshape(3, 3),
                               pbc=True)
                    at.calc = SinglePointCalculator(at, energy=float(energy[i]),
                                                    forces=frc[s:e].astype(np.float64))
                    db.write(at)
                    imgs.append(at)
            ase.io.write(xyz, imgs)
            db = ase.db.connect(dbp)

            def ase_db(bs):
                for b in bs:
                    items = []
                    for i in b:
                        at = db.get(id=int(i) + 1).toatoms()
                        items.append({"pos": at.positions.astype(np.float32),
                                      "atomic_numbers": at.numbers,
                                      "energy": at.get_potential_energy(),
                                      "forces": at.get_forces().astype(np.float32)})
                    yield collate(items)

            def extxyz(bs):
                for b in bs:
                    items = []
                    for i in b:
                        at = ase.io.read(xyz, index=int(i))
                        items.append({"pos": at.positions.astype(np.float32),
                                      "atomic_numbers": at.numbers,
                                      "energy": at.get_potential_energy(),
                                      "forces": at.get_forces().astype(np.float32)})
                    yield collate(items)

            res["ase_db_batches_s"] = rate(ase_db, slow, 1)
            res["extxyz_batches_s"] = rate(extxyz, slow[:2], 1)
            res["slow_baselines_structures"] = nslow
        res["vs_lmdb_pickle_ratio"] = res["holo_w0_batches_s"] / res["lmdb_pickle_batches_s"]
        res["vs_memory_gather_ratio"] = res["holo_w0_batches_s"] / res["memory_gather_batches_s"]
        res["size_vs_lmdb_ratio"] = res["lmdb_bytes"] / res["holo_bytes"]
        for k in list(res):
            if isinstance(res[k], float):
                res[k] = round(res[k], 3)
        if a.json:
            print(json.dumps(res, indent=1))
        else:
            for k, v in res.items():
                print("%-28s %s" % (k, v))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
