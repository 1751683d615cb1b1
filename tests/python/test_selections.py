"""Frame and atom selections as Python objects (slices, index sequences,
numpy integer arrays, boolean masks) wherever strings were taken, and
read() on the open reader (it works after the file is renamed or
unlinked, where a reopen by path would fail)."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import prismio

PRISMIO = os.environ["PRISMIO_CLI"]
DATA = os.environ["PRISMIO_TEST_DATA"]
N_FRAMES, N_ATOMS = 12, 300


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    out = tmp_path_factory.mktemp("sel") / "gen.holo"
    subprocess.run([PRISMIO, "gen", str(out), "--atoms", str(N_ATOMS), "--frames",
                    str(N_FRAMES), "--seed", "9"], check=True, capture_output=True)
    return str(out)


@pytest.fixture(scope="module")
def peptide(tmp_path_factory):
    out = tmp_path_factory.mktemp("sel") / "peptide.holo"
    subprocess.run([PRISMIO, "convert", os.path.join(DATA, "peptide.xtc"), str(out), "--top",
                    os.path.join(DATA, "peptide.pdb"), "--quiet"], check=True)
    return str(out)


def mask(n, picked):
    m = np.zeros(n, dtype=bool)
    m[list(picked)] = True
    return m


def test_indexing_with_sequences_and_masks(gen):
    with prismio.open(gen) as t:
        assert [f.index for f in t[[0, -1, 3, 3]]] == [0, 11, 3, 3]
        assert [f.index for f in t[(5, 2)]] == [5, 2]
        for dtype in (np.int8, np.int32, np.int64, np.uint16, np.uint64):
            assert [f.index for f in t[np.array([2, 7], dtype=dtype)]] == [2, 7]
        assert [f.index for f in t[mask(N_FRAMES, (1, 4, 11))]] == [1, 4, 11]
        assert [f.index for f in t[[True, False] * 6]] == [0, 2, 4, 6, 8, 10]
        assert t[[]] == [] and t[np.array([], dtype=np.int64)] == []
        assert t[np.array(3)].index == 3 and t[np.int32(-2)].index == 10
        assert np.array_equal(t[[4]][0].positions, t[4].positions)
        # out of range: RangeError, an IndexError (and a ValueError)
        for bad in ([12], [0, -13], np.array([2**63 + 5], dtype=np.uint64)):
            with pytest.raises(IndexError, match="out of range"):
                t[bad]
        with pytest.raises(prismio.RangeError, match="frame -13 out of range"):
            t[[-13]]
        # a mask of another length: UsageError, a ValueError
        for bad in (mask(N_FRAMES - 1, ()), mask(N_FRAMES + 1, ()), [True] * 3):
            with pytest.raises(ValueError, match="mask: .* entries, expected 12"):
                t[bad]
        with pytest.raises(prismio.UsageError, match="dimensions"):
            t[np.zeros((2, 2), dtype=int)]
        for bad in ([1.5], np.array([0.0]), ["0"], [None]):
            with pytest.raises(TypeError):
                t[bad]
        with pytest.raises(TypeError):
            t["0"]
        assert t.live_arrays == 0


def test_read_takes_every_selection_form(gen):
    with prismio.open(gen) as t:
        ref = np.stack([t[i].positions for i in range(N_FRAMES)])
        frames = {
            "slice": (slice(1, None, 5), [1, 6, 11]),
            "negative step": (slice(None, None, -4), [11, 7, 3]),
            "list": ([11, 0, -1, 0], [11, 0, 11, 0]),
            "int32 array": (np.array([3, -3], dtype=np.int32), [3, 9]),
            "uint64 array": (np.array([5], dtype=np.uint64), [5]),
            "mask": (mask(N_FRAMES, (2, 3, 10)), [2, 3, 10]),
            "range": (range(4, 7), [4, 5, 6]),
            "string": ("0-2,11", [0, 1, 2, 11]),
            "string slice": ("::5", [0, 5, 10]),
        }
        for name, (sel, want) in frames.items():
            got = t.read(frames=sel)
            assert np.array_equal(got, ref[want]), name
            assert np.array_equal(t.frame_indices(sel), want), name
        atoms = {
            "slice": (slice(10, 20, 3), [10, 13, 16, 19]),
            "unsorted, negative": ([299, 0, 5, -2], [0, 5, 298, 299]),  # taken ascending
            "array": (np.arange(0, 300, 100), [0, 100, 200]),
            "mask": (mask(N_ATOMS, (7, 8, 250)), [7, 8, 250]),
            "string": ("0-2 or 299", [0, 1, 2, 299]),
            "index string": ("index 5:6", [5, 6]),
        }
        for name, (sel, want) in atoms.items():
            got = t.read(frames=[0, 11], atoms=sel)
            assert np.array_equal(got, ref[[0, 11]][:, want]), name
        assert t.read(frames=[]).shape == (0, 0, 3)  # as before selections were objects
        with pytest.raises(prismio.UsageError, match="must be unique"):
            t.read(atoms=[5, 5])
        # any iterable of whole numbers, as int() always took them
        assert np.array_equal(t.read(frames=(i for i in (4, 2))), ref[[4, 2]])
        assert np.array_equal(t.read(frames=[1.0, 3.0]), ref[[1, 3]])
        assert t.read(frames=mask(N_FRAMES, ()), atoms=[1, 2]).shape == (0, 2, 3)
        assert t.read(atoms=mask(N_ATOMS, ())).shape == (N_FRAMES, 0, 3)
        with pytest.raises(prismio.RangeError, match="atom 300 out of range"):
            t.read(atoms=[300])
        with pytest.raises(IndexError, match="atom -301 out of range"):
            t.read(atoms=[-301])
        with pytest.raises(IndexError, match="frame 12 out of range"):
            t.read(frames=[12])
        with pytest.raises(ValueError, match="mask"):
            t.read(atoms=mask(N_ATOMS + 1, ()))
        with pytest.raises(ValueError, match="mask"):
            t.read(frames=mask(3, ()))
        assert t.read(frames=[0], atoms="name CA").shape == (1, 0, 3)  # water only
        ow = t.read(frames=[0], atoms="name OW")
        assert ow.shape == (1, N_ATOMS // 3, 3) and np.array_equal(ow[0], ref[0][::3])
        with pytest.raises(prismio.UsageError):
            t.read(atoms="name")
        with pytest.raises(prismio.UsageError):
            t.read(frames="1-")
        with pytest.raises(TypeError):
            t.read(frames=[0.5])
        assert t.live_arrays == 0


def test_select_strings(gen, peptide):
    with prismio.open(gen) as t:
        assert list(t.select_frames("::5")) == [0, 5, 10]
        assert list(t.select_frames("11,0,0,-1:")) == [11, 0, 0, 11]
        assert list(t.select_atoms("0-3 or 298-299")) == [0, 1, 2, 3, 298, 299]
        with pytest.raises(prismio.UsageError):
            t.select_atoms("index 0-300")  # past the atoms there are
    with prismio.open(peptide) as t:
        names = t.topology["names"]
        ca = t.select_atoms("name CA")
        assert len(ca) > 0 and np.array_equal(ca, np.flatnonzero(names == b"CA"))
        x = t.read(frames=slice(0, 201, 50), atoms="name CA")
        assert np.array_equal(x, t.read(frames=[0, 50, 100, 150, 200], atoms=ca))
        assert np.array_equal(x[2], t[100].positions[ca])


def test_blocks_and_to_arrow_take_runs_of_frames(gen):
    with prismio.open(gen) as t:
        for sel in ([3, 4, 5, 6], np.arange(3, 7), "3-6", mask(N_FRAMES, range(3, 7)),
                    slice(3, 7), range(3, 7)):
            got = list(t.blocks(size=3, frames=sel))
            assert [len(b) for b in got] == [3, 1]
            assert np.array_equal(np.concatenate(got), t.read(frames=slice(3, 7)))
            del got
            assert t.to_arrow(frames=sel)._args[2:4] == (3, 4)
        assert list(t.blocks(frames=[])) == []
        for sel in ([3, 5], [4, 3], "0,2", mask(N_FRAMES, (0, 2)), slice(0, 6, 2)):
            with pytest.raises(prismio.UsageError):
                next(t.blocks(frames=sel))
            with pytest.raises(ValueError):
                t.to_arrow(frames=sel)


def test_convert_takes_selection_objects(peptide, tmp_path):
    """convert(): slices, index sequences and masks become the pipeline's
    selection strings; negative indices and mask lengths are checked
    against the input's counts."""
    xtc = os.path.join(DATA, "peptide.xtc")
    out = lambda name: str(tmp_path / name)  # noqa: E731
    with prismio.open(peptide) as whole:
        cases = [
            (dict(frames=slice(None, None, 50)), [0, 50, 100, 150, 200], None),
            (dict(frames=slice(-2, None)), [199, 200], None),
            (dict(frames=[200, 0, -1]), [200, 0, 200], None),
            (dict(frames=np.array([5, 6], dtype=np.int16)), [5, 6], None),
            (dict(frames=mask(201, (1, 100))), [1, 100], None),
            (dict(frames=[0, 1], atoms=np.arange(0, 100)), [0, 1], list(range(100))),
            (dict(frames=[0], atoms=[-1, 0, 1]), None, None),
            (dict(frames=[3], atoms=mask(711, (2, 5, 700))), [3], [2, 5, 700]),
            (dict(frames=[3], atoms=slice(700, None)), [3], list(range(700, 711))),
        ]
        for k, (kw, frames, atoms) in enumerate(cases):
            if frames is None:  # unsorted atoms: the output keeps the input's order
                with pytest.raises(prismio.UsageError, match="sorted"):
                    prismio.convert(xtc, out(f"c{k}.holo"), **kw)
                continue
            r = prismio.convert(xtc, out(f"c{k}.holo"), **kw)
            assert r["frames"] == len(frames), kw
            with prismio.open(out(f"c{k}.holo")) as c:
                want = whole.read(frames=frames, atoms=atoms)
                assert np.array_equal(c.read(), want), kw
        with pytest.raises(prismio.RangeError, match="frame 201 out of range"):
            prismio.convert(xtc, out("e1.holo"), frames=[201])
        with pytest.raises(IndexError, match="atom 711 out of range"):
            prismio.convert(xtc, out("e2.holo"), atoms=[711])
        with pytest.raises(ValueError, match="mask"):
            prismio.convert(xtc, out("e3.holo"), frames=mask(200, ()))
        with pytest.raises(prismio.UsageError, match="empty"):
            prismio.convert(xtc, out("e4.holo"), atoms=mask(711, ()))
        with pytest.raises(prismio.UsageError):
            prismio.convert(xtc, out("e5.holo"), frames=slice(None, None, 0))
        assert not any(os.path.exists(out(f"e{k}.holo")) for k in range(1, 6))


