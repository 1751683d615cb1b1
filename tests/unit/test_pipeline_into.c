/*
 * Frames decoded in place (a source's next_into) give the same file as
 * frames copied in; a source whose size ends before next_into is never
 * asked for it, and one built for a newer, bigger struct is refused.
 */
#include "pipeline_fixture.h"

/* Frames decoded straight into the batch give the same file, byte for
 * byte, as frames copied in: with frame and atom selections, batches
 * ended by frame count, by atom room (small memory) and by scalar room
 * (a frame already decoded in place moves to the next batch). */
static void test_next_into(void)
{
    static const struct {
        const char *frames, *atoms;
        uint32_t batch;
        uint64_t memory;
        bool many;
    } cases[] = {
        {NULL, NULL, 0, 0, false},
        {"::3,5,5", "0-9,20-29 or name HW1", 7, 0, false},
        {NULL, NULL, 0, 64 << 10, false},
        {"1:", "resid 2-50", 16, 0, true},
    };
    const char *out[2] = {fixture_tmpname("into_y"), fixture_tmpname("into_n")};
    for (size_t c = 0; c < PIO_ARRAY_LEN(cases); c++) {
        uint64_t in_place[2] = {0, 0};
        for (int mode = 0; mode < 2; mode++) {
            struct into_src *s = calloc(1, sizeof(*s));
            struct pio_sink sink;
            struct pio_error e = {0};
            CHECK(s && pio_source_synthetic(&s->inner, 40, 711, PIO_FIELD_BOX, 5, &e) == 0);
            s->many = cases[c].many;
            /* mode 1: a source built before next_into existed (its size
             * ends before the member): the pipeline must not call it */
            struct pio_source src = PIO_SOURCE_INIT;
            src.size = mode == 0 ? sizeof(src) : offsetof(struct pio_source, next_into);
            src.name = "into";
            src.ctx = s;
            src.info = into_info;
            src.start = into_start;
            src.next = into_next;
            src.release = into_release;
            src.next_into = into_next_into;
            struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
            wo.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
            wo.salt = SALT;
            wo.hash_threads = 1; /* no pool worker (test_holo_sink checks when one starts) */
            struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
            po.frames = cases[c].frames;
            po.atoms = cases[c].atoms;
            po.batch_frames = cases[c].batch;
            po.max_bytes = cases[c].memory;
            po.threads = 2;
            CHECK(pio_sink_holo(&sink, out[mode], &wo, 0, &e) == 0);
            CHECKF(pio_pipeline_run(&src, &sink, &po, NULL, &e) == 0, "case %zu: %s", c, e.message);
            in_place[mode] = s->in_place;
            pio_sink_destroy(&sink);
            pio_source_destroy(&s->inner);
            free(s);
        }
        CHECKF(in_place[0] > 0 && in_place[1] == 0, "case %zu: %llu and %llu frames in place", c,
               (unsigned long long)in_place[0], (unsigned long long)in_place[1]);
        CHECKF(fixture_same_holo(out[0], out[1]),
               "case %zu: frames decoded in place wrote other bytes", c);
    }
    /* a source built for a newer, bigger struct is refused, not misread */
    struct pio_source src;
    struct pio_sink sink;
    struct pio_error e = {0};
    CHECK(pio_source_synthetic(&src, 4, 3, 0, 1, &e) == 0);
    CHECK(pio_sink_holo(&sink, out[0], NULL, 0, &e) == 0);
    src.size = sizeof(src) + 8;
    CHECK(pio_pipeline_run(&src, &sink, NULL, NULL, &e) == PIO_EUSAGE);
    CHECKF(strstr(e.message, "newer prism-io") != NULL, "%s", e.message);
    src.size = sizeof(src);
    pio_source_destroy(&src);
    pio_sink_destroy(&sink);
    unlink(out[0]);
    unlink(out[1]);
}

int main(void)
{
    test_next_into();
    return TEST_RESULT();
}
