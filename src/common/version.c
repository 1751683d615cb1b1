/* Library version, as linked (the headers give the version compiled against). */
#include "pio_common.h"

PIO_API const char *pio_version(void)
{
    return PIO_VERSION_STRING;
}

PIO_API int pio_version_number(void)
{
    return PIO_VERSION_NUMBER;
}
