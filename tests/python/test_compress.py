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
        assert sum(len(b) for b in blocks) == 40
        assert np.abs(np.concatenate(blocks) - allx).max() == 0
        t.verify()


def test_compression_argument(tmp_path):
    with pytest.raises(ValueError):
        prismio.Writer(str(tmp_path / "x.holo"), compression="zip")
