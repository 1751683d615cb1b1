/*
 * cli: the `prismio` command. Uses only the public API (include/), like any
 * other program would; this header is private to src/cli/.
 */
#ifndef PIO_CLI_H
#define PIO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <prismio.h>

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

/* Each command: argv[0] is the command's name. Returns the exit code. */
int cmd_b3sum(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_bench_ring(int argc, char **argv);
int cmd_bench_convert(int argc, char **argv);
int cmd_bench_arrow(int argc, char **argv);

/* Benchmark helpers (cmd_bench.c): seconds to read() a whole file into a
 * reused buffer (< 0 on error); drop a file's pages from the page cache. */
double bench_raw_read(const char *path);
void bench_drop_cache(const char *path);

/*
 * Shared reader options: if argv[*i] is --engine NAME or --direct, consume
 * it (and its value) into *o and return 1; 0 if it is not one of them; -1
 * (after an error message) for a bad engine name.
 */
int cli_reader_option(const char *cmd, int argc, char **argv, int *i, struct pio_reader_options *o);

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

#endif /* PIO_CLI_H */
