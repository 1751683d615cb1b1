/*
 * prismio bench write FILE: the HOLO writer (hashing every frame,
 * fdatasync at the end) next to fio writing as many bytes, end_fsync=1.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD "bench write"

/* fio's write throughput (bytes/s, its final fsync included) for `bytes`
 * in blocks of `bs`, as the writer's engine writes: io_uring at depth 4
 * (uring) or one pwrite at a time (psync), O_DIRECT or buffered; < 0 if
 * fio is missing or fails. */
static double fio_write_bw(const char *path, uint64_t bs, uint64_t bytes, bool uring, bool direct)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "fio --name=prismio-baseline --filename='%s' --rw=write --bs=%llu --size=%llu "
             "%s %s --end_fsync=1 --output-format=json 2>/dev/null",
             path, (unsigned long long)bs, (unsigned long long)bytes,
             uring ? "--ioengine=io_uring --iodepth=4" : "--ioengine=psync",
             direct ? "--direct=1" : "");
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[512];
    double bw = -1;
    bool in_write = false;
    while (fgets(line, sizeof(line), p)) {
        if (strstr(line, "\"write\" : {"))
            in_write = true;
        const char *k = strstr(line, "\"bw_bytes\" : ");
        if (k && in_write && bw < 0)
            bw = atof(k + 13);
    }
    unlink(path);
    return pclose(p) == 0 ? bw : -1;
}

int bench_write(int argc, char **argv)
{
    uint64_t natoms = 100000, nframes = 1000, repeat = 3;
    bool json = false, direct = false;
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    struct cli_opt opts[] = {
        CLI_OPT_SIZE("atoms", &natoms, "N", 1, PIO_HOLO_MAX_ATOMS,
                     "atoms per frame (default 100000)"),
        CLI_OPT_SIZE("frames", &nframes, "M", 1, 0, "frames (default 1000)"),
        CLI_OPT_CUSTOM("engine", &wo.engine, "E", cli_parse_engine, CLI_ENGINES,
                       "the writer's I/O engine: pread or uring"),
        CLI_OPT_FLAG("direct", 0, &direct, "O_DIRECT writes (fio too)"),
        CLI_OPT_SIZE("repeat", &repeat, "N", 1, 0, "runs; the best counts (default 3)"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "FILE.holo",
        .min_args = 1,
        .max_args = 1,
        .about = "The writer (BLAKE3 of every record, durable commit at the end) writing M\n"
                 "frames of N atoms to FILE, next to fio writing the same bytes in\n"
                 "record-sized blocks with end_fsync=1, as the engine writes (pread: psync;\n"
                 "uring: io_uring, depth 4; O_DIRECT with --direct); best of N runs.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    wo.flags = PIO_WRITER_OVERWRITE | (direct ? PIO_WRITER_DIRECT : 0);
    /* Four distinct frames cycled, so generating data costs nothing. */
    size_t bytes = (size_t)natoms * 12;
    float *data[4];
    for (int k = 0; k < 4; k++) {
        data[k] = malloc(bytes);
        if (!data[k]) {
            cli_err(CMD, "out of memory");
            return EXIT_IOERR;
        }
        for (size_t j = 0; j < natoms * 3; j++)
            data[k][j] = (float)((j * 2654435761u + (size_t)k * 97) % 100000) * 1e-4f;
    }
    double t_ours = -1, fio_bw = -1;
    uint64_t size = 0;
    struct pio_io_info io = {0};
    char fio_path[4096];
    snprintf(fio_path, sizeof(fio_path), "%s.fio", path);
    int status = EXIT_OK;
    for (uint64_t rep = 0; rep < repeat && status == EXIT_OK; rep++) {
        struct pio_error e = {0};
        pio_writer *w;
        /* a fresh file, as fio's is (its file is removed after each run):
         * truncating the last run's inside the timing cost us 4% of the
         * samples (freeing its page cache) */
        unlink(path);
        double t0 = cli_now();
        int rc = pio_writer_create(&w, path, &wo, &e);
        if (rc == 0) {
            pio_writer_io_info(w, &io);
            for (uint64_t f = 0; f < nframes && rc == 0; f++) {
                struct pio_frame fr = {.natoms = natoms,
                                       .step = (int64_t)f,
                                       .time = (double)f,
                                       .positions = (const float(*)[3])data[f % 4]};
                rc = pio_writer_append(w, &fr, &e);
            }
            int crc = pio_writer_close(w, rc == 0 ? &e : NULL);
            if (rc == 0)
                rc = crc;
        }
        if (rc != 0) {
            status = cli_fail(CMD, rc, &e);
            break;
        }
        t_ours = bench_best(t_ours, cli_now() - t0);
        struct stat st;
        size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
        uint64_t bs = (bench_record_bytes(natoms, 1, 0) + 4095) / 4096 * 4096;
        double bw =
            fio_write_bw(fio_path, bs, size / bs * bs, io.engine == PIO_IO_URING, io.direct);
        if (bw > fio_bw)
            fio_bw = bw;
    }
    for (int k = 0; k < 4; k++)
        free(data[k]);
    if (status != EXIT_OK)
        return status;
    double gbps = (double)size / t_ours / 1e9;
    if (json) {
        printf("{\"benchmark\":\"write\",\"file\":");
        cli_json_string(stdout, path);
        cli_json_printf(
            ",\"bytes\":%llu,\"frames\":%llu,\"atoms\":%llu,\"engine\":\"%s\",\"repeat\":%llu,"
            "\"write_gbps\":%.3f",
            (unsigned long long)size, (unsigned long long)nframes, (unsigned long long)natoms,
            pio_io_engine_name(io.engine), (unsigned long long)repeat, gbps);
        if (fio_bw > 0)
            cli_json_printf(",\"fio_gbps\":%.3f,\"fio_engine\":\"%s\",\"direct\":%s,\"ratio\":%.3f",
                            fio_bw / 1e9, io.engine == PIO_IO_URING ? "io_uring" : "psync",
                            io.direct ? "true" : "false", gbps * 1e9 / fio_bw);
        printf("}\n");
    } else {
        printf("HOLO write of %llu frames x %llu atoms (%.1f MB, %s engine%s%s%s, best of "
               "%llu)\n",
               (unsigned long long)nframes, (unsigned long long)natoms, (double)size / 1e6,
               pio_io_engine_name(io.engine), io.direct ? " + O_DIRECT" : "",
               io.note[0] ? "; " : "", io.note, (unsigned long long)repeat);
        printf("  writer (BLAKE3 per record, fdatasync at the end)           %6.2f GB/s\n", gbps);
        if (fio_bw > 0)
            printf("  fio %-6s%-9s (same bytes and blocks, end_fsync) %6.2f GB/s   ratio %.2fx\n",
                   io.engine == PIO_IO_URING ? "uring" : "psync", io.direct ? " direct" : "",
                   fio_bw / 1e9, gbps * 1e9 / fio_bw);
        else
            printf("  fio not available: no baseline\n");
    }
    return EXIT_OK;
}
