/*
 * The wrappers of fault_wrap.h. The program is linked with
 * -Wl,--wrap=SYMBOL, so every reference to SYMBOL in its objects (the
 * library's included: it is linked statically) reaches __wrap_SYMBOL, and
 * __real_SYMBOL is the real one (under ASan, its interceptor). Calls libc
 * makes internally are not wrapped. Nothing in this file may call a
 * wrapped function by its plain name: it would come back here.
 *
 * Live blocks, mappings, descriptors and streams are kept in a small hash
 * table (linear probing, a spinlock: the library allocates from its own
 * threads too) with the caller's address and the epoch of the armed window
 * that made them, so a leak is reported by where it was allocated.
 */
#include "fault_wrap.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FW_SYMBOLIZE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FW_SYMBOLIZE 1
#endif
#endif
#ifdef FW_SYMBOLIZE
#include <sanitizer/common_interface_defs.h>
#endif

#define CALLER __builtin_return_address(0)

/* ---- the armed window ---- */

enum fw_kind { K_ALLOC = 1, K_IO = 2, K_WRITE = 4, K_READ = 8 };

/* Relaxed throughout: the test arms and disarms from its own thread while
 * no library call is running; the library's threads are started and
 * joined inside the window, which orders their counting with both ends. */
static _Atomic int fw_mode_now;
static _Atomic long fw_target, fw_count, fw_injected;
static _Atomic uint32_t fw_epoch;
static uint32_t fw_last_epoch, fw_epochs;
static const void *_Atomic fw_site_pc;
static const char *_Atomic fw_site_name;
static char fw_site_buf[256];

static int mode_kinds(int m)
{
    switch (m) {
    case FW_ALLOC:
        return K_ALLOC;
    case FW_IO_EIO:
        return K_IO | K_WRITE | K_READ;
    case FW_WRITE_SHORT:
    case FW_WRITE_FULL:
        return K_WRITE;
    case FW_READ_SHORT:
        return K_READ;
    default:
        return 0;
    }
}

/* 0: a normal call; 1: the Nth (fail or shorten it); 2: after the Nth in
 * FW_WRITE_FULL (ENOSPC). */
static int take(int kind, const char *name, const void *pc)
{
    int m = atomic_load_explicit(&fw_mode_now, memory_order_relaxed);
    if (!(mode_kinds(m) & kind))
        return 0;
    long c = atomic_fetch_add_explicit(&fw_count, 1, memory_order_relaxed) + 1;
    long t = atomic_load_explicit(&fw_target, memory_order_relaxed);
    if (c == t) {
        atomic_fetch_add_explicit(&fw_injected, 1, memory_order_relaxed);
        atomic_store_explicit(&fw_site_pc, pc, memory_order_relaxed);
        atomic_store_explicit(&fw_site_name, name, memory_order_relaxed);
        return 1;
    }
    if (m == FW_WRITE_FULL && c > t) {
        atomic_fetch_add_explicit(&fw_injected, 1, memory_order_relaxed);
        return 2;
    }
    return 0;
}

void fw_arm(enum fw_mode mode, long n)
{
    atomic_store_explicit(&fw_count, 0, memory_order_relaxed);
    atomic_store_explicit(&fw_injected, 0, memory_order_relaxed);
    atomic_store_explicit(&fw_target, n, memory_order_relaxed);
    atomic_store_explicit(&fw_site_pc, NULL, memory_order_relaxed);
    atomic_store_explicit(&fw_site_name, "", memory_order_relaxed);
    fw_last_epoch = ++fw_epochs;
    atomic_store_explicit(&fw_epoch, fw_last_epoch, memory_order_relaxed);
    atomic_store_explicit(&fw_mode_now, mode, memory_order_relaxed);
}

long fw_disarm(void)
{
    atomic_store_explicit(&fw_mode_now, FW_OFF, memory_order_relaxed);
    atomic_store_explicit(&fw_epoch, 0, memory_order_relaxed);
    return atomic_load_explicit(&fw_injected, memory_order_relaxed);
}

