/*
 * prismio run JOB: plan the job's tasks (what is up to date, what must
 * run and why), run the others in DAG order on a bounded number of
 * processes (or a Dask cluster), each making its output under a temporary
 * name renamed when complete, and report.
 *
 * A task's key is the BLAKE3 of the program's version, the command, its
 * parameters, the output's name, what it reads (a job input's BLAKE3, or
 * the key of the task that makes it: keys chain, as in a Merkle tree, down
 * to the job's files) and the BLAKE3 of parameters naming files. A task is
 * up to date when the state file says it completed under the same key and
 * its output is as it left it (the same stat: device, inode, size, mtime,
 * ctime); or, without a record, when its .holo output carries the key as
 * metadata (prismio.run.key). Outputs are never hashed: a task's key says
 * what its output holds while the output is untouched, and a touched one
 * is remade.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wf.h"

#define CMD      "run"
#define KEY_META "prismio.run.key"

struct run {
    struct wf_job job;
    struct wf_state st;
    struct wf_exec *x;
    char self[PATH_MAX];
    char jobdir[PATH_MAX];
    const char *jobbase;
    char logdir[PATH_MAX];
    /* options */
    unsigned jobs;
    uint64_t memory;
    bool dry, json, fail_fast, force, quiet, dask, tty;
    const char *trace;
    FILE *msgs;
    /* while running */
    unsigned char *planned; /* 1: the key is known and it must run */
    size_t *sched;          /* the tasks, the last step's first, items in order */
    double t0;
    uint64_t mem_in_use;
    bool stopping;
    int fail_code;
    bool *slots;
    double last_draw;
    uint64_t bytes_done, frames_done;
    int trace_rc;
};

static volatile sig_atomic_t g_signal;
static void on_signal(int sig)
{
    g_signal = sig;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool final(enum wf_status s)
{
    return s != WF_WAIT && s != WF_RUNNING;
}

static const char *step_name(const struct run *R, const struct wf_task *t)
{
    return R->job.steps[t->step].name;
}

/* The tasks making what t reads: none, its one, or a gathering task's. */
static size_t ndeps(const struct wf_task *t)
{
    return t->deps ? t->nins : t->dep >= 0 ? 1 : 0;
}
static ptrdiff_t dep_at(const struct wf_task *t, size_t k)
{
    return t->deps ? t->deps[k] : t->dep;
}

static void set_msg(struct wf_task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(struct wf_task *t, const char *fmt, ...)
{
    free(t->msg);
    t->msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&t->msg, fmt, ap) < 0)
        t->msg = NULL;
    va_end(ap);
}

/* ---- keys ---- */

struct keyctx {
    struct run *R;
    pio_blake3_hasher *h;
    int rc;
    const char *failed; /* the file whose digest failed */
};

static void hash_file_into(void *ctx, const char *path)
{
    struct keyctx *k = ctx;
    uint8_t d[32];
    uint64_t size;
    char hex[65], line[PATH_MAX + 80];
    if (k->rc != 0)
        return;
    if ((k->rc = wf_file_digest(&k->R->st, path, d, &size)) != 0) {
        k->failed = path;
        return;
    }
    wf_hex(d, 32, hex);
    int n = snprintf(line, sizeof(line), "file\t%s\t%s\n", path, hex);
    pio_blake3_hasher_update(k->h, line, (size_t)n);
}

static int key_of(struct run *R, struct wf_task *t, const uint8_t in_id[32], uint8_t key[32]);

/* t->key and t->in_id: 0, or -errno with t->msg set. */
static int task_key(struct run *R, struct wf_task *t)
{
    int rc = 0;
    if (t->nins) { /* a gathering task: what each file is, in order */
        pio_blake3_hasher g;
        pio_blake3_hasher_init_derive_key(&g, "prismio run 2026-12 gathered inputs");
        t->in_size = 0;
        for (size_t k = 0; k < t->nins && rc == 0; k++) {
            uint8_t id[32];
            uint64_t size = 0;
            struct wf_fstat fs;
            if (t->deps) {
                memcpy(id, R->job.tasks[t->deps[k]].key, 32);
                if ((rc = wf_fstat_of(t->ins[k], &fs)) == 0)
                    size = fs.size;
            } else {
                rc = wf_file_digest(&R->st, t->ins[k], id, &size);
            }
            if (rc != 0) {
                set_msg(t, "%s: %s", t->ins[k], pio_strerror(rc));
                return rc;
            }
            pio_blake3_hasher_update(&g, t->ins[k], strlen(t->ins[k]) + 1);
            pio_blake3_hasher_update(&g, id, 32);
            t->in_size += size;
        }
        pio_blake3_hasher_finalize(&g, t->in_id, 32);
    } else if (t->dep >= 0) { /* made by a task that succeeded or is up to date */
        struct wf_fstat fs;
        memcpy(t->in_id, R->job.tasks[t->dep].key, 32);
        rc = wf_fstat_of(t->in, &fs);
        t->in_size = rc == 0 ? fs.size : 0;
    } else {
        rc = wf_file_digest(&R->st, t->in, t->in_id, &t->in_size);
        if (rc == 0)
            rc = wf_fstat_of(t->in, &t->in_stat);
    }
    if (rc != 0) {
        set_msg(t, "%s: %s", t->in, pio_strerror(rc));
        return rc;
    }
    if ((rc = key_of(R, t, t->in_id, t->key)) != 0)
        return rc;
    t->keyed = true;
    return 0;
}

/* The key of task t were it to read what in_id names: 0, or -errno with
 * t->msg set (a parameter's file that cannot be read). */
static int key_of(struct run *R, struct wf_task *t, const uint8_t in_id[32], uint8_t key[32])
{
    const struct wf_step *s = &R->job.steps[t->step];
    pio_blake3_hasher h;
    pio_blake3_hasher_init_derive_key(&h, "prismio run 2026-12 step key");
    char hex[65];
    wf_hex(in_id, 32, hex);
    const char *ver = pio_version();
    pio_blake3_hasher_update(&h, ver, strlen(ver) + 1);
    pio_blake3_hasher_update(&h, s->op->name, strlen(s->op->name) + 1);
    for (size_t k = 0; k < s->nparams; k++) {
        pio_blake3_hasher_update(&h, s->params[k].key, strlen(s->params[k].key) + 1);
        const char *v = t->values[k] ? t->values[k] : "";
        pio_blake3_hasher_update(&h, t->values[k] ? "=" : "!", 1);
        pio_blake3_hasher_update(&h, v, strlen(v) + 1);
    }
    pio_blake3_hasher_update(&h, "to", 3);
    if (t->out)
        pio_blake3_hasher_update(&h, t->out, strlen(t->out) + 1);
    const char *tag = t->nins ? "in-set" : t->dep >= 0 ? "in-key" : "in-file";
    pio_blake3_hasher_update(&h, tag, strlen(tag) + 1);
    pio_blake3_hasher_update(&h, hex, 65);
    struct keyctx kc = {R, &h, 0, NULL};
    wf_task_param_files(&R->job, t, hash_file_into, &kc);
    if (kc.rc != 0) {
        set_msg(t, "%s: %s", kc.failed, pio_strerror(kc.rc));
        return kc.rc;
    }
    pio_blake3_hasher_finalize(&h, key, 32);
    return 0;
}

