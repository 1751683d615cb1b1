/*
 * HOLO recovery: commit a file whose writer died.
 *
 * The forward scan (pio__holo_scan) finds every valid record. Damaged bytes
 * with valid records after them are not a torn tail: the scan steps over
 * them and their frames stay in the index (reading one fails its checks),
 * so no valid record is ever cut away. What follows the last valid record
 * was never covered by a commit (a torn record, or zeros and garbage after
 * a power loss); it is cut off, and a new INDEX record and footer are
 * appended and synced. No byte that a commit covered is rewritten.
 *
 * (PIO_RECOVER_DROP_DAMAGED's rewrite, which needs a writer, is in
 * holo_rewrite.c, above the writer; the writer's open_append needs only
 * this in-place recovery.)
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

/* 2.0: a FULL INDEX of every frame the scan found and the COMMIT record
 * (number 0 of a new chain) naming it, to be written at s->end. */
static int build_v2(const struct holo_scan *s, const uint8_t digest[32], const uint8_t salt[16],
                    uint8_t **out, uint64_t *out_len)
{
    struct holo_commit_in in = {0};
    uint8_t *fbuf, *cbuf;
    uint64_t flen, clen;
    int rc = pio__holo_build_full(s->entries, s->nframes, salt, &fbuf, &flen, in.full_head);
    if (rc != 0)
        return rc;
    in.off = s->end + flen;
    in.nframes = in.first = in.full_n = s->nframes;
    in.full_off = s->end;
    in.flags = s->meta_len ? HOLO_COMMIT_META : 0;
    memcpy(in.digest, digest, 32);
    if ((rc = pio__holo_build_commit(&in, salt, &cbuf, &clen)) != 0) {
        free(fbuf);
        return rc;
    }
    uint8_t *buf = realloc(fbuf, (size_t)(flen + clen));
    if (!buf) {
        free(fbuf);
        free(cbuf);
        return -ENOMEM;
    }
    memcpy(buf + flen, cbuf, (size_t)clen);
    free(cbuf);
    *out = buf;
    *out_len = flen + clen;
    return 0;
}

/* 2.0: whether every index record a lookup through the newest commit can
 * need holds: the commits of its chain from number 1 on (each reached by
 * its link to the one before, checked against it and hashed; commit 0
 * holds no entries, so a lookup never needs it) and its FULL INDEX (head
 * and pages). O(commits in the chain + the index). */
static bool v2_index_intact(const uint8_t *map, const uint8_t salt[16],
                            const struct holo_commit *tip)
{
    struct holo_commit cur = *tip, prev;
    while (cur.chain > 1) {
        const uint8_t *l = cur.links;
        uint8_t h[32];
        if (pio__holo_parse_commit("", map, cur.off, holo_rd64(l), salt, &prev, NULL) != 0 ||
            prev.chain != cur.chain - 1 || prev.nframes != holo_rd64(l + 8) ||
            memcmp(prev.hash, l + 16, 32) != 0 || prev.full_off != tip->full_off)
            return false;
        pio__holo_record_hash(map + prev.off, prev.len, 1, h);
        if (memcmp(h, prev.hash, 32) != 0)
            return false;
        cur = prev;
    }
    if (!tip->full_off)
        return true;
    struct holo_full fi;
    uint8_t h[32];
    if (pio__holo_parse_full("", map, tip->off, tip->full_off, salt, &fi, NULL) != 0)
        return false;
    pio_blake3_hash(h, 32, map + fi.off, (size_t)fi.head_len);
    if (fi.n != tip->full_n || memcmp(h, tip->full_head, 32) != 0)
        return false;
    for (uint32_t k = 0; k < fi.npages; k++) {
        pio_blake3_hash(h, 32, fi.pages + (uint64_t)k * HOLO_PAGE_ENTRIES * HOLO_ENTRY_SIZE,
                        (size_t)holo_full_page_len(&fi, k));
        if (memcmp(h, fi.table + (uint64_t)k * HOLO_PAGE_DESC + 8, 32) != 0)
            return false;
    }
    return true;
}

