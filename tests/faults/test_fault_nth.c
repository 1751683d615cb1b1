/*
 * Fail-the-Nth-call loops (issue 21), SQLite style: for each scenario (a
 * sequence of API calls) and N = 1, 2, 3, ..., the Nth allocation (or I/O
 * call) made while the scenario runs fails, until a run makes fewer than N
 * and so succeeds untouched. Every run must
 *  - return an error code with a message (or, where the library absorbs
 *    the failure by design, succeed with exactly the right result);
 *  - never crash, abort or trip a sanitizer;
 *  - leak nothing: every heap block, mapping, descriptor and stream made
 *    during the run is gone when it ends (fault_wrap.c tracks them all,
 *    with where each was made; LeakSanitizer checks the heap at exit too);
 *  - never hand out wrong data: every frame a call returns is compared with
 *    the frame written;
 *  - leave files as the API promises: after a failed writer, append or
 *    recovery, the file opens with at least its committed frames, bit-exact,
 *    and recovers to a file that verifies; a failed DROP_DAMAGED rewrite
 *    leaves the original untouched and no temporary behind; a failed
 *    conversion to a foreign format leaves neither the output nor its .part.
 *
 *   test_fault_nth alloc   out of memory: malloc, calloc, realloc, strdup,
 *                          aligned_alloc, realpath, fdopen, mmap,
 *                          pthread_create, ... (fault_wrap.h)
 *   test_fault_nth io      four passes: the Nth I/O call fails with EIO; the
 *                          Nth write is short; the Nth write is short and
 *                          every later one fails with ENOSPC (a full disk);
 *                          the Nth pread is short
 * An optional second argument runs one scenario. PIO_FAULT_VERBOSE=1
 * prints every run.
 *
 * Scenarios: write (create, topology, metadata, append, commit,
 * append_many, commit, close); append and append-torn (open_append on a
 * committed file, and on a torn one it recovers first); recover
 * (pio_holo_recover of a torn file); recover-drop (the DROP_DAMAGED
 * rewrite of a file with a damaged frame); read (views with CHECK_FRAMES,
 * topology, metadata, frame streams, verify; a torn file recovered in
 * memory); xtc-to-holo and holo-to-xtc (pio_source_open, pio_sink_open,
 * pio_pipeline_run with frame and atom selections, a GRO topology, XTC
 * decoder and pipeline threads); select (pio_select_frames and
 * pio_select_atoms, valid and invalid). write, append and read run again
 * with O_DIRECT (in a directory under TMPDIR or /tmp: tmpfs has none), and
 * write and read with io_uring (out of memory only).
 *
 * Every reader, writer, source and sink here is opened with the pread
 * engine (PIO_IO_PREAD): io_uring would read and write behind the wrapped
 * calls, so its I/O could not be failed, and the mmap engine would read
 * frames without any call to fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <prismio/convert.h>
#include <prismio/holo.h>
#include <prismio/pipeline.h>

#include "fault_util.h"
#include "fault_wrap.h"
#include "holo_fixture.h"

#define NF       8
#define SEED     7
#define BASE     5
#define MAX_RUNS 20000 /* a scenario still failing after this many is stuck */

static const uint8_t salt[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

struct scenario;

static struct {
    const char *dir;
    bool verbose;
    struct fixture_frame ff[NF];
    struct pio_frame fr[NF]; /* the same frames, contiguous (append_many) */
    /* inputs, made once */
    char ref8[600], ref3[600], xtc[600], gro[600], ref_in[600], ref_out[600];
    uint8_t *torn, *damaged, *ref3_bytes, *ref8_bytes;
    size_t torn_len, damaged_len, ref3_len, ref8_len;
    char direct_dir[512]; /* on a filesystem with O_DIRECT (tmpfs has none) */
    /* scenario state */
    const struct scenario *sc;
    char work[600], work2[600], work_xtc[600];
    const char *mode, *sc_name;
    bool created;
    uint64_t committed;
    /* an append failed and the writer took the frame again (it promises to
     * stay usable after a failed frame write): the first error, and how the
     * run ended after it */
    int retried, after;
    struct pio_error retry_err, after_err;
    int wrong; /* frames handed out that differ from the ones written */
    /* checks already reported (see CHECKF below) */
    char reported[256][512];
    int nreported;
    long repeats;
} G;

/*
 * A failed check is reported once per check, scenario, mode and injection
 * site: a bug that many runs hit (every allocation of a loop, say) gives
 * one line, and the runs that repeat it are counted in the summary.
 */
static bool first_report(int line)
{
    char key[512];
    snprintf(key, sizeof(key), "%d|%s|%s|%s", line, G.mode ? G.mode : "",
             G.sc_name ? G.sc_name : "", G.mode ? fw_site() : "");
    for (int i = 0; i < G.nreported; i++)
        if (strcmp(G.reported[i], key) == 0) {
            G.repeats++;
            return false;
        }
    if (G.nreported < 256)
        snprintf(G.reported[G.nreported++], sizeof(G.reported[0]), "%s", key);
    return true;
}

#undef CHECKF
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond) && first_report(__LINE__)) {                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            pio_test_failures++;                                                                   \
        }                                                                                          \
    } while (0)

