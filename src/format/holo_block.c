/*
 * format: BLOCK records (HOLO 2.1, docs/FORMAT.md "BLOCK record"): several
 * frames of one shape whose arrays are coded together, frame 0 alone and
 * each later frame from the one before, in atom groups that decode apart.
 *
 * The parser trusts nothing: every count, table and payload is bounded by
 * the record before anything is sized by it, and each payload must be a
 * zstd frame of exactly the bytes its group and frame count say. The
 * layout is deterministic (tables, then payloads each 64-aligned in table
 * order, nothing between), so one set of frames has one record.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pio_codec.h"
#include "concurrent/pio_concurrent.h"
#include "format/holo_layout.h"

#include "common/pio_common.h"
#include "telemetry/pio_telemetry.h"

#define OFFX(o) ((unsigned long long)(o))

static const uint32_t array_bits[3] = {PIO_FIELD_POSITIONS, PIO_FIELD_VELOCITIES, PIO_FIELD_FORCES};

/* Byte sizes of a block's tables (frame table with boxes and scalars,
 * groups, payloads), each padded to 64; false past 2^64. */
static bool block_tables(uint32_t nframes, uint32_t fields, uint32_t nscalars, uint32_t ngroups,
                         uint32_t narrays, uint64_t *frame_tab, uint64_t *group_tab,
                         uint64_t *payload_tab)
{
    uint64_t bb = holo_block_box_bytes(fields);
    uint64_t boxes = !(fields & PIO_FIELD_BOX)        ? 0
                     : (fields & HOLO_BLOCK_BOX_ONCE) ? bb
                                                      : (uint64_t)nframes * bb;
    /* nframes <= 2^16, nscalars <= 4096 (checked first), ngroups and
     * narrays 32-bit: no product overflows */
    *frame_tab = holo_pad64((uint64_t)nframes * 16 + boxes +
                            (uint64_t)nframes * nscalars * HOLO_SCALAR_SIZE);
    *group_tab = holo_pad64((uint64_t)ngroups * 16);
    *payload_tab = holo_pad64((uint64_t)narrays * ngroups * 16);
    return true;
}

