/*
 * io: engine choice, O_DIRECT setup, fault injection.
 *
 * The io_uring probe sets up and tears down a tiny ring: cheap (tens of
 * microseconds) and the only reliable test, since seccomp filters,
 * kernel.io_uring_disabled and RLIMIT_MEMLOCK all show up as setup errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_ring.h"
#include "io/pio_io.h"
#include "prismio/telemetry.h"

#include "common/pio_common.h"

_Static_assert(PIO_IO_ENGINE_COUNT == PIO_ENGINE_NAMES, "one name per engine");
#define engine_names pio__engine_names

PIO_API const char *pio_io_engine_name(enum pio_io_engine e)
{
    return (int)e >= 0 && (int)e < PIO_IO_ENGINE_COUNT ? engine_names[e] : NULL;
}

PIO_API int pio_io_engine_parse(const char *name, enum pio_io_engine *out)
{
    for (int e = 0; name && e < PIO_IO_ENGINE_COUNT; e++)
        if (strcmp(name, engine_names[e]) == 0) {
            *out = (enum pio_io_engine)e;
            return 0;
        }
    return PIO_EUSAGE;
}

/* ---- faults ---- */

static struct {
    _Atomic int count; /* relaxed: tests set and take from one thread */
    _Atomic int skip;
    _Atomic int err;
} faults[PIO_FAULT_COUNT];

void pio_io_fault_set_after(enum pio_io_fault fault, int err, int skip, int count)
{
    atomic_store_explicit(&faults[fault].err, err, memory_order_relaxed);
    atomic_store_explicit(&faults[fault].skip, skip, memory_order_relaxed);
    atomic_store_explicit(&faults[fault].count, count, memory_order_relaxed);
}

void pio_io_fault_set(enum pio_io_fault fault, int err, int count)
{
    pio_io_fault_set_after(fault, err, 0, count);
}

int pio_io_fault_take(enum pio_io_fault fault)
{
    if (PIO_LIKELY(atomic_load_explicit(&faults[fault].count, memory_order_relaxed) <= 0))
        return 0;
    if (atomic_load_explicit(&faults[fault].skip, memory_order_relaxed) > 0 &&
        atomic_fetch_sub_explicit(&faults[fault].skip, 1, memory_order_relaxed) > 0)
        return 0;
    if (atomic_fetch_sub_explicit(&faults[fault].count, 1, memory_order_relaxed) <= 0)
        return 0;
    return atomic_load_explicit(&faults[fault].err, memory_order_relaxed);
}

static void note(struct pio_io_file *f, const char *fmt, const char *what, int rc)
{
    size_t used = strlen(f->info.note);
    snprintf(f->info.note + used, sizeof(f->info.note) - used, fmt, used ? "; " : "", what,
             pio_strerror(rc));
    pio_telemetry_note("%s: %s", f->path, f->info.note + used + (used ? 2 : 0));
}

/* Can this process set up io_uring? 0, or the (negative) setup error. */
static int probe_uring(void)
{
    int injected = pio_io_fault_take(PIO_FAULT_URING_SETUP);
    if (injected)
        return injected;
    pio__ring *ring;
    int rc = pio__ring_init(&ring, 2);
    if (rc < 0)
        return rc;
    pio__ring_exit(ring);
    return 0;
}

