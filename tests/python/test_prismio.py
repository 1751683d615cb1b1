"""The Python package against the C library: values, zero copy, safe close."""
import gc
import os
import subprocess
import sys

import numpy as np
import pytest

PRISMIO = os.environ["PRISMIO_CLI"]
DATA = os.environ["PRISMIO_TEST_DATA"]

import prismio  # noqa: E402


@pytest.fixture(scope="module")
def peptide(tmp_path_factory):
    """peptide.xtc (GROMACS) with its PDB topology, converted by the CLI."""
    out = tmp_path_factory.mktemp("holo") / "peptide.holo"
    subprocess.run([PRISMIO, "convert", os.path.join(DATA, "peptide.xtc"), str(out), "--top",
                    os.path.join(DATA, "peptide.pdb"), "--quiet"], check=True)
    return str(out)


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    out = tmp_path_factory.mktemp("holo") / "gen.holo"
    subprocess.run([PRISMIO, "gen", str(out), "--atoms", "300", "--frames", "12", "--fields",
                    "x,v,f", "--seed", "5"], check=True, capture_output=True)
    return str(out)


def dump(path, i):
    out = subprocess.run([PRISMIO, "dump", path, "--frame", str(i), "--format", "csv"],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    return np.array([[float(v) for v in line.split(",")[1:]] for line in out[1:]],
                    dtype=np.float32)


def test_values_equal_the_c_api(gen):
    with prismio.open(gen) as t:
        assert len(t) == 12
        for i in (0, 5, 11, -1):
            f = t[i]
            ref = dump(gen, i % 12)
            assert f.positions.shape == (300, 3) and f.positions.dtype == np.float32
            assert np.array_equal(f.positions, ref[:, 0:3])
            assert np.array_equal(f.velocities, ref[:, 3:6])
            assert np.array_equal(f.forces, ref[:, 6:9])
            assert f.box.shape == (3, 3) and f.step == (i % 12) * 100
            assert set(f.scalars) >= {"potential", "kinetic"}
            del f


def test_against_mdanalysis_reading_the_xtc(peptide):
    mda = pytest.importorskip("MDAnalysis")
    import warnings
    warnings.filterwarnings("ignore")
    u = mda.Universe(os.path.join(DATA, "peptide.pdb"), os.path.join(DATA, "peptide.xtc"))
    with prismio.open(peptide) as t:
        assert len(t) == u.trajectory.n_frames == 201
        for ts in u.trajectory[::50]:
            f = t[ts.frame]
            assert np.array_equal(f.positions * np.float32(10), ts.positions)
            assert f.time == pytest.approx(ts.time)
            del f
        top = t.topology
        assert top["natoms"] == 711
        assert list(top["names"][:3]) == [b"N", b"H1", b"H2"]
        assert set(top["chains"]) == {b"A", b"B"}


def test_zero_copy(gen):
    t = prismio.open(gen)
    a, b = t[3].positions, t[3].positions
    # two views of the same frame: the same bytes of the mapping, no copy
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    assert not a.flags.writeable and not a.flags.owndata
    assert a.__array_interface__["data"][0] % 64 == 0  # aligned in the file
    with pytest.raises(ValueError):
        a[0, 0] = 1.0
    del a, b
    gc.collect()
    t.close()


def test_frames_index_slice_iterate(gen):
    """Indexing, slicing and iteration (C types) give the frames the C
    API gives, with the Python rules for negative indices and steps."""
    with prismio.open(gen) as t:
        frames = list(t)
        assert [f.index for f in frames] == list(range(12))
        assert [f.step for f in frames] == [i * 100 for i in range(12)]
        assert t[-1].index == 11 and t[np.int64(2)].index == 2
        assert [f.index for f in t[10:2:-3]] == [10, 7, 4]
        assert t[5:5] == []
        with pytest.raises(IndexError):
            t[12]
        with pytest.raises(IndexError):
            t[-13]
        with pytest.raises(TypeError):
            t["0"]
        assert isinstance(frames[0], prismio.Frame)
        assert repr(frames[1]).startswith("<prismio.Frame 1: 300 atoms, step 100")
        for f in frames:  # every array of every frame, through the iterator
            ref = dump(gen, f.index)
            assert np.array_equal(np.hstack([f.positions, f.velocities, f.forces]), ref)
        it = iter(t)
        next(it)
        del frames, f
    with pytest.raises(ValueError):  # the trajectory closed under the iterator
        next(it)


def test_arrays_outlive_their_frame(gen):
    """An array keeps its Frame (its base) and so the mapping alive."""
    t = prismio.open(gen)
    f = t[7]
    x = f.positions
    assert isinstance(x.base, prismio.Frame) and x.base is f
    ref = x.copy()
    del f
    gc.collect()
    assert t.live_arrays == 1
    t.close(defer=True)
    assert np.array_equal(x, ref)
    del x
    gc.collect()
    assert t.live_arrays == 0 and t.closed


def test_close_with_live_arrays_raises(gen):
    t = prismio.open(gen)
    x = t[0].positions
    assert t.live_arrays >= 1
    with pytest.raises(BufferError):
        t.close()
    assert float(x.sum()) != 0.0  # still mapped and readable
    keep = x.copy()
    del x
    gc.collect()
    assert t.live_arrays == 0
    t.close()
    assert t.closed
    with pytest.raises(ValueError):
        len(t)
    assert keep.shape == (300, 3)


def test_deferred_close_keeps_arrays_valid(gen):
    with prismio.open(gen) as t:
        x = t[2].positions
        ref = x.copy()
    assert t.closed  # closed at once ...
    with pytest.raises(ValueError):
        t[0]
    assert np.array_equal(x, ref)  # ... the mapping lives while x does
    del x
    gc.collect()
    assert t.live_arrays == 0


def test_lazy_frame_holds_the_mapping(gen):
    """A Frame makes its arrays on first use, yet holds the mapping from the
    start: arrays first touched after the with-block are still valid, and
    close() refuses while a Frame lives."""
    with prismio.open(gen) as t:
        f = t[4]
        ref = dump(gen, 4)
        assert t.live_arrays == 1  # the Frame: its arrays are not made yet
    assert t.closed
    assert np.array_equal(f.forces, ref[:, 6:9])  # first touched after the close
    assert np.array_equal(f.positions, ref[:, 0:3])
    assert f.box.shape == (3, 3)
    del f
    gc.collect()
    assert t.live_arrays == 0
    t2 = prismio.open(gen)
    g = t2[1]
    with pytest.raises(BufferError):
        t2.close()
    del g
    gc.collect()
    t2.close()


def test_slicing_iteration_metadata_verify(gen):
    with prismio.open(gen) as t:
        assert [f.index for f in t[2:9:3]] == [2, 5, 8]
        assert sum(1 for _ in t) == 12
        assert t.metadata["creator"] == "prismio gen"
        assert t.verify() is True
        with pytest.raises(IndexError):
            t[12]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        prismio.open(str(tmp_path / "missing.holo"))
    bad = tmp_path / "bad.holo"
    bad.write_bytes(b"not a holo file at all" * 10)
    with pytest.raises(OSError) as e:
        prismio.open(str(bad))
    assert "bad.holo" in str(e.value)


def test_damage_is_found(gen, tmp_path):
    data = bytearray(open(gen, "rb").read())
    data[20000] ^= 1
    damaged = tmp_path / "damaged.holo"
    damaged.write_bytes(bytes(data))
    with prismio.open(str(damaged)) as t:
        with pytest.raises(OSError) as e:
            t.verify()
        assert "damaged.holo" in str(e.value) and "checksum" in str(e.value)


def test_info_find_and_one_frame_checks(gen, tmp_path):
    with prismio.open(gen) as t:
        info = t.info()
        assert info["nframes"] == 12 and info["min_natoms"] == info["max_natoms"] == 300
        assert not info["recovered"] and info["version"] == (2, 0)
        assert info["data_end"] == info["file_size"] == os.path.getsize(gen)
        assert (info["step_first"], info["step_last"], info["steps_sorted"]) == (0, 1100, True)
        assert info["time_first"] == t[0].time and info["time_last"] == t[11].time
        assert t.find_step(700) == 7 and t.find_step(0) == 0
        with pytest.raises(KeyError):
            t.find_step(701)
        t3, t4 = t[3].time, t[4].time
        assert t.find_time(t3) == 3 and t.find_time(t3 + 0.4 * (t4 - t3)) == 3
        assert t.find_time(t3 + 0.6 * (t4 - t3)) == 4 and t.find_time(-1e9) == 0
        assert t.find_time(1e9) == 11
        with pytest.raises(ValueError):
            t.find_time(float("nan"))
        assert all(t.verify(frame=i) for i in range(12))
        pos5 = t[5].positions.tobytes()
    data = bytearray(open(gen, "rb").read())
    off = data.find(pos5)
    assert off > 0 and data.find(pos5, off + 1) < 0
    data[off + 100] ^= 1  # one bit of frame 5's positions
    damaged = tmp_path / "frame5.holo"
    damaged.write_bytes(bytes(data))
    with prismio.open(damaged) as t:
        assert t.verify(frame=4) and t.verify(frame=-1)
        with pytest.raises(OSError, match="frame 5"):
            t.verify(frame=5)
        with pytest.raises(IndexError):
            t.verify(frame=12)
    # a torn tail (no footer): recovered in memory, and info() says so
    torn = tmp_path / "torn.holo"
    torn.write_bytes(open(gen, "rb").read()[:-5000])
    with prismio.open(torn) as t:
        info = t.info()
        assert info["recovered"] and 0 < info["nframes"] < 12 == len(t) + 12 - info["nframes"]
        assert info["data_end"] < info["file_size"] == os.path.getsize(torn)


def test_writer_round_trip(tmp_path):
    path = str(tmp_path / "w.holo")
    rng = np.random.default_rng(7)
    frames = [rng.random((50, 3)) for _ in range(6)]
    top = {"names": ["OW", "HW1", "HW2"] * 16 + ["NA", "CL"], "resids": np.arange(50) // 3 + 1}
    with prismio.Writer(path, topology=top, metadata={"creator": "pytest"}, sync=False) as w:
        for k, x in enumerate(frames):
            w.append(x, velocities=x * 2 if k % 2 else None,
                     box=np.diag([3.0, 3.0, 3.0]) if k else None, step=k * 5, time=k * 0.5,
                     scalars={"energy": -k * 1.5})
        assert w.nframes == 6
    with prismio.open(path) as t:
        assert len(t) == 6 and t.metadata["creator"] == "pytest" and t.verify()
        assert list(t.topology["names"][:4]) == [b"OW", b"HW1", b"HW2", b"OW"]
        for k, x in enumerate(frames):
            f = t[k]
            assert np.array_equal(f.positions, x.astype(np.float32))
            assert (f.velocities is not None) == bool(k % 2)
            assert f.step == k * 5 and f.time == k * 0.5 and f.scalars["energy"] == -k * 1.5
            assert (f.box is None) == (k == 0)
            del f
    # the CLI's verify agrees
    subprocess.run([PRISMIO, "verify", path], check=True, capture_output=True)
    with pytest.raises(ValueError):
        with prismio.Writer(str(tmp_path / "bad.holo")) as w:
            w.append(np.zeros((5, 2)))
    with pytest.raises(OSError):
        prismio.Writer(path)  # exists


def test_convert_helper(tmp_path):
    """prismio.convert runs the C converters in this process: the same
    frames as the CLI's conversion, selections, drops, topology, and the
    CLI's refusals."""
    xtc = os.path.join(DATA, "peptide.xtc")
    holo, cli_holo = tmp_path / "p.holo", tmp_path / "cli.holo"
    r = prismio.convert(xtc, holo, frames="::10", atoms="0-99",
                        topology=os.path.join(DATA, "peptide.pdb"))
    assert r["frames"] == 21 and r["bytes_out"] == 21 * 100 * 12 and r["seconds"] >= 0
    subprocess.run([PRISMIO, "convert", xtc, str(cli_holo), "--frames", "::10", "--atoms",
                    "0-99", "--quiet"], check=True)
    with prismio.open(holo) as t, prismio.open(cli_holo) as c:
        assert len(t) == len(c) == 21 and t.verify()
        assert list(t.topology["names"][:3]) == [b"N", b"H1", b"H2"]
        for i in (0, 7, 20):
            assert np.array_equal(t[i].positions, c[i].positions)
            assert t[i].time == c[i].time and np.array_equal(t[i].box, c[i].box)
    back = tmp_path / "p.xtc"  # and out to another format
    assert prismio.convert(holo, back)["frames"] == 21
    assert prismio.convert(back, tmp_path / "again.holo")["frames"] == 21

    trr = tmp_path / "w.holo"  # water.trr has velocities and forces
    prismio.convert(os.path.join(DATA, "water.trr"), trr, drop=("velocities", "box"))
    with prismio.open(trr) as t:
        assert t[0].velocities is None and t[0].forces is not None and t[0].box is None

    with pytest.raises(OSError, match="exists"):  # a HOLO output is not replaced...
        prismio.convert(xtc, holo)
    with prismio.open(holo) as t:
        assert len(t) == 21  # ...and is intact
    assert prismio.convert(xtc, holo, overwrite=True)["frames"] == 201
    with pytest.raises(FileNotFoundError):
        prismio.convert(tmp_path / "missing.xtc", tmp_path / "x.holo")
    with pytest.raises(ValueError, match="same file"):
        prismio.convert(holo, holo)
    with pytest.raises(ValueError):
        prismio.convert(xtc, tmp_path / "d.holo", drop="positions")
    with pytest.raises(ValueError):
        prismio.convert(xtc, tmp_path / "s.holo", atoms="name")
    # a truncated last frame is skipped with a warning, the rest converted
    cut = tmp_path / "cut.xtc"
    cut.write_bytes(open(xtc, "rb").read()[:-100])
    with pytest.warns(RuntimeWarning):
        assert prismio.convert(cut, tmp_path / "cut.holo")["frames"] == 200


@pytest.mark.parametrize("engine", ["auto", "mmap", "pread", "uring"])
def test_bulk_read_through_the_pipeline(gen, engine):
    # the engine is the trajectory's, chosen at open (read() never opens the
    # file again by its path): read(engine=) names it or "auto"
    with prismio.open(gen, engine=engine) as t:
        every = t.read(engine=engine)
        assert every.shape == (12, 300, 3) and every.dtype == np.float32
        for i in (0, 7, 11):
            assert np.array_equal(every[i], t[i].positions)
        atoms = [0, 1, 2, 10, 299]
        part = t.read(frames=slice(1, 12, 5), atoms=atoms, engine=engine)
        assert part.shape == (3, 5, 3)
        for k, i in enumerate((1, 6, 11)):
            assert np.array_equal(part[k], t[i].positions[atoms])
        listed = t.read(frames=[11, 0, -1], atoms=[5])
        assert np.array_equal(listed[:, 0], np.stack([t[i].positions[5] for i in (11, 0, 11)]))
        with pytest.raises(ValueError):
            t.read(atoms=[300])
        with pytest.raises(ValueError):
            t.read(engine="floppy")


def test_blocks_view_many_frames(gen, tmp_path):
    """blocks(): (k, natoms, 3) views of the mapping spanning frames, the
    same values as the frames', ending where the spacing, the atom count or
    the fields change."""
    with prismio.open(gen) as t:
        for field in ("positions", "velocities", "forces"):
            got = list(t.blocks(size=5, field=field))
            assert [len(b) for b in got] == [5, 5, 2]
            for k, b in enumerate(got):
                assert b.shape[1:] == (300, 3) and not b.flags.writeable
                assert b.base is not None and isinstance(b.base, prismio.Frame)
                first = getattr(t[5 * k], field)  # no copy: the first frame's bytes
                assert b.__array_interface__["data"][0] == first.__array_interface__["data"][0]
                assert b.strides[1:] == (12, 4) and b.strides[0] > 300 * 12
                for j in range(len(b)):
                    assert np.array_equal(b[j], getattr(t[5 * k + j], field))
            del got, b, first
        assert [len(b) for b in t.blocks(frames=slice(3, 11))] == [8]
        assert list(t.blocks(frames=slice(4, 4))) == []
        assert np.array_equal(np.concatenate(list(t.blocks(size=1))), t.read())
        for bad in ({"size": 0}, {"field": "box"}, {"frames": slice(0, 10, 2)}):
            with pytest.raises(ValueError):
                next(t.blocks(**bad))
        held = next(t.blocks())
        gc.collect()
        with pytest.raises(BufferError):  # a live block is a live view
            t.close()
        ref = held.copy()
    assert np.array_equal(held, ref)  # the with block deferred the unmap
    del held
    gc.collect()

    path = str(tmp_path / "mixed.holo")
    rng = np.random.default_rng(3)
    xs = [rng.random((n, 3)).astype(np.float32) for n in (4, 4, 4, 4, 4, 6, 6, 6, 6)]
    with prismio.Writer(path, sync=False) as w:
        for k, x in enumerate(xs):
            w.append(x, velocities=x + 1 if k in (5, 6, 7) else None, step=k)
            if k == 2:
                w.commit()  # an INDEX record lies between frames 2 and 3
    with prismio.open(path) as t:
        # positions: the commit splits 0-2 from 3-4, natoms 3-4 from 5-8
        # (frame 8 lacks velocities, but lies at the spacing of 5-7)
        blocks = list(t.blocks(size=100))
        assert [len(b) for b in blocks] == [3, 2, 4]
        assert np.array_equal(np.concatenate([b.reshape(-1, 3) for b in blocks]),
                              np.concatenate(xs))
        with pytest.raises(ValueError, match="frame 0 has no velocities"):
            next(t.blocks(field="velocities"))
        v = list(t.blocks(field="velocities", frames=slice(5, 8)))
        assert [len(b) for b in v] == [3] and np.array_equal(v[0], np.stack(xs[5:8]) + 1)
        with pytest.raises(ValueError, match="frame 8 has no velocities"):
            list(t.blocks(field="velocities", frames=slice(5, 9)))
        del blocks, v


def test_blocks_of_large_and_packed_frames(tmp_path):
    """A strided block of large frames spans at most 8 MiB of the file (the
    pages far behind reading in order are given back: a longer view would
    be read twice); packed small frames (HOLO 2.2) are blocks of their
    record's frames, views of it, equal to the frames."""
    big = str(tmp_path / "big.holo")
    subprocess.run([PRISMIO, "gen", big, "--atoms", "200000", "--frames", "9", "--seed", "2"],
                   check=True, capture_output=True)
    with prismio.open(big) as t:
        blocks = list(t.blocks())
        assert [len(b) for b in blocks] == [3, 3, 3]
        assert all(b.strides[0] * len(b) <= 8 << 20 for b in blocks)
        assert np.array_equal(np.concatenate(blocks), t.read())
        del blocks
    small = str(tmp_path / "packed.holo")
    subprocess.run([PRISMIO, "gen", small, "--atoms", "10", "--frames", "100", "--seed", "3",
                    "--keyframe", "16"], check=True, capture_output=True)
    with prismio.open(small) as t:
        blocks = list(t.blocks())
        assert [len(b) for b in blocks] == [16] * 6 + [4]
        assert blocks[0].strides == (120, 12, 4)
        assert np.array_equal(np.concatenate(blocks), t.read())
        assert np.array_equal(blocks[2][5], t[37].positions)
        del blocks


def test_close_while_another_thread_verifies(tmp_path):
    """verify() runs without the GIL: a close() from another thread meanwhile
    raises (or, deferred, waits for the check) instead of unmapping the file
    under it."""
    import threading
    path = str(tmp_path / "big.holo")
    subprocess.run([PRISMIO, "gen", path, "--atoms", "20000", "--frames", "400"], check=True,
                   capture_output=True)  # 96 MB: a check of tens of ms at least
    t = prismio.open(path)
    result = []
    # on a loaded machine this thread may not run during a check: try again
    # (the page cache is warm after the first, so a check is short)
    for _ in range(20):
        th = threading.Thread(target=lambda: result.append(t.verify()))
        th.start()
        seen = False
        while th.is_alive() and not seen:
            seen = t.live_arrays == 1  # the running check counts as a live export
        if seen:
            break
        th.join()
    assert seen, "verify() finished before it was seen running, 20 times"
    with pytest.raises(BufferError, match="running checks"):
        t.close()
    t.close(defer=True)
    th.join()
    assert result and all(r is True for r in result) and t.closed and t.live_arrays == 0
    with pytest.raises(ValueError):
        t.verify()
    with pytest.raises(ValueError, match="opened once already"):
        prismio.open(path).__init__(path)


def test_writer_used_from_two_threads(tmp_path):
    """append() runs without the GIL: another thread's append, commit or
    close meanwhile is refused with RuntimeError instead of running on the
    same writer at once (a close would free it under the append). Whatever
    the interleaving, the file verifies and holds every frame whose append
    returned."""
    import threading
    path = str(tmp_path / "threads.holo")
    x = np.random.default_rng(1).random((500_000, 3)).astype(np.float32)
    w = prismio.Writer(path, sync=False)
    appended = {"big": 0, "small": 0}

    def appender():
        try:
            for k in range(8):
                w.append(x, step=k)
                appended["big"] += 1
        except ValueError:  # closed by the main thread between two appends
            pass

    th = threading.Thread(target=appender)
    th.start()
    refused, closed = 0, False
    while th.is_alive() and not closed:
        for name in ("commit", "append", "close"):
            try:
                if name == "commit":
                    w.commit()
                elif name == "append":
                    w.append(x[:10], step=-1)
                    appended["small"] += 1
                else:
                    w.close()
                    closed = True
                    break
            except RuntimeError as e:
                assert "in use by another thread" in str(e)
                refused += 1
    th.join()
    w.close()
    assert refused > 0
    with prismio.open(path) as t:
        assert t.verify()
        sizes = [f.natoms for f in t]
    assert sizes.count(500_000) == appended["big"] and sizes.count(10) == appended["small"]
    assert len(sizes) == appended["big"] + appended["small"]


def test_pickling_for_other_processes(gen):
    """A Trajectory pickles as its path: a process pool's workers map the
    file themselves."""
    import pickle
    from concurrent.futures import ProcessPoolExecutor
    with prismio.open(gen) as t:
        t2 = pickle.loads(pickle.dumps(t))
        assert t2.path == t.path == gen and len(t2) == 12
        assert np.array_equal(t2[7].positions, t[7].positions)
        expected = [float(t[i].positions.astype(np.float64).sum()) for i in range(12)]
        with ProcessPoolExecutor(2) as pool:
            got = list(pool.map(_frame_sum, [t] * 12, range(12)))
        assert got == expected
        t2.close()
    with pytest.raises(ValueError):
        pickle.dumps(t)


def _frame_sum(traj, i):
    return float(traj[i].positions.astype(np.float64).sum())


def test_hardening_writer_refuses_lossy_input(tmp_path):
    """Issue 20: names that would be cut and bonds of the wrong shape raise
    instead of being stored wrong; messages give the index the caller gave."""
    p = str(tmp_path / "h.holo")
    with prismio.Writer(p) as w:
        with pytest.raises(ValueError, match="scalar name"):
            w.append(np.zeros((3, 3)), scalars={"a" * 100: 1.0, "a" * 30: 2.0})
        with pytest.raises(ValueError, match="scalar name"):
            w.append(np.zeros((3, 3)), scalars={"": 1.0})
        w.append(np.zeros((3, 3)), scalars={"a" * 23: 2.0})
    t = prismio.open(p)
    assert len(t) == 1 and t[0].scalars == {"a" * 23: 2.0}
    with pytest.raises(IndexError, match="frame -9 out of range"):
        t[-9]
    with pytest.raises(IndexError, match="frame -100 out of range"):
        t.read(frames=[-100])
    t.close()
    for bonds in (np.zeros((3, 3), dtype=int), np.zeros(4, dtype=int), [[0, -1]], [[0.5, 1.0]]):
        with pytest.raises(ValueError, match="bonds"):
            prismio.Writer(str(tmp_path / "b.holo"), overwrite=True,
                           topology={"names": ["A", "B", "C"], "bonds": bonds})


def test_hardening_checked_reads_and_json(tmp_path):
    """check=True refuses a damaged frame by offset, unchecked views still
    read it; info --json stays valid JSON for a NaN time."""
    import json
    p = str(tmp_path / "c.holo")
    with prismio.Writer(p) as w:
        for i in range(3):
            w.append(np.full((4, 3), i, dtype=np.float32), step=i, time=float("nan"))
    info = json.loads(subprocess.run([PRISMIO, "info", "--json", p], check=True,
                                     capture_output=True, text=True).stdout)
    assert info["time_first"] is None and info["time_last"] is None
    with prismio.open(p) as t:
        pos1 = np.array(t[1].positions)
    data = bytearray(open(p, "rb").read())
    k = data.find(np.full((4, 3), 1, dtype=np.float32).tobytes())
    assert k > 0
    data[k] ^= 0x01
    open(p, "wb").write(bytes(data))
    with prismio.open(p, check=True) as t:
        assert t.check and np.array_equal(t[0].positions, np.zeros((4, 3)))
        with pytest.raises(OSError, match=r"frame 1 at offset 0x[0-9a-f]+: checksum mismatch"):
            t[1]
    with prismio.open(p) as t:  # unchecked views: zero-copy, structure only
        assert not t.check and not np.array_equal(t[1].positions, pos1)


def test_hardening_fifo_is_refused(tmp_path):
    """A FIFO is refused at once (opening one for reading would block)."""
    p = str(tmp_path / "f.holo")
    os.mkfifo(p)
    with pytest.raises(OSError, match="not a regular file"):
        prismio.open(p)
    with pytest.raises(OSError, match="not a regular file"):
        prismio.Writer(p, overwrite=True)


MEMORY_CHILD = r"""
import resource, sys
import prismio

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # MB

path, how = sys.argv[1], sys.argv[2]
t = prismio.open(path)
if how == "mdanalysis":  # imported and opened first: not counted
    import prismio.mdanalysis  # noqa: F401
    import MDAnalysis as mda
    u = mda.Universe(path)
    u.trajectory[0]
before, total = peak(), 0.0
if how == "iterate":
    for f in t:
        total += float(f.positions.sum())
elif how == "blocks":
    for b in t.blocks(size=16):
        total += float(b.sum())
else:
    for ts in u.trajectory:
        total += float(ts.positions[::97].sum())
print(peak() - before, total)
"""


@pytest.mark.parametrize("how", ["iterate", "blocks", "mdanalysis"])
def test_reading_in_order_keeps_memory_bounded(tmp_path, how):
    """A 192 MB file read in order: the process's peak RSS grows by far less
    than the file (the reader drops the pages behind it)."""
    if how == "mdanalysis":
        pytest.importorskip("MDAnalysis")
    path = tmp_path / "big.holo"
    subprocess.run([PRISMIO, "gen", str(path), "--atoms", "20000", "--frames", "800"],
                   check=True, stdout=subprocess.DEVNULL)
    assert os.path.getsize(path) > 190e6
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(path), how], check=True,
                         capture_output=True, text=True, env=os.environ).stdout.split()
    grew = int(out[0])
    assert grew < 64, f"{how}: peak RSS grew {grew} MB reading a 192 MB file"
