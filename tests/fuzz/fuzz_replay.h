/*
 * The corpus replayer shared by the fuzz targets: built without libFuzzer
 * (PIO_FUZZ_REPLAY), a target becomes a program that runs every file of
 * the given directories through LLVMFuzzerTestOneInput; `make test` runs
 * it on the committed corpora.
 */
#ifndef PIO_FUZZ_REPLAY_H
#define PIO_FUZZ_REPLAY_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef PIO_FUZZ_REPLAY
/* Replay every file of the given directories (or files). */
int main(int argc, char **argv)
{
    int count = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        char path[4096];
        struct dirent *de;
        while (d ? (de = readdir(d)) != NULL : count == 0) {
            if (d && de->d_name[0] == '.')
                continue;
            if (d)
                snprintf(path, sizeof(path), "%s/%s", argv[a], de->d_name);
            else
                snprintf(path, sizeof(path), "%s", argv[a]);
            FILE *f = fopen(path, "rb");
            if (!f) {
                fprintf(stderr, "cannot open %s\n", path);
                return 1;
            }
            uint8_t *buf = malloc(1 << 22);
            size_t n = fread(buf, 1, 1 << 22, f);
            fclose(f);
            LLVMFuzzerTestOneInput(buf, n);
            free(buf);
            count++;
            if (!d)
                break;
        }
        if (d)
            closedir(d);
    }
    fprintf(stderr, "replayed %d inputs\n", count);
    return count > 0 ? 0 : 1;
}
#endif

#endif /* PIO_FUZZ_REPLAY_H */
