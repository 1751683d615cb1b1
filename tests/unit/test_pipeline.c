/*
 * The streaming pipeline: selections parsed as documented; every transform
 * combination gives the same file, byte for byte, as a plain sequential
 * loop over the reader and a writer (same salt); batches keep their
 * layout promises; a failure injected in each stage stops the run with a
 * message naming stage and frame and leaves a valid file holding a prefix
 * of the frames; memory stays bounded whatever the input size.
 */
#include <errno.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <prismio/convert.h>
#include <prismio/pipeline.h>

#include "common/pio_common.h"
#include "holo_fixture.h"
#include "io/pio_io.h"
#include "pio_test.h"

static const uint8_t SALT[16] = "pipeline-salt-16";

/* ---- selections --------------------------------------------------------------- */

/* A selection's result as "1 2 3", or "error"; frees v. */
static void join(char *got, size_t size, int rc, uint64_t *v, uint64_t n)
{
    got[0] = '\0';
    if (rc != 0)
        snprintf(got, size, "error");
    for (uint64_t i = 0; rc == 0 && i < n; i++)
        snprintf(got + strlen(got), size - strlen(got), "%s%llu", i ? " " : "",
                 (unsigned long long)v[i]);
    free(v);
}

static void check_frames(const char *spec, uint64_t nframes, const char *want)
{
    uint64_t *v, n;
    struct pio_error e = {0};
    char got[512];
    int rc = pio_select_frames(spec, nframes, &v, &n, &e);
    join(got, sizeof(got), rc, v, n);
    CHECKF(strcmp(got, want) == 0, "frames '%s' of %llu: got '%s', want '%s' (%s)", spec,
           (unsigned long long)nframes, got, want, e.message);
}

static void test_select_frames(void)
{
    check_frames("::3", 10, "0 3 6 9");
    check_frames("2:8:2", 10, "2 4 6");
    check_frames("-3:", 10, "7 8 9");
    check_frames(":-7", 10, "0 1 2");
    check_frames("::-3", 10, "9 6 3 0");
    check_frames("8:2:-2", 10, "8 6 4");
    check_frames("-1::-4", 10, "9 5 1");
    check_frames("5:100", 10, "5 6 7 8 9");
    check_frames("100:", 10, "");
    check_frames("5,1,7-9,1", 10, "5 1 7 8 9 1");
    check_frames("0:2,8:", 10, "0 1 8 9");
    check_frames(":", 0, "");
    check_frames("::0", 10, "error");
    check_frames("10", 10, "error");
    check_frames("3-1", 10, "error");
    check_frames("1,,2", 10, "error");
    check_frames("a", 10, "error");
    check_frames("", 10, "error");
    check_frames("1:2:3:4", 10, "error");
    struct pio_error e = {0};
    uint64_t *v, n;
    CHECK(pio_select_frames("2:x", 10, &v, &n, &e) == PIO_EUSAGE);
    CHECKF(strstr(e.message, "'2:x'") && strstr(e.message, "character 3"), "%s", e.message);
}

/* Water: OW HW1 HW2 per residue SOL (every 4th residue NA instead, one
 * atom... kept simple: all SOL), chains A/B alternating per residue. */
struct topo {
    char (*names)[8], (*resn)[8], (*elem)[4], (*chain)[4];
    int32_t *resid;
    float *mass, *charge;
    uint32_t (*bonds)[2];
    struct pio_topology t;
};

