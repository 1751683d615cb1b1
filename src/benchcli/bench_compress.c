/*
 * prismio bench compress FILE: HOLO compression on a real trajectory next
 * to the formats people keep trajectories in, every one measured in the
 * same run on the same frames:
 *
 *   HOLO lossy   at --precision (0.001 nm), frames coded alone (2.0) and
 *                in blocks (2.1, --keyframe); HOLO lossless (blocks)
 *   XTC          the input itself (or this project's encoder's output for
 *                a foreign FILE), decoded by this project and by MDAnalysis
 *   TNG          written by `gmx trjconv` when gmx is installed: size only
 *                (nothing here reads TNG: MDAnalysis needs pytng)
 *   HDF5         shuffle + gzip (h5py), zarr with blosc-zstd + shuffle,
 *                and raw float32 + zstd level 3 (numcodecs): the lossless
 *                peers, on the same float32 positions, a chunk per frame
 *
 * Reported per format: bytes per atom per frame, the size next to the XTC,
 * the largest error, decode speed in M atoms/s (one thread; HOLO also on
 * every thread) and next to MDAnalysis's XTC decode; encode speed next to
 * this project's XTC encoder; reading the first 5% of the atoms of the
 * blocked file next to reading all of them. Ratios (keys containing
 * "ratio" in the JSON) are larger = better for HOLO. Decodes alternate
 * between two copies of each HOLO file, so a reader's block cache never
 * serves a repeat from memory.
 */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD "bench compress"

/* The trajectory, in memory: positions of every frame, one atom count. */
struct traj {
    uint64_t natoms, nframes;
    float (*x)[3]; /* nframes x natoms */
    double (*box)[3][3];
    int64_t *step;
    double *time;
    bool has_box;
};

static void traj_free(struct traj *t)
{
    free(t->x);
    free(t->box);
    free(t->step);
    free(t->time);
}

static int load(const char *path, struct traj *t)
{
    memset(t, 0, sizeof(*t));
    struct pio_source src;
    struct pio_error e = {0};
    int rc = pio_source_open(&src, path, NULL, &e);
    struct pio_source_info in;
    if (rc == 0 && (rc = src.info(src.ctx, &in, &e)) == 0)
        rc = src.start(src.ctx, NULL, 0, &e);
    if (rc != 0) {
        cli_err(CMD, "%s", e.message);
        if (src.ctx)
            pio_source_destroy(&src);
        return EXIT_DATAERR;
    }
    uint64_t cap = 0;
    struct pio_frame f;
    while ((rc = src.next(src.ctx, &f, &e)) == 1) {
        if (t->nframes && f.natoms != t->natoms) {
            cli_err(CMD, "%s: frame %llu has %llu atoms, frame 0 %llu: one atom count needed", path,
                    (unsigned long long)t->nframes, (unsigned long long)f.natoms,
                    (unsigned long long)t->natoms);
            rc = -1;
        } else if (!f.positions || f.natoms == 0) {
            cli_err(CMD, "%s: frame %llu has no positions", path, (unsigned long long)t->nframes);
            rc = -1;
        } else if (t->nframes == cap) {
            cap = cap ? cap * 2 : 64;
            void *a = realloc(t->x, (size_t)(cap * f.natoms) * 12);
            void *b = realloc(t->box, (size_t)cap * sizeof(*t->box));
            void *c = realloc(t->step, (size_t)cap * sizeof(*t->step));
            void *d = realloc(t->time, (size_t)cap * sizeof(*t->time));
            t->x = a ? a : t->x;
            t->box = b ? b : t->box;
            t->step = c ? c : t->step;
            t->time = d ? d : t->time;
            if (!a || !b || !c || !d) {
                cli_err(CMD, "%s: out of memory", path);
                rc = -1;
            }
        }
        if (rc == 1) {
            t->natoms = f.natoms;
            memcpy(t->x + t->nframes * t->natoms, f.positions, (size_t)f.natoms * 12);
            memcpy(t->box[t->nframes], f.box, sizeof(f.box));
            t->step[t->nframes] = f.step;
            t->time[t->nframes] = f.time;
            t->has_box |= (f.fields & PIO_FIELD_BOX) != 0;
            t->nframes++;
        }
        src.release(src.ctx, &f);
        if (rc != 1)
            break;
    }
    if (rc < 0 && e.message[0])
        cli_err(CMD, "%s", e.message);
    pio_source_destroy(&src);
    if (rc != 0 || t->nframes == 0) {
        if (rc == 0)
            cli_err(CMD, "%s: no frames", path);
        traj_free(t);
        return EXIT_DATAERR;
    }
    return EXIT_OK;
}

