/*
 * I/O engines, reading: mmap, pread and io_uring, each with and without
 * O_DIRECT, return bit-identical frames (ordered and unordered streams,
 * blocking and polling) and identical verification results, intact and
 * damaged. Fallbacks are forced by injected failures (io_uring setup,
 * O_DIRECT open), interrupted and short reads are injected and retried,
 * reads past a file truncated under the reader fail cleanly, holding every
 * buffer is a usage error, not a hang, and neighbouring frames are read
 * together.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "io_engines_fixture.h"
#include <prismio/telemetry.h>

#define NFRAMES 120

static const char *path;

static pio_reader *open_with(enum pio_io_engine e, bool direct)
{
    struct pio_reader_options o = PIO_READER_OPTIONS_INIT;
    o.engine = e;
    o.io_flags = direct ? PIO_READER_DIRECT : 0;
    pio_reader *r = NULL;
    struct pio_error err = {0};
    if (pio_reader_open(&r, path, &o, &err) != 0)
        fprintf(stderr, "open: %s\n", err.message);
    return r;
}

/* Stream `frames` (NULL: all) and check each against the fixture; returns
 * how many were delivered. */
static uint64_t stream_check(pio_reader *r, const uint64_t *frames, uint64_t n, uint32_t flags,
                             unsigned qd, bool poll, const char *what)
{
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.flags = flags;
    so.queue_depth = qd;
    pio_frame_stream *s;
    struct pio_error e = {0};
    if (pio_frame_stream_open(&s, r, frames, n, &so, &e) != 0) {
        CHECKF(0, "%s: stream open: %s", what, e.message);
        return 0;
    }
    uint8_t *seen = calloc(NFRAMES, 1);
    uint64_t got = 0, k = 0;
    for (;;) {
        struct pio_frame f;
        int rc = poll ? pio_frame_stream_poll(s, &f, &e) : pio_frame_stream_next(s, &f, &e);
        if (rc == -EAGAIN)
            continue;
        if (rc == 0)
            break;
        if (rc < 0) {
            CHECKF(0, "%s: %s", what, e.message);
            free(seen);
            pio_frame_stream_close(s);
            return got;
        }
        uint64_t want = frames ? frames[k] : k;
        if (!(flags & PIO_STREAM_UNORDERED))
            CHECKF(f.index == want, "%s: frame %llu delivered, %llu expected", what,
                   (unsigned long long)f.index, (unsigned long long)want);
        struct fixture_frame ff;
        fixture_make(&ff, f.index, SEED, true, 40);
        CHECKF(fixture_equal(&f, &ff), "%s: frame %llu differs", what, (unsigned long long)f.index);
        fixture_free(&ff);
        seen[f.index]++;
        pio_frame_stream_release(s, &f);
        TEST_STOP_IF_FLOODED_VOID();
        got++;
        k++;
    }
    if (!frames)
        for (uint64_t i = 0; i < NFRAMES; i++)
            CHECKF(seen[i] == 1, "%s: frame %llu seen %d times", what, (unsigned long long)i,
                   seen[i]);
    /* any order: each frame as many times as the selection names it */
    for (uint64_t i = 0; frames && i < NFRAMES; i++) {
        int want = 0;
        for (uint64_t j = 0; j < n; j++)
            want += frames[j] == i;
        CHECKF(seen[i] == want, "%s: frame %llu seen %d times, selected %d", what,
               (unsigned long long)i, seen[i], want);
    }
    free(seen);
    pio_frame_stream_close(s);
    return got;
}

static void test_engines_agree(void)
{
    static const enum pio_io_engine engines[] = {PIO_IO_MMAP, PIO_IO_PREAD, PIO_IO_URING};
    uint64_t some[] = {5, 119, 0, 60, 60, 7};
    for (int d = 0; d < 2; d++) {
        for (int k = 0; k < 3; k++) {
            char what[64];
            snprintf(what, sizeof(what), "%s%s", pio_io_engine_name(engines[k]),
                     d ? "+direct" : "");
            pio_reader *r = open_with(engines[k], d);
            CHECK(r != NULL);
            if (!r)
                continue;
            struct pio_io_info io;
            pio_reader_io_info(r, &io);
            CHECKF(io.engine == built_or_pread(engines[k]), "%s: engine %s (%s)", what,
                   pio_io_engine_name(io.engine), io.note);
            if (d && engines[k] != PIO_IO_MMAP)
                CHECKF(io.direct && io.direct_align >= 64, "%s: O_DIRECT not in use: %s", what,
                       io.note);
            CHECK(stream_check(r, NULL, NFRAMES, 0, 0, false, what) == NFRAMES);
            CHECK(stream_check(r, NULL, NFRAMES, PIO_STREAM_UNORDERED, 8, false, what) == NFRAMES);
            CHECK(stream_check(r, NULL, NFRAMES, 0, 3, true, what) == NFRAMES);
            CHECK(stream_check(r, some, 6, 0, 4, false, what) == 6);
            struct pio_error e = {0};
            CHECKF(pio_reader_verify(r, 1, &e) == 0, "%s: verify: %s", what, e.message);
            pio_reader_close(r);
        }
    }
}

