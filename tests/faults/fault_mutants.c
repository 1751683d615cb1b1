/*
 * Mutants of the foreign samples through `prismio convert` (issue 20).
 *
 *   fault_mutants PRISMIO FORMAT SAMPLE...
 *
 * Each mutant is one sample with a deterministic mutation (seeded from
 * PIO_TEST_SEED, the format and the mutant's number): bits flipped, bytes
 * set to 0x00/0xff, a 32-bit word set to 0, -1, INT_MIN, INT_MAX, 2^30 or a
 * small count (either byte order), a truncation, a range deleted, a range
 * duplicated, bytes inserted, or two or three of these. Positions favour
 * the first KiB and the places where a frame starts (where the file's first
 * four bytes recur, MODEL/ENDMDL lines), where headers and counts live.
 *
 * Each mutant runs as `PRISMIO convert MUTANT OUT.holo --overwrite` with a
 * timeout (PIO_MUTANT_TIMEOUT seconds, default 10) and must not:
 *  - crash: die of a signal, or print a sanitizer report (ASan exits 1,
 *    like an integrity error, so stderr is what tells);
 *  - hang (the timeout);
 *  - exit 0 having lost frames without a warning on stderr (fewer frames
 *    than the sample converts to; a cut or deletion exactly at a frame
 *    boundary, or inside a text file's MODEL/ENDMDL line, leaves a valid
 *    shorter file and is not counted);
 *  - exit 0 having dropped more than the last frame to damage that changed
 *    no file size, with a warning that calls the file truncated (a flipped
 *    or overwritten byte mid-file is damage, not a truncated tail);
 *  - exit 0 with an output that does not verify, or a summary line that
 *    disagrees with the output's frame count;
 *  - fail without a message.
 * Other outcomes (errors, warnings, atoms that changed) are counted.
 *
 * Default 200 mutants per format, spread over its samples;
 * PIO_STRESS_COUNT / PIO_STRESS_SECONDS for more. PIO_MUTANT_ONLY=N runs
 * mutant N alone, PIO_MUTANT_KEEP=DIR copies every failing mutant there.
 * Children get max_allocation_size_mb=2048 and hard_rss_limit_mb=3072 in
 * ASAN_OPTIONS: a mutant of a file under 2 MB that makes the converter (or
 * a library under it) ask for gigabytes is a bug, reported as a crash, and
 * several such runs at once must not take the machine down.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "fault_util.h"
#include "holo_fixture.h"

#define MAX_MARKS 4096

struct sample {
    const char *path, *name;
    uint8_t *bytes;
    size_t len;
    bool text;
    uint64_t nframes, natoms; /* what the intact sample converts to */
    size_t marks[MAX_MARKS];  /* frame-start landmarks */
    size_t nmarks;
};

enum change { SAME_SIZE, REMOVAL, GROWTH };

struct mutant {
    uint8_t *b;
    size_t len, cap;
    enum change change;
    bool at_boundary; /* every removal starts and ends on a landmark or EOF */
    char recipe[512];
    size_t rlen;
};

static void recipe(struct mutant *m, const char *fmt, unsigned long long a, unsigned long long b,
                   unsigned long long c)
{
    if (m->rlen < sizeof(m->recipe))
        m->rlen += (size_t)snprintf(m->recipe + m->rlen, sizeof(m->recipe) - m->rlen, fmt, a, b, c);
    if (m->rlen > sizeof(m->recipe))
        m->rlen = sizeof(m->recipe);
}

/* Whether a cut at off leaves whole frames only: at a landmark (or the
 * ends); in a text file also anywhere in a landmark's line, and in the
 * line after an ENDMDL (the next MODEL line): a partial record line
 * there holds no frame data. */
static bool is_mark(const struct sample *s, size_t off)
{
    if (off == 0 || off >= s->len)
        return true;
    for (size_t i = 0; i < s->nmarks; i++) {
        size_t m = s->marks[i];
        if (m == off)
            return true;
        if (!s->text || off < m)
            continue;
        const uint8_t *nl = memchr(s->bytes + m, '\n', s->len - m);
        size_t end = nl ? (size_t)(nl - s->bytes) : s->len;
        if (nl && memcmp(s->bytes + m, "ENDMDL", 6) == 0) {
            const uint8_t *nl2 = memchr(nl + 1, '\n', s->len - end - 1);
            end = nl2 ? (size_t)(nl2 - s->bytes) : s->len;
        }
        if (off <= end)
            return true;
    }
    return false;
}

