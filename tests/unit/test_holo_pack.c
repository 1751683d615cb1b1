/*
 * Small raw frames packed in BLOCK records (HOLO 2.2): a writer asked for
 * blocks without compression packs frames of at most 4 KiB of arrays,
 * raw, K to a record, and readers use them in place as FRAME records'.
 *  - runs of 10-atom frames (box changing, then fixed; scalars), 400-atom
 *    frames with velocities and forces (over 4 KiB: FRAME records), 7-atom
 *    frames with velocities: every frame reads back bit-exact, in place
 *    (not decoded), through pio_reader_frame, pio_reader_read (atom
 *    selections), streams on every engine (checked, in order and not),
 *    verify; blocks are cut by a commit and a change of shape; a packed
 *    file is smaller than the same frames one record each, and a 10-atom
 *    frame costs at most 1.1x DCD's bytes for it (K 128; a fixed box, or
 *    one changing every frame, orthorhombic or triclinic: boxes stored as
 *    a diagonal or a lower triangle), and such a file (packed, or
 *    compressed in blocks) opens through its commit;
 *  - streams whose caller holds hundreds of views keep each right until
 *    released, on every engine;
 *  - appends pack by default; refusals (a 2.0 file, HOLO 1.x);
 *  - a file cut anywhere after its commit recovers every complete block;
 *  - hostile blocks (group count, payload length, codec, a raw block in a
 *    file that does not announce them, a payload byte) are refused naming
 *    the file, frame and offset;
 *  - a byte flipped anywhere is caught by open or verify; recovery keeps
 *    every other record's frames right;
 *  - a writer killed while it packs loses no committed frame.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <prismio/blake3.h>

#include "codec/pio_codec.h"
#include "format/holo_layout.h"
#include "holo_fixture.h"

#define NF  140
#define KEY 16

/* Frame i: 0-99 10 atoms (box changing before 50, fixed after: diagonal,
 * but for a lower triangle in 20-34 and -0.0 above the diagonal in 35-39;
 * two scalars), 100-102 400 atoms with velocities and forces, 103-139 7 atoms
 * with velocities. */
struct pframe {
    struct pio_frame f;
    float x[400][3], v[400][3], fo[400][3];
    struct pio_scalar sc[2];
};

static float val(uint64_t i, uint64_t atom, int c, int array)
{
    return (float)((i * 131 + atom * 7 + (uint64_t)c * 3) % 1000) * 0.001f + (float)array * 10.0f;
}

static void make_frame(struct pframe *t, uint64_t i)
{
    memset(&t->f, 0, sizeof(t->f));
    uint64_t n = i < 100 ? 10 : i < 103 ? 400 : 7;
    for (uint64_t a = 0; a < n; a++)
        for (int c = 0; c < 3; c++) {
            t->x[a][c] = val(i, a, c, 0);
            t->v[a][c] = val(i, a, c, 1);
            t->fo[a][c] = val(i, a, c, 2);
        }
    t->f.natoms = n;
    t->f.positions = (const float(*)[3])t->x;
    t->f.velocities = i >= 100 ? (const float(*)[3])t->v : NULL;
    t->f.forces = i >= 100 && i < 103 ? (const float(*)[3])t->fo : NULL;
    t->f.step = (int64_t)i * 10;
    t->f.time = (double)i * 0.5;
    if (i < 100) {
        t->f.fields = PIO_FIELD_BOX;
        for (int a = 0; a < 3; a++)
            t->f.box[a][a] = 2.0 + (i < 50 ? 0.01 * (double)i : 0.0);
        if (i >= 20 && i < 35) { /* triclinic: a lower triangle */
            t->f.box[1][0] = 0.1 * (double)i;
            t->f.box[2][0] = 0.2;
            t->f.box[2][1] = -0.3;
        }
        if (i >= 35 && i < 40) /* -0.0 above the diagonal: kept, bit for bit */
            t->f.box[0][1] = -0.0;
        strcpy(t->sc[0].name, "potential");
        strcpy(t->sc[1].name, "kinetic");
        t->sc[0].value = -(double)i;
        t->sc[1].value = (double)i * 2;
        t->f.nscalars = 2;
        t->f.scalars = t->sc;
    }
}

