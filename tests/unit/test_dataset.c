/*
 * Datasets of structures (HOLO 2.3 named arrays, prismio/dataset.h):
 *  - structures of 1 to 60 atoms with atomic numbers (u8 per atom),
 *    periodicity (u8 x 3), stress (f64 x 9), a label (char x 8), charges
 *    (f32 per atom), an energy scalar, forces and a box: every named array
 *    reads back bit for bit, the file verifies, and compact-style rewrites
 *    (recover --drop-damaged) keep the arrays; compressed positions with
 *    raw named arrays (where zstd is built);
 *  - refusals: a file created without PIO_WRITER_ARRAYS, repeated or empty
 *    names, width 0, unknown dtype, NULL data, HOLO 1.x;
 *  - hostile records: an entry's offset, length, dtype, name, the array
 *    count, all refused as PIO_ECORRUPT naming the frame (the record's
 *    hash recomputed, so the structure check is what catches them);
 *  - batches, ragged and padded, in HOLO and ASE units, equal per-structure
 *    reads for random index lists (repeats included), across the shards
 *    of a manifest; the caller's buffer (-ENOSPC when short); a column
 *    missing or of another type is refused naming shard and structure;
 *  - a damaged structure under PIO_DATASET_CHECK names shard and
 *    structure; a manifest whose counts are wrong is refused;
 *  - DLPack tensors keep their values across the batch's next fill and
 *    after it is freed;
 *  - the loader yields every structure of a shuffled epoch once, in
 *    order, on 1 and 3 threads; the shuffle is a permutation that depends
 *    on seed and epoch only.
 */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include <prismio/dataset.h>

#include "format/holo_layout.h"
#include "codec/pio_codec.h"
#include "holo_fixture.h"

#define NS 97

static uint64_t atoms_of(uint64_t i)
{
    return 1 + (i * 37) % 60;
}

struct sdata {
    uint64_t n;
    float pos[60][3], frc[60][3], q[60];
    uint8_t z[60], pbc[3];
    double stress[9], box[3][3], energy;
    char label[8];
};

static void make(struct sdata *s, uint64_t i)
{
    uint64_t st = 1000 + i;
    s->n = atoms_of(i);
    for (uint64_t a = 0; a < s->n; a++) {
        for (int c = 0; c < 3; c++) {
            s->pos[a][c] = (float)((double)(pio_test_rand(&st) % 100000) / 7919.0);
            s->frc[a][c] = (float)((double)(pio_test_rand(&st) % 100000) / 313.0 - 150.0);
        }
        s->q[a] = (float)a * 0.125f - 1.0f;
        s->z[a] = (uint8_t)(1 + (a + i) % 92);
    }
    for (int k = 0; k < 9; k++)
        s->stress[k] = (double)(i * 9 + (uint64_t)k) * 1e-3;
    memset(s->box, 0, sizeof(s->box));
    for (int c = 0; c < 3; c++)
        s->box[c][c] = 1.5 + (double)i * 0.01;
    s->pbc[0] = 1;
    s->pbc[1] = (uint8_t)(i % 2);
    s->pbc[2] = 1;
    s->energy = -100.0 - (double)i * 0.5;
    memset(s->label, 0, 8);
    snprintf(s->label, 8, "s%llu", (unsigned long long)i);
}

static int append(pio_writer *w, const struct sdata *s, struct pio_error *e)
{
    struct pio_frame f;
    memset(&f, 0, sizeof(f));
    f.natoms = s->n;
    f.positions = (const float(*)[3])s->pos;
    f.forces = (const float(*)[3])s->frc;
    f.fields = PIO_FIELD_BOX;
    memcpy(f.box, s->box, sizeof(f.box));
    struct pio_scalar sc = {"energy", s->energy};
    f.scalars = &sc;
    f.nscalars = 1;
    struct pio_array a[5] = {
        {"numbers", PIO_DTYPE_U8, 1, 1, 0, s->z},      {"pbc", PIO_DTYPE_U8, 0, 3, 0, s->pbc},
        {"stress", PIO_DTYPE_F64, 0, 9, 0, s->stress}, {"label", PIO_DTYPE_CHAR, 0, 8, 0, s->label},
        {"charges", PIO_DTYPE_F32, 1, 1, 0, s->q},
    };
    return pio_writer_append_arrays(w, &f, a, 5, e);
}

