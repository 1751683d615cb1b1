/*
 * HOLO reader: the file is mapped once; every view is a pointer into it.
 *
 * Opening trusts nothing: the header (hash), the footer (hash bound to the
 * index record's hash and the file's salt), the index record (structure
 * and hash) and every index entry (aligned, in bounds, ordered, no
 * overlap) are checked in O(frames) without touching frame bodies. A
 * frame's record header is checked when the frame is asked for, so a view
 * can never reach outside the mapping. A file with no valid footer is
 * recovered in memory by a forward scan (pio__holo_scan).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <poll.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format/holo_internal.h"
#include "format/pio_format.h"
#include "telemetry/pio_telemetry.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))

/* Check index entries: bounds, alignment, order; record sortedness. */
static int check_entries(pio_reader *r, uint64_t limit, struct pio_error *err)
{
    uint64_t prev_end = HOLO_HEADER_SIZE;
    r->steps_sorted = r->times_sorted = true;
    for (uint64_t i = 0; i < r->nframes; i++) {
        const struct holo_entry *e = &r->entries[i];
        bool same = i > 0 && e->offset == e[-1].offset && e->length == e[-1].length &&
                    (r->hdr.required & HOLO_REQ_BLOCK); /* a block's frames */
        if (e->offset % 64 || (e->offset < prev_end && !same) || e->length < HOLO_FRAME_HDR ||
            e->length % 64 || e->offset > limit || e->length > limit - e->offset)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu: index entry (offset 0x%llx, length %llu) is "
                                 "misaligned, overlapping or out of bounds",
                                 r->path, OFFX(i), OFFX(e->offset), OFFX(e->length));
        if (r->has_meta && e->offset < r->meta_off + r->meta_len)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx overlaps the metadata record",
                                 r->path, OFFX(i), OFFX(e->offset));
        if (i > 0) {
            if (e->step < e[-1].step)
                r->steps_sorted = false;
            if (!(e->time >= e[-1].time))
                r->times_sorted = false;
        }
        prev_end = e->offset + e->length;
    }
    return 0;
}

static int open_committed(pio_reader *r, uint64_t io, uint64_t il, struct pio_error *err)
{
    /* pio__holo_footer_valid checked the INDEX record's hash */
    const uint8_t *rec = r->map + io;
    uint64_t n = holo_rd64(rec + 64);
    /* Entries, then zero padding (1.1: so the footer ends block-aligned);
     * the padding is covered by the hash checked above. */
    if (il < HOLO_INDEX_HDR || n != holo_rd64(rec + 16) ||
        n > (il - HOLO_INDEX_HDR) / HOLO_ENTRY_SIZE)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: index record at offset 0x%llx: %llu frames do not fit its "
                             "length %llu",
                             r->path, OFFX(io), OFFX(n), OFFX(il));
    r->nframes = n;
    r->entries = (const struct holo_entry *)(rec + HOLO_INDEX_HDR);
    r->index_off = io;
    r->index_len = il;
    memcpy(r->digest, rec + 96, 32);
    uint64_t moff = holo_rd64(rec + 80), mlen = holo_rd64(rec + 88);
    int rc = moff || mlen ? pio__holo_load_meta(r, moff, mlen, err) : 0;
    if (rc != 0)
        return rc;
    r->data_end = r->size;
    return check_entries(r, io, err);
}

static int open_recovered(pio_reader *r, struct pio_error *err)
{
    struct holo_scan s;
    int rc = pio__holo_scan(r->path, r->map, r->size, r->hdr.salt, &s, err);
    if (rc != 0) {
        holo_scan_free(&s);
        return rc;
    }
    r->damage = s.damage;
    r->ndamage = s.ndamage;
    r->owned = s.entries;
    r->entries = s.entries;
    r->nframes = s.nframes;
    r->recovered = true;
    r->data_end = s.end;
    pio_blake3_hasher_finalize(&s.digest, r->digest, 32);
    if (s.meta_len) {
        if ((rc = pio__holo_load_meta(r, s.meta_off, s.meta_len, err)) != 0)
            return rc;
        if (r->meta_damaged)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: metadata record at offset 0x%llx does not parse", r->path,
                                 OFFX(s.meta_off));
    }
    for (uint64_t i = 0; i < s.ndamage; i++)
        r->meta_damaged |= s.damage[i].meta;
    return check_entries(r, s.end, err);
}

/*
 * The mapping. The file is mapped at the start of a larger reservation of
 * address space (PROT_NONE, nothing committed), so that a refresh maps the
 * bytes a writer added right after the ones already mapped: the mapping
 * grows in place, views into it stay valid, and a follower refreshing after
 * each of 10^5 commits holds one mapping, not 10^5. Only a file that
 * outgrows its reservation gets a new mapping (with twice the room; the old
 * one is kept until close), O(log size) times.
 */
#define MAP_ROOM_MIN ((uint64_t)256 << 20)

static uint64_t page_up(uint64_t n)
{
    uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

/* Ask for the page cache's 2 MiB folios, mapped whole (where transparent
 * huge pages are on for madvise, as Debian's default is; ignored where
 * not). Measured on 240 MB read in order, cold: 122 faults and 197 ms
 * against 528 and 347 ms; warm: 1.2 ms against 3.2; headers touched one
 * a record (verify's first pass) leave 2 MiB folios behind, where the
 * kernel's read-around would leave 4 KiB pages that cost 7x the faults
 * and time to map again. */
static void map_advise(void *m, uint64_t len)
{
    madvise(m, (size_t)len, MADV_HUGEPAGE);
}

/* The reservation starts on a 2 MiB boundary, as the kernel places a
 * large mapping of its own: the page cache's large folios are then mapped
 * many pages per fault (measured, 240 MB read in order: 1,054 faults and
 * 5.1 ms aligned, 1,700 and 6.6 ms at a 4 KiB boundary). */
#define MAP_ALIGN ((uint64_t)2 << 20)

/* Map `size` bytes of fd at the start of a reservation: *map, *len (the
 * reservation), or -errno. */
static int map_reserved(int fd, uint64_t size, const uint8_t **map, uint64_t *len)
{
    uint64_t need = page_up(size), room = need + PIO_MAX(need, MAP_ROOM_MIN);
    void *base = mmap(NULL, (size_t)(room + MAP_ALIGN), PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) { /* no room to spare: the file alone */
        base = NULL;
        room = need;
    } else { /* the aligned `room` bytes kept, the slack around them given back */
        uintptr_t b = (uintptr_t)base, a = (b + MAP_ALIGN - 1) & ~(uintptr_t)(MAP_ALIGN - 1);
        if (a > b)
            munmap(base, a - b);
        if (b + MAP_ALIGN > a)
            munmap((void *)(a + room), b + MAP_ALIGN - a);
        base = (void *)a;
    }
    void *m = mmap(base, (size_t)need, PROT_READ, MAP_SHARED | (base ? MAP_FIXED : 0), fd, 0);
    if (m == MAP_FAILED) {
        int rc = -errno;
        if (base)
            munmap(base, (size_t)room);
        return rc;
    }
    map_advise(m, need);
    *map = m;
    *len = room;
    return 0;
}

/* Map the file up to `size` in place, after what r maps: whether it fits
 * the reservation and the mapping succeeded. */
static bool map_grow(pio_reader *r, uint64_t size)
{
    uint64_t have = page_up(r->size), need = page_up(size);
    if (need <= have)
        return true;
    if (need > r->map_len)
        return false;
    void *m = mmap((uint8_t *)r->map + have, (size_t)(need - have), PROT_READ,
                   MAP_SHARED | MAP_FIXED, r->fd, (off_t)have);
    if (m != MAP_FAILED)
        map_advise(m, need - have);
    return m != MAP_FAILED;
}

static uint64_t footer_size(const pio_reader *r)
{
    return r->hdr.major >= 2 ? HOLO_FOOTER2_SIZE : HOLO_FOOTER_SIZE;
}

static int reader_open(pio_reader **out, const char *path, const struct pio_reader_options *opts,
                       struct pio_error *err)
{
    *out = NULL;
    uint32_t flags = 0, io_flags = 0;
    enum pio_io_engine engine = PIO_IO_AUTO;
    if (opts && opts->size >= offsetof(struct pio_reader_options, flags) + sizeof(opts->flags))
        flags = opts->flags;
    if (opts &&
        opts->size >= offsetof(struct pio_reader_options, io_flags) + sizeof(opts->io_flags)) {
        engine = opts->engine;
        io_flags = opts->io_flags;
    }
    pio_reader *r = calloc(1, sizeof(*r));
    if (r)
        atomic_init(&r->refs, 1);
    if (!r || !(r->path = strdup(path)) || !(r->win = calloc(1, sizeof(*r->win)))) {
        if (r)
            free(r->path);
        free(r);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    r->io.dfd = -1;
    r->ino = -1;
    r->serial_decode = (flags & PIO_READER_SERIAL_DECODE) != 0;
    static _Atomic uint64_t uids;
    r->uid = atomic_fetch_add_explicit(&uids, 1, memory_order_relaxed) + 1;
    int rc;
    if (pio_path_is_remote(path)) {
        r->fd = -1;
        if ((rc = pio__holo_remote_open(r, err)) != 0)
            goto fail;
        goto mapped;
    }
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
     * refused below as not a regular file); cleared once it is one. */
    r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (r->fd < 0) {
        rc = -errno;
        pio_error_set(err, rc, "%s: %s", path, pio_strerror(rc));
        goto fail;
    }
    struct stat st;
    if (fstat(r->fd, &st) != 0) {
        rc = -errno;
        pio_error_set(err, rc, "%s: %s", path, pio_strerror(rc));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = pio_error_set(err, PIO_EFORMAT, "%s: not a regular file", path);
        goto fail;
    }
    fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) & ~O_NONBLOCK);
    r->size = (uint64_t)st.st_size;
    if (r->size < 8) {
        rc = pio_error_set(err, r->size ? PIO_ETRUNCATED : PIO_EFORMAT,
                           "%s: %llu bytes is too short for a HOLO file", path, OFFX(r->size));
        goto fail;
    }
    if ((rc = map_reserved(r->fd, r->size, &r->map, &r->map_len)) != 0) {
        pio_error_set(err, rc, "%s: mmap of %llu bytes failed: %s", path, OFFX(r->size),
                      pio_strerror(rc));
        goto fail;
    }
