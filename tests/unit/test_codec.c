/*
 * The array codecs (src/codec): lossy within precision/2 (plus the float32
 * rounding of the decoded value) for 0, 1, a few and 2^20 atoms, at
 * +-1e6 nm, refusing what it cannot hold (NaN, infinities, values past
 * 2^31 precisions) by atom; lossless bit-exact on NaN payloads, -0.0,
 * denormals and infinities; structured coordinates (a lattice with noise)
 * come out smaller than raw, near-random byte planes are raw zstd blocks
 * (test_raw_planes); payloads that are cut, corrupted, claim
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

/* The blocks of zstd frame f (RFC 8878): content bytes in raw blocks and
 * in all blocks; false if the frame does not parse. */
static bool frame_blocks(const uint8_t *f, size_t len, size_t *raw, size_t *total)
{
    static const size_t did[4] = {0, 1, 2, 4}, fcs[4] = {0, 2, 4, 8};
    if (len < 6)
        return false;
    uint8_t fhd = f[4];
    bool single = (fhd >> 5) & 1;
    size_t k = 5 + (single ? 0 : 1) + did[fhd & 3] + ((fhd >> 6) == 0 ? single : fcs[fhd >> 6]);
    *raw = *total = 0;
    for (;;) {
        if (k + 3 > len)
            return false;
        uint32_t h = (uint32_t)f[k] | (uint32_t)f[k + 1] << 8 | (uint32_t)f[k + 2] << 16;
        size_t size = h >> 3, type = (h >> 1) & 3;
        k += 3 + (type == 1 ? 1 : size); /* RLE: one byte, size times */
        if (type == 0)
            *raw += size;
        if (type != 2)
            *total += size;
        if (h & 1)
            break;
    }
    return k + ((fhd & 4) ? 4 : 0) == len;
}

/* Lossless byte planes near random are stored as raw zstd blocks, the rest
 * compressed, in one frame any zstd decoder reads (its checksum computed
 * here): all raw, a raw prefix, a raw suffix; decoded bit-exact, and a
 * changed raw byte fails the frame's checksum. */
