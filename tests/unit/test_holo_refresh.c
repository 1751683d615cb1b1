/* pio_reader_refresh: a reader sees commits made after it opened, without
 * reopening; frames appended but not committed are not taken; views from
 * before stay valid; a file that shrank or a commit with fewer frames is
 * refused with the reader unchanged; a CHECK_FRAMES reader checks the new
 * frames too. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <prismio/holo.h>

#include "holo_fixture.h"
#include "pio_test.h"

#define SEED 41

static void check_frames(pio_reader *r, uint64_t from, uint64_t to, const char *what)
{
    for (uint64_t i = from; i < to; i++) {
        struct pio_frame f;
        struct pio_error e = {0};
        struct fixture_frame ff;
        fixture_make(&ff, i, SEED, true, 20);
        CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && fixture_equal(&f, &ff), "%s: frame %llu: %s",
               what, (unsigned long long)i, e.message);
        fixture_free(&ff);
    }
}

int main(void)
{
    const char *path = fixture_tmpname("refresh");
    struct pio_error e = {0};
    pio_writer *w = fixture_writer(path);
    CHECK(w && pio_writer_set_metadata(w, "k", "v", &e) == 0);
    CHECK(fixture_append(w, 0, 5, SEED, true, 20) == 0 && pio_writer_commit(w, &e) == 0);

    for (int chk = 0; chk < 2; chk++) {
        struct pio_reader_options o = PIO_READER_OPTIONS_INIT;
        o.flags = chk ? PIO_READER_CHECK_FRAMES : 0;
        pio_reader *r;
        CHECK(pio_reader_open(&r, path, &o, &e) == 0);
        uint64_t base = pio_reader_nframes(r), added = 99;
        CHECK(pio_reader_refresh(r, &added, &e) == 0 && added == 0); /* nothing new */
        struct pio_frame held;
        CHECK(pio_reader_frame(r, 2, &held, &e) == 0);
        struct fixture_frame ff2;
        fixture_make(&ff2, 2, SEED, true, 20);
        const char *key, *value;
        CHECK(pio_reader_metadata_at(r, 0, &key, &value) == 0);

        /* appended, not committed: the reader keeps its view */
        CHECK(fixture_append(w, base, 3, SEED, true, 20) == 0);
        CHECK(pio_reader_refresh(r, &added, &e) == 0 && added == 0);
        CHECK(pio_reader_nframes(r) == base);
        /* committed: taken */
        CHECK(pio_writer_commit(w, &e) == 0);
        CHECKF(pio_reader_refresh(r, &added, &e) == 0 && added == 3, "%s (added %llu)", e.message,
               (unsigned long long)added);
        CHECK(pio_reader_nframes(r) == base + 3);
        check_frames(r, 0, base + 3, "after refresh");
        /* views and strings from before still valid (earlier mapping kept) */
        CHECK(fixture_equal(&held, &ff2) && strcmp(key, "k") == 0 && strcmp(value, "v") == 0);
        fixture_free(&ff2);
        /* a stream over the new frames */
        pio_frame_stream *s;
        CHECK(pio_frame_stream_open(&s, r, NULL, 0, NULL, &e) == 0);
        uint64_t n = 0;
        struct pio_frame f;
        while (pio_frame_stream_next(s, &f, &e) == 1) {
            pio_frame_stream_release(s, &f);
            n++;
        }
        CHECK(n == base + 3);
        pio_frame_stream_close(s);
        CHECK(pio_reader_verify(r, 1, &e) == 0);
        pio_reader_close(r);
    }

    /* a damaged new frame: a CHECK_FRAMES reader finds it after refresh */
    pio_reader *r;
    struct pio_reader_options o = PIO_READER_OPTIONS_INIT;
    o.flags = PIO_READER_CHECK_FRAMES;
    CHECK(pio_reader_open(&r, path, &o, &e) == 0);
    uint64_t n0 = pio_reader_nframes(r), added;
    CHECK(fixture_append(w, n0, 1, SEED, true, 20) == 0 && pio_writer_commit(w, &e) == 0);
    uint64_t off, len;
    CHECK(pio_writer_close(w, &e) == 0);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    CHECK(pio_reader_refresh(r, &added, &e) == 0 && added == 1);
    CHECK(pio_reader_frame_extent(r, n0, &off, &len) == 0);
    uint8_t b;
    CHECK(pread(fd, &b, 1, (off_t)(off + 200)) == 1);
    b ^= 1;
    CHECK(pwrite(fd, &b, 1, (off_t)(off + 200)) == 1);
    struct pio_frame f;
    CHECK(pio_reader_frame(r, n0, &f, &e) == PIO_ECHECKSUM);
    b ^= 1;
    CHECK(pwrite(fd, &b, 1, (off_t)(off + 200)) == 1);

    /* the file shrank: refused, the reader unchanged */
    size_t size = 0;
    uint8_t *whole = fixture_slurp(path, &size);
    CHECK(whole && ftruncate(fd, (off_t)(size - 64)) == 0);
    CHECK(pio_reader_refresh(r, &added, &e) == PIO_ECORRUPT && strstr(e.message, "shrank"));
    CHECK(pio_reader_nframes(r) == n0 + 1);
    check_frames(r, 0, n0, "after a refused refresh");
    /* a bigger file whose end is no footer: the view is kept */
    CHECK(pwrite(fd, whole + size - 64, 64, (off_t)(size - 64)) == 64);
    static const uint8_t junk[128] = {1, 2, 3};
    CHECK(pwrite(fd, junk, sizeof(junk), (off_t)size) == (ssize_t)sizeof(junk));
    CHECK(pio_reader_refresh(r, &added, &e) == 0 && added == 0);
    CHECK(pio_reader_nframes(r) == n0 + 1);
    close(fd);
    free(whole);
    pio_reader_close(r);
    unlink(path);
    return TEST_RESULT();
}
