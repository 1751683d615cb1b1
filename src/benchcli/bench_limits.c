/*
 * prismio bench read FILE --limits DIR: the hardware-limit targets of
 * reading and writing (issue 24), each a ratio against a baseline measured
 * in the same run, on files made in DIR (and removed after):
 *
 *   cold_buffered_vs_dd_ratio     FILE read cold through a frame stream on
 *                                 each buffered engine / read() of it in
 *                                 1 MiB requests (dd bs=1M), cold too
 *   write_uring_vs_fio_ratio      `bench write --engine uring` / fio io_uring
 *   open_last_frame_us_1e6_frames open + last frame + close, C, 10^6 frames
 *                                 of 10 atoms (and at 10^2: O(1) shows)
 *   small_frame_size_vs_dcd_ratio 10-atom frames packed (2.2) / DCD bytes
 *   open_last_vs_dcd_ratio        MDAnalysis's DCD reader / prismio, open +
 *                                 last frame, in one Python
 *   python_iter_vs_memmap_ratio   np.memmap of FILE's positions as raw
 *                                 floats / iterating FILE (and blocks())
 *   mda_vs_ncdf_ratio             MDAnalysis iterating HOLO / its NetCDF
 *                                 reader, 12k and 100k atoms (the lower;
 *                                 and against DCD)
 *   python_iter_peak_rss_mb       peak RSS of a Python child iterating a
 *                                 file of --big-mb (default 3 GB)
 *
 * The Python parts run Debian's /usr/bin/python3 with a script written to
 * DIR, with the prismio package from PYTHONPATH or, else, next to this
 * program (build/python); where Python, numpy or MDAnalysis are missing
 * those keys are null and the reason is printed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD "bench read"

/* A HOLO file of synthetic frames (pio_synthetic_frame): nframes of
 * natoms, positions only, a fixed box when `box`, no scalars; packed K to
 * a record when keyframe > 1. 0 or an exit code (said). */
static int make_holo(const char *path, uint64_t nframes, uint64_t natoms, uint32_t keyframe,
                     bool box)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_OVERWRITE; /* durable: no writeback under what is timed next */
    o.keyframe = keyframe;
    struct pio_error e = {0};
    pio_writer *w = NULL;
    int rc = pio_writer_create(&w, path, &o, &e);
    float *x = malloc((size_t)natoms * 12);
    if (rc == 0 && !x) {
        pio_writer_close(w, NULL);
        cli_err(CMD, "%s: out of memory", path);
        return EXIT_IOERR;
    }
    struct pio_scalar sc[2];
    for (uint64_t i = 0; rc == 0 && i < nframes; i++) {
        struct pio_frame f;
        pio_synthetic_frame(i, natoms, 0, 7, x, NULL, NULL, sc, &f);
        f.nscalars = 0;
        f.fields = box ? PIO_FIELD_BOX : 0;
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                f.box[a][b] = a == b ? 5.0 : 0.0;
        rc = pio_writer_append(w, &f, &e);
    }
    if (w) {
        int crc = pio_writer_close(w, rc == 0 ? &e : NULL);
        rc = rc ? rc : crc;
    }
    free(x);
    return rc == 0 ? 0 : cli_fail(CMD, rc, &e);
}

static uint64_t file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Seconds to open path, view its last frame (first and last atom) and
 * close: the median of 15 runs (the first warms the page cache). */
static double open_last(const char *path)
{
    double t[15];
    for (int k = 0; k < 15; k++) {
        double t0 = cli_now();
        pio_reader *r;
        if (pio_reader_open(&r, path, NULL, NULL) != 0)
            return -1;
        struct pio_frame f;
        uint64_t n = pio_reader_nframes(r);
        if (n && pio_reader_frame(r, n - 1, &f, NULL) == 0)
            bench_sink += (uint64_t)(f.positions[0][0] + f.positions[f.natoms - 1][2]);
        pio_reader_close(r);
        t[k] = cli_now() - t0;
    }
    qsort(t, 15, sizeof(double), bench_cmp_double);
    return t[7];
}

