/*
 * prism-io: the HOLO trajectory format (.holo), writer and reader.
 *
 * Byte layout: docs/FORMAT.md. A writer appends frames and commits them
 * (crash-safe: a commit never rewrites committed bytes). A reader maps the
 * file and hands out zero-copy views whose arrays point into the mapping,
 * 64-byte aligned (4-byte aligned in packed small frames, HOLO 2.2).
 *
 * Thread-safety: a writer is used by one thread at a time. A reader is
 * immutable after opening: any number of threads may read frames and
 * verify concurrently.
 */
#ifndef PRISMIO_HOLO_H
#define PRISMIO_HOLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Newest format version this library writes: 2.3 where a file holds named
 * arrays (PIO_WRITER_ARRAYS), 2.2 where it packs small raw frames in BLOCK
 * records, 2.1 where it has compressed BLOCK records
 * (pio_writer_options.keyframe), else 2.0 (PIO_WRITER_FORMAT_1: 1.1); it
 * reads 1.x and 2.x. */
#define PIO_HOLO_VERSION_MAJOR 2
#define PIO_HOLO_VERSION_MINOR 3

/* A HOLO file's first 8 bytes (docs/FORMAT.md), as a string literal. */
#define PIO_HOLO_MAGIC       "\x89HOL\r\n\x1a\n"
#define PIO_HOLO_MAX_ATOMS   ((uint64_t)0x7fffffff)
#define PIO_HOLO_MAX_SCALARS 4096u

/* Fields of a frame (struct pio_frame.fields). */
enum pio_field {
    PIO_FIELD_POSITIONS = 1u << 0,
    PIO_FIELD_VELOCITIES = 1u << 1,
    PIO_FIELD_FORCES = 1u << 2,
    PIO_FIELD_BOX = 1u << 3,
    /* Set by readers on a frame whose record holds named arrays (HOLO 2.3:
     * pio_reader_frame_arrays); a writer ignores it (arrays are given to
     * pio_writer_append_arrays). */
    PIO_FIELD_ARRAYS = 1u << 4,
    /* Set by readers on a frame whose arrays were compressed in the file:
     * they point into a decoded copy, not the mapping (see
     * pio_reader_frame and pio_frame_stream_next for how long it lives). */
    PIO_FIELD_DECODED = 1u << 8,
};

/* How a frame's arrays are stored (docs/FORMAT.md, "Array codecs"):
 * raw (zero-copy), lossy at a precision in nm (decoded within precision/2,
 * plus the float32 rounding of the result), or lossless (bit-exact). The
 * compressed codecs need a build with libzstd, and a file that holds them
 * announces it (required feature bit 1: older readers refuse it). */
enum pio_codec {
    PIO_CODEC_NONE = 0,
    PIO_CODEC_LOSSY = 1,
    PIO_CODEC_LOSSLESS = 2,
};

/* A named per-frame value (energies, temperature, ...): 32 bytes, the same
 * layout as in the file, so a reader's scalars point into the mapping. */
#define PIO_SCALAR_NAME_SIZE 24
struct pio_scalar {
    char name[PIO_SCALAR_NAME_SIZE]; /* NUL-terminated, at most 23 chars */
    double value;
};

/*
 * Named arrays (HOLO 2.3): per-structure or per-atom values of any name
 * beside the fixed fields, for datasets of structures (atomic numbers,
 * periodicity, stress, charges, labels). A frame holds up to
 * PIO_HOLO_MAX_ARRAYS, each of `rows` x `width` values of one type, where
 * rows is the frame's atom count (per_atom) or 1. The file stores them
 * little-endian, 64-byte aligned, after the scalars (docs/FORMAT.md).
 */
enum pio_dtype {
    PIO_DTYPE_U8 = 1,
    PIO_DTYPE_I32 = 2,
    PIO_DTYPE_I64 = 3,
    PIO_DTYPE_F32 = 4,
    PIO_DTYPE_F64 = 5,
    /* text: `width` bytes a row, NUL-padded (not NUL-terminated when full) */
    PIO_DTYPE_CHAR = 6,
};
#define PIO_ARRAY_NAME_SIZE 32
#define PIO_HOLO_MAX_ARRAYS 1024u
#define PIO_HOLO_MAX_WIDTH  ((uint32_t)1 << 20)
struct pio_array {
    char name[PIO_ARRAY_NAME_SIZE]; /* NUL-terminated, 1 to 31 chars, unique in a frame */
    uint32_t dtype;                 /* enum pio_dtype */
    uint32_t per_atom;              /* 1: natoms rows; 0: one row */
    uint32_t width;                 /* values a row, 1 to PIO_HOLO_MAX_WIDTH */
    uint32_t reserved;              /* 0 */
    const void *data; /* rows x width values (a reader's: in the mapping, 64-aligned) */
};
/* Bytes of one value of a dtype (0 for an unknown one). */
PIO_API size_t pio_dtype_size(uint32_t dtype);
/* "u8", "i32", "i64", "f32", "f64", "char", or NULL for an unknown dtype. */
PIO_API const char *pio_dtype_name(uint32_t dtype);

/*
 * One frame. To append: fill natoms, positions (required), the optional
 * arrays (NULL when absent), box with PIO_FIELD_BOX in `fields` when
 * present, step, time and scalars; `fields` bits for arrays are derived
 * from the pointers. From a reader: every field is set; array pointers
 * point into the reader's mapping (valid until pio_reader_close) or are
 * NULL when absent.
 */
