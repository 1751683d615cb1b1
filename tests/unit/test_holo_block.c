/*
 * BLOCK records (HOLO 2.1): frames coded together, each from the one
 * before, in atom groups.
 *  - a smooth trajectory (positions lossy, velocities and forces lossless
 *    with NaN, -0.0 and denormals in them) reads back: lossy within
 *    precision/2, lossless bit-exact, random access equal to sequential,
 *    in streams on every engine (checked), through pio_reader_frame_into
 *    and pio_reader_read (atom selections equal slices of full reads);
 *  - blocks are cut by commits, by a change of atom count or arrays, and
 *    hold at most `keyframe` frames; a 0-atom frame goes into a FRAME
 *    record; 1-atom frames block;
 *  - truncation inside a block, then appends; verify passes throughout;
 *  - a file cut anywhere in its last blocks recovers every complete block;
 *  - hostile blocks (payload byte, atom count, group table, payload
 *    length, frame count, each with the record's hash made valid again)
 *    are PIO_ECORRUPT naming the file, frame and offset, never a crash;
 *  - lossy refuses NaN at append (naming frame and atom) and the frames
 *    held before it are written;
 *  - a writer killed (SIGKILL) at random while it writes blocks loses no
 *    committed frame; what the file holds reads back right, recovers,
 *    verifies and takes appends.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "codec/pio_codec.h"
#include "format/holo_layout.h"
#include "holo_fixture.h"

#define PREC  0.001
#define NAT   1000
#define NF    45
#define KEY   8
#define GROUP 96

/* Frame i of the test trajectory: a random walk of small steps (what
 * inter-frame prediction is for), positions within a few nm; velocities
 * with special values; forces on frames whose number is not 13 mod 16. */
struct tframe {
    struct pio_frame f;
    float x[NAT][3], v[NAT][3], fo[NAT][3];
    struct pio_scalar sc[2];
};

static void make_frame(struct tframe *t, uint64_t i, uint64_t natoms)
{
    memset(&t->f, 0, sizeof(t->f));
    for (uint64_t a = 0; a < natoms; a++) {
        for (int c = 0; c < 3; c++) {
            double base = (double)((a * 7919 + (uint64_t)c * 104729) % 5000) * 0.001;
            double walk = 0.05 * sin(0.3 * (double)i + (double)a * 0.7 + c);
            t->x[a][c] = (float)(base + walk);
            t->v[a][c] = (float)(cos((double)(i * natoms + a + (uint64_t)c)) * 2.0);
            t->fo[a][c] = (float)((double)(a + i) * 0.25 - (double)c);
        }
    }
    if (natoms > 3) {
        t->v[1][0] = NAN;
        uint32_t payload = 0x7fc00123u; /* a NaN payload */
        memcpy(&t->v[1][1], &payload, 4);
        t->v[2][0] = -0.0f;
        t->v[3][2] = 1e-42f; /* denormal */
    }
    t->f.natoms = natoms;
    t->f.fields = PIO_FIELD_BOX;
    t->f.step = (int64_t)i * 10;
    t->f.time = (double)i * 0.02;
    for (int k = 0; k < 3; k++)
        t->f.box[k][k] = 5.0 + (i >= 30 ? 0.001 * (double)i : 0.0); /* NPT from frame 30 */
    t->f.positions = (const float(*)[3])t->x;
    t->f.velocities = (const float(*)[3])t->v;
    t->f.forces = i % 16 == 13 ? NULL : (const float(*)[3])t->fo;
    memset(t->sc, 0, sizeof(t->sc));
    strcpy(t->sc[0].name, "potential");
    t->sc[0].value = -1000.0 - (double)i;
    strcpy(t->sc[1].name, "kinetic");
    t->sc[1].value = 300.0 + (double)i;
    t->f.nscalars = 2;
    t->f.scalars = t->sc;
}

/* Atom count of frame i: NAT, then 1 atom for frames 20..22, 0 for 23. */
static uint64_t natoms_of(uint64_t i)
{
    return i >= 20 && i <= 22 ? 1 : i == 23 ? 0 : NAT;
}

static bool same_bits(const float (*a)[3], const float (*b)[3], uint64_t n)
{
    return n == 0 || memcmp(a, b, (size_t)n * 12) == 0;
}

static bool lossy_ok(const float (*got)[3], const float (*want)[3], uint64_t n)
{
    for (uint64_t a = 0; a < n; a++)
        for (int c = 0; c < 3; c++)
            if (fabs((double)got[a][c] - (double)want[a][c]) > PREC / 2 + 1e-6)
                return false;
    return true;
}

static bool frame_ok(const struct pio_frame *f, uint64_t i)
{
    static struct tframe t;
    make_frame(&t, i, natoms_of(i));
    bool ok = f->natoms == t.f.natoms && f->step == t.f.step && f->time == t.f.time &&
              memcmp(f->box, t.f.box, 72) == 0 && f->nscalars == 2 &&
              f->scalars[1].value == t.sc[1].value && !strcmp(f->scalars[0].name, "potential");
    ok = ok && (!f->natoms || lossy_ok(f->positions, t.f.positions, f->natoms)) &&
         (!f->natoms || same_bits(f->velocities, t.f.velocities, f->natoms)) &&
         (!t.f.forces == !f->forces) && (!f->forces || same_bits(f->forces, t.f.forces, f->natoms));
    return ok;
}

/* The test's writer options: positions lossy, the rest lossless. */
static struct pio_writer_options opts(uint32_t keyframe, uint32_t group_atoms)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC;
    o.codec[0] = PIO_CODEC_LOSSY;
    o.codec[1] = o.codec[2] = PIO_CODEC_LOSSLESS;
    o.precision = PREC;
    o.keyframe = keyframe;
    o.group_atoms = group_atoms;
    return o;
}

static pio_writer *create(const char *path, uint32_t keyframe)
{
    unlink(path);
    struct pio_writer_options o = opts(keyframe, GROUP);
    pio_writer *w = NULL;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    return w;
}

static int append(pio_writer *w, uint64_t i)
{
    static struct tframe t;
    make_frame(&t, i, natoms_of(i));
    struct pio_error e = {0};
    int rc = pio_writer_append(w, &t.f, &e);
    CHECKF(rc == 0, "append %llu: %s", (unsigned long long)i, e.message);
    return rc;
}

