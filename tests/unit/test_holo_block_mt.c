/*
 * BLOCK records coded and decoded on the worker pool (a block large
 * enough: many atom groups, over a megabyte), read by several threads at
 * once from one reader (each with its own block cache): every thread gets
 * the frames the writer was given, lossy within precision/2 and lossless
 * bit-exact, through pio_reader_frame, pio_reader_read of the whole frame
 * and of a selection, and a serial-decode reader agrees. Many small
 * blocks, coded several at a time by pio_writer_append_many, are read by
 * frame streams that decode them ahead on the pool (test_stream_ahead).
 * Run under ThreadSanitizer too (label concurrent).
 */
#include <math.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "codec/pio_codec.h"
#include "common/pio_common.h"
#include "format/holo_internal.h"
#include "holo_fixture.h"

#define NAT   20000
#define NF    12
#define GROUP 1000
#define PREC  0.001
#define NTHR  3

static float xs[NF][NAT][3], vs[NF][NAT][3];

static void make(void)
{
    for (int t = 0; t < NF; t++)
        for (int a = 0; a < NAT; a++)
            for (int c = 0; c < 3; c++) {
                xs[t][a][c] = (float)((a * 37 + c * 11) % 4000) * 0.001f +
                              0.01f * (float)sin(0.2 * t + a * 0.01 + c);
                vs[t][a][c] = (float)cos((double)(t * NAT + a) * 0.37 + c);
            }
}

struct job {
    const pio_reader *r;
    int id, fails;
};

static void *reader_thread(void *p)
{
    struct job *j = p;
    static const uint64_t sel[] = {0, 999, 1000, 5555, 19999};
    float(*buf)[3] = malloc((size_t)NAT * 12), (*part)[3] = malloc(5 * 12 * NF);
    struct pio_error e = {0};
    for (int rep = 0; rep < 3; rep++) {
        for (int k = 0; k < NF; k++) {
            int t = (k * 5 + j->id * 3 + rep) % NF;
            struct pio_frame f;
            if (pio_reader_frame(j->r, (uint64_t)t, &f, &e) != 0 ||
                memcmp(f.velocities, vs[t], sizeof(vs[t])) != 0) {
                j->fails++;
                continue;
            }
            for (int a = 0; a < NAT; a++)
                for (int c = 0; c < 3; c++)
                    if (fabs((double)f.positions[a][c] - (double)xs[t][a][c]) > PREC / 2 + 1e-6)
                        j->fails++;
            float(*const xyz[3])[3] = {buf, NULL, NULL};
            if (pio_reader_read(j->r, (uint64_t)t, 1, NULL, NAT, xyz, &e) != 0 ||
                memcmp(buf, f.positions, (size_t)NAT * 12) != 0)
                j->fails++;
        }
        float(*const px[3])[3] = {NULL, part, NULL};
        if (pio_reader_read(j->r, 0, NF, sel, 5, px, &e) != 0)
            j->fails++;
        for (int t = 0; t < NF; t++)
            for (int s = 0; s < 5; s++)
                if (memcmp(part[t * 5 + s], vs[t][sel[s]], 12) != 0)
                    j->fails++;
    }
    free(buf);
    free(part);
    return NULL;
}

#define SNAT 300
#define SNF  160
#define SK   4

static float sx(int t, int a, int c)
{
    return (float)(a % 17) * 0.1f + (float)c + 0.002f * (float)sin(0.3 * t + a);
}
static float sv(int t, int a, int c)
{
    return (float)cos((double)(t * SNAT + a) * 0.61 + c);
}

static bool small_ok(const struct pio_frame *f, uint64_t i)
{
    if (f->index != i || f->natoms != SNAT || !f->positions || !f->velocities)
        return false;
    for (int a = 0; a < SNAT; a++)
        for (int c = 0; c < 3; c++) {
            float v = sv((int)i, a, c);
            if (fabs((double)f->positions[a][c] - (double)sx((int)i, a, c)) > PREC / 2 + 1e-6 ||
                memcmp(&f->velocities[a][c], &v, 4) != 0)
                return false;
        }
    return true;
}

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* One stream over `list` (NULL: every frame) of r: each frame right but
 * the damaged block's (PIO_ECORRUPT naming it, and the stream goes on),
 * the last three views held and still right when released; the consumer
 * pauses at each block so the pool gets ahead. Returns the stream's runs
 * decoded by a pool thread. */