struct pio_frame {
    uint64_t natoms;
    uint32_t fields; /* enum pio_field bits */
    uint32_t nscalars;
    int64_t step;
    double time;                  /* ps */
    double box[3][3];             /* rows: box vectors a, b, c (nm) */
    const float (*positions)[3];  /* nm */
    const float (*velocities)[3]; /* nm/ps */
    const float (*forces)[3];     /* kJ/mol/nm */
    const struct pio_scalar *scalars;
    /* reader only: frame number and file offset of its record */
    uint64_t index;
    uint64_t offset;
};

/*
 * Topology: per-atom columns and bonds. For writing, any array may be NULL
 * (stored as zeros). From a reader, every array is non-NULL and points into
 * the mapping. Fixed-width strings are NUL-padded, not necessarily
 * NUL-terminated when they fill their field (use strnlen).
 */
struct pio_topology {
    uint64_t natoms;
    uint64_t nbonds;
    const char (*names)[8];
    const char (*elements)[4];
    const char (*resnames)[8];
    const char (*chains)[4];
    const int32_t *resids;
    const float *masses;  /* u */
    const float *charges; /* e */
    const uint32_t (*bonds)[2];
};

/* ---- writer ------------------------------------------------------------ */

typedef struct pio_writer pio_writer;

enum pio_writer_flags {
    PIO_WRITER_OVERWRITE = 1u << 0, /* create: replace an existing file */
    PIO_WRITER_NO_SYNC = 1u << 1,   /* commit without fdatasync (tests, scratch files) */
    /* Write with O_DIRECT (whole aligned blocks, staged; the page cache is
     * bypassed). Falls back to buffered writes, with a note in
     * pio_writer_io_info, where the filesystem refuses it or the file (1.0)
     * does not end on a block boundary. */
    PIO_WRITER_DIRECT = 1u << 2,
    /* create: the file may hold named arrays (HOLO 2.3, required feature
     * bit 3: readers before 2.3 refuse it): what pio_writer_append_arrays
     * needs. */
    PIO_WRITER_ARRAYS = 1u << 4,
    /* create: write HOLO 1.1, which prismio 0.1 also reads, instead of 2.0.
     * Each 1.1 commit rewrites the whole index (O(frames), 4 KiB padded):
     * for files committed once, not for per-frame commits. Appending to an
     * existing file keeps its version whatever this says. */
    PIO_WRITER_FORMAT_1 = 1u << 3,
};

struct pio_writer_options {
    uint32_t size; /* sizeof(struct pio_writer_options) */
    uint32_t flags;
    /* Engine for frame writes: PIO_IO_PREAD (pwritev; also what MMAP
     * means) or PIO_IO_URING (asynchronous: the record is copied to a
     * staging buffer and append returns while it is written; a write error
     * then surfaces at the next append or commit and fails the writer).
     * AUTO: PIO_IO_ENGINE from the environment, else pwrite. */
    enum pio_io_engine engine;
    /* NULL: a random salt. Else these 16 bytes, and creation time 0, so the
     * same frames give byte-identical files (tests, content addressing). */
    const uint8_t *salt;
    /* Threads that hash a pio_writer_append_many group, the caller's
     * included: 0 means every CPU, 1 the caller alone. Lower it where
     * other threads keep the cores busy (a pipeline's sink). */
    uint32_t hash_threads;
    /* create (HOLO 2.0): the codec of positions, velocities and forces
     * (enum pio_codec; all NONE: raw records, as before). Appending to a
     * file created without compression refuses any other. lossy needs
     * finite values within 2^31 precisions of zero (else PIO_ELIMIT
     * naming the frame and atom). */
    uint32_t codec[3];
    double precision; /* lossy, nm (0: 0.001, XTC's) */
    int32_t level;    /* zstd level (0: 3) */
    /* Compressed frames coded together in BLOCK records (HOLO 2.1) of up
     * to `keyframe` frames: the first alone, each later one from the frame
     * before it (about 40% smaller than frames coded alone on the bundled
     * trajectories); a frame read at random costs one block's decode.
     * 0: 32 where positions are compressed (and the file, when appending,
     * has blocks), else 1; 1:
     * each frame its own FRAME record (2.0); at most 65,536. Only frames
     * whose every array has a codec go into blocks. The writer holds up to
     * keyframe - 1 frames in memory until the block is full or the next
     * commit (an append whose block cannot be written fails, and the
     * frames before it stay held for the next try). A block is also cut
     * where the atom count, arrays, box presence or scalar names change,
     * and kept under 64 MiB per array. Large blocks are coded on the
     * worker pool.
     * Without any codec, keyframe above 1 packs small raw frames instead
     * (HOLO 2.2): frames whose arrays hold at most 4 KiB in all go K to a
     * BLOCK record, read in place like FRAME records (views 4-byte
     * aligned, not 64); larger frames stay FRAME records. A 10-atom frame
     * then costs 0.85-1.09x what DCD stores for it (one record a frame:
     * 1.76x). Appending to a file that packs: 0 means 128. */
    uint32_t keyframe;
    /* Atoms per group in a block (0: 4096): reading some atoms decodes
     * only the groups that hold them. */
    uint32_t group_atoms;
};
#define PIO_WRITER_OPTIONS_INIT                                                                    \
    {                                                                                              \
        sizeof(struct pio_writer_options), 0, PIO_IO_AUTO, NULL, 0, {0, 0, 0}, 0, 0, 0, 0          \
    }