static bool frame_ok(const struct pio_frame *f, uint64_t i)
{
    static struct pframe t;
    make_frame(&t, i);
    size_t b = (size_t)t.f.natoms * 12;
    bool ok = f->natoms == t.f.natoms && f->step == t.f.step && f->time == t.f.time &&
              !(f->fields & PIO_FIELD_DECODED) && (f->fields & PIO_FIELD_BOX) == t.f.fields &&
              memcmp(f->box, t.f.box, 72) == 0 && f->nscalars == t.f.nscalars &&
              memcmp(f->positions, t.f.positions, b) == 0 && !f->velocities == !t.f.velocities &&
              !f->forces == !t.f.forces &&
              (!f->velocities || memcmp(f->velocities, t.f.velocities, b) == 0) &&
              (!f->forces || memcmp(f->forces, t.f.forces, b) == 0);
    for (uint32_t k = 0; ok && k < f->nscalars; k++)
        ok = strcmp(f->scalars[k].name, t.sc[k].name) == 0 && f->scalars[k].value == t.sc[k].value;
    return ok;
}

static pio_writer *create(const char *path, uint32_t keyframe)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
    o.keyframe = keyframe;
    pio_writer *w = NULL;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    return w;
}

static int append(pio_writer *w, uint64_t i)
{
    static struct pframe t;
    make_frame(&t, i);
    struct pio_error e = {0};
    int rc = pio_writer_append(w, &t.f, &e);
    CHECKF(rc == 0, "append %llu: %s", (unsigned long long)i, e.message);
    return rc;
}

/* NF frames, packed K at a time, committed after frame 60. */
static void write_file(const char *path, uint32_t keyframe)
{
    pio_writer *w = create(path, keyframe);
    struct pio_error e = {0};
    for (uint64_t i = 0; w && i < NF; i++) {
        append(w, i);
        if (i == 60)
            CHECK(pio_writer_commit(w, &e) == 0);
    }
    CHECKF(w && pio_writer_close(w, &e) == 0, "%s", e.message);
}

static uint64_t file_size(const char *path)
{
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    free(b);
    return len;
}

static void check_stream(pio_reader *r, const uint64_t *frames, uint64_t n, enum pio_io_engine eng,
                         const char *what)
{
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.flags = PIO_STREAM_VERIFY;
    so.engine = eng;
    pio_frame_stream *s;
    struct pio_error e = {0};
    CHECKF(pio_frame_stream_open(&s, r, frames, n, &so, &e) == 0, "%s: %s", what, e.message);
    struct pio_frame f;
    uint64_t k = 0;
    while (pio_frame_stream_next(s, &f, &e) == 1) {
        uint64_t want = frames ? frames[k] : k;
        CHECKF(f.index == want && frame_ok(&f, want), "%s: frame %llu", what,
               (unsigned long long)want);
        pio_frame_stream_release(s, &f);
        k++;
    }
    CHECKF(k == (frames ? n : NF), "%s: %llu frames: %s", what, (unsigned long long)k, e.message);
    pio_frame_stream_close(s);
}

