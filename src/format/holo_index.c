/*
 * HOLO 2.0 index records (docs/FORMAT.md): the COMMIT record a commit
 * writes (its new entries, back links to earlier commits, the footer), the
 * FULL INDEX a commit writes now and then (every entry of a prefix of the
 * file, in pages that are hashed separately) and the PAD record. Building
 * them, and checking their structure: nothing here trusts a count, offset
 * or length from the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format/holo_layout.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

int pio__holo_parse_commit(const char *path, const uint8_t *map, uint64_t size, uint64_t off,
                           const uint8_t salt[16], struct holo_commit *c, struct pio_error *err)
{
    uint32_t type;
    uint64_t len, seq;
    int rc = pio__holo_check_record(path, map, size, off, salt, &type, &len, &seq, err);
    if (rc != 0)
        return rc;
    if (type != HOLO_REC_COMMIT || len < HOLO_COMMIT_HDR + HOLO_FOOTER2_SIZE)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: record at offset 0x%llx (type %u, length %llu) is not a commit",
                             path, OFFX(off), type, OFFX(len));
    const uint8_t *p = map + off;
    memset(c, 0, sizeof(*c));
    c->off = off;
    c->len = len;
    c->nframes = holo_rd64(p + 64);
    c->first = holo_rd64(p + 72);
    c->nentries = holo_rd32(p + 80);
    c->flags = holo_rd32(p + 84);
    c->full_off = holo_rd64(p + 88);
    c->full_n = holo_rd64(p + 96);
    c->full_head = p + 104;
    c->digest = p + 136;
    c->nlinks = holo_rd32(p + 168);
    c->chain = holo_rd64(p + 176);
    c->links = p + HOLO_COMMIT_HDR;
    c->entries = c->links + (uint64_t)c->nlinks * HOLO_LINK_SIZE;
    c->hash = p + HOLO_HASH_OFF;
    const char *why = NULL;
    bool has_full = c->full_off != 0;
    uint64_t body = HOLO_COMMIT_HDR + (uint64_t)c->nlinks * HOLO_LINK_SIZE +
                    (uint64_t)c->nentries * HOLO_ENTRY_SIZE + HOLO_FOOTER2_SIZE;
    const uint8_t *f = p + len - HOLO_FOOTER2_SIZE;
    if (len < body)
        why = "its links and entries do not fit its length";
    else if (c->flags & ~HOLO_COMMIT_FLAGS || !(c->flags & HOLO_COMMIT_ONE_FRAME))
        why = "unknown flags";
    else if (seq != c->nframes || c->first > c->nframes || c->nframes - c->first != c->nentries)
        why = "its frame counts disagree";
    else if (c->nframes > size / HOLO_FRAME_HDR || c->full_n > c->nframes)
        why = "it holds more frames than the file can"; /* each is a record of 192 bytes or more */
    else if (holo_rd32(p + 172) != 0 || holo_rd64(p + 184) != 0)
        why = "reserved bytes are not zero";
    else if (has_full && (c->full_off % 64 || c->full_off < HOLO_HEADER_SIZE ||
                          c->full_off >= off || c->full_n > c->first))
        why = "it names a full index out of place";
    else if (!has_full && (c->full_n != 0 || !all_zero(c->full_head, 32)))
        why = "it names no full index but holds its fields";
    else if (c->nlinks != holo_nlinks(c->chain, has_full))
        why = "its back links do not match its place in the chain";
    else if (c->chain == 0 && (!has_full || c->full_n != c->nframes || c->nentries != 0))
        why = "commit 0 of a chain must write the full index it hangs from";
    else if (memcmp(f, HOLO_FOOTER_MAGIC, 8) != 0 || holo_rd64(f + 8) != off ||
             holo_rd64(f + 16) != len || holo_rd64(f + 24) != c->nframes)
        why = "its footer does not match it";
    for (uint32_t j = 0; !why && j < c->nlinks; j++) {
        const uint8_t *l = c->links + (uint64_t)j * HOLO_LINK_SIZE;
        uint64_t lo = holo_rd64(l), ln = holo_rd64(l + 8);
        /* links go backwards, each further than the last, to commits
         * holding no more frames than the one before this one */
        uint64_t prev = j ? holo_rd64(l - HOLO_LINK_SIZE) : off;
        if (lo % 64 || lo < HOLO_HEADER_SIZE || lo >= prev || ln > c->first ||
            (j == 0 && ln != c->first) || (j > 0 && ln > holo_rd64(l - HOLO_LINK_SIZE + 8)))
            why = "a back link is out of place";
    }
    if (why)
        return pio_error_set(err, PIO_ECORRUPT, "%s: commit record at offset 0x%llx: %s", path,
                             OFFX(off), why);
    if (!has_full && c->chain == 1 && c->first != 0)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: commit record at offset 0x%llx: the file's first commit starts "
                             "at frame %llu",
                             path, OFFX(off), OFFX(c->first));
    return 0;
}

