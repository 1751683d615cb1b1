/*
 * HOLO recovery: commit a file whose writer died.
 *
 * The forward scan (holo_scan) finds every complete, valid record; what
 * follows the last one was never covered by a commit (a torn record, or
 * zeros and garbage after a power loss), so it is cut off, and a new INDEX
 * record and footer are appended and synced. No byte that a commit covered
 * is rewritten.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/holo_internal.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))

PIO_API int pio_holo_recover(const char *path, struct pio_recover_report *report,
                             struct pio_error *err)
{
    struct pio_recover_report rep = {0};
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        return pio_error_set(err, rc, "%s: %s", path, pio_strerror(rc));
    }
    int rc = 0;
    uint8_t *map = NULL;
    struct holo_scan s = {0};
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        pio_error_set(err, rc, "%s: %s", path, pio_strerror(rc));
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < HOLO_HEADER_SIZE) {
        rc = pio_error_set(err, size >= 8 ? PIO_ETRUNCATED : PIO_EFORMAT,
                           "%s: %llu bytes: the header itself is incomplete; nothing to recover",
                           path, OFFX(size));
        goto out;
    }
    map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        map = NULL;
        rc = -errno;
        pio_error_set(err, rc, "%s: mmap failed: %s", path, pio_strerror(rc));
        goto out;
    }
    struct holo_header h;
    if ((rc = holo_check_header(path, map, size, &h, err)) != 0)
        goto out;
    uint64_t io, il;
    if (size >= HOLO_HEADER_SIZE + HOLO_FOOTER_SIZE &&
        holo_footer_valid(map, size, size - HOLO_FOOTER_SIZE, h.salt, &io, &il)) {
        rep.was_committed = true;
        rep.nframes = holo_rd64(map + size - HOLO_FOOTER_SIZE + 24);
        goto out;
    }
    if ((rc = holo_scan(path, map, size, h.salt, &s, err)) != 0)
        goto out;
    munmap(map, (size_t)size);
    map = NULL;
    if (ftruncate(fd, (off_t)s.end) != 0) {
        rc = -errno;
        pio_error_set(err, rc, "%s: cutting the invalid tail at offset 0x%llx: %s", path,
                      OFFX(s.end), pio_strerror(rc));
        goto out;
    }
    uint8_t digest[32], *buf;
    uint64_t len;
    pio_blake3_hasher_finalize(&s.digest, digest, 32);
    if ((rc = holo_build_index(s.entries, s.nframes, s.meta_off, s.meta_len, digest, h.salt, s.end,
                               &buf, &len)) != 0) {
        pio_error_set(err, rc, "%s: out of memory for the index", path);
        goto out;
    }
    rc = holo_pwrite_all(fd, buf, (size_t)len, s.end);
    free(buf);
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
    if (rc != 0) {
        pio_error_set(err, rc, "%s: writing the index at offset 0x%llx: %s", path, OFFX(s.end),
                      pio_strerror(rc));
        goto out;
    }
    rep.nframes = s.nframes;
    rep.removed_bytes = size - s.end;
out:
    if (map)
        munmap(map, (size_t)size);
    free(s.entries);
    close(fd);
    if (rc == 0 && report)
        *report = rep;
    return rc;
}
