/*
 * HOLO round trip: every field bit-exact (positions, velocities, forces,
 * box, step, time, scalars), variable atom counts, topology and metadata;
 * 1,000 random-access reads; lookup by step and by time; append after
 * reopen; zero-copy (views point into the mapping, 64-byte aligned); usage
 * errors from the writer.
 */
#include <errno.h>

#include "holo_fixture.h"

#define SEED    11
#define NFRAMES 300

static void write_topology(pio_writer *w)
{
    static char names[5][8] = {"N", "CA", "C", "O", "LONGNAME"};
    static char elems[5][4] = {"N", "C", "C", "O", "Xx"};
    static char resn[5][8] = {"ALA", "ALA", "ALA", "GLY", "GLY"};
    static char chains[5][4] = {"A", "A", "A", "B", "B"};
    static int32_t resids[5] = {1, 1, 1, 2, 2};
    static float masses[5] = {14.007f, 12.011f, 12.011f, 15.999f, 1.0f};
    static float charges[5] = {-0.3f, 0.1f, 0.5f, -0.5f, 0.2f};
    static uint32_t bonds[3][2] = {{0, 1}, {1, 2}, {2, 3}};
    struct pio_topology t = {5,
                             3,
                             (const char(*)[8])names,
                             (const char(*)[4])elems,
                             (const char(*)[8])resn,
                             (const char(*)[4])chains,
                             resids,
                             masses,
                             charges,
                             (const uint32_t(*)[2])bonds};
    struct pio_error e = {0};
    CHECK(pio_writer_set_topology(w, &t, &e) == 0);
    CHECK(pio_writer_set_metadata(w, "creator", "test_holo_roundtrip", &e) == 0);
    CHECK(pio_writer_set_metadata(w, "units", "nm ps", &e) == 0);
    CHECK(pio_writer_set_metadata(w, "free-form", "", &e) == 0);
    CHECK(pio_writer_set_metadata(w, "units", "again", &e) == PIO_EUSAGE);
    CHECK(pio_writer_set_metadata(w, "", "x", &e) == PIO_EUSAGE);
    uint32_t bad[1][2] = {{0, 5}};
    struct pio_topology tb = t;
    tb.bonds = (const uint32_t(*)[2])bad;
    tb.nbonds = 1;
    CHECK(pio_writer_set_topology(w, &tb, &e) == PIO_EUSAGE);
}

