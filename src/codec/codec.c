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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* Words k0 .. k0 + n - 1 of a shuffled buffer (planes of m bytes) into
 * w, 16 at a time where SSE2 is there (x86-64 always has it). */
static void unshuffle(const uint8_t *sh, size_t m, size_t k0, size_t n, uint32_t *restrict w)
{
    const uint8_t *restrict p0 = sh + k0, *restrict p1 = p0 + m, *restrict p2 = p1 + m,
                            *restrict p3 = p2 + m;
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p0 + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p1 + i));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p2 + i));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(p3 + i));
        __m128i ablo = _mm_unpacklo_epi8(a, b), abhi = _mm_unpackhi_epi8(a, b);
        __m128i cdlo = _mm_unpacklo_epi8(c, d), cdhi = _mm_unpackhi_epi8(c, d);
        _mm_storeu_si128((__m128i *)(void *)(w + i), _mm_unpacklo_epi16(ablo, cdlo));
        _mm_storeu_si128((__m128i *)(void *)(w + i + 4), _mm_unpackhi_epi16(ablo, cdlo));
        _mm_storeu_si128((__m128i *)(void *)(w + i + 8), _mm_unpacklo_epi16(abhi, cdhi));
        _mm_storeu_si128((__m128i *)(void *)(w + i + 12), _mm_unpackhi_epi16(abhi, cdhi));
    }
#endif
    for (; i < n; i++)
        w[i] =
            (uint32_t)p0[i] | (uint32_t)p1[i] << 8 | (uint32_t)p2[i] << 16 | (uint32_t)p3[i] << 24;
}

#define CHUNK 512 /* atoms unshuffled at a time: 6 KiB of words, in L1 */

/* Frame t's words of atoms i0 .. i0 + CHUNK - 1 (fewer at the end), each
 * coordinate's into w[c]: how many atoms. */
static size_t chunk_words(const uint8_t *sh, uint32_t nf, size_t n, uint32_t t, size_t i0,
                          uint32_t (*w)[CHUNK])
{
    size_t len = PIO_MIN((size_t)CHUNK, n - i0), m = 3 * n * nf;
    for (int c = 0; c < 3; c++)
        unshuffle(sh, m, ((size_t)t * 3 + (size_t)c) * n + i0, len, w[c]);
    return len;
}

/* q: 3 n previous integers. Each frame is taken CHUNK atoms at a time,
 * its three coordinates' words unshuffled first, then written out in one
 * pass over the atoms. */
static void lossy_inverse(const uint8_t *sh, uint32_t nf, size_t n, double precision,
                          float (*const *xyz)[3], int32_t *q)
{
    uint32_t w[3][CHUNK];
    for (uint32_t t = 0; t < nf; t++) {
        float(*out)[3] = xyz[t];
        uint32_t prev[3] = {0, 0, 0};
        for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
            size_t len = chunk_words(sh, nf, n, t, i0, w);
            for (int c = 0; c < 3; c++) {
                int32_t *qc = q + (size_t)c * n + i0;
                if (t == 0) {
                    uint32_t u = prev[c];
                    for (size_t i = 0; i < len; i++) {
                        u += unzigzag(w[c][i]);
                        qc[i] = (int32_t)u;
                    }
                    prev[c] = u;
                } else {
                    for (size_t i = 0; i < len; i++)
                        qc[i] = (int32_t)((uint32_t)qc[i] + unzigzag(w[c][i]));
                }
            }
            const int32_t *q0 = q + i0, *q1 = q + n + i0, *q2 = q + 2 * n + i0;
            for (size_t i = 0; i < len; i++) {
                out[i0 + i][0] = (float)((double)q0[i] * precision);
                out[i0 + i][1] = (float)((double)q1[i] * precision);
                out[i0 + i][2] = (float)((double)q2[i] * precision);
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
    uint32_t w[3][CHUNK];
    for (uint32_t t = 0; t < nf; t++) {
        float(*out)[3] = xyz[t];
        uint32_t prev[3] = {0, 0, 0};
        for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
            size_t len = chunk_words(sh, nf, n, t, i0, w);
            if (t == 0) {
                for (int c = 0; c < 3; c++) {
                    uint32_t u = prev[c];
                    for (size_t i = 0; i < len; i++)
                        w[c][i] = u ^= w[c][i];
                    prev[c] = u;
                }
            } else {
                const float(*before)[3] = xyz[t - 1];
                for (size_t i = 0; i < len; i++) {
                    uint32_t p[3];
                    memcpy(p, before[i0 + i], 12);
                    w[0][i] ^= p[0];
                    w[1][i] ^= p[1];
                    w[2][i] ^= p[2];
                }
            }
            for (size_t i = 0; i < len; i++) {
                uint32_t u[3] = {w[0][i], w[1][i], w[2][i]};
                memcpy(out[i0 + i], u, 12);
            }
        }
    }
}

/* ---- zstd frames with raw blocks ----
 *
 * A byte plane that is close to random (the low mantissa bytes of
 * lossless floats) gains almost nothing from zstd's entropy coding and is
 * what costs most to decode.
 * Such planes are written as raw zstd blocks (RFC 8878 3.1.1.2: the
 * decoder copies them), the other planes compressed as one span in the
 * same frame: still one zstd frame with its content size and checksum,
 * which any zstd decoder reads. */

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}
static inline uint64_t rd64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = v << 8 | p[k];
    return v;
}
static inline uint64_t xxh_round(uint64_t acc, uint64_t lane)
{
    return rotl64(acc + lane * P2, 31) * P1;
}
static inline uint64_t xxh_merge(uint64_t acc, uint64_t v)
{
    return (acc ^ xxh_round(0, v)) * P1 + P4;
}