/* Our cold stream of FILE on engine e next to read() in 1 MiB requests,
 * cold too, alternating, best of `repeat`: their time over ours. */
static double cold_ratio(const char *path, enum pio_io_engine eng, uint64_t repeat)
{
    double ours = -1, dd = -1;
    for (uint64_t k = 0; k < repeat; k++) {
        struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
        ro.engine = eng;
        bench_drop_cache(path);
        double t0 = cli_now();
        pio_reader *r;
        pio_frame_stream *st;
        struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
        if (pio_reader_open(&r, path, &ro, NULL) != 0)
            return -1;
        if (pio_frame_stream_open(&st, r, NULL, 0, &so, NULL) != 0) {
            pio_reader_close(r);
            return -1;
        }
        struct pio_frame f;
        uint64_t s = 0;
        int rc;
        while ((rc = pio_frame_stream_next(st, &f, NULL)) == 1) {
            s += bench_sum_words(f.positions, (size_t)f.natoms * 12);
            pio_frame_stream_release(st, &f);
        }
        pio_frame_stream_close(st);
        pio_reader_close(r);
        bench_sink += s;
        if (rc != 0)
            return -1;
        ours = bench_best(ours, cli_now() - t0);
        bench_drop_cache(path);
        dd = bench_best(dd, bench_raw_read(path));
    }
    return ours > 0 && dd > 0 ? dd / ours : -1;
}

/* `prismio bench write` on io_uring (this program, JSON): its ratio to
 * fio's io_uring at the same block size and depth, or < 0. */
static double write_uring_ratio(const char *dir, uint64_t repeat, uint64_t frames)
{
    char exe[4096], cmd[8800];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    snprintf(cmd, sizeof(cmd),
             "'%s' bench write '%s/limits-write.holo' --engine uring --frames %llu "
             "--repeat %llu --json 2>/dev/null",
             exe, dir, (unsigned long long)frames, (unsigned long long)repeat);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[4096];
    double ratio = -1;
    while (fgets(line, sizeof(line), p)) {
        const char *k = strstr(line, "\"ratio\":");
        if (k)
            ratio = atof(k + 8);
    }
    pclose(p);
    return ratio;
}

/* The Python half: prints `key value` lines (value "null" where it could
 * not measure, with a `note ...` line saying why). */
