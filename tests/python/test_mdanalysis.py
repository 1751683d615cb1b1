"""MDAnalysis on a HOLO file converted from a GROMACS XTC gives the same
numbers as MDAnalysis on the XTC itself."""
import os
import pickle
import subprocess
import warnings

import numpy as np
import pytest

mda = pytest.importorskip("MDAnalysis")
warnings.filterwarnings("ignore")
from MDAnalysis.analysis import rms  # noqa: E402

import prismio.mdanalysis  # noqa: E402,F401  (registers format HOLO)

PRISMIO = os.environ["PRISMIO_CLI"]
DATA = os.environ["PRISMIO_TEST_DATA"]
PDB = os.path.join(DATA, "peptide.pdb")
XTC = os.path.join(DATA, "peptide.xtc")


@pytest.fixture(scope="module")
def holo(tmp_path_factory):
    out = tmp_path_factory.mktemp("mda") / "peptide.holo"
    subprocess.run([PRISMIO, "convert", XTC, str(out), "--top", PDB, "--quiet"], check=True)
    return str(out)


def test_same_frames_as_the_xtc(holo):
    u_x = mda.Universe(PDB, XTC)
    u_h = mda.Universe(PDB, holo)
    assert u_h.trajectory.n_frames == u_x.trajectory.n_frames == 201
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Reader has no dt information"
        assert u_h.trajectory.dt == pytest.approx(u_x.trajectory.dt) and u_x.trajectory.dt > 0
        assert u_h.trajectory.totaltime == pytest.approx(u_x.trajectory.totaltime)
    for ts_x, ts_h in zip(u_x.trajectory, u_h.trajectory):
        assert np.array_equal(ts_h.positions, ts_x.positions)
        assert np.allclose(ts_h.dimensions, ts_x.dimensions, rtol=1e-6)
        assert ts_h.time == pytest.approx(ts_x.time)
    # random access
    for i in (150, 3, 200, 0):
        assert np.array_equal(u_h.trajectory[i].positions, u_x.trajectory[i].positions)
        assert u_h.trajectory.ts.data["step"] == i * 10


def test_topology_from_the_file(holo):
    u_p = mda.Universe(PDB, XTC)
    u_h = mda.Universe(holo)  # no separate topology
    assert u_h.atoms.n_atoms == 711
    assert list(u_h.atoms.names) == list(u_p.atoms.names)
    assert list(u_h.residues.resnames) == list(u_p.residues.resnames)
    for sel in ("name CA", "resname ALA GLY", "chainID B and name CA"):
        assert u_h.select_atoms(sel).n_atoms == u_p.select_atoms(sel).n_atoms > 0


def test_analysis_gives_the_same_numbers(holo):
    u_x = mda.Universe(PDB, XTC)
    u_h = mda.Universe(PDB, holo)
    ca_x, ca_h = u_x.select_atoms("name CA"), u_h.select_atoms("name CA")
    ref_x = u_x.trajectory[0] and ca_x.positions.copy()
    ref_h = u_h.trajectory[0] and ca_h.positions.copy()
    for i in range(0, 201, 25):
        u_x.trajectory[i]
        u_h.trajectory[i]
        assert rms.rmsd(ca_h.positions, ref_h, superposition=True) == pytest.approx(
            rms.rmsd(ca_x.positions, ref_x, superposition=True), abs=1e-6)
        assert np.allclose(ca_h.center_of_geometry(), ca_x.center_of_geometry(), atol=1e-5)


def test_pickling(holo):
    u = mda.Universe(PDB, holo)
    u.trajectory[42]
    r2 = pickle.loads(pickle.dumps(u.trajectory))
    r2[42]
    assert np.array_equal(r2.ts.positions, u.trajectory.ts.positions)
    r2.close()


def test_mda_writer(holo, tmp_path):
    u = mda.Universe(PDB, XTC)
    out = str(tmp_path / "mda.holo")
    with mda.Writer(out, u.atoms.n_atoms) as w:
        for ts in u.trajectory[:30]:
            w.write(u.atoms)
    u2 = mda.Universe(out)  # topology written with the frames
    assert u2.trajectory.n_frames == 30 and list(u2.atoms.names) == list(u.atoms.names)
    for ts_a, ts_b in zip(u.trajectory[:30], u2.trajectory):
        assert np.allclose(ts_b.positions, ts_a.positions, atol=1e-5)
        assert np.allclose(ts_b.dimensions, ts_a.dimensions, rtol=1e-5)
        assert ts_b.time == pytest.approx(ts_a.time) and ts_b.data["step"] == ts_a.data["step"]
    subprocess.run([PRISMIO, "verify", out], check=True, capture_output=True)