@pytest.mark.parametrize("how", ["rename", "unlink", "replace"])
def test_read_uses_the_open_reader(gen, tmp_path, how):
    """read() goes through the trajectory's own reader: after the file is
    renamed, unlinked or replaced by another under its name, it still reads
    the file that was opened (a reopen by path would fail or read the
    other file)."""
    for engine in ("mmap", "pread"):
        p = str(tmp_path / f"moving-{engine}.holo")
        shutil.copyfile(gen, p)
        with prismio.open(p, engine=engine) as t:
            before = t.read(frames=[0, 5], atoms=[1, 2])
            views = np.stack([t[i].positions[[1, 2]] for i in (0, 5)])
            assert t.engine == engine
            if how == "rename":
                os.rename(p, p + ".moved")
            elif how == "unlink":
                os.unlink(p)
            else:
                os.rename(p, p + ".old")
                subprocess.run([PRISMIO, "gen", p, "--atoms", "3", "--frames", "1"], check=True,
                               capture_output=True)
            after = t.read(frames=[0, 5], atoms=[1, 2])
            assert np.array_equal(after, before) and np.array_equal(after, views)
            assert np.array_equal(t.read(), np.stack([f.positions for f in t]))


def test_read_through_any_engine(gen):
    """read(engine=...) picks the engine of that one read, whatever the
    trajectory's own (a stream of its own on the open descriptor)."""
    with prismio.open(gen, engine="mmap") as t:
        assert t.engine == "mmap"
        ref = t.read(engine="mmap")
        for e in ("pread", "uring", "auto"):
            assert np.array_equal(t.read(engine=e), ref), e
        assert t.engine == "mmap"
        with pytest.raises(ValueError, match="one of auto"):
            t.read(engine="floppy")