static void write_set(const char *path, uint64_t first, uint64_t n, uint32_t codec)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_OVERWRITE | PIO_WRITER_NO_SYNC | PIO_WRITER_ARRAYS;
    o.codec[0] = codec;
    pio_writer *w = NULL;
    struct pio_error e = {0};
    CHECKF(pio_writer_create(&w, path, &o, &e) == 0, "%s", e.message);
    if (!w)
        return;
    for (uint64_t i = first; i < first + n; i++) {
        struct sdata s;
        make(&s, i);
        CHECKF(append(w, &s, &e) == 0, "%s", e.message);
        if (i % 40 == 39)
            CHECK(pio_writer_commit(w, &e) == 0);
    }
    CHECKF(pio_writer_close(w, &e) == 0, "%s", e.message);
}

/* Every array of every frame of path as written (first: the dataset index
 * of its frame 0). */
static void check_file(const char *path, uint64_t first, bool lossless)
{
    pio_reader *r = NULL;
    struct pio_error e = {0};
    CHECKF(pio_reader_open(&r, path, NULL, &e) == 0, "%s", e.message);
    if (!r)
        return;
    CHECK(pio_reader_has_arrays(r));
    struct pio_reader_info info;
    pio_reader_info(r, &info);
    CHECK(info.version_major == 2 && info.version_minor == 3);
    CHECKF(pio_reader_verify(r, 1, &e) == 0, "%s", e.message);
    for (uint64_t k = 0; k < pio_reader_nframes(r); k++) {
        struct sdata s;
        make(&s, first + k);
        struct pio_frame f;
        CHECK(pio_reader_frame(r, k, &f, &e) == 0);
        CHECK(f.natoms == s.n && (f.fields & PIO_FIELD_ARRAYS));
        CHECK(!lossless || memcmp(f.positions, s.pos, s.n * 12) == 0);
        struct pio_array a[8];
        uint32_t n = 0;
        CHECKF(pio_reader_frame_arrays(r, k, a, 8, &n, &e) == 0, "%s", e.message);
        CHECK(n == 5);
        CHECK(strcmp(a[0].name, "numbers") == 0 && a[0].dtype == PIO_DTYPE_U8 && a[0].per_atom);
        CHECK(memcmp(a[0].data, s.z, s.n) == 0);
        CHECK(((uintptr_t)a[0].data & 63) == 0 && ((uintptr_t)a[4].data & 63) == 0);
        CHECK(memcmp(a[1].data, s.pbc, 3) == 0 && a[1].width == 3 && !a[1].per_atom);
        CHECK(memcmp(a[2].data, s.stress, 72) == 0);
        CHECK(memcmp(a[3].data, s.label, 8) == 0);
        CHECK(memcmp(a[4].data, s.q, s.n * 4) == 0);
        struct pio_array one;
        CHECK(pio_reader_frame_array(r, k, "stress", &one, &e) == 0 && one.data == a[2].data);
        CHECK(pio_reader_frame_array(r, k, "nope", &one, &e) == -ENOENT);
        n = 99;
        CHECK(pio_reader_frame_arrays(r, k, NULL, 0, &n, &e) == 0 && n == 5);
        TEST_STOP_IF_FLOODED_VOID();
    }
    pio_reader_close(r);
}

