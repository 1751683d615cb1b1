/*
 * formats: the synthetic source: deterministic frames computed from a seed
 * and the frame number (any frame can be regenerated: tests, benchmarks),
 * with a water-box topology. A source, not a file format: opened by its
 * parameters, not a path, so it has no registry entry.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "prismio/convert.h"

#include "common/pio_common.h"

/* ---- synthetic source ------------------------------------------------------ */

struct synth_src {
    uint64_t nframes, natoms, seed;
    uint32_t fields;
    const uint64_t *frames;
    uint64_t n, k;
    float *x, *v, *f;
    struct pio_scalar sc[2];
    struct pio_topology top;
    void *topmem;
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1) with 24 bits, exactly representable as float. */
static float unit24(uint64_t *s)
{
    return (float)((int32_t)(splitmix(s) >> 40) - (1 << 23)) * (1.0f / (float)(1 << 23));
}

PIO_API void pio_synthetic_frame(uint64_t i, uint64_t natoms, uint32_t fields, uint64_t seed,
                                 float *x, float *v, float *f, struct pio_scalar sc[2],
                                 struct pio_frame *out)
{
    uint64_t s = seed * 0x2545F4914F6CDD1Dull + i;
    /* a box of 100 atoms/nm^3; positions drift slowly with i */
    float side = 1.0f;
    while (side * side * side * 100.0f < (float)natoms)
        side += 0.25f;
    float drift = 0.001f * (float)(i % 1000);
    for (uint64_t k = 0; k < natoms * 3; k++)
        x[k] = side * 0.5f * (unit24(&s) + 1.0f) + drift;
    memset(out, 0, sizeof(*out));
    out->natoms = natoms;
    out->positions = (const float(*)[3])x;
    if ((fields & PIO_FIELD_VELOCITIES) && v) {
        for (uint64_t k = 0; k < natoms * 3; k++)
            v[k] = unit24(&s);
        out->velocities = (const float(*)[3])v;
    }
    if ((fields & PIO_FIELD_FORCES) && f) {
        for (uint64_t k = 0; k < natoms * 3; k++)
            f[k] = 500.0f * unit24(&s);
        out->forces = (const float(*)[3])f;
    }
    if (fields & PIO_FIELD_BOX) {
        out->fields |= PIO_FIELD_BOX;
        for (int a = 0; a < 3; a++)
            out->box[a][a] = side;
    }
    out->step = (int64_t)(i * 100);
    out->time = (double)i * 0.2;
    out->index = i;
    memset(sc, 0, 2 * sizeof(*sc));
    strcpy(sc[0].name, "potential");
    sc[0].value = -41.5 * (double)natoms + (double)(i % 97);
    strcpy(sc[1].name, "kinetic");
    sc[1].value = 3.7 * (double)natoms + (double)(i % 89);
    out->nscalars = 2;
    out->scalars = sc;
}

static int synth_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    (void)err;
    struct synth_src *s = ctx;
    *out = (struct pio_source_info){.nframes = s->nframes,
                                    .max_natoms = s->natoms,
                                    .fields = s->fields | PIO_FIELD_POSITIONS,
                                    .length_unit = PIO_UNIT_NM,
                                    .topology = &s->top};
    return 0;
}

static int synth_start(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err)
{
    (void)err;
    struct synth_src *s = ctx;
    s->frames = frames;
    s->n = frames ? n : s->nframes;
    s->k = 0;
    return 0;
}

/* Positions generated straight into dst when it has room. */
static int synth_next_into(void *ctx, struct pio_frame *out, float *dst, uint64_t cap,
                           struct pio_error *err)
{
    (void)err;
    struct synth_src *s = ctx;
    if (s->k == s->n)
        return 0;
    uint64_t i = s->frames ? s->frames[s->k] : s->k;
    s->k++;
    float *x = dst && cap >= s->natoms ? dst : s->x;
    pio_synthetic_frame(i, s->natoms, s->fields, s->seed, x, s->v, s->f, s->sc, out);
    return 1;
}