static bool is_holo(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n >= 5 && strcmp(path + n - 5, ".holo") == 0;
}

/* The key a .holo output carries (prismio.run.key), into hex (65). */
static bool holo_key(const char *path, char *hex)
{
    pio_reader *r;
    if (pio_reader_open(&r, path, NULL, NULL) != 0)
        return false;
    const char *v = pio_reader_metadata_get(r, KEY_META);
    bool ok = v && strlen(v) == 64;
    if (ok)
        memcpy(hex, v, 65);
    pio_reader_close(r);
    return ok;
}

/* Whether convert takes t as a dataset of structures (extended XYZ, or a
 * HOLO file of named arrays): converted whole, without --salt or --meta. */
static bool dataset_conversion(const struct run *R, const struct wf_task *t)
{
    if (strcmp(R->job.steps[t->step].op->cmd, "convert") != 0 || !t->in || !t->out)
        return false;
    size_t n = strlen(t->out);
    if (pio_path_is_extxyz(t->in) || (n >= 7 && strcmp(t->out + n - 7, ".extxyz") == 0))
        return true;
    pio_reader *r;
    if (!is_holo(t->in) || pio_reader_open(&r, t->in, NULL, NULL) != 0)
        return false;
    bool arrays = pio_reader_has_arrays(r);
    pio_reader_close(r);
    return arrays;
}

static uint64_t holo_frames(const char *path)
{
    pio_reader *r;
    if (!is_holo(path) || pio_reader_open(&r, path, NULL, NULL) != 0)
        return 0;
    uint64_t n = pio_reader_nframes(r);
    pio_reader_close(r);
    return n;
}

/* Whether t is up to date (why says why not). */
static bool up_to_date(struct run *R, struct wf_task *t)
{
    const struct wf_done *d = wf_state_find(&R->st, step_name(R, t), t->item);
    char hex[65];
    wf_hex(t->key, 32, hex);
    if (R->force) {
        snprintf(t->why, sizeof(t->why), "--force");
        return false;
    }
    /* only without a record: where there is one, it has the last word (the
     * output may have been appended to since its key was written in it) */
    if (!d) {
        char has[65];
        if (t->out && is_holo(t->out) && R->job.steps[t->step].op->meta && holo_key(t->out, has) &&
            strcmp(has, hex) == 0) {
            /* made under this key by a run whose state line was not written
             * (killed after the rename) or was lost: adopt it */
            /* (in_size 0: what it was made from is not known to the byte,
             * so it is never appended to) */
            struct wf_done nd = {
                .step = (char *)step_name(R, t), .item = (char *)t->item, .has_out = true};
            memcpy(nd.key, t->key, 32);
            memcpy(nd.in_id, t->in_id, 32);
            if (wf_fstat_of(t->out, &nd.out) == 0) {
                if (!R->dry)
                    wf_state_record(&R->st, &nd);
                t->out_size = nd.out.size;
                snprintf(t->why, sizeof(t->why), "up to date (key in %s)", t->out);
                return true;
            }
        }
    }
    if (!d) {
        snprintf(t->why, sizeof(t->why), "never run");
        return false;
    }
    if (memcmp(d->key, t->key, 32) != 0) {
        snprintf(t->why, sizeof(t->why), "%s",
                 memcmp(d->in_id, t->in_id, 32) != 0 ? "its input changed"
                                                     : "its parameters or files changed");
        return false;
    }
    if (t->out) {
        struct wf_fstat now;
        if (wf_fstat_of(t->out, &now) != 0) {
            snprintf(t->why, sizeof(t->why), "its output %s is gone", t->out);
            return false;
        }
        if (!d->has_out || !wf_fstat_same(&now, &d->out)) {
            snprintf(t->why, sizeof(t->why), "its output %s was touched since", t->out);
            return false;
        }
        t->out_size = now.size;
    }
    snprintf(t->why, sizeof(t->why), "up to date");
    return true;
}

/* Whether t can be brought up to date by appending to its output: a
 * whole-file conversion to .holo of a job input that grew (the bytes it
 * was made from are the new file's start), nothing else changed (its key,
 * were its input the old bytes, is the one recorded), and its output as it
 * was left. Then t->appending, t->append_from (the output's frames: the
 * new ones are the input's frames from there). */
static bool grown(struct run *R, struct wf_task *t)
{
    const struct wf_step *s = &R->job.steps[t->step];
    if (R->force || R->dask || strcmp(s->op->name, "convert") != 0 || s->ranks > 1 || t->dep >= 0 ||
        t->nins || !is_holo(t->out))
        return false;
    /* formats whose frames are complete records (a text file cut inside a
     * line still reads as a frame, and is never read again by an append) */
    enum pio_format f = pio_format_from_path(t->in);
    if (f != PIO_FORMAT_XTC && f != PIO_FORMAT_TRR && f != PIO_FORMAT_HOLO)
        return false;
    for (size_t k = 0; k < s->nparams; k++)
        if (!strcmp(s->params[k].key, "frames") || !strcmp(s->params[k].key, "compress") ||
            !strcmp(s->params[k].key, "keyframe"))
            return false; /* which new frames, and the blocks: not simply appended */
    const struct wf_done *d = wf_state_find(&R->st, step_name(R, t), t->item);
    struct wf_fstat now;
    uint8_t k[32], pre[32];
    if (!d || !d->has_out || t->in_size <= d->in_size || wf_fstat_of(t->out, &now) != 0 ||
        !wf_fstat_same(&now, &d->out) || key_of(R, t, d->in_id, k) != 0 ||
        memcmp(k, d->key, 32) != 0 || wf_file_prefix_digest(t->in, d->in_size, pre) != 0 ||
        memcmp(pre, d->in_id, 32) != 0)
        return false;
    pio_reader *r;
    if (pio_reader_open(&r, t->out, NULL, NULL) != 0)
        return false;
    t->append_from = pio_reader_nframes(r);
    pio_reader_close(r);
    t->appending = true;
    snprintf(t->why, sizeof(t->why),
             "its input grew (%llu bytes more): appending its frames from %llu",
             (unsigned long long)(t->in_size - d->in_size), (unsigned long long)t->append_from);
    return true;
}

