/*
 * prismio bench workflow: `prismio run` on a job converting (XTC to HOLO)
 * and compressing (lossless) each of 16 runs, next to the same commands as
 * a shell loop one after another and through `xargs -P 2` (each run's two
 * commands in turn), and a rerun of the job with nothing to do (issue 28).
 * Rounds take turns (each configuration once per round, the best of
 * --repeat counts), so a change in the machine's speed favours none.
 *   vs_xargs_ratio      = xargs -P 2 seconds / prismio run seconds (target >= 1)
 *   noop_rerun_fraction = the rerun's seconds / prismio run's (target <= 0.01)
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

#define CMD "bench workflow"

int bench_workflow(int argc, char **argv)
{
    uint64_t runs = 16, natoms = 10000, nframes = 300, repeat = 3;
    const char *dir = NULL;
    bool json = false, keep = false;
    struct cli_opt opts[] = {
        CLI_OPT_U64("runs", &runs, "N", 1, 999, "runs (directories of one XTC) (default 16)"),
        CLI_OPT_SIZE("atoms", &natoms, "N", 1, PIO_HOLO_MAX_ATOMS,
                     "atoms of each run (default 10000)"),
        CLI_OPT_SIZE("frames", &nframes, "M", 1, 0, "frames of each run (default 300)"),
        CLI_OPT_STRING("dir", 0, &dir, "DIR", "scratch files (default: $TMPDIR or /tmp)"),
        CLI_OPT_FLAG("keep", 0, &keep, "keep the scratch directory (it is named on stderr)"),
        CLI_OPT_SIZE("repeat", &repeat, "N", 1, 0, "rounds; the best counts (default 3)"),
        CLI_OPT_FLAG("json", 0, &json, "one JSON object"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = CMD,
        .synopsis = "",
        .min_args = 0,
        .max_args = 0,
        .about = "prismio run on a job converting each of N runs (XTC) to HOLO and\n"
                 "compressing it, next to the same prismio convert commands in a shell\n"
                 "loop and through xargs -P 2, and a rerun of the job with nothing to do.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    if (system("command -v xargs >/dev/null 2>&1") != 0) {
        cli_err(CMD, "xargs not found (findutils)");
        return EXIT_UNAVAILABLE;
    }
    char self[PATH_MAX];
    if (cli_self_path(CMD, self, sizeof(self)) != 0)
        return EXIT_IOERR;
    if (!dir)
        dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char d[PATH_MAX];
    snprintf(d, sizeof(d), "%s/prismio-bench-workflow.XXXXXX", dir);
    if (!mkdtemp(d)) {
        cli_err(CMD, "%s: cannot make a scratch directory", dir);
        return EXIT_IOERR;
    }
    static char c[4 * PATH_MAX + 1024], out[8192];
    int rc = EXIT_OK;
    /* the runs: synthetic frames (a seed each) as XTC */
    for (uint64_t i = 1; i <= runs && rc == EXIT_OK; i++) {
        snprintf(c, sizeof(c),
                 "cd '%s' && mkdir -p runs/r%03llu && '%s' gen g.holo --atoms %llu --frames %llu "
                 "--seed %llu >/dev/null && '%s' convert g.holo runs/r%03llu/md.xtc -q && "
                 "rm g.holo",
                 d, (unsigned long long)i, self, (unsigned long long)natoms,
                 (unsigned long long)nframes, (unsigned long long)i, self, (unsigned long long)i);
        if (bench_shell(c, out, sizeof(out)) < 0) {
            cli_err(CMD, "making run %llu: %s", (unsigned long long)i, out);
            rc = EXIT_IOERR;
        }
    }
    snprintf(c, sizeof(c),
             "cd '%s' && printf '%%s\\n' 'inputs:' '  md: runs/*/md.xtc' 'steps:' "
             "'  holo: {run: convert, from: md, to: \"out/{name}.holo\"}' "
             "'  z: {run: compress, from: holo, to: \"out/{name}.z.holo\"}' >job.yaml && "
             "du -sb runs | cut -f1",
             d);
    double in_bytes = rc == EXIT_OK ? bench_shell(c, out, sizeof(out)) : -1;
    if (in_bytes < 0 && rc == EXIT_OK) {
        cli_err(CMD, "writing the job: %s", out);
        rc = EXIT_IOERR;
    }
    in_bytes = atof(out);
    /* the same two commands per run as the job's steps, in a script both
     * baselines run once per run */
    snprintf(
        c, sizeof(c),
        "cd '%s' && printf '%%s\\n' 'r=$1' \"'%s' convert runs/\\$r/md.xtc base/\\$r.holo -q && "
        "'%s' convert base/\\$r.holo base/\\$r.z.holo --compress lossless -q\" >each.sh",
        d, self, self);
    if (rc == EXIT_OK && bench_shell(c, out, sizeof(out)) < 0) {
        cli_err(CMD, "writing the baseline's script: %s", out);
        rc = EXIT_IOERR;
    }
    double serial = -1, xargs = -1, ours = -1, noop = -1;
    for (uint64_t k = 0; k < repeat && rc == EXIT_OK; k++) {
        snprintf(c, sizeof(c),
                 "cd '%s' && rm -rf base && mkdir base && for r in $(ls runs); do sh each.sh $r "
                 "|| exit 1; done 2>&1",
                 d);
        double t = bench_shell(c, out, sizeof(out));
        serial = bench_best(serial, t);
        snprintf(
            c, sizeof(c),
            "cd '%s' && rm -rf base && mkdir base && ls runs | xargs -P 2 -n 1 sh each.sh 2>&1", d);
        double tx = bench_shell(c, out, sizeof(out));
        xargs = bench_best(xargs, tx);
        snprintf(c, sizeof(c),
                 "cd '%s' && rm -rf base out job.yaml.state && '%s' run job.yaml -q --jobs 2 2>&1",
                 d, self);
        double to = bench_shell(c, out, sizeof(out));
        ours = bench_best(ours, to);
        snprintf(c, sizeof(c),
                 "cd '%s' && '%s' run job.yaml --json 2>&1 | grep -c '\"status\": \"skipped\"'", d,
                 self);
        double tn = bench_shell(c, out, sizeof(out));
        if (t < 0 || tx < 0 || to < 0 || tn < 0 || (uint64_t)atoll(out) != 2 * runs) {
            cli_err(CMD,
                    "a round failed (serial %.2f s, xargs %.2f s, run %.2f s, rerun %.2f s): %s", t,
                    tx, to, tn, out);
            rc = EXIT_IOERR;
        }
        /* the rerun timed without the report (and grep) */
        snprintf(c, sizeof(c), "cd '%s' && '%s' run job.yaml -q 2>&1", d, self);
        noop = bench_best(noop, bench_shell(c, out, sizeof(out)));
    }
    /* the job's outputs check out (every frame's BLAKE3) */
    snprintf(
        c, sizeof(c),
        "cd '%s' && for f in out/*.holo; do '%s' verify \"$f\" >/dev/null || exit 1; done 2>&1", d,
        self);
    if (rc == EXIT_OK && bench_shell(c, out, sizeof(out)) < 0) {
        cli_err(CMD, "the job's outputs do not verify: %s", out);
        rc = EXIT_INTEGRITY;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double vs_xargs = ours > 0 && xargs > 0 ? xargs / ours : -1;
    double vs_serial = ours > 0 && serial > 0 ? serial / ours : -1;
    double noop_frac = ours > 0 && noop >= 0 ? noop / ours : -1;
    if (json) {
        cli_json_printf("{\"bench\": \"workflow\", \"runs\": %llu, \"atoms\": %llu, \"frames\": "
                        "%llu, \"input_bytes\": %.0f, \"cpus\": %ld, \"repeat\": %llu, "
                        "\"serial_s\": %.4f, \"xargs_p2_s\": %.4f, \"run_s\": %.4f, "
                        "\"noop_rerun_s\": %.4f, \"vs_serial_ratio\": %.3f, "
                        "\"vs_xargs_ratio\": %.3f, \"noop_rerun_fraction\": %.5f, "
                        "\"targets\": {\"vs_xargs_ratio\": \">= 1\", \"noop_rerun_fraction\": "
                        "\"<= 0.01\"}}\n",
                        (unsigned long long)runs, (unsigned long long)natoms,
                        (unsigned long long)nframes, in_bytes, ncpu, (unsigned long long)repeat,
                        serial, xargs, ours, noop, vs_serial, vs_xargs, noop_frac);
    } else {
        printf("%llu runs of %llu atoms x %llu frames (%.1f MB of XTC), %ld CPUs, best of %llu\n",
               (unsigned long long)runs, (unsigned long long)natoms, (unsigned long long)nframes,
               in_bytes / 1e6, ncpu, (unsigned long long)repeat);
        printf("  shell loop          %8.3f s\n", serial);
        printf("  xargs -P 2          %8.3f s\n", xargs);
        printf("  prismio run         %8.3f s   %.2fx the loop, %.2fx xargs -P 2 (target >= 1)\n",
               ours, vs_serial, vs_xargs);
        printf("  rerun, nothing to do %7.4f s   %.4f of the run (target <= 0.01)\n", noop,
               noop_frac);
    }
    if (keep) {
        fprintf(stderr, "%s: kept %s\n", CMD, d);
    } else {
        snprintf(c, sizeof(c), "rm -rf '%s'", d);
        if (system(c) != 0)
            cli_err(CMD, "could not remove %s", d);
    }
    return rc;
}
