/*
 * HOLO: writing records and commits, shared by the writer and recovery:
 * whole writes (retrying short ones and EINTR; the writer's fault
 * injection point for torn writes), the INDEX record and footer of a
 * commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "format/holo_internal.h"

#include "common/pio_common.h"

/* pwritev until done; iov is consumed. */
int pio__holo_pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
    int fault = cnt > 0 ? pio_io_fault_take(PIO_FAULT_WRITE) : 0;
    if (PIO_UNLIKELY(fault)) { /* a torn write: half of the first piece lands */
        if (pwrite(fd, iov->iov_base, iov->iov_len / 2, (off_t)off) < 0)
            return -errno;
        return fault;
    }
    while (cnt > 0) {
        ssize_t n = pwritev(fd, iov, cnt > IOV_MAX ? IOV_MAX : cnt, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (uint64_t)n;
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

int pio__holo_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    struct iovec iov = {(void *)buf, len};
    return pio__holo_pwritev_all(fd, &iov, 1, off);
}

int pio__holo_build_index(const struct holo_entry *entries, uint64_t n, uint64_t meta_off,
                          uint64_t meta_len, const uint8_t digest[32], const uint8_t salt[16],
                          uint64_t index_off, uint8_t **out, uint64_t *out_len)
{
    /* Zero padding so the footer ends on a HOLO_COMMIT_ALIGN boundary: the
     * next append starts block-aligned, which O_DIRECT needs, and no commit
     * ever shares a block with later writes. */
    uint64_t len = HOLO_INDEX_HDR + holo_pad64(n * HOLO_ENTRY_SIZE);
    len += (HOLO_COMMIT_ALIGN - (index_off + len + HOLO_FOOTER_SIZE) % HOLO_COMMIT_ALIGN) %
           HOLO_COMMIT_ALIGN;
    uint8_t *buf = calloc(1, (size_t)(len + HOLO_FOOTER_SIZE));
    if (!buf)
        return -ENOMEM;
    holo_put_rec_header(buf, HOLO_REC_INDEX, len, n, salt);
    holo_wr64(buf + 64, n);
    holo_wr64(buf + 80, meta_off);
    holo_wr64(buf + 88, meta_len);
    memcpy(buf + 96, digest, 32);
    if (n)
        memcpy(buf + HOLO_INDEX_HDR, entries, (size_t)(n * HOLO_ENTRY_SIZE));
    pio__holo_record_hash(buf, len, 1, buf + HOLO_HASH_OFF);
    uint8_t *f = buf + len;
    memcpy(f, HOLO_FOOTER_MAGIC, 8);
    holo_wr64(f + 8, index_off);
    holo_wr64(f + 16, len);
    holo_wr64(f + 24, n);
    pio__holo_footer_hash(f, buf + HOLO_HASH_OFF, salt, f + HOLO_HASH_OFF);
    *out = buf;
    *out_len = len + HOLO_FOOTER_SIZE;
    return 0;
}
