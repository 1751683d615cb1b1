/*
 * prismio bench: benchmarks that always measure a baseline in the same run
 * and report ratios, never bare timings (machines here are shared and
 * noisy). Every benchmark takes --json and then prints one JSON object.
 *
 *   bench hash FILE   BLAKE3 GB/s per tier (one thread) and per thread
 *                     count, next to the reference b3sum on the same file.
 *   bench read FILE   HOLO reading through zero-copy views, sequential and
 *                     random, next to a raw scan of the same file's mapping.
 *   bench write FILE  the HOLO writer (hashing every frame, fdatasync at the
 *                     end) next to fio writing as many bytes, end_fsync=1.
 */
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli.h"

#define CMD "bench"

/* Bytes of a frame's record (docs/FORMAT.md): header, each array padded
 * to 64, the scalar table padded to 64. */
static uint64_t record_bytes(uint64_t natoms, int arrays, uint32_t nscalars)
{
    return 192 + (uint64_t)arrays * ((natoms * 12 + 63) / 64 * 64) +
           ((uint64_t)nscalars * 32 + 63) / 64 * 64;
}

extern char **environ;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: prismio bench BENCHMARK [OPTIONS]\n\n"
            "benchmarks:\n"
            "  hash FILE [--repeat N] [--json] [--no-baseline]\n"
            "      BLAKE3 throughput of FILE (mapped, warm) for each tier on one thread\n"
            "      and for 1..all threads, next to `b3sum --num-threads 1` and `b3sum`\n"
            "      run on the same file in the same run (best of N runs each, N=5).\n"
            "  read FILE.holo [--repeat N] [--samples N] [--json]\n"
            "       [--engine mmap|pread|uring] [--direct] [--cold] [--qd N]\n"
            "      Sequential: every array value of every frame through zero-copy views,\n"
            "      next to a raw scan of the same file's bytes (fresh mapping each run).\n"
            "      Random: per-frame latency (view + first and last atom) of N random\n"
            "      frames (default 100000), warm, next to raw pointer access to the same\n"
            "      bytes. Open: median time to open and close the file.\n"
            "      With --engine, the sequential part reads a frame stream on that engine\n"
            "      (queue depth --qd; default 32 with --direct, else ~4 MiB of buffers)\n"
            "      against read() of the file (warm), or,\n"
            "      with --cold --direct, against fio at the same block size and depth.\n"
            "      --cold drops the file's pages before each run (posix_fadvise).\n"
            "  write FILE.holo [--atoms N] [--frames M] [--engine pread|uring] [--direct]\n"
            "       [--repeat N] [--json]\n"
            "      The writer (BLAKE3 of every record, durable commit at the end) writing\n"
            "      M frames of N atoms (default 100000 x 1000), next to fio writing the same\n"
            "      bytes in record-sized blocks with end_fsync=1, as the engine writes\n"
            "      (pread: psync; uring: io_uring, depth 4; O_DIRECT with --direct);\n"
            "      best of N runs (3).\n"
            "  ring [--items N] [--json]\n"
            "      SPSC ring and MPMC queue items/s next to ck_ring (see bench ring --help).\n"
            "  convert FILE.holo [--frames S] [--atoms S] [--threads N] [--memory B] [--cold]\n"
            "       [--repeat N] [--json]\n"
            "      The pipeline (HOLO to HOLO, durable) next to read() of the same file, same\n"
            "      cache state. With FILE.xtc (or another foreign format): decoding next\n"
            "      to MDAnalysis, conversion to HOLO next to the decode (bench convert --help).\n"
            "  arrow FILE.holo [--out DIR] [--repeat N] [--json]\n"
            "      Arrow IPC export next to memcpy and write() of the same bytes; C Data\n"
            "      Interface export time for ranges of 1 to all frames (bench arrow --help).\n");
}

/* The tail of every benchmark's option loop: --help, a stray option, or
 * the one FILE. -1 to go on parsing, else the exit code to return. */
static int positional(const char *bench, const char *arg, const char **path)
{
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (arg[0] == '-' || *path) {
        cli_err(CMD, "%s: unexpected argument '%s' (see --help)", bench, arg);
        return EXIT_USAGE;
    }
    *path = arg;
    return -1;
}

static int no_file(const char *bench)
{
    cli_err(CMD, "%s: no FILE given (see --help)", bench);
    return EXIT_USAGE;
}

/* Wall time of one run of argv (stdout to /dev/null), or < 0 on failure. */
static double time_command(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    double t0 = cli_now();
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    double t = cli_now() - t0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? t : -1;
}

static double time_ours(const char *path, unsigned threads)
{
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    double t0 = cli_now();
    if (cli_hash_path(path, &h, threads, false) != 0)
        return -1;
    uint8_t out[32];
    pio_blake3_hasher_finalize(&h, out, sizeof(out));
    return cli_now() - t0;
}

