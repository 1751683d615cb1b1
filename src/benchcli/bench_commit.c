/*
 * prismio bench commit FILE: what commits cost. The same frames (N atoms,
 * M frames) written with one commit at the end (the baseline), with a
 * commit after every frame, and after every 1,000, without fsync; and, with
 * --sync, the per-frame and per-1,000 runs again with fsync. Reported as
 * ratios against the baseline of the same run: file size, commits per
 * second, opening the per-frame file and reading its last frame (against
 * the baseline file), and the latency from a commit returning to a
 * follower (another thread woken by inotify, refreshing its reader)
 * seeing its frame.
 *
 * --format-1 measures HOLO 1.1 instead (what 0.1 wrote), where every
 * commit writes the whole index, padded to 4 KiB: a run whose index would
 * pass --max-index bytes is refused with the figure.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD "bench commit"

struct run {
    uint64_t every; /* a commit every this many frames (0: at the end only) */
    bool sync;
    double seconds;
    uint64_t bytes, commits;
    /* follower: latency of each commit, seconds (per-frame runs) */
    double *lat;
    uint64_t nlat;
};

/* A follower: woken by inotify when the file changes, refreshes its reader
 * and records when each commit's frames became visible. */
struct follower {
    int ino;
    pio_reader *r;
    _Atomic uint64_t want; /* frames the writer has committed */
    double *commit_at;     /* [frame count]: when the commit that made it returned */
    double *seen_at;
    uint64_t nframes;
    atomic_bool stop;
    int rc;
};

static void *follow_main(void *arg)
{
    struct follower *f = arg;
    uint64_t have = pio_reader_nframes(f->r);
    while (!atomic_load(&f->stop) || have < atomic_load(&f->want)) {
        struct pollfd p = {f->ino, POLLIN, 0};
        if (poll(&p, 1, 50) > 0) {
            char buf[4096];
            if (read(f->ino, buf, sizeof(buf)) < 0 && errno != EAGAIN)
                break;
        }
        uint64_t added = 0;
        struct pio_error e = {0};
        if ((f->rc = pio_reader_refresh(f->r, &added, &e)) != 0)
            break;
        if (added) {
            double now = cli_now();
            for (uint64_t i = have; i < have + added && i < f->nframes; i++)
                f->seen_at[i] = now;
            have += added;
        }
    }
    return NULL;
}

/* The index bytes 1.x commits write for `nframes` frames committed every
 * `every` frames: each commit an entry per frame so far, plus up to 4 KiB
 * of padding. */
static double index_bytes_1x(uint64_t nframes, uint64_t every)
{
    double total = 0;
    for (uint64_t n = every; n <= nframes; n += every)
        total += 128.0 + 32.0 * (double)n + 4096.0;
    return total;
}

/* The most frames whose per-frame commits stay under `budget` index bytes
 * in 1.x (16 M^2 + ~4240 M). */
static uint64_t max_frames_1x(uint64_t budget)
{
    double b = (double)budget;
    double m = (-4240.0 + sqrt(4240.0 * 4240.0 + 64.0 * b)) / 32.0;
    uint64_t n = m > 2 ? (uint64_t)m : 2;
    while (n > 2 && index_bytes_1x(n, 1) > b)
        n--;
    return n;
}

