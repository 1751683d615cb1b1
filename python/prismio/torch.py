"""PyTorch datasets over HOLO structure datasets (``prismio.dataset``).

    ds = prismio.torch.Dataset("train.holo", columns=("positions", "numbers",
                               "cell", "energy", "forces"))
    for batch in ds.loader(batch_size=128, shuffle=True, seed=0, num_workers=2):
        batch["positions"], batch["offsets"], batch["energy"], ...

Batches are gathered in C (one call for the whole batch) and become
tensors without a copy (``torch.from_numpy`` of the batch's memory).
Ragged by default (atoms concatenated, ``offsets`` of n + 1), padded with
``padded=True`` (``mask``, bool). Units: ``"ase"`` (A, eV/A; default) or
``"holo"`` (nm, kJ/mol/nm).

Map-style: ``ds[i]`` is one structure, ``ds[[i, j, ...]]`` a batch;
``DataLoader(ds, batch_size=None, sampler=ds.sampler(128, ...))`` (what
``ds.loader`` builds) fetches whole batches, so each batch costs one C
gather in whichever worker makes it. ``collate`` turns a list of samples
into a batch by gathering their indices again in one call. The dataset
pickles by path: each DataLoader worker maps the files itself.
Shuffling is deterministic by (seed, epoch) (``sampler.set_epoch``), and
``rank``/``world_size`` give each process of a distributed run its own
share (every structure once across ranks, each rank the same count).
"""
import math

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset as _TorchIterable

from . import dataset as _ds

DEFAULT_COLUMNS = ("positions", "numbers", "cell", "energy", "forces")


def _tensors(d, padded):
    out = {}
    for k, v in d.items():
        t = torch.from_numpy(v)
        if k == "mask":
            t = t.view(torch.bool)
        out[k] = t
    return out


_TORCH = {"<f4": torch.float32, "<f8": torch.float64, "<i4": torch.int32, "<i8": torch.int64,
          "|u1": torch.uint8}


def _views(base, layout):
    """Tensors over one uint8 buffer: name -> (offset, numpy dtype, shape)."""
    tb = torch.from_numpy(base)
    out = {}
    for k, (off, dt, shape) in layout.items():
        n = int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize
        t = tb[off:off + n].view(_TORCH[dt]).view(tuple(shape))
        out[k] = t.view(torch.bool) if k == "mask" else t
    return out


def _rebuild(base, layout):
    return _Batch.of(base, layout)


class _Batch(dict):
    """A batch (a dict of tensors, views of one buffer) that pickles as
    that buffer and its layout: how a DataLoader worker hands it over."""

    @classmethod
    def of(cls, base, layout):
        b = cls(_views(base, layout))
        b._base, b._layout = base, layout
        return b

    def __reduce__(self):
        return (_rebuild, (self._base, self._layout))


def _identity(x):
    return x


