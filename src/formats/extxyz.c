/*
 * Datasets of structures, to and from extended XYZ (prismio/convert.h:
 * pio_dataset_convert). Not a registry format: its structures carry named
 * arrays (HOLO 2.3), which the pipeline's frames do not, so it converts
 * structure by structure, HOLO to and from extxyz, outside the pipeline.
 *
 * extxyz (ASE's dialect): a count line, a comment line of key=value pairs
 * (values quoted "...", '...', {...} or [...], a backslash escaping; a bare
 * key means T; `Lattice` 9 numbers in A, rows a b c; `Properties`
 * name:type:columns triples, types S R I L, default species:S:1:pos:R:3;
 * `pbc` T/F x 3), then one line per atom, columns as Properties says.
 *
 * How a structure is stored (the names prismio.dataset uses too):
 *   positions (A -> nm), forces (eV/A -> kJ/mol/nm), Lattice -> box (nm);
 *   numbers (u8 per atom, from species or Z), pbc (u8 x 3);
 *   energy, free_energy: scalars of those names (eV);
 *   other keys: a float -> scalar "info.KEY" (or a named array when the
 *   name is too long); ints "info#.KEY" (i64), bools "info?.KEY" (u8),
 *   text "info$.KEY" (char), number lists "info.KEY" (f64) / "info#.KEY";
 *   other columns: "atoms.NAME" (R: f64), "atoms#.NAME" (I: i64),
 *   "atoms?.NAME" (L: u8), "atoms$.NAME" (S: char).
 * Writing extxyz reverses it (a named array without one of those prefixes
 * is written under its own name: per atom as a column, else a key).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/formats_internal.h"
#include "prismio/convert.h"
#include "prismio/holo.h"

#include "common/pio_common.h"

#define ULL(x)       ((unsigned long long)(x))
#define KJMOL_PER_EV 96.48533212 /* CODATA 2018: e N_A */
#define MAX_COLS     256
#define MAX_KEYS     512
#define MAX_VALUES   1024  /* values on an atom line, at most */
#define MAX_LIST     65536 /* numbers in one key's value, at most */

static const char *const SYMBOLS[] = {
    "X",  "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si",
    "P",  "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
    "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru",
    "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr",
    "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",
    "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac",
    "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf",
    "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};
#define NSYMBOLS (sizeof(SYMBOLS) / sizeof(SYMBOLS[0]))

static int symbol_z(const char *s, size_t n)
{
    for (size_t z = 0; z < NSYMBOLS; z++)
        if (strlen(SYMBOLS[z]) == n && strncmp(SYMBOLS[z], s, n) == 0)
            return (int)z;
    return -1;
}

/* ---- one structure, as both sides see it ---- */

struct owned_array {
    struct pio_array a;
    void *mem; /* owned values */
};

struct structure {
    struct pio_frame f;
    float (*pos)[3], (*frc)[3];
    struct pio_scalar *sc;
    uint32_t nsc, sccap;
    struct owned_array *arr;
    uint32_t narr, arrcap;
    uint64_t cap_atoms;
};

static void st_clear(struct structure *s)
{
    for (uint32_t k = 0; k < s->narr; k++)
        free(s->arr[k].mem);
    s->narr = 0;
    s->nsc = 0;
    memset(&s->f, 0, sizeof(s->f));
}

static void st_free(struct structure *s)
{
    st_clear(s);
    free(s->pos);
    free(s->frc);
    free(s->sc);
    free(s->arr);
}

static int st_atoms(struct structure *s, uint64_t n)
{
    if (n <= s->cap_atoms)
        return 0;
    float(*p)[3] = realloc(s->pos, (size_t)n * 12);
    if (p)
        s->pos = p;
    float(*f)[3] = realloc(s->frc, (size_t)n * 12);
    if (f)
        s->frc = f;
    if (!p || !f)
        return -ENOMEM;
    s->cap_atoms = n;
    return 0;
}

static int st_scalar(struct structure *s, const char *name, double v)
{
    if (s->nsc == s->sccap) {
        uint32_t cap = s->sccap ? s->sccap * 2 : 16;
        struct pio_scalar *n = realloc(s->sc, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        s->sc = n;
        s->sccap = cap;
    }
    struct pio_scalar *q = &s->sc[s->nsc++];
    memset(q, 0, sizeof(*q));
    memcpy(q->name, name, strnlen(name, sizeof(q->name) - 1)); /* callers keep it short */
    q->value = v;
    return 0;
}

/* A new named array of rows x width values of dtype, zeroed; *data gets
 * its memory. */
static int st_array(struct structure *s, const char *name, uint32_t dtype, uint32_t per_atom,
                    uint64_t rows, uint32_t width, void **data)
{
    if (s->narr == s->arrcap) {
        uint32_t cap = s->arrcap ? s->arrcap * 2 : 16;
        struct owned_array *n = realloc(s->arr, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        s->arr = n;
        s->arrcap = cap;
    }
    struct owned_array *o = &s->arr[s->narr];
    memset(o, 0, sizeof(*o));
    size_t bytes = (size_t)(rows * width * pio_dtype_size(dtype));
    if (!(o->mem = calloc(1, bytes ? bytes : 1)))
        return -ENOMEM;
    snprintf(o->a.name, sizeof(o->a.name), "%s", name);
    o->a.dtype = dtype;
    o->a.per_atom = per_atom;
    o->a.width = width;
    o->a.data = o->mem;
    *data = o->mem;
    s->narr++;
    return 0;
}

/* ---- extxyz reading ---- */

struct xyz_in {
    struct infile in;
    uint64_t pos;  /* next byte */
    uint64_t line; /* lines read so far */
    uint64_t structure;
};

/* The next line (without its newline): false at the end of the file. */
static bool xin_line(struct xyz_in *x, const char **line, size_t *len)
{
    if (x->pos >= x->in.size)
        return false;
    const char *p = (const char *)x->in.map + x->pos;
    const char *nl = memchr(p, '\n', (size_t)(x->in.size - x->pos));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(x->in.size - x->pos);
    x->pos += n + (nl ? 1 : 0);
    x->line++;
    if (n && p[n - 1] == '\r')
        n--;
    *line = p;
    *len = n;
    return true;
}

static int xin_err(const struct xyz_in *x, int rc, struct pio_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int xin_err(const struct xyz_in *x, int rc, struct pio_error *err, const char *fmt, ...)
{
    char m[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    return pio_error_set(err, rc, "%s: line %llu (structure %llu): %s", x->in.path, ULL(x->line),
                         ULL(x->structure), m);
}

/* A key extxyz can carry unquoted: printable, no space, quote, bracket,
 * brace, backslash or '='. */
static bool plain_key(const char *k)
{
    if (!*k)
        return false;
    for (; *k; k++)
        if ((unsigned char)*k <= ' ' || *k == 0x7f || strchr("\"'=[]{}\\", *k))
            return false;
    return true;
}

/* The first control character of a line (a tab is a space), or -1. */
static long control_at(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)line[i] < ' ' && line[i] != '\t') || line[i] == 0x7f)
            return (long)i;
    return -1;
}

/* A key=value pair of the comment line. */
struct kv {
    char *key, *val;
};

/* Split the comment line into pairs (ASE's rules). Strings in *buf. */
static int parse_comment(const char *line, size_t len, struct kv *kv, uint32_t *nkv, char **buf)
{
    char *out = malloc(len * 2 + 2), *w = out;
    if (!out)
        return -ENOMEM;
    *buf = out;
    uint32_t n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && isspace((unsigned char)line[i]))
            i++;
        if (i >= len)
            break;
        if (n == MAX_KEYS)
            return PIO_ELIMIT;
        /* a token: key, then optionally =value */
        char *tok[2] = {w, NULL};
        int part = 0;
        char close = 0;
        bool esc = false;
        for (; i < len; i++) {
            char c = line[i];
            if (esc) {
                *w++ = c;
                esc = false;
            } else if (c == '\\') {
                esc = true;
            } else if (close) {
                if (c == close)
                    close = 0;
                else
                    *w++ = c;
            } else if (c == '"' || c == '\'') {
                close = c;
            } else if (c == '{') {
                close = '}';
            } else if (c == '[') {
                close = ']';
            } else if (isspace((unsigned char)c)) {
                break;
            } else if (c == '=' && part == 0) {
                *w++ = '\0';
                tok[1] = w;
                part = 1;
            } else {
                *w++ = c;
            }
        }
        if (close)
            return PIO_ECORRUPT; /* an unclosed quote */
        *w++ = '\0';
        if (!tok[0][0])
            return PIO_ECORRUPT; /* =value without a key */
        kv[n].key = tok[0];
        kv[n].val = tok[1] ? tok[1] : (char *)"T";
        n++;
    }
    *nkv = n;
    return 0;
}

