/*
 * The table-driven option parser shared by every command (see cli_args.h
 * for the behaviour it guarantees). One pass over argv: options may come
 * before, between or after the positional arguments, which are gathered in
 * order at the front of argv; a dispatcher (stop_at_arg) stops at its
 * first argument and leaves the rest to the subcommand's own parse.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "clikit.h"

static struct cli_opt *g_globals;
static void (*g_after)(void);

void cli_set_globals(struct cli_opt *globals, void (*after)(void))
{
    g_globals = globals;
    g_after = after;
}

static int usage_code(const struct cli_cmd *cmd)
{
    return cmd->usage_exit ? cmd->usage_exit : EXIT_USAGE;
}

static void verr(const struct cli_cmd *cmd, const char *fmt, va_list ap)
{
    if (cmd->name)
        fprintf(stderr, "prismio %s: ", cmd->name);
    else
        fputs("prismio: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(cmd, fmt, ap);
    va_end(ap);
    return usage_code(cmd);
}

int cli_parse_engine(const char *value, void *dest)
{
    return pio_io_engine_parse(value, dest) == 0 ? 0 : -1;
}

/* ---- lookup ---- */

static struct cli_opt *find_long(struct cli_opt *t, const char *name, size_t len)
{
    for (; t && t->name; t++)
        if (strlen(t->name) == len && strncmp(t->name, name, len) == 0)
            return t;
    return NULL;
}

static struct cli_opt *find_short(struct cli_opt *t, char c)
{
    for (; t && t->name; t++)
        if (t->short_name && t->short_name == c)
            return t;
    return NULL;
}

bool cli_seen(const struct cli_opt *t, const char *name)
{
    for (; t && t->name; t++)
        if (strcmp(t->name, name) == 0)
            return t->seen;
    return false;
}

/* ---- values ---- */

/* What a value of `o` must be, for its error message. */
static void describe(const struct cli_opt *o, char *buf, size_t n)
{
    size_t k = 0;
    switch (o->kind) {
    case CLI_U64:
    case CLI_SIZE:
        if (o->max)
            k = (size_t)snprintf(buf, n, "a whole number from %llu to %llu",
                                 (unsigned long long)o->min, (unsigned long long)o->max);
        else if (o->min)
            k = (size_t)snprintf(buf, n, "a whole number of at least %llu",
                                 (unsigned long long)o->min);
        else
            k = (size_t)snprintf(buf, n, "a whole number");
        if (o->kind == CLI_SIZE && k < n)
            snprintf(buf + k, n - k, " (k, M, G suffixes allowed)");
        break;
    case CLI_FLOAT:
        snprintf(buf, n, "a positive number");
        break;
    case CLI_CHOICE: {
        int m = 0;
        while (o->choices[m])
            m++;
        buf[0] = '\0';
        for (int i = 0; i < m && k < n; i++)
            k += (size_t)snprintf(buf + k, n - k, "%s%s",
                                  i == 0       ? ""
                                  : i == m - 1 ? " or "
                                               : ", ",
                                  o->choices[i]);
        break;
    }
    default:
        snprintf(buf, n, "%s", o->expect ? o->expect : "valid");
    }
}

/* Store `v` into o's destination: 0, or -1 when it is not a valid value. */
static int store(const struct cli_opt *o, const char *v)
{
    switch (o->kind) {
    case CLI_FLAG:
        *(bool *)o->dest = true;
        return 0;
    case CLI_STRING:
        *(const char **)o->dest = v;
        return 0;
    case CLI_U64:
    case CLI_SIZE: {
        uint64_t x;
        if (!cli_parse_u64(v, &x, o->kind == CLI_SIZE) || x < o->min || (o->max && x > o->max))
            return -1;
        *(uint64_t *)o->dest = x;
        return 0;
    }
    case CLI_FLOAT: {
        char *end;
        double x = strtod(v, &end);
        if (!*v || *end || !isfinite(x) || !(x > 0))
            return -1;
        *(double *)o->dest = x;
        return 0;
    }
    case CLI_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(v, o->choices[i]) == 0) {
                *(int *)o->dest = i;
                return 0;
            }
        return -1;
    case CLI_CUSTOM:
        return o->parse(v, o->dest) == 0 ? 0 : -1;
    }
    return -1;
}

/* The n-th word of a positional synopsis ("IN OUT" -> "OUT" for n = 1),
 * brackets and dots left out. */
