/*
 * BLAKE3 against the official test-vector inputs, with expected outputs
 * produced by the reference b3sum (tests/data/blake3_vectors.txt, made by
 * scripts/gen-blake3-vectors.sh): every length, in hash, keyed and
 * derive_key mode, at 131 bytes of output, on every supported tier, through
 * one-shot helpers, incremental updates split at every boundary that
 * matters, extended-output seeks, reset, and the multithreaded entry point.
 */
#include <prismio/blake3.h>

#include "pio_test.h"

#define OUT 131
static const char KEY[] = "whats the Elvish word for friend";
static const char CONTEXT[] = "BLAKE3 2019-12-27 16:29:52 test vectors context";
static const size_t SPLITS[] = {1, 63, 64, 65, 1023, 1024, 1025};

struct vector {
    size_t len;
    char mode[8];
    uint8_t out[OUT];
};

static int unhex(const char *hex, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return hex[2 * n] == '\0' || hex[2 * n] == '\n' ? 0 : -1;
}

static void init(pio_blake3_hasher *h, const char *mode)
{
    if (strcmp(mode, "keyed") == 0)
        pio_blake3_hasher_init_keyed(h, (const uint8_t *)KEY);
    else if (strcmp(mode, "derive") == 0)
        pio_blake3_hasher_init_derive_key(h, CONTEXT);
    else
        pio_blake3_hasher_init(h);
}