int pio_io_open_direct(const char *path, int fd, int flags)
{
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    int d = open(self, flags | O_DIRECT | O_CLOEXEC);
    if (d >= 0)
        return d;
    if (errno != ENOENT && errno != ENOTDIR)
        return -errno;
    if ((d = open(path, flags | O_DIRECT | O_CLOEXEC)) < 0)
        return -errno;
    struct stat a, b;
    if (fstat(d, &a) != 0 || fstat(fd, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        close(d);
        return -ESTALE; /* the path names another file now */
    }
    return d;
}

int pio_io_file_init(struct pio_io_file *f, const char *path, int fd, uint64_t size,
                     const uint8_t *map, enum pio_io_engine requested, bool direct,
                     struct pio_error *err)
{
    memset(f, 0, sizeof(*f));
    f->path = path;
    f->fd = fd;
    f->dfd = -1;
    f->size = size;
    f->map = map;
    if (requested == PIO_IO_AUTO) {
        const char *env = getenv("PIO_IO_ENGINE");
        if (env && *env && pio_io_engine_parse(env, &requested) != 0)
            return pio_error_set(err, PIO_EUSAGE,
                                 "PIO_IO_ENGINE='%s' is not an engine (mmap, pread, uring)", env);
        if (requested == PIO_IO_AUTO)
            requested = PIO_IO_MMAP;
    }
    f->info.requested = requested;
    f->info.engine = requested;
    f->info.direct_requested = direct;
    if (requested == PIO_IO_MMAP && !map) {
        f->info.engine = PIO_IO_PREAD;
        note(f, "%s%s: %s; using pread", "mmap", -ENODEV);
    }
    if (requested == PIO_IO_URING) {
        int rc = probe_uring();
        if (rc != 0) {
            f->info.engine = PIO_IO_PREAD;
            if (rc == PIO_ENOTSUPPORTED) /* io_ring_none.c */
                note(f, "%s%s: built without liburing (%s); using pread", "io_uring", rc);
            else
                note(f, "%s%s setup failed (%s); using pread", "io_uring", rc);
        }
    }
    if (direct) {
        if (f->info.engine == PIO_IO_MMAP) {
            note(f, "%s%s cannot bypass the page cache (%s); buffered", "mmap", PIO_ENOTSUPPORTED);
        } else {
            int rc = pio_io_fault_take(PIO_FAULT_DIRECT_OPEN);
            if (rc == 0) {
                int d = pio_io_open_direct(path, fd, O_RDONLY);
                f->dfd = d >= 0 ? d : -1;
                rc = d < 0 ? d : 0;
            }
            if (rc != 0) {
                note(f, "%s%s refused (%s); buffered reads", "O_DIRECT", rc);
            } else {
                f->info.direct = true;
                f->info.direct_align = 4096; /* safe default */
#ifdef STATX_DIOALIGN
                struct statx sx;
                if (statx(f->dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
                    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align &&
                    sx.stx_dio_mem_align) {
                    uint32_t a = PIO_MAX(sx.stx_dio_offset_align, sx.stx_dio_mem_align);
                    f->info.direct_align = PIO_MAX(a, 64u);
                }
#endif
            }
        }
    }
    return 0;
}

void pio_io_file_close(struct pio_io_file *f)
{
    if (f->dfd >= 0)
        close(f->dfd);
    f->dfd = -1;
}

int pio_io_fsync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (dfd < 0)
        return -errno;
    int rc = fsync(dfd) == 0 ? 0 : -errno;
    close(dfd);
    return rc;
}

int pio_io_sync_dir_of(const char *path, struct pio_error *err)
{
    /* A directory this process may not read cannot be synced (no error, as
     * ever); a sync that fails is reported, and the output, complete, is
     * kept: the rename cannot be taken back (it may have replaced a file) */
    int rc = pio_io_fsync_dir(path);
    if (rc == 0 || rc == -EACCES || rc == -EPERM)
        return 0;
    return pio_error_set(err, rc,
                         "%s: written, but syncing its directory failed (%s): the rename may "
                         "not survive a crash",
                         path, strerror(-rc));
}

void pio_io_map_window(struct pio_io_window *w, const uint8_t *map, uint64_t size, uint64_t off,
                       uint64_t len)
{
    const uint64_t win = PIO_IO_MAP_WINDOW;
    uint64_t end = off + len;
    /* relaxed throughout, and a load and a store rather than an exchange
     * (no locked instruction on every frame view of every thread): the
     * marks only spare work, never guard data, so a lost update costs at
     * most a drop done later */
    uint64_t last = atomic_load_explicit(&w->last, memory_order_relaxed);
    atomic_store_explicit(&w->last, end, memory_order_relaxed);
    if (off < last || off > last + win / 4) { /* a new run of reads in order */
        atomic_store_explicit(&w->run, off, memory_order_relaxed);
        return;
    }
    if (!map || end > size)
        return;
    /* only pages this run went through: not another reader's, nor what
     * random reads before it made resident */
    uint64_t mark = atomic_load_explicit(&w->mark, memory_order_relaxed);
    uint64_t from = PIO_MAX(mark, atomic_load_explicit(&w->run, memory_order_relaxed));
    from = (from + 4095) & ~(uint64_t)4095;
    if (end < from + 2 * win)
        return;
    uint64_t to = (end - win) & ~(uint64_t)4095;
    /* one thread drops each range */
    if (atomic_compare_exchange_strong_explicit(&w->mark, &mark, to, memory_order_relaxed,
                                                memory_order_relaxed))
        madvise((void *)(map + from), (size_t)(to - from), MADV_DONTNEED);
}

PIO_API bool pio_path_is_remote(const char *path)
{
    return path && (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0 ||
                    strncmp(path, "s3://", 5) == 0);
}
