/*
 * The pipeline's memory stays bounded whatever the input size, and a slow
 * sink holds the source back (backpressure): 192 MB of arrays through a
 * 4 MiB pool, in a child process whose peak RSS is measured.
 */
#include <sys/resource.h>
#include <sys/wait.h>

#include "pipeline_fixture.h"

struct lag_sink {
    struct wrap_source *src;
    uint64_t written, max_lag, checksum;
};

static int lag_begin(void *ctx, const struct pio_source_info *i, struct pio_error *err)
{
    (void)ctx;
    (void)i;
    (void)err;
    return 0;
}
static int lag_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    (void)err;
    struct lag_sink *s = ctx;
    uint64_t lag = atomic_load(&s->src->produced) - s->written;
    s->max_lag = PIO_MAX(s->max_lag, lag);
    const float *x = b->positions;
    for (uint32_t f = 0; f < b->nframes; f++)
        s->checksum += (uint64_t)(x[b->atom_offset[f] * 3] * 1000.0f);
    s->written += b->nframes;
    return 0;
}
static int lag_end(void *ctx, bool ok, struct pio_error *err)
{
    (void)ctx;
    (void)err;
    return ok ? 0 : -1;
}

/* ThreadSanitizer's shadow memory multiplies what every byte touched costs:
 * there the peak RSS is printed, not checked (the ASan and plain builds
 * check it). */
#if defined(__SANITIZE_THREAD__)
#define RSS_CHECKED 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RSS_CHECKED 0
#endif
#endif
#ifndef RSS_CHECKED
#define RSS_CHECKED 1
#endif

static void test_bounded(void)
{
    /* 400 frames x 20000 atoms with velocities: 192 MB through 4 MiB */
    const uint64_t nframes = 400, natoms = 20000;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        struct wrap_source cs = {.fail_at = UINT64_MAX};
        struct pio_error e = {0};
        if (pio_source_synthetic(&cs.inner, nframes, natoms, PIO_FIELD_VELOCITIES, 5, &e) != 0)
            _exit(2);
        struct pio_source src = wrap(&cs, "counting");
        struct lag_sink ls = {.src = &cs};
        struct pio_sink sink = {
            .name = "lag", .ctx = &ls, .begin = lag_begin, .write = lag_write, .end = lag_end};
        struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
        po.threads = 2;
        po.batch_frames = 8;
        po.max_bytes = 4u << 20;
        po.atoms = "name OW";
        struct pio_pipeline_stats st;
        int rc = pio_pipeline_run(&src, &sink, &po, &st, &e);
        getrusage(RUSAGE_SELF, &ru1);
        long grew_kb = ru1.ru_maxrss - ru0.ru_maxrss;
        /* the pool: 6 buffers; a batch holds what fits in 4 MiB / 6 */
        uint64_t lag_bound = st.buffers * po.batch_frames + 1;
        printf("bounded: %llu frames (%.0f MB of arrays) through %llu buffers of %.2f MB: "
               "peak RSS grew %ld kB, source at most %llu frames ahead (bound %llu)\n",
               (unsigned long long)st.frames_out, (double)st.bytes_in / 1e6,
               (unsigned long long)st.buffers, (double)st.buffer_bytes / 1e6, grew_kb,
               (unsigned long long)ls.max_lag, (unsigned long long)lag_bound);
        fflush(stdout);
        bool ok = rc == 0 && st.frames_out == nframes && st.bytes_in == nframes * natoms * 24 &&
                  st.buffers * st.buffer_bytes <= (5u << 20) && ls.max_lag <= lag_bound &&
                  (RSS_CHECKED ? grew_kb < 24 * 1024 : true);
        pio_source_destroy(&cs.inner);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "bounded-memory child: status %d",
           status);
}

int main(void)
{
    test_bounded();
    return TEST_RESULT();
}