/* ---- messages, progress ---- */

static void clear_line(struct run *R)
{
    if (R->tty && R->last_draw > 0)
        fputs("\r\033[K", stderr);
}

static void say(struct run *R, struct wf_task *t)
{
    if (R->quiet)
        return;
    clear_line(R);
    const char *st = wf_status_name(t->status);
    switch (t->status) {
    case WF_DONE:
        fprintf(R->msgs, "%-9s %s %s (%.2f s)%s%s\n", st, step_name(R, t), t->item, t->t1 - t->t0,
                t->out ? " -> " : "", t->out ? t->out : "");
        break;
    case WF_SKIPPED:
        fprintf(R->msgs, "%-9s %s %s (%s)\n", st, step_name(R, t), t->item, t->why);
        break;
    case WF_FAILED:
        fprintf(R->msgs, "%-9s %s %s: %s", st, step_name(R, t), t->item,
                t->msg ? t->msg : "failed");
        if (t->log)
            fprintf(R->msgs, " (log: %s)", t->log);
        fputc('\n', R->msgs);
        break;
    default:
        fprintf(R->msgs, "%-9s %s %s (%s)\n", st, step_name(R, t), t->item, t->why);
        break;
    }
    fflush(R->msgs);
}

static void draw(struct run *R, bool force)
{
    if (!R->tty || R->quiet)
        return;
    double t = mono();
    if (!force && t - R->last_draw < 0.25)
        return;
    R->last_draw = t;
    size_t n[7] = {0};
    for (size_t i = 0; i < R->job.ntasks; i++)
        n[R->job.tasks[i].status]++;
    double el = t - R->t0;
    size_t ran = n[WF_DONE] + n[WF_FAILED];
    size_t left = n[WF_WAIT] + n[WF_RUNNING];
    char eta[16];
    cli_fmt_duration(eta, sizeof(eta), ran ? el * (double)left / (double)ran : -1);
    fprintf(stderr,
            "\r\033[K[%zu/%zu] %zu done, %zu skipped, %zu running, %zu failed | %.0f MB/s, "
            "%.0f frames/s | ETA %s",
            n[WF_DONE] + n[WF_SKIPPED] + n[WF_FAILED] + n[WF_BLOCKED] + n[WF_CANCELLED],
            R->job.ntasks, n[WF_DONE], n[WF_SKIPPED], n[WF_RUNNING], n[WF_FAILED],
            el > 0 ? (double)R->bytes_done / el / 1e6 : 0.0,
            el > 0 ? (double)R->frames_done / el : 0.0, eta);
    fflush(stderr);
}

/* ---- files ---- */

static int mkdirs(const char *path) /* the directories above path */
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return 0;
}

/* The NAME of a temporary file .part-PID-NONCE-NAME[.part], or NULL. */
static const char *part_of(const char *n, size_t *len)
{
    if (strncmp(n, ".part-", 6) != 0)
        return NULL;
    const char *dash = strchr(n + 6, '-');
    if (!dash || dash == n + 6 || strspn(n + 6, "0123456789") != (size_t)(dash - n - 6) ||
        strspn(dash + 1, "0123456789abcdef") != 8 || dash[9] != '-')
        return NULL;
    const char *name = dash + 10;
    *len = strlen(name);
    if (*len > 5 && strcmp(name + *len - 5, ".part") == 0)
        *len -= 5; /* the command's own temporary name of it */
    return name;
}

/* Remove the temporary files runs left in the directory of `outs[0]` for
 * any of the n outputs there (outs[i] share the directory, dl bytes with
 * its slash; 0: the job's). */
static void remove_stale_in(char *const *outs, size_t n, size_t dl)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", dl ? (int)dl : 1, dl ? outs[0] : ".");
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len;
        const char *name = part_of(e->d_name, &len);
        for (size_t i = 0; name && i < n; i++) {
            const char *base = outs[i] + dl;
            if (strlen(base) == len && strncmp(name, base, len) == 0) {
                char p[PATH_MAX];
                int k = snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                if (k > 0 && (size_t)k < sizeof(p))
                    unlink(p);
                break;
            }
        }
    }
    closedir(d);
}

static size_t dir_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path + 1) : 0;
}

/* Before a task starts: what a killed run left of its output. */
static void remove_stale(char *out)
{
    remove_stale_in(&out, 1, dir_len(out));
}

/* At the end of a run: of every output (tasks skipped now leave nothing
 * else to remove them), one scan per directory. */
static void remove_stale_all(const struct run *R)
{
    size_t n = 0;
    char **outs = malloc((R->job.ntasks + 1) * sizeof(char *));
    if (!outs)
        return;
    for (size_t i = 0; i < R->job.ntasks; i++)
        if (R->job.tasks[i].out)
            outs[n++] = R->job.tasks[i].out;
    for (size_t a = 0; a < n; a++) {
        if (!outs[a])
            continue;
        size_t dl = dir_len(outs[a]), m = 0;
        char **same = outs + a; /* gather this directory's outputs at a.. */
        for (size_t b = a; b < n; b++)
            if (outs[b] && dir_len(outs[b]) == dl && strncmp(outs[b], outs[a], dl) == 0) {
                char *t = outs[a + m];
                outs[a + m] = outs[b];
                outs[b] = t;
                m++;
            }
        remove_stale_in(same, m, dl);
        for (size_t k = 0; k < m; k++)
            outs[a + k] = NULL;
    }
    free(outs);
}

static void remove_tmp(const struct wf_task *t)
{
    if (!t->tmp)
        return;
    char p[PATH_MAX];
    unlink(t->tmp);
    snprintf(p, sizeof(p), "%s.part", t->tmp);
    unlink(p);
}

/* The last line of the file that is not empty (a failed command's error). */
static char *last_line(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[1024], keep[1024] = "";
    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        if (n && strncmp(line, "\r[", 2) != 0)
            memcpy(keep, line, n + 1);
    }
    fclose(f);
    return keep[0] ? strdup(keep) : NULL;
}