static char *path_in(char *buf, const char *name)
{
    snprintf(buf, 600, "%s/%s", G.dir, name);
    return buf;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Files of the scratch directory whose name contains `part`. */
static int leftovers(const char *part)
{
    DIR *d = opendir(G.dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strstr(de->d_name, part) != NULL;
    if (d)
        closedir(d);
    return n;
}

static bool same_frame(const struct pio_frame *a, const struct pio_frame *b)
{
    size_t n = (size_t)a->natoms * 12;
    if (a->natoms != b->natoms || a->fields != b->fields || a->nscalars != b->nscalars ||
        a->step != b->step || memcmp(&a->time, &b->time, 8) != 0)
        return false;
    if ((a->fields & PIO_FIELD_BOX) && memcmp(a->box, b->box, sizeof(a->box)) != 0)
        return false;
    if (memcmp(a->positions, b->positions, n) != 0)
        return false;
    if (!!a->velocities != !!b->velocities || !!a->forces != !!b->forces)
        return false;
    if (a->velocities && memcmp(a->velocities, b->velocities, n) != 0)
        return false;
    if (a->forces && memcmp(a->forces, b->forces, n) != 0)
        return false;
    return a->nscalars == 0 ||
           memcmp(a->scalars, b->scalars, a->nscalars * sizeof(struct pio_scalar)) == 0;
}

/* A frame handed out during a run: it must be fixture frame `i`. */
static void expect_fixture(const struct pio_frame *f, uint64_t i)
{
    if (i >= NF || !fixture_equal(f, &G.ff[i])) {
        fprintf(stderr, "WRONG DATA: frame %llu differs from the frame written\n",
                (unsigned long long)i);
        G.wrong++;
    }
}

/* ---- inputs ------------------------------------------------------------------ */

static const char top_names[5][8] = {"OW", "HW1", "HW2", "NA", "CL"};
static const char top_resnames[5][8] = {"SOL", "SOL", "SOL", "ION", "ION"};

static int set_meta(pio_writer *w, struct pio_error *e)
{
    struct pio_topology t = {.natoms = 5, .names = top_names, .resnames = top_resnames};
    int rc = pio_writer_set_topology(w, &t, e);
    if (rc == 0)
        rc = pio_writer_set_metadata(w, "origin", "test_fault_nth", e);
    if (rc == 0)
        rc = pio_writer_set_metadata(w, "units", "nm ps", e);
    return rc;
}

/* A file of frames [0, n) committed after `split` frames (0: once), or
 * with `torn`, frames [0, 5) of which the last two are not committed and
 * half of a sixth: the bytes are returned instead. */
static int make_holo(const char *path, uint64_t n, uint64_t split, uint8_t **torn, size_t *torn_len)
{
    pio_writer *w = fixture_writer_salted(path, salt);
    struct pio_error e = {0};
    if (!w || set_meta(w, &e) != 0)
        return -1;
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        rc = pio_writer_append(w, &G.fr[i], &e);
        if (rc == 0 && i + 1 == split)
            rc = pio_writer_commit(w, &e);
        if (rc == 0 && torn && i == 4) {
            size_t a = 0, b = 0;
            uint8_t *x = fixture_slurp(path, &a);
            free(x);
            rc = pio_writer_append(w, &G.fr[5], &e);
            x = fixture_slurp(path, &b);
            *torn = x;
            *torn_len = a + (b - a) / 2;
            break;
        }
    }
    if (pio_writer_close(w, &e) != 0 || rc != 0) {
        fprintf(stderr, "%s: %s\n", path, e.message);
        return -1;
    }
    return 0;
}

static int convert(const char *in, const char *top, const char *out, const char *frames,
                   const char *atoms, struct pio_error *e)
{
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.engine = PIO_IO_PREAD;
    struct pio_source_options so = PIO_SOURCE_OPTIONS_INIT;
    so.topology = top;
    so.reader = &ro;
    so.threads = 2; /* XTC: a decoder thread besides the source's */
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.engine = PIO_IO_PREAD;
    wo.salt = salt;
    struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
    ko.flags = PIO_SINK_OVERWRITE;
    ko.writer = &wo;
    ko.commit_frames = 2;
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    po.threads = 2;
    po.batch_frames = 2;
    po.frames = frames;
    po.atoms = atoms;
    struct pio_source src;
    struct pio_sink sink;
    int rc = pio_source_open(&src, in, &so, e);
    if (rc != 0)
        return rc;
    rc = pio_sink_open(&sink, out, &ko, e);
    if (rc != 0) {
        pio_source_destroy(&src);
        return rc;
    }
    rc = pio_pipeline_run(&src, &sink, &po, NULL, e);
    pio_sink_destroy(&sink);
    pio_source_destroy(&src);
    return rc;
}

static int make_inputs(void)
{
    for (int i = 0; i < NF; i++) {
        fixture_make(&G.ff[i], (uint64_t)i, SEED, true, BASE);
        G.fr[i] = G.ff[i].f;
    }
    char tmp[600];
    if (make_holo(path_in(G.ref8, "ref8.holo"), NF, 3, NULL, NULL) != 0 ||
        make_holo(path_in(G.ref3, "ref3.holo"), 3, 0, NULL, NULL) != 0 ||
        make_holo(path_in(tmp, "torn.tmp"), NF, 3, &G.torn, &G.torn_len) != 0 ||
        make_holo(path_in(tmp, "damaged.tmp"), 6, 0, NULL, NULL) != 0)
        return -1;
    G.ref3_bytes = fixture_slurp(G.ref3, &G.ref3_len);
    G.ref8_bytes = fixture_slurp(G.ref8, &G.ref8_len);
    /* a committed file with one byte of frame 2's positions flipped */
    G.damaged = fixture_slurp(tmp, &G.damaged_len);
    pio_reader *r;
    struct pio_error e = {0};
    uint64_t off = 0, len = 0;
    if (!G.damaged || !G.ref3_bytes || !G.ref8_bytes || pio_reader_open(&r, tmp, NULL, &e) != 0)
        return -1;
    pio_reader_frame_extent(r, 2, &off, &len);
    pio_reader_close(r);
    G.damaged[off + 192 + 5] ^= 0x10; /* past the 192-byte frame header */
    unlink(tmp);
    /* foreign inputs: 8 peptide frames, and the references of the
     * conversion scenarios */
    path_in(G.gro, "peptide.gro");
    size_t n;
    uint8_t *g = fixture_slurp(PIO_TEST_DATA_DIR "/peptide.gro", &n);
    if (!g || fixture_spit(G.gro, g, n) != 0)
        return -1;
    free(g);
    if (convert(PIO_TEST_DATA_DIR "/peptide.xtc", NULL, path_in(G.xtc, "small.xtc"), "0:8", NULL,
                &e) != 0 ||
        convert(G.xtc, G.gro, path_in(G.ref_in, "ref_in.holo"), "1:8:2", "resname ALA or name CA",
                &e) != 0 ||
        convert(G.ref_in, NULL, path_in(G.ref_out, "ref_out.xtc"), NULL, "index 0-19", &e) != 0) {
        fprintf(stderr, "making the conversion inputs: %s\n", e.message);
        return -1;
    }
    path_in(G.work_xtc, "work.xtc");
    return 0;
}

/* ---- checks ------------------------------------------------------------------ */

/*
 * A HOLO file left by a failed (or successful) run: it opens, with at
 * least `min` frames, each bit-exact (fixture frame idx[k], or frame k of
 * `ref` when given), and recovers to a file that verifies with all of
 * them. A missing file is fine only when nothing was committed.
 */
static void check_holo(const char *tag, const char *path, uint64_t min, const uint64_t *idx,
                       const char *ref)
{
    if (!exists(path)) {
        CHECKF(min == 0, "%s: %s is gone (%llu frames were committed)", tag, path,
               (unsigned long long)min);
        return;
    }
    pio_reader *r = NULL, *rr = NULL;
    struct pio_error e = {0};
    int rc = pio_reader_open(&r, path, NULL, &e);
    if (rc != 0) {
        struct stat st;
        stat(path, &st);
        CHECKF(0, "%s: the file left behind (%lld bytes, %llu frames committed) does not open: %s",
               tag, (long long)st.st_size, (unsigned long long)min, e.message);
        return;
    }
    if (ref && pio_reader_open(&rr, ref, NULL, &e) != 0)
        CHECKF(0, "%s: %s: %s", tag, ref, e.message);
    uint64_t n = pio_reader_nframes(r);
    CHECKF(n >= min, "%s: %llu frames, %llu were committed", tag, (unsigned long long)n,
           (unsigned long long)min);
    for (uint64_t k = 0; k < n; k++) {
        struct pio_frame f, g;
        if (pio_reader_frame(r, k, &f, &e) != 0 || pio_reader_verify_frame(r, k, &e) != 0) {
            CHECKF(0, "%s: frame %llu: %s", tag, (unsigned long long)k, e.message);
            continue;
        }
        if (rr) {
            CHECKF(k < pio_reader_nframes(rr) && pio_reader_frame(rr, k, &g, &e) == 0 &&
                       same_frame(&f, &g),
                   "%s: frame %llu differs from the reference", tag, (unsigned long long)k);
        } else {
            uint64_t i = idx ? idx[k] : k;
            CHECKF(i < NF && fixture_equal(&f, &G.ff[i]), "%s: frame %llu is not the one written",
                   tag, (unsigned long long)k);
        }
    }
    pio_reader_close(r);
    pio_reader_close(rr);
    /* and it recovers to a committed file that verifies */
    rc = pio_holo_recover(path, NULL, &e);
    CHECKF(rc == 0, "%s: recovering the file left behind: %s", tag, e.message);
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = PIO_READER_NO_RECOVERY;
    if (rc == 0) {
        rc = pio_reader_open(&r, path, &ro, &e);
        if (rc == 0)
            rc = pio_reader_verify(r, 1, &e);
        CHECKF(rc == 0, "%s: the recovered file: %s", tag, e.message);
        CHECKF(rc != 0 || pio_reader_nframes(r) >= min, "%s: recovered to %llu frames", tag,
               (unsigned long long)pio_reader_nframes(r));
        pio_reader_close(r);
    }
}

static bool same_bytes(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    uint8_t *x = fixture_slurp(a, &la), *y = fixture_slurp(b, &lb);
    bool same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

/* ---- scenarios ----------------------------------------------------------------- */

struct scenario {
    const char *name;
    void (*setup)(void);
    int (*run)(struct pio_error *e);
    void (*check)(int rc, const char *tag);
    bool io;                   /* in the I/O loops too (not io_uring: its I/O is not wrapped) */
    enum pio_io_engine engine; /* writers and readers */
    uint32_t wflags;           /* writer flags (PIO_WRITER_DIRECT) */
    uint32_t rio;              /* reader io_flags (PIO_READER_DIRECT) */
};

static void close_after_error(pio_writer *w)
{
    if (!w)
        return;
    uint64_t n = pio_writer_nframes(w);
    struct pio_error ignored;
    if (pio_writer_close(w, &ignored) == 0)
        G.committed = n;
}

/* Append fixture frame i. A failed frame write leaves the writer usable
 * (pio_writer_append's promise; only a failed sync fails it for good), and
 * the injected failure is over: the frame is appended again, and the run
 * goes on, to end with every frame committed. */
static int append_retry(pio_writer *w, uint64_t i, struct pio_error *e)
{
    int rc = pio_writer_append(w, &G.fr[i], e);
    struct pio_error e2 = {0};
    if (rc == 0 || G.retried || pio_writer_append(w, &G.fr[i], &e2) != 0)
        return rc;
    G.retried = rc;
    G.retry_err = *e;
    return 0;
}

/* The run's result: its first failure, also when an append was retried
 * (how the run ended then is kept for the check). */
static int writer_result(int rc, struct pio_error *e)
{
    if (!G.retried)
        return rc;
    G.after = rc;
    if (rc != 0)
        G.after_err = *e;
    *e = G.retry_err;
    return G.retried;
}

static void check_retried(const char *tag)
{
    CHECKF(!G.retried || (G.after == 0 && G.committed == NF),
           "%s: the writer took a frame again after a failed append, but the run then ended "
           "with %llu frames committed: %s",
           tag, (unsigned long long)G.committed, G.after ? G.after_err.message : "");
}

/* create, topology and metadata, append one by one, commit, append_many,
 * commit, append, close */
static void setup_write(void)
{
    unlink(G.work);
}

static int run_write(struct pio_error *e)
{
    G.committed = 0;
    G.created = false;
    G.retried = G.after = 0;
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.engine = G.sc->engine;
    o.flags = G.sc->wflags;
    o.salt = salt;
    o.hash_threads = 2;
    pio_writer *w = NULL;
    int rc = pio_writer_create(&w, G.work, &o, e);
    if (rc != 0)
        return rc;
    G.created = true;
    rc = set_meta(w, e);
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = append_retry(w, (uint64_t)i, e);
    if (rc == 0 && (rc = pio_writer_commit(w, e)) == 0)
        G.committed = 3;
    if (rc == 0)
        rc = pio_writer_append_many(w, &G.fr[3], 3, e);
    if (rc == 0 && (rc = pio_writer_commit(w, e)) == 0)
        G.committed = 6;
    for (int i = 6; i < NF && rc == 0; i++)
        rc = append_retry(w, (uint64_t)i, e);
    if (rc == 0) {
        rc = pio_writer_close(w, e);
        w = NULL;
        if (rc == 0)
            G.committed = NF;
    }
    close_after_error(w);
    return writer_result(rc, e);
}

static void check_write(int rc, const char *tag)
{
    check_retried(tag);
    if (rc == 0) {
        CHECKF(G.committed == NF, "%s: a successful run left %llu frames", tag,
               (unsigned long long)G.committed);
        check_holo(tag, G.work, NF, NULL, NULL);
        return;
    }
    if (!G.created && exists(G.work)) {
        struct stat st;
        stat(G.work, &st);
        CHECKF(0, "%s: pio_writer_create failed (%d) but left %s behind (%lld bytes)", tag, rc,
               G.work, (long long)st.st_size);
        return;
    }
    check_holo(tag, G.work, G.committed, NULL, NULL);
}

/* open_append on a committed file of 3 frames, append, commit,
 * append_many, close */
static void setup_append(void)
{
    fixture_spit(G.work, G.ref3_bytes, G.ref3_len);
}

static int run_append(struct pio_error *e)
{
    G.retried = G.after = 0;
    G.committed = 3;
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.engine = G.sc->engine;
    o.flags = G.sc->wflags;
    pio_writer *w = NULL;
    int rc = pio_writer_open_append(&w, G.work, &o, e);
    /* 3 frames, or 5 from a torn file (recovered and committed by the open) */
    uint64_t k = rc == 0 ? pio_writer_nframes(w) : 0;
    if (rc == 0 && k != 3 && k != 5) {
        fprintf(stderr, "WRONG DATA: open_append found %llu frames\n", (unsigned long long)k);
        G.wrong++;
        k = 5;
    }
    G.committed = k ? k : 3;
    for (uint64_t i = k; i < k + 2 && rc == 0; i++)
        rc = append_retry(w, i, e);
    if (rc == 0 && (rc = pio_writer_commit(w, e)) == 0)
        G.committed = k + 2;
    if (rc == 0)
        rc = pio_writer_append_many(w, &G.fr[k + 2], NF - (k + 2), e);
    if (rc == 0) {
        rc = pio_writer_close(w, e);
        w = NULL;
        if (rc == 0)
            G.committed = NF;
    }
    close_after_error(w);
    return writer_result(rc, e);
}

/* The same on a torn file: open_append recovers it first */
static void setup_append_torn(void)
{
    fixture_spit(G.work, G.torn, G.torn_len);
}

static void check_append(int rc, const char *tag)
{
    check_retried(tag);
    CHECKF(rc != 0 || G.committed == NF, "%s: appended %llu", tag, (unsigned long long)G.committed);
    check_holo(tag, G.work, G.committed, NULL, NULL);
}

/* pio_holo_recover on a torn file: 3 frames committed, 2 more complete,
 * half of a sixth */
static void setup_recover(void)
{
    fixture_spit(G.work, G.torn, G.torn_len);
}

static struct pio_recover_report rep;

static int run_recover(struct pio_error *e)
{
    memset(&rep, 0, sizeof(rep));
    return pio_holo_recover(G.work, &rep, e);
}

static void check_recover(int rc, const char *tag)
{
    if (rc == 0)
        CHECKF(rep.nframes == 5 && rep.removed_bytes > 0 && !rep.was_committed,
               "%s: report: %llu frames, %llu bytes removed", tag, (unsigned long long)rep.nframes,
               (unsigned long long)rep.removed_bytes);
    /* the 5 complete frames, whatever happened (the 3 committed at least) */
    check_holo(tag, G.work, rc == 0 ? 5 : 3, NULL, NULL);
    pio_reader *r;
    struct pio_error e = {0};
    if (pio_reader_open(&r, G.work, NULL, &e) == 0) {
        CHECKF(pio_reader_nframes(r) == 5, "%s: %llu frames after recovery", tag,
               (unsigned long long)pio_reader_nframes(r));
        pio_reader_close(r);
    }
}

/* PIO_RECOVER_DROP_DAMAGED on a committed file whose frame 2 is damaged:
 * a rewrite through a temporary file renamed over it */
static void setup_drop(void)
{
    fixture_spit(G.work, G.damaged, G.damaged_len);
}

static char drop_msg[512];

static int run_drop(struct pio_error *e)
{
    memset(&rep, 0, sizeof(rep));
    int rc = pio_holo_recover_flags(G.work, PIO_RECOVER_DROP_DAMAGED, &rep, e);
    snprintf(drop_msg, sizeof(drop_msg), "%s", rc ? e->message : "");
    return rc;
}

static void check_drop(int rc, const char *tag)
{
    CHECKF(leftovers(".recover-") == 0, "%s: a temporary file was left behind", tag);
    static const uint64_t kept[5] = {0, 1, 3, 4, 5};
    if (rc != 0 && strstr(drop_msg, "syncing its directory failed")) {
        /* the rename was done (it cannot be taken back): the rewritten
         * file is in place with the intact frames, and the error says the
         * rename may not be durable */
        check_holo(tag, G.work, 5, kept, NULL);
        return;
    } else if (rc != 0) {
        size_t n = 0;
        uint8_t *b = fixture_slurp(G.work, &n);
        CHECKF(b && n == G.damaged_len && memcmp(b, G.damaged, n) == 0,
               "%s: a failed rewrite changed the file", tag);
        free(b);
        /* clean up for the next run */
        DIR *d = opendir(G.dir);
        struct dirent *de;
        char p[900];
        while (d && (de = readdir(d)))
            if (strstr(de->d_name, ".recover-")) {
                snprintf(p, sizeof(p), "%s/%s", G.dir, de->d_name);
                unlink(p);
            }
        if (d)
            closedir(d);
        return;
    }
    CHECKF(rep.rewritten && rep.nframes == 5 && rep.damaged_frames == 1,
           "%s: report: rewritten %d, %llu frames, %llu damaged", tag, rep.rewritten,
           (unsigned long long)rep.nframes, (unsigned long long)rep.damaged_frames);
    check_holo(tag, G.work, 5, kept, NULL);
}

/* A reader: every view, topology, metadata, frame checks, streams (all
 * frames; a list with repeats, one read per frame), verify; then a torn
 * file recovered in memory. */
static void setup_none(void)
{
}

static int read_frames(pio_reader *r, uint64_t n, struct pio_error *e)
{
    int rc = 0;
    CHECK(pio_reader_nframes(r) == n);
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        struct pio_frame f;
        if ((rc = pio_reader_frame(r, i, &f, e)) == 0)
            expect_fixture(&f, i);
    }
    static const uint64_t list[4] = {4, 1, 1, 3};
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
        so.flags = pass ? PIO_STREAM_NO_COALESCE : 0;
        so.queue_depth = 2;
        pio_frame_stream *s = NULL;
        const uint64_t *frames = pass ? list : NULL;
        uint64_t want = pass ? 4 : n, got = 0;
        rc = pio_frame_stream_open(&s, r, frames, want, &so, e);
        struct pio_frame f;
        while (rc == 0) {
            int k = pio_frame_stream_next(s, &f, e);
            if (k <= 0) {
                rc = k;
                break;
            }
            expect_fixture(&f, f.index);
            if (f.index != (frames ? frames[got] : got)) {
                fprintf(stderr, "WRONG DATA: stream gave frame %llu for %llu\n",
                        (unsigned long long)f.index, (unsigned long long)got);
                G.wrong++;
            }
            got++;
            pio_frame_stream_release(s, &f);
        }
        if (rc == 0 && got != want) {
            fprintf(stderr, "WRONG DATA: a stream ended after %llu of %llu frames\n",
                    (unsigned long long)got, (unsigned long long)want);
            G.wrong++;
        }
        pio_frame_stream_close(s);
    }
    return rc;
}

