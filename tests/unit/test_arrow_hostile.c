/*
 * Arrow IPC files under damage: every truncation and byte flip of a small
 * IPC file refused or read without a crash (by the IPC reader and by the
 * Arrow source; ASan checks every byte the arrays promise); not an Arrow
 * file, an empty file and a directory refused.
 */
#include "../arrow/arrow_touch.h"
#include "arrow_fixture.h"

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

int main(void)
{
    pio_reader *r = arrow_fixture_open();
    test_hostile(r);
    pio_reader_close(r);
    arrow_fixture_cleanup();
    return TEST_RESULT();
}
