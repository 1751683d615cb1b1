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
    free(s->q);
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

static inline uint32_t zigzag(uint32_t d)
{
    return (d << 1) ^ (uint32_t)((int32_t)d >> 31);
}

static inline uint32_t unzigzag(uint32_t z)
{
    return (z >> 1) ^ (0u - (z & 1));
}

/* lossy: quantise; frame 0 predicted from the previous atom, each later
 * frame from the same atom in the frame before; zigzag. Word
 * (t * 3 + c) * n + i is coordinate c of atom i in frame t. */
static int lossy_forward(const float (*const *xyz)[3], uint32_t nf, size_t n, double precision,
                         uint8_t *sh, int32_t *q, uint32_t *bad_frame, uint64_t *bad)
{
    size_t m = 3 * n * nf;
    double inv = 1.0 / precision;
    for (uint32_t t = 0; t < nf; t++) {
        for (int c = 0; c < 3; c++) {
            int32_t *qc = q + (size_t)c * n;
            uint32_t prev = 0;
            size_t base = ((size_t)t * 3 + (size_t)c) * n;
            for (size_t i = 0; i < n; i++) {
                double v = nearbyint((double)xyz[t][i][c] * inv);
                if (!(fabs(v) <= (double)INT32_MAX)) { /* NaN and infinities too */
                    *bad_frame = t;
                    *bad = i;
                    return PIO_ELIMIT;
                }
                uint32_t u = (uint32_t)(int32_t)v;
                uint32_t d;
                if (t == 0) {
                    d = u - prev;
                    prev = u;
                } else {
                    d = u - (uint32_t)qc[i];
                }
                qc[i] = (int32_t)u;
                put_shuffled(sh, m, base + i, zigzag(d));
            }
        }
    }
    return 0;
}

static void lossy_inverse(const uint8_t *sh, uint32_t nf, size_t n, double precision,
                          float (*const *xyz)[3], int32_t *q)
{
    size_t m = 3 * n * nf;
    for (uint32_t t = 0; t < nf; t++) {
        for (int c = 0; c < 3; c++) {
            int32_t *qc = q + (size_t)c * n;
            size_t base = ((size_t)t * 3 + (size_t)c) * n;
            float(*out)[3] = xyz[t];
            if (t == 0) {
                uint32_t prev = 0;
                for (size_t i = 0; i < n; i++) {
                    prev += unzigzag(get_shuffled(sh, m, base + i));
                    qc[i] = (int32_t)prev;
                    out[i][c] = (float)((double)(int32_t)prev * precision);
                }
            } else {
                for (size_t i = 0; i < n; i++) {
                    uint32_t u = (uint32_t)qc[i] + unzigzag(get_shuffled(sh, m, base + i));
                    qc[i] = (int32_t)u;
                    out[i][c] = (float)((double)(int32_t)u * precision);
                }
            }
        }
    }
}

/* lossless: frame 0's bit patterns XOR the previous atom's, each later
 * frame's XOR the same atom's in the frame before. */
static void lossless_forward(const float (*const *xyz)[3], uint32_t nf, size_t n, uint8_t *sh)
{
    size_t m = 3 * n * nf;
    for (uint32_t t = 0; t < nf; t++) {
        for (int c = 0; c < 3; c++) {
            uint32_t prev = 0;
            size_t base = ((size_t)t * 3 + (size_t)c) * n;
            for (size_t i = 0; i < n; i++) {
                uint32_t u, p;
                memcpy(&u, &xyz[t][i][c], 4);
                if (t == 0) {
                    p = prev;
                    prev = u;
                } else {
                    memcpy(&p, &xyz[t - 1][i][c], 4);
                }
                put_shuffled(sh, m, base + i, u ^ p);
            }
        }
    }
}

static void lossless_inverse(const uint8_t *sh, uint32_t nf, size_t n, float (*const *xyz)[3])
{
    size_t m = 3 * n * nf;
    for (uint32_t t = 0; t < nf; t++) {
        for (int c = 0; c < 3; c++) {
            uint32_t prev = 0;
            size_t base = ((size_t)t * 3 + (size_t)c) * n;
            for (size_t i = 0; i < n; i++) {
                uint32_t w = get_shuffled(sh, m, base + i), u;
                if (t == 0) {
                    u = prev ^ w;
                    prev = u;
                } else {
                    uint32_t p;
                    memcpy(&p, &xyz[t - 1][i][c], 4);
                    u = p ^ w;
                }
                memcpy(&xyz[t][i][c], &u, 4);
            }
        }
    }
}