static void arg_word(const char *args, int n, char *out, size_t cap)
{
    snprintf(out, cap, "argument");
    if (!args)
        return;
    const char *p = args;
    for (int i = 0;; i++) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (len == 0)
            return;
        if (i == n) {
            size_t k = 0;
            for (size_t j = 0; j < len && k + 1 < cap; j++)
                if (p[j] != '[' && p[j] != ']' && p[j] != '.')
                    out[k++] = p[j];
            out[k] = '\0';
            return;
        }
        p += len;
    }
}

/* ---- the parse ---- */

int cli_parse(struct cli_cmd *cmd, int argc, char **argv)
{
    char what[160];
    for (struct cli_opt *o = cmd->opts; o && o->name; o++)
        o->seen = false;
    int npos = 0;
    bool only_args = false;
    cmd->args = argv + argc;
    cmd->nargs = 0;
    int i = 1;
    for (; i < argc; i++) {
        char *a = argv[i];
        if (only_args || a[0] != '-' || a[1] == '\0') {
            if (cmd->stop_at_arg)
                break;
            argv[1 + npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = true;
            if (cmd->stop_at_arg) {
                i++;
                break;
            }
            continue;
        }
        struct cli_opt *o;
        const char *inline_val = NULL;
        char shown[64];
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (len == 4 && strncmp(name, "help", 4) == 0) {
                if (eq)
                    return cli_usage_error(cmd, "option '--help' takes no value");
                goto help;
            }
            o = find_long(cmd->opts, name, len);
            if (!o)
                o = find_long(g_globals, name, len);
            snprintf(shown, sizeof(shown), "--%.*s", (int)(len < 60 ? len : 60), name);
            if (eq)
                inline_val = eq + 1;
        } else {
            if (strcmp(a, "-h") == 0)
                goto help;
            o = find_short(cmd->opts, a[1]);
            snprintf(shown, sizeof(shown), "-%c", a[1]);
            if (a[2]) {
                /* -lVALUE and -l=VALUE; a flag takes nothing glued */
                if (!o || o->kind == CLI_FLAG)
                    o = NULL;
                else
                    inline_val = a[2] == '=' ? a + 3 : a + 2;
            }
        }
        if (!o)
            return cli_usage_error(cmd, "unknown option '%s' (see --help)",
                                   a[1] == '-' ? shown : a);
        const char *v = NULL;
        if (o->kind == CLI_FLAG) {
            if (inline_val)
                return cli_usage_error(cmd, "option '%s' takes no value", shown);
        } else if (inline_val) {
            v = inline_val;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return cli_usage_error(cmd, "option '%s' needs a value (%s)", shown,
                                   o->value ? o->value : "VALUE");
        }
        if (store(o, v) != 0) {
            describe(o, what, sizeof(what));
            return cli_usage_error(cmd, "--%s is %s, not '%s'", o->name, what, v);
        }
        o->seen = true;
    }
    if (cmd->stop_at_arg) {
        cmd->args = argv + i;
        cmd->nargs = argc - i;
        npos = cmd->nargs;
    } else {
        cmd->args = argv + 1;
        cmd->nargs = npos;
    }
    if (npos < cmd->min_args) {
        arg_word(cmd->synopsis, npos, what, sizeof(what));
        return cli_usage_error(cmd, "missing %s (see --help)", what);
    }
    if (cmd->max_args >= 0 && npos > cmd->max_args)
        return cli_usage_error(cmd, "unexpected argument '%s' (see --help)",
                               cmd->args[cmd->max_args]);
    for (struct cli_opt *o = cmd->opts; o && o->name; o++)
        if ((o->flags & CLI_REQUIRED) && !o->seen)
            return cli_usage_error(cmd, "missing --%s%s%s (see --help)", o->name,
                                   o->value ? " " : "", o->value ? o->value : "");
    if (g_after)
        g_after();
    return CLI_GO_ON;
help:
    cli_help(cmd, stdout);
    return EXIT_OK;
}

/* ---- help ---- */

/* "  -x, --name VALUE" or "      --name VALUE" */
static int opt_left(const struct cli_opt *o, char *buf, size_t n)
{
    char s[8] = "    ";
    if (o->short_name)
        snprintf(s, sizeof(s), "-%c, ", o->short_name);
    return snprintf(buf, n, "  %s--%s%s%s", s, o->name, o->value ? " " : "",
                    o->value ? o->value : "");
}

/* An option's help text from column `col`, reflowed (a '\n' counts as a
 * space) and broken between words at HELP_WIDTH. The first line goes on
 * after the `w` characters already written. */