int pio__holo_parse_block(const char *path, const uint8_t *rec, uint64_t len, uint64_t off,
                          uint64_t seq, uint64_t frame, struct holo_block *b, struct pio_error *err)
{
    memset(b, 0, sizeof(*b));
    if (len < HOLO_BLOCK_HDR)
        return pio_error_set(
            err, PIO_ECORRUPT,
            "%s: frame %llu at offset 0x%llx (a block from frame %llu): record shorter than its "
            "header",
            path, OFFX(frame), OFFX(off), OFFX(seq));
    b->rec = rec;
    b->off = off;
    b->len = len;
    b->first = seq;
    b->nframes = holo_rd32(rec + 64);
    b->fields = holo_rd32(rec + 68);
    b->natoms = holo_rd64(rec + 72);
    b->nscalars = holo_rd32(rec + 80);
    b->ngroups = holo_rd32(rec + 84);
    memcpy(&b->precision, rec + 104, 8);
    uint32_t known = PIO_FIELD_POSITIONS | PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES | PIO_FIELD_BOX |
                     HOLO_BLOCK_BOX_ONCE | HOLO_BLOCK_BOX_DIAG | HOLO_BLOCK_BOX_LOWER;
    uint32_t compact = HOLO_BLOCK_BOX_DIAG | HOLO_BLOCK_BOX_LOWER;
    bool lossy = false;
    bool bad = b->nframes == 0 || b->nframes > HOLO_BLOCK_MAX_FRAMES || b->natoms == 0 ||
               b->natoms > PIO_HOLO_MAX_ATOMS || b->nscalars > PIO_HOLO_MAX_SCALARS ||
               b->ngroups == 0 || b->ngroups > b->natoms || (b->fields & ~known) ||
               !(b->fields & PIO_FIELD_POSITIONS) ||
               ((b->fields & HOLO_BLOCK_BOX_ONCE) && !(b->fields & PIO_FIELD_BOX)) ||
               ((b->fields & compact) && !(b->fields & PIO_FIELD_BOX)) ||
               (b->fields & compact) == compact || holo_rd32(rec + 100) != 0 ||
               holo_rd64(rec + 112) != 0 || holo_rd64(rec + 120) != 0;
    for (int a = 0; a < 3 && !bad; a++) {
        uint32_t c = holo_rd32(rec + 88 + 4 * a);
        if (!(b->fields & array_bits[a])) {
            bad = c != 0;
            continue;
        }
        if (c != PIO_CODEC_LOSSY && c != PIO_CODEC_LOSSLESS && c != HOLO_BLOCK_RAW)
            return pio_error_set(
                err, c > HOLO_BLOCK_RAW ? PIO_EVERSION : PIO_ECORRUPT,
                "%s: frame %llu at offset 0x%llx (a block from frame %llu): codec %u not supported "
                "in a block",
                path, OFFX(frame), OFFX(off), OFFX(seq), c);
        b->codec[a] = (uint8_t)c;
        b->narrays++;
        lossy |= c == PIO_CODEC_LOSSY;
        b->raw |= c == HOLO_BLOCK_RAW;
    }
    if (!bad)
        bad = lossy ? !(b->precision > 0 && b->precision < 1e30) : b->precision != 0;
    /* raw arrays (2.2): every array raw, in one group */
    for (int a = 0; a < 3 && !bad && b->raw; a++)
        bad = (b->fields & array_bits[a]) && b->codec[a] != HOLO_BLOCK_RAW;
    if (!bad && b->raw)
        bad = b->ngroups != 1;
    /* each frame takes at least its 16 bytes of steps and times; and a
     * block of several frames decodes to at most HOLO_BLOCK_MAX_BYTES per
     * array (one frame: as a FRAME record, its payload's own bound), so a
     * small record cannot claim gigabytes */
    if (!bad)
        bad = b->nframes > len / 16 ||
              (b->nframes > 1 && b->natoms * 12 * b->nframes > HOLO_BLOCK_MAX_BYTES);
    if (bad)
        return pio_error_set(
            err, PIO_ECORRUPT,
            "%s: frame %llu at offset 0x%llx (a block from frame %llu): invalid header (%u "
            "frames, %llu atoms, %u groups, fields %#x)",
            path, OFFX(frame), OFFX(off), OFFX(seq), b->nframes, OFFX(b->natoms), b->ngroups,
            b->fields);
    uint64_t ft, gt, pt;
    block_tables(b->nframes, b->fields, b->nscalars, b->ngroups, b->narrays, &ft, &gt, &pt);
    if (ft > len - HOLO_BLOCK_HDR || gt > len - HOLO_BLOCK_HDR - ft ||
        pt > len - HOLO_BLOCK_HDR - ft - gt)
        return pio_error_set(
            err, PIO_ECORRUPT,
            "%s: frame %llu at offset 0x%llx (a block from frame %llu): tables past the record's "
            "length %llu",
            path, OFFX(frame), OFFX(off), OFFX(seq), OFFX(len));
    uint64_t at = HOLO_BLOCK_HDR;
    b->times = rec + at;
    uint64_t boxes = 0;
    if (b->fields & PIO_FIELD_BOX) {
        uint64_t bb = holo_block_box_bytes(b->fields);
        b->boxes = rec + at + (uint64_t)b->nframes * 16;
        boxes = (b->fields & HOLO_BLOCK_BOX_ONCE) ? bb : (uint64_t)b->nframes * bb;
    }
    b->scalars = rec + at + (uint64_t)b->nframes * 16 + boxes;
    /* scalar names: every frame's when `frame` is the block's first (the
     * scan, verify), else the frame read's (a read of each frame of a
     * large block would otherwise check them all each time) */
    uint64_t k0 = frame == seq ? 0 : (frame - seq) * b->nscalars;
    uint64_t k1 = frame == seq ? (uint64_t)b->nframes * b->nscalars
                               : PIO_MIN(k0 + b->nscalars, (uint64_t)b->nframes * b->nscalars);
    for (uint64_t k = k0; k < k1; k++)
        if (memchr(b->scalars + k * HOLO_SCALAR_SIZE, '\0', PIO_SCALAR_NAME_SIZE) == NULL)
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s: frame %llu at offset 0x%llx (a block from frame %llu): "
                                 "scalar name not terminated",
                                 path, OFFX(frame), OFFX(off), OFFX(seq));
    at += ft;
    b->groups = rec + at;
    uint64_t next = 0;
    for (uint32_t g = 0; g < b->ngroups; g++) {
        uint64_t first = holo_block_group_first(b, g), n = holo_block_group_atoms(b, g);
        if (first != next || n == 0 || n > b->natoms - first)
            return pio_error_set(
                err, PIO_ECORRUPT,
                "%s: frame %llu at offset 0x%llx (a block from frame %llu): atom group %u "
                "(%llu atoms from %llu) does not follow the one before",
                path, OFFX(frame), OFFX(off), OFFX(seq), g, OFFX(n), OFFX(first));
        next = first + n;
    }
    if (next != b->natoms)
        return pio_error_set(
            err, PIO_ECORRUPT,
            "%s: frame %llu at offset 0x%llx (a block from frame %llu): atom groups cover %llu of "
            "%llu atoms",
            path, OFFX(frame), OFFX(off), OFFX(seq), OFFX(next), OFFX(b->natoms));
    at += gt;
    b->payloads = rec + at;
    at += pt;
    for (uint32_t s = 0; s < b->narrays; s++) {
        for (uint32_t g = 0; g < b->ngroups; g++) {
            const uint8_t *e = b->payloads + ((uint64_t)s * b->ngroups + g) * 16;
            uint64_t po = holo_rd64(e), pl = holo_rd64(e + 8);
            uint64_t gn = holo_block_group_atoms(b, g);
            if (po != at || pl == 0 || pl > len - at || holo_pad64(pl) > len - at ||
                (b->raw ? pl != 12 * gn * b->nframes
                        : !pio__codec_frames_ok(rec + po, (size_t)pl, b->nframes, gn)))
                return pio_error_set(
                    err, PIO_ECORRUPT,
                    "%s: frame %llu at offset 0x%llx (a block from frame %llu): payload %u of "
                    "group %u (%llu bytes at offset 0x%llx) is not a payload of "
                    "%u frames of %llu atoms",
                    path, OFFX(frame), OFFX(off), OFFX(seq), s, g, OFFX(pl), OFFX(off + po),
                    b->nframes, OFFX(holo_block_group_atoms(b, g)));
            at += holo_pad64(pl);
        }
    }
    if (at != len)
        return pio_error_set(
            err, PIO_ECORRUPT,
            "%s: frame %llu at offset 0x%llx (a block from frame %llu): record length %llu, its "
            "tables imply %llu",
            path, OFFX(frame), OFFX(off), OFFX(seq), OFFX(len), OFFX(at));
    return 0;
}

