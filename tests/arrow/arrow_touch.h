/*
 * For tests of the Arrow readers on hostile input: read every byte an
 * array's buffers promise (at least one per value, offsets, string bytes,
 * children), so AddressSanitizer sees any promise the reader did not check.
 */
#ifndef PIO_ARROW_TOUCH_H
#define PIO_ARROW_TOUCH_H

#include <stdint.h>

#include <prismio/arrow.h>

static inline double arrow_touch(const struct ArrowArray *x)
{
    double sum = 0;
    const uint8_t *v = x->null_count ? (const uint8_t *)x->buffers[0] : NULL;
    for (int64_t i = 0; v && i < (x->length + 7) / 8; i++)
        sum += v[i];
    if (x->n_buffers >= 2 && x->buffers[1]) {
        int64_t n = x->n_children || x->n_buffers == 3 ? 4 * (x->length + 1) : x->length;
        for (int64_t i = 0; i < n; i++)
            sum += ((const uint8_t *)x->buffers[1])[i];
    }
    if (x->n_buffers == 3 && x->buffers[2]) {
        const int32_t *o = (const int32_t *)x->buffers[1];
        for (int32_t i = o[0]; i < o[x->length]; i++)
            sum += ((const uint8_t *)x->buffers[2])[i];
    }
    for (int64_t c = 0; c < x->n_children; c++)
        sum += arrow_touch(x->children[c]);
    return sum;
}

#endif /* PIO_ARROW_TOUCH_H */
