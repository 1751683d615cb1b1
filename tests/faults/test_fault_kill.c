/*
 * SIGKILL of an out-of-process writer (issue 20). test_holo_kill forks a
 * copy of itself that appends and reports appended frames; here the writer
 * is a separate program image (this binary run with --writer: exec'd, so
 * nothing is shared with the parent but the file and a pipe) that reports
 * the frame count each time pio_writer_commit returns, and it is killed at
 * random moments: at any point of its life in some rounds, a random time
 * after its first commit in the others.
 *
 * Rounds vary what the writer does: commit every 1, 3 or 10 frames; single
 * appends or pio_writer_append_many; fdatasync or not; the pwrite or the
 * io_uring engine; a new file, or appending to the file the last killed
 * writer left (pio_writer_open_append recovers it first, so kills also land
 * inside that recovery). After each kill the file must open, hold every
 * frame a commit reported (and every frame of earlier rounds), bit-exact,
 * and after pio_holo_recover (most rounds; the others leave it to the next
 * writer) it must verify with the same frames.
 *
 * Default 100 kills; PIO_STRESS_COUNT / PIO_STRESS_SECONDS for more.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "fault_util.h"
#include "holo_fixture.h"

#define SEED       2020
#define BASE_ATOMS 20
#define MAX_FRAMES 1500 /* start a new file past this (past 1,024: a FULL INDEX and a chain) */

/* ---- the writer ---- */

static int writer(const char *path, uint64_t every, const char *how)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = strchr(how, 's') ? 0 : PIO_WRITER_NO_SYNC;
    o.engine = strchr(how, 'u') ? PIO_IO_URING : PIO_IO_PREAD;
    o.hash_threads = 1;
    struct pio_error e = {0};
    pio_writer *w;
    int rc = access(path, F_OK) == 0 ? pio_writer_open_append(&w, path, &o, &e)
                                     : pio_writer_create(&w, path, &o, &e);
    if (rc != 0) {
        fprintf(stderr, "writer: %s\n", e.message);
        return 2;
    }
    bool many = strchr(how, 'm') != NULL;
    struct fixture_frame ff[10];
    struct pio_frame fr[10];
    for (uint64_t i = pio_writer_nframes(w); i < 1000000; i += every) {
        if (many) {
            for (uint64_t k = 0; k < every; k++) {
                fixture_make(&ff[k], i + k, SEED, true, BASE_ATOMS);
                fr[k] = ff[k].f;
            }
            rc = pio_writer_append_many(w, fr, (size_t)every, &e);
            for (uint64_t k = 0; k < every; k++)
                fixture_free(&ff[k]);
        } else {
            rc = fixture_append(w, i, every, SEED, true, BASE_ATOMS);
        }
        if (rc == 0)
            rc = pio_writer_commit(w, &e);
        if (rc != 0) {
            fprintf(stderr, "writer: frame %llu: %s\n", (unsigned long long)i, e.message);
            return 3;
        }
        char line[32];
        int n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)pio_writer_nframes(w));
        if (write(STDOUT_FILENO, line, (size_t)n) != n)
            return 4;
    }
    pio_writer_close(w, NULL);
    return 0;
}

/* ---- the parent ---- */

/* Frames [0, n) are the fixture's, bit-exact; each frame's hash holds. */
static bool frames_exact(const pio_reader *r, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        struct fixture_frame ff;
        fixture_make(&ff, i, SEED, true, BASE_ATOMS);
        struct pio_frame f;
        bool ok = pio_reader_frame(r, i, &f, NULL) == 0 && fixture_equal(&f, &ff) &&
                  pio_reader_verify_frame(r, i, NULL) == 0;
        fixture_free(&ff);
        if (!ok) {
            fprintf(stderr, "frame %llu is not the one written\n", (unsigned long long)i);
            return false;
        }
    }
    return true;
}

/* Wait up to ms for fd to be readable; read what is there into the line
 * parser (the last count into *last, one more in *lines per line).
 * Returns false at EOF. */
static uint64_t lines;

