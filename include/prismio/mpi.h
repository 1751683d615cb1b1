/*
 * prismio/mpi.h: many MPI ranks writing and reading one HOLO file.
 *
 * Optional: built when CMake finds MPI (Debian: libopenmpi-dev); a build
 * without it has the functions of the first part, which say so
 * (pio_mpi_built() false, pio_mpi_convert_world PIO_ENOTSUPPORTED). The
 * functions that take an MPI_Comm are declared when <mpi.h> is included
 * before this header.
 *
 * The writer (docs/SCALING.md): every rank encodes its own frames into
 * FRAME records; the ranks agree on frame numbers and byte offsets with
 * MPI_Exscan; the records are written with MPI_File_write_at_all (the
 * MPI_Info given, collective buffering hints or striping, goes to
 * MPI_File_open); a commit is MPI_File_sync on every rank, then the COMMIT
 * record written and synced by rank 0, which holds the index (each
 * append sends it 64 bytes a frame). The file is byte for byte the one
 * pio_writer_append would write with the same frames, salt and commits,
 * where that writer writes FRAME records (raw, or compressed with
 * keyframe 1; the MPI writer writes no blocks). A rank that dies leaves
 * the file committed as of the last collective commit: `prismio recover`
 * keeps that and the complete frames after it.
 */
#ifndef PRISMIO_MPI_H
#define PRISMIO_MPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prismio/convert.h"
#include "prismio/holo.h"
#include "prismio/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether this libprismio was built with MPI. */
PIO_API bool pio_mpi_built(void);

/* The number of ranks the MPI launcher announced to this process
 * (OMPI_COMM_WORLD_SIZE of Open MPI's mpirun, PMI_SIZE of MPICH's and of
 * srun, MV2_COMM_WORLD_SIZE), 0 when it was not started by one. Needs no
 * MPI: a program tells a parallel run from a serial one before MPI_Init. */
PIO_API uint32_t pio_mpi_launched(void);

/* Frames [*first, *first + *count) of n for `rank` of `ranks`: contiguous
 * blocks in rank order, the first n % ranks ranks one frame more. */
PIO_API void pio_mpi_block(uint64_t n, uint32_t rank, uint32_t ranks, uint64_t *first,
                           uint64_t *count);

/* pio_mpi_convert's options: each may be NULL (defaults). The sink's
 * writer options: a raw .holo OUT (a codec, blocks, O_DIRECT or
 * commit_frames are PIO_EUSAGE); its salt, if set, makes the bytes
 * reproducible. The pipeline's `frames` selects frames of IN as in a
 * serial run; its progress callback runs on rank 0 only. */
struct pio_mpi_convert_options {
    uint32_t size; /* sizeof(struct pio_mpi_convert_options) */
    const struct pio_source_options *source;
    const struct pio_sink_options *sink;
    const struct pio_pipeline_options *pipeline;
};
#define PIO_MPI_CONVERT_OPTIONS_INIT                                                               \
    {                                                                                              \
        sizeof(struct pio_mpi_convert_options), NULL, NULL, NULL                                   \
    }

/* What a parallel conversion did, on every rank. */
struct pio_mpi_convert_stats {
    uint32_t rank, ranks;
    uint64_t frames;    /* frames written, all ranks */
    uint64_t my_frames; /* of them, this rank's */
    uint64_t bytes_in;  /* arrays read, all ranks (as pio_pipeline_stats.bytes_in) */
    uint64_t bytes_out; /* OUT's size */
    double seconds;     /* wall time of the whole conversion (rank 0's clock) */
    bool created;       /* OUT exists: a .holo on an error holds `frames`, committed; */
                        /* an .xtc or .trr appears only whole */
    bool parallel_scan; /* an XTC input's frames were found by the ranks in parallel */
    char warning[256];  /* what IN's source skipped (a truncated last frame), or "" */
};

/* pio_mpi_convert on MPI_COMM_WORLD, MPI initialised here if the caller
 * has not (then end with pio_mpi_finalize, after reporting: a rank that
 * exits makes the launcher stop the others): what `mpirun -np N prismio
 * convert IN OUT` runs. PIO_ENOTSUPPORTED in a build without MPI. */
PIO_API int pio_mpi_convert_world(const char *in, const char *out,
                                  const struct pio_mpi_convert_options *o,
                                  struct pio_mpi_convert_stats *stats, struct pio_error *err);

/* Collective on MPI_COMM_WORLD when pio_mpi_convert_world initialised MPI:
 * a barrier, then MPI_Finalize. Else (the caller's MPI, or none) nothing. */
PIO_API void pio_mpi_finalize(void);

#if defined(MPI_VERSION)
/* A writer shared by the ranks of a communicator. */
typedef struct pio_mpi_writer pio_mpi_writer;

/*
 * Collective: create `path` (rank 0, with opts: the same on every rank) and
 * open it on every rank with MPI_File_open(comm, ..., info) (info may be
 * MPI_INFO_NULL). opts: raw or compressed FRAME records; blocks
 * (keyframe above 1) and O_DIRECT are PIO_EUSAGE; the engine is pwrite.
 * Every rank gets the same return code, and the failing rank's message.
 */
