/*
 * prism-io: converters between HOLO and the formats MD engines write.
 *
 * Each format has a reader (a pipeline source) and a writer (a pipeline
 * sink) behind one interface: open a source or a sink by path (the format
 * comes from the extension unless given) and run them through
 * pio_pipeline_run, with every selection and transform the pipeline has.
 *
 * Units are converted to HOLO's (nm, ps) on reading and back to the
 * format's own on writing (Angstrom for PDB and XYZ). Foreign outputs are
 * written under a temporary name (OUT.part) and renamed when complete; a
 * failed run removes it. (A HOLO output instead keeps, committed, the
 * frames written before a failure.)
 *
 * Formats so far: HOLO, XTC (magic 1995 and 2023), TRR (float and double;
 * written in float), DCD (CHARMM and NAMD, either byte order; written as
 * CHARMM little-endian), AMBER NetCDF (through libnetcdf, when the build
 * found it), GRO (with velocities), PDB (single and multi-model, CRYST1,
 * CONECT), XYZ, Arrow IPC (either layout of prismio/arrow.h); each read
 * and written.
 */
#ifndef PRISMIO_CONVERT_H
#define PRISMIO_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pio_format {
    PIO_FORMAT_UNKNOWN = 0,
    PIO_FORMAT_HOLO = 1,
    PIO_FORMAT_XTC = 2,
    PIO_FORMAT_GRO = 3,
    PIO_FORMAT_PDB = 4,
    PIO_FORMAT_XYZ = 5,
    PIO_FORMAT_TRR = 6,
    PIO_FORMAT_DCD = 7,
    PIO_FORMAT_NCDF = 8,  /* AMBER NetCDF (.ncdf, .nc) */
    PIO_FORMAT_ARROW = 9, /* Arrow IPC file (.arrow, .feather): see prismio/arrow.h */
};

/* What a format can do (struct pio_format_info.caps). */
enum pio_format_caps {
    PIO_FORMAT_CAN_READ = 1u << 0,
    PIO_FORMAT_CAN_WRITE = 1u << 1,
    PIO_FORMAT_HAS_TOPOLOGY = 1u << 2,   /* atom names, residues, ... */
    PIO_FORMAT_HAS_VELOCITIES = 1u << 3, /* read and written */
    PIO_FORMAT_HAS_FORCES = 1u << 4,
    PIO_FORMAT_HAS_BOX = 1u << 5,
    PIO_FORMAT_RANDOM_ACCESS = 1u << 6, /* a frame is found without reading those before it */
    PIO_FORMAT_CHECKSUMS = 1u << 7,     /* every record is checked on reading */
    PIO_FORMAT_ZERO_COPY = 1u << 8,     /* frames are views of the file's bytes */
};

/* One entry of the format registry. */
struct pio_format_info {
    uint32_t size; /* sizeof(struct pio_format_info): PIO_FORMAT_INFO_INIT sets it */
    enum pio_format format;
    const char *name;        /* as pio_format_name */
    const char *extensions;  /* ".pdb .ent": the first is the one written */
    uint32_t caps;           /* enum pio_format_caps */
    const char *unavailable; /* NULL; or why this build cannot open it */
};
#define PIO_FORMAT_INFO_INIT                                                                       \
    {                                                                                              \
        sizeof(struct pio_format_info), PIO_FORMAT_UNKNOWN, NULL, NULL, 0, NULL                    \
    }

/* Describe format f (static strings): 0, or PIO_EUSAGE for a value no
 * format has (or out->size short of `caps`). An older, smaller struct gets
 * the members it has, and out->size says how many bytes were filled.
 * Formats are numbered from 1 with no gap, so
 * `for (f = 1; pio_format_info(f, &fi) == 0; f++)` lists them. */
PIO_API int pio_format_info(enum pio_format f, struct pio_format_info *out);

