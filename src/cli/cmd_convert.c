/*
 * prismio convert IN OUT: a trajectory through the streaming pipeline
 * (frame and atom selection, field dropping), with a progress bar on a
 * terminal. HOLO to HOLO for now; the converters add other formats here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

struct progress {
    bool on;
    double last;
    uint64_t width;
};

static void progress_cb(void *ctx, const struct pio_pipeline_progress *p)
{
    struct progress *pg = ctx;
    bool last = p->frames_done == p->frames_total;
    if (!pg->on || (!last && p->seconds - pg->last < 0.1))
        return;
    pg->last = p->seconds;
    double frac = p->frames_total ? (double)p->frames_done / (double)p->frames_total : 1.0;
    char bar[41];
    int fill = (int)(frac * 40);
    for (int i = 0; i < 40; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[40] = '\0';
    double mbs = p->seconds > 0 ? (double)p->bytes_in / p->seconds / 1e6 : 0;
    char eta[16];
    cli_fmt_duration(eta, sizeof(eta), frac > 0 ? p->seconds * (1 - frac) / frac : -1);
    fprintf(stderr, "\r[%s] %llu/%llu frames  %.0f MB/s  ETA %s ", bar,
            (unsigned long long)p->frames_done, (unsigned long long)p->frames_total, mbs, eta);
    fflush(stderr);
}

static int parse_drop(const char *s, void *dest)
{
    uint32_t *out = dest;
    *out = 0;
    char buf[128];
    if (strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "v") || !strcmp(t, "velocities"))
            *out |= PIO_FIELD_VELOCITIES;
        else if (!strcmp(t, "f") || !strcmp(t, "forces"))
            *out |= PIO_FIELD_FORCES;
        else if (!strcmp(t, "box"))
            *out |= PIO_FIELD_BOX;
        else if (!strcmp(t, "scalars"))
            *out |= PIO_DROP_SCALARS;
        else
            return -1;
    }
    return *out != 0 ? 0 : -1;
}

/* After a failed run: what the .holo OUT holds, as the file says. */
static void say_what_out_holds(const char *out)
{
    pio_reader *r;
    if (pio_reader_open(&r, out, NULL, NULL) != 0)
        return;
    struct pio_reader_info ri;
    pio_reader_info(r, &ri);
    cli_err("convert", "%s holds the %llu frames written before the error%s", out,
            (unsigned long long)ri.nframes,
            ri.recovered ? " (uncommitted: run 'prismio recover')" : ", committed");
    pio_reader_close(r);
}

/* `mpirun -np N prismio convert IN OUT.holo`: every rank converts its
 * block of the frames into one file (pio_mpi_convert); rank 0 reports. */
static int convert_mpi(const char *in, const char *out, const struct pio_source_options *so,
                       const struct pio_sink_options *ko, const struct pio_pipeline_options *po,
                       bool quiet)
{
    struct pio_mpi_convert_options mo = PIO_MPI_CONVERT_OPTIONS_INIT;
    mo.source = so;
    mo.sink = ko;
    mo.pipeline = po;
    struct pio_mpi_convert_stats st = {0};
    st.ranks = 0; /* set once MPI is up */
    struct pio_error e = {0};
    int rc = pio_mpi_convert_world(in, out, &mo, &st, &e);
    bool speaker = st.ranks == 0 || st.rank == 0;
    if (speaker && st.warning[0])
        cli_err("convert", "warning: %s", st.warning);
    int code = EXIT_OK;
    if (rc != 0) {
        code = speaker ? cli_fail("convert", rc, &e) : cli_exit_code(rc);
        if (speaker && st.created)
            say_what_out_holds(out);
    } else if (!quiet && speaker) {
        printf("%s: %llu frames by %u ranks%s (%.1f MB of arrays in, %.1f MB out) in %.2f s, "
               "%.0f MB/s\n",
               out, (unsigned long long)st.frames, st.ranks,
               st.parallel_scan ? ", XTC frames found in parallel" : "", (double)st.bytes_in / 1e6,
               (double)st.bytes_out / 1e6, st.seconds,
               st.seconds > 0 ? (double)st.bytes_in / st.seconds / 1e6 : 0.0);
    }
    fflush(stdout);
    pio_mpi_finalize(); /* the other ranks wait for rank 0's report */
    return code;
}

