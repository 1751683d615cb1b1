/*
 * pipeline: frame and atom selections (the languages are documented in
 * include/prismio/pipeline.h). Atom selections evaluate to a byte mask over
 * the atoms, then to a sorted index list; every message quotes the spec
 * and the position of the problem.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prismio/pipeline.h"

#include "common/pio_common.h"

/* ---- frames ---------------------------------------------------------------- */

struct u64vec {
    uint64_t *v;
    uint64_t n, cap;
};

static int vec_push(struct u64vec *a, uint64_t x)
{
    if (a->n == a->cap) {
        uint64_t cap = a->cap ? a->cap * 2 : 64;
        uint64_t *v = realloc(a->v, (size_t)cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* A signed decimal integer at *p (advances), or false. */
static bool parse_i64(const char **p, int64_t *out)
{
    const char *s = *p;
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (!isdigit((unsigned char)*s))
        return false;
    int64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (INT64_MAX - (*s - '0')) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    *p = s;
    return true;
}

static int frames_fail(struct pio_error *err, const char *spec, const char *at, const char *why)
{
    return pio_error_set(err, PIO_EUSAGE, "frame selection '%s': %s at character %d", spec, why,
                         (int)(at - spec) + 1);
}

/* One slice item "a:b:c" (each part optional) over n frames, Python's rules. */
static int frames_slice(const char **pp, const char *spec, uint64_t nframes, struct u64vec *a,
                        struct pio_error *err)
{
    const char *p = *pp;
    int64_t part[3];
    bool have[3] = {false, false, false};
    for (int k = 0; k < 3; k++) {
        if (k > 0) {
            if (*p != ':')
                break;
            p++;
        }
        if (*p && *p != ':' && *p != ',') {
            if (!parse_i64(&p, &part[k]))
                return frames_fail(err, spec, p, "expected a number");
            have[k] = true;
        }
    }
    int64_t n = (int64_t)nframes;
    int64_t step = have[2] ? part[2] : 1;
    if (step == 0)
        return frames_fail(err, spec, p, "a step of 0");
    int64_t start, stop;
    if (step > 0) {
        start = have[0] ? part[0] : 0;
        stop = have[1] ? part[1] : n;
        if (start < 0)
            start = PIO_MAX(start + n, 0);
        if (stop < 0)
            stop = PIO_MAX(stop + n, 0);
        start = PIO_MIN(start, n);
        stop = PIO_MIN(stop, n);
        for (int64_t i = start; i<stop; i = stop - i> step ? i + step : stop)
            if (vec_push(a, (uint64_t)i))
                return -ENOMEM;
    } else {
        start = have[0] ? part[0] : n - 1;
        stop = have[1] ? part[1] : -1;
        if (have[0] && start < 0)
            start += n;
        if (have[1] && stop < 0)
            stop = PIO_MAX(stop + n, -1);
        start = PIO_MIN(start, n - 1);
        for (int64_t i = start; i > stop && i >= 0; i += step)
            if (vec_push(a, (uint64_t)i))
                return -ENOMEM;
    }
    *pp = p;
    return 0;
}

PIO_API int pio_select_frames(const char *spec, uint64_t nframes, uint64_t **out, uint64_t *n,
                              struct pio_error *err)
{
    *out = NULL;
    *n = 0;
    struct u64vec a = {0};
    const char *p = spec;
    int rc = 0;
    if (!*p)
        return frames_fail(err, spec, p, "empty selection");
    while (rc == 0) {
        const char *item = p;
        const char *end = p + strcspn(p, ",");
        if (memchr(item, ':', (size_t)(end - item))) {
            rc = frames_slice(&p, spec, nframes, &a, err);
        } else {
            int64_t lo, hi;
            if (!parse_i64(&p, &lo) || lo < 0) {
                rc = frames_fail(err, spec, item, "expected N, N-M or START:STOP:STEP");
                break;
            }
            hi = lo;
            if (*p == '-') {
                p++;
                if (!parse_i64(&p, &hi) || hi < lo) {
                    rc = frames_fail(err, spec, item, "bad range N-M");
                    break;
                }
            }
            if ((uint64_t)hi >= nframes) {
                rc = pio_error_set(err, PIO_EUSAGE,
                                   "frame selection '%s': frame %lld out of range (%llu frames)",
                                   spec, (long long)hi, (unsigned long long)nframes);
                break;
            }
            for (int64_t i = lo; i <= hi && rc == 0; i++)
                rc = vec_push(&a, (uint64_t)i);
        }
        if (rc != 0)
            break;
        if (p != end) {
            rc = frames_fail(err, spec, p, "unexpected character");
            break;
        }
        if (*p == '\0')
            break;
        p++; /* ',' */
    }
    if (rc == -ENOMEM)
        pio_error_set(err, rc, "frame selection '%s': out of memory", spec);
    if (rc != 0) {
        free(a.v);
        return rc;
    }
    /* never NULL, even when empty: NULL means "all frames" to a source */
    if (!a.v && !(a.v = malloc(sizeof(*a.v))))
        return pio_error_set(err, -ENOMEM, "frame selection '%s': out of memory", spec);
    *out = a.v;
    *n = a.n;
    return 0;
}

/* ---- atoms ------------------------------------------------------------------ */

struct sel {
    const char *spec, *p;
    const struct pio_topology *top;
    uint64_t natoms;
    struct pio_error *err;
    int rc;
    int depth;
};

static int sel_fail(struct sel *s, const char *at, const char *fmt, const char *arg)
{
    char why[160];
    snprintf(why, sizeof(why), fmt, arg);
    if (s->rc == 0)
        s->rc = pio_error_set(s->err, PIO_EUSAGE, "atom selection '%s': %s at character %d",
                              s->spec, why, (int)(at - s->spec) + 1);
    return s->rc;
}

static int sel_oom(struct sel *s)
{
    if (s->rc == 0)
        s->rc = pio_error_set(s->err, -ENOMEM, "atom selection '%s': out of memory", s->spec);
    return s->rc;
}

static void skip_space(struct sel *s)
{
    while (isspace((unsigned char)*s->p) || *s->p == ',')
        s->p++;
}

/* The next token (a word, or a parenthesis) without consuming it. */
static size_t token_len(const char *p)
{
    if (*p == '(' || *p == ')')
        return 1;
    size_t n = 0;
    while (p[n] && !isspace((unsigned char)p[n]) && p[n] != ',' && p[n] != '(' && p[n] != ')')
        n++;
    return n;
}

static bool token_is(const char *p, const char *word)
{
    size_t n = token_len(p);
    return n == strlen(word) && memcmp(p, word, n) == 0;
}

static bool is_keyword(const char *p)
{
    static const char *const kw[] = {"and",   "or",   "not",     "all",   "index",
                                     "resid", "name", "resname", "chain", "element"};
    for (size_t i = 0; i < PIO_ARRAY_LEN(kw); i++)
        if (token_is(p, kw[i]))
            return true;
    return false;
}

static int sel_or(struct sel *s, uint8_t *mask);

/* RANGES into mask; applied to atom indices or residue ids. */
static int sel_ranges(struct sel *s, uint8_t *mask, bool resid)
{
    int count = 0;
    for (;;) {
        skip_space(s);
        if (!isdigit((unsigned char)*s->p) && !(resid && *s->p == '-'))
            break;
        const char *at = s->p;
        int64_t lo, hi;
        if (!parse_i64(&s->p, &lo))
            return sel_fail(s, at, "%s", "expected a number");
        hi = lo;
        if (*s->p == '-' || *s->p == ':') {
            s->p++;
            if (!parse_i64(&s->p, &hi) || hi < lo)
                return sel_fail(s, at, "%s", "bad range");
        }
        if (token_len(s->p) != 0 && *s->p != '(' && *s->p != ')')
            return sel_fail(s, s->p, "%s", "unexpected character");
        if (resid) {
            for (uint64_t i = 0; i < s->natoms; i++)
                if (s->top->resids[i] >= lo && s->top->resids[i] <= hi)
                    mask[i] = 1;
        } else {
            if (lo < 0 || (uint64_t)hi >= s->natoms) {
                char what[64];
                snprintf(what, sizeof(what), "atom %lld out of range (%llu atoms)", (long long)hi,
                         (unsigned long long)s->natoms);
                return sel_fail(s, at, "%s", what);
            }
            memset(mask + lo, 1, (size_t)(hi - lo + 1));
        }
        count++;
    }
    if (count == 0)
        return sel_fail(s, s->p, "%s", "expected atom numbers");
    return 0;
}

/* WORDS matched against a fixed-width string column of the topology. */
static int sel_words(struct sel *s, uint8_t *mask, const char *column, size_t width,
                     const char *what)
{
    int count = 0;
    for (;;) {
        skip_space(s);
        size_t n = token_len(s->p);
        if (n == 0 || *s->p == '(' || *s->p == ')' || is_keyword(s->p))
            break;
        char pat[64];
        if (n >= sizeof(pat))
            return sel_fail(s, s->p, "%s", "word too long");
        memcpy(pat, s->p, n);
        pat[n] = '\0';
        for (uint64_t i = 0; i < s->natoms; i++) {
            char v[16];
            size_t len = strnlen(column + i * width, width);
            memcpy(v, column + i * width, len);
            v[len] = '\0';
            if (fnmatch(pat, v, 0) == 0)
                mask[i] = 1;
        }
        s->p += n;
        count++;
    }
    if (count == 0)
        return sel_fail(s, s->p, "expected %s values", what);
    return 0;
}

static int sel_primary(struct sel *s, uint8_t *mask)
{
    skip_space(s);
    const char *at = s->p;
    if (*s->p == '(') {
        if (++s->depth > 64)
            return sel_fail(s, at, "%s", "nesting too deep");
        s->p++;
        if (sel_or(s, mask))
            return s->rc;
        skip_space(s);
        if (*s->p != ')')
            return sel_fail(s, s->p, "%s", "expected ')'");
        s->p++;
        s->depth--;
        return 0;
    }
    if (isdigit((unsigned char)*s->p))
        return sel_ranges(s, mask, false);
    size_t n = token_len(s->p);
    if (n == 0)
        return sel_fail(s, at, "%s", "expected a selection");
    static const struct {
        const char *kw;
        size_t off, width;
    } cols[] = {
        {"name", offsetof(struct pio_topology, names), 8},
        {"resname", offsetof(struct pio_topology, resnames), 8},
        {"chain", offsetof(struct pio_topology, chains), 4},
        {"element", offsetof(struct pio_topology, elements), 4},
    };
    if (token_is(at, "all")) {
        s->p += n;
        memset(mask, 1, (size_t)s->natoms);
        return 0;
    }
    if (token_is(at, "index")) {
        s->p += n;
        return sel_ranges(s, mask, false);
    }
    bool need_top = token_is(at, "resid");
    for (size_t i = 0; i < PIO_ARRAY_LEN(cols); i++)
        need_top |= token_is(at, cols[i].kw);
    if (need_top && !s->top) {
        char kw[16];
        snprintf(kw, sizeof(kw), "%.*s", (int)PIO_MIN(n, 15), at);
        return sel_fail(s, at, "'%s' needs a topology and the input has none", kw);
    }
    if (token_is(at, "resid")) {
        s->p += n;
        return sel_ranges(s, mask, true);
    }
    for (size_t i = 0; i < PIO_ARRAY_LEN(cols); i++) {
        if (token_is(at, cols[i].kw)) {
            s->p += n;
            const char *column = *(const char *const *)((const char *)s->top + cols[i].off);
            return sel_words(s, mask, column, cols[i].width, cols[i].kw);
        }
    }
    char word[32];
    snprintf(word, sizeof(word), "%.*s", (int)PIO_MIN(n, 31), at);
    return sel_fail(s, at, "unknown keyword '%s'", word);
}

static int sel_unary(struct sel *s, uint8_t *mask)
{
    skip_space(s);
    if (token_is(s->p, "not")) {
        if (++s->depth > 64)
            return sel_fail(s, s->p, "%s", "nesting too deep");
        s->p += 3;
        uint8_t *m = calloc((size_t)s->natoms + 1, 1);
        if (!m)
            return sel_oom(s);
        if (sel_unary(s, m) == 0)
            for (uint64_t i = 0; i < s->natoms; i++)
                mask[i] |= !m[i];
        free(m);
        s->depth--;
        return s->rc;
    }
    return sel_primary(s, mask);
}

/* Combine sub-expressions joined by `op` into mask (and: intersection). */
static int sel_chain(struct sel *s, uint8_t *mask, const char *op,
                     int (*sub)(struct sel *, uint8_t *))
{
    uint8_t *acc = calloc((size_t)s->natoms + 1, 1), *m = calloc((size_t)s->natoms + 1, 1);
    bool and = strcmp(op, "and") == 0;
    if (!acc || !m) {
        free(acc);
        free(m);
        return sel_oom(s);
    }
    if (sub(s, acc) == 0) {
        for (;;) {
            skip_space(s);
            if (!token_is(s->p, op))
                break;
            s->p += strlen(op);
            memset(m, 0, (size_t)s->natoms);
            if (sub(s, m))
                break;
            for (uint64_t i = 0; i < s->natoms; i++)
                acc[i] = and? (acc[i] & m[i]) : (acc[i] | m[i]);
        }
        for (uint64_t i = 0; i < s->natoms && s->rc == 0; i++)
            mask[i] |= acc[i];
    }
    free(acc);
    free(m);
    return s->rc;
}

static int sel_and(struct sel *s, uint8_t *mask)
{
    return sel_chain(s, mask, "and", sel_unary);
}

static int sel_or(struct sel *s, uint8_t *mask)
{
    return sel_chain(s, mask, "or", sel_and);
}

PIO_API int pio_select_atoms(const char *spec, const struct pio_topology *top, uint64_t natoms,
                             uint64_t **out, uint64_t *n, struct pio_error *err)
{
    *out = NULL;
    *n = 0;
    if (top && top->natoms != natoms)
        return pio_error_set(err, PIO_EUSAGE,
                             "atom selection '%s': topology has %llu atoms, frames %llu", spec,
                             (unsigned long long)top->natoms, (unsigned long long)natoms);
    if (natoms > ((uint64_t)1 << 34))
        return pio_error_set(err, PIO_ELIMIT, "atom selection '%s': %llu atoms is too many", spec,
                             (unsigned long long)natoms);
    struct sel s = {.spec = spec, .p = spec, .top = top, .natoms = natoms, .err = err};
    uint8_t *mask = calloc((size_t)natoms + 1, 1);
    if (!mask)
        return pio_error_set(err, -ENOMEM, "atom selection '%s': out of memory", spec);
    if (sel_or(&s, mask) == 0) {
        skip_space(&s);
        if (*s.p)
            sel_fail(&s, s.p, "%s", "unexpected text (missing 'and'/'or'?)");
    }
    if (s.rc != 0) {
        free(mask);
        return s.rc;
    }
    uint64_t m = 0;
    for (uint64_t i = 0; i < natoms; i++)
        m += mask[i];
    uint64_t *idx = malloc((size_t)PIO_MAX(m, 1) * sizeof(*idx));
    if (!idx) {
        free(mask);
        return pio_error_set(err, -ENOMEM, "atom selection '%s': out of memory", spec);
    }
    for (uint64_t i = 0, k = 0; i < natoms; i++)
        if (mask[i])
            idx[k++] = i;
    free(mask);
    *out = idx;
    *n = m;
    return 0;
}