/* The numbers of a value ("1 2 3", "1,2,3"): *n of them into v (at most
 * cap), all ints (*ints) or not; false if one is not a number. */
static bool numbers_of(const char *s, double *v, int64_t *iv, size_t cap, size_t *n, bool *ints)
{
    *n = 0;
    *ints = true;
    while (*s) {
        while (*s && (isspace((unsigned char)*s) || *s == ','))
            s++;
        if (!*s)
            break;
        if (*n == cap)
            return false;
        char *end;
        errno = 0;
        long long l = strtoll(s, &end, 10);
        bool is_int =
            end != s && (!*end || isspace((unsigned char)*end) || *end == ',') && errno == 0;
        if (is_int) {
            iv[*n] = l;
            v[*n] = (double)l;
        } else {
            *ints = false;
            errno = 0;
            v[*n] = strtod(s, &end);
            if (end == s || (*end && !isspace((unsigned char)*end) && *end != ','))
                return false;
            if (errno == ERANGE && fabs(v[*n]) > 1.0)
                return false; /* overflow: refused, not taken as inf */
        }
        (*n)++;
        s = end;
    }
    return *n > 0;
}

static bool bools_of(const char *s, uint8_t *b, size_t cap, size_t *n)
{
    *n = 0;
    while (*s) {
        while (*s && (isspace((unsigned char)*s) || *s == ','))
            s++;
        if (!*s)
            break;
        size_t l = strcspn(s, " \t,");
        bool t = (l == 1 && *s == 'T') || (l == 4 && !strncmp(s, "True", 4));
        bool f = (l == 1 && *s == 'F') || (l == 5 && !strncmp(s, "False", 5));
        if ((!t && !f) || *n == cap)
            return false;
        b[(*n)++] = t;
        s += l;
    }
    return *n > 0;
}

struct column {
    char name[64];
    char type; /* S R I L */
    uint32_t ncols;
    int role; /* 0 other, 1 species, 2 pos, 3 forces, 4 Z */
    void *data;
    uint32_t width; /* char: longest string */
};