static int run_read(struct pio_error *e)
{
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.engine = G.sc->engine;
    ro.io_flags = G.sc->rio;
    ro.flags = PIO_READER_CHECK_FRAMES;
    pio_reader *r = NULL;
    int rc = pio_reader_open(&r, G.work2, &ro, e);
    if (rc != 0)
        return rc;
    rc = read_frames(r, NF, e);
    struct pio_topology t;
    if (rc == 0 && (rc = pio_reader_topology(r, &t)) == 0 &&
        (t.natoms != 5 || memcmp(t.names[3], "NA", 3) != 0)) {
        fprintf(stderr, "WRONG DATA: topology\n");
        G.wrong++;
    }
    const char *v = rc == 0 ? pio_reader_metadata_get(r, "units") : NULL;
    if (rc == 0 && (!v || strcmp(v, "nm ps") != 0)) {
        fprintf(stderr, "WRONG DATA: metadata\n");
        G.wrong++;
    }
    if (rc == 0)
        rc = pio_reader_verify_frame(r, 6, e);
    if (rc == 0)
        rc = pio_reader_verify(r, 1, e);
    pio_reader_close(r);
    if (rc != 0)
        return rc;
    /* no footer: recovered in memory */
    ro.flags = 0;
    if ((rc = pio_reader_open(&r, G.work, &ro, e)) != 0)
        return rc;
    struct pio_reader_info info;
    pio_reader_info(r, &info);
    if (!info.recovered) {
        fprintf(stderr, "WRONG DATA: the torn file was not recovered\n");
        G.wrong++;
    }
    rc = read_frames(r, 5, e);
    pio_reader_close(r);
    return rc;
}

