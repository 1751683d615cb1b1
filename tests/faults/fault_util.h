/*
 * Shared by the fault-injection loops (issue 20): a scratch directory, the
 * loop budget and a clock.
 *
 * Each loop has a small default count that fits `make test`. `make stress`
 * sets PIO_STRESS_COUNT=N and/or PIO_STRESS_SECONDS=S: a loop then runs
 * N / per iterations (at least one; `per` weighs the loop's cost: 1 for a
 * kill or a mutant, 10 for an ENOSPC round, 100 for a whole file of
 * truncations and bit flips), and stops after S seconds if that comes
 * first (with S alone, the count is unlimited).
 */
#ifndef PIO_FAULT_UTIL_H
#define PIO_FAULT_UTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static inline double fault_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

struct fault_budget {
    uint64_t count;  /* iterations to run */
    double deadline; /* fault_now() after which to stop; 0: none */
    bool stress;     /* a `make stress` run (longer, more thorough loops) */
};

/* The budget for a loop whose default count is `dflt`, each iteration
 * worth `per` of PIO_STRESS_COUNT. */
static inline struct fault_budget fault_budget(uint64_t dflt, uint64_t per)
{
    struct fault_budget b = {dflt, 0, false};
    const char *c = getenv("PIO_STRESS_COUNT"), *s = getenv("PIO_STRESS_SECONDS");
    if (c && *c) {
        b.count = strtoull(c, NULL, 0) / per;
        b.count = b.count ? b.count : 1;
        b.stress = true;
    }
    if (s && *s && strtod(s, NULL) > 0) {
        b.deadline = fault_now() + strtod(s, NULL);
        if (!(c && *c))
            b.count = UINT64_MAX;
        b.stress = true;
    }
    return b;
}

/* Whether iteration i (0-based) should run. */
static inline bool fault_more(const struct fault_budget *b, uint64_t i)
{
    return i < b->count && (b->deadline == 0 || i == 0 || fault_now() < b->deadline);
}

/* Remove a scratch directory made by fault_tmpdir (flat: files only). */
static inline void fault_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[1024];
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

static char fault_dir[512];

static inline void fault_rmdir_at_exit(void)
{
    if (fault_dir[0])
        fault_rmdir(fault_dir);
}

/* A new scratch directory, removed at exit (also when a test stops
 * early): under TMPDIR if set, else /dev/shm where it is writable (tmpfs:
 * fdatasync costs nothing, and the loops recover and commit thousands of
 * times), else /tmp. Returns a static buffer or NULL. */
static inline const char *fault_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fault_dir, sizeof(fault_dir), "%s/pio_%s_XXXXXX", base, tag);
    if (!mkdtemp(fault_dir)) {
        fault_dir[0] = '\0';
        return NULL;
    }
    atexit(fault_rmdir_at_exit);
    return fault_dir;
}

#endif
