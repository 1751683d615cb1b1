/*
 * prismio truncate FILE --after-step S | --keep N: a restart from a
 * checkpoint (pio_writer_truncate: a commit without the frames after it,
 * nothing rewritten). prismio compact IN OUT: a copy without dead records
 * and with one index (the pipeline, HOLO to HOLO, every frame verified).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* Frames to keep for --after-step S: those with step <= S, which must
 * come first (steps that never decrease). */
static int keep_after_step(const char *path, int64_t step, uint64_t *keep, uint64_t *n)
{
    pio_reader *r;
    struct pio_error e = {0};
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = PIO_READER_NO_RECOVERY;
    int rc = pio_reader_open(&r, path, &ro, &e);
    if (rc != 0)
        return cli_fail("truncate", rc, &e);
    struct pio_reader_info in;
    pio_reader_info(r, &in);
    *n = in.nframes;
    int status = EXIT_OK;
    if (!in.steps_sorted) {
        cli_err("truncate",
                "%s: its steps go down somewhere, so 'after step %lld' is not one "
                "place; use --keep N",
                path, (long long)step);
        status = EXIT_DATAERR;
    } else {
        uint64_t lo = 0, hi = in.nframes; /* the first frame with a step past S */
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            struct pio_frame f;
            if ((rc = pio_reader_frame(r, mid, &f, &e)) != 0) {
                status = cli_fail("truncate", rc, &e);
                break;
            }
            if (f.step <= step)
                lo = mid + 1;
            else
                hi = mid;
        }
        *keep = lo;
    }
    pio_reader_close(r);
    return status;
}