/*
 * Create a new file (fails with -EEXIST if it exists, unless
 * PIO_WRITER_OVERWRITE) and write its header; nothing is durable before
 * the first commit. opts may be NULL; the path and salt are copied. On
 * success *out owns the file: the caller ends it with pio_writer_close.
 * On failure *out is NULL and the call returns -errno (open, write),
 * PIO_EFORMAT (path is not a regular file), PIO_ENOTSUPPORTED (a URL:
 * writers write local files; pio_sink_open of an s3:// URL uploads one)
 * or -ENOMEM, with the path in err's message (err may be NULL, for every
 * function here).
 */
PIO_API int pio_writer_create(pio_writer **out, const char *path,
                              const struct pio_writer_options *opts, struct pio_error *err);

/*
 * Open an existing file to append frames after its last one. A file whose
 * writer was killed is recovered first (as pio_holo_recover: no reader may
 * have it mapped then). Topology and metadata are those of the file and
 * can no longer change. *out as for pio_writer_create. Errors: those of
 * pio_holo_recover and pio_reader_open, -errno, -ENOMEM.
 */
PIO_API int pio_writer_open_append(pio_writer **out, const char *path,
                                   const struct pio_writer_options *opts, struct pio_error *err);

/* Set the topology (copied: top's arrays may be freed on return); a second
 * call replaces it. Only before the first append or commit, and never on a
 * writer from pio_writer_open_append (else PIO_EUSAGE). PIO_ELIMIT (too
 * many atoms or bonds), PIO_EUSAGE (a bond names an atom >= natoms),
 * -ENOMEM, or the error that failed the writer earlier. */
PIO_API int pio_writer_set_topology(pio_writer *w, const struct pio_topology *top,
                                    struct pio_error *err);
/* Add a metadata pair (both strings copied). PIO_EUSAGE for a NULL or
 * empty key, a key already set, a NULL value, or a call after the first
 * append or commit (or on an appending writer); -ENOMEM. */
PIO_API int pio_writer_set_metadata(pio_writer *w, const char *key, const char *value,
                                    struct pio_error *err);

/* Append a frame (arrays are read, not kept: reuse them on return). With
 * the pwrite engine the bytes are in the file (the page cache) on return;
 * with io_uring or O_DIRECT they may still be in flight or staged. Either
 * way only a commit makes them durable. PIO_EUSAGE (no positions,
 * nscalars without scalars, a scalar name over 23 characters), PIO_ELIMIT
 * (atoms or scalars beyond the format), -ENOMEM, or -errno from the write
 * (err names frame and offset). A failed pwrite is taken back and the
 * writer stays usable (after ENOSPC, say); a failed O_DIRECT or io_uring
 * write fails the writer for good: every later call returns that error
 * (close it; pio_writer_open_append keeps the committed frames). */
PIO_API int pio_writer_append(pio_writer *w, const struct pio_frame *frame, struct pio_error *err);

/* Append a frame with named arrays (arrays[0..narrays), each copied into
 * the record; names unique). The file must have been created with
 * PIO_WRITER_ARRAYS (else PIO_EUSAGE): the frame is a FRAME record of its
 * own (never packed in a block; a compressing writer compresses its
 * positions, velocities and forces, and stores the named arrays raw).
 * PIO_EUSAGE also for a name empty or over 31 characters, repeated, an
 * unknown dtype, a width of 0, a NULL data pointer with rows to hold, or
 * a non-zero reserved; PIO_ELIMIT past PIO_HOLO_MAX_ARRAYS or
 * PIO_HOLO_MAX_WIDTH; then as pio_writer_append. narrays 0 is
 * pio_writer_append. */
PIO_API int pio_writer_append_arrays(pio_writer *w, const struct pio_frame *frame,
                                     const struct pio_array *arrays, uint32_t narrays,
                                     struct pio_error *err);

/* Append frames[0..n) in order, as n calls of pio_writer_append would, but
 * with the records hashed on every core (or opts->hash_threads) and written
 * with one system call per 64 frames (pwrite engine; O_DIRECT and io_uring
 * append one by one). A writer that makes blocks (keyframe above 1, pwrite
 * engine) codes up to 8 full blocks of under 1 MiB of frames at a time on
 * as many threads (the same count), then writes them in order; the same
 * frames give the same bytes as appending them one by one.
 * On an error, pio_writer_nframes() tells how many frames went in (blocks
 * not written stay held, as a block pio_writer_append could not write). */
PIO_API int pio_writer_append_many(pio_writer *w, const struct pio_frame *frames, size_t n,
                                   struct pio_error *err);

/* Make every frame appended so far durable (fdatasync), then record them in
 * a new index and footer (fdatasync again; a new file's directory too).
 * Nothing to do when nothing changed. 0 or -errno / -ENOMEM. A failed
 * fdatasync or engine write fails the writer for good (the frames since the
 * last commit may be lost); a failure before them (-ENOMEM, an index write
 * taken back) leaves it usable, to commit again. */
PIO_API int pio_writer_commit(pio_writer *w, struct pio_error *err);

/*
 * Keep frames 0 .. nframes-1 and drop the rest (committed or not): a
 * restart from a checkpoint. A commit is made at once whose index holds
 * only the frames kept (HOLO 2.0: a FULL INDEX and a COMMIT record); no
 * byte already written is changed, the dropped frames' records stay as
 * dead bytes (prismio compact leaves them out), and frames appended next
 * take the numbers from nframes on. 0; -ERANGE (more frames than the
 * writer has); PIO_EVERSION for a HOLO 1.x file (its recovery scan cannot
 * tell dropped frames from new ones); or a commit's errors. Readers that
 * follow the file see fewer frames on refresh and must reopen it.
 */
