/*
 * Arrow: the C Data Interface export checked value by value against the
 * reader (both layouts, one and several frames per batch, ranges), with
 * the release rules exercised the way consumers use them (children moved
 * out and released later, batches outliving the stream and the caller's
 * reader; ASan reports leaks and use after release or unmap); zero-copy
 * proven by the buffer lying in the file's mapping; IPC files written from
 * the export read back identical; the import back to HOLO bit-exact; and
 * every truncation and byte flip of a small IPC file refused or read
 * without a crash.
 */
#include <errno.h>
#include <inttypes.h>
#include <prismio/arrow.h>
#include <prismio/convert.h>

#include "../arrow/arrow_touch.h"
#include "holo_fixture.h"
#include "pio_test.h"

#define NFRAMES            12
#define BASE               20
#define SEED               7
#define TOPN               (BASE + 12)
#define PIO_ARRAY_LEN_T(a) (sizeof(a) / sizeof((a)[0]))

static char holo[256], tmpdir[128];

static struct pio_error e;

/* ---- helpers -------------------------------------------------------------------------- */

static bool valid_at(const struct ArrowArray *x, int64_t i)
{
    const uint8_t *v = x->null_count ? x->buffers[0] : NULL;
    return !v || (v[i / 8] >> (i % 8)) & 1;
}

static const struct ArrowSchema *child_named(const struct ArrowSchema *s, const char *name,
                                             int *idx)
{
    for (int64_t i = 0; i < s->n_children; i++)
        if (strcmp(s->children[i]->name, name) == 0) {
            *idx = (int)i;
            return s->children[i];
        }
    *idx = -1;
    return NULL;
}

/* Is p inside a mapping of a file whose name ends with `suffix`? */
static bool in_file_mapping(const void *p, const char *suffix)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    bool found = false;
    while (f && fgets(line, sizeof(line), f)) {
        uintptr_t a, b;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &a, &b) != 2)
            continue;
        if ((uintptr_t)p >= a && (uintptr_t)p < b) {
            line[strcspn(line, "\n")] = '\0';
            size_t n = strlen(line), m = strlen(suffix);
            found = n >= m && strcmp(line + n - m, suffix) == 0;
            break;
        }
    }
    if (f)
        fclose(f);
    return found;
}

static void make_file(void)
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

/* ---- frames layout ----------------------------------------------------------------------- */

/* Check batch `b` (rows = frames [first, first + n)) against the reader. */
static void check_frames_batch(const pio_reader *r, const struct ArrowSchema *s,
                               const struct ArrowArray *b, uint64_t first, bool expect_zero_copy)
{
    int ci;
    for (int64_t row = 0; row < b->length; row++) {
        uint64_t i = first + (uint64_t)row;
        struct pio_frame f;
        CHECK(pio_reader_frame(r, i, &f, &e) == 0);
        child_named(s, "frame", &ci);
        CHECK(((const int64_t *)b->children[ci]->buffers[1])[row] == (int64_t)i);
        child_named(s, "step", &ci);
        CHECK(((const int64_t *)b->children[ci]->buffers[1])[row] == f.step);
        child_named(s, "time", &ci);
        CHECK(((const double *)b->children[ci]->buffers[1])[row] == f.time);
        child_named(s, "natoms", &ci);
        CHECK(((const int64_t *)b->children[ci]->buffers[1])[row] == (int64_t)f.natoms);
        child_named(s, "box", &ci);
        const struct ArrowArray *box = b->children[ci];
        CHECKF(valid_at(box, row) == !!(f.fields & PIO_FIELD_BOX), "frame %" PRIu64, i);
        if (f.fields & PIO_FIELD_BOX)
            CHECK(memcmp((const double *)box->children[0]->buffers[1] + 9 * row, f.box, 72) == 0);
        const char *arr[3] = {"positions", "velocities", "forces"};
        const float(*want[3])[3] = {f.positions, f.velocities, f.forces};
        for (int k = 0; k < 3; k++) {
            if (!child_named(s, arr[k], &ci))
                continue;
            const struct ArrowArray *l = b->children[ci];
            CHECKF(valid_at(l, row) == (want[k] != NULL), "frame %" PRIu64 " %s", i, arr[k]);
            const int32_t *off = l->buffers[1];
            if (!want[k]) {
                CHECK(off[row + 1] == off[row]);
                continue;
            }
            CHECK(off[row + 1] - off[row] == (int32_t)f.natoms);
            const struct ArrowArray *item = l->children[0]->children[0];
            const float *got = (const float *)item->buffers[1] + 3 * off[row];
            CHECKF(memcmp(got, want[k], f.natoms * 12) == 0, "frame %" PRIu64 " %s", i, arr[k]);
            if (expect_zero_copy) {
                CHECK(in_file_mapping(got, "/t.holo"));
                CHECK((uintptr_t)got % 64 == 0);
            } else {
                CHECK(!in_file_mapping(got, "/t.holo"));
            }
        }
        /* scalars: a column per name of the range's first frame */
        for (int64_t c = 0; c < s->n_children; c++) {
            if (strcmp(s->children[c]->format, "g") || !strcmp(s->children[c]->name, "time"))
                continue;
            const struct ArrowArray *x = b->children[c];
            bool found = false;
            for (uint32_t k = 0; k < f.nscalars; k++)
                if (!strcmp(f.scalars[k].name, s->children[c]->name)) {
                    found = true;
                    CHECK(valid_at(x, row) &&
                          ((const double *)x->buffers[1])[row] == f.scalars[k].value);
                }
            CHECKF(found || !valid_at(x, row), "frame %" PRIu64 " scalar %s", i,
                   s->children[c]->name);
        }
    }
}

