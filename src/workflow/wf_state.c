/*
 * The job's state file (JOB.state): an append-only log of lines, each
 * synced before the run goes on, rewritten whole (to a temporary name,
 * then renamed) at the end of a run. A line the run did not finish (a
 * kill) has no newline and is ignored; a later line overrides an earlier
 * one for the same task or file.
 *
 *   prismio-run-state 1
 *   T <step> <item> <key> <input id> <input size> <output stat|-> <peak RSS KiB>
 *   F <digest> <dev> <ino> <size> <mtime ns> <ctime ns> <path>
 *
 * (fields separated by tabs; keys and digests are BLAKE3, 64 hex digits;
 * an output stat is dev:ino:size:mtime_ns:ctime_ns). T says a task
 * completed under that key and made its output with that stat; F caches a
 * file's BLAKE3 under its stat, so a rerun hashes only files that changed. The file is locked
 * (flock) while a run uses it: two runs of one job do not interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wf.h"

#define MAGIC "prismio-run-state 1\n"

void wf_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool unhex(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++) {
        int c = s[i], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return false;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return true;
}

static bool num(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

static void stat_key(const struct stat *sb, struct wf_fstat *f)
{
    f->dev = (uint64_t)sb->st_dev;
    f->ino = (uint64_t)sb->st_ino;
    f->size = (uint64_t)sb->st_size;
    f->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    f->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
}

int wf_fstat_of(const char *path, struct wf_fstat *out)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -errno;
    stat_key(&sb, out);
    return 0;
}

bool wf_fstat_same(const struct wf_fstat *a, const struct wf_fstat *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static int fstat_text(const struct wf_fstat *f, char *out, size_t n)
{
    return snprintf(out, n, "%" PRIu64 ":%" PRIu64 ":%" PRIu64 ":%" PRId64 ":%" PRId64, f->dev,
                    f->ino, f->size, f->mtime_ns, f->ctime_ns);
}

static bool fstat_parse(const char *s, struct wf_fstat *f)
{
    unsigned long long d, i, z;
    long long m, c;
    int end = 0;
    if (sscanf(s, "%llu:%llu:%llu:%lld:%lld%n", &d, &i, &z, &m, &c, &end) != 5 || s[end])
        return false;
    *f = (struct wf_fstat){d, i, z, m, c};
    return true;
}

static struct wf_done *find_done(const struct wf_state *st, const char *step, const char *item)
{
    for (size_t i = 0; i < st->ndone; i++)
        if (strcmp(st->done[i].step, step) == 0 && strcmp(st->done[i].item, item) == 0)
            return &st->done[i];
    return NULL;
}

static struct wf_fcache *find_file(const struct wf_state *st, const char *path)
{
    for (size_t i = 0; i < st->nfiles; i++)
        if (strcmp(st->files[i].path, path) == 0)
            return &st->files[i];
    return NULL;
}

/* Into memory (no append): 0 or -ENOMEM. */
static int keep_done(struct wf_state *st, const struct wf_done *d)
{
    struct wf_done *o = find_done(st, d->step, d->item);
    if (!o) {
        if (st->ndone == st->capdone) {
            size_t cap = st->capdone ? st->capdone * 2 : 64;
            struct wf_done *n = realloc(st->done, cap * sizeof(*n));
            if (!n)
                return -ENOMEM;
            st->done = n;
            st->capdone = cap;
        }
        o = &st->done[st->ndone];
        memset(o, 0, sizeof(*o));
        if (!(o->step = strdup(d->step)) || !(o->item = strdup(d->item))) {
            free(o->step);
            return -ENOMEM;
        }
        st->ndone++;
    }
    char *step = o->step, *item = o->item;
    *o = *d;
    o->step = step;
    o->item = item;
    return 0;
}

static int keep_file(struct wf_state *st, const struct wf_fcache *f)
{
    struct wf_fcache *o = find_file(st, f->path);
    if (!o) {
        if (st->nfiles == st->capfiles) {
            size_t cap = st->capfiles ? st->capfiles * 2 : 64;
            struct wf_fcache *n = realloc(st->files, cap * sizeof(*n));
            if (!n)
                return -ENOMEM;
            st->files = n;
            st->capfiles = cap;
        }
        o = &st->files[st->nfiles];
        if (!(o->path = strdup(f->path)))
            return -ENOMEM;
        st->nfiles++;
    }
    char *path = o->path;
    *o = *f;
    o->path = path;
    return 0;
}

