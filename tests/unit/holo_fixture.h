/*
 * Test helpers for HOLO files: deterministic frame contents (so any frame
 * can be regenerated and compared bit for bit) and a small standard file.
 */
#ifndef PIO_HOLO_FIXTURE_H
#define PIO_HOLO_FIXTURE_H

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <prismio/holo.h>

#include "pio_test.h"

/* Contents of frame `i` of a file made with `seed`: atom count varies with
 * i when `vary`, velocities on even frames, forces every third, box on odd. */
struct fixture_frame {
    struct pio_frame f;
    float *x, *v, *fo;
    struct pio_scalar sc[3];
};

static inline uint64_t fixture_natoms(uint64_t i, bool vary, uint64_t base)
{
    return vary ? base + (i * 7) % 13 : base;
}

static inline void fixture_make(struct fixture_frame *ff, uint64_t i, uint64_t seed, bool vary,
                                uint64_t base)
{
    uint64_t n = fixture_natoms(i, vary, base);
    memset(ff, 0, sizeof(*ff));
    ff->x = malloc(n * 12 + 1);
    ff->v = malloc(n * 12 + 1);
    ff->fo = malloc(n * 12 + 1);
    uint64_t s = seed * 1000003 + i;
    for (uint64_t k = 0; k < n * 3; k++) {
        ff->x[k] = (float)(pio_test_rand(&s) % 100000) * 1e-4f;
        ff->v[k] = (float)((int64_t)(pio_test_rand(&s) % 2001) - 1000) * 1e-3f;
        ff->fo[k] = (float)((int64_t)(pio_test_rand(&s) % 200001) - 100000) * 1e-2f;
    }
    ff->f.natoms = n;
    ff->f.positions = (const float(*)[3])ff->x;
    ff->f.velocities = i % 2 == 0 ? (const float(*)[3])ff->v : NULL;
    ff->f.forces = i % 3 == 0 ? (const float(*)[3])ff->fo : NULL;
    ff->f.step = (int64_t)(i * 10);
    ff->f.time = (double)i * 0.02;
    if (i % 2) {
        ff->f.fields = PIO_FIELD_BOX;
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                ff->f.box[a][b] = a == b ? 3.0 + 0.001 * (double)i : 0.1 * (a + b);
    }
    uint32_t ns = (uint32_t)(i % 4);
    static const char *names[3] = {"potential", "kinetic", "total"};
    for (uint32_t k = 0; k < ns && k < 3; k++) {
        strcpy(ff->sc[k].name, names[k]);
        ff->sc[k].value = -1000.0 * (double)(i + 1) + k;
    }
    ff->f.nscalars = ns > 3 ? 3 : ns;
    ff->f.scalars = ff->sc;
}

static inline void fixture_free(struct fixture_frame *ff)
{
    free(ff->x);
    free(ff->v);
    free(ff->fo);
}

/* Compare a read frame with the expected one; returns true if identical. */
static inline bool fixture_equal(const struct pio_frame *got, const struct fixture_frame *ff)
{
    const struct pio_frame *w = &ff->f;
    size_t b = (size_t)w->natoms * 12;
    if (got->natoms != w->natoms || got->step != w->step || memcmp(&got->time, &w->time, 8) != 0 ||
        got->nscalars != w->nscalars)
        return false;
    if (memcmp(got->positions, w->positions, b) != 0)
        return false;
    if (!!got->velocities != !!w->velocities || !!got->forces != !!w->forces)
        return false;
    if (w->velocities && memcmp(got->velocities, w->velocities, b) != 0)
        return false;
    if (w->forces && memcmp(got->forces, w->forces, b) != 0)
        return false;
    if ((got->fields & PIO_FIELD_BOX) != (w->fields & PIO_FIELD_BOX))
        return false;
    if ((w->fields & PIO_FIELD_BOX) && memcmp(got->box, w->box, sizeof(w->box)) != 0)
        return false;
    for (uint32_t k = 0; k < w->nscalars; k++)
        if (strcmp(got->scalars[k].name, w->scalars[k].name) != 0 ||
            memcmp(&got->scalars[k].value, &w->scalars[k].value, 8) != 0)
            return false;
    /* zero-copy views are 64-byte aligned */
    if ((uintptr_t)got->positions % 64 || (got->velocities && (uintptr_t)got->velocities % 64) ||
        (got->forces && (uintptr_t)got->forces % 64))
        return false;
    return true;
}

/* Write frames [first, first + count) with the fixture contents. */
static inline int fixture_append(pio_writer *w, uint64_t first, uint64_t count, uint64_t seed,
                                 bool vary, uint64_t base)
{
    for (uint64_t i = first; i < first + count; i++) {
        struct fixture_frame ff;
        fixture_make(&ff, i, seed, vary, base);
        struct pio_error e = {0};
        int rc = pio_writer_append(w, &ff.f, &e);
        fixture_free(&ff);
        if (rc != 0) {
            fprintf(stderr, "append %llu: %s\n", (unsigned long long)i, e.message);
            return rc;
        }
    }
    return 0;
}