static void test_damaged_same_everywhere(void)
{
    size_t len;
    uint8_t *orig = fixture_slurp(path, &len);
    /* a byte inside frame 77's positions */
    pio_reader *r = open_with(PIO_IO_MMAP, false);
    struct pio_frame f;
    CHECK(pio_reader_frame(r, 77, &f, NULL) == 0);
    uint64_t off = f.offset + 200;
    pio_reader_close(r);
    int fd = open(path, O_RDWR);
    uint8_t b = orig[off] ^ 0x10;
    CHECK(pwrite(fd, &b, 1, (off_t)off) == 1);
    char first[PIO_ERROR_MESSAGE_SIZE] = "";
    static const enum pio_io_engine engines[] = {PIO_IO_MMAP, PIO_IO_PREAD, PIO_IO_URING};
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 3; k++) {
            r = open_with(engines[k], d);
            struct pio_error e = {0};
            CHECK(r && pio_reader_verify(r, 1, &e) == PIO_ECHECKSUM);
            CHECKF(strstr(e.message, "frame 77 at offset") != NULL, "message: %s", e.message);
            if (!first[0])
                strcpy(first, e.message);
            CHECKF(strcmp(first, e.message) == 0, "engines disagree: '%s' vs '%s'", first,
                   e.message);
            pio_reader_close(r);
            /* a PIO_READER_CHECK_FRAMES reader's streams check frames too,
             * without PIO_STREAM_VERIFY; a plain reader's do not */
            for (int chk = 0; chk < 2; chk++) {
                struct pio_reader_options o = PIO_READER_OPTIONS_INIT;
                o.engine = engines[k];
                o.io_flags = d ? PIO_READER_DIRECT : 0;
                o.flags = chk ? PIO_READER_CHECK_FRAMES : 0;
                CHECK(pio_reader_open(&r, path, &o, &e) == 0);
                pio_frame_stream *s;
                uint64_t want = 77;
                CHECK(pio_frame_stream_open(&s, r, &want, 1, NULL, &e) == 0);
                struct pio_frame g;
                int got = pio_frame_stream_next(s, &g, &e);
                if (chk)
                    CHECKF(got == PIO_ECHECKSUM && strstr(e.message, "frame 77 at offset"),
                           "CHECK_FRAMES stream: %d %s", got, e.message);
                else
                    CHECKF(got == 1, "plain stream: %d %s", got, e.message);
                if (got == 1)
                    pio_frame_stream_release(s, &g);
                pio_frame_stream_close(s);
                pio_reader_close(r);
            }
        }
    CHECK(pwrite(fd, &orig[off], 1, (off_t)off) == 1);
    close(fd);
    free(orig);
}

