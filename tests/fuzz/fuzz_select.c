/*
 * Fuzz target for the selection languages (pio_select_frames,
 * pio_select_atoms; include/prismio/pipeline.h): the input, up to its
 * first NUL, is a selection. It is evaluated as a frame selection over 0,
 * 1, 7 and 1000 frames, and as an atom selection over 0 and 23 atoms
 * without a topology and over 23 atoms with one (names, resnames, chains,
 * elements, resids), so the name and resname paths run. Every answer must
 * keep the header's promises, else the target aborts:
 *  - an error is negative, with a message, *out NULL and *n 0;
 *  - a frame list's every index is below nframes, *out never NULL;
 *  - an atom list is sorted, unique, below natoms;
 *  - with balanced parentheses, "not (S)" selects exactly the atoms S does
 *    not (when both parse: the parentheses may pass the nesting limit).
 *
 * Built with clang -fsanitize=fuzzer for fuzzing (make fuzz, with
 * select.dict), and as an ordinary program that replays
 * tests/fuzz/corpus/select in `make test` (PIO_FUZZ_REPLAY).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <prismio/pipeline.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NATOMS 23

static char names[NATOMS][8], resnames[NATOMS][8], elements[NATOMS][4], chains[NATOMS][4];
static int32_t resids[NATOMS];
static struct pio_topology top;

/* A small protein-and-water topology: each column has repeats, wildcard
 * matches, full-width (unterminated) strings and negative residue ids. */
static void make_topology(void)
{
    static const char *const nm[] = {"N",   "CA",  "C",   "O",  "CB",      "OW",
                                     "HW1", "HW2", "NA+", "CL", "ABCDEFGH"};
    static const char *const rn[] = {"ALA", "ALA", "ALA", "ALA", "ALA",     "SOL",
                                     "SOL", "SOL", "ION", "ION", "LONGNAME"};
    static const char *const el[] = {"N", "C", "C", "O", "C", "O", "H", "H", "Na", "Cl", "XXXX"};
    for (int i = 0; i < NATOMS; i++) {
        int k = i % 11;
        memcpy(names[i], nm[k], strnlen(nm[k], 8));
        memcpy(resnames[i], rn[k], strnlen(rn[k], 8));
        memcpy(elements[i], el[k], strnlen(el[k], 4));
        memcpy(chains[i], i < 11 ? "A" : i < 22 ? "B" : "WXYZ", i < 22 ? 1 : 4);
        resids[i] = i / 5 - 1;
    }
    top = (struct pio_topology){.natoms = NATOMS,
                                .names = names,
                                .elements = elements,
                                .resnames = resnames,
                                .chains = chains,
                                .resids = resids};
}

static void check_error(int rc, const uint64_t *out, uint64_t n, const struct pio_error *e)
{
    if (rc >= 0 || out != NULL || n != 0 || e->message[0] == '\0')
        abort();
}

static void frames(const char *spec, uint64_t nframes)
{
    uint64_t *out = (uint64_t *)&out, n = 1; /* garbage in */
    struct pio_error e = {0};
    int rc = pio_select_frames(spec, nframes, &out, &n, &e);
    if (rc != 0) {
        check_error(rc, out, n, &e);
        return;
    }
    if (!out)
        abort();
    for (uint64_t i = 0; i < n; i++)
        if (out[i] >= nframes)
            abort();
    free(out);
}

/* The selection as a mask, or NULL when it does not parse. */
static uint8_t *atoms(const char *spec, const struct pio_topology *t, uint64_t natoms,
                      uint64_t *count)
{
    uint64_t *out = (uint64_t *)&out, n = 1;
    struct pio_error e = {0};
    int rc = pio_select_atoms(spec, t, natoms, &out, &n, &e);
    if (rc != 0) {
        check_error(rc, out, n, &e);
        return NULL;
    }
    if (!out || n > natoms)
        abort();
    uint8_t *mask = calloc(natoms + 1, 1);
    for (uint64_t i = 0; i < n; i++) {
        if (out[i] >= natoms || (i > 0 && out[i] <= out[i - 1]))
            abort();
        mask[out[i]] = 1;
    }
    free(out);
    *count = n;
    return mask;
}

static bool balanced(const char *s)
{
    int depth = 0;
    for (; *s; s++) {
        depth += *s == '(';
        depth -= *s == ')';
        if (depth < 0)
            return false;
    }
    return depth == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!top.natoms)
        make_topology();
    size_t len = strnlen((const char *)data, size);
    char *spec = malloc(len + 8);
    memcpy(spec, data, len);
    spec[len] = '\0';

    static const uint64_t nframes[] = {0, 1, 7, 1000};
    for (size_t k = 0; k < sizeof(nframes) / sizeof(*nframes); k++)
        frames(spec, nframes[k]);

    uint64_t n = 0, m = 0;
    free(atoms(spec, NULL, 0, &n));
    free(atoms(spec, NULL, NATOMS, &n));
    uint8_t *mask = atoms(spec, &top, NATOMS, &n);
    if (mask && balanced(spec)) {
        char *neg = malloc(len + 8);
        snprintf(neg, len + 8, "not (%s)", spec);
        uint8_t *inv = atoms(neg, &top, NATOMS, &m);
        if (inv) {
            if (n + m != NATOMS)
                abort();
            for (int i = 0; i < NATOMS; i++)
                if (mask[i] == inv[i])
                    abort();
        }
        free(inv);
        free(neg);
    }
    free(mask);
    free(spec);
    return 0;
}

#include "fuzz_replay.h"
