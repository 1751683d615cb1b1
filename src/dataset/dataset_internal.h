/*
 * dataset: the module's own declarations (shared by dataset.c, batch.c and
 * loader.c).
 */
#ifndef PIO_DATASET_INTERNAL_H
#define PIO_DATASET_INTERNAL_H

#include <stdint.h>

#include "prismio/dataset.h"

struct shard {
    char *path;
    pio_reader *r;
};

struct pio_dataset {
    uint32_t flags;
    uint32_t nshards;
    struct shard *shard;
    uint64_t *first; /* [nshards + 1]: the dataset index of each shard's first structure */
    uint64_t n;
};

#endif /* PIO_DATASET_INTERNAL_H */
