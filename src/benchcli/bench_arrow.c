/*
 * prismio bench arrow: Arrow export measured against baselines in the same
 * run.
 *
 *  - IPC export: FILE.holo through the zero-copy C stream (frames layout,
 *    a frame per batch) into an Arrow IPC file, next to memcpy of the same
 *    number of bytes out of the same mapping, and next to write() of the
 *    same bytes to the same directory (the page-cache copy any file writer
 *    pays). Best of N runs each.
 *  - C Data Interface export: the time to export a range and take its
 *    first batch, for ranges of 1 frame up to the whole file (median of
 *    many runs): constant, because nothing is copied or read ahead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD "bench arrow"

static uint64_t u64_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* One export of the whole file to `out`: seconds, bytes written. */
static double ipc_once(const pio_reader *r, uint32_t batch, const char *out, uint64_t *bytes,
                       struct pio_error *e)
{
    struct ArrowArrayStream st;
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.batch_frames = batch;
    double t0 = cli_now();
    if (pio_arrow_export(&st, r, &o, e) != 0)
        return -1;
    int rc = pio_arrow_ipc_write(out, &st, 1, e);
    st.release(&st);
    double t = cli_now() - t0;
    struct stat sb;
    if (rc != 0 || stat(out, &sb) != 0)
        return -1;
    *bytes = (uint64_t)sb.st_size;
    return t;
}

/* The same export serialized into memory (pio_arrow_ipc_serialize). */
static double mem_once(const pio_reader *r, uint32_t batch, uint64_t *bytes, struct pio_error *e)
{
    struct ArrowArrayStream st;
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.batch_frames = batch;
    void *img = NULL;
    size_t len = 0;
    double t0 = cli_now();
    if (pio_arrow_export(&st, r, &o, e) != 0)
        return -1;
    int rc = pio_arrow_ipc_serialize(&st, &img, &len, e);
    st.release(&st);
    double t = cli_now() - t0;
    pio_arrow_ipc_free(img, len);
    *bytes = len;
    return rc == 0 ? t : -1;
}

/* The same export serialized into the caller's (warm) buffer. */
static double into_once(const pio_reader *r, uint32_t batch, uint8_t *buf, size_t cap,
                        struct pio_error *e)
{
    struct ArrowArrayStream st;
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.batch_frames = batch;
    size_t len = 0;
    double t0 = cli_now();
    if (pio_arrow_export(&st, r, &o, e) != 0)
        return -1;
    int rc = pio_arrow_ipc_serialize_into(&st, buf, cap, &len, e);
    st.release(&st);
    double t = cli_now() - t0;
    __asm__ volatile("" : : "r"(buf) : "memory");
    return rc == 0 ? t : -1;
}

/* memcpy of `bytes` from the mapping (cycled) into a new buffer, as the
 * serializer's output is (page faults included, huge pages asked for as
 * the serializer does). */
static double memcpy_fresh(const uint8_t *src, uint64_t src_len, uint64_t bytes)
{
    double t0 = cli_now();
    uint8_t *dst = malloc((size_t)bytes);
    if (!dst)
        return -1;
    /* the same huge-page request the serializer makes for its image */
    uintptr_t a = ((uintptr_t)dst + 4095) & ~(uintptr_t)4095;
    uintptr_t b = ((uintptr_t)dst + bytes) & ~(uintptr_t)4095;
    if (bytes >= ((uint64_t)4 << 20) && b > a)
        madvise((void *)a, (size_t)(b - a), MADV_HUGEPAGE);
    for (uint64_t done = 0; done < bytes;) {
        size_t n = (size_t)u64_min(bytes - done, src_len);
        memcpy(dst + done, src, n);
        done += n;
    }
    __asm__ volatile("" : : "r"(dst) : "memory");
    free(dst);
    return cli_now() - t0;
}

/* memcpy of `bytes` from the mapping (cycled) into a warm buffer. */
static double memcpy_once(const uint8_t *src, uint64_t src_len, uint8_t *dst, size_t dst_len,
                          uint64_t bytes)
{
    double t0 = cli_now();
    uint64_t done = 0, at = 0;
    while (done < bytes) {
        size_t n = (size_t)u64_min(u64_min(bytes - done, dst_len), src_len - at);
        memcpy(dst, src + at, n);
        done += n;
        at = at + n == src_len ? 0 : at + n;
    }
    double t = cli_now() - t0;
    __asm__ volatile("" : : "r"(dst) : "memory");
    return t;
}

/* write() of `bytes` (from buf, cycled) to a new file, then fdatasync. */
static double write_once(const char *path, const uint8_t *buf, size_t len, uint64_t bytes)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    double t0 = cli_now();
    uint64_t done = 0;
    while (done < bytes) {
        ssize_t k = write(fd, buf, (size_t)u64_min(len, bytes - done));
        if (k <= 0) {
            close(fd);
            return -1;
        }
        done += (uint64_t)k;
    }
    fdatasync(fd);
    double t = cli_now() - t0;
    close(fd);
    return t;
}

