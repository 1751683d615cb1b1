/*
 * prism-io: datasets of structures for machine learning, and the batches
 * that feed GPU kernels.
 *
 * A dataset is one HOLO file, or several (shards) listed by a manifest,
 * whose frames are structures: positions, box, forces, named scalars
 * (energies) and named arrays (HOLO 2.3: atomic numbers, periodicity,
 * stress, labels), with atom counts that differ from one structure to the
 * next. A batch gathers any list of structures into one structure of
 * arrays, padded (every structure's atoms to the batch's largest, with a
 * mask) or ragged (atoms concatenated, with offsets: the layout graph
 * neural network libraries use), in buffers the batch owns (mlocked if
 * asked) or the caller gives; a loader fills batches ahead on threads; a
 * batch's columns export as DLPack tensors, which a GPU framework takes
 * without a copy.
 *
 * Manifest (a text file, docs/FORMAT.md "Datasets"): the line
 * "prismio-dataset 1", then one line per shard: its structures, its bytes
 * and its path (relative to the manifest's folder).
 *
 * Thread-safety: a dataset is immutable after opening (any number of
 * threads may fill batches from it); a batch or a loader is used by one
 * thread at a time.
 */
#ifndef PRISMIO_DATASET_H
#define PRISMIO_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "holo.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PIO_DATASET_MANIFEST_MAGIC "prismio-dataset 1"

typedef struct pio_dataset pio_dataset;

enum pio_dataset_flags {
    /* Check each structure's BLAKE3 the first time it is read (per open
     * dataset): a damaged structure is PIO_ECHECKSUM naming the shard and
     * the structure. Without it, structure (record layout) is checked. */
    PIO_DATASET_CHECK = 1u << 0,
};

/*
 * Open a dataset: a .holo file, or a manifest of shards (each a .holo
 * file, opened and its frame count checked against the manifest). flags:
 * enum pio_dataset_flags. *out is the caller's (pio_dataset_close); NULL
 * on failure. Errors: those of pio_reader_open, naming the shard;
 * PIO_EFORMAT (neither a HOLO file nor a manifest), PIO_ECORRUPT (a
 * manifest line, or a shard whose structures or bytes are not what the
 * manifest says), -ENOMEM.
 */
PIO_API int pio_dataset_open(pio_dataset **out, const char *path, uint32_t flags,
                             struct pio_error *err);
PIO_API void pio_dataset_close(pio_dataset *ds);
/* Structures in the dataset (all shards). O(1). */
PIO_API uint64_t pio_dataset_len(const pio_dataset *ds);
/* Shards (1 for a .holo file); pio_dataset_shard_path and
 * pio_dataset_shard give shard k's path and reader (owned by the dataset;
 * NULL for k out of range). */
PIO_API uint32_t pio_dataset_nshards(const pio_dataset *ds);
PIO_API const char *pio_dataset_shard_path(const pio_dataset *ds, uint32_t k);
PIO_API const pio_reader *pio_dataset_shard(const pio_dataset *ds, uint32_t k);
/* Where structure i lies: its shard and its frame there. 0 or -ERANGE.
 * O(log shards). */
PIO_API int pio_dataset_locate(const pio_dataset *ds, uint64_t i, uint32_t *shard, uint64_t *frame);

/* ---- batches ------------------------------------------------------------ */

enum pio_batch_layout {
    /* atoms concatenated: per-atom columns [total atoms][width], with
     * offsets[n + 1] */
    PIO_BATCH_RAGGED = 0,
    /* per-atom columns [n][max atoms][width], padding zero, mask[n][max] */
    PIO_BATCH_PADDED = 1,
};

enum pio_batch_units {
    /* as stored: nm, nm/ps, kJ/mol/nm (HOLO's units) */
    PIO_UNITS_HOLO = 0,
    /* ASE's: positions and cell in Angstrom, forces in eV/Angstrom,
     * velocities in Angstrom/ps (named arrays and scalars as stored) */
    PIO_UNITS_ASE = 1,
};

enum pio_batch_flags {
    /* mlock the batch's buffers: resident, never paged out (pinned for a
     * GPU's DMA only once its runtime registers them, cudaHostRegister) */
    PIO_BATCH_PINNED = 1u << 0,
};

/*
 * Columns a batch gathers, by name:
 *   "positions", "velocities", "forces": per atom, f32 x 3;
 *   "cell": the box, per structure, f64 x 9 (rows a, b, c; zero when absent);
 *   a named scalar's name (f64 x 1 per structure);
 *   a named array's name (its dtype and width; per atom or per structure).
 * A column every structure of the batch must have (else PIO_EUSAGE naming
 * the shard, the structure and the column), with the same dtype and width.
 */