void pio__holo_block_frame(const struct holo_block *b, uint32_t k, struct pio_frame *out)
{
    memset(out, 0, sizeof(*out));
    out->natoms = b->natoms;
    out->fields =
        b->fields & (PIO_FIELD_POSITIONS | PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES | PIO_FIELD_BOX);
    out->nscalars = b->nscalars;
    memcpy(&out->step, b->times + (uint64_t)k * 16, 8);
    memcpy(&out->time, b->times + (uint64_t)k * 16 + 8, 8);
    if (b->boxes) {
        uint64_t bb = holo_block_box_bytes(b->fields);
        const uint8_t *p = b->boxes + ((b->fields & HOLO_BLOCK_BOX_ONCE) ? 0 : (uint64_t)k * bb);
        if (bb == 72) {
            memcpy(out->box, p, 72);
        } else { /* the stored values in place, zeros elsewhere */
            double v[6];
            memcpy(v, p, (size_t)bb);
            static const int diag[3][2] = {{0, 0}, {1, 1}, {2, 2}};
            static const int lower[6][2] = {{0, 0}, {1, 0}, {1, 1}, {2, 0}, {2, 1}, {2, 2}};
            const int(*at)[2] = bb == 24 ? diag : lower;
            for (uint64_t j = 0; j < bb / 8; j++)
                out->box[at[j][0]][at[j][1]] = v[j];
        }
    }
    out->scalars =
        b->nscalars
            ? (const struct pio_scalar *)(b->scalars + (uint64_t)k * b->nscalars * HOLO_SCALAR_SIZE)
            : NULL;
    out->index = b->first + k;
    out->offset = b->off;
    if (b->raw) { /* in place: frame k's rows of the one group */
        const float(**arr[3])[3] = {&out->positions, &out->velocities, &out->forces};
        uint32_t slot = 0;
        for (int a = 0; a < 3; a++) {
            if (!b->codec[a])
                continue;
            uint64_t pl;
            const uint8_t *p = holo_block_payload(b, slot++, 0, &pl);
            *arr[a] = (const float(*)[3])(const void *)(p + (uint64_t)k * b->natoms * 12);
        }
    }
}

