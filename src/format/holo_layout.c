/*
 * HOLO layout checks: everything that decides whether bytes from a file
 * may be trusted, in one place (see holo_layout.h and docs/FORMAT.md).
 */
#include <errno.h>
#include <stdlib.h>

#include "format/holo_layout.h"
#include "codec/pio_codec.h"

#include "common/pio_common.h"

#define OFFX(o) ((unsigned long long)(o))

int pio__holo_frame_layout(uint64_t natoms, uint32_t fields, uint32_t nscalars,
                           struct holo_frame_layout *out)
{
    if (natoms > PIO_HOLO_MAX_ATOMS || nscalars > PIO_HOLO_MAX_SCALARS)
        return PIO_ELIMIT;
    if (!(fields & PIO_FIELD_POSITIONS) ||
        (fields & ~(uint32_t)(PIO_FIELD_POSITIONS | PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES |
                              PIO_FIELD_BOX | PIO_FIELD_ARRAYS)))
        return PIO_ECORRUPT;
    uint64_t a = holo_pad64(natoms * 12);
    uint64_t off = HOLO_FRAME_HDR + a;
    out->array_bytes = a;
    out->vel_off = (fields & PIO_FIELD_VELOCITIES) ? off : 0;
    off += (fields & PIO_FIELD_VELOCITIES) ? a : 0;
    out->force_off = (fields & PIO_FIELD_FORCES) ? off : 0;
    off += (fields & PIO_FIELD_FORCES) ? a : 0;
    out->scalar_off = off;
    out->length = off + holo_pad64((uint64_t)nscalars * HOLO_SCALAR_SIZE);
    return 0;
}

int pio__holo_meta_layout(uint64_t natoms, uint64_t nbonds, uint64_t meta_bytes,
                          struct holo_meta_layout *out)
{
    /* Bound every count so the sums below cannot overflow. */
    if (natoms > PIO_HOLO_MAX_ATOMS || nbonds > ((uint64_t)1 << 40) ||
        meta_bytes > ((uint64_t)1 << 40))
        return PIO_ELIMIT;
    uint64_t off = HOLO_META_HDR;
    out->names = off;
    off += holo_pad64(natoms * 8);
    out->elements = off;
    off += holo_pad64(natoms * 4);
    out->resnames = off;
    off += holo_pad64(natoms * 8);
    out->chains = off;
    off += holo_pad64(natoms * 4);
    out->resids = off;
    off += holo_pad64(natoms * 4);
    out->masses = off;
    off += holo_pad64(natoms * 4);
    out->charges = off;
    off += holo_pad64(natoms * 4);
    out->bonds = off;
    off += holo_pad64(nbonds * 8);
    out->meta = off;
    off += holo_pad64(meta_bytes);
    out->length = off;
    return 0;
}

int pio__holo_check_header(const char *path, const uint8_t *map, uint64_t size,
                           struct holo_header *h, struct pio_error *err)
{
    if (size < sizeof(HOLO_MAGIC) || memcmp(map, HOLO_MAGIC, sizeof(HOLO_MAGIC)) != 0)
        return pio_error_set(err, PIO_EFORMAT, "%s: not a HOLO file (bad magic at offset 0)", path);
    if (size < HOLO_HEADER_SIZE)
        return pio_error_set(err, PIO_ETRUNCATED,
                             "%s: file of %llu bytes ends inside the 128-byte header", path,
                             OFFX(size));
    uint8_t hash[32];
    pio_blake3_hash(hash, 32, map, HOLO_HEADER_HASHED);
    if (memcmp(hash, map + HOLO_HEADER_HASHED, 32) != 0)
        return pio_error_set(err, PIO_ECHECKSUM, "%s: header checksum mismatch at offset 0x60",
                             path);
    uint16_t major, minor;
    memcpy(&major, map + 8, 2);
    memcpy(&minor, map + 10, 2);
    if (major != 1 && major != PIO_HOLO_VERSION_MAJOR)
        return pio_error_set(err, PIO_EVERSION,
                             "%s: format version %u.%u, this library reads 1.x and %u.x", path,
                             major, minor, PIO_HOLO_VERSION_MAJOR);
    if (holo_rd32(map + 12) != HOLO_HEADER_SIZE)
        return pio_error_set(err, PIO_ECORRUPT, "%s: header size %u at offset 0xc, expected 128",
                             path, holo_rd32(map + 12));
    uint64_t required = holo_rd64(map + 16);
    if (major == 2 && (required & HOLO_REQ_ZSTD) && !pio__codec_built())
        return pio_error_set(err, PIO_ENOTSUPPORTED,
                             "%s: the file is compressed (required feature flags %#llx at offset "
                             "0x10), and this build has no zstd (libzstd-dev)",
                             path, OFFX(required));
    if (major == 2 && (required & HOLO_REQ_RAW_BLOCK) && !(required & HOLO_REQ_BLOCK))
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: required feature flags %#llx at offset 0x10: raw blocks (bit 2) "
                             "without blocks (bit 0)",
                             path, OFFX(required));
    if (major == 2)
        required &=
            ~(uint64_t)(HOLO_REQ_ZSTD | HOLO_REQ_BLOCK | HOLO_REQ_RAW_BLOCK | HOLO_REQ_ARRAYS);
    if (required != 0)
        return pio_error_set(err, PIO_EVERSION,
                             "%s: required feature flags %#llx at offset 0x10 are unknown to "
                             "this library",
                             path, OFFX(required));
    h->optional = holo_rd64(map + 24);
    h->required = holo_rd64(map + 16);
    h->major = major;
    h->minor = minor;
    memcpy(h->salt, map + 32, 16);
    return 0;
}

