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

static void usage(FILE *f)
{
    fprintf(f, "usage: prismio convert IN.holo OUT.holo [--frames SPEC] [--atoms SPEC]\n"
               "                       [--drop v,f,box,scalars] [--threads N] [--batch N]\n"
               "                       [--memory BYTES] [--commit-every N] [--overwrite]\n"
               "                       [--engine mmap|pread|uring] [--direct] [--no-verify]\n"
               "                       [--layout frames|atoms] [--quiet] [--strict]\n\n"
               "Streams IN to OUT through the pipeline in bounded memory. Formats by\n"
               "extension: .holo .xtc .trr .dcd .ncdf .gro .pdb .xyz .arrow (both ways).\n"
               "  --top FILE      topology (names, residues, chains) from a .gro or .pdb\n"
               "  --precision P   XTC output precision (default 1000: 0.001 nm)\n"
               "  --layout L      Arrow output: a row per frame (frames, the default) or per\n"
               "                  atom per frame (atoms); docs/ARROW.md gives the columns\n"
               "  --frames SPEC   START:STOP:STEP (Python slice), N, N-M, comma lists\n"
               "  --atoms SPEC    e.g. '0-99', 'name CA', 'resname SOL and not element H',\n"
               "                  'chain A or (resid 1-10 and name C*)'\n"
               "  --drop LIST     leave out velocities (v), forces (f), box, scalars\n"
               "  --threads N     transform workers and XTC decoders (default: all CPUs,\n"
               "                  and half of them as XTC decoders, at least one: the\n"
               "                  others hash and write the output)\n"
               "  --batch N       frames per batch (default 128)\n"
               "  --memory BYTES  batch memory (default 8M; k, M, G suffixes)\n"
               "  --commit-every N  commit OUT every N frames (default: at the end)\n"
               "  --no-verify     skip the BLAKE3 check of each input frame (default: a\n"
               "                  damaged frame stops the run instead of being copied)\n"
               "  --quiet         no progress bar (it shows only on a terminal anyway) and no\n"
               "                  summary line; warnings still go to stderr\n"
               "  --strict        refuse an input with a truncated or torn last frame instead\n"
               "                  of skipping it with a warning (exit 65)\n"
               "On an error a .holo OUT keeps, committed, the frames written before it;\n"
               "other formats are written as OUT.part and renamed only when complete.\n");
}

struct progress {
    bool on;
    double last;
    uint64_t width;
};

static void fmt_eta(char *buf, size_t n, double s)
{
    if (s < 0 || s > 359999)
        snprintf(buf, n, "--:--");
    else if (s >= 3600)
        snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

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
    fmt_eta(eta, sizeof(eta), frac > 0 ? p->seconds * (1 - frac) / frac : -1);
    fprintf(stderr, "\r[%s] %llu/%llu frames  %.0f MB/s  ETA %s ", bar,
            (unsigned long long)p->frames_done, (unsigned long long)p->frames_total, mbs, eta);
    fflush(stderr);
}

static bool parse_drop(const char *s, uint32_t *out)
{
    *out = 0;
    char buf[128];
    if (strlen(s) >= sizeof(buf))
        return false;
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
            return false;
    }
    return *out != 0;
}

