/*
 * `prismio bench mpi`'s rank side (built with MPI): what each rank of
 * `mpirun -np N prismio bench mpi --rank-job ...` does.
 *
 *   --rank-job write FILE ATOMS FRAMES   the collective writer: each rank
 *       its block of FRAMES frames, 16 a collective append, one commit
 *       and the close (durable); frames of random positions made once
 *   --rank-job read FILE                 the parallel reader: each rank its
 *       block, every frame's hash checked and its words summed
 *
 * Rank 0 prints "mpi-job seconds=S bytes=B": from a barrier after the
 * setup to the end of the last rank's work (a barrier); write adds
 * append_us=U, the time of an empty collective append (timed apart).
 */
#include <mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define PER_CALL      16
#define EMPTY_APPENDS 200

static int job_write(const char *path, uint64_t natoms, uint64_t nframes)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    uint64_t first, count;
    pio_mpi_block(nframes, (uint32_t)rank, (uint32_t)size, &first, &count);
    float(*x)[3] = malloc(natoms * sizeof(*x));
    int have = x != NULL, all = 0; /* every rank, or none, goes on */
    MPI_Allreduce(&have, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all) {
        fprintf(stderr, "prismio bench mpi: out of memory for %llu atoms\n",
                (unsigned long long)natoms);
        free(x);
        return EXIT_IOERR;
    }
    uint64_t s = 12345 + (uint64_t)rank;
    for (uint64_t a = 0; a < natoms; a++)
        for (int k = 0; k < 3; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[a][k] = (float)(s >> 40) / (float)(1u << 24) * 10.0f;
        }
    struct pio_frame f[PER_CALL];
    memset(f, 0, sizeof(f));
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = PIO_WRITER_OVERWRITE;
    pio_mpi_writer *w;
    struct pio_error e = {0};
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    if (pio_mpi_writer_create(&w, MPI_COMM_WORLD, path, &wo, MPI_INFO_NULL, &e) != 0) {
        fprintf(stderr, "%s\n", e.message);
        free(x);
        return EXIT_IOERR;
    }
    /* the fixed cost of a collective append: empty ones (the exchanges
     * of counts, offsets and index entries, nothing written) */
    int rc = 0;
    double a0 = MPI_Wtime();
    for (int k = 0; rc == 0 && k < EMPTY_APPENDS; k++)
        rc = pio_mpi_writer_append(w, f, 0, &e);
    double append_us = (MPI_Wtime() - a0) / EMPTY_APPENDS * 1e6;
    uint64_t most = (nframes + (uint64_t)size - 1) / (uint64_t)size;
    for (uint64_t done = 0; rc == 0 && done < most; done += PER_CALL) {
        size_t n = 0;
        for (; n < PER_CALL && done + n < count; n++) {
            f[n].natoms = natoms;
            f[n].positions = (const float(*)[3])x;
            f[n].step = (int64_t)(first + done + n);
            f[n].time = (double)(first + done + n);
        }
        rc = pio_mpi_writer_append(w, f, n, &e);
    }
    if (rc == 0)
        rc = pio_mpi_writer_close(w, &e);
    else
        pio_mpi_writer_close(w, NULL);
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime() - t0;
    free(x);
    if (rc != 0) {
        fprintf(stderr, "%s\n", e.message);
        return EXIT_IOERR;
    }
    if (rank == 0)
        printf("mpi-job seconds=%.6f bytes=%llu append_us=%.2f\n", t,
               (unsigned long long)(nframes * natoms * 12), append_us);
    return EXIT_OK;
}

static int job_read(const char *path)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    pio_reader *r;
    uint64_t first, count, bytes = 0, sum = 0;
    struct pio_error e = {0};
    if (pio_mpi_reader_open(&r, MPI_COMM_WORLD, path, NULL, &first, &count, &e) != 0) {
        fprintf(stderr, "%s\n", e.message);
        return EXIT_IOERR;
    }
    int rc = 0;
    for (uint64_t i = first; rc == 0 && i < first + count; i++) {
        struct pio_frame f;
        if ((rc = pio_reader_verify_frame(r, i, &e)) == 0 &&
            (rc = pio_reader_frame(r, i, &f, &e)) == 0) {
            sum += bench_sum_words(f.positions, (size_t)f.natoms * 12);
            bytes += f.natoms * 12;
        }
    }
    pio_reader_close(r);
    uint64_t all = 0;
    MPI_Reduce(&bytes, &all, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime() - t0;
    if (rc != 0) {
        fprintf(stderr, "%s\n", e.message);
        return EXIT_IOERR;
    }
    if (rank == 0)
        printf("mpi-job seconds=%.6f bytes=%llu sum=%llu\n", t, (unsigned long long)all,
               (unsigned long long)sum);
    return EXIT_OK;
}

int bench_mpi_rank_job(int argc, char **argv)
{
    MPI_Init(NULL, NULL);
    int rc = EXIT_USAGE;
    if (argc == 5 && strcmp(argv[1], "write") == 0)
        rc = job_write(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    else if (argc == 3 && strcmp(argv[1], "read") == 0)
        rc = job_read(argv[2]);
    else
        fprintf(stderr, "prismio bench mpi --rank-job write FILE ATOMS FRAMES | read FILE\n");
    fflush(stdout);
    MPI_Finalize();
    return rc;
}