PIO_API int pio_writer_truncate(pio_writer *w, uint64_t nframes, struct pio_error *err);

/* Commit and close: frees w whatever the result (NULL is accepted: 0).
 * Returns 0, or the error of the commit (or of close(2)), or the one that
 * failed the writer earlier. */
PIO_API int pio_writer_close(pio_writer *w, struct pio_error *err);

/* The engine writes use, and why it is not the one asked for, if not,
 * copied into *out. Always 0. */
PIO_API int pio_writer_io_info(const pio_writer *w, struct pio_io_info *out);

/* Frames in the file, committed or not (O(1); never fails). */
PIO_API uint64_t pio_writer_nframes(const pio_writer *w);

/* ---- reader ------------------------------------------------------------ */

typedef struct pio_reader pio_reader;

enum pio_reader_flags {
    PIO_READER_NO_RECOVERY = 1u << 0, /* fail on a file without a valid footer */
    /* pio_reader_frame also checks the frame's BLAKE3 the first time it is
     * asked for (PIO_ECHECKSUM for a damaged frame): each frame is hashed
     * once, so a view costs a hash of the record on first access; the
     * reader's frame streams check theirs too (as PIO_STREAM_VERIFY).
     * Without it views are zero-copy and checked for structure only. */
    PIO_READER_CHECK_FRAMES = 1u << 1,
    /* Decode compressed blocks on the calling thread only (by default the
     * atom groups of a large block are decoded on the worker pool too, and
     * frame streams have the pool decode the blocks after the current one
     * ahead of the consumer): for callers that run their own threads, and
     * one-thread benchmarks. */
    PIO_READER_SERIAL_DECODE = 1u << 2,
};

enum pio_reader_io_flags {
    PIO_READER_DIRECT = 1u << 0, /* O_DIRECT for engine reads (pread, uring) */
};

struct pio_reader_options {
    uint32_t size; /* sizeof(struct pio_reader_options) */
    uint32_t flags;
    /* Engine for bulk reads (frame streams, verify): PIO_IO_AUTO means
     * PIO_IO_ENGINE from the environment, else mmap. */
    enum pio_io_engine engine;
    uint32_t io_flags; /* enum pio_reader_io_flags */
};
#define PIO_READER_OPTIONS_INIT                                                                    \
    {                                                                                              \
        sizeof(struct pio_reader_options), 0, PIO_IO_AUTO, 0                                       \
    }

/*
 * Map and validate a file (header, footer, index: O(frames), no frame
 * bodies). A file without a valid footer is recovered in memory: every
 * complete frame is available and pio_reader_info() says so. opts may be
 * NULL. The file must not be truncated while mapped (SIGBUS). On success
 * *out holds one reference (pio_reader_close drops it); on failure *out is
 * NULL and the call returns -errno (open, fstat, mmap), PIO_EFORMAT (not a
 * HOLO file, or not a regular file), PIO_ETRUNCATED, PIO_ECHECKSUM (the
 * header), PIO_EVERSION, PIO_ECORRUPT (also: no valid footer with
 * PIO_READER_NO_RECOVERY), PIO_EUSAGE (a bad PIO_IO_ENGINE) or -ENOMEM,
 * with path and offset in err's message (err may be NULL, for every
 * function here).
 */
PIO_API int pio_reader_open(pio_reader **out, const char *path,
                            const struct pio_reader_options *opts, struct pio_error *err);
/* Drop a reference: the last one unmaps and frees, and every view from this
 * reader (frames, topology, metadata strings) becomes invalid. NULL is
 * accepted. Thread-safe against other holders' use and close. */
PIO_API void pio_reader_close(pio_reader *r);
/* Take another reference (thread-safe): the reader stays open until
 * pio_reader_close has been called once more per retain. Returns r. */
PIO_API const pio_reader *pio_reader_retain(const pio_reader *r);

/* Frames in the file (the index's count, damaged frames included). O(1). */
PIO_API uint64_t pio_reader_nframes(const pio_reader *r);

/*
 * Frame `i` as a zero-copy view into the mapping, valid until the reader's
 * last reference is closed: nothing to free. Its record header is
 * validated; its hash is not, unless PIO_READER_CHECK_FRAMES (see also
 * pio_reader_verify_frame). A compressed frame's arrays are decoded into
 * a buffer of the calling thread (fields has PIO_FIELD_DECODED): valid
 * until that thread has decoded 16 more compressed frames through
 * pio_reader_frame (of any reader), or exits; copy what must live longer
 * (frame streams give each frame a buffer of its own until it is
 * released). Returns 0, -ERANGE for i out of range,
 * PIO_ECORRUPT, PIO_EVERSION (an element type or codec this library does
 * not read), or PIO_ECHECKSUM (PIO_READER_CHECK_FRAMES only); err names
 * frame and offset. Thread-safe.
 *
 * Memory: frames read in order (by this call, frame_into, read, or a
 * stream on the mmap engine) keep about 32 MiB of the mapping resident,
 * whatever the file's size: the pages behind are given back to the kernel
 * (MADV_DONTNEED), not freed, so a view still held reads them again from
 * the page cache (or the file) when touched. Random reads give nothing
 * back.
 */
PIO_API int pio_reader_frame(const pio_reader *r, uint64_t i, struct pio_frame *out,
                             struct pio_error *err);

