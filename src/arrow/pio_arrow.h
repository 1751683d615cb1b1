/*
 * arrow: what other modules may call (the convert registry).
 */
#ifndef PIO_ARROW_H
#define PIO_ARROW_H

#include <stdbool.h>
#include <stdint.h>

#include "prismio/pipeline.h"

/* Arrow IPC files as pipeline ends. layout: enum pio_arrow_layout. */
int arrow_sink_open(struct pio_sink *out, const char *path, bool overwrite, uint32_t layout,
                    struct pio_error *err);
int arrow_source_open(struct pio_source *out, const char *path, struct pio_error *err);

#endif /* PIO_ARROW_H */
