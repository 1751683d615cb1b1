/*
 * Remote files through the library API (tests/remote/fault_server.py on
 * 127.0.0.1, started and stopped here): every way of reading a frame gives
 * the local file's values; frame views of a remote reader are the calling
 * thread's copies (valid across the next 15 frames, whatever the cache
 * holds); opening costs at most 3 requests; threads read at once; a
 * request that keeps failing is an error naming the URL and the frame.
 * A build without libcurl refuses URLs, saying why.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <prismio/holo.h>
#include <prismio/io.h>

#include <prismio/dataset.h>

#include "holo_fixture.h"

#define NFRAMES 300
#define SEED    41
#define ATOMS   200 /* frames of ~5 KiB: most are not in what opening reads */

static pid_t server_pid = -1;
static int port;
static char dir[256];

static void server_stop(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
}

/* fault_server.py serving `dir`: 0, or -1 (no Python: the test skips). */
static int server_start(void)
{
    const char *script = PIO_TEST_DATA_DIR "/../remote/fault_server.py";
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    server_pid = fork();
    if (server_pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execlp(py, py, script, dir, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[32] = {0};
    size_t have = 0; /* the whole line: the server dies writing to a closed pipe */
    while (have < sizeof(buf) - 1 && !strchr(buf, '\n')) {
        ssize_t n = read(fd[0], buf + have, sizeof(buf) - 1 - have);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            break;
        have += n > 0 ? (size_t)n : 0;
    }
    close(fd[0]);
    port = strchr(buf, '\n') ? atoi(buf) : 0;
    return port > 0 ? 0 : -1;
}

static void url_of(char *out, size_t cap, const char *mode, const char *name)
{
    snprintf(out, cap, "http://127.0.0.1:%d/%s/%s", port, mode, name);
}

static void make_file(const char *name, uint64_t keyframe, uint64_t commit_every)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC;
    o.keyframe = (uint32_t)keyframe;
    pio_writer *w = NULL;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    if (!w)
        return;
    /* constant atoms, so that blocks can hold the frames */
    for (uint64_t i = 0; i < NFRAMES; i += commit_every) {
        CHECK(fixture_append(w, i, (commit_every < NFRAMES - i ? commit_every : NFRAMES - i), SEED,
                             false, ATOMS) == 0);
        CHECK(pio_writer_commit(w, &e) == 0);
    }
    CHECKF(pio_writer_close(w, &e) == 0, "%s", e.message);
}

/* A dataset of structures (HOLO 2.3 named arrays), 1 to 300 atoms each. */
#define NDS 400
static void make_dataset(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_ARRAYS;
    pio_writer *w = NULL;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    static float xyz[300][3];
    static uint8_t z[300];
    for (uint64_t i = 0; w && i < NDS; i++) {
        uint64_t n = 1 + (i * 53) % 300;
        for (uint64_t a = 0; a < n; a++) {
            for (int c = 0; c < 3; c++)
                xyz[a][c] = (float)(i * 1000 + a * 3 + (uint64_t)c) * 0.001f;
            z[a] = (uint8_t)((i + a) % 90 + 1);
        }
        double stress[9];
        for (int c = 0; c < 9; c++)
            stress[c] = (double)i + c * 0.5;
        struct pio_frame f;
        memset(&f, 0, sizeof(f));
        f.natoms = n;
        f.positions = (const float(*)[3])xyz;
        struct pio_scalar sc = {"energy", -(double)i};
        f.scalars = &sc;
        f.nscalars = 1;
        struct pio_array a[2] = {{"numbers", PIO_DTYPE_U8, 1, 1, 0, z},
                                 {"stress", PIO_DTYPE_F64, 0, 9, 0, stress}};
        CHECKF(pio_writer_append_arrays(w, &f, a, 2, &e) == 0, "%s", e.message);
    }
    CHECKF(pio_writer_close(w, &e) == 0, "%s", e.message);
}

/* The dataset read over HTTP: named arrays and batches as the local file's. */
static void check_dataset(const char *name)
{
    char url[512], path[512];
    url_of(url, sizeof(url), "ok/all", name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    setenv("PIO_REMOTE_CACHE_MB", "1", 1);
    pio_reader *r = NULL, *l = NULL;
    struct pio_error e = {0};
    CHECKF(pio_reader_open(&r, url, NULL, &e) == 0, "%s: %s", url, e.message);
    CHECK(pio_reader_open(&l, path, NULL, &e) == 0);
    for (uint64_t i = 0; r && l && i < NDS; i += 3) {
        struct pio_array ra[4], la[4];
        uint32_t rn = 0, ln = 0;
        CHECKF(pio_reader_frame_arrays(r, i, ra, 4, &rn, &e) == 0, "%s", e.message);
        CHECK(pio_reader_frame_arrays(l, i, la, 4, &ln, &e) == 0);
        struct pio_frame f;
        CHECK(pio_reader_frame(l, i, &f, &e) == 0);
        CHECK(rn == 2 && ln == 2);
        for (uint32_t k = 0; k < rn && k < 2; k++)
            CHECKF(!strcmp(ra[k].name, la[k].name) && ra[k].data != la[k].data &&
                       ((uintptr_t)ra[k].data & 63) == 0 &&
                       memcmp(ra[k].data, la[k].data, k ? 72 : f.natoms) == 0,
                   "frame %llu array %u", (unsigned long long)i, k);
        TEST_STOP_IF_FLOODED_VOID();
    }
    pio_reader_close(r);
    pio_reader_close(l);
    pio_dataset *rd = NULL, *ld = NULL;
    CHECKF(pio_dataset_open(&rd, url, PIO_DATASET_CHECK, &e) == 0, "%s", e.message);
    CHECK(pio_dataset_open(&ld, path, 0, &e) == 0);
    static const char *const cols[] = {"positions", "numbers", "energy", "stress"};
    struct pio_batch_options o = PIO_BATCH_OPTIONS_INIT;
    o.columns = cols;
    o.ncolumns = 4;
    pio_ds_batch *rb = NULL, *lb = NULL;
    if (rd && ld) {
        CHECKF(pio_ds_batch_create(&rb, rd, &o, &e) == 0, "%s", e.message);
        CHECK(pio_ds_batch_create(&lb, ld, &o, &e) == 0);
    }
    uint64_t idx[128], rng = 5;
    for (int round = 0; rb && lb && round < 4; round++) {
        for (int j = 0; j < 128; j++)
            idx[j] = pio_test_rand(&rng) % NDS;
        CHECKF(pio_ds_batch_fill(rb, idx, 128, &e) == 0, "%s", e.message);
        CHECK(pio_ds_batch_fill(lb, idx, 128, &e) == 0);
        CHECK(pio_ds_batch_atoms(rb) == pio_ds_batch_atoms(lb));
        for (uint32_t k = 0; k < 4; k++) {
            const struct pio_batch_column *rc = pio_ds_batch_column(rb, k),
                                          *lc = pio_ds_batch_column(lb, k);
            size_t bytes = (size_t)(rc->shape[0] * rc->shape[1] * pio_dtype_size(rc->dtype));
            CHECKF(memcmp(rc->data, lc->data, bytes) == 0, "batch %d column %s", round, rc->name);
        }
    }
    pio_ds_batch_free(rb);
    pio_ds_batch_free(lb);
    pio_dataset_close(rd);
    pio_dataset_close(ld);
}

/* Every frame, every way, against the fixture's contents. */
static void check_file(const char *name)
{
    char url[512];
    url_of(url, sizeof(url), "ok/all", name);
    setenv("PIO_REMOTE_CACHE_MB", "1", 1); /* smaller than the file: spans come and go */
    pio_reader *r = NULL;
    struct pio_error e = {0};
    CHECKF(pio_reader_open(&r, url, NULL, &e) == 0, "%s: %s", url, e.message);
    if (!r)
        return;
    struct pio_remote_stats st;
    CHECK(pio_reader_remote_stats(r, &st) == 0);
    CHECKF(st.requests <= 3, "%s: open took %llu requests", name, (unsigned long long)st.requests);
    CHECK(st.retries == 0);
    CHECK(pio_reader_nframes(r) == NFRAMES);

    /* frame views: copies, held for 15 more frames */
    struct pio_frame held;
    for (uint64_t i = 0; i < NFRAMES; i++) {
        struct pio_frame f;
        struct fixture_frame ff;
        fixture_make(&ff, i, SEED, false, ATOMS);
        CHECKF(pio_reader_frame(r, i, &f, &e) == 0, "%s", e.message);
        CHECKF(fixture_equal(&f, &ff), "%s: frame %llu", name, (unsigned long long)i);
        CHECK(f.fields & PIO_FIELD_DECODED);
        fixture_free(&ff);
        if (i % 16 == 0)
            held = f;
        if (i % 16 == 15) {
            fixture_make(&ff, i - 15, SEED, false, ATOMS);
            CHECKF(fixture_equal(&held, &ff), "%s: view of frame %llu after 15 more", name,
                   (unsigned long long)(i - 15));
            fixture_free(&ff);
        }
        TEST_STOP_IF_FLOODED_VOID();
    }
    /* out of order, each verified */
    for (uint64_t k = 0; k < NFRAMES; k += 7) {
        uint64_t i = (k * 131) % NFRAMES;
        CHECKF(pio_reader_verify_frame(r, i, &e) == 0, "%s", e.message);
        struct pio_frame f;
        float(*x)[3] = malloc(ATOMS * 12);
        float(*const xyz[3])[3] = {x, NULL, NULL};
        CHECKF(pio_reader_frame_into(r, i, xyz, ATOMS, &f, &e) == 0, "%s", e.message);
        struct fixture_frame ff;
        fixture_make(&ff, i, SEED, false, ATOMS);
        CHECK(memcmp(x, ff.x, ATOMS * 12) == 0);
        CHECK(f.nscalars == ff.f.nscalars);
        for (uint32_t s = 0; s < f.nscalars && s < ff.f.nscalars; s++)
            CHECK(strcmp(f.scalars[s].name, ff.sc[s].name) == 0 &&
                  f.scalars[s].value == ff.sc[s].value);
        fixture_free(&ff);
        free(x);
    }
    /* a selection of atoms over every frame */
    uint64_t atoms[3] = {0, 17, ATOMS - 1};
    float(*sel)[3] = malloc((size_t)NFRAMES * 3 * 12);
    float(*const sxyz[3])[3] = {sel, NULL, NULL};
    CHECKF(pio_reader_read(r, 0, NFRAMES, atoms, 3, sxyz, &e) == 0, "%s", e.message);
    for (uint64_t i = 0; i < NFRAMES; i++) {
        struct fixture_frame ff;
        fixture_make(&ff, i, SEED, false, ATOMS);
        for (int a = 0; a < 3; a++)
            CHECK(memcmp(sel[i * 3 + a], ff.x + atoms[a] * 3, 12) == 0);
        fixture_free(&ff);
    }
    free(sel);
    /* a verifying stream, in order and not */
    for (int unordered = 0; unordered < 2; unordered++) {
        struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
        so.flags = PIO_STREAM_VERIFY | (unordered ? PIO_STREAM_UNORDERED : 0);
        pio_frame_stream *s = NULL;
        CHECKF(pio_frame_stream_open(&s, r, NULL, NFRAMES, &so, &e) == 0, "%s", e.message);
        uint64_t seen = 0;
        struct pio_frame f;
        int rc;
        while (s && (rc = pio_frame_stream_next(s, &f, &e)) == 1) {
            struct fixture_frame ff;
            fixture_make(&ff, f.index, SEED, false, ATOMS);
            CHECKF(fixture_equal(&f, &ff), "%s: stream frame %llu", name,
                   (unsigned long long)f.index);
            fixture_free(&ff);
            pio_frame_stream_release(s, &f);
            seen++;
        }
        CHECK(seen == NFRAMES);
        pio_frame_stream_close(s);
    }
    CHECKF(pio_reader_verify(r, 0, &e) == 0, "%s", e.message);
    struct pio_reader_info in;
    CHECK(pio_reader_info(r, &in) == 0 && in.max_natoms == ATOMS && in.damaged_frames == 0);
    uint64_t added;
    CHECK(pio_reader_refresh(r, &added, &e) == PIO_ENOTSUPPORTED);
    pio_reader_close(r);
    unsetenv("PIO_REMOTE_CACHE_MB");
}

struct thr {
    pio_reader *r;
    uint64_t first;
    int bad;
};

static void *thr_read(void *arg)
{
    struct thr *t = arg;
    for (uint64_t k = 0; k < NFRAMES; k++) {
        uint64_t i = (t->first + k * 37) % NFRAMES;
        struct pio_frame f;
        struct fixture_frame ff;
        fixture_make(&ff, i, SEED, false, ATOMS);
        if (pio_reader_frame(t->r, i, &f, NULL) != 0 || !fixture_equal(&f, &ff))
            t->bad++;
        fixture_free(&ff);
    }
    return NULL;
}

/* A walk (info) on a thread of its own, beside others and frame reads. */
static void *thr_walk(void *arg)
{
    struct thr *t = arg;
    struct pio_reader_info in;
    for (int k = 0; k < 3; k++)
        if (pio_reader_info(t->r, &in) != 0 || in.damaged_frames != 0 || in.max_natoms != ATOMS)
            t->bad++;
    return NULL;
}

static void check_threads(const char *name)
{
    char url[512];
    url_of(url, sizeof(url), "ok/all", name);
    setenv("PIO_REMOTE_CACHE_MB", "1", 1);
    pio_reader *r = NULL;
    struct pio_error e = {0};
    CHECKF(pio_reader_open(&r, url, NULL, &e) == 0, "%s", e.message);
    unsetenv("PIO_REMOTE_CACHE_MB");
    if (!r)
        return;
    pthread_t th[6];
    struct thr t[6];
    for (int k = 0; k < 6; k++) {
        t[k] = (struct thr){r, (uint64_t)k * 75, 0};
        pthread_create(&th[k], NULL, k < 4 ? thr_read : thr_walk, &t[k]);
    }
    for (int k = 0; k < 6; k++) {
        pthread_join(th[k], NULL);
        CHECKF(t[k].bad == 0, "thread %d: %d bad frames", k, t[k].bad);
    }
    pio_reader_close(r);
}

/* Every frame of r read and checked: how many failed (e: the last error). */
static uint64_t read_all(pio_reader *r, bool may_fail, struct pio_error *e)
{
    uint64_t failed = 0;
    for (uint64_t k = 0; k < NFRAMES; k++) {
        uint64_t i = NFRAMES - 1 - (k * 37) % NFRAMES;
        struct pio_frame f;
        struct fixture_frame ff;
        fixture_make(&ff, i, SEED, false, ATOMS);
        if (pio_reader_frame(r, i, &f, e) != 0) {
            CHECKF(may_fail, "frame %llu: %s", (unsigned long long)i, e->message);
            failed++;
        } else {
            CHECKF(fixture_equal(&f, &ff), "frame %llu wrong", (unsigned long long)i);
        }
        fixture_free(&ff);
    }
    return failed;
}

/* Answers with the wrong range while a verify walks the file (the index
 * records that lookups brought in are held then): the walk fails, and
 * nothing the reader holds is touched: every frame reads right after. */
static void check_window(const char *name)
{
    setenv("PIO_REMOTE_BACKOFF_MS", "1", 1);
    setenv("PIO_REMOTE_RETRIES", "0", 1);
    char url[512];
    pio_reader *r = NULL;
    struct pio_error e = {0};
    /* how many requests opening and reading every frame take */
    url_of(url, sizeof(url), "ok/all", name);
    CHECKF(pio_reader_open(&r, url, NULL, &e) == 0, "%s", e.message);
    struct pio_remote_stats st = {0};
    if (r) {
        CHECK(read_all(r, false, &e) == 0);
        pio_reader_remote_stats(r, &st);
        pio_reader_close(r);
    }
    /* the same, then the requests after them answered wrong */
    char when[64];
    snprintf(when, sizeof(when), "wrong/%llu-%llu", (unsigned long long)st.requests,
             (unsigned long long)st.requests + 4);
    url_of(url, sizeof(url), when, name);
    CHECKF(pio_reader_open(&r, url, NULL, &e) == 0, "%s", e.message);
    if (r) {
        CHECK(read_all(r, false, &e) == 0);
        int rc = pio_reader_verify(r, 0, &e);
        CHECKF(rc != 0 && strstr(e.message, "wrong range"), "verify: %d %s", rc, e.message);
        for (int k = 0; k < 10 && rc != 0; k++) /* (until past the window) */
            rc = pio_reader_verify(r, 0, &e);
        CHECKF(rc == 0, "%s", e.message);
        CHECK(read_all(r, false, &e) == 0);
        pio_reader_close(r);
    }
    unsetenv("PIO_REMOTE_BACKOFF_MS");
    unsetenv("PIO_REMOTE_RETRIES");
}

static void check_faults(const char *name)
{
    setenv("PIO_REMOTE_BACKOFF_MS", "5", 1);
    setenv("PIO_REMOTE_RETRIES", "2", 1);
    char url[512];
    pio_reader *r = NULL;
    struct pio_error e = {0};
    /* the open's request failing for good */
    url_of(url, sizeof(url), "e503/all", name);
    int rc = pio_reader_open(&r, url, NULL, &e);
    CHECKF(rc == -EIO && strstr(e.message, url) && strstr(e.message, "HTTP 503") &&
               strstr(e.message, "after 3 tries"),
           "%d %s", rc, e.message);
    /* a frame's request failing for good, after a good open */
    url_of(url, sizeof(url), "e500/2-1000", name);
    CHECKF(pio_reader_open(&r, url, NULL, &e) == 0, "%s", e.message);
    if (r) {
        struct pio_frame f;
        rc = pio_reader_frame(r, NFRAMES / 2, &f, &e);
        CHECKF(rc == -EIO && strstr(e.message, "frame 150") && strstr(e.message, url), "%d %s", rc,
               e.message);
        pio_reader_close(r);
    }
    /* the object changes after the open: never its new bytes */
    url_of(url, sizeof(url), "changed/0-3", name);
    CHECKF(pio_reader_open(&r, url, NULL, &e) == 0, "%s", e.message);
    if (r) {
        struct pio_frame f;
        rc = pio_reader_frame(r, NFRAMES / 3, &f, &e);
        CHECKF(rc == -ESTALE && strstr(e.message, "changed"), "%d %s", rc, e.message);
        pio_reader_close(r);
    }
    /* retried, then right */
    url_of(url, sizeof(url), "drop/2-4", name);
    CHECKF(pio_reader_open(&r, url, NULL, &e) == 0, "%s", e.message);
    if (r) {
        struct pio_frame f;
        struct fixture_frame ff;
        fixture_make(&ff, 100, SEED, false, ATOMS);
        CHECKF(pio_reader_frame(r, 100, &f, &e) == 0 && fixture_equal(&f, &ff), "%s", e.message);
        fixture_free(&ff);
        struct pio_remote_stats st;
        CHECK(pio_reader_remote_stats(r, &st) == 0 && st.retries >= 1);
        pio_reader_close(r);
    }
    /* not there */
    url_of(url, sizeof(url), "ok/all", "none.holo");
    rc = pio_reader_open(&r, url, NULL, &e);
    CHECKF(rc == -ENOENT && strstr(e.message, "HTTP 404"), "%d %s", rc, e.message);
    unsetenv("PIO_REMOTE_BACKOFF_MS");
    unsetenv("PIO_REMOTE_RETRIES");
}

int main(void)
{
    CHECK(pio_path_is_remote("http://h/x.holo") && pio_path_is_remote("https://h/x") &&
          pio_path_is_remote("s3://b/k") && !pio_path_is_remote("/tmp/x.holo") &&
          !pio_path_is_remote("http:/x"));
    if (!pio_remote_built()) {
        pio_reader *r = NULL;
        struct pio_error e = {0};
        CHECK(pio_reader_open(&r, "http://127.0.0.1:9/x.holo", NULL, &e) == PIO_ENOTSUPPORTED &&
              strstr(e.message, "built without libcurl"));
        return TEST_RESULT();
    }
    snprintf(dir, sizeof(dir), "%s/pio_remote_%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    mkdir(dir, 0755);
    make_file("raw.holo", 0, NFRAMES / 2);
    make_file("packed.holo", 64, NFRAMES / 2); /* 2.2: small raw frames packed in blocks */
    make_file("commits.holo", 0, 7);           /* 43 commits: lookups follow back links */
    make_dataset("ds.holo");
    if (server_start() != 0) {
        fprintf(stderr, "SKIP: no Python to run the test server\n");
        server_stop();
        return 77;
    }
    check_file("raw.holo");
    check_file("packed.holo");
    check_threads("raw.holo");
    check_faults("raw.holo");
    check_window("commits.holo");
    check_dataset("ds.holo");
    server_stop();
    char path[600];
    snprintf(path, sizeof(path), "%s/raw.holo", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/packed.holo", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/commits.holo", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/ds.holo", dir);
    unlink(path);
    rmdir(dir);
    return TEST_RESULT();
}
