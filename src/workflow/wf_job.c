/*
 * A job: its file's tree checked and expanded into inputs, steps and tasks.
 *
 *   inputs:                      each a glob, or a list of globs and paths
 *     md: runs/{*}/md.xtc
 *   steps:                       each a command of this program on every
 *     holo: {run: convert, from: md, to: "out/{name}.holo",
 *            with: {top: "runs/{name}/conf.gro"}}
 *
 * `{name}` is an item's name: the directory its input file lies in. A step
 * runs once per item of what it reads (`from`: an input, or a step that
 * writes files), so the steps form a DAG and each task (step, item)
 * depends on at most one other.
 */
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wf.h"

static const struct wf_op ops[] = {
    {"convert", "convert", NULL, WF_OUT_FILE, true, true, false},
    {"compress", "convert", "compress=lossless", WF_OUT_FILE, true, true, false},
    {"compact", "compact", NULL, WF_OUT_FILE, true, false, false},
    {"verify", "verify", NULL, WF_OUT_NONE, false, false, false},
    {"info", "info", NULL, WF_OUT_STDOUT, false, false, false},
    {"b3sum", "b3sum", NULL, WF_OUT_STDOUT, false, false, false},
    {"dump", "dump", NULL, WF_OUT_STDOUT, false, false, false},
    {"concat", "concat", NULL, WF_OUT_FILE, true, true, true},
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

/* Options prismio run gives the commands itself. */
static const char *const reserved[] = {"salt",  "meta",       "overwrite", "quiet",  "trace",
                                       "stats", "stats-json", "help",      "follow", NULL};

const char *wf_status_name(enum wf_status s)
{
    static const char *const names[] = {"waiting", "running", "done",     "skipped",
                                        "failed",  "blocked", "cancelled"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

struct ctx {
    struct wf_job *job;
    char *err;
    size_t errlen;
};

static int bad(struct ctx *c, int code, const struct wf_node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(struct ctx *c, int code, const struct wf_node *n, const char *fmt, ...)
{
    int k = n ? snprintf(c->err, c->errlen, "%s:%u:%u: ", c->job->path, n->line, n->col)
              : snprintf(c->err, c->errlen, "%s: ", c->job->path);
    if (k < 0 || (size_t)k >= c->errlen)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return code;
}

static bool is_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

static bool plain(const struct wf_node *n, const char *word)
{
    return n->kind == WF_SCALAR && !n->quoted && strcmp(n->text, word) == 0;
}

/* A template's {name} placeholders are the only ones. */
static int check_template(struct ctx *c, const struct wf_node *n)
{
    for (const char *p = strchr(n->text, '{'); p; p = strchr(p + 1, '{'))
        if (strncmp(p, "{name}", 6) != 0)
            return bad(c, EXIT_DATAERR, n, "'%s': the only placeholder is {name}", n->text);
    if (strchr(n->text, '}') && !strstr(n->text, "{name}"))
        return bad(c, EXIT_DATAERR, n, "'%s': the only placeholder is {name}", n->text);
    return 0;
}

/* t with each {name} replaced by item (malloc'd; NULL: out of memory) */
static char *fill(const char *t, const char *item)
{
    size_t n = 0, il = strlen(item);
    for (const char *p = t; *p;)
        if (strncmp(p, "{name}", 6) == 0) {
            n += il;
            p += 6;
        } else {
            n++;
            p++;
        }
    char *s = malloc(n + 1), *o = s;
    if (!s)
        return NULL;
    for (const char *p = t; *p;)
        if (strncmp(p, "{name}", 6) == 0) {
            memcpy(o, item, il);
            o += il;
            p += 6;
        } else {
            *o++ = *p++;
        }
    *o = '\0';
    return s;
}

/* ---- inputs ---- */

static char *item_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) { /* beside the job: the file's name without its extension */
        const char *dot = strrchr(path, '.');
        return strndup(path, dot && dot != path ? (size_t)(dot - path) : strlen(path));
    }
    const char *end = slash;
    while (end > path && end[-1] == '/')
        end--;
    const char *start = end;
    while (start > path && start[-1] != '/')
        start--;
    if (end == start || (end - start == 1 && *start == '.')) { /* "/x" or "./x" */
        const char *b = slash + 1, *dot = strrchr(b, '.');
        return strndup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b));
    }
    return strndup(start, (size_t)(end - start));
}