/* Frames 0 .. NF-1, a commit after frame 11 (cuts a block). */
static void write_file(const char *path)
{
    pio_writer *w = create(path, KEY);
    struct pio_error e = {0};
    for (uint64_t i = 0; i < NF; i++) {
        append(w, i);
        if (i == 11)
            CHECK(pio_writer_commit(w, &e) == 0);
        CHECK(pio_writer_nframes(w) == i + 1);
    }
    CHECK(pio_writer_close(w, &e) == 0);
}

/* The blocks as pio_reader_frame_block sees them. */
static void check_blocks(pio_reader *r)
{
    /* [first, count): 0-7, 8-11 (commit), 12-19, 20-22 (1 atom), 23 (0
     * atoms: a FRAME record), 24-28 (frame 29 drops forces), 29, 30-... */
    uint64_t i = 0, nb = 0;
    while (i < pio_reader_nframes(r)) {
        uint64_t first;
        uint32_t k;
        CHECK(pio_reader_frame_block(r, i, &first, &k) == 0 && first == i && k >= 1 && k <= KEY);
        for (uint32_t j = 1; j < k; j++) {
            uint64_t f2;
            uint32_t k2;
            CHECK(pio_reader_frame_block(r, i + j, &f2, &k2) == 0 && f2 == i && k2 == k);
        }
        if (i == 0)
            CHECK(k == KEY);
        if (i == 8)
            CHECK(k == 4); /* the commit after frame 11 ended it */
        if (i <= 23 && i + k > 23)
            CHECK(i == 23 && k == 1); /* 0 atoms: alone */
        if (i <= 20 && i + k > 20)
            CHECK(i == 20 && k == 3); /* the atom count changed at 20 and 23 */
        i += k;
        nb++;
    }
    CHECK(nb >= 8);
}

static void test_roundtrip(const char *path)
{
    write_file(path);
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    CHECK(holo_rd64(b + 16) == (HOLO_REQ_ZSTD | HOLO_REQ_BLOCK) && b[10] == 1); /* 2.1 */
    free(b);
    struct pio_error e = {0};
    pio_reader *r;
    CHECKF(pio_reader_open(&r, path, NULL, &e) == 0, "%s", e.message);
    CHECK(pio_reader_nframes(r) == NF);
    check_blocks(r);
    for (uint64_t i = 0; i < NF; i++) {
        struct pio_frame f;
        CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i), "frame %llu: %s",
               (unsigned long long)i, e.message);
    }
    /* random order: every frame equal to its sequential read */
    uint64_t st = 5;
    for (int k = 0; k < 200; k++) {
        uint64_t i = pio_test_rand(&st) % NF;
        struct pio_frame f;
        CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i), "random frame %llu",
               (unsigned long long)i);
    }
    /* the last 16 frames decoded on this thread stay valid */
    struct pio_frame held[16];
    for (uint64_t i = 0; i < 16; i++)
        CHECK(pio_reader_frame(r, NF - 1 - i, &held[i], &e) == 0);
    for (uint64_t i = 0; i < 16; i++)
        CHECK(frame_ok(&held[i], NF - 1 - i));
    /* streams, checked, every engine the build has; views held across
     * blocks stay intact */
    for (int eng = PIO_IO_MMAP; eng <= PIO_IO_URING; eng++) {
        struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
        so.flags = PIO_STREAM_VERIFY;
        so.engine = (uint32_t)eng;
        pio_frame_stream *s;
        CHECK(pio_frame_stream_open(&s, r, NULL, 0, &so, &e) == 0);
        struct pio_frame f[12];
        uint64_t n = 0;
        int rc;
        while ((rc = pio_frame_stream_next(s, &f[n % 12], &e)) == 1) {
            CHECKF(frame_ok(&f[n % 12], n), "stream (engine %d): frame %llu", eng,
                   (unsigned long long)n);
            if (n >= 10) {
                CHECK(frame_ok(&f[(n - 10) % 12], n - 10));
                pio_frame_stream_release(s, &f[(n - 10) % 12]);
            }
            n++;
        }
        CHECKF(rc == 0 && n == NF, "stream (engine %d): %d after %llu: %s", eng, rc,
               (unsigned long long)n, e.message);
        for (uint64_t k = n >= 10 ? n - 10 : 0; k < n; k++)
            pio_frame_stream_release(s, &f[k % 12]);
        pio_frame_stream_close(s);
    }
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "verify: %s", e.message);

    /* into the caller's buffers; selections equal slices of full reads */
    static float full[3][NAT][3], part[3][8 * NAT][3];
    float(*const fx[3])[3] = {full[0], full[1], full[2]};
    for (uint64_t i = 0; i < NF; i++) {
        struct pio_frame f;
        CHECKF(pio_reader_frame_into(r, i, fx, NAT, &f, &e) == 0 && frame_ok(&f, i),
               "frame_into %llu: %s", (unsigned long long)i, e.message);
    }
    /* one array at a time from a short block, then a longer one: each of
     * the thread's cached arrays is sized for the block it decodes */
    static const uint64_t order[] = {44, 0, 38, 14, 44, 8, 30};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        struct pio_frame f;
        float(*const vo[3])[3] = {NULL, full[1], NULL};
        CHECK(pio_reader_frame_into(r, order[k], vo, NAT, &f, &e) == 0);
        CHECK(pio_reader_frame_into(r, order[k], fx, NAT, &f, &e) == 0 && frame_ok(&f, order[k]));
    }
    static const uint64_t sel[] = {0, 5, 95, 96, 97, 500, 501, 998, 999};
    const uint64_t nsel = sizeof(sel) / sizeof(sel[0]);
    for (uint64_t first = 0; first + 8 <= 20; first += 3) {
        float(*const px[3])[3] = {part[0], part[1], NULL};
        CHECKF(pio_reader_read(r, first, 8, sel, nsel, px, &e) == 0, "read %llu: %s",
               (unsigned long long)first, e.message);
        for (uint64_t i = first; i < first + 8; i++) {
            struct pio_frame f;
            CHECK(pio_reader_frame_into(r, i, fx, NAT, &f, &e) == 0);
            for (uint64_t j = 0; j < nsel; j++) {
                CHECK(memcmp(part[0][(i - first) * nsel + j], full[0][sel[j]], 12) == 0);
                CHECK(memcmp(part[1][(i - first) * nsel + j], full[1][sel[j]], 12) == 0);
            }
        }
    }
    /* whole frames over whole and cut blocks (a whole block is decoded
     * straight into the caller's rows; a cut one through the cache) */
    static float many[20][NAT][3], manyv[20][NAT][3];
    static const uint64_t spans[][2] = {{0, 20}, {2, 15}, {8, 4}, {14, 6}};
    for (size_t k = 0; k < sizeof(spans) / sizeof(spans[0]); k++) {
        uint64_t a0 = spans[k][0], cnt = spans[k][1];
        float(*const mx[3])[3] = {many[0], manyv[0], NULL};
        CHECKF(pio_reader_read(r, a0, cnt, NULL, NAT, mx, &e) == 0, "read %llu+%llu: %s",
               (unsigned long long)a0, (unsigned long long)cnt, e.message);
        for (uint64_t i = a0; i < a0 + cnt; i++) {
            struct pio_frame f;
            CHECK(pio_reader_frame_into(r, i, fx, NAT, &f, &e) == 0);
            CHECKF(memcmp(many[i - a0], full[0], sizeof(many[0])) == 0 &&
                       memcmp(manyv[i - a0], full[1], sizeof(manyv[0])) == 0,
                   "read %llu+%llu: frame %llu differs", (unsigned long long)a0,
                   (unsigned long long)cnt, (unsigned long long)i);
        }
    }
    /* a contiguous range (atoms NULL): the first 200 atoms */
    float(*const pos_only[3])[3] = {part[0], NULL, NULL};
    CHECK(pio_reader_read(r, 30, 5, NULL, 200, pos_only, &e) == 0);
    for (uint64_t i = 30; i < 35; i++) {
        struct pio_frame f;
        CHECK(pio_reader_frame_into(r, i, fx, NAT, &f, &e) == 0 &&
              memcmp(part[0][(i - 30) * 200], full[0][0], 200 * 12) == 0);
    }
    /* refusals */
    static const uint64_t bad_order[] = {5, 3};
    CHECK(pio_reader_read(r, 0, 1, bad_order, 2, pos_only, &e) == PIO_EUSAGE);
    static const uint64_t too_far[] = {NAT};
    CHECK(pio_reader_read(r, 0, 1, too_far, 1, pos_only, &e) == -ERANGE);
    CHECK(pio_reader_read(r, NF - 1, 2, NULL, 1, pos_only, &e) == -ERANGE);
    float(*const force_only[3])[3] = {NULL, NULL, part[2]};
    CHECK(pio_reader_read(r, 29, 1, NULL, 1, force_only, &e) == -ENOENT &&
          strstr(e.message, "frame 29") && strstr(e.message, "forces"));
    pio_reader_close(r);

    /* appends continue in blocks; a frame lossy cannot hold is refused by
     * frame and atom, and the frames held before it are written */
    struct pio_writer_options o = opts(0, 0);
    pio_writer *w;
    CHECKF(pio_writer_open_append(&w, path, &o, &e) == 0, "%s", e.message);
    for (uint64_t i = NF; i < NF + 4; i++) /* 45 has no forces: alone; 46..48 a block */
        append(w, i);
    static struct tframe t;
    make_frame(&t, NF + 4, NAT);
    t.x[7][2] = NAN;
    int rc = pio_writer_append(w, &t.f, &e);
    CHECKF(rc == PIO_ELIMIT && strstr(e.message, "frame 49") && strstr(e.message, "atom 7"),
           "NaN: %d %s", rc, e.message);
    CHECK(pio_writer_nframes(w) == NF + 4);
    CHECK(pio_writer_close(w, &e) == 0);
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0 && pio_reader_nframes(r) == NF + 4);
    uint64_t first;
    uint32_t k;
    CHECKF(pio_reader_frame_block(r, NF + 2, &first, &k) == 0 && first == NF + 1 && k == 3,
           "%llu+%u", (unsigned long long)first, k);
    for (uint64_t i = 0; i < NF + 4; i++) {
        struct pio_frame f;
        CHECK(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i));
    }
    CHECK(pio_reader_verify(r, 1, &e) == 0);
    pio_reader_close(r);
}