mapped:
    if ((rc = pio__holo_check_header(path, r->map, r->size, &r->hdr, err)) != 0)
        goto fail;
    uint64_t io, il;
    struct holo_commit tip;
    if (r->hdr.major >= 2 && pio__holo_tail_commit(r->map, r->size, r->hdr.salt, &tip)) {
        rc = pio__holo_open_v2(r, &tip, err);
    } else if (r->hdr.major == 1 && r->size >= HOLO_HEADER_SIZE + HOLO_FOOTER_SIZE &&
               pio__holo_footer_valid(r->map, r->size, r->size - HOLO_FOOTER_SIZE, r->hdr.salt, &io,
                                      &il)) {
        rc = open_committed(r, io, il, err);
    } else if (r->remote) {
        rc = pio_error_set(err, PIO_ECORRUPT,
                           "%s: no valid footer at offset 0x%llx (the writer did not commit): a "
                           "remote file is not recovered; download it and run prismio recover",
                           path, OFFX(r->size >= footer_size(r) ? r->size - footer_size(r) : 0));
    } else if (flags & PIO_READER_NO_RECOVERY) {
        rc = pio_error_set(err, PIO_ECORRUPT,
                           "%s: no valid footer at offset 0x%llx (the writer did not commit; "
                           "run prismio recover)",
                           path, OFFX(r->size >= footer_size(r) ? r->size - footer_size(r) : 0));
    } else {
        rc = open_recovered(r, err);
    }
    if (rc == 0 && (flags & PIO_READER_CHECK_FRAMES) &&
        !(r->checked = calloc((size_t)PIO_MAX(r->nframes, 1), 1)))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    if (rc != 0)
        goto fail;
    if (r->remote) {
        /* one way to read it: range requests, several in flight */
        r->io = (struct pio_io_file){.path = r->path,
                                     .fd = -1,
                                     .dfd = -1,
                                     .size = r->size,
                                     .remote = pio__holo_remote_object(r)};
        r->io.info.requested = r->io.info.engine = PIO_IO_PREAD;
        snprintf(r->io.info.note, sizeof(r->io.info.note), "remote: HTTP range requests");
    } else if ((rc = pio_io_file_init(&r->io, r->path, r->fd, r->size, r->map, engine,
                                      (io_flags & PIO_READER_DIRECT) != 0, err)) != 0) {
        goto fail;
    }
    *out = r;
    return 0;
fail:
    pio_reader_close(r);
    return rc;
}

PIO_API int pio_reader_refresh(pio_reader *r, uint64_t *added, struct pio_error *err)
{
    if (added)
        *added = 0;
    if (r->remote)
        return pio_error_set(err, PIO_ENOTSUPPORTED,
                             "%s: a remote file is read as it was opened (no refresh)", r->path);
    struct stat st;
    if (fstat(r->fd, &st) != 0) {
        int rc = -errno;
        return pio_error_set(err, rc, "%s: %s", r->path, pio_strerror(rc));
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size == r->size)
        return 0;
    if (size < r->size)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: the file shrank from %llu to %llu bytes since it was opened "
                             "(committed bytes are never removed): reopen it",
                             r->path, OFFX(r->size), OFFX(size));
    /* Only a commit is taken: without a valid footer at the new end (the
     * writer has appended frames but not committed them, or is committing
     * now) the reader keeps its view. */
    if (size < HOLO_HEADER_SIZE + footer_size(r))
        return 0;
    const uint8_t *m = r->map;
    uint64_t mlen = r->map_len;
    bool grown = map_grow(r, size);
    struct holo_old_map *olds = r->old_maps;
    if (!grown) {
        int rc = map_reserved(r->fd, size, &m, &mlen);
        if (rc != 0)
            return pio_error_set(err, rc, "%s: mmap of %llu bytes failed: %s", r->path, OFFX(size),
                                 pio_strerror(rc));
        olds = realloc(r->old_maps, (size_t)(r->nold_maps + 1) * sizeof(*olds));
        if (olds)
            r->old_maps = olds;
    }
    uint64_t io = 0, il = 0;
    struct holo_commit tip;
    bool room = grown || olds != NULL; /* a new mapping needs a slot in old_maps */
    bool found =
        room && (r->hdr.major >= 2 ? pio__holo_tail_commit(m, size, r->hdr.salt, &tip)
                                   : pio__holo_footer_valid(m, size, size - HOLO_FOOTER_SIZE,
                                                            r->hdr.salt, &io, &il));
    if (!found) {
        if (!grown)
            munmap((void *)m, (size_t)mlen);
        return room ? 0 : pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
    }
    /* Load the new commit into a copy; the reader changes only if it holds
     * (a failed refresh leaves the reader as it was). */
    pio_reader n;
    memcpy(&n, r, sizeof(n)); /* read-only fields (path, salt, ...) for the checks */
    n.map = m;
    n.size = size;
    n.entries = NULL;
    n.owned = NULL;
    n.damage = NULL;
    n.ndamage = 0;
    n.recovered = false;
    n.has_meta = n.meta_damaged = false;
    n.page_ok = NULL;
    n.chain_ok = NULL;
    atomic_init(&n.all, NULL);
    memset(&n.meta, 0, sizeof(n.meta));
    int rc = r->hdr.major >= 2 ? pio__holo_open_v2(&n, &tip, err) : open_committed(&n, io, il, err);
    _Atomic uint8_t *checked = r->checked;
    if (rc == 0 && n.nframes < r->nframes)
        rc = pio_error_set(err, PIO_ECORRUPT,
                           "%s: the commit at offset 0x%llx holds %llu frames, fewer than the "
                           "%llu already read: reopen it",
                           r->path, OFFX(n.index_off), OFFX(n.nframes), OFFX(r->nframes));
    /* a truncation followed by new frames: the last frame this reader had
     * is another record in the new view */
    struct holo_entry was, now;
    if (rc == 0 && r->nframes > 0 && pio__holo_entry(r, r->nframes - 1, &was, NULL) == 0 &&
        (pio__holo_entry(&n, r->nframes - 1, &now, NULL) != 0 || now.offset != was.offset))
        rc = pio_error_set(err, PIO_ECORRUPT,
                           "%s: the commit at offset 0x%llx replaces frame %llu (the file was "
                           "truncated and written again): reopen it",
                           r->path, OFFX(n.index_off), OFFX(r->nframes - 1));
    if (rc == 0 && checked && n.nframes > r->nframes) {
        checked = realloc((void *)checked, (size_t)n.nframes);
        if (!checked)
            rc = pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
        else
            memset((uint8_t *)checked + r->nframes, 0, (size_t)(n.nframes - r->nframes));
    }
    if (rc != 0) {
        free(n.owned);
        free(n.damage);
        pio__holo_v2_free(&n);
        if (!grown)
            munmap((void *)m, (size_t)mlen);
        return rc;
    }
    if (checked)
        r->checked = checked;
    if (!grown)
        r->old_maps[r->nold_maps++] = (struct holo_old_map){r->map, r->map_len};
    uint64_t before = r->nframes;
    free(r->owned);
    free(r->damage);
    pio__holo_v2_free(r);
    /* field by field: refs and the rest are not the refresh's business
     * (another thread may drop a reference meanwhile) */
    r->map = n.map;
    r->map_len = mlen;
    r->size = n.size;
    r->entries = n.entries;
    r->owned = n.owned;
    r->nframes = n.nframes;
    r->recovered = false;
    r->data_end = n.data_end;
    r->has_meta = n.has_meta;
    r->meta_damaged = n.meta_damaged;
    r->meta_off = n.meta_off;
    r->meta_len = n.meta_len;
    r->meta = n.meta;
    r->index_off = n.index_off;
    r->index_len = n.index_len;
    memcpy(r->digest, n.digest, 32);
    r->steps_sorted = n.steps_sorted;
    r->times_sorted = n.times_sorted;
    r->damage = NULL;
    r->ndamage = 0;
    r->v2 = n.v2;
    r->final = n.final;
    r->tip = n.tip;
    r->full = n.full;
    r->page_ok = n.page_ok;
    r->chain_ok = n.chain_ok;
    r->io.size = size;
    r->io.map = m;
    if (added)
        *added = r->nframes - before;
    return 0;
}

