/*
 * HOLO 2.0 truncation (a restart from a checkpoint) and what follows it:
 * pio_writer_truncate keeps the first frames and commits without the rest,
 * changing no byte already written; frames appended next take the numbers
 * after the ones kept; reopening, verify (the dropped records are dead
 * bytes, hashed but not in the digest), appending again, recovery of the
 * file cut anywhere after the truncation (the scan takes the truncating
 * commit), and a reader opened before it (refresh says reopen) all agree.
 * A 1.x file refuses to truncate.
 */
#include <errno.h>
#include <fcntl.h>

#include "format/holo_layout.h"
#include "holo_fixture.h"

#define SEED_OLD 21
#define SEED_NEW 22
#define BASE     4

/* frames 0 .. keep-1 from SEED_OLD, then keep .. n-1 from SEED_NEW */
static bool frames_are(pio_reader *r, uint64_t n, uint64_t keep)
{
    if (pio_reader_nframes(r) != n)
        return false;
    for (uint64_t i = 0; i < n; i++) {
        struct fixture_frame ff;
        fixture_make(&ff, i, i < keep ? SEED_OLD : SEED_NEW, true, BASE);
        struct pio_frame f;
        bool ok = pio_reader_frame(r, i, &f, NULL) == 0 && fixture_equal(&f, &ff);
        fixture_free(&ff);
        if (!ok)
            return false;
    }
    return true;
}

