/*
 * prismio gen: a synthetic trajectory with realistic values, streamed
 * frame by frame (memory is a few frames whatever atoms x frames is).
 *
 * The system is a box of water-like molecules (O, H, H) at the density of
 * liquid water (100 atoms/nm^3): positions start on a jittered lattice and
 * diffuse (0.01 nm per frame), velocities are Maxwell-Boltzmann at 300 K
 * for each atom's mass, forces Gaussian with a typical 500 kJ/mol/nm
 * spread. Steps advance by 100 (every 100 x 2 fs = 0.2 ps), with potential,
 * kinetic and total energy scalars. Everything is seeded: the same seed
 * gives the same file contents.
 *
 * Speed: `gen` exists to feed the writer (`prismio gen` is how a user
 * measures a disk), so it must make frames faster than the writer takes
 * them. Normal deviates come from a table: a piecewise-linear inverse of
 * the normal CDF over 4096 steps, read with 12 bits of a random word and
 * interpolated with 20 more (continuous values, no log, sqrt or cosine;
 * tails stop at 4.06 sigma). Each frame has its own random stream (seed,
 * frame), and large frames are made on a second thread while the writer
 * writes the previous one.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#define GAUSS_STEPS 4096
static float gauss_tab[GAUSS_STEPS + 1];

/* The table: gauss_tab[i] = Phi^-1(i / 4096) for 0 < i < 4096 (Newton on
 * erfc from the previous entry), the ends at Phi^-1(0.1 / 4096). */
static void gauss_init(void)
{
    double z = -4.0;
    for (int i = 0; i <= GAUSS_STEPS; i++) {
        double p = i == 0             ? 0.1 / GAUSS_STEPS
                   : i == GAUSS_STEPS ? 1.0 - 0.1 / GAUSS_STEPS
                                      : (double)i / GAUSS_STEPS;
        for (int it = 0; it < 50; it++) {
            double err = 0.5 * erfc(-z / sqrt(2.0)) - p;
            double dz = err / (exp(-0.5 * z * z) / sqrt(2.0 * 3.141592653589793));
            z -= dz;
            if (fabs(dz) < 1e-13)
                break;
        }
        gauss_tab[i] = (float)z;
    }
}

/* Two normal deviates from one random word. */
static inline void gauss2(uint64_t *s, float *a, float *b)
{
    uint64_t r = rng_next(s);
    uint32_t lo = (uint32_t)r, hi = (uint32_t)(r >> 32);
    float fa = (float)(lo & 0xFFFFF) * (1.0f / 1048576.0f);
    float fb = (float)(hi & 0xFFFFF) * (1.0f / 1048576.0f);
    const float *ta = gauss_tab + (lo >> 20), *tb = gauss_tab + (hi >> 20);
    *a = ta[0] + (ta[1] - ta[0]) * fa;
    *b = tb[0] + (tb[1] - tb[0]) * fb;
}

static float gauss1(uint64_t *s)
{
    float a, b;
    gauss2(s, &a, &b);
    return a;
}

/* n normal deviates into out. */
static void gauss_fill(uint64_t *s, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 2 <= n; i += 2)
        gauss2(s, out + i, out + i + 1);
    if (i < n)
        out[i] = gauss1(s);
}

#define GEN_CHUNK 512 /* atoms */

/* One frame's arrays; two of them alternate (made, written). */
struct gen_slot {
    float *x, *v, *f;
    double ekin, epot;
};

struct gen {
    size_t natoms;
    uint64_t seed, nframes;
    float box;
    float mass[3], sigma[3]; /* O, H, H */
    bool want_v, want_f;
    struct gen_slot slot[2];
    const float *x0; /* the lattice before frame 0 */
    /* the second thread's hand-off: frames made and frames written */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t made, written;
    bool stop;
};