PIO_API bool pio_reader_final(const pio_reader *r)
{
    return r->final;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int pio__holo_wait(pio_reader *r, int ino, uint32_t poll_ms, uint32_t timeout_ms, uint64_t have,
                   bool wait, struct pio_error *err)
{
    double deadline = timeout_ms ? now_ms() + timeout_ms : 0;
    for (;;) {
        int rc = pio_reader_refresh(r, NULL, err);
        if (rc != 0)
            return rc;
        if (r->nframes > have || r->final)
            return 0;
        if (!wait)
            return -EAGAIN;
        double left = deadline ? deadline - now_ms() : 1e9;
        if (left <= 0)
            return pio_error_set(err, -ETIMEDOUT,
                                 "%s: no new commit in %u ms after frame %llu, and the file is not "
                                 "final (its writer may have stopped)",
                                 r->path, timeout_ms, OFFX(have));
        int ms = (int)PIO_MIN(left, ino >= 0 ? 1000.0 : (double)PIO_MAX(poll_ms, 1u)) + 1;
        if (ino >= 0) {
            struct pollfd p = {ino, POLLIN, 0};
            if (poll(&p, 1, ms) > 0) {
                char buf[4096];
                while (read(ino, buf, sizeof(buf)) > 0)
                    ;
            }
        } else {
            struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

PIO_API int pio_reader_wait(pio_reader *r, uint32_t timeout_ms, uint64_t *added,
                            struct pio_error *err)
{
    if (added)
        *added = 0;
    if (!r->ino_tried) { /* the watch comes before the first look */
        r->ino_tried = true;
        r->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (r->ino >= 0 && inotify_add_watch(r->ino, r->path, IN_MODIFY | IN_CLOSE_WRITE) < 0) {
            close(r->ino);
            r->ino = -1;
        }
    }
    uint64_t before = r->nframes;
    int rc = pio__holo_wait(r, r->ino, 50, timeout_ms, before, true, err);
    if (rc == 0 && added)
        *added = r->nframes - before;
    return rc;
}

PIO_API const pio_reader *pio_reader_retain(const pio_reader *r)
{
    /* relaxed: taking a reference needs no ordering (the caller already
     * holds one, so the reader is alive and fully built). */
    atomic_fetch_add_explicit(&((pio_reader *)r)->refs, 1, memory_order_relaxed);
    return r;
}

PIO_API void pio_reader_close(pio_reader *r)
{
    if (!r)
        return;
    /* acq_rel: the last closer must see every other holder's use of the
     * mapping finished before it unmaps (release by each, acquire by it). */
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (r->map)
        munmap((void *)r->map, (size_t)r->map_len);
    pio__holo_remote_close(r);
    for (uint64_t i = 0; i < r->nold_maps; i++)
        munmap((void *)r->old_maps[i].map, (size_t)r->old_maps[i].size);
    free(r->old_maps);
    pio_io_file_close(&r->io);
    if (r->fd >= 0)
        close(r->fd);
    if (r->ino >= 0)
        close(r->ino);
    free(r->owned);
    free(r->damage);
    pio__holo_v2_free(r);
    free((void *)r->checked);
    free(r->win);
    free(r->path);
    free(r);
}

PIO_API uint64_t pio_reader_nframes(const pio_reader *r)
{
    return r->nframes;
}

int pio__holo_frame_view(const pio_reader *r, uint64_t i, const struct holo_entry *e,
                         const uint8_t *rec, uint64_t avail, struct pio_frame *out,
                         struct holo_coded *coded, struct pio_error *err)
{
    struct holo_coded cd;
    uint32_t type;
    uint64_t len, seq;
    int rc = pio__holo_check_record_buf(r->path, rec, avail, e->offset, r->hdr.salt, &type, &len,
                                        &seq, err);
    if (rc != 0)
        return rc;
    bool block = type == HOLO_REC_BLOCK && (r->hdr.required & HOLO_REQ_BLOCK);
    if ((type != HOLO_REC_FRAME && !block) || len != e->length || (block ? seq > i : seq != i))
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: record (type %u, length %llu, "
                             "sequence %llu) does not match the index",
                             r->path, OFFX(i), OFFX(e->offset), type, OFFX(len), OFFX(seq));
    memset(&cd, 0, sizeof(cd));
    if (block) {
        if ((rc = pio__holo_parse_block(r->path, rec, len, e->offset, seq, i, &cd.block, err)) != 0)
            return rc;
        if (i - seq >= cd.block.nframes)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: the block there holds frames "
                                 "%llu..%llu",
                                 r->path, OFFX(i), OFFX(e->offset), OFFX(seq),
                                 OFFX(seq + cd.block.nframes - 1));
        if (cd.block.raw && !(r->hdr.required & HOLO_REQ_RAW_BLOCK))
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: a block of raw frames in a "
                                 "file that does not announce them",
                                 r->path, OFFX(i), OFFX(e->offset));
        cd.in_block = true;
        cd.k = (uint32_t)(i - seq);
        if (!cd.block.raw) /* raw arrays are read in place, as a FRAME record's */
            memcpy(cd.codec, cd.block.codec, 3);
        for (int a = 0; a < 3; a++)
            cd.precision[a] = cd.codec[a] == PIO_CODEC_LOSSY ? cd.block.precision : 0;
        pio__holo_block_frame(&cd.block, cd.k, out);
    } else if ((rc = pio__holo_parse_frame_coded(r->path, rec, len, e->offset, i, out, &cd, err)) !=
               0) {
        return rc;
    }
    if (out->step != e->step || memcmp(&out->time, &e->time, 8) != 0)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: step/time differ from the index",
                             r->path, OFFX(i), OFFX(e->offset));
    if (cd.narrays && !(r->hdr.required & HOLO_REQ_ARRAYS))
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: named arrays in a file that does "
                             "not announce them",
                             r->path, OFFX(i), OFFX(e->offset));
    if ((cd.codec[0] | cd.codec[1] | cd.codec[2]) && !(r->hdr.required & HOLO_REQ_ZSTD))
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: a compressed record in a file "
                             "that does not announce compression",
                             r->path, OFFX(i), OFFX(e->offset));
    if (coded)
        *coded = cd;
    return 0;
}

int pio__holo_decode(const pio_reader *r, struct pio_frame *f, const struct holo_coded *cd,
                     float *dst, struct pio__codec_scratch *s, struct holo_block_cache *bc,
                     struct pio_error *err)
{
    static const char *const what[3] = {"positions", "velocities", "forces"};
    const float(**arr[3])[3] = {&f->positions, &f->velocities, &f->forces};
    unsigned mask = (cd->codec[0] ? 1u : 0) | (cd->codec[1] ? 2u : 0) | (cd->codec[2] ? 4u : 0);
    if (cd->in_block && mask) {
        int rc = pio__holo_block_fetch(r->path, r->uid, &cd->block, f->index, mask, 0, f->natoms,
                                       !r->serial_decode, bc, err);
        if (rc != 0)
            return rc;
    }
    size_t k = 0; /* the coded arrays one after the other in dst */
    for (int a = 0; a < 3; a++) {
        if (!cd->codec[a])
            continue;
        float(*out)[3] = (float(*)[3])(dst + k++ * 3 * f->natoms);
        if (cd->in_block) {
            memcpy(out, holo_block_cached(bc, a, cd->k), (size_t)f->natoms * 12);
        } else {
            uint64_t t0 = pio_tm_start();
            int rc = pio__codec_decode(cd->codec[a], cd->payload[a], (size_t)cd->len[a], f->natoms,
                                       cd->precision[a], out, s);
            pio_tm_end(PIO_OP_DECODE, 0, (uint64_t)r->fd, f->index, f->natoms * 12, t0, rc);
            if (rc != 0)
                return pio_error_set(err, rc == PIO_ECORRUPT ? PIO_ECORRUPT : rc,
                                     "%s: frame %llu at offset 0x%llx: %s (%s, %llu bytes at "
                                     "offset 0x%llx) %s",
                                     r->path, OFFX(f->index), OFFX(f->offset), what[a],
                                     pio__codec_name(cd->codec[a]), OFFX(cd->len[a]),
                                     OFFX(f->offset + cd->at[a]),
                                     rc == PIO_ECORRUPT ? "do not decode" : pio_strerror(rc));
        }
        *arr[a] = (const float(*)[3])out;
        f->fields |= PIO_FIELD_DECODED;
    }
    return 0;
}

/* pio_reader_frame's decoded copies: a ring of slots per thread, so the
 * last DECODE_RING compressed frames a thread asked for stay valid. */
#define DECODE_RING 16
struct decode_tls {
    float *slot[DECODE_RING];
    size_t cap[DECODE_RING];
    unsigned next;
    void *copy[DECODE_RING]; /* remote frames' arrays (copy_out) */
    size_t copy_cap[DECODE_RING];
    unsigned copy_next;
    struct pio__codec_scratch scratch;
    struct holo_block_cache block; /* the last block this thread decoded */
};
static pthread_key_t decode_key;
static pthread_once_t decode_once = PTHREAD_ONCE_INIT;
static bool decode_key_ok;

static void decode_tls_free(void *p)
{
    struct decode_tls *t = p;
    for (int k = 0; k < DECODE_RING; k++) {
        free(t->slot[k]);
        free(t->copy[k]);
    }
    pio__codec_scratch_free(&t->scratch);
    pio__holo_block_cache_free(&t->block);
    free(t);
}

static void decode_key_make(void)
{
    decode_key_ok = pthread_key_create(&decode_key, decode_tls_free) == 0;
}

static struct decode_tls *decode_tls_get(void)
{
    pthread_once(&decode_once, decode_key_make);
    struct decode_tls *t = decode_key_ok ? pthread_getspecific(decode_key) : NULL;
    if (decode_key_ok && !t && (t = calloc(1, sizeof(*t))) &&
        pthread_setspecific(decode_key, t) != 0) {
        free(t);
        t = NULL;
    }
    return t;
}

/* The calling thread's codec scratch (zstd contexts), or NULL. */
static struct pio__codec_scratch *decode_scratch(void)
{
    struct decode_tls *t = decode_tls_get();
    return t ? &t->scratch : NULL;
}

/* The calling thread's block cache (decode_scratch first). */
static struct holo_block_cache *decode_cache(void)
{
    struct decode_tls *t = decode_tls_get();
    return t ? &t->block : NULL;
}

static int decode_ring(const pio_reader *r, struct pio_frame *f, const struct holo_coded *cd,
                       struct pio_error *err)
{
    struct decode_tls *t = decode_tls_get();
    size_t need = (size_t)f->natoms * 12 * holo_coded_count(cd) + 64;
    unsigned k = t ? t->next++ % DECODE_RING : 0;
    if (t && (t->cap[k] < need || t->cap[k] > 4 * need + ((size_t)1 << 20))) {
        /* sized to this frame: a ring of huge frames shrinks again */
        free(t->slot[k]);
        t->cap[k] = 0;
        if ((t->slot[k] = malloc(need)))
            t->cap[k] = need;
    }
    if (!t || !t->slot[k])
        return pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory to decode it", r->path,
                             OFFX(f->index));
    return pio__holo_decode(r, f, cd, t->slot[k], &t->scratch, &t->block, err);
}

