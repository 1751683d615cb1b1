#!/usr/bin/python3
"""RMSF over a HOLO trajectory: Dask (prismio.dask) against plain numpy over
the mmap reader, in the same run (issue 27's dask_vs_numpy_ratio).

  numpy:  two passes of t.blocks() (views of 128 frames, no copy): the mean
          per atom, then the mean squared deviation
  dask:   prismio.dask.from_holo(chunks=128), the same two reductions,
          computed on a distributed.LocalCluster of 1 and of 2 worker
          processes (one thread each)

Keys (--json): numpy_s, dask_1worker_s, dask_2workers_s,
dask_vs_numpy_ratio (numpy_s / dask_1worker_s; target >= 0.77),
dask_2workers_speedup (dask_1worker_s / dask_2workers_s).

    /usr/bin/python3 bench/dask_rmsf.py --json [--gb 4] [--dir D]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "build", "python"))

import prismio  # noqa: E402
import prismio.dask as pdk  # noqa: E402


def rmsf_numpy(path):
    t = prismio.open(path, check=True)
    n = len(t)
    s = None
    for b in t.blocks(128):
        s = b.sum(axis=0, dtype=np.float64) if s is None else s + b.sum(axis=0, dtype=np.float64)
    mean = (s / n).astype(np.float32)
    acc = None
    for b in t.blocks(128):
        d = ((b - mean) ** 2).sum(axis=2, dtype=np.float64).sum(axis=0)
        acc = d if acc is None else acc + d
    del b  # the last view, before the mapping goes
    t.close()
    return np.sqrt(acc / n)


def rmsf_dask(path):
    x = pdk.from_holo(path, chunks=128)
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    return (((x - mean) ** 2).sum(axis=2, dtype=np.float64).mean(axis=0) ** 0.5).compute()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", type=float, default=4.0, help="trajectory size (default 4)")
    ap.add_argument("--atoms", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    from distributed import Client, LocalCluster
    d = tempfile.mkdtemp(prefix="pio-dask-", dir=a.dir)
    try:
        frames = max(1, int(a.gb * 1e9 / (a.atoms * 12)))
        path = os.path.join(d, "t.holo")
        cli = os.path.join(HERE, "..", "build", "prismio")
        subprocess.run([cli, "gen", path, "--atoms", str(a.atoms), "--frames", str(frames)],
                       check=True, capture_output=True)
        res = {"frames": frames, "atoms": a.atoms, "bytes": os.path.getsize(path)}
        ref = rmsf_numpy(path)  # warm the page cache
        best = {"numpy_s": 1e30, "dask_1worker_s": 1e30, "dask_2workers_s": 1e30}
        clusters = {}
        for k in (1, 2):
            c = LocalCluster(n_workers=k, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address="127.0.0.1:0")
            clusters[k] = (c, Client(c, set_as_default=False))
        try:
            for _ in range(a.repeat):  # in turns, each keeping its best
                t0 = time.perf_counter()
                rmsf_numpy(path)
                best["numpy_s"] = min(best["numpy_s"], time.perf_counter() - t0)
                for k, key in ((1, "dask_1worker_s"), (2, "dask_2workers_s")):
                    with clusters[k][1].as_current():
                        t0 = time.perf_counter()
                        got = rmsf_dask(path)
                        best[key] = min(best[key], time.perf_counter() - t0)
                    assert np.allclose(got, ref, rtol=1e-4, atol=1e-6)
        finally:
            for c, cl in clusters.values():
                cl.close()
                c.close()
        res.update({k: round(v, 3) for k, v in best.items()})
        res["dask_vs_numpy_ratio"] = round(best["numpy_s"] / best["dask_1worker_s"], 3)
        res["dask_2workers_speedup"] = round(best["dask_1worker_s"] / best["dask_2workers_s"], 3)
        if a.json:
            print(json.dumps(res, indent=1))
        else:
            for k, v in res.items():
                print("%-24s %s" % (k, v))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
