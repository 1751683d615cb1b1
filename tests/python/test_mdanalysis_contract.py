"""The contract MDAnalysis keeps for its own XTC and TRR readers and writers,
kept by prismio's HOLO reader and writer.

MDAnalysis checks its formats with the base classes of its test suite
(MDAnalysisTests/coordinates/base.py: BaseReference, BaseReaderTest,
MultiframeReaderTest, BaseWriterTest). That suite is not packaged for
Debian (no python3-mdanalysis-tests), so this module checks the same
behaviours, written here against a reference trajectory of the same shape:
5 atoms, 5 frames, frame i's positions 2**i times those of frame 0, time i
ps (dt 1 ps), a triclinic box that changes from frame to frame, velocities
and forces, and two auxiliaries (one slower, one faster than the frames).
Some checks also run on MDAnalysis's own XTC reader over the same frames,
so that where the two agree is seen, not assumed.
"""
import os
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_almost_equal, assert_equal

mda = pytest.importorskip("MDAnalysis")
from MDAnalysis.coordinates.base import ReaderBase  # noqa: E402
from MDAnalysis.coordinates.timestep import Timestep  # noqa: E402
from MDAnalysis.lib.mdamath import box_volume, triclinic_vectors  # noqa: E402
from MDAnalysis.transformations import translate  # noqa: E402

import prismio  # noqa: E402
from prismio.mdanalysis import HOLOReader, HOLOWriter  # noqa: E402

warnings.filterwarnings("ignore", message=".*(xdrlib|Reader has no dt|offsets|lock).*")

N_ATOMS, N_FRAMES = 5, 5
FIRST = np.arange(3 * N_ATOMS, dtype=np.float32).reshape(N_ATOMS, 3)
DIMS = np.array([81.1, 82.2, 83.3, 75.0, 80.0, 85.0])
DIMS_STEP = np.array([1.0, 1.0, 1.0, 0.1, 0.1, 0.1])
LOWF = [1.0, 2.0, 4.0]  # at 0, 2, 4 ps
HIGHF = [2.0 ** i for i in range(10)]  # at 0, 0.5, ..., 4.5 ps
TOPOLOGY = {"names": ["N", "CA", "C", "O", "CB"], "resids": [1, 1, 1, 2, 2],
            "resnames": ["ALA", "ALA", "ALA", "GLY", "GLY"], "chains": ["A"] * 5,
            "elements": ["N", "C", "C", "O", "C"],
            "masses": [14.007, 12.011, 12.011, 15.999, 12.011]}


def positions(i):
    return FIRST * np.float32(2 ** i)  # Angstrom


def velocities(i):
    return positions(i) * np.float32(0.5) + np.float32(1)  # Angstrom/ps


def forces(i):
    return np.float32(2) - positions(i)  # kJ/(mol Angstrom)


def dimensions(i):
    return DIMS + i * DIMS_STEP


def write_reference(path, topology=True, vf="all"):
    """The reference frames in HOLO's units (nm), through prismio.Writer."""
    with prismio.Writer(path, topology=TOPOLOGY if topology else None, sync=False) as w:
        for i in range(N_FRAMES):
            has = vf == "all" or (vf == "odd" and i % 2)
            w.append(positions(i) / np.float32(10),
                     velocities=velocities(i) / np.float32(10) if has else None,
                     forces=forces(i) * np.float32(10) if has else None,
                     box=triclinic_vectors(dimensions(i).astype(np.float32)).astype(float) / 10,
                     step=10 * i, time=float(i), scalars={"energy": -1.5 * i})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("contract")
    f = {"full": str(d / "ref.holo"), "notop": str(d / "notop.holo"),
         "odd": str(d / "odd.holo"), "lowf": str(d / "lowf.xvg"), "highf": str(d / "highf.xvg"),
         "xtc": str(d / "ref.xtc"), "dir": str(d)}
    write_reference(f["full"])
    write_reference(f["notop"], topology=False, vf="none")
    write_reference(f["odd"], vf="odd")
    for name, values in (("lowf", LOWF), ("highf", HIGHF)):
        with open(f[name], "w") as out:
            out.write("# auxiliary data, one value per line\n")
            out.writelines(f"{v}\n" for v in values)
    prismio.convert(f["notop"], f["xtc"])  # the same frames for MDAnalysis's XTC reader
    return f