static void test_roundtrip(const char *path, const char *one)
{
    write_file(path, KEY);
    write_file(one, 1);
    struct pio_error e = {0};
    pio_reader *r;
    CHECKF(pio_reader_open(&r, path, NULL, &e) == 0, "%s", e.message);
    if (!r)
        return;
    struct pio_reader_info in;
    CHECK(pio_reader_info(r, &in) == 0 && in.version_major == 2 && in.version_minor == 2 &&
          in.nframes == NF);
    uint64_t blocks = 0;
    for (uint64_t i = 0; i < NF; i++) {
        struct pio_frame f;
        CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i), "frame %llu: %s",
               (unsigned long long)i, e.message);
        uint64_t first;
        uint32_t k, codec[3] = {9, 9, 9};
        double prec = -1;
        CHECK(pio_reader_frame_block(r, i, &first, &k) == 0);
        CHECK(pio_reader_frame_codecs(r, i, codec, &prec) == 0 && !codec[0] && !codec[1] &&
              !codec[2]);
        /* blocks of at most KEY frames of one shape, cut by the commit
         * after frame 60; the 400-atom frames alone */
        bool big = i >= 100 && i < 103;
        CHECKF(big ? k == 1 : k > 1 && k <= KEY, "frame %llu in a block of %u",
               (unsigned long long)i, k);
        CHECK(first <= i && i < first + k && (first > 60 || first + k <= 61));
        CHECK(first >= (i < 100 ? 0 : i < 103 ? i : 103) && first + k <= (i < 100 ? 100 : NF));
        blocks += first == i && k > 1;
    }
    CHECK(blocks >= 8);
    /* atom selections equal slices of the frames */
    static const uint64_t atoms[] = {0, 5, 6};
    float x[90][3][3];
    float(*const xyz[3])[3] = {(float(*)[3])x, NULL, NULL};
    CHECKF(pio_reader_read(r, 40, 30, atoms, 3, xyz, &e) == 0, "%s", e.message);
    for (uint64_t i = 40; i < 70; i++)
        for (int j = 0; j < 3; j++)
            for (int c = 0; c < 3; c++)
                CHECK(x[(i - 40)][j][c] == val(i, atoms[j], c, 0));
    float vv[7][3];
    float(*const vs[3])[3] = {NULL, vv, NULL};
    CHECK(pio_reader_read(r, 120, 1, NULL, 7, vs, &e) == 0 && vv[6][2] == val(120, 6, 2, 1));
    CHECK(pio_reader_read(r, 10, 1, NULL, 10, vs, &e) == -ENOENT);
    /* streams, every engine, in order and not */
    static const uint64_t pick[] = {139, 3, 101, 64, 2, 2, 99, 0, 120};
    for (int k = 0; k < 3; k++) {
        enum pio_io_engine eng = k == 0 ? PIO_IO_MMAP : k == 1 ? PIO_IO_PREAD : PIO_IO_URING;
        check_stream(r, NULL, 0, eng, "stream");
        check_stream(r, pick, sizeof(pick) / sizeof(pick[0]), eng, "frame list");
    }
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "%s", e.message);
    pio_reader_close(r);
    /* packed, each of the 137 small frames saves most of a FRAME record's
     * overhead (record and frame headers, padding) */
    uint64_t packed = file_size(path), unpacked = file_size(one);
    CHECKF(packed + 137 * 150 < unpacked, "packed %llu bytes, one record a frame %llu",
           (unsigned long long)packed, (unsigned long long)unpacked);
}

/* 10-atom frames with a fixed box and no scalars: at most 1.1x DCD's
 * 80 + 12 n bytes a frame (with its unit cell), all overhead included. */
static void test_dcd_size(const char *path, bool lossy, int box)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
    o.keyframe = 128;
    o.codec[0] = lossy ? PIO_CODEC_LOSSY : 0;
    pio_writer *w = NULL;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    static struct pframe t;
    uint64_t n = 10000;
    for (uint64_t i = 0; w && i < n; i++) {
        make_frame(&t, 60 + i % 40); /* 10 atoms, fixed box */
        t.f.nscalars = 0;
        if (box > 0) /* changing every frame: orthorhombic, or triclinic */
            for (int a = 0; a < 3; a++)
                t.f.box[a][a] = 3.0 + 1e-4 * (double)(i + (uint64_t)a);
        if (box > 1)
            t.f.box[1][0] = t.f.box[2][1] = 1e-3 * (double)i;
        t.f.step = (int64_t)i;
        t.f.time = (double)i;
        CHECK(pio_writer_append(w, &t.f, &e) == 0);
    }
    CHECK(w && pio_writer_close(w, &e) == 0);
    uint64_t dcd = n * (80 + 12 * 10), size = file_size(path);
    CHECKF(size * 10 <= dcd * 11, "box kind %d: %llu bytes a frame, DCD %llu", box,
           (unsigned long long)(size / n), (unsigned long long)(dcd / n));
    /* frames under a FRAME record's least size: the commit still opens
     * (no recovery) and verifies */
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = PIO_READER_NO_RECOVERY;
    pio_reader *r;
    CHECKF(pio_reader_open(&r, path, &ro, &e) == 0, "%s: %s", lossy ? "lossy" : "raw", e.message);
    CHECK(r && pio_reader_nframes(r) == n && pio_reader_final(r));
    struct pio_frame f;
    CHECK(r && pio_reader_frame(r, n - 7, &f, &e) == 0 &&
          f.box[0][0] == (box ? 3.0 + 1e-4 * (double)(n - 7) : 2.0) &&
          f.box[2][1] == (box > 1 ? 1e-3 * (double)(n - 7) : 0.0) && f.box[0][1] == 0.0);
    CHECKF(r && pio_reader_verify(r, 1, &e) == 0, "%s", e.message);
    pio_reader_close(r);
}