static void topo_make(struct topo *tp, uint64_t n)
{
    tp->names = calloc(n, 8);
    tp->resn = calloc(n, 8);
    tp->elem = calloc(n, 4);
    tp->chain = calloc(n, 4);
    tp->resid = calloc(n, 4);
    tp->mass = calloc(n, 4);
    tp->charge = calloc(n, 4);
    tp->bonds = calloc(n, 8);
    uint64_t nb = 0;
    static const char *const nm[3] = {"OW", "HW1", "HW2"};
    for (uint64_t i = 0; i < n; i++) {
        bool ion = (i / 3) % 7 == 6;
        strcpy(tp->names[i], ion ? "NA" : nm[i % 3]);
        strcpy(tp->resn[i], ion ? "NA" : "SOL");
        strcpy(tp->elem[i], ion ? "Na" : i % 3 ? "H" : "O");
        strcpy(tp->chain[i], (i / 3) % 2 ? "B" : "A");
        tp->resid[i] = (int32_t)(i / 3 + 1);
        tp->mass[i] = (float)i * 0.5f;
        tp->charge[i] = (float)i * -0.25f;
        if (i % 3 && !ion) {
            tp->bonds[nb][0] = (uint32_t)(i - i % 3);
            tp->bonds[nb][1] = (uint32_t)i;
            nb++;
        }
    }
    tp->t = (struct pio_topology){n,
                                  nb,
                                  (const char(*)[8])tp->names,
                                  (const char(*)[4])tp->elem,
                                  (const char(*)[8])tp->resn,
                                  (const char(*)[4])tp->chain,
                                  tp->resid,
                                  tp->mass,
                                  tp->charge,
                                  (const uint32_t(*)[2])tp->bonds};
}

static void topo_free(struct topo *tp)
{
    free(tp->names);
    free(tp->resn);
    free(tp->elem);
    free(tp->chain);
    free(tp->resid);
    free(tp->mass);
    free(tp->charge);
    free(tp->bonds);
}

static void check_atoms(const struct pio_topology *t, const char *spec, const char *want)
{
    uint64_t *v, n;
    struct pio_error e = {0};
    char got[1024];
    int rc = pio_select_atoms(spec, t, t ? t->natoms : 30, &v, &n, &e);
    join(got, sizeof(got), rc, v, n);
    CHECKF(strcmp(got, want) == 0, "atoms '%s': got '%s', want '%s' (%s)", spec, got, want,
           e.message);
}

static void test_select_atoms(void)
{
    struct topo tp;
    topo_make(&tp, 30); /* residues 1..10; residue 7 (atoms 18-20) is NA */
    const struct pio_topology *t = &tp.t;
    check_atoms(t, "name OW", "0 3 6 9 12 15 21 24 27");
    check_atoms(t, "name HW*", "1 2 4 5 7 8 10 11 13 14 16 17 22 23 25 26 28 29");
    check_atoms(t, "name HW?", "1 2 4 5 7 8 10 11 13 14 16 17 22 23 25 26 28 29");
    check_atoms(t, "resname NA", "18 19 20");
    check_atoms(t, "element Na O", "0 3 6 9 12 15 18 19 20 21 24 27");
    check_atoms(t, "chain B and name OW", "3 9 15 21 27");
    check_atoms(t, "resid 2-3", "3 4 5 6 7 8");
    check_atoms(t, "resid 2:3 and not name OW", "4 5 7 8");
    check_atoms(t, "0-2, 28 29", "0 1 2 28 29");
    check_atoms(t, "index 5:6 or index 1", "1 5 6");
    check_atoms(t, "not (chain A or element H)", "3 9 15 21 27");
    check_atoms(t, "name OW or resid 1 and element H", "0 1 2 3 6 9 12 15 21 24 27");
    check_atoms(t, "(name OW or resid 1) and element H", "1 2");
    check_atoms(t, "not not index 4", "4");
    check_atoms(t, "all and not index 0-27", "28 29");
    check_atoms(t, "name XX", "");
    check_atoms(t, "index 30", "error");
    check_atoms(t, "name", "error");
    check_atoms(t, "name OW and", "error");
    check_atoms(t, "(name OW", "error");
    check_atoms(t, "colour red", "error");
    check_atoms(t, "index 3-1", "error");
    check_atoms(t, "0-2 name OW", "error");
    check_atoms(NULL, "0-2,5", "0 1 2 5");
    check_atoms(NULL, "name OW", "error");
    check_atoms(NULL, "not index 0-27", "28 29");
    struct pio_error e = {0};
    uint64_t *v, n;
    CHECK(pio_select_atoms("name OW", NULL, 30, &v, &n, &e) == PIO_EUSAGE);
    CHECKF(strstr(e.message, "needs a topology"), "%s", e.message);
    CHECK(pio_select_atoms("all", t, 31, &v, &n, &e) == PIO_EUSAGE);
    /* deep nesting is refused, not a stack overflow */
    char deep[400];
    memset(deep, '(', 200);
    strcpy(deep + 200, "all");
    CHECK(pio_select_atoms(deep, t, 30, &v, &n, &e) == PIO_EUSAGE);
    topo_free(&tp);
}

