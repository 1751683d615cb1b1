/*
 * HOLO 2.0 commits and following a file being written:
 *  - per-frame commits of 10^4 frames: the index records the doubling rule
 *    asks for (FULL INDEX at 1,024, 2,048, 4,096, 8,192 frames; a COMMIT
 *    record per frame otherwise) and no more; every frame readable, bit
 *    exact, after reopening, through a reader opened at the start and
 *    refreshed, and after recovering copies cut inside the last commits;
 *    appends after reopening continue the chain;
 *  - a writer in another process committing at random intervals: a
 *    following stream (inotify, then polling) sees every frame, in order,
 *    none twice, and ends at the final commit;
 *    and so does a reader waiting with pio_reader_wait;
 *  - a writer killed with SIGKILL: the follower sees every committed frame,
 *    then times out saying the file is not final.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "format/holo_layout.h"
#include "holo_fixture.h"

#define SEED 11
#define BASE 3

static bool frame_ok(const struct pio_frame *f, uint64_t i)
{
    struct fixture_frame ff;
    fixture_make(&ff, i, SEED, true, BASE);
    bool ok = f->index == i && fixture_equal(f, &ff);
    fixture_free(&ff);
    return ok;
}

static bool all_frames_ok(pio_reader *r, uint64_t n)
{
    if (pio_reader_nframes(r) != n)
        return false;
    for (uint64_t i = 0; i < n; i++) {
        struct pio_frame f;
        if (pio_reader_frame(r, i, &f, NULL) != 0 || !frame_ok(&f, i))
            return false;
    }
    return true;
}

/* Record types in file order (2.0): counts, and the FULL INDEX sizes. */
static void count_records(const uint8_t *b, size_t len, uint64_t *commits, uint64_t *fulls,
                          uint64_t *full_n, uint64_t *index_bytes)
{
    *commits = *fulls = *index_bytes = 0;
    uint64_t pos = HOLO_HEADER_SIZE;
    while (pos + HOLO_REC_HDR <= len) {
        uint32_t type = holo_rd32(b + pos + 4);
        uint64_t l = holo_rd64(b + pos + 8);
        if (type == HOLO_REC_COMMIT)
            (*commits)++;
        if (type == HOLO_REC_FULL && *fulls < 16)
            full_n[(*fulls)++] = holo_rd64(b + pos + 64);
        if (type == HOLO_REC_COMMIT || type == HOLO_REC_FULL)
            *index_bytes += l;
        if (l == 0)
            break;
        pos += l;
    }
}

