/*
 * Datasets of structures: one HOLO file or a manifest of shards, and the
 * shuffle that orders an epoch (prismio/dataset.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "prismio/dataset.h"

#include "common/pio_common.h"
#include "dataset/dataset_internal.h"

#define ULL(x) ((unsigned long long)(x))

static void ds_free(pio_dataset *ds)
{
    if (!ds)
        return;
    for (uint32_t k = 0; k < ds->nshards; k++) {
        pio_reader_close(ds->shard[k].r);
        free(ds->shard[k].path);
    }
    free(ds->shard);
    free(ds->first);
    free(ds);
}

/* Shard k opened from `path`; expect (UINT64_MAX: anything) structures and
 * bytes, as a manifest says. */
static int shard_open(pio_dataset *ds, uint32_t k, const char *path, uint64_t structures,
                      uint64_t bytes, const char *manifest, unsigned line, struct pio_error *err)
{
    struct pio_reader_options o = PIO_READER_OPTIONS_INIT;
    o.flags = (ds->flags & PIO_DATASET_CHECK) ? PIO_READER_CHECK_FRAMES : 0;
    struct shard *s = &ds->shard[k];
    if (!(s->path = strdup(path)))
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    int rc = pio_reader_open(&s->r, path, &o, err);
    if (rc != 0)
        return rc;
    uint64_t nf = pio_reader_nframes(s->r);
    struct stat st;
    if (structures != UINT64_MAX && nf != structures)
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s line %u: shard %s holds %llu structures, the manifest says %llu",
                             manifest, line, path, ULL(nf), ULL(structures));
    if (bytes != UINT64_MAX && !pio_path_is_remote(path) &&
        (stat(path, &st) != 0 || (uint64_t)st.st_size != bytes))
        return pio_error_set(err, PIO_ECORRUPT,
                             "%s line %u: shard %s is %llu bytes, the manifest says %llu", manifest,
                             line, path, ULL(st.st_size), ULL(bytes));
    return 0;
}

/* A manifest: its lines "STRUCTURES BYTES PATH" after the magic line. */
static int open_manifest(pio_dataset *ds, const char *path, FILE *f, struct pio_error *err)
{
    char line[4096 + 64];
    unsigned no = 1, cap = 0;
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
    int rc = 0;
    while (fgets(line, sizeof(line), f)) {
        no++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (!feof(f))
            return pio_error_set(err, PIO_ECORRUPT, "%s line %u: longer than 4 KiB", path, no);
        if (len && line[len - 1] == '\r') /* CRLF */
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        /* two decimal numbers, one space after each, then the path */
        unsigned long long num[2] = {0, 0};
        const char *q = line;
        bool ok = true;
        for (int k = 0; k < 2 && ok; k++) {
            const char *d = q;
            errno = 0;
            char *end;
            num[k] = strtoull(q, &end, 10);
            ok = *d >= '0' && *d <= '9' && *end == ' ' && errno == 0;
            q = end + 1;
        }
        if (!ok || !*q || *q == ' ' || memchr(line, '\0', len) || strchr(line, '\t'))
            return pio_error_set(err, PIO_ECORRUPT,
                                 "%s line %u: expected 'STRUCTURES BYTES PATH', got '%.80s'", path,
                                 no, line);
        unsigned long long nst = num[0], nb = num[1];
        int used = (int)(q - line);
        if (ds->nshards == cap) {
            cap = cap ? cap * 2 : 16;
            struct shard *n = realloc(ds->shard, cap * sizeof(*n));
            if (!n)
                return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
            memset(n + ds->nshards, 0, (cap - ds->nshards) * sizeof(*n));
            ds->shard = n;
        }
        const char *rel = line + used;
        char *full = malloc(dirlen + strlen(rel) + 1);
        if (!full)
            return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
        if (rel[0] == '/' || pio_path_is_remote(rel)) {
            strcpy(full, rel);
        } else {
            memcpy(full, path, dirlen);
            strcpy(full + dirlen, rel);
        }
        uint32_t k = ds->nshards++;
        rc = shard_open(ds, k, full, nst, nb, path, no, err);
        free(full);
        if (rc != 0 && err && !strstr(err->message, " line ")) {
            char m[sizeof(err->message)];
            memcpy(m, err->message, sizeof(m));
            m[sizeof(m) - 1] = '\0';
            pio_error_set(err, rc, "%s line %u: %s", path, no, m);
        }
        if (rc != 0)
            return rc;
    }
    if (ferror(f))
        return pio_error_set(err, -EIO, "%s: read error", path);
    if (ds->nshards == 0)
        return pio_error_set(err, PIO_ECORRUPT, "%s: a manifest without shards", path);
    return 0;
}

