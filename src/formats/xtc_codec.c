/*
 * convert: the XTC coordinate codec (GROMACS "xdr3dfcoord"), written from
 * the format's description (../shared/reference/formats.md).
 *
 * Coordinates are quantised to integers (x * precision, rounded half away
 * from zero), the frame's integer bounding box is sent, and atoms are
 * packed into a bit stream: each "large" atom as three integers relative
 * to the minimum (mixed radix, or one bit field each when a range exceeds
 * 24 bits), optionally followed by a run of "small" atoms sent as deltas
 * from the previous atom in a mixed radix of magicints[smallidx]; a 5-bit
 * code changes the run length and moves smallidx up or down. The first two
 * atoms of a run are swapped (water: O then H is cheaper as H then O).
 *
 * The bit stream: values are written as little-endian bytes, each byte's
 * bits most significant first, the last byte only as wide as needed.
 * Decoding multiplies the integer by (1.0f / precision) in single
 * precision, as GROMACS does, so values are bit-identical.
 *
 * Every read is bounds-checked and every index is validated: hostile input
 * gives an error, never an out-of-range access.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/xtc_codec.h"

#include "common/pio_common.h"

static const int32_t magicints[] = {
    0,        0,        0,       0,       0,       0,       0,       0,       0,       8,
    10,       12,       16,      20,      25,      32,      40,      50,      64,      80,
    101,      128,      161,     203,     256,     322,     406,     512,     645,     812,
    1024,     1290,     1625,    2048,    2580,    3250,    4096,    5060,    6501,    8192,
    10321,    13003,    16384,   20642,   26007,   32768,   41285,   52015,   65536,   82570,
    104031,   131072,   165140,  208063,  262144,  330280,  416127,  524287,  660561,  832255,
    1048576,  1321122,  1664510, 2097152, 2642245, 3329021, 4194304, 5284491, 6658042, 8388607,
    10568983, 13316085, 16777216};

#define FIRSTIDX 9
#define LASTIDX  ((int)PIO_ARRAY_LEN(magicints))
#define MAXABS   ((float)(INT_MAX - 2))

typedef unsigned __int128 u128;

static int bitlen128(u128 v)
{
    int n = 0;
    while (v) {
        n++;
        v >>= 1;
    }
    return n;
}

/* Sizes of the integer box: one mixed-radix field (*bitsize bits) when
 * every range fits 24 bits, else one bit field per axis (*bitsize 0).
 * false when a range is empty or wider than 32 bits. */
static bool box_sizes(const int32_t minint[3], const int32_t maxint[3], uint32_t sizeint[3],
                      uint32_t bitsizeint[3], int *bitsize)
{
    for (int k = 0; k < 3; k++) {
        int64_t range = (int64_t)maxint[k] - minint[k] + 1;
        if (range <= 0 || range > UINT32_MAX)
            return false;
        sizeint[k] = (uint32_t)range;
        bitsizeint[k] = 0;
    }
    *bitsize = 0;
    if ((sizeint[0] | sizeint[1] | sizeint[2]) > 0xffffff) {
        for (int k = 0; k < 3; k++)
            bitsizeint[k] = (uint32_t)bitlen128(sizeint[k]);
    } else {
        *bitsize = bitlen128((u128)sizeint[0] * sizeint[1] * sizeint[2]);
    }
    return true;
}

/* ---- bit reader ---------------------------------------------------------------- */

/* Bits are taken most significant first from a 64-bit accumulator refilled
 * a byte at a time; past the end it is fed zeros, and `left` (real bits
 * not yet consumed) catches any read beyond the data. */
struct bits_in {
    const uint8_t *p, *end;
    uint64_t acc, left;
    int nacc;
    bool bad;
};

static inline void refill(struct bits_in *b)
{
    if (PIO_LIKELY(b->end - b->p >= 8)) {
        /* whole bytes that fit above the nacc (<= 55) bits held: 1..7 */
        int k = (63 - b->nacc) >> 3;
        uint64_t w;
        memcpy(&w, b->p, 8);
        w = __builtin_bswap64(w); /* the stream's next byte on top */
        b->acc = b->acc << (8 * k) | w >> (64 - 8 * k);
        b->p += k;
        b->nacc += 8 * k;
        return;
    }
    while (b->nacc <= 56) {
        b->acc = b->acc << 8 | (b->p < b->end ? *b->p++ : 0u);
        b->nacc += 8;
    }
}