int cmd_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    uint64_t commit_every = 0;
    bool quiet = false, verify = true, strict = false;
    const char *top = NULL;
    float precision = 0;
    uint32_t layout = PIO_ARROW_FRAMES;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_reader_option("convert", argc, argv, &i, &ro);
        if (r < 0)
            return EXIT_USAGE;
        if (r > 0)
            continue;
        bool has_val = i + 1 < argc;
        uint64_t v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = true;
        } else if (!strcmp(a, "--strict")) {
            strict = true;
        } else if (!strcmp(a, "--no-verify")) {
            verify = false;
        } else if (!strcmp(a, "--overwrite")) {
            wo.flags |= PIO_WRITER_OVERWRITE;
        } else if (!strcmp(a, "--frames") && has_val) {
            po.frames = argv[++i];
        } else if (!strcmp(a, "--atoms") && has_val) {
            po.atoms = argv[++i];
        } else if (!strcmp(a, "--drop") && has_val) {
            if (!parse_drop(argv[++i], &po.drop)) {
                cli_err("convert", "--drop takes a list of v, f, box, scalars, not '%s'", argv[i]);
                return EXIT_USAGE;
            }
        } else if ((!strcmp(a, "--threads") || !strcmp(a, "--batch")) && has_val) {
            if (!cli_parse_u64(argv[++i], &v, false) || v == 0 || v > (1u << 20)) {
                cli_err("convert", "%s needs a number from 1 to %u, not '%s'", a, 1u << 20,
                        argv[i]);
                return EXIT_USAGE;
            }
            *(a[2] == 't' ? &po.threads : &po.batch_frames) = (uint32_t)v;
        } else if (!strcmp(a, "--memory") && has_val) {
            if (!cli_parse_u64(argv[++i], &po.max_bytes, true) || po.max_bytes == 0) {
                cli_err("convert", "--memory needs a size such as 64M, not '%s'", argv[i]);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--top") && has_val) {
            top = argv[++i];
        } else if (!strcmp(a, "--precision") && has_val) {
            char *endp;
            precision = strtof(argv[++i], &endp);
            if (*endp || !(precision > 0)) {
                cli_err("convert", "--precision needs a positive number such as 1000");
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--layout") && has_val) {
            const char *l = argv[++i];
            if (strcmp(l, "frames") && strcmp(l, "atoms")) {
                cli_err("convert", "--layout is frames or atoms, not '%s'", l);
                return EXIT_USAGE;
            }
            layout = l[0] == 'a' ? PIO_ARROW_ATOMS : PIO_ARROW_FRAMES;
        } else if (!strcmp(a, "--commit-every") && has_val) {
            if (!cli_parse_u64(argv[++i], &commit_every, false)) {
                cli_err("convert", "--commit-every needs a frame count, not '%s'", argv[i]);
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_err("convert", "unknown or incomplete option '%s' (see --help)", a);
            return EXIT_USAGE;
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            cli_err("convert", "unexpected argument '%s' (see --help)", a);
            return EXIT_USAGE;
        }
    }
    if (!in || !out) {
        cli_err("convert", "need IN and OUT (see --help)");
        return EXIT_USAGE;
    }
    struct stat si, so;
    if (stat(in, &si) == 0 && stat(out, &so) == 0 && si.st_dev == so.st_dev &&
        si.st_ino == so.st_ino) {
        cli_err("convert", "%s: input and output are the same file", out);
        return EXIT_USAGE;
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
    ko.writer = &wo;
    ko.commit_frames = commit_every;
    ko.xtc_precision = precision;
    ko.arrow_layout = layout;
    int rc = pio_source_open(&src, in, &so_, &e);
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
        /* Say what OUT holds, if the run got as far as creating it. */
        pio_reader *r;
        if (st.buffers && pio_format_from_path(out) == PIO_FORMAT_HOLO &&
            pio_reader_open(&r, out, NULL, NULL) == 0) {
            struct pio_reader_info ri;
            pio_reader_info(r, &ri);
            cli_err("convert", "%s holds the %llu frames written before the error%s", out,
                    (unsigned long long)ri.nframes,
                    ri.recovered ? " (uncommitted: run 'prismio recover')" : ", committed");
            pio_reader_close(r);
        }
        return code;
    }
    if (!quiet)
        printf("%s: %llu frames (%.1f MB of arrays in, %.1f MB out) in %.2f s, %.0f MB/s\n", out,
               (unsigned long long)st.frames_out, (double)st.bytes_in / 1e6,
               (double)st.bytes_out / 1e6, st.seconds,
               st.seconds > 0 ? (double)st.bytes_in / st.seconds / 1e6 : 0.0);
    return EXIT_OK;
}