/* Frame fr from frame fr - 1's positions, on its own random stream. */
static void gen_make(struct gen *g, uint64_t fr)
{
    struct gen_slot *o = &g->slot[fr & 1];
    const float *prev = fr == 0 ? g->x0 : g->slot[(fr - 1) & 1].x;
    uint64_t s = g->seed * 0x2545F4914F6CDD1Dull ^ (fr + 1) * 0xD1B54A32D192ED03ull;
    float box = g->box, z[GEN_CHUNK * 3];
    double ekin = g->want_v ? 0 : 1.5 * 2.494 * (double)g->natoms;
    /* 512 atoms at a time: the deviates stay in L1 between the two loops */
    for (size_t a = 0; a < g->natoms; a += GEN_CHUNK) {
        size_t na = g->natoms - a < GEN_CHUNK ? g->natoms - a : GEN_CHUNK, m = na * 3;
        float *x = o->x + a * 3;
        const float *px = prev + a * 3;
        gauss_fill(&s, z, m);
        for (size_t k = 0; k < m; k++) {
            /* wrap into the box, without branches (the loop vectorises) */
            float p = px[k] + 0.01f * z[k];
            p -= p >= box ? box : 0.0f;
            p += p < 0.0f ? box : 0.0f;
            x[k] = p < box ? p : 0.0f;
        }
        if (g->want_v) {
            float *v = o->v + a * 3;
            gauss_fill(&s, z, m);
            for (size_t i = 0; i < na; i++) {
                unsigned t = (unsigned)((a + i) % 3);
                float sg = g->sigma[t], e = 0;
                for (int d = 0; d < 3; d++) {
                    float vv = sg * z[3 * i + d];
                    v[3 * i + d] = vv;
                    e += vv * vv;
                }
                ekin += 0.5 * g->mass[t] * e;
            }
        }
        if (g->want_f) {
            float *f = o->f + a * 3;
            gauss_fill(&s, z, m);
            for (size_t k = 0; k < m; k++)
                f[k] = 500.0f * z[k];
        }
    }
    o->ekin = ekin;
    o->epot = -41.5 * (double)g->natoms / 3.0 * (1.0 + 0.001 * gauss1(&s));
}

/* The second thread: makes frames one ahead of the writer. */
static void *gen_thread(void *arg)
{
    struct gen *g = arg;
    for (uint64_t fr = 0; fr < g->nframes; fr++) {
        pthread_mutex_lock(&g->mu);
        while (!g->stop && fr >= g->written + 2)
            pthread_cond_wait(&g->cv, &g->mu);
        bool stop = g->stop;
        pthread_mutex_unlock(&g->mu);
        if (stop)
            break;
        gen_make(g, fr);
        pthread_mutex_lock(&g->mu);
        g->made = fr + 1;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
    }
    return NULL;
}

/* --fields: x, v, f, comma-separated or not ("x,v,f", "xvf") -> bits
 * 1 (velocities) and 2 (forces). */
static int parse_fields(const char *s, void *dest)
{
    unsigned *out = dest;
    *out = 0;
    for (const char *p = s; *p; p++) {
        if (*p == 'v')
            *out |= 1;
        else if (*p == 'f')
            *out |= 2;
        else if (*p != 'x' && *p != ',')
            return -1;
    }
    return 0;
}

