/*
 * HOLO reader: finding a frame's index entry.
 *
 * 1.x files (and files recovered by a scan) have every entry in one array.
 * A committed 2.0 file is opened from its newest COMMIT record alone
 * (docs/FORMAT.md, "Reading a 2.0 file"): the frames it added are in it;
 * frames up to its FULL INDEX are one page away, the page hashed the first
 * time a lookup touches it; frames in between are reached along the back
 * links of the commit chain in O(log commits) steps, each COMMIT record
 * hashed the first time it is reached. Opening and reading the last frame
 * thus cost O(1) reads whatever the number of frames or commits.
 *
 * The caches (pages and commits found intact) are atomics: lookups run
 * from any thread; two threads may hash the same piece once each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format/holo_internal.h"
#include "format/pio_format.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))

int pio__holo_load_meta(pio_reader *r, uint64_t off, uint64_t len, struct pio_error *err)
{
    uint32_t type = 0;
    uint64_t l = 0, seq;
    int rc = pio__holo_need_record(r, off, err);
    if (rc != 0)
        return rc;
    rc = pio__holo_check_record(r->path, r->map, r->size, off, r->hdr.salt, &type, &l, &seq, NULL);
    if (rc == 0 && (type != HOLO_REC_META || (len && l != len)))
        rc = PIO_ECORRUPT;
    if (rc == 0)
        rc = pio__holo_parse_meta(r->path, r->map + off, l, off, &r->meta, NULL);
    if (rc == PIO_ECORRUPT || rc == PIO_EFORMAT) {
        /* A damaged META record (topology, metadata) must not make the
         * frames unreachable: open without it and say so (info, verify). */
        r->has_meta = false;
        r->meta_damaged = true;
        r->meta_off = off;
        r->meta_len = len; /* 2.0: unknown (its header may be what is damaged) */
        return 0;
    }
    if (rc != 0)
        return pio_error_set(err, rc, "%s: metadata record at offset 0x%llx: %s", r->path,
                             OFFX(off), pio_strerror(rc));
    r->has_meta = true;
    r->meta_off = off;
    r->meta_len = l;
    return 0;
}

int pio__holo_open_v2(pio_reader *r, const struct holo_commit *c, struct pio_error *err)
{
    r->v2 = true;
    r->tip = *c;
    r->final = (c->flags & HOLO_COMMIT_FINAL) != 0;
    r->nframes = c->nframes;
    r->index_off = c->off;
    r->index_len = c->len;
    r->data_end = r->size;
    memcpy(r->digest, c->digest, 32);
    memset(&r->full, 0, sizeof(r->full));
    /* every commit of the chain is a record of at least 256 bytes */
    if (c->chain > r->size / 256)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: commit record at offset 0x%llx: commit number %llu is more "
                             "than the file can hold",
                             r->path, OFFX(c->off), OFFX(c->chain));
    int rc;
    if (c->full_off) {
        if ((rc = pio__holo_parse_full(r->path, r->map, c->off, c->full_off, r->hdr.salt, &r->full,
                                       err)) != 0)
            return rc;
        uint8_t h[32];
        pio_blake3_hash(h, 32, r->map + r->full.off, (size_t)r->full.head_len);
        if (r->full.n != c->full_n || memcmp(h, c->full_head, 32) != 0)
            return pio_error_set(err, PIO_ECHECKSUM,
                                 "%s: full index at offset 0x%llx does not match the commit at "
                                 "offset 0x%llx that names it",
                                 r->path, OFFX(c->full_off), OFFX(c->off));
        if (!(r->page_ok = calloc(PIO_MAX(r->full.npages, 1), 1)))
            return pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
    }
    if (!(r->chain_ok = calloc((size_t)c->chain + 1, sizeof(*r->chain_ok))))
        return pio_error_set(err, -ENOMEM, "%s: out of memory", r->path);
    if (c->flags & HOLO_COMMIT_META) {
        if ((rc = pio__holo_load_meta(r, HOLO_HEADER_SIZE, 0, err)) != 0)
            return rc;
    }
    return 0;
}

void pio__holo_v2_free(pio_reader *r)
{
    free((void *)r->page_ok);
    free((void *)r->chain_ok);
    free(atomic_load_explicit(&r->all, memory_order_relaxed));
    r->page_ok = NULL;
    r->chain_ok = NULL;
    atomic_store_explicit(&r->all, NULL, memory_order_relaxed);
    atomic_store_explicit(&r->all_sorted, 0, memory_order_relaxed);
}

/* Entry i from a page of the FULL INDEX, the page hashed on first use. */
static int full_entry(const pio_reader *r, uint64_t i, struct holo_entry *e, struct pio_error *err)
{
    const struct holo_full *fi = &r->full;
    uint32_t k = (uint32_t)(i / HOLO_PAGE_ENTRIES);
    /* relaxed: the flag only saves hashing again */
    if (!atomic_load_explicit(&r->page_ok[k], memory_order_relaxed)) {
        uint8_t h[32];
        const uint8_t *page = fi->pages + (uint64_t)k * HOLO_PAGE_ENTRIES * HOLO_ENTRY_SIZE;
        int rc = pio__holo_need(r, (uint64_t)(page - r->map), holo_full_page_len(fi, k), err);
        if (rc != 0)
            return rc;
        pio_blake3_hash(h, 32, page, (size_t)holo_full_page_len(fi, k));
        if (memcmp(h, fi->table + (uint64_t)k * HOLO_PAGE_DESC + 8, 32) != 0)
            return pio_error_set(err, PIO_ECHECKSUM,
                                 "%s: frame %llu: page %u of the full index at offset 0x%llx: "
                                 "checksum mismatch",
                                 r->path, OFFX(i), k, OFFX(fi->off));
        atomic_store_explicit(&r->page_ok[k], 1, memory_order_relaxed);
    }
    memcpy(e, fi->pages + i * HOLO_ENTRY_SIZE, sizeof(*e));
    return 0;
}