static void find_marks(struct sample *s)
{
    s->nmarks = 0;
    s->text = s->len > 0 && memchr(s->bytes, 0, s->len < 512 ? s->len : 512) == NULL;
    for (size_t p = 1; p + 4 <= s->len && s->nmarks < MAX_MARKS; p++) {
        bool line = s->text && s->bytes[p - 1] == '\n';
        if ((!s->text || line) && memcmp(s->bytes + p, s->bytes, 4) == 0)
            s->marks[s->nmarks++] = p;
        else if (line && p + 6 <= s->len &&
                 (memcmp(s->bytes + p, "MODEL ", 6) == 0 || memcmp(s->bytes + p, "ENDMDL", 6) == 0))
            s->marks[s->nmarks++] = p;
    }
}

/* A position in [0, len): anywhere (30%), in the first KiB (30%), or in
 * the first 128 bytes after a landmark (40%, where frame headers are; the
 * first KiB instead when there are none). */
static size_t pick(const struct sample *s, size_t len, uint64_t *rng)
{
    if (len == 0)
        return 0;
    uint64_t r = pio_test_rand(rng) % 10, x = pio_test_rand(rng);
    size_t p;
    if (r < 3)
        p = (size_t)(x % len);
    else if (r < 6 || s->nmarks == 0)
        p = (size_t)(x % (len < 1024 ? len : 1024));
    else
        p = s->marks[x % s->nmarks] + (size_t)(pio_test_rand(rng) % 128);
    return p < len ? p : len - 1;
}

static void reserve(struct mutant *m, size_t extra)
{
    if (m->len + extra > m->cap) {
        m->cap = (m->len + extra) * 2;
        m->b = realloc(m->b, m->cap);
    }
}

static void mutate_once(struct mutant *m, const struct sample *s, uint64_t *rng, int op)
{
    static const uint32_t words[] = {0, 0xffffffffu, 0x80000000u, 0x7fffffffu, 0x40000000u, 1,
                                     2, 3,           16,          0xfffffffeu, 0x00010000u};
    size_t p = pick(s, m->len, rng);
    switch (op) {
    case 0: { /* flip bits */
        int n = 1 + (int)(pio_test_rand(rng) % 4);
        for (int k = 0; k < n && m->len; k++) {
            size_t q = k ? pick(s, m->len, rng) : p;
            int bit = (int)(pio_test_rand(rng) % 8);
            m->b[q] ^= (uint8_t)(1u << bit);
            recipe(m, "flip bit %llu at %llu; ", (unsigned long long)bit, q, 0);
        }
        break;
    }
    case 1: { /* bytes set to 0x00 / 0xff */
        size_t n = 1 + (size_t)(pio_test_rand(rng) % 4);
        uint8_t v = pio_test_rand(rng) % 2 ? 0xff : 0x00;
        for (size_t k = 0; k < n && p + k < m->len; k++)
            m->b[p + k] = v;
        recipe(m, "set %llu bytes at %llu to 0x%02llx; ", n, p, v);
        break;
    }
    case 2: { /* a 32-bit word */
        p &= ~(size_t)3;
        if (p + 4 > m->len)
            break;
        uint32_t w = words[pio_test_rand(rng) % (sizeof(words) / sizeof(words[0]))];
        bool big = pio_test_rand(rng) % 2;
        for (int k = 0; k < 4; k++)
            m->b[p + (size_t)k] = (uint8_t)(w >> (big ? 24 - 8 * k : 8 * k));
        recipe(m,
               big ? "word at %llu = 0x%llx big-endian; " : "word at %llu = 0x%llx little-endian; ",
               p, w, 0);
        break;
    }
    case 3: /* truncate */
        if (!is_mark(s, p))
            m->at_boundary = false;
        m->len = p;
        m->change = REMOVAL;
        recipe(m, "truncate at %llu; ", p, 0, 0);
        break;
    case 4: { /* delete a range */
        size_t n = 1 + (size_t)(pio_test_rand(rng) % 4096);
        if (p + n > m->len)
            n = m->len - p;
        if (!is_mark(s, p) || !is_mark(s, p + n))
            m->at_boundary = false;
        memmove(m->b + p, m->b + p + n, m->len - p - n);
        m->len -= n;
        m->change = REMOVAL;
        recipe(m, "delete %llu bytes at %llu; ", n, p, 0);
        break;
    }
    case 5: { /* duplicate a range at another place */
        size_t n = 1 + (size_t)(pio_test_rand(rng) % 4096), at = pick(s, m->len, rng);
        if (p + n > m->len)
            n = m->len - p;
        reserve(m, n);
        uint8_t *copy = malloc(n + 1);
        memcpy(copy, m->b + p, n);
        memmove(m->b + at + n, m->b + at, m->len - at);
        memcpy(m->b + at, copy, n);
        free(copy);
        m->len += n;
        if (m->change == SAME_SIZE)
            m->change = GROWTH;
        recipe(m, "copy %llu bytes from %llu to %llu; ", n, p, at);
        break;
    }
    default: { /* insert random bytes */
        size_t n = 1 + (size_t)(pio_test_rand(rng) % 16);
        reserve(m, n);
        memmove(m->b + p + n, m->b + p, m->len - p);
        for (size_t k = 0; k < n; k++)
            m->b[p + k] = (uint8_t)pio_test_rand(rng);
        m->len += n;
        if (m->change == SAME_SIZE)
            m->change = GROWTH;
        recipe(m, "insert %llu random bytes at %llu; ", n, p, 0);
        break;
    }
    }
}

