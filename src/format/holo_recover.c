/*
 * HOLO recovery: commit a file whose writer died.
 *
 * The forward scan (holo_scan) finds every valid record. Damaged bytes
 * with valid records after them are not a torn tail: the scan steps over
 * them and their frames stay in the index (reading one fails its checks),
 * so no valid record is ever cut away. What follows the last valid record
 * was never covered by a commit (a torn record, or zeros and garbage after
 * a power loss); it is cut off, and a new INDEX record and footer are
 * appended and synced. No byte that a commit covered is rewritten.
 *
 * PIO_RECOVER_DROP_DAMAGED instead rewrites the file with the frames whose
 * checksums hold, into a temporary file renamed over the original.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/holo_internal.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))

static void report_damage(struct pio_recover_report *rep, const struct holo_scan *s)
{
    rep->damaged_frames = s->damaged_frames;
    rep->ndamage = s->ndamage;
    for (uint64_t i = 0; i < s->ndamage && i < PIO_RECOVER_MAX_DAMAGE; i++)
        rep->damage[i] = (struct pio_recover_damage){s->damage[i].off, s->damage[i].len,
                                                     s->damage[i].first_frame, s->damage[i].nframes,
                                                     s->damage[i].meta};
}

/* Copy the topology and metadata of r into w. */
static int copy_meta(const pio_reader *r, pio_writer *w, struct pio_error *err)
{
    struct pio_topology t;
    int rc = 0;
    if (pio_reader_topology(r, &t) == 0 && (rc = pio_writer_set_topology(w, &t, err)) != 0)
        return rc;
    const char *k, *v;
    for (uint64_t i = 0; pio_reader_metadata_at(r, i, &k, &v) == 0; i++)
        if ((rc = pio_writer_set_metadata(w, k, v, err)) != 0)
            return rc;
    return 0;
}

/* PIO_RECOVER_DROP_DAMAGED: the frames that verify, into PATH.recover.tmp,
 * committed, renamed over PATH. */
static int rewrite_intact(const char *path, struct pio_recover_report *rep, struct pio_error *err)
{
    pio_reader *r;
    int rc = pio_reader_open(&r, path, NULL, err);
    if (rc != 0)
        return rc;
    size_t n = strlen(path) + sizeof(".recover.tmp");
    char *tmp = malloc(n);
    if (!tmp) {
        pio_reader_close(r);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, n, "%s.recover.tmp", path);
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_OVERWRITE;
    pio_writer *w = NULL;
    if ((rc = pio_writer_create(&w, tmp, &o, err)) != 0)
        goto out;
    if ((rc = copy_meta(r, w, err)) != 0)
        goto out;
    uint64_t total = pio_reader_nframes(r), kept = 0;
    rep->damaged_frames = 0;
    rep->ndamage = 0;
    for (uint64_t i = 0; i < total; i++) {
        struct pio_frame f;
        if (pio_reader_verify_frame(r, i, NULL) != 0 || pio_reader_frame(r, i, &f, NULL) != 0) {
            if (rep->ndamage < PIO_RECOVER_MAX_DAMAGE) {
                uint64_t off = 0, len = 0;
                pio_reader_frame_extent(r, i, &off, &len);
                rep->damage[rep->ndamage] = (struct pio_recover_damage){off, len, i, 1, false};
            }
            rep->ndamage++;
            rep->damaged_frames++;
            continue;
        }
        if ((rc = pio_writer_append(w, &f, err)) != 0)
            goto out;
        kept++;
    }
    if ((rc = pio_writer_close(w, err)) != 0) {
        w = NULL;
        goto out;
    }
    w = NULL;
    if (rename(tmp, path) != 0) {
        rc = -errno;
        pio_error_set(err, rc, "%s: renaming %s over it: %s", path, tmp, pio_strerror(rc));
        goto out;
    }
    holo_fsync_dir(path);
    rep->nframes = kept;
    rep->rewritten = true;
out:
    if (w) {
        struct pio_error ignored;
        pio_writer_close(w, &ignored);
    }
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    pio_reader_close(r);
    return rc;
}

PIO_API int pio_holo_recover_flags(const char *path, uint32_t flags,
                                   struct pio_recover_report *report, struct pio_error *err)
{
    struct pio_recover_report rep = {0};
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
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
    if (!S_ISREG(st.st_mode)) {
        rc = pio_error_set(err, PIO_EFORMAT, "%s: not a regular file", path);
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < HOLO_HEADER_SIZE) {
        uint8_t head[8] = {0};
        bool ours = size == 0 || (pread(fd, head, sizeof(head), 0) == (ssize_t)PIO_MIN(size, 8) &&
                                  memcmp(head, HOLO_MAGIC, (size_t)PIO_MIN(size, 8)) == 0);
        if (ours)
            rc = pio_error_set(err, PIO_ETRUNCATED,
                               "%s: %llu bytes, the 128-byte header is incomplete: the writer "
                               "stopped before writing it, so no frame was ever committed; "
                               "nothing to recover (remove the file)",
                               path, OFFX(size));
        else
            rc = pio_error_set(err, PIO_EFORMAT, "%s: not a HOLO file (bad magic at offset 0)",
                               path);
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
        if (flags & PIO_RECOVER_DROP_DAMAGED) {
            munmap(map, (size_t)size);
            map = NULL;
            rc = rewrite_intact(path, &rep, err);
        }
        goto out;
    }
    if ((rc = holo_scan(path, map, size, h.salt, &s, err)) != 0)
        goto out;
    if (s.unplaced && !(flags & PIO_RECOVER_DROP_DAMAGED)) {
        rc = pio_error_set(err, PIO_ECORRUPT,
                           "%s: frame %llu at offset 0x%llx: damaged bytes up to offset 0x%llx "
                           "hide where their frames were, and valid records follow; nothing "
                           "cut (prismio recover --drop-damaged rewrites the file with the "
                           "frames that verify)",
                           path, OFFX(s.nframes), OFFX(s.end), OFFX(s.unplaced_next));
        goto out;
    }
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
    report_damage(&rep, &s);
    if (s.damaged_frames && (flags & PIO_RECOVER_DROP_DAMAGED)) {
        uint64_t removed = rep.removed_bytes;
        rc = rewrite_intact(path, &rep, err);
        rep.removed_bytes = removed;
    }
out:
    if (map)
        munmap(map, (size_t)size);
    holo_scan_free(&s);
    close(fd);
    if (rc == 0 && report)
        *report = rep;
    return rc;
}

PIO_API int pio_holo_recover(const char *path, struct pio_recover_report *report,
                             struct pio_error *err)
{
    return pio_holo_recover_flags(path, 0, report, err);
}