static void test_raw_planes(struct pio__codec_scratch *s)
{
    const uint64_t n = 6000;
    uint32_t(*bits)[3] = malloc(n * 12), (*back)[3] = malloc(n * 12);
    size_t cap = pio__codec_bound(n), len = 0;
    uint8_t *buf = malloc(cap);
    for (int kind = 0; kind < 4; kind++) {
        /* frame 0 is coded as each word XOR the one before: random words
         * make every plane random; random low halves the low planes only;
         * random high halves the high planes only; smooth values none */
        for (uint64_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) {
                uint32_t r = (uint32_t)next_u64();
                bits[i][c] = kind == 0   ? r
                             : kind == 1 ? 0x3f800000u | (r & 0xffffu)
                             : kind == 2 ? (r & 0xffff0000u)
                                         : 0x3f800000u + (uint32_t)(i * 3 + (uint64_t)c) * 16u;
            }
        uint64_t bad;
        CHECK(pio__codec_encode(PIO__CODEC_LOSSLESS, (const float(*)[3])bits, n, 0, 0, buf, cap,
                                &len, &bad, s) == 0);
        size_t raw = 0, total = 0;
        CHECKF(frame_blocks(buf, len, &raw, &total) && (raw == 0 || total >= raw), "kind %d: frame",
               kind);
        size_t want = kind == 0 ? n * 12 : kind == 3 ? 0 : n * 6;
        CHECKF(raw == want, "kind %d: %zu raw bytes, not %zu", kind, raw, want);
        memset(back, 0xa5, n * 12);
        CHECK(pio__codec_decode(PIO__CODEC_LOSSLESS, buf, len, n, 0, (float(*)[3])back, s) == 0);
        CHECKF(memcmp(bits, back, n * 12) == 0, "kind %d: decoded differs", kind);
        if (raw) { /* a byte of a raw block (kind 2: the last block's) */
            size_t at = kind == 2 ? len - 100 : 100;
            buf[at] ^= 0x10;
            CHECKF(pio__codec_decode(PIO__CODEC_LOSSLESS, buf, len, n, 0, (float(*)[3])back, s) ==
                       PIO_ECORRUPT,
                   "kind %d: a changed raw byte decoded", kind);
        }
    }
    /* a payload of 12 MB: its window stays what a decoder must support
     * (8 MiB at most, RFC 8878 3.1.1.1.2), not the content's size */
    const uint64_t nb = 1000000;
    uint32_t(*big)[3] = malloc(nb * 12), (*bigback)[3] = malloc(nb * 12);
    for (uint64_t i = 0; i < nb; i++)
        for (int c = 0; c < 3; c++)
            big[i][c] = (uint32_t)next_u64() & (i % 2 ? 0xffffffffu : 0xffff0000u);
    size_t capb = pio__codec_bound(nb);
    uint8_t *bb = malloc(capb);
    uint64_t badb;
    CHECK(pio__codec_encode(PIO__CODEC_LOSSLESS, (const float(*)[3])big, nb, 0, 0, bb, capb, &len,
                            &badb, s) == 0);
    uint64_t wbase = (uint64_t)1 << (10 + (bb[5] >> 3)), window = wbase + wbase / 8 * (bb[5] & 7);
    CHECKF(!(bb[4] & 0x20) && window <= ((uint64_t)8 << 20), "descriptor %02x, window %llu", bb[4],
           (unsigned long long)window);
    CHECK(pio__codec_decode(PIO__CODEC_LOSSLESS, bb, len, nb, 0, (float(*)[3])bigback, s) == 0);
    CHECK(memcmp(big, bigback, nb * 12) == 0);
    /* an encode that fails (no room) leaves the scratch fit for the next */
    CHECK(pio__codec_encode(PIO__CODEC_LOSSLESS, (const float(*)[3])big, nb, 0, 0, bb, 200000, &len,
                            &badb, s) != 0);
    CHECK(pio__codec_encode(PIO__CODEC_LOSSLESS, (const float(*)[3])big, nb, 0, 0, bb, capb, &len,
                            &badb, s) == 0);
    CHECK(pio__codec_decode(PIO__CODEC_LOSSLESS, bb, len, nb, 0, (float(*)[3])bigback, s) == 0);
    free(big);
    free(bigback);
    free(bb);
    /* several frames: the planes span all of them */
    const uint32_t nf = 3;
    uint32_t(*fr)[3] = malloc(n * 12 * nf), (*fb)[3] = malloc(n * 12 * nf);
    for (uint64_t i = 0; i < n * nf; i++)
        for (int c = 0; c < 3; c++)
            fr[i][c] = (uint32_t)next_u64();
    const float(*in[3])[3] = {(const float(*)[3])fr, (const float(*)[3])(fr + n),
                              (const float(*)[3])(fr + 2 * n)};
    float(*const outp[3])[3] = {(float(*)[3])fb, (float(*)[3])(fb + n), (float(*)[3])(fb + 2 * n)};
    size_t cap3 = pio__codec_bound(n * nf);
    uint8_t *b3 = malloc(cap3);
    uint32_t badf;
    uint64_t bad;
    CHECK(pio__codec_encode_frames(PIO__CODEC_LOSSLESS, in, nf, n, 0, 0, b3, cap3, &len, &badf,
                                   &bad, s) == 0);
    CHECK(pio__codec_decode_frames(PIO__CODEC_LOSSLESS, b3, len, nf, n, 0, outp, s) == 0);
    CHECK(memcmp(fr, fb, n * 12 * nf) == 0);
    free(b3);
    free(fr);
    free(fb);
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
    test_raw_planes(&s);
    test_hostile(&s);
    pio__codec_scratch_free(&s);
    return TEST_RESULT();
}
