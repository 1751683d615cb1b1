/*
 * Error codes and messages: the library band of codes and pio_strerror().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pio_common.h"

int pio_error_setv(struct pio_error *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
    }
    return code;
}

int pio_error_set(struct pio_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pio_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

PIO_API const char *pio_strerror(int code)
{
    switch (code) {
    case PIO_OK:
        return "success";
    case PIO_ECORRUPT:
        return "corrupt data";
    case PIO_ECHECKSUM:
        return "checksum mismatch";
    case PIO_EVERSION:
        return "unsupported format version or feature";
    case PIO_ETRUNCATED:
        return "data truncated";
    case PIO_EFORMAT:
        return "not a file of the expected format";
    case PIO_EUSAGE:
        return "invalid argument";
    case PIO_ELIMIT:
        return "value exceeds a limit";
    case PIO_ENOTSUPPORTED:
        return "not supported by this build or machine";
    case PIO_EREMOTE:
        return "remote server error";
    default:
        break;
    }
    if (code < 0 && code > -4096) {
        /* strerrordesc_np returns a static string (strerror may not). */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        const char *s = strerrordesc_np(-code);
        if (s)
            return s;
#else
        return strerror(-code);
#endif
    }
    return "unknown error";
}
