/*
 * The pipeline's failures: an error injected in each stage (source, user
 * transform, atom selection, sink write, a damaged input frame, the sink's
 * begin) stops the run with a message naming stage and frame and leaves a
 * valid file holding a prefix of the frames; bad options are usage errors.
 */
#include <errno.h>

#include "io/pio_io.h"
#include "pipeline_fixture.h"

struct fail_ctx {
    uint64_t frame;
};

static int failing_transform(void *ctx, struct pio_batch *b, struct pio_error *err)
{
    struct fail_ctx *c = ctx;
    for (uint32_t f = 0; f < b->nframes; f++)
        if (b->index[f] == c->frame)
            return pio_error_set(err, -EDOM, "frame %llu: kernel failed on purpose",
                                 (unsigned long long)c->frame);
    return 0;
}

/* The output must open without recovery, verify, and hold frames equal
 * to the reference's first ones. Returns its frame count. */
static uint64_t check_prefix(const char *out, const char *ref)
{
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = PIO_READER_NO_RECOVERY;
    pio_reader *r = NULL, *q = NULL;
    struct pio_error e = {0};
    CHECKF(pio_reader_open(&r, out, &ro, &e) == 0, "%s", e.message);
    CHECKF(pio_reader_open(&q, ref, NULL, &e) == 0, "%s", e.message);
    if (!r || !q) {
        pio_reader_close(r);
        pio_reader_close(q);
        return UINT64_MAX;
    }
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "%s", e.message);
    uint64_t n = pio_reader_nframes(r);
    CHECK(n <= pio_reader_nframes(q));
    for (uint64_t i = 0; i < n && i < pio_reader_nframes(q); i++) {
        struct pio_frame x, y;
        CHECK(pio_reader_frame(r, i, &x, &e) == 0 && pio_reader_frame(q, i, &y, &e) == 0);
        CHECKF(x.natoms == y.natoms && x.step == y.step &&
                   memcmp(x.positions, y.positions, x.natoms * 12) == 0,
               "frame %llu differs", (unsigned long long)i);
    }
    pio_reader_close(r);
    pio_reader_close(q);
    return n;
}