static uint64_t stream_all(pio_reader *r, int eng, const uint64_t *list, uint64_t n, uint64_t bad0)
{
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.engine = (uint32_t)eng;
    pio_frame_stream *s;
    struct pio_error e = {0};
    CHECKF(pio_frame_stream_open(&s, r, list, list ? n : 0, &so, &e) == 0, "%s", e.message);
    struct pio_frame held[4];
    uint64_t got = 0, bad = 0, k = 0;
    int rc;
    for (;; k++) {
        struct pio_frame *f = &held[got % 4];
        if ((rc = pio_frame_stream_next(s, f, &e)) == 0)
            break;
        uint64_t want = list ? list[k] : k;
        if (want >= bad0 && want < bad0 + SK) {
            char name[32];
            snprintf(name, sizeof(name), "frame %llu", (unsigned long long)want);
            CHECKF(rc == PIO_ECORRUPT && strstr(e.message, name), "engine %d, frame %llu: %d %s",
                   eng, (unsigned long long)want, rc, e.message);
            bad++;
            continue;
        }
        CHECKF(rc == 1 && small_ok(f, want), "engine %d: frame %llu: %d %s", eng,
               (unsigned long long)want, rc, e.message);
        if (rc != 1)
            break;
        if (want % SK == 0)
            pause_ms(2);
        if (got >= 3) {
            struct pio_frame *old = &held[(got - 3) % 4];
            CHECK(small_ok(old, old->index));
            pio_frame_stream_release(s, old);
        }
        got++;
    }
    CHECKF(rc == 0 && k == (list ? n : SNF), "engine %d: %d after %llu frames", eng, rc,
           (unsigned long long)k);
    CHECK(bad == (list ? bad : SK));
    uint64_t by_pool = pio__frame_stream_ahead_by_pool(s);
    pio_frame_stream_close(s); /* the last views still held: close frees them */
    return by_pool;
}

static void test_stream_ahead(const char *path)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
    o.codec[0] = PIO_CODEC_LOSSY;
    o.codec[1] = PIO_CODEC_LOSSLESS;
    o.precision = PREC;
    o.keyframe = SK;
    o.hash_threads = 4; /* append_many codes 4 blocks at a time on the pool */
    pio_writer *w;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    static float x[SNF][SNAT][3], v[SNF][SNAT][3];
    static struct pio_frame fr[SNF];
    for (int t = 0; t < SNF; t++) {
        for (int a = 0; a < SNAT; a++)
            for (int c = 0; c < 3; c++) {
                x[t][a][c] = sx(t, a, c);
                v[t][a][c] = sv(t, a, c);
            }
        memset(&fr[t], 0, sizeof(fr[t]));
        fr[t].natoms = SNAT;
        fr[t].step = t;
        fr[t].positions = (const float(*)[3])x[t];
        fr[t].velocities = (const float(*)[3])v[t];
    }
    for (int t = 0; t < SNF; t += 37) /* batches across blocks */
        CHECK(pio_writer_append_many(w, fr + t, t + 37 <= SNF ? 37 : (size_t)(SNF - t), &e) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    /* one payload byte of the block of frames 40..43 changed */
    pio_reader *r;
    uint64_t off, len;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    CHECK(pio_reader_frame_extent(r, 41, &off, &len) == 0);
    pio_reader_close(r);
    size_t flen = 0;
    uint8_t *b = fixture_slurp(path, &flen);
    CHECK(b && off + len <= flen);
    b[off + len / 2] ^= 0x5a;
    CHECK(fixture_spit(path, b, flen) == 0);
    free(b);

    static const uint64_t list[] = {5, 6, 7, 100, 101, 3, 150, 151, 152, 153, 0, 41, 42, 9};
    for (int serial = 0; serial < 2; serial++) {
        struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
        ro.flags = serial ? PIO_READER_SERIAL_DECODE : 0;
        CHECKF(pio_reader_open(&r, path, &ro, &e) == 0, "%s", e.message);
        for (int eng = PIO_IO_MMAP; eng <= PIO_IO_URING; eng++) {
            uint64_t by_pool = stream_all(r, eng, NULL, 0, 40);
            /* nothing ahead for a serial reader; else, with a CPU to
             * spare, the pool decoded some blocks while the consumer
             * paused */
            if (serial || pio_cpu_count() < 2)
                CHECKF(by_pool == 0, "engine %d: %llu", eng, (unsigned long long)by_pool);
            else
                CHECKF(by_pool > 0, "engine %d: no block decoded ahead", eng);
            stream_all(r, eng, list, sizeof(list) / sizeof(list[0]), 40);
        }
        /* closed with decodes in flight */
        pio_frame_stream *s;
        CHECK(pio_frame_stream_open(&s, r, NULL, 0, NULL, &e) == 0);
        struct pio_frame f;
        for (int k = 0; k < 6; k++)
            CHECK(pio_frame_stream_next(s, &f, &e) == 1 && small_ok(&f, (uint64_t)k));
        pio_frame_stream_close(s);
        pio_reader_close(r);
    }
}

