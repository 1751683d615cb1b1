/*
 * hash: what the modules above it may use besides prismio/blake3.h: many
 * equal-length inputs hashed at once (the HOLO writer's frame records).
 */
#ifndef PIO_HASH_H
#define PIO_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "prismio/blake3.h"

/*
 * The BLAKE3 hashes (32 bytes each, into out) of n inputs that all have
 * `len` bytes, a non-zero multiple of the block size (64), of at most 64
 * KiB: the same bytes as pio_blake3_hash() of each, every node of the n
 * trees computed at once in SIMD lanes (records of one frame size).
 */
#define PIO_B3_EQUAL_MAX 16
void pio_b3_hash_equal(const uint8_t *const *inputs, size_t n, size_t len, uint8_t *out);
/* The same, with each input given chunk by chunk, so it need not be
 * contiguous: input k's chunk c (1024 bytes, the last one what is left) at
 * chunks[k * nch + c], nch = ceil(len / 1024). */
void pio_b3_hash_equal_chunks(const uint8_t *const *chunks, size_t n, size_t len, uint8_t *out);

/*
 * One input hashed in pieces, on several processes (the MPI writer's
 * records): a piece of whole chunks (len a multiple of 1024) whose first
 * chunk has number `counter` gives the chaining values of the aligned
 * subtrees that cover it, in order, into cvs[k] with their chunk counts
 * in chunks[k] (at most cap, 2 x 64 always suffice): returns how many, 0
 * if cap was too small. An unkeyed hasher then takes the pieces' CVs in
 * input order (pio_b3_hasher_push_subtree: it must be at the CV's first
 * chunk), and the input's last chunk as bytes (pio_blake3_hasher_update:
 * never the root as a CV), and finalizes to pio_blake3_hash() of it all.
 */
size_t pio_b3_piece_cvs(const uint8_t *in, size_t len, uint64_t counter, uint8_t (*cvs)[32],
                        uint64_t *chunks, size_t cap);
void pio_b3_hasher_push_subtree(pio_blake3_hasher *h, const uint8_t cv[32], uint64_t chunks);

#endif /* PIO_HASH_H */