static void check_read(int rc, const char *tag)
{
    (void)rc; /* the frames were compared as they came (G.wrong) */
    size_t n = 0;
    uint8_t *b = fixture_slurp(G.work, &n);
    CHECKF(b && n == G.torn_len && memcmp(b, G.torn, n) == 0, "%s: a reader changed the file", tag);
    free(b);
}

static void setup_read(void)
{
    fixture_spit(G.work, G.torn, G.torn_len);
    fixture_spit(G.work2, G.ref8_bytes, G.ref8_len);
}

/* XTC (8 frames, 2 decoder threads) with a GRO topology -> HOLO through
 * the pipeline: frames 1:8:2, atoms "resname ALA or name CA", 2 workers,
 * batches of 2, a commit every 2 frames */
static void setup_conv_in(void)
{
    unlink(G.work);
}

static int run_conv_in(struct pio_error *e)
{
    return convert(G.xtc, G.gro, G.work, "1:8:2", "resname ALA or name CA", e);
}

static void check_conv_in(int rc, const char *tag)
{
    if (rc == 0)
        CHECKF(same_bytes(G.work, G.ref_in), "%s: the output differs from the reference", tag);
    /* a failed run commits what it wrote: a prefix of the reference */
    check_holo(tag, G.work, rc == 0 ? 4 : 0, NULL, G.ref_in);
}

