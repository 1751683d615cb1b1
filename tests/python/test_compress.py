"""Compressed HOLO files from Python: Writer(compression=...) and every way
of reading them (frames, iteration holding many frames, read(), blocks())
give the values written: lossy positions within precision/2, everything
else bit-exact."""
import numpy as np
import pytest

import prismio


def _frames(n, natoms=64, seed=5):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 5, (natoms, 3)).astype(np.float32)
    for k in range(n):
        x = (base + 0.01 * k + rng.normal(0, 0.002, (natoms, 3))).astype(np.float32)
        v = rng.normal(0, 1, (natoms, 3)).astype(np.float32)
        yield x, v


@pytest.mark.parametrize("compression", ["lossy", "lossless"])
def test_compressed_round_trip(tmp_path, compression):
    p = str(tmp_path / f"{compression}.holo")
    frames = list(_frames(40))
    try:
        w = prismio.Writer(p, sync=False, compression=compression, precision=0.002)
    except prismio.Error as e:  # a build without zstd says so
        assert "zstd" in str(e)
        pytest.skip("this build has no zstd")
    with w:
        for k, (x, v) in enumerate(frames):
            w.append(x, velocities=v, step=k)
    tol = 0.001 + 1e-6 if compression == "lossy" else 0.0
    with prismio.open(p) as t:
        held = list(t)  # 40 frames alive at once: each its own copy
        assert len(held) == 40
        for k, f in enumerate(held):
            x, v = frames[k]
            assert np.abs(f.positions - x).max() <= tol
            assert np.array_equal(f.velocities, v)
        allx = t.read()
        assert np.abs(allx - np.stack([x for x, _ in frames])).max() <= tol
        blocks = list(t.blocks(size=8))
        assert [len(b) for b in blocks] == [8] * 5  # decoded blocks of `size` frames
        assert not blocks[0].flags.writeable
        assert np.abs(np.concatenate(blocks) - allx).max() == 0
        t.verify()


def test_compression_argument(tmp_path):
    with pytest.raises(ValueError):
        prismio.Writer(str(tmp_path / "x.holo"), compression="zip")


@pytest.mark.parametrize("keyframe", [1, 8])
def test_blocks_and_selections(tmp_path, keyframe):
    """Frames coded in blocks (keyframe 8, groups of 16 atoms) or alone:
    random frames, read() of atom selections equal to slices of full
    reads, and the header's version (2.1 with blocks, 2.0 without)."""
    p = str(tmp_path / "b.holo")
    frames = list(_frames(30))
    try:
        w = prismio.Writer(p, sync=False, compression="lossy", keyframe=keyframe,
                           group_atoms=16)
    except prismio.Error as e:
        assert "zstd" in str(e)
        pytest.skip("this build has no zstd")
    with w:
        for k, (x, v) in enumerate(frames):
            w.append(x, velocities=v, step=k)
    with open(p, "rb") as f:
        head = f.read(12)
    assert head[8:12] == bytes([2, 0, 1 if keyframe > 1 else 0, 0])
    with prismio.open(p) as t:
        full = t.read()
        for k in (29, 0, 17, 8, 9):
            assert np.array_equal(t[k].positions, full[k])
            assert np.array_equal(t[k].velocities, frames[k][1])
        sel = [0, 3, 15, 16, 40, 63]
        part = t.read(frames=slice(5, 25), atoms=sel)
        assert np.array_equal(part, full[5:25][:, sel])
        rev = t.read(frames=[20, 3, 11], atoms=[63, 2])  # any frame order; atoms sorted
        assert np.array_equal(rev, full[[20, 3, 11]][:, [2, 63]])
        with pytest.raises(prismio.Error):
            t.read(frames=[0], atoms=[64])
        t.verify()


def test_keyframe_argument(tmp_path):
    with pytest.raises(ValueError):
        prismio.Writer(str(tmp_path / "x.holo"), compression="lossy", keyframe=0)


def test_read_blocks_of_two_sizes(tmp_path):
    """read() of a blocked file whose frames change size: all atoms of
    frames of one size, or a selection across sizes; all atoms across
    sizes is a UsageError, as for raw files."""
    p = str(tmp_path / "two.holo")
    try:
        w = prismio.Writer(p, sync=False, compression="lossless", keyframe=4)
    except prismio.Error as e:
        assert "zstd" in str(e)
        pytest.skip("this build has no zstd")
    xs = [np.full((64 if k < 10 else 32, 3), k, dtype=np.float32) for k in range(16)]
    with w:
        for k, x in enumerate(xs):
            w.append(x, step=k)
    with prismio.open(p) as t:
        assert np.array_equal(t.read(frames=slice(0, 10)), np.stack(xs[:10]))
        assert np.array_equal(t.read(frames=[15, 10, 11]), np.stack([xs[15], xs[10], xs[11]]))
        sel = t.read(atoms=[0, 31])
        assert sel.shape == (16, 2, 3) and np.array_equal(sel[:, 0, 0], np.arange(16))
        with pytest.raises(prismio.UsageError):
            t.read()
        with pytest.raises(prismio.Error):
            t.read(atoms=[40])
