/*
 * convert: what the format readers and writers share.
 */
#ifndef PIO_CONVERT_INTERNAL_H
#define PIO_CONVERT_INTERNAL_H

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

/* The readers and writers. */
int xtc_source_open(struct pio_source *out, const char *path, struct pio_error *err);
int xtc_sink_open(struct pio_sink *out, const char *path, bool overwrite, float precision,
                  struct pio_error *err);
int text_source_open(struct pio_source *out, const char *path, enum pio_format fmt,
                     struct pio_error *err);
int text_sink_open(struct pio_sink *out, const char *path, enum pio_format fmt, bool overwrite,
                   struct pio_error *err);
/* Just the topology of a GRO or PDB file (for --top). */
int structure_topology(const char *path, enum pio_format fmt, struct topo_build *t,
                       struct pio_error *err);

#endif /* PIO_CONVERT_INTERNAL_H */