/* HOLO -> XTC (atoms 0-19): the output appears complete or not at all */
static void setup_conv_out(void)
{
    unlink(G.work_xtc);
}

static char conv_msg[512];

static int run_conv_out(struct pio_error *e)
{
    int rc = convert(G.ref_in, NULL, G.work_xtc, NULL, "index 0-19", e);
    snprintf(conv_msg, sizeof(conv_msg), "%s", rc ? e->message : "");
    return rc;
}

static void check_conv_out(int rc, const char *tag)
{
    /* renamed into place, then its directory's sync failed: the error
     * says so and the output, complete, stays (the rename cannot be taken
     * back) */
    if (rc == 0 || strstr(conv_msg, "syncing its directory failed")) {
        CHECKF(same_bytes(G.work_xtc, G.ref_out), "%s: the output differs from the reference", tag);
        return;
    }
    CHECKF(!exists(G.work_xtc), "%s: a failed conversion left its output", tag);
    char part[700];
    snprintf(part, sizeof(part), "%s.part", G.work_xtc);
    /* (an injected failure of the unlink that removes it excepted) */
    CHECKF(!exists(part) || strcmp(fw_site_call(), "unlink") == 0,
           "%s: a failed conversion left %s", tag, part);
    unlink(part);
}

/* Selections: frames and atoms (with a topology: names, resnames,
 * chains, elements, resids), valid and invalid. A failed allocation must
 * give -ENOMEM (not a usage error) and no result. */
