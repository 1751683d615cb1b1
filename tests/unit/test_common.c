/* The error model and version: codes, messages, pio_strerror. */
#include <errno.h>

#include <prismio.h>

#include "common/pio_common.h"
#include "pio_test.h"

int main(void)
{
    CHECK(strcmp(pio_version(), PIO_VERSION_STRING) == 0);
    CHECK(pio_version_number() == PIO_VERSION_NUMBER);

    /* every library code has its own message; errno codes use the OS's */
    static const int codes[] = {PIO_ECORRUPT, PIO_ECHECKSUM, PIO_EVERSION, PIO_ETRUNCATED,
                                PIO_EFORMAT,  PIO_EUSAGE,    PIO_ELIMIT,   PIO_ENOTSUPPORTED};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        CHECK(codes[i] >= PIO_ERR_FIRST && codes[i] <= PIO_ERR_LAST);
        CHECK(codes[i] < -4095); /* below every errno value */
        const char *m = pio_strerror(codes[i]);
        CHECK(m && strcmp(m, "unknown error") != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(m, pio_strerror(codes[j])) != 0);
    }
    CHECK(strcmp(pio_strerror(-ENOENT), "No such file or directory") == 0);
    CHECK(strcmp(pio_strerror(0), "success") == 0);
    CHECK(strcmp(pio_strerror(-4999), "unknown error") == 0);
    CHECK(strcmp(pio_strerror(12345), "unknown error") == 0);

    struct pio_error err = {0};
    int rc = pio_error_set(&err, PIO_ECHECKSUM, "%s: frame %d at offset %#x: checksum mismatch",
                           "t.holo", 812, 0x3f20);
    CHECK(rc == PIO_ECHECKSUM);
    CHECK(err.code == PIO_ECHECKSUM);
    CHECK(strcmp(err.message, "t.holo: frame 812 at offset 0x3f20: checksum mismatch") == 0);
    CHECK(pio_error_set(NULL, -EIO, "ignored") == -EIO);

    /* messages longer than the buffer are cut, still terminated */
    char big[2 * PIO_ERROR_MESSAGE_SIZE];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pio_error_set(&err, PIO_ELIMIT, "%s", big);
    CHECK(strlen(err.message) == PIO_ERROR_MESSAGE_SIZE - 1);

    CHECK(pio_cpu_count() >= 1);
    return TEST_RESULT();
}