/* Median seconds to export frames [0, n) and take the first batch. */
static double export_range(const pio_reader *r, uint64_t n, int reps, struct pio_error *e)
{
    double *t = malloc((size_t)reps * sizeof(*t));
    if (!t)
        return -1;
    struct pio_arrow_options o = PIO_ARROW_OPTIONS_INIT;
    o.count = n;
    for (int k = 0; k < reps; k++) {
        struct ArrowArrayStream st;
        struct ArrowSchema s;
        struct ArrowArray b;
        double t0 = cli_now();
        if (pio_arrow_export(&st, r, &o, e) != 0 || st.get_schema(&st, &s) != 0 ||
            st.get_next(&st, &b) != 0 || !b.release) {
            free(t);
            return -1;
        }
        b.release(&b);
        s.release(&s);
        st.release(&st);
        t[k] = cli_now() - t0;
    }
    qsort(t, (size_t)reps, sizeof(*t), bench_cmp_double);
    double m = t[reps / 2];
    free(t);
    return m;
}

int bench_arrow(int argc, char **argv)
{
    const char *dir = NULL;
    uint64_t nrepeat = 3;
    bool json = false;
    struct cli_opt opts[] = {
        CLI_OPT_STRING("out", 0, &dir, "DIR",
                       "where the export is written (default /dev/shm, else "
                       "FILE's directory); removed afterwards"),
        CLI_OPT_U64("repeat", &nrepeat, "N", 1, 1000, "runs of each; the best counts (default 3)"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "FILE.holo",
        .min_args = 1,
        .max_args = 1,
        .about = "IPC export: FILE through the zero-copy C Data Interface stream (frames\n"
                 "layout; frames under 64 Ki atoms several to a batch) into\n"
                 "DIR/prismio-bench.arrow, next to memcpy of the same bytes from the same\n"
                 "mapping and write() of them to DIR; the same export serialized into\n"
                 "memory next to memcpy into a warm and into a new buffer; best of N runs.\n"
                 "C Data export: median time to export a range and get its first batch,\n"
                 "for ranges of 1 to all frames.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    int repeat = (int)nrepeat;
    struct stat sb;
    char dirbuf[4096];
    if (!dir) {
        if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0) {
            dir = "/dev/shm";
        } else {
            snprintf(dirbuf, sizeof(dirbuf), "%s", path);
            char *slash = strrchr(dirbuf, '/');
            if (slash)
                *slash = '\0';
            dir = slash ? dirbuf : ".";
        }
    }
    char out[4200], raw[4200];
    snprintf(out, sizeof(out), "%s/prismio-bench.arrow", dir);
    snprintf(raw, sizeof(raw), "%s/prismio-bench.raw", dir);

    struct pio_error e = {0};
    pio_reader *r;
    int rc = pio_reader_open(&r, path, NULL, &e);
    if (rc != 0)
        return cli_fail(CMD, rc, &e);
    uint64_t nframes = pio_reader_nframes(r);
    /* Frames under 64 Ki atoms go several to a record batch (copied: the
     * per-batch metadata would dominate), as the convert sink does. */
    struct pio_frame f0;
    uint32_t batch = 1;
    if (nframes && pio_reader_frame(r, 0, &f0, &e) == 0 && f0.natoms < 65536)
        batch = (uint32_t)(65536 / (f0.natoms ? f0.natoms : 1));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    const uint8_t *map = MAP_FAILED;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0)
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (fd >= 0)
        close(fd);
    size_t dst_len = 64u << 20;
    uint8_t *dst = malloc(dst_len);
    if (map == MAP_FAILED || !dst || nframes == 0) {
        pio_reader_close(r);
        free(dst);
        cli_err(CMD, "%s: cannot map the file, or it has no frames", path);
        return EXIT_DATAERR;
    }
    memset(dst, 1, dst_len);
    uint64_t src_len = (uint64_t)st.st_size, bytes = 0;
    volatile uint8_t warm = 0;
    for (uint64_t i = 0; i < src_len; i += 4096)
        warm += map[i];
    (void)warm;

    double t_ipc = -1, t_mem = -1, t_write = -1, t_ser = -1, t_fresh = -1;
    uint64_t ser_bytes = 0;
    for (int k = 0; k < repeat; k++) {
        double t = ipc_once(r, batch, out, &bytes, &e);
        if (t < 0) {
            rc = e.code ? e.code : -EIO;
            break;
        }
        t_ipc = t_ipc < 0 || t < t_ipc ? t : t_ipc;
    }
    for (int k = 0; rc == 0 && k < repeat; k++) {
        double t = mem_once(r, batch, &ser_bytes, &e);
        if (t < 0) {
            rc = e.code ? e.code : -ENOMEM;
            break;
        }
        t_ser = t_ser < 0 || t < t_ser ? t : t_ser;
        t = memcpy_fresh(map, src_len, bytes);
        if (t >= 0)
            t_fresh = t_fresh < 0 || t < t_fresh ? t : t_fresh;
    }
    /* into one buffer of the image's size, reused (warm), next to memcpy
     * of as many bytes into the same buffer */
    double t_into = -1, t_memw = -1;
    uint8_t *img = rc == 0 ? malloc((size_t)ser_bytes) : NULL;
    if (img) {
        memset(img, 1, (size_t)ser_bytes);
        for (int k = 0; rc == 0 && k < repeat; k++) {
            double t = into_once(r, batch, img, (size_t)ser_bytes, &e);
            if (t < 0) {
                rc = e.code ? e.code : -EIO;
                break;
            }
            t_into = t_into < 0 || t < t_into ? t : t_into;
            t = memcpy_once(map, src_len, img, (size_t)ser_bytes, ser_bytes);
            t_memw = t_memw < 0 || t < t_memw ? t : t_memw;
        }
        free(img);
    }
    for (int k = 0; rc == 0 && k < repeat; k++) {
        double t = memcpy_once(map, src_len, dst, dst_len, bytes);
        t_mem = t_mem < 0 || t < t_mem ? t : t_mem;
        t = write_once(raw, dst, dst_len, bytes);
        if (t >= 0)
            t_write = t_write < 0 || t < t_write ? t : t_write;
    }
    unlink(out);
    unlink(raw);
    munmap((void *)map, (size_t)src_len);
    free(dst);
    if (rc != 0) {
        pio_reader_close(r);
        return cli_fail(CMD, rc, &e);
    }

    uint64_t ranges[8], nr = 0;
    for (uint64_t n = 1; n < nframes && nr < 7; n *= 10)
        ranges[nr++] = n;
    ranges[nr++] = nframes;
    double tr[8];
    for (uint64_t k = 0; k < nr; k++)
        if ((tr[k] = export_range(r, ranges[k], 501, &e)) < 0) {
            pio_reader_close(r);
            return cli_fail(CMD, e.code ? e.code : -EIO, &e);
        }
    pio_reader_close(r);

    double gb = (double)bytes / 1e9;
    if (json) {
        cli_json_printf(
            "{\"file\": \"%s\", \"bytes\": %llu, \"ipc_gbps\": %.3f, \"memcpy_gbps\": %.3f, "
            "\"write_gbps\": %.3f, \"ratio_memcpy\": %.3f, \"ratio_write\": %.3f, "
            "\"serialize_gbps\": %.3f, \"memcpy_new_gbps\": %.3f, "
            "\"serialize_ratio_memcpy\": %.3f, \"serialize_ratio_memcpy_new\": %.3f, "
            "\"into_gbps\": %.3f, \"memcpy_same_buffer_gbps\": %.3f, "
            "\"into_ratio_memcpy\": %.3f, \"export_ranges\": [",
            path, (unsigned long long)bytes, gb / t_ipc, gb / t_mem,
            t_write > 0 ? gb / t_write : 0.0, t_mem / t_ipc, t_write > 0 ? t_write / t_ipc : 0.0,
            gb / t_ser, t_fresh > 0 ? gb / t_fresh : 0.0, t_mem / t_ser,
            t_fresh > 0 ? t_fresh / t_ser : 0.0, t_into > 0 ? gb / t_into : 0.0,
            t_memw > 0 ? gb / t_memw : 0.0, t_into > 0 ? t_memw / t_into : 0.0);
        for (uint64_t k = 0; k < nr; k++)
            cli_json_printf("%s{\"frames\": %llu, \"us\": %.3f}", k ? ", " : "",
                            (unsigned long long)ranges[k], tr[k] * 1e6);
        printf("]}\n");
        return EXIT_OK;
    }
    printf("IPC export of %s (%llu frames, %u per batch%s, %.1f MB written to %s):\n", path,
           (unsigned long long)nframes, batch, batch == 1 ? ", zero-copy" : ", copied",
           (double)bytes / 1e6, dir);
    printf("  prism-io export    %8.2f GB/s\n", gb / t_ipc);
    printf("  memcpy (baseline)  %8.2f GB/s   ratio %.2fx\n", gb / t_mem, t_mem / t_ipc);
    if (t_write > 0)
        printf("  write() + fdatasync %7.2f GB/s   ratio %.2fx\n", gb / t_write, t_write / t_ipc);
    printf("IPC export into memory (pio_arrow_ipc_serialize, a new %.1f MB image):\n",
           (double)ser_bytes / 1e6);
    printf("  prism-io serialize %8.2f GB/s\n", gb / t_ser);
    printf("  memcpy (baseline)  %8.2f GB/s   ratio %.2fx\n", gb / t_mem, t_mem / t_ser);
    if (t_fresh > 0)
        printf("  memcpy to a new buffer %4.2f GB/s   ratio %.2fx\n", gb / t_fresh,
               t_fresh / t_ser);
    if (t_into > 0) {
        printf("IPC export into a reused buffer (pio_arrow_ipc_serialize_into, warm):\n");
        printf("  prism-io serialize %8.2f GB/s\n", gb / t_into);
        printf("  memcpy into the same buffer %5.2f GB/s   ratio %.2fx\n", gb / t_memw,
               t_memw / t_into);
    }
    printf("C Data Interface export of frames [0, n) and the first batch (median of 501):\n");
    for (uint64_t k = 0; k < nr; k++)
        printf("  n = %-10llu %8.2f us\n", (unsigned long long)ranges[k], tr[k] * 1e6);
    return EXIT_OK;
}