static void test_fallbacks(void)
{
    /* io_uring setup refused (as seccomp or kernel.io_uring_disabled would) */
    pio_io_fault_set(PIO_FAULT_URING_SETUP, -EPERM, 1);
    pio_reader *r = open_with(PIO_IO_URING, false);
    struct pio_io_info io;
    pio_reader_io_info(r, &io);
    CHECK(io.requested == PIO_IO_URING && io.engine == PIO_IO_PREAD);
    CHECKF(strstr(io.note, "io_uring setup failed") && strstr(io.note, "Operation not permitted"),
           "note: %s", io.note);
    CHECK(stream_check(r, NULL, NFRAMES, 0, 0, false, "uring->pread") == NFRAMES);
    pio_reader_close(r);

    /* the probe passes but a stream's own ring cannot be set up (ENOMEM) */
    r = open_with(PIO_IO_URING, false);
    pio_io_fault_set(PIO_FAULT_URING_SETUP, -ENOMEM, 1);
    pio_frame_stream *s;
    struct pio_error e = {0};
    CHECK(pio_frame_stream_open(&s, r, NULL, 0, NULL, &e) == 0);
    pio_frame_stream_io_info(s, &io);
    CHECKF(io.engine == PIO_IO_PREAD &&
               strstr(io.note, pio_io_engine_built(PIO_IO_URING) ? "io_uring setup failed"
                                                                 : "built without liburing"),
           "note: %s", io.note);
    pio_frame_stream_close(s);
    pio_reader_close(r);

    /* O_DIRECT refused by the filesystem (EINVAL) */
    pio_io_fault_set(PIO_FAULT_DIRECT_OPEN, -EINVAL, 1);
    r = open_with(PIO_IO_PREAD, true);
    pio_reader_io_info(r, &io);
    CHECK(io.direct_requested && !io.direct && strstr(io.note, "O_DIRECT refused"));
    CHECK(stream_check(r, NULL, NFRAMES, 0, 0, false, "direct->buffered") == NFRAMES);
    pio_reader_close(r);

    /* the environment variable, when the option says auto */
    setenv("PIO_IO_ENGINE", "pread", 1);
    r = open_with(PIO_IO_AUTO, false);
    pio_reader_io_info(r, &io);
    CHECK(io.engine == PIO_IO_PREAD);
    pio_reader_close(r);
    setenv("PIO_IO_ENGINE", "bogus", 1);
    struct pio_reader_options o = PIO_READER_OPTIONS_INIT;
    CHECK(pio_reader_open(&r, path, &o, &e) == PIO_EUSAGE && strstr(e.message, "bogus"));
    unsetenv("PIO_IO_ENGINE");
}

static void test_interrupted_and_short(void)
{
    static const enum pio_io_engine engines[] = {PIO_IO_PREAD, PIO_IO_URING};
    for (int c = 0; c < 2; c++)
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < 2; k++) {
                pio_reader *r = open_with(engines[k], d);
                /* merged reads: few of them, so few faults to take */
                int nf = c ? 25 : 3;
                pio_io_fault_set(PIO_FAULT_READ_EINTR, -EINTR, nf);
                pio_io_fault_set(PIO_FAULT_READ_SHORT, -EIO, nf);
                char what[64];
                snprintf(what, sizeof(what), "faults %s%s%s", pio_io_engine_name(engines[k]),
                         d ? "+direct" : "", c ? " one read per frame" : "");
                CHECK(stream_check(r, NULL, NFRAMES, c ? PIO_STREAM_NO_COALESCE : 0, 4, false,
                                   what) == NFRAMES);
                CHECKF(pio_io_fault_take(PIO_FAULT_READ_EINTR) == 0, "%s: EINTR not exercised",
                       what);
                CHECKF(pio_io_fault_take(PIO_FAULT_READ_SHORT) == 0,
                       "%s: short reads not exercised", what);
                pio_io_fault_set(PIO_FAULT_READ_EINTR, 0, 0);
                pio_io_fault_set(PIO_FAULT_READ_SHORT, 0, 0);
                pio_reader_close(r);
            }
}

/* Ranges past the end of the file fail with PIO_ETRUNCATED and a message
 * (the io layer directly: a reader's own mapping cannot survive its file
 * shrinking, which FORMAT.md documents). */
static void test_reads_past_eof(void)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    uint64_t size = (uint64_t)st.st_size;
    static const enum pio_io_engine engines[] = {PIO_IO_PREAD, PIO_IO_URING};
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 2; k++) {
            struct pio_io_file f;
            struct pio_error e = {0};
            CHECK(pio_io_file_init(&f, path, fd, size, NULL, engines[k], d, &e) == 0);
            struct pio_io_range ranges[3] = {
                {0, 4096}, {size - 128, 128}, {size - 64, 640} /* 576 bytes past the end */
            };
            pio_io_ranges *s;
            CHECK(pio_io_ranges_open(&s, &f, ranges, 3, NULL, &e) == 0);
            uint64_t idx;
            const uint8_t *data;
            int rc, got = 0;
            while ((rc = pio_io_ranges_next(s, true, &idx, &data, &e)) == 1) {
                got++;
                pio_io_ranges_release(s, data);
            }
            CHECKF(got == 2 && rc == PIO_ETRUNCATED && strstr(e.message, "at offset 0x"),
                   "%s%s: %d delivered, rc %d: %s", pio_io_engine_name(engines[k]),
                   d ? "+direct" : "", got, rc, e.message);
            pio_io_ranges_close(s);
            pio_io_file_close(&f);
        }
    close(fd);
}

