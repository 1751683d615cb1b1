/*
 * HOLO recovery, the public entry: the in-place recovery (holo_recover.c),
 * then with PIO_RECOVER_DROP_DAMAGED a rewrite of the file with the frames
 * whose checksums hold, through a writer, into a temporary file renamed
 * over the original.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format/holo_internal.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))

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
    pio__holo_record_hash(r->map + r->meta_off, r->meta_len, 0, h);
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
/* Frame i (its view f) appended to w with its named arrays. */
static int copy_frame(const pio_reader *r, pio_writer *w, uint64_t i, const struct pio_frame *f,
                      struct pio_error *err)
{
    if (!(f->fields & PIO_FIELD_ARRAYS))
        return pio_writer_append(w, f, err);
    uint32_t n = 0;
    int rc = pio_reader_frame_arrays(r, i, NULL, 0, &n, err);
    struct pio_array *a = rc == 0 ? malloc((size_t)n * sizeof(*a)) : NULL;
    if (rc == 0 && !a)
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
    if (rc == 0)
        rc = pio_reader_frame_arrays(r, i, a, n, &n, err);
    if (rc == 0)
        rc = pio_writer_append_arrays(w, f, a, n, err);
    free(a);
    return rc;
}

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
    /* a compressed file stays compressed, as its first readable frame is */
    for (uint64_t i = 0; i < pio_reader_nframes(r); i++)
        if (pio_reader_frame_codecs(r, i, o.codec, &o.precision) == 0)
            break;
    /* blocks if it had them (packed raw frames: the default packing) */
    o.keyframe = !(r->hdr.required & HOLO_REQ_BLOCK) ? 1
                 : (r->hdr.required & HOLO_REQ_RAW_BLOCK) && !(o.codec[0] | o.codec[1] | o.codec[2])
                     ? HOLO_PACK_DEFAULT
                     : 0;
    if (r->hdr.required & HOLO_REQ_ARRAYS) /* named arrays stay */
        o.flags |= PIO_WRITER_ARRAYS;
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
        if ((rc = copy_frame(r, w, i, &f, err)) != 0)
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
    rep->nframes = kept;
    rep->rewritten = true;
    if ((rc = pio_io_fsync_dir(real)) != 0)
        pio_error_set(err, rc,
                      "%s: rewritten with the %llu intact frames, but syncing its directory "
                      "failed (%s): the rename may not survive a crash",
                      path, OFFX(kept), pio_strerror(rc));
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
    bool rewrite;
    int rc = pio__holo_recover_in_place(path, flags, &rep, &rewrite, err);
    if (rc == 0 && rewrite) {
        /* a committed file's rewrite counts the bytes it cut; after a
         * scan, the cut tail's bytes are what was removed */
        uint64_t removed = rep.removed_bytes;
        rc = rewrite_intact(path, &rep, err);
        if (!rep.was_committed)
            rep.removed_bytes = removed;
    }
    if (rc == 0 && report)
        *report = rep;
    return rc;
}

PIO_API int pio_holo_recover(const char *path, struct pio_recover_report *report,
                             struct pio_error *err)
{
    return pio_holo_recover_flags(path, 0, report, err);
}