static void test_truncate(const char *path)
{
    write_file(path);
    struct pio_error e = {0};
    pio_writer *w;
    struct pio_writer_options o = opts(0, GROUP);
    CHECK(pio_writer_open_append(&w, path, &o, &e) == 0);
    CHECKF(pio_writer_truncate(w, 5, &e) == 0, "%s", e.message); /* inside the first block */
    for (uint64_t i = 5; i < 15; i++) /* other values than the frames dropped */
        append(w, i + 100);
    CHECK(pio_writer_close(w, &e) == 0);
    pio_reader *r;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0 && pio_reader_nframes(r) == 15);
    for (uint64_t i = 0; i < 15; i++) {
        struct pio_frame f;
        CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i < 5 ? i : i + 100),
               "truncated %llu: %s", (unsigned long long)i, e.message);
    }
    uint64_t first;
    uint32_t k;
    CHECK(pio_reader_frame_block(r, 4, &first, &k) == 0 && first == 0 && k == KEY);
    CHECK(pio_reader_frame_block(r, 5, &first, &k) == 0 && first == 5);
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "verify after truncation: %s", e.message);
    /* a read of every frame: the truncated block's first frames, then the
     * new records that replaced the rest of it */
    static float rows[15][NAT][3], one[NAT][3];
    float(*const rx[3])[3] = {rows[0], NULL, NULL};
    CHECKF(pio_reader_read(r, 0, 15, NULL, NAT, rx, &e) == 0, "%s", e.message);
    for (uint64_t i = 0; i < 15; i++) {
        struct pio_frame f;
        float(*const ox[3])[3] = {one, NULL, NULL};
        CHECK(pio_reader_frame_into(r, i, ox, NAT, &f, &e) == 0);
        CHECKF(memcmp(rows[i], one, sizeof(one)) == 0, "read after truncation: frame %llu",
               (unsigned long long)i);
    }
    uint64_t off12, len12;
    CHECK(pio_reader_frame_extent(r, 12, &off12, &len12) == 0);
    pio_reader_close(r);
    /* frame 12's record damaged (its hash field): with PIO_READER_CHECK_FRAMES
     * it fails even after frames of the truncated block before it were
     * checked (they name another record) */
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    b[off12 + HOLO_HASH_OFF] ^= 1;
    const char *dmg = fixture_tmpname("block_dmg");
    CHECK(fixture_spit(dmg, b, len) == 0);
    free(b);
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = PIO_READER_CHECK_FRAMES;
    CHECK(pio_reader_open(&r, dmg, &ro, &e) == 0);
    struct pio_frame f;
    CHECK(pio_reader_frame(r, 4, &f, &e) == 0 && frame_ok(&f, 4));
    CHECK(pio_reader_frame(r, 12, &f, &e) == PIO_ECHECKSUM && strstr(e.message, "frame 12"));
    pio_reader_close(r);
    unlink(dmg);
    /* and recovery of the truncated file agrees */
    struct pio_recover_report rep;
    CHECK(pio_holo_recover(path, &rep, &e) == 0);
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0 && pio_reader_nframes(r) == 15);
    CHECK(pio_reader_verify(r, 1, &e) == 0);
    pio_reader_close(r);
}

