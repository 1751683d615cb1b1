/*
 * benchcli: the one entry point of the benchmark module for the CLI's
 * command table (src/cli/main.c). See bench_common.h for the module.
 */
#ifndef PIO_BENCHCLI_H
#define PIO_BENCHCLI_H

/* prismio bench BENCHMARK ...: argv[0] is "bench"; returns the exit code. */
int cmd_bench(int argc, char **argv);

#endif /* PIO_BENCHCLI_H */
