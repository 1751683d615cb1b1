/*
 * prismio: command-line entry point. Each command lives in its own
 * cmd_<name>.c and gets the remaining arguments.
 */
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
};

static void usage(FILE *f)
{
    fprintf(f, "usage: prismio [--version] [--help] COMMAND [ARGS...]\n\n"
               "High-performance I/O for molecular-dynamics trajectories.\n\n"
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
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "prismio: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
