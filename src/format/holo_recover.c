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
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format/holo_internal.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))

static void report_damage(struct pio_recover_report *rep, const struct holo_scan *s)
{
    for (uint64_t i = 0; i < s->ndamage; i++)
        rep->metadata_damaged |= s->damage[i].meta;
    rep->damaged_frames = s->damaged_frames;
    rep->ndamage = s->ndamage;
    for (uint64_t i = 0; i < s->ndamage && i < PIO_RECOVER_MAX_DAMAGE; i++)
        rep->damage[i] = (struct pio_recover_damage){s->damage[i].off, s->damage[i].len,
                                                     s->damage[i].first_frame, s->damage[i].nframes,
                                                     s->damage[i].meta};
}

/* Copy the topology and metadata of r into w, if its META record is
 * intact (hash included: a committed file's is not hashed at open, and a
 * rewrite must not launder a damaged topology); *damaged otherwise. */
static int copy_meta(const pio_reader *r, pio_writer *w, bool *damaged, struct pio_error *err)
{
    if (r->meta_damaged) {
        *damaged = true;
        return 0;
    }
    if (!r->has_meta)
        return 0;
    uint8_t h[32];
    holo_record_hash(r->map + r->meta_off, r->meta_len, 0, h);
    if (memcmp(h, r->map + r->meta_off + HOLO_HASH_OFF, 32) != 0) {
        *damaged = true;
        return 0;
    }
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

/* PIO_RECOVER_DROP_DAMAGED: the frames that verify, into a new file beside
 * the real one (a symbolic link is followed), committed, given the old
 * file's permissions and renamed over it. Hard links keep the old file. */
static int rewrite_intact(const char *path, struct pio_recover_report *rep, struct pio_error *err)
{
    pio_reader *r;
    int rc = pio_reader_open(&r, path, NULL, err);
    if (rc != 0)
        return rc;
    char *real = realpath(path, NULL), *tmp = real ? malloc(strlen(real) + 32) : NULL;
    struct stat st;
    pio_writer *w = NULL;
    bool created = false;
    if (!tmp) {
        rc = pio_error_set(err, real ? -ENOMEM : -errno, "%s: %s", path,
                           real ? "out of memory" : pio_strerror(-errno));
        goto out;
    }
    if (stat(real, &st) != 0) {
        rc = -errno;
        pio_error_set(err, rc, "%s: %s", path, pio_strerror(rc));
        goto out;
    }
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT; /* O_EXCL: never another's file */
    for (int k = 0; k < 16; k++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x =
            (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 12) ^ (uint64_t)k * 0x9e3779b97f4a7c15u;
        snprintf(tmp, strlen(real) + 32, "%s.recover-%08llx", real,
                 (unsigned long long)(x & 0xffffffffu));
        if ((rc = pio_writer_create(&w, tmp, &o, err)) != -EEXIST)
            break;
    }
    if (rc != 0)
        goto out;
    created = true;
    bool meta_damaged = false;
    if ((rc = copy_meta(r, w, &meta_damaged, err)) != 0)
        goto out;
    rep->metadata_damaged |= meta_damaged;
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
    rc = pio_writer_close(w, err);
    w = NULL;
    if (rc != 0)
        goto out;
    if (chmod(tmp, st.st_mode & 07777) != 0 || rename(tmp, real) != 0) {
        rc = -errno;
        pio_error_set(err, rc, "%s: replacing it with %s: %s", path, tmp, pio_strerror(rc));
        goto out;
    }
    created = false;
    holo_fsync_dir(real);
    rep->nframes = kept;
    rep->rewritten = true;
out:
    if (w) {
        struct pio_error ignored;
        pio_writer_close(w, &ignored);
    }
    if (created)
        unlink(tmp);
    free(tmp);
    free(real);
    pio_reader_close(r);
    return rc;
}

PIO_API int pio_holo_recover_flags(const char *path, uint32_t flags,
                                   struct pio_recover_report *report, struct pio_error *err)
{
    struct pio_recover_report rep = {0};
    /* read-only and non-blocking until it is known to be a regular file
     * (opening a device or FIFO for writing can have effects of its own) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int rc = -errno;
        return pio_error_set(err, rc, "%s: %s", path, pio_strerror(rc));
    }
    struct stat st0;
    if (fstat(fd, &st0) == 0 && S_ISREG(st0.st_mode)) {
        int wfd = open(path, O_RDWR | O_CLOEXEC);
        struct stat st1;
        if (wfd < 0 || fstat(wfd, &st1) != 0 || st1.st_ino != st0.st_ino ||
            st1.st_dev != st0.st_dev) {
            int rc = wfd < 0 ? -errno : -EAGAIN;
            if (wfd >= 0)
                close(wfd);
            close(fd);
            return pio_error_set(err, rc, "%s: %s", path,
                                 rc == -EAGAIN ? "replaced while being opened" : pio_strerror(rc));
        }
        close(fd);
        fd = wfd;
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
        rc =
            pio_error_set(err, PIO_ECORRUPT,
                          "%s: frame %llu at offset 0x%llx: damaged bytes, and records from offset "
                          "0x%llx on that the scan could not number; nothing cut (prismio "
                          "recover --drop-damaged keeps the frames before it and cuts the "
                          "rest)",
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
    if (s.unplaced) {
        rep.unnumbered_offset = s.end;
        rep.unnumbered_bytes = size - s.end;
    }
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