/*
 * Frame i with its arrays in the caller's buffers: each of xyz[0..2]
 * (positions, velocities, forces) room for cap_atoms triples, or NULL to
 * leave that array out (out's pointer is then NULL). Raw arrays are
 * copied, compressed ones decoded straight there: no reader-owned buffer
 * is used, so the arrays live as long as the caller's. *out's other
 * fields as pio_reader_frame's (scalars point into the mapping); with
 * every buffer NULL, the header alone (nothing copied or decoded). Returns
 * 0; -ENOSPC (the frame has more than cap_atoms atoms: out->natoms says
 * how many); or pio_reader_frame's errors. Thread-safe.
 */
PIO_API int pio_reader_frame_into(const pio_reader *r, uint64_t i, float (*const xyz[3])[3],
                                  uint64_t cap_atoms, struct pio_frame *out, struct pio_error *err);

/*
 * Frames first .. first + n - 1, atoms `atoms` (nsel atom numbers in
 * increasing order; NULL: atoms 0 .. nsel - 1), into the caller's arrays:
 * xyz[0] positions, xyz[1] velocities, xyz[2] forces, each NULL (not
 * wanted) or room for n x nsel triples, frame after frame. Raw frames are
 * gathered from the mapping; a compressed FRAME record is decoded whole;
 * a BLOCK record (2.1) decodes only the atom groups that hold the atoms
 * asked, once for all its frames asked (docs/FORMAT.md): reading a small
 * part of a large compressed system costs that part. Thread-safe (each
 * thread decodes into its own cache). Returns 0, -ERANGE (a frame past
 * the end, or an atom past a frame's atom count), PIO_EUSAGE (atoms not
 * increasing), -ENOENT (a frame without an array asked for), PIO_ECORRUPT
 * or PIO_ECHECKSUM naming the file, frame and offset, -ENOMEM.
 */
PIO_API int pio_reader_read(const pio_reader *r, uint64_t first, uint64_t n, const uint64_t *atoms,
                            uint64_t nsel, float (*const xyz[3])[3], struct pio_error *err);

/* The record frame i is in: *first gets its first frame and *nframes its
 * frame count (a FRAME record: i and 1; a BLOCK record, HOLO 2.1: the
 * frames coded together with i, which a read of i decodes). 0, -ERANGE,
 * or PIO_ECORRUPT. O(1), nothing decoded. */
PIO_API int pio_reader_frame_block(const pio_reader *r, uint64_t i, uint64_t *first,
                                   uint32_t *nframes);

/* How frame i's arrays are stored: codec[0..2] of positions, velocities
 * and forces (enum pio_codec; NONE for an absent array) and the lossy
 * precision (0 if none is lossy). 0, -ERANGE, or PIO_ECORRUPT for a record
 * whose header does not check. O(1), nothing decoded. */
PIO_API int pio_reader_frame_codecs(const pio_reader *r, uint64_t i, uint32_t codec[3],
                                    double *precision);

/*
 * Frame i's named arrays (HOLO 2.3): up to cap descriptors into out, whose
 * data point into the mapping (64-byte aligned; valid until the reader's
 * last reference is closed), and *narrays (may be NULL) the frame's count,
 * which may exceed cap (0 for a frame without arrays, and in every file
 * before 2.3). The record's structure is checked, as by pio_reader_frame.
 * 0, -ERANGE, PIO_ECORRUPT, PIO_ECHECKSUM (PIO_READER_CHECK_FRAMES),
 * -ENOMEM. Thread-safe. A remote file's arrays are copies in the calling
 * thread's buffers, valid as its frame views are (PIO_FIELD_DECODED).
 */
PIO_API int pio_reader_frame_arrays(const pio_reader *r, uint64_t i, struct pio_array *out,
                                    uint32_t cap, uint32_t *narrays, struct pio_error *err);
/* Frame i's array named `name` into *out: 0, -ENOENT (no such array), or
 * pio_reader_frame_arrays' errors. O(arrays). */
PIO_API int pio_reader_frame_array(const pio_reader *r, uint64_t i, const char *name,
                                   struct pio_array *out, struct pio_error *err);
/* Whether the file may hold named arrays (created with PIO_WRITER_ARRAYS:
 * HOLO 2.3, required feature bit 3). O(1). */
PIO_API bool pio_reader_has_arrays(const pio_reader *r);

/* Where frame i's record lies in the file (offset, length): 0, or -ERANGE
 * (*offset and *length untouched). */
PIO_API int pio_reader_frame_extent(const pio_reader *r, uint64_t i, uint64_t *offset,
                                    uint64_t *length);

/* Index of the first frame with this step, or -ENOENT. Binary search when
 * steps never decrease, else a scan of the index. */
PIO_API int64_t pio_reader_find_step(const pio_reader *r, int64_t step);
/* Index of the frame whose time is nearest to t (the earlier on a tie), or
 * -ENOENT when there are no frames or t is NaN. */
PIO_API int64_t pio_reader_find_time(const pio_reader *r, double time);

/* The topology: *out's arrays are views into the mapping, valid until the
 * reader's last reference is closed. 0, or -ENOENT if the file has none
 * (or its metadata record is damaged; *out untouched). */
PIO_API int pio_reader_topology(const pio_reader *r, struct pio_topology *out);

/* Metadata pairs: pio_reader_metadata_count says how many (0 without a
 * metadata record); pio_reader_metadata_at sets *key and *value to pair i,
 * NUL-terminated strings in the mapping, valid until the reader's last
 * reference is closed (do not free them): 0, or -ERANGE. O(i). */
PIO_API uint64_t pio_reader_metadata_count(const pio_reader *r);
PIO_API int pio_reader_metadata_at(const pio_reader *r, uint64_t i, const char **key,
                                   const char **value);