static double best(double cur, double t)
{
    return (t >= 0 && (cur < 0 || t < cur)) ? t : cur;
}

static int bench_hash(int argc, char **argv)
{
    const char *path = NULL;
    uint64_t repeat = 5;
    bool json = false, baseline = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--no-baseline") == 0)
            baseline = false;
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            if (!cli_parse_u64(argv[++i], &repeat, false) || repeat == 0 || repeat > 1000) {
                cli_err(CMD, "hash: invalid --repeat '%s' (1 to 1000)", argv[i]);
                return EXIT_USAGE;
            }
        } else {
            int rc = positional("hash", argv[i], &path);
            if (rc >= 0)
                return rc;
        }
    }
    if (!path)
        return no_file("hash");
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_err(CMD, "hash: %s: %s", path, strerror(errno));
        return EXIT_NOINPUT;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        cli_err(CMD, "hash: %s: not a non-empty regular file", path);
        return EXIT_USAGE;
    }
    double bytes = (double)st.st_size;
    unsigned cores = 0;
    {
        /* the library's default thread count is what "all threads" means */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cores = n > 0 ? (unsigned)n : 1;
    }
    if (cores > 64)
        cores = 64;

    /* Warm the page cache and the thread pool. */
    if (time_ours(path, 0) < 0) {
        cli_err(CMD, "hash: %s: cannot read", path);
        return EXIT_IOERR;
    }

    double tier_t[PIO_BLAKE3_TIER_COUNT], thr_t[65];
    double b3_1 = -1, b3_all = -1, b3_start = -1;
    for (int t = 0; t < PIO_BLAKE3_TIER_COUNT; t++)
        tier_t[t] = -1;
    for (unsigned n = 0; n <= 64; n++)
        thr_t[n] = -1;
    char *b3_1_argv[] = {"b3sum", "--num-threads", "1", (char *)path, NULL};
    char *b3_all_argv[] = {"b3sum", (char *)path, NULL};
    char *b3_empty_argv[] = {"b3sum", "--num-threads", "1", "/dev/null", NULL};
    if (baseline && time_command(b3_empty_argv) < 0) {
        if (!json)
            fprintf(stderr, "prismio bench: hash: b3sum not found: no baseline\n");
        baseline = false;
    }

    /* Interleave configurations across repetitions so that drift in the
     * machine's speed hits all of them alike; keep each one's best run. */
    for (uint64_t r = 0; r < repeat; r++) {
        for (int t = 0; t < PIO_BLAKE3_TIER_COUNT; t++) {
            if (!pio_blake3_tier_supported((enum pio_blake3_tier)t))
                continue;
            pio_blake3_tier_force((enum pio_blake3_tier)t);
            tier_t[t] = best(tier_t[t], time_ours(path, 1));
        }
        pio_blake3_tier_force(PIO_BLAKE3_TIER_AUTO);
        for (unsigned n = 1; n <= cores; n++)
            thr_t[n] = best(thr_t[n], time_ours(path, n));
        if (baseline) {
            b3_start = best(b3_start, time_command(b3_empty_argv));
            b3_1 = best(b3_1, time_command(b3_1_argv));
            b3_all = best(b3_all, time_command(b3_all_argv));
        }
    }
    /* b3sum's times include starting a process; take that out (measured
     * as b3sum on an empty input) so only hashing is compared. */
    double b3_1_gbps = -1, b3_all_gbps = -1;
    if (baseline && b3_1 > 0 && b3_all > 0) {
        b3_1_gbps = bytes / (b3_1 - (b3_start < b3_1 ? b3_start : 0)) / 1e9;
        b3_all_gbps = bytes / (b3_all - (b3_start < b3_all ? b3_start : 0)) / 1e9;
    }
    enum pio_blake3_tier auto_tier = pio_blake3_tier_active();
    double ours_1 = bytes / thr_t[1] / 1e9, ours_all = bytes / thr_t[cores] / 1e9;

    if (json) {
        printf("{\"benchmark\":\"hash\",\"file\":");
        cli_json_string(stdout, path);
        cli_json_printf(
            ",\"bytes\":%lld,\"repeat\":%llu,\"cores\":%u,\"tier\":\"%s\",\"tiers_1t_gbps\":{",
            (long long)st.st_size, (unsigned long long)repeat, cores,
            pio_blake3_tier_name(auto_tier));
        const char *sep = "";
        for (int t = 0; t < PIO_BLAKE3_TIER_COUNT; t++) {
            if (tier_t[t] < 0)
                continue;
            cli_json_printf("%s\"%s\":%.3f", sep, pio_blake3_tier_name((enum pio_blake3_tier)t),
                            bytes / tier_t[t] / 1e9);
            sep = ",";
        }
        printf("},\"threads_gbps\":{");
        for (unsigned n = 1; n <= cores; n++)
            cli_json_printf("%s\"%u\":%.3f", n > 1 ? "," : "", n, bytes / thr_t[n] / 1e9);
        printf("}");
        if (b3_1_gbps > 0)
            cli_json_printf(",\"b3sum_1t_gbps\":%.3f,\"b3sum_gbps\":%.3f,\"b3sum_startup_s\":%.6f,"
                            "\"ratio_1t\":%.3f,\"ratio_all\":%.3f",
                            b3_1_gbps, b3_all_gbps, b3_start, ours_1 / b3_1_gbps,
                            ours_all / b3_all_gbps);
        printf("}\n");
        return EXIT_OK;
    }
    printf("BLAKE3 on %s (%.0f MB, warm, best of %llu)\n", path, bytes / 1e6,
           (unsigned long long)repeat);
    for (int t = 0; t < PIO_BLAKE3_TIER_COUNT; t++)
        if (tier_t[t] > 0)
            printf("  tier %-9s 1 thread   %7.2f GB/s\n",
                   pio_blake3_tier_name((enum pio_blake3_tier)t), bytes / tier_t[t] / 1e9);
    for (unsigned n = 1; n <= cores; n++)
        printf("  tier %-9s %u thread%s %7.2f GB/s\n", pio_blake3_tier_name(auto_tier), n,
               n > 1 ? "s" : " ", bytes / thr_t[n] / 1e9);
    if (b3_1_gbps > 0) {
        printf("  b3sum --num-threads 1    %7.2f GB/s   ratio %.2fx\n", b3_1_gbps,
               ours_1 / b3_1_gbps);
        printf("  b3sum (all threads)      %7.2f GB/s   ratio %.2fx\n", b3_all_gbps,
               ours_all / b3_all_gbps);
        printf("  (b3sum start-up, %.2f ms, subtracted from its times)\n", b3_start * 1e3);
    }
    return EXIT_OK;
}