/* The frames, from memory, as a pipeline source. */
struct memsrc {
    const struct traj *t;
    uint64_t next;
};

static int mem_info(void *ctx, struct pio_source_info *out, struct pio_error *err)
{
    (void)err;
    const struct memsrc *m = ctx;
    memset(out, 0, sizeof(*out));
    out->nframes = m->t->nframes;
    out->max_natoms = m->t->natoms;
    out->fields = PIO_FIELD_POSITIONS | (m->t->has_box ? PIO_FIELD_BOX : 0);
    return 0;
}

static int mem_start(void *ctx, const uint64_t *frames, uint64_t n, struct pio_error *err)
{
    (void)frames, (void)n, (void)err;
    ((struct memsrc *)ctx)->next = 0;
    return 0;
}

static int mem_next(void *ctx, struct pio_frame *out, struct pio_error *err)
{
    (void)err;
    struct memsrc *m = ctx;
    if (m->next == m->t->nframes)
        return 0;
    uint64_t i = m->next++;
    memset(out, 0, sizeof(*out));
    out->natoms = m->t->natoms;
    out->fields = PIO_FIELD_POSITIONS | (m->t->has_box ? PIO_FIELD_BOX : 0);
    out->step = m->t->step[i];
    out->time = m->t->time[i];
    memcpy(out->box, m->t->box[i], sizeof(out->box));
    out->positions = (const float(*)[3])(m->t->x + i * m->t->natoms);
    out->index = i;
    return 1;
}

static void mem_release(void *ctx, const struct pio_frame *f)
{
    (void)ctx, (void)f;
}

/* Write the frames to `out` (format by extension; HOLO with `wo`) through
 * the pipeline on one worker: seconds, or < 0 (said why). */
static double encode(const struct traj *t, const char *out, const struct pio_writer_options *wo)
{
    struct memsrc m = {t, 0};
    struct pio_source src = PIO_SOURCE_INIT;
    src.name = "source memory";
    src.ctx = &m;
    src.info = mem_info;
    src.start = mem_start;
    src.next = mem_next;
    src.release = mem_release;
    struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
    ko.flags = PIO_SINK_OVERWRITE;
    ko.writer = wo;
    struct pio_sink sink;
    struct pio_error e = {0};
    int rc = pio_sink_open(&sink, out, &ko, &e);
    if (rc != 0) {
        cli_err(CMD, "%s", e.message);
        return -1;
    }
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    po.threads = 1;
    double t0 = cli_now();
    rc = pio_pipeline_run(&src, &sink, &po, NULL, &e);
    double s = cli_now() - t0;
    pio_sink_destroy(&sink);
    if (rc != 0) {
        cli_err(CMD, "%s", e.message);
        return -1;
    }
    return s;
}

static uint64_t file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Frames [from, to) of r, atoms 0 .. nsel-1, into buf. */
struct read_task {
    const pio_reader *r;
    uint64_t from, to, nsel;
    float (*buf)[3];
    int rc;
};

static void *read_run(void *p)
{
    struct read_task *k = p;
    float(*const xyz[3])[3] = {k->buf, NULL, NULL};
    struct pio_error e = {0};
    k->rc = pio_reader_read(k->r, k->from, k->to - k->from, NULL, k->nsel, xyz, &e);
    if (k->rc != 0)
        cli_err(CMD, "%s", e.message);
    return NULL;
}

