/*
 * The MPI writer and reader, run under `mpirun -np 4` by test_mpi.sh:
 *   test_mpi DIR        collective appends (time slices, ensemble members,
 *                       compressed records, empty ranks), byte for byte
 *                       against the serial writer; a frame one rank cannot
 *                       encode; the parallel reader's blocks.
 *   test_mpi DIR die    rank 2 dies in the middle of the third append, after
 *                       two collective commits (test_mpi.sh recovers it).
 */
#include <mpi.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prismio/holo.h"
#include "prismio/mpi.h"
#include "pio_test.h"

static int rank, size;
static const uint8_t SALT[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* Frame i of the test trajectory: natoms vary with i; velocities on even
 * frames; a scalar on every third. */
struct tframe {
    struct pio_frame f;
    float (*x)[3], (*v)[3];
    struct pio_scalar sc;
};

static void make_frame(struct tframe *t, uint64_t i)
{
    memset(t, 0, sizeof(*t));
    uint64_t n = 7 + i % 5;
    t->x = malloc(n * sizeof(*t->x));
    t->v = malloc(n * sizeof(*t->v));
    uint64_t s = 1000 + i;
    for (uint64_t a = 0; a < n; a++)
        for (int k = 0; k < 3; k++) {
            t->x[a][k] = (float)(pio_test_rand(&s) % 10000) / 1000.0f;
            t->v[a][k] = (float)(pio_test_rand(&s) % 2000) / 1000.0f - 1.0f;
        }
    t->f.natoms = n;
    t->f.positions = (const float(*)[3])t->x;
    t->f.velocities = i % 2 == 0 ? (const float(*)[3])t->v : NULL;
    t->f.step = (int64_t)(i * 10);
    t->f.time = (double)i * 0.02;
    t->f.fields = PIO_FIELD_POSITIONS | PIO_FIELD_BOX;
    t->f.box[0][0] = t->f.box[1][1] = t->f.box[2][2] = 3.0 + (double)i * 0.001;
    if (i % 3 == 0) {
        snprintf(t->sc.name, sizeof(t->sc.name), "energy");
        t->sc.value = -1000.0 - (double)i;
        t->f.scalars = &t->sc;
        t->f.nscalars = 1;
    }
}

static void free_frame(struct tframe *t)
{
    free(t->x);
    free(t->v);
}

/* Rank 0: path opens and verifies (every record's hash, the digest). */
static void check_verifies(const char *path)
{
    pio_reader *r;
    struct pio_error e = {0};
    int rc = pio_reader_open(&r, path, NULL, &e);
    CHECKF(rc == 0, "%s", e.message);
    if (rc != 0)
        return;
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "%s", e.message);
    pio_reader_close(r);
}

static bool same_files(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            same = false;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* The serial writer's file of `frames` frames, commits after each count
 * in `cuts` (frames so far). */
static void write_serial(const char *path, const struct pio_writer_options *wo, uint64_t frames,
                         const uint64_t *cuts, int ncuts)
{
    pio_writer *w;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, wo, &e) == 0, "%s", e.message);
    CHECK(pio_writer_set_metadata(w, "made.by", "test_mpi", &e) == 0);
    int c = 0;
    for (uint64_t i = 0; i < frames; i++) {
        struct tframe t;
        make_frame(&t, i);
        CHECKF(pio_writer_append(w, &t.f, &e) == 0, "%s", e.message);
        free_frame(&t);
        while (c < ncuts && cuts[c] == i + 1) {
            CHECK(pio_writer_commit(w, &e) == 0);
            c++;
        }
    }
    CHECKF(pio_writer_close(w, &e) == 0, "%s", e.message);
}

/* Time slices: in each of `rounds` appends, rank r appends its block of
 * that round's frames; a commit after each round. */
