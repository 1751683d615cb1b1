/*
 * clikit: what every part of the `prismio` program shares (the commands in
 * src/cli/, the benchmarks in src/benchcli/): exit codes, messages, the
 * table-driven option parser (cli_args.h), number parsing, JSON output,
 * file hashing. Public API only, like the rest of the program.
 */
#ifndef PIO_CLIKIT_H
#define PIO_CLIKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <prismio.h>

#include "cli_args.h"

/* Exit codes (sysexits.h values where one fits). */
enum {
    EXIT_OK = 0,
    EXIT_INTEGRITY = 1, /* data checked and found wrong; also b3sum's failures */
    EXIT_USAGE = 64,
    EXIT_DATAERR = 65,
    EXIT_NOINPUT = 66,
    EXIT_UNAVAILABLE = 69, /* a valid input this build or format reader does not support */
    EXIT_IOERR = 74,
};

/* The reader options' rows in an option table: --engine E into an enum
 * pio_io_engine, --direct into a bool (the caller sets PIO_READER_DIRECT);
 * dflt names the engine AUTO means when PIO_IO_ENGINE is unset. */
#define CLI_OPTS_READER_DEFAULT(engine, direct, dflt)                                              \
    CLI_OPT_CUSTOM("engine", (engine), "E", cli_parse_engine, CLI_ENGINES,                         \
                   "I/O engine for bulk reads: mmap, pread or uring (default: "                    \
                   "PIO_IO_ENGINE, else " dflt "); falls back, and says why, where "               \
                   "one cannot be used"),                                                          \
        CLI_OPT_FLAG("direct", 0, (direct), "O_DIRECT reads (pread and uring engines)")
#define CLI_OPTS_READER(engine, direct) CLI_OPTS_READER_DEFAULT(engine, direct, "mmap")
/* --follow (help: what it does) and --timeout S, for the commands that
 * follow a HOLO file being written. */
#define CLI_OPTS_FOLLOW(follow, timeout, help)                                                     \
    CLI_OPT_FLAG("follow", 0, (follow), help),                                                     \
        CLI_OPT_FLOAT("timeout", (timeout), "S",                                                   \
                      "with --follow: give up when no commit comes for S seconds "                 \
                      "(default: wait as long as it takes)")
/* --timeout's seconds as milliseconds, or a usage error printed (0: fine). */
int cli_follow_timeout(const char *cmd, double seconds, uint32_t *ms);

/* The global options' values (main's table points here). A command that
 * writes the --trace FILE itself (prismio run: the whole job's) sets
 * trace_writer, which main then calls instead of writing the process's own
 * (returns 0 or a library error code). */
struct cli_globals {
    bool stats;
    const char *stats_json;
    const char *trace;
    int (*trace_writer)(const char *path);
};
extern struct cli_globals cli_globals;

/* Exit code for a library return code (see the enum above). */
int cli_exit_code(int rc);
/* Print the error's message (or the code's description); return its exit code. */
int cli_fail(const char *cmd, int rc, const struct pio_error *e);

/* "prismio CMD: message\n" on stderr. */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a non-negative decimal integer (suffixes k, M, G = powers of 1024
 * when allow_suffix). Returns false on any junk or overflow. */
bool cli_parse_u64(const char *s, uint64_t *out, bool allow_suffix);

/* Monotonic time in seconds. */
double cli_now(void);
/* s seconds as M:SS or H:MM:SS ("--:--" when negative or over 99 h): an ETA. */
void cli_fmt_duration(char *buf, size_t n, double s);
/* A file made under a temporary name, put in place: tmp fsynced, renamed
 * to dst, dst's directory fsynced. 0, or -errno (which step failed: the
 * caller names both paths). */
int cli_rename_durable(const char *tmp, const char *dst);
/* This program's path (/proc/self/exe) into buf: 0, or -1 with a message
 * on stderr naming cmd. */
int cli_self_path(const char *cmd, char *buf, size_t n);

/*
 * Hash a file (path "-" is standard input) into `h`, which the caller has
 * initialised. Regular files are read with parallel pread on `threads`
 * threads (0: all cores) unless no_mmap (b3sum's flag, kept for
 * compatibility: then one sequential read loop); other inputs are read in
 * blocks.
 * Returns 0 or a negative errno.
 */
int cli_hash_path(const char *path, pio_blake3_hasher *h, unsigned threads, bool no_mmap);

/* Minimal JSON output helpers: a string with escapes. */
void cli_json_string(FILE *f, const char *s);
/* A number, or null where it is not finite (JSON has no NaN or infinity). */
void cli_json_number(FILE *f, double v);
/* printf to stdout for JSON: a non-finite number (printf's inf or nan)
 * outside a string is written as null, so the output stays valid JSON. */
void cli_json_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* PIO_CLIKIT_H */