/* A new writer at `path` (replacing any file there) without fdatasync:
 * tests need the bytes, not durability. A fixed salt (16 bytes, or NULL
 * for a random one) makes the file reproducible. NULL (with a message) on
 * failure. */
/* Extra writer flags for fixture_writer (PIO_WRITER_FORMAT_1: the tests
 * of 1.x layouts). */
static uint32_t fixture_writer_flags;

static inline pio_writer *fixture_writer_salted(const char *path, const uint8_t *salt)
{
    unlink(path);
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC | fixture_writer_flags;
    o.salt = salt;
    pio_writer *w = NULL;
    struct pio_error e = {0};
    if (pio_writer_create(&w, path, &o, &e) != 0)
        fprintf(stderr, "%s\n", e.message);
    return w;
}

static inline pio_writer *fixture_writer(const char *path)
{
    return fixture_writer_salted(path, NULL);
}

static inline char *fixture_tmpname(const char *tag)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    const char *dir = getenv("TMPDIR");
    snprintf(p, 256, "%s/pio_%s_%d.holo", dir ? dir : "/tmp", tag, (int)getpid());
    return p;
}

static inline void *fixture_nop(void *arg)
{
    return arg;
}

/* Threads of this process (from /proc/self/status), or -1. A thread is
 * started and joined first: ThreadSanitizer starts its own background
 * thread with the process's first one, which must not count as ours. */
static inline int fixture_threads(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fixture_nop, NULL) == 0)
        pthread_join(t, NULL);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* Read a whole file into memory. */
static inline uint8_t *fixture_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Whether files a and b hold the same bytes and a verifies as HOLO. */
static inline bool fixture_same_holo(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    uint8_t *x = fixture_slurp(a, &la), *y = fixture_slurp(b, &lb);
    bool same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    pio_reader *r = NULL;
    struct pio_error e = {0};
    bool ok = same && pio_reader_open(&r, a, NULL, &e) == 0 && pio_reader_verify(r, 1, &e) == 0;
    pio_reader_close(r);
    return ok;
}

static inline int fixture_spit(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(b, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* One round of a kill test: a child forked to run child(path, fd, round),
 * which writes each commit's (or frame's) count to fd once it returned, is
 * sent SIGKILL after 0 to max_ns nanoseconds (from rng). Returns the last
 * count it reported (-1: none); *signalled says whether the kill ended it
 * (false: it exited first). */
static inline int64_t fixture_kill_round(const char *path, int round, uint64_t *rng, long max_ns,
                                         void (*child)(const char *, int, int), bool *signalled)
{
    *signalled = false;
    unlink(path);
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child(path, p[1], round);
        _exit(0);
    }
    close(p[1]);
    struct timespec d = {0, (long)(pio_test_rand(rng) % (uint64_t)max_ns)};
    nanosleep(&d, NULL);
    if (pid > 0)
        kill(pid, SIGKILL);
    int st = 0;
    *signalled = pid > 0 && waitpid(pid, &st, 0) == pid && WIFSIGNALED(st);
    int64_t last = -1;
    uint64_t v;
    while (read(p[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
        last = (int64_t)v;
    close(p[0]);
    return last;
}

/* After a kill round that reported `committed` frames: the file opens
 * with at least those, each passing ok(frame, i), and recovers to the same
 * count. The frames found (*n), or false where nothing was promised and
 * nothing opens (killed before the first commit). */
static inline bool fixture_kill_check(const char *path, int round, uint64_t committed,
                                      bool (*ok)(const struct pio_frame *, uint64_t), uint64_t *n)
{
    struct pio_error e = {0};
    pio_reader *r;
    *n = 0;
    int rc = pio_reader_open(&r, path, NULL, &e);
    if (committed == 0 && rc != 0)
        return false;
    CHECKF(rc == 0, "round %d: open failed after %llu committed frames: %s", round,
           (unsigned long long)committed, e.message);
    if (rc != 0)
        return false;
    *n = pio_reader_nframes(r);
    CHECKF(*n >= committed, "round %d: %llu frames, %llu were committed", round,
           (unsigned long long)*n, (unsigned long long)committed);
    for (uint64_t i = 0; i < *n; i++) {
        struct pio_frame f;
        CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && ok(&f, i), "round %d: frame %llu: %s", round,
               (unsigned long long)i, e.message);
    }
    pio_reader_close(r);
    struct pio_recover_report rep;
    CHECK(pio_holo_recover(path, &rep, &e) == 0 && rep.nframes == *n);
    return true;
}

#endif
