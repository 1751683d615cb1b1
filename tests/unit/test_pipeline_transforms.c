/*
 * The pipeline's transforms: every combination of frame selection, atom
 * selection, dropped fields, threads and batch size gives the same file,
 * byte for byte, as a plain sequential loop over the reader and a writer
 * (same salt); batches converted to float64 and Angstrom keep their layout
 * promises (order, padding, alignment, values).
 */
#include "pipeline_fixture.h"

static bool same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    uint8_t *x = fixture_slurp(a, &la), *y = fixture_slurp(b, &lb);
    bool same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static void test_equivalence(const char *a, const char *b)
{
    const char *frames[] = {NULL, "::3", "5,1,7-9,1", "-1::-2"};
    const char *atoms[] = {NULL, "0-9,20-29 or name HW1",
                           "resname SOL and not (element H or chain B)"};
    const uint32_t drops[] = {0, PIO_FIELD_VELOCITIES,
                              PIO_FIELD_FORCES | PIO_FIELD_BOX | PIO_DROP_SCALARS};
    const uint32_t shape[][2] = {{1, 128}, {3, 7}, {2, 1}}; /* threads, batch */
    char *ref = fixture_tmpname("pipe_ref"), *out = fixture_tmpname("pipe_out");
    int runs = 0;
    for (size_t fi = 0; fi < PIO_ARRAY_LEN(frames); fi++)
        for (size_t ai = 0; ai < PIO_ARRAY_LEN(atoms); ai++)
            for (size_t di = 0; di < PIO_ARRAY_LEN(drops); di++) {
                CHECK(reference(a, ref, frames[fi], atoms[ai], drops[di]) == 0);
                for (size_t si = 0; si < PIO_ARRAY_LEN(shape); si++) {
                    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
                    po.frames = frames[fi];
                    po.atoms = atoms[ai];
                    po.drop = drops[di];
                    po.threads = shape[si][0];
                    po.batch_frames = shape[si][1];
                    struct pio_error e = {0};
                    struct pio_pipeline_stats st;
                    int rc = run_pipeline(a, out, &po, &st, &e);
                    CHECKF(rc == 0, "%s", e.message);
                    CHECKF(same_file(ref, out), "frames %s atoms %s drop %x threads %u batch %u",
                           frames[fi] ? frames[fi] : "all", atoms[ai] ? atoms[ai] : "all",
                           drops[di], shape[si][0], shape[si][1]);
                    CHECK(st.frames_in == st.frames_out);
                    runs++;
                }
                TEST_STOP_IF_FLOODED_VOID();
            }
    /* varying atom counts, index selection, small memory (one frame per batch) */
    const char *batoms[] = {NULL, "0-9,20-29", "not index 3-38"};
    for (size_t ai = 0; ai < PIO_ARRAY_LEN(batoms); ai++) {
        CHECK(reference(b, ref, "::2", batoms[ai], 0) == 0);
        struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
        po.frames = "::2";
        po.atoms = batoms[ai];
        po.max_bytes = 1;
        po.threads = 2;
        struct pio_error e = {0};
        CHECKF(run_pipeline(b, out, &po, NULL, &e) == 0, "%s", e.message);
        CHECKF(same_file(ref, out), "varying atoms, atoms %s", batoms[ai] ? batoms[ai] : "all");
        runs++;
    }
    printf("equivalence: %d pipeline runs byte-identical to the sequential reference\n", runs);
    unlink(ref);
    unlink(out);
}

/* ---- a sink that checks batches: float64, Angstrom ------------------------------ */

struct check_sink {
    pio_reader *r; /* the input, for expected values */
    const uint64_t *frames;
    uint64_t next_frame, next_seq;
    uint32_t batch_frames;
    uint64_t frames_seen;
    const uint64_t *sel; /* atom selection, or NULL */
    uint64_t nsel;
    int bad;
};

static int cs_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    (void)err;
    struct check_sink *c = ctx;
    if (info->length_unit != PIO_UNIT_ANGSTROM)
        c->bad++;
    return 0;
}