/* Seconds to decode every frame (atoms 0 .. nsel-1) of r on `threads`
 * threads, each a contiguous share of the frames (block-aligned: shares
 * are cut at multiples of `align` frames); < 0 on failure. */
static double decode_holo(const pio_reader *r, uint64_t nsel, unsigned threads, uint64_t align,
                          float (*buf)[3])
{
    uint64_t n = pio_reader_nframes(r);
    struct read_task k[64];
    pthread_t th[64];
    threads = threads > 64 ? 64 : threads ? threads : 1;
    double t0 = cli_now();
    for (unsigned j = 0; j < threads; j++) {
        uint64_t a = n * j / threads / align * align, b = n * (j + 1) / threads / align * align;
        if (j + 1 == threads)
            b = n;
        k[j] = (struct read_task){r, a, b, nsel, buf + a * nsel, 0};
        if (j > 0 && pthread_create(&th[j], NULL, read_run, &k[j]) != 0)
            read_run(&k[j]), th[j] = 0;
    }
    read_run(&k[0]);
    int rc = k[0].rc;
    for (unsigned j = 1; j < threads; j++) {
        if (th[j])
            pthread_join(th[j], NULL);
        rc = rc ? rc : k[j].rc;
    }
    double s = cli_now() - t0;
    return rc == 0 ? s : -1;
}

/* Seconds to read every frame's positions of an XTC (this project's
 * decoder, one thread), positions touched; < 0 on failure. */
static double decode_xtc(const char *path)
{
    struct pio_source_options so = PIO_SOURCE_OPTIONS_INIT;
    so.threads = 1;
    struct pio_source s;
    struct pio_error e = {0};
    double t0 = cli_now();
    int rc = pio_source_open(&s, path, &so, &e);
    if (rc == 0)
        rc = s.start(s.ctx, NULL, 0, &e);
    struct pio_frame f;
    while (rc == 0 && (rc = s.next(s.ctx, &f, &e)) == 1) {
        bench_sink += bench_sum_words(f.positions, (size_t)f.natoms * 12);
        s.release(s.ctx, &f);
        rc = 0;
    }
    double t = cli_now() - t0;
    pio_source_destroy(&s);
    return rc == 0 ? t : -1;
}

/* The lossless peers in Debian's python: sizes and best decode seconds
 * (-1: not available) of HDF5 shuffle+gzip, zarr blosc-zstd+shuffle and
 * raw+zstd, a chunk per frame, on the float32 positions in `raw`. */
