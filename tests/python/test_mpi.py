"""prismio.mpi under mpirun (4 ranks): the collective writer from mpi4py
and the parallel reader (tests/python/mpi_ranks.py)."""
import os
import shutil
import subprocess
import sys

import pytest

import prismio.mpi

HERE = os.path.dirname(os.path.abspath(__file__))


def test_block():
    for n in (0, 1, 7, 37, 100):
        for ranks in (1, 3, 4):
            got = [prismio.mpi.block(n, r, ranks) for r in range(ranks)]
            assert sum(c for _, c in got) == n
            at = 0
            for first, count in got:
                assert first == at
                at += count
            assert max(c for _, c in got) - min(c for _, c in got) <= 1


def test_ranks(tmp_path):
    if prismio.mpi._mpi is None:
        pytest.skip("built without MPI")
    if not shutil.which("mpirun"):
        pytest.skip("mpirun not installed")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py not installed")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run(["mpirun", "-np", "4", "--oversubscribe", sys.executable,
                        os.path.join(HERE, "mpi_ranks.py"), str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mpi_ranks: 4 ranks, passed" in r.stdout