/* The work both sides do per byte: an integer sum of 32-bit words
 * (vectorises freely; floats would not without reassociation). */
static uint64_t sum_words(const void *p, size_t bytes)
{
    const uint32_t *w = p;
    size_t n = bytes / 4;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += w[i];
    return s;
}

static volatile uint64_t bench_sink;

/* Raw limit: map the file and sum every word of it. */
static double raw_scan(const char *path, uint64_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    double t0 = cli_now();
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return -1;
    }
    bench_sink += sum_words(m, (size_t)size);
    munmap(m, (size_t)size);
    double t = cli_now() - t0;
    close(fd);
    return t;
}

/* Ours: open, every frame's view, sum every array; bytes of arrays out.
 * flags: reader flags (PIO_READER_CHECK_FRAMES: each frame hashed first). */
static double read_all(const char *path, uint32_t flags, uint64_t *array_bytes)
{
    double t0 = cli_now();
    pio_reader *r;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = flags;
    if (pio_reader_open(&r, path, &ro, NULL) != 0)
        return -1;
    uint64_t n = pio_reader_nframes(r), bytes = 0, s = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct pio_frame f;
        if (pio_reader_frame(r, i, &f, NULL) != 0) {
            pio_reader_close(r);
            return -1;
        }
        size_t b = (size_t)f.natoms * 12;
        s += sum_words(f.positions, b);
        if (f.velocities)
            s += sum_words(f.velocities, b);
        if (f.forces)
            s += sum_words(f.forces, b);
        bytes += b * (1 + !!f.velocities + !!f.forces);
    }
    pio_reader_close(r);
    bench_sink += s;
    *array_bytes = bytes;
    return cli_now() - t0;
}

/* Raw limit for buffered engines: read() the file into a reused 1 MiB
 * buffer and sum it. */
double bench_raw_read(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    static uint8_t buf[1 << 20] __attribute__((aligned(64)));
    double t0 = cli_now();
    ssize_t n;
    uint64_t s = 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        s += sum_words(buf, (size_t)n);
    double t = cli_now() - t0;
    close(fd);
    bench_sink += s;
    return n < 0 ? -1 : t;
}

/* Drop the file's pages from the page cache (for cold runs). */
void bench_drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

/* Frames `which[0..n)` through an unordered stream, first atom of each
 * touched; seconds, and record bytes read into *bytes. */
static double stream_frames(const char *path, const struct pio_reader_options *ro, unsigned qd,
                            const uint64_t *which, uint64_t n, uint64_t *bytes)
{
    pio_reader *r;
    struct pio_error e = {0};
    if (pio_reader_open(&r, path, ro, &e) != 0)
        return -1;
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.queue_depth = qd;
    so.flags = PIO_STREAM_UNORDERED;
    pio_frame_stream *st;
    double t0 = cli_now();
    if (pio_frame_stream_open(&st, r, which, n, &so, &e) != 0) {
        pio_reader_close(r);
        return -1;
    }
    struct pio_frame f;
    uint64_t b = 0, s = 0;
    int rc;
    while ((rc = pio_frame_stream_next(st, &f, &e)) == 1) {
        s += (uint64_t)f.positions[0][0];
        b += record_bytes(f.natoms, 1 + !!f.velocities + !!f.forces, f.nscalars);
        pio_frame_stream_release(st, &f);
    }
    double t = cli_now() - t0;
    pio_frame_stream_close(st);
    pio_reader_close(r);
    bench_sink += s;
    *bytes = b;
    return rc == 0 ? t : -1;
}