/* Value for `key` (a string in the mapping, as above), or NULL. O(pairs). */
PIO_API const char *pio_reader_metadata_get(const pio_reader *r, const char *key);

struct pio_reader_info {
    uint16_t version_major, version_minor;
    bool recovered;     /* no valid footer: frames found by a recovery scan */
    uint64_t file_size; /* bytes mapped */
    uint64_t data_end;  /* end of the last valid byte (file_size unless recovered) */
    uint64_t nframes;
    uint64_t max_natoms; /* largest frame */
    uint64_t min_natoms; /* smallest frame */
    int64_t step_first, step_last;
    double time_first, time_last;
    bool steps_sorted, times_sorted; /* never decreasing */
    /* Frames known damaged without hashing them (records that fail their
     * structural checks; in a recovered file, the frames of damaged ranges
     * the scan stepped over); left out of the atom counts. */
    uint64_t damaged_frames;
    /* The META record fails its checks: the file was opened without its
     * topology and metadata (the frames are unaffected). */
    bool metadata_damaged;
};
/* Fill *out. O(frames): min/max_natoms come from reading every frame's
 * header (a remote file's: with read-ahead where frames are small, one
 * request per frame record's first 64 KiB where they are not). For the
 * frame count alone, pio_reader_nframes is O(1). 0; for a remote file,
 * the error of a request that failed (the counts are then incomplete). */
PIO_API int pio_reader_info(const pio_reader *r, struct pio_reader_info *out);
/* The same, with a failed request's message (URL, frame, range) in err. */
PIO_API int pio_reader_info_err(const pio_reader *r, struct pio_reader_info *out,
                                struct pio_error *err);

/*
 * See commits made since the reader opened (or last refreshed), by another
 * process or thread, without reopening: if the file grew and its new end
 * is a valid footer, the reader takes that commit's frames (checked as at
 * open) and maps the new bytes; *added (may be NULL) says how many frames
 * arrived. Frames appended but not yet committed are not taken (0, and
 * the reader keeps its view). Views, topology and metadata strings from
 * before stay valid (earlier mappings are kept until close). Not to be
 * called while another thread uses this reader or a stream of it.
 * Returns 0; PIO_ECORRUPT (the file shrank, or a commit holds fewer
 * frames than the reader already has: reopen), -ENOMEM or an mmap error;
 * on error the reader is unchanged.
 */
PIO_API int pio_reader_refresh(pio_reader *r, uint64_t *added, struct pio_error *err);

/* Whether the newest commit the reader holds is final: the writer closed
 * the file (pio_writer_close) and wrote nothing after. A file whose writer
 * was killed, or is still writing, is not final. 1.x files have no such
 * mark: always false. O(1). */
PIO_API bool pio_reader_final(const pio_reader *r);

/*
 * Wait for the next commit of a file being written, then take it (as
 * pio_reader_refresh): returns 0 with *added (may be NULL) the frames that
 * arrived, or 0 with *added 0 once the file is final (at once if it
 * already is); -ETIMEDOUT when nothing came within timeout_ms (0: wait as
 * long as it takes), the message saying the file is not final; or a
 * refresh's error. Waits on inotify (set up on the first call; polling
 * every 50 ms where the kernel refuses it). Same thread rules as refresh.
 */
PIO_API int pio_reader_wait(pio_reader *r, uint32_t timeout_ms, uint64_t *added,
                            struct pio_error *err);

/* An upper bound on any frame's atom count, from the index alone (no
 * frame is read; a compressed file: from each record's header, nothing
 * decoded): for sizing buffers. O(frames). */
PIO_API uint64_t pio_reader_natoms_bound(const pio_reader *r);

/* What a reader of this file should be warned of, as one line without the
 * path, into buf (snprintf's truncation): a recovered file's skipped torn
 * tail, or damaged metadata. Returns the line's length; 0 (and "") when
 * there is nothing to say. */
PIO_API size_t pio_reader_warning(const pio_reader *r, char *buf, size_t len);

/* The engine this reader's streams and verification use, and why it is
 * not the one asked for, if it is not, copied into *out. Always 0. (A
 * remote file's: pread, with the note "remote: HTTP range requests".) */
PIO_API int pio_reader_io_info(const pio_reader *r, struct pio_io_info *out);

/*
 * Remote files. pio_reader_open reads a path starting with http://,
 * https:// or s3://BUCKET/KEY (pio_path_is_remote) with HTTP range
 * requests, in a build with libcurl (pio_remote_built; else
 * PIO_ENOTSUPPORTED). Opening a committed file costs 2 or 3 requests; a
 * frame, one (frames read in order are read ahead, up to 8 MiB a
 * request); streams and verification keep 4 requests of up to 4 MiB in
 * flight. Every answer is checked (status 206, the range and object size
 * asked for, the object's ETag at open, the body's length) and transient
 * failures retried; a remote file is never recovered or refreshed.
 * Frame views of a remote file are copies of the calling thread, valid
 * as decoded frames are (PIO_FIELD_DECODED). Memory: the index records
 * read, plus a cache of frame records of PIO_REMOTE_CACHE_MB (64) MiB.
 * S3: the endpoint is PIO_S3_ENDPOINT, AWS_ENDPOINT_URL_S3 or
 * AWS_ENDPOINT_URL (path-style), else AWS's; region and credentials from
 * AWS_REGION / AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or ~/.aws (AWS_PROFILE);
 * requests signed with SigV4 (unsigned without credentials). Tuning:
 * PIO_REMOTE_RETRIES (4), PIO_REMOTE_TIMEOUT_MS (30000: to connect, and
 * the longest a transfer may stay under 1 KiB/s), PIO_REMOTE_BACKOFF_MS (100, doubled
 * per retry). HTTPS: certificates checked against the system's CAs, or
 * the file PIO_REMOTE_CA_BUNDLE (else CURL_CA_BUNDLE, SSL_CERT_FILE)
 * names; HTTP/2 where the server offers it.
 */
