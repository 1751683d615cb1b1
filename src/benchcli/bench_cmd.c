/*
 * prismio bench BENCHMARK [OPTIONS]: picks one benchmark of this module
 * (bench_common.h lists them); 'prismio bench BENCHMARK --help' describes
 * each.
 */
#include <string.h>

#include "bench_common.h"

struct benchmark {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *synopsis;
    const char *summary;
};

static const struct benchmark benchmarks[] = {
    {"hash", bench_hash, "FILE", "BLAKE3 per tier and thread count, next to b3sum"},
    {"read", bench_read, "FILE.holo", "reading via views or an engine, next to raw scans or fio"},
    {"write", bench_write, "FILE.holo", "the writer (hashed, durable) next to fio"},
    {"remote", bench_remote, "URL",
     "a remote file: open, random frames, and reading in order\nnext to curl (and MDAnalysis on "
     "the "
     "XTC, --xtc)"},
    {"commit", bench_commit, "FILE.holo",
     "commits per frame and per 1,000 next to one commit;\na follower's latency"},
    {"ring", bench_ring, "", "SPSC ring and MPMC queue next to ck_ring"},
    {"convert", bench_convert, "FILE",
     "the pipeline next to read(); a foreign FILE: decoding next\n"
     "to MDAnalysis, conversion next to the decode"},
    {"arrow", bench_arrow, "FILE.holo", "Arrow IPC and C Data export next to memcpy and write()"},
    {"compress", bench_compress, "FILE",
     "HOLO compression next to XTC (MDAnalysis), TNG, HDF5,\nzarr and zstd: size, error, decode "
     "and encode speed"},
    {"mpi", bench_mpi, "",
     "1, 2 and 4 MPI ranks writing and reading one file;\nparallel XTC conversion next to "
     "the serial one;\nDask RMSF next to numpy"},
    {"workflow", bench_workflow, "",
     "prismio run converting and compressing 16 runs next to\n"
     "a shell loop and xargs -P 2; a rerun with nothing to do"},
};
#define NBENCH (sizeof(benchmarks) / sizeof(benchmarks[0]))

static void list_benchmarks(FILE *f)
{
    fputs("benchmarks:\n", f);
    for (size_t i = 0; i < NBENCH; i++) {
        char left[40];
        snprintf(left, sizeof(left), "%s %s", benchmarks[i].name, benchmarks[i].synopsis);
        const char *s = benchmarks[i].summary;
        for (bool first = true; *s; first = false) {
            size_t len = strcspn(s, "\n");
            fprintf(f, "  %-18s %.*s\n", first ? left : "", (int)len, s);
            s += len + (s[len] == '\n');
        }
    }
    fputs("\n'prismio bench BENCHMARK --help' gives each one's options.\n", f);
}

int cmd_bench(int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_END};
    struct cli_cmd cmd = {
        .name = "bench",
        .synopsis = "BENCHMARK [ARGS...]",
        .min_args = 1,
        .max_args = -1,
        .about = "Benchmarks that always measure a baseline in the same run and report\n"
                 "ratios, never bare timings. Every benchmark takes --json and then prints\n"
                 "one JSON object.\n",
        .epilog = list_benchmarks,
        .opts = opts,
        .stop_at_arg = true,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    for (size_t i = 0; i < NBENCH; i++)
        if (strcmp(cmd.args[0], benchmarks[i].name) == 0)
            return benchmarks[i].fn(cmd.nargs, cmd.args);
    return cli_usage_error(&cmd, "unknown benchmark '%s' (see --help)", cmd.args[0]);
}
