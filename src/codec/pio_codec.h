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
    int32_t *q; /* lossy: the previous frame's integers */
    size_t qcap;
    void *cctx, *dctx;
};
void pio__codec_scratch_free(struct pio__codec_scratch *s);

/* Most bytes an encoding of natoms triples can take (natoms: atoms times
 * frames for several frames). */
size_t pio__codec_bound(uint64_t natoms);

/*
 * Encode nframes frames of natoms xyz triples each (frame t at xyz[t])
 * into one payload in out (cap bytes, at least pio__codec_bound(natoms *
 * nframes)): *len gets its size. Frame 0 is coded alone (each atom
 * predicted from the one before); each later frame from the frame before
 * it (docs/FORMAT.md, "BLOCK record"). lossy needs a precision > 0 and
 * finite values within 2^31 - 1 precisions of zero (*bad_frame and *bad
 * get the first frame and atom that are not). level: zstd's (0: 3).
 * Returns 0, PIO_EUSAGE (a precision that is not > 0), PIO_ELIMIT (a value
 * lossy cannot hold, or a size past size_t), PIO_ENOTSUPPORTED (no zstd),
 * -ENOMEM.
 */
int pio__codec_encode_frames(unsigned codec, const float (*const *xyz)[3], uint32_t nframes,
                             uint64_t natoms, double precision, int level, uint8_t *out, size_t cap,
                             size_t *len, uint32_t *bad_frame, uint64_t *bad,
                             struct pio__codec_scratch *s);

/* Whether `in` (len bytes) is one payload of nframes x natoms triples: a
 * zstd frame ending exactly at len, of content size 12 * natoms * nframes,
 * and not more than 1024 times its own size above 64 MiB (a frame of a few
 * bytes cannot claim gigabytes). What a record's structural check asks,
 * before any buffer is sized by natoms. Without zstd: false. */
bool pio__codec_frames_ok(const uint8_t *in, size_t len, uint32_t nframes, uint64_t natoms);

/* Decode a payload of len bytes into nframes frames of natoms triples
 * (frame t at dst[t], 12 * natoms bytes each). 0, PIO_ECORRUPT (not a zstd
 * frame of exactly that size, or one that does not decode),
 * PIO_ENOTSUPPORTED, -ENOMEM. */
int pio__codec_decode_frames(unsigned codec, const uint8_t *in, size_t len, uint32_t nframes,
                             uint64_t natoms, double precision, float (*const *dst)[3],
                             struct pio__codec_scratch *s);

/* One frame: the payload of a FRAME record's array. */
static inline int pio__codec_encode(unsigned codec, const float (*xyz)[3], uint64_t natoms,
                                    double precision, int level, uint8_t *out, size_t cap,
                                    size_t *len, uint64_t *bad, struct pio__codec_scratch *s)
{
    uint32_t bad_frame;
    return pio__codec_encode_frames(codec, &xyz, 1, natoms, precision, level, out, cap, len,
                                    &bad_frame, bad, s);
}
static inline bool pio__codec_payload_ok(const uint8_t *in, size_t len, uint64_t natoms)
{
    return pio__codec_frames_ok(in, len, 1, natoms);
}
static inline int pio__codec_decode(unsigned codec, const uint8_t *in, size_t len, uint64_t natoms,
                                    double precision, float (*dst)[3], struct pio__codec_scratch *s)
{
    return pio__codec_decode_frames(codec, in, len, 1, natoms, precision, &dst, s);
}

#endif /* PIO_CODEC_H */