struct pio_batch_options {
    uint32_t size;   /* sizeof(struct pio_batch_options) */
    uint32_t layout; /* enum pio_batch_layout */
    uint32_t units;  /* enum pio_batch_units */
    uint32_t flags;  /* enum pio_batch_flags */
    const char *const *columns;
    uint32_t ncolumns;
    /* padded: atoms per structure rounded up to a multiple of this (0: 1) */
    uint32_t pad_atoms;
    /* The caller's memory for every array of the batch (64-byte aligned
     * inside it), or NULL: the batch's own, grown as needed. A fill that
     * needs more is -ENOSPC, saying how many bytes it needs. */
    void *buffer;
    size_t buffer_bytes;
    /* Threads that fill a batch, the caller's included, at most 4 (0 or 1:
     * the caller alone): a batch of 32 structures or more is split in
     * parts, looked up and copied on the worker pool at once. Measured on
     * the 2-core VM, 2 parts made a 128-structure batch no faster (159 us
     * against 148, 202 with PyTorch's threads about): for larger machines
     * and batches. The loader fills whole batches on threads of its own. */
    uint32_t threads;
};
#define PIO_BATCH_OPTIONS_INIT                                                                     \
    {                                                                                              \
        sizeof(struct pio_batch_options), PIO_BATCH_RAGGED, PIO_UNITS_HOLO, 0, NULL, 0, 0, NULL,   \
            0, 0                                                                                   \
    }

/* One column of a filled batch: a C-contiguous array of `ndim` dimensions. */
struct pio_batch_column {
    char name[PIO_ARRAY_NAME_SIZE];
    uint32_t dtype;    /* enum pio_dtype */
    uint32_t per_atom; /* 1: a per-atom column */
    uint32_t width;
    uint32_t ndim;    /* 2 (per structure, ragged per atom) or 3 (padded per atom) */
    int64_t shape[3]; /* [n][width], [atoms][width] or [n][max atoms][width] */
    void *data;       /* 64-byte aligned */
};

typedef struct pio_ds_batch pio_ds_batch;

/* A reusable batch for ds's structures, with these columns (resolved on
 * the dataset's first structure), ended with pio_ds_batch_free (NULL is
 * accepted; DLPack tensors keep their memory). opts may be NULL (ragged
 * positions in HOLO units). PIO_EUSAGE (an unknown layout, units or
 * column name, a column repeated), -ENOMEM. */
PIO_API int pio_ds_batch_create(pio_ds_batch **out, const pio_dataset *ds,
                                const struct pio_batch_options *opts, struct pio_error *err);
PIO_API void pio_ds_batch_free(pio_ds_batch *b);

/*
 * Gather structures idx[0..n) (any order, repeats allowed) into the batch,
 * replacing what it held: every column, index (idx as given), natoms,
 * offsets (ragged: n + 1 atom offsets) and mask (padded). Columns that
 * views of the batch's earlier fill handed out (DLPack tensors not yet
 * deleted) keep their memory: a fill then allocates new buffers. Returns
 * 0; -ERANGE (an index past the dataset), PIO_EUSAGE (a structure without
 * a column, or with another dtype or width), PIO_ECORRUPT, PIO_ECHECKSUM
 * (PIO_DATASET_CHECK), -ENOSPC (the caller's buffer), -ENOMEM; err names
 * the shard, the structure (its dataset index and frame) and the offset.
 * On error the batch holds no structure.
 */
PIO_API int pio_ds_batch_fill(pio_ds_batch *b, const uint64_t *idx, uint32_t n,
                              struct pio_error *err);

/* What the batch holds: pio_ds_batch_len structures, pio_ds_batch_index
 * their dataset indices and pio_ds_batch_natoms their atom counts.
 * Pointers valid until the next fill or free. */
PIO_API uint32_t pio_ds_batch_len(const pio_ds_batch *b);
PIO_API const int64_t *pio_ds_batch_index(const pio_ds_batch *b);  /* [n] */
PIO_API const int64_t *pio_ds_batch_natoms(const pio_ds_batch *b); /* [n] */
/* ragged: [n + 1] atom offsets; padded: NULL */
PIO_API const int64_t *pio_ds_batch_offsets(const pio_ds_batch *b);
/* padded: [n][max atoms] 1 for a real atom, 0 for padding; ragged: NULL */
PIO_API const uint8_t *pio_ds_batch_mask(const pio_ds_batch *b);
/* padded: atoms a structure takes in the per-atom columns; ragged: total atoms */
PIO_API uint64_t pio_ds_batch_atoms(const pio_ds_batch *b);
/* pio_ds_batch_ncolumns columns; pio_ds_batch_column gives column k (NULL
 * past the end), in the order the options named them. */