static void test_refusals(void)
{
    const char *p = fixture_tmpname("refuse");
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_OVERWRITE | PIO_WRITER_NO_SYNC;
    pio_writer *w = NULL;
    struct pio_error e = {0};
    struct sdata s;
    make(&s, 3);
    CHECK(pio_writer_create(&w, p, &o, &e) == 0);
    CHECK(append(w, &s, &e) == PIO_EUSAGE && strstr(e.message, "PIO_WRITER_ARRAYS"));
    pio_writer_close(w, &e);
    o.flags |= PIO_WRITER_ARRAYS | PIO_WRITER_FORMAT_1;
    CHECK(pio_writer_create(&w, p, &o, &e) == PIO_EUSAGE);
    o.flags &= ~(uint32_t)PIO_WRITER_FORMAT_1;
    CHECK(pio_writer_create(&w, p, &o, &e) == 0);
    struct pio_frame f;
    memset(&f, 0, sizeof(f));
    f.natoms = s.n;
    f.positions = (const float(*)[3])s.pos;
    struct pio_array bad[2] = {{"x", PIO_DTYPE_F32, 1, 1, 0, s.q},
                               {"x", PIO_DTYPE_F32, 1, 1, 0, s.q}};
    CHECK(pio_writer_append_arrays(w, &f, bad, 2, &e) == PIO_EUSAGE &&
          strstr(e.message, "repeated"));
    bad[1].name[0] = '\0';
    CHECK(pio_writer_append_arrays(w, &f, bad, 2, &e) == PIO_EUSAGE);
    strcpy(bad[1].name, "y");
    bad[1].width = 0;
    CHECK(pio_writer_append_arrays(w, &f, bad, 2, &e) == PIO_EUSAGE);
    bad[1].width = 1;
    bad[1].dtype = 77;
    CHECK(pio_writer_append_arrays(w, &f, bad, 2, &e) == PIO_EUSAGE);
    bad[1].dtype = PIO_DTYPE_F32;
    bad[1].data = NULL;
    CHECK(pio_writer_append_arrays(w, &f, bad, 2, &e) == PIO_EUSAGE);
    bad[1].data = s.q;
    bad[1].width = PIO_HOLO_MAX_WIDTH + 1;
    CHECK(pio_writer_append_arrays(w, &f, bad, 2, &e) == PIO_ELIMIT);
    bad[1].width = 2;
    CHECKF(pio_writer_append_arrays(w, &f, bad, 2, &e) == 0, "%s", e.message);
    CHECK(pio_writer_nframes(w) == 1);
    CHECK(pio_writer_close(w, &e) == 0);
    unlink(p);
}

/* Frame 0's record of path: patch it with fn, recompute its hash, and
 * check a reader refuses the frame structurally. */
static void hostile(const char *src, void (*fn)(uint8_t *rec, uint64_t at), const char *what)
{
    size_t len;
    uint8_t *b = fixture_slurp(src, &len);
    if (!b)
        return;
    /* frame 0 is the first record after the header (no META record) */
    uint8_t *rec = b + 128;
    uint64_t rlen = holo_rd64(rec + 8);
    uint32_t nsc = holo_rd32(rec + 76);
    uint64_t natoms = holo_rd64(rec + 64);
    uint64_t at = 192 + holo_pad64(natoms * 12) * 2 + holo_pad64((uint64_t)nsc * 32);
    fn(rec, at);
    pio__holo_record_hash(rec, rlen, 1, rec + HOLO_HASH_OFF);
    const char *p = fixture_tmpname("hostile");
    fixture_spit(p, b, len);
    free(b);
    pio_reader *r = NULL;
    struct pio_error e = {0};
    int rc = pio_reader_open(&r, p, NULL, &e);
    if (rc == 0) {
        struct pio_array a[8];
        uint32_t n;
        struct pio_frame f;
        rc = pio_reader_frame(r, 0, &f, &e);
        CHECKF(rc == PIO_ECORRUPT && strstr(e.message, "frame 0"), "%s: rc %d %s", what, rc,
               e.message);
        rc = pio_reader_frame_arrays(r, 0, a, 8, &n, &e);
        CHECKF(rc == PIO_ECORRUPT, "%s: arrays rc %d", what, rc);
        CHECKF(pio_reader_verify(r, 1, &e) != 0, "%s: verify passed", what);
        pio_reader_close(r);
    } else {
        CHECKF(rc == PIO_ECORRUPT, "%s: open rc %d %s", what, rc, e.message);
    }
    unlink(p);
}