/* A conversion of structures with named arrays: extended XYZ on either
 * side, or a HOLO file made for named arrays (HOLO 2.3) into HOLO. */
static bool is_dataset(const char *in, const char *out)
{
    size_t n = strlen(out);
    if (pio_path_is_extxyz(in) || (n >= 7 && !strcmp(out + n - 7, ".extxyz")))
        return true;
    if (pio_format_from_path(in) != PIO_FORMAT_HOLO || pio_path_is_remote(in))
        return false;
    pio_reader *r;
    if (pio_reader_open(&r, in, NULL, NULL) != 0)
        return false;
    bool arrays = pio_reader_has_arrays(r);
    pio_reader_close(r);
    size_t on = strlen(out);
    return arrays && ((on >= 5 && !strcmp(out + on - 5, ".holo")) ||
                      (on >= 4 && !strcmp(out + on - 4, ".xyz")));
}

int cmd_convert(int argc, char **argv)
{
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    static const char *const layouts[] = {"frames", "atoms", NULL};
    uint64_t commit_every = 0, threads = 0, batch = 0, memory = 0;
    bool quiet = false, no_verify = false, strict = false, overwrite = false, direct = false,
         append = false;
    bool follow = false;
    double timeout = 0;
    static const char *const codecs[] = {"none", "lossy", "lossless", NULL};
    int codec_ix = 0;
    uint64_t level = 0, keyframe = 0, group_atoms = 0;
    const char *top = NULL;
    double precision = 0;
    int layout_ix = 0;
    struct cli_salt salt = {{0}, false};
    static struct cli_meta meta; /* 16 KiB: not on the stack */
    memset(&meta, 0, sizeof(meta));
    struct cli_opt opts[] = {
        CLI_OPT_STRING("top", 0, &top, "FILE",
                       "topology (names, residues, chains) from a .gro or .pdb"),
        CLI_OPT_STRING("frames", 0, &po.frames, "SPEC",
                       "START:STOP:STEP (Python slice), N, N-M, comma lists"),
        CLI_OPT_STRING("atoms", 0, &po.atoms, "SPEC",
                       "e.g. '0-99', 'name CA', 'resname SOL and not element H', "
                       "'chain A or (resid 1-10 and name C*)'"),
        CLI_OPT_CUSTOM("drop", &po.drop, "LIST", parse_drop, "a list of v, f, box, scalars",
                       "leave out velocities (v), forces (f), box, scalars"),
        CLI_OPT_U64("threads", &threads, "N", 1, 1u << 20,
                    "transform workers and XTC decoders (default: all CPUs, "
                    "and half of them as XTC decoders, at least one: the "
                    "others hash and write the output)"),
        CLI_OPT_U64("batch", &batch, "N", 1, 1u << 20, "frames per batch (default 128)"),
        CLI_OPT_SIZE("memory", &memory, "BYTES", 1, 0, "batch memory (default 8M)"),
        CLI_OPT_U64("commit-every", &commit_every, "N", 0, 0,
                    "commit OUT every N frames (default: at the end)"),
        CLI_OPT_FLAG("overwrite", 0, &overwrite, "replace OUT if it exists"),
        CLI_OPT_FLAG("append", 0, &append,
                     "OUT is a .holo file: add the frames after its last (its topology, "
                     "metadata and salt stay); --frames N: takes the ones it lacks"),
        CLI_OPT_CUSTOM("salt", &salt, "HEX", cli_parse_salt, "32 hex digits",
                       "a .holo OUT: this 16-byte salt and creation time 0 (default: "
                       "random, and the time): the same input gives the same bytes"),
        CLI_OPT_CUSTOM("meta", &meta, "KEY=VALUE", cli_parse_meta, CLI_META_EXPECT,
                       "a .holo OUT: also this metadata (repeatable; after the input's, "
                       "replacing a key it has)"),
        CLI_OPT_FLOAT("precision", &precision, "P",
                      "XTC output, and --compress lossy: values per nm (default: an XTC "
                      "input's own, kept in a HOLO file converted from it; else 1000: "
                      "0.001 nm)"),
        CLI_OPT_CHOICE("layout", &layout_ix, "L", layouts,
                       "Arrow output: a row per frame (frames, the default) or per "
                       "atom per frame (atoms); docs/ARROW.md gives the columns"),
        /* a HOLO input is a stream: pread unless asked (pio_source_holo) */
        CLI_OPTS_READER_DEFAULT(&ro.engine, &direct, "pread"),
        CLI_OPT_FLAG("no-verify", 0, &no_verify,
                     "skip the BLAKE3 check of each input frame (default: a "
                     "damaged frame stops the run instead of being copied)"),
        CLI_OPT_FLAG("quiet", 'q', &quiet,
                     "no progress bar (it shows only on a terminal anyway) and no "
                     "summary line; warnings still go to stderr"),
        CLI_OPT_FLAG("strict", 0, &strict,
                     "refuse an input with a truncated or torn last frame instead "
                     "of skipping it with a warning (exit 65)"),
        CLI_OPT_CHOICE("compress", &codec_ix, "none|lossy|lossless", codecs,
                       "a .holo OUT: positions lossy at --precision (velocities and forces "
                       "lossless), or everything lossless; default none (raw, zero-copy)"),
        CLI_OPT_U64("level", &level, "N", 1, 19, "zstd level of --compress (default 3)"),
        CLI_OPT_U64("keyframe", &keyframe, "K", 1, 1u << 16,
                    "--compress: code K frames together, each from the one before "
                    "(default 32; 1: each frame alone, HOLO 2.0); without --compress: "
                    "pack frames of at most 4 KiB of arrays K to a record (HOLO 2.2)"),
        CLI_OPT_U64("group-atoms", &group_atoms, "G", 1, UINT32_MAX,
                    "--compress with blocks: atoms per group, the unit a partial read "
                    "decodes (default 4096)"),
        CLI_OPTS_FOLLOW(&follow, &timeout,
                        "IN (HOLO) is being written: convert its frames as they are "
                        "committed, until its writer closes it"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "convert",
        .synopsis = "IN OUT",
        .min_args = 2,
        .max_args = 2,
        .about = "Streams IN to OUT through the pipeline in bounded memory. Formats by\n"
                 "extension: .holo .xtc .trr .dcd .ncdf .gro .pdb .xyz .arrow (both ways).\n",
        .more = "On an error a .holo OUT keeps, committed, the frames written before it;\n"
                "other formats are written as OUT.part and renamed only when complete.\n"
                "With --follow each frame is written as it arrives (--batch 1 unless\n"
                "given), and OUT is complete when IN's writer closes it.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *in = cmd.args[0], *out = cmd.args[1];
    bool verify = !no_verify;
    po.threads = (uint32_t)threads;
    uint32_t timeout_ms = 0;
    if (cli_follow_timeout("convert", timeout, &timeout_ms) != EXIT_OK)
        return EXIT_USAGE;
    if (follow && po.frames) {
        cli_err("convert", "--follow converts the whole file: no --frames");
        return EXIT_USAGE;
    }
    if (!follow && timeout) {
        cli_err("convert", "--timeout goes with --follow");
        return EXIT_USAGE;
    }
    if (follow && pio_format_from_path(in) != PIO_FORMAT_HOLO) {
        cli_err("convert", "%s: --follow follows HOLO files being written", in);
        return EXIT_USAGE;
    }
    if (follow && !batch)
        batch = 1;
    if (batch)
        po.batch_frames = (uint32_t)batch;
    if (memory)
        po.max_bytes = memory;
    if (overwrite)
        wo.flags |= PIO_WRITER_OVERWRITE;
    if (salt.set) {
        if (pio_format_from_path(out) != PIO_FORMAT_HOLO) {
            cli_err("convert", "--salt is for a .holo OUT");
            return EXIT_USAGE;
        }
        wo.salt = salt.salt;
    }
    if (append && (pio_format_from_path(out) != PIO_FORMAT_HOLO || overwrite || salt.set ||
                   meta.n || codec_ix || keyframe || follow || pio_mpi_launched() > 1)) {
        cli_err("convert", "--append adds frames to a .holo OUT as it is: no --overwrite, "
                           "--salt, --meta, --compress, --keyframe, --follow or mpirun");
        return EXIT_USAGE;
    }
    if (append && access(out, F_OK) != 0) {
        cli_err("convert", "%s: --append: no such file", out);
        return EXIT_NOINPUT;
    }
    if (meta.n && pio_format_from_path(out) != PIO_FORMAT_HOLO) {
        cli_err("convert", "--meta is for a .holo OUT");
        return EXIT_USAGE;
    }
    if (direct)
        ro.io_flags |= PIO_READER_DIRECT;
    uint32_t layout = layout_ix == 1 ? PIO_ARROW_ATOMS : PIO_ARROW_FRAMES;
    if (codec_ix) {
        if (pio_format_from_path(out) != PIO_FORMAT_HOLO) {
            cli_err("convert", "--compress is for a .holo OUT");
            return EXIT_USAGE;
        }
        wo.codec[0] = codec_ix == 1 ? PIO_CODEC_LOSSY : PIO_CODEC_LOSSLESS;
        wo.codec[1] = wo.codec[2] = PIO_CODEC_LOSSLESS;
        wo.precision = precision > 0 ? 1.0 / precision : 0; /* 0: the XTC's, else 0.001 */
        wo.level = (int32_t)level;
        wo.keyframe = (uint32_t)keyframe;
        wo.group_atoms = (uint32_t)group_atoms;
    } else if (level || group_atoms) {
        cli_err("convert", "--%s goes with --compress", level ? "level" : "group-atoms");
        return EXIT_USAGE;
    } else if (keyframe) {
        if (pio_format_from_path(out) != PIO_FORMAT_HOLO) {
            cli_err("convert", "--keyframe is for a .holo OUT");
            return EXIT_USAGE;
        }
        wo.keyframe = (uint32_t)keyframe; /* raw frames packed (small ones) */
    }
    struct stat si, so;
    if (stat(in, &si) == 0 && stat(out, &so) == 0 && si.st_dev == so.st_dev &&
        si.st_ino == so.st_ino) {
        cli_err("convert", "%s: input and output are the same file", out);
        return EXIT_USAGE;
    }
    if (is_dataset(in, out)) {
        /* structures with named arrays: converted outside the pipeline */
        if (pio_mpi_launched() > 1) {
            cli_err("convert",
                    "%s -> %s: a dataset of structures converts on one process: "
                    "run it without mpirun",
                    in, out);
            return EXIT_USAGE;
        }
        if (po.frames || po.atoms || po.drop || codec_ix || keyframe || follow || top || salt.set ||
            meta.n || append) {
            cli_err("convert",
                    "%s -> %s: a dataset of structures converts whole: no --frames, --atoms, "
                    "--drop, --compress, --keyframe, --follow, --top, --salt, --meta or --append",
                    in, out);
            return EXIT_USAGE;
        }
        struct pio_dataset_convert_report rep = {0, 0};
        struct pio_error e = {0};
        int rc = pio_dataset_convert(in, out, overwrite ? PIO_DSCONV_OVERWRITE : 0, &rep, &e);
        if (rc != 0)
            return cli_fail("convert", rc, &e);
        if (!quiet)
            fprintf(stderr, "%s -> %s: %llu structures, %llu atoms\n", in, out,
                    (unsigned long long)rep.structures, (unsigned long long)rep.atoms);
        return EXIT_OK;
    }

    struct pio_error e = {0};
    struct pio_source src;
    struct pio_sink sink;
    struct pio_source_options so_ = PIO_SOURCE_OPTIONS_INIT;
    so_.flags = (verify ? 0 : PIO_SOURCE_NO_VERIFY) | (strict ? PIO_SOURCE_STRICT : 0);
    so_.topology = top;
    so_.reader = &ro;
    /* XTC decoders: the same knob as the workers. By default half the
     * cores (at least one), and the HOLO sink hashes on the rest: a frame
     * costs the sink (hashing, writing) about what it costs to decode
     * (`prismio bench convert FILE.xtc`, 711 atoms: 11-12 us of CPU each),
     * and with every core decoding the decoders and the sink take turns
     * (2 cores: 2,638 frames/s with one decoder, 2,404 with two). Measured
     * on 2 cores only; above that, the split follows those costs. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    so_.threads = po.threads ? po.threads : (uint32_t)(ncpu > 1 ? ncpu / 2 : 1);
    struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
    ko.flags = (wo.flags & PIO_WRITER_OVERWRITE) ? PIO_SINK_OVERWRITE : 0;
    if (append)
        ko.flags |= PIO_SINK_APPEND;
    ko.writer = &wo;
    ko.commit_frames = commit_every;
    ko.xtc_precision = (float)precision;
    ko.arrow_layout = layout;
    ko.metadata = meta.n ? meta.kv : NULL;
    uint32_t ranks = pio_mpi_launched();
    if (ranks > 1) {
        enum pio_format of = pio_format_from_path(out);
        if (follow || codec_ix || keyframe || commit_every || direct ||
            (of != PIO_FORMAT_HOLO && of != PIO_FORMAT_XTC && of != PIO_FORMAT_TRR)) {
            cli_err("convert",
                    "%s: under mpirun (%u ranks) convert writes a raw .holo OUT, committed once, "
                    "or an .xtc or .trr OUT: no --follow, --compress, --keyframe, --commit-every "
                    "or --direct",
                    out, ranks);
            return EXIT_USAGE;
        }
        /* the ranks share the cores: one XTC decoder each unless asked */
        so_.threads = po.threads ? po.threads : 1;
        if (!po.threads)
            po.threads = 1;
        return convert_mpi(in, out, &so_, &ko, &po, quiet);
    }
    int rc;
    if (follow) {
        struct pio_stream_options sto = PIO_STREAM_OPTIONS_INIT;
        sto.follow_timeout_ms = timeout_ms;
        rc = pio_source_holo_follow(&src, in, &ro, so_.flags, &sto, &e);
    } else {
        rc = pio_source_open(&src, in, &so_, &e);
    }
    if (rc != 0)
        return cli_fail("convert", rc, &e);
    struct pio_source_info si_;
    if (src.info(src.ctx, &si_, &e) == 0 && si_.warning)
        cli_err("convert", "warning: %s", si_.warning);
    if ((rc = pio_sink_open(&sink, out, &ko, &e)) != 0) {
        pio_source_destroy(&src);
        return cli_fail("convert", rc, &e);
    }
    struct progress pg = {.on = !quiet && isatty(STDERR_FILENO)};
    po.progress = progress_cb;
    po.progress_ctx = &pg;
    struct pio_pipeline_stats st;
    rc = pio_pipeline_run(&src, &sink, &po, &st, &e);
    if (pg.on && st.batches)
        fputc('\n', stderr);
    pio_source_destroy(&src);
    pio_sink_destroy(&sink);
    if (rc != 0) {
        int code = cli_fail("convert", rc, &e);
        /* if the run got as far as creating it */
        if (st.buffers && pio_format_from_path(out) == PIO_FORMAT_HOLO)
            say_what_out_holds(out);
        return code;
    }
    if (!quiet)
        printf("%s: %llu frames (%.1f MB of arrays in, %.1f MB out) in %.2f s, %.0f MB/s\n", out,
               (unsigned long long)st.frames_out, (double)st.bytes_in / 1e6,
               (double)st.bytes_out / 1e6, st.seconds,
               st.seconds > 0 ? (double)st.bytes_in / st.seconds / 1e6 : 0.0);
    return EXIT_OK;
}
