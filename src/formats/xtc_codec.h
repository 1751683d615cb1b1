/*
 * convert: the XTC coordinate codec (see xtc_codec.c).
 */
#ifndef PIO_XTC_CODEC_H
#define PIO_XTC_CODEC_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/xdr.h"

#define XTC_MAGIC       1995
#define XTC_MAGIC_LARGE 2023 /* 64-bit byte count */
/* Above this many atoms GROMACS writes magic 2023: its readers size a
 * buffer of 1.2 * 3 * natoms ints, which overflows a 32-bit int beyond. */
#define XTC_LARGE_NATOMS 298261617u

/*
 * Decode the coordinates of one frame: the cursor is just after the
 * header's second atom count. out: natoms * 3 floats (nm). *precision is
 * the frame's (0 for natoms <= 9, stored as raw floats). 0, or a PIO_E*
 * code with *why a short reason.
 */
int pio__xtc_decode_coords(struct xdr_in *x, uint32_t natoms, bool large, float *out,
                           float *precision, const char **why);

/* Encode natoms * 3 floats at `precision` (ints: natoms * 3 scratch). */
int pio__xtc_encode_coords(struct xdr_out *o, const float *xyz, uint32_t natoms, float precision,
                           bool large, int32_t *ints, const char **why);

#endif /* PIO_XTC_CODEC_H */
