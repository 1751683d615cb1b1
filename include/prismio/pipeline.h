/*
 * prism-io: the streaming pipeline.
 *
 * The engine only: it knows sources, sinks and batches, never a format. A
 * source (any format of prismio/convert.h, or the caller's own) feeds
 * frames into batches; worker threads apply the transforms (atom
 * selection, field dropping, unit conversion, precision cast, an optional
 * user kernel); a sink (any format's writer, or a callback) receives the
 * batches in input order.
 *
 *   source thread --MPMC--> N workers --MPMC--> sink (the calling thread)
 *        ^                                        |
 *        +------------- buffer pool <-------------+
 *
 * Batches live in a fixed pool of aligned buffers: a source with no free
 * buffer waits (backpressure), so memory stays bounded whatever the input
 * size. Frame selection happens at the source, which never reads a frame
 * that is not selected.
 *
 * Errors anywhere stop every stage; the sink is told to end without
 * success (the HOLO sink then commits the frames it has written, so its
 * file is valid), and the error names the stage, the frame and the cause.
 */
#ifndef PRISMIO_PIPELINE_H
#define PRISMIO_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "holo.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pio_precision {
    PIO_FLOAT32 = 0,
    PIO_FLOAT64 = 1,
};

/* Length unit of positions and box (velocities and forces follow: nm/ps or
 * A/ps; kJ/mol/nm or kJ/mol/A). HOLO stores nm. */
enum pio_length_unit {
    PIO_UNIT_NM = 0,
    PIO_UNIT_ANGSTROM = 1,
};

/* Atoms per frame in a batch are padded to a multiple of this, so every
 * frame's arrays start 64-byte aligned in float32 (16 * 12 bytes). */
#define PIO_BATCH_ATOM_PAD 16u
#define PIO_BATCH_DEFAULT  128u

/*
 * A batch of frames as a structure of arrays. Frame f's atoms are
 * [atom_offset[f], atom_offset[f] + natoms[f]) of each atom array; the
 * padding atoms after them are zero. Atom arrays hold 3 values per atom,
 * float or double as `precision` says, 64-byte aligned; an array is NULL
 * when no frame of the batch can carry its field. Per-frame `fields` says
 * which arrays (and the box) the frame really has.
 */
struct pio_batch {
    uint64_t seq;            /* batch number, from 0 in input order */
    uint32_t nframes;        /* frames in this batch */
    uint32_t precision;      /* enum pio_precision */
    uint32_t length_unit;    /* enum pio_length_unit */
    uint32_t fields_any;     /* union of fields[] */
    uint64_t *index;         /* [nframes] frame number in the source */
    uint64_t *natoms;        /* [nframes] */
    uint64_t *atom_offset;   /* [nframes + 1], multiples of PIO_BATCH_ATOM_PAD */
    uint32_t *fields;        /* [nframes] enum pio_field bits */
    int64_t *step;           /* [nframes] */
    double *time;            /* [nframes] ps */
    double (*box)[3][3];     /* [nframes] rows a, b, c (zero when absent) */
    uint64_t *scalar_offset; /* [nframes + 1] into scalars */
    struct pio_scalar *scalars;
    void *positions, *velocities, *forces; /* [atom_offset[nframes]][3] */
    /* capacities (the pipeline's business) */
    uint32_t frame_capacity;
    uint64_t atom_capacity, scalar_capacity;
};

/* Frame f of a float32 batch as a pio_frame whose arrays and scalars point
 * into the batch: valid while the batch is (the sink's write or the
 * transform call that was handed it). index and offset: index[f] and 0. */
PIO_API void pio_batch_frame(const struct pio_batch *b, uint32_t f, struct pio_frame *out);

/* ---- sources and sinks --------------------------------------------------- */

/* What a source holds, given to the sink (after the transforms: atom
 * selection changes natoms and topology). */
struct pio_source_info {
    uint64_t nframes;    /* frames the source holds (sink: frames it will get) */
    uint64_t max_natoms; /* an upper bound on any frame's atom count */
    uint32_t fields;     /* an upper bound on the fields frames carry */
    uint32_t length_unit;
    const struct pio_topology *topology; /* NULL when there is none */
    uint64_t nmeta;
    const char *const *meta_keys;
    const char *const *meta_values;
    const char *warning; /* NULL, or what the source skipped (a truncated last frame) */
    uint32_t threads;    /* threads the source keeps busy (0: one, its own) */
};