static void test_frames(const pio_reader *r, uint32_t batch_frames, uint64_t first, uint64_t count)
{
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.batch_frames = batch_frames;
    o.first = first;
    o.count = count;
    struct ArrowArrayStream st;
    CHECKF(pio_arrow_export(&st, r, &o, &e) == 0, "%s", e.message);
    struct ArrowSchema s;
    CHECK(st.get_schema(&st, &s) == 0);
    CHECK(!strcmp(s.format, "+s") && s.metadata != NULL);
    int ci;
    const struct ArrowSchema *pos = child_named(&s, "positions", &ci);
    CHECK(pos && !strcmp(pos->format, "+l") && !strcmp(pos->children[0]->format, "+w:3") &&
          !strcmp(pos->children[0]->children[0]->format, "f"));
    /* scalar columns = the first frame's scalars (fixture: first % 4 of them) */
    int nscalar = 0;
    for (int64_t c = 0; c < s.n_children; c++)
        nscalar += !strcmp(s.children[c]->format, "g") && strcmp(s.children[c]->name, "time");
    CHECKF(nscalar == (int)(first % 4 < 3 ? first % 4 : 3), "first %" PRIu64, first);
    uint64_t end = count > NFRAMES - first ? NFRAMES : first + count, at = first;
    struct ArrowArray b;
    while (st.get_next(&st, &b) == 0 && b.release) {
        CHECK(b.length >= 1 && (uint64_t)b.length <= (batch_frames ? batch_frames : 1));
        check_frames_batch(r, &s, &b, at, batch_frames <= 1);
        at += (uint64_t)b.length;
        b.release(&b);
        CHECK(b.release == NULL);
        TEST_STOP_IF_FLOODED_VOID();
    }
    CHECKF(at == end, "got to %" PRIu64 ", want %" PRIu64, at, end);
    s.release(&s);
    CHECK(s.release == NULL);
    st.release(&st);
    CHECK(st.release == NULL);
}

/* The release rules: children moved out outlive their parent; batches
 * outlive the stream and the caller's reader (the mapping stays). */
