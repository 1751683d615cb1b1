/*
 * The array codecs (src/codec): lossy within precision/2 (plus the float32
 * rounding of the decoded value) for 0, 1, a few and 2^20 atoms, at
 * +-1e6 nm, refusing what it cannot hold (NaN, infinities, values past
 * 2^31 precisions) by atom; lossless bit-exact on NaN payloads, -0.0,
 * denormals and infinities; structured coordinates (a lattice with noise)
 * come out smaller than raw; payloads that are cut, corrupted, claim
 * another size or are not zstd at all are PIO_ECORRUPT, never a crash or
 * a write past the caller's array (ASan). A build without zstd says
 * PIO_ENOTSUPPORTED for both.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pio_codec.h"
#include "pio_test.h"

#include <prismio/common.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double uniform(void)
{
    return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

/* Structured coordinates: atoms near a lattice in a 5 nm box, scaled. */
static float (*lattice(uint64_t n, double scale))[3]
{
    float(*x)[3] = malloc((size_t)(n ? n : 1) * 12);
    for (uint64_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            x[i][c] = (float)(scale * (0.3 * (double)((i >> (c * 4)) % 16) + 0.01 * uniform()));
    return x;
}

static void lossy_round_trip(uint64_t n, double precision, double scale,
                             struct pio__codec_scratch *s)
{
    float(*x)[3] = lattice(n, scale);
    size_t cap = pio__codec_bound(n), len = 0;
    uint8_t *buf = malloc(cap);
    uint64_t bad = 0;
    int rc = pio__codec_encode(PIO__CODEC_LOSSY, (const float(*)[3])x, n, precision, 0, buf, cap,
                               &len, &bad, s);
    CHECKF(rc == 0, "lossy encode of %llu atoms: %d", (unsigned long long)n, rc);
    float(*y)[3] = malloc((size_t)(n ? n : 1) * 12);
    rc = pio__codec_decode(PIO__CODEC_LOSSY, buf, len, n, precision, y, s);
    CHECKF(rc == 0, "lossy decode of %llu atoms: %d", (unsigned long long)n, rc);
    double worst = 0;
    for (uint64_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            double err = fabs((double)y[i][c] - (double)x[i][c]);
            double ulp = nextafterf(fabsf(y[i][c]), INFINITY) - fabsf(y[i][c]);
            worst = fmax(worst, err - ulp);
        }
    CHECKF(worst <= precision / 2 * (1 + 1e-9), "%llu atoms at %g nm: error %g past %g",
           (unsigned long long)n, precision, worst + precision / 2, precision / 2);
    if (n >= 1000 && scale == 1.0)
        CHECKF(len < n * 12 / 3, "%llu atoms: lossy %zu bytes, raw %llu", (unsigned long long)n,
               len, (unsigned long long)(n * 12));
    free(x);
    free(y);
    free(buf);
}

static void test_lossy(struct pio__codec_scratch *s)
{
    static const uint64_t sizes[] = {0, 1, 7, 1000, (uint64_t)1 << 20};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        lossy_round_trip(sizes[k], 0.001, 1.0, s);
        lossy_round_trip(sizes[k], 0.01, 1.0, s);
    }
    lossy_round_trip(1000, 0.001, 1e5, s); /* to 1e6 nm: 1e9 precisions */
    float far[2][3] = {{1e6f, -1e6f, 0}, {-999999.5f, 1e6f, 3}};
    size_t cap = pio__codec_bound(2), len;
    uint8_t buf[256];
    uint64_t bad = 99;
    CHECK(cap <= sizeof(buf));
    CHECK(pio__codec_encode(PIO__CODEC_LOSSY, (const float(*)[3])far, 2, 0.001, 0, buf, cap, &len,
                            &bad, s) == 0);
    /* what lossy cannot hold, named by atom */
    float odd[3][3] = {{0, 0, 0}, {1, 2, 3}, {4, NAN, 5}};
    CHECK(pio__codec_encode(PIO__CODEC_LOSSY, (const float(*)[3])odd, 3, 0.001, 0, buf, cap, &len,
                            &bad, s) == PIO_ELIMIT &&
          bad == 2);
    odd[2][1] = INFINITY;
    CHECK(pio__codec_encode(PIO__CODEC_LOSSY, (const float(*)[3])odd, 3, 0.001, 0, buf, cap, &len,
                            &bad, s) == PIO_ELIMIT);
    odd[2][1] = 1e7f; /* 1e10 precisions */
    bad = 99;
    CHECK(pio__codec_encode(PIO__CODEC_LOSSY, (const float(*)[3])odd, 3, 0.001, 0, buf, cap, &len,
                            &bad, s) == PIO_ELIMIT &&
          bad == 2);
    CHECK(pio__codec_encode(PIO__CODEC_LOSSY, (const float(*)[3])odd, 3, 0, 0, buf, cap, &len, &bad,
                            s) == PIO_EUSAGE);
    CHECK(pio__codec_encode(PIO__CODEC_LOSSY, (const float(*)[3])odd, 3, NAN, 0, buf, cap, &len,
                            &bad, s) == PIO_EUSAGE);
}

