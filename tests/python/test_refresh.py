"""Trajectory.refresh(): commits made after open are seen without reopening;
uncommitted frames are not; arrays from before stay valid. follow(): the
frames of a file being written, as they are committed."""
import numpy as np
import pytest

import prismio


def test_refresh_sees_commits(tmp_path):
    p = str(tmp_path / "live.holo")
    w = prismio.Writer(p, sync=False)
    w.append(np.zeros((4, 3)))
    w.commit()
    with prismio.open(p) as t:
        assert len(t) == 1 and t.refresh() == 0
        old = t[0].positions  # a view into the mapping of the time
        w.append(np.ones((4, 3)))
        assert t.refresh() == 0 and len(t) == 1  # appended, not committed
        w.commit()
        assert t.refresh() == 1 and len(t) == 2
        assert np.array_equal(t[1].positions, np.ones((4, 3)))
        assert np.array_equal(old, np.zeros((4, 3)))  # still valid
        for k in range(3):
            w.append(np.full((4, 3), k + 2.0))
            w.commit()
        assert t.refresh() == 3 and len(t) == 5
        assert np.array_equal(t.read()[:, 0, 0], [0, 1, 2, 3, 4])
        del old
    w.close()
    t = prismio.open(p)
    t.close()
    with pytest.raises(ValueError):
        t.refresh()


def test_follow_sees_every_commit_once_in_order(tmp_path):
    """follow() yields frames as another thread commits them, each once and
    in order, and stops `timeout` seconds after the last."""
    import threading
    import time
    p = str(tmp_path / "follow.holo")
    w = prismio.Writer(p, sync=False)
    w.append(np.zeros((3, 3)))
    w.commit()

    def write():
        for k in range(1, 25):
            w.append(np.full((3, 3), float(k)))
            if k % 3 == 0 or k == 24:  # commits at irregular points
                w.commit()
            time.sleep(0.002)
        w.close()

    th = threading.Thread(target=write)
    with prismio.open(p) as t:
        th.start()
        seen = [float(f.positions[0, 0]) for f in t.follow(timeout=2.0)]
        th.join()
    assert seen == [float(k) for k in range(25)]


def test_mdanalysis_universe_on_a_growing_file(tmp_path):
    """A Universe on a file being written sees new commits after
    u.trajectory.refresh(), and u.trajectory.follow() runs alongside."""
    mda = pytest.importorskip("MDAnalysis")
    import prismio.mdanalysis  # noqa: F401  (registers HOLO)
    p = str(tmp_path / "grow.holo")
    w = prismio.Writer(p, sync=False)
    w.append(np.zeros((5, 3)))
    w.commit()
    u = mda.Universe(p)
    assert len(u.trajectory) == 1 and u.atoms.n_atoms == 5
    for k in (1, 2):
        w.append(np.full((5, 3), float(k)))
    w.commit()
    assert u.trajectory.refresh() == 2 and len(u.trajectory) == 3
    assert np.allclose(u.trajectory[2].positions, 20.0)  # nm -> Angstrom
    w.append(np.full((5, 3), 3.0))
    w.commit()
    w.close()
    seen = [ts.positions[0, 0] for ts in u.trajectory.follow(start=1, timeout=0.2)]
    assert np.allclose(seen, [10.0, 20.0, 30.0])


def test_follow_ends_at_the_final_commit(tmp_path):
    """open(path, follow=True): iterating follows the file until its writer
    closes it (the final commit), without a timeout; .final says so."""
    import threading
    import time
    p = str(tmp_path / "final.holo")
    w = prismio.Writer(p, sync=False)
    w.commit()

    def write():
        for k in range(40):
            w.append(np.full((2, 3), float(k)))
            w.commit()
            time.sleep(0.001)
        w.close()

    th = threading.Thread(target=write)
    with prismio.open(p, follow=True) as t:
        assert not t.final
        th.start()
        t0 = time.monotonic()
        seen = [float(f.positions[0, 0]) for f in t]
        th.join()
        assert t.final and time.monotonic() - t0 < 30
    assert seen == [float(k) for k in range(40)]
    with prismio.open(p) as t:  # a finished file: iteration as usual
        assert t.final and len(list(t)) == 40


def test_follow_a_killed_writer(tmp_path):
    """A writer process killed with SIGKILL: follow() yields every committed
    frame, then stops after `timeout` with the file not final."""
    import os
    import signal
    import subprocess
    import sys
    import time
    p = str(tmp_path / "killed.holo")
    code = (
        "import numpy as np, prismio, sys, time\n"
        "w = prismio.Writer(sys.argv[1], sync=False)\n"
        "for k in range(100000):\n"
        "    w.append(np.full((2, 3), float(k)))\n"
        "    w.commit()\n"
        "    time.sleep(0.001)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, p], env=dict(os.environ))
    try:
        for _ in range(2000):
            if os.path.exists(p) and os.path.getsize(p) > 1024:
                break
            time.sleep(0.005)
        seen = []
        with prismio.open(p) as t:
            for f in t.follow(timeout=0.5):
                seen.append(float(f.positions[0, 0]))
                if len(seen) == 50:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
            assert not t.final
            n = len(t)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(seen) == n >= 50 and seen == [float(k) for k in range(n)]


def test_append_and_truncate(tmp_path):
    """Writer(path, append=True) adds frames after the file's own;
    truncate(n) keeps the first n (a restart from a checkpoint), and frames
    appended next follow them; a reader sees the shorter file on reopening."""
    p = str(tmp_path / "restart.holo")
    with prismio.Writer(p, sync=False) as w:
        for k in range(10):
            w.append(np.full((2, 3), float(k)), step=k * 100)
            w.commit()
    with prismio.Writer(p, append=True, sync=False) as w:
        assert w.nframes == 10
        w.truncate(6)
        assert w.nframes == 6
        for k in range(6, 9):
            w.append(np.full((2, 3), 50.0 + k), step=k * 100)
    with prismio.open(p) as t:
        assert len(t) == 9 and t.final
        assert list(t.read()[:, 0, 0]) == [0, 1, 2, 3, 4, 5, 56, 57, 58]
        t.verify()
    with pytest.raises(IndexError):
        with prismio.Writer(p, append=True, sync=False) as w:
            w.truncate(10)
    with pytest.raises(ValueError):
        prismio.Writer(p, append=True, metadata={"k": "v"})
