/*
 * HOLO under damage:
 *  - every bit of a small file flipped, one at a time: open fails or verify
 *    fails, every time (every byte is covered by a checksum), and reading
 *    whatever opens never crashes;
 *  - truncation at every byte offset: open never crashes and yields exactly
 *    the frames complete before the cut, bit-exact;
 *  - hostile files, crafted with valid checksums (an attacker can compute
 *    them): huge counts, offsets past the end, overlaps, misalignment,
 *    wrong version, unknown required features: a PIO_E* error with a
 *    message, no crash (ASan checks every access).
 */
#include <errno.h>
#include <fcntl.h>

#include "format/holo_layout.h"
#include "holo_fixture.h"

#define SEED 5

/* A small file with topology, metadata, two commits (so an old index and
 * footer sit in the middle) and varied frames. */
static void make_small(const char *path, uint64_t nframes, uint64_t split)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC;
    struct pio_error e = {0};
    pio_writer *w = fixture_writer(path);
    CHECK(w != NULL);
    static char names[2][8] = {"OW", "HW1"};
    struct pio_topology t = {.natoms = 2, .names = (const char(*)[8])names};
    CHECK(pio_writer_set_topology(w, &t, &e) == 0);
    CHECK(pio_writer_set_metadata(w, "k", "v", &e) == 0);
    CHECK(fixture_append(w, 0, split, SEED, true, 1) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    CHECK(pio_writer_open_append(&w, path, &o, &e) == 0);
    CHECK(fixture_append(w, split, nframes - split, SEED, true, 1) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
}

/* Open and touch everything; returns 0 if open and verify both pass. */
static int open_read_verify(const char *path, uint64_t *nframes)
{
    struct pio_error e = {0};
    pio_reader *r;
    int rc = pio_reader_open(&r, path, NULL, &e);
    if (rc != 0) {
        if (!(rc < 0 && e.message[0]))
            fprintf(stderr, "open failed without a message: %d\n", rc);
        return rc;
    }
    uint64_t n = pio_reader_nframes(r);
    double sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct pio_frame f;
        if (pio_reader_frame(r, i, &f, NULL) != 0)
            continue;
        for (uint64_t a = 0; a < f.natoms; a++)
            sum += f.positions[a][0] + (f.velocities ? f.velocities[a][1] : 0) +
                   (f.forces ? f.forces[a][2] : 0);
        for (uint32_t k = 0; k < f.nscalars; k++)
            sum += (double)strlen(f.scalars[k].name);
    }
    struct pio_topology t;
    if (pio_reader_topology(r, &t) == 0)
        for (uint64_t a = 0; a < t.natoms; a++)
            sum += t.masses[a] + (double)strnlen(t.names[a], 8);
    const char *k, *v;
    for (uint64_t i = 0; pio_reader_metadata_at(r, i, &k, &v) == 0; i++)
        sum += (double)strlen(k) + (double)strlen(v);
    struct pio_reader_info in;
    pio_reader_info(r, &in);
    __asm__ volatile("" : : "r"(&sum) : "memory");
    rc = pio_reader_verify(r, 1, &e);
    if (rc != 0 && !e.message[0])
        fprintf(stderr, "verify failed without a message\n");
    if (nframes)
        *nframes = n;
    pio_reader_close(r);
    return rc;
}