static const char *const frame_specs[] = {
    "0:10", "::-1", "5,3,1-4", "2:8:3,0", "-3:", "1-2,x", "", "0:100:7", "9", "10", "::0", "-1::-2",
};
static const char *const atom_specs[] = {
    "all",
    "name H* and not resname SOL",
    "resid 1-3 or index 15:19",
    "(name OW or name HW?) and chain B",
    "not (element O)",
    "index 0 2 4,6",
    "name",
    "bogus",
    "resname ALA ARG and (resid 2 or not chain A)",
    "not not not all",
    "((((index 3))))",
    "element C N or (resid 4:6 and name C*)",
    "index 25",
};
#define NFS       (sizeof(frame_specs) / sizeof(*frame_specs))
#define NAS       (sizeof(atom_specs) / sizeof(*atom_specs))
#define SEL_ATOMS 20

static struct sel_ref {
    int rc;
    uint64_t n;
    uint64_t v[64];
} sel_ref[NFS + NAS];
static int sel_bad;
static char sel_bad_msg[1024];

static char sel_names[SEL_ATOMS][8], sel_res[SEL_ATOMS][8], sel_el[SEL_ATOMS][4],
    sel_chain[SEL_ATOMS][4];
static int32_t sel_resid[SEL_ATOMS];
static struct pio_topology sel_top;

static int select_one(size_t k, uint64_t **out, uint64_t *n, struct pio_error *e)
{
    if (k < NFS)
        return pio_select_frames(frame_specs[k], 10, out, n, e);
    return pio_select_atoms(atom_specs[k - NFS], &sel_top, SEL_ATOMS, out, n, e);
}

static void make_selections(void)
{
    static const char *names[4] = {"OW", "HW1", "HW2", "CA"};
    static const char *res[3] = {"SOL", "ALA", "ARG"};
    for (int i = 0; i < SEL_ATOMS; i++) {
        strcpy(sel_names[i], names[i % 4]);
        strcpy(sel_res[i], res[i % 3]);
        strcpy(sel_el[i], i % 4 == 0 ? "O" : i % 4 == 3 ? "C" : "H");
        strcpy(sel_chain[i], i < 10 ? "A" : "B");
        sel_resid[i] = i / 3;
    }
    sel_top = (struct pio_topology){.natoms = SEL_ATOMS,
                                    .names = sel_names,
                                    .elements = sel_el,
                                    .resnames = sel_res,
                                    .chains = sel_chain,
                                    .resids = sel_resid};
    for (size_t k = 0; k < NFS + NAS; k++) {
        uint64_t *v = NULL, n = 0;
        struct pio_error e = {0};
        sel_ref[k].rc = select_one(k, &v, &n, &e);
        sel_ref[k].n = n;
        for (uint64_t i = 0; i < n && i < 64; i++)
            sel_ref[k].v[i] = v[i];
        free(v);
    }
}