/* ---- payloads coded on the worker pool ---- */

/* Codec scratch (zstd contexts, buffers) of the calling thread, for the
 * payload tasks below: pool threads keep theirs until they exit. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_key_ok;

static void scratch_tls_free(void *p)
{
    pio__codec_scratch_free(p);
    free(p);
}

static void scratch_key_make(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_tls_free) == 0;
}

static struct pio__codec_scratch *thread_scratch(void)
{
    pthread_once(&scratch_once, scratch_key_make);
    struct pio__codec_scratch *s = scratch_key_ok ? pthread_getspecific(scratch_key) : NULL;
    if (scratch_key_ok && !s && (s = calloc(1, sizeof(*s))) &&
        pthread_setspecific(scratch_key, s) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

/* Payloads below this many decoded bytes in all are coded on the calling
 * thread: handing them out costs more than it saves. */
#define PARALLEL_MIN ((uint64_t)1 << 20)

/* One payload: an array's group of atoms in every frame of a block. */
struct pay_task {
    struct pio_task task; /* first member: the pool hands it back */
    unsigned codec;
    uint32_t nframes;
    uint64_t first, natoms, stride; /* group's first atom and atoms; atoms per frame row */
    double precision;
    int level;
    float *base;        /* frame 0's row: decode into, or encode from */
    const uint8_t *in;  /* decode: the payload */
    uint8_t *out;       /* encode: room for the payload */
    size_t len, cap;    /* payload length (encode: out), capacity of out */
    uint32_t bad_frame; /* encode: a value lossy cannot hold */
    uint64_t bad;
    int array; /* decode: which array and group (messages, the cache) */
    uint32_t group;
    int rc;
};

static void pay_run(struct pio_task *t)
{
    struct pay_task *k = (struct pay_task *)t;
    struct pio__codec_scratch *s = thread_scratch();
    float(**frames)[3] = malloc((size_t)k->nframes * sizeof(*frames));
    if (!s || !frames) {
        free(frames);
        k->rc = -ENOMEM;
        return;
    }
    for (uint32_t f = 0; f < k->nframes; f++)
        frames[f] = (float(*)[3])(k->base + ((size_t)f * k->stride + k->first) * 3);
    size_t row = (size_t)k->natoms * 12;
    if (k->codec == HOLO_BLOCK_RAW) { /* rows one after the other */
        k->rc = 0;
        if (k->in && k->len != row * k->nframes)
            k->rc = PIO_ECORRUPT;
        for (uint32_t f = 0; f < k->nframes && k->rc == 0; f++)
            if (k->in)
                memcpy(frames[f], k->in + f * row, row);
            else
                memcpy(k->out + f * row, frames[f], row);
        if (!k->in)
            k->len = row * k->nframes;
    } else if (k->in)
        k->rc = pio__codec_decode_frames(k->codec, k->in, k->len, k->nframes, k->natoms,
                                         k->precision, frames, s);
    else
        k->rc = pio__codec_encode_frames(k->codec, (const float(*const *)[3])frames, k->nframes,
                                         k->natoms, k->precision, k->level, k->out, k->cap, &k->len,
                                         &k->bad_frame, &k->bad, s);
    free(frames);
}

/* Run tasks[0 .. n) on the pool (this thread takes part) or, for little
 * work, here. */
