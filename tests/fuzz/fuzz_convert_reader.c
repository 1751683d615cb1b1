/*
 * Fuzz target for the foreign-format readers (XTC, GRO, PDB, XYZ, TRR, DCD): the
 * first byte picks the format, the rest is the file. Any bytes must give
 * an error or frames whose every coordinate is read inside the buffers
 * (ASan checks each access), and a topology whose bonds name real atoms.
 * Replayed from tests/fuzz/corpus/convert by `make test`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <prismio/convert.h>

#include "fuzz_memfd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const enum pio_format fmts[6] = {PIO_FORMAT_XTC, PIO_FORMAT_GRO, PIO_FORMAT_PDB,
                                            PIO_FORMAT_XYZ, PIO_FORMAT_TRR, PIO_FORMAT_DCD};
    struct pio_source_options o = PIO_SOURCE_OPTIONS_INIT;
    o.format = fmts[data[0] % 6];
    char path[64];
    int fd = fuzz_memfd(data + 1, size - 1, path);
    if (fd < 0)
        return 0;
    struct pio_source s;
    struct pio_error e;
    if (pio_source_open(&s, path, &o, &e) == 0) {
        struct pio_source_info info;
        volatile double sink = 0;
        if (s.info(s.ctx, &info, &e) == 0 && s.start(s.ctx, NULL, info.nframes, &e) == 0) {
            if (info.topology)
                for (uint64_t b = 0; b < info.topology->nbonds; b++)
                    if (info.topology->bonds[b][0] >= info.topology->natoms ||
                        info.topology->bonds[b][1] >= info.topology->natoms)
                        abort();
            struct pio_frame f;
            for (int k = 0; k < 4096 && s.next(s.ctx, &f, &e) == 1; k++) {
                for (uint64_t a = 0; a < f.natoms; a++)
                    sink += f.positions[a][0] + f.positions[a][1] + f.positions[a][2];
                if (f.velocities)
                    sink += f.velocities[f.natoms - 1][2];
                s.release(s.ctx, &f);
            }
        }
        (void)sink;
        pio_source_destroy(&s);
    }
    close(fd);
    return 0;
}

#include "fuzz_replay.h"