/* Streams over many packed records whose caller holds up to 300 frames
 * at a time (a pipeline's batches): every held view keeps its values until
 * released, on every engine (buffers reused only once a record's every
 * view is released). */
static void test_stream_held(const char *path)
{
    pio_writer *w = create(path, KEY);
    struct pio_error e = {0};
    static struct pframe t;
    uint64_t n = 3000;
    for (uint64_t i = 0; w && i < n; i++) {
        make_frame(&t, 60 + i % 40);
        t.f.step = (int64_t)i;
        CHECK(pio_writer_append(w, &t.f, &e) == 0);
    }
    CHECK(w && pio_writer_close(w, &e) == 0);
    pio_reader *r;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    static struct pio_frame held[300];
    for (int k = 0; r && k < 3; k++) {
        struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
        so.engine = k == 0 ? PIO_IO_MMAP : k == 1 ? PIO_IO_PREAD : PIO_IO_URING;
        so.flags = k == 2 ? PIO_STREAM_VERIFY : 0;
        pio_frame_stream *st;
        CHECK(pio_frame_stream_open(&st, r, NULL, 0, &so, &e) == 0);
        uint64_t got = 0, bad = 0;
        int rc;
        struct pio_frame f;
        while ((rc = pio_frame_stream_next(st, &f, &e)) == 1) {
            struct pio_frame *h = &held[got % 300];
            if (got >= 300) { /* the oldest held view, still right, released */
                make_frame(&t, 60 + h->step % 40);
                bad += memcmp(h->positions, t.f.positions, 120) != 0;
                pio_frame_stream_release(st, h);
            }
            *h = f;
            bad += f.step != (int64_t)got;
            got++;
        }
        CHECKF(rc == 0 && got == n && bad == 0, "engine %d: %llu frames, %llu wrong: %s", k,
               (unsigned long long)got, (unsigned long long)bad, e.message);
        for (uint64_t j = got > 300 ? got - 300 : 0; j < got; j++)
            pio_frame_stream_release(st, &held[j % 300]);
        pio_frame_stream_close(st);
    }
    pio_reader_close(r);
}

static void test_append(const char *path, const char *copy)
{
    write_file(path, KEY);
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    CHECK(b && fixture_spit(copy, b, len) == 0);
    free(b);
    struct pio_error e = {0};
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC;
    pio_writer *w;
    CHECKF(pio_writer_open_append(&w, copy, &o, &e) == 0, "%s", e.message);
    for (uint64_t i = 0; w && i < 40; i++) {
        static struct pframe t;
        make_frame(&t, 103 + i % 37);
        t.f.step = (int64_t)(NF + i) * 10;
        t.f.time = (double)(NF + i) * 0.5;
        CHECK(pio_writer_append(w, &t.f, &e) == 0);
    }
    CHECK(w && pio_writer_close(w, &e) == 0);
    pio_reader *r;
    CHECK(pio_reader_open(&r, copy, NULL, &e) == 0);
    uint64_t first;
    uint32_t k;
    CHECK(r && pio_reader_nframes(r) == NF + 40);
    CHECK(pio_reader_frame_block(r, NF + 20, &first, &k) == 0 && first == NF && k == 40);
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "%s", e.message);
    pio_reader_close(r);

    /* refusals: packing into a file that does not announce it, HOLO 1.x */
    o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
    CHECK(pio_writer_create(&w, copy, &o, &e) == 0 && pio_writer_close(w, &e) == 0);
    o.keyframe = 8;
    CHECK(pio_writer_open_append(&w, copy, &o, &e) == PIO_EUSAGE && strstr(e.message, copy) &&
          strstr(e.message, "packed"));
    o.flags |= PIO_WRITER_FORMAT_1;
    CHECK(pio_writer_create(&w, copy, &o, &e) == PIO_EUSAGE && strstr(e.message, "1.x"));
}