def test_read_refuses_frames_of_another_size(tmp_path):
    p = str(tmp_path / "sizes.holo")
    with prismio.Writer(p, sync=False) as w:
        w.append(np.zeros((4, 3)))
        w.append(np.ones((6, 3)))
    with prismio.open(p) as t:
        with pytest.raises(prismio.UsageError, match="frame 1 has 6 atoms"):
            t.read()
        assert np.array_equal(t.read(atoms=[0, 3]), np.stack([np.zeros((2, 3)),
                                                              np.ones((2, 3))]))
        with pytest.raises(prismio.RangeError, match="atom 5 out of range .frame 0 has 4"):
            t.read(frames=[1, 0], atoms=[5])
        assert t.read(frames=[1], atoms=[5]).shape == (1, 1, 3)
        assert t.live_arrays == 0


def test_selection_indices_helper():
    si = prismio._prismio.selection_indices
    assert list(si(slice(None, None, -3), 7)) == [6, 3, 0]
    assert list(si([-1, 0], 3, "atom")) == [2, 0]
    assert si([], 0).dtype == np.int64 and len(si([], 0)) == 0
    with pytest.raises(prismio.RangeError, match="atom 3 out of range .3 atoms."):
        si([3], 3, "atom")
    with pytest.raises(prismio.RangeError):
        si([0], 0)
    with pytest.raises(TypeError):
        si(3, 5)
    with pytest.raises(TypeError):
        si(None, 5)