static int write_run(const char *path, uint64_t natoms, uint64_t nframes, const float *x,
                     struct run *run, bool follow, uint32_t flags)
{
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = PIO_WRITER_OVERWRITE | flags | (run->sync ? 0 : PIO_WRITER_NO_SYNC);
    struct pio_error e = {0};
    pio_writer *w;
    int rc = pio_writer_create(&w, path, &wo, &e);
    if (rc != 0)
        return cli_fail(CMD, rc, &e);
    struct follower fo = {.nframes = nframes, .ino = -1};
    pthread_t th;
    bool following = false;
    run->commits = 0;
    if (follow) {
        /* the first commit makes the file readable; the follower starts then */
        struct pio_frame fr = {.natoms = natoms, .step = 0, .time = 0, .positions = (void *)x};
        if ((rc = pio_writer_append(w, &fr, &e)) != 0 || (rc = pio_writer_commit(w, &e)) != 0) {
            pio_writer_close(w, NULL);
            return cli_fail(CMD, rc, &e);
        }
        fo.commit_at = calloc(nframes, sizeof(double));
        fo.seen_at = calloc(nframes, sizeof(double));
        fo.ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (!fo.commit_at || !fo.seen_at || fo.ino < 0 ||
            inotify_add_watch(fo.ino, path, IN_MODIFY) < 0 ||
            pio_reader_open(&fo.r, path, NULL, &e) != 0) {
            cli_err(CMD, "cannot start the follower: %s", e.message[0] ? e.message : "inotify");
            follow = false;
        } else {
            atomic_store(&fo.want, 1);
            following = pthread_create(&th, NULL, follow_main, &fo) == 0;
        }
    }
    double t0 = cli_now();
    for (uint64_t f = follow ? 1 : 0; f < nframes && rc == 0; f++) {
        struct pio_frame fr = {.natoms = natoms,
                               .step = (int64_t)f,
                               .time = (double)f * 0.002,
                               .positions = (const float(*)[3])(x + (f % 4) * natoms * 3)};
        rc = pio_writer_append(w, &fr, &e);
        if (rc == 0 && run->every && (f + 1) % run->every == 0) {
            rc = pio_writer_commit(w, &e);
            run->commits++;
            if (following) {
                fo.commit_at[f] = cli_now();
                atomic_store(&fo.want, f + 1);
            }
        }
    }
    int crc = pio_writer_close(w, rc == 0 ? &e : NULL);
    run->seconds = cli_now() - t0;
    if (rc == 0)
        rc = crc;
    if (following) {
        atomic_store(&fo.stop, true);
        pthread_join(th, NULL);
        run->lat = malloc(nframes * sizeof(double));
        run->nlat = 0;
        for (uint64_t i = 1; run->lat && i < nframes; i++)
            if (fo.commit_at[i] > 0 && fo.seen_at[i] > 0)
                run->lat[run->nlat++] =
                    fo.seen_at[i] > fo.commit_at[i] ? fo.seen_at[i] - fo.commit_at[i] : 0.0;
    }
    if (fo.r)
        pio_reader_close(fo.r);
    if (fo.ino >= 0)
        close(fo.ino);
    free(fo.commit_at);
    free(fo.seen_at);
    if (rc != 0)
        return cli_fail(CMD, rc, &e);
    if (following && fo.rc != 0) {
        cli_err(CMD, "the follower failed: %s", pio_strerror(fo.rc));
        return EXIT_IOERR;
    }
    struct stat st;
    run->bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    return EXIT_OK;
}

/* Median seconds to open `path` and view its last frame (7 runs). */
static double open_last(const char *path)
{
    double t[7];
    for (int k = 0; k < 7; k++) {
        double t0 = cli_now();
        pio_reader *r;
        struct pio_error e = {0};
        if (pio_reader_open(&r, path, NULL, &e) != 0)
            return -1;
        struct pio_frame f;
        if (pio_reader_frame(r, pio_reader_nframes(r) - 1, &f, &e) == 0)
            bench_sink += f.natoms;
        pio_reader_close(r);
        t[k] = cli_now() - t0;
    }
    qsort(t, 7, sizeof(double), bench_cmp_double);
    return t[3];
}

static double pct(const double *v, uint64_t n, double p)
{
    return n ? v[(uint64_t)(p * (double)(n - 1) + 0.5)] : -1;
}