def test_compressed_holo_in_mdanalysis(tmp_path):
    """A compressed HOLO (blocks, as convert --compress lossy writes; and
    MDAnalysis's own writer with compression) reads in MDAnalysis as the
    XTC does: the XTC's integers are kept, so the positions agree to the
    float32 rounding of the two decoders' arithmetic."""
    out = str(tmp_path / "lossy.holo")
    subprocess.run([PRISMIO, "convert", XTC, out, "--top", PDB, "--compress", "lossy",
                    "--quiet"], check=True)
    u_x, u_h = mda.Universe(PDB, XTC), mda.Universe(out)
    assert u_h.trajectory.n_frames == 201
    for i in (0, 31, 32, 150, 200, 7):
        d = np.abs(u_h.trajectory[i].positions - u_x.trajectory[i].positions)
        assert d.max() <= 1e-5 * max(1.0, np.abs(u_x.trajectory[i].positions).max())
    w_out = str(tmp_path / "mda_lossy.holo")
    with mda.Writer(w_out, u_x.atoms.n_atoms, compression="lossy", keyframe=8) as w:
        for ts in u_x.trajectory[:20]:
            w.write(u_x.atoms)
    u2 = mda.Universe(w_out)
    for ts_a, ts_b in zip(u_x.trajectory[:20], u2.trajectory):
        assert np.abs(ts_b.positions - ts_a.positions).max() <= 0.005 + 1e-4  # 0.0005 nm in A
    info = subprocess.run([PRISMIO, "info", w_out], check=True, capture_output=True, text=True)
    assert "blocks:" in info.stdout and "lossy" in info.stdout


def test_mda_writer_keeps_the_energies(tmp_path):
    """HOLO -> MDAnalysis -> HOLO: the per-frame scalars (ts.data) survive."""
    src, out = str(tmp_path / "gen.holo"), str(tmp_path / "copy.holo")
    subprocess.run([PRISMIO, "gen", src, "--atoms", "30", "--frames", "4", "--fields", "x,v,f"],
                   check=True, capture_output=True)
    u = mda.Universe(src)
    with mda.Writer(out, u.atoms.n_atoms) as w, pytest.warns(UserWarning, match="23 bytes"):
        for ts in u.trajectory:
            ts.data["a_name_much_longer_than_23_bytes"] = 1.0
            w.write(u.atoms)
    with prismio.open(src) as a, prismio.open(out) as b:
        assert len(a) == len(b) == 4
        for i in range(4):
            assert a[i].scalars == b[i].scalars and set(a[i].scalars) >= {"potential"}
            assert np.allclose(b[i].velocities, a[i].velocities, rtol=1e-6)
            assert np.allclose(b[i].forces, a[i].forces, rtol=1e-6)


def test_velocities_forces_and_box_in_mdanalysis_units(tmp_path):
    """The reader's C fast path (arrays scaled in C, the box turned into
    lengths and angles in C) against MDAnalysis's own TRR reader."""
    gro, trr = os.path.join(DATA, "water.gro"), os.path.join(DATA, "water.trr")
    out = str(tmp_path / "water.holo")
    subprocess.run([PRISMIO, "convert", trr, out, "--top", gro, "--quiet"], check=True)
    u_t = mda.Universe(gro, trr)
    u_h = mda.Universe(gro, out)
    assert u_h.trajectory.n_frames == u_t.trajectory.n_frames
    checked = 0
    for ts_t, ts_h in zip(u_t.trajectory, u_h.trajectory):
        assert ts_h.has_velocities == ts_t.has_velocities
        assert np.allclose(ts_h.positions, ts_t.positions, rtol=1e-6, atol=1e-5)
        if ts_t.has_velocities:
            assert np.allclose(ts_h.velocities, ts_t.velocities, rtol=1e-6, atol=1e-5)
        if ts_t.has_forces:
            assert np.allclose(ts_h.forces, ts_t.forces, rtol=1e-5, atol=1e-4)
        assert np.allclose(ts_h.dimensions, ts_t.dimensions, rtol=1e-6)
        assert ts_h.time == pytest.approx(ts_t.time)
        checked += 1
    assert checked > 0
    # without unit conversion: HOLO's own units (nm)
    r = prismio.mdanalysis.HOLOReader(out, convert_units=False)
    assert np.allclose(r.ts.positions * 10, u_t.trajectory[0].positions, rtol=1e-6, atol=1e-5)
    assert np.allclose(r.ts.dimensions[:3] * 10, u_t.trajectory[0].dimensions[:3], rtol=1e-6)
    r.close()


def test_scalars_of_one_frame_do_not_stay_in_ts_data(tmp_path):
    """A frame's named scalars replace the previous frame's in ts.data."""
    path = str(tmp_path / "scalars.holo")
    with prismio.Writer(path, topology={"names": ["A", "B"]}, sync=False) as w:
        w.append(np.zeros((2, 3)), scalars={"a": 1.0})
        w.append(np.ones((2, 3)), scalars={"b": 2.0})
        w.append(np.ones((2, 3)))
    u = mda.Universe(path)
    seen = [{k: v for k, v in ts.data.items() if k in ("a", "b")} for ts in u.trajectory]
    assert seen == [{"a": 1.0}, {"b": 2.0}, {}]
    u.trajectory[1]
    u.trajectory[0]
    assert "b" not in u.trajectory.ts.data and u.trajectory.ts.data["a"] == 1.0
