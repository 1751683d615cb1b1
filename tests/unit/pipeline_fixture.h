/*
 * Shared by the pipeline's test programs (test_pipeline_*.c, test_select.c,
 * test_holo_sink.c): a water topology, the two input files, the sequential
 * reference a pipeline run must equal byte for byte, a HOLO-to-HOLO run,
 * and wrapping sources (one that counts and fails on purpose, one that
 * offers next_into).
 */
#ifndef PIO_PIPELINE_FIXTURE_H
#define PIO_PIPELINE_FIXTURE_H

#include <stdatomic.h>

#include <prismio/convert.h>
#include <prismio/pipeline.h>

#include "common/pio_common.h"
#include "holo_fixture.h"
#include "pio_test.h"

static const uint8_t SALT[16] = "pipeline-salt-16";

/* Water: OW HW1 HW2 per residue SOL (every 4th residue NA instead, one
 * atom... kept simple: all SOL), chains A/B alternating per residue. */
struct topo {
    char (*names)[8], (*resn)[8], (*elem)[4], (*chain)[4];
    int32_t *resid;
    float *mass, *charge;
    uint32_t (*bonds)[2];
    struct pio_topology t;
};

static inline void topo_make(struct topo *tp, uint64_t n)
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

static inline void topo_free(struct topo *tp)
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

/* ---- inputs ------------------------------------------------------------------ */

#define NATOMS  45
#define NFRAMES 50
#define SEED    77

/* File A: 45 atoms (with topology), fixture frames (velocities on even
 * frames, forces every third, box on odd, 0-3 scalars). File B: atom
 * counts vary 40..52, no topology. */
static inline int make_inputs(const char *a, const char *b, struct topo *tp)
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
static inline int reference(const char *in, const char *out, const char *frames, const char *atoms,
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

static inline int run_pipeline(const char *in, const char *out,
                               const struct pio_pipeline_options *po, struct pio_pipeline_stats *st,
                               struct pio_error *e)
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

/* ---- wrapping sources ----------------------------------------------------------- */

/* A source wrapping another: counts the frames it hands out and fails at
 * frame `fail_at` (UINT64_MAX: never). */
struct wrap_source {
    struct pio_source inner;
    uint64_t fail_at;
    _Atomic uint64_t produced;
};

static inline int ws_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    struct wrap_source *s = ctx;
    return s->inner.info(s->inner.ctx, out, err);
}
static inline int ws_start(void *ctx, const uint64_t *f, uint64_t n, struct pio_error *err)
{
    struct wrap_source *s = ctx;
    return s->inner.start(s->inner.ctx, f, n, err);
}
static inline int ws_next(void *ctx, struct pio_frame *out, struct pio_error *err)
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
static inline void ws_release(void *ctx, const struct pio_frame *f)
{
    struct wrap_source *s = ctx;
    s->inner.release(s->inner.ctx, f);
}

static inline struct pio_source wrap(struct wrap_source *s, const char *name)
{
    return (struct pio_source){
        sizeof(struct pio_source), name, s, ws_info, ws_start, ws_next, ws_release, NULL, NULL};
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
static inline int into_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    struct into_src *s = ctx;
    int rc = s->inner.info(s->inner.ctx, out, err);
    if (s->busy)
        out->threads = pio_cpu_count();
    return rc;
}
static inline int into_start(void *ctx, const uint64_t *f, uint64_t n, struct pio_error *err)
{
    struct into_src *s = ctx;
    return s->inner.start(s->inner.ctx, f, n, err);
}
static inline int into_next_into(void *ctx, struct pio_frame *out, float *dst, uint64_t cap,
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
static inline int into_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    return into_next_into(ctx, out, NULL, 0, err);
}
static inline void into_release(void *ctx, const struct pio_frame *f)
{
    struct into_src *s = ctx;
    s->inner.release(s->inner.ctx, f);
}

#endif /* PIO_PIPELINE_FIXTURE_H */