/* The next n (0..56) bits. */
static inline uint64_t getbits(struct bits_in *b, int n)
{
    if (PIO_UNLIKELY((uint64_t)n > b->left)) {
        b->bad = true;
        b->left = 0;
        return 0;
    }
    if (b->nacc < n)
        refill(b);
    b->nacc -= n;
    b->left -= (uint64_t)n;
    return n ? (b->acc >> b->nacc) & (~0ull >> (64 - n)) : 0;
}

/* Division by a divisor d <= 2^24 fixed for many values, as a multiply:
 * with l = ceil(log2 d) and m = ceil(2^(56+l) / d), n / d is
 * (n * m) >> (56 + l) for every n < 2^56 (the error m * d - 2^(56+l) is
 * below d <= 2^l; Granlund and Montgomery, PLDI 1994, theorem 4.2). */
struct recip {
    uint64_t m;
    int shift;
};

static void recip_init(struct recip *r, uint32_t d)
{
    int l = d > 1 ? bitlen128(d - 1) : 0;
    u128 one = (u128)1 << (56 + l);
    r->m = (uint64_t)(one / d + (one % d != 0));
    r->shift = 56 + l;
}

static inline uint64_t recip_div(const struct recip *r, uint64_t n)
{
    return (uint64_t)(((u128)n * r->m) >> r->shift);
}

/* Three integers packed in a mixed radix of sizes[] over nbits bits: the
 * value's bytes least significant first, each byte's bits most significant
 * first, the last byte only as wide as needed. rc[k] divides by sizes[k]
 * (k = 1, 2) for values below 2^56. */
static inline void getints(struct bits_in *b, int nbits, const uint32_t sizes[3],
                           const struct recip rc[3], uint32_t out[3])
{
    if (PIO_LIKELY(nbits <= 56)) {
        int q = nbits >> 3, r = nbits & 7;
        uint64_t w = getbits(b, nbits);
        uint64_t v = q ? __builtin_bswap64((w >> r) << (64 - 8 * q)) : 0;
        v |= (w & ((1u << r) - 1)) << (8 * q);
        uint64_t v2 = recip_div(&rc[2], v);
        out[2] = (uint32_t)(v - v2 * sizes[2]);
        uint64_t v1 = recip_div(&rc[1], v2);
        out[1] = (uint32_t)(v2 - v1 * sizes[1]);
        out[0] = (uint32_t)v1;
        return;
    }
    u128 v = 0;
    for (int k = 0; nbits > 0; k++) {
        int c = nbits < 8 ? nbits : 8;
        v |= (u128)getbits(b, c) << (8 * k);
        nbits -= c;
    }
    out[2] = (uint32_t)(v % sizes[2]);
    v /= sizes[2];
    out[1] = (uint32_t)(v % sizes[1]);
    v /= sizes[1];
    out[0] = (uint32_t)v;
}

