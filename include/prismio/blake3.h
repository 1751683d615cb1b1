/*
 * prism-io: BLAKE3 hashing.
 *
 * A complete BLAKE3 (hash, keyed hash, key derivation, extendable output)
 * written from the specification, with SIMD tiers chosen at run time and
 * optional multithreading for large inputs. Output is bit-identical to the
 * reference implementation (`b3sum`) in every mode and tier.
 *
 * Thread-safety: a hasher is a plain value; distinct hashers may be used
 * from distinct threads concurrently. The one-shot helpers are reentrant.
 * Tier selection (pio_blake3_tier_force) is process-wide.
 */
#ifndef PRISMIO_BLAKE3_H
#define PRISMIO_BLAKE3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PIO_BLAKE3_KEY_LEN   32
#define PIO_BLAKE3_OUT_LEN   32
#define PIO_BLAKE3_BLOCK_LEN 64
#define PIO_BLAKE3_CHUNK_LEN 1024
/* Depth of the chaining-value stack: enough for 2^64 bytes of input. */
#define PIO_BLAKE3_MAX_DEPTH 54

/*
 * Incremental hasher state. A transparent struct so it can live on the
 * stack, but its fields are private: use only the functions below. Copying
 * a hasher copies the state (a "fork" of the hash).
 */
typedef struct pio_blake3_hasher {
    uint32_t key[8];
    uint32_t cv[8]; /* chaining value of the chunk in progress */
    uint64_t chunk_counter;
    uint8_t buf[PIO_BLAKE3_BLOCK_LEN];
    uint8_t buf_len;
    uint8_t blocks_compressed;
    uint8_t flags;
    uint8_t cv_stack_len;
    uint8_t cv_stack[(PIO_BLAKE3_MAX_DEPTH + 1) * PIO_BLAKE3_OUT_LEN];
} pio_blake3_hasher;

/*
 * Start `h` (caller storage; nothing to free) in plain hashing mode. No
 * hasher function allocates or fails: they return void.
 */
PIO_API void pio_blake3_hasher_init(pio_blake3_hasher *h);
/* Keyed hashing mode with a 32-byte key (a MAC / PRF); the key is copied. */
PIO_API void pio_blake3_hasher_init_keyed(pio_blake3_hasher *h,
                                          const uint8_t key[PIO_BLAKE3_KEY_LEN]);
/*
 * Key derivation mode: `context` is a hard-coded, globally unique,
 * application-specific string, NUL-terminated for
 * pio_blake3_hasher_init_derive_key, `context_len` bytes for
 * pio_blake3_hasher_init_derive_key_raw (read during the call only). Feed
 * the key material with update(), read the derived key with finalize().
 */
PIO_API void pio_blake3_hasher_init_derive_key(pio_blake3_hasher *h, const char *context);
PIO_API void pio_blake3_hasher_init_derive_key_raw(pio_blake3_hasher *h, const void *context,
                                                   size_t context_len);

/* Absorb `len` bytes (input may be NULL when len is 0). Any split of the
 * input gives the same hash. */
PIO_API void pio_blake3_hasher_update(pio_blake3_hasher *h, const void *input, size_t len);

/*
 * Like pio_blake3_hasher_update(), but large inputs are split into subtrees
 * hashed on up to `threads` threads (the caller's included) from a
 * process-wide pool. threads == 0 means the number of online CPUs; 1 means
 * no other thread. The result is identical to pio_blake3_hasher_update().
 * Inputs below about 2 MiB are hashed on the calling thread alone.
 */
PIO_API void pio_blake3_hasher_update_mt(pio_blake3_hasher *h, const void *input, size_t len,
                                         unsigned threads);

/*
 * Absorb `len` bytes of the file `fd` starting at `offset`, read with
 * pread() (the file position is not used or changed) into small buffers,
 * on up to `threads` threads (0: all CPUs) for files of 16 MiB and more.
 * The same bytes as pio_blake3_hasher_update() over the file's contents.
 * Returns 0, a negative errno from pread(), -ENOMEM, or PIO_ETRUNCATED if
 * the file ends before offset + len. After a failure the hasher holds an
 * unspecified prefix: reset it before reuse.
 */
