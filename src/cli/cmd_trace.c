/*
 * prismio trace summarize FILE: per-operation counts, bytes and latency
 * percentiles (exact, from the events) of a trace written with --trace
 * (Chrome trace-event JSON, one event per line) or of a crash dump
 * (FILE.crash: its counters, then its events).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct agg {
    char op[24];
    uint64_t count, bytes, errors;
    double *dur; /* ns */
    size_t n, cap;
};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static struct agg *find(struct agg *a, size_t *na, const char *op)
{
    for (size_t i = 0; i < *na; i++)
        if (strcmp(a[i].op, op) == 0)
            return &a[i];
    if (*na == 32)
        return NULL;
    struct agg *g = &a[(*na)++];
    memset(g, 0, sizeof(*g));
    snprintf(g->op, sizeof(g->op), "%s", op);
    return g;
}

static void add(struct agg *g, uint64_t bytes, double dur_ns, int result)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        double *d = realloc(g->dur, cap * sizeof(*d));
        if (!d)
            return;
        g->dur = d;
        g->cap = cap;
    }
    g->dur[g->n++] = dur_ns;
    g->count++;
    g->bytes += bytes;
    g->errors += result != 0;
}

/* Value of `key` ("key":NUMBER or key=NUMBER) in a line. */
static bool num(const char *line, const char *key, double *out)
{
    const char *p = strstr(line, key);
    if (!p)
        return false;
    p += strlen(key);
    char *end;
    *out = strtod(p, &end);
    return end != p;
}

static bool word(const char *line, const char *key, char *out, size_t n)
{
    const char *p = strstr(line, key);
    if (!p)
        return false;
    p += strlen(key);
    size_t k = 0;
    while (p[k] && p[k] != '"' && p[k] != ' ' && p[k] != '\n' && k + 1 < n) {
        out[k] = p[k];
        k++;
    }
    out[k] = '\0';
    return k > 0;
}

static int trace_summarize(int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_END};
    struct cli_cmd cmd = {
        .name = "trace summarize",
        .synopsis = "FILE",
        .min_args = 1,
        .max_args = 1,
        .about = "Per-operation counts, bytes and latency percentiles (exact, from the\n"
                 "events) of FILE: a trace written by --trace, or a crash dump (FILE.crash).\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_err("trace", "%s: cannot open", path);
        return EXIT_NOINPUT;
    }
    struct agg a[32];
    size_t na = 0, lines = 0, events = 0;
    char line[2048], crash[128] = "";
    bool dump = false;
    while (fgets(line, sizeof(line), f)) {
        lines++;
        if (lines == 1 && strncmp(line, "prismio flight recorder dump", 28) == 0) {
            dump = true;
            snprintf(crash, sizeof(crash), "%.100s", line + 29);
            crash[strcspn(crash, "\n")] = '\0';
            continue;
        }
        char op[24];
        double dur, bytes = 0, result = 0;
        if (dump && strncmp(line, "event ", 6) == 0 && word(line, "op=", op, sizeof(op)) &&
            num(line, "dur_ns=", &dur)) {
            num(line, "bytes=", &bytes);
            num(line, "result=", &result);
        } else if (!dump && word(line, "\"name\":\"", op, sizeof(op)) &&
                   num(line, "\"dur\":", &dur)) {
            dur *= 1e3; /* us -> ns */
            num(line, "\"bytes\":", &bytes);
            num(line, "\"result\":", &result);
        } else {
            continue;
        }
        struct agg *g = find(a, &na, op);
        if (g) {
            add(g, (uint64_t)bytes, dur, (int)result);
            events++;
        }
    }
    fclose(f);
    if (!dump && events == 0 && lines <= 1) {
        cli_err("trace", "%s: not a prismio trace or crash dump", path);
        return EXIT_DATAERR;
    }
    printf("%s: %zu events%s%s\n", path, events, dump ? ", crash dump " : "", crash);
    printf("%-11s %9s %10s %9s %9s %9s %9s %9s\n", "operation", "count", "MB", "p50 us", "p90 us",
           "p99 us", "max us", "errors");
    for (size_t i = 0; i < na; i++) {
        struct agg *g = &a[i];
        qsort(g->dur, g->n, sizeof(double), cmp_d);
        double q[3];
        const double qs[3] = {0.5, 0.9, 0.99};
        for (int k = 0; k < 3; k++) {
            size_t r = (size_t)(qs[k] * (double)g->n + 0.999999);
            q[k] = g->n ? g->dur[(r ? r : 1) - 1] / 1e3 : 0;
        }
        printf("%-11s %9llu %10.2f %9.1f %9.1f %9.1f %9.1f %9llu\n", g->op,
               (unsigned long long)g->count, (double)g->bytes / 1e6, q[0], q[1], q[2],
               g->n ? g->dur[g->n - 1] / 1e3 : 0, (unsigned long long)g->errors);
        free(g->dur);
    }
    return EXIT_OK;
}

static void trace_subcommands(FILE *f)
{
    fputs("subcommands:\n"
          "  summarize FILE  per-operation counts and latency percentiles of a trace\n"
          "                  or crash dump ('prismio trace summarize --help')\n",
          f);
}

int cmd_trace(int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_END};
    struct cli_cmd cmd = {
        .name = "trace",
        .synopsis = "SUBCOMMAND [ARGS...]",
        .min_args = 1,
        .max_args = -1,
        .about = "Reads what the global --trace FILE option wrote.\n",
        .epilog = trace_subcommands,
        .opts = opts,
        .stop_at_arg = true,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    if (strcmp(cmd.args[0], "summarize") == 0)
        return trace_summarize(cmd.nargs, cmd.args);
    return cli_usage_error(&cmd, "unknown subcommand '%s' (see --help)", cmd.args[0]);
}