PIO_API int pio_mpi_writer_create(pio_mpi_writer **out, MPI_Comm comm, const char *path,
                                  const struct pio_writer_options *opts, MPI_Info info,
                                  struct pio_error *err);

/* Collective, before the first append: the topology; rank 0's is
 * written (the META record), the other ranks' arguments are not looked
 * at. Every rank gets rank 0's return code and message. */
PIO_API int pio_mpi_writer_set_topology(pio_mpi_writer *w, const struct pio_topology *t,
                                        struct pio_error *err);
/* Collective, as pio_writer_set_metadata: rank 0's key and value. */
PIO_API int pio_mpi_writer_set_metadata(pio_mpi_writer *w, const char *key, const char *value,
                                        struct pio_error *err);

/*
 * Collective: each rank appends its n frames (n may be 0 and differ
 * between ranks); they land in rank order, rank 0's first. Time slices
 * (rank r holds the r-th block of a trajectory) make one trajectory;
 * ensemble members append a frame each per call. A frame a rank cannot
 * encode fails the call on every rank before anything is written (the
 * writer stays usable); a failed write fails the writer, and the file is
 * cut back to where the append began (its last commit and the complete
 * frames appended since).
 */
PIO_API int pio_mpi_writer_append(pio_mpi_writer *w, const struct pio_frame *frames, size_t n,
                                  struct pio_error *err);

/*
 * Collective: one frame of `natoms` atoms written by atom ranges (domain
 * decomposition): rank r gives atoms [first_atom, first_atom +
 * part->natoms) of it, the ranks' ranges back to back in rank order from 0
 * to natoms (a rank may hold none); positions, and velocities and forces
 * from every rank holding atoms or from none. Step, time, box and scalars
 * are rank 0's. A raw FRAME record (a codec is PIO_EUSAGE): each rank
 * writes its slice of each array with MPI_File_write_at_all at its place
 * in the record, rank 0 the header and scalars; then each rank reads back
 * its share of the record and hashes it into BLAKE3 subtree chaining
 * values, which rank 0 combines into the record's hash (the record is
 * read once more than it is written). The same record as
 * pio_writer_append of the whole frame. Errors as pio_mpi_writer_append.
 */
PIO_API int pio_mpi_writer_append_atoms(pio_mpi_writer *w, const struct pio_frame *part,
                                        uint64_t natoms, uint64_t first_atom,
                                        struct pio_error *err);

/* Collective: MPI_File_sync on every rank, then rank 0 writes the COMMIT
 * record and syncs it: readers (and recovery) see every frame appended so
 * far. */
PIO_API int pio_mpi_writer_commit(pio_mpi_writer *w, struct pio_error *err);

/* Collective: a final commit, the file closed on every rank, w freed
 * (also on failure). NULL does nothing. */
PIO_API int pio_mpi_writer_close(pio_mpi_writer *w, struct pio_error *err);

/* Frames in the file so far (the same on every rank). */
PIO_API uint64_t pio_mpi_writer_nframes(const pio_mpi_writer *w);

/*
 * Collective: every rank opens `path` with pio_reader_open (its local
 * engines; o may be NULL) and gets its block of the frames
 * (pio_mpi_block). PIO_ECORRUPT when the ranks see different commits
 * (a writer committed between their opens); every rank gets the same
 * code. *out is NULL on failure.
 */
PIO_API int pio_mpi_reader_open(pio_reader **out, MPI_Comm comm, const char *path,
                                const struct pio_reader_options *o, uint64_t *first,
                                uint64_t *count, struct pio_error *err);

/*
 * Collective: convert IN to OUT on every rank of comm, as `prismio
 * convert` would (the same bytes; a .holo with the same salt). An XTC
 * IN's frames are found by the ranks in parallel (each scans its share of
 * the bytes; the serial scan where the shares do not chain). An .xtc or
 * .trr OUT: each rank converts its block into OUT.rankR, then copies it
 * into OUT.part at its offset; rank 0 renames it OUT. A .holo OUT: each rank
 * runs the pipeline over its block of the selected frames and writes its
 * records at offsets agreed beforehand (every frame has the first
 * selected frame's shape after the pipeline's transforms: atoms, fields,
 * scalars; a frame that differs fails the run, naming it); rank 0 writes
 * the header, META and index. Records are written with independent
 * MPI_File_write_at (each rank as it converts; no MPI_Info hints). On an
 * error OUT is cut back to, and commits, the frames before the first
 * failing rank's first failure. Every rank gets the same code; stats may
 * be NULL. PIO_EUSAGE when the ranks see different frame counts in IN.
 * An .xtc or .trr OUT appears only whole (no OUT, nor scratch files, after
 * an error).
 */
PIO_API int pio_mpi_convert(MPI_Comm comm, const char *in, const char *out,
                            const struct pio_mpi_convert_options *o,
                            struct pio_mpi_convert_stats *stats, struct pio_error *err);
#endif /* MPI_VERSION */

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_MPI_H */