/*
 * A source. `info` is called once; `start` once with the selected frames
 * (indices below nframes, in the order wanted); then `next` until it
 * returns 0 (end) or an error. A frame from `next` stays valid until
 * `release`; the pipeline holds one at a time. Calls come from one thread
 * at a time (info and start from pio_pipeline_run's caller, the others
 * from its source thread). Messages should name the file, frame and offset.
 */
struct pio_source {
    /* sizeof(struct pio_source) (PIO_SOURCE_INIT sets it), so the struct
     * can grow: members past `size` bytes count as absent. 0 means the
     * layout of prism-io 0.2 (the first with `size`; it ends at
     * next_into): what a caller that sets the members by name gets. */
    uint32_t size;
    const char *name; /* "source holo", "source xtc", ... (for messages) */
    void *ctx;
    int (*info)(void *ctx, struct pio_source_info *out, struct pio_error *err);
    int (*start)(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err);
    int (*next)(void *ctx, struct pio_frame *out, struct pio_error *err);
    void (*release)(void *ctx, const struct pio_frame *f);
    void (*destroy)(void *ctx);
    /* Optional (NULL: next is used): as next, but the source may decode the
     * frame's positions straight into dst, float32, room for cap_atoms
     * atoms (64-byte aligned): the batch's own memory, so the pipeline has
     * nothing to copy. out->positions says where they are (dst or not). */
    int (*next_into)(void *ctx, struct pio_frame *out, float *dst, uint64_t cap_atoms,
                     struct pio_error *err);
};

/*
 * A sink: `begin` once with what will arrive, `write` for each batch in
 * order, `end` once: ok true after the last batch, false when the pipeline
 * stops on an error (then keep what is written valid). The batch's arrays
 * are in the sink's precision and length unit.
 */
struct pio_sink {
    uint32_t size;    /* sizeof(struct pio_sink) (PIO_SINK_INIT); 0: the 0.2 layout */
    const char *name; /* "sink holo", ... (for messages) */
    void *ctx;
    uint32_t precision;   /* enum pio_precision the sink wants */
    uint32_t length_unit; /* enum pio_length_unit the sink wants */
    int (*begin)(void *ctx, const struct pio_source_info *info, struct pio_error *err);
    int (*write)(void *ctx, const struct pio_batch *b, struct pio_error *err);
    int (*end)(void *ctx, bool ok, struct pio_error *err);
    void (*destroy)(void *ctx);
};
/* Start every source and sink from these (then set the members), so a
 * later member added to the struct is zero for callers built before it. */
#define PIO_SOURCE_INIT                                                                            \
    {                                                                                              \
        sizeof(struct pio_source), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL                  \
    }
#define PIO_SINK_INIT                                                                              \
    {                                                                                              \
        sizeof(struct pio_sink), NULL, NULL, 0, 0, NULL, NULL, NULL, NULL                          \
    }

/* pio_source_destroy and pio_sink_destroy release a source or a sink: its
 * destroy(ctx), if set, then the struct is zeroed, so a second call does
 * nothing. NULL, and NULL members, are fine. Never while a pipeline runs it. */
PIO_API void pio_source_destroy(struct pio_source *s);
PIO_API void pio_sink_destroy(struct pio_sink *s);

/* ---- selections ------------------------------------------------------------ */

/*
 * Frame selection over `nframes` frames: a comma-separated list of items,
 * each a slice START:STOP:STEP (Python semantics: parts may be empty or
 * negative; STEP may be negative), a frame N, or an inclusive range N-M.
 * The result keeps the order and repetitions written. *out is malloc'd
 * (free it) and never NULL; *n may be 0. Errors: PIO_EUSAGE (syntax, with
 * the character; a frame N or N-M out of range) or -ENOMEM, *out then NULL
 * and *n 0.
 */
PIO_API int pio_select_frames(const char *spec, uint64_t nframes, uint64_t **out, uint64_t *n,
                              struct pio_error *err);

