/*
 * HOLO hostile files, crafted with valid checksums (an attacker can compute
 * them): huge counts, offsets past the end, overlaps, misalignment, wrong
 * version, unknown required features, a file whose content never reached
 * the disk, too-short files: a PIO_E* error with a message, no crash (ASan
 * checks every access).
 */
#include "format/holo_layout.h"
#include "holo_damage_fixture.h"

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
    size_t len = 0;
    uint8_t *orig = fixture_slurp(path, &len);
    uint8_t *b = malloc(len);
    uint64_t io = holo_rd64(orig + len - HOLO_FOOTER_SIZE + 8);
    uint64_t e0 = io + HOLO_INDEX_HDR; /* first index entry */
    uint64_t f0 = holo_rd64(orig + e0), meta = holo_rd64(orig + io + 80);

#define RESET() memcpy(b, orig, len)
    RESET();
    uint16_t v3 = 3;
    memcpy(b + 8, &v3, 2);
    pio_blake3_hash(b + 96, 32, b, 96);
    CHECK(expect_error(out, b, len, true, "major version 3") == PIO_EVERSION);

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

/* ---- 2.0: COMMIT and FULL INDEX records ---- */

static uint64_t tip_off(const uint8_t *b, size_t len)
{
    return holo_rd64(b + len - HOLO_FOOTER2_SIZE + 8);
}

/* Patch the tip COMMIT's entry area etc., then rehash it. */
static void rehash_tip(uint8_t *b, size_t len)
{
    rehash_record(b, tip_off(b, len));
}

static void test_hostile_v2(const char *path, const char *out)
{
    make_small(path, 4, 2); /* commits 1 (frames 0, 1) and 2 (frames 2, 3) */
    size_t len = 0;
    uint8_t *orig = fixture_slurp(path, &len);
    uint8_t *b = malloc(len);
    CHECK(orig[8] == 2);
    uint64_t c = tip_off(orig, len);
    CHECK(holo_rd64(orig + c + 176) == 2 && holo_rd32(orig + c + 168) == 1);
    uint64_t link = c + HOLO_COMMIT_HDR, e0 = link + HOLO_LINK_SIZE; /* entry of frame 2 */
    uint64_t f2 = holo_rd64(orig + e0);

    RESET();
    holo_wr64(b + 16, 16); /* bits 0 to 2 are known since 2.2, bit 3 (ARRAYS) since 2.3 */
    pio_blake3_hash(b + 96, 32, b, 96);
    CHECK(expect_error(out, b, len, true, "2.x required feature bit 4") == PIO_EVERSION);

    RESET();
    holo_wr64(b + e0, (uint64_t)len * 4);
    rehash_tip(b, len);
    CHECK(expect_error(out, b, len, false, "2.0 entry past EOF") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + e0, f2 + 8);
    rehash_tip(b, len);
    CHECK(expect_error(out, b, len, false, "2.0 misaligned entry") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + e0 + 8, (uint64_t)1 << 62);
    rehash_tip(b, len);
    CHECK(expect_error(out, b, len, false, "2.0 entry length 2^62") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + e0 + HOLO_ENTRY_SIZE, f2); /* frame 3 names frame 2's record */
    rehash_tip(b, len);
    CHECK(expect_error(out, b, len, false, "2.0 overlapping entries") == PIO_ECORRUPT);

    RESET();
    b[link + 16] ^= 1; /* the back link's hash of commit 1 */
    rehash_tip(b, len);
    CHECK(expect_error(out, b, len, false, "2.0 back link hash") == PIO_ECORRUPT);

    RESET();
    holo_wr64(b + link, c); /* a back link to itself */
    rehash_tip(b, len);
    expect_error(out, b, len, true, "2.0 back link to itself");

    RESET();
    holo_wr64(b + link + 8, 0); /* commit 1 said to hold no frame */
    rehash_tip(b, len);
    expect_error(out, b, len, true, "2.0 back link frame count");

    RESET();
    holo_wr64(b + c + 176, (uint64_t)1 << 40); /* commit number past what the file holds */
    rehash_tip(b, len);
    expect_error(out, b, len, true, "2.0 commit number 2^40");

    RESET();
    holo_wr32(b + c + 80, 0x7fffffff); /* entries past its length */
    rehash_tip(b, len);
    expect_error(out, b, len, true, "2.0 2^31 entries");

    RESET();
    holo_wr64(b + c + 88, 128); /* a full index where the META record is */
    holo_wr64(b + c + 96, 0);
    rehash_tip(b, len);
    expect_error(out, b, len, true, "2.0 full index at META");
    free(b);
    free(orig);

    /* a FULL INDEX: 1,100 frames in one commit */
    pio_writer *w = fixture_writer(path);
    struct pio_error e = {0};
    CHECK(fixture_append(w, 0, 1100, SEED, false, 1) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    orig = fixture_slurp(path, &len);
    b = malloc(len);
    c = tip_off(orig, len);
    uint64_t fi = holo_rd64(orig + c + 88);
    CHECK(fi != 0 && holo_rd64(orig + c + 96) == 1100 && holo_rd32(orig + fi + 80) == 2);
    uint64_t head = HOLO_FULL_HDR + 128; /* two page descriptors, padded */
    uint64_t page1 = fi + head + HOLO_PAGE_ENTRIES * HOLO_ENTRY_SIZE;
    CHECK(open_read_verify(path, NULL) == 0);

    RESET();
    b[fi + HOLO_FULL_HDR + 8] ^= 1; /* page 0's hash, head and record rehashed */
    rehash_record(b, fi);
    pio_blake3_hash(b + c + 104, 32, b + fi, (size_t)head);
    rehash_tip(b, len);
    CHECK(expect_error(out, b, len, false, "2.0 page hash") == PIO_ECHECKSUM);

    RESET();
    holo_wr64(b + page1, holo_rd64(b + page1) + 64); /* frame 1024 moved, every hash redone */
    pio_blake3_hash(b + fi + HOLO_FULL_HDR + HOLO_PAGE_DESC + 8, 32, b + page1,
                    (size_t)holo_pad64(76 * HOLO_ENTRY_SIZE));
    rehash_record(b, fi);
    pio_blake3_hash(b + c + 104, 32, b + fi, (size_t)head);
    rehash_tip(b, len);
    CHECK(expect_error(out, b, len, false, "2.0 page entry moved") == PIO_ECORRUPT);

    RESET();
    holo_wr32(b + fi + 80, 0x10000000); /* pages past its length */
    rehash_record(b, fi);
    pio_blake3_hash(b + c + 104, 32, b + fi, (size_t)head);
    rehash_tip(b, len);
    CHECK(expect_error(out, b, len, true, "2.0 2^28 pages") == PIO_ECORRUPT);

    RESET();
    b[page1 + 5] ^= 1; /* not rehashed: the page check catches it */
    CHECK(expect_error(out, b, len, false, "2.0 page damaged") == PIO_ECHECKSUM);
    unlink(out);
    free(b);
    free(orig);
}

int main(void)
{
    const char *path = fixture_tmpname("hostile"), *other = fixture_tmpname("hostile2");
    test_hostile_v2(path, other);
    fixture_writer_flags = PIO_WRITER_FORMAT_1; /* the rest patch 1.x INDEX records */
    test_hostile(path, other);
    unlink(path);
    return TEST_RESULT();
}