/* The test file written, its bytes, and the record holding `frame`. */
static uint8_t *written(const char *path, uint64_t frame, size_t *len, uint64_t *off,
                        uint64_t *rlen)
{
    write_file(path);
    uint8_t *b = fixture_slurp(path, len);
    struct pio_error e = {0};
    pio_reader *r;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    CHECK(pio_reader_frame_extent(r, frame, off, rlen) == 0);
    pio_reader_close(r);
    return b;
}

/* A file cut anywhere in its last blocks: recovery keeps every frame of
 * the complete blocks before the cut. */
static void test_cut(const char *path, const char *cut)
{
    size_t len = 0;
    uint64_t off30, l30;
    uint8_t *b = written(path, 30, &len, &off30, &l30);
    struct pio_error e = {0};
    pio_reader *r;
    for (size_t c = len - 1; c > off30; c -= 997) {
        CHECK(fixture_spit(cut, b, c) == 0);
        struct pio_recover_report rep;
        CHECKF(pio_holo_recover(cut, &rep, &e) == 0, "cut at %zu: %s", c, e.message);
        CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
        uint64_t n = pio_reader_nframes(r);
        CHECKF(n >= 30 && n <= NF, "cut at %zu: %llu frames", c, (unsigned long long)n);
        uint64_t first;
        uint32_t k;
        if (n > 0 && n < NF) /* ends on a block's end */
            CHECK(pio_reader_frame_block(r, n - 1, &first, &k) == 0 && first + k == n);
        for (uint64_t i = 0; i < n; i++) {
            struct pio_frame f;
            CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i),
                   "cut at %zu, frame %llu: %s", c, (unsigned long long)i, e.message);
        }
        CHECKF(pio_reader_verify(r, 1, &e) == 0, "cut at %zu: %s", c, e.message);
        pio_reader_close(r);
    }
    free(b);
}

/* Change the block record holding frame 2 of `b` (a copy of the file),
 * rehash it, and read frame 2: PIO_ECORRUPT naming file, frame, offset. */
static void expect_corrupt(const char *cut, const uint8_t *orig, size_t len, uint64_t rec,
                           uint64_t at, uint64_t value, int width, const char *what)
{
    uint8_t *h = malloc(len);
    memcpy(h, orig, len);
    uint64_t rlen = holo_rd64(h + rec + 8);
    if (width == 8)
        holo_wr64(h + rec + at, value);
    else if (width == 4)
        holo_wr32(h + rec + at, (uint32_t)value);
    else
        h[rec + at] ^= (uint8_t)value;
    pio__holo_record_hash(h + rec, rlen, 1, h + rec + HOLO_HASH_OFF);
    CHECK(fixture_spit(cut, h, len) == 0);
    free(h);
    struct pio_error e = {0};
    pio_reader *r;
    CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
    struct pio_frame f;
    int rc = pio_reader_frame(r, 2, &f, &e);
    CHECKF(rc == PIO_ECORRUPT && strstr(e.message, cut) && strstr(e.message, "frame 2") &&
               strstr(e.message, "offset 0x"),
           "%s: %d %s", what, rc, e.message);
    static float buf[NAT][3];
    float(*const x[3])[3] = {buf, NULL, NULL};
    static const uint64_t one[] = {500};
    CHECK(pio_reader_read(r, 2, 1, one, 1, x, &e) == PIO_ECORRUPT);
    CHECK(pio_reader_frame(r, 10, &f, &e) == 0 && frame_ok(&f, 10)); /* another block */
    CHECK(pio_reader_verify(r, 1, &e) != 0 || strcmp(what, "payload byte") == 0);
    pio_reader_close(r);
}

static void test_hostile(const char *path, const char *cut)
{
    size_t len = 0;
    uint64_t rec, rlen;
    uint8_t *b = written(path, 2, &len, &rec, &rlen);
    struct holo_block blk;
    CHECK(pio__holo_parse_block("", b + rec, rlen, rec, 0, 2, &blk, NULL) == 0);
    CHECK(blk.nframes == KEY && blk.ngroups == (NAT + GROUP - 1) / GROUP && blk.narrays == 3);
    uint64_t groups = (uint64_t)(blk.groups - b - rec), table = (uint64_t)(blk.payloads - b - rec);
    uint64_t plen;
    uint64_t pay = (uint64_t)(holo_block_payload(&blk, 0, 5, &plen) - b - rec); /* atoms 480.. */
    expect_corrupt(cut, b, len, rec, pay + plen / 2, 0x40, 1, "payload byte");
    expect_corrupt(cut, b, len, rec, 72, 0x7fffffff, 8, "atom count");
    expect_corrupt(cut, b, len, rec, 64, 0x7fffffff, 4, "frame count");
    expect_corrupt(cut, b, len, rec, 84, 1, 4, "group count");
    expect_corrupt(cut, b, len, rec, groups + 16 + 8, GROUP + 1, 8, "group size");
    expect_corrupt(cut, b, len, rec, table + 5 * 16 + 8, 1u << 30, 8, "payload length");
    expect_corrupt(cut, b, len, rec, table + 5 * 16, pay + 64, 8, "payload offset");
    expect_corrupt(cut, b, len, rec, 88, 0, 4, "positions not coded");
    expect_corrupt(cut, b, len, rec, 104, 0, 8, "precision");
    expect_corrupt(cut, b, len, rec, 80, 0x80000000u, 4, "scalar count");
    expect_corrupt(cut, b, len, rec, 64, 8192, 4, "frame count 8192");

    /* a copy of the file (same salt, offsets and stored hashes) whose block
     * payload is damaged: read after the original, it is decoded afresh
     * (no cache serves it the original's values) and fails */
    struct pio_error e = {0};
    pio_reader *a, *c;
    uint8_t *h = malloc(len);
    memcpy(h, b, len);
    h[rec + pay + plen / 2] ^= 0x40;
    CHECK(fixture_spit(cut, h, len) == 0);
    free(h);
    CHECK(pio_reader_open(&a, path, NULL, &e) == 0 && pio_reader_open(&c, cut, NULL, &e) == 0);
    struct pio_frame f;
    CHECK(pio_reader_frame(a, 2, &f, &e) == 0 && frame_ok(&f, 2));
    CHECK(pio_reader_frame(c, 2, &f, &e) == PIO_ECORRUPT);
    pio_reader_close(a);
    pio_reader_close(c);
    free(b);
}

