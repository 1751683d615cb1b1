"""Compare a HOLO file converted by prism-io with what MDAnalysis reads
from the original input: every frame's positions (and box, time when the
format has them), within a tolerance fit for the format.

usage: check_mdanalysis.py PRISMIO FILE.holo ORIGINAL [TOPOLOGY|-] [TOL_ANGSTROM]
Run with Debian's /usr/bin/python3 (MDAnalysis 2.4.2). Exit 0 when equal.
"""
import subprocess
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
import MDAnalysis as mda  # noqa: E402


def holo_frame(prismio, path, i):
    """Positions, velocities and forces (None when absent) of frame i, HOLO units."""
    out = subprocess.run([prismio, "dump", path, "--frame", str(i), "--format", "csv"],
                         check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    head = lines[0].split(",")
    cols = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    def part(name):
        if name not in head:
            return None
        k = head.index(name)
        return cols[:, k:k + 3].astype(np.float32)
    return part("x"), part("vx"), part("fx")


def holo_info(prismio, path):
    out = subprocess.run([prismio, "info", path, "--json"], check=True, capture_output=True,
                         text=True).stdout
    import json
    return json.loads(out)


def main():
    prismio, holo, orig = sys.argv[1:4]
    top = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
    tol = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    info = holo_info(prismio, holo)
    if top:
        u = mda.Universe(top, orig)
    elif orig.endswith(".xtc"):  # no topology needed to compare coordinates
        u = mda.Universe.empty(info["atoms"], trajectory=True)
        u.load_new(orig)
    else:
        u = mda.Universe(orig)
    bad = 0
    if info["frames"] != u.trajectory.n_frames:
        print(f"{holo}: {info['frames']} frames, MDAnalysis {u.trajectory.n_frames}")
        return 1
    worst = 0.0
    for ts in u.trajectory:
        x, v, f = holo_frame(prismio, holo, ts.frame)
        ours = x * np.float32(10.0)  # nm -> Angstrom
        if ours.shape != ts.positions.shape:
            print(f"frame {ts.frame}: shape {ours.shape} vs {ts.positions.shape}")
            return 1
        d = float(np.max(np.abs(ours - ts.positions)))
        # velocities (nm/ps -> A/ps) and forces (kJ/mol/nm -> kJ/mol/A), relative
        for name, arr, scale, has in (("velocities", v, 10.0, ts.has_velocities),
                                      ("forces", f, 0.1, ts.has_forces)):
            if not has:  # the format does not carry it (XTC, DCD, PDB, XYZ)
                continue
            if arr is None:
                print(f"frame {ts.frame}: {name} in the original, not in the HOLO file")
                return 1
            theirs = getattr(ts, name)
            rel = np.max(np.abs(arr * np.float32(scale) - theirs) / (1 + np.abs(theirs)))
            d = max(d, float(rel))
        worst = max(worst, d)
        if d > tol:
            bad += 1
            if bad < 5:
                print(f"frame {ts.frame}: max |diff| {d} A > {tol}")
    print(f"{holo} vs MDAnalysis on {orig}: {u.trajectory.n_frames} frames x {u.atoms.n_atoms} "
          f"atoms, max |diff| {worst:.3g} A (tolerance {tol})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