static void mutate(struct mutant *m, const struct sample *s, uint64_t seed)
{
    uint64_t rng = seed;
    m->len = s->len;
    m->cap = s->len + 64;
    m->b = malloc(m->cap);
    memcpy(m->b, s->bytes, s->len);
    m->change = SAME_SIZE;
    m->at_boundary = true;
    m->rlen = 0;
    m->recipe[0] = '\0';
    /* same-size damage most often: it is what must never lose frames */
    uint64_t r = pio_test_rand(&rng) % 20;
    int nops = r < 15 ? 1 : r < 18 ? 2 : 3;
    for (int k = 0; k < nops; k++) {
        uint64_t o = pio_test_rand(&rng) % 16;
        int op = o < 4 ? 0 : o < 6 ? 1 : o < 10 ? 2 : o < 12 ? 3 : o < 13 ? 4 : o < 15 ? 5 : 6;
        if (op == 3 && k + 1 < nops)
            op = 0; /* a truncation goes last */
        mutate_once(m, s, &rng, op);
    }
}

/* ---- running the converter ---- */

struct outcome {
    int status;     /* waitpid status */
    bool hung;      /* killed at the timeout */
    char err[8192]; /* stderr (the start) */
    char out[1024];
};

static void slurp_text(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
}

static void run_convert(const char *cli, const char *in, const char *out, const char *dir,
                        double timeout, struct outcome *o)
{
    char so[600], se[600];
    snprintf(so, sizeof(so), "%s/stdout", dir);
    snprintf(se, sizeof(se), "%s/stderr", dir);
    unlink(out);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(so, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(se, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0)
            _exit(126);
        dup2(fo, STDOUT_FILENO);
        dup2(fe, STDERR_FILENO);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        execl(cli, cli, "convert", in, out, "--overwrite", (char *)NULL);
        _exit(127);
    }
    o->hung = false;
    double until = fault_now() + timeout;
    for (;;) {
        pid_t w = waitpid(pid, &o->status, WNOHANG);
        if (w == pid)
            break;
        if (fault_now() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &o->status, 0);
            o->hung = true;
            break;
        }
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
    slurp_text(se, o->err, sizeof(o->err));
    slurp_text(so, o->out, sizeof(o->out));
}

static bool sanitizer_report(const char *err)
{
    return strstr(err, "Sanitizer") || strstr(err, "runtime error:") ||
           strstr(err, "AddressSanitizer");
}