static void test_bit_flips(const char *path)
{
    make_small(path, 5, 3);
    size_t len;
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
    size_t len;
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
        bool committed = c >= HOLO_HEADER_SIZE + HOLO_FOOTER_SIZE &&
                         pio__holo_footer_valid(orig, c, c - HOLO_FOOTER_SIZE, orig + 32, &io, &il);
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

/* ---- a damaged frame in the middle of a torn file: recovery resynchronises ---- */

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

/* ---- hostile files: patch fields, then make the checksums valid again ---- */

static void rehash_record(uint8_t *b, uint64_t off)
{
    uint64_t len = holo_rd64(b + off + 8);
    pio__holo_record_hash(b + off, len, 1, b + off + HOLO_HASH_OFF);
}

static void rehash_tail(uint8_t *b, size_t len)
{
    uint8_t *f = b + len - HOLO_FOOTER_SIZE;
    uint64_t io = holo_rd64(f + 8);
    rehash_record(b, io);
    uint8_t salt[16];
    memcpy(salt, b + 32, 16);
    pio__holo_footer_hash(f, b + io + HOLO_HASH_OFF, salt, f + HOLO_HASH_OFF);
}

static int expect_error(const char *path, const uint8_t *b, size_t len, bool at_open,
                        const char *what)
{
    CHECK(fixture_spit(path, b, len) == 0);
    struct pio_error e = {0};
    pio_reader *r;
    int rc = pio_reader_open(&r, path, NULL, &e);
    if (rc == 0) {
        struct pio_reader_info in;
        pio_reader_info(r, &in);
        /* a damaged metadata record leaves the frames readable, said so */
        CHECKF(!at_open || in.recovered || in.metadata_damaged, "%s: open succeeded", what);
        for (uint64_t i = 0; i < pio_reader_nframes(r); i++) {
            struct pio_frame f;
            if ((rc = pio_reader_frame(r, i, &f, &e)) != 0)
                break;
        }
        if (rc == 0)
            rc = pio_reader_verify(r, 1, &e);
        pio_reader_close(r);
    }
    CHECKF(rc <= PIO_ERR_LAST && rc >= PIO_ERR_FIRST, "%s: rc %d is not a PIO_E* code", what, rc);
    CHECKF(e.message[0] != 0, "%s: no message", what);
    fprintf(stderr, "hostile %-28s -> %s\n", what, e.message);
    return rc;
}

static void test_hostile(const char *path, const char *out)
{
    make_small(path, 4, 4);
    size_t len;
    uint8_t *orig = fixture_slurp(path, &len);
    uint8_t *b = malloc(len);
    uint64_t io = holo_rd64(orig + len - HOLO_FOOTER_SIZE + 8);
    uint64_t e0 = io + HOLO_INDEX_HDR; /* first index entry */
    uint64_t f0 = holo_rd64(orig + e0), meta = holo_rd64(orig + io + 80);

#define RESET() memcpy(b, orig, len)
    RESET();
    uint16_t v2 = 2;
    memcpy(b + 8, &v2, 2);
    pio_blake3_hash(b + 96, 32, b, 96);
    CHECK(expect_error(out, b, len, true, "major version 2") == PIO_EVERSION);

    RESET();
    holo_wr64(b + 16, 1u << 5);
    pio_blake3_hash(b + 96, 32, b, 96);
    CHECK(expect_error(out, b, len, true, "unknown required feature") == PIO_EVERSION);

    RESET();
    holo_wr64(b + io + 64, (uint64_t)1 << 40);
    holo_wr64(b + io + 16, (uint64_t)1 << 40);
    holo_wr64(b + len - HOLO_FOOTER_SIZE + 24, (uint64_t)1 << 40);
    rehash_tail(b, len);
    expect_error(out, b, len, true, "index claims 2^40 frames");

    RESET();
    holo_wr64(b + e0, (uint64_t)len * 4);
    rehash_tail(b, len);
    CHECK(expect_error(out, b, len, true, "entry offset past EOF") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + e0 + HOLO_ENTRY_SIZE, f0);
    rehash_tail(b, len);
    CHECK(expect_error(out, b, len, true, "overlapping entries") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + e0, f0 + 8);
    rehash_tail(b, len);
    CHECK(expect_error(out, b, len, true, "misaligned entry") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + e0 + 8, (uint64_t)1 << 62);
    rehash_tail(b, len);
    CHECK(expect_error(out, b, len, true, "entry length 2^62") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + f0 + 64, 0x7fffffff); /* natoms: record far too short for it */
    rehash_record(b, f0);
    CHECK(expect_error(out, b, len, false, "frame claims 2^31 atoms") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + f0 + 64, (uint64_t)1 << 62);
    rehash_record(b, f0);
    CHECK(expect_error(out, b, len, false, "frame claims 2^62 atoms") == PIO_ECORRUPT);

    RESET();
    holo_wr32(b + f0 + 72, 0xff);
    rehash_record(b, f0);
    CHECK(expect_error(out, b, len, false, "unknown frame field bits") == PIO_ECORRUPT);

    RESET();
    holo_wr32(b + f0 + 172, 7);
    rehash_record(b, f0);
    CHECK(expect_error(out, b, len, false, "unknown codec") == PIO_EVERSION);

    RESET();
    holo_wr64(b + meta + 64, (uint64_t)1 << 40);
    rehash_record(b, meta);
    CHECK(expect_error(out, b, len, true, "topology claims 2^40 atoms") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + meta + 72, 1);
    rehash_record(b, meta);
    CHECK(expect_error(out, b, len, true, "bond count without bonds") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + io + 80, 8);
    rehash_tail(b, len);
    CHECK(expect_error(out, b, len, true, "meta offset inside header") == PIO_ECORRUPT);

    RESET();
    memset(b + 128, 0, len - 128); /* power loss: size reached disk, content did not */
    CHECK(fixture_spit(out, b, len) == 0);
    uint64_t n = 99;
    CHECK(open_read_verify(out, &n) == PIO_ECORRUPT && n == 0);

    static const uint8_t junk[7] = {0x89, 'H', 'O', 'L', 1, 2, 3};
    expect_error(out, junk, sizeof(junk), true, "7 bytes");
    expect_error(out, junk, 0, true, "empty file");
    unlink(out);
    free(b);
    free(orig);
}

int main(void)
{
    const char *path = fixture_tmpname("damage"), *other = fixture_tmpname("damage2");
    test_bit_flips(path);
    test_truncation(path, other);
    test_resync(path, other);
    test_resync_budget(path, other);
    test_hostile(path, other);
    unlink(path);
    return TEST_RESULT();
}