static void pay_all(struct pay_task *tasks, size_t n, uint64_t bytes)
{
    if (n < 2 || bytes < PARALLEL_MIN) {
        for (size_t k = 0; k < n; k++)
            pay_run(&tasks[k].task);
        return;
    }
    unsigned want = pio_cpu_count();
    bool *queued = calloc(n, sizeof(*queued));
    for (size_t k = 1; k < n; k++) {
        tasks[k].task = (struct pio_task){pay_run, NULL, NULL, PIO_TASK_QUEUED};
        if (queued && !(queued[k] = pio_workers_submit(&tasks[k].task, want)))
            pay_run(&tasks[k].task); /* no pool (after fork) */
        else if (!queued)
            pay_run(&tasks[k].task);
    }
    pay_run(&tasks[0].task);
    for (size_t k = 1; queued && k < n; k++)
        if (queued[k])
            pio_workers_wait(&tasks[k].task);
    free(queued);
}

int pio__holo_build_block(const struct holo_block_in *in, uint64_t seq, const uint8_t salt[16],
                          uint8_t **out, uint64_t *out_len, uint64_t bad[3])
{
    uint64_t ga = in->group_atoms ? in->group_atoms : in->natoms;
    uint64_t ng64 = (in->natoms + ga - 1) / ga;
    if (in->nframes == 0 || in->natoms == 0 || ng64 > UINT32_MAX)
        return PIO_EUSAGE;
    uint32_t ngroups = (uint32_t)ng64, narrays = 0;
    for (int a = 0; a < 3; a++)
        narrays += in->arrays[a] != NULL;
    /* every payload coded apart (on the pool for a large block) */
    size_t ntask = (size_t)narrays * ngroups, k = 0;
    struct pay_task *tasks = calloc(ntask, sizeof(*tasks));
    int rc = tasks ? 0 : -ENOMEM;
    for (int a = 0; a < 3 && rc == 0; a++) {
        if (!in->arrays[a])
            continue;
        for (uint32_t g = 0; g < ngroups && rc == 0; g++, k++) {
            uint64_t first = (uint64_t)g * ga, n = PIO_MIN(ga, in->natoms - first);
            struct pay_task *t = &tasks[k];
            t->codec = in->codec[a];
            t->nframes = in->nframes;
            t->first = first;
            t->natoms = n;
            t->stride = in->natoms;
            t->precision = in->precision;
            t->level = in->level;
            t->base = (float *)in->arrays[a]; /* only read: encoding */
            t->cap = t->codec == HOLO_BLOCK_RAW ? (size_t)(n * 12 * in->nframes)
                                                : pio__codec_bound(n * in->nframes);
            if (!(t->out = malloc(t->cap)))
                rc = -ENOMEM;
        }
    }
    if (rc == 0)
        pay_all(tasks, ntask, in->natoms * 12 * in->nframes * narrays);
    for (k = 0; k < ntask && rc == 0; k++) {
        if ((rc = tasks[k].rc) == PIO_ELIMIT) {
            uint32_t slot = (uint32_t)(k / ngroups);
            for (int a = 0; a < 3; a++) /* the array of slot `slot` */
                if (in->arrays[a] && slot-- == 0) {
                    bad[0] = (uint64_t)a;
                    break;
                }
            bad[1] = tasks[k].bad_frame;
            bad[2] = tasks[k].first + tasks[k].bad;
        }
    }
    uint32_t fields = in->fields & (PIO_FIELD_POSITIONS | PIO_FIELD_VELOCITIES | PIO_FIELD_FORCES |
                                    PIO_FIELD_BOX);
    if ((fields & PIO_FIELD_BOX) && in->boxes) {
        bool same = true;
        for (uint32_t t = 1; t < in->nframes && same; t++)
            same = memcmp(in->boxes + (size_t)t * 9, in->boxes, 72) == 0;
        if (same)
            fields |= HOLO_BLOCK_BOX_ONCE;
        /* boxes whose other entries are all +0.0 (bit for bit: -0.0 is
         * kept) stored as their diagonal or lower triangle */
        static const double zero = 0.0;
        bool diag = in->compact_boxes, lower = in->compact_boxes;
        uint32_t nb = same ? 1 : in->nframes;
        for (uint32_t t = 0; t < nb && (diag || lower); t++) {
            const double *x = in->boxes + (size_t)t * 9;
            bool up = memcmp(&x[1], &zero, 8) == 0 && memcmp(&x[2], &zero, 8) == 0 &&
                      memcmp(&x[5], &zero, 8) == 0;
            lower = lower && up;
            diag = diag && up && memcmp(&x[3], &zero, 8) == 0 && memcmp(&x[6], &zero, 8) == 0 &&
                   memcmp(&x[7], &zero, 8) == 0;
        }
        fields |= diag ? HOLO_BLOCK_BOX_DIAG : lower ? HOLO_BLOCK_BOX_LOWER : 0;
    }
    uint64_t ft, gt, pt;
    block_tables(in->nframes, fields, in->nscalars, ngroups, narrays, &ft, &gt, &pt);
    uint64_t head = HOLO_BLOCK_HDR + ft + gt + pt, len = head;
    for (k = 0; k < ntask && rc == 0; k++)
        len += holo_pad64(tasks[k].len);
    uint8_t *p = rc == 0 ? calloc(1, (size_t)len) : NULL;
    if (rc == 0 && !p)
        rc = -ENOMEM;
    if (rc != 0) {
        for (k = 0; tasks && k < ntask; k++)
            free(tasks[k].out);
        free(tasks);
        return rc;
    }
    holo_put_rec_header(p, HOLO_REC_BLOCK, len, seq, salt);
    holo_wr32(p + 64, in->nframes);
    holo_wr32(p + 68, fields);
    holo_wr64(p + 72, in->natoms);
    holo_wr32(p + 80, in->nscalars);
    holo_wr32(p + 84, ngroups);
    bool lossy = false;
    for (int a = 0; a < 3; a++) {
        uint32_t c = in->arrays[a] ? in->codec[a] : 0;
        holo_wr32(p + 88 + 4 * a, c);
        lossy |= c == PIO_CODEC_LOSSY;
    }
    double prec = lossy ? in->precision : 0;
    memcpy(p + 104, &prec, 8);
    uint8_t *q = p + HOLO_BLOCK_HDR;
    for (uint32_t t = 0; t < in->nframes; t++) {
        memcpy(q + (size_t)t * 16, &in->steps[t], 8);
        memcpy(q + (size_t)t * 16 + 8, &in->times[t], 8);
    }
    q += (size_t)in->nframes * 16;
    if (fields & PIO_FIELD_BOX) {
        size_t nb = (fields & HOLO_BLOCK_BOX_ONCE) ? 1 : in->nframes;
        size_t bb = (size_t)holo_block_box_bytes(fields);
        static const int diag[3] = {0, 4, 8}, lower[6] = {0, 3, 4, 6, 7, 8};
        for (size_t t = 0; t < nb; t++, q += bb) {
            const double *x = in->boxes + t * 9;
            if (bb == 72)
                memcpy(q, x, 72);
            else
                for (size_t j = 0; j < bb / 8; j++)
                    memcpy(q + j * 8, &x[(bb == 24 ? diag : lower)[j]], 8);
        }
    }
    if (in->nscalars)
        memcpy(q, in->scalars, (size_t)in->nframes * in->nscalars * HOLO_SCALAR_SIZE);
    q = p + HOLO_BLOCK_HDR + ft;
    for (uint32_t g = 0; g < ngroups; g++) {
        holo_wr64(q + (size_t)g * 16, (uint64_t)g * ga);
        holo_wr64(q + (size_t)g * 16 + 8, PIO_MIN(ga, in->natoms - (uint64_t)g * ga));
    }
    /* the payload table, and the payloads in its order (zero padding from
     * calloc) */
    uint8_t *table = p + HOLO_BLOCK_HDR + ft + gt;
    uint64_t at = head;
    for (k = 0; k < ntask; k++) {
        holo_wr64(table + k * 16, at);
        holo_wr64(table + k * 16 + 8, tasks[k].len);
        memcpy(p + at, tasks[k].out, tasks[k].len);
        at += holo_pad64(tasks[k].len);
        free(tasks[k].out);
    }
    free(tasks);
    *out = p;
    *out_len = len;
    return 0;
}

