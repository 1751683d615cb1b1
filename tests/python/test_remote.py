"""prismio.open(url) and the MDAnalysis reader on a remote file: the same
numbers as the local file, served over HTTP on 127.0.0.1 by
tests/remote/fault_server.py (started and stopped here)."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import prismio

PRISMIO = os.environ["PRISMIO_CLI"]
DATA = os.environ["PRISMIO_TEST_DATA"]
SERVER = os.path.join(DATA, "..", "remote", "fault_server.py")
PDB = os.path.join(DATA, "peptide.pdb")
XTC = os.path.join(DATA, "peptide.xtc")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not prismio.remote_built():
        pytest.skip("this build reads no remote files (no libcurl)")
    d = tmp_path_factory.mktemp("remote")
    holo = d / "peptide.holo"
    subprocess.run([PRISMIO, "convert", XTC, str(holo), "--top", PDB, "--quiet"], check=True)
    srv = subprocess.Popen([sys.executable, SERVER, str(d)], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    port = int(srv.stdout.readline())
    yield str(holo), f"http://127.0.0.1:{port}"
    srv.terminate()
    srv.wait()


def test_frames_equal_the_local_file(served):
    local, base = served
    with prismio.open(local) as lt, prismio.open(base + "/ok/all/peptide.holo") as rt:
        assert len(rt) == len(lt) == 201
        assert rt.topology["names"].tolist() == lt.topology["names"].tolist()
        for fl, fr in zip(lt, rt):
            assert np.array_equal(fl.positions, fr.positions)
            assert np.array_equal(fl.box, fr.box)
            assert fl.step == fr.step and fl.time == fr.time
        # random access, and a frame kept while others are read
        keep = rt[150].positions
        for i in (3, 200, 0, 77):
            assert np.array_equal(rt[i].positions, lt[i].positions)
        assert np.array_equal(keep, lt[150].positions)


def test_retried_then_right_and_errors_name_the_url(served, monkeypatch):
    local, base = served
    monkeypatch.setenv("PIO_REMOTE_BACKOFF_MS", "5")
    with prismio.open(base + "/e503/1-3/peptide.holo") as rt, prismio.open(local) as lt:
        assert np.array_equal(rt[100].positions, lt[100].positions)
    url = base + "/e500/all/peptide.holo"
    with pytest.raises(prismio.Error) as ei:
        prismio.open(url)
    assert url in str(ei.value) and "HTTP 500" in str(ei.value)


def test_mdanalysis_reads_a_url(served):
    mda = pytest.importorskip("MDAnalysis")
    import prismio.mdanalysis  # noqa: F401  (registers format HOLO)
    warnings.filterwarnings("ignore")
    local, base = served
    u_l = mda.Universe(PDB, local)
    u_r = mda.Universe(PDB, base + "/ok/all/peptide.holo", format="HOLO")
    assert u_r.trajectory.n_frames == u_l.trajectory.n_frames == 201
    for ts_l, ts_r in zip(u_l.trajectory, u_r.trajectory):
        assert np.array_equal(ts_l.positions, ts_r.positions)
