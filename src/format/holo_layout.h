/*
 * format: the HOLO byte layout (docs/FORMAT.md) as constants and checked
 * accessors, shared by the writer, the reader and recovery.
 *
 * Every function that looks at file bytes takes the mapping and its size
 * and checks bounds before reading; none trusts a count, length or offset
 * from the file. Structural checks (no hashing) are separate from
 * cryptographic ones so that opening stays O(frames).
 */
#ifndef PIO_HOLO_LAYOUT_H
#define PIO_HOLO_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prismio/blake3.h"
#include "prismio/holo.h"

#define HOLO_HEADER_SIZE   128
#define HOLO_HEADER_HASHED 96
#define HOLO_REC_HDR       64
#define HOLO_FRAME_HDR     192
#define HOLO_META_HDR      128
#define HOLO_INDEX_HDR     128
#define HOLO_ENTRY_SIZE    32
#define HOLO_FOOTER_SIZE   64
#define HOLO_HASH_OFF      32 /* record and footer hash field */
#define HOLO_SCALAR_SIZE   32
#define HOLO_COMMIT_ALIGN  4096 /* 1.1: a commit's footer ends on this boundary */

enum holo_rec_type {
    HOLO_REC_META = 1,
    HOLO_REC_FRAME = 2,
    HOLO_REC_INDEX = 3,  /* 1.x */
    HOLO_REC_COMMIT = 4, /* 2.x from here on */
    HOLO_REC_BLOCK = 5,  /* 2.1: several frames coded together (required feature bit 0) */
    HOLO_REC_FULL = 6,
    HOLO_REC_PAD = 7,
};

/* HOLO 2.0 index records (docs/FORMAT.md). */
#define HOLO_COMMIT_HDR       192 /* record header and fields; links follow */
#define HOLO_LINK_SIZE        48
#define HOLO_FOOTER2_SIZE     32 /* 2.0: the footer is a COMMIT record's last bytes */
#define HOLO_FULL_HDR         128
#define HOLO_PAGE_ENTRIES     1024
#define HOLO_PAGE_DESC        40
#define HOLO_FULL_MIN         1024 /* the doubling rule's least index */
#define HOLO_COMMIT_FINAL     1u   /* COMMIT flags */
#define HOLO_COMMIT_ONE_FRAME 2u
#define HOLO_COMMIT_META      4u
#define HOLO_COMMIT_FLAGS     7u
#define HOLO_REQ_BLOCK        1u /* required header flags (2.0) */
#define HOLO_REQ_ZSTD         2u
#define HOLO_REQ_RAW_BLOCK    4u /* 2.2: BLOCK records of raw arrays (packed small frames) */
#define HOLO_REQ_ARRAYS       8u /* 2.3: named arrays in FRAME records */
#define HOLO_ARRAY_ENTRY      64 /* a named array's table entry */
/* A BLOCK record's codec for raw arrays (2.2), and the most array bytes a
 * frame may hold to be packed into one (larger frames: FRAME records,
 * whose overhead is then under 10%). */
#define HOLO_BLOCK_RAW      3u
#define HOLO_PACK_MAX_BYTES 4096u
#define HOLO_PACK_DEFAULT   128u

static const uint8_t HOLO_MAGIC[8] = {0x89, 'H', 'O', 'L', '\r', '\n', 0x1a, '\n'};
static const uint8_t HOLO_REC_MAGIC[4] = {'H', 'R', 'E', 'C'};
static const uint8_t HOLO_FOOTER_MAGIC[8] = {'H', 'O', 'L', 'O', 'F', 'O', 'O', 'T'};

/* Index entry: the file layout on a little-endian host (32 bytes). */
struct holo_entry {
    uint64_t offset;
    uint64_t length;
    int64_t step;
    double time;
};

static inline uint64_t holo_pad64(uint64_t n)
{
    return (n + 63) & ~(uint64_t)63;
}
static inline uint64_t holo_rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline uint32_t holo_rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void holo_wr64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static inline void holo_wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* The first 32 bytes of a record header (magic, type, length, sequence,
 * salt prefix); the hash field after them is the caller's. */
static inline void holo_put_rec_header(uint8_t *p, uint32_t type, uint64_t len, uint64_t seq,
                                       const uint8_t salt[16])
{
    memcpy(p, HOLO_REC_MAGIC, 4);
    holo_wr32(p + 4, type);
    holo_wr64(p + 8, len);
    holo_wr64(p + 16, seq);
    memcpy(p + 24, salt, 8);
}

/* Add each frame record's stored hash to a file digest, in frame order:
 * once per record (the frames of a BLOCK record share one). */