int pio__holo_frame_checksum(const pio_reader *r, uint64_t i, const struct holo_entry *e,
                             const uint8_t *rec, struct pio_error *err)
{
    uint8_t hash[32];
    pio__holo_record_hash(rec, e->length, 1, hash);
    if (memcmp(hash, rec + HOLO_HASH_OFF, 32) != 0)
        return pio_error_set(err, PIO_ECHECKSUM,
                             "%s: frame %llu at offset 0x%llx: checksum mismatch (the frame is "
                             "damaged)",
                             r->path, OFFX(i), OFFX(e->offset));
    return 0;
}

static int reader_frame(const pio_reader *r, uint64_t i, struct pio_frame *out, bool decode,
                        struct pio_error *err);

/* PIO_READER_CHECK_FRAMES: frame i's record hashed (once) and found
 * intact; a block's every frame with it. */
static int check_once(const pio_reader *r, uint64_t i, const struct holo_entry *e,
                      const uint8_t *rec, const struct holo_coded *cd, struct pio_error *err)
{
    /* relaxed: the flag only saves rehashing; a thread that misses another's
     * store hashes the frame once more */
    if (!r->checked || atomic_load_explicit(&r->checked[i], memory_order_relaxed))
        return 0;
    int rc = pio__holo_frame_checksum(r, i, e, rec, err);
    if (rc != 0)
        return rc;
    atomic_store_explicit(&r->checked[i], 1, memory_order_relaxed);
    if (!cd->in_block)
        return 0;
    /* the block's other frames the view names there (a truncation may have
     * replaced the ones after some frame with other records) */
    uint64_t to = PIO_MIN(cd->block.first + cd->block.nframes, r->nframes);
    for (uint64_t j = cd->block.first; j < to; j++) {
        struct holo_entry ej;
        if (j != i && pio__holo_entry(r, j, &ej, NULL) == 0 && ej.offset == e->offset &&
            ej.length == e->length)
            atomic_store_explicit(&r->checked[j], 1, memory_order_relaxed);
    }
    return 0;
}

PIO_API int pio_reader_frame(const pio_reader *r, uint64_t i, struct pio_frame *out,
                             struct pio_error *err)
{
    return reader_frame(r, i, out, true, err);
}

/* A frame view; a compressed frame's arrays decoded if `decode`, else left
 * NULL (its structure and, with PIO_READER_CHECK_FRAMES, hash checked). */
/* Frame i's entry and the view of its record (nothing decoded), at *rec.
 * A remote file's record is in the span cache, held by *pin until
 * pio__holo_span_put (NULL for a local file: put is then a no-op). */
static int frame_look(const pio_reader *r, uint64_t i, struct holo_entry *e, struct pio_frame *f,
                      struct holo_coded *cd, const uint8_t **rec, struct holo_span **pin,
                      struct pio_error *err)
{
    memset(cd, 0, sizeof(*cd));
    *pin = NULL;
    if (i >= r->nframes)
        return pio_error_set(err, -ERANGE, "%s: frame %llu out of range (%llu frames)", r->path,
                             OFFX(i), OFFX(r->nframes));
    int rc = pio__holo_entry(r, i, e, err);
    if (rc == 0 && e->offset > r->size)
        rc = pio_error_set(err, PIO_ECORRUPT, "%s: frame %llu: offset 0x%llx past the end", r->path,
                           OFFX(i), OFFX(e->offset));
    if (rc != 0)
        return rc;
    if (r->remote) {
        struct pio_error e1;
        if (!(*rec = pio__holo_span_get(r, e->offset, e->length, pin, &e1)))
            return pio_error_set(err, e1.code, "%s: frame %llu: %s", r->path, OFFX(i), e1.message);
        rc = pio__holo_frame_view(r, i, e, *rec, e->length, f, cd, err);
        if (rc != 0) {
            pio__holo_span_put(r, *pin);
            *pin = NULL;
        }
        return rc;
    }
    *rec = r->map + e->offset;
    rc = pio__holo_frame_view(r, i, e, *rec, r->size - e->offset, f, cd, err);
    if (rc == 0) /* reading in order: RSS stays within a window */
        pio_io_map_window(r->win, r->map, r->size, e->offset, e->length);
    return rc;
}

/* A remote frame's arrays (those read in place) and scalars copied out of
 * the span cache into a ring of buffers of the calling thread, as decoded
 * frames are (PIO_FIELD_DECODED): what the caller holds never points into
 * the cache. */
/* The next buffer of the calling thread's copy ring, of at least `need`
 * bytes, 64-byte aligned; NULL out of memory. */
static uint8_t *copy_slot(size_t need)
{
    struct decode_tls *t = decode_tls_get();
    unsigned k = t ? t->copy_next++ % DECODE_RING : 0;
    if (t && (t->copy_cap[k] < need || t->copy_cap[k] > 4 * need + ((size_t)1 << 20))) {
        free(t->copy[k]);
        t->copy_cap[k] = 0;
        need = (need + 63) / 64 * 64;
        if ((t->copy[k] = aligned_alloc(64, need))) /* views are 64-byte aligned */
            t->copy_cap[k] = need;
    }
    return t ? t->copy[k] : NULL;
}

static int copy_out(const pio_reader *r, struct pio_frame *f, const struct holo_coded *cd,
                    bool arrays, struct pio_error *err)
{
    const float(**arr[3])[3] = {&f->positions, &f->velocities, &f->forces};
    size_t need = (size_t)f->nscalars * sizeof(struct pio_scalar) + 64;
    for (int a = 0; a < 3 && arrays; a++)
        if (*arr[a] && !cd->codec[a])
            need += (size_t)f->natoms * 12 + 64;
    uint8_t *p = copy_slot(need);
    if (!p)
        return pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory", r->path,
                             OFFX(f->index));
    for (int a = 0; a < 3 && arrays; a++) {
        if (!*arr[a] || cd->codec[a])
            continue;
        memcpy(p, *arr[a], (size_t)f->natoms * 12);
        *arr[a] = (const float(*)[3])p;
        p += ((size_t)f->natoms * 12 + 63) / 64 * 64;
        f->fields |= PIO_FIELD_DECODED;
    }
    if (f->nscalars && f->scalars) {
        memcpy(p, f->scalars, (size_t)f->nscalars * sizeof(struct pio_scalar));
        f->scalars = (const struct pio_scalar *)p;
    }
    return 0;
}

static int arrays_of(const pio_reader *r, uint64_t i, const struct holo_entry *e,
                     const struct holo_coded *cd, const uint8_t *rec, struct pio_array *out,
                     uint32_t cap, uint32_t *narrays, struct pio_error *err);

/* Frame i's view; with narrays, its named arrays too (arr[0..cap)) from
 * the same lookup. */
static int reader_frame_arrays(const pio_reader *r, uint64_t i, struct pio_frame *out, bool decode,
                               struct pio_array *arr, uint32_t cap, uint32_t *narrays,
                               struct pio_error *err)
{
    struct holo_entry e;
    struct holo_coded cd;
    const uint8_t *rec;
    struct holo_span *pin;
    int rc = frame_look(r, i, &e, out, &cd, &rec, &pin, err);
    if (rc == 0)
        rc = check_once(r, i, &e, rec, &cd, err);
    if (rc == 0 && decode && holo_coded_count(&cd))
        rc = decode_ring(r, out, &cd, err);
    if (rc == 0 && r->remote)
        rc = copy_out(r, out, &cd, true, err);
    if (rc == 0 && narrays)
        rc = arrays_of(r, i, &e, &cd, rec, arr, cap, narrays, err);
    pio__holo_span_put(r, pin);
    return rc;
}

static int reader_frame(const pio_reader *r, uint64_t i, struct pio_frame *out, bool decode,
                        struct pio_error *err)
{
    return reader_frame_arrays(r, i, out, decode, NULL, 0, NULL, err);
}

static int frame_into(const pio_reader *r, struct pio_frame *out, const struct holo_coded *cdp,
                      float (*const xyz[3])[3], uint64_t cap_atoms, struct pio_error *err);

PIO_API bool pio_reader_has_arrays(const pio_reader *r)
{
    return r->hdr.major == 2 && (r->hdr.required & HOLO_REQ_ARRAYS);
}

/* The named arrays of a looked-up record (rec, checked) into out[0..cap). A
 * remote record is in the span cache: its arrays are copied out, into the
 * calling thread's ring, as its frame views are. */
static int arrays_of(const pio_reader *r, uint64_t i, const struct holo_entry *e,
                     const struct holo_coded *cd, const uint8_t *rec, struct pio_array *out,
                     uint32_t cap, uint32_t *narrays, struct pio_error *err)
{
    if (r->remote && cd->narrays && cap) {
        size_t n = (size_t)(e->length - cd->arrays_at);
        uint8_t *p = copy_slot(n);
        if (!p)
            return pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory", r->path, OFFX(i));
        memcpy(p, rec + cd->arrays_at, n);
        for (uint32_t k = 0; k < cd->narrays && k < cap; k++) {
            pio__holo_array_at(rec, cd->arrays_at, k, &out[k]);
            out[k].data = p + ((const uint8_t *)out[k].data - (rec + cd->arrays_at));
        }
    } else {
        for (uint32_t k = 0; k < cd->narrays && k < cap; k++)
            pio__holo_array_at(rec, cd->arrays_at, k, &out[k]);
    }
    if (narrays)
        *narrays = cd->narrays;
    return 0;
}