static void test_failures(const char *a, const char *b)
{
    char *ref = fixture_tmpname("pipe_fref"), *out = fixture_tmpname("pipe_fout");
    struct pio_error e = {0};
    CHECK(reference(a, ref, NULL, NULL, 0) == 0);

    /* source: fails at its 23rd frame */
    for (uint32_t threads = 1; threads <= 2; threads++) {
        struct wrap_source fs = {.fail_at = 23};
        CHECK(pio_source_holo(&fs.inner, a, NULL, 0, &e) == 0);
        struct pio_source src = wrap(&fs, "test source");
        struct pio_sink sink;
        struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
        wo.flags = PIO_WRITER_NO_SYNC;
        wo.salt = SALT;
        unlink(out);
        CHECK(pio_sink_holo(&sink, out, &wo, 0, &e) == 0);
        struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
        po.batch_frames = 4;
        po.threads = threads;
        e = (struct pio_error){0};
        int rc = pio_pipeline_run(&src, &sink, &po, NULL, &e);
        CHECK(rc == PIO_ECORRUPT && e.code == PIO_ECORRUPT);
        CHECKF(strstr(e.message, "stage 'test source'") && strstr(e.message, "frame 23"), "%s",
               e.message);
        pio_sink_destroy(&sink);
        pio_source_destroy(&fs.inner);
        uint64_t n = check_prefix(out, ref);
        CHECKF(n <= 23, "%llu frames", (unsigned long long)n);
    }

    /* user transform: fails on the batch holding frame 31 */
    {
        struct fail_ctx fc = {31};
        struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
        po.batch_frames = 5;
        po.threads = 2;
        po.transform = failing_transform;
        po.transform_ctx = &fc;
        e = (struct pio_error){0};
        CHECK(run_pipeline(a, out, &po, NULL, &e) == -EDOM);
        CHECKF(strstr(e.message, "stage 'transform user'") && strstr(e.message, "frame 31"), "%s",
               e.message);
        uint64_t n = check_prefix(out, ref);
        CHECKF(n <= 30, "%llu frames", (unsigned long long)n);
    }

    /* atom selection beyond a frame's atoms (file B: 40-52 atoms) */
    {
        struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
        po.atoms = "index 45-50";
        po.threads = 2;
        po.batch_frames = 3;
        e = (struct pio_error){0};
        CHECK(run_pipeline(b, out, &po, NULL, &e) == PIO_EUSAGE);
        /* several frames fail (40-50 atoms); two workers race to report one */
        CHECKF(strstr(e.message, "stage 'transform atoms': frame ") &&
                   strstr(e.message, "atoms): atom selection 'index 45-50': atom 50 out of range"),
               "%s", e.message);
        struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
        ro.flags = PIO_READER_NO_RECOVERY;
        pio_reader *r;
        CHECKF(pio_reader_open(&r, out, &ro, &e) == 0, "%s", e.message);
        pio_reader_close(r);
    }

    /* sink: the 12th frame write is torn and fails with EIO */
    {
        struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
        po.batch_frames = 4;
        po.threads = 2;
        /* the sink writes a batch (4 frames) per system call: the 4th fails */
        pio_io_fault_set_after(PIO_FAULT_WRITE, -EIO, 5, 1);
        e = (struct pio_error){0};
        struct pio_pipeline_stats st;
        int rc = run_pipeline(a, out, &po, &st, &e);
        pio_io_fault_set(PIO_FAULT_WRITE, 0, 0);
        CHECK(rc == -EIO);
        CHECKF(strstr(e.message, "stage 'sink holo'") && strstr(e.message, "write failed"), "%s",
               e.message);
        uint64_t n = check_prefix(out, ref);
        /* the torn batch was taken back whole: the file holds whole batches */
        CHECKF(n == st.frames_out && n % 4 == 0 && n >= 4 && n < NFRAMES, "%llu frames, %llu out",
               (unsigned long long)n, (unsigned long long)st.frames_out);
    }

    /* a damaged input frame stops the run (never copied with a fresh hash) */
    {
        char *bad = fixture_tmpname("pipe_bad");
        size_t len = 0;
        uint8_t *bytes = fixture_slurp(a, &len);
        pio_reader *r;
        struct pio_frame f;
        CHECK(pio_reader_open(&r, a, NULL, &e) == 0 && pio_reader_frame(r, 17, &f, &e) == 0);
        bytes[f.offset + 300] ^= 0x10;
        pio_reader_close(r);
        CHECK(fixture_spit(bad, bytes, len) == 0);
        free(bytes);
        struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
        po.threads = 2;
        e = (struct pio_error){0};
        CHECK(run_pipeline(bad, out, &po, NULL, &e) == PIO_ECHECKSUM);
        CHECKF(strstr(e.message, "stage 'source holo'") && strstr(e.message, "frame 17 at offset"),
               "%s", e.message);
        CHECK(check_prefix(out, ref) <= 17);
        struct pio_source src;
        struct pio_sink sink;
        unlink(out);
        CHECK(pio_source_holo(&src, bad, NULL, PIO_SOURCE_NO_VERIFY, &e) == 0);
        CHECK(pio_sink_holo(&sink, out, NULL, 0, &e) == 0);
        CHECKF(pio_pipeline_run(&src, &sink, &po, NULL, &e) == 0, "%s", e.message);
        pio_source_destroy(&src);
        pio_sink_destroy(&sink);
        unlink(bad);
    }

    /* sink begin: the output exists */
    {
        struct pio_source src;
        struct pio_sink sink;
        CHECK(pio_source_holo(&src, a, NULL, 0, &e) == 0);
        CHECK(pio_sink_holo(&sink, ref, NULL, 0, &e) == 0);
        e = (struct pio_error){0};
        CHECK(pio_pipeline_run(&src, &sink, NULL, NULL, &e) == -EEXIST);
        CHECKF(strstr(e.message, "stage 'sink holo'") && strstr(e.message, ref), "%s", e.message);
        pio_source_destroy(&src);
        pio_sink_destroy(&sink);
        CHECK(check_prefix(ref, ref) == NFRAMES); /* untouched */
    }

    /* options */
    {
        struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
        po.drop = PIO_FIELD_POSITIONS;
        CHECK(run_pipeline(a, out, &po, NULL, &e) == PIO_EUSAGE);
        po = (struct pio_pipeline_options)PIO_PIPELINE_OPTIONS_INIT;
        po.frames = "::0";
        CHECK(run_pipeline(a, out, &po, NULL, &e) == PIO_EUSAGE);
        CHECKF(strstr(e.message, "'::0'"), "%s", e.message);
        /* an empty selection is no frames, not all of them */
        po.frames = "100:";
        struct pio_pipeline_stats st;
        CHECKF(run_pipeline(a, out, &po, &st, &e) == 0, "%s", e.message);
        CHECK(st.frames_out == 0 && st.frames_in == 0 && check_prefix(out, ref) == 0);
        po.frames = NULL;
        po.atoms = "name ZZ or";
        CHECK(run_pipeline(a, out, &po, NULL, &e) == PIO_EUSAGE);
        po.atoms = NULL;
        po.size = 8;
        CHECK(run_pipeline(a, out, &po, NULL, &e) == PIO_EUSAGE);
    }
    unlink(ref);
    unlink(out);
}

int main(void)
{
    char *a = fixture_tmpname("pipe_a"), *b = fixture_tmpname("pipe_b");
    struct topo tp;
    if (make_inputs(a, b, &tp) != 0) {
        fprintf(stderr, "cannot write the inputs\n");
        return 1;
    }
    test_failures(a, b);
    topo_free(&tp);
    unlink(a);
    unlink(b);
    return TEST_RESULT();
}