/* Whether s is valid UTF-8 (the report is JSON, the Dask helper's
 * requests too). */
static bool utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xe0) == 0xc0 ? 1
                : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3
                                      : -1;
        if (n < 0 || (n == 1 && *p < 0xc2))
            return false;
        p++;
        for (int k = 0; k < n; k++, p++)
            if ((*p & 0xc0) != 0x80)
                return false;
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_glob(struct ctx *c, struct wf_input *in, const struct wf_node *pat)
{
    if (pat->kind != WF_SCALAR || !*pat->text)
        return bad(c, EXIT_DATAERR, pat, "input %s: a path or glob pattern", in->name);
    glob_t g;
    int rc = glob(pat->text, GLOB_ERR, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        globfree(&g);
        return bad(c, EXIT_NOINPUT, pat, "input %s: '%s' matches no file", in->name, pat->text);
    }
    if (rc != 0) {
        globfree(&g);
        return bad(c, rc == GLOB_NOSPACE ? EXIT_IOERR : EXIT_NOINPUT, pat,
                   "input %s: '%s': cannot read a directory on the way", in->name, pat->text);
    }
    char **p = realloc(in->paths, (in->n + g.gl_pathc) * sizeof(char *));
    if (!p) {
        globfree(&g);
        return bad(c, EXIT_IOERR, pat, "out of memory");
    }
    in->paths = p;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct stat sb;
        if (stat(g.gl_pathv[i], &sb) != 0 || !S_ISREG(sb.st_mode)) {
            rc = bad(c, EXIT_NOINPUT, pat, "input %s: %s is not a file", in->name, g.gl_pathv[i]);
            break;
        }
        if (strpbrk(g.gl_pathv[i], "\t\n") || !utf8(g.gl_pathv[i])) {
            rc = bad(c, EXIT_DATAERR, pat,
                     "input %s: %s: a path with a tab, a newline or bytes that are not UTF-8",
                     in->name, g.gl_pathv[i]);
            break;
        }
        if ((in->paths[in->n] = strdup(g.gl_pathv[i])) == NULL) {
            rc = bad(c, EXIT_IOERR, pat, "out of memory");
            break;
        }
        in->n++;
    }
    globfree(&g);
    return rc;
}

static int load_input(struct ctx *c, struct wf_input *in)
{
    const struct wf_node *v = in->node;
    int rc = 0;
    if (v->kind == WF_SEQ) {
        if (v->n == 0)
            return bad(c, EXIT_DATAERR, v, "input %s: an empty list", in->name);
        for (size_t i = 0; i < v->n && rc == 0; i++)
            rc = add_glob(c, in, v->vals[i]);
    } else {
        rc = add_glob(c, in, v);
    }
    if (rc != 0)
        return rc;
    qsort(in->paths, in->n, sizeof(char *), cmp_str);
    if ((in->items = calloc(in->n, sizeof(char *))) == NULL)
        return bad(c, EXIT_IOERR, v, "out of memory");
    for (size_t i = 0; i < in->n; i++) {
        if (i && strcmp(in->paths[i], in->paths[i - 1]) == 0)
            return bad(c, EXIT_DATAERR, v, "input %s: %s is matched twice", in->name, in->paths[i]);
        if ((in->items[i] = item_of(in->paths[i])) == NULL)
            return bad(c, EXIT_IOERR, v, "out of memory");
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->items[i], in->items[j]) == 0)
                return bad(c, EXIT_DATAERR, v,
                           "input %s: %s and %s are both item '%s' (the directory's name): "
                           "one file per directory",
                           in->name, in->paths[j], in->paths[i], in->items[i]);
    }
    return 0;
}

/* ---- steps ---- */

static int add_param(struct ctx *c, struct wf_step *s, const char *key, const char *value,
                     const struct wf_node *n)
{
    struct wf_param *p = realloc(s->params, (s->nparams + 1) * sizeof(*p));
    if (!p)
        return bad(c, EXIT_IOERR, n, "out of memory");
    s->params = p;
    s->params[s->nparams++] = (struct wf_param){key, value, n};
    return 0;
}

