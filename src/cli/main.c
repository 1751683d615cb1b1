/*
 * prismio: command-line entry point. Each command lives in its own
 * cmd_<name>.c (the benchmarks in their own module, src/benchcli/) and
 * gets the remaining arguments; every command parses them with the shared
 * table-driven parser (cli_args.c), which also accepts the global options
 * below, so that they work before or after the command.
 */
#include <stdbool.h>
#include <string.h>

#include "benchcli.h"
#include "cli.h"
#include "workflow.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"info", cmd_info, "summary of a HOLO file (--json for machines)"},
    {"verify", cmd_verify, "check every checksum of a HOLO file"},
    {"recover", cmd_recover, "commit a HOLO file whose writer was killed"},
    {"dump", cmd_dump, "print one frame as CSV or XYZ"},
    {"truncate", cmd_truncate, "drop the frames after a step (restart from a checkpoint)"},
    {"compact", cmd_compact, "copy a HOLO file without dead records, with one index"},
    {"dataset", cmd_dataset, "build, describe or check a dataset of structures (shards)"},
    {"convert", cmd_convert, "stream a trajectory through selections into a new file"},
    {"concat", cmd_concat, "the frames of several trajectories into one HOLO file"},
    {"run", cmd_run, "run a declarative job: steps over many files, resumable"},
    {"gen", cmd_gen, "write a synthetic trajectory (benchmarks, tests)"},
    {"formats", cmd_formats, "the formats this build reads and writes, or what files are"},
    {"b3sum", cmd_b3sum, "BLAKE3 checksums of files, compatible with b3sum"},
    {"bench", cmd_bench, "benchmarks measured against a baseline in the same run"},
    {"trace", cmd_trace, "summarize a trace or crash dump written with --trace"},
};

/* ---- global options ---- */

#define g_stats cli_globals.stats
#define g_trace cli_globals.trace

static struct cli_opt globals[] = {
    CLI_OPT_FLAG("stats", 0, &cli_globals.stats,
                 "at the end, print counters and latency percentiles per operation"),
    CLI_OPT_STRING("stats-json", 0, &cli_globals.stats_json, "FILE",
                   "at the end, write those counters and percentiles to FILE as one "
                   "JSON object"),
    CLI_OPT_STRING("trace", 0, &cli_globals.trace, "FILE",
                   "write a Chrome trace (Perfetto, chrome://tracing) of the last "
                   "events of each thread; a crash (or SIGUSR1) writes FILE.crash"),
    CLI_OPT_END,
};

/* --stats-json FILE: 0, or the exit code of a failure (said on stderr) */
static int write_stats_json(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f) {
        pio_telemetry_summary(f, true);
        fputc('\n', f);
    }
    if (!f || ferror(f) | (fclose(f) != 0)) {
        fprintf(stderr, "prismio: %s: cannot write the counters\n", path);
        return EXIT_IOERR;
    }
    return 0;
}

/* After each parse: recording on as soon as either option is seen, and the
 * crash handler pointed at the latest --trace FILE (idempotent). */
static void apply_globals(void)
{
    static const char *installed;
    static char crash[4096];
    if (g_stats || g_trace || cli_globals.stats_json)
        pio_telemetry_enable(true);
    if (g_trace && g_trace != installed) {
        snprintf(crash, sizeof(crash), "%s.crash", g_trace);
        pio_telemetry_install_crash_handler(crash, true);
        installed = g_trace;
    }
}

static void list_commands(FILE *f)
{
    fprintf(f, "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'prismio COMMAND --help' describes a command; man prismio-COMMAND too.\n");
}

int main(int argc, char **argv)
{
    bool version = false;
    struct cli_opt opts[] = {
        CLI_OPT_FLAG("version", 'V', &version, "print the version and the BLAKE3 tier in use"),
        CLI_OPT_END,
    };
    struct cli_cmd top = {
        .name = NULL,
        .synopsis = "COMMAND [ARGS...]",
        .min_args = 0, /* --version alone */
        .max_args = -1,
        .about = "High-performance I/O for molecular-dynamics trajectories.\n",
        .more = "Exit status: 0 ok, 1 integrity (a checksum or damaged frame), 64 usage,\n"
                "65 bad data, 66 missing input, 69 unsupported, 74 I/O error.\n",
        .epilog = list_commands,
        .opts = opts,
        .stop_at_arg = true,
    };
    cli_set_globals(globals, apply_globals);
    if (argc < 2) {
        cli_help(&top, stderr);
        return EXIT_USAGE;
    }
    int rc = cli_parse(&top, argc, argv);
    if (rc != CLI_GO_ON)
        return rc;
    const char *cmd = top.nargs ? top.args[0] : NULL;
    if (version || (cmd && strcmp(cmd, "version") == 0)) {
        printf("prismio %s (blake3 tier %s)\n", pio_version(),
               pio_blake3_tier_name(pio_blake3_tier_active()));
        return EXIT_OK;
    }
    if (!cmd)
        return cli_usage_error(&top, "missing COMMAND (see --help)");
    if (strcmp(cmd, "help") == 0) {
        cli_help(&top, stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(cmd, commands[i].name) != 0)
            continue;
        rc = commands[i].fn(top.nargs, top.args);
        if (g_stats)
            pio_telemetry_summary(stderr, false);
        if (cli_globals.stats_json) {
            int s = write_stats_json(cli_globals.stats_json);
            if (s != 0 && rc == 0)
                rc = s;
        }
        if (g_trace) {
            /* a command may write the trace itself (run: the whole job's) */
            int t = cli_globals.trace_writer ? cli_globals.trace_writer(g_trace)
                                             : pio_telemetry_write_trace(g_trace);
            if (t != 0) {
                fprintf(stderr, "prismio: %s: cannot write the trace: %s\n", g_trace,
                        pio_strerror(t));
                if (rc == 0)
                    rc = EXIT_IOERR;
            }
        }
        return rc;
    }
    return cli_usage_error(&top, "unknown command '%s' (see --help)", cmd);
}