/*
 * Atom selection, a small language in the spirit of MDAnalysis:
 *   expr    := and ('or' and)*        and := unary ('and' unary)*
 *   unary   := 'not' unary | '(' expr ')' | primary
 *   primary := 'all' | 'index' RANGES | 'resid' RANGES | RANGES
 *            | 'name' WORDS | 'resname' WORDS | 'chain' WORDS | 'element' WORDS
 * RANGES are N, N-M or N:M (inclusive), separated by spaces or commas;
 * WORDS may use * and ? wildcards. Names need a topology (top may be NULL
 * otherwise). The result is sorted and unique, every index < natoms. *out
 * is malloc'd (free it) and never NULL; *n may be 0. Errors: PIO_EUSAGE
 * (syntax, with the character; an index out of range; a name, resname,
 * chain or element without a topology; top->natoms != natoms), PIO_ELIMIT
 * (natoms above 2^34) or -ENOMEM, *out then NULL and *n 0.
 */
PIO_API int pio_select_atoms(const char *spec, const struct pio_topology *top, uint64_t natoms,
                             uint64_t **out, uint64_t *n, struct pio_error *err);

/* ---- running ------------------------------------------------------------- */

/* pio_pipeline_options.drop: enum pio_field bits, and this one. */
#define PIO_DROP_SCALARS (1u << 16)

struct pio_pipeline_progress {
    uint64_t frames_done, frames_total;
    uint64_t bytes_in; /* atom array bytes taken from the source */
    double seconds;
};

struct pio_pipeline_stats {
    uint64_t frames_in, frames_out, batches;
    uint64_t bytes_in, bytes_out; /* atom array bytes (source, sink) */
    double seconds;
    double source_wait;             /* seconds the source waited for a free buffer (backpressure) */
    double sink_wait;               /* seconds the sink waited for a batch */
    uint64_t buffers, buffer_bytes; /* pool size */
};

struct pio_pipeline_options {
    uint32_t size;         /* sizeof(struct pio_pipeline_options) */
    uint32_t batch_frames; /* frames per batch (0: 128); fewer when memory says so */
    uint32_t threads;      /* transform workers (0: the number of CPUs) */
    uint32_t drop;      /* fields to drop: PIO_FIELD_VELOCITIES | FORCES | BOX, PIO_DROP_SCALARS */
    uint64_t max_bytes; /* batch memory (0: 8 MiB); at least one frame per buffer */
    const char *frames; /* pio_select_frames spec, NULL: all */
    const char *atoms;  /* pio_select_atoms spec, NULL: all */
    /* Runs last on each batch (worker threads, concurrently), in the sink's
     * precision and units; a non-zero return stops the pipeline. */
    int (*transform)(void *ctx, struct pio_batch *b, struct pio_error *err);
    void *transform_ctx;
    /* Called by the sink thread after each batch. */
    void (*progress)(void *ctx, const struct pio_pipeline_progress *p);
    void *progress_ctx;
};
#define PIO_PIPELINE_OPTIONS_INIT                                                                  \
    {                                                                                              \
        sizeof(struct pio_pipeline_options), 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL        \
    }

/*
 * Run source -> transforms -> sink to the end or the first error; the
 * calling thread runs the sink (and progress), threads of the pipeline's
 * own the source and transforms. Returns 0 or the error: the failing
 * stage's code (-errno, a PIO_E* value, a transform's return), PIO_EUSAGE
 * (opts->size below sizeof(struct pio_pipeline_options), a source or sink
 * from a newer prism-io, a bad selection), -ENOMEM, -EAGAIN (threads could
 * not start); err (may be NULL) names the stage, frame and cause. Once
 * sink->begin has succeeded, sink->end is called whatever happens. opts
 * may be NULL. stats may be NULL; it is written also on failure (what was
 * done). The source and sink are not destroyed (pio_source_destroy,
 * pio_sink_destroy); each serves one run.
 */
PIO_API int pio_pipeline_run(struct pio_source *src, struct pio_sink *sink,
                             const struct pio_pipeline_options *opts,
                             struct pio_pipeline_stats *stats, struct pio_error *err);

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_PIPELINE_H */
