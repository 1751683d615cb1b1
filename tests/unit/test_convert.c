/*
 * Converter internals through the public API: XTC frames decoded on
 * several threads are bit-identical to the serial decoder's, in any
 * selection order (also run under ThreadSanitizer); every reader gives the
 * same frames through a selection as through a full pass; XTC to HOLO
 * with frames decoded into the batches equals the copying path; the XTC codec
 * round-trips integers of every magnitude it allows (each bounding-box
 * size and small-integer index the decoder divides by); format names; the
 * NetCDF header check (built with or without libnetcdf) refuses hostile
 * headers with the field and offset, keeps a truncated file's whole
 * records, and survives every header byte set to hostile values.
 */
#include <ctype.h>
#include <math.h>
#include <prismio/convert.h>
#include <prismio/holo.h>
#include <unistd.h>

#include "formats/formats_internal.h"
#include "holo_fixture.h"
#include "pio_test.h"

#define DATA PIO_TEST_DATA_DIR

struct frames {
    uint64_t n, natoms;
    float *x; /* n * natoms * 3 */
    int64_t *step;
};

static int read_all(const char *path, uint32_t threads, const char *sel, struct frames *out)
{
    struct pio_source_options o = PIO_SOURCE_OPTIONS_INIT;
    o.threads = threads;
    struct pio_source s;
    struct pio_source_info info;
    struct pio_error e = {0};
    uint64_t *list = NULL, n;
    if (pio_source_open(&s, path, &o, &e) != 0 || s.info(s.ctx, &info, &e) != 0) {
        fprintf(stderr, "%s\n", e.message);
        return -1;
    }
    /* an XTC source tells the sink how many threads it decodes on */
    if (pio_format_from_path(path) == PIO_FORMAT_XTC)
        CHECKF(info.threads == threads, "%s: info.threads %u, decoding on %u", path, info.threads,
               threads);
    n = info.nframes;
    if (sel && pio_select_frames(sel, info.nframes, &list, &n, &e) != 0)
        return -1;
    if (s.start(s.ctx, list, n, &e) != 0)
        return -1;
    out->n = n;
    out->natoms = info.max_natoms;
    out->x = malloc(n * info.max_natoms * 12 + 1);
    out->step = malloc(n * 8 + 1);
    struct pio_frame f;
    uint64_t k = 0;
    int rc;
    while ((rc = s.next(s.ctx, &f, &e)) == 1) {
        CHECK(k < n && f.natoms == info.max_natoms && f.index == (list ? list[k] : k));
        if (k < n) {
            memcpy(out->x + k * f.natoms * 3, f.positions, f.natoms * 12);
            out->step[k] = f.step;
        }
        k++;
        s.release(s.ctx, &f);
    }
    CHECKF(rc == 0 && k == n, "%s: %s", path, e.message);
    pio_source_destroy(&s);
    free(list);
    return 0;
}

static void free_frames(struct frames *f)
{
    free(f->x);
    free(f->step);
}

