/*
 * Bounded memory while a file is read in order: a child process (spawned
 * afresh, so its peak RSS is its own) reads every frame of a file several
 * times the window (pio_reader_frame; a frame stream on the mmap engine;
 * pio_reader_read into one buffer) and its peak RSS (VmHWM) may grow by
 * at most 64 MiB, whatever the file's size; views it holds from the start
 * of the file are still right at the end (their pages dropped and read
 * again). Then random reads after the sequential pass are right too (the
 * pages they touch stay: not counted). The mapping is 2 MiB-aligned and
 * asks for huge pages.
 */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "format/holo_layout.h"
#include "holo_fixture.h"

#define NAT     20000
#define NFRAMES 800         /* 192 MB of positions */
#define LIMIT   (64L << 10) /* kB of growth allowed */

extern char **environ;

static float value(uint64_t t, uint64_t a, int c)
{
    return (float)((t * 7 + a * 3 + (uint64_t)c) % 1000) * 0.01f;
}

static long vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

static bool frame_right(const struct pio_frame *f, uint64_t t)
{
    if (f->natoms != NAT)
        return false;
    for (uint64_t a = 0; a < NAT; a += 997)
        for (int c = 0; c < 3; c++)
            if (f->positions[a][c] != value(t, a, c))
                return false;
    return true;
}

/* The child: read every frame the way `how` says; exit 0 if the values
 * are right and the peak RSS grew by less than LIMIT. */
static int child(const char *path, const char *how)
{
    struct pio_error e = {0};
    pio_reader *r;
    if (pio_reader_open(&r, path, NULL, &e) != 0) {
        fprintf(stderr, "%s\n", e.message);
        return 2;
    }
    long before = vm_hwm_kb(), grew = -1;
    double sum = 0;
    struct pio_frame held[5];
    bool ok = true;
    uint64_t n = pio_reader_nframes(r);
    if (strcmp(how, "stream") == 0) {
        struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
        so.engine = PIO_IO_MMAP;
        pio_frame_stream *s;
        if (pio_frame_stream_open(&s, r, NULL, 0, &so, &e) != 0)
            return 2;
        struct pio_frame f;
        uint64_t k = 0;
        while (pio_frame_stream_next(s, &f, &e) == 1) {
            for (uint64_t a = 0; a < f.natoms; a++)
                sum += f.positions[a][0] + f.positions[a][1] + f.positions[a][2];
            ok = ok && frame_right(&f, k++);
            pio_frame_stream_release(s, &f);
        }
        ok = ok && k == n;
        pio_frame_stream_close(s);
    } else if (strcmp(how, "read") == 0) {
        float(*buf)[3] = malloc((size_t)NAT * 12);
        float(*const xyz[3])[3] = {buf, NULL, NULL};
        for (uint64_t t = 0; t < n && ok; t++) {
            ok = pio_reader_read(r, t, 1, NULL, NAT, xyz, &e) == 0;
            struct pio_frame f = {.natoms = NAT, .positions = (const float(*)[3])buf};
            ok = ok && frame_right(&f, t);
        }
        free(buf);
    } else { /* frames, the first five held to the end */
        for (uint64_t t = 0; t < n && ok; t++) {
            struct pio_frame f;
            ok = pio_reader_frame(r, t, &f, &e) == 0;
            for (uint64_t a = 0; ok && a < f.natoms; a++)
                sum += f.positions[a][0] + f.positions[a][1] + f.positions[a][2];
            ok = ok && frame_right(&f, t);
            if (t < 5)
                held[t] = f;
        }
        for (uint64_t t = 0; t < 5 && ok; t++)
            ok = frame_right(&held[t], t);
        grew = vm_hwm_kb() - before;
        /* random reads after the pass (they may make pages resident) */
        uint64_t st = 7;
        for (int k = 0; k < 300 && ok; k++) {
            uint64_t t = pio_test_rand(&st) % n;
            struct pio_frame f;
            ok = pio_reader_frame(r, t, &f, &e) == 0 && frame_right(&f, t);
        }
    }
    if (grew < 0)
        grew = vm_hwm_kb() - before;
    pio_reader_close(r);
    fprintf(stderr, "%s: peak RSS grew %ld kB reading %llu frames of %d atoms (sum %g)%s\n", how,
            grew, (unsigned long long)n, NAT, sum, ok ? "" : ": WRONG VALUES");
    return !ok ? 3 : grew >= LIMIT ? 4 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3)
        return child(argv[1], argv[2]);
    const char *path = fixture_tmpname("rss");
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
    pio_writer *w;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    float(*x)[3] = malloc((size_t)NAT * 12);
    for (uint64_t t = 0; t < NFRAMES; t++) {
        for (uint64_t a = 0; a < NAT; a++)
            for (int c = 0; c < 3; c++)
                x[a][c] = value(t, a, c);
        struct pio_frame f = {0};
        f.natoms = NAT;
        f.step = (int64_t)t;
        f.positions = (const float(*)[3])x;
        CHECK(pio_writer_append(w, &f, &e) == 0);
    }
    free(x);
    CHECK(pio_writer_close(w, &e) == 0);
    static const char *const hows[] = {"frames", "stream", "read"};
    for (int k = 0; k < 3; k++) {
        char *args[] = {(char *)"/proc/self/exe", (char *)path, (char *)hows[k], NULL};
        pid_t pid;
        int st = 0;
        CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) == 0);
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0,
               "%s: child exit %d (3: wrong values, 4: peak RSS followed the file's size)", hows[k],
               WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    /* the mapping starts on a 2 MiB boundary (the page cache's large
     * folios are then mapped many pages per fault, as a plain mmap of the
     * file would be): frame 0's record lies at its file offset from it */
    pio_reader *r;
    struct pio_frame f;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0 && pio_reader_frame(r, 0, &f, &e) == 0);
    uintptr_t base = (uintptr_t)f.positions - (uintptr_t)f.offset - HOLO_FRAME_HDR;
    CHECKF(base % ((uintptr_t)2 << 20) == 0, "mapping at %#lx", (unsigned long)base);
    /* and asks for huge pages (VmFlags "hg"), where the kernel has them */
    FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (thp && fgets(mode, sizeof(mode), thp) && !strstr(mode, "[never]")) {
        FILE *sm = fopen("/proc/self/smaps", "r");
        char line[512];
        bool in = false, hg = false, seen = false;
        while (sm && fgets(line, sizeof(line), sm)) {
            unsigned long lo, hi;
            if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) /* a mapping's first line */
                in = base >= lo && base < hi;
            else if (in && strncmp(line, "VmFlags:", 8) == 0) {
                seen = true;
                hg = strstr(line, " hg") != NULL;
            }
        }
        if (sm)
            fclose(sm);
        CHECKF(seen && hg, "the mapping has no MADV_HUGEPAGE (VmFlags hg)");
    }
    if (thp)
        fclose(thp);
    pio_reader_close(r);
    unlink(path);
    return TEST_RESULT();
}