void pio__holo_record_hash(const uint8_t *rec, uint64_t len, unsigned threads, uint8_t out[32])
{
    static const uint8_t zeros[32];
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    if (len <= HOLO_GATHER_MAX) {
        /* one piece: BLAKE3 then takes all whole chunks through its SIMD
         * tier at once (in three pieces the chunks straddle them and most
         * are hashed a block at a time) */
        uint8_t buf[HOLO_GATHER_MAX];
        memcpy(buf, rec, (size_t)len);
        memset(buf + HOLO_HASH_OFF, 0, 32);
        pio_blake3_hasher_update(&h, buf, (size_t)len);
    } else {
        pio_blake3_hasher_update(&h, rec, HOLO_HASH_OFF);
        pio_blake3_hasher_update(&h, zeros, 32);
        pio_blake3_hasher_update_mt(&h, rec + HOLO_REC_HDR, (size_t)(len - HOLO_REC_HDR), threads);
    }
    pio_blake3_hasher_finalize(&h, out, 32);
}

int pio__holo_check_record_buf(const char *path, const uint8_t *p, uint64_t avail, uint64_t off,
                               const uint8_t salt[16], uint32_t *type, uint64_t *len, uint64_t *seq,
                               struct pio_error *err)
{
    if (off % 64 != 0 || off < HOLO_HEADER_SIZE || avail < HOLO_REC_HDR)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: record at offset 0x%llx is misaligned or past the end", path,
                             OFFX(off));
    if (memcmp(p, HOLO_REC_MAGIC, 4) != 0)
        return pio_error_set(err, PIO_ECORRUPT, "%s: no record magic at offset 0x%llx", path,
                             OFFX(off));
    uint32_t t = holo_rd32(p + 4);
    uint64_t l = holo_rd64(p + 8);
    if (t < HOLO_REC_META || t > HOLO_REC_PAD)
        return pio_error_set(err, PIO_ECORRUPT, "%s: unknown record type %u at offset 0x%llx", path,
                             t, OFFX(off));
    if (l < HOLO_REC_HDR || l % 64 != 0 || l > avail)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: record at offset 0x%llx has length %llu (file has %llu bytes "
                             "after it)",
                             path, OFFX(off), OFFX(l), OFFX(avail));
    if (memcmp(p + 24, salt, 8) != 0)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: record at offset 0x%llx belongs to another file (salt)", path,
                             OFFX(off));
    *type = t;
    *len = l;
    *seq = holo_rd64(p + 16);
    return 0;
}

int pio__holo_check_record(const char *path, const uint8_t *map, uint64_t size, uint64_t off,
                           const uint8_t salt[16], uint32_t *type, uint64_t *len, uint64_t *seq,
                           struct pio_error *err)
{
    if (off > size)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: record at offset 0x%llx is misaligned or past the end", path,
                             OFFX(off));
    return pio__holo_check_record_buf(path, map + off, size - off, off, salt, type, len, seq, err);
}

PIO_API size_t pio_dtype_size(uint32_t dtype)
{
    static const uint8_t size[] = {0, 1, 4, 8, 4, 8, 1};
    return dtype < sizeof(size) ? size[dtype] : 0;
}

PIO_API const char *pio_dtype_name(uint32_t dtype)
{
    static const char *const name[] = {NULL, "u8", "i32", "i64", "f32", "f64", "char"};
    return dtype < sizeof(name) / sizeof(name[0]) ? name[dtype] : NULL;
}

uint64_t pio__holo_array_bytes(uint64_t natoms, uint32_t dtype, uint32_t per_atom, uint32_t width)
{
    size_t es = pio_dtype_size(dtype);
    if (!es || per_atom > 1 || width == 0 || width > PIO_HOLO_MAX_WIDTH ||
        natoms > PIO_HOLO_MAX_ATOMS)
        return UINT64_MAX;
    return (per_atom ? natoms : 1) * width * es; /* < 2^54: no overflow */
}

void pio__holo_array_at(const uint8_t *rec, uint64_t at, uint32_t k, struct pio_array *out)
{
    const uint8_t *e = rec + at + (uint64_t)k * HOLO_ARRAY_ENTRY;
    memcpy(out->name, e, PIO_ARRAY_NAME_SIZE);
    out->dtype = holo_rd32(e + 32);
    out->per_atom = holo_rd32(e + 36);
    out->width = holo_rd32(e + 40);
    out->reserved = 0;
    out->data = rec + holo_rd64(e + 48);
}

/* The named arrays of a FRAME record (2.3): a table of narrays 64-byte
 * entries at `at`, then each array's values where its entry says, which is
 * exactly after the previous one's padding. *end: where the last ends. */
