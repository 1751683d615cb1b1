/*
 * formats: outputs to S3 (s3://BUCKET/KEY). The format's own sink writes
 * a local file in a private temporary directory (under TMPDIR); when the
 * conversion ends well the file is uploaded by S3 multipart upload
 * (io_remote.c), so the object appears only complete, and the local copy
 * is removed either way. Memory stays bounded (4 parts of 16 MiB in flight); the
 * disk holds the output once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats_internal.h"
#include "io/pio_io.h"

#include "common/pio_common.h"

struct upload {
    struct pio_sink inner;
    char *url;
    char dir[PATH_MAX / 2], path[PATH_MAX];
};

static int up_begin(void *ctx, const struct pio_source_info *info, struct pio_error *err)
{
    struct upload *u = ctx;
    return u->inner.begin ? u->inner.begin(u->inner.ctx, info, err) : 0;
}

static int up_write(void *ctx, const struct pio_batch *b, struct pio_error *err)
{
    struct upload *u = ctx;
    return u->inner.write(u->inner.ctx, b, err);
}

static int up_end(void *ctx, bool ok, struct pio_error *err)
{
    struct upload *u = ctx;
    int rc = u->inner.end ? u->inner.end(u->inner.ctx, ok, err) : 0;
    if (!ok || rc != 0)
        return rc;
    int fd = open(u->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = -errno;
        if (fd >= 0)
            close(fd);
        return pio_error_set(err, rc, "%s: the output to upload (%s): %s", u->url, u->path,
                             pio_strerror(rc));
    }
    rc = pio__remote_upload(u->url, fd, (uint64_t)st.st_size, err);
    close(fd);
    return rc;
}

static void up_destroy(void *ctx)
{
    struct upload *u = ctx;
    pio_sink_destroy(&u->inner);
    /* the format's sink may leave PATH or PATH.part behind on failure */
    char part[PATH_MAX + 8];
    snprintf(part, sizeof(part), "%s.part", u->path);
    unlink(u->path);
    unlink(part);
    rmdir(u->dir);
    free(u->url);
    free(u);
}

int pio__upload_sink_open(struct pio_sink *out, const char *url,
                          int (*open_sink)(struct pio_sink *, const char *,
                                           const struct pio_sink_options *, struct pio_error *),
                          const struct pio_sink_options *o, struct pio_error *err)
{
    if (strncmp(url, "s3://", 5) != 0)
        return pio_error_set(err, PIO_ENOTSUPPORTED,
                             "%s: writing over HTTP is not supported: write to S3 "
                             "(s3://BUCKET/KEY) or a local file",
                             url);
    if (!pio_remote_built())
        return pio__remote_upload(url, -1, 0, err); /* (its message: no libcurl) */
    struct upload *u = calloc(1, sizeof(*u));
    if (!u || !(u->url = strdup(url))) {
        free(u);
        return pio_error_set(err, -ENOMEM, "%s: out of memory", url);
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(u->dir, sizeof(u->dir), "%s/prismio-upload-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(u->dir)) {
        int rc = -errno;
        pio_error_set(err, rc, "%s: a temporary directory for the upload (%s): %s", url, u->dir,
                      pio_strerror(rc));
        free(u->url);
        free(u);
        return rc;
    }
    const char *base = strrchr(url, '/');
    int n = snprintf(u->path, sizeof(u->path), "%s/%.*s", u->dir, (int)(sizeof(u->path) / 2 - 8),
                     base && base[1] ? base + 1 : "out");
    (void)n; /* (fits: the name is cut to half of PATH_MAX) */
    int rc = open_sink(&u->inner, u->path, o, err);
    if (rc != 0) {
        rmdir(u->dir);
        free(u->url);
        free(u);
        return rc;
    }
    *out = (struct pio_sink)PIO_SINK_INIT;
    out->name = u->inner.name;
    out->ctx = u;
    out->precision = u->inner.precision;
    out->length_unit = u->inner.length_unit;
    out->begin = up_begin;
    out->write = up_write;
    out->end = up_end;
    out->destroy = up_destroy;
    return 0;
}
