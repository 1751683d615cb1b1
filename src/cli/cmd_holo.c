/*
 * prismio info | verify | recover | dump: looking at and repairing HOLO
 * files. Errors print one line naming file, frame and offset (the
 * library's message) and map to the exit codes in clikit.h.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static void print_io(const char *what, const struct pio_io_info *io)
{
    printf("%-11s %s%s (asked: %s%s)", what, pio_io_engine_name(io->engine),
           io->direct ? " + O_DIRECT" : "", pio_io_engine_name(io->requested),
           io->direct_requested ? " + O_DIRECT" : "");
    if (io->direct)
        printf(", alignment %u", io->direct_align);
    printf("\n");
    if (io->note[0])
        printf("            fallback: %s\n", io->note);
}

static void print_fixed(FILE *f, const char *s, size_t n)
{
    size_t l = strnlen(s, n);
    fwrite(s, 1, l, f);
}

/* ---- info ---- */

struct fields_seen {
    uint32_t any, all;
    uint32_t nscalar_names;
    char scalar_names[16][PIO_SCALAR_NAME_SIZE];
    uint32_t codecs[3]; /* per array: a bit per enum pio_codec seen */
    double precision;   /* of lossy arrays (the last seen) */
    double stored, raw; /* record bytes, and what raw records would take */
    uint64_t blocks;    /* BLOCK records of coded frames (2.1) */
    uint64_t packed;    /* BLOCK records of raw frames (2.2) */
    uint32_t block_max; /* frames in the largest */
};

static const char *const codec_names[3] = {"none", "lossy", "lossless"};

/* 0, or the error of a read that failed for another reason than a damaged
 * frame (a remote file's request that kept failing): e names it. */
static int scan_fields(pio_reader *r, struct fields_seen *fs, struct pio_error *e)
{
    memset(fs, 0, sizeof(*fs));
    fs->all = ~0u;
    uint64_t n = pio_reader_nframes(r);
    float(*const none[3])[3] = {NULL, NULL, NULL};
    uint64_t last_off = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct pio_frame f; /* the header: a compressed frame is not decoded */
        int rc = pio_reader_frame_into(r, i, none, 0, &f, e);
        if (rc != 0 && rc != PIO_ECORRUPT && rc != PIO_ECHECKSUM && rc != PIO_EVERSION &&
            rc != PIO_ETRUNCATED && rc != -ERANGE)
            return rc; /* (each frame after would fail the same way, slowly) */
        if (rc != 0)
            continue;
        fs->any |= f.fields;
        fs->all &= f.fields;
        uint32_t codec[3], bn;
        double prec;
        uint64_t off, len, bfirst;
        if (pio_reader_frame_block(r, i, &bfirst, &bn) == 0 && bn > 1 && bfirst == i) {
            /* raw frames packed (2.2), or frames coded together (2.1) */
            bool packed = pio_reader_frame_codecs(r, i, codec, &prec) == 0 && !codec[0];
            fs->packed += packed;
            fs->blocks += !packed;
            fs->block_max = bn > fs->block_max ? bn : fs->block_max;
        }
        if (pio_reader_frame_codecs(r, i, codec, &prec) == 0 &&
            pio_reader_frame_extent(r, i, &off, &len) == 0) {
            int arrays = 0;
            for (int a = 0; a < 3; a++) {
                if (f.fields & (PIO_FIELD_POSITIONS << a)) {
                    fs->codecs[a] |= 1u << codec[a];
                    arrays++;
                }
            }
            if (prec > 0)
                fs->precision = prec;
            if (off != last_off) /* a block's frames share one record */
                fs->stored += (double)len;
            last_off = off;
            fs->raw += 192.0 + (double)arrays * (double)((f.natoms * 12 + 63) / 64 * 64) +
                       (double)((f.nscalars * 32 + 63) / 64 * 64);
        }
        for (uint32_t k = 0; k < f.nscalars && i == 0; k++)
            if (fs->nscalar_names < 16)
                memcpy(fs->scalar_names[fs->nscalar_names++], f.scalars[k].name,
                       PIO_SCALAR_NAME_SIZE);
    }
    if (n == 0)
        fs->all = 0;
    return 0;
}