static int parse_arrays(const char *path, const uint8_t *rec, uint64_t len, uint64_t off,
                        uint64_t seq, uint64_t natoms, uint64_t at, uint32_t narrays, uint64_t *end,
                        struct pio_error *err)
{
    uint64_t pos = at + (uint64_t)narrays * HOLO_ARRAY_ENTRY;
    if (pos > len)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: %u named arrays past the record's "
                             "length %llu",
                             path, OFFX(seq), OFFX(off), narrays, OFFX(len));
    for (uint32_t k = 0; k < narrays; k++) {
        const uint8_t *e = rec + at + (uint64_t)k * HOLO_ARRAY_ENTRY;
        uint64_t bytes =
            pio__holo_array_bytes(natoms, holo_rd32(e + 32), holo_rd32(e + 36), holo_rd32(e + 40));
        const char *why = NULL;
        if (e[0] == '\0' || memchr(e, '\0', PIO_ARRAY_NAME_SIZE) == NULL)
            why = "its name is empty or not terminated";
        else if (bytes == UINT64_MAX || holo_rd32(e + 44) != 0)
            why = "its type, rows or width are invalid";
        else if (holo_rd64(e + 56) != bytes)
            why = "its length is not what its shape holds";
        else if (holo_rd64(e + 48) != pos || pos > len || bytes > len - pos)
            why = "its values are out of place";
        if (why)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: named array %u (entry at "
                                 "offset 0x%llx): %s",
                                 path, OFFX(seq), OFFX(off), k, OFFX(off + (uint64_t)(e - rec)),
                                 why);
        pos += holo_pad64(bytes);
    }
    *end = pos;
    return 0;
}

int pio__holo_parse_frame_coded(const char *path, const uint8_t *rec, uint64_t len, uint64_t off,
                                uint64_t seq, struct pio_frame *out, struct holo_coded *coded,
                                struct pio_error *err)
{
    if (len < HOLO_FRAME_HDR)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: record of %llu bytes is too short",
                             path, OFFX(seq), OFFX(off), OFFX(len));
    uint64_t natoms = holo_rd64(rec + 64);
    uint32_t fields = holo_rd32(rec + 72);
    uint32_t nscalars = holo_rd32(rec + 76);
    struct holo_frame_layout lay;
    int rc = pio__holo_frame_layout(natoms, fields, nscalars, &lay);
    if (rc != 0)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: invalid header (atoms %llu, "
                             "fields %#x, scalars %u)",
                             path, OFFX(seq), OFFX(off), OFFX(natoms), fields, nscalars);
    uint32_t codecs = holo_rd32(rec + 172);
    if (holo_rd32(rec + 168) != 1 || (codecs >> 24) != 0)
        return pio_error_set(err, PIO_EVERSION,
                             "%s: frame %llu at offset 0x%llx: element type %u / codec %#x not "
                             "supported",
                             path, OFFX(seq), OFFX(off), holo_rd32(rec + 168), codecs);
    /* the arrays one after the other: raw ones pad64(12 natoms), coded
     * ones pad64(16 + their payload's length), each bounded by the record */
    const uint32_t bits[3] = {PIO_FIELD_POSITIONS, PIO_FIELD_VELOCITIES, PIO_FIELD_FORCES};
    const float(*arr[3])[3] = {NULL, NULL, NULL};
    struct holo_coded cd;
    memset(&cd, 0, sizeof(cd));
    uint64_t at = HOLO_FRAME_HDR;
    for (int a = 0; a < 3; a++) {
        unsigned c = (codecs >> (8 * a)) & 0xff;
        if (!(fields & bits[a])) {
            if (c != 0)
                return pio_error_set(err, PIO_ECORRUPT,
                                     "%s: frame %llu at offset 0x%llx: a codec for an absent "
                                     "array",
                                     path, OFFX(seq), OFFX(off));
            continue;
        }
        if (c > PIO_CODEC_LOSSLESS)
            return pio_error_set(err, PIO_EVERSION,
                                 "%s: frame %llu at offset 0x%llx: codec %u not supported", path,
                                 OFFX(seq), OFFX(off), c);
        uint64_t size = lay.array_bytes;
        if (c != 0) {
            if (len - at < HOLO_CODED_HDR)
                return pio_error_set(err, PIO_ECORRUPT,
                                     "%s: frame %llu at offset 0x%llx: coded array past the "
                                     "record",
                                     path, OFFX(seq), OFFX(off));
            cd.codec[a] = (uint8_t)c;
            cd.at[a] = at;
            cd.len[a] = holo_rd32(rec + at);
            memcpy(&cd.precision[a], rec + at + 8, 8);
            cd.payload[a] = rec + at + HOLO_CODED_HDR;
            size = holo_pad64(HOLO_CODED_HDR + cd.len[a]);
            if (holo_rd32(rec + at + 4) != 0 ||
                (c == PIO_CODEC_LOSSY ? !(cd.precision[a] > 0 && cd.precision[a] < 1e30)
                                      : cd.precision[a] != 0))
                return pio_error_set(err, PIO_ECORRUPT,
                                     "%s: frame %llu at offset 0x%llx: coded array header at "
                                     "offset 0x%llx is invalid",
                                     path, OFFX(seq), OFFX(off), OFFX(off + at));
        } else {
            arr[a] = (const float(*)[3])(rec + at);
        }
        if (size > len - at)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: arrays past the record's "
                                 "length %llu",
                                 path, OFFX(seq), OFFX(off), OFFX(len));
        /* the payload must be what the atom count says (nothing is sized
         * by natoms before this) */
        if (c != 0 && !pio__codec_payload_ok(cd.payload[a], (size_t)cd.len[a], natoms))
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: coded array at offset 0x%llx "
                                 "is not a payload of %llu atoms",
                                 path, OFFX(seq), OFFX(off), OFFX(off + at), OFFX(natoms));
        at += size;
    }
    uint64_t want = at + holo_pad64((uint64_t)nscalars * HOLO_SCALAR_SIZE);
    uint32_t narrays = holo_rd32(rec + 176);
    if ((narrays != 0) != ((fields & PIO_FIELD_ARRAYS) != 0) || narrays > PIO_HOLO_MAX_ARRAYS)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: %u named arrays with fields %#x",
                             path, OFFX(seq), OFFX(off), narrays, fields);
    if (narrays) {
        rc = parse_arrays(path, rec, len, off, seq, natoms, want, narrays, &want, err);
        if (rc != 0)
            return rc;
        cd.arrays_at = at + holo_pad64((uint64_t)nscalars * HOLO_SCALAR_SIZE);
        cd.narrays = narrays;
    }
    if (want != len)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: frame %llu at offset 0x%llx: record length %llu, its header "
                             "implies %llu",
                             path, OFFX(seq), OFFX(off), OFFX(len), OFFX(want));
    const struct pio_scalar *sc = (const struct pio_scalar *)(rec + at);
    for (uint32_t i = 0; i < nscalars; i++)
        if (memchr(sc[i].name, '\0', PIO_SCALAR_NAME_SIZE) == NULL)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx: scalar %u name not terminated",
                                 path, OFFX(seq), OFFX(off), i);
    out->natoms = natoms;
    out->fields = fields;
    out->nscalars = nscalars;
    memcpy(&out->step, rec + 80, 8);
    memcpy(&out->time, rec + 88, 8);
    memcpy(out->box, rec + 96, 72);
    out->positions = arr[0];
    out->velocities = arr[1];
    out->forces = arr[2];
    out->scalars = nscalars ? sc : NULL;
    out->index = seq;
    out->offset = off;
    if (coded)
        *coded = cd;
    return 0;
}