PIO_API uint32_t pio_ds_batch_ncolumns(const pio_ds_batch *b);
PIO_API const struct pio_batch_column *pio_ds_batch_column(const pio_ds_batch *b, uint32_t k);
/* The column of that name, or NULL. */
PIO_API const struct pio_batch_column *pio_ds_batch_find(const pio_ds_batch *b, const char *name);

/* ---- DLPack ------------------------------------------------------------- */

/*
 * DLPack's C ABI (dlpack.h, version 0.8: DLManagedTensor), declared here
 * with this library's prefix: a struct pio_dl_managed_tensor is a
 * DLManagedTensor, byte for byte, and goes where one is expected (a
 * PyCapsule named "dltensor", torch.from_dlpack).
 */
struct pio_dl_device {
    int32_t device_type; /* 1: kDLCPU (every tensor exported here) */
    int32_t device_id;
};
struct pio_dl_dtype {
    uint8_t code; /* 0 int, 1 uint, 2 float */
    uint8_t bits;
    uint16_t lanes;
};
struct pio_dl_tensor {
    void *data;
    struct pio_dl_device device;
    int32_t ndim;
    struct pio_dl_dtype dtype;
    int64_t *shape;
    int64_t *strides; /* NULL: C-contiguous */
    uint64_t byte_offset;
};
struct pio_dl_managed_tensor {
    struct pio_dl_tensor dl_tensor;
    void *manager_ctx;
    void (*deleter)(struct pio_dl_managed_tensor *self);
};

#define PIO_DL_INDEX   0x80000000u
#define PIO_DL_NATOMS  0x80000001u
#define PIO_DL_OFFSETS 0x80000002u
#define PIO_DL_MASK    0x80000003u
/*
 * Column k of the batch as a DLPack tensor (a CPU tensor; a char column is
 * uint8), or index, natoms, offsets and mask with k = PIO_DL_INDEX ...:
 * the batch's memory, not a copy. The consumer calls its deleter when done;
 * until then the memory stays the tensor's, whatever the batch does next
 * (its next fill moves to new buffers; pio_ds_batch_free leaves them to
 * the last tensor). Returns NULL for k out of range or out of memory.
 * (With the caller's buffer, the tensor views that buffer.)
 */
PIO_API struct pio_dl_managed_tensor *pio_ds_batch_dlpack(pio_ds_batch *b, uint32_t k);

/* ---- loader: batches filled ahead ---------------------------------------- */

typedef struct pio_ds_loader pio_ds_loader;

/*
 * Batches of `batch_size` structures (the last may be smaller) of the
 * structures order[0..n) (copied), filled by `threads` threads (0: the
 * CPUs, at most 8), up to `ahead` batches before the consumer (0: 2 per
 * thread), each a batch of its own with opts' columns (opts->buffer must be
 * NULL). *out is the caller's (pio_ds_loader_close). PIO_EUSAGE,
 * -ENOMEM, -errno (threads).
 */
PIO_API int pio_ds_loader_open(pio_ds_loader **out, const pio_dataset *ds, const uint64_t *order,
                               uint64_t n, uint32_t batch_size,
                               const struct pio_batch_options *opts, uint32_t threads,
                               uint32_t ahead, struct pio_error *err);
/*
 * The next batch, in order: 1 and *out (valid until pio_ds_loader_release
 * or close), 0 at the end, or the error its fill met (which ends the
 * loader: every later call returns it). Hold at most `ahead` batches.
 */
PIO_API int pio_ds_loader_next(pio_ds_loader *l, pio_ds_batch **out, struct pio_error *err);
/* Give a batch from next back to be filled again. */
PIO_API void pio_ds_loader_release(pio_ds_loader *l, pio_ds_batch *b);
/* Stop the threads and free every batch (NULL is accepted). */
PIO_API void pio_ds_loader_close(pio_ds_loader *l);

/* Random permutation of 0..n-1 into out, a function of (seed, epoch) only:
 * the same on every machine and every run (splitmix64 and Fisher-Yates). */
PIO_API void pio_dataset_shuffle(uint64_t *out, uint64_t n, uint64_t seed, uint64_t epoch);

#ifdef __cplusplus
}
#endif

#endif /* PRISMIO_DATASET_H */
