/*
 * prismio concat IN... OUT.holo: the frames of every input, in the order
 * given, into one new HOLO file: the first input through the pipeline
 * into a new file, each next one appended (PIO_SINK_APPEND), all under
 * OUT.part, renamed when the last is in.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define CMD "concat"

int cmd_concat(int argc, char **argv)
{
    bool overwrite = false, quiet = false, no_verify = false;
    const char *top = NULL;
    struct cli_salt salt = {{0}, false};
    static struct cli_meta meta; /* 16 KiB: not on the stack */
    memset(&meta, 0, sizeof(meta));
    struct cli_opt opts[] = {
        CLI_OPT_STRING("top", 0, &top, "FILE",
                       "topology (.gro or .pdb) of every IN (default: the first IN's own)"),
        CLI_OPT_FLAG("overwrite", 0, &overwrite, "replace OUT if it exists"),
        CLI_OPT_CUSTOM("salt", &salt, "HEX", cli_parse_salt, "32 hex digits",
                       "this 16-byte salt and creation time 0 (default: random, and the "
                       "time): the same inputs give the same bytes"),
        CLI_OPT_CUSTOM("meta", &meta, "KEY=VALUE", cli_parse_meta, CLI_META_EXPECT,
                       "also this metadata (repeatable; after the first IN's, replacing "
                       "a key it has)"),
        CLI_OPT_FLAG("no-verify", 0, &no_verify,
                     "skip the BLAKE3 check of each HOLO input frame (default: a damaged "
                     "frame stops the run)"),
        CLI_OPT_FLAG("quiet", 'q', &quiet, "no summary line"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "IN... OUT",
        .min_args = 2,
        .max_args = -1,
        .about = "Writes the frames of every IN, in the order given, into one new HOLO file\n"
                 "OUT (runs of a simulation, replicas): the topology and metadata of the\n"
                 "first IN (or --top), every IN of its atom count. Any format convert reads.\n",
        .more = "OUT is written as OUT.part and renamed only when every IN is in; on an\n"
                "error it is removed and nothing is left under OUT.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *out = cmd.args[cmd.nargs - 1];
    int nin = cmd.nargs - 1;
    if (pio_format_from_path(out) != PIO_FORMAT_HOLO || pio_path_is_remote(out))
        return cli_usage_error(&cmd, "%s: OUT is a local .holo file", out);
    struct stat so, si;
    if (!overwrite && lstat(out, &so) == 0) {
        cli_err(CMD, "%s: exists (--overwrite replaces it)", out);
        return EXIT_IOERR;
    }
    for (int i = 0; i < nin; i++)
        if (stat(cmd.args[i], &si) == 0 && stat(out, &so) == 0 && si.st_dev == so.st_dev &&
            si.st_ino == so.st_ino)
            return cli_usage_error(&cmd, "%s: an input is the output", out);
    char *part = malloc(strlen(out) + 6);
    if (!part) {
        cli_err(CMD, "out of memory");
        return EXIT_IOERR;
    }
    sprintf(part, "%s.part", out);
    for (int i = 0; i < nin; i++)
        if (strcmp(cmd.args[i], part) == 0 ||
            (stat(cmd.args[i], &si) == 0 && stat(part, &so) == 0 && si.st_dev == so.st_dev &&
             si.st_ino == so.st_ino)) {
            free(part);
            return cli_usage_error(&cmd, "%s: an input is OUT's temporary file", cmd.args[i]);
        }
    unlink(part); /* a killed run's */
    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    if (salt.set)
        wo.salt = salt.salt;
    uint64_t frames = 0, natoms = 0;
    int code = EXIT_OK;
    for (int i = 0; i < nin && code == EXIT_OK; i++) {
        const char *in = cmd.args[i];
        struct pio_error e = {0};
        struct pio_source src;
        struct pio_sink sink;
        struct pio_source_options sopt = PIO_SOURCE_OPTIONS_INIT;
        sopt.flags = no_verify ? PIO_SOURCE_NO_VERIFY : 0;
        sopt.topology = top;
        int rc = pio_source_open(&src, in, &sopt, &e);
        if (rc != 0) {
            code = cli_fail(CMD, rc, &e);
            break;
        }
        struct pio_source_info info;
        if ((rc = src.info(src.ctx, &info, &e)) != 0) {
            pio_source_destroy(&src);
            code = cli_fail(CMD, rc, &e);
            break;
        }
        if (info.warning)
            cli_err(CMD, "warning: %s", info.warning);
        /* the topology's atom count, else the largest frame's (an input
         * without frames adds nothing to check) */
        uint64_t n = info.topology ? info.topology->natoms : info.max_natoms;
        if (natoms == 0) {
            natoms = n;
        } else if (n != natoms && (info.nframes > 0 || info.topology)) {
            pio_source_destroy(&src);
            cli_err(CMD,
                    "%s: %llu atoms, where the inputs before it (%s, ...) have %llu: one "
                    "trajectory has one atom count",
                    in, (unsigned long long)n, cmd.args[0], (unsigned long long)natoms);
            code = EXIT_USAGE;
            break;
        }
        struct pio_sink_options ko = PIO_SINK_OPTIONS_INIT;
        ko.format = PIO_FORMAT_HOLO;
        ko.writer = &wo;
        ko.flags = i ? PIO_SINK_APPEND : 0;
        ko.metadata = i == 0 && meta.n ? meta.kv : NULL;
        if ((rc = pio_sink_open(&sink, part, &ko, &e)) != 0) {
            pio_source_destroy(&src);
            code = cli_fail(CMD, rc, &e);
            break;
        }
        struct pio_pipeline_options po = PIO_PIPELINE_OPTIONS_INIT;
        struct pio_pipeline_stats st;
        rc = pio_pipeline_run(&src, &sink, &po, &st, &e);
        pio_source_destroy(&src);
        pio_sink_destroy(&sink);
        if (rc != 0) {
            code = cli_fail(CMD, rc, &e);
            cli_err(CMD, "%s: input %d of %d; %s removed", in, i + 1, nin, part);
            break;
        }
        frames += st.frames_out;
    }
    int rc = code == EXIT_OK ? cli_rename_durable(part, out) : 0;
    if (rc != 0) {
        cli_err(CMD, "%s -> %s: %s", part, out, strerror(-rc));
        code = EXIT_IOERR;
    }
    if (code != EXIT_OK)
        unlink(part);
    else if (!quiet)
        printf("%s: %llu frames from %d files\n", out, (unsigned long long)frames, nin);
    free(part);
    return code;
}
