/*
 * arrow: what the modules above it may use besides prismio/arrow.h: the
 * Arrow types, HOLO frames laid out as record batches, and IPC files
 * written and read (the Arrow format's adapter in formats/arrow.c is built
 * on these).
 */
#ifndef PIO_ARROW_H
#define PIO_ARROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prismio/arrow.h"
#include "prismio/holo.h"

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
int pio__arw_type_parse(const char *format, enum arw_type *t, int32_t *list_size);
/* Buffers a node of this type has (validity included). */
int pio__arw_type_nbuffers(enum arw_type t);
/* Bytes per value of a fixed-width type, else 0. */
int pio__arw_type_width(enum arw_type t);

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
int pio__arw_layout_new(struct arw_layout **out, const struct arw_layout_config *c,
                        struct pio_error *err);
void pio__arw_layout_put(struct arw_layout *L);
int pio__arw_layout_schema(struct arw_layout *L, struct ArrowSchema *out, struct pio_error *err);
/*
 * frames[0..n) as a record batch (atoms layout: n must be 1). With n == 1
 * in the frames layout the atom arrays are not copied: the batch points
 * at frames[0]'s arrays (keep them alive: the layout's reader does that).
 */
int pio__arw_layout_batch(struct arw_layout *L, const struct pio_frame *frames, size_t n,
                          struct ArrowArray *out, struct pio_error *err);

/* ---- IPC ---- */

struct arw_ipc_writer;
/* Begin a file (PATH.part until finished) with this schema. */
int pio__arw_ipc_writer_open(struct arw_ipc_writer **out, const char *path, bool overwrite,
                             const struct ArrowSchema *schema, struct pio_error *err);
int pio__arw_ipc_writer_batch(struct arw_ipc_writer *w, const struct ArrowArray *batch,
                              struct pio_error *err);
/* ok: write the footer and rename into place; !ok: remove. Frees w. */
int pio__arw_ipc_writer_close(struct arw_ipc_writer *w, bool ok, struct pio_error *err);
uint64_t pio__arw_ipc_writer_bytes(const struct arw_ipc_writer *w);

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
int pio__arw_ipc_file_open(struct arw_ipc_file **out, const char *path, struct pio_error *err);
void pio__arw_ipc_file_put(struct arw_ipc_file *f);
/* The root struct's fields, and the schema metadata pairs. */
const struct arw_field *pio__arw_ipc_fields(const struct arw_ipc_file *f, int *n);
uint64_t pio__arw_ipc_metadata(const struct arw_ipc_file *f, const char *const **keys,
                               const char *const **values);
uint64_t pio__arw_ipc_nbatches(const struct arw_ipc_file *f);
/* Decode and validate batch i: its rows and top-level columns (cols is
 * pio__arw_ipc_fields' length long, owned by the file until the next call on
 * this batch slot: pass a struct arw_batch_slot per concurrent user). */
struct arw_batch_slot {
    int64_t length;
    struct arw_col *cols; /* malloc'd tree */
    size_t ncols_alloc;
};
int pio__arw_ipc_batch(struct arw_ipc_file *f, uint64_t i, struct arw_batch_slot *s,
                       struct pio_error *err);
void pio__arw_batch_slot_free(struct arw_batch_slot *s);
const char *pio__arw_ipc_path(const struct arw_ipc_file *f);

#endif /* PIO_ARROW_H */