/* Ours through a frame stream on the chosen engine: every array summed. */
static double stream_all(const char *path, const struct pio_reader_options *ro, unsigned qd,
                         uint64_t *array_bytes, struct pio_io_info *io)
{
    pio_reader *r;
    struct pio_error e = {0};
    double t0 = cli_now();
    if (pio_reader_open(&r, path, ro, &e) != 0)
        return -1;
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.queue_depth = qd;
    pio_frame_stream *st;
    if (pio_frame_stream_open(&st, r, NULL, 0, &so, &e) != 0) {
        pio_reader_close(r);
        return -1;
    }
    pio_frame_stream_io_info(st, io);
    struct pio_frame f;
    uint64_t bytes = 0, s = 0;
    int rc;
    while ((rc = pio_frame_stream_next(st, &f, &e)) == 1) {
        size_t b = (size_t)f.natoms * 12;
        s += sum_words(f.positions, b);
        if (f.velocities)
            s += sum_words(f.velocities, b);
        if (f.forces)
            s += sum_words(f.forces, b);
        bytes += b * (1 + !!f.velocities + !!f.forces);
        pio_frame_stream_release(st, &f);
    }
    pio_frame_stream_close(st);
    pio_reader_close(r);
    if (rc != 0) {
        cli_err(CMD, "read: %s", e.message);
        return -1;
    }
    bench_sink += s;
    *array_bytes = bytes;
    return cli_now() - t0;
}

/* fio's read throughput (bytes/s) for the same file, block size and queue
 * depth, O_DIRECT through io_uring, sequential or random (`io_bytes` of it;
 * 0: the whole file); < 0 if fio is missing or fails. */