static void h_offset(uint8_t *rec, uint64_t at)
{
    holo_wr64(rec + at + 64 + 48, holo_rd64(rec + at + 64 + 48) + 64);
}
static void h_length(uint8_t *rec, uint64_t at)
{
    holo_wr64(rec + at + 56, holo_rd64(rec + at + 56) + 1);
}
static void h_dtype(uint8_t *rec, uint64_t at)
{
    holo_wr32(rec + at + 32, 9);
}
static void h_name(uint8_t *rec, uint64_t at)
{
    memset(rec + at, 'x', 32);
}
static void h_count(uint8_t *rec, uint64_t at)
{
    (void)at;
    holo_wr32(rec + 176, 1000);
}
static void h_nobit(uint8_t *rec, uint64_t at)
{
    (void)at;
    holo_wr32(rec + 72, holo_rd32(rec + 72) & ~(uint32_t)PIO_FIELD_ARRAYS);
}
static void h_width(uint8_t *rec, uint64_t at)
{
    holo_wr32(rec + at + 40, 1u << 30);
}

/* Structure i of the dataset through pio_reader_frame/arrays. */
static void expect_batch(const pio_dataset *ds, pio_ds_batch *b, const uint64_t *idx, uint32_t n,
                         bool padded, bool ase)
{
    CHECK(pio_ds_batch_len(b) == n);
    const int64_t *index = pio_ds_batch_index(b), *natoms = pio_ds_batch_natoms(b);
    const int64_t *off = pio_ds_batch_offsets(b);
    const uint8_t *mask = pio_ds_batch_mask(b);
    CHECK(padded ? (off == NULL && mask != NULL) : (off != NULL && mask == NULL));
    uint64_t per = pio_ds_batch_atoms(b);
    const struct pio_batch_column *pos = pio_ds_batch_find(b, "positions"),
                                  *frc = pio_ds_batch_find(b, "forces"),
                                  *cell = pio_ds_batch_find(b, "cell"),
                                  *z = pio_ds_batch_find(b, "numbers"),
                                  *en = pio_ds_batch_find(b, "energy"),
                                  *st = pio_ds_batch_find(b, "stress"),
                                  *lab = pio_ds_batch_find(b, "label");
    if (!pos || !frc || !cell || !z || !en || !st || !lab) {
        CHECK(!"columns");
        return;
    }
    CHECK(pos->ndim == (padded ? 3u : 2u) && z->dtype == PIO_DTYPE_U8 && en->ndim == 2);
    CHECK(((uintptr_t)pos->data & 63) == 0 && ((uintptr_t)z->data & 63) == 0);
    uint64_t total = 0;
    for (uint32_t j = 0; j < n; j++) {
        struct sdata s;
        make(&s, idx[j]);
        CHECK(index[j] == (int64_t)idx[j] && natoms[j] == (int64_t)s.n);
        uint64_t row0 = padded ? j * per : (uint64_t)off[j];
        CHECK(padded || (uint64_t)off[j] == total);
        total += s.n;
        const float *p = (const float *)pos->data + row0 * 3;
        const float *fo = (const float *)frc->data + row0 * 3;
        bool ok = true;
        for (uint64_t a = 0; a < s.n * 3; a++) {
            float want_p = ase ? s.pos[a / 3][a % 3] * 10.0f : s.pos[a / 3][a % 3];
            float want_f =
                ase ? s.frc[a / 3][a % 3] * (float)(1.0 / 96.48533212 / 10.0) : s.frc[a / 3][a % 3];
            ok &= p[a] == want_p && fo[a] == want_f;
        }
        CHECKF(ok, "structure %llu positions/forces", (unsigned long long)idx[j]);
        CHECK(memcmp((const uint8_t *)z->data + row0, s.z, s.n) == 0);
        if (padded) {
            for (uint64_t a = s.n; a < per; a++)
                ok &= p[a * 3] == 0 && ((const uint8_t *)z->data)[row0 + a] == 0 &&
                      mask[j * per + a] == 0;
            for (uint64_t a = 0; a < s.n; a++)
                ok &= mask[j * per + a] == 1;
            CHECKF(ok, "structure %llu padding", (unsigned long long)idx[j]);
        }
        const double *c = (const double *)cell->data + j * 9;
        CHECK(c[0] == s.box[0][0] * (ase ? 10.0 : 1.0) && c[1] == 0 &&
              c[8] == s.box[2][2] * (ase ? 10.0 : 1.0));
        CHECK(((const double *)en->data)[j] == s.energy);
        CHECK(memcmp((const double *)st->data + j * 9, s.stress, 72) == 0);
        CHECK(memcmp((const char *)lab->data + j * 8, s.label, 8) == 0);
        TEST_STOP_IF_FLOODED_VOID();
    }
    CHECK(padded || off[n] == (int64_t)total);
    (void)ds;
}

