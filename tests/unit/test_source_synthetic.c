/*
 * The synthetic source: any selection of frames regenerated exactly as
 * pio_synthetic_frame makes them; no atoms is a usage error.
 */
#include <prismio/convert.h>

#include "pio_test.h"

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

int main(void)
{
    test_synthetic();
    return TEST_RESULT();
}
