/*
 * HOLO 2.0 index records (docs/FORMAT.md): building the COMMIT record a
 * commit writes (its new entries, back links to earlier commits, the
 * footer) and the FULL INDEX a commit writes now and then (every entry of
 * a prefix of the file, in pages that are hashed separately). Their
 * structural checks are with every other check, in holo_layout.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format/holo_layout.h"

#include "common/pio_common.h"

int pio__holo_build_commit(const struct holo_commit_in *in, const uint8_t salt[16], uint8_t **out,
                           uint64_t *out_len)
{
    uint64_t len = holo_pad64(HOLO_COMMIT_HDR + (uint64_t)in->nlinks * HOLO_LINK_SIZE +
                              (uint64_t)in->nentries * HOLO_ENTRY_SIZE + HOLO_FOOTER2_SIZE);
    if (in->align > 64)
        len += (in->align - (in->off + len) % in->align) % in->align;
    uint8_t *p = calloc(1, (size_t)len);
    if (!p)
        return -ENOMEM;
    holo_put_rec_header(p, HOLO_REC_COMMIT, len, in->nframes, salt);
    holo_wr64(p + 64, in->nframes);
    holo_wr64(p + 72, in->first);
    holo_wr32(p + 80, in->nentries);
    holo_wr32(p + 84, in->flags | HOLO_COMMIT_ONE_FRAME);
    holo_wr64(p + 88, in->full_off);
    holo_wr64(p + 96, in->full_n);
    if (in->full_off)
        memcpy(p + 104, in->full_head, 32);
    memcpy(p + 136, in->digest, 32);
    holo_wr32(p + 168, in->nlinks);
    holo_wr64(p + 176, in->chain);
    uint8_t *q = p + HOLO_COMMIT_HDR;
    if (in->nlinks) {
        memcpy(q, in->links, (size_t)in->nlinks * HOLO_LINK_SIZE);
        q += (size_t)in->nlinks * HOLO_LINK_SIZE;
    }
    if (in->nentries)
        memcpy(q, in->entries, (size_t)in->nentries * HOLO_ENTRY_SIZE);
    uint8_t *f = p + len - HOLO_FOOTER2_SIZE;
    memcpy(f, HOLO_FOOTER_MAGIC, 8);
    holo_wr64(f + 8, in->off);
    holo_wr64(f + 16, len);
    holo_wr64(f + 24, in->nframes);
    pio__holo_record_hash(p, len, 1, p + HOLO_HASH_OFF);
    *out = p;
    *out_len = len;
    return 0;
}

int pio__holo_build_full(const struct holo_entry *e, uint64_t n, const uint8_t salt[16],
                         uint8_t **out, uint64_t *out_len, uint8_t head_hash[32])
{
    if (n > UINT32_MAX)
        return PIO_ELIMIT;
    uint32_t npages = (uint32_t)((n + HOLO_PAGE_ENTRIES - 1) / HOLO_PAGE_ENTRIES);
    uint64_t head = HOLO_FULL_HDR + holo_pad64((uint64_t)npages * HOLO_PAGE_DESC);
    uint64_t len = head + holo_pad64(n * HOLO_ENTRY_SIZE); /* whole pages are 64-multiples */
    uint8_t *p = calloc(1, (size_t)len);
    if (!p)
        return -ENOMEM;
    holo_put_rec_header(p, HOLO_REC_FULL, len, n, salt);
    holo_wr64(p + 64, n);
    holo_wr32(p + 72, (uint32_t)n);
    holo_wr32(p + 76, HOLO_COMMIT_ONE_FRAME);
    holo_wr32(p + 80, npages);
    if (n)
        memcpy(p + head, e, (size_t)(n * HOLO_ENTRY_SIZE));
    for (uint32_t k = 0; k < npages; k++) {
        uint64_t first = (uint64_t)k * HOLO_PAGE_ENTRIES;
        uint64_t cnt = n - first < HOLO_PAGE_ENTRIES ? n - first : HOLO_PAGE_ENTRIES;
        uint8_t *d = p + HOLO_FULL_HDR + (uint64_t)k * HOLO_PAGE_DESC;
        holo_wr64(d, first);
        pio_blake3_hash(d + 8, 32, p + head + first * HOLO_ENTRY_SIZE,
                        (size_t)holo_pad64(cnt * HOLO_ENTRY_SIZE));
    }
    pio__holo_record_hash(p, len, 1, p + HOLO_HASH_OFF);
    pio_blake3_hash(head_hash, 32, p, (size_t)head);
    *out = p;
    *out_len = len;
    return 0;
}
