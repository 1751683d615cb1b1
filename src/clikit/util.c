/* clikit: small helpers shared by the CLI commands and benchmarks. */
#include <math.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clikit.h"

struct cli_globals cli_globals;

void cli_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "prismio %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

bool cli_parse_u64(const char *s, uint64_t *out, bool allow_suffix)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (p == s)
        return false;
    if (*p && allow_suffix) {
        unsigned shift = 0;
        switch (*p) {
        case 'k':
        case 'K':
            shift = 10;
            break;
        case 'M':
            shift = 20;
            break;
        case 'G':
            shift = 30;
            break;
        default:
            return false;
        }
        if (p[1] != '\0' || v > (UINT64_MAX >> shift))
            return false;
        v <<= shift;
        p++;
    }
    if (*p)
        return false;
    *out = v;
    return true;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A heap buffer, not a thread-local one: a 1 MiB _Thread_local made every
 * thread the process starts (pipeline workers, decoders, hash pool) zero
 * and fault in 1 MiB of TLS it never used. */
static int hash_fd_read(int fd, pio_blake3_hasher *h, unsigned threads)
{
    enum { BUF = 1 << 20 };
    uint8_t *buf = malloc(BUF);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        pio_blake3_hasher_update_mt(h, buf, (size_t)n, threads);
    }
    free(buf);
    return rc;
}

int cli_hash_path(const char *path, pio_blake3_hasher *h, unsigned threads, bool no_mmap)
{
    if (strcmp(path, "-") == 0)
        return hash_fd_read(STDIN_FILENO, h, threads);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out_close;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        goto out_close;
    }
    if (S_ISREG(st.st_mode) && !no_mmap) {
        /* Regular files: parallel pread (faster than mmap: see blake3_file.c). */
        rc = pio_blake3_hasher_update_fd(h, fd, 0, (uint64_t)st.st_size, threads);
        goto out_close;
    }
    rc = hash_fd_read(fd, h, threads);
out_close:
    close(fd);
    return rc;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

void cli_json_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

/* Copy s to out (room for twice its length) with the non-finite numbers
 * printf makes ("inf", "-inf", "nan", "-nan") outside strings written as
 * null. (Not in place: "nan" is shorter than "null", and an in-place
 * rewrite overwrote what it had still to read.) */
static void json_null_nonfinite(const char *s, char *out)
{
    bool in_str = false;
    for (const char *p = s; *p;) {
        if (in_str) {
            if (*p == '\\' && p[1]) {
                *out++ = *p++;
            } else if (*p == '"') {
                in_str = false;
            }
            *out++ = *p++;
            continue;
        }
        if (*p == '"') {
            in_str = true;
            *out++ = *p++;
            continue;
        }
        const char *q = p + (*p == '-');
        size_t n = strncmp(q, "inf", 3) == 0 || strncmp(q, "nan", 3) == 0 ? 3 : 0;
        if (n && (q[3] == 'i' || q[3] == 'I')) /* "infinity" */
            n = strncmp(q, "infinity", 8) == 0 ? 8 : n;
        if (n && !(q[n] >= 'a' && q[n] <= 'z')) {
            memcpy(out, "null", 4);
            out += 4;
            p = q + n;
            continue;
        }
        *out++ = *p++;
    }
    *out = '\0';
}

void cli_json_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *buf = NULL;
    int n = vasprintf(&buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *out = malloc((size_t)n * 2 + 1);
    if (out) {
        json_null_nonfinite(buf, out);
        fputs(out, stdout);
    }
    free(out);
    free(buf);
}

int cli_exit_code(int rc)
{
    switch (rc) {
    case 0:
        return EXIT_OK;
    case PIO_ECHECKSUM:
        return EXIT_INTEGRITY;
    case PIO_ECORRUPT:
    case PIO_EFORMAT:
    case PIO_ETRUNCATED:
    case PIO_EVERSION:
    case PIO_ELIMIT:
        return EXIT_DATAERR;
    case PIO_EUSAGE:
        return EXIT_USAGE;
    case PIO_ENOTSUPPORTED:
        return EXIT_UNAVAILABLE;
    case -ENOENT:
    case -EACCES:
    case -ENOTDIR:
        return EXIT_NOINPUT;
    default:
        return EXIT_IOERR;
    }
}

int cli_fail(const char *cmd, int rc, const struct pio_error *e)
{
    if (e && e->message[0])
        cli_err(cmd, "%s", e->message);
    else
        cli_err(cmd, "%s", pio_strerror(rc));
    return cli_exit_code(rc);
}

int cli_follow_timeout(const char *cmd, double seconds, uint32_t *ms)
{
    if (!(seconds >= 0) || seconds > 86400.0 * 30) {
        cli_err(cmd, "--timeout %g: 0 to 30 days of seconds", seconds);
        return EXIT_USAGE;
    }
    *ms = (uint32_t)(seconds * 1000.0 + 0.5);
    if (seconds > 0 && *ms == 0)
        *ms = 1;
    return EXIT_OK;
}

void cli_fmt_duration(char *buf, size_t n, double s)
{
    if (s < 0 || s > 359999)
        snprintf(buf, n, "--:--");
    else if (s >= 3600)
        snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

int cli_self_path(const char *cmd, char *buf, size_t n)
{
    ssize_t sl = readlink("/proc/self/exe", buf, n - 1);
    if (sl <= 0 || (size_t)sl >= n - 1) {
        cli_err(cmd, "cannot find this program's path (/proc/self/exe): %s",
                sl < 0 ? strerror(errno) : "too long");
        return -1;
    }
    buf[sl] = '\0';
    return 0;
}

int cli_rename_durable(const char *tmp, const char *dst)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = -errno;
    if (rc != 0)
        return rc;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", dst);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int dfd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
