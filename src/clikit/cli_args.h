/*
 * cli_args: the one option parser of every `prismio` command.
 *
 * A command declares its options in a table (struct cli_opt: long name,
 * optional short name, what kind of value it takes, where to store it,
 * help text) and its positional arguments in a struct cli_cmd, then calls
 * cli_parse(). The parser gives every command the same behaviour:
 *
 *   --opt value, --opt=value, -o value, -ovalue; "--" ends the options and
 *   "-" is an argument (standard input where a command reads files);
 *   --help / -h prints help generated from the table (stdout, exit 0);
 *   errors are one line on stderr naming the command and the option:
 *       prismio CMD: unknown option '--x' (see --help)
 *       prismio CMD: option '--frame' needs a value (N)
 *       prismio CMD: --threads is a whole number from 0 to 1024, not 'x'
 *   and exit with the command's usage code (EXIT_USAGE; b3sum keeps 1).
 *
 * Global options (--stats, --trace FILE) live in their own table, given
 * once by main (cli_set_globals); every command's parser also accepts
 * them, so they work before or after the command. A hook runs after each
 * successful parse so that main can act on them before the command works.
 *
 * Tables are ordinary arrays in the command's function (dest points at its
 * locals); the parser marks each option it saw (`seen`). The man-page test
 * compares each command's generated --help with docs/man/, so a new option
 * without documentation fails the test suite.
 */
#ifndef PIO_CLI_ARGS_H
#define PIO_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum cli_kind {
    CLI_FLAG,   /* no value: *(bool *)dest = true */
    CLI_STRING, /* *(const char **)dest = the value (argv's storage) */
    CLI_U64,    /* *(uint64_t *)dest: a decimal whole number in [min, max] */
    CLI_SIZE,   /* as CLI_U64, with k, M, G suffixes (powers of 1024) */
    CLI_FLOAT,  /* *(double *)dest: a finite number greater than 0 */
    CLI_CHOICE, /* *(int *)dest = index of the value in `choices` */
    CLI_CUSTOM, /* parse(value, dest): 0, or < 0 when the value is not `expect` */
};

/* cli_opt.flags */
#define CLI_REQUIRED 1u /* a usage error when absent */

struct cli_opt {
    const char *name; /* long name, without the leading "--"; NULL ends a table */
    char short_name;  /* -x, or 0 for none */
    enum cli_kind kind;
    void *dest;
    const char *value;          /* the value's name in help and errors (N, FILE); NULL for flags */
    const char *help;           /* one paragraph, reflowed ('\n' counts as a space) */
    uint64_t min, max;          /* CLI_U64, CLI_SIZE: accepted range; max 0 means no upper bound */
    const char *const *choices; /* CLI_CHOICE: NULL-terminated */
    int (*parse)(const char *value, void *dest); /* CLI_CUSTOM */
    const char *expect;                          /* CLI_CUSTOM: what a value must be, for errors */
    unsigned flags;
    bool seen; /* set by cli_parse when the option was given */
};

#define CLI_OPT_FLAG(n, s, d, h)                                                                   \
    {                                                                                              \
        .name = (n), .short_name = (s), .kind = CLI_FLAG, .dest = (d), .help = (h)                 \
    }
#define CLI_OPT_STRING(n, s, d, v, h)                                                              \
    {                                                                                              \
        .name = (n), .short_name = (s), .kind = CLI_STRING, .dest = (d), .value = (v), .help = (h) \
    }
#define CLI_OPT_U64(n, d, v, lo, hi, h)                                                            \
    {                                                                                              \
        .name = (n), .kind = CLI_U64, .dest = (d), .value = (v), .min = (lo), .max = (hi),         \
        .help = (h)                                                                                \
    }
#define CLI_OPT_SIZE(n, d, v, lo, hi, h)                                                           \
    {                                                                                              \
        .name = (n), .kind = CLI_SIZE, .dest = (d), .value = (v), .min = (lo), .max = (hi),        \
        .help = (h)                                                                                \
    }