static char *slurp(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    bool whole = feof(f);
    fclose(f);
    if (!buf || !whole) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

/* ---- planning and running ---- */

static uint64_t mem_estimate(const struct run *R, const struct wf_task *t)
{
    if (!R->memory)
        return 0;
    long kb = 0; /* the step's largest peak in the state */
    for (size_t i = 0; i < R->st.ndone; i++)
        if (strcmp(R->st.done[i].step, step_name(R, t)) == 0 && R->st.done[i].max_rss_kb > kb)
            kb = R->st.done[i].max_rss_kb;
    return kb > 0 ? (uint64_t)kb * 1024 : (R->memory + R->jobs - 1) / R->jobs; /* rounded up */
}

/* t's dependency has ended (or it has none): decide what becomes of it. */
static void plan(struct run *R, size_t i)
{
    struct wf_task *t = &R->job.tasks[i];
    for (size_t k = 0; k < ndeps(t); k++) {
        struct wf_task *d = &R->job.tasks[dep_at(t, k)];
        if (d->status == WF_FAILED || d->status == WF_BLOCKED || d->status == WF_CANCELLED) {
            t->status = d->status == WF_CANCELLED ? WF_CANCELLED : WF_BLOCKED;
            snprintf(t->why, sizeof(t->why), "step %s %s for %s", step_name(R, d),
                     d->status == WF_CANCELLED ? "did not run" : "failed", d->item);
            say(R, t);
            return;
        }
    }
    if (R->stopping) {
        t->status = WF_CANCELLED;
        snprintf(t->why, sizeof(t->why), "%s", g_signal ? "interrupted" : "--fail-fast");
        say(R, t);
        return;
    }
    if (task_key(R, t) != 0) {
        t->status = WF_FAILED;
        t->exit_code = EXIT_NOINPUT;
        if (!R->fail_code)
            R->fail_code = EXIT_NOINPUT;
        say(R, t);
        if (R->fail_fast && !R->stopping) {
            R->stopping = true;
            wf_exec_cancel(R->x);
        }
        return;
    }
    if (up_to_date(R, t)) {
        t->status = WF_SKIPPED;
        say(R, t);
        return;
    }
    grown(R, t);
    R->planned[i] = 1;
}

/* JOB.logs/STEP/ITEM, where a task's log, counters and trace go: 0, or
 * -1 for a name too long */
static int files_base(const struct run *R, const struct wf_task *t, char *base, size_t n)
{
    int bl = snprintf(base, n, "%s/%s/%s", R->logdir, step_name(R, t), t->item);
    return bl < 0 || (size_t)bl >= n - 16 ? -1 : 0;
}

/* At the end: the files of every task that did not fail (a run killed
 * before it could remove them leaves them), then the folder if empty. */
static void remove_logs(const struct run *R)
{
    char base[PATH_MAX], p[PATH_MAX + 16];
    for (size_t i = 0; i < R->job.ntasks; i++) {
        const struct wf_task *t = &R->job.tasks[i];
        if (t->status == WF_FAILED || files_base(R, t, base, sizeof(base)) != 0)
            continue;
        static const char *const ext[] = {".log", ".stats.json", ".trace.json"};
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof(p), "%s%s", base, ext[k]);
            unlink(p);
        }
    }
    /* only when empty: failed tasks' logs stay */
    for (size_t i = 0; i < R->job.nsteps; i++) {
        snprintf(p, sizeof(p), "%s/%s", R->logdir, R->job.steps[i].name);
        rmdir(p);
    }
    rmdir(R->logdir);
}

static int start(struct run *R, size_t i)
{
    struct wf_task *t = &R->job.tasks[i];
    const struct wf_step *s = &R->job.steps[t->step];
    char hex[65], err[256] = "";
    wf_hex(t->key, 32, hex);
    char base[PATH_MAX];
    if (files_base(R, t, base, sizeof(base)) != 0) {
        set_msg(t, "%s: a name too long for a log file", t->item);
        return -1;
    }
    if (asprintf(&t->log, "%s.log", base) < 0 || asprintf(&t->stats, "%s.stats.json", base) < 0 ||
        (R->trace && asprintf(&t->trace, "%s.trace.json", base) < 0)) {
        set_msg(t, "out of memory");
        return -1;
    }
    int mrc = mkdirs(base);
    if (mrc != 0) {
        set_msg(t, "%s: %s", base, strerror(-mrc));
        return -1;
    }
    unlink(t->stats); /* a killed run's: not this attempt's counters */
    if (t->out) {
        int rc = mkdirs(t->out);
        if (rc != 0) {
            set_msg(t, "%s: cannot make its directory: %s", t->out, strerror(-rc));
            return -1;
        }
        remove_stale(t->out);
    }
    if (t->out && !t->appending) {
        /* DIR/.part-PID-NONCE-NAME: hidden, this attempt's own (a command
         * a killed run left running cannot rename over it), the
         * extension kept */
        const char *slash = strrchr(t->out, '/');
        int dl = slash ? (int)(slash - t->out + 1) : 0;
        uint8_t nonce[4];
        char nh[9];
        uint64_t seed[2] = {(uint64_t)getpid(), (uint64_t)(mono() * 1e9) ^ (uint64_t)i};
        pio_blake3_hash(nonce, sizeof(nonce), seed, sizeof(seed));
        wf_hex(nonce, sizeof(nonce), nh);
        free(t->tmp);
        if (asprintf(&t->tmp, "%.*s.part-%ld-%s-%s", dl, t->out, (long)getpid(), nh, t->out + dl) <
            0) {
            t->tmp = NULL;
            set_msg(t, "out of memory");
            return -1;
        }
    }
    char sj[PATH_MAX + 16], tr[PATH_MAX + 16];
    const char *extra[3] = {NULL, NULL, NULL};
    int ne = 0;
    if (s->ranks <= 1) { /* under mpirun every rank would write them */
        if (R->json) {   /* the report's counters */
            snprintf(sj, sizeof(sj), "--stats-json=%s", t->stats);
            extra[ne++] = sj;
        }
        if (t->trace) {
            snprintf(tr, sizeof(tr), "--trace=%s", t->trace);
            extra[ne++] = tr;
        }
    }
    /* a local command runs this very program (even if its file was
     * replaced since); mpirun and Dask workers need its path */
    const char *self = R->dask || s->ranks > 1 ? R->self : "/proc/self/exe";
    char **argv =
        t->appending ? wf_task_argv_append(&R->job, t, self, extra)
                     : wf_task_argv(&R->job, t, self, dataset_conversion(R, t) ? NULL : hex, extra);
    if (!argv) {
        set_msg(t, "out of memory");
        return -1;
    }
    const char *out_path = s->op->out == WF_OUT_STDOUT && t->tmp ? t->tmp : NULL;
    t->t0 = mono();
    int rc = wf_exec_start(R->x, i, argv, out_path, t->log, &t->pid, err, sizeof(err));
    wf_argv_free(argv);
    if (rc != 0) {
        set_msg(t, "%s", err);
        return -1;
    }
    t->status = WF_RUNNING;
    t->memory = mem_estimate(R, t);
    R->mem_in_use += t->memory;
    for (unsigned k = 0; k < R->jobs; k++)
        if (!R->slots[k]) {
            R->slots[k] = true;
            t->slot = (int)k;
            break;
        }
    return 0;
}