struct peer {
    const char *name;
    double bytes, seconds;
};
static void python_peers(const char *raw, const char *dir, const struct traj *t, uint64_t repeat,
                         struct peer out[3])
{
    char cmd[16384];
    snprintf(cmd, sizeof(cmd),
             "PYTHONWARNINGS=ignore /usr/bin/python3 -c '\n"
             "import os, sys, time, numpy as np\n"
             "raw, d, F, N, R = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), "
             "int(sys.argv[5])\n"
             "x = np.fromfile(raw, dtype=\"<f4\").reshape(F, N, 3)\n"
             "def best(f):\n"
             "    b = 1e9\n"
             "    for r in range(R):\n"
             "        t0 = time.perf_counter(); y = f(); b = min(b, time.perf_counter() - t0)\n"
             "        assert np.array_equal(y.view(np.uint32), x.view(np.uint32))\n"
             "    return b\n"
             "def du(p):\n"
             "    return sum(os.path.getsize(os.path.join(a, f)) for a, _, fs in os.walk(p) "
             "for f in fs)\n"
             "try:\n"
             "    import h5py\n"
             "    p = os.path.join(d, \"x.h5\")\n"
             "    with h5py.File(p, \"w\") as h:\n"
             "        h.create_dataset(\"x\", data=x, chunks=(1, N, 3), shuffle=True, "
             "compression=\"gzip\")\n"
             "    h = h5py.File(p, \"r\")\n"
             "    print(\"hdf5\", os.path.getsize(p), best(lambda: h[\"x\"][:]))\n"
             "except Exception as e:\n"
             "    print(\"hdf5 -1 -1\")\n"
             "try:\n"
             "    import zarr\n"
             "    from numcodecs import Blosc, Zstd, blosc\n"
             "    blosc.use_threads = False\n" /* one thread, as HOLO's is measured */
             "    p = os.path.join(d, \"x.zarr\")\n"
             "    z = zarr.open(p, mode=\"w\", shape=x.shape, chunks=(1, N, 3), dtype=\"<f4\", "
             "compressor=Blosc(cname=\"zstd\", clevel=5, shuffle=Blosc.SHUFFLE))\n"
             "    z[:] = x\n"
             "    z = zarr.open(p, mode=\"r\")\n"
             "    print(\"zarr\", du(p), best(lambda: z[:]))\n"
             "    c = Zstd(level=3)\n"
             "    enc = [c.encode(np.ascontiguousarray(x[i])) for i in range(F)]\n"
             "    dec = lambda: np.stack([np.frombuffer(c.decode(b), dtype=\"<f4\").reshape(N, 3) "
             "for b in enc])\n"
             "    print(\"zstd\", sum(len(b) for b in enc), best(dec))\n"
             "except Exception as e:\n"
             "    print(\"zarr -1 -1\")\n"
             "    print(\"zstd -1 -1\")\n"
             "' '%s' '%s' %llu %llu %llu 2>/dev/null",
             raw, dir, (unsigned long long)t->nframes, (unsigned long long)t->natoms,
             (unsigned long long)repeat);
    static const char *const names[3] = {"hdf5", "zarr", "zstd"};
    for (int k = 0; k < 3; k++)
        out[k] = (struct peer){names[k], -1, -1};
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    char name[16];
    double b, s;
    while (fscanf(p, "%15s %lf %lf", name, &b, &s) == 3)
        for (int k = 0; k < 3; k++)
            if (strcmp(name, names[k]) == 0)
                out[k] = (struct peer){names[k], b, s};
    pclose(p);
}

/* TNG of the XTC by gmx trjconv (its default compression; it needs a
 * structure file): bytes, or 0. */
static uint64_t tng_bytes(const char *xtc, const char *top, const char *dir)
{
    char out[4200], cmd[13000];
    if (!top)
        return 0;
    snprintf(out, sizeof(out), "%.4090s/x.tng", dir);
    snprintf(cmd, sizeof(cmd),
             "echo 0 | gmx -quiet trjconv -f '%s' -s '%s' -o '%s' >/dev/null 2>&1", xtc, top, out);
    if (system(cmd) != 0)
        return 0;
    return file_bytes(out);
}

/* Largest |decoded - original| over every coordinate. */
static double max_error(const struct traj *t, const float (*got)[3])
{
    double m = 0;
    for (uint64_t i = 0; i < t->nframes * t->natoms; i++)
        for (int c = 0; c < 3; c++)
            m = fmax(m, fabs((double)got[i][c] - (double)t->x[i][c]));
    return m;
}

struct row {
    const char *name;
    double bytes, seconds, error; /* seconds < 0: not measured */
};

static void print_row(const struct row *r, const struct traj *t, double xtc_bytes, double md_rate)
{
    double af = (double)(t->nframes * t->natoms);
    printf("  %-26s %8.3f %7.2fx", r->name, r->bytes / af, r->bytes > 0 ? xtc_bytes / r->bytes : 0);
    if (r->error >= 0)
        printf(" %9.2g", r->error);
    else
        printf(" %9s", "-");
    if (r->seconds > 0) {
        double rate = af / r->seconds / 1e6;
        printf(" %9.1f", rate);
        if (md_rate > 0)
            printf(" %7.2fx", rate / md_rate);
    } else {
        printf(" %9s", "-");
    }
    printf("\n");
}