static void test_cut(const char *path, const char *cut)
{
    write_file(path, KEY);
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    struct pio_error e = {0};
    pio_reader *r;
    uint64_t off61 = 0, l61 = 0;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0 &&
          pio_reader_frame_extent(r, 61, &off61, &l61) == 0);
    pio_reader_close(r);
    for (size_t c = len - 1; b && c > off61; c -= 61) {
        CHECK(fixture_spit(cut, b, c) == 0);
        struct pio_recover_report rep;
        CHECKF(pio_holo_recover(cut, &rep, &e) == 0, "cut at %zu: %s", c, e.message);
        CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
        uint64_t n = r ? pio_reader_nframes(r) : 0, first;
        uint32_t k;
        CHECKF(n >= 61 && n <= NF, "cut at %zu: %llu frames", c, (unsigned long long)n);
        if (n > 0 && n < NF) /* ends on a record's end */
            CHECK(pio_reader_frame_block(r, n - 1, &first, &k) == 0 && first + k == n);
        for (uint64_t i = 0; i < n; i++) {
            struct pio_frame f;
            CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i),
                   "cut at %zu, frame %llu: %s", c, (unsigned long long)i, e.message);
        }
        CHECKF(pio_reader_verify(r, 1, &e) == 0, "cut at %zu: %s", c, e.message);
        pio_reader_close(r);
        TEST_STOP_IF_FLOODED_VOID();
    }
    free(b);
}

/* A copy of the file with the record holding frame 2 changed at `at` and
 * its hash made valid again (or the header's required bits changed and
 * its hash redone): reading frame 2 fails with `want`, naming the file,
 * frame and offset; frame 101 (a FRAME record) still reads. */
static void expect_refused(const char *cut, const uint8_t *orig, size_t len, uint64_t rec,
                           int64_t at, uint64_t value, int width, int want, const char *what)
{
    uint8_t *h = malloc(len);
    memcpy(h, orig, len);
    if (at < 0) { /* the header's required flags */
        holo_wr64(h + 16, value);
        pio_blake3_hash(h + HOLO_HEADER_HASHED, 32, h, HOLO_HEADER_HASHED);
    } else {
        if (width == 8)
            holo_wr64(h + rec + (uint64_t)at, value);
        else
            holo_wr32(h + rec + (uint64_t)at, (uint32_t)value);
        pio__holo_record_hash(h + rec, holo_rd64(h + rec + 8), 1, h + rec + HOLO_HASH_OFF);
    }
    CHECK(fixture_spit(cut, h, len) == 0);
    free(h);
    struct pio_error e = {0};
    pio_reader *r;
    CHECKF(pio_reader_open(&r, cut, NULL, &e) == 0, "%s: %s", what, e.message);
    if (!r)
        return;
    struct pio_frame f;
    int rc = pio_reader_frame(r, 2, &f, &e);
    CHECKF(rc == want && strstr(e.message, cut) && strstr(e.message, "frame 2") &&
               strstr(e.message, "offset 0x"),
           "%s: %d %s", what, rc, e.message);
    CHECK(pio_reader_frame(r, 101, &f, &e) == 0 && frame_ok(&f, 101));
    CHECKF(pio_reader_verify(r, 1, &e) != 0, "%s: verify passed", what);
    pio_reader_close(r);
}

