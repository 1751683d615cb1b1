/* Library version, as linked (the headers give the version compiled against),
 * and the names every module shares. */
#include "pio_common.h"

PIO_API const char *pio_version(void)
{
    return PIO_VERSION_STRING;
}

PIO_API int pio_version_number(void)
{
    return PIO_VERSION_NUMBER;
}

const char *const pio__engine_names[PIO_ENGINE_NAMES] = {"auto", "mmap", "pread", "uring"};