/* The format whose magic bytes start `head` (n bytes: 64 are enough);
 * PIO_FORMAT_UNKNOWN for text formats (GRO, PDB, XYZ) and anything else. */
PIO_API enum pio_format pio_format_probe(const void *head, size_t n);

/* From the file name's extension (case-insensitive): .holo .xtc .trr .dcd
 * .ncdf (.nc) .gro .pdb (.ent) .xyz .arrow (.feather); PIO_FORMAT_UNKNOWN
 * otherwise. */
PIO_API enum pio_format pio_format_from_path(const char *path);
/* "holo", "xtc", ... (static strings); "unknown" for a value no format has. */
PIO_API const char *pio_format_name(enum pio_format f);
/* Parse a name as printed by pio_format_name (case-insensitive): 0 and
 * *out set, or PIO_EUSAGE (*out untouched; also for NULL). */
PIO_API int pio_format_parse(const char *name, enum pio_format *out);

/* Flags of pio_source_holo and struct pio_source_options. */
enum pio_source_flags {
    /* Skip the BLAKE3 check of each frame record read (by default a frame
     * whose checksum fails stops the run: a conversion never launders a
     * damaged frame into a file with fresh, valid checksums). */
    PIO_SOURCE_NO_VERIFY = 1u << 0,
    /* pio_source_open (every format) refuses an input it would convert
     * with a warning (a truncated or torn last frame to skip; a HOLO
     * file's damaged metadata record) instead: PIO_ETRUNCATED, the
     * warning as the message. */
    PIO_SOURCE_STRICT = 1u << 1,
};
/*
 * A HOLO file as a pipeline source, read through the reader's engine (ro
 * may be NULL; from an older, smaller struct the members its size covers
 * are taken). Engine AUTO means PIO_IO_ENGINE, else pread (not mmap: a
 * stream reads every frame once, and a mapping would keep every page it
 * touched resident). flags: enum pio_source_flags (PIO_SOURCE_STRICT acts
 * only through pio_source_open). On success *out is the caller's, ended
 * with pio_source_destroy (which closes the file); its info's topology and
 * metadata strings live as long as it. On failure *out is zeroed and the
 * error is pio_reader_open's, or -ENOMEM.
 */
PIO_API int pio_source_holo(struct pio_source *out, const char *path,
                            const struct pio_reader_options *ro, uint32_t flags,
                            struct pio_error *err);
/*
 * A HOLO file being written, as a source that follows it
 * (pio_frame_stream_follow with `so`, which may be NULL: no timeout,
 * inotify): every frame from the first on, as it is committed, ending
 * when the file is final; -ETIMEDOUT from next when no commit comes within
 * so->follow_timeout_ms. Opening waits for the first frame (or the final
 * commit of an empty file) and sizes the run by it: a later frame with
 * more atoms than the file held when it opened (its topology, its largest
 * frame) stops the run with PIO_ELIMIT. The source is read whole: a frame
 * selection is PIO_EUSAGE. Otherwise as pio_source_holo.
 */
PIO_API int pio_source_holo_follow(struct pio_source *out, const char *path,
                                   const struct pio_reader_options *ro, uint32_t flags,
                                   const struct pio_stream_options *so, struct pio_error *err);
/* Deterministic frames: positions, two scalars (and velocities, forces,
 * box as `fields` asks) and a topology, from `seed` and the frame number,
 * so any frame can be regenerated (tests, benchmarks). *out as for
 * pio_source_holo. PIO_EUSAGE (natoms 0 or above PIO_HOLO_MAX_ATOMS) or
 * -ENOMEM. */
PIO_API int pio_source_synthetic(struct pio_source *out, uint64_t nframes, uint64_t natoms,
                                 uint32_t fields, uint64_t seed, struct pio_error *err);
/* Frame i of pio_source_synthetic(.., natoms, fields, seed) into caller
 * arrays of natoms * 3 floats (v and f may be NULL) and sc; fills out,
 * whose pointers are x, v, f and sc (out->fields holds only the box bit:
 * the arrays show by their pointers). Cannot fail. */