static void test_hostile(const char *path, const char *cut)
{
    write_file(path, KEY);
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    struct pio_error e = {0};
    pio_reader *r;
    uint64_t rec = 0, rlen = 0;
    CHECK(b && pio_reader_open(&r, path, NULL, &e) == 0 &&
          pio_reader_frame_extent(r, 2, &rec, &rlen) == 0);
    pio_reader_close(r);
    if (!b)
        return;
    struct holo_block blk;
    CHECK(pio__holo_parse_block("", b + rec, rlen, rec, 0, 2, &blk, NULL) == 0);
    CHECK(blk.raw && blk.nframes == KEY && blk.ngroups == 1 && blk.narrays == 1);
    uint64_t table = (uint64_t)(blk.payloads - b - rec), plen;
    uint64_t pay = (uint64_t)(holo_block_payload(&blk, 0, 0, &plen) - b - rec);
    CHECK(plen == KEY * 10 * 12);
    expect_refused(cut, b, len, rec, 84, 2, 4, PIO_ECORRUPT, "two groups");
    CHECK(blk.fields & HOLO_BLOCK_BOX_DIAG); /* frames 0-15: changing diagonal boxes */
    expect_refused(cut, b, len, rec, 68, blk.fields | HOLO_BLOCK_BOX_LOWER, 4, PIO_ECORRUPT,
                   "diagonal and triangle");
    expect_refused(cut, b, len, rec, 68, blk.fields & ~(uint32_t)HOLO_BLOCK_BOX_DIAG, 4,
                   PIO_ECORRUPT, "full boxes claimed");
    expect_refused(cut, b, len, rec, table + 8, plen - 12, 8, PIO_ECORRUPT, "payload length");
    expect_refused(cut, b, len, rec, 88, 9, 4, PIO_EVERSION, "codec unknown");
    expect_refused(cut, b, len, rec, 88, PIO_CODEC_LOSSLESS, 4, PIO_ECORRUPT, "codec lossless");
    expect_refused(cut, b, len, rec, 104, 0x3f50624dd2f1a9fcull, 8, PIO_ECORRUPT, "precision");
    expect_refused(cut, b, len, rec, -1, HOLO_REQ_BLOCK, 8, PIO_ECORRUPT, "not announced");
    /* bit 2 without bit 0: the header is refused at open */
    uint8_t *h2 = malloc(len);
    memcpy(h2, b, len);
    holo_wr64(h2 + 16, HOLO_REQ_RAW_BLOCK);
    pio_blake3_hash(h2 + HOLO_HEADER_HASHED, 32, h2, HOLO_HEADER_HASHED);
    CHECK(fixture_spit(cut, h2, len) == 0);
    free(h2);
    pio_reader *r2 = NULL;
    CHECK(pio_reader_open(&r2, cut, NULL, &e) == PIO_ECORRUPT && strstr(e.message, "bit 2"));
    pio_reader_close(r2);
    /* a payload byte: the record's hash fails (checked reads, verify) */
    uint8_t *h = malloc(len);
    memcpy(h, b, len);
    h[rec + pay + 30] ^= 0x10;
    CHECK(fixture_spit(cut, h, len) == 0);
    free(h);
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = PIO_READER_CHECK_FRAMES;
    CHECK(pio_reader_open(&r, cut, &ro, &e) == 0);
    struct pio_frame f;
    int rc = pio_reader_frame(r, 5, &f, &e);
    CHECKF(rc == PIO_ECHECKSUM && strstr(e.message, "frame 5"), "%d %s", rc, e.message);
    CHECK(pio_reader_verify(r, 1, &e) == PIO_ECHECKSUM);
    pio_reader_close(r);
    free(b);
}

/* One byte flipped at a time, every 13th byte of the file: open or verify
 * says so, every time; recovery never crashes, and after it the file opens
 * and verifies, its frames right but for the record that held the byte. */
