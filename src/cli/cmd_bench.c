/*
 * prismio bench: benchmarks that always measure a baseline in the same run
 * and report ratios, never bare timings (machines here are shared and
 * noisy). Every benchmark takes --json and then prints one JSON object.
 *
 *   bench hash FILE   BLAKE3 GB/s per tier (one thread) and per thread
 *                     count, next to the reference b3sum on the same file.
 */
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli.h"

#define CMD "bench"

extern char **environ;

static void usage(FILE *f)
{
    fprintf(f, "usage: prismio bench BENCHMARK [OPTIONS]\n\n"
               "benchmarks:\n"
               "  hash FILE [--repeat N] [--json] [--no-baseline]\n"
               "      BLAKE3 throughput of FILE (mapped, warm) for each tier on one thread\n"
               "      and for 1..all threads, next to `b3sum --num-threads 1` and `b3sum`\n"
               "      run on the same file in the same run (best of N runs each, N=5).\n");
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
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (argv[i][0] == '-' || path) {
            cli_err(CMD, "hash: unexpected argument '%s' (see --help)", argv[i]);
            return EXIT_USAGE;
        } else
            path = argv[i];
    }
    if (!path) {
        cli_err(CMD, "hash: no FILE given (see --help)");
        return EXIT_USAGE;
    }
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
        printf(",\"bytes\":%lld,\"repeat\":%llu,\"cores\":%u,\"tier\":\"%s\",\"tiers_1t_gbps\":{",
               (long long)st.st_size, (unsigned long long)repeat, cores,
               pio_blake3_tier_name(auto_tier));
        const char *sep = "";
        for (int t = 0; t < PIO_BLAKE3_TIER_COUNT; t++) {
            if (tier_t[t] < 0)
                continue;
            printf("%s\"%s\":%.3f", sep, pio_blake3_tier_name((enum pio_blake3_tier)t),
                   bytes / tier_t[t] / 1e9);
            sep = ",";
        }
        printf("},\"threads_gbps\":{");
        for (unsigned n = 1; n <= cores; n++)
            printf("%s\"%u\":%.3f", n > 1 ? "," : "", n, bytes / thr_t[n] / 1e9);
        printf("}");
        if (b3_1_gbps > 0)
            printf(",\"b3sum_1t_gbps\":%.3f,\"b3sum_gbps\":%.3f,\"b3sum_startup_s\":%.6f,"
                   "\"ratio_1t\":%.3f,\"ratio_all\":%.3f",
                   b3_1_gbps, b3_all_gbps, b3_start, ours_1 / b3_1_gbps, ours_all / b3_all_gbps);
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

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "hash") == 0)
        return bench_hash(argc - 1, argv + 1);
    cli_err(CMD, "unknown benchmark '%s' (see --help)", argv[1]);
    return EXIT_USAGE;
}
