/*
 * Fuzz target for the HOLO reader: any bytes, opened as a file, must give
 * an error or a reader whose every view, topology, metadata and
 * verification stay inside the mapping (ASan checks each access); then
 * recovery of the same bytes, and what it leaves.
 *
 * Built two ways: with clang -fsanitize=fuzzer for fuzzing (make fuzz),
 * and as an ordinary program that replays a corpus directory, which
 * `make test` runs (PIO_FUZZ_REPLAY).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <prismio/holo.h>

#include "fuzz_memfd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfd(data, size, path);
    if (fd < 0)
        return 0;
    pio_reader *r;
    struct pio_error e;
    if (pio_reader_open(&r, path, NULL, &e) == 0) {
        volatile double sink = 0;
        uint64_t n = pio_reader_nframes(r);
        for (uint64_t i = 0; i < n && i < 4096; i++) {
            struct pio_frame f;
            if (pio_reader_frame(r, i, &f, &e) != 0)
                continue;
            for (uint64_t a = 0; a < f.natoms; a++) {
                sink += f.positions[a][0] + f.positions[a][2];
                if (f.velocities)
                    sink += f.velocities[a][1];
                if (f.forces)
                    sink += f.forces[a][2];
            }
            for (uint32_t k = 0; k < f.nscalars; k++)
                sink += (double)strlen(f.scalars[k].name) + f.scalars[k].value;
            /* named arrays (2.3): every byte each entry claims is read */
            struct pio_array arr[8];
            uint32_t na = 0;
            if (pio_reader_frame_arrays(r, i, arr, 8, &na, &e) == 0)
                for (uint32_t k = 0; k < na && k < 8; k++) {
                    uint64_t rows = arr[k].per_atom ? f.natoms : 1;
                    size_t bytes = (size_t)(rows * arr[k].width * pio_dtype_size(arr[k].dtype));
                    const uint8_t *p = arr[k].data;
                    sink += (double)strlen(arr[k].name);
                    if (bytes)
                        sink += p[0] + p[bytes - 1];
                }
            pio_reader_verify_frame(r, i, &e);
        }
        /* partial reads (BLOCK records decode some atom groups): a few
         * atoms of the first frames, into buffers of exactly that size */
        uint64_t bound = pio_reader_natoms_bound(r);
        if (n > 0 && bound > 0) {
            uint64_t sel[3] = {0, bound / 2, bound - 1}, nsel = bound > 2 ? 3 : bound;
            uint64_t nf = n < 4 ? n : 4;
            if (bound == 2)
                sel[1] = 1;
            float(*buf)[3] = malloc((size_t)(nf * nsel * 3) * sizeof(*buf));
            float(*const xyz[3])[3] = {buf, buf + nf * nsel, buf + 2 * nf * nsel};
            if (buf && pio_reader_read(r, 0, nf, sel, nsel, xyz, &e) == 0)
                sink += buf[0][0];
            free(buf);
            uint64_t first;
            uint32_t k;
            pio_reader_frame_block(r, n - 1, &first, &k);
        }
        struct pio_topology t;
        if (pio_reader_topology(r, &t) == 0) {
            for (uint64_t a = 0; a < t.natoms; a++)
                sink += t.masses[a] + t.charges[a] + t.resids[a] + (double)strnlen(t.names[a], 8) +
                        (double)strnlen(t.elements[a], 4) + (double)strnlen(t.chains[a], 4) +
                        (double)strnlen(t.resnames[a], 8);
            for (uint64_t b = 0; b < t.nbonds; b++)
                sink += t.masses[t.bonds[b][0]] + t.masses[t.bonds[b][1]];
        }
        const char *k, *v;
        for (uint64_t i = 0; pio_reader_metadata_at(r, i, &k, &v) == 0; i++)
            sink += (double)strlen(k) + (double)strlen(v);
        pio_reader_metadata_get(r, "creator");
        pio_reader_find_step(r, 100);
        pio_reader_find_time(r, 1.0);
        struct pio_reader_info in;
        pio_reader_info(r, &in);
        pio_reader_verify(r, 1, &e);
        pio_reader_final(r);
        pio_reader_natoms_bound(r);
        (void)sink;
        pio_reader_close(r);
    }
    /* recovery of the same bytes in place (a memfd takes the cut and the
     * appended index), then what it left must open and verify or fail
     * cleanly */
    struct pio_recover_report rep;
    if (pio_holo_recover(path, &rep, &e) == 0 && pio_reader_open(&r, path, NULL, &e) == 0) {
        for (uint64_t i = 0; i < pio_reader_nframes(r) && i < 4096; i++)
            pio_reader_verify_frame(r, i, &e);
        pio_reader_verify(r, 1, &e);
        pio_reader_close(r);
    }
    close(fd);
    return 0;
}

#include "fuzz_replay.h"
