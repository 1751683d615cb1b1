/*
 * formats: what the format readers and writers share, and the registry's
 * entry type. A format is one file (two for a backend that may be missing
 * from the build: the real one and one whose open functions say why it is
 * unavailable) defining one `struct pio__format`, listed in registry.c.
 */
#ifndef PIO_FORMATS_INTERNAL_H
#define PIO_FORMATS_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "prismio/convert.h"

#include "pipeline/pio_pipeline.h"

/* ---- the registry's entries ---- */

struct pio__format {
    enum pio_format id;
    const char *name;        /* pio_format_name */
    const char *extensions;  /* ".pdb .ent": the first is the canonical one */
    uint32_t caps;           /* enum pio_format_caps */
    const char *unavailable; /* NULL, or why this build cannot open it */
    /* Its magic: whether the first n bytes are this format's (NULL: none). */
    bool (*probe)(const uint8_t *head, size_t n);
    /* Open as a pipeline source / sink; NULL when the format has none. o
     * is complete (the registry filled in defaults); a sink's overwrite
     * flag is o->flags & PIO_SINK_OVERWRITE. */
    int (*open_source)(struct pio_source *out, const char *path, const struct pio_source_options *o,
                       struct pio_error *err);
    int (*open_sink)(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                     struct pio_error *err);
};

extern const struct pio__format pio__format_holo, pio__format_xtc, pio__format_trr, pio__format_dcd,
    pio__format_ncdf, pio__format_gro, pio__format_pdb, pio__format_xyz, pio__format_arrow;

/* The big-endian / little-endian int32 at p. */
static inline uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* An output written as PATH.part and renamed to PATH when complete. */
struct outfile {
    char *path, *tmp;
    FILE *f;
};
int pio__outfile_open(struct outfile *o, const char *path, bool overwrite, struct pio_error *err);
/* ok: flush, fsync, rename over PATH, fsync the directory. !ok: remove. */
int pio__outfile_finish(struct outfile *o, bool ok, struct pio_error *err);

/* A read-only mapping of a whole input file. */
struct infile {
    char *path;
    int fd;
    const uint8_t *map;
    uint64_t size;
};
int pio__infile_open(struct infile *in, const char *path, struct pio_error *err);
void pio__infile_close(struct infile *in);

/* Per-atom topology columns grown while parsing a structure. */
struct topo_build {
    uint64_t n, cap, nbonds, bcap;
    char (*names)[8], (*resnames)[8], (*elements)[4], (*chains)[4];
    int32_t *resids;
    float *masses, *charges;
    uint32_t (*bonds)[2];
    struct pio_topology top; /* views of the above once finished */
};
/* Append an atom (strings are trimmed and cut to their field). */
int pio__topo_add(struct topo_build *t, const char *name, size_t nlen, const char *resname,
                  size_t rlen, int32_t resid, const char *chain, size_t clen, const char *element,
                  size_t elen);
int pio__topo_add_bond(struct topo_build *t, uint32_t a, uint32_t b);
void pio__topo_finish(struct topo_build *t);
void pio__topo_free(struct topo_build *t);
/* An element guessed from an atom name when a file gives none. */
void pio__guess_element(const char *name, char out[4]);

/* Box: 3x3 row vectors from lengths and angles (degrees), and back. */
void pio__box_from_lengths(double a, double b, double c, double alpha, double beta, double gamma,
                           double box[3][3]);
void pio__box_to_lengths(const double box[3][3], double out[6]);
/* Whether every value of a box is finite (pio__box_from_lengths gives none
 * for a gamma of 0 or 180 degrees). */
static inline bool box_finite(const double box[3][3])
{
    for (int i = 0; i < 9; i++)
        if (!isfinite(box[i / 3][i % 3]))
            return false;
    return true;
}

/* The frames a source was asked for (start), walked in that order. */
struct frame_walk {
    const uint64_t *sel;
    uint64_t n, k;
};
static inline void walk_start(struct frame_walk *w, const uint64_t *frames, uint64_t n,
                              uint64_t nframes)
{
    w->sel = frames;
    w->n = frames ? n : nframes;
    w->k = 0;
}
/* The next frame's index; false at the end. */
static inline bool walk_next(struct frame_walk *w, uint64_t *i)
{
    if (w->k == w->n)
        return false;
    *i = w->sel ? w->sel[w->k] : w->k;
    w->k++;
    return true;
}

/* Append x to a growing array of frame offsets: 0 or -ENOMEM. */
int pio__offsets_push(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x);

/* What every foreign sink starts with (its context's first member). */
struct sink_base {
    char *path;
    bool overwrite;
    struct outfile of;
};
/* A sink whose context is `size` zeroed bytes starting with a sink_base;
 * begin and end open and finish the output (override to do more). */
int pio__sink_new(struct pio_sink *out, size_t size, const char *name, const char *path,
                  bool overwrite,
                  int (*write)(void *, const struct pio_batch *, struct pio_error *),
                  void (*destroy)(void *), struct pio_error *err);
int pio__sink_base_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err);
int pio__sink_base_end(void *ctx, bool ok, struct pio_error *err);
/* Remove an unfinished output and free the base's fields (not ctx). */
void pio__sink_base_release(void *ctx);

/* Read exactly n bytes at off: 0, -errno, or PIO_ETRUNCATED at the end. */
int pio__conv_pread(int fd, void *buf, size_t n, uint64_t off);

/* A NetCDF file's records as its header and size tell them. */
struct ncdf_records {
    uint64_t numrecs;  /* the header's record count */
    uint64_t complete; /* of those, the records wholly inside the file */
    char warning[256]; /* records cut off or beyond numrecs; "" when none */
};
/* Check a NetCDF classic, 64-bit offset or CDF-5 header (map: the whole
 * file) field by field against the file's size, before libnetcdf may read
 * it (ncdf_header.c; built with or without libnetcdf): 0, PIO_EFORMAT
 * (not NetCDF), PIO_ENOTSUPPORTED (NetCDF-4), PIO_ECORRUPT (a message
 * naming the field and its offset) or -ENOMEM. */
int pio__ncdf_header_check(struct ncdf_records *out, const uint8_t *map, uint64_t size,
                           const char *path, struct pio_error *err);
/* What ncdf.c and ncdf_none.c both register. */
#define NCDF_EXTENSIONS ".ncdf .nc"
#define NCDF_CAPS                                                                                  \
    (PIO_FORMAT_CAN_READ | PIO_FORMAT_CAN_WRITE | PIO_FORMAT_HAS_VELOCITIES |                      \
     PIO_FORMAT_HAS_FORCES | PIO_FORMAT_HAS_BOX | PIO_FORMAT_RANDOM_ACCESS)
/* "CDF" and version 1 (classic), 2 (64-bit offset) or 5 (CDF-5). */
static inline bool ncdf_probe(const uint8_t *h, size_t n)
{
    return n >= 4 && h[0] == 'C' && h[1] == 'D' && h[2] == 'F' &&
           (h[3] == 1 || h[3] == 2 || h[3] == 5);
}

/* Just the topology of a GRO or PDB file (for --top). */
int pio__structure_topology(const char *path, enum pio_format fmt, struct topo_build *t,
                            struct pio_error *err);

/* An output to s3://BUCKET/KEY: open_sink writes a local temporary file,
 * uploaded when the sink ends well (upload.c). */
int pio__upload_sink_open(struct pio_sink *out, const char *url,
                          int (*open_sink)(struct pio_sink *, const char *,
                                           const struct pio_sink_options *, struct pio_error *),
                          const struct pio_sink_options *o, struct pio_error *err);

#endif /* PIO_FORMATS_INTERNAL_H */