static void test_per_frame_commits(const char *path, const char *cut)
{
    const uint64_t n = 10000;
    pio_writer *w = fixture_writer(path);
    struct pio_error e = {0};
    CHECK(w && pio_writer_commit(w, &e) == 0);
    pio_reader *follower;
    CHECKF(pio_reader_open(&follower, path, NULL, &e) == 0, "%s", e.message);
    uint64_t seen = 0, checked = 0;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(fixture_append(w, i, 1, SEED, true, BASE) == 0);
        CHECK(pio_writer_commit(w, &e) == 0);
        if (i % 97 == 0 || i + 1 == n) {
            uint64_t added = 0;
            CHECKF(pio_reader_refresh(follower, &added, &e) == 0, "%s", e.message);
            seen += added;
            CHECKF(seen == i + 1 && pio_reader_nframes(follower) == i + 1 &&
                       !pio_reader_final(follower),
                   "refresh after frame %llu: %llu frames", (unsigned long long)i,
                   (unsigned long long)seen);
            for (; checked < seen; checked += 7) { /* a sample, read as they arrive */
                struct pio_frame f;
                CHECK(pio_reader_frame(follower, checked, &f, &e) == 0 && frame_ok(&f, checked));
            }
        }
    }
    CHECK(pio_writer_close(w, &e) == 0);
    CHECK(pio_reader_refresh(follower, NULL, &e) == 0 && pio_reader_final(follower));
    CHECK(all_frames_ok(follower, n));
    CHECKF(pio_reader_verify(follower, 1, &e) == 0, "%s", e.message);
    pio_reader_close(follower);

    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    uint64_t commits, fulls, full_n[16], index_bytes;
    count_records(b, len, &commits, &fulls, full_n, &index_bytes);
    /* a commit per frame, the empty first one and the final one; full
     * indexes where the doubling rule says, and the final one's (its
     * chain holds more than 1,024 frames) */
    CHECKF(commits == n + 2, "%llu commit records", (unsigned long long)commits);
    CHECKF(fulls == 5 && full_n[0] == 1024 && full_n[1] == 2048 && full_n[2] == 4096 &&
               full_n[3] == 8192 && full_n[4] == n,
           "%llu full indexes (%llu, %llu, ...)", (unsigned long long)fulls,
           (unsigned long long)full_n[0], (unsigned long long)full_n[1]);
    CHECKF(index_bytes < n * (448 + 3 * 32), "%llu index bytes for %llu frames",
           (unsigned long long)index_bytes, (unsigned long long)n);

    pio_reader *r;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    /* random access first (the chain walked from the newest commit), then
     * everything */
    uint64_t x = 12345;
    for (int k = 0; r && k < 2000; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t i = (x >> 33) % n;
        struct pio_frame f;
        CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i), "frame %llu: %s",
               (unsigned long long)i, e.message);
    }
    CHECK(r && all_frames_ok(r, n) && pio_reader_final(r));
    CHECK(pio_reader_find_step(r, (int64_t)(n - 1) * 10) == (int64_t)n - 1);
    pio_reader_close(r);

    /* a writer killed inside one of the last commits: recovery keeps every
     * frame before the cut */
    for (uint64_t back = 100; back < 3000; back += 733) {
        size_t c = len - back;
        CHECK(fixture_spit(cut, b, c) == 0);
        struct pio_recover_report rep;
        CHECKF(pio_holo_recover(cut, &rep, &e) == 0, "cut at %zu: %s", c, e.message);
        CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
        struct pio_reader_info in;
        pio_reader_info(r, &in);
        uint64_t m = pio_reader_nframes(r);
        CHECKF(!in.recovered && m + 8 >= n && m <= n && all_frames_ok(r, m) &&
                   !pio_reader_final(r) && pio_reader_verify(r, 1, &e) == 0,
               "cut at %zu: %llu frames: %s", c, (unsigned long long)m, e.message);
        pio_reader_close(r);
    }
    free(b);

    /* appending after reopening continues the chain */
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC;
    CHECK(pio_writer_open_append(&w, path, &o, &e) == 0);
    for (uint64_t i = n; i < n + 40; i++)
        CHECK(fixture_append(w, i, 1, SEED, true, BASE) == 0 && pio_writer_commit(w, &e) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    CHECK(all_frames_ok(r, n + 40) && pio_reader_final(r));
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "%s", e.message);
    pio_reader_close(r);
}

/* ---- a writer in another process ---- */

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* The child: frames committed at random intervals (1..37 frames), with
 * short pauses; `total` frames, then close (0: forever, until killed).
 * After each commit it writes the frame count to `report`. */
static void writer_child(const char *path, uint64_t total, int report)
{
    pio_writer *w = fixture_writer(path);
    struct pio_error e = {0};
    if (!w)
        _exit(2);
    uint64_t x = 99, i = 0;
    while (total == 0 || i < total) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t k = 1 + (x >> 33) % 37;
        if (total && i + k > total)
            k = total - i;
        if (fixture_append(w, i, k, SEED, true, BASE) != 0 || pio_writer_commit(w, &e) != 0)
            _exit(3);
        i += k;
        if (report >= 0 && write(report, &i, sizeof(i)) != sizeof(i))
            _exit(4);
        sleep_us((long)((x >> 20) % 1500));
    }
    _exit(pio_writer_close(w, &e) == 0 ? 0 : 5);
}