static int run_select(struct pio_error *e)
{
    int first = 0;
    for (size_t k = 0; k < NFS + NAS; k++) {
        uint64_t *v = (uint64_t *)&v, n = 0; /* garbage in: must come back NULL or owned */
        struct pio_error e1 = {0};
        int rc = select_one(k, &v, &n, &e1);
        const struct sel_ref *r = &sel_ref[k];
        bool ok = rc == r->rc && (rc != 0 || (n == r->n && memcmp(v, r->v, n * 8) == 0));
        if (rc != 0 && rc != r->rc)
            ok = rc == -ENOMEM && v == NULL && e1.message[0];
        if (!ok && !sel_bad) {
            snprintf(sel_bad_msg, sizeof(sel_bad_msg), "'%s': %d (expected %d or -ENOMEM): %s",
                     k < NFS ? frame_specs[k] : atom_specs[k - NFS], rc, r->rc, e1.message);
            sel_bad = 1;
        }
        if (rc == 0)
            free(v);
        if (rc != r->rc && !first) {
            first = rc;
            *e = e1;
        }
    }
    return first;
}

static void check_select(int rc, const char *tag)
{
    (void)rc;
    CHECKF(!sel_bad, "%s: %s", tag, sel_bad_msg);
    sel_bad = 0;
}

#define P PIO_IO_PREAD
#define U PIO_IO_URING
#define D PIO_WRITER_DIRECT
static const struct scenario scenarios[] = {
    {"write", setup_write, run_write, check_write, true, P, 0, 0},
    {"append", setup_append, run_append, check_append, true, P, 0, 0},
    {"append-torn", setup_append_torn, run_append, check_append, true, P, 0, 0},
    {"recover", setup_recover, run_recover, check_recover, true, P, 0, 0},
    {"recover-drop", setup_drop, run_drop, check_drop, true, P, 0, 0},
    {"read", setup_read, run_read, check_read, true, P, 0, 0},
    {"xtc-to-holo", setup_conv_in, run_conv_in, check_conv_in, true, P, 0, 0},
    {"holo-to-xtc", setup_conv_out, run_conv_out, check_conv_out, true, P, 0, 0},
    {"select", setup_none, run_select, check_select, false, P, 0, 0},
    /* O_DIRECT: staged writes flushed by a pool thread; direct reads */
    {"write-direct", setup_write, run_write, check_write, true, P, D, 0},
    {"append-direct", setup_append, run_append, check_append, true, P, D, 0},
    {"read-direct", setup_read, run_read, check_read, true, P, 0, PIO_READER_DIRECT},
    /* io_uring (where the kernel allows it): its setup and staging
     * buffers, out of memory only */
    {"write-uring", setup_write, run_write, check_write, false, U, 0, 0},
    {"read-uring", setup_read, run_read, check_read, false, U, 0, 0},
};
#undef P
#undef U
#undef D

/* ---- the loop ---------------------------------------------------------------- */

/* The wrappers work: the library's calls reach them, failures are
 * injected where asked, and leaks of each kind are seen. */
static void wrap_selftest(void)
{
    uint64_t *v = NULL, n = 0;
    fw_arm(FW_ALLOC, 1);
    int rc = pio_select_frames("0:3", 3, &v, &n, NULL);
    long injected = fw_disarm();
    CHECKF(rc == -ENOMEM && injected == 1 && v == NULL,
           "self-test: the library's allocations are not wrapped (rc %d)", rc);
    fw_arm(FW_ALLOC, 1000);
    char *p = strdup("leak");
    int fd = open(G.ref8, O_RDONLY);
    fw_disarm();
    fprintf(stderr, "self-test: two leaks expected:\n");
    CHECKF(fw_leaks("self-test", 0) == 2, "self-test: leaks not seen");
    free(p);
    close(fd);
    fw_arm(FW_IO_EIO, 2);
    pio_reader *r = NULL;
    rc = pio_reader_open(&r, G.ref8, NULL, NULL);
    injected = fw_disarm();
    CHECKF(rc == -EIO && injected == 1 && r == NULL,
           "self-test: the library's I/O is not wrapped (rc %d)", rc);
    pio_reader_close(r);
}

/* What a writer and a reader of this scenario really use (an engine or
 * O_DIRECT the system refuses falls back, and says so). */
static void probe_engine(const struct scenario *sc)
{
    if (sc->engine == PIO_IO_PREAD && !sc->wflags && !sc->rio)
        return;
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.engine = sc->engine;
    o.flags = sc->wflags | PIO_WRITER_OVERWRITE | PIO_WRITER_NO_SYNC;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.engine = sc->engine;
    ro.io_flags = sc->rio;
    pio_writer *w = NULL;
    pio_reader *r = NULL;
    struct pio_io_info wi = {0}, ri = {0};
    struct pio_error e = {0};
    if (pio_writer_create(&w, G.work2, &o, &e) == 0)
        pio_writer_io_info(w, &wi);
    pio_writer_close(w, &e);
    if (pio_reader_open(&r, G.work2, &ro, &e) == 0)
        pio_reader_io_info(r, &ri);
    pio_reader_close(r);
    unlink(G.work2);
    fprintf(stderr, "%s: writer %s%s%s%s, reader %s%s%s%s\n", sc->name,
            pio_io_engine_name(wi.engine), wi.direct ? " O_DIRECT" : "", wi.note[0] ? ": " : "",
            wi.note, pio_io_engine_name(ri.engine), ri.direct ? " O_DIRECT" : "",
            ri.note[0] ? ": " : "", ri.note);
}

static void rm_direct_dir(void)
{
    if (G.direct_dir[0])
        fault_rmdir(G.direct_dir);
}

/* The code a failed call must return for what was injected: out of
 * memory (or no thread) is -ENOMEM (-EAGAIN), not a usage error or
 * corruption; an I/O error is that error; a short read may end in any. */
