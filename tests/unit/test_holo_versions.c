/* Every HOLO format version written so far still reads and verifies: the
 * samples in tests/data (1.0 by the last 1.0 writer, 1.1 by the last 1.1
 * writer, 2.0 by this one committed once and after every frame, 2.1 with
 * BLOCK records, 2.2 with small raw frames packed in blocks; the same
 * `prismio gen` frames) open with their own version number, verify, hold
 * the same frames, topology and metadata, stream, and take appends (a copy
 * of each: appended frames verify after reopening). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <prismio/holo.h>

#include "codec/pio_codec.h"
#include "holo_fixture.h"
#include "pio_test.h"

#define DATA PIO_TEST_DATA_DIR

static const struct {
    const char *file;
    uint16_t major, minor;
} samples[] = {
    {DATA "/sample_v1_0.holo", 1, 0},
    {DATA "/sample_v1_1.holo", 1, 1},
    {DATA "/sample_v2_0.holo", 2, 0},
    {DATA "/sample_v2_0_commits.holo", 2, 0},
    /* sample_v2_0.holo converted --keyframe 4 (no compression): raw
     * frames packed in BLOCK records of 4 and 2 frames, read in place */
    {DATA "/sample_v2_2_packed.holo", 2, 2},
    /* sample_v2_0.holo converted --compress lossless --keyframe 4: BLOCK
     * records of 4 and 2 frames, bit-exact */
    {DATA "/sample_v2_1_blocks.holo", 2, 1},
};
#define NALL (sizeof(samples) / sizeof(samples[0]))
/* a build without zstd refuses the compressed sample (the last) */
#define NSAMPLES (pio__codec_built() ? NALL : NALL - 1)

static bool same_frame(const struct pio_frame *a, const struct pio_frame *b)
{
    size_t n = (size_t)a->natoms * 12;
    uint32_t mask = ~(uint32_t)PIO_FIELD_DECODED; /* decoded or in the mapping: the same */
    return a->natoms == b->natoms && (a->fields & mask) == (b->fields & mask) &&
           a->step == b->step && memcmp(&a->time, &b->time, 8) == 0 &&
           memcmp(a->box, b->box, sizeof(a->box)) == 0 &&
           memcmp(a->positions, b->positions, n) == 0 &&
           memcmp(a->velocities, b->velocities, n) == 0 && memcmp(a->forces, b->forces, n) == 0 &&
           a->nscalars == b->nscalars;
}

int main(void)
{
    pio_reader *r[NALL] = {NULL};
    struct pio_error e = {0};
    for (size_t k = 0; k < NSAMPLES; k++) {
        CHECKF(pio_reader_open(&r[k], samples[k].file, NULL, &e) == 0, "%s", e.message);
        if (!r[k])
            return TEST_RESULT();
        struct pio_reader_info in;
        CHECK(pio_reader_info(r[k], &in) == 0);
        CHECKF(in.version_major == samples[k].major && in.version_minor == samples[k].minor &&
                   !in.recovered && pio_reader_final(r[k]) == (samples[k].major >= 2) &&
                   in.nframes == 6 && in.max_natoms == 12,
               "%s: version %u.%u, %llu frames", samples[k].file, in.version_major,
               in.version_minor, (unsigned long long)in.nframes);
        CHECKF(pio_reader_verify(r[k], 1, &e) == 0, "%s", e.message);
        /* a stream checking every frame's BLAKE3 */
        struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
        so.flags = PIO_STREAM_VERIFY;
        pio_frame_stream *s;
        CHECK(pio_frame_stream_open(&s, r[k], NULL, 0, &so, &e) == 0);
        struct pio_frame f;
        uint64_t n = 0;
        while (pio_frame_stream_next(s, &f, &e) == 1) {
            pio_frame_stream_release(s, &f);
            n++;
        }
        CHECKF(n == 6, "%s: streamed %llu frames: %s", samples[k].file, (unsigned long long)n,
               e.message);
        pio_frame_stream_close(s);
    }
    for (size_t k = 1; k < NSAMPLES; k++) {
        for (uint64_t i = 0; i < 6; i++) {
            struct pio_frame a, b;
            CHECK(pio_reader_frame(r[0], i, &a, &e) == 0 && pio_reader_frame(r[k], i, &b, &e) == 0);
            CHECKF(same_frame(&a, &b), "frame %llu differs between %s and %s",
                   (unsigned long long)i, samples[0].file, samples[k].file);
        }
        struct pio_topology t0, t1;
        CHECK(pio_reader_topology(r[0], &t0) == 0 && pio_reader_topology(r[k], &t1) == 0);
        CHECK(t0.natoms == 12 && t1.natoms == 12 && memcmp(t0.names, t1.names, 12 * 8) == 0);
        CHECK(pio_reader_metadata_count(r[0]) == pio_reader_metadata_count(r[k]));
    }
    /* append to a copy of each: a new frame, committed, verifies */
    struct pio_frame f0;
    CHECK(pio_reader_frame(r[0], 5, &f0, &e) == 0);
    for (size_t k = 0; k < NSAMPLES; k++) {
        static const char *tags[] = {"v10_append",  "v11_append",  "v20_append",
                                     "v20c_append", "v22p_append", "v21b_append"};
        const char *copy = fixture_tmpname(tags[k]);
        size_t len = 0;
        uint8_t *bytes = fixture_slurp(samples[k].file, &len);
        CHECK(bytes && fixture_spit(copy, bytes, len) == 0);
        free(bytes);
        pio_writer *w;
        struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
        wo.flags = PIO_WRITER_NO_SYNC;
        CHECKF(pio_writer_open_append(&w, copy, &wo, &e) == 0, "%s", e.message);
        CHECK(pio_writer_append(w, &f0, &e) == 0 && pio_writer_close(w, &e) == 0);
        pio_reader *a;
        CHECKF(pio_reader_open(&a, copy, NULL, &e) == 0, "%s", e.message);
        struct pio_frame g;
        CHECK(pio_reader_nframes(a) == 7 && pio_reader_frame(a, 6, &g, &e) == 0 &&
              same_frame(&g, &f0));
        CHECKF(pio_reader_verify(a, 1, &e) == 0, "appended %s: %s", samples[k].file, e.message);
        pio_reader_close(a);
        unlink(copy);
    }
    for (size_t k = 0; k < NSAMPLES; k++)
        pio_reader_close(r[k]);
    return TEST_RESULT();
}