/* ---- inputs ------------------------------------------------------------------ */

#define NATOMS  45
#define NFRAMES 50
#define SEED    77

/* File A: 45 atoms (with topology), fixture frames (velocities on even
 * frames, forces every third, box on odd, 0-3 scalars). File B: atom
 * counts vary 40..52, no topology. */
static int make_inputs(const char *a, const char *b, struct topo *tp)
{
    topo_make(tp, NATOMS);
    struct pio_error e = {0};
    pio_writer *w = fixture_writer(a);
    if (!w || pio_writer_set_topology(w, &tp->t, &e) != 0 ||
        pio_writer_set_metadata(w, "creator", "test_pipeline", &e) != 0 ||
        pio_writer_set_metadata(w, "units", "nm", &e) != 0 ||
        fixture_append(w, 0, NFRAMES, SEED, false, NATOMS) != 0 || pio_writer_close(w, &e) != 0)
        return -1;
    w = fixture_writer(b);
    if (!w || fixture_append(w, 0, 40, SEED + 1, true, 40) != 0 || pio_writer_close(w, &e) != 0)
        return -1;
    return 0;
}

/* The sequential reference: reader views, plain loops, one writer. */
static int reference(const char *in, const char *out, const char *frames, const char *atoms,
                     uint32_t drop)
{
    struct pio_error e = {0};
    pio_reader *r;
    if (pio_reader_open(&r, in, NULL, &e) != 0)
        return -1;
    uint64_t nf = pio_reader_nframes(r), *fl = NULL, nsel = nf;
    if (frames && pio_select_frames(frames, nf, &fl, &nsel, &e) != 0)
        return -1;
    pio_writer *w = fixture_writer_salted(out, SALT);
    struct pio_topology top;
    bool has_top = pio_reader_topology(r, &top) == 0;
    uint64_t *sel = NULL, m = 0;
    struct topo sub = {0};
    if (has_top) {
        if (atoms && pio_select_atoms(atoms, &top, top.natoms, &sel, &m, &e) != 0)
            return -1;
        if (atoms) { /* the selected topology, by hand */
            topo_make(&sub, m);
            uint64_t nb = 0;
            for (uint64_t j = 0; j < m; j++) {
                memcpy(sub.names[j], top.names[sel[j]], 8);
                memcpy(sub.resn[j], top.resnames[sel[j]], 8);
                memcpy(sub.elem[j], top.elements[sel[j]], 4);
                memcpy(sub.chain[j], top.chains[sel[j]], 4);
                sub.resid[j] = top.resids[sel[j]];
                sub.mass[j] = top.masses[sel[j]];
                sub.charge[j] = top.charges[sel[j]];
            }
            for (uint64_t k = 0; k < top.nbonds; k++) {
                int64_t x = -1, y = -1;
                for (uint64_t j = 0; j < m; j++) {
                    if (sel[j] == top.bonds[k][0])
                        x = (int64_t)j;
                    if (sel[j] == top.bonds[k][1])
                        y = (int64_t)j;
                }
                if (x >= 0 && y >= 0) {
                    sub.bonds[nb][0] = (uint32_t)x;
                    sub.bonds[nb][1] = (uint32_t)y;
                    nb++;
                }
            }
            sub.t.nbonds = nb;
            top = sub.t;
        }
        if (pio_writer_set_topology(w, &top, &e) != 0)
            return -1;
    }
    for (uint64_t k = 0; k < pio_reader_metadata_count(r); k++) {
        const char *key, *val;
        pio_reader_metadata_at(r, k, &key, &val);
        pio_writer_set_metadata(w, key, val, &e);
    }
    int rc = 0;
    for (uint64_t k = 0; k < nsel && rc == 0; k++) {
        struct pio_frame f;
        if (pio_reader_frame(r, fl ? fl[k] : k, &f, &e) != 0)
            return -1;
        if (atoms && !has_top) {
            free(sel);
            if (pio_select_atoms(atoms, NULL, f.natoms, &sel, &m, &e) != 0) {
                rc = -2; /* the pipeline must stop here too */
                break;
            }
        }
        uint64_t n = atoms ? m : f.natoms;
        float *arr[3] = {0};
        const float(*src[3])[3] = {f.positions, (drop & PIO_FIELD_VELOCITIES) ? NULL : f.velocities,
                                   (drop & PIO_FIELD_FORCES) ? NULL : f.forces};
        for (int q = 0; q < 3; q++) {
            if (!src[q])
                continue;
            arr[q] = malloc(n * 12 + 4);
            for (uint64_t j = 0; j < n; j++)
                memcpy(arr[q] + j * 3, src[q][atoms ? sel[j] : j], 12);
        }
        struct pio_frame o = f;
        o.natoms = n;
        o.positions = (const float(*)[3])arr[0];
        o.velocities = (const float(*)[3])arr[1];
        o.forces = (const float(*)[3])arr[2];
        if (drop & PIO_FIELD_BOX)
            o.fields &= ~(uint32_t)PIO_FIELD_BOX;
        if (drop & PIO_DROP_SCALARS)
            o.nscalars = 0;
        rc = pio_writer_append(w, &o, &e);
        for (int q = 0; q < 3; q++)
            free(arr[q]);
    }
    if (pio_writer_close(w, &e) != 0)
        rc = -1;
    if (sub.names)
        topo_free(&sub);
    free(sel);
    free(fl);
    pio_reader_close(r);
    return rc;
}