int bench_commit(int argc, char **argv)
{
    uint64_t natoms = 100, nframes = 100000, max_index = 2ull << 30;
    bool json = false, sync = false, format1 = false;
    struct cli_opt opts[] = {
        CLI_OPT_SIZE("atoms", &natoms, "N", 1, PIO_HOLO_MAX_ATOMS, "atoms per frame (default 100)"),
        CLI_OPT_SIZE("frames", &nframes, "M", 2, 0, "frames (default 100000)"),
        CLI_OPT_FLAG("sync", 0, &sync, "also the per-frame and per-1,000 runs with fsync"),
        CLI_OPT_FLAG("format-1", 0, &format1, "write HOLO 1.1 files (what prismio 0.1 wrote)"),
        CLI_OPT_SIZE("max-index", &max_index, "BYTES", 1, 0,
                     "with --format-1, refuse a run that would write more index bytes than "
                     "this (default 2G)"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "FILE.holo",
        .min_args = 1,
        .max_args = 1,
        .about = "M frames of N atoms written to FILE with one commit (the baseline), a\n"
                 "commit after every frame and after every 1,000, without fsync (and with\n"
                 "it, --sync), in one run: file size and open + last frame against the\n"
                 "baseline, commits per second, and how soon a follower (a thread woken\n"
                 "by inotify, refreshing its reader) sees each per-frame commit.\n",
        .more = "HOLO 1.1 (--format-1) makes per-frame commits quadratic (each commit\n"
                "writes the whole index): a run that would write more than --max-index\n"
                "bytes of index is refused with the figure.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    int vmajor = format1 ? 1 : PIO_HOLO_VERSION_MAJOR,
        vminor = format1 ? 1 : PIO_HOLO_VERSION_MINOR;
    if (format1 && index_bytes_1x(nframes, 1) > (double)max_index) {
        cli_err(CMD,
                "per-frame commits of %llu frames would write %.1f GB of index in HOLO %d.%d "
                "(every commit writes the whole index); --frames %llu stays under --max-index",
                (unsigned long long)nframes, index_bytes_1x(nframes, 1) / 1e9, vmajor, vminor,
                (unsigned long long)max_frames_1x(max_index));
        return EXIT_USAGE;
    }
    float *x = malloc((size_t)natoms * 12 * 4);
    if (!x) {
        cli_err(CMD, "out of memory");
        return EXIT_IOERR;
    }
    for (size_t j = 0; j < natoms * 12; j++)
        x[j] = (float)((j * 2654435761u) % 100000) * 1e-4f;
    char p[4096];
    struct run runs[5] = {{.every = 0},
                          {.every = 1},
                          {.every = 1000},
                          {.every = 1, .sync = true},
                          {.every = 1000, .sync = true}};
    int nruns = sync ? 5 : 3, status = EXIT_OK;
    double open_single = -1, open_per = -1;
    for (int k = 0; k < nruns && status == EXIT_OK; k++) {
        snprintf(p, sizeof(p), "%s.%d", path, k);
        status =
            write_run(p, natoms, nframes, x, &runs[k], k == 1, format1 ? PIO_WRITER_FORMAT_1 : 0);
        if (status == EXIT_OK && k == 0)
            open_single = open_last(p);
        if (status == EXIT_OK && k == 1)
            open_per = open_last(p);
        unlink(p);
    }
    free(x);
    if (status != EXIT_OK)
        return status;
    struct run *one = &runs[0], *per = &runs[1];
    if (per->lat)
        qsort(per->lat, per->nlat, sizeof(double), bench_cmp_double);
    double cps = (double)per->commits / per->seconds;
    double size_ratio = (double)one->bytes / (double)per->bytes;
    double p50 = pct(per->lat, per->nlat, 0.5) * 1e3, p99 = pct(per->lat, per->nlat, 0.99) * 1e3;
    if (json) {
        printf("{\"benchmark\":\"commit\",\"atoms\":%llu,\"frames\":%llu,\"format\":\"%d.%d\"",
               (unsigned long long)natoms, (unsigned long long)nframes, vmajor, vminor);
        cli_json_printf(",\"single_commit_bytes\":%llu,\"per_frame_bytes\":%llu,"
                        "\"per_1000_bytes\":%llu,\"single_vs_per_frame_size_ratio\":%.4f,"
                        "\"commits_per_second\":%.0f,\"per_frame_vs_single_time_ratio\":%.4f,"
                        "\"open_last_frame_ms\":%.4f,\"open_last_vs_single_ratio\":%.4f,"
                        "\"follow_latency_p50_ms\":%.4f,\"follow_latency_p99_ms\":%.4f,"
                        "\"follow_samples\":%llu",
                        (unsigned long long)one->bytes, (unsigned long long)per->bytes,
                        (unsigned long long)runs[2].bytes, size_ratio, cps,
                        one->seconds / per->seconds, open_per * 1e3, open_single / open_per, p50,
                        p99, (unsigned long long)per->nlat);
        if (sync)
            cli_json_printf(",\"sync_commits_per_second\":%.0f,\"sync_per_1000_seconds\":%.4f",
                            (double)runs[3].commits / runs[3].seconds, runs[4].seconds);
        printf("}\n");
    } else {
        printf("HOLO %d.%d commits: %llu frames x %llu atoms, without fsync\n", vmajor, vminor,
               (unsigned long long)nframes, (unsigned long long)natoms);
        printf("  one commit (baseline)   %10.1f MB  %8.3f s\n", (double)one->bytes / 1e6,
               one->seconds);
        printf("  a commit every frame    %10.1f MB  %8.3f s  size ratio %.3f (single/per-frame)"
               "  %.0f commits/s\n",
               (double)per->bytes / 1e6, per->seconds, size_ratio, cps);
        printf("  a commit every 1,000    %10.1f MB  %8.3f s\n", (double)runs[2].bytes / 1e6,
               runs[2].seconds);
        printf("  open + last frame       %8.3f ms per-frame file, %.3f ms single (%.2fx)\n",
               open_per * 1e3, open_single * 1e3, open_single / open_per);
        printf("  follower (inotify)      p50 %.3f ms  p99 %.3f ms  (%llu commits seen)\n", p50,
               p99, (unsigned long long)per->nlat);
        if (sync)
            printf("  with fsync: %.0f commits/s per frame; every 1,000: %.3f s\n",
                   (double)runs[3].commits / runs[3].seconds, runs[4].seconds);
    }
    free(per->lat);
    return EXIT_OK;
}
