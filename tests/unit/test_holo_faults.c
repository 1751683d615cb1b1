/*
 * Fault loops over a small HOLO file (issue 20), each damaged copy taken
 * through recovery as well (test_holo_damage checks open and verify alone):
 *  - truncation at every byte offset: open never crashes; pio_holo_recover
 *    keeps exactly the frames complete before the cut, bit-exact, the
 *    result verifies, a second recovery has nothing to do, and (every few
 *    cuts) the file takes another frame;
 *  - one bit flipped at every byte (all 8 bits of the header, the first 80
 *    bytes of each frame record, the last footer and the last byte):
 *    pio_reader_verify (or open) catches 100% of the flips; recovery never
 *    crashes, and past the 128-byte file header it succeeds and leaves a
 *    file that opens with every frame but the one holding the flipped byte
 *    there under its own number, bit-exact (a damaged frame, index,
 *    footer or metadata record never costs another frame). The counts
 *    printed say where each flip ended up.
 * The default run is one file of 8 frames of 5 atoms, two commits (an old
 * index and footer in the middle). Under make stress (fault_util.h) it
 * runs more files of other shapes (frames, atoms, commit points, topology)
 * with every bit of every byte flipped and an append after every cut.
 */
#include <errno.h>
#include <fcntl.h>

#include "fault_util.h"
#include "format/holo_layout.h"
#include "holo_fixture.h"

struct shape {
    uint64_t seed, nframes, split, base; /* split: frames in the first commit (0: one) */
    bool vary, topology;
};

struct small_file {
    uint8_t *bytes;
    size_t len;
    uint64_t nframes;
    uint64_t starts[64], ends[64]; /* frame record extents */
    size_t last_footer;
};