static int load_with(struct ctx *c, struct wf_step *s, const struct wf_node *w)
{
    if (w->kind != WF_MAP)
        return bad(c, EXIT_DATAERR, w, "step %s: 'with' is a map of the command's options",
                   s->name);
    for (size_t i = 0; i < w->n; i++) {
        const char *key = w->keys[i]->text;
        const struct wf_node *v = w->vals[i];
        bool ok = *key != '\0' && *key != '-';
        for (const char *p = key; *p; p++)
            ok = ok && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
        if (!ok)
            return bad(c, EXIT_DATAERR, w->keys[i],
                       "step %s: '%s' is not an option name (as in prismio %s --help, "
                       "without the dashes)",
                       s->name, key, s->op->cmd);
        for (const char *const *r = reserved; *r; r++)
            if (strcmp(key, *r) == 0)
                return bad(c, EXIT_DATAERR, w->keys[i],
                           "step %s: --%s is prismio run's to give, not the job's", s->name, key);
        const struct wf_node *const *vals = &v;
        size_t nv = 1;
        if (v->kind == WF_SEQ) {
            vals = (const struct wf_node *const *)v->vals;
            nv = v->n;
        }
        for (size_t j = 0; j < nv; j++) {
            const struct wf_node *e = vals[j];
            if (e->kind != WF_SCALAR)
                return bad(c, EXIT_DATAERR, e, "step %s: %s: a value, or a list of values", s->name,
                           key);
            if (plain(e, "false") || plain(e, "null") || plain(e, "~"))
                continue;
            int rc = check_template(c, e);
            if (rc == 0)
                rc = add_param(c, s, key, plain(e, "true") ? NULL : e->text, e);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int load_step(struct ctx *c, struct wf_step *s)
{
    const struct wf_node *m = s->node;
    if (m->kind != WF_MAP)
        return bad(c, EXIT_DATAERR, m, "step %s: a map with run, from, to, with", s->name);
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->keys[i]->text;
        if (strcmp(k, "run") && strcmp(k, "from") && strcmp(k, "to") && strcmp(k, "with") &&
            strcmp(k, "ranks"))
            return bad(c, EXIT_DATAERR, m->keys[i],
                       "step %s: unknown key '%s' (run, from, to, with, ranks)", s->name, k);
        if (strcmp(k, "with") && m->vals[i]->kind != WF_SCALAR)
            return bad(c, EXIT_DATAERR, m->vals[i], "step %s: %s: a single value", s->name, k);
    }
    const struct wf_node *run = wf_get(m, "run"), *from = wf_get(m, "from");
    if (!run)
        return bad(c, EXIT_DATAERR, m, "step %s: no 'run' (the command)", s->name);
    for (size_t i = 0; i < NOPS && !s->op; i++)
        if (strcmp(run->text, ops[i].name) == 0)
            s->op = &ops[i];
    if (!s->op)
        return bad(c, EXIT_DATAERR, run,
                   "step %s: unknown command '%s' (convert, compress, compact, verify, info, "
                   "b3sum, dump, concat)",
                   s->name, run->text);
    if (!from)
        return bad(c, EXIT_DATAERR, m, "step %s: no 'from' (an input or a step)", s->name);
    s->from = from->text;
    const struct wf_node *to = wf_get(m, "to");
    if (to && s->op->out == WF_OUT_NONE)
        return bad(c, EXIT_DATAERR, to, "step %s: %s writes no file: no 'to'", s->name,
                   s->op->name);
    if (!to && s->op->out == WF_OUT_FILE)
        return bad(c, EXIT_DATAERR, m, "step %s: no 'to' (the file it writes)", s->name);
    if (to) {
        int rc = check_template(c, to);
        if (rc != 0)
            return rc;
        if (!*to->text || to->text[strlen(to->text) - 1] == '/' || strpbrk(to->text, "\t\n"))
            return bad(c, EXIT_DATAERR, to, "step %s: 'to' is a file's path", s->name);
        s->to = to->text;
        s->to_node = to;
    }
    const struct wf_node *ranks = wf_get(m, "ranks");
    if (ranks) {
        char *end;
        unsigned long r = strtoul(ranks->text, &end, 10);
        if (*end || end == ranks->text || r < 1 || r > 4096)
            return bad(c, EXIT_DATAERR, ranks, "step %s: ranks is a whole number from 1 to 4096",
                       s->name);
        if (s->op != &ops[0])
            return bad(c, EXIT_DATAERR, ranks, "step %s: ranks (mpirun) is for convert steps",
                       s->name);
        s->ranks = (unsigned)r;
    }
    const struct wf_node *with = wf_get(m, "with");
    if (with) {
        int rc = load_with(c, s, with);
        if (rc != 0)
            return rc;
    }
    if (s->op->gather) { /* one task over every item: no {name} to fill */
        if (strstr(s->to, "{name}"))
            return bad(c, EXIT_DATAERR, s->to_node,
                       "step %s: %s gathers every item into one file: no {name} in 'to'", s->name,
                       s->op->name);
        for (size_t i = 0; i < s->nparams; i++)
            if (s->params[i].value && strstr(s->params[i].value, "{name}"))
                return bad(c, EXIT_DATAERR, s->params[i].node,
                           "step %s: %s gathers every item: no {name} in its options", s->name,
                           s->op->name);
    }
    if (s->op->preset) { /* "key=value" unless the step gives key */
        const char *eq = strchr(s->op->preset, '=');
        size_t kl = (size_t)(eq - s->op->preset);
        bool given = false;
        for (size_t i = 0; i < s->nparams; i++)
            given = given || (strlen(s->params[i].key) == kl &&
                              strncmp(s->params[i].key, s->op->preset, kl) == 0);
        for (size_t i = 0; with && i < with->n; i++) /* compress: false, too */
            given = given || (strlen(with->keys[i]->text) == kl &&
                              strncmp(with->keys[i]->text, s->op->preset, kl) == 0);
        if (!given) {
            static char key[32];
            snprintf(key, sizeof(key), "%.*s", (int)kl, s->op->preset);
            int rc = add_param(c, s, key, eq + 1, m);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Resolve every step's `from`, and order the steps (from before user). */
static int order_steps(struct ctx *c)
{
    struct wf_job *j = c->job;
    for (size_t i = 0; i < j->nsteps; i++) {
        struct wf_step *s = &j->steps[i];
        s->from_step = s->from_input = -1;
        for (size_t k = 0; k < j->ninputs; k++)
            if (strcmp(j->inputs[k].name, s->from) == 0)
                s->from_input = (int)k;
        for (size_t k = 0; k < j->nsteps; k++)
            if (strcmp(j->steps[k].name, s->from) == 0)
                s->from_step = (int)k;
        const struct wf_node *fn = wf_get(s->node, "from");
        if (s->from_step < 0 && s->from_input < 0)
            return bad(c, EXIT_DATAERR, fn, "step %s: from: '%s' is neither an input nor a step",
                       s->name, s->from);
        if (s->from_step >= 0 && j->steps[s->from_step].op->out != WF_OUT_FILE &&
            !j->steps[s->from_step].to)
            return bad(c, EXIT_DATAERR, fn, "step %s: from: step %s writes no file", s->name,
                       s->from);
    }
    /* each step after the one it reads: walk up from every step to a placed
     * one (or an input); coming back to a step of the same walk is a cycle */
    unsigned char *mark = calloc(j->nsteps, 1);
    size_t *chain = malloc(j->nsteps * sizeof(size_t));
    j->order = malloc(j->nsteps * sizeof(size_t));
    if (!mark || !chain || !j->order) {
        free(mark);
        free(chain);
        return bad(c, EXIT_IOERR, NULL, "out of memory");
    }
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < j->nsteps && rc == 0; i++) {
        size_t len = 0, k = i;
        while (mark[k] != 2) {
            if (mark[k] == 1) {
                const struct wf_step *s = &j->steps[k];
                rc = bad(c, EXIT_DATAERR, wf_get(s->node, "from"),
                         "step %s: from: a cycle (%s reads %s, which reads back to %s)", s->name,
                         s->name, s->from, s->name);
                break;
            }
            mark[k] = 1;
            chain[len++] = k;
            if (j->steps[k].from_step < 0)
                break;
            k = (size_t)j->steps[k].from_step;
        }
        while (rc == 0 && len > 0) {
            mark[chain[--len]] = 2;
            j->order[n++] = chain[len];
        }
    }
    free(mark);
    free(chain);
    return rc;
}

/* ---- tasks ---- */

static int expand(struct ctx *c)
{
    struct wf_job *j = c->job;
    size_t cap = 0;
    for (size_t oi = 0; oi < j->nsteps; oi++) {
        struct wf_step *s = &j->steps[j->order[oi]];
        size_t nsrc =
            s->from_input >= 0 ? j->inputs[s->from_input].n : j->steps[s->from_step].ntasks;
        size_t nitems = s->op->gather ? 1 : nsrc;
        if (j->ntasks + nitems > cap) {
            cap = (j->ntasks + nitems) * 2;
            struct wf_task *t = realloc(j->tasks, cap * sizeof(*t));
            if (!t)
                return bad(c, EXIT_IOERR, NULL, "out of memory");
            j->tasks = t;
        }
        s->first_task = j->ntasks;
        s->ntasks = nitems;
        for (size_t i = 0; i < nitems; i++) {
            struct wf_task *t = &j->tasks[j->ntasks++];
            memset(t, 0, sizeof(*t));
            t->step = (size_t)(s - j->steps);
            t->item_ix = i;
            t->dep = -1;
            if (s->op->gather) { /* every item's file, one task */
                t->item = "all";
                t->nins = nsrc;
                if (!(t->ins = calloc(nsrc, sizeof(char *))) ||
                    (s->from_step >= 0 && !(t->deps = calloc(nsrc, sizeof(ptrdiff_t)))))
                    return bad(c, EXIT_IOERR, NULL, "out of memory");
                for (size_t k = 0; k < nsrc; k++) {
                    if (s->from_input >= 0) {
                        t->ins[k] = strdup(j->inputs[s->from_input].paths[k]);
                    } else {
                        t->deps[k] = (ptrdiff_t)(j->steps[s->from_step].first_task + k);
                        t->ins[k] = strdup(j->tasks[t->deps[k]].out);
                    }
                    if (!t->ins[k])
                        return bad(c, EXIT_IOERR, NULL, "out of memory");
                }
            } else if (s->from_input >= 0) {
                struct wf_input *in = &j->inputs[s->from_input];
                t->item = in->items[i];
                t->in = strdup(in->paths[i]);
            } else {
                t->dep = (ptrdiff_t)(j->steps[s->from_step].first_task + i);
                t->item = j->tasks[t->dep].item;
                t->in = strdup(j->tasks[t->dep].out);
            }
            if (!t->in && !t->ins)
                return bad(c, EXIT_IOERR, NULL, "out of memory");
            if (s->to) {
                if (!(t->out = fill(s->to, t->item)))
                    return bad(c, EXIT_IOERR, NULL, "out of memory");
                const char *base = strrchr(t->out, '/') ? strrchr(t->out, '/') + 1 : t->out;
                if (strncmp(base, ".part-", 6) == 0 || !utf8(t->out))
                    return bad(c, EXIT_DATAERR, s->to_node,
                               "step %s: %s: an output's name is UTF-8 and does not start "
                               "with .part- (the runner's temporary files)",
                               s->name, t->out);
            }
            if (s->nparams && !(t->values = calloc(s->nparams, sizeof(char *))))
                return bad(c, EXIT_IOERR, NULL, "out of memory");
            for (size_t k = 0; k < s->nparams; k++)
                if (s->params[k].value && !(t->values[k] = fill(s->params[k].value, t->item)))
                    return bad(c, EXIT_IOERR, NULL, "out of memory");
        }
    }
    /* every output is made by one task, is nobody's input, and is none of
     * the runner's own files */
    size_t jl = strlen(j->path);
    for (size_t a = 0; a < j->ntasks; a++) {
        struct wf_task *t = &j->tasks[a];
        if (!t->out)
            continue;
        const struct wf_step *s = &j->steps[t->step];
        const char *o = t->out[0] == '.' && t->out[1] == '/' ? t->out + 2 : t->out;
        if (strncmp(o, j->path, jl) == 0 &&
            (o[jl] == '\0' || strcmp(o + jl, ".state") == 0 || strcmp(o + jl, ".state.tmp") == 0 ||
             strncmp(o + jl, ".logs/", 6) == 0))
            return bad(c, EXIT_DATAERR, s->to_node, "step %s: %s is the job's own file", s->name,
                       t->out);
        for (size_t b = 0; b < j->ntasks; b++) {
            const struct wf_task *u = &j->tasks[b];
            if (b != a && u->out && strcmp(u->out, t->out) == 0)
                return bad(c, EXIT_DATAERR, s->to_node,
                           "step %s: %s would be written twice (by %s/%s and %s/%s): "
                           "use {name} in 'to'",
                           s->name, t->out, s->name, t->item, j->steps[u->step].name, u->item);
            bool input = u->in && u->dep < 0 && strcmp(u->in, t->out) == 0;
            for (size_t k = 0; !input && !u->deps && k < u->nins; k++)
                input = strcmp(u->ins[k], t->out) == 0;
            if (input)
                return bad(c, EXIT_DATAERR, s->to_node, "step %s: %s is an input of the job",
                           s->name, t->out);
        }
    }
    return 0;
}

int wf_job_load(struct wf_job *job, const char *path, char *err, size_t errlen)
{
    memset(job, 0, sizeof(*job));
    struct ctx c = {job, err, errlen};
    if (!(job->path = strdup(path)))
        return bad(&c, EXIT_IOERR, NULL, "out of memory");
    if (!wf_parser_available()) {
        wf_parse(path, &job->root, err, errlen);
        return EXIT_UNAVAILABLE;
    }
    if (wf_parse(path, &job->root, err, errlen) != 0)
        return access(path, R_OK) == 0 ? EXIT_DATAERR : EXIT_NOINPUT;
    const struct wf_node *r = job->root;
    if (r->kind != WF_MAP)
        return bad(&c, EXIT_DATAERR, r, "a job is a map with 'inputs' and 'steps'");
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->keys[i]->text, "inputs") && strcmp(r->keys[i]->text, "steps"))
            return bad(&c, EXIT_DATAERR, r->keys[i], "unknown key '%s' (inputs, steps)",
                       r->keys[i]->text);
    const struct wf_node *in = wf_get(r, "inputs"), *st = wf_get(r, "steps");
    if (!in || in->kind != WF_MAP || in->n == 0)
        return bad(&c, EXIT_DATAERR, in ? in : r, "'inputs' is a map of names to globs");
    if (!st || st->kind != WF_MAP || st->n == 0)
        return bad(&c, EXIT_DATAERR, st ? st : r, "'steps' is a map of names to steps");
    job->inputs = calloc(in->n, sizeof(*job->inputs));
    job->steps = calloc(st->n, sizeof(*job->steps));
    if (!job->inputs || !job->steps)
        return bad(&c, EXIT_IOERR, NULL, "out of memory");
    /* the steps first: a malformed step is found before any glob runs */
    for (size_t i = 0; i < st->n; i++) {
        struct wf_step *s = &job->steps[job->nsteps++];
        s->name = st->keys[i]->text;
        s->node = st->vals[i];
        if (!is_name(s->name))
            return bad(&c, EXIT_DATAERR, st->keys[i],
                       "step '%s': names are letters, digits, '_', '-' and '.'", s->name);
        if (wf_get(in, s->name))
            return bad(&c, EXIT_DATAERR, st->keys[i], "step %s: an input has that name", s->name);
        int rc = load_step(&c, s);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < in->n; i++) {
        struct wf_input *x = &job->inputs[job->ninputs++];
        x->name = in->keys[i]->text;
        x->node = in->vals[i];
        if (!is_name(x->name))
            return bad(&c, EXIT_DATAERR, in->keys[i],
                       "input '%s': names are letters, digits, '_', '-' and '.'", x->name);
    }
    int rc = order_steps(&c);
    for (size_t i = 0; rc == 0 && i < job->ninputs; i++)
        rc = load_input(&c, &job->inputs[i]);
    if (rc == 0)
        rc = expand(&c);
    return rc;
}

void wf_job_free(struct wf_job *job)
{
    for (size_t i = 0; i < job->ntasks; i++) {
        struct wf_task *t = &job->tasks[i];
        for (size_t k = 0; t->values && k < job->steps[t->step].nparams; k++)
            free(t->values[k]);
        free(t->values);
        for (size_t k = 0; k < t->nins; k++)
            free(t->ins[k]);
        free(t->ins);
        free(t->deps);
        free(t->in);
        free(t->out);
        free(t->tmp);
        free(t->msg);
        free(t->log);
        free(t->stats);
        free(t->trace);
        free(t->telemetry);
    }
    free(job->tasks);
    for (size_t i = 0; i < job->ninputs; i++) {
        for (size_t k = 0; k < job->inputs[i].n; k++) {
            free(job->inputs[i].paths[k]);
            if (job->inputs[i].items)
                free(job->inputs[i].items[k]);
        }
        free(job->inputs[i].paths);
        free(job->inputs[i].items);
    }
    free(job->inputs);
    for (size_t i = 0; i < job->nsteps; i++)
        free(job->steps[i].params);
    free(job->steps);
    free(job->order);
    wf_node_free(job->root);
    free(job->path);
    memset(job, 0, sizeof(*job));
}

/* ---- a task's command line ---- */

static int push_arg(char ***v, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int push_arg(char ***v, size_t *n, const char *fmt, ...)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(char *));
    if (!nv)
        return -1;
    *v = nv;
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&nv[*n], fmt, ap);
    va_end(ap);
    if (rc < 0)
        return -1;
    nv[++*n] = NULL;
    return 0;
}

