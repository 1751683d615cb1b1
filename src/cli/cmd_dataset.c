/*
 * prismio dataset build|info|verify: datasets of structures sharded over
 * HOLO files and listed by a manifest (prismio/dataset.h, docs/FORMAT.md
 * "Datasets").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void set_err(struct pio_error *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(struct pio_error *e, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    e->code = rc;
}

/* Copy frame i of r (with its named arrays) to w. */
static int copy_structure(const pio_reader *r, uint64_t i, pio_writer *w, struct pio_array **arr,
                          uint32_t *cap, struct pio_error *e)
{
    struct pio_frame f;
    uint32_t na = 0;
    int rc = pio_reader_frame(r, i, &f, e);
    if (rc == 0)
        rc = pio_reader_verify_frame(r, i, e);
    if (rc == 0)
        rc = pio_reader_frame_arrays(r, i, NULL, 0, &na, e);
    if (rc != 0)
        return rc;
    if (na > *cap) {
        struct pio_array *n = realloc(*arr, na * sizeof(*n));
        if (!n)
            return -ENOMEM;
        *arr = n;
        *cap = na;
    }
    if (na && (rc = pio_reader_frame_arrays(r, i, *arr, na, &na, e)) != 0)
        return rc;
    return pio_writer_append_arrays(w, &f, *arr, na, e);
}

struct shard_out {
    char *path, *part; /* its name, and the name it is written under until the build is done */
    uint64_t structures;
};