/* One line (without its newline), split at tabs in place. */
static void parse_line(struct wf_state *st, char *line)
{
    char *f[9];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, "\t", &save); t && n < 9;
         t = strtok_r(NULL, "\t", &save))
        f[n++] = t;
    int64_t a, b, c, d, e;
    if (n == 8 && strcmp(f[0], "T") == 0) {
        struct wf_done x = {.step = f[1], .item = f[2]};
        if (!unhex(f[3], x.key) || !unhex(f[4], x.in_id) || !num(f[5], &a) || !num(f[7], &b) ||
            !(strcmp(f[6], "-") == 0 || fstat_parse(f[6], &x.out)))
            return;
        x.in_size = (uint64_t)a;
        x.has_out = strcmp(f[6], "-") != 0;
        x.max_rss_kb = (long)b;
        keep_done(st, &x);
    } else if (n == 8 && strcmp(f[0], "F") == 0) {
        struct wf_fcache x = {.path = f[7]};
        if (!unhex(f[1], x.digest) || !num(f[2], &a) || !num(f[3], &b) || !num(f[4], &c) ||
            !num(f[5], &d) || !num(f[6], &e))
            return;
        x.st = (struct wf_fstat){(uint64_t)a, (uint64_t)b, (uint64_t)c, d, e};
        keep_file(st, &x);
    }
}