int pio__holo_parse_frame(const char *path, const uint8_t *rec, uint64_t len, uint64_t off,
                          uint64_t seq, struct pio_frame *out, struct pio_error *err)
{
    return pio__holo_parse_frame_coded(path, rec, len, off, seq, out, NULL, err);
}

/* ---- 2.0 index records: COMMIT and FULL INDEX structure ---- */

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
    /* a frame's least bytes: a FRAME record, or in a block (file header's
     * bit) its 16 of step and time plus its 32-byte index entry */
    uint64_t least = (holo_rd64(map + 16) & HOLO_REQ_BLOCK) ? 16 + 32 : HOLO_FRAME_HDR;
    uint64_t body = HOLO_COMMIT_HDR + (uint64_t)c->nlinks * HOLO_LINK_SIZE +
                    (uint64_t)c->nentries * HOLO_ENTRY_SIZE + HOLO_FOOTER2_SIZE;
    const uint8_t *f = p + len - HOLO_FOOTER2_SIZE;
    if (len < body)
        why = "its links and entries do not fit its length";
    else if (c->flags & ~HOLO_COMMIT_FLAGS || !(c->flags & HOLO_COMMIT_ONE_FRAME))
        why = "unknown flags";
    else if (seq != c->nframes || c->first > c->nframes || c->nframes - c->first != c->nentries)
        why = "its frame counts disagree";
    else if (c->nframes > size / least || c->full_n > c->nframes)
        why = "it holds more frames than the file can";
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

int pio__holo_parse_meta(const char *path, const uint8_t *rec, uint64_t len, uint64_t off,
                         struct holo_meta_view *out, struct pio_error *err)
{
    if (len < HOLO_META_HDR)
        return pio_error_set(err, PIO_ECORRUPT, "%s: metadata record at offset 0x%llx too short",
                             path, OFFX(off));
    uint64_t natoms = holo_rd64(rec + 64), nbonds = holo_rd64(rec + 72);
    uint64_t nmeta = holo_rd64(rec + 80), meta_bytes = holo_rd64(rec + 88);
    struct holo_meta_layout lay;
    if (pio__holo_meta_layout(natoms, nbonds, meta_bytes, &lay) != 0 || lay.length != len)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: metadata record at offset 0x%llx: counts (atoms %llu, bonds "
                             "%llu, %llu metadata bytes) do not match its length %llu",
                             path, OFFX(off), OFFX(natoms), OFFX(nbonds), OFFX(meta_bytes),
                             OFFX(len));
    const uint32_t(*bonds)[2] = (const uint32_t(*)[2])(rec + lay.bonds);
    for (uint64_t i = 0; i < nbonds; i++)
        if (bonds[i][0] >= natoms || bonds[i][1] >= natoms)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: metadata record at offset 0x%llx: bond %llu names an atom "
                                 "past %llu",
                                 path, OFFX(off), OFFX(i), OFFX(natoms));
    /* nmeta pairs of NUL-terminated strings filling meta_bytes exactly; a
     * pair takes at least 3 bytes, which also keeps 2 * nmeta from wrapping */
    if (nmeta > meta_bytes / 3)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: metadata record at offset 0x%llx: %llu pairs cannot fit in "
                             "%llu bytes",
                             path, OFFX(off), OFFX(nmeta), OFFX(meta_bytes));
    const char *m = (const char *)(rec + lay.meta);
    uint64_t pos = 0;
    for (uint64_t i = 0; i < 2 * nmeta; i++) {
        const char *nul = memchr(m + pos, '\0', (size_t)(meta_bytes - pos));
        if (!nul || (i % 2 == 0 && nul == m + pos))
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: metadata record at offset 0x%llx: pair %llu malformed", path,
                                 OFFX(off), OFFX(i / 2));
        pos = (uint64_t)(nul - m) + 1;
    }
    if (pos != meta_bytes)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s: metadata record at offset 0x%llx: %llu stray metadata bytes",
                             path, OFFX(off), OFFX(meta_bytes - pos));
    struct pio_topology *t = &out->top;
    t->natoms = natoms;
    t->nbonds = nbonds;
    t->names = (const char(*)[8])(rec + lay.names);
    t->elements = (const char(*)[4])(rec + lay.elements);
    t->resnames = (const char(*)[8])(rec + lay.resnames);
    t->chains = (const char(*)[4])(rec + lay.chains);
    t->resids = (const int32_t *)(rec + lay.resids);
    t->masses = (const float *)(rec + lay.masses);
    t->charges = (const float *)(rec + lay.charges);
    t->bonds = bonds;
    out->nmeta = nmeta;
    out->meta = m;
    out->meta_bytes = meta_bytes;
    return 0;
}