void wf_argv_free(char **argv)
{
    for (char **a = argv; a && *a; a++)
        free(*a);
    free(argv);
}

static bool is_holo(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".holo") == 0;
}

static char **task_argv(const struct wf_job *job, const struct wf_task *t, const char *self,
                        const char *key_hex, const char *const *extra)
{
    const struct wf_step *s = &job->steps[t->step];
    char **v = NULL;
    size_t n = 0;
    int rc = 0;
    if (s->ranks > 1)
        rc |=
            push_arg(&v, &n, "mpirun") | push_arg(&v, &n, "-np") | push_arg(&v, &n, "%u", s->ranks);
    rc |= push_arg(&v, &n, "%s", self) | push_arg(&v, &n, "%s", s->op->cmd);
    for (size_t k = 0; k < s->nparams; k++)
        rc |= t->values[k] ? push_arg(&v, &n, "--%s=%s", s->params[k].key, t->values[k])
                           : push_arg(&v, &n, "--%s", s->params[k].key);
    if (t->appending)
        rc |= push_arg(&v, &n, "--append") |
              push_arg(&v, &n, "--frames=%llu:", (unsigned long long)t->append_from);
    if (s->op->salt && t->out && is_holo(t->out) && key_hex)
        rc |= push_arg(&v, &n, "--salt=%.32s", key_hex);
    if (s->op->meta && t->out && is_holo(t->out) && key_hex)
        rc |= push_arg(&v, &n, "--meta=prismio.run.key=%s", key_hex);
    if (s->op->out == WF_OUT_FILE)
        rc |= push_arg(&v, &n, "--quiet");
    for (const char *const *e = extra; e && *e; e++)
        rc |= push_arg(&v, &n, "%s", *e);
    rc |= push_arg(&v, &n, "--");
    if (t->in)
        rc |= push_arg(&v, &n, "%s", t->in);
    for (size_t k = 0; k < t->nins; k++)
        rc |= push_arg(&v, &n, "%s", t->ins[k]);
    if (s->op->out == WF_OUT_FILE)
        rc |= push_arg(&v, &n, "%s", t->appending ? t->out : t->tmp);
    if (rc != 0) {
        wf_argv_free(v);
        return NULL;
    }
    return v;
}

char **wf_task_argv(const struct wf_job *job, const struct wf_task *t, const char *self,
                    const char *key_hex, const char *const *extra)
{
    return task_argv(job, t, self, key_hex, extra);
}

char **wf_task_argv_append(const struct wf_job *job, const struct wf_task *t, const char *self,
                           const char *const *extra)
{
    return task_argv(job, t, self, NULL, extra); /* the file keeps its salt and metadata */
}

void wf_task_param_files(const struct wf_job *job, const struct wf_task *t,
                         void (*cb)(void *ctx, const char *path), void *ctx)
{
    const struct wf_step *s = &job->steps[t->step];
    for (size_t k = 0; k < s->nparams; k++) {
        struct stat sb;
        if (t->values[k] && stat(t->values[k], &sb) == 0 && S_ISREG(sb.st_mode))
            cb(ctx, t->values[k]);
    }
}
