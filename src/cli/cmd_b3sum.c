/*
 * prismio b3sum: BLAKE3 checksums with the interface of the reference
 * `b3sum` (1.2.0): same output lines (hex, two spaces, name; names holding
 * a backslash or newline escaped and the line prefixed with a backslash),
 * same --check format and strictness, same exit status (0, or 1 after any
 * failure; errors go to stderr and the remaining files are still done).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define CMD "b3sum"

enum mode { MODE_HASH, MODE_KEYED, MODE_DERIVE };

struct b3opts {
    enum mode mode;
    uint8_t key[PIO_BLAKE3_KEY_LEN];
    const char *context;
    uint64_t length;
    unsigned threads;
    bool check, no_names, raw, quiet, no_mmap;
};

static void hasher_init(pio_blake3_hasher *h, const struct b3opts *o)
{
    switch (o->mode) {
    case MODE_KEYED:
        pio_blake3_hasher_init_keyed(h, o->key);
        break;
    case MODE_DERIVE:
        pio_blake3_hasher_init_derive_key(h, o->context);
        break;
    default:
        pio_blake3_hasher_init(h);
    }
}

/* b3sum's name escaping: returns whether the name needed it. */
static bool print_name(FILE *f, const char *name, bool *escaped_out)
{
    bool esc = strchr(name, '\\') || strchr(name, '\n');
    if (escaped_out)
        *escaped_out = esc;
    if (!esc) {
        fputs(name, f);
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
    return true;
}

static void print_hex(FILE *f, const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        fputc(digits[b[i] >> 4], f);
        fputc(digits[b[i] & 15], f);
    }
}

static int hash_one(const char *path, const struct b3opts *o)
{
    pio_blake3_hasher h;
    hasher_init(&h, o);
    int rc = cli_hash_path(path, &h, o->threads, o->no_mmap);
    if (rc < 0) {
        cli_err(CMD, "%s: %s", path, pio_strerror(rc));
        return 1;
    }
    size_t len = (size_t)o->length;
    uint8_t small[PIO_BLAKE3_OUT_LEN];
    uint8_t *out = len <= sizeof(small) ? small : malloc(len);
    if (!out) {
        cli_err(CMD, "%s: cannot allocate %zu bytes of output", path, len);
        return 1;
    }
    pio_blake3_hasher_finalize(&h, out, len);
    if (o->raw) {
        fwrite(out, 1, len, stdout);
    } else {
        bool esc = !o->no_names && (strchr(path, '\\') || strchr(path, '\n'));
        if (esc)
            fputc('\\', stdout);
        print_hex(stdout, out, len);
        if (!o->no_names) {
            fputs("  ", stdout);
            print_name(stdout, path, NULL);
        }
        fputc('\n', stdout);
    }
    if (out != small)
        free(out);
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* b3sum accepts lowercase only */
}

/* Check one line of a checkfile; returns 0 if it matched. */
static int check_line(const char *where, char *line, const struct b3opts *o)
{
    size_t n = strlen(line);
    if (n == 0) {
        cli_err(CMD, "%s: Empty line", where);
        return 1;
    }
    bool escaped = line[0] == '\\';
    char *p = line + escaped;
    if (strlen(p) < 2 * PIO_BLAKE3_OUT_LEN + 3) {
        cli_err(CMD, "%s: Short line", where);
        return 1;
    }
    uint8_t want[PIO_BLAKE3_OUT_LEN];
    for (int i = 0; i < PIO_BLAKE3_OUT_LEN; i++) {
        int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            cli_err(CMD, "%s: Invalid hex", where);
            return 1;
        }
        want[i] = (uint8_t)(hi << 4 | lo);
    }
    p += 2 * PIO_BLAKE3_OUT_LEN;
    if (p[0] != ' ' || p[1] != ' ') {
        cli_err(CMD, "%s: Invalid space", where);
        return 1;
    }
    char *name = p + 2;
    if (escaped) {
        char *w = name;
        for (char *r = name; *r; r++) {
            if (*r != '\\') {
                *w++ = *r;
                continue;
            }
            r++;
            if (*r == '\\')
                *w++ = '\\';
            else if (*r == 'n')
                *w++ = '\n';
            else {
                cli_err(CMD, "%s: Invalid escape sequence", where);
                return 1;
            }
        }
        *w = '\0';
    }

    pio_blake3_hasher h;
    hasher_init(&h, o);
    int rc = cli_hash_path(name, &h, o->threads, o->no_mmap);
    uint8_t got[PIO_BLAKE3_OUT_LEN];
    pio_blake3_hasher_finalize(&h, got, sizeof(got));
    /* Not secret data: a plain comparison is fine. */
    bool match = rc == 0 && memcmp(got, want, sizeof(got)) == 0;
    if (match && o->quiet)
        return 0;
    if (escaped)
        fputc('\\', stdout);
    print_name(stdout, name, NULL);
    if (rc < 0)
        printf(": FAILED (%s)\n", pio_strerror(rc));
    else
        printf(match ? ": OK\n" : ": FAILED\n");
    return match ? 0 : 1;
}

