/*
 * HOLO recovery past a damaged frame: in a torn file, the scan steps over
 * a damaged frame (body or header) and keeps every other frame bit-exact,
 * naming the damaged one; a checked read refuses it; appending goes on
 * after it; PIO_RECOVER_DROP_DAMAGED leaves the others; and a file of
 * thousands of forged frame headers exhausts the search's hashing budget
 * without cutting anything.
 */
#include <errno.h>

#include "holo_fixture.h"

#define SEED 5

/* Frame k damaged (a body byte, or its header's length field when `header`)
 * and the footer torn: the scan steps over frame k, recovery keeps every
 * other frame bit-exact and names frame k; a checked read refuses it;
 * PIO_RECOVER_DROP_DAMAGED leaves the others, renumbered, verifying. */
static void test_resync(const char *path, const char *cut)
{
    const uint64_t n = 10;
    pio_writer *w = fixture_writer(path);
    struct pio_error e = {0};
    CHECK(w != NULL && fixture_append(w, 0, n, SEED, true, 3) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    size_t len;
    uint8_t *orig = fixture_slurp(path, &len);
    pio_reader *r;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    uint64_t off[10], flen[10];
    for (uint64_t i = 0; i < n; i++)
        CHECK(pio_reader_frame_extent(r, i, &off[i], &flen[i]) == 0);
    CHECK(pio_reader_frame_extent(r, n, &off[0], &flen[0]) == -ERANGE);
    pio_reader_close(r);
    int cases = 0;
    for (int header = 0; header < 2; header++) {
        for (uint64_t k = 1; k + 1 < n; k++) {
            uint8_t *b = malloc(len);
            memcpy(b, orig, len);
            b[off[k] + (header ? 9 : flen[k] - 20)] ^= 0x10;
            CHECK(fixture_spit(cut, b, len - 30) == 0); /* footer torn */
            free(b);
            /* the reader's in-memory recovery sees every frame */
            CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
            CHECKF(pio_reader_nframes(r) == n, "frame %llu damaged: reader sees %llu frames",
                   (unsigned long long)k, (unsigned long long)pio_reader_nframes(r));
            struct pio_reader_info in;
            CHECK(pio_reader_info(r, &in) == 0 && in.recovered && in.damaged_frames == 1);
            pio_reader_close(r);
            struct pio_recover_report rep;
            CHECK(pio_holo_recover(cut, &rep, &e) == 0);
            CHECKF(rep.nframes == n && rep.damaged_frames == 1 && rep.ndamage == 1 &&
                       rep.damage[0].frame == k && rep.damage[0].nframes == 1 &&
                       rep.damage[0].offset == off[k] && !rep.damage[0].metadata,
                   "frame %llu (header %d): recovered %llu frames, %llu damaged, first at %llu",
                   (unsigned long long)k, header, (unsigned long long)rep.nframes,
                   (unsigned long long)rep.damaged_frames,
                   (unsigned long long)(rep.ndamage ? rep.damage[0].frame : 0));
            struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
            ro.flags = PIO_READER_CHECK_FRAMES | PIO_READER_NO_RECOVERY;
            CHECK(pio_reader_open(&r, cut, &ro, &e) == 0);
            CHECK(pio_reader_nframes(r) == n);
            for (uint64_t i = 0; i < n; i++) {
                struct pio_frame f;
                int rc = pio_reader_frame(r, i, &f, &e);
                if (i == k) {
                    CHECKF(rc == (header ? PIO_ECORRUPT : PIO_ECHECKSUM) && strstr(e.message, "0x"),
                           "damaged frame %llu read: %d %s", (unsigned long long)i, rc, e.message);
                    continue;
                }
                struct fixture_frame ff;
                fixture_make(&ff, i, SEED, true, 3);
                CHECKF(rc == 0 && fixture_equal(&f, &ff), "intact frame %llu lost",
                       (unsigned long long)i);
                CHECK(pio_reader_frame(r, i, &f, &e) == 0); /* checked once, read again */
                fixture_free(&ff);
            }
            CHECK(pio_reader_verify(r, 1, &e) != 0);
            pio_reader_close(r);
            /* appending goes on after the damaged frame */
            struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
            wo.flags = PIO_WRITER_NO_SYNC;
            CHECKF(pio_writer_open_append(&w, cut, &wo, &e) == 0, "append after damage: %s",
                   e.message);
            CHECK(fixture_append(w, n, 1, SEED, true, 3) == 0 && pio_writer_close(w, &e) == 0);
            CHECK(pio_reader_open(&r, cut, &ro, &e) == 0 && pio_reader_nframes(r) == n + 1);
            struct fixture_frame fn;
            fixture_make(&fn, n, SEED, true, 3);
            struct pio_frame fl;
            CHECK(pio_reader_frame(r, n, &fl, &e) == 0 && fixture_equal(&fl, &fn));
            fixture_free(&fn);
            CHECK(pio_reader_frame(r, k, &fl, &e) != 0);
            pio_reader_close(r);
            CHECK(pio_holo_recover_flags(cut, PIO_RECOVER_DROP_DAMAGED, &rep, &e) == 0);
            CHECK(rep.was_committed && rep.rewritten && rep.nframes == n &&
                  rep.damaged_frames == 1 && rep.damage[0].frame == k);
            CHECK(pio_reader_open(&r, cut, &ro, &e) == 0);
            CHECK(pio_reader_nframes(r) == n && pio_reader_verify(r, 1, &e) == 0);
            for (uint64_t i = 0; i < n; i++) {
                struct fixture_frame ff;
                fixture_make(&ff, i < k ? i : i + 1, SEED, true, 3);
                struct pio_frame f;
                CHECK(pio_reader_frame(r, i, &f, &e) == 0);
                /* renumbered: compare everything but the index */
                CHECK(f.natoms == ff.f.natoms &&
                      memcmp(f.positions, ff.f.positions, (size_t)f.natoms * 12) == 0);
                fixture_free(&ff);
            }
            pio_reader_close(r);
            cases++;
        }
    }
    fprintf(stderr, "resync: %d damaged-frame cases, every intact frame kept\n", cases);
    unlink(cut);
    free(orig);
}

/* A torn file whose damaged frame is followed by thousands of forged
 * frame headers (the salt, a consistent structure, a length to the end of
 * the file, wrong hashes): the resynchronising search may hash only a few
 * times the file, then gives up without cutting anything (hashing every
 * candidate would cost ~2 MB each, ~20 GB here). */
static void test_resync_budget(const char *path, const char *cut)
{
    pio_writer *w = fixture_writer(path);
    struct pio_error e = {0};
    CHECK(w != NULL && fixture_append(w, 0, 8, SEED, false, 1) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    size_t len;
    uint8_t *orig = fixture_slurp(path, &len);
    pio_reader *r;
    uint64_t off1, len1, off7, len7;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    CHECK(pio_reader_frame_extent(r, 1, &off1, &len1) == 0);
    CHECK(pio_reader_frame_extent(r, 7, &off7, &len7) == 0);
    pio_reader_close(r);
    size_t size = 2u << 20, keep = (size_t)(off7 + len7);
    uint8_t *b = calloc(1, size);
    memcpy(b, orig, keep);
    b[off1 + len1 - 8] ^= 1; /* frame 1 damaged */
    for (size_t q = keep; q + 256 <= size; q += 192) {
        uint8_t *h = b + q;
        uint64_t l = size - q, n = (l - 192) / 12, seq = 1000;
        uint32_t type = 2, fields = 1, one = 1;
        memcpy(h, "HREC", 4);
        memcpy(h + 4, &type, 4);
        memcpy(h + 8, &l, 8);
        memcpy(h + 16, &seq, 8);
        memcpy(h + 24, orig + 32, 8);
        memset(h + 32, 0xa5, 32);
        memcpy(h + 64, &n, 8);
        memcpy(h + 72, &fields, 4);
        memcpy(h + 168, &one, 4);
    }
    CHECK(fixture_spit(cut, b, size) == 0);
    struct pio_recover_report rep;
    int rc = pio_holo_recover(cut, &rep, &e);
    CHECKF(rc == PIO_ECORRUPT && strstr(e.message, "could not number"),
           "forged headers: recover %d: %s", rc, e.message);
    size_t after;
    uint8_t *now = fixture_slurp(cut, &after);
    CHECK(after == size && memcmp(now, b, size) == 0); /* nothing cut */
    CHECK(pio_reader_open(&r, cut, NULL, &e) == 0 && pio_reader_nframes(r) == 8);
    pio_reader_close(r);
    fprintf(stderr, "resync budget: %zu forged headers, recovery refused: %s\n",
            (size - keep) / 192, e.message);
    free(now);
    free(b);
    free(orig);
    unlink(cut);
}

int main(void)
{
    const char *path = fixture_tmpname("resync"), *other = fixture_tmpname("resync2");
    test_resync(path, other);
    test_resync_budget(path, other);
    unlink(path);
    return TEST_RESULT();
}
