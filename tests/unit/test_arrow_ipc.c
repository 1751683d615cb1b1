/*
 * Arrow IPC files: written from the export (both layouts, one and several
 * frames per batch) and read back identical, the in-memory image the
 * file's bytes (also one large enough to grow through several remaps, and
 * into a caller's buffer); imported back to HOLO (the Arrow source through
 * the pipeline) bit-exact.
 */
#include "arrow_fixture.h"

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
    pio_reader *r = arrow_fixture_open();
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
    test_large_image();
    pio_reader_close(r);
    arrow_fixture_cleanup();
    return TEST_RESULT();
}