/* A task ended (r): rename its output, record it, report it. */
static void finish(struct run *R, const struct wf_result *r)
{
    struct wf_task *t = &R->job.tasks[r->task];
    t->t1 = mono();
    t->max_rss_kb = r->max_rss_kb;
    t->exit_code = r->exit_code;
    R->mem_in_use -= t->memory;
    if (t->slot >= 0 && (unsigned)t->slot < R->jobs)
        R->slots[t->slot] = false;
    if (t->stats) {
        t->telemetry = slurp(t->stats, 1 << 20);
        if (t->telemetry && t->telemetry[0] != '{') {
            free(t->telemetry);
            t->telemetry = NULL;
        }
        unlink(t->stats);
    }
    if (r->exit_code == 0 && t->out && !t->appending) {
        int rc = cli_rename_durable(t->tmp, t->out);
        if (rc != 0) {
            t->exit_code = EXIT_IOERR;
            set_msg(t, "%s -> %s: %s", t->tmp, t->out, strerror(-rc));
        }
    }
    struct wf_done d = {.step = (char *)step_name(R, t),
                        .item = (char *)t->item,
                        .in_size = t->in_size,
                        .has_out = t->out != NULL,
                        .max_rss_kb = t->max_rss_kb};
    if (t->exit_code == 0 && t->out && wf_fstat_of(t->out, &d.out) != 0) {
        t->exit_code = EXIT_IOERR;
        set_msg(t, "%s: %s", t->out, strerror(errno));
    }
    if (t->exit_code == 0) {
        t->out_size = d.out.size;
        memcpy(d.key, t->key, 32);
        memcpy(d.in_id, t->in_id, 32);
        /* a job input that changed while it was read: the output may hold
         * frames from past the bytes hashed, so it is never appended to */
        struct wf_fstat in_now;
        if (t->in && t->dep < 0 &&
            (wf_fstat_of(t->in, &in_now) != 0 || !wf_fstat_same(&in_now, &t->in_stat)))
            d.in_size = 0;
        int rc = wf_state_record(&R->st, &d);
        if (rc != 0)
            cli_err(CMD, "%s: cannot record %s %s: %s (it will run again next time)", R->st.path,
                    step_name(R, t), t->item, pio_strerror(rc));
        t->status = WF_DONE;
        t->frames = t->out ? holo_frames(t->out) : 0;
        R->frames_done += t->frames;
        R->bytes_done += t->in_size;
        unlink(t->log);
        free(t->log);
        t->log = NULL;
    } else {
        remove_tmp(t);
        if (t->appending) { /* not again next time (whatever stopped it): converted afresh */
            struct wf_done no = {.step = (char *)step_name(R, t), .item = (char *)t->item};
            wf_state_record(&R->st, &no);
        }
        bool cancelled = R->stopping && (r->exit_code == 128 + SIGTERM || r->exit_code < 0 ||
                                         (g_signal && r->exit_code == 128 + g_signal));
        t->status = cancelled ? WF_CANCELLED : WF_FAILED;
        if (!t->msg) {
            char *last = r->msg[0] ? NULL : last_line(t->log);
            if (last) {
                t->msg = last;
            } else {
                set_msg(t, "%s", r->msg[0] ? r->msg : "failed without a message");
            }
        }
        if (cancelled) {
            snprintf(t->why, sizeof(t->why), "%s", g_signal ? "interrupted" : "--fail-fast");
        } else {
            if (!R->fail_code)
                R->fail_code = t->exit_code > 0 && t->exit_code < 126 ? t->exit_code : EXIT_IOERR;
            if (R->fail_fast && !R->stopping) {
                R->stopping = true;
                wf_exec_cancel(R->x);
            }
        }
    }
    say(R, t);
}

static void run_loop(struct run *R)
{
    struct wf_job *j = &R->job;
    unsigned cap = wf_exec_capacity(R->x);
    unsigned limit = R->jobs;
    if (cap && !R->jobs)
        limit = cap;
    for (;;) {
        if (g_signal && !R->stopping) {
            R->stopping = true;
            wf_exec_cancel(R->x);
        }
        /* Deepest first (R->sched): an item's later steps before other
         * items' first, so each item is finished (its files still in the
         * page cache) before the next is begun. A task is
         * planned once what it reads is final; one whose key needs a job
         * input hashed waits for a free slot, so that hashing overlaps the
         * steps running. Passes repeat while tasks end without running
         * (skipped, blocked). */
        bool again = true;
        while (again) {
            again = false;
            bool full = R->stopping;
            for (size_t q = 0; q < j->ntasks; q++) {
                size_t i = R->sched[q];
                struct wf_task *t = &j->tasks[i];
                if (t->status != WF_WAIT)
                    continue;
                if (!R->planned[i]) {
                    bool ready = true;
                    for (size_t k = 0; k < ndeps(t) && ready; k++)
                        ready = final(j->tasks[dep_at(t, k)].status);
                    if (!ready)
                        continue;
                    if (full && !R->stopping && t->in && t->dep < 0 &&
                        !wf_file_cached(&R->st, t->in))
                        continue;
                    plan(R, i);
                    if (t->status != WF_WAIT) {
                        again = true;
                        continue;
                    }
                }
                if (full)
                    continue;
                size_t running = wf_exec_running(R->x);
                uint64_t need = mem_estimate(R, t);
                if (running >= limit ||
                    (R->memory && running > 0 && R->mem_in_use + need > R->memory)) {
                    full = true;
                    continue;
                }
                if (start(R, i) == 0)
                    continue;
                t->status = WF_FAILED;
                t->exit_code = EXIT_IOERR;
                if (!R->fail_code)
                    R->fail_code = EXIT_IOERR;
                remove_tmp(t);
                say(R, t);
                again = true;
                if (R->fail_fast && !R->stopping) {
                    R->stopping = true;
                    wf_exec_cancel(R->x);
                }
            }
        }
        if (R->stopping)
            for (size_t i = 0; i < j->ntasks; i++)
                if (j->tasks[i].status == WF_WAIT && R->planned[i]) {
                    j->tasks[i].status = WF_CANCELLED;
                    snprintf(j->tasks[i].why, sizeof(j->tasks[i].why), "%s",
                             g_signal ? "interrupted" : "--fail-fast");
                    say(R, &j->tasks[i]);
                }
        draw(R, false);
        if (wf_exec_running(R->x) == 0) {
            bool waiting = false;
            for (size_t i = 0; i < j->ntasks; i++)
                waiting = waiting || j->tasks[i].status == WF_WAIT;
            if (!waiting)
                break;
            continue; /* planned in the next pass */
        }
        /* a bounded wait: a signal between the check above and a blocking
         * wait would otherwise wait for a task to end on its own */
        struct wf_result r;
        int rc = wf_exec_wait(R->x, &r, 250);
        if (rc == 1)
            continue;
        if (rc < 0) { /* the executor is gone (it says none runs now): so is every running task */
            for (size_t i = 0; i < j->ntasks; i++) {
                struct wf_task *t = &j->tasks[i];
                if (t->status != WF_RUNNING)
                    continue;
                t->status = g_signal ? WF_CANCELLED : WF_FAILED;
                t->exit_code = EXIT_IOERR;
                t->t1 = mono();
                set_msg(t, "%s", r.msg);
                if (g_signal)
                    snprintf(t->why, sizeof(t->why), "interrupted");
                remove_tmp(t);
                say(R, t);
            }
            if (!R->fail_code && !g_signal)
                R->fail_code = EXIT_IOERR;
            R->stopping = true;
            continue;
        }
        if (r.task >= j->ntasks || j->tasks[r.task].status != WF_RUNNING)
            continue; /* not a task of ours running (a confused executor) */
        finish(R, &r);
    }
    draw(R, true);
    clear_line(R);
}

