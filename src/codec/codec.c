/*
 * codec: lossy and lossless coding of xyz float triples through zstd (see
 * pio_codec.h for what each does and what a payload is).
 *
 * Both transforms write their 32-bit words straight into byte-shuffled
 * order (byte b of word k at b * 3n + k: the high bytes of small
 * differences, mostly zero, end up together, which is what zstd compresses
 * well), and read them back the same way.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "codec/pio_codec.h"

#include "common/pio_common.h"

bool pio__codec_built(void)
{
    return true;
}

void pio__codec_scratch_free(struct pio__codec_scratch *s)
{
    free(s->buf);
    ZSTD_freeCCtx(s->cctx);
    ZSTD_freeDCtx(s->dctx);
    memset(s, 0, sizeof(*s));
}

size_t pio__codec_bound(uint64_t natoms)
{
    return ZSTD_compressBound((size_t)(natoms * 12));
}

static uint8_t *scratch_get(struct pio__codec_scratch *s, size_t n)
{
    if (s->cap < n || !s->buf) {
        void *p = realloc(s->buf, PIO_MAX(n, (size_t)64));
        if (!p)
            return NULL;
        s->buf = p;
        s->cap = PIO_MAX(n, (size_t)64);
    }
    return s->buf;
}

static inline void put_shuffled(uint8_t *sh, size_t m, size_t k, uint32_t v)
{
    sh[k] = (uint8_t)v;
    sh[m + k] = (uint8_t)(v >> 8);
    sh[2 * m + k] = (uint8_t)(v >> 16);
    sh[3 * m + k] = (uint8_t)(v >> 24);
}

static inline uint32_t get_shuffled(const uint8_t *sh, size_t m, size_t k)
{
    return (uint32_t)sh[k] | (uint32_t)sh[m + k] << 8 | (uint32_t)sh[2 * m + k] << 16 |
           (uint32_t)sh[3 * m + k] << 24;
}

/* lossy: quantise, predict from the previous atom, zigzag. */
static int lossy_forward(const float (*xyz)[3], size_t n, double precision, uint8_t *sh,
                         uint64_t *bad)
{
    size_t m = 3 * n;
    double inv = 1.0 / precision;
    for (int c = 0; c < 3; c++) {
        uint32_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            double q = nearbyint((double)xyz[i][c] * inv);
            if (!(fabs(q) <= (double)INT32_MAX)) { /* NaN and infinities too */
                *bad = i;
                return PIO_ELIMIT;
            }
            uint32_t u = (uint32_t)(int32_t)q;
            uint32_t d = u - prev;
            prev = u;
            put_shuffled(sh, m, (size_t)c * n + i, (d << 1) ^ (uint32_t)((int32_t)d >> 31));
        }
    }
    return 0;
}

static void lossy_inverse(const uint8_t *sh, size_t n, double precision, float (*xyz)[3])
{
    size_t m = 3 * n;
    for (int c = 0; c < 3; c++) {
        uint32_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t z = get_shuffled(sh, m, (size_t)c * n + i);
            prev += (z >> 1) ^ (0u - (z & 1));
            xyz[i][c] = (float)((double)(int32_t)prev * precision);
        }
    }
}

/* lossless: each plane's bit patterns XOR the previous atom's. */
static void lossless_forward(const float (*xyz)[3], size_t n, uint8_t *sh)
{
    size_t m = 3 * n;
    for (int c = 0; c < 3; c++) {
        uint32_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &xyz[i][c], 4);
            put_shuffled(sh, m, (size_t)c * n + i, u ^ prev);
            prev = u;
        }
    }
}

static void lossless_inverse(const uint8_t *sh, size_t n, float (*xyz)[3])
{
    size_t m = 3 * n;
    for (int c = 0; c < 3; c++) {
        uint32_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            prev ^= get_shuffled(sh, m, (size_t)c * n + i);
            memcpy(&xyz[i][c], &prev, 4);
        }
    }
}

int pio__codec_encode(unsigned codec, const float (*xyz)[3], uint64_t natoms, double precision,
                      int level, uint8_t *out, size_t cap, size_t *len, uint64_t *bad,
                      struct pio__codec_scratch *s)
{
    if (codec != PIO__CODEC_LOSSY && codec != PIO__CODEC_LOSSLESS)
        return PIO_EUSAGE;
    if (codec == PIO__CODEC_LOSSY && !(precision > 0 && isfinite(precision)))
        return PIO_EUSAGE;
    size_t n = (size_t)natoms, bytes = n * 12;
    uint8_t *sh = scratch_get(s, bytes);
    if (!sh)
        return -ENOMEM;
    if (codec == PIO__CODEC_LOSSY) {
        int rc = lossy_forward(xyz, n, precision, sh, bad);
        if (rc != 0)
            return rc;
    } else {
        lossless_forward(xyz, n, sh);
    }
    if (!s->cctx) {
        if (!(s->cctx = ZSTD_createCCtx()))
            return -ENOMEM;
        /* a checksum of the content in the frame: a payload changed after
         * it was written fails to decode even where its record's hash was
         * made to match */
        ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_checksumFlag, 1);
    }
    ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_compressionLevel, level ? level : 3);
    size_t r = ZSTD_compress2(s->cctx, out, cap, sh, bytes);
    if (ZSTD_isError(r)) /* cap under pio__codec_bound, or zstd out of memory */
        return cap < ZSTD_compressBound(bytes) ? PIO_EUSAGE : -ENOMEM;
    *len = r;
    return 0;
}

bool pio__codec_payload_ok(const uint8_t *in, size_t len, uint64_t natoms)
{
    if (natoms > SIZE_MAX / 12)
        return false;
    size_t bytes = (size_t)natoms * 12;
    if (bytes > ((size_t)64 << 20) && bytes / 1024 > len)
        return false;
    return ZSTD_getFrameContentSize(in, len) == (unsigned long long)bytes &&
           ZSTD_findFrameCompressedSize(in, len) == len;
}

int pio__codec_decode(unsigned codec, const uint8_t *in, size_t len, uint64_t natoms,
                      double precision, float (*dst)[3], struct pio__codec_scratch *s)
{
    if (codec != PIO__CODEC_LOSSY && codec != PIO__CODEC_LOSSLESS)
        return PIO_ECORRUPT;
    if (codec == PIO__CODEC_LOSSY && !(precision > 0 && isfinite(precision)))
        return PIO_ECORRUPT;
    size_t n = (size_t)natoms, bytes = n * 12;
    /* one frame, of exactly the size the atom count says, before anything
     * is allocated or written */
    if (!pio__codec_payload_ok(in, len, natoms))
        return PIO_ECORRUPT;
    uint8_t *sh = scratch_get(s, bytes);
    if (!sh)
        return -ENOMEM;
    if (!s->dctx && !(s->dctx = ZSTD_createDCtx()))
        return -ENOMEM;
    size_t r = ZSTD_decompressDCtx(s->dctx, sh, bytes, in, len);
    if (ZSTD_isError(r) || r != bytes)
        return PIO_ECORRUPT;
    if (codec == PIO__CODEC_LOSSY)
        lossy_inverse(sh, n, precision, dst);
    else
        lossless_inverse(sh, n, dst);
    return 0;
}