static const char *const COLS[] = {"positions", "forces", "cell", "numbers",
                                   "energy",    "stress", "label"};

static void test_batches(const char *manifest)
{
    pio_dataset *ds = NULL;
    struct pio_error e = {0};
    CHECKF(pio_dataset_open(&ds, manifest, 0, &e) == 0, "%s", e.message);
    if (!ds)
        return;
    CHECK(pio_dataset_len(ds) == NS && pio_dataset_nshards(ds) == 2);
    uint32_t sh;
    uint64_t fr;
    CHECK(pio_dataset_locate(ds, 59, &sh, &fr) == 0 && sh == 0 && fr == 59);
    CHECK(pio_dataset_locate(ds, 60, &sh, &fr) == 0 && sh == 1 && fr == 0);
    CHECK(pio_dataset_locate(ds, NS, &sh, &fr) == -ERANGE);
    uint64_t rng = pio_test_seed(26);
    for (int layout = 0; layout < 2; layout++)
        for (int units = 0; units < 2; units++) {
            struct pio_batch_options o = PIO_BATCH_OPTIONS_INIT;
            o.layout = (uint32_t)layout;
            o.units = (uint32_t)units;
            o.columns = COLS;
            o.ncolumns = 7;
            o.pad_atoms = layout ? 16 : 0;
            o.threads = (uint32_t)(1 + layout + units); /* parts on the pool: 1 to 3 */
            pio_ds_batch *b = NULL;
            CHECKF(pio_ds_batch_create(&b, ds, &o, &e) == 0, "%s", e.message);
            if (!b)
                continue;
            for (int round = 0; round < 6; round++) {
                uint64_t idx[40];
                uint32_t n = 1 + (uint32_t)(pio_test_rand(&rng) % 40);
                for (uint32_t j = 0; j < n; j++)
                    idx[j] = pio_test_rand(&rng) % NS;
                CHECKF(pio_ds_batch_fill(b, idx, n, &e) == 0, "%s", e.message);
                CHECK(!layout || pio_ds_batch_atoms(b) % 16 == 0);
                expect_batch(ds, b, idx, n, layout, units);
            }
            uint64_t past = NS;
            CHECK(pio_ds_batch_fill(b, &past, 1, &e) == -ERANGE && pio_ds_batch_len(b) == 0);
            pio_ds_batch_free(b);
        }
    /* the caller's buffer */
    {
        static uint8_t buf[1 << 16];
        struct pio_batch_options o = PIO_BATCH_OPTIONS_INIT;
        o.columns = COLS;
        o.ncolumns = 7;
        o.buffer = buf + 3;
        o.buffer_bytes = sizeof(buf) - 3;
        pio_ds_batch *b = NULL;
        CHECK(pio_ds_batch_create(&b, ds, &o, &e) == 0);
        uint64_t idx[3] = {5, 80, 5};
        CHECKF(pio_ds_batch_fill(b, idx, 3, &e) == 0, "%s", e.message);
        expect_batch(ds, b, idx, 3, false, false);
        CHECK((uint8_t *)pio_ds_batch_find(b, "positions")->data >= buf &&
              (uint8_t *)pio_ds_batch_find(b, "positions")->data < buf + sizeof(buf));
        uint64_t many[NS];
        for (uint64_t i = 0; i < NS; i++)
            many[i] = i;
        pio_ds_batch_free(b);
        o.buffer_bytes = 4096;
        CHECK(pio_ds_batch_create(&b, ds, &o, &e) == 0);
        CHECK(pio_ds_batch_fill(b, many, NS, &e) == -ENOSPC && strstr(e.message, "needs"));
        pio_ds_batch_free(b);
    }
    /* unknown column; a column of another shape in one structure is
     * covered by the mixed file below */
    {
        const char *cols[] = {"positions", "nothing"};
        struct pio_batch_options o = PIO_BATCH_OPTIONS_INIT;
        o.columns = cols;
        o.ncolumns = 2;
        pio_ds_batch *b = NULL;
        CHECK(pio_ds_batch_create(&b, ds, &o, &e) == PIO_EUSAGE && strstr(e.message, "nothing"));
        cols[1] = "positions";
        CHECK(pio_ds_batch_create(&b, ds, &o, &e) == PIO_EUSAGE);
    }
    /* DLPack */
    {
        struct pio_batch_options o = PIO_BATCH_OPTIONS_INIT;
        o.columns = COLS;
        o.ncolumns = 7;
        o.flags = PIO_BATCH_PINNED;
        pio_ds_batch *b = NULL;
        CHECK(pio_ds_batch_create(&b, ds, &o, &e) == 0);
        uint64_t idx[2] = {7, 8};
        CHECK(pio_ds_batch_fill(b, idx, 2, &e) == 0);
        struct pio_dl_managed_tensor *t = pio_ds_batch_dlpack(b, 0);
        struct pio_dl_managed_tensor *ti = pio_ds_batch_dlpack(b, PIO_DL_INDEX);
        CHECK(pio_ds_batch_dlpack(b, PIO_DL_MASK) == NULL && pio_ds_batch_dlpack(b, 99) == NULL);
        if (t && ti) {
            CHECK(t->dl_tensor.ndim == 2 &&
                  t->dl_tensor.shape[0] == (int64_t)(atoms_of(7) + atoms_of(8)) &&
                  t->dl_tensor.shape[1] == 3 && t->dl_tensor.dtype.code == 2 &&
                  t->dl_tensor.dtype.bits == 32 && t->dl_tensor.device.device_type == 1);
            float first = ((float *)t->dl_tensor.data)[0];
            uint64_t other[2] = {9, 10};
            CHECK(pio_ds_batch_fill(b, other, 2, &e) == 0);
            CHECK(pio_ds_batch_find(b, "positions")->data != t->dl_tensor.data);
            struct sdata s;
            make(&s, 7);
            CHECK(first == s.pos[0][0] && ((float *)t->dl_tensor.data)[0] == s.pos[0][0]);
            pio_ds_batch_free(b);
            b = NULL;
            CHECK(((int64_t *)ti->dl_tensor.data)[1] == 8); /* alive after the batch */
            t->deleter(t);
            ti->deleter(ti);
        }
        pio_ds_batch_free(b);
    }
    /* loader over a shuffled epoch */
    for (uint32_t threads = 1; threads <= 3; threads += 2) {
        uint64_t order[NS], order2[NS];
        pio_dataset_shuffle(order, NS, 42, 3);
        pio_dataset_shuffle(order2, NS, 42, 3);
        CHECK(memcmp(order, order2, sizeof(order)) == 0);
        pio_dataset_shuffle(order2, NS, 42, 4);
        CHECK(memcmp(order, order2, sizeof(order)) != 0);
        uint8_t seen[NS] = {0};
        for (uint64_t i = 0; i < NS; i++)
            seen[order[i]]++;
        bool perm = true;
        for (uint64_t i = 0; i < NS; i++)
            perm &= seen[i] == 1;
        CHECK(perm);
        struct pio_batch_options o = PIO_BATCH_OPTIONS_INIT;
        o.columns = COLS;
        o.ncolumns = 7;
        pio_ds_loader *l = NULL;
        CHECKF(pio_ds_loader_open(&l, ds, order, NS, 10, &o, threads, 0, &e) == 0, "%s", e.message);
        if (!l)
            continue;
        uint64_t got = 0;
        pio_ds_batch *b;
        int rc;
        while ((rc = pio_ds_loader_next(l, &b, &e)) == 1) {
            uint32_t n = pio_ds_batch_len(b);
            CHECK(n == (got + 10 <= NS ? 10u : NS - got));
            expect_batch(ds, b, order + got, n, false, false);
            got += n;
            pio_ds_loader_release(l, b);
        }
        CHECKF(rc == 0 && got == NS, "rc %d got %llu", rc, (unsigned long long)got);
        pio_ds_loader_close(l);
    }
    pio_dataset_close(ds);
}