#define HELP_WIDTH 79
static void help_text(FILE *f, const char *h, int col, int w)
{
    size_t room = HELP_WIDTH - col > 20 ? (size_t)(HELP_WIDTH - col) : 20;
    do {
        h += strspn(h, " \n");
        size_t take = strlen(h);
        if (take > room) {
            take = room;
            while (take > 0 && h[take] != ' ' && h[take] != '\n')
                take--;
            if (take == 0) /* one long word */
                take = strcspn(h, " \n");
        }
        fprintf(f, "%*s", w >= 0 ? col - w : col, "");
        for (size_t i = 0; i < take; i++)
            fputc(h[i] == '\n' ? ' ' : h[i], f);
        fputc('\n', f);
        w = -1;
        h += take;
    } while (h[strspn(h, " \n")]);
}

static void opt_rows(FILE *f, const struct cli_opt *t, int col)
{
    char left[96];
    for (; t && t->name; t++) {
        int w = opt_left(t, left, sizeof(left));
        fputs(left, f);
        if (w + 2 > col) {
            fputc('\n', f);
            w = 0;
        }
        help_text(f, t->help ? t->help : "", col, w);
    }
}

static int opt_width(const struct cli_opt *t)
{
    int w = 0;
    char left[96];
    for (; t && t->name; t++) {
        int k = opt_left(t, left, sizeof(left));
        w = k > w ? k : w;
    }
    return w;
}

void cli_help(const struct cli_cmd *cmd, FILE *f)
{
    bool has_opts = cmd->opts && cmd->opts->name;
    fprintf(f, "usage: prismio%s%s", cmd->name ? " " : "", cmd->name ? cmd->name : "");
    if (cmd->stop_at_arg)
        fprintf(f, "%s%s%s\n", has_opts || !cmd->name ? " [OPTIONS]" : "", cmd->synopsis ? " " : "",
                cmd->synopsis ? cmd->synopsis : "");
    else
        fprintf(f, "%s%s%s\n", cmd->synopsis ? " " : "", cmd->synopsis ? cmd->synopsis : "",
                has_opts ? " [OPTIONS]" : "");
    if (cmd->about)
        fprintf(f, "\n%s", cmd->about);
    int col = opt_width(cmd->opts);
    int gw = opt_width(g_globals);
    if (!cmd->name && gw > col)
        col = gw;
    col = (col < 18 ? 18 : col > 26 ? 26 : col) + 2;
    fputs("\noptions:\n", f);
    opt_rows(f, cmd->opts, col);
    struct cli_opt help[] = {CLI_OPT_FLAG("help", 'h', NULL, "this help"), CLI_OPT_END};
    opt_rows(f, help, col);
    if (!cmd->name) {
        fputs("\nglobal options (before or after the command):\n", f);
        opt_rows(f, g_globals, col);
    }
    if (cmd->more)
        fprintf(f, "\n%s", cmd->more);
    if (cmd->name && g_globals && g_globals->name) {
        fputs("\nglobal options, here too (see prismio --help):\n ", f);
        for (const struct cli_opt *o = g_globals; o->name; o++)
            fprintf(f, "%s--%s%s%s", o == g_globals ? " " : ", ", o->name, o->value ? " " : "",
                    o->value ? o->value : "");
        fputc('\n', f);
    }
    if (cmd->epilog) {
        fputc('\n', f);
        cmd->epilog(f);
    }
}

int cli_parse_salt(const char *s, void *dest)
{
    struct cli_salt *so = dest;
    uint8_t *salt = so->salt;
    so->set = true;
    if (strlen(s) != 32)
        return -1;
    for (int i = 0; i < 32; i++) {
        int c = s[i], v = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (v < 0)
            return -1;
        salt[i / 2] = (uint8_t)(i % 2 ? salt[i / 2] | v : v << 4);
    }
    return 0;
}

int cli_parse_meta(const char *s, void *dest)
{
    struct cli_meta *m = dest;
    const char *eq = strchr(s, '=');
    if (m->n == CLI_MAX_META || !eq || eq == s || strlen(s) >= sizeof(m->buf[0]))
        return -1;
    char *b = m->buf[m->n];
    strcpy(b, s);
    b[eq - s] = '\0';
    m->kv[2 * m->n] = b;
    m->kv[2 * m->n + 1] = b + (eq - s) + 1;
    m->n++;
    return 0;
}
