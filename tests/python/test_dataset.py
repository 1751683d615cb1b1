"""Structure datasets (issue 26): extxyz/ASE -> HOLO -> extxyz/ASE round
trips compared by ASE's own reader, batches against per-structure reads,
DataLoader with 2 workers, a damaged shard, hostile input."""
import os
import subprocess

import numpy as np
import pytest

ase = pytest.importorskip("ase")
import ase.io  # noqa: E402
from ase.build import bulk, molecule  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402

import prismio  # noqa: E402
import prismio.dataset as pds  # noqa: E402


def images(n=24, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = (bulk("Cu", "fcc", a=3.6, cubic=True).repeat((1 + i % 3, 1, 1)) if i % 2
             else molecule(("H2O", "CH4", "NH3")[i % 3]))
        a.rattle(0.01, seed=i)
        a.info["config_type"] = "bulk" if i % 2 else "mol"
        a.info["temp"] = 300.0 + i
        a.info["nrun"] = i
        a.info["flag"] = bool(i % 3)
        a.arrays["tags"] = np.arange(len(a), dtype=np.int64) * (i + 1)
        a.arrays["charge"] = rng.normal(size=len(a))
        a.calc = SinglePointCalculator(
            a, energy=-1.5 * i - 0.25, forces=rng.normal(size=(len(a), 3)),
            stress=rng.normal(size=6) if i % 2 else None)
        out.append(a)
    return out


def same_value(x, y):
    """Equal, and of the same kind: a float stays a float, an int an int."""
    x = x.item() if isinstance(x, np.generic) else x
    y = y.item() if isinstance(y, np.generic) else y
    if np.ndim(x) == 0 or np.ndim(y) == 0:
        return type(x) is type(y) and x == y
    x, y = np.asarray(x), np.asarray(y)
    return x.shape == y.shape and x.dtype.kind == y.dtype.kind and (
        np.array_equal(x, y) if x.dtype.kind in "biuSU" else np.allclose(x, y, rtol=1e-12, atol=0))


def same_atoms(a, b):
    assert len(a) == len(b)
    assert (a.numbers == b.numbers).all()
    assert np.allclose(a.positions, b.positions, rtol=0, atol=1e-5)
    assert np.allclose(a.cell[:], b.cell[:], rtol=0, atol=1e-9)
    assert (a.pbc == b.pbc).all()
    assert a.get_potential_energy() == b.get_potential_energy()
    assert np.allclose(a.get_forces(), b.get_forces(), rtol=1e-6, atol=1e-6)
    sa = a.calc.results.get("stress")
    sb = b.calc.results.get("stress")
    assert (sa is None) == (sb is None)
    if sa is not None:
        assert np.allclose(sa, sb, rtol=1e-12, atol=0)
    assert set(a.info) == set(b.info), (a.info.keys(), b.info.keys())
    for k in a.info:
        assert same_value(a.info[k], b.info[k]), (k, a.info[k], b.info[k])
    for k in set(a.arrays) | set(b.arrays):
        assert k in a.arrays and k in b.arrays, k
        assert np.allclose(a.arrays[k], b.arrays[k], rtol=1e-6, atol=1e-5), k


def test_extxyz_roundtrip(tmp_path):
    src = str(tmp_path / "in.extxyz")
    ase.io.write(src, images())
    ref = list(ase.io.iread(src))
    holo = str(tmp_path / "set.holo")
    assert pds.write_atoms(holo, ase.io.iread(src)) == len(ref)
    back = list(pds.read_atoms(holo, check=True))
    out = str(tmp_path / "out.extxyz")
    ase.io.write(out, back)
    again = list(ase.io.iread(out))  # ASE's own reader compares
    assert len(again) == len(ref)
    for a, b in zip(ref, again):
        same_atoms(a, b)
    # the file verifies and says it holds named arrays
    r = subprocess.run([os.environ.get("PRISMIO_CLI", "build/prismio"), "verify", holo],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_ase_db_roundtrip(tmp_path):
    import ase.db
    db = ase.db.connect(str(tmp_path / "set.db"))
    imgs = images(10, seed=3)
    for a in imgs:
        for k in ("flag", "charge"):  # ase.db keeps no bools in info key_value_pairs
            a.info.pop(k, None)
        db.write(a, data={})
    rows = [r.toatoms() for r in db.select()]
    holo = str(tmp_path / "db.holo")
    pds.write_atoms(holo, rows)
    for a, b in zip(rows, pds.read_atoms(holo)):
        same_atoms(a, b)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    imgs = images(60, seed=5)
    a, b = str(d / "a.holo"), str(d / "b.holo")
    pds.write_atoms(a, imgs[:35])
    pds.write_atoms(b, imgs[35:])
    man = str(d / "set.manifest")
    with open(man, "w") as f:
        f.write("prismio-dataset 1\n35 %d a.holo\n25 %d b.holo\n"
                % (os.path.getsize(a), os.path.getsize(b)))
    return man, imgs


COLS = ("positions", "numbers", "cell", "energy", "forces", "calc.stress")


@pytest.mark.parametrize("padded", [False, True])
def test_batches_equal_structures(shards, padded):
    man, imgs = shards
    ds = pds.Dataset(man)
    assert len(ds) == 60 and len(ds.shards()) == 2
    rng = np.random.default_rng(7)
    cols = ("positions", "numbers", "cell", "energy", "forces")
    for _ in range(5):
        idx = rng.integers(0, 60, size=rng.integers(1, 40))
        b = ds.batch(idx, columns=cols, padded=padded)
        assert (b["index"] == idx).all()
        for j, i in enumerate(idx):
            a = imgs[i]
            n = len(a)
            assert b["natoms"][j] == n
            if padded:
                pos = b["positions"][j, :n]
                assert b["mask"][j, :n].all() and not b["mask"][j, n:].any()
                assert not b["positions"][j, n:].any()
                z = b["numbers"][j, :n, 0]
                f = b["forces"][j, :n]
            else:
                o = b["offsets"]
                pos = b["positions"][o[j]:o[j + 1]]
                z = b["numbers"][o[j]:o[j + 1], 0]
                f = b["forces"][o[j]:o[j + 1]]
            assert np.allclose(pos, a.positions, atol=1e-5)
            assert (z == a.numbers).all()
            assert np.allclose(f, a.get_forces(), rtol=1e-5, atol=1e-5)
            assert b["energy"][j, 0] == a.get_potential_energy()
            assert np.allclose(b["cell"][j].reshape(3, 3), a.cell[:])
            # the same as a read of the structure alone (HOLO units)
            s = ds.structure(int(i))
            assert np.array_equal(s["positions"] * np.float32(10), pos)


def test_batch_arrays_outlive_next_batch_and_dlpack(shards):
    torch = pytest.importorskip("torch")
    man, imgs = shards
    ds = pds.Dataset(man)
    b1 = ds.batch([0, 1], columns=("positions",))
    keep = b1["positions"].copy()
    ds.batch([2, 3, 4], columns=("positions",))
    assert np.array_equal(b1["positions"], keep)
    t = torch.from_dlpack(b1["positions"])  # numpy's __dlpack__, no copy
    assert t.data_ptr() == b1["positions"].ctypes.data


def test_dataloader_two_workers_every_structure_once(shards):
    torch = pytest.importorskip("torch")
    import prismio.torch as pt
    man, _ = shards
    ds = pt.Dataset(man, columns=("positions", "numbers", "energy"))
    for epoch in (0, 1):
        loader = ds.loader(batch_size=8, shuffle=True, seed=11, num_workers=2)
        loader.sampler.set_epoch(epoch)
        seen = []
        for b in loader:
            assert isinstance(b["positions"], torch.Tensor)
            assert b["offsets"][-1] == b["positions"].shape[0]
            seen.extend(b["index"].tolist())
        assert sorted(seen) == list(range(60))
        if epoch == 0:
            first = seen
    assert seen != first  # another epoch, another order
    # ranks share an epoch: every structure once across them
    parts = [list(pt.BatchSampler(60, 8, True, 11, rank=r, world_size=3)) for r in range(3)]
    allidx = sorted(int(i) for p in parts for b in p for i in b)
    assert allidx == list(range(60))
    # collate of per-structure samples gathers them in one batch
    one = [ds[i] for i in (4, 9, 2)]
    b = ds.collate(one)
    assert b["index"].tolist() == [4, 9, 2]


def test_damaged_shard_names_shard_and_structure(shards, tmp_path):
    man, _ = shards
    d = os.path.dirname(man)
    import shutil
    for f in ("a.holo", "b.holo", "set.manifest"):
        shutil.copy(os.path.join(d, f), tmp_path / f)
    # structure 35 + 5: frame 5 of b.holo (records walked from the header)
    import struct
    raw = (tmp_path / "b.holo").read_bytes()
    off, pos = None, 128
    while pos < len(raw):
        typ, length, seq = struct.unpack_from("<IQQ", raw, pos + 4)
        if typ == 2 and seq == 5:
            off = pos
            break
        pos += length
    assert off is not None
    with open(tmp_path / "b.holo", "r+b") as f:
        f.seek(off + 200)
        c = f.read(1)
        f.seek(off + 200)
        f.write(bytes([c[0] ^ 0x10]))
    ds = pds.Dataset(str(tmp_path / "set.manifest"), check=True)
    with pytest.raises(prismio.ChecksumError) as e:
        ds.batch([0, 40], columns=("positions",))
    assert "b.holo" in str(e.value) and "structure 40" in str(e.value)


def test_hostile_input(tmp_path):
    man = tmp_path / "bad.manifest"
    man.write_text("prismio-dataset 1\n10 100 nothere.holo\n")
    with pytest.raises(prismio.Error) as e:
        pds.Dataset(str(man))
    assert "nothere.holo" in str(e.value)
    (tmp_path / "junk").write_text("hello\n")
    with pytest.raises(prismio.FormatError):
        pds.Dataset(str(tmp_path / "junk"))
    holo = str(tmp_path / "x.holo")
    w = pds.Writer(holo)
    with pytest.raises(ValueError):
        w.append(np.zeros((2, 3)), arrays={"x" * 40: (True, np.zeros(2))})
    with pytest.raises(ValueError):
        w.append(np.zeros((2, 3)), arrays={"a": (True, np.zeros((2, 0)))})
    w.close()
    ds = pds.Dataset(holo)
    assert len(ds) == 0
    with pytest.raises(prismio.RangeError):
        ds.structure(0)


def test_sample_v2_3_reads_and_verifies():
    data = os.environ.get("PRISMIO_TEST_DATA", "tests/data")
    path = os.path.join(data, "sample_v2_3_dataset.holo")
    ds = pds.Dataset(path, check=True)
    assert len(ds) == 6
    atoms = list(pds.read_atoms(path))
    assert [len(a) for a in atoms] == [3, 5, 4, 3, 5, 4]
    assert atoms[2].info["config_type"] == "mol"
    r = subprocess.run([os.environ.get("PRISMIO_CLI", "build/prismio"), "verify", path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_compact_and_refusals_keep_named_arrays(tmp_path):
    data = os.environ.get("PRISMIO_TEST_DATA", "tests/data")
    path = os.path.join(data, "sample_v2_3_dataset.holo")
    # compact copies a dataset with its arrays and metadata
    out = str(tmp_path / "c.holo")
    r = cli("compact", path, out)
    assert r.returncode == 0, r.stderr
    a, b = str(tmp_path / "a.extxyz"), str(tmp_path / "b.extxyz")
    assert cli("convert", path, a).returncode == 0 and cli("convert", out, b).returncode == 0
    assert open(a).read() == open(b).read()
    assert prismio.open(out).metadata == prismio.open(path).metadata
    # a format without named arrays is refused rather than given less
    r = cli("convert", path, str(tmp_path / "x.xtc"))
    assert r.returncode == 69 and "named arrays" in r.stderr, r.stderr


CLI = os.environ.get("PRISMIO_CLI", "build/prismio")


def cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True)


def test_cli_extxyz_roundtrip(tmp_path):
    """prismio convert extxyz -> holo -> extxyz: ASE reads both the same."""
    src, holo, back = (str(tmp_path / n) for n in ("in.extxyz", "set.holo", "out.extxyz"))
    imgs = images(30, seed=9)
    imgs[3].info["label"] = "a text, with spaces"
    imgs[4].info["vec"] = np.array([1.5, -2.25, 3.0])
    imgs[4].info["ivec"] = np.array([1, 2, 3])
    imgs[5].arrays["flags"] = np.array([True, False] * (len(imgs[5]) // 2) + [True] * (len(imgs[5]) % 2))
    ase.io.write(src, imgs)
    r = cli("convert", src, holo)
    assert r.returncode == 0, r.stderr
    assert "30 structures" in r.stderr
    assert cli("verify", holo).returncode == 0
    r = cli("convert", holo, back)
    assert r.returncode == 0, r.stderr
    ref, again = list(ase.io.iread(src)), list(ase.io.iread(back))
    assert len(again) == 30
    for a, b in zip(ref, again):
        same_atoms(a, b)
    # holo -> holo keeps the named arrays (and its copy converts the same)
    copy = str(tmp_path / "copy.holo")
    assert cli("convert", holo, copy).returncode == 0
    assert cli("convert", copy, str(tmp_path / "again.extxyz")).returncode == 0
    assert open(tmp_path / "again.extxyz").read() == open(back).read()
    # the Python reader gives the same geometry, numbers and results
    for a, b in zip(ref, pds.read_atoms(holo)):
        assert (a.numbers == b.numbers).all() and (a.pbc == b.pbc).all()
        assert np.allclose(a.positions, b.positions, atol=1e-5)
        assert a.get_potential_energy() == b.get_potential_energy()
        assert np.allclose(a.get_forces(), b.get_forces(), rtol=1e-6, atol=1e-6)
        assert np.array_equal(a.arrays["tags"], b.arrays["tags"])


HOSTILE = {
    "count_past_lines": ("3\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 1 0 0\n", "ends after 2"),
    "count_past_file": ("99999999\n\nH 0 0 0\n", "more than the rest of the file"),
    "count_not_number": ("x3\n\nH 0 0 0\n", "atom count"),
    "count_negative": ("-1\n\n", "atom count"),
    "missing_column": ("2\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 1 0\n", "3 values"),
    "extra_column": ("1\nProperties=species:S:1:pos:R:3\nH 0 0 0 7\n", "5 values"),
    "huge_number": ("1\n\nH 1e400 0 0\n", "not a finite number"),
    "past_float32": ("1\n\nH 1e40 0 0\n", "does not fit a float32"),
    "nan": ("1\n\nH nan 0 0\n", "not a finite number"),
    "unknown_element": ("1\n\nQq 0 0 0\n", "unknown element"),
    "no_pos": ("1\nProperties=species:S:1:x:R:3\nH 0 0 0\n", "no pos:R:3"),
    "bad_properties": ("1\nProperties=species:S\nH 0 0 0\n", "Properties"),
    "unclosed_quote": ('1\nLattice="1 0 0 0 1 0 0 0 1\nH 0 0 0\n', "unclosed quote"),
    "lattice_8": ('1\nLattice="1 0 0 0 1 0 0 0"\nH 0 0 0\n', "not 9 numbers"),
    "bad_int": ("1\nProperties=species:S:1:pos:R:3:t:I:1\nH 0 0 0 1.5\n", "not a 64-bit integer"),
    "bad_bool": ("1\nProperties=species:S:1:pos:R:3:t:L:1\nH 0 0 0 maybe\n", "not T or F"),
    "no_comment": ("0\n", "before the comment line"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_cli_hostile_extxyz(tmp_path, case):
    text, why = HOSTILE[case]
    good = "1\nProperties=species:S:1:pos:R:3 energy=-1.0\nH 0.1 0.2 0.3\n"
    src = tmp_path / "bad.extxyz"
    src.write_text(good + text)  # the damage in structure 1, after a good one
    out = str(tmp_path / "out.holo")
    r = cli("convert", str(src), out)
    assert r.returncode == 65, (r.returncode, r.stderr)
    assert "bad.extxyz: line" in r.stderr and "structure 1" in r.stderr, r.stderr
    assert why in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1  # one line
    # the structure before it was written and committed: nothing lost
    ds = pds.Dataset(out, check=True)
    assert len(ds) == 1 and ds.structure(0)["scalars"]["energy"] == -1.0
    # an extxyz output is left out entirely (OUT.part removed)
    r = cli("convert", str(src), str(tmp_path / "out.extxyz"))
    assert r.returncode == 65 and not os.path.exists(tmp_path / "out.extxyz")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


def test_cli_dataset_refusals(tmp_path):
    src = tmp_path / "a.extxyz"
    src.write_text("1\nProperties=species:S:1:pos:R:3\nH 0 0 0\n")
    r = cli("convert", str(src), str(tmp_path / "a.xtc"))
    assert r.returncode == 64 and "dataset" in r.stderr, r.stderr
    r = cli("convert", "--frames", "0", str(src), str(tmp_path / "a.holo"))
    assert r.returncode == 64 and "converts whole" in r.stderr, r.stderr


def test_cli_dataset_build_info_verify(tmp_path):
    src = str(tmp_path / "in.extxyz")
    ase.io.write(src, images(25, seed=4))
    holo = str(tmp_path / "more.holo")
    pds.write_atoms(holo, images(8, seed=6))
    man = str(tmp_path / "set.manifest")
    r = cli("dataset", "build", "--shard-structures", "10", man, src, holo)
    assert r.returncode == 0, r.stderr
    assert "33 structures in 4 shards" in r.stdout
    lines = open(man).read().split("\n")
    assert lines[0] == "prismio-dataset 1" and lines[1].split()[2] == "set-00000.holo"
    assert [int(x.split()[0]) for x in lines[1:5]] == [10, 10, 10, 3]
    r = cli("dataset", "info", "--json", man)
    assert r.returncode == 0, r.stderr
    import json
    info = json.loads(r.stdout)
    assert info["structures"] == 33 and info["shards"] == 4
    assert {"name": "numbers", "dtype": "u8", "per_atom": True, "width": 1} in info["arrays"]
    assert "energy" in info["scalars"]
    r = cli("dataset", "verify", man)
    assert r.returncode == 0 and "ok, 33 structures in 4 shards" in r.stdout, r.stderr
    # the structures, in order, are the inputs'
    ref = list(ase.io.iread(src)) + list(pds.read_atoms(holo))
    ds = pds.Dataset(man)
    for i in (0, 9, 10, 24, 25, 32):
        b = ds.batch([i], columns=("positions", "numbers"))
        assert np.allclose(b["positions"], ref[i].positions, atol=1e-5)
        assert (b["numbers"][:, 0] == ref[i].numbers).all()
    # a byte of shard 2 flipped: verify names the shard and its structures
    shard = tmp_path / "set-00002.holo"
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 1
    shard.write_bytes(bytes(raw))
    r = cli("dataset", "verify", man)
    assert r.returncode in (1, 65) and "shard 2 (structures 20..29)" in r.stderr, r.stderr
    # a shard cut short: the manifest's size no longer holds
    shard.write_bytes(bytes(raw[:-64]))
    r = cli("dataset", "info", man)
    assert r.returncode == 65 and "line 4" in r.stderr, r.stderr
    # a build that fails leaves no manifest and no shards
    bad = tmp_path / "bad.extxyz"
    bad.write_text(open(src).read() + "2\n\nH 0 0 0\n")
    man2 = str(tmp_path / "b.manifest")
    r = cli("dataset", "build", "--shard-structures", "10", man2, str(bad))
    assert r.returncode == 65 and "bad.extxyz: line" in r.stderr, r.stderr
    assert not os.path.exists(man2) and not os.path.exists(tmp_path / "b-00000.holo")
    assert cli("dataset", "build", man, src).returncode == 64  # exists: --overwrite
    assert cli("dataset", "nope").returncode == 64


# ---- regressions from the review of this change ----

def test_review_extxyz_limits_and_types(tmp_path):
    src = tmp_path / "wide.extxyz"
    src.write_text("1\nProperties=species:S:1:pos:R:3:foo:R:1100\nH 0 0 0 " + " 1" * 1100 + "\n")
    r = cli("convert", str(src), str(tmp_path / "w.holo"))
    assert r.returncode == 65 and "at most 1024" in r.stderr, r.stderr
    src.write_text("1\nProperties=species:S:1:pos:R:3:tags:S:2\nH 0 0 0 ab c\n")
    r = cli("convert", str(src), str(tmp_path / "s.holo"))
    assert r.returncode == 69 and "text columns of 2 values" in r.stderr, r.stderr
    # energy=0 is an energy (a float scalar), as energy=0.5 is
    src.write_text("1\nenergy=0 stress=\"0 0 0 0 0 0 0 0 0\"\nH 0 0 0\n"
                   "1\nenergy=0.5 stress=\"1.5 0 0 0 1 0 0 0 1\"\nH 0 0 0\n")
    holo = str(tmp_path / "e.holo")
    assert cli("convert", str(src), holo).returncode == 0
    b = pds.Dataset(holo).batch([0, 1], columns=("energy", "info.stress"))
    assert b["energy"][:, 0].tolist() == [0.0, 0.5] and b["info.stress"].dtype == np.float64
    a = list(pds.read_atoms(holo))
    assert a[1].get_potential_energy() == 0.5 and a[1].get_stress().shape == (6,)


def test_review_unwritable_extxyz_refused(tmp_path):
    holo = str(tmp_path / "t.holo")
    with pds.Writer(holo) as w:
        w.append(np.zeros((2, 3)), arrays={"numbers": (True, np.array([1, 1], dtype=np.uint8)),
                                           "atoms$.label": (True, np.array([b"a b", b"c"]))})
    r = cli("convert", holo, str(tmp_path / "t.extxyz"))
    assert r.returncode == 64 and "atoms$.label" in r.stderr, r.stderr
    with pds.Writer(str(tmp_path / "u.holo")) as w:
        w.append(np.zeros((2, 3)), arrays={"pos": (True, np.zeros((2, 3)))})
    r = cli("convert", str(tmp_path / "u.holo"), str(tmp_path / "u.extxyz"))
    assert r.returncode == 64 and "'pos'" in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "u.extxyz")


def test_review_reshard_in_place_and_failed_overwrite(tmp_path):
    src = str(tmp_path / "in.extxyz")
    ase.io.write(src, images(24, seed=2))
    man = str(tmp_path / "ds.txt")
    assert cli("dataset", "build", "--shard-structures", "8", man, src).returncode == 0
    olds = [str(tmp_path / ("ds-%05d.holo" % k)) for k in range(3)]
    r = cli("dataset", "build", "--overwrite", "--shard-structures", "12", man, *olds)
    assert r.returncode == 0, r.stderr
    assert "24 structures in 2 shards" in r.stdout
    assert not os.path.exists(olds[2])  # no longer listed: removed
    assert cli("dataset", "verify", man).returncode == 0
    before = open(man).read()
    bad = tmp_path / "bad.extxyz"
    bad.write_text("1\n\nQq 0 0 0\n")
    r = cli("dataset", "build", "--overwrite", man, olds[0], str(bad))
    assert r.returncode == 65
    assert open(man).read() == before and cli("dataset", "verify", man).returncode == 0
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


def test_review_threads_share_a_dataset(tmp_path):
    import threading
    holo = str(tmp_path / "t.holo")
    imgs = images(40, seed=8)
    pds.write_atoms(holo, imgs)
    ds = pds.Dataset(holo)
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(50):
            idx = rng.integers(0, 40, size=16)
            b = ds.batch(idx, columns=("positions", "numbers"))
            for j, i in enumerate(idx):
                o = b["offsets"]
                if not (b["numbers"][o[j]:o[j + 1], 0] == imgs[i].numbers).all():
                    errors.append((seed, i))
    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_review_atoms_edge_cases(tmp_path):
    from ase import Atoms
    imgs = []
    # 6 atoms and a Voigt stress of 6: per structure all the same
    a = Atoms("H6", positions=np.arange(18.0).reshape(6, 3), cell=np.eye(3) * 5, pbc=True)
    a.calc = SinglePointCalculator(a, energy=1.0, stress=np.arange(6.0), dipole=np.arange(3.0))
    a.arrays["kind"] = np.array(["x", "yy", "z", "w", "v", "u"])
    imgs.append(a)
    e = Atoms()  # 0 atoms, with an extra per-atom array
    e.arrays["q"] = np.zeros(0)
    imgs.append(e)
    holo = str(tmp_path / "a.holo")
    pds.write_atoms(holo, imgs)
    back = list(pds.read_atoms(holo))
    assert np.array_equal(back[0].get_stress(), np.arange(6.0))
    assert np.array_equal(back[0].calc.results["dipole"], np.arange(3.0))
    assert back[0].arrays["kind"].tolist() == ["x", "yy", "z", "w", "v", "u"]
    assert len(back[1]) == 0
    # a 0-atom structure beside others in one batch
    ds = pds.Dataset(holo)
    for padded in (False, True):
        b = ds.batch([1, 0, 1], columns=("positions", "numbers"), padded=padded)
        assert b["natoms"].tolist() == [0, 6, 0]


def test_review_indices_and_manifest_edges(tmp_path):
    holo = str(tmp_path / "a.holo")
    pds.write_atoms(holo, images(5, seed=1))
    ds = pds.Dataset(holo)
    assert ds.batch([-1, 0], columns=("positions",))["index"].tolist() == [4, 0]
    with pytest.raises(TypeError):
        ds.batch([1.7, 0.2])
    with pytest.raises(IndexError):
        ds.batch([-6])
    with pytest.raises(ValueError):
        ds.batch([0], pad_atoms=-1)
    size = os.path.getsize(holo)
    man = tmp_path / "m.txt"
    man.write_bytes(b"prismio-dataset 1\r\n5 %d a.holo\r\n" % size)
    assert len(pds.Dataset(str(man))) == 5
    for line in (b"5 -1 a.holo", b"5 0x10 a.holo", b"-5 %d a.holo" % size):
        man.write_bytes(b"prismio-dataset 1\n" + line + b"\n")
        with pytest.raises(prismio.CorruptError):
            pds.Dataset(str(man))
    man.write_bytes(b"prismio-dataset 1\n5 %d missing.holo\n" % size)
    with pytest.raises(prismio.Error) as e:
        pds.Dataset(str(man))
    assert "m.txt line 2" in str(e.value)