static void check_all(const char *path, uint64_t nframes)
{
    struct pio_error e = {0};
    pio_reader *r;
    CHECK(pio_reader_open(&r, path, NULL, &e) == 0);
    if (!r) {
        fprintf(stderr, "%s\n", e.message);
        return;
    }
    CHECK(pio_reader_nframes(r) == nframes);
    for (uint64_t i = 0; i < nframes; i++) {
        struct fixture_frame ff;
        fixture_make(&ff, i, SEED, true, 50);
        struct pio_frame f;
        CHECK(pio_reader_frame(r, i, &f, &e) == 0);
        CHECKF(fixture_equal(&f, &ff), "frame %llu differs", (unsigned long long)i);
        CHECK(f.index == i);
        fixture_free(&ff);
    }
    /* 1,000 random accesses */
    uint64_t s = 99;
    for (int k = 0; k < 1000; k++) {
        uint64_t i = pio_test_rand(&s) % nframes;
        struct fixture_frame ff;
        fixture_make(&ff, i, SEED, true, 50);
        struct pio_frame f;
        CHECK(pio_reader_frame(r, i, &f, NULL) == 0 && fixture_equal(&f, &ff));
        fixture_free(&ff);
    }
    struct pio_frame f;
    CHECK(pio_reader_frame(r, nframes, &f, &e) == -ERANGE);
    CHECK(strstr(e.message, "out of range") != NULL);

    /* lookup by step and by time */
    CHECK(pio_reader_find_step(r, 0) == 0);
    CHECK(pio_reader_find_step(r, 10 * (int64_t)(nframes - 1)) == (int64_t)nframes - 1);
    CHECK(pio_reader_find_step(r, 1230) == 123);
    CHECK(pio_reader_find_step(r, 1235) == -ENOENT);
    CHECK(pio_reader_find_step(r, -10) == -ENOENT);
    CHECK(pio_reader_find_time(r, 2.46) == 123);
    CHECK(pio_reader_find_time(r, 2.449) == 122);
    CHECK(pio_reader_find_time(r, -5.0) == 0);
    CHECK(pio_reader_find_time(r, 1e9) == (int64_t)nframes - 1);
    CHECK(pio_reader_find_time(r, NAN) == -ENOENT);

    /* topology and metadata */
    struct pio_topology t;
    CHECK(pio_reader_topology(r, &t) == 0);
    CHECK(t.natoms == 5 && t.nbonds == 3);
    CHECK(strncmp(t.names[4], "LONGNAME", 8) == 0 && strcmp(t.names[1], "CA") == 0);
    CHECK(strcmp(t.elements[0], "N") == 0 && strcmp(t.chains[3], "B") == 0);
    CHECK(strcmp(t.resnames[3], "GLY") == 0 && t.resids[4] == 2);
    CHECK(t.masses[0] == 14.007f && t.charges[2] == 0.5f);
    CHECK(t.bonds[2][0] == 2 && t.bonds[2][1] == 3);
    CHECK(pio_reader_metadata_count(r) == 3);
    CHECK(strcmp(pio_reader_metadata_get(r, "units"), "nm ps") == 0);
    CHECK(strcmp(pio_reader_metadata_get(r, "free-form"), "") == 0);
    CHECK(pio_reader_metadata_get(r, "nope") == NULL);
    const char *k, *v;
    CHECK(pio_reader_metadata_at(r, 0, &k, &v) == 0 && strcmp(k, "creator") == 0);
    CHECK(pio_reader_metadata_at(r, 3, &k, &v) == -ERANGE);

    struct pio_reader_info in;
    CHECK(pio_reader_info(r, &in) == 0);
    CHECK(!in.recovered && in.nframes == nframes && in.steps_sorted && in.times_sorted);
    CHECK(in.min_natoms == 50 && in.max_natoms == 62);
    CHECK(pio_reader_verify(r, 1, &e) == 0);
    CHECK(pio_reader_verify(r, 0, &e) == 0);
    for (uint64_t i = 0; i < nframes; i += 37)
        CHECK(pio_reader_verify_frame(r, i, &e) == 0);
    pio_reader_close(r);
}

/* append_many (records hashed on every core, one pwritev per 64 frames)
 * writes the same bytes as append one by one; a bad frame inside a group
 * leaves the groups before it appended. */
static void test_append_many(void)
{
    static const uint8_t salt[16] = "append-many-salt";
    const char *a = fixture_tmpname("many_a"), *b = fixture_tmpname("many_b");
    enum { N = 150 };
    struct fixture_frame ff[N];
    struct pio_frame fr[N];
    for (int i = 0; i < N; i++) { /* large frames: the parallel hashing path */
        fixture_make(&ff[i], (uint64_t)i, SEED, true, i % 2 ? 3000 : 20);
        fr[i] = ff[i].f;
    }
    struct pio_error e = {0};
    pio_writer *w = fixture_writer_salted(a, salt);
    for (int i = 0; i < N && w; i++)
        CHECK(pio_writer_append(w, &fr[i], &e) == 0);
    CHECK(w && pio_writer_close(w, &e) == 0);
    w = fixture_writer_salted(b, salt);
    CHECK(w && pio_writer_append_many(w, fr, 10, &e) == 0);
    CHECK(w && pio_writer_append_many(w, fr + 10, N - 10, &e) == 0);
    CHECK(w && pio_writer_append_many(w, fr, 0, &e) == 0);
    CHECK(w && pio_writer_close(w, &e) == 0);
    size_t la = 0, lb = 0;
    uint8_t *x = fixture_slurp(a, &la), *y = fixture_slurp(b, &lb);
    CHECKF(x && y && la == lb && memcmp(x, y, la) == 0, "append_many wrote other bytes");
    free(x);
    free(y);
    /* frame 70 has no positions: the first group (64) goes in, not the second */
    w = fixture_writer_salted(b, salt);
    fr[70].positions = NULL;
    CHECK(w && pio_writer_append_many(w, fr, N, &e) == PIO_EUSAGE);
    CHECKF(strstr(e.message, "frame 70: positions are required"), "%s", e.message);
    CHECK(w && pio_writer_nframes(w) == 64);
    CHECK(w && pio_writer_close(w, &e) == 0);
    fr[70].positions = ff[70].f.positions;
    pio_reader *r;
    CHECK(pio_reader_open(&r, b, NULL, &e) == 0);
    CHECK(r && pio_reader_nframes(r) == 64 && pio_reader_verify(r, 1, &e) == 0);
    for (uint64_t i = 0; r && i < 64; i++) {
        struct pio_frame got;
        CHECK(pio_reader_frame(r, i, &got, &e) == 0 && fixture_equal(&got, &ff[i]));
    }
    pio_reader_close(r);
    for (int i = 0; i < N; i++)
        fixture_free(&ff[i]);
    unlink(a);
    unlink(b);
}

