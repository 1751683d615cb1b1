/*
 * prismio bench remote URL: reading a remote HOLO file, next to baselines
 * measured in the same run on the same server.
 *
 *  - open: time and requests (pio_reader_remote_stats) of opening;
 *  - random frames: the latency of single frames far apart (each its own
 *    request), median and 90th percentile;
 *  - sequential: every frame through a frame stream (4 requests of up to
 *    4 MiB in flight), against `curl -o /dev/null` downloading the same
 *    object (http and https URLs; best of --repeat alternating runs);
 *  - with --xtc URL: time to the first and to the last frame against
 *    MDAnalysis reading the same trajectory as XTC after downloading it
 *    with curl (the only way to read an XTC: it has no index).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD "bench remote"

static int open_reader(const char *url, pio_reader **r, struct pio_error *e)
{
    return pio_reader_open(r, url, NULL, e);
}

/* Seconds for curl to download url to /dev/null, or -1. */
static double curl_seconds(const char *url)
{
    double t0 = cli_now();
    pid_t pid = fork();
    if (pid == 0) {
        execlp("curl", "curl", "-sf", "-o", "/dev/null", url, (char *)NULL);
        _exit(127);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return cli_now() - t0;
}

/* Every frame through a stream: seconds, or -1 (e set). */
static double stream_seconds(const char *url, bool verify, uint64_t *sum, struct pio_error *e)
{
    double t0 = cli_now();
    pio_reader *r;
    if (open_reader(url, &r, e) != 0)
        return -1;
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.flags = verify ? PIO_STREAM_VERIFY : 0;
    pio_frame_stream *s;
    int rc = pio_frame_stream_open(&s, r, NULL, pio_reader_nframes(r), &so, e);
    struct pio_frame f;
    while (rc == 0 && (rc = pio_frame_stream_next(s, &f, e)) == 1) {
        *sum += bench_sum_words(f.positions, (size_t)f.natoms * 12);
        pio_frame_stream_release(s, &f);
        rc = 0;
    }
    if (rc == 0 || rc == 1)
        pio_frame_stream_close(s);
    pio_reader_close(r);
    return rc == 0 ? cli_now() - t0 : -1;
}

/* Open and read frame i with a fresh reader: seconds, or -1. */
static double open_frame_seconds(const char *url, int64_t i, struct pio_error *e)
{
    double t0 = cli_now();
    pio_reader *r;
    if (open_reader(url, &r, e) != 0)
        return -1;
    uint64_t n = pio_reader_nframes(r);
    struct pio_frame f;
    int rc = n ? pio_reader_frame(r, i < 0 ? n - 1 : (uint64_t)i, &f, e) : -ERANGE;
    volatile uint64_t s = rc == 0 ? bench_sum_words(f.positions, (size_t)f.natoms * 12) : 0;
    (void)s;
    pio_reader_close(r);
    return rc == 0 ? cli_now() - t0 : -1;
}

/* MDAnalysis on the XTC at xtc_url after curl downloads it: seconds to the
 * first frame and to the last (each from the start of the download). */
static int mda_xtc(const char *xtc_url, uint64_t natoms, double *first, double *last)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "PYTHONWARNINGS=ignore /usr/bin/python3 -c '\n"
             "import os, subprocess, sys, tempfile, time, MDAnalysis as mda\n"
             "d = tempfile.mkdtemp()\n"
             "p = os.path.join(d, \"t.xtc\")\n"
             "res = []\n"
             "for which in (0, -1):\n"
             "    t0 = time.perf_counter()\n"
             "    subprocess.run([\"curl\", \"-sf\", \"-o\", p, sys.argv[1]], check=True)\n"
             "    u = mda.Universe.empty(%llu, trajectory=True)\n"
             "    u.load_new(p)\n"
             "    u.trajectory[which].positions.sum()\n"
             "    res.append(time.perf_counter() - t0)\n"
             "    os.unlink(p)\n"
             "    for f in os.listdir(d): os.unlink(os.path.join(d, f))\n"
             "os.rmdir(d)\n"
             "print(res[0], res[1])' '%s' 2>/dev/null",
             (unsigned long long)natoms, xtc_url);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int ok = fscanf(p, "%lf %lf", first, last) == 2;
    return pclose(p) == 0 && ok ? 0 : -1;
}