static inline void holo_digest_entries(pio_blake3_hasher *h, const uint8_t *map,
                                       const struct holo_entry *e, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (i == 0 || e[i].offset != e[i - 1].offset)
            pio_blake3_hasher_update(h, map + e[i].offset + HOLO_HASH_OFF, 32);
}

/* What a file's header says (after pio__holo_check_header). */
struct holo_header {
    uint16_t major, minor;
    uint64_t optional, required;
    uint8_t salt[16];
};

/* Byte sizes of a frame record's parts; the record length if valid. */
struct holo_frame_layout {
    uint64_t array_bytes;                            /* pad64(12 natoms) */
    uint64_t vel_off, force_off, scalar_off, length; /* record-relative */
};
int pio__holo_frame_layout(uint64_t natoms, uint32_t fields, uint32_t nscalars,
                           struct holo_frame_layout *out);

/* Meta record part offsets (record-relative). */
struct holo_meta_layout {
    uint64_t names, elements, resnames, chains, resids, masses, charges, bonds, meta, length;
};
int pio__holo_meta_layout(uint64_t natoms, uint64_t nbonds, uint64_t meta_bytes,
                          struct holo_meta_layout *out);

/* Check the 128-byte header at the start of map; PIO_E* with message. */
int pio__holo_check_header(const char *path, const uint8_t *map, uint64_t size,
                           struct holo_header *h, struct pio_error *err);

/* Records up to this size are copied into one buffer before hashing
 * (BLAKE3 is several times faster on one aligned piece than on pieces). */
#define HOLO_GATHER_MAX ((size_t)64 << 10)
/* BLAKE3 of a record with its hash field read as zeros. */
void pio__holo_record_hash(const uint8_t *rec, uint64_t len, unsigned threads, uint8_t out[32]);

/* Structural check of the record header at `off` (bounds, magic, type,
 * length, salt); type, len and seq are set on success. */
int pio__holo_check_record(const char *path, const uint8_t *map, uint64_t size, uint64_t off,
                           const uint8_t salt[16], uint32_t *type, uint64_t *len, uint64_t *seq,
                           struct pio_error *err);

/* The same on a record's bytes held anywhere (`avail` bytes at `p`), read
 * from file offset `off`. */
int pio__holo_check_record_buf(const char *path, const uint8_t *p, uint64_t avail, uint64_t off,
                               const uint8_t salt[16], uint32_t *type, uint64_t *len, uint64_t *seq,
                               struct pio_error *err);

/* Structural check of a FRAME record's body; fills a view (frame number
 * `seq`) pointing into the record. A compressed array (2.0, codec byte
 * set) gets a NULL pointer there, and its payload in `coded` (may be NULL:
 * structure only). */
#define HOLO_CODED_HDR 16 /* a coded array: payload length (4), zero (4), precision (f64) */
/* A BLOCK record (2.1, holo_block.c), structurally checked: pointers into
 * its bytes. */
#define HOLO_BLOCK_HDR      128
#define HOLO_BLOCK_BOX_ONCE (1u << 16) /* fields: one box for every frame */
/* 2.2 (files with RAW_BLOCK): boxes stored as their diagonal (3 doubles)
 * or their lower triangle (6: xx, yx, yy, zx, zy, zz), the rest zero */
#define HOLO_BLOCK_BOX_DIAG  (1u << 17)
#define HOLO_BLOCK_BOX_LOWER (1u << 18)
static inline uint64_t holo_block_box_bytes(uint32_t fields)
{
    return (fields & HOLO_BLOCK_BOX_DIAG) ? 24 : (fields & HOLO_BLOCK_BOX_LOWER) ? 48 : 72;
}
#define HOLO_BLOCK_MAX_BYTES                                                                       \
    ((uint64_t)64 << 20)            /* a block of K > 1 frames: decoded bytes per array, at most */