static void test_release_rules(void)
{
    pio_reader *r;
    CHECK(pio_reader_open(&r, holo, NULL, &e) == 0);
    struct ArrowArrayStream st;
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.first = 3;
    CHECK(pio_arrow_export(&st, r, &o, &e) == 0);
    struct ArrowSchema s, moved_schema;
    CHECK(st.get_schema(&st, &s) == 0);
    int ci;
    child_named(&s, "positions", &ci);
    moved_schema = *s.children[ci]; /* move a child out */
    s.children[ci]->release = NULL;
    struct ArrowArray b0, b1, moved;
    CHECK(st.get_next(&st, &b0) == 0 && b0.release);
    CHECK(st.get_next(&st, &b1) == 0 && b1.release);
    moved = *b0.children[ci]; /* move the positions list out of batch 0 */
    b0.children[ci]->release = NULL;
    struct pio_frame f0, f1;
    CHECK(pio_reader_frame(r, 3, &f0, &e) == 0 && pio_reader_frame(r, 4, &f1, &e) == 0);
    float want0[3 * TOPN], want1[3 * TOPN];
    memcpy(want0, f0.positions, f0.natoms * 12);
    memcpy(want1, f1.positions, f1.natoms * 12);
    /* release everything else first */
    b0.release(&b0);
    s.release(&s);
    st.release(&st);
    pio_reader_close(r);
    /* what is still held reads the mapping: ASan / SIGSEGV if it went */
    const float *p0 = moved.children[0]->children[0]->buffers[1];
    CHECK(memcmp(p0, want0, f0.natoms * 12) == 0);
    CHECK(!strcmp(moved_schema.format, "+l") && !strcmp(moved_schema.children[0]->format, "+w:3"));
    const float *p1 = b1.children[ci]->children[0]->children[0]->buffers[1];
    CHECK(memcmp(p1, want1, f1.natoms * 12) == 0);
    /* move a grandchild out of the moved list, release in an odd order */
    struct ArrowArray fsl = *moved.children[0];
    moved.children[0]->release = NULL;
    moved.release(&moved);
    CHECK(memcmp(fsl.children[0]->buffers[1], want0, f0.natoms * 12) == 0);
    b1.release(&b1);
    fsl.release(&fsl);
    moved_schema.release(&moved_schema);
    CHECK(moved.release == NULL && fsl.release == NULL && moved_schema.release == NULL);
}

/* ---- atoms layout ------------------------------------------------------------------------ */

static void test_atoms(const pio_reader *r)
{
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.layout = PIO_ARROW_ATOMS;
    struct ArrowArrayStream st;
    CHECKF(pio_arrow_export(&st, r, &o, &e) == 0, "%s", e.message);
    struct ArrowSchema s;
    CHECK(st.get_schema(&st, &s) == 0);
    static const char *const want[] = {
        "frame", "step", "time", "atom", "x",       "y",     "z",     "vx",      "vy",   "vz",
        "fx",    "fy",   "fz",   "name", "resname", "resid", "chain", "element", "mass", "charge"};
    CHECK(s.n_children == (int64_t)PIO_ARRAY_LEN_T(want));
    for (size_t i = 0; i < PIO_ARRAY_LEN_T(want) && (int64_t)i < s.n_children; i++)
        CHECKF(!strcmp(s.children[i]->name, want[i]), "column %zu: %s", i, s.children[i]->name);
    struct pio_topology t;
    CHECK(pio_reader_topology(r, &t) == 0);
    uint64_t i = 0;
    struct ArrowArray b;
    while (st.get_next(&st, &b) == 0 && b.release) {
        struct pio_frame f;
        CHECK(pio_reader_frame(r, i, &f, &e) == 0);
        CHECK(b.length == (int64_t)f.natoms);
        const float(*arr[3])[3] = {f.positions, f.velocities, f.forces};
        for (int64_t a = 0; a < b.length; a++) {
            CHECK(((const int64_t *)b.children[0]->buffers[1])[a] == (int64_t)i);
            CHECK(((const int64_t *)b.children[1]->buffers[1])[a] == f.step);
            CHECK(((const double *)b.children[2]->buffers[1])[a] == f.time);
            CHECK(((const int32_t *)b.children[3]->buffers[1])[a] == (int32_t)a);
            for (int k = 0; k < 9; k++) {
                const struct ArrowArray *c = b.children[4 + k];
                if (arr[k / 3])
                    CHECK(valid_at(c, a) &&
                          ((const float *)c->buffers[1])[a] == arr[k / 3][a][k % 3]);
                else
                    CHECK(!valid_at(c, a) && c->null_count == b.length);
            }
            const size_t widths[4] = {8, 8, 4, 4};
            const char *bases[4] = {t.names[0], t.resnames[0], t.chains[0], t.elements[0]};
            const int cols[4] = {13, 14, 16, 17};
            for (int k = 0; k < 4; k++) {
                const struct ArrowArray *c = b.children[cols[k]];
                const int32_t *off = c->buffers[1];
                const char *src = bases[k] + (size_t)a * widths[k];
                size_t len = strnlen(src, widths[k]);
                CHECKF((size_t)(off[a + 1] - off[a]) == len &&
                           !memcmp((const char *)c->buffers[2] + off[a], src, len),
                       "frame %" PRIu64 " atom %" PRId64 " column %d", i, a, cols[k]);
            }
            CHECK(((const int32_t *)b.children[15]->buffers[1])[a] == t.resids[a]);
            CHECK(((const float *)b.children[18]->buffers[1])[a] == t.masses[a]);
            CHECK(((const float *)b.children[19]->buffers[1])[a] == t.charges[a]);
        }
        b.release(&b);
        i++;
        TEST_STOP_IF_FLOODED_VOID();
    }
    CHECK(i == NFRAMES);
    s.release(&s);
    st.release(&st);
}