static bool code_expected(enum fw_mode mode, int rc)
{
    switch (mode) {
    case FW_ALLOC:
        return rc == -ENOMEM || rc == -EAGAIN;
    case FW_IO_EIO:
        return rc == -EIO;
    case FW_WRITE_SHORT: /* a short fwrite: ENOSPC (fault_wrap.c) */
    case FW_WRITE_FULL:
        return rc == -ENOSPC;
    default:
        return true;
    }
}

static void loop(const struct scenario *sc, enum fw_mode mode, const char *mode_name)
{
    long errors = 0, absorbed = 0, n, repeats = G.repeats;
    G.mode = mode_name;
    char absorbed_at[6][160];
    int nabs = 0;
    double t0 = fault_now();
    for (n = 1; n <= MAX_RUNS; n++) {
        sc->setup();
        struct pio_error e = {0};
        G.wrong = 0;
        fw_arm(mode, n);
        int rc = sc->run(&e);
        long injected = fw_disarm();
        char tag[400];
        snprintf(tag, sizeof(tag), "%s/%s: failure %ld (%s at %s)", mode_name, sc->name, n,
                 fw_site_call(), fw_site());
        if (G.verbose)
            fprintf(stderr, "%s: rc %d %s\n", tag, rc, e.message);
        CHECKF(fw_leaks(tag, n) == 0, "%s: leaked (listed above)", tag);
        CHECKF(G.wrong == 0, "%s: handed out wrong data", tag);
        if (injected == 0) {
            CHECKF(rc == 0, "%s: failed with nothing injected (%d): %s", tag, rc, e.message);
            sc->check(rc, tag);
            break;
        }
        if (rc != 0) {
            errors++;
            CHECKF(rc < 0 && e.message[0], "%s: returned %d without a message", tag, rc);
            CHECKF(code_expected(mode, rc), "%s: returned %d (%s): %s", tag, rc, pio_strerror(rc),
                   e.message);
        } else {
            absorbed++;
            bool seen = false;
            for (int k = 0; k < nabs; k++)
                seen |= strstr(absorbed_at[k], fw_site()) != NULL;
            if (!seen && nabs < 6)
                snprintf(absorbed_at[nabs++], sizeof(absorbed_at[0]), "%s at %s", fw_site_call(),
                         fw_site());
        }
        sc->check(rc, tag);
        if (pio_test_failures > FAIL_FAST_LIMIT)
            break;
    }
    CHECKF(n <= MAX_RUNS, "%s/%s: still failing after %d runs", mode_name, sc->name, MAX_RUNS);
    fprintf(stderr,
            "%-11s %-13s %4ld failure points: %4ld errors, %3ld absorbed (correct result)  "
            "%.1f s\n",
            mode_name, sc->name, n - 1, errors, absorbed, fault_now() - t0);
    if (G.repeats > repeats)
        fprintf(stderr, "%27s (and %ld more runs failing a check already reported)\n", "",
                G.repeats - repeats);
    for (int k = 0; k < nabs; k++)
        fprintf(stderr, "%27s absorbed: %s\n", "", absorbed_at[k]);
}

int main(int argc, char **argv)
{
    bool io = argc > 1 && strcmp(argv[1], "io") == 0;
    if (argc < 2 || (!io && strcmp(argv[1], "alloc") != 0)) {
        fprintf(stderr, "usage: %s alloc|io [scenario]\n", argv[0]);
        return 2;
    }
    const char *only = argc > 2 ? argv[2] : NULL;
    G.verbose = getenv("PIO_FAULT_VERBOSE") && *getenv("PIO_FAULT_VERBOSE") == '1';
    /* the engine is named in every options struct; this catches any that
     * is not (PIO_IO_AUTO reads it) */
    setenv("PIO_IO_ENGINE", "pread", 1);
    if (!(G.dir = fault_tmpdir("nth")) || make_inputs() != 0) {
        fprintf(stderr, "cannot make the inputs\n");
        return 1;
    }
    make_selections();
    /* O_DIRECT needs a real filesystem: beside the scratch directory
     * unless that is on /dev/shm, else under /tmp */
    const char *base = getenv("TMPDIR");
    snprintf(G.direct_dir, sizeof(G.direct_dir), "%s/pio_nth_direct_XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(G.direct_dir)) {
        fprintf(stderr, "%s: cannot create: %s\n", G.direct_dir, strerror(errno));
        return 1;
    }
    atexit(rm_direct_dir);
    wrap_selftest();
    static const struct {
        enum fw_mode mode;
        const char *name;
    } io_modes[] = {{FW_IO_EIO, "io-eio"},
                    {FW_WRITE_SHORT, "write-short"},
                    {FW_WRITE_FULL, "disk-full"},
                    {FW_READ_SHORT, "read-short"}};
    for (size_t s = 0; s < sizeof(scenarios) / sizeof(*scenarios); s++) {
        const struct scenario *sc = &scenarios[s];
        if ((only && strcmp(only, sc->name) != 0) || (io && !sc->io))
            continue;
        G.sc = sc;
        G.sc_name = sc->name;
        const char *dir = sc->wflags || sc->rio ? G.direct_dir : G.dir;
        snprintf(G.work, sizeof(G.work), "%s/work.holo", dir);
        snprintf(G.work2, sizeof(G.work2), "%s/work2.holo", dir);
        probe_engine(sc);
        if (!io) {
            loop(sc, FW_ALLOC, "alloc");
        } else {
            for (size_t m = 0; m < sizeof(io_modes) / sizeof(*io_modes); m++)
                loop(sc, io_modes[m].mode, io_modes[m].name);
        }
        if (pio_test_failures > FAIL_FAST_LIMIT)
            break;
    }
    for (int i = 0; i < NF; i++)
        fixture_free(&G.ff[i]);
    free(G.torn);
    free(G.damaged);
    free(G.ref3_bytes);
    free(G.ref8_bytes);
    return TEST_RESULT();
}
