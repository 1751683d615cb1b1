/*
 * The fuzz targets' input as a file: an anonymous memory file holding the
 * bytes, named by a /proc/self/fd path (the readers take paths).
 */
#ifndef PIO_FUZZ_MEMFD_H
#define PIO_FUZZ_MEMFD_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* The descriptor (close it), with its path in path[64]; -1 on failure. */
static inline int fuzz_memfd(const uint8_t *data, size_t size, char path[64])
{
    int fd = memfd_create("fuzz.input", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return -1;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

#endif /* PIO_FUZZ_MEMFD_H */