long fw_calls(void)
{
    return atomic_load_explicit(&fw_count, memory_order_relaxed);
}

void fw_symbolize(const void *pc, char *out, size_t size)
{
    if (!pc) {
        snprintf(out, size, "?");
        return;
    }
#ifdef FW_SYMBOLIZE
    /* a return address: the call is the instruction before it */
    __sanitizer_symbolize_pc((void *)((const char *)pc - 1), "%f %S", out, size);
#else
    /* the module and offset, for addr2line -e MODULE OFFSET */
    Dl_info di;
    if (dladdr(pc, &di) && di.dli_fname)
        snprintf(out, size, "%s+0x%lx", di.dli_fname,
                 (unsigned long)((const char *)pc - 1 - (const char *)di.dli_fbase));
    else
        snprintf(out, size, "%p", pc);
#endif
}

const char *fw_site_call(void)
{
    const char *n = atomic_load_explicit(&fw_site_name, memory_order_relaxed);
    return n ? n : "";
}

const char *fw_site(void)
{
    const void *pc = atomic_load_explicit(&fw_site_pc, memory_order_relaxed);
    if (!pc)
        return "";
    fw_symbolize(pc, fw_site_buf, sizeof(fw_site_buf));
    return fw_site_buf;
}

/* ---- what is live ---- */

enum fw_what { W_HEAP, W_MAP, W_FD, W_FILE };
static const char *const what_names[] = {"heap block", "mapping", "descriptor", "FILE stream"};

struct slot {
    uintptr_t key; /* 0: empty */
    const void *pc;
    uint64_t size;
    uint32_t epoch;
    uint32_t what;
};

#define NSLOTS (1u << 16)
static struct slot slots[NSLOTS];
static atomic_flag lock = ATOMIC_FLAG_INIT;
static bool overflow;

static uintptr_t fd_key(int fd)
{
    return ((uintptr_t)1 << 62) | (uintptr_t)(unsigned)fd;
}

static uint32_t slot_of(uintptr_t key)
{
    return (uint32_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 48) & (NSLOTS - 1);
}

static void lock_take(void)
{
    /* acquire/release: the table is only touched under the lock */
    while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
        ;
}

static void lock_drop(void)
{
    atomic_flag_clear_explicit(&lock, memory_order_release);
}

static void track(uintptr_t key, enum fw_what what, uint64_t size, const void *pc)
{
    if (!key)
        return;
    uint32_t epoch = atomic_load_explicit(&fw_epoch, memory_order_relaxed);
    lock_take();
    uint32_t i = slot_of(key), n = 0;
    while (slots[i].key && slots[i].key != key && n++ < NSLOTS)
        i = (i + 1) & (NSLOTS - 1);
    if (n >= NSLOTS)
        overflow = true;
    else
        slots[i] = (struct slot){key, pc, size, epoch, what};
    lock_drop();
}

static void untrack(uintptr_t key)
{
    if (!key)
        return;
    lock_take();
    uint32_t i = slot_of(key), n = 0;
    while (slots[i].key && slots[i].key != key && n++ < NSLOTS)
        i = (i + 1) & (NSLOTS - 1);
    if (slots[i].key == key) {
        /* backward-shift deletion keeps every probe chain unbroken */
        slots[i].key = 0;
        for (uint32_t j = (i + 1) & (NSLOTS - 1); slots[j].key; j = (j + 1) & (NSLOTS - 1)) {
            uint32_t h = slot_of(slots[j].key);
            /* slot j may move to the hole at i if its home is not in (i, j] */
            bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
            if (!stays) {
                slots[i] = slots[j];
                slots[j].key = 0;
                i = j;
            }
        }
    }
    lock_drop();
}