struct pio_remote_stats {
    uint64_t size;     /* the object's bytes */
    uint64_t requests; /* range requests sent so far (retries included) */
    uint64_t bytes;    /* bytes received */
    uint64_t retries;  /* requests sent again after a transient failure */
};
/* A remote reader's figures so far: 0, or PIO_EUSAGE for a local file. */
PIO_API int pio_reader_remote_stats(const pio_reader *r, struct pio_remote_stats *out);

/* ---- frame streams: bulk and asynchronous reading ---- */

enum pio_stream_flags {
    PIO_STREAM_UNORDERED = 1u << 0, /* deliver frames as their reads complete */
    /* One read per frame. By default (pread, io_uring) frames that follow
     * each other in the file are read together, up to 256 KiB per read. */
    PIO_STREAM_NO_COALESCE = 1u << 1,
    /* Check each frame's BLAKE3 before delivering it (frames a
     * PIO_READER_CHECK_FRAMES reader already checked are not hashed
     * again): a damaged frame is PIO_ECHECKSUM naming file, frame and
     * offset, and the stream may go on with the next. */
    PIO_STREAM_VERIFY = 1u << 2,
    /* pio_frame_stream_follow: wait for commits by polling the file every
     * follow_poll_ms instead of with inotify (which is the default where
     * the kernel offers it; polling is the fallback where it does not). */
    PIO_STREAM_FOLLOW_POLL = 1u << 3,
};

struct pio_stream_options {
    uint32_t size; /* sizeof(struct pio_stream_options) */
    uint32_t flags;
    uint32_t queue_depth; /* reads in flight / buffers (0: 32 with O_DIRECT,
                           * else ~4 MiB of buffers, at least 2) */
    uint64_t max_bytes;   /* buffer memory cap (0: 256 MiB) */
    /* The engine this stream reads through (enum pio_io_engine): AUTO is
     * the reader's; another gets the stream its own, set up on the
     * reader's open descriptor (never the path again), falling back as a
     * reader's does (pio_frame_stream_io_info says to what, and why). */
    uint32_t engine;
    /* pio_frame_stream_follow: how long next() waits for a new commit
     * before it returns -ETIMEDOUT (0: as long as it takes), and how often
     * it looks at the file when polling (0: 50 ms; with inotify it also
     * looks every second, in case an event is missed). */
    uint32_t follow_timeout_ms;
    uint32_t follow_poll_ms;
};
#define PIO_STREAM_OPTIONS_INIT                                                                    \
    {                                                                                              \
        sizeof(struct pio_stream_options), 0, 0, 0, PIO_IO_AUTO, 0, 0                              \
    }

typedef struct pio_frame_stream pio_frame_stream;

/*
 * Read frames[0..n) (all frames in order when frames is NULL; the list is
 * copied) through the reader's engine: views into the mapping (mmap), or
 * into the stream's buffers (pread, io_uring), which keeps up to
 * queue_depth reads in flight ahead of the consumer (and, in a file of
 * compressed blocks, has the worker pool decode the blocks already read,
 * up to 4 and about 64 MiB ahead, unless the reader is
 * PIO_READER_SERIAL_DECODE). One stream per
 * thread; many streams may share a reader, which must stay open until
 * they are closed (a stream takes no reference). opts may be NULL. *out is
 * the caller's, ended with pio_frame_stream_close (NULL on failure).
 * Errors: -ERANGE (a frame out of range), -ENOMEM, or the engine's
 * set-up failure; err names the file.
 */
PIO_API int pio_frame_stream_open(pio_frame_stream **out, const pio_reader *r,
                                  const uint64_t *frames, uint64_t n,
                                  const struct pio_stream_options *opts, struct pio_error *err);
/*
 * Next frame: 1 and *out set (out->index is its frame number), 0 at the
 * end, or an error naming frame and offset. The view stays valid until
 * pio_frame_stream_release(s, out) or close; hold fewer views than
 * queue_depth (holding all is PIO_EUSAGE). A read error (-errno,
 * PIO_ETRUNCATED) ends the stream: every later call returns it again. A
 * damaged frame (PIO_ECORRUPT, PIO_EVERSION, PIO_ECHECKSUM with
 * PIO_STREAM_VERIFY) does not: the next call goes on with the next frame.
 */
PIO_API int pio_frame_stream_next(pio_frame_stream *s, struct pio_frame *out,
                                  struct pio_error *err);
/*
 * Follow a file being written: a stream of the frames from `start` on, in
 * order, that waits for commits when it has delivered every committed
 * frame (inotify, or polling: PIO_STREAM_FOLLOW_POLL) and refreshes r to
 * take them. next() returns 0 (the end) once the file is final (its writer
 * closed it: pio_reader_final) and every frame is delivered, and
 * -ETIMEDOUT (err says the file is not final: its writer may have been
 * stopped) when no commit came within follow_timeout_ms. The stream owns
 * r's refreshes: while it is open, r may not be used by another thread,
 * and is not refreshed by anyone else. Views from next() stay valid until
 * released (or close), across the waits. UNORDERED is ignored. Errors of
 * open: as pio_frame_stream_open (start past the committed frames is
 * fine: the stream waits for them); -errno where inotify and polling are
 * both impossible.
 */