/* ---- IPC: write, read back, import ---------------------------------------------------- */

/* Deep equality of two arrays of one schema (valid entries' bytes). */
static bool same_array(const struct ArrowSchema *s, const struct ArrowArray *a,
                       const struct ArrowArray *b)
{
    if (a->length != b->length || a->null_count != b->null_count || a->n_children != b->n_children)
        return false;
    for (int64_t i = 0; i < a->length; i++)
        if (valid_at(a, i) != valid_at(b, i))
            return false;
    const char *f = s->format;
    size_t w = !strcmp(f, "i") || !strcmp(f, "f") ? 4 : !strcmp(f, "l") || !strcmp(f, "g") ? 8 : 0;
    if (w && memcmp(a->buffers[1], b->buffers[1], (size_t)a->length * w) != 0)
        return false;
    if (!strcmp(f, "+l") || !strcmp(f, "u")) {
        if (memcmp(a->buffers[1], b->buffers[1], (size_t)(a->length + 1) * 4) != 0)
            return false;
        const int32_t *o = a->buffers[1];
        if (!strcmp(f, "u") && memcmp(a->buffers[2], b->buffers[2], (size_t)o[a->length]) != 0)
            return false;
    }
    for (int64_t c = 0; c < a->n_children; c++)
        if (!same_array(s->children[c], a->children[c], b->children[c]))
            return false;
    return true;
}

static void export_stream(const pio_reader *r, uint32_t layout, uint32_t batch,
                          struct ArrowArrayStream *st)
{
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.layout = layout;
    o.batch_frames = batch;
    o.first = 3; /* three scalar columns */
    CHECKF(pio_arrow_export(st, r, &o, &e) == 0, "%s", e.message);
}

static void test_ipc_roundtrip(const pio_reader *r, uint32_t layout, uint32_t batch,
                               const char *path)
{
    struct ArrowArrayStream st, back, ref;
    export_stream(r, layout, batch, &st);
    CHECKF(pio_arrow_ipc_write(path, &st, 1, &e) == 0, "%s", e.message);
    st.release(&st);
    /* the in-memory image is the file, byte for byte */
    export_stream(r, layout, batch, &st);
    void *img = NULL;
    size_t img_len = 0;
    CHECKF(pio_arrow_ipc_serialize(&st, &img, &img_len, &e) == 0, "%s", e.message);
    st.release(&st);
    FILE *ff = fopen(path, "rb");
    uint8_t *file = malloc(img_len + 1);
    size_t got = ff && file ? fread(file, 1, img_len + 1, ff) : 0;
    if (ff)
        fclose(ff);
    CHECKF(img && got == img_len && memcmp(img, file, img_len) == 0,
           "%s: serialized image (%zu bytes) differs from the file (%zu)", path, img_len, got);
    free(file);
    pio_arrow_ipc_free(img, img_len);
    CHECKF(pio_arrow_ipc_open(&back, path, &e) == 0, "%s", e.message);
    export_stream(r, layout, batch, &ref);
    struct ArrowSchema s1, s2;
    CHECK(back.get_schema(&back, &s1) == 0 && ref.get_schema(&ref, &s2) == 0);
    CHECK(s1.n_children == s2.n_children);
    for (int64_t c = 0; c < s1.n_children && c < s2.n_children; c++)
        CHECK(!strcmp(s1.children[c]->name, s2.children[c]->name) &&
              !strcmp(s1.children[c]->format, s2.children[c]->format) &&
              s1.children[c]->flags == s2.children[c]->flags);
    int nb = 0;
    for (;;) {
        struct ArrowArray a, b;
        CHECK(back.get_next(&back, &a) == 0 && ref.get_next(&ref, &b) == 0);
        CHECK(!a.release == !b.release);
        if (!a.release || !b.release)
            break;
        CHECKF(same_array(&s2, &a, &b), "%s: batch %d differs", path, nb);
        /* the body buffers are 64-byte aligned in the file */
        CHECK((uintptr_t)a.children[4]->buffers[1] % 64 == 0);
        a.release(&a);
        b.release(&b);
        nb++;
    }
    CHECK(nb > 0);
    s1.release(&s1);
    s2.release(&s2);
    back.release(&back);
    ref.release(&ref);
}

