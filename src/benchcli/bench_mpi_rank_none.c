/*
 * `prismio bench mpi`'s rank side in a build without MPI: says so.
 */
#include <stdio.h>

#include "bench_common.h"

int bench_mpi_rank_job(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "prismio bench mpi: this prismio was built without MPI (libopenmpi-dev)\n");
    return EXIT_UNAVAILABLE;
}