PIO_API int pio_reader_frame_arrays(const pio_reader *r, uint64_t i, struct pio_array *out,
                                    uint32_t cap, uint32_t *narrays, struct pio_error *err)
{
    if (narrays)
        *narrays = 0;
    struct holo_entry e;
    struct holo_coded cd;
    struct pio_frame f;
    const uint8_t *rec;
    struct holo_span *pin;
    int rc = frame_look(r, i, &e, &f, &cd, &rec, &pin, err);
    if (rc == 0)
        rc = check_once(r, i, &e, rec, &cd, err);
    if (rc == 0)
        rc = arrays_of(r, i, &e, &cd, rec, out, cap, narrays, err);
    pio__holo_span_put(r, pin);
    return rc;
}

int pio__holo_frame_arrays(const pio_reader *r, uint64_t i, struct pio_frame *out,
                           struct pio_array *arr, uint32_t cap, uint32_t *narrays,
                           struct pio_error *err)
{
    *narrays = 0;
    return reader_frame_arrays(r, i, out, true, arr, cap, narrays, err);
}

PIO_API int pio_reader_frame_array(const pio_reader *r, uint64_t i, const char *name,
                                   struct pio_array *out, struct pio_error *err)
{
    struct pio_array a[64];
    uint32_t n = 0;
    int rc = pio_reader_frame_arrays(r, i, a, 64, &n, err);
    if (rc != 0)
        return rc;
    if (n > 64) { /* rare: look through all of them */
        struct pio_array *all = malloc((size_t)n * sizeof(*all));
        if (!all)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
        rc = pio_reader_frame_arrays(r, i, all, n, &n, err);
        for (uint32_t k = 0; rc == 0 && k < n; k++)
            if (strcmp(all[k].name, name) == 0) {
                *out = all[k];
                free(all);
                return 0;
            }
        free(all);
        return rc ? rc
                  : pio_error_set(err, -ENOENT, "%s: frame %llu has no array named '%s'", r->path,
                                  OFFX(i), name);
    }
    for (uint32_t k = 0; k < n; k++)
        if (strcmp(a[k].name, name) == 0) {
            *out = a[k];
            return 0;
        }
    return pio_error_set(err, -ENOENT, "%s: frame %llu has no array named '%s'", r->path, OFFX(i),
                         name);
}

PIO_API int pio_reader_frame_into(const pio_reader *r, uint64_t i, float (*const xyz[3])[3],
                                  uint64_t cap_atoms, struct pio_frame *out, struct pio_error *err)
{
    struct holo_entry e;
    struct holo_coded cd;
    const uint8_t *rec;
    struct holo_span *pin;
    int rc = frame_look(r, i, &e, out, &cd, &rec, &pin, err);
    if (rc == 0)
        rc = check_once(r, i, &e, rec, &cd, err);
    if (rc == 0)
        rc = frame_into(r, out, &cd, xyz, cap_atoms, err);
    if (rc == 0 && r->remote) /* its scalars, out of the cache */
        rc = copy_out(r, out, &cd, false, err);
    pio__holo_span_put(r, pin);
    return rc;
}

static int frame_into(const pio_reader *r, struct pio_frame *out, const struct holo_coded *cdp,
                      float (*const xyz[3])[3], uint64_t cap_atoms, struct pio_error *err)
{
    const struct holo_coded cd = *cdp;
    uint64_t i = out->index;
    int rc;
    if (out->natoms > cap_atoms && (xyz[0] || xyz[1] || xyz[2]))
        return pio_error_set(err, -ENOSPC, "%s: frame %llu has %llu atoms, the buffers hold %llu",
                             r->path, OFFX(i), OFFX(out->natoms), OFFX(cap_atoms));
    const float(**arr[3])[3] = {&out->positions, &out->velocities, &out->forces};
    struct pio__codec_scratch *s = NULL;
    for (int a = 0; a < 3; a++) {
        bool present = *arr[a] || cd.codec[a];
        if (!xyz[a] || !present) {
            *arr[a] = NULL;
            continue;
        }
        if (!cd.codec[a]) {
            memcpy(xyz[a], *arr[a], (size_t)out->natoms * 12);
        } else {
            if (!s && !(s = decode_scratch()))
                return pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
            struct holo_coded one = cd; /* this array only */
            for (int b = 0; b < 3; b++)
                if (b != a)
                    one.codec[b] = 0;
            if ((rc = pio__holo_decode(r, out, &one, (float *)xyz[a], s, decode_cache(), err)) != 0)
                return rc;
        }
        *arr[a] = (const float(*)[3])xyz[a];
    }
    out->fields &= ~(uint32_t)PIO_FIELD_DECODED; /* the caller's arrays */
    return 0;
}

PIO_API int pio_reader_frame_codecs(const pio_reader *r, uint64_t i, uint32_t codec[3],
                                    double *precision)
{
    struct holo_entry e;
    struct pio_frame f;
    struct holo_coded cd;
    const uint8_t *rec;
    struct holo_span *pin;
    int rc = frame_look(r, i, &e, &f, &cd, &rec, &pin, NULL);
    pio__holo_span_put(r, pin);
    if (rc != 0)
        return rc;
    *precision = 0;
    for (int a = 0; a < 3; a++) {
        codec[a] = cd.codec[a];
        if (cd.codec[a] == PIO_CODEC_LOSSY)
            *precision = cd.precision[a];
    }
    return 0;
}

/* The last array a read asks for that the block holds. */
static int last_array(float (*const xyz[3])[3], const struct holo_coded *cd)
{
    int last = -1;
    for (int a = 0; a < 3; a++)
        if (xyz[a] && cd->codec[a])
            last = a;
    return last;
}

PIO_API int pio_reader_read(const pio_reader *r, uint64_t first, uint64_t n, const uint64_t *atoms,
                            uint64_t nsel, float (*const xyz[3])[3], struct pio_error *err)
{
    static const char *const what[3] = {"positions", "velocities", "forces"};
    if (first > r->nframes || n > r->nframes - first)
        return pio_error_set(err, -ERANGE, "%s: frames %llu..%llu out of range (%llu frames)",
                             r->path, OFFX(first), OFFX(first + n - 1), OFFX(r->nframes));
    for (uint64_t j = 1; atoms && j < nsel; j++)
        if (atoms[j] <= atoms[j - 1])
            return pio_error_set(err, PIO_EUSAGE,
                                 "%s: atom selection not in increasing order (atom %llu after "
                                 "%llu)",
                                 r->path, OFFX(atoms[j]), OFFX(atoms[j - 1]));
    uint64_t top = nsel == 0 ? 0 : atoms ? atoms[nsel - 1] + 1 : nsel; /* atoms a frame needs */
    struct decode_tls *t = decode_tls_get();
    if (!t)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
    float *whole = NULL; /* a compressed FRAME record's array, decoded */
    size_t whole_cap = 0;
    int rc = 0;
    /* frames before direct_end that name the record at direct_off were
     * decoded into xyz with their block already */
    uint64_t direct_end = 0, direct_off = 0;
    for (uint64_t i = first; i < first + n && rc == 0; i++) {
        struct holo_entry e;
        struct holo_coded cd;
        struct pio_frame f;
        const uint8_t *rec;
        struct holo_span *pin;
        rc = frame_look(r, i, &e, &f, &cd, &rec, &pin, err);
        if (rc == 0)
            rc = check_once(r, i, &e, rec, &cd, err);
        if (rc == 0 && top > f.natoms)
            rc = pio_error_set(err, -ERANGE, "%s: frame %llu has %llu atoms; atom %llu asked",
                               r->path, OFFX(i), OFFX(f.natoms), OFFX(top - 1));
        const float(*arr[3])[3] = {f.positions, f.velocities, f.forces};
        for (int a = 0; a < 3 && rc == 0; a++) {
            if (!xyz[a])
                continue;
            if (!arr[a] && !cd.codec[a]) {
                rc = pio_error_set(err, -ENOENT, "%s: frame %llu at offset 0x%llx has no %s",
                                   r->path, OFFX(i), OFFX(e.offset), what[a]);
                break;
            }
            if (nsel == 0)
                continue;
            const float(*src)[3] = arr[a];
            if (cd.in_block && cd.codec[a] && i < direct_end && cd.block.off == direct_off)
                continue; /* decoded with its block, below */
            if (cd.in_block && cd.codec[a] && !atoms && nsel == f.natoms && i == cd.block.first &&
                cd.block.nframes <= first + n - i) {
                /* every atom of every frame of this block: decoded straight
                 * into the caller's rows (no cache, no copy) */
                rc = pio__holo_block_decode_into(r->path, &cd.block, i, a,
                                                 (float *)(xyz[a] + (i - first) * nsel),
                                                 !r->serial_decode, err);
                if (a == last_array(xyz, &cd)) {
                    /* (a truncation may have given later frames of the
                     * block other records: their rows are read again) */
                    direct_end = i + cd.block.nframes;
                    direct_off = cd.block.off;
                }
                continue;
            }
            if (cd.in_block && cd.codec[a]) {
                rc = pio__holo_block_fetch_atoms(r->path, r->uid, &cd.block, i, 1u << a, atoms,
                                                 nsel, !r->serial_decode, &t->block, err);
                src = (const float(*)[3])holo_block_cached(&t->block, a, cd.k);
            } else if (cd.codec[a]) {
                size_t need = (size_t)f.natoms * 3;
                if (whole_cap < need) {
                    free(whole);
                    whole_cap = 0;
                    if (!(whole = malloc(PIO_MAX(need, (size_t)3) * sizeof(float)))) {
                        rc = pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory", r->path,
                                           OFFX(i));
                        break;
                    }
                    whole_cap = need;
                }
                struct holo_coded one = cd; /* this array only */
                for (int b = 0; b < 3; b++)
                    if (b != a)
                        one.codec[b] = 0;
                rc = pio__holo_decode(r, &f, &one, whole, &t->scratch, &t->block, err);
                src = (const float(*)[3])whole;
            }
            if (rc != 0)
                break;
            float(*dst)[3] = xyz[a] + (i - first) * nsel;
            if (!atoms)
                memcpy(dst, src, (size_t)nsel * 12);
            else
                for (uint64_t j = 0; j < nsel; j++)
                    memcpy(dst[j], src[atoms[j]], 12);
        }
        pio__holo_span_put(r, pin);
    }
    free(whole);
    return rc;
}

