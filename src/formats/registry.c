/*
 * formats: the registry. Every format the library reads or writes is one
 * `struct pio__format` (formats_internal.h), defined in its own file and
 * listed once in `formats[]` below: name, extensions, magic (a probe of the
 * first bytes), capabilities, and the functions that open it as a pipeline
 * source or sink. pio_source_open and pio_sink_open only look formats up
 * here; the topology override (--top) wraps whatever source they open.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/formats_internal.h"
#include "formats/pio_formats.h"

#include "common/pio_common.h"

/* In the order of the "unknown format" messages. */
static const struct pio__format *const formats[] = {
    &pio__format_holo, &pio__format_xtc, &pio__format_trr, &pio__format_dcd,   &pio__format_ncdf,
    &pio__format_gro,  &pio__format_pdb, &pio__format_xyz, &pio__format_arrow,
};

static const struct pio__format *format_get(enum pio_format f)
{
    for (size_t i = 0; i < PIO_ARRAY_LEN(formats); i++)
        if (formats[i]->id == f)
            return formats[i];
    return NULL;
}

PIO_API const char *pio_format_name(enum pio_format f)
{
    const struct pio__format *d = format_get(f);
    return d ? d->name : "unknown";
}

PIO_API int pio_format_parse(const char *name, enum pio_format *out)
{
    if (!name)
        return PIO_EUSAGE;
    for (size_t i = 0; i < PIO_ARRAY_LEN(formats); i++)
        if (strcasecmp(name, formats[i]->name) == 0) {
            *out = formats[i]->id;
            return 0;
        }
    return PIO_EUSAGE;
}

/* Whether `ext` (".xtc") is one of the space-separated `list`. */
static bool ext_in(const char *list, const char *ext)
{
    size_t n = strlen(ext);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && strncasecmp(p, ext, n) == 0)
            return true;
        p += k;
        p += strspn(p, " ");
    }
    return false;
}

PIO_API enum pio_format pio_format_from_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return PIO_FORMAT_UNKNOWN;
    for (size_t i = 0; i < PIO_ARRAY_LEN(formats); i++)
        if (ext_in(formats[i]->extensions, dot))
            return formats[i]->id;
    return PIO_FORMAT_UNKNOWN;
}

PIO_API enum pio_format pio_format_probe(const void *head, size_t n)
{
    for (size_t i = 0; i < PIO_ARRAY_LEN(formats); i++)
        if (formats[i]->probe && formats[i]->probe(head, n))
            return formats[i]->id;
    return PIO_FORMAT_UNKNOWN;
}

PIO_API int pio_format_info(enum pio_format f, struct pio_format_info *out)
{
    const struct pio__format *d = format_get(f);
    /* an older, smaller struct gets the members it has */
    if (!d || !out || out->size < offsetof(struct pio_format_info, caps) + sizeof(out->caps))
        return PIO_EUSAGE;
    struct pio_format_info fi = {.size = (uint32_t)PIO_MIN((size_t)out->size, sizeof(fi)),
                                 .format = d->id,
                                 .name = d->name,
                                 .extensions = d->extensions,
                                 .caps = d->caps,
                                 .unavailable = d->unavailable};
    memcpy(out, &fi, PIO_MIN((size_t)out->size, sizeof(fi)));
    return 0;
}

/* "unknown input format (extensions: .holo .xtc ...)" */
static int unknown_format(const char *path, const char *what, struct pio_error *err)
{
    char list[128] = "";
    size_t at = 0;
    for (size_t i = 0; i < PIO_ARRAY_LEN(formats); i++) {
        const char *e = formats[i]->extensions;
        int k = (int)strcspn(e, " ");
        int w = snprintf(list + at, sizeof(list) - at, "%s%.*s", i ? " " : "", k, e);
        if (w < 0 || (size_t)w >= sizeof(list) - at)
            break;
        at += (size_t)w;
    }
    return pio_error_set(err, PIO_EUSAGE, "%s: unknown %s format (extensions: %s)", path, what,
                         list);
}

/* ---- topology override (--top) ------------------------------------------------------ */

struct top_src {
    struct pio_source inner;
    struct topo_build t;
    char *path;
};

