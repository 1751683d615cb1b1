/*
 * format: internals shared by the HOLO writer, reader and recovery.
 */
#ifndef PIO_HOLO_INTERNAL_H
#define PIO_HOLO_INTERNAL_H

#include <stdatomic.h>
#include <sys/uio.h>

#include "format/holo_layout.h"
#include "io/pio_io.h"

struct pio_reader {
    atomic_uint refs; /* pio_reader_retain; freed by the last close */
    char *path;
    int fd;
    const uint8_t *map;
    uint64_t size;
    struct holo_header hdr;
    const struct holo_entry *entries; /* in the mapping, or `owned` */
    struct holo_entry *owned;
    uint64_t nframes;
    bool recovered;
    uint64_t data_end;
    bool has_meta;
    bool meta_damaged; /* the META record fails its checks: opened without it */
    uint64_t meta_off, meta_len;
    struct holo_meta_view meta;
    uint64_t index_off, index_len; /* final index (0 if recovered) */
    uint8_t digest[32];            /* final index digest, or the scan's */
    bool steps_sorted, times_sorted;
    struct holo_damage *damage; /* a recovered file's damaged ranges (scan) */
    uint64_t ndamage;
    _Atomic uint8_t *checked; /* PIO_READER_CHECK_FRAMES: frames hashed and found intact */
    struct pio_io_file io;    /* engine for streams and verification */
    /* Mappings a refresh replaced: kept until close, so views into them
     * (frames, topology) stay valid. */
    struct holo_old_map {
        const uint8_t *map;
        uint64_t size;
    } * old_maps;
    uint64_t nold_maps;
};

/* View of frame i from its record bytes (`avail` bytes at `rec`, read from
 * the entry's offset): record header, body, and agreement with the index. */
int pio__holo_frame_view(const pio_reader *r, uint64_t i, const uint8_t *rec, uint64_t avail,
                         struct pio_frame *out, struct pio_error *err);

/*
 * Build an INDEX record for `n` entries followed by its footer, into a
 * malloc'd buffer (*out, *out_len). `index_off` is where it will be written.
 */
int pio__holo_build_index(const struct holo_entry *entries, uint64_t n, uint64_t meta_off,
                          uint64_t meta_len, const uint8_t digest[32], const uint8_t salt[16],
                          uint64_t index_off, uint8_t **out, uint64_t *out_len);

/* pwritev until done (iov is consumed; short writes and EINTR retried):
 * 0 or -errno. The fault-injection point for torn writes. */
int pio__holo_pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t off);

/* Write all of buf at off (retrying short writes and EINTR): 0 or -errno. */
int pio__holo_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/* Recover `path` in place (holo_recover.c): *rewrite says whether
 * PIO_RECOVER_DROP_DAMAGED still has damaged frames to drop by a rewrite
 * (holo_rewrite.c). */
int pio__holo_recover_in_place(const char *path, uint32_t flags, struct pio_recover_report *report,
                               bool *rewrite, struct pio_error *err);

/* Check frame i's BLAKE3 (rec: its record's bytes): 0 or PIO_ECHECKSUM
 * naming the file, frame and offset. */
int pio__holo_frame_checksum(const pio_reader *r, uint64_t i, const uint8_t *rec,
                             struct pio_error *err);

#endif /* PIO_HOLO_INTERNAL_H */
