"""Issue 8's benchmark: MDAnalysis iterating every frame of the same
trajectory through the HOLO reader, its XTC reader and its DCD reader, in
the same run; and plain prismio iteration touching all positions next to
the same loop over a numpy copy held in memory (the C-speed limit of the
touch itself). Ratios, best of N.

usage: PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py PRISMIO XTC TOPOLOGY [N]
"""
import os
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
import MDAnalysis as mda  # noqa: E402
import numpy as np  # noqa: E402

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
        subprocess.run([cli, "convert", xtc, holo, "--top", top, "--quiet"], check=True)
        subprocess.run([cli, "convert", holo, dcd, "--quiet"], check=True)
        univ = {k: mda.Universe(top, p) for k, p in (("holo", holo), ("xtc", xtc), ("dcd", dcd))}
        frames = univ["holo"].trajectory.n_frames

        def iterate(u):
            def run():
                for ts in u.trajectory:
                    ts.positions.sum()
            return run

        t = {k: best(iterate(u), n) for k, u in univ.items()}
        print(f"MDAnalysis, {frames} frames x {univ['holo'].atoms.n_atoms} atoms, best of {n}:")
        for k in ("holo", "xtc", "dcd"):
            print(f"  {k:5s} reader  {frames / t[k]:10.0f} frames/s")
        print(f"  HOLO vs XTC {t['xtc'] / t['holo']:.2f}x (target 10x), "
              f"vs DCD {t['dcd'] / t['holo']:.2f}x (target 3x)")

        traj = prismio.open(holo)
        mem = [traj[i].positions.copy() for i in range(len(traj))]

        def plain():
            for f in traj:
                f.positions.sum()

        def limit():
            for x in mem:
                x.sum()

        tp, tl = best(plain, n), best(limit, n)
        print(f"prismio iteration  {frames / tp:10.0f} frames/s; the same sums over arrays in "
              f"memory {frames / tl:10.0f} frames/s: {tl / tp:.2f}x (target 0.8x)")
        traj.close(defer=True)


if __name__ == "__main__":
    main()