static void test_truncate(const char *path, const char *cut)
{
    struct pio_error e = {0};
    pio_writer *w = fixture_writer(path);
    CHECK(w != NULL);
    for (uint64_t i = 0; i < 300; i++) /* per-frame commits: a chain and full indexes */
        CHECK(fixture_append(w, i, 1, SEED_OLD, true, BASE) == 0 && pio_writer_commit(w, &e) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    size_t before_len = 0;
    uint8_t *before = fixture_slurp(path, &before_len);

    pio_reader *old;
    CHECK(pio_reader_open(&old, path, NULL, &e) == 0 && pio_reader_nframes(old) == 300);
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC;
    CHECK(pio_writer_open_append(&w, path, &o, &e) == 0);
    CHECK(pio_writer_truncate(w, 301, &e) == -ERANGE);
    CHECKF(pio_writer_truncate(w, 120, &e) == 0, "%s", e.message);
    CHECK(pio_writer_nframes(w) == 120);
    size_t mid_len = 0;
    uint8_t *mid = fixture_slurp(path, &mid_len);
    CHECK(mid_len > before_len && memcmp(mid, before, before_len) == 0); /* nothing rewritten */
    for (uint64_t i = 120; i < 170; i++)
        CHECK(fixture_append(w, i, 1, SEED_NEW, true, BASE) == 0 && pio_writer_commit(w, &e) == 0);
    CHECK(pio_writer_close(w, &e) == 0);

    /* a reader from before the truncation cannot take it */
    uint64_t added = 0;
    CHECK(pio_reader_refresh(old, &added, &e) == PIO_ECORRUPT && strstr(e.message, "reopen"));
    CHECK(pio_reader_nframes(old) == 300);
    pio_reader_close(old);

    /* nor a truncation followed by more frames than it dropped: its frame
     * 299 is another record now */
    const char *copy = fixture_tmpname("truncate_refill");
    size_t clen = 0;
    uint8_t *cb = fixture_slurp(path, &clen);
    CHECK(fixture_spit(copy, before, before_len) == 0);
    CHECK(pio_reader_open(&old, copy, NULL, &e) == 0 && pio_reader_nframes(old) == 300);
    CHECK(pio_writer_open_append(&w, copy, &o, &e) == 0 && pio_writer_truncate(w, 120, &e) == 0);
    CHECK(fixture_append(w, 120, 200, SEED_NEW, true, BASE) == 0 && pio_writer_close(w, &e) == 0);
    CHECKF(pio_reader_refresh(old, &added, &e) == PIO_ECORRUPT && strstr(e.message, "replaces"),
           "refresh over a truncation and 200 new frames: %s", e.message);
    CHECK(pio_reader_nframes(old) == 300);
    pio_reader_close(old);
    pio_reader *fresh;
    CHECK(pio_reader_open(&fresh, copy, NULL, &e) == 0 && frames_are(fresh, 320, 120));
    pio_reader_close(fresh);
    unlink(copy);
    free(cb);

    pio_reader *r;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    CHECK(r && frames_are(r, 170, 120) && pio_reader_final(r));
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "verify after truncate: %s", e.message);
    CHECK(pio_reader_find_step(r, 130 * 10) == 130);
    pio_reader_close(r);

    /* cut anywhere after the truncating commit: recovery keeps the frames
     * kept and the new ones before the cut */
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    for (size_t c = mid_len; c < len; c += 97) {
        CHECK(fixture_spit(cut, b, c) == 0);
        struct pio_recover_report rep;
        CHECKF(pio_holo_recover(cut, &rep, &e) == 0, "cut at %zu: %s", c, e.message);
        CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
        uint64_t n = pio_reader_nframes(r);
        CHECKF(n >= 120 && n <= 170 && frames_are(r, n, 120) && pio_reader_verify(r, 1, &e) == 0,
               "cut at %zu: %llu frames: %s", c, (unsigned long long)n, e.message);
        pio_reader_close(r);
    }
    /* ... and before it, the frames from before the truncation */
    CHECK(fixture_spit(cut, b, before_len + 64) == 0);
    struct pio_recover_report rep;
    CHECK(pio_holo_recover(cut, &rep, &e) == 0 && pio_reader_open(&r, cut, NULL, &e) == 0);
    CHECK(r && frames_are(r, 300, 300));
    pio_reader_close(r);
    free(b);
    free(mid);
    free(before);

    /* the truncating commit damaged: lookups never need it (it holds no
     * entries; its FULL INDEX and the commits after it do), so the file
     * stays committed and readable; recover changes nothing; verify fails */
    {
        off_t at = (off_t)mid_len - 100; /* its padding, before its footer */
        uint8_t byte, flipped;
        int fd = open(path, O_RDWR);
        CHECK(fd >= 0 && pread(fd, &byte, 1, at) == 1);
        flipped = byte ^ 0x10;
        CHECK(pwrite(fd, &flipped, 1, at) == 1);
        CHECKF(pio_holo_recover(path, &rep, &e) == 0 && rep.was_committed,
               "recover with a damaged truncating commit: %s", e.message);
        CHECK(pio_reader_open(&r, path, NULL, &e) == 0 && frames_are(r, 170, 120));
        CHECK(pio_reader_verify(r, 1, &e) == PIO_ECHECKSUM);
        pio_reader_close(r);
        CHECK(pwrite(fd, &byte, 1, at) == 1);
        close(fd);
    }

    /* append after reopening the truncated file; truncate to nothing */
    CHECK(pio_writer_open_append(&w, path, &o, &e) == 0);
    CHECK(fixture_append(w, 170, 5, SEED_NEW, true, BASE) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0 && frames_are(r, 175, 120));
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "%s", e.message);
    pio_reader_close(r);
    CHECK(pio_writer_open_append(&w, path, &o, &e) == 0);
    CHECK(pio_writer_truncate(w, 0, &e) == 0 && pio_writer_close(w, &e) == 0);
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0 && pio_reader_nframes(r) == 0);
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "%s", e.message);
    pio_reader_close(r);

    /* 1.x refuses */
    fixture_writer_flags = PIO_WRITER_FORMAT_1;
    w = fixture_writer(path);
    CHECK(fixture_append(w, 0, 3, SEED_OLD, true, BASE) == 0);
    CHECK(pio_writer_truncate(w, 1, &e) == PIO_EVERSION && pio_writer_nframes(w) == 3);
    CHECK(pio_writer_close(w, &e) == 0);
    fixture_writer_flags = 0;
}

int main(void)
{
    const char *path = fixture_tmpname("truncate"), *cut = fixture_tmpname("truncate_cut");
    test_truncate(path, cut);
    unlink(path);
    unlink(cut);
    return TEST_RESULT();
}