#define CLI_OPT_FLOAT(n, d, v, h)                                                                  \
    {                                                                                              \
        .name = (n), .kind = CLI_FLOAT, .dest = (d), .value = (v), .help = (h)                     \
    }
#define CLI_OPT_CHOICE(n, d, v, c, h)                                                              \
    {                                                                                              \
        .name = (n), .kind = CLI_CHOICE, .dest = (d), .value = (v), .choices = (c), .help = (h)    \
    }
#define CLI_OPT_CUSTOM(n, d, v, p, e, h)                                                           \
    {                                                                                              \
        .name = (n), .kind = CLI_CUSTOM, .dest = (d), .value = (v), .parse = (p), .expect = (e),   \
        .help = (h)                                                                                \
    }
#define CLI_OPT_END                                                                                \
    {                                                                                              \
        .name = NULL                                                                               \
    }

struct cli_cmd {
    const char *name;        /* "info", "bench read"; NULL for prismio itself */
    const char *synopsis;    /* the positional arguments: "FILE", "IN OUT", "[FILE...]" */
    int min_args;            /* positional arguments required */
    int max_args;            /* at most; < 0: no limit */
    const char *about;       /* help: what the command does (after the synopsis) */
    const char *more;        /* help after the options (notes, exit status), or NULL */
    void (*epilog)(FILE *f); /* help: printed last (lists of subcommands), or NULL */
    struct cli_opt *opts;
    int usage_exit;   /* exit code of a usage error; 0 means EXIT_USAGE */
    bool stop_at_arg; /* dispatchers: options end at the first argument */

    /* Out: the positional arguments, in order. With stop_at_arg, args[0] is
     * the subcommand and the rest of the command line follows it. */
    int nargs;
    char **args;
};

/* cli_parse's "parsed: go on with the command" */
#define CLI_GO_ON (-1)

/*
 * Parse argv[1..argc) (argv[0] is the command's name) into the table's
 * destinations and cmd->args. Returns CLI_GO_ON, or the exit code to
 * return at once: EXIT_OK after --help, the usage code after an error
 * (its one line already on stderr). argv's pointers may be reordered.
 */
int cli_parse(struct cli_cmd *cmd, int argc, char **argv);

/* Whether the option called `name` (long name) was given in the last parse. */
bool cli_seen(const struct cli_opt *opts, const char *name);

/* Print the command's help (generated from its table) to f. */
void cli_help(const struct cli_cmd *cmd, FILE *f);

/* Report a usage error found after parsing ("prismio CMD: ..."): returns
 * the command's usage exit code. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The global options every command accepts (main's table), and a hook run
 * after every successful parse (it must be idempotent: a dispatcher's
 * command line is parsed once per level). */
void cli_set_globals(struct cli_opt *globals, void (*after)(void));

/* Shared CLI_CUSTOM parsers. */
/* --salt HEX: 32 hex digits into a struct cli_salt (a .holo OUT's salt;
 * with it the writer also sets creation time 0: the same bytes each time) */
struct cli_salt {
    uint8_t salt[16];
    bool set;
};
int cli_parse_salt(const char *value, void *dest);
/* --meta KEY=VALUE, repeatable, into a struct cli_meta: kv is
 * pio_sink_options.metadata's pairs (NULL-ended) once n > 0 */
#define CLI_MAX_META 16
struct cli_meta {
    const char *kv[2 * CLI_MAX_META + 1];
    char buf[CLI_MAX_META][1024];
    int n;
};
int cli_parse_meta(const char *value, void *dest);
#define CLI_META_EXPECT "KEY=VALUE (at most 16, each under 1 KiB)"
int cli_parse_engine(const char *value, void *dest); /* enum pio_io_engine */
#define CLI_ENGINES "auto, mmap, pread or uring"

#endif /* PIO_CLI_ARGS_H */