@pytest.fixture
def reader(files):
    r = HOLOReader(files["full"])
    r.add_auxiliary("lowf", files["lowf"], dt=2, initial_time=0, time_selector=None)
    r.add_auxiliary("highf", files["highf"], dt=0.5, initial_time=0, time_selector=None)
    yield r
    r.close()


@pytest.fixture
def transformed(files):
    r = HOLOReader(files["full"])
    r.add_transformations(translate([1, 1, 1]), translate([0, 0, 0.33]))
    yield r
    r.close()


SHIFT = np.float32([1, 1, 1]) + np.float32([0, 0, 0.33])


def check_ts(ts, i, shift=0, aux=False):
    """ts is reference frame i: frame, time, positions, velocities, forces,
    box; and the auxiliaries' values when asked."""
    assert isinstance(ts, Timestep)
    assert ts.frame == i and ts.n_atoms == N_ATOMS
    assert ts.time == pytest.approx(i)
    assert_allclose(ts.positions, positions(i) + shift, rtol=1e-6, atol=1e-5)
    assert ts.has_velocities and ts.has_forces
    assert_allclose(ts.velocities, velocities(i), rtol=1e-6, atol=1e-5)
    assert_allclose(ts.forces, forces(i), rtol=1e-6, atol=1e-4)
    assert_array_almost_equal(ts.dimensions, dimensions(i), decimal=4)
    assert ts.data["step"] == 10 * i and ts.data["energy"] == -1.5 * i
    if aux:
        lowf = LOWF[i // 2] if i % 2 == 0 else np.nan
        assert_equal(ts.aux.lowf, [lowf])
        assert_equal(ts.aux.highf, [HIGHF[2 * i]])


# ---- BaseReaderTest ---------------------------------------------------------------------

class TestReader:
    def test_n_atoms_n_frames(self, reader):
        assert reader.n_atoms == N_ATOMS and reader.n_frames == N_FRAMES == len(reader)

    def test_first_frame(self, reader):
        reader[3]
        reader.rewind()
        check_ts(reader.ts, 0, aux=True)
        assert reader.frame == 0 and reader.time == 0

    def test_double_close(self, reader):
        reader.close()
        reader.close()
        reader._reopen()
        check_ts(reader.next(), 0)

    def test_get_writer(self, reader, tmp_path):
        with reader.Writer(str(tmp_path / "w1.holo")) as w:
            assert isinstance(w, HOLOWriter) and w.n_atoms == reader.n_atoms
        with reader.Writer(str(tmp_path / "w2.holo"), n_atoms=100) as w:
            assert isinstance(w, HOLOWriter) and w.n_atoms == 100

    def test_dt_and_total_time(self, reader):
        assert reader.dt == pytest.approx(1.0)
        assert reader.ts.dt == reader.dt
        assert reader.totaltime == pytest.approx(4.0)

    def test_dimensions_and_volume(self, reader):
        reader.rewind()
        assert_array_almost_equal(reader.ts.dimensions, dimensions(0), decimal=4)
        assert reader.ts.volume == pytest.approx(box_volume(dimensions(0)), abs=1)
        reader[1]
        assert_array_almost_equal(reader.ts.dimensions, dimensions(1), decimal=4)

    def test_no_box_is_none(self, tmp_path):
        p = str(tmp_path / "nobox.holo")
        with prismio.Writer(p) as w:
            w.append(np.zeros((2, 3)))
        r = HOLOReader(p)
        assert r.ts.dimensions is None and r.ts.volume == 0
        r.close()

    def test_iter(self, reader):
        n = 0
        for i, ts in enumerate(reader):
            check_ts(ts, i, aux=True)
            n += 1
        assert n == N_FRAMES

    def test_auxiliaries(self, reader, files):
        with pytest.raises(ValueError):
            reader.add_auxiliary("lowf", files["lowf"])  # the name is taken
        assert_equal(reader.get_aux_attribute("lowf", "dt"), 2)
        steps = [step.data for step in reader.iter_auxiliary("highf")]
        assert_allclose(steps, [[v] for v in HIGHF])
        descriptions = reader.get_aux_descriptions()
        again = HOLOReader(files["full"])
        for d in descriptions:
            again.add_auxiliary(**d)
        assert sorted(again.aux_list) == sorted(reader.aux_list)
        for i, ts in enumerate(again):
            check_ts(ts, i, aux=True)
        again.close()
        reader.remove_auxiliary("lowf")
        with pytest.raises(AttributeError):
            getattr(reader._auxs, "lowf")
        with pytest.raises(AttributeError):
            getattr(reader.ts.aux, "lowf")
        with pytest.raises(ValueError):
            reader.remove_auxiliary("nonexistent")

    def test_iter_as_aux(self, reader, files):
        # faster auxiliary: every frame; slower: only frames with a value
        assert [ts.frame for ts in reader.iter_as_aux("highf")] == list(range(N_FRAMES))
        got = [ts.frame for ts in reader.iter_as_aux("lowf")]
        assert got == [0, 2, 4]
        for ts in reader.iter_as_aux("lowf"):
            check_ts(ts, ts.frame, aux=True)
        # offset by a quarter step, cutoff 0: no frame has a value
        reader.add_auxiliary("offset", files["lowf"], dt=1, time_selector=None,
                             initial_time=0.25, cutoff=0)
        assert len(list(reader.iter_as_aux("offset"))) == 0

    def test_rename_aux(self, reader):
        reader.rename_aux("lowf", "lowf_renamed")
        assert_equal(reader.ts.aux.lowf_renamed, [LOWF[0]])
        with pytest.raises(AttributeError):
            getattr(reader.ts.aux, "lowf")
        next(reader)
        assert_equal(reader.ts.aux.lowf_renamed, [np.nan])

    def test_stop_iter(self, reader):
        reader.rewind()
        for ts in reader[:-1]:
            pass
        assert reader.frame == 0

    def test_transformations_iter_twice(self, transformed):
        for _ in range(2):  # applied once per frame read, never twice
            for i, ts in enumerate(transformed):
                assert_allclose(ts.positions, positions(i) + SHIFT, rtol=1e-6, atol=1e-5)

    def test_transformations_slice_switch_rewind(self, transformed):
        for ts in transformed[2:3:1]:
            assert_allclose(ts.positions, positions(2) + SHIFT, rtol=1e-6, atol=1e-5)
        for i in (0, 1, 0, 0, 4):
            assert_allclose(transformed[i].positions, positions(i) + SHIFT, rtol=1e-6,
                            atol=1e-5)
        transformed.rewind()
        assert_allclose(transformed.ts.positions, positions(0) + SHIFT, rtol=1e-6, atol=1e-5)

    def test_transformations_copy(self, transformed):
        new = transformed.copy()
        assert new.transformations == transformed.transformations
        for i, ts in enumerate(new):
            assert_allclose(ts.positions, positions(i) + SHIFT, rtol=1e-6, atol=1e-5)
        new.close()

    def test_transformations_are_set_once(self, transformed):
        with pytest.raises(ValueError):
            transformed.add_transformations(translate([2, 2, 2]))

    def test_pickle_reader(self, reader):
        reader[2]
        back = pickle.loads(pickle.dumps(reader))
        assert len(back) == len(reader) and back.ts == reader.ts and back.ts.frame == 2
        # the pickled reader goes on from where the original was
        assert next(reader) == next(back)
        check_ts(back.ts, 3, aux=True)
        reader[-1]
        last = pickle.loads(pickle.dumps(reader))
        assert last.ts == reader.ts and last.ts.frame == N_FRAMES - 1
        back.close()
        last.close()

    def test_frames_share_one_timestep(self, reader):
        # as for XTC: the reader fills one Timestep in place
        seen = [ts.positions for ts in reader]
        for a in seen:
            assert_allclose(a, seen[0])

    @pytest.mark.parametrize("order", ["fac", "fca", "afc", "acf", "caf", "cfa"])
    def test_timeseries_shape(self, reader, order):
        x = reader.timeseries(order=order)
        assert x.shape[order.index("a")] == N_ATOMS
        assert x.shape[order.index("f")] == N_FRAMES
        assert x.shape[order.index("c")] == 3

    @pytest.mark.parametrize("sl", [(0, 2, 1), (0, 10, 2), (0, 10, 3), (None, None, -2),
                                    (4, 0, -1), (-2, None, None), (3, 3, 1)])
    def test_timeseries_values(self, files, sl):
        r = HOLOReader(files["full"])
        want = np.array([r[i].positions.copy() for i in range(N_FRAMES)[slice(*sl)]],
                        dtype=np.float32).reshape(-1, N_ATOMS, 3)
        x = r.timeseries(start=sl[0], stop=sl[1], step=sl[2], order="fac")
        assert x.dtype == np.float32 and np.array_equal(x, want)
        # and bit for bit what MDAnalysis's own loop gives (MDAnalysis 2.4's
        # loop slices with the stop -1 its check_slice_indices gives for a
        # negative step, and so reads no frame: not compared there)
        if (sl[2] or 1) > 0:
            base = ReaderBase.timeseries(r, start=sl[0], stop=sl[1], step=sl[2])
            assert np.array_equal(x, base)
        assert r.frame == 0  # left at the first frame, as MDAnalysis's loop leaves it
        r.close()

    @pytest.mark.parametrize("asel", ["index 1", "index 2", "index 1 to 3", "index 4 0 2"])
    def test_timeseries_atoms(self, reader, files, asel):
        atoms = mda.Universe(reader.filename).select_atoms(asel)
        x = reader.timeseries(atoms, order="fac")
        assert x.shape == (N_FRAMES, len(atoms), 3)
        for i in range(N_FRAMES):
            assert_allclose(x[i], positions(i)[atoms.indices], rtol=1e-6, atol=1e-5)
        # with transformations (MDAnalysis's loop): the same, shifted
        r = HOLOReader(files["full"])
        r.add_transformations(translate([1, 1, 1]))
        assert_allclose(r.timeseries(atoms), x + 1, rtol=1e-6, atol=1e-5)
        r.close()

    def test_timeseries_empty_selection(self, reader):
        atoms = mda.Universe(reader.filename).select_atoms(None)
        with pytest.raises(ValueError, match="Timeseries requires at least"):
            reader.timeseries(atoms)


# ---- MultiframeReaderTest ----------------------------------------------------------------

class TestMultiframe:
    def test_last_frame_and_jumps(self, reader):
        check_ts(reader[-1], N_FRAMES - 1, aux=True)
        check_ts(reader[3], 3, aux=True)
        with pytest.raises(IndexError):
            reader[N_FRAMES + 1]
        with pytest.raises(IndexError):
            reader[-N_FRAMES - 1]

    def test_the_same_frame_again_and_again(self, reader):
        reader.rewind()
        for _ in range(N_FRAMES + 2):  # no StopIteration (MDAnalysis issue 1942)
            check_ts(reader[0], 0)

    def test_next_gives_the_second_frame(self, files):
        r = HOLOReader(files["full"])
        check_ts(r.next(), 1)
        r.close()

    def test_reopen(self, reader):
        reader[3]
        reader.close()
        reader._reopen()
        check_ts(reader.next(), 0)

    def test_next_past_the_end(self, reader):
        reader[N_FRAMES - 2]
        check_ts(next(reader), N_FRAMES - 1)
        with pytest.raises(StopIteration):
            next(reader)
        assert reader.frame == 0  # rewound, as every MDAnalysis reader is
        check_ts(next(reader), 1)

    @pytest.mark.parametrize("accessor", [lambda r: r[[0, 1, 2]], lambda r: r[:3], lambda r: r],
                             ids=["indexed", "sliced", "all"])
    def test_iteration_rewinds(self, reader, accessor):
        for ts in accessor(reader):
            pass
        assert ts.frame == 0


# ---- indexing and slicing (MDAnalysis's FrameIterators over our reader) ---------------------

SLICES = [slice(None), slice(None, None, 2), slice(1, None, 2), slice(None, None, -1),
          slice(4, 1, -1), slice(-2, None), slice(10, None), slice(None, -10), slice(3, 3),
          slice(None, None, -3), slice(-1, -4, -2)]
FANCY = [[4, 0, 2], [0, 0, 1], [-1, -5], np.array([3, 1]), np.array([True, False] * 2 + [True]),
         [False, True, True, False, False], np.array([], dtype=int)]


class TestIndexing:
    @pytest.mark.parametrize("sl", SLICES, ids=str)
    def test_slices(self, reader, sl):
        want = list(range(N_FRAMES))[sl]
        it = reader[sl]
        assert len(it) == len(want)
        assert [ts.frame for ts in it] == want
        for ts in reader[sl]:
            check_ts(ts, ts.frame)

    @pytest.mark.parametrize("sel", FANCY, ids=lambda s: repr(list(s)))
    def test_fancy_indexing(self, reader, sel):
        a = np.asarray(sel)
        want = list(np.arange(N_FRAMES)[a]) if a.dtype == bool else \
            [int(i) % N_FRAMES for i in a]
        assert [ts.frame for ts in reader[sel]] == want

    def test_slices_of_slices(self, reader):
        assert [ts.frame for ts in reader[::2][1:]] == [2, 4]
        assert [ts.frame for ts in reader[1:][[0, -1]]] == [1, 4]
        assert reader[::-1][0].frame == 4

    def test_bad_indices(self, reader):
        with pytest.raises(IndexError):
            list(reader[[0, 5]])
        with pytest.raises(IndexError):
            list(reader[np.array([True, False])])  # a mask of another length
        with pytest.raises(TypeError):
            reader[1.5]
        with pytest.raises(TypeError):
            reader["1"]
        with pytest.raises(ValueError):
            reader[::0]

    @pytest.mark.parametrize("index", [slice(None, None, 2), slice(None, None, -1), [4, 0, 2],
                                       np.array([False, True, True, False, True])], ids=str)
    def test_the_same_frames_as_xtc(self, files, index):
        """MDAnalysis's own XTC reader, over the same frames, picks the same."""
        holo, xtc = mda.Universe(files["notop"]), mda.Universe(files["xtc"])
        got = [(ts.frame, ts.time) for ts in holo.trajectory[index]]
        assert got == [(ts.frame, ts.time) for ts in xtc.trajectory[index]]
        for a, b in zip(holo.trajectory[index], [ts.positions.copy() for ts in
                                                 xtc.trajectory[index]]):
            assert_allclose(a.positions, b, atol=0.011)  # XTC keeps 0.001 nm


# ---- reopening, copies, pickles, Universes -----------------------------------------------

class TestLifecycle:
    def test_use_after_close_reopens(self, files):
        u = mda.Universe(files["full"])
        u.trajectory[2]
        u.trajectory.close()
        check_ts(u.trajectory[3], 3)  # no "the trajectory is closed"
        u.trajectory.close()
        assert [ts.frame for ts in u.trajectory] == list(range(N_FRAMES))
        u.trajectory.close()
        assert u.trajectory.n_frames == N_FRAMES and len(u.trajectory) == N_FRAMES
        u.trajectory.close()
        check_ts(next(u.trajectory), 1)
        u.trajectory.close()
        assert u.trajectory.timeseries().shape == (N_FRAMES, N_ATOMS, 3)
        u.trajectory.close()
        assert u.trajectory.dt == pytest.approx(1.0)

    def test_copy_is_independent(self, files):
        # (MDAnalysis's XVG auxiliary readers cannot be copied: none here)
        reader = HOLOReader(files["full"])
        reader[2]
        reader.ts.data["mine"] = 1  # a modified Timestep is copied as it is
        c = reader.copy()
        assert c.ts == reader.ts and c.ts.frame == 2 and c.ts.data["mine"] == 1
        c[4]
        assert reader.ts.frame == 2 and c.ts.frame == 4
        check_ts(reader.ts, 2)
        check_ts(c.ts, 4)
        assert c._kwargs == reader._kwargs and c.filename == reader.filename
        reader.close()
        check_ts(c[1], 1)
        c.close()
        checked = HOLOReader(files["full"], check=True, convert_units=False)
        assert checked.copy()._kwargs["check"] and not checked.copy().convert_units

    def test_pickle_universe(self, files):
        u = mda.Universe(files["full"])
        u.trajectory[3]
        u2 = pickle.loads(pickle.dumps(u))
        assert u2.atoms.n_atoms == N_ATOMS and list(u2.atoms.names) == list(u.atoms.names)
        assert u2.trajectory.ts.frame == 3 and u2.trajectory.ts == u.trajectory.ts
        check_ts(u2.trajectory[4], 4)
        # a Universe with a transformation pickles too
        u.trajectory.add_transformations(translate([1, 2, 3]))
        u3 = pickle.loads(pickle.dumps(u))
        assert_allclose(u3.trajectory[0].positions, positions(0) + np.float32([1, 2, 3]))

    def test_universe_from_a_file_without_topology(self, files):
        """As Universe("traj.xtc"): N atoms in one residue and one segment."""
        u, x = mda.Universe(files["notop"]), mda.Universe(files["xtc"])
        for v in (u, x):
            assert v.atoms.n_atoms == N_ATOMS
        assert u.residues.n_residues == x.residues.n_residues == 1
        assert u.segments.n_segments == x.segments.n_segments == 1
        assert u.trajectory.n_frames == x.trajectory.n_frames == N_FRAMES
        assert not u.trajectory.ts.has_velocities
        assert HOLOReader.parse_n_atoms(files["notop"]) == N_ATOMS

    def test_universe_from_a_file_with_topology(self, files):
        u = mda.Universe(files["full"])
        assert list(u.atoms.names) == TOPOLOGY["names"]
        assert list(u.residues.resnames) == ["ALA", "GLY"] and list(u.residues.resids) == [1, 2]
        assert u.select_atoms("name CA").n_atoms == 1

    def test_velocities_follow_each_frame(self, files):
        """Frames without velocities and forces say so (has_velocities False),
        as MDAnalysis's TRR reader does, instead of keeping the last ones."""
        r = HOLOReader(files["odd"])
        for ts in r:
            assert ts.has_velocities == ts.has_forces == bool(ts.frame % 2)
            if ts.has_velocities:
                assert_allclose(ts.velocities, velocities(ts.frame), rtol=1e-6, atol=1e-5)
        r[3]
        r[0]
        assert not r.ts.has_velocities
        r.close()

    def test_checked_reads(self, files, tmp_path):
        data = bytearray(open(files["full"], "rb").read())
        k = data.find((positions(3) / np.float32(10)).tobytes())
        assert k > 0
        data[k + 5] ^= 0x40
        p = str(tmp_path / "damaged.holo")
        open(p, "wb").write(bytes(data))
        r = HOLOReader(p, check=True)
        check_ts(r[2], 2)
        with pytest.raises(prismio.ChecksumError):
            r[3]
        r.close()
        u = mda.Universe(p)  # unchecked (the default): a view of the bytes as they are
        u.trajectory[3]


# ---- BaseWriterTest -----------------------------------------------------------------------

class TestWriter:
    def check_copy(self, path, source):
        copy_ = HOLOReader(path)
        assert copy_.n_frames == source.n_frames
        for a, b in zip(source, copy_):
            assert a.frame == b.frame and a.time == pytest.approx(b.time)
            assert_allclose(b.positions, a.positions, rtol=1e-6, atol=1e-5)
            assert b.has_velocities == a.has_velocities and b.has_forces == a.has_forces
            if a.has_velocities:
                assert_allclose(b.velocities, a.velocities, rtol=1e-6, atol=1e-5)
                assert_allclose(b.forces, a.forces, rtol=1e-6, atol=1e-4)
            assert_array_almost_equal(b.dimensions, a.dimensions, decimal=4)
            assert b.data["step"] == a.data["step"] and b.data["energy"] == a.data["energy"]
        copy_.close()

    @pytest.mark.parametrize("what", ["atoms", "universe"])
    def test_write_trajectory(self, files, tmp_path, what):
        u = mda.Universe(files["full"])
        out = str(tmp_path / f"{what}.holo")
        with HOLOWriter(out, u.atoms.n_atoms) as w:
            for ts in u.trajectory:
                w.write(u.atoms if what == "atoms" else u)
        self.check_copy(out, HOLOReader(files["full"]))
        assert prismio.open(out).verify()

    def test_write_selection(self, files, tmp_path):
        u = mda.Universe(files["full"])
        sel = u.select_atoms("resid 1")
        out = str(tmp_path / "sel.holo")
        with mda.Writer(out, sel.n_atoms) as w:
            for ts in u.trajectory:
                w.write(sel.atoms)
        c = mda.Universe(out)
        assert list(c.atoms.names) == ["N", "CA", "C"]
        for ts_o, ts_c in zip(u.trajectory, c.trajectory):
            assert_allclose(ts_c._pos, sel.positions, rtol=1e-6, atol=1e-5)

    def test_write_different_box(self, files, tmp_path):
        u = mda.Universe(files["full"])
        out = str(tmp_path / "box.holo")
        with HOLOWriter(out, u.atoms.n_atoms) as w:
            for ts in u.trajectory:
                u.dimensions[:3] += 1
                w.write(u)
        written = HOLOReader(out)
        for ts_o, ts_w in zip(u.trajectory, written):
            u.dimensions[:3] += 1
            assert_array_almost_equal(u.dimensions, ts_w.dimensions, decimal=4)
        written.close()

    def test_write_none_or_a_timestep(self, tmp_path, files):
        with pytest.raises(TypeError):
            with HOLOWriter(str(tmp_path / "none.holo"), 42) as w:
                w.write(None)
        u = mda.Universe(files["full"])
        with pytest.raises(TypeError):
            with HOLOWriter(str(tmp_path / "ts.holo"), N_ATOMS) as w:
                w.write(u.trajectory.ts)

    def test_n_atoms_is_required(self, tmp_path):
        with pytest.raises(TypeError):
            HOLOWriter(str(tmp_path / "foo.holo"))
        assert not os.path.exists(tmp_path / "foo.holo")

    def test_writing_does_not_change_the_timestep(self, files, tmp_path):
        u = mda.Universe(files["full"])
        before = u.trajectory.ts.copy()
        with HOLOWriter(str(tmp_path / "same.holo"), n_atoms=N_ATOMS) as w:
            w.write(u)
            assert u.trajectory.ts == before
            assert_equal(u.trajectory.ts.positions, before.positions)

    def test_n_atoms_mismatch(self, files, tmp_path):
        u = mda.Universe(files["full"])
        with HOLOWriter(str(tmp_path / "mismatch.holo"), N_ATOMS + 1) as w:
            with pytest.raises(ValueError, match="atoms"):
                w.write(u)
            with pytest.raises(ValueError):
                w.write(u.atoms[:2])
        w = HOLOWriter(str(tmp_path / "first.holo"), None)  # None: the first frame's count
        w.write(u.atoms[:2])
        assert w.n_atoms == 2
        with pytest.raises(ValueError):
            w.write(u)
        w.close()

    def test_context_manager_and_close(self, files, tmp_path):
        u = mda.Universe(files["full"])
        out = str(tmp_path / "ctx.holo")
        with mda.Writer(out, n_atoms=N_ATOMS) as w:
            assert isinstance(w, HOLOWriter)
            w.write(u)
        with pytest.raises(ValueError, match="closed"):
            w.write(u)
        w.close()  # again: nothing
        with prismio.open(out) as t:
            assert len(t) == 1 and t.verify()
        # an existing file is replaced, as MDAnalysis's writers do
        with mda.Writer(out, n_atoms=N_ATOMS) as w:
            for ts in u.trajectory[:3]:
                w.write(u)
        assert HOLOReader(out).n_frames == 3

    def test_a_universe_with_few_attributes(self, tmp_path):
        """Universes without names, resids, resnames, masses (MDAnalysisTests'
        make_Universe) are written too."""
        u = mda.Universe.empty(4, trajectory=True)
        u.atoms.positions = np.arange(12, dtype=np.float32).reshape(4, 3)
        out = str(tmp_path / "empty.holo")
        with HOLOWriter(out, 4) as w:
            w.write(u)
        r = HOLOReader(out)
        assert_allclose(r.ts.positions, u.atoms.positions, rtol=1e-6)
        assert r.ts.dimensions is None
        r.close()
        for attrs in (["names", "resids"], ["names", "resnames"], ["resids", "resnames"]):
            v = mda.Universe.empty(4, n_residues=2, atom_resindex=[0, 0, 1, 1], trajectory=True)
            for a in attrs:
                v.add_TopologyAttr(a)
            v.atoms.positions = np.ones((4, 3), dtype=np.float32)
            with HOLOWriter(str(tmp_path / f"{attrs[0]}{attrs[1]}.holo"), 4) as w:
                w.write(v)

    def test_other_writer_and_units(self, files, tmp_path):
        u = mda.Universe(files["full"])
        out = str(tmp_path / "other.holo")
        with u.trajectory.OtherWriter(out) as w:  # start and dt keywords are accepted
            assert isinstance(w, HOLOWriter) and w.n_atoms == N_ATOMS
            w.write(u)
        raw = str(tmp_path / "raw.holo")
        with HOLOWriter(raw, N_ATOMS, convert_units=False) as w:
            w.write(u)
        with prismio.open(out) as a, prismio.open(raw) as b:
            assert_allclose(a[0].positions, positions(0) / 10, rtol=1e-6, atol=1e-6)
            assert_allclose(b[0].positions, positions(0), rtol=1e-6)
        r = HOLOReader(raw, convert_units=False)
        assert_allclose(r.ts.positions, positions(0), rtol=1e-6)
        r.close()