static int cs_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    (void)err;
    struct check_sink *c = ctx;
    CHECK(b->seq == c->next_seq++);
    CHECK(b->nframes >= 1 && b->nframes <= c->batch_frames);
    CHECK(b->precision == PIO_FLOAT64 && b->length_unit == PIO_UNIT_ANGSTROM);
    const double *arrs[3] = {b->positions, b->velocities, b->forces};
    for (int q = 0; q < 3; q++)
        CHECK(!arrs[q] || (uintptr_t)arrs[q] % 64 == 0);
    uint32_t any = 0;
    for (uint32_t f = 0; f < b->nframes; f++) {
        uint64_t i = c->frames[c->next_frame++];
        struct pio_frame in;
        struct pio_error e = {0};
        CHECK(pio_reader_frame(c->r, i, &in, &e) == 0);
        uint64_t n = c->sel ? c->nsel : in.natoms;
        CHECK(b->index[f] == i && b->natoms[f] == n && b->step[f] == in.step);
        CHECK(b->atom_offset[f] % PIO_BATCH_ATOM_PAD == 0);
        CHECK(b->atom_offset[f + 1] - b->atom_offset[f] == (n + 15) / 16 * 16);
        any |= b->fields[f];
        const float(*src[3])[3] = {in.positions, in.velocities, in.forces};
        const float scale[3] = {10.0f, 10.0f, 0.1f};
        for (int q = 0; q < 3; q++) {
            if (!src[q]) {
                CHECK(!(b->fields[f] & (1u << q)));
                continue;
            }
            CHECK(b->fields[f] & (1u << q));
            const double *d = arrs[q] + b->atom_offset[f] * 3;
            for (uint64_t j = 0; j < n * 3; j++) {
                uint64_t atom = c->sel ? c->sel[j / 3] : j / 3;
                if (d[j] != (double)(src[q][atom][j % 3] * scale[q])) {
                    c->bad++;
                    break;
                }
            }
            for (uint64_t j = n * 3; j < (b->atom_offset[f + 1] - b->atom_offset[f]) * 3; j++)
                if (d[j] != 0.0)
                    c->bad++;
        }
        if (in.fields & PIO_FIELD_BOX)
            CHECK(b->box[f][0][0] == in.box[0][0] * 10.0);
        CHECK(b->scalar_offset[f + 1] - b->scalar_offset[f] == in.nscalars);
        c->frames_seen++;
    }
    CHECK(any == b->fields_any);
    return 0;
}

static int cs_end(void *ctx, bool ok, struct pio_error *err)
{
    (void)ctx;
    (void)err;
    CHECK(ok);
    return 0;
}

static void test_batches(const char *a, const char *atoms)
{
    struct pio_error e = {0};
    struct check_sink c = {.batch_frames = 6};
    CHECK(pio_reader_open(&c.r, a, NULL, &e) == 0);
    uint64_t *sel = NULL;
    struct pio_topology top;
    CHECK(pio_reader_topology(c.r, &top) == 0);
    if (atoms)
        CHECK(pio_select_atoms(atoms, &top, top.natoms, &sel, &c.nsel, &e) == 0);
    c.sel = sel;
    uint64_t *fl, n;
    CHECK(pio_select_frames("3:", NFRAMES, &fl, &n, &e) == 0);
    c.frames = fl;
    struct pio_source src;
    CHECK(pio_source_holo(&src, a, NULL, 0, &e) == 0);
    struct pio_sink sink = {.name = "check",
                            .ctx = &c,
                            .precision = PIO_FLOAT64,
                            .length_unit = PIO_UNIT_ANGSTROM,
                            .begin = cs_begin,
                            .write = cs_write,
                            .end = cs_end};
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    po.frames = "3:";
    po.batch_frames = 6;
    po.threads = 3;
    po.atoms = atoms;
    CHECKF(pio_pipeline_run(&src, &sink, &po, NULL, &e) == 0, "%s", e.message);
    CHECKF(c.frames_seen == n && c.bad == 0, "atoms %s: %d bad values", atoms ? atoms : "all",
           c.bad);
    pio_source_destroy(&src);
    pio_reader_close(c.r);
    free(fl);
    free(sel);
}

int main(void)
{
    char *a = fixture_tmpname("pipe_a"), *b = fixture_tmpname("pipe_b");
    struct topo tp;
    if (make_inputs(a, b, &tp) != 0) {
        fprintf(stderr, "cannot write the inputs\n");
        return 1;
    }
    test_equivalence(a, b);
    test_batches(a, NULL);
    test_batches(a, "0-9,20-29 or name HW1");
    topo_free(&tp);
    unlink(a);
    unlink(b);
    return TEST_RESULT();
}