static void time_slices(const char *dir, const char *name, const struct pio_writer_options *wo)
{
    char path[512], ref[512];
    snprintf(path, sizeof(path), "%s/%s.holo", dir, name);
    snprintf(ref, sizeof(ref), "%s/%s.serial.holo", dir, name);
    static const uint64_t per_round[] = {13, 3, 0, 40};
    enum { ROUNDS = 4 };
    uint64_t cuts[ROUNDS], total = 0;
    for (int k = 0; k < ROUNDS; k++)
        cuts[k] = total += per_round[k];
    pio_mpi_writer *w;
    struct pio_error e = {0};
    int rc = pio_mpi_writer_create(&w, MPI_COMM_WORLD, path, wo, MPI_INFO_NULL, &e);
    CHECKF(rc == 0, "%s", e.message);
    if (rc != 0)
        return;
    CHECK(pio_mpi_writer_set_metadata(w, "made.by", "test_mpi", &e) == 0);
    uint64_t base = 0;
    for (int k = 0; k < ROUNDS; k++) {
        uint64_t first, count;
        pio_mpi_block(per_round[k], (uint32_t)rank, (uint32_t)size, &first, &count);
        struct tframe *t = calloc(count + 1, sizeof(*t));
        struct pio_frame *f = calloc(count + 1, sizeof(*f));
        for (uint64_t i = 0; i < count; i++) {
            make_frame(&t[i], base + first + i);
            f[i] = t[i].f;
        }
        CHECKF(pio_mpi_writer_append(w, f, count, &e) == 0, "%s", e.message);
        CHECKF(pio_mpi_writer_commit(w, &e) == 0, "%s", e.message);
        for (uint64_t i = 0; i < count; i++)
            free_frame(&t[i]);
        free(t);
        free(f);
        base += per_round[k];
        CHECK(pio_mpi_writer_nframes(w) == base);
    }
    CHECKF(pio_mpi_writer_close(w, &e) == 0, "%s", e.message);
    if (rank == 0) {
        write_serial(ref, wo, total, cuts, ROUNDS);
        CHECKF(same_files(path, ref), "%s differs from the serial writer's %s", path, ref);
        check_verifies(path);
    }
}

/* Ensemble: every round each rank appends one frame (rank 1 none in odd
 * rounds); frame order is rank order within a round. */
static void ensemble(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/ensemble.holo", dir);
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.salt = SALT;
    wo.flags = PIO_WRITER_OVERWRITE;
    pio_mpi_writer *w;
    struct pio_error e = {0};
    if (pio_mpi_writer_create(&w, MPI_COMM_WORLD, path, &wo, MPI_INFO_NULL, &e) != 0) {
        CHECKF(0, "%s", e.message);
        return;
    }
    uint64_t expect = 0;
    for (int round = 0; round < 6; round++) {
        struct tframe t;
        make_frame(&t, (uint64_t)(round * 100 + rank));
        t.f.step = round * 100 + rank;
        size_t n = rank == 1 && round % 2 ? 0 : 1;
        CHECKF(pio_mpi_writer_append(w, &t.f, n, &e) == 0, "%s", e.message);
        free_frame(&t);
        expect += (uint64_t)size - (size > 1 && round % 2 ? 1 : 0);
        if (round == 2)
            CHECK(pio_mpi_writer_commit(w, &e) == 0);
    }
    CHECK(pio_mpi_writer_nframes(w) == expect);
    /* metadata after the first frame: rank 0's error, on every rank */
    memset(&e, 0, sizeof(e));
    int mrc = pio_mpi_writer_set_metadata(w, "late", "x", &e);
    CHECKF(mrc == PIO_EUSAGE && strstr(e.message, "before the first frame"), "rc %d: %s", mrc,
           e.message);
    /* a frame rank `size - 1` cannot encode: every rank fails, nothing
     * is written, and the writer goes on */
    struct tframe t;
    make_frame(&t, 5);
    if (rank == size - 1)
        t.f.scalars = NULL, t.f.nscalars = 2;
    memset(&e, 0, sizeof(e));
    int rc = pio_mpi_writer_append(w, &t.f, 1, &e);
    CHECKF(rc == PIO_EUSAGE, "rc %d (%s)", rc, e.message);
    if (rank != size - 1 && size > 1) {
        char want[32];
        snprintf(want, sizeof(want), "rank %d: ", size - 1);
        CHECKF(strncmp(e.message, want, strlen(want)) == 0, "message '%s'", e.message);
    }
    CHECK(pio_mpi_writer_nframes(w) == expect);
    t.f.scalars = NULL, t.f.nscalars = 0;
    CHECKF(pio_mpi_writer_append(w, &t.f, 1, &e) == 0, "%s", e.message);
    expect += (uint64_t)size;
    free_frame(&t);
    CHECKF(pio_mpi_writer_close(w, &e) == 0, "%s", e.message);

    /* the parallel reader: blocks cover every frame once; each rank checks
     * its own frames' steps */
    pio_reader *r;
    uint64_t first, count;
    rc = pio_mpi_reader_open(&r, MPI_COMM_WORLD, path, NULL, &first, &count, &e);
    CHECKF(rc == 0, "%s", e.message);
    if (rc != 0)
        return;
    uint64_t mine = count, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK(all == expect);
    for (uint64_t i = first; i < first + count; i++) {
        struct pio_frame f;
        CHECKF(pio_reader_frame(r, i, &f, &e) == 0, "%s", e.message);
    }
    if (rank == 0) {
        /* round 0: ranks in order; round 1: rank 1 missing */
        struct pio_frame f;
        for (int q = 0; q < size; q++) {
            CHECK(pio_reader_frame(r, (uint64_t)q, &f, &e) == 0 && f.step == q);
        }
        int64_t want1[8], k = 0;
        for (int q = 0; q < size; q++)
            if (q != 1 || size == 1)
                want1[k++] = 100 + q;
        for (int64_t j = 0; j < k; j++)
            CHECK(pio_reader_frame(r, (uint64_t)size + (uint64_t)j, &f, &e) == 0 &&
                  f.step == want1[j]);
        CHECK(pio_reader_verify(r, 1, &e) == 0);
    }
    pio_reader_close(r);
}