static int write_file(const char *path, const struct shape *s)
{
    static const uint8_t salt[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    struct pio_error e = {0};
    pio_writer *w = fixture_writer_salted(path, salt);
    if (!w)
        return -1;
    static char names[2][8] = {"OW", "HW1"};
    struct pio_topology t = {.natoms = 2, .names = (const char(*)[8])names};
    int rc = 0;
    if (s->topology && (pio_writer_set_topology(w, &t, &e) != 0 ||
                        pio_writer_set_metadata(w, "origin", "test_holo_faults", &e) != 0))
        rc = -1;
    uint64_t first = s->split ? s->split : s->nframes;
    if (fixture_append(w, 0, first, s->seed, s->vary, s->base) != 0)
        rc = -1;
    if (pio_writer_close(w, &e) != 0)
        rc = -1;
    if (rc == 0 && first < s->nframes) {
        struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
        o.flags = PIO_WRITER_NO_SYNC;
        if (pio_writer_open_append(&w, path, &o, &e) != 0 ||
            fixture_append(w, first, s->nframes - first, s->seed, s->vary, s->base) != 0 ||
            pio_writer_close(w, &e) != 0)
            rc = -1;
    }
    if (rc != 0)
        fprintf(stderr, "%s: cannot write the test file: %s\n", path, e.message);
    return rc;
}

static int load(const char *path, struct small_file *f)
{
    memset(f, 0, sizeof(*f));
    f->bytes = fixture_slurp(path, &f->len);
    pio_reader *r;
    struct pio_error e = {0};
    if (!f->bytes || pio_reader_open(&r, path, NULL, &e) != 0)
        return -1;
    f->nframes = pio_reader_nframes(r);
    for (uint64_t i = 0; i < f->nframes && i < 64; i++) {
        struct pio_frame fr;
        struct holo_frame_layout lay;
        if (pio_reader_frame(r, i, &fr, &e) != 0 ||
            pio__holo_frame_layout(fr.natoms, fr.fields, fr.nscalars, &lay) != 0)
            return -1;
        f->starts[i] = fr.offset;
        f->ends[i] = fr.offset + lay.length;
    }
    pio_reader_close(r);
    f->last_footer = f->len - HOLO_FOOTER_SIZE;
    return f->nframes <= 64 ? 0 : -1;
}

/* Frames [0, n) but `skip` (UINT64_MAX: none) are the fixture's,
 * bit-exact and under their own numbers. */
static bool frames_match(pio_reader *r, uint64_t n, uint64_t skip, const struct shape *s)
{
    for (uint64_t i = 0; i < n; i++) {
        if (i == skip)
            continue;
        struct fixture_frame ff;
        fixture_make(&ff, i, s->seed, s->vary, s->base);
        struct pio_frame f;
        bool ok = pio_reader_frame(r, i, &f, NULL) == 0 && fixture_equal(&f, &ff);
        fixture_free(&ff);
        if (!ok)
            return false;
    }
    return true;
}

/* Exactly n frames, each the fixture's but `skip`. */
static bool frames_exact_but(pio_reader *r, uint64_t n, uint64_t skip, const struct shape *s)
{
    return pio_reader_nframes(r) == n && frames_match(r, n, skip, s);
}

/* At least n frames, the first n the fixture's. */
static bool frames_exact(pio_reader *r, uint64_t n, const struct shape *s)
{
    return pio_reader_nframes(r) >= n && frames_match(r, n, UINT64_MAX, s);
}

/* ---- truncation ---- */

static void truncations(const struct small_file *f, const struct shape *s, const char *cut,
                        bool all_appends, uint64_t *cuts)
{
    for (size_t c = 0; c <= f->len; c++) {
        CHECK(fixture_spit(cut, f->bytes, c) == 0);
        uint64_t expect = 0;
        while (expect < f->nframes && f->ends[expect] <= c)
            expect++;
        struct pio_error e = {0};
        pio_reader *r;
        int rc = pio_reader_open(&r, cut, NULL, &e);
        if (rc == 0) {
            CHECKF(frames_exact(r, expect, s), "cut at %zu: frames before the cut", c);
            pio_reader_close(r);
        }
        struct pio_recover_report rep = {0};
        rc = pio_holo_recover(cut, &rep, &e);
        (*cuts)++;
        if (c < HOLO_HEADER_SIZE) {
            CHECKF(rc < 0 && e.message[0], "cut at %zu: recover of a partial header: %d", c, rc);
            continue;
        }
        CHECKF(rc == 0, "cut at %zu: recover failed: %s", c, e.message);
        if (rc != 0)
            continue;
        CHECKF(rep.nframes == expect, "cut at %zu: recover kept %llu frames, %llu were whole", c,
               (unsigned long long)rep.nframes, (unsigned long long)expect);
        rc = pio_reader_open(&r, cut, NULL, &e);
        CHECKF(rc == 0, "cut at %zu: open after recover: %s", c, e.message);
        if (rc != 0)
            continue;
        struct pio_reader_info in;
        pio_reader_info(r, &in);
        CHECKF(!in.recovered, "cut at %zu: still uncommitted after recover", c);
        CHECKF(pio_reader_nframes(r) == expect && frames_exact(r, expect, s),
               "cut at %zu: %llu frames after recover, expected %llu whole ones", c,
               (unsigned long long)pio_reader_nframes(r), (unsigned long long)expect);
        CHECKF(pio_reader_verify(r, 1, &e) == 0, "cut at %zu: verify after recover: %s", c,
               e.message);
        pio_reader_close(r);
        CHECKF(pio_holo_recover(cut, &rep, &e) == 0 && rep.was_committed,
               "cut at %zu: second recover", c);
        if (all_appends || c % 61 == 0 || c + 1 >= f->len) {
            struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
            o.flags = PIO_WRITER_NO_SYNC;
            pio_writer *w = NULL;
            CHECKF(pio_writer_open_append(&w, cut, &o, &e) == 0, "cut at %zu: append: %s", c,
                   e.message);
            if (w) {
                CHECK(fixture_append(w, expect, 1, s->seed, s->vary, s->base) == 0);
                CHECK(pio_writer_close(w, &e) == 0);
                CHECK(pio_reader_open(&r, cut, NULL, &e) == 0);
                CHECKF(r && frames_exact(r, expect + 1, s) && pio_reader_verify(r, 1, &e) == 0,
                       "cut at %zu: after an append: %s", c, e.message);
                pio_reader_close(r);
            }
        }
        TEST_STOP_IF_FLOODED_VOID();
    }
}

/* ---- bit flips ---- */

/* Whether the flip is caught: open fails, or verify does. Everything that
 * opens is read first (ASan checks the accesses). */
static bool caught(const char *path)
{
    struct pio_error e = {0};
    pio_reader *r;
    if (pio_reader_open(&r, path, NULL, &e) != 0) {
        if (!e.message[0])
            fprintf(stderr, "open failed without a message\n");
        return true;
    }
    double sum = 0;
    for (uint64_t i = 0; i < pio_reader_nframes(r); i++) {
        struct pio_frame f;
        if (pio_reader_frame(r, i, &f, NULL) == 0)
            for (uint64_t a = 0; a < f.natoms; a++)
                sum += f.positions[a][0] + (f.velocities ? f.velocities[a][1] : 0);
    }
    __asm__ volatile("" : : "r"(&sum) : "memory");
    struct pio_reader_info in;
    pio_reader_info(r, &in);
    int rc = pio_reader_verify(r, 1, &e);
    pio_reader_close(r);
    if (rc != 0 && !e.message[0])
        fprintf(stderr, "verify failed without a message\n");
    return rc != 0 || in.recovered;
}

/* Bytes worth every one of their bits: the header, the start of each
 * frame record, the last footer, the last byte. */
static bool every_bit(const struct small_file *f, size_t b)
{
    if (b < HOLO_HEADER_SIZE || b >= f->last_footer || b + 1 == f->len)
        return true;
    for (uint64_t i = 0; i < f->nframes; i++)
        if (b >= f->starts[i] && b < f->starts[i] + 80)
            return true;
    return false;
}

/* Failed flips come in runs (every bit of an index record fails alike):
 * one failure per run of neighbouring bytes that fail the same way. */
struct fail_run {
    int kind; /* 0: none */
    size_t first, last;
    uint64_t flips;
    char what[320];
};

static void run_flush(struct fail_run *run)
{
    if (run->kind)
        CHECKF(0, "%llu flip(s) at bytes %zu-%zu: %s", (unsigned long long)run->flips, run->first,
               run->last, run->what);
    run->kind = 0;
}

static void run_add(struct fail_run *run, int kind, size_t byte, int bit, const char *fmt,
                    unsigned long long a, const char *msg)
{
    if (run->kind != kind || byte > run->last + 1)
        run_flush(run);
    if (!run->kind) {
        run->kind = kind;
        run->first = byte;
        run->flips = 0;
        int n = snprintf(run->what, sizeof(run->what), "first %zu.%d: ", byte, bit);
        snprintf(run->what + n, sizeof(run->what) - (size_t)n, fmt, a, msg);
    }
    run->last = byte;
    run->flips++;
}

/* out: after recovery the copy verifies [0], opens but stays damaged [1]
 * (the flip is in committed bytes, which recovery leaves alone), does not
 * open [2]; recovery refused [3]; torn-footer copies recovered [4]. */
static void flips(const struct small_file *f, const struct shape *s, const char *copy,
                  bool all_bits, uint64_t *total, uint64_t *detected, uint64_t out[5])
{
    uint8_t *b = malloc(f->len);
    struct fail_run run = {0};
    for (size_t byte = 0; byte < f->len; byte++) {
        bool all = all_bits || every_bit(f, byte);
        for (int bit = 0; bit < 8; bit++) {
            if (!all && bit != (int)(byte % 8))
                continue;
            memcpy(b, f->bytes, f->len);
            b[byte] ^= (uint8_t)(1u << bit);
            CHECK(fixture_spit(copy, b, f->len) == 0);
            (*total)++;
            if (caught(copy))
                (*detected)++;
            else
                run_add(&run, 1, byte, bit, "not detected%llu%s", 0, "");
            /* recovery: no crash; past the 128-byte header (whose damage
             * makes the file unreadable) it succeeds and every frame but
             * the one holding the flipped byte survives under its number */
            uint64_t before = 0, touched = UINT64_MAX;
            while (before < f->nframes && f->ends[before] <= byte)
                before++;
            for (uint64_t i = 0; i < f->nframes; i++)
                if (byte >= f->starts[i] && byte < f->ends[i])
                    touched = i;
            bool body = byte >= HOLO_HEADER_SIZE;
            struct pio_error e = {0};
            struct pio_recover_report rep;
            int rc = pio_holo_recover(copy, &rep, &e);
            if (rc != 0) {
                out[3]++;
                if (!e.message[0])
                    run_add(&run, 2, byte, bit, "recover failed without a message%llu%s", 0, "");
                else if (before > 0 || body)
                    run_add(&run, 3, byte, bit,
                            "recover failed with %llu whole frames before the flip: %s", before,
                            e.message);
                continue;
            }
            pio_reader *r;
            rc = pio_reader_open(&r, copy, NULL, &e);
            if (rc != 0) {
                out[2]++;
                if (before > 0 || body)
                    run_add(&run, 4, byte, bit,
                            "recover returned 0, then open failed (%llu whole frames before the "
                            "flip): %s",
                            before, e.message);
                continue;
            }
            if (!frames_exact(r, before, s))
                run_add(&run, 5, byte, bit,
                        "after recover, the %llu frames before the flip are not all there "
                        "intact%s",
                        before, "");
            else if (!frames_exact_but(r, f->nframes, touched, s))
                run_add(&run, 6, byte, bit,
                        "after recover, an intact frame (all %llu but the flipped one) is lost "
                        "or changed%s",
                        f->nframes, "");
            out[pio_reader_verify(r, 1, &e) == 0 ? 0 : 1]++;
            pio_reader_close(r);
            /* The same flip in a file whose last footer is torn (its writer
             * died in a commit): the scan must step over the damage, so
             * again every frame but the flipped one survives, numbered. */
            if (!body || byte + 30 >= f->len)
                continue;
            CHECK(fixture_spit(copy, b, f->len - 30) == 0);
            if ((rc = pio_holo_recover(copy, &rep, &e)) != 0 ||
                (rc = pio_reader_open(&r, copy, NULL, &e)) != 0) {
                run_add(&run, 7, byte, bit, "footer torn: recover or open failed%llu: %s", 0,
                        e.message);
                continue;
            }
            out[4]++;
            /* 2.0: the footer is the COMMIT record's end, so the cut tears
             * the whole record; a damaged last frame has no valid record
             * after it and is a torn tail, cut with the commit */
            bool v2_tail = f->bytes[8] == 2 && touched == f->nframes - 1 &&
                           pio_reader_nframes(r) == touched && frames_match(r, touched, touched, s);
            if (!v2_tail && !frames_exact_but(r, f->nframes, touched, s))
                run_add(&run, 8, byte, bit,
                        "footer torn: after recover, an intact frame (all %llu but the flipped "
                        "one) is lost or changed%s",
                        f->nframes, "");
            pio_reader_close(r);
        }
    }
    run_flush(&run);
    free(b);
}

int main(void)
{
    struct fault_budget bud = fault_budget(1, 100);
    const char *dir = fault_tmpdir("faults");
    CHECK(dir != NULL);
    if (!dir)
        return TEST_RESULT();
    char path[600], copy[600];
    snprintf(path, sizeof(path), "%s/small.holo", dir);
    snprintf(copy, sizeof(copy), "%s/copy.holo", dir);
    uint64_t rng = pio_test_seed(20);
    double t0 = fault_now();
    uint64_t files = 0, cuts = 0, total = 0, detected = 0, after[5] = {0};
    for (uint64_t k = 0; fault_more(&bud, k); k++) {
        struct shape s = {.seed = 20, .nframes = 8, .split = 3, .base = 5, .topology = true};
        if (k > 0) {
            s.seed = pio_test_rand(&rng);
            s.nframes = 1 + pio_test_rand(&rng) % 16;
            s.split = pio_test_rand(&rng) % s.nframes;
            s.base = 1 + pio_test_rand(&rng) % 12;
            s.vary = pio_test_rand(&rng) % 2;
            s.topology = pio_test_rand(&rng) % 3 != 0;
        }
        struct small_file f;
        if (write_file(path, &s) != 0 || load(path, &f) != 0) {
            CHECKF(0, "file %llu: cannot make the test file", (unsigned long long)k);
            break;
        }
        files++;
        truncations(&f, &s, copy, bud.stress, &cuts);
        flips(&f, &s, copy, bud.stress, &total, &detected, after);
        if (k == 0 || bud.stress)
            fprintf(stderr,
                    "file %llu: %zu bytes, %llu frames (%llu+%llu), %llu atoms%s%s: "
                    "%llu cuts, %llu/%llu flips detected so far\n",
                    (unsigned long long)k, f.len, (unsigned long long)f.nframes,
                    (unsigned long long)(s.split ? s.split : s.nframes),
                    (unsigned long long)(s.split ? s.nframes - s.split : 0),
                    (unsigned long long)s.base, s.vary ? "+" : "", s.topology ? ", topology" : "",
                    (unsigned long long)cuts, (unsigned long long)detected,
                    (unsigned long long)total);
        free(f.bytes);
        TEST_STOP_IF_FLOODED();
    }
    fprintf(stderr,
            "%llu file(s): %llu truncations recovered and checked; %llu of %llu bit flips "
            "detected by verify (%.1f%%); after recover: %llu verify, %llu open but stay damaged, "
            "%llu do not open, %llu refused; %llu flips with a torn footer recovered, every other "
            "frame kept; %.1f s\n",
            (unsigned long long)files, (unsigned long long)cuts, (unsigned long long)detected,
            (unsigned long long)total, total ? 100.0 * (double)detected / (double)total : 0.0,
            (unsigned long long)after[0], (unsigned long long)after[1],
            (unsigned long long)after[2], (unsigned long long)after[3],
            (unsigned long long)after[4], fault_now() - t0);
    fault_rmdir(dir);
    return TEST_RESULT();
}