static void json_row(const struct row *r, const struct traj *t, double xtc_bytes, double md_rate,
                     bool first)
{
    double af = (double)(t->nframes * t->natoms);
    printf("%s{\"name\":", first ? "" : ",");
    cli_json_string(stdout, r->name);
    printf(",\"bytes\":%.0f,\"bytes_per_atom_frame\":", r->bytes);
    cli_json_number(stdout, r->bytes / af);
    printf(",\"size_vs_xtc_ratio\":");
    cli_json_number(stdout, r->bytes > 0 ? xtc_bytes / r->bytes : 0);
    printf(",\"max_error\":");
    cli_json_number(stdout, r->error);
    double rate = r->seconds > 0 ? af / r->seconds / 1e6 : 0;
    printf(",\"decode_matoms_s\":");
    cli_json_number(stdout, rate);
    printf(",\"decode_vs_mdanalysis_xtc_ratio\":");
    cli_json_number(stdout, md_rate > 0 && rate > 0 ? rate / md_rate : 0);
    printf("}");
}

/* Best of `repeat` decodes of all atoms (nsel: atoms 0 .. nsel-1)
 * alternating between readers a and b (two copies of one file). */
static double best_decode(pio_reader *a, pio_reader *b, uint64_t nsel, unsigned threads,
                          uint64_t align, uint64_t repeat, float (*buf)[3])
{
    double best = -1;
    for (uint64_t k = 0; k < 2 * repeat; k++) {
        double s = decode_holo(k % 2 ? b : a, nsel, threads, align, buf);
        if (s < 0)
            return -1;
        best = bench_best(best, s);
    }
    return best;
}

