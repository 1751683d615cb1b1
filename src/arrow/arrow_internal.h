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
#include "prismio/pipeline.h"

/* ---- reference-counted owners ---- */

struct arw_owner {
    atomic_int refs;
    void (*destroy)(struct arw_owner *o);
};
void arw_owner_get(struct arw_owner *o);
void arw_owner_put(struct arw_owner *o);

/* ---- arenas ---- */

struct arw_chunk;
struct arw_arena {
    atomic_int live; /* nodes not yet released */
    struct arw_owner *owner;
    struct arw_chunk *chunks;
};
/* A new arena holding a reference on owner (may be NULL). */
struct arw_arena *arw_arena_new(struct arw_owner *owner);
/* n zeroed bytes, 64-byte aligned, freed with the arena. NULL: out of memory. */
void *arw_alloc(struct arw_arena *a, size_t n);
/* Free an arena whose tree was never handed out. */
void arw_arena_abandon(struct arw_arena *a);

/* Nodes in an arena (children arrays sized, pointers zeroed). */
struct ArrowSchema *arw_schema_node(struct arw_arena *a, const char *format, const char *name,
                                    int64_t flags, int64_t n_children);
struct ArrowArray *arw_array_node(struct arw_arena *a, int64_t length, int64_t n_buffers,
                                  int64_t n_children);
/* Hand the arena's root out: *out becomes a bitwise copy of root, whose
 * release frees the tree (root itself must not have been counted: build
 * it with the functions above, then call this once). */
void arw_schema_publish(struct ArrowSchema *root, struct ArrowSchema *out);
void arw_array_publish(struct ArrowArray *root, struct ArrowArray *out);

/* Schema metadata in the C Data Interface's binary encoding. */
char *arw_metadata_encode(struct arw_arena *a, uint64_t n, const char *const *keys,
                          const char *const *values);

/* ---- types ---- */

enum arw_type {
    ARW_INT32 = 1,
    ARW_INT64,
    ARW_FLOAT32,
    ARW_FLOAT64,
    ARW_UTF8,
    ARW_LIST,
    ARW_FSL,
    ARW_STRUCT,
};
/* Parse a C Data Interface format string: 0 or PIO_ENOTSUPPORTED. */
int arw_type_parse(const char *format, enum arw_type *t, int32_t *list_size);
/* Buffers a node of this type has (validity included). */
int arw_type_nbuffers(enum arw_type t);
/* Bytes per value of a fixed-width type, else 0. */
int arw_type_width(enum arw_type t);

/* ---- layouts: HOLO frames as record batches ---- */

struct arw_layout;
struct arw_layout_config {
    uint32_t layout;                     /* enum pio_arrow_layout */
    uint32_t fields;                     /* atom arrays to carry */
    const struct pio_frame *first;       /* scalar columns from its scalars (may be NULL) */
    const struct pio_topology *topology; /* atoms layout: columns from it (may be NULL) */
    uint64_t nmeta;
    const char *const *meta_keys;
    const char *const *meta_values;
    const pio_reader *reader; /* retained by the layout while it lives (may be NULL) */
    const char *name;         /* for messages: the output file, or what exports */
};
int arw_layout_new(struct arw_layout **out, const struct arw_layout_config *c,
                   struct pio_error *err);
void arw_layout_put(struct arw_layout *L);
int arw_layout_schema(struct arw_layout *L, struct ArrowSchema *out, struct pio_error *err);
/*
 * frames[0..n) as a record batch (atoms layout: n must be 1). With n == 1
 * in the frames layout the atom arrays are not copied: the batch points
 * at frames[0]'s arrays (keep them alive: the layout's reader does that).
 */
int arw_layout_batch(struct arw_layout *L, const struct pio_frame *frames, size_t n,
                     struct ArrowArray *out, struct pio_error *err);

/* ---- IPC ---- */

struct arw_ipc_writer;
/* Begin a file (PATH.part until finished) with this schema. */
int arw_ipc_writer_open(struct arw_ipc_writer **out, const char *path, bool overwrite,
                        const struct ArrowSchema *schema, struct pio_error *err);
int arw_ipc_writer_batch(struct arw_ipc_writer *w, const struct ArrowArray *batch,
                         struct pio_error *err);
/* ok: write the footer and rename into place; !ok: remove. Frees w. */
int arw_ipc_writer_close(struct arw_ipc_writer *w, bool ok, struct pio_error *err);
uint64_t arw_ipc_writer_bytes(const struct arw_ipc_writer *w);

/* A validated node of a record batch (views into the file's mapping). */
struct arw_col {
    enum arw_type type;
    int32_t list_size;
    int64_t length, null_count;
    const uint8_t *validity; /* NULL when null_count == 0 */
    const int32_t *offsets;  /* UTF8, LIST: length + 1 entries */
    const void *data;        /* fixed width: length values; UTF8: the bytes */
    int n_children;
    struct arw_col *children;
};

struct arw_field {
    char *name;
    enum arw_type type;
    int32_t list_size;
    bool nullable;
    int n_children;
    struct arw_field *children;
};

struct arw_ipc_file;
int arw_ipc_file_open(struct arw_ipc_file **out, const char *path, struct pio_error *err);
void arw_ipc_file_put(struct arw_ipc_file *f);
/* The root struct's fields, and the schema metadata pairs. */
const struct arw_field *arw_ipc_fields(const struct arw_ipc_file *f, int *n);
uint64_t arw_ipc_metadata(const struct arw_ipc_file *f, const char *const **keys,
                          const char *const **values);
uint64_t arw_ipc_nbatches(const struct arw_ipc_file *f);
/* Decode and validate batch i: its rows and top-level columns (cols is
 * arw_ipc_fields' length long, owned by the file until the next call on
 * this batch slot: pass a struct arw_batch_slot per concurrent user). */
struct arw_batch_slot {
    int64_t length;
    struct arw_col *cols; /* malloc'd tree */
    size_t ncols_alloc;
};
int arw_ipc_batch(struct arw_ipc_file *f, uint64_t i, struct arw_batch_slot *s,
                  struct pio_error *err);
void arw_batch_slot_free(struct arw_batch_slot *s);
const char *arw_ipc_path(const struct arw_ipc_file *f);
struct arw_owner *arw_ipc_owner(struct arw_ipc_file *f);

#endif /* PIO_ARROW_INTERNAL_H */