/* Frames written by atom ranges (domain decomposition): frame i of the
 * test trajectory scaled up (up to 90,000 atoms: records of many BLAKE3
 * chunks; 154 atoms: a record of exactly 2 chunks; none), rank r its
 * block of the atoms (ranks with none when the frame is small, saying they
 * start at 0), velocities on some, forces only on others, byte for byte
 * the serial writer's file; then ranges that leave a gap fail on every
 * rank, and the writer goes on. */
static void by_atoms(const char *dir)
{
    static const uint64_t sizes[] = {3, 50, 100, 1000, 30000, 90000, 154, 0, 7};
    enum { NF = sizeof(sizes) / sizeof(sizes[0]) };
    char path[512], ref[512];
    snprintf(path, sizeof(path), "%s/atoms.holo", dir);
    snprintf(ref, sizeof(ref), "%s/atoms.serial.holo", dir);
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.salt = SALT;
    wo.flags = PIO_WRITER_OVERWRITE;
    struct pio_frame f[NF];
    float(*x[NF])[3], (*v[NF])[3];
    struct pio_scalar sc = {"temperature", 300.0};
    for (int i = 0; i < NF; i++) {
        uint64_t s = 99 + (uint64_t)i, n = sizes[i];
        x[i] = malloc(n * sizeof(*x[i]));
        v[i] = malloc(n * sizeof(*v[i]));
        for (uint64_t a = 0; a < n; a++)
            for (int k = 0; k < 3; k++) {
                x[i][a][k] = (float)(pio_test_rand(&s) % 100000) / 1000.0f;
                v[i][a][k] = (float)(pio_test_rand(&s) % 1000) / 1000.0f;
            }
        memset(&f[i], 0, sizeof(f[i]));
        f[i].natoms = n;
        f[i].positions = (const float(*)[3])x[i];
        f[i].velocities = i % 2 && i < 6 ? (const float(*)[3])v[i] : NULL;
        f[i].forces = i >= 6 && i != 7 ? (const float(*)[3])v[i] : NULL; /* forces only */
        f[i].step = 1000 + i;
        f[i].time = 2.5 * i;
        f[i].fields = PIO_FIELD_POSITIONS | PIO_FIELD_BOX;
        f[i].box[0][0] = f[i].box[1][1] = f[i].box[2][2] = 9.0;
        f[i].scalars = i % 3 && i != 6 ? &sc : NULL;
        f[i].nscalars = i % 3 && i != 6 ? 1 : 0;
    }
    pio_mpi_writer *w;
    struct pio_error e = {0};
    int rc = pio_mpi_writer_create(&w, MPI_COMM_WORLD, path, &wo, MPI_INFO_NULL, &e);
    CHECKF(rc == 0, "%s", e.message);
    if (rc != 0)
        return;
    for (int i = 0; i < NF; i++) {
        uint64_t first, count;
        pio_mpi_block(sizes[i], (uint32_t)rank, (uint32_t)size, &first, &count);
        struct pio_frame part = f[i];
        part.natoms = count;
        part.positions = (const float(*)[3])x[i] + first;
        part.velocities = f[i].velocities ? (const float(*)[3])v[i] + first : NULL;
        part.forces = f[i].forces ? (const float(*)[3])v[i] + first : NULL;
        if (count == 0)
            first = 0;   /* a rank holding none may say any start */
        if (rank != 0) { /* rank 0's step, time, box and scalars count */
            part.step = -1;
            part.scalars = NULL;
            part.nscalars = 0;
        }
        CHECKF(pio_mpi_writer_append_atoms(w, &part, sizes[i], first, &e) == 0, "frame %d: %s", i,
               e.message);
        if (i == 2)
            CHECK(pio_mpi_writer_commit(w, &e) == 0);
    }
    /* a gap between two ranks' ranges: refused everywhere, nothing written */
    if (size > 1) {
        uint64_t first, count;
        pio_mpi_block(sizes[3], (uint32_t)rank, (uint32_t)size, &first, &count);
        struct pio_frame part = f[3];
        part.natoms = rank == 0 && count ? count - 1 : count;
        part.positions = (const float(*)[3])x[3] + first;
        memset(&e, 0, sizeof(e));
        rc = pio_mpi_writer_append_atoms(w, &part, sizes[3], first, &e);
        CHECKF(rc == PIO_EUSAGE && strstr(e.message, "back to back"), "rc %d: %s", rc, e.message);
        CHECK(pio_mpi_writer_nframes(w) == NF);
    }
    CHECKF(pio_mpi_writer_close(w, &e) == 0, "%s", e.message);
    if (rank == 0) {
        pio_writer *s;
        CHECK(pio_writer_create(&s, ref, &wo, &e) == 0);
        for (int i = 0; i < NF; i++) {
            CHECK(pio_writer_append(s, &f[i], &e) == 0);
            if (i == 2)
                CHECK(pio_writer_commit(s, &e) == 0);
        }
        CHECK(pio_writer_close(s, &e) == 0);
        CHECKF(same_files(path, ref), "%s differs from the serial writer's %s", path, ref);
        check_verifies(path);
    }
    for (int i = 0; i < NF; i++) {
        free(x[i]);
        free(v[i]);
    }
}