static void test_refusals(const char *path)
{
    struct pio_error e = {0};
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
    o.keyframe = 8; /* compressed blocks with raw positions (no codec at all: packing, 2.2) */
    o.codec[1] = PIO_CODEC_LOSSLESS;
    pio_writer *w;
    CHECK(pio_writer_create(&w, path, &o, &e) == PIO_EUSAGE && strstr(e.message, "keyframe"));
    o.codec[1] = 0;
    /* a 2.0 compressed file (keyframe 1) takes no blocks when appended to */
    o.codec[0] = PIO_CODEC_LOSSY;
    o.keyframe = 1;
    CHECK(pio_writer_create(&w, path, &o, &e) == 0);
    append(w, 0);
    CHECK(pio_writer_close(w, &e) == 0);
    o.flags = PIO_WRITER_NO_SYNC;
    o.keyframe = 4;
    CHECK(pio_writer_open_append(&w, path, &o, &e) == PIO_EUSAGE &&
          strstr(e.message, "without BLOCK"));
    o.keyframe = 0; /* default: FRAME records, as the file has */
    CHECK(pio_writer_open_append(&w, path, &o, &e) == 0);
    append(w, 1);
    append(w, 2);
    CHECK(pio_writer_close(w, &e) == 0);
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    CHECK(b && holo_rd64(b + 16) == HOLO_REQ_ZSTD && b[10] == 0); /* still 2.0 */
    free(b);
}

/* Streams that check hashes catch a damaged record whichever engine reads
 * it (pread and io_uring reuse their buffers: a record read into the
 * address of one checked before is checked all the same), and a frame
 * listed twice in a row is two views, each valid until its release. */
static void test_stream_checks(const char *path, const char *cut)
{
    size_t len = 0;
    uint64_t rec, rlen;
    uint8_t *b = written(path, 30, &len, &rec, &rlen); /* block 30..37 */
    b[rec + HOLO_HASH_OFF] ^= 1;
    CHECK(fixture_spit(cut, b, len) == 0);
    free(b);
    struct pio_error e = {0};
    pio_reader *r;
    CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
    for (int eng = PIO_IO_MMAP; eng <= PIO_IO_URING; eng++) {
        for (int nc = 0; nc < 2; nc++) {
            struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
            so.flags = PIO_STREAM_VERIFY | (nc ? PIO_STREAM_NO_COALESCE : 0);
            so.engine = (uint32_t)eng;
            so.queue_depth = 2;
            pio_frame_stream *s;
            CHECK(pio_frame_stream_open(&s, r, NULL, 0, &so, &e) == 0);
            struct pio_frame f;
            int rc;
            uint64_t bad = 0, good = 0;
            while ((rc = pio_frame_stream_next(s, &f, &e)) != 0) {
                if (rc == 1) {
                    CHECKF(f.index < 30 || f.index > 37, "engine %d: damaged frame %llu delivered",
                           eng, (unsigned long long)f.index);
                    good++;
                    pio_frame_stream_release(s, &f);
                } else {
                    CHECK(rc == PIO_ECHECKSUM);
                    bad++;
                }
            }
            CHECKF(bad == 8 && good == NF - 8, "engine %d: %llu damaged, %llu good", eng,
                   (unsigned long long)bad, (unsigned long long)good);
            pio_frame_stream_close(s);
        }
    }
    pio_reader_close(r);

    /* raw frames, one listed twice in a row, views held across reads */
    pio_writer *w = fixture_writer(path);
    CHECK(w && fixture_append(w, 0, 6, 5, false, 3000) == 0 && pio_writer_close(w, &e) == 0);
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    static const uint64_t list[] = {0, 0, 1, 2, 2, 3};
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.flags = PIO_STREAM_NO_COALESCE;
    so.engine = PIO_IO_PREAD;
    so.queue_depth = 2;
    pio_frame_stream *s;
    CHECK(pio_frame_stream_open(&s, r, list, 6, &so, &e) == 0);
    struct pio_frame v[6];
    for (int k = 0; k <= 6; k++) {
        if (k < 6)
            CHECK(pio_frame_stream_next(s, &v[k], &e) == 1 && v[k].index == list[k]);
        if (k == 0)
            continue;
        /* the view before, held while this one was read, is still right */
        struct fixture_frame ff;
        fixture_make(&ff, list[k - 1], 5, false, 3000);
        CHECKF(fixture_equal(&v[k - 1], &ff), "view %d (frame %llu)", k - 1,
               (unsigned long long)list[k - 1]);
        fixture_free(&ff);
        pio_frame_stream_release(s, &v[k - 1]);
    }
    pio_frame_stream_close(s);
    pio_reader_close(r);
}

/* Let path grow by less than a block from now on (as a full disk would):
 * the old limit and SIGXFSZ handler, for putting them back. */
static void (*limit_growth(const char *path, struct rlimit *old))(int)
{
    struct stat st;
    CHECK(stat(path, &st) == 0);
    struct rlimit lim;
    CHECK(getrlimit(RLIMIT_FSIZE, old) == 0);
    lim = *old;
    lim.rlim_cur = (rlim_t)st.st_size + 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    return prev;
}

