/*
 * Running a task's command line: locally as a child process (which dies
 * with this one: PR_SET_PDEATHSIG), or on a Dask cluster through the
 * helper wf_dask.py (embedded in the program, run by Debian's Python).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wf.h"
#include <wf_dask_py.h> /* generated from wf_dask.py: static const char wf_dask_py[] */

struct kid {
    pid_t pid;
    size_t task;
    double t0;
};

struct wf_exec {
    bool dask;
    struct kid *kids; /* local: the children running */
    size_t nkids, cap;
    /* dask */
    pid_t helper;
    FILE *to, *from;
    int from_fd;
    unsigned threads;
    size_t inflight;
    char cwd[4096];
    char line[8192];
    size_t have; /* bytes of `line` read, not yet a whole line */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int wf_exec_local(struct wf_exec **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

size_t wf_exec_running(const struct wf_exec *x)
{
    return x->dask ? x->inflight : x->nkids;
}

unsigned wf_exec_capacity(const struct wf_exec *x)
{
    return x->dask ? x->threads : 0;
}

/* In the child, between fork and exec: die with the runner, default
 * signals, the given stdout and stderr. */
static void child_setup(pid_t parent, int out_fd, int err_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the runner died before the line above */
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(127);
    if (err_fd >= 0 && dup2(err_fd, STDERR_FILENO) < 0)
        _exit(127);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0 && devnull != STDIN_FILENO) {
        dup2(devnull, STDIN_FILENO);
        close(devnull);
    }
}

static int local_start(struct wf_exec *x, size_t task, char **argv, const char *out_path,
                       const char *log, pid_t *pid, char *msg, size_t msglen)
{
    if (x->nkids == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 8;
        struct kid *k = realloc(x->kids, cap * sizeof(*k));
        if (!k) {
            snprintf(msg, msglen, "out of memory");
            return -1;
        }
        x->kids = k;
        x->cap = cap;
    }
    int err_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int out_fd = out_path ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : err_fd;
    if (err_fd < 0 || out_fd < 0) {
        snprintf(msg, msglen, "%s: %s", err_fd < 0 ? log : out_path, strerror(errno));
        if (err_fd >= 0)
            close(err_fd);
        return -1;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        child_setup(parent, out_fd, err_fd);
        execvp(argv[0], argv);
        fprintf(stderr, "prismio run: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int e = errno;
    close(err_fd);
    if (out_fd != err_fd)
        close(out_fd);
    if (p < 0) {
        snprintf(msg, msglen, "cannot start a process: %s", strerror(e));
        return -1;
    }
    x->kids[x->nkids++] = (struct kid){p, task, now()};
    *pid = p;
    return 0;
}

static int local_wait(struct wf_exec *x, struct wf_result *r, int timeout_ms)
{
    double until = now() + timeout_ms / 1000.0;
    for (;;) {
        if (x->nkids == 0) {
            snprintf(r->msg, sizeof(r->msg), "no step is running");
            return -1;
        }
        int status;
        struct rusage ru;
        pid_t p = wait4(-1, &status, timeout_ms < 0 ? 0 : WNOHANG, &ru);
        if (p < 0 && errno == EINTR)
            return 1;
        if (p < 0) { /* ECHILD: our children are gone (reaped elsewhere) */
            snprintf(r->msg, sizeof(r->msg), "wait: %s", strerror(errno));
            x->nkids = 0;
            return -1;
        }
        for (size_t i = 0; p > 0 && i < x->nkids; i++) {
            if (x->kids[i].pid != p)
                continue;
            memset(r, 0, sizeof(*r));
            r->task = x->kids[i].task;
            r->seconds = now() - x->kids[i].t0;
            r->max_rss_kb = ru.ru_maxrss;
            if (WIFEXITED(status)) {
                r->exit_code = WEXITSTATUS(status);
            } else {
                r->exit_code = 128 + WTERMSIG(status);
                snprintf(r->msg, sizeof(r->msg), "killed by signal %d (%s)", WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
            }
            x->kids[i] = x->kids[--x->nkids];
            return 0;
        }
        if (p > 0) /* not ours (none should exist) */
            continue;
        if (now() >= until)
            return 1;
        nanosleep(&(struct timespec){0, 5000000}, NULL); /* 5 ms */
    }
}

/* ---- Dask ---- */

static const char *python(void)
{
    const char *p = getenv("PIO_PYTHON");
    if (p && *p)
        return p;
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* One line from the helper (without its newline) into x->line: 0; 1 on the
 * timeout (or EINTR); -1 at its end. */
static int helper_line(struct wf_exec *x, int timeout_ms)
{
    double until = now() + timeout_ms / 1000.0;
    for (;;) {
        char *nl = memchr(x->line, '\n', x->have);
        if (nl) {
            *nl = '\0';
            return 0;
        }
        if (x->have == sizeof(x->line) - 1)
            return -1;
        int wait = timeout_ms < 0 ? -1 : (int)((until - now()) * 1000);
        if (timeout_ms >= 0 && wait < 0)
            wait = 0;
        struct pollfd pf = {x->from_fd, POLLIN, 0};
        int k = poll(&pf, 1, wait);
        if (k < 0 && errno == EINTR)
            return 1;
        if (k == 0)
            return 1;
        ssize_t n = read(x->from_fd, x->line + x->have, sizeof(x->line) - 1 - x->have);
        if (n < 0 && errno == EINTR)
            return 1;
        if (n <= 0)
            return -1;
        x->have += (size_t)n;
    }
}

/* Drop the line just handled from the buffer. */
static void helper_consume(struct wf_exec *x)
{
    size_t len = strlen(x->line) + 1;
    memmove(x->line, x->line + len, x->have - len);
    x->have -= len;
}

int wf_exec_dask(struct wf_exec **out, const char *scheduler, unsigned jobs, const char *cwd,
                 char *err, size_t errlen)
{
    *out = NULL;
    struct wf_exec *x = calloc(1, sizeof(*x));
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    if (x) {
        x->dask = true;
        x->from_fd = -1;
    }
    if (!x || pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot start the Dask helper: %s", strerror(errno));
        goto fail;
    }
    x->dask = true;
    snprintf(x->cwd, sizeof(x->cwd), "%s", cwd);
    char njobs[16];
    snprintf(njobs, sizeof(njobs), "%u", jobs);
    const char *py = python();
    pid_t parent = getpid();
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        child_setup(parent, outp[1], -1);
        /* its own process group: a terminal's Ctrl-C reaches the runner,
         * which then closes the helper's input (it cancels and ends) */
        setpgid(0, 0);
        dup2(in[0], STDIN_FILENO);
        execlp(py, py, "-c", wf_dask_py, scheduler ? scheduler : "", njobs, (char *)NULL);
        printf("error: cannot run %s: %s\n", py, strerror(errno));
        fflush(stdout);
        _exit(127);
    }
    if (p < 0) {
        snprintf(err, errlen, "cannot start the Dask helper: %s", strerror(errno));
        goto fail;
    }
    x->helper = p;
    close(in[0]);
    close(outp[1]);
    in[0] = outp[1] = -1;
    x->from_fd = outp[0];
    outp[0] = -1;
    x->to = fdopen(in[1], "w");
    if (x->to)
        in[1] = -1;
    if (!x->to) {
        snprintf(err, errlen, "cannot start the Dask helper: %s", strerror(errno));
        goto fail;
    }
    /* "ready THREADS" once connected (a LocalCluster takes seconds) */
    int rc = helper_line(x, 120000);
    if (rc != 0 || strncmp(x->line, "ready ", 6) != 0) {
        snprintf(err, errlen, "Dask: %s",
                 rc == 0   ? x->line
                 : rc == 1 ? "no answer from the helper in 120 s"
                           : "the helper ended without a word (is python3 there?)");
        goto fail;
    }
    x->threads = (unsigned)strtoul(x->line + 6, NULL, 10);
    if (x->threads == 0)
        x->threads = 1;
    helper_consume(x);
    *out = x;
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (outp[i] >= 0)
            close(outp[i]);
    }
    if (x)
        wf_exec_close(x);
    return EXIT_UNAVAILABLE;
}

static int dask_start(struct wf_exec *x, size_t task, char **argv, const char *out_path,
                      const char *log, char *msg, size_t msglen)
{
    FILE *f = x->to;
    if (!f) {
        snprintf(msg, msglen, "the Dask helper was told to stop");
        return -1;
    }
    fprintf(f, "{\"id\": %zu, \"argv\": [", task);
    for (char **a = argv; *a; a++) {
        if (a != argv)
            fputs(", ", f);
        cli_json_string(f, *a);
    }
    fputs("], \"cwd\": ", f);
    cli_json_string(f, x->cwd);
    fputs(", \"out\": ", f);
    if (out_path)
        cli_json_string(f, out_path);
    else
        fputs("null", f);
    fputs(", \"log\": ", f);
    cli_json_string(f, log);
    fputs("}\n", f);
    if (fflush(f) != 0 || ferror(f)) {
        snprintf(msg, msglen, "the Dask helper is gone");
        return -1;
    }
    x->inflight++;
    return 0;
}

static int dask_wait(struct wf_exec *x, struct wf_result *r, int timeout_ms)
{
    if (x->inflight == 0) {
        snprintf(r->msg, sizeof(r->msg), "no step is running");
        return -1;
    }
    int rc = helper_line(x, timeout_ms);
    if (rc == 1)
        return 1;
    memset(r, 0, sizeof(*r));
    if (rc != 0) {
        snprintf(r->msg, sizeof(r->msg), "the Dask helper ended with %zu steps running",
                 x->inflight);
        x->inflight = 0; /* nothing more comes */
        return -1;
    }
    char copy[sizeof(x->line)];
    snprintf(copy, sizeof(copy), "%s", x->line);
    helper_consume(x);
    char *f[5] = {0};
    int n = 0;
    for (char *save = NULL, *t = strtok_r(copy, "\t", &save); t && n < 5;
         t = strtok_r(NULL, n == 4 ? "" : "\t", &save))
        f[n++] = t;
    if (n < 4) {
        snprintf(r->msg, sizeof(r->msg), "the Dask helper said: %.200s", copy);
        x->inflight = 0; /* it is broken: no more is believed */
        return -1;
    }
    r->task = strtoull(f[0], NULL, 10);
    r->exit_code = atoi(f[1]);
    r->seconds = atof(f[2]);
    r->max_rss_kb = atol(f[3]);
    if (n == 5)
        snprintf(r->msg, sizeof(r->msg), "%s", f[4]);
    x->inflight--;
    return 0;
}

int wf_exec_start(struct wf_exec *x, size_t task, char **argv, const char *out_path,
                  const char *log, pid_t *pid, char *msg, size_t msglen)
{
    *pid = 0;
    return x->dask ? dask_start(x, task, argv, out_path, log, msg, msglen)
                   : local_start(x, task, argv, out_path, log, pid, msg, msglen);
}

int wf_exec_wait(struct wf_exec *x, struct wf_result *r, int timeout_ms)
{
    return x->dask ? dask_wait(x, r, timeout_ms) : local_wait(x, r, timeout_ms);
}

void wf_exec_cancel(struct wf_exec *x)
{
    if (x->dask) {
        /* the helper cancels what has not started when its input ends */
        if (x->to) {
            fclose(x->to);
            x->to = NULL;
        }
        return;
    }
    for (size_t i = 0; i < x->nkids; i++)
        kill(x->kids[i].pid, SIGTERM);
}

void wf_exec_close(struct wf_exec *x)
{
    if (!x)
        return;
    if (!x->dask) {
        wf_exec_cancel(x);
        while (x->nkids) {
            struct wf_result r;
            if (local_wait(x, &r, -1) < 0)
                break;
        }
        free(x->kids);
        free(x);
        return;
    }
    if (x->to)
        fclose(x->to);
    if (x->from_fd >= 0)
        close(x->from_fd);
    if (x->helper > 0) {
        int status;
        /* the helper closes its cluster when its input ends; give it time */
        double until = now() + 30;
        while (waitpid(x->helper, &status, WNOHANG) == 0) {
            if (now() > until) {
                kill(x->helper, SIGKILL);
                waitpid(x->helper, &status, 0);
                break;
            }
            nanosleep(&(struct timespec){0, 20000000}, NULL);
        }
    }
    free(x);
}