/* --dry-run: what would run and why, without running or writing anything. */
static void dry_run(struct run *R)
{
    struct wf_job *j = &R->job;
    for (size_t i = 0; i < j->ntasks; i++) {
        struct wf_task *t = &j->tasks[i];
        const struct wf_task *d = NULL; /* the first of its makers not up to date */
        for (size_t k = 0; k < ndeps(t) && !d; k++)
            if (j->tasks[dep_at(t, k)].status != WF_SKIPPED)
                d = &j->tasks[dep_at(t, k)];
        if (d) {
            t->status = WF_WAIT;
            snprintf(t->why, sizeof(t->why), "its input comes from %s %s, which %s",
                     step_name(R, d), d->item, d->status == WF_WAIT ? "will run" : "cannot run");
            if (d->status == WF_FAILED || d->status == WF_BLOCKED)
                t->status = WF_BLOCKED;
            continue;
        }
        if (task_key(R, t) != 0) {
            t->status = WF_FAILED;
            snprintf(t->why, sizeof(t->why), "%s", t->msg);
            continue;
        }
        t->status = up_to_date(R, t) ? WF_SKIPPED : WF_WAIT;
        if (t->status == WF_WAIT)
            grown(R, t);
    }
    if (R->json)
        return;
    for (size_t i = 0; i < j->ntasks; i++) {
        struct wf_task *t = &j->tasks[i];
        const char *what = t->status == WF_SKIPPED ? "skip"
                           : t->status == WF_WAIT  ? "run"
                                                   : "cannot";
        printf("%-6s %s %s: %s", what, step_name(R, t), t->item, t->why);
        if (t->status == WF_WAIT && t->out)
            printf(" -> %s", t->out);
        putchar('\n');
    }
}

/* ---- report ---- */

static void json_hex(const uint8_t *b, bool have)
{
    char hex[65];
    if (!have) {
        fputs("null", stdout);
        return;
    }
    wf_hex(b, 32, hex);
    printf("\"%s\"", hex);
}

static void report(struct run *R, double seconds)
{
    struct wf_job *j = &R->job;
    size_t n[7] = {0};
    for (size_t i = 0; i < j->ntasks; i++)
        n[j->tasks[i].status]++;
    printf("{\"job\": ");
    cli_json_string(stdout, j->path);
    printf(", \"executor\": \"%s\", \"jobs\": %u, \"dry_run\": %s, \"seconds\": ",
           R->dask ? "dask" : "local", R->jobs, R->dry ? "true" : "false");
    cli_json_number(stdout, seconds);
    printf(", \"counts\": {");
    for (int s = R->dry ? WF_WAIT : WF_DONE; s <= WF_CANCELLED; s++) {
        if (s == WF_RUNNING)
            continue;
        printf("%s\"%s\": %zu", s == (R->dry ? WF_WAIT : WF_DONE) ? "" : ", ",
               R->dry && s == WF_WAIT ? "to_run" : wf_status_name((enum wf_status)s), n[s]);
    }
    printf("},\n \"steps\": [");
    for (size_t i = 0; i < j->ntasks; i++) {
        struct wf_task *t = &j->tasks[i];
        const struct wf_step *s = &j->steps[t->step];
        const char *status = R->dry && t->status == WF_WAIT ? "to_run" : wf_status_name(t->status);
        printf("%s\n  {\"step\": ", i ? "," : "");
        cli_json_string(stdout, s->name);
        printf(", \"item\": ");
        cli_json_string(stdout, t->item);
        printf(", \"status\": \"%s\", \"run\": \"%s\", ", status, s->op->name);
        if (t->nins) {
            printf("\"inputs\": [");
            for (size_t k = 0; k < t->nins; k++) {
                if (k)
                    fputs(", ", stdout);
                cli_json_string(stdout, t->ins[k]);
            }
            putchar(']');
        } else {
            printf("\"input\": ");
            cli_json_string(stdout, t->in);
        }
        printf(", \"output\": ");
        if (t->out)
            cli_json_string(stdout, t->out);
        else
            fputs("null", stdout);
        printf(", \"key\": ");
        json_hex(t->key, t->keyed);
        /* a job input's BLAKE3; a step's output: the key of the task making
         * it; a gathering task's: the BLAKE3 of its inputs' names and those */
        printf(t->nins       ? ", \"inputs_id\": "
               : t->dep >= 0 ? ", \"input_key\": "
                             : ", \"input_blake3\": ");
        json_hex(t->in_id, t->keyed);
        if (t->out && (t->status == WF_DONE || t->status == WF_SKIPPED))
            printf(", \"output_bytes\": %llu", (unsigned long long)t->out_size);
        if (t->appending && t->status == WF_DONE)
            printf(
                ", \"appended_frames\": %llu",
                (unsigned long long)(t->frames > t->append_from ? t->frames - t->append_from : 0));
        printf(", \"why\": ");
        cli_json_string(stdout, t->why);
        if (t->status == WF_DONE || t->status == WF_FAILED) {
            printf(", \"seconds\": ");
            cli_json_number(stdout, t->t1 > t->t0 ? t->t1 - t->t0 : 0);
            printf(", \"exit\": %d, \"max_rss_bytes\": %lld, \"input_bytes\": %llu, "
                   "\"frames\": %llu",
                   t->exit_code, (long long)t->max_rss_kb * 1024, (unsigned long long)t->in_size,
                   (unsigned long long)t->frames);
        }
        if (t->msg && t->status == WF_FAILED) {
            printf(", \"error\": ");
            cli_json_string(stdout, t->msg);
        }
        if (t->log && t->status == WF_FAILED) {
            printf(", \"log\": ");
            cli_json_string(stdout, t->log);
        }
        if (t->telemetry)
            printf(", \"telemetry\": %s", t->telemetry);
        putchar('}');
    }
    printf("\n]}\n");
}