static void test_holding_all_buffers(void)
{
    static const enum pio_io_engine engines[] = {PIO_IO_PREAD, PIO_IO_URING};
    for (int k = 0; k < 2; k++) {
        pio_reader *r = open_with(engines[k], false);
        struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
        so.queue_depth = 2;
        so.flags = PIO_STREAM_NO_COALESCE; /* else a and b share one buffer */
        pio_frame_stream *s;
        struct pio_error e = {0};
        CHECK(pio_frame_stream_open(&s, r, NULL, 0, &so, &e) == 0);
        struct pio_frame a, b, c;
        CHECK(pio_frame_stream_next(s, &a, &e) == 1);
        CHECK(pio_frame_stream_next(s, &b, &e) == 1);
        CHECK(pio_frame_stream_next(s, &c, &e) == PIO_EUSAGE);
        CHECK(strstr(e.message, "buffers are held") != NULL);
        pio_frame_stream_close(s);
        pio_reader_close(r);
    }
}

/* Neighbouring frames are read together (telemetry counts the reads):
 * a whole-file stream of 120 small frames takes a handful of reads, one
 * per frame with PIO_STREAM_NO_COALESCE; selections with gaps, repeats
 * and backward jumps, ordered and not, still give every frame right, and
 * frames held from one merged buffer keep it until all are released. */
static void test_coalescing(void)
{
    static const enum pio_io_engine engines[] = {PIO_IO_PREAD, PIO_IO_URING};
    uint64_t sel[] = {0, 1, 2, 3, 9, 10, 10, 11, 100, 50, 51, 52, 119, 118, 117, 60, 61};
    uint64_t nsel = sizeof(sel) / sizeof(sel[0]);
    pio_telemetry_enable(true);
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 2; k++) {
            char what[64];
            snprintf(what, sizeof(what), "coalesce %s%s", pio_io_engine_name(engines[k]),
                     d ? "+direct" : "");
            pio_reader *r = open_with(engines[k], d);
            struct pio_op_stats st;
            pio_telemetry_reset();
            CHECK(stream_check(r, NULL, NFRAMES, 0, 0, false, what) == NFRAMES);
            pio_telemetry_stats(PIO_OP_READ, -1, &st);
            CHECKF(st.count >= 1 && st.count <= 4, "%s: %llu reads for %d small frames", what,
                   (unsigned long long)st.count, NFRAMES);
            pio_telemetry_reset();
            CHECK(stream_check(r, NULL, NFRAMES, PIO_STREAM_NO_COALESCE, 0, false, what) ==
                  NFRAMES);
            pio_telemetry_stats(PIO_OP_READ, -1, &st);
            CHECKF(st.count == NFRAMES, "%s: %llu reads without merging", what,
                   (unsigned long long)st.count);
            CHECK(stream_check(r, sel, nsel, 0, 2, false, what) == nsel);
            CHECK(stream_check(r, sel, nsel, PIO_STREAM_UNORDERED, 3, false, what) == nsel);
            /* hold three frames of one merged buffer, release out of order */
            pio_frame_stream *s;
            struct pio_error e = {0};
            struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
            so.queue_depth = 2;
            CHECK(pio_frame_stream_open(&s, r, NULL, 0, &so, &e) == 0);
            struct pio_frame f[5];
            for (int i = 0; i < 5; i++)
                CHECK(pio_frame_stream_next(s, &f[i], &e) == 1 && f[i].index == (uint64_t)i);
            pio_frame_stream_release(s, &f[1]);
            pio_frame_stream_release(s, &f[0]);
            for (int i = 0; i < 5; i++) {
                struct fixture_frame ff;
                fixture_make(&ff, (uint64_t)i, SEED, true, 40);
                if (i >= 2)
                    CHECKF(fixture_equal(&f[i], &ff), "%s: held frame %d changed", what, i);
                fixture_free(&ff);
            }
            for (int i = 2; i < 5; i++)
                pio_frame_stream_release(s, &f[i]);
            uint64_t n = 5;
            struct pio_frame g;
            while (pio_frame_stream_next(s, &g, &e) == 1) {
                CHECK(g.index == n);
                n++;
                pio_frame_stream_release(s, &g);
            }
            CHECK(n == NFRAMES);
            pio_frame_stream_close(s);
            pio_reader_close(r);
        }
    pio_telemetry_enable(false);
}

/* A stream with an engine of its own (pio_stream_options.engine): set up
 * on the reader's descriptor, so it works after the file is renamed and
 * unlinked; the reader's own engine is untouched; a bad engine is refused. */