static pio_writer *create_salted(const char *path, unsigned threads)
{
    static const uint8_t salt[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    unlink(path);
    struct pio_writer_options o = opts(KEY, GROUP);
    o.salt = salt;
    o.hash_threads = threads;
    pio_writer *w = NULL;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    return w;
}

/* pio_writer_append_many codes full blocks together on the pool: the file
 * is byte-identical to one appended frame by frame (same salt), batches
 * crossing blocks, shape changes and a commit; a block whose write fails
 * keeps its frames held (pio_writer_nframes counts them) and a later
 * close writes them. */
static void test_append_many(const char *path, const char *cut)
{
    static struct tframe fr[NF];
    static struct pio_frame f[NF];
    for (uint64_t i = 0; i < NF; i++) {
        make_frame(&fr[i], i, natoms_of(i));
        f[i] = fr[i].f;
    }
    struct pio_error e = {0};
    pio_writer *w = create_salted(path, 1);
    for (uint64_t i = 0; i < NF; i++) {
        CHECK(pio_writer_append(w, &f[i], &e) == 0);
        if (i == 11)
            CHECK(pio_writer_commit(w, &e) == 0);
    }
    CHECK(pio_writer_close(w, &e) == 0);
    w = create_salted(cut, 4);
    CHECKF(pio_writer_append_many(w, f, 12, &e) == 0, "%s", e.message);
    CHECK(pio_writer_commit(w, &e) == 0);
    for (uint64_t i = 12; i < NF; i += 10) {
        size_t m = NF - i < 10 ? (size_t)(NF - i) : 10;
        CHECKF(pio_writer_append_many(w, f + i, m, &e) == 0, "frames %llu+: %s",
               (unsigned long long)i, e.message);
        CHECK(pio_writer_nframes(w) == i + m);
    }
    CHECK(pio_writer_close(w, &e) == 0);
    size_t la = 0, lb = 0;
    uint8_t *a = fixture_slurp(path, &la), *b = fixture_slurp(cut, &lb);
    CHECKF(a && b && la == lb && memcmp(a, b, la) == 0,
           "append_many's file differs from appends' (%zu, %zu bytes)", la, lb);
    free(a);
    free(b);

    /* a write refused: frames 30 .. 37 queued (one shape from 30 on), 38
     * .. 44 held when the call's end writes the queue */
    w = create_salted(cut, 4);
    CHECK(pio_writer_append_many(w, f, 30, &e) == 0 && pio_writer_commit(w, &e) == 0);
    struct rlimit old;
    void (*prev)(int) = limit_growth(cut, &old);
    int rc = pio_writer_append_many(w, f + 30, NF - 30, &e);
    CHECKF(rc != 0 && pio_writer_nframes(w) == NF, "write refused: %d, %llu frames", rc,
           (unsigned long long)pio_writer_nframes(w));
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, prev);
    rc = pio_writer_close(w, &e);
    pio_reader *r = NULL;
    CHECKF(rc == 0 && pio_reader_open(&r, cut, NULL, &e) == 0, "%d %s", rc, e.message);
    CHECKF(r && pio_reader_nframes(r) == NF, "%llu frames",
           (unsigned long long)(r ? pio_reader_nframes(r) : 0));
    for (uint64_t i = 0; r && i < pio_reader_nframes(r); i++) {
        struct pio_frame g;
        CHECK(pio_reader_frame(r, i, &g, &e) == 0 && frame_ok(&g, i));
    }
    CHECK(r && pio_reader_verify(r, 1, &e) == 0);
    pio_reader_close(r);
}

/* append_many after refused writes, queue full (2 threads: 2 blocks): the
 * queue never overruns, a frame that finds it full and unwritable is not
 * held, and once writes succeed every frame held reaches the file in
 * order. A frame refused mid-batch (lossy cannot hold NaN) still lets the
 * complete blocks before it be written, as appends one by one would. */
static void test_append_many_resume(const char *path, const char *cut)
{
    static struct tframe fr[15]; /* frames 30 .. 44: one shape */
    static struct pio_frame f[64];
    uint64_t want[64], nwant = 0;
    for (int k = 0; k < 15; k++)
        make_frame(&fr[k], 30 + (uint64_t)k, NAT);
    for (int k = 0; k < 64; k++)
        f[k] = fr[k % 15].f;
    struct pio_error e = {0};
    pio_writer *w = create_salted(path, 2);
    CHECK(pio_writer_append_many(w, f, 8, &e) == 0 && pio_writer_commit(w, &e) == 0);
    for (int k = 0; k < 8; k++)
        want[nwant++] = (uint64_t)k;
    struct rlimit old;
    void (*prev)(int) = limit_growth(path, &old);
    /* two full blocks queued, refused: held */
    CHECK(pio_writer_append_many(w, f + 8, 16, &e) != 0 && pio_writer_nframes(w) == 24);
    for (int k = 8; k < 24; k++)
        want[nwant++] = (uint64_t)k;
    /* the queue is full and still refused: 7 frames held, the 8th not */
    CHECK(pio_writer_append_many(w, f + 24, 16, &e) != 0);
    CHECKF(pio_writer_nframes(w) == 31, "%llu frames", (unsigned long long)pio_writer_nframes(w));
    for (int k = 24; k < 31; k++)
        want[nwant++] = (uint64_t)k;
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, prev);
    CHECKF(pio_writer_append_many(w, f + 32, 9, &e) == 0, "%s", e.message);
    for (int k = 32; k < 41; k++)
        want[nwant++] = (uint64_t)k;
    CHECK(pio_writer_nframes(w) == nwant && pio_writer_close(w, &e) == 0);
    pio_reader *r;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    CHECKF(pio_reader_nframes(r) == nwant, "%llu frames",
           (unsigned long long)pio_reader_nframes(r));
    for (uint64_t i = 0; i < pio_reader_nframes(r) && i < nwant; i++) {
        struct pio_frame g;
        CHECKF(pio_reader_frame(r, i, &g, &e) == 0 && frame_ok(&g, 30 + want[i] % 15), "frame %llu",
               (unsigned long long)i);
    }
    CHECK(pio_reader_verify(r, 1, &e) == 0);
    pio_reader_close(r);

    /* a NaN at the 12th frame of a batch: the first block is on disk (a
     * copy of the file as a crash would leave it recovers it) */
    static struct tframe nanf;
    make_frame(&nanf, 30, NAT);
    nanf.x[5][1] = NAN;
    f[11] = nanf.f;
    w = create_salted(path, 4);
    CHECK(pio_writer_append_many(w, f, 16, &e) == PIO_ELIMIT && pio_writer_nframes(w) == 11);
    size_t len = 0;
    uint8_t *b = fixture_slurp(path, &len);
    CHECK(b && fixture_spit(cut, b, len) == 0);
    free(b);
    struct pio_recover_report rep;
    CHECKF(pio_holo_recover(cut, &rep, &e) == 0, "%s", e.message);
    CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
    CHECKF(pio_reader_nframes(r) == 8, "after the refused frame, %llu frames on disk",
           (unsigned long long)pio_reader_nframes(r));
    pio_reader_close(r);
    CHECK(pio_writer_close(w, &e) == 0);
    f[11] = fr[11].f;
}