/* ---- the whole job's trace ---- */

static int trace_done(const char *path) /* main's --trace hook: written already */
{
    (void)path;
    return 0;
}

/* The events of a command's trace file (one per line between the first and
 * the last line), each appended with a comma. */
static void splice_events(FILE *out, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool first = true;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (first) {
            first = false;
            continue;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == ','))
            line[--n] = '\0';
        if (n < 2 || line[0] != '{' || line[n - 1] != '}')
            continue;
        fprintf(out, "%s,\n", line);
    }
    free(line);
    fclose(f);
}

static int write_trace(struct run *R, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    long me = (long)getpid();
    fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%ld,\"args\":{\"name\":", me);
    cli_json_string(f, "prismio run");
    fprintf(f, "}},\n");
    for (size_t i = 0; i < R->job.ntasks; i++) {
        struct wf_task *t = &R->job.tasks[i];
        if (t->t0 <= 0 || t->t1 <= 0)
            continue;
        char name[512];
        snprintf(name, sizeof(name), "%s %s", step_name(R, t), t->item);
        fprintf(f, "{\"name\":");
        cli_json_string(f, name);
        fprintf(f,
                ",\"cat\":\"step\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%ld,\"tid\":%d,"
                "\"args\":{\"status\":\"%s\",\"exit\":%d,\"frames\":%llu,\"input_bytes\":%llu}},\n",
                t->t0 * 1e6, (t->t1 - t->t0) * 1e6, me, t->slot + 1, wf_status_name(t->status),
                t->exit_code, (unsigned long long)t->frames, (unsigned long long)t->in_size);
        if (t->pid > 0) {
            fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%ld,\"args\":{\"name\":",
                    (long)t->pid);
            cli_json_string(f, name);
            fprintf(f, "}},\n");
        }
        if (t->trace) {
            splice_events(f, t->trace);
            unlink(t->trace);
        }
    }
    /* a last event closes the list without a trailing comma */
    fprintf(f,
            "{\"name\":\"job\",\"cat\":\"run\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,"
            "\"pid\":%ld,\"tid\":0}\n]}\n",
            R->t0 * 1e6, (mono() - R->t0) * 1e6, me);
    int rc = ferror(f) ? -EIO : 0;
    if (fclose(f) != 0 && rc == 0)
        rc = -EIO;
    return rc;
}

/* ---- the command ---- */