void pio__holo_block_cache_free(struct holo_block_cache *c)
{
    for (int a = 0; a < 3; a++)
        free(c->arr[a]);
    free(c->done);
    memset(c, 0, sizeof(*c));
}

/* Make c the cache of block b (nothing decoded yet) unless it is. */
static int cache_take(uint64_t owner, const struct holo_block *b, unsigned mask,
                      struct holo_block_cache *c)
{
    /* the same reader, record and shape: what is cached is this block's */
    bool same = c->valid && c->owner == owner && c->off == b->off &&
                memcmp(c->hash, b->rec + HOLO_HASH_OFF, 32) == 0 && c->natoms == b->natoms &&
                c->nframes == b->nframes && c->ngroups == b->ngroups &&
                memcmp(c->codec, b->codec, 3) == 0;
    if (!same) {
        c->valid = false;
        size_t nd = (size_t)b->ngroups * 3;
        if (c->done_cap < nd) {
            free(c->done);
            c->done_cap = 0;
            if (!(c->done = malloc(nd)))
                return -ENOMEM;
            c->done_cap = nd;
        }
        memset(c->done, 0, nd);
    }
    size_t floats = (size_t)b->nframes * (size_t)b->natoms * 3; /* bounded by the parse */
    for (int a = 0; a < 3; a++) {
        if (!(mask & (1u << a)) || !b->codec[a])
            continue;
        /* an array too small for this block (whatever block it last held),
         * or, on a change of block, far larger: sized to this one, its
         * groups decoded again */
        if (c->cap[a] < floats || (!same && c->cap[a] > 4 * floats + ((size_t)1 << 18))) {
            free(c->arr[a]);
            c->cap[a] = 0;
            memset(c->done + (size_t)a * b->ngroups, 0, b->ngroups);
            if (!(c->arr[a] = malloc(floats * sizeof(float)))) {
                c->valid = false;
                return -ENOMEM;
            }
            c->cap[a] = floats;
        }
    }
    if (!same) {
        c->owner = owner;
        memcpy(c->hash, b->rec + HOLO_HASH_OFF, 32);
        memcpy(c->codec, b->codec, 3);
        c->off = b->off;
        c->natoms = b->natoms;
        c->nframes = b->nframes;
        c->ngroups = b->ngroups;
        c->valid = true;
    }
    return 0;
}

