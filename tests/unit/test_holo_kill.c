/*
 * Killed writers: a child appends frames (committing every few) and reports
 * each frame number through a pipe after pio_writer_append returns; the
 * parent kills it with SIGKILL at a random moment, 200 times. Every reported
 * frame must be there after reopening, bit-exact (the kernel keeps written
 * bytes when a process dies), and any extra frame found must be complete
 * and correct too. Some rounds then run recovery, check that the file
 * verifies, and append to it again.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "holo_fixture.h"

#define SEED   77
#define ROUNDS 200

static void child(const char *path, int fd, int round)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_OVERWRITE | (round % 8 == 0 ? 0 : PIO_WRITER_NO_SYNC);
    pio_writer *w;
    struct pio_error e = {0};
    if (pio_writer_create(&w, path, &o, &e) != 0)
        _exit(2);
    pio_writer_set_metadata(w, "round", "x", &e);
    uint64_t every = (uint64_t)(round % 5) + 1;
    for (uint64_t i = 0; i < 100000; i++) {
        if (fixture_append(w, i, 1, SEED, true, 20) != 0)
            _exit(3);
        if (write(fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
            _exit(4);
        if ((i + 1) % every == 0 && pio_writer_commit(w, &e) != 0)
            _exit(5);
    }
    _exit(0);
}

int main(void)
{
    const char *path = fixture_tmpname("kill");
    uint64_t rng = pio_test_seed((uint64_t)time(NULL));
    uint64_t total_reported = 0, total_extra = 0;
    for (int round = 0; round < ROUNDS; round++) {
        bool killed;
        int64_t last = fixture_kill_round(path, round, &rng, 12000000, child, &killed);
        CHECKF(killed, "round %d: child exited by itself", round);

        struct pio_error e = {0};
        pio_reader *r;
        int rc = pio_reader_open(&r, path, NULL, &e);
        if (last < 0 && rc != 0)
            continue; /* killed before the first frame: nothing promised */
        CHECKF(rc == 0, "round %d: open failed after %lld frames: %s", round, (long long)last,
               e.message);
        if (rc != 0)
            continue;
        uint64_t n = pio_reader_nframes(r);
        CHECKF((int64_t)n >= last + 1, "round %d: %llu frames, %lld were reported", round,
               (unsigned long long)n, (long long)last + 1);
        for (uint64_t i = 0; i < n; i++) {
            struct fixture_frame ff;
            fixture_make(&ff, i, SEED, true, 20);
            struct pio_frame f;
            CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && fixture_equal(&f, &ff),
                   "round %d: frame %llu wrong", round, (unsigned long long)i);
            CHECK(pio_reader_verify_frame(r, i, &e) == 0);
            fixture_free(&ff);
        }
        total_reported += (uint64_t)(last + 1);
        total_extra += n - (uint64_t)(last + 1);
        pio_reader_close(r);

        if (round % 4 == 0) {
            struct pio_recover_report rep;
            CHECK(pio_holo_recover(path, &rep, &e) == 0 && rep.nframes == n);
            CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
            CHECKF(r && pio_reader_verify(r, 1, &e) == 0, "round %d: after recover: %s", round,
                   e.message);
            pio_reader_close(r);
            pio_writer *w;
            CHECK(pio_writer_open_append(&w, path, NULL, &e) == 0);
            CHECK(fixture_append(w, n, 2, SEED, true, 20) == 0);
            CHECK(pio_writer_close(w, &e) == 0);
            CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
            CHECK(r && pio_reader_nframes(r) == n + 2 && pio_reader_verify(r, 1, &e) == 0);
            pio_reader_close(r);
        }
        TEST_STOP_IF_FLOODED();
    }
    fprintf(stderr, "%d kills: %llu reported frames all present, %llu more found complete\n",
            ROUNDS, (unsigned long long)total_reported, (unsigned long long)total_extra);
    unlink(path);
    return TEST_RESULT();
}
