"""prismio.dask (issue 27): HOLO trajectories as lazy dask arrays, equal to
the reader's arrays, chunked by frames and atoms, graphs that pickle paths
and not arrays, on a distributed LocalCluster of 2 processes."""
import os
import pickle
import subprocess

import numpy as np
import pytest

dask = pytest.importorskip("dask")
import prismio  # noqa: E402
import prismio.dask as pdk  # noqa: E402

CLI = os.environ.get("PRISMIO_CLI", "build/prismio")


@pytest.fixture(scope="module")
def traj(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask")
    path = str(d / "t.holo")
    r = subprocess.run([CLI, "gen", path, "--atoms", "300", "--frames", "250", "--fields", "x,v"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    comp = str(d / "c.holo")
    r = subprocess.run([CLI, "convert", "--compress", "lossless", path, comp],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return path, comp


@pytest.mark.parametrize("which", [0, 1])
def test_arrays_equal_the_reader(traj, which):
    path = traj[which]  # raw, and compressed in blocks
    ref = prismio.open(path).read()
    x = pdk.from_holo(path, chunks=64)
    assert x.shape == ref.shape and x.dtype == np.float32
    assert x.chunks[0] == (64, 64, 64, 58)
    assert np.array_equal(x.compute(), ref)
    # atom chunks and a selection
    y = pdk.from_holo(path, chunks=100, atom_chunks=128)
    assert y.chunks[1] == (128, 128, 44)
    assert np.array_equal(y[10:200:3, 5:290].compute(), ref[10:200:3, 5:290])
    sel = np.array([3, 7, 100, 299])
    z = pdk.from_holo(path, chunks=50, atoms=sel, atom_chunks=3)
    assert np.array_equal(z.compute(), ref[:, sel])


def test_load_fields_and_beside(traj):
    path = traj[0]
    h = pdk.load(path, chunks=100, atoms=slice(10, 50), fields=("positions", "velocities"))
    t = prismio.open(path)
    v = np.stack([t[i].velocities[10:50] for i in range(len(t))])
    assert np.array_equal(h.velocities.compute(), v)
    assert h.forces is None
    assert h.steps.tolist() == [t[i].step for i in range(len(t))]
    assert np.array_equal(h.atoms, np.arange(10, 50))
    assert isinstance(h.metadata, dict)


def test_graph_pickles_paths_not_arrays(traj):
    x = pdk.from_holo(traj[0], chunks=10)
    g = pickle.dumps(dict(x.__dask_graph__()))
    assert len(g) < 200 * 25  # 25 chunks of about 100 bytes, against 900 KB of values
    assert traj[0].encode() in g


def test_varying_atoms_refused(tmp_path):
    import prismio.dataset as pds
    holo = str(tmp_path / "d.holo")
    with pds.Writer(holo) as w:
        w.append(np.zeros((2, 3)))
        w.append(np.zeros((3, 3)))
    with pytest.raises(ValueError) as e:
        pdk.from_holo(holo)
    assert "atom counts from 2 to 3" in str(e.value)


def test_damaged_frame_fails_its_chunk(traj, tmp_path):
    import shutil
    path = str(tmp_path / "bad.holo")
    shutil.copy(traj[0], path)
    t = prismio.open(path)
    off = t[120].offset if hasattr(t[120], "offset") else None
    t.close()
    raw = bytearray(open(path, "rb").read())
    # a byte in the middle of the file's frames
    pos = off + 300 if off else len(raw) // 2
    raw[pos] ^= 0x01
    open(path, "wb").write(bytes(raw))
    x = pdk.from_holo(path, chunks=50)
    with pytest.raises(prismio.Error):
        x.compute()


def test_local_cluster_two_processes(traj):
    distributed = pytest.importorskip("distributed")
    x = pdk.from_holo(traj[1], chunks=64)
    ref = prismio.open(traj[1]).read()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as c, \
            distributed.Client(c):
        mean = x.mean(axis=0)
        rmsf = (((x - mean) ** 2).sum(axis=2).mean(axis=0) ** 0.5).compute()
    want = np.sqrt(((ref - ref.mean(axis=0)) ** 2).sum(axis=2).mean(axis=0))
    assert np.allclose(rmsf, want, rtol=1e-5, atol=1e-6)
