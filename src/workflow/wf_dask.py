# prismio run --executor dask: the helper that sends steps to a Dask
# cluster. prismio starts it as `python3 -c THIS SCHEDULER JOBS` (the build
# embeds this file in the program) and talks to it through pipes:
#
#   stdin, one JSON object per line:  {"id": N, "argv": [...], "cwd": DIR,
#                                      "out": FILE or null, "log": FILE}
#   stdout, first "ready THREADS" (or "error: MESSAGE" and exit 1), then
#   one line per finished step:       ID <tab> EXIT <tab> SECONDS <tab>
#                                      PEAK_RSS_KIB <tab> MESSAGE
#
# Each step runs on a worker as a child process (the prismio command
# line), its stdout to `out` (or the log) and stderr to `log`, paths
# relative to `cwd` (a directory every worker sees). SCHEDULER "" starts a
# LocalCluster of JOBS single-threaded worker processes. When stdin closes,
# steps not yet started are cancelled.
import io
import json
import sys
import threading
import time


def run_step(argv, cwd, out, log):
    import os
    import shutil
    import subprocess
    import time

    # the step dies with the worker (util-linux setpriv sets
    # PR_SET_PDEATHSIG and execs it: nothing runs between fork and exec)
    setpriv = shutil.which("setpriv")
    if setpriv:
        argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv
    t0 = time.monotonic()
    with open(os.path.join(cwd, log), "wb") as err:
        dest = open(os.path.join(cwd, out), "wb") if out else err
        try:
            p = subprocess.Popen(argv, cwd=cwd, stdout=dest, stderr=err)
        except OSError as x:
            return (-1, 0.0, 0, "cannot run %s: %s" % (argv[0], x))
        finally:
            if out:
                dest.close()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = 0
    rc = os.waitstatus_to_exitcode(status)
    if rc < 0:
        rc = 128 - rc
    return (rc, time.monotonic() - t0, int(ru.ru_maxrss), "")


def main():
    sched = sys.argv[1] if len(sys.argv) > 1 else ""
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    try:
        from distributed import Client, LocalCluster
    except ImportError as x:
        print("error: Dask is not installed (python3-distributed): %s" % x, flush=True)
        return 1
    cluster = None
    try:
        if sched:
            client = Client(sched, timeout=10)
            client.wait_for_workers(1, timeout=30)  # tasks need somewhere to run
        else:
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
    except Exception as x:
        print("error: cannot reach the Dask scheduler %s: %s"
              % (sched or "(a LocalCluster)", str(x).replace("\n", " ")), flush=True)
        return 1
    print("ready %d" % max(1, sum(client.nthreads().values())), flush=True)
    lock = threading.Lock()
    pending = set()
    ids = {}

    def done(fut, rid):
        try:
            rc, sec, rss, msg = fut.result()
        except Exception as x:
            rc, sec, rss, msg = -1, 0.0, 0, "the Dask task failed: %r" % x
        msg = msg.replace("\t", " ").replace("\n", " ")
        with lock:
            sys.stdout.write("%d\t%d\t%.6f\t%d\t%s\n" % (rid, rc, sec, rss, msg))
            sys.stdout.flush()
            pending.discard(fut)

    # paths are bytes: whatever is not UTF-8 goes through as it came
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")
    for line in stdin:
        req = json.loads(line)
        fut = client.submit(run_step, req["argv"], req["cwd"], req["out"], req["log"],
                            pure=False)
        with lock:
            pending.add(fut)
            ids[fut.key] = req["id"]
        fut.add_done_callback(lambda f, rid=req["id"]: done(f, rid))
    with lock:
        left = list(pending)
    if left:
        client.cancel(left)
    # every request gets its line (the cancelled ones' callbacks write them)
    for _ in range(200):
        with lock:
            if not pending:
                break
        time.sleep(0.05)
    with lock:
        for fut in list(pending):
            sys.stdout.write("%d\t-1\t0\t0\tcancelled\n" % ids.get(fut.key, -1))
        sys.stdout.flush()
        pending.clear()
    client.close()
    if cluster is not None:
        cluster.close()
    return 0


sys.exit(main())