/* Room for the predictor's previous integers (3 n). */
static int32_t *scratch_q(struct pio__codec_scratch *s, size_t n)
{
    if (s->qcap < n * 3 || !s->q) {
        void *p = realloc(s->q, PIO_MAX(n * 3, (size_t)16) * sizeof(int32_t));
        if (!p)
            return NULL;
        s->q = p;
        s->qcap = PIO_MAX(n * 3, (size_t)16);
    }
    return s->q;
}

/* n atoms times nf frames, in bytes, if it fits a size_t. */
static bool block_bytes(uint64_t natoms, uint32_t nframes, size_t *bytes)
{
    if (nframes == 0 || natoms > SIZE_MAX / 12 / nframes)
        return false;
    *bytes = (size_t)natoms * 12 * nframes;
    return true;
}

int pio__codec_encode_frames(unsigned codec, const float (*const *xyz)[3], uint32_t nframes,
                             uint64_t natoms, double precision, int level, uint8_t *out, size_t cap,
                             size_t *len, uint32_t *bad_frame, uint64_t *bad,
                             struct pio__codec_scratch *s)
{
    if (codec != PIO__CODEC_LOSSY && codec != PIO__CODEC_LOSSLESS)
        return PIO_EUSAGE;
    if (codec == PIO__CODEC_LOSSY && !(precision > 0 && isfinite(precision)))
        return PIO_EUSAGE;
    size_t n = (size_t)natoms, bytes;
    if (!block_bytes(natoms, nframes, &bytes))
        return PIO_ELIMIT;
    uint8_t *sh = scratch_get(s, bytes);
    if (!sh)
        return -ENOMEM;
    if (codec == PIO__CODEC_LOSSY) {
        int32_t *q = scratch_q(s, n);
        if (!q)
            return -ENOMEM;
        int rc = lossy_forward(xyz, nframes, n, precision, sh, q, bad_frame, bad);
        if (rc != 0)
            return rc;
    } else {
        lossless_forward(xyz, nframes, n, sh);
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
    if (ZSTD_isError(r)) /* cap under the bound, or zstd out of memory */
        return cap < ZSTD_compressBound(bytes) ? PIO_EUSAGE : -ENOMEM;
    *len = r;
    return 0;
}

bool pio__codec_frames_ok(const uint8_t *in, size_t len, uint32_t nframes, uint64_t natoms)
{
    size_t bytes;
    if (!block_bytes(natoms, nframes, &bytes))
        return false;
    if (bytes > ((size_t)64 << 20) && bytes / 1024 > len)
        return false;
    /* one frame, of that content size, carrying its content checksum (bit
     * 2 of the frame header descriptor after the 4-byte magic, RFC 8878) */
    return len > 4 && (in[4] & 0x04) &&
           ZSTD_getFrameContentSize(in, len) == (unsigned long long)bytes &&
           ZSTD_findFrameCompressedSize(in, len) == len;
}

int pio__codec_decode_frames(unsigned codec, const uint8_t *in, size_t len, uint32_t nframes,
                             uint64_t natoms, double precision, float (*const *dst)[3],
                             struct pio__codec_scratch *s)
{
    if (codec != PIO__CODEC_LOSSY && codec != PIO__CODEC_LOSSLESS)
        return PIO_ECORRUPT;
    if (codec == PIO__CODEC_LOSSY && !(precision > 0 && isfinite(precision)))
        return PIO_ECORRUPT;
    size_t n = (size_t)natoms, bytes;
    /* one frame, of exactly the size the atom count says, before anything
     * is allocated or written */
    if (!pio__codec_frames_ok(in, len, nframes, natoms) || !block_bytes(natoms, nframes, &bytes))
        return PIO_ECORRUPT;
    uint8_t *sh = scratch_get(s, bytes);
    int32_t *q = codec == PIO__CODEC_LOSSY ? scratch_q(s, n) : NULL;
    if (!sh || (codec == PIO__CODEC_LOSSY && !q))
        return -ENOMEM;
    if (!s->dctx && !(s->dctx = ZSTD_createDCtx()))
        return -ENOMEM;
    size_t r = ZSTD_decompressDCtx(s->dctx, sh, bytes, in, len);
    if (ZSTD_isError(r) || r != bytes)
        return PIO_ECORRUPT;
    if (codec == PIO__CODEC_LOSSY)
        lossy_inverse(sh, nframes, n, precision, dst, q);
    else
        lossless_inverse(sh, nframes, n, dst);
    return 0;
}
