/*
 * The selection languages: frame selections (slices, lists, ranges) and
 * atom selections (names, residues, elements, chains, indices, boolean
 * operators, wildcards) parsed as documented, and malformed ones refused
 * with a message.
 */
#include "pipeline_fixture.h"

/* A selection's result as "1 2 3", or "error"; frees v. */
static void join(char *got, size_t size, int rc, uint64_t *v, uint64_t n)
{
    got[0] = '\0';
    if (rc != 0)
        snprintf(got, size, "error");
    for (uint64_t i = 0; rc == 0 && i < n; i++)
        snprintf(got + strlen(got), size - strlen(got), "%s%llu", i ? " " : "",
                 (unsigned long long)v[i]);
    free(v);
}

static void check_frames(const char *spec, uint64_t nframes, const char *want)
{
    uint64_t *v, n;
    struct pio_error e = {0};
    char got[512];
    int rc = pio_select_frames(spec, nframes, &v, &n, &e);
    join(got, sizeof(got), rc, v, n);
    CHECKF(strcmp(got, want) == 0, "frames '%s' of %llu: got '%s', want '%s' (%s)", spec,
           (unsigned long long)nframes, got, want, e.message);
}

static void test_select_frames(void)
{
    check_frames("::3", 10, "0 3 6 9");
    check_frames("2:8:2", 10, "2 4 6");
    check_frames("-3:", 10, "7 8 9");
    check_frames(":-7", 10, "0 1 2");
    check_frames("::-3", 10, "9 6 3 0");
    check_frames("8:2:-2", 10, "8 6 4");
    check_frames("-1::-4", 10, "9 5 1");
    check_frames("5:100", 10, "5 6 7 8 9");
    check_frames("100:", 10, "");
    check_frames("5,1,7-9,1", 10, "5 1 7 8 9 1");
    check_frames("0:2,8:", 10, "0 1 8 9");
    check_frames(":", 0, "");
    check_frames("::0", 10, "error");
    check_frames("10", 10, "error");
    check_frames("3-1", 10, "error");
    check_frames("1,,2", 10, "error");
    check_frames("a", 10, "error");
    check_frames("", 10, "error");
    check_frames("1:2:3:4", 10, "error");
    struct pio_error e = {0};
    uint64_t *v, n;
    CHECK(pio_select_frames("2:x", 10, &v, &n, &e) == PIO_EUSAGE);
    CHECKF(strstr(e.message, "'2:x'") && strstr(e.message, "character 3"), "%s", e.message);
}

static void check_atoms(const struct pio_topology *t, const char *spec, const char *want)
{
    uint64_t *v, n;
    struct pio_error e = {0};
    char got[1024];
    int rc = pio_select_atoms(spec, t, t ? t->natoms : 30, &v, &n, &e);
    join(got, sizeof(got), rc, v, n);
    CHECKF(strcmp(got, want) == 0, "atoms '%s': got '%s', want '%s' (%s)", spec, got, want,
           e.message);
}

static void test_select_atoms(void)
{
    struct topo tp;
    topo_make(&tp, 30); /* residues 1..10; residue 7 (atoms 18-20) is NA */
    const struct pio_topology *t = &tp.t;
    check_atoms(t, "name OW", "0 3 6 9 12 15 21 24 27");
    check_atoms(t, "name HW*", "1 2 4 5 7 8 10 11 13 14 16 17 22 23 25 26 28 29");
    check_atoms(t, "name HW?", "1 2 4 5 7 8 10 11 13 14 16 17 22 23 25 26 28 29");
    check_atoms(t, "resname NA", "18 19 20");
    check_atoms(t, "element Na O", "0 3 6 9 12 15 18 19 20 21 24 27");
    check_atoms(t, "chain B and name OW", "3 9 15 21 27");
    check_atoms(t, "resid 2-3", "3 4 5 6 7 8");
    check_atoms(t, "resid 2:3 and not name OW", "4 5 7 8");
    check_atoms(t, "0-2, 28 29", "0 1 2 28 29");
    check_atoms(t, "index 5:6 or index 1", "1 5 6");
    check_atoms(t, "not (chain A or element H)", "3 9 15 21 27");
    check_atoms(t, "name OW or resid 1 and element H", "0 1 2 3 6 9 12 15 21 24 27");
    check_atoms(t, "(name OW or resid 1) and element H", "1 2");
    check_atoms(t, "not not index 4", "4");
    check_atoms(t, "all and not index 0-27", "28 29");
    check_atoms(t, "name XX", "");
    check_atoms(t, "index 30", "error");
    check_atoms(t, "name", "error");
    check_atoms(t, "name OW and", "error");
    check_atoms(t, "(name OW", "error");
    check_atoms(t, "colour red", "error");
    check_atoms(t, "index 3-1", "error");
    check_atoms(t, "0-2 name OW", "error");
    check_atoms(NULL, "0-2,5", "0 1 2 5");
    check_atoms(NULL, "name OW", "error");
    check_atoms(NULL, "not index 0-27", "28 29");
    struct pio_error e = {0};
    uint64_t *v, n;
    CHECK(pio_select_atoms("name OW", NULL, 30, &v, &n, &e) == PIO_EUSAGE);
    CHECKF(strstr(e.message, "needs a topology"), "%s", e.message);
    CHECK(pio_select_atoms("all", t, 31, &v, &n, &e) == PIO_EUSAGE);
    /* deep nesting is refused, not a stack overflow */
    char deep[400];
    memset(deep, '(', 200);
    strcpy(deep + 200, "all");
    CHECK(pio_select_atoms(deep, t, 30, &v, &n, &e) == PIO_EUSAGE);
    topo_free(&tp);
}

int main(void)
{
    test_select_frames();
    test_select_atoms();
    return TEST_RESULT();
}