/* Residues (changes of resid or resname along the atoms) and chains. */
static void topo_counts(const struct pio_topology *t, uint64_t *residues, uint64_t *chains)
{
    *residues = *chains = 0;
    for (uint64_t i = 0; i < t->natoms; i++) {
        if (i == 0 || t->resids[i] != t->resids[i - 1] ||
            memcmp(t->resnames[i], t->resnames[i - 1], 8) != 0)
            (*residues)++;
        if (i == 0 || memcmp(t->chains[i], t->chains[i - 1], 4) != 0)
            (*chains)++;
    }
}

static const char *const field_names[] = {"positions", "velocities", "forces", "box"};

/* ---- following a file being written (info, dump) ---- */

/* A following stream from frame `start`, timing out after `timeout`
 * seconds without a commit (0: never). */
static int follow_open(pio_frame_stream **s, pio_reader *r, uint64_t start, uint32_t timeout_ms,
                       struct pio_error *e)
{
    struct pio_stream_options so = PIO_STREAM_OPTIONS_INIT;
    so.follow_timeout_ms = timeout_ms;
    return pio_frame_stream_follow(s, r, start, &so, e);
}

/* A 1.x file is never final: following it ends only by a timeout. */
static bool no_final_mark(const pio_reader *r, const char *cmd, const char *path, uint32_t timeout)
{
    struct pio_reader_info in;
    pio_reader_info(r, &in);
    if (in.version_major >= 2 || timeout > 0)
        return false;
    cli_err(cmd, "%s: HOLO %u.%u has no final mark; --follow needs --timeout to end", path,
            in.version_major, in.version_minor);
    return true;
}

/* info --follow: a line (or JSON object) each time commits arrive, until
 * the file is final. */
static int info_follow(pio_reader *r, bool json, uint32_t timeout)
{
    pio_frame_stream *s;
    struct pio_error e = {0};
    int rc = follow_open(&s, r, pio_reader_nframes(r), timeout, &e);
    if (rc != 0)
        return cli_fail("info", rc, &e);
    struct pio_frame f;
    uint64_t n = pio_reader_nframes(r);
    while ((rc = pio_frame_stream_next(s, &f, &e)) == 1) {
        /* what else is committed already, without waiting */
        uint64_t added = 0;
        do {
            added++;
            n = f.index + 1;
            int64_t step = f.step;
            double time = f.time;
            pio_frame_stream_release(s, &f);
            f.step = step;
            f.time = time;
        } while ((rc = pio_frame_stream_poll(s, &f, &e)) == 1);
        if (rc != -EAGAIN && rc != 0)
            break;
        if (json)
            printf("{\"frames\":%llu,\"added\":%llu,\"step_last\":%lld,\"time_last\":",
                   (unsigned long long)n, (unsigned long long)added, (long long)f.step);
        if (json) {
            cli_json_number(stdout, f.time);
            printf(",\"final\":false}\n");
        } else {
            printf("frames:     %llu (+%llu), step %lld, time %g ps\n", (unsigned long long)n,
                   (unsigned long long)added, (long long)f.step, f.time);
        }
        fflush(stdout);
        if (rc == 0)
            break;
    }
    pio_frame_stream_close(s);
    if (rc < 0)
        return cli_fail("info", rc, &e);
    if (json)
        printf("{\"frames\":%llu,\"final\":true}\n", (unsigned long long)pio_reader_nframes(r));
    else
        printf("final:      %llu frames (the writer closed the file)\n",
               (unsigned long long)pio_reader_nframes(r));
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_IOERR;
}

