/*
 * Compressed HOLO records (positions lossy, velocities and forces
 * lossless; and everything lossless):
 *  - every frame reads back: lossless arrays bit-exact, lossy positions
 *    within precision/2 (plus float32 rounding), atom counts varying from
 *    frame to frame and a frame of 0 atoms included; random access equals
 *    sequential; a frame stream (checked) gives the same values; the last
 *    16 frames pio_reader_frame decoded on a thread stay valid;
 *  - verify passes; the header announces compression; the codecs and
 *    precision are reported per frame;
 *  - a payload corrupted with its record's hash made valid again is
 *    PIO_ECORRUPT naming the file, frame, array and offset;
 *  - a file cut inside a compressed record recovers every complete frame;
 *  - lossy refuses NaN (PIO_ELIMIT naming frame and atom) and keeps the
 *    writer usable; compression cannot be asked of a raw file's appends
 *    or of a 1.x file.
 */
#include <errno.h>
#include <math.h>

#include "codec/pio_codec.h"
#include "format/holo_layout.h"
#include "holo_fixture.h"

#define SEED 31
#define BASE 50
#define N    40
#define PREC 0.002

static bool close_enough(const float (*a)[3], const float (*b)[3], uint64_t n, double tol)
{
    for (uint64_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            double ulp = nextafterf(fabsf(a[i][c]), INFINITY) - fabsf(a[i][c]);
            if (!(fabs((double)a[i][c] - (double)b[i][c]) <= tol + ulp))
                return false;
        }
    return true;
}

/* Frame i decoded equals the fixture's (lossy positions within PREC/2). */
static bool frame_ok(const struct pio_frame *f, uint64_t i, bool lossy)
{
    struct fixture_frame ff;
    fixture_make(&ff, i, SEED, true, BASE);
    const struct pio_frame *w = &ff.f;
    size_t n = (size_t)w->natoms * 12;
    bool ok = f->natoms == w->natoms && f->step == w->step && (f->fields & PIO_FIELD_DECODED) &&
              (lossy ? close_enough(f->positions, w->positions, w->natoms, PREC / 2)
                     : memcmp(f->positions, w->positions, n) == 0) &&
              (w->velocities ? f->velocities && memcmp(f->velocities, w->velocities, n) == 0
                             : !f->velocities) &&
              (w->forces ? f->forces && memcmp(f->forces, w->forces, n) == 0 : !f->forces) &&
              f->nscalars == w->nscalars;
    fixture_free(&ff);
    return ok;
}