/* Open the file as soon as it has a header (the child creates it). */
static pio_reader *open_when_there(const char *path)
{
    struct pio_error e = {0};
    for (int k = 0; k < 20000; k++) {
        pio_reader *r;
        if (pio_reader_open(&r, path, NULL, &e) == 0)
            return r;
        sleep_us(500);
    }
    fprintf(stderr, "%s never appeared: %s\n", path, e.message);
    return NULL;
}

static void test_follow_writer(const char *path, bool poll)
{
    const uint64_t total = 3000;
    unlink(path);
    pid_t pid = fork();
    if (pid == 0)
        writer_child(path, total, -1);
    pio_reader *r = open_when_there(path);
    CHECK(r != NULL);
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.flags = PIO_STREAM_VERIFY | (poll ? PIO_STREAM_FOLLOW_POLL : 0);
    so.follow_timeout_ms = 60000;
    so.follow_poll_ms = 2;
    pio_frame_stream *s = NULL;
    struct pio_error e = {0};
    CHECK(r && pio_frame_stream_follow(&s, r, 0, &so, &e) == 0);
    uint64_t next = 0;
    int rc;
    struct pio_frame f;
    while (s && (rc = pio_frame_stream_next(s, &f, &e)) == 1) {
        CHECKF(f.index == next && frame_ok(&f, next), "%s: frame %llu delivered as %llu",
               poll ? "poll" : "inotify", (unsigned long long)next, (unsigned long long)f.index);
        next = f.index + 1;
        pio_frame_stream_release(s, &f);
    }
    CHECKF(s && rc == 0 && next == total && pio_reader_final(r), "%s: ended with %d after %llu: %s",
           poll ? "poll" : "inotify", rc, (unsigned long long)next, e.message);
    pio_frame_stream_close(s);
    pio_reader_close(r);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fprintf(stderr,
            "follow (%s): %llu frames from another process, in order, to the final commit\n",
            poll ? "polling" : "inotify", (unsigned long long)next);
}

/* The same writer followed with pio_reader_wait and views of the reader. */
static void test_wait_writer(const char *path)
{
    const uint64_t total = 1500;
    unlink(path);
    pid_t pid = fork();
    if (pid == 0)
        writer_child(path, total, -1);
    pio_reader *r = open_when_there(path);
    struct pio_error e = {0};
    uint64_t next = 0, waits = 0;
    int rc = 0;
    while (r && rc == 0) {
        for (; next < pio_reader_nframes(r); next++) {
            struct pio_frame f;
            CHECKF(pio_reader_frame(r, next, &f, &e) == 0 && frame_ok(&f, next), "frame %llu: %s",
                   (unsigned long long)next, e.message);
        }
        if (pio_reader_final(r))
            break;
        uint64_t added = 0;
        rc = pio_reader_wait(r, 60000, &added, &e);
        waits++;
        CHECKF(rc != 0 || added > 0 || pio_reader_final(r), "a wait returned nothing: %s",
               e.message);
    }
    CHECKF(rc == 0 && next == total && pio_reader_final(r), "wait: %d after %llu: %s", rc,
           (unsigned long long)next, e.message);
    uint64_t added = 99;
    CHECK(r && pio_reader_wait(r, 1, &added, &e) == 0 && added == 0); /* final: at once */
    pio_reader_close(r);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fprintf(stderr, "pio_reader_wait: %llu frames in %llu waits, to the final commit\n",
            (unsigned long long)next, (unsigned long long)waits);
}