/* A verifying stream reads a block whose bytes differ between two reads
 * (damaged, then intact again): the damaged read fails its hash, and
 * nothing decoded from it (ahead, before the check) is served when the
 * intact read comes. */
static void test_verify_then_intact(const char *path)
{
    pio_reader *r;
    struct pio_error e = {0};
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.engine = PIO_IO_PREAD;
    CHECK(pio_reader_open(&r, path, &ro, &e) == 0);
    uint64_t off, len;
    CHECK(pio_reader_frame_extent(r, 0, &off, &len) == 0);
    int fd = open(path, O_RDWR);
    double good = 0, bad;
    CHECK(fd >= 0 && pread(fd, &good, 8, (off_t)(off + 104)) == 8);
    bad = good * 2; /* the block's precision: values twice as large */
    CHECK(pwrite(fd, &bad, 8, (off_t)(off + 104)) == 8);
    static const uint64_t list[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3};
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.engine = PIO_IO_PREAD;
    so.queue_depth = 4;
    so.flags = PIO_STREAM_VERIFY | PIO_STREAM_NO_COALESCE;
    pio_frame_stream *s;
    CHECK(pio_frame_stream_open(&s, r, list, 16, &so, &e) == 0);
    for (int k = 0; k < 16; k++) {
        struct pio_frame f;
        int rc = pio_frame_stream_next(s, &f, &e);
        if (k < 4) {
            CHECKF(rc == PIO_ECHECKSUM, "read %d (damaged): %d %s", k, rc, e.message);
            if (k == 3)
                CHECK(pwrite(fd, &good, 8, (off_t)(off + 104)) == 8);
            continue;
        }
        CHECKF(rc == 1 && small_ok(&f, list[k]), "read %d (frame %llu): %d %s", k,
               (unsigned long long)list[k], rc, e.message);
        if (rc == 1)
            pio_frame_stream_release(s, &f);
    }
    pio_frame_stream_close(s);
    pio_reader_close(r);
    close(fd);
}

int main(void)
{
    if (!pio__codec_built())
        return 77;
    const char *path = fixture_tmpname("block_mt");
    make();
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
    o.codec[0] = PIO_CODEC_LOSSY;
    o.codec[1] = PIO_CODEC_LOSSLESS;
    o.precision = PREC;
    o.keyframe = 8;
    o.group_atoms = GROUP;
    pio_writer *w;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    for (int t = 0; t < NF; t++) {
        struct pio_frame f = {0};
        f.natoms = NAT;
        f.step = t;
        f.positions = (const float(*)[3])xs[t];
        f.velocities = (const float(*)[3])vs[t];
        CHECK(pio_writer_append(w, &f, &e) == 0);
    }
    CHECK(pio_writer_close(w, &e) == 0);
    for (int serial = 0; serial < 2; serial++) {
        struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
        ro.flags = serial ? PIO_READER_SERIAL_DECODE : 0;
        pio_reader *r;
        CHECKF(pio_reader_open(&r, path, &ro, &e) == 0, "%s", e.message);
        uint64_t first;
        uint32_t k;
        CHECK(pio_reader_frame_block(r, 9, &first, &k) == 0 && first == 8 && k == 4);
        pthread_t th[NTHR];
        struct job jobs[NTHR];
        for (int i = 0; i < NTHR; i++) {
            jobs[i] = (struct job){r, i, 0};
            CHECK(pthread_create(&th[i], NULL, reader_thread, &jobs[i]) == 0);
        }
        for (int i = 0; i < NTHR; i++) {
            pthread_join(th[i], NULL);
            CHECKF(jobs[i].fails == 0, "serial %d, thread %d: %d wrong values", serial, i,
                   jobs[i].fails);
        }
        CHECK(pio_reader_verify(r, 0, &e) == 0);
        pio_reader_close(r);
    }
    test_stream_ahead(path);
    test_verify_then_intact(path);
    unlink(path);
    return TEST_RESULT();
}
