/*
 * Helpers shared by the benchmarks of `prismio bench` (see bench_common.h).
 * Nothing here calls a benchmark: calls go bench_cmd.c -> a benchmark ->
 * this file.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

volatile uint64_t bench_sink;

/* Bytes of a frame's record (docs/FORMAT.md): header, each array padded
 * to 64, the scalar table padded to 64. */
uint64_t bench_record_bytes(uint64_t natoms, int arrays, uint32_t nscalars)
{
    return 192 + (uint64_t)arrays * ((natoms * 12 + 63) / 64 * 64) +
           ((uint64_t)nscalars * 32 + 63) / 64 * 64;
}

double bench_best(double cur, double t)
{
    return (t >= 0 && (cur < 0 || t < cur)) ? t : cur;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Raw limit for buffered engines: read() the file into a reused 1 MiB
 * buffer and sum it. */
double bench_raw_read(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    static uint8_t buf[1 << 20] __attribute__((aligned(64)));
    double t0 = cli_now();
    ssize_t n;
    uint64_t s = 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        s += bench_sum_words(buf, (size_t)n);
    double t = cli_now() - t0;
    close(fd);
    bench_sink += s;
    return n < 0 ? -1 : t;
}

/* Drop the file's pages from the page cache (for cold runs). */
void bench_drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

/* MDAnalysis iterating the same file (Debian's python), best of `repeat`:
 * seconds, or < 0 when it is not available. */
double bench_mdanalysis_seconds(const char *path, uint64_t natoms, uint64_t repeat)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "PYTHONWARNINGS=ignore /usr/bin/python3 -c '\n"
             "import sys, time, MDAnalysis as mda\n"
             "u = mda.Universe.empty(%llu, trajectory=True)\n"
             "u.load_new(sys.argv[1])\n"
             "best = 1e9\n"
             "for r in range(%llu):\n"
             "    t0 = time.perf_counter()\n"
             "    for ts in u.trajectory: ts.positions.sum()\n"
             "    best = min(best, time.perf_counter() - t0)\n"
             "print(best)' '%s' 2>/dev/null",
             (unsigned long long)natoms, (unsigned long long)repeat, path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    double t = -1;
    if (fscanf(p, "%lf", &t) != 1)
        t = -1;
    return pclose(p) == 0 ? t : -1;
}

/* Run a shell command; its output (both streams, the last outcap - 1
 * bytes) into out; wall seconds, or < 0 if it failed. */
double bench_shell(const char *cmd, char *out, size_t outcap)
{
    double t0 = cli_now();
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t len = 0;
    char line[1024];
    out[0] = '\0';
    while (fgets(line, sizeof(line), p)) {
        size_t n = strlen(line);
        if (len + n >= outcap) { /* keep the newest lines */
            size_t drop = len + n - outcap + 1;
            drop = drop > len ? len : drop;
            memmove(out, out + drop, len - drop);
            len -= drop;
        }
        if (n < outcap - len) {
            memcpy(out + len, line, n);
            len += n;
        }
        out[len] = '\0';
    }
    int st = pclose(p);
    double t = cli_now() - t0;
    return st == 0 ? t : -1;
}