static int build(int argc, char **argv)
{
    uint64_t per = 100000;
    bool overwrite = false, quiet = false;
    struct cli_opt opts[] = {
        CLI_OPT_U64("shard-structures", &per, "N", 1, 0,
                    "structures a shard holds, at most (default 100000)"),
        CLI_OPT_FLAG("overwrite", 0, &overwrite, "replace the manifest and its shards"),
        CLI_OPT_FLAG("quiet", 'q', &quiet, "no summary line"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "dataset build",
        .synopsis = "MANIFEST IN...",
        .min_args = 2,
        .max_args = 4096,
        .about = "Writes the structures of IN (extended XYZ or HOLO datasets, in order) as\n"
                 "shards NAME-00000.holo, ... (NAME: MANIFEST without its extension) of at\n"
                 "most N structures each, and the manifest listing them (written last: a\n"
                 "build that fails leaves neither).\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *manifest = cmd.args[0];
    size_t ml = strlen(manifest);
    struct stat st;
    if (!overwrite && stat(manifest, &st) == 0) {
        cli_err("dataset build", "%s exists (--overwrite replaces it)", manifest);
        return EXIT_USAGE;
    }
    /* extxyz inputs are converted in a folder of TMPDIR's (else /tmp) */
    const char *td = getenv("TMPDIR");
    char tmpdir[512];
    snprintf(tmpdir, sizeof(tmpdir), "%s/prismio-dataset-XXXXXX", td && *td ? td : "/tmp");
    bool have_tmp = false;
    struct shard_out *sh = NULL;
    uint32_t nsh = 0;
    struct pio_array *arr = NULL;
    uint32_t cap = 0;
    struct pio_error e = {0};
    int status = EXIT_OK, rc = 0;
    pio_writer *w = NULL;
    uint64_t in_shard = 0, total = 0;
    for (int k = 1; k < cmd.nargs && rc == 0; k++) {
        const char *in = cmd.args[k];
        char conv[sizeof(tmpdir) + 32];
        conv[0] = '\0';
        if (pio_path_is_extxyz(in)) { /* through a HOLO file of its own */
            if (!have_tmp && !(have_tmp = mkdtemp(tmpdir) != NULL)) {
                rc = -errno;
                set_err(&e, rc, "a temporary folder: %s", pio_strerror(rc));
                break;
            }
            snprintf(conv, sizeof(conv), "%s/in-%d.holo", tmpdir, k);
            if ((rc = pio_dataset_convert(in, conv, PIO_DSCONV_OVERWRITE | PIO_DSCONV_NO_SYNC, NULL,
                                          &e)) != 0) {
                unlink(conv); /* what it wrote before the error */
                break;
            }
            in = conv;
        }
        pio_reader *r;
        if ((rc = pio_reader_open(&r, in, NULL, &e)) != 0) {
            if (in == conv)
                unlink(conv);
            break;
        }
        for (uint64_t i = 0; rc == 0 && i < pio_reader_nframes(r); i++) {
            if (!w || in_shard == per) {
                if (w && (rc = pio_writer_close(w, &e)) != 0) {
                    w = NULL;
                    break;
                }
                w = NULL;
                struct shard_out *n = realloc(sh, (nsh + 1) * sizeof(*n));
                if (n)
                    sh = n;
                if (!n || !(n[nsh].path = malloc(ml + 24)) || !(n[nsh].part = malloc(ml + 32))) {
                    if (n && n[nsh].path)
                        free(n[nsh].path);
                    rc = -ENOMEM;
                    set_err(&e, rc, "out of memory");
                    break;
                }
                /* the manifest's name without its extension, a number */
                const char *dot = strrchr(manifest, '.'), *sl = strrchr(manifest, '/');
                int base = (int)(dot && (!sl || dot > sl + 1) ? (size_t)(dot - manifest) : ml);
                snprintf(sh[nsh].path, ml + 24, "%.*s-%05u.holo", base, manifest, nsh);
                snprintf(sh[nsh].part, ml + 32, "%s.part", sh[nsh].path);
                sh[nsh].structures = 0;
                if (!overwrite && stat(sh[nsh].path, &st) == 0) {
                    rc = -EEXIST;
                    set_err(&e, rc, "%s exists (--overwrite replaces it)", sh[nsh].path);
                    free(sh[nsh].path);
                    free(sh[nsh].part);
                    break;
                }
                /* written under .part: the inputs may be the shards it
                 * replaces (re-sharding), and a failed build leaves the
                 * dataset as it was */
                struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
                wo.flags = PIO_WRITER_ARRAYS | PIO_WRITER_OVERWRITE;
                nsh++;
                if ((rc = pio_writer_create(&w, sh[nsh - 1].part, &wo, &e)) != 0)
                    break;
                in_shard = 0;
                /* each shard carries the first input's metadata */
                for (uint64_t q = 0; rc == 0 && q < pio_reader_metadata_count(r); q++) {
                    const char *key, *val;
                    if (pio_reader_metadata_at(r, q, &key, &val) == 0)
                        rc = pio_writer_set_metadata(w, key, val, &e);
                }
            }
            if (rc == 0 && (rc = copy_structure(r, i, w, &arr, &cap, &e)) == 0) {
                in_shard++;
                sh[nsh - 1].structures++;
                total++;
            }
        }
        pio_reader_close(r);
        if (in == conv)
            unlink(conv);
    }
    if (w) {
        int crc = pio_writer_close(w, rc ? NULL : &e);
        rc = rc ? rc : crc;
    }
    if (have_tmp)
        rmdir(tmpdir);
    for (uint32_t s = 0; rc == 0 && s < nsh; s++) /* every input read: the shards in place */
        if (rename(sh[s].part, sh[s].path) != 0) {
            rc = -errno;
            set_err(&e, rc, "%s: %s", sh[s].path, pio_strerror(rc));
        }
    if (rc == 0) { /* the manifest, written whole then renamed */
        char *tmp = malloc(ml + 8);
        FILE *f = tmp ? (snprintf(tmp, ml + 8, "%s.part", manifest), fopen(tmp, "w")) : NULL;
        const char *slash = strrchr(manifest, '/');
        if (f) {
            fprintf(f, "%s\n", PIO_DATASET_MANIFEST_MAGIC);
            for (uint32_t s = 0; s < nsh; s++) {
                struct stat ss;
                const char *ps = strrchr(sh[s].path, '/');
                stat(sh[s].path, &ss);
                fprintf(f, "%llu %lld %s\n", (unsigned long long)sh[s].structures,
                        (long long)ss.st_size, slash && ps ? ps + 1 : sh[s].path);
            }
        }
        if (!f || fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 ||
            rename(tmp, manifest) != 0) {
            rc = -errno;
            set_err(&e, rc, "%s: %s", manifest, pio_strerror(rc));
        }
        free(tmp);
    }
    if (rc != 0) {
        status = cli_fail("dataset build", rc, &e);
        for (uint32_t s = 0; s < nsh; s++) /* the dataset stays as it was */
            unlink(sh[s].part);
    } else {
        /* shards of an earlier build past the new ones are no longer listed */
        for (uint32_t s = nsh; overwrite && sh && nsh; s++) {
            char *old = malloc(ml + 24);
            const char *dot = strrchr(manifest, '.'), *sl = strrchr(manifest, '/');
            int base = (int)(dot && (!sl || dot > sl + 1) ? (size_t)(dot - manifest) : ml);
            if (!old)
                break;
            snprintf(old, ml + 24, "%.*s-%05u.holo", base, manifest, s);
            int gone = unlink(old);
            free(old);
            if (gone != 0)
                break;
        }
        if (!quiet)
            printf("%s: %llu structures in %u shards\n", manifest, (unsigned long long)total, nsh);
    }
    for (uint32_t s = 0; s < nsh; s++) {
        free(sh[s].path);
        free(sh[s].part);
    }
    free(sh);
    free(arr);
    return status;
}

static int info(int argc, char **argv)
{
    bool json = false;
    struct cli_opt opts[] = {
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "dataset info",
        .synopsis = "DATASET",
        .min_args = 1,
        .max_args = 1,
        .about = "Shards, structures, atoms and the fields of the first structure of a dataset\n"
                 "(a manifest or a .holo file).\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    pio_dataset *ds;
    struct pio_error e = {0};
    int rc = pio_dataset_open(&ds, cmd.args[0], 0, &e);
    if (rc != 0)
        return cli_fail("dataset info", rc, &e);
    uint64_t atoms_min = UINT64_MAX, atoms_max = 0, bytes = 0;
    for (uint32_t s = 0; s < pio_dataset_nshards(ds); s++) {
        struct pio_reader_info in;
        pio_reader_info(pio_dataset_shard(ds, s), &in);
        if (in.nframes) {
            atoms_min = in.min_natoms < atoms_min ? in.min_natoms : atoms_min;
            atoms_max = in.max_natoms > atoms_max ? in.max_natoms : atoms_max;
        }
        bytes += in.file_size;
    }
    if (atoms_min == UINT64_MAX)
        atoms_min = 0;
    struct pio_frame f;
    struct pio_array arr[64];
    uint32_t na = 0;
    bool first = pio_dataset_len(ds) > 0;
    uint32_t s0;
    uint64_t f0;
    if (first && (rc = pio_dataset_locate(ds, 0, &s0, &f0)) == 0 &&
        (rc = pio_reader_frame(pio_dataset_shard(ds, s0), f0, &f, &e)) == 0)
        rc = pio_reader_frame_arrays(pio_dataset_shard(ds, s0), f0, arr, 64, &na, &e);
    if (first && rc != 0) {
        pio_dataset_close(ds);
        return cli_fail("dataset info", rc, &e);
    }
    na = na > 64 ? 64 : na;
    if (json) {
        printf("{\"path\":");
        cli_json_string(stdout, cmd.args[0]);
        printf(",\"structures\":%llu,\"shards\":%u,\"bytes\":%llu,\"atoms_min\":%llu,"
               "\"atoms_max\":%llu,\"scalars\":[",
               (unsigned long long)pio_dataset_len(ds), pio_dataset_nshards(ds),
               (unsigned long long)bytes, (unsigned long long)atoms_min,
               (unsigned long long)atoms_max);
        for (uint32_t k = 0; first && k < f.nscalars; k++) {
            printf(k ? "," : "");
            cli_json_string(stdout, f.scalars[k].name);
        }
        printf("],\"arrays\":[");
        for (uint32_t k = 0; k < na; k++) {
            printf("%s{\"name\":", k ? "," : "");
            cli_json_string(stdout, arr[k].name);
            printf(",\"dtype\":\"%s\",\"per_atom\":%s,\"width\":%u}", pio_dtype_name(arr[k].dtype),
                   arr[k].per_atom ? "true" : "false", arr[k].width);
        }
        printf("],\"shard_paths\":[");
        for (uint32_t s = 0; s < pio_dataset_nshards(ds); s++) {
            printf(s ? "," : "");
            cli_json_string(stdout, pio_dataset_shard_path(ds, s));
        }
        printf("]}\n");
    } else {
        printf("%s: %llu structures in %u shards, %llu bytes; %llu to %llu atoms\n", cmd.args[0],
               (unsigned long long)pio_dataset_len(ds), pio_dataset_nshards(ds),
               (unsigned long long)bytes, (unsigned long long)atoms_min,
               (unsigned long long)atoms_max);
        if (first) {
            printf("fields:  positions%s%s%s\n", f.velocities ? " velocities" : "",
                   f.forces ? " forces" : "", (f.fields & PIO_FIELD_BOX) ? " cell" : "");
            printf("scalars:");
            for (uint32_t k = 0; k < f.nscalars; k++)
                printf(" %s", f.scalars[k].name);
            printf("\narrays: ");
            for (uint32_t k = 0; k < na; k++)
                printf(" %s (%s x %u%s)", arr[k].name, pio_dtype_name(arr[k].dtype), arr[k].width,
                       arr[k].per_atom ? " per atom" : "");
            printf("\n");
        }
    }
    pio_dataset_close(ds);
    return EXIT_OK;
}

static int verify(int argc, char **argv)
{
    bool quiet = false;
    struct cli_opt opts[] = {
        CLI_OPT_FLAG("quiet", 'q', &quiet, "print nothing on success"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "dataset verify",
        .synopsis = "DATASET",
        .min_args = 1,
        .max_args = 1,
        .about = "Checks a dataset: the manifest's counts and sizes, then every byte of every\n"
                 "shard (as prismio verify). The first damage is named by shard, frame and\n"
                 "offset, with the range of dataset indices the shard holds.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    pio_dataset *ds;
    struct pio_error e = {0};
    int rc = pio_dataset_open(&ds, cmd.args[0], 0, &e);
    if (rc != 0)
        return cli_fail("dataset verify", rc, &e);
    uint64_t first = 0;
    for (uint32_t s = 0; s < pio_dataset_nshards(ds); s++) {
        const pio_reader *r = pio_dataset_shard(ds, s);
        if ((rc = pio_reader_verify(r, 0, &e)) != 0) {
            uint64_t n = pio_reader_nframes(r);
            if (n)
                cli_err("dataset verify", "shard %u (structures %llu..%llu): %s", s,
                        (unsigned long long)first, (unsigned long long)(first + n - 1), e.message);
            else
                cli_err("dataset verify", "shard %u (no structures): %s", s, e.message);
            pio_dataset_close(ds);
            return cli_exit_code(rc);
        }
        if (!quiet)
            printf("%s: ok (%llu structures)\n", pio_dataset_shard_path(ds, s),
                   (unsigned long long)pio_reader_nframes(r));
        first += pio_reader_nframes(r);
    }
    if (!quiet)
        printf("%s: ok, %llu structures in %u shards\n", cmd.args[0],
               (unsigned long long)pio_dataset_len(ds), pio_dataset_nshards(ds));
    pio_dataset_close(ds);
    return EXIT_OK;
}

static void list_subcommands(FILE *f)
{
    fputs("subcommands:\n"
          "  build    shard structures (extended XYZ, HOLO datasets) and write a manifest\n"
          "  info     shards, structures, atoms, fields of a dataset\n"
          "  verify   check the manifest and every byte of every shard\n"
          "\n'prismio dataset SUBCOMMAND --help' gives each one's options.\n",
          f);
}

int cmd_dataset(int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT_END};
    struct cli_cmd cmd = {
        .name = "dataset",
        .synopsis = "SUBCOMMAND [ARGS...]",
        .min_args = 1,
        .max_args = -1,
        .about = "Datasets of structures for machine learning: HOLO files (shards) listed by\n"
                 "a manifest (docs/FORMAT.md, \"Datasets\").\n",
        .epilog = list_subcommands,
        .opts = opts,
        .stop_at_arg = true,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    if (!strcmp(cmd.args[0], "build"))
        return build(cmd.nargs, cmd.args);
    if (!strcmp(cmd.args[0], "info"))
        return info(cmd.nargs, cmd.args);
    if (!strcmp(cmd.args[0], "verify"))
        return verify(cmd.nargs, cmd.args);
    return cli_usage_error(&cmd, "unknown subcommand '%s' (see --help)", cmd.args[0]);
}