/* Recover `path` in place: scan, cut the torn tail, append an INDEX
 * record and footer (2.0: a FULL INDEX and a COMMIT record). */
int pio__holo_recover_in_place(const char *path, uint32_t flags, struct pio_recover_report *report,
                               bool *rewrite, struct pio_error *err)
{
    struct pio_recover_report rep = {0};
    *rewrite = false;
    /* read-only and non-blocking until it is known to be a regular file
     * (opening a device or FIFO for writing can have effects of its own) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int rc = -errno;
        return pio_error_set(err, rc, "%s: %s", path, pio_strerror(rc));
    }
    struct stat st0;
    if (fstat(fd, &st0) != 0) {
        int rc = -errno;
        close(fd);
        return pio_error_set(err, rc, "%s: %s", path, pio_strerror(rc));
    }
    if (S_ISREG(st0.st_mode)) {
        int wfd = open(path, O_RDWR | O_CLOEXEC);
        struct stat st1;
        int frc = wfd < 0 ? -errno : fstat(wfd, &st1) != 0 ? -errno : 0;
        if (frc != 0 || st1.st_ino != st0.st_ino || st1.st_dev != st0.st_dev) {
            int rc = frc ? frc : -EAGAIN;
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
    if ((rc = pio__holo_check_header(path, map, size, &h, err)) != 0)
        goto out;
    uint64_t io, il;
    struct holo_commit tip;
    /* 2.0: a newest commit whose chain or full index is damaged is
     * recovered like an uncommitted file: the scan finds every frame, and
     * a new FULL INDEX makes the damaged index records dead bytes */
    bool tip_ok = h.major >= 2 && pio__holo_tail_commit(map, size, h.salt, &tip);
    if (h.major >= 2
            ? tip_ok && v2_index_intact(map, h.salt, &tip)
            : size >= HOLO_HEADER_SIZE + HOLO_FOOTER_SIZE &&
                  pio__holo_footer_valid(map, size, size - HOLO_FOOTER_SIZE, h.salt, &io, &il)) {
        rep.was_committed = true;
        rep.nframes = h.major >= 2 ? tip.nframes : holo_rd64(map + size - HOLO_FOOTER_SIZE + 24);
        *rewrite = (flags & PIO_RECOVER_DROP_DAMAGED) != 0;
        goto out;
    }
    if ((rc = pio__holo_scan(path, map, size, h.salt, &s, err)) != 0)
        goto out;
    /* an intact newest commit over damaged index records: the scan must
     * find the frames it names where it names them, or nothing is changed
     * (and the frames it can still reach stay readable) */
    bool agrees = !tip_ok || (!s.unplaced && s.nframes == tip.nframes);
    for (uint32_t k = 0; agrees && tip_ok && k < tip.nentries; k++)
        agrees = s.entries[tip.first + k].offset ==
                 holo_rd64(tip.entries + (uint64_t)k * HOLO_ENTRY_SIZE);
    if (!agrees) {
        rc = pio_error_set(err, PIO_ECORRUPT,
                           "%s: index records the commit at offset 0x%llx depends on are damaged, "
                           "and a scan of the file does not find the %llu frames it names; "
                           "nothing changed",
                           path, OFFX(tip.off), OFFX(tip.nframes));
        goto out;
    }
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
    if ((rc = h.major >= 2 ? build_v2(&s, digest, h.salt, &buf, &len)
                           : pio__holo_build_index(s.entries, s.nframes, s.meta_off, s.meta_len,
                                                   digest, h.salt, s.end, &buf, &len)) != 0) {
        pio_error_set(err, rc, "%s: building the index: %s", path, pio_strerror(rc));
        goto out;
    }
    rc = pio__holo_pwrite_all(fd, buf, (size_t)len, s.end);
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
    *rewrite = s.damaged_frames && (flags & PIO_RECOVER_DROP_DAMAGED);
out:
    if (map)
        munmap(map, (size_t)size);
    holo_scan_free(&s);
    close(fd);
    if (rc == 0 && report)
        *report = rep;
    return rc;
}