int cmd_info(int argc, char **argv)
{
    bool json = false, verbose = false, direct = false, follow = false;
    double timeout = 0;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    struct cli_opt opts[] = {
        CLI_OPT_FLAG("json", 0, &json, "one JSON object instead of the text summary"),
        CLI_OPTS_FOLLOW(&follow, &timeout,
                        "then a line (JSON: an object) each time commits arrive, until the "
                        "file's writer closes it"),
        CLI_OPT_FLAG("verbose", 'v', &verbose,
                     "add the I/O engine bulk reads would use, and why it fell "
                     "back if it did, and where the data ends"),
        CLI_OPTS_READER(&ro.engine, &direct),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "info",
        .synopsis = "FILE",
        .min_args = 1,
        .max_args = 1,
        .about = "Format version, frames, atoms, fields, step and time range, size, topology\n"
                 "summary, metadata, and whether the file needed a recovery scan.\n",
        .more = "--follow exits 0 when the file is final (its writer closed it), and 74\n"
                "after --timeout seconds without a commit (the writer may have stopped).\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    if (direct)
        ro.io_flags |= PIO_READER_DIRECT;
    struct pio_error e = {0};
    pio_reader *r;
    uint32_t timeout_ms = 0;
    if (cli_follow_timeout("info", timeout, &timeout_ms) != EXIT_OK)
        return EXIT_USAGE;
    int rc = pio_reader_open(&r, path, &ro, &e);
    if (rc != 0)
        return cli_fail("info", rc, &e);
    if (follow && no_final_mark(r, "info", path, timeout_ms)) {
        pio_reader_close(r);
        return EXIT_USAGE;
    }
    struct pio_io_info io;
    pio_reader_io_info(r, &io);
    struct pio_reader_info in;
    if ((rc = pio_reader_info_err(r, &in, &e)) != 0) { /* (a remote file's request failed) */
        pio_reader_close(r);
        return cli_fail("info", rc, &e);
    }
    struct fields_seen fs;
    struct pio_error se = {0};
    if ((rc = scan_fields(r, &fs, &se)) != 0) {
        pio_reader_close(r);
        return cli_fail("info", rc, &se);
    }
    struct pio_topology t;
    bool has_top = pio_reader_topology(r, &t) == 0;
    uint64_t residues = 0, chains = 0;
    if (has_top)
        topo_counts(&t, &residues, &chains);
    uint64_t nmeta = pio_reader_metadata_count(r);

    if (json) {
        printf("{\"file\":");
        cli_json_string(stdout, path);
        printf(",\"format_version\":\"%u.%u\",\"frames\":%llu,\"atoms\":%llu,\"min_atoms\":%llu,"
               "\"file_size\":%llu,\"recovered\":%s,\"fields\":[",
               in.version_major, in.version_minor, (unsigned long long)in.nframes,
               (unsigned long long)in.max_natoms,
               (unsigned long long)(in.nframes ? in.min_natoms : 0),
               (unsigned long long)in.file_size, in.recovered ? "true" : "false");
        for (int b = 0, first = 1; b < 4; b++)
            if (fs.any & (1u << b)) {
                printf("%s\"%s\"", first ? "" : ",", field_names[b]);
                first = 0;
            }
        printf("],\"scalars\":[");
        for (uint32_t k = 0; k < fs.nscalar_names; k++) {
            printf("%s", k ? "," : "");
            cli_json_string(stdout, fs.scalar_names[k]);
        }
        printf("]");
        printf(",\"damaged_frames\":%llu,\"metadata_damaged\":%s,\"final\":%s",
               (unsigned long long)in.damaged_frames, in.metadata_damaged ? "true" : "false",
               pio_reader_final(r) ? "true" : "false");
        printf(",\"codecs\":{");
        for (int a = 0, first = 1; a < 3; a++) {
            if (!fs.codecs[a])
                continue;
            printf("%s\"%s\":\"", first ? "" : ",",
                   a == 0   ? "positions"
                   : a == 1 ? "velocities"
                            : "forces");
            for (int c = 0, k = 0; c < 3; c++)
                if (fs.codecs[a] & (1u << c))
                    printf("%s%s", k++ ? "+" : "", codec_names[c]);
            printf("\"");
            first = 0;
        }
        printf("},\"precision\":");
        cli_json_number(stdout, fs.precision);
        printf(",\"compression_ratio\":");
        cli_json_number(stdout, fs.stored > 0 ? fs.raw / fs.stored : 1.0);
        printf(",\"blocks\":%llu,\"packed_blocks\":%llu,\"block_frames_max\":%u",
               (unsigned long long)fs.blocks, (unsigned long long)fs.packed, fs.block_max);
        if (in.nframes) {
            printf(",\"step_first\":%lld,\"step_last\":%lld,\"time_first\":",
                   (long long)in.step_first, (long long)in.step_last);
            cli_json_number(stdout, in.time_first);
            printf(",\"time_last\":");
            cli_json_number(stdout, in.time_last);
        }
        if (has_top)
            printf(",\"topology\":{\"atoms\":%llu,\"residues\":%llu,\"chains\":%llu,"
                   "\"bonds\":%llu}",
                   (unsigned long long)t.natoms, (unsigned long long)residues,
                   (unsigned long long)chains, (unsigned long long)t.nbonds);
        printf(",\"metadata\":{");
        for (uint64_t i = 0; i < nmeta; i++) {
            const char *k, *v;
            pio_reader_metadata_at(r, i, &k, &v);
            printf("%s", i ? "," : "");
            cli_json_string(stdout, k);
            putchar(':');
            cli_json_string(stdout, v);
        }
        printf("}");
        if (verbose) {
            printf(",\"io\":{\"engine\":\"%s\",\"requested\":\"%s\",\"direct\":%s,"
                   "\"note\":",
                   pio_io_engine_name(io.engine), pio_io_engine_name(io.requested),
                   io.direct ? "true" : "false");
            cli_json_string(stdout, io.note);
            printf("}");
        }
        printf("}\n");
    } else {
        printf("file:       %s (%llu bytes)\n", path, (unsigned long long)in.file_size);
        printf("format:     HOLO %u.%u%s\n", in.version_major, in.version_minor,
               in.recovered ? "  (no valid footer: recovered by scanning; run prismio recover)"
                            : "");
        printf("frames:     %llu\n", (unsigned long long)in.nframes);
        if (in.version_major >= 2)
            printf("state:      %s\n", pio_reader_final(r)
                                           ? "final (its writer closed it)"
                                           : "open (its writer is still writing, or was stopped)");
        if (in.damaged_frames)
            printf("damaged:    %llu frames (their records fail their checks; see prismio "
                   "verify)\n",
                   (unsigned long long)in.damaged_frames);
        if (in.nframes && in.min_natoms != in.max_natoms)
            printf("atoms:      %llu to %llu (varies by frame)\n",
                   (unsigned long long)in.min_natoms, (unsigned long long)in.max_natoms);
        else
            printf("atoms:      %llu\n", (unsigned long long)in.max_natoms);
        printf("fields:    ");
        for (int b = 0; b < 4; b++)
            if (fs.any & (1u << b))
                printf(" %s%s", field_names[b], (fs.all & (1u << b)) ? "" : " (some frames)");
        for (uint32_t k = 0; k < fs.nscalar_names; k++)
            printf(" %s", fs.scalar_names[k]);
        printf("\n");
        if ((fs.codecs[0] | fs.codecs[1] | fs.codecs[2]) & ~1u) {
            printf("codecs:    ");
            for (int a = 0; a < 3; a++) {
                if (!fs.codecs[a])
                    continue;
                printf(" %s", a == 0 ? "positions" : a == 1 ? "velocities" : "forces");
                for (int c = 0, k = 0; c < 3; c++)
                    if (fs.codecs[a] & (1u << c))
                        printf("%s%s", k++ ? "+" : " ", codec_names[c]);
                if (fs.codecs[a] & 2u)
                    printf(" (%g nm)", fs.precision);
                printf("%s", a < 2 && (fs.codecs[a + 1] || (a == 0 && fs.codecs[2])) ? "," : "");
            }
            printf("; %.2fx smaller than raw\n", fs.stored > 0 ? fs.raw / fs.stored : 1.0);
        }
        if (fs.blocks)
            printf("blocks:     %llu of up to %u frames coded together (a frame read alone "
                   "decodes its block)\n",
                   (unsigned long long)fs.blocks, fs.block_max);
        if (fs.packed)
            printf("packed:     %llu records of up to %u small raw frames (read in place)\n",
                   (unsigned long long)fs.packed, fs.block_max);
        if (in.nframes)
            printf("steps:      %lld to %lld\ntime:       %g to %g ps\n", (long long)in.step_first,
                   (long long)in.step_last, in.time_first, in.time_last);
        if (has_top)
            printf("topology:   %llu atoms, %llu residues, %llu chains, %llu bonds\n",
                   (unsigned long long)t.natoms, (unsigned long long)residues,
                   (unsigned long long)chains, (unsigned long long)t.nbonds);
        else if (in.metadata_damaged)
            printf("topology:   none: the metadata record is damaged (see prismio verify)\n");
        else
            printf("topology:   none\n");
        for (uint64_t i = 0; i < nmeta; i++) {
            const char *k, *v;
            pio_reader_metadata_at(r, i, &k, &v);
            printf("%s %s = %s\n", i ? "           " : "metadata:  ", k, v);
        }
        if (verbose) {
            print_io("io engine:", &io);
            printf("data end:   %llu\n", (unsigned long long)in.data_end);
        }
    }
    int status = EXIT_OK;
    if (follow && !pio_reader_final(r)) { /* (final already: the summary says so) */
        fflush(stdout);
        status = info_follow(r, json, timeout_ms);
    }
    pio_reader_close(r);
    return status;
}

/* ---- verify ---- */

/* verify --decode: every frame's arrays into buffers of the largest
 * frame's size (compressed ones decoded there; raw ones copied). */
static int decode_all(pio_reader *r, struct pio_error *e)
{
    uint64_t cap = pio_reader_natoms_bound(r), n = pio_reader_nframes(r);
    float(*buf)[3] = malloc((size_t)(cap ? cap : 1) * 36);
    if (!buf) {
        snprintf(e->message, sizeof(e->message), "out of memory for %llu atoms",
                 (unsigned long long)cap);
        return -ENOMEM;
    }
    float(*const xyz[3])[3] = {buf, buf + cap, buf + 2 * cap};
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        struct pio_frame f;
        rc = pio_reader_frame_into(r, i, xyz, cap, &f, e);
    }
    free(buf);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    uint64_t threads = 0;
    bool direct = false, decode = false;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    struct cli_opt opts[] = {
        CLI_OPT_U64("threads", &threads, "N", 0, 1024, "hashing threads (default 0: all cores)"),
        CLI_OPT_FLAG("decode", 0, &decode,
                     "also decode every frame of a compressed file (checksums cover the "
                     "stored bytes; this checks that they decode)"),
        CLI_OPTS_READER(&ro.engine, &direct),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "verify",
        .synopsis = "FILE",
        .min_args = 1,
        .max_args = 1,
        .about = "Checks every checksum of the file (every byte is covered), reading it\n"
                 "through the chosen I/O engine.\n",
        .more = "Exit 0 and a one-line summary when intact; exit 1 and a line naming the\n"
                "first bad frame and its byte offset otherwise (65 for a file that is not\n"
                "HOLO).\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    if (direct)
        ro.io_flags |= PIO_READER_DIRECT;
    struct pio_error e = {0};
    pio_reader *r;
    double t0 = cli_now();
    int rc = pio_reader_open(&r, path, &ro, &e);
    if (rc != 0)
        return cli_fail("verify", rc, &e);
    struct pio_io_info io;
    pio_reader_io_info(r, &io);
    rc = pio_reader_verify(r, (unsigned)threads, &e);
    uint64_t nframes = pio_reader_nframes(r);
    if (rc == 0 && decode)
        rc = decode_all(r, &e);
    double dt = cli_now() - t0;
    struct pio_remote_stats rs;
    bool remote = pio_reader_remote_stats(r, &rs) == 0;
    pio_reader_close(r);
    struct stat st;
    uint64_t size = remote ? rs.size : stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    char how[96];
    if (remote)
        snprintf(how, sizeof(how), "%llu range requests, %llu retried",
                 (unsigned long long)rs.requests, (unsigned long long)rs.retries);
    else
        snprintf(how, sizeof(how), "%s%s", pio_io_engine_name(io.engine),
                 io.direct ? " + O_DIRECT" : "");
    if (rc != 0) {
        cli_err("verify", "%s", e.message);
        return rc == PIO_ECORRUPT || rc == PIO_ECHECKSUM ? EXIT_INTEGRITY : cli_exit_code(rc);
    }
    printf("%s: OK, %llu frames, %llu bytes verified%s in %.3f s (%.2f GB/s, %s)\n", path,
           (unsigned long long)nframes, (unsigned long long)size, decode ? " and decoded" : "", dt,
           (double)size / (dt > 0 ? dt : 1e-9) / 1e9, how);
    if (io.note[0] && !remote)
        fprintf(stderr, "prismio verify: note: %s\n", io.note);
    return EXIT_OK;
}

/* ---- recover ---- */

int cmd_recover(int argc, char **argv)
{
    bool drop = false;
    struct cli_opt opts[] = {
        CLI_OPT_FLAG("drop-damaged", 0, &drop,
                     "rewrite the file with only the frames whose checksums "
                     "hold (later frames renumbered), through a temporary file "
                     "renamed over FILE; also for a committed file"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "recover",
        .synopsis = "FILE",
        .min_args = 1,
        .max_args = 1,
        .about = "Commits a file whose writer was killed: keeps every complete frame, removes\n"
                 "the torn tail (bytes no commit covered and no valid record follows), appends\n"
                 "an index and footer. Committed bytes are never rewritten. A damaged record\n"
                 "with valid records after it is not a torn tail: the frames after it are\n"
                 "kept, the damaged frames stay in the index (reading them fails) and are\n"
                 "listed; exit 1 then. No reader may have the file open.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    uint32_t flags = drop ? PIO_RECOVER_DROP_DAMAGED : 0;
    struct pio_error e = {0};
    struct pio_recover_report rep;
    int rc = pio_holo_recover_flags(path, flags, &rep, &e);
    if (rc != 0)
        return cli_fail("recover", rc, &e);
    for (uint64_t i = 0; i < rep.ndamage && i < PIO_RECOVER_MAX_DAMAGE; i++) {
        const struct pio_recover_damage *d = &rep.damage[i];
        if (d->nframes == 0 && !d->metadata)
            cli_err("recover",
                    "%s: damaged bytes at offset 0x%llx (%llu bytes, no frame: an old "
                    "index record or footer); stepped over",
                    path, (unsigned long long)d->offset, (unsigned long long)d->length);
        else if (d->nframes == 1)
            cli_err("recover", "%s: frame %llu at offset 0x%llx (%llu bytes) is damaged; %s", path,
                    (unsigned long long)d->frame, (unsigned long long)d->offset,
                    (unsigned long long)d->length,
                    rep.rewritten ? "dropped" : "kept in the index, reading it fails");
        else if (d->nframes > 1)
            cli_err("recover",
                    "%s: frames %llu to %llu at offset 0x%llx (%llu bytes) are "
                    "damaged; %s",
                    path, (unsigned long long)d->frame,
                    (unsigned long long)(d->frame + d->nframes - 1), (unsigned long long)d->offset,
                    (unsigned long long)d->length,
                    rep.rewritten ? "dropped" : "kept in the index, reading them fails");
    }
    if (rep.ndamage > PIO_RECOVER_MAX_DAMAGE)
        cli_err("recover", "%s: %llu more damaged ranges not listed", path,
                (unsigned long long)(rep.ndamage - PIO_RECOVER_MAX_DAMAGE));
    if (rep.metadata_damaged)
        cli_err("recover",
                "%s: the metadata record at offset 0x80 is damaged: the topology and metadata are "
                "lost (%s)",
                path,
                rep.rewritten ? "left out of the rewritten file"
                              : "left out of the index; its bytes stay");
    if (rep.unnumbered_bytes)
        cli_err("recover",
                "%s: cut %llu bytes from offset 0x%llx holding records that could not be "
                "numbered (moved or duplicated records, or damage hiding where its frames "
                "lay)",
                path, (unsigned long long)rep.unnumbered_bytes,
                (unsigned long long)rep.unnumbered_offset);
    if (rep.rewritten)
        printf("%s: rewritten with the %llu intact frames (%llu damaged dropped)%s; committed\n",
               path, (unsigned long long)rep.nframes, (unsigned long long)rep.damaged_frames,
               rep.was_committed ? "" : " after recovery");
    else if (rep.was_committed)
        printf("%s: already committed (%llu frames); nothing to do (prismio verify checks "
               "every frame)\n",
               path, (unsigned long long)rep.nframes);
    else
        printf("%s: recovered %llu frames (%llu damaged); removed %llu bytes of torn tail; "
               "committed\n",
               path, (unsigned long long)rep.nframes, (unsigned long long)rep.damaged_frames,
               (unsigned long long)(rep.removed_bytes - rep.unnumbered_bytes));
    if (rep.damaged_frames && !rep.rewritten)
        cli_err("recover",
                "%s: %llu damaged frames kept; 'prismio recover --drop-damaged %s' "
                "rewrites the file without them",
                path, (unsigned long long)rep.damaged_frames, path);
    /* exit 1 whenever something was found damaged or lost */
    return rep.metadata_damaged || rep.unnumbered_bytes || (rep.damaged_frames && !rep.rewritten)
               ? EXIT_INTEGRITY
               : EXIT_OK;
}

/* ---- dump ---- */

/* One frame as csv (with_frame: a frame column first; header: the header
 * line too) or xyz. */
static void print_frame(const pio_reader *r, const struct pio_frame *f, int format, bool with_frame,
                        bool header)
{
    if (format == 0) {
        if (header)
            printf("%satom,x,y,z%s%s\n", with_frame ? "frame," : "",
                   f->velocities ? ",vx,vy,vz" : "", f->forces ? ",fx,fy,fz" : "");
        for (uint64_t a = 0; a < f->natoms; a++) {
            if (with_frame)
                printf("%llu,", (unsigned long long)f->index);
            printf("%llu,%.9g,%.9g,%.9g", (unsigned long long)a, f->positions[a][0],
                   f->positions[a][1], f->positions[a][2]);
            if (f->velocities)
                printf(",%.9g,%.9g,%.9g", f->velocities[a][0], f->velocities[a][1],
                       f->velocities[a][2]);
            if (f->forces)
                printf(",%.9g,%.9g,%.9g", f->forces[a][0], f->forces[a][1], f->forces[a][2]);
            putchar('\n');
        }
        return;
    }
    struct pio_topology t;
    bool top = pio_reader_topology(r, &t) == 0 && t.natoms == f->natoms;
    printf("%llu\nframe %llu step %lld time %.9g ps (coordinates in Angstrom)\n",
           (unsigned long long)f->natoms, (unsigned long long)f->index, (long long)f->step,
           f->time);
    for (uint64_t a = 0; a < f->natoms; a++) {
        if (top && t.elements[a][0])
            print_fixed(stdout, t.elements[a], 4);
        else
            putchar('X');
        printf(" %.6f %.6f %.6f\n", 10.0 * f->positions[a][0], 10.0 * f->positions[a][1],
               10.0 * f->positions[a][2]);
    }
}

/* dump --follow: frame `start` and every later one as it is committed
 * (each checked: the stream verifies), until the file is final. */
static int dump_follow(pio_reader *r, const char *path, uint64_t start, int format, double timeout)
{
    pio_frame_stream *s;
    struct pio_error e = {0};
    int rc = follow_open(&s, r, start, timeout, &e);
    if (rc != 0)
        return cli_fail("dump", rc, &e);
    struct pio_frame f;
    bool header = true;
    while ((rc = pio_frame_stream_next(s, &f, &e)) == 1) {
        print_frame(r, &f, format, true, header);
        header = false;
        pio_frame_stream_release(s, &f);
        if (fflush(stdout) != 0) {
            rc = -EIO;
            break;
        }
    }
    pio_frame_stream_close(s);
    if (rc == -EIO)
        return EXIT_IOERR;
    if (rc < 0)
        return cli_fail("dump", rc, &e);
    if (start >= pio_reader_nframes(r)) {
        cli_err("dump", "%s: the file is final with %llu frames: no frame %llu", path,
                (unsigned long long)pio_reader_nframes(r), (unsigned long long)start);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cmd_dump(int argc, char **argv)
{
    static const char *const formats[] = {"csv", "xyz", NULL};
    uint64_t frame = 0;
    int format = 0;
    bool no_verify = false, follow = false;
    double timeout = 0;
    struct cli_opt opts[] = {
        {.name = "frame",
         .kind = CLI_U64,
         .dest = &frame,
         .value = "N",
         .flags = CLI_REQUIRED,
         .help = "the frame to print (from 0); required"},
        CLI_OPT_CHOICE("format", &format, "csv|xyz", formats, "output format (default csv)"),
        CLI_OPT_FLAG("no-verify", 0, &no_verify, "print what is stored without the BLAKE3 check"),
        CLI_OPTS_FOLLOW(&follow, &timeout,
                        "then every later frame as it is committed, until the file's writer "
                        "closes it"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "dump",
        .synopsis = "FILE",
        .min_args = 1,
        .max_args = 1,
        .about = "Prints one frame. The frame's BLAKE3 is checked first: a damaged frame is\n"
                 "refused (exit 1) naming its offset.\n",
        .more = "csv: header atom,x,y,z (plus vx,vy,vz and fx,fy,fz when present), one row\n"
                "     per atom, values exactly as stored (nm, nm/ps, kJ/mol/nm; %.9g).\n"
                "xyz: element and coordinates in Angstrom, step and time in the comment.\n"
                "--follow prints frame N and every frame after it as it is committed (csv:\n"
                "a frame column first; xyz: one frame after the other), waiting for frame N\n"
                "if it is not there yet, and exits 0 when the file is final.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *path = cmd.args[0];
    bool check = !no_verify;
    uint32_t timeout_ms = 0;
    if (cli_follow_timeout("dump", timeout, &timeout_ms) != EXIT_OK)
        return EXIT_USAGE;
    struct pio_error e = {0};
    pio_reader *r;
    struct pio_reader_options ro = PIO_READER_OPTIONS_INIT;
    ro.flags = check ? PIO_READER_CHECK_FRAMES : 0;
    int rc = pio_reader_open(&r, path, &ro, &e);
    if (rc != 0)
        return cli_fail("dump", rc, &e);
    if (follow) {
        int status = no_final_mark(r, "dump", path, timeout_ms)
                         ? EXIT_USAGE
                         : dump_follow(r, path, frame, format, timeout_ms);
        pio_reader_close(r);
        return status;
    }
    struct pio_frame f;
    if ((rc = pio_reader_frame(r, frame, &f, &e)) != 0) {
        pio_reader_close(r);
        return rc == -ERANGE ? (cli_err("dump", "%s", e.message), EXIT_USAGE)
                             : cli_fail("dump", rc, &e);
    }
    print_frame(r, &f, format, false, true);
    pio_reader_close(r);
    if (fflush(stdout) != 0)
        return EXIT_IOERR;
    return EXIT_OK;
}