static void test_flips(const char *path, const char *copy)
{
    write_file(path, KEY);
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    uint64_t flips = 0, caught = 0, recovered = 0;
    for (size_t at = 5; b && at < len; at += 13) {
        b[at] ^= 0x24;
        CHECK(fixture_spit(copy, b, len) == 0);
        b[at] ^= 0x24;
        flips++;
        struct pio_error e = {0};
        pio_reader *r = NULL;
        if (pio_reader_open(&r, copy, NULL, &e) != 0 || pio_reader_verify(r, 1, &e) != 0)
            caught++;
        pio_reader_close(r);
        struct pio_recover_report rep;
        if (at < HOLO_HEADER_SIZE || pio_holo_recover(copy, &rep, &e) != 0)
            continue;
        CHECKF(pio_reader_open(&r, copy, NULL, &e) == 0, "flip at %zu: %s", at, e.message);
        uint64_t n = r ? pio_reader_nframes(r) : 0, wrong = 0;
        for (uint64_t i = 0; i < n; i++) {
            struct pio_frame f;
            uint64_t off = 0, rl = 0;
            if (pio_reader_frame_extent(r, i, &off, &rl) == 0 && at >= off && at < off + rl)
                continue; /* the damaged record itself */
            wrong += pio_reader_frame(r, i, &f, &e) != 0 || f.index != i ||
                     (f.step % 10 == 0 && f.step / 10 < NF && !frame_ok(&f, (uint64_t)f.step / 10));
        }
        CHECKF(wrong == 0, "flip at %zu: %llu frames wrong after recovery", at,
               (unsigned long long)wrong);
        recovered++;
        pio_reader_close(r);
        TEST_STOP_IF_FLOODED_VOID();
    }
    CHECKF(caught == flips, "%llu of %llu flips caught", (unsigned long long)caught,
           (unsigned long long)flips);
    fprintf(stderr, "%llu flips: all caught, %llu recovered\n", (unsigned long long)flips,
            (unsigned long long)recovered);
    free(b);
}

/* The killed writer: packs, commits every few frames, reports each
 * commit's frame count through the pipe once it returned. */
static void kill_child(const char *path, int fd, int round)
{
    pio_writer *w = create(path, KEY);
    if (!w)
        _exit(2);
    struct pio_error e = {0};
    uint64_t every = (uint64_t)(round % 5) * 7 + 3;
    for (uint64_t i = 0; i < 1000000; i++) {
        if (append(w, i % NF) != 0)
            _exit(3);
        if ((i + 1) % every == 0) {
            if (pio_writer_commit(w, &e) != 0)
                _exit(4);
            uint64_t n = i + 1;
            if (write(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
                _exit(5);
        }
    }
    _exit(0);
}

/* The killed writer's frame i is frame i % NF. */
static bool kill_frame_ok(const struct pio_frame *f, uint64_t i)
{
    return frame_ok(f, i % NF);
}

static void test_kill(const char *path)
{
    uint64_t rng = pio_test_seed((uint64_t)time(NULL)), promised = 0, found = 0;
    for (int round = 0; round < 20; round++) {
        bool killed;
        int64_t last = fixture_kill_round(path, round, &rng, 30000000, kill_child, &killed);
        uint64_t committed = last < 0 ? 0 : (uint64_t)last, n;
        if (!fixture_kill_check(path, round, committed, kill_frame_ok, &n))
            continue;
        promised += committed;
        found += n;
        struct pio_error e = {0};
        pio_reader *r;
        CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
        CHECKF(r && pio_reader_verify(r, 1, &e) == 0, "round %d: after recovery: %s", round,
               e.message);
        pio_reader_close(r);
        TEST_STOP_IF_FLOODED_VOID();
    }
    fprintf(stderr, "20 kills: %llu committed frames all present, %llu found in all\n",
            (unsigned long long)promised, (unsigned long long)found);
}

int main(void)
{
    const char *path = fixture_tmpname("pack"), *other = fixture_tmpname("pack_other");
    test_kill(path); /* forks first, while no worker thread exists */
    test_roundtrip(path, other);
    for (int box = 0; box < 3; box++) /* fixed, orthorhombic, triclinic */
        test_dcd_size(path, false, box);
    if (pio__codec_built())
        test_dcd_size(path, true, 0); /* small compressed blocks (2.1) open as well */
    test_stream_held(path);
    test_append(path, other);
    test_cut(path, other);
    test_hostile(path, other);
    test_flips(path, other);
    unlink(path);
    unlink(other);
    return TEST_RESULT();
}