int main(void)
{
    char dir[] = "/tmp/pio_dataset_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char a[300], b[300], m[300], m2[300];
    snprintf(a, sizeof(a), "%s/shard-a.holo", dir);
    snprintf(b, sizeof(b), "%s/shard-b.holo", dir);
    snprintf(m, sizeof(m), "%s/set.manifest", dir);
    snprintf(m2, sizeof(m2), "%s/bad.manifest", dir);
    write_set(a, 0, 60, 0);
    write_set(b, 60, NS - 60, 0);
    check_file(a, 0, true);
    check_file(b, 60, true);
    if (pio__codec_built()) {
        char c[300];
        snprintf(c, sizeof(c), "%s/lossless.holo", dir);
        write_set(c, 0, 20, PIO_CODEC_LOSSLESS);
        check_file(c, 0, true);
        unlink(c);
    }
    test_refusals();
    hostile(a, h_offset, "entry offset");
    hostile(a, h_length, "entry length");
    hostile(a, h_dtype, "dtype");
    hostile(a, h_name, "name");
    hostile(a, h_count, "array count");
    hostile(a, h_nobit, "fields bit");
    hostile(a, h_width, "width");

    struct stat sa, sb;
    stat(a, &sa);
    stat(b, &sb);
    FILE *f = fopen(m, "w");
    fprintf(f, "%s\n# two shards\n60 %lld shard-a.holo\n%d %lld shard-b.holo\n",
            PIO_DATASET_MANIFEST_MAGIC, (long long)sa.st_size, NS - 60, (long long)sb.st_size);
    fclose(f);
    test_batches(m);

    /* manifests that lie, or are not manifests */
    struct pio_error e = {0};
    pio_dataset *ds = NULL;
    f = fopen(m2, "w");
    fprintf(f, "%s\n61 %lld shard-a.holo\n", PIO_DATASET_MANIFEST_MAGIC, (long long)sa.st_size);
    fclose(f);
    CHECK(pio_dataset_open(&ds, m2, 0, &e) == PIO_ECORRUPT && strstr(e.message, "61") && !ds);
    f = fopen(m2, "w");
    fprintf(f, "%s\n60 %lld\n", PIO_DATASET_MANIFEST_MAGIC, (long long)sa.st_size);
    fclose(f);
    CHECK(pio_dataset_open(&ds, m2, 0, &e) == PIO_ECORRUPT && strstr(e.message, "line 2"));
    f = fopen(m2, "w");
    fprintf(f, "hello\n");
    fclose(f);
    CHECK(pio_dataset_open(&ds, m2, 0, &e) == PIO_EFORMAT && strstr(e.message, "manifest"));

    /* a damaged structure, checked: names shard and structure */
    size_t len;
    uint8_t *bytes = fixture_slurp(b, &len);
    if (bytes) {
        /* structure 60 + 3: frame 3 of shard b; flip a byte of its last array */
        pio_reader *r = NULL;
        CHECK(pio_reader_open(&r, b, NULL, &e) == 0);
        uint64_t off = 0, rl = 0;
        pio_reader_frame_extent(r, 3, &off, &rl);
        pio_reader_close(r);
        bytes[off + rl - 70] ^= 0x40;
        fixture_spit(b, bytes, len);
        free(bytes);
        CHECK(pio_dataset_open(&ds, m, PIO_DATASET_CHECK, &e) == 0);
        if (ds) {
            struct pio_batch_options o = PIO_BATCH_OPTIONS_INIT;
            o.columns = COLS;
            o.ncolumns = 7;
            pio_ds_batch *bt = NULL;
            CHECK(pio_ds_batch_create(&bt, ds, &o, &e) == 0);
            uint64_t idx[3] = {1, 62, 63};
            int rc = pio_ds_batch_fill(bt, idx, 3, &e);
            CHECKF(rc == PIO_ECHECKSUM && strstr(e.message, "shard-b.holo") &&
                       strstr(e.message, "structure 63") && strstr(e.message, "frame 3"),
                   "rc %d: %s", rc, e.message);
            pio_ds_batch_free(bt);
            pio_dataset_close(ds);
        }
    }
    unlink(a);
    unlink(b);
    unlink(m);
    unlink(m2);
    rmdir(dir);
    return TEST_RESULT();
}
