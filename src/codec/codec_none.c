/*
 * codec: a build without zstd (no libzstd-dev, or -DPIO_WITH_ZSTD=OFF).
 * Raw arrays only: encoding and decoding the compressed codecs is
 * PIO_ENOTSUPPORTED, and a file that holds them is refused when opened,
 * naming the feature (see pio_codec.h).
 */
#include <string.h>

#include "codec/pio_codec.h"

#include "common/pio_common.h"

bool pio__codec_built(void)
{
    return false;
}

void pio__codec_scratch_free(struct pio__codec_scratch *s)
{
    memset(s, 0, sizeof(*s));
}

size_t pio__codec_bound(uint64_t natoms)
{
    return (size_t)(natoms * 12);
}

int pio__codec_encode_frames(unsigned codec, const float (*const *xyz)[3], uint32_t nframes,
                             uint64_t natoms, double precision, int level, uint8_t *out, size_t cap,
                             size_t *len, uint32_t *bad_frame, uint64_t *bad,
                             struct pio__codec_scratch *s)
{
    (void)codec, (void)xyz, (void)nframes, (void)natoms, (void)precision, (void)level;
    (void)out, (void)cap, (void)len, (void)bad_frame, (void)bad, (void)s;
    return PIO_ENOTSUPPORTED;
}

bool pio__codec_frames_ok(const uint8_t *in, size_t len, uint32_t nframes, uint64_t natoms)
{
    (void)in, (void)len, (void)nframes, (void)natoms;
    return false;
}

int pio__codec_decode_frames(unsigned codec, const uint8_t *in, size_t len, uint32_t nframes,
                             uint64_t natoms, double precision, float (*const *dst)[3],
                             struct pio__codec_scratch *s)
{
    (void)codec, (void)in, (void)len, (void)nframes, (void)natoms, (void)precision, (void)dst;
    (void)s;
    return PIO_ENOTSUPPORTED;
}
