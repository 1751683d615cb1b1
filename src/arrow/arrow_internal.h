/*
 * arrow: what the C Data Interface exporter, the IPC writer and the IPC
 * reader share.
 *
 * Ownership. Every exported tree (a schema, a batch) lives in one arena:
 * nodes, buffer-pointer arrays and any data the batch had to make. The
 * arena counts its live nodes; each node's release releases its children
 * that the consumer has not moved out, marks itself released and drops
 * one count, so children moved out and released later work too. The
 * arena holds a reference on its owner (the layout with its reader, or a
 * mapped IPC file), which is what keeps zero-copy buffers valid.
 */
#ifndef PIO_ARROW_INTERNAL_H
#define PIO_ARROW_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "prismio/arrow.h"

#include "arrow/pio_arrow.h"

/* ---- reference-counted owners ---- */

struct arw_owner {
    atomic_int refs;
    void (*destroy)(struct arw_owner *o);
};
void pio__arw_owner_get(struct arw_owner *o);
void pio__arw_owner_put(struct arw_owner *o);

/* ---- arenas ---- */

struct arw_chunk;
struct arw_arena {
    atomic_int live; /* nodes not yet released */
    struct arw_owner *owner;
    struct arw_chunk *chunks;
};
/* A new arena holding a reference on owner (may be NULL). */
struct arw_arena *pio__arw_arena_new(struct arw_owner *owner);
/* n zeroed bytes, 64-byte aligned, freed with the arena. NULL: out of memory. */
void *pio__arw_alloc(struct arw_arena *a, size_t n);
/* Free an arena whose tree was never handed out. */
void pio__arw_arena_abandon(struct arw_arena *a);

/* Nodes in an arena (children arrays sized, pointers zeroed). */
struct ArrowSchema *pio__arw_schema_node(struct arw_arena *a, const char *format, const char *name,
                                         int64_t flags, int64_t n_children);
struct ArrowArray *pio__arw_array_node(struct arw_arena *a, int64_t length, int64_t n_buffers,
                                       int64_t n_children);
/* Hand the arena's root out: *out becomes a bitwise copy of root, whose
 * release frees the tree (root itself must not have been counted: build
 * it with the functions above, then call this once). */
void pio__arw_schema_publish(struct ArrowSchema *root, struct ArrowSchema *out);
void pio__arw_array_publish(struct ArrowArray *root, struct ArrowArray *out);

/* Schema metadata in the C Data Interface's binary encoding. */
char *pio__arw_metadata_encode(struct arw_arena *a, uint64_t n, const char *const *keys,
                               const char *const *values);

/* The owner of an IPC file's mapping (what keeps its buffers valid). */
struct arw_owner *pio__arw_ipc_owner(struct arw_ipc_file *f);

#endif /* PIO_ARROW_INTERNAL_H */