#define HOLO_KEYFRAME_DEFAULT 32    /* frames in a block unless asked (docs/FORMAT.md) */
#define HOLO_BLOCK_MAX_FRAMES 65536 /* frames in a block, at most */
struct holo_block {
    const uint8_t *rec;
    uint64_t off, len, first; /* file offset, length, first frame */
    uint32_t nframes, fields, nscalars, ngroups, narrays;
    uint64_t natoms;
    uint8_t codec[3]; /* 1 lossy, 2 lossless, HOLO_BLOCK_RAW; 0 absent */
    bool raw;         /* arrays raw, one group: frames are read in place */
    double precision;
    const uint8_t *times;    /* nframes x (step, time) */
    const uint8_t *boxes;    /* nframes boxes, or one (BOX_ONCE), or NULL */
    const uint8_t *scalars;  /* nframes x nscalars x 32 */
    const uint8_t *groups;   /* ngroups x (first atom, atoms) */
    const uint8_t *payloads; /* narrays x ngroups x (offset, length) */
};
/* Payload of array slot `slot` (the present arrays in order) and group g. */
static inline const uint8_t *holo_block_payload(const struct holo_block *b, uint32_t slot,
                                                uint32_t g, uint64_t *len)
{
    const uint8_t *p = b->payloads + ((uint64_t)slot * b->ngroups + g) * 16;
    *len = holo_rd64(p + 8);
    return b->rec + holo_rd64(p);
}
static inline uint64_t holo_block_group_first(const struct holo_block *b, uint32_t g)
{
    return holo_rd64(b->groups + (uint64_t)g * 16);
}
static inline uint64_t holo_block_group_atoms(const struct holo_block *b, uint32_t g)
{
    return holo_rd64(b->groups + (uint64_t)g * 16 + 8);
}
/* Check the BLOCK record rec (len bytes, read from file offset off; its
 * record header already checked): every count, table and payload bounded
 * by the record, before anything is sized by them. PIO_ECORRUPT or
 * PIO_EVERSION naming the file, frame and offset. */
int pio__holo_parse_block(const char *path, const uint8_t *rec, uint64_t len, uint64_t off,
                          uint64_t seq, uint64_t frame, struct holo_block *b,
                          struct pio_error *err);
/* Frame k of a parsed block as a view (arrays NULL: they are coded). */
void pio__holo_block_frame(const struct holo_block *b, uint32_t k, struct pio_frame *out);

/* Decoded arrays of the last block a thread (or stream) read: every frame
 * of the groups decoded so far. Known by the reader (its uid, never
 * reused), the record's offset, stored hash and shape, so a cache never
 * serves another record's values, nor is indexed by another's sizes. Zero
 * it to start. */
struct holo_block_cache {
    bool valid;
    uint8_t hash[32], codec[3];
    uint64_t owner, off, natoms;
    uint32_t nframes, ngroups;
    float *arr[3]; /* nframes x natoms x 3 per coded array */
    size_t cap[3]; /* floats */
    uint8_t *done; /* 3 x ngroups: decoded */
    size_t done_cap;
};
void pio__holo_block_cache_free(struct holo_block_cache *c);
struct pio__codec_scratch;
/* Decode, into c, the groups of block b that hold atoms [a0, a0 + n) of
 * each array in mask (bit a: positions, velocities, forces); what c holds
 * already is kept. Many large payloads are decoded on the worker pool
 * when `parallel`. PIO_ECORRUPT naming the file, frame (`frame`), array
 * and offset for a payload that does not decode; -ENOMEM. */
int pio__holo_block_fetch(const char *path, uint64_t owner, const struct holo_block *b,
                          uint64_t frame, unsigned mask, uint64_t a0, uint64_t n, bool parallel,
                          struct holo_block_cache *c, struct pio_error *err);
/* The same for the groups holding atoms[0 .. nsel) (sorted; NULL: atoms
 * 0 .. nsel - 1, each below the block's atom count). */
int pio__holo_block_fetch_atoms(const char *path, uint64_t owner, const struct holo_block *b,
                                uint64_t frame, unsigned mask, const uint64_t *atoms, uint64_t nsel,
                                bool parallel, struct holo_block_cache *c, struct pio_error *err);
/* Every frame of array a of block b decoded straight into dst (frame t's
 * atoms at dst + t * natoms * 3): a caller reading whole blocks needs no
 * cache and no copy. */
int pio__holo_block_decode_into(const char *path, const struct holo_block *b, uint64_t frame, int a,
                                float *dst, bool parallel, struct pio_error *err);
/* Frame k of array a in the cache (after a fetch). */
static inline const float *holo_block_cached(const struct holo_block_cache *c, int a, uint32_t k)
{
    return c->arr[a] + (size_t)k * c->natoms * 3;
}

/* What the writer puts in a BLOCK record (holo_block.c). */
struct holo_block_in {
    uint32_t nframes, fields, nscalars;
    uint64_t natoms, group_atoms; /* group_atoms 0: one group */
    const int64_t *steps;
    const double *times;
    const double *boxes;              /* nframes x 9, or NULL */
    const struct pio_scalar *scalars; /* nframes x nscalars */
    const float *arrays[3];           /* nframes x natoms x 3 each, or NULL */
    uint8_t codec[3];
    double precision;
    int level;
    bool compact_boxes; /* boxes may be stored as a diagonal or triangle (2.2) */
};
struct pio__codec_scratch;
/* Encode and lay out a BLOCK record for frames seq .. seq + nframes - 1
 * into a malloc'd buffer (its hash field zero); a large block's payloads
 * are coded on the worker pool. PIO_ELIMIT with *bad set
 * (array, frame, atom) for a value lossy cannot hold; -ENOMEM. */