/* Frames and atoms of a converted file; false if it does not open or verify. */
static bool holo_counts(const char *path, uint64_t *nframes, uint64_t *natoms, char *why,
                        size_t cap)
{
    pio_reader *r;
    struct pio_error e = {0};
    if (pio_reader_open(&r, path, NULL, &e) != 0) {
        snprintf(why, cap, "%.250s", e.message);
        return false;
    }
    struct pio_reader_info in;
    pio_reader_info(r, &in);
    *nframes = in.nframes;
    *natoms = in.max_natoms;
    bool ok = pio_reader_verify(r, 0, &e) == 0 && !in.recovered;
    if (!ok)
        snprintf(why, cap, "%.250s", in.recovered ? "uncommitted" : e.message);
    pio_reader_close(r);
    return ok;
}

static const char *first_line(const char *s, char *buf, size_t cap)
{
    const char *p = strstr(s, "ERROR: ");
    if (!p)
        p = strstr(s, "runtime error:");
    if (!p)
        p = s;
    size_t n = strcspn(p, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

struct tally {
    uint64_t mutants, ok, warned, errors, crashes, hangs, silent_loss, midfile_loss, bad_output,
        no_message, atoms_changed;
};

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: fault_mutants PRISMIO FORMAT SAMPLE...\n");
        return 64;
    }
    const char *cli = argv[1], *fmt = argv[2];
    int nsamples = argc - 3;
    struct fault_budget bud = fault_budget(200, 1);
    const char *only = getenv("PIO_MUTANT_ONLY"), *keep = getenv("PIO_MUTANT_KEEP");
    const char *tmo = getenv("PIO_MUTANT_TIMEOUT");
    double timeout = tmo && strtod(tmo, NULL) > 0 ? strtod(tmo, NULL) : 10;
    uint64_t base = pio_test_seed(20);
    for (const char *c = fmt; *c; c++)
        base = base * 131 + (uint8_t)*c;

    /* children: bounded memory, reports on stderr */
    const char *ao = getenv("ASAN_OPTIONS");
    char asan[1024];
    snprintf(asan, sizeof(asan), "%s%smax_allocation_size_mb=2048:hard_rss_limit_mb=3072",
             ao ? ao : "", ao && *ao ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);

    const char *dir = fault_tmpdir("mutants");
    CHECK(dir != NULL);
    if (!dir)
        return TEST_RESULT();
    char out[600], mpath[600];
    snprintf(out, sizeof(out), "%s/out.holo", dir);

    struct sample *ss = calloc((size_t)nsamples, sizeof(*ss));
    for (int i = 0; i < nsamples; i++) {
        struct sample *s = &ss[i];
        s->path = argv[3 + i];
        s->name = strrchr(s->path, '/') ? strrchr(s->path, '/') + 1 : s->path;
        s->bytes = fixture_slurp(s->path, &s->len);
        if (!s->bytes) {
            fprintf(stderr, "%s: cannot read the sample\n", s->path);
            fault_rmdir(dir);
            return 1;
        }
        find_marks(s);
        struct outcome o;
        run_convert(cli, s->path, out, dir, 60, &o);
        char why[256] = "";
        if (o.hung || !WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0 ||
            !holo_counts(out, &s->nframes, &s->natoms, why, sizeof(why))) {
            fprintf(stderr, "%s: the intact sample does not convert: %s%s\n", s->path, o.err, why);
            fault_rmdir(dir);
            return 1;
        }
        fprintf(stderr, "%s: %zu bytes, %llu frames of %llu atoms, %zu frame landmarks\n", s->name,
                s->len, (unsigned long long)s->nframes, (unsigned long long)s->natoms, s->nmarks);
    }

    double t0 = fault_now();
    struct tally t = {0};
    uint64_t first = only ? strtoull(only, NULL, 0) : 0;
    for (uint64_t i = first; fault_more(&bud, i - first) && (!only || i == first); i++) {
        struct sample *s = &ss[i % (uint64_t)nsamples];
        struct mutant m = {0};
        uint64_t seed = base * 1000003 + i;
        mutate(&m, s, seed);
        const char *ext = strrchr(s->name, '.');
        snprintf(mpath, sizeof(mpath), "%s/mutant%s", dir, ext ? ext : "");
        CHECK(fixture_spit(mpath, m.b, m.len) == 0);
        struct outcome o;
        run_convert(cli, mpath, out, dir, timeout, &o);
        t.mutants++;

        const char *fail = NULL;
        char detail[600] = "", line[300];
        if (o.hung) {
            t.hangs++;
            fail = "hang";
            snprintf(detail, sizeof(detail), "no exit after %.0f s", timeout);
        } else if (WIFSIGNALED(o.status) || sanitizer_report(o.err)) {
            t.crashes++;
            fail = "crash";
            if (WIFSIGNALED(o.status))
                snprintf(detail, sizeof(detail), "signal %d: %s", WTERMSIG(o.status),
                         first_line(o.err, line, sizeof(line)));
            else
                snprintf(detail, sizeof(detail), "%s", first_line(o.err, line, sizeof(line)));
        } else if (WEXITSTATUS(o.status) != 0) {
            t.errors++;
            if (!o.err[0]) {
                t.no_message++;
                fail = "no message";
                snprintf(detail, sizeof(detail), "exit %d and nothing on stderr",
                         WEXITSTATUS(o.status));
            }
        } else {
            bool warned = strstr(o.err, "warning") != NULL;
            t.ok++;
            t.warned += warned;
            uint64_t n = 0, na = 0;
            char why[300] = "";
            unsigned long long said = 0;
            const char *sum = strstr(o.out, ": ");
            bool has_sum = sum && sscanf(sum, ": %llu frames", &said) == 1;
            if (!holo_counts(out, &n, &na, why, sizeof(why))) {
                t.bad_output++;
                fail = "bad output";
                snprintf(detail, sizeof(detail), "exit 0, the output does not verify: %s", why);
            } else if (!has_sum || said != n) {
                t.bad_output++;
                fail = "bad summary";
                snprintf(detail, sizeof(detail),
                         "exit 0, %llu frames in the output, summary: %.200s",
                         (unsigned long long)n, o.out);
            } else if (n < s->nframes && !warned && !(m.change == REMOVAL && m.at_boundary)) {
                t.silent_loss++;
                fail = "silent frame loss";
                snprintf(detail, sizeof(detail), "exit 0, %llu of %llu frames, no warning",
                         (unsigned long long)n, (unsigned long long)s->nframes);
            } else if (m.change == SAME_SIZE && n + 1 < s->nframes &&
                       (strstr(o.err, "truncated") || strstr(o.err, "ends inside"))) {
                t.midfile_loss++;
                fail = "damage taken for a truncated tail";
                snprintf(detail, sizeof(detail),
                         "exit 0, %llu of %llu frames after same-size damage: %s",
                         (unsigned long long)n, (unsigned long long)s->nframes,
                         first_line(o.err, line, sizeof(line)));
            } else if (na != s->natoms && !warned) {
                t.atoms_changed++; /* counted, not failed: a shorter text file can be valid */
            }
        }
        if (fail) {
            CHECKF(0, "%s mutant %llu (%s, seed %llu): %s: %s [%s]", fmt, (unsigned long long)i,
                   s->name, (unsigned long long)seed, fail, detail, m.recipe);
            if (keep) {
                char kp[700];
                snprintf(kp, sizeof(kp), "%s/%s_mutant%llu%s", keep, fmt, (unsigned long long)i,
                         ext ? ext : "");
                fixture_spit(kp, m.b, m.len);
            }
        }
        free(m.b);
        if (t.hangs >= 3 && !only) {
            fprintf(stderr, "3 hangs: stopping\n");
            break;
        }
    }
    fprintf(stderr,
            "%s: %llu mutants of %d sample(s) in %.1f s: %llu crashes, %llu hangs, %llu silent "
            "frame losses, %llu damaged files taken for truncated ones, %llu bad outputs, "
            "%llu failures without a message; %llu errors, %llu converted (%llu with a "
            "warning, %llu with other atom counts and no warning)\n",
            fmt, (unsigned long long)t.mutants, nsamples, fault_now() - t0,
            (unsigned long long)t.crashes, (unsigned long long)t.hangs,
            (unsigned long long)t.silent_loss, (unsigned long long)t.midfile_loss,
            (unsigned long long)t.bad_output, (unsigned long long)t.no_message,
            (unsigned long long)t.errors, (unsigned long long)t.ok, (unsigned long long)t.warned,
            (unsigned long long)t.atoms_changed);
    for (int i = 0; i < nsamples; i++)
        free(ss[i].bytes);
    free(ss);
    fault_rmdir(dir);
    return TEST_RESULT();
}