static int ts_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    struct top_src *s = ctx;
    int rc = s->inner.info(s->inner.ctx, out, err);
    if (rc != 0)
        return rc;
    if (out->max_natoms != s->t.n)
        return pio_error_set(err, PIO_EUSAGE,
                             "%s has %llu atoms, the trajectory %llu: not its topology", s->path,
                             (unsigned long long)s->t.n, (unsigned long long)out->max_natoms);
    out->topology = &s->t.top;
    return 0;
}
static int ts_start(void *ctx, const uint64_t *f, uint64_t n, struct pio_error *err)
{
    struct top_src *s = ctx;
    return s->inner.start(s->inner.ctx, f, n, err);
}
static int ts_next_into(void *ctx, struct pio_frame *out, float *dst, uint64_t cap,
                        struct pio_error *err)
{
    struct top_src *s = ctx;
    int (*into)(void *, struct pio_frame *, float *, uint64_t, struct pio_error *) =
        pio__source_next_into(&s->inner);
    int rc = into ? into(s->inner.ctx, out, dst, cap, err) : s->inner.next(s->inner.ctx, out, err);
    if (rc == 1 && out->natoms != s->t.n) {
        s->inner.release(s->inner.ctx, out);
        return pio_error_set(err, PIO_EUSAGE, "frame %llu has %llu atoms, %s %llu",
                             (unsigned long long)out->index, (unsigned long long)out->natoms,
                             s->path, (unsigned long long)s->t.n);
    }
    return rc;
}
static int ts_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    return ts_next_into(ctx, out, NULL, 0, err);
}
static void ts_release(void *ctx, const struct pio_frame *f)
{
    struct top_src *s = ctx;
    s->inner.release(s->inner.ctx, f);
}
static void ts_destroy(void *ctx)
{
    struct top_src *s = ctx;
    pio_source_destroy(&s->inner);
    pio__topo_free(&s->t);
    free(s->path);
    free(s);
}

PIO_API int pio_source_open(struct pio_source *out, const char *path,
                            const struct pio_source_options *o, struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct pio_source_options opt = PIO_SOURCE_OPTIONS_INIT;
    if (o) { /* an older, smaller struct: the members it has */
        if (o->size < offsetof(struct pio_source_options, reader) + sizeof(o->reader))
            return pio_error_set(err, PIO_EUSAGE, "source options: size %u", o->size);
        memcpy(&opt, o, PIO_MIN((size_t)o->size, sizeof(opt)));
        opt.size = sizeof(opt);
    }
    const struct pio__format *d = format_get(opt.format ? opt.format : pio_format_from_path(path));
    if (!d || !d->open_source)
        return unknown_format(path, "input", err);
    return pio__source_finish(out, &opt, d->open_source(out, path, &opt, err), err);
}

int pio__source_finish(struct pio_source *out, const struct pio_source_options *o, int rc,
                       struct pio_error *err)
{
    struct pio_source_options opt = *o;
    if (rc == 0 && (opt.flags & PIO_SOURCE_STRICT)) {
        struct pio_source_info si;
        if (out->info(out->ctx, &si, NULL) == 0 && si.warning) {
            rc = pio_error_set(err, PIO_ETRUNCATED, "%s (refused: strict)", si.warning);
            pio_source_destroy(out);
        }
    }
    if (rc != 0 || !opt.topology)
        return rc;
    struct top_src *s = calloc(1, sizeof(*s));
    enum pio_format tf = pio_format_from_path(opt.topology);
    if (!s || !(s->path = strdup(opt.topology))) {
        free(s);
        pio_source_destroy(out);
        return pio_error_set(err, -ENOMEM, "out of memory");
    }
    if (tf != PIO_FORMAT_GRO && tf != PIO_FORMAT_PDB)
        rc = pio_error_set(err, PIO_EUSAGE, "%s: a topology comes from a .gro or .pdb file",
                           opt.topology);
    else
        rc = pio__structure_topology(opt.topology, tf, &s->t, err);
    if (rc != 0) {
        ts_destroy(s);
        pio_source_destroy(out);
        return rc;
    }
    s->inner = *out;
    *out = (struct pio_source){.size = sizeof(*out),
                               .name = s->inner.name,
                               .ctx = s,
                               .info = ts_info,
                               .start = ts_start,
                               .next = ts_next,
                               .release = ts_release,
                               .destroy = ts_destroy,
                               .next_into = pio__source_next_into(&s->inner) ? ts_next_into : NULL};
    return 0;
}

PIO_API int pio_sink_open(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                          struct pio_error *err)
{
    memset(out, 0, sizeof(*out));
    struct pio_sink_options opt = PIO_SINK_OPTIONS_INIT;
    if (o) {
        /* arrow_layout came later: older callers' smaller struct is fine */
        if (o->size < offsetof(struct pio_sink_options, arrow_layout))
            return pio_error_set(err, PIO_EUSAGE, "sink options: size %u", o->size);
        memcpy(&opt, o, PIO_MIN((size_t)o->size, sizeof(opt)));
        opt.size = sizeof(opt);
    }
    const struct pio__format *d = format_get(opt.format ? opt.format : pio_format_from_path(path));
    if (!d || !d->open_sink)
        return unknown_format(path, "output", err);
    if ((opt.flags & PIO_SINK_APPEND) &&
        (d->id != PIO_FORMAT_HOLO || (opt.flags & PIO_SINK_OVERWRITE) || pio_path_is_remote(path)))
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: frames are appended to a local .holo output, never replacing it",
                             path);
    if (pio_path_is_remote(path)) /* written here, uploaded at the end (upload.c) */
        return pio__upload_sink_open(out, path, d->open_sink, &opt, err);
    return d->open_sink(out, path, &opt, err);
}