void pio__holo_footer_hash(const uint8_t footer[32], const uint8_t index_hash[32],
                           const uint8_t salt[16], uint8_t out[32])
{
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    pio_blake3_hasher_update(&h, footer, 32);
    pio_blake3_hasher_update(&h, index_hash, 32);
    pio_blake3_hasher_update(&h, salt, 16);
    pio_blake3_hasher_finalize(&h, out, 32);
}

bool pio__holo_footer_valid(const uint8_t *map, uint64_t size, uint64_t off, const uint8_t salt[16],
                            uint64_t *index_off, uint64_t *index_len)
{
    if (off > size || size - off < HOLO_FOOTER_SIZE || off % 64 != 0)
        return false;
    const uint8_t *f = map + off;
    if (memcmp(f, HOLO_FOOTER_MAGIC, 8) != 0)
        return false;
    uint64_t io = holo_rd64(f + 8), il = holo_rd64(f + 16), n = holo_rd64(f + 24);
    if (io < HOLO_HEADER_SIZE || io > off || off - io != il)
        return false;
    uint32_t type = 0;
    uint64_t len = 0, seq = 0;
    if (pio__holo_check_record("", map, size, io, salt, &type, &len, &seq, NULL) != 0 ||
        type != HOLO_REC_INDEX || len != il || seq != n)
        return false;
    uint8_t want[32];
    pio__holo_footer_hash(f, map + io + HOLO_HASH_OFF, salt, want);
    if (memcmp(want, f + HOLO_HASH_OFF, 32) != 0)
        return false;
    /* The footer's hash covers the INDEX record's stored hash, not its
     * bytes: a commit is valid only if those bytes still match it (else a
     * damaged index behind an intact footer would pass for a commit). */
    pio__holo_record_hash(map + io, il, 0, want);
    if (memcmp(want, map + io + HOLO_HASH_OFF, 32) != 0)
        return false;
    *index_off = io;
    *index_len = il;
    return true;
}

static int scan_push(const char *path, struct holo_scan *s, const struct holo_entry *e,
                     struct pio_error *err)
{
    if (s->nframes == s->cap) {
        uint64_t cap = s->cap ? s->cap * 2 : 256;
        struct holo_entry *n = realloc(s->entries, (size_t)cap * sizeof(*n));
        if (!n)
            return pio_error_set(err, -ENOMEM, "%s: out of memory for %llu index entries", path,
                                 OFFX(cap));
        s->entries = n;
        s->cap = cap;
    }
    s->entries[s->nframes++] = *e;
    return 0;
}

static int damage_push(const char *path, struct holo_scan *s, const struct holo_damage *d,
                       struct pio_error *err)
{
    if (s->ndamage == s->damage_cap) {
        uint64_t cap = s->damage_cap ? s->damage_cap * 2 : 16;
        struct holo_damage *n = realloc(s->damage, (size_t)cap * sizeof(*n));
        if (!n)
            return pio_error_set(err, -ENOMEM, "%s: out of memory for %llu damaged ranges", path,
                                 OFFX(cap));
        s->damage = n;
        s->damage_cap = cap;
    }
    s->damage[s->ndamage++] = *d;
    return 0;
}

/* A record valid wherever it stands: structure, hash, and a body that
 * parses. The caller checks its place (sequence, order). */
static bool scan_record_ok(const uint8_t *map, uint64_t size, uint64_t pos, const uint8_t salt[16],
                           uint32_t *type, uint64_t *len, uint64_t *seq, uint8_t hash[32],
                           uint64_t *budget, bool *spent)
{
    if (pio__holo_check_record("", map, size, pos, salt, type, len, seq, NULL) != 0)
        return false;
    /* structure first (cheap), then the hash */
    if (*type == HOLO_REC_META) {
        struct holo_meta_view mv;
        if (pio__holo_parse_meta("", map + pos, *len, pos, &mv, NULL) != 0)
            return false;
    } else if (*type == HOLO_REC_FRAME) {
        struct pio_frame f;
        if (pio__holo_parse_frame("", map + pos, *len, pos, *seq, &f, NULL) != 0)
            return false;
    } else if (*type == HOLO_REC_BLOCK) {
        struct holo_block b; /* only in a file whose header announces blocks */
        if (!(holo_rd64(map + 16) & HOLO_REQ_BLOCK) ||
            pio__holo_parse_block("", map + pos, *len, pos, *seq, *seq, &b, NULL) != 0)
            return false;
    } else if (*type == HOLO_REC_COMMIT) {
        struct holo_commit c;
        if (pio__holo_parse_commit("", map, size, pos, salt, &c, NULL) != 0)
            return false;
    } else if (*type == HOLO_REC_FULL) {
        struct holo_full fi;
        if (pio__holo_parse_full("", map, size, pos, salt, &fi, NULL) != 0)
            return false;
    }
    if (budget) {
        if (*len > *budget) {
            *spent = true;
            return false;
        }
        *budget -= *len;
    }
    pio__holo_record_hash(map + pos, *len, 1, hash);
    return memcmp(hash, map + pos + HOLO_HASH_OFF, 32) == 0;
}