static const char py_script[] =
    "import os, resource, subprocess, sys, time, warnings\n"
    "warnings.filterwarnings(\"ignore\")\n"
    "a = dict(x.split(\"=\", 1) for x in sys.argv[1:])\n"
    "rep = int(a[\"repeat\"])\n"
    "def say(k, v):\n"
    "    print(k, \"null\" if v is None else \"%.6g\" % v, flush=True)\n"
    "try:\n"
    "    import numpy as np\n"
    "    import prismio\n"
    "except ImportError as e:\n"
    "    print(\"note python: %s\" % e)\n"
    "    sys.exit(0)\n"
    "def best(fns):\n"
    "    t = [1e9] * len(fns)\n"
    "    for _ in range(rep):\n"
    "        for j, fn in enumerate(fns):\n"
    "            t0 = time.perf_counter()\n"
    "            fn()\n"
    "            t[j] = min(t[j], time.perf_counter() - t0)\n"
    "    return t\n"
    "def median(fn, n=9):\n"
    "    t = []\n"
    "    for _ in range(n):\n"
    "        t0 = time.perf_counter()\n"
    "        fn()\n"
    "        t.append(time.perf_counter() - t0)\n"
    "    return sorted(t)[n // 2]\n"
    /* iteration and blocks() against np.memmap of the same raw floats */
    "f, raw = a[\"file\"], a[\"raw\"]\n"
    "with prismio.open(f) as t:\n"
    "    n = len(t)\n"
    "    na = {fr.natoms for fr in t}\n"
    "    fr = None\n"
    "    if len(na) == 1:\n"
    "        na = na.pop()\n"
    "        with open(raw, \"wb\") as o:\n"
    "            for fr in t:\n"
    "                o.write(fr.positions.tobytes())\n"
    "            os.fsync(o.fileno())\n"
    "        fr = None\n"
    "def recache(p):\n"
    "    # both files in the page cache the same way (dropped, then read()\n"
    "    # in 1 MiB requests): how pages came in sets the folios a mapping\n"
    "    # faults in, which changes the figures by up to 3x\n"
    "    fd = os.open(p, os.O_RDONLY)\n"
    "    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)\n"
    "    while os.read(fd, 1 << 20):\n"
    "        pass\n"
    "    os.close(fd)\n"
    "if isinstance(na, int):\n"
    "    recache(f)\n"
    "    recache(raw)\n"
    "    def ours():\n"
    "        with prismio.open(f) as t:\n"
    "            for fr in t:\n"
    "                fr.positions.sum()\n"
    "    def ours_blocks():\n"
    "        with prismio.open(f) as t:\n"
    "            for b in t.blocks():\n"
    "                b.sum(axis=(1, 2))\n"
    "    def mm():\n"
    "        m = np.memmap(raw, dtype=np.float32, mode=\"r\", shape=(n, na, 3))\n"
    "        for i in range(n):\n"
    "            m[i].sum()\n"
    "    def mm_blocks():\n"
    "        m = np.memmap(raw, dtype=np.float32, mode=\"r\", shape=(n, na, 3))\n"
    "        for i in range(0, n, 128):\n"
    "            m[i:i + 128].sum(axis=(1, 2))\n"
    "    t = best([ours, mm, ours_blocks, mm_blocks])\n"
    "    say(\"python_iter_vs_memmap_ratio\", t[1] / t[0])\n"
    "    say(\"python_blocks_vs_memmap_ratio\", t[3] / t[2])\n"
    "    os.unlink(raw)\n"
    "else:\n"
    "    print(\"note python iteration: FILE has frames of several atom counts\")\n"
    /* a child iterating the big file: its peak RSS (VmHWM: its own
     * mapping's, where ru_maxrss would count the parent's at the fork) and
     * its growth from before the loop */
    "code = (\"import prismio, sys\\n\"\n"
    "        \"def kb(k):\\n\"\n"
    "        \"    return [int(l.split()[1]) for l in open(\\\"/proc/self/status\\\") \"\n"
    "        \"if l.startswith(k)][0]\\n\"\n"
    "        \"t = prismio.open(sys.argv[1])\\n\"\n"
    "        \"r0 = kb(\\\"VmRSS\\\")\\n\"\n"
    "        \"for fr in t:\\n\"\n"
    "        \"    fr.positions.sum()\\n\"\n"
    "        \"print(kb(\\\"VmHWM\\\"), kb(\\\"VmHWM\\\") - r0)\\n\")\n"
    "r = subprocess.run([sys.executable, \"-c\", code, a[\"big\"]], capture_output=True, "
    "text=True)\n"
    "ok = r.returncode == 0 and len(r.stdout.split()) == 2\n"
    "say(\"python_iter_peak_rss_mb\", int(r.stdout.split()[0]) / 1024 if ok else None)\n"
    "say(\"python_iter_rss_growth_mb\", int(r.stdout.split()[1]) / 1024 if ok else None)\n"
    "if not ok:\n"
    "    print(\"note python child: %s\" % r.stderr.strip()[-300:])\n"
    "try:\n"
    "    import MDAnalysis as mda\n"
    "    import prismio.mdanalysis\n"
    "    from MDAnalysis.coordinates.DCD import DCDReader\n"
    "except ImportError as e:\n"
    "    print(\"note MDAnalysis: %s\" % e)\n"
    "    sys.exit(0)\n"
    /* open + last frame: MDAnalysis's DCD reader against prismio */
    "h, d = a[\"many\"], a[\"many_dcd\"]\n"
    "prismio.convert(h, d, overwrite=True)\n"
    "os.sync()\n"
    "def ours_last():\n"
    "    t = prismio.open(h)\n"
    "    float(t[-1].positions[0, 0])\n"
    "    t.close()\n"
    "def dcd_last():\n"
    "    r = DCDReader(d)\n"
    "    float(r[-1].positions[0, 0])\n"
    "    r.close()\n"
    "to = td = 1e9\n"
    "for _ in range(3):  # alternating rounds, the best median of each\n"
    "    to, td = min(to, median(ours_last)), min(td, median(dcd_last))\n"
    "say(\"open_last_python_us\", to * 1e6)\n"
    "say(\"open_last_dcd_us\", td * 1e6)\n"
    "say(\"open_last_vs_dcd_ratio\", td / to)\n"
    "os.unlink(d)\n"
    /* MDAnalysis iterating HOLO, NetCDF and DCD */
    "worst = None\n"
    "for key in (\"mda12k\", \"mda100k\"):\n"
    "    h = a[key]\n"
    "    base = h[:-5]\n"
    "    try:\n"
    "        prismio.convert(h, base + \".gro\", frames=[0], overwrite=True)\n"
    "        for ext in (\"ncdf\", \"dcd\"):\n"
    "            prismio.convert(h, base + \".\" + ext, overwrite=True)\n"
    "    except prismio.Error as e:\n"
    "        print(\"note MDAnalysis peers: %s\" % e)\n"
    "        break\n"
    "    os.sync()\n"
    "    def run(path, fmt=None):\n"
    "        u = mda.Universe(base + \".gro\", path, format=fmt) if fmt else "
    "mda.Universe(base + \".gro\", path)\n"
    "        def go():\n"
    "            for ts in u.trajectory:\n"
    "                pass\n"
    "        return go\n"
    "    t = best([run(h), run(base + \".ncdf\", \"NCDF\"), run(base + \".dcd\")])\n"
    "    say(key + \"_vs_ncdf_ratio\", t[1] / t[0])\n"
    "    say(key + \"_vs_dcd_ratio\", t[2] / t[0])\n"
    "    worst = t[1] / t[0] if worst is None else min(worst, t[1] / t[0])\n"

    "say(\"mda_vs_ncdf_ratio\", worst)\n";