PIO_API int pio_frame_stream_follow(pio_frame_stream **out, pio_reader *r, uint64_t start,
                                    const struct pio_stream_options *opts, struct pio_error *err);
/* Like next, without blocking: -EAGAIN (err not written) when no read has
 * completed yet. (The mmap and pread engines never return -EAGAIN; a
 * following stream returns -EAGAIN instead of waiting for a commit.) */
PIO_API int pio_frame_stream_poll(pio_frame_stream *s, struct pio_frame *out,
                                  struct pio_error *err);
/* Give back a view from next or poll (f as it was returned), so its buffer
 * can be reused; f's arrays are invalid afterwards. */
PIO_API void pio_frame_stream_release(pio_frame_stream *s, const struct pio_frame *f);
/* The engine the stream uses (io_uring with registered buffers or not,
 * O_DIRECT or not), copied into *out. Always 0. */
PIO_API int pio_frame_stream_io_info(const pio_frame_stream *s, struct pio_io_info *out);
/* Wait for reads in flight, free the stream (NULL is accepted): every view
 * from it not in the mapping becomes invalid. The reader stays open. */
PIO_API void pio_frame_stream_close(pio_frame_stream *s);

/* Check frame i's record header and hash (a frame already checked under
 * PIO_READER_CHECK_FRAMES is not hashed again). 0, PIO_ECHECKSUM, or an
 * error of pio_reader_frame (-ERANGE, PIO_ECORRUPT, ...); the message names
 * frame and offset. Thread-safe. */
PIO_API int pio_reader_verify_frame(const pio_reader *r, uint64_t i, struct pio_error *err);

/*
 * Check every byte of the file: header, each record in file order (frames,
 * metadata, old indexes), every footer, the file digest. Fails on the
 * first problem with a message naming the frame (if any) and byte offset:
 * PIO_ECHECKSUM, PIO_ECORRUPT (also for a file opened by recovery, which
 * has no valid footer), PIO_EVERSION, -errno from a read, -ENOMEM. Record
 * bytes are read through the reader's engine (every engine gives the same
 * result). threads: hashing threads for large records (0: all).
 * Thread-safe.
 */
PIO_API int pio_reader_verify(const pio_reader *r, unsigned threads, struct pio_error *err);

/* ---- recovery ---------------------------------------------------------- */

/* A damaged range that recovery kept: bytes that failed validation with
 * valid records after them (not a torn tail). */
struct pio_recover_damage {
    uint64_t offset, length; /* the bytes */
    uint64_t frame, nframes; /* the frames lying there (0 frames: an old
                                index record or footer, or the metadata) */
    bool metadata;           /* the range holds the file's metadata record (topology
                                and metadata lost; the bytes stay) */
};

#define PIO_RECOVER_MAX_DAMAGE 16

struct pio_recover_report {
    bool was_committed;     /* the file already had a valid footer: nothing done */
    uint64_t nframes;       /* frames in the file afterwards */
    uint64_t removed_bytes; /* invalid tail removed */
    /* Damaged frames in the middle: kept in the index (reading them fails
     * their checks), or with PIO_RECOVER_DROP_DAMAGED left out. */
    uint64_t damaged_frames;
    uint64_t ndamage; /* damaged ranges; the first PIO_RECOVER_MAX_DAMAGE below */
    struct pio_recover_damage damage[PIO_RECOVER_MAX_DAMAGE];
    bool rewritten; /* PIO_RECOVER_DROP_DAMAGED rewrote the file */
    /* The metadata record (topology, metadata) is damaged: left out of the
     * index, or of the rewritten file. */
    bool metadata_damaged;
    /* PIO_RECOVER_DROP_DAMAGED only: bytes cut from this offset on that
     * held records the scan could not number (moved or duplicated records,
     * damage hiding where its frames lay); 0 if none. Without the flag
     * such a file is refused and nothing is cut. */
    uint64_t unnumbered_offset, unnumbered_bytes;
};

enum pio_recover_flags {
    /* Rewrite the file with only the frames whose checksums hold (the
     * others dropped, later frames renumbered), through a temporary file
     * renamed over it. The only recovery that removes valid records'
     * neighbours; it also applies to a committed file with damaged frames. */
    PIO_RECOVER_DROP_DAMAGED = 1u << 0,
};

/*
 * Make a file whose writer died durable again: keep every complete frame,
 * remove the invalid tail, append an index and footer, fdatasync. Committed
 * bytes are never rewritten, and bytes before a valid record are never
 * removed: a damaged record in the middle (with valid records after it) is
 * stepped over, its frames kept in the index (their reads fail their
 * checks) and listed in the report. A committed file is left as it is
 * (report->was_committed). Readers must not have the file mapped while its
 * tail is removed. report may be NULL; it is written only on success.
 * Errors: -errno, PIO_EFORMAT (not a HOLO file or not a regular file),
 * PIO_ETRUNCATED (no complete header: nothing to recover), PIO_ECHECKSUM,
 * PIO_EVERSION, PIO_ECORRUPT (records the scan could not number: nothing
 * is cut without PIO_RECOVER_DROP_DAMAGED), -ENOMEM; err may be NULL.
 */
PIO_API int pio_holo_recover(const char *path, struct pio_recover_report *report,
                             struct pio_error *err);
/* pio_holo_recover with enum pio_recover_flags (0: the same). */
PIO_API int pio_holo_recover_flags(const char *path, uint32_t flags,
                                   struct pio_recover_report *report, struct pio_error *err);

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_HOLO_H */
