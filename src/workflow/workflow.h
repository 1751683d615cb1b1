/*
 * workflow: `prismio run JOB`, declarative jobs of the program's commands
 * (docs/WORKFLOWS.md). A program module, like src/benchcli/: the public
 * API and src/clikit/ only. This header is what src/cli/ sees of it.
 */
#ifndef PIO_WORKFLOW_H
#define PIO_WORKFLOW_H

/* prismio run: argv[0] is the command's name. Returns the exit code. */
int cmd_run(int argc, char **argv);

#endif /* PIO_WORKFLOW_H */