/* The first offset after `pos` (64-aligned, as every record is) where a
 * valid FRAME or INDEX record with a sequence of at least `nframes` starts:
 * where the scan resumes after a damaged range. A cheap test of the magic,
 * salt and structure comes first; only candidates are hashed, within the
 * scan's budget (hostile bytes full of candidate headers would otherwise
 * cost a hash of up to the file for each). 1 found, 0 none, -1 budget
 * spent at *next. */
static int scan_resync(const uint8_t *map, uint64_t size, uint64_t pos, const uint8_t salt[16],
                       uint64_t nframes, uint64_t *budget, uint64_t *next, uint64_t *next_seq)
{
    for (uint64_t q = pos + 64; q <= size && size - q >= HOLO_REC_HDR; q += 64) {
        if (memcmp(map + q, HOLO_REC_MAGIC, 4) != 0 || memcmp(map + q + 24, salt, 8) != 0)
            continue;
        uint32_t type = 0;
        uint64_t len = 0, seq = 0;
        if (pio__holo_check_record("", map, size, q, salt, &type, &len, &seq, NULL) != 0 ||
            type == HOLO_REC_META || seq < nframes)
            continue;
        uint8_t hash[32];
        bool spent = false;
        if (scan_record_ok(map, size, q, salt, &type, &len, &seq, hash, budget, &spent)) {
            *next = q;
            *next_seq = seq;
            return 1;
        }
        if (spent) {
            *next = q;
            return -1;
        }
    }
    return 0;
}

/* Pieces of a damaged range [a, b): records whose header still checks
 * (their type known), footers, and blobs (bytes with no readable header). */
struct scan_piece {
    uint64_t off, len;
    uint32_t type; /* HOLO_REC_*, 0 for a blob, PIECE_FOOTER for a 1.x footer */
};
#define PIECE_FOOTER 0x100u

/* The shortest record of a type: a shorter header is not believed. */
static uint64_t piece_min(uint32_t type)
{
    return type == HOLO_REC_FRAME  ? HOLO_FRAME_HDR
           : type == HOLO_REC_META ? HOLO_META_HDR
                                   : HOLO_INDEX_HDR;
}

static int scan_pieces(const uint8_t *map, uint64_t size, uint64_t a, uint64_t b,
                       const uint8_t salt[16], struct scan_piece **out, uint64_t *nout)
{
    struct scan_piece *p = NULL;
    uint64_t n = 0, cap = 0;
    for (uint64_t c = a; c < b;) {
        uint32_t type = 0;
        uint64_t len = 0, seq;
        if (pio__holo_check_record("", map, size, c, salt, &type, &len, &seq, NULL) == 0 &&
            len <= b - c && len >= piece_min(type)) {
            /* a record header that still checks */
        } else if (b - c >= HOLO_FOOTER_SIZE && memcmp(map + c, HOLO_FOOTER_MAGIC, 8) == 0) {
            type = PIECE_FOOTER;
            len = HOLO_FOOTER_SIZE;
        } else {
            type = 0;
            len = 64;
            while (c + len < b) {
                const uint8_t *q = map + c + len;
                uint32_t t2 = 0;
                uint64_t l2 = 0, s2 = 0;
                if (memcmp(q, HOLO_FOOTER_MAGIC, 8) == 0 ||
                    (pio__holo_check_record("", map, size, c + len, salt, &t2, &l2, &s2, NULL) ==
                         0 &&
                     l2 <= b - c - len && l2 >= piece_min(t2)))
                    break;
                len += 64;
            }
            if (len > b - c)
                len = b - c;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct scan_piece *np = realloc(p, (size_t)cap * sizeof(*p));
            if (!np) {
                free(p);
                return -ENOMEM;
            }
            p = np;
        }
        p[n++] = (struct scan_piece){c, len, type};
        c += len;
    }
    *out = p;
    *nout = n;
    return 0;
}

/* The index entry of a damaged frame placed at [off, off + len): the step
 * and time its record still holds (own_header) or the previous frame's; the
 * digest takes the hash the writer stored there. */
static int place_frame(const char *path, const uint8_t *map, struct holo_scan *s, uint64_t off,
                       uint64_t len, bool own_header, struct pio_error *err)
{
    struct holo_entry e = {off, len, 0, 0};
    struct pio_frame f;
    if (own_header && pio__holo_parse_frame("", map + off, len, off, s->nframes, &f, NULL) == 0) {
        e.step = f.step;
        e.time = f.time;
    } else if (s->nframes > 0) {
        e.step = s->entries[s->nframes - 1].step;
        e.time = s->entries[s->nframes - 1].time;
    }
    return scan_push(path, s, &e, err);
}

/* Frames a BLOCK piece's header says it holds, if that can be believed
 * (1 to HOLO_BLOCK_MAX_FRAMES, its table of steps and times inside it),
 * else 0. */
static uint64_t piece_block_frames(const uint8_t *map, const struct scan_piece *x)
{
    if (x->len < HOLO_BLOCK_HDR)
        return 0;
    uint64_t k = holo_rd32(map + x->off + 64);
    return k >= 1 && k <= HOLO_BLOCK_MAX_FRAMES && k <= (x->len - HOLO_BLOCK_HDR) / 16 ? k : 0;
}

