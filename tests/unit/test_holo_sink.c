/*
 * The HOLO sink's hashing threads: a pool worker starts only when the
 * source leaves CPUs free (or hash_threads asks for one), and the bytes
 * written are the same either way.
 */
#include "pipeline_fixture.h"

/* The HOLO sink hashes on the CPUs the source leaves free: with a source
 * that takes them all, on its own thread (no pool worker starts during a
 * run whose groups would otherwise be split; nothing before this test
 * starts one); with a one-thread source on 3 or more CPUs, or told
 * hash_threads 2, it starts one; the bytes are the same. */
static void test_sink_hash_threads(void)
{
    const char *out[2] = {fixture_tmpname("sink_ht1"), fixture_tmpname("sink_ht2")};
    int before = fixture_threads();
    bool many = pio_cpu_count() >= 3;
    for (int t = 0; t < 2; t++) {
        struct into_src *s = calloc(1, sizeof(*s));
        struct pio_sink sink;
        struct pio_error e = {0};
        struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
        wo.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
        wo.salt = SALT;
        wo.hash_threads = t == 1 && !many ? 2 : 0; /* 0: the sink's default */
        CHECK(s && pio_source_synthetic(&s->inner, 300, 711, 0, 3, &e) == 0);
        s->busy = t == 0;
        struct pio_source src = {sizeof(struct pio_source),
                                 "busy",
                                 s,
                                 into_info,
                                 into_start,
                                 into_next,
                                 into_release,
                                 NULL,
                                 into_next_into};
        CHECK(pio_sink_holo(&sink, out[t], &wo, 0, &e) == 0);
        CHECKF(pio_pipeline_run(&src, &sink, NULL, NULL, &e) == 0, "%s", e.message);
        pio_source_destroy(&s->inner);
        free(s);
        pio_sink_destroy(&sink);
        int now = fixture_threads();
        if (t == 0)
            CHECKF(now == before, "sink default, source on every CPU: %d threads after, %d before",
                   now, before);
        else
            CHECKF(now > before, "%s: no pool worker started (%d threads)",
                   many ? "one-thread source" : "hash_threads 2", now);
    }
    CHECKF(fixture_same_holo(out[0], out[1]), "hash_threads changed the sink's bytes");
    unlink(out[0]);
    unlink(out[1]);
}

int main(void)
{
    test_sink_hash_threads();
    return TEST_RESULT();
}
