"""Run by test_mpi.py under `mpirun -np 4`: prismio.mpi on every rank.

usage: mpi_ranks.py DIR
Writes DIR/ensemble.holo (each rank one replica frame a round, a commit
after round 2, velocities and boxes) and DIR/slices.holo (time slices,
lossless), checks both with the serial reader on rank 0, then reads them
back in parallel: every rank its block, the blocks summed. Prints
"mpi_ranks: N ranks, passed" on rank 0.
"""
import sys
import traceback

import numpy as np
from mpi4py import MPI


def _abort_on_error(kind, value, tb):
    # one rank failing must stop them all (the others wait in a collective)
    traceback.print_exception(kind, value, tb)
    sys.stderr.flush()
    MPI.COMM_WORLD.Abort(1)


sys.excepthook = _abort_on_error

import prismio
import prismio.mpi

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
out = sys.argv[1]
NATOMS, ROUNDS = 30, 5


def frame(i):
    return (np.random.default_rng(i).random((NATOMS, 3), dtype=np.float32) * 5).astype(np.float32)


ens = f"{out}/ensemble.holo"
with prismio.mpi.Writer(comm, ens, overwrite=True, salt=bytes(range(16)),
                        metadata={"made.by": "mpi_ranks"}) as w:
    for r in range(ROUNDS):
        i = r * size + rank
        w.append(frame(i), velocities=frame(1000 + i), box=np.eye(3) * (4 + i), step=i,
                 time=i * 0.5)
        if r == 2:
            w.commit()
            assert w.nframes == 3 * size, w.nframes

# a bad argument on one rank fails the call on every rank (no rank is left
# waiting), and the writer goes on
with prismio.mpi.Writer(comm, f"{out}/bad.holo", overwrite=True) as w:
    v = frame(1)[:5] if rank == 1 else None
    try:
        w.append(frame(0), velocities=v)
        raise AssertionError("a bad shape on rank 1 was accepted")
    except ValueError as e:
        assert "rank 1" in str(e) and "velocities" in str(e), e
    w.append(frame(0))
    assert w.nframes == size

# a frame by atom ranges: each rank its block of a 5,000-atom frame
big = (np.random.default_rng(77).random((5000, 3), dtype=np.float32) * 9).astype(np.float32)
first, count = prismio.mpi.block(5000, rank, size)
with prismio.mpi.Writer(comm, f"{out}/atoms.holo", overwrite=True) as w:
    for k in range(3):
        w.append_atoms(big[first:first + count] + k, 5000, first,
                       velocities=big[first:first + count] * -1, step=k, time=k * 0.5)
    assert w.nframes == 3
if rank == 0:
    with prismio.open(f"{out}/atoms.holo", check=True) as t:
        assert len(t) == 3
        for k in range(3):
            assert np.array_equal(t.read(frames=[k])[0], big + k), k

sl = f"{out}/slices.holo"
total = 37
first, count = prismio.mpi.block(total, rank, size)
with prismio.mpi.Writer(comm, sl, overwrite=True, compress="lossless") as w:
    w.append(np.stack([frame(5000 + k) for k in range(first, first + count)]
                      or [np.zeros((NATOMS, 3), np.float32)])[:count],
             step=np.arange(first, first + count), time=np.arange(first, first + count) * 2.0)
    assert w.nframes == total

ok = True
if rank == 0:
    with prismio.open(ens, check=True) as t:
        assert len(t) == ROUNDS * size
        x = t.read()
        for i in range(len(t)):
            assert np.array_equal(x[i], frame(i)), i
        assert t.metadata["made.by"] == "mpi_ranks", t.metadata
    with prismio.open(sl, check=True) as t:
        assert len(t) == total
        x = t.read()
        for k in range(total):
            assert np.array_equal(x[k], frame(5000 + k)), k

# the parallel reader: blocks cover every frame once
for path, n0 in ((ens, 0), (sl, 5000)):
    t, first, count = prismio.mpi.open(comm, path)
    mine = t.read(frames=slice(first, first + count)).astype(np.float64).sum()
    t.close()
    allsum = comm.allreduce(mine)
    if rank == 0:
        n = ROUNDS * size if path == ens else total
        want = sum(frame(n0 + k).astype(np.float64).sum() for k in range(n))
        assert abs(allsum - want) < 1e-6 * abs(want), (path, allsum, want)

comm.Barrier()
if rank == 0:
    print(f"mpi_ranks: {size} ranks, passed", flush=True)