int cmd_gen(int argc, char **argv)
{
    unsigned fields = 0;
    uint64_t natoms = 0, nframes = 0, seed = 1, every = 0, pause_ms = 0, keyframe = 0;
    bool overwrite = false, direct = false, format1 = false;
    enum pio_io_engine engine = PIO_IO_AUTO;
    struct cli_opt opts[] = {
        {.name = "atoms",
         .kind = CLI_SIZE,
         .dest = &natoms,
         .value = "N",
         .min = 1,
         .max = PIO_HOLO_MAX_ATOMS,
         .flags = CLI_REQUIRED,
         .help = "atoms per frame; required"},
        CLI_OPT_SIZE("frames", &nframes, "M", 0, 0,
                     "frames (default 0: topology and metadata only)"),
        CLI_OPT_CUSTOM("fields", &fields, "LIST", parse_fields, "a list of x, v, f",
                       "x (positions, always), v (velocities), f (forces), "
                       "comma-separated (default x)"),
        CLI_OPT_U64("seed", &seed, "S", 0, 0,
                    "random seed (default 1): the same seed, the same file"),
        CLI_OPT_FLAG("overwrite", 0, &overwrite, "replace OUT if it exists"),
        CLI_OPT_CUSTOM("engine", &engine, "E", cli_parse_engine, CLI_ENGINES,
                       "I/O engine of the writer: pread or uring (default: "
                       "PIO_IO_ENGINE, else pread)"),
        CLI_OPT_FLAG("direct", 0, &direct, "O_DIRECT writes"),
        CLI_OPT_SIZE("commit-every", &every, "N", 0, 0,
                     "commit after every N frames (default 0: once, at the end)"),
        CLI_OPT_SIZE("pause", &pause_ms, "MS", 0, 3600000,
                     "sleep MS milliseconds after each commit (a simulation to follow)"),
        CLI_OPT_FLAG("format-1", 0, &format1, "write HOLO 1.1 (what prismio 0.1 reads)"),
        CLI_OPT_U64("keyframe", &keyframe, "K", 1, 1u << 16,
                    "pack frames of at most 4 KiB of arrays K to a record (HOLO 2.2; "
                    "default 1: a record each)"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "gen",
        .synopsis = "OUT.holo",
        .min_args = 1,
        .max_args = 1,
        .about = "Writes a synthetic water-box trajectory (positions always; v = velocities,\n"
                 "f = forces), streaming, so atoms x frames may exceed memory. The same seed\n"
                 "gives the same file contents.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *out = cmd.args[0];
    bool want_v = fields & 1, want_f = fields & 2;

    size_t n = (size_t)natoms;
    struct gen g = {.natoms = n,
                    .seed = seed,
                    .nframes = nframes,
                    .want_v = want_v,
                    .want_f = want_f,
                    .mass = {15.9994f, 1.008f, 1.008f}};
    bool threaded = false, alloc_ok = true;
    float(*x)[3] = malloc(n * sizeof(*x));
    for (int k = 0; k < 2; k++) {
        struct gen_slot *sl = &g.slot[k];
        sl->x = malloc(n * 12);
        sl->v = want_v ? malloc(n * 12) : NULL;
        sl->f = want_f ? malloc(n * 12) : NULL;
        alloc_ok = alloc_ok && sl->x && (!want_v || sl->v) && (!want_f || sl->f);
    }
    struct pio_topology top = {.natoms = natoms, .nbonds = natoms / 3 * 2};
    char(*names)[8] = calloc(n, 8), (*elem)[4] = calloc(n, 4), (*resn)[8] = calloc(n, 8),
    (*chain)[4] = calloc(n, 4);
    int32_t *resid = malloc(n * 4);
    float *mass = malloc(n * 4), *charge = malloc(n * 4);
    uint32_t(*bonds)[2] = malloc((size_t)top.nbonds * 8 + 8);
    int status = EXIT_OK;
    if (!x || !alloc_ok || !names || !elem || !resn || !chain || !resid || !mass || !charge ||
        !bonds) {
        cli_err("gen", "out of memory for %llu atoms", (unsigned long long)natoms);
        status = EXIT_IOERR;
        goto out;
    }
    gauss_init();
    double box = cbrt((double)natoms / 100.0);
    uint64_t rng = seed * 0x2545F4914F6CDD1Dull + 1;
    uint64_t per_side = (uint64_t)ceil(cbrt((double)natoms));
    double spacing = box / (double)per_side;
    for (uint64_t i = 0; i < natoms; i++) {
        int k = (int)(i % 3);
        strcpy(names[i], k == 0 ? "OW" : k == 1 ? "HW1" : "HW2");
        strcpy(elem[i], k == 0 ? "O" : "H");
        strcpy(resn[i], "SOL");
        strcpy(chain[i], "W");
        resid[i] = (int32_t)(i / 3 + 1);
        mass[i] = k == 0 ? 15.9994f : 1.008f;
        charge[i] = k == 0 ? -0.834f : 0.417f;
        uint64_t c = i;
        for (int d = 0; d < 3; d++) {
            x[i][d] = (float)(((double)(c % per_side) + 0.5) * spacing +
                              0.1 * spacing * (double)gauss1(&rng));
            c /= per_side;
        }
    }
    for (uint64_t m = 0; m < natoms / 3; m++) {
        bonds[2 * m][0] = (uint32_t)(3 * m);
        bonds[2 * m][1] = (uint32_t)(3 * m + 1);
        bonds[2 * m + 1][0] = (uint32_t)(3 * m);
        bonds[2 * m + 1][1] = (uint32_t)(3 * m + 2);
    }
    top.names = (const char(*)[8])names;
    top.elements = (const char(*)[4])elem;
    top.resnames = (const char(*)[8])resn;
    top.chains = (const char(*)[4])chain;
    top.resids = resid;
    top.masses = mass;
    top.charges = charge;
    top.bonds = (const uint32_t(*)[2])bonds;

    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = (overwrite ? PIO_WRITER_OVERWRITE : 0) | (direct ? PIO_WRITER_DIRECT : 0) |
               (format1 ? PIO_WRITER_FORMAT_1 : 0);
    wo.engine = engine;
    wo.keyframe = (uint32_t)keyframe;
    struct pio_error e = {0};
    pio_writer *w;
    int rc = pio_writer_create(&w, out, &wo, &e);
    if (rc != 0) {
        status = cli_fail("gen", rc, &e);
        goto out;
    }
    char seedstr[32];
    snprintf(seedstr, sizeof(seedstr), "%llu", (unsigned long long)seed);
    if ((rc = pio_writer_set_topology(w, &top, &e)) != 0 ||
        (rc = pio_writer_set_metadata(w, "creator", "prismio gen", &e)) != 0 ||
        (rc = pio_writer_set_metadata(w, "engine", "synthetic water box", &e)) != 0 ||
        (rc = pio_writer_set_metadata(w, "units", "nm ps kJ/mol e u", &e)) != 0 ||
        (rc = pio_writer_set_metadata(w, "timestep", "0.002 ps", &e)) != 0 ||
        (rc = pio_writer_set_metadata(w, "seed", seedstr, &e)) != 0) {
        pio_writer_close(w, NULL);
        status = cli_fail("gen", rc, &e);
        goto out;
    }
    const double kT = 2.494; /* kJ/mol at 300 K */
    g.box = (float)box;
    g.x0 = (const float *)x;
    for (int k = 0; k < 3; k++)
        g.sigma[k] = (float)sqrt(kT / g.mass[k]);
    /* A second thread pays for itself from a few thousand atoms a frame. */
    if (n >= 2048 && nframes > 1 && pthread_mutex_init(&g.mu, NULL) == 0) {
        if (pthread_cond_init(&g.cv, NULL) != 0)
            pthread_mutex_destroy(&g.mu);
        else
            threaded = true;
    }
    pthread_t th;
    if (threaded && pthread_create(&th, NULL, gen_thread, &g) != 0) {
        pthread_cond_destroy(&g.cv);
        pthread_mutex_destroy(&g.mu);
        threaded = false;
    }
    for (uint64_t fr = 0; fr < nframes; fr++) {
        if (threaded) {
            pthread_mutex_lock(&g.mu);
            while (g.made <= fr)
                pthread_cond_wait(&g.cv, &g.mu);
            pthread_mutex_unlock(&g.mu);
        } else {
            gen_make(&g, fr);
        }
        const struct gen_slot *sl = &g.slot[fr & 1];
        struct pio_scalar sc[3] = {
            {"potential", sl->epot}, {"kinetic", sl->ekin}, {"total", sl->epot + sl->ekin}};
        struct pio_frame fr_ = {
            .natoms = natoms,
            .fields = PIO_FIELD_BOX,
            .nscalars = 3,
            .step = (int64_t)(fr * 100),
            .time = (double)fr * 0.2,
            .box = {{box, 0, 0}, {0, box, 0}, {0, 0, box}},
            .positions = (const float(*)[3])sl->x,
            .velocities = (const float(*)[3])sl->v,
            .forces = (const float(*)[3])sl->f,
            .scalars = sc,
        };
        if ((rc = pio_writer_append(w, &fr_, &e)) != 0 ||
            (every && (fr + 1) % every == 0 && (rc = pio_writer_commit(w, &e)) != 0)) {
            pio_writer_close(w, NULL);
            status = cli_fail("gen", rc, &e);
            break;
        }
        if (threaded) {
            pthread_mutex_lock(&g.mu);
            g.written = fr + 1;
            pthread_cond_broadcast(&g.cv);
            pthread_mutex_unlock(&g.mu);
        }
        if (every && (fr + 1) % every == 0 && pause_ms) {
            struct timespec ts = {(time_t)(pause_ms / 1000), (long)(pause_ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
    }
    if (threaded) {
        pthread_mutex_lock(&g.mu);
        g.stop = true;
        pthread_cond_broadcast(&g.cv);
        pthread_mutex_unlock(&g.mu);
        pthread_join(th, NULL);
        pthread_cond_destroy(&g.cv);
        pthread_mutex_destroy(&g.mu);
    }
    if (status != EXIT_OK)
        goto out;
    if ((rc = pio_writer_close(w, &e)) != 0)
        status = cli_fail("gen", rc, &e);
out:
    free(x);
    for (int k = 0; k < 2; k++) {
        free(g.slot[k].x);
        free(g.slot[k].v);
        free(g.slot[k].f);
    }
    free(names);
    free(elem);
    free(resn);
    free(chain);
    free(resid);
    free(mass);
    free(charge);
    free(bonds);
    return status;
}
