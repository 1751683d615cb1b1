/*
 * bench_codec FILE [--precision NM] [--level N] [--json]: the array codecs
 * (src/codec) on a real trajectory, against zstd on the raw float32 bytes
 * (the baseline, same level, same run) and, for an XTC input, the XTC
 * file itself. Every frame of FILE (any format prismio reads) is coded one
 * frame at a time: positions lossy at the precision (default 0.001 nm,
 * XTC's) and lossless; velocities and forces lossless when present.
 * Reported: bytes per atom per frame, size against raw and against the
 * input, the largest lossy error, and encode / decode speed in M atoms/s
 * with ratios against the baseline (larger is better). Not a test.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zstd.h>

#include <prismio.h>

#include "codec/pio_codec.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct arrays {
    float (*x)[3];
    uint64_t natoms, nframes; /* frames of natoms atoms each, one after another */
};

static int load(const char *path, struct arrays *a, int field)
{
    struct pio_source src;
    struct pio_error e = {0};
    if (pio_source_open(&src, path, NULL, &e) != 0) {
        fprintf(stderr, "bench_codec: %s\n", e.message);
        return -1;
    }
    struct pio_source_info in;
    src.info(src.ctx, &in, &e);
    int rc = src.start(src.ctx, NULL, 0, &e);
    uint64_t cap = 0;
    memset(a, 0, sizeof(*a));
    struct pio_frame f;
    while (rc == 0 && (rc = src.next(src.ctx, &f, &e)) == 1) {
        const float(*v)[3] = field == 0 ? f.positions : field == 1 ? f.velocities : f.forces;
        if (v && (a->nframes == 0 || f.natoms == a->natoms)) {
            a->natoms = f.natoms;
            if ((a->nframes + 1) * a->natoms > cap) {
                cap = (a->nframes + 1) * a->natoms * 2;
                a->x = realloc(a->x, (size_t)cap * 12);
            }
            memcpy(a->x + a->nframes * a->natoms, v, (size_t)a->natoms * 12);
            a->nframes++;
        }
        src.release(src.ctx, &f);
        rc = 0;
    }
    pio_source_destroy(&src);
    return rc < 0 ? -1 : 0;
}

struct result {
    const char *name;
    double bytes, enc_s, dec_s, max_err;
};