/* frames[sel] of `all` equal `got`, bit for bit */
static void check_subset(const char *path, const struct frames *all, const struct frames *got,
                         const char *sel)
{
    uint64_t *list = NULL, n = all->n;
    struct pio_error e;
    if (sel)
        CHECK(pio_select_frames(sel, all->n, &list, &n, &e) == 0);
    CHECK(got->n == n);
    for (uint64_t k = 0; k < n && k < got->n; k++) {
        uint64_t i = list ? list[k] : k;
        CHECKF(memcmp(all->x + i * all->natoms * 3, got->x + k * all->natoms * 3,
                      all->natoms * 12) == 0 &&
                   all->step[i] == got->step[k],
               "%s: frame %llu (selection %s) differs", path, (unsigned long long)i,
               sel ? sel : "all");
    }
    free(list);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/*
 * XTC codec round trip at precision 1 (positions are the integers; a float
 * holds each exactly): frame k spreads them over a range of about
 * 1.5 x 2^(3+k), never a power of two (25 up to 1.5 x 2^29, where the box
 * needs one bit field per axis), in clusters of 1 to 6 atoms whose deltas
 * are up to 2^j for random j (so runs of small integers at many indices),
 * many on the box's lower faces.
 * Written through the HOLO -> XTC pipeline, read back bit for bit.
 */
static void codec_roundtrip(void)
{
    enum { NATOMS = 1500, NFRAMES = 27 };
    char holo[256], xtc[256];
    const char *dir = getenv("TMPDIR");
    snprintf(holo, sizeof(holo), "%s/pio_codec_%d.holo", dir ? dir : "/tmp", (int)getpid());
    snprintf(xtc, sizeof(xtc), "%s/pio_codec_%d.xtc", dir ? dir : "/tmp", (int)getpid());
    int32_t *q = malloc((size_t)NFRAMES * NATOMS * 3 * sizeof(int32_t));
    float *pos = malloc((size_t)NATOMS * 12);
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = PIO_WRITER_NO_SYNC;
    pio_writer *w = NULL;
    struct pio_error e = {0};
    unlink(holo);
    CHECKF(pio_writer_create(&w, holo, &wo, &e) == 0, "%s", e.message);
    for (int k = 0; w && k < NFRAMES; k++) {
        int64_t range = ((int64_t)3 << (3 + k)) + 1 + k; /* never a power of two */
        int32_t *fq = q + (size_t)k * NATOMS * 3;
        for (int a = 0; a < NATOMS;) {
            int32_t base[3];
            for (int c = 0; c < 3; c++)
                base[c] = (int32_t)((int64_t)(rng() % (uint64_t)range) - range / 2);
            /* often on the box's lower faces: remainders of 0 in the
             * mixed radix, where a division that rounds low goes wrong */
            uint64_t r = rng();
            if (r % 4 == 0)
                base[2] = (int32_t)(-range / 2);
            if (r % 8 == 1)
                base[1] = (int32_t)(-range / 2);
            int n = 1 + (int)(rng() % 6);
            int j = (int)(rng() % (uint64_t)(5 + k));
            for (int m = 0; m < n && a < NATOMS; m++, a++)
                for (int c = 0; c < 3; c++) {
                    int64_t d =
                        m ? (int64_t)(rng() % ((uint64_t)1 << j)) - ((int64_t)1 << j) / 2 : 0;
                    int64_t v = base[c] + d;
                    v = v < -range / 2 ? -range / 2 : v >= range / 2 ? range / 2 - 1 : v;
                    float x = (float)v; /* above 2^24: rounded to an integer */
                    pos[a * 3 + c] = x;
                    /* GROMACS's quantisation: x * precision +- 0.5 in double,
                     * stored as float (above 2^23 the half can round up) */
                    fq[a * 3 + c] =
                        (int32_t)(x >= 0 ? (float)((double)x + 0.5) : (float)((double)x - 0.5));
                }
        }
        struct pio_frame f = {0};
        f.natoms = NATOMS;
        f.positions = (const float(*)[3])pos;
        f.fields = PIO_FIELD_POSITIONS;
        f.step = k;
        CHECKF(pio_writer_append(w, &f, &e) == 0, "frame %d: %s", k, e.message);
    }
    CHECK(w && pio_writer_close(w, &e) == 0);
    struct pio_source src;
    struct pio_sink sink;
    struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
    ko.flags = PIO_SINK_OVERWRITE;
    ko.xtc_precision = 1.0f;
    CHECKF(pio_source_open(&src, holo, NULL, &e) == 0, "%s", e.message);
    CHECKF(pio_sink_open(&sink, xtc, &ko, &e) == 0, "%s", e.message);
    CHECKF(pio_pipeline_run(&src, &sink, NULL, NULL, &e) == 0, "%s", e.message);
    pio_sink_destroy(&sink);
    pio_source_destroy(&src);
    for (uint32_t threads = 1; threads <= 2; threads++) {
        struct frames got;
        if (read_all(xtc, threads, NULL, &got) != 0) {
            CHECKF(0, "cannot read %s back", xtc);
            continue;
        }
        CHECK(got.n == NFRAMES && got.natoms == NATOMS);
        uint64_t bad = 0;
        for (uint64_t i = 0; got.n == NFRAMES && i < (uint64_t)NFRAMES * NATOMS * 3; i++)
            if (memcmp(&got.x[i], &(float){(float)q[i]}, 4) != 0 && bad++ < 3)
                fprintf(stderr, "frame %llu atom %llu: %.9g, expected %d\n",
                        (unsigned long long)(i / (NATOMS * 3)),
                        (unsigned long long)(i % (NATOMS * 3) / 3), got.x[i], q[i]);
        CHECKF(bad == 0, "XTC codec: %llu values differ (%u threads)", (unsigned long long)bad,
               threads);
        free_frames(&got);
    }
    printf("XTC codec: %d frames, integer ranges 25 to 1.5 x 2^29, round trip exact\n", NFRAMES);
    unlink(holo);
    unlink(xtc);
    free(q);
    free(pos);
}

/* XTC to HOLO through the pipeline: with one decoder the frames are
 * decoded straight into the batches, with two they are copied from the
 * decoders' slots; the files are the same byte for byte (fixed salt), with
 * a frame and an atom selection and small batches too, and verify. */
static void xtc_into_batches(void)
{
    static const uint8_t salt[16] = "xtc-into-batches";
    static const struct {
        const char *frames, *atoms;
        uint64_t memory;
    } cases[] = {{NULL, NULL, 0}, {"::-3,4", "3-300", 64 << 10}};
    const char *out[2] = {fixture_tmpname("xtc_into1"), fixture_tmpname("xtc_into2")};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (uint32_t threads = 1; threads <= 2; threads++) {
            struct pio_source_options so = PIO_SOURCE_OPTIONS_INIT;
            so.threads = threads;
            struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
            wo.flags = PIO_WRITER_NO_SYNC | PIO_WRITER_OVERWRITE;
            wo.salt = salt;
            struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
            ko.flags = PIO_SINK_OVERWRITE;
            ko.writer = &wo;
            struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
            po.frames = cases[c].frames;
            po.atoms = cases[c].atoms;
            po.max_bytes = cases[c].memory;
            struct pio_source src;
            struct pio_sink sink;
            struct pio_error e = {0};
            CHECKF(pio_source_open(&src, DATA "/peptide.xtc", &so, &e) == 0, "%s", e.message);
            CHECKF(pio_sink_open(&sink, out[threads - 1], &ko, &e) == 0, "%s", e.message);
            CHECKF(pio_pipeline_run(&src, &sink, &po, NULL, &e) == 0, "%s", e.message);
            pio_sink_destroy(&sink);
            pio_source_destroy(&src);
        }
        CHECKF(fixture_same_holo(out[0], out[1]),
               "case %zu: one decoder (into the batches) and two wrote other bytes", c);
    }
    unlink(out[0]);
    unlink(out[1]);
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = f ? malloc(1 << 20) : NULL;
    *n = b ? fread(b, 1, 1 << 20, f) : 0;
    if (f)
        fclose(f);
    return b;
}

