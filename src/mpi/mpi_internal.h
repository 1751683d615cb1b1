/*
 * mpi: the writer's state and the helpers the parallel conversion shares
 * with it. Built with MPI only.
 */
#ifndef PIO_MPI_INTERNAL_H
#define PIO_MPI_INTERNAL_H

#include <mpi.h>

#include "prismio/mpi.h"

#include "format/pio_format.h"

struct pio_mpi_writer {
    MPI_Comm comm; /* the caller's, duplicated */
    int rank, size;
    char *path;
    MPI_File fh;
    bool fh_open;
    int hint_fd;      /* the file, for writeback hints (-1: none) */
    bool no_sync;     /* PIO_WRITER_NO_SYNC: no hints either */
    pio_writer *w;    /* rank 0: the file's writer (header, META, index); others: an encoder */
    uint64_t end;     /* where the next record goes (every rank agrees) */
    bool end_known;   /* rank 0's META is written and `end` broadcast */
    uint64_t nframes; /* frames in the file */
    int failed;       /* sticky: a write failed on some rank */
    uint8_t *stage;   /* this rank's records of one append */
    size_t stage_cap;
    struct pio__placed *placed;
    size_t placed_cap;
};

/* Every rank's rc: 0 if all are 0; else the first failing rank's code on
 * every rank, and its message in err on the others. Collective. */
int pio__mpi_agree(MPI_Comm comm, int rc, struct pio_error *err);

/* Collective: the writer's end agreed (rank 0 writes its META record
 * first, on the first call). */
int pio__mpi_tail(pio_mpi_writer *w, struct pio_error *err);

/* Collective: p[0..n) of this rank (absolute offsets, in frame order, the
 * ranks' in rank order) sent to rank 0, which indexes them; nframes and
 * end advanced on every rank. */
int pio__mpi_adopt(pio_mpi_writer *w, const struct pio__placed *p, uint64_t n,
                   struct pio_error *err);

/* Start the device writing [off, off + len) of the file without waiting
 * (sync_file_range), as the serial writer does every 8 MiB, so a commit's
 * sync finds little left: a hint, its errors left to the sync. */
void pio__mpi_writeback(pio_mpi_writer *w, uint64_t off, uint64_t len);

/* A barrier that sleeps while it waits (MPI_Ibarrier, tested every 100
 * us): before a collective that follows uneven work, so the ranks done
 * first do not spin on the cores the others still work on (Open MPI
 * polls in blocking calls; measured: 11% of a converting rank's CPU). */
void pio__mpi_quiet_barrier(MPI_Comm comm);

/* Collective, after a failure: the file cut back (by rank 0) to `end`,
 * every record written after it by any rank dropped, so the file ends
 * with its last commit or the complete records after it. 0 or -errno on
 * every rank. */
int pio__mpi_cut(pio_mpi_writer *w);

/* A message for a failed MPI call. */
int pio__mpi_fail(struct pio_error *err, int mpirc, const char *path, const char *what);

#endif /* PIO_MPI_INTERNAL_H */