bool pio__holo_tail_commit(const uint8_t *map, uint64_t size, const uint8_t salt[16],
                           struct holo_commit *c)
{
    if (size < HOLO_HEADER_SIZE + HOLO_COMMIT_HDR + HOLO_FOOTER2_SIZE || size % 64 != 0)
        return false;
    const uint8_t *f = map + size - HOLO_FOOTER2_SIZE;
    if (memcmp(f, HOLO_FOOTER_MAGIC, 8) != 0)
        return false;
    uint64_t off = holo_rd64(f + 8), len = holo_rd64(f + 16);
    if (off < HOLO_HEADER_SIZE || off >= size || size - off != len)
        return false;
    if (pio__holo_parse_commit("", map, size, off, salt, c, NULL) != 0)
        return false;
    uint8_t h[32];
    pio__holo_record_hash(map + off, len, 1, h);
    return memcmp(h, c->hash, 32) == 0;
}

int pio__holo_parse_full(const char *path, const uint8_t *map, uint64_t size, uint64_t off,
                         const uint8_t salt[16], struct holo_full *fi, struct pio_error *err)
{
    uint32_t type;
    uint64_t len, seq;
    int rc = pio__holo_check_record(path, map, size, off, salt, &type, &len, &seq, err);
    if (rc != 0)
        return rc;
    if (len < HOLO_FULL_HDR)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: record at offset 0x%llx (type %u, length %llu) is not a full "
                             "index",
                             path, OFFX(off), type, OFFX(len));
    const uint8_t *p = map + off;
    memset(fi, 0, sizeof(*fi));
    fi->off = off;
    fi->len = len;
    fi->n = holo_rd64(p + 64);
    fi->nentries = holo_rd32(p + 72);
    uint32_t flags = holo_rd32(p + 76);
    fi->npages = holo_rd32(p + 80);
    fi->table = p + HOLO_FULL_HDR;
    fi->head_len = HOLO_FULL_HDR + holo_pad64((uint64_t)fi->npages * HOLO_PAGE_DESC);
    fi->pages = p + fi->head_len;
    const char *why = NULL;
    uint64_t want_pages = ((uint64_t)fi->nentries + HOLO_PAGE_ENTRIES - 1) / HOLO_PAGE_ENTRIES;
    if (type != HOLO_REC_FULL)
        why = "not a full index";
    else if (seq != fi->n || fi->nentries != fi->n || flags != HOLO_COMMIT_ONE_FRAME)
        why = "its counts or flags are wrong";
    else if (fi->npages != want_pages || !all_zero(p + 84, HOLO_FULL_HDR - 84))
        why = "its page count or reserved bytes are wrong";
    else if (fi->head_len +
                 (fi->npages ? (uint64_t)(fi->npages - 1) * HOLO_PAGE_ENTRIES * HOLO_ENTRY_SIZE +
                                   holo_full_page_len(fi, fi->npages - 1)
                             : 0) !=
             len)
        why = "its length does not match its entries";
    for (uint32_t k = 0; !why && k < fi->npages; k++)
        if (holo_rd64(fi->table + (uint64_t)k * HOLO_PAGE_DESC) != (uint64_t)k * HOLO_PAGE_ENTRIES)
            why = "its page table is out of order";
    if (why)
        return pio_error_set(err, PIO_ECORRUPT, "%s: full index record at offset 0x%llx: %s", path,
                             OFFX(off), why);
    return 0;
}

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