int pio__holo_build_block(const struct holo_block_in *in, uint64_t seq, const uint8_t salt[16],
                          uint8_t **out, uint64_t *out_len, uint64_t bad[3]);

struct holo_coded {
    uint8_t codec[3]; /* enum pio_codec of positions, velocities, forces */
    const uint8_t *payload[3];
    uint64_t len[3];
    uint64_t at[3]; /* record offset of each coded array's header */
    double precision[3];
    /* named arrays (2.3): their table's record offset, and count */
    uint64_t arrays_at;
    uint32_t narrays;
    /* a frame of a BLOCK record: the block, and the frame's place in it */
    bool in_block;
    uint32_t k;
    struct holo_block block;
};
static inline size_t holo_coded_count(const struct holo_coded *cd)
{
    return (size_t)(cd->codec[0] != 0) + (cd->codec[1] != 0) + (cd->codec[2] != 0);
}
int pio__holo_parse_frame(const char *path, const uint8_t *rec, uint64_t len, uint64_t off,
                          uint64_t seq, struct pio_frame *out, struct pio_error *err);
/* Named array k of a FRAME record whose table (checked by the parse) is at
 * record offset `at`: its descriptor, data pointing into rec. */
void pio__holo_array_at(const uint8_t *rec, uint64_t at, uint32_t k, struct pio_array *out);
/* The bytes of a named array's values: rows x width x the dtype's size
 * (rows: natoms or 1; 0 for a per-atom array of a frame of 0 atoms), or
 * UINT64_MAX for an invalid descriptor. */
uint64_t pio__holo_array_bytes(uint64_t natoms, uint32_t dtype, uint32_t per_atom, uint32_t width);
int pio__holo_parse_frame_coded(const char *path, const uint8_t *rec, uint64_t len, uint64_t off,
                                uint64_t seq, struct pio_frame *out, struct holo_coded *coded,
                                struct pio_error *err);

/* Structural check of a META record; fills topology and metadata views. */
struct holo_meta_view {
    struct pio_topology top;
    uint64_t nmeta;
    const char *meta; /* nmeta "key\0value\0" pairs */
    uint64_t meta_bytes;
};
int pio__holo_parse_meta(const char *path, const uint8_t *rec, uint64_t len, uint64_t off,
                         struct holo_meta_view *out, struct pio_error *err);

/* Footer hash: H(footer[0..32) || index record hash || salt). */
void pio__holo_footer_hash(const uint8_t footer[32], const uint8_t index_hash[32],
                           const uint8_t salt[16], uint8_t out[32]);

/* Is there a valid footer at `off` (64 bytes) whose INDEX record ends
 * exactly there, checks structurally and matches its hash (the record's
 * bytes are hashed: O(index))? */
bool pio__holo_footer_valid(const uint8_t *map, uint64_t size, uint64_t off, const uint8_t salt[16],
                            uint64_t *index_off, uint64_t *index_len);

/* A damaged range the scan stepped over: bytes [off, off + len) failed
 * validation and valid records follow; frames [first_frame, first_frame +
 * nframes) lie in it (0 frames: an old INDEX record or footer). */
struct holo_damage {
    uint64_t off, len;
    uint64_t first_frame, nframes;
    bool meta; /* the range starts where the META record would: topology lost */
};

/* Result of a forward scan (recovery). */
struct holo_scan {
    struct holo_entry *entries; /* malloc'd; damaged frames included */
    uint64_t nframes, cap;
    uint64_t meta_off, meta_len;
    uint64_t end;               /* end of the last valid record or footer */
    pio_blake3_hasher digest;   /* H over meta and frame hashes so far */
    struct holo_damage *damage; /* malloc'd */
    uint64_t ndamage, damage_cap;
    uint64_t damaged_frames; /* frames in the damaged ranges */
    /* The scan stopped at `end` although records may follow (from
     * unplaced_next): where the damaged frames lie could not be told, or
     * the search spent its hashing budget on false candidates. */
    bool unplaced;
    uint64_t unplaced_next;
    bool index_names_meta; /* a valid INDEX record names a META record */
};
/* Scan records from offset 128, hash-checking each. A damaged range with
 * valid records after it is stepped over (the record lengths, salt and
 * sequence numbers let the scan resynchronise) and its frames get index
 * entries; the scan ends at damaged bytes with no valid record after them
 * (a torn tail). Only allocation failure is an error. Free with
 * holo_scan_free. */
