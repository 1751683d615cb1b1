/*
 * Fail-the-Nth-call injection (issue 21) for the out-of-memory and I/O
 * loops, SQLite style: every allocation or I/O call the library makes goes
 * through a wrapper (the program is linked with -Wl,--wrap=SYMBOL for each
 * call below, see tests/CMakeLists.txt), which counts the calls made while
 * armed, from any thread (the counter is atomic), and fails the Nth.
 *
 * Wrapped allocations (FW_ALLOC): malloc, calloc, realloc, aligned_alloc,
 * posix_memalign, strdup, strndup, realpath (the allocating form), fdopen,
 * fopen, mmap and pthread_create (a thread needs a stack). Every heap block
 * and mapping made through them is also remembered with its caller, so a
 * run's leaks are listed by where they were allocated (LeakSanitizer only
 * sees unreachable blocks, and never mappings).
 *
 * Wrapped I/O: open, close, fstat, pread, pwrite, pwritev, write, fsync,
 * fdatasync, ftruncate, rename, unlink, sync_file_range, and the stdio the
 * foreign-format sinks write with (fwrite, fflush, fclose). A failed stdio
 * call sets the stream's error flag, as a real failure does.
 *
 * Unarmed, every wrapper is a plain call of the real function.
 */
#ifndef PIO_FAULT_WRAP_H
#define PIO_FAULT_WRAP_H

#include <stddef.h>
#include <stdint.h>

enum fw_mode {
    FW_OFF,
    FW_ALLOC,       /* the Nth allocation fails (ENOMEM; pthread_create EAGAIN) */
    FW_IO_EIO,      /* the Nth I/O call fails with EIO (close and fclose still close) */
    FW_WRITE_SHORT, /* the Nth write (pwrite, pwritev, write, fwrite) writes half */
    FW_WRITE_FULL,  /* the Nth write writes half, every later one fails with ENOSPC */
    FW_READ_SHORT,  /* the Nth pread reads half */
};

/* Count from 0 and fail (or shorten) call number n (1-based) of the kind
 * `mode` counts; a new leak-tracking epoch starts. */
void fw_arm(enum fw_mode mode, long n);
/* Stop injecting; returns how many calls were failed or shortened. */
long fw_disarm(void);
/* Calls of the armed kind counted in the last armed window. */
long fw_calls(void);
/* Where the first injected failure of the last window was ("function
 * file:line" under a sanitizer, else "module+offset" for addr2line), or "". */
const char *fw_site(void);
/* The wrapped call that failed first in the last window ("malloc",
 * "pwritev", ...), or "". */
const char *fw_site_call(void);
/* Blocks and mappings allocated in the last armed window and still live:
 * their count, each printed to stderr with its caller. */
long fw_leaks(const char *what, long n);
/* Where a code address is, as fw_site. */
void fw_symbolize(const void *pc, char *out, size_t size);

#endif
