/*
 * prismio bench hash FILE: BLAKE3 GB/s per tier (one thread) and per
 * thread count, next to the reference b3sum on the same file in the same
 * run.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD "bench hash"

extern char **environ;

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

int bench_hash(int argc, char **argv)
{
    uint64_t repeat = 5;
    bool json = false, no_baseline = false;
    struct cli_opt opts[] = {
        CLI_OPT_U64("repeat", &repeat, "N", 1, 1000,
                    "runs of each configuration; the best counts (default 5)"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_FLAG("no-baseline", 0, &no_baseline, "do not run b3sum"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "FILE",
        .min_args = 1,
        .max_args = 1,
        .about = "BLAKE3 throughput of FILE (mapped, warm) for each tier on one thread and\n"
                 "for 1..all threads, next to `b3sum --num-threads 1` and `b3sum` run on\n"
                 "the same file in the same run (best of N runs each). b3sum's start-up\n"
                 "time (measured on an empty input) is subtracted from its times.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    bool baseline = !no_baseline;
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_err(CMD, "%s: %s", path, strerror(errno));
        return EXIT_NOINPUT;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        cli_err(CMD, "%s: not a non-empty regular file", path);
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
        cli_err(CMD, "%s: cannot read", path);
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
            fprintf(stderr, "prismio bench hash: b3sum not found: no baseline\n");
        baseline = false;
    }

    /* Interleave configurations across repetitions so that drift in the
     * machine's speed hits all of them alike; keep each one's best run. */
    for (uint64_t r = 0; r < repeat; r++) {
        for (int t = 0; t < PIO_BLAKE3_TIER_COUNT; t++) {
            if (!pio_blake3_tier_supported((enum pio_blake3_tier)t))
                continue;
            pio_blake3_tier_force((enum pio_blake3_tier)t);
            tier_t[t] = bench_best(tier_t[t], time_ours(path, 1));
        }
        pio_blake3_tier_force(PIO_BLAKE3_TIER_AUTO);
        for (unsigned n = 1; n <= cores; n++)
            thr_t[n] = bench_best(thr_t[n], time_ours(path, n));
        if (baseline) {
            b3_start = bench_best(b3_start, time_command(b3_empty_argv));
            b3_1 = bench_best(b3_1, time_command(b3_1_argv));
            b3_all = bench_best(b3_all, time_command(b3_all_argv));
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