static int run_pipeline(const char *in, const char *out, const struct pio_pipeline_options *po,
                        struct pio_pipeline_stats *st, struct pio_error *e)
{
    unlink(out);
    struct pio_source src;
    struct pio_sink sink;
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = PIO_WRITER_NO_SYNC;
    wo.salt = SALT;
    int rc = pio_source_holo(&src, in, NULL, 0, e);
    if (rc != 0)
        return rc;
    if ((rc = pio_sink_holo(&sink, out, &wo, 0, e)) != 0) {
        pio_source_destroy(&src);
        return rc;
    }
    rc = pio_pipeline_run(&src, &sink, po, st, e);
    pio_source_destroy(&src);
    pio_sink_destroy(&sink);
    return rc;
}

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

/* ---- failures ---------------------------------------------------------------------- */

/* A source wrapping another: counts the frames it hands out and fails at
 * frame `fail_at` (UINT64_MAX: never). */
struct wrap_source {
    struct pio_source inner;
    uint64_t fail_at;
    _Atomic uint64_t produced;
};

static int ws_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    struct wrap_source *s = ctx;
    return s->inner.info(s->inner.ctx, out, err);
}
static int ws_start(void *ctx, const uint64_t *f, uint64_t n, struct pio_error *err)
{
    struct wrap_source *s = ctx;
    return s->inner.start(s->inner.ctx, f, n, err);
}
static int ws_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    struct wrap_source *s = ctx;
    uint64_t k = atomic_load(&s->produced);
    if (k == s->fail_at)
        return pio_error_set(err, PIO_ECORRUPT, "test input: frame %llu: broken on purpose",
                             (unsigned long long)k);
    int rc = s->inner.next(s->inner.ctx, out, err);
    if (rc == 1)
        atomic_fetch_add(&s->produced, 1);
    return rc;
}
static void ws_release(void *ctx, const struct pio_frame *f)
{
    struct wrap_source *s = ctx;
    s->inner.release(s->inner.ctx, f);
}

static struct pio_source wrap(struct wrap_source *s, const char *name)
{
    return (struct pio_source){
        sizeof(struct pio_source), name, s, ws_info, ws_start, ws_next, ws_release, NULL, NULL};
}

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