static double fio_read_bw(const char *path, uint64_t bs, unsigned qd, bool random,
                          uint64_t io_bytes)
{
    char cmd[8192], io[64] = "";
    if (io_bytes)
        snprintf(io, sizeof(io), "--io_size=%llu", (unsigned long long)io_bytes);
    snprintf(cmd, sizeof(cmd),
             "fio --name=prismio-baseline --filename='%s' --readonly --rw=%s --bs=%llu %s "
             "--direct=1 --ioengine=io_uring --iodepth=%u --output-format=json 2>/dev/null",
             path, random ? "randread" : "read", (unsigned long long)bs, io, qd);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[512];
    double bw = -1;
    while (fgets(line, sizeof(line), p)) {
        const char *k = strstr(line, "\"bw_bytes\" : ");
        if (k && bw < 0) /* the first one is the read section's */
            bw = atof(k + 13);
    }
    return pclose(p) == 0 ? bw : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_read(int argc, char **argv)
{
    const char *path = NULL;
    uint64_t repeat = 5, samples = 100000, qd = 0;
    bool json = false, cold = false;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    bool engine_given = false;
    const char *argv_qd = "auto";
    for (int i = 1; i < argc; i++) {
        int o = cli_reader_option(CMD, argc, argv, &i, &ro);
        if (o < 0)
            return EXIT_USAGE;
        if (o > 0) {
            engine_given = true;
            continue;
        }
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--cold") == 0)
            cold = true;
        else if (strcmp(argv[i], "--qd") == 0 && i + 1 < argc) {
            argv_qd = argv[i + 1];
            if (!cli_parse_u64(argv[++i], &qd, false) || qd > 4096) {
                cli_err(CMD, "read: invalid --qd '%s' (1 to 4096)", argv[i]);
                return EXIT_USAGE;
            }
        } else if ((strcmp(argv[i], "--repeat") == 0 || strcmp(argv[i], "--samples") == 0) &&
                   i + 1 < argc) {
            uint64_t *dst = argv[i][2] == 'r' ? &repeat : &samples;
            if (!cli_parse_u64(argv[++i], dst, true) || *dst == 0 || *dst > 100000000) {
                cli_err(CMD, "read: invalid %s '%s'", argv[i - 1], argv[i]);
                return EXIT_USAGE;
            }
        } else {
            int rc = positional("read", argv[i], &path);
            if (rc >= 0)
                return rc;
        }
    }
    if (!path)
        return no_file("read");
    struct pio_error e = {0};
    pio_reader *r;
    int rc = pio_reader_open(&r, path, NULL, &e);
    if (rc != 0)
        return cli_fail(CMD, rc, &e);
    uint64_t nframes = pio_reader_nframes(r);
    struct stat fst;
    uint64_t size = stat(path, &fst) == 0 ? (uint64_t)fst.st_size : 0;
    if (nframes == 0) {
        pio_reader_close(r);
        cli_err(CMD, "read: %s has no frames", path);
        return EXIT_USAGE;
    }

    /* Sequential, interleaved with its baseline; best of `repeat`. With no
     * --engine: zero-copy views against a raw scan of a fresh mapping.
     * With one: a frame stream on that engine against read() (warm) or
     * fio at the same block size and queue depth (cold O_DIRECT). */
    double t_raw = -1, t_ours = -1, t_chk = -1, fio_bw = -1, t_rnd = -1, rnd_fio_bw = -1;
    uint64_t rnd_bytes = 0, rnd_n = 0;
    uint64_t array_bytes = 0;
    struct pio_io_info io = {0};
    const char *baseline = "raw scan of a fresh mapping";
    uint64_t avg_rec = size / nframes;
    if (!engine_given) {
        raw_scan(path, size); /* warm the page cache */
        for (uint64_t k = 0; k < repeat; k++) {
            t_raw = best(t_raw, raw_scan(path, size));
            t_ours = best(t_ours, read_all(path, 0, &array_bytes));
            /* the same with each frame's BLAKE3 checked (dump's and
             * prismio.open(check=True)'s policy), alternating with it */
            t_chk = best(t_chk, read_all(path, PIO_READER_CHECK_FRAMES, &array_bytes));
        }
        pio_reader_io_info(r, &io);
    } else {
        bool direct = (ro.io_flags & PIO_READER_DIRECT) != 0;
        baseline = cold && direct             ? "fio, O_DIRECT io_uring, same bs and depth"
                   : ro.engine == PIO_IO_MMAP ? "raw scan of a fresh mapping"
                                              : "read() into a 1 MiB buffer";
        if (!cold)
            bench_raw_read(path);
        for (uint64_t k = 0; k < repeat; k++) {
            if (cold)
                bench_drop_cache(path);
            double t = stream_all(path, &ro, (unsigned)qd, &array_bytes, &io);
            if (t < 0) {
                rc = EXIT_IOERR;
                goto out_early;
            }
            t_ours = best(t_ours, t);
            if (cold && direct) {
                uint64_t bs = (avg_rec + 4095) / 4096 * 4096;
                double bw = fio_read_bw(path, bs, qd ? (unsigned)qd : 32, false, 0);
                if (bw > fio_bw)
                    fio_bw = bw;
            } else {
                if (cold)
                    bench_drop_cache(path);
                t_raw = best(t_raw, ro.engine == PIO_IO_MMAP ? raw_scan(path, size)
                                                             : bench_raw_read(path));
            }
        }
        if (cold && direct) {
            if (fio_bw <= 0) {
                cli_err(CMD, "read: fio not available: no baseline for cold O_DIRECT");
                t_raw = -1;
            } else
                t_raw = (double)size / fio_bw;
        }
        /* Random whole-frame reads: up to 4096 distinct frames in random
         * order through an unordered stream; cold O_DIRECT against fio's
         * randread at the same block size and depth. */
        uint64_t nr = nframes < 4096 ? nframes : 4096;
        uint64_t *pick = malloc((size_t)nframes * sizeof(*pick));
        if (pick) {
            for (uint64_t i = 0; i < nframes; i++)
                pick[i] = i;
            uint64_t st = 88172645463325252ull;
            for (uint64_t i = 0; i < nr; i++) { /* partial Fisher-Yates */
                st ^= st << 13, st ^= st >> 7, st ^= st << 17;
                uint64_t j = i + st % (nframes - i), t = pick[i];
                pick[i] = pick[j];
                pick[j] = t;
            }
            for (uint64_t k = 0; k < repeat; k++) {
                if (cold)
                    bench_drop_cache(path);
                double t = stream_frames(path, &ro, (unsigned)qd, pick, nr, &rnd_bytes);
                if (t > 0 && (t_rnd < 0 || t < t_rnd))
                    t_rnd = t;
            }
            free(pick);
            if (cold && direct) { /* as many reads as we made */
                uint64_t bs = (avg_rec + 4095) / 4096 * 4096;
                rnd_fio_bw = fio_read_bw(path, bs, qd ? (unsigned)qd : 32, true, nr * bs);
            }
        }
        rnd_n = nr;
    }

    /* random access, warm: every page mapped and touched once first */
    double *lat = malloc((size_t)samples * sizeof(double));
    double *raw_lat = malloc((size_t)samples * sizeof(double));
    const float **xs = malloc((size_t)nframes * sizeof(*xs));
    uint64_t *na = malloc((size_t)nframes * sizeof(*na));
    if (!lat || !raw_lat || !xs || !na) {
        cli_err(CMD, "read: out of memory");
        rc = EXIT_IOERR;
        goto out;
    }
    for (uint64_t i = 0; i < nframes; i++) {
        struct pio_frame f;
        if (pio_reader_frame(r, i, &f, &e) != 0) {
            rc = cli_fail(CMD, PIO_ECORRUPT, &e);
            goto out;
        }
        xs[i] = &f.positions[0][0];
        na[i] = f.natoms;
        bench_sink += sum_words(f.positions, (size_t)f.natoms * 12);
    }
    uint64_t rng = 12345;
    for (uint64_t k = 0; k < samples; k++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t i = (rng >> 17) % nframes;
        double t0 = cli_now();
        struct pio_frame f;
        pio_reader_frame(r, i, &f, NULL);
        bench_sink += (uint64_t)(f.positions[0][0] + f.positions[f.natoms - 1][2]);
        double t1 = cli_now();
        bench_sink += (uint64_t)(xs[i][0] + xs[i][3 * na[i] - 1]);
        double t2 = cli_now();
        lat[k] = t1 - t0;
        raw_lat[k] = t2 - t1;
    }
    qsort(lat, (size_t)samples, sizeof(double), cmp_double);
    qsort(raw_lat, (size_t)samples, sizeof(double), cmp_double);
    double p50 = lat[samples / 2], p99 = lat[samples * 99 / 100];
    double raw50 = raw_lat[samples / 2];

    /* open time: median of 7 */
    double opens[7];
    for (int k = 0; k < 7; k++) {
        double t0 = cli_now();
        pio_reader *o;
        if (pio_reader_open(&o, path, NULL, NULL) == 0)
            pio_reader_close(o);
        opens[k] = cli_now() - t0;
    }
    qsort(opens, 7, sizeof(double), cmp_double);

    /* Against a raw scan, compare what each side moved: our arrays vs the
     * whole file (records add a 192-byte header). */
    double gbps = (double)array_bytes / t_ours / 1e9,
           raw_gbps = t_raw > 0 ? (double)size / t_raw / 1e9 : 0;
    if (json) {
        printf("{\"benchmark\":\"read\",\"file\":");
        cli_json_string(stdout, path);
        cli_json_printf(
            ",\"bytes\":%llu,\"frames\":%llu,\"array_bytes\":%llu,\"repeat\":%llu,"
            "\"seq_gbps\":%.3f,\"seq_frames_per_s\":%.1f,\"raw_scan_gbps\":%.3f,"
            "\"ratio_seq\":%.3f,\"raw_scan_frames_per_s\":%.1f,\"ratio_frames\":%.3f,"
            "\"random_samples\":%llu,\"random_p50_us\":%.4f,"
            "\"random_p99_us\":%.4f,\"raw_random_p50_us\":%.4f,\"open_ms\":%.3f,"
            "\"engine\":\"%s\",\"direct\":%s,\"cold\":%s,\"queue_depth\":%llu,"
            "\"baseline\":\"%s\",\"random_frames\":%llu,\"random_gbps\":%.3f,"
            "\"random_fio_gbps\":%.3f,\"checked_gbps\":%.3f,\"checked_ratio\":%.3f}\n",
            (unsigned long long)size, (unsigned long long)nframes, (unsigned long long)array_bytes,
            (unsigned long long)repeat, gbps, (double)nframes / t_ours, raw_gbps, gbps / raw_gbps,
            (double)nframes / t_raw, t_raw / t_ours, (unsigned long long)samples, p50 * 1e6,
            p99 * 1e6, raw50 * 1e6, opens[3] * 1e3,
            engine_given ? pio_io_engine_name(io.engine) : "views", io.direct ? "true" : "false",
            cold ? "true" : "false", (unsigned long long)qd, baseline, (unsigned long long)rnd_n,
            t_rnd > 0 ? (double)rnd_bytes / t_rnd / 1e9 : 0.0,
            rnd_fio_bw > 0 ? rnd_fio_bw / 1e9 : 0.0,
            t_chk > 0 ? (double)array_bytes / t_chk / 1e9 : 0.0, t_chk > 0 ? t_ours / t_chk : 0.0);
    } else {
        printf("HOLO read of %s (%llu frames, %.1f MB, best of %llu)\n", path,
               (unsigned long long)nframes, (double)size / 1e6, (unsigned long long)repeat);
        if (engine_given)
            printf("  sequential, %s%s%s stream    %8.2f GB/s  %10.0f frames/s  (queue depth "
                   "%s%s%s)\n",
                   pio_io_engine_name(io.engine), io.direct ? "+direct" : "", cold ? ", cold" : "",
                   gbps, (double)nframes / t_ours, qd ? argv_qd : "auto", io.note[0] ? "; " : "",
                   io.note);
        else
            printf("  sequential, zero-copy views   %8.2f GB/s  %10.0f frames/s\n", gbps,
                   (double)nframes / t_ours);
        if (t_chk > 0)
            printf("  views with BLAKE3 checked     %8.2f GB/s  %10.0f frames/s  (%.2fx of "
                   "unchecked views)\n",
                   (double)array_bytes / t_chk / 1e9, (double)nframes / t_chk, t_ours / t_chk);
        printf("  baseline: %-19s %8.2f GB/s  %10.0f frames/s\n", baseline, raw_gbps,
               t_raw > 0 ? (double)nframes / t_raw : 0);
        if (t_rnd > 0) {
            printf("  random whole frames (%llu)    %8.2f GB/s  %10.0f frames/s%s\n",
                   (unsigned long long)rnd_n, (double)rnd_bytes / t_rnd / 1e9,
                   (double)rnd_n / t_rnd, cold ? ", cold" : ", warm");
            /* Compared in reads per second: one read per frame on both
             * sides (a small frame still costs a whole block with O_DIRECT). */
            double fio_iops = rnd_fio_bw / (double)((avg_rec + 4095) / 4096 * 4096);
            if (rnd_fio_bw > 0)
                printf("  baseline: fio randread, same bs/depth %10.0f reads/s   ratio %.2fx "
                       "(reads/s)\n",
                       fio_iops, (double)rnd_n / t_rnd / fio_iops);
        }
        printf("  ratio                         %8.2fx (GB/s of arrays)  %.2fx (frames/s)\n",
               gbps / raw_gbps, t_raw / t_ours);
        printf("  random frame, warm            p50 %.3f us  p99 %.3f us  (raw access p50 "
               "%.3f us; %llu samples)\n",
               p50 * 1e6, p99 * 1e6, raw50 * 1e6, (unsigned long long)samples);
        printf("  open + close                  %.3f ms (median of 7)\n", opens[3] * 1e3);
    }
    rc = EXIT_OK;
    goto out;
out_early:
    lat = raw_lat = NULL;
    xs = NULL;
    na = NULL;
out:
    free(lat);
    free(raw_lat);
    free(xs);
    free(na);
    pio_reader_close(r);
    return rc;
}

/* fio's write throughput (bytes/s, its final fsync included) for `bytes`
 * in blocks of `bs`, as the writer's engine writes: io_uring at depth 4
 * (uring) or one pwrite at a time (psync), O_DIRECT or buffered; < 0 if
 * fio is missing or fails. */
static double fio_write_bw(const char *path, uint64_t bs, uint64_t bytes, bool uring, bool direct)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "fio --name=prismio-baseline --filename='%s' --rw=write --bs=%llu --size=%llu "
             "%s %s --end_fsync=1 --output-format=json 2>/dev/null",
             path, (unsigned long long)bs, (unsigned long long)bytes,
             uring ? "--ioengine=io_uring --iodepth=4" : "--ioengine=psync",
             direct ? "--direct=1" : "");
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[512];
    double bw = -1;
    bool in_write = false;
    while (fgets(line, sizeof(line), p)) {
        if (strstr(line, "\"write\" : {"))
            in_write = true;
        const char *k = strstr(line, "\"bw_bytes\" : ");
        if (k && in_write && bw < 0)
            bw = atof(k + 13);
    }
    unlink(path);
    return pclose(p) == 0 ? bw : -1;
}