PIO_API int pio_reader_frame_block(const pio_reader *r, uint64_t i, uint64_t *first,
                                   uint32_t *nframes)
{
    struct holo_entry e;
    struct pio_frame f;
    struct holo_coded cd;
    const uint8_t *rec;
    struct holo_span *pin;
    int rc = frame_look(r, i, &e, &f, &cd, &rec, &pin, NULL);
    pio__holo_span_put(r, pin);
    if (rc != 0)
        return rc;
    *first = cd.in_block ? cd.block.first : i;
    *nframes = cd.in_block ? cd.block.nframes : 1;
    return 0;
}

PIO_API int pio_reader_frame_extent(const pio_reader *r, uint64_t i, uint64_t *offset,
                                    uint64_t *length)
{
    if (i >= r->nframes)
        return -ERANGE;
    struct holo_entry e;
    int rc = pio__holo_entry(r, i, &e, NULL);
    if (rc != 0)
        return rc;
    *offset = e.offset;
    *length = e.length;
    return 0;
}

PIO_API int pio_reader_io_info(const pio_reader *r, struct pio_io_info *out)
{
    *out = r->io.info;
    return 0;
}

/* Every entry, and whether steps and times never decrease (2.0: found
 * when the entries are first gathered). */
static const struct holo_entry *all_entries(const pio_reader *r, bool *steps_sorted,
                                            bool *times_sorted)
{
    const struct holo_entry *e;
    *steps_sorted = *times_sorted = true;
    if (pio__holo_entries(r, &e, NULL) != 0)
        return NULL;
    if (!r->v2) {
        *steps_sorted = r->steps_sorted;
        *times_sorted = r->times_sorted;
        return e;
    }
    /* relaxed: a thread that misses the store computes the same flags */
    int f = atomic_load_explicit(&r->all_sorted, memory_order_relaxed);
    if (f == 0) {
        f = 1 | 2 | 4;
        for (uint64_t i = 1; i < r->nframes; i++) {
            if (e[i].step < e[i - 1].step)
                f &= ~2;
            if (!(e[i].time >= e[i - 1].time))
                f &= ~4;
        }
        atomic_store_explicit(&((pio_reader *)r)->all_sorted, f, memory_order_relaxed);
    }
    *steps_sorted = (f & 2) != 0;
    *times_sorted = (f & 4) != 0;
    return e;
}

PIO_API int64_t pio_reader_find_step(const pio_reader *r, int64_t step)
{
    bool steps_sorted, times_sorted;
    const struct holo_entry *entries = all_entries(r, &steps_sorted, &times_sorted);
    if (!entries)
        return r->nframes ? -ENOMEM : -ENOENT;
    if (steps_sorted) {
        uint64_t lo = 0, hi = r->nframes;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (entries[mid].step < step)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo < r->nframes && entries[lo].step == step ? (int64_t)lo : -ENOENT;
    }
    for (uint64_t i = 0; i < r->nframes; i++)
        if (entries[i].step == step)
            return (int64_t)i;
    return -ENOENT;
}

PIO_API int64_t pio_reader_find_time(const pio_reader *r, double t)
{
    if (r->nframes == 0 || isnan(t))
        return -ENOENT;
    bool steps_sorted, times_sorted;
    const struct holo_entry *entries = all_entries(r, &steps_sorted, &times_sorted);
    if (!entries)
        return -ENOMEM;
    uint64_t best = 0;
    if (times_sorted) {
        uint64_t lo = 0, hi = r->nframes; /* first time >= t */
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (entries[mid].time < t)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == r->nframes)
            return (int64_t)(r->nframes - 1);
        best = lo;
        if (lo > 0 && t - entries[lo - 1].time <= entries[lo].time - t)
            best = lo - 1;
        return (int64_t)best;
    }
    double bd = INFINITY;
    for (uint64_t i = 0; i < r->nframes; i++) {
        double d = fabs(entries[i].time - t);
        if (d < bd) {
            bd = d;
            best = i;
        }
    }
    return (int64_t)best;
}

PIO_API int pio_reader_topology(const pio_reader *r, struct pio_topology *out)
{
    if (!r->has_meta || r->meta.top.natoms == 0)
        return -ENOENT;
    *out = r->meta.top;
    return 0;
}

PIO_API uint64_t pio_reader_metadata_count(const pio_reader *r)
{
    return r->has_meta ? r->meta.nmeta : 0;
}

PIO_API int pio_reader_metadata_at(const pio_reader *r, uint64_t i, const char **key,
                                   const char **value)
{
    if (i >= pio_reader_metadata_count(r))
        return -ERANGE;
    const char *p = r->meta.meta;
    for (uint64_t k = 0; k < i; k++) {
        p += strlen(p) + 1;
        p += strlen(p) + 1;
    }
    *key = p;
    *value = p + strlen(p) + 1;
    return 0;
}

PIO_API const char *pio_reader_metadata_get(const pio_reader *r, const char *key)
{
    const char *k, *v;
    for (uint64_t i = 0; pio_reader_metadata_at(r, i, &k, &v) == 0; i++)
        if (strcmp(k, key) == 0)
            return v;
    return NULL;
}

static int walk_view(const pio_reader *r, uint64_t i, const struct holo_entry *e,
                     struct pio_frame *f, struct pio_error *err);

PIO_API int pio_reader_info(const pio_reader *r, struct pio_reader_info *out)
{
    return pio_reader_info_err(r, out, NULL);
}

PIO_API int pio_reader_info_err(const pio_reader *r, struct pio_reader_info *out,
                                struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    out->version_major = r->hdr.major;
    out->version_minor = r->hdr.minor;
    out->recovered = r->recovered;
    out->file_size = r->size;
    out->data_end = r->data_end;
    out->nframes = r->nframes;
    const struct holo_entry *entries = all_entries(r, &out->steps_sorted, &out->times_sorted);
    out->metadata_damaged = r->meta_damaged;
    if (r->nframes == 0)
        return 0;
    if (!entries) { /* 2.0: an index record is damaged; every frame counts as damaged */
        out->damaged_frames = r->nframes;
        return 0;
    }
    out->step_first = entries[0].step;
    out->step_last = entries[r->nframes - 1].step;
    out->time_first = entries[0].time;
    out->time_last = entries[r->nframes - 1].time;
    out->min_natoms = UINT64_MAX;
    uint64_t d = 0; /* the next damaged range */
    int rc = 0;
    pio__holo_walk_begin(r);
    for (uint64_t i = 0; i < r->nframes; i++) {
        while (d < r->ndamage && r->damage[d].first_frame + r->damage[d].nframes <= i)
            d++;
        struct pio_frame f;
        int vrc = d < r->ndamage && i >= r->damage[d].first_frame
                      ? 1
                      : walk_view(r, i, &entries[i], &f, err);
        if (vrc < 0) { /* a remote file's request failed: no count is right */
            rc = vrc;
            break;
        }
        if (vrc) {
            out->damaged_frames++;
            continue;
        }
        out->max_natoms = PIO_MAX(out->max_natoms, f.natoms);
        out->min_natoms = PIO_MIN(out->min_natoms, f.natoms);
    }
    pio__holo_walk_end(r);
    if (out->min_natoms == UINT64_MAX)
        out->min_natoms = 0;
    return rc;
}

PIO_API int pio_reader_verify_frame(const pio_reader *r, uint64_t i, struct pio_error *err)
{
    struct pio_frame f;
    int rc = reader_frame(r, i, &f, false, err); /* the stored bytes: nothing decoded */
    if (rc != 0 || (r->checked && r->checked[i]))
        return rc;
    struct holo_entry e;
    if ((rc = pio__holo_entry(r, i, &e, err)) != 0)
        return rc;
    if (!r->remote)
        return pio__holo_frame_checksum(r, i, &e, r->map + e.offset, err);
    struct holo_span *pin;
    struct pio_error e1;
    const uint8_t *rec = pio__holo_span_get(r, e.offset, e.length, &pin, &e1);
    if (!rec)
        return pio_error_set(err, e1.code, "%s: frame %llu: %s", r->path, OFFX(i), e1.message);
    rc = pio__holo_frame_checksum(r, i, &e, rec, err);
    pio__holo_span_put(r, pin);
    return rc;
}

/* A walk's view of the frame record of entry e (info, natoms_bound): 0,
 * 1 when the record fails its checks, or a remote file's failed request
 * (err). A remote record's head is fetched first (most checks need no
 * more), then the whole record if the head did not do. */
static int walk_view(const pio_reader *r, uint64_t i, const struct holo_entry *e,
                     struct pio_frame *f, struct pio_error *err)
{
    if (e->offset > r->size)
        return 1;
    const uint8_t *rec = r->map + e->offset;
    uint64_t avail = r->size - e->offset;
    if (!r->remote)
        return pio__holo_frame_view(r, i, e, rec, avail, f, NULL, NULL) ? 1 : 0;
    uint64_t head = PIO_MIN(e->length, (uint64_t)64 << 10);
    bool small = e->length < ((uint64_t)64 << 10);
    int rc = pio__holo_walk_need(r, e->offset, head, small, err);
    if (rc != 0 && err) {
        char m[PIO_ERROR_MESSAGE_SIZE];
        size_t pl = strlen(r->path);
        snprintf(m, sizeof(m), "%s", err->message);
        pio_error_set(err, rc, "%s: frame %llu: %s", r->path, OFFX(i),
                      strncmp(m, r->path, pl) == 0 && m[pl] == ':' ? m + pl + 2 : m);
    }
    if (rc != 0)
        return rc;
    if (pio__holo_frame_view(r, i, e, rec, avail, f, NULL, NULL) == 0)
        return 0;
    if (head == e->length)
        return 1;
    if ((rc = pio__holo_walk_need(r, e->offset, e->length, false, err)) != 0)
        return rc;
    return pio__holo_frame_view(r, i, e, rec, avail, f, NULL, NULL) ? 1 : 0;
}