long fw_leaks(const char *what, long n)
{
    long count = 0;
    lock_take();
    struct slot found[16];
    int nf = 0;
    for (uint32_t i = 0; i < NSLOTS; i++)
        if (slots[i].key && slots[i].epoch == fw_last_epoch) {
            if (nf < 16)
                found[nf++] = slots[i];
            count++;
        }
    bool ov = overflow;
    lock_drop();
    for (int k = 0; k < nf; k++) {
        char where[256];
        fw_symbolize(found[k].pc, where, sizeof(where));
        fprintf(stderr, "%s, failure %ld: leaked a %s (%llu bytes) made at %s\n", what, n,
                what_names[found[k].what], (unsigned long long)found[k].size, where);
    }
    if (ov)
        fprintf(stderr, "fault_wrap: tracking table full, leak counts incomplete\n");
    return count;
}

/* ---- allocations ---- */

void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void __real_free(void *);
void *__real_aligned_alloc(size_t, size_t);
int __real_posix_memalign(void **, size_t, size_t);
char *__real_strdup(const char *);
char *__real_strndup(const char *, size_t);
char *__real_realpath(const char *, char *);
FILE *__real_fdopen(int, const char *);
FILE *__real_fopen(const char *, const char *);
void *__real_mmap(void *, size_t, int, int, int, off_t);
int __real_munmap(void *, size_t);
void *__real_mremap(void *, size_t, size_t, int, ...);
int __real_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
void *__wrap_aligned_alloc(size_t a, size_t n);
int __wrap_posix_memalign(void **out, size_t a, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
char *__wrap_realpath(const char *path, char *resolved);
FILE *__wrap_fdopen(int fd, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *addr, size_t len);
void *__wrap_mremap(void *old, size_t old_len, size_t len, int flags, ...);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

static void *heap(void *p, uint64_t size, const void *pc)
{
    track((uintptr_t)p, W_HEAP, size, pc);
    return p;
}

void *__wrap_malloc(size_t n)
{
    if (take(K_ALLOC, "malloc", CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return heap(__real_malloc(n), n, CALLER);
}

void *__wrap_calloc(size_t k, size_t n)
{
    if (take(K_ALLOC, "calloc", CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return heap(__real_calloc(k, n), (uint64_t)k * n, CALLER);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (take(K_ALLOC, "realloc", CALLER)) {
        errno = ENOMEM;
        return NULL; /* p untouched, as a real failure leaves it */
    }
    void *q = __real_realloc(p, n);
    if (q || n == 0) /* realloc(p, 0) may free p and return NULL */
        untrack((uintptr_t)p);
    return heap(q, n, CALLER);
}

void __wrap_free(void *p)
{
    untrack((uintptr_t)p);
    __real_free(p);
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
    if (take(K_ALLOC, "aligned_alloc", CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return heap(__real_aligned_alloc(a, n), n, CALLER);
}

int __wrap_posix_memalign(void **out, size_t a, size_t n)
{
    if (take(K_ALLOC, "posix_memalign", CALLER))
        return ENOMEM;
    int rc = __real_posix_memalign(out, a, n);
    if (rc == 0)
        heap(*out, n, CALLER);
    return rc;
}

char *__wrap_strdup(const char *s)
{
    if (take(K_ALLOC, "strdup", CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return heap(__real_strdup(s), strlen(s) + 1, CALLER);
}

char *__wrap_strndup(const char *s, size_t n)
{
    if (take(K_ALLOC, "strndup", CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return heap(__real_strndup(s, n), strnlen(s, n) + 1, CALLER);
}

char *__wrap_realpath(const char *path, char *resolved)
{
    if (resolved)
        return __real_realpath(path, resolved);
    if (take(K_ALLOC, "realpath", CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    char *r = __real_realpath(path, NULL);
    return r ? heap(r, strlen(r) + 1, CALLER) : NULL;
}

FILE *__wrap_fdopen(int fd, const char *mode)
{
    if (take(K_ALLOC, "fdopen", CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    FILE *f = __real_fdopen(fd, mode);
    if (f) { /* the stream owns the descriptor now */
        untrack(fd_key(fd));
        track((uintptr_t)f, W_FILE, 0, CALLER);
    }
    return f;
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
    if (take(K_ALLOC, "fopen", CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    FILE *f = __real_fopen(path, mode);
    if (f)
        track((uintptr_t)f, W_FILE, 0, CALLER);
    return f;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (take(K_ALLOC, "mmap", CALLER)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED)
        track((uintptr_t)p, W_MAP, len, CALLER);
    return p;
}

int __wrap_munmap(void *addr, size_t len)
{
    untrack((uintptr_t)addr);
    return __real_munmap(addr, len);
}

void *__wrap_mremap(void *old, size_t old_len, size_t len, int flags, ...)
{
    void *fixed = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        fixed = va_arg(ap, void *);
        va_end(ap);
    }
    if (take(K_ALLOC, "mremap", CALLER)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *p = __real_mremap(old, old_len, len, flags, fixed);
    if (p != MAP_FAILED) {
        untrack((uintptr_t)old);
        track((uintptr_t)p, W_MAP, len, CALLER);
    }
    return p;
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (take(K_ALLOC, "pthread_create", CALLER))
        return EAGAIN;
    return __real_pthread_create(t, attr, fn, arg);
}

/* ---- I/O ---- */

int __real_open(const char *, int, ...);
int __real_close(int);
int __real_fstat(int, struct stat *);
ssize_t __real_pread(int, void *, size_t, off_t);
ssize_t __real_pwrite(int, const void *, size_t, off_t);
ssize_t __real_pwritev(int, const struct iovec *, int, off_t);
ssize_t __real_write(int, const void *, size_t);
int __real_fsync(int);
int __real_fdatasync(int);
int __real_ftruncate(int, off_t);
int __real_rename(const char *, const char *);
int __real_unlink(const char *);
int __real_sync_file_range(int, off_t, off_t, unsigned int);
size_t __real_fwrite(const void *, size_t, size_t, FILE *);
int __real_fflush(FILE *);
int __real_fclose(FILE *);

int __wrap_open(const char *path, int flags, ...);
int __wrap_close(int fd);
int __wrap_fstat(int fd, struct stat *st);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int cnt, off_t off);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_fsync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_rename(const char *from, const char *to);
int __wrap_unlink(const char *path);
int __wrap_sync_file_range(int fd, off_t off, off_t n, unsigned int flags);
size_t __wrap_fwrite(const void *p, size_t size, size_t n, FILE *f);
int __wrap_fflush(FILE *f);
int __wrap_fclose(FILE *f);

static int fail(int e)
{
    errno = e;
    return -1;
}

/* A stream's error flag, as a failed write sets it (glibc's FILE). */
static void stream_error(FILE *f)
{
    f->_flags |= _IO_ERR_SEEN;
}

int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (take(K_IO, "open", CALLER))
        return fail(EIO);
    int fd = __real_open(path, flags, mode);
    if (fd >= 0)
        track(fd_key(fd), W_FD, 0, CALLER);
    return fd;
}

int __wrap_close(int fd)
{
    /* Linux releases the descriptor even when close reports an error */
    untrack(fd_key(fd));
    int rc = __real_close(fd);
    if (take(K_IO, "close", CALLER))
        return fail(EIO);
    return rc;
}

int __wrap_fstat(int fd, struct stat *st)
{
    if (take(K_IO, "fstat", CALLER))
        return fail(EIO);
    return __real_fstat(fd, st);
}

/* Half of n, as the kernel could cut it: on an O_DIRECT descriptor in
 * whole 4 KiB blocks (what follows must stay aligned), else in bytes; n
 * when it cannot be cut. */
static size_t half(int fd, size_t n)
{
    if (fcntl(fd, F_GETFL) & O_DIRECT) {
        size_t blocks = n / 2 / 4096 * 4096;
        return blocks ? blocks : n;
    }
    return n >= 2 ? n / 2 : n;
}

ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
    switch (take(K_READ, "pread", CALLER)) {
    case 0:
        break;
    default:
        if (atomic_load_explicit(&fw_mode_now, memory_order_relaxed) == FW_IO_EIO)
            return fail(EIO);
        n = half(fd, n);
    }
    return __real_pread(fd, buf, n, off);
}

/* A write's fate: 0 to write *n bytes (*n may be cut to *short_n), or
 * -1 and errno. */
static int write_fault(size_t *n, size_t short_n, const char *name, const void *pc)
{
    int t = take(K_WRITE, name, pc);
    if (t == 0)
        return 0;
    if (t == 2)
        return fail(ENOSPC);
    if (atomic_load_explicit(&fw_mode_now, memory_order_relaxed) == FW_IO_EIO)
        return fail(EIO);
    *n = short_n;
    return 0;
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (write_fault(&n, half(fd, n), "pwrite", CALLER))
        return -1;
    return __real_pwrite(fd, buf, n, off);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (write_fault(&n, n >= 2 ? n / 2 : n, "write", CALLER))
        return -1;
    return __real_write(fd, buf, n);
}

ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    size_t n = total;
    if (write_fault(&n, half(fd, total), "pwritev", CALLER))
        return -1;
    if (n == total)
        return __real_pwritev(fd, iov, cnt, off);
    /* shortened: the first n bytes of the vector */
    struct iovec part[64];
    int k = 0;
    for (size_t left = n; k < cnt && k < 64 && left; k++) {
        part[k] = iov[k];
        if (part[k].iov_len > left)
            part[k].iov_len = left;
        left -= part[k].iov_len;
    }
    return __real_pwritev(fd, part, k, off);
}

int __wrap_fsync(int fd)
{
    if (take(K_IO, "fsync", CALLER))
        return fail(EIO);
    return __real_fsync(fd);
}

int __wrap_fdatasync(int fd)
{
    if (take(K_IO, "fdatasync", CALLER))
        return fail(EIO);
    return __real_fdatasync(fd);
}

int __wrap_ftruncate(int fd, off_t len)
{
    if (take(K_IO, "ftruncate", CALLER))
        return fail(EIO);
    return __real_ftruncate(fd, len);
}

int __wrap_rename(const char *from, const char *to)
{
    if (take(K_IO, "rename", CALLER))
        return fail(EIO);
    return __real_rename(from, to);
}

int __wrap_unlink(const char *path)
{
    if (take(K_IO, "unlink", CALLER))
        return fail(EIO);
    return __real_unlink(path);
}

int __wrap_sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
    if (take(K_IO, "sync_file_range", CALLER))
        return fail(EIO);
    return __real_sync_file_range(fd, off, n, flags);
}

size_t __wrap_fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    size_t bytes = size * n, want = bytes;
    if (write_fault(&bytes, bytes >= 2 ? bytes / 2 : bytes, "fwrite", CALLER)) {
        stream_error(f);
        return 0;
    }
    if (bytes == want || size == 0)
        return __real_fwrite(p, size, n, f);
    /* a short fwrite is a failed one: what fits, the error flag, and the
     * errno of the write(2) that stopped it (a full disk) */
    size_t got = __real_fwrite(p, size, bytes / size, f);
    stream_error(f);
    errno = ENOSPC;
    return got;
}

int __wrap_fflush(FILE *f)
{
    if (f && take(K_IO, "fflush", CALLER)) {
        stream_error(f);
        errno = EIO;
        return EOF;
    }
    return __real_fflush(f);
}

int __wrap_fclose(FILE *f)
{
    untrack((uintptr_t)f);
    int rc = __real_fclose(f); /* the stream is gone either way */
    if (take(K_IO, "fclose", CALLER)) {
        errno = EIO;
        return EOF;
    }
    return rc;
}
