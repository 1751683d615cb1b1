/*
 * pio_blake3_hasher_update_fd: the file's bytes hash exactly like the same
 * bytes in memory, for sizes around the 8 MiB subtree and 256 KiB block
 * boundaries, any thread count, a non-zero offset, a hasher that already
 * holds input (so the parallel part starts mid-tree), and keyed mode; a
 * file shorter than asked gives PIO_ETRUNCATED, a bad descriptor -EBADF.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <prismio/blake3.h>

#include "pio_test.h"

#define MIB ((size_t)1 << 20)

int main(void)
{
    uint64_t seed = pio_test_seed(4242);
    size_t max = 50 * MIB;
    uint8_t *data = malloc(max);
    pio_test_fill(data, max, seed);
    char path[] = "/tmp/pio_test_b3file_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    CHECK(write(fd, data, max) == (ssize_t)max);

    static const size_t lens[] = {0,
                                  1,
                                  1024,
                                  1025,
                                  256 << 10,
                                  (8 << 20) - 1,
                                  8 << 20,
                                  (16 << 20) - 1,
                                  16 << 20,
                                  (16 << 20) + 1,
                                  (24 << 20) + 4097,
                                  50 << 20};
    static const unsigned threads[] = {1, 2, 3, 0};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t want[64], got[64];
        pio_blake3_hash(want, 64, data, lens[i]);
        for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++) {
            pio_blake3_hasher h;
            pio_blake3_hasher_init(&h);
            CHECK(pio_blake3_hasher_update_fd(&h, fd, 0, lens[i], threads[t]) == 0);
            pio_blake3_hasher_finalize(&h, got, 64);
            CHECKF(memcmp(want, got, 64) == 0, "len %zu threads %u", lens[i], threads[t]);
        }
    }

    /* offset into the file, and a hasher that already holds some input */
    /* the last two leave a whole chunk buffered at the 8 MiB boundary */
    static const size_t heads[] = {
        1, 1024, 5000, (3 << 20) + 7, (8 << 20) - 1000, (8 << 20) - 1024};
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        size_t head = heads[i], off = 777, len = 33 * MIB + 3;
        uint8_t want[32], got[32];
        pio_blake3_hasher h;
        pio_blake3_hasher_init(&h);
        pio_blake3_hasher_update(&h, data, head);
        pio_blake3_hasher_update(&h, data + off, len);
        pio_blake3_hasher_finalize(&h, want, 32);
        pio_blake3_hasher_init(&h);
        pio_blake3_hasher_update(&h, data, head);
        CHECK(pio_blake3_hasher_update_fd(&h, fd, off, len, 2) == 0);
        pio_blake3_hasher_finalize(&h, got, 32);
        CHECKF(memcmp(want, got, 32) == 0, "head %zu", head);
    }

    /* keyed mode through the threaded path */
    {
        static const uint8_t key[32] = "0123456789abcdef0123456789abcdef";
        uint8_t want[32], got[32];
        pio_blake3_keyed_hash(want, 32, key, data, 40 * MIB);
        pio_blake3_hasher h;
        pio_blake3_hasher_init_keyed(&h, key);
        CHECK(pio_blake3_hasher_update_fd(&h, fd, 0, 40 * MIB, 2) == 0);
        pio_blake3_hasher_finalize(&h, got, 32);
        CHECK(memcmp(want, got, 32) == 0);
    }

    /* errors */
    pio_blake3_hasher h;
    pio_blake3_hasher_init(&h);
    CHECK(pio_blake3_hasher_update_fd(&h, fd, max - 10, 11, 1) == PIO_ETRUNCATED);
    pio_blake3_hasher_reset(&h);
    CHECK(pio_blake3_hasher_update_fd(&h, fd, 0, max + 1, 2) == PIO_ETRUNCATED);
    pio_blake3_hasher_reset(&h);
    CHECK(pio_blake3_hasher_update_fd(&h, -1, 0, 100, 1) == -EBADF);
    CHECK(pio_blake3_hasher_update_fd(&h, -1, 0, 64 * MIB, 2) == -EBADF);

    close(fd);
    free(data);
    return TEST_RESULT();
}
