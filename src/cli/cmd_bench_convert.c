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

#include "cli.h"

#define CMD "bench convert"

static void usage(FILE *f)
{
    fprintf(f, "usage: prismio bench convert FILE.holo [--frames SPEC] [--atoms SPEC]\n"
               "       [--threads N] [--memory BYTES] [--cold] [--repeat N] [--json]\n\n"
               "Converts FILE to FILE.bench-out.holo (removed afterwards) through the\n"
               "pipeline, next to read() of FILE into a reused 1 MiB buffer. Throughput is\n"
               "FILE's size over the wall time (what a user waits for), so a stride that\n"
               "skips frames counts in the pipeline's favour; the JSON also gives the\n"
               "array bytes actually taken from FILE. --cold drops FILE's pages before\n"
               "every run of either; best of N runs (3).\n");
}

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

int cmd_bench_convert(int argc, char **argv)
{
    const char *path = NULL;
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    bool json = false, cold = false;
    uint64_t repeat = 3, v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--cold")) {
            cold = true;
        } else if (!strcmp(a, "--frames") && val) {
            po.frames = argv[++i];
        } else if (!strcmp(a, "--atoms") && val) {
            po.atoms = argv[++i];
        } else if ((!strcmp(a, "--threads") || !strcmp(a, "--repeat")) && val) {
            if (!cli_parse_u64(argv[++i], &v, false) || v == 0 || v > 1024) {
                cli_err(CMD, "%s needs a number from 1 to 1024", a);
                return EXIT_USAGE;
            }
            if (a[2] == 't')
                po.threads = (uint32_t)v;
            else
                repeat = v;
        } else if (!strcmp(a, "--memory") && val) {
            if (!cli_parse_u64(argv[++i], &po.max_bytes, true)) {
                cli_err(CMD, "--memory needs a size such as 32M");
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' || path) {
            cli_err(CMD, "unexpected argument '%s' (see --help)", a);
            return EXIT_USAGE;
        } else {
            path = a;
        }
    }
    if (!path) {
        cli_err(CMD, "no FILE given (see --help)");
        return EXIT_USAGE;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        cli_err(CMD, "%s: cannot open", path);
        return EXIT_NOINPUT;
    }
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
        printf(",\"file_bytes\":%.0f,\"cold\":%s,\"frames\":", size, cold ? "true" : "false");
        cli_json_string(stdout, po.frames ? po.frames : "all");
        printf(",\"atoms\":");
        cli_json_string(stdout, po.atoms ? po.atoms : "all");
        printf(",\"frames_out\":%llu,\"array_bytes_in\":%llu,\"array_bytes_out\":%llu,"
               "\"output_bytes\":%llu,\"convert_seconds\":%.6f,\"convert_gbps\":%.4f,"
               "\"baseline\":\"read() of the file\",\"baseline_seconds\":%.6f,"
               "\"baseline_gbps\":%.4f,\"ratio\":%.4f,\"source_wait_seconds\":%.4f,"
               "\"sink_wait_seconds\":%.4f,\"buffers\":%llu,\"buffer_bytes\":%llu,"
               "\"peak_rss_kb\":%ld}\n",
               (unsigned long long)st->frames_out, (unsigned long long)st->bytes_in,
               (unsigned long long)st->bytes_out, (unsigned long long)out_bytes, bestrun.seconds,
               ours_gbs, raw, raw_gbs, ours_gbs / raw_gbs, st->source_wait, st->sink_wait,
               (unsigned long long)st->buffers, (unsigned long long)st->buffer_bytes, ru.ru_maxrss);
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
