/*
 * benchcli: `prismio bench`, the benchmarks of the CLI, as a module of
 * their own. Each benchmark measures a baseline in the same run and reports
 * ratios, never bare timings (the machines here are shared and noisy);
 * every one takes --json and then prints one JSON object. Like the rest of
 * the CLI it uses only the public API, and it is compiled into the
 * `prismio` executable.
 *
 *   bench_cmd.c        the `bench` command: picks one benchmark
 *   bench_hash.c       BLAKE3 per tier and thread count, next to b3sum
 *   bench_read.c       HOLO reading (views, streams) next to raw scans/fio
 *   bench_write.c      the HOLO writer next to fio
 *   bench_commit.c     commits (per frame, per 1,000) next to one commit; a follower
 *   bench_convert.c    the pipeline next to read(); decoders next to MDAnalysis
 *   bench_arrow.c      Arrow export next to memcpy and write()
 *   bench_compress.c   HOLO compression next to XTC, MDAnalysis, HDF5, zarr, zstd
 *   bench_mpi.c        MPI ranks writing, reading and converting next to 1 rank; Dask
 *   bench_mpi_rank.c   what each rank of bench_mpi's mpirun runs (built with MPI)
 *   bench_mpi_rank_none.c  its stand-in without MPI
 *   bench_workflow.c   prismio run on 16 runs next to a shell loop and xargs -P 2
 *   bench_ring.c       the SPSC ring and MPMC queue next to Concurrency Kit
 *   bench_ring_ck.c    the ck_ring peer (built with libck, PIO_WITH_CK=ON)
 *   bench_ring_nock.c  its stand-in when libck is absent or turned off
 *   bench_common.c     helpers every benchmark may use
 *
 * Calls go one way: bench_cmd.c -> a benchmark -> bench_common.c -> the
 * CLI's helpers (src/cli/cli.h) -> the public API. Nothing here is called
 * by src/cli except cmd_bench (benchcli.h).
 */
#ifndef PIO_BENCH_COMMON_H
#define PIO_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "benchcli.h"
#include "clikit.h"

/* The benchmarks: argv[0] is the benchmark's name; returns the exit code. */
int bench_hash(int argc, char **argv);
int bench_read(int argc, char **argv);
int bench_write(int argc, char **argv);
int bench_commit(int argc, char **argv);
int bench_remote(int argc, char **argv);
int bench_ring(int argc, char **argv);
int bench_convert(int argc, char **argv);
int bench_arrow(int argc, char **argv);
int bench_compress(int argc, char **argv);
int bench_mpi(int argc, char **argv);
int bench_workflow(int argc, char **argv);
/* bench_mpi's rank side: argv[0] "--rank-job", then the job */
int bench_mpi_rank_job(int argc, char **argv);
/* bench read FILE --limits DIR (bench_limits.c): the hardware-limit keys,
 * files made in DIR; JSON: keys appended to an object being printed. */
int bench_read_limits(const char *file, const char *dir, uint64_t repeat, uint64_t big_mb,
                      bool quick, bool json);

/* ---- bench_common.c ---- */

/* Results summed into here are never optimised away. */
extern volatile uint64_t bench_sink;

/* The work both sides of a read benchmark do per byte: an integer sum of
 * 32-bit words (vectorises freely; floats would not without reassociation). */
static inline uint64_t bench_sum_words(const void *p, size_t bytes)
{
    const uint32_t *w = p;
    size_t n = bytes / 4;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += w[i];
    return s;
}

/* Bytes of a frame's record (docs/FORMAT.md). */
uint64_t bench_record_bytes(uint64_t natoms, int arrays, uint32_t nscalars);
/* The better (smaller, non-negative) of a best-so-far and a new time. */
double bench_best(double cur, double t);
/* qsort comparison of doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);
/* Seconds to read() a whole file into a reused 1 MiB buffer and sum it
 * (< 0 on error). */
double bench_raw_read(const char *path);
/* Run a shell command; its output (both streams as the command sends them,
 * the last outcap - 1 bytes) into out: wall seconds, or < 0 if it failed. */
double bench_shell(const char *cmd, char *out, size_t outcap);
/* Drop a file's pages from the page cache (cold runs). */
void bench_drop_cache(const char *path);
/* MDAnalysis iterating a trajectory file of natoms atoms (positions
 * touched; Debian's /usr/bin/python3), best of `repeat`: seconds, or < 0
 * when it is not available. */
double bench_mdanalysis_seconds(const char *path, uint64_t natoms, uint64_t repeat);

/* ---- bench_ring_ck.c or bench_ring_nock.c ---- */

/* Whether this build has the Concurrency Kit peer, and a note that says
 * so ("built with libck", or "not built (why)"). */
extern const bool bench_ck_built;
extern const char bench_ck_note[];
/* Seconds to move n items (1..n) through ck_ring of capacity `cap` (SPSC,
 * or MPMC when mpmc), one producer thread and one consumer; < 0 when the
 * peer is not built or the items came out wrong. */
double bench_ck_ring_run(bool mpmc, uint64_t n, unsigned cap);

#endif /* PIO_BENCH_COMMON_H */