static void test_lossless(struct pio__codec_scratch *s)
{
    const uint64_t n = 5000;
    uint32_t(*bits)[3] = malloc(n * 12);
    for (uint64_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            bits[i][c] = (uint32_t)next_u64();
    /* the awkward ones */
    uint32_t special[] = {0x7fc00001u, 0xffc12345u, 0x7f800001u, 0x80000000u, 0x00000001u,
                          0x807fffffu, 0x7f800000u, 0xff800000u, 0x00000000u};
    for (size_t k = 0; k < sizeof(special) / 4; k++)
        bits[k][k % 3] = special[k];
    size_t cap = pio__codec_bound(n), len = 0;
    uint8_t *buf = malloc(cap);
    uint64_t bad;
    CHECK(pio__codec_encode(PIO__CODEC_LOSSLESS, (const float(*)[3])bits, n, 0, 0, buf, cap, &len,
                            &bad, s) == 0);
    uint32_t(*back)[3] = malloc(n * 12);
    CHECK(pio__codec_decode(PIO__CODEC_LOSSLESS, buf, len, n, 0, (float(*)[3])back, s) == 0);
    CHECK(memcmp(bits, back, n * 12) == 0);
    /* smooth values compress */
    float(*x)[3] = lattice(n, 1.0);
    CHECK(pio__codec_encode(PIO__CODEC_LOSSLESS, (const float(*)[3])x, n, 0, 0, buf, cap, &len,
                            &bad, s) == 0);
    CHECKF(len < n * 12, "lossless lattice: %zu bytes, raw %llu", len,
           (unsigned long long)(n * 12));
    CHECK(pio__codec_decode(PIO__CODEC_LOSSLESS, buf, len, n, 0, (float(*)[3])back, s) == 0);
    CHECK(memcmp(x, back, n * 12) == 0);
    free(x);
    free(bits);
    free(back);
    free(buf);
}

/* Payloads that lie: each is PIO_ECORRUPT, and dst past 12 n untouched. */
static void test_hostile(struct pio__codec_scratch *s)
{
    const uint64_t n = 300;
    float(*x)[3] = lattice(n, 1.0);
    size_t cap = pio__codec_bound(n), len = 0;
    uint8_t *buf = malloc(cap);
    uint64_t bad;
    CHECK(pio__codec_encode(PIO__CODEC_LOSSY, (const float(*)[3])x, n, 0.001, 0, buf, cap, &len,
                            &bad, s) == 0);
    float(*y)[3] = malloc((n + 1) * 12);
    /* claims another atom count */
    CHECK(pio__codec_decode(PIO__CODEC_LOSSY, buf, len, n + 1, 0.001, y, s) == PIO_ECORRUPT);
    CHECK(pio__codec_decode(PIO__CODEC_LOSSY, buf, len, n - 1, 0.001, y, s) == PIO_ECORRUPT);
    /* cut anywhere; trailing bytes */
    for (size_t c = 0; c < len; c += 1 + c / 8)
        CHECKF(pio__codec_decode(PIO__CODEC_LOSSY, buf, c, n, 0.001, y, s) == PIO_ECORRUPT,
               "a payload cut at %zu of %zu", c, len);
    uint8_t *longer = malloc(len + 8);
    memcpy(longer, buf, len);
    memset(longer + len, 0, 8);
    CHECK(pio__codec_decode(PIO__CODEC_LOSSY, longer, len + 8, n, 0.001, y, s) == PIO_ECORRUPT);
    /* flipped bytes: an error or some decode, never a crash */
    size_t errors = 0;
    for (size_t k = 0; k < len; k++) {
        memcpy(longer, buf, len);
        longer[k] ^= 0x5a;
        errors += pio__codec_decode(PIO__CODEC_LOSSY, longer, len, n, 0.001, y, s) == PIO_ECORRUPT;
    }
    CHECKF(errors > 0, "no flip of %zu bytes was caught by zstd", len);
    /* not zstd; a bad precision; an unknown codec */
    memset(longer, 0xab, len);
    CHECK(pio__codec_decode(PIO__CODEC_LOSSY, longer, len, n, 0.001, y, s) == PIO_ECORRUPT);
    CHECK(pio__codec_decode(PIO__CODEC_LOSSY, buf, len, n, -1.0, y, s) == PIO_ECORRUPT);
    CHECK(pio__codec_decode(7, buf, len, n, 0.001, y, s) == PIO_ECORRUPT);
    /* a frame header claiming 2^40 bytes: refused before any allocation */
    const uint64_t big = (uint64_t)1 << 38;
    uint8_t small[256];
    float one[1][3] = {{1, 2, 3}};
    CHECK(pio__codec_bound(1) <= sizeof(small));
    CHECK(pio__codec_encode(PIO__CODEC_LOSSLESS, (const float(*)[3])one, 1, 0, 0, small,
                            sizeof(small), &len, &bad, s) == 0);
    CHECK(pio__codec_decode(PIO__CODEC_LOSSLESS, small, len, big, 0, y, s) == PIO_ECORRUPT);
    free(longer);
    free(x);
    free(y);
    free(buf);
}

int main(void)
{
    struct pio__codec_scratch s = {0};
    if (!pio__codec_built()) {
        float x[1][3] = {{1, 2, 3}};
        uint8_t buf[64];
        size_t len;
        uint64_t bad;
        CHECK(pio__codec_encode(PIO__CODEC_LOSSY, (const float(*)[3])x, 1, 0.001, 0, buf,
                                sizeof(buf), &len, &bad, &s) == PIO_ENOTSUPPORTED);
        CHECK(pio__codec_decode(PIO__CODEC_LOSSLESS, buf, 8, 1, 0, x, &s) == PIO_ENOTSUPPORTED);
        fprintf(stderr, "codecs: not built (no zstd): PIO_ENOTSUPPORTED\n");
        return TEST_RESULT();
    }
    test_lossy(&s);
    test_lossless(&s);
    test_hostile(&s);
    pio__codec_scratch_free(&s);
    return TEST_RESULT();
}