struct kv {
    const char *key;
    double v; /* < 0: not measured */
};

static struct kv py_keys[] = {
    {"python_iter_vs_memmap_ratio", -1}, {"python_blocks_vs_memmap_ratio", -1},
    {"python_iter_peak_rss_mb", -1},     {"python_iter_rss_growth_mb", -1},
    {"open_last_python_us", -1},         {"open_last_dcd_us", -1},
    {"open_last_vs_dcd_ratio", -1},      {"mda12k_vs_ncdf_ratio", -1},
    {"mda12k_vs_dcd_ratio", -1},         {"mda100k_vs_ncdf_ratio", -1},
    {"mda100k_vs_dcd_ratio", -1},        {"mda_vs_ncdf_ratio", -1},
};
#define NPY (sizeof(py_keys) / sizeof(py_keys[0]))

/* Run the script; fill py_keys; notes go to stderr. */
static void run_python(const char *file, const char *dir, const char *big, const char *many,
                       const char *mda12, const char *mda100, uint64_t repeat)
{
    char script[4200], cmd[65536];
    snprintf(script, sizeof(script), "%s/limits.py", dir);
    FILE *s = fopen(script, "w");
    if (!s || fputs(py_script, s) < 0) {
        if (s)
            fclose(s);
        cli_err(CMD, "%s: cannot write the Python script", script);
        return;
    }
    fclose(s);
    /* the prismio package: PYTHONPATH's, else build/python next to us */
    char exe[4096] = "", pp[8192] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        const char *env = getenv("PYTHONPATH");
        snprintf(pp, sizeof(pp), "%s/python%s%s", dirname(exe), env ? ":" : "", env ? env : "");
    }
    snprintf(cmd, sizeof(cmd),
             "PYTHONPATH='%s' PYTHONWARNINGS=ignore /usr/bin/python3 '%s' 'file=%s' "
             "'raw=%s/limits-raw.f32' 'big=%s' 'many=%s' 'many_dcd=%s/limits-many.dcd' "
             "'mda12k=%s' 'mda100k=%s' 'repeat=%llu' 2>'%s.err'",
             pp, script, file, dir, big, many, dir, mda12, mda100, (unsigned long long)repeat,
             script);
    FILE *p = popen(cmd, "r");
    if (!p) {
        unlink(script);
        return;
    }
    char line[1024];
    while (fgets(line, sizeof(line), p)) {
        char key[128], val[64];
        bool known = false;
        if (sscanf(line, "%127s %63s", key, val) == 2)
            for (size_t k = 0; k < NPY; k++)
                if (strcmp(key, py_keys[k].key) == 0) {
                    known = true;
                    if (strcmp(val, "null") != 0)
                        py_keys[k].v = atof(val);
                }
        if (!known) /* notes, and a traceback if the script failed */
            fprintf(stderr, "  python: %s", line);
    }
    char errs[4300];
    snprintf(errs, sizeof(errs), "%s.err", script);
    if (pclose(p) != 0) { /* its traceback's end */
        FILE *ef = fopen(errs, "r");
        char buf[4096];
        size_t got = ef ? fread(buf, 1, sizeof(buf) - 1, ef) : 0;
        buf[got] = 0;
        if (ef)
            fclose(ef);
        const char *tail = buf;
        for (int nl = 0, k = (int)got - 1; k > 0; k--)
            if (buf[k] == '\n' && ++nl == 6) {
                tail = buf + k + 1;
                break;
            }
        fprintf(stderr, "  python: the script failed; its keys are null:\n%s", tail);
    }
    unlink(errs);
    unlink(script);
}