/* Import an IPC file back to HOLO and compare with frames [3, NFRAMES). */
static void test_import(const char *arrow_path, bool atoms_layout)
{
    char out[300];
    snprintf(out, sizeof(out), "%s/back.holo", tmpdir);
    struct pio_source src;
    struct pio_sink sink;
    struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
    ko.flags = PIO_SINK_OVERWRITE;
    CHECKF(pio_source_open(&src, arrow_path, NULL, &e) == 0, "%s", e.message);
    CHECKF(pio_sink_open(&sink, out, &ko, &e) == 0, "%s", e.message);
    CHECKF(pio_pipeline_run(&src, &sink, NULL, NULL, &e) == 0, "%s", e.message);
    pio_source_destroy(&src);
    pio_sink_destroy(&sink);
    pio_reader *r;
    CHECKF(pio_reader_open(&r, out, NULL, &e) == 0, "%s", e.message);
    CHECK(pio_reader_nframes(r) == NFRAMES - 3);
    for (uint64_t i = 3; i < NFRAMES && i - 3 < pio_reader_nframes(r); i++) {
        struct fixture_frame ff;
        fixture_make(&ff, i, SEED, true, BASE);
        struct pio_frame got;
        CHECK(pio_reader_frame(r, i - 3, &got, &e) == 0);
        if (atoms_layout) {
            /* the atoms layout has no box and no scalars */
            ff.f.fields &= ~(uint32_t)PIO_FIELD_BOX;
            ff.f.nscalars = 0;
        }
        CHECKF(fixture_equal(&got, &ff), "%s: frame %" PRIu64, arrow_path, i);
        fixture_free(&ff);
    }
    struct pio_topology t;
    CHECK((pio_reader_topology(r, &t) == 0) == atoms_layout);
    if (atoms_layout)
        CHECK(!memcmp(t.names[3], "ABCDEFGH", 8) && t.resids[5] == 2 && t.charges[4] == -0.5f);
    CHECK(pio_reader_metadata_get(r, "creator") &&
          !strcmp(pio_reader_metadata_get(r, "creator"), "test_arrow"));
    CHECK(pio_reader_metadata_get(r, "prismio.layout") == NULL);
    pio_reader_close(r);
}

/* ---- hostile files ---------------------------------------------------------------------- */

/* Open and read everything; 0 or the error. Never crashes (ASan). */
static int read_everything(const char *path)
{
    struct ArrowArrayStream st;
    struct pio_error er = {0};
    int rc = pio_arrow_ipc_open(&st, path, &er);
    if (rc != 0) {
        CHECKF(er.message[0] && strstr(er.message, path), "message '%s'", er.message);
        return rc;
    }
    struct ArrowSchema s;
    if (st.get_schema(&st, &s) == 0)
        s.release(&s);
    struct ArrowArray b;
    volatile double sink = 0;
    while ((rc = st.get_next(&st, &b)) == 0 && b.release) {
        /* touch every byte the arrays promise */
        sink += arrow_touch(&b);
        b.release(&b);
    }
    if (rc != 0)
        CHECK(st.get_last_error(&st) != NULL);
    st.release(&st);
    struct pio_source src;
    if (pio_source_open(&src, path, NULL, &er) == 0) {
        struct pio_source_info info;
        src.info(src.ctx, &info, &er);
        src.start(src.ctx, NULL, 0, &er);
        struct pio_frame f;
        while (src.next(src.ctx, &f, &er) == 1)
            for (uint64_t a = 0; a < f.natoms; a++)
                sink += f.positions[a][0];
        pio_source_destroy(&src);
    }
    (void)sink;
    return rc;
}