static int parse_properties(const char *s, struct column *col, uint32_t *ncol, uint32_t *total)
{
    uint32_t n = 0;
    *total = 0;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", s);
    char *save = NULL;
    for (char *t = strtok_r(tmp, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
        char *ty = strtok_r(NULL, ":", &save), *nc = strtok_r(NULL, ":", &save);
        if (!ty || !nc || n == MAX_COLS || strlen(t) >= sizeof(col[n].name) || strlen(ty) != 1 ||
            !strchr("SRIL", ty[0]) || !plain_key(t))
            return PIO_ECORRUPT;
        char *end;
        long c = strtol(nc, &end, 10);
        if (*end || c < 1 || c > 4096)
            return PIO_ECORRUPT;
        memset(&col[n], 0, sizeof(col[n]));
        snprintf(col[n].name, sizeof(col[n].name), "%s", t);
        col[n].type = ty[0];
        col[n].ncols = (uint32_t)c;
        for (uint32_t j = 0; j < n; j++)
            if (!strcmp(col[j].name, col[n].name))
                return PIO_ECORRUPT;
        *total += (uint32_t)c;
        n++;
    }
    *ncol = n;
    return n ? 0 : PIO_ECORRUPT;
}

/* An info key's value stored (see the top of the file). */
/* ASE's per-structure calculator results: stored as floats whatever the
 * text ("energy=0" is an energy, not an int), so their type does not
 * depend on how a number was written. */
static bool float_key(const char *key)
{
    static const char *const keys[] = {"energy", "free_energy", "stress",
                                       "virial", "dipole",      "magmom"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        if (!strcmp(key, keys[k]))
            return true;
    return false;
}

static int store_info(struct structure *s, const struct xyz_in *x, const char *key, const char *val,
                      struct pio_error *err)
{
    size_t n, cap = 1;
    bool ints;
    char name[PIO_ARRAY_NAME_SIZE + 8];
    void *data;
    int rc;
    if (strlen(key) > PIO_ARRAY_NAME_SIZE - 7)
        return xin_err(x, PIO_ELIMIT, err, "key '%.40s': longer than %d characters", key,
                       PIO_ARRAY_NAME_SIZE - 7);
    for (const char *p = val; *p; p++) /* values: at most one a separator more */
        cap += isspace((unsigned char)*p) || *p == ',';
    if (cap > MAX_LIST)
        return xin_err(x, PIO_ELIMIT, err, "key '%s': more than %u values", key, MAX_LIST);
    double *v = malloc(cap * sizeof(*v));
    int64_t *iv = malloc(cap * sizeof(*iv));
    uint8_t *bv = malloc(cap);
    if (!v || !iv || !bv) {
        rc = pio_error_set(err, -ENOMEM, "out of memory");
    } else if (numbers_of(val, v, iv, cap, &n, &ints)) {
        if (float_key(key))
            ints = false; /* v holds every value as a double */
        if (!ints && n == 1 && (!strcmp(key, "energy") || !strcmp(key, "free_energy"))) {
            rc = st_scalar(s, key, v[0]);
        } else if (!ints && n == 1 && strlen(key) + 5 < PIO_SCALAR_NAME_SIZE) {
            snprintf(name, sizeof(name), "info.%s", key);
            rc = st_scalar(s, name, v[0]);
        } else {
            snprintf(name, sizeof(name), ints ? "info#.%s" : "info.%s", key);
            rc = st_array(s, name, ints ? PIO_DTYPE_I64 : PIO_DTYPE_F64, 0, 1, (uint32_t)n, &data);
            if (rc == 0)
                memcpy(data, ints ? (void *)iv : (void *)v, n * 8);
        }
    } else if (bools_of(val, bv, cap, &n)) {
        snprintf(name, sizeof(name), "info?.%s", key);
        if ((rc = st_array(s, name, PIO_DTYPE_U8, 0, 1, (uint32_t)n, &data)) == 0)
            memcpy(data, bv, n);
    } else {
        size_t l = strlen(val);
        if (l == 0 || l > 65536) {
            rc = xin_err(x, PIO_ECORRUPT, err, "key '%s': a text value of %zu characters", key, l);
        } else {
            snprintf(name, sizeof(name), "info$.%s", key);
            if ((rc = st_array(s, name, PIO_DTYPE_CHAR, 0, 1, (uint32_t)l, &data)) == 0)
                memcpy(data, val, l);
        }
    }
    free(v);
    free(iv);
    free(bv);
    if (rc == -ENOMEM)
        rc = pio_error_set(err, rc, "%s: out of memory", x->in.path);
    return rc;
}

/* The next structure of x into s: 1, 0 at the end, or an error. */
static int xyz_next(struct xyz_in *x, struct structure *s, struct pio_error *err)
{
    const char *line;
    size_t len;
    char(*text[MAX_COLS])[64];
    memset(text, 0, sizeof(text));
    st_clear(s);
    do { /* blank lines between structures */
        if (!xin_line(x, &line, &len))
            return 0;
        while (len && isspace((unsigned char)line[len - 1]))
            len--;
        while (len && isspace((unsigned char)*line)) {
            line++;
            len--;
        }
    } while (len == 0);
    char num[32];
    if (len >= sizeof(num) || control_at(line, len) >= 0)
        return xin_err(x, PIO_ECORRUPT, err, "expected an atom count, got '%.40s'", line);
    memcpy(num, line, len);
    num[len] = '\0';
    char *end;
    errno = 0;
    unsigned long long natoms = strtoull(num, &end, 10);
    if (*end || !isdigit((unsigned char)num[0]) || errno)
        return xin_err(x, PIO_ECORRUPT, err, "expected an atom count, got '%s'", num);
    /* each atom takes a line of at least 2 bytes: a count the rest of the
     * file cannot hold is refused before anything is sized by it */
    if (natoms > PIO_HOLO_MAX_ATOMS || natoms > (x->in.size - x->pos) / 2)
        return xin_err(x, PIO_ECORRUPT, err, "%llu atoms: more than the rest of the file holds",
                       natoms);
    if (!xin_line(x, &line, &len))
        return xin_err(x, PIO_ETRUNCATED, err, "the file ends before the comment line");
    long bad = control_at(line, len);
    if (bad >= 0)
        return xin_err(x, PIO_ECORRUPT, err,
                       "the comment line holds a control character (byte "
                       "%#x at column %ld)",
                       (unsigned char)line[bad], bad + 1);
    struct kv kv[MAX_KEYS];
    uint32_t nkv = 0;
    char *buf = NULL;
    char *cline = malloc(len + 1);
    int rc = cline ? 0 : -ENOMEM;
    if (rc == 0) {
        memcpy(cline, line, len);
        cline[len] = '\0';
        rc = parse_comment(cline, len, kv, &nkv, &buf);
    }
    if (rc != 0) {
        free(cline);
        free(buf);
        return rc == -ENOMEM ? pio_error_set(err, rc, "out of memory")
                             : xin_err(x, rc, err,
                                       "the comment line is not key=value pairs "
                                       "(an unclosed quote, or too many keys)");
    }
    struct column col[MAX_COLS];
    uint32_t ncol = 0, total = 0;
    const char *props = "species:S:1:pos:R:3";
    bool have_lattice = false, have_pbc = false;
    uint8_t pbc[3] = {0, 0, 0};
    for (uint32_t k = 0; k < nkv; k++) {
        if (!plain_key(kv[k].key)) {
            rc = xin_err(x, PIO_ECORRUPT, err, "key '%.40s' is not a plain name", kv[k].key);
            goto out;
        }
        for (uint32_t j = 0; j < k; j++)
            if (!strcmp(kv[j].key, kv[k].key)) {
                rc = xin_err(x, PIO_ECORRUPT, err, "key '%.40s' given twice", kv[k].key);
                goto out;
            }
        if (!strcmp(kv[k].key, "Properties"))
            props = kv[k].val;
    }
    if ((rc = parse_properties(props, col, &ncol, &total)) != 0) {
        rc = xin_err(x, PIO_ECORRUPT, err, "Properties '%.80s': not name:S|R|I|L:columns triples",
                     props);
        goto out;
    }
    if (total > MAX_VALUES) {
        rc = xin_err(x, PIO_ELIMIT, err, "Properties '%.60s': %u values an atom, at most %u", props,
                     total, MAX_VALUES);
        goto out;
    }
    s->f.natoms = natoms;
    if ((rc = st_atoms(s, natoms ? natoms : 1)) != 0) {
        rc = pio_error_set(err, rc, "out of memory for %llu atoms", natoms);
        goto out;
    }
    /* the columns' places */
    int have_pos = 0, have_numbers = 0;
    for (uint32_t c = 0; c < ncol; c++) {
        struct column *cl = &col[c];
        if (!strcmp(cl->name, "species") && cl->type == 'S' && cl->ncols == 1)
            cl->role = 1;
        else if (!strcmp(cl->name, "pos") && cl->type == 'R' && cl->ncols == 3)
            cl->role = 2;
        else if (!strcmp(cl->name, "forces") && cl->type == 'R' && cl->ncols == 3)
            cl->role = 3;
        else if (!strcmp(cl->name, "Z") && cl->type == 'I' && cl->ncols == 1)
            cl->role = 4;
        have_pos += cl->role == 2;
        have_numbers += cl->role == 1 || cl->role == 4;
    }
    if (!have_pos) {
        rc = xin_err(x, PIO_ECORRUPT, err, "Properties '%.80s' has no pos:R:3 column", props);
        goto out;
    }
    if (!have_numbers) {
        rc = xin_err(x, PIO_ECORRUPT, err, "Properties '%.80s' has no species:S:1 or Z:I:1", props);
        goto out;
    }
    uint8_t *numbers;
    if ((rc = st_array(s, "numbers", PIO_DTYPE_U8, 1, natoms, 1, (void **)&numbers)) != 0)
        goto oom;
    /* other columns: named arrays (text columns sized after the pass) */
    for (uint32_t c = 0; c < ncol; c++) {
        struct column *cl = &col[c];
        if (cl->role)
            continue;
        char name[96];
        snprintf(name, sizeof(name), "atoms%s.%.63s",
                 cl->type == 'R'   ? ""
                 : cl->type == 'I' ? "#"
                 : cl->type == 'L' ? "?"
                                   : "$",
                 cl->name);
        if (strlen(name) >= PIO_ARRAY_NAME_SIZE) {
            rc = xin_err(x, PIO_ELIMIT, err, "column '%s': a name over %d characters", cl->name,
                         PIO_ARRAY_NAME_SIZE - 8);
            goto out;
        }
        if (cl->type == 'S') {
            if (cl->ncols != 1) {
                rc = xin_err(x, PIO_ENOTSUPPORTED, err,
                             "column '%s': text columns of %u values are not supported (one "
                             "value a column)",
                             cl->name, cl->ncols);
                goto out;
            }
            if (!(text[c] = calloc((size_t)(natoms ? natoms : 1) * cl->ncols, 64)))
                goto oom;
            memcpy(cl->name, name, strlen(name) + 1); /* < PIO_ARRAY_NAME_SIZE: checked */
            continue;
        }
        uint32_t dt = cl->type == 'R'   ? PIO_DTYPE_F64
                      : cl->type == 'I' ? PIO_DTYPE_I64
                                        : PIO_DTYPE_U8;
        if ((rc = st_array(s, name, dt, 1, natoms, cl->ncols, &cl->data)) != 0)
            goto oom;
    }
    bool have_forces = false;
    for (uint64_t a = 0; a < natoms; a++) {
        if (!xin_line(x, &line, &len)) {
            rc = xin_err(x, PIO_ETRUNCATED, err,
                         "the file ends after %llu of the structure's %llu atoms", ULL(a), natoms);
            goto out;
        }
        if ((bad = control_at(line, len)) >= 0) {
            rc = xin_err(x, PIO_ECORRUPT, err,
                         "atom %llu: a control character (byte %#x at column %ld)", ULL(a),
                         (unsigned char)line[bad], bad + 1);
            goto out;
        }
        /* tokens */
        const char *tk[MAX_VALUES + 1];
        size_t tl[MAX_VALUES + 1];
        uint32_t nt = 0;
        for (size_t i = 0; i < len;) {
            while (i < len && isspace((unsigned char)line[i]))
                i++;
            if (i >= len)
                break;
            size_t j = i;
            while (j < len && !isspace((unsigned char)line[j]))
                j++;
            if (nt <= total) {
                tk[nt] = line + i;
                tl[nt] = j - i;
            }
            nt++;
            i = j;
        }
        if (nt != total) {
            rc = xin_err(x, PIO_ECORRUPT, err, "atom %llu: %u values, Properties says %u", ULL(a),
                         nt, total);
            goto out;
        }
        uint32_t t = 0;
        for (uint32_t c = 0; c < ncol; c++) {
            struct column *cl = &col[c];
            for (uint32_t q = 0; q < cl->ncols; q++, t++) {
                char v[80];
                if (tl[t] >= sizeof(v)) {
                    rc = xin_err(x, PIO_ECORRUPT, err,
                                 "atom %llu, column %s: a value of %zu "
                                 "characters",
                                 ULL(a), cl->name, tl[t]);
                    goto out;
                }
                memcpy(v, tk[t], tl[t]);
                v[tl[t]] = '\0';
                char *e;
                errno = 0;
                if (cl->type == 'R') {
                    double d = strtod(v, &e);
                    bool role = cl->role == 2 || cl->role == 3; /* positions, forces: finite */
                    if (*e || e == v || (role && !isfinite(d))) {
                        rc = xin_err(x, PIO_ECORRUPT, err,
                                     "atom %llu, column %s: '%s' is not a finite number", ULL(a),
                                     cl->name, v);
                        goto out;
                    }
                    if (cl->role == 2 || cl->role == 3) {
                        double sc = cl->role == 2 ? 0.1 : KJMOL_PER_EV * 10.0;
                        double y = d * sc;
                        if (fabs(y) > 3.0e38) {
                            rc = xin_err(x, PIO_ELIMIT, err,
                                         "atom %llu, column %s: %s does not fit a float32", ULL(a),
                                         cl->name, v);
                            goto out;
                        }
                        (cl->role == 2 ? s->pos : s->frc)[a][q] = (float)y;
                        have_forces |= cl->role == 3;
                    } else {
                        ((double *)cl->data)[a * cl->ncols + q] = d;
                    }
                } else if (cl->type == 'I') {
                    long long l = strtoll(v, &e, 10);
                    if (*e || e == v || errno) {
                        rc = xin_err(x, PIO_ECORRUPT, err,
                                     "atom %llu, column %s: '%s' is not a 64-bit integer", ULL(a),
                                     cl->name, v);
                        goto out;
                    }
                    if (cl->role == 4) {
                        if (l < 0 || l >= (long long)NSYMBOLS) {
                            rc = xin_err(x, PIO_ECORRUPT, err,
                                         "atom %llu: atomic number %lld out of range", ULL(a), l);
                            goto out;
                        }
                        numbers[a] = (uint8_t)l;
                    } else {
                        ((int64_t *)cl->data)[a * cl->ncols + q] = l;
                    }
                } else if (cl->type == 'L') {
                    uint8_t b;
                    size_t nb;
                    if (!bools_of(v, &b, 1, &nb)) {
                        rc = xin_err(x, PIO_ECORRUPT, err,
                                     "atom %llu, column %s: '%s' is not T or F", ULL(a), cl->name,
                                     v);
                        goto out;
                    }
                    ((uint8_t *)cl->data)[a * cl->ncols + q] = b;
                } else if (cl->role == 1) {
                    int z = symbol_z(v, strlen(v));
                    if (z < 0) {
                        rc = xin_err(x, PIO_ECORRUPT, err, "atom %llu: unknown element '%s'",
                                     ULL(a), v);
                        goto out;
                    }
                    numbers[a] = (uint8_t)z;
                } else {
                    if (strlen(v) > 63) {
                        rc = xin_err(x, PIO_ELIMIT, err,
                                     "atom %llu, column %s: text over 63 "
                                     "characters",
                                     ULL(a), cl->name);
                        goto out;
                    }
                    memcpy(text[c][a * cl->ncols + q], v, strlen(v));
                    if (strlen(v) > cl->width)
                        cl->width = (uint32_t)strlen(v);
                }
            }
        }
    }
    for (uint32_t c = 0; c < ncol; c++) { /* text columns, as wide as their longest */
        struct column *cl = &col[c];
        if (!text[c])
            continue;
        uint32_t w = cl->width ? cl->width : 1;
        char *d;
        if ((rc = st_array(s, cl->name, PIO_DTYPE_CHAR, 1, natoms, w * cl->ncols, (void **)&d)) !=
            0)
            goto oom;
        for (uint64_t r = 0; r < natoms * cl->ncols; r++)
            memcpy(d + r * w, text[c][r], w);
    }
    /* the comment's keys */
    for (uint32_t k = 0; k < nkv; k++) {
        const char *key = kv[k].key, *val = kv[k].val;
        if (!strcmp(key, "Properties"))
            continue;
        if (!strcmp(key, "Lattice")) {
            double v[16];
            int64_t iv[16];
            size_t n;
            bool ints;
            if (!numbers_of(val, v, iv, 16, &n, &ints) || n != 9) {
                rc = xin_err(x, PIO_ECORRUPT, err, "Lattice '%.80s': not 9 numbers", val);
                goto out;
            }
            for (int q = 0; q < 9; q++) {
                if (!isfinite(v[q])) {
                    rc = xin_err(x, PIO_ECORRUPT, err, "Lattice '%.80s': not finite", val);
                    goto out;
                }
                s->f.box[q / 3][q % 3] = v[q] * 0.1;
            }
            s->f.fields |= PIO_FIELD_BOX;
            have_lattice = true;
            continue;
        }
        if (!strcmp(key, "pbc")) {
            size_t n;
            if (!bools_of(val, pbc, 3, &n) || n != 3) {
                rc = xin_err(x, PIO_ECORRUPT, err, "pbc '%.40s': not three T or F", val);
                goto out;
            }
            have_pbc = true;
            continue;
        }
        if ((rc = store_info(s, x, key, val, err)) != 0)
            goto out;
    }
    if (!have_pbc && have_lattice) /* ASE's default */
        pbc[0] = pbc[1] = pbc[2] = 1;
    uint8_t *pb;
    if ((rc = st_array(s, "pbc", PIO_DTYPE_U8, 0, 1, 3, (void **)&pb)) != 0)
        goto oom;
    memcpy(pb, pbc, 3);
    s->f.positions = (const float(*)[3])s->pos;
    s->f.forces = have_forces ? (const float(*)[3])s->frc : NULL;
    s->f.scalars = s->sc;
    s->f.nscalars = s->nsc;
    for (uint32_t c = 0; c < ncol; c++)
        free(text[c]);
    free(cline);
    free(buf);
    return 1;
oom:
    rc = pio_error_set(err, -ENOMEM, "%s: out of memory", x->in.path);
out:
    for (uint32_t c = 0; c < ncol; c++)
        free(text[c]);
    free(cline);
    free(buf);
    return rc;
}

/* ---- extxyz writing ---- */

/* A named array's name as extxyz has it: the prefix says its type. */
static const char *xyz_name(const char *name, const char *prefix, char *tag)
{
    size_t pl = strlen(prefix);
    *tag = 0;
    if (strncmp(name, prefix, pl) != 0)
        return NULL;
    if (name[pl] == '.')
        return name + pl + 1;
    if (name[pl] && strchr("#?$", name[pl]) && name[pl + 1] == '.') {
        *tag = name[pl];
        return name + pl + 2;
    }
    return NULL;
}

static void put_text(FILE *f, const char *s, size_t n)
{
    n = strnlen(s, n);
    bool quote = n == 0 || strpbrk(s, " \t=\"'{}[]\\") != NULL;
    if (quote)
        fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            fputc('\\', f);
        fputc(s[i], f);
    }
    if (quote)
        fputc('"', f);
}

/* A float that reads back as a float (ASE takes "300" for an int). */
static void put_float(FILE *f, double v, int digits)
{
    char b[40];
    snprintf(b, sizeof(b), "%.*g", digits, v);
    fputs(b, f);
    if (!strpbrk(b, ".eEnN"))
        fputs(".0", f);
}

/* Value k of an array row, as text. */
static void put_value(FILE *f, const struct pio_array *a, uint64_t at, char tag)
{
    switch (a->dtype) {
    case PIO_DTYPE_F64:
        put_float(f, ((const double *)a->data)[at], 17);
        break;
    case PIO_DTYPE_F32:
        put_float(f, (double)((const float *)a->data)[at], 9);
        break;
    case PIO_DTYPE_I64:
        fprintf(f, "%lld", (long long)((const int64_t *)a->data)[at]);
        break;
    case PIO_DTYPE_I32:
        fprintf(f, "%d", ((const int32_t *)a->data)[at]);
        break;
    default: /* u8: T/F where the tag says bool */
        if (tag == '?')
            fputs(((const uint8_t *)a->data)[at] ? "T" : "F", f);
        else
            fprintf(f, "%u", ((const uint8_t *)a->data)[at]);
        break;
    }
}

static char col_type(const struct pio_array *a, char tag)
{
    if (a->dtype == PIO_DTYPE_CHAR)
        return 'S';
    if (tag == '?')
        return 'L';
    return a->dtype == PIO_DTYPE_F32 || a->dtype == PIO_DTYPE_F64 ? 'R' : 'I';
}

/* The name a named array or scalar takes in extxyz (prefix stripped). */
static const char *out_name(const char *name, bool per_atom)
{
    char tag;
    const char *nm = xyz_name(name, per_atom ? "atoms" : "info", &tag);
    if (!nm && !per_atom && !strncmp(name, "calc.", 5))
        nm = name + 5;
    return nm ? nm : name;
}

/* Whether array k is written as a key or column (numbers and pbc are
 * species and pbc). */
static bool is_special(const struct pio_array *a)
{
    return (!strcmp(a->name, "numbers") && a->per_atom && a->width == 1 &&
            a->dtype == PIO_DTYPE_U8) ||
           (!strcmp(a->name, "pbc") && !a->per_atom && a->width == 3 && a->dtype == PIO_DTYPE_U8);
}

/* Whether `name` is among the first n names. */
static bool taken(const char *const *names, uint32_t n, const char *name)
{
    for (uint32_t k = 0; k < n; k++)
        if (!strcmp(names[k], name))
            return true;
    return false;
}

/* What a structure's extxyz would need that the format cannot say: a name
 * that is not a plain key, a name written twice or reserved, text with
 * control characters (or spaces, in a column). *bad names it. */
static int xyz_check(const struct pio_frame *fr, const struct pio_array *arr, uint32_t na,
                     const char **bad)
{
    const char **cols = malloc((na + 4) * sizeof(*cols));
    const char **keys = malloc((na + fr->nscalars + 4) * sizeof(*keys));
    uint32_t nc = 0, nk = 0;
    int rc = cols && keys ? 0 : -ENOMEM;
    if (rc == 0) {
        cols[nc++] = "species";
        cols[nc++] = "pos";
        cols[nc++] = "Z";
        if (fr->forces)
            cols[nc++] = "forces";
        keys[nk++] = "Lattice";
        keys[nk++] = "Properties";
        keys[nk++] = "pbc";
    }
    for (uint32_t k = 0; rc == 0 && k < na; k++) {
        if (is_special(&arr[k]))
            continue;
        const char *nm = out_name(arr[k].name, arr[k].per_atom);
        bool ok = plain_key(nm) && !(arr[k].per_atom && strchr(nm, ':')) &&
                  !taken(arr[k].per_atom ? cols : keys, arr[k].per_atom ? nc : nk, nm);
        if (ok && arr[k].dtype == PIO_DTYPE_CHAR) { /* text a line can hold */
            uint64_t bytes = (arr[k].per_atom ? fr->natoms : 1) * arr[k].width;
            const char *t = arr[k].data;
            for (uint64_t q = 0; ok && q < bytes; q++)
                ok = t[q] == '\0' || (t[q] == '\t' && !arr[k].per_atom) ||
                     (t[q] == ' ' ? !arr[k].per_atom : (unsigned char)t[q] > ' ' && t[q] != 0x7f);
        }
        if (!ok) {
            *bad = arr[k].name;
            rc = PIO_EUSAGE;
        } else if (arr[k].per_atom) {
            cols[nc++] = nm;
        } else {
            keys[nk++] = nm;
        }
    }
    for (uint32_t q = 0; rc == 0 && q < fr->nscalars; q++) {
        const char *nm = out_name(fr->scalars[q].name, false);
        if (!plain_key(nm) || taken(keys, nk, nm)) {
            *bad = fr->scalars[q].name;
            rc = PIO_EUSAGE;
        } else {
            keys[nk++] = nm;
        }
    }
    free(cols);
    free(keys);
    return rc;
}

static int xyz_write(FILE *f, const struct pio_frame *fr, const struct pio_array *arr, uint32_t na,
                     const char **bad)
{
    int rc = xyz_check(fr, arr, na, bad);
    if (rc != 0)
        return rc;
    const uint8_t *numbers = NULL;
    const uint8_t *pbc = NULL;
    for (uint32_t k = 0; k < na; k++) {
        if (!strcmp(arr[k].name, "numbers") && arr[k].per_atom && arr[k].width == 1 &&
            arr[k].dtype == PIO_DTYPE_U8)
            numbers = arr[k].data;
        if (!strcmp(arr[k].name, "pbc") && !arr[k].per_atom && arr[k].width == 3 &&
            arr[k].dtype == PIO_DTYPE_U8)
            pbc = arr[k].data;
    }
    fprintf(f, "%llu\n", ULL(fr->natoms));
    if (fr->fields & PIO_FIELD_BOX) {
        fputs("Lattice=\"", f);
        for (int q = 0; q < 9; q++)
            fprintf(f, q ? " %.17g" : "%.17g", fr->box[q / 3][q % 3] * 10.0);
        fputs("\" ", f);
    }
    fputs("Properties=species:S:1:pos:R:3", f);
    if (fr->forces)
        fputs(":forces:R:3", f);
    for (uint32_t k = 0; k < na; k++) {
        const struct pio_array *a = &arr[k];
        if (!a->per_atom || (numbers && a->data == (const void *)numbers))
            continue;
        char tag;
        const char *nm = xyz_name(a->name, "atoms", &tag);
        fprintf(f, ":%s:%c:%u", nm ? nm : a->name, col_type(a, tag),
                a->dtype == PIO_DTYPE_CHAR ? 1 : a->width);
    }
    for (uint32_t q = 0; q < fr->nscalars; q++) {
        const char *nm = fr->scalars[q].name;
        if (!strncmp(nm, "info.", 5))
            nm += 5;
        fprintf(f, " %s=", nm);
        put_float(f, fr->scalars[q].value, 17);
    }
    for (uint32_t k = 0; k < na; k++) {
        const struct pio_array *a = &arr[k];
        if (a->per_atom || (pbc && a->data == (const void *)pbc))
            continue;
        char tag = 0;
        const char *nm = xyz_name(a->name, "info", &tag);
        if (!nm && !strncmp(a->name, "calc.", 5))
            nm = a->name + 5;
        fprintf(f, " %s=", nm ? nm : a->name);
        if (a->dtype == PIO_DTYPE_CHAR) {
            put_text(f, a->data, a->width);
            continue;
        }
        if (a->width > 1)
            fputc('"', f);
        for (uint32_t q = 0; q < a->width; q++) {
            if (q)
                fputc(' ', f);
            put_value(f, a, q, tag);
        }
        if (a->width > 1)
            fputc('"', f);
    }
    if (pbc)
        fprintf(f, " pbc=\"%c %c %c\"", pbc[0] ? 'T' : 'F', pbc[1] ? 'T' : 'F', pbc[2] ? 'T' : 'F');
    fputc('\n', f);
    for (uint64_t at = 0; at < fr->natoms; at++) {
        unsigned z = numbers ? numbers[at] : 0;
        fputs(z < NSYMBOLS ? SYMBOLS[z] : "X", f);
        for (int c = 0; c < 3; c++)
            fprintf(f, " %.9g", (double)fr->positions[at][c] * 10.0);
        for (int c = 0; fr->forces && c < 3; c++)
            fprintf(f, " %.9g", (double)fr->forces[at][c] / (KJMOL_PER_EV * 10.0));
        for (uint32_t k = 0; k < na; k++) {
            const struct pio_array *a = &arr[k];
            if (!a->per_atom || (numbers && a->data == (const void *)numbers))
                continue;
            char tag;
            xyz_name(a->name, "atoms", &tag);
            fputc(' ', f);
            if (a->dtype == PIO_DTYPE_CHAR) {
                put_text(f, (const char *)a->data + at * a->width, a->width);
                continue;
            }
            for (uint32_t q = 0; q < a->width; q++) {
                if (q)
                    fputc(' ', f);
                put_value(f, a, at * a->width + q, tag);
            }
        }
        fputc('\n', f);
    }
    return ferror(f) ? -EIO : 0;
}

/* ---- the conversion ---- */

PIO_API bool pio_path_is_extxyz(const char *path)
{
    size_t n = strlen(path);
    if (n >= 7 && !strcmp(path + n - 7, ".extxyz"))
        return true;
    if (n < 4 || strcmp(path + n - 4, ".xyz") != 0)
        return false;
    /* an .xyz file whose comment line says it is extended */
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[4096];
    bool ext = false;
    if (fgets(line, sizeof(line), f) && fgets(line, sizeof(line), f))
        ext = strstr(line, "Properties=") || strstr(line, "Lattice=");
    fclose(f);
    return ext;
}

/* A HOLO OUT; a HOLO IN's compression kept (as its first frame has it;
 * frames with named arrays are never in blocks). */
static int holo_out(pio_writer **w, const char *out, const pio_reader *r, uint32_t flags,
                    struct pio_error *err)
{
    struct pio_writer_options o = PIO_WRITER_OPTIONS_INIT;
    o.flags = PIO_WRITER_ARRAYS | ((flags & PIO_DSCONV_OVERWRITE) ? PIO_WRITER_OVERWRITE : 0) |
              ((flags & PIO_DSCONV_NO_SYNC) ? PIO_WRITER_NO_SYNC : 0);
    for (uint64_t i = 0; r && i < pio_reader_nframes(r); i++)
        if (pio_reader_frame_codecs(r, i, o.codec, &o.precision) == 0)
            break;
    o.keyframe = 1;
    return pio_writer_create(w, out, &o, err);
}

/* A HOLO OUT's metadata: a HOLO IN's pairs and topology, or what an
 * extxyz IN's values are. */
static int copy_meta(const pio_reader *r, pio_writer *w, struct pio_error *err)
{
    int rc = 0;
    if (!r) {
        rc = pio_writer_set_metadata(w, "dataset.units",
                                     "positions=nm cell=nm forces=kJ/mol/nm energy=eV "
                                     "(extxyz values as given)",
                                     err);
        return rc ? rc : pio_writer_set_metadata(w, "creator", "prismio convert (extxyz)", err);
    }
    for (uint64_t k = 0; rc == 0 && k < pio_reader_metadata_count(r); k++) {
        const char *key, *val;
        if (pio_reader_metadata_at(r, k, &key, &val) == 0)
            rc = pio_writer_set_metadata(w, key, val, err);
    }
    struct pio_topology top;
    if (rc == 0 && pio_reader_topology(r, &top) == 0)
        rc = pio_writer_set_topology(w, &top, err);
    return rc;
}

PIO_API int pio_dataset_convert(const char *in, const char *out, uint32_t flags,
                                struct pio_dataset_convert_report *rep, struct pio_error *err)
{
    bool xin = pio_path_is_extxyz(in), xout = false;
    size_t ol = strlen(out);
    if ((ol >= 7 && !strcmp(out + ol - 7, ".extxyz")) || (ol >= 4 && !strcmp(out + ol - 4, ".xyz")))
        xout = true;
    else if (!(ol >= 5 && !strcmp(out + ol - 5, ".holo")))
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: a dataset converts to .holo, .extxyz or .xyz (extended)", out);
    if (!xin && pio_format_from_path(in) != PIO_FORMAT_HOLO)
        return pio_error_set(err, PIO_EUSAGE,
                             "%s: a dataset converts from .extxyz (or an extended .xyz) or .holo",
                             in);
    struct xyz_in x;
    memset(&x, 0, sizeof(x));
    pio_reader *r = NULL;
    int rc;
    if (xin)
        rc = pio__infile_open(&x.in, in, err);
    else
        rc = pio_reader_open(&r, in, NULL, err);
    if (rc != 0)
        return rc;
    pio_writer *w = NULL;
    struct outfile of;
    memset(&of, 0, sizeof(of));
    if (xout)
        rc = pio__outfile_open(&of, out, flags & PIO_DSCONV_OVERWRITE, err);
    else if ((rc = holo_out(&w, out, r, flags, err)) == 0)
        rc = copy_meta(r, w, err);
    struct structure s;
    memset(&s, 0, sizeof(s));
    struct pio_array *list = NULL;
    uint32_t listcap = 0;
    uint64_t nst = 0, atoms = 0;
    for (uint64_t i = 0; rc == 0; i++) {
        const struct pio_frame *fr;
        struct pio_frame view;
        uint32_t na = 0;
        if (xin) {
            x.structure = i;
            rc = xyz_next(&x, &s, err);
            if (rc <= 0)
                break;
            rc = 0;
            na = s.narr;
            fr = &s.f;
        } else {
            if (i >= pio_reader_nframes(r))
                break;
            if ((rc = pio_reader_frame(r, i, &view, err)) != 0 ||
                (rc = pio_reader_verify_frame(r, i, err)) != 0 ||
                (rc = pio_reader_frame_arrays(r, i, NULL, 0, &na, err)) != 0)
                break;
            fr = &view;
        }
        if (na > listcap) {
            struct pio_array *nl = realloc(list, na * sizeof(*nl));
            if (!nl) {
                rc = pio_error_set(err, -ENOMEM, "out of memory");
                break;
            }
            list = nl;
            listcap = na;
        }
        if (xin)
            for (uint32_t k = 0; k < na; k++)
                list[k] = s.arr[k].a;
        else if (na && (rc = pio_reader_frame_arrays(r, i, list, na, &na, err)) != 0)
            break;
        if (xout) {
            const char *bad = NULL;
            if ((rc = xyz_write(of.f, fr, list, na, &bad)) != 0)
                rc = bad ? pio_error_set(err, rc,
                                         "%s: structure %llu: '%s' cannot be an extxyz key or "
                                         "column (a name extxyz cannot hold or already used, or "
                                         "text it cannot hold)",
                                         in, ULL(i), bad)
                         : pio_error_set(err, rc, "%s: structure %llu: write failed", out, ULL(i));
        } else {
            rc = pio_writer_append_arrays(w, fr, list, na, err);
        }
        if (rc == 0) {
            nst++;
            atoms += fr->natoms;
        }
    }
    int rc2 = 0;
    struct pio_error e2;
    if (xout)
        rc2 = pio__outfile_finish(&of, rc == 0, &e2);
    else if (w) /* committed: what was written before an error stays */
        rc2 = pio_writer_close(w, &e2);
    if (rc == 0 && rc2 != 0) {
        rc = rc2;
        if (err)
            *err = e2;
    }
    st_free(&s);
    free(list);
    if (xin)
        pio__infile_close(&x.in);
    pio_reader_close(r);
    if (rep) {
        rep->structures = nst;
        rep->atoms = atoms;
    }
    return rc;
}