/* ---- bounded memory and backpressure --------------------------------------------- */

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

/* The synthetic source regenerates any frame. */
static void test_synthetic(void)
{
    struct pio_source s;
    struct pio_error e = {0};
    CHECK(pio_source_synthetic(&s, 10, 33, PIO_FIELD_FORCES | PIO_FIELD_BOX, 9, &e) == 0);
    uint64_t want[3] = {7, 2, 7};
    CHECK(s.start(s.ctx, want, 3, &e) == 0);
    float x[99], f[99];
    struct pio_scalar sc[2];
    for (int k = 0; k < 3; k++) {
        struct pio_frame got, ref;
        CHECK(s.next(s.ctx, &got, &e) == 1);
        pio_synthetic_frame(want[k], 33, PIO_FIELD_FORCES | PIO_FIELD_BOX, 9, x, NULL, f, sc, &ref);
        CHECK(got.index == want[k] && !got.velocities && got.forces &&
              (got.fields & PIO_FIELD_BOX));
        CHECK(memcmp(got.positions, x, sizeof(x)) == 0 && memcmp(got.forces, f, sizeof(f)) == 0);
        s.release(s.ctx, &got);
    }
    struct pio_frame end;
    CHECK(s.next(s.ctx, &end, &e) == 0);
    pio_source_destroy(&s);
    CHECK(s.ctx == NULL);
    CHECK(pio_source_synthetic(&s, 10, 0, 0, 9, &e) == PIO_EUSAGE);
}

/* A synthetic source offering next_into or not, counting the frames it
 * decoded in place; with `many`, frames k % 3 == 1 carry 1,500 scalars
 * (batches run out of scalar room with a frame already in place); with
 * `busy`, it says it keeps every CPU busy. */
struct into_src {
    struct pio_source inner;
    uint64_t in_place, k;
    bool many, busy;
    struct pio_scalar sc[1500];
};
static int into_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    struct into_src *s = ctx;
    int rc = s->inner.info(s->inner.ctx, out, err);
    if (s->busy)
        out->threads = pio_cpu_count();
    return rc;
}
static int into_start(void *ctx, const uint64_t *f, uint64_t n, struct pio_error *err)
{
    struct into_src *s = ctx;
    return s->inner.start(s->inner.ctx, f, n, err);
}
static int into_next_into(void *ctx, struct pio_frame *out, float *dst, uint64_t cap,
                          struct pio_error *err)
{
    struct into_src *s = ctx;
    int rc = s->inner.next_into(s->inner.ctx, out, dst, cap, err);
    if (rc == 1) {
        s->in_place += dst && (const float *)out->positions == dst;
        if (s->many && s->k % 3 == 1) {
            for (uint32_t j = 0; j < 1500; j++) {
                snprintf(s->sc[j].name, sizeof(s->sc[j].name), "e%u", j);
                s->sc[j].value = (double)(out->index * 1500 + j);
            }
            out->scalars = s->sc;
            out->nscalars = 1500;
        }
        s->k++;
    }
    return rc;
}
static int into_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    return into_next_into(ctx, out, NULL, 0, err);
}
static void into_release(void *ctx, const struct pio_frame *f)
{
    struct into_src *s = ctx;
    s->inner.release(s->inner.ctx, f);
}

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
            wo.hash_threads = 1; /* no pool worker: test_bounded forks under TSan */
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
    test_select_frames();
    test_select_atoms();
    test_synthetic();
    test_next_into();
    char *a = fixture_tmpname("pipe_a"), *b = fixture_tmpname("pipe_b");
    struct topo tp;
    if (make_inputs(a, b, &tp) != 0) {
        fprintf(stderr, "cannot write the inputs\n");
        return 1;
    }
    test_equivalence(a, b);
    test_batches(a, NULL);
    test_batches(a, "0-9,20-29 or name HW1");
    test_failures(a, b);
    test_bounded();
    test_sink_hash_threads(); /* last: it leaves a pool worker (test_bounded forks) */
    topo_free(&tp);
    unlink(a);
    unlink(b);
    return TEST_RESULT();
}
