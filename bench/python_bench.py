"""Issue 8's benchmark, every ratio against a baseline measured in the same
run on the same data:

- MDAnalysis iterating every frame (ts.positions.sum()) through the HOLO
  reader, its own XTC reader and its own DCD reader (targets: 10x XTC, 3x
  DCD in frames/s);
- plain prismio iteration touching all positions (f.positions.sum()),
  opening the file afresh each time, next to the C benchmark, `prismio
  bench read FILE` (every value of every frame through zero-copy views of
  a fresh mapping): target 0.8x; and, for reference, next to the same
  sums over numpy copies held in memory.

Best of N runs; a run iterates the trajectory enough times to last a while
(small files have few frames).

usage: PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py PRISMIO XTC TOPOLOGY [N]
TOPOLOGY "-" makes a GRO from the XTC's first frame (generic atom names,
which iteration speed does not depend on).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
import MDAnalysis as mda  # noqa: E402

import prismio  # noqa: E402
import prismio.mdanalysis  # noqa: E402,F401


def best(fn, n):
    t = 1e9
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def main():
    cli, xtc, top = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    with tempfile.TemporaryDirectory() as d:
        holo, dcd = os.path.join(d, "t.holo"), os.path.join(d, "t.dcd")
        if top == "-":
            top = os.path.join(d, "top.gro")
            subprocess.run([cli, "convert", xtc, top, "--frames", "0", "--quiet"], check=True)
        subprocess.run([cli, "convert", xtc, holo, "--top", top, "--quiet"], check=True)
        subprocess.run([cli, "convert", holo, dcd, "--quiet"], check=True)
        univ = {k: mda.Universe(top, p) for k, p in (("holo", holo), ("xtc", xtc), ("dcd", dcd))}
        frames = univ["holo"].trajectory.n_frames
        natoms = univ["holo"].atoms.n_atoms
        passes = max(1, 2000 // frames)

        def iterate(u):
            def run():
                for _ in range(passes):
                    for ts in u.trajectory:
                        ts.positions.sum()
            return run

        t = {k: best(iterate(u), n) for k, u in univ.items()}
        rate = {k: frames * passes / t[k] for k in t}
        print(f"MDAnalysis, {frames} frames x {natoms} atoms ({os.path.basename(xtc)}), "
              f"{passes} passes, best of {n}:")
        for k in ("holo", "xtc", "dcd"):
            print(f"  {k:5s} reader  {rate[k]:10.0f} frames/s")
        print(f"  HOLO vs XTC {rate['holo'] / rate['xtc']:.2f}x (target 10x), "
              f"vs DCD {rate['holo'] / rate['dcd']:.2f}x (target 3x)")

        traj = prismio.open(holo)
        mem = [traj[i].positions.copy() for i in range(len(traj))]

        def plain():  # as the C benchmark: a fresh mapping each time
            for _ in range(passes):
                with prismio.open(holo) as t:
                    for f in t:
                        f.positions.sum()

        def limit():
            for _ in range(passes):
                for x in mem:
                    x.sum()

        tp, tl = best(plain, n), best(limit, n)
        py = frames * passes / tp
        out = subprocess.run([cli, "bench", "read", holo, "--json", "--repeat", str(max(n, 3)),
                              "--samples", "1000"], check=True, capture_output=True, text=True)
        c = json.loads(out.stdout)["seq_frames_per_s"]
        print(f"prismio iteration  {py:10.0f} frames/s; C benchmark (bench read, same file) "
              f"{c:10.0f} frames/s: {py / c:.2f}x (target 0.8x)")
        print(f"  (the same sums over numpy copies in memory: {frames * passes / tl:10.0f} "
              f"frames/s, {tl / tp:.2f}x)")
        traj.close(defer=True)


if __name__ == "__main__":
    main()
