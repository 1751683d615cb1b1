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

/* From the file name's extension (case-insensitive): .holo .xtc .trr .dcd
 * .ncdf (.nc) .gro .pdb (.ent) .xyz .arrow (.feather); PIO_FORMAT_UNKNOWN
 * otherwise. */
PIO_API enum pio_format pio_format_from_path(const char *path);
/* "holo", "xtc", ...; "unknown". */
PIO_API const char *pio_format_name(enum pio_format f);
/* Parse a name as printed by pio_format_name: 0 or PIO_EUSAGE. */
PIO_API int pio_format_parse(const char *name, enum pio_format *out);

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
 * naming the file, frame and offset. o may be NULL. */
PIO_API int pio_source_open(struct pio_source *out, const char *path,
                            const struct pio_source_options *o, struct pio_error *err);

enum pio_sink_flags {
    PIO_SINK_OVERWRITE = 1u << 0, /* replace an existing output */
};

struct pio_sink_options {
    uint32_t size; /* sizeof(struct pio_sink_options) */
    uint32_t flags;
    enum pio_format format;                  /* UNKNOWN: from the extension */
    float xtc_precision;                     /* XTC: 0 means 1000 (0.001 nm) */
    const struct pio_writer_options *writer; /* HOLO; may be NULL */
    uint64_t commit_frames;                  /* HOLO: see pio_sink_holo */
    uint32_t arrow_layout;                   /* Arrow: enum pio_arrow_layout */
};
#define PIO_SINK_OPTIONS_INIT                                                                      \
    {                                                                                              \
        sizeof(struct pio_sink_options), 0, PIO_FORMAT_UNKNOWN, 0.0f, NULL, 0, 0                   \
    }

PIO_API int pio_sink_open(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                          struct pio_error *err);

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_CONVERT_H */
