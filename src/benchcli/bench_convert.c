/*
 * prismio bench convert: the streaming pipeline (HOLO to HOLO, each input
 * frame's checksum checked, the output hashed and committed durably) next
 * to read() of the same input in the same cache state, best of N runs
 * each. Also reports the process's peak RSS and the pool's size.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD "bench convert"

struct run {
    double seconds;
    struct pio_pipeline_stats st;
};

static int convert_once(const char *in, const char *out, const struct pio_pipeline_options *po,
                        struct run *r, struct pio_error *e)
{
    struct pio_source src;
    struct pio_sink sink;
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = PIO_WRITER_OVERWRITE;
    int rc = pio_source_holo(&src, in, NULL, 0, e);
    if (rc != 0)
        return rc;
    if ((rc = pio_sink_holo(&sink, out, &wo, 0, e)) != 0) {
        pio_source_destroy(&src);
        return rc;
    }
    double t0 = cli_now();
    rc = pio_pipeline_run(&src, &sink, po, &r->st, e);
    pio_source_destroy(&src);
    pio_sink_destroy(&sink); /* closed (committed) inside the run */
    r->seconds = cli_now() - t0;
    return rc;
}

/* CPU seconds (user + system) of every thread of the process so far. */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Seconds to read every frame of a foreign file (positions touched). */
static double decode_all(const char *path, uint32_t threads, uint64_t *frames, uint64_t *atoms,
                         double *cpu)
{
    double c0 = cpu_now();
    struct pio_source_options so = PIO_SOURCE_OPTIONS_INIT;
    so.threads = threads;
    struct pio_source s;
    struct pio_source_info info;
    struct pio_error e = {0};
    double t0 = cli_now();
    if (pio_source_open(&s, path, &so, &e) != 0) {
        cli_err(CMD, "%s", e.message);
        return -1;
    }
    if (s.info(s.ctx, &info, &e) != 0 || s.start(s.ctx, NULL, info.nframes, &e) != 0) {
        pio_source_destroy(&s);
        cli_err(CMD, "%s", e.message);
        return -1;
    }
    struct pio_frame f;
    volatile float sink = 0;
    int rc;
    *frames = *atoms = 0;
    while ((rc = s.next(s.ctx, &f, &e)) == 1) {
        float acc = 0;
        for (uint64_t a = 0; a < f.natoms; a++)
            acc += f.positions[a][0] + f.positions[a][1] + f.positions[a][2];
        sink += acc;
        (*frames)++;
        *atoms += f.natoms;
        s.release(s.ctx, &f);
    }
    pio_source_destroy(&s);
    if (rc != 0) {
        cli_err(CMD, "%s", e.message);
        return -1;
    }
    *cpu = cpu_now() - c0;
    return cli_now() - t0;
}

/* Seconds to convert a foreign file to HOLO (durable) with `threads`
 * decoder threads and workers (its CPU seconds into *cpu); < 0 on failure. */
static double convert_foreign(const char *path, const char *out, uint32_t threads,
                              uint64_t max_bytes, double *cpu)
{
    struct pio_source_options so = PIO_SOURCE_OPTIONS_INIT;
    so.threads = threads;
    struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
    ko.flags = PIO_SINK_OVERWRITE;
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    po.threads = threads;
    po.max_bytes = max_bytes;
    struct pio_source s;
    struct pio_sink d;
    struct pio_error e = {0};
    double t0 = cli_now(), c0 = cpu_now();
    int rc = pio_source_open(&s, path, &so, &e);
    if (rc == 0) {
        if ((rc = pio_sink_open(&d, out, &ko, &e)) == 0) {
            rc = pio_pipeline_run(&s, &d, &po, NULL, &e);
            pio_sink_destroy(&d);
        }
        pio_source_destroy(&s);
    }
    double t = cli_now() - t0;
    *cpu = cpu_now() - c0;
    unlink(out);
    if (rc != 0) {
        cli_err(CMD, "%s", e.message);
        return -1;
    }
    return t;
}

/* Decode speed of a foreign file on 1 and on N threads next to
 * MDAnalysis, and conversion to HOLO next to the pure decode on as many
 * threads: with 1 decoder thread the sink's hashing and writing can
 * overlap on another core; with every core decoding there is none left. */