PIO_API void pio_synthetic_frame(uint64_t i, uint64_t natoms, uint32_t fields, uint64_t seed,
                                 float *x, float *v, float *f, struct pio_scalar sc[2],
                                 struct pio_frame *out);

/*
 * A HOLO writer as a sink: topology and metadata from the source (after
 * selection), plus `prismio.source` metadata when given. commit_frames: a
 * commit every that many frames (0: only at the end). On a failed run the
 * frames written so far are committed. wo->hash_threads 0 means the CPUs
 * the source's threads leave free (pio_source_info.threads; at least 1).
 * wo may be NULL; it, its salt and path are copied. The file is created
 * when the run begins, so pio_writer_create's errors (-EEXIST, ...) fail
 * the run, not this call. *out is the caller's, ended with
 * pio_sink_destroy; zeroed on failure: PIO_EUSAGE (wo->size too small) or
 * -ENOMEM.
 */
PIO_API int pio_sink_holo(struct pio_sink *out, const char *path,
                          const struct pio_writer_options *wo, uint64_t commit_frames,
                          struct pio_error *err);

struct pio_source_options {
    uint32_t size;          /* sizeof(struct pio_source_options) */
    uint32_t flags;         /* enum pio_source_flags (HOLO) */
    enum pio_format format; /* UNKNOWN: from the extension */
    /* A structure file (GRO or PDB) whose topology the frames get: its atom
     * count must equal the trajectory's. NULL: the input's own, if any. */
    const char *topology;
    const struct pio_reader_options *reader; /* HOLO inputs; may be NULL */
    /* XTC: frames decoded in parallel on this many threads (0: all CPUs;
     * 1: on the pipeline's source thread). */
    uint32_t threads;
};
#define PIO_SOURCE_OPTIONS_INIT                                                                    \
    {                                                                                              \
        sizeof(struct pio_source_options), 0, PIO_FORMAT_UNKNOWN, NULL, NULL, 0                    \
    }

/* Open `path` as a pipeline source. Truncated last frames are skipped
 * with a warning (pio_source_info.warning); other damage is an error
 * naming the file, frame and offset. o may be NULL (from an older, smaller
 * struct the members its size covers are taken; it must reach `reader`).
 * *out is the caller's, ended with pio_source_destroy; zeroed on failure:
 * PIO_EUSAGE (options, an unknown format, a topology file not .gro or
 * .pdb), PIO_ETRUNCATED
 * (PIO_SOURCE_STRICT), PIO_ENOTSUPPORTED (a format this build lacks), or
 * the format's own (-errno, PIO_EFORMAT, PIO_ECORRUPT, -ENOMEM, ...). A
 * topology file whose atom count differs fails the run (PIO_EUSAGE). */
PIO_API int pio_source_open(struct pio_source *out, const char *path,
                            const struct pio_source_options *o, struct pio_error *err);

/* Metadata key of the precision (values per nm) an XTC source's frames
 * share: a HOLO file converted from it keeps it, a compressed one
 * quantises at it by default, and an XTC written from either uses it, so
 * XTC -> HOLO -> XTC gives the same bytes at any precision. */
#define PIO_META_XTC_PRECISION "xtc.precision"

enum pio_sink_flags {
    PIO_SINK_OVERWRITE = 1u << 0, /* replace an existing output */
    /* HOLO: add the frames to the existing file (pio_writer_open_append:
     * its topology, metadata and salt stay; writer options other than the
     * hashing threads and flags do not apply; a topology whose atom count
     * differs from the source's fails the run). Other formats, and with
     * PIO_SINK_OVERWRITE: PIO_EUSAGE. */
    PIO_SINK_APPEND = 1u << 1,
};