/* Records of one size are hashed together (every node of their trees in
 * SIMD lanes, reading in place the chunks that lie within one array):
 * runs of 1 to 40 equal records, small and large, positions only or every
 * field (chunks straddling each piece boundary), give the same bytes as
 * appending one by one. */
static void test_append_many_equal_sizes(void)
{
    static const uint8_t salt[16] = "equal-sizes-salt";
    const char *a = fixture_tmpname("eq_a"), *b = fixture_tmpname("eq_b");
    enum { N = 200 };
    static struct fixture_frame ff[N];
    static struct pio_frame fr[N];
    for (int i = 0; i < N; i++) {
        /* runs of 5 (700 atoms: ~25 KB records; 40 atoms: ~1.5 KB), one
         * frame alone, 40 equal ones, then 20 of 711 atoms with positions
         * only (an XTC's frames) and 20 of 333 with every field */
        uint64_t base = i >= 180      ? 333
                        : i >= 160    ? 711
                        : i >= 120    ? 300
                        : i == 61     ? 2000
                        : (i / 5) % 2 ? 700
                                      : 40;
        fixture_make(&ff[i], (uint64_t)i, SEED, false, base);
        if (i >= 160) {
            ff[i].f.velocities = i >= 180 ? (const float(*)[3])ff[i].v : NULL;
            ff[i].f.forces = i >= 180 ? (const float(*)[3])ff[i].fo : NULL;
            ff[i].f.nscalars = i >= 180 ? 3 : 0;
        }
        fr[i] = ff[i].f;
    }
    struct pio_error e = {0};
    pio_writer *w = fixture_writer_salted(a, salt);
    for (int i = 0; w && i < N; i++)
        CHECK(pio_writer_append(w, &fr[i], &e) == 0);
    CHECK(w && pio_writer_close(w, &e) == 0);
    w = fixture_writer_salted(b, salt);
    CHECK(w && pio_writer_append_many(w, fr, 37, &e) == 0);
    CHECK(w && pio_writer_append_many(w, fr + 37, N - 37, &e) == 0);
    CHECK(w && pio_writer_close(w, &e) == 0);
    size_t la = 0, lb = 0;
    uint8_t *x = fixture_slurp(a, &la), *y = fixture_slurp(b, &lb);
    CHECKF(x && y && la == lb && memcmp(x, y, la) == 0,
           "append_many of equal-size records wrote other bytes");
    free(x);
    free(y);
    pio_reader *r;
    CHECK(pio_reader_open(&r, b, NULL, &e) == 0);
    CHECK(r && pio_reader_nframes(r) == N && pio_reader_verify(r, 1, &e) == 0);
    pio_reader_close(r);
    for (int i = 0; i < N; i++)
        fixture_free(&ff[i]);
    unlink(a);
    unlink(b);
}

/* hash_threads: 1 hashes append_many's groups on the caller's thread alone
 * (no pool worker starts: run before anything else starts one), 2 hands
 * half of a group to a pool worker; the bytes are the same either way. */
