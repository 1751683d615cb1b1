/*
 * Shared by the HOLO damage test programs (test_holo_damage.c,
 * test_holo_hostile.c): a small file with two commits, and a reader that
 * opens, touches everything and verifies.
 */
#ifndef PIO_HOLO_DAMAGE_FIXTURE_H
#define PIO_HOLO_DAMAGE_FIXTURE_H

#include "holo_fixture.h"

#define SEED 5

/* A small file with topology, metadata, two commits (so an old index and
 * footer sit in the middle) and varied frames. */
static inline void make_small(const char *path, uint64_t nframes, uint64_t split)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_NO_SYNC;
    struct pio_error e = {0};
    pio_writer *w = fixture_writer(path);
    CHECK(w != NULL);
    static char names[2][8] = {"OW", "HW1"};
    struct pio_topology t = {.natoms = 2, .names = (const char(*)[8])names};
    CHECK(pio_writer_set_topology(w, &t, &e) == 0);
    CHECK(pio_writer_set_metadata(w, "k", "v", &e) == 0);
    CHECK(fixture_append(w, 0, split, SEED, true, 1) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
    CHECK(pio_writer_open_append(&w, path, &o, &e) == 0);
    CHECK(fixture_append(w, split, nframes - split, SEED, true, 1) == 0);
    CHECK(pio_writer_close(w, &e) == 0);
}

/* Open and touch everything; returns 0 if open and verify both pass. */
static inline int open_read_verify(const char *path, uint64_t *nframes)
{
    struct pio_error e = {0};
    pio_reader *r;
    int rc = pio_reader_open(&r, path, NULL, &e);
    if (rc != 0) {
        if (!(rc < 0 && e.message[0]))
            fprintf(stderr, "open failed without a message: %d\n", rc);
        return rc;
    }
    uint64_t n = pio_reader_nframes(r);
    double sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct pio_frame f;
        if (pio_reader_frame(r, i, &f, NULL) != 0)
            continue;
        for (uint64_t a = 0; a < f.natoms; a++)
            sum += f.positions[a][0] + (f.velocities ? f.velocities[a][1] : 0) +
                   (f.forces ? f.forces[a][2] : 0);
        for (uint32_t k = 0; k < f.nscalars; k++)
            sum += (double)strlen(f.scalars[k].name);
    }
    struct pio_topology t;
    if (pio_reader_topology(r, &t) == 0)
        for (uint64_t a = 0; a < t.natoms; a++)
            sum += t.masses[a] + (double)strnlen(t.names[a], 8);
    const char *k, *v;
    for (uint64_t i = 0; pio_reader_metadata_at(r, i, &k, &v) == 0; i++)
        sum += (double)strlen(k) + (double)strlen(v);
    struct pio_reader_info in;
    pio_reader_info(r, &in);
    __asm__ volatile("" : : "r"(&sum) : "memory");
    rc = pio_reader_verify(r, 1, &e);
    if (rc != 0 && !e.message[0])
        fprintf(stderr, "verify failed without a message\n");
    if (nframes)
        *nframes = n;
    pio_reader_close(r);
    return rc;
}

#endif /* PIO_HOLO_DAMAGE_FIXTURE_H */
