/*
 * Fuzz target for the Arrow IPC reader: any bytes must give an error or
 * batches whose every buffer holds what its arrays promise (ASan checks
 * each byte read), both through the C stream (pio_arrow_ipc_open) and
 * through the import source that turns rows into HOLO frames. Replayed
 * from tests/fuzz/corpus/arrow by `make test`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <prismio/arrow.h>
#include <prismio/convert.h>

#include "../arrow/arrow_touch.h"
#include "fuzz_memfd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfd(data, size, path);
    if (fd < 0)
        return 0;
    struct pio_error e;
    struct ArrowArrayStream st;
    volatile double sink = 0;
    if (pio_arrow_ipc_open(&st, path, &e) == 0) {
        struct ArrowSchema s;
        if (st.get_schema(&st, &s) == 0)
            s.release(&s);
        struct ArrowArray b;
        for (int k = 0; k < 4096 && st.get_next(&st, &b) == 0 && b.release; k++) {
            sink += arrow_touch(&b);
            b.release(&b);
        }
        st.release(&st);
    }
    struct pio_source_options o = PIO_SOURCE_OPTIONS_INIT;
    o.format = PIO_FORMAT_ARROW;
    struct pio_source src;
    if (pio_source_open(&src, path, &o, &e) == 0) {
        struct pio_source_info info;
        if (src.info(src.ctx, &info, &e) == 0 && src.start(src.ctx, NULL, info.nframes, &e) == 0) {
            /* the topology comes from the first frame's rows */
            if (info.topology && info.topology->natoms > info.max_natoms)
                abort();
            struct pio_frame f;
            for (int k = 0; k < 4096 && src.next(src.ctx, &f, &e) == 1; k++) {
                for (uint64_t a = 0; a < f.natoms; a++)
                    sink += f.positions[a][0] + f.positions[a][2];
                if (f.velocities && f.natoms)
                    sink += f.velocities[f.natoms - 1][2];
                if (f.forces && f.natoms)
                    sink += f.forces[f.natoms - 1][2];
                for (uint32_t i = 0; i < f.nscalars; i++)
                    sink += f.scalars[i].value;
                src.release(src.ctx, &f);
            }
        }
        pio_source_destroy(&src);
    }
    (void)sink;
    close(fd);
    return 0;
}

#include "fuzz_replay.h"
