/*
 * workflow: `prismio run JOB`, a declarative job (docs/WORKFLOWS.md).
 *
 *   wf_yaml.c   the job file into a tree of nodes with line and column
 *   wf_job.c    the tree into inputs (globs), steps (a DAG of the CLI's
 *               commands) and tasks (a step on one item)
 *   wf_state.c  the state file: what each task last made, under which key,
 *               and a cache of file digests by stat
 *   wf_exec.c   running a task: a child process of this program, or a
 *               request to the Dask helper (Python)
 *   cmd_run.c   the command: plan, schedule, report, progress, trace
 *
 * Program module: the public API and src/clikit/ only, like src/cli/.
 */
#ifndef PIO_WF_H
#define PIO_WF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clikit.h"
#include "wf_node.h"
#include "workflow.h"

/* ---- the job ---- */

/* A file as stat sees it: changed bytes change it (mtime), and so does a
 * replacement (inode, ctime). */
struct wf_fstat {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
};

/* What a step's command makes. */
enum wf_out {
    WF_OUT_FILE,   /* the command's last argument, OUT */
    WF_OUT_STDOUT, /* what it prints (info --json, b3sum, dump) */
    WF_OUT_NONE,   /* nothing (verify): a check */
};

struct wf_op {
    const char *name;   /* as in the job: run: NAME */
    const char *cmd;    /* the prismio command */
    const char *preset; /* an option given unless the step sets it: "compress=lossless" */
    enum wf_out out;
    bool salt;   /* a .holo OUT gets a salt from the key (--salt: the same bytes again) */
    bool meta;   /* and the key as metadata (--meta prismio.run.key=KEY) */
    bool gather; /* one task reading every item (concat), not one per item */
};

/* One `with:` entry: --key=value, or --key alone (value NULL); a list
 * gives one entry per element. */
struct wf_param {
    const char *key, *value;
    const struct wf_node *node;
};

struct wf_input {
    const char *name;
    const struct wf_node *node;
    size_t n;
    char **paths; /* sorted */
    char **items; /* each path's directory's name ({name}) */
};

struct wf_step {
    const char *name;
    const struct wf_node *node;
    const struct wf_op *op;
    const char *from;
    int from_step;  /* index in job.steps, or -1 */
    int from_input; /* index in job.inputs, or -1 */
    const char *to; /* template ({name}); NULL where op->out is NONE */
    const struct wf_node *to_node;
    struct wf_param *params;
    size_t nparams;
    unsigned ranks; /* > 1: under mpirun -np RANKS */
    size_t first_task, ntasks;
};

enum wf_status {
    WF_WAIT,
    WF_RUNNING,
    WF_DONE,      /* ran and succeeded */
    WF_SKIPPED,   /* up to date */
    WF_FAILED,    /* ran and failed */
    WF_BLOCKED,   /* a step it needs failed */
    WF_CANCELLED, /* not started: --fail-fast, or the run was interrupted */
};
const char *wf_status_name(enum wf_status s);

struct wf_task {
    size_t step;
    size_t item_ix;   /* in the source input's items */
    const char *item; /* the input's item name */
    char *in;         /* the file it reads (NULL for a gathering task: ins) */
    size_t nins;      /* a gathering task (op->gather): every item's file, */
    char **ins;       /* in item order, */
    ptrdiff_t *deps;  /* and the tasks making them (NULL when they are job inputs) */
    char *out;        /* what it makes (NULL: a check) */
    char *tmp;        /* where this attempt makes it (renamed to out when complete) */
    char **values;    /* the params' values with {name} filled in */
    ptrdiff_t dep;    /* the task making `in`, or -1 */
    enum wf_status status;
    char why[160]; /* why it runs (or is blocked, or was skipped) */
    bool keyed;    /* key and in_id are known */
    uint8_t key[32];
    /* what it reads: a job input's BLAKE3, or the key of the task making
     * it (whose output is what that key says while its stat holds) */
    uint8_t in_id[32];
    uint64_t in_size;
    struct wf_fstat in_stat; /* a job input's, when its key was made */
    uint64_t out_size;
    /* while and after running */
    pid_t pid;
    int slot;
    double t0, t1;
    long max_rss_kb;
    int exit_code;
    uint64_t frames;      /* a .holo OUT's */
    bool appending;       /* its input grew: the new frames are added to out in place */
    uint64_t append_from; /* the frames out had then */
    uint64_t memory;      /* the budget it was admitted with */
    char *msg;            /* a failure's: the command's last line of errors */
    char *log;            /* its stderr (kept where it failed) */
    char *stats;          /* --stats-json file */
    char *trace;          /* --trace file (with run --trace) */
    char *telemetry;      /* the stats file's JSON object */
};

struct wf_job {
    char *path; /* as given */
    struct wf_node *root;
    struct wf_input *inputs;
    size_t ninputs;
    struct wf_step *steps;
    size_t nsteps;
    size_t *order; /* steps in DAG order */
    struct wf_task *tasks;
    size_t ntasks;
};

/* Load, check and expand the job at `path` (read from the current
 * directory, which must be the job's). 0; or an exit code with its one-line
 * message ("FILE:LINE:COL: ...") in err: EXIT_DATAERR (a malformed job),
 * EXIT_NOINPUT (an input that matches no file), EXIT_UNAVAILABLE (no YAML
 * parser in this build). */