PIO_API int pio_blake3_hasher_update_fd(pio_blake3_hasher *h, int fd, uint64_t offset, uint64_t len,
                                        unsigned threads);

/*
 * Write `out_len` bytes of output (any length; 32 is the default hash
 * size). Does not modify the hasher: more input may follow, and finalizing
 * twice gives the same bytes.
 */
PIO_API void pio_blake3_hasher_finalize(const pio_blake3_hasher *h, uint8_t *out, size_t out_len);
/* Output bytes [seek, seek + out_len) of the extendable output (the hasher
 * is not modified, as with finalize). */
PIO_API void pio_blake3_hasher_finalize_seek(const pio_blake3_hasher *h, uint64_t seek,
                                             uint8_t *out, size_t out_len);
/* Forget all input, keeping the mode and key. */
PIO_API void pio_blake3_hasher_reset(pio_blake3_hasher *h);

/* One-shot helpers, `out_len` bytes of output into `out`: pio_blake3_hash
 * (plain), pio_blake3_keyed_hash (keyed mode), pio_blake3_derive_key (key
 * derivation: NUL-terminated context, then the key material). Reentrant;
 * they cannot fail. */
PIO_API void pio_blake3_hash(uint8_t *out, size_t out_len, const void *input, size_t len);
PIO_API void pio_blake3_keyed_hash(uint8_t *out, size_t out_len,
                                   const uint8_t key[PIO_BLAKE3_KEY_LEN], const void *input,
                                   size_t len);
PIO_API void pio_blake3_derive_key(uint8_t *out, size_t out_len, const char *context,
                                   const void *key_material, size_t key_material_len);

/*
 * Implementation tiers. The fastest tier the CPU and the build support is
 * chosen on first use, unless the environment variable PIO_BLAKE3_TIER
 * (portable, sse41, avx2, avx512) names another supported one.
 */
enum pio_blake3_tier {
    PIO_BLAKE3_TIER_AUTO = -1, /* only for pio_blake3_tier_force: back to automatic */
    PIO_BLAKE3_TIER_PORTABLE = 0,
    PIO_BLAKE3_TIER_SSE41 = 1,
    PIO_BLAKE3_TIER_AVX2 = 2,
    PIO_BLAKE3_TIER_AVX512 = 3
};
#define PIO_BLAKE3_TIER_COUNT 4

/* Name of a tier ("portable", "sse41", "avx2", "avx512"; a static string);
 * NULL if out of range (PIO_BLAKE3_TIER_AUTO included). */
PIO_API const char *pio_blake3_tier_name(enum pio_blake3_tier tier);
/* Parse a tier name (as above, or "auto"). 0 and *out set, or PIO_EUSAGE
 * (name NULL or unknown; *out untouched). Does not check support. */
PIO_API int pio_blake3_tier_parse(const char *name, enum pio_blake3_tier *out);
/* Whether this build includes the tier and this CPU (and OS) can run it. */
PIO_API bool pio_blake3_tier_supported(enum pio_blake3_tier tier);
/* The tier in use (chosen on first call if not yet chosen). Thread-safe. */
PIO_API enum pio_blake3_tier pio_blake3_tier_active(void);
/*
 * Use `tier` for every later hash in the process (PIO_BLAKE3_TIER_AUTO:
 * return to the automatic choice). Returns 0, or PIO_ENOTSUPPORTED if the
 * tier is not supported here (the active tier is then unchanged). Meant for
 * tests and benchmarks. Safe while other threads hash: every tier computes
 * the same bytes, so a hash in flight may mix tiers and stay correct.
 */
PIO_API int pio_blake3_tier_force(enum pio_blake3_tier tier);

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_BLAKE3_H */