static void write_file(const char *path, uint32_t pos_codec)
{
    unlink(path);
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC;
    o.codec[0] = pos_codec;
    o.codec[1] = o.codec[2] = PIO_CODEC_LOSSLESS;
    o.precision = PREC;
    o.keyframe = 1; /* FRAME records, 2.0 (blocks: test_holo_block) */
    pio_writer *w;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    CHECK(fixture_append(w, 0, N / 2, SEED, true, BASE) == 0 && pio_writer_commit(w, &e) == 0);
    /* a frame of 0 atoms (lossy, NaN) is refused by atom, and nothing of it lands */
    struct fixture_frame bad;
    fixture_make(&bad, N / 2, SEED, true, BASE);
    float(*x)[3] = (float(*)[3])bad.f.positions;
    x[3][1] = NAN;
    int rc = pio_writer_append(w, &bad.f, &e);
    if (pos_codec == PIO_CODEC_LOSSY)
        CHECKF(rc == PIO_ELIMIT && strstr(e.message, "atom 3") && strstr(e.message, "frame 20"),
               "lossy NaN: %d %s", rc, e.message);
    else
        CHECK(rc == 0); /* lossless keeps NaN */
    fixture_free(&bad);
    uint64_t have = pio_writer_nframes(w);
    CHECK(have == (pos_codec == PIO_CODEC_LOSSY ? (uint64_t)N / 2 : (uint64_t)N / 2 + 1));
    if (have > N / 2) { /* lossless: the frame went in with its NaN; start over */
        CHECK(pio_writer_close(w, &e) == 0);
        unlink(path);
        CHECK(pio_writer_create(&w, path, &o, &e) == 0);
        CHECK(fixture_append(w, 0, N / 2, SEED, true, BASE) == 0);
    }
    CHECK(fixture_append(w, N / 2, N / 2, SEED, true, BASE) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
}

static void test_codec_file(const char *path, const char *cut, uint32_t pos_codec)
{
    bool lossy = pos_codec == PIO_CODEC_LOSSY;
    write_file(path, pos_codec);
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    CHECK(holo_rd64(b + 16) == HOLO_REQ_ZSTD); /* required feature: compression */
    struct pio_error e = {0};
    pio_reader *r;
    CHECKF(pio_reader_open(&r, path, NULL, &e) == 0, "%s", e.message);
    CHECK(pio_reader_nframes(r) == N);
    struct pio_frame held[16];
    for (uint64_t i = 0; i < N; i++) {
        struct pio_frame f;
        CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i, lossy), "frame %llu: %s",
               (unsigned long long)i, e.message);
        if (i >= N - 16)
            held[i - (N - 16)] = f;
        uint32_t codec[3];
        double prec;
        CHECK(pio_reader_frame_codecs(r, i, codec, &prec) == 0 && codec[0] == pos_codec &&
              codec[2] == (f.forces ? PIO_CODEC_LOSSLESS : PIO_CODEC_NONE) &&
              (lossy ? prec == PREC : prec == 0));
    }
    for (int k = 0; k < 16; k++) /* the thread's last 16 decoded frames are intact */
        CHECKF(frame_ok(&held[k], N - 16 + (uint64_t)k, lossy), "held frame %d", k);
    for (uint64_t i = N; i-- > 0;) {
        struct pio_frame f;
        CHECK(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i, lossy));
    }
    /* a checked stream, every engine the build has */
    for (int eng = PIO_IO_MMAP; eng <= PIO_IO_URING; eng++) {
        struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
        so.flags = PIO_STREAM_VERIFY;
        so.engine = (uint32_t)eng;
        pio_frame_stream *s;
        CHECK(pio_frame_stream_open(&s, r, NULL, 0, &so, &e) == 0);
        struct pio_frame f[4];
        uint64_t n = 0;
        int rc;
        while ((rc = pio_frame_stream_next(s, &f[n % 4], &e)) == 1) {
            CHECKF(frame_ok(&f[n % 4], n, lossy), "stream (engine %d): frame %llu", eng,
                   (unsigned long long)n);
            /* three views held at once (atom counts vary), the newest
             * released first now and then: the others stay intact */
            if (n >= 2 && n % 5 == 0) {
                pio_frame_stream_release(s, &f[n % 4]);
                CHECK(frame_ok(&f[(n - 1) % 4], n - 1, lossy) &&
                      frame_ok(&f[(n - 2) % 4], n - 2, lossy));
                f[n % 4] = f[(n - 2) % 4];
                n++;
                continue;
            }
            if (n >= 2)
                pio_frame_stream_release(s, &f[(n - 2) % 4]);
            n++;
        }
        CHECKF(rc == 0 && n == N, "stream (engine %d): %d after %llu: %s", eng, rc,
               (unsigned long long)n, e.message);
        pio_frame_stream_close(s);
    }
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "verify: %s", e.message);
    /* into the caller's buffers: the same values, nothing of the reader's */
    uint64_t cap = pio_reader_natoms_bound(r);
    float(*buf)[3] = malloc((size_t)cap * 36 + 12);
    float(*const xyz[3])[3] = {buf, buf + cap, buf + 2 * cap};
    for (uint64_t i = 0; i < N; i++) {
        struct pio_frame f, g;
        CHECK(pio_reader_frame_into(r, i, xyz, cap, &f, &e) == 0 && f.positions == xyz[0] &&
              !(f.fields & PIO_FIELD_DECODED));
        CHECK(pio_reader_frame(r, i, &g, &e) == 0 &&
              memcmp(f.positions, g.positions, (size_t)g.natoms * 12) == 0 &&
              (!g.forces || memcmp(f.forces, g.forces, (size_t)g.natoms * 12) == 0));
    }
    float(*const only_pos[3])[3] = {buf, NULL, NULL};
    struct pio_frame f;
    CHECK(pio_reader_frame_into(r, 3, only_pos, cap, &f, &e) == 0 && !f.velocities && !f.forces);
    CHECK(pio_reader_frame_into(r, 3, xyz, 1, &f, &e) == -ENOSPC && f.natoms > 1);
    float(*const none[3])[3] = {NULL, NULL, NULL}; /* the header alone */
    CHECK(pio_reader_frame_into(r, 3, none, 0, &f, &e) == 0 && f.natoms > 1 && !f.positions &&
          !f.forces);
    free(buf);
    pio_reader_close(r);

    /* a payload byte changed, its record rehashed: the decoder says so */
    struct pio_frame f5;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0 && pio_reader_frame(r, 5, &f5, &e) == 0);
    uint64_t rec = f5.offset, rlen = holo_rd64(b + rec + 8);
    pio_reader_close(r);
    uint8_t *h = malloc(len);
    memcpy(h, b, len);
    h[rec + HOLO_FRAME_HDR + HOLO_CODED_HDR + 20] ^= 0x40;
    pio__holo_record_hash(h + rec, rlen, 1, h + rec + HOLO_HASH_OFF);
    CHECK(fixture_spit(cut, h, len) == 0);
    CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
    int rc = pio_reader_frame(r, 5, &f5, &e);
    CHECKF(rc == PIO_ECORRUPT && strstr(e.message, "frame 5") && strstr(e.message, "positions") &&
               strstr(e.message, "offset 0x"),
           "corrupt payload: %d %s", rc, e.message);
    struct pio_frame f6;
    CHECK(pio_reader_frame(r, 6, &f6, &e) == 0 && frame_ok(&f6, 6, lossy));
    float(*into)[3] = malloc(3 * 12 * (size_t)pio_reader_natoms_bound(r) + 12);
    uint64_t icap = pio_reader_natoms_bound(r);
    float(*const ixyz[3])[3] = {into, into + icap, into + 2 * icap};
    CHECK(pio_reader_frame_into(r, 5, ixyz, icap, &f6, &e) == PIO_ECORRUPT); /* verify --decode */
    CHECK(pio_reader_frame_into(r, 6, ixyz, icap, &f6, &e) == 0);
    free(into);
    pio_reader_close(r);
    /* an atom count the payload does not hold (2^31 - 1): refused by the
     * record's structure, before anything is sized by it */
    memcpy(h, b, len);
    holo_wr64(h + rec + 64, 0x7fffffff);
    pio__holo_record_hash(h + rec, rlen, 1, h + rec + HOLO_HASH_OFF);
    CHECK(fixture_spit(cut, h, len) == 0);
    CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
    rc = pio_reader_frame(r, 5, &f5, &e);
    CHECKF(rc == PIO_ECORRUPT && strstr(e.message, "not a payload of 2147483647 atoms"),
           "lying atom count: %d %s", rc, e.message);
    CHECK(pio_reader_natoms_bound(r) < 1000);
    pio_reader_close(r);
    /* a payload that claims to be longer than its record */
    memcpy(h, b, len);
    holo_wr32(h + rec + HOLO_FRAME_HDR, 1u << 30);
    pio__holo_record_hash(h + rec, rlen, 1, h + rec + HOLO_HASH_OFF);
    CHECK(fixture_spit(cut, h, len) == 0);
    CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
    CHECK(pio_reader_frame(r, 5, &f5, &e) == PIO_ECORRUPT);
    pio_reader_close(r);
    free(h);

    /* cut inside the last frames: recovery keeps every complete frame */
    for (size_t c = len - 1; c > len - 6000 && c > 4096; c -= 433) {
        CHECK(fixture_spit(cut, b, c) == 0);
        struct pio_recover_report rep;
        CHECKF(pio_holo_recover(cut, &rep, &e) == 0, "cut at %zu: %s", c, e.message);
        CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
        uint64_t n = pio_reader_nframes(r);
        CHECK(n >= N - 12 && n <= N);
        for (uint64_t i = 0; i < n; i++) {
            struct pio_frame f;
            CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i, lossy),
                   "cut at %zu, frame %llu: %s", c, (unsigned long long)i, e.message);
        }
        CHECK(pio_reader_verify(r, 1, &e) == 0);
        pio_reader_close(r);
    }
    free(b);
}

