/*
 * prismio bench mpi: MPI and Dask, each next to its baseline in the same
 * run (issue 27; docs/SCALING.md):
 *   - 1, 2 and 4 ranks writing one file with the collective writer
 *     (durable), then reading it back in parallel (each rank its block,
 *     every frame's hash checked, the page cache dropped first): GB/s and
 *     speed-up over 1 rank (on a machine of 2 cores 4 ranks share them);
 *   - `mpirun -np 2 (and 4) prismio convert big.xtc` next to the serial
 *     `prismio convert big.xtc` (wall time of each command, mpirun's start
 *     included): convert_2rank_speedup_ratio, and the outputs compared byte
 *     for byte (the same --salt);
 *   - bench/dask_rmsf.py: RMSF with Dask on 1 and 2 workers next to plain
 *     numpy over the mmap reader: dask_vs_numpy_ratio.
 * Runs take turns (every configuration once per round, best of --repeat),
 * so a change in the machine's speed does not favour one.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD    "bench mpi"
#define NRANKS 3
static const int ranks_of[NRANKS] = {1, 2, 4};

static double field(const char *out, const char *key)
{
    const char *k = strstr(out, key);
    return k ? atof(k + strlen(key)) : -1;
}

int bench_mpi(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--rank-job") == 0)
        return bench_mpi_rank_job(argc - 1, argv + 1);
    uint64_t natoms = 100000, gb_milli = 1000, xtc_atoms = 20000, xtc_frames = 10000,
             dask_milli = 4000, repeat = 3;
    const char *dir = NULL;
    bool json = false, no_dask = false;
    double gb = 1.0, dask_gb = 4.0;
    struct cli_opt opts[] = {
        CLI_OPT_STRING("dir", 0, &dir, "DIR", "scratch files (default: $TMPDIR or /tmp)"),
        CLI_OPT_FLOAT("gb", &gb, "G", "file the ranks write and read, in GB (default 1)"),
        CLI_OPT_SIZE("atoms", &natoms, "N", 1, PIO_HOLO_MAX_ATOMS,
                     "atoms per frame written (default 100000)"),
        CLI_OPT_SIZE("xtc-atoms", &xtc_atoms, "N", 1, PIO_HOLO_MAX_ATOMS,
                     "atoms per frame of the XTC converted (default 20000)"),
        CLI_OPT_SIZE("xtc-frames", &xtc_frames, "M", 1, 0,
                     "frames of the XTC converted (default 10000)"),
        CLI_OPT_FLOAT("dask-gb", &dask_gb, "G", "the Dask RMSF trajectory, in GB (default 4)"),
        CLI_OPT_FLAG("no-dask", 0, &no_dask, "no Dask run"),
        CLI_OPT_SIZE("repeat", &repeat, "N", 1, 0, "rounds; the best counts (default 3)"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "bench mpi",
        .synopsis = "",
        .min_args = 0,
        .max_args = 0,
        .about = "The collective writer and parallel reader on 1, 2 and 4 ranks, parallel\n"
                 "XTC conversion next to the serial one, and Dask RMSF next to numpy.\n"
                 "Needs mpirun (openmpi-bin), a build with MPI, and for Dask Debian's\n"
                 "python3-dask and python3-distributed.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    gb_milli = (uint64_t)(gb * 1000);
    dask_milli = no_dask ? 0 : (uint64_t)(dask_gb * 1000);
    if (!pio_mpi_built()) {
        cli_err(CMD, "this prismio was built without MPI (libopenmpi-dev)");
        return EXIT_UNAVAILABLE;
    }
    if (system("command -v mpirun >/dev/null 2>&1") != 0) {
        cli_err(CMD, "mpirun not found (openmpi-bin)");
        return EXIT_UNAVAILABLE;
    }
    char self[PATH_MAX];
    if (cli_self_path(CMD, self, sizeof(self)) != 0)
        return EXIT_IOERR;
    if (!dir)
        dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (geteuid() == 0) { /* Open MPI's mpirun refuses root otherwise */
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    }
    const char *mpirun = "mpirun --oversubscribe -np";
    if (strlen(dir) > 512) {
        cli_err(CMD, "--dir: a path of at most 512 bytes");
        return EXIT_USAGE;
    }
    char file[640], xtc[640], conv[640], c[8 * 640 + 2 * PATH_MAX], out[8192];
    snprintf(file, sizeof(file), "%s/prismio-bench-mpi-%d.holo", dir, (int)getpid());
    snprintf(xtc, sizeof(xtc), "%s/prismio-bench-mpi-%d.xtc", dir, (int)getpid());
    snprintf(conv, sizeof(conv), "%s/prismio-bench-mpi-%d.out", dir, (int)getpid());
    uint64_t nframes = gb_milli * 1000000ull / (natoms * 12);
    nframes = nframes ? nframes : 1;
    double tw[NRANKS], tr[NRANKS], ta[NRANKS], bytes = (double)nframes * (double)natoms * 12;
    int rc = EXIT_OK;
    for (int i = 0; i < NRANKS; i++)
        tw[i] = tr[i] = ta[i] = -1;
    /* writing and reading, in turns */
    for (uint64_t k = 0; rc == EXIT_OK && k < repeat; k++)
        for (int i = 0; rc == EXIT_OK && i < NRANKS; i++) {
            snprintf(c, sizeof(c), "%s %d '%s' bench mpi --rank-job write '%s' %llu %llu 2>&1",
                     mpirun, ranks_of[i], self, file, (unsigned long long)natoms,
                     (unsigned long long)nframes);
            unlink(file);
            sync();
            double w = bench_shell(c, out, sizeof(out)) < 0 ? -1 : field(out, "mpi-job seconds=");
            ta[i] = bench_best(ta[i], w < 0 ? -1 : field(out, "append_us="));
            bench_drop_cache(file);
            snprintf(c, sizeof(c), "%s %d '%s' bench mpi --rank-job read '%s' 2>&1", mpirun,
                     ranks_of[i], self, file);
            double r =
                w < 0 || bench_shell(c, out, sizeof(out)) < 0 ? -1 : field(out, "mpi-job seconds=");
            if (w <= 0 || r <= 0) {
                cli_err(CMD, "%d ranks failed: %s", ranks_of[i], out);
                rc = EXIT_IOERR;
            }
            tw[i] = bench_best(tw[i], w);
            tr[i] = bench_best(tr[i], r);
        }
    unlink(file);
    /* XTC conversion: serial, 2 and 4 ranks, in turns */
    /* wall time of the command, and the conversion's own (its summary:
     * after the program and MPI started) */
    double tc[NRANKS + 1] = {-1, -1, -1, -1}, ti[NRANKS + 1] = {-1, -1, -1, -1}, xtc_bytes = 0;
    bool identical = false;
    if (rc == EXIT_OK) {
        snprintf(c, sizeof(c),
                 "'%s' gen '%s' --atoms %llu --frames %llu --overwrite >/dev/null 2>&1 && "
                 "'%s' convert '%s' '%s' --overwrite -q 2>&1",
                 self, file, (unsigned long long)xtc_atoms, (unsigned long long)xtc_frames, self,
                 file, xtc);
        if (bench_shell(c, out, sizeof(out)) < 0) {
            cli_err(CMD, "making the XTC: %s", out);
            rc = EXIT_IOERR;
        }
        unlink(file);
        struct stat sb;
        if (stat(xtc, &sb) == 0)
            xtc_bytes = (double)sb.st_size;
    }
    static const char salt[] = "--salt 0123456789abcdef0123456789abcdef";
    for (uint64_t k = 0; rc == EXIT_OK && k < repeat; k++)
        for (int i = 0; rc == EXIT_OK && i <= NRANKS; i++) {
            if (i == 0)
                snprintf(c, sizeof(c), "'%s' convert '%s' '%s' --overwrite %s 2>&1", self, xtc,
                         file, salt);
            else
                snprintf(c, sizeof(c), "%s %d '%s' convert '%s' '%s' --overwrite %s 2>&1", mpirun,
                         ranks_of[i - 1] == 1 ? 2 : ranks_of[i - 1], self, xtc,
                         i == 1 ? conv : file, salt);
            if (i == 1 && ranks_of[0] == 1)
                continue; /* 1 rank is the serial converter */
            /* each run writes a new file on a settled disk (truncating the
             * last run's output waits for its writeback) */
            unlink(file);
            sync();
            double t = bench_shell(c, out, sizeof(out));
            if (t < 0) {
                cli_err(CMD, "convert failed: %s", out);
                rc = EXIT_IOERR;
            }
            tc[i] = bench_best(tc[i], t);
            const char *in = strstr(out, ") in ");
            ti[i] = bench_best(ti[i], in ? atof(in + 5) : -1);
            if (i >= 2 && k == 0) { /* the 2- and 4-rank outputs next to the serial one */
                snprintf(c, sizeof(c), "cmp -s '%s' '%s.serial'", file, file);
                identical = system(c) == 0 && (i == 2 || identical);
            }
            if (i == 0 && k == 0) {
                snprintf(c, sizeof(c), "cp '%s' '%s.serial'", file, file);
                if (system(c) != 0)
                    rc = EXIT_IOERR;
            }
        }
    snprintf(c, sizeof(c), "rm -f '%s' '%s.serial' '%s' '%s'", file, file, xtc, conv);
    if (system(c) != 0)
        cli_err(CMD, "could not remove the scratch files in %s", dir);
    /* Dask next to numpy */
    double dk[5] = {-1, -1, -1, -1, -1};
    const char *dkeys[5] = {"\"numpy_s\": ", "\"dask_1worker_s\": ", "\"dask_2workers_s\": ",
                            "\"dask_vs_numpy_ratio\": ", "\"dask_2workers_speedup\": "};
    char script[PATH_MAX + 32];
    snprintf(script, sizeof(script), "%s", self);
    char *slash = strrchr(script, '/');
    if (slash)
        snprintf(slash, sizeof(script) - (size_t)(slash - script), "/../bench/dask_rmsf.py");
    bool dask_ran = false;
    if (rc == EXIT_OK && dask_milli > 0 && access(script, R_OK) == 0) {
        snprintf(c, sizeof(c),
                 "/usr/bin/python3 '%s' --json --gb %.3f --dir '%s' --repeat %llu 2>&1", script,
                 (double)dask_milli / 1000, dir, (unsigned long long)repeat);
        if (bench_shell(c, out, sizeof(out)) < 0) {
            cli_err(CMD, "bench/dask_rmsf.py failed (Dask not installed?): %s", out);
        } else {
            dask_ran = true;
            for (int i = 0; i < 5; i++)
                dk[i] = field(out, dkeys[i]);
        }
    } else if (rc == EXIT_OK && dask_milli > 0) {
        cli_err(CMD, "no Dask run: %s not found (run from a build tree)", script);
    }
    if (rc != EXIT_OK)
        return rc;
    double conv2 = tc[2] > 0 ? tc[0] / tc[2] : 0, conv4 = tc[3] > 0 ? tc[0] / tc[3] : 0;
    double in2 = ti[2] > 0 ? ti[0] / ti[2] : 0, in4 = ti[3] > 0 ? ti[0] / ti[3] : 0;
    if (json) {
        cli_json_printf("{\"write_bytes\":%.0f,\"atoms\":%llu,\"frames\":%llu", bytes,
                        (unsigned long long)natoms, (unsigned long long)nframes);
        for (int i = 0; i < NRANKS; i++)
            cli_json_printf(",\"write_%drank_gbps\":%.3f,\"read_%drank_gbps\":%.3f"
                            ",\"write_%drank_speedup\":%.3f,\"read_%drank_speedup\":%.3f"
                            ",\"append_%drank_us\":%.2f",
                            ranks_of[i], bytes / tw[i] / 1e9, ranks_of[i], bytes / tr[i] / 1e9,
                            ranks_of[i], tw[0] / tw[i], ranks_of[i], tr[0] / tr[i], ranks_of[i],
                            ta[i]);
        cli_json_printf(",\"xtc_bytes\":%.0f,\"xtc_frames\":%llu,\"xtc_atoms\":%llu,"
                        "\"convert_serial_s\":%.3f,\"convert_2rank_s\":%.3f,"
                        "\"convert_4rank_s\":%.3f,\"convert_2rank_speedup_ratio\":%.3f,"
                        "\"convert_4rank_speedup_ratio\":%.3f,\"convert_identical\":%s,"
                        "\"convert_serial_inproc_s\":%.2f,\"convert_2rank_inproc_s\":%.2f,"
                        "\"convert_4rank_inproc_s\":%.2f,\"convert_2rank_inproc_ratio\":%.3f,"
                        "\"convert_4rank_inproc_ratio\":%.3f",
                        xtc_bytes, (unsigned long long)xtc_frames, (unsigned long long)xtc_atoms,
                        tc[0], tc[2], tc[3], conv2, conv4, identical ? "true" : "false", ti[0],
                        ti[2], ti[3], in2, in4);
        if (dask_ran)
            cli_json_printf(",\"dask_gb\":%.3f,\"numpy_s\":%.3f,\"dask_1worker_s\":%.3f,"
                            "\"dask_2workers_s\":%.3f,\"dask_vs_numpy_ratio\":%.3f,"
                            "\"dask_2workers_speedup\":%.3f",
                            (double)dask_milli / 1000, dk[0], dk[1], dk[2], dk[3], dk[4]);
        cli_json_printf(",\"cpus\":%ld,\"repeat\":%llu}\n", sysconf(_SC_NPROCESSORS_ONLN),
                        (unsigned long long)repeat);
        return EXIT_OK;
    }
    printf("MPI on %ld CPUs, best of %llu rounds in turns\n", sysconf(_SC_NPROCESSORS_ONLN),
           (unsigned long long)repeat);
    printf("  one file, %.2f GB (%llu frames x %llu atoms), durable writes; reads of the "
           "dropped cache, hashes checked\n",
           bytes / 1e9, (unsigned long long)nframes, (unsigned long long)natoms);
    for (int i = 0; i < NRANKS; i++)
        printf("  %d rank%s  write %6.2f GB/s (%.2fx 1 rank)   read %6.2f GB/s (%.2fx)   "
               "an empty collective append %.1f us\n",
               ranks_of[i], ranks_of[i] > 1 ? "s" : " ", bytes / tw[i] / 1e9, tw[0] / tw[i],
               bytes / tr[i] / 1e9, tr[0] / tr[i], ta[i]);
    printf("  convert XTC (%.0f MB, %llu frames x %llu atoms) to HOLO, wall time of the command\n",
           xtc_bytes / 1e6, (unsigned long long)xtc_frames, (unsigned long long)xtc_atoms);
    printf("    serial   %.3f s (converting %.2f s)\n"
           "    2 ranks  %.3f s (converting %.2f s)  = %.2fx (target 1.7; converting %.2fx)%s\n"
           "    4 ranks  %.3f s (converting %.2f s)  = %.2fx (converting %.2fx)\n",
           tc[0], ti[0], tc[2], ti[2], conv2, in2,
           identical ? ", the same bytes" : ", OUTPUT DIFFERS", tc[3], ti[3], conv4, in4);
    if (dask_ran)
        printf("  RMSF over %.1f GB: numpy %.2f s, Dask 1 worker %.2f s (%.3fx, target 0.77), "
               "2 workers %.2f s (%.2fx 1 worker)\n",
               (double)dask_milli / 1000, dk[0], dk[1], dk[3], dk[2], dk[4]);
    return EXIT_OK;
}