struct pio_sink_options {
    uint32_t size; /* sizeof(struct pio_sink_options) */
    uint32_t flags;
    enum pio_format format; /* UNKNOWN: from the extension */
    /* XTC: values per nm; 0: the source's metadata PIO_META_XTC_PRECISION
     * (an XTC input's own, or what a HOLO file kept from the XTC it came
     * from), else 1000 (0.001 nm) */
    float xtc_precision;
    const struct pio_writer_options *writer; /* HOLO; may be NULL */
    uint64_t commit_frames;                  /* HOLO: see pio_sink_holo */
    uint32_t arrow_layout;                   /* Arrow: enum pio_arrow_layout */
    /* HOLO: metadata set after the source's (a key given twice: the last
     * value), as key, value pairs ended by a NULL key; NULL for none. The
     * strings are copied. Other formats have no metadata: ignored. */
    const char *const *metadata;
};
#define PIO_SINK_OPTIONS_INIT                                                                      \
    {                                                                                              \
        sizeof(struct pio_sink_options), 0, PIO_FORMAT_UNKNOWN, 0.0f, NULL, 0, 0, NULL             \
    }

/* Open `path` as a pipeline sink, in o->format or the extension's. o may
 * be NULL (a struct from before arrow_layout is fine). Foreign formats are
 * written to PATH.part, renamed when the run ends well, removed otherwise;
 * HOLO as pio_sink_holo. The output is created when the run begins, so an
 * existing file (-EEXIST without PIO_SINK_OVERWRITE) fails the run, not
 * this call. `path` may be s3://BUCKET/KEY: the output is written to a
 * private temporary directory (under TMPDIR) and, when the run ends well,
 * uploaded by S3 multipart upload (4 parts of 16 MiB at once), so the object
 * appears only complete; the local copy is removed either way (see
 * pio_reader_open for the S3 settings). *out is the caller's, ended with
 * pio_sink_destroy; zeroed on failure: PIO_EUSAGE (options, an unknown
 * format, a bad xtc_precision), PIO_ENOTSUPPORTED (a format this build
 * lacks; an http:// or https:// output; no libcurl) or -ENOMEM. */
PIO_API int pio_sink_open(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                          struct pio_error *err);

/* ---- datasets of structures (HOLO 2.3 named arrays) ---- */

/* Whether path is extended XYZ: a .extxyz file, or a .xyz one whose
 * comment line (the second) holds Properties= or Lattice=. */
PIO_API bool pio_path_is_extxyz(const char *path);

enum pio_dataset_convert_flags {
    PIO_DSCONV_OVERWRITE = 1u << 0, /* replace OUT */
    PIO_DSCONV_NO_SYNC = 1u << 1,   /* a .holo OUT committed without fdatasync */
};
struct pio_dataset_convert_report {
    uint64_t structures, atoms;
};
/*
 * Convert a dataset of structures, IN to OUT: extended XYZ (ASE's dialect)
 * or .holo, either way, every field kept (positions, species, Lattice,
 * pbc, forces, energy, every other key and column, as named arrays and
 * scalars: docs/FORMAT.md "Named arrays"). A .holo IN's frames are
 * checked (BLAKE3) before they are written. Not through the pipeline:
 * its frames carry no named arrays. rep (may be NULL) counts what was
 * written. A .holo OUT keeps, committed, the structures written before
 * an error; an extxyz OUT is written as OUT.part and renamed when
 * complete. Errors name the file, line and structure: PIO_ECORRUPT (a
 * count, a column, a value that is not what the comment line says),
 * PIO_ETRUNCATED, PIO_ELIMIT (a value no float32 holds, a name too long),
 * PIO_EUSAGE (another format), -errno, -ENOMEM; and the reader's and
 * writer's.
 */
PIO_API int pio_dataset_convert(const char *in, const char *out, uint32_t flags,
                                struct pio_dataset_convert_report *rep, struct pio_error *err);

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_CONVERT_H */
