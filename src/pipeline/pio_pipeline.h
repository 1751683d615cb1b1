/*
 * pipeline: what the modules above it (formats) may use besides the
 * public prismio/pipeline.h.
 */
#ifndef PIO_PIPELINE_INTERNAL_H
#define PIO_PIPELINE_INTERNAL_H

#include <stddef.h>

#include "prismio/pipeline.h"

/* A source's next_into, or NULL when it has none or its `size` says the
 * struct predates the member (size 0: the 0.2 layout, which has it). */
static inline int (*pio__source_next_into(const struct pio_source *s))(void *, struct pio_frame *,
                                                                       float *, uint64_t,
                                                                       struct pio_error *)
{
    if (s->size != 0 && s->size < offsetof(struct pio_source, next_into) + sizeof(s->next_into))
        return NULL;
    return s->next_into;
}

#endif /* PIO_PIPELINE_INTERNAL_H */
