/*
 * format: internals shared by the HOLO writer, reader and recovery.
 */
#ifndef PIO_HOLO_INTERNAL_H
#define PIO_HOLO_INTERNAL_H

#include <stdatomic.h>
#include <sys/uio.h>

#include "codec/pio_codec.h"
#include "format/holo_layout.h"
#include "io/pio_io.h"

struct pio_reader {
    atomic_uint refs; /* pio_reader_retain; freed by the last close */
    char *path;
    int fd;
    const uint8_t *map;
    uint64_t size;
    uint64_t map_len; /* address space reserved at map: the file grows into it */
    struct holo_header hdr;
    const struct holo_entry *entries; /* in the mapping, or `owned` */
    struct holo_entry *owned;
    uint64_t nframes;
    bool recovered;
    bool serial_decode; /* PIO_READER_SERIAL_DECODE */
    uint64_t uid;       /* this reader, never reused in the process (block caches) */
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
    _Atomic uint8_t *checked;  /* PIO_READER_CHECK_FRAMES: frames hashed and found intact */
    struct pio_io_window *win; /* frames read in order: pages behind dropped */
    struct pio_io_file io;     /* engine for streams and verification */
    /* 2.0 (committed): no entries array; frames are found through the
     * newest commit `tip`, its chain of back links and its FULL INDEX,
     * each piece hashed the first time a lookup reaches it. */
    bool v2;
    bool final; /* the newest commit is a writer's close */
    struct holo_commit tip;
    struct holo_full full;      /* full.off 0: none */
    _Atomic uint8_t *page_ok;   /* per page of `full`: hashed and intact */
    _Atomic uint64_t *chain_ok; /* per chain number: offset + 1 of a COMMIT found intact */
    /* every entry, gathered on first need (find_step, info, ...) */
    struct holo_entry *_Atomic all;
    _Atomic int all_sorted; /* 0 unknown, else 1 | 2 steps sorted | 4 times sorted */
    int ino; /* pio_reader_wait: inotify watching the file (-1: none yet or polling) */
    bool ino_tried;
    /* Mappings a refresh replaced: kept until close, so views into them
     * (frames, topology) stay valid. */
    struct holo_old_map {
        const uint8_t *map;
        uint64_t size; /* its reservation */
    } * old_maps;
    uint64_t nold_maps;
    struct holo_remote *remote; /* a URL (holo_remote.c): map is anonymous, filled on need */
};

/* ---- remote files (holo_remote.c); every call is a no-op on a local file ---- */
struct holo_span;
struct pio_remote;
/* Open r->path as a remote object: r->size, r->map (anonymous memory with
 * what opening parses fetched into it), r->remote. */
int pio__holo_remote_open(pio_reader *r, struct pio_error *err);
void pio__holo_remote_close(pio_reader *r);
/* Fetch [off, off + len) of a remote file into r->map for good (index
 * records, META): 0 or the request's error. */
int pio__holo_need(const pio_reader *r, uint64_t off, uint64_t len, struct pio_error *err);
int pio__holo_need_many(const pio_reader *r, unsigned n, const uint64_t *off, const uint64_t *len,
                        struct pio_error *err);
/* The same for the whole record at off (its length from its header). */
int pio__holo_need_record(const pio_reader *r, uint64_t off, struct pio_error *err);
/* A walk over every record (verify, info): its bytes fetched with
 * read-ahead when `ahead`, and given back once passed. */
void pio__holo_walk_begin(const pio_reader *r);
int pio__holo_walk_need(const pio_reader *r, uint64_t off, uint64_t len, bool ahead,
                        struct pio_error *err);
void pio__holo_walk_end(const pio_reader *r);
/* [off, off + len) of a remote file from the span cache (read if missing),
 * valid until pio__holo_span_put(*pin): the bytes, or NULL with err set. */
const uint8_t *pio__holo_span_get(const pio_reader *r, uint64_t off, uint64_t len,
                                  struct holo_span **pin, struct pio_error *err);
void pio__holo_span_put(const pio_reader *r, struct holo_span *pin);
struct pio_remote *pio__holo_remote_object(const pio_reader *r);

/* Frame i's index entry (i < nframes), checked for bounds and alignment:
 * 0, PIO_ECORRUPT or PIO_ECHECKSUM (2.0: an index record on the way to it
 * is damaged), naming the file, frame and offset. Thread-safe. */
int pio__holo_entry(const pio_reader *r, uint64_t i, struct holo_entry *e, struct pio_error *err);

/* Every entry in one array (1.x: the index itself; 2.0: gathered once and
 * kept until the next refresh). Thread-safe. */
int pio__holo_entries(const pio_reader *r, const struct holo_entry **out, struct pio_error *err);

/* Take the 2.0 commit c (checked by pio__holo_tail_commit) as r's view:
 * its FULL INDEX head, META record, lookup caches (holo_lookup.c). */
int pio__holo_open_v2(pio_reader *r, const struct holo_commit *c, struct pio_error *err);
/* The COMMIT record back link j of `from` names, checked against the link
 * and hashed on first use (2.0). */
int pio__holo_follow_link(const pio_reader *r, const struct holo_commit *from, uint32_t j,
                          struct holo_commit *to, struct pio_error *err);
/* Refresh r until it holds more than `have` frames or is final: 0,
 * -EAGAIN (!wait), -ETIMEDOUT after timeout_ms (0: never), or a refresh's
 * error. Between looks it sleeps on `ino` (an inotify descriptor watching
 * the file; at most a second, in case an event is missed) or, with ino -1,
 * for poll_ms. */
int pio__holo_wait(pio_reader *r, int ino, uint32_t poll_ms, uint32_t timeout_ms, uint64_t have,
                   bool wait, struct pio_error *err);
/* Free what pio__holo_open_v2 allocated. */
void pio__holo_v2_free(pio_reader *r);
/* Load a META record at off/len into r (has_meta) or mark it damaged. */
int pio__holo_load_meta(pio_reader *r, uint64_t off, uint64_t len, struct pio_error *err);

/* View of frame i from its record bytes (`avail` bytes at `rec`, read from
 * entry e's offset): record header, body, and agreement with the index. */
int pio__holo_frame_view(const pio_reader *r, uint64_t i, const struct holo_entry *e,
                         const uint8_t *rec, uint64_t avail, struct pio_frame *out,
                         struct holo_coded *coded, struct pio_error *err);
/* Decode frame f's coded arrays (cd from pio__holo_frame_view) into dst
 * (room for holo_coded_count(cd) arrays of natoms triples, one after the
 * other),
 * pointing f's arrays there (a frame of a BLOCK record: its block decoded
 * into bc, or found there, and the frame copied out) and setting PIO_FIELD_DECODED: 0, or
 * PIO_ECORRUPT naming the file, frame, array and offset. */
int pio__holo_decode(const pio_reader *r, struct pio_frame *f, const struct holo_coded *cd,
                     float *dst, struct pio__codec_scratch *s, struct holo_block_cache *bc,
                     struct pio_error *err);
/* Runs of a frame stream whose block a pool thread decoded ahead of the
 * consumer (holo_stream.c; for tests). */
uint64_t pio__frame_stream_ahead_by_pool(const pio_frame_stream *s);

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

/* Check frame i's BLAKE3 (rec: its record's bytes, e its entry): 0 or
 * PIO_ECHECKSUM naming the file, frame and offset. */
int pio__holo_frame_checksum(const pio_reader *r, uint64_t i, const struct holo_entry *e,
                             const uint8_t *rec, struct pio_error *err);

#endif /* PIO_HOLO_INTERNAL_H */
