/*
 * prismio: command-line entry point. Each command lives in its own
 * cmd_<name>.c and gets the remaining arguments.
 */
#include <stdbool.h>
#include <string.h>

#include "cli.h"

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
    {"convert", cmd_convert, "stream a trajectory through selections into a new file"},
    {"gen", cmd_gen, "write a synthetic trajectory (benchmarks, tests)"},
    {"b3sum", cmd_b3sum, "BLAKE3 checksums of files, compatible with b3sum"},
    {"bench", cmd_bench, "benchmarks measured against a baseline in the same run"},
    {"trace", cmd_trace, "summarize a trace or crash dump written with --trace"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: prismio [--version] [--help] COMMAND [ARGS...] [--stats] [--trace FILE]\n\n"
               "High-performance I/O for molecular-dynamics trajectories.\n\n"
               "  --stats        print counters and latency percentiles per operation at the end\n"
               "  --trace FILE   write a Chrome trace (Perfetto, chrome://tracing) of the last\n"
               "                 events of each thread; a crash (or SIGUSR1) writes FILE.crash\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'prismio COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
        printf("prismio %s (blake3 tier %s)\n", pio_version(),
               pio_blake3_tier_name(pio_blake3_tier_active()));
        return EXIT_OK;
    }
    /* Global options, anywhere after the command: taken out before it runs. */
    const char *trace = NULL;
    bool stats = false;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 1 && strcmp(argv[i], "--stats") == 0) {
            stats = true;
        } else if (i > 1 && strcmp(argv[i], "--trace") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "prismio: --trace needs a FILE\n");
                return EXIT_USAGE;
            }
            trace = argv[++i];
        } else {
            argv[n++] = argv[i];
        }
    }
    argc = n;
    argv[argc] = NULL;
    char crash[4096];
    if (stats || trace)
        pio_telemetry_enable(true);
    if (trace) {
        snprintf(crash, sizeof(crash), "%s.crash", trace);
        pio_telemetry_install_crash_handler(crash, true);
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(cmd, commands[i].name) != 0)
            continue;
        int rc = commands[i].fn(argc - 1, argv + 1);
        if (stats)
            pio_telemetry_summary(stderr, false);
        if (trace) {
            int t = pio_telemetry_write_trace(trace);
            if (t != 0) {
                fprintf(stderr, "prismio: %s: cannot write the trace: %s\n", trace,
                        pio_strerror(t));
                if (rc == 0)
                    rc = EXIT_IOERR;
            }
        }
        return rc;
    }
    fprintf(stderr, "prismio: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