/* The commit that back link j of `from` names, checked against the link
 * (place in the chain, frames, hash) and hashed on first use. */
int pio__holo_follow_link(const pio_reader *r, const struct holo_commit *from, uint32_t j,
                          struct holo_commit *to, struct pio_error *err)
{
    const uint8_t *l = from->links + (uint64_t)j * HOLO_LINK_SIZE;
    uint64_t off = holo_rd64(l), chain = from->chain - ((uint64_t)1 << j);
    int rc = off < r->tip.off ? pio__holo_need_record(r, off, err) : 0;
    if (rc == 0)
        rc = pio__holo_parse_commit(r->path, r->map, r->tip.off, off, r->hdr.salt, to, err);
    if (rc != 0)
        return rc;
    if (to->chain != chain || to->nframes != holo_rd64(l + 8) || memcmp(to->hash, l + 16, 32) ||
        to->full_off != r->tip.full_off || to->full_n != r->tip.full_n ||
        (to->full_off && memcmp(to->full_head, r->tip.full_head, 32) != 0))
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: commit record at offset 0x%llx is not the one the back link at "
                             "offset 0x%llx names",
                             r->path, OFFX(off), OFFX((uint64_t)(l - r->map)));
    if (atomic_load_explicit(&r->chain_ok[chain], memory_order_relaxed) != off + 1) {
        uint8_t h[32];
        pio__holo_record_hash(r->map + off, to->len, 1, h);
        if (memcmp(h, to->hash, 32) != 0)
            return pio_error_set(err, PIO_ECHECKSUM,
                                 "%s: commit record at offset 0x%llx: checksum mismatch", r->path,
                                 OFFX(off));
        atomic_store_explicit(&r->chain_ok[chain], off + 1, memory_order_relaxed);
    }
    return 0;
}

static int v2_entry(const pio_reader *r, uint64_t i, struct holo_entry *e, struct pio_error *err)
{
    const struct holo_commit *c = &r->tip;
    if (i >= c->first) {
        memcpy(e, c->entries + (i - c->first) * HOLO_ENTRY_SIZE, sizeof(*e));
        return 0;
    }
    if (r->full.off && i < r->full.n)
        return full_entry(r, i, e, err);
    /* Down the chain: at each commit take the longest link that still
     * reaches frame i (a commit holding more than i frames). Each step
     * removes the highest bit of the distance, so O(log commits). */
    struct holo_commit cur = *c;
    while (i < cur.first) {
        uint32_t best = UINT32_MAX;
        for (uint32_t j = 0; j < cur.nlinks; j++)
            if (holo_rd64(cur.links + (uint64_t)j * HOLO_LINK_SIZE + 8) > i)
                best = j;
        if (best == UINT32_MAX)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu: no back link of the commit at offset 0x%llx "
                                 "reaches it",
                                 r->path, OFFX(i), OFFX(cur.off));
        struct holo_commit next;
        int rc = pio__holo_follow_link(r, &cur, best, &next, err);
        if (rc != 0)
            return rc;
        cur = next;
    }
    memcpy(e, cur.entries + (i - cur.first) * HOLO_ENTRY_SIZE, sizeof(*e));
    return 0;
}

int pio__holo_entry(const pio_reader *r, uint64_t i, struct holo_entry *e, struct pio_error *err)
{
    int rc = 0;
    if (r->entries)
        *e = r->entries[i];
    else if ((rc = v2_entry(r, i, e, err)) != 0)
        return rc;
    if (!r->v2)
        return 0; /* 1.x: every entry was checked at open */
    uint64_t lo = r->has_meta || r->meta_damaged ? r->meta_off + r->meta_len : HOLO_HEADER_SIZE;
    if (e->offset % 64 || e->offset < lo || e->length < HOLO_FRAME_HDR || e->length % 64 ||
        e->offset > r->size || e->length > r->size - e->offset)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu: index entry (offset 0x%llx, length %llu) is "
                             "misaligned or out of bounds",
                             r->path, OFFX(i), OFFX(e->offset), OFFX(e->length));
    return 0;
}

void pio__holo_prefetch(const pio_reader *r, uint64_t i)
{
    struct holo_entry e;
    if (i >= r->nframes || r->remote || pio__holo_entry(r, i, &e, NULL) != 0)
        return;
    const uint8_t *p = r->map + e.offset;
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
    if (e.length > 192)
        __builtin_prefetch(p + e.length - 64);
}

int pio__holo_entries(const pio_reader *r, const struct holo_entry **out, struct pio_error *err)
{
    if (r->entries) {
        *out = r->entries;
        return 0;
    }
    struct holo_entry *all = atomic_load_explicit(&r->all, memory_order_acquire);
    if (all) {
        *out = all;
        return 0;
    }
    struct holo_entry *a = malloc((size_t)PIO_MAX(r->nframes, 1) * sizeof(*a));
    if (!a)
        return pio_error_set(err, -ENOMEM, "%s: out of memory for %llu index entries", r->path,
                             OFFX(r->nframes));
    for (uint64_t i = 0; i < r->nframes; i++) {
        int rc = pio__holo_entry(r, i, &a[i], err);
        if (rc != 0) {
            free(a);
            return rc;
        }
    }
    /* acq_rel: publish the filled array; a thread that lost the race
     * frees its own copy and takes the winner's */
    struct holo_entry *expect = NULL;
    if (!atomic_compare_exchange_strong_explicit((struct holo_entry * _Atomic *)&r->all, &expect, a,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        free(a);
        a = expect;
    }
    *out = a;
    return 0;
}