static bool drain(int fd, int ms, uint64_t *last, char *buf, size_t *have)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return true;
    ssize_t n = read(fd, buf + *have, 255 - *have);
    if (n <= 0)
        return false;
    *have += (size_t)n;
    buf[*have] = '\0';
    char *nl;
    while ((nl = strchr(buf, '\n'))) {
        *nl = '\0';
        *last = strtoull(buf, NULL, 10);
        lines++;
        size_t rest = *have - (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, rest);
        *have = rest;
        buf[rest] = '\0';
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--writer") == 0)
        return writer(argv[2], strtoull(argv[3], NULL, 10), argv[4]);

    struct fault_budget bud = fault_budget(100, 1);
    const char *dir = fault_tmpdir("kill");
    CHECK(dir != NULL);
    if (!dir)
        return TEST_RESULT();
    char path[600];
    snprintf(path, sizeof(path), "%s/killed.holo", dir);
    uint64_t rng = pio_test_seed((uint64_t)time(NULL));
    double t0 = fault_now();
    uint64_t kills = 0, early = 0, recovered = 0, known = 0, largest = 0;
    for (uint64_t round = 0; fault_more(&bud, round); round++) {
        static const uint64_t everies[3] = {1, 3, 10};
        uint64_t every = everies[round % 3];
        char how[8] = "", *h = how;
        if (round % 4 == 1)
            *h++ = 's';
        if (round % 5 == 2)
            *h++ = 'u';
        if (round % 2)
            *h++ = 'm';
        *h++ = '-';
        *h = '\0';
        if (round % 7 == 0 || known > MAX_FRAMES) {
            unlink(path);
            known = 0;
        }
        bool anytime = round % 4 == 3;

        int p[2];
        CHECK(pipe(p) == 0);
        char every_s[8];
        snprintf(every_s, sizeof(every_s), "%llu", (unsigned long long)every);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(p[1], STDOUT_FILENO);
            close(p[0]);
            close(p[1]);
            execl("/proc/self/exe", argv[0], "--writer", path, every_s, how, (char *)NULL);
            _exit(127);
        }
        close(p[1]);
        uint64_t last = 0;
        char buf[256];
        size_t have = 0;
        bool open_pipe = true;
        if (anytime) {
            /* anywhere from exec to well into writing */
            double until = fault_now() + (double)(pio_test_rand(&rng) % 60000) * 1e-6;
            while (open_pipe && fault_now() < until)
                open_pipe = drain(p[0], 1, &last, buf, &have);
        } else {
            double until = fault_now() + 20;
            while (open_pipe && last == 0 && fault_now() < until)
                open_pipe = drain(p[0], 50, &last, buf, &have);
            CHECKF(last > 0, "round %llu: no commit reported", (unsigned long long)round);
            struct timespec d = {0, (long)(pio_test_rand(&rng) % 15000000)};
            nanosleep(&d, NULL);
        }
        kill(pid, SIGKILL);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
               "round %llu: the writer stopped by itself (status 0x%x)", (unsigned long long)round,
               st);
        while (drain(p[0], 0, &last, buf, &have))
            ;
        close(p[0]);
        kills++;
        early += last == 0;
        largest = last > largest ? last : largest;

        /* the file as the killed writer left it */
        struct pio_error e = {0};
        pio_reader *r;
        int rc = pio_reader_open(&r, path, NULL, &e);
        if (rc != 0) {
            CHECKF(known == 0 && last == 0,
                   "round %llu (every %llu, %s): open failed, %llu frames were committed: %s",
                   (unsigned long long)round, (unsigned long long)every, how,
                   (unsigned long long)(last > known ? last : known), e.message);
            unlink(path);
            known = 0;
            continue;
        }
        uint64_t n = pio_reader_nframes(r);
        uint64_t want = last > known ? last : known;
        CHECKF(n >= want, "round %llu (every %llu, %s): %llu frames, %llu were committed",
               (unsigned long long)round, (unsigned long long)every, how, (unsigned long long)n,
               (unsigned long long)want);
        CHECKF(frames_exact(r, n), "round %llu: frames differ", (unsigned long long)round);
        pio_reader_close(r);
        known = want;

        if (round % 3 != 2) {
            struct pio_recover_report rep;
            rc = pio_holo_recover(path, &rep, &e);
            CHECKF(rc == 0 && rep.nframes == n, "round %llu: recover: %s",
                   (unsigned long long)round, rc ? e.message : "frame count changed");
            recovered++;
            CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
            if (r) {
                struct pio_reader_info in;
                pio_reader_info(r, &in);
                CHECKF(!in.recovered && pio_reader_nframes(r) == n && frames_exact(r, n) &&
                           pio_reader_verify(r, 1, &e) == 0,
                       "round %llu: after recover: %s", (unsigned long long)round, e.message);
                pio_reader_close(r);
            }
            known = n;
        }
        TEST_STOP_IF_FLOODED();
    }
    fprintf(stderr,
            "%llu kills of an exec'd writer (%llu before its first commit): %llu commits "
            "reported (files up to %llu frames), every committed frame present and bit-exact; "
            "%llu recoveries verified; %.1f s\n",
            (unsigned long long)kills, (unsigned long long)early, (unsigned long long)lines,
            (unsigned long long)largest, (unsigned long long)recovered, fault_now() - t0);
    fault_rmdir(dir);
    return TEST_RESULT();
}
