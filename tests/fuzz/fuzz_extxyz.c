/*
 * Fuzz target for the extended XYZ reader (pio_dataset_convert): any bytes
 * as an .extxyz file must give an error or a HOLO dataset that verifies,
 * and that converts back to extxyz and again to HOLO with the same
 * structures (ASan checks every access). Replayed from
 * tests/fuzz/corpus/extxyz by `make test`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <prismio/convert.h>
#include <prismio/holo.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[] = "/tmp/pio_fuzz_xyz_XXXXXX";
    if (!mkdtemp(dir))
        return 0;
    char in[64], holo[64], back[64], holo2[64];
    snprintf(in, sizeof(in), "%s/in.extxyz", dir);
    snprintf(holo, sizeof(holo), "%s/a.holo", dir);
    snprintf(back, sizeof(back), "%s/b.extxyz", dir);
    snprintf(holo2, sizeof(holo2), "%s/c.holo", dir);
    FILE *f = fopen(in, "wb");
    if (f && size)
        fwrite(data, 1, size, f);
    if (f)
        fclose(f);
    struct pio_error e;
    struct pio_dataset_convert_report r1 = {0, 0}, r2 = {0, 0};
    int rc = pio_dataset_convert(in, holo, PIO_DSCONV_NO_SYNC, &r1, &e);
    if (rc == 0) {
        pio_reader *r;
        if (pio_reader_open(&r, holo, NULL, &e) != 0 || pio_reader_verify(r, 1, &e) != 0)
            abort(); /* what was written must verify */
        pio_reader_close(r);
        if (pio_dataset_convert(holo, back, PIO_DSCONV_NO_SYNC, NULL, &e) != 0 ||
            pio_dataset_convert(back, holo2, PIO_DSCONV_NO_SYNC, &r2, &e) != 0 ||
            r1.structures != r2.structures || r1.atoms != r2.atoms)
            abort(); /* what it writes, it reads back */
    }
    unlink(in);
    unlink(holo);
    unlink(back);
    unlink(holo2);
    rmdir(dir);
    return 0;
}

#include "fuzz_replay.h"
