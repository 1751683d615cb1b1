/*
 * HOLO frame streams: frames read in bulk through the reader's engine
 * (io/io_ranges.c), each delivered as a view checked exactly like
 * pio_reader_frame's, into the mapping or into the stream's buffers.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "format/holo_internal.h"

#include "common/pio_common.h"
#include "telemetry/pio_telemetry.h"

struct pio_frame_stream {
    const pio_reader *r;
    uint64_t *frames;
    pio_io_ranges *io;
    bool verify;            /* PIO_STREAM_VERIFY */
    bool own_io;            /* an engine of its own (options' engine) */
    struct pio_io_file own; /* ... set up on the reader's descriptor */
};

PIO_API int pio_frame_stream_open(pio_frame_stream **out, const pio_reader *r,
                                  const uint64_t *frames, uint64_t n,
                                  const struct pio_stream_options *opts, struct pio_error *err)
{
    *out = NULL;
    if (!frames)
        n = r->nframes;
    pio_frame_stream *s = calloc(1, sizeof(*s));
    struct pio_io_range *ranges = malloc((size_t)PIO_MAX(n, 1) * sizeof(*ranges));
    if (s)
        s->frames = malloc((size_t)PIO_MAX(n, 1) * sizeof(*s->frames));
    if (!s || !ranges || !s->frames) {
        free(ranges);
        if (s)
            free(s->frames);
        free(s);
        return pio_error_set(err, -ENOMEM, "%s: out of memory for a stream of %llu frames", r->path,
                             (unsigned long long)n);
    }
    s->r = r;
    s->verify = r->checked != NULL; /* a PIO_READER_CHECK_FRAMES reader's streams check too */
    for (uint64_t k = 0; k < n; k++) {
        uint64_t i = frames ? frames[k] : k;
        if (i >= r->nframes) {
            free(ranges);
            free(s->frames);
            free(s);
            return pio_error_set(err, -ERANGE, "%s: frame %llu out of range (%llu frames)", r->path,
                                 (unsigned long long)i, (unsigned long long)r->nframes);
        }
        s->frames[k] = i;
        ranges[k] = (struct pio_io_range){r->entries[i].offset, r->entries[i].length};
    }
    struct pio_io_ranges_options ro = {.ordered = true};
    if (opts &&
        opts->size >= offsetof(struct pio_stream_options, max_bytes) + sizeof(opts->max_bytes)) {
        ro.ordered = !(opts->flags & PIO_STREAM_UNORDERED);
        s->verify = s->verify || (opts->flags & PIO_STREAM_VERIFY);
        ro.no_coalesce = opts->flags & PIO_STREAM_NO_COALESCE;
        ro.queue_depth = opts->queue_depth;
        ro.max_bytes = opts->max_bytes;
    }
    enum pio_io_engine engine = PIO_IO_AUTO;
    if (opts && opts->size >= offsetof(struct pio_stream_options, engine) + sizeof(opts->engine))
        engine = (enum pio_io_engine)opts->engine;
    int rc = 0;
    if (engine != PIO_IO_AUTO && engine != r->io.info.requested && engine != r->io.info.engine) {
        if ((int)engine < 0 || (int)engine >= PIO_IO_ENGINE_COUNT)
            rc = pio_error_set(err, PIO_EUSAGE, "%s: stream engine %u", r->path, opts->engine);
        else
            rc = pio_io_file_init(&s->own, r->path, r->fd, r->size, r->map, engine,
                                  r->io.info.direct_requested, err);
        s->own_io = rc == 0;
    }
    if (rc == 0)
        rc = pio_io_ranges_open(&s->io, s->own_io ? &s->own : &r->io, ranges, n, &ro, err);
    free(ranges);
    if (rc != 0) {
        if (s->own_io)
            pio_io_file_close(&s->own);
        free(s->frames);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int stream_next(pio_frame_stream *s, bool wait, struct pio_frame *out, struct pio_error *err)
{
    uint64_t k;
    const uint8_t *rec;
    int rc = pio_io_ranges_next(s->io, wait, &k, &rec, err);
    if (rc != 1)
        return rc;
    uint64_t i = s->frames[k];
    rc = pio__holo_frame_view(s->r, i, rec, s->r->entries[i].length, out, err);
    /* relaxed: the flag only saves rehashing (as in pio_reader_frame) */
    if (rc == 0 && s->verify &&
        !(s->r->checked && atomic_load_explicit(&s->r->checked[i], memory_order_relaxed))) {
        uint64_t t0 = pio_tm_start();
        rc = pio__holo_frame_checksum(s->r, i, rec, err);
        pio_tm_end(PIO_OP_HASH, 0, (uint64_t)s->r->fd, i, s->r->entries[i].length, t0, 0);
        if (rc == 0 && s->r->checked)
            atomic_store_explicit(&s->r->checked[i], 1, memory_order_relaxed);
    }
    if (rc != 0) {
        pio_io_ranges_release(s->io, rec);
        return rc;
    }
    return 1;
}

PIO_API int pio_frame_stream_next(pio_frame_stream *s, struct pio_frame *out, struct pio_error *err)
{
    return stream_next(s, true, out, err);
}

PIO_API int pio_frame_stream_poll(pio_frame_stream *s, struct pio_frame *out, struct pio_error *err)
{
    return stream_next(s, false, out, err);
}

PIO_API void pio_frame_stream_release(pio_frame_stream *s, const struct pio_frame *f)
{
    /* The record starts HOLO_FRAME_HDR bytes before its positions. */
    pio_io_ranges_release(s->io, (const uint8_t *)f->positions - HOLO_FRAME_HDR);
}

PIO_API int pio_frame_stream_io_info(const pio_frame_stream *s, struct pio_io_info *out)
{
    *out = *pio_io_ranges_info(s->io);
    return 0;
}

PIO_API void pio_frame_stream_close(pio_frame_stream *s)
{
    if (!s)
        return;
    pio_io_ranges_close(s->io);
    if (s->own_io)
        pio_io_file_close(&s->own);
    free(s->frames);
    free(s);
}
