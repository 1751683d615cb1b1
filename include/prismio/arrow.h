/*
 * prism-io: Apache Arrow integration.
 *
 * Two ways to hand trajectories to columnar tools:
 *
 *  - The Arrow C Data Interface: pio_arrow_export() turns a range of a HOLO
 *    file's frames into an ArrowArrayStream of record batches. In the
 *    frames layout with one frame per batch (the default), positions,
 *    velocities and forces are exported without a copy: the buffers point
 *    into the reader's mapping, which the stream and every batch keep alive
 *    (pio_reader_retain) until their release callbacks have run.
 *
 *  - Arrow IPC files (Feather v2, `.arrow`): written and read by the
 *    converters (pio_sink_open / pio_source_open, so `prismio convert
 *    traj.holo out.arrow` and back), or written from any stream of the
 *    types below with pio_arrow_ipc_write().
 *
 * Layouts (docs/ARROW.md gives the schemas):
 *   PIO_ARROW_FRAMES: a row per frame: frame, step, time, natoms, box
 *     (FixedSizeList<float64>[9], rows a, b, c; null when absent), then
 *     positions, velocities, forces (List<FixedSizeList<float32>[3]>, null
 *     when absent), then one float64 column per scalar.
 *   PIO_ARROW_ATOMS: a row per atom per frame: frame, step, time, atom,
 *     x, y, z (and vx.. / fx.. when asked), then the topology's name,
 *     resname, resid, chain, element, mass, charge when the file has one.
 * Units are HOLO's (nm, ps, kJ/mol/nm); the schema metadata says so and
 * carries the HOLO file's metadata pairs.
 *
 * Types used: int32 `i`, int64 `l`, float32 `f`, float64 `g`, utf8 `u`,
 * list `+l`, fixed-size list `+w:N`, struct `+s` (the record batch).
 */
#ifndef PRISMIO_ARROW_H
#define PRISMIO_ARROW_H

#include <stdint.h>

#include "common.h"
#include "holo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the Arrow C Data Interface (ABI fixed by Arrow; declared verbatim) ---- */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE           2
#define ARROW_FLAG_MAP_KEYS_SORTED    4

struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

/* ---- export ---------------------------------------------------------------- */

enum pio_arrow_layout {
    PIO_ARROW_FRAMES = 0, /* a row per frame */
    PIO_ARROW_ATOMS = 1,  /* a row per atom per frame */
};

struct pio_arrow_options {
    uint32_t size;   /* sizeof(struct pio_arrow_options) */
    uint32_t layout; /* enum pio_arrow_layout */
    /* Atom arrays to export (PIO_FIELD_POSITIONS | VELOCITIES | FORCES);
     * 0: all three. A frame without one gives a null. Scalar columns are
     * those of the range's first frame; a later frame with another scalar
     * fails get_next (EINVAL, naming it) rather than lose it. */
    uint32_t fields;
    /* Frames layout: frames per batch. 0 or 1: one frame per batch, arrays
     * exported without a copy; more: arrays copied into each batch. The
     * atoms layout always has one frame per batch. */
    uint32_t batch_frames;
    uint64_t first; /* first frame of the range */
    uint64_t count; /* frames in the range (UINT64_MAX: to the end) */
};
#define PIO_ARROW_OPTIONS_INIT                                                                     \
    {                                                                                              \
        sizeof(struct pio_arrow_options), PIO_ARROW_FRAMES, 0, 0, 0, UINT64_MAX                    \
    }

/*
 * Export frames [first, first + count) of `r` as a stream of record batches
 * in *out (which the caller releases with out->release). O(1): no frame is
 * read until get_next, and a batch's arrays are views into the mapping.
 * The stream and each batch hold a reference on `r` (pio_reader_retain),
 * so the caller may close the reader at once; the mapping goes when the
 * last of them is released. get_next checks each frame's record header,
 * not its hash (pio_reader_verify first when the file is untrusted).
 * Errors from the stream's callbacks are EIO/EINVAL/ENOMEM with the
 * message in get_last_error(). opts may be NULL. Returns 0, PIO_EUSAGE
 * (opts->size too small, an unknown layout, fields other than atom arrays,
 * first beyond the last frame) or -ENOMEM; on failure *out is zeroed
 * (release NULL) and no reference is taken. Like every Arrow stream, one
 * thread at a time; batches may move between threads.
 */
PIO_API int pio_arrow_export(struct ArrowArrayStream *out, const pio_reader *r,
                             const struct pio_arrow_options *opts, struct pio_error *err);

/* ---- IPC files ---------------------------------------------------------------- */

/*
 * Write every batch of `in` to an Arrow IPC file at `path` (written as
 * PATH.part and renamed when complete; an existing file is an error unless
 * overwrite is non-zero). Bodies are 64-byte aligned. The stream is
 * consumed, not released: the caller still calls in->release. Types: those
 * listed at the top of this header; anything else is PIO_ENOTSUPPORTED.
 * Other errors: -EEXIST, -errno (create, write, sync, rename), -ENOMEM,
 * PIO_EUSAGE (a batch that does not match the schema), PIO_ECORRUPT (the
 * input's get_schema or get_next failed: its get_last_error as the
 * message). On failure PATH.part is removed and PATH is untouched.
 */
PIO_API int pio_arrow_ipc_write(const char *path, struct ArrowArrayStream *in, int overwrite,
                                struct pio_error *err);

/*
 * The same IPC file image in memory: *out holds *len bytes, identical to
 * what pio_arrow_ipc_write would put in a file (to send over a socket,
 * into shared memory, to an in-process reader); give it back with
 * pio_arrow_ipc_free(*out, *len) (it is a memory mapping, not malloc'd:
 * it grows without copying). The stream is consumed, not released. Errors
 * as for pio_arrow_ipc_write, less the file's; *out is NULL and *len 0 on
 * failure.
 */
PIO_API int pio_arrow_ipc_serialize(struct ArrowArrayStream *in, void **out, size_t *len,
                                    struct pio_error *err);
/* Unmap an image from pio_arrow_ipc_serialize, with the *len it gave
 * (NULL: nothing). */
PIO_API void pio_arrow_ipc_free(void *image, size_t len);

/*
 * The same image into the caller's buffer of `cap` bytes (shared memory,
 * a buffer reused from one export to the next): *len bytes written (0 on
 * failure). PIO_ELIMIT when the image does not fit (the buffer then holds
 * a partial image; the stream is consumed as far as it got), PIO_EUSAGE
 * for buf NULL with cap > 0; other errors as for pio_arrow_ipc_serialize.
 */
PIO_API int pio_arrow_ipc_serialize_into(struct ArrowArrayStream *in, void *buf, size_t cap,
                                         size_t *len, struct pio_error *err);

/*
 * Open an Arrow IPC file as a stream (*out) of its record batches, which
 * the caller releases with out->release (zeroed on failure). Every
 * flatbuffer offset, buffer offset and length, list offset and string
 * offset is validated before use (the file is untrusted): damage is
 * PIO_ECORRUPT/PIO_ETRUNCATED naming the file, the batch and the offset;
 * here for the footer and schema, from get_next (EINVAL, the message in
 * get_last_error) for a batch. Arrays are views into a mapping of the file
 * that the stream and batches keep alive. Types: those listed at the top;
 * others are PIO_ENOTSUPPORTED. Other errors: -errno, PIO_EFORMAT (no
 * ARROW1 magic), PIO_EUSAGE (not a regular file), -ENOMEM.
 */
PIO_API int pio_arrow_ipc_open(struct ArrowArrayStream *out, const char *path,
                               struct pio_error *err);

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_ARROW_H */