/* A block whose write fails (the file size limit, as a full disk would):
 * the append that filled it fails, the frames held before it stay held,
 * and once the limit is lifted a commit writes them. */
static void test_write_failure(const char *path)
{
    pio_writer *w = create(path, 4);
    struct pio_error e = {0};
    append(w, 0); /* 0 .. 3 fill the first block: written */
    append(w, 1);
    append(w, 2);
    append(w, 3);
    CHECK(pio_writer_commit(w, &e) == 0);
    struct rlimit old;
    void (*prev)(int) = limit_growth(path, &old);
    static struct tframe t;
    for (uint64_t i = 4; i < 7; i++) {
        make_frame(&t, i, natoms_of(i));
        CHECK(pio_writer_append(w, &t.f, &e) == 0); /* held */
    }
    make_frame(&t, 7, natoms_of(7));
    int rc = pio_writer_append(w, &t.f, &e);
    CHECKF(rc != 0 && pio_writer_nframes(w) == 7, "full block, write refused: %d, %llu frames", rc,
           (unsigned long long)pio_writer_nframes(w));
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, prev);
    rc = pio_writer_close(w, &e);
    pio_reader *r;
    CHECKF(rc == 0 && pio_reader_open(&r, path, NULL, &e) == 0, "%d %s", rc, e.message);
    CHECKF(r && pio_reader_nframes(r) == 7, "%llu frames",
           (unsigned long long)pio_reader_nframes(r));
    for (uint64_t i = 0; r && i < pio_reader_nframes(r); i++) {
        struct pio_frame f;
        CHECK(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i));
    }
    CHECK(r && pio_reader_verify(r, 1, &e) == 0);
    pio_reader_close(r);
}

/* A damaged block in an uncommitted tail: recovery names the block for
 * each of its frames (reading them fails on the block's checks), keeps the
 * blocks around it, and verify reports the damage at the block. */
static void test_damaged_block(const char *path, const char *cut)
{
    size_t len = 0;
    uint64_t rec, rlen, last, lastlen;
    uint8_t *b = written(path, 16, &len, &rec, &rlen); /* block 14..19 */
    struct pio_error e = {0};
    pio_reader *r;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    CHECK(pio_reader_frame_extent(r, NF - 1, &last, &lastlen) == 0);
    pio_reader_close(r);
    size_t keep = (size_t)(last + lastlen); /* the frames, not the last commit */
    b[rec + rlen / 2] ^= 0x5a;
    CHECK(fixture_spit(cut, b, keep) == 0);
    free(b);
    struct pio_recover_report rep;
    CHECKF(pio_holo_recover(cut, &rep, &e) == 0, "%s", e.message);
    CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
    CHECKF(pio_reader_nframes(r) == NF, "%llu frames", (unsigned long long)pio_reader_nframes(r));
    for (uint64_t i = 0; i < pio_reader_nframes(r); i++) {
        struct pio_frame f;
        uint64_t o, l;
        CHECK(pio_reader_frame_extent(r, i, &o, &l) == 0);
        if (i >= 14 && i < 20) {
            CHECKF(o == rec && l == rlen, "damaged block's frame %llu at 0x%llx",
                   (unsigned long long)i, (unsigned long long)o);
            CHECK(pio_reader_verify_frame(r, i, &e) == PIO_ECHECKSUM);
        } else {
            CHECKF(pio_reader_frame(r, i, &f, &e) == 0 && frame_ok(&f, i), "frame %llu: %s",
                   (unsigned long long)i, e.message);
        }
    }
    int rc = pio_reader_verify(r, 1, &e);
    CHECKF(rc == PIO_ECHECKSUM && strstr(e.message, "frame 14") && strstr(e.message, "block"),
           "verify: %d %s", rc, e.message);
    pio_reader_close(r);
}

/* 2^20 atoms at up to +-1e6 nm: blocks are cut to stay under 64 MiB per
 * array (5 frames), decoded on the pool, every value within precision/2,
 * and a selection of a few atoms equal to the full read's. */
