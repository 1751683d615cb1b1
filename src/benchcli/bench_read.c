/*
 * prismio bench read FILE: HOLO reading through zero-copy views,
 * sequential and random, next to a raw scan of the same file's mapping;
 * or through a frame stream on one I/O engine next to read() or fio.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD "bench read"

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
    bench_sink += bench_sum_words(m, (size_t)size);
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
        s += bench_sum_words(f.positions, b);
        if (f.velocities)
            s += bench_sum_words(f.velocities, b);
        if (f.forces)
            s += bench_sum_words(f.forces, b);
        bytes += b * (1 + !!f.velocities + !!f.forces);
    }
    pio_reader_close(r);
    bench_sink += s;
    *array_bytes = bytes;
    return cli_now() - t0;
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
        b += bench_record_bytes(f.natoms, 1 + !!f.velocities + !!f.forces, f.nscalars);
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
        s += bench_sum_words(f.positions, b);
        if (f.velocities)
            s += bench_sum_words(f.velocities, b);
        if (f.forces)
            s += bench_sum_words(f.forces, b);
        bytes += b * (1 + !!f.velocities + !!f.forces);
        pio_frame_stream_release(st, &f);
    }
    pio_frame_stream_close(st);
    pio_reader_close(r);
    if (rc != 0) {
        cli_err(CMD, "%s", e.message);
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

int bench_read(int argc, char **argv)
{
    uint64_t repeat = 5, samples = 100000, qd = 0, big_mb = 3072;
    bool json = false, cold = false, direct = false, quick = false;
    const char *limits = NULL;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    struct cli_opt opts[] = {
        CLI_OPT_SIZE("repeat", &repeat, "N", 1, 100000000, "runs; the best counts (default 5)"),
        CLI_OPT_SIZE("samples", &samples, "N", 1, 100000000,
                     "random frames timed (default 100000)"),
        CLI_OPTS_READER(&ro.engine, &direct),
        CLI_OPT_FLAG("cold", 0, &cold, "drop the file's pages before each run (posix_fadvise)"),
        CLI_OPT_U64("qd", &qd, "N", 0, 4096,
                    "queue depth of the stream (default: 32 with --direct, "
                    "else about 4 MiB of buffers)"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_STRING("limits", 0, &limits, "DIR",
                       "then the hardware-limit ratios (cold reads vs dd, io_uring writes "
                       "vs fio, open + last frame at 10^6 frames, small frames vs DCD, Python "
                       "vs np.memmap, MDAnalysis vs NetCDF, peak RSS), on files made in DIR"),
        CLI_OPT_SIZE("big-mb", &big_mb, "MB", 1, 1u << 24,
                     "--limits: the file a Python child iterates for its peak RSS "
                     "(default 3072)"),
        CLI_OPT_FLAG("quick", 0, &quick,
                     "--limits: every made file but the --big-mb one 100 times smaller "
                     "(a smoke run of the code, not of the figures)"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "FILE.holo",
        .min_args = 1,
        .max_args = 1,
        .about = "Sequential: every array value of every frame through zero-copy views,\n"
                 "next to a raw scan of the same file's bytes (fresh mapping each run), and\n"
                 "the same with each frame's BLAKE3 checked. Random: per-frame latency (view\n"
                 "+ first and last atom) of N random frames, warm, next to raw pointer\n"
                 "access to the same bytes. Open: median time to open and close the file.\n"
                 "With --engine, the sequential part reads a frame stream on that engine\n"
                 "against read() of the file (warm, or cold: dd bs=1M), or, with --cold\n"
                 "--direct, against fio at the same block size and depth.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    bool engine_given = cli_seen(opts, "engine") || direct;
    if (direct)
        ro.io_flags |= PIO_READER_DIRECT;
    char argv_qd[24] = "auto";
    if (cli_seen(opts, "qd"))
        snprintf(argv_qd, sizeof(argv_qd), "%llu", (unsigned long long)qd);
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
        cli_err(CMD, "%s has no frames", path);
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
            t_raw = bench_best(t_raw, raw_scan(path, size));
            t_ours = bench_best(t_ours, read_all(path, 0, &array_bytes));
            /* the same with each frame's BLAKE3 checked (dump's and
             * prismio.open(check=True)'s policy), alternating with it */
            t_chk = bench_best(t_chk, read_all(path, PIO_READER_CHECK_FRAMES, &array_bytes));
        }
        pio_reader_io_info(r, &io);
    } else {
        bool direct = (ro.io_flags & PIO_READER_DIRECT) != 0;
        /* cold and buffered: dd bs=1M, what the device gives a plain reader */
        bool raw_read = cold || ro.engine != PIO_IO_MMAP;
        baseline = cold && direct ? "fio, O_DIRECT io_uring, same bs and depth"
                   : raw_read     ? "read() into a 1 MiB buffer"
                                  : "raw scan of a fresh mapping";
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
            t_ours = bench_best(t_ours, t);
            if (cold && direct) {
                uint64_t bs = (avg_rec + 4095) / 4096 * 4096;
                double bw = fio_read_bw(path, bs, qd ? (unsigned)qd : 32, false, 0);
                if (bw > fio_bw)
                    fio_bw = bw;
            } else {
                if (cold)
                    bench_drop_cache(path);
                t_raw = bench_best(t_raw, raw_read ? bench_raw_read(path) : raw_scan(path, size));
            }
        }
        if (cold && direct) {
            if (fio_bw <= 0) {
                cli_err(CMD, "fio not available: no baseline for cold O_DIRECT");
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
        cli_err(CMD, "out of memory");
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
        bench_sink += bench_sum_words(f.positions, (size_t)f.natoms * 12);
    }
    /* reading in order dropped the pages behind (bounded RSS): mapped again
     * through the views, for a warm start */
    for (uint64_t i = 0; i < nframes; i++)
        bench_sink += bench_sum_words(xs[i], (size_t)na[i] * 12);
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
    qsort(lat, (size_t)samples, sizeof(double), bench_cmp_double);
    qsort(raw_lat, (size_t)samples, sizeof(double), bench_cmp_double);
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
    qsort(opens, 7, sizeof(double), bench_cmp_double);

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
            "\"random_fio_gbps\":%.3f,\"checked_gbps\":%.3f,\"checked_ratio\":%.3f",
            (unsigned long long)size, (unsigned long long)nframes, (unsigned long long)array_bytes,
            (unsigned long long)repeat, gbps, (double)nframes / t_ours, raw_gbps, gbps / raw_gbps,
            (double)nframes / t_raw, t_raw / t_ours, (unsigned long long)samples, p50 * 1e6,
            p99 * 1e6, raw50 * 1e6, opens[3] * 1e3,
            engine_given ? pio_io_engine_name(io.engine) : "views", io.direct ? "true" : "false",
            cold ? "true" : "false", (unsigned long long)qd, baseline, (unsigned long long)rnd_n,
            t_rnd > 0 ? (double)rnd_bytes / t_rnd / 1e9 : 0.0,
            rnd_fio_bw > 0 ? rnd_fio_bw / 1e9 : 0.0,
            t_chk > 0 ? (double)array_bytes / t_chk / 1e9 : 0.0, t_chk > 0 ? t_ours / t_chk : 0.0);
        /* (the object's closing brace after the limits' keys, below) */
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
    free(lat);
    free(raw_lat);
    free(xs);
    free(na);
    pio_reader_close(r); /* first: its mapped pages would keep the cold runs warm */
    rc = limits ? bench_read_limits(path, limits, repeat < 3 ? repeat : 3, big_mb, quick, json)
                : EXIT_OK;
    if (json)
        printf("}\n");
    return rc;
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
