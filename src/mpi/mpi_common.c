/*
 * mpi: what needs no MPI (built with or without it): the launcher's rank
 * count, the block of frames a rank takes.
 */
#include <stdlib.h>

#include "prismio/mpi.h"

PIO_API uint32_t pio_mpi_launched(void)
{
    /* Open MPI's mpirun, MPICH's hydra and srun (PMI), MVAPICH */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        char *end;
        unsigned long n = v ? strtoul(v, &end, 10) : 0;
        if (v && *v && *end == '\0' && n > 0 && n < (1ul << 31))
            return (uint32_t)n;
    }
    return 0;
}

PIO_API void pio_mpi_block(uint64_t n, uint32_t rank, uint32_t ranks, uint64_t *first,
                           uint64_t *count)
{
    if (ranks == 0 || rank >= ranks) {
        *first = n;
        *count = 0;
        return;
    }
    uint64_t q = n / ranks, r = n % ranks;
    *first = (uint64_t)rank * q + (rank < r ? rank : r);
    *count = q + (rank < r ? 1 : 0);
}