static int check_file(const char *path, const struct b3opts *o)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        cli_err(CMD, "%s: %s", path, strerror(errno));
        return 1;
    }
    int failed = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = '\0';
        char where[4096];
        snprintf(where, sizeof(where), "%s:%lu", path, lineno);
        failed |= check_line(where, line, o);
        fflush(stdout);
    }
    if (ferror(f)) {
        cli_err(CMD, "%s: %s", path, strerror(errno));
        failed = 1;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return failed;
}

static int read_key(uint8_t key[PIO_BLAKE3_KEY_LEN])
{
    uint8_t buf[PIO_BLAKE3_KEY_LEN + 1];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf + got, sizeof(buf) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_err(CMD, "reading the key from standard input: %s", strerror(errno));
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got == sizeof(buf))
            break;
    }
    if (got != PIO_BLAKE3_KEY_LEN) {
        cli_err(CMD, "expected 32 key bytes from stdin, found %s%zu", got > 32 ? "more than " : "",
                got > 32 ? (size_t)32 : got);
        return -1;
    }
    memcpy(key, buf, PIO_BLAKE3_KEY_LEN);
    return 0;
}

static int parse_tier(const char *v, void *dest)
{
    return pio_blake3_tier_parse(v, dest) == 0 ? 0 : -1;
}

int cmd_b3sum(int argc, char **argv)
{
    struct b3opts o = {.mode = MODE_HASH, .length = PIO_BLAKE3_OUT_LEN};
    uint64_t threads = 0;
    enum pio_blake3_tier tier = PIO_BLAKE3_TIER_AUTO;
    const char **files = NULL;
    int nfiles = 0, status = 0;
    bool keyed = false;
    struct cli_opt opts[] = {
        CLI_OPT_FLAG("check", 'c', &o.check, "read BLAKE3 sums from the FILEs and check them"),
        CLI_OPT_FLAG("keyed", 0, &keyed, "keyed mode; the 32-byte key is read from standard input"),
        CLI_OPT_STRING("derive-key", 0, &o.context, "CTX",
                       "key derivation mode with context string CTX"),
        {.name = "length",
         .short_name = 'l',
         .kind = CLI_U64,
         .dest = &o.length,
         .value = "N",
         .max = (uint64_t)1 << 32,
         .help = "output bytes before hex encoding (default 32)"},
        CLI_OPT_U64("threads", &threads, "N", 0, 1024,
                    "threads for large files (default 0: all cores)"),
        CLI_OPT_U64("num-threads", &threads, "N", 0, 1024, "the same, under b3sum's name"),
        CLI_OPT_FLAG("no-mmap", 0, &o.no_mmap, "read files instead of mapping them"),
        CLI_OPT_FLAG("no-names", 0, &o.no_names, "omit file names"),
        CLI_OPT_FLAG("raw", 0, &o.raw, "write raw output bytes (a single input only)"),
        CLI_OPT_FLAG("quiet", 0, &o.quiet, "with --check, print only failures"),
        CLI_OPT_CUSTOM("tier", &tier, "T", parse_tier, "auto, portable, sse41, avx2 or avx512",
                       "BLAKE3 implementation: auto, portable, sse41, avx2, avx512"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "[FILE...]",
        .min_args = 0,
        .max_args = -1,
        .about = "BLAKE3 checksums, output and --check compatible with b3sum. With no FILE,\n"
                 "or when FILE is -, read standard input.\n",
        .more = "Exit status: 0 when every file was hashed (and matched); 1 otherwise,\n"
                "usage errors included (as b3sum).\n",
        .opts = opts,
        .usage_exit = 1, /* b3sum exits 1 on usage errors too */
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    o.threads = (unsigned)threads;
    if (cli_seen(opts, "tier") && pio_blake3_tier_force(tier) != 0) {
        cli_err(CMD, "tier '%s' is not supported by this build or CPU", pio_blake3_tier_name(tier));
        goto usage_error;
    }
    files = calloc((size_t)cmd.nargs + 1, sizeof(*files));
    if (!files)
        return EXIT_INTEGRITY;
    for (int i = 0; i < cmd.nargs; i++)
        files[nfiles++] = cmd.args[i];
    if (keyed && o.context) {
        cli_err(CMD, "--keyed cannot be used with --derive-key");
        goto usage_error;
    }
    if (o.quiet && !o.check) {
        cli_err(CMD, "--quiet must be used with --check");
        goto usage_error;
    }
    if (o.raw && nfiles > 1) {
        cli_err(CMD, "only one file can be given with --raw");
        goto usage_error;
    }
    if (o.raw)
        o.no_names = true;
    if (keyed) {
        o.mode = MODE_KEYED;
        if (read_key(o.key) != 0)
            goto usage_error;
    } else if (o.context) {
        o.mode = MODE_DERIVE;
    }
    if (nfiles == 0)
        files[nfiles++] = "-";

    for (int i = 0; i < nfiles; i++) {
        status |= o.check ? check_file(files[i], &o) : hash_one(files[i], &o);
        fflush(stdout);
    }
    goto out;
usage_error:
    status = 1; /* b3sum exits 1 on usage errors too */
out:
    free(files);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_err(CMD, "writing standard output: %s", strerror(errno));
        status = 1;
    }
    return status;
}