static void test_hostile(const pio_reader *r)
{
    char path[300], bad[300];
    snprintf(path, sizeof(path), "%s/small.arrow", tmpdir);
    snprintf(bad, sizeof(bad), "%s/bad.arrow", tmpdir);
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.first = 3;
    o.count = 2;
    struct ArrowArrayStream st;
    CHECK(pio_arrow_export(&st, r, &o, &e) == 0);
    CHECK(pio_arrow_ipc_write(path, &st, 1, &e) == 0);
    st.release(&st);
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(1 << 16);
    size_t n = f ? fread(buf, 1, 1 << 16, f) : 0;
    if (f)
        fclose(f);
    CHECK(n > 0 && n < (1 << 16) && read_everything(path) == 0);
    int refused = 0, total = 0;
    for (size_t cut = 0; cut < n; cut++) {
        FILE *o2 = fopen(bad, "wb");
        fwrite(buf, 1, cut, o2);
        fclose(o2);
        refused += read_everything(bad) != 0;
        total++;
    }
    CHECKF(refused == total, "%d of %d truncations refused", refused, total);
    int flips_refused = 0;
    for (size_t at = 0; at < n; at++) {
        buf[at] ^= 0xFF;
        FILE *o2 = fopen(bad, "wb");
        fwrite(buf, 1, n, o2);
        fclose(o2);
        flips_refused += read_everything(bad) != 0;
        buf[at] ^= 0xFF;
        TEST_STOP_IF_FLOODED_VOID();
    }
    printf("hostile: %d truncations refused; %zu byte flips: %d refused, %zu read (data "
           "bytes or padding), no crash\n",
           refused, n, flips_refused, n - (size_t)flips_refused);
    CHECK(flips_refused > 0);
    /* not an Arrow file, an empty file, a directory */
    FILE *o3 = fopen(bad, "wb");
    fputs("ARROW1 but not really", o3);
    fclose(o3);
    CHECK(read_everything(bad) == PIO_EFORMAT);
    CHECK(read_everything(tmpdir) == PIO_EUSAGE);
    free(buf);
}

/* ---- errors -------------------------------------------------------------------------------- */

static void test_errors(const pio_reader *r)
{
    struct ArrowArrayStream st;
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.first = NFRAMES + 1;
    CHECK(pio_arrow_export(&st, r, &o, &e) == PIO_EUSAGE && strstr(e.message, "beyond"));
    CHECK(st.release == NULL);
    o = (struct pio_arrow_options)PIO_ARROW_OPTIONS_INIT;
    o.layout = 7;
    CHECK(pio_arrow_export(&st, r, &o, &e) == PIO_EUSAGE);
    o = (struct pio_arrow_options)PIO_ARROW_OPTIONS_INIT;
    o.first = 0; /* frame 0 has no scalars, frame 1 one: refused, not lost */
    CHECK(pio_arrow_export(&st, r, &o, &e) == 0);
    struct ArrowArray b;
    CHECK(st.get_next(&st, &b) == 0 && b.release);
    b.release(&b);
    CHECK(st.get_next(&st, &b) == EIO && b.release == NULL);
    CHECKF(strstr(st.get_last_error(&st), "frame 1 at offset 0x") &&
               strstr(st.get_last_error(&st), "has scalar 'potential'"),
           "%s", st.get_last_error(&st));
    st.release(&st);
    /* the same failure while serializing: an error, no image, nothing leaked */
    CHECK(pio_arrow_export(&st, r, &o, &e) == 0);
    void *img = (void *)1;
    size_t img_len = 1;
    CHECK(pio_arrow_ipc_serialize(&st, &img, &img_len, &e) == PIO_ECORRUPT && img == NULL &&
          img_len == 0 && strstr(e.message, "potential"));
    st.release(&st);
    o.first = NFRAMES; /* an empty range is a stream with no batches */
    CHECK(pio_arrow_export(&st, r, &o, &e) == 0);
    CHECK(st.get_next(&st, &b) == 0 && b.release == NULL);
    st.release(&st);
    char path[300];
    o.first = 3;
    snprintf(path, sizeof(path), "%s/exists.arrow", tmpdir);
    CHECK(pio_arrow_export(&st, r, &o, &e) == 0);
    CHECK(pio_arrow_ipc_write(path, &st, 0, &e) == 0);
    st.release(&st);
    CHECK(pio_arrow_export(&st, r, &o, &e) == 0);
    CHECK(pio_arrow_ipc_write(path, &st, 0, &e) == -EEXIST && strstr(e.message, path));
    st.release(&st);
}