int wf_job_load(struct wf_job *job, const char *path, char *err, size_t errlen);
void wf_job_free(struct wf_job *job);

/* The child's argument vector for task t: NULL-terminated, owned by the
 * caller (free each and the array); self is this program's path. key_hex
 * (64 digits) feeds --salt and --meta of a .holo OUT (NULL: neither). Extra arguments
 * (--stats-json ...) are appended from `extra` (NULL-terminated; may be
 * NULL). */
char **wf_task_argv(const struct wf_job *job, const struct wf_task *t, const char *self,
                    const char *key_hex, const char *const *extra);
/* The same for t->appending: the frames from t->append_from added to t->out
 * (convert --append --frames N:). */
char **wf_task_argv_append(const struct wf_job *job, const struct wf_task *t, const char *self,
                           const char *const *extra);
void wf_argv_free(char **argv);

/* The files a task's key covers besides its input: parameter values that
 * name an existing regular file (a topology). Returned through cb. */
void wf_task_param_files(const struct wf_job *job, const struct wf_task *t,
                         void (*cb)(void *ctx, const char *path), void *ctx);

/* ---- state ---- */

/* 0, or -errno */
int wf_fstat_of(const char *path, struct wf_fstat *out);
bool wf_fstat_same(const struct wf_fstat *a, const struct wf_fstat *b);

struct wf_done {
    char *step, *item;
    uint8_t key[32];
    uint8_t in_id[32];
    uint64_t in_size;
    struct wf_fstat out; /* the output as it was made */
    bool has_out;
    long max_rss_kb;
};

struct wf_fcache {
    char *path;
    struct wf_fstat st;
    uint8_t digest[32];
};

struct wf_state {
    char *path;
    int fd; /* open for appends, locked; -1 for a dry run */
    struct wf_done *done;
    size_t ndone, capdone;
    struct wf_fcache *files;
    size_t nfiles, capfiles;
    bool dirty;      /* an append failed: say so at the end */
    size_t appended; /* lines appended by this run (none: nothing to compact) */
};

/* Open (creating unless read_only) and lock the state file `path`, and
 * load it: 0, or an exit code with its message in err (locked by another
 * run: EXIT_IOERR). A torn last line is ignored. */
int wf_state_open(struct wf_state *st, const char *path, bool read_only, char *err, size_t errlen);
/* Rewrite the file with only the live records (at the end of a run that
 * appended any). */
int wf_state_compact(struct wf_state *st);
void wf_state_close(struct wf_state *st);

const struct wf_done *wf_state_find(const struct wf_state *st, const char *step, const char *item);
/* Record a task done (appended and synced): 0 or -errno. */
int wf_state_record(struct wf_state *st, const struct wf_done *d);

/* The BLAKE3 of the file's bytes, from the cache when its stat (device,
 * inode, size, mtime, ctime) has not changed, else hashed (and cached,
 * appended unless the state is read-only): 0, or -errno (no such file:
 * -ENOENT). *size is the file's size. */
int wf_file_digest(struct wf_state *st, const char *path, uint8_t out[32], uint64_t *size);
/* The BLAKE3 of the first len bytes of the file (never cached): 0, or
 * -errno (PIO_ETRUNCATED: shorter). */
int wf_file_prefix_digest(const char *path, uint64_t len, uint8_t out[32]);
/* Whether the file's digest is cached under its current stat (no hashing). */
bool wf_file_cached(const struct wf_state *st, const char *path);

void wf_hex(const uint8_t *b, size_t n, char *out); /* 2n digits and a NUL */

/* ---- executors ---- */

struct wf_exec;

/* A finished task, as an executor reports it. */
struct wf_result {
    size_t task;
    int exit_code; /* 0 ok; > 0 the command's; -1 it could not run (msg says why) */
    double seconds;
    long max_rss_kb;
    char msg[256]; /* where exit_code is -1 */
};

/* Local: children of this process (at most `jobs` at once: the caller
 * counts). Dask: the helper started with the scheduler's address (NULL: a
 * LocalCluster of `jobs` workers); 0 or an exit code with err set. */
int wf_exec_local(struct wf_exec **out);
int wf_exec_dask(struct wf_exec **out, const char *scheduler, unsigned jobs, const char *cwd,
                 char *err, size_t errlen);
/* Start argv (stdout to `out_path` or the log; stderr to `log`): 0, or -1
 * with msg set. */
int wf_exec_start(struct wf_exec *x, size_t task, char **argv, const char *out_path,
                  const char *log, pid_t *pid, char *msg, size_t msglen);
/* The tasks running now. */
size_t wf_exec_running(const struct wf_exec *x);
/* How many tasks the executor runs at once at most (Dask: the cluster's
 * worker threads; local: 0, no limit of its own). */
unsigned wf_exec_capacity(const struct wf_exec *x);
/* Wait up to timeout_ms (< 0: as long as it takes) for a started task to
 * end: 0 and *r set; 1 on the timeout or a signal (EINTR); -1 when the
 * executor broke (r->msg; every running task is lost). */
int wf_exec_wait(struct wf_exec *x, struct wf_result *r, int timeout_ms);
/* Ask every running task to stop (SIGTERM; Dask: cancel): their results
 * still come through wf_exec_wait. */
void wf_exec_cancel(struct wf_exec *x);
/* Stop what still runs, wait for it, and free. */
void wf_exec_close(struct wf_exec *x);

#endif /* PIO_WF_H */
