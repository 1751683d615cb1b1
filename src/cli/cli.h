/*
 * cli: the `prismio` command's commands (main.c dispatches them; `bench`
 * is src/benchcli/'s). Uses only the public API (include/), like any other
 * program would, and the CLI's kit (src/clikit/: option parser, exit
 * codes, messages); this header is private to src/cli/.
 */
#ifndef PIO_CLI_H
#define PIO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <prismio.h>

#include "clikit.h"

/* Each command: argv[0] is the command's name. Returns the exit code.
 * (`prismio bench` lives in its own module, src/benchcli/.) */
int cmd_b3sum(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_formats(int argc, char **argv);
int cmd_truncate(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_concat(int argc, char **argv);
int cmd_dataset(int argc, char **argv);

#endif /* PIO_CLI_H */