int pio__holo_scan(const char *path, const uint8_t *map, uint64_t size, const uint8_t salt[16],
                   struct holo_scan *out, struct pio_error *err);
static inline void holo_scan_free(struct holo_scan *s)
{
    free(s->entries);
    free(s->damage);
    s->entries = NULL;
    s->damage = NULL;
}

/* ---- HOLO 2.0 index records (holo_index.c) ---- */

/* A COMMIT record, structurally checked (pio__holo_parse_commit); the
 * pointers are into the bytes it was parsed from. */
struct holo_commit {
    uint64_t off, len;
    uint64_t nframes, first, chain;
    uint32_t nentries, flags, nlinks;
    uint64_t full_off, full_n;
    const uint8_t *full_head; /* H(head) of that FULL INDEX, 32 bytes */
    const uint8_t *digest;    /* 32 bytes */
    const uint8_t *links;     /* nlinks x 48: offset, nframes, hash */
    const uint8_t *entries;   /* nentries x 32 (struct holo_entry) */
    const uint8_t *hash;      /* the record's stored hash */
};

/* Parse the COMMIT record at `off` (structure only; no hash):
 * PIO_ECORRUPT naming the file and offset. */
int pio__holo_parse_commit(const char *path, const uint8_t *map, uint64_t size, uint64_t off,
                           const uint8_t salt[16], struct holo_commit *c, struct pio_error *err);

/* The newest commit of a 2.0 file: the footer in its last 32 bytes names a
 * COMMIT record that ends there, parses, and whose hash holds. */
bool pio__holo_tail_commit(const uint8_t *map, uint64_t size, const uint8_t salt[16],
                           struct holo_commit *c);

/* A FULL INDEX record, structurally checked; pointers into the mapping. */
struct holo_full {
    uint64_t off, len, n;
    uint32_t nentries, npages;
    const uint8_t *table; /* npages x 40: first frame, H(page) */
    const uint8_t *pages; /* page k at pages + k * 32 KiB */
    uint64_t head_len;
};
int pio__holo_parse_full(const char *path, const uint8_t *map, uint64_t size, uint64_t off,
                         const uint8_t salt[16], struct holo_full *fi, struct pio_error *err);
/* Bytes of page k of a FULL INDEX (entries, padded to 64). */
static inline uint64_t holo_full_page_len(const struct holo_full *fi, uint32_t k)
{
    uint64_t left = fi->nentries - (uint64_t)k * HOLO_PAGE_ENTRIES;
    return holo_pad64((left < HOLO_PAGE_ENTRIES ? left : HOLO_PAGE_ENTRIES) * HOLO_ENTRY_SIZE);
}

/* What a writer or recovery puts in a COMMIT record. */
struct holo_commit_in {
    uint64_t off; /* where it goes */
    uint64_t nframes, first, chain;
    uint32_t flags;
    const struct holo_entry *entries; /* frames first .. nframes-1 */
    uint32_t nentries;
    uint64_t full_off, full_n;
    uint8_t full_head[32];
    uint8_t digest[32];
    const uint8_t *links; /* nlinks x 48 */
    uint32_t nlinks;
    uint32_t align; /* end the record on a multiple of this (0: 64) */
};
/* Build it into a malloc'd buffer; -ENOMEM. */
int pio__holo_build_commit(const struct holo_commit_in *in, const uint8_t salt[16], uint8_t **out,
                           uint64_t *out_len);

/* Build a FULL INDEX of n entries into a malloc'd buffer; head_hash
 * gets H(head). -ENOMEM, or PIO_ELIMIT past 2^32 - 1 entries. */
int pio__holo_build_full(const struct holo_entry *e, uint64_t n, const uint8_t salt[16],
                         uint8_t **out, uint64_t *out_len, uint8_t head_hash[32]);

/* Number of back links commit `chain` has (to chain - 2^j for every
 * 2^j dividing it, where that commit exists: 0 only with a FULL INDEX). */
static inline uint32_t holo_nlinks(uint64_t chain, bool has_full)
{
    if (chain == 0)
        return 0;
    uint32_t tz = (uint32_t)__builtin_ctzll(chain);
    bool pow2 = (chain & (chain - 1)) == 0; /* its longest link is to commit 0 */
    return tz + 1 - (pow2 && !has_full ? 1u : 0u);
}

#endif /* PIO_HOLO_LAYOUT_H */