static void test_refusals(const char *path)
{
    struct pio_error e = {0};
    pio_writer *w = fixture_writer(path); /* raw */
    CHECK(w && fixture_append(w, 0, 2, SEED, true, BASE) == 0 && pio_writer_close(w, &e) == 0);
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC;
    o.codec[0] = PIO_CODEC_LOSSY;
    CHECK(pio_writer_open_append(&w, path, &o, &e) == PIO_EUSAGE && strstr(e.message, "without"));
    o.flags |= PIO_WRITER_FORMAT_1 | PIO_WRITER_OVERWRITE;
    CHECK(pio_writer_create(&w, path, &o, &e) == PIO_EUSAGE);
    o.flags &= ~PIO_WRITER_FORMAT_1;
    o.precision = -1;
    CHECK(pio_writer_create(&w, path, &o, &e) == PIO_EUSAGE);
    o.precision = 1e31; /* readers take precisions below 1e30 */
    CHECK(pio_writer_create(&w, path, &o, &e) == PIO_EUSAGE);
    o.precision = 0;
    o.codec[0] = 9;
    CHECK(pio_writer_create(&w, path, &o, &e) == PIO_EUSAGE);
}

int main(void)
{
    const char *path = fixture_tmpname("compress"), *cut = fixture_tmpname("compress_cut");
    if (!pio__codec_built()) { /* a build without zstd refuses, saying why */
        struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
        o.codec[0] = PIO_CODEC_LOSSY;
        pio_writer *w;
        struct pio_error e = {0};
        CHECK(pio_writer_create(&w, path, &o, &e) == PIO_ENOTSUPPORTED &&
              strstr(e.message, "zstd"));
        return TEST_RESULT();
    }
    test_codec_file(path, cut, PIO_CODEC_LOSSY);
    test_codec_file(path, cut, PIO_CODEC_LOSSLESS);
    test_refusals(path);
    unlink(path);
    unlink(cut);
    return TEST_RESULT();
}