int pio__xtc_decode_coords(struct xdr_in *x, uint32_t natoms, bool large, float *out,
                           float *prec_out, const char **why)
{
    if (natoms <= 9) {
        for (uint32_t i = 0; i < natoms * 3; i++)
            out[i] = xdr_f32(x);
        *prec_out = 0;
        if (x->bad)
            return *why = "truncated coordinates", PIO_ETRUNCATED;
        return 0;
    }
    float precision = xdr_f32(x);
    int32_t minint[3], maxint[3];
    for (int k = 0; k < 3; k++)
        minint[k] = xdr_i32(x);
    for (int k = 0; k < 3; k++)
        maxint[k] = xdr_i32(x);
    int32_t smallidx = xdr_i32(x);
    uint64_t nbytes = large ? xdr_u64(x) : xdr_u32(x);
    if (x->bad)
        return *why = "truncated coordinate header", PIO_ETRUNCATED;
    *prec_out = precision;
    if (!(precision > 0) || !isfinite(precision))
        return *why = "precision is not a positive number", PIO_ECORRUPT;
    uint32_t sizeint[3], bitsizeint[3];
    int bitsize;
    if (!box_sizes(minint, maxint, sizeint, bitsizeint, &bitsize))
        return *why = "bounding box of the integers is inverted", PIO_ECORRUPT;
    if (smallidx < FIRSTIDX || smallidx >= LASTIDX)
        return *why = "small-integer index out of range", PIO_ECORRUPT;
    /* each atom costs at least one bit: a hostile count cannot make us
     * allocate or walk more than the bytes that are there */
    if (nbytes > x->len - x->pos || nbytes > UINT64_MAX / 8)
        return *why = "packed coordinates run past the end", PIO_ETRUNCATED;
    const uint8_t *packed = xdr_opaque(x, nbytes);
    if (!packed)
        return *why = "packed coordinates run past the end", PIO_ETRUNCATED;

    struct bits_in b = {packed, packed + nbytes, 0, nbytes * 8, 0, false};
    float inv = 1.0f / precision;
    int32_t smaller = magicints[PIO_MAX(FIRSTIDX, smallidx - 1)] / 2;
    int32_t smallnum = magicints[smallidx] / 2;
    uint32_t sizesmall[3] = {(uint32_t)magicints[smallidx], (uint32_t)magicints[smallidx],
                             (uint32_t)magicints[smallidx]};
    struct recip rcbox[3] = {{0, 0}, {0, 0}, {0, 0}};
    if (bitsize > 0)
        for (int k = 1; k < 3; k++)
            recip_init(&rcbox[k], sizeint[k]);
    /* reciprocals of the magic ints, made when an index is first used */
    struct recip rcmagic[LASTIDX];
    uint64_t have[2] = {0, 0};
    uint32_t i = 0;
    int run = 0;
    float *o = out;
    while (i < natoms) {
        uint32_t u[3];
        if (bitsize == 0) {
            for (int k = 0; k < 3; k++)
                u[k] = (uint32_t)getbits(&b, (int)bitsizeint[k]);
        } else {
            getints(&b, bitsize, sizeint, rcbox, u);
        }
        i++;
        /* unsigned: wraps instead of overflowing on hostile input */
        int32_t prev[3];
        for (int k = 0; k < 3; k++)
            prev[k] = (int32_t)(u[k] + (uint32_t)minint[k]);
        int is_smaller = 0;
        if (getbits(&b, 1)) {
            run = (int)getbits(&b, 5);
            is_smaller = run % 3;
            run -= is_smaller;
            is_smaller--;
        }
        if (b.bad)
            return *why = "packed coordinates end early", PIO_ECORRUPT;
        if (run > 0) {
            if ((uint32_t)(run / 3) > natoms - i)
                return *why = "a run of atoms goes past the atom count", PIO_ECORRUPT;
            if (!(have[smallidx >> 6] >> (smallidx & 63) & 1)) {
                recip_init(&rcmagic[smallidx], sizesmall[0]);
                have[smallidx >> 6] |= 1ull << (smallidx & 63);
            }
            const struct recip *rs = &rcmagic[smallidx];
            const struct recip rcs[3] = {*rs, *rs, *rs};
            for (int k = 0; k < run; k += 3) {
                uint32_t d[3];
                getints(&b, smallidx, sizesmall, rcs, d);
                i++;
                int32_t cur[3];
                for (int c = 0; c < 3; c++)
                    cur[c] = (int32_t)(d[c] + (uint32_t)prev[c] - (uint32_t)smallnum);
                if (k == 0) { /* the encoder swapped the first two atoms */
                    for (int c = 0; c < 3; c++) {
                        int32_t t = cur[c];
                        cur[c] = prev[c];
                        prev[c] = t;
                    }
                    for (int c = 0; c < 3; c++)
                        *o++ = (float)prev[c] * inv;
                } else {
                    memcpy(prev, cur, sizeof(prev));
                }
                for (int c = 0; c < 3; c++)
                    *o++ = (float)cur[c] * inv;
            }
        } else {
            for (int c = 0; c < 3; c++)
                *o++ = (float)prev[c] * inv;
        }
        smallidx += is_smaller;
        if (smallidx < FIRSTIDX || smallidx >= LASTIDX)
            return *why = "small-integer index leaves its table", PIO_ECORRUPT;
        if (is_smaller < 0) {
            smallnum = smaller;
            smaller = smallidx > FIRSTIDX ? magicints[smallidx - 1] / 2 : 0;
        } else if (is_smaller > 0) {
            smaller = smallnum;
            smallnum = magicints[smallidx] / 2;
        }
        sizesmall[0] = sizesmall[1] = sizesmall[2] = (uint32_t)magicints[smallidx];
    }
    if (b.bad)
        return *why = "packed coordinates end early", PIO_ECORRUPT;
    return 0;
}