/* Account for a damaged range [a, b) in which the frames s->nframes ..
 * s->nframes + m - 1 must lie (the next valid record says so): give each
 * an index entry. Records whose header still says FRAME are taken first;
 * frames whose header is gone are placed in the blobs (one per blob, the
 * rest spread over the largest), where reading them fails. Returns 1 if
 * the frames cannot be placed, 0 when placed, or -ENOMEM. */
static int scan_place(const char *path, const uint8_t *map, uint64_t size, const uint8_t salt[16],
                      uint64_t a, uint64_t b, uint64_t m, struct holo_scan *s,
                      struct pio_error *err)
{
    struct scan_piece *p;
    uint64_t n;
    if (scan_pieces(map, size, a, b, salt, &p, &n) != 0)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    uint64_t nf = 0, nb = 0, big = UINT64_MAX;
    for (uint64_t i = 0; i < n; i++) {
        if (p[i].type == HOLO_REC_BLOCK && !piece_block_frames(map, &p[i]))
            p[i].type = 0; /* a block header that does not hold: a blob */
        if (p[i].type == HOLO_REC_FRAME || p[i].type == HOLO_REC_BLOCK) {
            /* An intact frame record here is out of order (the search
             * resumed at the first intact one numbered nframes or more):
             * a duplicate or a moved record, which no numbering keeps. */
            uint8_t h[32];
            pio__holo_record_hash(map + p[i].off, p[i].len, 1, h);
            if (memcmp(h, map + p[i].off + HOLO_HASH_OFF, 32) == 0) {
                free(p);
                return 1;
            }
            nf += p[i].type == HOLO_REC_BLOCK ? piece_block_frames(map, &p[i]) : 1;
        } else if (p[i].type != PIECE_FOOTER && p[i].type != HOLO_REC_META &&
                   p[i].len >= HOLO_FRAME_HDR) {
            /* blobs, and records whose type may be what was damaged */
            nb++;
            if (big == UINT64_MAX || p[i].len > p[big].len)
                big = i;
        }
    }
    uint64_t first = s->nframes;
    int rc = 0;
    if (m == 0) /* no frame lies there: an old INDEX record, a footer */
        goto out;
    rc = 1;
    if (nf > m || (nf < m && nb == 0))
        goto out;
    uint64_t extra = nf < m ? m - nf - PIO_MIN(nb, m - nf) : 0;
    if (nf < m && nb > m - nf) /* more blobs than frames: the frames go in the first */
        nb = m - nf;
    rc = 0;
    uint64_t blobs_used = 0;
    for (uint64_t i = 0; i < n && s->nframes < first + m && rc == 0; i++) {
        const struct scan_piece *x = &p[i];
        uint64_t k = 0; /* frames placed in this piece */
        if (x->type == HOLO_REC_BLOCK) {
            /* a damaged block: its frames all name it (reading them fails
             * on its checks), with the steps and times its table holds */
            k = PIO_MIN(piece_block_frames(map, x), first + m - s->nframes);
            for (uint64_t j = 0; j < k && rc == 0; j++) {
                struct holo_entry e = {x->off, x->len, 0, 0};
                memcpy(&e.step, map + x->off + HOLO_BLOCK_HDR + 16 * j, 8);
                memcpy(&e.time, map + x->off + HOLO_BLOCK_HDR + 16 * j + 8, 8);
                rc = scan_push(path, s, &e, err);
            }
            continue;
        }
        if (x->type == HOLO_REC_FRAME)
            k = 1;
        else if (nf < m && x->type != PIECE_FOOTER && x->type != HOLO_REC_META &&
                 x->len >= HOLO_FRAME_HDR && blobs_used < nb) {
            k = 1 + (i == big ? extra : 0);
            blobs_used++;
        }
        if (k == 0)
            continue;
        uint64_t step = k > 1 ? x->len / 64 / k * 64 : x->len;
        if (step < HOLO_FRAME_HDR) {
            rc = 1;
            break;
        }
        for (uint64_t j = 0; j < k && rc == 0; j++)
            rc = place_frame(path, map, s, x->off + j * step, j + 1 < k ? step : x->len - j * step,
                             k == 1 && x->type == HOLO_REC_FRAME, err);
    }
    if (rc == 0 && s->nframes != first + m)
        rc = 1;
out:
    free(p);
    if (rc != 1)
        return rc;
    /* The headers mislead (a damaged length, more frame headers than
     * frames): spread the m frames evenly over the range instead, if each
     * can have a frame's least size. Reading them fails all the same. */
    s->nframes = first;
    uint64_t step = m ? (b - a) / 64 / m * 64 : 0;
    if (step < HOLO_FRAME_HDR)
        return 1;
    for (uint64_t j = 0; j < m; j++)
        if ((rc = place_frame(path, map, s, a + j * step, j + 1 < m ? step : b - a - j * step,
                              false, err)) != 0)
            return rc;
    return 0;
}

/* A valid COMMIT record keeps only frames 0 .. n-1 (pio_writer_truncate):
 * the scan's view drops the rest (their records are dead bytes). */
static void scan_truncate(struct holo_scan *s, uint64_t n)
{
    s->nframes = n;
    uint64_t k = 0;
    s->damaged_frames = 0;
    for (uint64_t d = 0; d < s->ndamage; d++) {
        struct holo_damage x = s->damage[d];
        if (x.first_frame >= n && x.nframes)
            continue;
        if (x.first_frame + x.nframes > n)
            x.nframes = n - x.first_frame;
        s->damaged_frames += x.nframes;
        s->damage[k++] = x;
    }
    s->ndamage = k;
}