/* Bad arguments: blocks are refused on every rank, before any file. */
static void refused(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/refused.holo", dir);
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.keyframe = 8;
    pio_mpi_writer *w = NULL;
    struct pio_error e = {0};
    CHECK(pio_mpi_writer_create(&w, MPI_COMM_WORLD, path, &wo, MPI_INFO_NULL, &e) == PIO_EUSAGE);
    CHECK(w == NULL);
    CHECK(access(path, F_OK) != 0);
    /* an existing file without OVERWRITE: every rank gets -EEXIST, and
     * the file is untouched */
    wo.keyframe = 0;
    snprintf(path, sizeof(path), "%s/ensemble.holo", dir);
    struct stat before, after;
    CHECK(stat(path, &before) == 0);
    MPI_Barrier(MPI_COMM_WORLD);
    int rc = pio_mpi_writer_create(&w, MPI_COMM_WORLD, path, &wo, MPI_INFO_NULL, &e);
    CHECKF(rc == -EEXIST, "rc %d: %s", rc, e.message);
    CHECK(stat(path, &after) == 0 && after.st_size == before.st_size &&
          after.st_mtime == before.st_mtime);
    if (rank == 0) {
        check_verifies(path);
    }
}

/* Rank 2 dies in the third append, after writing half its records. */
static void die(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/die.holo", dir);
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = PIO_WRITER_OVERWRITE;
    pio_mpi_writer *w;
    struct pio_error e = {0};
    if (pio_mpi_writer_create(&w, MPI_COMM_WORLD, path, &wo, MPI_INFO_NULL, &e) != 0) {
        fprintf(stderr, "%s\n", e.message);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int round = 0; round < 3; round++) {
        struct tframe t[5];
        struct pio_frame f[5];
        for (int i = 0; i < 5; i++) {
            make_frame(&t[i], (uint64_t)(round * 100 + rank * 5 + i));
            f[i] = t[i].f;
        }
        if (round == 2 && rank == 2) {
            /* what a rank killed mid-write leaves: its first records'
             * bytes at the file's end, then nothing */
            struct stat sb;
            int fd = open(path, O_WRONLY);
            if (fd >= 0 && fstat(fd, &sb) == 0) {
                static uint8_t junk[3000];
                memset(junk, 0x5a, sizeof(junk));
                if (pwrite(fd, junk, sizeof(junk), sb.st_size + 4096) < 0)
                    perror("pwrite");
                close(fd);
            }
            _exit(3);
        }
        if (pio_mpi_writer_append(w, f, 5, &e) != 0 || pio_mpi_writer_commit(w, &e) != 0) {
            fprintf(stderr, "%s\n", e.message);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (int i = 0; i < 5; i++)
            free_frame(&t[i]);
        if (rank == 0 && round == 1) {
            printf("committed %llu\n", (unsigned long long)pio_mpi_writer_nframes(w));
            fflush(stdout);
        }
    }
    pio_mpi_writer_close(w, &e);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 2) {
        fprintf(stderr, "usage: test_mpi DIR [die]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    CHECK(pio_mpi_built());
    if (argc > 2 && strcmp(argv[2], "die") == 0) {
        die(argv[1]);
        MPI_Finalize();
        return 0;
    }
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.salt = SALT;
    wo.flags = PIO_WRITER_OVERWRITE;
    time_slices(argv[1], "slices", &wo);
    wo.codec[0] = wo.codec[1] = wo.codec[2] = PIO_CODEC_LOSSLESS;
    wo.keyframe = 1; /* compressed FRAME records (blocks are refused) */
    time_slices(argv[1], "slices_lossless", &wo);
    ensemble(argv[1]);
    by_atoms(argv[1]);
    refused(argv[1]);
    int bad = pio_test_failures, worst = 0;
    MPI_Allreduce(&bad, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_mpi: %d ranks, %s\n", size, worst ? "FAILED" : "passed");
    MPI_Finalize();
    return TEST_RESULT();
}