static void check_vector(const struct vector *v, const uint8_t *input, const char *tier)
{
    uint8_t out[OUT];
    pio_blake3_hasher h;

    /* one update */
    init(&h, v->mode);
    pio_blake3_hasher_update(&h, input, v->len);
    pio_blake3_hasher_finalize(&h, out, OUT);
    CHECKF(memcmp(out, v->out, OUT) == 0, "%s len %zu tier %s: one update", v->mode, v->len, tier);

    /* default-length output is the prefix; finalize does not consume */
    uint8_t out32[32];
    pio_blake3_hasher_finalize(&h, out32, 32);
    CHECKF(memcmp(out32, v->out, 32) == 0, "%s len %zu tier %s: 32-byte output", v->mode, v->len,
           tier);

    /* extended-output seeks */
    static const size_t seeks[] = {1, 31, 32, 63, 64, 65, 100, 130};
    for (size_t s = 0; s < sizeof(seeks) / sizeof(seeks[0]); s++) {
        size_t k = seeks[s];
        pio_blake3_hasher_finalize_seek(&h, k, out, OUT - k);
        CHECKF(memcmp(out, v->out + k, OUT - k) == 0, "%s len %zu tier %s: seek %zu", v->mode,
               v->len, tier, k);
    }

    /* fixed-size pieces, and a head of each size followed by the rest */
    for (size_t s = 0; s < sizeof(SPLITS) / sizeof(SPLITS[0]); s++) {
        size_t piece = SPLITS[s];
        init(&h, v->mode);
        for (size_t off = 0; off < v->len; off += piece)
            pio_blake3_hasher_update(&h, input + off, v->len - off < piece ? v->len - off : piece);
        pio_blake3_hasher_finalize(&h, out, OUT);
        CHECKF(memcmp(out, v->out, OUT) == 0, "%s len %zu tier %s: pieces of %zu", v->mode, v->len,
               tier, piece);
        if (piece < v->len) {
            init(&h, v->mode);
            pio_blake3_hasher_update(&h, input, piece);
            pio_blake3_hasher_update(&h, input + piece, 0);
            pio_blake3_hasher_update(&h, input + piece, v->len - piece);
            pio_blake3_hasher_finalize(&h, out, OUT);
            CHECKF(memcmp(out, v->out, OUT) == 0, "%s len %zu tier %s: head %zu then rest", v->mode,
                   v->len, tier, piece);
        }
    }

    /* multithreaded entry point (small inputs: same path, must agree) */
    init(&h, v->mode);
    pio_blake3_hasher_update_mt(&h, input, v->len, 4);
    pio_blake3_hasher_finalize(&h, out, OUT);
    CHECKF(memcmp(out, v->out, OUT) == 0, "%s len %zu tier %s: update_mt", v->mode, v->len, tier);

    /* an empty update, even from NULL, changes nothing */
    pio_blake3_hasher_update(&h, NULL, 0);
    pio_blake3_hasher_finalize(&h, out, OUT);
    CHECKF(memcmp(out, v->out, OUT) == 0, "%s len %zu tier %s: NULL update", v->mode, v->len, tier);

    /* reset forgets the input but keeps the mode */
    pio_blake3_hasher_update(&h, "junk", 4);
    pio_blake3_hasher_reset(&h);
    pio_blake3_hasher_update(&h, input, v->len);
    pio_blake3_hasher_finalize(&h, out, OUT);
    CHECKF(memcmp(out, v->out, OUT) == 0, "%s len %zu tier %s: after reset", v->mode, v->len, tier);

    /* one-shot helpers */
    if (strcmp(v->mode, "hash") == 0)
        pio_blake3_hash(out, OUT, input, v->len);
    else if (strcmp(v->mode, "keyed") == 0)
        pio_blake3_keyed_hash(out, OUT, (const uint8_t *)KEY, input, v->len);
    else
        pio_blake3_derive_key(out, OUT, CONTEXT, input, v->len);
    CHECKF(memcmp(out, v->out, OUT) == 0, "%s len %zu tier %s: one-shot", v->mode, v->len, tier);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : PIO_TEST_DATA_DIR "/blake3_vectors.txt";
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    struct vector vecs[128];
    size_t nvec = 0;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#')
            continue;
        char hex[600];
        struct vector *v = &vecs[nvec];
        if (nvec == 128 || sscanf(line, "%zu %7s %599s", &v->len, v->mode, hex) != 3 ||
            unhex(hex, v->out, OUT) != 0) {
            fprintf(stderr, "%s: malformed line: %s", path, line);
            fclose(f);
            return 1;
        }
        nvec++;
    }
    fclose(f);
    CHECKF(nvec == 35 * 3, "expected 105 vectors, found %zu", nvec);

    size_t max_len = 0;
    for (size_t i = 0; i < nvec; i++)
        if (vecs[i].len > max_len)
            max_len = vecs[i].len;
    uint8_t *input = malloc(max_len + 1);
    for (size_t i = 0; i < max_len; i++)
        input[i] = (uint8_t)(i % 251);

    /* Known answer from the specification's README. */
    uint8_t abc[32], want_abc[32];
    unhex("6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85", want_abc, 32);
    pio_blake3_hash(abc, 32, "abc", 3);
    CHECK(memcmp(abc, want_abc, 32) == 0);

    int tiers_run = 0;
    for (int t = 0; t < PIO_BLAKE3_TIER_COUNT; t++) {
        enum pio_blake3_tier tier = (enum pio_blake3_tier)t;
        const char *name = pio_blake3_tier_name(tier);
        if (!pio_blake3_tier_supported(tier)) {
            CHECK(pio_blake3_tier_force(tier) == PIO_ENOTSUPPORTED);
            fprintf(stderr, "tier %s not supported here: skipped\n", name);
            continue;
        }
        CHECK(pio_blake3_tier_force(tier) == 0);
        CHECK(pio_blake3_tier_active() == tier);
        for (size_t i = 0; i < nvec; i++)
            check_vector(&vecs[i], input, name);
        tiers_run++;
        TEST_STOP_IF_FLOODED();
    }
    CHECK(tiers_run >= 1);
    CHECK(pio_blake3_tier_force(PIO_BLAKE3_TIER_AUTO) == 0);
    fprintf(stderr, "%zu vectors x %d tiers checked\n", nvec, tiers_run);
    free(input);
    return TEST_RESULT();
}