int cmd_truncate(int argc, char **argv)
{
    const char *after = NULL;
    uint64_t keep = UINT64_MAX;
    bool nosync = false;
    struct cli_opt opts[] = {
        CLI_OPT_STRING("after-step", 0, &after, "S",
                       "keep the frames up to step S (steps must never decrease)"),
        CLI_OPT_U64("keep", &keep, "N", 0, 0, "keep the first N frames"),
        CLI_OPT_FLAG("no-sync", 0, &nosync, "commit without fdatasync (scratch files)"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "truncate",
        .synopsis = "FILE",
        .min_args = 1,
        .max_args = 1,
        .about = "Drops the frames after a step (a restart from a checkpoint) by committing\n"
                 "an index without them: no byte already written changes; the dropped\n"
                 "frames stay as dead bytes until prismio compact. New frames appended then\n"
                 "continue from the last frame kept. HOLO 2.0 files only.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    if ((after != NULL) == (keep != UINT64_MAX)) {
        cli_err("truncate", "give one of --after-step S and --keep N");
        return EXIT_USAGE;
    }
    uint64_t n = 0;
    if (after) {
        char *end;
        errno = 0;
        long long s = strtoll(after, &end, 10);
        if (errno || end == after || *end) {
            cli_err("truncate", "--after-step %s: not a step number", after);
            return EXIT_USAGE;
        }
        int status = keep_after_step(path, (int64_t)s, &keep, &n);
        if (status != EXIT_OK)
            return status;
    }
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = nosync ? PIO_WRITER_NO_SYNC : 0;
    struct pio_error e = {0};
    pio_writer *w;
    int rc = pio_writer_open_append(&w, path, &wo, &e);
    if (rc != 0)
        return cli_fail("truncate", rc, &e);
    n = pio_writer_nframes(w);
    if (keep > n) {
        pio_writer_close(w, NULL);
        cli_err("truncate", "%s: --keep %llu, the file has %llu frames", path,
                (unsigned long long)keep, (unsigned long long)n);
        return EXIT_USAGE;
    }
    if ((rc = pio_writer_truncate(w, keep, &e)) != 0 || (rc = pio_writer_close(w, &e)) != 0) {
        if (w && rc != 0)
            pio_writer_close(w, NULL);
        return cli_fail("truncate", rc, &e);
    }
    printf("%s: kept %llu frames, dropped %llu\n", path, (unsigned long long)keep,
           (unsigned long long)(n - keep));
    return EXIT_OK;
}

int cmd_compact(int argc, char **argv)
{
    bool overwrite = false, quiet = false;
    struct cli_salt salt = {{0}, false};
    struct cli_opt opts[] = {
        CLI_OPT_FLAG("overwrite", 0, &overwrite, "replace OUT if it exists"),
        CLI_OPT_CUSTOM("salt", &salt, "HEX", cli_parse_salt, "32 hex digits",
                       "this 16-byte salt and creation time 0 (default: random, and the "
                       "time): the same IN gives the same bytes"),
        CLI_OPT_FLAG("quiet", 'q', &quiet, "no summary line"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "compact",
        .synopsis = "IN OUT",
        .min_args = 2,
        .max_args = 2,
        .about = "Writes a copy of the HOLO file IN to OUT without its dead records (frames a\n"
                 "truncation dropped, the index records of every commit) and with one index:\n"
                 "the same frames, topology and metadata, each frame's BLAKE3 checked on the\n"
                 "way. IN is left as it is.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *in = cmd.args[0], *out = cmd.args[1];
    struct stat si, so;
    if (stat(in, &si) == 0 && stat(out, &so) == 0 && si.st_dev == so.st_dev &&
        si.st_ino == so.st_ino) {
        cli_err("compact", "%s: input and output are the same file", out);
        return EXIT_USAGE;
    }
    if (pio_format_from_path(out) != PIO_FORMAT_HOLO) {
        cli_err("compact", "%s: the copy is a HOLO file: name it .holo", out);
        return EXIT_USAGE;
    }
    struct pio_error e = {0};
    struct pio_source src;
    struct pio_sink sink;
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    /* a compressed file's copy is compressed the way its first frame is */
    pio_reader *r;
    if (pio_reader_open(&r, in, NULL, NULL) == 0 && pio_reader_has_arrays(r)) {
        /* a dataset (named arrays, HOLO 2.3): copied structure by
         * structure with its arrays, metadata and topology */
        pio_reader_close(r);
        if (salt.set) {
            cli_err("compact",
                    "%s: a dataset of structures is copied with a salt of its own: "
                    "no --salt",
                    in);
            return EXIT_USAGE;
        }
        struct pio_dataset_convert_report rep = {0, 0};
        int rc = pio_dataset_convert(in, out, overwrite ? PIO_DSCONV_OVERWRITE : 0, &rep, &e);
        if (rc != 0)
            return cli_fail("compact", rc, &e);
        if (!quiet && stat(in, &si) == 0 && stat(out, &so) == 0)
            printf("%s: %llu frames, %lld bytes (%s: %lld bytes)\n", out,
                   (unsigned long long)rep.structures, (long long)so.st_size, in,
                   (long long)si.st_size);
        return EXIT_OK;
    } else if (r) {
        for (uint64_t i = 0; i < pio_reader_nframes(r); i++)
            if (pio_reader_frame_codecs(r, i, wo.codec, &wo.precision) == 0)
                break;
        /* and in blocks as large as its largest among the first ones */
        wo.keyframe = 1;
        uint64_t first;
        uint32_t k;
        for (uint64_t i = 0; i < pio_reader_nframes(r) && i < 4096; i += k)
            if (pio_reader_frame_block(r, i, &first, &k) != 0)
                k = 1;
            else if (k > wo.keyframe)
                wo.keyframe = k;
        pio_reader_close(r);
    }
    int rc = pio_source_holo(&src, in, NULL, 0, &e);
    if (rc != 0)
        return cli_fail("compact", rc, &e);
    struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
    ko.flags = overwrite ? PIO_SINK_OVERWRITE : 0;
    wo.flags = overwrite ? PIO_WRITER_OVERWRITE : 0;
    if (salt.set)
        wo.salt = salt.salt;
    ko.writer = &wo;
    if ((rc = pio_sink_open(&sink, out, &ko, &e)) != 0) {
        pio_source_destroy(&src);
        return cli_fail("compact", rc, &e);
    }
    struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
    struct pio_pipeline_stats st;
    rc = pio_pipeline_run(&src, &sink, &po, &st, &e);
    pio_source_destroy(&src);
    pio_sink_destroy(&sink);
    if (rc != 0)
        return cli_fail("compact", rc, &e);
    if (!quiet && stat(in, &si) == 0 && stat(out, &so) == 0)
        printf("%s: %llu frames, %lld bytes (%s: %lld bytes)\n", out,
               (unsigned long long)st.frames_out, (long long)so.st_size, in, (long long)si.st_size);
    return EXIT_OK;
}