/* Every file this benchmark (or its Python half) made in dir: limits-*
 * and limits.py*, whatever stopped it. */
static void remove_made(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "limits-", 7) != 0 && strncmp(de->d_name, "limits.py", 9) != 0)
            continue;
        char p[8400];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
}

static void json_num(const char *key, double v)
{
    printf(",\"%s\":", key);
    if (v < 0)
        printf("null");
    else
        printf("%.4g", v);
}

static void line(const char *what, double v, const char *target)
{
    if (v < 0)
        printf("  %-46s not measured\n", what);
    else
        printf("  %-46s %10.3f   (%s)\n", what, v, target);
}

int bench_read_limits(const char *file, const char *dir, uint64_t repeat, uint64_t big_mb,
                      bool quick, bool json)
{
    /* --quick: every file 100 times smaller (a smoke run: the code paths,
     * not the figures) */
    uint64_t q = quick ? 100 : 1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_err(CMD, "%s: %s", dir, strerror(errno));
        return EXIT_IOERR;
    }
    char big[4200], many[4200], hundred[4200], small[4200], small_dcd[4200], mda12[4200],
        mda100[4200];
    snprintf(big, sizeof(big), "%s/limits-big.holo", dir);
    snprintf(many, sizeof(many), "%s/limits-1e6.holo", dir);
    snprintf(hundred, sizeof(hundred), "%s/limits-1e2.holo", dir);
    snprintf(small, sizeof(small), "%s/limits-small.holo", dir);
    snprintf(small_dcd, sizeof(small_dcd), "%s/limits-small.dcd", dir);
    snprintf(mda12, sizeof(mda12), "%s/limits-12k.holo", dir);
    snprintf(mda100, sizeof(mda100), "%s/limits-100k.holo", dir);
    if (!json)
        fprintf(stderr, "bench read --limits: making files in %s\n", dir);
    int rc = make_holo(big, big_mb * 1000000 / 1200000 + 1, 100000, 0, true);
    if (rc == 0)
        rc = make_holo(many, 1000000 / q, 10, 0, true);
    if (rc == 0)
        rc = make_holo(hundred, 100, 10, 0, true);
    if (rc == 0)
        rc = make_holo(small, 100000 / q, 10, 64, true);
    if (rc == 0)
        rc = make_holo(mda12, 500 / q + 2, 12000 / q, 0, true);
    if (rc == 0)
        rc = make_holo(mda100, 100 / q + 2, 100000 / q, 0, true);
    double cold[3] = {-1, -1, -1}, wr = -1, ol6 = -1, ol2 = -1, small_ratio = -1;
    static const enum pio_io_engine engs[3] = {PIO_IO_MMAP, PIO_IO_PREAD, PIO_IO_URING};
    if (rc == 0) {
        for (int k = 0; k < 3; k++)
            cold[k] = cold_ratio(file, engs[k], repeat);
        wr = write_uring_ratio(dir, repeat, 300 / q + 1);
        ol6 = open_last(many);
        ol2 = open_last(hundred);
        /* the packed frames' DCD, through the pipeline */
        struct pio_source src;
        struct pio_sink sink;
        struct pio_error e = {0};
        struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
        ko.flags = PIO_SINK_OVERWRITE;
        if (pio_source_open(&src, small, NULL, &e) == 0) {
            if (pio_sink_open(&sink, small_dcd, &ko, &e) == 0) {
                struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
                if (pio_pipeline_run(&src, &sink, &po, NULL, &e) == 0 && file_bytes(small_dcd))
                    small_ratio = (double)file_bytes(small) / (double)file_bytes(small_dcd);
                pio_sink_destroy(&sink);
            }
            pio_source_destroy(&src);
        }
        if (small_ratio < 0)
            cli_err(CMD, "%s: %s", small_dcd, e.message);
        run_python(file, dir, big, many, mda12, mda100, repeat);
    }
    remove_made(dir);
    rmdir(dir); /* if it is empty (made here) */
    if (rc != 0)
        return rc;
    if (json) {
        json_num("cold_buffered_vs_dd_ratio", cold[0]);
        json_num("cold_pread_vs_dd_ratio", cold[1]);
        json_num("cold_uring_vs_dd_ratio", cold[2]);
        json_num("write_uring_vs_fio_ratio", wr);
        json_num(quick ? "open_last_frame_us_1e4_frames" : "open_last_frame_us_1e6_frames",
                 ol6 < 0 ? -1 : ol6 * 1e6);
        json_num("open_last_frame_us_1e2_frames", ol2 < 0 ? -1 : ol2 * 1e6);
        json_num("small_frame_size_vs_dcd_ratio", small_ratio);
        for (size_t k = 0; k < NPY; k++)
            json_num(py_keys[k].key, py_keys[k].v);
        printf(",\"big_file_mb\":%llu,\"quick\":%s", (unsigned long long)big_mb,
               quick ? "true" : "false");
        return EXIT_OK;
    }
    printf("hardware limits (ratios against baselines in this run; targets in brackets)\n");
    line("cold read, mmap stream / dd bs=1M", cold[0], ">= 0.9");
    line("cold read, pread stream / dd bs=1M", cold[1], ">= 0.9");
    line("cold read, io_uring stream / dd bs=1M", cold[2], ">= 0.9");
    line("write, io_uring engine / fio io_uring", wr, ">= 1.0");
    line("open + last frame, 10^6 frames (us, C)", ol6 < 0 ? -1 : ol6 * 1e6, "as at 10^2");
    line("open + last frame, 10^2 frames (us, C)", ol2 < 0 ? -1 : ol2 * 1e6, "");
    line("10-atom frames packed, bytes / DCD's", small_ratio, "<= 1.1");
    static const char *const targets[NPY] = {">= 0.95", ">= 0.95", "MB, any size", "MB, <= 64",
                                             "",        "",        ">= 1",         ">= 1.5",
                                             ">= 3",    ">= 1.5",  ">= 3",         ">= 1.5"};
    for (size_t k = 0; k < NPY; k++)
        line(py_keys[k].key, py_keys[k].v, targets[k]);
    return EXIT_OK;
}
