/*
 * BLOCK records coded and decoded on the worker pool (a block large
 * enough: many atom groups, over a megabyte), read by several threads at
 * once from one reader (each with its own block cache): every thread gets
 * the frames the writer was given, lossy within precision/2 and lossless
 * bit-exact, through pio_reader_frame, pio_reader_read of the whole frame
 * and of a selection, and a serial-decode reader agrees. Run under
 * ThreadSanitizer too (label concurrent).
 */
#include <math.h>
#include <pthread.h>

#include "codec/pio_codec.h"
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
    unlink(path);
    return TEST_RESULT();
}