int bench_remote(int argc, char **argv)
{
    uint64_t repeat = 3, nrandom = 50;
    bool json = false;
    const char *xtc = NULL;
    struct cli_opt opts[] = {
        CLI_OPT_SIZE("repeat", &repeat, "R", 1, 100,
                     "alternating runs of each sequential read (default 3; the best counts)"),
        CLI_OPT_SIZE("random", &nrandom, "K", 1, 100000, "random frames timed (default 50)"),
        CLI_OPT_STRING("xtc", 0, &xtc, "URL",
                       "the same trajectory as XTC: time to the first and last frame next "
                       "to MDAnalysis on it after a download"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "URL",
        .min_args = 1,
        .max_args = 1,
        .about = "A remote HOLO file (http://, https:// or s3://) read by range requests:\n"
                 "opening (time and requests), single frames far apart (latency), and every\n"
                 "frame in order next to curl downloading the same object, in one run.\n",
        .more = "JSON keys: open_requests (target <= 3), open_ms, random_frame_ms (median),\n"
                "random_frame_p90_ms, sequential_MBps, sequential_verified_MBps, curl_MBps,\n"
                "sequential_vs_curl_ratio (target >= 0.8; http and https only); with --xtc:\n"
                "holo_first_frame_s, holo_last_frame_s, mda_xtc_first_frame_s,\n"
                "mda_xtc_last_frame_s and their ratios (XTC's time / ours).\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *url = cmd.args[0];
    if (!pio_path_is_remote(url))
        return cli_usage_error(&cmd, "%s is not an http://, https:// or s3:// URL", url);
    struct pio_error e = {0};

    /* opening */
    double open_best = 1e300;
    struct pio_remote_stats st = {0};
    uint64_t nframes = 0, natoms = 0;
    for (uint64_t k = 0; k < repeat; k++) {
        double t0 = cli_now();
        pio_reader *r;
        int rc = open_reader(url, &r, &e);
        if (rc != 0)
            return cli_fail(CMD, rc, &e);
        open_best = bench_best(open_best, cli_now() - t0);
        pio_reader_remote_stats(r, &st);
        nframes = pio_reader_nframes(r);
        struct pio_frame f;
        if (nframes && pio_reader_frame(r, 0, &f, NULL) == 0)
            natoms = f.natoms;
        pio_reader_close(r);
    }
    uint64_t open_requests = st.requests, size = st.size;
    if (nframes == 0) {
        cli_err(CMD, "%s: no frames", url);
        return EXIT_DATAERR;
    }

    /* random frames, far apart: one reader, each a request of its own */
    pio_reader *r;
    int rc = open_reader(url, &r, &e);
    if (rc != 0)
        return cli_fail(CMD, rc, &e);
    double *lat = calloc((size_t)nrandom, sizeof(double));
    uint64_t seed = 12345, got = 0;
    for (uint64_t k = 0; lat && k < nrandom; k++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t i = (seed >> 11) % nframes;
        struct pio_frame f;
        double t0 = cli_now();
        if ((rc = pio_reader_frame(r, i, &f, &e)) != 0)
            break;
        volatile uint64_t s = bench_sum_words(f.positions, (size_t)f.natoms * 12);
        (void)s;
        lat[got++] = cli_now() - t0;
    }
    pio_reader_close(r);
    if (rc != 0) {
        free(lat);
        return cli_fail(CMD, rc, &e);
    }
    qsort(lat, (size_t)got, sizeof(double), bench_cmp_double);
    double rand_med = got ? lat[got / 2] : NAN, rand_p90 = got ? lat[(got * 9) / 10] : NAN;
    free(lat);

    /* sequential, alternating with curl */
    bool http = strncmp(url, "http", 4) == 0;
    double seq = 1e300, seqv = 1e300, curl = 1e300;
    uint64_t sum = 0;
    for (uint64_t k = 0; k < repeat; k++) {
        double t = stream_seconds(url, false, &sum, &e);
        if (t < 0)
            return cli_fail(CMD, e.code ? e.code : -EIO, &e);
        seq = bench_best(seq, t);
        if ((t = stream_seconds(url, true, &sum, &e)) < 0)
            return cli_fail(CMD, e.code ? e.code : -EIO, &e);
        seqv = bench_best(seqv, t);
        if (http && (t = curl_seconds(url)) > 0)
            curl = bench_best(curl, t);
    }
    double mb = (double)size / 1e6;
    double seq_mbps = mb / seq, seqv_mbps = mb / seqv, curl_mbps = curl < 1e300 ? mb / curl : NAN;

    /* time to the first and last frame, against MDAnalysis on the XTC */
    double hf = NAN, hl = NAN, xf = NAN, xl = NAN;
    if (xtc) {
        hf = open_frame_seconds(url, 0, &e);
        hl = open_frame_seconds(url, -1, &e);
        if (mda_xtc(xtc, natoms, &xf, &xl) != 0) {
            cli_err(CMD, "MDAnalysis could not read %s (python3-mdanalysis, curl?)", xtc);
            xf = xl = NAN;
        }
    }

    if (json) {
        cli_json_printf("{\"url\":");
        cli_json_string(stdout, url);
        cli_json_printf(",\"bytes\":%llu,\"frames\":%llu,\"open_requests\":%llu,\"open_ms\":%.3f,"
                        "\"random_frame_ms\":%.3f,\"random_frame_p90_ms\":%.3f,"
                        "\"sequential_MBps\":%.1f,\"sequential_verified_MBps\":%.1f,"
                        "\"curl_MBps\":%.1f,\"sequential_vs_curl_ratio\":%.3f",
                        (unsigned long long)size, (unsigned long long)nframes,
                        (unsigned long long)open_requests, open_best * 1e3, rand_med * 1e3,
                        rand_p90 * 1e3, seq_mbps, seqv_mbps, curl_mbps, seq_mbps / curl_mbps);
        if (xtc)
            cli_json_printf(",\"holo_first_frame_s\":%.4f,\"holo_last_frame_s\":%.4f,"
                            "\"mda_xtc_first_frame_s\":%.4f,\"mda_xtc_last_frame_s\":%.4f,"
                            "\"first_frame_xtc_vs_holo_ratio\":%.2f,"
                            "\"last_frame_xtc_vs_holo_ratio\":%.2f",
                            hf, hl, xf, xl, xf / hf, xl / hl);
        cli_json_printf("}\n");
        return EXIT_OK;
    }
    printf("%s: %.1f MB, %llu frames\n", url, mb, (unsigned long long)nframes);
    printf("open:             %.2f ms, %llu requests (target <= 3)\n", open_best * 1e3,
           (unsigned long long)open_requests);
    printf("random frame:     %.2f ms median, %.2f ms p90 (%llu frames)\n", rand_med * 1e3,
           rand_p90 * 1e3, (unsigned long long)got);
    printf("sequential:       %.1f MB/s (%.1f MB/s with every frame's BLAKE3 checked)\n", seq_mbps,
           seqv_mbps);
    if (http && curl < 1e300)
        printf("curl download:    %.1f MB/s: sequential = %.2fx curl (target >= 0.8)\n", curl_mbps,
               seq_mbps / curl_mbps);
    else
        printf("curl download:    not measured (%s)\n",
               http ? "curl failed or is missing" : "http and https URLs only");
    if (xtc)
        printf("first frame:      %.3f s; MDAnalysis on the XTC after a download %.3f s "
               "(%.1fx)\nlast frame:       %.3f s; MDAnalysis %.3f s (%.1fx)\n",
               hf, xf, xf / hf, hl, xl, xl / hl);
    return EXIT_OK;
}