static int bench_foreign(const char *path, uint32_t threads, uint64_t max_bytes, uint64_t repeat,
                         bool json)
{
    uint32_t all = threads ? threads : (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    double t1 = -1, tn = -1, tc1 = -1, tcn = -1, cpu1 = 0, cpuc = 0;
    uint64_t frames = 0, atoms = 0;
    char out[4096];
    snprintf(out, sizeof(out), "%s.bench-out.holo", path);
    /* decode and conversion take turns, so a change in the machine's
     * speed during the run (frequent here) does not favour either */
    for (uint64_t k = 0; k < repeat; k++) {
        double ca, cc, cn; /* CPU of each run; the all-thread runs' is not reported */
        double a = decode_all(path, 1, &frames, &atoms, &ca);
        double c = a < 0 ? -1 : convert_foreign(path, out, 1, max_bytes, &cc);
        double b = c < 0 ? -1 : decode_all(path, all, &frames, &atoms, &cn);
        double d = b < 0 ? -1 : all == 1 ? c : convert_foreign(path, out, all, max_bytes, &cn);
        if (a < 0 || b < 0 || c < 0 || d < 0)
            return EXIT_DATAERR;
        if (t1 < 0 || a < t1)
            t1 = a, cpu1 = ca;
        if (tc1 < 0 || c < tc1)
            tc1 = c, cpuc = cc;
        tn = tn < 0 || b < tn ? b : tn;
        tcn = tcn < 0 || d < tcn ? d : tcn;
    }
    double md = bench_mdanalysis_seconds(path, frames ? atoms / frames : 0, repeat);
    double fps1 = (double)frames / t1, fpsn = (double)frames / tn;
    double fpsc1 = (double)frames / tc1, fpscn = (double)frames / tcn;
    double fpsm = md > 0 ? (double)frames / md : 0;
    if (json) {
        printf("{\"file\":");
        cli_json_string(stdout, path);
        cli_json_printf(
            ",\"frames\":%llu,\"atoms\":%llu,\"threads\":%u,\"decode_1t_fps\":%.1f,"
            "\"decode_nt_fps\":%.1f,\"decode_1t_atoms_per_s\":%.0f,\"convert_1t_fps\":%.1f,"
            "\"convert_nt_fps\":%.1f,\"baseline\":\"MDAnalysis iteration\","
            "\"baseline_fps\":%.1f,\"ratio_1t\":%.3f,\"ratio_nt\":%.3f,"
            "\"convert_vs_decode_1t\":%.3f,\"convert_vs_decode_nt\":%.3f,"
            "\"decode_cpu_s_per_frame\":%.3e,\"convert_cpu_s_per_frame\":%.3e}\n",
            (unsigned long long)frames, (unsigned long long)(frames ? atoms / frames : 0), all,
            fps1, fpsn, (double)atoms / t1, fpsc1, fpscn, fpsm, fpsm > 0 ? fps1 / fpsm : 0,
            fpsm > 0 ? fpsn / fpsm : 0, fpsc1 / fps1, fpscn / fpsn, cpu1 / (double)frames,
            cpuc / (double)frames);
        return EXIT_OK;
    }
    printf("decode %s: %llu frames x %llu atoms, best of %llu\n", path, (unsigned long long)frames,
           (unsigned long long)(frames ? atoms / frames : 0), (unsigned long long)repeat);
    if (fpsm > 0)
        printf("  MDAnalysis (same run)   %9.0f frames/s  %7.1f M atoms/s\n", fpsm,
               (double)atoms / md / 1e6);
    else
        printf("  MDAnalysis              not available (/usr/bin/python3 with MDAnalysis)\n");
    printf("  prismio, 1 thread       %9.0f frames/s  %7.1f M atoms/s", fps1,
           (double)atoms / t1 / 1e6);
    if (fpsm > 0)
        printf("  = %.2fx", fps1 / fpsm);
    printf("\n  prismio, %u threads      %9.0f frames/s  %7.1f M atoms/s", all, fpsn,
           (double)atoms / tn / 1e6);
    if (fpsm > 0)
        printf("  = %.2fx", fpsn / fpsm);
    printf("\n  to HOLO (durable), 1 decoder thread  %9.0f frames/s  = %.2fx the 1-thread decode\n",
           fpsc1, fpsc1 / fps1);
    if (all > 1)
        printf(
            "  to HOLO (durable), %u threads        %9.0f frames/s  = %.2fx the %u-thread decode\n",
            all, fpscn, fpscn / fpsn, all);
    /* with every core decoding, the conversion can reach at most the
     * decode's share of its CPU */
    printf("  CPU per frame: decode %.1f us, conversion %.1f us (decode share %.2f)\n",
           cpu1 / (double)frames * 1e6, cpuc / (double)frames * 1e6, cpuc > 0 ? cpu1 / cpuc : 0);
    return EXIT_OK;
}

int bench_convert(int argc, char **argv)
{
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    bool json = false, cold = false;
    uint64_t repeat = 3, threads = 0;
    struct cli_opt opts[] = {
        CLI_OPT_STRING("frames", 0, &po.frames, "SPEC", "frame selection, as prismio convert's"),
        CLI_OPT_STRING("atoms", 0, &po.atoms, "SPEC", "atom selection, as prismio convert's"),
        CLI_OPT_U64("threads", &threads, "N", 1, 1024,
                    "pipeline workers; decoder threads (default: all)"),
        CLI_OPT_SIZE("memory", &po.max_bytes, "BYTES", 0, 0, "batch memory (default 8M)"),
        CLI_OPT_FLAG("cold", 0, &cold, "drop FILE's pages before every run of either side"),
        CLI_OPT_U64("repeat", &repeat, "N", 1, 1024, "runs of each; the best counts (default 3)"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "FILE",
        .min_args = 1,
        .max_args = 1,
        .about = "Converts FILE.holo to FILE.bench-out.holo (removed afterwards) through the\n"
                 "pipeline, next to read() of FILE into a reused 1 MiB buffer. Throughput is\n"
                 "FILE's size over the wall time (what a user waits for), so a stride that\n"
                 "skips frames counts in the pipeline's favour; the JSON also gives the\n"
                 "array bytes actually taken from FILE. Also reports the process's peak RSS\n"
                 "and the pool's size.\n\n"
                 "With a foreign FILE (.xtc, .trr, .dcd, ...): decoding on 1 and on all\n"
                 "threads (or --threads N) next to MDAnalysis reading the same file\n"
                 "(/usr/bin/python3), and conversion to FILE.bench-out.holo (durable,\n"
                 "removed) next to the decode on as many threads; decode and conversion\n"
                 "runs alternate; CPU per frame of each.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    po.threads = (uint32_t)threads;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        cli_err(CMD, "%s: cannot open", path);
        return EXIT_NOINPUT;
    }
    if (pio_format_from_path(path) != PIO_FORMAT_HOLO)
        return bench_foreign(path, po.threads, po.max_bytes, repeat, json);
    size_t n = strlen(path);
    char *out = malloc(n + 32);
    if (!out)
        return EXIT_IOERR;
    snprintf(out, n + 32, "%s.bench-out.holo", path);

    double raw = -1;
    struct run bestrun = {.seconds = -1};
    uint64_t out_bytes = 0;
    for (uint64_t k = 0; k < repeat; k++) {
        if (cold)
            bench_drop_cache(path);
        double t = bench_raw_read(path);
        if (t >= 0 && (raw < 0 || t < raw))
            raw = t;
        if (cold)
            bench_drop_cache(path);
        struct run r;
        struct pio_error e = {0};
        int rc = convert_once(path, out, &po, &r, &e);
        if (rc != 0) {
            unlink(out);
            free(out);
            return cli_fail(CMD, rc, &e);
        }
        if (stat(out, &sb) == 0)
            out_bytes = (uint64_t)sb.st_size;
        bench_drop_cache(out); /* the output's pages must not crowd the next run */
        unlink(out);
        if (bestrun.seconds < 0 || r.seconds < bestrun.seconds)
            bestrun = r;
    }
    free(out);
    if (raw <= 0) {
        cli_err(CMD, "%s: cannot read", path);
        return EXIT_IOERR;
    }
    struct stat in;
    stat(path, &in);
    double size = (double)in.st_size;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const struct pio_pipeline_stats *st = &bestrun.st;
    double raw_gbs = size / raw / 1e9, ours_gbs = size / bestrun.seconds / 1e9;
    if (json) {
        printf("{\"file\":");
        cli_json_string(stdout, path);
        cli_json_printf(",\"file_bytes\":%.0f,\"cold\":%s,\"frames\":", size,
                        cold ? "true" : "false");
        cli_json_string(stdout, po.frames ? po.frames : "all");
        printf(",\"atoms\":");
        cli_json_string(stdout, po.atoms ? po.atoms : "all");
        cli_json_printf(",\"frames_out\":%llu,\"array_bytes_in\":%llu,\"array_bytes_out\":%llu,"
                        "\"output_bytes\":%llu,\"convert_seconds\":%.6f,\"convert_gbps\":%.4f,"
                        "\"baseline\":\"read() of the file\",\"baseline_seconds\":%.6f,"
                        "\"baseline_gbps\":%.4f,\"ratio\":%.4f,\"source_wait_seconds\":%.4f,"
                        "\"sink_wait_seconds\":%.4f,\"buffers\":%llu,\"buffer_bytes\":%llu,"
                        "\"peak_rss_kb\":%ld}\n",
                        (unsigned long long)st->frames_out, (unsigned long long)st->bytes_in,
                        (unsigned long long)st->bytes_out, (unsigned long long)out_bytes,
                        bestrun.seconds, ours_gbs, raw, raw_gbs, ours_gbs / raw_gbs,
                        st->source_wait, st->sink_wait, (unsigned long long)st->buffers,
                        (unsigned long long)st->buffer_bytes, ru.ru_maxrss);
        return EXIT_OK;
    }
    printf("convert %s (%.2f GB%s), frames %s, atoms %s: best of %llu\n", path, size / 1e9,
           cold ? ", cold" : ", warm", po.frames ? po.frames : "all", po.atoms ? po.atoms : "all",
           (unsigned long long)repeat);
    printf("  read() of the file   %7.3f s  %6.2f GB/s\n", raw, raw_gbs);
    printf("  prismio convert      %7.3f s  %6.2f GB/s  = %.2fx read()\n", bestrun.seconds,
           ours_gbs, ours_gbs / raw_gbs);
    printf("  %llu frames out, %.2f GB of arrays taken, %.2f GB file written; source waited "
           "%.2f s, sink %.2f s\n",
           (unsigned long long)st->frames_out, (double)st->bytes_in / 1e9, (double)out_bytes / 1e9,
           st->source_wait, st->sink_wait);
    printf("  pool %llu x %.1f MB; peak RSS of this process %.1f MB\n",
           (unsigned long long)st->buffers, (double)st->buffer_bytes / 1e6,
           (double)ru.ru_maxrss / 1024.0);
    return EXIT_OK;
}