/* The first group holding atom x (groups are contiguous and in order). */
static uint32_t group_of(const struct holo_block *b, uint64_t x)
{
    uint32_t lo = 0, hi = b->ngroups - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (holo_block_group_first(b, mid) <= x)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Decode groups g0 .. g1 of each array in mask (those `done` does not
 * mark; done NULL: all) into base[a] (frame t's atom x at (t * natoms + x)
 * * 3), one task per payload, on the pool when `parallel` and large; each
 * decoded one is marked in done. PIO_ECORRUPT naming the file, frame,
 * array, atoms and offset; -ENOMEM. */
static int decode_groups(const char *path, uint64_t file, const struct holo_block *b,
                         uint64_t frame, unsigned mask, uint32_t g0, uint32_t g1, uint8_t *done,
                         float *const base[3], bool parallel, struct pio_error *err)
{
    static const char *const what[3] = {"positions", "velocities", "forces"};
    struct pay_task one, *tasks = &one;
    size_t ntask = 0, cap = 1;
    uint64_t bytes = 0;
    for (int pass = 0; pass < 2; pass++) {
        ntask = 0;
        uint32_t slot = 0;
        for (int a = 0; a < 3; a++) {
            if (!b->codec[a])
                continue;
            uint32_t my = slot++;
            if (!(mask & (1u << a)))
                continue;
            for (uint32_t g = g0; g <= g1; g++) {
                if (done && done[(size_t)a * b->ngroups + g])
                    continue;
                if (pass == 1) {
                    struct pay_task *t = &tasks[ntask];
                    memset(t, 0, sizeof(*t));
                    t->codec = b->codec[a];
                    t->nframes = b->nframes;
                    t->first = holo_block_group_first(b, g);
                    t->natoms = holo_block_group_atoms(b, g);
                    t->stride = b->natoms;
                    t->precision = b->precision;
                    t->base = base[a];
                    t->in = holo_block_payload(b, my, g, &bytes);
                    t->len = (size_t)bytes;
                    t->array = a;
                    t->group = g;
                }
                ntask++;
            }
        }
        if (pass == 0) {
            if (ntask == 0)
                return 0;
            if (ntask > cap && !(tasks = malloc(ntask * sizeof(*tasks))))
                return pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory", path,
                                     OFFX(frame));
        }
    }
    uint64_t decoded = 0;
    for (size_t k = 0; k < ntask; k++)
        decoded += tasks[k].natoms * 12 * b->nframes;
    uint64_t t0 = pio_tm_start();
    pay_all(tasks, ntask, parallel ? decoded : 0);
    /* one event per decode of a block's groups (file: the reader's uid) */
    pio_tm_end(PIO_OP_DECODE, 0, file, b->first, decoded, t0, 0);
    int rc = 0;
    for (size_t k = 0; k < ntask; k++) {
        struct pay_task *t = &tasks[k];
        int a = t->array;
        if (t->rc == 0) {
            if (done)
                done[(size_t)a * b->ngroups + t->group] = 1;
            continue;
        }
        if (rc == 0)
            rc = pio_error_set(err, t->rc == PIO_ECORRUPT ? PIO_ECORRUPT : t->rc,
                               "%s: frame %llu at offset 0x%llx: %s of atoms %llu..%llu (%s, "
                               "%llu bytes at offset 0x%llx) %s",
                               path, OFFX(frame), OFFX(b->off), what[a], OFFX(t->first),
                               OFFX(t->first + t->natoms - 1), pio__codec_name(b->codec[a]),
                               OFFX(t->len), OFFX(b->off + (uint64_t)(t->in - b->rec)),
                               t->rc == PIO_ECORRUPT ? "do not decode" : pio_strerror(t->rc));
    }
    if (tasks != &one)
        free(tasks);
    return rc;
}