/* pio__ncdf_header_check on peptide.ncdf (header: 0x318 bytes, records of 8580
 * bytes from 0x330) and on copies with hostile fields. */
static void ncdf_header(void)
{
    size_t n;
    uint8_t *orig = read_file(DATA "/peptide.ncdf", &n), *b = malloc(n);
    if (!orig || !b || n != 430016) {
        CHECKF(0, "cannot read peptide.ncdf");
        free(orig);
        free(b);
        return;
    }
    struct ncdf_records r;
    struct pio_error e = {0};
    CHECKF(pio__ncdf_header_check(&r, orig, n, "p", &e) == 0, "%s", e.message);
    CHECK(r.numrecs == 50 && r.complete == 50 && !r.warning[0]);
    /* the two hostile files of tests/data/hostile, the fields they set */
    static const struct {
        uint32_t off, value;
        const char *msg;
    } bad[] = {
        {0x148, 0x80000000u,
         "p: var_list: count 2147483648 is not a non-negative 32-bit integer "
         "at offset 0x148"},
        {0x134, 0xffffffffu,
         "p: global attribute 'application': value count 4294967295 is not a "
         "non-negative 32-bit integer at offset 0x134"},
        {0x134, 0x7fffffffu,
         "p: global attribute 'application': 2147483647 values of 1 bytes run "
         "past the end of the file (430016 bytes) at offset 0x134"},
        {0x1c8, 0xffff0318u,
         "p: variable 'spatial': begin 0xffff0318 + size 3 past the end of "
         "the file (430016 bytes) at offset 0x1c4"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        memcpy(b, orig, n);
        for (int q = 0; q < 4; q++)
            b[bad[k].off + q] = (uint8_t)(bad[k].value >> (24 - 8 * q));
        int rc = pio__ncdf_header_check(&r, b, n, "p", &e);
        CHECKF(rc == PIO_ECORRUPT && strcmp(e.message, bad[k].msg) == 0, "case %zu: %d %s", k, rc,
               e.message);
    }
    /* cut inside record 34: 34 whole records and a warning */
    CHECKF(pio__ncdf_header_check(&r, orig, 300000, "p", &e) == 0, "%s", e.message);
    CHECKF(r.numrecs == 50 && r.complete == 34 &&
               strstr(r.warning, "the file ends inside frame 34 at offset 0x47740"),
           "%llu %llu %s", (unsigned long long)r.numrecs, (unsigned long long)r.complete,
           r.warning);
    /* cut inside the header (0x318 bytes) or the non-record variables
     * (to 0x32f): refused; before the first record ends: no whole record */
    for (size_t cut = 0; cut < 0x32f; cut++)
        CHECKF(pio__ncdf_header_check(&r, orig, cut, "p", &e) < 0, "cut at %zu", cut);
    for (size_t cut = 0x32f; cut < 0x330 + 8580; cut += 7)
        CHECKF(pio__ncdf_header_check(&r, orig, cut, "p", &e) == 0 && r.complete == 0 &&
                   r.warning[0],
               "cut at %zu: %s", cut, e.message);
    CHECK(pio__ncdf_header_check(&r, (const uint8_t *)"\x89HDF\r\n", 6, "p", &e) ==
          PIO_ENOTSUPPORTED);
    CHECK(pio__ncdf_header_check(&r, (const uint8_t *)"CDF\003", 4, "p", &e) == PIO_EFORMAT);
    /* every header byte set to each hostile value: an answer, within the
     * file (AddressSanitizer watches), never more whole records than there
     * are bytes for */
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    uint64_t refused = 0;
    for (size_t off = 4; off < 0x330; off++)
        for (size_t v = 0; v < sizeof(vals); v++) {
            memcpy(b, orig, 0x330);
            b[off] = vals[v];
            int rc = pio__ncdf_header_check(&r, b, n, "p", &e);
            refused += rc != 0;
            CHECKF(rc == 0 ? r.complete <= r.numrecs && r.complete <= n / 8580
                           : rc == PIO_ECORRUPT && strstr(e.message, " at offset 0x"),
                   "byte 0x%zx = 0x%02x: %d %s", off, vals[v], rc, e.message);
        }
    CHECK(refused > 1000);
    printf("ncdf header: %llu of %u single-byte header mutations refused\n",
           (unsigned long long)refused, (unsigned)((0x330 - 4) * sizeof(vals)));
    free(orig);
    free(b);
}

/* The format registry: formats 1.. without a gap, each with a name that
 * parses back, extensions that map to it, and magic that recognises the
 * bundled samples (text formats have none). */
static void registry(void)
{
    struct pio_format_info fi = PIO_FORMAT_INFO_INIT;
    int n = 0;
    for (int f = 1; pio_format_info((enum pio_format)f, &fi) == 0; f++) {
        n++;
        CHECKF(fi.format == (enum pio_format)f && fi.name && fi.extensions[0] == '.', "format %d",
               f);
        enum pio_format back;
        CHECKF(pio_format_parse(fi.name, &back) == 0 && back == (enum pio_format)f, "%s", fi.name);
        CHECKF(strcmp(pio_format_name((enum pio_format)f), fi.name) == 0, "%s", fi.name);
        CHECKF(fi.caps & PIO_FORMAT_CAN_READ, "%s reads", fi.name);
        /* every extension, in any case, names this format */
        char path[64];
        for (const char *e = fi.extensions; *e;) {
            size_t k = strcspn(e, " ");
            snprintf(path, sizeof(path), "dir.x/a%.*s", (int)k, e);
            CHECKF(pio_format_from_path(path) == (enum pio_format)f, "%s", path);
            for (char *c = path; *c; c++)
                *c = (char)toupper((unsigned char)*c);
            CHECKF(pio_format_from_path(path) == (enum pio_format)f, "%s", path);
            e += k;
            e += strspn(e, " ");
        }
    }
    CHECKF(n == 9, "%d formats registered", n);
    CHECK(pio_format_info(PIO_FORMAT_UNKNOWN, &fi) == PIO_EUSAGE);
    enum pio_format untouched = PIO_FORMAT_XYZ;
    CHECK(pio_format_parse(NULL, &untouched) == PIO_EUSAGE && untouched == PIO_FORMAT_XYZ);
    CHECK(pio_format_parse("tng", &untouched) == PIO_EUSAGE && untouched == PIO_FORMAT_XYZ);
    struct pio_format_info small = {.size = 4};
    CHECK(pio_format_info(PIO_FORMAT_XTC, &small) == PIO_EUSAGE);
    /* an older struct that ends at caps gets those members, nothing past */
    struct pio_format_info older = {.size = offsetof(struct pio_format_info, unavailable),
                                    .unavailable = "untouched"};
    CHECK(pio_format_info(PIO_FORMAT_NCDF, &older) == 0 && older.caps != 0 &&
          strcmp(older.name, "ncdf") == 0 && strcmp(older.unavailable, "untouched") == 0);
    CHECK(pio_format_from_path("a.holo/b") == PIO_FORMAT_UNKNOWN);
    CHECK(pio_format_from_path("b.tng") == PIO_FORMAT_UNKNOWN);
    CHECK(strcmp(pio_format_name((enum pio_format)77), "unknown") == 0);
    /* magic: the bundled samples, a HOLO header, and text that has none */
    static const struct {
        const char *file;
        enum pio_format want;
    } samples[] = {
        {DATA "/peptide.xtc", PIO_FORMAT_XTC},     {DATA "/water.trr", PIO_FORMAT_TRR},
        {DATA "/peptide.dcd", PIO_FORMAT_DCD},     {DATA "/peptide.ncdf", PIO_FORMAT_NCDF},
        {DATA "/peptide.gro", PIO_FORMAT_UNKNOWN}, {DATA "/peptide.pdb", PIO_FORMAT_UNKNOWN},
        {DATA "/peptide.xyz", PIO_FORMAT_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        size_t len;
        uint8_t *b = read_file(samples[i].file, &len);
        CHECKF(b && pio_format_probe(b, len) == samples[i].want, "probe %s: %d", samples[i].file,
               b ? (int)pio_format_probe(b, len) : -1);
        if (b)
            CHECKF(pio_format_probe(b, 3) == PIO_FORMAT_UNKNOWN, "3 bytes of %s", samples[i].file);
        free(b);
    }
    CHECK(pio_format_probe(PIO_HOLO_MAGIC "more", 12) == PIO_FORMAT_HOLO);
    CHECK(pio_format_probe("ARROW1\0\0", 8) == PIO_FORMAT_ARROW);
    CHECK(pio_format_probe("", 0) == PIO_FORMAT_UNKNOWN);
    /* an unknown extension names every registered one */
    struct pio_source src;
    struct pio_error e = {0};
    CHECK(pio_source_open(&src, "x.tng", NULL, &e) == PIO_EUSAGE);
    CHECKF(strstr(e.message, "(extensions: .holo .xtc .trr .dcd .ncdf .gro .pdb .xyz .arrow)"),
           "%s", e.message);
}

int main(void)
{
    registry();
    codec_roundtrip();
    ncdf_header();
    xtc_into_batches();
    const char *files[] = {DATA "/peptide.xtc", DATA "/solvated.xtc",       DATA "/water.trr",
                           DATA "/peptide.dcd", DATA "/peptide_models.pdb", DATA "/peptide.xyz",
                           DATA "/peptide.ncdf"};
    const char *sels[] = {NULL, "::-1", "7,3,3,150-160,0", "1::4"};
    for (size_t fi = 0; fi < sizeof(files) / sizeof(files[0]); fi++) {
        struct frames ref;
        struct pio_format_info fi_ = PIO_FORMAT_INFO_INIT;
        if (pio_format_info(pio_format_from_path(files[fi]), &fi_) == 0 && fi_.unavailable) {
            printf("skipped %s: %s\n", files[fi], fi_.unavailable);
            continue;
        }
        if (read_all(files[fi], 1, NULL, &ref) != 0) {
            CHECKF(0, "cannot read %s", files[fi]);
            continue;
        }
        for (size_t si = 0; si < sizeof(sels) / sizeof(sels[0]); si++) {
            const char *sel = sels[si];
            if (sel && strchr(sel, '-') && ref.n < 161)
                sel = "2,0,1";
            for (uint32_t threads = 1; threads <= 4; threads += 3) {
                struct frames got;
                if (read_all(files[fi], threads, sel, &got) == 0)
                    check_subset(files[fi], &ref, &got, sel);
                free_frames(&got);
            }
        }
        printf("%s: %llu frames x %llu atoms, same through 1 and 4 threads and 4 selections\n",
               files[fi], (unsigned long long)ref.n, (unsigned long long)ref.natoms);
        free_frames(&ref);
    }
    /* format names */
    CHECK(pio_format_from_path("a/b.XTC") == PIO_FORMAT_XTC);
    CHECK(pio_format_from_path("x.ent") == PIO_FORMAT_PDB);
    CHECK(pio_format_from_path("dir.xtc/file") == PIO_FORMAT_UNKNOWN);
    CHECK(pio_format_from_path("noext") == PIO_FORMAT_UNKNOWN);
    enum pio_format f;
    CHECK(pio_format_parse("dcd", &f) == 0 && f == PIO_FORMAT_DCD);
    CHECK(pio_format_parse("unknown", &f) == PIO_EUSAGE);
    CHECK(strcmp(pio_format_name(PIO_FORMAT_TRR), "trr") == 0);
    CHECK(strcmp(pio_format_name((enum pio_format)99), "unknown") == 0);
    return TEST_RESULT();
}