int pio__holo_scan(const char *path, const uint8_t *map, uint64_t size, const uint8_t salt[16],
                   struct holo_scan *s, struct pio_error *err)
{
    memset(s, 0, sizeof(*s));
    pio_blake3_hasher_init(&s->digest);
    uint64_t pos = HOLO_HEADER_SIZE;
    s->end = pos;
    /* bytes the resynchronising search may hash: a few times the file */
    uint64_t budget = 4 * size + ((uint64_t)64 << 20);
    while (pos < size) {
        /* every hash the scan computes is charged to the budget, so that
         * forged headers cannot make it quadratic */
        bool spent = false;
        uint64_t io, il;
        if (size - pos >= HOLO_FOOTER_SIZE && memcmp(map + pos, HOLO_FOOTER_MAGIC, 8) == 0) {
            il = holo_rd64(map + pos + 16); /* pio__holo_footer_valid hashes that index */
            if (il <= pos && il > budget) {
                s->unplaced = true;
                s->unplaced_next = pos;
                break;
            }
            budget -= il <= pos ? il : 0;
            if (pio__holo_footer_valid(map, size, pos, salt, &io, &il)) {
                pos += HOLO_FOOTER_SIZE;
                s->end = pos;
                continue;
            }
        }
        uint32_t type = 0;
        uint64_t len = 0, seq = 0;
        uint8_t hash[32];
        bool ok = pio__holo_check_record("", map, size, pos, salt, &type, &len, &seq, NULL) == 0;
        /* its place first (no hash for a record out of place): a META
         * record first of all; a frame the next one; an INDEX covering the
         * frames before it */
        bool truncates = false; /* 2.0: a commit dropping the frames from seq on */
        if (ok && type == HOLO_REC_META)
            ok = seq == 0 && !s->meta_len && !s->nframes && s->ndamage == 0;
        else if (ok && (type == HOLO_REC_FULL || type == HOLO_REC_COMMIT) && seq < s->nframes)
            truncates = type == HOLO_REC_COMMIT; /* (its FULL INDEX comes first) */
        else if (ok)
            ok = seq == s->nframes;
        if (ok)
            ok = scan_record_ok(map, size, pos, salt, &type, &len, &seq, hash, &budget, &spent);
        if (spent) {
            s->unplaced = true;
            s->unplaced_next = pos;
            break;
        }
        if (ok) {
            if (type == HOLO_REC_META) {
                s->meta_off = pos;
                s->meta_len = len;
            } else if (type == HOLO_REC_FRAME) {
                struct pio_frame f;
                pio__holo_parse_frame("", map + pos, len, pos, seq, &f, NULL);
                struct holo_entry e = {pos, len, f.step, f.time};
                int rc = scan_push(path, s, &e, err);
                if (rc != 0)
                    return rc;
            } else if (type == HOLO_REC_BLOCK) {
                struct holo_block b;
                pio__holo_parse_block("", map + pos, len, pos, seq, seq, &b, NULL);
                for (uint32_t k = 0; k < b.nframes; k++) {
                    struct pio_frame f;
                    pio__holo_block_frame(&b, k, &f);
                    struct holo_entry e = {pos, len, f.step, f.time};
                    int rc = scan_push(path, s, &e, err);
                    if (rc != 0)
                        return rc;
                }
            } else if (type == HOLO_REC_INDEX && holo_rd64(map + pos + 80)) {
                s->index_names_meta = true;
            } else if (truncates) {
                scan_truncate(s, seq);
            }
            pos += len;
            s->end = pos;
            continue;
        }
        /* Damaged bytes at pos. With no valid record after them they are
         * a torn tail; otherwise resume at the next valid record, and give
         * the frames in between entries (reading them then fails). */
        uint64_t next = 0, next_seq = 0;
        int found = scan_resync(map, size, pos, salt, s->nframes, &budget, &next, &next_seq);
        if (found == 0)
            break;
        if (found < 0) { /* too many false candidates to tell: keep what follows */
            s->unplaced = true;
            s->unplaced_next = next;
            break;
        }
        struct holo_damage d = {pos, next - pos, s->nframes, next_seq - s->nframes, false};
        if (pos == HOLO_HEADER_SIZE) { /* a META record's place: is one there? */
            uint32_t t = 0;
            uint64_t l = 0, q = 0;
            d.meta = pio__holo_check_record("", map, size, pos, salt, &t, &l, &q, NULL) != 0 ||
                     t == HOLO_REC_META;
        }
        int rc = scan_place(path, map, size, salt, pos, next, d.nframes, s, err);
        if (rc < 0)
            return rc;
        if (rc > 0) { /* the damage hides where its frames were: stop here */
            s->unplaced = true;
            s->unplaced_next = next;
            break;
        }
        if ((rc = damage_push(path, s, &d, err)) != 0)
            return rc;
        s->damaged_frames += d.nframes;
        pos = next;
        s->end = pos;
    }
    /* the digest of the view: the stored hashes of the META record and of
     * each frame (a damaged frame's too: where its record was placed) */
    if (s->meta_len)
        pio_blake3_hasher_update(&s->digest, map + s->meta_off + HOLO_HASH_OFF, 32);
    holo_digest_entries(&s->digest, map, s->entries, s->nframes);
    return 0;
}
