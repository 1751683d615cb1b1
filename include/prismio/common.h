/*
 * prism-io: common definitions shared by every public header.
 *
 * Error model (see docs/ARCHITECTURE.md):
 *   - Functions that can fail return int: 0 on success, a negative errno
 *     value (-ENOENT, -EIO, ...) for operating-system failures, or a value in
 *     the library band [PIO_ERR_FIRST, PIO_ERR_LAST] for library failures.
 *   - Counts come back as int64_t, negative on error with the same codes.
 *   - pio_strerror() names any of those codes.
 *   - Where a function takes a `struct pio_error *` (optional, may be NULL),
 *     it writes a one-line message with context (file, frame, offset) on
 *     every failing return. The struct is caller-owned; there is no hidden
 *     thread-local "last error".
 */
#ifndef PRISMIO_COMMON_H
#define PRISMIO_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols of the shared library are hidden unless marked PIO_API. */
#if defined(_WIN32)
#define PIO_API
#elif defined(__GNUC__) && __GNUC__ >= 4
#define PIO_API __attribute__((visibility("default")))
#else
#define PIO_API
#endif

/* Library version (not the file format's: see prismio/holo.h for that). */
#define PIO_VERSION_MAJOR  0
#define PIO_VERSION_MINOR  2
#define PIO_VERSION_PATCH  0
#define PIO_VERSION_STRING "0.2.0"
#define PIO_VERSION_NUMBER (PIO_VERSION_MAJOR * 10000 + PIO_VERSION_MINOR * 100 + PIO_VERSION_PATCH)

/* Version of the library actually linked, as "MAJOR.MINOR.PATCH" (the
 * macros above give the version compiled against). A static string: do not
 * free it. Never fails; thread-safe. */
PIO_API const char *pio_version(void);
/* Same, as MAJOR*10000 + MINOR*100 + PATCH, to compare with PIO_VERSION_NUMBER. */
PIO_API int pio_version_number(void);

/*
 * Library error codes: a reserved negative band below every errno value
 * (Linux errno values stay under 4096). Values are part of the ABI.
 */
enum pio_errcode {
    PIO_OK = 0,
    PIO_ERR_FIRST = -5099,
    PIO_ECORRUPT = -5001,      /* structure of the data is invalid */
    PIO_ECHECKSUM = -5002,     /* a checksum does not match the data */
    PIO_EVERSION = -5003,      /* unsupported format version or required feature */
    PIO_ETRUNCATED = -5004,    /* data ends before a structure it promises */
    PIO_EFORMAT = -5005,       /* not a file of the expected format (bad magic) */
    PIO_EUSAGE = -5006,        /* invalid argument or call sequence */
    PIO_ELIMIT = -5007,        /* a value exceeds a limit of the format or library */
    PIO_ENOTSUPPORTED = -5008, /* feature not supported by this build or CPU */
    PIO_EREMOTE = -5009,       /* a server broke the protocol (wrong range, status, length) */
    PIO_ERR_LAST = -5001
};

/* Size of the message buffer in struct pio_error. */
#define PIO_ERROR_MESSAGE_SIZE 512

/*
 * Caller-owned error detail. Zero-initialise it (or not: only failing calls
 * write it). On a failing return, `code` holds the returned code and
 * `message` a NUL-terminated line such as
 *   "traj.holo: frame 812 at offset 0x3f20: checksum mismatch".
 */
struct pio_error {
    int code;
    char message[PIO_ERROR_MESSAGE_SIZE];
};

/*
 * A static description of `code` (0, -errno or a PIO_E* value): never NULL,
 * never to be freed; unknown codes give "unknown error". Thread-safe (on
 * glibc before 2.32 and other C libraries, -errno texts come from
 * strerror(), whose buffer the C library owns).
 */
PIO_API const char *pio_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_COMMON_H */
