/*
 * Converter internals through the public API: XTC frames decoded on
 * several threads are bit-identical to the serial decoder's, in any
 * selection order (also run under ThreadSanitizer); every reader gives the
 * same frames through a selection as through a full pass; format names.
 */
#include <prismio/convert.h>

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

int main(void)
{
    const char *files[] = {DATA "/peptide.xtc", DATA "/solvated.xtc",       DATA "/water.trr",
                           DATA "/peptide.dcd", DATA "/peptide_models.pdb", DATA "/peptide.xyz",
                           DATA "/peptide.ncdf"};
    const char *sels[] = {NULL, "::-1", "7,3,3,150-160,0", "1::4"};
    for (size_t fi = 0; fi < sizeof(files) / sizeof(files[0]); fi++) {
        struct frames ref;
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