int bench_compress(int argc, char **argv)
{
    bool json = false;
    uint64_t repeat = 3, keyframe = 0, threads = 0, level = 0;
    double precision = 0;
    const char *top = NULL;
    struct cli_opt opts[] = {
        CLI_OPT_STRING("top", 0, &top, "FILE",
                       "structure (.gro, .pdb) gmx trjconv needs for the TNG (default: FILE's "
                       "name with .gro, if there)"),
        CLI_OPT_FLOAT("precision", &precision, "P",
                      "lossy: values per nm (default 1000: 0.001 nm)"),
        CLI_OPT_U64("keyframe", &keyframe, "K", 1, 1u << 16, "frames per block (default 32)"),
        CLI_OPT_U64("level", &level, "N", 1, 19, "zstd level of HOLO (default 3)"),
        CLI_OPT_U64("threads", &threads, "N", 1, 64, "decode threads for scaling (default: all)"),
        CLI_OPT_U64("repeat", &repeat, "N", 1, 1024, "runs of each; the best counts (default 3)"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "FILE",
        .min_args = 1,
        .max_args = 1,
        .about = "HOLO compression of FILE's positions (any format prismio reads, one atom\n"
                 "count) next to its XTC (FILE itself, or this project's encoding of it),\n"
                 "decoded by this project and by MDAnalysis; TNG by gmx trjconv (size only);\n"
                 "HDF5 shuffle+gzip, zarr blosc-zstd and raw+zstd (h5py, zarr, numcodecs in\n"
                 "/usr/bin/python3), all on the same frames in the same run. Files go to a\n"
                 "temporary directory ($TMPDIR or /tmp), removed afterwards.\n",
        .more = "Ratios: size_vs_xtc_ratio (XTC bytes / HOLO lossy in blocks; _per_frame:\n"
                "frames coded alone), decode_vs_mdanalysis_xtc_ratio (one thread),\n"
                "decode_threads_ratio (all threads / one), lossless_size_vs_best_peer_ratio\n"
                "and lossless_decode_vs_best_peer_ratio (HDF5, zarr), encode_vs_xtc_encoder\n"
                "_ratio (one thread each), selection_5pct_speedup_ratio (all atoms / the\n"
                "first 5%). Larger is better for HOLO in every one.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    char gro[4200];
    const char *dot = strrchr(path, '.');
    snprintf(gro, sizeof(gro), "%.*s.gro", (int)(dot ? dot - path : (ptrdiff_t)strlen(path)), path);
    if (!top && access(gro, R_OK) == 0)
        top = gro;
    struct traj t;
    int rc = load(path, &t);
    if (rc != EXIT_OK)
        return rc;
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/prismio-bench-compress-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        cli_err(CMD, "%s: cannot make a temporary directory", dir);
        traj_free(&t);
        return EXIT_IOERR;
    }
    static const char *const names[] = {"x.xtc",        "lossy1.holo",   "lossy.holo",
                                        "lossy_b.holo", "lossless.holo", "lossless_b.holo",
                                        "pos.f32"};
    enum { XTC, LOSSY1, LOSSY, LOSSY_B, LOSSLESS, LOSSLESS_B, RAW, NFILES };
    char files[NFILES][4200];
    for (int k = 0; k < NFILES; k++)
        snprintf(files[k], sizeof(files[k]), "%s/%s", dir, names[k]);
    bool is_xtc = pio_format_from_path(path) == PIO_FORMAT_XTC;
    unsigned all = threads ? (unsigned)threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    double prec = precision > 0 ? 1.0 / precision : 0.001;

    /* encoders, one thread each, best of `repeat`, XTC and HOLO taking turns */
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = PIO_WRITER_NO_SYNC;
    wo.hash_threads = 1;
    wo.codec[0] = PIO_CODEC_LOSSY;
    wo.precision = prec;
    wo.level = (int32_t)level;
    wo.keyframe = (uint32_t)keyframe;
    double enc_xtc = -1, enc_holo = -1, enc_holo1 = -1;
    struct pio_writer_options w1 = wo;
    w1.keyframe = 1;
    for (uint64_t k = 0; k < repeat && rc == EXIT_OK; k++) {
        double a = encode(&t, files[XTC], NULL), b = encode(&t, files[LOSSY], &wo);
        double c = encode(&t, files[LOSSY1], &w1);
        if (a < 0 || b < 0 || c < 0)
            rc = EXIT_DATAERR;
        enc_xtc = bench_best(enc_xtc, a);
        enc_holo = bench_best(enc_holo, b);
        enc_holo1 = bench_best(enc_holo1, c);
    }
    struct pio_writer_options wl = wo;
    wl.codec[0] = PIO_CODEC_LOSSLESS;
    if (rc == EXIT_OK &&
        (encode(&t, files[LOSSY_B], &wo) < 0 || encode(&t, files[LOSSLESS], &wl) < 0 ||
         encode(&t, files[LOSSLESS_B], &wl) < 0))
        rc = EXIT_DATAERR;
    FILE *rf = rc == EXIT_OK ? fopen(files[RAW], "wb") : NULL;
    if (rf) {
        fwrite(t.x, 12, (size_t)(t.nframes * t.natoms), rf);
        fclose(rf);
    }
    const char *xtc = is_xtc ? path : files[XTC];
    double xtc_bytes = (double)file_bytes(xtc);

    /* decoders */
    /* one thread: readers that decode on the calling thread only; every
     * thread: readers that also decode a block's groups on the pool */
    pio_reader *rd[NFILES] = {NULL}, *rp[NFILES] = {NULL};
    struct pio_error e = {0};
    struct pio_reader_options serial = PIO_READER_OPTIONS_INIT;
    serial.flags = PIO_READER_SERIAL_DECODE;
    for (int k = LOSSY1; k <= LOSSLESS_B && rc == EXIT_OK; k++)
        if (pio_reader_open(&rd[k], files[k], &serial, &e) != 0 ||
            pio_reader_open(&rp[k], files[k], NULL, &e) != 0) {
            cli_err(CMD, "%s", e.message);
            rc = EXIT_DATAERR;
        }
    float(*buf)[3] = rc == EXIT_OK ? malloc((size_t)(t.nframes * t.natoms) * 12) : NULL;
    if (rc == EXIT_OK && !buf) {
        cli_err(CMD, "out of memory");
        rc = EXIT_IOERR;
    }
    uint64_t align = 1;
    uint32_t kf = 1;
    if (rc == EXIT_OK && pio_reader_frame_block(rd[LOSSY], 0, &(uint64_t){0}, &kf) == 0)
        align = kf;
    double d_lossy = -1, d_lossy_n = -1, d_lossy1 = -1, d_lossless = -1, d_sel = -1, d_full = -1;
    double err_lossy = -1, err_lossless = -1, d_xtc = -1;
    uint64_t sel = t.natoms / 20 ? t.natoms / 20 : 1;
    if (rc == EXIT_OK) {
        d_lossy1 = best_decode(rd[LOSSY1], rd[LOSSY1], t.natoms, 1, 1, repeat, buf);
        d_lossy = best_decode(rd[LOSSY], rd[LOSSY_B], t.natoms, 1, align, repeat, buf);
        if (all > 1)
            d_lossy_n = best_decode(rp[LOSSY], rp[LOSSY_B], t.natoms, all, align, repeat, buf);
        err_lossy = max_error(&t, (const float(*)[3])buf);
        d_lossless = best_decode(rd[LOSSLESS], rd[LOSSLESS_B], t.natoms, 1, align, repeat, buf);
        err_lossless = max_error(&t, (const float(*)[3])buf);
        bool exact = memcmp(buf, t.x, (size_t)(t.nframes * t.natoms) * 12) == 0;
        if (!exact) {
            cli_err(CMD, "lossless decode differs from the input");
            rc = EXIT_INTEGRITY;
        }
        /* the selection and the whole, taking turns */
        for (uint64_t k = 0; k < repeat; k++) {
            d_full =
                bench_best(d_full, best_decode(rd[LOSSY], rd[LOSSY_B], t.natoms, 1, align, 1, buf));
            d_sel = bench_best(d_sel, best_decode(rd[LOSSY], rd[LOSSY_B], sel, 1, align, 1, buf));
        }
        for (uint64_t k = 0; k < repeat; k++)
            d_xtc = bench_best(d_xtc, decode_xtc(xtc));
    }
    double md = rc == EXIT_OK ? bench_mdanalysis_seconds(xtc, t.natoms, repeat) : -1;
    struct peer peers[3] = {{"hdf5", -1, -1}, {"zarr", -1, -1}, {"zstd", -1, -1}};
    uint64_t tng = 0;
    if (rc == EXIT_OK) {
        python_peers(files[RAW], dir, &t, repeat, peers);
        tng = tng_bytes(xtc, top, dir);
    }
    for (int k = 0; k < NFILES; k++)
        pio_reader_close(rd[k]), pio_reader_close(rp[k]);

    if (rc == EXIT_OK) {
        double af = (double)(t.nframes * t.natoms);
        double md_rate = md > 0 ? af / md / 1e6 : 0;
        struct row rows[] = {
            {"holo lossy, blocks", (double)file_bytes(files[LOSSY]), d_lossy, err_lossy},
            {"holo lossy, frames alone", (double)file_bytes(files[LOSSY1]), d_lossy1, err_lossy},
            {"holo lossless, blocks", (double)file_bytes(files[LOSSLESS]), d_lossless,
             err_lossless},
            {"xtc (prismio)", xtc_bytes, d_xtc, -1},
            {"xtc (MDAnalysis)", xtc_bytes, md, -1},
            {"tng (gmx trjconv)", (double)tng, -1, -1},
            {"hdf5 shuffle+gzip", peers[0].bytes, peers[0].seconds, 0},
            {"zarr blosc-zstd+shuffle", peers[1].bytes, peers[1].seconds, 0},
            {"raw+zstd", peers[2].bytes, peers[2].seconds, 0},
        };
        size_t nrows = sizeof(rows) / sizeof(rows[0]);
        double best_peer_bytes = -1, best_peer_rate = 0;
        for (int k = 0; k < 2; k++) { /* HDF5 and zarr: the lossless peers the issue names */
            if (peers[k].bytes > 0)
                best_peer_bytes = best_peer_bytes < 0 || peers[k].bytes < best_peer_bytes
                                      ? peers[k].bytes
                                      : best_peer_bytes;
            if (peers[k].seconds > 0)
                best_peer_rate = fmax(best_peer_rate, af / peers[k].seconds);
        }
        double r_size = xtc_bytes / rows[0].bytes, r_size1 = xtc_bytes / rows[1].bytes;
        double r_md = md > 0 ? md / d_lossy : 0;
        double r_thr = d_lossy_n > 0 ? d_lossy / d_lossy_n : 1;
        double r_ls = best_peer_bytes > 0 ? best_peer_bytes / rows[2].bytes : 0;
        double r_ld = best_peer_rate > 0 ? af / d_lossless / best_peer_rate : 0;
        double r_enc = enc_xtc / enc_holo, r_sel = d_full / d_sel;
        if (json) {
            printf("{\"file\":");
            cli_json_string(stdout, path);
            printf(",\"frames\":%llu,\"atoms\":%llu,\"precision_nm\":",
                   (unsigned long long)t.nframes, (unsigned long long)t.natoms);
            cli_json_number(stdout, prec);
            printf(",\"keyframe\":%u,\"threads\":%u,\"formats\":[", kf, all);
            for (size_t k = 0; k < nrows; k++)
                json_row(&rows[k], &t, xtc_bytes, md_rate, k == 0);
            printf("],\"size_vs_xtc_ratio\":");
            cli_json_number(stdout, r_size);
            printf(",\"size_vs_xtc_ratio_per_frame\":");
            cli_json_number(stdout, r_size1);
            printf(",\"decode_vs_mdanalysis_xtc_ratio\":");
            cli_json_number(stdout, r_md);
            printf(",\"decode_vs_own_xtc_ratio\":");
            cli_json_number(stdout, d_xtc > 0 ? d_xtc / d_lossy : 0);
            printf(",\"decode_threads_ratio\":");
            cli_json_number(stdout, r_thr);
            printf(",\"lossless_size_vs_best_peer_ratio\":");
            cli_json_number(stdout, r_ls);
            printf(",\"lossless_decode_vs_best_peer_ratio\":");
            cli_json_number(stdout, r_ld);
            printf(",\"encode_vs_xtc_encoder_ratio\":");
            cli_json_number(stdout, r_enc);
            printf(",\"encode_per_frame_vs_xtc_encoder_ratio\":");
            cli_json_number(stdout, enc_xtc / enc_holo1);
            printf(",\"selection_5pct_speedup_ratio\":");
            cli_json_number(stdout, r_sel);
            printf(",\"selection_atoms\":%llu}\n", (unsigned long long)sel);
        } else {
            printf("compress %s: %llu frames x %llu atoms, lossy at %g nm, blocks of %u frames, "
                   "best of %llu\n",
                   path, (unsigned long long)t.nframes, (unsigned long long)t.natoms, prec, kf,
                   (unsigned long long)repeat);
            printf("  %-26s %8s %8s %9s %9s %8s\n", "format", "B/atom", "vs XTC", "max err",
                   "M atom/s", "vs MDA");
            for (size_t k = 0; k < nrows; k++)
                if (rows[k].bytes > 0 || rows[k].seconds > 0)
                    print_row(&rows[k], &t, xtc_bytes, md_rate);
                else
                    printf("  %-26s not available here\n", rows[k].name);
            printf("  size vs XTC: %.2fx in blocks, %.2fx frames alone (larger: HOLO smaller)\n",
                   r_size, r_size1);
            printf("  decode, 1 thread: %.2fx MDAnalysis, %.2fx this project's XTC decoder; "
                   "%u threads: %.2fx one\n",
                   r_md, d_xtc > 0 ? d_xtc / d_lossy : 0, all, r_thr);
            printf("  lossless vs the best of HDF5 and zarr: %.2fx smaller, %.2fx faster to "
                   "decode\n",
                   r_ls, r_ld);
            printf("  encode, 1 thread: %.2fx this project's XTC encoder (%.2fx frames alone)\n",
                   r_enc, enc_xtc / enc_holo1);
            printf("  reading the first %llu atoms (5%%): %.2fx faster than all of them\n",
                   (unsigned long long)sel, r_sel);
        }
    }
    free(buf);
    traj_free(&t);
    for (int k = 0; k < NFILES; k++)
        unlink(files[k]);
    char rm[9000];
    snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
    if (system(rm) != 0)
        cli_err(CMD, "%s: could not remove it", dir);
    return rc;
}