/* ---- encoder --------------------------------------------------------------------- */

struct bits_out {
    uint8_t *p;
    uint64_t cap, nbits;
};

static inline void putbits(struct bits_out *b, int n, uint32_t v)
{
    for (int k = n - 1; k >= 0; k--) {
        uint64_t byte = b->nbits >> 3;
        if ((v >> k) & 1)
            b->p[byte] |= (uint8_t)(0x80u >> (b->nbits & 7));
        b->nbits++;
    }
}

static inline void putints(struct bits_out *b, int nbits, const uint32_t sizes[3],
                           const uint32_t nums[3])
{
    u128 v = ((u128)nums[0] * sizes[1] + nums[1]) * sizes[2] + nums[2];
    for (int k = 0; nbits > 0; k++) {
        int c = nbits < 8 ? nbits : 8;
        putbits(b, c, (uint32_t)(v >> (8 * k)) & ((1u << c) - 1));
        nbits -= c;
    }
}

/* |a - b| without overflow (the operands may span the whole int range). */
static inline int64_t adiff(int32_t a, int32_t b)
{
    int64_t d = (int64_t)a - b;
    return d < 0 ? -d : d;
}

int pio__xtc_encode_coords(struct xdr_out *o, const float *xyz, uint32_t natoms, float precision,
                           bool large, int32_t *ints, const char **why)
{
    if (natoms <= 9) {
        for (uint32_t i = 0; i < natoms * 3; i++)
            xdr_put_f32(o, xyz[i]);
        return o->oom ? -ENOMEM : 0;
    }
    if (!(precision > 0) || !isfinite(precision))
        return *why = "precision must be a positive number", PIO_EUSAGE;
    int32_t minint[3] = {INT_MAX, INT_MAX, INT_MAX}, maxint[3] = {INT_MIN, INT_MIN, INT_MIN};
    int32_t mindiff = INT_MAX, old[3] = {0, 0, 0};
    for (uint32_t i = 0; i < natoms; i++) {
        for (int k = 0; k < 3; k++) {
            float x = xyz[i * 3 + k];
            /* as GROMACS: float product, then +-0.5 in double, stored as float */
            float lf = x >= 0.0f ? (float)((double)(x * precision) + 0.5)
                                 : (float)((double)(x * precision) - 0.5);
            if (!(fabsf(lf) <= MAXABS))
                return *why = "a coordinate is too large (or not a number) for the precision",
                       PIO_ELIMIT;
            int32_t v = (int32_t)lf;
            ints[i * 3 + k] = v;
            minint[k] = PIO_MIN(minint[k], v);
            maxint[k] = PIO_MAX(maxint[k], v);
        }
        int64_t diff = 0;
        for (int k = 0; k < 3; k++)
            diff += llabs((long long)old[k] - ints[i * 3 + k]);
        if (i > 0 && diff < mindiff)
            mindiff = (int32_t)diff;
        memcpy(old, ints + i * 3, sizeof(old));
    }
    uint32_t sizeint[3], bitsizeint[3];
    int bitsize;
    if (!box_sizes(minint, maxint, sizeint, bitsizeint, &bitsize))
        return *why = "coordinates span too wide a range for the precision", PIO_ELIMIT;
    int smallidx = FIRSTIDX;
    while (smallidx < LASTIDX && magicints[smallidx] < mindiff)
        smallidx++;
    xdr_put_f32(o, precision);
    for (int k = 0; k < 3; k++)
        xdr_put_i32(o, minint[k]);
    for (int k = 0; k < 3; k++)
        xdr_put_i32(o, maxint[k]);
    xdr_put_i32(o, smallidx);

    int maxidx = PIO_MIN(LASTIDX, smallidx + 8), minidx = maxidx - 8;
    int32_t smaller = magicints[PIO_MAX(FIRSTIDX, smallidx - 1)] / 2;
    int32_t smallnum = magicints[smallidx] / 2;
    uint32_t sizesmall[3] = {(uint32_t)magicints[smallidx], (uint32_t)magicints[smallidx],
                             (uint32_t)magicints[smallidx]};
    int32_t larger = magicints[maxidx < LASTIDX ? maxidx : LASTIDX - 1] / 2;
    /* worst case: every atom large (at most 3 x 32 bits + 6 flag bits) */
    uint64_t cap = (uint64_t)natoms * 16 + 16;
    struct bits_out b = {calloc(1, (size_t)cap), cap, 0};
    if (!b.p)
        return -ENOMEM;
    int32_t prev[3] = {0, 0, 0};
    int prevrun = -1;
    uint32_t i = 0;
    while (i < natoms) {
        int32_t *t = ints + (uint64_t)i * 3;
        int is_small = 0, is_smaller;
        if (smallidx < maxidx && i >= 1 && adiff(t[0], prev[0]) < larger &&
            adiff(t[1], prev[1]) < larger && adiff(t[2], prev[2]) < larger)
            is_smaller = 1;
        else if (smallidx > minidx)
            is_smaller = -1;
        else
            is_smaller = 0;
        if (i + 1 < natoms && adiff(t[0], t[3]) < smallnum && adiff(t[1], t[4]) < smallnum &&
            adiff(t[2], t[5]) < smallnum) {
            for (int k = 0; k < 3; k++) { /* swap the first two atoms (water) */
                int32_t s = t[k];
                t[k] = t[k + 3];
                t[k + 3] = s;
            }
            is_small = 1;
        }
        uint32_t tmp[3];
        for (int k = 0; k < 3; k++)
            tmp[k] = (uint32_t)t[k] - (uint32_t)minint[k];
        if (bitsize == 0) {
            for (int k = 0; k < 3; k++)
                putbits(&b, (int)bitsizeint[k], tmp[k]);
        } else {
            putints(&b, bitsize, sizeint, tmp);
        }
        memcpy(prev, t, sizeof(prev));
        t += 3;
        i++;
        int run = 0;
        uint32_t deltas[8 * 3];
        if (!is_small && is_smaller == -1)
            is_smaller = 0;
        while (is_small && run < 8 * 3) {
            int64_t d2 = 0;
            for (int k = 0; k < 3; k++)
                d2 += ((int64_t)t[k] - prev[k]) * ((int64_t)t[k] - prev[k]);
            if (is_smaller == -1 && d2 >= (int64_t)smaller * smaller)
                is_smaller = 0;
            for (int k = 0; k < 3; k++)
                deltas[run++] = (uint32_t)((int64_t)t[k] - prev[k] + smallnum);
            memcpy(prev, t, sizeof(prev));
            i++;
            t += 3;
            is_small = 0;
            if (i < natoms && adiff(t[0], prev[0]) < smallnum && adiff(t[1], prev[1]) < smallnum &&
                adiff(t[2], prev[2]) < smallnum)
                is_small = 1;
        }
        if (run != prevrun || is_smaller != 0) {
            prevrun = run;
            putbits(&b, 1, 1);
            putbits(&b, 5, (uint32_t)(run + is_smaller + 1));
        } else {
            putbits(&b, 1, 0);
        }
        for (int k = 0; k < run; k += 3)
            putints(&b, smallidx, sizesmall, deltas + k);
        if (is_smaller != 0) {
            smallidx += is_smaller;
            if (is_smaller == -1) {
                smallnum = smaller;
                smaller = magicints[smallidx - 1] / 2;
            } else {
                smaller = smallnum;
                smallnum = magicints[smallidx] / 2;
            }
            sizesmall[0] = sizesmall[1] = sizesmall[2] = (uint32_t)magicints[smallidx];
        }
    }
    uint64_t nbytes = (b.nbits + 7) / 8;
    if (large)
        xdr_put_u64(o, nbytes);
    else
        xdr_put_u32(o, (uint32_t)nbytes);
    xdr_put_opaque(o, b.p, nbytes);
    free(b.p);
    (void)why;
    return o->oom ? -ENOMEM : 0;
}