struct vrec {
    uint64_t off, len, seq;
    uint32_t type;
    bool live;      /* a FRAME the index names (2.0: not one a truncation dropped) */
    uint64_t nlive; /* a live BLOCK's frames in the view */
};

/* Verification, pass 1: the structure, from record headers in the mapping
 * (footers are checked here: they are not records). */
/* What verify_index_record remembers between records. */
struct vstate {
    uint64_t full_off; /* the FULL INDEX whose head was last checked */
    uint8_t full_head[32];
};

/* 2.0: a COMMIT record's structure and back links (each names a COMMIT
 * record with that frame count and stored hash; the hashes themselves are
 * checked in pass 2) and the head of the FULL INDEX it names; a FULL
 * INDEX's structure and every page hash. */
static int verify_index_record(const pio_reader *r, uint64_t pos, uint32_t type, struct vstate *vs,
                               struct pio_error *err)
{
    if (type == HOLO_REC_FULL) {
        struct holo_full fi;
        int rc = pio__holo_need_record(r, pos, err);
        if (rc == 0)
            rc = pio__holo_parse_full(r->path, r->map, r->size, pos, r->hdr.salt, &fi, err);
        for (uint32_t k = 0; rc == 0 && k < fi.npages; k++) {
            uint8_t h[32];
            pio_blake3_hash(h, 32, fi.pages + (uint64_t)k * HOLO_PAGE_ENTRIES * HOLO_ENTRY_SIZE,
                            (size_t)holo_full_page_len(&fi, k));
            if (memcmp(h, fi.table + (uint64_t)k * HOLO_PAGE_DESC + 8, 32) != 0)
                rc = pio_error_set(err, PIO_ECHECKSUM,
                                   "%s: full index at offset 0x%llx: page %u: checksum mismatch",
                                   r->path, OFFX(pos), k);
        }
        return rc;
    }
    struct holo_commit c;
    int rc = pio__holo_need_record(r, pos, err);
    if (rc == 0)
        rc = pio__holo_parse_commit(r->path, r->map, r->size, pos, r->hdr.salt, &c, err);
    if (rc != 0)
        return rc;
    for (uint32_t j = 0; j < c.nlinks; j++) {
        const uint8_t *l = c.links + (uint64_t)j * HOLO_LINK_SIZE;
        struct holo_commit t;
        if (holo_rd64(l) < pos && (rc = pio__holo_need_record(r, holo_rd64(l), err)) != 0)
            return rc;
        if (pio__holo_parse_commit(r->path, r->map, pos, holo_rd64(l), r->hdr.salt, &t, NULL) !=
                0 ||
            t.chain != c.chain - ((uint64_t)1 << j) || t.nframes != holo_rd64(l + 8) ||
            memcmp(t.hash, l + 16, 32) != 0 || t.full_off != c.full_off)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: commit record at offset 0x%llx: back link %u does not name "
                                 "the commit at offset 0x%llx",
                                 r->path, OFFX(pos), j, OFFX(holo_rd64(l)));
    }
    if (c.full_off && (c.full_off != vs->full_off || memcmp(c.full_head, vs->full_head, 32))) {
        struct holo_full fi;
        uint8_t h[32];
        if (c.full_off < pos && (rc = pio__holo_need_record(r, c.full_off, err)) != 0)
            return rc;
        if ((rc = pio__holo_parse_full(r->path, r->map, pos, c.full_off, r->hdr.salt, &fi, err)) !=
            0)
            return rc;
        pio_blake3_hash(h, 32, r->map + c.full_off, (size_t)fi.head_len);
        if (fi.n != c.full_n || memcmp(h, c.full_head, 32) != 0)
            return pio_error_set(err, PIO_ECHECKSUM,
                                 "%s: commit record at offset 0x%llx: the full index at offset "
                                 "0x%llx does not match it",
                                 r->path, OFFX(pos), OFFX(c.full_off));
        vs->full_off = c.full_off;
        memcpy(vs->full_head, c.full_head, 32);
    }
    return 0;
}

static int verify_walk(const pio_reader *r, struct vrec **out, uint64_t *nout,
                       struct pio_error *err)
{
    struct vstate vs = {0};
    struct vrec *v = NULL;
    uint64_t n = 0, cap = 0, pos = HOLO_HEADER_SIZE, frames = 0;
    int rc = 0;
    while (pos < r->size) {
        uint64_t io, il;
        /* a remote file: the record's header (its length), then what the
         * checks below read of it (index records: kept) */
        if (r->remote) {
            bool small = n > 0 && v[n - 1].len < ((uint64_t)64 << 10);
            if ((rc = pio__holo_walk_need(r, pos, HOLO_FOOTER_SIZE, small, err)) != 0)
                goto fail;
            uint64_t l = holo_rd64(r->map + pos + 8);
            uint32_t t = holo_rd32(r->map + pos + 4);
            if (memcmp(r->map + pos, HOLO_FOOTER_MAGIC, 8) == 0)
                rc = 0;
            else if (t == HOLO_REC_BLOCK && l <= r->size - pos)
                rc = pio__holo_walk_need(r, pos, l, false, err);
            else if (t != HOLO_REC_FRAME && t != HOLO_REC_PAD)
                rc = pio__holo_need_record(r, pos, err);
            if (rc != 0)
                goto fail;
        }
        if (r->hdr.major == 1 && r->size - pos >= 8 &&
            memcmp(r->map + pos, HOLO_FOOTER_MAGIC, 8) == 0) {
            if (!pio__holo_footer_valid(r->map, r->size, pos, r->hdr.salt, &io, &il)) {
                rc = pio_error_set(err, PIO_ECHECKSUM, "%s: footer at offset 0x%llx is invalid",
                                   r->path, OFFX(pos));
                goto fail;
            }
            pos += HOLO_FOOTER_SIZE;
            continue;
        }
        uint32_t type;
        uint64_t len, seq;
        if ((rc = pio__holo_check_record(r->path, r->map, r->size, pos, r->hdr.salt, &type, &len,
                                         &seq, err)) != 0)
            goto fail;
        if (r->hdr.major >= 2 ? type == HOLO_REC_INDEX : type > HOLO_REC_INDEX) {
            rc = pio_error_set(err, PIO_ECORRUPT,
                               "%s: record of type %u at offset 0x%llx does not belong in a "
                               "version %u file",
                               r->path, type, OFFX(pos), r->hdr.major);
            goto fail;
        }
        struct holo_entry e = {0};
        bool live = true;
        uint64_t nlive = 0;
        if (type == HOLO_REC_BLOCK) {
            /* 2.1: live where the view names it for its first frame; its
             * frames in the view are a prefix (a truncation may cut it) */
            struct holo_block b;
            if (!(r->hdr.required & HOLO_REQ_BLOCK)) {
                rc = pio_error_set(err, PIO_ECORRUPT,
                                   "%s: block record at offset 0x%llx in a file that does not "
                                   "announce blocks",
                                   r->path, OFFX(pos));
                goto fail;
            }
            if ((rc = pio__holo_parse_block(r->path, r->map + pos, len, pos, seq, seq, &b, err)) !=
                0)
                goto fail;
            if (seq < r->nframes && (rc = pio__holo_entry(r, seq, &e, err)) != 0)
                goto fail;
            live = seq < r->nframes && e.offset == pos;
            if (live && seq != frames) {
                rc = pio_error_set(err, PIO_ECORRUPT,
                                   "%s: block record of frame %llu at offset 0x%llx comes after "
                                   "frame %llu",
                                   r->path, OFFX(seq), OFFX(pos), OFFX(frames));
                goto fail;
            }
            uint64_t k = 0;
            while (live && k < b.nframes && seq + k < r->nframes) {
                if ((rc = pio__holo_entry(r, seq + k, &e, err)) != 0)
                    goto fail;
                if (e.offset != pos)
                    break;
                k++;
            }
            frames += k;
            nlive = k;
        } else if (type == HOLO_REC_FRAME && r->v2) {
            /* 2.0: a frame record the view does not name is dead bytes (a
             * truncation dropped it): hashed below, not in the digest */
            if (seq < r->nframes && (rc = pio__holo_entry(r, seq, &e, err)) != 0)
                goto fail;
            live = seq < r->nframes && e.offset == pos;
            if (live && seq != frames) {
                rc = pio_error_set(err, PIO_ECORRUPT,
                                   "%s: frame record %llu at offset 0x%llx comes after frame %llu",
                                   r->path, OFFX(seq), OFFX(pos), OFFX(frames));
                goto fail;
            }
            frames += live;
        } else if (type == HOLO_REC_FRAME && frames < r->nframes &&
                   (rc = pio__holo_entry(r, frames, &e, err)) != 0) {
            goto fail;
        }
        if ((type == HOLO_REC_FRAME && r->v2) || type == HOLO_REC_BLOCK) {
            /* checked above */
        } else if (type == HOLO_REC_FRAME) {
            if (seq != frames || frames >= r->nframes || e.offset != pos) {
                rc = pio_error_set(err, PIO_ECORRUPT,
                                   "%s: frame record %llu at offset 0x%llx is not the index's "
                                   "frame %llu",
                                   r->path, OFFX(seq), OFFX(pos), OFFX(frames));
                goto fail;
            }
            frames++;
        } else if (type == HOLO_REC_META && (pos != r->meta_off || !r->has_meta)) {
            rc = pio_error_set(err, PIO_ECORRUPT,
                               "%s: metadata record at offset 0x%llx is not the index's", r->path,
                               OFFX(pos));
            goto fail;
        } else if (!r->v2 && type != HOLO_REC_FRAME && type != HOLO_REC_META && seq != frames) {
            rc = pio_error_set(err, PIO_ECORRUPT,
                               "%s: index record at offset 0x%llx covers %llu frames, %llu "
                               "precede it",
                               r->path, OFFX(pos), OFFX(seq), OFFX(frames));
            goto fail;
        } else if ((type == HOLO_REC_COMMIT || type == HOLO_REC_FULL) &&
                   (rc = verify_index_record(r, pos, type, &vs, err)) != 0) {
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            struct vrec *nv = realloc(v, (size_t)cap * sizeof(*v));
            if (!nv) {
                rc = pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
                goto fail;
            }
            v = nv;
        }
        v[n++] = (struct vrec){pos, len, seq, type, live, type == HOLO_REC_BLOCK ? nlive : 1};
        pos += len;
    }
    if (frames != r->nframes) {
        rc = pio_error_set(err, PIO_ECORRUPT, "%s: %llu frame records found, the index has %llu",
                           r->path, OFFX(frames), OFFX(r->nframes));
        goto fail;
    }
    *out = v;
    *nout = n;
    return 0;
fail:
    free(v);
    return rc;
}