static int synth_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    return synth_next_into(ctx, out, NULL, 0, err);
}

static void synth_release(void *ctx, const struct pio_frame *f)
{
    (void)ctx;
    (void)f;
}

static void synth_destroy(void *ctx)
{
    struct synth_src *s = ctx;
    if (!s)
        return;
    free(s->x);
    free(s->v);
    free(s->f);
    free(s->topmem);
    free(s);
}

/* Water: OW HW1 HW2 per residue SOL, residues alternate chains A and B. */
static int synth_topology(struct synth_src *s)
{
    size_t n = (size_t)s->natoms;
    uint8_t *m = calloc(1, n * (8 + 8 + 4 + 4 + 4 + 4 + 4) + 1);
    if (!m)
        return -ENOMEM;
    s->topmem = m;
    char(*names)[8] = (void *)m, (*resn)[8] = (void *)(m + n * 8);
    char(*elem)[4] = (void *)(m + n * 16), (*chain)[4] = (void *)(m + n * 20);
    int32_t *resid = (void *)(m + n * 24);
    float *mass = (void *)(m + n * 28), *charge = (void *)(m + n * 32);
    static const char *const nm[3] = {"OW", "HW1", "HW2"};
    for (size_t i = 0; i < n; i++) {
        strcpy(names[i], nm[i % 3]);
        strcpy(resn[i], "SOL");
        strcpy(elem[i], i % 3 ? "H" : "O");
        strcpy(chain[i], (i / 3) % 2 ? "B" : "A");
        resid[i] = (int32_t)(i / 3 + 1);
        mass[i] = i % 3 ? 1.008f : 15.999f;
        charge[i] = i % 3 ? 0.417f : -0.834f;
    }
    s->top = (struct pio_topology){.natoms = s->natoms,
                                   .names = (const char(*)[8])names,
                                   .elements = (const char(*)[4])elem,
                                   .resnames = (const char(*)[8])resn,
                                   .chains = (const char(*)[4])chain,
                                   .resids = resid,
                                   .masses = mass,
                                   .charges = charge};
    return 0;
}

PIO_API int pio_source_synthetic(struct pio_source *out, uint64_t nframes, uint64_t natoms,
                                 uint32_t fields, uint64_t seed, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    if (natoms == 0 || natoms > PIO_HOLO_MAX_ATOMS)
        return pio_error_set(err, PIO_EUSAGE, "synthetic source: %llu atoms (1 to %llu)",
                             (unsigned long long)natoms, (unsigned long long)PIO_HOLO_MAX_ATOMS);
    struct synth_src *s = calloc(1, sizeof(*s));
    if (!s)
        return pio_error_set(err, -ENOMEM, "synthetic source: out of memory");
    s->nframes = nframes;
    s->natoms = natoms;
    s->fields = fields & (PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES | PIO_FIELD_BOX);
    s->seed = seed;
    size_t b = (size_t)natoms * 12;
    s->x = malloc(b);
    s->v = (s->fields & PIO_FIELD_VELOCITIES) ? malloc(b) : NULL;
    s->f = (s->fields & PIO_FIELD_FORCES) ? malloc(b) : NULL;
    if (!s->x || ((s->fields & PIO_FIELD_VELOCITIES) && !s->v) ||
        ((s->fields & PIO_FIELD_FORCES) && !s->f) || synth_topology(s) != 0) {
        synth_destroy(s);
        return pio_error_set(err, -ENOMEM, "synthetic source: out of memory for %llu atoms",
                             (unsigned long long)natoms);
    }
    *out = (struct pio_source){sizeof(struct pio_source),
                               "source synthetic",
                               s,
                               synth_info,
                               synth_start,
                               synth_next,
                               synth_release,
                               synth_destroy,
                               synth_next_into};
    return 0;
}