int wf_state_open(struct wf_state *st, const char *path, bool read_only, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    st->fd = -1;
    if (!(st->path = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        return EXIT_IOERR;
    }
    int fd = -1;
    /* the lock is on the file at the path: a run compacting the state
     * renames a new file over it, so a lock taken on the file it replaced
     * is no lock (take it again) */
    for (int tries = 0; tries < 100; tries++) {
        fd = open(path, read_only ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 && !(read_only && errno == ENOENT)) {
            snprintf(err, errlen, "%s: cannot open the job's state: %s", path, strerror(errno));
            return EXIT_IOERR;
        }
        if (fd < 0)
            return 0; /* a dry run of a job never run */
        if (flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
            snprintf(err, errlen, "%s: %s", path,
                     errno == EWOULDBLOCK ? "another prismio run is running this job"
                                          : strerror(errno));
            close(fd);
            return EXIT_IOERR;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: the state file keeps being replaced", path);
        return EXIT_IOERR;
    }
    struct stat sb;
    char *buf = NULL;
    if (fstat(fd, &sb) != 0 || !(buf = malloc((size_t)sb.st_size + 1))) {
        snprintf(err, errlen, "%s: cannot read the job's state", path);
        close(fd);
        free(buf);
        return EXIT_IOERR;
    }
    size_t got = 0;
    while (got < (size_t)sb.st_size) {
        ssize_t r = pread(fd, buf + got, (size_t)sb.st_size - got, (off_t)got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    if (got && strncmp(buf, MAGIC, strlen(MAGIC)) != 0) {
        snprintf(err, errlen, "%s: not a prismio run state file (remove it to start over)", path);
        close(fd);
        free(buf);
        return EXIT_DATAERR;
    }
    /* complete lines only: a run killed mid-append leaves a torn last one */
    for (char *p = buf + (got ? strlen(MAGIC) : 0), *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        parse_line(st, p);
    }
    free(buf);
    if (read_only) {
        close(fd);
        return 0;
    }
    st->fd = fd;
    if (got == 0 &&
        (pwrite(fd, MAGIC, strlen(MAGIC), 0) != (ssize_t)strlen(MAGIC) || fdatasync(fd) != 0)) {
        snprintf(err, errlen, "%s: cannot write the job's state: %s", path, strerror(errno));
        return EXIT_IOERR;
    }
    /* appends go after the last complete line */
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return EXIT_IOERR;
    }
    return 0;
}

static int append(struct wf_state *st, const char *line, size_t n)
{
    if (st->fd < 0)
        return 0;
    struct stat sb;
    if (fstat(st->fd, &sb) != 0)
        return -errno;
    /* a torn line from a killed run: start this one on a new line */
    char last = '\n';
    if (sb.st_size > 0 && pread(st->fd, &last, 1, sb.st_size - 1) != 1)
        return -EIO;
    if (last != '\n' && pwrite(st->fd, "\n", 1, sb.st_size) != 1)
        return -EIO;
    off_t at = sb.st_size + (last != '\n');
    if (pwrite(st->fd, line, n, at) != (ssize_t)n || fdatasync(st->fd) != 0) {
        st->dirty = true;
        return errno ? -errno : -EIO;
    }
    st->appended++;
    return 0;
}

static int done_line(const struct wf_done *d, char *line, size_t cap)
{
    char key[65], in[65], out[128];
    wf_hex(d->key, 32, key);
    wf_hex(d->in_id, 32, in);
    if (d->has_out)
        fstat_text(&d->out, out, sizeof(out));
    else
        strcpy(out, "-");
    return snprintf(line, cap, "T\t%s\t%s\t%s\t%s\t%" PRIu64 "\t%s\t%ld\n", d->step, d->item, key,
                    in, d->in_size, out, d->max_rss_kb);
}

int wf_state_record(struct wf_state *st, const struct wf_done *d)
{
    char line[8192];
    int n = done_line(d, line, sizeof(line));
    if (n < 0 || (size_t)n >= sizeof(line))
        return -ENAMETOOLONG;
    int rc = keep_done(st, d);
    return rc ? rc : append(st, line, (size_t)n);
}

static int file_line(const struct wf_fcache *f, char *line, size_t cap)
{
    char dg[65];
    wf_hex(f->digest, 32, dg);
    return snprintf(line, cap,
                    "F\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRId64 "\t%" PRId64 "\t%s\n",
                    dg, f->st.dev, f->st.ino, f->st.size, f->st.mtime_ns, f->st.ctime_ns, f->path);
}

const struct wf_done *wf_state_find(const struct wf_state *st, const char *step, const char *item)
{
    return find_done(st, step, item);
}

bool wf_file_cached(const struct wf_state *st, const char *path)
{
    struct stat sb;
    const struct wf_fcache *c = find_file(st, path);
    if (!c || stat(path, &sb) != 0)
        return false;
    struct wf_fstat now;
    stat_key(&sb, &now);
    return wf_fstat_same(&c->st, &now);
}

int wf_file_digest(struct wf_state *st, const char *path, uint8_t out[32], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    struct wf_fcache now = {.path = (char *)path};
    stat_key(&sb, &now.st);
    *size = now.st.size;
    const struct wf_fcache *c = find_file(st, path);
    if (c && wf_fstat_same(&c->st, &now.st)) {
        memcpy(out, c->digest, 32);
        close(fd);
        return 0;
    }
    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    int rc = pio_blake3_hasher_update_fd(&h, fd, 0, now.st.size, 0);
    /* changed while hashed: not cached (the next run hashes it again) */
    struct stat after;
    bool stable = rc == 0 && fstat(fd, &after) == 0;
    close(fd);
    if (rc != 0)
        return rc;
    pio_blake3_hasher_finalize(&h, out, 32);
    struct wf_fstat later;
    if (stable)
        stat_key(&after, &later);
    if (!stable || !wf_fstat_same(&now.st, &later))
        return 0;
    /* changed within the file system's timestamp granularity of the hash
     * (coarse clocks, network file systems): a rewrite of the same size in
     * that time would keep the stat, so such a digest is not cached */
    int64_t started = (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec;
    if (now.st.mtime_ns > started - 2000000000LL || now.st.ctime_ns > started - 2000000000LL)
        return 0;
    memcpy(now.digest, out, 32);
    if (keep_file(st, &now) != 0)
        return 0;
    char line[8192];
    int n = file_line(&now, line, sizeof(line));
    if (n > 0 && (size_t)n < sizeof(line) && !strpbrk(path, "\t\n"))
        append(st, line, (size_t)n);
    return 0;
}

int wf_file_prefix_digest(const char *path, uint64_t len, uint8_t out[32])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    int rc = pio_blake3_hasher_update_fd(&h, fd, 0, len, 0);
    close(fd);
    if (rc == 0)
        pio_blake3_hasher_finalize(&h, out, 32);
    return rc;
}

int wf_state_compact(struct wf_state *st)
{
    if (st->fd < 0 || st->appended == 0)
        return 0;
    char *tmp = malloc(strlen(st->path) + 8);
    if (!tmp)
        return -ENOMEM;
    sprintf(tmp, "%s.tmp", st->path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int e = -errno;
        free(tmp);
        return e;
    }
    fputs(MAGIC, f);
    char line[8192];
    for (size_t i = 0; i < st->ndone; i++) {
        int n = done_line(&st->done[i], line, sizeof(line));
        if (n > 0 && (size_t)n < sizeof(line))
            fputs(line, f);
    }
    /* the files still there */
    for (size_t i = 0; i < st->nfiles; i++) {
        struct stat sb;
        if (stat(st->files[i].path, &sb) != 0 || strpbrk(st->files[i].path, "\t\n"))
            continue;
        int n = file_line(&st->files[i], line, sizeof(line));
        if (n > 0 && (size_t)n < sizeof(line))
            fputs(line, f);
    }
    int rc = fflush(f) == 0 && fdatasync(fileno(f)) == 0 ? 0 : -EIO;
    if (fclose(f) != 0)
        rc = -EIO;
    /* the lock moves with the new file: take it before the rename */
    int nfd = rc == 0 ? open(tmp, O_RDWR | O_CLOEXEC) : -1;
    if (nfd >= 0 && flock(nfd, LOCK_EX | LOCK_NB) == 0 && rename(tmp, st->path) == 0) {
        close(st->fd);
        st->fd = nfd;
    } else {
        if (nfd >= 0)
            close(nfd);
        unlink(tmp);
        rc = rc ? rc : -EIO;
    }
    free(tmp);
    return rc;
}

void wf_state_close(struct wf_state *st)
{
    if (st->fd >= 0)
        close(st->fd);
    for (size_t i = 0; i < st->ndone; i++) {
        free(st->done[i].step);
        free(st->done[i].item);
    }
    free(st->done);
    for (size_t i = 0; i < st->nfiles; i++)
        free(st->files[i].path);
    free(st->files);
    free(st->path);
    memset(st, 0, sizeof(*st));
    st->fd = -1;
}