PIO_API int pio_dataset_open(pio_dataset **out, const char *path, uint32_t flags,
                             struct pio_error *err)
{
    *out = NULL;
    pio_dataset *ds = calloc(1, sizeof(*ds));
    if (!ds)
        return pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    ds->flags = flags;
    int rc = 0;
    char head[32] = {0};
    FILE *f = pio_path_is_remote(path) ? NULL : fopen(path, "r");
    if (!pio_path_is_remote(path) && !f) {
        rc = -errno;
        ds_free(ds);
        return pio_error_set(err, rc, "%s: %s", path, pio_strerror(rc));
    }
    size_t got = f ? fread(head, 1, sizeof(head) - 1, f) : 0;
    size_t ml = strlen(PIO_DATASET_MANIFEST_MAGIC);
    if (f && got > ml && memcmp(head, PIO_DATASET_MANIFEST_MAGIC, ml) == 0 &&
        (head[ml] == '\n' || (head[ml] == '\r' && head[ml + 1] == '\n'))) {
        rewind(f);
        char skip[64];
        if (!fgets(skip, sizeof(skip), f))
            rc = pio_error_set(err, -EIO, "%s: read error", path);
        else
            rc = open_manifest(ds, path, f, err);
    } else if (f && (got < 8 || memcmp(head, PIO_HOLO_MAGIC, 8) != 0)) {
        rc = pio_error_set(err, PIO_EFORMAT,
                           "%s: neither a HOLO file nor a dataset manifest (its first line is "
                           "not '%s')",
                           path, PIO_DATASET_MANIFEST_MAGIC);
    } else {
        if (!(ds->shard = calloc(1, sizeof(*ds->shard))))
            rc = pio_error_set(err, -ENOMEM, "%s: out of memory", path);
        else
            ds->nshards = 1;
        if (rc == 0)
            rc = shard_open(ds, 0, path, UINT64_MAX, UINT64_MAX, path, 0, err);
    }
    if (f)
        fclose(f);
    if (rc == 0 && !(ds->first = malloc((ds->nshards + 1) * sizeof(uint64_t))))
        rc = pio_error_set(err, -ENOMEM, "%s: out of memory", path);
    if (rc != 0) {
        ds_free(ds);
        return rc;
    }
    ds->first[0] = 0;
    for (uint32_t k = 0; k < ds->nshards; k++)
        ds->first[k + 1] = ds->first[k] + pio_reader_nframes(ds->shard[k].r);
    ds->n = ds->first[ds->nshards];
    *out = ds;
    return 0;
}

PIO_API void pio_dataset_close(pio_dataset *ds)
{
    ds_free(ds);
}

PIO_API uint64_t pio_dataset_len(const pio_dataset *ds)
{
    return ds->n;
}

PIO_API uint32_t pio_dataset_nshards(const pio_dataset *ds)
{
    return ds->nshards;
}

PIO_API const char *pio_dataset_shard_path(const pio_dataset *ds, uint32_t k)
{
    return k < ds->nshards ? ds->shard[k].path : NULL;
}

PIO_API const pio_reader *pio_dataset_shard(const pio_dataset *ds, uint32_t k)
{
    return k < ds->nshards ? ds->shard[k].r : NULL;
}

PIO_API int pio_dataset_locate(const pio_dataset *ds, uint64_t i, uint32_t *shard, uint64_t *frame)
{
    if (i >= ds->n)
        return -ERANGE;
    uint32_t lo = 0, hi = ds->nshards - 1; /* the last shard whose first is <= i */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (ds->first[mid] <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    *shard = lo;
    *frame = i - ds->first[lo];
    return 0;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

PIO_API void pio_dataset_shuffle(uint64_t *out, uint64_t n, uint64_t seed, uint64_t epoch)
{
    uint64_t st = seed;
    uint64_t mix = splitmix64(&st) ^ epoch;
    st = mix;
    for (uint64_t i = 0; i < n; i++)
        out[i] = i;
    for (uint64_t i = n; i > 1; i--) {
        /* j uniform in [0, i): draws past the last whole multiple of i
         * are drawn again */
        uint64_t lim = UINT64_MAX - UINT64_MAX % i, r;
        do
            r = splitmix64(&st);
        while (r >= lim);
        uint64_t j = r % i, tmp = out[i - 1];
        out[i - 1] = out[j];
        out[j] = tmp;
    }
}