/* XXH64 with seed 0 (the xxHash specification), as zstd's frame checksum
 * uses: its low 32 bits. */
static uint64_t xxh64(const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    uint64_t h;
    if (n >= 32) {
        uint64_t v[4] = {P1 + P2, P2, 0, 0 - P1};
        for (; end - p >= 32; p += 32)
            for (int k = 0; k < 4; k++)
                v[k] = xxh_round(v[k], rd64le(p + 8 * k));
        h = rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18);
        for (int k = 0; k < 4; k++)
            h = xxh_merge(h, v[k]);
    } else {
        h = P5;
    }
    h += (uint64_t)n;
    for (; end - p >= 8; p += 8)
        h = rotl64(h ^ xxh_round(0, rd64le(p)), 27) * P1 + P4;
    if (end - p >= 4) {
        uint64_t w =
            (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
        h = rotl64(h ^ (w * P1), 23) * P2 + P3;
        p += 4;
    }
    for (; p < end; p++)
        h = rotl64(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

/* Order-0 entropy of a byte plane at or above 7.5 bits: raw (zstd's
 * coding would save under 1/16 of it). */
static bool plane_random(const uint8_t *p, size_t m)
{
    uint32_t hist[256] = {0};
    for (size_t k = 0; k < m; k++)
        hist[p[k]]++;
    double h = 0;
    for (int k = 0; k < 256; k++)
        if (hist[k])
            h -= (double)hist[k] * log2((double)hist[k] / (double)m);
    return h >= 7.5 * (double)m;
}

#define RAW_BLOCK ((size_t)128 << 10) /* zstd's largest block */

/* The smallest Window_Descriptor (RFC 8878 3.1.1.1.2) of at least `need`
 * bytes. */
static uint8_t window_descriptor(uint64_t need)
{
    for (unsigned e = 0; e < 31; e++)
        for (unsigned mant = 0; mant < 8; mant++) {
            uint64_t base = (uint64_t)1 << (10 + e);
            if (base + base / 8 * mant >= need)
                return (uint8_t)(e << 3 | mant);
        }
    return 0xff;
}

/* Raw blocks holding src[0..n) at out (the last one flagged `last`): the
 * bytes written, or 0 if cap is too small. */
static size_t raw_blocks(uint8_t *out, size_t cap, const uint8_t *src, size_t n, bool last)
{
    size_t at = 0;
    for (size_t k = 0; k < n; k += RAW_BLOCK) {
        size_t b = PIO_MIN(RAW_BLOCK, n - k);
        if (cap - at < 3 + b)
            return 0;
        uint32_t h = (uint32_t)(b << 3) | (last && k + b == n ? 1u : 0u); /* type 0: raw */
        out[at] = (uint8_t)h;
        out[at + 1] = (uint8_t)(h >> 8);
        out[at + 2] = (uint8_t)(h >> 16);
        memcpy(out + at + 3, src + k, b);
        at += 3 + b;
    }
    return at;
}

/* The shuffled words sh (4 planes of m bytes) as one zstd frame whose
 * near-random planes are raw blocks: its length, or 0 where that does not
 * apply (no such plane, or too small) or does not fit (the caller then
 * compresses the whole as usual). */
static size_t compress_split(ZSTD_CCtx *cctx, uint8_t *out, size_t cap, const uint8_t *sh, size_t m)
{
    if (m < 4096)
        return 0;
    bool raw[4];
    int a = 4, b = 0; /* the span compressed: planes a .. b - 1 */
    for (int p = 0; p < 4; p++)
        if (!(raw[p] = plane_random(sh + (size_t)p * m, m))) {
            a = PIO_MIN(a, p);
            b = p + 1;
        }
    if (a == 0 && b == 4)
        return 0; /* nothing raw at the ends: one compressed span is all */
    size_t bytes = 4 * m, at = 0;
    if (cap < 14 + 4)
        return 0;
    /* header: magic; descriptor: 8-byte content size, content checksum (not
     * single segment: the window is the compressed span's, at least a raw
     * block, never the whole content, which a decoder may refuse past 8
     * MiB: RFC 8878 3.1.1.1.2); the window (below); the content size */
    static const uint8_t magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
    memcpy(out, magic, 4);
    out[4] = 0xC0 | 0x04;
    out[5] = window_descriptor(RAW_BLOCK);
    for (int k = 0; k < 8; k++)
        out[6 + k] = (uint8_t)((uint64_t)bytes >> (8 * k));
    at = 14;
    if (a >= b) { /* every plane raw */
        size_t w = raw_blocks(out + at, cap - at - 4, sh, bytes, true);
        if (!w)
            return 0;
        at += w;
    } else {
        size_t w = 0;
        if (a > 0 && !(w = raw_blocks(out + at, cap - at, sh, (size_t)a * m, false)))
            return 0;
        at += w;
        /* the span as a frame of its own, its blocks taken into this one
         * (its first block starts from no tables and the initial repeat
         * offsets, as at the start of a frame: raw blocks change neither) */
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
        size_t r =
            ZSTD_compress2(cctx, out + at, cap - at, sh + (size_t)a * m, (size_t)(b - a) * m);
        /* (a failed compress2 leaves the session mid-frame, where the
         * parameter would not take) */
        ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
        if (ZSTD_isError(r) || r < 6)
            return 0;
        uint8_t *f = out + at, fhd = f[4];
        static const size_t did[4] = {0, 1, 2, 4}, fcs[4] = {0, 2, 4, 8};
        bool single = (fhd >> 5) & 1;
        size_t nfcs = (fhd >> 6) == 0 ? (single ? 1 : 0) : fcs[fhd >> 6];
        size_t hdr = 5 + (single ? 0 : 1) + did[fhd & 3] + nfcs;
        if (hdr >= r || (fhd & 0x04))
            return 0;
        /* its window: its descriptor's, or (single segment) its content */
        uint64_t win = 0;
        if (single) {
            for (size_t k = 0; k < nfcs; k++)
                win |= (uint64_t)f[hdr - nfcs + k] << (8 * k);
            win += nfcs == 2 ? 256 : 0;
        } else {
            uint64_t base = (uint64_t)1 << (10 + (f[5] >> 3));
            win = base + base / 8 * (f[5] & 7);
        }
        out[5] = window_descriptor(PIO_MAX(win, (uint64_t)RAW_BLOCK));
        /* its blocks in place of its header; the last one's flag cleared
         * where raw blocks follow */
        memmove(f, f + hdr, r - hdr);
        size_t blen = r - hdr, k = 0;
        while (k + 3 <= blen) {
            uint32_t h = (uint32_t)f[k] | (uint32_t)f[k + 1] << 8 | (uint32_t)f[k + 2] << 16;
            size_t size = h >> 3, type = (h >> 1) & 3;
            size_t body = type == 1 ? 1 : size;
            if (h & 1) {
                if (k + 3 + body != blen)
                    return 0;
                if (b < 4)
                    f[k] &= 0xFE;
                break;
            }
            k += 3 + body;
        }
        if (k + 3 > blen)
            return 0;
        at += blen;
        if (b < 4) {
            if (!(w = raw_blocks(out + at, cap - at, sh + (size_t)b * m, (size_t)(4 - b) * m,
                                 true)))
                return 0;
            at += w;
        }
    }
    if (cap - at < 4)
        return 0;
    uint32_t c = (uint32_t)xxh64(sh, bytes);
    for (int k = 0; k < 4; k++)
        out[at + k] = (uint8_t)(c >> (8 * k));
    return at + 4;
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
    ZSTD_CCtx_reset(s->cctx, ZSTD_reset_session_only); /* after any failure */
    ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_compressionLevel, level ? level : 3);
    /* lossless only: a lossy payload's every byte counts against XTC */
    size_t r = codec == PIO__CODEC_LOSSLESS ? compress_split(s->cctx, out, cap, sh, bytes / 4) : 0;
    if (r) {
        *len = r;
        return 0;
    }
    r = ZSTD_compress2(s->cctx, out, cap, sh, bytes);
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