static void test_stream_engine(void)
{
    static const enum pio_io_engine engines[] = {PIO_IO_MMAP, PIO_IO_PREAD, PIO_IO_URING};
    for (int d = 0; d < 2; d++) { /* d: the reader asked for O_DIRECT */
        const char *copy = fixture_tmpname("engines_copy");
        const char *moved = fixture_tmpname("engines_moved");
        size_t len = 0;
        uint8_t *bytes = fixture_slurp(path, &len);
        CHECK(bytes && fixture_spit(copy, bytes, len) == 0);
        free(bytes);
        const char *saved = path;
        path = copy;
        pio_reader *r = open_with(d ? PIO_IO_PREAD : PIO_IO_MMAP, d);
        path = saved;
        /* gone by its name: a stream that opened the path again would fail
         * (or, with another file renamed there, read that one) */
        CHECK(r != NULL && rename(copy, moved) == 0 && unlink(moved) == 0);
        for (int k = 0; r && k < 3; k++) {
            const char *e_name = pio_io_engine_name(engines[k]);
            struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
            so.engine = engines[k];
            pio_frame_stream *s;
            struct pio_error e = {0};
            CHECKF(pio_frame_stream_open(&s, r, NULL, 0, &so, &e) == 0, "%s: %s", e_name,
                   e.message);
            struct pio_io_info io;
            pio_frame_stream_io_info(s, &io);
            CHECKF(io.engine == built_or_pread(engines[k]), "stream engine %s: got %s (%s)", e_name,
                   pio_io_engine_name(io.engine), io.note);
            if (d && io.engine != PIO_IO_MMAP)
                CHECKF(io.direct, "%s + O_DIRECT of a renamed, unlinked file: %s", e_name, io.note);
            uint64_t got = 0;
            struct pio_frame f;
            while (pio_frame_stream_next(s, &f, &e) == 1) {
                struct fixture_frame ff;
                fixture_make(&ff, f.index, SEED, true, 40);
                CHECKF(f.index == got && fixture_equal(&f, &ff), "%s: frame %llu", e_name,
                       (unsigned long long)f.index);
                fixture_free(&ff);
                pio_frame_stream_release(s, &f);
                got++;
            }
            CHECKF(got == NFRAMES, "%s: %llu frames", e_name, (unsigned long long)got);
            pio_frame_stream_close(s);
            pio_reader_io_info(r, &io);
            CHECK(io.engine == (d ? PIO_IO_PREAD : PIO_IO_MMAP));
        }
        if (d == 0) {
            struct pio_stream_options bad = PIO_STREAM_OPTIONS_INIT;
            bad.engine = 77;
            pio_frame_stream *s = NULL;
            struct pio_error e = {0};
            CHECK(r && pio_frame_stream_open(&s, r, NULL, 0, &bad, &e) == PIO_EUSAGE && !s);
        }
        pio_reader_close(r);
    }
}

int main(void)
{
    path = fixture_tmpname("engines");
    struct pio_error e = {0};
    pio_writer *w = fixture_writer(path);
    CHECK(w != NULL);
    /* 40..52 atoms: records of ~0.7-2 KiB straddle 4 KiB blocks; the file's
     * length is no multiple of the block size */
    CHECK(fixture_append(w, 0, NFRAMES, SEED, true, 40) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    size_t len;
    uint8_t *whole = fixture_slurp(path, &len);

    test_engines_agree();
    test_damaged_same_everywhere();
    test_fallbacks();
    test_interrupted_and_short();
    test_reads_past_eof();
    test_holding_all_buffers();
    test_coalescing();
    test_stream_engine();

    /* O_DIRECT reads of a file whose length is no multiple of the block
     * size: the committed file without its footer (frames found by the
     * recovery scan; the last frame's block runs past the end). */
    const char *cut = fixture_tmpname("engines_cut");
    CHECK(fixture_spit(cut, whole, len - 64) == 0);
    const char *saved = path;
    path = cut;
    for (int k = 0; k < 2; k++) {
        pio_reader *r = open_with(k ? PIO_IO_URING : PIO_IO_PREAD, true);
        struct pio_reader_info in;
        CHECK(r && pio_reader_info(r, &in) == 0 && in.recovered && in.file_size % 4096 != 0);
        CHECK(r && stream_check(r, NULL, NFRAMES, 0, 0, false, "direct, unaligned end") == NFRAMES);
        pio_reader_close(r);
    }
    path = saved;
    unlink(cut);
    free(whole);
    unlink(path);
    return TEST_RESULT();
}