int cmd_run(int argc, char **argv)
{
    static struct run R0;
    struct run *R = &R0;
    memset(R, 0, sizeof(*R));
    R->st.fd = -1;
    uint64_t jobs = 0, memory = 0;
    static const char *const executors[] = {"local", "dask", NULL};
    int executor = 0;
    const char *scheduler = NULL;
    struct cli_opt opts[] = {
        CLI_OPT_U64("jobs", &jobs, "N", 1, 4096,
                    "steps run at once (default: the CPUs; with Dask: the cluster's "
                    "worker threads)"),
        CLI_OPT_SIZE("memory", &memory, "BYTES", 1, 0,
                     "start a step only while the steps running fit in BYTES, each "
                     "counted at its step's last peak RSS (one not run before: "
                     "BYTES / --jobs); one step always runs"),
        CLI_OPT_FLAG("dry-run", 'n', &R->dry,
                     "print the plan: what would run and why, what is up to date; "
                     "run and change nothing"),
        CLI_OPT_FLAG("json", 0, &R->json,
                     "print the report as JSON on stdout: every step's status, "
                     "files, BLAKE3 digests, seconds, peak memory, counters"),
        CLI_OPT_FLAG("fail-fast", 0, &R->fail_fast,
                     "at the first failed step, stop the others and start no more "
                     "(default: only its dependants are left out)"),
        CLI_OPT_FLAG("force", 0, &R->force, "run every step, up to date or not"),
        CLI_OPT_CHOICE("executor", &executor, "E", executors,
                       "where steps run: local (child processes, the default) or dask "
                       "(a Dask cluster, through Debian's python3-distributed)"),
        CLI_OPT_STRING("scheduler", 0, &scheduler, "ADDRESS",
                       "--executor dask: the scheduler (tcp://HOST:PORT); default: a "
                       "LocalCluster of --jobs workers"),
        CLI_OPT_FLAG("quiet", 'q', &R->quiet, "no progress and no line per step"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "JOB",
        .min_args = 1,
        .max_args = 1,
        .about = "Runs a declarative job (YAML, or JSON): inputs matched by globs, steps\n"
                 "(convert, compress, compact, verify, info, b3sum, dump; concat of every\n"
                 "item into one file) forming a DAG, each once per input item. A step\n"
                 "whose inputs and parameters did not change since it last completed is\n"
                 "skipped (BLAKE3 keys in JOB.state and in .holo outputs); outputs appear\n"
                 "by rename when complete, so a killed run resumes where it stopped.\n"
                 "docs/WORKFLOWS.md describes jobs.\n",
        .more = "Paths in the job are relative to its directory. Exit status: 0 when every\n"
                "step is done or up to date; a failed step's own exit status (its\n"
                "dependants are blocked); 65 a malformed job (FILE:LINE:COL), 66 an input\n"
                "that matches no file, 69 no YAML parser or no Dask, 130 interrupted.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    if (scheduler && executor != 1)
        return cli_usage_error(&cmd, "--scheduler goes with --executor dask");
    R->dask = executor == 1;
    R->memory = memory;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    R->jobs = jobs ? (unsigned)jobs : (unsigned)(ncpu > 0 ? ncpu : 1);
    R->msgs = R->json || R->dry ? stderr : stdout;
    R->tty = !R->quiet && isatty(STDERR_FILENO);
    R->trace_rc = 0;
    const char *jobpath = cmd.args[0];
    if (cli_self_path(CMD, R->self, sizeof(R->self)) != 0)
        return EXIT_IOERR;

    /* into the job's directory (paths in the job are relative to it);
     * --trace FILE and the way back first */
    char trace_abs[PATH_MAX];
    if (cli_globals.trace) {
        if (cli_globals.trace[0] == '/' || !getcwd(trace_abs, sizeof(trace_abs)))
            snprintf(trace_abs, sizeof(trace_abs), "%s", cli_globals.trace);
        else
            snprintf(trace_abs + strlen(trace_abs), sizeof(trace_abs) - strlen(trace_abs), "/%s",
                     cli_globals.trace);
        R->trace = trace_abs;
        cli_globals.trace_writer = trace_done;
    }
    int back = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", jobpath);
    char *slash = strrchr(dir, '/');
    R->jobbase = slash ? jobpath + (slash - dir) + 1 : jobpath;
    if (slash) {
        *slash = '\0';
        if (chdir(dir[0] ? dir : "/") != 0) {
            cli_err(CMD, "%s: %s", dir, strerror(errno));
            if (back >= 0)
                close(back);
            return EXIT_NOINPUT;
        }
    }
    if (!getcwd(R->jobdir, sizeof(R->jobdir)))
        snprintf(R->jobdir, sizeof(R->jobdir), ".");
    snprintf(R->logdir, sizeof(R->logdir), "%s.logs", R->jobbase);

    int code = EXIT_OK;
    char err[1024] = "";
    char statepath[PATH_MAX];
    snprintf(statepath, sizeof(statepath), "%s.state", R->jobbase);
    R->t0 = mono();
    int rc = wf_job_load(&R->job, R->jobbase, err, sizeof(err));
    if (rc != 0) {
        /* name the job as the user did */
        const char *msg =
            strncmp(err, R->jobbase, strlen(R->jobbase)) == 0 ? err + strlen(R->jobbase) : NULL;
        if (msg)
            cli_err(CMD, "%s%s", jobpath, msg);
        else
            cli_err(CMD, "%s", err);
        code = rc;
        goto out;
    }
    free(R->job.path);
    R->job.path = strdup(jobpath);
    if ((rc = wf_state_open(&R->st, statepath, R->dry, err, sizeof(err))) != 0) {
        cli_err(CMD, "%s", err);
        code = rc;
        goto out;
    }
    R->planned = calloc(R->job.ntasks + 1, 1);
    R->slots = calloc(R->jobs, sizeof(bool));
    R->sched = malloc((R->job.ntasks + 1) * sizeof(size_t));
    if (!R->planned || !R->slots || !R->sched) {
        cli_err(CMD, "out of memory");
        code = EXIT_IOERR;
        goto out;
    }
    for (size_t si = R->job.nsteps, q = 0; si-- > 0;) {
        const struct wf_step *s = &R->job.steps[R->job.order[si]];
        for (size_t k = 0; k < s->ntasks; k++)
            R->sched[q++] = s->first_task + k;
    }
    if (R->dry) {
        dry_run(R);
        if (R->json)
            report(R, mono() - R->t0);
        goto out;
    }
    if (R->dask) {
        rc = wf_exec_dask(&R->x, scheduler, R->jobs, R->jobdir, err, sizeof(err));
        if (rc != 0) {
            cli_err(CMD, "%s", err);
            code = rc;
            goto out;
        }
        if (!jobs)
            R->jobs = wf_exec_capacity(R->x);
        free(R->slots);
        R->slots = calloc(R->jobs, sizeof(bool));
    } else if (wf_exec_local(&R->x) != 0) {
        cli_err(CMD, "out of memory");
        code = EXIT_IOERR;
        goto out;
    }
    struct sigaction sa, old_int, old_term, old_pipe, old_chld, ign, dfl;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: a wait returns */
    sigemptyset(&sa.sa_mask);
    ign = dfl = sa;
    ign.sa_handler = SIG_IGN; /* a dead Dask helper's pipe: an error, not a kill */
    dfl.sa_handler = SIG_DFL; /* children to wait for, whatever this was started with */
    g_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigaction(SIGCHLD, &dfl, &old_chld);
    run_loop(R);
    wf_exec_close(R->x);
    R->x = NULL;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    remove_stale_all(R);
    double seconds = mono() - R->t0;
    if (R->st.dirty)
        cli_err(CMD,
                "%s: some lines could not be written (disk full?): what they recorded "
                "will be redone or rehashed next time",
                R->st.path);
    if (wf_state_compact(&R->st) != 0)
        cli_err(CMD, "%s: cannot rewrite the state file (its log stays valid)", R->st.path);
    size_t n[7] = {0};
    for (size_t i = 0; i < R->job.ntasks; i++)
        n[R->job.tasks[i].status]++;
    if (R->json)
        report(R, seconds);
    if (!R->quiet)
        fprintf(R->msgs,
                "prismio run: %s: %zu done, %zu up to date, %zu failed, %zu blocked%s in %.2f s\n",
                jobpath, n[WF_DONE], n[WF_SKIPPED], n[WF_FAILED], n[WF_BLOCKED],
                n[WF_CANCELLED] ? ", some cancelled" : "", seconds);
    if (R->trace) {
        int t = write_trace(R, R->trace);
        if (t != 0) {
            cli_err(CMD, "%s: cannot write the trace: %s", R->trace, pio_strerror(t));
            if (!code)
                code = EXIT_IOERR;
        }
    }
    remove_logs(R);
    if (g_signal)
        code = 128 + g_signal;
    else if (R->fail_code)
        code = R->fail_code;
    else if (n[WF_CANCELLED] || n[WF_BLOCKED])
        code = EXIT_IOERR;
out:
    if (R->x)
        wf_exec_close(R->x);
    wf_state_close(&R->st);
    wf_job_free(&R->job);
    free(R->planned);
    free(R->sched);
    free(R->slots);
    if (back >= 0) {
        if (fchdir(back) != 0)
            cli_err(CMD, "cannot return to the directory it started in");
        close(back);
    }
    return code;
}