class Dataset(torch.utils.data.Dataset):
    """Dataset(path, columns=DEFAULT_COLUMNS, padded=False, units="ase",
    check=False, pinned=False)."""

    def __init__(self, path, columns=DEFAULT_COLUMNS, padded=False, units="ase", check=False,
                 pinned=False):
        self.path = path
        self.columns = tuple(columns)
        self.padded = bool(padded)
        self.units = units
        self.check = bool(check)
        self.pinned = bool(pinned)
        self._ds = None
        self._n = len(self._open())

    def _open(self):
        if self._ds is None:
            self._ds = _ds.Dataset(self.path, check=self.check)
        return self._ds

    def __getstate__(self):
        st = dict(self.__dict__)
        st["_ds"] = None  # each process maps the files itself
        return st

    def __len__(self):
        return self._n

    def batch(self, indices):
        """A dict of tensors for structures ``indices`` (one C gather). In
        a DataLoader worker, the batch is copied once into one buffer,
        every tensor a view of it, and travels to the main process as that
        buffer (one pickled array: PyTorch's default, a shared-memory file
        per tensor passed as a descriptor, measured 4x slower here)."""
        d, base = self._open().batch_region(indices, self.columns, self.padded, self.units,
                                            self.pinned)
        if torch.utils.data.get_worker_info() is None:
            return _tensors(d, self.padded)
        lo = base.ctypes.data
        return _Batch.of(base.copy(), {k: (v.ctypes.data - lo, v.dtype.str, v.shape)
                                       for k, v in d.items()})

    def __getitem__(self, i):
        if isinstance(i, (list, tuple, np.ndarray, torch.Tensor)):
            return self.batch(np.asarray(i, dtype=np.uint64))
        return self.batch(np.array([int(i)], dtype=np.uint64))

    def __getitems__(self, indices):  # torch >= 2.0's batched fetch
        return self.batch(np.asarray(indices, dtype=np.uint64))

    def collate(self, samples):
        """Samples (dicts from ``ds[i]``, or indices) as one batch,
        gathered again in one call; a batch (a dict) is returned as is."""
        if isinstance(samples, dict):
            return samples
        idx = [int(s["index"][0]) if isinstance(s, dict) else int(s) for s in samples]
        return self.batch(np.asarray(idx, dtype=np.uint64))

    def sampler(self, batch_size=128, shuffle=True, seed=0, drop_last=False, rank=0,
                world_size=1):
        return BatchSampler(len(self), batch_size, shuffle, seed, drop_last, rank, world_size)

    def loader(self, batch_size=128, shuffle=True, seed=0, drop_last=False, rank=0,
               world_size=1, num_workers=0, **kw):
        """A DataLoader of whole batches (dicts of tensors)."""
        return DataLoader(self, batch_size=None,
                          sampler=self.sampler(batch_size, shuffle, seed, drop_last, rank,
                                               world_size),
                          collate_fn=_identity, num_workers=num_workers, **kw)


class BatchSampler(torch.utils.data.Sampler):
    """Batches of indices of one epoch: a permutation by (seed, epoch)
    (``prismio.dataset.shuffle``, the same everywhere) or 0..n-1, this
    rank's share (structures rank, rank + world_size, ... of it; padded
    with the first ones so every rank has the same count, as
    DistributedSampler does, unless drop_last), cut into batches."""

    def __init__(self, n, batch_size=128, shuffle=True, seed=0, drop_last=False, rank=0,
                 world_size=1):
        if not 0 <= rank < world_size:
            raise ValueError("rank %d of %d" % (rank, world_size))
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.drop_last, self.rank, self.world_size, self.epoch = drop_last, rank, world_size, 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def _mine(self):
        order = (_ds.shuffle(self.n, self.seed, self.epoch) if self.shuffle
                 else np.arange(self.n, dtype=np.uint64))
        if self.world_size > 1:
            if self.drop_last:
                per = self.n // self.world_size
                order = order[:per * self.world_size]
            else:
                per = math.ceil(self.n / self.world_size)
                if per * self.world_size > self.n and self.n:
                    reps = math.ceil(per * self.world_size / self.n)
                    order = np.tile(order, reps)[:per * self.world_size]
            order = order[self.rank::self.world_size]
        return order

    def __iter__(self):
        order = self._mine()
        b = self.batch_size
        end = len(order) - (len(order) % b if self.drop_last else 0)
        for k in range(0, end, b):
            yield order[k:k + b]

    def __len__(self):
        m = len(self._mine())
        return m // self.batch_size if self.drop_last else math.ceil(m / self.batch_size)


class IterableDataset(_TorchIterable):
    """Batches of one epoch as an iterable: each DataLoader worker (and
    rank) takes its own batches of the same order. Use with
    ``DataLoader(it, batch_size=None, num_workers=W)``."""

    def __init__(self, path, batch_size=128, shuffle=True, seed=0, columns=DEFAULT_COLUMNS,
                 padded=False, units="ase", check=False, rank=0, world_size=1, drop_last=False):
        self.ds = Dataset(path, columns, padded, units, check)
        self.sampler = self.ds.sampler(batch_size, shuffle, seed, drop_last, rank, world_size)

    def set_epoch(self, epoch):
        self.sampler.set_epoch(epoch)

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        for k, idx in enumerate(self.sampler):
            if k % nw == wid:
                yield self.ds.batch(idx)