/* Every frame through codec (RAW: zstd on the raw bytes, the baseline). */
static int run(const struct arrays *a, unsigned codec, double precision, int level,
               struct result *r)
{
    size_t cap = pio__codec_bound(a->natoms);
    uint8_t *buf = malloc(cap * a->nframes + 1);
    size_t *lens = malloc(a->nframes * sizeof(*lens) + 1);
    float(*out)[3] = malloc((size_t)a->natoms * 12 + 12);
    struct pio__codec_scratch s = {0};
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    memset(r, 0, sizeof(*r));
    double t0 = now();
    for (uint64_t k = 0; k < a->nframes; k++) {
        const float(*x)[3] = (const float(*)[3])(a->x + k * a->natoms);
        uint64_t bad;
        if (codec == PIO__CODEC_RAW) {
            lens[k] = ZSTD_compressCCtx(cc, buf + k * cap, cap, x, (size_t)a->natoms * 12, level);
            if (ZSTD_isError(lens[k]))
                return -1;
        } else if (pio__codec_encode(codec, x, a->natoms, precision, level, buf + k * cap, cap,
                                     &lens[k], &bad, &s) != 0) {
            return -1;
        }
        r->bytes += (double)lens[k];
    }
    r->enc_s = now() - t0;
    t0 = now();
    for (uint64_t k = 0; k < a->nframes; k++) {
        const float(*x)[3] = (const float(*)[3])(a->x + k * a->natoms);
        if (codec == PIO__CODEC_RAW) {
            if (ZSTD_decompressDCtx(dc, out, (size_t)a->natoms * 12, buf + k * cap, lens[k]) !=
                (size_t)a->natoms * 12)
                return -1;
        } else if (pio__codec_decode(codec, buf + k * cap, lens[k], a->natoms, precision, out,
                                     &s) != 0) {
            return -1;
        }
        for (uint64_t i = 0; codec == PIO__CODEC_LOSSY && i < a->natoms; i++)
            for (int c = 0; c < 3; c++)
                r->max_err = fmax(r->max_err, fabs((double)out[i][c] - (double)x[i][c]));
    }
    r->dec_s = now() - t0;
    pio__codec_scratch_free(&s);
    ZSTD_freeCCtx(cc);
    ZSTD_freeDCtx(dc);
    free(buf);
    free(lens);
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    double precision = 0.001;
    int level = 3;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--precision") && i + 1 < argc)
            precision = atof(argv[++i]);
        else if (!strcmp(argv[i], "--level") && i + 1 < argc)
            level = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            path = argv[i];
    }
    if (!path || !(precision > 0)) {
        fprintf(stderr, "usage: bench_codec FILE [--precision NM] [--level N] [--json]\n");
        return 64;
    }
    struct stat st;
    double file_bytes = stat(path, &st) == 0 ? (double)st.st_size : 0;
    int is_xtc = strlen(path) > 4 && !strcmp(path + strlen(path) - 4, ".xtc");
    static const char *fields[3] = {"positions", "velocities", "forces"};
    if (json)
        printf("{\"file\":\"%s\",\"precision\":%g,\"level\":%d,\"arrays\":[", path, precision,
               level);
    int first = 1;
    for (int fld = 0; fld < 3; fld++) {
        struct arrays a;
        if (load(path, &a, fld) != 0 || a.nframes == 0) {
            free(a.x);
            continue;
        }
        double n = (double)a.natoms * (double)a.nframes;
        struct result base, r[2];
        unsigned codecs[2] = {PIO__CODEC_LOSSY, PIO__CODEC_LOSSLESS};
        int ncod = fld == 0 ? 2 : 1;
        if (fld != 0)
            codecs[0] = PIO__CODEC_LOSSLESS;
        if (run(&a, PIO__CODEC_RAW, precision, level, &base) != 0) {
            fprintf(stderr, "bench_codec: zstd failed\n");
            return 74;
        }
        for (int k = 0; k < ncod; k++)
            if (run(&a, codecs[k], precision, level, &r[k]) != 0) {
                fprintf(stderr, "bench_codec: %s failed on %s\n", pio__codec_name(codecs[k]),
                        fields[fld]);
                return 74;
            }
        if (!json) {
            printf("%s: %llu frames x %llu atoms (%s)\n", path, (unsigned long long)a.nframes,
                   (unsigned long long)a.natoms, fields[fld]);
            printf("  %-22s %8s %9s %10s %10s %9s\n", "codec", "B/atom", "vs raw", "enc Ma/s",
                   "dec Ma/s", "max err");
            printf("  %-22s %8.3f %9.3f %10.1f %10.1f %9s\n", "raw float32", 12.0, 1.0, 0.0, 0.0,
                   "-");
            printf("  %-22s %8.3f %9.3f %10.1f %10.1f %9s\n", "zstd of raw (baseline)",
                   base.bytes / n, base.bytes / (12 * n), n / base.enc_s / 1e6,
                   n / base.dec_s / 1e6, "-");
            for (int k = 0; k < ncod; k++)
                printf("  %-22s %8.3f %9.3f %10.1f %10.1f %9.2g\n", pio__codec_name(codecs[k]),
                       r[k].bytes / n, r[k].bytes / (12 * n), n / r[k].enc_s / 1e6,
                       n / r[k].dec_s / 1e6, r[k].max_err);
            if (is_xtc && fld == 0)
                printf("  %-22s %8.3f  (lossy is %.2fx the XTC's size)\n", "the XTC file",
                       file_bytes / n, r[0].bytes / file_bytes);
        } else {
            for (int k = 0; k < ncod; k++) {
                printf("%s{\"array\":\"%s\",\"codec\":\"%s\",\"frames\":%llu,\"atoms\":%llu,"
                       "\"bytes_per_atom\":%.4f,\"baseline_bytes_per_atom\":%.4f,"
                       "\"size_ratio_vs_baseline\":%.4f,\"encode_matoms_s\":%.2f,"
                       "\"decode_matoms_s\":%.2f,\"decode_speed_ratio_vs_baseline\":%.3f,"
                       "\"max_error\":%.3g",
                       first ? "" : ",", fields[fld], pio__codec_name(codecs[k]),
                       (unsigned long long)a.nframes, (unsigned long long)a.natoms, r[k].bytes / n,
                       base.bytes / n, base.bytes / r[k].bytes, n / r[k].enc_s / 1e6,
                       n / r[k].dec_s / 1e6, base.dec_s / r[k].dec_s, r[k].max_err);
                if (is_xtc && fld == 0)
                    printf(",\"size_ratio_vs_xtc\":%.4f", file_bytes / r[k].bytes);
                printf("}");
                first = 0;
            }
        }
        free(a.x);
    }
    if (json)
        printf("]}\n");
    return 0;
}