static void test_large(const char *path)
{
    enum { N = 1 << 20, F = 7 };
    float(*x)[3] = malloc((size_t)N * F * 12), (*got)[3] = malloc((size_t)N * 12);
    CHECK(x && got);
    if (!x || !got) {
        free(x);
        free(got);
        return;
    }
    uint64_t st = 99;
    for (size_t k = 0; k < (size_t)N * F; k++)
        for (int c = 0; c < 3; c++)
            x[k][c] =
                (float)((double)(pio_test_rand(&st) % 2000001) - 1e6) * (k % 3 == 0 ? 1.0f : 1e-3f);
    pio_writer *w = create(path, 0); /* default: 32, cut to 5 by the size */
    struct pio_error e = {0};
    for (int t = 0; w && t < F; t++) {
        struct pio_frame f = {0};
        f.natoms = N;
        f.step = t;
        f.positions = (const float(*)[3])(x + (size_t)t * N);
        CHECKF(pio_writer_append(w, &f, &e) == 0, "%s", e.message);
    }
    CHECK(w && pio_writer_close(w, &e) == 0);
    pio_reader *r;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    uint64_t first;
    uint32_t k;
    CHECK(pio_reader_frame_block(r, 0, &first, &k) == 0 && k == 5);
    CHECK(pio_reader_frame_block(r, 6, &first, &k) == 0 && first == 5 && k == 2);
    for (int t = 0; t < F; t++) {
        float(*const xyz[3])[3] = {got, NULL, NULL};
        CHECK(pio_reader_read(r, (uint64_t)t, 1, NULL, N, xyz, &e) == 0);
        double worst = 0;
        for (size_t a = 0; a < N; a++)
            for (int c = 0; c < 3; c++)
                worst = fmax(worst, fabs((double)got[a][c] - (double)x[(size_t)t * N + a][c]));
        CHECKF(worst <= PREC / 2 + 1e-9, "frame %d: error %g", t, worst);
        static const uint64_t sel[] = {0, 4095, 4096, 700000, N - 1};
        float part[5][3];
        float(*const px[3])[3] = {part, NULL, NULL};
        CHECK(pio_reader_read(r, (uint64_t)t, 1, sel, 5, px, &e) == 0);
        for (int j = 0; j < 5; j++)
            CHECK(memcmp(part[j], got[sel[j]], 12) == 0);
    }
    CHECK(pio_reader_verify(r, 0, &e) == 0);
    pio_reader_close(r);
    free(x);
    free(got);
}

/* The killed writer: frames in blocks, a commit every few frames; each
 * commit's frame count reported through the pipe once it returned. */
static void kill_child(const char *path, int fd, int round)
{
    pio_writer *w = create(path, KEY);
    if (!w)
        _exit(2);
    struct pio_error e = {0};
    uint64_t every = (uint64_t)(round % 7) + 3;
    for (uint64_t i = 0; i < 100000; i++) {
        if (append(w, i) != 0)
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

static void test_kill(const char *path)
{
    uint64_t rng = pio_test_seed((uint64_t)time(NULL)), promised = 0, found = 0;
    for (int round = 0; round < 40; round++) {
        bool killed;
        int64_t last = fixture_kill_round(path, round, &rng, 40000000, kill_child, &killed);
        uint64_t committed = last < 0 ? 0 : (uint64_t)last, n;
        if (!fixture_kill_check(path, round, committed, frame_ok, &n))
            continue;
        promised += committed;
        found += n;
        struct pio_error e = {0};
        pio_reader *r;
        pio_writer *w;
        struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
        o.flags = PIO_WRITER_NO_SYNC;
        o.codec[0] = PIO_CODEC_LOSSY;
        o.codec[1] = o.codec[2] = PIO_CODEC_LOSSLESS;
        o.precision = PREC;
        CHECK(pio_writer_open_append(&w, path, &o, &e) == 0);
        append(w, n);
        append(w, n + 1);
        CHECK(pio_writer_close(w, &e) == 0);
        CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
        CHECKF(r && pio_reader_nframes(r) == n + 2 && pio_reader_verify(r, 1, &e) == 0,
               "round %d: after recovery and appends: %s", round, e.message);
        pio_reader_close(r);
        TEST_STOP_IF_FLOODED_VOID();
    }
    fprintf(stderr, "40 kills: %llu committed frames all present, %llu found in all\n",
            (unsigned long long)promised, (unsigned long long)found);
}

/* A stream with blocks decoding ahead on the pool when the process
 * forks: the child, whose copy of a running task no thread will finish,
 * reads the rest of the stream (decoding itself) and closes it. Run last:
 * the pool is started by then (a watchdog ends a child that hangs). */
static void test_fork_stream(const char *path)
{
    enum { FN = 20000, FK = 32, FF = 8 * FK };
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
    o.codec[0] = PIO_CODEC_LOSSY;
    o.precision = PREC;
    o.keyframe = FK;
    pio_writer *w;
    struct pio_error e = {0};
    CHECK(pio_writer_create(&w, path, &o, &e) == 0);
    static float x[FN][3];
    for (int t = 0; t < FF; t++) {
        for (int a = 0; a < FN; a++)
            for (int c = 0; c < 3; c++)
                x[a][c] = (float)((a + c) % 100) * 0.01f + 0.001f * (float)t;
        struct pio_frame f = {0};
        f.natoms = FN;
        f.step = t;
        f.positions = (const float(*)[3])x;
        CHECK(pio_writer_append(w, &f, &e) == 0);
    }
    CHECK(pio_writer_close(w, &e) == 0);
    for (int k = 0; k < 4; k++) {
        pio_reader *r;
        CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
        struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
        so.engine = PIO_IO_PREAD;
        pio_frame_stream *s;
        struct pio_frame f;
        CHECK(pio_frame_stream_open(&s, r, NULL, 0, &so, &e) == 0);
        CHECK(pio_frame_stream_next(s, &f, &e) == 1);
        pio_frame_stream_release(s, &f);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(30);
            int rc, n = 1;
            while ((rc = pio_frame_stream_next(s, &f, &e)) == 1) {
                float want = (float)((7 + 1) % 100) * 0.01f + 0.001f * (float)f.index;
                if (f.index != (uint64_t)n || fabsf(f.positions[7][1] - want) > 0.0006f)
                    _exit(3);
                pio_frame_stream_release(s, &f);
                n++;
            }
            pio_frame_stream_close(s);
            _exit(rc == 0 && n == FF ? 0 : 4);
        }
        int st = 0;
        CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork %d: child %s %d", k,
               WIFEXITED(st) ? "exited" : "killed by signal",
               WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        pio_frame_stream_close(s);
        pio_reader_close(r);
    }
}

int main(void)
{
    const char *path = fixture_tmpname("block"), *cut = fixture_tmpname("block_cut");
    if (!pio__codec_built())
        return 77; /* blocks are compressed: nothing to test without zstd */
    /* forks first, while no worker thread exists (test_holo_follow says
     * why) */
    test_kill(path);
    test_roundtrip(path);
    test_truncate(path);
    test_cut(path, cut);
    test_hostile(path, cut);
    test_refusals(path);
    test_write_failure(path);
    test_append_many(path, cut);
    test_append_many_resume(path, cut);
    test_stream_checks(path, cut);
    test_damaged_block(path, cut);
    test_large(path);
    test_fork_stream(path);
    unlink(path);
    unlink(cut);
    return TEST_RESULT();
}
