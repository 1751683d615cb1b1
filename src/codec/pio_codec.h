/*
 * codec: what the format module uses to compress arrays of xyz float
 * triples (positions, velocities, forces): docs/FORMAT.md, "Codecs".
 *
 * lossy: each value quantised to an integer at a precision in nm, the x,
 *   y and z planes stored apart, each atom predicted from the previous
 *   one, the differences zigzagged, byte-shuffled and zstd-coded. Decoded
 *   values are within precision/2 of the input (plus the float32 rounding
 *   of the decoded value).
 * lossless: the float32 bit patterns of each plane XOR the previous
 *   atom's, byte-shuffled, zstd-coded: bit-exact (NaN payloads, -0.0,
 *   denormals).
 *
 * A payload is one zstd frame (with its content checksum) whose content
 * is exactly 12 * natoms bytes:
 * the decoder checks that before it decodes anything, so a payload can
 * neither make it allocate by a size of its own choosing nor write past
 * the caller's array. Built without libzstd (codec_none.c), both codecs
 * are PIO_ENOTSUPPORTED.
 */
#ifndef PIO_CODEC_H
#define PIO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pio__codec {
    PIO__CODEC_RAW = 0,
    PIO__CODEC_LOSSY = 1,
    PIO__CODEC_LOSSLESS = 2,
    PIO__CODEC_COUNT
};

/* Whether this build encodes and decodes the codecs (zstd). */
bool pio__codec_built(void);
/* The codec's name ("none", "lossy", "lossless"), or NULL. */
static inline const char *pio__codec_name(unsigned codec)
{
    return codec == PIO__CODEC_RAW        ? "none"
           : codec == PIO__CODEC_LOSSY    ? "lossy"
           : codec == PIO__CODEC_LOSSLESS ? "lossless"
                                          : NULL;
}

/* Reusable buffers and zstd contexts: one per thread at a time. Zero it
 * to start; free with pio__codec_scratch_free. */
struct pio__codec_scratch {
    void *buf;
    size_t cap;
    void *cctx, *dctx;
};
void pio__codec_scratch_free(struct pio__codec_scratch *s);

/* Most bytes an encoding of natoms triples can take. */
size_t pio__codec_bound(uint64_t natoms);

/*
 * Encode natoms xyz triples into out (cap bytes, at least
 * pio__codec_bound): *len gets the payload's size. lossy needs a precision
 * > 0 and finite values within 2^31 - 1 precisions of zero (*bad gets the
 * first atom that is not). level: zstd's (0: 3). Returns 0, PIO_EUSAGE (a
 * precision that is not > 0), PIO_ELIMIT (a value lossy cannot hold),
 * PIO_ENOTSUPPORTED (no zstd), -ENOMEM.
 */
int pio__codec_encode(unsigned codec, const float (*xyz)[3], uint64_t natoms, double precision,
                      int level, uint8_t *out, size_t cap, size_t *len, uint64_t *bad,
                      struct pio__codec_scratch *s);

/* Whether `in` (len bytes) is one payload of natoms triples: a zstd
 * frame ending exactly at len, of content size 12 * natoms, and not more
 * than 1024 times its own size above 64 MiB (a frame of a few bytes cannot
 * claim gigabytes). What a record's structural check asks, before any
 * buffer is sized by natoms. Without zstd: false. */
bool pio__codec_payload_ok(const uint8_t *in, size_t len, uint64_t natoms);

/* Decode a payload of len bytes into natoms triples at dst (12 * natoms
 * bytes). 0, PIO_ECORRUPT (not a zstd frame of exactly 12 * natoms
 * bytes, or one that does not decode), PIO_ENOTSUPPORTED, -ENOMEM. */
int pio__codec_decode(unsigned codec, const uint8_t *in, size_t len, uint64_t natoms,
                      double precision, float (*dst)[3], struct pio__codec_scratch *s);

#endif /* PIO_CODEC_H */