/* An image large enough to grow through several remaps into huge-page
 * territory (~11 MB): still the file's bytes exactly, and freed whole
 * (ASan and the kernel would catch a bad unmap); the same bytes into a
 * caller's buffer, reused, and a buffer one byte short refused. */
static void test_large_image(void)
{
    char big[320], out[320];
    snprintf(big, sizeof(big), "%s/big.holo", tmpdir);
    snprintf(out, sizeof(out), "%s/big.arrow", tmpdir);
    pio_writer *w = fixture_writer(big);
    CHECK(w && fixture_append(w, 0, 16, SEED, true, 40000) == 0 && pio_writer_close(w, &e) == 0);
    pio_reader *r;
    if (pio_reader_open(&r, big, NULL, &e) != 0) {
        CHECKF(0, "%s", e.message);
        return;
    }
    struct ArrowArrayStream st;
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.first = 3; /* three scalar columns from here on */
    CHECK(pio_arrow_export(&st, r, &o, &e) == 0);
    CHECKF(pio_arrow_ipc_write(out, &st, 1, &e) == 0, "%s", e.message);
    st.release(&st);
    CHECK(pio_arrow_export(&st, r, &o, &e) == 0);
    void *img = NULL;
    size_t len = 0;
    CHECKF(pio_arrow_ipc_serialize(&st, &img, &len, &e) == 0, "%s", e.message);
    st.release(&st);
    size_t flen = 0;
    uint8_t *file = fixture_slurp(out, &flen);
    CHECKF(img && file && len > ((size_t)8 << 20) && len == flen && memcmp(img, file, len) == 0,
           "large image: %zu bytes, file %zu", len, flen);
    /* into a caller's buffer, twice (reused): the same bytes; one byte
     * short: refused */
    uint8_t *buf = malloc(len + 1);
    for (int k = 0; buf && k < 3; k++) {
        size_t got = 0, cap = k < 2 ? len : len - 1;
        CHECK(pio_arrow_export(&st, r, &o, &e) == 0);
        memset(buf, 0xAB, len + 1);
        int rc = pio_arrow_ipc_serialize_into(&st, buf, cap, &got, &e);
        st.release(&st);
        if (k < 2)
            CHECKF(rc == 0 && got == len && memcmp(buf, file, len) == 0 && buf[len] == 0xAB,
                   "serialize_into: %d, %zu bytes: %s", rc, got, e.message);
        else
            CHECKF(rc == PIO_ELIMIT && got == 0 && buf[cap] == 0xAB &&
                       strstr(e.message, "needs more"),
                   "serialize_into a short buffer: %d: %s", rc, e.message);
    }
    free(buf);
    free(file);
    pio_arrow_ipc_free(img, len);
    pio_arrow_ipc_free(NULL, 0);
    pio_reader_close(r);
}

int main(void)
{
    make_file();
    pio_reader *r;
    if (pio_reader_open(&r, holo, NULL, &e) != 0) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    /* the fixture's frame i has the first i % 4 of three scalars: a range
     * from frame 3 has all three columns */
    test_frames(r, 1, 3, UINT64_MAX);
    test_frames(r, 5, 3, UINT64_MAX);
    test_frames(r, 1, 4, 1);
    test_frames(r, 4, 3, 7);
    test_frames(r, 1, 11, 1);
    test_release_rules();
    test_atoms(r);
    char path[300];
    const struct {
        uint32_t layout, batch;
        const char *name;
    } rt[] = {{PIO_ARROW_FRAMES, 1, "f1.arrow"},
              {PIO_ARROW_FRAMES, 4, "f4.arrow"},
              {PIO_ARROW_ATOMS, 1, "a1.arrow"}};
    for (size_t k = 0; k < PIO_ARRAY_LEN_T(rt); k++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, rt[k].name);
        test_ipc_roundtrip(r, rt[k].layout, rt[k].batch, path);
        test_import(path, rt[k].layout == PIO_ARROW_ATOMS);
    }
    test_errors(r);
    test_hostile(r);
    test_large_image();
    pio_reader_close(r);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    return TEST_RESULT();
}