static void test_follow_killed(const char *path)
{
    unlink(path);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        writer_child(path, 0, p[1]);
    }
    close(p[1]);
    pio_reader *r = open_when_there(path);
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.follow_timeout_ms = 400;
    pio_frame_stream *s = NULL;
    struct pio_error e = {0};
    CHECK(r && pio_frame_stream_follow(&s, r, 0, &so, &e) == 0);
    uint64_t next = 0;
    int rc = 1;
    bool killed = false;
    struct pio_frame f;
    while (s && (rc = pio_frame_stream_next(s, &f, &e)) == 1) {
        CHECKF(f.index == next && frame_ok(&f, next), "frame %llu delivered as %llu",
               (unsigned long long)next, (unsigned long long)f.index);
        next = f.index + 1;
        pio_frame_stream_release(s, &f);
        if (!killed && next >= 700) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            killed = true;
        }
    }
    uint64_t reported = 0, v;
    while (read(p[0], &v, sizeof(v)) == sizeof(v))
        reported = v;
    close(p[0]);
    CHECKF(killed && rc == -ETIMEDOUT && strstr(e.message, "not final") && !pio_reader_final(r),
           "after the kill: %d: %s", rc, e.message);
    pio_reader *fresh;
    CHECK(pio_reader_open(&fresh, path, NULL, &e) == 0);
    /* every commit the writer reported is seen; what the file holds beyond
     * the last commit (complete frames of a torn tail) is not */
    CHECKF(reported <= next && next <= pio_reader_nframes(fresh) && !pio_reader_final(fresh),
           "killed writer: reported %llu, followed %llu, file %llu", (unsigned long long)reported,
           (unsigned long long)next, (unsigned long long)pio_reader_nframes(fresh));
    fprintf(stderr, "follow (killed writer): %llu frames, the last commit at %llu, not final\n",
            (unsigned long long)next, (unsigned long long)reported);
    pio_reader_close(fresh);
    pio_frame_stream_close(s);
    pio_reader_close(r);
}

/* O_DIRECT appending to a file a buffered writer left unaligned: the file
 * stays committed (a commit of nothing new, padded to the block boundary,
 * comes first), and the appended frames follow it. */
static void test_direct_append(const char *path)
{
    pio_writer *w = fixture_writer(path);
    struct pio_error e = {0};
    CHECK(w && fixture_append(w, 0, 3, SEED, true, BASE) == 0 && pio_writer_close(w, &e) == 0);
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_DIRECT;
    CHECKF(pio_writer_open_append(&w, path, &o, &e) == 0, "%s", e.message);
    struct pio_io_info io;
    pio_writer_io_info(w, &io);
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = PIO_READER_NO_RECOVERY;
    pio_reader *r;
    CHECKF(pio_reader_open(&r, path, &ro, &e) == 0, "committed while the writer is open: %s",
           e.message);
    CHECK(r && all_frames_ok(r, 3));
    pio_reader_close(r);
    CHECK(fixture_append(w, 3, 2, SEED, true, BASE) == 0 && pio_writer_close(w, &e) == 0);
    size_t len = 0;
    free(fixture_slurp(path, &len));
    CHECKF(!io.direct || len % 4096 == 0, "O_DIRECT appends end block-aligned (%zu)", len);
    CHECK(pio_reader_open(&r, path, &ro, &e) == 0);
    CHECK(r && all_frames_ok(r, 5) && pio_reader_final(r) && pio_reader_verify(r, 1, &e) == 0);
    pio_reader_close(r);
    fprintf(stderr, "O_DIRECT append (%s): committed throughout\n",
            io.direct ? "direct" : "fell back to buffered");
}

int main(void)
{
    const char *path = fixture_tmpname("follow"), *cut = fixture_tmpname("follow_cut");
    /* the tests that fork come first, while this process has no other
     * thread (the O_DIRECT writer's starts the worker pool): a child forked
     * while another thread holds a lock of the allocator (ASan's has no
     * fork handler here) deadlocks in its first malloc */
    test_follow_writer(path, false);
    test_follow_writer(path, true);
    test_wait_writer(path);
    test_follow_killed(path);
    test_per_frame_commits(path, cut);
    test_direct_append(path);
    unlink(path);
    unlink(cut);
    return TEST_RESULT();
}
