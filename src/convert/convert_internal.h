/*
 * convert: what the format readers and writers share.
 */
#ifndef PIO_CONVERT_INTERNAL_H
#define PIO_CONVERT_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "prismio/convert.h"

/* An output written as PATH.part and renamed to PATH when complete. */
struct outfile {
    char *path, *tmp;
    FILE *f;
};
int outfile_open(struct outfile *o, const char *path, bool overwrite, struct pio_error *err);
/* ok: flush, fsync, rename over PATH, fsync the directory. !ok: remove. */
int outfile_finish(struct outfile *o, bool ok, struct pio_error *err);

/* A read-only mapping of a whole input file. */
struct infile {
    char *path;
    int fd;
    const uint8_t *map;
    uint64_t size;
};
int infile_open(struct infile *in, const char *path, struct pio_error *err);
void infile_close(struct infile *in);

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
int topo_add(struct topo_build *t, const char *name, size_t nlen, const char *resname, size_t rlen,
             int32_t resid, const char *chain, size_t clen, const char *element, size_t elen);
int topo_add_bond(struct topo_build *t, uint32_t a, uint32_t b);
void topo_finish(struct topo_build *t);
void topo_free(struct topo_build *t);
/* An element guessed from an atom name when a file gives none. */
void guess_element(const char *name, char out[4]);

/* Box: 3x3 row vectors from lengths and angles (degrees), and back. */
void box_from_lengths(double a, double b, double c, double alpha, double beta, double gamma,
                      double box[3][3]);
void box_to_lengths(const double box[3][3], double out[6]);
/* Whether every value of a box is finite (box_from_lengths gives none
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
int offsets_push(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x);

/* What every foreign sink starts with (its context's first member). */
struct sink_base {
    char *path;
    bool overwrite;
    struct outfile of;
};
/* A sink whose context is `size` zeroed bytes starting with a sink_base;
 * begin and end open and finish the output (override to do more). */
int sink_new(struct pio_sink *out, size_t size, const char *name, const char *path, bool overwrite,
             int (*write)(void *, const struct pio_batch *, struct pio_error *),
             void (*destroy)(void *), struct pio_error *err);
int sink_base_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err);
int sink_base_end(void *ctx, bool ok, struct pio_error *err);
/* Remove an unfinished output and free the base's fields (not ctx). */
void sink_base_release(void *ctx);

/* Read exactly n bytes at off: 0, -errno, or PIO_ETRUNCATED at the end. */
int conv_pread(int fd, void *buf, size_t n, uint64_t off);

/* The readers and writers. */
/* threads: decoders (0: all CPUs; 1: the caller only). */
int xtc_source_open(struct pio_source *out, const char *path, uint32_t threads,
                    struct pio_error *err);
int xtc_sink_open(struct pio_sink *out, const char *path, bool overwrite, float precision,
                  struct pio_error *err);
int trr_source_open(struct pio_source *out, const char *path, struct pio_error *err);
int trr_sink_open(struct pio_sink *out, const char *path, bool overwrite, struct pio_error *err);
int dcd_source_open(struct pio_source *out, const char *path, struct pio_error *err);
int dcd_sink_open(struct pio_sink *out, const char *path, bool overwrite, struct pio_error *err);
int ncdf_source_open(struct pio_source *out, const char *path, struct pio_error *err);
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
int ncdf_header_check(struct ncdf_records *out, const uint8_t *map, uint64_t size, const char *path,
                      struct pio_error *err);
int ncdf_sink_open(struct pio_sink *out, const char *path, bool overwrite, struct pio_error *err);
int text_source_open(struct pio_source *out, const char *path, enum pio_format fmt,
                     struct pio_error *err);
int text_sink_open(struct pio_sink *out, const char *path, enum pio_format fmt, bool overwrite,
                   struct pio_error *err);
/* Just the topology of a GRO or PDB file (for --top). */
int structure_topology(const char *path, enum pio_format fmt, struct topo_build *t,
                       struct pio_error *err);

#endif /* PIO_CONVERT_INTERNAL_H */