static void test_hash_threads(void)
{
    static const uint8_t salt[16] = "hash-threads-slt";
    const char *a = fixture_tmpname("ht_a"), *b = fixture_tmpname("ht_b");
    enum { N = 96 }; /* 711-atom records: groups of 64 (~560 KB) are split */
    static struct fixture_frame ff[N];
    static struct pio_frame fr[N];
    for (int i = 0; i < N; i++) {
        fixture_make(&ff[i], (uint64_t)i, SEED, false, 711);
        fr[i] = ff[i].f;
    }
    int before = fixture_threads();
    CHECK(before >= 1);
    const char *paths[2] = {a, b};
    for (uint32_t t = 1; t <= 2; t++) {
        struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
        o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
        o.salt = salt;
        o.hash_threads = t;
        pio_writer *w = NULL;
        struct pio_error e = {0};
        CHECK(pio_writer_create(&w, paths[t - 1], &o, &e) == 0);
        CHECK(w && pio_writer_append_many(w, fr, N, &e) == 0);
        CHECK(w && pio_writer_close(w, &e) == 0);
        int now = fixture_threads();
        if (t == 1)
            CHECKF(now == before, "hash_threads 1: %d threads, %d before", now, before);
        else
            CHECKF(now > before, "hash_threads 2: no pool worker started (%d threads)", now);
    }
    CHECKF(fixture_same_holo(a, b), "hash_threads changed the bytes");
    for (int i = 0; i < N; i++)
        fixture_free(&ff[i]);
    unlink(a);
    unlink(b);
}

int main(void)
{
    test_hash_threads(); /* first: it counts the pool's threads */
    test_append_many();
    test_append_many_equal_sizes();
    const char *path = fixture_tmpname("roundtrip");
    unlink(path);
    struct pio_error e = {0};
    pio_writer *w;
    CHECK(pio_writer_create(&w, path, NULL, &e) == 0);
    write_topology(w);
    CHECK(fixture_append(w, 0, 200, SEED, true, 50) == 0);
    CHECK(pio_writer_set_metadata(w, "late", "x", &e) == PIO_EUSAGE);
    struct pio_frame nopos = {.natoms = 3};
    CHECK(pio_writer_append(w, &nopos, &e) == PIO_EUSAGE);
    CHECK(strstr(e.message, "positions are required") != NULL);
    CHECK(pio_writer_commit(w, &e) == 0);
    CHECK(pio_writer_commit(w, &e) == 0); /* nothing new: no-op */
    CHECK(pio_writer_nframes(w) == 200);
    CHECK(pio_writer_close(w, &e) == 0);
    check_all(path, 200);

    /* create refuses an existing file unless asked to overwrite */
    CHECK(pio_writer_create(&w, path, NULL, &e) == -EEXIST);

    /* reopen and append: frames continue, topology stays, file verifies */
    CHECK(pio_writer_open_append(&w, path, NULL, &e) == 0);
    CHECK(pio_writer_nframes(w) == 200);
    CHECK(pio_writer_set_metadata(w, "x", "y", &e) == PIO_EUSAGE);
    CHECK(fixture_append(w, 200, 60, SEED, true, 50) == 0);
    CHECK(pio_writer_commit(w, &e) == 0);
    CHECK(fixture_append(w, 260, NFRAMES - 260, SEED, true, 50) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    check_all(path, NFRAMES);

    /* an empty file (no frames, no metadata) is valid */
    const char *empty = fixture_tmpname("empty");
    unlink(empty);
    CHECK(pio_writer_create(&w, empty, NULL, &e) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    pio_reader *r;
    CHECK(pio_reader_open(&r, empty, NULL, &e) == 0);
    CHECK(r && pio_reader_nframes(r) == 0);
    struct pio_topology t;
    CHECK(r && pio_reader_topology(r, &t) == -ENOENT);
    CHECK(r && pio_reader_find_time(r, 1.0) == -ENOENT);
    CHECK(r && pio_reader_verify(r, 1, &e) == 0);
    pio_reader_close(r);

    unlink(path);
    unlink(empty);
    return TEST_RESULT();
}
