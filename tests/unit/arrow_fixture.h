/*
 * Shared by the Arrow test programs (test_arrow_*.c): a small HOLO file
 * with a topology in a fresh temporary directory, a reader on it, and the
 * validity bit of an array's entry.
 */
#ifndef PIO_ARROW_FIXTURE_H
#define PIO_ARROW_FIXTURE_H

#include <inttypes.h>
#include <prismio/arrow.h>
#include <prismio/convert.h>

#include "holo_fixture.h"
#include "pio_test.h"

#define NFRAMES            12
#define BASE               20
#define SEED               7
#define TOPN               (BASE + 12)
#define PIO_ARRAY_LEN_T(a) (sizeof(a) / sizeof((a)[0]))

static char holo[256], tmpdir[128];

static struct pio_error e;

static inline bool valid_at(const struct ArrowArray *x, int64_t i)
{
    const uint8_t *v = x->null_count ? x->buffers[0] : NULL;
    return !v || (v[i / 8] >> (i % 8)) & 1;
}

static inline void make_file(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pio_arrow_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(holo, sizeof(holo), "%s/t.holo", tmpdir);
    pio_writer *w = fixture_writer(holo);
    char names[TOPN][8] = {{0}}, res[TOPN][8] = {{0}}, elem[TOPN][4] = {{0}},
         chain[TOPN][4] = {{0}};
    int32_t resid[TOPN];
    float mass[TOPN], charge[TOPN];
    for (int i = 0; i < TOPN; i++) {
        snprintf(names[i], 8, "A%d", i);
        snprintf(res[i], 8, "R%d", i / 3);
        snprintf(elem[i], 4, "%s", i % 3 ? "H" : "O");
        snprintf(chain[i], 4, "%c", 'A' + i % 2);
        resid[i] = i / 3 + 1;
        mass[i] = (float)i * 1.5f;
        charge[i] = (float)i * -0.125f;
    }
    memcpy(names[3], "ABCDEFGH", 8); /* all 8 bytes, no NUL */
    struct pio_topology t = {TOPN,
                             0,
                             (const char(*)[8])names,
                             (const char(*)[4])elem,
                             (const char(*)[8])res,
                             (const char(*)[4])chain,
                             resid,
                             mass,
                             charge,
                             NULL};
    if (!w || pio_writer_set_topology(w, &t, &e) != 0 ||
        pio_writer_set_metadata(w, "creator", "test_arrow", &e) != 0 ||
        fixture_append(w, 0, NFRAMES, SEED, true, BASE) != 0 || pio_writer_close(w, &e) != 0) {
        fprintf(stderr, "fixture: %s\n", e.message);
        exit(1);
    }
}

/* make_file, then a reader on it; exits on failure. */
static inline pio_reader *arrow_fixture_open(void)
{
    make_file();
    pio_reader *r;
    if (pio_reader_open(&r, holo, NULL, &e) != 0) {
        fprintf(stderr, "%s\n", e.message);
        exit(1);
    }
    return r;
}

/* Remove the temporary directory and everything in it. */
static inline void arrow_fixture_cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

#endif /* PIO_ARROW_FIXTURE_H */
