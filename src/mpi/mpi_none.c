/*
 * mpi without MPI (the build found no MPI, or PIO_WITH_MPI=OFF): says so.
 */
#include "prismio/mpi.h"

#include "common/pio_common.h"

PIO_API bool pio_mpi_built(void)
{
    return false;
}

PIO_API void pio_mpi_finalize(void)
{
}

PIO_API int pio_mpi_convert_world(const char *in, const char *out,
                                  const struct pio_mpi_convert_options *o,
                                  struct pio_mpi_convert_stats *stats, struct pio_error *err)
{
    (void)out;
    (void)o;
    (void)stats;
    return pio_error_set(err, PIO_ENOTSUPPORTED,
                         "%s: a parallel conversion needs MPI: this prism-io was built without "
                         "it (install libopenmpi-dev and rebuild)",
                         in);
}