static int bench_write(int argc, char **argv)
{
    const char *path = NULL;
    uint64_t natoms = 100000, nframes = 1000, repeat = 3;
    bool json = false;
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = PIO_WRITER_OVERWRITE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0)
            json = true;
        else if (strcmp(a, "--direct") == 0)
            wo.flags |= PIO_WRITER_DIRECT;
        else if (strcmp(a, "--engine") == 0 && i + 1 < argc) {
            if (pio_io_engine_parse(argv[++i], &wo.engine) != 0) {
                cli_err(CMD, "write: --engine needs pread or uring");
                return EXIT_USAGE;
            }
        } else if ((strcmp(a, "--atoms") == 0 || strcmp(a, "--frames") == 0 ||
                    strcmp(a, "--repeat") == 0) &&
                   i + 1 < argc) {
            uint64_t *dst = a[2] == 'a' ? &natoms : a[2] == 'f' ? &nframes : &repeat;
            if (!cli_parse_u64(argv[++i], dst, true) || *dst == 0) {
                cli_err(CMD, "write: invalid %s '%s'", a, argv[i]);
                return EXIT_USAGE;
            }
        } else {
            int rc = positional("write", a, &path);
            if (rc >= 0)
                return rc;
        }
    }
    if (!path || natoms > PIO_HOLO_MAX_ATOMS) {
        cli_err(CMD, "write: need FILE.holo and at most %llu atoms (see --help)",
                (unsigned long long)PIO_HOLO_MAX_ATOMS);
        return EXIT_USAGE;
    }
    /* Four distinct frames cycled, so generating data costs nothing. */
    size_t bytes = (size_t)natoms * 12;
    float *data[4];
    for (int k = 0; k < 4; k++) {
        data[k] = malloc(bytes);
        if (!data[k]) {
            cli_err(CMD, "write: out of memory");
            return EXIT_IOERR;
        }
        for (size_t j = 0; j < natoms * 3; j++)
            data[k][j] = (float)((j * 2654435761u + (size_t)k * 97) % 100000) * 1e-4f;
    }
    double t_ours = -1, fio_bw = -1;
    uint64_t size = 0;
    struct pio_io_info io = {0};
    char fio_path[4096];
    snprintf(fio_path, sizeof(fio_path), "%s.fio", path);
    int status = EXIT_OK;
    for (uint64_t rep = 0; rep < repeat && status == EXIT_OK; rep++) {
        struct pio_error e = {0};
        pio_writer *w;
        double t0 = cli_now();
        int rc = pio_writer_create(&w, path, &wo, &e);
        if (rc == 0) {
            pio_writer_io_info(w, &io);
            for (uint64_t f = 0; f < nframes && rc == 0; f++) {
                struct pio_frame fr = {.natoms = natoms,
                                       .step = (int64_t)f,
                                       .time = (double)f,
                                       .positions = (const float(*)[3])data[f % 4]};
                rc = pio_writer_append(w, &fr, &e);
            }
            int crc = pio_writer_close(w, rc == 0 ? &e : NULL);
            if (rc == 0)
                rc = crc;
        }
        if (rc != 0) {
            status = cli_fail(CMD, rc, &e);
            break;
        }
        t_ours = best(t_ours, cli_now() - t0);
        struct stat st;
        size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
        uint64_t bs = (record_bytes(natoms, 1, 0) + 4095) / 4096 * 4096;
        double bw =
            fio_write_bw(fio_path, bs, size / bs * bs, io.engine == PIO_IO_URING, io.direct);
        if (bw > fio_bw)
            fio_bw = bw;
    }
    for (int k = 0; k < 4; k++)
        free(data[k]);
    if (status != EXIT_OK)
        return status;
    double gbps = (double)size / t_ours / 1e9;
    if (json) {
        printf("{\"benchmark\":\"write\",\"file\":");
        cli_json_string(stdout, path);
        cli_json_printf(
            ",\"bytes\":%llu,\"frames\":%llu,\"atoms\":%llu,\"engine\":\"%s\",\"repeat\":%llu,"
            "\"write_gbps\":%.3f",
            (unsigned long long)size, (unsigned long long)nframes, (unsigned long long)natoms,
            pio_io_engine_name(io.engine), (unsigned long long)repeat, gbps);
        if (fio_bw > 0)
            cli_json_printf(",\"fio_gbps\":%.3f,\"fio_engine\":\"%s\",\"direct\":%s,\"ratio\":%.3f",
                            fio_bw / 1e9, io.engine == PIO_IO_URING ? "io_uring" : "psync",
                            io.direct ? "true" : "false", gbps * 1e9 / fio_bw);
        printf("}\n");
    } else {
        printf("HOLO write of %llu frames x %llu atoms (%.1f MB, %s engine%s%s%s, best of "
               "%llu)\n",
               (unsigned long long)nframes, (unsigned long long)natoms, (double)size / 1e6,
               pio_io_engine_name(io.engine), io.direct ? " + O_DIRECT" : "",
               io.note[0] ? "; " : "", io.note, (unsigned long long)repeat);
        printf("  writer (BLAKE3 per record, fdatasync at the end)           %6.2f GB/s\n", gbps);
        if (fio_bw > 0)
            printf("  fio %-6s%-9s (same bytes and blocks, end_fsync) %6.2f GB/s   ratio %.2fx\n",
                   io.engine == PIO_IO_URING ? "uring" : "psync", io.direct ? " direct" : "",
                   fio_bw / 1e9, gbps * 1e9 / fio_bw);
        else
            printf("  fio not available: no baseline\n");
    }
    return EXIT_OK;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "hash") == 0)
        return bench_hash(argc - 1, argv + 1);
    if (strcmp(argv[1], "read") == 0)
        return bench_read(argc - 1, argv + 1);
    if (strcmp(argv[1], "write") == 0)
        return bench_write(argc - 1, argv + 1);
    if (strcmp(argv[1], "ring") == 0)
        return cmd_bench_ring(argc - 1, argv + 1);
    if (strcmp(argv[1], "convert") == 0)
        return cmd_bench_convert(argc - 1, argv + 1);
    if (strcmp(argv[1], "arrow") == 0)
        return cmd_bench_arrow(argc - 1, argv + 1);
    cli_err(CMD, "unknown benchmark '%s' (see --help)", argv[1]);
    return EXIT_USAGE;
}
