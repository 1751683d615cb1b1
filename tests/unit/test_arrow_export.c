/*
 * Arrow C Data Interface export: checked value by value against the
 * reader (both layouts, one and several frames per batch, ranges), with
 * the release rules exercised the way consumers use them (children moved
 * out and released later, batches outliving the stream and the caller's
 * reader; ASan reports leaks and use after release or unmap); zero-copy
 * proven by the buffer lying in the file's mapping; bad options and
 * frames that do not fit the schema refused with a message.
 */
#include <errno.h>

#include "arrow_fixture.h"

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

int main(void)
{
    pio_reader *r = arrow_fixture_open();
    /* the fixture's frame i has the first i % 4 of three scalars: a range
     * from frame 3 has all three columns */
    test_frames(r, 1, 3, UINT64_MAX);
    test_frames(r, 5, 3, UINT64_MAX);
    test_frames(r, 1, 4, 1);
    test_frames(r, 4, 3, 7);
    test_frames(r, 1, 11, 1);
    test_release_rules();
    test_atoms(r);
    test_errors(r);
    pio_reader_close(r);
    arrow_fixture_cleanup();
    return TEST_RESULT();
}
