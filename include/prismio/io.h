/*
 * prism-io: I/O engines.
 *
 * Bulk reading of HOLO files (frame streams, verification) goes through an
 * engine: mmap (page-cache mapping; the default), pread, or io_uring
 * (batched asynchronous reads, registered buffers and file, optional
 * O_DIRECT). Single-frame views (pio_reader_frame) always come from the
 * reader's mapping.
 *
 * Choice: an option; when it says AUTO, the environment variable
 * PIO_IO_ENGINE (mmap, pread, uring); else mmap. Where io_uring cannot be
 * set up (ENOSYS, EPERM from seccomp or kernel.io_uring_disabled, ENOMEM
 * from RLIMIT_MEMLOCK) the library falls back to pread, and where the
 * filesystem refuses O_DIRECT (EINVAL) to buffered reads; it records why
 * (pio_reader_io_info) instead of failing.
 */
#ifndef PRISMIO_IO_H
#define PRISMIO_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pio_io_engine {
    PIO_IO_AUTO = 0,
    PIO_IO_MMAP = 1,
    PIO_IO_PREAD = 2,
    PIO_IO_URING = 3,
};
#define PIO_IO_ENGINE_COUNT 4

/* "auto", "mmap", "pread", "uring" (static strings); NULL if out of range. */
PIO_API const char *pio_io_engine_name(enum pio_io_engine e);
/* Parse one of those names: 0 and *out set, or PIO_EUSAGE (name NULL or
 * unknown; *out untouched). */
PIO_API int pio_io_engine_parse(const char *name, enum pio_io_engine *out);
/* Whether this build has engine e: mmap and pread always; io_uring when it
 * was built with liburing (else asking for it falls back to pread, with a
 * note saying "built without liburing"). Whether the machine allows
 * io_uring shows only when a file is opened (struct pio_io_info.note). */
PIO_API bool pio_io_engine_built(enum pio_io_engine e);

/* Whether `path` names a remote object, which pio_reader_open reads with
 * HTTP range requests: it starts with http://, https:// or s3://. */
PIO_API bool pio_path_is_remote(const char *path);
/* Whether this build reads remote objects (it was built with libcurl);
 * without, opening one fails with PIO_ENOTSUPPORTED saying so. */
PIO_API bool pio_remote_built(void);

/* What an open file (or stream) actually uses, and why if it differs. */
#define PIO_IO_NOTE_SIZE 192
struct pio_io_info {
    enum pio_io_engine requested; /* after resolving AUTO and PIO_IO_ENGINE */
    enum pio_io_engine engine;    /* in use */
    bool direct_requested;
    bool direct;                 /* O_DIRECT in use */
    uint32_t direct_align;       /* offset/length alignment O_DIRECT needs */
    bool registered_buffers;     /* io_uring fixed buffers in use (streams) */
    char note[PIO_IO_NOTE_SIZE]; /* empty, or why a fallback happened */
};

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_IO_H */