int pio__holo_block_fetch(const char *path, uint64_t owner, const struct holo_block *b,
                          uint64_t frame, unsigned mask, uint64_t a0, uint64_t n, bool parallel,
                          struct holo_block_cache *c, struct pio_error *err)
{
    if (n == 0)
        return 0;
    if (cache_take(owner, b, mask, c) != 0) {
        c->valid = false;
        return pio_error_set(err, -ENOMEM, "%s: frame %llu: out of memory to decode its block",
                             path, OFFX(frame));
    }
    int rc = decode_groups(path, owner, b, frame, mask, group_of(b, a0), group_of(b, a0 + n - 1),
                           c->done, c->arr, parallel, err);
    if (rc == -ENOMEM)
        c->valid = false;
    return rc;
}

int pio__holo_block_decode_into(const char *path, const struct holo_block *b, uint64_t frame, int a,
                                float *dst, bool parallel, struct pio_error *err)
{
    float *base[3] = {NULL, NULL, NULL};
    base[a] = dst;
    return decode_groups(path, 0, b, frame, 1u << a, 0, b->ngroups - 1, NULL, base, parallel, err);
}

int pio__holo_block_fetch_atoms(const char *path, uint64_t owner, const struct holo_block *b,
                                uint64_t frame, unsigned mask, const uint64_t *atoms, uint64_t nsel,
                                bool parallel, struct holo_block_cache *c, struct pio_error *err)
{
    if (!atoms)
        return pio__holo_block_fetch(path, owner, b, frame, mask, 0, nsel, parallel, c, err);
    for (uint64_t j = 0; j < nsel;) {
        uint32_t g = group_of(b, atoms[j]);
        uint64_t end = holo_block_group_first(b, g) + holo_block_group_atoms(b, g);
        int rc = pio__holo_block_fetch(path, owner, b, frame, mask, atoms[j], 1, parallel, c, err);
        if (rc != 0)
            return rc;
        while (j < nsel && atoms[j] < end) /* the rest of this group's atoms */
            j++;
    }
    return 0;
}