PIO_API int pio_reader_verify(const pio_reader *r, unsigned threads, struct pio_error *err)
{
    struct holo_header h;
    int rc = pio__holo_check_header(r->path, r->map, r->size, &h, err);
    if (rc != 0)
        return rc;
    if (r->recovered)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: no valid footer at offset 0x%llx: the writer did not commit "
                             "(%llu complete frames; run prismio recover)",
                             r->path,
                             OFFX(r->size >= footer_size(r) ? r->size - footer_size(r) : 0),
                             OFFX(r->nframes));
    struct vrec *v = NULL;
    uint64_t n = 0;
    /* Pass 1 touches one header per record: with records of 64 KiB or
     * more, the kernel's read-around would read the whole file into 4 KiB
     * pages for it (measured: a later mapping of them took 3x the time),
     * so it reads only what is touched; pass 2 reads the rest in order
     * (large folios). Small records: read-around is what makes it fast. */
    bool sparse = r->nframes && r->size / r->nframes >= ((uint64_t)64 << 10) && !r->remote;
    if (sparse)
        madvise((void *)r->map, (size_t)page_up(r->size), MADV_RANDOM);
    pio__holo_walk_begin(r);
    rc = verify_walk(r, &v, &n, err);
    pio__holo_walk_end(r);
    if (sparse)
        madvise((void *)r->map, (size_t)page_up(r->size), MADV_NORMAL);
    if (rc != 0)
        return rc;

    /* Pass 2: every record's bytes through the engine, hashed in order. */
    struct pio_io_range *ranges = malloc((size_t)PIO_MAX(n, 1) * sizeof(*ranges));
    if (!ranges) {
        free(v);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
    }
    for (uint64_t i = 0; i < n; i++)
        ranges[i] = (struct pio_io_range){v[i].off, v[i].len};
    struct pio_io_ranges_options ro = {.ordered = true};
    pio_io_ranges *s;
    rc = pio_io_ranges_open(&s, &r->io, ranges, n, &ro, err);
    free(ranges);
    if (rc != 0) {
        free(v);
        return rc;
    }
    pio_blake3_hasher digest;
    pio_blake3_hasher_init(&digest);
    uint64_t idx;
    const uint8_t *rec;
    /* telemetry: hashing per batch of records (about 4 MiB; the reads
     * report themselves, mmap too: io_ranges.c) */
    unsigned eng = (unsigned)pio_io_ranges_info(s)->engine;
    struct {
        uint64_t first, bytes, ticks, n;
    } bt = {0, 0, 0, 0};
    while ((rc = pio_io_ranges_next(s, true, &idx, &rec, err)) == 1) {
        const struct vrec *x = &v[idx];
        uint8_t hash[32];
        uint64_t t0 = pio_tm_start();
        pio__holo_record_hash(rec, x->len, threads, hash);
        if (t0) {
            uint64_t t1 = pio_tm_start();
            if (bt.n++ == 0)
                bt.first = x->seq;
            bt.bytes += x->len;
            bt.ticks += t1 - t0;
            if (bt.bytes >= ((uint64_t)4 << 20) || bt.n >= 4096 || idx + 1 == n) {
                pio_tm_span(PIO_OP_HASH, eng, (uint64_t)r->fd, bt.first, bt.bytes, t1 - bt.ticks,
                            t1, 0);
                bt.n = bt.bytes = bt.ticks = 0;
            }
        }
        if (memcmp(hash, rec + HOLO_HASH_OFF, 32) != 0) {
            if (x->type == HOLO_REC_FRAME || x->type == HOLO_REC_BLOCK)
                rc = pio_error_set(err, PIO_ECHECKSUM,
                                   "%s: frame %llu at offset 0x%llx: checksum mismatch%s", r->path,
                                   OFFX(x->seq), OFFX(x->off),
                                   x->type == HOLO_REC_BLOCK ? " (its block)" : "");
            else
                rc = pio_error_set(err, PIO_ECHECKSUM,
                                   "%s: %s record at offset 0x%llx: checksum mismatch", r->path,
                                   x->type == HOLO_REC_META     ? "metadata"
                                   : x->type == HOLO_REC_PAD    ? "padding"
                                   : x->type == HOLO_REC_FULL   ? "full index"
                                   : x->type == HOLO_REC_COMMIT ? "commit"
                                                                : "index",
                                   OFFX(x->off));
            break;
        }
        if ((x->type == HOLO_REC_FRAME || x->type == HOLO_REC_BLOCK) && x->live) {
            /* each frame it holds against its index entry (a block's all) */
            int vrc = 0;
            for (uint64_t j = x->seq; j < x->seq + x->nlive && vrc == 0; j++) {
                struct pio_frame f;
                struct holo_entry e;
                if ((vrc = pio__holo_entry(r, j, &e, err)) == 0)
                    vrc = pio__holo_frame_view(r, j, &e, rec, x->len, &f, NULL, err);
            }
            if ((rc = vrc) != 0)
                break;
        }
        if (x->type == HOLO_REC_META ||
            ((x->type == HOLO_REC_FRAME || x->type == HOLO_REC_BLOCK) && x->live))
            pio_blake3_hasher_update(&digest, hash, 32);
        pio_io_ranges_release(s, rec);
    }
    pio_io_ranges_close(s);
    free(v);
    if (rc != 0)
        return rc;
    uint8_t d[32];
    pio_blake3_hasher_finalize(&digest, d, 32);
    if (memcmp(d, r->digest, 32) != 0)
        return pio_error_set(err, PIO_ECHECKSUM,
                             "%s: file digest in the index at offset 0x%llx does not match the "
                             "records",
                             r->path, OFFX(r->index_off + (r->v2 ? 136 : 96)));
    return 0;
}

PIO_API uint64_t pio_reader_natoms_bound(const pio_reader *r)
{
    uint64_t m = 0;
    /* entry by entry (no allocation); a frame whose entry cannot be had
     * fails when it is read, with its own error */
    bool coded = (r->hdr.required & HOLO_REQ_ZSTD) != 0;
    uint64_t natoms = 0, prev = 0;
    pio__holo_walk_begin(r);
    for (uint64_t i = 0; i < r->nframes; i++) {
        struct holo_entry e;
        if (pio__holo_entry(r, i, &e, NULL) != 0 || (i > 0 && e.offset == prev))
            continue; /* (a block's frames: one look) */
        prev = e.offset;
        m = PIO_MAX(m, e.length);
        /* a compressed record is shorter than its atoms: its header says,
         * once the record's structure (payload sizes included) holds */
        struct pio_frame f;
        if (coded && walk_view(r, i, &e, &f, NULL) == 0)
            natoms = PIO_MAX(natoms, f.natoms);
    }
    pio__holo_walk_end(r);
    if (coded)
        return natoms;
    /* every atom costs at least 12 bytes of positions */
    uint64_t overhead = HOLO_REC_HDR + HOLO_FRAME_HDR;
    return m > overhead ? (m - overhead) / 12 : 0;
}

PIO_API size_t pio_reader_warning(const pio_reader *r, char *buf, size_t len)
{
    int n = 0;
    if (r->recovered && r->data_end < r->size)
        n = snprintf(buf, len,
                     "no valid footer (the writer did not commit): %llu frames found by a "
                     "recovery scan; %llu bytes of torn tail from offset 0x%llx skipped",
                     OFFX(r->nframes), OFFX(r->size - r->data_end), OFFX(r->data_end));
    else if (r->meta_damaged)
        n = snprintf(buf, len,
                     "the metadata record at offset 0x%llx is damaged: opened without the "
                     "topology and metadata",
                     OFFX(r->meta_off));
    else if (len)
        buf[0] = '\0';
    return n > 0 ? (size_t)n : 0;
}

PIO_API int pio_reader_open(pio_reader **out, const char *path,
                            const struct pio_reader_options *opts, struct pio_error *err)
{
    uint64_t t0 = pio_tm_start();
    int rc = reader_open(out, path, opts, err);
    pio_tm_end(PIO_OP_OPEN, rc == 0 ? (*out)->io.info.engine : 0,
               rc == 0 ? (uint64_t)(*out)->fd : 0, UINT64_MAX, rc == 0 ? (*out)->size : 0, t0, rc);
    return rc;
}
