/*
 * HOLO under damage:
 * in a 2.0 and a 1.1 file:
 *  - every bit of a small file flipped, one at a time: open fails or verify
 *    fails, every time (every byte is covered by a checksum), and reading
 *    whatever opens never crashes;
 *  - truncation at every byte offset: open never crashes and yields exactly
 *    the frames complete before the cut, bit-exact.
 * (Crafted hostile files: test_holo_hostile.c; recovery resynchronising
 * past a damaged frame: test_holo_resync.c.)
 */
#include <fcntl.h>

#include "format/holo_layout.h"
#include "holo_damage_fixture.h"

static void test_bit_flips(const char *path)
{
    make_small(path, 5, 3);
    size_t len = 0;
    uint8_t *orig = fixture_slurp(path, &len);
    CHECK(open_read_verify(path, NULL) == 0);
    int fd = open(path, O_RDWR);
    size_t undetected = 0;
    for (size_t byte = 0; byte < len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t b = orig[byte] ^ (uint8_t)(1u << bit);
            CHECK(pwrite(fd, &b, 1, (off_t)byte) == 1);
            if (open_read_verify(path, NULL) == 0) {
                if (undetected++ < 10)
                    fprintf(stderr, "flip of bit %d at offset %zu not detected\n", bit, byte);
            }
            CHECK(pwrite(fd, &orig[byte], 1, (off_t)byte) == 1);
        }
    }
    close(fd);
    CHECKF(undetected == 0, "%zu of %zu bit flips undetected", undetected, len * 8);
    fprintf(stderr, "bit flips: %zu bits of a %zu-byte file, all detected\n", len * 8, len);
    CHECK(open_read_verify(path, NULL) == 0);
    free(orig);
}

static void test_truncation(const char *path, const char *cut)
{
    make_small(path, 6, 4);
    size_t len = 0;
    uint8_t *orig = fixture_slurp(path, &len);
    /* frame record extents from the intact file */
    pio_reader *r;
    struct pio_error e = {0};
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    uint64_t n = pio_reader_nframes(r), ends[16];
    for (uint64_t i = 0; i < n && i < 16; i++) {
        struct pio_frame f;
        CHECK(pio_reader_frame(r, i, &f, NULL) == 0);
        struct holo_frame_layout lay;
        pio__holo_frame_layout(f.natoms, f.fields, f.nscalars, &lay);
        ends[i] = f.offset + lay.length;
    }
    pio_reader_close(r);
    int commits = 0;
    for (size_t c = 0; c <= len; c++) {
        CHECK(fixture_spit(cut, orig, c) == 0);
        uint64_t expect = 0;
        while (expect < n && ends[expect] <= c)
            expect++;
        pio_reader *t;
        int rc = pio_reader_open(&t, cut, NULL, &e);
        if (c < HOLO_HEADER_SIZE) {
            CHECKF(rc < 0 && e.message[0], "cut at %zu: open must fail", c);
            continue;
        }
        CHECKF(rc == 0, "cut at %zu: open failed: %s", c, e.message);
        if (rc != 0)
            continue;
        CHECKF(pio_reader_nframes(t) == expect, "cut at %zu: %llu frames, expected %llu", c,
               (unsigned long long)pio_reader_nframes(t), (unsigned long long)expect);
        for (uint64_t i = 0; i < pio_reader_nframes(t); i++) {
            struct fixture_frame ff;
            fixture_make(&ff, i, SEED, true, 1);
            struct pio_frame f;
            CHECK(pio_reader_frame(t, i, &f, NULL) == 0 && fixture_equal(&f, &ff));
            fixture_free(&ff);
        }
        struct pio_reader_info in;
        pio_reader_info(t, &in);
        /* committed exactly when a valid footer ends at the cut (the end of
         * the file, or of the first commit) */
        uint64_t io, il;
        struct holo_commit tip;
        bool committed = orig[8] == 2 ? pio__holo_tail_commit(orig, c, orig + 32, &tip)
                                      : c >= HOLO_HEADER_SIZE + HOLO_FOOTER_SIZE &&
                                            pio__holo_footer_valid(orig, c, c - HOLO_FOOTER_SIZE,
                                                                   orig + 32, &io, &il);
        CHECKF(in.recovered == !committed, "cut at %zu: recovered flag", c);
        commits += committed;
        pio_reader_close(t);
        TEST_STOP_IF_FLOODED_VOID();
    }
    CHECK(commits == 2);
    fprintf(stderr, "truncation: %zu cuts checked\n", len + 1);
    unlink(cut);
    free(orig);
}

int main(void)
{
    const char *path = fixture_tmpname("damage"), *other = fixture_tmpname("damage2");
    /* 2.0 (COMMIT and FULL INDEX records), then 1.1 (INDEX and footers) */
    for (int v = 2; v >= 1; v--) {
        fprintf(stderr, "-- HOLO %d.x\n", v);
        fixture_writer_flags = v == 1 ? PIO_WRITER_FORMAT_1 : 0;
        test_bit_flips(path);
        test_truncation(path, other);
    }
    unlink(path);
    return TEST_RESULT();
}
